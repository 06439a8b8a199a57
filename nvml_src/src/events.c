/*
 * Event sets. The only events are the XIDs nvidia-mock-ctl posts to the node's live state
 * (live_state.h): a wait delivers each one posted after the set was created, for a GPU the set
 * is registered on for XIDs, in every process. Otherwise it blocks for its whole timeout and
 * returns NVML_ERROR_TIMEOUT, as the real library does on a quiet GPU; while it blocks it looks
 * at the state's XID count every POLL_MS. Sets come from a fixed pool so a handle can be checked
 * without dereferencing it; the last nvmlShutdown frees every set still in use (as the real
 * library does: its handles are invalid after it), so programs that never free their sets do
 * not use up the pool over init/shutdown cycles.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "mock.h"

#define MAX_EVENT_SETS 256
#define POLL_MS 10
#define NO_INSTANCE 0xFFFFFFFFu      /* the instance ids of an event of a whole GPU */

struct nvmlEventSet_st {             /* guarded by g_event_lock */
    int in_use;
    unsigned generation;             /* changes when the set is freed: a waiter's set is gone */
    unsigned long long registered;
    unsigned char xid_gpus[(MOCK_MAX_GPU + 7) / 8];  /* by NVML index: registered for XIDs */
    uint64_t xids_seen;              /* the live state's XID count last looked at */
};

static struct nvmlEventSet_st g_sets[MAX_EVENT_SETS];
static pthread_mutex_t g_event_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_event_cond;
static pthread_once_t g_cond_once = PTHREAD_ONCE_INIT;

/* Waits time out against the monotonic clock, immune to wall-clock changes. */
static void init_cond(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&g_event_cond, &attr);
    pthread_condattr_destroy(&attr);
}

/* Caller holds g_event_lock. */
static struct nvmlEventSet_st *event_set(nvmlEventSet_t handle)
{
    uintptr_t base = (uintptr_t)g_sets, addr = (uintptr_t)handle;
    if (addr < base || (addr - base) % sizeof(struct nvmlEventSet_st) != 0 ||
        (addr - base) / sizeof(struct nvmlEventSet_st) >= MAX_EVENT_SETS)
        return NULL;
    struct nvmlEventSet_st *set = (struct nvmlEventSet_st *)handle;
    return set->in_use ? set : NULL;
}

static unsigned long long supported_events(void)
{
    unsigned long long all = nvmlEventTypeSingleBitEccError | nvmlEventTypeDoubleBitEccError |
        nvmlEventTypePState | nvmlEventTypeXidCriticalError | nvmlEventTypeClock |
        nvmlEventTypePowerSourceChange | nvmlEventTypeMigConfigChange |
        nvmlEventTypeSingleBitEccErrorStorm | nvmlEventTypeDramRetirementEvent |
        nvmlEventTypeDramRetirementFailure | nvmlEventTypeNonFatalPoisonError |
        nvmlEventTypeFatalPoisonError | nvmlEventTypeGpuUnavailableError |
        nvmlEventTypeGpuRecoveryAction;
    if (!g_config.board.ecc_supported)
        all &= ~(unsigned long long)(nvmlEventTypeSingleBitEccError |
                                     nvmlEventTypeDoubleBitEccError);
    return all;
}

MOCK_API nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device,
                                                       unsigned long long *eventTypes)
{
    MOCK_CHECK_DEVICE(device);
    MOCK_REQUIRE(eventTypes != NULL);
    *eventTypes = supported_events();
    return NVML_SUCCESS;
}

MOCK_API nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t *set)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(set != NULL);
    pthread_once(&g_cond_once, init_cond);
    pthread_mutex_lock(&g_event_lock);
    for (unsigned i = 0; i < MAX_EVENT_SETS; i++) {
        if (!g_sets[i].in_use) {
            g_sets[i].in_use = 1;
            g_sets[i].registered = 0;
            memset(g_sets[i].xid_gpus, 0, sizeof g_sets[i].xid_gpus);
            g_sets[i].xids_seen = mock_live_xid_count();
            *set = &g_sets[i];
            pthread_mutex_unlock(&g_event_lock);
            return NVML_SUCCESS;
        }
    }
    pthread_mutex_unlock(&g_event_lock);
    return NVML_ERROR_MEMORY;
}

MOCK_API nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long eventTypes,
                                               nvmlEventSet_t set)
{
    MOCK_DEVICE(dev, device);
    if (eventTypes & ~supported_events())
        return NVML_ERROR_NOT_SUPPORTED;
    pthread_mutex_lock(&g_event_lock);
    struct nvmlEventSet_st *s = event_set(set);
    if (s != NULL) {
        s->registered |= eventTypes;
        if (eventTypes & nvmlEventTypeXidCriticalError)
            s->xid_gpus[dev->index / 8] |= (unsigned char)(1u << (dev->index % 8));
    }
    pthread_mutex_unlock(&g_event_lock);
    return s != NULL ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

/* t + ms on the monotonic clock. */
static struct timespec after_ms(struct timespec t, unsigned ms)
{
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static int before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* The enumerated device of a config position registered in s for XIDs, or NULL. */
static struct nvmlDevice_st *xid_device(const struct nvmlEventSet_st *s, unsigned slot)
{
    for (unsigned i = 0; i < g_device_count; i++) {
        if (g_devices[i].slot == slot)
            return (s->xid_gpus[i / 8] >> (i % 8)) & 1 ? &g_devices[i] : NULL;
    }
    return NULL;
}

/* The next XID for s that the ctl posted since s last looked: 0 with data filled, or -1. XIDs
 * the ring no longer holds are skipped, as a real driver drops events nobody read in time. */
static int next_xid(struct nvmlEventSet_st *s, nvmlEventData_t *data)
{
    uint64_t count = mock_live_xid_count();
    if (count > s->xids_seen + MOCK_LIVE_XID_RING)
        s->xids_seen = count - MOCK_LIVE_XID_RING;
    while (s->xids_seen < count) {
        unsigned slot;
        unsigned long long code;
        if (mock_live_xid(++s->xids_seen, &slot, &code) != 0)
            continue;
        struct nvmlDevice_st *dev = xid_device(s, slot);
        if (dev == NULL)
            continue;
        data->device = dev;
        data->eventType = nvmlEventTypeXidCriticalError;
        data->eventData = code;
        data->gpuInstanceId = NO_INSTANCE;
        data->computeInstanceId = NO_INSTANCE;
        return 0;
    }
    return -1;
}

MOCK_API nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
                                          unsigned int timeoutms)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(data != NULL);
    pthread_once(&g_cond_once, init_cond);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const struct timespec deadline = after_ms(now, timeoutms);
    pthread_mutex_lock(&g_event_lock);
    struct nvmlEventSet_st *s = event_set(set);
    if (s == NULL) {
        pthread_mutex_unlock(&g_event_lock);
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    /* Until an XID comes, the set is freed (even if its slot is reused since), or the timeout
     * passes. */
    const unsigned generation = s->generation;
    nvmlReturn_t rc = NVML_ERROR_TIMEOUT;
    while (event_set(set) == s && s->generation == generation) {
        if (next_xid(s, data) == 0) {
            rc = NVML_SUCCESS;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!before(&now, &deadline))
            break;
        struct timespec poll = after_ms(now, POLL_MS);
        pthread_cond_timedwait(&g_event_cond, &g_event_lock,
                               before(&poll, &deadline) ? &poll : &deadline);
    }
    pthread_mutex_unlock(&g_event_lock);
    return rc;
}

MOCK_API nvmlReturn_t nvmlEventSetWait(nvmlEventSet_t set, nvmlEventData_t *data,
                                       unsigned int timeoutms)
{
    return nvmlEventSetWait_v2(set, data, timeoutms);
}

MOCK_API nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set)
{
    MOCK_REQUIRE_LIVE();
    pthread_once(&g_cond_once, init_cond);
    pthread_mutex_lock(&g_event_lock);
    struct nvmlEventSet_st *s = event_set(set);
    if (s != NULL) {
        s->in_use = 0;
        s->generation++;
        pthread_cond_broadcast(&g_event_cond);
    }
    pthread_mutex_unlock(&g_event_lock);
    return s != NULL ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

void mock_events_free_all(void)
{
    pthread_once(&g_cond_once, init_cond);
    pthread_mutex_lock(&g_event_lock);
    for (unsigned i = 0; i < MAX_EVENT_SETS; i++) {
        if (g_sets[i].in_use) {
            g_sets[i].in_use = 0;
            g_sets[i].generation++;
        }
    }
    pthread_cond_broadcast(&g_event_cond);
    pthread_mutex_unlock(&g_event_lock);
}
