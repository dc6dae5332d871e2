/*
 * reg_ask.c - guided registration entry (see reg_ask.h).
 */
#include "reg_ask.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "c121_model.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_OPTIONS 200

/* One question. */
struct field {
    const char *name;
    const char *label;
    const char *type;        /* "text", "tel", "numeric", "dropdown", ... */
    int required;
    const char *hint;        /* placeholder, or NULL                     */
    const char *keys[MAX_OPTIONS];   /* dropdown option keys             */
    const char *labels[MAX_OPTIONS]; /* and what people read             */
    size_t nopt;
};

struct asker {
    FILE *in, *out;
    const cJSON *program;
    const char *lang;
    char *line;
    size_t cap;
};

/* The text of a label object in `lang`, else English, else any string. */
static const char *label_text(const cJSON *label, const char *lang)
{
    const cJSON *v;

    if (cJSON_IsString(label))
        return label->valuestring;
    v = cJSON_GetObjectItemCaseSensitive(label, lang);
    if (cJSON_IsString(v) && *v->valuestring)
        return v->valuestring;
    v = cJSON_GetObjectItemCaseSensitive(label, "en");
    if (cJSON_IsString(v) && *v->valuestring)
        return v->valuestring;
    cJSON_ArrayForEach(v, label) {
        if (cJSON_IsString(v) && *v->valuestring)
            return v->valuestring;
    }
    return NULL;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void add_option(struct field *f, const char *key, const char *label)
{
    if (!key || f->nopt >= MAX_OPTIONS)
        return;
    f->keys[f->nopt] = key;
    f->labels[f->nopt] = label && *label ? label : key;
    f->nopt++;
}

static void attribute_field(struct field *f, const cJSON *a, const char *lang)
{
    const cJSON *opt, *options = cJSON_GetObjectItemCaseSensitive(a,
                                                                  "options");

    memset(f, 0, sizeof(*f));
    f->name = str_of(a, "name");
    f->label = label_text(cJSON_GetObjectItemCaseSensitive(a, "label"), lang);
    f->type = str_of(a, "type");
    if (!f->type)
        f->type = "text";
    f->required = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a,
                                                                "isRequired"));
    f->hint = label_text(cJSON_GetObjectItemCaseSensitive(a, "placeholder"),
                         lang);
    cJSON_ArrayForEach(opt, options) {
        if (cJSON_IsString(opt))
            add_option(f, opt->valuestring, NULL);
        else
            add_option(f, str_of(opt, "option"),
                       label_text(cJSON_GetObjectItemCaseSensitive(opt,
                                                                   "label"),
                                  lang));
    }
}

/* Read one line without its newline into a->line. ERR_GENERIC at end of
 * input (Ctrl-D): the entry is cancelled. */
static int read_line(struct asker *a)
{
    ssize_t n;

    fflush(a->out);
    n = getline(&a->line, &a->cap, a->in);
    if (n < 0)
        return plat_err_set(ERR_GENERIC, "cancelled: nothing was stored");
    while (n > 0 && (a->line[n - 1] == '\n' || a->line[n - 1] == '\r'))
        a->line[--n] = '\0';
    return PLAT_OK;
}

/* 1 if `s` is blank. */
static int blank(const char *s)
{
    for (; *s; s++) {
        if (*s != ' ' && *s != '\t')
            return 0;
    }
    return 1;
}

/* The option key for an answer: a number from the list or a key/label as
 * written. NULL if neither. */
static const char *pick_option(const struct field *f, const char *ans)
{
    char *end;
    long n = strtol(ans, &end, 10);

    while (*end == ' ')
        end++;
    if (end != ans && *end == '\0' && n >= 1 && (size_t)n <= f->nopt)
        return f->keys[n - 1];
    for (size_t i = 0; i < f->nopt; i++) {
        if (strcmp(ans, f->keys[i]) == 0 ||
            strcasecmp(ans, f->labels[i]) == 0)
            return f->keys[i];
    }
    return NULL;
}

/* "1,3" -> "a|c" for a multi-select, into `buf`. 0 if a part is wrong. */
static int pick_many(const struct field *f, const char *ans, char *buf,
                     size_t n)
{
    char part[256];
    const char *p = ans;
    size_t used = 0;

    buf[0] = '\0';
    while (*p) {
        size_t len = strcspn(p, ",|");
        const char *key;

        if (len >= sizeof(part))
            return 0;
        memcpy(part, p, len);
        part[len] = '\0';
        while (len > 0 && part[len - 1] == ' ')
            part[--len] = '\0';
        key = pick_option(f, part + strspn(part, " "));
        if (!key)
            return 0;
        used += (size_t)snprintf(buf + used, n > used ? n - used : 0, "%s%s",
                                 used ? "|" : "", key);
        if (used >= n)
            return 0;
        p += strcspn(p, ",|");
        if (*p)
            p++;
    }
    return 1;
}

/* The value 121 would check: `value` for `f` alone, as an edit (so a
 * missing required field is not an error here). */
static int check_value(const struct asker *a, const struct field *f,
                       const char *value)
{
    cJSON *o = cJSON_CreateObject();
    int rc;

    if (!o || !cJSON_AddStringToObject(o, f->name, value)) {
        cJSON_Delete(o);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    rc = c121_validate_fields(a->program, o, C121_VALIDATE_EDIT);
    cJSON_Delete(o);
    return rc;
}

static const char *option_label(const struct field *f, const char *key)
{
    for (size_t i = 0; i < f->nopt; i++) {
        if (strcmp(f->keys[i], key) == 0)
            return f->labels[i];
    }
    return key;
}

/* Ask for one field until the answer is valid. `cur`: the current value
 * (edit; "" none). *value: the answer (owned, "" for none). */
static int ask(struct asker *a, const struct field *f, const char *cur,
               char **value)
{
    char many[2048];
    const char *label = f->label ? f->label : f->name;
    int multi = strcmp(f->type, "multi-select") == 0;
    int boolean = strcmp(f->type, "boolean") == 0;
    int rc;

    *value = NULL;
    fprintf(a->out, "\n%s%s", label, f->required ? " *" : "");
    if (strcmp(f->type, "numeric") == 0)
        fputs(" (a number)", a->out);
    else if (strcmp(f->type, "tel") == 0)
        fprintf(a->out, " (phone number%s%s)", f->hint ? ", e.g. " : "",
                f->hint ? f->hint : "");
    else if (strcmp(f->type, "date") == 0)
        fputs(" (YYYY-MM-DD)", a->out);
    else if (boolean)
        fputs(" (y/n)", a->out);
    fputc('\n', a->out);
    for (size_t i = 0; i < f->nopt; i++)
        fprintf(a->out, "  %zu) %s\n", i + 1, f->labels[i]);
    for (;;) {
        const char *ans;

        fputs(!f->nopt ? ">" : multi ? "choose numbers (1,3)"
              : "choose a number", a->out);
        if (*cur)
            fprintf(a->out, " [%s]", f->nopt && !multi
                    ? option_label(f, cur) : cur);
        fputs(": ", a->out);
        if ((rc = read_line(a)) < 0)
            return rc;
        ans = a->line + strspn(a->line, " \t");
        if (blank(ans)) {
            if (*cur) {
                *value = plat_strdup(cur);
                return *value ? PLAT_OK : ERR_NOMEM;
            }
            if (f->required) {
                fputs("  required: please answer\n", a->out);
                continue;
            }
            *value = plat_strdup("");
            return *value ? PLAT_OK : ERR_NOMEM;
        }
        if (strcmp(ans, "-") == 0 && *cur) {
            if (f->required) {
                fputs("  required: it cannot be cleared\n", a->out);
                continue;
            }
            *value = plat_strdup("");
            return *value ? PLAT_OK : ERR_NOMEM;
        }
        if (f->nopt && multi) {
            if (!pick_many(f, ans, many, sizeof(many))) {
                fprintf(a->out, "  choose numbers from 1 to %zu, separated "
                        "by commas\n", f->nopt);
                continue;
            }
            ans = many;
        } else if (f->nopt) {
            const char *key = pick_option(f, ans);

            if (!key) {
                fprintf(a->out, "  choose a number from 1 to %zu\n",
                        f->nopt);
                continue;
            }
            ans = key;
        } else if (boolean) {
            if (strcasecmp(ans, "y") == 0 || strcasecmp(ans, "yes") == 0)
                ans = "true";
            else if (strcasecmp(ans, "n") == 0 || strcasecmp(ans, "no") == 0)
                ans = "false";
        }
        rc = check_value(a, f, ans);
        if (rc == ERR_NOMEM)
            return rc;
        if (rc < 0) {
            /* The message names the field and the rule, never the value. */
            fprintf(a->out, "  %s; try again\n", plat_err_msg());
            plat_err_clear();
            continue;
        }
        *value = plat_strdup(ans);
        return *value ? PLAT_OK : ERR_NOMEM;
    }
}

/* The questions: the attributes in the program's order, then the
 * registration fields 121 takes besides them. */
static int build_fields(const cJSON *p, const char *lang, struct field **out,
                        size_t *n)
{
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(
        p, "programRegistrationAttributes");
    const cJSON *langs = cJSON_GetObjectItemCaseSensitive(p, "languages");
    const cJSON *fsps = cJSON_GetObjectItemCaseSensitive(
        p, "programFspConfigurations");
    const cJSON *it;
    size_t cap = (size_t)cJSON_GetArraySize(attrs) + 2, k = 0;
    struct field *f = plat_calloc(cap, sizeof(*f));

    if (!f)
        return plat_err_set(ERR_NOMEM, "out of memory");
    cJSON_ArrayForEach(it, attrs) {
        attribute_field(&f[k], it, lang);
        if (f[k].name)
            k++;
    }
    if (cJSON_GetArraySize(langs) > 0) {
        f[k].name = "preferredLanguage";
        f[k].label = "Preferred language";
        f[k].type = "dropdown";
        cJSON_ArrayForEach(it, langs) {
            if (cJSON_IsString(it))
                add_option(&f[k], it->valuestring, NULL);
        }
        k++;
    }
    if (cJSON_GetArraySize(fsps) > 0) {
        f[k].name = "programFspConfigurationName";
        f[k].label = "Payment method (FSP)";
        f[k].type = "dropdown";
        f[k].required = 1;
        cJSON_ArrayForEach(it, fsps) {
            add_option(&f[k], str_of(it, "name"),
                       label_text(cJSON_GetObjectItemCaseSensitive(it,
                                                                   "label"),
                                  lang));
        }
        k++;
    }
    *out = f;
    *n = k;
    return PLAT_OK;
}

static const char *current_text(const cJSON *reg, const char *name,
                                char *buf, size_t n)
{
    const char *t;

    if (!reg)
        return "";
    t = c121_value_text(cJSON_GetObjectItemCaseSensitive(reg, name), buf, n);
    return t ? t : "";
}

int agent_reg_ask(FILE *in, FILE *out, const cJSON *program,
                  const char *lang, const cJSON *current, cJSON **result)
{
    struct asker a = { in, out, program, lang && *lang ? lang : "en", NULL,
                       0 };
    struct field *f = NULL;
    char **values = NULL;
    size_t n = 0;
    cJSON *obj = NULL;
    int rc, shown = 0;

    *result = NULL;
    if ((rc = build_fields(program, a.lang, &f, &n)) < 0)
        return rc;
    values = plat_calloc(n ? n : 1, sizeof(*values));
    if (!values) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    fprintf(out, "%s (* required; %s)\n",
            current ? "Edit the registration" : "New registration",
            current ? "Enter keeps the value shown, '-' clears it"
                    : "Ctrl-C or Ctrl-D cancels");
    for (size_t i = 0; i < n; i++) {
        char buf[64];

        rc = ask(&a, &f[i], current_text(current, f[i].name, buf,
                                          sizeof(buf)), &values[i]);
        if (rc < 0)
            goto done;
    }
    obj = cJSON_CreateObject();
    if (!obj) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    fputs("\nSummary:\n", out);
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        const char *cur = current_text(current, f[i].name, buf, sizeof(buf));
        int changed = strcmp(cur, values[i]) != 0;
        cJSON *v;

        if (current && !changed)
            continue;
        if (!current && !*values[i])
            continue;
        fprintf(out, "  %-28s %s%s\n", f[i].label ? f[i].label : f[i].name,
                f[i].nopt && !strchr(values[i], '|')
                    ? option_label(&f[i], values[i]) : values[i],
                current && !*values[i] ? "(cleared)" : "");
        shown++;
        v = *values[i] ? cJSON_CreateString(values[i]) : cJSON_CreateNull();
        if (!v || !cJSON_AddItemToObject(obj, f[i].name, v)) {
            cJSON_Delete(v);
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    if (!shown) {
        fputs("  (no change)\n", out);
        *result = obj;
        obj = NULL;
        rc = PLAT_OK;
        goto done;
    }
    fputs("Save? [y/N]: ", out);
    if ((rc = read_line(&a)) < 0)
        goto done;
    if (strcasecmp(a.line, "y") != 0 && strcasecmp(a.line, "yes") != 0) {
        rc = plat_err_set(ERR_GENERIC, "cancelled: nothing was stored");
        goto done;
    }
    *result = obj;
    obj = NULL;
done:
    cJSON_Delete(obj);
    for (size_t i = 0; values && i < n; i++)
        plat_free(values[i]);
    plat_free(values);
    plat_free(f);
    free(a.line); /* getline's buffer comes from malloc */
    return rc;
}
