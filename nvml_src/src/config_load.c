/*
 * Which nvml.conf applies to this process, and reading it (docs/nvml-config.md):
 * $MOCK_NVML_CONFIG, then ../../../etc/nvidia-mock/nvml.conf next to the loaded library (a
 * driver root laid out like a real root filesystem), then the config embedded at the end of the
 * library's own file, then /etc/nvidia-mock/nvml.conf, then the built-in default. Runs only
 * inside nvmlInit, never on a getter's path.
 *
 * The embedded copy is for containers that get the library file and their device nodes and
 * nothing else of ours (NVIDIA's device plugin writes its own CDI spec): the driver tree module
 * (plugins/module_utils/render/driver_tree.py, EMBED_MAGIC) writes the file as
 *   <ELF image> <config text> <EMBED_MAGIC, 16 bytes> <config length, uint64 little-endian>
 * The dynamic loader ignores bytes after the image.
 */
#define _GNU_SOURCE             /* dladdr */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mock.h"

#define MAX_CONFIG_BYTES MOCK_CONFIG_MAX_BYTES
#define SYSTEM_CONFIG "/etc/nvidia-mock/nvml.conf"
#define EMBED_MAGIC "GPUMOCK-NVMLCFG1"
#define EMBED_MAGIC_LEN 16
#define EMBED_TRAILER_LEN (EMBED_MAGIC_LEN + 8)
_Static_assert(sizeof EMBED_MAGIC == EMBED_MAGIC_LEN + 1, "EMBED_MAGIC is 16 bytes");

static void report(const char *origin, const char *message)
{
    fprintf(stderr, "mock NVML: %s:%s\n", origin, message);
}

/* What a file of this type is, for a message saying that it is not a regular file. */
static const char *file_type(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    return "something else";
}

/* Close fd (when open), set errno and return NULL: mock_read_file's failure. */
static char *refuse(int fd, int err)
{
    if (fd >= 0)
        close(fd);
    errno = err;
    return NULL;
}

/*
 * Opened without blocking (opening a FIFO with no writer would wait for one) and refused unless
 * fstat says it is a regular file: a directory, FIFO, socket or device (/dev/zero never ends)
 * is named for what it is, and a file is read up to MAX_CONFIG_BYTES.
 */
char *mock_read_file(const char *path, size_t *len_out, char *why, size_t why_size)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    int err = errno;
    /* Where open failed, stat still says what the path is (a socket cannot be opened). */
    if (fd >= 0 ? fstat(fd, &st) != 0 : stat(path, &st) != 0) {
        if (fd >= 0)
            err = errno;
        snprintf(why, why_size, "%s", strerror(err));
        return refuse(fd, err);
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "it is %s, not a regular file", file_type(st.st_mode));
        return refuse(fd, S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
    }
    if (fd < 0) {
        snprintf(why, why_size, "%s", strerror(err));
        return refuse(fd, err);
    }
    if (st.st_size > MAX_CONFIG_BYTES) {
        snprintf(why, why_size, "it is larger than %d bytes", MAX_CONFIG_BYTES);
        return refuse(fd, EFBIG);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (buf == NULL) {
        snprintf(why, why_size, "%s", strerror(ENOMEM));
        return refuse(fd, ENOMEM);
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

/* Read exactly len bytes at offset; -1 on an error or a short file. */
static int read_at(int fd, void *buf, size_t len, off_t offset)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, (char *)buf + got, len - got, offset + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Where the embedded config starts and how long it is; -1 when the file has no valid trailer. */
static int embedded_span(int fd, off_t *offset, size_t *len)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < EMBED_TRAILER_LEN)
        return -1;
    unsigned char trailer[EMBED_TRAILER_LEN];
    off_t trailer_at = st.st_size - EMBED_TRAILER_LEN;
    if (read_at(fd, trailer, sizeof trailer, trailer_at) != 0 ||
        memcmp(trailer, EMBED_MAGIC, EMBED_MAGIC_LEN) != 0)
        return -1;
    uint64_t length = le64(trailer + EMBED_MAGIC_LEN);
    if (length > MAX_CONFIG_BYTES || length > (uint64_t)trailer_at)
        return -1;
    *offset = trailer_at - (off_t)length;
    *len = (size_t)length;
    return 0;
}

/* The config embedded in the library file at path; NULL when it has none or it cannot be read. */
static char *read_embedded(const char *path, size_t *len_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    off_t offset;
    size_t len;
    char *text = NULL;
    if (embedded_span(fd, &offset, &len) == 0 && (text = malloc(len + 1)) != NULL) {
        if (read_at(fd, text, len, offset) == 0) {
            text[len] = '\0';
            *len_out = len;
        } else {
            free(text);
            text = NULL;
        }
    }
    close(fd);
    return text;
}

/* Parse text read from origin (named in an error) and free it. */
static nvmlReturn_t parse_text(const char *origin, char *text, size_t len,
                               struct mock_config *out)
{
    char err[512];
    int rc = mock_config_parse(text, len, out, err, sizeof err);
    free(text);
    if (rc != 0) {
        report(origin, err);
        return NVML_ERROR_UNKNOWN;
    }
    return NVML_SUCCESS;
}

/* source: where the path came from, for the message ("MOCK_NVML_CONFIG" or NULL). */
static nvmlReturn_t parse_file(const char *path, const char *source, struct mock_config *out)
{
    size_t len = 0;
    char why[160];
    char *text = mock_read_file(path, &len, why, sizeof why);
    if (text == NULL) {
        char msg[320];
        snprintf(msg, sizeof msg, " cannot read the NVML config%s%s%s: %s",
                 source != NULL ? " that " : "", source != NULL ? source : "",
                 source != NULL ? " names" : "", why);
        report(path, msg);
        return NVML_ERROR_UNKNOWN;
    }
    return parse_text(path, text, len, out);
}

/* The embedded config, if the library file has one. A container that got the library file
 * alone sees its device nodes at /dev, whatever dev_root the node's config names (and
 * MOCK_NVML_DEV_ROOT still wins over that, in init.c). */
static int parse_embedded(const char *library, struct mock_config *out, nvmlReturn_t *rc)
{
    size_t len = 0;
    char *text = read_embedded(library, &len);
    if (text == NULL)
        return -1;
    char origin[4096 + sizeof " (embedded config)"];
    snprintf(origin, sizeof origin, "%s (embedded config)", library);
    *rc = parse_text(origin, text, len, out);
    if (*rc == NVML_SUCCESS)
        memcpy(out->system.dev_root, "/dev", sizeof "/dev");
    return 0;
}

/* The file this library was loaded from, or NULL if the loader cannot say. */
static const char *library_file(void)
{
    Dl_info info;
    if (dladdr((void *)&mock_config_load, &info) == 0 || info.dli_fname == NULL ||
        info.dli_fname[0] == '\0')
        return NULL;
    return info.dli_fname;
}

/* <dir of the library>/../../../etc/nvidia-mock/nvml.conf, if the library has a path. */
static int relative_config_path(const char *library, char *buf, size_t size)
{
    const char *slash = strrchr(library, '/');
    if (slash == NULL)
        return -1;
    int n = snprintf(buf, size, "%.*s/../../../etc/nvidia-mock/nvml.conf",
                     (int)(slash - library), library);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* parse_file, remembering which file it was (the live state's location follows from it). */
static nvmlReturn_t parse_origin(const char *path, const char *source, struct mock_config *out,
                                 char *origin, size_t origin_size)
{
    int n = snprintf(origin, origin_size, "%s", path);
    if (n < 0 || (size_t)n >= origin_size)
        origin[0] = '\0';
    return parse_file(path, source, out);
}

nvmlReturn_t mock_config_load(struct mock_config *out, char *origin, size_t origin_size)
{
    origin[0] = '\0';
    const char *env = getenv("MOCK_NVML_CONFIG");
    if (env != NULL && env[0] != '\0')
        return parse_origin(env, "MOCK_NVML_CONFIG", out, origin, origin_size);

    const char *library = library_file();
    char path[4096];
    if (library != NULL && relative_config_path(library, path, sizeof path) == 0 &&
        access(path, F_OK) == 0)
        return parse_origin(path, NULL, out, origin, origin_size);
    nvmlReturn_t rc;
    if (library != NULL && parse_embedded(library, out, &rc) == 0)
        return rc;
    if (access(SYSTEM_CONFIG, F_OK) == 0)
        return parse_origin(SYSTEM_CONFIG, NULL, out, origin, origin_size);

    char err[512];
    if (mock_config_parse(mock_default_config, mock_default_config_len, out, err,
                          sizeof err) != 0) {
        report("<built-in default>", err);
        return NVML_ERROR_UNKNOWN;
    }
    return NVML_SUCCESS;
}
