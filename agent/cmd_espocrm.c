/*
 * cmd_espocrm.c - `agent espocrm setup` (write the [espocrm] section) and
 * `agent espocrm status` (records linked, pending each way, conflicts,
 * cursor, last sync), and the mapping check of `agent config check`.
 * The connector is sync/connectors/espocrm/ (espo.h).
 */
#include "cli.h"
#include "cmd_util.h"
#include "output.h"

#include "espo.h"
#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "store.h"
#include "store_conflicts.h"
#include "store_program.h"
#include "sync_connector.h"
#include "sync_ctx.h"
#include "sync_engine.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAPPING_MAX ((size_t)1024 * 1024)

static int read_mapping(const char *path, struct espo_map *m)
{
    char *text = NULL;
    size_t len = 0;
    int rc = plat_fs_read_file(path, MAPPING_MAX, &text, &len);

    if (rc == ERR_NOTFOUND)
        return plat_err_set(ERR_CONFIG, "mapping file %s does not exist",
                            path);
    if (rc < 0)
        return rc;
    rc = espo_map_parse(text, m);
    plat_free(text);
    return rc;
}

int agent_espocrm_check(const struct agent_config *cfg, struct store *s)
{
    const struct sync_source_conf *sc = agent_config_source(cfg, "espocrm");
    const char *path = sc ? sync_source_conf_get(sc, "mapping") : NULL;
    struct espo_map m;
    cJSON *program = NULL;
    int rc;

    if (!sc || !sc->enabled)
        return PLAT_OK;
    if (!path || !*path)
        return plat_err_set(ERR_CONFIG, "[espocrm] mapping is not set");
    if (!sync_source_conf_get(sc, "reference_field"))
        return plat_err_set(ERR_CONFIG, "[espocrm] reference_field is not "
                            "set");
    if ((rc = read_mapping(path, &m)) < 0)
        return rc;
    if (s && cfg->program_id > 0) {
        rc = store_program_get(s, cfg->program_id, &program, NULL);
        if (rc == PLAT_OK)
            rc = espo_map_check_program(&m, program);
        else if (rc == ERR_NOTFOUND)
            rc = PLAT_OK;    /* no program stored yet: checked at sync */
        cJSON_Delete(program);
    }
    espo_map_dispose(&m);
    if (rc == PLAT_OK)
        plat_err_clear();
    return rc;
}

static int absolute(const char *path, char **out)
{
    char cwd[PATH_MAX];

    if (path[0] == '/') {
        *out = plat_strdup(path);
    } else {
        if (!getcwd(cwd, sizeof(cwd)))
            return plat_err_set(ERR_IO, "cannot find the current directory");
        *out = plat_asprintf("%s/%s", cwd, path);
    }
    return *out ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
}

int agent_cmd_espocrm_setup(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *url = NULL, *entity = NULL, *ref = NULL, *mapping = NULL,
               *auth = NULL, *key_file = NULL, *secret_file = NULL,
               *new_records = NULL, *defaults = NULL, *deleted = NULL,
               *create_in = NULL;
    char pid[24];
    const struct agent_opt opts[] = {
        { "--url", AGENT_OPT_STRING, &url, 0, 0 },
        { "--entity", AGENT_OPT_STRING, &entity, 0, 0 },
        { "--reference-field", AGENT_OPT_STRING, &ref, 0, 0 },
        { "--mapping", AGENT_OPT_STRING, &mapping, 0, 0 },
        { "--auth", AGENT_OPT_STRING, &auth, 0, 0 },
        { "--api-key-file", AGENT_OPT_STRING, &key_file, 0, 0 },
        { "--secret-file", AGENT_OPT_STRING, &secret_file, 0, 0 },
        { "--new-records", AGENT_OPT_STRING, &new_records, 0, 0 },
        { "--create-defaults", AGENT_OPT_STRING, &defaults, 0, 0 },
        { "--deleted", AGENT_OPT_STRING, &deleted, 0, 0 },
        { "--create-in-espocrm", AGENT_OPT_STRING, &create_in, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    char **pos = plat_calloc((size_t)argc + 1, sizeof(*pos));
    char *map_abs = NULL, *url_copy = NULL, *kf = NULL, *sf = NULL;
    struct plat_buf text;
    struct espo_map m;
    cJSON *out = NULL;
    int npos = 0, rc;
    size_t n;

    plat_buf_init(&text, 0);
    if (!pos)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = agent_cli_parse_opts(ctx->cmd_name, argc, argv, opts, pos, &npos);
    if (rc == PLAT_OK && npos > 0)
        rc = plat_err_set(ERR_USAGE, "'%s' takes no arguments",
                          ctx->cmd_name);
    if (rc == PLAT_OK && (!url || !entity || !ref || !mapping))
        rc = plat_err_set(ERR_USAGE, "espocrm setup needs --url, --entity, "
                          "--reference-field and --mapping");
    if (rc == PLAT_OK && auth && strcmp(auth, "apikey") != 0 &&
        strcmp(auth, "hmac") != 0)
        rc = plat_err_set(ERR_USAGE, "--auth must be apikey or hmac");
    if (rc == PLAT_OK && deleted && strcmp(deleted, "ignore") != 0 &&
        strcmp(deleted, "report") != 0 && strcmp(deleted, "status") != 0)
        rc = plat_err_set(ERR_USAGE, "--deleted must be ignore, report or "
                          "status");
    if (rc == PLAT_OK && create_in && strcmp(create_in, "true") != 0 &&
        strcmp(create_in, "false") != 0)
        rc = plat_err_set(ERR_USAGE, "--create-in-espocrm must be true or "
                          "false");
    if (rc < 0)
        goto done;
    if ((rc = agent_ctx_open(ctx, AGENT_NEED_CONFIG)) < 0)
        goto done;
    /* the mapping must parse before anything is written */
    if ((rc = read_mapping(mapping, &m)) < 0)
        goto done;
    espo_map_dispose(&m);
    if ((rc = absolute(mapping, &map_abs)) < 0 ||
        (key_file && (rc = absolute(key_file, &kf)) < 0) ||
        (secret_file && (rc = absolute(secret_file, &sf)) < 0))
        goto done;
    url_copy = plat_strdup(url);
    if (!url_copy) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    n = strlen(url_copy);
    while (n > 0 && url_copy[n - 1] == '/')
        url_copy[--n] = '\0';
    if ((rc = agent_config_set(&ctx->cfg, "espocrm", "url", url_copy)) < 0 ||
        (rc = agent_config_set(&ctx->cfg, "espocrm", "entity", entity)) < 0 ||
        (rc = agent_config_set(&ctx->cfg, "espocrm", "reference_field",
                               ref)) < 0 ||
        (rc = agent_config_set(&ctx->cfg, "espocrm", "mapping",
                               map_abs)) < 0 ||
        (auth && (rc = agent_config_set(&ctx->cfg, "espocrm", "auth",
                                        auth)) < 0) ||
        (kf && (rc = agent_config_set(&ctx->cfg, "espocrm", "api_key_file",
                                      kf)) < 0) ||
        (sf && (rc = agent_config_set(&ctx->cfg, "espocrm", "secret_file",
                                      sf)) < 0) ||
        (new_records && (rc = agent_config_set(&ctx->cfg, "espocrm",
                                               "new_records",
                                               new_records)) < 0) ||
        (defaults && (rc = agent_config_set(&ctx->cfg, "espocrm",
                                            "create_defaults",
                                            defaults)) < 0) ||
        (deleted && (rc = agent_config_set(&ctx->cfg, "espocrm", "deleted",
                                           deleted)) < 0) ||
        (create_in && (rc = agent_config_set(&ctx->cfg, "espocrm",
                                             "create_in_espocrm",
                                             create_in)) < 0) ||
        (rc = agent_config_set(&ctx->cfg, "espocrm", "enabled", "true")) < 0)
        goto done;
    /* registrations made from EspoCRM records go to the [121] program */
    if (ctx->cfg.program_id > 0 &&
        !agent_config_get(&ctx->cfg, "espocrm", "program_id")) {
        snprintf(pid, sizeof(pid), "%d", ctx->cfg.program_id);
        if ((rc = agent_config_set(&ctx->cfg, "espocrm", "program_id",
                                   pid)) < 0)
            goto done;
    }
    if ((rc = agent_config_format(&ctx->cfg, &text)) < 0)
        goto done;
    rc = plat_fs_write_atomic(ctx->config_path, text.data, text.len, 0600);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        out = cJSON_CreateObject();
        if (!out || !cJSON_AddStringToObject(out, "config", ctx->config_path)
            || !cJSON_AddStringToObject(out, "mapping", map_abs)) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(out);
    } else {
        printf("wrote [espocrm] to %s\n", ctx->config_path);
        if (!agent_ctx_quiet(ctx))
            printf("The key is not stored in the config: set "
                   "AGENT_ESPOCRM_API_KEY (and AGENT_ESPOCRM_SECRET for "
                   "HMAC),\nor give --api-key-file / --secret-file "
                   "(mode 0600).\n");
    }
done:
    cJSON_Delete(out);
    plat_buf_dispose(&text);
    plat_free(map_abs);
    plat_free(url_copy);
    plat_free(kf);
    plat_free(sf);
    plat_free(pos);
    return rc;
}

struct conflict_count {
    const struct espo_map *m;
    int64_t n;
};

static int count_conflict(const struct store_conflict *c, void *payload)
{
    struct conflict_count *cc = payload;
    size_t i;

    for (i = 0; i < cc->m->n; i++)
        if (strcmp(cc->m->v[i].f121, c->field) == 0) {
            cc->n++;
            break;
        }
    return 0;
}

static void put_state(cJSON *o, struct store *s, const char *key,
                      const char *name)
{
    char *v = NULL;

    if (store_state_get(s, key, &v) == PLAT_OK && v && *v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
    plat_free(v);
    plat_err_clear();
}

int agent_cmd_espocrm_status(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    char **pos = plat_calloc((size_t)argc + 1, sizeof(*pos));
    const struct sync_source_conf *sc;
    struct sync_engine_options opt;
    struct sync_summary sum;
    struct sync_ctx *sctx = NULL;
    struct conflict_count cc = { NULL, 0 };
    struct espo_map m;
    cJSON *o = NULL;
    const cJSON *x;
    int npos = 0, rc, have_map = 0;

    memset(&opt, 0, sizeof(opt));
    memset(&sum, 0, sizeof(sum));
    if (!pos)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = agent_cli_parse_opts(ctx->cmd_name, argc, argv, opts, pos, &npos);
    if (rc == PLAT_OK && npos > 0)
        rc = plat_err_set(ERR_USAGE, "'%s' takes no arguments",
                          ctx->cmd_name);
    if (rc < 0 || (rc = agent_ctx_open(ctx, AGENT_NEED_STORE)) < 0)
        goto done;
    sc = agent_config_source(&ctx->cfg, "espocrm");
    if (!sc || !sync_source_conf_get(sc, "mapping")) {
        rc = plat_err_set(ERR_CONFIG, "no [espocrm] section: run `agent "
                          "espocrm setup` first");
        goto done;
    }
    if ((rc = read_mapping(sync_source_conf_get(sc, "mapping"), &m)) < 0)
        goto done;
    have_map = 1;
    if ((rc = sync_ctx_create(&sctx, ctx->store, sc, &opt, NULL, &sum)) < 0 ||
        (rc = espo_status(sctx, &o)) < 0)
        goto done;
    cc.m = &m;
    if ((rc = store_conflict_list(ctx->store, "open", count_conflict,
                                  &cc)) < 0)
        goto done;
    cJSON_AddNumberToObject(o, "conflicts", (double)cc.n);
    cJSON_AddBoolToObject(o, "enabled", sc->enabled);
    put_state(o, ctx->store, "last_sync.espocrm", "last_sync");
    put_state(o, ctx->store, "last_error.espocrm", "last_error");
    if (ctx->g.json) {
        rc = agent_print_json(o);
        goto done;
    }
    x = cJSON_GetObjectItem(o, "cursor");
    printf("enabled             %s\n", sc->enabled ? "yes" : "no");
    printf("records linked      %.0f\n",
           cJSON_GetObjectItem(o, "linked")->valuedouble);
    printf("pending to EspoCRM  %.0f\n",
           cJSON_GetObjectItem(o, "pending_to_espocrm")->valuedouble);
    printf("pending to 121      %.0f\n",
           cJSON_GetObjectItem(o, "pending_to_121")->valuedouble);
    printf("open conflicts      %lld\n", (long long)cc.n);
    printf("cursor (modifiedAt) %s\n",
           cJSON_IsString(x) ? x->valuestring : "-");
    x = cJSON_GetObjectItem(o, "last_sync");
    printf("last sync           %s\n",
           cJSON_IsString(x) ? x->valuestring : "never");
    x = cJSON_GetObjectItem(o, "last_error");
    if (cJSON_IsString(x))
        printf("last error          %s\n", x->valuestring);
done:
    if (have_map)
        espo_map_dispose(&m);
    sync_ctx_destroy(sctx);
    cJSON_Delete(o);
    plat_free(pos);
    return rc;
}
