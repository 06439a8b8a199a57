/*
 * Which nvml.conf applies to this process, and reading it (docs/nvml-config.md):
 * $MOCK_NVML_CONFIG, then ../../../etc/nvidia-mock/nvml.conf next to the loaded library (a
 * driver root laid out like a real root filesystem), then /etc/nvidia-mock/nvml.conf, then the
 * built-in default. Runs only inside nvmlInit, never on a getter's path.
 */
#define _GNU_SOURCE             /* dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mock.h"

#define MAX_CONFIG_BYTES (4 * 1024 * 1024)
#define SYSTEM_CONFIG "/etc/nvidia-mock/nvml.conf"

static void report(const char *origin, const char *message)
{
    fprintf(stderr, "mock NVML: %s:%s\n", origin, message);
}

/* Read a whole file; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_CONFIG_BYTES) {
        int saved = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
        close(fd);
        errno = saved;
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (buf == NULL) {
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *len_out = got;
    return buf;
}

static nvmlReturn_t parse_file(const char *path, struct mock_config *out)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    if (text == NULL) {
        char msg[320];
        snprintf(msg, sizeof msg, " cannot read the NVML config: %s", strerror(errno));
        report(path, msg);
        return NVML_ERROR_UNKNOWN;
    }
    char err[512];
    int rc = mock_config_parse(text, len, out, err, sizeof err);
    free(text);
    if (rc != 0) {
        report(path, err);
        return NVML_ERROR_UNKNOWN;
    }
    return NVML_SUCCESS;
}

/* <dir of this library>/../../../etc/nvidia-mock/nvml.conf, if the library has a path. */
static int relative_config_path(char *buf, size_t size)
{
    Dl_info info;
    if (dladdr((void *)&mock_config_load, &info) == 0 || info.dli_fname == NULL)
        return -1;
    const char *slash = strrchr(info.dli_fname, '/');
    if (slash == NULL)
        return -1;
    int n = snprintf(buf, size, "%.*s/../../../etc/nvidia-mock/nvml.conf",
                     (int)(slash - info.dli_fname), info.dli_fname);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

nvmlReturn_t mock_config_load(struct mock_config *out)
{
    const char *env = getenv("MOCK_NVML_CONFIG");
    if (env != NULL && env[0] != '\0')
        return parse_file(env, out);

    char path[4096];
    if (relative_config_path(path, sizeof path) == 0 && access(path, F_OK) == 0)
        return parse_file(path, out);
    if (access(SYSTEM_CONFIG, F_OK) == 0)
        return parse_file(SYSTEM_CONFIG, out);

    char err[512];
    if (mock_config_parse(mock_default_config, mock_default_config_len, out, err,
                          sizeof err) != 0) {
        report("<built-in default>", err);
        return NVML_ERROR_UNKNOWN;
    }
    return NVML_SUCCESS;
}
