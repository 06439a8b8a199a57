/*
 * gpumock.nvidia mock NVML: the live state of one node, shared by every process that loads the
 * library (which only reads it) and nvidia-mock-ctl (which writes it). Format and location:
 * docs/faults-and-live-values.md.
 *
 * One file of fixed size, mapped once at nvmlInit: a header, then two copies of the data. A
 * writer (holding flock on the file) copies the active copy into the other one, changes it and
 * publishes it by switching `active`, so a writer killed half-way leaves the active copy as it
 * was. Each copy has a sequence that is odd while it is written; a reader slow enough to see its
 * copy rewritten retries. Every shared word is an _Atomic uint64_t, written with release stores
 * and read with acquire loads (plain moves on x86-64): a reader takes no lock and makes no
 * system call.
 */
#ifndef GPUMOCK_NVML_LIVE_STATE_H
#define GPUMOCK_NVML_LIVE_STATE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Included by mock.h, after the config's structs (MOCK_MAX_GPU); include mock.h, not this. */

#define MOCK_LIVE_MAGIC "GPUMOCK-LIVE"
#define MOCK_LIVE_MAGIC_LEN 16
#define MOCK_LIVE_VERSION 2           /* 2: MIG instance records */
#define MOCK_LIVE_MAX_PROCS 16
#define MOCK_LIVE_NAME_WORDS 8       /* a process name: up to 63 bytes and a NUL */
#define MOCK_LIVE_NAME_MAX (MOCK_LIVE_NAME_WORDS * 8 - 1)
#define MOCK_LIVE_XID_RING 64

/* A counter the ctl accepts: what a monitoring agent may see without wrapping. */
#define MOCK_LIVE_COUNTER_MAX 0xffffffffULL

/*
 * The values nvidia-mock-ctl can set, named as nvidia-smi --query-gpu names them and in the
 * unit it prints. X(ID, name, unit, decimals, maximum): the value is stored multiplied by
 * 10^decimals (power.draw: W in, mW stored); the maximum, in stored units, is an expression of
 * `cfg` (a const struct mock_config *), expanded only where the ctl checks a value.
 */
#define MOCK_LIVE_KEYS(X)                                                                    \
    X(GPU_UTIL, "utilization.gpu", "%", 0, 100)                                              \
    X(MEM_UTIL, "utilization.memory", "%", 0, 100)                                           \
    X(MEM_USED, "memory.used", "MiB", 0,                                                     \
      (cfg->board.memory_total_bytes - cfg->board.memory_reserved_bytes) >> 20)              \
    X(TEMP, "temperature.gpu", "C", 0, cfg->board.temp_shutdown_c)                           \
    X(POWER, "power.draw", "W", 3, cfg->board.power_max_limit_mw)                            \
    X(CLOCK_SM, "clocks.sm", "MHz", 0, cfg->board.clock_sm_max_mhz)                          \
    X(CLOCK_MEM, "clocks.mem", "MHz", 0, cfg->board.clock_mem_max_mhz)                       \
    X(ECC_CORR_VOL, "ecc.errors.corrected.volatile.total", "errors", 0, MOCK_LIVE_COUNTER_MAX)   \
    X(ECC_CORR_AGG, "ecc.errors.corrected.aggregate.total", "errors", 0, MOCK_LIVE_COUNTER_MAX)  \
    X(ECC_UNC_VOL, "ecc.errors.uncorrected.volatile.total", "errors", 0, MOCK_LIVE_COUNTER_MAX)  \
    X(ECC_UNC_AGG, "ecc.errors.uncorrected.aggregate.total", "errors", 0, MOCK_LIVE_COUNTER_MAX)

#define MOCK_LIVE_KEY_ID(id, name, unit, decimals, maximum) MOCK_LIVE_##id,
enum mock_live_key { MOCK_LIVE_KEYS(MOCK_LIVE_KEY_ID) MOCK_LIVE_KEY_COUNT };
#undef MOCK_LIVE_KEY_ID

struct mock_live_proc {
    _Atomic uint64_t pid;
    _Atomic uint64_t used_mib;
    _Atomic uint64_t name[MOCK_LIVE_NAME_WORDS];   /* bytes, little-endian, NUL-padded */
};

#define MOCK_MIG_MAX_GI 15           /* GPU-instance ids 0..14: the placements of 8 memory slices */
#define MOCK_MIG_MAX_CI 8            /* compute-instance ids of one GPU instance */

/*
 * A GPU's MIG mode and instances once NVML set the mode or created or destroyed an instance
 * (mig_state.c); until then, and again once the config's mode or layout for the GPU changes (a
 * re-provision), the config's mig_mode and [mig_instance]s apply. The mode lives in gi_mask's
 * high bits, as NVML_DEVICE_MIG_* + 1, so that records written before it was kept there (0 in
 * those bits) still read as the config's mode and the file keeps its size and version.
 */
#define MOCK_MIG_MODE_SHIFT 32
#define MOCK_MIG_MODE_BITS (3ULL << MOCK_MIG_MODE_SHIFT)
struct mock_live_mig {
    _Atomic uint64_t layout;                       /* the config layout replaced (its key); 0: none */
    _Atomic uint64_t gi_mask;                      /* bit per GPU-instance id that exists; and
                                                      MOCK_MIG_MODE_BITS: the MIG mode */
    _Atomic uint64_t gi[MOCK_MIG_MAX_GI];          /* profile id | compute-instance id mask << 16 */
    _Atomic uint64_t ci[MOCK_MIG_MAX_GI][MOCK_MIG_MAX_CI];   /* CI profile | start << 8 */
};

/* One GPU of the config (by its position there, whatever a container sees). */
struct mock_live_gpu {
    _Atomic uint64_t set;                          /* bit per mock_live_key: value[] applies */
    _Atomic uint64_t lost;
    _Atomic uint64_t value[MOCK_LIVE_KEY_COUNT];
    _Atomic uint64_t proc_count;
    struct mock_live_proc proc[MOCK_LIVE_MAX_PROCS];
    struct mock_live_mig mig;
};

/* An XID as posted: the n-th one ever (1-based) sits in ring[(n - 1) % MOCK_LIVE_XID_RING]. */
struct mock_live_xid {
    _Atomic uint64_t number;
    _Atomic uint64_t gpu;
    _Atomic uint64_t code;
};

struct mock_live_data {
    _Atomic uint64_t seq;                          /* odd while a writer fills this copy */
    _Atomic uint64_t xid_count;                    /* XIDs ever posted */
    struct mock_live_xid xid[MOCK_LIVE_XID_RING];
    struct mock_live_gpu gpu[MOCK_MAX_GPU];
};

struct mock_live_file {
    char magic[MOCK_LIVE_MAGIC_LEN];               /* written before the file gets its name */
    uint64_t version;
    uint64_t size;
    _Atomic uint64_t active;                       /* which of data[] readers use */
    struct mock_live_data data[2];
};

/* The state file in use by this process's library (NULL when there is none), and its path. */
extern const struct mock_live_file *g_live_file;
extern char g_live_path[4096];

/*
 * Run `read` on one consistent view of the active copy (it may run more than once, and must
 * only read). 0, or -1 when there is no state file or no consistent view can be had.
 */
int mock_live_read_view(void (*read)(const struct mock_live_data *, void *), void *ctx);

/* A GPU the ctl marked lost (`slot` is its position in the config). */
static inline int mock_live_lost(unsigned slot)
{
    const struct mock_live_file *f = g_live_file;
    if (f == NULL)
        return 0;
    uint64_t active = atomic_load_explicit(&f->active, memory_order_acquire) & 1;
    return atomic_load_explicit(&f->data[active].gpu[slot].lost, memory_order_relaxed) != 0;
}

/*
 * Where the state of a node lives: $MOCK_NVML_STATE, else beside the config file
 * (nvml.conf -> nvml.state). -1 when there is none (a config embedded or built in) or the
 * path does not fit.
 */
int mock_live_path(const char *config_path, char *out, size_t size);

/* Map the state file read-only (for the library); NULL when absent or not a state file. With
 * `create`, a missing file is first created (atomically) if its directory lets us. */
const struct mock_live_file *mock_live_map(const char *path, int create);
void mock_live_unmap(const struct mock_live_file *file);

/* Create the state file unless it exists: written in full under a temporary name, then linked
 * to `path`. 0, or -1 with errno set. */
int mock_live_create(const char *path);

/* A value the ctl set for a GPU, else `fallback`. */
uint64_t mock_live_value(unsigned slot, enum mock_live_key key, uint64_t fallback);
/* Several values of one change at once: values[i] holds keys[i]'s fallback and gets its value
 * when the ctl set it. */
void mock_live_values(unsigned slot, unsigned n, const enum mock_live_key keys[],
                      uint64_t values[]);

/* The GPU's process list (at most max entries); returns how many it has. names may be NULL. */
struct mock_live_proc_info {
    unsigned pid;
    unsigned long long used_mib;
    char name[MOCK_LIVE_NAME_MAX + 1];
};
unsigned mock_live_procs(unsigned slot, struct mock_live_proc_info *out, unsigned max);

/* XIDs ever posted, and the n-th one (1-based): 0, or -1 when the ring has moved past it. */
uint64_t mock_live_xid_count(void);
int mock_live_xid(uint64_t number, unsigned *slot, unsigned long long *code);

/* The writer's side (nvidia-mock-ctl): one change under the file lock. */
struct mock_live_writer {
    int fd;
    struct mock_live_file *file;
    struct mock_live_data *next;                   /* the copy being changed */
};
/* Open and lock the state file at path (created if missing); copy the active data into the
 * other copy. 0, or -1 with errno set (EPROTO: not a state file of this version). */
int mock_live_begin(struct mock_live_writer *w, const char *path);
/* Publish the changed copy and unlock. */
void mock_live_commit(struct mock_live_writer *w);
/* Unlock without publishing (nothing changes). */
void mock_live_abort(struct mock_live_writer *w);

/* Pack a NUL-terminated name into a process record's words, and back. */
void mock_live_put_name(struct mock_live_proc *proc, const char *name);
void mock_live_get_name(const struct mock_live_proc *proc, char *out);

#endif /* GPUMOCK_NVML_LIVE_STATE_H */
