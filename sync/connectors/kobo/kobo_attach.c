/*
 * kobo_attach.c - attachments of Kobo submissions: noted at import,
 * downloaded with the token (redirects only where allowed), size-capped,
 * kept in the store. See kobo_attach.h.
 */
#include "kobo_attach.h"
#include "kobo_map.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "sync_ctx.h"
#include "sync_engine.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ATT_HOPS 5                /* redirects followed per file */
#define ATT_ORIGIN_MAX 300

/* ---- config ------------------------------------------------------------ */

int kobo_att_conf_load(struct sync_ctx *ctx, struct kobo_att_conf *c)
{
    const char *on = sync_ctx_conf(ctx, "attachments");
    const char *max = sync_ctx_conf(ctx, "attachment_max_bytes");
    const char *hosts = sync_ctx_conf(ctx, "attachment_hosts");
    const char *url = sync_ctx_conf(ctx, "url");

    memset(c, 0, sizeof(*c));
    c->on = !on || strcmp(on, "false") != 0;
    c->max_bytes = KOBO_ATT_MAX_DEFAULT;
    if (max && *max) {
        char *end = NULL;
        unsigned long long v = strtoull(max, &end, 10);

        if (*end || v == 0 || v > ((unsigned long long)1 << 31))
            return plat_err_set(ERR_CONFIG, "[kobo] attachment_max_bytes "
                                "must be 1 to 2147483648");
        c->max_bytes = (size_t)v;
    }
    if ((hosts && *hosts && !(c->hosts = plat_strdup(hosts))) ||
        (url && !(c->base_url = plat_strdup(url)))) {
        kobo_att_conf_free(c);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    return PLAT_OK;
}

void kobo_att_conf_free(struct kobo_att_conf *c)
{
    plat_free(c->hosts);
    plat_free(c->base_url);
    memset(c, 0, sizeof(*c));
}

/* ---- the form's media questions ---------------------------------------- */

static int is_media_type(const char *t)
{
    static const char *const media[] = {"image", "audio", "video", "file",
                                        "background-audio",
                                        "background-video", NULL};

    for (size_t i = 0; media[i]; i++)
        if (strcmp(t, media[i]) == 0)
            return 1;
    return 0;
}

void kobo_media_free(struct kobo_media *m)
{
    for (size_t i = 0; i < m->n; i++)
        plat_free(m->keys[i]);
    plat_free(m->keys);
    m->keys = NULL;
    m->n = 0;
}

int kobo_media_load(struct sync_ctx *ctx, const char *asset,
                    struct kobo_media *out)
{
    char name[128], *text = NULL, k[256];
    cJSON *form, *row;
    const cJSON *survey;
    int rc;

    memset(out, 0, sizeof(*out));
    snprintf(name, sizeof(name), "form.%s", asset);
    rc = sync_state_get(ctx, name, &text);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc != PLAT_OK)
        return rc;
    form = cJSON_Parse(text);
    plat_free(text);
    survey = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(form, "content"), "survey");
    cJSON_ArrayForEach(row, survey) {
        const char *t = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(row, "type"));
        const char *q = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(row, "name"));
        char **grown;

        if (!t || !q || !is_media_type(t))
            continue;
        kobo_clean_key(q, k, sizeof(k));
        grown = plat_realloc(out->keys, (out->n + 1) * sizeof(*grown));
        if (!grown || !(grown[out->n] = plat_strdup(k))) {
            if (grown)
                out->keys = grown;
            cJSON_Delete(form);
            kobo_media_free(out);
            return plat_err_set(ERR_NOMEM, "out of memory");
        }
        out->keys = grown;
        out->n++;
    }
    cJSON_Delete(form);
    return PLAT_OK;
}

static int media_key(const struct kobo_media *m, const char *data_key)
{
    char k[256];

    if (!m->n || !data_key)
        return 0;
    kobo_clean_key(data_key, k, sizeof(k));
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], k) == 0)
            return 1;
    return 0;
}

void kobo_att_prune(const struct kobo_mapping *map,
                    const struct kobo_media *media, cJSON *sub)
{
    cJSON *kept = NULL, *it, *next;

    if (media && media->n) {
        for (it = sub ? sub->child : NULL; it; it = next) {
            next = it->next;
            if (cJSON_IsString(it) && media_key(media, it->string)) {
                if (!kept && !(kept = cJSON_CreateObject()))
                    break;      /* out of memory: pruned as usual */
                cJSON_AddItemToObject(kept, it->string,
                                      cJSON_DetachItemViaPointer(sub, it));
            }
        }
    }
    kobo_prune(map, sub);
    while (kept && kept->child) {
        it = kept->child;
        cJSON_AddItemToObject(sub, it->string,
                              cJSON_DetachItemViaPointer(kept, it));
    }
    cJSON_Delete(kept);
}

/* ---- noting attachments at import --------------------------------------- */

/* kobo-connect's file name match: spaces become '_', ( ) , ' dropped. */
static void normalise_name(const char *in, char *out, size_t n)
{
    size_t o = 0;

    for (; *in && o + 1 < n; in++) {
        if (strchr("(),'", *in))
            continue;
        out[o++] = *in == ' ' ? '_' : *in;
    }
    out[o] = '\0';
}

static const cJSON *find_attachment(const cJSON *sub, const char *full_key,
                                    const char *value)
{
    const cJSON *atts = cJSON_GetObjectItemCaseSensitive(sub, "_attachments");
    const cJSON *a;
    char want[512], have[512];

    normalise_name(value, want, sizeof(want));
    cJSON_ArrayForEach(a, atts) {
        const char *x = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(a, "question_xpath"));
        const char *f = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(a, "filename"));
        const char *base;

        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "is_deleted")))
            continue;
        if (x && strcmp(x, full_key) == 0)
            return a;
        if (f) {
            base = strrchr(f, '/');
            base = base ? base + 1 : f;
            normalise_name(base, have, sizeof(have));
            if (strcmp(base, value) == 0 || strcmp(have, want) == 0)
                return a;
        }
    }
    return NULL;
}

int kobo_att_record(struct sync_ctx *ctx, const struct kobo_media *media,
                    const char *key, const char *ref, const cJSON *sub,
                    int *missing_out)
{
    const cJSON *it;
    int rc = PLAT_OK, missing = 0;

    if (missing_out)
        *missing_out = 0;
    if (!media || !media->n)
        return PLAT_OK;
    cJSON_ArrayForEach(it, sub) {
        struct sync_att a;
        const cJSON *att, *uid, *id;
        char idbuf[32];

        if (!cJSON_IsString(it) || !it->valuestring[0] ||
            !media_key(media, it->string))
            continue;
        memset(&a, 0, sizeof(a));
        a.remote_id = key;
        a.question = it->string;
        a.ref = ref;
        a.name = it->valuestring;
        a.uid = "";
        a.state = "missing";
        a.size = -1;
        att = find_attachment(sub, it->string, it->valuestring);
        if (att) {
            uid = cJSON_GetObjectItemCaseSensitive(att, "uid");
            id = cJSON_GetObjectItemCaseSensitive(att, "id");
            if (cJSON_IsString(uid) && uid->valuestring[0]) {
                a.uid = uid->valuestring;
            } else if (cJSON_IsNumber(id) && id->valuedouble >= 1) {
                snprintf(idbuf, sizeof(idbuf), "%.0f", id->valuedouble);
                a.uid = idbuf;
            }
            a.mimetype = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(att, "mimetype"));
            a.url = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(att, "download_url"));
            if (a.uid[0] || a.url)
                a.state = "pending";
        }
        if (strcmp(a.state, "missing") == 0)
            missing++;
        if ((rc = sync_att_note(ctx, &a)) != PLAT_OK)
            break;
    }
    if (missing_out)
        *missing_out = missing;
    return rc;
}

struct ids_walk {
    int64_t *ids;
    size_t max, n;
    size_t alen;
};

static int ids_cb(const struct sync_att *a, void *payload)
{
    struct ids_walk *w = payload;
    int64_t id = strtoll(a->remote_id + w->alen + 1, NULL, 10);

    if (id <= 0 || (w->n && w->ids[w->n - 1] == id))
        return 0;                /* rows come ordered by remote_id */
    for (size_t i = 0; i < w->n; i++)
        if (w->ids[i] == id)
            return 0;
    w->ids[w->n++] = id;
    return w->n == w->max ? 1 : 0;
}

int kobo_att_missing_ids(struct sync_ctx *ctx, const char *asset,
                         int64_t *ids, size_t max, size_t *n_out)
{
    struct ids_walk w = {ids, max, 0, strlen(asset)};
    char prefix[96];
    int rc;

    *n_out = 0;
    snprintf(prefix, sizeof(prefix), "%s:", asset);
    rc = sync_att_list(ctx, "missing", prefix, 0, ids_cb, &w);
    if (rc == 1)
        rc = PLAT_OK;
    *n_out = w.n;
    return rc;
}

/* ---- downloading ----------------------------------------------------------- */

/* A pending row copied out of the store. */
struct todo {
    char *remote_id, *question, *uid, *url;
};

struct todo_list {
    struct todo *v;
    size_t n;
};

static int todo_cb(const struct sync_att *a, void *payload)
{
    struct todo_list *l = payload;
    struct todo *grown = plat_realloc(l->v, (l->n + 1) * sizeof(*grown));
    struct todo *t;

    if (!grown)
        return ERR_NOMEM;
    l->v = grown;
    t = &l->v[l->n];
    t->remote_id = plat_strdup(a->remote_id);
    t->question = plat_strdup(a->question);
    t->uid = plat_strdup(a->uid ? a->uid : "");
    t->url = a->url ? plat_strdup(a->url) : NULL;
    l->n++;
    if (!t->remote_id || !t->question || !t->uid || (a->url && !t->url))
        return ERR_NOMEM;
    return 0;
}

static void todo_free(struct todo_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        plat_free(l->v[i].remote_id);
        plat_free(l->v[i].question);
        plat_free(l->v[i].uid);
        plat_free(l->v[i].url);
    }
    plat_free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* "http(s)://authority" of `url` (lower-cased) into origin, and where its
 * path starts (never NULL: "" when none). 0 when not an http(s) URL. */
static int url_split(const char *url, char *origin, size_t n,
                     const char **path)
{
    const char *p;
    size_t len;

    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return 0;
    p += strcspn(p, "/?#");
    len = (size_t)(p - url);
    if (len >= n || len == (size_t)(strchr(url, ':') - url) + 3)
        return 0;
    for (size_t i = 0; i < len; i++)
        origin[i] = (char)tolower((unsigned char)url[i]);
    origin[len] = '\0';
    *path = p;
    return 1;
}

/* The authority part of an origin ("host:port"). */
static const char *authority(const char *origin)
{
    return strstr(origin, "://") + 3;
}

static int host_allowed(const struct kobo_att_conf *c, const char *origin)
{
    const char *auth = authority(origin), *p = c->hosts;

    while (p && *p) {
        size_t len;

        while (*p == ',' || *p == ' ')
            p++;
        len = strcspn(p, ", ");
        if (len && strlen(auth) == len && strncasecmp(auth, p, len) == 0)
            return 1;
        p += len;
    }
    return 0;
}

/* Where a hop goes: the kpi client with `path`, or another allowed
 * origin (no token). */
struct hop {
    int other;                 /* 1: another host, no token   */
    char origin[ATT_ORIGIN_MAX];
    char path[2048];
};

/* Decide where absolute URL `url` is fetched from. PLAT_OK, or
 * ERR_INVALID with `why` naming the host (not the URL: it may carry a
 * signature). */
static int route(const struct kobo_att_conf *c, const char *url,
                 struct hop *h, char *why, size_t n)
{
    char base_origin[ATT_ORIGIN_MAX];
    const char *path, *base_path;
    size_t plen;

    if (!url_split(url, h->origin, sizeof(h->origin), &path)) {
        snprintf(why, n, "not an http(s) URL");
        return ERR_INVALID;
    }
    if (c->base_url && url_split(c->base_url, base_origin,
                                 sizeof(base_origin), &base_path) &&
        strcmp(base_origin, h->origin) == 0) {
        plen = strlen(base_path);
        while (plen && base_path[plen - 1] == '/')
            plen--;
        if (strncmp(path, base_path, plen) == 0) {
            h->other = 0;
            snprintf(h->path, sizeof(h->path), "%s",
                     path[plen] ? path + plen : "/");
            return strlen(path + plen) < sizeof(h->path) ? PLAT_OK
                                                        : ERR_INVALID;
        }
    }
    if (!host_allowed(c, h->origin)) {
        snprintf(why, n, "served by another host (%s), not in [kobo] "
                 "attachment_hosts: the token is not sent there",
                 authority(h->origin));
        return ERR_INVALID;
    }
    h->other = 1;
    if (strlen(path) >= sizeof(h->path)) {
        snprintf(why, n, "URL too long");
        return ERR_INVALID;
    }
    snprintf(h->path, sizeof(h->path), "%s", *path ? path : "/");
    return PLAT_OK;
}

/* A client without any auth hook for another host. */
static int other_client(struct sync_ctx *ctx, const struct kobo_att_conf *c,
                        const char *origin, struct sync_http **out)
{
    const struct sync_engine_options *o = sync_ctx_options(ctx);
    struct sync_http_options ho = SYNC_HTTP_OPTIONS_INIT;

    ho.base_url = origin;
    ho.service_name = "kobo attachment host";
    ho.ca_file = o->ca_file;
    ho.proxy = o->proxy;
    ho.connect_timeout_ms = o->connect_timeout_ms;
    ho.max_attempts = o->max_attempts;
    ho.backoff_base_ms = o->backoff_base_ms;
    ho.backoff_cap_ms = o->backoff_cap_ms;
    ho.cancel = o->cancel;
    ho.low_speed_time_s = o->low_speed_time_s;
    ho.max_response = c->max_bytes;
    return sync_http_create(out, &ho);
}

/* Fetch one file into `resp` (2xx) following allowed redirects.
 * PLAT_OK with resp filled; ERR_INVALID with `why` when the file cannot be
 * had (refused, another host, an error answer: the row fails); ERR_TOOLARGE
 * over the cap; ERR_RETRY / ERR_AUTH / ERR_NOMEM stop the walk. */
static int fetch(struct sync_ctx *ctx, const struct kobo_att_conf *c,
                 const char *first_url, const char *first_path,
                 struct sync_http_response *resp, char *why, size_t n)
{
    struct sync_http *kpi = sync_ctx_http(ctx), *other = NULL;
    char other_origin[ATT_ORIGIN_MAX] = "";
    struct hop h;
    size_t old_cap;
    int rc = PLAT_OK, hops;

    memset(&h, 0, sizeof(h));
    if (first_path) {
        snprintf(h.path, sizeof(h.path), "%s", first_path);
    } else if ((rc = route(c, first_url, &h, why, n)) != PLAT_OK) {
        return rc;
    }
    old_cap = sync_http_set_max_response(kpi, c->max_bytes);
    memset(resp, 0, sizeof(*resp));
    for (hops = 0; hops <= ATT_HOPS; hops++) {
        struct sync_http *cl = kpi;

        if (h.other) {
            if (!other || strcmp(other_origin, h.origin) != 0) {
                sync_http_destroy(other);
                other = NULL;
                if ((rc = other_client(ctx, c, h.origin, &other)) !=
                    PLAT_OK)
                    break;
                snprintf(other_origin, sizeof(other_origin), "%s", h.origin);
            }
            cl = other;
        }
        sync_http_response_dispose(resp);
        rc = sync_http_request(cl, "GET", h.path, NULL, NULL, 0, NULL, resp);
        if (rc != PLAT_OK)
            break;
        if (resp->status >= 300 && resp->status < 400 && resp->location[0]) {
            char loc[sizeof(resp->location)];

            snprintf(loc, sizeof(loc), "%s", resp->location);
            if ((rc = route(c, loc, &h, why, n)) != PLAT_OK)
                break;
            continue;
        }
        if (resp->status >= 200 && resp->status < 300)
            break;
        if (resp->status == 401 && !h.other) {
            rc = plat_err_set(ERR_AUTH, "kobo: the API token was refused "
                              "(HTTP 401)");
            break;
        }
        if (resp->status == 429 || resp->status >= 500) {
            rc = plat_err_set(ERR_RETRY, "kobo: attachment download: HTTP "
                              "%ld", resp->status);
            break;
        }
        snprintf(why, n, "HTTP %ld%s", resp->status,
                 h.other ? " from the attachment host" : "");
        rc = ERR_INVALID;
        break;
    }
    if (hops > ATT_HOPS && rc == PLAT_OK) {
        snprintf(why, n, "more than %d redirects", ATT_HOPS);
        rc = ERR_INVALID;
    }
    sync_http_set_max_response(kpi, old_cap);
    sync_http_destroy(other);
    return rc;
}

/* Fetch and store one row; its own batch. */
static int download_one(struct sync_ctx *ctx, const struct kobo_att_conf *c,
                        const char *asset, const struct todo *t,
                        int *stored)
{
    struct sync_http_response resp;
    char why[200] = "", path[512];
    const char *id = strchr(t->remote_id, ':'), *upath = NULL;
    struct hop h;
    int rc, rc2;

    *stored = 0;
    memset(&resp, 0, sizeof(resp));
    /* the download_url when it is on the kpi host (both URL shapes), else
     * the v2 path of the attachment's uid, else the download_url on an
     * allowed host */
    memset(&h, 0, sizeof(h));
    if (t->url && route(c, t->url, &h, why, sizeof(why)) == PLAT_OK &&
        !h.other) {
        upath = NULL;           /* on the kpi host: as given */
    } else if (t->uid[0] && id) {
        snprintf(path, sizeof(path), "/api/v2/assets/%s/data/%s/attachments/"
                 "%s/", asset, id + 1, t->uid);
        upath = path;
    } else if (!t->url) {
        snprintf(why, sizeof(why), "no download URL");
        rc = ERR_INVALID;
        goto mark;
    }
    why[0] = '\0';
    rc = fetch(ctx, c, t->url, upath, &resp, why, sizeof(why));
    if (rc == PLAT_OK) {
        rc = sync_batch_begin(ctx);
        if (rc == PLAT_OK)
            rc = sync_att_set_data(ctx, t->remote_id, t->question,
                                   resp.body.data ? resp.body.data : "",
                                   resp.body.len);
        rc = sync_batch_end(ctx, rc);
        sync_http_response_dispose(&resp);
        if (rc == PLAT_OK)
            *stored = 1;
        return rc;
    }
    sync_http_response_dispose(&resp);
    if (rc == ERR_TOOLARGE) {
        plat_err_clear();
        snprintf(why, sizeof(why), "over the cap of %zu bytes ([kobo] "
                 "attachment_max_bytes)", c->max_bytes);
        rc2 = sync_att_set_state(ctx, t->remote_id, t->question, "toolarge",
                                 why, 0);
        log_info("kobo: attachment %s %s not stored: %s", t->remote_id,
                 t->question, why);
        return rc2;
    }
    if (rc != ERR_INVALID)
        return rc;              /* network, auth, memory: stop the walk */
mark:
    plat_err_clear();
    log_info("kobo: attachment %s %s not stored: %s", t->remote_id,
             t->question, why);
    return sync_att_set_state(ctx, t->remote_id, t->question, "failed", why,
                              1);
}

int kobo_att_download(struct sync_ctx *ctx, const struct kobo_att_conf *c,
                      const char *asset, int64_t *stored_out)
{
    static const char *const states[] = {"pending", "failed", NULL};
    struct todo_list l = {NULL, 0};
    char prefix[96];
    int64_t stored = 0;
    int rc = PLAT_OK, ok;

    if (stored_out)
        *stored_out = 0;
    snprintf(prefix, sizeof(prefix), "%s:", asset);
    for (size_t s = 0; rc == PLAT_OK && states[s]; s++)
        rc = sync_att_list(ctx, states[s], prefix, KOBO_ATT_MAX_ATTEMPTS,
                           todo_cb, &l);
    if (rc == ERR_NOMEM)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == PLAT_OK && i < l.n; i++) {
        if (sync_ctx_cancelled(ctx)) {
            rc = ERR_RETRY;
            break;
        }
        rc = download_one(ctx, c, asset, &l.v[i], &ok);
        stored += ok;
    }
    todo_free(&l);
    if (stored_out)
        *stored_out = stored;
    return rc;
}
