/* SPDX-License-Identifier: MIT */
/*
 * http_internal.h - pieces shared by the files of sync/http/ and not part
 * of its interface: zlib in both directions, with zlib's allocations routed
 * through plat_alloc so the fault tests reach them.
 */
#ifndef SYNC_HTTP_INTERNAL_H
#define SYNC_HTTP_INTERNAL_H

#include "plat_buf.h"

#include <stddef.h>
#include <zlib.h>

/* Compress `len` bytes at `in` as one gzip member into `out` (which the
 * caller initialised; it is reset first). Errors: ERR_NOMEM, ERR_TOOLARGE
 * (out's cap), ERR_GENERIC (zlib). */
int sync_http_gzip(const void *in, size_t len, struct plat_buf *out);

/* Streaming gunzip of a response body. */
struct sync_http_inflate {
    z_stream z;
    int started;  /* inflateInit2 done                    */
    int ended;    /* the last member ended (Z_STREAM_END) */
};

/* Called with each decoded piece; returns 0 or a negative ERR_*. */
typedef int (*sync_http_sink)(void *ctx, const char *data, size_t len);

/* Feed `len` compressed bytes; decoded output goes to `sink`. Concatenated
 * gzip members are accepted. Returns 0, the sink's error, ERR_NOMEM or
 * ERR_INVALID (corrupt data; message set). */
int sync_http_inflate_feed(struct sync_http_inflate *in, const char *data,
                           size_t len, sync_http_sink sink, void *ctx);

/* Free the zlib state (safe when never started). */
void sync_http_inflate_end(struct sync_http_inflate *in);


#endif
