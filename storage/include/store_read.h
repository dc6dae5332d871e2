/*
 * store_read.h - read-only walks over the stored copies for `agent serve`:
 * registrations (local views), payments, transactions, templates, voucher
 * images, and the counts the dashboard draws. Nothing here writes.
 *
 * JSON is handed out as the stored text (no parse, no print): a caller
 * answering the 121 API copies it as is. Callbacks get borrowed text valid
 * for the call only; a non-zero return stops the walk and is returned.
 * Errors: ERR_NOTFOUND where one thing is asked for and missing (no
 * message set: the caller words it), ERR_IO / ERR_CORRUPT from SQLite.
 */
#ifndef STORE_READ_H
#define STORE_READ_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* 121's exchange rates as last pulled (agent_state; the 121 connector's
 * state "exchange-rates"): the JSON array as 121 answered it. */
#define STORE_EXCHANGE_RATES_KEY "121.exchange-rates"

typedef int (*store_json_cb)(const char *json, size_t len, void *payload);

/* Local views of program `program_id`'s registrations, by 121 id (rows
 * made on the device and not pulled yet last, oldest first). Rows whose
 * status is "deleted" only when `with_deleted`. */
int store_read_registrations(struct store *s, int program_id,
                             int with_deleted, store_json_cb cb,
                             void *payload);

/* The local view of one registration, by referenceId or by 121 id, and
 * its program: *json_out allocated (plat_free). */
int store_read_registration(struct store *s, const char *ref,
                            int *program_id_out, char **json_out);
int store_read_registration_by_id(struct store *s, int64_t id,
                                  int *program_id_out, char **json_out);

/* Payments of a program, newest (highest paymentId) first. */
int store_read_payments(struct store *s, int program_id, store_json_cb cb,
                        void *payload);

/* Transactions of a program (payment_id 0: of every payment), by id. */
int store_read_transactions(struct store *s, int program_id, int payment_id,
                            store_json_cb cb, void *payload);

/* Transactions of a program (payment_id 0: of every payment), by id, each
 * with the local view of its registration in the same program (reg NULL,
 * reg_len 0 when none is stored): one walk over an index join, for the
 * transactions export. */
typedef int (*store_tx_reg_cb)(const char *tx, size_t tx_len,
                               const char *reg, size_t reg_len,
                               void *payload);
int store_read_transactions_joined(struct store *s, int program_id,
                                   int payment_id, store_tx_reg_cb cb,
                                   void *payload);

/* Registration events pulled from 121 (store_event_put), by id; of one
 * registration (its 121 id) or, with registration_id 0, of all. */
int store_read_events(struct store *s, int program_id,
                      int64_t registration_id, store_json_cb cb,
                      void *payload);

/* Message templates of a program. */
int store_read_templates(struct store *s, int program_id, store_json_cb cb,
                         void *payload);

/* A paper voucher image: *image_out and *ctype_out allocated (plat_free);
 * ERR_NOTFOUND when none is stored. */
int store_read_voucher(struct store *s, const char *ref, int payment_id,
                       void **image_out, size_t *len_out, char **ctype_out);

/* Counts for the dashboard, one callback per group: (k1, k2, count, sum).
 *   STORE_GROUP_REG_STATUS   registrations per status (k1), deleted too
 *   STORE_GROUP_REG_DAY      registrations per day created (k1 YYYY-MM-DD)
 *   STORE_GROUP_TX           transactions per fspName (k1) and status
 *                            (k2), sum = amount
 *   STORE_GROUP_OUTBOX       outbox entries per state (k1) and kind (k2),
 *                            done ones left out
 * k1/k2 may be NULL (no value). */
enum store_group {
    STORE_GROUP_REG_STATUS,
    STORE_GROUP_REG_DAY,
    STORE_GROUP_TX,
    STORE_GROUP_OUTBOX
};
typedef int (*store_group_cb)(const char *k1, const char *k2, int64_t count,
                              double sum, void *payload);
int store_read_groups(struct store *s, int program_id, enum store_group g,
                      store_group_cb cb, void *payload);

#endif
