/*
 * nvidia-mock-ctl: faults and live values of a mock GPU node at run time
 * (docs/faults-and-live-values.md). It writes the node's live state (src/live_state.h), which
 * every process using the mock NVML has mapped; it shares the config parser and the state
 * format with the library by linking the same objects, and exports nothing.
 */
#ifndef GPUMOCK_CTL_H
#define GPUMOCK_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "mock.h"

#define CTL_NAME "nvidia-mock-ctl"
#define CTL_PATH_MAX 4096

/* The node the ctl acts on: its config (parsed) and its state file. */
struct ctl_node {
    char config_path[CTL_PATH_MAX];
    char state_path[CTL_PATH_MAX];
    struct mock_config config;
};

enum ctl_op { CTL_SET, CTL_XID, CTL_LOST, CTL_CLEAR };

/* One change, checked against the node before anything is written. */
struct ctl_command {
    enum ctl_op op;
    int gpu;                         /* position in the config; -1 with CTL_CLEAR: every GPU */
    uint64_t set_mask;               /* CTL_SET: bit per mock_live_key given */
    uint64_t values[MOCK_LIVE_KEY_COUNT];
    int set_procs;                   /* CTL_SET: processes= given */
    unsigned proc_count;
    struct mock_live_proc_info procs[MOCK_LIVE_MAX_PROCS];
    unsigned long long code;         /* CTL_XID */
    uint64_t at_ms;                  /* play: milliseconds after the script starts */
};

/* Print "nvidia-mock-ctl: [where: ]what: message" as one line on stderr. */
void ctl_error(const char *where, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Find and parse the node's config (--root DIR, else $MOCK_NVML_CONFIG, else the driver root the
 * ctl is installed in, else /etc/nvidia-mock/nvml.conf) and name its state file. 0 or -1. */
int ctl_find_node(struct ctl_node *node, const char *root);

/* The settable keys: their names, units and ranges for this node, one per line. */
void ctl_print_keys(const struct mock_config *cfg);

/* A key's name and decimals (NULL past the last key), and a stored value as a user writes it
 * (300500 with 3 decimals: "300.5"). */
const char *ctl_key_name(unsigned key, unsigned *decimals);
void ctl_format_value(char *out, size_t size, uint64_t v, unsigned decimals);

/* Parse one command from words (its name first). where names the source in errors ("" for the
 * command line, "FILE:LINE" in a script). 0, or -1 after printing the error. */
int ctl_parse_command(const struct ctl_node *node, int argc, char **argv, const char *where,
                      struct ctl_command *cmd);

/* Apply a command to the state file as one atomic change. 0, or -1 after printing the error. */
int ctl_apply(const struct ctl_node *node, const struct ctl_command *cmd);

/* Print the live state of every GPU of the node. 0 or -1. */
int ctl_show(const struct ctl_node *node);

/* Run a timed script (docs/faults-and-live-values.md). 0 or -1. */
int ctl_play(const struct ctl_node *node, const char *file);

#endif /* GPUMOCK_CTL_H */
