/* SPDX-License-Identifier: MIT */
/*
 * http.c - the HTTP client: one reused curl easy handle, its cookie engine,
 * the authentication hook and the retry policy (see sync_http.h).
 *
 * Each attempt resets the handle (curl_easy_reset keeps the live connection,
 * the DNS and TLS session caches) and sets every option again, so no option
 * of one request leaks into the next. Responses are not decoded by curl
 * (CURLOPT_HTTP_CONTENT_DECODING 0): the write callback counts the bytes as
 * received and gunzips them itself, which gives honest wire and body counts
 * and lets the cap apply to the decoded size.
 */
#include "sync_http.h"
#include "http_internal.h"
#include "http_curl.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_secure.h"
#include "plat_testhook.h"
#include "plat_log.h"
#include "plat_time.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DEF_CONNECT_TIMEOUT_MS 15000L
#define DEF_LOW_SPEED_LIMIT 100L
#define DEF_LOW_SPEED_TIME_S 60L
#define DEF_MAX_RESPONSE ((size_t)64 * 1024 * 1024)
#define DEF_GZIP_THRESHOLD ((size_t)4096)
#define DEF_MAX_ATTEMPTS 5
#define DEF_BACKOFF_BASE_MS 500L
#define DEF_BACKOFF_CAP_MS 30000L
#define SLEEP_SLICE_MS 50
#define USER_AGENT "agent/0.1"

struct sync_http {
    CURL *curl;
    CURLSH *share;        /* holds the cookies across curl_easy_reset */
    char *base_url;       /* without a trailing '/' */
    char *service;
    char *ca_file;
    char *pinned_pubkey;
    char *proxy;          /* NULL: curl's environment handling */
    struct sync_http_auth auth;   /* all NULL: no hook */
    void *auth_payload;
    int session;          /* the login hook succeeded since the last
                             logout or 401 */
    int in_login;         /* the login hook is running */
    sync_http_error_text_fn error_text;
    long connect_timeout_ms;
    long low_speed_limit;
    long low_speed_time_s;
    size_t max_response;
    size_t max_response_default;
    size_t gzip_threshold;
    int max_attempts;
    long backoff_base_ms;
    long backoff_cap_ms;
    void (*progress)(void *, int64_t, int64_t, int64_t, int64_t);
    void *progress_payload;
    volatile int *cancel;
    int64_t deadline_mono_ms;
    struct sync_http_stats stats;
    char errbuf[CURL_ERROR_SIZE];
};

/* One request as the retry loop sees it. */
struct req {
    const char *method;
    const char *path;          /* with the query */
    char path_only[160];       /* for messages: no query, maybe cut */
    const char *content_type;
    const void *body;          /* as sent (maybe gzipped) */
    size_t body_len;
    int gzipped;
    const char *if_none_match;
    int is_login;              /* sent by the login hook */
    sync_http_data_cb on_data; /* streaming when set */
    void *payload;
    int64_t delivered;         /* bytes given to on_data, all attempts */
};

/* State of one transfer attempt, shared by the curl callbacks. */
struct xfer {
    struct sync_http *h;
    struct req *rq;
    struct sync_http_response *resp;
    long status;              /* from the last status line */
    int gzip;                 /* Content-Encoding: gzip */
    int bad_encoding;         /* a Content-Encoding we cannot decode */
    struct sync_http_inflate inflate;
    int64_t wire_body;        /* body bytes as received */
    int64_t decoded;          /* body bytes after gunzip */
    int64_t sent;             /* request headers + body as sent */
    int stop_rc;              /* why the write callback stopped curl */
    int cancelled;
    int late;                 /* stopped at the deadline */
};

static int cancelled(const struct sync_http *h)
{
    return h->cancel && *h->cancel;
}

static int past_deadline(const struct sync_http *h)
{
    return h->deadline_mono_ms > 0 &&
           plat_time_mono_ms() >= h->deadline_mono_ms;
}

static int deadline_err(const struct sync_http *h, const struct req *rq)
{
    return plat_err_set(ERR_RETRY, "%s request %s %s stopped: the sync is "
                        "over its deadline", h->service, rq->method,
                        rq->path_only);
}

static char *dup_opt(const char *s, int *rc)
{
    char *d;

    if (!s || *rc < 0)
        return NULL;
    d = plat_strdup(s);
    if (!d)
        *rc = ERR_NOMEM;
    return d;
}

int sync_http_create(struct sync_http **out,
                     const struct sync_http_options *opt)
{
    struct sync_http *h = NULL;
    size_t n;
    int rc = PLAT_OK;
    CURLcode crc;

    *out = NULL;
    if (!opt || opt->version != SYNC_HTTP_OPTIONS_VERSION)
        return plat_err_set(ERR_CONFIG, "HTTP client options of an unknown "
                            "version");
    if (!opt->base_url || (strncasecmp(opt->base_url, "http://", 7) != 0 &&
                           strncasecmp(opt->base_url, "https://", 8) != 0))
        return plat_err_set(ERR_CONFIG, "server URL must start with "
                            "http:// or https://");
    if (opt->max_attempts < 0 || opt->connect_timeout_ms < 0 ||
        opt->low_speed_limit < 0 || opt->low_speed_time_s < 0 ||
        opt->backoff_base_ms < 0 || opt->backoff_cap_ms < 0)
        return plat_err_set(ERR_CONFIG, "negative HTTP client option");

    if ((rc = sync_curl_load()) < 0)
        return rc;
    crc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (crc != CURLE_OK)
        return plat_err_set(ERR_GENERIC, "curl initialisation failed: %s",
                            curl_easy_strerror(crc));
    h = plat_calloc(1, sizeof(*h));
    if (!h) {
        curl_global_cleanup();
        return ERR_NOMEM;
    }
    h->base_url = dup_opt(opt->base_url, &rc);
    h->service = dup_opt(opt->service_name ? opt->service_name : "server", &rc);
    h->ca_file = dup_opt(opt->ca_file, &rc);
    h->pinned_pubkey = dup_opt(opt->pinned_pubkey, &rc);
    h->proxy = dup_opt(opt->proxy, &rc);
    if (rc < 0)
        goto done;
    n = strlen(h->base_url);
    while (n > 0 && h->base_url[n - 1] == '/')
        h->base_url[--n] = '\0';

    h->connect_timeout_ms = opt->connect_timeout_ms ? opt->connect_timeout_ms
                                                    : DEF_CONNECT_TIMEOUT_MS;
    h->low_speed_limit = opt->low_speed_limit ? opt->low_speed_limit
                                              : DEF_LOW_SPEED_LIMIT;
    h->low_speed_time_s = opt->low_speed_time_s ? opt->low_speed_time_s
                                                : DEF_LOW_SPEED_TIME_S;
    h->max_response = opt->max_response ? opt->max_response
                                        : DEF_MAX_RESPONSE;
    h->max_response_default = h->max_response;
    h->deadline_mono_ms = opt->deadline_mono_ms;
    h->gzip_threshold = opt->gzip_request_threshold
                            ? opt->gzip_request_threshold
                            : DEF_GZIP_THRESHOLD;
    h->max_attempts = opt->max_attempts ? opt->max_attempts
                                        : DEF_MAX_ATTEMPTS;
    h->backoff_base_ms = opt->backoff_base_ms ? opt->backoff_base_ms
                                              : DEF_BACKOFF_BASE_MS;
    h->backoff_cap_ms = opt->backoff_cap_ms ? opt->backoff_cap_ms
                                            : DEF_BACKOFF_CAP_MS;
    h->progress = opt->progress;
    h->progress_payload = opt->progress_payload;
    h->cancel = opt->cancel;

    h->curl = curl_easy_init();
    h->share = curl_share_init();
    if (!h->curl || !h->share ||
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE) !=
            CURLSHE_OK ||
        curl_easy_setopt(h->curl, CURLOPT_SHARE, h->share) != CURLE_OK)
        rc = plat_err_set(ERR_GENERIC, "curl initialisation failed");
done:
    if (rc < 0) {
        sync_http_destroy(h);
        return rc;
    }
    *out = h;
    return PLAT_OK;
}

void sync_http_destroy(struct sync_http *h)
{
    if (!h)
        return;
    if (h->auth.release)
        h->auth.release(h->auth_payload);
    if (h->curl)
        curl_easy_cleanup(h->curl);
    if (h->share)
        curl_share_cleanup(h->share);
    plat_free(h->base_url);
    plat_free(h->service);
    plat_free(h->ca_file);
    plat_free(h->pinned_pubkey);
    plat_free(h->proxy);
    plat_free(h);
    curl_global_cleanup();
}

void sync_http_logout_local(struct sync_http *h)
{
    h->session = 0;
    /* Erase every cookie kept in memory. */
    curl_easy_setopt(h->curl, CURLOPT_COOKIELIST, "ALL");
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

static int cookie_part_ok(const char *s, int is_name)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || c == ';' || c == ',' || c == '"' ||
            c == '\\' || (is_name && c == '='))
            return 0;
    }
    return 1;
}

int sync_http_set_cookie(struct sync_http *h, const char *name,
                         const char *value)
{
    char *line, *host = NULL;
    CURLU *u;
    CURLcode crc;

    if (!cookie_part_ok(name, 1) || !cookie_part_ok(value, 0))
        return plat_err_set(ERR_INVALID, "%s session cookie with a bad name "
                            "or value", h->service);
    /* Netscape format (curl refuses a header-style cookie without a
     * domain): host, no subdomains, path /, not secure-only, session. */
    u = curl_url();
    if (!u)
        return plat_err_set(ERR_NOMEM, "out of memory keeping a cookie");
    if (curl_url_set(u, CURLUPART_URL, h->base_url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        curl_url_cleanup(u);
        return plat_err_set(ERR_INVALID, "cannot read the host of the %s "
                            "server URL", h->service);
    }
    line = plat_asprintf("%s\tFALSE\t/\tFALSE\t0\t%s\t%s", host, name,
                         value);
    curl_free(host);
    curl_url_cleanup(u);
    if (!line)
        return plat_err_set(ERR_NOMEM, "out of memory keeping a cookie");
    crc = curl_easy_setopt(h->curl, CURLOPT_COOKIELIST, line);
    plat_wipe(line, strlen(line));
    plat_free(line);
    if (crc != CURLE_OK)
        return plat_err_set(crc == CURLE_OUT_OF_MEMORY ? ERR_NOMEM
                                                       : ERR_GENERIC,
                            "keeping a %s cookie failed: %s", h->service,
                            curl_easy_strerror(crc));
    return PLAT_OK;
}

int sync_http_has_cookie(struct sync_http *h, const char *name)
{
    struct curl_slist *list = NULL;
    size_t k = strlen(name);
    int found = 0;

    if (curl_easy_getinfo(h->curl, CURLINFO_COOKIELIST, &list) != CURLE_OK)
        return 0;
    /* Netscape format: domain, tailmatch, path, secure, expires, name,
     * value, separated by tabs. */
    for (struct curl_slist *p = list; p && !found; p = p->next) {
        const char *f = p->data;
        for (int i = 0; i < 5 && f; i++) {
            f = strchr(f, '\t');
            if (f)
                f++;
        }
        if (f && strncmp(f, name, k) == 0 && f[k] == '\t')
            found = 1;
    }
    for (struct curl_slist *p = list; p; p = p->next)
        plat_wipe(p->data, strlen(p->data));
    curl_slist_free_all(list);
    return found;
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

static void response_init(struct sync_http *h, struct sync_http_response *r)
{
    memset(r, 0, sizeof(*r));
    plat_buf_init(&r->body, h->max_response);
    r->error_text = h->error_text;
}

/* ---- curl callbacks ---------------------------------------------------- */

/* Where decoded body bytes go: on_data for a streamed 2xx, else the
 * response buffer. Enforces the cap on the decoded size. */
static int sink(void *ctx, const char *data, size_t len)
{
    struct xfer *x = ctx;
    int rc;

    x->decoded += (int64_t)len;
    if ((uint64_t)x->decoded > x->h->max_response)
        return plat_err_set(ERR_TOOLARGE, "%s answer to %s %s is over the "
                            "cap of %zu bytes", x->h->service,
                            x->rq->method, x->rq->path_only,
                            x->h->max_response);
    if (x->rq->on_data && x->status >= 200 && x->status < 300) {
        rc = x->rq->on_data(x->rq->payload, data, len);
        if (rc != 0)
            return rc;
        x->rq->delivered += (int64_t)len;
        return PLAT_OK;
    }
    return plat_buf_append(&x->resp->body, data, len);
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    int rc;

    x->wire_body += (int64_t)n;
    plat_testhook(PLAT_HOOK_HTTP_BYTE, n);
    if (x->bad_encoding) {
        x->stop_rc = plat_err_set(ERR_INVALID, "%s answered %s %s with a "
                                  "Content-Encoding other than gzip",
                                  x->h->service, x->rq->method,
                                  x->rq->path_only);
        return 0;
    }
    if (x->gzip)
        rc = sync_http_inflate_feed(&x->inflate, ptr, n, sink, x);
    else
        rc = sink(x, ptr, n);
    if (rc != 0) {
        x->stop_rc = rc;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    return n;
}

/* The value of header line `line` (length n) if its name is `name`,
 * trimmed, in *val / *vlen; else 0. */
static int header_value(const char *line, size_t n, const char *name,
                        const char **val, size_t *vlen)
{
    size_t k = strlen(name);

    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return 0;
    line += k + 1;
    n -= k + 1;
    while (n > 0 && (*line == ' ' || *line == '\t')) {
        line++;
        n--;
    }
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n' ||
                     line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    *val = line;
    *vlen = n;
    return 1;
}

static void copy_header(char *dst, size_t size, const char *v, size_t n)
{
    if (n >= size)
        n = 0; /* too long to be useful: leave it empty */
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    const char *v;
    size_t vn;

    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new answer starts (e.g. after a 100 Continue): forget the
         * headers of the previous one. */
        long st = 0;
        const char *sp = memchr(line, ' ', n);
        if (sp && (size_t)(sp - line) + 4 <= n)
            for (int i = 1; i <= 3 && sp[i] >= '0' && sp[i] <= '9'; i++)
                st = st * 10 + (sp[i] - '0');
        x->status = st;
        x->gzip = 0;
        x->bad_encoding = 0;
        x->resp->etag[0] = '\0';
        x->resp->content_type[0] = '\0';
        x->resp->status_reason[0] = '\0';
        x->resp->date[0] = '\0';
    } else if (header_value(line, n, "Date", &v, &vn)) {
        copy_header(x->resp->date, sizeof(x->resp->date), v, vn);
    } else if (header_value(line, n, "X-Status-Reason", &v, &vn)) {
        /* a message for people: cut to fit, control bytes made spaces */
        if (vn >= sizeof(x->resp->status_reason))
            vn = sizeof(x->resp->status_reason) - 1;
        for (size_t i = 0; i < vn; i++)
            x->resp->status_reason[i] =
                (unsigned char)v[i] < 0x20 ? ' ' : v[i];
        x->resp->status_reason[vn] = '\0';
    } else if (header_value(line, n, "ETag", &v, &vn)) {
        copy_header(x->resp->etag, sizeof(x->resp->etag), v, vn);
    } else if (header_value(line, n, "Content-Type", &v, &vn)) {
        copy_header(x->resp->content_type, sizeof(x->resp->content_type), v,
                    vn);
    } else if (header_value(line, n, "Content-Encoding", &v, &vn)) {
        if ((vn == 4 && strncasecmp(v, "gzip", 4) == 0) ||
            (vn == 6 && strncasecmp(v, "x-gzip", 6) == 0) ||
            (vn == 7 && strncasecmp(v, "deflate", 7) == 0))
            x->gzip = 1;
        else if (!(vn == 8 && strncasecmp(v, "identity", 8) == 0) && vn > 0)
            x->bad_encoding = 1;
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
    struct xfer *x = ud;

    if (cancelled(x->h)) {
        x->cancelled = 1;
        return 1; /* curl stops with CURLE_ABORTED_BY_CALLBACK */
    }
    if (past_deadline(x->h)) {
        x->late = 1;
        return 1;
    }
    if (x->h->progress)
        x->h->progress(x->h->progress_payload, (int64_t)dlnow,
                       (int64_t)dltotal, (int64_t)ulnow, (int64_t)ultotal);
    return 0;
}

/* Counts the request bytes as sent. curl's own counters cannot: the
 * request size includes the part of a small body sent together with the
 * headers, and the upload size counts that part again. */
static int on_debug(CURL *c, curl_infotype type, char *data, size_t n,
                    void *ud)
{
    struct xfer *x = ud;

    (void)c;
    (void)data;
    if (type == CURLINFO_HEADER_OUT || type == CURLINFO_DATA_OUT)
        x->sent += (int64_t)n;
    return 0;
}

/* ---- one attempt ------------------------------------------------------- */

enum attempt_result {
    ATT_ANSWER = 0,    /* the server answered: resp->status */
    ATT_TRANSIENT = 1, /* network failure worth retrying: reason set */
    ATT_FAIL = 2       /* final failure: plat_err set, code returned */
};

static int is_transient(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

static int is_tls_verify(CURLcode c)
{
    switch (c) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
        return 1;
    default:
        return 0;
    }
}

/* Append a header line; on failure free the list. */
static int add_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *n = curl_slist_append(*list, line);

    if (!n)
        return plat_err_set(ERR_NOMEM, "out of memory building headers");
    *list = n;
    return PLAT_OK;
}

/* Free a header list, wiping it first: it may hold credentials. */
static void free_headers(struct curl_slist *list)
{
    for (struct curl_slist *p = list; p; p = p->next)
        plat_wipe(p->data, strlen(p->data));
    curl_slist_free_all(list);
}

#define SETOPT(opt, val)                                                  \
    do {                                                                  \
        if (crc == CURLE_OK)                                              \
            crc = curl_easy_setopt(c, opt, val);                          \
    } while (0)

/* Set every option of this attempt on the reset handle. */
static int setup(struct sync_http *h, struct req *rq, struct xfer *x,
                 const char *url, struct curl_slist *headers)
{
    CURL *c = h->curl;
    CURLcode crc = CURLE_OK;

    /* Drop the cookie file list of the last attempt: libcurl 7.88 does not
     * free it in curl_easy_reset (curl/curl#10694). The cookies stay in the
     * share. */
    curl_easy_setopt(c, CURLOPT_COOKIEFILE, (char *)NULL);
    curl_easy_reset(c);
    h->errbuf[0] = '\0';
    SETOPT(CURLOPT_SHARE, h->share);
    SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
    SETOPT(CURLOPT_URL, url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_USERAGENT, USER_AGENT);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    if (h->ca_file)
        SETOPT(CURLOPT_CAINFO, h->ca_file);
    if (h->pinned_pubkey)
        SETOPT(CURLOPT_PINNEDPUBLICKEY, h->pinned_pubkey);
    if (h->proxy)
        SETOPT(CURLOPT_PROXY, h->proxy);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    SETOPT(CURLOPT_LOW_SPEED_LIMIT, h->low_speed_limit);
    SETOPT(CURLOPT_LOW_SPEED_TIME, h->low_speed_time_s);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_response);
    /* The cookie engine, in memory only ("" reads no file), over the
     * cookies kept in h->share. */
    SETOPT(CURLOPT_COOKIEFILE, "");
    /* Decode gzip ourselves (see the file comment). */
    SETOPT(CURLOPT_HTTP_CONTENT_DECODING, 0L);
    SETOPT(CURLOPT_HTTPHEADER, headers);
    SETOPT(CURLOPT_WRITEFUNCTION, on_write);
    SETOPT(CURLOPT_WRITEDATA, x);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, x);
    SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(CURLOPT_XFERINFODATA, x);
    SETOPT(CURLOPT_NOPROGRESS, 0L);
    /* Only for on_debug's byte count: with a debug callback nothing is
     * printed. */
    SETOPT(CURLOPT_DEBUGFUNCTION, on_debug);
    SETOPT(CURLOPT_DEBUGDATA, x);
    SETOPT(CURLOPT_VERBOSE, 1L);

    if (strcmp(rq->method, "GET") == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(rq->method, "DELETE") == 0 && !rq->body) {
        SETOPT(CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        /* POST, PUT, PATCH, DELETE with a body: the body from memory,
         * the method named explicitly when not POST. */
        SETOPT(CURLOPT_POST, 1L);
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        SETOPT(CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        if (strcmp(rq->method, "POST") != 0)
            SETOPT(CURLOPT_CUSTOMREQUEST, rq->method);
    }
    /* A write that must never be sent twice (max_attempts 1) goes on a
     * new connection: on a reused keep-alive connection that the server
     * closes without an answer, curl re-sends the request by itself
     * ("Connection died, retrying a fresh connect"), which would apply a
     * non-idempotent POST twice (seen with a lost answer to a Kobo media
     * upload). */
    if (h->max_attempts == 1 && strcmp(rq->method, "GET") != 0)
        SETOPT(CURLOPT_FRESH_CONNECT, 1L);
    if (crc != CURLE_OK)
        return plat_err_set(crc == CURLE_OUT_OF_MEMORY ? ERR_NOMEM
                                                       : ERR_GENERIC,
                            "setting up %s %s failed: %s", rq->method,
                            rq->path_only, curl_easy_strerror(crc));
    return PLAT_OK;
}

/* The add callback given to the headers hook. */
static int hook_add(void *ctx, const char *line)
{
    if (!line || strchr(line, '\r') || strchr(line, '\n') ||
        !strchr(line, ':') || line[0] == ':')
        return plat_err_set(ERR_INVALID, "authentication header line "
                            "without a name or with a line break");
    return add_header(ctx, line);
}

static int build_headers(struct sync_http *h, struct req *rq,
                         struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    char *line = NULL;
    int rc;

    *out = NULL;
    rc = add_header(&list, "Accept-Encoding: gzip");
    /* No "Expect: 100-continue" round trip on slow links. */
    if (rc == PLAT_OK)
        rc = add_header(&list, "Expect:");
    if (rc == PLAT_OK && rq->content_type) {
        line = plat_asprintf("Content-Type: %s", rq->content_type);
        rc = line ? add_header(&list, line) : ERR_NOMEM;
        plat_free(line);
        line = NULL;
    } else if (rc == PLAT_OK) {
        rc = add_header(&list, "Content-Type:");
    }
    if (rc == PLAT_OK && rq->gzipped)
        rc = add_header(&list, "Content-Encoding: gzip");
    if (rc == PLAT_OK && rq->if_none_match) {
        line = plat_asprintf("If-None-Match: %s", rq->if_none_match);
        rc = line ? add_header(&list, line) : ERR_NOMEM;
        plat_free(line);
        line = NULL;
    }
    if (rc == PLAT_OK && h->auth.headers)
        rc = h->auth.headers(h->auth_payload, rq->method, rq->path, hook_add,
                             &list);
    if (rc < 0) {
        free_headers(list);
        return rc == ERR_NOMEM ? plat_err_set(ERR_NOMEM, "out of memory "
                                              "building headers")
                               : rc;
    }
    *out = list;
    return PLAT_OK;
}

/* One debug line per transfer: where its time went (curl's clocks, in ms
 * from the start: connected, request starts, first answer byte, done) and
 * whether it opened a connection. Path only: no query, no personal data. */
static void log_timings(struct sync_http *h, const struct req *rq,
                        CURLcode crc, const struct xfer *x)
{
    curl_off_t conn = 0, pre = 0, first = 0, total = 0;
    long fresh = 0, status = 0;

    curl_easy_getinfo(h->curl, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(h->curl, CURLINFO_PRETRANSFER_TIME_T, &pre);
    curl_easy_getinfo(h->curl, CURLINFO_STARTTRANSFER_TIME_T, &first);
    curl_easy_getinfo(h->curl, CURLINFO_TOTAL_TIME_T, &total);
    curl_easy_getinfo(h->curl, CURLINFO_NUM_CONNECTS, &fresh);
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    log_debug("%s %s %s: %ld, %lld bytes up, %lld down; ms: connect %lld, "
              "request %lld, first byte %lld, done %lld%s", h->service,
              rq->method, rq->path_only, crc == CURLE_OK ? status : -1L,
              (long long)x->sent, (long long)x->wire_body,
              (long long)(conn / 1000), (long long)(pre / 1000),
              (long long)(first / 1000), (long long)(total / 1000),
              fresh ? ", new connection" : "");
}

/* Run one transfer. On ATT_TRANSIENT `reason` holds a short description;
 * on ATT_FAIL *rc_out holds the code (message set). */
static enum attempt_result attempt(struct sync_http *h, struct req *rq,
                                   struct sync_http_response *resp,
                                   char *reason, size_t reason_size,
                                   int *rc_out)
{
    struct xfer x;
    struct curl_slist *headers = NULL;
    char *url = NULL;
    enum attempt_result res = ATT_FAIL;
    CURLcode crc;
    long header_size = 0;
    curl_off_t retry_after = 0;
    int rc;

    memset(&x, 0, sizeof(x));
    x.h = h;
    x.rq = rq;
    x.resp = resp;
    resp->status = 0;
    resp->etag[0] = '\0';
    resp->content_type[0] = '\0';
    resp->status_reason[0] = '\0';
    resp->date[0] = '\0';
    resp->location[0] = '\0';
    resp->retry_after_s = 0;
    plat_buf_reset(&resp->body);

    url = plat_asprintf("%s%s", h->base_url, rq->path);
    if (!url) {
        *rc_out = plat_err_set(ERR_NOMEM, "out of memory building the URL");
        return ATT_FAIL;
    }
    rc = build_headers(h, rq, &headers);
    if (rc == PLAT_OK)
        rc = setup(h, rq, &x, url, headers);
    if (rc < 0) {
        *rc_out = rc;
        goto done;
    }

    h->stats.requests++;
    crc = curl_easy_perform(h->curl);

    curl_easy_getinfo(h->curl, CURLINFO_HEADER_SIZE, &header_size);
    if (plat_log_get_level() >= LOG_LVL_DEBUG)
        log_timings(h, rq, crc, &x);
    h->stats.bytes_down_wire += header_size + x.wire_body;
    h->stats.bytes_up_wire += x.sent;
    h->stats.bytes_down_body += x.decoded;

    if (crc == CURLE_OK && x.gzip && x.inflate.started && !x.inflate.ended) {
        /* The connection ended cleanly but the gzip stream did not. */
        snprintf(reason, reason_size, "gzip body cut short");
        res = ATT_TRANSIENT;
        goto done;
    }
    if (crc == CURLE_OK) {
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
        if (resp->status >= 300 && resp->status < 400) {
            char *loc = NULL;

            if (curl_easy_getinfo(h->curl, CURLINFO_REDIRECT_URL, &loc) ==
                    CURLE_OK && loc && strlen(loc) < sizeof(resp->location))
                memcpy(resp->location, loc, strlen(loc) + 1);
        }
        if (curl_easy_getinfo(h->curl, CURLINFO_RETRY_AFTER, &retry_after) ==
                CURLE_OK && retry_after > 0)
            resp->retry_after_s = (double)retry_after;
        res = ATT_ANSWER;
        goto done;
    }
    if (crc == CURLE_ABORTED_BY_CALLBACK && x.cancelled) {
        *rc_out = plat_err_set(ERR_RETRY, "%s request %s %s cancelled",
                               h->service, rq->method, rq->path_only);
        goto done;
    }
    if (crc == CURLE_ABORTED_BY_CALLBACK && x.late) {
        *rc_out = deadline_err(h, rq);
        goto done;
    }
    if (crc == CURLE_OPERATION_TIMEDOUT && x.sent > 0 &&
        !strstr(h->errbuf, "onnect")) {
        /* The request went out and the answer stalled under the low-speed
         * limit: a server trickling bytes. Trying again would only hold
         * the sync max_attempts times as long. */
        *rc_out = plat_err_set(ERR_RETRY, "%s answer to %s %s too slow: "
                               "under %ld bytes/s for %ld s", h->service,
                               rq->method, rq->path_only, h->low_speed_limit,
                               h->low_speed_time_s);
        goto done;
    }
    if (crc == CURLE_WRITE_ERROR && x.stop_rc != 0) {
        *rc_out = x.stop_rc; /* message set where it was found */
        goto done;
    }
    if (crc == CURLE_FILESIZE_EXCEEDED) {
        *rc_out = plat_err_set(ERR_TOOLARGE, "%s answer to %s %s is over "
                               "the cap of %zu bytes", h->service,
                               rq->method, rq->path_only, h->max_response);
        goto done;
    }
    if (is_transient(crc)) {
        snprintf(reason, reason_size, "%s",
                 h->errbuf[0] ? h->errbuf : curl_easy_strerror(crc));
        res = ATT_TRANSIENT;
        goto done;
    }
    if (is_tls_verify(crc)) {
        *rc_out = plat_err_set(ERR_GENERIC, "TLS verification of the %s "
                               "server failed: %s", h->service,
                               h->errbuf[0] ? h->errbuf
                                            : curl_easy_strerror(crc));
        goto done;
    }
    *rc_out = plat_err_set(crc == CURLE_OUT_OF_MEMORY ? ERR_NOMEM
                                                      : ERR_GENERIC,
                           "%s request %s %s failed: %s", h->service,
                           rq->method, rq->path_only,
                           h->errbuf[0] ? h->errbuf
                                        : curl_easy_strerror(crc));
done:
    sync_http_inflate_end(&x.inflate);
    free_headers(headers);
    plat_free(url);
    return res;
}

/* ---- the retry loop ---------------------------------------------------- */

static int retryable_status(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Sleep `ms`, waking early when cancelled or at the deadline. Returns 1
 * if cancelled, 2 at the deadline. */
static int backoff_sleep(struct sync_http *h, int64_t ms)
{
    while (ms > 0) {
        int64_t step = ms < SLEEP_SLICE_MS ? ms : SLEEP_SLICE_MS;
        if (cancelled(h))
            return 1;
        if (past_deadline(h))
            return 2;
        plat_time_sleep_ms(step);
        ms -= step;
    }
    return cancelled(h);
}

/* Call the login hook (the session and cookies forgotten first). */
static int do_login(struct sync_http *h)
{
    int rc;

    if (!h->auth.login)
        return plat_err_set(ERR_CONFIG, "no login configured for the %s "
                            "server", h->service);
    if (h->in_login)
        return plat_err_set(ERR_INVALID, "%s login hook called itself",
                            h->service);
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

static int check_str(const char *s, const char *what)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return plat_err_set(ERR_INVALID, "%s holds a control character",
                                what);
    return PLAT_OK;
}

static int perform(struct sync_http *h, struct req *rq,
                   struct sync_http_response *resp)
{
    char reason[CURL_ERROR_SIZE + 32];
    int attempts = 0, relogged = 0, rc = PLAT_OK;
    size_t n;

    n = strcspn(rq->path, "?");
    snprintf(rq->path_only, sizeof(rq->path_only), "%.*s",
             (int)(n < sizeof(rq->path_only) ? n : sizeof(rq->path_only) - 1),
             rq->path);
    if (rq->path[0] != '/' || strchr(rq->path, ' ') || strchr(rq->path, '#'))
        return plat_err_set(ERR_INVALID, "request path must start with '/' "
                            "and hold no space or '#'");
    if ((rc = check_str(rq->path, "request path")) < 0 ||
        (rc = check_str(rq->content_type, "Content-Type")) < 0 ||
        (rc = check_str(rq->if_none_match, "If-None-Match")) < 0)
        return rc;
    if (rq->body_len > 0 && !rq->content_type)
        return plat_err_set(ERR_INVALID, "request body without a "
                            "Content-Type");
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "POST") != 0 &&
        strcmp(rq->method, "PUT") != 0 && strcmp(rq->method, "PATCH") != 0 &&
        strcmp(rq->method, "DELETE") != 0)
        return plat_err_set(ERR_INVALID, "unsupported HTTP method");

    rq->is_login = h->in_login;
    if (!rq->is_login && h->auth.login && !h->session) {
        rc = do_login(h);
        if (rc < 0)
            return rc;
    }
    for (;;) {
        enum attempt_result res;
        int64_t delay;

        if (cancelled(h))
            return plat_err_set(ERR_RETRY, "%s request %s %s cancelled",
                                h->service, rq->method, rq->path_only);
        if (past_deadline(h))
            return deadline_err(h, rq);
        reason[0] = '\0';
        res = attempt(h, rq, resp, reason, sizeof(reason), &rc);
        if (res == ATT_FAIL)
            return rc;
        if (res == ATT_ANSWER && retryable_status(resp->status))
            snprintf(reason, sizeof(reason), "HTTP %ld", resp->status);
        else if (res == ATT_ANSWER && resp->status == 401 &&
                 !rq->is_login && h->auth.login) {
            /* The session expired or was refused: log in again, once. */
            if (relogged) {
                h->session = 0;
                return plat_err_set(ERR_AUTH, "%s refused the new session "
                                    "(HTTP 401 on %s %s)", h->service,
                                    rq->method, rq->path_only);
            }
            relogged = 1;
            rc = do_login(h);
            if (rc < 0)
                return rc;
            h->stats.retries++;
            continue;
        } else if (res == ATT_ANSWER) {
            return PLAT_OK;
        }

        /* Transient: retry unless data went out to the caller already. */
        if (rq->delivered > 0)
            return plat_err_set(ERR_RETRY, "%s answer to %s %s cut after "
                                "%lld bytes: %s", h->service, rq->method,
                                rq->path_only, (long long)rq->delivered,
                                reason);
        attempts++;
        if (attempts >= h->max_attempts)
            return plat_err_set(ERR_RETRY, "%s server unreachable after %d "
                                "attempts (%s %s): %s", h->service, attempts,
                                rq->method, rq->path_only, reason);
        if (res == ATT_ANSWER && resp->retry_after_s > 0) {
            double ms = resp->retry_after_s * 1000.0;
            delay = ms > (double)h->backoff_cap_ms ? h->backoff_cap_ms
                                                   : (int64_t)ms;
        } else {
            delay = sync_http_backoff_ms(h->backoff_base_ms,
                                         h->backoff_cap_ms, attempts - 1);
        }
        log_debug("%s %s %s: %s; retry %d of %d in %lld ms", h->service,
                  rq->method, rq->path_only, reason, attempts,
                  h->max_attempts - 1, (long long)delay);
        if (backoff_sleep(h, delay) == 2)
            return deadline_err(h, rq);
        if (cancelled(h))
            return plat_err_set(ERR_RETRY, "%s request %s %s cancelled",
                                h->service, rq->method, rq->path_only);
        h->stats.retries++;
    }
}

/* Prepare the body (gzip when worth it) and run the request. */
static int request_common(struct sync_http *h, struct req *rq,
                          const void *body, size_t body_len,
                          struct sync_http_response *resp)
{
    struct plat_buf gz;
    int rc;

    plat_buf_init(&gz, 0);
    rq->body = body;
    rq->body_len = body ? body_len : 0;
    if (rq->body_len > h->gzip_threshold && rq->content_type &&
        strncasecmp(rq->content_type, "application/json", 16) == 0) {
        rc = sync_http_gzip(body, body_len, &gz);
        if (rc < 0)
            goto done;
        rq->body = gz.data;
        rq->body_len = gz.len;
        rq->gzipped = 1;
    }
    rc = perform(h, rq, resp);
done:
    plat_buf_dispose(&gz);
    return rc;
}

int sync_http_request(struct sync_http *h, const char *method,
                      const char *path_and_query, const char *content_type,
                      const void *body, size_t body_len,
                      const char *if_none_match,
                      struct sync_http_response *resp)
{
    struct req rq;

    response_init(h, resp);
    if (!method || !path_and_query)
        return plat_err_set(ERR_INVALID, "HTTP request without a method or "
                            "path");
    memset(&rq, 0, sizeof(rq));
    rq.method = method;
    rq.path = path_and_query;
    rq.content_type = content_type;
    rq.if_none_match = if_none_match;
    return request_common(h, &rq, body, body_len, resp);
}

int sync_http_get_stream(struct sync_http *h, const char *path_and_query,
                         sync_http_data_cb on_data, void *payload,
                         struct sync_http_response *resp)
{
    struct req rq;

    response_init(h, resp);
    if (!path_and_query || !on_data)
        return plat_err_set(ERR_INVALID, "streaming GET without a path or "
                            "callback");
    memset(&rq, 0, sizeof(rq));
    rq.method = "GET";
    rq.path = path_and_query;
    rq.on_data = on_data;
    rq.payload = payload;
    return request_common(h, &rq, NULL, 0, resp);
}

size_t sync_http_set_max_response(struct sync_http *h, size_t cap)
{
    size_t old = h->max_response;

    h->max_response = cap ? cap : h->max_response_default;
    return old;
}

int sync_http_auth_login(struct sync_http *h)
{
    return do_login(h);
}

int sync_http_set_max_attempts(struct sync_http *h, int attempts)
{
    int old = h->max_attempts;

    if (attempts > 0)
        h->max_attempts = attempts;
    return old;
}
