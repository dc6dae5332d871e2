/*
 * store_search.h - building the search index once instead of row by row.
 *
 * The trigram search index (registrations_search, migration 0002) is
 * normally kept in step by every write, inside the write's transaction.
 * For a first pull (tens of thousands of new rows) it is cheaper to index
 * them all at the end: FTS5's 'rebuild' reads the registrations table
 * once and writes large segments, instead of one segment per batch that
 * later merges copy again.
 *
 * The marker: agent_state key STORE_SEARCH_REBUILD_KEY. While it is set
 *   - no write path touches the index (every write transaction reads the
 *     marker when it begins, so this holds for every connection and
 *     process: CLI add/edit, events, Kobo and EspoCRM pulls, bundles);
 *   - store_reg_search scans the registrations (the same matches, but
 *     ~10 ms per 40,000 rows instead of < 1 ms) and store_integrity_check
 *     does not compare the index with the table;
 *   - store_search_rebuild rebuilds the index and clears the marker in ONE
 *     transaction, so a crash leaves either the marker (and a rebuild to
 *     do) or a complete index.
 * Whoever sets the marker must make sure a rebuild follows (the 121
 * connector rebuilds at the start of the pull after its first one, so
 * the first pull ends with its last batch; a full walk rebuilds at its
 * end).
 *
 * Errors: plat_err.h. ERR_INVALID when called inside an open transaction
 * (both change the store on their own), else the store's errors.
 */
#ifndef STORE_SEARCH_H
#define STORE_SEARCH_H

struct store;

#define STORE_SEARCH_REBUILD_KEY "search.rebuild_pending"

/* Set the marker (its own transaction): writes from now on leave the
 * index alone until store_search_rebuild. */
int store_search_defer(struct store *s);

/* If the marker is set: rebuild the index from the table and clear the
 * marker, one transaction; *rebuilt (may be NULL) is 1 then. Without the
 * marker: nothing is written (one read), *rebuilt 0. */
int store_search_rebuild(struct store *s, int *rebuilt);

/* *pending = 1 while the marker is set (the index is being built). */
int store_search_pending(struct store *s, int *pending);

#endif
