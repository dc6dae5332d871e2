/*
 * buf.c - growable byte buffer with a hard cap (see plat_buf.h).
 *
 * Growth doubles the allocation, bounded by cap + 1 for the NUL. Every
 * failure disposes of the content: a caller that gets an error never holds
 * a half-built buffer and has nothing else to clean up.
 */
#include "plat_buf.h"
#include "plat_alloc.h"
#include "plat_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define BUF_DEFAULT_CAP ((size_t)64 * 1024 * 1024)
#define BUF_MIN_ALLOC 32

void plat_buf_init(struct plat_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap ? cap : BUF_DEFAULT_CAP;
}

void plat_buf_dispose(struct plat_buf *b)
{
    plat_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void plat_buf_reset(struct plat_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* Make room for `extra` more bytes plus the NUL. */
static int buf_reserve(struct plat_buf *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : BUF_DEFAULT_CAP;
    size_t need, size;
    char *p;

    if (extra > cap || b->len > cap - extra) {
        plat_buf_dispose(b);
        return plat_err_set(ERR_TOOLARGE,
                            "buffer would exceed its cap of %zu bytes", cap);
    }
    need = b->len + extra + 1;
    if (need <= b->alloc)
        return PLAT_OK;
    size = b->alloc ? b->alloc : BUF_MIN_ALLOC;
    while (size < need)
        size = size > (cap + 1) / 2 ? cap + 1 : size * 2;
    p = plat_realloc(b->data, size);
    if (!p) {
        plat_buf_dispose(b);
        return ERR_NOMEM;
    }
    b->data = p;
    b->alloc = size;
    return PLAT_OK;
}

int plat_buf_append(struct plat_buf *b, const void *data, size_t n)
{
    int rc = buf_reserve(b, n);

    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return PLAT_OK;
}

int plat_buf_puts(struct plat_buf *b, const char *s)
{
    return plat_buf_append(b, s, strlen(s));
}

int plat_buf_printf(struct plat_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        plat_buf_dispose(b);
        return plat_err_set(ERR_INVALID, "cannot format buffer content");
    }
    rc = buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PLAT_OK;
}

char *plat_buf_detach(struct plat_buf *b)
{
    char *out = b->data;

    if (!out)
        return plat_strdup("");
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return out;
}
