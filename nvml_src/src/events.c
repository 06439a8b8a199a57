/*
 * Event sets. Nothing ever happens on a mock GPU, so a wait blocks for its whole timeout and
 * returns NVML_ERROR_TIMEOUT, as the real library does on a quiet GPU. Sets come from a fixed
 * pool so a handle can be checked without dereferencing it.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "mock.h"

#define MAX_EVENT_SETS 256

struct nvmlEventSet_st {
    int in_use;                      /* guarded by g_event_lock */
    unsigned long long registered;
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
    MOCK_CHECK_DEVICE(device);
    if (eventTypes & ~supported_events())
        return NVML_ERROR_NOT_SUPPORTED;
    pthread_mutex_lock(&g_event_lock);
    struct nvmlEventSet_st *s = event_set(set);
    if (s != NULL)
        s->registered |= eventTypes;
    pthread_mutex_unlock(&g_event_lock);
    return s != NULL ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

MOCK_API nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data,
                                          unsigned int timeoutms)
{
    MOCK_REQUIRE_LIVE();
    MOCK_REQUIRE(data != NULL);
    pthread_once(&g_cond_once, init_cond);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeoutms / 1000;
    deadline.tv_nsec += (long)(timeoutms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g_event_lock);
    if (event_set(set) == NULL) {
        pthread_mutex_unlock(&g_event_lock);
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    /* No event is ever posted; only freeing the set (or the timeout) ends the wait. */
    while (event_set(set) != NULL) {
        if (pthread_cond_timedwait(&g_event_cond, &g_event_lock, &deadline) != 0)
            break;
    }
    pthread_mutex_unlock(&g_event_lock);
    return NVML_ERROR_TIMEOUT;
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
        pthread_cond_broadcast(&g_event_cond);
    }
    pthread_mutex_unlock(&g_event_lock);
    return s != NULL ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}
