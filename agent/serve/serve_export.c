/*
 * serve_export.c - the exports of the 121 API from the store: the
 * registrations export-list (contract 5: id is registrationProgramId,
 * dropdown values and the FSP label in English) and the program's
 * transactions export (GET .../transactions: each transaction joined with
 * its registration, the window on the payment date).
 */
#include "serve_internal.h"
#include "cmd_dist.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"
#include "store.h"
#include "store_dist.h"
#include "store_program.h"
#include "store_read.h"
#include "store_sync.h"

#include <cjson/cJSON.h>
#include <float.h>
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

static int collect_pay_id(const char *json, size_t len, void *payload)
{
    cJSON *p = cJSON_ParseWithLength(json, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "paymentId");
    int rc = 0;

    if (cJSON_IsNumber(id))
        rc = cJSON_AddItemToArray(payload, cJSON_CreateNumber(id->valueint))
                 ? 0
                 : plat_err_set(ERR_NOMEM, "out of memory");
    cJSON_Delete(p);
    return rc;
}

/* GET .../metrics/export-list/unused-vouchers: the vouchers issued and not
 * handed out on this device, of every payment of the program (oldest
 * payment first), in 121's columns: the rows `agent export
 * unused-vouchers` prints (agent_dist_unused_voucher). */
static int unused_vouchers(struct srv_req *q, struct srv_resp *r, int pid)
{
    cJSON *prog = NULL, *ids = cJSON_CreateArray(), *rows, *out = NULL;
    const cJSON *id;
    int rc;

    rows = cJSON_CreateArray();
    if (!ids || !rows) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    if (srv_program_or_403(q, r, pid, &prog) < 0) {
        rc = PLAT_OK;
        goto done;
    }
    rc = store_read_payments(q->st, pid, collect_pay_id, ids);
    /* store_read_payments walks newest first */
    for (int i = cJSON_GetArraySize(ids) - 1; rc == PLAT_OK && i >= 0; i--) {
        id = cJSON_GetArrayItem(ids, i);
        rc = store_vouchers_list(q->st, id->valueint, 0,
                                 agent_dist_unused_voucher, rows);
    }
    if (rc < 0)
        goto done;
    if (cJSON_GetArraySize(rows) == 0) {
        rc = srv_errors(r, 404, "There is currently no data to export");
        goto done;
    }
    out = cJSON_CreateObject();
    if (!out || !cJSON_AddStringToObject(out, "fileName", "unused-vouchers") ||
        !cJSON_AddItemToObject(out, "data", rows)) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rows = NULL;
    rc = srv_json(r, 200, out);
done:
    cJSON_Delete(out);
    cJSON_Delete(rows);
    cJSON_Delete(ids);
    cJSON_Delete(prog);
    return rc;
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

    if (strcmp(type, "unused-vouchers") == 0)
        return unused_vouchers(q, r, pid);
    if (strcmp(type, "vouchers-with-balance") == 0 ||
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

/* ---- the transactions export --------------------------------------------
 * 47,400 rows for 40,000 people: each row is written straight into the
 * response (no object tree built and printed per row), and each
 * transaction comes with its registration from one index join. */

/* `s` as a JSON string, escaped as cJSON prints it. */
static int put_str(struct plat_buf *b, const char *s)
{
    char tmp[256];
    size_t k = 0;

    tmp[k++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (k > sizeof(tmp) - 8) {
            if (plat_buf_append(b, tmp, k) < 0)
                return ERR_NOMEM;
            k = 0;
        }
        if (*p == '"' || *p == '\\') {
            tmp[k++] = '\\';
            tmp[k++] = (char)*p;
        } else if (*p < 32) {
            static const char esc[] = "btnvfr";

            tmp[k++] = '\\';
            if (*p >= 8 && *p <= 13 && *p != 11)
                tmp[k++] = esc[*p - 8];
            else
                k += (size_t)snprintf(tmp + k, 6, "u%04x", *p);
        } else {
            tmp[k++] = (char)*p;
        }
    }
    tmp[k++] = '"';
    return plat_buf_append(b, tmp, k);
}

/* A value as cJSON_PrintUnformatted prints it. */
static int put_val(struct plat_buf *b, const cJSON *v)
{
    char num[32];
    double d = v->valuedouble, back = 0;

    if (cJSON_IsString(v))
        return put_str(b, v->valuestring);
    if (cJSON_IsNull(v))
        return plat_buf_append(b, "null", 4);
    if (cJSON_IsTrue(v))
        return plat_buf_append(b, "true", 4);
    if (cJSON_IsFalse(v))
        return plat_buf_append(b, "false", 5);
    /* d - d is 0 unless d is NaN or infinite (no libm needed) */
    if (cJSON_IsNumber(v) && d - d == 0) {
        if (d == (double)v->valueint)
            snprintf(num, sizeof(num), "%d", v->valueint);
        else {
            snprintf(num, sizeof(num), "%1.15g", d);
            back = strtod(num, NULL);
            double diff = back > d ? back - d : d - back;
            double ad = d < 0 ? -d : d, ab = back < 0 ? -back : back;

            if (diff > (ab > ad ? ab : ad) * DBL_EPSILON)
                snprintf(num, sizeof(num), "%1.17g", d);
        }
        return plat_buf_puts(b, num);
    }
    {
        char *text = cJSON_PrintUnformatted(v);
        int rc = text ? plat_buf_puts(b, text) : ERR_NOMEM;

        cJSON_free(text);
        return rc;
    }
}

/* Row writer: `,"key":value` (the comma after the first). */
struct row_out {
    struct plat_buf *b;
    int n;
    int rc;
};

static void put_kv(struct row_out *o, const char *key, const cJSON *v)
{
    if (o->rc < 0)
        return;
    if ((o->n++ && plat_buf_append(o->b, ",", 1) < 0) ||
        put_str(o->b, key) < 0 || plat_buf_append(o->b, ":", 1) < 0 ||
        put_val(o->b, v) < 0)
        o->rc = plat_err_set(ERR_NOMEM, "out of memory");
}

/* srv_copy_key's twin: src[key] as `as` (or key), when src has it. */
static void put_copy(struct row_out *o, const cJSON *src, const char *key,
                     const char *as)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);

    if (v)
        put_kv(o, as ? as : key, v);
}

struct pay_date {
    int id;
    const cJSON *date;  /* paymentDate of the stored payment, or NULL */
    int64_t ms;
};

struct tx_export {
    struct plat_buf *b;
    int first;
    const cJSON *prog;
    struct pay_date *pays;
    size_t npays;
    int64_t from_ms, to_ms;
};

static int export_tx(const char *json, size_t len, const char *reg_json,
                     size_t reg_len, void *payload)
{
    struct tx_export *x = payload;
    cJSON *t = cJSON_ParseWithLength(json, len), *reg = NULL;
    const cJSON *v, *date = NULL, *null_v;
    struct row_out o = {x->b, 0, 0};
    int64_t ms = 0;
    static cJSON null_item = {.type = cJSON_NULL};

    null_v = &null_item;
    if (!t)
        return plat_err_set(ERR_CORRUPT, "a stored transaction is not JSON");
    v = cJSON_GetObjectItemCaseSensitive(t, "paymentId");
    for (size_t i = 0; cJSON_IsNumber(v) && i < x->npays; i++)
        if (x->pays[i].id == v->valueint) {
            date = x->pays[i].date;
            ms = x->pays[i].ms;
            break;
        }
    if (ms < x->from_ms || ms > x->to_ms)
        goto done;
    if (reg_json)
        reg = cJSON_ParseWithLength(reg_json, reg_len);
    if ((!x->first && plat_buf_append(x->b, ",", 1) < 0) ||
        plat_buf_append(x->b, "{", 1) < 0) {
        o.rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    x->first = 0;
    put_copy(&o, t, "paymentId", NULL);
    put_kv(&o, "paymentDate", date ? date : null_v);
    put_copy(&o, t, "id", NULL);
    put_copy(&o, t, "created", NULL);
    put_copy(&o, t, "updated", NULL);
    put_copy(&o, t, "registrationProgramId", NULL);
    put_copy(&o, t, "registrationReferenceId", NULL);
    put_copy(&o, t, "registrationId", NULL);
    if (reg)
        put_copy(&o, reg, "status", "registrationStatus");
    else
        put_copy(&o, t, "registrationStatus", NULL);
    put_copy(&o, t, "status", NULL);
    put_copy(&o, t, "transferValue", "amount");
    put_copy(&o, t, "errorMessage", NULL);
    put_copy(&o, t, "programFspConfigurationName", NULL);
    v = cJSON_GetObjectItemCaseSensitive(reg, "status");
    if (reg && !(cJSON_IsString(v) && strcmp(v->valuestring, "deleted") ==
                                          0)) {
        const cJSON *a;

        put_copy(&o, reg, "name", "registrationName");
        put_copy(&o, reg, "preferredLanguage", NULL);
        put_copy(&o, reg, "paymentAmountMultiplier", NULL);
        put_copy(&o, t, "programFspConfigurationLabel", NULL);
        put_copy(&o, reg, "paymentCount", NULL);
        put_copy(&o, reg, "maxPayments", NULL);
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(
                                  x->prog, "programRegistrationAttributes")) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "name");
            const cJSON *val;

            if (!cJSON_IsString(n))
                continue;
            val = cJSON_GetObjectItemCaseSensitive(reg, n->valuestring);
            if (is_dropdown(a) && cJSON_IsString(val)) {
                const char *l = dropdown_label(a, val->valuestring);
                cJSON s = {.type = cJSON_String, .valuestring = (char *)l};

                put_kv(&o, n->valuestring, &s);
            } else {
                put_kv(&o, n->valuestring, val ? val : null_v);
            }
        }
    }
    if (o.rc == 0 && plat_buf_append(x->b, "}", 1) < 0)
        o.rc = plat_err_set(ERR_NOMEM, "out of memory");
done:
    cJSON_Delete(reg);
    cJSON_Delete(t);
    return o.rc;
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

/* The stored payments' ids and dates, for the rows' paymentDate. */
static int pay_dates(const cJSON *payments, struct pay_date **out,
                     size_t *n_out)
{
    int n = cJSON_GetArraySize(payments), k = 0;
    struct pay_date *v = plat_calloc((size_t)n + 1, sizeof(*v));
    const cJSON *p;

    *out = v;
    *n_out = 0;
    if (!v)
        return plat_err_set(ERR_NOMEM, "out of memory");
    cJSON_ArrayForEach(p, payments) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "paymentId");
        const cJSON *date = cJSON_GetObjectItemCaseSensitive(p,
                                                             "paymentDate");

        if (!cJSON_IsNumber(id))
            continue;
        v[k].id = id->valueint;
        v[k].date = date;
        if (cJSON_IsString(date) &&
            plat_time_parse_iso(date->valuestring, &v[k].ms) < 0) {
            plat_err_clear();
            v[k].ms = 0;
        }
        k++;
    }
    *n_out = (size_t)k;
    return PLAT_OK;
}

int srv_h_program_transactions(struct srv_req *q, struct srv_resp *r,
                               int pid)
{
    const char *from = srv_q(q, "fromDate"), *to = srv_q(q, "toDate");
    const char *payid = srv_q(q, "paymentId"), *fmt = srv_q(q, "format");
    struct tx_export x;
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
    if (srv_program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    payments = cJSON_CreateArray();
    rc = payments ? store_read_payments(q->st, pid, collect_pay, payments)
                  : plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == PLAT_OK)
        rc = pay_dates(payments, &x.pays, &x.npays);
    if (rc < 0)
        goto done;
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
    x.prog = prog;
    rc = store_read_transactions_joined(q->st, pid, payid ? atoi(payid) : 0,
                                        export_tx, &x);
    if (rc == PLAT_OK && plat_buf_puts(&r->body, "]}") < 0)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == PLAT_OK) {
        r->status = 200;
        r->ctype = "application/json; charset=utf-8";
    }
done:
    plat_free(name);
    plat_free(x.pays);
    cJSON_Delete(payments);
    cJSON_Delete(prog);
    return rc;
}
