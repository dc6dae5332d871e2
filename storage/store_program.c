/*
 * store_program.c - program definitions (attributes, languages, FSP
 * configurations) and message templates, as pulled from 121. The whole
 * JSON is kept, and the parts validation needs are split into tables.
 */
#include "store_program.h"
#include "store_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <stdio.h>
#include <string.h>

/* The string member `k` of `o` (checked by check_program beforehand). */
static const char *text_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_text(const cJSON *v)
{
    return cJSON_IsString(v) && v->valuestring[0] != '\0';
}

static int is_id(const cJSON *v)
{
    int64_t id;

    return store__json_int64(v, "id", 1, INT32_MAX, &id) == PLAT_OK;
}

/* The option keys of an attribute as a JSON array text, or NULL when it
 * has none. 121 sends [{"option":"north","label":{...}}, ...]; plain
 * strings are accepted too. */
static int option_keys(const cJSON *attr, int index, char **out)
{
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(attr, "options");
    const cJSON *o, *key;
    cJSON *keys = NULL;
    int i = 0, rc = PLAT_OK;

    *out = NULL;
    if (!opts || cJSON_IsNull(opts))
        return PLAT_OK;
    if (!cJSON_IsArray(opts))
        return plat_err_set(ERR_INVALID, "program: field "
                            "programRegistrationAttributes[%d].options is "
                            "not an array", index);
    keys = cJSON_CreateArray();
    if (!keys)
        return ERR_NOMEM;
    for (o = opts->child; o; o = o->next, i++) {
        key = cJSON_IsString(o) ? o
                                : cJSON_GetObjectItemCaseSensitive(o, "option");
        if (!cJSON_IsString(key)) {
            rc = plat_err_set(ERR_INVALID, "program: field "
                              "programRegistrationAttributes[%d].options[%d]"
                              ".option is missing or not a string", index, i);
            goto done;
        }
        if (!cJSON_AddItemToArray(keys, cJSON_CreateString(key->valuestring))) {
            rc = ERR_NOMEM;
            goto done;
        }
    }
    *out = store__json_print(keys);
    if (!*out)
        rc = ERR_NOMEM;

done:
    cJSON_Delete(keys);
    return rc;
}

/* Check the shape before anything is written, so the message can name the
 * first bad field and the stored program stays as it was. */
static int check_program(const cJSON *p)
{
    static const char *const fsp_lists[] = {"programFspConfigurations",
                                            "fspConfigurations"};
    const cJSON *attrs, *a, *v, *list;
    size_t l;
    int i;

    if (!cJSON_IsObject(p))
        return plat_err_set(ERR_INVALID, "program is not a JSON object");
    if (!is_id(cJSON_GetObjectItemCaseSensitive(p, "id")))
        return plat_err_set(ERR_INVALID, "program: field id is missing or "
                            "not a positive integer");
    attrs = cJSON_GetObjectItemCaseSensitive(p,
                                             "programRegistrationAttributes");
    if (!cJSON_IsArray(attrs))
        return plat_err_set(ERR_INVALID, "program: field "
                            "programRegistrationAttributes is missing or not "
                            "an array");
    for (a = attrs->child, i = 0; a; a = a->next, i++) {
        if (!is_text(cJSON_GetObjectItemCaseSensitive(a, "name")))
            return plat_err_set(ERR_INVALID, "program: field "
                                "programRegistrationAttributes[%d].name is "
                                "missing or not a string", i);
        if (!is_text(cJSON_GetObjectItemCaseSensitive(a, "type")))
            return plat_err_set(ERR_INVALID, "program: field "
                                "programRegistrationAttributes[%d].type is "
                                "missing or not a string", i);
        v = cJSON_GetObjectItemCaseSensitive(a, "isRequired");
        if (v && !cJSON_IsBool(v) && !cJSON_IsNull(v))
            return plat_err_set(ERR_INVALID, "program: field "
                                "programRegistrationAttributes[%d].isRequired"
                                " is not a boolean", i);
        v = cJSON_GetObjectItemCaseSensitive(a, "pattern");
        if (v && !cJSON_IsString(v) && !cJSON_IsNull(v))
            return plat_err_set(ERR_INVALID, "program: field "
                                "programRegistrationAttributes[%d].pattern is"
                                " not a string", i);
    }
    v = cJSON_GetObjectItemCaseSensitive(p, "languages");
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsArray(v))
            return plat_err_set(ERR_INVALID, "program: field languages is "
                                "not an array");
        for (a = v->child, i = 0; a; a = a->next, i++)
            if (!is_text(a))
                return plat_err_set(ERR_INVALID, "program: field "
                                    "languages[%d] is not a string", i);
    }
    for (l = 0; l < sizeof(fsp_lists) / sizeof(fsp_lists[0]); l++) {
        list = cJSON_GetObjectItemCaseSensitive(p, fsp_lists[l]);
        if (!list || cJSON_IsNull(list))
            continue;
        if (!cJSON_IsArray(list))
            return plat_err_set(ERR_INVALID, "program: field %s is not an "
                                "array", fsp_lists[l]);
        for (a = list->child, i = 0; a; a = a->next, i++) {
            if (!is_text(cJSON_GetObjectItemCaseSensitive(a, "name")))
                return plat_err_set(ERR_INVALID, "program: field %s[%d].name "
                                    "is missing or not a string",
                                    fsp_lists[l], i);
            if (!is_text(cJSON_GetObjectItemCaseSensitive(a, "fspName")))
                return plat_err_set(ERR_INVALID, "program: field %s[%d]."
                                    "fspName is missing or not a string",
                                    fsp_lists[l], i);
        }
    }
    return PLAT_OK;
}

static int prepare(struct store *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);

    if (rc != SQLITE_OK)
        return store__db_err(s, rc, "prepare a query");
    return PLAT_OK;
}

/* Run a bound statement to its end and reset it for the next row. */
static int step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store__db_err(s, rc, what);
    return PLAT_OK;
}

static int put_attributes(struct store *s, int id, const cJSON *attrs)
{
    sqlite3_stmt *st = NULL;
    const cJSON *a, *v;
    char *opts = NULL;
    int i, rc;

    rc = prepare(s,
                 "INSERT INTO program_attributes(program_id, name, type,"
                 " is_required, options, pattern) VALUES (?1, ?2, ?3, ?4, ?5,"
                 " ?6) ON CONFLICT(program_id, name) DO UPDATE SET"
                 " type = excluded.type, is_required = excluded.is_required,"
                 " options = excluded.options, pattern = excluded.pattern",
                 &st);
    if (rc < 0)
        return rc;
    for (a = attrs->child, i = 0; a; a = a->next, i++) {
        rc = option_keys(a, i, &opts);
        if (rc < 0)
            goto done;
        sqlite3_bind_int(st, 1, id);
        store__bind_text(st, 2, text_of(a, "name"));
        store__bind_text(st, 3, text_of(a, "type"));
        sqlite3_bind_int(st, 4, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                                    a, "isRequired")));
        store__bind_text(st, 5, opts);
        v = cJSON_GetObjectItemCaseSensitive(a, "pattern");
        store__bind_text(st, 6, cJSON_IsString(v) ? v->valuestring : NULL);
        rc = step_done(s, st, "store program attributes");
        cJSON_free(opts);
        opts = NULL;
        if (rc < 0)
            goto done;
    }

done:
    sqlite3_finalize(st);
    return rc;
}

static int put_languages(struct store *s, int id, const cJSON *langs)
{
    sqlite3_stmt *st = NULL;
    const cJSON *l;
    int rc;

    if (!cJSON_IsArray(langs))
        return PLAT_OK;
    rc = prepare(s,
                 "INSERT OR IGNORE INTO program_languages(program_id,"
                 " language) VALUES (?1, ?2)",
                 &st);
    for (l = langs->child; rc == PLAT_OK && l; l = l->next) {
        sqlite3_bind_int(st, 1, id);
        store__bind_text(st, 2, l->valuestring);
        rc = step_done(s, st, "store program languages");
    }
    sqlite3_finalize(st);
    return rc;
}

/* Both lists name FSP configurations (the program body has
 * programFspConfigurations, GET .../fsp-configurations gives
 * fspConfigurations); the first one seen for a name is kept. */
static int put_fsps(struct store *s, int id, const cJSON *program)
{
    static const char *const lists[] = {"programFspConfigurations",
                                        "fspConfigurations"};
    sqlite3_stmt *st = NULL;
    const cJSON *list, *c;
    char *json = NULL;
    size_t l;
    int rc;

    rc = prepare(s,
                 "INSERT OR IGNORE INTO fsp_configurations(program_id, name,"
                 " fsp_name, json) VALUES (?1, ?2, ?3, ?4)",
                 &st);
    for (l = 0; rc == PLAT_OK && l < sizeof(lists) / sizeof(lists[0]); l++) {
        list = cJSON_GetObjectItemCaseSensitive(program, lists[l]);
        if (!cJSON_IsArray(list))
            continue;
        for (c = list->child; rc == PLAT_OK && c; c = c->next) {
            json = store__json_print(c);
            if (!json) {
                rc = ERR_NOMEM;
                break;
            }
            sqlite3_bind_int(st, 1, id);
            store__bind_text(st, 2, text_of(c, "name"));
            store__bind_text(st, 3, text_of(c, "fspName"));
            store__bind_text(st, 4, json);
            rc = step_done(s, st, "store FSP configurations");
            cJSON_free(json);
            json = NULL;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int delete_parts(struct store *s, int id)
{
    static const char *const sql[] = {
        "DELETE FROM program_attributes WHERE program_id = ?1",
        "DELETE FROM program_languages WHERE program_id = ?1",
        "DELETE FROM fsp_configurations WHERE program_id = ?1",
    };
    sqlite3_stmt *st = NULL;
    size_t i;
    int rc = PLAT_OK;

    for (i = 0; rc == PLAT_OK && i < sizeof(sql) / sizeof(sql[0]); i++) {
        rc = prepare(s, sql[i], &st);
        if (rc < 0)
            break;
        sqlite3_bind_int(st, 1, id);
        rc = step_done(s, st, "replace a program");
        sqlite3_finalize(st);
        st = NULL;
    }
    return rc;
}

int store_program_put(struct store *s, const struct cJSON *program,
                      const char *etag)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    char *json = NULL;
    cJSON *view = NULL;
    int id, rc, token = 0, applied = 0;

    rc = check_program(program);
    if (rc < 0)
        return rc;
    id = (int)cJSON_GetObjectItemCaseSensitive(program, "id")->valuedouble;
    store__now(now);

    rc = store__txn_begin(s, &token);
    if (rc < 0)
        goto done;
    /* Label edits not yet on the server stay in the stored program: a
     * later edit of another language builds its label from it (seed 6767:
     * a program pull between two label edits dropped the first from the
     * copy, and the second sent the old text of its language over it). */
    view = cJSON_Duplicate(program, 1);
    if (!view) {
        rc = ERR_NOMEM;
        goto end_txn;
    }
    rc = store__labels_reapply(s, id, view, &applied);
    if (rc < 0)
        goto end_txn;
    if (applied)
        program = view;
    json = store__json_print(program);
    if (!json) {
        rc = ERR_NOMEM;
        goto end_txn;
    }
    /* An upsert, not INSERT OR REPLACE, which deletes the row first and
     * would cascade to every table that references programs. */
    rc = prepare(s,
                 "INSERT INTO programs(id, json, etag, pulled_at) VALUES (?1,"
                 " ?2, ?3, ?4) ON CONFLICT(id) DO UPDATE SET json ="
                 " excluded.json, etag = excluded.etag, pulled_at ="
                 " excluded.pulled_at",
                 &st);
    if (rc < 0)
        goto end_txn;
    sqlite3_bind_int(st, 1, id);
    store__bind_text(st, 2, json);
    store__bind_text(st, 3, etag);
    store__bind_text(st, 4, now);
    rc = step_done(s, st, "store a program");
    if (rc < 0)
        goto end_txn;
    rc = delete_parts(s, id);
    if (rc < 0)
        goto end_txn;
    rc = put_attributes(
        s, id,
        cJSON_GetObjectItemCaseSensitive(program,
                                         "programRegistrationAttributes"));
    if (rc < 0)
        goto end_txn;
    rc = put_languages(s, id,
                       cJSON_GetObjectItemCaseSensitive(program, "languages"));
    if (rc < 0)
        goto end_txn;
    rc = put_fsps(s, id, program);

end_txn:
    sqlite3_finalize(st);
    rc = store__txn_end(s, token, rc);

done:
    cJSON_free(json);
    cJSON_Delete(view);
    return rc;
}

int store_program_get(struct store *s, int program_id, struct cJSON **out,
                      char **etag_out)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *etag;
    char what[48];
    int rc;

    *out = NULL;
    if (etag_out)
        *etag_out = NULL;
    rc = prepare(s, "SELECT json, etag FROM programs WHERE id = ?1", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = plat_err_set(ERR_NOTFOUND, "program %d is not in the store (run "
                          "a sync first)", program_id);
        goto done;
    }
    if (rc != SQLITE_ROW) {
        rc = store__db_err(s, rc, "read a program");
        goto done;
    }
    snprintf(what, sizeof(what), "program %d", program_id);
    rc = store__json_parse(s, (const char *)sqlite3_column_text(st, 0), what,
                           out);
    if (rc < 0)
        goto done;
    etag = sqlite3_column_text(st, 1);
    if (etag_out && etag) {
        *etag_out = plat_strdup((const char *)etag);
        if (!*etag_out) {
            cJSON_Delete(*out);
            *out = NULL;
            rc = ERR_NOMEM;
        }
    }

done:
    sqlite3_finalize(st);
    return rc;
}

int store_program_put_templates(struct store *s, int program_id,
                                const struct cJSON *templates)
{
    sqlite3_stmt *st = NULL;
    const cJSON *t, *type, *lang;
    char *json = NULL;
    int i, rc, token = 0;

    if (program_id <= 0)
        return plat_err_set(ERR_INVALID, "program id %d is not valid",
                            program_id);
    if (!cJSON_IsArray(templates))
        return plat_err_set(ERR_INVALID, "message templates are not a JSON "
                            "array");
    for (t = templates->child, i = 0; t; t = t->next, i++) {
        if (!is_text(cJSON_GetObjectItemCaseSensitive(t, "type")))
            return plat_err_set(ERR_INVALID, "message template [%d]: field "
                                "type is missing or not a string", i);
        if (!is_text(cJSON_GetObjectItemCaseSensitive(t, "language")))
            return plat_err_set(ERR_INVALID, "message template [%d]: field "
                                "language is missing or not a string", i);
    }

    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = prepare(s, "DELETE FROM message_templates WHERE program_id = ?1",
                 &st);
    if (rc < 0)
        goto done;
    sqlite3_bind_int(st, 1, program_id);
    rc = step_done(s, st, "replace message templates");
    sqlite3_finalize(st);
    st = NULL;
    if (rc < 0)
        goto done;
    rc = prepare(s,
                 "INSERT INTO message_templates(program_id, type, language,"
                 " json) VALUES (?1, ?2, ?3, ?4) ON CONFLICT(program_id, type,"
                 " language) DO UPDATE SET json = excluded.json",
                 &st);
    for (t = templates->child; rc == PLAT_OK && t; t = t->next) {
        type = cJSON_GetObjectItemCaseSensitive(t, "type");
        lang = cJSON_GetObjectItemCaseSensitive(t, "language");
        json = store__json_print(t);
        if (!json) {
            rc = ERR_NOMEM;
            break;
        }
        sqlite3_bind_int(st, 1, program_id);
        store__bind_text(st, 2, type->valuestring);
        store__bind_text(st, 3, lang->valuestring);
        store__bind_text(st, 4, json);
        rc = step_done(s, st, "store message templates");
        cJSON_free(json);
        json = NULL;
    }

done:
    sqlite3_finalize(st);
    return store__txn_end(s, token, rc);
}
