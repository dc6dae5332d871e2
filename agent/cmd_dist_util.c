/*
 * cmd_dist_util.c - helpers of the distribution-day commands
 * (cmd_dist.h).
 */
#include "cli.h"
#include "cmd_dist.h"
#include "cmd_util.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_dist.h"
#include "store_registrations.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int agent_dist_attr(const char *arg, char **key_out, const char **value_out)
{
    const char *eq = arg ? strchr(arg, '=') : NULL;
    char *key;

    *key_out = NULL;
    *value_out = NULL;
    if (!eq || eq == arg)
        return plat_err_set(ERR_USAGE, "--attr needs KEY=VALUE");
    key = plat_strdup(arg);
    if (!key)
        return plat_err_set(ERR_NOMEM, "out of memory");
    key[eq - arg] = '\0';
    *key_out = key;
    *value_out = key + (eq - arg) + 1;
    return PLAT_OK;
}

/* A JSON scalar as text into buf: "" for null/missing. */
static const char *scalar(const cJSON *v, char *buf, size_t n)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        snprintf(buf, n, "%.17g", v->valuedouble);
        return buf;
    }
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    return "";
}

int agent_dist_match(const cJSON *reg, const char *status,
                     const char *attr_key, const char *attr_value)
{
    char buf[64];

    if (!reg)
        return !status && !attr_key;
    if (status && strcmp(scalar(cJSON_GetObjectItemCaseSensitive(reg,
                                                                 "status"),
                                buf, sizeof(buf)), status) != 0)
        return 0;
    if (attr_key &&
        strcmp(scalar(cJSON_GetObjectItemCaseSensitive(reg, attr_key), buf,
                      sizeof(buf)), attr_value) != 0)
        return 0;
    return 1;
}

const char *agent_dist_name(const cJSON *reg)
{
    const char *n = agent_json_str(reg, "fullName");

    if (!n || !*n)
        n = agent_json_str(reg, "name");
    return n ? n : "";
}

const char *agent_dist_phone(const cJSON *reg)
{
    const char *p = agent_json_str(reg, "phoneNumber");

    return p ? p : "";
}

void agent_dist_code(char *out, unsigned n, int payment_id, long long rpid)
{
    if (rpid > 0)
        snprintf(out, n, "P%d-%lld", payment_id, rpid);
    else
        snprintf(out, n, "P%d", payment_id);
}

const char *agent_dist_user(const char *by)
{
    const char *u = by;

    if (!u || !*u)
        u = getenv("AGENT_USER");
    if (!u || !*u)
        u = getenv("USER");
    return u && *u ? u : "unknown";
}

int agent_dist_csv_split(char *line, char sep, char **cells, int max)
{
    int n = 0;
    char *r = line, *w;

    while (n < max) {
        cells[n++] = w = r;
        if (*r == '"') {
            r++;
            while (*r) {
                if (*r == '"' && r[1] == '"') {
                    *w++ = '"';
                    r += 2;
                } else if (*r == '"') {
                    r++;
                    break;
                } else {
                    *w++ = *r++;
                }
            }
            while (*r && *r != sep)
                r++;
        } else {
            while (*r && *r != sep)
                *w++ = *r++;
        }
        if (*r != sep) {
            *w = '\0';
            break;
        }
        r++;
        *w = '\0';
    }
    return n;
}

int agent_dist_in_list(const cJSON *arr, const char *s)
{
    const cJSON *v;

    cJSON_ArrayForEach(v, arr)
        if (cJSON_IsString(v) && strcmp(v->valuestring, s) == 0)
            return 1;
    return 0;
}

struct by_value {
    const char *col, *value;
    char *ref;
    int count;
};

static int by_value_cb(const cJSON *reg, void *payload)
{
    struct by_value *b = payload;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(reg, b->col);
    const char *ref = agent_json_str(reg, "referenceId");
    char num[64];
    const char *s = NULL;

    if (cJSON_IsString(v)) {
        s = v->valuestring;
    } else if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof(num), "%.17g", v->valuedouble);
        s = num;
    }
    if (!s || !ref || strcmp(s, b->value) != 0)
        return 0;
    b->count++;
    if (!b->ref) {
        b->ref = plat_strdup(ref);
        if (!b->ref)
            return plat_err_set(ERR_NOMEM, "out of memory");
    }
    return 0;
}

int agent_dist_ref_by_value(struct store *st, const char *col,
                            const char *value, char **ref_out,
                            int *count_out)
{
    struct by_value b = {col, value, NULL, 0};
    int rc = store_reg_search(st, value, 50, by_value_cb, &b);

    if (rc < 0) {
        plat_free(b.ref);
        b.ref = NULL;
        b.count = 0;
    }
    *ref_out = b.ref;
    *count_out = b.count;
    return rc;
}

int agent_dist_recon_columns(struct store *st, cJSON **out)
{
    char *text = NULL;
    cJSON *tpl, *cols = cJSON_CreateArray();
    const cJSON *t;
    int rc = store_state_get(st, STORE_DIST_RECON_TEMPLATE_KEY, &text);

    *out = NULL;
    if (!cols) {
        plat_free(text);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        cJSON_AddItemToArray(cols, cJSON_CreateString("referenceId"));
        *out = cols;
        return PLAT_OK;
    }
    if (rc < 0) {
        cJSON_Delete(cols);
        return rc;
    }
    tpl = cJSON_Parse(text);
    plat_free(text);
    cJSON_ArrayForEach(t, tpl) {
        const cJSON *first = cJSON_GetArrayItem(
            cJSON_GetObjectItemCaseSensitive(t, "template"), 0);

        if (cJSON_IsString(first))
            cJSON_AddItemToArray(cols, cJSON_CreateString(first->valuestring));
    }
    cJSON_Delete(tpl);
    *out = cols;
    return PLAT_OK;
}

int agent_dist_unused_voucher(const struct store_voucher_row *r,
                              void *payload)
{
    cJSON *arr = payload, *o;
    const char *wa;

    if (!r->fsp_name || !strstr(r->fsp_name, "voucher") || r->handed_out_at ||
        !r->tx_status || (strcmp(r->tx_status, "success") != 0 &&
                          strcmp(r->tx_status, "waiting") != 0))
        return 0;
    wa = r->reg ? agent_json_str(r->reg, "whatsappPhoneNumber") : NULL;
    o = cJSON_CreateObject();
    /* 121's columns and order (contract 5). */
    if (!o || !cJSON_AddStringToObject(o, "referenceId", r->ref) ||
        !cJSON_AddNumberToObject(o, "paymentId", r->payment_id) ||
        !cJSON_AddItemToObject(o, "issueDate", r->tx_created
                                   ? cJSON_CreateString(r->tx_created)
                                   : cJSON_CreateNull()) ||
        !cJSON_AddItemToObject(o, "whatsappPhoneNumber",
                               wa ? cJSON_CreateString(wa)
                                  : cJSON_CreateNull()) ||
        !cJSON_AddItemToObject(o, "lastExternalUpdate", r->tx_updated
                                   ? cJSON_CreateString(r->tx_updated)
                                   : cJSON_CreateNull()) ||
        !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    return 0;
}
