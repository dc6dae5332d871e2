/*
 * cmd_dist_util.c - helpers of the distribution-day commands
 * (cmd_dist.h).
 */
#include "cli.h"
#include "cmd_dist.h"
#include "cmd_util.h"

#include "plat_alloc.h"
#include "plat_err.h"

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
