/*
 * store_crypt_gcm.c - AES-256-GCM for pages: libgcrypt through dlopen,
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

#define GCRYPT_SONAME "libgcrypt.so.20"
#define GCRYPT_MIN_VERSION "1.8.0"

/* The libgcrypt functions used, as <gcrypt.h> declares them (an opaque
 * pointer for gcry_cipher_hd_t, unsigned int for gcry_error_t: 0 is
 * success, the low 16 bits the error code); store_crypt_gcm.h says why
 * not the header. */
#define GCRY_CIPHER_AES256 9
#define GCRY_CIPHER_MODE_GCM 9
#define GPG_ERR_CHECKSUM 10 /* gcry_cipher_checktag: the tag differs */
#define GPG_ERR_CODE(e) ((e) & 0xFFFFu)

static struct {
    const char *(*check_version)(const char *req);
    unsigned (*open)(void **hd, int algo, int mode, unsigned flags);
    void (*close)(void *hd);
    unsigned (*setkey)(void *hd, const void *key, size_t n);
    unsigned (*setiv)(void *hd, const void *iv, size_t n);
    unsigned (*authenticate)(void *hd, const void *aad, size_t n);
    unsigned (*encrypt)(void *hd, void *out, size_t outn, const void *in,
                        size_t inn);
    unsigned (*decrypt)(void *hd, void *out, size_t outn, const void *in,
                        size_t inn);
    unsigned (*gettag)(void *hd, void *tag, size_t n);
    unsigned (*checktag)(void *hd, const void *tag, size_t n);
} gc;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int usable;          /* libgcrypt loaded and checked */
static char load_msg[200];  /* why not, "" when it is simply absent */

const char *store_crypt_gcm_name(enum store_gcm_backend b)
{
    return b == STORE_GCM_GCRYPT ? "libgcrypt" : "mbedtls";
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

/* The key is scheduled once per handle (at init); each page sets only
 * its nonce, which also resets the handle's GCM state. */
static int gc_seal(struct store_crypt_gcm *g, const uint8_t *nonce,
                   const uint8_t *aad, size_t aad_n, const uint8_t *in,
                   uint8_t *out, size_t n, uint8_t *tag)
{
    if (gc.setiv(g->hd, nonce, STORE_GCM_NONCE) != 0 ||
        gc.authenticate(g->hd, aad, aad_n) != 0 ||
        gc.encrypt(g->hd, out, n, in == out ? NULL : in, in == out ? 0 : n)
            != 0 ||
        gc.gettag(g->hd, tag, STORE_GCM_TAG) != 0)
        return -1;
    return 0;
}

static int gc_open(struct store_crypt_gcm *g, const uint8_t *nonce,
                   const uint8_t *aad, size_t aad_n, const uint8_t *in,
                   uint8_t *out, size_t n, const uint8_t *tag)
{
    unsigned e;

    /* in == out: libgcrypt's in-place form (in NULL, inlen 0). */
    if (gc.setiv(g->hd, nonce, STORE_GCM_NONCE) != 0 ||
        gc.authenticate(g->hd, aad, aad_n) != 0 ||
        gc.decrypt(g->hd, out, n, in == out ? NULL : in, in == out ? 0 : n)
            != 0)
        return STORE_GCM_BROKEN;
    e = gc.checktag(g->hd, tag, STORE_GCM_TAG);
    if (e == 0)
        return STORE_GCM_OK;
    return GPG_ERR_CODE(e) == GPG_ERR_CHECKSUM ? STORE_GCM_BADTAG
                                               : STORE_GCM_BROKEN;
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
    /* One handle for both directions: setiv starts each page afresh. */
    if (gc.open(&g->hd, GCRY_CIPHER_AES256, GCRY_CIPHER_MODE_GCM, 0) != 0) {
        g->hd = NULL;
        return -1;
    }
    return gc.setkey(g->hd, key, STORE_GCM_KEY) == 0 ? 0 : -1;
}

void store_crypt_gcm_free(struct store_crypt_gcm *g)
{
    if (!g->ready)
        return;
    if (g->backend == STORE_GCM_MBEDTLS) {
        mbedtls_gcm_free(&g->mb);
    } else {
        /* gcry_cipher_close wipes the key schedule. */
        if (g->hd)
            gc.close(g->hd);
    }
    memset(g, 0, sizeof(*g));
}

int store_crypt_gcm_seal(struct store_crypt_gcm *g,
                         const uint8_t nonce[STORE_GCM_NONCE],
                         const uint8_t *aad, size_t aad_n, const uint8_t *in,
                         uint8_t *out, size_t n, uint8_t tag[STORE_GCM_TAG])
{
    return g->backend == STORE_GCM_GCRYPT
               ? gc_seal(g, nonce, aad, aad_n, in, out, n, tag)
               : mb_seal(g, nonce, aad, aad_n, in, out, n, tag);
}

int store_crypt_gcm_open(struct store_crypt_gcm *g,
                         const uint8_t nonce[STORE_GCM_NONCE],
                         const uint8_t *aad, size_t aad_n, const uint8_t *in,
                         uint8_t *out, size_t n,
                         const uint8_t tag[STORE_GCM_TAG])
{
    int rc = g->backend == STORE_GCM_GCRYPT
                 ? gc_open(g, nonce, aad, aad_n, in, out, n, tag)
                 : mb_open(g, nonce, aad, aad_n, in, out, n, tag);

    if (rc != STORE_GCM_OK)
        plat_wipe(out, n);
    return rc;
}

/* ---- loading libgcrypt ------------------------------------------------ */

/* A page sealed by both backends must come out byte for byte the same
 * (the bytes on disk do not depend on the backend), open again with
 * libgcrypt, and fail its check once a bit of the tag is flipped. */
#define KAT_LEN 4068
static const char *known_answer(void)
{
    static uint8_t pt[KAT_LEN], ct_mb[KAT_LEN], ct_gc[KAT_LEN],
        back[KAT_LEN];
    uint8_t key[STORE_GCM_KEY], nonce[STORE_GCM_NONCE], aad[105];
    uint8_t tag_mb[STORE_GCM_TAG], tag_gc[STORE_GCM_TAG];
    struct store_crypt_gcm mb, g;
    const char *why = NULL;
    size_t i;

    memset(&mb, 0, sizeof(mb));
    memset(&g, 0, sizeof(g));
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
    else if (store_crypt_gcm_init(&g, STORE_GCM_GCRYPT, key) < 0 ||
             gc_seal(&g, nonce, aad, sizeof(aad), pt, ct_gc, KAT_LEN,
                     tag_gc) < 0)
        why = "its AES-256-GCM failed to seal a test page";
    else if (memcmp(ct_mb, ct_gc, KAT_LEN) != 0 ||
             memcmp(tag_mb, tag_gc, STORE_GCM_TAG) != 0)
        why = "its AES-256-GCM disagrees with mbedTLS's on a test page";
    else if (gc_open(&g, nonce, aad, sizeof(aad), ct_gc, back, KAT_LEN,
                     tag_gc) != STORE_GCM_OK ||
             memcmp(back, pt, KAT_LEN) != 0)
        why = "its AES-256-GCM does not open a page it sealed";
    if (!why) {
        /* In place, as the database reads do. */
        memcpy(back, ct_gc, KAT_LEN);
        if (gc_open(&g, nonce, aad, sizeof(aad), back, back, KAT_LEN,
                    tag_gc) != STORE_GCM_OK ||
            memcmp(back, pt, KAT_LEN) != 0)
            why = "its AES-256-GCM does not open a page in place";
    }
    if (!why) {
        tag_gc[5] ^= 0x10;
        if (gc_open(&g, nonce, aad, sizeof(aad), ct_gc, back, KAT_LEN,
                    tag_gc) != STORE_GCM_BADTAG)
            why = "its AES-256-GCM accepts a wrong tag";
    }
    store_crypt_gcm_free(&mb);
    store_crypt_gcm_free(&g);
    return why;
}

#define GC_FN(member, name) { (void **)&gc.member, name }

static void load(void)
{
    /* ISO C has no conversion from void * to a function pointer; POSIX
     * dlsym needs one: the table is written through void ** slots (as in
     * sync/http/http_curl.c). */
    const struct {
        void **slot;
        const char *name;
    } fns[] = {
        GC_FN(check_version, "gcry_check_version"),
        GC_FN(open, "gcry_cipher_open"),
        GC_FN(close, "gcry_cipher_close"),
        GC_FN(setkey, "gcry_cipher_setkey"),
        GC_FN(setiv, "gcry_cipher_setiv"),
        GC_FN(authenticate, "gcry_cipher_authenticate"),
        GC_FN(encrypt, "gcry_cipher_encrypt"),
        GC_FN(decrypt, "gcry_cipher_decrypt"),
        GC_FN(gettag, "gcry_cipher_gettag"),
        GC_FN(checktag, "gcry_cipher_checktag"),
    };
    /* Never closed: another user of libgcrypt in the process may have
     * initialised it too, and it keeps its state for the process. */
    void *lib = dlopen(GCRYPT_SONAME, RTLD_NOW | RTLD_LOCAL);
    const char *why;

    if (!lib)
        return; /* not installed: mbedTLS, quietly */
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        *fns[i].slot = dlsym(lib, fns[i].name);
        if (!*fns[i].slot) {
            snprintf(load_msg, sizeof(load_msg),
                     GCRYPT_SONAME " has no %s", fns[i].name);
            memset(&gc, 0, sizeof(gc));
            return;
        }
    }
    /* libgcrypt's own initialisation (idempotent, thread-safe since
     * 1.6): CPU features, self-tests in FIPS mode. No secure memory is
     * asked for: the handles are plain heap, wiped when closed. */
    if (!gc.check_version(GCRYPT_MIN_VERSION)) {
        snprintf(load_msg, sizeof(load_msg), GCRYPT_SONAME " is older "
                 "than " GCRYPT_MIN_VERSION);
        return;
    }
    why = known_answer();
    if (why) {
        snprintf(load_msg, sizeof(load_msg), GCRYPT_SONAME ": %s", why);
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
    if (want && *want && strcmp(want, "libgcrypt") != 0)
        return plat_err_set(ERR_CONFIG, "AGENT_PAGE_CIPHER=%s: expected "
                            "mbedtls or libgcrypt", want);
    pthread_once(&load_once, load);
    if (usable) {
        *out = STORE_GCM_GCRYPT;
        return PLAT_OK;
    }
    if (want && *want)
        return plat_err_set(ERR_CONFIG, "AGENT_PAGE_CIPHER=libgcrypt, but "
                            "%s", load_msg[0] ? load_msg
                                              : "cannot load " GCRYPT_SONAME
                                                " (install libgcrypt20)");
    if (load_msg[0]) {
        /* Once per process: the message does not change. */
        static int told;

        if (!__atomic_exchange_n(&told, 1, __ATOMIC_ACQ_REL))
            log_warn("page cipher: %s; using mbedTLS (slower)", load_msg);
    }
    return PLAT_OK;
}
