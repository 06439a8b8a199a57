/*
 * nvidia-mock-ctl: the commands and their arguments (GPU, KEY=VALUE, processes=, XID code),
 * each checked against the node before anything is written. The keys are MOCK_LIVE_KEYS
 * (src/live_state.h), the one list of them.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"

#define PROCESSES_KEY "processes"
#define PID_MAX 4194304ULL           /* the kernel's pid_max limit */
#define XID_MAX 0xffffffffULL

struct key_info {
    const char *name;
    const char *unit;
    unsigned decimals;
};

#define KEY_INFO(id, name, unit, decimals, maximum) { name, unit, decimals },
static const struct key_info KEYS[MOCK_LIVE_KEY_COUNT] = { MOCK_LIVE_KEYS(KEY_INFO) };
#undef KEY_INFO

/* The largest value of a key on this node, in stored units. */
static uint64_t key_max(const struct mock_config *cfg, enum mock_live_key key)
{
#define KEY_MAX(id, name, unit, decimals, maximum)                                          \
    case MOCK_LIVE_##id:                                                                     \
        return (uint64_t)(maximum);
    switch (key) {
    MOCK_LIVE_KEYS(KEY_MAX)
    default:
        return 0;
    }
#undef KEY_MAX
}

static uint64_t pow10u(unsigned n)
{
    uint64_t v = 1;
    while (n-- > 0)
        v *= 10;
    return v;
}

/* A stored value as the user writes it: 300500 with 3 decimals is "300.5". */
static void format_value(char *out, size_t size, uint64_t v, unsigned decimals)
{
    uint64_t scale = pow10u(decimals);
    int n = snprintf(out, size, "%llu", (unsigned long long)(v / scale));
    uint64_t frac = v % scale;
    if (frac == 0 || n < 0 || (size_t)n >= size)
        return;
    char digits[24];
    snprintf(digits, sizeof digits, "%0*llu", (int)decimals, (unsigned long long)frac);
    size_t len = strlen(digits);
    while (len > 0 && digits[len - 1] == '0')
        digits[--len] = '\0';
    snprintf(out + n, size - (size_t)n, ".%s", digits);
}

/* Digits with at most `decimals` after a point, times 10^decimals, up to max. 0 or -1. */
static int parse_fixed(const char *s, unsigned decimals, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    unsigned frac = 0, digits = 0;
    int point = 0;
    for (; *s != '\0'; s++) {
        if (*s == '.' && !point && decimals > 0) {
            point = 1;
            continue;
        }
        /* 19 digits always fit in 64 bits. */
        if (!isdigit((unsigned char)*s) || ++digits > 19 || (point && ++frac > decimals))
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    uint64_t scale = pow10u(decimals - frac);
    if (digits == 0 || v > max / scale)
        return -1;
    *out = v * scale;
    return 0;
}

void ctl_print_keys(const struct mock_config *cfg)
{
    for (unsigned k = 0; k < MOCK_LIVE_KEY_COUNT; k++) {
        char max[32];
        format_value(max, sizeof max, key_max(cfg, (enum mock_live_key)k), KEYS[k].decimals);
        printf("%-40s %-7s 0..%s\n", KEYS[k].name, KEYS[k].unit, max);
    }
    printf("%-40s %-7s PID:NAME:MIB[,PID:NAME:MIB...] (up to %d; empty: none)\n",
           PROCESSES_KEY, "list", MOCK_LIVE_MAX_PROCS);
}

const char *ctl_key_name(unsigned key, unsigned *decimals)
{
    if (key >= MOCK_LIVE_KEY_COUNT)
        return NULL;
    *decimals = KEYS[key].decimals;
    return KEYS[key].name;
}

void ctl_format_value(char *out, size_t size, uint64_t v, unsigned decimals)
{
    format_value(out, size, v, decimals);
}

/* A GPU by index (as a node that sees every GPU numbers them) or by UUID. */
static int parse_gpu(const struct ctl_node *node, const char *arg, const char *where, int *gpu)
{
    const struct mock_config *cfg = &node->config;
    uint64_t index;
    if (parse_fixed(arg, 0, UINT32_MAX, &index) == 0) {
        if (index < cfg->gpu_count) {
            *gpu = (int)index;
            return 0;
        }
    } else {
        for (unsigned i = 0; i < cfg->gpu_count; i++) {
            if (strcasecmp(cfg->gpu[i].uuid, arg) == 0) {
                *gpu = (int)i;
                return 0;
            }
        }
    }
    ctl_error(where, arg, "no such GPU on this node (an index 0..%u or a GPU UUID)",
              cfg->gpu_count - 1);
    return -1;
}

/* One PID:NAME:MIB of processes=, at text[0..len). */
static int parse_process(const struct mock_config *cfg, const char *text, size_t len,
                         struct mock_live_proc_info *proc)
{
    char item[128];
    if (len >= sizeof item)
        return -1;
    memcpy(item, text, len);
    item[len] = '\0';
    char *name = strchr(item, ':');
    char *mib = name != NULL ? strchr(name + 1, ':') : NULL;
    if (mib == NULL)
        return -1;
    *name++ = '\0';
    *mib++ = '\0';
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > MOCK_LIVE_NAME_MAX)
        return -1;
    for (size_t i = 0; i < name_len; i++) {
        if (!isgraph((unsigned char)name[i]))
            return -1;
    }
    uint64_t pid, used;
    uint64_t max_mib = key_max(cfg, MOCK_LIVE_MEM_USED);
    if (parse_fixed(item, 0, PID_MAX, &pid) != 0 || pid == 0 ||
        parse_fixed(mib, 0, max_mib, &used) != 0)
        return -1;
    proc->pid = (unsigned)pid;
    proc->used_mib = used;
    memcpy(proc->name, name, name_len + 1);
    return 0;
}

/* processes=PID:NAME:MIB,... (empty: none). Unless the same command gives memory.used (before
 * or after), the GPU's memory.used becomes the processes' sum. */
static int parse_processes(const struct ctl_node *node, const char *arg, const char *value,
                           const char *where, struct ctl_command *cmd)
{
    const struct mock_config *cfg = &node->config;
    cmd->set_procs = 1;
    cmd->proc_count = 0;
    uint64_t sum = 0;
    while (*value != '\0') {
        size_t len = strcspn(value, ",");
        if (cmd->proc_count == MOCK_LIVE_MAX_PROCS) {
            ctl_error(where, arg, "more than %d processes", MOCK_LIVE_MAX_PROCS);
            return -1;
        }
        struct mock_live_proc_info *proc = &cmd->procs[cmd->proc_count];
        if (parse_process(cfg, value, len, proc) != 0) {
            ctl_error(where, arg, "each process is PID:NAME:MIB (PID 1..%llu, NAME 1..%d "
                      "printable characters without ':' or ',', MIB 0..%llu)", PID_MAX,
                      MOCK_LIVE_NAME_MAX, (unsigned long long)key_max(cfg, MOCK_LIVE_MEM_USED));
            return -1;
        }
        sum += proc->used_mib;
        cmd->proc_count++;
        value += len + (value[len] == ',');
    }
    if (sum > key_max(cfg, MOCK_LIVE_MEM_USED)) {
        ctl_error(where, arg, "the processes use %llu MiB, more than the GPU has (%llu MiB)",
                  (unsigned long long)sum,
                  (unsigned long long)key_max(cfg, MOCK_LIVE_MEM_USED));
        return -1;
    }
    if (!(cmd->set_mask & (1ULL << MOCK_LIVE_MEM_USED)))
        cmd->values[MOCK_LIVE_MEM_USED] = sum;
    return 0;
}

static int find_key(const char *name, size_t len)
{
    for (unsigned k = 0; k < MOCK_LIVE_KEY_COUNT; k++) {
        if (strlen(KEYS[k].name) == len && strncmp(KEYS[k].name, name, len) == 0)
            return (int)k;
    }
    return -1;
}

/* One KEY=VALUE of set. */
static int parse_assignment(const struct ctl_node *node, const char *arg, const char *where,
                            struct ctl_command *cmd)
{
    const char *eq = strchr(arg, '=');
    if (eq == NULL) {
        ctl_error(where, arg, "expected KEY=VALUE (keys: %s keys)", CTL_NAME);
        return -1;
    }
    size_t len = (size_t)(eq - arg);
    if (len == strlen(PROCESSES_KEY) && strncmp(arg, PROCESSES_KEY, len) == 0)
        return parse_processes(node, arg, eq + 1, where, cmd);
    int key = find_key(arg, len);
    if (key < 0) {
        ctl_error(where, arg, "unknown key (see %s keys)", CTL_NAME);
        return -1;
    }
    uint64_t max = key_max(&node->config, (enum mock_live_key)key);
    if (parse_fixed(eq + 1, KEYS[key].decimals, max, &cmd->values[key]) != 0) {
        char shown[32];
        format_value(shown, sizeof shown, max, KEYS[key].decimals);
        ctl_error(where, arg, "out of range: %s is a number from 0 to %s (%s)%s",
                  KEYS[key].name, shown, KEYS[key].unit,
                  KEYS[key].decimals ? "" : ", without decimals");
        return -1;
    }
    cmd->set_mask |= 1ULL << key;
    return 0;
}

static int parse_set(const struct ctl_node *node, int argc, char **argv, const char *where,
                     struct ctl_command *cmd)
{
    if (argc < 3) {
        ctl_error(where, "set", "needs a GPU and at least one KEY=VALUE");
        return -1;
    }
    if (parse_gpu(node, argv[1], where, &cmd->gpu) != 0)
        return -1;
    for (int i = 2; i < argc; i++) {
        if (parse_assignment(node, argv[i], where, cmd) != 0)
            return -1;
    }
    /* processes= without memory.used: memory.used follows the processes. */
    if (cmd->set_procs)
        cmd->set_mask |= 1ULL << MOCK_LIVE_MEM_USED;
    return 0;
}

static int parse_xid(const struct ctl_node *node, int argc, char **argv, const char *where,
                     struct ctl_command *cmd)
{
    if (argc != 3) {
        ctl_error(where, "xid", "needs a GPU and an XID code");
        return -1;
    }
    if (parse_gpu(node, argv[1], where, &cmd->gpu) != 0)
        return -1;
    uint64_t code;
    if (parse_fixed(argv[2], 0, XID_MAX, &code) != 0 || code == 0) {
        ctl_error(where, argv[2], "the XID code is a number from 1 to %llu", XID_MAX);
        return -1;
    }
    cmd->code = code;
    return 0;
}

int ctl_parse_command(const struct ctl_node *node, int argc, char **argv, const char *where,
                      struct ctl_command *cmd)
{
    memset(cmd, 0, sizeof *cmd);
    cmd->gpu = -1;
    const char *name = argv[0];
    if (strcmp(name, "set") == 0) {
        cmd->op = CTL_SET;
        return parse_set(node, argc, argv, where, cmd);
    }
    if (strcmp(name, "xid") == 0) {
        cmd->op = CTL_XID;
        return parse_xid(node, argc, argv, where, cmd);
    }
    if (strcmp(name, "lost") == 0 && argc == 2) {
        cmd->op = CTL_LOST;
        return parse_gpu(node, argv[1], where, &cmd->gpu);
    }
    if (strcmp(name, "clear") == 0 && argc <= 2) {
        cmd->op = CTL_CLEAR;
        return argc == 2 ? parse_gpu(node, argv[1], where, &cmd->gpu) : 0;
    }
    if (strcmp(name, "lost") == 0 || strcmp(name, "clear") == 0)
        ctl_error(where, name, strcmp(name, "lost") == 0 ? "needs exactly one GPU"
                                                         : "takes at most one GPU");
    else
        ctl_error(where, name, "unknown command (set, xid, lost or clear)");
    return -1;
}
