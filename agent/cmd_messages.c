/*
 * cmd_messages.c - `agent messages send | list`, `agent templates list |
 * show | set` and `agent program label`: queued on the device through
 * store_dist.h, sent by the next sync (sync/connectors/c121/
 * push_messages.c, push_templates.c).
 */
#include "cli.h"
#include "cmd_dist.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "store.h"
#include "store_dist.h"
#include "store_outbox.h"
#include "store_registrations.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define SEND_MAX 1000000 /* people per send */

struct refs {
    char **v;
    size_t n, cap;
};

static int refs_add(struct refs *r, const char *ref)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        char **g = plat_realloc(r->v, cap * sizeof(*g));

        if (!g)
            return plat_err_set(ERR_NOMEM, "out of memory");
        r->v = g;
        r->cap = cap;
    }
    r->v[r->n] = plat_strdup(ref);
    if (!r->v[r->n])
        return plat_err_set(ERR_NOMEM, "out of memory");
    r->n++;
    return PLAT_OK;
}

static void refs_free(struct refs *r)
{
    for (size_t i = 0; i < r->n; i++)
        plat_free(r->v[i]);
    plat_free(r->v);
}

static int collect_ref(const cJSON *reg, void *payload)
{
    const char *ref = agent_json_str(reg, "referenceId");
    const char *st = agent_json_str(reg, "status");

    /* Deleted people cannot be messaged on 121. */
    if (!ref || (st && strcmp(st, "deleted") == 0))
        return 0;
    return refs_add(payload, ref);
}

static int template_type_known(const cJSON *tpl, void *payload)
{
    const char **type = payload;

    if (*type && strcmp(agent_json_str(tpl, "type") ? agent_json_str(tpl, "type")
                                                     : "", *type) == 0)
        *type = NULL; /* found */
    return 0;
}

int agent_cmd_messages_send(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *tpl = NULL, *text = NULL, *ref = NULL, *status = NULL;
    const char *attr = NULL, *value = NULL, *missing;
    int all = 0, npos = 0, pid = 0, rc;
    const struct agent_opt opts[] = {
        { "--template", AGENT_OPT_STRING, &tpl, 0, 0 },
        { "--text", AGENT_OPT_STRING, &text, 0, 0 },
        { "--ref", AGENT_OPT_STRING, &ref, 0, 0 },
        { "--status", AGENT_OPT_STRING, &status, 0, 0 },
        { "--attr", AGENT_OPT_STRING, &attr, 0, 0 },
        { "--all", AGENT_OPT_FLAG, &all, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct refs r = { NULL, 0, 0 };
    char **pos = NULL, *key = NULL, *refs_copy = NULL, batch[40];
    cJSON *js = NULL;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        return rc;
    if ((tpl == NULL) == (text == NULL)) {
        rc = plat_err_set(ERR_USAGE, "messages send needs exactly one of "
                          "--template TYPE and --text TEXT");
        goto done;
    }
    if (!ref && !status && !attr && !all) {
        rc = plat_err_set(ERR_USAGE, "messages send needs --ref REF[,REF...], "
                          "--status S or --attr KEY=VALUE (or --all for "
                          "everybody in the program)");
        goto done;
    }
    if (attr && (rc = agent_dist_attr(attr, &key, &value)) < 0)
        goto done;
    rc = agent_ctx_open(ctx, AGENT_NEED_WRITE);
    if (rc == PLAT_OK)
        rc = agent_ctx_program(ctx, 0, &pid);
    if (rc < 0)
        goto done;
    if (tpl) {
        missing = tpl;
        rc = store_template_list(ctx->store, pid, template_type_known,
                                 &missing);
        if (rc == PLAT_OK && missing)
            rc = plat_err_set(ERR_NOTFOUND, "no message template of type "
                              "'%.60s' is stored (see `agent templates "
                              "list`)", agent_printable(tpl) ? tpl : "?");
        if (rc < 0)
            goto done;
    }
    if (ref) {
        char *save = NULL, *tok;

        refs_copy = plat_strdup(ref);
        if (!refs_copy) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        for (tok = strtok_r(refs_copy, ",", &save); tok && rc == PLAT_OK;
             tok = strtok_r(NULL, ",", &save)) {
            cJSON *reg = NULL;

            rc = agent_check_ref(tok);
            if (rc == PLAT_OK)
                rc = agent_get_registration(ctx->store, tok, &reg);
            if (rc == PLAT_OK &&
                agent_dist_match(reg, status, key, value))
                rc = refs_add(&r, tok);
            cJSON_Delete(reg);
        }
    } else {
        struct store_reg_filter f;
        int64_t total = 0;

        memset(&f, 0, sizeof(f));
        f.program_id = pid;
        f.status = status;
        f.attr_name = key;
        f.attr_value = value;
        f.limit = SEND_MAX;
        rc = store_reg_list(ctx->store, &f, collect_ref, &r, &total);
    }
    if (rc < 0)
        goto done;
    if (r.n == 0) {
        rc = plat_err_set(ERR_NOTFOUND, "nobody in the store matches: no "
                          "message queued");
        goto done;
    }
    rc = store_message_queue(ctx->store, pid, (const char *const *)r.v, r.n,
                             text, tpl, batch);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        js = cJSON_CreateObject();
        if (!js || !cJSON_AddStringToObject(js, "batch", batch) ||
            !cJSON_AddNumberToObject(js, "queued", (double)r.n)) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(js);
    } else {
        printf("%zu messages queued (batch %s); the next sync sends them\n",
               r.n, batch);
    }
done:
    cJSON_Delete(js);
    refs_free(&r);
    plat_free(refs_copy);
    plat_free(key);
    plat_free(pos);
    return rc;
}

/* ---- messages list: one line per batch ------------------------------------ */

static int add_message(const struct store_outbox_entry *e, void *payload)
{
    cJSON *batches = payload, *b, *p;
    const char *id, *what, *state = e->state ? e->state : "?";
    const cJSON *n;

    if (!e->kind || strcmp(e->kind, "message") != 0)
        return 0;
    p = cJSON_Parse(e->payload ? e->payload : "");
    id = agent_json_str(p, "batch");
    b = cJSON_GetObjectItemCaseSensitive(batches, id ? id : "?");
    if (!b) {
        what = agent_json_str(p, "message");
        b = cJSON_CreateObject();
        if (!b || !cJSON_AddStringToObject(b, "batch", id ? id : "?") ||
            !cJSON_AddStringToObject(b, what ? "text" : "template",
                                     what ? what
                                          : agent_json_str(p,
                                                           "messageTemplateKey")
                                                ? agent_json_str(
                                                      p, "messageTemplateKey")
                                                : "") ||
            !cJSON_AddStringToObject(b, "created", e->created_at
                                                       ? e->created_at
                                                       : "") ||
            !cJSON_AddNumberToObject(b, "pending", 0) ||
            !cJSON_AddNumberToObject(b, "inflight", 0) ||
            !cJSON_AddNumberToObject(b, "done", 0) ||
            !cJSON_AddNumberToObject(b, "rejected", 0) ||
            !cJSON_AddNumberToObject(b, "conflict", 0) ||
            !cJSON_AddItemToObject(batches, id ? id : "?", b)) {
            cJSON_Delete(p);
            cJSON_Delete(b);
            return plat_err_set(ERR_NOMEM, "out of memory");
        }
    }
    cJSON_Delete(p);
    n = cJSON_GetObjectItemCaseSensitive(b, state);
    if (cJSON_IsNumber(n))
        cJSON_SetNumberValue((cJSON *)n, n->valuedouble + 1);
    return 0;
}

int agent_cmd_messages_list(struct agent_ctx *ctx, int argc, char **argv)
{
    static const char *const headers[7] = { "batch", "created", "message",
                                            "queued", "sent", "rejected",
                                            "in flight" };
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    cJSON *batches = cJSON_CreateObject(), *arr = NULL;
    const cJSON *b;
    struct agent_table t;
    char **pos = NULL;
    int npos = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc == PLAT_OK && !batches)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = store_outbox_list(ctx->store, NULL, add_message, batches);
    if (rc == PLAT_OK)
        rc = store_outbox_list(ctx->store, "done", add_message, batches);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        arr = cJSON_CreateArray();
        cJSON_ArrayForEach(b, batches)
            cJSON_AddItemToArray(arr, cJSON_Duplicate(b, 1));
        rc = agent_print_json(arr);
        goto done;
    }
    agent_table_init(&t, 7, headers);
    cJSON_ArrayForEach(b, batches) {
        char q[24], s[24], r[24], f[24];
        const char *msg = agent_json_str(b, "text");

        snprintf(q, sizeof(q), "%.0f",
                 cJSON_GetObjectItemCaseSensitive(b, "pending")->valuedouble);
        snprintf(s, sizeof(s), "%.0f",
                 cJSON_GetObjectItemCaseSensitive(b, "done")->valuedouble);
        snprintf(r, sizeof(r), "%.0f",
                 cJSON_GetObjectItemCaseSensitive(b, "rejected")->valuedouble);
        snprintf(f, sizeof(f), "%.0f",
                 cJSON_GetObjectItemCaseSensitive(b, "inflight")->valuedouble);
        const char *cells[7] = { agent_json_str(b, "batch"),
                                 agent_json_str(b, "created"),
                                 msg ? msg : agent_json_str(b, "template"),
                                 q, s, r, f };
        rc = agent_table_add(&t, cells);
        if (rc < 0)
            break;
    }
    if (rc == PLAT_OK)
        agent_table_print(&t, stdout);
    agent_table_dispose(&t);
done:
    cJSON_Delete(arr);
    cJSON_Delete(batches);
    plat_free(pos);
    return rc;
}

/* ---- templates ------------------------------------------------------------- */

static int add_template(const cJSON *tpl, void *payload)
{
    cJSON_AddItemToArray(payload, cJSON_Duplicate(tpl, 1));
    return 0;
}

int agent_cmd_templates_list(struct agent_ctx *ctx, int argc, char **argv)
{
    static const char *const headers[3] = { "type", "language", "message" };
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    cJSON *arr = cJSON_CreateArray();
    const cJSON *t;
    struct agent_table tab;
    char **pos = NULL;
    int npos = 0, pid = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc == PLAT_OK && !arr)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = agent_ctx_program(ctx, 0, &pid);
    if (rc == PLAT_OK)
        rc = store_template_list(ctx->store, pid, add_template, arr);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        rc = agent_print_json(arr);
        goto done;
    }
    agent_table_init(&tab, 3, headers);
    cJSON_ArrayForEach(t, arr) {
        const char *cells[3] = { agent_json_str(t, "type"),
                                 agent_json_str(t, "language"),
                                 agent_json_str(t, "message") };

        rc = agent_table_add(&tab, cells);
        if (rc < 0)
            break;
    }
    if (rc == PLAT_OK)
        agent_table_print(&tab, stdout);
    agent_table_dispose(&tab);
done:
    cJSON_Delete(arr);
    plat_free(pos);
    return rc;
}

int agent_cmd_templates_show(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    cJSON *tpl = NULL;
    char **pos = NULL;
    int npos = 0, pid = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 2, 2, "TYPE LANG", &pos, &npos);
    if (rc < 0)
        return rc;
    rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = agent_ctx_program(ctx, 0, &pid);
    if (rc == PLAT_OK)
        rc = store_template_get(ctx->store, pid, pos[0], pos[1], &tpl);
    if (rc == PLAT_OK) {
        if (ctx->g.json) {
            rc = agent_print_json(tpl);
        } else {
            agent_print_kv(stdout, 10, "type", agent_json_str(tpl, "type"));
            agent_print_kv(stdout, 10, "language",
                           agent_json_str(tpl, "language"));
            printf("%s\n", agent_json_str(tpl, "message")
                               ? agent_json_str(tpl, "message")
                               : "");
        }
    }
    cJSON_Delete(tpl);
    plat_free(pos);
    return rc;
}

int agent_cmd_templates_set(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *text = NULL;
    const struct agent_opt opts[] = {
        { "--text", AGENT_OPT_STRING, &text, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    char **pos = NULL;
    int npos = 0, pid = 0, created = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 2, 3, "TYPE LANG [TEXT]", &pos,
                        &npos);
    if (rc < 0)
        return rc;
    if (npos == 3)
        text = pos[2];
    if (!text) {
        rc = plat_err_set(ERR_USAGE, "templates set needs the new text "
                          "(TEXT or --text TEXT)");
        goto done;
    }
    rc = agent_ctx_open(ctx, AGENT_NEED_WRITE);
    if (rc == PLAT_OK)
        rc = agent_ctx_program(ctx, 0, &pid);
    if (rc == PLAT_OK)
        rc = store_template_set(ctx->store, pid, pos[0], pos[1], text,
                                &created);
    if (rc == PLAT_OK)
        printf("template %s (%s) %s; the next sync sends it\n", pos[0],
               pos[1], created ? "created" : "changed");
done:
    plat_free(pos);
    return rc;
}

int agent_cmd_program_label(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *lang = NULL;
    const struct agent_opt opts[] = {
        { "--lang", AGENT_OPT_STRING, &lang, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    char **pos = NULL;
    int npos = 0, pid = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 2, 2, "ATTR TEXT", &pos, &npos);
    if (rc < 0)
        return rc;
    if (!lang) {
        rc = plat_err_set(ERR_USAGE, "program label needs --lang L");
        goto done;
    }
    rc = agent_ctx_open(ctx, AGENT_NEED_WRITE);
    if (rc == PLAT_OK)
        rc = agent_ctx_program(ctx, 0, &pid);
    if (rc == PLAT_OK)
        rc = store_label_set(ctx->store, pid, pos[0], lang, pos[1]);
    if (rc == PLAT_OK)
        printf("label of %s (%s) set; the next sync sends it\n", pos[0], lang);
done:
    plat_free(pos);
    return rc;
}
