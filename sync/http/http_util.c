/* SPDX-License-Identifier: MIT */
/*
 * http_util.c - the network-free helpers of the HTTP client: the mapping
 * from HTTP status to result code, the default reader of error bodies (one
 * line, knowing no server), query escaping, the multipart body of CSV
 * uploads, and the backoff delay.
 *
 * Error bodies can echo the request (a validation error may hold the
 * submitted body, passwords included), so the default reader quotes only
 * short plain text or a top-level message string, never other JSON.
 */
#include "sync_http.h"

#include "plat_err.h"
#include "plat_line.h"
#include "plat_random.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

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
    sync_http_error_text(resp, msg, sizeof(msg));
    if (msg[0])
        return plat_err_set(code, "%s: HTTP %ld: %s", what, resp->status,
                            msg);
    return plat_err_set(code, "%s: HTTP %ld", what, resp->status);
}

/* ---- error bodies ------------------------------------------------------ */


static const char *reason_phrase(long status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 511: return "Network Authentication Required";
    default: return "";
    }
}

/* Does the body start (after white space) with `prefix` (lower case)? */
static int starts_with_ci(const char *body, size_t len, const char *prefix)
{
    size_t i = 0, k = strlen(prefix);

    while (i < len && (body[i] == ' ' || body[i] == '\t' ||
                       body[i] == '\r' || body[i] == '\n'))
        i++;
    if (len - i < k)
        return 0;
    for (size_t j = 0; j < k; j++) {
        char c = body[i + j];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != prefix[j])
            return 0;
    }
    return 1;
}

static int is_html(const char *body, size_t len)
{
    return body && (starts_with_ci(body, len, "<!doctype html") ||
                    starts_with_ci(body, len, "<html") ||
                    starts_with_ci(body, len, "<head") ||
                    starts_with_ci(body, len, "<body"));
}

#define HTML_NOT_JSON "HTML page instead of JSON (a proxy or login portal " \
                      "answered?)"
#define DEFAULT_TEXT_MAX 120 /* bytes of a plain-text body quoted */

/* Put at most DEFAULT_TEXT_MAX bytes of `s`, cut at a UTF-8 boundary and
 * marked with "..." when longer. */
static void put_short(struct plat_line *l, const char *s, size_t n)
{
    size_t cut = n;

    if (n > DEFAULT_TEXT_MAX) {
        cut = DEFAULT_TEXT_MAX;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    if (l->pos > 0)
        plat_line_puts(l, ": ");
    plat_line_putn(l, s, cut);
    if (cut < n)
        l->full = 1;
}

size_t sync_http_default_error_text(long status, const char *body,
                                    size_t len, char *out, size_t n)
{
    const char *phrase = reason_phrase(status);
    struct plat_line l;
    cJSON *root;

    if (!out || n == 0)
        return 0;
    plat_line_init(&l, out, n);
    out[0] = '\0';
    if (!body)
        len = 0;
    if (status >= 200 && status < 300 && is_html(body, len)) {
        plat_line_puts(&l, HTML_NOT_JSON);
        return plat_line_finish(&l);
    }
    plat_line_puts(&l, phrase);
    if (len == 0)
        return plat_line_finish(&l);
    if (is_html(body, len)) {
        plat_line_puts(&l, l.pos ? " (HTML page)" : "HTML page");
        return plat_line_finish(&l);
    }
    root = cJSON_ParseWithLength(body, len);
    if (root) {
        /* Only a top-level message of the server's own: other fields may
         * echo the request. */
        static const char *const keys[] = { "message", "error", "detail" };
        const cJSON *m = NULL;
        for (size_t i = 0; i < 3 && cJSON_IsObject(root) && !m; i++) {
            m = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
            if (!cJSON_IsString(m) || !m->valuestring[0])
                m = NULL;
        }
        /* Not "Unauthorized: Unauthorized". */
        if (m && strcasecmp(m->valuestring, phrase) != 0)
            put_short(&l, m->valuestring, strlen(m->valuestring));
        cJSON_Delete(root);
        return plat_line_finish(&l);
    }
    if (body[0] == '<' || memchr(body, '\0', len))
        return plat_line_finish(&l); /* markup or binary: not quoted */
    put_short(&l, body, len);
    return plat_line_finish(&l);
}

size_t sync_http_error_text(const struct sync_http_response *resp, char *out,
                            size_t n)
{
    sync_http_error_text_fn fn = resp->error_text
                                     ? resp->error_text
                                     : sync_http_default_error_text;

    if (!out || n == 0)
        return 0;
    out[0] = '\0';
    return fn(resp->status, resp->body.data, resp->body.len, out, n);
}

int sync_http_check_json(const struct sync_http_response *resp,
                         const char *what)
{
    if (strncasecmp(resp->content_type, "text/html", 9) == 0 ||
        is_html(resp->body.data, resp->body.len))
        return plat_err_set(ERR_INVALID, "%s: HTTP %ld: " HTML_NOT_JSON,
                            what, resp->status);
    return PLAT_OK;
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
