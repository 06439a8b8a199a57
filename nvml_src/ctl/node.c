/* nvidia-mock-ctl: which node it acts on (config and state file) and its GPUs by index or UUID. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ctl.h"

#define CONFIG_IN_ROOT "/etc/nvidia-mock/nvml.conf"
#define SYSTEM_CONFIG CONFIG_IN_ROOT

static int put_path(char *out, const char *fmt, const char *a, const char *b)
{
    int n = snprintf(out, CTL_PATH_MAX, fmt, a, b);
    return (n < 0 || n >= CTL_PATH_MAX) ? -1 : 0;
}

/* The config of the driver root this executable sits in (R/usr/bin/nvidia-mock-ctl), if any. */
static int installed_config(char *out)
{
    char exe[CTL_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return -1;
    *slash = '\0';
    if (put_path(out, "%s/../..%s", exe, CONFIG_IN_ROOT) != 0)
        return -1;
    return access(out, F_OK) == 0 ? 0 : -1;
}

static int config_path(const char *root, char *out)
{
    const char *env = getenv("MOCK_NVML_CONFIG");
    if (root != NULL)
        return put_path(out, "%s%s", root, CONFIG_IN_ROOT);
    if (env != NULL && env[0] != '\0')
        return put_path(out, "%s%s", env, "");
    if (installed_config(out) == 0)
        return 0;
    return put_path(out, "%s%s", SYSTEM_CONFIG, "");
}

int ctl_find_node(struct ctl_node *node, const char *root)
{
    if (config_path(root, node->config_path) != 0) {
        ctl_error("", root != NULL ? "--root" : "MOCK_NVML_CONFIG", "path too long");
        return -1;
    }
    size_t len = 0;
    char why[160];
    char *text = mock_read_file(node->config_path, &len, why, sizeof why);
    if (text == NULL) {
        ctl_error("", node->config_path, "cannot read the NVML config: %s", why);
        return -1;
    }
    char err[512];
    int rc = mock_config_parse(text, len, &node->config, err, sizeof err);
    free(text);
    if (rc != 0) {
        ctl_error("", node->config_path, "%s", err);
        return -1;
    }
    if (mock_live_path(node->config_path, node->state_path, sizeof node->state_path) != 0) {
        ctl_error("", "MOCK_NVML_STATE", "path too long");
        return -1;
    }
    return 0;
}
