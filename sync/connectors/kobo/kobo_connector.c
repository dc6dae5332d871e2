/*
 * kobo_connector.c - the "kobo" connector: KoboToolbox form submissions
 * become 121 registrations, exactly once, edits included. Design:
 * README.md; pure helpers: kobo_map.h; the files and what they share:
 * kobo_connector.h. This file: the descriptor, its config keys and the
 * streams routed to their pulls.
 *
 * Streams, per configured form (asset):
 *   form         GET /api/v2/assets/{uid}/ -> state form.<uid> (for
 *                `agent config check` of the mapping)
 *   submissions  key-set pull (_id > cursor, sorted by _id), one batch per
 *                page committed with its cursor; each new submission ->
 *                a create queued for 121 (origin kobo) with the referenceId
 *                derived from meta/rootUuid; rejected ones -> state
 *                "rejected"; entries marked for retry are re-read first
 *                (kobo_pull_submissions.c)
 *   edits        the cheap scan (fields=_id,_uuid,...): a changed _uuid ->
 *                the submission re-read and its changed mapped fields
 *                queued as an edit with base = what was imported last;
 *                with [kobo] deleted = report, imported submissions the
 *                complete scan no longer shows -> state "deleted" (their
 *                referenceIds logged, never their values)
 *                (kobo_pull_edits.c, kobo_deleted.c)
 *   attachments  late media files looked for again, pending ones
 *                downloaded (kobo_attach.c)
 * Never touches the store, never prints: only sync_ctx.h services.
 */
#include "kobo_connector.h"
#include "kobo_media.h"

#include "plat_err.h"
#include "sync_connector.h"
#include "sync_ctx.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

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

/* Stream "form": the parts of the form definition that `agent config
 * check` reads, kept in state form.<uid>. */
static int pull_form(struct sync_ctx *ctx, struct kobo_form *f)
{
    char path[160], name[128], *text;
    cJSON *doc = NULL, *keep;
    const char *keys[] = {"uid", "name", "version_id", "deployed_version_id",
                          "date_modified", "content", NULL};
    int rc;

    snprintf(path, sizeof(path), "/api/v2/assets/%s/?format=json", f->asset);
    rc = kobo_get_json(ctx, path, f->asset, "GET form", &doc);
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
        program = kobo_load_program(ctx, f->program_id);
        st->remap = 1;
        rc = kobo_reread(st, ctx, f, program, ids, n);
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
    int rc = kobo_rejected_load(st, ctx);

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
            rc = kobo_pull_submissions(st, ctx, f);
        else if (strcmp(stream, "edits") == 0 && st->edits_on)
            rc = kobo_pull_edits(st, ctx, f);
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
