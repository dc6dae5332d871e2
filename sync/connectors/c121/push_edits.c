/*
 * push_edits.c - field edits made on the device go to 121.
 *
 * Each pending edit is checked field by field against the server copy the
 * pull just refreshed (three-way: base = what the person saw):
 *   server == new   already there, nothing to send;
 *   server == base  send it;
 *   otherwise       a conflict, settled by the field's policy: manual (a
 *                   conflict record, the entry waits for a person; its
 *                   other fields are still sent), server wins (the field
 *                   is dropped from the entry), device wins (sent anyway).
 * Values compare as text, as 121 does. Several entries of one
 * registration are checked in order against a working copy that carries
 * the earlier ones (and the in-flight ones, which 121 is still applying).
 *
 * Sending: up to opt->patch_max registrations go as one PATCH each
 * (confirmed by the answer; afterwards the registration's events since
 * just before the check tell whether someone else wrote the same field
 * in the meantime: a conflict for review). More go as CSV bulk updates:
 * one multipart PATCH per set of edited columns (an empty cell would
 * write an empty value), applied by 121 asynchronously, so those entries
 * become inflight and confirm.c settles them after a later pull. Phone
 * numbers cannot be bulk updated and go as single PATCHes.
 */
#include "c121_push.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "sync_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PATCH_MAX_DEFAULT 20
#define CSV_MAX_ROWS 50000     /* contract 0.5: bulk patch cap */
#define CSV_FILE_NAME "agent-edits.csv"
/* 121's bulk update wants a reason; entries made without one get this. */
#define CSV_DEFAULT_REASON "Offline edit from the field agent"
/* One bulk update takes one reason. Up to this many distinct reasons in
 * a sync get an upload each (per column set); more share one upload per
 * column set with a combined reason (121 keeps it on each event; each
 * entry keeps its own reason in the outbox), so that a reason per edit
 * cannot turn N edits into N requests. */
#define BULK_REASONS_MAX 4
#define CSV_MIXED_REASON "Offline edits from the field agent: %zu reasons, " \
                         "see the device outbox"
/* Events this long before the session's login are read too (the login
 * time is server time; older events are told apart by their values). */
#define WINDOW_MARGIN_MS (5 * 60 * 1000)

/* What the check decided for one entry. */
struct item {
    struct sync_op *e;
    struct sync_check chk; /* the engine's three-way decision          */
    int unit;           /* index of its unit, -1 if none                */
};

/* One request's worth for one registration: its entries in order while
 * they share a reason. */
struct unit {
    const char *ref;
    const char *reason;   /* borrowed from an entry payload; may be NULL */
    cJSON *data;          /* merged fields to send                      */
    cJSON *pre;           /* the server value of each at the check      */
    size_t first, end;    /* item range (sorted order)                  */
    int single;           /* must go as a single PATCH                  */
    int multi;            /* one of several units of its registration   */
    int mixed;            /* merged units of several reasons            */
    int merged;           /* merged into the unit before it: not sent   */
    int rejected;
    char *key;            /* CSV group key                              */
};

struct edits {
    struct c121 *c;
    struct sync_ops pend, infl;
    size_t *pix, *iix;    /* pend / infl ordered by (ref, seq)          */
    struct item *items;   /* in pix order                               */
    struct unit *units;
    size_t n_units, cap_units;
    int64_t check_ms;
    int64_t done, sent, rejected, conflicts, dropped;
    int mix_reasons;      /* bulk uploads group by columns only         */
    int first_err;
    char first_msg[256];
};

static size_t count_reasons(const struct edits *k, const size_t *ux,
                            size_t n);

/* ---- ordering ----------------------------------------------------------- */

/* First position in k->iix whose entry has `ref`, or infl.n. */
static size_t inflight_first(const struct edits *k, const char *ref)
{
    size_t lo = 0, hi = k->infl.n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(k->infl.v[k->iix[mid]].ref, ref) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const char *reason_of(const struct sync_op *e)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(e->payload, "reason");

    return cJSON_IsString(r) && r->valuestring[0] ? r->valuestring : NULL;
}

static int same_reason(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void remember_err(struct edits *k, int rc)
{
    if (k->first_err == PLAT_OK) {
        k->first_err = rc;
        snprintf(k->first_msg, sizeof(k->first_msg), "%s", plat_err_msg());
    }
}

/* ---- the check ---------------------------------------------------------- */

/* The engine's three-way check of one entry against `working` (updated
 * with what will be sent). Server-wins fields are dropped from the entry
 * at once by the engine. */
static int check_entry(struct edits *k, struct item *it, cJSON *working,
                       const cJSON *server)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(it->e->payload,
                                                         "data");
    int rc;

    rc = sync_check_fields(k->c->ctx, it->e, data, it->e->base, working,
                           server, &it->chk);
    if (rc == PLAT_OK)
        k->dropped += it->chk.dropped;
    return rc;
}

static int new_unit(struct edits *k, const char *ref, const char *reason,
                    size_t first, struct unit **out)
{
    struct unit *u, *grown;
    size_t cap;

    if (k->n_units == k->cap_units) {
        cap = k->cap_units ? k->cap_units * 2 : 64;
        grown = plat_realloc(k->units, cap * sizeof(*grown));
        if (!grown)
            return plat_err_set(ERR_NOMEM, "out of memory");
        k->units = grown;
        k->cap_units = cap;
    }
    u = &k->units[k->n_units];
    memset(u, 0, sizeof(*u));
    u->ref = ref;
    u->reason = reason;
    u->first = first;
    u->end = first;
    u->data = cJSON_CreateObject();
    u->pre = cJSON_CreateObject();
    if (!u->data || !u->pre) {
        cJSON_Delete(u->data);
        cJSON_Delete(u->pre);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    k->n_units++;
    *out = u;
    return PLAT_OK;
}

/* Reject every entry of the registration group [first, end): `msg`. */
static int reject_group(struct edits *k, size_t first, size_t end,
                        const char *msg)
{
    size_t i;
    int rc = PLAT_OK;

    for (i = first; rc == PLAT_OK && i < end; i++)
        rc = c121_op_settle_count(k->c, k->items[i].e, SYNC_OP_REJECTED, msg,
                                     &k->rejected);
    return rc;
}

/* Check the entries [first, end) of one registration (sorted order) and
 * turn what is to be sent into units. Joins the caller's transaction. */
static int check_ref(struct edits *k, size_t first, size_t end,
                     int *n_units_out)
{
    struct c121 *c = k->c;
    const char *ref = k->items[first].e->ref;
    cJSON *server = NULL, *working = NULL;
    struct unit *u = NULL;
    const cJSON *f;
    size_t i, j;
    int rc, tel;

    *n_units_out = 0;
    rc = c121_server_copy(c, ref, &server);
    if (rc == ERR_NOTFOUND) {
        /* Its create has not reached 121 yet: next cycle. */
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc == ERR_INVALID) {
        char msg[C121_MSG_MAX];
        snprintf(msg, sizeof(msg), "%s", plat_err_msg());
        return reject_group(k, first, end, msg);
    }
    if (rc < 0)
        return rc;
    if (strcmp(c121_copy_status(server), "deleted") == 0) {
        rc = reject_group(k, first, end,
                          "not found on the server (deleted?)");
        goto done;
    }
    working = cJSON_Duplicate(server, 1);
    if (!working) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    /* What is in flight will land: the check starts from there. */
    for (j = inflight_first(k, ref);
         j < k->infl.n && strcmp(k->infl.v[k->iix[j]].ref, ref) == 0; j++) {
        const cJSON *data = cJSON_GetObjectItemCaseSensitive(
            k->infl.v[k->iix[j]].payload, "data");
        cJSON_ArrayForEach(f, data) {
            rc = sync_json_set(working, f->string, f);
            if (rc < 0)
                goto done;
        }
    }

    for (i = first; i < end; i++) {
        struct item *it = &k->items[i];

        rc = check_entry(k, it, working, server);
        if (rc < 0)
            goto done;
        if (!it->chk.send) {
            /* Nothing to send: settled here. */
            if (it->chk.conflicts) {
                rc = sync_check_record(c->ctx, it->e, &it->chk);
            } else {
                rc = c121_op_settle_count(c, it->e, SYNC_OP_DONE, NULL,
                                             &k->done);
            }
            if (rc < 0)
                goto done;
            continue;
        }
        if (!u || !same_reason(u->reason, reason_of(it->e))) {
            rc = new_unit(k, ref, reason_of(it->e), i, &u);
            if (rc < 0)
                goto done;
            (*n_units_out)++;
        }
        it->unit = (int)(u - k->units);
        u->end = i + 1;
        cJSON_ArrayForEach(f, it->chk.send) {
            if (!cJSON_GetObjectItemCaseSensitive(u->pre, f->string)) {
                rc = sync_json_set(u->pre, f->string,
                              cJSON_GetObjectItemCaseSensitive(server,
                                                               f->string));
                if (rc < 0)
                    goto done;
            }
            rc = sync_json_set(u->data, f->string, f);
            if (rc < 0)
                goto done;
            tel = c121_field_is_tel(c, f->string);
            if (tel || cJSON_IsObject(f) || cJSON_IsArray(f))
                u->single = 1;
        }
        if (it->chk.conflicts)
            u->single = 1; /* its outcome must be known to record them */
    }
    /* More than one request for the registration (their reasons
     * differ): sent one by one in order, or merged into one bulk row
     * (merge_multi). */
    if (*n_units_out > 1)
        for (j = k->n_units - (size_t)*n_units_out; j < k->n_units; j++)
            k->units[j].multi = 1;

done:
    cJSON_Delete(server);
    cJSON_Delete(working);
    return rc;
}

/* ---- settling after a send ---------------------------------------------- */

/* The unit was applied by 121: its entries are done (or conflict, for
 * their manual conflicts). `state` "done" or "inflight". */
static int settle_unit(struct edits *k, struct unit *u, int state)
{
    size_t i;
    int rc = PLAT_OK;

    for (i = u->first; rc == PLAT_OK && i < u->end; i++) {
        struct item *it = &k->items[i];

        if (it->unit != (int)(u - k->units))
            continue;
        /* Device-wins audit records, and the manual conflicts of an
         * entry that also sent other fields. */
        rc = sync_check_record(k->c->ctx, it->e, &it->chk);
        if (rc < 0 || it->chk.conflicts)
            continue;
        rc = sync_op_settle(k->c->ctx, it->e->seq, it->e->ref, state, NULL);
        if (rc == PLAT_OK && state == SYNC_OP_DONE)
            k->done++;
        else if (rc == PLAT_OK)
            k->sent++;
    }
    return rc;
}

/* The entries of unit `u` that settle_unit left in flight are done (the
 * look-back after the write found what it had to). The stored copy holds
 * what the unit sent (save_answer), so the view is recomputed from it: a
 * manual conflict of a later entry recorded in settle_unit took that
 * entry out of the view while these were still in flight, and an entry
 * it had replaced showed again (seed 4722: "north" of the first edit over
 * the "south" of the second, which 121 held). */
static int finish_unit(struct edits *k, struct unit *u)
{
    size_t i;
    int rc = PLAT_OK;

    for (i = u->first; rc == PLAT_OK && i < u->end; i++) {
        struct item *it = &k->items[i];

        if (it->unit != (int)(u - k->units) || it->chk.conflicts)
            continue;
        rc = sync_op_settle(k->c->ctx, it->e->seq, it->e->ref, SYNC_OP_DONE,
                            NULL);
        if (rc == PLAT_OK) {
            k->sent--;
            k->done++;
        }
    }
    if (rc == PLAT_OK)
        rc = sync_refresh_view(k->c->ctx, u->ref);
    return rc;
}

static int reject_unit(struct edits *k, struct unit *u, const char *msg)
{
    size_t i;
    int rc = PLAT_OK;

    u->rejected = 1;
    for (i = u->first; rc == PLAT_OK && i < u->end; i++) {
        struct item *it = &k->items[i];

        if (it->unit != (int)(u - k->units))
            continue;
        rc = c121_op_settle_count(k->c, it->e, SYNC_OP_REJECTED, msg,
                                     &k->rejected);
    }
    return rc;
}

/* ---- the check-to-write window ----------------------------------------- */

static int is_ours(const struct c121 *c, const cJSON *ev)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(ev, "username");

    return cJSON_IsString(u) && c->user[0] &&
           strcasecmp(u->valuestring, c->user) == 0;
}

static int64_t ev_id(const cJSON *ev)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
    int64_t v;

    return c121_json_int(id, 1, C121_ID_MAX, &v) ? v : 0;
}

static int ev_field_is(const cJSON *ev, const char *field)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(ev, "fieldChanged");

    return cJSON_IsString(f) && strcmp(f->valuestring, field) == 0;
}

/* The entry of unit `u` that last carried `field`. */
static const struct sync_op *carrier(struct edits *k, struct unit *u,
                                        const char *field)
{
    const struct sync_op *e = NULL;
    size_t i;

    for (i = u->first; i < u->end; i++) {
        struct item *it = &k->items[i];
        if (it->unit == (int)(u - k->units) &&
            cJSON_GetObjectItemCaseSensitive(it->chk.send, field))
            e = it->e;
    }
    return e;
}

static const cJSON *event_by_id(const cJSON *data, int64_t id)
{
    const cJSON *ev;

    cJSON_ArrayForEach(ev, data)
        if (ev_id(ev) == id)
            return ev;
    return NULL;
}

/* The newest entry unit `u` sends. */
static int64_t unit_last_seq(const struct edits *k, const struct unit *u)
{
    int64_t seq = 0;
    size_t i;

    for (i = u->first; i < u->end; i++)
        if (k->items[i].e->seq > seq)
            seq = k->items[i].e->seq;
    return seq;
}

/* 1 if `v` is a value of `field` the device knew for `ref` before the
 * write of unit `u`: what the check saw (`pre`), or the base or sent
 * value of one of its in-flight edits or of its pending edits up to the
 * unit's own (an earlier write of ours). A pending edit made after the
 * unit's entries was not on the server before this write: an office value
 * it happens to repeat is still another writer's (as in pull_events.c). */
static int device_knew(struct edits *k, const struct unit *u,
                       const char *field, const cJSON *pre, const cJSON *v)
{
    const struct sync_ops *sets[2] = {&k->pend, &k->infl};
    int64_t bound = unit_last_seq(k, u);
    size_t s, j;

    if (sync_same_value(k->c->ctx, field, v, pre))
        return 1;
    for (s = 0; s < 2; s++)
        for (j = 0; j < sets[s]->n; j++) {
            const struct sync_op *op = &sets[s]->v[j];

            if ((s == 1 || op->seq <= bound) &&
                c121_edit_knew(k->c, op, u->ref, field, v))
                return 1;
        }
    return 0;
}

/* 1 if our event `ev` of `field` replaced a value the device never saw.
 * The look-back reads a window of events; an office write older than it
 * shows only here, as the oldValue of our own event (as in
 * pull_events.c). An event without oldValue tells nothing. */
static int replaced_unseen(struct edits *k, struct unit *u, const char *field,
                           const cJSON *pre, const cJSON *ev)
{
    const cJSON *ov = cJSON_GetObjectItemCaseSensitive(ev, "oldValue");
    cJSON *old;
    int r;

    if (!ev || !ov || !(cJSON_IsString(ov) || cJSON_IsNull(ov)))
        return 0;
    old = cJSON_IsString(ov) ? cJSON_CreateString(ov->valuestring)
                             : cJSON_CreateNull();
    if (!old)
        return 0; /* out of memory: the next pull's events check again */
    r = !device_knew(k, u, field, pre, old);
    cJSON_Delete(old);
    return r;
}

/* After a PATCH that changed something: did another writer change one of
 * the same fields between our check and now? 121 has no ETag, so only
 * its events can tell. Each such field becomes a conflict for review. */
static int window_check(struct edits *k, struct unit *u)
{
    struct c121 *c = k->c;
    struct sync_http_response r;
    struct plat_buf path;
    char iso[PLAT_ISO_LEN];
    cJSON *root = NULL, *xv = NULL;
    const cJSON *data, *ev, *f, *nv;
    size_t cap;
    int rc;

    plat_buf_init(&path, 0);
    memset(&r, 0, sizeof(r));
    plat_time_iso(k->check_ms - WINDOW_MARGIN_MS, iso);
    rc = plat_buf_printf(&path, "%s/registration-events?referenceId=",
                         c->prefix);
    if (rc == PLAT_OK)
        rc = sync_http_escape(&path, u->ref);
    if (rc == PLAT_OK)
        rc = plat_buf_puts(&path, "&fromDate=");
    if (rc == PLAT_OK)
        rc = sync_http_escape(&path, iso);
    if (rc < 0)
        goto done;
    cap = sync_http_set_max_response(c->http, C121_MAX_SMALL_ANSWER);
    rc = sync_http_request(c->http, "GET", path.data, NULL, NULL, 0, NULL,
                           &r);
    sync_http_set_max_response(c->http, cap);
    if (rc < 0)
        goto done;
    if (r.status == 404) {
        /* Our own write made an event, so "none" means the events are
         * not readable (permission, lag): nothing proves that no one
         * else wrote. Say so rather than assume it. */
        log_warn("121: registration %s: cannot read the events after our "
                 "write; another writer in that window would go unseen",
                 u->ref);
        goto done;
    }
    rc = sync_http_response_err(&r, "121 GET registration-events");
    if (rc == PLAT_OK)
        rc = sync_http_check_json(&r, "121 GET registration-events");
    if (rc == PLAT_OK &&
        c121_json_has_nul(r.body.data ? r.body.data : "", r.body.len))
        rc = plat_err_set(ERR_INVALID, "121 sent a registration event with "
                          "a NUL character (\\u0000) in a string");
    if (rc < 0)
        goto done;
    root = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsArray(data)) {
        rc = plat_err_set(ERR_INVALID, "121 GET registration-events: the "
                          "answer has no data array");
        goto done;
    }
    cJSON_ArrayForEach(f, u->data) {
        const cJSON *pre = cJSON_GetObjectItemCaseSensitive(u->pre, f->string);
        const cJSON *other = NULL, *our_ev;
        const struct sync_op *e;
        int64_t our_id = 0, s_id = 0, best = 0;

        cJSON_ArrayForEach(ev, data) {
            nv = cJSON_GetObjectItemCaseSensitive(ev, "newValue");
            if (ev_field_is(ev, f->string) && is_ours(c, ev) &&
                sync_same_value(c->ctx, f->string, nv, f) && ev_id(ev) > our_id)
                our_id = ev_id(ev);
        }
        if (our_id == 0)
            continue; /* we changed nothing in this field */
        our_ev = event_by_id(data, our_id);
        /* The last time before our write that the field became what the
         * check saw: anything before that was already in the copy. */
        cJSON_ArrayForEach(ev, data) {
            nv = cJSON_GetObjectItemCaseSensitive(ev, "newValue");
            if (ev_field_is(ev, f->string) && ev_id(ev) < our_id &&
                sync_same_value(c->ctx, f->string, nv, pre) && ev_id(ev) > s_id)
                s_id = ev_id(ev);
        }
        cJSON_ArrayForEach(ev, data) {
            nv = cJSON_GetObjectItemCaseSensitive(ev, "newValue");
            if (ev_field_is(ev, f->string) && !is_ours(c, ev) &&
                ev_id(ev) > s_id && !sync_same_value(c->ctx, f->string, nv, f) &&
                ev_id(ev) > best) {
                best = ev_id(ev);
                other = ev;
            }
        }
        if (!other && replaced_unseen(k, u, f->string, pre, our_ev)) {
            /* The value our write replaced is one this device never saw:
             * another writer changed the field before the look-back's
             * window (a copy not refreshed, as with --push-only), and
             * the server holds ours. */
            other = our_ev;
            best = 0;
        }
        if (!other)
            continue;
        nv = cJSON_GetObjectItemCaseSensitive(other,
                                              other == our_ev ? "oldValue"
                                                              : "newValue");
        cJSON_Delete(xv);
        xv = cJSON_IsString(nv) ? cJSON_CreateString(nv->valuestring)
                                : cJSON_CreateNull();
        if (!xv) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        e = carrier(k, u, f->string);
        rc = sync_batch_begin(c->ctx);
        if (rc == PLAT_OK && best > our_id)
            /* They wrote after us: the server now holds their value. */
            rc = c121_event_apply(c, u->ref, f->string,
                                       cJSON_IsString(nv) ? nv->valuestring
                                                          : NULL);
        if (rc == PLAT_OK)
            rc = sync_conflict_add_once(c->ctx, e ? e->seq : 0, u->ref,
                                        f->string, pre, f, xv);
        rc = sync_batch_end(c->ctx, rc);
        if (rc < 0)
            goto done;
        k->conflicts++;
        log_info("121 push: %s field %s was also written by another user "
                 "around our PATCH: conflict for review", u->ref, f->string);
    }

done:
    cJSON_Delete(root);
    cJSON_Delete(xv);
    plat_buf_dispose(&path);
    sync_http_response_dispose(&r);
    return rc;
}

/* ---- single PATCH ------------------------------------------------------- */

/* The server copy after a 200: the answer when it is a registration,
 * else the stored copy with the sent values (an empty answer means 121
 * already had them). */
static int save_answer(struct edits *k, struct unit *u,
                        const struct sync_http_response *r)
{
    struct c121 *c = k->c;
    cJSON *reg = NULL;
    const cJSON *f, *ref;
    int rc;

    if (r->body.len > 0) {
        reg = cJSON_ParseWithLength(r->body.data, r->body.len);
        ref = cJSON_GetObjectItemCaseSensitive(reg, "referenceId");
        if (cJSON_IsObject(reg) && cJSON_IsString(ref) &&
            strcmp(ref->valuestring, u->ref) == 0 &&
            cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(reg,
                                                            "programId"))) {
            rc = sync_put_registration(c->ctx, reg);
            cJSON_Delete(reg);
            if (rc != ERR_INVALID)
                return rc;
            plat_err_clear();
            reg = NULL;
        }
        cJSON_Delete(reg);
        reg = NULL;
    }
    rc = sync_get_registration(c->ctx, u->ref, &reg);
    if (rc < 0)
        return rc;
    cJSON_ArrayForEach(f, u->data) {
        rc = sync_json_set(reg, f->string, f);
        if (rc < 0)
            break;
    }
    if (rc == PLAT_OK)
        rc = sync_put_registration(c->ctx, reg);
    cJSON_Delete(reg);
    return rc;
}

static int send_single(struct edits *k, struct unit *u)
{
    struct c121 *c = k->c;
    struct sync_http_response r;
    struct plat_buf path;
    char msg[C121_MSG_MAX];
    cJSON *body = NULL;
    char *text = NULL;
    int rc;

    plat_buf_init(&path, 0);
    memset(&r, 0, sizeof(r));
    body = cJSON_CreateObject();
    if (!body || !cJSON_AddItemToObject(body, "data",
                                        cJSON_Duplicate(u->data, 1)) ||
        (u->reason && !cJSON_AddStringToObject(body, "reason", u->reason))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    text = cJSON_PrintUnformatted(body);
    if (!text) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = plat_buf_printf(&path, "%s/registrations/", c->prefix);
    if (rc == PLAT_OK)
        rc = sync_http_escape(&path, u->ref);
    if (rc < 0)
        goto done;
    rc = sync_http_request(c->http, "PATCH", path.data, "application/json",
                           text, strlen(text), NULL, &r);
    if (rc < 0)
        goto done; /* ERR_RETRY, ERR_AUTH...: the entries stay pending */
    if (r.status == 200) {
        /* The write stays in flight until the look-back for another
         * writer is done: killed or cut off in between, the next pull's
         * events confirm it and do that check (pull_events.c), so an
         * overwrite is never left unreported. An empty answer ("nothing
         * changed") gets the look-back too: it is also what a retry
         * gets after 121 applied the first attempt and the answer was
         * cut off (seeds 5955, 6320), and then our write is in the
         * events. When 121 really had the values, no event of ours is
         * there and the look-back finds nothing. */
        rc = sync_batch_begin(c->ctx);
        if (rc == PLAT_OK)
            rc = save_answer(k, u, &r);
        if (rc == PLAT_OK)
            rc = settle_unit(k, u, SYNC_OP_INFLIGHT);
        rc = sync_batch_end(c->ctx, rc);
        if (rc == PLAT_OK) {
            rc = window_check(k, u);
            if (rc == PLAT_OK) {
                rc = sync_batch_begin(c->ctx);
                if (rc == PLAT_OK)
                    rc = finish_unit(k, u);
                rc = sync_batch_end(c->ctx, rc);
            } else if (rc != ERR_RETRY && rc != ERR_AUTH &&
                       rc != ERR_NOMEM && rc != ERR_IO) {
                /* The change is made; only the look-back failed. */
                log_warn("121 push: could not read the events of %s after "
                         "writing it (%s)", u->ref, plat_err_name(rc));
                plat_err_clear();
                rc = PLAT_OK;
            }
        }
        goto done;
    }
    if (r.status == 404) {
        rc = sync_batch_begin(c->ctx);
        if (rc == PLAT_OK)
            rc = reject_unit(k, u, "not found on the server (deleted?)");
        rc = sync_batch_end(c->ctx, rc);
        goto done;
    }
    if (r.status >= 400 && r.status < 500 && r.status != 401 &&
        r.status != 403 && r.status != 408 && r.status != 429) {
        c121_error_message(r.body.data, r.body.len, msg, sizeof(msg));
        if (!msg[0])
            snprintf(msg, sizeof(msg), "121 refused the change (HTTP %ld)",
                     r.status);
        rc = sync_batch_begin(c->ctx);
        if (rc == PLAT_OK)
            rc = reject_unit(k, u, msg);
        rc = sync_batch_end(c->ctx, rc);
        goto done;
    }
    rc = sync_http_response_err(&r, "121 PATCH registration");
    if (rc == PLAT_OK)
        rc = plat_err_set(ERR_INVALID, "121 PATCH registration %s: "
                          "unexpected HTTP %ld", u->ref, r.status);

done:
    cJSON_Delete(body);
    cJSON_free(text);
    plat_buf_dispose(&path);
    sync_http_response_dispose(&r);
    return rc;
}

/* ---- CSV bulk updates --------------------------------------------------- */

/* Append `v` as one CSV field: quoted when it holds a separator (121
 * takes , or ;), a quote or a line break. */
static int csv_field(struct plat_buf *b, const char *v)
{
    const char *p;
    int rc;

    if (!strpbrk(v, ",;\"\r\n"))
        return plat_buf_puts(b, v);
    rc = plat_buf_puts(b, "\"");
    for (p = v; rc == PLAT_OK && *p; p++)
        rc = *p == '"' ? plat_buf_puts(b, "\"\"") : plat_buf_append(b, p, 1);
    if (rc == PLAT_OK)
        rc = plat_buf_puts(b, "\"");
    return rc;
}

/* The group key of a CSV unit: reason and sorted columns. */
static int unit_key(struct unit *u, int no_reason)
{
    struct plat_buf b;
    const char **cols = NULL;
    const cJSON *f;
    size_t n = 0, i, j;
    int rc;

    plat_buf_init(&b, 0);
    cols = plat_malloc(((size_t)cJSON_GetArraySize(u->data) + 1) *
                       sizeof(*cols));
    if (!cols)
        return plat_err_set(ERR_NOMEM, "out of memory");
    cJSON_ArrayForEach(f, u->data) {
        /* Insertion sort: a handful of columns. */
        for (i = n; i > 0 && strcmp(cols[i - 1], f->string) > 0; i--)
            cols[i] = cols[i - 1];
        cols[i] = f->string;
        n++;
    }
    rc = plat_buf_puts(&b, !no_reason && u->reason ? u->reason : "");
    for (j = 0; rc == PLAT_OK && j < n; j++) {
        rc = plat_buf_puts(&b, "\x1e");
        if (rc == PLAT_OK)
            rc = plat_buf_puts(&b, cols[j]);
    }
    plat_free(cols);
    if (rc < 0) {
        plat_buf_dispose(&b);
        return rc;
    }
    u->key = plat_buf_detach(&b);
    return u->key ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
}

/* qsort has no payload: sort (unit pointer, index) pairs, so that no
 * global is needed (syncs run on the daemon's worker thread). */
struct unit_ix {
    const struct unit *u;
    size_t ix;
};

static int by_key(const void *a, const void *b)
{
    const struct unit *x = ((const struct unit_ix *)a)->u;
    const struct unit *y = ((const struct unit_ix *)b)->u;
    int d = strcmp(x->key, y->key);

    if (d)
        return d;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Order ux[0..n) by (CSV group key, first item). */
static int order_by_key(struct edits *k, size_t *ux, size_t n)
{
    struct unit_ix *pairs = plat_malloc((n ? n : 1) * sizeof(*pairs));
    size_t i;

    if (!pairs)
        return plat_err_set(ERR_NOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        pairs[i].u = &k->units[ux[i]];
        pairs[i].ix = ux[i];
    }
    qsort(pairs, n, sizeof(*pairs), by_key);
    for (i = 0; i < n; i++)
        ux[i] = pairs[i].ix;
    plat_free(pairs);
    return PLAT_OK;
}

/* The CSV of units ux[0..n): header from the first unit's columns. */
static int build_csv(struct edits *k, const size_t *ux, size_t n,
                     struct plat_buf *csv)
{
    const cJSON *f, *head = k->units[ux[0]].data;
    char num[40];
    const char *t;
    size_t i;
    int rc;

    rc = plat_buf_puts(csv, "referenceId");
    cJSON_ArrayForEach(f, head) {
        if (rc == PLAT_OK)
            rc = plat_buf_puts(csv, ",");
        if (rc == PLAT_OK)
            rc = csv_field(csv, f->string);
    }
    if (rc == PLAT_OK)
        rc = plat_buf_puts(csv, "\n");
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        const struct unit *u = &k->units[ux[i]];

        rc = csv_field(csv, u->ref);
        cJSON_ArrayForEach(f, head) {
            if (rc < 0)
                break;
            t = c121_value_text(cJSON_GetObjectItemCaseSensitive(
                                    u->data, f->string),
                                num, sizeof(num));
            rc = plat_buf_puts(csv, ",");
            if (rc == PLAT_OK)
                rc = csv_field(csv, t ? t : "");
        }
        if (rc == PLAT_OK)
            rc = plat_buf_puts(csv, "\n");
    }
    return rc;
}

/* The units ux[0..n) of one upload, its data rows in order. */
struct csv_rows {
    const struct edits *k;
    const size_t *ux;
};

static const char *csv_row_ref(const void *rows, size_t i)
{
    const struct csv_rows *r = rows;

    return r->k->units[r->ux[i]].ref;
}

/* Reject the units of a refused upload that the answer names; returns
 * how many it named (0: none, the caller rejects them all). */
static int reject_named(struct edits *k, size_t *ux, size_t n,
                        const struct sync_http_response *r, size_t *named)
{
    struct csv_rows rows = {k, ux};
    char msg[C121_MSG_MAX];
    cJSON *arr = NULL, *e;
    const char *p;
    size_t i;
    long row;
    int rc = PLAT_OK;

    *named = 0;
    if (r->status == 404) {
        /* "The following referenceIds were not found in the database:
         * a, b" */
        c121_error_message(r->body.data, r->body.len, msg, sizeof(msg));
        p = strstr(msg, "database:");
        for (i = 0; p && rc == PLAT_OK && i < n; i++) {
            const char *ref = k->units[ux[i]].ref, *hit = p;
            size_t len = strlen(ref);

            while ((hit = strstr(hit, ref)) != NULL) {
                char after = hit[len], before = hit[-1];
                if ((before == ' ' || before == ',') &&
                    (after == '\0' || after == ',' || after == ' '))
                    break;
                hit += len;
            }
            if (!hit)
                continue;
            rc = reject_unit(k, &k->units[ux[i]],
                             "not found on the server (deleted?)");
            (*named)++;
        }
        return rc;
    }
    arr = cJSON_ParseWithLength(r->body.data ? r->body.data : "",
                                r->body.len);
    if (!cJSON_IsArray(arr))
        goto done;
    cJSON_ArrayForEach(e, arr) {
        row = c121_entry_row(e, n, csv_row_ref, &rows);
        if (row >= 0)
            cJSON_AddNumberToObject(e, "_row", (double)row);
    }
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        c121_row_message(arr, (long)i, msg, sizeof(msg));
        if (!msg[0])
            continue;
        rc = reject_unit(k, &k->units[ux[i]], msg);
        (*named)++;
    }

done:
    cJSON_Delete(arr);
    return rc;
}

/* Upload units ux[0..n) (one column set, one reason), at most
 * CSV_MAX_ROWS rows per request; refused rows are rejected and the rest
 * is uploaded again. */
static int send_csv(struct edits *k, size_t *ux, size_t n)
{
    struct c121 *c = k->c;
    struct sync_http_form_field reason;
    struct sync_http_response r;
    struct plat_buf csv, body;
    char ctype[SYNC_HTTP_CONTENT_TYPE_SIZE], path[96], msg[C121_MSG_MAX];
    char mixed[160];
    const char *rs = k->units[ux[0]].reason;
    size_t m, i, j, named, nr;
    int rc = PLAT_OK;

    plat_buf_init(&csv, 0);
    plat_buf_init(&body, 0);
    memset(&r, 0, sizeof(r));
    snprintf(path, sizeof(path), "%s/registrations", c->prefix);
    reason.name = "reason";
    reason.value = rs ? rs : CSV_DEFAULT_REASON;
    if (k->mix_reasons && (nr = count_reasons(k, ux, n)) != 1) {
        snprintf(mixed, sizeof(mixed), CSV_MIXED_REASON, nr);
        reason.value = mixed;
    } else if (k->mix_reasons) {
        /* One reason after all: the first entry's. */
        const char *r1 = reason_of(k->items[k->units[ux[0]].first].e);
        reason.value = r1 ? r1 : CSV_DEFAULT_REASON;
    }
    while (n > 0) {
        m = n < CSV_MAX_ROWS ? n : CSV_MAX_ROWS;
        plat_buf_reset(&csv);
        plat_buf_reset(&body);
        sync_http_response_dispose(&r);
        rc = build_csv(k, ux, m, &csv);
        if (rc == PLAT_OK)
            rc = sync_http_multipart_csv(&body, ctype, CSV_FILE_NAME,
                                         csv.data, csv.len, &reason, 1);
        if (rc < 0)
            break;
        rc = sync_http_request(c->http, "PATCH", path, ctype, body.data,
                               body.len, NULL, &r);
        if (rc < 0)
            break;
        if (r.status == 200) {
            /* Accepted; 121 applies the rows one by one later. */
            rc = sync_batch_begin(c->ctx);
            for (i = 0; rc == PLAT_OK && i < m; i++)
                rc = settle_unit(k, &k->units[ux[i]], SYNC_OP_INFLIGHT);
            rc = sync_batch_end(c->ctx, rc);
            if (rc < 0)
                break;
            ux += m;
            n -= m;
            continue;
        }
        if (r.status == 400 || r.status == 404) {
            rc = sync_batch_begin(c->ctx);
            if (rc == PLAT_OK)
                rc = reject_named(k, ux, m, &r, &named);
            if (rc == PLAT_OK && named == 0) {
                /* Refused as a whole, naming no row. */
                c121_error_message(r.body.data, r.body.len, msg,
                                        sizeof(msg));
                for (i = 0; rc == PLAT_OK && i < m; i++)
                    rc = reject_unit(k, &k->units[ux[i]],
                                     msg[0] ? msg : "121 refused the bulk "
                                                    "update");
            }
            rc = sync_batch_end(c->ctx, rc);
            if (rc < 0)
                break;
            /* Upload the others again. */
            for (i = 0, j = 0; i < n; i++)
                if (!k->units[ux[i]].rejected)
                    ux[j++] = ux[i];
            n = j;
            continue;
        }
        rc = sync_http_response_err(&r, "121 PATCH registrations (bulk)");
        if (rc == PLAT_OK)
            rc = plat_err_set(ERR_INVALID, "121 PATCH registrations (bulk): "
                              "unexpected HTTP %ld", r.status);
        if (rc == ERR_AUTH)
            break;
        /* This chunk waits for the next cycle; try the others. */
        remember_err(k, rc);
        rc = PLAT_OK;
        ux += m;
        n -= m;
    }
    plat_buf_dispose(&csv);
    plat_buf_dispose(&body);
    sync_http_response_dispose(&r);
    return rc;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Number of distinct reasons of the entries of units ux[0..n) (an entry
 * without one counts as the default reason); 0 when out of memory. */
static size_t count_reasons(const struct edits *k, const size_t *ux,
                            size_t n)
{
    const char **v;
    size_t m = 0, cap = 0, i, j, d = 0;
    const char *r;

    for (i = 0; i < n; i++)
        cap += k->units[ux[i]].end - k->units[ux[i]].first;
    v = plat_malloc((cap ? cap : 1) * sizeof(*v));
    if (!v)
        return 0;
    for (i = 0; i < n; i++) {
        const struct unit *u = &k->units[ux[i]];
        for (j = u->first; j < u->end; j++) {
            if (k->items[j].unit != (int)ux[i])
                continue;
            r = reason_of(k->items[j].e);
            v[m++] = r ? r : CSV_DEFAULT_REASON;
        }
    }
    qsort(v, m, sizeof(*v), by_text);
    for (i = 0; i < m; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
            d++;
    plat_free(v);
    return d;
}

/* Units of one registration split only by their reasons become one: in
 * bulk every registration is one row. The later entries' values win (the
 * check ran them in order); the reasons are combined at the upload. */
static int merge_multi(struct edits *k, size_t first, size_t end)
{
    struct unit *u = &k->units[first], *o;
    const cJSON *f;
    size_t i, j;
    int rc;

    for (i = first + 1; i < end; i++) {
        o = &k->units[i];
        cJSON_ArrayForEach(f, o->data) {
            rc = sync_json_set(u->data, f->string, f);
            if (rc < 0)
                return rc;
            if (!cJSON_GetObjectItemCaseSensitive(u->pre, f->string) &&
                (rc = sync_json_set(u->pre, f->string,
                               cJSON_GetObjectItemCaseSensitive(
                                   o->pre, f->string))) < 0)
                return rc;
        }
        for (j = o->first; j < o->end; j++)
            if (k->items[j].unit == (int)i)
                k->items[j].unit = (int)first;
        if (!same_reason(u->reason, o->reason))
            u->mixed = 1;
        u->end = o->end;
        o->merged = 1;
    }
    u->multi = 0;
    return PLAT_OK;
}

/* Each run of units of one registration: merged for bulk when none of
 * them must go singly, else all single (in order). */
static int settle_multi(struct edits *k, int bulk_mode)
{
    size_t i, j, m;
    int single, rc;

    for (i = 0; i < k->n_units; i = j) {
        j = i + 1;
        if (!k->units[i].multi)
            continue;
        while (j < k->n_units && k->units[j].multi &&
               strcmp(k->units[j].ref, k->units[i].ref) == 0)
            j++;
        single = !bulk_mode;
        for (m = i; m < j; m++)
            single |= k->units[m].single;
        if (!single) {
            rc = merge_multi(k, i, j);
            if (rc < 0)
                return rc;
            continue;
        }
        for (m = i; m < j; m++)
            k->units[m].single = 1;
    }
    return PLAT_OK;
}

static int send_bulk(struct edits *k, size_t *ux, size_t n)
{
    size_t i, j;
    int rc = PLAT_OK;

    /* A few reasons: one upload per (reason, columns). Many, or a row
     * that carries several: one per column set, reasons combined. */
    k->mix_reasons = count_reasons(k, ux, n) > BULK_REASONS_MAX;
    for (i = 0; i < n; i++)
        k->mix_reasons |= k->units[ux[i]].mixed;
    for (i = 0; i < n; i++) {
        rc = unit_key(&k->units[ux[i]], k->mix_reasons);
        if (rc < 0)
            return rc;
    }
    rc = order_by_key(k, ux, n);
    for (i = 0; rc == PLAT_OK && i < n; i = j) {
        for (j = i + 1; j < n && strcmp(k->units[ux[j]].key,
                                        k->units[ux[i]].key) == 0;
             j++)
            ;
        rc = send_csv(k, ux + i, j - i);
    }
    return rc;
}

/* ---- the phase ---------------------------------------------------------- */

static void edits_dispose(struct edits *k)
{
    size_t i;

    for (i = 0; k->items && i < k->pend.n; i++) {
        sync_check_dispose(&k->items[i].chk);
    }
    for (i = 0; i < k->n_units; i++) {
        cJSON_Delete(k->units[i].data);
        cJSON_Delete(k->units[i].pre);
        plat_free(k->units[i].key);
    }
    plat_free(k->units);
    plat_free(k->items);
    plat_free(k->pix);
    plat_free(k->iix);
    sync_ops_free(&k->pend);
    sync_ops_free(&k->infl);
}

/* The check of every pending edit, in one transaction (what it settles
 * at once: nothing to send, conflicts only, dropped fields). */
static int check_all(struct edits *k, size_t *n_regs)
{
    size_t i, j;
    int rc, nu;

    *n_regs = 0;
    rc = sync_batch_begin(k->c->ctx);
    for (i = 0; rc == PLAT_OK && i < k->pend.n; i = j) {
        for (j = i + 1; j < k->pend.n && strcmp(k->items[j].e->ref,
                                                k->items[i].e->ref) == 0;
             j++)
            ;
        rc = check_ref(k, i, j, &nu);
        if (rc == PLAT_OK && nu > 0)
            (*n_regs)++;
    }
    return sync_batch_end(k->c->ctx, rc);
}

int c121_push_edits(struct c121 *c)
{
    struct edits k;
    size_t i, n_regs = 0, n_bulk = 0, patch_max;
    size_t *bulk = NULL;
    int rc;

    memset(&k, 0, sizeof(k));
    k.c = c;
    rc = c121_ops_load(c, SYNC_OP_EDIT, SYNC_OP_PENDING, 0, 0, &k.pend);
    if (rc == PLAT_OK)
        rc = c121_ops_load(c, SYNC_OP_EDIT, SYNC_OP_INFLIGHT, 0, 0, &k.infl);
    if (rc < 0 || k.pend.n == 0)
        goto done;
    /* The check-to-write window starts on the server's clock (this
     * session's login, before the check), never the device's: a device
     * an hour fast would ask for events from the future and see none. */
    rc = c121_server_time(c, &k.check_ms);
    if (rc < 0)
        goto done;
    k.pix = sync_ops_order(&k.pend);
    k.iix = sync_ops_order(&k.infl);
    k.items = plat_calloc(k.pend.n, sizeof(*k.items));
    if (!k.pix || !k.iix || !k.items) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < k.pend.n; i++) {
        k.items[i].e = &k.pend.v[k.pix[i]];
        k.items[i].unit = -1;
    }
    rc = check_all(&k, &n_regs);
    if (rc < 0)
        goto done;

    patch_max = c->opt->patch_max > 0 ? (size_t)c->opt->patch_max
                                      : PATCH_MAX_DEFAULT;
    rc = settle_multi(&k, n_regs > patch_max);
    if (rc < 0)
        goto done;
    bulk = plat_malloc((k.n_units ? k.n_units : 1) * sizeof(*bulk));
    if (!bulk) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    for (i = 0; i < k.n_units; i++) {
        if (k.units[i].merged)
            continue;
        if (n_regs > patch_max && !k.units[i].single) {
            bulk[n_bulk++] = i;
            continue;
        }
        rc = send_single(&k, &k.units[i]);
        if (rc == ERR_RETRY || rc == ERR_AUTH || rc == ERR_NOMEM ||
            rc == ERR_IO || rc == ERR_CORRUPT)
            goto done;
        if (rc < 0) {
            remember_err(&k, rc);
            rc = PLAT_OK;
        }
    }
    if (n_bulk)
        rc = send_bulk(&k, bulk, n_bulk);

done:
    sync_ctx_count(c->ctx, SYNC_COUNT_PUSHED, k.done);
    sync_ctx_count(c->ctx, SYNC_COUNT_SENT, k.sent);
    sync_ctx_count(c->ctx, SYNC_COUNT_REJECTED, k.rejected);
    sync_ctx_count(c->ctx, SYNC_COUNT_CONFLICTS, k.conflicts);
    if (k.pend.n)
        log_info("121 push: %zu edits checked: %lld done, %lld sent in "
                 "bulk, %lld rejected, %lld conflicts, %lld fields left to "
                 "the server",
                 k.pend.n, (long long)k.done, (long long)k.sent,
                 (long long)k.rejected, (long long)k.conflicts,
                 (long long)k.dropped);
    plat_free(bulk);
    edits_dispose(&k);
    if (rc == PLAT_OK && k.first_err < 0)
        rc = plat_err_set(k.first_err, "%s", k.first_msg);
    return rc;
}
