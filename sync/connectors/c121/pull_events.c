/*
 * pull_events.c - changes since the last cycle, from the registration
 * events (GET {prefix}/registration-events?fromDate=<cursor>): one request
 * of about 0.03 s whatever the store size, instead of re-reading
 * registrations (121 has no updated field or filter on them).
 *
 * Events carry the field, the old and the new value, so most are applied
 * to the server copies directly:
 *   registrationDataChange   the field (the server copy keeps its JSON
 *                            type); "name" follows the program's
 *                            fullnameNamingConvention
 *   registrationStatusChange status; "deleted" erases the attributes
 *   fspChange                programFspConfigurationName and, from the
 *                            stored program's FSP configurations, its id,
 *                            label and fspName; an unknown configuration
 *                            is re-read with filter.referenceId=$in:
 *   ignoredDuplicate, other  nothing
 * New registrations are fetched after the events, every cycle, with
 * filter.id=$gt:<walk frontier> (fetch_new; about 0.03 s on the real
 * server when few match): events of ids the store does not know are
 * skipped, since
 * that read gives their current state, and a registration whose creation
 * event fell outside the window (an import that backdates `created`) is
 * not missed either.
 *
 * Cursor and dedupe (checkpoints of source "121"):
 *   events.cursor    the largest event `created` seen (server time)
 *   events.last_id   the largest event id seen
 *   events.seen      ids of the events seen within OVERLAP_MS before the
 *                    cursor, as ranges "981-990,995"
 *   events.settled   1 once a query found nothing after the cursor
 *   new.last_id      the walk frontier of fetch_new: every registration
 *                    up to it has been read
 *   events.refetch   referenceIds waiting to be re-read, one per line
 *   events.unknown   registration ids an event named that the store did
 *                    not know, one per line: those the new-people read
 *                    (ids above the walk frontier, fetch_new) did not
 *                    bring are, if below where that read started (above
 *                    it they are deleted: $eq would not list them either),
 *                    read one by one with filter.id=$eq: (121 ignores
 *                    $in on id, and events carry no referenceId): a
 *                    registration committed with a lower id after the
 *                    device pulled a higher one (concurrent inserts)
 * The window is inclusive, and an event may become visible a little after
 * its `created` (its transaction commits later), so each query starts
 * OVERLAP_MS before the cursor and skips the ids it has seen. Once one
 * query found nothing new, that overlap has been read again already, and
 * the next queries start at the cursor itself: a burst of events (a bulk
 * status change) is not downloaded again cycle after cycle.
 * Events are committed in batches of opt->batch with these checkpoints.
 */
#include "c121.h"
#include "c121_push.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OVERLAP_MS 5000
#define RANGE_MAX 10000000 /* ids in one stored range: more is damage */
#define UNKNOWN_MAX 10000      /* unknown ids kept waiting (a --full pull
                                  reads everything anyway)              */
#define UNKNOWN_PER_SYNC 200   /* read by id in one sync (a request each) */

/* ---- sets of event ids ------------------------------------------------ */

struct idset {
    int64_t *v;
    size_t n, alloc;
};

static int idset_add(struct idset *s, int64_t id)
{
    int64_t *grown;

    if (s->n == s->alloc) {
        size_t alloc = s->alloc ? s->alloc * 2 : 64;
        grown = plat_realloc(s->v, alloc * sizeof(*grown));
        if (!grown)
            return ERR_NOMEM;
        s->v = grown;
        s->alloc = alloc;
    }
    s->v[s->n++] = id;
    return PLAT_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void idset_sort(struct idset *s)
{
    size_t i, o = 0;

    if (s->n == 0)
        return;
    qsort(s->v, s->n, sizeof(*s->v), cmp_i64);
    for (i = 1; i < s->n; i++)
        if (s->v[i] != s->v[o])
            s->v[++o] = s->v[i];
    s->n = o + 1;
}

static int idset_has(const struct idset *s, int64_t id)
{
    return s->n && bsearch(&id, s->v, s->n, sizeof(*s->v), cmp_i64) != NULL;
}

/* "981-990,995" -> ids, sorted. */
static int idset_parse(struct idset *s, const char *text)
{
    const char *p = text;
    char *end;
    long long a, b;
    int rc;

    while (*p) {
        errno = 0;
        a = strtoll(p, &end, 10);
        b = a;
        if (end != p && *end == '-') {
            p = end + 1;
            b = strtoll(p, &end, 10);
        }
        if (errno || end == p || b < a || b - a > RANGE_MAX ||
            (*end && *end != ','))
            return plat_err_set(ERR_CORRUPT, "121 checkpoint events.seen is "
                                "damaged");
        for (; a <= b; a++) {
            rc = idset_add(s, a);
            if (rc < 0)
                return rc;
        }
        p = *end ? end + 1 : end;
    }
    idset_sort(s);
    return PLAT_OK;
}

static int idset_format(const struct idset *s, struct plat_buf *out)
{
    size_t i = 0, j;
    int rc = PLAT_OK;

    plat_buf_reset(out);
    rc = plat_buf_puts(out, "");
    while (i < s->n && rc == PLAT_OK) {
        for (j = i; j + 1 < s->n && s->v[j + 1] == s->v[j] + 1; j++)
            ;
        rc = plat_buf_printf(out, "%s%lld", i ? "," : "", (long long)s->v[i]);
        if (rc == PLAT_OK && j > i)
            rc = plat_buf_printf(out, "-%lld", (long long)s->v[j]);
        i = j + 1;
    }
    return rc;
}

/* ---- state of one events pull ----------------------------------------- */

struct recent {
    int64_t id;
    int64_t created;
};

struct events {
    struct c121 *c;
    size_t batch_max;
    struct idset old_seen;     /* seen by the previous cycles        */
    struct recent *recent;     /* seen now, near the cursor          */
    size_t n_recent, recent_alloc;
    int64_t cursor;            /* largest created seen (ms)          */
    int64_t cursor0;           /* the cursor this cycle started with */
    int64_t last_id;           /* largest event id seen              */
    int64_t upto;              /* largest event id processed now     */
    cJSON *batch;              /* events received, not yet applied   */
    size_t n_batch;
    struct plat_buf refetch;   /* refs to re-read, "\n"-separated    */
    struct plat_buf unknown_ids; /* server ids not in the store, "\n"  */
    size_t n_unknown_ids;
    int64_t applied, skipped, unknown;
    int progressed;            /* a batch was committed              */
    int settled_query;         /* asked from the cursor, no overlap  */
    struct sync_ops status_ops; /* in-flight status changes, loaded   */
    int status_loaded;         /* when a batch first needs them      */
    struct sync_ops edit_ops;  /* in-flight edits, likewise          */
    cJSON **edit_seen;         /* per edit: fields an event wrote    */
    int edit_loaded;
    int64_t confirmed;         /* of them, confirmed by an event     */
};

static int recent_add(struct events *e, int64_t id, int64_t created)
{
    struct recent *grown;
    size_t i, o = 0;

    if (e->n_recent == e->recent_alloc) {
        /* Drop what fell out of the overlap before growing. */
        for (i = 0; i < e->n_recent; i++)
            if (e->recent[i].created >= e->cursor - OVERLAP_MS)
                e->recent[o++] = e->recent[i];
        e->n_recent = o;
    }
    if (e->n_recent == e->recent_alloc) {
        size_t alloc = e->recent_alloc ? e->recent_alloc * 2 : 64;
        grown = plat_realloc(e->recent, alloc * sizeof(*grown));
        if (!grown)
            return ERR_NOMEM;
        e->recent = grown;
        e->recent_alloc = alloc;
    }
    e->recent[e->n_recent].id = id;
    e->recent[e->n_recent].created = created;
    e->n_recent++;
    return PLAT_OK;
}

/* The ids a query from cursor - OVERLAP_MS can return again and that are
 * applied already: those seen now near the cursor, and those of the
 * previous set this answer has not reached yet. A settled query (from the
 * cursor itself, no overlap) does not return the events just before the
 * cursor, so it keeps the whole previous set: dropping it let the next
 * query, which reads the overlap again, re-apply an old event over newer
 * ones (an office value reverted in the store). The next overlapping
 * query reads the whole window again and prunes the set. */
static int seen_text(struct events *e, struct plat_buf *out)
{
    struct idset s = {NULL, 0, 0};
    size_t i;
    int rc = PLAT_OK;

    for (i = 0; i < e->n_recent && rc == PLAT_OK; i++)
        if (e->recent[i].created >= e->cursor - OVERLAP_MS)
            rc = idset_add(&s, e->recent[i].id);
    for (i = 0; i < e->old_seen.n && rc == PLAT_OK; i++)
        if (e->settled_query || e->old_seen.v[i] > e->upto)
            rc = idset_add(&s, e->old_seen.v[i]);
    if (rc == PLAT_OK) {
        idset_sort(&s);
        rc = idset_format(&s, out);
    }
    plat_free(s.v);
    return rc;
}

static const cJSON *program(struct events *e)
{
    return c121_program(e->c);
}

static const char *text_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int add_refetch(struct events *e, const char *ref)
{
    if (strchr(ref, '\n'))
        return PLAT_OK;
    if (e->refetch.len > 0 && plat_buf_puts(&e->refetch, "\n") < 0)
        return ERR_NOMEM;
    return plat_buf_puts(&e->refetch, ref);
}

/* to[key] = a copy of from[from_key], or null; 0 when out of memory. */
static int add_copy(cJSON *to, const char *key, const cJSON *from,
                    const char *from_key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, from_key);
    cJSON *copy = v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();

    if (copy && cJSON_AddItemToObject(to, key, copy))
        return 1;
    cJSON_Delete(copy);
    return 0;
}

/* The FSP configuration changed: its id, label and fspName come with it.
 * They are in the stored program; if it does not know the configuration
 * (the program changed since), the registration is re-read. */
static int apply_fsp(struct events *e, const char *ref, const char *name)
{
    const cJSON *list, *f = NULL;
    cJSON *changes = NULL;
    int rc;

    if (!name)
        return add_refetch(e, ref);
    list = cJSON_GetObjectItemCaseSensitive(program(e),
                                            "programFspConfigurations");
    cJSON_ArrayForEach(f, list) {
        const char *n = text_of(f, "name");
        if (name && n && strcmp(n, name) == 0)
            break;
    }
    if (!f) {
        rc = c121_event_apply(e->c, ref,
                                   "programFspConfigurationName", name);
        return rc < 0 ? rc : add_refetch(e, ref);
    }
    changes = cJSON_CreateObject();
    if (!changes ||
        !cJSON_AddStringToObject(changes, "programFspConfigurationName",
                                 name) ||
        !add_copy(changes, "programFspConfigurationId", f, "id") ||
        !add_copy(changes, "programFspConfigurationLabel", f, "label") ||
        !add_copy(changes, "fspName", f, "fspName")) {
        cJSON_Delete(changes);
        return plat_err_set(ERR_NOMEM, "out of memory applying an FSP "
                            "change of %s", ref);
    }
    rc = sync_set_registration_fields(e->c->ctx, ref, changes);
    cJSON_Delete(changes);
    return rc;
}

/* 121 fills "name" with the fields of fullnameNamingConvention that have
 * a value, joined by spaces. */
static int update_name(struct events *e, const char *ref, const char *field)
{
    const cJSON *naming, *n, *v;
    cJSON *reg = NULL, *changes = NULL;
    struct plat_buf name;
    int in = 0, rc;

    naming = cJSON_GetObjectItemCaseSensitive(program(e),
                                              "fullnameNamingConvention");
    cJSON_ArrayForEach(n, naming)
        if (cJSON_IsString(n) && strcmp(n->valuestring, field) == 0)
            in = 1;
    if (!in)
        return PLAT_OK;
    plat_buf_init(&name, 0);
    rc = sync_get_registration(e->c->ctx, ref, &reg);
    if (rc < 0)
        goto done;
    rc = plat_buf_puts(&name, "");
    cJSON_ArrayForEach(n, naming) {
        v = cJSON_IsString(n) ? cJSON_GetObjectItemCaseSensitive(
                                    reg, n->valuestring)
                              : NULL;
        if (rc == PLAT_OK && cJSON_IsString(v) && v->valuestring[0])
            rc = plat_buf_printf(&name, "%s%s", name.len ? " " : "",
                                 v->valuestring);
    }
    if (rc < 0)
        goto done;
    changes = cJSON_CreateObject();
    if (!changes || !cJSON_AddStringToObject(changes, "name", name.data)) {
        rc = plat_err_set(ERR_NOMEM, "out of memory applying an event of %s",
                          ref);
        goto done;
    }
    rc = sync_set_registration_fields(e->c->ctx, ref, changes);

done:
    cJSON_Delete(changes);
    cJSON_Delete(reg);
    plat_buf_dispose(&name);
    return rc;
}

/* A status event of `ref` to `status`: the in-flight status changes of
 * `ref` to that status are done, in the transaction that applies the
 * event. confirm.c looks at the server copy only, so a change 121 applied
 * and someone then changed again (the office pausing a person we
 * included) stayed in flight, and after the grace period became a false
 * conflict. */
static int confirm_status_event(struct events *e, const char *ref,
                                const char *status)
{
    size_t i;
    int rc = PLAT_OK;

    if (!e->status_loaded) {
        rc = c121_ops_load(e->c, SYNC_OP_STATUS, SYNC_OP_INFLIGHT, 0, 0,
                           &e->status_ops);
        if (rc < 0)
            return rc;
        e->status_loaded = 1;
    }
    for (i = 0; i < e->status_ops.n && rc == PLAT_OK; i++) {
        struct sync_op *op = &e->status_ops.v[i];
        const cJSON *target =
            cJSON_GetObjectItemCaseSensitive(op->payload, "status");

        if (op->state != SYNC_OP_INFLIGHT || strcmp(op->ref, ref) != 0 ||
            !cJSON_IsString(target) || strcmp(target->valuestring, status))
            continue;
        rc = c121_op_settle_count(e->c, op, SYNC_OP_DONE, NULL,
                                  &e->confirmed);
        if (rc == PLAT_OK)
            rc = sync_refresh_view(e->c->ctx, ref);
        op->state = SYNC_OP_DONE;
    }
    return rc;
}

/* A data event of `ref`: `field` became `value` on the server. An
 * in-flight edit of `ref` that sent that value for that field has reached
 * the server; confirm_edits_seen settles it once every field it sent is
 * seen. confirm.c compares the current server copy only, so an edit 121
 * applied that the office changed again afterwards stayed in flight for
 * 24 h and was then sent again, over the office's newer value. */
/* The newest of this device's edits of `ref` that sent `value` for
 * `field`: the latest entry our event can stand for. */
static int64_t last_writer_seq(struct events *e, const char *ref,
                               const char *field, const cJSON *value)
{
    int64_t seq = 0;
    size_t j;

    for (j = 0; j < e->edit_ops.n; j++) {
        const struct sync_op *op = &e->edit_ops.v[j];
        const cJSON *sent = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(op->payload, "data"), field);

        if (sent && strcmp(op->ref, ref) == 0 && op->seq > seq &&
            sync_same_value(e->c->ctx, field, value, sent))
            seq = op->seq;
    }
    return seq;
}

/* 1 if `old` (the value our write of `value` replaced) is one this device
 * knew: the base or the value of one of its edits of `ref` carrying
 * `field`, up to the newest edit that sent `value`. A later edit was made
 * after that write was queued and cannot have been on the server before
 * it: an office value that a later edit happens to repeat is still
 * another writer's (seed 5576: office "north", our "south" over it, then
 * our own "north" again; the first overwrite went unrecorded). */
static int known_value(struct events *e, const char *ref, const char *field,
                       const cJSON *value, const cJSON *old)
{
    int64_t bound = last_writer_seq(e, ref, field, value);
    size_t j;

    for (j = 0; j < e->edit_ops.n; j++)
        if (e->edit_ops.v[j].seq <= bound &&
            c121_edit_knew(e->c, &e->edit_ops.v[j], ref, field, old))
            return 1;
    return 0;
}

/* Our write of `field` (event `ev`, sent by in-flight entry `op`)
 * replaced a value this device never saw: another writer got in between
 * our check and our write. The window check after the PATCH says so when
 * it runs; when it did not (killed between the write and the check, the
 * events unreadable then), this records the same conflict for review. */
static int check_overwrite(struct events *e, const struct sync_op *op,
                           const char *field, const cJSON *ev)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(ev, "username");
    const cJSON *ov = cJSON_GetObjectItemCaseSensitive(ev, "oldValue");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(op->payload, "data");
    cJSON *old;
    int rc = PLAT_OK;

    if (!cJSON_IsString(u) || !e->c->user[0] ||
        strcasecmp(u->valuestring, e->c->user) != 0)
        return PLAT_OK; /* not our write */
    old = cJSON_IsString(ov) ? cJSON_CreateString(ov->valuestring)
                             : cJSON_CreateNull();
    if (!old)
        return plat_err_set(ERR_NOMEM, "out of memory");
    if (!known_value(e, op->ref, field,
                     cJSON_GetObjectItemCaseSensitive(data, field), old)) {
        rc = sync_conflict_add_once(
            e->c->ctx, op->seq, op->ref, field,
            cJSON_GetObjectItemCaseSensitive(op->base, field),
            cJSON_GetObjectItemCaseSensitive(data, field), old);
        if (rc == PLAT_OK)
            log_info("121: %s field %s: our write replaced a value written "
                     "by another user: conflict for review", op->ref, field);
    }
    cJSON_Delete(old);
    return rc;
}

static int note_edit_event(struct events *e, const char *ref,
                           const char *field, const char *value,
                           const cJSON *ev)
{
    cJSON *sv;
    size_t i;
    int rc = PLAT_OK;

    if (!e->edit_loaded) {
        /* Pending ones too: their bases are values this device saw. */
        rc = c121_ops_load(e->c, SYNC_OP_EDIT, -1, 0, 0, &e->edit_ops);
        if (rc == PLAT_OK && e->edit_ops.n > 0) {
            e->edit_seen = plat_calloc(e->edit_ops.n, sizeof(cJSON *));
            if (!e->edit_seen)
                rc = plat_err_set(ERR_NOMEM, "out of memory");
        }
        if (rc < 0)
            return rc;
        e->edit_loaded = 1;
    }
    if (e->edit_ops.n == 0)
        return PLAT_OK;
    sv = value ? cJSON_CreateString(value) : cJSON_CreateNull();
    if (!sv)
        return plat_err_set(ERR_NOMEM, "out of memory");
    for (i = 0; i < e->edit_ops.n && rc == PLAT_OK; i++) {
        const struct sync_op *op = &e->edit_ops.v[i];
        const cJSON *data =
            cJSON_GetObjectItemCaseSensitive(op->payload, "data");
        const cJSON *sent = cJSON_GetObjectItemCaseSensitive(data, field);

        if (!sent || strcmp(op->ref, ref) != 0 ||
            !sync_same_value(e->c->ctx, field, sv, sent))
            continue;
        /* A pending one too: killed after its PATCH and before the
         * answer was stored, the push finds the value there and calls it
         * done without looking back. */
        rc = check_overwrite(e, op, field, ev);
        if (rc < 0 || op->state != SYNC_OP_INFLIGHT)
            continue;
        if (!e->edit_seen[i] && !(e->edit_seen[i] = cJSON_CreateObject()))
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        else if (!cJSON_GetObjectItemCaseSensitive(e->edit_seen[i], field) &&
                 !cJSON_AddTrueToObject(e->edit_seen[i], field))
            rc = plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(sv);
    return rc;
}

/* Before the batch commits: the in-flight edits an event of this batch
 * wrote are done when each field they sent was written by an event, is set
 * again by a later edit of theirs, or holds the sent value in the server
 * copy (121 writes no event for a field that already had the value). */
static int confirm_edits_seen(struct events *e)
{
    cJSON *server = NULL;
    size_t i;
    int rc = PLAT_OK, all;

    for (i = 0; i < e->edit_ops.n && rc == PLAT_OK; i++) {
        const struct sync_op *op = &e->edit_ops.v[i];
        const cJSON *data, *f;

        if (!e->edit_seen || !e->edit_seen[i])
            continue;
        rc = sync_get_registration(e->c->ctx, op->ref, &server);
        if (rc < 0)
            break;
        all = 1;
        data = cJSON_GetObjectItemCaseSensitive(op->payload, "data");
        cJSON_ArrayForEach(f, data) {
            if (cJSON_GetObjectItemCaseSensitive(e->edit_seen[i], f->string) ||
                /* a cut-off push, then one write of the last value:
                 * no event has op's value (seed 4255) */
                c121_set_again_later(&e->edit_ops, op, f->string))
                continue;
            if (!sync_same_value(e->c->ctx, f->string,
                                 cJSON_GetObjectItemCaseSensitive(server,
                                                                  f->string),
                                 f)) {
                all = 0;
                break;
            }
        }
        cJSON_Delete(server);
        server = NULL;
        if (all)
            rc = c121_op_settle_count(e->c, op, SYNC_OP_DONE, NULL,
                                      &e->confirmed);
        if (all && rc == PLAT_OK) /* a later event may have replaced it */
            rc = sync_refresh_view(e->c->ctx, op->ref);
    }
    return rc;
}

static void edit_ops_free(struct events *e)
{
    size_t i;

    for (i = 0; e->edit_seen && i < e->edit_ops.n; i++)
        cJSON_Delete(e->edit_seen[i]);
    plat_free(e->edit_seen);
    e->edit_seen = NULL;
    sync_ops_free(&e->edit_ops);
    e->edit_loaded = 0;
}

/* Whether "\n"-separated list `text` holds `id`. */
static int list_has(const char *text, int64_t id)
{
    const char *p = text;
    char *end;

    while (p && *p) {
        if (strtoll(p, &end, 10) == id && (*end == '\n' || !*end))
            return 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

/* Keep server id `rid` for fetch_unknown (saved with the batch). */
static int note_unknown(struct events *e, int64_t rid)
{
    if (e->unknown_ids.len && list_has(e->unknown_ids.data, rid))
        return PLAT_OK;
    if (e->n_unknown_ids >= UNKNOWN_MAX) {
        log_debug("121: over %d unknown registration ids waiting; id %lld "
                  "left to a --full pull", UNKNOWN_MAX, (long long)rid);
        return PLAT_OK;
    }
    e->n_unknown_ids++;
    return plat_buf_printf(&e->unknown_ids, "%s%lld",
                           e->unknown_ids.len ? "\n" : "", (long long)rid);
}

/* Apply one event (inside the batch's transaction). */
static int apply_one(struct events *e, const cJSON *ev)
{
    const char *type = text_of(ev, "type");
    const char *field = text_of(ev, "fieldChanged");
    const char *value = text_of(ev, "newValue");
    int64_t rid = (int64_t)cJSON_GetObjectItemCaseSensitive(
                      ev, "registrationId")->valuedouble;
    char *ref = NULL;
    int rc;

    rc = sync_ref_by_server_id(e->c->ctx, rid, &ref);
    if (rc == ERR_NOTFOUND) {
        /* A new registration: read whole by fetch_new, or by its id
         * (fetch_unknown) when its id is below the largest stored one. */
        plat_err_clear();
        e->unknown++;
        return note_unknown(e, rid);
    }
    if (rc < 0)
        return rc;
    if (strcmp(type, "registrationStatusChange") == 0) {
        rc = value ? c121_event_apply(e->c, ref, "status", value)
                   : PLAT_OK;
        if (rc == PLAT_OK && value)
            rc = confirm_status_event(e, ref, value);
    } else if (strcmp(type, "fspChange") == 0 ||
               (field && strcmp(field, "programFspConfigurationName") == 0)) {
        rc = apply_fsp(e, ref, value);
    } else if (strcmp(type, "registrationDataChange") == 0 && field) {
        rc = c121_event_apply(e->c, ref, field, value);
        if (rc == PLAT_OK)
            rc = update_name(e, ref, field);
        if (rc == PLAT_OK)
            rc = note_edit_event(e, ref, field, value, ev);
    } else {
        log_debug("121: event %s of %s not applied", type, ref);
        plat_free(ref);
        return PLAT_OK;
    }
    if (rc == ERR_INVALID || rc == ERR_NOTFOUND) {
        /* An event the server copy cannot take (a field that names the
         * registration itself): skip it rather than stop every sync. */
        log_debug("121: event of %s skipped: %s", ref, plat_err_msg());
        plat_err_clear();
        rc = PLAT_OK;
    } else if (rc == PLAT_OK) {
        e->applied++;
    }
    plat_free(ref);
    return rc;
}

/* Apply the received events and commit them with the checkpoints. */
static int flush(struct events *e)
{
    struct sync_ctx *s = e->c->ctx;
    struct plat_buf seen;
    const cJSON *ev;
    char iso[PLAT_ISO_LEN];
    int64_t id, applied0 = e->applied;
    int rc;

    if (e->n_batch == 0)
        return PLAT_OK;
    e->confirmed = 0;
    plat_buf_init(&seen, 0);
    rc = sync_batch_begin(s);
    if (rc < 0)
        goto done;
    cJSON_ArrayForEach(ev, e->batch) {
        id = (int64_t)cJSON_GetObjectItemCaseSensitive(ev, "id")->valuedouble;
        if (idset_has(&e->old_seen, id)) {
            e->skipped++;
        } else {
            rc = apply_one(e, ev);
            /* kept for `agent serve` (GET .../registration-events) */
            if (rc == PLAT_OK)
                rc = sync_put_event(s, e->c->program_id, ev);
        }
        if (rc < 0)
            break;
        if (id > e->upto)
            e->upto = id;
    }
    if (rc == PLAT_OK)
        rc = confirm_edits_seen(e);
    if (rc == PLAT_OK)
        rc = seen_text(e, &seen);
    plat_time_iso(e->cursor, iso);
    if (rc == PLAT_OK)
        rc = sync_cursor_set(s, "events.cursor", iso);
    if (rc == PLAT_OK)
        rc = sync_cursor_set_i64(s, "events.last_id",
                                      e->last_id);
    if (rc == PLAT_OK)
        rc = sync_cursor_set(s, "events.seen", seen.data);
    if (rc == PLAT_OK && e->refetch.len > 0)
        rc = sync_cursor_set(s, "events.refetch",
                                  e->refetch.data);
    if (rc == PLAT_OK && e->unknown_ids.len > 0)
        rc = sync_cursor_set(s, "events.unknown", e->unknown_ids.data);
    rc = sync_batch_end(s, rc);

done:
    if (rc < 0) {
        e->applied = applied0;
    } else {
        e->progressed = 1;
        c121_count(e->c, SYNC_COUNT_EVENTS, e->applied - applied0);
        c121_count(e->c, SYNC_COUNT_PUSHED, e->confirmed);
    }
    /* Reloaded by the next batch: this one's states may be rolled back. */
    sync_ops_free(&e->status_ops);
    e->status_loaded = 0;
    edit_ops_free(e);
    cJSON_Delete(e->batch);
    e->batch = NULL;
    e->n_batch = 0;
    plat_buf_dispose(&seen);
    return rc;
}

static int on_event(void *payload, cJSON *ev)
{
    struct events *e = payload;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(ev, "registrationId");
    const char *created = text_of(ev, "created");
    int64_t ms;
    int rc;

    int64_t idv, ridv;

    /* Ids are range-checked here once; the batch code casts them. */
    if (!c121_json_int(id, 1, C121_ID_MAX, &idv) ||
        !c121_json_int(rid, 1, C121_ID_MAX, &ridv) || !text_of(ev, "type")
        || !created || plat_time_parse_iso(created, &ms) < 0) {
        cJSON_Delete(ev);
        return plat_err_set(ERR_INVALID, "malformed registration event from "
                            "server");
    }
    if (ms > e->cursor)
        e->cursor = ms;
    (void)ridv;
    if (idv > e->last_id)
        e->last_id = idv;
    rc = recent_add(e, idv, ms);
    if (rc == PLAT_OK && !e->batch && !(e->batch = cJSON_CreateArray()))
        rc = ERR_NOMEM;
    if (rc < 0) {
        cJSON_Delete(ev);
        return plat_err_set(rc, "out of memory reading registration events");
    }
    cJSON_AddItemToArray(e->batch, ev);
    if (++e->n_batch >= e->batch_max)
        return flush(e);
    return PLAT_OK;
}

/* ---- the phase -------------------------------------------------------- */

/* Read the checkpoints this cycle starts from. */
static int load_state(struct events *e, int64_t *settled)
{
    struct sync_ctx *s = e->c->ctx;
    char *text = NULL;
    int rc;

    rc = sync_cursor_get(s, "events.cursor", &text);
    if (rc == ERR_NOTFOUND) {
        /* The first pull sets it; a store that lacks it starts now. */
        plat_err_clear();
        rc = c121_server_time(e->c, &e->cursor);
        if (rc == PLAT_OK)
            log_info("121: no events cursor; starting from the server's "
                     "time");
    } else if (rc == PLAT_OK && plat_time_parse_iso(text, &e->cursor) < 0) {
        rc = plat_err_set(ERR_CORRUPT, "121 checkpoint events.cursor is "
                          "damaged");
    }
    plat_free(text);
    text = NULL;
    if (rc < 0)
        return rc;
    e->cursor0 = e->cursor;
    rc = sync_cursor_get_i64(s, "events.last_id", 0,
                                  &e->last_id);
    if (rc == PLAT_OK)
        rc = sync_cursor_get_i64(s, "events.settled", 0,
                                      settled);
    if (rc < 0)
        return rc;
    rc = sync_cursor_get(s, "events.seen", &text);
    if (rc == PLAT_OK)
        rc = idset_parse(&e->old_seen, text);
    else if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    plat_free(text);
    text = NULL;
    if (rc < 0)
        return rc;
    /* Re-reads a previous cycle could not finish are kept, since each
     * batch rewrites the whole list. */
    rc = sync_cursor_get(s, "events.refetch", &text);
    if (rc == PLAT_OK)
        rc = plat_buf_puts(&e->refetch, text);
    else if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    plat_free(text);
    text = NULL;
    if (rc < 0)
        return rc;
    rc = sync_cursor_get(s, "events.unknown", &text);
    if (rc == PLAT_OK) {
        const char *p;

        rc = plat_buf_puts(&e->unknown_ids, text);
        for (p = text, e->n_unknown_ids = 1; *p; p++)
            e->n_unknown_ids += *p == '\n';
    } else if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    plat_free(text);
    return rc;
}

/* Fetch the registrations newer than the largest stored id. */
/* New people: every registration above the walk frontier, the id up to
 * which every registration has been read (the larger of pull.last_id, set
 * by the first pull and each full one, and new.last_id, set here). Not
 * above the largest stored id: a registration read alone (our own create
 * confirmed by its referenceId, one read by id) can have a higher id than
 * office registrations no event named in time (a backdated `created`,
 * concurrent inserts), which were then never pulled (fault harness seed
 * 20170). A store from before new.last_id re-reads from pull.last_id once.
 * *covered: the walk read every id above it (INT64_MAX: none). */
static int fetch_new(struct c121 *c, int64_t *covered)
{
    int64_t from = 0, newer = 0, last = 0, pulled0 = c->pulled;
    int complete = 0, rc;

    *covered = INT64_MAX;
    rc = sync_cursor_get_i64(c->ctx, "pull.last_id", 0, &from);
    if (rc == PLAT_OK)
        rc = sync_cursor_get_i64(c->ctx, "new.last_id", 0, &newer);
    if (rc < 0)
        return rc;
    if (newer > from)
        from = newer;
    rc = c121_walk_registrations(c, from, "new.last_id", &last, &complete);
    if (rc == PLAT_OK && complete)
        *covered = from;
    if (rc == PLAT_OK && c->pulled > pulled0)
        log_info("121: %lld new registrations, up to id %lld",
                 (long long)((c->pulled) - pulled0), (long long)last);
    return rc;
}

/* One registration read by its id: exactly that one, or none (deleted,
 * or out of this user's scope). */
struct by_id {
    int64_t id;
    cJSON *rec;
};

static int id_record(void *payload, cJSON *rec)
{
    struct by_id *b = payload;
    int64_t id = 0;

    /* Anything else means the server dropped the filter (it does that
     * silently) and is sending the whole program: stop at once. */
    if (b->rec || !c121_json_int(cJSON_GetObjectItemCaseSensitive(rec, "id"),
                                 1, C121_ID_MAX, &id) || id != b->id) {
        cJSON_Delete(rec);
        return plat_err_set(ERR_INVALID, "121 answered an id filter with "
                            "other registrations");
    }
    b->rec = rec;
    return PLAT_OK;
}

static int fetch_one_id(struct c121 *c, struct plat_buf *path, int64_t id)
{
    struct by_id b = {id, NULL};
    int rc;

    plat_buf_reset(path);
    rc = plat_buf_printf(path, "%s/registrations?filter.id=$eq:%lld&limit=2",
                         c->prefix, (long long)id);
    if (rc == PLAT_OK)
        rc = c121_get_records(c, path->data, "data", "registration",
                              id_record, &b, NULL);
    if (rc == PLAT_OK && b.rec) {
        rc = sync_batch_begin(c->ctx);
        if (rc == PLAT_OK)
            rc = sync_batch_end(c->ctx, sync_put_registration(c->ctx, b.rec));
        if (rc == PLAT_OK)
            c121_count(c, SYNC_COUNT_PULLED, 1);
    }
    cJSON_Delete(b.rec);
    return rc;
}

/* Read the registrations events named that the store still does not know
 * after fetch_new: committed on the server with an id below one the
 * device had already pulled. One above `covered` was in fetch_new's walk
 * and is not stored, so it is deleted: dropped without a request (keeping
 * it cost an empty answer per new registration deleted again: 200 in a
 * month's catch-up). Up to UNKNOWN_PER_SYNC now, the rest next time; a
 * failure keeps the whole list for the next sync (those read already are
 * known by then). */
static int fetch_unknown(struct c121 *c, int64_t covered)
{
    struct plat_buf path, left;
    char *text = NULL, *p, *end, *ref;
    long long id;
    int n = 0, rc;

    rc = sync_cursor_get(c->ctx, "events.unknown", &text);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    plat_buf_init(&path, 0);
    plat_buf_init(&left, 0);
    for (p = text; *p && rc == PLAT_OK; p = *end ? end + 1 : end) {
        errno = 0;
        id = strtoll(p, &end, 10);
        if (end == p || (*end && *end != '\n') || id < 1 || errno) {
            rc = plat_err_set(ERR_CORRUPT, "121 checkpoint events.unknown "
                              "is damaged");
            break;
        }
        ref = NULL;
        rc = sync_ref_by_server_id(c->ctx, id, &ref);
        plat_free(ref);
        if (rc == PLAT_OK)
            continue; /* pulled meanwhile */
        if (rc != ERR_NOTFOUND)
            break;
        plat_err_clear();
        rc = PLAT_OK;
        if (id > covered)
            continue; /* deleted since */
        if (n >= UNKNOWN_PER_SYNC) {
            rc = plat_buf_printf(&left, "%s%lld", left.len ? "\n" : "", id);
            continue;
        }
        n++;
        rc = fetch_one_id(c, &path, id);
    }
    if (rc == PLAT_OK)
        rc = left.len ? sync_cursor_set(c->ctx, "events.unknown", left.data)
                      : sync_cursor_delete(c->ctx, "events.unknown");
    if (rc == PLAT_OK && n > 0)
        log_info("121: %d registrations read by id (events named them; their "
                 "ids are below the largest stored one)", n);
    plat_buf_dispose(&left);
    plat_buf_dispose(&path);
    plat_free(text);
    return rc;
}

/* Re-read the registrations whose events were not enough. */
static int refetch(struct c121 *c)
{
    char *text = NULL, *p;
    const char **refs = NULL;
    size_t n = 1, i = 0;
    int rc;

    rc = sync_cursor_get(c->ctx, "events.refetch",
                              &text);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    for (p = text; *p; p++)
        n += *p == '\n';
    refs = plat_calloc(n, sizeof(*refs));
    if (!refs) {
        rc = ERR_NOMEM;
        goto done;
    }
    for (p = text; p; i++) {
        refs[i] = p;
        p = strchr(p, '\n');
        if (p)
            *p++ = '\0';
    }
    rc = c121_fetch_by_refs(c, refs, n, NULL);
    if (rc == PLAT_OK)
        rc = sync_cursor_delete(c->ctx, "events.refetch");

done:
    plat_free(refs);
    plat_free(text);
    return rc;
}

/* One query from the stored cursor, its events applied and committed in
 * batches. e->progressed tells whether a batch was committed. */
static int events_once(struct c121 *c, struct events *e)
{
    struct plat_buf path;
    char iso[PLAT_ISO_LEN];
    int64_t settled = 0;
    long status = 0;
    int rc;

    plat_buf_init(&path, 0);
    rc = load_state(e, &settled);
    if (rc < 0)
        goto done;
    e->settled_query = settled != 0;
    plat_time_iso(e->cursor - (settled ? 0 : OVERLAP_MS), iso);
    rc = plat_buf_printf(&path, "%s/registration-events?fromDate=",
                         c->prefix);
    if (rc == PLAT_OK)
        rc = sync_http_escape(&path, iso);
    if (rc < 0)
        goto done;
    rc = c121_get_records(c, path.data, "data", "registration event",
                          on_event, e, &status);
    if (rc == ERR_NOTFOUND && status == 404) {
        /* 121 answers "no events in the window" with a 404. */
        plat_err_clear();
        rc = PLAT_OK;
    }
    if (rc == PLAT_OK)
        rc = flush(e);
    if (rc == PLAT_OK)
        rc = sync_cursor_set_i64(c->ctx, "events.settled",
                                      e->cursor == e->cursor0);

done:
    plat_buf_dispose(&path);
    return rc;
}

static void events_dispose(struct events *e)
{
    cJSON_Delete(e->batch);
    plat_free(e->old_seen.v);
    plat_free(e->recent);
    plat_buf_dispose(&e->refetch);
    plat_buf_dispose(&e->unknown_ids);
}

int c121_pull_events(struct c121 *c)
{
    struct events e;
    struct sync_http_stats st;
    int64_t complete = 0, before, applied = 0, skipped = 0, unknown = 0;
    int64_t covered = INT64_MAX;
    int misses = 0, progressed, rc;

    rc = sync_cursor_get_i64(c->ctx, "pull.complete", 0,
                                  &complete);
    if (rc < 0 || !complete) {
        /* Until the first pull is complete the events wait: the cursor
         * set when it started keeps them. */
        if (rc == PLAT_OK)
            log_debug("121: first pull not complete; events wait");
        return rc;
    }
    for (;;) {
        memset(&e, 0, sizeof(e));
        e.c = c;
        e.batch_max = (size_t)c121_batch(c);
        plat_buf_init(&e.refetch, 0);
        plat_buf_init(&e.unknown_ids, 0);
        sync_http_stats(c->http, &st);
        before = st.bytes_down_body;
        rc = events_once(c, &e);
        progressed = e.progressed;
        applied += e.applied;
        skipped += e.skipped;
        unknown += e.unknown;
        events_dispose(&e);
        /* Cut off mid-answer, or over the client's size cap, after
         * committing some batches: ask again from the new cursor (the
         * answer has no paging). As for the registrations walk, only
         * when data flowed and up to max_attempts times without
         * progress. */
        if (rc == PLAT_OK || (rc != ERR_RETRY && rc != ERR_TOOLARGE) ||
            c121_cancelled(c))
            break;
        sync_http_stats(c->http, &st);
        if (st.bytes_down_body == before)
            break;
        misses = progressed ? 1 : misses + 1;
        if (misses >= c121_max_attempts(c))
            break;
        log_info("121: registration events cut off; resuming");
    }
    if (rc == PLAT_OK)
        rc = fetch_new(c, &covered);
    if (rc == PLAT_OK)
        rc = fetch_unknown(c, covered);
    if (rc == PLAT_OK)
        rc = refetch(c);
    if (rc == PLAT_OK && (applied || unknown))
        log_info("121: %lld registration events applied, %lld already seen, "
                 "%lld of registrations not pulled before",
                 (long long)applied, (long long)skipped, (long long)unknown);
    return rc;
}
