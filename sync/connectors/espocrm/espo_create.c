/*
 * espo_create.c - the espocrm connector's create_in_espocrm: 121
 * registrations of one program that no EspoCRM record is linked to get a
 * new record (POST), linked at once so it is not pulled back as a change;
 * a record EspoCRM refuses (a duplicate) is noted for a person. See
 * espo_connector.h.
 */
#include "espo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_ctx.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* create_in_espocrm: the reason of a refused create, never a value: the
 * X-Status-Reason, and for a 409 "duplicate" the ids of the records
 * EspoCRM holds for duplicates (its body: an array of records). */
static void refusal(const struct sync_http_response *r, const cJSON *body,
                    char *out, size_t size)
{
    const cJSON *d;
    size_t used;

    used = (size_t)snprintf(out, size, "HTTP %ld: %s", r->status,
                            r->status_reason[0] ? r->status_reason
                                                : "refused");
    if (!cJSON_IsArray(body) || used >= size)
        return;
    used += (size_t)snprintf(out + used, size - used, " (possible "
                             "duplicate of");
    cJSON_ArrayForEach(d, body) {
        const char *id = espo_str_of(d, "id");

        if (id && used < size)
            used += (size_t)snprintf(out + used, size - used, " %s", id);
    }
    if (used < size)
        snprintf(out + used, size - used, ")");
}

/* POST one new EspoCRM record for registration `ref` (server copy `srv`):
 * the mapped fields 121 -> EspoCRM and the referenceId field. 200 -> a
 * link (what EspoCRM answered is what the agent saw, so the record is
 * not pulled back as a change); 400/409 (a "duplicate" of a record
 * EspoCRM already has) -> noted in push.rejected with the reason and
 * counted, not sent again (no X-Skip-Duplicate-Check: a person decides).
 * Other answers: the error (the cursor stays, it is tried again). */
static int create_record(struct espo_state *st, const char *ref,
                         const cJSON *srv)
{
    struct sync_http_response resp;
    struct espo_seen seen;
    cJSON *body = cJSON_CreateObject(), *ans = NULL;
    char path[300], msg[600], why[400], *text = NULL;
    const char *id;
    size_t i;
    int rc = body ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");

    memset(&resp, 0, sizeof(resp));
    memset(&seen, 0, sizeof(seen));
    for (i = 0; rc == PLAT_OK && i < st->map.n; i++) {
        const struct espo_field *f = &st->map.v[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(srv, f->f121);

        if (f->dir == ESPO_DIR_TO_121 || !v || cJSON_IsNull(v))
            continue;
        rc = espo_put_json(body, f->espo, espo_from_121(f, v));
    }
    if (rc == PLAT_OK)
        rc = espo_put_json(body, st->ref_field, cJSON_CreateString(ref));
    if (rc == PLAT_OK && !(text = cJSON_PrintUnformatted(body)))
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc != PLAT_OK)
        goto out;
    snprintf(path, sizeof(path), "/api/v1/%s", st->entity);
    if ((rc = espo_request(st, "POST", path, text, NULL, NULL, &resp)) !=
        PLAT_OK)
        goto out;
    ans = espo_parse_body(&resp);
    if (resp.status == 400 || resp.status == 409) {
        refusal(&resp, ans, why, sizeof(why));
        snprintf(msg, sizeof(msg), "%s create for %s: %s", st->entity, ref,
                 why);
        sync_ctx_count(st->ctx, SYNC_COUNT_REJECTED, 1);
        rc = espo_note(st->ctx, "push.rejected", msg);
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        rc = espo_answer_err(&resp, "create record");
        goto out;
    }
    id = espo_str_of(ans, "id");
    if (!id) {
        rc = plat_err_set(ERR_GENERIC, "EspoCRM: create record: the "
                          "answer has no id");
        goto out;
    }
    if ((rc = espo_seen_parse(NULL, &seen)) != PLAT_OK ||
        (rc = espo_seen_after_write(&seen, body, ans)) != PLAT_OK)
        goto out;
    plat_free(text);
    if (!(text = espo_seen_format(&seen))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = sync_remote_id_put(st->ctx, ESPO_KIND, id, ref, text);
    if (rc == PLAT_OK)
        sync_ctx_count(st->ctx, SYNC_COUNT_PUSHED, 1);
out:
    cJSON_free(text);
    cJSON_Delete(body);
    cJSON_Delete(ans);
    espo_seen_dispose(&seen);
    sync_http_response_dispose(&resp);
    return rc;
}

/* create_in_espocrm: the 121 registrations of create_pid that came from
 * 121 (server ids above the state "create.after") and that no EspoCRM
 * record is linked to get one. `links`: every link, read before. The
 * cursor commits with each batch of creates. */
int espo_create_new(struct espo_state *st, struct sync_ctx *ctx,
                    const struct links *links)
{
    const char **refs = NULL;
    char *after_s = NULL, *ref = NULL, num[24];
    cJSON *srv = NULL;
    int64_t after = 0, max = 0, sid;
    size_t i, in_batch = 0;
    int rc, open = 0;

    rc = sync_max_server_id(ctx, st->create_pid, &max);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc != PLAT_OK)
        return rc;
    if (sync_state_get(ctx, "create.after", &after_s) == PLAT_OK)
        after = strtoll(after_s, NULL, 10);
    plat_free(after_s);
    plat_err_clear();
    if (after >= max)
        return PLAT_OK;
    refs = plat_calloc(links->n + 1, sizeof(*refs));
    if (!refs)
        return plat_err_set(ERR_NOMEM, "out of memory");
    for (i = 0; i < links->n; i++)
        refs[i] = links->v[i].ref;
    qsort(refs, links->n, sizeof(*refs), espo_cmp_str);
    for (sid = after + 1; rc == PLAT_OK && sid <= max; sid++) {
        const cJSON *pid;

        if ((rc = espo_batch_open(ctx, &open, &in_batch)) != PLAT_OK)
            break;
        plat_free(ref);
        ref = NULL;
        cJSON_Delete(srv);
        srv = NULL;
        rc = sync_ref_by_server_id(ctx, sid, &ref);
        if (rc == PLAT_OK && !espo_id_in(refs, links->n, ref))
            rc = sync_get_registration(ctx, ref, &srv);
        if (rc == ERR_NOTFOUND) {
            plat_err_clear();
            rc = PLAT_OK;
        }
        pid = cJSON_GetObjectItemCaseSensitive(srv, "programId");
        if (rc == PLAT_OK && srv &&
            (!cJSON_IsNumber(pid) || pid->valueint == st->create_pid))
            rc = create_record(st, ref, srv);
        if (rc != PLAT_OK)
            break;
        snprintf(num, sizeof(num), "%" PRId64, sid);
        if ((rc = sync_state_set(ctx, "create.after", num)) != PLAT_OK)
            break;
        if (++in_batch >= ESPO_PUSH_BATCH || sid == max) {
            open = 0;
            rc = sync_batch_end(ctx, PLAT_OK);
        }
    }
    if (open)
        rc = sync_batch_end(ctx, rc);
    plat_free(ref);
    cJSON_Delete(srv);
    plat_free(refs);
    return rc;
}
