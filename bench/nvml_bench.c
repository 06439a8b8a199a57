/*
 * Times an NVML library through dlopen, as a client would load it, and prints one table:
 * median ns per call of the getters monitoring agents poll, init+shutdown time with an
 * 8-GPU and a 128-GPU config, and the resident memory that loading and init add.
 *
 *   nvml_bench LIB CONFIG_8_GPUS CONFIG_128_GPUS [STATE_FILE]
 *
 * With STATE_FILE, a second table compares each getter without a live state file
 * ($MOCK_NVML_STATE naming none that can exist) and with one present and unchanged
 * (docs/faults-and-live-values.md): the cost of being able to change values at run time.
 *
 * Works on the real libnvidia-ml.so.1 too (it ignores MOCK_NVML_CONFIG), so the same binary
 * gives the mock/real ratio on a machine with a GPU.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nvml.h"

#define BATCH 1000
#define SAMPLES 101
#define CYCLES 201

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], by_value);
    return v[n / 2];
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f != NULL)
        fclose(f);
    return kib;
}

static void *lib;

static void *sym(const char *name)
{
    void *p = dlsym(lib, name);
    if (p == NULL) {
        fprintf(stderr, "nvml_bench: %s is missing\n", name);
        exit(2);
    }
    return p;
}

static nvmlReturn_t (*p_init)(void);
static nvmlReturn_t (*p_shutdown)(void);
static nvmlReturn_t (*p_count)(unsigned *);
static nvmlReturn_t (*p_by_index)(unsigned, nvmlDevice_t *);
static nvmlReturn_t (*p_name)(nvmlDevice_t, char *, unsigned);
static nvmlReturn_t (*p_uuid)(nvmlDevice_t, char *, unsigned);
static nvmlReturn_t (*p_pci)(nvmlDevice_t, nvmlPciInfo_t *);
static nvmlReturn_t (*p_memory)(nvmlDevice_t, nvmlMemory_t *);
static nvmlReturn_t (*p_temperature)(nvmlDevice_t, nvmlTemperatureSensors_t, unsigned *);
static nvmlReturn_t (*p_power)(nvmlDevice_t, unsigned *);
static nvmlReturn_t (*p_util)(nvmlDevice_t, nvmlUtilization_t *);
static nvmlReturn_t (*p_procs)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *);

static nvmlDevice_t dev;
static volatile unsigned sink;

enum getter { G_COUNT, G_HANDLE, G_NAME, G_UUID, G_PCI, G_MEMORY, G_TEMP, G_POWER, G_UTIL,
              G_PROCS, G_END };
static const char *const getter_names[] = {
    "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetName",
    "nvmlDeviceGetUUID", "nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetTemperature", "nvmlDeviceGetPowerUsage", "nvmlDeviceGetUtilizationRates",
    "nvmlDeviceGetComputeRunningProcesses_v3",
};

static void call(enum getter g)
{
    char buf[96];
    unsigned u = 0;
    nvmlPciInfo_t pci;
    nvmlMemory_t mem;
    nvmlUtilization_t util;
    nvmlDevice_t d;
    nvmlProcessInfo_t procs[4];
    switch (g) {
    case G_COUNT: p_count(&u); break;
    case G_HANDLE: p_by_index(0, &d); u = d != NULL; break;
    case G_NAME: p_name(dev, buf, sizeof buf); u = (unsigned char)buf[0]; break;
    case G_UUID: p_uuid(dev, buf, sizeof buf); u = (unsigned char)buf[4]; break;
    case G_PCI: p_pci(dev, &pci); u = pci.bus; break;
    case G_MEMORY: p_memory(dev, &mem); u = (unsigned)mem.total; break;
    case G_TEMP: p_temperature(dev, NVML_TEMPERATURE_GPU, &u); break;
    case G_POWER: p_power(dev, &u); break;
    case G_UTIL: p_util(dev, &util); u = util.gpu; break;
    case G_PROCS: u = 4; p_procs(dev, &u, procs); break;
    default: break;
    }
    sink += u;
}

static double getter_ns(enum getter g)
{
    double samples[SAMPLES];
    for (int i = 0; i < BATCH; i++)
        call(g);
    for (int s = 0; s < SAMPLES; s++) {
        double t0 = now_ns();
        for (int i = 0; i < BATCH; i++)
            call(g);
        samples[s] = (now_ns() - t0) / BATCH;
    }
    return median(samples, SAMPLES);
}

static double init_shutdown_us(const char *config, unsigned *gpus)
{
    double samples[CYCLES];
    setenv("MOCK_NVML_CONFIG", config, 1);
    for (int c = 0; c < CYCLES; c++) {
        double t0 = now_ns();
        nvmlReturn_t rc = p_init();
        if (rc == NVML_SUCCESS && c == 0)
            p_count(gpus);
        p_shutdown();
        samples[c] = (now_ns() - t0) / 1e3;
        if (rc != NVML_SUCCESS) {
            fprintf(stderr, "nvml_bench: nvmlInit_v2 with %s failed (%d)\n", config, (int)rc);
            exit(1);
        }
    }
    return median(samples, CYCLES);
}

/* Every getter's median after an init with MOCK_NVML_STATE = state; 0 or -1. */
static int getters_with_state(const char *state, double ns[G_END])
{
    setenv("MOCK_NVML_STATE", state, 1);
    if (p_init() != NVML_SUCCESS || p_by_index(0, &dev) != NVML_SUCCESS)
        return -1;
    for (int g = 0; g < G_END; g++)
        ns[g] = getter_ns((enum getter)g);
    p_shutdown();
    return 0;
}

static int state_table(const char *config, const char *state)
{
    double without[G_END], with[G_END];
    setenv("MOCK_NVML_CONFIG", config, 1);
    if (getters_with_state("/nonexistent-gpumock-bench/none.state", without) != 0 ||
        getters_with_state(state, with) != 0) {
        fprintf(stderr, "nvml_bench: init with a state file setting failed\n");
        return 1;
    }
    printf("\n%-44s %15s %15s\n", "getter (median ns per call)", "no state file",
           "state unchanged");
    printf("%-44s %15s %15s\n", "--------------------------------------------",
           "---------------", "---------------");
    for (int g = 0; g < G_END; g++)
        printf("%-44s %12.1f ns %12.1f ns\n", getter_names[g], without[g], with[g]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s LIBNVIDIA_ML CONFIG_8_GPUS CONFIG_128_GPUS [STATE_FILE]\n",
                argv[0]);
        return 2;
    }
    setenv("MOCK_NVML_CONFIG", argv[2], 1);
    long rss_before = rss_kib();
    lib = dlopen(argv[1], RTLD_NOW);
    if (lib == NULL) {
        fprintf(stderr, "nvml_bench: %s\n", dlerror());
        return 2;
    }
    p_init = (nvmlReturn_t (*)(void))sym("nvmlInit_v2");
    p_shutdown = (nvmlReturn_t (*)(void))sym("nvmlShutdown");
    p_count = (nvmlReturn_t (*)(unsigned *))sym("nvmlDeviceGetCount_v2");
    p_by_index = (nvmlReturn_t (*)(unsigned, nvmlDevice_t *))sym("nvmlDeviceGetHandleByIndex_v2");
    p_name = (nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned))sym("nvmlDeviceGetName");
    p_uuid = (nvmlReturn_t (*)(nvmlDevice_t, char *, unsigned))sym("nvmlDeviceGetUUID");
    p_pci = (nvmlReturn_t (*)(nvmlDevice_t, nvmlPciInfo_t *))sym("nvmlDeviceGetPciInfo_v3");
    p_memory = (nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t *))sym("nvmlDeviceGetMemoryInfo");
    p_temperature = (nvmlReturn_t (*)(nvmlDevice_t, nvmlTemperatureSensors_t, unsigned *))
        sym("nvmlDeviceGetTemperature");
    p_power = (nvmlReturn_t (*)(nvmlDevice_t, unsigned *))sym("nvmlDeviceGetPowerUsage");
    p_util = (nvmlReturn_t (*)(nvmlDevice_t, nvmlUtilization_t *))sym("nvmlDeviceGetUtilizationRates");
    p_procs = (nvmlReturn_t (*)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *))
        sym("nvmlDeviceGetComputeRunningProcesses_v3");
    if (p_init() != NVML_SUCCESS || p_by_index(0, &dev) != NVML_SUCCESS) {
        fprintf(stderr, "nvml_bench: init or handle 0 failed\n");
        return 1;
    }
    long rss_after = rss_kib();

    printf("%-44s %12s %10s\n", "measure", "value", "goal");
    printf("%-44s %12s %10s\n", "--------------------------------------------",
           "------------", "----------");
    for (int g = 0; g < G_END; g++)
        printf("%-44s %9.1f ns %7s ns\n", getter_names[g], getter_ns((enum getter)g), "30");
    p_shutdown();
    unsigned gpus8 = 0, gpus128 = 0;
    double t8 = init_shutdown_us(argv[2], &gpus8);
    double t128 = init_shutdown_us(argv[3], &gpus128);
    char label[64];
    snprintf(label, sizeof label, "nvmlInit_v2 + nvmlShutdown, %u GPUs", gpus8);
    printf("%-44s %9.1f us %7s us\n", label, t8, "50");
    snprintf(label, sizeof label, "nvmlInit_v2 + nvmlShutdown, %u GPUs", gpus128);
    printf("%-44s %9.1f us %7s us\n", label, t128, "50");
    printf("%-44s %8ld KiB %6s KiB\n", "RSS added by dlopen + nvmlInit_v2 (8 GPUs)",
           rss_after - rss_before, "1024");
    return argc == 5 ? state_table(argv[2], argv[4]) : 0;
}
