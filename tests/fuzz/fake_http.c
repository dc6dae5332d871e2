/*
 * fake_http.c - the HTTP client of sync_http.h without a network, for the
 * fuzzers: every answer comes from a script (the fuzz input), so the
 * connectors' readers of server answers run on fuzzed bodies exactly as
 * they run on what curl receives. Linking this file into a binary keeps
 * sync/http/http.c out of it (it defines every symbol of that file); the
 * rest of sync/http (status mapping, error texts, gzip) is the real code.
 *
 * Script: entries, each a header line then its body up to the next
 * header line ("\n@@ ") or the end:
 *
 *   @@ METHOD PATH-PART STATUS [gz] [html] [cut] [etag=TEXT]\n
 *   BODY
 *
 * A request takes the first unused entry whose METHOD is its method (or
 * "*") and whose PATH-PART occurs in its path ("-": any path; "/x$": the
 * path without its query ends with "/x"). No entry
 * left: the server is unreachable (ERR_RETRY), as offline. "gz": the body
 * is gzip, decoded by the real inflater; "html": Content-Type text/html;
 * "cut": the connection drops after the body. Streamed bodies are handed
 * on in pieces of varying size. The client's login/re-login and retry
 * rules are kept (in short: no sleeping).
 */
#define _GNU_SOURCE /* memmem */
#include "fake_http.h"

#include "http_internal.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FAKE_MAX_ENTRIES 256
#define FAKE_MAX_REQUESTS 400
#define FAKE_MAX_COOKIES 8
#define DEF_MAX_RESPONSE ((size_t)64 * 1024 * 1024)

struct entry {
    char method[8];
    char part[128];
    long status;
    int gzip, html, cut, used;
    char etag[128];
    const char *body;
    size_t len;
};

static struct {
    struct entry e[FAKE_MAX_ENTRIES];
    size_t n;
    int requests;
} S;

struct sync_http {
    char *service;
    struct sync_http_auth auth;
    void *auth_payload;
    int session, in_login;
    sync_http_error_text_fn error_text;
    size_t max_response, max_response_default;
    int fake_max_attempts;
    int max_attempts;
    char *cookie_name[FAKE_MAX_COOKIES];
    char *cookie_value[FAKE_MAX_COOKIES];
    struct sync_http_stats stats;
};

/* One header line (text[0..n), without "@@ ") into `e`. */
static void parse_header(const char *text, size_t n, struct entry *e)
{
    char line[512], *tok, *save = NULL;
    int field = 0;

    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    memcpy(line, text, n);
    line[n] = '\0';
    strcpy(e->method, "*");
    strcpy(e->part, "-");
    e->status = 200;
    for (tok = strtok_r(line, " ", &save); tok;
         tok = strtok_r(NULL, " ", &save), field++) {
        if (field == 0)
            snprintf(e->method, sizeof(e->method), "%s", tok);
        else if (field == 1)
            snprintf(e->part, sizeof(e->part), "%s", tok);
        else if (field == 2)
            e->status = strtol(tok, NULL, 10) % 1000;
        else if (strcmp(tok, "gz") == 0)
            e->gzip = 1;
        else if (strcmp(tok, "html") == 0)
            e->html = 1;
        else if (strcmp(tok, "cut") == 0)
            e->cut = 1;
        else if (strncmp(tok, "etag=", 5) == 0)
            snprintf(e->etag, sizeof(e->etag), "%s", tok + 5);
    }
}

void fake_http_script(const char *data, size_t len)
{
    const char *p = data, *end = data + len;

    memset(&S, 0, sizeof(S));
    /* Text before the first header is ignored. */
    if (len < 3 || memcmp(p, "@@ ", 3) != 0) {
        const char *h = memmem(p, len, "\n@@ ", 4);
        if (!h)
            return;
        p = h + 1;
    }
    while (p < end && S.n < FAKE_MAX_ENTRIES) {
        struct entry *e = &S.e[S.n++];
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *hdr = p + 3, *body, *next;

        if (!nl)
            nl = end;
        parse_header(hdr, (size_t)(nl - hdr), e);
        body = nl < end ? nl + 1 : end;
        next = body < end ? memmem(body, (size_t)(end - body), "\n@@ ", 4)
                          : NULL;
        e->body = body;
        e->len = (size_t)((next ? next : end) - body);
        p = next ? next + 1 : end;
    }
}

int fake_http_requests(void)
{
    return S.requests;
}

/* PATH-PART occurs in the path; "-" matches any path; a part ending in
 * '$' must end the path (without its query). */
static int part_matches(const char *part, const char *path)
{
    size_t n = strlen(part), plen = strcspn(path, "?");

    if (strcmp(part, "-") == 0)
        return 1;
    if (n > 1 && part[n - 1] == '$')
        return plen >= n - 1 &&
               memcmp(path + plen - (n - 1), part, n - 1) == 0;
    return strstr(path, part) != NULL;
}

static struct entry *take(const char *method, const char *path)
{
    static int trace = -1;
    size_t i;

    /* FUZZ_HTTP_TRACE=1: print each request (to write seed scripts). */
    if (trace < 0)
        trace = getenv("FUZZ_HTTP_TRACE") != NULL;
    if (trace)
        fprintf(stderr, "fake_http: %s %s\n", method, path);
    if (++S.requests > FAKE_MAX_REQUESTS)
        return NULL;
    for (i = 0; i < S.n; i++) {
        struct entry *e = &S.e[i];
        if (e->used)
            continue;
        if (strcmp(e->method, "*") != 0 && strcmp(e->method, method) != 0)
            continue;
        if (!part_matches(e->part, path))
            continue;
        e->used = 1;
        if (trace)
            fprintf(stderr, "fake_http:   entry %zu: %ld, %zu bytes\n", i,
                    e->status, e->len);
        return e;
    }
    return NULL;
}

/* ---- the client ---------------------------------------------------------- */

int sync_http_create(struct sync_http **out,
                     const struct sync_http_options *opt)
{
    struct sync_http *h;

    *out = NULL;
    if (!opt || !opt->base_url)
        return plat_err_set(ERR_INVALID, "HTTP client without a base URL");
    h = plat_calloc(1, sizeof(*h));
    if (!h)
        return plat_err_set(ERR_NOMEM, "out of memory");
    h->service = plat_strdup(opt->service_name ? opt->service_name
                                               : "server");
    if (!h->service) {
        plat_free(h);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    h->max_response_default = opt->max_response ? opt->max_response
                                                : DEF_MAX_RESPONSE;
    h->max_response = h->max_response_default;
    h->max_attempts = opt->max_attempts > 0 ? opt->max_attempts : 5;
    *out = h;
    return PLAT_OK;
}

static void forget_cookies(struct sync_http *h)
{
    for (int i = 0; i < FAKE_MAX_COOKIES; i++) {
        plat_free(h->cookie_name[i]);
        plat_free(h->cookie_value[i]);
        h->cookie_name[i] = h->cookie_value[i] = NULL;
    }
}

void sync_http_destroy(struct sync_http *h)
{
    if (!h)
        return;
    if (h->auth.release)
        h->auth.release(h->auth_payload);
    forget_cookies(h);
    plat_free(h->service);
    plat_free(h);
}

void sync_http_logout_local(struct sync_http *h)
{
    h->session = 0;
    forget_cookies(h);
}

int sync_http_set_auth(struct sync_http *h, const struct sync_http_auth *auth,
                       void *payload)
{
    if (h->auth.release)
        h->auth.release(h->auth_payload);
    memset(&h->auth, 0, sizeof(h->auth));
    h->auth_payload = NULL;
    if (auth) {
        h->auth = *auth;
        h->auth_payload = payload;
    }
    sync_http_logout_local(h);
    return PLAT_OK;
}

void *sync_http_auth_payload(struct sync_http *h,
                             int (*login)(struct sync_http *h, void *payload))
{
    return h && login && h->auth.login == login ? h->auth_payload : NULL;
}

void sync_http_set_error_text(struct sync_http *h, sync_http_error_text_fn fn)
{
    h->error_text = fn;
}

int sync_http_set_cookie(struct sync_http *h, const char *name,
                         const char *value)
{
    int i;

    if (!name || !*name || !value || strpbrk(name, "=; \t\r\n") ||
        strpbrk(value, "; \t\r\n"))
        return plat_err_set(ERR_INVALID, "cookie name or value not "
                            "allowed");
    for (i = 0; i < FAKE_MAX_COOKIES; i++)
        if (!h->cookie_name[i] || strcmp(h->cookie_name[i], name) == 0)
            break;
    if (i == FAKE_MAX_COOKIES)
        return plat_err_set(ERR_TOOLARGE, "too many cookies");
    plat_free(h->cookie_name[i]);
    plat_free(h->cookie_value[i]);
    h->cookie_name[i] = plat_strdup(name);
    h->cookie_value[i] = plat_strdup(value);
    if (!h->cookie_name[i] || !h->cookie_value[i])
        return plat_err_set(ERR_NOMEM, "out of memory");
    return PLAT_OK;
}

int sync_http_has_cookie(struct sync_http *h, const char *name)
{
    for (int i = 0; i < FAKE_MAX_COOKIES; i++)
        if (h->cookie_name[i] && strcmp(h->cookie_name[i], name) == 0)
            return 1;
    return 0;
}

void sync_http_stats(const struct sync_http *h, struct sync_http_stats *out)
{
    *out = h->stats;
}

void sync_http_response_dispose(struct sync_http_response *r)
{
    if (r)
        plat_buf_dispose(&r->body);
}

size_t sync_http_set_max_response(struct sync_http *h, size_t cap)
{
    size_t old = h->max_response;

    h->max_response = cap ? cap : h->max_response_default;
    return old;
}

/* The fake answers from its script and never retries: only the value is
 * kept, as the real client keeps it. */
int sync_http_set_max_attempts(struct sync_http *h, int attempts)
{
    int old = h->fake_max_attempts;

    if (attempts > 0)
        h->fake_max_attempts = attempts;
    return old;
}

/* ---- one request ------------------------------------------------------- */

struct req {
    struct sync_http *h;
    struct sync_http_response *resp;
    const char *method, *path;
    sync_http_data_cb on_data;
    void *payload;
    size_t decoded;
    int64_t delivered;
    unsigned piece;   /* size of the next streamed piece */
};

static int sink(void *ctx, const char *data, size_t len)
{
    struct req *r = ctx;

    r->decoded += len;
    if (r->decoded > r->h->max_response)
        return plat_err_set(ERR_TOOLARGE, "%s answer to %s is over the cap "
                            "of %zu bytes", r->h->service, r->method,
                            r->h->max_response);
    if (r->on_data && r->resp->status >= 200 && r->resp->status < 300) {
        /* Pieces of 1 .. 4096 bytes, so records cross piece borders. */
        while (len > 0) {
            size_t n;
            int rc;

            r->piece = r->piece * 1103515245u + 12345u;
            n = 1 + (r->piece >> 8) % (r->piece & 1 ? 7 : 4096);
            if (n > len)
                n = len;
            rc = r->on_data(r->payload, data, n);
            if (rc != 0)
                return rc;
            r->delivered += (int64_t)n;
            data += n;
            len -= n;
        }
        return PLAT_OK;
    }
    return plat_buf_append(&r->resp->body, data, len);
}

/* One attempt: 1 = an answer in r->resp, 0 = unreachable/cut (message
 * set), < 0 = an error to return. */
static int attempt(struct req *r)
{
    struct entry *e = take(r->method, r->path);
    struct sync_http_inflate inf;
    int rc;

    plat_buf_reset(&r->resp->body);
    r->decoded = 0;
    r->resp->status = 0;
    r->resp->etag[0] = r->resp->content_type[0] = '\0';
    r->resp->retry_after_s = 0;
    r->resp->status_reason[0] = '\0';
    r->h->stats.requests++;
    if (!e) {
        plat_err_set(ERR_RETRY, "%s unreachable (%s %s)", r->h->service,
                     r->method, "fuzz");
        return 0;
    }
    r->resp->status = e->status;
    snprintf(r->resp->etag, sizeof(r->resp->etag), "%s", e->etag);
    snprintf(r->resp->content_type, sizeof(r->resp->content_type), "%s",
             e->html ? "text/html" : "application/json");
    r->piece = (unsigned)e->len;
    r->h->stats.bytes_down_wire += (int64_t)e->len;
    if (e->gzip) {
        memset(&inf, 0, sizeof(inf));
        rc = sync_http_inflate_feed(&inf, e->body, e->len, sink, r);
        if (rc == 0 && !inf.ended)
            rc = plat_err_set(ERR_INVALID, "gzip body cut short");
        sync_http_inflate_end(&inf);
    } else {
        rc = sink(r, e->body, e->len);
    }
    r->h->stats.bytes_down_body += (int64_t)r->decoded;
    if (rc < 0)
        return rc;
    if (rc > 0)
        return rc; /* the callback's own stop value */
    if (e->cut) {
        plat_err_set(ERR_RETRY, "%s connection dropped", r->h->service);
        return 0;
    }
    return 1;
}

static int do_login(struct sync_http *h)
{
    int rc;

    if (!h->auth.login)
        return plat_err_set(ERR_CONFIG, "no login configured");
    if (h->in_login)
        return plat_err_set(ERR_INVALID, "login hook called itself");
    sync_http_logout_local(h);
    h->stats.logins++;
    h->in_login = 1;
    rc = h->auth.login(h, h->auth_payload);
    h->in_login = 0;
    if (rc < 0)
        return rc;
    h->session = 1;
    return PLAT_OK;
}

static int perform(struct req *r)
{
    struct sync_http *h = r->h;
    int attempts = 0, relogged = 0, rc, is_login = h->in_login;

    if (r->path[0] != '/' || strchr(r->path, ' ') || strchr(r->path, '#'))
        return plat_err_set(ERR_INVALID, "request path must start with '/' "
                            "and hold no space or '#'");
    for (const char *p = r->path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return plat_err_set(ERR_INVALID, "request path holds a control "
                                "character");
    if (!is_login && h->auth.login && !h->session) {
        rc = do_login(h);
        if (rc < 0)
            return rc;
    }
    for (;;) {
        rc = attempt(r);
        if (rc < 0 || rc > 1)
            return rc;
        if (rc == 1) {
            long st = r->resp->status;
            if (st == 401 && !is_login && h->auth.login) {
                if (relogged) {
                    h->session = 0;
                    return plat_err_set(ERR_AUTH, "%s refused the new "
                                        "session", h->service);
                }
                relogged = 1;
                rc = do_login(h);
                if (rc < 0)
                    return rc;
                continue;
            }
            if (st != 429 && st != 502 && st != 503 && st != 504)
                return PLAT_OK;
        }
        if (r->delivered > 0)
            return plat_err_set(ERR_RETRY, "%s answer cut after %lld bytes",
                                h->service, (long long)r->delivered);
        if (++attempts >= h->max_attempts)
            return plat_err_set(ERR_RETRY, "%s server unreachable after %d "
                                "attempts", h->service, attempts);
        h->stats.retries++;
    }
}

static void response_init(struct sync_http *h, struct sync_http_response *r)
{
    memset(r, 0, sizeof(*r));
    plat_buf_init(&r->body, h->max_response);
    r->error_text = h->error_text;
}

int sync_http_request(struct sync_http *h, const char *method,
                      const char *path_and_query, const char *content_type,
                      const void *body, size_t body_len,
                      const char *if_none_match,
                      struct sync_http_response *resp)
{
    struct req r;

    (void)if_none_match;
    response_init(h, resp);
    if (!method || !path_and_query)
        return plat_err_set(ERR_INVALID, "HTTP request without a method or "
                            "path");
    if (body_len > 0 && (!body || !content_type))
        return plat_err_set(ERR_INVALID, "request body without a "
                            "Content-Type");
    h->stats.bytes_up_wire += (int64_t)body_len;
    memset(&r, 0, sizeof(r));
    r.h = h;
    r.resp = resp;
    r.method = method;
    r.path = path_and_query;
    return perform(&r);
}

int sync_http_get_stream(struct sync_http *h, const char *path_and_query,
                         sync_http_data_cb on_data, void *payload,
                         struct sync_http_response *resp)
{
    struct req r;

    response_init(h, resp);
    if (!path_and_query || !on_data)
        return plat_err_set(ERR_INVALID, "streaming GET without a path or "
                            "callback");
    memset(&r, 0, sizeof(r));
    r.h = h;
    r.resp = resp;
    r.method = "GET";
    r.path = path_and_query;
    r.on_data = on_data;
    r.payload = payload;
    return perform(&r);
}

int sync_http_auth_login(struct sync_http *h)
{
    return do_login(h);
}
