/*
 * pull_kept.c - a batch's kept registration members (see pull_kept.h).
 *
 * Each member is one entry in `bytes`: a tag, its text, a NUL.
 *   's' + the characters of a string that had no escape (used in place)
 *   'j' + the JSON text of any other value (parsed at commit)
 */
#include "pull_kept.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <cjson/cJSON.h>

#include <string.h>

const char *const PULL_KEPT_MEMBERS[PULL_KEPT_N] = {
    "referenceId", "programId", "id", "created", "status", "fullName",
    "name", "phoneNumber"};

int pull_kept_init(struct pull_kept *k, size_t rows)
{
    plat_buf_init(&k->bytes, 0);
    k->rows = rows;
    k->at = plat_calloc(rows * PULL_KEPT_N, sizeof(*k->at));
    return k->at ? PLAT_OK : ERR_NOMEM;
}

void pull_kept_reset(struct pull_kept *k)
{
    plat_buf_reset(&k->bytes);
}

void pull_kept_dispose(struct pull_kept *k)
{
    plat_buf_dispose(&k->bytes);
    plat_free(k->at);
    k->at = NULL;
}

/* One entry: tag, n bytes of text, NUL; its place in at[]. */
static int put(struct pull_kept *k, size_t row, size_t i, char tag,
               const char *text, size_t n)
{
    size_t off = k->bytes.len;
    int rc;

    if (off >= UINT32_MAX - 1)
        return ERR_TOOLARGE;
    rc = plat_buf_append(&k->bytes, &tag, 1);
    if (rc == PLAT_OK)
        rc = plat_buf_append(&k->bytes, text, n);
    if (rc == PLAT_OK)
        rc = plat_buf_append(&k->bytes, "", 1);
    if (rc == PLAT_OK)
        k->at[row * PULL_KEPT_N + i] = (uint32_t)off + 1;
    return rc;
}

int pull_kept_put_spans(struct pull_kept *k, size_t row,
                        const struct sync_jscan_member *m)
{
    int rc = PLAT_OK;

    for (size_t i = 0; i < PULL_KEPT_N && rc == PLAT_OK; i++) {
        k->at[row * PULL_KEPT_N + i] = 0;
        if (!m[i].val)
            continue;
        /* A checked string: quotes at both ends; no backslash, no raw
         * control character: its characters are its value. */
        if (m[i].val[0] == '"' && !memchr(m[i].val, '\\', m[i].len))
            rc = put(k, row, i, 's', m[i].val + 1, m[i].len - 2);
        else
            rc = put(k, row, i, 'j', m[i].val, m[i].len);
    }
    return rc;
}

int pull_kept_put_tree(struct pull_kept *k, size_t row, const cJSON *rec)
{
    int rc = PLAT_OK;

    for (size_t i = 0; i < PULL_KEPT_N && rc == PLAT_OK; i++) {
        const cJSON *item =
            cJSON_GetObjectItemCaseSensitive(rec, PULL_KEPT_MEMBERS[i]);
        char *t;

        k->at[row * PULL_KEPT_N + i] = 0;
        if (!item)
            continue;
        /* A string's characters (the caller refused escaped NULs). */
        if (cJSON_IsString(item)) {
            rc = put(k, row, i, 's', item->valuestring,
                     strlen(item->valuestring));
            continue;
        }
        t = cJSON_PrintUnformatted(item);
        rc = t ? put(k, row, i, 'j', t, strlen(t)) : ERR_NOMEM;
        cJSON_free(t);
    }
    return rc;
}

cJSON *pull_kept_object(const struct pull_kept *k, size_t row)
{
    cJSON *obj = cJSON_CreateObject();

    for (size_t i = 0; obj && i < PULL_KEPT_N; i++) {
        uint32_t at = k->at[row * PULL_KEPT_N + i];
        const char *e;
        cJSON *item;

        if (!at)
            continue;
        e = k->bytes.data + at - 1;
        /* A reference: cJSON_Delete leaves the characters alone. */
        item = e[0] == 's' ? cJSON_CreateStringReference(e + 1)
                           : cJSON_Parse(e + 1);
        /* CS: the key is a constant, not copied. */
        if (!item || !cJSON_AddItemToObjectCS(obj, PULL_KEPT_MEMBERS[i],
                                              item)) {
            cJSON_Delete(item);
            cJSON_Delete(obj);
            obj = NULL;
        }
    }
    return obj;
}
