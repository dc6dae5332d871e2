/*
 * cmd_config.c - `agent config check|show|path`.
 */
#include "cli.h"
#include "store.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_CHECK_MAX (1024 * 1024)

/* Commands of this file take no arguments. */
static int no_args(struct agent_ctx *ctx, int argc, char **argv)
{
    char **pos = plat_calloc((size_t)argc + 1, sizeof(*pos));
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    int npos = 0, rc;

    if (!pos)
        return ERR_NOMEM;
    rc = agent_cli_parse_opts(ctx->cmd_name, argc, argv, opts, pos, &npos);
    if (rc == PLAT_OK && npos > 0)
        rc = plat_err_set(ERR_USAGE, "'%s' takes no arguments",
                          ctx->cmd_name);
    plat_free(pos);
    return rc;
}

struct check_state {
    cJSON *errors; /* --json: array of messages; else NULL */
    int count;
    cJSON *warnings; /* --json: array of warnings; else NULL */
};

static void on_warning(const char *msg, void *payload)
{
    struct check_state *cs = payload;

    if (cs->warnings)
        cJSON_AddItemToArray(cs->warnings, cJSON_CreateString(msg));
    else
        fprintf(stderr, "%s\n", msg);
}

static void on_error(const char *msg, void *payload)
{
    struct check_state *cs = payload;

    cs->count++;
    if (cs->errors)
        cJSON_AddItemToArray(cs->errors, cJSON_CreateString(msg));
    else
        fprintf(stderr, "%s\n", msg);
}

int agent_cmd_config_check(struct agent_ctx *ctx, int argc, char **argv)
{
    struct check_state cs = { NULL, 0, NULL };
    cJSON *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc;

    rc = no_args(ctx, argc, argv);
    if (rc < 0)
        return rc;
    if (ctx->g.json) {
        out = cJSON_CreateObject();
        cs.errors = cJSON_CreateArray();
        cs.warnings = cJSON_CreateArray();
        if (!out || !cs.errors || !cs.warnings) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    rc = plat_fs_read_file(ctx->config_path, CONFIG_CHECK_MAX, &text, &len);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no config at %s (run `agent init`)",
                          ctx->config_path);
    if (rc < 0)
        goto done;
    plat_free(ctx->cfg.file);
    ctx->cfg.file = plat_strdup(ctx->config_path);
    if (!ctx->cfg.file) {
        rc = ERR_NOMEM;
        goto done;
    }
    if (agent_config_mode_check(ctx->config_path, NULL) == ERR_CONFIG)
        on_error(plat_err_msg(), &cs);
    plat_err_clear();
    if (strlen(text) != len) {
        char msg[600];

        snprintf(msg, sizeof(msg), "%s: contains a NUL byte",
                 ctx->config_path);
        on_error(msg, &cs);
    } else if (agent_config_parse_all(&ctx->cfg, ctx->config_path, text,
                                      on_error, &cs) == PLAT_OK &&
               agent_config_validate(&ctx->cfg) < 0) {
        /* Cross-key checks only make sense on a file that parsed. */
        on_error(plat_err_msg(), &cs);
    } else if (cs.count == 0) {
        /* the [espocrm] mapping, against the stored program if any */
        struct store *s = NULL;

        if (agent_store_open(&ctx->cfg, STORE_READONLY, &s) < 0)
            plat_err_clear();
        if (agent_espocrm_check(&ctx->cfg, s) < 0)
            on_error(plat_err_msg(), &cs);
        if (s)
            store_close(s);
        agent_kobo_check(ctx, on_error, &cs);
    }
    /* Warnings never fail the check; they only make sense on what
     * parsed (a half-parsed file still has its good keys). */
    agent_config_warnings(&ctx->cfg, on_warning, &cs);
    plat_err_clear();
    if (out) {
        rc = agent_json_put(out, "errors", cs.errors);
        cs.errors = NULL;
        if (rc == PLAT_OK) {
            rc = agent_json_put(out, "warnings", cs.warnings);
            cs.warnings = NULL;
        }
        if (rc == PLAT_OK &&
            (!cJSON_AddStringToObject(out, "config", ctx->config_path) ||
             !cJSON_AddBoolToObject(out, "ok", cs.count == 0)))
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        if (rc == PLAT_OK)
            rc = agent_print_json(out);
        if (rc < 0)
            goto done;
    } else if (cs.count == 0) {
        printf("%s: ok\n", ctx->config_path);
    }
    if (cs.count > 0)
        rc = plat_err_set(ERR_CONFIG, "%s: %d error%s", ctx->config_path,
                          cs.count, cs.count == 1 ? "" : "s");
done:
    cJSON_Delete(cs.errors);
    cJSON_Delete(cs.warnings);
    cJSON_Delete(out);
    plat_free(text);
    return rc;
}

struct show_state {
    cJSON *obj; /* --json; else NULL: print lines */
};

static int show_key(const char *key, const char *value, int is_number,
                    void *payload)
{
    struct show_state *ss = payload;
    cJSON *v;

    if (!ss->obj) {
        printf("%s = %s\n", key, value);
        return 0;
    }
    if (!*value)
        v = cJSON_CreateNull();
    else if (is_number)
        v = cJSON_CreateNumber((double)strtol(value, NULL, 10));
    else
        v = cJSON_CreateString(value);
    return agent_json_put(ss->obj, key, v);
}

/* Where the password would come from; never the password itself. */
static const char *password_source(const struct agent_config *cfg)
{
    const char *env = getenv("AGENT_121_PASSWORD");
    const char *file = agent_config_get(cfg, "121", "password_file");

    if (env && *env)
        return "AGENT_121_PASSWORD";
    if (file && *file)
        return "121.password_file";
    return "not set";
}

int agent_cmd_config_show(struct agent_ctx *ctx, int argc, char **argv)
{
    struct show_state ss = { NULL };
    int rc;

    rc = no_args(ctx, argc, argv);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_CONFIG);
    if (rc < 0)
        return rc;
    if (ctx->g.json) {
        ss.obj = cJSON_CreateObject();
        if (!ss.obj ||
            !cJSON_AddStringToObject(ss.obj, "config", ctx->config_path)) {
            cJSON_Delete(ss.obj);
            return plat_err_set(ERR_NOMEM, "out of memory");
        }
    } else {
        printf("# %s\n", ctx->config_path);
    }
    rc = agent_config_foreach(&ctx->cfg, show_key, &ss);
    if (rc < 0)
        goto done;
    if (ss.obj) {
        if (!cJSON_AddStringToObject(ss.obj, "password",
                                     password_source(&ctx->cfg)))
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        else
            rc = agent_print_json(ss.obj);
    } else {
        printf("# password: %s\n", password_source(&ctx->cfg));
    }
done:
    if (rc == ERR_NOMEM && !*plat_err_msg())
        plat_err_set(ERR_NOMEM, "out of memory");
    cJSON_Delete(ss.obj);
    return rc;
}

int agent_cmd_config_path(struct agent_ctx *ctx, int argc, char **argv)
{
    cJSON *out;
    int rc;

    rc = no_args(ctx, argc, argv);
    if (rc < 0)
        return rc;
    if (!ctx->g.json) {
        printf("%s\n", ctx->config_path);
        return PLAT_OK;
    }
    out = cJSON_CreateObject();
    if (!out || !cJSON_AddStringToObject(out, "config", ctx->config_path)) {
        cJSON_Delete(out);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_AddBoolToObject(out, "exists", plat_fs_exists(ctx->config_path));
    rc = agent_print_json(out);
    cJSON_Delete(out);
    return rc;
}
