/*
 * cmd_reg_list.c - reading registrations: `agent registrations show`,
 * `list` and `search`. Reads take no lock: SQLite's WAL lets them run
 * beside a writer.
 */
#include "cli.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "store.h"
#include "store_program.h"
#include "store_registrations.h"
#include "store_search.h"
#include "c121_model.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define LIST_LIMIT_MAX 1000000
#define SHOW_KEY_WIDTH 28

int agent_cmd_reg_show(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    cJSON *reg = NULL, *atts = NULL;
    const cJSON *f;
    char **pos = NULL;
    int npos = 0, width = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "REF", &pos, &npos);
    if (rc < 0)
        return rc;
    rc = agent_check_ref(pos[0]);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = agent_get_registration(ctx->store, pos[0], &reg);
    if (rc == PLAT_OK)
        rc = agent_reg_attachments_json(ctx->store, pos[0], &atts);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        /* files kept for it (Kobo media answers): "_" is never a field */
        if (cJSON_GetArraySize(atts) > 0) {
            cJSON_AddItemToObject(reg, "_attachments", atts);
            atts = NULL;
        }
        rc = agent_print_json(reg);
        goto done;
    }
    cJSON_ArrayForEach(f, reg) {
        int w = (int)strlen(f->string);

        if (w > width)
            width = w > SHOW_KEY_WIDTH ? SHOW_KEY_WIDTH : w;
    }
    cJSON_ArrayForEach(f, reg) {
        char *text = agent_json_text(f);

        if (!text) {
            rc = ERR_NOMEM;
            goto done;
        }
        agent_print_kv(stdout, width, f->string, text);
        plat_free(text);
    }
    agent_reg_attachments_print(atts);
done:
    cJSON_Delete(atts);
    cJSON_Delete(reg);
    plat_free(pos);
    return rc;
}

/* Rows of a list or search: gathered as JSON first, so the table can be
 * built after the store's cursor is closed (the pending count of a row may
 * need a second query). */
struct rows {
    cJSON *array;
    cJSON *naming;      /* the program's fullnameNamingConvention, or NULL */
    int count;
};

/* The name shown for a registration: 121's "name" when the server copy
 * has one, else the program's naming fields joined, else fullName. */
static char *display_name(const cJSON *reg, const cJSON *naming)
{
    const char *name = agent_json_str(reg, "name");
    struct plat_buf b;
    const cJSON *n;

    if (name && *name)
        return plat_strdup(name);
    plat_buf_init(&b, 0);
    cJSON_ArrayForEach(n, naming) {
        const char *part = cJSON_IsString(n) ?
                           agent_json_str(reg, n->valuestring) : NULL;

        if (part && *part &&
            ((b.len && plat_buf_puts(&b, " ") < 0) ||
             plat_buf_puts(&b, part) < 0))
            return NULL;
    }
    if (b.len)
        return plat_buf_detach(&b);
    plat_buf_dispose(&b);
    name = agent_json_str(reg, "fullName");
    return plat_strdup(name ? name : "");
}

static int add_row(const cJSON *reg, void *payload)
{
    struct rows *r = payload;
    cJSON *copy = cJSON_Duplicate(reg, 1);

    if (!copy)
        return plat_err_set(ERR_NOMEM, "out of memory");
    cJSON_AddItemToArray(r->array, copy);
    r->count++;
    return 0;
}

/* Pending operations of a row: "_pending" when the lister gave it, else
 * from the registration's own view. */
static long long pending_of(struct store *s, const cJSON *reg)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(reg, "_pending");
    const char *ref = agent_json_str(reg, "referenceId");
    cJSON *full = NULL;
    long long n = 0;

    if (cJSON_IsNumber(p))
        return (long long)p->valuedouble;
    if (ref && store_reg_get(s, ref, &full) == PLAT_OK) {
        p = cJSON_GetObjectItemCaseSensitive(full, "_pending");
        n = cJSON_IsNumber(p) ? (long long)p->valuedouble : 0;
    }
    plat_err_clear();
    cJSON_Delete(full);
    return n;
}

static const char *const row_headers[5] = {
    "referenceId", "status", "name", "phone", "pending"
};

static int print_table(struct store *s, const struct rows *r)
{
    struct agent_table t;
    const cJSON *reg;
    int rc = PLAT_OK;

    agent_table_init(&t, 5, row_headers);
    cJSON_ArrayForEach(reg, r->array) {
        char pend[24];
        char *name = display_name(reg, r->naming);
        const char *cells[5] = { agent_json_str(reg, "referenceId"),
                                 agent_json_str(reg, "status"), name,
                                 agent_json_str(reg, "phoneNumber"), pend };

        if (!name) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(pend, sizeof(pend), "%lld", pending_of(s, reg));
        rc = agent_table_add(&t, cells);
        plat_free(name);
        if (rc < 0)
            break;
    }
    if (rc == PLAT_OK)
        agent_table_print(&t, stdout);
    agent_table_dispose(&t);
    return rc;
}

/* Prepare `r`; for a table, the naming convention of `program` (0: the
 * configured one) is looked up for the name column. */
static int rows_init(struct agent_ctx *ctx, struct rows *r, int program)
{
    cJSON *prog = NULL;

    memset(r, 0, sizeof(*r));
    r->array = cJSON_CreateArray();
    if (!r->array)
        return plat_err_set(ERR_NOMEM, "out of memory");
    if (ctx->g.json)
        return PLAT_OK;
    if (program <= 0)
        program = ctx->cfg.program_id;
    if (program > 0 &&
        store_program_get(ctx->store, program, &prog, NULL) == PLAT_OK) {
        r->naming = cJSON_DetachItemFromObjectCaseSensitive(
            prog, "fullnameNamingConvention");
        if (!cJSON_IsArray(r->naming)) {
            cJSON_Delete(r->naming);
            r->naming = NULL;
        }
    }
    cJSON_Delete(prog);
    plat_err_clear(); /* no program stored: names fall back to fullName */
    return PLAT_OK;
}

static int rows_print(struct agent_ctx *ctx, struct rows *r)
{
    if (ctx->g.json)
        return agent_print_json(r->array);
    return print_table(ctx->store, r);
}

static void rows_dispose(struct rows *r)
{
    cJSON_Delete(r->array);
    cJSON_Delete(r->naming);
}

int agent_cmd_reg_list(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *status = NULL, *where = NULL;
    int limit = 0, offset = 0, program = 0, npos = 0, rc;
    const struct agent_opt opts[] = {
        { "--status", AGENT_OPT_STRING, &status, 0, 0 },
        { "--where", AGENT_OPT_STRING, &where, 0, 0 },
        { "--limit", AGENT_OPT_INT, &limit, 1, LIST_LIMIT_MAX },
        { "--offset", AGENT_OPT_INT, &offset, 0, INT_MAX },
        { "--program", AGENT_OPT_INT, &program, 1, INT_MAX },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct store_reg_filter f = { 0 };
    struct rows r;
    char *attr = NULL;
    char **pos = NULL;
    int64_t total = 0;
    int rows_ready = 0;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        return rc;
    if (status && !c121_status_known(status)) {
        rc = plat_err_set(ERR_USAGE, "unknown status '%.20s' for --status",
                          agent_printable(status) ? status : "?");
        goto done;
    }
    if (where) {
        const char *eq = strchr(where, '=');

        if (!eq || eq == where) {
            rc = plat_err_set(ERR_USAGE, "--where needs KEY=VALUE");
            goto done;
        }
        attr = plat_strndup(where, (size_t)(eq - where));
        if (!attr) {
            rc = ERR_NOMEM;
            goto done;
        }
        if ((rc = agent_check_utf8("the --where field", attr)) < 0 ||
            (rc = agent_check_utf8("the --where value", eq + 1)) < 0)
            goto done;
        f.attr_name = attr;
        f.attr_value = eq + 1;
    }
    f.program_id = program;
    f.status = status;
    f.limit = limit;
    f.offset = offset;
    rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = rows_init(ctx, &r, program);
    if (rc < 0)
        goto done;
    rows_ready = 1;
    rc = store_reg_list(ctx->store, &f, add_row, &r, &total);
    if (rc < 0)
        goto done;
    rc = rows_print(ctx, &r);
    if (rc == PLAT_OK && !ctx->g.json && !agent_ctx_quiet(ctx)) {
        fflush(stdout);
        if (r.count)
            fprintf(stderr, "showing %d-%d of %lld\n", offset + 1,
                    offset + r.count, (long long)total);
        else
            fprintf(stderr, "showing 0 of %lld\n", (long long)total);
    }
done:
    if (rows_ready)
        rows_dispose(&r);
    plat_free(attr);
    plat_free(pos);
    return rc;
}

int agent_cmd_reg_search(struct agent_ctx *ctx, int argc, char **argv)
{
    int limit = 0, npos = 0, rows_ready = 0, rc;
    const struct agent_opt opts[] = {
        { "--limit", AGENT_OPT_INT, &limit, 1, LIST_LIMIT_MAX },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    char **pos = NULL;
    struct rows r;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "TEXT", &pos, &npos);
    if (rc < 0)
        return rc;
    if (!*pos[0]) {
        rc = plat_err_set(ERR_USAGE, "search needs a non-empty TEXT");
        goto done;
    }
    rc = agent_check_utf8("the search text", pos[0]);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = rows_init(ctx, &r, 0);
    if (rc < 0)
        goto done;
    rows_ready = 1;
    rc = store_reg_search(ctx->store, pos[0], limit, add_row, &r);
    if (rc == PLAT_OK)
        rc = rows_print(ctx, &r);
    if (rc == PLAT_OK && !agent_ctx_quiet(ctx)) {
        int pending = 0;

        /* The results are whole either way; say why it was slow. */
        if (store_search_pending(ctx->store, &pending) == PLAT_OK && pending)
            fprintf(stderr, "agent: note: the search index is being built "
                    "(by the next sync after a first pull): this search read "
                    "every registration\n");
        plat_err_clear();
    }
done:
    if (rows_ready)
        rows_dispose(&r);
    plat_free(pos);
    return rc;
}
