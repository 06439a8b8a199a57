/* nvidia-mock-ctl: a checked command applied to the node's state file, and the state shown. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static void store(_Atomic uint64_t *word, uint64_t v)
{
    /* Release: a reader that sees it also sees this copy's odd sequence (live_state.c). */
    atomic_store_explicit(word, v, memory_order_release);
}

static void set_values(struct mock_live_gpu *g, const struct ctl_command *cmd)
{
    for (unsigned k = 0; k < MOCK_LIVE_KEY_COUNT; k++) {
        if (cmd->set_mask & (1ULL << k))
            store(&g->value[k], cmd->values[k]);
    }
    store(&g->set, atomic_load_explicit(&g->set, memory_order_relaxed) | cmd->set_mask);
    if (!cmd->set_procs)
        return;
    for (unsigned i = 0; i < cmd->proc_count; i++) {
        store(&g->proc[i].pid, cmd->procs[i].pid);
        store(&g->proc[i].used_mib, cmd->procs[i].used_mib);
        mock_live_put_name(&g->proc[i], cmd->procs[i].name);
    }
    store(&g->proc_count, cmd->proc_count);
}

static void clear_gpu(struct mock_live_gpu *g)
{
    store(&g->set, 0);
    store(&g->lost, 0);
    store(&g->proc_count, 0);
    store(&g->mig.layout, 0);        /* MIG instances: the config's layout again */
}

/* The n-th XID ever goes into ring slot (n - 1) % ring size; readers check its number. */
static void post_xid(struct mock_live_data *d, unsigned gpu, unsigned long long code)
{
    uint64_t n = atomic_load_explicit(&d->xid_count, memory_order_relaxed) + 1;
    struct mock_live_xid *x = &d->xid[(n - 1) % MOCK_LIVE_XID_RING];
    store(&x->number, n);
    store(&x->gpu, gpu);
    store(&x->code, code);
    store(&d->xid_count, n);
}

static void change(struct mock_live_data *d, const struct ctl_node *node,
                   const struct ctl_command *cmd)
{
    switch (cmd->op) {
    case CTL_SET:
        set_values(&d->gpu[cmd->gpu], cmd);
        break;
    case CTL_XID:
        post_xid(d, (unsigned)cmd->gpu, cmd->code);
        break;
    case CTL_LOST:
        store(&d->gpu[cmd->gpu].lost, 1);
        break;
    case CTL_CLEAR:
        for (unsigned i = 0; i < node->config.gpu_count; i++) {
            if (cmd->gpu < 0 || (unsigned)cmd->gpu == i)
                clear_gpu(&d->gpu[i]);
        }
        break;
    }
}

static void state_error(const struct ctl_node *node, int err)
{
    if (err == EPROTO)
        ctl_error("", node->state_path, "not a live state file of this version (move it away "
                  "and %s creates a new one)", CTL_NAME);
    else
        ctl_error("", node->state_path, "cannot open the live state: %s", strerror(err));
}

int ctl_apply(const struct ctl_node *node, const struct ctl_command *cmd)
{
    struct mock_live_writer w;
    if (mock_live_begin(&w, node->state_path) != 0) {
        state_error(node, errno);
        return -1;
    }
    change(w.next, node, cmd);
    mock_live_commit(&w);
    return 0;
}

static void show_gpu(unsigned slot, const struct mock_gpu *gpu)
{
    printf("%u %s%s", slot, gpu->uuid, mock_live_lost(slot) ? " lost" : "");
    for (unsigned k = 0; k < MOCK_LIVE_KEY_COUNT; k++) {
        unsigned decimals;
        const char *name = ctl_key_name(k, &decimals);
        uint64_t unset = UINT64_MAX;
        uint64_t v = mock_live_value(slot, (enum mock_live_key)k, unset);
        if (v == unset)
            continue;
        char text[32];
        ctl_format_value(text, sizeof text, v, decimals);
        printf(" %s=%s", name, text);
    }
    struct mock_live_proc_info procs[MOCK_LIVE_MAX_PROCS];
    unsigned n = mock_live_procs(slot, procs, MOCK_LIVE_MAX_PROCS);
    for (unsigned i = 0; i < n; i++)
        printf("%s%u:%s:%llu", i == 0 ? " processes=" : ",", procs[i].pid, procs[i].name,
               procs[i].used_mib);
    printf("\n");
}

int ctl_show(const struct ctl_node *node)
{
    g_live_file = mock_live_map(node->state_path, 0);
    if (g_live_file == NULL && errno != ENOENT) {
        state_error(node, errno);
        return -1;
    }
    printf("state %s\n", node->state_path);
    for (unsigned i = 0; i < node->config.gpu_count; i++)
        show_gpu(i, &node->config.gpu[i]);
    printf("xids %llu\n", (unsigned long long)mock_live_xid_count());
    mock_live_unmap(g_live_file);
    g_live_file = NULL;
    return 0;
}
