/*
 * pull_registrations.c - the first pull and the full reconcile: every
 * registration of the program, read in few large id windows
 * (sortBy=id:ASC&filter.id=$gt:<last>), because on the real server each
 * registrations request costs about 1.5 s whatever its limit
 * (contracts/recorded/121/README.md). That base cost grows with the rows
 * above the filter, so every window of a walk pays again for the rows
 * still ahead (200,000 rows in 50,000-row windows cost the server 1.27x
 * one request for all): the default window holds a whole program, and a
 * window whose answer never starts on a link (cut or timed out before
 * the first record, while the server builds it) is halved instead of
 * retried as it was. The answer is parsed as a stream
 * record by record and committed every opt->batch records together with
 * the checkpoint of the last id, so memory stays bounded by one batch and
 * an interrupted pull resumes after the last committed id.
 *
 * Checkpoints (source "121"):
 *   pull.last_id   last id committed by the first pull
 *   pull.complete  1 once the first pull reached the end
 *   full.last_id   last id committed by a full reconcile in progress
 *   full.cursor    server time when that reconcile started; at its end
 *                  the events cursor moves up to it
 *   events.cursor  set at the start of the first pull (pull_events.c)
 *
 * Deletions: GET /registrations leaves deleted rows out, so a window that
 * shows ids a < b < c and not a stored id between them tells that the
 * stored one is gone; sync_mark_gone marks it deleted in the same
 * commit as the batch. This needs no generation column and works for a
 * resumed walk too.
 */
#include "c121.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "sync_http.h"
#include "pull_kept.h"
#include "sync_jscan.h"

#include <cjson/cJSON.h>

#include <string.h>

/* The smallest window a walk shrinks to after answers over the size cap. */
#define MIN_WINDOW 100

/* Average bytes per record a window may take (its size cap / limit). */
#define PAGE_RECORD_BYTES ((size_t)64 << 10)

/* Average bytes per record a large window may take where limit x
 * PAGE_RECORD_BYTES passes the client's cap for a whole answer: a
 * streamed window is held one record at a time, so that cap (sized for
 * answers held whole) must not cut a window of 200,000 real records
 * (~0.7 KB each: 134 MB). 4 KiB is six times a real 121 record. */
#define LARGE_RECORD_BYTES ((size_t)4 << 10)

struct walk {
    struct c121 *c;
    const char *checkpoint;   /* NULL: no checkpoint                   */
    int program_id;
    size_t batch;
    int64_t committed;        /* last id committed                     */
    int64_t last_seen;        /* last id received                      */
    /* Received, not yet committed: kept as text, not as parsed trees
     * (a batch of 1,000 trees is ~4 MB, its text ~0.7 MB); stored as
     * received, not re-printed. */
    int64_t *ids;             /* their ids, ascending                  */
    struct plat_buf text;     /* their texts, one after the other      */
    size_t *ends;             /* where each text ends in `text`        */
    /* The members the store reads of each record (pull_kept.h): no
     * second parse of the whole record at commit. */
    struct pull_kept kept;
    size_t n_rows;
    int64_t window_rows;      /* records of the current window         */
    int64_t limit;            /* records asked for in this window      */
    int64_t done;             /* records committed by this walk        */
    int64_t gone;             /* stored rows found deleted             */
    int progressed;           /* a batch was committed in this attempt */
    int64_t total;            /* rows to walk as 121 counted them; 0:
                                 not asked (nobody watches)            */
    int64_t known_max;        /* largest id stored before the walk: rows
                                 above it were all put by this walk, so
                                 none of them can be missing           */
};

static void walk_drop(struct walk *w)
{
    w->n_rows = 0;
    plat_buf_reset(&w->text);
    pull_kept_reset(&w->kept);
}

/* Commit the received rows with the checkpoint. */
static int walk_flush(struct walk *w)
{
    struct sync_ctx *s = w->c->ctx;
    cJSON *rec;
    int64_t gone = 0;
    size_t i, start = 0;
    int rc;

    if (w->n_rows == 0)
        return PLAT_OK;
    rc = sync_batch_begin(s);
    if (rc < 0)
        return rc;
    for (i = 0; i < w->n_rows && rc == PLAT_OK; i++) {
        const char *text = w->text.data + start;
        size_t len = w->ends[i] - start;

        rec = pull_kept_object(&w->kept, i);
        rc = rec ? sync_put_registration_text(s, rec, text, len)
                 : plat_err_set(ERR_NOMEM, "out of memory storing "
                                "registrations");
        cJSON_Delete(rec);
        start = w->ends[i];
    }
    /* On a first pull nothing was stored before, so this costs nothing;
     * on a reconcile it only looks at the ids the store already had. */
    if (rc == PLAT_OK && w->committed < w->known_max)
        rc = sync_mark_gone(s, w->program_id, w->committed,
                                 w->last_seen < w->known_max
                                     ? w->last_seen : w->known_max,
                                 w->ids, w->n_rows, c121_mark_deleted, NULL, &gone);
    if (rc == PLAT_OK && w->checkpoint)
        rc = sync_cursor_set_i64(s, w->checkpoint,
                                      w->last_seen);
    rc = sync_batch_end(s, rc);
    if (rc < 0)
        return rc;
    w->committed = w->last_seen;
    w->done += (int64_t)w->n_rows;
    w->gone += gone;
    c121_count(w->c, SYNC_COUNT_PULLED, (int64_t)w->n_rows);
    w->progressed = 1;
    walk_drop(w);
    c121_progress(w->c, w->done,
                  w->total > w->done ? w->total : (w->total ? w->done : 0));
    if (c121_cancelled(w->c))
        return ERR_RETRY;
    return PLAT_OK;
}

/* Whether a record's text can be stored as received: no control
 * characters at all (cJSON accepts them raw inside strings, a NUL would
 * cut the stored text short, and SQLite's json functions refuse them), so
 * a text with one is printed again from its tree, escaped. */
static int plain_text(const char *t, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)t[i] < 0x20)
            return 0;
    return 1;
}

/* The checks every record passes before it is kept, given its id. */
static int admit(struct walk *w, int64_t v)
{
    /* A server sending more than it was asked for would fill the store
     * without end (each window a new one): refuse the window, nothing
     * more stored from it. */
    if (w->limit > 0 && w->window_rows >= w->limit) {
        walk_drop(w);
        return plat_err_set(ERR_INVALID, "121 sent more registrations than "
                            "asked (over limit=%lld)", (long long)w->limit);
    }
    /* The walk relies on sortBy=id:ASC and filter.id=$gt: (121 drops a
     * filter it does not accept, silently): without them it would never
     * end. */
    if (v <= w->last_seen)
        return plat_err_set(ERR_INVALID, "121 registrations came out of id "
                            "order (id %lld after %lld)", (long long)v,
                            (long long)w->last_seen);
    return PLAT_OK;
}

/* A record's text and kept members were appended: count it in, commit a
 * full batch. */
static int added(struct walk *w, int64_t v)
{
    w->ends[w->n_rows] = w->text.len;
    w->ids[w->n_rows++] = v;
    w->last_seen = v;
    w->window_rows++;
    if (w->n_rows >= w->batch)
        return walk_flush(w);
    return PLAT_OK;
}

/* The slow path: a record the fast one (walk_text) did not take, parsed
 * by cJSON, which decides whether it is valid. */
static int walk_record(void *payload, cJSON *rec)
{
    struct walk *w = payload;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
    int64_t v;
    int rc;

    if (!cJSON_IsObject(rec) || !c121_json_int(id, 1, C121_ID_MAX, &v)) {
        cJSON_Delete(rec);
        return plat_err_set(ERR_INVALID, "malformed registration from "
                            "server: no numeric id");
    }
    rc = admit(w, v);
    if (rc < 0) {
        cJSON_Delete(rec);
        return rc;
    }
    if (w->c->rec_text && plain_text(w->c->rec_text, w->c->rec_len)) {
        rc = plat_buf_append(&w->text, w->c->rec_text, w->c->rec_len);
    } else {
        char *t = cJSON_PrintUnformatted(rec);

        rc = t ? plat_buf_puts(&w->text, t) : ERR_NOMEM;
        cJSON_free(t);
    }
    if (rc == PLAT_OK)
        rc = pull_kept_put_tree(&w->kept, w->n_rows, rec);
    cJSON_Delete(rec);
    if (rc < 0)
        return plat_err_set(rc, "pulling registrations: no memory for the "
                            "batch's text");
    return added(w, v);
}

/* An id written as plain digits (what 121 sends) in [1, C121_ID_MAX];
 * anything else (1.0, 1e3) is left to cJSON and c121_json_int. */
static int plain_id(const char *t, size_t len, int64_t *out)
{
    int64_t v = 0;

    if (!t || len == 0 || len > 16)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] < '0' || t[i] > '9')
            return 0;
        v = v * 10 + (t[i] - '0');
    }
    if (v < 1 || v > C121_ID_MAX)
        return 0;
    *out = v;
    return 1;
}

/* The fast path, taken by every record of a normal pull: the text is
 * checked in one pass (sync_jscan.h) and its kept members are copied as
 * the text they were sent as; no tree is built. Whatever it does not
 * take goes to walk_record through the usual parse. The text is stored as
 * received (blanks between tokens included: valid JSON all the same). */
static int walk_text(void *payload, const char *json, size_t len)
{
    struct walk *w = payload;
    struct sync_jscan_member m[PULL_KEPT_N];
    int64_t v;
    int rc;

    for (size_t i = 0; i < PULL_KEPT_N; i++)
        m[i].key = PULL_KEPT_MEMBERS[i];
    if (!sync_jscan_object(json, len, m, PULL_KEPT_N) ||
        !plain_id(m[PULL_KEPT_ID].val, m[PULL_KEPT_ID].len, &v))
        return C121_TEXT_PARSE;
    rc = admit(w, v);
    if (rc < 0)
        return rc;
    rc = plat_buf_append(&w->text, json, len);
    if (rc == PLAT_OK)
        rc = pull_kept_put_spans(&w->kept, w->n_rows, m);
    if (rc < 0)
        return plat_err_set(rc, "pulling registrations: no memory for the "
                            "batch's text");
    return added(w, v);
}

/* Half a window, not under MIN_WINDOW. */
static int half_window(int limit)
{
    return limit / 2 > MIN_WINDOW ? limit / 2 : MIN_WINDOW;
}

/* The client's counters now: a window's progress is what they moved by. */
static struct sync_http_stats http_stats(struct c121 *c)
{
    struct sync_http_stats st;

    sync_http_stats(c->http, &st);
    return st;
}

/* One window, with a size cap that fits it: `limit` records of at most
 * PAGE_RECORD_BYTES on average (a real 121 record is under 1 KB), never
 * more than the larger of the client's own cap and LARGE_RECORD_BYTES a
 * record. An endless or inflating answer stops there. */
static int get_window(struct c121 *c, const char *path, int limit,
                      struct walk *w)
{
    size_t want = (size_t)limit * PAGE_RECORD_BYTES, cap, large;
    int rc;

    cap = sync_http_set_max_response(c->http, want);
    if (cap < want) {
        large = (size_t)limit * LARGE_RECORD_BYTES;
        sync_http_set_max_response(c->http, large > cap ? large : cap);
    }
    rc = c121_get_texts(c, path, "data", "registration", walk_text,
                        walk_record, w, NULL);
    sync_http_set_max_response(c->http, cap);
    return rc;
}

/* The registrations above `from_id` as 121 counts them (limit=0 answers
 * the paging meta only). It costs one request (about 1.5 s on the real
 * server for a large program, like any registrations request), so it is
 * asked only when someone watches the progress line; 0 when unknown (a
 * failure here is not the walk's: the walk reports its own). */
static int64_t count_above(struct c121 *c, int64_t from_id)
{
    struct plat_buf path;
    cJSON *doc = NULL;
    int64_t n = 0;

    if (!sync_ctx_watched(c->ctx))
        return 0;
    plat_buf_init(&path, 0);
    if (plat_buf_printf(&path, "%s/registrations?filter.id=$gt:%lld&"
                        "limit=0", c->prefix, (long long)from_id) == PLAT_OK &&
        c121_get_json(c, path.data, NULL, "registration count", &doc, NULL,
                      NULL) == PLAT_OK) {
        const cJSON *meta = cJSON_GetObjectItemCaseSensitive(doc, "meta");

        if (!c121_json_int(cJSON_GetObjectItemCaseSensitive(meta,
                                                            "totalItems"),
                           0, C121_ID_MAX, &n))
            n = 0;
    }
    plat_err_clear();
    cJSON_Delete(doc);
    plat_buf_dispose(&path);
    return n;
}

int c121_walk_registrations(struct c121 *c, int64_t from_id,
                            const char *checkpoint, int64_t *last_out,
                            int *complete_out)
{
    struct walk w;
    struct plat_buf path;
    int limit = c121_window(c), misses = 0, halved = 0, tries = 0, rc;
    struct sync_http_stats before, after;

    memset(&w, 0, sizeof(w));
    *last_out = from_id;
    *complete_out = 0;
    w.c = c;
    w.checkpoint = checkpoint;
    w.program_id = c->program_id;
    w.batch = (size_t)c121_batch(c);
    w.committed = from_id;
    w.ids = plat_malloc(w.batch * sizeof(*w.ids));
    w.ends = plat_malloc(w.batch * sizeof(*w.ends));
    plat_buf_init(&path, 0);
    plat_buf_init(&w.text, 0);
    if (pull_kept_init(&w.kept, w.batch) < 0 || !w.ids || !w.ends) {
        plat_free(w.ids);
        plat_free(w.ends);
        pull_kept_dispose(&w.kept);
        return ERR_NOMEM;
    }
    rc = sync_max_server_id(c->ctx, w.program_id, &w.known_max);
    if (rc < 0) {
        plat_free(w.ids);
        plat_free(w.ends);
        pull_kept_dispose(&w.kept);
        return rc;
    }
    w.total = count_above(c, from_id);
    c121_progress(c, 0, w.total);
    for (;;) {
        walk_drop(&w);
        w.last_seen = w.committed;
        w.window_rows = 0;
        w.limit = limit;
        w.progressed = 0;
        plat_buf_reset(&path);
        rc = plat_buf_printf(&path, "%s/registrations?sortBy=id:ASC&"
                             "filter.id=$gt:%lld&limit=%d", c->prefix,
                             (long long)w.committed, limit);
        if (rc < 0)
            break;
        before = http_stats(c);
        /* Once a window got no answer, the walk's own tries (each with a
         * smaller window) replace the client's: a server that never
         * answers costs the client's tries once, then one per halving,
         * not the client's tries for every window. */
        if (halved)
            tries = sync_http_set_max_attempts(c->http, 1);
        rc = get_window(c, path.data, limit, &w);
        after = http_stats(c);
        if (halved)
            sync_http_set_max_attempts(c->http, tries);
        if (rc == PLAT_OK)
            rc = walk_flush(&w);
        if (rc == PLAT_OK) {
            if (w.window_rows < limit)
                break;
            misses = 0;
            continue;
        }
        /* Resume at once after a connection cut mid-answer (the client
         * does not retry once data has flowed): committed batches stay,
         * the next window starts after the last committed id. A window
         * over the client's size cap resumes the same way with half the
         * limit. Anything else, or a failure before any data (the client
         * has retried that already), ends the walk. */
        if (c121_cancelled(c))
            break;
        if (rc == ERR_TOOLARGE && limit > MIN_WINDOW) {
            /* Refused by its Content-Length, or cut at the cap: a few
             * halvings at most, each one a try of its own. */
            limit = half_window(limit);
            log_info("121: registrations window too large; asking for %d "
                     "after id %lld", limit, (long long)w.committed);
            continue;
        }
        if (rc == ERR_RETRY && w.window_rows == 0 && limit > MIN_WINDOW &&
            after.bytes_up_wire > before.bytes_up_wire) {
            /* The request went out (this is no unreachable server) and
             * the client's own tries got no record back: the link cuts
             * or stalls before the server has built the answer, which
             * takes ~0.17 s per 1,000 rows on the real server. A smaller
             * window starts answering sooner. */
            if (++misses >= c121_max_attempts(c))
                break;
            halved = 1;
            limit = half_window(limit);
            log_info("121: no answer to a registrations window in time; "
                     "asking for %d after id %lld", limit,
                     (long long)w.committed);
            plat_err_clear();
            continue;
        }
        if (rc == ERR_TOOLARGE ? !w.progressed
                               : rc != ERR_RETRY || after.bytes_down_body ==
                                                        before.bytes_down_body)
            break;
        misses = w.progressed ? 1 : misses + 1;
        if (misses >= c121_max_attempts(c))
            break;
        log_info("121: registrations download cut off after id %lld; "
                 "resuming", (long long)w.committed);
    }
    walk_drop(&w);
    if (rc == PLAT_OK) {
        /* The window came back short: nothing is left above the last
         * id, so stored rows above it are gone from the server. */
        int64_t gone = 0;

        rc = sync_mark_gone(c->ctx, w.program_id, w.committed,
                                 INT64_MAX, NULL, 0, c121_mark_deleted, NULL, &gone);
        w.gone += gone;
        if (rc == PLAT_OK)
            *complete_out = 1;
    }
    *last_out = w.committed;
    if (w.gone > 0)
        log_info("121: %lld registrations are no longer on the server, "
                 "marked deleted", (long long)w.gone);
    plat_free(w.ids);
    plat_free(w.ends);
    plat_buf_dispose(&w.text);
    pull_kept_dispose(&w.kept);
    plat_buf_dispose(&path);
    return rc;
}

/* Set checkpoint `name` to the server's time now, unless it is set. */
static int start_cursor(struct c121 *c, const char *name)
{
    char *cur = NULL;
    char iso[PLAT_ISO_LEN];
    int64_t ms;
    int rc;

    rc = sync_cursor_get(c->ctx, name, &cur);
    plat_free(cur);
    if (rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    rc = c121_server_time(c, &ms);
    if (rc < 0)
        return rc;
    plat_time_iso(ms, iso);
    return sync_cursor_set(c->ctx, name, iso);
}

/* Move the events cursor up to the start of the full walk. */
static int advance_events_cursor(struct sync_ctx *s)
{
    char *full = NULL, *cur = NULL;
    int64_t full_ms = 0, cur_ms = 0;
    int rc;

    rc = sync_cursor_get(s, "full.cursor", &full);
    if (rc == PLAT_OK)
        rc = sync_cursor_get(s, "events.cursor", &cur);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
        goto done;
    }
    if (rc < 0 || plat_time_parse_iso(full, &full_ms) < 0 ||
        plat_time_parse_iso(cur, &cur_ms) < 0 || full_ms <= cur_ms) {
        plat_err_clear();
        goto done;
    }
    rc = sync_cursor_set(s, "events.cursor", full);
    if (rc == PLAT_OK)
        rc = sync_cursor_delete(s, "events.seen");
    if (rc == PLAT_OK)
        rc = sync_cursor_delete(s, "events.settled");

done:
    plat_free(full);
    plat_free(cur);
    return rc;
}

/* A full walk reached the end: the first pull is complete too. */
static int finish_full(struct c121 *c, int64_t last)
{
    struct sync_ctx *s = c->ctx;
    int64_t pull_last = 0;
    int rc;

    rc = sync_cursor_get_i64(s, "pull.last_id", 0,
                                  &pull_last);
    if (rc < 0)
        return rc;
    rc = sync_batch_begin(s);
    if (rc < 0)
        return rc;
    rc = advance_events_cursor(s);
    if (rc == PLAT_OK)
        rc = sync_cursor_delete(s, "full.cursor");
    if (rc == PLAT_OK)
        rc = sync_cursor_delete(s, "full.last_id");
    if (rc == PLAT_OK)
        rc = sync_cursor_set_i64(s, "pull.last_id",
                                      last > pull_last ? last : pull_last);
    if (rc == PLAT_OK)
        rc = sync_cursor_set_i64(s, "pull.complete", 1);
    return sync_batch_end(s, rc);
}

int c121_pull_registrations(struct c121 *c)
{
    struct sync_ctx *s = c->ctx;
    const char *ckpt;
    int64_t complete = 0, from = 0, last = 0, pulled0;
    int full = c->opt && c->opt->full, reached = 0, rc;

    pulled0 = c->pulled;
    rc = sync_cursor_get_i64(s, "pull.complete", 0,
                                  &complete);
    if (rc < 0)
        return rc;
    if (complete && !full) {
        log_debug("121: first pull complete; registrations come from "
                  "events");
        /* The first pull left the index to build (or a crash did, in
         * a full walk): build it now, once (nothing is written if not). */
        return sync_search_rebuild(s);
    }
    /* The events cursor starts at the first pull, on the server's clock:
     * every change after that moment is either in the rows still to be
     * read or in an event pull_events will apply. A new full walk notes
     * the server's time too: once it has read everything, the events
     * before that moment are in what it read, so the events cursor may
     * move up to it (a backlog of events too large to read is skipped
     * this way). */
    rc = start_cursor(c, "events.cursor");
    if (rc == PLAT_OK && full)
        rc = start_cursor(c, "full.cursor");
    if (rc < 0)
        goto done;
    /* A full reconcile that was cut off resumes where it stopped; a new
     * one starts from id 0. */
    ckpt = full ? "full.last_id" : "pull.last_id";
    rc = sync_cursor_get_i64(s, ckpt, 0, &from);
    if (rc < 0)
        goto done;
    /* A first pull leaves the search index alone and builds it once at
     * the end (store_search.h): row by row it was a quarter of the
     * pull's CPU, growing with the store. Searches scan meanwhile. */
    if (!full)
        rc = sync_search_defer(s);
    if (rc < 0)
        goto done;
    log_info("121: %s registrations after id %lld",
             full ? "reconciling" : "pulling", (long long)from);
    rc = c121_walk_registrations(c, from, ckpt, &last, &reached);
    if (rc == PLAT_OK && reached)
        rc = full ? finish_full(c, last)
                  : sync_cursor_set_i64(s, "pull.complete",
                                             1);
    /* Complete. The index is built at the start of the next pull
     * (above), not here: the pull's time is the server's time plus what
     * comes after the last byte, and a rebuild is 2 % of it (0.17 s for
     * 40,000 rows, ~1 s for 200,000), while searches meanwhile scan
     * (~10 ms per 40,000 rows) and find the same rows. A full walk over
     * a store still waiting for it builds it now. */
    if (rc == PLAT_OK && reached && full)
        rc = sync_search_rebuild(s);
    if (rc == PLAT_OK)
        log_info("121: registrations pulled: %lld (last id %lld)",
                 (long long)((c->pulled) - pulled0),
                 (long long)last);

done:
    return rc;
}
