/*
 * kobo_connector.c - the "kobo" connector: KoboToolbox form submissions
 * become 121 registrations, exactly once, edits included. Design:
 * README.md; pure helpers: kobo_map.h.
 *
 * Streams, per configured form (asset):
 *   form         GET /api/v2/assets/{uid}/ -> state form.<uid> (for
 *                `agent config check` of the mapping)
 *   submissions  key-set pull (_id > cursor, sorted by _id), one batch per
 *                page committed with its cursor; each new submission ->
 *                a create queued for 121 (origin kobo) with the referenceId
 *                derived from meta/rootUuid; rejected ones -> state
 *                "rejected"; entries marked for retry are re-read first
 *   edits        the cheap scan (fields=_id,_uuid,...): a changed _uuid ->
 *                the submission re-read and its changed mapped fields
 *                queued as an edit with base = what was imported last;
 *                with [kobo] deleted = report, imported submissions the
 *                complete scan no longer shows -> state "deleted" (their
 *                referenceIds logged, never their values)
 * Never touches the store, never prints: only sync_ctx.h services.
 */
#include "kobo_attach.h"
#include "kobo_map.h"
#include "kobo_media.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_log.h"
#include "plat_time.h"
#include "sync_connector.h"
#include "sync_ctx.h"
#include "sync_engine.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KOBO_PAGE_DEFAULT 1000
#define KOBO_IN_CHUNK 100          /* _ids per {"$in": [...]} re-read */
#define KOBO_MAPPING_MAX ((size_t)1 << 20)
#define KOBO_TARGET "121"
/* Store cache while many pages are imported: each submission's random
 * referenceId (rootUuid) lands on a random page of four indexes, which
 * the default 2 MiB cache read again from disk for every page (8 MiB: 14 %
 * less CPU at 20,000 submissions; 4 MiB kept most of it and the peak
 * RSS at 26 MB instead of 30). */
#define KOBO_BULK_CACHE_KIB 4096

struct kobo_form {
    char *asset;
    int program_id;
    char *mapping_path;
    struct kobo_mapping *map;
    int fresh;                     /* cursor was 0 when this cycle began */
    struct kobo_media media;       /* the form's media questions          */
};

struct kobo_state {
    struct kobo_form *forms;
    size_t n_forms;
    int page;
    char *fsp;
    int edits_on;
    int report_deleted;            /* [kobo] deleted = report            */
    cJSON *rejected;               /* state "rejected", loaded per stream */
    int rej_dirty;
    struct kobo_att_conf att;      /* attachments (kobo_attach.h)         */
    int remap;                     /* import_one: map a submission again
                                      even when its _uuid is unchanged (a
                                      late attachment gives its URL)    */
};

struct kobo_counts {
    int64_t imported, edits, rejected, skipped, validated;
};

/* ---- config ------------------------------------------------------------ */

static const struct sync_conf_key kobo_conf[] = {
    {"enabled", SYNC_CONF_BOOL, NULL,
     "run the kobo source (default: on when url is set)"},
    {"url", SYNC_CONF_URL, NULL,
     "KoboToolbox (kpi) server, e.g. https://kf.kobotoolbox.org"},
    {"token", SYNC_CONF_SECRET, NULL, "API token"},
    {"token_file", SYNC_CONF_PATH, NULL,
     "file holding the API token (mode 0600); or $AGENT_KOBO_TOKEN"},
    {"assets", SYNC_CONF_STRING, NULL,
     "form asset uids, comma-separated; each UID or UID:PROGRAM:MAPPING"},
    {"program_id", SYNC_CONF_INT, NULL,
     "121 program of the forms that do not name one"},
    {"mapping", SYNC_CONF_PATH, NULL,
     "mapping file {\"question\": \"attribute\"} of the forms that do not "
     "name one"},
    {"fsp", SYNC_CONF_STRING, NULL,
     "programFspConfigurationName when no question gives it"},
    {"page_size", SYNC_CONF_INT, "1000",
     "submissions per request (the server may clamp it)"},
    {"edits", SYNC_CONF_BOOL, "true",
     "scan for edited submissions and queue them as 121 edits"},
    {"deleted", SYNC_CONF_STRING, "report",
     "imported submissions deleted from the form: ignore or report "
     "(`agent kobo status`)"},
    {"attachments", SYNC_CONF_BOOL, "true",
     "download the files of media answers into the store"},
    {"attachment_max_bytes", SYNC_CONF_INT, "10485760",
     "largest attachment stored, in bytes (larger ones are listed only)"},
    {"attachment_hosts", SYNC_CONF_STRING, NULL,
     "other hosts (host[:port], comma-separated) attachments may be "
     "fetched or redirected from; the token is never sent to them"},
    {NULL, 0, NULL, NULL}
};

static void kobo_exit(void *state)
{
    struct kobo_state *st = state;

    if (!st)
        return;
    for (size_t i = 0; i < st->n_forms; i++) {
        plat_free(st->forms[i].asset);
        plat_free(st->forms[i].mapping_path);
        kobo_mapping_free(st->forms[i].map);
        kobo_media_free(&st->forms[i].media);
    }
    kobo_att_conf_free(&st->att);
    plat_free(st->forms);
    plat_free(st->fsp);
    cJSON_Delete(st->rejected);
    plat_free(st);
}

/* The Authorization header (payload: the token, owned by the hook). */
static int kobo_headers(void *payload, const char *method,
                        const char *path_and_query,
                        sync_http_header_add_fn add, void *add_ctx)
{
    char line[600];
    int rc;

    (void)method;
    if ((size_t)snprintf(line, sizeof(line), "Authorization: Token %s",
                         (const char *)payload) >= sizeof(line))
        return plat_err_set(ERR_AUTH, "kobo: the token is too long");
    rc = add(add_ctx, line);
    memset(line, 0, sizeof(line));
    /* files are not JSON (the data and asset paths are) */
    if (rc == PLAT_OK && !strstr(path_and_query, "/attachments/") &&
        strncmp(path_and_query, "/media/", 7) != 0)
        rc = add(add_ctx, "Accept: application/json");
    return rc;
}

static void kobo_release(void *payload)
{
    char *t = payload;

    if (t) {
        memset(t, 0, strlen(t));
        plat_free(t);
    }
}

static int parse_pos_int(const char *s, int *out)
{
    char *end = NULL;
    long v;

    if (!s || !*s)
        return 0;
    v = strtol(s, &end, 10);
    if (*end || v <= 0 || v > 2147483647L)
        return 0;
    *out = (int)v;
    return 1;
}

static int load_mapping(struct kobo_form *f)
{
    char *text = NULL, why[KOBO_WHY_MAX];
    size_t len = 0;
    int rc;

    rc = plat_fs_read_file(f->mapping_path, KOBO_MAPPING_MAX, &text, &len);
    if (rc == ERR_NOTFOUND)
        return plat_err_set(ERR_CONFIG, "[kobo] mapping file %s does not "
                            "exist", f->mapping_path);
    if (rc != PLAT_OK)
        return rc;
    rc = kobo_mapping_parse(text, len, f->mapping_path, &f->map, why,
                            sizeof(why));
    plat_free(text);
    if (rc == ERR_INVALID)
        return plat_err_set(ERR_CONFIG, "%s", why);
    if (rc != PLAT_OK)
        return plat_err_set(rc, "%s", why);
    return PLAT_OK;
}

/* One entry of `assets`: UID[:PROGRAM[:MAPPING]]. */
static int add_form(struct kobo_state *st, struct sync_ctx *ctx,
                    const char *spec, size_t len)
{
    struct kobo_form *f = &st->forms[st->n_forms];
    const char *c1 = memchr(spec, ':', len), *c2;
    char prog[16];
    size_t ulen = c1 ? (size_t)(c1 - spec) : len;

    for (size_t i = 0; i < ulen; i++)
        if (!isalnum((unsigned char)spec[i]) && spec[i] != '_' &&
            spec[i] != '-')
            return plat_err_set(ERR_CONFIG, "[kobo] assets: an asset uid "
                                "holds only letters and digits");
    if (ulen == 0 || ulen > 64)
        return plat_err_set(ERR_CONFIG, "[kobo] assets: empty or too long "
                            "asset uid");
    f->asset = plat_strndup(spec, ulen);
    if (!f->asset)
        return plat_err_set(ERR_NOMEM, "out of memory");
    st->n_forms++;
    f->program_id = 0;
    parse_pos_int(sync_ctx_conf(ctx, "program_id"), &f->program_id);
    if (c1) {
        c2 = memchr(c1 + 1, ':', len - ulen - 1);
        size_t plen = c2 ? (size_t)(c2 - c1 - 1) : len - ulen - 1;

        if (plen >= sizeof(prog))
            return plat_err_set(ERR_CONFIG, "[kobo] assets: bad program of "
                                "form %s", f->asset);
        memcpy(prog, c1 + 1, plen);
        prog[plen] = '\0';
        if (plen && !parse_pos_int(prog, &f->program_id))
            return plat_err_set(ERR_CONFIG, "[kobo] assets: bad program of "
                                "form %s", f->asset);
        if (c2 && c2 + 1 < spec + len)
            f->mapping_path = plat_strndup(c2 + 1,
                                           (size_t)(spec + len - c2 - 1));
    }
    if (!f->mapping_path && sync_ctx_conf(ctx, "mapping") &&
        *sync_ctx_conf(ctx, "mapping"))
        f->mapping_path = plat_strdup(sync_ctx_conf(ctx, "mapping"));
    if (!f->mapping_path)
        return plat_err_set(ERR_CONFIG, "[kobo] form %s has no mapping file "
                            "(set mapping)", f->asset);
    return load_mapping(f);
}

static int kobo_init(struct sync_ctx *ctx, void **state_out)
{
    const char *assets = sync_ctx_conf(ctx, "assets");
    const char *token = sync_ctx_conf(ctx, "token");
    const char *fsp = sync_ctx_conf(ctx, "fsp");
    const char *edits = sync_ctx_conf(ctx, "edits");
    struct sync_http_auth auth = {NULL, kobo_headers, kobo_release};
    struct kobo_state *st;
    size_t n = 1;
    char *tok;
    int rc;

    *state_out = NULL;
    if (!assets || !*assets)
        return plat_err_set(ERR_CONFIG, "[kobo] assets is not set (run "
                            "`agent kobo setup`)");
    if (!sync_ctx_http(ctx))
        return plat_err_set(ERR_CONFIG, "[kobo] url is not set");
    if (!token || !*token)
        return plat_err_set(ERR_AUTH, "no kobo token: set AGENT_KOBO_TOKEN "
                            "or token_file in [kobo]");
    for (const char *p = assets; *p; p++)
        n += *p == ',';
    st = plat_calloc(1, sizeof(*st));
    if (!st || !(st->forms = plat_calloc(n, sizeof(*st->forms)))) {
        plat_free(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    st->page = KOBO_PAGE_DEFAULT;
    if (sync_ctx_conf(ctx, "page_size") &&
        !parse_pos_int(sync_ctx_conf(ctx, "page_size"), &st->page)) {
        kobo_exit(st);
        return plat_err_set(ERR_CONFIG, "[kobo] page_size must be a "
                            "positive integer");
    }
    st->edits_on = !edits || strcmp(edits, "false") != 0;
    {
        const char *del = sync_ctx_conf(ctx, "deleted");

        if (del && strcmp(del, "ignore") != 0 && strcmp(del, "report") != 0) {
            kobo_exit(st);
            return plat_err_set(ERR_CONFIG, "[kobo] deleted must be ignore "
                                "or report");
        }
        st->report_deleted = !del || strcmp(del, "report") == 0;
    }
    if ((rc = kobo_att_conf_load(ctx, &st->att)) != PLAT_OK) {
        kobo_exit(st);
        return rc;
    }
    if (fsp && *fsp && !(st->fsp = plat_strdup(fsp))) {
        kobo_exit(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    for (const char *p = assets; *p;) {
        size_t len;

        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        len = strcspn(p, ", \t");
        if (len && (rc = add_form(st, ctx, p, len)) != PLAT_OK) {
            kobo_exit(st);
            return rc;
        }
        p += len;
    }
    if (st->n_forms == 0) {
        kobo_exit(st);
        return plat_err_set(ERR_CONFIG, "[kobo] assets is empty");
    }
    tok = plat_strdup(token);
    if (!tok) {
        kobo_exit(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    sync_http_set_auth(sync_ctx_http(ctx), &auth, tok);
    *state_out = st;
    return PLAT_OK;
}

/* ---- HTTP ---------------------------------------------------------------- */

/* Turn the answer `resp` (of a GET that returned `rc`) into JSON: status
 * checks, then the parsed body in *out. `asset` names the form in
 * messages. */
static int decode_json(int rc, struct sync_http_response *resp,
                       const char *asset, const char *what, cJSON **out)
{
    *out = NULL;
    if (rc != PLAT_OK)
        return rc;
    if (resp->status == 401) {
        rc = plat_err_set(ERR_AUTH, "kobo: the API token was refused "
                          "(HTTP 401)");
    } else if (resp->status == 403) {
        rc = plat_err_set(ERR_AUTH, "kobo: the token's account may not "
                          "read form %s (HTTP 403)", asset);
    } else if (resp->status == 404) {
        rc = plat_err_set(ERR_CONFIG, "kobo: form %s not found (HTTP 404): "
                          "check [kobo] assets", asset);
    } else if (resp->status >= 500) {
        rc = plat_err_set(ERR_RETRY, "kobo: %s of form %s: HTTP %ld", what,
                          asset, resp->status);
    } else if ((rc = sync_http_response_err(resp, what)) == PLAT_OK &&
               (rc = sync_http_check_json(resp, what)) == PLAT_OK) {
        *out = cJSON_ParseWithLength(resp->body.data ? resp->body.data : "",
                                     resp->body.len);
        if (!*out)
            rc = plat_err_set(ERR_INVALID, "kobo: %s of form %s: the answer "
                              "is not JSON", what, asset);
    }
    return rc;
}

/* GET `path` and parse the JSON answer. */
static int get_json(struct sync_ctx *ctx, const char *path,
                    const char *asset, const char *what, cJSON **out)
{
    struct sync_http_response resp;
    int rc;

    rc = sync_http_request(sync_ctx_http(ctx), "GET", path, NULL, NULL, 0,
                           NULL, &resp);
    rc = decode_json(rc, &resp, asset, what, out);
    sync_http_response_dispose(&resp);
    return rc;
}

/* The results of a data page `doc` (NULL and ERR_INVALID when it has
 * none), pruned to what the import reads when `prune` is given. */
static int page_results(cJSON **doc, const char *asset,
                        const struct kobo_form *prune,
                        cJSON **results_out, int64_t *count_out)
{
    cJSON *res = cJSON_GetObjectItemCaseSensitive(*doc, "results");
    cJSON *cnt = cJSON_GetObjectItemCaseSensitive(*doc, "count");

    if (!cJSON_IsArray(res)) {
        cJSON_Delete(*doc);
        *doc = NULL;
        return plat_err_set(ERR_INVALID, "kobo: data of form %s: no "
                            "results array", asset);
    }
    if (prune) {
        cJSON *sub;

        cJSON_ArrayForEach(sub, res)
            kobo_att_prune(prune->map, &prune->media, sub);
    }
    *results_out = res;
    *count_out = cJSON_IsNumber(cnt) ? (int64_t)cnt->valuedouble : -1;
    return PLAT_OK;
}

/* GET a data page; *results_out borrowed from *doc_out. */
static int get_page(struct sync_ctx *ctx, const char *asset, int64_t after,
                    const int64_t *ids, size_t n_ids, int limit, int fields,
                    const struct kobo_form *prune, cJSON **doc_out,
                    cJSON **results_out, int64_t *count_out)
{
    char *path = NULL;
    int rc;

    *results_out = NULL;
    *doc_out = NULL;
    rc = kobo_data_path(asset, after, ids, n_ids, limit, fields, &path);
    if (rc == PLAT_OK)
        rc = get_json(ctx, path, asset, "GET data", doc_out);
    plat_free(path);
    if (rc != PLAT_OK)
        return rc;
    return page_results(doc_out, asset, prune, results_out, count_out);
}

/* ---- the next page, fetched while this one is imported ------------------- */

/* One page fetched, parsed and pruned on a thread of its own while the
 * caller imports the previous one: the store work, the server's time and
 * the JSON parsing overlap (the parse was a tenth of the import's CPU on
 * the caller's thread). The HTTP client belongs to the thread from
 * prefetch_start until prefetch_take or prefetch_drop (the caller sends
 * nothing meanwhile and reports no progress). Without a thread the page is
 * fetched in prefetch_take. */
struct prefetch {
    pthread_t th;
    int active;                /* started, not yet taken                */
    int threaded;
    struct sync_ctx *ctx;
    const char *asset;
    const struct kobo_form *form;
    int64_t after;
    int limit;
    struct sync_http_response resp;  /* the raw answer, freed once
                                        parsed                          */
    cJSON *doc, *res;                /* the parsed, pruned page          */
    int64_t count;
    int rc;
    char msg[400];             /* the thread's error message            */
};

static void *prefetch_main(void *arg)
{
    struct prefetch *p = arg;
    char *path = NULL;

    p->rc = kobo_data_path(p->asset, p->after, NULL, 0, p->limit, 0, &path);
    if (p->rc == PLAT_OK)
        p->rc = sync_http_request(sync_ctx_http(p->ctx), "GET", path, NULL,
                                  NULL, 0, NULL, &p->resp);
    plat_free(path);
    p->rc = decode_json(p->rc, &p->resp, p->asset, "GET data", &p->doc);
    sync_http_response_dispose(&p->resp);
    if (p->rc == PLAT_OK)
        p->rc = page_results(&p->doc, p->asset, p->form, &p->res, &p->count);
    if (p->rc != PLAT_OK)
        snprintf(p->msg, sizeof(p->msg), "%s", plat_err_msg());
    return NULL;
}

static void prefetch_start(struct prefetch *p, struct sync_ctx *ctx,
                           const struct kobo_form *f, int64_t after,
                           int limit)
{
    memset(p, 0, sizeof(*p));
    p->ctx = ctx;
    p->asset = f->asset;
    p->form = f;
    p->after = after;
    p->limit = limit;
    p->active = 1;
    p->threaded = pthread_create(&p->th, NULL, prefetch_main, p) == 0;
}

/* The prefetched page (owned by the caller) or the fetch's error. */
static int prefetch_take(struct prefetch *p, cJSON **doc, cJSON **res,
                         int64_t *count)
{
    int rc;

    if (p->threaded)
        pthread_join(p->th, NULL);
    else
        prefetch_main(p);
    p->active = p->threaded = 0;
    *doc = p->doc;
    *res = p->res;
    *count = p->count;
    p->doc = p->res = NULL;
    rc = p->rc;
    if (rc != PLAT_OK)
        plat_err_set(rc, "%s", p->msg);
    return rc;
}

static void prefetch_drop(struct prefetch *p)
{
    if (p->active && p->threaded)
        pthread_join(p->th, NULL);
    if (p->active || p->threaded) {
        sync_http_response_dispose(&p->resp);
        cJSON_Delete(p->doc);
        p->doc = p->res = NULL;
    }
    p->active = p->threaded = 0;
}

/* ---- the rejected list --------------------------------------------------- */

static int rejected_load(struct kobo_state *st, struct sync_ctx *ctx)
{
    char *text = NULL;
    int rc = sync_state_get(ctx, "rejected", &text);

    cJSON_Delete(st->rejected);
    st->rejected = NULL;
    st->rej_dirty = 0;
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    if (rc != PLAT_OK)
        return rc;
    if (text)
        st->rejected = cJSON_Parse(text);
    plat_free(text);
    if (!cJSON_IsObject(st->rejected)) {
        cJSON_Delete(st->rejected);
        st->rejected = cJSON_CreateObject();
    }
    return st->rejected ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
}

static int rejected_save(struct kobo_state *st, struct sync_ctx *ctx)
{
    char *text;
    int rc;

    if (!st->rej_dirty)
        return PLAT_OK;
    text = cJSON_PrintUnformatted(st->rejected);
    if (!text)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = sync_state_set(ctx, "rejected", text);
    cJSON_free(text);
    if (rc == PLAT_OK)
        st->rej_dirty = 0;
    return rc;
}

static void rejected_drop(struct kobo_state *st, const char *key)
{
    if (cJSON_GetObjectItemCaseSensitive(st->rejected, key)) {
        cJSON_DeleteItemFromObjectCaseSensitive(st->rejected, key);
        st->rej_dirty = 1;
    }
}

static int rejected_note(struct kobo_state *st, const char *key,
                         const char *asset, int64_t id, const char *uuid,
                         const char *ref, const char *why, int edit)
{
    cJSON *e = cJSON_CreateObject();
    char now[40];

    plat_time_iso(plat_time_wall_ms(), now);
    if (!e || !cJSON_AddStringToObject(e, "asset", asset) ||
        !cJSON_AddNumberToObject(e, "id", (double)id) ||
        !cJSON_AddStringToObject(e, "uuid", uuid) ||
        !(ref ? cJSON_AddStringToObject(e, "referenceId", ref)
              : cJSON_AddNullToObject(e, "referenceId")) ||
        !cJSON_AddStringToObject(e, "kind", edit ? "edit" : "create") ||
        !cJSON_AddStringToObject(e, "reason", why) ||
        !cJSON_AddStringToObject(e, "at", now) ||
        !cJSON_AddFalseToObject(e, "retry")) {
        cJSON_Delete(e);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_DeleteItemFromObjectCaseSensitive(st->rejected, key);
    cJSON_AddItemToObject(st->rejected, key, e);
    st->rej_dirty = 1;
    return PLAT_OK;
}

/* ---- one submission ------------------------------------------------------ */

static int counter_add(struct sync_ctx *ctx, const char *asset,
                       const char *what, int64_t n)
{
    char name[128];
    int64_t v = 0;
    int rc;

    if (!n)
        return PLAT_OK;
    snprintf(name, sizeof(name), "%s.%s", asset, what);
    rc = sync_cursor_get_i64(ctx, name, 0, &v);
    if (rc == PLAT_OK)
        rc = sync_cursor_set_i64(ctx, name, v + n);
    return rc;
}

/* "<uuid> <imported fields as JSON>" */
static char *make_version(const char *uuid, const cJSON *fields)
{
    char *json = cJSON_PrintUnformatted(fields), *v;

    if (!json)
        return NULL;
    v = plat_asprintf("%s %s", uuid, json);
    cJSON_free(json);
    return v;
}

/* A new submission of a validation form (kobo-connect's /kobo-update-121)
 * naming registration `target`: its answers become an edit of that
 * registration (base: the local view) and, unless skipvalidation, a status
 * change to validated, queued together in the open batch. */
static int import_validation(struct kobo_state *st, struct sync_ctx *ctx,
                             struct kobo_form *f, const cJSON *program,
                             const cJSON *sub, const char *key, int64_t id,
                             const char *uuid, const char *target,
                             int skip_validation, struct kobo_counts *c)
{
    char why[KOBO_WHY_MAX], *ver = NULL;
    cJSON *fields = NULL, *local = NULL;
    const cJSON *status;
    int rc, changed = 0;

    if (!target[0]) {
        c->rejected++;
        return rejected_note(st, key, f->asset, id, uuid, NULL,
                             "attribute referenceId: the referenceId "
                             "question is not answered", 0);
    }
    rc = kobo_map_submission(f->map, sub, program, NULL, &fields, NULL, why,
                             sizeof(why));
    if (rc == KOBO_SKIP) {
        c->skipped++;
        rejected_drop(st, key);
        return PLAT_OK;
    }
    if (rc == ERR_INVALID) {
        c->rejected++;
        return rejected_note(st, key, f->asset, id, uuid, NULL, why, 1);
    }
    if (rc != PLAT_OK)
        return plat_err_set(rc, "kobo: %s", why);
    rc = sync_get_local(ctx, target, &local);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        c->rejected++;
        rc = rejected_note(st, key, f->asset, id, uuid, NULL,
                           "attribute referenceId: no registration with "
                           "the answered referenceId", 1);
        goto out;
    }
    if (rc != PLAT_OK)
        goto out;
    if (fields->child) {
        rc = sync_queue_edit(ctx, KOBO_TARGET, target, fields, NULL,
                             "Validated during field validation", &changed);
        if (rc == ERR_INVALID) {
            snprintf(why, sizeof(why), "%s", plat_err_msg());
            plat_err_clear();
            c->rejected++;
            rc = rejected_note(st, key, f->asset, id, uuid, target, why, 1);
            goto out;
        }
        if (rc != PLAT_OK)
            goto out;
    }
    status = cJSON_GetObjectItemCaseSensitive(local, "status");
    if (!skip_validation &&
        !(cJSON_IsString(status) &&
          strcmp(status->valuestring, "validated") == 0)) {
        rc = sync_queue_status(ctx, KOBO_TARGET, target, "validated", NULL);
        if (rc == ERR_INVALID) {       /* already validated */
            plat_err_clear();
            rc = PLAT_OK;
        }
        if (rc != PLAT_OK)
            goto out;
    }
    if (!(ver = make_version(uuid, fields))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = sync_remote_id_put(ctx, "submission", key, target, ver);
    if (rc == PLAT_OK) {
        c->validated++;
        rejected_drop(st, key);
    }
    if (rc == PLAT_OK && f->media.n && st->att.on)
        rc = kobo_att_record(ctx, &f->media, key, target, sub, NULL);
out:
    plat_free(ver);
    cJSON_Delete(fields);
    cJSON_Delete(local);
    return rc;
}

/* Import submission `sub` of form `f` inside the open batch: new -> a
 * create; known with another _uuid -> an edit of the changed fields;
 * a mapping failure -> the rejected list. */
static int import_one(struct kobo_state *st, struct sync_ctx *ctx,
                      struct kobo_form *f, const cJSON *program,
                      const cJSON *sub, int is_new, struct kobo_counts *c)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(sub, "_uuid");
    const char *uuid = cJSON_IsString(u) ? u->valuestring : "";
    char key[96], refbuf[256], why[KOBO_WHY_MAX];
    char *ref = NULL, *ver = NULL, *newver = NULL;
    const char *att_ref = NULL;
    cJSON *fields = NULL, *old = NULL, *changes = NULL, *base = NULL;
    int64_t id;
    int rc, pid = 0, created = 0, changed = 0, skip_validation = 0;
    size_t ul;

    if (kobo_submission_id(sub, &id) != PLAT_OK)
        return plat_err_set(ERR_INVALID, "kobo: a submission of form %s has "
                            "no usable _id", f->asset);
    snprintf(key, sizeof(key), "%s:%" PRId64, f->asset, id);
    /* above the cursor: never imported (the cursor commits with the
     * records), so no lookup */
    rc = is_new ? ERR_NOTFOUND
                : sync_remote_id_get(ctx, "submission", key, &ref, &ver);
    if (rc != PLAT_OK && rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    ul = strlen(uuid);
    if (rc == PLAT_OK && ver && ul && strncmp(ver, uuid, ul) == 0 &&
        ver[ul] == ' ' && !st->remap) {
        rc = PLAT_OK;           /* seen as it is */
        goto out;
    }
    if (!ref && kobo_validation_ref(f->map, sub, refbuf, sizeof(refbuf),
                                    &skip_validation)) {
        rc = import_validation(st, ctx, f, program, sub, key, id, uuid,
                               refbuf, skip_validation, c);
        goto out;
    }
    rc = kobo_map_submission(f->map, sub, program, st->fsp, &fields, &pid,
                             why, sizeof(why));
    if (rc == PLAT_OK && pid > 0 && pid != f->program_id) {
        /* the submission names its own program: check against that one */
        cJSON *other = NULL;

        cJSON_Delete(fields);
        fields = NULL;
        if (sync_get_program(ctx, pid, &other, NULL) != PLAT_OK) {
            plat_err_clear();
            snprintf(why, sizeof(why), "attribute programId: program %d "
                     "is not in the store (sync 121 with program_id = %d "
                     "first)", pid, pid);
            rc = ERR_INVALID;
        } else {
            rc = kobo_map_submission(f->map, sub, other, st->fsp, &fields,
                                     &pid, why, sizeof(why));
        }
        cJSON_Delete(other);
    }
    if (rc == KOBO_SKIP) {
        c->skipped++;
        rejected_drop(st, key);
        rc = PLAT_OK;
        goto out;
    }
    if (rc == ERR_INVALID) {
        c->rejected++;
        rc = rejected_note(st, key, f->asset, id, uuid, ref, why, ref != NULL);
        goto out;
    }
    if (rc != PLAT_OK) {
        rc = plat_err_set(rc, "kobo: %s", why);
        goto out;
    }
    if (!ref) {                 /* new submission: a create */
        if (kobo_reference_id(sub, f->asset, refbuf, sizeof(refbuf)) !=
            PLAT_OK) {
            c->rejected++;
            rc = rejected_note(st, key, f->asset, id, uuid, NULL,
                               "no meta/rootUuid and no usable _id", 0);
            goto out;
        }
        if (pid <= 0)
            pid = f->program_id;
        if (pid <= 0) {
            c->rejected++;
            rc = rejected_note(st, key, f->asset, id, uuid, NULL,
                               "no 121 program: set [kobo] program_id or "
                               "map a programId question", 0);
            goto out;
        }
        rc = sync_queue_create(ctx, KOBO_TARGET, pid, fields, refbuf, NULL,
                               &created);
        if (rc == ERR_INVALID) {
            snprintf(why, sizeof(why), "%s", plat_err_msg());
            plat_err_clear();
            c->rejected++;
            rc = rejected_note(st, key, f->asset, id, uuid, NULL, why, 0);
            goto out;
        }
        if (rc != PLAT_OK)
            goto out;
        newver = make_version(uuid, fields);
        if (!newver) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto out;
        }
        rc = sync_remote_id_put(ctx, "submission", key, refbuf, newver);
        if (rc == PLAT_OK) {
            c->imported++;
            rejected_drop(st, key);
            att_ref = refbuf;
        }
        goto out;
    }
    /* known submission with a new _uuid: an edit */
    if (ver && strchr(ver, ' '))
        old = cJSON_Parse(strchr(ver, ' ') + 1);
    rc = kobo_diff(old, fields, &changes, &base);
    if (rc == PLAT_OK && changes) {
        rc = sync_queue_edit(ctx, KOBO_TARGET, ref, changes, base,
                             "Kobo submission edited", &changed);
        if (rc == ERR_INVALID || rc == ERR_NOTFOUND) {
            snprintf(why, sizeof(why), "%s", plat_err_msg());
            plat_err_clear();
            c->rejected++;
            rc = rejected_note(st, key, f->asset, id, uuid, ref, why, 1);
            goto out;
        }
    }
    if (rc != PLAT_OK)
        goto out;
    newver = make_version(uuid, fields);
    if (!newver) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = sync_remote_id_put(ctx, "submission", key, ref, newver);
    if (rc == PLAT_OK) {
        c->edits += changed > 0;
        rejected_drop(st, key);
        att_ref = ref;
    }
out:
    /* the files of its media answers, noted for the attachments stream */
    if (rc == PLAT_OK && att_ref && f->media.n && st->att.on)
        rc = kobo_att_record(ctx, &f->media, key, att_ref, sub, NULL);
    cJSON_Delete(fields);
    cJSON_Delete(old);
    cJSON_Delete(changes);
    cJSON_Delete(base);
    plat_free(ref);
    plat_free(ver);
    plat_free(newver);
    return rc;
}

/* Commit the open batch with the counters (and `last_id` when > 0). */
static int commit(struct kobo_state *st, struct sync_ctx *ctx,
                  const struct kobo_form *f, int64_t last_id,
                  struct kobo_counts *c)
{
    char name[128];
    int rc = PLAT_OK;

    if (last_id > 0) {
        snprintf(name, sizeof(name), "%s.last_id", f->asset);
        rc = sync_cursor_set_i64(ctx, name, last_id);
    }
    if (rc == PLAT_OK)
        rc = counter_add(ctx, f->asset, "imported", c->imported);
    if (rc == PLAT_OK)
        rc = counter_add(ctx, f->asset, "edits", c->edits);
    if (rc == PLAT_OK)
        rc = counter_add(ctx, f->asset, "skipped", c->skipped);
    if (rc == PLAT_OK)
        rc = counter_add(ctx, f->asset, "validated", c->validated);
    if (rc == PLAT_OK)
        rc = rejected_save(st, ctx);
    rc = sync_batch_end(ctx, rc);
    if (rc == PLAT_OK) {
        sync_ctx_count(ctx, SYNC_COUNT_PULLED,
                       c->imported + c->edits + c->validated);
        sync_ctx_count(ctx, SYNC_COUNT_REJECTED, c->rejected);
    }
    memset(c, 0, sizeof(*c));
    return rc;
}

/* Re-read submissions `ids` of form `f` and import them (one batch). */
static int reread(struct kobo_state *st, struct sync_ctx *ctx,
                  struct kobo_form *f, const cJSON *program,
                  const int64_t *ids, size_t n)
{
    struct kobo_counts c = {0, 0, 0, 0, 0};
    cJSON *doc = NULL, *res, *sub;
    int64_t count;
    int rc;

    if (!n)
        return PLAT_OK;
    rc = get_page(ctx, f->asset, 0, ids, n, (int)n, 0, f, &doc, &res,
                  &count);
    if (rc != PLAT_OK)
        return rc;
    if ((rc = sync_batch_begin(ctx)) != PLAT_OK) {
        cJSON_Delete(doc);
        return rc;
    }
    cJSON_ArrayForEach(sub, res) {
        if ((rc = import_one(st, ctx, f, program, sub, 0, &c)) != PLAT_OK)
            break;
    }
    cJSON_Delete(doc);
    if (rc != PLAT_OK) {
        sync_batch_end(ctx, rc);
        return rc;
    }
    return commit(st, ctx, f, 0, &c);
}

static cJSON *load_program(struct sync_ctx *ctx, int pid)
{
    cJSON *p = NULL;

    if (pid > 0 && sync_get_program(ctx, pid, &p, NULL) != PLAT_OK) {
        plat_err_clear();
        p = NULL;
    }
    return p;
}

/* ---- streams ------------------------------------------------------------- */

static int pull_form(struct sync_ctx *ctx, struct kobo_form *f)
{
    char path[160], name[128], *text;
    cJSON *doc = NULL, *keep;
    const char *keys[] = {"uid", "name", "version_id", "deployed_version_id",
                          "date_modified", "content", NULL};
    int rc;

    snprintf(path, sizeof(path), "/api/v2/assets/%s/?format=json", f->asset);
    rc = get_json(ctx, path, f->asset, "GET form", &doc);
    if (rc != PLAT_OK)
        return rc;
    keep = cJSON_CreateObject();
    for (size_t i = 0; keep && keys[i]; i++) {
        cJSON *it = cJSON_GetObjectItemCaseSensitive(doc, keys[i]);

        if (it)
            cJSON_AddItemToObject(keep, keys[i], cJSON_Duplicate(it, 1));
    }
    cJSON_Delete(doc);
    text = keep ? cJSON_PrintUnformatted(keep) : NULL;
    cJSON_Delete(keep);
    if (!text)
        return plat_err_set(ERR_NOMEM, "out of memory");
    snprintf(name, sizeof(name), "form.%s", f->asset);
    rc = sync_state_set(ctx, name, text);
    cJSON_free(text);
    return rc;
}

/* Entries of the rejected list of form `f` marked for retry, re-read. */
static int pull_retries(struct kobo_state *st, struct sync_ctx *ctx,
                        struct kobo_form *f, const cJSON *program)
{
    int64_t ids[KOBO_IN_CHUNK];
    size_t n = 0;
    cJSON *e;
    int rc = PLAT_OK;

    cJSON_ArrayForEach(e, st->rejected) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "asset");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");

        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "retry")) ||
            !cJSON_IsString(a) || strcmp(a->valuestring, f->asset) != 0 ||
            !cJSON_IsNumber(id))
            continue;
        ids[n++] = (int64_t)id->valuedouble;
        if (n == KOBO_IN_CHUNK)
            break;
    }
    if (!n)
        return PLAT_OK;
    /* unmark those re-read now (one that still fails is noted again,
     * unmarked; the rest of the marked ones come in the next cycle) */
    cJSON_ArrayForEach(e, st->rejected) {
        cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "retry");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(e, "asset");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        size_t i;

        if (!cJSON_IsTrue(r) || !cJSON_IsString(a) || !cJSON_IsNumber(id) ||
            strcmp(a->valuestring, f->asset) != 0)
            continue;
        for (i = 0; i < n && ids[i] != (int64_t)id->valuedouble; i++)
            ;
        if (i < n) {
            cJSON_ReplaceItemViaPointer(e, r, cJSON_CreateFalse());
            st->rej_dirty = 1;
        }
    }
    rc = reread(st, ctx, f, program, ids, n);
    return rc;
}

static int pull_submissions(struct kobo_state *st, struct sync_ctx *ctx,
                            struct kobo_form *f)
{
    struct kobo_counts c = {0, 0, 0, 0, 0};
    struct prefetch pf;
    cJSON *program = load_program(ctx, f->program_id), *doc = NULL, *res;
    cJSON *sub;
    char name[128];
    int64_t last = 0, count = -1, total = -1, done = 0, id;
    int rc, old_cache = 0;

    memset(&pf, 0, sizeof(pf));

    if (!program) {
        /* without the program no answer can be checked (dropdown options,
         * numbers, required attributes): 121 would refuse the creates
         * later, out of reach of `agent kobo retry` */
        rc = plat_err_set(ERR_RETRY, "kobo: 121 program %d of form %s is not "
                          "in the store yet: sync 121 first", f->program_id,
                          f->asset);
        goto out;
    }
    snprintf(name, sizeof(name), "%s.last_id", f->asset);
    rc = sync_cursor_get_i64(ctx, name, 0, &last);
    if (rc != PLAT_OK)
        goto out;
    f->fresh = last == 0;
    if ((rc = pull_retries(st, ctx, f, program)) != PLAT_OK)
        goto out;
    rc = get_page(ctx, f->asset, last, NULL, 0, st->page, 0, f, &doc,
                  &res, &count);
    while (rc == PLAT_OK && res->child) {
        cJSON *tail = cJSON_GetArrayItem(res, cJSON_GetArraySize(res) - 1);
        int64_t page_last = 0;
        int n = 0, more;

        if (total < 0)
            total = count;
        kobo_submission_id(tail, &page_last);
        more = !(count >= 0 && cJSON_GetArraySize(res) >= count) &&
               page_last > last;
        if (more && !old_cache &&
            sync_store_cache_kib(ctx, KOBO_BULK_CACHE_KIB, &old_cache) !=
                PLAT_OK) {
            plat_err_clear();   /* only a hint */
            old_cache = 0;
        }
        if (more)
            prefetch_start(&pf, ctx, f, page_last, st->page);
        if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
            break;
        cJSON_ArrayForEach(sub, res) {
            if (kobo_submission_id(sub, &id) != PLAT_OK) {
                rc = plat_err_set(ERR_INVALID, "kobo: a submission of form "
                                  "%s has no usable _id", f->asset);
                break;
            }
            if (id <= last) {   /* the server ignored the query */
                rc = plat_err_set(ERR_INVALID, "kobo: data of form %s is "
                                  "not in _id order after the cursor",
                                  f->asset);
                break;
            }
            if ((rc = import_one(st, ctx, f, program, sub, 1, &c)) !=
                PLAT_OK)
                break;
            last = id;
            n++;
        }
        cJSON_Delete(doc);
        doc = NULL;
        if (rc != PLAT_OK) {
            sync_batch_end(ctx, rc);
            break;
        }
        if ((rc = commit(st, ctx, f, last, &c)) != PLAT_OK)
            break;
        done += n;
        if (!more)
            break;              /* that page held every remaining one */
        rc = prefetch_take(&pf, &doc, &res, &count);
        sync_ctx_progress(ctx, done, total > 0 ? total : 0);
        if (rc == PLAT_OK && sync_ctx_cancelled(ctx))
            rc = ERR_RETRY;
    }
    prefetch_drop(&pf);
    if (rc == PLAT_OK) {
        char now[40];

        plat_time_iso(plat_time_wall_ms(), now);
        snprintf(name, sizeof(name), "%s.last_sync", f->asset);
        rc = sync_state_set(ctx, name, now);
    }
out:
    if (old_cache > 0)
        sync_store_cache_kib(ctx, old_cache, NULL);
    cJSON_Delete(doc);
    cJSON_Delete(program);
    return rc;
}

/* ---- deleted submissions ----------------------------------------------- */

struct seen_ids {
    int64_t *v;
    size_t n, cap;
};

static int seen_add(struct seen_ids *s, int64_t id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        int64_t *v = plat_realloc(s->v, cap * sizeof(*v));

        if (!v)
            return plat_err_set(ERR_NOMEM, "out of memory");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = id;          /* the scan is sorted by _id */
    return PLAT_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static int seen_has(const struct seen_ids *s, int64_t id)
{
    return s->n && bsearch(&id, s->v, s->n, sizeof(*s->v), cmp_i64) != NULL;
}

struct gone_walk {
    const char *asset;
    size_t alen;
    int64_t upto;
    const struct seen_ids *seen;
    const cJSON *known;         /* state "deleted": already reported */
    cJSON *found;               /* array of [key, ref] */
};

static int gone_cb(const char *remote_id, const char *ref,
                   const char *version, void *payload)
{
    struct gone_walk *w = payload;
    cJSON *pair;
    char *end;
    long long id;

    (void)version;
    if (strncmp(remote_id, w->asset, w->alen) != 0 ||
        remote_id[w->alen] != ':')
        return 0;
    id = strtoll(remote_id + w->alen + 1, &end, 10);
    if (*end || id <= 0 || id > w->upto || seen_has(w->seen, id) ||
        cJSON_GetObjectItemCaseSensitive(w->known, remote_id))
        return 0;
    pair = cJSON_CreateArray();
    if (!pair || !cJSON_AddItemToArray(w->found, pair) ||
        !cJSON_AddItemToArray(pair, cJSON_CreateString(remote_id)) ||
        !cJSON_AddItemToArray(pair, cJSON_CreateString(ref ? ref : "")))
        return ERR_NOMEM;
    return 0;
}

/* After a complete scan of form `f` up to `upto` (the _ids it showed in
 * `seen`): imported submissions it no longer shows were deleted from the
 * form. They are added to state "deleted" (key "<asset>:<_id>" ->
 * {asset, id, referenceId, at}) and logged once by referenceId; the 121
 * registration is left as it is. Rejected ones that are gone leave the
 * rejected list. */
static int note_deleted(struct kobo_state *st, struct sync_ctx *ctx,
                        const struct kobo_form *f, int64_t upto,
                        const struct seen_ids *seen)
{
    struct gone_walk w = {f->asset, strlen(f->asset), upto, seen, NULL,
                          NULL};
    char *text = NULL, now[40];
    cJSON *known = NULL, *pair, *e, *next;
    int64_t gone = 0;
    int rc = sync_state_get(ctx, "deleted", &text);

    if (rc != PLAT_OK && rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    known = text ? cJSON_Parse(text) : NULL;
    plat_free(text);
    text = NULL;
    if (!cJSON_IsObject(known)) {
        cJSON_Delete(known);
        known = cJSON_CreateObject();
    }
    w.known = known;
    w.found = cJSON_CreateArray();
    if (!known || !w.found) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = sync_remote_ids_list(ctx, "submission", gone_cb, &w);
    if (rc == ERR_NOMEM)
        plat_err_set(ERR_NOMEM, "out of memory");
    if (rc != PLAT_OK)
        goto out;
    plat_time_iso(plat_time_wall_ms(), now);
    cJSON_ArrayForEach(pair, w.found) {
        const char *key = cJSON_GetArrayItem(pair, 0)->valuestring;
        const char *ref = cJSON_GetArrayItem(pair, 1)->valuestring;
        cJSON *d = cJSON_CreateObject();

        if (!d || !cJSON_AddStringToObject(d, "asset", f->asset) ||
            !cJSON_AddNumberToObject(d, "id", strtod(
                key + strlen(f->asset) + 1, NULL)) ||
            !cJSON_AddStringToObject(d, "referenceId", ref) ||
            !cJSON_AddStringToObject(d, "at", now) ||
            !cJSON_AddItemToObject(known, key, d)) {
            cJSON_Delete(d);
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto out;
        }
        log_info("kobo: submission %s (referenceId %s) was deleted from "
                 "the form; its 121 registration is kept", key, ref);
        gone++;
    }
    /* a rejected submission that is gone needs no fixing any more */
    for (e = st->rejected ? st->rejected->child : NULL; e; e = next) {
        const char *a = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(e, "asset"));
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");

        next = e->next;
        if (a && strcmp(a, f->asset) == 0 && cJSON_IsNumber(id) &&
            (int64_t)id->valuedouble <= upto &&
            !seen_has(seen, (int64_t)id->valuedouble)) {
            log_info("kobo: rejected submission %s was deleted from the "
                     "form", e->string);
            cJSON_Delete(cJSON_DetachItemViaPointer(st->rejected, e));
            st->rej_dirty = 1;
        }
    }
    if (gone) {
        text = cJSON_PrintUnformatted(known);
        if (!text) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto out;
        }
        rc = sync_state_set(ctx, "deleted", text);
    }
    if (rc == PLAT_OK)
        rc = rejected_save(st, ctx);
    if (rc == PLAT_OK)
        sync_ctx_count(ctx, SYNC_COUNT_GONE, gone);
out:
    cJSON_free(text);
    cJSON_Delete(known);
    cJSON_Delete(w.found);
    return rc;
}

/* The cheap scan: every submission up to the cursor whose _uuid differs
 * from the one imported (or from a rejected one's) is re-read. */
static int pull_edits(struct kobo_state *st, struct sync_ctx *ctx,
                      struct kobo_form *f)
{
    cJSON *program = NULL, *doc = NULL, *res, *row;
    int64_t upto = 0, after = 0, count, id, changed[KOBO_IN_CHUNK];
    char name[128], key[96];
    struct seen_ids seen = {NULL, 0, 0};
    size_t n_changed = 0;
    int rc, end = 0;

    if (f->fresh)
        return PLAT_OK;     /* imported from the start in this cycle */
    snprintf(name, sizeof(name), "%s.last_id", f->asset);
    if ((rc = sync_cursor_get_i64(ctx, name, 0, &upto)) != PLAT_OK ||
        upto == 0)
        return rc;
    program = load_program(ctx, f->program_id);
    while (!end && rc == PLAT_OK) {
        int n = 0;

        if (sync_ctx_cancelled(ctx)) {
            rc = ERR_RETRY;
            break;
        }
        rc = get_page(ctx, f->asset, after, NULL, 0, st->page, 1, NULL, &doc,
                      &res, &count);
        if (rc != PLAT_OK)
            break;
        if (!res->child)
            end = 1;
        cJSON_ArrayForEach(row, res) {
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(row, "_uuid");
            char *ver = NULL;
            size_t ul;
            int differs = 0;

            if (kobo_submission_id(row, &id) != PLAT_OK || id <= after) {
                rc = plat_err_set(ERR_INVALID, "kobo: scan of form %s: "
                                  "bad or unordered _id", f->asset);
                break;
            }
            after = id;
            n++;
            if (id > upto) {
                end = 1;
                break;
            }
            if (st->report_deleted && (rc = seen_add(&seen, id)) != PLAT_OK)
                break;
            if (!cJSON_IsString(u))
                continue;
            ul = strlen(u->valuestring);
            snprintf(key, sizeof(key), "%s:%" PRId64, f->asset, id);
            rc = sync_remote_id_get(ctx, "submission", key, NULL, &ver);
            if (rc == PLAT_OK) {
                differs = !ver || strncmp(ver, u->valuestring, ul) != 0 ||
                          ver[ul] != ' ';
            } else if (rc == ERR_NOTFOUND) {
                const cJSON *e = cJSON_GetObjectItemCaseSensitive(
                    st->rejected, key);
                const cJSON *eu = cJSON_GetObjectItemCaseSensitive(e, "uuid");

                plat_err_clear();
                differs = cJSON_IsString(eu) &&
                          strcmp(eu->valuestring, u->valuestring) != 0;
            } else {
                break;
            }
            rc = PLAT_OK;
            plat_free(ver);
            if (differs) {
                changed[n_changed++] = id;
                if (n_changed == KOBO_IN_CHUNK) {
                    rc = reread(st, ctx, f, program, changed, n_changed);
                    n_changed = 0;
                    if (rc != PLAT_OK)
                        break;
                }
            }
        }
        cJSON_Delete(doc);
        doc = NULL;
        if (count >= 0 && n >= count)
            end = 1;
    }
    cJSON_Delete(doc);
    if (rc == PLAT_OK)
        rc = reread(st, ctx, f, program, changed, n_changed);
    /* only a complete scan (rc OK: it reached the cursor or the end) can
     * say a submission is gone */
    if (rc == PLAT_OK && st->report_deleted)
        rc = note_deleted(st, ctx, f, upto, &seen);
    plat_free(seen.v);
    cJSON_Delete(program);
    return rc;
}

/* Late attachments: submissions with a media answer whose file they did
 * not list are re-read (and mapped again: the attribute gets the file's
 * URL); then every pending file is downloaded. */
static int pull_attachments(struct kobo_state *st, struct sync_ctx *ctx,
                            struct kobo_form *f)
{
    int64_t ids[KOBO_IN_CHUNK], stored = 0;
    cJSON *program = NULL;
    size_t n = 0;
    int rc;

    if (!f->media.n)
        return PLAT_OK;
    rc = kobo_att_missing_ids(ctx, f->asset, ids, KOBO_IN_CHUNK, &n);
    if (rc == PLAT_OK && n) {
        program = load_program(ctx, f->program_id);
        st->remap = 1;
        rc = reread(st, ctx, f, program, ids, n);
        st->remap = 0;
        cJSON_Delete(program);
    }
    if (rc == PLAT_OK)
        rc = kobo_att_download(ctx, &st->att, f->asset, &stored);
    if (stored)
        sync_ctx_count(ctx, SYNC_COUNT_PULLED, stored);
    return rc;
}

static int kobo_pull(void *state, struct sync_ctx *ctx, const char *stream)
{
    struct kobo_state *st = state;
    int rc = rejected_load(st, ctx);

    for (size_t i = 0; rc == PLAT_OK && i < st->n_forms; i++) {
        struct kobo_form *f = &st->forms[i];

        if (strcmp(stream, "form") != 0) {
            kobo_media_free(&f->media);
            rc = kobo_media_load(ctx, f->asset, &f->media);
            if (rc != PLAT_OK)
                break;
        }
        if (strcmp(stream, "form") == 0)
            rc = pull_form(ctx, f);
        else if (strcmp(stream, "submissions") == 0)
            rc = pull_submissions(st, ctx, f);
        else if (strcmp(stream, "edits") == 0 && st->edits_on)
            rc = pull_edits(st, ctx, f);
        else if (strcmp(stream, "attachments") == 0 && st->att.on)
            rc = pull_attachments(st, ctx, f);
    }
    /* the rejected list of a failed batch is read again next time */
    return rc;
}

/* The creates and edits go to 121; only jobs go to Kobo (kind "media":
 * `agent kobo validation-csv --upload`, kobo_media.c). */
static int kobo_push(void *state, struct sync_ctx *ctx, const char *kind)
{
    (void)state;
    if (strcmp(kind, "media") == 0)
        return kobo_push_media(ctx);
    return PLAT_OK;
}

static int kobo_probe_url(const struct sync_source_conf *sc, char *out,
                          size_t n)
{
    const char *url = sync_source_conf_get(sc, "url");
    size_t len;

    if (!url || !*url)
        return plat_err_set(ERR_CONFIG, "[kobo] url is not set");
    len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    if ((size_t)snprintf(out, n, "%.*s/api/v2/assets/?format=json&limit=1",
                         (int)len, url) >= n)
        return plat_err_set(ERR_CONFIG, "[kobo] url is too long");
    return PLAT_OK;
}

static const char *const kobo_streams[] = {"form", "submissions", "edits",
                                           "attachments", NULL};
static const char *const kobo_kinds[] = {"media", NULL};

const struct sync_connector sync_connector_kobo = {
    .name = "kobo",
    .description = "KoboToolbox form submissions -> 121 registrations",
    .config = kobo_conf,
    .streams = kobo_streams,
    .push_kinds = kobo_kinds,
    .cb_init = kobo_init,
    .cb_auth = NULL,
    .cb_pull = kobo_pull,
    .cb_confirm = NULL,
    .cb_push = kobo_push,
    .cb_exit = kobo_exit,
    .same_value = NULL,
    .probe_url = kobo_probe_url,
};
