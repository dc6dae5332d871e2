/*
 * serve_export.c - the exports of the 121 API from the store: the
 * registrations export-list (contract 5: id is registrationProgramId,
 * dropdown values and the FSP label in English) and the program's
 * transactions export (GET .../transactions: each transaction joined with
 * its registration, the window on the payment date).
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

void srv_copy_key(cJSON *dst, const cJSON *src, const char *key,
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
    srv_copy_key(o, reg, "referenceId", NULL);
    srv_copy_key(o, reg, "registrationProgramId", "id");
    for (const char *const *k = head; *k; k++)
        srv_copy_key(o, reg, *k, NULL);
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
        srv_copy_key(o, reg, *k, NULL);
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
    srv_copy_key(o, reg, "name", NULL);
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
    if (srv_program_or_403(q, r, pid, &prog) < 0)
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
    srv_copy_key(o, t, "paymentId", NULL);
    cJSON_AddItemToObject(o, "paymentDate", date ? cJSON_Duplicate(date, 1)
                                                 : cJSON_CreateNull());
    srv_copy_key(o, t, "id", NULL);
    srv_copy_key(o, t, "created", NULL);
    srv_copy_key(o, t, "updated", NULL);
    srv_copy_key(o, t, "registrationProgramId", NULL);
    srv_copy_key(o, t, "registrationReferenceId", NULL);
    srv_copy_key(o, t, "registrationId", NULL);
    if (reg)
        srv_copy_key(o, reg, "status", "registrationStatus");
    else
        srv_copy_key(o, t, "registrationStatus", NULL);
    srv_copy_key(o, t, "status", NULL);
    srv_copy_key(o, t, "transferValue", "amount");
    srv_copy_key(o, t, "errorMessage", NULL);
    srv_copy_key(o, t, "programFspConfigurationName", NULL);
    v = cJSON_GetObjectItemCaseSensitive(reg, "status");
    if (reg && !(cJSON_IsString(v) && strcmp(v->valuestring, "deleted") ==
                                          0)) {
        const cJSON *a;

        srv_copy_key(o, reg, "name", "registrationName");
        srv_copy_key(o, reg, "preferredLanguage", NULL);
        srv_copy_key(o, reg, "paymentAmountMultiplier", NULL);
        srv_copy_key(o, t, "programFspConfigurationLabel", NULL);
        srv_copy_key(o, reg, "paymentCount", NULL);
        srv_copy_key(o, reg, "maxPayments", NULL);
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
int srv_query_error(struct srv_req *q, struct srv_resp *r,
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
        return srv_query_error(q, r, "fromDate", "isIso8601",
                           "fromDate must be a valid ISO 8601 date string");
    }
    if (to && plat_time_parse_iso(to, &x.to_ms) < 0) {
        plat_err_clear();
        return srv_query_error(q, r, "toDate", "isIso8601",
                           "toDate must be a valid ISO 8601 date string");
    }
    if (payid && (!*payid || strspn(payid, "0123456789") != strlen(payid) ||
                  strlen(payid) > 9))
        return srv_query_error(q, r, "paymentId", "isNumberString",
                           "paymentId must be a number string");
    if (fmt && strcmp(fmt, "json") != 0)
        return srv_query_error(q, r, "format", "isIn",
                           "format must be json on this device");
    x.pay_filter = payid ? atoi(payid) : 0;
    if (srv_program_or_403(q, r, pid, &prog) < 0)
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
