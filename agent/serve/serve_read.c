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

struct rows {
    cJSON **rows;
    char **texts;
    size_t n, alloc;
    const struct srv_filter *f;
    int keep_texts;
    int64_t id_seen;   /* for transactions: only one payment's rows */
};

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

static int rows_add(struct rows *r, cJSON *row, const char *text, size_t len)
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

static int collect(const char *json, size_t len, void *payload)
{
    struct rows *r = payload;
    cJSON *row = cJSON_ParseWithLength(json, len);

    if (!row)
        return plat_err_set(ERR_CORRUPT, "a stored row is not JSON");
    if (!srv_filter_match(r->f, row)) {
        cJSON_Delete(row);
        return 0;
    }
    if (rows_add(r, row, json, len) < 0) {
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

int srv_reg_rows(struct store *st, int pid, const struct srv_filter *f,
                 int with_deleted, cJSON ***rows_out, char ***texts_out,
                 size_t *n_out)
{
    struct rows r = {0};
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
                    rc = collect(json, strlen(json), &r);
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
        rc = store_read_registrations(st, pid, with_deleted, collect, &r);
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
static int program_or_403(struct srv_req *q, struct srv_resp *r, int pid,
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

    if (program_or_403(q, r, pid, &prog) < 0)
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

    if (program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    cJSON_Delete(prog);
    return array_body(r, store_read_templates, q->st, pid);
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

    if (program_or_403(q, r, pid, &prog) < 0)
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

static void copy_key(cJSON *dst, const cJSON *src, const char *key,
                     const char *as);

/* ---- transactions ------------------------------------------------------- */

struct tx_rows {
    struct rows r;
    const char *ref;      /* only this registration's, or NULL */
};

static int collect_tx(const char *json, size_t len, void *payload)
{
    struct tx_rows *t = payload;

    if (t->ref) {
        cJSON *row = cJSON_ParseWithLength(json, len);
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(
            row, "registrationReferenceId");
        int keep = cJSON_IsString(ref) && strcmp(ref->valuestring, t->ref) ==
                                              0;

        if (!keep || rows_add(&t->r, row, json, len) < 0) {
            cJSON_Delete(row);
            return keep ? plat_err_set(ERR_NOMEM, "out of memory") : 0;
        }
        return 0;
    }
    return collect(json, len, &t->r);
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

    if (program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    cJSON_Delete(prog);
    return array_body(r, store_read_payments, q->st, pid);
}

int srv_h_payment(struct srv_req *q, struct srv_resp *r, int pid,
                  const char *id)
{
    cJSON *pay = NULL;
    int payid;

    struct tx_rows t = {0};
    cJSON *prog = NULL, *fsps;
    const cJSON *c;
    int rc;

    if (payment_exists(q, r, pid, id, &payid, &pay) < 0)
        return PLAT_OK;
    /* The detail adds the FSP configurations the payment went through
     * (in the program's order); approvals are not pulled to the device. */
    rc = store_read_transactions(q->st, pid, payid, collect_tx, &t);
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

                copy_key(f, t.r.rows[i], "programFspConfigurationName", NULL);
                copy_key(f, t.r.rows[i], "programFspConfigurationLabel",
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
    struct tx_rows t = {0};
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
    rc = store_read_transactions(q->st, pid, payid, collect_tx, &t);
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

/* ---- exports ------------------------------------------------------------ */

/* The English label of a dropdown value, as 121's exports show it. */
static const char *dropdown_label(const cJSON *attr, const char *value)
{
    const cJSON *o;

    cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(attr, "options")) {
        const cJSON *opt = cJSON_GetObjectItemCaseSensitive(o, "option");
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(o, "label"), "en");

        if (cJSON_IsString(opt) && strcmp(opt->valuestring, value) == 0)
            return cJSON_IsString(en) ? en->valuestring : value;
    }
    return value;
}

static int is_dropdown(const cJSON *attr)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(attr, "type");

    return cJSON_IsString(t) && strcmp(t->valuestring, "dropdown") == 0;
}

static void copy_key(cJSON *dst, const cJSON *src, const char *key,
                     const char *as)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);

    if (v)
        cJSON_AddItemToObject(dst, as ? as : key, cJSON_Duplicate(v, 1));
}

/* One export-list row (contract 5): id is registrationProgramId, dropdown
 * values and the FSP label in English. */
static cJSON *export_row(const cJSON *reg, const cJSON *attrs)
{
    static const char *const head[] = {"status", "phoneNumber",
                                       "preferredLanguage",
                                       "paymentAmountMultiplier",
                                       "paymentCount", "programId", "created",
                                       "inclusionScore", "fspName",
                                       "programFspConfigurationId",
                                       "programFspConfigurationName", NULL};
    static const char *const mid[] = {"personAffectedSequence", "maxPayments",
                                      "lastMessageStatus",
                                      "paymentCountRemaining", "scope",
                                      "duplicateStatus", NULL};
    cJSON *o = cJSON_CreateObject();
    const cJSON *a, *label;

    if (!o)
        return NULL;
    copy_key(o, reg, "referenceId", NULL);
    copy_key(o, reg, "registrationProgramId", "id");
    for (const char *const *k = head; *k; k++)
        copy_key(o, reg, *k, NULL);
    label = cJSON_GetObjectItemCaseSensitive(reg,
                                             "programFspConfigurationLabel");
    if (label) {
        const cJSON *en = cJSON_GetObjectItemCaseSensitive(label, "en");

        cJSON_AddItemToObject(o, "programFspConfigurationLabel",
                              cJSON_IsString(en)
                                  ? cJSON_CreateString(en->valuestring)
                                  : cJSON_Duplicate(label, 1));
    }
    for (const char *const *k = mid; *k; k++)
        copy_key(o, reg, *k, NULL);
    cJSON_ArrayForEach(a, attrs) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "name");
        const cJSON *v;

        if (!cJSON_IsString(n) || cJSON_GetObjectItemCaseSensitive(
                                      o, n->valuestring))
            continue;
        v = cJSON_GetObjectItemCaseSensitive(reg, n->valuestring);
        if (!v)
            continue;
        if (is_dropdown(a) && cJSON_IsString(v))
            cJSON_AddStringToObject(o, n->valuestring,
                                    dropdown_label(a, v->valuestring));
        else
            cJSON_AddItemToObject(o, n->valuestring, cJSON_Duplicate(v, 1));
    }
    copy_key(o, reg, "name", NULL);
    return o;
}

int srv_h_export(struct srv_req *q, struct srv_resp *r, int pid,
                 const char *type)
{
    cJSON *prog = NULL, *names = NULL, *out = NULL, *data;
    const cJSON *attrs;
    struct srv_filter *f = NULL;
    cJSON **rows = NULL;
    size_t n = 0;
    const char *select = srv_q(q, "select");
    int rc;

    if (strcmp(type, "unused-vouchers") == 0 ||
        strcmp(type, "vouchers-with-balance") == 0 ||
        strcmp(type, "intersolve-visa-card-details") == 0)
        /* the device keeps no voucher balances: nothing to export */
        return srv_errors(r, 404, "There is currently no data to export");
    if (strcmp(type, "registrations") != 0)
        return srv_error(r, 400, "Unknown export type");
    if (program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    attrs = cJSON_GetObjectItemCaseSensitive(prog,
                                             "programRegistrationAttributes");
    names = srv_attr_names(q->st, pid);
    rc = names ? srv_filter_parse(q, srv_reg_cols, srv_reg_ncols, names, &f,
                                  NULL)
               : plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == ERR_INVALID) {
        plat_err_clear();
        rc = srv_error(r, 500, "Internal server error");
        goto done;
    }
    if (rc == PLAT_OK)
        rc = srv_reg_rows(q->st, pid, f, 1, &rows, NULL, &n);
    if (rc < 0)
        goto done;
    if (n == 0) {
        rc = srv_errors(r, 404, "There is currently no data to export");
        goto done;
    }
    out = cJSON_CreateObject();
    if (!out || !cJSON_AddStringToObject(out, "fileName", "registrations") ||
        !(data = cJSON_AddArrayToObject(out, "data"))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *row = export_row(rows[i], attrs);

        if (!row) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        if (select && *select) {
            /* keep only the selected keys, in select's order */
            cJSON *sel = cJSON_CreateObject();
            char *copy = plat_strdup(select), *save = NULL;

            for (char *k = copy ? strtok_r(copy, ",", &save) : NULL; k;
                 k = strtok_r(NULL, ",", &save)) {
                cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(row, k);

                if (v)
                    cJSON_AddItemToObject(sel, k, v);
            }
            plat_free(copy);
            cJSON_Delete(row);
            row = sel;
        }
        cJSON_AddItemToArray(data, row);
    }
    rc = srv_json(r, 200, out);
done:
    cJSON_Delete(out);
    srv_rows_free(rows, NULL, n);
    srv_filter_free(f);
    cJSON_Delete(names);
    cJSON_Delete(prog);
    return rc;
}

/* Registrations by referenceId, for joins: their stored texts, parsed
 * one at a time when needed (40,000 parsed trees at once cost 100+ MB). */
struct reg_text {
    char *ref;
    char *text;
};

struct reg_index {
    struct reg_text *v;
    size_t n, alloc;
};

static int index_add(const char *json, size_t len, void *payload)
{
    struct reg_index *ix = payload;
    cJSON *reg = cJSON_ParseWithLength(json, len);
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(reg, "referenceId");
    int rc = 0;

    if (!cJSON_IsString(ref)) {
        cJSON_Delete(reg);
        return 0;
    }
    if (ix->n == ix->alloc) {
        size_t na = ix->alloc ? ix->alloc * 2 : 1024;
        struct reg_text *nv = plat_realloc(ix->v, na * sizeof(*nv));

        if (!nv)
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        else
            ix->v = nv, ix->alloc = na;
    }
    if (rc == 0) {
        ix->v[ix->n].ref = plat_strdup(ref->valuestring);
        ix->v[ix->n].text = plat_strndup(json, len);
        if (!ix->v[ix->n].ref || !ix->v[ix->n].text) {
            plat_free(ix->v[ix->n].ref);
            plat_free(ix->v[ix->n].text);
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        } else {
            ix->n++;
        }
    }
    cJSON_Delete(reg);
    return rc;
}

static void index_free(struct reg_index *ix)
{
    for (size_t i = 0; i < ix->n; i++) {
        plat_free(ix->v[i].ref);
        plat_free(ix->v[i].text);
    }
    plat_free(ix->v);
}

static int cmp_ref(const void *a, const void *b)
{
    return strcmp(((const struct reg_text *)a)->ref,
                  ((const struct reg_text *)b)->ref);
}

/* The parsed registration `ref` (new; NULL when unknown). */
static cJSON *reg_find(const struct reg_index *ix, const char *ref)
{
    size_t lo = 0, hi = ix->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ref, ix->v[mid].ref);

        if (c == 0)
            return cJSON_Parse(ix->v[mid].text);
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

struct tx_export {
    struct plat_buf *b;
    int first;
    const struct reg_index *ix;
    const cJSON *prog;
    const cJSON *payments;     /* array of stored payments */
    int64_t from_ms, to_ms;
    int pay_filter;
};

static const cJSON *payment_of(const cJSON *payments, int id)
{
    const cJSON *p;

    cJSON_ArrayForEach(p, payments) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "paymentId");

        if (cJSON_IsNumber(v) && v->valueint == id)
            return p;
    }
    return NULL;
}

static int export_tx(const char *json, size_t len, void *payload)
{
    struct tx_export *x = payload;
    cJSON *t = cJSON_ParseWithLength(json, len), *o = NULL, *reg = NULL;
    const cJSON *pay, *v, *date;
    const char *ref;
    char *text;
    int64_t ms = 0;
    int rc = 0;

    if (!t)
        return plat_err_set(ERR_CORRUPT, "a stored transaction is not JSON");
    v = cJSON_GetObjectItemCaseSensitive(t, "paymentId");
    pay = payment_of(x->payments, cJSON_IsNumber(v) ? v->valueint : -1);
    date = cJSON_GetObjectItemCaseSensitive(pay, "paymentDate");
    if (cJSON_IsString(date) &&
        plat_time_parse_iso(date->valuestring, &ms) < 0) {
        plat_err_clear();
        ms = 0;
    }
    if (ms < x->from_ms || ms > x->to_ms ||
        (x->pay_filter && (!cJSON_IsNumber(v) || v->valueint !=
                                                     x->pay_filter)))
        goto done;
    ref = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(
              t, "registrationReferenceId"))
              ? cJSON_GetObjectItemCaseSensitive(t, "registrationReferenceId")
                    ->valuestring
              : "";
    reg = reg_find(x->ix, ref);
    o = cJSON_CreateObject();
    if (!o) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    copy_key(o, t, "paymentId", NULL);
    cJSON_AddItemToObject(o, "paymentDate", date ? cJSON_Duplicate(date, 1)
                                                 : cJSON_CreateNull());
    copy_key(o, t, "id", NULL);
    copy_key(o, t, "created", NULL);
    copy_key(o, t, "updated", NULL);
    copy_key(o, t, "registrationProgramId", NULL);
    copy_key(o, t, "registrationReferenceId", NULL);
    copy_key(o, t, "registrationId", NULL);
    if (reg)
        copy_key(o, reg, "status", "registrationStatus");
    else
        copy_key(o, t, "registrationStatus", NULL);
    copy_key(o, t, "status", NULL);
    copy_key(o, t, "transferValue", "amount");
    copy_key(o, t, "errorMessage", NULL);
    copy_key(o, t, "programFspConfigurationName", NULL);
    v = cJSON_GetObjectItemCaseSensitive(reg, "status");
    if (reg && !(cJSON_IsString(v) && strcmp(v->valuestring, "deleted") ==
                                          0)) {
        const cJSON *a;

        copy_key(o, reg, "name", "registrationName");
        copy_key(o, reg, "preferredLanguage", NULL);
        copy_key(o, reg, "paymentAmountMultiplier", NULL);
        copy_key(o, t, "programFspConfigurationLabel", NULL);
        copy_key(o, reg, "paymentCount", NULL);
        copy_key(o, reg, "maxPayments", NULL);
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(
                                  x->prog, "programRegistrationAttributes")) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "name");
            const cJSON *val;

            if (!cJSON_IsString(n))
                continue;
            val = cJSON_GetObjectItemCaseSensitive(reg, n->valuestring);
            if (is_dropdown(a) && cJSON_IsString(val))
                cJSON_AddStringToObject(o, n->valuestring,
                                        dropdown_label(a, val->valuestring));
            else
                cJSON_AddItemToObject(o, n->valuestring,
                                      val ? cJSON_Duplicate(val, 1)
                                          : cJSON_CreateNull());
        }
    }
    text = cJSON_PrintUnformatted(o);
    if (!text || (!x->first && plat_buf_puts(x->b, ",") < 0) ||
        plat_buf_puts(x->b, text) < 0)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    cJSON_free(text);
    x->first = 0;
done:
    cJSON_Delete(o);
    cJSON_Delete(reg);
    cJSON_Delete(t);
    return rc;
}

static int collect_pay(const char *json, size_t len, void *payload)
{
    cJSON *p = cJSON_ParseWithLength(json, len);

    if (!p)
        return plat_err_set(ERR_CORRUPT, "a stored payment is not JSON");
    cJSON_AddItemToArray(payload, p);
    return 0;
}

/* 400 shape D listing the query parameters that are not valid. */
static int query_error(struct srv_req *q, struct srv_resp *r,
                       const char *prop, const char *cons, const char *msg)
{
    cJSON *target = cJSON_CreateObject();
    const char *v = srv_q(q, prop);
    cJSON *val = v ? cJSON_CreateString(v) : NULL;

    for (int i = 0; target && i < q->npairs; i++)
        if (!cJSON_GetObjectItemCaseSensitive(target, q->pairs[i].key))
            cJSON_AddStringToObject(target, q->pairs[i].key,
                                    q->pairs[i].value);
    srv_error_d(r, target, prop, val, cons, msg);
    cJSON_Delete(target);
    cJSON_Delete(val);
    return PLAT_OK;
}

static void file_stamp(const char *iso_in, int64_t ms, char *out, size_t n)
{
    char iso[32];

    if (!iso_in) {
        out[0] = '\0';
        return;
    }
    plat_time_iso(ms, iso);
    snprintf(out, n, "%.19s", iso);
    for (char *p = out; *p; p++)
        if (*p == ':')
            *p = '-';
}

int srv_h_program_transactions(struct srv_req *q, struct srv_resp *r,
                               int pid)
{
    const char *from = srv_q(q, "fromDate"), *to = srv_q(q, "toDate");
    const char *payid = srv_q(q, "paymentId"), *fmt = srv_q(q, "format");
    struct tx_export x = {0};
    struct reg_index ix = {0};
    cJSON *prog = NULL, *payments = NULL;
    char fs[32], ts[32];
    char *name = NULL;
    int rc;

    memset(&x, 0, sizeof(x));
    x.from_ms = INT64_MIN;
    x.to_ms = INT64_MAX;
    if (from && plat_time_parse_iso(from, &x.from_ms) < 0) {
        plat_err_clear();
        return query_error(q, r, "fromDate", "isIso8601",
                           "fromDate must be a valid ISO 8601 date string");
    }
    if (to && plat_time_parse_iso(to, &x.to_ms) < 0) {
        plat_err_clear();
        return query_error(q, r, "toDate", "isIso8601",
                           "toDate must be a valid ISO 8601 date string");
    }
    if (payid && (!*payid || strspn(payid, "0123456789") != strlen(payid) ||
                  strlen(payid) > 9))
        return query_error(q, r, "paymentId", "isNumberString",
                           "paymentId must be a number string");
    if (fmt && strcmp(fmt, "json") != 0)
        return query_error(q, r, "format", "isIn",
                           "format must be json on this device");
    x.pay_filter = payid ? atoi(payid) : 0;
    if (program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    payments = cJSON_CreateArray();
    rc = payments ? store_read_payments(q->st, pid, collect_pay, payments)
                  : plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == PLAT_OK)
        rc = store_read_registrations(q->st, pid, 1, index_add, &ix);
    if (rc < 0)
        goto done;
    qsort(ix.v, ix.n, sizeof(*ix.v), cmp_ref);
    file_stamp(from, x.from_ms, fs, sizeof(fs));
    file_stamp(to, x.to_ms, ts, sizeof(ts));
    name = plat_asprintf("transactions_%d_%s_%s", pid, fs, ts);
    plat_buf_reset(&r->body);
    if (!name || plat_buf_printf(&r->body, "{\"fileName\":\"%s\",\"data\":[",
                                 name) < 0) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    x.b = &r->body;
    x.first = 1;
    x.ix = &ix;
    x.prog = prog;
    x.payments = payments;
    rc = store_read_transactions(q->st, pid, 0, export_tx, &x);
    if (rc == PLAT_OK && plat_buf_puts(&r->body, "]}") < 0)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == PLAT_OK) {
        r->status = 200;
        r->ctype = "application/json; charset=utf-8";
    }
done:
    plat_free(name);
    index_free(&ix);
    cJSON_Delete(payments);
    cJSON_Delete(prog);
    return rc;
}

/* ---- registration events ------------------------------------------------ */

struct ev_window {
    struct plat_buf *b;
    int64_t from_ms, to_ms;
    size_t n;
};

static int ev_add(const char *json, size_t len, void *payload)
{
    struct ev_window *w = payload;
    cJSON *ev = cJSON_ParseWithLength(json, len);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(ev, "created");
    int64_t ms = 0;
    int in = cJSON_IsString(c) && plat_time_parse_iso(c->valuestring, &ms) ==
                                      PLAT_OK;

    plat_err_clear();
    cJSON_Delete(ev);
    /* both ends included, as 121's BETWEEN */
    if (!in || ms < w->from_ms || ms > w->to_ms)
        return 0;
    if ((w->n && plat_buf_puts(w->b, ",") < 0) ||
        plat_buf_append(w->b, json, len) < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    w->n++;
    return 0;
}

int srv_h_events(struct srv_req *q, struct srv_resp *r, int pid)
{
    const char *from = srv_q(q, "fromDate"), *to = srv_q(q, "toDate");
    const char *ref = srv_q(q, "referenceId"), *fmt = srv_q(q, "format");
    struct ev_window w = {0};
    int64_t rid = 0;
    cJSON *prog = NULL;
    int rc;

    w.b = &r->body;
    if (plat_time_parse_iso("2000-02-01T00:00:00Z", &w.from_ms) < 0)
        return ERR_INVALID;
    w.to_ms = plat_time_wall_ms();
    if (from && plat_time_parse_iso(from, &w.from_ms) < 0) {
        plat_err_clear();
        return query_error(q, r, "fromDate", "isIso8601",
                           "fromDate must be a valid ISO 8601 date string");
    }
    if (to && plat_time_parse_iso(to, &w.to_ms) < 0) {
        plat_err_clear();
        return query_error(q, r, "toDate", "isIso8601",
                           "toDate must be a valid ISO 8601 date string");
    }
    if (fmt && strcmp(fmt, "json") != 0)
        return query_error(q, r, "format", "isIn",
                           "format must be json on this device");
    if (program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    cJSON_Delete(prog);
    if (ref) {
        char *json = NULL;
        int p = 0;

        rc = store_read_registration(q->st, ref, &p, &json);
        if (rc == PLAT_OK) {
            cJSON *reg = cJSON_Parse(json);
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(reg, "id");

            rid = cJSON_IsNumber(id) && p == pid ? (int64_t)id->valuedouble
                                                 : -1;
            cJSON_Delete(reg);
        } else if (rc == ERR_NOTFOUND) {
            plat_err_clear();
            rid = -1;
        } else {
            return rc;
        }
        plat_free(json);
    }
    plat_buf_reset(&r->body);
    if (plat_buf_puts(&r->body, "{\"data\":[") < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = rid < 0 ? PLAT_OK
                 : store_read_events(q->st, pid, rid, ev_add, &w);
    if (rc < 0)
        return rc;
    if (w.n == 0)
        return srv_errors(r, 404, "There is currently no data to export");
    if (plat_buf_printf(&r->body, "],\"meta\":{\"itemsPerPage\":500000,"
                        "\"totalItems\":%zu,\"currentPage\":1,"
                        "\"totalPages\":1,\"sortBy\":[[\"id\",\"ASC\"]]},"
                        "\"links\":{\"current\":\"?page=1&limit=500000&"
                        "sortBy=id:ASC\"}}", w.n) < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    r->status = 200;
    r->ctype = "application/json; charset=utf-8";
    return PLAT_OK;
}

/* ---- activities, stats, vouchers ---------------------------------------- */

/* One activity (contract 3.8) from a stored event. */
static cJSON *event_activity(const cJSON *ev)
{
    static const struct { const char *event, *type; } types[] = {
        {"registrationDataChange", "data-change"},
        {"registrationStatusChange", "status-change"},
        {"fspChange", "fsp-change"},
        {"ignoredDuplicate", "ignored-duplicate"}};
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
    const char *type = NULL;
    cJSON *a, *u, *at;

    for (size_t i = 0; cJSON_IsString(t) && i < 4; i++)
        if (strcmp(t->valuestring, types[i].event) == 0)
            type = types[i].type;
    if (!type)
        return NULL;
    a = cJSON_CreateObject();
    if (!a)
        return NULL;
    cJSON_AddStringToObject(a, "type", type);
    copy_key(a, ev, "created", NULL);
    u = cJSON_AddObjectToObject(a, "user");
    copy_key(u, ev, "username", NULL);
    at = cJSON_AddObjectToObject(a, "attributes");
    if (strcmp(type, "data-change") == 0)
        copy_key(at, ev, "fieldChanged", "fieldName");
    copy_key(at, ev, "oldValue", NULL);
    copy_key(at, ev, "newValue", NULL);
    copy_key(at, ev, "reason", NULL);
    return a;
}

static int collect_activity(const char *json, size_t len, void *payload)
{
    cJSON *ev = cJSON_ParseWithLength(json, len), *a;

    a = ev ? event_activity(ev) : NULL;
    if (a)
        cJSON_AddItemToArray(payload, a);
    cJSON_Delete(ev);
    return 0;
}

/* Newest first; ties keep their order. */
static int cmp_created_desc(const void *x, const void *y)
{
    const cJSON *a = *(cJSON *const *)x, *b = *(cJSON *const *)y;
    const cJSON *ca = cJSON_GetObjectItemCaseSensitive(a, "created");
    const cJSON *cb = cJSON_GetObjectItemCaseSensitive(b, "created");
    int c = strcmp(cJSON_IsString(cb) ? cb->valuestring : "",
                   cJSON_IsString(ca) ? ca->valuestring : "");

    return c ? c : (a < b ? -1 : a > b);
}

int srv_h_activities(struct srv_req *q, struct srv_resp *r, int pid,
                     const char *id_s)
{
    struct tx_rows t = {0};
    cJSON *out = NULL, *meta, *types, *count, *data, *acts = NULL;
    cJSON **v = NULL;
    char *json = NULL;
    int id, p = 0, rc, n;
    const char *ref = NULL;
    cJSON *reg = NULL;

    if (srv_seg_int(id_s, r, &id) < 0)
        return PLAT_OK;
    rc = store_read_registration_by_id(q->st, id, &p, &json);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    if (rc < 0)
        return rc;
    if (json && p == pid) {
        reg = cJSON_Parse(json);
        if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(reg,
                                                            "referenceId")))
            ref = cJSON_GetObjectItemCaseSensitive(reg, "referenceId")
                      ->valuestring;
    }
    plat_free(json);
    t.ref = ref;
    acts = cJSON_CreateArray();
    if (!acts) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    if (ref)
        rc = store_read_transactions(q->st, pid, 0, collect_tx, &t);
    if (ref && rc == PLAT_OK)
        rc = store_read_events(q->st, pid, id, collect_activity, acts);
    if (rc < 0)
        goto done;
    for (size_t i = 0; i < t.r.n; i++) {
        const cJSON *tx = t.r.rows[i];
        cJSON *a = cJSON_CreateObject(), *at, *u;
        const cJSON *label = cJSON_GetObjectItemCaseSensitive(
            tx, "programFspConfigurationLabel");

        if (!a)
            continue;
        cJSON_AddStringToObject(a, "type", "transaction");
        copy_key(a, tx, "created", NULL);
        u = cJSON_AddObjectToObject(a, "user");
        copy_key(u, tx, "userId", "id");
        at = cJSON_AddObjectToObject(a, "attributes");
        copy_key(at, tx, "id", "transactionId");
        copy_key(at, tx, "paymentId", NULL);
        copy_key(at, tx, "status", NULL);
        copy_key(at, tx, "transferValue", "amount");
        copy_key(at, tx, "created", "paymentDate");
        copy_key(at, tx, "updated", "updatedDate");
        copy_key(at, tx, "fspName", NULL);
        if (label)
            cJSON_AddItemToObject(at, "fspConfigurationLabel",
                                  cJSON_Duplicate(label, 1));
        copy_key(at, tx, "programFspConfigurationName",
                 "fspConfigurationName");
        copy_key(at, tx, "errorMessage", NULL);
        cJSON_AddItemToArray(acts, a);
    }
    out = cJSON_CreateObject();
    if (!out) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    meta = cJSON_AddObjectToObject(out, "meta");
    types = cJSON_AddArrayToObject(meta, "availableTypes");
    {
        static const char *const all[] = {"transaction", "data-change",
                                          "status-change", "fsp-change",
                                          "ignored-duplicate"};

        for (size_t i = 0; i < 5; i++)
            cJSON_AddItemToArray(types, cJSON_CreateString(all[i]));
    }
    count = cJSON_AddObjectToObject(meta, "count");
    data = cJSON_AddArrayToObject(out, "data");
    n = cJSON_GetArraySize(acts);
    v = plat_calloc((size_t)n + 1, sizeof(*v));
    if (!v) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++)
        v[i] = cJSON_GetArrayItem(acts, i);
    qsort(v, (size_t)n, sizeof(*v), cmp_created_desc);
    for (int i = 0; i < n; i++) {
        cJSON *a = cJSON_DetachItemViaPointer(acts, v[i]);
        const char *type = cJSON_GetObjectItemCaseSensitive(a, "type")
                               ->valuestring;
        cJSON *c = cJSON_GetObjectItemCaseSensitive(count, type);
        char aid[48];
        int k = c ? c->valueint : 0;

        /* positional ids, as 121's (not stable) */
        snprintf(aid, sizeof(aid), "%s%d", type, k);
        cJSON_AddItemToObject(a, "id", cJSON_CreateString(aid));
        if (c)
            cJSON_SetNumberValue(c, k + 1);
        else
            cJSON_AddNumberToObject(count, type, 1);
        cJSON_AddItemToArray(data, a);
    }
    rc = srv_json(r, 200, out);
done:
    plat_free(v);
    cJSON_Delete(acts);
    cJSON_Delete(out);
    cJSON_Delete(reg);
    srv_rows_free(t.r.rows, t.r.texts, t.r.n);
    return rc < 0 ? rc : PLAT_OK;
}

struct stats {
    int64_t included, registered, fresh;
    double cash;
};

static int stat_reg(const char *k1, const char *k2, int64_t count, double sum,
                    void *payload)
{
    struct stats *s = payload;

    (void)k2;
    (void)sum;
    if (!k1 || strcmp(k1, "new") == 0)
        s->fresh += count;
    if (k1 && strcmp(k1, "included") == 0)
        s->included += count;
    if (!k1 || (strcmp(k1, "declined") != 0 && strcmp(k1, "deleted") != 0))
        s->registered += count;
    return 0;
}

static int stat_tx(const char *k1, const char *k2, int64_t count, double sum,
                   void *payload)
{
    struct stats *s = payload;

    (void)k1;
    (void)count;
    if (k2 && (strcmp(k2, "success") == 0 || strcmp(k2, "waiting") == 0))
        s->cash += sum;
    return 0;
}

int srv_h_stats(struct srv_req *q, struct srv_resp *r, int pid)
{
    struct stats s = {0};
    cJSON *prog = NULL, *o;
    const cJSON *v;
    int rc;

    if (program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    rc = store_read_groups(q->st, pid, STORE_GROUP_REG_STATUS, stat_reg, &s);
    if (rc == PLAT_OK)
        rc = store_read_groups(q->st, pid, STORE_GROUP_TX, stat_tx, &s);
    o = rc == PLAT_OK ? cJSON_CreateObject() : NULL;
    if (o) {
        cJSON_AddNumberToObject(o, "programId", pid);
        v = cJSON_GetObjectItemCaseSensitive(prog, "targetNrRegistrations");
        cJSON_AddItemToObject(o, "targetedPeople",
                              v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
        cJSON_AddNumberToObject(o, "includedPeople", (double)s.included);
        cJSON_AddNumberToObject(o, "registeredPeople", (double)s.registered);
        cJSON_AddNumberToObject(o, "newPeople", (double)s.fresh);
        v = cJSON_GetObjectItemCaseSensitive(prog, "budget");
        cJSON_AddItemToObject(o, "totalBudget",
                              v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull());
        cJSON_AddNumberToObject(o, "cashDisbursed", s.cash);
    }
    cJSON_Delete(prog);
    if (rc < 0)
        return rc;
    return srv_json_take(r, 200, o);
}

int srv_h_voucher(struct srv_req *q, struct srv_resp *r, int pid)
{
    const char *ref = srv_q(q, "referenceId"), *pay = srv_q(q, "paymentId");
    char *json = NULL, *ctype = NULL;
    void *img = NULL;
    size_t len = 0;
    int p = 0, rc, deleted = 0;

    rc = ref ? store_read_registration(q->st, ref, &p, &json) : ERR_NOTFOUND;
    if (rc == PLAT_OK) {
        cJSON *reg = cJSON_Parse(json);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(reg, "status");

        deleted = cJSON_IsString(s) && strcmp(s->valuestring, "deleted") == 0;
        cJSON_Delete(reg);
    }
    plat_free(json);
    if (rc == ERR_NOTFOUND || (rc == PLAT_OK && (p != pid || deleted))) {
        plat_err_clear();
        return srv_error(r, 404, "PA with this referenceId not found (within "
                         "your scope)");
    }
    if (rc < 0)
        return rc;
    if (!pay || !*pay || strspn(pay, "0123456789") != strlen(pay) ||
        strlen(pay) > 9)
        rc = ERR_NOTFOUND;
    else
        rc = store_read_voucher(q->st, ref, atoi(pay), &img, &len, &ctype);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return srv_error(r, 404, "Voucher not found. Maybe this payment was "
                         "not (yet) made to this PA.");
    }
    if (rc < 0)
        return rc;
    plat_buf_reset(&r->body);
    rc = plat_buf_append(&r->body, img, len);
    plat_free(img);
    plat_free(ctype);
    if (rc < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    r->status = 200;
    r->ctype = "image/png";
    return PLAT_OK;
}
