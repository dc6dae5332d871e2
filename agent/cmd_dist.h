/*
 * cmd_dist.h - the distribution-day commands (issue 10): vouchers,
 * look-up, history, reconciliation, exports, messages, templates, labels.
 * They call the store functions of storage/include/store_dist.h, which
 * the HTTP layer calls too.
 */
#ifndef AGENT_CMD_DIST_H
#define AGENT_CMD_DIST_H

struct agent_ctx;
struct cJSON;
struct store;
struct store_voucher_row;

int agent_cmd_vouchers_print(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_vouchers_export(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_vouchers_handout(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_lookup(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_reg_history(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_reconcile_import(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_export_unused(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_messages_send(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_messages_list(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_templates_list(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_templates_show(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_templates_set(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_program_label(struct agent_ctx *ctx, int argc, char **argv);

/* Shared by the cmd_*.c files of this group (cmd_dist_util.c). */

/* --attr "key=value": ERR_USAGE when malformed; *key_out, *value_out point
 * into a copy (plat_free(*key_out)). */
int agent_dist_attr(const char *arg, char **key_out, const char **value_out);

/* 1 when the local view `reg` matches --status and --attr (NULL: any). */
int agent_dist_match(const struct cJSON *reg, const char *status,
                     const char *attr_key, const char *attr_value);

/* The person's name (fullName, else name) and phone number, "" if none. */
const char *agent_dist_name(const struct cJSON *reg);
const char *agent_dist_phone(const struct cJSON *reg);

/* "P<payment>-<registrationProgramId>", the code printed on a voucher. */
void agent_dist_code(char *out, unsigned n, int payment_id, long long rpid);

/* Who is marking: --by, else $AGENT_USER, $USER, or "unknown". */
const char *agent_dist_user(const char *by);
/* Split one CSV line (separator `sep`, "quoted" cells with "" for a quote)
 * in place into at most `max` cells pointing into `line`; returns the
 * number of cells. Used by `reconcile import` and by agent serve's upload. */
int agent_dist_csv_split(char *line, char sep, char **cells, int max);

/* Shared by `reconcile import`, `export unused-vouchers` and agent serve's
 * routes of the same name (one copy of each rule). */

/* 1 if the JSON array `arr` holds the string `s`. */
int agent_dist_in_list(const struct cJSON *arr, const char *s);

/* The registration whose `col` equals `value` exactly (a string value, or
 * a number as "%.17g" prints it: phone numbers stored as numbers), found
 * through the search index (store_reg_search, at most 50 candidates):
 * *ref_out the first match's referenceId (allocated; NULL when none),
 * *count_out how many match. Errors: those of store_reg_search
 * (ERR_INVALID: a value the search refuses). */
int agent_dist_ref_by_value(struct store *st, const char *col,
                            const char *value, char **ref_out,
                            int *count_out);

/* The match columns of 121's reconciliation template as last pulled (a
 * new array): ["referenceId"] when none was pulled yet (121 checks on
 * upload), empty when the program has no Excel FSP. */
int agent_dist_recon_columns(struct store *st, struct cJSON **out);

/* store_voucher_cb (payload: a cJSON array): a voucher issued (a voucher
 * FSP's transaction in status success or waiting) and not handed out on
 * this device is appended as 121's unused-vouchers row (contract 5:
 * referenceId, paymentId, issueDate, whatsappPhoneNumber,
 * lastExternalUpdate). */
int agent_dist_unused_voucher(const struct store_voucher_row *r,
                              void *payload);

#endif
