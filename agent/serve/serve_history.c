/*
 * serve_history.c - what happened to people, from the store: registration
 * events pulled from 121 (GET .../registration-events), a registration's
 * activities (transactions and events), the program stats summary and
 * paper voucher images.
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
        return srv_query_error(q, r, "fromDate", "isIso8601",
                           "fromDate must be a valid ISO 8601 date string");
    }
    if (to && plat_time_parse_iso(to, &w.to_ms) < 0) {
        plat_err_clear();
        return srv_query_error(q, r, "toDate", "isIso8601",
                           "toDate must be a valid ISO 8601 date string");
    }
    if (fmt && strcmp(fmt, "json") != 0)
        return srv_query_error(q, r, "format", "isIn",
                           "format must be json on this device");
    if (srv_program_or_403(q, r, pid, &prog) < 0)
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
    srv_copy_key(a, ev, "created", NULL);
    u = cJSON_AddObjectToObject(a, "user");
    srv_copy_key(u, ev, "username", NULL);
    at = cJSON_AddObjectToObject(a, "attributes");
    if (strcmp(type, "data-change") == 0)
        srv_copy_key(at, ev, "fieldChanged", "fieldName");
    srv_copy_key(at, ev, "oldValue", NULL);
    srv_copy_key(at, ev, "newValue", NULL);
    srv_copy_key(at, ev, "reason", NULL);
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
    struct srv_tx_rows t = {0};
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
        rc = store_read_transactions(q->st, pid, 0, srv_collect_tx, &t);
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
        srv_copy_key(a, tx, "created", NULL);
        u = cJSON_AddObjectToObject(a, "user");
        srv_copy_key(u, tx, "userId", "id");
        at = cJSON_AddObjectToObject(a, "attributes");
        srv_copy_key(at, tx, "id", "transactionId");
        srv_copy_key(at, tx, "paymentId", NULL);
        srv_copy_key(at, tx, "status", NULL);
        srv_copy_key(at, tx, "transferValue", "amount");
        srv_copy_key(at, tx, "created", "paymentDate");
        srv_copy_key(at, tx, "updated", "updatedDate");
        srv_copy_key(at, tx, "fspName", NULL);
        if (label)
            cJSON_AddItemToObject(at, "fspConfigurationLabel",
                                  cJSON_Duplicate(label, 1));
        srv_copy_key(at, tx, "programFspConfigurationName",
                 "fspConfigurationName");
        srv_copy_key(at, tx, "errorMessage", NULL);
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

    if (srv_program_or_403(q, r, pid, &prog) < 0)
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
