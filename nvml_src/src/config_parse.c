/*
 * The nvml.conf parser (format 1, docs/nvml-config.md).
 *
 * A pure function of its input: no I/O, no allocation, so the fuzz target can drive it
 * directly. Sections and keys are looked up in tables generated from nvml_schema
 * (config_tables.h); the renderer writes keys in the same order, so the lookup starts at the
 * key after the previous one and usually hits at once, which keeps a 128-GPU file well under
 * the init budget. Bus ids are parsed here once, into struct mock_bus_id; the library's
 * lookup by bus id uses the same parser (mock_parse_bus_id). The schema's rules between values
 * (a section's not_above pairs and unique keys) come from the same tables. Its Python twin,
 * nvml_config.problem, makes the same checks with the same messages: change both together.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mock.h"

enum key_kind { KIND_UINT, KIND_BOOL, KIND_STRING, KIND_CHOICE, KIND_BUS_ID };

/* One key of a section; the tables come from nvml_schema (config_tables.h, generated). */
struct key_desc {
    const char *name;
    unsigned char kind;
    unsigned short max_len;          /* strings: longest value accepted */
    size_t offset;                   /* of its member in the section's struct */
    const char *const *choices;      /* choices: the words, NULL-terminated */
    const char *expected;            /* choices: the words for a message ("devnodes or all") */
    const char *default_value;       /* optional keys: the text their default is read from */
    unsigned long long maximum;      /* unsigned integers: the largest value accepted */
};

/* A section's rule that the value of one key (by position) is not above another's. */
struct key_pair {
    unsigned char key, limit;
};

struct section_desc {
    const char *name;
    const struct key_desc *keys;
    unsigned key_count;
    unsigned max_count;              /* 1: the section appears once */
    int required;
    size_t offset;                   /* of its struct (or array) in struct mock_config */
    size_t size;                     /* of one struct */
    size_t count_offset;             /* of its count in struct mock_config */
    const unsigned char *unique;     /* keys no two of its structs may share (positions) */
    unsigned unique_count;
    const struct key_pair *not_above;
    unsigned not_above_count;
};

#include "config_tables.h"

struct parser {
    struct mock_config *cfg;
    char *err;
    size_t err_len;
    unsigned line;
    const struct section_desc *sec;  /* the open section; NULL before the first */
    unsigned next_key;               /* where the next lookup starts */
    unsigned long long seen;         /* keys given in the current section */
    unsigned long long required;
    void *target;                    /* the struct the current section fills */
};

static int fail(struct parser *p, const char *fmt, ...)
{
    int n = snprintf(p->err, p->err_len, "%u: ", p->line);
    if (n < 0 || (size_t)n >= p->err_len)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

int mock_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decimal, or hexadecimal after 0x; the whole value, no sign, no overflow. */
static int parse_uint(const char *s, size_t len, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t i = 0;
    unsigned base = 10;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    if (i >= len)
        return -1;
    for (; i < len; i++) {
        int d = mock_hex_digit(s[i]);
        if (d < 0 || (unsigned)d >= base)
            return -1;
        if (v > (~0ULL - (unsigned)d) / base)
            return -1;
        v = v * base + (unsigned)d;
    }
    *out = v;
    return 0;
}

/* 1 to max_digits hex digits (the whole of s) of a value no larger than limit. */
static int hex_field(const char *s, size_t len, unsigned max_digits, unsigned long long limit,
                     unsigned long long *out)
{
    if (len == 0 || len > max_digits)
        return -1;
    unsigned long long v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = mock_hex_digit(s[i]);
        if (d < 0)
            return -1;
        v = v * 16 + (unsigned)d;
    }
    if (v > limit)
        return -1;
    *out = v;
    return 0;
}

int mock_parse_bus_id(const char *text, size_t len, int allow_short, struct mock_bus_id *out)
{
    const char *colon = memchr(text, ':', len);
    const char *dot = memchr(text, '.', len);
    if (colon == NULL || dot == NULL || dot < colon)
        return -1;
    const char *second = memchr(colon + 1, ':', (size_t)(dot - colon - 1));
    unsigned long long domain = 0, bus, device, function;
    const char *bus_start = colon + 1;
    if (second != NULL) {
        if (hex_field(text, (size_t)(colon - text), 8, 0xffffffffULL, &domain) ||
            hex_field(bus_start, (size_t)(second - bus_start), 2, 0xff, &bus))
            return -1;
        colon = second;
    } else if (!allow_short || hex_field(text, (size_t)(colon - text), 8, 0xff, &bus)) {
        return -1;
    }
    if (hex_field(colon + 1, (size_t)(dot - colon - 1), 2, 0x1f, &device) ||
        hex_field(dot + 1, len - (size_t)(dot + 1 - text), 1, 7, &function))
        return -1;
    out->domain = (unsigned)domain;
    out->bus = (unsigned)bus;
    out->device = (unsigned)device;
    out->function = (unsigned)function;
    return 0;
}

static unsigned *section_count(const struct parser *p, const struct section_desc *sec)
{
    return (unsigned *)(void *)((char *)p->cfg + sec->count_offset);
}

/* The text of a message's value: at most 64 bytes of it. */
#define SHOWN(len) ((int)((len) > 64 ? 64 : (len)))

/* Convert one value into the member the key names; 0, or -1 with the message written. */
static int store(struct parser *p, const struct key_desc *d, const char *val, size_t val_len)
{
    const char *sec = p->sec->name;
    char *field = (char *)p->target + d->offset;
    unsigned long long v;
    switch (d->kind) {
    case KIND_UINT:
        if (parse_uint(val, val_len, &v))
            return fail(p, "[%s] %s: expected an unsigned integer, got \"%.*s\"", sec,
                        d->name, SHOWN(val_len), val);
        if (v > d->maximum)
            return fail(p, "[%s] %s: expected an unsigned integer up to %llu, got %llu", sec,
                        d->name, d->maximum, v);
        memcpy(field, &v, sizeof v);
        return 0;
    case KIND_BOOL:
        if (val_len != 1 || (val[0] != '0' && val[0] != '1'))
            return fail(p, "[%s] %s: expected 0 or 1, got \"%.*s\"", sec, d->name,
                        SHOWN(val_len), val);
        *(unsigned char *)field = (unsigned char)(val[0] - '0');
        return 0;
    case KIND_CHOICE:
        for (unsigned i = 0; d->choices[i] != NULL; i++) {
            if (strlen(d->choices[i]) == val_len && memcmp(d->choices[i], val, val_len) == 0) {
                memcpy(field, &i, sizeof i);
                return 0;
            }
        }
        return fail(p, "[%s] %s: expected %s, got \"%.*s\"", sec, d->name, d->expected,
                    SHOWN(val_len), val);
    case KIND_BUS_ID: {
        struct mock_bus_id id;
        if (mock_parse_bus_id(val, val_len, 0, &id))
            return fail(p, "[%s] %s: expected a PCI bus id like 00000000:07:00.0, got "
                        "\"%.*s\"", sec, d->name, SHOWN(val_len), val);
        memcpy(field, &id, sizeof id);
        return 0;
    }
    default:
        if (val_len == 0 || val_len > d->max_len)
            return fail(p, "[%s] %s: expected a string of 1 to %u characters, got %zu", sec,
                        d->name, (unsigned)d->max_len, val_len);
        memcpy(field, val, val_len);
        field[val_len] = '\0';
        return 0;
    }
}

static unsigned long long uint_at(const void *record, const struct key_desc *d)
{
    unsigned long long v;
    memcpy(&v, (const char *)record + d->offset, sizeof v);
    return v;
}

static int end_section(struct parser *p)
{
    if (p->sec == NULL)
        return 0;
    unsigned long long missing = p->required & ~p->seen;
    if (missing) {
        unsigned i = 0;
        while (!(missing & (1ULL << i)))
            i++;
        return fail(p, "[%s] is missing the required key %s", p->sec->name,
                    p->sec->keys[i].name);
    }
    for (unsigned i = 0; i < p->sec->not_above_count; i++) {
        const struct key_desc *key = &p->sec->keys[p->sec->not_above[i].key];
        const struct key_desc *limit = &p->sec->keys[p->sec->not_above[i].limit];
        unsigned long long v = uint_at(p->target, key), max = uint_at(p->target, limit);
        if (v > max)
            return fail(p, "[%s] %s %llu is above %s %llu", p->sec->name, key->name, v,
                        limit->name, max);
    }
    if (p->sec == &sections[MOCK_SECTION_GPU]) {
        struct mock_gpu *g = p->target;
        unsigned position = p->cfg->gpu_count - 1;
        if (g->index != position)
            return fail(p, "[gpu] index is %llu but this is GPU %u of the file; indexes "
                        "must be 0, 1, ... in file order", g->index, position);
        if (g->minor >= MOCK_MAX_GPU)
            return fail(p, "[gpu] minor %llu is out of range 0..%d", g->minor,
                        MOCK_MAX_GPU - 1);
    }
    return 0;
}

/* Start filling the next struct of the section named name: defaults first, then the keys. */
static int open_section(struct parser *p, const char *name, size_t len)
{
    if (end_section(p))
        return -1;
    const struct section_desc *sec = NULL;
    for (unsigned i = 0; i < MOCK_SECTION_COUNT; i++)
        if (strlen(sections[i].name) == len && memcmp(sections[i].name, name, len) == 0)
            sec = &sections[i];
    if (sec == NULL)
        return fail(p, "unknown section [%.*s]", SHOWN(len), name);
    unsigned *count = section_count(p, sec);
    if (*count >= sec->max_count) {
        if (sec->max_count == 1)
            return fail(p, "[%s] appears twice", sec->name);
        return fail(p, "more than %u [%s] sections", sec->max_count, sec->name);
    }
    p->sec = sec;
    p->target = (char *)p->cfg + sec->offset + (size_t)(*count)++ * sec->size;
    p->next_key = 0;
    p->seen = 0;
    p->required = 0;
    for (unsigned i = 0; i < sec->key_count; i++) {
        const struct key_desc *d = &sec->keys[i];
        if (d->default_value == NULL)
            p->required |= 1ULL << i;
        else if (store(p, d, d->default_value, strlen(d->default_value)))
            return -1;
    }
    return 0;
}

static int set_value(struct parser *p, const char *key, size_t key_len, const char *val,
                     size_t val_len)
{
    if (p->sec == NULL)
        return fail(p, "%.*s: every key must be inside a section such as [system]",
                    SHOWN(key_len), key);
    const struct section_desc *sec = p->sec;
    const struct key_desc *d = NULL;
    unsigned idx = 0;
    for (unsigned n = 0; n < sec->key_count; n++) {
        unsigned i = (p->next_key + n) % sec->key_count;
        const char *name = sec->keys[i].name;
        if (strncmp(name, key, key_len) == 0 && name[key_len] == '\0') {
            d = &sec->keys[i];
            idx = i;
            break;
        }
    }
    if (d == NULL)
        return fail(p, "[%s] has no key %.*s", sec->name, SHOWN(key_len), key);
    if (p->seen & (1ULL << idx))
        return fail(p, "[%s] %s is given twice", sec->name, d->name);
    p->seen |= 1ULL << idx;
    p->next_key = idx + 1;
    return store(p, d, val, val_len);
}

/* The value of key d in record, as a message shows it. */
static void show_value(const void *record, const struct key_desc *d, char *out, size_t size)
{
    const char *field = (const char *)record + d->offset;
    if (d->kind == KIND_STRING) {
        snprintf(out, size, "%.*s", SHOWN(strlen(field)), field);
    } else if (d->kind == KIND_BUS_ID) {
        struct mock_bus_id id;
        memcpy(&id, field, sizeof id);
        snprintf(out, size, "%08X:%02X:%02X.%X", id.domain, id.bus, id.device, id.function);
    } else if (d->kind == KIND_UINT) {
        snprintf(out, size, "%llu", uint_at(record, d));
    } else {
        snprintf(out, size, "%u", d->kind == KIND_BOOL ? *(const unsigned char *)field
                                                      : *(const unsigned *)(const void *)field);
    }
}

static int same_value(const void *a, const void *b, const struct key_desc *d)
{
    const char *x = (const char *)a + d->offset, *y = (const char *)b + d->offset;
    switch (d->kind) {
    case KIND_STRING:
        return strcmp(x, y) == 0;
    case KIND_UINT:
        return uint_at(a, d) == uint_at(b, d);
    case KIND_BUS_ID:
        return memcmp(x, y, sizeof(struct mock_bus_id)) == 0;
    case KIND_BOOL:
        return *x == *y;
    default:
        return memcmp(x, y, sizeof(unsigned)) == 0;
    }
}

/* No two structs of sec share a value of one of its unique keys: NVML finds a GPU by each. */
static int check_unique(struct parser *p, const struct section_desc *sec)
{
    unsigned count = *section_count(p, sec);
    const char *base = (const char *)p->cfg + sec->offset;
    for (unsigned k = 0; k < sec->unique_count; k++) {
        const struct key_desc *d = &sec->keys[sec->unique[k]];
        for (unsigned i = 1; i < count; i++) {
            for (unsigned j = 0; j < i; j++) {
                if (same_value(base + (size_t)i * sec->size, base + (size_t)j * sec->size, d)) {
                    char shown[80];
                    show_value(base + (size_t)i * sec->size, d, shown, sizeof shown);
                    return fail(p, "[%s] %u reuses %s %s of [%s] %u", sec->name, i, d->name,
                                shown, sec->name, j);
                }
            }
        }
    }
    return 0;
}

static const struct mock_mig_profile *profile_with_id(const struct mock_config *cfg,
                                                     unsigned long long id)
{
    for (unsigned i = 0; i < cfg->mig_profile_count; i++)
        if (cfg->mig_profile[i].profile_id == id)
            return &cfg->mig_profile[i];
    return NULL;
}

/* Each [mig_instance] on a MIG-mode GPU of the file, at one of its profile's placements, and
 * clear of the GPU's other instances (memory slices, bit per slice, per GPU). */
static int check_mig_instances(struct parser *p)
{
    const struct mock_config *cfg = p->cfg;
    unsigned char used[MOCK_MAX_GPU];
    memset(used, 0, sizeof used);
    for (unsigned i = 0; i < cfg->mig_instance_count; i++) {
        const struct mock_mig_instance *m = &cfg->mig_instance[i];
        if (m->gpu >= cfg->gpu_count)
            return fail(p, "[mig_instance] %u: gpu %llu is not a [gpu] of the file", i, m->gpu);
        if (!cfg->gpu[m->gpu].mig_mode)
            return fail(p, "[mig_instance] %u: GPU %llu is not in MIG mode", i, m->gpu);
        const struct mock_mig_profile *prof = profile_with_id(cfg, m->profile_id);
        if (prof == NULL)
            return fail(p, "[mig_instance] %u: no [mig_profile] has profile_id %llu", i,
                        m->profile_id);
        /* Sizes 1, 2, 4 or 8 at a multiple of the size: the placements GPU-instance ids name. */
        if (m->start >= 8 || prof->placement_size == 0 || prof->placement_size > 8 ||
            (prof->placement_size & (prof->placement_size - 1)) != 0 || m->start + prof->placement_size > 8 ||
            !(prof->placement_starts >> m->start & 1) || m->start % prof->placement_size != 0)
            return fail(p, "[mig_instance] %u: %s cannot start at memory slice %llu", i,
                        prof->name, m->start);
        unsigned span = ((1u << prof->placement_size) - 1) << m->start;
        if (used[m->gpu] & span)
            return fail(p, "[mig_instance] %u: %s at memory slice %llu overlaps another "
                        "instance of GPU %llu", i, prof->name, m->start, m->gpu);
        used[m->gpu] |= (unsigned char)span;
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int mock_config_parse(const char *text, size_t len, struct mock_config *out, char *err,
                      size_t err_len)
{
    struct parser p;
    memset(&p, 0, sizeof p);
    p.cfg = out;
    p.err = err;
    p.err_len = err_len;
    for (unsigned i = 0; i < MOCK_SECTION_COUNT; i++)
        *section_count(&p, &sections[i]) = 0;

    int have_format = 0;
    size_t pos = 0;
    while (pos < len) {
        p.line++;
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - start) : len - pos;
        pos += line_len + (nl ? 1 : 0);
        if (line_len > MOCK_CONFIG_MAX_LINE)
            return fail(&p, "line is longer than %d characters", MOCK_CONFIG_MAX_LINE);
        /* Keys are compared as C strings: a NUL inside a line would cut them short. */
        if (memchr(start, '\0', line_len) != NULL)
            return fail(&p, "the line contains a NUL byte");
        while (line_len > 0 && is_space(*start)) {
            start++;
            line_len--;
        }
        while (line_len > 0 && is_space(start[line_len - 1]))
            line_len--;
        if (line_len == 0 || start[0] == '#')
            continue;
        if (start[0] == '[') {
            if (start[line_len - 1] != ']' || line_len < 3)
                return fail(&p, "a section header must look like [name]");
            if (!have_format)
                return fail(&p, "the file must start with format = %d", MOCK_CONFIG_FORMAT);
            if (open_section(&p, start + 1, line_len - 2))
                return -1;
            continue;
        }
        const char *eq = memchr(start, '=', line_len);
        if (eq == NULL)
            return fail(&p, "expected key = value, [section], a comment or a blank line");
        size_t key_len = (size_t)(eq - start);
        while (key_len > 0 && is_space(start[key_len - 1]))
            key_len--;
        const char *val = eq + 1;
        size_t val_len = line_len - (size_t)(val - start);
        while (val_len > 0 && is_space(*val)) {
            val++;
            val_len--;
        }
        if (key_len == 0)
            return fail(&p, "a key is missing before =");
        if (!have_format) {
            unsigned long long version;
            if (key_len != 6 || memcmp(start, "format", 6) != 0)
                return fail(&p, "the file must start with format = %d", MOCK_CONFIG_FORMAT);
            if (parse_uint(val, val_len, &version) || version != MOCK_CONFIG_FORMAT)
                return fail(&p, "format %.*s is not supported by this library (it reads %d)",
                            (int)(val_len > 32 ? 32 : val_len), val, MOCK_CONFIG_FORMAT);
            have_format = 1;
            continue;
        }
        if (set_value(&p, start, key_len, val, val_len))
            return -1;
    }
    if (end_section(&p))
        return -1;
    p.line++;
    if (!have_format)
        return fail(&p, "the file must start with format = %d", MOCK_CONFIG_FORMAT);
    for (unsigned i = 0; i < MOCK_SECTION_COUNT; i++) {
        const struct section_desc *sec = &sections[i];
        if (!sec->required || *section_count(&p, sec) > 0)
            continue;
        if (sec->max_count == 1)
            return fail(&p, "the [%s] section is missing", sec->name);
        return fail(&p, "there is no [%s] section", sec->name);
    }
    for (unsigned i = 0; i < MOCK_SECTION_COUNT; i++)
        if (check_unique(&p, &sections[i]))
            return -1;
    return check_mig_instances(&p);
}
