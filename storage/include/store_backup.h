/*
 * store_backup.h - encrypted, compressed backups of the store (`agent
 * backup FILE`, `agent restore FILE`).
 *
 * A backup is a consistent copy made with SQLite's online backup API into
 * memory (nothing in clear touches the disk), serialized, deflated (zlib)
 * and encrypted with AES-256-GCM in authenticated chunks (the sealed
 * stream of store_seal.h, magic "AGENTBK1", shared with bundles):
 *   header (44 bytes): "AGENTBK1", version 1, key kind (1: derived from the
 *     store's data key, 2: a recipient key file), 2 bytes 0, an 8-byte
 *     random nonce prefix, the image length (u64 BE), and a 16-byte tag
 *     (GCM over nothing, the first 28 bytes as associated data) that
 *     tells a wrong key from a damaged file before anything is read;
 *   chunks: length (u32 BE), final flag (1 byte), ciphertext, 16-byte tag;
 *     nonce = prefix || chunk number (u32 BE); associated data = the first
 *     28 header bytes, the chunk number and the final flag, so chunks
 *     cannot be reordered, dropped, or cut off after any of them.
 * The key: 32 bytes, SHA-256("agent backup key v1" || data key) for a
 * store-key backup, or the 32 bytes of a key file (the format of
 * store_keys.h) for a recipient key.
 *
 * store_backup_read checks everything (header tag, every chunk, the final
 * flag, no trailing bytes, the image length, and then the image itself:
 * SQLite integrity_check, an agent schema this binary knows) before it
 * returns, and store_backup_restore then writes a verified copy beside the
 * store (store_convert.h) for the caller to swap in.
 *
 * Errors: ERR_AUTH (the key does not open the header), ERR_CORRUPT (a
 * damaged or truncated backup, or an image that fails its checks),
 * ERR_VERSION, ERR_IO, ERR_NOMEM. Images are the caller's: wipe and free.
 */
#ifndef STORE_BACKUP_H
#define STORE_BACKUP_H

#include "store_crypt.h"

#include <stddef.h>
#include <stdint.h>

struct store;

enum store_backup_kind { STORE_BACKUP_STORE_KEY = 1,
                         STORE_BACKUP_RECIPIENT = 2 };

/* The backup key of a store-key backup. */
void store_backup_derive(const uint8_t data_key[STORE_KEY_LEN],
                         uint8_t out[STORE_KEY_LEN]);

/* Write the backup of `s` to `out_path` (mode 0600, atomically). */
int store_backup_write(struct store *s, const char *out_path,
                       const uint8_t key[STORE_KEY_LEN], int kind);

/* Read and check `in_path`; *kind_out (may be NULL) gets the key kind
 * from the header (also when the key is wrong). */
int store_backup_kind(const char *in_path, int *kind_out);

/* Restore the backup at `in_path` into a new store file `dst_path`
 * (encrypted with `dst_key`, or plain), checked and verified. */
int store_backup_restore(const char *in_path,
                         const uint8_t key[STORE_KEY_LEN],
                         const char *dst_path, const uint8_t *dst_key);

#endif
