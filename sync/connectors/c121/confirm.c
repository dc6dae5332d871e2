/*
 * confirm.c - after a pull: in-flight outbox entries (CSV bulk edits and
 * status changes, which 121 applies asynchronously after answering) are
 * checked against the fresh server copies. Also the helpers the push
 * phases share (c121_push.h).
 */
#include "c121_push.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "store.h"
#include "store_conflicts.h"
#include "store_outbox.h"
#include "store_registrations.h"
#include "store_status.h"
#include "store_sync.h"
#include "sync_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A status change is judged skipped only by a pull that started at least
 * this long after it was sent (the real server applies a 202 within
 * seconds; the margin covers a queue behind a large batch). */
#define SKIP_GRACE_MS (60 * 1000)

/* A bulk edit still not visible after this long goes back to pending, so
 * that the next push checks it again and resends what is missing (121
 * applies CSV rows about one per second on a large program). */
#define EDIT_STALE_MS (24LL * 3600 * 1000)

/* agent_state key: when the last confirmation pass ran (epoch ms). */
#define LAST_PASS_KEY C121_SOURCE ".confirm.last_pass_ms"

#define NUM_BUF 32

/* ---- helpers shared by the push phases ---------------------------------- */

static void entry_dispose(struct c121_entry *e)
{
    plat_free(e->ref);
    plat_free(e->payload_text);
    cJSON_Delete(e->payload);
    cJSON_Delete(e->base);
    memset(e, 0, sizeof(*e));
}

void c121_entries_free(struct c121_entries *es)
{
    size_t i;

    for (i = 0; i < es->n; i++)
        entry_dispose(&es->v[i]);
    plat_free(es->v);
    es->v = NULL;
    es->n = es->cap = 0;
}

static int collect_entry(const struct store_outbox_entry *se, void *payload)
{
    struct c121_entries *es = payload;
    struct c121_entry *e, *grown;
    size_t cap;

    if (es->n == es->cap) {
        cap = es->cap ? es->cap * 2 : 64;
        grown = plat_realloc(es->v, cap * sizeof(*grown));
        if (!grown)
            return plat_err_set(ERR_NOMEM, "out of memory reading the "
                                "outbox");
        es->v = grown;
        es->cap = cap;
    }
    e = &es->v[es->n];
    memset(e, 0, sizeof(*e));
    e->seq = se->seq;
    e->attempts = se->attempts;
    snprintf(e->state, sizeof(e->state), "%s", se->state ? se->state : "");
    e->ref = plat_strdup(se->reference_id ? se->reference_id : "");
    e->payload_text = plat_strdup(se->payload ? se->payload : "null");
    e->payload = cJSON_Parse(se->payload ? se->payload : "");
    if (se->base)
        e->base = cJSON_Parse(se->base);
    if (!e->ref || !e->payload_text) {
        entry_dispose(e);
        return plat_err_set(ERR_NOMEM, "out of memory reading the outbox");
    }
    if (!cJSON_IsObject(e->payload) || (se->base && !e->base)) {
        entry_dispose(e);
        return plat_err_set(ERR_CORRUPT, "outbox entry %lld holds damaged "
                            "JSON", (long long)se->seq);
    }
    es->n++;
    return 0;
}

int c121_entries_load(struct c121 *c, const char *kind, const char *state,
                      int64_t after_seq, int limit, struct c121_entries *out)
{
    return store_outbox_list_kind(c->store, kind, state, after_seq, limit,
                                  collect_entry, out);
}

/* The entries c121_entries_order is sorting (qsort has no payload). */
static const struct c121_entries *sort_es;

static int by_ref_seq(const void *a, const void *b)
{
    const struct c121_entry *x = &sort_es->v[*(const size_t *)a];
    const struct c121_entry *y = &sort_es->v[*(const size_t *)b];
    int d = strcmp(x->ref, y->ref);

    if (d)
        return d;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

size_t *c121_entries_order(const struct c121_entries *es)
{
    size_t *ix = plat_malloc((es->n ? es->n : 1) * sizeof(*ix));
    size_t i;

    if (!ix)
        return NULL;
    for (i = 0; i < es->n; i++)
        ix[i] = i;
    sort_es = es;
    qsort(ix, es->n, sizeof(*ix), by_ref_seq);
    sort_es = NULL;
    return ix;
}

/* Text of a scalar for comparison; NULL for containers. */
static const char *cmp_text(const cJSON *v, char *buf, size_t n)
{
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d >= -9007199254740992.0 && d <= 9007199254740992.0 &&
            d == (double)(long long)d)
            snprintf(buf, n, "%lld", (long long)d);
        else
            snprintf(buf, n, "%.17g", d);
        return buf;
    }
    return NULL;
}

static int is_empty(const cJSON *v)
{
    return !v || cJSON_IsNull(v) ||
           (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

int c121_same_value(const cJSON *a, const cJSON *b)
{
    char ba[NUM_BUF], bb[NUM_BUF];
    const char *ta, *tb;

    if (is_empty(a) || is_empty(b))
        return is_empty(a) && is_empty(b);
    ta = cmp_text(a, ba, sizeof(ba));
    tb = cmp_text(b, bb, sizeof(bb));
    if (ta && tb)
        return strcmp(ta, tb) == 0;
    return cJSON_Compare(a, b, 1);
}

/* The digits of a phone number, without a leading international "00". */
static void phone_digits(const char *s, char *out, size_t n)
{
    size_t k = 0;

    for (; *s && k + 1 < n; s++)
        if (*s >= '0' && *s <= '9')
            out[k++] = *s;
    out[k] = '\0';
    if (k >= 2 && out[0] == '0' && out[1] == '0')
        memmove(out, out + 2, k - 1);
}

int c121_is_tel(struct c121 *c, const char *field)
{
    if (strcmp(field, "phoneNumber") == 0)
        return 1;
    return store_attr_is_tel(c->store, c->opt->program_id, field) == 1;
}

int c121_same_field(struct c121 *c, const char *field, const cJSON *a,
                    const cJSON *b)
{
    char da[64], db[64];

    if (c121_same_value(a, b))
        return 1;
    if (!cJSON_IsString(a) || !cJSON_IsString(b) || !c121_is_tel(c, field))
        return 0;
    phone_digits(a->valuestring, da, sizeof(da));
    phone_digits(b->valuestring, db, sizeof(db));
    return da[0] && strcmp(da, db) == 0;
}

int c121_field_policy(struct c121 *c, const char *field)
{
    int p;

    if (!c->opt || !c->opt->policy)
        return SYNC_POLICY_MANUAL;
    p = c->opt->policy(c->opt->policy_payload, field);
    return p == SYNC_POLICY_SERVER_WINS || p == SYNC_POLICY_DEVICE_WINS
               ? p
               : SYNC_POLICY_MANUAL;
}

const char *c121_value_text(const cJSON *v, char *buf, size_t n)
{
    if (!v || cJSON_IsNull(v))
        return "";
    return cmp_text(v, buf, n);
}

char *c121_json_text(const cJSON *v)
{
    cJSON *null_item = NULL;
    char *t = NULL;

    if (!v)
        v = null_item = cJSON_CreateNull();
    if (v)
        t = cJSON_PrintUnformatted(v);
    cJSON_Delete(null_item);
    if (!t)
        plat_err_set(ERR_NOMEM, "out of memory formatting a value");
    return t;
}

int c121_txn_begin(struct c121 *c)
{
    return store_begin(c->store);
}

int c121_txn_end(struct c121 *c, int rc)
{
    if (rc == PLAT_OK)
        return store_commit(c->store);
    store_rollback(c->store);
    return rc;
}

int c121_append_in_filter(struct plat_buf *b, const char *const *refs,
                          size_t n, size_t max_len, size_t *taken)
{
    size_t i, mark;
    int rc;

    *taken = 0;
    if (n == 0)
        return plat_err_set(ERR_INVALID, "no referenceIds to filter on");
    if (strchr(refs[0], ',')) {
        /* $in splits on commas: such a referenceId goes alone, by $eq. */
        rc = plat_buf_puts(b, "filter.referenceId=$eq:");
        if (rc == PLAT_OK)
            rc = sync_http_escape(b, refs[0]);
        if (rc == PLAT_OK)
            *taken = 1;
        return rc;
    }
    rc = plat_buf_puts(b, "filter.referenceId=$in:");
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        if (i > 0 && strchr(refs[i], ','))
            break; /* it starts a request of its own */
        mark = b->len;
        if (i > 0)
            rc = plat_buf_puts(b, ",");
        if (rc == PLAT_OK)
            rc = sync_http_escape(b, refs[i]);
        if (rc < 0)
            return rc;
        if (b->len > max_len && i > 0) {
            /* Over the limit: take this one back, it starts the next
             * chunk. */
            b->len = mark;
            b->data[mark] = '\0';
            break;
        }
    }
    if (rc == PLAT_OK)
        *taken = i;
    return rc;
}

int c121_entry_settle(struct c121 *c, int64_t seq, const char *ref,
                      const char *state, const char *msg)
{
    int rc;

    rc = store_outbox_set_state(c->store, seq, state,
                                strcmp(state, "rejected") == 0 ? msg : NULL);
    if (rc == PLAT_OK && (strcmp(state, "rejected") == 0 ||
                          strcmp(state, "conflict") == 0))
        rc = store_reg_refresh_view(c->store, ref);
    return rc;
}

int c121_entry_settle_count(struct c121 *c, const struct c121_entry *e,
                            const char *state, const char *msg,
                            int64_t *count)
{
    int rc = c121_entry_settle(c, e->seq, e->ref, state, msg);

    if (rc == PLAT_OK)
        (*count)++;
    return rc;
}

int c121_server_copy(struct c121 *c, const char *ref, cJSON **out)
{
    int64_t n = 0;
    int rc;

    rc = store_reg_server_get(c->store, ref, out);
    if (rc != ERR_NOTFOUND)
        return rc;
    rc = store_outbox_count_ref(c->store, ref, "create", "rejected", &n);
    if (rc < 0)
        return rc;
    if (n > 0)
        return plat_err_set(ERR_INVALID, "registration %s was never created "
                            "on 121 (its create was rejected)", ref);
    return plat_err_set(ERR_NOTFOUND, "121 has not shown registration %s "
                        "yet", ref);
}

const char *c121_server_status(const cJSON *server)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(server, "status");

    return cJSON_IsString(st) && st->valuestring[0] ? st->valuestring : "new";
}

int c121_conflict_record(struct c121 *c, int64_t seq, const char *ref,
                         const char *field, const cJSON *base,
                         const cJSON *local, const cJSON *server,
                         const char *auto_resolution)
{
    char *tb = c121_json_text(base), *tl = c121_json_text(local),
         *ts = c121_json_text(server);
    int rc;

    if (!tb || !tl || !ts)
        rc = ERR_NOMEM;
    else if (auto_resolution)
        rc = store_conflict_add_resolved(c->store, seq, ref, field, tb, tl,
                                         ts, auto_resolution, NULL);
    else
        rc = store_conflict_add(c->store, seq, ref, field, tb, tl, ts, NULL);
    cJSON_free(tb);
    cJSON_free(tl);
    cJSON_free(ts);
    return rc;
}

void c121_row_message(const cJSON *entries, long row, char *out, size_t n)
{
    cJSON *mine = cJSON_CreateArray(), *copy;
    const cJSON *e;
    char *text = NULL;

    out[0] = '\0';
    if (!mine)
        return;
    cJSON_ArrayForEach(e, entries) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "_row");
        if (!cJSON_IsNumber(r) || (long)r->valuedouble != row)
            continue;
        copy = cJSON_Duplicate(e, 1);
        if (!copy)
            break;
        /* They name the batch, not the registration. */
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "_row");
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "lineNumber");
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "referenceId");
        cJSON_AddItemToArray(mine, copy);
    }
    text = cJSON_PrintUnformatted(mine);
    if (text)
        c121_error_message(text, strlen(text), out, n);
    cJSON_free(text);
    cJSON_Delete(mine);
}

long c121_entry_row(const cJSON *e, size_t n, c121_row_ref_fn ref_of,
                    const void *rows)
{
    const cJSON *ln, *ref;
    size_t i;

    if (!cJSON_IsObject(e))
        return -1;
    ln = cJSON_GetObjectItemCaseSensitive(e, "lineNumber");
    ref = cJSON_GetObjectItemCaseSensitive(e, "referenceId");
    if (cJSON_IsNumber(ln) && ln->valuedouble >= 1 &&
        ln->valuedouble <= (double)n) {
        i = (size_t)ln->valuedouble - 1;
        if (!cJSON_IsString(ref) ||
            strcmp(ref->valuestring, ref_of(rows, i)) == 0)
            return (long)i;
    }
    if (cJSON_IsString(ref))
        for (i = 0; i < n; i++)
            if (strcmp(ref->valuestring, ref_of(rows, i)) == 0)
                return (long)i;
    return -1;
}

/* ---- confirmation ------------------------------------------------------- */

struct confirm_counts {
    int64_t done, rejected, conflicts, requeued;
};

/* The server copy of `ref` as the pull left it; NULL (PLAT_OK) when the
 * pull has not brought it yet: the entry waits. */
static int pulled_copy(struct c121 *c, const char *ref, cJSON **out)
{
    int rc = store_reg_server_get(c->store, ref, out);

    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    return rc;
}

/* Entry `e` can never apply: 121 deleted its registration first. */
static int reject_deleted(struct c121 *c, const struct c121_entry *e,
                          struct confirm_counts *k)
{
    return c121_entry_settle_count(c, e, "rejected",
                                   "the registration was deleted on 121 "
                                   "before the change was applied",
                                   &k->rejected);
}

/* Creates left inflight by an interrupted push: the server copy is there
 * (the pull fetched it), so they landed. */
static int confirm_creates(struct c121 *c, struct confirm_counts *k)
{
    struct c121_entries es = {0};
    cJSON *server = NULL;
    size_t i;
    int rc;

    rc = c121_entries_load(c, "create", "inflight", 0, 0, &es);
    for (i = 0; rc == PLAT_OK && i < es.n; i++) {
        /* No copy yet: push_creates asks the server. */
        rc = pulled_copy(c, es.v[i].ref, &server);
        if (rc == PLAT_OK && server)
            rc = c121_entry_settle_count(c, &es.v[i], "done", NULL,
                                         &k->done);
        cJSON_Delete(server);
        server = NULL;
    }
    c121_entries_free(&es);
    return rc;
}

/* 1 if a later entry of the same registration (after position k of the
 * ordered index) also sets `field`: the server then ends with that later
 * value, not this one. */
static int superseded(const struct c121_entries *es, const size_t *ix,
                      size_t k, const char *field)
{
    const char *ref = es->v[ix[k]].ref;
    size_t j;

    for (j = k + 1; j < es->n && strcmp(es->v[ix[j]].ref, ref) == 0; j++) {
        const cJSON *data =
            cJSON_GetObjectItemCaseSensitive(es->v[ix[j]].payload, "data");
        if (cJSON_GetObjectItemCaseSensitive(data, field))
            return 1;
    }
    return 0;
}

static int confirm_edits(struct c121 *c, int64_t now,
                         struct confirm_counts *n)
{
    struct c121_entries es = {0};
    cJSON *server = NULL;
    const cJSON *data, *f;
    int64_t changed;
    size_t k, *ix = NULL;
    int rc, all;

    /* Pending ones too: a later entry of the same field supersedes. */
    rc = c121_entries_load(c, "edit", NULL, 0, 0, &es);
    if (rc == PLAT_OK) {
        ix = c121_entries_order(&es);
        if (!ix)
            rc = plat_err_set(ERR_NOMEM, "out of memory");
    }
    for (k = 0; rc == PLAT_OK && k < es.n; k++) {
        struct c121_entry *e = &es.v[ix[k]];

        if (strcmp(e->state, "inflight") != 0)
            continue;
        rc = pulled_copy(c, e->ref, &server);
        if (rc < 0)
            break;
        if (!server)
            continue;
        if (strcmp(c121_server_status(server), "deleted") == 0) {
            rc = reject_deleted(c, e, n);
            cJSON_Delete(server);
            server = NULL;
            continue;
        }
        all = 1;
        data = cJSON_GetObjectItemCaseSensitive(e->payload, "data");
        cJSON_ArrayForEach(f, data) {
            if (superseded(&es, ix, k, f->string))
                continue;
            if (!c121_same_field(c, f->string,
                                 cJSON_GetObjectItemCaseSensitive(server,
                                                                  f->string),
                                 f)) {
                all = 0;
                break;
            }
        }
        cJSON_Delete(server);
        server = NULL;
        if (all) {
            rc = c121_entry_settle_count(c, e, "done", NULL, &n->done);
            continue;
        }
        rc = store_outbox_changed_ms(c->store, e->seq, &changed);
        if (rc == PLAT_OK && now - changed >= EDIT_STALE_MS) {
            /* Lost somewhere (the upload's queue, a restore on the
             * server): check and send again; 121 compares values, so a
             * row applied twice changes nothing. */
            rc = c121_entry_settle_count(c, e, "pending", NULL,
                                         &n->requeued);
        }
    }
    plat_free(ix);
    c121_entries_free(&es);
    return rc;
}

static int confirm_status(struct c121 *c, int64_t last_pass,
                          struct confirm_counts *k)
{
    struct c121_entries es = {0};
    cJSON *server = NULL, *sv = NULL;
    const cJSON *target, *base;
    const char *sstat;
    char msg[C121_MSG_MAX];
    int64_t changed;
    size_t i;
    int rc;

    rc = c121_entries_load(c, "status", "inflight", 0, 0, &es);
    for (i = 0; rc == PLAT_OK && i < es.n; i++) {
        struct c121_entry *e = &es.v[i];

        target = cJSON_GetObjectItemCaseSensitive(e->payload, "status");
        base = cJSON_GetObjectItemCaseSensitive(e->base, "status");
        rc = pulled_copy(c, e->ref, &server);
        if (rc < 0)
            break;
        if (!server)
            continue;
        sstat = c121_server_status(server);
        if (cJSON_IsString(target) &&
            strcmp(sstat, target->valuestring) == 0) {
            rc = c121_entry_settle_count(c, e, "done", NULL, &k->done);
            goto next;
        }
        if (strcmp(sstat, "deleted") == 0) { /* terminal */
            rc = reject_deleted(c, e, k);
            goto next;
        }
        rc = store_outbox_changed_ms(c->store, e->seq, &changed);
        if (rc < 0)
            goto next;
        /* Not visible yet. The engine pulls, then confirms, then pushes,
         * so the pull just made started after the previous pass: judge
         * only entries sent at least SKIP_GRACE_MS before that pass, so
         * that 121 had time to apply them before the pull read them. */
        if (last_pass <= 0 || last_pass - changed < SKIP_GRACE_MS)
            goto next;
        if (cJSON_IsString(base) && strcmp(sstat, base->valuestring) == 0) {
            snprintf(msg, sizeof(msg),
                     "121 skipped this status change (%s -> %s): it "
                     "accepted the request but did not apply it",
                     sstat, cJSON_IsString(target) ? target->valuestring
                                                   : "?");
            rc = c121_entry_settle_count(c, e, "rejected", msg,
                                         &k->rejected);
            log_info("121 confirm: status change of %s skipped by the "
                     "server", e->ref);
            goto next;
        }
        /* Someone else set another status meanwhile: a person decides. */
        sv = cJSON_CreateString(sstat);
        if (!sv) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto next;
        }
        rc = c121_conflict_record(c, e->seq, e->ref, "status", base,
                                  target, sv, NULL);
        if (rc == PLAT_OK)
            rc = c121_entry_settle_count(c, e, "conflict", NULL,
                                         &k->conflicts);
    next:
        cJSON_Delete(server);
        cJSON_Delete(sv);
        server = sv = NULL;
    }
    c121_entries_free(&es);
    return rc;
}

int c121_confirm_inflight(struct c121 *c)
{
    struct confirm_counts k = {0, 0, 0, 0};
    char *text = NULL, now_text[32];
    int64_t now = plat_time_wall_ms(), last_pass = 0;
    int rc;

    rc = store_state_get(c->store, LAST_PASS_KEY, &text);
    if (rc == PLAT_OK) {
        last_pass = strtoll(text, NULL, 10);
        plat_free(text);
    } else if (rc == ERR_NOTFOUND) {
        plat_err_clear();
    } else {
        return rc;
    }
    /* One transaction for the whole pass: all of it or nothing, and one
     * commit instead of one per entry. */
    rc = c121_txn_begin(c);
    if (rc < 0)
        return rc;
    rc = confirm_creates(c, &k);
    if (rc == PLAT_OK)
        rc = confirm_edits(c, now, &k);
    if (rc == PLAT_OK)
        rc = confirm_status(c, last_pass, &k);
    if (rc == PLAT_OK) {
        snprintf(now_text, sizeof(now_text), "%lld", (long long)now);
        rc = store_state_set(c->store, LAST_PASS_KEY, now_text);
    }
    rc = c121_txn_end(c, rc);
    if (rc < 0)
        return rc;
    c->sum->pushed += k.done;
    c->sum->rejected += k.rejected;
    c->sum->conflicts += k.conflicts;
    if (k.done || k.rejected || k.conflicts || k.requeued)
        log_info("121 confirm: %lld done, %lld rejected, %lld conflicts, "
                 "%lld sent again",
                 (long long)k.done, (long long)k.rejected,
                 (long long)k.conflicts, (long long)k.requeued);
    return rc;
}
