/*
 * store_events.c - registration events pulled from 121, kept for
 * `agent serve` (store_sync.h: store_event_put; store_read.h:
 * store_read_events).
 */
#include "store_internal.h"
#include "store_read.h"
#include "store_sync.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

int store_event_put(struct store *s, int program_id, const cJSON *event)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(event, "id");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(event,
                                                        "registrationId");
    const cJSON *created = cJSON_GetObjectItemCaseSensitive(event, "created");
    sqlite3_stmt *st = NULL;
    char *json;
    int rc;

    if (!cJSON_IsNumber(id) || id->valuedouble < 1 ||
        id->valuedouble > 9007199254740991.0)
        return plat_err_set(ERR_INVALID, "event without a valid id");
    json = store__json_print(event);
    if (!json)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = store__prepare(s,
                        "INSERT OR REPLACE INTO registration_events(id,"
                        " program_id, registration_id, created, json)"
                        " VALUES (?1, ?2, ?3, ?4, ?5)",
                        &st);
    if (rc == PLAT_OK) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)id->valuedouble);
        sqlite3_bind_int(st, 2, program_id);
        if (cJSON_IsNumber(rid))
            sqlite3_bind_int64(st, 3, (sqlite3_int64)rid->valuedouble);
        else
            sqlite3_bind_null(st, 3);
        store__bind_text(st, 4, cJSON_IsString(created)
                                    ? created->valuestring : NULL);
        store__bind_text(st, 5, json);
        rc = store__step_done(s, st, "store a registration event");
    }
    sqlite3_finalize(st);
    plat_free(json);
    return rc;
}

int store_read_events(struct store *s, int program_id,
                      int64_t registration_id, store_json_cb cb,
                      void *payload)
{
    sqlite3_stmt *st = NULL;
    int rc = store__prepare(s,
                            "SELECT json FROM registration_events WHERE"
                            " program_id = ?1 AND (?2 = 0 OR"
                            " registration_id = ?2) ORDER BY id",
                            &st);

    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    sqlite3_bind_int64(st, 2, registration_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);

        if (t && (rc = cb(t, (size_t)sqlite3_column_bytes(st, 0),
                          payload)) != 0)
            break;
    }
    if (rc == SQLITE_DONE)
        rc = PLAT_OK;
    else if (rc > 0)
        rc = store__db_err(s, rc, "read registration events");
    sqlite3_finalize(st);
    return rc;
}
