/*
 * kobo_import.c - one Kobo submission into the store's queue for 121: a
 * new one becomes a create, a known one with another _uuid an edit of its
 * changed mapped fields; batches committed with the per-form counters;
 * re-reads of chosen _ids. See kobo_connector.h.
 */
#include "kobo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_ctx.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int counter_add(struct sync_ctx *ctx, const char *asset,
                       const char *what, int64_t n)
{
    char name[128];
    int64_t v = 0;
    int rc;

    if (!n)
        return PLAT_OK;
    snprintf(name, sizeof(name), "%s.%s", asset, what);
    rc = sync_cursor_get_i64(ctx, name, 0, &v);
    if (rc == PLAT_OK)
        rc = sync_cursor_set_i64(ctx, name, v + n);
    return rc;
}

/* "<uuid> <imported fields as JSON>" */
static char *make_version(const char *uuid, const cJSON *fields)
{
    char *json = cJSON_PrintUnformatted(fields), *v;

    if (!json)
        return NULL;
    v = plat_asprintf("%s %s", uuid, json);
    cJSON_free(json);
    return v;
}

/* Submission `key` imported as registration `ref`: its remote version
 * kept, its rejected entry dropped. */
int kobo_mark_imported(struct kobo_state *st, struct sync_ctx *ctx,
                       const char *key, const char *ref, const char *uuid,
                       const cJSON *fields)
{
    char *ver = make_version(uuid, fields);
    int rc;

    if (!ver)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = sync_remote_id_put(ctx, "submission", key, ref, ver);
    plat_free(ver);
    if (rc == PLAT_OK)
        kobo_rejected_drop(st, key);
    return rc;
}

/* Import submission `sub` of form `f` inside the open batch: new -> a
 * create; known with another _uuid -> an edit of the changed fields;
 * a mapping failure -> the rejected list. */
int kobo_import_one(struct kobo_state *st, struct sync_ctx *ctx,
                    struct kobo_form *f, const cJSON *program,
                    const cJSON *sub, int is_new, struct kobo_counts *c)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(sub, "_uuid");
    const char *uuid = cJSON_IsString(u) ? u->valuestring : "";
    char key[96], refbuf[256], why[KOBO_WHY_MAX];
    char *ref = NULL, *ver = NULL;
    const char *att_ref = NULL;
    cJSON *fields = NULL, *old = NULL, *changes = NULL, *base = NULL;
    int64_t id;
    int rc, pid = 0, created = 0, changed = 0, skip_validation = 0;
    size_t ul;

    if (kobo_submission_id(sub, &id) != PLAT_OK)
        return plat_err_set(ERR_INVALID, "kobo: a submission of form %s has "
                            "no usable _id", f->asset);
    snprintf(key, sizeof(key), "%s:%" PRId64, f->asset, id);
    /* above the cursor: never imported (the cursor commits with the
     * records), so no lookup */
    rc = is_new ? ERR_NOTFOUND
                : sync_remote_id_get(ctx, "submission", key, &ref, &ver);
    if (rc != PLAT_OK && rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    ul = strlen(uuid);
    if (rc == PLAT_OK && ver && ul && strncmp(ver, uuid, ul) == 0 &&
        ver[ul] == ' ' && !st->remap) {
        rc = PLAT_OK;           /* seen as it is */
        goto out;
    }
    if (!ref && kobo_validation_ref(f->map, sub, refbuf, sizeof(refbuf),
                                    &skip_validation)) {
        rc = kobo_import_validation(st, ctx, f, program, sub, key, id, uuid,
                                    refbuf, skip_validation, c);
        goto out;
    }
    rc = kobo_map_submission(f->map, sub, program, st->fsp, &fields, &pid,
                             why, sizeof(why));
    if (rc == PLAT_OK && pid > 0 && pid != f->program_id) {
        /* the submission names its own program: check against that one */
        cJSON *other = NULL;

        cJSON_Delete(fields);
        fields = NULL;
        if (sync_get_program(ctx, pid, &other, NULL) != PLAT_OK) {
            plat_err_clear();
            snprintf(why, sizeof(why), "attribute programId: program %d "
                     "is not in the store (sync 121 with program_id = %d "
                     "first)", pid, pid);
            rc = ERR_INVALID;
        } else {
            rc = kobo_map_submission(f->map, sub, other, st->fsp, &fields,
                                     &pid, why, sizeof(why));
        }
        cJSON_Delete(other);
    }
    if (rc == KOBO_SKIP) {
        c->skipped++;
        kobo_rejected_drop(st, key);
        rc = PLAT_OK;
        goto out;
    }
    if (rc == ERR_INVALID) {
        c->rejected++;
        rc = kobo_rejected_note(st, key, f->asset, id, uuid, ref, why,
                                ref != NULL);
        goto out;
    }
    if (rc != PLAT_OK) {
        rc = plat_err_set(rc, "kobo: %s", why);
        goto out;
    }
    if (!ref) {                 /* new submission: a create */
        if (kobo_reference_id(sub, f->asset, refbuf, sizeof(refbuf)) !=
            PLAT_OK) {
            c->rejected++;
            rc = kobo_rejected_note(st, key, f->asset, id, uuid, NULL,
                                    "no meta/rootUuid and no usable _id", 0);
            goto out;
        }
        if (pid <= 0)
            pid = f->program_id;
        if (pid <= 0) {
            c->rejected++;
            rc = kobo_rejected_note(st, key, f->asset, id, uuid, NULL,
                                    "no 121 program: set [kobo] program_id or "
                                    "map a programId question", 0);
            goto out;
        }
        rc = sync_queue_create(ctx, KOBO_TARGET, pid, fields, refbuf, NULL,
                               &created);
    } else {
        /* known submission with a new _uuid: an edit */
        if (ver && strchr(ver, ' '))
            old = cJSON_Parse(strchr(ver, ' ') + 1);
        rc = kobo_diff(old, fields, &changes, &base);
        if (rc == PLAT_OK && changes)
            rc = sync_queue_edit(ctx, KOBO_TARGET, ref, changes, base,
                                 "Kobo submission edited", &changed);
    }
    /* refused by the store (an edit also when the registration is gone) */
    if (rc == ERR_INVALID || (ref && rc == ERR_NOTFOUND)) {
        rc = kobo_rejected_refused(st, c, key, f->asset, id, uuid, ref,
                                   ref != NULL);
        goto out;
    }
    if (rc != PLAT_OK)
        goto out;
    att_ref = ref ? ref : refbuf;
    rc = kobo_mark_imported(st, ctx, key, att_ref, uuid, fields);
    if (rc == PLAT_OK && ref)
        c->edits += changed > 0;
    else if (rc == PLAT_OK)
        c->imported++;
out:
    /* the files of its media answers, noted for the attachments stream */
    if (rc == PLAT_OK && att_ref && f->media.n && st->att.on)
        rc = kobo_att_record(ctx, &f->media, key, att_ref, sub, NULL);
    cJSON_Delete(fields);
    cJSON_Delete(old);
    cJSON_Delete(changes);
    cJSON_Delete(base);
    plat_free(ref);
    plat_free(ver);
    return rc;
}

/* Commit the open batch with the counters (and `last_id` when > 0). */
int kobo_commit_batch(struct kobo_state *st, struct sync_ctx *ctx,
                      const struct kobo_form *f, int64_t last_id,
                      struct kobo_counts *c)
{
    char name[128];
    int rc = PLAT_OK;

    if (last_id > 0) {
        snprintf(name, sizeof(name), "%s.last_id", f->asset);
        rc = sync_cursor_set_i64(ctx, name, last_id);
    }
    if (rc == PLAT_OK)
        rc = counter_add(ctx, f->asset, "imported", c->imported);
    if (rc == PLAT_OK)
        rc = counter_add(ctx, f->asset, "edits", c->edits);
    if (rc == PLAT_OK)
        rc = counter_add(ctx, f->asset, "skipped", c->skipped);
    if (rc == PLAT_OK)
        rc = counter_add(ctx, f->asset, "validated", c->validated);
    if (rc == PLAT_OK)
        rc = kobo_rejected_save(st, ctx);
    rc = sync_batch_end(ctx, rc);
    if (rc == PLAT_OK) {
        sync_ctx_count(ctx, SYNC_COUNT_PULLED,
                       c->imported + c->edits + c->validated);
        sync_ctx_count(ctx, SYNC_COUNT_REJECTED, c->rejected);
    }
    memset(c, 0, sizeof(*c));
    return rc;
}

/* Re-read submissions `ids` of form `f` and import them (one batch). */
int kobo_reread(struct kobo_state *st, struct sync_ctx *ctx,
                struct kobo_form *f, const cJSON *program,
                const int64_t *ids, size_t n)
{
    struct kobo_counts c = {0, 0, 0, 0, 0};
    cJSON *doc = NULL, *res, *sub;
    int64_t count;
    int rc;

    if (!n)
        return PLAT_OK;
    rc = kobo_get_page(ctx, f->asset, 0, ids, n, (int)n, 0, f, &doc, &res,
                       &count);
    if (rc != PLAT_OK)
        return rc;
    if ((rc = sync_batch_begin(ctx)) != PLAT_OK) {
        cJSON_Delete(doc);
        return rc;
    }
    cJSON_ArrayForEach(sub, res) {
        if ((rc = kobo_import_one(st, ctx, f, program, sub, 0, &c)) != PLAT_OK)
            break;
    }
    cJSON_Delete(doc);
    if (rc != PLAT_OK) {
        sync_batch_end(ctx, rc);
        return rc;
    }
    return kobo_commit_batch(st, ctx, f, 0, &c);
}

cJSON *kobo_load_program(struct sync_ctx *ctx, int pid)
{
    cJSON *p = NULL;

    if (pid > 0 && sync_get_program(ctx, pid, &p, NULL) != PLAT_OK) {
        plat_err_clear();
        p = NULL;
    }
    return p;
}
