/*
 * store_keys.c - the key ring of an encrypted store (format and contract
 * in store_keys.h).
 */
#include "store_keys.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_random.h"
#include "plat_secure.h"
#include "plat_time.h"
#include "plat_utf8.h"

#include <cjson/cJSON.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FORMAT "agent-store-keys/1"
#define SALT_LEN 16
#define NONCE_LEN 12
#define TAG_LEN 16
#define MIN_ITERATIONS 100000u
#define TARGET_MS 300 /* the contract says at least 250 */
#define KEYS_MAX (64 * 1024)

struct wrap {
    int present;
    unsigned iterations;           /* passphrase only */
    uint8_t salt[SALT_LEN];        /* passphrase only */
    uint8_t nonce[NONCE_LEN];
    uint8_t wrapped[STORE_KEY_LEN + TAG_LEN];
};

struct store_keys {
    char key_id[9];
    struct wrap w[2];
};

static unsigned test_iterations;

static const char *kind_name(int kind)
{
    return kind == STORE_WRAP_PASSPHRASE ? "passphrase" : "keyfile";
}

void store_keys_set_test_iterations(unsigned n)
{
    test_iterations = n;
}

char *store_keys_path(const char *store_path)
{
    return plat_asprintf("%s.keys", store_path);
}

void store_keys_free(struct store_keys *k)
{
    if (!k)
        return;
    plat_wipe(k, sizeof(*k));
    plat_free(k);
}

int store_keys_has(const struct store_keys *k, enum store_wrap_kind kind)
{
    return k->w[kind].present;
}

int store_keys_new(struct store_keys **out, uint8_t key[STORE_KEY_LEN])
{
    struct store_keys *k;
    uint8_t id[4];
    int rc;

    *out = NULL;
    k = plat_calloc(1, sizeof(*k));
    if (!k)
        return ERR_NOMEM;
    rc = plat_random_bytes(key, STORE_KEY_LEN);
    if (rc == PLAT_OK)
        rc = plat_random_bytes(id, sizeof(id));
    if (rc < 0) {
        store_keys_free(k);
        return rc;
    }
    snprintf(k->key_id, sizeof(k->key_id), "%02x%02x%02x%02x", id[0], id[1],
             id[2], id[3]);
    *out = k;
    return PLAT_OK;
}

/* ---- hex ---------------------------------------------------------------- */

static void to_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Exactly 2n hex digits into n bytes: 0, else -1. */
static int from_hex(const char *s, uint8_t *out, size_t n)
{
    size_t i;

    if (!s || strlen(s) != 2 * n)
        return -1;
    for (i = 0; i < n; i++) {
        int hi = plat_hex_digit(s[2 * i]), lo = plat_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- wrapping ----------------------------------------------------------- */

static void wrap_aad(const struct store_keys *k, int kind, char *aad,
                     size_t n)
{
    snprintf(aad, n, "agent-store-key/1 %s %s", kind_name(kind), k->key_id);
}

static int wrap_key(const struct store_keys *k, int kind,
                    const uint8_t kek[STORE_KEY_LEN],
                    const uint8_t key[STORE_KEY_LEN], struct wrap *w)
{
    mbedtls_gcm_context gcm;
    char aad[64];
    int ret, rc;

    rc = plat_random_bytes(w->nonce, NONCE_LEN);
    if (rc < 0)
        return rc;
    wrap_aad(k, kind, aad, sizeof(aad));
    mbedtls_gcm_init(&gcm);
    ret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, kek, 256);
    if (ret == 0)
        ret = mbedtls_gcm_crypt_and_tag(
            &gcm, MBEDTLS_GCM_ENCRYPT, STORE_KEY_LEN, w->nonce, NONCE_LEN,
            (const uint8_t *)aad, strlen(aad), key, w->wrapped, TAG_LEN,
            w->wrapped + STORE_KEY_LEN);
    mbedtls_gcm_free(&gcm);
    if (ret != 0)
        return plat_err_set(ERR_GENERIC, "cannot wrap the store key "
                            "(mbedtls -0x%04x)", (unsigned)-ret);
    w->present = 1;
    return PLAT_OK;
}

static int unwrap_key(const struct store_keys *k, int kind,
                      const uint8_t kek[STORE_KEY_LEN],
                      uint8_t key[STORE_KEY_LEN])
{
    const struct wrap *w = &k->w[kind];
    mbedtls_gcm_context gcm;
    char aad[64];
    int ret;

    wrap_aad(k, kind, aad, sizeof(aad));
    mbedtls_gcm_init(&gcm);
    ret = mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, kek, 256);
    if (ret == 0)
        ret = mbedtls_gcm_auth_decrypt(
            &gcm, STORE_KEY_LEN, w->nonce, NONCE_LEN, (const uint8_t *)aad,
            strlen(aad), w->wrapped + STORE_KEY_LEN, TAG_LEN, w->wrapped,
            key);
    mbedtls_gcm_free(&gcm);
    if (ret != 0) {
        plat_wipe(key, STORE_KEY_LEN);
        return ERR_AUTH;
    }
    return PLAT_OK;
}

/* ---- passphrase --------------------------------------------------------- */

static int pbkdf2(const char *pass, size_t len, const uint8_t *salt,
                  unsigned iterations, uint8_t out[STORE_KEY_LEN])
{
    mbedtls_md_context_t md;
    int ret;

    mbedtls_md_init(&md);
    ret = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                           1);
    if (ret == 0)
        ret = mbedtls_pkcs5_pbkdf2_hmac(&md, (const uint8_t *)pass, len, salt,
                                        SALT_LEN, iterations, STORE_KEY_LEN,
                                        out);
    mbedtls_md_free(&md);
    if (ret != 0)
        return ret == MBEDTLS_ERR_MD_ALLOC_FAILED
                   ? ERR_NOMEM
                   : plat_err_set(ERR_GENERIC, "key derivation failed "
                                  "(mbedtls -0x%04x)", (unsigned)-ret);
    return PLAT_OK;
}

/* Iterations that take TARGET_MS here: time a sample, scale it. */
static int calibrate(unsigned *out)
{
    uint8_t salt[SALT_LEN] = {0}, dk[STORE_KEY_LEN];
    unsigned sample = 20000;
    int64_t t0, ms;
    double n;
    int rc;

    if (test_iterations) {
        *out = test_iterations;
        return PLAT_OK;
    }
    for (;;) {
        t0 = plat_time_mono_us();
        rc = pbkdf2("calibrate", 9, salt, sample, dk);
        if (rc < 0)
            return rc;
        ms = (plat_time_mono_us() - t0) / 1000;
        if (ms >= 50 || sample >= 2000000)
            break;
        sample *= 4;
    }
    n = (double)sample * TARGET_MS / (double)(ms > 0 ? ms : 1);
    *out = n < MIN_ITERATIONS ? MIN_ITERATIONS
           : n > 100000000.0  ? 100000000u
                              : (unsigned)n;
    return PLAT_OK;
}

int store_keys_add_passphrase(struct store_keys *k,
                              const uint8_t key[STORE_KEY_LEN],
                              const char *pass, size_t len)
{
    struct wrap w;
    uint8_t kek[STORE_KEY_LEN];
    int rc;

    if (len == 0)
        return plat_err_set(ERR_INVALID, "the passphrase is empty");
    memset(&w, 0, sizeof(w));
    rc = calibrate(&w.iterations);
    if (rc == PLAT_OK)
        rc = plat_random_bytes(w.salt, SALT_LEN);
    if (rc == PLAT_OK)
        rc = pbkdf2(pass, len, w.salt, w.iterations, kek);
    if (rc == PLAT_OK)
        rc = wrap_key(k, STORE_WRAP_PASSPHRASE, kek, key, &w);
    if (rc == PLAT_OK)
        k->w[STORE_WRAP_PASSPHRASE] = w;
    plat_wipe(kek, sizeof(kek));
    plat_wipe(&w, sizeof(w));
    return rc;
}

int store_keys_unlock_passphrase(const struct store_keys *k,
                                 const char *pass, size_t len,
                                 uint8_t key[STORE_KEY_LEN])
{
    const struct wrap *w = &k->w[STORE_WRAP_PASSPHRASE];
    uint8_t kek[STORE_KEY_LEN];
    int rc;

    if (!w->present)
        return plat_err_set(ERR_NOTFOUND, "the store has no passphrase (it "
                            "opens with its key file)");
    rc = pbkdf2(pass, len, w->salt, w->iterations, kek);
    if (rc == PLAT_OK)
        rc = unwrap_key(k, STORE_WRAP_PASSPHRASE, kek, key);
    plat_wipe(kek, sizeof(kek));
    if (rc == ERR_AUTH)
        return plat_err_set(ERR_AUTH, "wrong passphrase for the store");
    return rc;
}

/* ---- key file ----------------------------------------------------------- */

int store_keys_make_keyfile(const char *keyfile)
{
    uint8_t raw[STORE_KEY_LEN];
    char text[2 * STORE_KEY_LEN + 2];
    ssize_t n;
    int fd, rc;

    rc = plat_random_bytes(raw, sizeof(raw));
    if (rc < 0)
        return rc;
    to_hex(raw, sizeof(raw), text);
    plat_wipe(raw, sizeof(raw));
    strcat(text, "\n");
    fd = open(keyfile, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0) {
        plat_wipe(text, sizeof(text));
        return plat_err_set(errno == EEXIST ? ERR_EXISTS : ERR_IO,
                            "cannot create key file %s: %s", keyfile,
                            strerror(errno));
    }
    n = write(fd, text, strlen(text));
    rc = n == (ssize_t)strlen(text) && fsync(fd) == 0 ? PLAT_OK : ERR_IO;
    close(fd);
    plat_wipe(text, sizeof(text));
    if (rc < 0) {
        unlink(keyfile);
        return plat_err_set(ERR_IO, "cannot write key file %s", keyfile);
    }
    return PLAT_OK;
}

int store_keys_read_keyfile(const char *keyfile, uint8_t kek[STORE_KEY_LEN])
{
    char *text = NULL;
    size_t len = 0;
    unsigned mode = 0;
    int rc;

    rc = plat_fs_mode(keyfile, &mode);
    if (rc < 0)
        return rc == ERR_NOTFOUND
                   ? plat_err_set(ERR_NOTFOUND, "key file %s does not exist",
                                  keyfile)
                   : rc;
    if (mode & 077)
        return plat_err_set(ERR_INVALID, "key file %s can be read by other "
                            "users (mode %03o): chmod 600 %s", keyfile,
                            mode & 0777, keyfile);
    rc = plat_fs_read_file(keyfile, 1024, &text, &len);
    if (rc < 0)
        return rc;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (from_hex(text, kek, STORE_KEY_LEN) < 0)
        rc = plat_err_set(ERR_INVALID, "key file %s is not a store key (64 "
                          "hex digits)", keyfile);
    plat_wipe(text, len);
    plat_free(text);
    return rc;
}

int store_keys_add_keyfile(struct store_keys *k,
                           const uint8_t key[STORE_KEY_LEN],
                           const char *keyfile)
{
    uint8_t kek[STORE_KEY_LEN];
    struct wrap w;
    int rc;

    if (!plat_fs_exists(keyfile)) {
        rc = store_keys_make_keyfile(keyfile);
        if (rc < 0)
            return rc;
    }
    memset(&w, 0, sizeof(w));
    rc = store_keys_read_keyfile(keyfile, kek);
    if (rc == PLAT_OK)
        rc = wrap_key(k, STORE_WRAP_KEYFILE, kek, key, &w);
    if (rc == PLAT_OK)
        k->w[STORE_WRAP_KEYFILE] = w;
    plat_wipe(kek, sizeof(kek));
    return rc;
}

int store_keys_unlock_keyfile(const struct store_keys *k,
                              const char *keyfile,
                              uint8_t key[STORE_KEY_LEN])
{
    uint8_t kek[STORE_KEY_LEN];
    int rc;

    if (!k->w[STORE_WRAP_KEYFILE].present)
        return plat_err_set(ERR_NOTFOUND, "the store has no key file (it "
                            "opens with its passphrase)");
    rc = store_keys_read_keyfile(keyfile, kek);
    if (rc == PLAT_OK)
        rc = unwrap_key(k, STORE_WRAP_KEYFILE, kek, key);
    plat_wipe(kek, sizeof(kek));
    if (rc == ERR_AUTH)
        return plat_err_set(ERR_AUTH, "key file %s is not the key of this "
                            "store", keyfile);
    return rc;
}

int store_keys_remove(struct store_keys *k, enum store_wrap_kind kind)
{
    if (!k->w[kind].present)
        return plat_err_set(ERR_NOTFOUND, "the store has no %s",
                            kind == STORE_WRAP_PASSPHRASE ? "passphrase"
                                                          : "key file");
    if (!k->w[!kind].present)
        return plat_err_set(ERR_INVALID, "the %s is the store's only key: "
                            "add another first (removing it would lock the "
                            "data away for good)",
                            kind == STORE_WRAP_PASSPHRASE ? "passphrase"
                                                          : "key file");
    plat_wipe(&k->w[kind], sizeof(k->w[kind]));
    return PLAT_OK;
}

/* ---- the file ----------------------------------------------------------- */

static int add_hex(cJSON *o, const char *name, const uint8_t *p, size_t n)
{
    char hex[2 * (STORE_KEY_LEN + TAG_LEN) + 1];

    to_hex(p, n, hex);
    return cJSON_AddStringToObject(o, name, hex) ? PLAT_OK : ERR_NOMEM;
}

int store_keys_save(const struct store_keys *k, const char *store_path)
{
    char *path = store_keys_path(store_path);
    int rc;

    if (!path)
        return ERR_NOMEM;
    rc = store_keys_save_to(k, path);
    plat_free(path);
    return rc;
}

int store_keys_save_to(const struct store_keys *k, const char *path)
{
    cJSON *root = cJSON_CreateObject(), *arr = NULL, *o;
    char *text = NULL;
    int kind, rc = ERR_NOMEM;

    if (!root || !path)
        goto done;
    if (!cJSON_AddStringToObject(root, "format", FORMAT) ||
        !cJSON_AddStringToObject(root, "key_id", k->key_id) ||
        !(arr = cJSON_AddArrayToObject(root, "wraps")))
        goto done;
    for (kind = 0; kind < 2; kind++) {
        const struct wrap *w = &k->w[kind];

        if (!w->present)
            continue;
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            goto done;
        }
        if (!cJSON_AddStringToObject(o, "kind", kind_name(kind)))
            goto done;
        if (kind == STORE_WRAP_PASSPHRASE &&
            (!cJSON_AddStringToObject(o, "kdf", "pbkdf2-hmac-sha256") ||
             !cJSON_AddNumberToObject(o, "iterations", w->iterations) ||
             add_hex(o, "salt", w->salt, SALT_LEN) < 0))
            goto done;
        if (add_hex(o, "nonce", w->nonce, NONCE_LEN) < 0 ||
            add_hex(o, "wrapped", w->wrapped, sizeof(w->wrapped)) < 0)
            goto done;
    }
    text = cJSON_Print(root);
    if (!text)
        goto done;
    rc = plat_fs_write_atomic(path, text, strlen(text), 0600);
done:
    if (rc == ERR_NOMEM)
        plat_err_set(ERR_NOMEM, "out of memory writing the store keys");
    cJSON_free(text);
    cJSON_Delete(root);
    return rc;
}

static const char *str_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int store_keys_load(const char *store_path, struct store_keys **out)
{
    char *path = store_keys_path(store_path);
    int rc;

    *out = NULL;
    if (!path)
        return ERR_NOMEM;
    rc = store_keys_load_from(path, out);
    plat_free(path);
    return rc;
}

int store_keys_load_from(const char *path, struct store_keys **out)
{
    char *text = NULL;
    struct store_keys *k = NULL;
    const cJSON *arr, *o, *it;
    cJSON *root = NULL;
    int rc;

    *out = NULL;
    rc = plat_fs_read_file(path, KEYS_MAX, &text, NULL);
    if (rc == ERR_NOTFOUND) {
        rc = plat_err_set(ERR_NOTFOUND, "no key ring %s", path);
        goto done;
    }
    if (rc < 0)
        goto done;
    k = plat_calloc(1, sizeof(*k));
    root = cJSON_Parse(text);
    if (!k) {
        rc = ERR_NOMEM;
        goto done;
    }
    rc = plat_err_set(ERR_CORRUPT, "key ring %s is damaged", path);
    if (!root || !str_of(root, "format") ||
        strcmp(str_of(root, "format"), FORMAT) != 0 ||
        !str_of(root, "key_id") || strlen(str_of(root, "key_id")) != 8)
        goto done;
    snprintf(k->key_id, sizeof(k->key_id), "%s", str_of(root, "key_id"));
    arr = cJSON_GetObjectItemCaseSensitive(root, "wraps");
    cJSON_ArrayForEach(o, arr) {
        const char *kind_s = str_of(o, "kind");
        int kind = kind_s && strcmp(kind_s, "passphrase") == 0 ? 0
                   : kind_s && strcmp(kind_s, "keyfile") == 0  ? 1
                                                               : -1;
        struct wrap *w;

        if (kind < 0)
            goto done;
        w = &k->w[kind];
        if (from_hex(str_of(o, "nonce"), w->nonce, NONCE_LEN) < 0 ||
            from_hex(str_of(o, "wrapped"), w->wrapped, sizeof(w->wrapped)) <
                0)
            goto done;
        if (kind == STORE_WRAP_PASSPHRASE) {
            it = cJSON_GetObjectItemCaseSensitive(o, "iterations");
            if (!cJSON_IsNumber(it) || it->valuedouble < 1000 ||
                it->valuedouble > 1e9 ||
                from_hex(str_of(o, "salt"), w->salt, SALT_LEN) < 0)
                goto done;
            w->iterations = (unsigned)it->valuedouble;
        }
        w->present = 1;
    }
    if (!k->w[0].present && !k->w[1].present)
        goto done;
    plat_err_clear();
    rc = PLAT_OK;
    *out = k;
    k = NULL;
done:
    cJSON_Delete(root);
    if (text)
        plat_wipe_str(text);
    plat_free(text);
    store_keys_free(k);
    return rc;
}
