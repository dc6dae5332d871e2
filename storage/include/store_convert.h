/*
 * store_convert.h - copy a store into a new file with another key (or
 * none): `agent encrypt`, `agent decrypt`, `agent key rotate`.
 *
 * store_copy_to creates `dst_path` (which must not exist) at the schema
 * version of `src`, encrypted with `dst_key` (NULL: plain), copies every
 * row of every table in one transaction (foreign keys checked at the
 * commit), rebuilds the search index, and verifies the copy before it
 * returns: reopened, PRAGMA integrity_check, the search index against the
 * registrations, and the row count of every table equal to the source's.
 * On any failure the new file (and its -wal/-shm) is removed and `src` is
 * untouched. `src` is only read (no transaction may be open on it).
 *
 * store_swap_in puts the verified copy in place of the store: a hard link
 * "<store>.old" keeps the old file, rename(2) moves the copy over the
 * store path (atomic: a crash leaves the old store or the new one), the
 * directory is fsynced, and the old file is overwritten with zeros,
 * fsynced and unlinked (on flash storage the old blocks may survive
 * inside the device: say so to people). The store must be closed.
 *
 * Errors: ERR_EXISTS (dst exists), ERR_CORRUPT (the copy did not verify),
 * ERR_IO, ERR_NOMEM, and the store's own errors. Messages name files and
 * tables, never row values.
 */
#ifndef STORE_CONVERT_H
#define STORE_CONVERT_H

#include <stdint.h>

struct store;

int store_copy_to(struct store *src, const char *dst_path,
                  const uint8_t *dst_key);
int store_swap_in(const char *store_path, const char *copy_path);

/* Remove PATH, PATH-wal, PATH-shm and PATH.sealed (missing is fine). */
void store_remove_files(const char *path);

#endif
