/*
 * store_keys.h - the key ring of an encrypted store: the random 32-byte
 * data key (store_crypt.h), wrapped by one or two key-encryption keys.
 *
 * The ring lives beside the store in "<store>.keys" (mode 0600, written
 * atomically), a small JSON file:
 *   {"format": "agent-store-keys/1", "key_id": "<8 hex>",
 *    "wraps": [{"kind": "passphrase", "kdf": "pbkdf2-hmac-sha256",
 *               "iterations": N, "salt": HEX, "nonce": HEX, "wrapped": HEX},
 *              {"kind": "keyfile", "nonce": HEX, "wrapped": HEX}]}
 * A wrap is AES-256-GCM of the data key under the KEK, associated data
 * "agent-store-key/1 <kind> <key_id>". The passphrase KEK is PBKDF2-HMAC-
 * SHA256 with a 16-byte random salt and an iteration count measured when
 * the wrap is made (at least 0.25 s on that device, at least 100,000).
 * The key-file KEK is the 32 random bytes of the key file itself (64 hex
 * digits and a newline, mode 0600). Nothing in the ring reveals the data
 * key without one of them: lose both and the store cannot be read.
 *
 * Errors: ERR_NOTFOUND (no ring, no wrap of that kind), ERR_AUTH (wrong
 * passphrase or key file: the wrap does not open), ERR_CORRUPT (a ring
 * that does not parse), ERR_IO, ERR_INVALID (a key file readable by group
 * or others, or malformed; removing the last wrap), ERR_NOMEM. Messages
 * name files, never key material. Key buffers given out are the caller's:
 * wipe them (plat_wipe) when done.
 */
#ifndef STORE_KEYS_H
#define STORE_KEYS_H

#include "store_crypt.h"

#include <stddef.h>
#include <stdint.h>

enum store_wrap_kind { STORE_WRAP_PASSPHRASE = 0, STORE_WRAP_KEYFILE = 1 };

struct store_keys;

/* "<store>.keys" (allocated). */
char *store_keys_path(const char *store_path);

/* A new, empty ring with a new random data key in `key`. */
int store_keys_new(struct store_keys **out, uint8_t key[STORE_KEY_LEN]);
int store_keys_load(const char *store_path, struct store_keys **out);
int store_keys_save(const struct store_keys *k, const char *store_path);
/* The same with the ring file's own path ("<store>.keys.next" while a
 * `agent key rotate` is under way). */
int store_keys_load_from(const char *path, struct store_keys **out);
int store_keys_save_to(const struct store_keys *k, const char *path);
void store_keys_free(struct store_keys *k);

/* 1 if the ring has a wrap of `kind`. */
int store_keys_has(const struct store_keys *k, enum store_wrap_kind kind);

int store_keys_unlock_passphrase(const struct store_keys *k,
                                 const char *pass, size_t len,
                                 uint8_t key[STORE_KEY_LEN]);
int store_keys_unlock_keyfile(const struct store_keys *k,
                              const char *keyfile,
                              uint8_t key[STORE_KEY_LEN]);

/* Add (or replace) the wrap of `kind` for data key `key`. The passphrase
 * wrap calibrates its KDF here (~0.3 s). The key-file wrap reads
 * `keyfile`, or creates it (mode 0600, O_EXCL) when it does not exist. */
int store_keys_add_passphrase(struct store_keys *k,
                              const uint8_t key[STORE_KEY_LEN],
                              const char *pass, size_t len);
int store_keys_add_keyfile(struct store_keys *k,
                           const uint8_t key[STORE_KEY_LEN],
                           const char *keyfile);
/* Remove the wrap of `kind`: ERR_INVALID when it is the last one. */
int store_keys_remove(struct store_keys *k, enum store_wrap_kind kind);

/* The 32 bytes of a key file (refused when group or others can read it). */
int store_keys_read_keyfile(const char *keyfile, uint8_t out[STORE_KEY_LEN]);

/* Create a new key file (32 random bytes as hex, mode 0600, O_EXCL). */
int store_keys_make_keyfile(const char *keyfile);

/* For tests: the iteration count of new passphrase wraps is `n` instead
 * of the measured one (0: measure). */
void store_keys_set_test_iterations(unsigned n);

#endif
