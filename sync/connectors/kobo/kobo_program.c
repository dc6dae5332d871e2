/*
 * kobo_program.c - the plan of `agent kobo program --create`
 * (kobo_program.h).
 */
#include "kobo_program.h"
#include "kobo_map.h"

#include "plat_err.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* FSP names 121 knows (121-api.md section 7). */
static const char *const fsp_names[] = {
    "Intersolve-voucher-whatsapp", "Intersolve-voucher-paper",
    "Intersolve-visa", "Safaricom", "Airtel", "Cooperative-bank-of-oromia",
    "Commercial-bank-ethiopia", "Excel", "Nedbank", "Onafriq", "MTN", NULL
};

static int fail(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return ERR_INVALID;
}

static int is_fsp_question(const char *name)
{
    char key[128];

    kobo_clean_key(name, key, sizeof(key));
    return strcmp(key, "fsp") == 0 || strcmp(key, "fspname") == 0 ||
           strcmp(key, "programfspconfigurationname") == 0;
}

static int known_fsp(const char *name)
{
    for (int i = 0; fsp_names[i]; i++)
        if (strcmp(fsp_names[i], name) == 0)
            return 1;
    return 0;
}

static int good_attr_name(const char *s)
{
    if (!*s || strlen(s) > 200)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static const char *en_text(const cJSON *obj)
{
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(obj, "en");

    return cJSON_IsString(en) ? en->valuestring : NULL;
}

/* Check the attributes, take the FSP question out into `fsps`. */
static int split_attributes(cJSON *prog, cJSON *fsps, char *why, size_t n)
{
    cJSON *attrs = cJSON_GetObjectItemCaseSensitive(
        prog, "programRegistrationAttributes");
    cJSON *a = attrs ? attrs->child : NULL;
    int have_fsp = 0;

    while (a) {
        cJSON *next = a->next, *o;
        const char *name = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(a, "name"));
        const char *type = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(a, "type"));
        cJSON *opts = cJSON_GetObjectItemCaseSensitive(a, "options");

        if (!name || !type)
            return fail(why, n, "a question of the form has no name");
        if (is_fsp_question(name)) {
            if (strcmp(type, "dropdown") != 0)
                return fail(why, n, "question %s: the FSP question must be "
                            "a select_one whose choices are 121 FSP names",
                            name);
            cJSON_ArrayForEach(o, opts) {
                const char *opt = cJSON_GetStringValue(
                    cJSON_GetObjectItemCaseSensitive(o, "option"));
                cJSON *label = cJSON_GetObjectItemCaseSensitive(o, "label");
                cJSON *f = cJSON_CreateObject();

                if (!opt || !known_fsp(opt)) {
                    cJSON_Delete(f);
                    return fail(why, n, "question %s: choice '%.80s' is not "
                                "a 121 FSP (Intersolve-voucher-whatsapp, "
                                "Intersolve-voucher-paper, Intersolve-visa, "
                                "Safaricom, Airtel, Excel, Nedbank, Onafriq, "
                                "MTN, ...)", name, opt ? opt : "?");
                }
                if (!f || !cJSON_AddItemToArray(fsps, f) ||
                    !cJSON_AddStringToObject(f, "name", opt) ||
                    !cJSON_AddItemToObject(f, "label",
                                           en_text(label)
                                               ? cJSON_Duplicate(label, 1)
                                               : cJSON_CreateObject()) ||
                    !cJSON_AddStringToObject(f, "fspName", opt) ||
                    !cJSON_AddArrayToObject(f, "properties"))
                    return fail(why, n, "out of memory");
                /* 121 needs label.en */
                if (!en_text(cJSON_GetObjectItemCaseSensitive(f, "label")))
                    cJSON_AddStringToObject(
                        cJSON_GetObjectItemCaseSensitive(f, "label"), "en",
                        opt);
                have_fsp = 1;
            }
            cJSON_DetachItemViaPointer(attrs, a);
            cJSON_Delete(a);
            a = next;
            continue;
        }
        if (!good_attr_name(name))
            return fail(why, n, "question %.80s: not usable as a 121 "
                        "attribute name (letters, digits, _ and - only)",
                        name);
        for (cJSON *b = attrs->child; b != a; b = b->next) {
            const char *other = cJSON_GetStringValue(
                cJSON_GetObjectItemCaseSensitive(b, "name"));

            if (other && strcasecmp(other, name) == 0)
                return fail(why, n, "question %s: two questions give the "
                            "attribute %s (121 attribute names are unique)",
                            name, other);
        }
        if (strcmp(type, "dropdown") == 0 && cJSON_GetArraySize(opts) == 0)
            return fail(why, n, "question %s: a select_one without choices",
                        name);
        a = next;
    }
    if (!have_fsp)
        return fail(why, n, "the form has no FSP question (a select_one named "
                    "fsp whose choices are 121 FSP names, e.g. "
                    "Intersolve-voucher-paper)");
    return PLAT_OK;
}

static int check_setup(cJSON *prog, char *why, size_t n)
{
    const char *title = en_text(cJSON_GetObjectItemCaseSensitive(
        prog, "titlePortal"));
    const char *cur = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        prog, "currency"));

    if (!title || !*title)
        return fail(why, n, "no program title: give the titlePortal question "
                    "a default (or name the form)");
    if (!cur)
        return fail(why, n, "the form has no currency question with a "
                    "default (121 needs an ISO 4217 code, e.g. KES)");
    if (strlen(cur) != 3 || !isupper((unsigned char)cur[0]) ||
        !isupper((unsigned char)cur[1]) || !isupper((unsigned char)cur[2]))
        return fail(why, n, "question currency: default '%.16s' is not an "
                    "ISO 4217 code (three capital letters, e.g. KES)", cur);
    if (!cJSON_GetObjectItemCaseSensitive(prog, "languages")) {
        cJSON *l = cJSON_AddArrayToObject(prog, "languages");

        if (!l || !cJSON_AddItemToArray(l, cJSON_CreateString("en")))
            return fail(why, n, "out of memory");
    }
    return PLAT_OK;
}

static int add_marker(cJSON *prog, const char *marker, char *why, size_t n)
{
    cJSON *desc = cJSON_GetObjectItemCaseSensitive(prog, "description");
    const char *en;
    char text[1024];

    if (!cJSON_IsObject(desc)) {
        cJSON_DeleteItemFromObjectCaseSensitive(prog, "description");
        desc = cJSON_AddObjectToObject(prog, "description");
        if (!desc)
            return fail(why, n, "out of memory");
    }
    en = en_text(desc);
    snprintf(text, sizeof(text), "%.800s%s(agent request %s)",
             en ? en : "", en && *en ? " " : "", marker);
    cJSON_DeleteItemFromObjectCaseSensitive(desc, "en");
    if (!cJSON_AddStringToObject(desc, "en", text))
        return fail(why, n, "out of memory");
    return PLAT_OK;
}

int kobo_program_plan(const cJSON *asset, const char *marker, cJSON **out,
                      char *why, size_t n)
{
    cJSON *prog = NULL, *plan = NULL, *fsps;
    int rc;

    *out = NULL;
    rc = kobo_program_from_form(asset, &prog, why, n);
    if (rc != PLAT_OK)
        return rc;
    plan = cJSON_CreateObject();
    fsps = cJSON_CreateArray();
    if (!plan || !fsps) {
        cJSON_Delete(fsps);
        rc = fail(why, n, "out of memory");
        goto done;
    }
    cJSON_AddItemToObject(plan, "program", prog);
    cJSON_AddItemToObject(plan, "fspConfigurations", fsps);
    prog = NULL;
    if ((rc = check_setup(cJSON_GetObjectItem(plan, "program"), why, n)) ||
        (rc = split_attributes(cJSON_GetObjectItem(plan, "program"), fsps,
                               why, n)) ||
        (rc = add_marker(cJSON_GetObjectItem(plan, "program"), marker, why,
                         n)))
        goto done;
    *out = plan;
    plan = NULL;
done:
    cJSON_Delete(prog);
    cJSON_Delete(plan);
    return rc;
}
