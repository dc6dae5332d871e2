/*
 * store_crypt_gcm.c - AES-256-GCM for pages: libcrypto through dlopen,
 * mbedTLS as the reference and the fallback (contract in
 * store_crypt_gcm.h).
 */
#include "store_crypt_gcm.h"
#include "store_crypt.h"

#include "plat_err.h"
#include "plat_log.h"
#include "plat_secure.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRYPTO_SONAME "libcrypto.so.3"

/* The EVP functions used, as OpenSSL 3's <openssl/evp.h> declares them
 * (opaque pointers instead of the struct types; the header's reasons for
 * not including it are in store_crypt_gcm.h). */
#define EVP_CTRL_AEAD_GET_TAG 0x10
#define EVP_CTRL_AEAD_SET_TAG 0x11

static struct {
    void *(*ctx_new)(void);
    void (*ctx_free)(void *ctx);
    const void *(*aes_256_gcm)(void);
    int (*enc_init)(void *ctx, const void *cipher, void *engine,
                    const unsigned char *key, const unsigned char *iv);
    int (*enc_update)(void *ctx, unsigned char *out, int *outl,
                      const unsigned char *in, int inl);
    int (*enc_final)(void *ctx, unsigned char *out, int *outl);
    int (*dec_init)(void *ctx, const void *cipher, void *engine,
                    const unsigned char *key, const unsigned char *iv);
    int (*dec_update)(void *ctx, unsigned char *out, int *outl,
                      const unsigned char *in, int inl);
    int (*dec_final)(void *ctx, unsigned char *out, int *outl);
    int (*ctx_ctrl)(void *ctx, int type, int arg, void *ptr);
} evp;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int usable;          /* libcrypto loaded and checked */
static char load_msg[200];  /* why not, "" when it is simply absent */

const char *store_crypt_gcm_name(enum store_gcm_backend b)
{
    return b == STORE_GCM_LIBCRYPTO ? "libcrypto" : "mbedtls";
}

/* ---- the two backends ------------------------------------------------- */

static int mb_seal(struct store_crypt_gcm *g, const uint8_t *nonce,
                   const uint8_t *aad, size_t aad_n, const uint8_t *in,
                   uint8_t *out, size_t n, uint8_t *tag)
{
    return mbedtls_gcm_crypt_and_tag(&g->mb, MBEDTLS_GCM_ENCRYPT, n, nonce,
                                     STORE_GCM_NONCE, aad, aad_n, in, out,
                                     STORE_GCM_TAG, tag) == 0
               ? 0
               : -1;
}

static int mb_open(struct store_crypt_gcm *g, const uint8_t *nonce,
                   const uint8_t *aad, size_t aad_n, const uint8_t *in,
                   uint8_t *out, size_t n, const uint8_t *tag)
{
    int rc = mbedtls_gcm_auth_decrypt(&g->mb, n, nonce, STORE_GCM_NONCE, aad,
                                      aad_n, tag, STORE_GCM_TAG, in, out);

    if (rc == 0)
        return STORE_GCM_OK;
    return rc == MBEDTLS_ERR_GCM_AUTH_FAILED ? STORE_GCM_BADTAG
                                             : STORE_GCM_BROKEN;
}

/* The key is scheduled once per context (at init); each page sets only
 * its nonce. */
static int evp_seal(struct store_crypt_gcm *g, const uint8_t *nonce,
                    const uint8_t *aad, size_t aad_n, const uint8_t *in,
                    uint8_t *out, size_t n, uint8_t *tag)
{
    int got = 0, fin = 0;

    if (evp.enc_init(g->seal, NULL, NULL, NULL, nonce) != 1 ||
        evp.enc_update(g->seal, NULL, &got, aad, (int)aad_n) != 1 ||
        evp.enc_update(g->seal, out, &got, in, (int)n) != 1 ||
        evp.enc_final(g->seal, out + got, &fin) != 1 ||
        (size_t)got + (size_t)fin != n ||
        evp.ctx_ctrl(g->seal, EVP_CTRL_AEAD_GET_TAG, STORE_GCM_TAG, tag) != 1)
        return -1;
    return 0;
}

static int evp_open(struct store_crypt_gcm *g, const uint8_t *nonce,
                    const uint8_t *aad, size_t aad_n, const uint8_t *in,
                    uint8_t *out, size_t n, const uint8_t *tag)
{
    uint8_t t[STORE_GCM_TAG];
    int got = 0, fin = 0;

    memcpy(t, tag, sizeof(t)); /* SET_TAG takes a non-const pointer */
    if (evp.dec_init(g->open, NULL, NULL, NULL, nonce) != 1 ||
        evp.dec_update(g->open, NULL, &got, aad, (int)aad_n) != 1 ||
        evp.dec_update(g->open, out, &got, in, (int)n) != 1 ||
        (size_t)got != n ||
        evp.ctx_ctrl(g->open, EVP_CTRL_AEAD_SET_TAG, STORE_GCM_TAG, t) != 1)
        return STORE_GCM_BROKEN;
    /* Only the tag is checked here: GCM has no block left over. */
    if (evp.dec_final(g->open, out + got, &fin) != 1)
        return STORE_GCM_BADTAG;
    return fin == 0 ? STORE_GCM_OK : STORE_GCM_BROKEN;
}

int store_crypt_gcm_init(struct store_crypt_gcm *g,
                         enum store_gcm_backend backend,
                         const uint8_t key[STORE_GCM_KEY])
{
    memset(g, 0, sizeof(*g));
    g->backend = backend;
    g->ready = 1;
    if (backend == STORE_GCM_MBEDTLS) {
        mbedtls_gcm_init(&g->mb);
        return mbedtls_gcm_setkey(&g->mb, MBEDTLS_CIPHER_ID_AES, key,
                                  8 * STORE_GCM_KEY) == 0
                   ? 0
                   : -1;
    }
    g->seal = evp.ctx_new();
    g->open = evp.ctx_new();
    if (!g->seal || !g->open ||
        evp.enc_init(g->seal, evp.aes_256_gcm(), NULL, key, NULL) != 1 ||
        evp.dec_init(g->open, evp.aes_256_gcm(), NULL, key, NULL) != 1)
        return -1;
    return 0;
}

void store_crypt_gcm_free(struct store_crypt_gcm *g)
{
    if (!g->ready)
        return;
    if (g->backend == STORE_GCM_MBEDTLS) {
        mbedtls_gcm_free(&g->mb);
    } else {
        /* EVP_CIPHER_CTX_free wipes the key schedule. */
        if (g->seal)
            evp.ctx_free(g->seal);
        if (g->open)
            evp.ctx_free(g->open);
    }
    memset(g, 0, sizeof(*g));
}

int store_crypt_gcm_seal(struct store_crypt_gcm *g,
                         const uint8_t nonce[STORE_GCM_NONCE],
                         const uint8_t *aad, size_t aad_n, const uint8_t *in,
                         uint8_t *out, size_t n, uint8_t tag[STORE_GCM_TAG])
{
    return g->backend == STORE_GCM_LIBCRYPTO
               ? evp_seal(g, nonce, aad, aad_n, in, out, n, tag)
               : mb_seal(g, nonce, aad, aad_n, in, out, n, tag);
}

int store_crypt_gcm_open(struct store_crypt_gcm *g,
                         const uint8_t nonce[STORE_GCM_NONCE],
                         const uint8_t *aad, size_t aad_n, const uint8_t *in,
                         uint8_t *out, size_t n,
                         const uint8_t tag[STORE_GCM_TAG])
{
    int rc = g->backend == STORE_GCM_LIBCRYPTO
                 ? evp_open(g, nonce, aad, aad_n, in, out, n, tag)
                 : mb_open(g, nonce, aad, aad_n, in, out, n, tag);

    if (rc != STORE_GCM_OK)
        plat_wipe(out, n);
    return rc;
}

/* ---- loading libcrypto ------------------------------------------------ */

/* A page sealed by both backends must come out byte for byte the same
 * (the bytes on disk do not depend on the backend), open again with
 * libcrypto, and fail its check once a bit of the tag is flipped. */
#define KAT_LEN 4068
static const char *known_answer(void)
{
    static uint8_t pt[KAT_LEN], ct_mb[KAT_LEN], ct_evp[KAT_LEN],
        back[KAT_LEN];
    uint8_t key[STORE_GCM_KEY], nonce[STORE_GCM_NONCE], aad[105];
    uint8_t tag_mb[STORE_GCM_TAG], tag_evp[STORE_GCM_TAG];
    struct store_crypt_gcm mb, ev;
    const char *why = NULL;
    size_t i;

    memset(&mb, 0, sizeof(mb));
    memset(&ev, 0, sizeof(ev));
    for (i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 7 + 1);
    for (i = 0; i < sizeof(nonce); i++)
        nonce[i] = (uint8_t)(0xA0 + i);
    for (i = 0; i < sizeof(aad); i++)
        aad[i] = (uint8_t)(i * 13);
    for (i = 0; i < KAT_LEN; i++)
        pt[i] = (uint8_t)(i * 31 + (i >> 8));
    if (store_crypt_gcm_init(&mb, STORE_GCM_MBEDTLS, key) < 0 ||
        mb_seal(&mb, nonce, aad, sizeof(aad), pt, ct_mb, KAT_LEN,
                tag_mb) < 0)
        why = "mbedTLS failed the known-answer page";
    else if (store_crypt_gcm_init(&ev, STORE_GCM_LIBCRYPTO, key) < 0 ||
             evp_seal(&ev, nonce, aad, sizeof(aad), pt, ct_evp, KAT_LEN,
                      tag_evp) < 0)
        why = "its AES-256-GCM failed to seal a test page";
    else if (memcmp(ct_mb, ct_evp, KAT_LEN) != 0 ||
             memcmp(tag_mb, tag_evp, STORE_GCM_TAG) != 0)
        why = "its AES-256-GCM disagrees with mbedTLS's on a test page";
    else if (evp_open(&ev, nonce, aad, sizeof(aad), ct_evp, back, KAT_LEN,
                      tag_evp) != STORE_GCM_OK ||
             memcmp(back, pt, KAT_LEN) != 0)
        why = "its AES-256-GCM does not open a page it sealed";
    if (!why) {
        tag_evp[5] ^= 0x10;
        if (evp_open(&ev, nonce, aad, sizeof(aad), ct_evp, back, KAT_LEN,
                     tag_evp) != STORE_GCM_BADTAG)
            why = "its AES-256-GCM accepts a wrong tag";
    }
    store_crypt_gcm_free(&mb);
    store_crypt_gcm_free(&ev);
    return why;
}

#define EVP_FN(member, name) { (void **)&evp.member, name }

static void load(void)
{
    /* ISO C has no conversion from void * to a function pointer; POSIX
     * dlsym needs one: the table is written through void ** slots (as in
     * sync/http/http_curl.c). */
    const struct {
        void **slot;
        const char *name;
    } fns[] = {
        EVP_FN(ctx_new, "EVP_CIPHER_CTX_new"),
        EVP_FN(ctx_free, "EVP_CIPHER_CTX_free"),
        EVP_FN(aes_256_gcm, "EVP_aes_256_gcm"),
        EVP_FN(enc_init, "EVP_EncryptInit_ex"),
        EVP_FN(enc_update, "EVP_EncryptUpdate"),
        EVP_FN(enc_final, "EVP_EncryptFinal_ex"),
        EVP_FN(dec_init, "EVP_DecryptInit_ex"),
        EVP_FN(dec_update, "EVP_DecryptUpdate"),
        EVP_FN(dec_final, "EVP_DecryptFinal_ex"),
        EVP_FN(ctx_ctrl, "EVP_CIPHER_CTX_ctrl"),
    };
    /* Never closed: OpenSSL keeps state for the process and frees it in
     * its own atexit handler (registered after the leak checker's, so it
     * runs before the check). */
    void *lib = dlopen(CRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);
    const char *why;

    if (!lib)
        return; /* not installed: mbedTLS, quietly */
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        *fns[i].slot = dlsym(lib, fns[i].name);
        if (!*fns[i].slot) {
            snprintf(load_msg, sizeof(load_msg),
                     CRYPTO_SONAME " has no %s", fns[i].name);
            memset(&evp, 0, sizeof(evp));
            return;
        }
    }
    why = known_answer();
    if (why) {
        snprintf(load_msg, sizeof(load_msg), CRYPTO_SONAME ": %s", why);
        return;
    }
    usable = 1;
}

static int prefer_small; /* store_crypt_prefer_small() */

void store_crypt_prefer_small(int on)
{
    __atomic_store_n(&prefer_small, on != 0, __ATOMIC_RELEASE);
}

int store_crypt_gcm_choose(enum store_gcm_backend *out)
{
    const char *want = getenv("AGENT_PAGE_CIPHER");

    *out = STORE_GCM_MBEDTLS;
    if (want && strcmp(want, "mbedtls") == 0)
        return PLAT_OK;
    if (!(want && *want) && __atomic_load_n(&prefer_small, __ATOMIC_ACQUIRE))
        return PLAT_OK;
    if (want && *want && strcmp(want, "libcrypto") != 0)
        return plat_err_set(ERR_CONFIG, "AGENT_PAGE_CIPHER=%s: expected "
                            "mbedtls or libcrypto", want);
    pthread_once(&load_once, load);
    if (usable) {
        *out = STORE_GCM_LIBCRYPTO;
        return PLAT_OK;
    }
    if (want && *want)
        return plat_err_set(ERR_CONFIG, "AGENT_PAGE_CIPHER=libcrypto, but "
                            "%s", load_msg[0] ? load_msg
                                              : "cannot load " CRYPTO_SONAME
                                                " (install libssl3)");
    if (load_msg[0]) {
        /* Once per process: the message does not change. */
        static int told;

        if (!__atomic_exchange_n(&told, 1, __ATOMIC_ACQ_REL))
            log_warn("page cipher: %s; using mbedTLS (slower)", load_msg);
    }
    return PLAT_OK;
}
