/*
 * serve_read.c - the read endpoints of the 121 API, answered from the
 * store with 121's shapes (contract 121-api.md; the recordings win): the
 * program, FSP configurations, message templates, registrations (list,
 * one), payments and their transactions, the transactions export, the
 * registrations export-list, the stats summary and paper voucher images.
 *
 * Stored JSON is copied as stored wherever 121's shape is the stored one
 * (registrations, payments, transactions): the answer of a list of 40,000
 * is then mostly a memcpy per row.
 */
#include "serve_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"
#include "store.h"
#include "store_program.h"
#include "store_read.h"
#include "store_sync.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct srv_col srv_reg_cols[] = {
    {"referenceId", SRV_COL_STRING, NULL, NULL},
    {"status", SRV_COL_STRING, NULL, NULL},
    {"preferredLanguage", SRV_COL_STRING, NULL, NULL},
    {"fspName", SRV_COL_STRING, NULL, NULL},
    {"programFspConfigurationName", SRV_COL_STRING, NULL, NULL},
    {"programFspConfigurationLabel", SRV_COL_STRING, NULL, "en"},
    {"personAffectedSequence", SRV_COL_STRING, NULL, NULL},
    {"lastMessageStatus", SRV_COL_STRING, NULL, NULL},
    {"duplicateStatus", SRV_COL_STRING, NULL, NULL},
    {"id", SRV_COL_NUMBER, NULL, NULL},
    {"created", SRV_COL_DATE, NULL, NULL},
    {"inclusionScore", SRV_COL_NUMBER, NULL, NULL},
    {"paymentAmountMultiplier", SRV_COL_NUMBER, NULL, NULL},
    {"registrationProgramId", SRV_COL_NUMBER, NULL, NULL},
    {"maxPayments", SRV_COL_NUMBER, NULL, NULL},
    {"paymentCount", SRV_COL_NUMBER, NULL, NULL},
    {"paymentCountRemaining", SRV_COL_NUMBER, NULL, NULL},
};
const size_t srv_reg_ncols = sizeof(srv_reg_cols) / sizeof(srv_reg_cols[0]);

static const struct srv_col tx_cols[] = {
    {"id", SRV_COL_NUMBER, NULL, NULL},
    {"transferValue", SRV_COL_NUMBER, NULL, NULL},
    {"userId", SRV_COL_NUMBER, NULL, NULL},
    {"created", SRV_COL_DATE, NULL, NULL},
    {"updated", SRV_COL_DATE, NULL, NULL},
    {"paymentId", SRV_COL_NUMBER, NULL, NULL},
    {"registrationId", SRV_COL_NUMBER, NULL, NULL},
    {"programFspConfigurationId", SRV_COL_NUMBER, NULL, NULL},
    {"registrationProgramId", SRV_COL_NUMBER, NULL, NULL},
    {"status", SRV_COL_STRING, NULL, NULL},
    {"programFspConfigurationLabel", SRV_COL_STRING, NULL, "en"},
    {"programFspConfigurationName", SRV_COL_STRING, NULL, NULL},
    {"fspName", SRV_COL_STRING, NULL, NULL},
    {"errorMessage", SRV_COL_STRING, NULL, NULL},
    {"registrationStatus", SRV_COL_STRING, NULL, NULL},
    {"registrationReferenceId", SRV_COL_STRING, NULL, NULL},
    {"registrationScope", SRV_COL_STRING, NULL, NULL},
};
#define TX_NCOLS (sizeof(tx_cols) / sizeof(tx_cols[0]))

/* ---- rows --------------------------------------------------------------- */

void srv_rows_free(cJSON **rows, char **texts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (rows)
            cJSON_Delete(rows[i]);
        if (texts)
            plat_free(texts[i]);
    }
    plat_free(rows);
    plat_free(texts);
}

int srv_rows_add(struct srv_rows *r, cJSON *row, const char *text, size_t len)
{
    if (r->n == r->alloc) {
        size_t na = r->alloc ? r->alloc * 2 : 256;
        cJSON **nr = plat_realloc(r->rows, na * sizeof(*nr));

        if (!nr)
            return ERR_NOMEM;
        r->rows = nr;
        if (r->keep_texts) {
            char **nt = plat_realloc(r->texts, na * sizeof(*nt));

            if (!nt)
                return ERR_NOMEM;
            r->texts = nt;
        }
        r->alloc = na;
    }
    if (r->keep_texts) {
        r->texts[r->n] = plat_strndup(text, len);
        if (!r->texts[r->n])
            return ERR_NOMEM;
    }
    r->rows[r->n++] = row;
    return PLAT_OK;
}

int srv_collect(const char *json, size_t len, void *payload)
{
    struct srv_rows *r = payload;
    cJSON *row = cJSON_ParseWithLength(json, len);

    if (!row)
        return plat_err_set(ERR_CORRUPT, "a stored row is not JSON");
    if (!srv_filter_match(r->f, row)) {
        cJSON_Delete(row);
        return 0;
    }
    if (srv_rows_add(r, row, json, len) < 0) {
        cJSON_Delete(row);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    const cJSON *ia = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)a,
                                                       "id");
    const cJSON *ib = cJSON_GetObjectItemCaseSensitive(*(cJSON *const *)b,
                                                       "id");
    double x = cJSON_IsNumber(ia) ? ia->valuedouble : 1e18;
    double y = cJSON_IsNumber(ib) ? ib->valuedouble : 1e18;

    return x < y ? -1 : x > y;
}

int srv_bulk_rows(struct srv_req *q, struct srv_resp *r, int pid,
                  const char *what, cJSON ***rows_out, size_t *n_out)
{
    cJSON *attrs = srv_attr_names(q->st, pid);
    struct srv_filter *f = NULL;
    int dropped = 0, rc;
    char msg[120];

    *rows_out = NULL;
    *n_out = 0;
    rc = attrs ? srv_filter_parse(q, srv_reg_cols, srv_reg_ncols, attrs, &f,
                                  &dropped)
               : plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == ERR_INVALID) {
        plat_err_clear();
        rc = srv_error(r, 400, "A filter value is not valid for its column");
        rc = rc == PLAT_OK ? 1 : rc;
    } else if (rc == PLAT_OK && dropped) {
        snprintf(msg, sizeof(msg), "Unknown filter column or operator: the "
                 "%s would apply to every registration", what);
        rc = srv_error(r, 400, msg);
        rc = rc == PLAT_OK ? 1 : rc;
    } else if (rc == PLAT_OK) {
        rc = srv_reg_rows(q->st, pid, f, 0, rows_out, NULL, n_out);
    }
    srv_filter_free(f);
    cJSON_Delete(attrs);
    return rc;
}

int srv_reg_rows(struct store *st, int pid, const struct srv_filter *f,
                 int with_deleted, cJSON ***rows_out, char ***texts_out,
                 size_t *n_out)
{
    struct srv_rows r = {0};
    const char *const *refs;
    int nrefs = 0, rc = PLAT_OK;

    r.f = f;
    r.keep_texts = texts_out != NULL;
    refs = srv_filter_refs(f, &nrefs);
    if (refs) {
        /* filter.referenceId=$in: one lookup per referenceId. */
        for (int i = 0; i < nrefs && rc == PLAT_OK; i++) {
            char *json = NULL;
            int p = 0, dup = 0;

            for (int k = 0; k < i; k++)
                dup |= strcmp(refs[k], refs[i]) == 0;
            if (dup)
                continue;
            rc = store_read_registration(st, refs[i], &p, &json);
            if (rc == ERR_NOTFOUND) {
                plat_err_clear();
                rc = PLAT_OK;
                continue;
            }
            if (rc == PLAT_OK && p == pid) {
                cJSON *row = cJSON_Parse(json);
                const cJSON *s = cJSON_GetObjectItemCaseSensitive(row,
                                                                  "status");

                if (row && (with_deleted || !cJSON_IsString(s) ||
                            strcmp(s->valuestring, "deleted") != 0))
                    rc = srv_collect(json, strlen(json), &r);
                cJSON_Delete(row);
            }
            plat_free(json);
        }
        if (rc == PLAT_OK && r.n > 1) {
            /* 121 answers in id order: sort rows and texts together */
            struct pair { cJSON *row; char *text; } *v;

            v = plat_malloc(r.n * sizeof(*v));
            if (!v) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
            } else {
                for (size_t i = 0; i < r.n; i++) {
                    v[i].row = r.rows[i];
                    v[i].text = r.keep_texts ? r.texts[i] : NULL;
                }
                qsort(v, r.n, sizeof(*v), cmp_id);
                for (size_t i = 0; i < r.n; i++) {
                    r.rows[i] = v[i].row;
                    if (r.keep_texts)
                        r.texts[i] = v[i].text;
                }
                plat_free(v);
            }
        }
    } else {
        rc = store_read_registrations(st, pid, with_deleted, srv_collect, &r);
    }
    if (rc < 0) {
        srv_rows_free(r.rows, r.texts, r.n);
        return rc;
    }
    *rows_out = r.rows;
    if (texts_out)
        *texts_out = r.texts;
    *n_out = r.n;
    return PLAT_OK;
}

/* A page streamed from stored texts, without parsing them: for a list
 * with no filter, no select and the default order (the dashboards' whole-
 * program reads). */
struct stream {
    struct plat_buf *b;
    const struct srv_page *pg;
    size_t i, n_items;
};

static int stream_row(const char *json, size_t len, void *payload)
{
    struct stream *s = payload;

    if (srv_page_wants(s->pg, s->i)) {
        if ((s->n_items && plat_buf_puts(s->b, ",") < 0) ||
            plat_buf_append(s->b, json, len) < 0)
            return plat_err_set(ERR_NOMEM, "out of memory");
        s->n_items++;
    }
    s->i++;
    return 0;
}

static int can_stream(const struct srv_req *q, const struct srv_page *pg,
                      const struct srv_filter *f)
{
    const char *select = srv_q(q, "select");
    int nrefs;

    return srv_filter_empty(f) && !srv_filter_refs(f, &nrefs) &&
           !(select && *select) && strcmp(pg->sort_col, "id") == 0 &&
           !pg->sort_desc;
}

static int stream_begin(struct srv_resp *r, struct stream *s,
                        const struct srv_page *pg)
{
    memset(s, 0, sizeof(*s));
    s->b = &r->body;
    s->pg = pg;
    plat_buf_reset(&r->body);
    return plat_buf_puts(&r->body, "{\"data\":[") < 0
               ? plat_err_set(ERR_NOMEM, "out of memory") : PLAT_OK;
}

static int stream_end(struct srv_resp *r, const struct srv_req *q,
                      struct stream *s)
{
    int rc = srv_page_tail(&r->body, q, s->pg, s->i, s->n_items);

    if (rc == PLAT_OK) {
        r->status = 200;
        r->ctype = "application/json; charset=utf-8";
    }
    return rc;
}

/* ---- program ------------------------------------------------------------ */

/* The stored program, or a 403 like 121's permission check (a program the
 * device does not hold is one this user cannot read). */
int srv_program_or_403(struct srv_req *q, struct srv_resp *r, int pid,
                          cJSON **out)
{
    int rc = store_program_get(q->st, pid, out, NULL);

    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        srv_error(r, 403, "Forbidden");
        return ERR_NOTFOUND;
    }
    if (rc < 0)
        srv_internal(r, rc);
    return rc;
}

cJSON *srv_attr_names(struct store *st, int pid)
{
    cJSON *prog = NULL, *out = cJSON_CreateArray();
    const cJSON *a;

    if (!out)
        return NULL;
    if (store_program_get(st, pid, &prog, NULL) < 0) {
        plat_err_clear();
        return out;
    }
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(
                              prog, "programRegistrationAttributes")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "name");

        if (cJSON_IsString(n))
            cJSON_AddItemToArray(out, cJSON_CreateString(n->valuestring));
    }
    cJSON_Delete(prog);
    return out;
}

static void strip(cJSON *o, const char *const *keys)
{
    for (; *keys; keys++)
        cJSON_DeleteItemFromObjectCaseSensitive(o, *keys);
}

int srv_h_program(struct srv_req *q, struct srv_resp *r, int pid)
{
    const char *fmt = srv_q(q, "formatProgramReturnDto");
    cJSON *prog = NULL;
    char msg[64];
    int rc;

    if (fmt && strcmp(fmt, "true") != 0 && strcmp(fmt, "false") != 0) {
        cJSON *o = cJSON_CreateObject();

        if (o) {
            cJSON_AddStringToObject(o, "message", "Validation failed "
                                    "(boolean string is expected)");
            cJSON_AddStringToObject(o, "error", "Bad Request");
            cJSON_AddNumberToObject(o, "statusCode", 400);
        }
        return srv_json_take(r, 400, o);
    }
    rc = store_program_get(q->st, pid, &prog, NULL);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        snprintf(msg, sizeof(msg), "No program found with id %d", pid);
        return srv_errors(r, 404, msg);
    }
    if (rc < 0)
        return rc;
    if (fmt && strcmp(fmt, "true") == 0) {
        /* The POST body shape (for cloning): no ids, no timestamps, no UI
         * helpers; attributes without their entity fields. */
        static const char *const top[] = {
            "id", "created", "updated", "programFspConfigurations",
            "editableAttributes", "paTableAttributes",
            "filterableAttributes", NULL};
        static const char *const attr[] = {"id", "created", "updated",
                                           "programId", NULL};
        cJSON *a;

        strip(prog, top);
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(
                                  prog, "programRegistrationAttributes"))
            strip(a, attr);
    }
    return srv_json_take(r, 200, prog);
}

int srv_h_fsp_configs(struct srv_req *q, struct srv_resp *r, int pid)
{
    cJSON *prog = NULL;
    const cJSON *list;

    if (srv_program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    list = cJSON_GetObjectItemCaseSensitive(prog, "fspConfigurations");
    if (cJSON_IsArray(list))
        srv_json(r, 200, list);
    else
        srv_json_take(r, 200, cJSON_CreateArray());
    cJSON_Delete(prog);
    return PLAT_OK;
}

/* Concatenate stored JSON texts into a JSON array body. */
struct arr_out {
    struct plat_buf *b;
    int first;
};

static int arr_add(const char *json, size_t len, void *payload)
{
    struct arr_out *a = payload;

    if ((!a->first && plat_buf_puts(a->b, ",") < 0) ||
        plat_buf_append(a->b, json, len) < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    a->first = 0;
    return 0;
}

static int array_body(struct srv_resp *r,
                      int (*walk)(struct store *, int, store_json_cb, void *),
                      struct store *st, int pid)
{
    struct arr_out a = {&r->body, 1};
    int rc;

    plat_buf_reset(&r->body);
    if (plat_buf_puts(&r->body, "[") < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = walk(st, pid, arr_add, &a);
    if (rc < 0)
        return rc;
    if (plat_buf_puts(&r->body, "]") < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    r->status = 200;
    r->ctype = "application/json; charset=utf-8";
    return PLAT_OK;
}

int srv_h_templates(struct srv_req *q, struct srv_resp *r, int pid)
{
    cJSON *prog = NULL;

    if (srv_program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    cJSON_Delete(prog);
    return array_body(r, store_read_templates, q->st, pid);
}

/* GET /api/exchange-rates (contract 9): the array as the last sync got
 * it. None kept (the 121 user is not an admin, or no sync yet): 403, as
 * 121 answers a user who is not an admin. */
int srv_h_exchange_rates(struct srv_req *q, struct srv_resp *r)
{
    char *text = NULL;
    int rc = store_state_get(q->st, STORE_EXCHANGE_RATES_KEY, &text);

    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return srv_error(r, 403, "Forbidden");
    }
    if (rc < 0)
        return rc;
    plat_buf_reset(&r->body);
    rc = plat_buf_puts(&r->body, text);
    plat_free(text);
    if (rc < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    r->status = 200;
    r->ctype = "application/json; charset=utf-8";
    return PLAT_OK;
}

/* ---- registrations ------------------------------------------------------ */

int srv_h_registrations(struct srv_req *q, struct srv_resp *r, int pid)
{
    cJSON *prog = NULL, *attrs = NULL;
    struct srv_filter *f = NULL;
    struct srv_page pg;
    cJSON **rows = NULL;
    char **texts = NULL;
    size_t n = 0;
    int rc;

    if (srv_program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    cJSON_Delete(prog);
    attrs = srv_attr_names(q->st, pid);
    if (!attrs)
        return plat_err_set(ERR_NOMEM, "out of memory");
    if (srv_page_parse(q, srv_reg_cols, srv_reg_ncols, attrs, 20, &pg) > 1) {
        cJSON_Delete(attrs);
        return srv_error(r, 400, "Sorting by more than one column is not "
                         "supported");
    }
    rc = srv_filter_parse(q, srv_reg_cols, srv_reg_ncols, attrs, &f, NULL);
    if (rc == ERR_INVALID) {
        cJSON_Delete(attrs);
        plat_err_clear();
        return srv_error(r, 500, "Internal server error");
    }
    if (rc == PLAT_OK && can_stream(q, &pg, f)) {
        struct stream s;

        rc = stream_begin(r, &s, &pg);
        if (rc == PLAT_OK)
            rc = store_read_registrations(q->st, pid, 0, stream_row, &s);
        if (rc == PLAT_OK)
            rc = stream_end(r, q, &s);
        srv_filter_free(f);
        cJSON_Delete(attrs);
        return rc;
    }
    if (rc == PLAT_OK)
        rc = srv_reg_rows(q->st, pid, f, 0, &rows, &texts, &n);
    if (rc == PLAT_OK) {
        srv_sort_rows(rows, n, &pg, srv_reg_cols, srv_reg_ncols);
        if (strcmp(pg.sort_col, "id") != 0 || pg.sort_desc) {
            /* texts no longer line up with the sorted rows */
            for (size_t i = 0; i < n; i++)
                plat_free(texts[i]);
            plat_free(texts);
            texts = NULL;
        }
        rc = srv_paginate(r, q, &pg, f, rows, texts, n);
    }
    srv_rows_free(rows, texts, n);
    srv_filter_free(f);
    cJSON_Delete(attrs);
    return rc;
}

int srv_h_registration(struct srv_req *q, struct srv_resp *r, int pid,
                       const char *id_s)
{
    int id, p = 0, rc;
    char *json = NULL;
    char msg[64];

    if (srv_seg_int(id_s, r, &id) < 0)
        return PLAT_OK;
    rc = store_read_registration_by_id(q->st, id, &p, &json);
    if (rc == ERR_NOTFOUND || (rc == PLAT_OK && p != pid)) {
        plat_err_clear();
        plat_free(json);
        snprintf(msg, sizeof(msg), "No registration found for id %d", id);
        return srv_error(r, 404, msg);
    }
    if (rc < 0)
        return rc;
    plat_buf_reset(&r->body);
    rc = plat_buf_puts(&r->body, json);
    plat_free(json);
    if (rc < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    r->status = 200;
    r->ctype = "application/json; charset=utf-8";
    return PLAT_OK;
}

/* ---- transactions ------------------------------------------------------- */

int srv_collect_tx(const char *json, size_t len, void *payload)
{
    struct srv_tx_rows *t = payload;

    if (t->ref) {
        cJSON *row = cJSON_ParseWithLength(json, len);
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(
            row, "registrationReferenceId");
        int keep = cJSON_IsString(ref) && strcmp(ref->valuestring, t->ref) ==
                                              0;

        if (!keep || srv_rows_add(&t->r, row, json, len) < 0) {
            cJSON_Delete(row);
            return keep ? plat_err_set(ERR_NOMEM, "out of memory") : 0;
        }
        return 0;
    }
    return srv_collect(json, len, &t->r);
}

static int payment_exists(struct srv_req *q, struct srv_resp *r, int pid,
                          const char *payid_s, int *payid, cJSON **pay)
{
    char msg[96];
    int rc;

    if (srv_seg_int(payid_s, r, payid) < 0)
        return ERR_INVALID;
    rc = store_payment_get(q->st, pid, *payid, pay);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        snprintf(msg, sizeof(msg), "Payment with ID %d not found in program "
                 "%d", *payid, pid);
        srv_error(r, 404, msg);
        return ERR_NOTFOUND;
    }
    if (rc < 0)
        srv_internal(r, rc);
    return rc;
}

int srv_h_payments(struct srv_req *q, struct srv_resp *r, int pid)
{
    cJSON *prog = NULL;

    if (srv_program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    cJSON_Delete(prog);
    return array_body(r, store_read_payments, q->st, pid);
}

int srv_h_payment(struct srv_req *q, struct srv_resp *r, int pid,
                  const char *id)
{
    cJSON *pay = NULL;
    int payid;

    struct srv_tx_rows t = {0};
    cJSON *prog = NULL, *fsps;
    const cJSON *c;
    int rc;

    if (payment_exists(q, r, pid, id, &payid, &pay) < 0)
        return PLAT_OK;
    /* The detail adds the FSP configurations the payment went through
     * (in the program's order); approvals are not pulled to the device. */
    rc = store_read_transactions(q->st, pid, payid, srv_collect_tx, &t);
    if (rc == PLAT_OK)
        rc = store_program_get(q->st, pid, &prog, NULL);
    if (rc < 0) {
        srv_rows_free(t.r.rows, t.r.texts, t.r.n);
        cJSON_Delete(pay);
        return rc;
    }
    cJSON_AddBoolToObject(pay, "hasBeenStarted", t.r.n > 0);
    fsps = cJSON_AddArrayToObject(pay, "fsps");
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                              prog, "fspConfigurations")) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");

        for (size_t i = 0; cJSON_IsString(name) && i < t.r.n; i++) {
            const cJSON *tn = cJSON_GetObjectItemCaseSensitive(
                t.r.rows[i], "programFspConfigurationName");

            if (cJSON_IsString(tn) &&
                strcmp(tn->valuestring, name->valuestring) == 0) {
                cJSON *f = cJSON_CreateObject();

                srv_copy_key(f, t.r.rows[i], "programFspConfigurationName", NULL);
                srv_copy_key(f, t.r.rows[i], "programFspConfigurationLabel",
                         NULL);
                cJSON_AddItemToArray(fsps, f);
                break;
            }
        }
    }
    srv_rows_free(t.r.rows, t.r.texts, t.r.n);
    cJSON_Delete(prog);
    return srv_json_take(r, 200, pay);
}

int srv_h_transactions(struct srv_req *q, struct srv_resp *r, int pid,
                       const char *payid_s)
{
    struct srv_tx_rows t = {0};
    struct srv_filter *f = NULL;
    struct srv_page pg;
    cJSON *pay = NULL;
    int payid, rc;

    if (payment_exists(q, r, pid, payid_s, &payid, &pay) < 0)
        return PLAT_OK;
    cJSON_Delete(pay);
    srv_page_parse(q, tx_cols, TX_NCOLS, NULL, 20, &pg);
    rc = srv_filter_parse(q, tx_cols, TX_NCOLS, NULL, &f, NULL);
    if (rc == ERR_INVALID) {
        plat_err_clear();
        return srv_error(r, 500, "Internal server error");
    }
    if (rc < 0)
        return rc;
    if (can_stream(q, &pg, f)) {
        struct stream s;

        rc = stream_begin(r, &s, &pg);
        if (rc == PLAT_OK)
            rc = store_read_transactions(q->st, pid, payid, stream_row, &s);
        if (rc == PLAT_OK)
            rc = stream_end(r, q, &s);
        srv_filter_free(f);
        return rc;
    }
    t.r.f = f;
    t.r.keep_texts = 1;
    rc = store_read_transactions(q->st, pid, payid, srv_collect_tx, &t);
    if (rc == PLAT_OK) {
        srv_sort_rows(t.r.rows, t.r.n, &pg, tx_cols, TX_NCOLS);
        rc = srv_paginate(r, q, &pg, f, t.r.rows,
                          strcmp(pg.sort_col, "id") == 0 && !pg.sort_desc
                              ? t.r.texts : NULL,
                          t.r.n);
    }
    srv_rows_free(t.r.rows, t.r.texts, t.r.n);
    srv_filter_free(f);
    return rc;
}
