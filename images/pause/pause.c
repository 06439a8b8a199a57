/*
 * The pod sandbox's infrastructure process: it holds the pod's namespaces open and does nothing
 * else. containerd's CRI plugin starts it from the image named by sandbox_image. kind nodes use
 * registry.k8s.io/pause; no registry is reachable here, so this stands in for it.
 *
 * As PID 1 of the sandbox's PID namespace it must also reap orphans and exit on SIGTERM/SIGINT
 * (PID 1 gets no default signal dispositions, so without handlers `StopPodSandbox` would have to
 * wait for SIGKILL).
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig)
{
    (void)sig;
    _exit(0);
}

static void on_child(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(void)
{
    struct sigaction stop = {0};
    stop.sa_handler = on_stop;
    sigemptyset(&stop.sa_mask);
    if (sigaction(SIGTERM, &stop, NULL) != 0 || sigaction(SIGINT, &stop, NULL) != 0)
        return 1;

    struct sigaction child = {0};
    child.sa_handler = on_child;
    child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
    sigemptyset(&child.sa_mask);
    if (sigaction(SIGCHLD, &child, NULL) != 0)
        return 1;

    for (;;)
        pause();
}
