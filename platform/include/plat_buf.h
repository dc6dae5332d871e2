/*
 * plat_buf.h - growable byte buffer with a hard size cap.
 *
 * The caller owns the struct (plat_buf_init / plat_buf_dispose); the buffer
 * owns its bytes. The content is always NUL-terminated (not counted in len)
 * so it can be used as a C string. Appending past `cap` fails with
 * ERR_TOOLARGE; any failure frees the content so no half-built state
 * remains.
 */
#ifndef PLAT_BUF_H
#define PLAT_BUF_H

#include <stddef.h>

struct plat_buf {
    char *data;    /* NULL until the first append */
    size_t len;    /* bytes used, without the terminating NUL */
    size_t alloc;  /* bytes allocated */
    size_t cap;    /* maximum len; 0 means the default (64 MiB) */
};

void plat_buf_init(struct plat_buf *b, size_t cap);
void plat_buf_dispose(struct plat_buf *b);
void plat_buf_reset(struct plat_buf *b); /* len = 0, keeps the allocation */

int plat_buf_append(struct plat_buf *b, const void *data, size_t n);
int plat_buf_puts(struct plat_buf *b, const char *s);
int plat_buf_printf(struct plat_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Hand the content to the caller (who frees it with plat_free) and leave
 * the buffer empty. Returns "" (allocated) for an empty buffer. */
char *plat_buf_detach(struct plat_buf *b);

#endif
