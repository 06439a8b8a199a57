/*
 * The nvml.conf parser (format 1, docs/nvml-config.md).
 *
 * A pure function of its input: no I/O, no allocation, so the fuzz target can drive it
 * directly. Keys are looked up through a per-section table; the renderer writes them in table
 * order, so the lookup starts at the key after the previous one and usually hits at once,
 * which keeps a 128-GPU file well under the init budget.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mock.h"

enum key_kind { KIND_UINT, KIND_BOOL, KIND_STRING, KIND_VISIBILITY, KIND_BUS_ID };

struct key_desc {
    const char *name;
    unsigned char kind;
    unsigned short max_len;          /* strings: longest value accepted */
    size_t offset;
};

#define U(type, field) { #field, KIND_UINT, 0, offsetof(type, field) }
#define B(type, field) { #field, KIND_BOOL, 0, offsetof(type, field) }
#define S(type, field, max) { #field, KIND_STRING, max, offsetof(type, field) }

static const struct key_desc system_keys[] = {
    S(struct mock_system, driver_version, NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE - 1),
    S(struct mock_system, nvml_version, NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE - 1),
    U(struct mock_system, cuda_driver_version),
    { "visibility", KIND_VISIBILITY, 0, offsetof(struct mock_system, visibility_all) },
    S(struct mock_system, dev_root, MOCK_STR - 1),
};
/* visibility and dev_root have defaults. */
#define SYSTEM_REQUIRED_MASK 0x7ULL

static const struct key_desc board_keys[] = {
    S(struct mock_board, name, NVML_DEVICE_NAME_V2_BUFFER_SIZE - 1),
    U(struct mock_board, brand),
    U(struct mock_board, architecture),
    U(struct mock_board, cc_major),
    U(struct mock_board, cc_minor),
    U(struct mock_board, cuda_cores),
    U(struct mock_board, sm_count),
    U(struct mock_board, memory_bus_width),
    U(struct mock_board, memory_total_bytes),
    U(struct mock_board, memory_reserved_bytes),
    U(struct mock_board, bar1_total_bytes),
    U(struct mock_board, pci_device_id),
    U(struct mock_board, pci_subsystem_id),
    U(struct mock_board, pcie_max_gen),
    U(struct mock_board, pcie_max_width),
    U(struct mock_board, bus_type),
    U(struct mock_board, power_default_limit_mw),
    U(struct mock_board, power_min_limit_mw),
    U(struct mock_board, power_max_limit_mw),
    U(struct mock_board, power_idle_mw),
    U(struct mock_board, clock_graphics_max_mhz),
    U(struct mock_board, clock_sm_max_mhz),
    U(struct mock_board, clock_mem_max_mhz),
    U(struct mock_board, clock_video_max_mhz),
    U(struct mock_board, clock_graphics_idle_mhz),
    U(struct mock_board, clock_mem_idle_mhz),
    U(struct mock_board, clock_video_idle_mhz),
    U(struct mock_board, temp_idle_c),
    U(struct mock_board, temp_mem_idle_c),
    U(struct mock_board, temp_shutdown_c),
    U(struct mock_board, temp_slowdown_c),
    U(struct mock_board, temp_gpu_max_c),
    U(struct mock_board, temp_mem_max_c),
    S(struct mock_board, vbios_version, NVML_DEVICE_VBIOS_VERSION_BUFFER_SIZE - 1),
    S(struct mock_board, board_part_number, NVML_DEVICE_PART_NUMBER_BUFFER_SIZE - 1),
    S(struct mock_board, gpu_part_number, NVML_DEVICE_PART_NUMBER_BUFFER_SIZE - 1),
    S(struct mock_board, inforom_image_version, NVML_DEVICE_INFOROM_VERSION_BUFFER_SIZE - 1),
    U(struct mock_board, num_fans),
    U(struct mock_board, nvlink_count),
    B(struct mock_board, gsp_firmware),
    B(struct mock_board, ecc_supported),
    B(struct mock_board, mig_capable),
};

static const struct key_desc mig_keys[] = {
    U(struct mock_mig_profile, index),
    U(struct mock_mig_profile, profile_id),
    S(struct mock_mig_profile, name, NVML_DEVICE_NAME_V2_BUFFER_SIZE - 1),
    U(struct mock_mig_profile, slice_count),
    U(struct mock_mig_profile, instance_count),
    U(struct mock_mig_profile, multiprocessor_count),
    U(struct mock_mig_profile, memory_size_mb),
    U(struct mock_mig_profile, copy_engine_count),
    U(struct mock_mig_profile, decoder_count),
    U(struct mock_mig_profile, encoder_count),
    U(struct mock_mig_profile, jpeg_count),
    U(struct mock_mig_profile, ofa_count),
};

static const struct key_desc gpu_keys[] = {
    U(struct mock_gpu_entry, index),
    U(struct mock_gpu_entry, minor),
    S(struct mock_gpu_entry, uuid, NVML_DEVICE_UUID_V2_BUFFER_SIZE - 1),
    S(struct mock_gpu_entry, serial, NVML_DEVICE_SERIAL_BUFFER_SIZE - 1),
    { "pci_bus_id", KIND_BUS_ID, NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE - 1,
      offsetof(struct mock_gpu_entry, pci_bus_id) },
    U(struct mock_gpu_entry, numa_node),
    B(struct mock_gpu_entry, mig_mode),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum section { SEC_NONE, SEC_SYSTEM, SEC_BOARD, SEC_MIG, SEC_GPU };

static const char *const section_names[] = { "", "system", "board", "mig_profile", "gpu" };

struct parser {
    struct mock_config *cfg;
    char *err;
    size_t err_len;
    unsigned line;
    enum section sec;
    const struct key_desc *keys;
    unsigned key_count;
    unsigned next_key;               /* where the next lookup starts */
    unsigned long long seen;         /* keys given in the current section */
    unsigned long long required;
    void *target;                    /* the struct the current section fills */
    int have_system, have_board;
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
        unsigned d;
        char c = s[i];
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        if (v > (~0ULL - d) / base)
            return -1;
        v = v * base + d;
    }
    *out = v;
    return 0;
}

static int hex_field(const char *s, size_t len, unsigned max_digits, unsigned long long limit,
                     unsigned long long *out)
{
    if (len == 0 || len > max_digits)
        return -1;
    unsigned long long v = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        v = v * 16 + d;
    }
    if (v > limit)
        return -1;
    *out = v;
    return 0;
}

/* DDDDDDDD:BB:DD.F (domain up to 8 hex digits). */
static int check_bus_id(const char *s, size_t len)
{
    const char *c1 = memchr(s, ':', len);
    if (c1 == NULL)
        return -1;
    const char *rest = c1 + 1;
    size_t rest_len = len - (size_t)(rest - s);
    const char *c2 = memchr(rest, ':', rest_len);
    if (c2 == NULL)
        return -1;
    const char *dev = c2 + 1;
    size_t dev_len = len - (size_t)(dev - s);
    const char *dot = memchr(dev, '.', dev_len);
    if (dot == NULL)
        return -1;
    unsigned long long v;
    if (hex_field(s, (size_t)(c1 - s), 8, 0xffffffffULL, &v) ||
        hex_field(rest, (size_t)(c2 - rest), 2, 0xff, &v) ||
        hex_field(dev, (size_t)(dot - dev), 2, 0x1f, &v) ||
        hex_field(dot + 1, len - (size_t)(dot + 1 - s), 1, 7, &v))
        return -1;
    return 0;
}

static void begin_section(struct parser *p, enum section sec, const struct key_desc *keys,
                          unsigned count, unsigned long long required, void *target)
{
    p->sec = sec;
    p->keys = keys;
    p->key_count = count;
    p->next_key = 0;
    p->seen = 0;
    p->required = required;
    p->target = target;
}

static int end_section(struct parser *p)
{
    if (p->sec == SEC_NONE)
        return 0;
    unsigned long long missing = p->required & ~p->seen;
    if (missing) {
        unsigned i = 0;
        while (!(missing & (1ULL << i)))
            i++;
        return fail(p, "[%s] is missing the required key %s", section_names[p->sec],
                    p->keys[i].name);
    }
    if (p->sec == SEC_GPU) {
        struct mock_gpu_entry *g = p->target;
        unsigned position = p->cfg->gpu_count - 1;
        if (g->index != position)
            return fail(p, "[gpu] index is %llu but this is GPU %u of the file; indexes "
                        "must be 0, 1, ... in file order", g->index, position);
        if (g->minor >= MOCK_MAX_GPUS)
            return fail(p, "[gpu] minor %llu is out of range 0..%d", g->minor,
                        MOCK_MAX_GPUS - 1);
    }
    return 0;
}

static int open_section(struct parser *p, const char *name, size_t len)
{
    if (end_section(p))
        return -1;
    struct mock_config *cfg = p->cfg;
    if (len == 6 && memcmp(name, "system", 6) == 0) {
        if (p->have_system)
            return fail(p, "[system] appears twice");
        p->have_system = 1;
        begin_section(p, SEC_SYSTEM, system_keys, COUNT(system_keys), SYSTEM_REQUIRED_MASK,
                      &cfg->system);
    } else if (len == 5 && memcmp(name, "board", 5) == 0) {
        if (p->have_board)
            return fail(p, "[board] appears twice");
        p->have_board = 1;
        begin_section(p, SEC_BOARD, board_keys, COUNT(board_keys),
                      (1ULL << COUNT(board_keys)) - 1, &cfg->board);
    } else if (len == 11 && memcmp(name, "mig_profile", 11) == 0) {
        if (cfg->mig_count >= MOCK_MAX_MIG_PROFILES)
            return fail(p, "more than %d [mig_profile] sections", MOCK_MAX_MIG_PROFILES);
        begin_section(p, SEC_MIG, mig_keys, COUNT(mig_keys), (1ULL << COUNT(mig_keys)) - 1,
                      &cfg->mig[cfg->mig_count++]);
    } else if (len == 3 && memcmp(name, "gpu", 3) == 0) {
        if (cfg->gpu_count >= MOCK_MAX_GPUS)
            return fail(p, "more than %d [gpu] sections", MOCK_MAX_GPUS);
        begin_section(p, SEC_GPU, gpu_keys, COUNT(gpu_keys), (1ULL << COUNT(gpu_keys)) - 1,
                      &cfg->gpu[cfg->gpu_count++]);
    } else {
        return fail(p, "unknown section [%.*s]", (int)(len > 64 ? 64 : len), name);
    }
    return 0;
}

static int set_value(struct parser *p, const char *key, size_t key_len, const char *val,
                     size_t val_len)
{
    if (p->sec == SEC_NONE)
        return fail(p, "%.*s: every key must be inside a section such as [system]",
                    (int)(key_len > 64 ? 64 : key_len), key);
    const struct key_desc *d = NULL;
    unsigned idx = 0;
    for (unsigned n = 0; n < p->key_count; n++) {
        unsigned i = (p->next_key + n) % p->key_count;
        const char *name = p->keys[i].name;
        if (strncmp(name, key, key_len) == 0 && name[key_len] == '\0') {
            d = &p->keys[i];
            idx = i;
            break;
        }
    }
    const char *sec = section_names[p->sec];
    if (d == NULL)
        return fail(p, "[%s] has no key %.*s", sec, (int)(key_len > 64 ? 64 : key_len), key);
    if (p->seen & (1ULL << idx))
        return fail(p, "[%s] %s is given twice", sec, d->name);
    p->seen |= 1ULL << idx;
    p->next_key = idx + 1;
    char *field = (char *)p->target + d->offset;
    unsigned long long v;
    switch (d->kind) {
    case KIND_UINT:
        if (parse_uint(val, val_len, &v))
            return fail(p, "[%s] %s: expected an unsigned integer, got \"%.*s\"", sec,
                        d->name, (int)(val_len > 64 ? 64 : val_len), val);
        memcpy(field, &v, sizeof v);
        return 0;
    case KIND_BOOL:
        if (val_len != 1 || (val[0] != '0' && val[0] != '1'))
            return fail(p, "[%s] %s: expected 0 or 1, got \"%.*s\"", sec, d->name,
                        (int)(val_len > 64 ? 64 : val_len), val);
        v = (unsigned long long)(val[0] - '0');
        memcpy(field, &v, sizeof v);
        return 0;
    case KIND_VISIBILITY: {
        int all;
        if (val_len == 8 && memcmp(val, "devnodes", 8) == 0)
            all = 0;
        else if (val_len == 3 && memcmp(val, "all", 3) == 0)
            all = 1;
        else
            return fail(p, "[system] visibility: expected devnodes or all, got \"%.*s\"",
                        (int)(val_len > 64 ? 64 : val_len), val);
        memcpy(field, &all, sizeof all);
        return 0;
    }
    default:
        if (d->kind == KIND_BUS_ID && check_bus_id(val, val_len))
            return fail(p, "[%s] %s: expected a PCI bus id like 00000000:07:00.0, got "
                        "\"%.*s\"", sec, d->name, (int)(val_len > 64 ? 64 : val_len), val);
        if (val_len == 0 || val_len > d->max_len)
            return fail(p, "[%s] %s: expected a string of 1 to %u characters, got %zu", sec,
                        d->name, (unsigned)d->max_len, val_len);
        memcpy(field, val, val_len);
        field[val_len] = '\0';
        return 0;
    }
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
    out->mig_count = 0;
    out->gpu_count = 0;
    /* Defaults of the optional [system] keys. */
    out->system.visibility_all = 0;
    memcpy(out->system.dev_root, "/dev", 5);

    int have_format = 0;
    size_t pos = 0;
    while (pos < len) {
        p.line++;
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - start) : len - pos;
        pos += line_len + (nl ? 1 : 0);
        if (line_len > 1023)
            return fail(&p, "line is longer than 1023 characters");
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
                return fail(&p, "the file must start with format = 1");
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
                return fail(&p, "the file must start with format = 1");
            if (parse_uint(val, val_len, &version) || version != 1)
                return fail(&p, "format %.*s is not supported by this library (it reads 1)",
                            (int)(val_len > 32 ? 32 : val_len), val);
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
        return fail(&p, "the file must start with format = 1");
    if (!p.have_system)
        return fail(&p, "the [system] section is missing");
    if (!p.have_board)
        return fail(&p, "the [board] section is missing");
    if (out->gpu_count == 0)
        return fail(&p, "there is no [gpu] section");
    unsigned char minor_used[MOCK_MAX_GPUS];
    memset(minor_used, 0, sizeof minor_used);
    for (unsigned i = 0; i < out->gpu_count; i++) {
        unsigned long long m = out->gpu[i].minor;
        if (minor_used[m])
            return fail(&p, "GPU %u reuses minor %llu", i, m);
        minor_used[m] = 1;
    }
    return 0;
}
