/*
 * The MIG mode and instances of each GPU (mig.h). The config's mig_mode and [mig_instance]s are
 * a GPU's until NVML sets the mode or creates or destroys an instance; from then on the live
 * state file holds them (struct mock_live_mig), so every later process on the node sees the
 * change. The records name the config layout they replaced by a key (a hash of the GPU's UUID,
 * its mig_mode and its [mig_instance]s): a re-provision with another mode or layout makes them
 * stale, and the config's apply again.
 */
#include <errno.h>
#include <string.h>

#include "mig.h"

static struct mock_mig_state g_initial[MOCK_MAX_GPU];
static uint64_t g_layout_key[MOCK_MAX_GPU];

static uint64_t fnv1a(uint64_t hash, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        hash ^= p[i];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

/* Add one GPU instance, with the compute instance that spans it, to a state. */
static void add_initial(struct mock_mig_state *st, const struct mock_mig_profile *p, unsigned start)
{
    unsigned id = mock_mig_gi_id(start, (unsigned)p->placement_size);
    if (id >= MOCK_MIG_MAX_GI)
        return;                      /* the parser refuses such a placement */
    st->gi_mask |= 1u << id;
    st->gi[id].profile_id = (unsigned)p->profile_id;
    st->gi[id].ci_mask = 1;
    st->gi[id].ci[0].profile = (unsigned char)mock_ci_full_profile((unsigned)p->slice_count);
    st->gi[id].ci[0].start = 0;
}

void mock_mig_init(void)
{
    for (unsigned slot = 0; slot < g_config.gpu_count; slot++) {
        memset(&g_initial[slot], 0, sizeof g_initial[slot]);
        g_initial[slot].mode = g_config.gpu[slot].mig_mode ? NVML_DEVICE_MIG_ENABLE
                                                           : NVML_DEVICE_MIG_DISABLE;
        g_layout_key[slot] = fnv1a(0xcbf29ce484222325ULL, g_config.gpu[slot].uuid,
                                   strlen(g_config.gpu[slot].uuid));
        unsigned long long mode = g_initial[slot].mode;
        g_layout_key[slot] = fnv1a(g_layout_key[slot], &mode, sizeof mode);
    }
    for (unsigned i = 0; i < g_config.mig_instance_count; i++) {
        const struct mock_mig_instance *m = &g_config.mig_instance[i];
        const struct mock_mig_profile *p = mock_mig_profile_by_id((unsigned)m->profile_id);
        if (m->gpu >= g_config.gpu_count || p == NULL)
            continue;                /* the parser refuses these */
        unsigned slot = (unsigned)m->gpu;
        unsigned long long words[2] = { m->profile_id, m->start };
        g_layout_key[slot] = fnv1a(g_layout_key[slot], words, sizeof words);
        add_initial(&g_initial[slot], p, (unsigned)m->start);
    }
    for (unsigned slot = 0; slot < g_config.gpu_count; slot++)
        g_layout_key[slot] |= 1;     /* 0 means "no records" */
}

static uint64_t load(const _Atomic uint64_t *word)
{
    return atomic_load_explicit(word, memory_order_acquire);
}

/* The mode a records' gi_mask word holds; the config's where it holds none (or garbage). */
static unsigned mode_of(uint64_t gi_mask, unsigned slot)
{
    uint64_t stored = (gi_mask & MOCK_MIG_MODE_BITS) >> MOCK_MIG_MODE_SHIFT;
    if (stored == NVML_DEVICE_MIG_DISABLE + 1 || stored == NVML_DEVICE_MIG_ENABLE + 1)
        return (unsigned)stored - 1;
    return g_initial[slot].mode;
}

static void decode(const struct mock_live_mig *m, unsigned slot, struct mock_mig_state *out)
{
    memset(out, 0, sizeof *out);
    uint64_t mask = load(&m->gi_mask);
    out->mode = mode_of(mask, slot);
    out->gi_mask = (unsigned)mask & ((1u << MOCK_MIG_MAX_GI) - 1);
    for (unsigned g = 0; g < MOCK_MIG_MAX_GI; g++) {
        if (!(out->gi_mask >> g & 1))
            continue;
        uint64_t w = load(&m->gi[g]);
        out->gi[g].profile_id = (unsigned)(w & 0xffff);
        out->gi[g].ci_mask = (unsigned)(w >> 16) & ((1u << MOCK_MIG_MAX_CI) - 1);
        for (unsigned c = 0; c < MOCK_MIG_MAX_CI; c++) {
            uint64_t cw = load(&m->ci[g][c]);
            out->gi[g].ci[c].profile = (unsigned char)(cw & 0xff);
            out->gi[g].ci[c].start = (unsigned char)((cw >> 8) & 0xff);
        }
    }
}

static void encode(const struct mock_mig_state *st, uint64_t key, struct mock_live_mig *m)
{
    atomic_store_explicit(&m->gi_mask, st->gi_mask | (uint64_t)(st->mode + 1) << MOCK_MIG_MODE_SHIFT,
                          memory_order_release);
    for (unsigned g = 0; g < MOCK_MIG_MAX_GI; g++) {
        const struct mock_mig_gi *gi = &st->gi[g];
        atomic_store_explicit(&m->gi[g], gi->profile_id | (uint64_t)gi->ci_mask << 16,
                              memory_order_release);
        for (unsigned c = 0; c < MOCK_MIG_MAX_CI; c++)
            atomic_store_explicit(&m->ci[g][c], gi->ci[c].profile | (uint64_t)gi->ci[c].start << 8,
                                  memory_order_release);
    }
    atomic_store_explicit(&m->layout, key, memory_order_release);
}

struct read_ctx {
    unsigned slot;
    int current;                     /* the records replace the config's layout */
    struct mock_mig_state *out;
};

static void read_records(const struct mock_live_data *d, void *ctx)
{
    struct read_ctx *r = ctx;
    const struct mock_live_mig *m = &d->gpu[r->slot].mig;
    r->current = load(&m->layout) == g_layout_key[r->slot];
    if (r->current)
        decode(m, r->slot, r->out);
}

void mock_mig_read(unsigned slot, struct mock_mig_state *out)
{
    struct read_ctx r = { .slot = slot, .current = 0, .out = out };
    if (mock_live_read_view(read_records, &r) != 0 || !r.current)
        memcpy(out, &g_initial[slot], sizeof *out);
}

struct mode_ctx {
    unsigned slot;
    int current;
    unsigned mode;
};

static void read_mode(const struct mock_live_data *d, void *ctx)
{
    struct mode_ctx *r = ctx;
    const struct mock_live_mig *m = &d->gpu[r->slot].mig;
    r->current = load(&m->layout) == g_layout_key[r->slot];
    if (r->current)
        r->mode = mode_of(load(&m->gi_mask), r->slot);
}

unsigned mock_mig_mode(unsigned slot)
{
    struct mode_ctx r = { .slot = slot, .current = 0, .mode = 0 };
    if (mock_live_read_view(read_mode, &r) != 0 || !r.current)
        return g_initial[slot].mode;
    return r.mode;
}

static nvmlReturn_t open_error(int err)
{
    return (err == EACCES || err == EPERM || err == EROFS) ? NVML_ERROR_NO_PERMISSION
                                                            : NVML_ERROR_UNKNOWN;
}

nvmlReturn_t mock_mig_change(unsigned slot, nvmlReturn_t (*change)(struct mock_mig_state *, void *),
                             void *ctx)
{
    if (g_live_file == NULL)
        return NVML_ERROR_NO_PERMISSION;
    struct mock_live_writer w;
    if (mock_live_begin(&w, g_live_path) != 0)
        return open_error(errno);
    struct mock_live_mig *m = &w.next->gpu[slot].mig;
    struct mock_mig_state st;
    if (atomic_load_explicit(&m->layout, memory_order_relaxed) == g_layout_key[slot])
        decode(m, slot, &st);
    else
        memcpy(&st, &g_initial[slot], sizeof st);
    nvmlReturn_t rc = change(&st, ctx);
    if (rc != NVML_SUCCESS) {
        mock_live_abort(&w);
        return rc;
    }
    encode(&st, g_layout_key[slot], m);
    mock_live_commit(&w);
    return NVML_SUCCESS;
}
