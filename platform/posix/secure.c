/*
 * secure.c - core dumps off, secrets wiped (see plat_secure.h).
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* explicit_bzero */
#endif
#include "plat_secure.h"
#include "plat_err.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int plat_harden_process(void)
{
    struct rlimit none = { 0, 0 };

    if (setrlimit(RLIMIT_CORE, &none) < 0)
        return plat_err_set(ERR_GENERIC, "cannot turn off core dumps: %s",
                            strerror(errno));
#ifdef __linux__
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return plat_err_set(ERR_GENERIC, "cannot make the process "
                            "non-dumpable: %s", strerror(errno));
#endif
    return PLAT_OK;
}

void plat_wipe(void *p, size_t n)
{
    if (!p || n == 0)
        return;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 25)
    explicit_bzero(p, n);
#else
    {
        volatile unsigned char *v = p;

        while (n--)
            *v++ = 0;
    }
#endif
}

void plat_wipe_str(char *s)
{
    if (s)
        plat_wipe(s, strlen(s));
}
