/*
 * cmd_program.c - `agent program import FILE` and `agent program show`.
 *
 * A program definition is what makes offline validation possible: without
 * it, entries are checked for form only. Import takes the body of GET
 * /api/programs/{id} as saved from 121, or a contract fixture that wraps
 * it in {"_http": ..., "body": ...}.
 */
#include "cli.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"
#include "store.h"
#include "store_program.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static int array_size(const cJSON *obj, const char *key)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
}

int agent_cmd_program_import(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    cJSON *doc = NULL, *out = NULL;
    const cJSON *program, *body, *id;
    char **pos = NULL;
    int npos = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "FILE", &pos, &npos);
    if (rc < 0)
        return rc;
    rc = agent_read_json_file(pos[0], &doc);
    if (rc < 0)
        goto done;
    program = doc;
    body = cJSON_GetObjectItemCaseSensitive(doc, "body");
    if (cJSON_IsObject(body) &&
        cJSON_GetObjectItemCaseSensitive(doc, "_http"))
        program = body;
    id = cJSON_GetObjectItemCaseSensitive(program, "id");
    if (!cJSON_IsObject(program) || !cJSON_IsNumber(id) ||
        id->valuedouble < 1 || id->valuedouble > INT_MAX ||
        id->valuedouble != (double)id->valueint) {
        rc = plat_err_set(ERR_INVALID, "%s: not a 121 program definition "
                          "(no numeric \"id\")", pos[0]);
        goto done;
    }
    rc = agent_ctx_open(ctx, AGENT_NEED_WRITE);
    if (rc < 0)
        goto done;
    rc = store_program_put(ctx->store, program, NULL);
    if (rc < 0) {
        agent_err_prefix(rc, "%s", pos[0]);
        goto done;
    }
    log_debug("program %d imported from %s", id->valueint, pos[0]);
    if (ctx->g.json) {
        out = cJSON_CreateObject();
        if (!out || !cJSON_AddNumberToObject(out, "programId", id->valueint)) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(out);
    } else {
        printf("program %d stored (%d attributes, %d languages, %d FSP "
               "configurations)\n", id->valueint,
               array_size(program, "programRegistrationAttributes"),
               array_size(program, "languages"),
               array_size(program, "programFspConfigurations"));
    }
done:
    cJSON_Delete(out);
    cJSON_Delete(doc);
    plat_free(pos);
    return rc;
}

/* A label object {"en": "..."} as text: English if there, else the first. */
static const char *label_text(const cJSON *label)
{
    const char *en = agent_json_str(label, "en");

    if (en)
        return en;
    if (cJSON_IsObject(label) && cJSON_IsString(label->child))
        return label->child->valuestring;
    return cJSON_IsString(label) ? label->valuestring : "";
}

/* Strings of an array joined by ", " (for languages, option keys...).
 * Items that are objects contribute their `key` member. */
static char *join(const cJSON *arr, const char *key)
{
    struct plat_buf b;
    const cJSON *it;

    plat_buf_init(&b, 0);
    cJSON_ArrayForEach(it, arr) {
        const char *s = cJSON_IsString(it) ? it->valuestring :
                        key ? agent_json_str(it, key) : NULL;

        if (s && ((b.len && plat_buf_puts(&b, ", ") < 0) ||
                  plat_buf_puts(&b, s) < 0))
            return NULL;
    }
    return plat_buf_detach(&b);
}

static int show_text(const cJSON *p)
{
    static const char *const headers[4] = { "attribute", "type", "required",
                                            "options" };
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(
        p, "programRegistrationAttributes");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "id");
    const cJSON *a;
    struct agent_table t;
    char *langs = join(cJSON_GetObjectItemCaseSensitive(p, "languages"),
                       NULL);
    char *fsps = join(cJSON_GetObjectItemCaseSensitive(
                          p, "programFspConfigurations"), "name");
    int rc = PLAT_OK;

    agent_table_init(&t, 4, headers);
    if (!langs || !fsps) {
        rc = ERR_NOMEM;
        goto done;
    }
    printf("%-10s  %d\n", "id", cJSON_IsNumber(id) ? id->valueint : 0);
    agent_print_kv(stdout, 10, "ngo", agent_json_str(p, "ngo"));
    agent_print_kv(stdout, 10, "title", label_text(
                       cJSON_GetObjectItemCaseSensitive(p, "titlePortal")));
    agent_print_kv(stdout, 10, "languages", langs);
    agent_print_kv(stdout, 10, "fsp", fsps);
    putchar('\n');
    cJSON_ArrayForEach(a, attrs) {
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(a, "isRequired");
        char *options = join(cJSON_GetObjectItemCaseSensitive(a, "options"),
                             "option");
        const char *cells[4] = { agent_json_str(a, "name"),
                                 agent_json_str(a, "type"),
                                 cJSON_IsTrue(req) ? "yes" : "no", options };

        if (!options) {
            rc = ERR_NOMEM;
            goto done;
        }
        rc = agent_table_add(&t, cells);
        plat_free(options);
        if (rc < 0)
            goto done;
    }
    agent_table_print(&t, stdout);
done:
    agent_table_dispose(&t);
    plat_free(langs);
    plat_free(fsps);
    return rc;
}

int agent_cmd_program_show(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    cJSON *prog = NULL;
    char **pos = NULL;
    int npos = 0, id = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 1, "at most one ID", &pos,
                        &npos);
    if (rc < 0)
        return rc;
    if (npos == 1)
        rc = agent_cli_parse_int("program ID", pos[0], 1, INT_MAX, &id);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = agent_ctx_program(ctx, id, &id);
    if (rc < 0)
        goto done;
    rc = store_program_get(ctx->store, id, &prog, NULL);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no definition of program %d is "
                          "stored (run `agent program import FILE`)", id);
    if (rc < 0)
        goto done;
    rc = ctx->g.json ? agent_print_json(prog) : show_text(prog);
done:
    cJSON_Delete(prog);
    plat_free(pos);
    return rc;
}
