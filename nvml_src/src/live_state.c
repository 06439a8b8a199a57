/*
 * The live state file (live_state.h): where it is, creating and mapping it, the readers the
 * getters and event waits use, and the locked two-copy write nvidia-mock-ctl uses. Built into
 * the library and linked into the ctl, so both sides share one definition of the format.
 */
#define _DEFAULT_SOURCE         /* flock */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mock.h"

/* A reader retries while it sees a copy being rewritten; a healthy writer never makes it spin
 * long, so past this many tries the file is taken to be damaged and the defaults apply. */
#define MAX_TRIES 1000

_Static_assert(sizeof(struct mock_live_data) % sizeof(uint64_t) == 0, "data is whole words");
_Static_assert(sizeof MOCK_LIVE_MAGIC <= MOCK_LIVE_MAGIC_LEN, "magic fits");
_Static_assert(MOCK_LIVE_KEY_COUNT <= 64, "one set bit per key");

const struct mock_live_file *g_live_file;
char g_live_path[4096];

int mock_live_path(const char *config_path, char *out, size_t size)
{
    const char *env = getenv("MOCK_NVML_STATE");
    int n;
    if (env != NULL && env[0] != '\0') {
        n = snprintf(out, size, "%s", env);
    } else {
        if (config_path == NULL || config_path[0] == '\0')
            return -1;
        size_t len = strlen(config_path);
        if (len >= 5 && strcmp(config_path + len - 5, ".conf") == 0)
            len -= 5;
        n = snprintf(out, size, "%.*s.state", (int)len, config_path);
    }
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* The bytes before the data: magic, version, size, active = 0. */
static void header_bytes(unsigned char *out)
{
    memset(out, 0, offsetof(struct mock_live_file, active) + sizeof(uint64_t));
    memcpy(out + offsetof(struct mock_live_file, magic), MOCK_LIVE_MAGIC, sizeof MOCK_LIVE_MAGIC);
    uint64_t version = MOCK_LIVE_VERSION, size = sizeof(struct mock_live_file);
    memcpy(out + offsetof(struct mock_live_file, version), &version, sizeof version);
    memcpy(out + offsetof(struct mock_live_file, size), &size, sizeof size);
}

/* Write the whole empty file to fd: zeros (a sparse file) behind the header. */
static int fill_new_file(int fd)
{
    unsigned char header[offsetof(struct mock_live_file, active) + sizeof(uint64_t)];
    header_bytes(header);
    if (ftruncate(fd, (off_t)sizeof(struct mock_live_file)) != 0)
        return -1;
    size_t done = 0;
    while (done < sizeof header) {
        ssize_t n = pwrite(fd, header + done, sizeof header - done, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

int mock_live_create(const char *path)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    int rc = fill_new_file(fd);
    int saved = errno;
    if (close(fd) != 0 && rc == 0) {
        rc = -1;
        saved = errno;
    }
    /* link, not rename: a file someone else created meanwhile is theirs and stays. */
    if (rc == 0 && link(tmp, path) != 0 && errno != EEXIST) {
        rc = -1;
        saved = errno;
    }
    unlink(tmp);
    errno = saved;
    return rc;
}

/* Map an open state file after checking it is one of this version; NULL (errno set) if not. */
static struct mock_live_file *map_fd(int fd, int prot)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return NULL;
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != sizeof(struct mock_live_file)) {
        errno = EPROTO;
        return NULL;
    }
    void *p = mmap(NULL, sizeof(struct mock_live_file), prot, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct mock_live_file *f = p;
    if (memcmp(f->magic, MOCK_LIVE_MAGIC, sizeof MOCK_LIVE_MAGIC) != 0 ||
        f->version != MOCK_LIVE_VERSION || f->size != sizeof(struct mock_live_file)) {
        munmap(p, sizeof(struct mock_live_file));
        errno = EPROTO;
        return NULL;
    }
    return f;
}

const struct mock_live_file *mock_live_map(const char *path, int create)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create && mock_live_create(path) == 0)
        fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct mock_live_file *f = map_fd(fd, PROT_READ);
    close(fd);
    return f;
}

void mock_live_unmap(const struct mock_live_file *file)
{
    if (file != NULL)
        munmap((void *)file, sizeof *file);
}

/* The active copy and its (even) sequence; NULL when none can be had. */
static const struct mock_live_data *read_begin(const struct mock_live_file *f, uint64_t *seq)
{
    for (int tries = 0; tries < MAX_TRIES; tries++) {
        uint64_t active = atomic_load_explicit(&f->active, memory_order_acquire) & 1;
        const struct mock_live_data *d = &f->data[active];
        uint64_t s = atomic_load_explicit(&d->seq, memory_order_acquire);
        if ((s & 1) == 0) {
            *seq = s;
            return d;
        }
    }
    return NULL;
}

/*
 * Whether what was read from d since read_begin is one consistent view. Every word is read with
 * an acquire load (a plain load on x86-64), which keeps this re-read of the sequence after them;
 * writers store with release. No fences: ThreadSanitizer does not model them.
 */
static int read_end(const struct mock_live_data *d, uint64_t seq)
{
    return atomic_load_explicit(&d->seq, memory_order_relaxed) == seq;
}

static uint64_t load(const _Atomic uint64_t *word)
{
    return atomic_load_explicit(word, memory_order_acquire);
}

int mock_live_read_view(void (*read)(const struct mock_live_data *, void *), void *ctx)
{
    const struct mock_live_file *f = g_live_file;
    if (f == NULL)
        return -1;
    for (int tries = 0; tries < MAX_TRIES; tries++) {
        uint64_t seq;
        const struct mock_live_data *d = read_begin(f, &seq);
        if (d == NULL)
            return -1;
        read(d, ctx);
        if (read_end(d, seq))
            return 0;
    }
    return -1;
}

struct values_view {
    unsigned slot, n;
    const enum mock_live_key *keys;
    uint64_t set, got[MOCK_LIVE_KEY_COUNT];
};

static void read_values(const struct mock_live_data *d, void *ctx)
{
    struct values_view *v = ctx;
    v->set = load(&d->gpu[v->slot].set);
    for (unsigned i = 0; i < v->n; i++)
        v->got[i] = load(&d->gpu[v->slot].value[v->keys[i]]);
}

void mock_live_values(unsigned slot, unsigned n, const enum mock_live_key keys[],
                      uint64_t values[])
{
    struct values_view v = { .slot = slot, .n = n < MOCK_LIVE_KEY_COUNT ? n : MOCK_LIVE_KEY_COUNT,
                             .keys = keys };
    if (mock_live_read_view(read_values, &v) != 0)
        return;
    for (unsigned i = 0; i < v.n; i++) {
        if ((v.set >> keys[i]) & 1)
            values[i] = v.got[i];
    }
}

uint64_t mock_live_value(unsigned slot, enum mock_live_key key, uint64_t fallback)
{
    mock_live_values(slot, 1, &key, &fallback);
    return fallback;
}

void mock_live_get_name(const struct mock_live_proc *proc, char *out)
{
    for (unsigned w = 0; w < MOCK_LIVE_NAME_WORDS; w++) {
        uint64_t v = load(&proc->name[w]);
        for (unsigned b = 0; b < 8; b++)
            out[w * 8 + b] = (char)((v >> (8 * b)) & 0xff);
    }
    out[MOCK_LIVE_NAME_MAX] = '\0';
}

void mock_live_put_name(struct mock_live_proc *proc, const char *name)
{
    size_t len = strnlen(name, MOCK_LIVE_NAME_MAX);
    for (unsigned w = 0; w < MOCK_LIVE_NAME_WORDS; w++) {
        uint64_t v = 0;
        for (unsigned b = 0; b < 8; b++) {
            size_t i = w * 8 + b;
            if (i < len)
                v |= (uint64_t)(unsigned char)name[i] << (8 * b);
        }
        atomic_store_explicit(&proc->name[w], v, memory_order_release);
    }
}

struct procs_view {
    unsigned slot, max, n;
    struct mock_live_proc_info *out;
};

static void read_procs(const struct mock_live_data *d, void *ctx)
{
    struct procs_view *v = ctx;
    const struct mock_live_gpu *g = &d->gpu[v->slot];
    uint64_t count = load(&g->proc_count);
    v->n = count < MOCK_LIVE_MAX_PROCS ? (unsigned)count : MOCK_LIVE_MAX_PROCS;
    for (unsigned i = 0; i < v->n && i < v->max; i++) {
        v->out[i].pid = (unsigned)load(&g->proc[i].pid);
        v->out[i].used_mib = load(&g->proc[i].used_mib);
        mock_live_get_name(&g->proc[i], v->out[i].name);
    }
}

unsigned mock_live_procs(unsigned slot, struct mock_live_proc_info *out, unsigned max)
{
    struct procs_view v = { .slot = slot, .max = max, .out = out };
    return mock_live_read_view(read_procs, &v) == 0 ? v.n : 0;
}

static void read_xid_count(const struct mock_live_data *d, void *ctx)
{
    *(uint64_t *)ctx = load(&d->xid_count);
}

uint64_t mock_live_xid_count(void)
{
    uint64_t count = 0;
    return mock_live_read_view(read_xid_count, &count) == 0 ? count : 0;
}

struct xid_view {
    uint64_t wanted, number, gpu, code;
};

static void read_xid(const struct mock_live_data *d, void *ctx)
{
    struct xid_view *v = ctx;
    const struct mock_live_xid *x = &d->xid[(v->wanted - 1) % MOCK_LIVE_XID_RING];
    v->number = load(&x->number);
    v->gpu = load(&x->gpu);
    v->code = load(&x->code);
}

int mock_live_xid(uint64_t number, unsigned *slot, unsigned long long *code)
{
    struct xid_view v = { .wanted = number };
    if (number == 0 || mock_live_read_view(read_xid, &v) != 0 || v.number != number ||
        v.gpu >= MOCK_MAX_GPU)
        return -1;
    *slot = (unsigned)v.gpu;
    *code = v.code;
    return 0;
}

/* Every word of a copy but its sequence, from `from` to `to` (only the writer touches `to`). */
static void copy_data(struct mock_live_data *to, const struct mock_live_data *from)
{
    const size_t words = (sizeof *to - offsetof(struct mock_live_data, xid_count)) /
                         sizeof(uint64_t);
    _Atomic uint64_t *dst = &to->xid_count;
    const _Atomic uint64_t *src = &from->xid_count;
    for (size_t i = 0; i < words; i++)
        atomic_store_explicit(&dst[i], load(&src[i]), memory_order_release);
}

static int open_locked(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        if (mock_live_create(path) != 0)
            return -1;
        fd = open(path, O_RDWR | O_CLOEXEC);
    }
    if (fd < 0)
        return -1;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
    }
    return fd;
}

int mock_live_begin(struct mock_live_writer *w, const char *path)
{
    int fd = open_locked(path);
    if (fd < 0)
        return -1;
    struct mock_live_file *f = map_fd(fd, PROT_READ | PROT_WRITE);
    if (f == NULL) {
        int saved = errno;
        close(fd);                   /* drops the lock */
        errno = saved;
        return -1;
    }
    uint64_t active = atomic_load_explicit(&f->active, memory_order_relaxed) & 1;
    struct mock_live_data *next = &f->data[active ^ 1];
    /* Odd, and different from before even if a killed writer left it odd. */
    uint64_t seq = atomic_load_explicit(&next->seq, memory_order_relaxed);
    atomic_store_explicit(&next->seq, (seq | 1) + (seq & 1) * 2, memory_order_relaxed);
    copy_data(next, &f->data[active]);
    w->fd = fd;
    w->file = f;
    w->next = next;
    return 0;
}

static void writer_close(struct mock_live_writer *w)
{
    munmap(w->file, sizeof *w->file);
    close(w->fd);                    /* drops the lock */
    w->file = NULL;
    w->next = NULL;
    w->fd = -1;
}

void mock_live_commit(struct mock_live_writer *w)
{
    uint64_t seq = atomic_load_explicit(&w->next->seq, memory_order_relaxed);
    atomic_store_explicit(&w->next->seq, seq + 1, memory_order_release);
    atomic_store_explicit(&w->file->active, (uint64_t)(w->next - w->file->data),
                          memory_order_release);
    writer_close(w);
}

void mock_live_abort(struct mock_live_writer *w)
{
    /* The copy stays odd and inactive; the next writer rewrites it whole. */
    writer_close(w);
}
