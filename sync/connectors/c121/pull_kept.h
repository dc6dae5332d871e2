/*
 * pull_kept.h - the few members of each pulled registration that the store
 * reads besides its text (store_reg_put_server_text: referenceId, id,
 * programId, created, and the columns status, name, phone), held for a
 * batch without building a tree per record.
 *
 * Each member is held once, as the text it arrived as: a plain string
 * (no escape) as its characters, anything else as its JSON text. At
 * commit pull_kept_object builds the small object the store takes; its
 * plain strings point into the batch (no copy, no parse), the rest is
 * parsed then. Building it from a parsed text (the first pull's 1,000
 * records per batch) used to cost as much as the store's own work on it.
 *
 * Memory: one buffer of the members' bytes and N offsets per row, reused
 * from batch to batch; pull_kept_object's result points into it until
 * the next pull_kept_reset. Errors: ERR_NOMEM (message not set).
 */
#ifndef C121_PULL_KEPT_H
#define C121_PULL_KEPT_H

#include "plat_buf.h"
#include "sync_jscan.h"

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* The members, in this order; PULL_KEPT_ID is the index of "id". */
extern const char *const PULL_KEPT_MEMBERS[];
#define PULL_KEPT_N 8
#define PULL_KEPT_ID 2

struct pull_kept {
    struct plat_buf bytes;
    uint32_t *at;      /* [row * PULL_KEPT_N + i]: offset + 1, 0: absent */
    size_t rows;       /* rows it has room for */
};

int pull_kept_init(struct pull_kept *k, size_t rows);
void pull_kept_reset(struct pull_kept *k);
void pull_kept_dispose(struct pull_kept *k);

/* Row `row`'s members from the spans sync_jscan_object found (m has
 * PULL_KEPT_N entries in PULL_KEPT_MEMBERS order). */
int pull_kept_put_spans(struct pull_kept *k, size_t row,
                        const struct sync_jscan_member *m);

/* Row `row`'s members from a parsed record. */
int pull_kept_put_tree(struct pull_kept *k, size_t row,
                       const struct cJSON *rec);

/* The object of row `row` (NULL: no memory, or a member's text that does
 * not parse, which cannot happen for texts put above); cJSON_Delete it. */
struct cJSON *pull_kept_object(const struct pull_kept *k, size_t row);

#endif
