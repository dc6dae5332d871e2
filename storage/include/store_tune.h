/*
 * store_tune.h - per-connection tuning a bulk writer may ask for while it
 * runs, and give back after.
 */
#ifndef STORE_TUNE_H
#define STORE_TUNE_H

struct store;

/* Set this connection's page cache to `kib` KiB (PRAGMA cache_size) and
 * give the one it replaces in *old_kib (may be NULL), to be restored with
 * another call. Durability is unchanged: only how many pages stay in
 * memory. Errors: ERR_INVALID (kib <= 0), the store's errors. */
int store_set_cache_kib(struct store *s, int kib, int *old_kib);

#endif
