/*
 * store_dist.h - distribution day (issue 10): hand-out marks, FSP
 * reconciliation rows, messages, message templates, program labels,
 * vouchers and look-ups, as store functions that the CLI and the HTTP
 * layer (`agent serve`) call alike.
 *
 * Every write is one transaction (or joins the caller's, store__txn_*):
 * the local change and its outbox entry commit together or not at all, so
 * a kill -9 leaves both or neither. Outbox entries (store_outbox.h):
 *   voucher   ref = the person; payload {"paymentId", "status" (success |
 *             error), "errorMessage"?, "source" ("hand-out" | "import"),
 *             "handedOutAt"?, "handedOutBy"?, "clock": "device"}
 *   message   ref = the person; payload {"batch" (one id per send command),
 *             "message" | "messageTemplateKey"}
 *   template  ref = "$template/<type>/<language>"; payload {"type",
 *             "language", "message", "new" (true: POST, else PATCH)};
 *             base {"message": what the template said before}
 *   label     ref = "$label/<attribute>"; payload {"attribute", "language",
 *             "text", "label" (the whole label object after the change)};
 *             base {"text": the label before}
 * ('$' never appears in a 121 referenceId.)
 *
 * Errors (plat_err.h): ERR_NOTFOUND (no such registration, payment,
 * transaction, template, attribute; the message names it), ERR_EXISTS (a
 * voucher handed out already: the message gives when and by whom),
 * ERR_INVALID (bad argument, named), ERR_IO / ERR_CORRUPT / ERR_NOMEM.
 * Messages name referenceIds, never names, phone numbers or texts.
 *
 * Memory: strings handed to callbacks are borrowed for the call; trees
 * returned through `out` are the caller's (cJSON_Delete).
 */
#ifndef STORE_DIST_H
#define STORE_DIST_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct cJSON;

#define STORE_DIST_BY_MAX 128 /* bytes of a hand-out's "by" (user)       */

/* ---- hand-outs and reconciliation ------------------------------------- */

/* A hand-out as stored: device time (ISO-8601 UTC), who, and the clock. */
struct store_handout {
    char at[32];
    char by[STORE_DIST_BY_MAX + 1];
    char clock[16];            /* "device"                                */
};

/* Mark the voucher of `ref` in payment `payment_id` handed out by `by`
 * (1..STORE_DIST_BY_MAX bytes) now, on the device clock, and queue the
 * reconciliation row (status success). Needs a stored transaction of
 * that payment for `ref` (ERR_NOTFOUND otherwise). A voucher handed out
 * already is refused with ERR_EXISTS, nothing written, and *prev (may be
 * NULL) filled with the first hand-out. *done (may be NULL) receives this
 * hand-out. */
int store_handout_mark(struct store *s, int program_id, const char *ref,
                       int payment_id, const char *by,
                       struct store_handout *prev, struct store_handout *done);

/* The hand-out of (ref, payment); ERR_NOTFOUND (no message) when none. */
int store_handout_get(struct store *s, const char *ref, int payment_id,
                      struct store_handout *out);

/* Agent state key (store_state_get) holding 121's reconciliation
 * template as last pulled: [{"name", "template": [match, "status",
 * "errorMessage"]}] ("[]": the program has no Excel FSP). */
#define STORE_DIST_RECON_TEMPLATE_KEY "121.reconciliation.template"

/* One row of an FSP's reconciliation file. */
struct store_recon_row {
    const char *ref;
    const char *status;        /* "success" or "error"                    */
    const char *error_message; /* may be NULL                             */
};

/* Queue `n` reconciliation rows of payment `payment_id`, all or none.
 * Each ref must have a stored transaction of that payment and status must
 * be success or error: otherwise ERR_INVALID and nothing is queued (the
 * caller checks first with store_recon_check to list every bad row). */
int store_recon_queue(struct store *s, int program_id, int payment_id,
                      const struct store_recon_row *rows, size_t n);

/* Why row `row` cannot be queued: *problem_out "" when it can, else a
 * short text ("unknown referenceId", "no transaction in payment N",
 * "status must be success or error"). `problem` holds 96 bytes. */
int store_recon_check(struct store *s, int payment_id,
                      const struct store_recon_row *row, char *problem);

/* ---- messages ----------------------------------------------------------- */

/* Queue one message to each of refs[0..n): exactly one of `text` (1..1600
 * bytes of UTF-8) and `template_key` (a template type). Unknown refs:
 * ERR_NOTFOUND naming the first, nothing queued. batch_out (may be NULL,
 * 40 bytes) receives the batch id shared by these entries. */
int store_message_queue(struct store *s, int program_id,
                        const char *const *refs, size_t n, const char *text,
                        const char *template_key, char *batch_out);

/* ---- templates and labels ---------------------------------------------- */

/* Each stored template of `program_id` (the local view: edits queued here
 * show at once), ordered by type and language. Non-zero from `cb` stops. */
typedef int (*store_template_cb)(const struct cJSON *tpl, void *payload);
int store_template_list(struct store *s, int program_id, store_template_cb cb,
                        void *payload);
/* One template; ERR_NOTFOUND names type and language. */
int store_template_get(struct store *s, int program_id, const char *type,
                       const char *language, struct cJSON **out);

/* Set the message of template (type, language): the stored template
 * changes at once and a PATCH (or, for a new one, a POST) is queued.
 * type 1..255 bytes, language 2..8 of [a-zA-Z_-], message 1..10,000 bytes
 * of UTF-8. *created_out (may be NULL): 1 when the template is new. The
 * same text as stored: ERR_INVALID "already", nothing queued. */
int store_template_set(struct store *s, int program_id, const char *type,
                       const char *language, const char *message,
                       int *created_out);

/* Write template `tpl` (a 121 template entity) into the store as it is,
 * no outbox entry: the push's answer. */
int store_template_put_one(struct store *s, int program_id,
                           const struct cJSON *tpl);

/* Set the label of attribute `attr` in `language` of the stored program
 * to `text` (at once) and queue the PATCH. ERR_NOTFOUND: no program
 * stored, or no such attribute. */
int store_label_set(struct store *s, int program_id, const char *attr,
                    const char *language, const char *text);

/* Apply label object `label` to attribute `attr` of the stored program,
 * no outbox entry (the push re-applies what 121 accepted). */
int store_label_apply(struct store *s, int program_id, const char *attr,
                      const struct cJSON *label);

/* ---- vouchers ----------------------------------------------------------- */

/* One transaction of a payment with what the store knows of its voucher. */
struct store_voucher_row {
    const char *ref;
    int payment_id;
    int64_t transaction_id;
    const char *tx_status;     /* 121 transaction status                  */
    const char *tx_created;    /* may be NULL                             */
    const char *tx_updated;    /* may be NULL                             */
    const char *fsp_name;      /* may be NULL                             */
    double amount;
    int64_t registration_program_id; /* 0 if unknown                     */
    const void *image;         /* NULL: no image stored                   */
    size_t image_len;
    const char *handed_out_at; /* NULL: not handed out                    */
    const char *handed_out_by;
    const struct cJSON *reg;   /* local view of the person; NULL if the
                                  registration is not stored            */
};
typedef int (*store_voucher_cb)(const struct store_voucher_row *row,
                                void *payload);

/* The transactions of `payment_id` in transaction-id order (with_images 0:
 * image is never loaded, image_len is still set). Non-zero from `cb`
 * stops and is returned. */
int store_vouchers_list(struct store *s, int payment_id, int with_images,
                        store_voucher_cb cb, void *payload);

/* The transactions of `ref`, newest payment first (images not loaded). */
int store_person_transactions(struct store *s, const char *ref,
                              store_voucher_cb cb, void *payload);

/* The stored 121 transaction of `ref` in `payment_id` (the highest id
 * when there are several) as a new object; ERR_NOTFOUND (no message). */
int store_transaction_get(struct store *s, int payment_id, const char *ref,
                          struct cJSON **out);

/* ---- look-up and history ------------------------------------------------ */

/* The people `text` names: a referenceId (exact), a voucher code
 * ("P<payment>-<registrationProgramId>", as `vouchers print` shows it),
 * else a phone number or name (substring, store_reg_search). At most
 * `limit` (0: 20) local views to `cb`. */
int store_lookup(struct store *s, const char *text, int limit,
                 int (*cb)(const struct cJSON *reg, void *payload),
                 void *payload);

/* Replace the stored activities of `ref` (a JSON array). */
int store_activities_put(struct store *s, const char *ref,
                         const struct cJSON *activities);
/* The stored activities of `ref` (a new array; empty when none) and when
 * they were pulled (pulled_at_out, 32 bytes, may be NULL; "" if never). */
int store_activities_get(struct store *s, const char *ref,
                         struct cJSON **out, char *pulled_at_out);

/* The registrations this device touched on distribution day after
 * `since` (the store's own ISO time; "" = any): those with a voucher or
 * message outbox entry made or settled since then, and a 121 id. Oldest first, at most `limit`, with the server
 * ids; *last_out (32 bytes) the time of the last one, for the next call.
 * Free with store_strings_free and plat_free. */
int store_refs_touched(struct store *s, const char *since, int limit,
                       char ***refs_out, int64_t **ids_out, size_t *n_out,
                       char *last_out);

#endif
