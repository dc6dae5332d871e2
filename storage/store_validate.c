/*
 * store_validate.c - checks on registration input against its form and,
 * when the program definition is stored, against the program: attribute
 * names and types, options, languages, FSP configurations, required
 * attributes. Messages name the field and never its value, which may be
 * personal data; option keys, languages and FSP names are program
 * metadata and may be listed.
 *
 * Attribute patterns are not checked: 121 writes them as JavaScript
 * regular expressions, which POSIX regex would misread.
 */
#include "store_validate.h"
#include "store_internal.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_utf8.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LIST_MAX 300 /* bytes of option / language names in one message */

struct attr {
    char *name;
    char *type;
    int required;
    cJSON *options; /* array of option keys, or NULL */
};

struct program {
    int id;
    struct attr *attrs;
    int n_attrs;
    cJSON *languages; /* array of strings */
    cJSON *fsps;      /* array of configuration names */
};

static void program_dispose(struct program *p)
{
    int i;

    for (i = 0; i < p->n_attrs; i++) {
        plat_free(p->attrs[i].name);
        plat_free(p->attrs[i].type);
        cJSON_Delete(p->attrs[i].options);
    }
    plat_free(p->attrs);
    cJSON_Delete(p->languages);
    cJSON_Delete(p->fsps);
    memset(p, 0, sizeof(*p));
}

/* Rows of a one-column query as a JSON array of strings. */
static int load_names(struct store *s, const char *sql, int program_id,
                      cJSON **out)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *v;
    int rc;

    *out = cJSON_CreateArray();
    if (!*out)
        return ERR_NOMEM;
    rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = store__db_err(s, rc, "read the program");
        goto done;
    }
    sqlite3_bind_int(st, 1, program_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        v = sqlite3_column_text(st, 0);
        if (!cJSON_AddItemToArray(*out, cJSON_CreateString(
                                            v ? (const char *)v : ""))) {
            rc = ERR_NOMEM;
            goto done;
        }
    }
    rc = rc == SQLITE_DONE ? PLAT_OK : store__db_err(s, rc, "read the program");

done:
    sqlite3_finalize(st);
    return rc;
}

/* Load the stored definition of `program_id`; ERR_NOTFOUND (no message)
 * if there is none. */
static int program_load(struct store *s, int program_id, struct program *p)
{
    sqlite3_stmt *st = NULL;
    struct attr *a, *grown;
    const unsigned char *opts;
    int rc, cap = 0;

    memset(p, 0, sizeof(*p));
    p->id = program_id;
    rc = sqlite3_prepare_v2(s->db, "SELECT 1 FROM programs WHERE id = ?1", -1,
                            &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int(st, 1, program_id);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return ERR_NOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        rc = store__db_err(s, rc, "read the program");
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT name, type, is_required, options FROM "
                            "program_attributes WHERE program_id = ?1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = store__db_err(s, rc, "read the program");
        goto done;
    }
    sqlite3_bind_int(st, 1, program_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (p->n_attrs == cap) {
            cap = cap ? cap * 2 : 16;
            grown = plat_realloc(p->attrs, (size_t)cap * sizeof(*grown));
            if (!grown) {
                rc = ERR_NOMEM;
                goto done;
            }
            p->attrs = grown;
        }
        a = &p->attrs[p->n_attrs++];
        memset(a, 0, sizeof(*a));
        a->name = plat_strdup((const char *)sqlite3_column_text(st, 0));
        a->type = plat_strdup((const char *)sqlite3_column_text(st, 1));
        a->required = sqlite3_column_int(st, 2);
        if (!a->name || !a->type) {
            rc = ERR_NOMEM;
            goto done;
        }
        opts = sqlite3_column_text(st, 3);
        if (opts) {
            rc = store__json_parse(s, (const char *)opts,
                                   "a program attribute", &a->options);
            if (rc < 0)
                goto done;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = store__db_err(s, rc, "read the program");
        goto done;
    }
    rc = load_names(s,
                    "SELECT language FROM program_languages WHERE "
                    "program_id = ?1 ORDER BY language",
                    program_id, &p->languages);
    if (rc < 0)
        goto done;
    rc = load_names(s,
                    "SELECT name FROM fsp_configurations WHERE program_id = "
                    "?1 ORDER BY name",
                    program_id, &p->fsps);

done:
    sqlite3_finalize(st);
    if (rc < 0)
        program_dispose(p);
    return rc;
}

static const struct attr *find_attr(const struct program *p, const char *name)
{
    int i;

    for (i = 0; i < p->n_attrs; i++)
        if (strcmp(p->attrs[i].name, name) == 0)
            return &p->attrs[i];
    return NULL;
}

/* 1 if `v` is one of the strings of `list` (case-insensitive if icase). */
static int in_names(const cJSON *list, const char *v, int icase)
{
    const cJSON *n;

    for (n = list ? list->child : NULL; n; n = n->next)
        if (cJSON_IsString(n) && (icase ? strcasecmp(n->valuestring, v)
                                        : strcmp(n->valuestring, v)) == 0)
            return 1;
    return 0;
}

/* "a, b, c" from a list of names, cut at LIST_MAX bytes with ", ...". */
static void names_text(const cJSON *list, char *out, size_t n)
{
    const cJSON *it;
    size_t len = 0;

    out[0] = '\0';
    for (it = list ? list->child : NULL; it; it = it->next) {
        if (!cJSON_IsString(it))
            continue;
        if (len + strlen(it->valuestring) + 6 >= n) {
            snprintf(out + len, n - len, "%s...", len ? ", " : "");
            return;
        }
        len += (size_t)snprintf(out + len, n - len, "%s%s", len ? ", " : "",
                                it->valuestring);
    }
    if (!out[0])
        snprintf(out, n, "none");
}

/* ---- form --------------------------------------------------------------- */

static int key_ok(const char *k)
{
    size_t n;

    for (n = 0; k[n]; n++) {
        char c = k[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= 100;
}

static int printable_ascii(const char *k)
{
    size_t n;

    for (n = 0; k[n]; n++)
        if ((unsigned char)k[n] < 0x20 || (unsigned char)k[n] > 0x7e ||
            k[n] == '"')
            return 0;
    return n >= 1 && n <= 100;
}

static const char *kind_name(const cJSON *v)
{
    return cJSON_IsObject(v) ? "an object" : cJSON_IsArray(v) ? "an array"
                                                              : "a raw value";
}

static int check_form(const cJSON *fields)
{
    const cJSON *it;
    const char *dup;
    size_t len, bad;
    int pos = 0;

    if (!cJSON_IsObject(fields))
        return plat_err_set(ERR_INVALID, "fields must be a JSON object");
    for (it = fields->child; it; it = it->next, pos++) {
        if (!it->string || !key_ok(it->string)) {
            if (it->string && printable_ascii(it->string))
                return plat_err_set(ERR_INVALID,
                                    "field name \"%s\" is not valid: use 1 "
                                    "to 100 letters, digits, '_', '.' or '-'",
                                    it->string);
            return plat_err_set(ERR_INVALID,
                                "field name number %d is not valid: use 1 to "
                                "100 letters, digits, '_', '.' or '-'",
                                pos + 1);
        }
        if (cJSON_IsObject(it) || cJSON_IsArray(it) || cJSON_IsRaw(it) ||
            cJSON_IsInvalid(it))
            return plat_err_set(ERR_INVALID,
                                "field %s: expected a string, number, "
                                "boolean or null, got %s",
                                it->string, kind_name(it));
        if (!cJSON_IsString(it))
            continue;
        len = strlen(it->valuestring);
        if (len > STORE_VALUE_MAX)
            return plat_err_set(ERR_INVALID,
                                "field %s: value is %zu bytes, more than the "
                                "%d allowed",
                                it->string, len, STORE_VALUE_MAX);
        if (!plat_utf8_valid(it->valuestring, len, &bad))
            return plat_err_set(ERR_INVALID,
                                "field %s: value is not valid UTF-8 (bad byte"
                                " at offset %zu)",
                                it->string, bad);
    }
    if (store__has_duplicate_key(fields, &dup))
        return plat_err_set(ERR_INVALID, "field %s is given more than once",
                            dup);
    return PLAT_OK;
}

/* ---- values ------------------------------------------------------------- */

static int is_empty(const cJSON *v)
{
    return !v || cJSON_IsNull(v) ||
           (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

static int digits_only(const char *t, size_t *n_out)
{
    size_t n = 0;

    for (; *t >= '0' && *t <= '9'; t++)
        n++;
    *n_out = n;
    return *t == '\0';
}

/* An integer or decimal number written as text: -?D+(.D+)? */
static int number_text(const char *t)
{
    size_t n;

    if (*t == '-')
        t++;
    for (n = 0; *t >= '0' && *t <= '9'; t++)
        n++;
    if (n == 0)
        return 0;
    if (*t == '.') {
        t++;
        for (n = 0; *t >= '0' && *t <= '9'; t++)
            n++;
        if (n == 0)
            return 0;
    }
    return *t == '\0';
}

static int tel_text(const char *t)
{
    size_t digits = 0;

    for (; *t; t++) {
        if (*t >= '0' && *t <= '9')
            digits++;
        else if (!strchr(" +-()", *t))
            return 0;
    }
    return digits >= 5;
}

/* YYYY-MM-DD, or a full ISO-8601 time as 121 writes it. */
static int date_text(const char *t)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
    int64_t ms;
    int y, m, d, i;

    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (t[i] != '-')
                return 0;
        } else if (t[i] < '0' || t[i] > '9') {
            return 0;
        }
    }
    y = (t[0] - '0') * 1000 + (t[1] - '0') * 100 + (t[2] - '0') * 10 +
        (t[3] - '0');
    m = (t[5] - '0') * 10 + (t[6] - '0');
    d = (t[8] - '0') * 10 + (t[9] - '0');
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    if (t[10] == '\0')
        return 1;
    return t[10] == 'T' && plat_time_parse_iso(t, &ms) == PLAT_OK;
}

static int positive_int(const cJSON *v)
{
    size_t n;

    if (cJSON_IsNumber(v))
        return v->valuedouble >= 1 && v->valuedouble <= 2147483647.0 &&
               v->valuedouble == (double)(int)v->valuedouble;
    if (cJSON_IsString(v))
        return digits_only(v->valuestring, &n) && n > 0 && n <= 9 &&
               v->valuestring[0] != '0';
    return 0;
}

static int check_options(const char *field, const struct attr *a,
                         const char *text, int multi)
{
    char list[LIST_MAX], one[256];
    const char *p = text, *end;
    size_t n;
    int found;

    if (!a->options)
        return PLAT_OK; /* 121 gave no options: nothing to check against */
    for (;;) {
        end = multi ? strchr(p, '|') : NULL;
        n = end ? (size_t)(end - p) : strlen(p);
        found = 0;
        if (n < sizeof(one)) {
            memcpy(one, p, n);
            one[n] = '\0';
            found = in_names(a->options, one, 0);
        }
        if (!found) {
            names_text(a->options, list, sizeof(list));
            return plat_err_set(ERR_INVALID,
                                multi ? "field %s: a value is not one of its "
                                        "options (%s; separate several with "
                                        "'|')"
                                      : "field %s: value is not one of its "
                                        "options (%s)",
                                field, list);
        }
        if (!end)
            return PLAT_OK;
        p = end + 1;
    }
}

/* Check one non-empty attribute value against its type. */
static int check_attr_value(const char *field, const struct attr *a,
                            const cJSON *v)
{
    char buf[40];
    const char *text = store__scalar_text(v, buf, sizeof(buf));
    const char *t = a->type;

    if (strcmp(t, "boolean") == 0) {
        if (cJSON_IsBool(v) ||
            (text && (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)))
            return PLAT_OK;
        return plat_err_set(ERR_INVALID,
                            "field %s: expected true or false", field);
    }
    if (cJSON_IsBool(v))
        return plat_err_set(ERR_INVALID,
                            "field %s: expected %s, got a boolean", field,
                            strncmp(t, "numeric", 7) == 0 ? "a number"
                                                          : "text");
    /* From here the value is a string or a number, and text is set. */
    if (strcmp(t, "numeric") == 0 || strcmp(t, "numeric-nullable") == 0) {
        if (cJSON_IsNumber(v) || number_text(text))
            return PLAT_OK;
        return plat_err_set(ERR_INVALID, "field %s: expected a number",
                            field);
    }
    if (strcmp(t, "tel") == 0) {
        if (tel_text(text))
            return PLAT_OK;
        return plat_err_set(ERR_INVALID,
                            "field %s: not a phone number (digits, spaces, "
                            "'+', '-', '(' and ')' only, at least 5 digits)",
                            field);
    }
    if (strcmp(t, "dropdown") == 0)
        return check_options(field, a, text, 0);
    if (strcmp(t, "multi-select") == 0)
        return check_options(field, a, text, 1);
    if (strcmp(t, "date") == 0) {
        if (cJSON_IsString(v) && date_text(text))
            return PLAT_OK;
        return plat_err_set(ERR_INVALID,
                            "field %s: expected a date (YYYY-MM-DD)", field);
    }
    if (strcmp(t, "kobo-image") == 0 && !cJSON_IsString(v))
        return plat_err_set(ERR_INVALID, "field %s: expected text", field);
    /* text and types this agent does not know yet: any text. */
    return PLAT_OK;
}

/* One field that is not a program attribute: the registration fields 121
 * accepts besides attributes, or an unknown one. */
static int check_known_field(const struct program *p, const cJSON *v,
                             int mode)
{
    char list[LIST_MAX];
    const char *k = v->string;

    if (strcmp(k, "referenceId") == 0) {
        if (mode == STORE_VALIDATE_EDIT)
            return plat_err_set(ERR_INVALID, "field referenceId cannot be "
                                "edited");
        if (!cJSON_IsString(v))
            return plat_err_set(ERR_INVALID, "field referenceId must be a "
                                "string");
        return store__check_ref(v->valuestring);
    }
    if (strcmp(k, "programFspConfigurationName") == 0) {
        if (is_empty(v))
            return PLAT_OK; /* required-ness is checked separately */
        if (cJSON_IsString(v) && in_names(p->fsps, v->valuestring, 0))
            return PLAT_OK;
        names_text(p->fsps, list, sizeof(list));
        return plat_err_set(ERR_INVALID,
                            "field programFspConfigurationName: not one of "
                            "the FSP configurations of program %d (%s)",
                            p->id, list);
    }
    if (strcmp(k, "preferredLanguage") == 0) {
        if (is_empty(v))
            return PLAT_OK;
        if (cJSON_IsString(v) && in_names(p->languages, v->valuestring, 1))
            return PLAT_OK;
        names_text(p->languages, list, sizeof(list));
        return plat_err_set(ERR_INVALID,
                            "field preferredLanguage: not one of the "
                            "languages of program %d (%s)",
                            p->id, list);
    }
    if (strcmp(k, "paymentAmountMultiplier") == 0 ||
        strcmp(k, "maxPayments") == 0) {
        if (cJSON_IsNull(v) || positive_int(v))
            return PLAT_OK;
        return plat_err_set(ERR_INVALID,
                            "field %s: expected a positive whole number", k);
    }
    if (strcmp(k, "scope") == 0) {
        if (cJSON_IsNull(v) || cJSON_IsString(v))
            return PLAT_OK;
        return plat_err_set(ERR_INVALID, "field scope: expected text");
    }
    if (strcmp(k, "status") == 0)
        return plat_err_set(ERR_INVALID,
                            mode == STORE_VALIDATE_EDIT
                                ? "field status cannot be edited: use `agent "
                                  "registrations status`"
                                : "field status cannot be set: a new "
                                  "registration starts as new");
    return plat_err_set(ERR_INVALID,
                        "field %s is not an attribute of program %d", k,
                        p->id);
}

static int check_program(const struct program *p, const cJSON *fields,
                         int mode)
{
    char list[LIST_MAX];
    const struct attr *a;
    const cJSON *v;
    int i, rc;

    for (v = fields->child; v; v = v->next) {
        a = find_attr(p, v->string);
        if (!a) {
            rc = check_known_field(p, v, mode);
            if (rc < 0)
                return rc;
            if (mode == STORE_VALIDATE_EDIT &&
                strcmp(v->string, "programFspConfigurationName") == 0 &&
                is_empty(v))
                return plat_err_set(ERR_INVALID,
                                    "field programFspConfigurationName is "
                                    "required and cannot be cleared");
            continue;
        }
        if (is_empty(v)) {
            if (a->required)
                return plat_err_set(ERR_INVALID,
                                    mode == STORE_VALIDATE_EDIT
                                        ? "field %s is required by program "
                                          "%d and cannot be cleared"
                                        : "field %s is required by program "
                                          "%d",
                                    a->name, p->id);
            continue;
        }
        rc = check_attr_value(v->string, a, v);
        if (rc < 0)
            return rc;
    }
    if (mode != STORE_VALIDATE_CREATE)
        return PLAT_OK;
    for (i = 0; i < p->n_attrs; i++) {
        a = &p->attrs[i];
        if (a->required &&
            is_empty(cJSON_GetObjectItemCaseSensitive(fields, a->name)))
            return plat_err_set(ERR_INVALID,
                                "field %s is required by program %d",
                                a->name, p->id);
    }
    if (is_empty(cJSON_GetObjectItemCaseSensitive(
            fields, "programFspConfigurationName"))) {
        names_text(p->fsps, list, sizeof(list));
        return plat_err_set(ERR_INVALID,
                            "field programFspConfigurationName is required "
                            "(one of: %s)",
                            list);
    }
    return PLAT_OK;
}

int store_validate_fields(struct store *s, int program_id,
                          const struct cJSON *fields, int mode,
                          int *no_program_out)
{
    struct program p;
    int rc;

    if (no_program_out)
        *no_program_out = 0;
    if (mode != STORE_VALIDATE_CREATE && mode != STORE_VALIDATE_EDIT)
        return plat_err_set(ERR_INVALID, "unknown validation mode %d", mode);
    rc = check_form(fields);
    if (rc < 0)
        return rc;
    if (mode == STORE_VALIDATE_EDIT && !fields->child)
        return plat_err_set(ERR_INVALID, "no fields to change");

    rc = program_load(s, program_id, &p);
    if (rc == ERR_NOTFOUND) {
        if (no_program_out)
            *no_program_out = 1;
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    rc = check_program(&p, fields, mode);
    program_dispose(&p);
    return rc;
}
