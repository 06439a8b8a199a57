/*
 * The control path under the sanitizers: while nvidia-mock-ctl processes (spawned by one thread)
 * set values, post XIDs and mark a GPU lost and back, reader threads poll the getters and waiter
 * threads wait for events. Built with TSan and with ASan+UBSan (mk/nvml.mk); the program fails
 * if a reader ever sees a half-applied change (each `set` gives utilization.gpu and
 * utilization.memory the same value, and each process its pid as its MiB), a call fails in a way
 * the change does not explain, or a waiter receives no XID.
 *
 *   test_live_threads CTL CONFIG STATE
 */
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nvml.h"

#define READERS 6
#define WAITERS 2
#define ROUNDS 40
#define XID_CODE 48

extern char **environ;

static const char *g_ctl;
static nvmlDevice_t g_gpu0, g_gpu1;      /* taken before GPU 1 is ever lost */
static atomic_int g_done;
static atomic_uint g_errors;
static atomic_uint g_xids;

static void fail(const char *what, nvmlReturn_t rc)
{
    fprintf(stderr, "%s: %s\n", what, nvmlErrorString(rc));
    atomic_fetch_add(&g_errors, 1);
}

static int run_ctl(char *const args[])
{
    pid_t pid;
    if (posix_spawn(&pid, g_ctl, NULL, NULL, args, environ) != 0)
        return -1;
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void check_gpu0(nvmlDevice_t gpu)
{
    nvmlUtilization_t rates;
    nvmlReturn_t rc = nvmlDeviceGetUtilizationRates(gpu, &rates);
    if (rc != NVML_SUCCESS)
        fail("utilization", rc);
    else if (rates.gpu != rates.memory)
        fail("utilization.gpu and .memory of one change differ", NVML_ERROR_UNKNOWN);
    nvmlProcessInfo_t procs[16];
    unsigned count = 16;
    rc = nvmlDeviceGetComputeRunningProcesses_v3(gpu, &count, procs);
    if (rc != NVML_SUCCESS)
        fail("processes", rc);
    for (unsigned i = 0; rc == NVML_SUCCESS && i < count; i++) {
        if (procs[i].usedGpuMemory != (unsigned long long)procs[i].pid << 20)
            fail("a process's pid and memory of one change differ", NVML_ERROR_UNKNOWN);
    }
}

static void check_gpu1(nvmlDevice_t gpu)
{
    unsigned temp;
    nvmlReturn_t rc = nvmlDeviceGetTemperature(gpu, NVML_TEMPERATURE_GPU, &temp);
    if (rc != NVML_SUCCESS && rc != NVML_ERROR_GPU_IS_LOST)
        fail("temperature of GPU 1", rc);
}

static void *reader(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_done)) {
        check_gpu0(g_gpu0);
        check_gpu1(g_gpu1);
    }
    return NULL;
}

static void *waiter(void *arg)
{
    (void)arg;
    nvmlEventSet_t set;
    nvmlReturn_t rc = nvmlEventSetCreate(&set);
    if (rc == NVML_SUCCESS)
        rc = nvmlDeviceRegisterEvents(g_gpu0, nvmlEventTypeXidCriticalError, set);
    if (rc != NVML_SUCCESS) {
        fail("event set", rc);
        return NULL;
    }
    while (!atomic_load(&g_done)) {
        nvmlEventData_t data;
        rc = nvmlEventSetWait_v2(set, &data, 50);
        if (rc == NVML_SUCCESS && data.eventData == XID_CODE && data.device == g_gpu0)
            atomic_fetch_add(&g_xids, 1);
        else if (rc != NVML_ERROR_TIMEOUT)
            fail("event wait", rc);
    }
    nvmlEventSetFree(set);
    return NULL;
}

/* One round of changes: a consistent set on GPU 0, an XID, GPU 1 lost and back. */
static int change_round(unsigned round)
{
    char set_util[64], set_procs[64];
    unsigned v = 1 + round % 100;
    snprintf(set_util, sizeof set_util, "utilization.gpu=%u", v);
    snprintf(set_procs, sizeof set_procs, "processes=%u:p:%u,%u:q:%u", v, v, v + 1, v + 1);
    char mem_util[64];
    snprintf(mem_util, sizeof mem_util, "utilization.memory=%u", v);
    char *set[] = { (char *)g_ctl, "set", "0", set_util, mem_util, set_procs, NULL };
    char code[16];
    snprintf(code, sizeof code, "%d", XID_CODE);
    char *xid[] = { (char *)g_ctl, "xid", "0", code, NULL };
    char *lost[] = { (char *)g_ctl, "lost", "1", NULL };
    char *clear[] = { (char *)g_ctl, "clear", "1", NULL };
    return run_ctl(set) | run_ctl(xid) | run_ctl(lost) | run_ctl(clear);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s CTL CONFIG STATE\n", argv[0]);
        return 2;
    }
    g_ctl = argv[1];
    unlink(argv[3]);
    setenv("MOCK_NVML_CONFIG", argv[2], 1);
    setenv("MOCK_NVML_STATE", argv[3], 1);
    nvmlReturn_t rc = nvmlInit_v2();
    if (rc == NVML_SUCCESS)
        rc = nvmlDeviceGetHandleByIndex_v2(0, &g_gpu0);
    if (rc == NVML_SUCCESS)
        rc = nvmlDeviceGetHandleByIndex_v2(1, &g_gpu1);
    if (rc != NVML_SUCCESS) {
        fail("nvmlInit_v2 and handles", rc);
        return 1;
    }
    pthread_t threads[READERS + WAITERS];
    for (int i = 0; i < READERS + WAITERS; i++)
        pthread_create(&threads[i], NULL, i < READERS ? reader : waiter, NULL);
    int ctl_failed = 0;
    for (unsigned round = 0; round < ROUNDS && !ctl_failed; round++)
        ctl_failed = change_round(round);
    atomic_store(&g_done, 1);
    for (int i = 0; i < READERS + WAITERS; i++)
        pthread_join(threads[i], NULL);
    nvmlShutdown();
    if (ctl_failed)
        fprintf(stderr, "nvidia-mock-ctl failed\n");
    if (atomic_load(&g_xids) == 0)
        fprintf(stderr, "no waiter received an XID\n");
    unsigned errors = atomic_load(&g_errors);
    printf("%u rounds of changes, %u XIDs received, %u errors\n", ROUNDS, atomic_load(&g_xids),
           errors);
    return ctl_failed || errors || atomic_load(&g_xids) == 0;
}
