/*
 * nvidia-mock-ctl play FILE: a timed script. Each line is `+SECONDS COMMAND`, SECONDS after the
 * script starts (decimals allowed, never earlier than the line before), COMMAND one of set, xid,
 * lost, clear with their arguments, or `GPU KEY=VALUE...` for set. Blank lines and lines
 * starting with # are skipped. The whole script is checked first: a bad line changes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#define MAX_WORDS 64
#define MAX_SECONDS 31536000ULL      /* a year */

/* "+SECONDS" with up to 3 decimals, in milliseconds. 0 or -1. */
static int parse_offset(const char *word, uint64_t *ms)
{
    if (word[0] != '+' || word[1] == '\0')
        return -1;
    uint64_t v = 0;
    unsigned frac = 0;
    int point = 0;
    for (const char *s = word + 1; *s != '\0'; s++) {
        if (*s == '.' && !point) {
            point = 1;
            continue;
        }
        if (*s < '0' || *s > '9' || (point && ++frac > 3) || v > MAX_SECONDS * 1000)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    for (; frac < 3; frac++)
        v *= 10;
    if (v > MAX_SECONDS * 1000)
        return -1;
    *ms = v;
    return 0;
}

/* Split a line into words in place; the count, or -1 when there are too many. */
static int split(char *line, char **words)
{
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t\r", &save); tok != NULL;
         tok = strtok_r(NULL, " \t\r", &save)) {
        if (n == MAX_WORDS)
            return -1;
        words[n++] = tok;
    }
    return n;
}

static int is_command(const char *word)
{
    return strcmp(word, "set") == 0 || strcmp(word, "xid") == 0 || strcmp(word, "lost") == 0 ||
           strcmp(word, "clear") == 0;
}

/* One script line into cmd; 1 for a command, 0 for a line to skip, -1 after an error. */
static int parse_line(const struct ctl_node *node, char *line, const char *where,
                      uint64_t not_before, struct ctl_command *cmd)
{
    char *words[MAX_WORDS + 1];
    int n = split(line, words + 1);
    if (n < 0) {
        ctl_error(where, "line", "more than %d words", MAX_WORDS);
        return -1;
    }
    if (n == 0 || words[1][0] == '#')
        return 0;
    uint64_t at;
    if (parse_offset(words[1], &at) != 0) {
        ctl_error(where, words[1], "expected +SECONDS (up to 3 decimals) to start the line");
        return -1;
    }
    if (at < not_before) {
        ctl_error(where, words[1], "earlier than the line before");
        return -1;
    }
    if (n < 2) {
        ctl_error(where, words[1], "needs a command after the time");
        return -1;
    }
    /* `+S GPU KEY=VALUE...` is short for `+S set GPU KEY=VALUE...`. */
    char set[] = "set";
    char **argv = words + 2;
    int argc = n - 1;
    if (!is_command(argv[0])) {
        words[1] = set;
        argv = words + 1;
        argc = n;
    }
    if (ctl_parse_command(node, argc, argv, where, cmd) != 0)
        return -1;
    cmd->at_ms = at;
    return 1;
}

/* Every command of the script text, checked; NULL after an error. */
static struct ctl_command *parse_script(const struct ctl_node *node, const char *file, char *text,
                                        size_t *count)
{
    struct ctl_command *cmds = NULL;
    size_t n = 0, cap = 0;
    uint64_t last = 0;
    unsigned line_no = 0;
    for (char *line = text, *next; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        line_no++;
        char where[CTL_PATH_MAX + 16];
        snprintf(where, sizeof where, "%s:%u", file, line_no);
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct ctl_command *grown = realloc(cmds, cap * sizeof *cmds);
            if (grown == NULL) {
                ctl_error(where, "play", "out of memory");
                free(cmds);
                return NULL;
            }
            cmds = grown;
        }
        int rc = parse_line(node, line, where, last, &cmds[n]);
        if (rc < 0) {
            free(cmds);
            return NULL;
        }
        if (rc > 0)
            last = cmds[n++].at_ms;
    }
    *count = n;
    return cmds;
}

/* Sleep until start + ms on the monotonic clock. */
static void wait_until(const struct timespec *start, uint64_t ms)
{
    struct timespec t = *start;
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
        ;
}

int ctl_play(const struct ctl_node *node, const char *file)
{
    size_t len = 0;
    char why[160];
    char *text = mock_read_file(file, &len, why, sizeof why);
    if (text == NULL) {
        ctl_error("", file, "cannot read the script: %s", why);
        return -1;
    }
    size_t count = 0;
    struct ctl_command *cmds = parse_script(node, file, text, &count);
    free(text);
    if (cmds == NULL)
        return -1;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        wait_until(&start, cmds[i].at_ms);
        rc = ctl_apply(node, &cmds[i]);
    }
    free(cmds);
    return rc;
}
