/*
 * 32 threads, each repeatedly: nvmlInit, enumerate and read every GPU, nvmlShutdown. Built and
 * run under ThreadSanitizer (mk/nvml.mk), which fails the run on any data race; the program
 * itself fails if any call returns an error while its thread holds an init reference.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "nvml.h"

#define THREADS 32
#define ROUNDS 200

static _Thread_local unsigned thread_errors;
static atomic_uint failed_threads;

static void expect(nvmlReturn_t rc, const char *what)
{
    if (rc != NVML_SUCCESS) {
        thread_errors++;
        fprintf(stderr, "%s: %s\n", what, nvmlErrorString(rc));
    }
}

static void *worker(void *arg)
{
    (void)arg;
    for (int round = 0; round < ROUNDS; round++) {
        expect(nvmlInit_v2(), "nvmlInit_v2");
        unsigned count = 0;
        expect(nvmlDeviceGetCount_v2(&count), "nvmlDeviceGetCount_v2");
        for (unsigned i = 0; i < count; i++) {
            nvmlDevice_t d, again;
            char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
            nvmlMemory_t mem;
            nvmlPciInfo_t pci;
            unsigned v;
            expect(nvmlDeviceGetHandleByIndex_v2(i, &d), "handle by index");
            expect(nvmlDeviceGetUUID(d, uuid, sizeof uuid), "uuid");
            expect(nvmlDeviceGetHandleByUUID(uuid, &again), "handle by uuid");
            expect(nvmlDeviceGetMemoryInfo(d, &mem), "memory");
            expect(nvmlDeviceGetPciInfo_v3(d, &pci), "pci");
            expect(nvmlDeviceGetTemperature(d, NVML_TEMPERATURE_GPU, &v), "temperature");
            expect(nvmlDeviceGetPowerUsage(d, &v), "power");
            if (again != d)
                thread_errors++;
        }
        if (round % 50 == 0) {
            nvmlEventSet_t set;
            expect(nvmlEventSetCreate(&set), "event set create");
            expect(nvmlEventSetFree(set), "event set free");
        }
        expect(nvmlShutdown(), "nvmlShutdown");
    }
    if (thread_errors)
        atomic_fetch_add(&failed_threads, 1);
    return NULL;
}

int main(void)
{
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, worker, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    unsigned bad = atomic_load(&failed_threads);
    unsigned count;
    /* Every thread shut down what it initialized: the library is uninitialized again. */
    if (nvmlDeviceGetCount_v2(&count) != NVML_ERROR_UNINITIALIZED) {
        fprintf(stderr, "the library is still initialized after every thread shut down\n");
        bad++;
    }
    printf("%u passed, %u failed\n", THREADS + 1 - bad, bad);
    return bad ? 1 : 0;
}
