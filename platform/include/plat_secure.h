/*
 * plat_secure.h - keeping secrets out of core dumps and freed memory.
 *
 * plat_harden_process() is called once at startup by the agent binary
 * (agent/main.c): it turns off core dumps (RLIMIT_CORE 0) and marks the
 * process non-dumpable (prctl PR_SET_DUMPABLE 0 on Linux), so the 121
 * password and the session cookie never land in a core file and other
 * processes of the same user cannot ptrace or read /proc/PID/mem. A side
 * effect: /proc/PID/ files of the process become owned by root.
 *
 * plat_wipe() zeroes memory that held a secret in a way the compiler
 * cannot drop as a dead store (explicit_bzero, or a volatile loop where
 * that is missing). Wipe before plat_free.
 */
#ifndef PLAT_SECURE_H
#define PLAT_SECURE_H

#include <stddef.h>

/* PLAT_OK, or ERR_GENERIC naming the step that failed (the process then
 * stays as it was for that step; the caller may go on). */
int plat_harden_process(void);

/* Zero `n` bytes at `p` (p may be NULL when n is 0). */
void plat_wipe(void *p, size_t n);

/* Zero the string `s` up to its NUL (NULL is fine). */
void plat_wipe_str(char *s);

#endif
