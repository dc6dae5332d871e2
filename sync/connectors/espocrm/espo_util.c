/*
 * espo_util.c - the EspoCRM connector's pure helpers (espo.h): mapping,
 * values, HMAC, times, queries, last-seen state. No network, no store.
 */
#include "espo.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "sync_http.h"

#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- mapping file ------------------------------------------------------- */

static const char *const reserved_121[] = {
    "referenceId", "id", "programId", "status", "created", "updated", NULL
};

void espo_map_dispose(struct espo_map *m)
{
    size_t i;

    if (!m)
        return;
    for (i = 0; i < m->n; i++) {
        plat_free(m->v[i].espo);
        plat_free(m->v[i].f121);
        cJSON_Delete(m->v[i].values);
    }
    plat_free(m->v);
    m->v = NULL;
    m->n = 0;
}

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n > 100)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' &&
            *s != '-')
            return 0;
    return 1;
}

static int parse_entry(const cJSON *item, struct espo_field *f)
{
    const char *attr = item->string, *field = NULL, *dir = "both",
               *type = NULL;
    const cJSON *x, *vals = NULL;
    size_t i;

    if (!name_ok(attr))
        return plat_err_set(ERR_CONFIG, "mapping: EspoCRM attribute names "
                            "are 1-100 of [A-Za-z0-9_.-]");
    if (cJSON_IsString(item)) {
        field = item->valuestring;
    } else if (cJSON_IsObject(item)) {
        x = cJSON_GetObjectItemCaseSensitive(item, "field");
        field = cJSON_IsString(x) ? x->valuestring : NULL;
        x = cJSON_GetObjectItemCaseSensitive(item, "direction");
        if (x && !cJSON_IsString(x))
            return plat_err_set(ERR_CONFIG, "mapping: %s: direction must be "
                                "text", attr);
        if (x)
            dir = x->valuestring;
        x = cJSON_GetObjectItemCaseSensitive(item, "type");
        if (x && !cJSON_IsString(x))
            return plat_err_set(ERR_CONFIG, "mapping: %s: type must be text",
                                attr);
        type = x ? x->valuestring : NULL;
        vals = cJSON_GetObjectItemCaseSensitive(item, "values");
        if (vals && !cJSON_IsObject(vals))
            return plat_err_set(ERR_CONFIG, "mapping: %s: values must be an "
                                "object {\"121 value\": \"option key\"}",
                                attr);
        for (x = vals ? vals->child : NULL; x; x = x->next)
            if (!cJSON_IsString(x))
                return plat_err_set(ERR_CONFIG, "mapping: %s: every option "
                                    "key in values must be text", attr);
    } else {
        return plat_err_set(ERR_CONFIG, "mapping: %s: give the 121 attribute "
                            "as text or {\"field\": ...}", attr);
    }
    if (!name_ok(field))
        return plat_err_set(ERR_CONFIG, "mapping: %s: no usable 121 "
                            "attribute (\"field\")", attr);
    for (i = 0; reserved_121[i]; i++)
        if (strcmp(field, reserved_121[i]) == 0)
            return plat_err_set(ERR_CONFIG, "mapping: %s: 121 attribute %s "
                                "cannot be mapped", attr, field);
    if (strcmp(dir, "both") == 0)
        f->dir = ESPO_DIR_BOTH;
    else if (strcmp(dir, "espo-to-121") == 0)
        f->dir = ESPO_DIR_TO_121;
    else if (strcmp(dir, "121-to-espo") == 0)
        f->dir = ESPO_DIR_FROM_121;
    else
        return plat_err_set(ERR_CONFIG, "mapping: %s: direction must be "
                            "both, espo-to-121 or 121-to-espo", attr);
    if (!type)
        f->type = strcmp(attr, "phoneNumber") == 0 ? ESPO_TYPE_PHONE
                                                   : ESPO_TYPE_TEXT;
    else if (strcmp(type, "text") == 0)
        f->type = ESPO_TYPE_TEXT;
    else if (strcmp(type, "phone") == 0)
        f->type = ESPO_TYPE_PHONE;
    else if (strcmp(type, "number") == 0)
        f->type = ESPO_TYPE_NUMBER;
    else
        return plat_err_set(ERR_CONFIG, "mapping: %s: type must be text, "
                            "phone or number", attr);
    f->espo = plat_strdup(attr);
    f->f121 = plat_strdup(field);
    f->values = vals ? cJSON_Duplicate(vals, 1) : NULL;
    if (!f->espo || !f->f121 || (vals && !f->values))
        return plat_err_set(ERR_NOMEM, "out of memory");
    return PLAT_OK;
}

int espo_map_parse(const char *text, struct espo_map *out)
{
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    const cJSON *item;
    size_t n = 0, i, k;
    int rc = PLAT_OK;

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return plat_err_set(ERR_CONFIG, "mapping: not a JSON object "
                            "{\"<EspoCRM attribute>\": \"<121 attribute>\"}");
    }
    for (item = root->child; item; item = item->next)
        n++;
    if (n == 0) {
        cJSON_Delete(root);
        return plat_err_set(ERR_CONFIG, "mapping: no attribute is mapped");
    }
    out->v = plat_calloc(n, sizeof(*out->v));
    if (!out->v) {
        cJSON_Delete(root);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    for (item = root->child; item && rc == PLAT_OK; item = item->next) {
        rc = parse_entry(item, &out->v[out->n]);
        out->n++;
    }
    for (i = 0; rc == PLAT_OK && i < out->n; i++)
        for (k = i + 1; rc == PLAT_OK && k < out->n; k++) {
            if (strcmp(out->v[i].espo, out->v[k].espo) == 0)
                rc = plat_err_set(ERR_CONFIG, "mapping: %s is given twice",
                                  out->v[i].espo);
            else if (strcmp(out->v[i].f121, out->v[k].f121) == 0 &&
                     out->v[i].dir != ESPO_DIR_FROM_121 &&
                     out->v[k].dir != ESPO_DIR_FROM_121)
                rc = plat_err_set(ERR_CONFIG, "mapping: 121 attribute %s is "
                                  "written from two EspoCRM attributes",
                                  out->v[i].f121);
        }
    cJSON_Delete(root);
    if (rc != PLAT_OK)
        espo_map_dispose(out);
    return rc;
}

int espo_map_check_program(const struct espo_map *m, const cJSON *program)
{
    static const char *const fixed[] = {
        "preferredLanguage", "programFspConfigurationName", "paymentAmountMultiplier",
        "maxPayments", "phoneNumber", "scope", NULL
    };
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(
        program, "programRegistrationAttributes");
    const cJSON *a, *opts, *o, *v;
    size_t i, k;

    if (!cJSON_IsArray(attrs))
        return plat_err_set(ERR_CONFIG, "mapping: the stored 121 program has "
                            "no registration attributes");
    for (i = 0; i < m->n; i++) {
        const struct espo_field *f = &m->v[i];
        const cJSON *found = NULL;

        cJSON_ArrayForEach(a, attrs) {
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(a, "name");
            if (cJSON_IsString(nm) && strcmp(nm->valuestring, f->f121) == 0)
                found = a;
        }
        if (!found) {
            for (k = 0; fixed[k]; k++)
                if (strcmp(fixed[k], f->f121) == 0)
                    break;
            if (!fixed[k])
                return plat_err_set(ERR_CONFIG, "mapping: %s: the 121 "
                                    "program has no attribute %s", f->espo,
                                    f->f121);
            continue;
        }
        opts = cJSON_GetObjectItemCaseSensitive(found, "options");
        if (!f->values || !cJSON_IsArray(opts) ||
            cJSON_GetArraySize(opts) == 0)
            continue;
        for (v = f->values->child; v; v = v->next) {
            int ok = 0;
            cJSON_ArrayForEach(o, opts) {
                const cJSON *op = cJSON_GetObjectItemCaseSensitive(o,
                                                                   "option");
                if (cJSON_IsString(op) &&
                    strcmp(op->valuestring, v->string) == 0)
                    ok = 1;
            }
            if (!ok)
                return plat_err_set(ERR_CONFIG, "mapping: %s: a key of "
                                    "values is not an option of 121 "
                                    "attribute %s", f->espo, f->f121);
        }
    }
    return PLAT_OK;
}

/* ---- values ------------------------------------------------------------- */

/* A scalar as text into buf; NULL for null/absent, arrays and objects. */
static const char *as_text(const cJSON *v, char *buf, size_t n)
{
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(int64_t)d && d < 9e15 && d > -9e15)
            snprintf(buf, n, "%" PRId64, (int64_t)d);
        else
            snprintf(buf, n, "%.17g", d);
        return buf;
    }
    return NULL;
}

cJSON *espo_to_121(const struct espo_field *f, const cJSON *ev)
{
    char buf[64];
    const char *t;
    const cJSON *x;

    if (!ev || cJSON_IsNull(ev))
        return cJSON_CreateNull();
    if (f->values && cJSON_IsString(ev)) {
        cJSON_ArrayForEach(x, f->values)
            if (cJSON_IsString(x) && strcmp(x->valuestring,
                                            ev->valuestring) == 0)
                return cJSON_CreateString(x->string);
    }
    if (cJSON_IsArray(ev) || cJSON_IsObject(ev) || cJSON_IsBool(ev))
        return cJSON_Duplicate(ev, 1);
    t = as_text(ev, buf, sizeof(buf));
    return t ? cJSON_CreateString(t) : cJSON_CreateNull();
}

cJSON *espo_from_121(const struct espo_field *f, const cJSON *v)
{
    char buf[64], *end = NULL;
    const char *t;
    const cJSON *x;
    double d;

    if (!v || cJSON_IsNull(v))
        return cJSON_CreateNull();
    if (f->values && cJSON_IsString(v)) {
        x = cJSON_GetObjectItemCaseSensitive(f->values, v->valuestring);
        if (cJSON_IsString(x))
            return cJSON_CreateString(x->valuestring);
    }
    if (f->type == ESPO_TYPE_NUMBER) {
        t = as_text(v, buf, sizeof(buf));
        if (!t || !*t)
            return cJSON_CreateNull();
        d = strtod(t, &end);
        if (end && !*end)
            return cJSON_CreateNumber(d);
    }
    return cJSON_Duplicate(v, 1);
}

static void digits(const char *s, char *out, size_t n)
{
    size_t k = 0;

    if (s && s[0] == '0' && s[1] == '0')
        s += 2;
    for (; s && *s && k + 1 < n; s++)
        if (isdigit((unsigned char)*s))
            out[k++] = *s;
    out[k] = '\0';
}

int espo_same(const struct espo_field *f, const cJSON *a, const cJSON *b)
{
    char ba[64], bb[64], da[64], db[64];
    const char *ta, *tb;
    int ca = a && (cJSON_IsArray(a) || cJSON_IsObject(a));
    int cb = b && (cJSON_IsArray(b) || cJSON_IsObject(b));

    if (ca || cb)
        return ca && cb && cJSON_Compare(a, b, 1);
    ta = as_text(a, ba, sizeof(ba));
    tb = as_text(b, bb, sizeof(bb));
    if (!ta)
        ta = "";
    if (!tb)
        tb = "";
    if (f && f->type == ESPO_TYPE_PHONE) {
        digits(ta, da, sizeof(da));
        digits(tb, db, sizeof(db));
        return strcmp(da, db) == 0;
    }
    if (f && f->type == ESPO_TYPE_NUMBER && *ta && *tb)
        return strtod(ta, NULL) == strtod(tb, NULL);
    return strcmp(ta, tb) == 0;
}

/* ---- authentication ----------------------------------------------------- */

int espo_sign_path(const char *pq, char *out, size_t n)
{
    const char *p = pq ? strstr(pq, "/api/v1") : NULL;
    size_t len;

    if (!p || (p[7] != '/' && p[7] != '\0' && p[7] != '?'))
        return plat_err_set(ERR_INVALID, "EspoCRM path without /api/v1");
    p += 7;
    len = strcspn(p, "?#");
    if (len + 2 > n)
        return plat_err_set(ERR_INVALID, "EspoCRM path too long to sign");
    if (len == 0 || p[0] != '/') {
        out[0] = '/';
        memcpy(out + 1, p, len);
        out[len + 1] = '\0';
    } else {
        memcpy(out, p, len);
        out[len] = '\0';
    }
    return PLAT_OK;
}

int espo_hmac_value(const char *api_key, const char *secret,
                    const char *method, const char *pq, int raw, char *out,
                    size_t n)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(
        MBEDTLS_MD_SHA256);
    unsigned char mac[32];
    char path[1024], msg[1100];
    unsigned char plain[512];
    size_t kl, pl, olen = 0, i;
    int rc;

    if (!api_key || !secret || !method || !md)
        return plat_err_set(ERR_INVALID, "EspoCRM HMAC: key or secret "
                            "missing");
    if ((rc = espo_sign_path(pq, path, sizeof(path))) != PLAT_OK)
        return rc;
    snprintf(msg, sizeof(msg), "%s %s", method, path);
    if (mbedtls_md_hmac(md, (const unsigned char *)secret, strlen(secret),
                        (const unsigned char *)msg, strlen(msg), mac) != 0)
        return plat_err_set(ERR_GENERIC, "EspoCRM HMAC: signing failed");
    kl = strlen(api_key);
    if (kl + 1 + 64 > sizeof(plain))
        return plat_err_set(ERR_INVALID, "EspoCRM HMAC: API key too long");
    memcpy(plain, api_key, kl);
    plain[kl] = ':';
    pl = kl + 1;
    if (raw) {
        memcpy(plain + pl, mac, 32);
        pl += 32;
    } else {
        for (i = 0; i < 32; i++) {
            static const char hex[] = "0123456789abcdef";
            plain[pl++] = (unsigned char)hex[mac[i] >> 4];
            plain[pl++] = (unsigned char)hex[mac[i] & 15];
        }
    }
    rc = mbedtls_base64_encode((unsigned char *)out, n, &olen, plain, pl);
    memset(plain, 0, sizeof(plain));
    memset(mac, 0, sizeof(mac));
    if (rc != 0)
        return plat_err_set(ERR_INVALID, "EspoCRM HMAC: header too long");
    out[olen] = '\0';
    return PLAT_OK;
}

/* ---- times and queries -------------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int espo_time_parse(const char *s, int64_t *out)
{
    static const char form[] = "dddd-dd-dd dd:dd:dd";
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30,
                                          31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se;

    /* Digits exactly where the form has them: sscanf alone would take
     * signs and spaces ("03:-4:05", "03:\r4:05"). */
    if (!s || strlen(s) != sizeof(form) - 1)
        goto bad;
    for (size_t i = 0; form[i]; i++)
        if (form[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != form[i])
            goto bad;
    if (sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6 ||
        mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || se > 59 || y < 1970 ||
        (mo == 2 && d == 29 && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0))))
        goto bad;
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
           h * 3600 + mi * 60 + se;
    return PLAT_OK;
bad:
    return plat_err_set(ERR_INVALID, "EspoCRM time is not "
                        "\"YYYY-MM-DD HH:MM:SS\"");
}

void espo_time_format(int64_t t, char out[ESPO_TIME_LEN])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t < 0)
        tt = 0;
    gmtime_r(&tt, &tm);
    if (strftime(out, ESPO_TIME_LEN, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        out[0] = '\0';
}

int espo_list_query(struct plat_buf *out, const char *select, int max_size,
                    int64_t offset, const char *since)
{
    int rc = plat_buf_printf(out, "maxSize=%d&offset=%" PRId64
                             "&orderBy=modifiedAt&order=asc&select=",
                             max_size, offset);

    if (rc == PLAT_OK)
        rc = sync_http_escape(out, select);
    if (rc == PLAT_OK && since) {
        rc = plat_buf_puts(out, "&where%5B0%5D%5Btype%5D=greaterThanOrEquals"
                           "&where%5B0%5D%5Battribute%5D=modifiedAt"
                           "&where%5B0%5D%5Bvalue%5D=");
        if (rc == PLAT_OK)
            rc = sync_http_escape(out, since);
    }
    return rc;
}

/* ---- last seen ------------------------------------------------------------ */

void espo_seen_dispose(struct espo_seen *s)
{
    cJSON_Delete(s->e);
    cJSON_Delete(s->p);
    s->e = s->p = NULL;
}

int espo_seen_parse(const char *text, struct espo_seen *out)
{
    cJSON *root = NULL, *x;

    memset(out, 0, sizeof(*out));
    out->v = -1;
    if (text && *text) {
        root = cJSON_Parse(text);
        if (!cJSON_IsObject(root)) {
            cJSON_Delete(root);
            return plat_err_set(ERR_INVALID, "EspoCRM last-seen state is "
                                "not a JSON object");
        }
        x = cJSON_GetObjectItemCaseSensitive(root, "m");
        if (cJSON_IsString(x))
            snprintf(out->m, sizeof(out->m), "%s", x->valuestring);
        x = cJSON_GetObjectItemCaseSensitive(root, "v");
        if (cJSON_IsNumber(x))
            out->v = (int64_t)x->valuedouble;
        x = cJSON_GetObjectItemCaseSensitive(root, "d");
        out->deleted = cJSON_IsNumber(x) && x->valuedouble != 0;
        out->e = cJSON_DetachItemFromObjectCaseSensitive(root, "e");
        out->p = cJSON_DetachItemFromObjectCaseSensitive(root, "p");
        cJSON_Delete(root);
    }
    if (!cJSON_IsObject(out->e)) {
        cJSON_Delete(out->e);
        out->e = cJSON_CreateObject();
    }
    if (!cJSON_IsObject(out->p)) {
        cJSON_Delete(out->p);
        out->p = cJSON_CreateObject();
    }
    if (!out->e || !out->p) {
        espo_seen_dispose(out);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    return PLAT_OK;
}

char *espo_seen_format(const struct espo_seen *s)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL, *copy = NULL;
    int ok = o != NULL;

    ok = ok && cJSON_AddStringToObject(o, "m", s->m);
    if (ok && s->v >= 0)
        ok = cJSON_AddNumberToObject(o, "v", (double)s->v) != NULL;
    if (ok && s->deleted)
        ok = cJSON_AddNumberToObject(o, "d", 1) != NULL;
    ok = ok && cJSON_AddItemToObject(o, "e", cJSON_Duplicate(s->e, 1));
    if (ok && s->p && s->p->child)
        ok = cJSON_AddItemToObject(o, "p", cJSON_Duplicate(s->p, 1));
    if (ok)
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text) {
        copy = plat_strdup(text);
        cJSON_free(text);
    }
    if (!copy)
        plat_err_set(ERR_NOMEM, "out of memory");
    return copy;
}

int espo_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int espo_id_in(const char *const *ids, size_t n, const char *id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ids[mid], id);

        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}
