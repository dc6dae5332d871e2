/*
 * cmd_conflicts.c - `agent conflicts list|show|resolve`: fields changed
 * on this device and on the server since the device saw them, and how a
 * person settles them.
 */
#include "cli.h"
#include "cmd_util.h"
#include "output.h"

#include "c121_model.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_conflicts.h"
#include "store_program.h"
#include "store_registrations.h"
#include "store_sync.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

static cJSON *conflict_json(const struct store_conflict *c)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    if (!cJSON_AddNumberToObject(o, "id", (double)c->id) ||
        !cJSON_AddStringToObject(o, "referenceId",
                                 c->reference_id ? c->reference_id : "") ||
        !cJSON_AddStringToObject(o, "field", c->field ? c->field : "") ||
        agent_json_put(o, "base", agent_json_from_text(c->base_value)) < 0 ||
        agent_json_put(o, "local", agent_json_from_text(c->local_value)) < 0
        || agent_json_put(o, "server",
                          agent_json_from_text(c->server_value)) < 0 ||
        !cJSON_AddStringToObject(o, "state", c->state ? c->state : "") ||
        agent_json_put(o, "resolution", c->resolution ?
                       cJSON_CreateString(c->resolution) :
                       cJSON_CreateNull()) < 0 ||
        !cJSON_AddNumberToObject(o, "outbox_seq", (double)c->outbox_seq) ||
        !cJSON_AddStringToObject(o, "created_at",
                                 c->created_at ? c->created_at : "") ||
        !cJSON_AddStringToObject(o, "source", c->source ? c->source : "")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int collect(const struct store_conflict *c, void *payload)
{
    cJSON *o = conflict_json(c);

    if (!o)
        return plat_err_set(ERR_NOMEM, "out of memory");
    cJSON_AddItemToArray(payload, o);
    return 0;
}

static int list_all(struct agent_ctx *ctx, const char *state, cJSON **out)
{
    int rc;

    *out = cJSON_CreateArray();
    if (!*out)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = store_conflict_list(ctx->store, state, collect, *out);
    return rc;
}

/* A JSON value member as text for a table cell (allocated). */
static char *member_text(const cJSON *o, const char *key)
{
    return agent_json_text(cJSON_GetObjectItemCaseSensitive(o, key));
}

static int print_table(const cJSON *arr)
{
    static const char *const headers[7] = { "id", "referenceId", "field",
                                            "base", "local", "server",
                                            "state" };
    static const char *const keys[3] = { "base", "local", "server" };
    struct agent_table t;
    const cJSON *o;
    int rc = PLAT_OK;

    agent_table_init(&t, 7, headers);
    cJSON_ArrayForEach(o, arr) {
        char id[24];
        char *vals[3] = { NULL, NULL, NULL };
        const char *cells[7];

        for (int i = 0; i < 3; i++) {
            vals[i] = member_text(o, keys[i]);
            if (!vals[i])
                rc = ERR_NOMEM;
        }
        snprintf(id, sizeof(id), "%.0f",
                 cJSON_GetObjectItemCaseSensitive(o, "id")->valuedouble);
        cells[0] = id;
        cells[1] = agent_json_str(o, "referenceId");
        cells[2] = agent_json_str(o, "field");
        cells[3] = vals[0];
        cells[4] = vals[1];
        cells[5] = vals[2];
        cells[6] = agent_json_str(o, "state");
        if (rc == PLAT_OK)
            rc = agent_table_add(&t, cells);
        for (int i = 0; i < 3; i++)
            plat_free(vals[i]);
        if (rc < 0)
            break;
    }
    if (rc == PLAT_OK)
        agent_table_print(&t, stdout);
    agent_table_dispose(&t);
    return rc;
}

int agent_cmd_conflicts_list(struct agent_ctx *ctx, int argc, char **argv)
{
    int all = 0, npos = 0, rc;
    const struct agent_opt opts[] = {
        { "--all", AGENT_OPT_FLAG, &all, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    cJSON *arr = NULL;
    char **pos = NULL;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        return rc;
    rc = list_all(ctx, all ? NULL : "open", &arr);
    if (rc == PLAT_OK)
        rc = ctx->g.json ? agent_print_json(arr) : print_table(arr);
    cJSON_Delete(arr);
    plat_free(pos);
    return rc;
}

int agent_cmd_conflicts_show(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    cJSON *arr = NULL;
    const cJSON *o, *found = NULL;
    char **pos = NULL;
    int npos = 0, id = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "ID", &pos, &npos);
    if (rc < 0)
        return rc;
    rc = agent_cli_parse_int("conflict ID", pos[0], 1, INT_MAX, &id);
    if (rc == PLAT_OK)
        rc = list_all(ctx, NULL, &arr);
    if (rc < 0)
        goto done;
    cJSON_ArrayForEach(o, arr) {
        if (cJSON_GetObjectItemCaseSensitive(o, "id")->valuedouble == id)
            found = o;
    }
    if (!found) {
        rc = plat_err_set(ERR_NOTFOUND, "no conflict with id %d", id);
        goto done;
    }
    if (ctx->g.json) {
        rc = agent_print_json(found);
        goto done;
    }
    cJSON_ArrayForEach(o, found) {
        char *text = agent_json_text(o);

        if (!text) {
            rc = ERR_NOMEM;
            goto done;
        }
        agent_print_kv(stdout, 12, o->string, text);
        plat_free(text);
    }
done:
    cJSON_Delete(arr);
    plat_free(pos);
    return rc;
}

/* "included, paused, ..." without the statuses a device cannot request. */
static void settable_targets(const char *from, char *out, size_t n)
{
    const char *p = c121_status_targets(from);
    size_t len = 0;

    out[0] = '\0';
    while (*p) {
        const char *end = strchr(p, ',');
        size_t wl = end ? (size_t)(end - p) : strlen(p);
        char word[16];

        if (wl < sizeof(word)) {
            memcpy(word, p, wl);
            word[wl] = '\0';
            if (c121_status_settable(word)) {
                len += (size_t)snprintf(out + len, len < n ? n - len : 0,
                                        "%s%s", len ? ", " : "", word);
                if (len >= n)
                    break;
            }
        }
        if (!end)
            break;
        p = end + 2;
    }
    if (!out[0])
        snprintf(out, n, "none");
}

/* A status conflict settled with the device's status or a given one makes
 * a status change, and the store does not know the 121 status table:
 * check the change here first (same messages as before the table moved
 * out of the store). Anything else is left to store_conflict_resolve. */
static int check_status_resolution(struct agent_ctx *ctx, int id,
                                   const char *how, const char *value_json)
{
    cJSON *c = NULL, *reg = NULL, *v = NULL;
    const cJSON *field, *state, *ref, *pick;
    char allowed[96];
    const char *from, *to;
    int rc;

    if (strcmp(how, "server") == 0)
        return PLAT_OK;
    rc = store_conflict_get(ctx->store, id, &c);
    if (rc < 0) {
        plat_err_clear(); /* store_conflict_resolve says what is wrong */
        return PLAT_OK;
    }
    field = cJSON_GetObjectItemCaseSensitive(c, "field");
    state = cJSON_GetObjectItemCaseSensitive(c, "state");
    ref = cJSON_GetObjectItemCaseSensitive(c, "referenceId");
    if (!cJSON_IsString(field) || strcmp(field->valuestring, "status") != 0 ||
        !cJSON_IsString(state) || strcmp(state->valuestring, "open") != 0 ||
        !cJSON_IsString(ref))
        goto done;
    if (strcmp(how, "local") == 0) {
        pick = cJSON_GetObjectItemCaseSensitive(c, "local");
    } else {
        v = value_json ? cJSON_Parse(value_json) : NULL;
        pick = v;
    }
    if (!cJSON_IsString(pick))
        goto done; /* the store refuses it: "a status must be a string" */
    to = pick->valuestring;
    rc = store_reg_get(ctx->store, ref->valuestring, &reg);
    if (rc < 0)
        goto done;
    from = c121_copy_status(reg);
    if (strcmp(from, to) == 0)
        goto done; /* nothing to write */
    if (!c121_status_known(to)) {
        rc = plat_err_set(ERR_INVALID,
                          "unknown status %.20s (one of: validated, "
                          "included, paused, declined, deleted)",
                          agent_printable(to) ? to : "?");
        goto done;
    }
    if (!c121_status_settable(to) ||
        !c121_status_transition_allowed(from, to)) {
        settable_targets(from, allowed, sizeof(allowed));
        rc = plat_err_set(ERR_INVALID,
                          "invalid status change for %s: %s -> %s is not "
                          "allowed (allowed from %s: %s)",
                          ref->valuestring, from, to, from, allowed);
    }

done:
    cJSON_Delete(v);
    cJSON_Delete(reg);
    cJSON_Delete(c);
    return rc;
}

/* `--value V` puts V into the field and the next sync sends it: check it
 * against the program definition (c121_validate_fields), exactly as
 * `registrations edit` checks its values. The status field has its own
 * check (check_status_resolution). */
static int check_value_resolution(struct agent_ctx *ctx, int id,
                                  const char *value_json)
{
    cJSON *c = NULL, *reg = NULL, *def = NULL, *fields = NULL, *v = NULL;
    const cJSON *field, *ref, *pid;
    int program = 0, rc;

    if (store_conflict_get(ctx->store, id, &c) < 0) {
        plat_err_clear(); /* store_conflict_resolve says what is wrong */
        return PLAT_OK;
    }
    rc = PLAT_OK;
    field = cJSON_GetObjectItemCaseSensitive(c, "field");
    ref = cJSON_GetObjectItemCaseSensitive(c, "referenceId");
    if (!cJSON_IsString(field) || !cJSON_IsString(ref) ||
        strcmp(field->valuestring, "status") == 0)
        goto done;
    if (store_reg_get(ctx->store, ref->valuestring, &reg) < 0) {
        plat_err_clear();
        goto done;
    }
    pid = cJSON_GetObjectItemCaseSensitive(reg, "programId");
    if (cJSON_IsNumber(pid) && pid->valueint > 0)
        program = pid->valueint;
    else if ((rc = agent_ctx_program(ctx, 0, &program)) < 0)
        goto done;
    rc = store_program_get(ctx->store, program, &def, NULL);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        def = NULL;
        rc = PLAT_OK;
    }
    if (rc < 0)
        goto done;
    fields = cJSON_CreateObject();
    v = cJSON_Parse(value_json);
    if (!fields || !v ||
        !cJSON_AddItemToObject(fields, field->valuestring, v)) {
        cJSON_Delete(v);
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = c121_validate_fields(def, fields, C121_VALIDATE_EDIT);
    if (rc < 0)
        agent_err_prefix(rc, "conflict %d (%s)", id, ref->valuestring);
done:
    cJSON_Delete(fields);
    cJSON_Delete(def);
    cJSON_Delete(reg);
    cJSON_Delete(c);
    return rc;
}

int agent_cmd_conflicts_resolve(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *take = NULL, *value = NULL;
    const struct agent_opt opts[] = {
        { "--take", AGENT_OPT_STRING, &take, 0, 0 },
        { "--value", AGENT_OPT_STRING, &value, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    cJSON *v = NULL;
    char *value_json = NULL, **pos = NULL;
    const char *how;
    int npos = 0, id = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "ID", &pos, &npos);
    if (rc < 0)
        return rc;
    rc = agent_cli_parse_int("conflict ID", pos[0], 1, INT_MAX, &id);
    if (rc < 0)
        goto done;
    if ((take != NULL) == (value != NULL)) {
        rc = plat_err_set(ERR_USAGE, "conflicts resolve: give either --take "
                          "local|server or --value V");
        goto done;
    }
    if (take && strcmp(take, "local") != 0 && strcmp(take, "server") != 0) {
        rc = plat_err_set(ERR_USAGE, "conflicts resolve: --take must be "
                          "local or server");
        goto done;
    }
    if (value) {
        if ((rc = agent_check_utf8("--value", value)) < 0)
            goto done;
        /* An empty value clears the field, as `registrations edit K=`. */
        v = *value ? cJSON_CreateString(value) : cJSON_CreateNull();
        value_json = v ? cJSON_PrintUnformatted(v) : NULL;
        if (!value_json) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        how = "value";
    } else {
        how = take;
    }
    if ((rc = agent_ctx_open(ctx, AGENT_NEED_WRITE)) < 0)
        goto done;
    rc = check_status_resolution(ctx, id, how, value_json);
    if (rc == PLAT_OK && value_json)
        rc = check_value_resolution(ctx, id, value_json);
    if (rc == PLAT_OK)
        rc = store_conflict_resolve(ctx->store, id, how, value_json);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no open conflict with id %d", id);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddNumberToObject(o, "id", id) ||
            !cJSON_AddStringToObject(o, "resolution", how)) {
            cJSON_Delete(o);
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(o);
        cJSON_Delete(o);
    } else if (!agent_ctx_quiet(ctx)) {
        printf("conflict %d resolved (%s)%s\n", id, how,
               strcmp(how, "server") == 0 ? ""
                   : "; the next sync sends the value");
    }
done:
    cJSON_free(value_json);
    cJSON_Delete(v);
    plat_free(pos);
    return rc;
}
