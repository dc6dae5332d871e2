/*
 * cmd_kobo.c - `agent kobo setup|status|rejected|retry`, and the check of
 * the [kobo] mapping files that `agent config check` runs.
 *
 * The connector (sync/connectors/kobo) keeps per form, under source
 * "kobo": checkpoints <asset>.last_id (the key-set cursor), <asset>.imported,
 * <asset>.edits, <asset>.skipped (counters committed with each batch), and
 * state kobo.<asset>.last_sync, kobo.form.<asset> (the form definition)
 * and kobo.rejected (an object "<asset>:<_id>" -> {asset, id, uuid,
 * referenceId, kind, reason, at, retry}) and kobo.deleted (an object
 * "<asset>:<_id>" -> {asset, id, referenceId, at}: imported submissions
 * gone from the form). These commands read them; retry
 * marks entries and runs `agent sync --now --source kobo`.
 */
#include "cli.h"
#include "cmd_util.h"
#include "cmd_kobo_jobs.h"
#include "config_sources.h"
#include "output.h"

#include "kobo_map.h"
#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "store.h"
#include "store_program.h"
#include "store_registrations.h"
#include "store_sync.h"
#include "sync_connector.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KOBO_MAP_FILE_MAX ((size_t)1 << 20)

/* One form of [kobo] assets: uid, program, mapping path (all owned). */
struct form_conf {
    char uid[72];
    int program_id;
    char *mapping;
};

/* The forms of the config (as the connector reads them); *n_out forms in
 * *out (plat_free each .mapping, then the array). */
static int forms_of(const struct agent_config *cfg, struct form_conf **out,
                    size_t *n_out)
{
    const char *assets = agent_config_get(cfg, "kobo", "assets");
    const char *prog = agent_config_get(cfg, "kobo", "program_id");
    const char *map = agent_config_get(cfg, "kobo", "mapping");
    struct form_conf *v;
    size_t n = 1, k = 0;

    *out = NULL;
    *n_out = 0;
    if (!assets || !*assets)
        return PLAT_OK;
    for (const char *p = assets; *p; p++)
        n += *p == ',';
    v = plat_calloc(n, sizeof(*v));
    if (!v)
        return plat_err_set(ERR_NOMEM, "out of memory");
    for (const char *p = assets; *p && k < n;) {
        size_t len, ulen;
        const char *c1, *c2;

        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        len = strcspn(p, ", \t");
        if (!len)
            break;
        c1 = memchr(p, ':', len);
        ulen = c1 ? (size_t)(c1 - p) : len;
        snprintf(v[k].uid, sizeof(v[k].uid), "%.*s", (int)ulen, p);
        v[k].program_id = prog ? atoi(prog) : cfg->program_id;
        if (v[k].program_id <= 0)
            v[k].program_id = cfg->program_id;
        if (c1) {
            c2 = memchr(c1 + 1, ':', (size_t)(p + len - c1 - 1));
            if (atoi(c1 + 1) > 0)
                v[k].program_id = atoi(c1 + 1);
            if (c2 && c2 + 1 < p + len)
                v[k].mapping = plat_strndup(c2 + 1,
                                            (size_t)(p + len - c2 - 1));
        }
        if (!v[k].mapping && map && *map)
            v[k].mapping = plat_strdup(map);
        k++;
        p += len;
    }
    *out = v;
    *n_out = k;
    return PLAT_OK;
}

static void forms_free(struct form_conf *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        plat_free(v[i].mapping);
    plat_free(v);
}

/* ---- config check ---------------------------------------------------------- */

void agent_kobo_check(struct agent_ctx *ctx,
                      void (*on_error)(const char *msg, void *payload),
                      void *payload)
{
    const struct sync_source_conf *sc = agent_config_source(&ctx->cfg,
                                                            "kobo");
    struct form_conf *forms = NULL;
    struct store *s = NULL;
    size_t n = 0;
    char msg[4096];

    if (!sc || !sc->enabled)
        return;
    if (forms_of(&ctx->cfg, &forms, &n) < 0) {
        on_error(plat_err_msg(), payload);
        return;
    }
    if (n == 0)
        on_error("[kobo] assets is not set (run `agent kobo setup`)",
                 payload);
    /* The stored form and program, when there is a store to read. */
    if (ctx->cfg.store_path && plat_fs_exists(ctx->cfg.store_path) &&
        agent_store_open(&ctx->cfg, STORE_READONLY, &s) < 0) {
        plat_err_clear();
        s = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct kobo_mapping *m = NULL;
        cJSON *asset = NULL, *program = NULL;
        char *text = NULL, key[128];
        size_t len = 0;

        if (!forms[i].mapping) {
            snprintf(msg, sizeof(msg), "[kobo] form %s has no mapping file "
                     "(set mapping)", forms[i].uid);
            on_error(msg, payload);
            continue;
        }
        if (plat_fs_read_file(forms[i].mapping, KOBO_MAP_FILE_MAX, &text,
                              &len) < 0) {
            snprintf(msg, sizeof(msg), "[kobo] mapping %s: %s",
                     forms[i].mapping, plat_err_msg());
            on_error(msg, payload);
            continue;
        }
        if (kobo_mapping_parse(text, len, forms[i].mapping, &m, msg,
                               sizeof(msg)) != PLAT_OK) {
            plat_free(text);
            on_error(msg, payload);
            continue;
        }
        plat_free(text);
        text = NULL;
        snprintf(key, sizeof(key), "kobo.form.%s", forms[i].uid);
        if (s && store_state_get(s, key, &text) == PLAT_OK)
            asset = cJSON_Parse(text);
        plat_free(text);
        if (s && forms[i].program_id > 0 &&
            store_program_get(s, forms[i].program_id, &program, NULL) < 0)
            program = NULL;
        plat_err_clear();
        if (kobo_mapping_check(m, asset, program, msg, sizeof(msg)) > 0) {
            char *line = msg;

            while (line && *line) {
                char *nl = strchr(line, '\n');

                if (nl)
                    *nl = '\0';
                on_error(line, payload);
                line = nl ? nl + 1 : NULL;
            }
        }
        cJSON_Delete(asset);
        cJSON_Delete(program);
        kobo_mapping_free(m);
    }
    if (s)
        store_close(s);
    forms_free(forms, n);
}

/* ---- setup ----------------------------------------------------------------- */

static int kobo_setup(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *url = NULL, *asset = NULL, *mapping = NULL, *fsp = NULL;
    const char *token_file = NULL;
    int program = 0, npos = 0, rc;
    char **pos = NULL, *abs = NULL, *text = NULL, prog[16], why[512];
    struct kobo_mapping *m = NULL;
    struct plat_buf out;
    size_t len = 0;
    const struct agent_opt opts[] = {
        { "--url", AGENT_OPT_STRING, &url, 0, 0 },
        { "--asset", AGENT_OPT_STRING, &asset, 0, 0 },
        { "--mapping", AGENT_OPT_STRING, &mapping, 0, 0 },
        { "--program", AGENT_OPT_INT, &program, 1, INT_MAX },
        { "--fsp", AGENT_OPT_STRING, &fsp, 0, 0 },
        { "--token-file", AGENT_OPT_STRING, &token_file, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };

    plat_buf_init(&out, 0);
    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        return rc;
    if (!url || !asset || !mapping) {
        rc = plat_err_set(ERR_USAGE, "kobo setup needs --url, --asset and "
                          "--mapping");
        goto done;
    }
    for (const char *p = asset; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
            rc = plat_err_set(ERR_USAGE, "kobo setup: --asset is a form uid "
                              "(letters and digits)");
            goto done;
        }
    if ((rc = agent_ctx_open(ctx, AGENT_NEED_CONFIG)) < 0)
        goto done;
    abs = mapping[0] == '/' ? plat_strdup(mapping) : NULL;
    if (!abs) {
        char cwd[PATH_MAX];

        if (!getcwd(cwd, sizeof(cwd))) {
            rc = plat_err_set(ERR_IO, "kobo setup: cannot read the current "
                              "directory");
            goto done;
        }
        abs = plat_asprintf("%s/%s", cwd, mapping);
    }
    if (!abs) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = plat_fs_read_file(abs, KOBO_MAP_FILE_MAX, &text, &len);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "kobo setup: no mapping file %s",
                          abs);
    if (rc < 0)
        goto done;
    if (kobo_mapping_parse(text, len, abs, &m, why, sizeof(why)) !=
        PLAT_OK) {
        rc = plat_err_set(ERR_CONFIG, "%s", why);
        goto done;
    }
    if (program <= 0)
        program = ctx->cfg.program_id;
    if (program <= 0) {
        rc = plat_err_set(ERR_USAGE, "kobo setup: no --program and no "
                          "[121] program_id in the config");
        goto done;
    }
    snprintf(prog, sizeof(prog), "%d", program);
    if ((rc = agent_config_set(&ctx->cfg, "kobo", "enabled", "true")) < 0 ||
        (rc = agent_config_set(&ctx->cfg, "kobo", "url", url)) < 0 ||
        (rc = agent_config_set(&ctx->cfg, "kobo", "assets", asset)) < 0 ||
        (rc = agent_config_set(&ctx->cfg, "kobo", "mapping", abs)) < 0 ||
        (rc = agent_config_set(&ctx->cfg, "kobo", "program_id", prog)) < 0)
        goto done;
    if (fsp && (rc = agent_config_set(&ctx->cfg, "kobo", "fsp", fsp)) < 0)
        goto done;
    if (token_file &&
        (rc = agent_config_set(&ctx->cfg, "kobo", "token_file",
                               token_file)) < 0)
        goto done;
    if ((rc = agent_config_format(&ctx->cfg, &out)) < 0 ||
        (rc = plat_fs_write_atomic(ctx->config_path, out.data, out.len,
                                   0600)) < 0)
        goto done;
    if (ctx->g.json) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddStringToObject(o, "config", ctx->config_path) ||
            !cJSON_AddStringToObject(o, "asset", asset) ||
            !cJSON_AddStringToObject(o, "mapping", abs) ||
            !cJSON_AddNumberToObject(o, "program", program) ||
            !cJSON_AddNumberToObject(o, "mapped", (double)m->n))
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        else
            rc = agent_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("wrote [kobo] to %s: form %s -> program %d, %zu mapped "
               "question%s\n", ctx->config_path, asset, program, m->n,
               m->n == 1 ? "" : "s");
        if (!agent_ctx_quiet(ctx))
            printf("The token is not stored: set AGENT_KOBO_TOKEN, or "
                   "token_file = FILE (mode 0600) in [kobo].\n");
    }
done:
    kobo_mapping_free(m);
    plat_buf_dispose(&out);
    plat_free(text);
    plat_free(abs);
    plat_free(pos);
    return rc;
}

/* ---- status, rejected, retry ------------------------------------------------- */

/* State object `key` of the kobo connector ("kobo.rejected",
 * "kobo.deleted"); an empty object when absent. NULL: out of memory. */
static cJSON *load_state_object(struct store *s, const char *key)
{
    char *text = NULL;
    cJSON *r = NULL;

    if (store_state_get(s, key, &text) == PLAT_OK)
        r = cJSON_Parse(text);
    plat_err_clear();
    plat_free(text);
    if (!cJSON_IsObject(r)) {
        cJSON_Delete(r);
        r = cJSON_CreateObject();
    }
    return r;
}

static cJSON *load_rejected(struct store *s)
{
    return load_state_object(s, "kobo.rejected");
}

static int64_t counter(struct store *s, const char *asset, const char *what)
{
    char name[128];
    int64_t v = 0;

    snprintf(name, sizeof(name), "%s.%s", asset, what);
    if (store_checkpoint_get_i64(s, "kobo", name, 0, &v) < 0) {
        plat_err_clear();
        v = 0;
    }
    return v;
}

static int kobo_status(struct agent_ctx *ctx, int argc, char **argv)
{
    struct form_conf *forms = NULL;
    cJSON *rej = NULL, *del = NULL, *out = NULL, *arr, *darr;
    size_t n = 0;
    char **pos = NULL;
    int npos = 0, rc;
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        return rc;
    if ((rc = agent_ctx_open(ctx, AGENT_NEED_STORE)) < 0 ||
        (rc = forms_of(&ctx->cfg, &forms, &n)) < 0)
        goto done;
    rej = load_rejected(ctx->store);
    del = load_state_object(ctx->store, "kobo.deleted");
    out = cJSON_CreateObject();
    arr = out ? cJSON_AddArrayToObject(out, "forms") : NULL;
    /* submissions deleted from their form after import ([kobo] deleted =
     * report): {asset, id, referenceId, at}, never values */
    darr = out ? cJSON_AddArrayToObject(out, "deleted") : NULL;
    if (!rej || !del || !arr || !darr) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *f = cJSON_CreateObject(), *e;
        char key[128], *last = NULL;
        int64_t rejected = 0, deleted = 0;

        cJSON_ArrayForEach(e, rej) {
            const char *a = agent_json_str(e, "asset");

            rejected += a && strcmp(a, forms[i].uid) == 0;
        }
        cJSON_ArrayForEach(e, del) {
            const char *a = agent_json_str(e, "asset");

            if (a && strcmp(a, forms[i].uid) == 0) {
                deleted++;
                if (!cJSON_AddItemToArray(darr, cJSON_Duplicate(e, 1))) {
                    cJSON_Delete(f);
                    rc = plat_err_set(ERR_NOMEM, "out of memory");
                    goto done;
                }
            }
        }
        snprintf(key, sizeof(key), "kobo.%s.last_sync", forms[i].uid);
        if (store_state_get(ctx->store, key, &last) < 0)
            plat_err_clear();
        if (!f || !cJSON_AddStringToObject(f, "asset", forms[i].uid) ||
            !cJSON_AddNumberToObject(f, "program", forms[i].program_id) ||
            !cJSON_AddNumberToObject(f, "cursor", (double)counter(
                ctx->store, forms[i].uid, "last_id")) ||
            !cJSON_AddNumberToObject(f, "imported", (double)counter(
                ctx->store, forms[i].uid, "imported")) ||
            !cJSON_AddNumberToObject(f, "edits", (double)counter(
                ctx->store, forms[i].uid, "edits")) ||
            !cJSON_AddNumberToObject(f, "skipped", (double)counter(
                ctx->store, forms[i].uid, "skipped")) ||
            !cJSON_AddNumberToObject(f, "validated", (double)counter(
                ctx->store, forms[i].uid, "validated")) ||
            !cJSON_AddNumberToObject(f, "rejected", (double)rejected) ||
            !cJSON_AddNumberToObject(f, "deleted", (double)deleted) ||
            !(last ? cJSON_AddStringToObject(f, "last_sync", last)
                   : cJSON_AddNullToObject(f, "last_sync"))) {
            cJSON_Delete(f);
            plat_free(last);
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        plat_free(last);
        cJSON_AddItemToArray(arr, f);
    }
    {
        /* requests queued by `kobo program --create` and `kobo
         * validation-csv --upload`, with their outcome (program_id) */
        cJSON *jobs = NULL;

        if (agent_kobo_jobs_json(ctx->store, &jobs) < 0) {
            plat_err_clear(); /* a store opened read-only before 0007 */
            jobs = cJSON_CreateArray();
        }
        if (!jobs || !cJSON_AddItemToObject(out, "jobs", jobs)) {
            cJSON_Delete(jobs);
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    if (ctx->g.json) {
        rc = agent_print_json(out);
    } else if (n == 0) {
        printf("no Kobo form configured (run `agent kobo setup`)\n");
    } else {
        cJSON *f;

        printf("%-26s %7s %9s %9s %6s %8s %7s  %s\n", "form", "program",
               "cursor", "imported", "edits", "rejected", "deleted",
               "last sync");
        cJSON_ArrayForEach(f, arr) {
            const char *ls = agent_json_str(f, "last_sync");

            printf("%-26s %7d %9.0f %9.0f %6.0f %8.0f %7.0f  %s\n",
                   agent_json_str(f, "asset"),
                   cJSON_GetObjectItem(f, "program")->valueint,
                   cJSON_GetObjectItem(f, "cursor")->valuedouble,
                   cJSON_GetObjectItem(f, "imported")->valuedouble,
                   cJSON_GetObjectItem(f, "edits")->valuedouble,
                   cJSON_GetObjectItem(f, "rejected")->valuedouble,
                   cJSON_GetObjectItem(f, "deleted")->valuedouble,
                   ls ? ls : "never");
        }
        agent_kobo_jobs_print(cJSON_GetObjectItem(out, "jobs"), stdout);
    }
done:
    cJSON_Delete(out);
    cJSON_Delete(rej);
    cJSON_Delete(del);
    forms_free(forms, n);
    plat_free(pos);
    return rc;
}

static int kobo_rejected(struct agent_ctx *ctx, int argc, char **argv)
{
    cJSON *rej = NULL, *arr = NULL, *e;
    char **pos = NULL;
    int npos = 0, rc;
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        return rc;
    if ((rc = agent_ctx_open(ctx, AGENT_NEED_STORE)) < 0)
        goto done;
    rej = load_rejected(ctx->store);
    arr = cJSON_CreateArray();
    if (!rej || !arr) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    cJSON_ArrayForEach(e, rej)
        cJSON_AddItemToArray(arr, cJSON_Duplicate(e, 1));
    if (ctx->g.json) {
        rc = agent_print_json(arr);
    } else if (!arr->child) {
        printf("no rejected submissions\n");
    } else {
        printf("%-26s %9s %-6s %s\n", "form", "_id", "kind", "reason");
        cJSON_ArrayForEach(e, arr) {
            printf("%-26s %9.0f %-6s %s%s\n", agent_json_str(e, "asset"),
                   cJSON_GetObjectItem(e, "id")->valuedouble,
                   agent_json_str(e, "kind"), agent_json_str(e, "reason"),
                   cJSON_IsTrue(cJSON_GetObjectItem(e, "retry"))
                       ? " (retry queued)" : "");
        }
    }
done:
    cJSON_Delete(arr);
    cJSON_Delete(rej);
    plat_free(pos);
    return rc;
}

static int kobo_retry(struct agent_ctx *ctx, int argc, char **argv)
{
    cJSON *rej = NULL, *e;
    char **pos = NULL, *text = NULL;
    int npos = 0, rc, all = 0, no_sync = 0, marked = 0;
    const struct agent_opt opts[] = {
        { "--all", AGENT_OPT_FLAG, &all, 0, 0 },
        { "--no-sync", AGENT_OPT_FLAG, &no_sync, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    char a_now[] = "--now", a_src[] = "--source", a_kobo[] = "kobo";
    char *sync_argv[] = { a_now, a_src, a_kobo, NULL };

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, -1, "", &pos, &npos);
    if (rc < 0)
        return rc;
    if (!all && npos == 0) {
        rc = plat_err_set(ERR_USAGE, "kobo retry needs an _id (see `agent "
                          "kobo rejected`) or --all");
        goto done;
    }
    if ((rc = agent_ctx_open(ctx, AGENT_NEED_WRITE)) < 0)
        goto done;
    rej = load_rejected(ctx->store);
    if (!rej) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    cJSON_ArrayForEach(e, rej) {
        const cJSON *id = cJSON_GetObjectItem(e, "id");
        int hit = all;
        char idtext[32];

        snprintf(idtext, sizeof(idtext), "%.0f",
                 cJSON_IsNumber(id) ? id->valuedouble : -1.0);
        for (int i = 0; !hit && i < npos; i++) {
            const char *colon = strrchr(pos[i], ':');

            hit = strcmp(colon ? colon + 1 : pos[i], idtext) == 0 &&
                  (!colon || strcmp(e->string, pos[i]) == 0);
        }
        if (!hit)
            continue;
        cJSON_ReplaceItemInObject(e, "retry", cJSON_CreateTrue());
        marked++;
    }
    if (!marked) {
        rc = plat_err_set(ERR_NOTFOUND, "kobo retry: no such rejected "
                          "submission (see `agent kobo rejected`)");
        goto done;
    }
    text = cJSON_PrintUnformatted(rej);
    if (!text) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = store_state_set(ctx->store, "kobo.rejected", text)) < 0)
        goto done;
    if (!ctx->g.json && !agent_ctx_quiet(ctx))
        fprintf(stderr, "%d rejected submission%s queued for retry\n",
                marked, marked == 1 ? "" : "s");
    if (!no_sync)
        rc = agent_cmd_sync(ctx, 3, sync_argv);
done:
    cJSON_free(text);
    cJSON_Delete(rej);
    plat_free(pos);
    return rc;
}

static int kobo_program(struct agent_ctx *ctx, int argc, char **argv)
{
    cJSON *asset = NULL, *prog = NULL;
    char **pos = NULL, *text = NULL, key[128], why[KOBO_WHY_MAX];
    int npos = 0, rc, create = 0, again = 0;
    const struct agent_opt opts[] = {
        { "--create", AGENT_OPT_FLAG, &create, 0, 0 },
        { "--again", AGENT_OPT_FLAG, &again, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "a form asset uid",
                        &pos, &npos);
    if (rc < 0)
        return rc;
    if (again && !create) {
        rc = plat_err_set(ERR_USAGE, "kobo program: --again goes with "
                          "--create");
        goto done;
    }
    if ((rc = agent_ctx_open(ctx, create ? AGENT_NEED_WRITE
                                         : AGENT_NEED_STORE)) < 0)
        goto done;
    if (strlen(pos[0]) > 64) {
        rc = plat_err_set(ERR_USAGE, "kobo program: not an asset uid");
        goto done;
    }
    snprintf(key, sizeof(key), "kobo.form.%s", pos[0]);
    rc = store_state_get(ctx->store, key, &text);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "kobo program: form %s is not in "
                          "the store (add it to [kobo] assets and run `agent "
                          "sync --now --source kobo`)", pos[0]);
    if (rc < 0)
        goto done;
    asset = cJSON_Parse(text);
    if (!asset) {
        rc = plat_err_set(ERR_CORRUPT, "kobo program: the stored form %s is "
                          "not JSON", pos[0]);
        goto done;
    }
    if (create) {
        rc = agent_kobo_program_create(ctx, pos[0], asset, again);
        goto done;
    }
    rc = kobo_program_from_form(asset, &prog, why, sizeof(why));
    if (rc != PLAT_OK) {
        rc = plat_err_set(rc, "kobo program: %s", why);
        goto done;
    }
    rc = agent_print_json(prog);
done:
    cJSON_Delete(prog);
    cJSON_Delete(asset);
    plat_free(text);
    plat_free(pos);
    return rc;
}

/* ---- validation-csv ---------------------------------------------------------- */

struct csv_state {
    struct plat_buf *out;
    const char **cols;
    size_t n_cols;
    int64_t rows;
};

static int csv_cell(struct plat_buf *b, const cJSON *v, int first)
{
    char num[64];
    const char *t = "";
    int rc = first ? PLAT_OK : plat_buf_puts(b, ",");

    if (cJSON_IsString(v)) {
        t = v->valuestring;
    } else if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof(num), "%.17g", v->valuedouble);
        t = num;
    } else if (cJSON_IsBool(v)) {
        t = cJSON_IsTrue(v) ? "true" : "false";
    }
    if (rc != PLAT_OK || !strpbrk(t, ",\"\r\n"))
        return rc == PLAT_OK ? plat_buf_puts(b, t) : rc;
    rc = plat_buf_puts(b, "\"");
    for (const char *p = t; rc == PLAT_OK && *p; p++)
        rc = *p == '"' ? plat_buf_puts(b, "\"\"") : plat_buf_append(b, p, 1);
    return rc == PLAT_OK ? plat_buf_puts(b, "\"") : rc;
}

static int csv_row(const cJSON *reg, void *payload)
{
    struct csv_state *cs = payload;
    int rc = PLAT_OK;

    for (size_t i = 0; rc == PLAT_OK && i < cs->n_cols; i++)
        rc = csv_cell(cs->out, cJSON_GetObjectItemCaseSensitive(
                          reg, cs->cols[i]), i == 0);
    if (rc == PLAT_OK)
        rc = plat_buf_puts(cs->out, "\n");
    cs->rows++;
    return rc;
}

/* `agent kobo validation-csv ASSET [--out FILE]`: the form's
 * ValidationDataFrom121.csv (kobo-connect's /update-kobo-csv) from the
 * local store: referenceId, then the program's attributes (dropdowns hold
 * option names in the store, so nothing is mapped back). */
static int kobo_validation_csv(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *file = "ValidationDataFrom121.csv";
    struct form_conf *forms = NULL;
    struct plat_buf out;
    struct csv_state cs = {&out, NULL, 0, 0};
    struct store_reg_filter f;
    cJSON *program = NULL, *a;
    char **pos = NULL;
    size_t n = 0, k;
    int npos = 0, rc, pid = 0, upload = 0, no_sync = 0;
    const struct agent_opt opts[] = {
        { "--out", AGENT_OPT_STRING, &file, 0, 0 },
        { "--upload", AGENT_OPT_FLAG, &upload, 0, 0 },
        { "--no-sync", AGENT_OPT_FLAG, &no_sync, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };

    plat_buf_init(&out, 0);
    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "a form asset uid",
                        &pos, &npos);
    if (rc < 0)
        return rc;
    if (no_sync && !upload) {
        rc = plat_err_set(ERR_USAGE, "kobo validation-csv: --no-sync goes "
                          "with --upload");
        goto done;
    }
    if ((rc = agent_ctx_open(ctx, upload ? AGENT_NEED_WRITE
                                         : AGENT_NEED_STORE)) < 0 ||
        (rc = forms_of(&ctx->cfg, &forms, &n)) < 0)
        goto done;
    for (k = 0; k < n && strcmp(forms[k].uid, pos[0]) != 0; k++)
        ;
    if (k == n) {
        rc = plat_err_set(ERR_USAGE, "kobo validation-csv: form %.64s is not "
                          "in [kobo] assets", pos[0]);
        goto done;
    }
    pid = forms[k].program_id;
    if (pid <= 0) {
        rc = plat_err_set(ERR_CONFIG, "kobo validation-csv: no 121 program "
                          "for form %s", pos[0]);
        goto done;
    }
    rc = store_program_get(ctx->store, pid, &program, NULL);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "kobo validation-csv: program %d is "
                          "not in the store (run `agent sync --now`)", pid);
    if (rc < 0)
        goto done;
    a = cJSON_GetObjectItemCaseSensitive(program,
                                         "programRegistrationAttributes");
    cs.cols = plat_calloc((size_t)cJSON_GetArraySize(a) + 1,
                          sizeof(*cs.cols));
    if (!cs.cols) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    cs.cols[cs.n_cols++] = "referenceId";
    {
        cJSON *it;

        cJSON_ArrayForEach(it, a) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");

            if (cJSON_IsString(nm))
                cs.cols[cs.n_cols++] = nm->valuestring;
        }
    }
    for (k = 0; rc == PLAT_OK && k < cs.n_cols; k++) {
        cJSON *h = cJSON_CreateString(cs.cols[k]);

        rc = h ? csv_cell(&out, h, k == 0) : ERR_NOMEM;
        cJSON_Delete(h);
    }
    if (rc == PLAT_OK)
        rc = plat_buf_puts(&out, "\n");
    memset(&f, 0, sizeof(f));
    f.program_id = pid;
    f.limit = INT_MAX;
    if (rc == PLAT_OK)
        rc = store_reg_list(ctx->store, &f, csv_row, &cs, NULL);
    if (rc == PLAT_OK)
        rc = plat_fs_write_atomic(file, out.data ? out.data : "", out.len,
                                  0600);
    if (rc < 0)
        goto done;
    if (upload) {
        if (!agent_ctx_quiet(ctx))
            fprintf(stderr, "wrote %s: %lld registrations, %zu columns\n",
                    file, (long long)cs.rows, cs.n_cols);
        rc = agent_kobo_media_upload(ctx, pos[0], out.data ? out.data : "",
                                     out.len, no_sync);
        goto done;
    }
    if (ctx->g.json) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddStringToObject(o, "file", file) ||
            !cJSON_AddNumberToObject(o, "rows", (double)cs.rows) ||
            !cJSON_AddNumberToObject(o, "columns", (double)cs.n_cols))
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        else
            rc = agent_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("wrote %s: %lld registrations, %zu columns\n", file,
               (long long)cs.rows, cs.n_cols);
    }
done:
    plat_free((void *)cs.cols);
    cJSON_Delete(program);
    plat_buf_dispose(&out);
    forms_free(forms, n);
    plat_free(pos);
    return rc;
}

int agent_cmd_kobo_validation_csv(struct agent_ctx *ctx, int argc,
                                  char **argv)
{
    return kobo_validation_csv(ctx, argc, argv);
}

int agent_cmd_kobo_program(struct agent_ctx *ctx, int argc, char **argv)
{
    return kobo_program(ctx, argc, argv);
}

int agent_cmd_kobo_setup(struct agent_ctx *ctx, int argc, char **argv)
{
    return kobo_setup(ctx, argc, argv);
}

int agent_cmd_kobo_status(struct agent_ctx *ctx, int argc, char **argv)
{
    return kobo_status(ctx, argc, argv);
}

int agent_cmd_kobo_rejected(struct agent_ctx *ctx, int argc, char **argv)
{
    return kobo_rejected(ctx, argc, argv);
}

int agent_cmd_kobo_retry(struct agent_ctx *ctx, int argc, char **argv)
{
    return kobo_retry(ctx, argc, argv);
}
