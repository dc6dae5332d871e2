/*
 * sync_dist.h - the engine's services for distribution-day data (issue
 * 10), beside sync_ctx.h: activities, the registrations touched since a
 * pull, a person's transaction of a payment, stored message templates and
 * program labels. Same rules as sync_ctx.h: the connector reads and hands
 * over, the engine writes (joining the open batch).
 *
 * Errors: PLAT_OK, ERR_NOTFOUND where a lookup finds nothing, ERR_INVALID
 * for a malformed record, ERR_IO / ERR_CORRUPT / ERR_NOMEM from the store.
 * Memory: what comes back through `out` is the caller's.
 */
#ifndef SYNC_DIST_H
#define SYNC_DIST_H

#include <stddef.h>
#include <stdint.h>

struct sync_ctx;
struct cJSON;

/* Replace the stored activities of `ref` (the data array of GET
 * .../registrations/{id}/activities). Counts against the store budget. */
int sync_put_activities(struct sync_ctx *ctx, const char *ref,
                        const struct cJSON *activities);

/* Registrations this device gave a voucher or a message (an outbox
 * entry made or settled) after `since` (the store's clock; "" = all), oldest first, at most
 * `limit`: refs (free with sync_strings_free), server ids (plat_free),
 * *last_out (32 bytes) the time of the last one, for the next call. */
int sync_refs_touched(struct sync_ctx *ctx, const char *since, int limit,
                      char ***refs_out, int64_t **ids_out, size_t *n_out,
                      char *last_out);

/* The stored 121 transaction of `ref` in `payment_id` (the latest when
 * there are several); ERR_NOTFOUND when none. */
int sync_get_transaction(struct sync_ctx *ctx, int payment_id,
                         const char *ref, struct cJSON **out);

/* The stored message template (type, language) of `program_id`;
 * ERR_NOTFOUND when none. */
int sync_get_template(struct sync_ctx *ctx, int program_id, const char *type,
                      const char *language, struct cJSON **out);

/* Store one template as 121 answered it (after a POST/PATCH). */
int sync_put_template(struct sync_ctx *ctx, int program_id,
                      const struct cJSON *tpl);

/* Apply the label object `label` to attribute `attr` of the stored
 * program (after 121 accepted the PATCH). */
int sync_put_label(struct sync_ctx *ctx, int program_id, const char *attr,
                   const struct cJSON *label);

#endif
