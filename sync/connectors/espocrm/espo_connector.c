/*
 * espo_connector.c - the "espocrm" connector: records of one EspoCRM
 * entity type kept in step with 121 registrations, both ways, with no
 * echo. Design: README.md; pure helpers: espo.h.
 *
 * EspoCRM -> 121 (stream "records"): pages of the entity by modifiedAt;
 * a changed mapped attribute becomes a local edit queued for 121
 * (sync_queue_edit) whose base is what EspoCRM showed before, so 121's
 * three-way check turns a field changed on both sides into a conflict.
 * 121 -> EspoCRM (push kind "edit"): for every linked record, mapped
 * fields whose 121 server copy differs from what EspoCRM last showed are
 * written with one partial PUT. The last-seen values and modifiedAt /
 * versionNumber of each record (espo_seen) make both directions echo-free.
 *
 * Never touches the store, never prints.
 */
#include "espo.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_time.h"
#include "sync_connector.h"
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

#define ESPO_MAP_MAX ((size_t)1024 * 1024)
#define ESPO_KIND "record"
#define ESPO_REJECTED_KEPT 20
#define ESPO_PUSH_BATCH 200

extern const struct sync_connector sync_connector_espocrm;

/* The auth hook's state: the secrets and the extra headers of the next
 * request (the hook is the only way to add headers). */
struct espo_auth {
    int hmac;
    int raw;
    char *api_key;
    char *secret;
    const char *extra[2];        /* header lines of the current request */
};

struct espo_state {
    struct sync_ctx *ctx;
    struct sync_http *http;
    struct espo_auth *auth;      /* owned by the HTTP client's hook      */
    struct espo_map map;
    char *entity;
    char *ref_field;
    char *select;                /* id,modifiedAt,versionNumber,ref,...  */
    int page;                    /* current page size                    */
    int overlap_s;
    int new_records;             /* 0 ignore, 1 report, 2 create         */
    int program_id;              /* for creates                          */
    struct cJSON *defaults;      /* create_defaults, or NULL             */
    int report_deleted;          /* deleted = report or status           */
    int status_deleted;          /* deleted = status: 121 status deleted */
    int create_in_espo;          /* create_in_espocrm = true             */
    int create_pid;              /* its 121 program                      */
    int reconcile_h;             /* reconcile_hours                      */
};

/* ---- config ------------------------------------------------------------ */

static const struct sync_conf_key espo_conf[] = {
    {"enabled", SYNC_CONF_BOOL, NULL, "run the EspoCRM source"},
    {"url", SYNC_CONF_URL, NULL, "EspoCRM site URL, without /api/v1"},
    {"entity", SYNC_CONF_STRING, "Contact",
     "entity type holding the people (Contact, CBeneficiary, ...)"},
    {"reference_field", SYNC_CONF_STRING, NULL,
     "EspoCRM attribute holding the 121 referenceId"},
    {"mapping", SYNC_CONF_PATH, NULL,
     "JSON file {\"<EspoCRM attribute>\": \"<121 attribute>\", ...}"},
    {"auth", SYNC_CONF_STRING, "apikey", "apikey or hmac"},
    {"api_key", SYNC_CONF_SECRET, NULL, "API user's key"},
    {"api_key_file", SYNC_CONF_PATH, NULL,
     "file holding the API key (mode 0600)"},
    {"secret", SYNC_CONF_SECRET, "", "HMAC secret key (auth = hmac)"},
    {"secret_file", SYNC_CONF_PATH, NULL,
     "file holding the HMAC secret (mode 0600)"},
    {"hmac_digest", SYNC_CONF_STRING, "hex",
     "hex, or raw for EspoCRM before 8.4.1"},
    {"page_size", SYNC_CONF_INT, "200", "records per list request (<= 200)"},
    {"overlap_s", SYNC_CONF_INT, "5",
     "seconds of modifiedAt read again each poll (late commits)"},
    {"new_records", SYNC_CONF_STRING, "ignore",
     "EspoCRM records without a referenceId: ignore, report or create"},
    {"program_id", SYNC_CONF_INT, NULL,
     "121 program of registrations created from EspoCRM records"},
    {"create_defaults", SYNC_CONF_STRING, NULL,
     "JSON object of 121 fields added to those created (FSP, language)"},
    {"deleted", SYNC_CONF_STRING, "report",
     "linked records deleted in EspoCRM: ignore, report, or status (also "
     "queue the 121 status change to deleted)"},
    {"create_in_espocrm", SYNC_CONF_BOOL, "false",
     "create an EspoCRM record (with the referenceId) for each 121 "
     "registration of program_id that no record is linked to"},
    {"reconcile_hours", SYNC_CONF_INT, "24",
     "hours between id-only walks that find deletions (0: every sync)"},
    {NULL, 0, NULL, NULL}
};

static void auth_release(void *payload)
{
    struct espo_auth *a = payload;

    if (!a)
        return;
    if (a->api_key) {
        memset(a->api_key, 0, strlen(a->api_key));
        plat_free(a->api_key);
    }
    if (a->secret) {
        memset(a->secret, 0, strlen(a->secret));
        plat_free(a->secret);
    }
    plat_free(a);
}

static int auth_headers(void *payload, const char *method, const char *pq,
                        sync_http_header_add_fn add, void *add_ctx)
{
    struct espo_auth *a = payload;
    char value[400], *line;
    int rc = PLAT_OK;
    size_t i;

    if (a->hmac) {
        rc = espo_hmac_value(a->api_key, a->secret, method, pq, a->raw,
                             value, sizeof(value));
        if (rc != PLAT_OK)
            return rc;
        line = plat_asprintf("X-Hmac-Authorization: %s", value);
    } else {
        line = plat_asprintf("X-Api-Key: %s", a->api_key);
    }
    memset(value, 0, sizeof(value));
    if (!line)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = add(add_ctx, line);
    memset(line, 0, strlen(line));
    plat_free(line);
    for (i = 0; rc == PLAT_OK && i < 2; i++)
        if (a->extra[i])
            rc = add(add_ctx, a->extra[i]);
    return rc;
}

static void espo_exit(void *state)
{
    struct espo_state *st = state;

    if (!st)
        return;
    espo_map_dispose(&st->map);
    cJSON_Delete(st->defaults);
    plat_free(st->entity);
    plat_free(st->ref_field);
    plat_free(st->select);
    plat_free(st);
}

static int conf_int(struct sync_ctx *ctx, const char *key, int dflt, int lo,
                    int hi, int *out)
{
    const char *v = sync_ctx_conf(ctx, key);
    char *end = NULL;
    long n;

    if (!v || !*v) {
        *out = dflt;
        return PLAT_OK;
    }
    n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi)
        return plat_err_set(ERR_CONFIG, "[espocrm] %s must be %d-%d", key, lo,
                            hi);
    *out = (int)n;
    return PLAT_OK;
}

static int entity_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 100 || !isupper((unsigned char)*s))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s))
            return 0;
    return 1;
}

/* Load and parse the mapping file named in the section. */
static int load_map(struct sync_ctx *ctx, struct espo_map *map)
{
    const char *path = sync_ctx_conf(ctx, "mapping");
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (!path || !*path)
        return plat_err_set(ERR_CONFIG, "[espocrm] mapping is not set");
    rc = plat_fs_read_file(path, ESPO_MAP_MAX, &text, &len);
    if (rc == ERR_NOTFOUND)
        return plat_err_set(ERR_CONFIG, "[espocrm] mapping %s does not "
                            "exist", path);
    if (rc != PLAT_OK)
        return rc;
    rc = espo_map_parse(text, map);
    plat_free(text);
    return rc;
}

/* The state without HTTP (also for espo_status). */
static int espo_state_make(struct sync_ctx *ctx, struct espo_state **out)
{
    const char *entity = sync_ctx_conf(ctx, "entity");
    const char *ref = sync_ctx_conf(ctx, "reference_field");
    const char *nr = sync_ctx_conf(ctx, "new_records");
    struct espo_state *st;
    struct plat_buf b;
    char *saved = NULL;
    size_t i;
    int rc, page;

    *out = NULL;
    if (!entity_ok(entity))
        return plat_err_set(ERR_CONFIG, "[espocrm] entity must be an entity "
                            "type name such as Contact");
    if (!ref || !*ref)
        return plat_err_set(ERR_CONFIG, "[espocrm] reference_field is not "
                            "set");
    st = plat_calloc(1, sizeof(*st));
    if (!st)
        return plat_err_set(ERR_NOMEM, "out of memory");
    st->ctx = ctx;
    st->entity = plat_strdup(entity);
    st->ref_field = plat_strdup(ref);
    if (!st->entity || !st->ref_field) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = conf_int(ctx, "page_size", ESPO_PAGE_MAX, ESPO_PAGE_MIN,
                       ESPO_PAGE_MAX, &st->page)) != PLAT_OK ||
        (rc = conf_int(ctx, "overlap_s", 5, 0, 86400, &st->overlap_s)) !=
            PLAT_OK)
        goto fail;
    if (nr && strcmp(nr, "ignore") != 0 && strcmp(nr, "report") != 0 &&
        strcmp(nr, "create") != 0) {
        rc = plat_err_set(ERR_CONFIG, "[espocrm] new_records must be ignore, "
                          "report or create");
        goto fail;
    }
    st->new_records = !nr || strcmp(nr, "ignore") == 0 ? 0
                      : strcmp(nr, "report") == 0 ? 1 : 2;
    if (st->new_records == 2) {
        const char *d = sync_ctx_conf(ctx, "create_defaults");

        if ((rc = conf_int(ctx, "program_id", 0, 1, 1000000000,
                           &st->program_id)) != PLAT_OK ||
            st->program_id <= 0) {
            rc = plat_err_set(ERR_CONFIG, "[espocrm] new_records = create "
                              "needs program_id");
            goto fail;
        }
        if (d && *d && !cJSON_IsObject(st->defaults = cJSON_Parse(d))) {
            rc = plat_err_set(ERR_CONFIG, "[espocrm] create_defaults must be "
                              "a JSON object");
            goto fail;
        }
    }
    {
        const char *del = sync_ctx_conf(ctx, "deleted");
        if (del && strcmp(del, "ignore") != 0 &&
            strcmp(del, "report") != 0 && strcmp(del, "status") != 0) {
            rc = plat_err_set(ERR_CONFIG, "[espocrm] deleted must be "
                              "ignore, report or status");
            goto fail;
        }
        st->report_deleted = !del || strcmp(del, "ignore") != 0;
        st->status_deleted = del && strcmp(del, "status") == 0;
    }
    {
        const char *ce = sync_ctx_conf(ctx, "create_in_espocrm");

        st->create_in_espo = ce && strcmp(ce, "true") == 0;
        if (st->create_in_espo &&
            ((rc = conf_int(ctx, "program_id", 0, 1, 1000000000,
                            &st->create_pid)) != PLAT_OK ||
             st->create_pid <= 0)) {
            rc = plat_err_set(ERR_CONFIG, "[espocrm] create_in_espocrm "
                              "needs program_id");
            goto fail;
        }
    }
    if ((rc = conf_int(ctx, "reconcile_hours", 24, 0, 24 * 365,
                       &st->reconcile_h)) != PLAT_OK)
        goto fail;
    /* a page size lowered after a maxSize refusal is remembered */
    if (sync_state_get(ctx, "page_size", &saved) == PLAT_OK) {
        page = atoi(saved);
        if (page >= ESPO_PAGE_MIN && page < st->page)
            st->page = page;
    }
    plat_free(saved);
    plat_err_clear();
    if ((rc = load_map(ctx, &st->map)) != PLAT_OK)
        goto fail;
    plat_buf_init(&b, 0);
    rc = plat_buf_printf(&b, "id,modifiedAt,versionNumber,%s", ref);
    for (i = 0; rc == PLAT_OK && i < st->map.n; i++)
        rc = plat_buf_printf(&b, ",%s", st->map.v[i].espo);
    if (rc != PLAT_OK) {
        plat_buf_dispose(&b);
        goto fail;
    }
    st->select = b.data;   /* taken over from the buffer */
    *out = st;
    return PLAT_OK;
fail:
    espo_exit(st);
    return rc;
}

static int espo_init(struct sync_ctx *ctx, void **state_out)
{
    const char *mode = sync_ctx_conf(ctx, "auth");
    const char *key = sync_ctx_conf(ctx, "api_key");
    const char *secret = sync_ctx_conf(ctx, "secret");
    const char *digest = sync_ctx_conf(ctx, "hmac_digest");
    const struct sync_http_auth hook = {NULL, auth_headers, auth_release};
    struct espo_state *st = NULL;
    struct espo_auth *a;
    int rc;

    *state_out = NULL;
    if (!sync_ctx_http(ctx))
        return plat_err_set(ERR_CONFIG, "[espocrm] url is not set");
    if (mode && strcmp(mode, "apikey") != 0 && strcmp(mode, "hmac") != 0)
        return plat_err_set(ERR_CONFIG, "[espocrm] auth must be apikey or "
                            "hmac");
    if (digest && strcmp(digest, "hex") != 0 && strcmp(digest, "raw") != 0)
        return plat_err_set(ERR_CONFIG, "[espocrm] hmac_digest must be hex "
                            "or raw");
    if (!key || !*key)
        return plat_err_set(ERR_AUTH, "EspoCRM: no API key: set "
                            "AGENT_ESPOCRM_API_KEY or api_key_file");
    if (mode && strcmp(mode, "hmac") == 0 && (!secret || !*secret))
        return plat_err_set(ERR_AUTH, "EspoCRM: no HMAC secret: set "
                            "AGENT_ESPOCRM_SECRET or secret_file");
    if ((rc = espo_state_make(ctx, &st)) != PLAT_OK)
        return rc;
    a = plat_calloc(1, sizeof(*a));
    if (!a) {
        espo_exit(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    a->hmac = mode && strcmp(mode, "hmac") == 0;
    a->raw = digest && strcmp(digest, "raw") == 0;
    a->api_key = plat_strdup(key);
    a->secret = a->hmac ? plat_strdup(secret) : NULL;
    if (!a->api_key || (a->hmac && !a->secret)) {
        auth_release(a);
        espo_exit(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    st->http = sync_ctx_http(ctx);
    st->auth = a;
    sync_http_set_auth(st->http, &hook, a);
    *state_out = st;
    return PLAT_OK;
}

/* ---- HTTP ---------------------------------------------------------------- */

/* One request with up to two extra header lines. */
static int espo_request(struct espo_state *st, const char *method,
                        const char *pq, const char *body, const char *h1,
                        const char *h2, struct sync_http_response *resp)
{
    int rc;

    st->auth->extra[0] = h1;
    st->auth->extra[1] = h2;
    rc = sync_http_request(st->http, method, pq,
                           body ? "application/json" : NULL, body,
                           body ? strlen(body) : 0, NULL, resp);
    st->auth->extra[0] = st->auth->extra[1] = NULL;
    return rc;
}

/* The error of a non-2xx answer: the X-Status-Reason is the reason shown;
 * 401 and 403 stop the source (ERR_AUTH). */
static int answer_err(const struct sync_http_response *r, const char *what)
{
    const char *why = r->status_reason[0] ? r->status_reason : NULL;

    if (r->status == 401 || r->status == 403)
        return plat_err_set(ERR_AUTH, "EspoCRM: %s: HTTP %ld: %s", what,
                            r->status, why ? why
                            : r->status == 401 ? "API key refused"
                            : "no access (check the API user's role)");
    if (why)
        return plat_err_set(sync_http_status_to_err(r->status) < 0
                            ? sync_http_status_to_err(r->status)
                            : ERR_GENERIC,
                            "EspoCRM: %s: HTTP %ld: %s", what, r->status,
                            why);
    return sync_http_response_err(r, what);
}

static cJSON *parse_body(const struct sync_http_response *r)
{
    return r->body.data ? cJSON_ParseWithLength(r->body.data, r->body.len)
                        : NULL;
}

/* Keep `msg` in state "<list>" (newest last, ESPO_REJECTED_KEPT lines). */
static int note(struct sync_ctx *ctx, const char *list, const char *msg)
{
    char *old = NULL, *text;
    const char *p;
    size_t lines = 0;
    int rc;

    rc = sync_state_get(ctx, list, &old);
    if (rc != PLAT_OK && rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    p = old ? old : "";
    for (const char *q = p; *q; q++)
        lines += *q == '\n';
    while (lines >= ESPO_REJECTED_KEPT && strchr(p, '\n')) {
        p = strchr(p, '\n') + 1;
        lines--;
    }
    text = plat_asprintf("%s%s\n", p, msg);
    plat_free(old);
    if (!text)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = sync_state_set(ctx, list, text);
    plat_free(text);
    return rc;
}

/* ---- the linked records (remote ids) -------------------------------------- */

struct link {
    char *id, *ref, *ver;
};

struct links {
    struct link *v;
    size_t n, cap;
};

static int collect(const char *id, const char *ref, const char *ver,
                   void *payload);
static void links_free(struct links *l);
struct espo_state;
static int espo_reconcile(struct espo_state *st, struct sync_ctx *ctx);

/* ---- EspoCRM -> 121 ------------------------------------------------------ */

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static int64_t num_of(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsNumber(x) ? (int64_t)x->valuedouble : -1;
}

static int put_json(cJSON *obj, const char *key, cJSON *v)
{
    if (!v)
        return plat_err_set(ERR_NOMEM, "out of memory");
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v)
               ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
    if (!cJSON_AddItemToObject(obj, key, v)) {
        cJSON_Delete(v);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    return PLAT_OK;
}

/* Queue `changes` (121 form, base alongside) for 121 and remember them as
 * pending in `seen`. A refusal of the store (a field 121 does not let
 * change) rejects this record alone. */
static int queue_for_121(struct espo_state *st, const char *id,
                         const char *ref, cJSON *changes, cJSON *base,
                         struct espo_seen *seen, int64_t *queued)
{
    const cJSON *c;
    char msg[300];
    int rc, changed = 0;

    if (!changes->child)
        return PLAT_OK;
    rc = sync_queue_edit(st->ctx, "121", ref, changes, base, "EspoCRM",
                         &changed);
    if (rc == ERR_INVALID || rc == ERR_NOTFOUND) {
        snprintf(msg, sizeof(msg), "%s %s: %s", st->entity, id,
                 plat_err_msg());
        plat_err_clear();
        sync_ctx_count(st->ctx, SYNC_COUNT_REJECTED, 1);
        return note(st->ctx, "pull.rejected", msg);
    }
    if (rc != PLAT_OK)
        return rc;
    for (c = changes->child; c; c = c->next)
        if ((rc = put_json(seen->p, c->string, cJSON_Duplicate(c, 1))) !=
            PLAT_OK)
            return rc;
    *queued += changed > 0;
    return PLAT_OK;
}

/* new_records = create: a 121 registration from an EspoCRM record without
 * a referenceId (queued for 121), linked, and its referenceId written back
 * to EspoCRM (the answer's modifiedAt is remembered: no echo). */
static int create_from(struct espo_state *st, const cJSON *rec,
                       int64_t counts[2])
{
    struct sync_ctx *ctx = st->ctx;
    const char *id = str_of(rec, "id");
    char ref[SYNC_REF_MAX + 1], path[400], msg[700];
    struct sync_http_response resp;
    struct espo_seen seen;
    cJSON *fields = cJSON_CreateObject(), *back = NULL, *ans = NULL;
    const cJSON *d;
    char *text = NULL, *body = NULL;
    size_t i;
    int rc = fields ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");

    memset(&resp, 0, sizeof(resp));
    memset(&seen, 0, sizeof(seen));
    if (rc == PLAT_OK)
        rc = espo_seen_parse(NULL, &seen);
    for (d = st->defaults ? st->defaults->child : NULL; rc == PLAT_OK && d;
         d = d->next)
        rc = put_json(fields, d->string, cJSON_Duplicate(d, 1));
    for (i = 0; rc == PLAT_OK && i < st->map.n; i++) {
        const struct espo_field *f = &st->map.v[i];
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(rec, f->espo);

        if (!ev)
            continue;
        rc = put_json(seen.e, f->espo, cJSON_Duplicate(ev, 1));
        if (rc == PLAT_OK && f->dir != ESPO_DIR_FROM_121 &&
            !cJSON_IsNull(ev))
            rc = put_json(fields, f->f121, espo_to_121(f, ev));
    }
    if (rc != PLAT_OK)
        goto out;
    rc = sync_queue_create(ctx, "121", st->program_id, fields, NULL, ref,
                           NULL);
    if (rc == ERR_INVALID) {
        snprintf(msg, sizeof(msg), "%s %s: cannot create: %s", st->entity,
                 id, plat_err_msg());
        plat_err_clear();
        sync_ctx_count(ctx, SYNC_COUNT_REJECTED, 1);
        rc = note(ctx, "pull.rejected", msg);
        goto out;
    }
    if (rc != PLAT_OK)
        goto out;
    snprintf(seen.m, sizeof(seen.m), "%s", str_of(rec, "modifiedAt"));
    seen.v = num_of(rec, "versionNumber");
    for (i = 0; rc == PLAT_OK && i < st->map.n; i++) {
        /* pending to 121: the mapped fields (not the defaults) */
        d = cJSON_GetObjectItemCaseSensitive(fields, st->map.v[i].f121);
        if (d && st->map.v[i].dir != ESPO_DIR_FROM_121)
            rc = put_json(seen.p, d->string, cJSON_Duplicate(d, 1));
    }
    /* the referenceId back to EspoCRM */
    back = cJSON_CreateObject();
    if (rc == PLAT_OK && (!back || !cJSON_AddStringToObject(
                              back, st->ref_field, ref) ||
                          !(body = cJSON_PrintUnformatted(back))))
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == PLAT_OK) {
        snprintf(path, sizeof(path), "/api/v1/%s/%s", st->entity, id);
        rc = espo_request(st, "PUT", path, body, NULL, NULL, &resp);
    }
    if (rc == PLAT_OK && resp.status >= 200 && resp.status <= 299) {
        ans = parse_body(&resp);
        if (str_of(ans, "modifiedAt"))
            snprintf(seen.m, sizeof(seen.m), "%s", str_of(ans, "modifiedAt"));
        if (num_of(ans, "versionNumber") >= 0)
            seen.v = num_of(ans, "versionNumber");
    } else if (rc == PLAT_OK) {
        if (resp.status == 401 || resp.status == 403) {
            rc = answer_err(&resp, "write the referenceId");
            goto out;
        }
        snprintf(msg, sizeof(msg), "%s %s (%s): referenceId not written "
                 "back: HTTP %ld: %s", st->entity, id, ref, resp.status,
                 resp.status_reason[0] ? resp.status_reason : "refused");
        rc = note(ctx, "push.rejected", msg);
    }
    if (rc != PLAT_OK)
        goto out;
    text = espo_seen_format(&seen);
    rc = text ? sync_remote_id_put(ctx, ESPO_KIND, id, ref, text) : ERR_NOMEM;
    if (rc == PLAT_OK) {
        counts[0]++;
        counts[1]++;
    }
out:
    cJSON_Delete(fields);
    cJSON_Delete(back);
    cJSON_Delete(ans);
    cJSON_free(body);
    plat_free(text);
    espo_seen_dispose(&seen);
    sync_http_response_dispose(&resp);
    return rc;
}

/* One record of a page (inside the open batch). counts[0]: records that
 * brought changes for 121, counts[1]: newly linked. */
static int pull_record(struct espo_state *st, const cJSON *rec,
                       int64_t counts[2])
{
    struct sync_ctx *ctx = st->ctx;
    const char *id = str_of(rec, "id"), *mod = str_of(rec, "modifiedAt");
    char *ref = NULL, *ver = NULL, *text = NULL;
    cJSON *changes = NULL, *base = NULL, *local = NULL;
    struct espo_seen seen;
    int rc, linked, first = 0;
    size_t i;

    memset(&seen, 0, sizeof(seen));
    if (!id || !*id || !mod)
        return plat_err_set(ERR_INVALID, "EspoCRM list: a record without "
                            "id or modifiedAt");
    rc = sync_remote_id_get(ctx, ESPO_KIND, id, &ref, &ver);
    if (rc != PLAT_OK && rc != ERR_NOTFOUND)
        return rc;
    linked = rc == PLAT_OK;
    plat_err_clear();
    if ((rc = espo_seen_parse(linked ? ver : NULL, &seen)) != PLAT_OK)
        goto out;
    /* de-duplicated by id + modifiedAt: a record read again through the
     * overlap, or the agent's own write, is not a change */
    if (linked && strcmp(seen.m, mod) == 0 &&
        (num_of(rec, "versionNumber") < 0 ||
         num_of(rec, "versionNumber") == seen.v))
        goto out;
    if (!linked) {
        const char *r = str_of(rec, st->ref_field);

        if (!r || !*r) {
            if (st->new_records == 2) {
                rc = create_from(st, rec, counts);
                goto out;
            }
            if (st->new_records) {
                char msg[200];
                snprintf(msg, sizeof(msg), "%s %s has no %s", st->entity, id,
                         st->ref_field);
                rc = note(ctx, "pull.unlinked", msg);
            }
            goto out;
        }
        rc = sync_get_local(ctx, r, &local);
        if (rc == ERR_NOTFOUND) {
            char msg[300];
            plat_err_clear();
            snprintf(msg, sizeof(msg), "%s %s: referenceId %.200s is not in "
                     "the store", st->entity, id, r);
            rc = note(ctx, "pull.unlinked", msg);
            goto out;
        }
        if (rc != PLAT_OK)
            goto out;
        ref = plat_strdup(r);
        if (!ref) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto out;
        }
        first = 1;
    }
    changes = cJSON_CreateObject();
    base = cJSON_CreateObject();
    if (!changes || !base) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < st->map.n; i++) {
        const struct espo_field *f = &st->map.v[i];
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(rec, f->espo);
        const cJSON *old = cJSON_GetObjectItemCaseSensitive(seen.e, f->espo);
        cJSON *v121, *b121;

        if (!ev)                 /* not readable by the API user */
            continue;
        if (f->dir != ESPO_DIR_FROM_121) {
            v121 = espo_to_121(f, ev);
            if (!v121) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
                goto out;
            }
            if (first) {
                /* first link: EspoCRM's value wins where they differ */
                const cJSON *lv = cJSON_GetObjectItemCaseSensitive(local,
                                                                   f->f121);
                if (!espo_same(f, v121, lv))
                    rc = put_json(changes, f->f121, v121);
                else
                    cJSON_Delete(v121);
            } else {
                b121 = espo_to_121(f, old);
                if (!b121) {
                    cJSON_Delete(v121);
                    rc = plat_err_set(ERR_NOMEM, "out of memory");
                    goto out;
                }
                if (!espo_same(f, v121, b121)) {
                    rc = put_json(changes, f->f121, v121);
                    if (rc == PLAT_OK)
                        rc = put_json(base, f->f121, b121);
                    else
                        cJSON_Delete(b121);
                } else {
                    cJSON_Delete(v121);
                    cJSON_Delete(b121);
                }
            }
            if (rc != PLAT_OK)
                goto out;
        }
        if ((rc = put_json(seen.e, f->espo, cJSON_Duplicate(ev, 1))) !=
            PLAT_OK)
            goto out;
    }
    snprintf(seen.m, sizeof(seen.m), "%s", mod);
    seen.v = num_of(rec, "versionNumber");
    seen.deleted = 0;            /* shown again: restored */
    if ((rc = queue_for_121(st, id, ref, changes, first ? NULL : base, &seen,
                            &counts[0])) != PLAT_OK)
        goto out;
    text = espo_seen_format(&seen);
    if (!text) {
        rc = ERR_NOMEM;
        goto out;
    }
    rc = sync_remote_id_put(ctx, ESPO_KIND, id, ref, text);
    counts[1] += first && rc == PLAT_OK;
out:
    cJSON_Delete(changes);
    cJSON_Delete(base);
    cJSON_Delete(local);
    espo_seen_dispose(&seen);
    plat_free(text);
    plat_free(ref);
    plat_free(ver);
    return rc;
}

/* A list answer that asks for a smaller page (EspoCRM refuses a maxSize
 * over its limit instead of clamping it). */
static int refuses_page(const struct sync_http_response *r)
{
    char low[sizeof(r->status_reason)];
    size_t i;

    if (r->status != 400 && r->status != 403)
        return 0;
    for (i = 0; r->status_reason[i] && i + 1 < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)r->status_reason[i]);
    low[i] = '\0';
    return strstr(low, "maxsize") || strstr(low, "max size") ||
           (r->status == 400 && !r->status_reason[0]);
}

static int espo_pull(void *state, struct sync_ctx *ctx, const char *stream)
{
    struct espo_state *st = state;
    const struct sync_engine_options *opt = sync_ctx_options(ctx);
    struct sync_http_response resp;
    struct plat_buf q;
    char *cursor = NULL, since[ESPO_TIME_LEN] = "", last[ESPO_TIME_LEN];
    char num[16];
    int64_t off = 0, t, counts[2], done = 0;
    cJSON *doc = NULL;
    const cJSON *list, *rec;
    int rc, n, k, open = 0, have_since = 0;

    if (strcmp(stream, "deletions") == 0)
        return espo_reconcile(st, ctx);
    if (strcmp(stream, "records") != 0)
        return PLAT_OK;
    memset(&resp, 0, sizeof(resp));
    rc = sync_cursor_get(ctx, "records.cursor", &cursor);
    if (rc == PLAT_OK && !(opt && opt->full) &&
        espo_time_parse(cursor, &t) == PLAT_OK) {
        espo_time_format(t - st->overlap_s, since);
        have_since = 1;
    } else if (rc != PLAT_OK && rc != ERR_NOTFOUND) {
        return rc;
    }
    plat_err_clear();
    plat_free(cursor);
    cursor = NULL;
    for (;;) {
        if (sync_ctx_cancelled(ctx)) {
            rc = ERR_RETRY;
            break;
        }
        plat_buf_init(&q, 0);
        rc = plat_buf_printf(&q, "/api/v1/%s?", st->entity);
        if (rc == PLAT_OK)
            rc = espo_list_query(&q, st->select, st->page, off,
                                 have_since ? since : NULL);
        if (rc == PLAT_OK)
            rc = espo_request(st, "GET", q.data, NULL, "X-No-Total: true",
                              NULL, &resp);
        plat_buf_dispose(&q);
        if (rc != PLAT_OK)
            break;
        if (refuses_page(&resp) && st->page > ESPO_PAGE_MIN) {
            st->page = st->page / 2 < ESPO_PAGE_MIN ? ESPO_PAGE_MIN
                                                    : st->page / 2;
            snprintf(num, sizeof(num), "%d", st->page);
            sync_http_response_dispose(&resp);
            if ((rc = sync_state_set(ctx, "page_size", num)) != PLAT_OK)
                break;
            continue;
        }
        if (resp.status < 200 || resp.status > 299) {
            rc = answer_err(&resp, "list records");
            break;
        }
        if ((rc = sync_http_check_json(&resp, "EspoCRM list")) != PLAT_OK)
            break;
        doc = parse_body(&resp);
        sync_http_response_dispose(&resp);
        list = cJSON_GetObjectItemCaseSensitive(doc, "list");
        if (!cJSON_IsArray(list)) {
            rc = plat_err_set(ERR_INVALID, "EspoCRM list: no \"list\" array "
                              "in the answer");
            break;
        }
        n = cJSON_GetArraySize(list);
        counts[0] = counts[1] = 0;
        last[0] = '\0';
        if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
            break;
        open = 1;
        cJSON_ArrayForEach(rec, list) {
            const char *m = str_of(rec, "modifiedAt");
            if ((rc = pull_record(st, rec, counts)) != PLAT_OK)
                break;
            if (m && strcmp(m, last) > 0)
                snprintf(last, sizeof(last), "%s", m);
        }
        /* the cursor is the largest modifiedAt received: server time */
        if (rc == PLAT_OK && last[0])
            rc = sync_cursor_set(ctx, "records.cursor", last);
        open = 0;
        if ((rc = sync_batch_end(ctx, rc)) != PLAT_OK)
            break;
        sync_ctx_count(ctx, SYNC_COUNT_PULLED, counts[0]);
        done += n;
        sync_ctx_progress(ctx, done, 0);
        if (n < st->page || num_of(doc, "total") == -2 || !last[0])
            break;
        /* next page: from the last second of this one; inside one second
         * holding more than a page, by offset */
        k = 0;
        for (rec = cJSON_GetArrayItem(list, n - 1); rec; rec = rec->prev) {
            const char *m = str_of(rec, "modifiedAt");
            if (!m || strcmp(m, last) != 0)
                break;
            k++;
            if (rec == list->child)
                break;
        }
        if (have_since && strcmp(since, last) == 0) {
            off += n;
        } else {
            snprintf(since, sizeof(since), "%s", last);
            have_since = 1;
            off = k;
        }
        cJSON_Delete(doc);
        doc = NULL;
    }
    if (open)
        sync_batch_end(ctx, rc);
    cJSON_Delete(doc);
    sync_http_response_dispose(&resp);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every id EspoCRM shows, sorted (select=id, paged by offset). */
static int walk_ids(struct espo_state *st, char ***out, size_t *n_out)
{
    struct sync_http_response resp;
    struct plat_buf q;
    char **v = NULL, **nv;
    size_t n = 0, cap = 0;
    int64_t off = 0;
    const cJSON *list, *rec;
    cJSON *doc;
    int rc = PLAT_OK, got;

    memset(&resp, 0, sizeof(resp));
    for (;;) {
        if (sync_ctx_cancelled(st->ctx)) {
            rc = ERR_RETRY;
            break;
        }
        plat_buf_init(&q, 0);
        rc = plat_buf_printf(&q, "/api/v1/%s?maxSize=%d&offset=%" PRId64
                             "&orderBy=id&order=asc&select=id", st->entity,
                             st->page, off);
        if (rc == PLAT_OK)
            rc = espo_request(st, "GET", q.data, NULL, "X-No-Total: true",
                              NULL, &resp);
        plat_buf_dispose(&q);
        if (rc != PLAT_OK)
            break;
        if (resp.status < 200 || resp.status > 299) {
            rc = answer_err(&resp, "list record ids");
            break;
        }
        doc = parse_body(&resp);
        sync_http_response_dispose(&resp);
        list = cJSON_GetObjectItemCaseSensitive(doc, "list");
        if (!cJSON_IsArray(list)) {
            cJSON_Delete(doc);
            rc = plat_err_set(ERR_INVALID, "EspoCRM id list: no \"list\" "
                              "array in the answer");
            break;
        }
        got = 0;
        cJSON_ArrayForEach(rec, list) {
            const char *id = str_of(rec, "id");
            got++;
            if (!id)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 1024;
                nv = plat_realloc(v, cap * sizeof(*v));
                if (!nv) {
                    rc = plat_err_set(ERR_NOMEM, "out of memory");
                    break;
                }
                v = nv;
            }
            if (!(v[n] = plat_strdup(id))) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
                break;
            }
            n++;
        }
        cJSON_Delete(doc);
        if (rc != PLAT_OK || got < st->page)
            break;
        off += got;
    }
    sync_http_response_dispose(&resp);
    if (rc == PLAT_OK && n)
        qsort(v, n, sizeof(*v), cmp_str);
    if (rc != PLAT_OK) {
        sync_strings_free(v, n);
        v = NULL;
        n = 0;
    }
    *out = v;
    *n_out = n;
    return rc;
}

/* deleted = status: the 121 registration of a record deleted in EspoCRM
 * gets the status change to "deleted", queued like any other (the 121
 * connector sends it with its dry run first). Already deleted or not in
 * the store: nothing to queue. Joins the open batch. */
static int queue_deleted(struct espo_state *st, const char *id,
                         const char *ref)
{
    char msg[300];
    int rc;

    if (!st->status_deleted)
        return PLAT_OK;
    rc = sync_queue_status(st->ctx, "121", ref, "deleted",
                           "record deleted in EspoCRM");
    if (rc == ERR_INVALID || rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc == PLAT_OK) {
        snprintf(msg, sizeof(msg), "%s %s (%s): 121 status change to "
                 "deleted queued", st->entity, id, ref);
        rc = note(st->ctx, "deleted", msg);
    }
    return rc;
}

/* Stream "deletions": every reconcile_hours (device clock: scheduling
 * only), an id-only walk; a linked record it does not show, and that a
 * GET confirms gone (404), is marked deleted and reported. */
static int espo_reconcile(struct espo_state *st, struct sync_ctx *ctx)
{
    const struct sync_engine_options *opt = sync_ctx_options(ctx);
    struct sync_http_response resp;
    struct links links;
    struct espo_seen seen;
    char **ids = NULL, *last = NULL, *text, path[400], msg[300], now[24];
    size_t n_ids = 0, i;
    int64_t now_ms = plat_time_wall_ms(), gone = 0;
    int rc, open = 0;

    if (!st->report_deleted)
        return PLAT_OK;
    if (sync_state_get(ctx, "reconcile.last_ms", &last) == PLAT_OK &&
        !(opt && opt->full) && st->reconcile_h > 0 &&
        now_ms - strtoll(last, NULL, 10) <
            (int64_t)st->reconcile_h * 3600000) {
        plat_free(last);
        return PLAT_OK;
    }
    plat_free(last);
    plat_err_clear();
    memset(&links, 0, sizeof(links));
    memset(&seen, 0, sizeof(seen));
    memset(&resp, 0, sizeof(resp));
    if ((rc = walk_ids(st, &ids, &n_ids)) != PLAT_OK ||
        (rc = sync_remote_ids_list(ctx, ESPO_KIND, collect, &links)) !=
            PLAT_OK)
        goto out;
    for (i = 0; i < links.n; i++) {
        const struct link *l = &links.v[i];

        if (espo_id_in((const char *const *)ids, n_ids, l->id))
            continue;
        espo_seen_dispose(&seen);
        if ((rc = espo_seen_parse(l->ver, &seen)) != PLAT_OK)
            goto out;
        if (seen.deleted)
            continue;
        /* confirm: a record created or moved during the walk is not gone */
        snprintf(path, sizeof(path), "/api/v1/%s/%s?select=id", st->entity,
                 l->id);
        rc = espo_request(st, "GET", path, NULL, NULL, NULL, &resp);
        if (rc != PLAT_OK)
            goto out;
        if (resp.status != 404) {
            if (resp.status == 401 || resp.status == 403) {
                rc = answer_err(&resp, "read record");
                goto out;
            }
            sync_http_response_dispose(&resp);
            continue;
        }
        sync_http_response_dispose(&resp);
        if (!open) {
            if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
                goto out;
            open = 1;
        }
        seen.deleted = 1;
        text = espo_seen_format(&seen);
        if (!text) {
            rc = ERR_NOMEM;
            goto out;
        }
        rc = sync_remote_id_put(ctx, ESPO_KIND, l->id, l->ref, text);
        plat_free(text);
        snprintf(msg, sizeof(msg), "%s %s (%s): deleted in EspoCRM",
                 st->entity, l->id, l->ref);
        if (rc == PLAT_OK)
            rc = note(ctx, "deleted", msg);
        if (rc == PLAT_OK)
            rc = queue_deleted(st, l->id, l->ref);
        if (rc != PLAT_OK)
            goto out;
        gone++;
    }
    if (open) {
        open = 0;
        if ((rc = sync_batch_end(ctx, PLAT_OK)) != PLAT_OK)
            goto out;
    }
    sync_ctx_count(ctx, SYNC_COUNT_GONE, gone);
    snprintf(now, sizeof(now), "%" PRId64, now_ms);
    rc = sync_state_set(ctx, "reconcile.last_ms", now);
out:
    if (open)
        sync_batch_end(ctx, rc);
    sync_http_response_dispose(&resp);
    espo_seen_dispose(&seen);
    links_free(&links);
    sync_strings_free(ids, n_ids);
    return rc;
}

/* ---- 121 -> EspoCRM ------------------------------------------------------ */

static int collect(const char *id, const char *ref, const char *ver,
                   void *payload)
{
    struct links *l = payload;
    struct link *nv;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        nv = plat_realloc(l->v, l->cap * sizeof(*nv));
        if (!nv)
            return plat_err_set(ERR_NOMEM, "out of memory");
        l->v = nv;
    }
    l->v[l->n].id = plat_strdup(id);
    l->v[l->n].ref = plat_strdup(ref);
    l->v[l->n].ver = ver ? plat_strdup(ver) : NULL;
    l->n++;
    if (!l->v[l->n - 1].id || !l->v[l->n - 1].ref ||
        (ver && !l->v[l->n - 1].ver))
        return plat_err_set(ERR_NOMEM, "out of memory");
    return 0;
}

static void links_free(struct links *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        plat_free(l->v[i].id);
        plat_free(l->v[i].ref);
        plat_free(l->v[i].ver);
    }
    plat_free(l->v);
    memset(l, 0, sizeof(*l));
}

/* What to write to EspoCRM for one linked record: `put` gets {EspoCRM
 * attribute: value} of the mapped fields whose 121 server copy differs
 * from what EspoCRM last showed. Pending values that 121 now shows (or
 * that no longer apply) leave seen->p (*seen_changed). A record with an
 * open conflict is left alone until a person resolves it. */
static int diff_record(struct espo_state *st, const char *ref,
                       struct espo_seen *seen, cJSON *put, int *seen_changed)
{
    cJSON *srv = NULL, *loc = NULL;
    const cJSON *c;
    size_t i;
    int rc;

    *seen_changed = 0;
    rc = sync_get_registration(st->ctx, ref, &srv);
    if (rc == ERR_NOTFOUND) {          /* not on 121 yet */
        plat_err_clear();
        return PLAT_OK;
    }
    /* the local view (pending work, open conflicts) only when needed: a
     * record with nothing pending and nothing to write costs one read */
    if (rc == PLAT_OK && seen->p->child)
        rc = sync_get_local(st->ctx, ref, &loc);
    if (rc != PLAT_OK)
        goto out;
    c = cJSON_GetObjectItemCaseSensitive(loc, "_conflicts");
    if (cJSON_IsNumber(c) && c->valuedouble > 0)
        goto out;                  /* waits for a person */
    for (i = 0; i < st->map.n; i++) {
        const struct espo_field *f = &st->map.v[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(srv, f->f121);
        const cJSON *pend = cJSON_GetObjectItemCaseSensitive(seen->p,
                                                             f->f121);
        cJSON *e121;
        int same;

        if (pend) {
            if (!espo_same(f, v, pend) &&
                espo_same(f, cJSON_GetObjectItemCaseSensitive(loc, f->f121),
                          pend))
                continue;          /* still on its way to 121 */
            cJSON_DeleteItemFromObjectCaseSensitive(seen->p, f->f121);
            *seen_changed = 1;
        }
        if (f->dir == ESPO_DIR_TO_121 || !v)
            continue;
        e121 = espo_to_121(f, cJSON_GetObjectItemCaseSensitive(seen->e,
                                                               f->espo));
        if (!e121) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto out;
        }
        same = espo_same(f, v, e121);
        cJSON_Delete(e121);
        if (!same && (rc = put_json(put, f->espo, espo_from_121(f, v))) !=
            PLAT_OK)
            goto out;
    }
    if (put->child && !loc && (rc = sync_get_local(st->ctx, ref, &loc)) !=
        PLAT_OK)
        goto out;
    /* a record with an open conflict waits for a person */
    c = cJSON_GetObjectItemCaseSensitive(loc, "_conflicts");
    if (cJSON_IsNumber(c) && c->valuedouble > 0) {
        while (put->child)
            cJSON_Delete(cJSON_DetachItemViaPointer(put, put->child));
    }
out:
    cJSON_Delete(srv);
    cJSON_Delete(loc);
    return rc;
}

/* After a 200: what EspoCRM now holds is what was written. */
static int seen_after_write(struct espo_seen *seen, const cJSON *put,
                            const cJSON *answer)
{
    const cJSON *c;
    const char *m = str_of(answer, "modifiedAt");
    int64_t v = num_of(answer, "versionNumber");
    int rc;

    for (c = put->child; c; c = c->next) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(answer, c->string);
        if ((rc = put_json(seen->e, c->string,
                           cJSON_Duplicate(a ? a : c, 1))) != PLAT_OK)
            return rc;
    }
    if (m)
        snprintf(seen->m, sizeof(seen->m), "%s", m);
    if (v >= 0)
        seen->v = v;
    return PLAT_OK;
}

/* A 409 "modified": EspoCRM changed the attributes in body.values since we
 * read them. Those become EspoCRM changes for 121 (base: what we saw),
 * so 121's three-way check shows the conflict with both values; they
 * leave `put`. */
static int take_modified(struct espo_state *st, const char *id,
                         const char *ref, struct espo_seen *seen, cJSON *put,
                         const cJSON *body, int64_t *queued)
{
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(body, "values"), *c;
    cJSON *changes = cJSON_CreateObject(), *base = cJSON_CreateObject();
    int64_t v = num_of(body, "versionNumber");
    size_t i;
    int rc = changes && base ? PLAT_OK
                             : plat_err_set(ERR_NOMEM, "out of memory");

    for (c = vals ? vals->child : NULL; rc == PLAT_OK && c; c = c->next) {
        for (i = 0; i < st->map.n; i++) {
            const struct espo_field *f = &st->map.v[i];
            if (strcmp(f->espo, c->string) != 0)
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(put, f->espo);
            if (f->dir != ESPO_DIR_FROM_121) {
                rc = put_json(changes, f->f121, espo_to_121(f, c));
                if (rc == PLAT_OK)
                    rc = put_json(base, f->f121, espo_to_121(
                        f, cJSON_GetObjectItemCaseSensitive(seen->e,
                                                            f->espo)));
            }
            if (rc == PLAT_OK)
                rc = put_json(seen->e, f->espo, cJSON_Duplicate(c, 1));
            break;
        }
    }
    if (v >= 0)
        seen->v = v;
    if (rc == PLAT_OK)
        rc = queue_for_121(st, id, ref, changes, base, seen, queued);
    cJSON_Delete(changes);
    cJSON_Delete(base);
    return rc;
}

/* Write `put` to record `id` (partial PUT, X-Version-Number when known);
 * one more try after a 409 "modified" with what is left. *wrote: 1 done,
 * 0 nothing to write, -1 rejected (noted). */
static int write_record(struct espo_state *st, const struct link *l,
                        struct espo_seen *seen, cJSON *put, int *wrote)
{
    struct sync_http_response resp;
    char path[400], vh[48], msg[300];
    char *body = NULL;
    cJSON *ans = NULL;
    int64_t queued = 0;
    int rc = PLAT_OK, attempt;

    *wrote = 0;
    memset(&resp, 0, sizeof(resp));
    snprintf(path, sizeof(path), "/api/v1/%s/%s", st->entity, l->id);
    for (attempt = 0; attempt < 2 && put->child; attempt++) {
        body = cJSON_PrintUnformatted(put);
        if (!body)
            return plat_err_set(ERR_NOMEM, "out of memory");
        if (seen->v >= 0)
            snprintf(vh, sizeof(vh), "X-Version-Number: %" PRId64, seen->v);
        rc = espo_request(st, "PUT", path, body,
                          seen->v >= 0 ? vh : NULL, NULL, &resp);
        cJSON_free(body);
        body = NULL;
        if (rc != PLAT_OK)
            break;
        ans = parse_body(&resp);
        if (resp.status >= 200 && resp.status <= 299) {
            rc = seen_after_write(seen, put, ans);
            *wrote = rc == PLAT_OK;
            break;
        }
        if (resp.status == 409 &&
            strcasecmp(resp.status_reason, "modified") == 0) {
            rc = take_modified(st, l->id, l->ref, seen, put, ans, &queued);
            cJSON_Delete(ans);
            ans = NULL;
            sync_http_response_dispose(&resp);
            if (rc != PLAT_OK)
                break;
            continue;
        }
        if (resp.status == 404) {
            /* deleted in EspoCRM (soft deletes answer 404) */
            seen->deleted = 1;
            sync_ctx_count(st->ctx, SYNC_COUNT_GONE, 1);
            snprintf(msg, sizeof(msg), "%s %s (%s): not found in EspoCRM "
                     "(deleted)", st->entity, l->id, l->ref);
            rc = note(st->ctx, "deleted", msg);
            if (rc == PLAT_OK)        /* inside the push's batch */
                rc = queue_deleted(st, l->id, l->ref);
            *wrote = -1;
            break;
        }
        if (resp.status == 400 || resp.status == 409) {
            /* this record alone is refused */
            snprintf(msg, sizeof(msg), "%s %s (%s): HTTP %ld: %s",
                     st->entity, l->id, l->ref, resp.status,
                     resp.status_reason[0] ? resp.status_reason
                                           : "refused");
            sync_ctx_count(st->ctx, SYNC_COUNT_REJECTED, 1);
            rc = note(st->ctx, "push.rejected", msg);
            *wrote = -1;
            break;
        }
        rc = answer_err(&resp, "update record");
        break;
    }
    cJSON_Delete(ans);
    sync_http_response_dispose(&resp);
    return rc;
}

/* create_in_espocrm: the reason of a refused create, never a value: the
 * X-Status-Reason, and for a 409 "duplicate" the ids of the records
 * EspoCRM holds for duplicates (its body: an array of records). */
static void refusal(const struct sync_http_response *r, const cJSON *body,
                    char *out, size_t size)
{
    const cJSON *d;
    size_t used;

    used = (size_t)snprintf(out, size, "HTTP %ld: %s", r->status,
                            r->status_reason[0] ? r->status_reason
                                                : "refused");
    if (!cJSON_IsArray(body) || used >= size)
        return;
    used += (size_t)snprintf(out + used, size - used, " (possible "
                             "duplicate of");
    cJSON_ArrayForEach(d, body) {
        const char *id = str_of(d, "id");

        if (id && used < size)
            used += (size_t)snprintf(out + used, size - used, " %s", id);
    }
    if (used < size)
        snprintf(out + used, size - used, ")");
}

/* POST one new EspoCRM record for registration `ref` (server copy `srv`):
 * the mapped fields 121 -> EspoCRM and the referenceId field. 200 -> a
 * link (what EspoCRM answered is what the agent saw, so the record is
 * not pulled back as a change); 400/409 (a "duplicate" of a record
 * EspoCRM already has) -> noted in push.rejected with the reason and
 * counted, not sent again (no X-Skip-Duplicate-Check: a person decides).
 * Other answers: the error (the cursor stays, it is tried again). */
static int create_record(struct espo_state *st, const char *ref,
                         const cJSON *srv)
{
    struct sync_http_response resp;
    struct espo_seen seen;
    cJSON *body = cJSON_CreateObject(), *ans = NULL;
    char path[300], msg[600], why[400], *text = NULL;
    const char *id;
    size_t i;
    int rc = body ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");

    memset(&resp, 0, sizeof(resp));
    memset(&seen, 0, sizeof(seen));
    for (i = 0; rc == PLAT_OK && i < st->map.n; i++) {
        const struct espo_field *f = &st->map.v[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(srv, f->f121);

        if (f->dir == ESPO_DIR_TO_121 || !v || cJSON_IsNull(v))
            continue;
        rc = put_json(body, f->espo, espo_from_121(f, v));
    }
    if (rc == PLAT_OK)
        rc = put_json(body, st->ref_field, cJSON_CreateString(ref));
    if (rc == PLAT_OK && !(text = cJSON_PrintUnformatted(body)))
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc != PLAT_OK)
        goto out;
    snprintf(path, sizeof(path), "/api/v1/%s", st->entity);
    if ((rc = espo_request(st, "POST", path, text, NULL, NULL, &resp)) !=
        PLAT_OK)
        goto out;
    ans = parse_body(&resp);
    if (resp.status == 400 || resp.status == 409) {
        refusal(&resp, ans, why, sizeof(why));
        snprintf(msg, sizeof(msg), "%s create for %s: %s", st->entity, ref,
                 why);
        sync_ctx_count(st->ctx, SYNC_COUNT_REJECTED, 1);
        rc = note(st->ctx, "push.rejected", msg);
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        rc = answer_err(&resp, "create record");
        goto out;
    }
    id = str_of(ans, "id");
    if (!id) {
        rc = plat_err_set(ERR_GENERIC, "EspoCRM: create record: the "
                          "answer has no id");
        goto out;
    }
    if ((rc = espo_seen_parse(NULL, &seen)) != PLAT_OK ||
        (rc = seen_after_write(&seen, body, ans)) != PLAT_OK)
        goto out;
    plat_free(text);
    if (!(text = espo_seen_format(&seen))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = sync_remote_id_put(st->ctx, ESPO_KIND, id, ref, text);
    if (rc == PLAT_OK)
        sync_ctx_count(st->ctx, SYNC_COUNT_PUSHED, 1);
out:
    cJSON_free(text);
    cJSON_Delete(body);
    cJSON_Delete(ans);
    espo_seen_dispose(&seen);
    sync_http_response_dispose(&resp);
    return rc;
}

/* create_in_espocrm: the 121 registrations of create_pid that came from
 * 121 (server ids above the state "create.after") and that no EspoCRM
 * record is linked to get one. `links`: every link, read before. The
 * cursor commits with each batch of creates. */
static int create_new(struct espo_state *st, struct sync_ctx *ctx,
                      const struct links *links)
{
    const char **refs = NULL;
    char *after_s = NULL, *ref = NULL, num[24];
    cJSON *srv = NULL;
    int64_t after = 0, max = 0, sid;
    size_t i, in_batch = 0;
    int rc, open = 0;

    rc = sync_max_server_id(ctx, st->create_pid, &max);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc != PLAT_OK)
        return rc;
    if (sync_state_get(ctx, "create.after", &after_s) == PLAT_OK)
        after = strtoll(after_s, NULL, 10);
    plat_free(after_s);
    plat_err_clear();
    if (after >= max)
        return PLAT_OK;
    refs = plat_calloc(links->n + 1, sizeof(*refs));
    if (!refs)
        return plat_err_set(ERR_NOMEM, "out of memory");
    for (i = 0; i < links->n; i++)
        refs[i] = links->v[i].ref;
    qsort(refs, links->n, sizeof(*refs), cmp_str);
    for (sid = after + 1; rc == PLAT_OK && sid <= max; sid++) {
        const cJSON *pid;

        if (!open) {
            if (sync_ctx_cancelled(ctx)) {
                rc = ERR_RETRY;
                break;
            }
            if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
                break;
            open = 1;
            in_batch = 0;
        }
        plat_free(ref);
        ref = NULL;
        cJSON_Delete(srv);
        srv = NULL;
        rc = sync_ref_by_server_id(ctx, sid, &ref);
        if (rc == PLAT_OK && !espo_id_in(refs, links->n, ref))
            rc = sync_get_registration(ctx, ref, &srv);
        if (rc == ERR_NOTFOUND) {
            plat_err_clear();
            rc = PLAT_OK;
        }
        pid = cJSON_GetObjectItemCaseSensitive(srv, "programId");
        if (rc == PLAT_OK && srv &&
            (!cJSON_IsNumber(pid) || pid->valueint == st->create_pid))
            rc = create_record(st, ref, srv);
        if (rc != PLAT_OK)
            break;
        snprintf(num, sizeof(num), "%" PRId64, sid);
        if ((rc = sync_state_set(ctx, "create.after", num)) != PLAT_OK)
            break;
        if (++in_batch >= ESPO_PUSH_BATCH || sid == max) {
            open = 0;
            rc = sync_batch_end(ctx, PLAT_OK);
        }
    }
    if (open)
        rc = sync_batch_end(ctx, rc);
    plat_free(ref);
    cJSON_Delete(srv);
    plat_free(refs);
    return rc;
}

static int espo_push(void *state, struct sync_ctx *ctx, const char *kind)
{
    struct espo_state *st = state;
    struct links links;
    struct espo_seen seen;
    char *text = NULL;
    cJSON *put = NULL;
    size_t i, in_batch = 0;
    int rc, open = 0, changed, wrote;

    if (strcmp(kind, "edit") != 0)
        return PLAT_OK;
    memset(&links, 0, sizeof(links));
    memset(&seen, 0, sizeof(seen));
    rc = sync_remote_ids_list(ctx, ESPO_KIND, collect, &links);
    for (i = 0; rc == PLAT_OK && i < links.n; i++) {
        const struct link *l = &links.v[i];

        if (!open) {
            if (sync_ctx_cancelled(ctx)) {
                rc = ERR_RETRY;
                break;
            }
            if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
                break;
            open = 1;
            in_batch = 0;
        }
        espo_seen_dispose(&seen);
        cJSON_Delete(put);
        put = cJSON_CreateObject();
        if (!put) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            break;
        }
        if ((rc = espo_seen_parse(l->ver, &seen)) != PLAT_OK)
            break;
        if (seen.deleted)            /* gone from EspoCRM: nothing to do */
            continue;
        if ((rc = diff_record(st, l->ref, &seen, put, &changed)) != PLAT_OK)
            break;
        wrote = 0;
        if (put->child &&
            (rc = write_record(st, l, &seen, put, &wrote)) != PLAT_OK)
            break;
        if (wrote == 1)
            sync_ctx_count(ctx, SYNC_COUNT_PUSHED, 1);
        if (changed || wrote != 0 || put->child) {
            text = espo_seen_format(&seen);
            if (!text) {
                rc = ERR_NOMEM;
                break;
            }
            rc = sync_remote_id_put(ctx, ESPO_KIND, l->id, l->ref, text);
            plat_free(text);
            text = NULL;
            if (rc != PLAT_OK)
                break;
        }
        if (++in_batch >= ESPO_PUSH_BATCH) {
            open = 0;
            if ((rc = sync_batch_end(ctx, PLAT_OK)) != PLAT_OK)
                break;
            sync_ctx_progress(ctx, (int64_t)i + 1, (int64_t)links.n);
        }
    }
    if (open)
        rc = sync_batch_end(ctx, rc);
    if (rc == PLAT_OK && st->create_in_espo)
        rc = create_new(st, ctx, &links);
    cJSON_Delete(put);
    espo_seen_dispose(&seen);
    links_free(&links);
    return rc;
}

/* ---- status ---------------------------------------------------------------- */

struct status_acc {
    struct espo_state *st;
    int64_t linked, to_espo, to_121, deleted;
    int rc;
};

int espo_status(struct sync_ctx *ctx, cJSON **out)
{
    struct espo_state *st = NULL;
    struct links links;
    struct espo_seen seen;
    struct status_acc acc;
    char *cursor = NULL, *unl = NULL;
    cJSON *o = NULL, *put = NULL, *rej = NULL;
    int64_t unlinked = 0;
    size_t i;
    int rc, changed;

    *out = NULL;
    memset(&links, 0, sizeof(links));
    memset(&acc, 0, sizeof(acc));
    memset(&seen, 0, sizeof(seen));
    if ((rc = espo_state_make(ctx, &st)) != PLAT_OK)
        return rc;
    rc = sync_remote_ids_list(ctx, ESPO_KIND, collect, &links);
    for (i = 0; rc == PLAT_OK && i < links.n; i++) {
        espo_seen_dispose(&seen);
        cJSON_Delete(put);
        put = cJSON_CreateObject();
        if (!put) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            break;
        }
        if ((rc = espo_seen_parse(links.v[i].ver, &seen)) != PLAT_OK)
            break;
        acc.linked++;
        if (seen.deleted) {
            acc.deleted++;
            continue;
        }
        if ((rc = diff_record(st, links.v[i].ref, &seen, put, &changed)) !=
            PLAT_OK)
            break;
        acc.to_espo += put->child != NULL;
        acc.to_121 += seen.p->child != NULL;
    }
    if (rc == PLAT_OK) {
        rc = sync_cursor_get(ctx, "records.cursor", &cursor);
        if (rc == ERR_NOTFOUND)
            rc = PLAT_OK;
    }
    if (rc == PLAT_OK) {
        rej = cJSON_CreateArray();
        for (i = 0; rej && i < 2; i++) {
            char *t = NULL, *line, *save = NULL;
            if (sync_state_get(ctx, i ? "push.rejected" : "pull.rejected",
                               &t) != PLAT_OK)
                continue;
            for (line = strtok_r(t, "\n", &save); line;
                 line = strtok_r(NULL, "\n", &save))
                cJSON_AddItemToArray(rej, cJSON_CreateString(line));
            plat_free(t);
        }
        plat_err_clear();
    }
    if (rc == PLAT_OK && sync_state_get(ctx, "pull.unlinked", &unl) ==
        PLAT_OK)
        for (const char *p = unl; *p; p++)
            unlinked += *p == '\n';
    plat_err_clear();
    if (rc == PLAT_OK) {
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddNumberToObject(o, "linked", (double)acc.linked) ||
            !cJSON_AddNumberToObject(o, "pending_to_espocrm",
                                     (double)acc.to_espo) ||
            !cJSON_AddNumberToObject(o, "pending_to_121",
                                     (double)acc.to_121) ||
            !(cursor ? cJSON_AddStringToObject(o, "cursor", cursor)
                     : cJSON_AddNullToObject(o, "cursor")) ||
            !cJSON_AddNumberToObject(o, "page_size", st->page) ||
            !cJSON_AddNumberToObject(o, "deleted_in_espocrm",
                                     (double)acc.deleted) ||
            !cJSON_AddNumberToObject(o, "unlinked_noted", (double)unlinked) ||
            !rej || !cJSON_AddItemToObject(o, "rejected", rej)) {
            if (o && cJSON_GetObjectItem(o, "rejected"))
                rej = NULL;          /* freed with o */
            cJSON_Delete(o);
            o = NULL;
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        } else {
            rej = NULL;              /* owned by o */
        }
    }
    cJSON_Delete(rej);
    *out = o;
    cJSON_Delete(put);
    espo_seen_dispose(&seen);
    links_free(&links);
    plat_free(cursor);
    plat_free(unl);
    espo_exit(st);
    return rc;
}

/* ---- the descriptor ---------------------------------------------------- */

static int espo_same_value(const cJSON *program, const char *field,
                           const cJSON *a, const cJSON *b)
{
    (void)program;
    (void)field;
    return espo_same(NULL, a, b);
}

static int espo_probe_url(const struct sync_source_conf *sc, char *out,
                          size_t n)
{
    const char *url = sync_source_conf_get(sc, "url");
    size_t len;

    if (!url || !*url)
        return plat_err_set(ERR_CONFIG, "[espocrm] url is not set");
    len = strlen(url);
    while (len && url[len - 1] == '/')
        len--;
    if ((size_t)snprintf(out, n, "%.*s/api/v1/App/user", (int)len, url) >= n)
        return plat_err_set(ERR_CONFIG, "[espocrm] url is too long");
    return PLAT_OK;
}

static const char *const espo_streams[] = {"records", "deletions", NULL};
static const char *const espo_kinds[] = {"edit", NULL};

const struct sync_connector sync_connector_espocrm = {
    .name = "espocrm",
    .description = "EspoCRM records kept in step with 121 registrations",
    .config = espo_conf,
    .streams = espo_streams,
    .push_kinds = espo_kinds,
    .cb_init = espo_init,
    .cb_auth = NULL,
    .cb_pull = espo_pull,
    .cb_confirm = NULL,
    .cb_push = espo_push,
    .cb_exit = espo_exit,
    .same_value = espo_same_value,
    .probe_url = espo_probe_url,
};
