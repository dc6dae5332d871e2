/* SPDX-License-Identifier: MIT */
/*
 * http_gzip.c - gzip for request bodies and streaming gunzip for responses.
 *
 * The client inflates responses itself instead of letting curl do it, so
 * that it can count the compressed bytes that crossed the link as well as
 * the decoded ones, and apply the response cap to the decoded size (a small
 * compressed body can expand a thousandfold).
 */
#include "http_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#define INFLATE_CHUNK 16384

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return plat_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    plat_free(p);
}

int sync_http_gzip(const void *in, size_t len, struct plat_buf *out)
{
    unsigned char chunk[INFLATE_CHUNK];
    z_stream z;
    int zrc, rc = PLAT_OK;

    plat_buf_reset(out);
    if (len > UINT_MAX)
        return plat_err_set(ERR_TOOLARGE,
                            "request body of %zu bytes is too large to gzip",
                            len);
    memset(&z, 0, sizeof(z));
    z.zalloc = z_alloc;
    z.zfree = z_free;
    /* 15 + 16: a gzip header and trailer rather than zlib's. */
    zrc = deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                       Z_DEFAULT_STRATEGY);
    if (zrc == Z_MEM_ERROR)
        return plat_err_set(ERR_NOMEM, "out of memory starting gzip");
    if (zrc != Z_OK)
        return plat_err_set(ERR_GENERIC, "gzip start failed (zlib %d)", zrc);

    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    do {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        zrc = deflate(&z, Z_FINISH);
        if (zrc == Z_MEM_ERROR) {
            rc = plat_err_set(ERR_NOMEM, "out of memory in gzip");
            goto done;
        }
        if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
            rc = plat_err_set(ERR_GENERIC, "gzip of the request body failed "
                              "(zlib %d)", zrc);
            goto done;
        }
        rc = plat_buf_append(out, chunk, sizeof(chunk) - z.avail_out);
        if (rc < 0)
            goto done;
    } while (zrc != Z_STREAM_END);
done:
    deflateEnd(&z);
    if (rc < 0)
        plat_buf_reset(out);
    return rc;
}

int sync_http_inflate_feed(struct sync_http_inflate *in, const char *data,
                           size_t len, sync_http_sink sink, void *ctx)
{
    unsigned char chunk[INFLATE_CHUNK];
    int zrc, rc;

    if (!in->started) {
        memset(&in->z, 0, sizeof(in->z));
        in->z.zalloc = z_alloc;
        in->z.zfree = z_free;
        /* 15 + 32: accept a gzip or a zlib header. */
        zrc = inflateInit2(&in->z, 15 + 32);
        if (zrc == Z_MEM_ERROR)
            return plat_err_set(ERR_NOMEM, "out of memory starting gunzip");
        if (zrc != Z_OK)
            return plat_err_set(ERR_GENERIC, "gunzip start failed (zlib %d)",
                                zrc);
        in->started = 1;
    }
    while (len > 0) {
        uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;

        if (in->ended) {
            /* Another gzip member follows the previous one. */
            if (inflateReset(&in->z) != Z_OK)
                return plat_err_set(ERR_GENERIC, "gunzip reset failed");
            in->ended = 0;
        }
        in->z.next_in = (Bytef *)(uintptr_t)data;
        in->z.avail_in = n;
        for (;;) {
            size_t produced;

            in->z.next_out = chunk;
            in->z.avail_out = sizeof(chunk);
            zrc = inflate(&in->z, Z_NO_FLUSH);
            produced = sizeof(chunk) - in->z.avail_out;
            if (zrc == Z_MEM_ERROR)
                return plat_err_set(ERR_NOMEM, "out of memory in gunzip");
            if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR)
                return plat_err_set(ERR_INVALID, "the server sent a corrupt "
                                    "gzip body (zlib %d)", zrc);
            if (produced > 0) {
                rc = sink(ctx, (const char *)chunk, produced);
                if (rc != 0)
                    return rc;
            }
            if (zrc == Z_STREAM_END) {
                in->ended = 1;
                break;
            }
            if (in->z.avail_in == 0 && in->z.avail_out != 0)
                break; /* all input used, output flushed */
            if (zrc == Z_BUF_ERROR && produced == 0)
                break; /* needs more input */
        }
        n -= in->z.avail_in;
        data += n;
        len -= n;
        if (!in->ended && in->z.avail_in > 0)
            return plat_err_set(ERR_INVALID, "gunzip stalled");
    }
    return PLAT_OK;
}

void sync_http_inflate_end(struct sync_http_inflate *in)
{
    if (in->started)
        inflateEnd(&in->z);
    in->started = 0;
    in->ended = 0;
}
