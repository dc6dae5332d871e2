/*
 * pull_program.c - the program definition and its message templates,
 * polled with If-None-Match: 121 puts a weak ETag on every GET and answers
 * 304 with an empty body while nothing changed, so an unchanged program
 * costs two small requests per cycle.
 *
 * FSP configurations: the program body already carries them twice
 * (programFspConfigurations, and fspConfigurations in the shape of GET
 * .../fsp-configurations), and the engine stores them from there.
 * The separate list would cost a request per cycle and needs the
 * permission program:fsp-config.read, which a field user may lack, so it
 * is not fetched.
 *
 * The templates' ETag is kept in the checkpoint "program.templates_etag"
 * (the program's own is stored with the program).
 */
#include "c121.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"

#include <cjson/cJSON.h>

#include <stdio.h>

#define TEMPLATES_ETAG "program.templates_etag"

/* 121 answers 403 for a program the user is not assigned to, and 404 for
 * one that does not exist (contract 0.2). */
static int program_err(struct c121 *c, int rc, long status)
{
    int id = c->program_id;
    const char *user = c->user[0] ? c->user : "?";

    if (status == 404)
        return plat_err_set(ERR_NOTFOUND, "121 program %d not found", id);
    if (status == 403)
        return plat_err_set(ERR_AUTH, "user %s is not assigned to program "
                            "%d", user, id);
    return rc;
}

static int pull_definition(struct c121 *c, int id)
{
    cJSON *stored = NULL, *body = NULL;
    const cJSON *got;
    int64_t got_id = 0;
    char *etag = NULL;
    char etag_new[128];
    long status = 0;
    int rc;

    rc = sync_get_program(c->ctx, id, &stored, &etag);
    cJSON_Delete(stored);
    if (rc == ERR_NOTFOUND)
        plat_err_clear();
    else if (rc < 0)
        return rc;
    rc = c121_get_json(c, c->prefix, etag, "program", &body, &status,
                       etag_new);
    if (rc < 0) {
        rc = program_err(c, rc, status);
        goto done;
    }
    if (!body) {
        log_debug("121: program %d unchanged", id);
        goto done;
    }
    got = cJSON_GetObjectItemCaseSensitive(body, "id");
    if (!c121_json_int(got, 1, INT32_MAX, &got_id) || got_id != id) {
        rc = plat_err_set(ERR_INVALID, "121 GET program %d: the answer is "
                          "not program %d", id, id);
        goto done;
    }
    rc = sync_put_program(c->ctx, body, etag_new[0] ? etag_new : NULL);
    if (rc == PLAT_OK)
        log_info("121: program %d updated", id);

done:
    cJSON_Delete(body);
    plat_free(etag);
    return rc;
}

static int pull_templates(struct c121 *c, int id)
{
    struct sync_ctx *s = c->ctx;
    cJSON *body = NULL;
    char *etag = NULL;
    char etag_new[128], path[64];
    long status = 0;
    int rc;

    rc = sync_cursor_get(s, TEMPLATES_ETAG, &etag);
    if (rc == ERR_NOTFOUND)
        plat_err_clear();
    else if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "/api/notifications/%d/message-templates",
             id);
    rc = c121_get_json(c, path, etag, "message templates", &body, &status,
                       etag_new);
    if (rc < 0) {
        rc = program_err(c, rc, status);
        goto done;
    }
    if (!body) {
        log_debug("121: message templates of program %d unchanged", id);
        goto done;
    }
    /* The templates and their ETag change together, or neither does. */
    rc = sync_batch_begin(s);
    if (rc < 0)
        goto done;
    rc = sync_put_templates(s, id, body);
    if (rc == PLAT_OK)
        rc = etag_new[0] ? sync_cursor_set(s, TEMPLATES_ETAG, etag_new)
                         : sync_cursor_delete(s, TEMPLATES_ETAG);
    rc = sync_batch_end(s, rc);
    if (rc == PLAT_OK)
        log_info("121: message templates of program %d updated (%d)", id,
                 cJSON_GetArraySize(body));

done:
    cJSON_Delete(body);
    plat_free(etag);
    return rc;
}

int c121_pull_program(struct c121 *c)
{
    int id = c->program_id;
    int rc;

    if (id <= 0)
        return plat_err_set(ERR_CONFIG, "no 121 program id configured");
    rc = pull_definition(c, id);
    if (rc == PLAT_OK)
        rc = pull_templates(c, id);
    return rc;
}
