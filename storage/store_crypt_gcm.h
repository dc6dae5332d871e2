/*
 * store_crypt_gcm.h - the page cipher of the encrypted store: AES-256-GCM
 * over one page (or a WAL frame's page), from one of two backends that
 * write the same bytes.
 *
 *   - libgcrypt (Debian 12: libgcrypt20 1.10), loaded with
 *     dlopen("libgcrypt.so.20") the first time an encrypted store is
 *     opened, never linked: ~1.2 us a 4 KiB page (AES-NI with PCLMUL or
 *     VAES/VPCLMUL here, the ARMv8 crypto extensions on a Pi 5), where
 *   - mbedTLS 2.28 (Debian 12) runs GCM one 16-byte block at a time
 *     through its cipher layer: ~18 us a page. mbedTLS stays the reference
 *     implementation and the fallback.
 *
 * Why libgcrypt (measured 2026-12-05, README "Encryption at rest", Cost):
 * it is as fast as OpenSSL's libcrypto (1.2 us a page here; libcrypto
 * 1.2-1.5 us) and costs ~1 MB of RSS when loaded against libcrypto's ~3.7
 * MB (OpenSSL 3 maps a bigger library and builds its provider and name
 * tables at the first cipher), which put an encrypted bench_store 3.5 MB
 * over a plain one. nettle (already mapped in the agent through
 * libmicrohttpd -> gnutls) costs almost nothing in RSS but takes 2.4 us a
 * page (its GHASH is not interleaved), too slow for the CPU target.
 * libgcrypt20 is on every Debian 12 system (libsystemd0 and apt depend on
 * it); the package names it in Depends anyway.
 *
 * Which one: store_crypt_gcm_choose(), once per store_crypt instance:
 * mbedTLS when AGENT_PAGE_CIPHER=mbedtls (tests), when
 * store_crypt_prefer_small(1) was called, or when libgcrypt cannot be
 * loaded or misbehaves (a missing function, a version before 1.8, or a
 * known-answer page on which it disagrees with mbedTLS: one warning line
 * in the log, then mbedTLS); libgcrypt otherwise.
 * AGENT_PAGE_CIPHER=libgcrypt asks for libgcrypt and fails (ERR_CONFIG)
 * when it is unusable; any other value is ERR_CONFIG too.
 *
 * Why not linked: linking maps the library into every process, the idle
 * daemon on a plain store included (footprint target: idle RSS < 8 MB).
 * Why the few prototypes are declared in store_crypt_gcm.c rather than
 * taken from <gcrypt.h>: no build dependency (libgcrypt20-dev, also for
 * the arm64 cross build) for ten functions whose ABI the soname
 * libgcrypt.so.20 freezes; the known-answer check at load catches a
 * library that does not behave as declared.
 *
 * Thread safety: loading happens once per process (pthread_once); the
 * function table is read-only afterwards. A struct store_crypt_gcm holds
 * its own cipher handle (keyed once, per file) and must be used by one
 * thread at a time, which SQLite guarantees for one file.
 */
#ifndef STORE_CRYPT_GCM_H
#define STORE_CRYPT_GCM_H

#include <mbedtls/gcm.h>

#include <stddef.h>
#include <stdint.h>

enum store_gcm_backend { STORE_GCM_MBEDTLS = 0, STORE_GCM_GCRYPT = 1 };

#define STORE_GCM_KEY 32
#define STORE_GCM_NONCE 12
#define STORE_GCM_TAG 16

/* The outcome of store_crypt_gcm_open. */
#define STORE_GCM_OK 0
#define STORE_GCM_BADTAG (-1) /* the tag does not verify            */
#define STORE_GCM_BROKEN (-2) /* the library failed (not the data)  */

struct store_crypt_gcm {
    enum store_gcm_backend backend;
    int ready;
    mbedtls_gcm_context mb;
    void *hd; /* libgcrypt: gcry_cipher_hd_t, both directions */
};

/* The backend for a new store_crypt instance (see above). PLAT_OK, or
 * ERR_CONFIG with one line. */
int store_crypt_gcm_choose(enum store_gcm_backend *out);
const char *store_crypt_gcm_name(enum store_gcm_backend b);

/* Key `g` for `backend`. 0, or -1 (allocation or library failure). On
 * failure `g` is still safe to free. */
int store_crypt_gcm_init(struct store_crypt_gcm *g,
                         enum store_gcm_backend backend,
                         const uint8_t key[STORE_GCM_KEY]);
void store_crypt_gcm_free(struct store_crypt_gcm *g);

/* Encrypt n bytes `in` to `out` and write the tag. 0, or -1 (library
 * failure). */
int store_crypt_gcm_seal(struct store_crypt_gcm *g,
                         const uint8_t nonce[STORE_GCM_NONCE],
                         const uint8_t *aad, size_t aad_n, const uint8_t *in,
                         uint8_t *out, size_t n, uint8_t tag[STORE_GCM_TAG]);

/* Decrypt and verify. STORE_GCM_OK, STORE_GCM_BADTAG or STORE_GCM_BROKEN;
 * on anything but OK `out` (n bytes) is wiped. `in` and `out` may be the
 * same buffer. */
int store_crypt_gcm_open(struct store_crypt_gcm *g,
                         const uint8_t nonce[STORE_GCM_NONCE],
                         const uint8_t *aad, size_t aad_n, const uint8_t *in,
                         uint8_t *out, size_t n,
                         const uint8_t tag[STORE_GCM_TAG]);

#endif
