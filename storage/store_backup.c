/*
 * store_backup.c - encrypted, compressed backups (format and contract in
 * store_backup.h).
 */
#include "store_backup.h"
#include "store_convert.h"
#include "store_internal.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_random.h"
#include "plat_secure.h"

#include <mbedtls/gcm.h>
#include <mbedtls/sha256.h>
#include <zlib.h>

#include <stdio.h>
#include <string.h>

#define MAGIC "AGENTBK1"
#define HDR_AAD 28   /* magic 8, version/kind/0/0 4, prefix 8, length 8 */
#define HDR_LEN (HDR_AAD + 16)
#define CHUNK (64 * 1024)
#define TAG 16
#define IMAGE_MAX ((uint64_t)0xfffffe00u) /* zlib counts in 32 bits */
#define FILE_MAX ((size_t)8 << 30)

void store_backup_derive(const uint8_t data_key[STORE_KEY_LEN],
                         uint8_t out[STORE_KEY_LEN])
{
    static const char label[] = "agent backup key v1";
    mbedtls_sha256_context sha;

    mbedtls_sha256_init(&sha);
    mbedtls_sha256_starts_ret(&sha, 0);
    mbedtls_sha256_update_ret(&sha, (const uint8_t *)label,
                              sizeof(label) - 1);
    mbedtls_sha256_update_ret(&sha, data_key, STORE_KEY_LEN);
    mbedtls_sha256_finish_ret(&sha, out);
    mbedtls_sha256_free(&sha);
}

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
    struct plat_buf out;
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
        return plat_err_set(ERR_GENERIC, "cannot encrypt the backup");
    }
    put32(len, (uint32_t)n);
    len[4] = (uint8_t)final;
    rc = plat_buf_append(&w->out, len, sizeof(len));
    if (rc == PLAT_OK)
        rc = plat_buf_append(&w->out, ct, n + TAG);
    plat_free(ct);
    return rc;
}

/* A consistent copy of the store in memory, as a database image. */
static int snapshot(struct store *s, unsigned char **img, sqlite3_int64 *len)
{
    sqlite3 *mem = NULL;
    sqlite3_backup *b;
    int rc;

    *img = NULL;
    if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE, NULL) !=
        SQLITE_OK) {
        sqlite3_close(mem);
        return plat_err_set(ERR_NOMEM, "out of memory for the backup");
    }
    b = sqlite3_backup_init(mem, "main", s->db, "main");
    rc = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(mem);
    if (b)
        sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        rc = store__db_err(s, rc, "copy it for the backup");
    } else {
        *img = sqlite3_serialize(mem, "main", len, 0);
        rc = *img ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory for "
                                           "the backup");
    }
    sqlite3_close(mem);
    return rc;
}

int store_backup_write(struct store *s, const char *out_path,
                       const uint8_t key[STORE_KEY_LEN], int kind)
{
    struct writer w;
    unsigned char *img = NULL;
    sqlite3_int64 len = 0;
    uint8_t nonce[12], aad[HDR_AAD + 5], *buf = NULL;
    z_stream z;
    int rc, zrc = Z_OK, zinit = 0;

    memset(&w, 0, sizeof(w));
    plat_buf_init(&w.out, 0);
    mbedtls_gcm_init(&w.gcm);
    rc = snapshot(s, &img, &len);
    if (rc < 0)
        goto done;
    if ((uint64_t)len > IMAGE_MAX) {
        rc = plat_err_set(ERR_TOOLARGE, "store %s is too large for a backup "
                          "file (4 GiB)", s->path);
        goto done;
    }
    memcpy(w.hdr, MAGIC, 8);
    w.hdr[8] = 1;
    w.hdr[9] = (uint8_t)kind;
    rc = plat_random_bytes(w.hdr + 12, 8);
    if (rc < 0)
        goto done;
    put32(w.hdr + 20, (uint32_t)((uint64_t)len >> 32));
    put32(w.hdr + 24, (uint32_t)len);
    if (mbedtls_gcm_setkey(&w.gcm, MBEDTLS_CIPHER_ID_AES, key, 256) != 0) {
        rc = plat_err_set(ERR_GENERIC, "cannot key the backup cipher");
        goto done;
    }
    chunk_params(w.hdr, 0xffffffffu, 1, nonce, aad);
    mbedtls_gcm_crypt_and_tag(&w.gcm, MBEDTLS_GCM_ENCRYPT, 0, nonce, 12,
                              aad, sizeof(aad), NULL, NULL, TAG,
                              w.hdr + HDR_AAD);
    rc = plat_buf_append(&w.out, w.hdr, HDR_LEN);
    buf = plat_malloc(CHUNK);
    memset(&z, 0, sizeof(z));
    if (rc < 0 || !buf || deflateInit(&z, 6) != Z_OK) {
        rc = rc < 0 ? rc : ERR_NOMEM;
        goto done;
    }
    zinit = 1;
    z.next_in = img;
    z.avail_in = (uInt)len;
    while (rc == PLAT_OK && zrc != Z_STREAM_END) {
        z.next_out = buf;
        z.avail_out = CHUNK;
        zrc = deflate(&z, z.avail_in == 0 ? Z_FINISH : Z_NO_FLUSH);
        if (zrc != Z_OK && zrc != Z_STREAM_END && zrc != Z_BUF_ERROR) {
            rc = plat_err_set(ERR_GENERIC, "cannot compress the backup");
            break;
        }
        if (CHUNK - z.avail_out > 0 || zrc == Z_STREAM_END)
            rc = put_chunk(&w, buf, CHUNK - z.avail_out,
                           zrc == Z_STREAM_END);
    }
    if (rc == PLAT_OK)
        rc = plat_fs_write_atomic(out_path, w.out.data, w.out.len, 0600);
done:
    if (zinit)
        deflateEnd(&z);
    if (img) {
        plat_wipe(img, (size_t)len);
        sqlite3_free(img);
    }
    plat_free(buf);
    mbedtls_gcm_free(&w.gcm);
    plat_buf_dispose(&w.out);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

int store_backup_kind(const char *in_path, int *kind_out)
{
    uint8_t hdr[HDR_LEN];
    FILE *f = fopen(in_path, "rb");
    size_t n;

    if (!f)
        return plat_err_set(ERR_NOTFOUND, "cannot open backup %s",
                            in_path);
    n = fread(hdr, 1, sizeof(hdr), f);
    fclose(f);
    if (n != sizeof(hdr) || memcmp(hdr, MAGIC, 8) != 0 || hdr[8] != 1)
        return plat_err_set(ERR_CORRUPT, "%s is not an agent backup",
                            in_path);
    *kind_out = hdr[9];
    return PLAT_OK;
}

/* Every chunk decrypted and inflated into a new image; all checked. */
static int read_image(const char *in_path, const uint8_t *key,
                      uint8_t **img_out, size_t *len_out)
{
    mbedtls_gcm_context gcm;
    uint8_t nonce[12], aad[HDR_AAD + 5], tag[TAG], *hdr, *plain = NULL;
    uint8_t *img = NULL;
    char *file = NULL;
    size_t flen = 0, pos, n;
    uint64_t ilen;
    uint32_t index = 0;
    int rc, final = 0, zrc = Z_OK, zinit = 0;
    z_stream z;

    *img_out = NULL;
    mbedtls_gcm_init(&gcm);
    rc = plat_fs_read_file(in_path, FILE_MAX, &file, &flen);
    if (rc < 0)
        goto done;
    hdr = (uint8_t *)file;
    rc = plat_err_set(ERR_CORRUPT, "backup %s is damaged or cut short",
                      in_path);
    if (flen < HDR_LEN || memcmp(hdr, MAGIC, 8) != 0 || hdr[8] != 1)
        goto done;
    ilen = (uint64_t)get32(hdr + 20) << 32 | get32(hdr + 24);
    if (ilen == 0 || ilen > IMAGE_MAX || ilen % 512 != 0)
        goto done;
    mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 256);
    chunk_params(hdr, 0xffffffffu, 1, nonce, aad);
    if (mbedtls_gcm_auth_decrypt(&gcm, 0, nonce, 12, aad, sizeof(aad),
                                 hdr + HDR_AAD, TAG, NULL, NULL) != 0) {
        rc = plat_err_set(ERR_AUTH, "backup %s does not open with this key",
                          in_path);
        goto done;
    }
    img = plat_malloc((size_t)ilen);
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
        n = get32((uint8_t *)file + pos);
        final = file[pos + 4];
        if (n > CHUNK || (final != 0 && final != 1) ||
            flen - pos - 5 < n + TAG)
            goto done;
        chunk_params(hdr, index++, final, nonce, aad);
        memcpy(tag, file + pos + 5 + n, TAG);
        if (mbedtls_gcm_auth_decrypt(&gcm, n, nonce, 12, aad, sizeof(aad),
                                     tag, TAG, (uint8_t *)file + pos + 5,
                                     plain) != 0)
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
    *img_out = img;
    *len_out = (size_t)ilen;
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
    if (file)
        plat_wipe(file, flen);
    plat_free(file);
    mbedtls_gcm_free(&gcm);
    return rc;
}

int store_backup_restore(const char *in_path,
                         const uint8_t key[STORE_KEY_LEN],
                         const char *dst_path, const uint8_t *dst_key)
{
    struct store src;
    sqlite3 *mem = NULL;
    sqlite3_stmt *st = NULL;
    uint8_t *img = NULL;
    size_t len = 0;
    int rc;

    rc = read_image(in_path, key, &img, &len);
    if (rc < 0)
        return rc;
    /* A WAL-mode image read from memory: rollback mode (bytes 18, 19). */
    img[18] = img[19] = 1;
    memset(&src, 0, sizeof(src));
    src.path = (char *)in_path;
    src.flags = STORE_READONLY;
    rc = sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_deserialize(mem, "main", img, (sqlite3_int64)len,
                                 (sqlite3_int64)len,
                                 SQLITE_DESERIALIZE_READONLY);
    src.db = mem;
    if (rc != SQLITE_OK) {
        rc = plat_err_set(ERR_NOMEM, "cannot load backup %s", in_path);
        goto done;
    }
    rc = sqlite3_prepare_v2(mem, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        src.version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (src.version <= 0) {
        rc = plat_err_set(ERR_CORRUPT, "backup %s does not hold an agent "
                          "store", in_path);
        goto done;
    }
    if (src.version > store_schema_version()) {
        rc = plat_err_set(ERR_VERSION, "backup %s has schema version %d, "
                          "newer than this agent (%d)", in_path, src.version,
                          store_schema_version());
        goto done;
    }
    rc = store_integrity_check(&src);
    if (rc < 0) {
        rc = plat_err_set(ERR_CORRUPT, "backup %s holds a damaged store",
                          in_path);
        goto done;
    }
    rc = store_copy_to(&src, dst_path, dst_key);
done:
    sqlite3_close(mem);
    plat_wipe(img, len);
    plat_free(img);
    return rc;
}
