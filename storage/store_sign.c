/*
 * store_sign.c - ECDSA P-256 signed files (format and contract in
 * store_sign.h).
 */
#include "store_sign.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_random.h"
#include "plat_secure.h"

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include <stdio.h>
#include <string.h>

#define MAGIC "AGENTSG1"
#define FP_LEN 32
#define SIG_MAX 72             /* DER ECDSA P-256: 70-72 bytes */
#define KEY_FILE_MAX (16 * 1024)
#define PATH_MAX_LEN 4096

static int rng(void *unused, unsigned char *out, size_t n)
{
    (void)unused;
    return plat_random_bytes(out, n) == PLAT_OK ? 0 : -1;
}

static void fp_hex(const uint8_t fp[FP_LEN], char out[STORE_SIGN_FP_HEX])
{
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", fp[i]);
}

/* SHA-256 of the public key's DER form. */
static int fingerprint(mbedtls_pk_context *pk, uint8_t fp[FP_LEN])
{
    unsigned char der[256];
    int n = mbedtls_pk_write_pubkey_der(pk, der, sizeof(der));

    if (n <= 0)
        return plat_err_set(ERR_GENERIC, "cannot encode a public key");
    mbedtls_sha256_ret(der + sizeof(der) - n, (size_t)n, fp, 0);
    return PLAT_OK;
}

static int is_p256(mbedtls_pk_context *pk)
{
    return mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY &&
           mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

/* Load a PEM key file into `pk`. */
static int load_key(const char *path, int is_private, mbedtls_pk_context *pk)
{
    char *text = NULL;
    size_t len = 0;
    unsigned mode = 0;
    int rc, mrc;

    rc = plat_fs_mode(path, &mode);
    if (rc < 0)
        return plat_err_set(ERR_NOTFOUND, "cannot read key file %s", path);
    if (is_private && (mode & 077))
        return plat_err_set(ERR_INVALID, "signing key %s can be read by group "
                            "or others (mode %04o): chmod 600 %s", path,
                            mode & 07777, path);
    rc = plat_fs_read_file(path, KEY_FILE_MAX, &text, &len);
    if (rc < 0)
        return rc;
    /* PEM parsing wants the terminating NUL counted. */
    mrc = is_private
              ? mbedtls_pk_parse_key(pk, (const unsigned char *)text, len + 1,
                                     NULL, 0)
              : mbedtls_pk_parse_public_key(pk, (const unsigned char *)text,
                                            len + 1);
    plat_wipe(text, len);
    plat_free(text);
    if (mrc != 0 || !is_p256(pk))
        return plat_err_set(ERR_INVALID, "%s is not an ECDSA P-256 %s key "
                            "in PEM form", path,
                            is_private ? "private" : "public");
    return PLAT_OK;
}

int store_sign_keygen(const char *priv_path, const char *pub_path,
                      char fp_out[STORE_SIGN_FP_HEX])
{
    mbedtls_pk_context pk;
    unsigned char pem[1024];
    uint8_t fp[FP_LEN];
    int rc;

    if (plat_fs_exists(priv_path))
        return plat_err_set(ERR_EXISTS, "%s exists already: not "
                            "overwritten", priv_path);
    if (plat_fs_exists(pub_path))
        return plat_err_set(ERR_EXISTS, "%s exists already: not "
                            "overwritten", pub_path);
    mbedtls_pk_init(&pk);
    if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))
            != 0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk), rng,
                            NULL) != 0) {
        rc = plat_err_set(ERR_GENERIC, "cannot make a signing key");
        goto done;
    }
    rc = fingerprint(&pk, fp);
    if (rc == PLAT_OK &&
        mbedtls_pk_write_key_pem(&pk, pem, sizeof(pem)) != 0)
        rc = plat_err_set(ERR_GENERIC, "cannot encode the signing key");
    if (rc == PLAT_OK)
        rc = plat_fs_write_atomic(priv_path, pem, strlen((char *)pem), 0600);
    plat_wipe(pem, sizeof(pem));
    if (rc == PLAT_OK &&
        mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem)) != 0)
        rc = plat_err_set(ERR_GENERIC, "cannot encode the public key");
    if (rc == PLAT_OK)
        rc = plat_fs_write_atomic(pub_path, pem, strlen((char *)pem), 0644);
    if (rc == PLAT_OK && fp_out)
        fp_hex(fp, fp_out);
done:
    mbedtls_pk_free(&pk);
    return rc;
}

/* SHA-256(body || MAGIC || fp). */
static void signed_hash(const uint8_t *body, size_t len,
                        const uint8_t fp[FP_LEN], uint8_t out[32])
{
    mbedtls_sha256_context sha;

    mbedtls_sha256_init(&sha);
    mbedtls_sha256_starts_ret(&sha, 0);
    mbedtls_sha256_update_ret(&sha, body, len);
    mbedtls_sha256_update_ret(&sha, (const uint8_t *)MAGIC, 8);
    mbedtls_sha256_update_ret(&sha, fp, FP_LEN);
    mbedtls_sha256_finish_ret(&sha, out);
    mbedtls_sha256_free(&sha);
}

int store_sign_append(const char *priv_path, struct plat_buf *buf)
{
    mbedtls_pk_context pk;
    uint8_t fp[FP_LEN], hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    uint8_t tail[8 + FP_LEN + 1 + SIG_MAX + 2];
    size_t siglen = 0, tlen;
    int rc;

    mbedtls_pk_init(&pk);
    rc = load_key(priv_path, 1, &pk);
    if (rc == PLAT_OK)
        rc = fingerprint(&pk, fp);
    if (rc < 0)
        goto done;
    signed_hash((const uint8_t *)buf->data, buf->len, fp, hash);
    if (mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig,
                        &siglen, rng, NULL) != 0 || siglen > SIG_MAX) {
        rc = plat_err_set(ERR_GENERIC, "cannot sign with %s", priv_path);
        goto done;
    }
    memcpy(tail, MAGIC, 8);
    memcpy(tail + 8, fp, FP_LEN);
    tail[8 + FP_LEN] = (uint8_t)siglen;
    memcpy(tail + 8 + FP_LEN + 1, sig, siglen);
    tlen = 8 + FP_LEN + 1 + siglen + 2;
    tail[tlen - 2] = (uint8_t)(tlen >> 8);
    tail[tlen - 1] = (uint8_t)tlen;
    rc = plat_buf_append(buf, tail, tlen);
done:
    mbedtls_pk_free(&pk);
    return rc;
}

int store_sign_each_path(const char *list,
                         int (*cb)(const char *path, void *p), void *p)
{
    char path[PATH_MAX_LEN];
    const char *s = list ? list : "", *e;
    size_t n;
    int rc;

    while (*s) {
        e = strchr(s, ';');
        if (!e)
            e = s + strlen(s);
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        n = (size_t)(e - s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n >= sizeof(path))
            return plat_err_set(ERR_INVALID, "a key path is too long");
        if (n > 0) {
            memcpy(path, s, n);
            path[n] = '\0';
            rc = cb(path, p);
            if (rc != 0)
                return rc;
        }
        s = *e ? e + 1 : e;
    }
    return 0;
}

struct find {
    const uint8_t *fp;
    mbedtls_pk_context *pk;
    int found;
};

/* Load each trusted key; keep the one whose fingerprint matches. */
static int find_key(const char *path, void *p)
{
    struct find *f = p;
    uint8_t fp[FP_LEN];
    int rc;

    mbedtls_pk_free(f->pk);
    mbedtls_pk_init(f->pk);
    rc = load_key(path, 0, f->pk);
    if (rc == PLAT_OK)
        rc = fingerprint(f->pk, fp);
    if (rc < 0)
        return rc;
    if (memcmp(fp, f->fp, FP_LEN) == 0) {
        f->found = 1;
        return 1;
    }
    return 0;
}

int store_sign_check(const uint8_t *file, size_t flen, const char *trusted,
                     const char *what, size_t *body_len,
                     char fp_out[STORE_SIGN_FP_HEX])
{
    mbedtls_pk_context pk;
    struct find f;
    const uint8_t *t;
    uint8_t hash[32];
    size_t tlen, siglen;
    char hex[STORE_SIGN_FP_HEX];
    int rc;

    if (flen < 2)
        return plat_err_set(ERR_CORRUPT, "%s is not signed (cut short?)",
                            what);
    tlen = (size_t)file[flen - 2] << 8 | file[flen - 1];
    if (tlen < 8 + FP_LEN + 1 + 2 || tlen > flen)
        return plat_err_set(ERR_CORRUPT, "%s is not signed (cut short?)",
                            what);
    t = file + flen - tlen;
    siglen = t[8 + FP_LEN];
    if (memcmp(t, MAGIC, 8) != 0 || siglen == 0 || siglen > SIG_MAX ||
        8 + FP_LEN + 1 + siglen + 2 != tlen)
        return plat_err_set(ERR_CORRUPT, "%s is not signed (cut short?)",
                            what);
    fp_hex(t + 8, hex);
    if (fp_out)
        memcpy(fp_out, hex, sizeof(hex));
    mbedtls_pk_init(&pk);
    memset(&f, 0, sizeof(f));
    f.fp = t + 8;
    f.pk = &pk;
    rc = store_sign_each_path(trusted, find_key, &f);
    if (rc < 0)
        goto done;
    if (!f.found) {
        rc = plat_err_set(ERR_AUTH, "%s is signed by key %s, which is not "
                          "pinned in bundle.trusted_keys: refused", what, hex);
        goto done;
    }
    signed_hash(file, flen - tlen, t + 8, hash);
    if (mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, hash, sizeof(hash),
                          t + 8 + FP_LEN + 1, siglen) != 0) {
        rc = plat_err_set(ERR_CORRUPT, "%s does not match its signature: it "
                          "was changed or damaged after it was signed", what);
        goto done;
    }
    *body_len = flen - tlen;
    rc = PLAT_OK;
done:
    mbedtls_pk_free(&pk);
    return rc;
}

int store_sign_check_key(const char *path, int is_private,
                         char fp_out[STORE_SIGN_FP_HEX])
{
    mbedtls_pk_context pk;
    uint8_t fp[FP_LEN];
    int rc;

    mbedtls_pk_init(&pk);
    rc = load_key(path, is_private, &pk);
    if (rc == PLAT_OK)
        rc = fingerprint(&pk, fp);
    if (rc == PLAT_OK && fp_out)
        fp_hex(fp, fp_out);
    mbedtls_pk_free(&pk);
    return rc;
}
