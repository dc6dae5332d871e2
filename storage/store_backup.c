/*
 * store_backup.c - encrypted, compressed backups (format and contract in
 * store_backup.h).
 */
#include "store_backup.h"
#include "store_convert.h"
#include "store_seal.h"
#include "store_internal.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_random.h"
#include "plat_secure.h"

#include <mbedtls/sha256.h>

#include <stdio.h>
#include <string.h>

#define MAGIC "AGENTBK1"
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
    struct plat_buf out;
    unsigned char *img = NULL;
    sqlite3_int64 len = 0;
    int rc;

    plat_buf_init(&out, 0);
    rc = snapshot(s, &img, &len);
    if (rc == PLAT_OK && (uint64_t)len > STORE_SEAL_MAX)
        rc = plat_err_set(ERR_TOOLARGE, "store %s is too large for a backup "
                          "file (4 GiB)", s->path);
    if (rc == PLAT_OK)
        rc = store_seal(MAGIC, kind, img, (size_t)len, key, &out);
    if (rc == PLAT_OK)
        rc = plat_fs_write_atomic(out_path, out.data, out.len, 0600);
    if (img) {
        plat_wipe(img, (size_t)len);
        sqlite3_free(img);
    }
    plat_buf_dispose(&out);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

int store_backup_kind(const char *in_path, int *kind_out)
{
    uint8_t hdr[STORE_SEAL_HDR];
    FILE *f = fopen(in_path, "rb");
    size_t n;

    if (!f)
        return plat_err_set(ERR_NOTFOUND, "cannot open backup %s",
                            in_path);
    n = fread(hdr, 1, sizeof(hdr), f);
    fclose(f);
    if (store_seal_kind(hdr, n, MAGIC, "", kind_out) < 0)
        return plat_err_set(ERR_CORRUPT, "%s is not an agent backup",
                            in_path);
    return PLAT_OK;
}

/* Every chunk decrypted and inflated into a new image; all checked. */
static int read_image(const char *in_path, const uint8_t *key,
                      uint8_t **img_out, size_t *len_out)
{
    char *file = NULL, *what;
    size_t flen = 0;
    int rc;

    *img_out = NULL;
    what = plat_asprintf("backup %s", in_path);
    if (!what)
        return ERR_NOMEM;
    rc = plat_fs_read_file(in_path, FILE_MAX, &file, &flen);
    if (rc == PLAT_OK)
        rc = store_unseal((const uint8_t *)file, flen, MAGIC, key,
                          STORE_SEAL_MAX, what, img_out, len_out);
    if (rc == PLAT_OK && (*len_out == 0 || *len_out % 512 != 0)) {
        plat_wipe(*img_out, *len_out);
        plat_free(*img_out);
        *img_out = NULL;
        rc = plat_err_set(ERR_CORRUPT, "backup %s is damaged or cut short",
                          in_path);
    }
    if (file)
        plat_wipe(file, flen);
    plat_free(file);
    plat_free(what);
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
