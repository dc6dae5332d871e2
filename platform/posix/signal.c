/*
 * signal.c - shutdown and reload signals (see plat_signal.h).
 */
#include "plat_signal.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "plat_err.h"

static volatile sig_atomic_t shutdown_requests;
static volatile int shutdown_flag;
static volatile sig_atomic_t hup_count;

static void on_shutdown(int sig)
{
    shutdown_requests++;
    shutdown_flag = 1;
    /* The second Ctrl-C means "now": the person does not want to wait for
     * the current batch. SQLite's WAL keeps the store consistent. */
    if (sig == SIGINT && shutdown_requests > 1)
        _exit(130);
}

static void on_hup(int sig)
{
    (void)sig;
    hup_count++;
}

static int install(int sig, void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking wait (poll, sleep) should return so the
     * loop can look at the flag. */
    if (sigaction(sig, &sa, NULL) != 0)
        return plat_err_set(ERR_GENERIC, "cannot install the handler of "
                            "signal %d", sig);
    return PLAT_OK;
}

int plat_signal_install(void)
{
    int rc;

    if ((rc = install(SIGINT, on_shutdown)) < 0 ||
        (rc = install(SIGTERM, on_shutdown)) < 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    return PLAT_OK;
}

volatile int *plat_signal_shutdown_flag(void)
{
    return &shutdown_flag;
}

int plat_signal_install_hup(void)
{
    return install(SIGHUP, on_hup);
}

int plat_signal_hup_count(void)
{
    return (int)hup_count;
}
