/* SPDX-License-Identifier: MIT */
/*
 * http_util.c - the network-free helpers of the HTTP client: the mapping
 * from HTTP status to result code, the reading of 121 error bodies into one
 * line, query escaping, the multipart body of CSV uploads, and the backoff
 * delay.
 *
 * Error bodies can echo the request (class-validator's `target` and
 * `value` hold the submitted body, passwords included), so the reader only
 * takes the fields that carry the server's own text.
 */
#include "sync_http.h"

#include "plat_err.h"
#include "plat_random.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

int sync_http_status_to_err(long status)
{
    if ((status >= 200 && status < 300) || status == 304)
        return PLAT_OK;
    switch (status) {
    case 401:
    case 403:
        return ERR_AUTH;
    case 404:
        return ERR_NOTFOUND;
    case 413:
        return ERR_TOOLARGE;
    case 429:
    case 502:
    case 503:
    case 504:
        return ERR_RETRY;
    default:
        break;
    }
    if (status >= 400 && status < 500)
        return ERR_INVALID;
    return ERR_GENERIC;
}

int sync_http_response_err(const struct sync_http_response *resp,
                           const char *what)
{
    char msg[300];
    int code = sync_http_status_to_err(resp->status);

    if (code == PLAT_OK)
        return PLAT_OK;
    sync_http_error_message(resp->body.data, resp->body.len, msg,
                            sizeof(msg));
    if (msg[0])
        return plat_err_set(code, "%s: HTTP %ld: %s", what, resp->status,
                            msg);
    return plat_err_set(code, "%s: HTTP %ld", what, resp->status);
}

/* ---- error bodies ------------------------------------------------------ */

/* Writes one line into a fixed buffer: control characters become spaces,
 * runs of spaces collapse, and an overflow ends in "..." cut at a UTF-8
 * character boundary. */
struct line {
    char *out;
    size_t size;  /* of out, > 0 */
    size_t pos;
    int full;     /* something did not fit */
    int space;    /* last byte written is a space */
};

static void line_putc(struct line *l, unsigned char c)
{
    if (c < 0x20 || c == 0x7f)
        c = ' ';
    if (c == ' ' && (l->space || l->pos == 0))
        return;
    if (l->pos + 1 >= l->size) {
        l->full = 1;
        return;
    }
    l->out[l->pos++] = (char)c;
    l->space = c == ' ';
}

static void line_putn(struct line *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n && !l->full; i++)
        line_putc(l, (unsigned char)s[i]);
}

static void line_puts(struct line *l, const char *s)
{
    if (s)
        line_putn(l, s, strlen(s));
}

/* Separator between two messages, if something was written. */
static void line_sep(struct line *l)
{
    if (l->pos > 0)
        line_puts(l, "; ");
}

static size_t line_finish(struct line *l)
{
    while (l->pos > 0 && l->out[l->pos - 1] == ' ')
        l->pos--;
    if (l->full) {
        size_t keep = l->size > 4 ? l->size - 4 : 0;
        if (l->pos > keep)
            l->pos = keep;
        /* Step back over UTF-8 continuation bytes and the lead byte of a
         * character that was cut. */
        if (l->pos > 0 && l->pos < l->size - 1 &&
            ((unsigned char)l->out[l->pos] & 0xC0) == 0x80) {
            while (l->pos > 0 &&
                   ((unsigned char)l->out[l->pos] & 0xC0) == 0x80)
                l->pos--;
        }
        if (l->size > 4) {
            memcpy(l->out + l->pos, "...", 3);
            l->pos += 3;
        }
    }
    l->out[l->pos] = '\0';
    return l->pos;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One class-validator error (shape D): "property: constraint, ..." then
 * its children with a dotted path. Never `target` or `value`. */
static void put_dto(struct line *l, const cJSON *e, const char *parent,
                    int depth)
{
    const cJSON *constraints, *children, *c;
    const cJSON *prop = cJSON_GetObjectItemCaseSensitive(e, "property");
    char path[128];
    int first = 1;

    if (cJSON_IsString(prop))
        snprintf(path, sizeof(path), "%s%s%s", parent, parent[0] ? "." : "",
                 prop->valuestring);
    else if (cJSON_IsNumber(prop))
        snprintf(path, sizeof(path), "%s%s%d", parent, parent[0] ? "." : "",
                 prop->valueint);
    else
        snprintf(path, sizeof(path), "%s", parent);

    constraints = cJSON_GetObjectItemCaseSensitive(e, "constraints");
    cJSON_ArrayForEach(c, constraints) {
        if (!cJSON_IsString(c))
            continue;
        if (first) {
            line_sep(l);
            if (path[0]) {
                line_puts(l, path);
                line_puts(l, ": ");
            }
            first = 0;
        } else {
            line_puts(l, ", ");
        }
        line_puts(l, c->valuestring);
    }
    children = cJSON_GetObjectItemCaseSensitive(e, "children");
    if (depth < 8) {
        cJSON_ArrayForEach(c, children) {
            if (cJSON_IsObject(c))
                put_dto(l, c, path, depth + 1);
        }
    }
}

/* One entry of a raw array (shape C) or of an "errors" array:
 * "line N <referenceId> <column>: <error>". */
static void put_entry(struct line *l, const cJSON *e)
{
    const cJSON *line_no;
    const char *msg, *ref, *col;

    if (cJSON_IsString(e)) {
        line_sep(l);
        line_puts(l, e->valuestring);
        return;
    }
    if (!cJSON_IsObject(e))
        return;
    if (cJSON_GetObjectItemCaseSensitive(e, "constraints")) {
        put_dto(l, e, "", 0);
        return;
    }
    msg = str_of(e, "error");
    if (!msg)
        msg = str_of(e, "message");
    if (!msg)
        return;
    line_sep(l);
    line_no = cJSON_GetObjectItemCaseSensitive(e, "lineNumber");
    if (cJSON_IsNumber(line_no)) {
        char num[32];
        snprintf(num, sizeof(num), "line %d ", line_no->valueint);
        line_puts(l, num);
    }
    ref = str_of(e, "referenceId");
    col = str_of(e, "column");
    if (ref) {
        line_puts(l, ref);
        line_puts(l, col ? " " : ": ");
    }
    if (col) {
        line_puts(l, col);
        line_puts(l, ": ");
    }
    line_puts(l, msg);
}

static void put_message(struct line *l, const cJSON *m)
{
    const cJSON *e;

    if (cJSON_IsString(m)) {
        line_sep(l);
        line_puts(l, m->valuestring);
    } else if (cJSON_IsArray(m)) {
        cJSON_ArrayForEach(e, m)
            put_entry(l, e);
    }
}

/* {"errors": ...}: a string, an array, or an object such as
 * {"User":" not found"} which reads "User: not found". */
static void put_errors(struct line *l, const cJSON *errs)
{
    const cJSON *e;

    if (cJSON_IsObject(errs)) {
        cJSON_ArrayForEach(e, errs) {
            line_sep(l);
            line_puts(l, e->string);
            if (cJSON_IsString(e)) {
                line_puts(l, ": ");
                line_puts(l, e->valuestring);
            }
        }
    } else {
        put_message(l, errs);
    }
}

size_t sync_http_error_message(const char *body, size_t len, char *out,
                               size_t out_size)
{
    struct line l = { out, out_size, 0, 0, 0 };
    cJSON *root;
    const cJSON *m;

    if (!out || out_size == 0)
        return 0;
    out[0] = '\0';
    if (!body || len == 0)
        return 0;
    root = cJSON_ParseWithLength(body, len);
    if (!root) {
        /* Not JSON (a proxy's page, plain text): its start. */
        line_putn(&l, body, len);
        return line_finish(&l);
    }
    if (cJSON_IsObject(root)) {
        m = cJSON_GetObjectItemCaseSensitive(root, "message");
        if (m)
            put_message(&l, m);
        if (l.pos == 0) {
            m = cJSON_GetObjectItemCaseSensitive(root, "errors");
            if (m)
                put_errors(&l, m);
        }
        if (l.pos == 0)
            line_puts(&l, str_of(root, "error"));
    } else if (cJSON_IsArray(root)) {
        put_message(&l, root);
    } else if (cJSON_IsString(root)) {
        line_puts(&l, root->valuestring);
    }
    cJSON_Delete(root);
    return line_finish(&l);
}

/* ---- escaping ---------------------------------------------------------- */

int sync_http_escape(struct plat_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char enc[3];
        int rc;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("-._~$:,", c)) {
            rc = plat_buf_append(out, s, 1);
        } else {
            enc[0] = '%';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 15];
            rc = plat_buf_append(out, enc, 3);
        }
        if (rc < 0)
            return rc;
    }
    return plat_buf_append(out, "", 0);
}

/* ---- multipart --------------------------------------------------------- */

static int has_bytes(const void *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    const char *h = hay;

    if (k == 0 || n < k)
        return 0;
    for (size_t i = 0; i + k <= n; i++)
        if (h[i] == needle[0] && memcmp(h + i, needle, k) == 0)
            return 1;
    return 0;
}

static int header_safe(const char *s)
{
    return s && s[0] && !strpbrk(s, "\"\r\n\\");
}

int sync_http_multipart_csv(struct plat_buf *out,
                            char content_type[SYNC_HTTP_CONTENT_TYPE_SIZE],
                            const char *filename, const void *csv,
                            size_t csv_len,
                            const struct sync_http_form_field *fields,
                            size_t n_fields)
{
    unsigned char rnd[16];
    char boundary[48];
    size_t flen;
    int rc, tries;

    content_type[0] = '\0';
    plat_buf_reset(out);
    flen = filename ? strlen(filename) : 0;
    if (!header_safe(filename) || strchr(filename, '/') || flen < 5 ||
        strcmp(filename + flen - 4, ".csv") != 0)
        return plat_err_set(ERR_INVALID, "upload file name must end in .csv "
                            "and hold no quote, slash or line break");
    for (size_t i = 0; i < n_fields; i++)
        if (!header_safe(fields[i].name) || !fields[i].value)
            return plat_err_set(ERR_INVALID, "bad multipart field name");

    /* A random boundary; draw again in the unlikely case the content holds
     * it. */
    for (tries = 0;; tries++) {
        int clash = 0;

        rc = plat_random_bytes(rnd, sizeof(rnd));
        if (rc < 0)
            return rc;
        memcpy(boundary, "agent-", 6);
        for (size_t i = 0; i < sizeof(rnd); i++)
            snprintf(boundary + 6 + 2 * i, 3, "%02x", rnd[i]);
        clash = has_bytes(csv, csv_len, boundary);
        for (size_t i = 0; i < n_fields && !clash; i++)
            clash = has_bytes(fields[i].value, strlen(fields[i].value),
                              boundary);
        if (!clash)
            break;
        if (tries >= 4)
            return plat_err_set(ERR_GENERIC, "no free multipart boundary");
    }

    rc = plat_buf_printf(out, "--%s\r\nContent-Disposition: form-data; "
                         "name=\"file\"; filename=\"%s\"\r\n"
                         "Content-Type: text/csv\r\n\r\n", boundary,
                         filename);
    if (rc == PLAT_OK)
        rc = plat_buf_append(out, csv, csv_len);
    for (size_t i = 0; i < n_fields && rc == PLAT_OK; i++) {
        rc = plat_buf_printf(out, "\r\n--%s\r\nContent-Disposition: "
                             "form-data; name=\"%s\"\r\n\r\n", boundary,
                             fields[i].name);
        if (rc == PLAT_OK)
            rc = plat_buf_puts(out, fields[i].value);
    }
    if (rc == PLAT_OK)
        rc = plat_buf_printf(out, "\r\n--%s--\r\n", boundary);
    if (rc < 0) {
        plat_buf_dispose(out);
        return rc;
    }
    snprintf(content_type, SYNC_HTTP_CONTENT_TYPE_SIZE,
             "multipart/form-data; boundary=%s", boundary);
    return PLAT_OK;
}

/* ---- backoff ----------------------------------------------------------- */

int64_t sync_http_backoff_ms(int64_t base_ms, int64_t cap_ms, int attempt)
{
    int64_t ceiling = base_ms;

    if (base_ms <= 0 || cap_ms <= 0)
        return 0;
    for (int i = 0; i < attempt && ceiling < cap_ms; i++)
        ceiling = ceiling > INT64_MAX / 2 ? INT64_MAX : ceiling * 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    return (int64_t)plat_random_below((uint64_t)ceiling + 1);
}
