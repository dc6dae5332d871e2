/*
 * cmd_outbox.c - `agent outbox`: the local operations in the order they
 * were made, with their state, so a person can see what is still waiting
 * for the server and what the server refused.
 */
#include "cli.h"
#include "cmd_kobo_jobs.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "store.h"
#include "store_outbox.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const states[] = { "pending", "inflight", "done",
                                      "conflict", "rejected" };

static int known_state(const char *s)
{
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        if (strcmp(s, states[i]) == 0)
            return 1;
    }
    return 0;
}

/* One entry as JSON; payload and base as JSON values, not strings. */
static cJSON *entry_json(const struct store_outbox_entry *e)
{
    cJSON *o = cJSON_CreateObject();

    if (!o)
        return NULL;
    if (!cJSON_AddNumberToObject(o, "seq", (double)e->seq) ||
        !cJSON_AddStringToObject(o, "op_id", e->op_id ? e->op_id : "") ||
        !cJSON_AddStringToObject(o, "referenceId",
                                 e->reference_id ? e->reference_id : "") ||
        !cJSON_AddNumberToObject(o, "programId", e->program_id) ||
        !cJSON_AddStringToObject(o, "kind", e->kind ? e->kind : "") ||
        !cJSON_AddStringToObject(o, "state", e->state ? e->state : "") ||
        !cJSON_AddNumberToObject(o, "attempts", e->attempts) ||
        !cJSON_AddStringToObject(o, "created_at",
                                 e->created_at ? e->created_at : "") ||
        agent_json_put(o, "payload", agent_json_from_text(e->payload)) < 0 ||
        agent_json_put(o, "base", agent_json_from_text(e->base)) < 0 ||
        agent_json_put(o, "server_message", e->server_message ?
                       cJSON_CreateString(e->server_message) :
                       cJSON_CreateNull()) < 0 ||
        !cJSON_AddStringToObject(o, "target", e->target ? e->target : "") ||
        !cJSON_AddStringToObject(o, "origin", e->origin ? e->origin : "")) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int collect(const struct store_outbox_entry *e, void *payload)
{
    cJSON *o = entry_json(e);

    if (!o)
        return plat_err_set(ERR_NOMEM, "out of memory");
    cJSON_AddItemToArray(payload, o);
    return 0;
}

static double seq_of(const cJSON *o)
{
    return cJSON_GetObjectItemCaseSensitive(o, "seq")->valuedouble;
}

static int by_seq(const void *a, const void *b)
{
    double x = seq_of(*(cJSON *const *)a), y = seq_of(*(cJSON *const *)b);

    return (x > y) - (x < y);
}

/* Sort the entries of `arr` by seq (after merging two lists). */
static int sort_by_seq(cJSON *arr)
{
    int n = cJSON_GetArraySize(arr);
    cJSON **items = plat_calloc((size_t)n + 1, sizeof(*items));

    if (!items)
        return ERR_NOMEM;
    for (int i = n - 1; i >= 0; i--)
        items[i] = cJSON_DetachItemFromArray(arr, i);
    qsort(items, (size_t)n, sizeof(*items), by_seq);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, items[i]);
    plat_free(items);
    return PLAT_OK;
}

/* The names of the fields an entry changes: "fullName,phoneNumber". An
 * edit keeps them under "data" (beside its "reason"). */
static char *field_names(const cJSON *payload)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(payload, "data");
    struct plat_buf b;
    const cJSON *f;

    if (cJSON_IsObject(data))
        payload = data;
    plat_buf_init(&b, 0);
    cJSON_ArrayForEach(f, payload) {
        if (f->string && ((b.len && plat_buf_puts(&b, ",") < 0) ||
                          plat_buf_puts(&b, f->string) < 0))
            return NULL;
    }
    return plat_buf_detach(&b);
}

static int print_table(const cJSON *arr)
{
    static const char *const headers[6] = { "seq", "kind", "referenceId",
                                            "state", "created", "fields" };
    struct agent_table t;
    const cJSON *o;
    int rc = PLAT_OK;

    agent_table_init(&t, 6, headers);
    cJSON_ArrayForEach(o, arr) {
        char seq[24];
        char *fields = field_names(cJSON_GetObjectItemCaseSensitive(
            o, "payload"));
        const char *cells[6] = { seq, agent_json_str(o, "kind"),
                                 agent_json_str(o, "referenceId"),
                                 agent_json_str(o, "state"),
                                 agent_json_str(o, "created_at"), fields };

        if (!fields) {
            rc = ERR_NOMEM;
            break;
        }
        snprintf(seq, sizeof(seq), "%.0f", seq_of(o));
        rc = agent_table_add(&t, cells);
        plat_free(fields);
        if (rc < 0)
            break;
    }
    if (rc == PLAT_OK)
        agent_table_print(&t, stdout);
    agent_table_dispose(&t);
    return rc;
}

int agent_cmd_outbox(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *state = NULL;
    int all = 0, npos = 0, rc;
    const struct agent_opt opts[] = {
        { "--state", AGENT_OPT_STRING, &state, 0, 0 },
        { "--all", AGENT_OPT_FLAG, &all, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    cJSON *arr = NULL;
    char **pos = NULL;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        return rc;
    if (state && !known_state(state)) {
        rc = plat_err_set(ERR_USAGE, "unknown state '%.20s' for --state "
                          "(pending, inflight, done, conflict, rejected)",
                          agent_printable(state) ? state : "?");
        goto done;
    }
    if (state && all) {
        rc = plat_err_set(ERR_USAGE, "--state and --all cannot be combined");
        goto done;
    }
    arr = cJSON_CreateArray();
    if (!arr) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = store_outbox_list(ctx->store, state, collect, arr);
    /* The store lists "not done" by default; --all adds the done ones. */
    if (rc == PLAT_OK && all)
        rc = store_outbox_list(ctx->store, "done", collect, arr);
    if (rc == PLAT_OK && all)
        rc = sort_by_seq(arr);
    if (rc < 0)
        goto done;
    rc = ctx->g.json ? agent_print_json(arr) : print_table(arr);
    /* requests of `kobo program --create` / `validation-csv --upload`
     * waiting for a sync (not registration changes: a table of their own) */
    if (rc == PLAT_OK && !ctx->g.json &&
        agent_kobo_jobs_print_open(ctx->store, stdout) < 0)
        plat_err_clear(); /* a store opened read-only before 0007 */
done:
    cJSON_Delete(arr);
    plat_free(pos);
    return rc;
}
