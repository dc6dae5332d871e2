/*
 * c121_push.h - what the push phases and the confirmation share
 * (push_creates.c, push_edits.c, push_status.c, confirm.c; the helpers
 * live in push_util.c). Not part of the connector's interface (c121.h).
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

/* Operations of `kind` (enum sync_op_kind) for 121 in `state` (-1:
 * pending and inflight): sync_ops_load. */
int c121_ops_load(struct c121 *c, int kind, int state, int64_t after_seq,
                  int limit, struct sync_ops *out);

/* 1 if an entry of `ops` later than `op` (higher seq) for the same
 * registration also sets `field` in its payload's "data": the server ends
 * with that later value, so op's value of the field needs no confirming. */
int c121_set_again_later(const struct sync_ops *ops, const struct sync_op *op,
                         const char *field);

/* 1 if edit `op` of registration `ref` carries `field` and `v` is the
 * value it sends or its base for it: a value this device knew (the
 * overwrite checks of pull_events.c and push_edits.c). */
int c121_edit_knew(struct c121 *c, const struct sync_op *op, const char *ref,
                   const char *field, const cJSON *v);

/* 1 if `field` is a tel attribute of the stored program. */
int c121_field_is_tel(struct c121 *c, const char *field);

/* Append "filter.referenceId=$in:a,b,..." for refs[0..] to `b`, as many
 * as fit while b->len stays under `max_len` (at least one). A referenceId
 * holding a comma ($in splits on commas) goes alone as "$eq:". *taken
 * receives how many. */
int c121_append_in_filter(struct plat_buf *b, const char *const *refs,
                          size_t n, size_t max_len, size_t *taken);

/* sync_op_settle for operation `e` (enum sync_op_state), adding one to
 * *count once it is settled. Joins the open batch. */
int c121_op_settle_count(struct c121 *c, const struct sync_op *e, int state,
                         const char *msg, int64_t *count);

/* The server copy of `ref`; ERR_NOTFOUND when the server has not shown it
 * yet. A registration whose create 121 rejected gives ERR_INVALID with a
 * message for the operations that depend on it. */
int c121_server_copy(struct c121 *c, const char *ref, cJSON **out);

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
