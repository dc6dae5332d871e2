/*
 * store_seal.c - the sealed stream: zlib + AES-256-GCM in authenticated
 * chunks (format and contract in store_seal.h).
 */
#include "store_seal.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_random.h"
#include "plat_secure.h"

#include <mbedtls/gcm.h>
#include <zlib.h>

#include <string.h>

#define HDR_AAD 28   /* magic 8, version/kind/0/0 4, prefix 8, length 8 */
#define HDR_LEN STORE_SEAL_HDR
#define CHUNK (64 * 1024)
#define TAG 16

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

/* Nonce and associated data of chunk `i` (0xffffffff: the header tag). */
static void chunk_params(const uint8_t *hdr, uint32_t i, int final,
                         uint8_t nonce[12], uint8_t aad[HDR_AAD + 5])
{
    memcpy(nonce, hdr + 12, 8);
    put32(nonce + 8, i);
    memcpy(aad, hdr, HDR_AAD);
    put32(aad + HDR_AAD, i);
    aad[HDR_AAD + 4] = (uint8_t)final;
}

/* ---- writing ------------------------------------------------------------ */

struct writer {
    mbedtls_gcm_context gcm;
    uint8_t hdr[HDR_LEN];
    uint32_t index;
    struct plat_buf *out;
};

static int put_chunk(struct writer *w, const uint8_t *data, size_t n,
                     int final)
{
    uint8_t nonce[12], aad[HDR_AAD + 5], len[5], *ct;
    int rc;

    chunk_params(w->hdr, w->index++, final, nonce, aad);
    ct = plat_malloc(n + TAG);
    if (!ct)
        return ERR_NOMEM;
    if (mbedtls_gcm_crypt_and_tag(&w->gcm, MBEDTLS_GCM_ENCRYPT, n, nonce, 12,
                                  aad, sizeof(aad), data, ct, TAG,
                                  ct + n) != 0) {
        plat_free(ct);
        return plat_err_set(ERR_GENERIC, "cannot encrypt the stream");
    }
    put32(len, (uint32_t)n);
    len[4] = (uint8_t)final;
    rc = plat_buf_append(w->out, len, sizeof(len));
    if (rc == PLAT_OK)
        rc = plat_buf_append(w->out, ct, n + TAG);
    plat_free(ct);
    return rc;
}

int store_seal(const char magic[8], int kind, const uint8_t *data,
               size_t len, const uint8_t key[STORE_KEY_LEN],
               struct plat_buf *out)
{
    struct writer w;
    uint8_t nonce[12], aad[HDR_AAD + 5], *buf = NULL;
    z_stream z;
    int rc, zrc = Z_OK, zinit = 0;

    if ((uint64_t)len > STORE_SEAL_MAX)
        return plat_err_set(ERR_TOOLARGE, "too much data for one sealed "
                            "file (4 GiB)");
    memset(&w, 0, sizeof(w));
    w.out = out;
    mbedtls_gcm_init(&w.gcm);
    memcpy(w.hdr, magic, 8);
    w.hdr[8] = 1;
    w.hdr[9] = (uint8_t)kind;
    rc = plat_random_bytes(w.hdr + 12, 8);
    if (rc < 0)
        goto done;
    put32(w.hdr + 20, (uint32_t)((uint64_t)len >> 32));
    put32(w.hdr + 24, (uint32_t)len);
    if (mbedtls_gcm_setkey(&w.gcm, MBEDTLS_CIPHER_ID_AES, key, 256) != 0) {
        rc = plat_err_set(ERR_GENERIC, "cannot key the stream cipher");
        goto done;
    }
    chunk_params(w.hdr, 0xffffffffu, 1, nonce, aad);
    mbedtls_gcm_crypt_and_tag(&w.gcm, MBEDTLS_GCM_ENCRYPT, 0, nonce, 12,
                              aad, sizeof(aad), NULL, NULL, TAG,
                              w.hdr + HDR_AAD);
    rc = plat_buf_append(out, w.hdr, HDR_LEN);
    buf = plat_malloc(CHUNK);
    memset(&z, 0, sizeof(z));
    if (rc < 0 || !buf || deflateInit(&z, 6) != Z_OK) {
        rc = rc < 0 ? rc : ERR_NOMEM;
        goto done;
    }
    zinit = 1;
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    while (rc == PLAT_OK && zrc != Z_STREAM_END) {
        z.next_out = buf;
        z.avail_out = CHUNK;
        zrc = deflate(&z, z.avail_in == 0 ? Z_FINISH : Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
            rc = plat_err_set(ERR_GENERIC, "cannot compress the stream");
            break;
        }
        if (CHUNK - z.avail_out > 0 || zrc == Z_STREAM_END)
            rc = put_chunk(&w, buf, CHUNK - z.avail_out,
                           zrc == Z_STREAM_END);
    }
done:
    if (zinit)
        deflateEnd(&z);
    plat_free(buf);
    mbedtls_gcm_free(&w.gcm);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

int store_seal_kind(const uint8_t *file, size_t flen, const char magic[8],
                    const char *what, int *kind_out)
{
    if (flen < HDR_LEN || memcmp(file, magic, 8) != 0 || file[8] != 1)
        return plat_err_set(ERR_CORRUPT, "%s is damaged or cut short", what);
    *kind_out = file[9];
    return PLAT_OK;
}

int store_unseal(const uint8_t *file, size_t flen, const char magic[8],
                 const uint8_t key[STORE_KEY_LEN], uint64_t max,
                 const char *what, uint8_t **out, size_t *out_len)
{
    mbedtls_gcm_context gcm;
    uint8_t nonce[12], aad[HDR_AAD + 5], tag[TAG], *plain = NULL;
    uint8_t *img = NULL;
    const uint8_t *hdr = file;
    size_t pos, n;
    uint64_t ilen = 0;
    uint32_t index = 0;
    int rc, final = 0, zrc = Z_OK, zinit = 0;
    z_stream z;

    *out = NULL;
    *out_len = 0;
    mbedtls_gcm_init(&gcm);
    rc = plat_err_set(ERR_CORRUPT, "%s is damaged or cut short", what);
    if (flen < HDR_LEN || memcmp(hdr, magic, 8) != 0 || hdr[8] != 1)
        goto done;
    ilen = (uint64_t)get32(hdr + 20) << 32 | get32(hdr + 24);
    if (ilen > STORE_SEAL_MAX || ilen > max)
        goto done;
    mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256);
    chunk_params(hdr, 0xffffffffu, 1, nonce, aad);
    if (mbedtls_gcm_auth_decrypt(&gcm, 0, nonce, 12, aad, sizeof(aad),
                                 hdr + HDR_AAD, TAG, NULL, NULL) != 0) {
        rc = plat_err_set(ERR_AUTH, "%s does not open with this key", what);
        goto done;
    }
    img = plat_malloc(ilen ? (size_t)ilen : 1);
    plain = plat_malloc(CHUNK);
    memset(&z, 0, sizeof(z));
    if (!img || !plain || inflateInit(&z) != Z_OK) {
        rc = ERR_NOMEM;
        goto done;
    }
    zinit = 1;
    z.next_out = img;
    z.avail_out = (uInt)ilen;
    for (pos = HDR_LEN; !final;) {
        if (flen - pos < 5)
            goto done;
        n = get32(file + pos);
        final = file[pos + 4];
        if (n > CHUNK || (final != 0 && final != 1) ||
            flen - pos - 5 < n + TAG)
            goto done;
        chunk_params(hdr, index++, final, nonce, aad);
        memcpy(tag, file + pos + 5 + n, TAG);
        if (mbedtls_gcm_auth_decrypt(&gcm, n, nonce, 12, aad, sizeof(aad),
                                     tag, TAG, file + pos + 5, plain) != 0)
            goto done;
        pos += 5 + n + TAG;
        z.next_in = plain;
        z.avail_in = (uInt)n;
        zrc = inflate(&z, Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END &&
            !(zrc == Z_BUF_ERROR && n == 0))
            goto done;
        if (z.avail_in != 0)
            goto done;
    }
    if (zrc != Z_STREAM_END || pos != flen || z.total_out != ilen)
        goto done;
    plat_err_clear();
    rc = PLAT_OK;
    *out = img;
    *out_len = (size_t)ilen;
    img = NULL;
done:
    if (zinit)
        inflateEnd(&z);
    if (img)
        plat_wipe(img, (size_t)ilen);
    plat_free(img);
    if (plain)
        plat_wipe(plain, CHUNK);
    plat_free(plain);
    mbedtls_gcm_free(&gcm);
    return rc;
}
