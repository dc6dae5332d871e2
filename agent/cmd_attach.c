/*
 * cmd_attach.c - attachments of registrations (Kobo media answers kept in
 * the store, store_attachments.h): the list `agent registrations show`
 * adds, and `agent kobo attachment REF QUESTION --out FILE`, which writes
 * one file's bytes out.
 */
#include "cli.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "store_attachments.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static int att_json_cb(const struct store_att *a, void *payload)
{
    cJSON *arr = payload, *o = cJSON_CreateObject();

    if (!o || !cJSON_AddItemToArray(arr, o) ||
        !cJSON_AddStringToObject(o, "source", a->source) ||
        !cJSON_AddStringToObject(o, "record", a->remote_id) ||
        !cJSON_AddStringToObject(o, "question", a->question) ||
        !cJSON_AddStringToObject(o, "name", a->name) ||
        !(a->mimetype ? cJSON_AddStringToObject(o, "type", a->mimetype)
                      : cJSON_AddNullToObject(o, "type")) ||
        !(a->size >= 0 ? cJSON_AddNumberToObject(o, "size", (double)a->size)
                       : cJSON_AddNullToObject(o, "size")) ||
        !cJSON_AddStringToObject(o, "state", a->state) ||
        !(a->url ? cJSON_AddStringToObject(o, "url", a->url)
                 : cJSON_AddNullToObject(o, "url")) ||
        !(a->error ? cJSON_AddStringToObject(o, "error", a->error)
                   : cJSON_AddNullToObject(o, "error")))
        return ERR_NOMEM;
    return 0;
}

int agent_reg_attachments_json(struct store *s, const char *ref,
                               cJSON **out)
{
    cJSON *arr = cJSON_CreateArray();
    int rc;

    *out = NULL;
    if (!arr)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = store_att_list_ref(s, ref, 0, att_json_cb, arr);
    if (rc == ERR_NOMEM)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc < 0) {
        cJSON_Delete(arr);
        return rc;
    }
    *out = arr;
    return PLAT_OK;
}

void agent_reg_attachments_print(const cJSON *atts)
{
    const cJSON *a;

    if (!cJSON_GetArraySize(atts))
        return;
    printf("attachments:\n");
    cJSON_ArrayForEach(a, atts) {
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(a, "size");
        const char *type = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(a, "type"));
        const char *state = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(a, "state"));
        char sz[40];

        if (cJSON_IsNumber(size))
            snprintf(sz, sizeof(sz), "%.0f bytes", size->valuedouble);
        else
            snprintf(sz, sizeof(sz), "-");
        printf("  %-20s %-28s %-16s %-14s %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                   a, "question")),
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                   a, "name")),
               type ? type : "-", sz, state ? state : "");
    }
}

struct pick {
    const char *question;
    char *name;
    void *data;
    size_t len;
    int found;
    char state[16];
};

/* The question matches as given, or by its last path part ("photo" for
 * "hh/photo"). */
static int question_matches(const char *stored, const char *want)
{
    const char *slash = strrchr(stored, '/');

    return strcmp(stored, want) == 0 ||
           (slash && strcmp(slash + 1, want) == 0);
}

static int pick_cb(const struct store_att *a, void *payload)
{
    struct pick *p = payload;

    if (!question_matches(a->question, p->question) || p->found)
        return 0;
    p->found = 1;
    snprintf(p->state, sizeof(p->state), "%s", a->state);
    if (strcmp(a->state, "stored") != 0)
        return 0;
    p->len = a->size > 0 ? (size_t)a->size : 0;
    p->data = plat_malloc(p->len ? p->len : 1);
    p->name = plat_strdup(a->name);
    if (!p->data || !p->name)
        return ERR_NOMEM;
    if (p->len)
        memcpy(p->data, a->data, p->len);
    return 0;
}

int agent_cmd_kobo_attachment(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *file = NULL;
    struct pick p;
    char **pos = NULL;
    int npos = 0, rc;
    const struct agent_opt opts[] = {
        { "--out", AGENT_OPT_STRING, &file, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };

    memset(&p, 0, sizeof(p));
    rc = agent_cmd_args(ctx, argc, argv, opts, 2, 2, "REF QUESTION", &pos,
                        &npos);
    if (rc < 0)
        return rc;
    p.question = pos[1];
    rc = agent_check_ref(pos[0]);
    if (rc == PLAT_OK && !file)
        rc = plat_err_set(ERR_USAGE, "kobo attachment: --out FILE is "
                          "required");
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = store_att_list_ref(ctx->store, pos[0], 1, pick_cb, &p);
    if (rc == ERR_NOMEM)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc < 0)
        goto done;
    if (!p.found) {
        rc = plat_err_set(ERR_NOTFOUND, "registration %s has no attachment "
                          "for question %.64s (see `agent registrations "
                          "show %s`)", pos[0], pos[1], pos[0]);
        goto done;
    }
    if (!p.data) {
        rc = plat_err_set(ERR_NOTFOUND, "the attachment of %s for question "
                          "%.64s is not stored (%s): run `agent sync --now "
                          "--source kobo`", pos[0], pos[1], p.state);
        goto done;
    }
    rc = plat_fs_write_atomic(file, p.data, p.len, 0600);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddStringToObject(o, "file", file) ||
            !cJSON_AddStringToObject(o, "name", p.name) ||
            !cJSON_AddNumberToObject(o, "size", (double)p.len))
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        else
            rc = agent_print_json(o);
        cJSON_Delete(o);
    } else {
        printf("wrote %s: %zu bytes\n", file, p.len);
    }
done:
    plat_free(p.data);
    plat_free(p.name);
    plat_free(pos);
    return rc;
}
