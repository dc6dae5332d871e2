/*
 * c121_dist.h - the 121 connector's distribution-day phases (issue 10):
 * reconciliation uploads of hand-out marks and FSP files, messages,
 * message template and label edits, and the activities pull. Each runs
 * through the engine's services (sync_ctx.h, sync_dist.h) like the other
 * phases (c121.h) and returns PLAT_OK or an ERR_* with the message set.
 * The outbox payloads they read are described in storage/include/
 * store_dist.h.
 */
#ifndef C121_DIST_H
#define C121_DIST_H

#include "c121.h"

/* Outbox "voucher" entries: grouped per payment into CSV files in the
 * FSP's template (GET {prefix}/payments/excel-reconciliation/template:
 * the match column, status, errorMessage) and uploaded with POST
 * {prefix}/payments/{id}/excel-reconciliation (multipart, at most 10,000
 * rows each). 121 sets each transaction's status, so a re-sent upload
 * changes nothing twice. Rows the answer reports "notFound" are rejected
 * with that reason; the others stay in flight until a stored transaction
 * (pulled after the upload) shows their status, then they are done (an
 * in-flight row whose transaction does not show it yet is sent again). A
 * program without an Excel FSP (404) rejects them all with 121's
 * message. */
int c121_push_vouchers(struct c121 *c);

/* Outbox "message" entries: per batch (one `agent messages send`),
 * chunks of referenceIds in filter.referenceId=$in:, a dry run whose
 * count must equal the chunk (else nothing is sent), then POST
 * {prefix}/registrations/message sent exactly once (no transport retry):
 * the chunk is inflight before it goes; after an unknown outcome the
 * next cycle reads each person's activities and counts a message created
 * after the send's server time (and, for a text, with the same body) as
 * delivered, so a message is never sent twice. */
int c121_push_messages(struct c121 *c);

/* Outbox "template" entries: PATCH /api/notifications/{pid}/
 * message-templates/{type}/{language} {message}, or POST for a new one (a
 * 400 "already exists" turns into the PATCH); 404 rejects. The stored
 * template becomes 121's answer. */
int c121_push_templates(struct c121 *c);

/* Outbox "label" entries: PATCH {prefix}/registration-attributes/{name}
 * {"label": {...}}; 404 rejects with 121's message. */
int c121_push_labels(struct c121 *c);

/* Activities (GET {prefix}/registrations/{id}/activities) of the
 * registrations this device gave a voucher or a message since the last
 * run, at most
 * C121_ACTIVITIES_PER_SYNC per cycle (the rest next time); the first run
 * only sets the mark (a first pull touches everybody). */
#define C121_ACTIVITIES_PER_SYNC 200
int c121_pull_activities(struct c121 *c);

/* ---- shared (c121_dist_util.c) ------------------------------------------ */

/* Send `method` `path` with JSON `body` (may be NULL) and read the answer
 * into *r (dispose it always). PLAT_OK when an answer came. */
struct sync_http_response;
int c121_send_json(struct c121 *c, const char *method, const char *path,
                   const struct cJSON *body, struct sync_http_response *r);

/* Settle `e` as `state`, in a batch of its own. */
int c121_settle_one(struct c121 *c, const struct sync_op *e, int state,
                    const char *msg, int64_t *count);

#endif
