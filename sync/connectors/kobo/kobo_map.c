/*
 * kobo_map.c - the Kobo connector's pure helpers (see kobo_map.h).
 */
#include "kobo_map.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_why(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;

    if (!why || !n)
        return;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

void kobo_clean_key(const char *key, char *out, size_t n)
{
    const char *slash = strrchr(key, '/');
    const char *p = slash ? slash + 1 : key;
    size_t i = 0;

    if (!n)
        return;
    for (; *p && i + 1 < n; p++)
        out[i++] = (char)tolower((unsigned char)*p);
    out[i] = '\0';
}

/* ---- scope folding ------------------------------------------------------- */

/* ASCII of U+00C0..U+017F (0 = keep the bytes). */
static const char fold_c0[] =
    "AAAAAAACEEEEIIII" "DNOOOOO\0OUUUUYTs"   /* C0..DF */
    "aaaaaaaceeeeiiii" "dnooooo\0ouuuuyty"   /* E0..FF */
    "AaAaAaCcCcCcCcDd" "DdEeEeEeEeEeGgGg"    /* 100..11F */
    "GgGgHhHhIiIiIiIi" "IiJjJjKkkLlLlLlL"    /* 120..13F */
    "lLlNnNnNnnNnOoOo" "OoOoRrRrRrSsSsSs"    /* 140..15F */
    "SsTtTtTtUuUuUuUu" "UuUuWwYyYZzZzZzs";   /* 160..17F */

void kobo_fold_scope(const char *in, char *out, size_t n)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0;

    if (!n)
        return;
    while (*p && i + 1 < n) {
        if (p[0] >= 0xC3 && p[0] <= 0xC5 && (p[1] & 0xC0) == 0x80) {
            unsigned cp = ((unsigned)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);

            if (cp >= 0xC0 && cp <= 0x17F && fold_c0[cp - 0xC0]) {
                out[i++] = (char)tolower((unsigned char)fold_c0[cp - 0xC0]);
                p += 2;
                continue;
            }
        }
        /* combining accents (NFD input): U+0300..U+036F dropped */
        if ((p[0] == 0xCC || (p[0] == 0xCD && p[1] <= 0xAF)) &&
            (p[1] & 0xC0) == 0x80) {
            p += 2;
            continue;
        }
        out[i++] = (char)tolower(*p);
        p++;
    }
    out[i] = '\0';
}

/* ---- mapping file -------------------------------------------------------- */

void kobo_mapping_free(struct kobo_mapping *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        plat_free(m->v[i].question);
        plat_free(m->v[i].key);
        plat_free(m->v[i].attr);
    }
    plat_free(m->v);
    plat_free(m->file);
    plat_free(m);
}

/* Line of the first `"key"` followed by ':' in text (1-based; 0 if not
 * found: a key written with escapes). */
static int key_line(const char *text, size_t len, const char *key)
{
    size_t kl = strlen(key);

    for (size_t i = 0; i + kl + 2 <= len; i++) {
        size_t j;

        if (text[i] != '"' || memcmp(text + i + 1, key, kl) != 0 ||
            text[i + 1 + kl] != '"')
            continue;
        j = i + kl + 2;
        while (j < len && isspace((unsigned char)text[j]))
            j++;
        if (j < len && text[j] == ':') {
            int line = 1;

            for (size_t k = 0; k < i; k++)
                line += text[k] == '\n';
            return line;
        }
    }
    return 0;
}

static int target_kind(const char *attr)
{
    if (strcmp(attr, "maxPayments") == 0 ||
        strcmp(attr, "paymentAmountMultiplier") == 0 ||
        strcmp(attr, "inclusionScore") == 0)
        return KOBO_T_INT;
    if (strcmp(attr, "scope") == 0)
        return KOBO_T_SCOPE;
    if (strcmp(attr, "programId") == 0)
        return KOBO_T_PROGRAM;
    if (strcmp(attr, "referenceId") == 0)
        return KOBO_T_REFID;
    return KOBO_T_TEXT;
}

int kobo_mapping_parse(const char *text, size_t len, const char *file,
                       struct kobo_mapping **out, char *why, size_t n)
{
    struct kobo_mapping *m;
    cJSON *root, *it;
    size_t count = 0, i;
    char key[256];

    *out = NULL;
    root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        set_why(why, n, "%s: not a JSON object {\"question\": "
                "\"attribute\", ...}", file);
        return ERR_INVALID;
    }
    for (it = root->child; it; it = it->next)
        count++;
    m = plat_calloc(1, sizeof(*m));
    if (!m || !(m->v = plat_calloc(count ? count : 1, sizeof(*m->v))) ||
        !(m->file = plat_strdup(file))) {
        kobo_mapping_free(m);
        cJSON_Delete(root);
        set_why(why, n, "out of memory");
        return ERR_NOMEM;
    }
    for (it = root->child; it; it = it->next) {
        struct kobo_map_entry *e = &m->v[m->n];
        const char *attr;
        int line = key_line(text, len, it->string);

        if (!it->string[0]) {
            set_why(why, n, "%s:%d: empty question name", file, line);
            goto bad;
        }
        if (!cJSON_IsString(it) || !it->valuestring[0]) {
            set_why(why, n, "%s:%d: key '%.80s': the attribute must be a "
                    "non-empty string", file, line, it->string);
            goto bad;
        }
        kobo_clean_key(it->string, key, sizeof(key));
        for (i = 0; i < m->n; i++)
            if (strcmp(m->v[i].key, key) == 0) {
                set_why(why, n, "%s:%d: key '%.80s': question given twice "
                        "(names are compared without case and group)",
                        file, line, it->string);
                goto bad;
            }
        attr = it->valuestring;
        if (strcmp(attr, "fspName") == 0 ||
            strcmp(attr,
                   "programFinancialServiceProviderConfigurationName") == 0)
            attr = "programFspConfigurationName";
        e->question = plat_strdup(it->string);
        e->key = plat_strdup(key);
        e->attr = plat_strdup(attr);
        e->kind = target_kind(attr);
        e->line = line;
        m->n++;
        if (!e->question || !e->key || !e->attr) {
            set_why(why, n, "out of memory");
            kobo_mapping_free(m);
            cJSON_Delete(root);
            return ERR_NOMEM;
        }
    }
    cJSON_Delete(root);
    *out = m;
    return PLAT_OK;
bad:
    kobo_mapping_free(m);
    cJSON_Delete(root);
    return ERR_INVALID;
}

/* ---- submissions --------------------------------------------------------- */

int kobo_submission_id(const cJSON *sub, int64_t *out)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(sub, "_id");

    *out = 0;
    if (!cJSON_IsNumber(id) || id->valuedouble < 1 ||
        id->valuedouble > 9007199254740991.0 ||
        id->valuedouble != (double)(int64_t)id->valuedouble)
        return ERR_INVALID;
    *out = (int64_t)id->valuedouble;
    return PLAT_OK;
}

static int uuid_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 5 || n > 190)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-')
            return 0;
    return 1;
}

int kobo_reference_id(const cJSON *sub, const char *asset, char *out,
                      size_t n)
{
    const cJSON *root = cJSON_GetObjectItemCaseSensitive(sub,
                                                         "meta/rootUuid");
    int64_t id;

    if (cJSON_IsString(root)) {
        const char *u = root->valuestring;

        if (strncmp(u, "uuid:", 5) == 0)
            u += 5;
        if (uuid_ok(u) && (size_t)snprintf(out, n, "%s", u) < n)
            return PLAT_OK;
    }
    if (kobo_submission_id(sub, &id) != PLAT_OK)
        return ERR_INVALID;
    if ((size_t)snprintf(out, n, "kobo-%s-%" PRId64, asset, id) >= n)
        return ERR_INVALID;
    return PLAT_OK;
}

/* The answer of question `key` (cleaned) in `sub`: the last top-level
 * string whose cleaned key matches (kobo-connect: later keys overwrite). */
static const cJSON *answer(const cJSON *sub, const char *key,
                           const char **full_key)
{
    const cJSON *it, *found = NULL;
    char k[256];

    for (it = sub ? sub->child : NULL; it; it = it->next) {
        if (!it->string || !cJSON_IsString(it))
            continue;
        kobo_clean_key(it->string, k, sizeof(k));
        if (strcmp(k, key) == 0) {
            found = it;
            if (full_key)
                *full_key = it->string;
        }
    }
    return found;
}

/* The download_url of the attachment answering `full_key` with file name
 * `value`, or NULL. */
static const char *attachment_url(const cJSON *sub, const char *full_key,
                                  const char *value)
{
    const cJSON *atts = cJSON_GetObjectItemCaseSensitive(sub, "_attachments");
    const cJSON *a;

    cJSON_ArrayForEach(a, atts) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, "question_xpath");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(a, "filename");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(a, "download_url");
        const cJSON *del = cJSON_GetObjectItemCaseSensitive(a, "is_deleted");
        const char *base;

        if (!cJSON_IsString(u) || cJSON_IsTrue(del))
            continue;
        if (cJSON_IsString(x) && strcmp(x->valuestring, full_key) == 0)
            return u->valuestring;
        if (cJSON_IsString(f)) {
            base = strrchr(f->valuestring, '/');
            base = base ? base + 1 : f->valuestring;
            if (strcmp(base, value) == 0)
                return u->valuestring;
        }
    }
    return NULL;
}

static const cJSON *program_attr(const cJSON *program, const char *name)
{
    const cJSON *attrs, *a;

    attrs = cJSON_GetObjectItemCaseSensitive(program,
                                             "programRegistrationAttributes");
    cJSON_ArrayForEach(a, attrs) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(a, "name");

        if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0)
            return a;
    }
    return NULL;
}

static const char *attr_type(const cJSON *a)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(a, "type");

    return cJSON_IsString(t) ? t->valuestring : "text";
}

static int option_known(const cJSON *a, const char *value)
{
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(a, "options"), *o;

    if (!cJSON_IsArray(opts) || !opts->child)
        return 1;             /* no options stored: 121 decides */
    cJSON_ArrayForEach(o, opts) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "option");

        if (cJSON_IsString(v) && strcmp(v->valuestring, value) == 0)
            return 1;
    }
    return 0;
}

static int parse_int(const char *s, long long *out)
{
    char *end = NULL;
    long long v;

    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    while (end && isspace((unsigned char)*end))
        end++;
    if (errno || !end || *end)
        return 0;
    *out = v;
    return 1;
}

static int is_number(const char *s)
{
    char *end = NULL;

    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return 0;
    errno = 0;
    (void)strtod(s, &end);
    while (end && isspace((unsigned char)*end))
        end++;
    return !errno && end && !*end;
}

static const struct kobo_map_entry *entry_for_attr(const struct kobo_mapping *m,
                                                   const char *attr)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].attr, attr) == 0)
            return &m->v[i];
    return NULL;
}

int kobo_map_submission(const struct kobo_mapping *m, const cJSON *sub,
                        const cJSON *program, const char *fsp_default,
                        cJSON **fields_out, int *program_id_out, char *why,
                        size_t n)
{
    const cJSON *skip = answer(sub, "skipconnect", NULL);
    cJSON *fields;
    char buf[512];

    *fields_out = NULL;
    if (program_id_out)
        *program_id_out = 0;
    if (skip && strcmp(skip->valuestring, "1") == 0)
        return KOBO_SKIP;
    fields = cJSON_CreateObject();
    if (!fields)
        goto nomem;
    for (size_t i = 0; i < m->n; i++) {
        const struct kobo_map_entry *e = &m->v[i];
        const char *full = NULL, *val, *url;
        const cJSON *ans = answer(sub, e->key, &full), *pa;
        cJSON *item = NULL;
        long long iv;

        if (!ans)
            continue;           /* unanswered: absent, as Kobo gives it */
        val = ans->valuestring;
        switch (e->kind) {
        case KOBO_T_REFID:
            continue;           /* kobo_validation_ref */
        case KOBO_T_PROGRAM:
            if (!parse_int(val, &iv) || iv <= 0 || iv > 2147483647LL) {
                set_why(why, n, "question %s, attribute %s: not a program "
                        "id", e->question, e->attr);
                goto bad;
            }
            if (program_id_out)
                *program_id_out = (int)iv;
            continue;
        case KOBO_T_INT:
            if (!parse_int(val, &iv)) {
                set_why(why, n, "question %s, attribute %s: not an integer",
                        e->question, e->attr);
                goto bad;
            }
            item = cJSON_CreateNumber((double)iv);
            break;
        case KOBO_T_SCOPE:
            kobo_fold_scope(val, buf, sizeof(buf));
            item = cJSON_CreateString(buf);
            break;
        default:
            url = val[0] ? attachment_url(sub, full, val) : NULL;
            item = cJSON_CreateString(url ? url : val);
            break;
        }
        if (!item)
            goto nomem;
        cJSON_DeleteItemFromObjectCaseSensitive(fields, e->attr);
        cJSON_AddItemToObject(fields, e->attr, item);
        pa = program ? program_attr(program, e->attr) : NULL;
        if (pa && e->kind == KOBO_T_TEXT && val[0]) {
            const char *t = attr_type(pa);

            if (strcmp(t, "dropdown") == 0 && !option_known(pa, val)) {
                set_why(why, n, "question %s, attribute %s: not an option "
                        "of the dropdown", e->question, e->attr);
                goto bad;
            }
            if (strcmp(t, "numeric") == 0 && !is_number(val)) {
                set_why(why, n, "question %s, attribute %s: not a number",
                        e->question, e->attr);
                goto bad;
            }
        }
    }
    if (fsp_default && *fsp_default &&
        !cJSON_GetObjectItemCaseSensitive(fields,
                                          "programFspConfigurationName") &&
        !cJSON_AddStringToObject(fields, "programFspConfigurationName",
                                 fsp_default))
        goto nomem;
    if (program && !kobo_validation_ref(m, NULL, NULL, 0, NULL)) {
        /* (a validation form edits only what it answers) */
        const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(
            program, "programRegistrationAttributes"), *a;

        cJSON_ArrayForEach(a, attrs) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(a, "name");
            const cJSON *v;
            const struct kobo_map_entry *e;

            if (!cJSON_IsString(nm) ||
                !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a,
                                                               "isRequired")))
                continue;
            e = entry_for_attr(m, nm->valuestring);
            if (!e)
                continue;       /* not mapped at all: 121 decides */
            v = cJSON_GetObjectItemCaseSensitive(fields, nm->valuestring);
            if (!v || (cJSON_IsString(v) && !v->valuestring[0])) {
                set_why(why, n, "question %s, attribute %s: required "
                        "attribute not answered", e->question, e->attr);
                goto bad;
            }
        }
    }
    *fields_out = fields;
    return PLAT_OK;
nomem:
    cJSON_Delete(fields);
    set_why(why, n, "out of memory");
    return ERR_NOMEM;
bad:
    cJSON_Delete(fields);
    return ERR_INVALID;
}

void kobo_prune(const struct kobo_mapping *m, cJSON *sub)
{
    static const char *const keep[] = {"_id", "_uuid", "meta/rootUuid",
                                       "_attachments", NULL};
    cJSON *it = sub ? sub->child : NULL, *next;
    char k[256];

    for (; it; it = next) {
        int used = 0;

        next = it->next;
        for (size_t i = 0; !used && keep[i]; i++)
            used = it->string && strcmp(it->string, keep[i]) == 0;
        if (!used && it->string) {
            kobo_clean_key(it->string, k, sizeof(k));
            used = strcmp(k, "skipconnect") == 0 ||
                   strcmp(k, "skipvalidation") == 0;
            for (size_t i = 0; !used && i < m->n; i++)
                used = strcmp(m->v[i].key, k) == 0;
        }
        if (!used)
            cJSON_Delete(cJSON_DetachItemViaPointer(sub, it));
    }
}

int kobo_validation_ref(const struct kobo_mapping *m, const cJSON *sub,
                        char *out, size_t n, int *skip_out)
{
    const struct kobo_map_entry *e = NULL;
    const cJSON *ans, *skip;

    for (size_t i = 0; !e && i < m->n; i++)
        if (m->v[i].kind == KOBO_T_REFID)
            e = &m->v[i];
    if (!e)
        return 0;
    if (out && n) {
        ans = answer(sub, e->key, NULL);
        snprintf(out, n, "%s", ans ? ans->valuestring : "");
    }
    if (skip_out) {
        skip = answer(sub, "skipvalidation", NULL);
        *skip_out = skip && strcmp(skip->valuestring, "1") == 0;
    }
    return 1;
}

/* ---- the mapping against the form and the program ----------------------- */

static const cJSON *form_question(const cJSON *asset, const char *key)
{
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(asset, "content");
    const cJSON *survey = cJSON_GetObjectItemCaseSensitive(content, "survey");
    const cJSON *row;
    char k[256];

    cJSON_ArrayForEach(row, survey) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(row, "name");

        if (!cJSON_IsString(nm))
            continue;
        kobo_clean_key(nm->valuestring, k, sizeof(k));
        if (strcmp(k, key) == 0)
            return row;
    }
    return NULL;
}

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

/* 121 fields that are not program attributes but may be mapped. */
static const char *const builtin_attrs[] = {
    "programFspConfigurationName", "preferredLanguage", "scope",
    "maxPayments", "paymentAmountMultiplier", "inclusionScore", "programId",
    "phoneNumber", "referenceId", NULL
};

/* Why question type `qt` cannot give a 121 attribute of type `at`, or
 * NULL when it can. */
static const char *type_mismatch(const char *qt, const char *at, int kind)
{
    static const char *const numeric_q[] = {"integer", "decimal", "range",
                                            "calculate", "hidden", NULL};
    static const char *const int_q[] = {"integer", "range", "calculate",
                                        "hidden", "select_one", NULL};
    static const char *const media_q[] = {"image", "audio", "video", "file",
                                          "background-audio", NULL};
    char base[64];

    snprintf(base, sizeof(base), "%s", qt);
    base[strcspn(base, " ")] = '\0';   /* "select_one list" */
    if (kind == KOBO_T_INT || kind == KOBO_T_PROGRAM)
        return in_list(base, int_q) ? NULL : "an integer attribute needs an "
               "integer question";
    if (!at)
        return NULL;
    if (strcmp(at, "numeric") == 0 && !in_list(base, numeric_q))
        return "a numeric attribute needs an integer or decimal question";
    if (strcmp(at, "dropdown") == 0 && strcmp(base, "select_one") != 0 &&
        strcmp(base, "calculate") != 0 && strcmp(base, "hidden") != 0)
        return "a dropdown attribute needs a select_one question";
    if (strcmp(at, "text") != 0 && in_list(base, media_q))
        return "a media question can only give a text attribute";
    if (strcmp(at, "text") != 0 && strcmp(base, "select_multiple") == 0)
        return "a select_multiple question can only give a text attribute";
    return NULL;
}

int kobo_mapping_check(const struct kobo_mapping *m, const cJSON *asset,
                       const cJSON *program, char *out, size_t n)
{
    size_t used = 0;
    int problems = 0;

#define PROBLEM(...)                                                       \
    do {                                                                   \
        if (used < n) {                                                    \
            int w_ = snprintf(out + used, n - used, __VA_ARGS__);          \
            used += w_ > 0 ? (size_t)w_ : 0;                               \
        }                                                                  \
        problems++;                                                        \
    } while (0)

    if (n)
        out[0] = '\0';
    for (size_t i = 0; i < m->n; i++) {
        const struct kobo_map_entry *e = &m->v[i];
        const cJSON *q = asset ? form_question(asset, e->key) : NULL;
        const cJSON *pa = program ? program_attr(program, e->attr) : NULL;
        const char *why;

        if (asset && !q && strcmp(e->key, "skipconnect") != 0)
            PROBLEM("%s%s:%d: key '%s': unknown question (not in the form)",
                    problems ? "\n" : "", m->file, e->line, e->question);
        if (program && !pa && !in_list(e->attr, builtin_attrs))
            PROBLEM("%s%s:%d: key '%s': unknown attribute %s (not in the "
                    "121 program)", problems ? "\n" : "", m->file, e->line,
                    e->question, e->attr);
        if (q) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(q, "type");

            why = type_mismatch(cJSON_IsString(t) ? t->valuestring : "text",
                                pa ? attr_type(pa) : NULL, e->kind);
            if (why)
                PROBLEM("%s%s:%d: key '%s': wrong type for attribute %s: %s",
                        problems ? "\n" : "", m->file, e->line, e->question,
                        e->attr, why);
        }
    }
#undef PROBLEM
    return problems;
}

/* ---- a program from a form ------------------------------------------------ */

/* Language code of translation `t` ("English (en)" -> "en"). */
static void lang_code(const cJSON *t, char *out, size_t n)
{
    const char *s = cJSON_IsString(t) ? t->valuestring : NULL;
    const char *o = s ? strrchr(s, '(') : NULL, *c;

    snprintf(out, n, "en");
    if (o && (c = strchr(o, ')')) != NULL && c - o - 1 > 0 &&
        (size_t)(c - o - 1) < n)
        snprintf(out, n, "%.*s", (int)(c - o - 1), o + 1);
}

/* {"en": "...", "fr": "..."} from a label array aligned with
 * translations (NULL entries skipped). */
static cJSON *labels(const cJSON *label, const cJSON *translations)
{
    cJSON *o = cJSON_CreateObject();
    int i = 0;
    const cJSON *l;
    char code[32];

    if (!o)
        return NULL;
    if (cJSON_IsString(label)) {
        cJSON_AddStringToObject(o, "en", label->valuestring);
        return o;
    }
    cJSON_ArrayForEach(l, label) {
        if (cJSON_IsString(l)) {
            lang_code(cJSON_GetArrayItem(translations, i), code,
                      sizeof(code));
            if (!cJSON_GetObjectItemCaseSensitive(o, code))
                cJSON_AddStringToObject(o, code, l->valuestring);
        }
        i++;
    }
    return o;
}

static int has_tag(const cJSON *row, const char *tag)
{
    const cJSON *t;

    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(row, "tags"))
        if (cJSON_IsString(t) && strcmp(t->valuestring, tag) == 0)
            return 1;
    return 0;
}

int kobo_program_from_form(const cJSON *asset, cJSON **out, char *why,
                           size_t n)
{
    /* setup question -> kind: t text, n number, b boolean, l translated
     * text, s list of language codes */
    static const struct { const char *name, *field; char kind; } setup[] = {
        {"titleportal", "titlePortal", 'l'},
        {"description", "description", 'l'},
        {"location", "location", 't'},
        {"ngo", "ngo", 't'},
        {"startdate", "startDate", 't'},
        {"enddate", "endDate", 't'},
        {"currency", "currency", 't'},
        {"validation", "validation", 'b'},
        {"budget", "budget", 'n'},
        {"maxpayments", "maxPayments", 'n'},
        {"distributionfrequency", "distributionFrequency", 't'},
        {"distributionduration", "distributionDuration", 'n'},
        {"fixedtransfervalue", "fixedTransferValue", 'n'},
        {"targetnrregistrations", "targetNrRegistrations", 'n'},
        {"language", "languages", 's'},
        {"languages", "languages", 's'},
        {NULL, NULL, 0}
    };
    static const char *const skip_types[] = {
        "begin_group", "end_group", "begin_repeat", "end_repeat", "note",
        "start", "end", "today", "deviceid", "username", "simserial",
        "subscriberid", "phonenumber", "audit", "calculate", "hidden",
        "image", "audio", "video", "file", "background-audio", NULL
    };
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(asset, "content");
    const cJSON *survey = cJSON_GetObjectItemCaseSensitive(content, "survey");
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(content,
                                                            "choices");
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(content,
                                                       "translations");
    const cJSON *row;
    cJSON *prog, *attrs;
    char key[256], type[64];
    int repeat = 0;

    *out = NULL;
    if (!cJSON_IsArray(survey)) {
        set_why(why, n, "the form has no content.survey");
        return ERR_INVALID;
    }
    prog = cJSON_CreateObject();
    attrs = prog ? cJSON_AddArrayToObject(prog, "programRegistrationAttributes")
                 : NULL;
    if (!attrs)
        goto nomem;
    {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(asset, "name");

        if (cJSON_IsString(nm)) {
            cJSON *t = cJSON_CreateObject();

            if (!t || !cJSON_AddStringToObject(t, "en", nm->valuestring) ||
                !cJSON_AddItemToObject(prog, "titlePortal", t))
                goto nomem;
        }
    }
    cJSON_ArrayForEach(row, survey) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(row, "name");
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(row, "type");
        const cJSON *dflt = cJSON_GetObjectItemCaseSensitive(row, "default");
        const char *t121 = "text";
        cJSON *a;
        size_t i;

        if (!cJSON_IsString(ty))
            continue;
        snprintf(type, sizeof(type), "%s", ty->valuestring);
        type[strcspn(type, " ")] = '\0';
        /* a repeat's answers are arrays: no 121 attribute holds them */
        if (strcmp(type, "begin_repeat") == 0)
            repeat++;
        else if (strcmp(type, "end_repeat") == 0 && repeat > 0)
            repeat--;
        if (!cJSON_IsString(nm) || repeat > 0 || in_list(type, skip_types))
            continue;
        kobo_clean_key(nm->valuestring, key, sizeof(key));
        for (i = 0; setup[i].name; i++)
            if (strcmp(setup[i].name, key) == 0)
                break;
        if (setup[i].name) {
            const char *v = cJSON_IsString(dflt) ? dflt->valuestring : NULL;
            cJSON *item = NULL;

            if (!v)
                continue;
            cJSON_DeleteItemFromObjectCaseSensitive(prog, setup[i].field);
            if (setup[i].kind == 'n') {
                item = is_number(v) ? cJSON_CreateNumber(atof(v))
                                    : cJSON_CreateString(v);
            } else if (setup[i].kind == 'b') {
                item = cJSON_CreateBool(strcmp(v, "true") == 0 ||
                                        strcmp(v, "yes") == 0 ||
                                        strcmp(v, "1") == 0);
            } else if (setup[i].kind == 'l') {
                item = cJSON_CreateObject();
                if (item)
                    cJSON_AddStringToObject(item, "en", v);
            } else if (setup[i].kind == 's') {
                char buf[256], *save = NULL, *w;

                item = cJSON_CreateArray();
                snprintf(buf, sizeof(buf), "%s", v);
                for (w = strtok_r(buf, " ,", &save); item && w;
                     w = strtok_r(NULL, " ,", &save))
                    cJSON_AddItemToArray(item, cJSON_CreateString(w));
            } else {
                item = cJSON_CreateString(v);
            }
            if (!item || !cJSON_AddItemToObject(prog, setup[i].field, item))
                goto nomem;
            continue;
        }
        if (strcmp(type, "integer") == 0 || strcmp(type, "decimal") == 0 ||
            strcmp(type, "range") == 0)
            t121 = "numeric";
        else if (strcmp(type, "select_one") == 0)
            t121 = "dropdown";
        else if (strcmp(type, "tel") == 0)
            t121 = "tel";
        a = cJSON_CreateObject();
        if (!a || !cJSON_AddItemToArray(attrs, a) ||
            !cJSON_AddStringToObject(a, "name", nm->valuestring) ||
            !cJSON_AddStringToObject(a, "type", t121) ||
            !cJSON_AddItemToObject(a, "label", labels(
                cJSON_GetObjectItemCaseSensitive(row, "label"), tr)) ||
            !cJSON_AddBoolToObject(a, "isRequired", cJSON_IsTrue(
                cJSON_GetObjectItemCaseSensitive(row, "required"))) ||
            !cJSON_AddBoolToObject(a, "duplicateCheck",
                                   has_tag(row, "dedupe")) ||
            !cJSON_AddBoolToObject(a, "showInPeopleAffectedTable", 1) ||
            !cJSON_AddBoolToObject(a, "editableInPortal", 1))
            goto nomem;
        if (strcmp(t121, "dropdown") == 0) {
            const cJSON *list = cJSON_GetObjectItemCaseSensitive(
                row, "select_from_list_name"), *ch;
            char lname[128] = "";
            cJSON *opts = cJSON_AddArrayToObject(a, "options");

            if (!opts)
                goto nomem;
            if (cJSON_IsString(list))
                snprintf(lname, sizeof(lname), "%s", list->valuestring);
            else if (strchr(ty->valuestring, ' '))
                snprintf(lname, sizeof(lname), "%s",
                         strchr(ty->valuestring, ' ') + 1);
            cJSON_ArrayForEach(ch, choices) {
                const cJSON *ln = cJSON_GetObjectItemCaseSensitive(
                    ch, "list_name");
                const cJSON *cn = cJSON_GetObjectItemCaseSensitive(ch, "name");
                cJSON *o;

                if (!cJSON_IsString(ln) || !cJSON_IsString(cn) ||
                    strcmp(ln->valuestring, lname) != 0)
                    continue;
                o = cJSON_CreateObject();
                if (!o || !cJSON_AddItemToArray(opts, o) ||
                    !cJSON_AddStringToObject(o, "option", cn->valuestring) ||
                    !cJSON_AddItemToObject(o, "label", labels(
                        cJSON_GetObjectItemCaseSensitive(ch, "label"), tr)))
                    goto nomem;
            }
        }
    }
    *out = prog;
    return PLAT_OK;
nomem:
    cJSON_Delete(prog);
    set_why(why, n, "out of memory");
    return ERR_NOMEM;
}

/* ---- edits ---------------------------------------------------------------- */

static int same_text(const cJSON *a, const cJSON *b)
{
    char ta[64], tb[64];
    const char *sa, *sb;

    if (!a || cJSON_IsNull(a))
        return !b || cJSON_IsNull(b) ||
               (cJSON_IsString(b) && !b->valuestring[0]);
    if (!b || cJSON_IsNull(b))
        return cJSON_IsString(a) && !a->valuestring[0];
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNumber(a))
        snprintf(ta, sizeof(ta), "%.17g", a->valuedouble);
    if (cJSON_IsNumber(b))
        snprintf(tb, sizeof(tb), "%.17g", b->valuedouble);
    sa = cJSON_IsNumber(a) ? ta : cJSON_IsString(a) ? a->valuestring : NULL;
    sb = cJSON_IsNumber(b) ? tb : cJSON_IsString(b) ? b->valuestring : NULL;
    return sa && sb && strcmp(sa, sb) == 0;
}

int kobo_diff(const cJSON *old, const cJSON *now, cJSON **changes_out,
              cJSON **base_out)
{
    cJSON *ch = cJSON_CreateObject(), *base = cJSON_CreateObject();
    const cJSON *it;

    *changes_out = *base_out = NULL;
    if (!ch || !base)
        goto nomem;
    cJSON_ArrayForEach(it, now) {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(old, it->string);
        cJSON *b;

        if (strcmp(it->string, "programId") == 0 || same_text(o, it))
            continue;
        b = o ? cJSON_Duplicate(o, 1) : cJSON_CreateNull();
        if (!b || !cJSON_AddItemToObject(ch, it->string,
                                         cJSON_Duplicate(it, 1)) ||
            !cJSON_AddItemToObject(base, it->string, b))
            goto nomem;
    }
    cJSON_ArrayForEach(it, old) {
        if (cJSON_GetObjectItemCaseSensitive(now, it->string) ||
            same_text(it, NULL))
            continue;
        if (!cJSON_AddNullToObject(ch, it->string) ||
            !cJSON_AddItemToObject(base, it->string, cJSON_Duplicate(it, 1)))
            goto nomem;
    }
    if (!ch->child) {
        cJSON_Delete(ch);
        cJSON_Delete(base);
        return PLAT_OK;
    }
    *changes_out = ch;
    *base_out = base;
    return PLAT_OK;
nomem:
    cJSON_Delete(ch);
    cJSON_Delete(base);
    return plat_err_set(ERR_NOMEM, "out of memory");
}

/* ---- paths --------------------------------------------------------------- */

int kobo_data_path(const char *asset, int64_t after, const int64_t *in_ids,
                   size_t n_in, int limit, int fields, char **out)
{
    struct plat_buf b, q;
    int rc;

    *out = NULL;
    plat_buf_init(&b, 1 << 20);
    plat_buf_init(&q, 1 << 20);
    rc = plat_buf_puts(&b, "/api/v2/assets/");
    if (rc == PLAT_OK)
        rc = sync_http_escape(&b, asset);
    if (rc == PLAT_OK)
        rc = plat_buf_printf(&b, "/data/?format=json&limit=%d&sort=", limit);
    if (rc == PLAT_OK)
        rc = sync_http_escape(&b, "{\"_id\":1}");
    if (rc == PLAT_OK && in_ids) {
        rc = plat_buf_puts(&q, "{\"_id\":{\"$in\":[");
        for (size_t i = 0; rc == PLAT_OK && i < n_in; i++)
            rc = plat_buf_printf(&q, "%s%" PRId64, i ? "," : "", in_ids[i]);
        if (rc == PLAT_OK)
            rc = plat_buf_puts(&q, "]}}");
    } else if (rc == PLAT_OK) {
        rc = plat_buf_printf(&q, "{\"_id\":{\"$gt\":%" PRId64 "}}", after);
    }
    if (rc == PLAT_OK)
        rc = plat_buf_puts(&b, "&query=");
    if (rc == PLAT_OK)
        rc = sync_http_escape(&b, q.data);
    if (rc == PLAT_OK && fields) {
        rc = plat_buf_puts(&b, "&fields=");
        if (rc == PLAT_OK)
            rc = sync_http_escape(&b, "[\"_id\",\"_uuid\",\"meta/rootUuid\","
                                  "\"_validation_status\"]");
    }
    plat_buf_dispose(&q);
    if (rc != PLAT_OK) {
        plat_buf_dispose(&b);
        return rc;
    }
    *out = plat_buf_detach(&b);
    return *out ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
}
