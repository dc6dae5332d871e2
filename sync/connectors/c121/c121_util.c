/*
 * c121_util.c - what the 121 phases share: option defaults, progress and
 * counters, streamed and whole JSON GETs, the server's clock, and re-reads
 * of registrations by referenceId.
 */
#include "c121.h"
#include "c121_http.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "sync_http.h"
#include "sync_jstream.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

/* 121 tokens live exactly 33 h (contract 0.1). */
#define TOKEN_LIFETIME_MS (33LL * 3600 * 1000)
/* A referenceId filter longer than this is split over more requests:
 * Node refuses request heads over 16 KB. */
#define REFS_PATH_MAX 6000

int c121_window(const struct c121 *c)
{
    return c->opt && c->opt->window > 0 ? c->opt->window
                                        : C121_WINDOW_DEFAULT;
}

int c121_batch(const struct c121 *c)
{
    int b = c->opt && c->opt->batch > 0 ? c->opt->batch : C121_BATCH_DEFAULT;

    /* A batch is held in memory until it is committed. */
    return b < C121_BATCH_MAX ? b : C121_BATCH_MAX;
}

int c121_max_attempts(const struct c121 *c)
{
    return c->opt && c->opt->max_attempts > 0 ? c->opt->max_attempts : 5;
}

int c121_cancelled(struct c121 *c)
{
    return sync_ctx_cancelled(c->ctx);
}

void c121_progress(struct c121 *c, int64_t done, int64_t total)
{
    sync_ctx_progress(c->ctx, done, total);
}

void c121_count(struct c121 *c, int counter, int64_t n)
{
    if (counter == SYNC_COUNT_PULLED)
        c->pulled += n;
    else if (counter == SYNC_COUNT_EVENTS)
        c->events += n;
    sync_ctx_count(c->ctx, counter, n);
}

const cJSON *c121_program(struct c121 *c)
{
    return sync_ctx_program(c->ctx);
}

int c121_event_apply(struct c121 *c, const char *ref, const char *field,
                     const char *new_value)
{
    struct c121_event ev = {field, new_value};

    return sync_edit_registration(c->ctx, ref, c121_apply_event_fn, &ev);
}

/* "121 GET /api/programs/3/registrations": the request without its query,
 * for messages. */
static void request_label(char *out, size_t n, const char *path)
{
    size_t len = strcspn(path, "?");

    snprintf(out, n, "121 GET %.*s", (int)len, path);
}

/* ---- checks of what a server sent ---------------------------------------- */

int c121_json_int(const cJSON *v, int64_t lo, int64_t hi, int64_t *out)
{
    double d;

    if (!cJSON_IsNumber(v))
        return 0;
    d = v->valuedouble;
    /* Compare as doubles first: NaN and out-of-range values fail here,
     * before any cast. */
    if (!(d >= (double)lo && d <= (double)hi) || d != (double)(int64_t)d)
        return 0;
    *out = (int64_t)d;
    return 1;
}

int c121_json_has_nul(const char *json, size_t len)
{
    const char *p = json, *end = json + len, *bs;

    /* Backslashes are rare and, in JSON that parses, only inside strings,
     * each starting one escape: jump from one to the next with memchr
     * instead of walking every byte (this runs on every record pulled). */
    while ((bs = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (end - bs >= 6 && memcmp(bs + 1, "u0000", 5) == 0)
            return 1;
        p = bs + 2; /* past the escaped character */
        if (p >= end)
            break;
    }
    return 0;
}

/* A body that starts (after blanks) with '<' is markup, not JSON. */
static int looks_html(const char *data, size_t len)
{
    size_t i = 0;

    while (i < len && (data[i] == ' ' || data[i] == '\t' ||
                       data[i] == '\r' || data[i] == '\n'))
        i++;
    return i < len && data[i] == '<';
}

/* ---- streamed GET ------------------------------------------------------- */

struct records {
    struct c121 *c;
    struct sync_jstream *js;
    const char *what;
    const char *label;
    int started;
    c121_text_fn text_fn;
    c121_record_fn fn;
    void *payload;
};

static int on_record(void *payload, const char *json, size_t len)
{
    struct records *r = payload;
    cJSON *rec;
    int rc;

    if (r->text_fn) {
        rc = r->text_fn(r->payload, json, len);
        if (rc != C121_TEXT_PARSE)
            return rc;
    }
    /* cJSON would end the string at the NUL: a value cut short, stored
     * as if whole. */
    if (c121_json_has_nul(json, len))
        return plat_err_set(ERR_INVALID, "121 sent a %s with a NUL "
                            "character (\\u0000) in a string; nothing of "
                            "it stored", r->what);
    rec = cJSON_ParseWithLength(json, len);
    if (!rec)
        return plat_err_set(ERR_INVALID, "malformed %s from server", r->what);
    r->c->rec_text = json;
    r->c->rec_len = len;
    rc = r->fn(r->payload, rec);
    r->c->rec_text = NULL;
    r->c->rec_len = 0;
    return rc;
}

static int on_data(void *payload, const char *data, size_t len)
{
    struct records *r = payload;

    if (!r->started) {
        size_t i = 0;
        while (i < len && (data[i] == ' ' || data[i] == '\t' ||
                           data[i] == '\r' || data[i] == '\n'))
            i++;
        if (i == len)
            return PLAT_OK; /* only blanks so far: decide on the next */
        r->started = 1;
        if (looks_html(data, len))
            return plat_err_set(ERR_INVALID, "%s: HTML page instead of JSON "
                                "(a proxy or login portal answered?)",
                                r->label);
    }
    return sync_jstream_feed(r->js, data, len);
}

int c121_get_records(struct c121 *c, const char *path, const char *key,
                     const char *what, c121_record_fn fn, void *payload,
                     long *status_out)
{
    return c121_get_texts(c, path, key, what, NULL, fn, payload, status_out);
}

int c121_get_texts(struct c121 *c, const char *path, const char *key,
                   const char *what, c121_text_fn text_fn, c121_record_fn fn,
                   void *payload, long *status_out)
{
    struct sync_http_response resp;
    struct records r = {c, NULL, what, NULL, 0, text_fn, fn, payload};
    char label[160];
    int rc;

    memset(&resp, 0, sizeof(resp));
    if (status_out)
        *status_out = 0;
    request_label(label, sizeof(label), path);
    r.label = label;
    rc = sync_jstream_create(&r.js, key, C121_MAX_RECORD, on_record, &r);
    if (rc < 0)
        return rc;
    rc = sync_http_get_stream(c->http, path, on_data, &r, &resp);
    if (status_out)
        *status_out = resp.status;
    if (rc < 0)
        goto done;
    if (resp.status < 200 || resp.status > 299) {
        rc = sync_http_response_err(&resp, label);
        if (rc == PLAT_OK) /* a 304 nobody asked for */
            rc = plat_err_set(ERR_INVALID, "%s: unexpected HTTP %ld", label,
                              resp.status);
        goto done;
    }
    /* An HTML page sent as JSON: say so, not "JSON truncated". */
    rc = sync_http_check_json(&resp, label);
    if (rc == PLAT_OK)
        rc = sync_jstream_finish(r.js);

done:
    sync_jstream_destroy(r.js);
    sync_http_response_dispose(&resp);
    return rc;
}

/* ---- whole GET ---------------------------------------------------------- */

int c121_get_json(struct c121 *c, const char *path, const char *if_none_match,
                  const char *what, cJSON **out, long *status_out,
                  char *etag_out)
{
    struct sync_http_response resp;
    char label[160];
    size_t cap;
    int rc;

    *out = NULL;
    if (status_out)
        *status_out = 0;
    if (etag_out)
        etag_out[0] = '\0';
    /* A program, a user, templates: small documents, a small cap. */
    cap = sync_http_set_max_response(c->http, C121_MAX_SMALL_ANSWER);
    rc = sync_http_request(c->http, "GET", path, NULL, NULL, 0,
                           if_none_match, &resp);
    sync_http_set_max_response(c->http, cap);
    if (status_out)
        *status_out = resp.status;
    if (rc < 0)
        goto done;
    request_label(label, sizeof(label), path);
    if (resp.status == 304 && if_none_match) {
        rc = PLAT_OK;
        goto done;
    }
    if (resp.status < 200 || resp.status > 299) {
        rc = sync_http_response_err(&resp, label);
        if (rc == PLAT_OK)
            rc = plat_err_set(ERR_INVALID, "%s: unexpected HTTP %ld", label,
                              resp.status);
        goto done;
    }
    rc = sync_http_check_json(&resp, label);
    if (rc < 0)
        goto done;
    if (c121_json_has_nul(resp.body.data ? resp.body.data : "",
                          resp.body.len)) {
        rc = plat_err_set(ERR_INVALID, "121 sent a %s with a NUL character "
                          "(\\u0000) in a string; nothing of it stored",
                          what);
        goto done;
    }
    *out = cJSON_ParseWithLength(resp.body.data ? resp.body.data : "",
                                 resp.body.len);
    if (!*out) {
        rc = plat_err_set(ERR_INVALID, "malformed %s from server", what);
        goto done;
    }
    if (etag_out)
        memcpy(etag_out, resp.etag, sizeof(resp.etag));

done:
    sync_http_response_dispose(&resp);
    return rc;
}

/* ---- the server's clock ------------------------------------------------- */

int c121_server_time(struct c121 *c, int64_t *ms_out)
{
    const cJSON *user, *v;
    cJSON *body = NULL;
    int64_t login = 0, expires = 0, t;
    int have = 0, rc;

    *ms_out = 0;
    /* The login answer said it already: on 2G every round trip is 0.6 s. */
    if (c121_http_login_time(c->http, ms_out))
        return PLAT_OK;
    rc = c121_get_json(c, "/api/users/current", NULL, "current user",
                       &body, NULL, NULL);
    if (rc < 0)
        return rc;
    user = cJSON_GetObjectItemCaseSensitive(body, "user");
    /* lastLogin is when this session logged in; expires - 33 h is the
     * same moment by the token. Take the earlier one, so that a cursor
     * started from it is never ahead of the server. */
    v = cJSON_GetObjectItemCaseSensitive(user, "lastLogin");
    if (cJSON_IsString(v) && plat_time_parse_iso(v->valuestring, &t) == 0) {
        login = t;
        have |= 1;
    }
    v = cJSON_GetObjectItemCaseSensitive(user, "expires");
    if (cJSON_IsString(v) && plat_time_parse_iso(v->valuestring, &t) == 0) {
        expires = t - TOKEN_LIFETIME_MS;
        have |= 2;
    }
    plat_err_clear();
    if (have == 0)
        rc = plat_err_set(ERR_INVALID, "121 GET /api/users/current: the "
                          "answer has no lastLogin or expires time");
    else if (have == 3)
        *ms_out = login < expires ? login : expires;
    else
        *ms_out = have == 1 ? login : expires;
    cJSON_Delete(body);
    return rc;
}

/* ---- re-reads by referenceId -------------------------------------------- */

struct chunk {
    struct c121 *c;
    const char *const *refs;   /* the refs of this chunk */
    size_t n;
    unsigned char *found;      /* of this chunk, or NULL */
    cJSON *rows;               /* records received, stored at the end */
    size_t n_rows;
};

static int chunk_record(void *payload, cJSON *rec)
{
    struct chunk *k = payload;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(rec, "referenceId");
    size_t i;

    for (i = 0; cJSON_IsString(ref) && i < k->n; i++)
        if (strcmp(ref->valuestring, k->refs[i]) == 0)
            break;
    /* Anything else means the server dropped the filter (it does that
     * silently) and is sending the whole program: stop at once. */
    if (!cJSON_IsString(ref) || i == k->n || k->n_rows >= k->n) {
        cJSON_Delete(rec);
        return plat_err_set(ERR_INVALID, "121 answered a referenceId filter "
                            "with other registrations");
    }
    if (k->found)
        k->found[i] = 1;
    cJSON_AddItemToArray(k->rows, rec);
    k->n_rows++;
    return PLAT_OK;
}

/* Store the records of one chunk in one transaction. */
static int chunk_store(struct chunk *k)
{
    struct sync_ctx *s = k->c->ctx;
    const cJSON *rec;
    int rc;

    if (k->n_rows == 0)
        return PLAT_OK;
    rc = sync_batch_begin(s);
    if (rc < 0)
        return rc;
    for (rec = k->rows->child; rec && rc == PLAT_OK; rec = rec->next)
        rc = sync_put_registration(s, rec);
    rc = sync_batch_end(s, rc);
    if (rc == PLAT_OK)
        c121_count(k->c, SYNC_COUNT_PULLED, (int64_t)k->n_rows);
    return rc;
}

/* Fetch refs[0..n) with one request: "$in:a,b,c", or "$eq:a" for a single
 * referenceId that holds a comma ($in would split it). */
static int fetch_chunk(struct c121 *c, struct plat_buf *path,
                       const char *const *refs, size_t n,
                       unsigned char *found)
{
    struct chunk k = {c, refs, n, found, NULL, 0};
    size_t i;
    int rc;

    plat_buf_reset(path);
    rc = plat_buf_printf(path, "%s/registrations?limit=-1&"
                         "filter.referenceId=%s", c->prefix,
                         strchr(refs[0], ',') ? "$eq:" : "$in:");
    for (i = 0; i < n && rc == PLAT_OK; i++) {
        if (i > 0)
            rc = plat_buf_puts(path, ",");
        if (rc == PLAT_OK)
            rc = sync_http_escape(path, refs[i]);
    }
    if (rc < 0)
        return rc;
    k.rows = cJSON_CreateArray();
    if (!k.rows)
        return plat_err_set(ERR_NOMEM, "out of memory re-reading "
                            "registrations");
    rc = c121_get_records(c, path->data, "data", "registration",
                          chunk_record, &k, NULL);
    if (rc == PLAT_OK)
        rc = chunk_store(&k);
    cJSON_Delete(k.rows);
    return rc;
}

int c121_fetch_by_refs(struct c121 *c, const char *const *refs, size_t n,
                       unsigned char *found)
{
    struct plat_buf path;
    size_t start = 0, end, len;
    int rc = PLAT_OK;

    if (found)
        memset(found, 0, n);
    plat_buf_init(&path, 0);
    while (start < n && rc == PLAT_OK) {
        if (!refs[start] || !refs[start][0]) {
            start++;
            continue;
        }
        /* One chunk: up to C121_REFS_PER_REQUEST refs without commas, and
         * a URL of at most REFS_PATH_MAX bytes (escaping at most triples a
         * ref); a ref with a comma goes alone. */
        end = start + 1;
        len = strlen(refs[start]) * 3;
        if (!strchr(refs[start], ','))
            while (end < n && end - start < C121_REFS_PER_REQUEST &&
                   refs[end] && refs[end][0] && !strchr(refs[end], ',') &&
                   len + strlen(refs[end]) * 3 + 1 <= REFS_PATH_MAX) {
                len += strlen(refs[end]) * 3 + 1;
                end++;
            }
        rc = fetch_chunk(c, &path, refs + start, end - start,
                         found ? found + start : NULL);
        start = end;
    }
    plat_buf_dispose(&path);
    if (rc == PLAT_OK)
        log_debug("121: re-read %zu registrations by referenceId", n);
    return rc;
}
