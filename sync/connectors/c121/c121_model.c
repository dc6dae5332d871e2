/*
 * c121_model.c - the 121 data model as pure functions over cJSON (contract
 * in c121_model.h): status table, value comparison, event typing and
 * application, and the validation of offline input against a program
 * definition (the body of GET /programs/{id}, as the store keeps it).
 *
 * Messages name the field and never its value, which may be personal
 * data; option keys, languages and FSP configuration names are program
 * metadata and may be listed.
 *
 * Attribute patterns are not checked: 121 writes them as JavaScript
 * regular expressions, which POSIX regex would misread.
 */
#include "c121_model.h"

#include "plat_err.h"
#include "plat_time.h"
#include "plat_utf8.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define LIST_MAX 300 /* bytes of option / language names in one message */
#define REF_MAX 200  /* 121: referenceId is 5-200 characters */

/* Largest magnitude 121 keeps exactly for a numeric value: JavaScript's
 * Number.MAX_SAFE_INTEGER (2^53 - 1). */
#define NUM_LIMIT 9007199254740991.0

/* ---- statuses ----------------------------------------------------------- */

struct status_row {
    const char *from;
    const char *targets; /* comma-separated, as shown to people */
};

static const struct status_row status_table[] = {
    {"new", "included, validated, declined, deleted, paused"},
    {"validated", "included, declined, deleted"},
    {"included", "completed, paused, declined, deleted"},
    {"completed", "included, declined, deleted"},
    {"paused", "validated, included, declined, deleted"},
    {"declined", "included, deleted"},
    {"deleted", ""},
};

static const struct status_row *status_find(const char *s)
{
    size_t i;

    if (!s)
        return NULL;
    for (i = 0; i < N_OF(status_table); i++)
        if (strcmp(status_table[i].from, s) == 0)
            return &status_table[i];
    return NULL;
}

int c121_status_known(const char *s)
{
    return status_find(s) != NULL;
}

/* 1 if `word` is one of the ", "-separated words of `list`. */
static int in_word_list(const char *list, const char *word)
{
    size_t n = strlen(word);
    const char *p = list;

    while (*p) {
        if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return 1;
        p = strchr(p, ',');
        if (!p)
            break;
        p += 2; /* ", " */
    }
    return 0;
}

int c121_status_transition_allowed(const char *from, const char *to)
{
    const struct status_row *r = status_find(from);

    if (!r || !status_find(to))
        return 0;
    return in_word_list(r->targets, to);
}

int c121_status_settable(const char *to)
{
    static const char *const settable[] = {"validated", "included", "paused",
                                           "declined", "deleted"};
    size_t i;

    if (!to)
        return 0;
    for (i = 0; i < N_OF(settable); i++)
        if (strcmp(settable[i], to) == 0)
            return 1;
    return 0;
}

int c121_status_reason_required(const char *to)
{
    return to && (strcmp(to, "declined") == 0 || strcmp(to, "paused") == 0 ||
                  strcmp(to, "deleted") == 0);
}

const char *c121_status_targets(const char *from)
{
    const struct status_row *r = status_find(from);

    return r ? r->targets : "";
}

const char *c121_copy_status(const cJSON *reg)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(reg, "status");

    return cJSON_IsString(st) && st->valuestring[0] ? st->valuestring
                                                     : "new";
}

/* ---- values ------------------------------------------------------------- */

#define NUM_BUF 40

/* Text of a scalar as 121 compares it; NULL for objects and arrays. */
static const char *cmp_text(const cJSON *v, char *buf, size_t n)
{
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d >= -9007199254740992.0 && d <= 9007199254740992.0 &&
            d == (double)(long long)d)
            snprintf(buf, n, "%lld", (long long)d);
        else
            snprintf(buf, n, "%.17g", d);
        return buf;
    }
    return NULL;
}

const char *c121_value_text(const cJSON *v, char *buf, size_t n)
{
    if (!v || cJSON_IsNull(v))
        return "";
    return cmp_text(v, buf, n);
}

static int is_empty(const cJSON *v)
{
    return !v || cJSON_IsNull(v) ||
           (cJSON_IsString(v) && v->valuestring[0] == '\0');
}

int c121_same_value(const cJSON *a, const cJSON *b)
{
    char ba[NUM_BUF], bb[NUM_BUF];
    const char *ta, *tb;

    if (is_empty(a) || is_empty(b))
        return is_empty(a) && is_empty(b);
    ta = cmp_text(a, ba, sizeof(ba));
    tb = cmp_text(b, bb, sizeof(bb));
    if (ta && tb)
        return strcmp(ta, tb) == 0;
    return cJSON_Compare(a, b, 1);
}

/* The attribute `name` of `program`, or NULL. */
static const cJSON *find_attr(const cJSON *program, const char *name)
{
    const cJSON *attrs, *a, *n;

    attrs = cJSON_GetObjectItemCaseSensitive(program,
                                             "programRegistrationAttributes");
    if (!cJSON_IsArray(attrs) || !name)
        return NULL;
    for (a = attrs->child; a; a = a->next) {
        n = cJSON_GetObjectItemCaseSensitive(a, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return a;
    }
    return NULL;
}

static const char *attr_text(const cJSON *a, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int c121_is_tel(const cJSON *program, const char *field)
{
    const char *type;

    if (!field)
        return 0;
    if (strcmp(field, "phoneNumber") == 0)
        return 1;
    type = attr_text(find_attr(program, field), "type");
    return type && strcmp(type, "tel") == 0;
}

/* The digits of a phone number, without a leading international "00". */
static void phone_digits(const char *s, char *out, size_t n)
{
    size_t k = 0;

    for (; *s && k + 1 < n; s++)
        if (*s >= '0' && *s <= '9')
            out[k++] = *s;
    out[k] = '\0';
    if (k >= 2 && out[0] == '0' && out[1] == '0')
        memmove(out, out + 2, k - 1);
}

int c121_same_field(const cJSON *program, const char *field, const cJSON *a,
                    const cJSON *b)
{
    char da[64], db[64];

    if (c121_same_value(a, b))
        return 1;
    if (!cJSON_IsString(a) || !cJSON_IsString(b) ||
        !c121_is_tel(program, field))
        return 0;
    phone_digits(a->valuestring, da, sizeof(da));
    phone_digits(b->valuestring, db, sizeof(db));
    return da[0] && strcmp(da, db) == 0;
}

/* ---- events ------------------------------------------------------------- */

/* The fields of every registration (contract 3.1); every other key of a
 * registration is a program attribute, erased when it is deleted. */
static const char *const fixed_fields[] = {
    "id", "referenceId", "registrationProgramId", "personAffectedSequence",
    "programId", "status", "created", "preferredLanguage", "inclusionScore",
    "paymentAmountMultiplier", "maxPayments", "paymentCount",
    "paymentCountRemaining", "programFspConfigurationName",
    "programFspConfigurationId", "programFspConfigurationLabel", "fspName",
    "scope", "lastMessageStatus", "duplicateStatus", "name"};

/* Fields 121 returns as numbers (null when unset). */
static const char *const number_fields[] = {
    "registrationProgramId", "inclusionScore", "paymentAmountMultiplier",
    "maxPayments", "paymentCount", "paymentCountRemaining",
    "programFspConfigurationId"};

static int in_list(const char *key, const char *const *list, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0)
            return 1;
    return 0;
}

cJSON *c121_event_value(const cJSON *reg, const char *field, const char *text)
{
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(reg, field);
    char *end = NULL;
    double d;

    if (!text)
        return cJSON_CreateNull();
    if (cJSON_IsNumber(cur) ||
        (field && in_list(field, number_fields, N_OF(number_fields)))) {
        errno = 0;
        d = strtod(text, &end);
        if (end != text && *end == '\0' && errno == 0 && isfinite(d))
            return cJSON_CreateNumber(d);
    }
    if (cJSON_IsBool(cur)) {
        if (strcmp(text, "true") == 0)
            return cJSON_CreateTrue();
        if (strcmp(text, "false") == 0)
            return cJSON_CreateFalse();
    }
    return cJSON_CreateString(text);
}

/* Set obj[key] = item, replacing any value; takes `item` (deleted on
 * failure). A NULL item (a failed cJSON_Create*) gives ERR_NOMEM. */
static int put_item(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return plat_err_set(ERR_NOMEM, "out of memory setting field %s", key);
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item))
            return PLAT_OK;
    } else if (cJSON_AddItemToObject(obj, key, item)) {
        return PLAT_OK;
    }
    cJSON_Delete(item);
    return plat_err_set(ERR_NOMEM, "out of memory setting field %s", key);
}

/* 121 erases the attribute data of a deleted registration. */
static int erase_attributes(cJSON *reg)
{
    cJSON *item, *next;
    int rc;

    /* put_item replaces `item` in place; its successor stays valid. */
    for (item = reg->child; item; item = next) {
        next = item->next;
        if (!item->string ||
            in_list(item->string, fixed_fields, N_OF(fixed_fields)) ||
            cJSON_IsNull(item))
            continue;
        rc = put_item(reg, item->string, cJSON_CreateNull());
        if (rc < 0)
            return rc;
    }
    return put_item(reg, "name", cJSON_CreateString(""));
}

/* paymentCountRemaining follows maxPayments - paymentCount, as 121 computes
 * it for the registration view. */
static int recompute_remaining(cJSON *reg)
{
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(reg, "maxPayments");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(reg,
                                                          "paymentCount");

    if (cJSON_IsNumber(max) && cJSON_IsNumber(count))
        return put_item(reg, "paymentCountRemaining",
                        cJSON_CreateNumber(max->valuedouble -
                                           count->valuedouble));
    if (!max || cJSON_IsNull(max))
        return put_item(reg, "paymentCountRemaining", cJSON_CreateNull());
    return PLAT_OK;
}

int c121_apply_event(cJSON *reg, const char *field, const char *new_value)
{
    int rc;

    if (!field || !*field)
        return plat_err_set(ERR_INVALID, "registration event without a "
                            "field name");
    if (strcmp(field, "referenceId") == 0 || strcmp(field, "id") == 0 ||
        strcmp(field, "programId") == 0)
        return plat_err_set(ERR_INVALID, "a registration event cannot change "
                            "%s", field);
    if (!cJSON_IsObject(reg))
        return plat_err_set(ERR_INVALID, "registration is not a JSON "
                            "object");
    rc = put_item(reg, field, c121_event_value(reg, field, new_value));
    if (rc < 0)
        return rc;
    if (strcmp(field, "status") == 0 && new_value &&
        strcmp(new_value, "deleted") == 0)
        return erase_attributes(reg);
    if (strcmp(field, "maxPayments") == 0)
        return recompute_remaining(reg);
    return PLAT_OK;
}

int c121_apply_event_fn(cJSON *reg, void *payload)
{
    const struct c121_event *ev = payload;

    if (!ev)
        return plat_err_set(ERR_INVALID, "no registration event given");
    return c121_apply_event(reg, ev->field, ev->new_value);
}

int c121_mark_deleted(cJSON *reg, void *payload)
{
    (void)payload;
    return c121_apply_event(reg, "status", "deleted");
}

/* ---- validation: program lookups ---------------------------------------- */

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

/* "a, b, c" from the names `name_of` gives for the items of `list`, cut
 * at `n` bytes with ", ..."; "none" when there are none. */
static void names_add(const char *name, char *out, size_t n, size_t *len,
                      int *full)
{
    if (*full || !name)
        return;
    if (*len + strlen(name) + 6 >= n) {
        snprintf(out + *len, n - *len, "%s...", *len ? ", " : "");
        *full = 1;
        return;
    }
    *len += (size_t)snprintf(out + *len, n - *len, "%s%s", *len ? ", " : "",
                             name);
}

/* Option key of one option: 121 sends {"option":"north",...}; plain
 * strings are accepted too. */
static const char *option_key(const cJSON *o)
{
    const cJSON *k = cJSON_IsString(o)
                         ? o
                         : cJSON_GetObjectItemCaseSensitive(o, "option");

    return cJSON_IsString(k) ? k->valuestring : NULL;
}

static int has_option(const cJSON *options, const char *v)
{
    const cJSON *o;
    const char *k;

    for (o = options->child; o; o = o->next) {
        k = option_key(o);
        if (k && strcmp(k, v) == 0)
            return 1;
    }
    return 0;
}

static void options_text(const cJSON *options, char *out, size_t n)
{
    const cJSON *o;
    size_t len = 0;
    int full = 0;

    out[0] = '\0';
    for (o = options->child; o; o = o->next)
        names_add(option_key(o), out, n, &len, &full);
    if (!out[0])
        snprintf(out, n, "none");
}

/* Languages of the program, case-insensitive, sorted for the message as
 * the store's table listed them. */
static int has_language(const cJSON *program, const char *v)
{
    return in_names(cJSON_GetObjectItemCaseSensitive(program, "languages"),
                    v, 1);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The strings `names` (n of them) sorted, duplicates dropped, as text. */
static void sorted_text(const char **names, size_t n, char *out, size_t size)
{
    size_t i, len = 0;
    int full = 0;

    qsort(names, n, sizeof(*names), cmp_str);
    out[0] = '\0';
    for (i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            names_add(names[i], out, size, &len, &full);
    if (!out[0])
        snprintf(out, size, "none");
}

#define NAMES_MAX 64 /* names listed in one message */

static void languages_text(const cJSON *program, char *out, size_t size)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(program, "languages");
    const char *names[NAMES_MAX];
    size_t n = 0;

    for (l = cJSON_IsArray(l) ? l->child : NULL; l && n < NAMES_MAX;
         l = l->next)
        if (cJSON_IsString(l))
            names[n++] = l->valuestring;
    sorted_text(names, n, out, size);
}

/* Both lists name FSP configurations (the program body has
 * programFspConfigurations; GET .../fsp-configurations gives
 * fspConfigurations, which the puller merges into the program). */
static const char *const fsp_lists[] = {"programFspConfigurations",
                                        "fspConfigurations"};

static int has_fsp(const cJSON *program, const char *v)
{
    const cJSON *list, *c;
    const char *name;
    size_t l;

    for (l = 0; l < N_OF(fsp_lists); l++) {
        list = cJSON_GetObjectItemCaseSensitive(program, fsp_lists[l]);
        for (c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next) {
            name = attr_text(c, "name");
            if (name && strcmp(name, v) == 0)
                return 1;
        }
    }
    return 0;
}

static void fsps_text(const cJSON *program, char *out, size_t size)
{
    const char *names[NAMES_MAX];
    const cJSON *list, *c;
    size_t l, n = 0;

    for (l = 0; l < N_OF(fsp_lists); l++) {
        list = cJSON_GetObjectItemCaseSensitive(program, fsp_lists[l]);
        for (c = cJSON_IsArray(list) ? list->child : NULL;
             c && n < NAMES_MAX; c = c->next)
            if (attr_text(c, "name"))
                names[n++] = attr_text(c, "name");
    }
    sorted_text(names, n, out, size);
}

static int program_id(const cJSON *program)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(program, "id");

    if (cJSON_IsNumber(id) && id->valuedouble >= 1 &&
        id->valuedouble <= 2147483647.0)
        return (int)id->valuedouble;
    return 0;
}

static int attr_required(const cJSON *a)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "isRequired"));
}

/* ---- validation: form --------------------------------------------------- */

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

static int duplicate_key(const cJSON *obj, const char **dup_out)
{
    const cJSON *a, *b;

    *dup_out = NULL;
    for (a = obj->child; a; a = a->next)
        for (b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0) {
                *dup_out = a->string;
                return 1;
            }
    return 0;
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
        if (cJSON_IsNumber(it) && !isfinite(it->valuedouble))
            return plat_err_set(ERR_INVALID,
                                "field %s: number is not finite", it->string);
        if (!cJSON_IsString(it))
            continue;
        if (!it->valuestring)
            return plat_err_set(ERR_INVALID, "field %s: value is missing",
                                it->string);
        len = strlen(it->valuestring);
        if (len > C121_VALUE_MAX)
            return plat_err_set(ERR_INVALID,
                                "field %s: value is %zu bytes, more than the "
                                "%d allowed",
                                it->string, len, C121_VALUE_MAX);
        if (!plat_utf8_valid(it->valuestring, len, &bad))
            return plat_err_set(ERR_INVALID,
                                "field %s: value is not valid UTF-8 (bad byte"
                                " at offset %zu)",
                                it->string, bad);
    }
    if (duplicate_key(fields, &dup))
        return plat_err_set(ERR_INVALID, "field %s is given more than once",
                            dup);
    return PLAT_OK;
}

int c121_text_has_nul(const char *json_text, size_t len)
{
    size_t i, bs;

    if (!json_text)
        return 0;
    if (memchr(json_text, '\0', len))
        return 1;
    /* "\u0000" outside of an escaped backslash ("\\u0000" is text). */
    for (i = 0; i + 6 <= len; i++) {
        if (json_text[i] != '\\' || strncmp(json_text + i + 1, "u0000", 5))
            continue;
        for (bs = 0; bs < i && json_text[i - 1 - bs] == '\\'; bs++)
            ;
        if (bs % 2 == 0)
            return 1;
    }
    return 0;
}

/* ---- validation: values ------------------------------------------------- */

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

/* 1 if `d` is a number 121 keeps: finite, at most 2^53 - 1 in size. */
static int number_in_range(double d)
{
    return isfinite(d) && d >= -NUM_LIMIT && d <= NUM_LIMIT;
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

static int check_options(const char *field, const cJSON *options,
                         const char *text, int multi)
{
    char list[LIST_MAX], one[256];
    const char *p = text, *end;
    size_t n;
    int found;

    if (!cJSON_IsArray(options))
        return PLAT_OK; /* 121 gave no options: nothing to check against */
    for (;;) {
        end = multi ? strchr(p, '|') : NULL;
        n = end ? (size_t)(end - p) : strlen(p);
        found = 0;
        if (n < sizeof(one)) {
            memcpy(one, p, n);
            one[n] = '\0';
            found = has_option(options, one);
        }
        if (!found) {
            options_text(options, list, sizeof(list));
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
static int check_attr_value(const char *field, const cJSON *a,
                            const cJSON *v)
{
    char buf[NUM_BUF];
    const char *text = cJSON_IsBool(v) ? NULL : cmp_text(v, buf, sizeof(buf));
    const char *t = attr_text(a, "type");

    if (!t)
        t = "text";
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
        if (cJSON_IsNumber(v)) {
            if (number_in_range(v->valuedouble))
                return PLAT_OK;
        } else if (number_text(text)) {
            if (number_in_range(strtod(text, NULL)))
                return PLAT_OK;
        } else {
            return plat_err_set(ERR_INVALID, "field %s: expected a number",
                                field);
        }
        return plat_err_set(ERR_INVALID,
                            "field %s: number out of range (at most %.0f in "
                            "size)",
                            field, NUM_LIMIT);
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
        return check_options(field,
                             cJSON_GetObjectItemCaseSensitive(a, "options"),
                             text, 0);
    if (strcmp(t, "multi-select") == 0)
        return check_options(field,
                             cJSON_GetObjectItemCaseSensitive(a, "options"),
                             text, 1);
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

/* A referenceId 121 accepts in its URLs and filters. */
static int check_ref(const char *ref)
{
    size_t n = ref ? strlen(ref) : 0;
    size_t i;

    if (n < 5 || n > REF_MAX)
        return plat_err_set(ERR_INVALID,
                            "referenceId must be 5 to %d characters long",
                            REF_MAX);
    if (!plat_utf8_valid(ref, n, NULL))
        return plat_err_set(ERR_INVALID, "referenceId is not valid UTF-8");
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)ref[i];
        if (c <= 0x20 || c == 0x7f || strchr("$,/\\?#%", c))
            return plat_err_set(ERR_INVALID,
                                "referenceId must not contain spaces, "
                                "control characters or any of $ , / \\ ? "
                                "# %%");
    }
    if (strcmp(ref, "status") == 0)
        return plat_err_set(ERR_INVALID, "referenceId cannot be \"status\"");
    return PLAT_OK;
}

/* One field that is not a program attribute: the registration fields 121
 * accepts besides attributes, or an unknown one. */
static int check_known_field(const cJSON *p, const cJSON *v, int mode)
{
    char list[LIST_MAX];
    const char *k = v->string;
    int id = program_id(p);

    if (strcmp(k, "referenceId") == 0) {
        if (mode == C121_VALIDATE_EDIT)
            return plat_err_set(ERR_INVALID, "field referenceId cannot be "
                                "edited");
        if (!cJSON_IsString(v))
            return plat_err_set(ERR_INVALID, "field referenceId must be a "
                                "string");
        return check_ref(v->valuestring);
    }
    if (strcmp(k, "programFspConfigurationName") == 0) {
        if (is_empty(v))
            return PLAT_OK; /* required-ness is checked separately */
        if (cJSON_IsString(v) && has_fsp(p, v->valuestring))
            return PLAT_OK;
        fsps_text(p, list, sizeof(list));
        return plat_err_set(ERR_INVALID,
                            "field programFspConfigurationName: not one of "
                            "the FSP configurations of program %d (%s)",
                            id, list);
    }
    if (strcmp(k, "preferredLanguage") == 0) {
        if (is_empty(v))
            return PLAT_OK;
        if (cJSON_IsString(v) && has_language(p, v->valuestring))
            return PLAT_OK;
        languages_text(p, list, sizeof(list));
        return plat_err_set(ERR_INVALID,
                            "field preferredLanguage: not one of the "
                            "languages of program %d (%s)",
                            id, list);
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
                            mode == C121_VALIDATE_EDIT
                                ? "field status cannot be edited: use `agent "
                                  "registrations status`"
                                : "field status cannot be set: a new "
                                  "registration starts as new");
    return plat_err_set(ERR_INVALID,
                        "field %s is not an attribute of program %d", k, id);
}

static int check_program(const cJSON *p, const cJSON *fields, int mode)
{
    char list[LIST_MAX];
    const cJSON *a, *v, *attrs;
    const char *name;
    int rc, id = program_id(p);

    for (v = fields->child; v; v = v->next) {
        a = find_attr(p, v->string);
        if (!a) {
            rc = check_known_field(p, v, mode);
            if (rc < 0)
                return rc;
            if (mode == C121_VALIDATE_EDIT &&
                strcmp(v->string, "programFspConfigurationName") == 0 &&
                is_empty(v))
                return plat_err_set(ERR_INVALID,
                                    "field programFspConfigurationName is "
                                    "required and cannot be cleared");
            continue;
        }
        if (is_empty(v)) {
            if (attr_required(a))
                return plat_err_set(ERR_INVALID,
                                    mode == C121_VALIDATE_EDIT
                                        ? "field %s is required by program "
                                          "%d and cannot be cleared"
                                        : "field %s is required by program "
                                          "%d",
                                    v->string, id);
            continue;
        }
        rc = check_attr_value(v->string, a, v);
        if (rc < 0)
            return rc;
    }
    if (mode != C121_VALIDATE_CREATE)
        return PLAT_OK;
    attrs = cJSON_GetObjectItemCaseSensitive(p,
                                             "programRegistrationAttributes");
    for (a = cJSON_IsArray(attrs) ? attrs->child : NULL; a; a = a->next) {
        name = attr_text(a, "name");
        if (name && attr_required(a) &&
            is_empty(cJSON_GetObjectItemCaseSensitive(fields, name)))
            return plat_err_set(ERR_INVALID,
                                "field %s is required by program %d", name,
                                id);
    }
    if (is_empty(cJSON_GetObjectItemCaseSensitive(
            fields, "programFspConfigurationName"))) {
        fsps_text(p, list, sizeof(list));
        return plat_err_set(ERR_INVALID,
                            "field programFspConfigurationName is required "
                            "(one of: %s)",
                            list);
    }
    return PLAT_OK;
}

int c121_validate_fields(const cJSON *program, const cJSON *fields, int mode)
{
    int rc;

    if (mode != C121_VALIDATE_CREATE && mode != C121_VALIDATE_EDIT)
        return plat_err_set(ERR_INVALID, "unknown validation mode %d", mode);
    rc = check_form(fields);
    if (rc < 0)
        return rc;
    if (mode == C121_VALIDATE_EDIT && !fields->child)
        return plat_err_set(ERR_INVALID, "no fields to change");
    if (!program)
        return PLAT_OK;
    if (!cJSON_IsObject(program))
        return plat_err_set(ERR_INVALID, "program is not a JSON object");
    return check_program(program, fields, mode);
}
