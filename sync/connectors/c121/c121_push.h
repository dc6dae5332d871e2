/*
 * c121_push.h - what the push phases and the confirmation share
 * (push_creates.c, push_edits.c, push_status.c, confirm.c; the helpers
 * live in confirm.c). Not part of the connector's interface (c121.h).
 */
#ifndef C121_PUSH_H
#define C121_PUSH_H

#include "c121.h"
#include "c121_http.h"

#include "plat_buf.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Longest path + query the push builds (121 sits behind proxies whose
 * URL limit is often 8 KB). */
#define C121_URL_MAX 6000

/* A server message kept on a rejected entry. */
#define C121_MSG_MAX 512

/* One outbox entry copied out of the store. */
struct c121_entry {
    int64_t seq;
    char *ref;
    char *payload_text;
    cJSON *payload;
    cJSON *base;          /* NULL for a create */
    char state[16];
    int attempts;
};

struct c121_entries {
    struct c121_entry *v;
    size_t n, cap;
};

/* Load entries of `kind` in `state` (NULL: pending and inflight), seq
 * above `after_seq`, oldest first, at most `limit` (0: all), appending to
 * `out` (zero-initialised by the caller). */
int c121_entries_load(struct c121 *c, const char *kind, const char *state,
                      int64_t after_seq, int limit, struct c121_entries *out);
void c121_entries_free(struct c121_entries *es);

/* Indexes of es->v ordered by (ref, seq): each registration's entries
 * together, oldest first. Allocated (plat_free); NULL when out of memory
 * (no message set). */
size_t *c121_entries_order(const struct c121_entries *es);

/* Equal as 121 compares values: as text ("4" equals 4, true equals
 * "true"), null equals "". */
int c121_same_value(const cJSON *a, const cJSON *b);

/* c121_same_value, except that a phone number (tel attribute) compares by
 * its digits: 121 stores "+31 6 1234" as "3161234". */
int c121_same_field(struct c121 *c, const char *field, const cJSON *a,
                    const cJSON *b);

/* 1 if `field` is a tel attribute (phoneNumber always is). */
int c121_is_tel(struct c121 *c, const char *field);

/* enum sync_policy of `field` (manual when no callback is set). */
int c121_field_policy(struct c121 *c, const char *field);

/* Text of a scalar value as 121 stores it ("" for null/absent); NULL for
 * an object or array. `buf` holds a formatted number. */
const char *c121_value_text(const cJSON *v, char *buf, size_t n);

/* A value as JSON text for a conflict record (allocated with cJSON's
 * allocator: free with cJSON_free; NULL -> "null"). */
char *c121_json_text(const cJSON *v);

/* One transaction around several store writes: begin, then end with the
 * result (commit on PLAT_OK, else roll back); end returns the result. */
int c121_txn_begin(struct c121 *c);
int c121_txn_end(struct c121 *c, int rc);

/* Append "filter.referenceId=$in:a,b,..." for refs[0..] to `b`, as many
 * as fit while b->len stays under `max_len` (at least one). A referenceId
 * holding a comma ($in splits on commas) goes alone as "$eq:". *taken
 * receives how many. */
int c121_append_in_filter(struct plat_buf *b, const char *const *refs,
                          size_t n, size_t max_len, size_t *taken);

/* Move entry `seq` to `state` (with `msg` when rejected) and, when the
 * entry stops applying (rejected, conflict), recompute the local view of
 * `ref`. Joins the caller's transaction. */
int c121_entry_settle(struct c121 *c, int64_t seq, const char *ref,
                      const char *state, const char *msg);

/* c121_entry_settle for entry `e`, adding one to *count once it is
 * settled. */
int c121_entry_settle_count(struct c121 *c, const struct c121_entry *e,
                            const char *state, const char *msg,
                            int64_t *count);

/* The server copy of `ref`; ERR_NOTFOUND when the server has not shown it
 * yet. A registration whose create 121 rejected gives ERR_INVALID with a
 * message for the entries that depend on it. */
int c121_server_copy(struct c121 *c, const char *ref, cJSON **out);

/* Status of a server copy ("new" when 121 still shows null). */
const char *c121_server_status(const cJSON *server);

/* Write a conflict of entry `seq` on `field` (values as cJSON, NULL =
 * null). Joins the caller's transaction. */
int c121_conflict_record(struct c121 *c, int64_t seq, const char *ref,
                         const char *field, const cJSON *base,
                         const cJSON *local, const cJSON *server,
                         const char *auto_resolution);

/* The server's message for row `row` of a 400 array: the entries whose
 * "_row" member (set by the caller when mapping them) is `row`, without
 * lineNumber and referenceId, read by c121_error_message. "" if
 * none. */
void c121_row_message(const cJSON *entries, long row, char *out, size_t n);

/* The referenceId of row `i` of a request, for c121_entry_row. */
typedef const char *(*c121_row_ref_fn)(const void *rows, size_t i);

/* Which of the `n` rows of a request a 400 entry `e` names, from 0; -1 if
 * none (or `e` is not an object). Its lineNumber counts the rows from 1
 * and is taken when that row has the entry's referenceId, or the entry
 * gives none; otherwise the row with that referenceId. */
long c121_entry_row(const cJSON *e, size_t n, c121_row_ref_fn ref_of,
                    const void *rows);

#endif
