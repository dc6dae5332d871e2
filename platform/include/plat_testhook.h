/*
 * plat_testhook.h - kill points for the fault harness (tests/faults/).
 *
 * The fault harness kills the agent at exact, reproducible points: at the
 * k-th store commit (before it is durable), right after the k-th commit,
 * or when the k-th byte of an HTTP answer arrives. Each point counts its
 * events in the process; when the count reaches the number in its
 * environment variable, the process sends itself SIGKILL, exactly as a
 * `kill -9` or a power cut would stop it (no cleanup, no flush).
 *
 *   AGENT_TEST_KILL_AT_COMMIT=k      inside the k-th commit, before it is
 *                                    written (SQLite's commit hook)
 *   AGENT_TEST_KILL_AFTER_COMMIT=k   just after the k-th commit returned
 *   AGENT_TEST_KILL_AT_HTTP_BYTE=k   when the k-th body byte of an HTTP
 *                                    answer is received (wire bytes)
 *
 * Nothing happens unless one of these variables is set to a positive
 * number, so a production user never meets them. A packager can leave the
 * code out entirely with -DAGENT_TEST_HOOKS=OFF (the calls become no-ops;
 * the harness then kills by the wall clock only).
 */
#ifndef PLAT_TESTHOOK_H
#define PLAT_TESTHOOK_H

#include <stdint.h>

enum plat_hook {
    PLAT_HOOK_AT_COMMIT,
    PLAT_HOOK_AFTER_COMMIT,
    PLAT_HOOK_HTTP_BYTE,
    PLAT_HOOK_COUNT_
};

#ifdef AGENT_TEST_HOOKS
/* Count `n` more events of kind `h`; SIGKILL to this process once the
 * total reaches the hook's number. Thread-safe. */
void plat_testhook(enum plat_hook h, uint64_t n);
/* 1 if the hook's variable is set (so a caller can skip installing an
 * SQLite hook it would not need). */
int plat_testhook_armed(enum plat_hook h);
#else
static inline void plat_testhook(enum plat_hook h, uint64_t n)
{
    (void)h;
    (void)n;
}
static inline int plat_testhook_armed(enum plat_hook h)
{
    (void)h;
    return 0;
}
#endif

#endif
