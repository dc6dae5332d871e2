/*
 * alloc.c - the project's allocator: libc underneath, plus a counter that
 * lets tests make the Nth allocation fail so error paths get exercised.
 *
 * The counter is process-wide and atomic (the daemon allocates on its main
 * thread and its sync worker); the hook is only used by tests.
 */
#include "plat_alloc.h"
#include "plat_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocations still allowed before failing; negative means no limit. */
static _Atomic long fail_after = -1;

/* 1 if this allocation must fail (test hook), counting it otherwise. */
static int injected_failure(void)
{
    if (fail_after < 0)
        return 0;
    if (fail_after == 0)
        return 1;
    fail_after--;
    return 0;
}

static void *nomem(size_t n)
{
    plat_err_set(ERR_NOMEM, "out of memory allocating %zu bytes", n);
    return NULL;
}

void plat_alloc_fail_after(long n)
{
    fail_after = n < 0 ? -1 : n;
}

void *plat_malloc(size_t n)
{
    void *p;

    if (injected_failure())
        return nomem(n);
    /* malloc(0) may return NULL, which would look like a failure. */
    p = malloc(n ? n : 1);
    if (!p)
        return nomem(n);
    return p;
}

void *plat_calloc(size_t count, size_t size)
{
    void *p;

    if (size && count > (size_t)-1 / size)
        return nomem((size_t)-1);
    if (injected_failure())
        return nomem(count * size);
    p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        return nomem(count * size);
    return p;
}

void *plat_realloc(void *p, size_t n)
{
    void *q;

    if (injected_failure())
        return nomem(n);
    q = realloc(p, n ? n : 1);
    if (!q)
        return nomem(n);
    return q;
}

void plat_free(void *p)
{
    free(p);
}

char *plat_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *copy = plat_malloc(len + 1);

    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *plat_strdup(const char *s)
{
    return plat_strndup(s, strlen(s));
}

char *plat_asprintf(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *out;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        plat_err_set(ERR_INVALID, "cannot format string");
        return NULL;
    }
    out = plat_malloc((size_t)n + 1);
    if (!out)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return out;
}
