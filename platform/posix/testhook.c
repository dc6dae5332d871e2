/*
 * testhook.c - the kill points of plat_testhook.h. The variables are read
 * once; the counters are atomics so the daemon's threads share them.
 */
#include "plat_testhook.h"

#ifdef AGENT_TEST_HOOKS

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const hook_vars[PLAT_HOOK_COUNT_] = {
    "AGENT_TEST_KILL_AT_COMMIT",
    "AGENT_TEST_KILL_AFTER_COMMIT",
    "AGENT_TEST_KILL_AT_HTTP_BYTE",
};

static uint64_t limits[PLAT_HOOK_COUNT_];  /* 0: off */
static _Atomic uint64_t counts[PLAT_HOOK_COUNT_];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void read_vars(void)
{
    for (int i = 0; i < PLAT_HOOK_COUNT_; i++) {
        const char *v = getenv(hook_vars[i]);
        char *end = NULL;
        unsigned long long k;

        if (!v || !*v)
            continue;
        k = strtoull(v, &end, 10);
        if (end && *end == '\0' && k > 0)
            limits[i] = (uint64_t)k;
    }
}

int plat_testhook_armed(enum plat_hook h)
{
    if ((unsigned)h >= PLAT_HOOK_COUNT_)
        return 0;
    pthread_once(&once, read_vars);
    return limits[h] != 0;
}

void plat_testhook(enum plat_hook h, uint64_t n)
{
    uint64_t before;

    if (!plat_testhook_armed(h) || n == 0)
        return;
    before = atomic_fetch_add(&counts[h], n);
    if (before < limits[h] && before + n >= limits[h]) {
        kill(getpid(), SIGKILL);
        _exit(137); /* not reached */
    }
}

#endif
