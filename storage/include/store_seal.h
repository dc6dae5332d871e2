/*
 * store_seal.h - the sealed stream shared by backups (store_backup.h) and
 * bundles (store_bundle.h): data deflated (zlib) and encrypted with
 * AES-256-GCM in authenticated 64 KiB chunks.
 *
 *   header (44 bytes): an 8-byte magic ("AGENTBK1", "AGENTBN1", ...),
 *     version 1, key kind (the caller's number), 2 bytes 0, an 8-byte
 *     random nonce prefix, the data length (u64 BE), and a 16-byte tag
 *     (GCM over nothing, the first 28 bytes as associated data) that
 *     tells a wrong key from a damaged file before anything is read;
 *   chunks: length (u32 BE), final flag (1 byte), ciphertext, 16-byte tag;
 *     nonce = prefix || chunk number (u32 BE); associated data = the first
 *     28 header bytes, the chunk number and the final flag, so chunks
 *     cannot be reordered, dropped, or cut off after any of them.
 *
 * store_unseal checks everything (header tag, every chunk, the final flag,
 * no trailing bytes, the data length) before it hands anything back.
 *
 * Errors: ERR_AUTH (the key does not open the header), ERR_CORRUPT (damaged
 * or cut short; not this magic), ERR_TOOLARGE, ERR_NOMEM. Messages start
 * with the caller's `what` ("backup /media/usb/b.bin"). Data handed out is
 * the caller's: wipe and free (plat_free).
 */
#ifndef STORE_SEAL_H
#define STORE_SEAL_H

#include "store_crypt.h"

#include <stddef.h>
#include <stdint.h>

struct plat_buf;

#define STORE_SEAL_HDR 44
#define STORE_SEAL_MAX ((uint64_t)0xfffffe00u) /* zlib counts in 32 bits */

/* Append the sealed stream of data[0, len) to `out`. */
int store_seal(const char magic[8], int kind, const uint8_t *data,
               size_t len, const uint8_t key[STORE_KEY_LEN],
               struct plat_buf *out);

/* The key kind in the header of `file` (flen bytes), without the key. */
int store_seal_kind(const uint8_t *file, size_t flen, const char magic[8],
                    const char *what, int *kind_out);

/* Open the sealed stream that is exactly file[0, flen): the data in *out
 * (allocated, *out_len bytes; at most `max` bytes). */
int store_unseal(const uint8_t *file, size_t flen, const char magic[8],
                 const uint8_t key[STORE_KEY_LEN], uint64_t max,
                 const char *what, uint8_t **out, size_t *out_len);

#endif
