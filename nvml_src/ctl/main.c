/* nvidia-mock-ctl: the command line (options, subcommands, usage). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Exit statuses: a refused argument or a failed change. */
#define EXIT_USAGE 2

static const char USAGE[] =
    "usage: " CTL_NAME " [--root DIR] COMMAND [ARGUMENTS]\n"
    "Faults and live values of the mock GPU node, seen at once by every process using its NVML.\n"
    "\n"
    "commands:\n"
    "  set GPU KEY=VALUE...  set live values (KEY: see `keys`; processes=PID:NAME:MIB,...)\n"
    "  xid GPU CODE          post an XID critical error event to the GPU's event sets\n"
    "  lost GPU              make the GPU's NVML calls return GPU_IS_LOST\n"
    "  clear [GPU]           drop the live values and the lost mark of one GPU, or of all\n"
    "  play FILE             apply a timed script: lines of +SECONDS COMMAND\n"
    "  show                  print the live state of every GPU\n"
    "  keys                  print the settable keys with their units and ranges\n"
    "\n"
    "GPU is an index or a UUID. The node: --root DIR (a driver root), else $MOCK_NVML_CONFIG,\n"
    "else the driver root " CTL_NAME " is installed in, else /etc/nvidia-mock/nvml.conf;\n"
    "its state file: $MOCK_NVML_STATE, else beside the config (nvml.conf -> nvml.state).\n";

void ctl_error(const char *where, const char *what, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s%s%s: %s\n", CTL_NAME, where, where[0] != '\0' ? ": " : "", what,
            message);
}

/* Take --root DIR / --root=DIR and -h off the front; the index of the command word, or -1. */
static int parse_options(int argc, char **argv, const char **root)
{
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(USAGE, stdout);
            exit(0);
        } else if (strcmp(argv[i], "--root") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                ctl_error("", "--root", "needs a directory");
                return -1;
            }
            *root = argv[i + 1];
            i += 2;
        } else if (strncmp(argv[i], "--root=", 7) == 0 && argv[i][7] != '\0') {
            *root = argv[i] + 7;
            i++;
        } else {
            ctl_error("", argv[i], "unknown option (see %s --help)", CTL_NAME);
            return -1;
        }
    }
    if (i >= argc) {
        ctl_error("", "COMMAND", "missing (see %s --help)", CTL_NAME);
        return -1;
    }
    return i;
}

/* Whether a command takes exactly `words` words after its name (-1: any number). */
static int known_command(const char *name, int *words)
{
    static const struct { const char *name; int words; } commands[] = {
        { "set", -1 }, { "xid", -1 }, { "lost", -1 }, { "clear", -1 },
        { "play", 1 }, { "show", 0 }, { "keys", 0 },
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) == 0) {
            *words = commands[i].words;
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct ctl_node node;     /* the parsed config is large */
    const char *root = NULL;
    int first = parse_options(argc, argv, &root);
    if (first < 0)
        return EXIT_USAGE;
    const char *command = argv[first];
    int words;
    if (!known_command(command, &words)) {
        ctl_error("", command, "unknown command (see %s --help)", CTL_NAME);
        return EXIT_USAGE;
    }
    if (words >= 0 && argc - first - 1 != words) {
        if (words == 0)
            ctl_error("", command, "takes no arguments");
        else
            ctl_error("", command, "takes exactly %d argument", words);
        return EXIT_USAGE;
    }
    if (ctl_find_node(&node, root) != 0)
        return EXIT_FAILURE;
    if (strcmp(command, "keys") == 0) {
        ctl_print_keys(&node.config);
        return 0;
    }
    if (strcmp(command, "show") == 0)
        return ctl_show(&node) == 0 ? 0 : EXIT_FAILURE;
    if (strcmp(command, "play") == 0)
        return ctl_play(&node, argv[first + 1]) == 0 ? 0 : EXIT_FAILURE;
    struct ctl_command cmd;
    if (ctl_parse_command(&node, argc - first, argv + first, "", &cmd) != 0)
        return EXIT_USAGE;
    return ctl_apply(&node, &cmd) == 0 ? 0 : EXIT_FAILURE;
}
