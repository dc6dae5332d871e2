/*
 * store_sign.h - signed files (bundles, store_bundle.h): ECDSA P-256 with
 * SHA-256 from mbedTLS (Debian 12's mbedTLS 2.28 has no Ed25519).
 *
 * Keys: a private key in a PEM file (SEC1 "EC PRIVATE KEY", mode 0600,
 * refused when group or others can read it) and its public key in a PEM
 * file ("PUBLIC KEY", SubjectPublicKeyInfo) that may be given to anyone.
 * A key is named by its fingerprint: SHA-256 of the public key's DER form,
 * the first 8 bytes shown as 16 hex digits.
 *
 * A signed file is BODY || trailer:
 *   "AGENTSG1" (8), fingerprint (32), signature length (1), signature (DER,
 *   at most 72 bytes), trailer length (u16 BE, these 2 bytes included);
 * the signature is over SHA-256(BODY || "AGENTSG1" || fingerprint).
 * Checking finds the pinned key with the trailer's fingerprint among the
 * trusted public key files and verifies: a file signed by any other key,
 * or with any byte changed, is refused before its body is used.
 *
 * Errors: ERR_AUTH (signed by a key that is not pinned), ERR_CORRUPT (no
 * trailer, or the signature does not verify: the file was changed),
 * ERR_INVALID (a key file that is not a P-256 key of the right kind, or a
 * private key file others can read), ERR_NOTFOUND, ERR_EXISTS (keygen
 * would overwrite a file), ERR_IO, ERR_NOMEM. Messages name files, never
 * key material.
 */
#ifndef STORE_SIGN_H
#define STORE_SIGN_H

#include <stddef.h>
#include <stdint.h>

struct plat_buf;

#define STORE_SIGN_FP_HEX 17 /* 16 hex digits and a NUL */

/* A new key pair: `priv_path` (mode 0600) and `pub_path` (mode 0644);
 * neither may exist. fp_out (may be NULL) gets the fingerprint. */
int store_sign_keygen(const char *priv_path, const char *pub_path,
                      char fp_out[STORE_SIGN_FP_HEX]);

/* Sign buf's contents with the private key in `priv_path` and append the
 * trailer to `buf`. */
int store_sign_append(const char *priv_path, struct plat_buf *buf);

/* Check the signed file file[0, flen) against the public key files in
 * `trusted` (paths separated by ';'); *body_len gets the length of the
 * body and fp_out (may be NULL) the signer's fingerprint. `what` names the
 * file in messages. */
int store_sign_check(const uint8_t *file, size_t flen, const char *trusted,
                     const char *what, size_t *body_len,
                     char fp_out[STORE_SIGN_FP_HEX]);

/* Load a key file to check it (for `agent config check`): a private key
 * (is_private 1, also its mode) or a public one. fp_out may be NULL. */
int store_sign_check_key(const char *path, int is_private,
                         char fp_out[STORE_SIGN_FP_HEX]);

/* Call `cb` with each path of a ';'-separated list (spaces around each
 * trimmed, empty ones skipped); a non-zero return stops and is returned. */
int store_sign_each_path(const char *list,
                         int (*cb)(const char *path, void *p), void *p);

#endif
