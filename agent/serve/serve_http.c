/*
 * serve_http.c - the HTTP side of `agent serve` on GNU libmicrohttpd:
 * listening (loopback, or any address with TLS), limits, request bodies,
 * routing to the handlers, the store pool and the response helpers.
 *
 * Why a library: HTTP/1.1 parsing, keep-alive, pipelining, chunked bodies,
 * timeouts and TLS are where hand-written servers break; libmicrohttpd is
 * small, in Debian, and used on embedded devices.
 */
#include "serve_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_log.h"
#include "plat_secure.h"
#include "plat_time.h"
#include "store.h"
#include "plat_utf8.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- responses ---------------------------------------------------------- */

int srv_json(struct srv_resp *r, int status, const struct cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);

    if (!text)
        return plat_err_set(ERR_NOMEM, "out of memory");
    plat_buf_reset(&r->body);
    if (plat_buf_puts(&r->body, text) < 0) {
        cJSON_free(text);
        return ERR_NOMEM;
    }
    cJSON_free(text);
    r->status = status;
    r->ctype = "application/json; charset=utf-8";
    return PLAT_OK;
}

int srv_json_take(struct srv_resp *r, int status, struct cJSON *v)
{
    int rc;

    if (!v)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = srv_json(r, status, v);
    cJSON_Delete(v);
    return rc;
}

int srv_error(struct srv_resp *r, int status, const char *message)
{
    cJSON *o = cJSON_CreateObject();

    if (o) {
        cJSON_AddNumberToObject(o, "statusCode", status);
        cJSON_AddStringToObject(o, "message", message);
    }
    return srv_json_take(r, status, o);
}

int srv_errors(struct srv_resp *r, int status, const char *message)
{
    cJSON *o = cJSON_CreateObject();

    if (o)
        cJSON_AddStringToObject(o, "errors", message);
    return srv_json_take(r, status, o);
}

int srv_error_d(struct srv_resp *r, const cJSON *target, const char *property,
                const cJSON *value, const char *constraint,
                const char *message)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON *it = cJSON_CreateObject(), *cons = cJSON_CreateObject();

    if (!o || !arr || !it || !cons) {
        cJSON_Delete(o);
        cJSON_Delete(arr);
        cJSON_Delete(it);
        cJSON_Delete(cons);
        return srv_json_take(r, 400, NULL);
    }
    cJSON_AddItemToObject(it, "target", target ? cJSON_Duplicate(target, 1)
                                               : cJSON_CreateObject());
    if (value)
        cJSON_AddItemToObject(it, "value", cJSON_Duplicate(value, 1));
    cJSON_AddStringToObject(it, "property", property);
    cJSON_AddItemToObject(it, "children", cJSON_CreateArray());
    cJSON_AddStringToObject(cons, constraint, message);
    cJSON_AddItemToObject(it, "constraints", cons);
    cJSON_AddItemToArray(arr, it);
    cJSON_AddItemToObject(o, "message", arr);
    cJSON_AddStringToObject(o, "error", "Bad Request");
    cJSON_AddNumberToObject(o, "statusCode", 400);
    return srv_json_take(r, 400, o);
}

int srv_internal(struct srv_resp *r, int rc)
{
    log_error("serve: %s (%s)", plat_err_msg(), plat_err_name(rc));
    return srv_error(r, 500, "Internal server error");
}

/* ---- request helpers ---------------------------------------------------- */

const char *srv_q(const struct srv_req *q, const char *k)
{
    for (int i = 0; i < q->npairs; i++)
        if (strcmp(q->pairs[i].key, k) == 0)
            return q->pairs[i].value;
    return NULL;
}

cJSON *srv_body_json(const struct srv_req *q, struct srv_resp *r)
{
    cJSON *v;

    if (q->body_len == 0) {
        srv_error(r, 400, "Request body is empty");
        return NULL;
    }
    v = cJSON_ParseWithLength(q->body, q->body_len);
    if (!v) {
        /* Express's body-parser answers malformed JSON this way. */
        char msg[96];
        const char *at = cJSON_GetErrorPtr();
        size_t pos = at && at >= q->body && at <= q->body + q->body_len
                         ? (size_t)(at - q->body) : 0;

        snprintf(msg, sizeof(msg), "Unexpected token in JSON at position %zu",
                 pos);
        srv_error(r, 400, msg);
        return NULL;
    }
    return v;
}

int srv_seg_int(const char *seg, struct srv_resp *r, int *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(seg, &end, 10);
    if (!*seg || *end || errno || v < 0 || v > 2147483647L) {
        cJSON *o = cJSON_CreateObject();

        if (o) {
            cJSON_AddStringToObject(o, "message",
                                    "Validation failed (numeric string is "
                                    "expected)");
            cJSON_AddStringToObject(o, "error", "Bad Request");
            cJSON_AddNumberToObject(o, "statusCode", 400);
        }
        srv_json_take(r, 400, o);
        return ERR_INVALID;
    }
    *out = (int)v;
    return PLAT_OK;
}

/* ---- store pool --------------------------------------------------------- */

int srv_store_get(struct serve *s, struct store **out)
{
    int slot = -1, rc = PLAT_OK;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        for (int i = 0; i < SERVE_THREADS; i++)
            if (!s->pool_busy[i]) {
                slot = i;
                break;
            }
        if (slot >= 0)
            break;
        pthread_cond_wait(&s->cond, &s->lock);
    }
    s->pool_busy[slot] = 1;
    pthread_mutex_unlock(&s->lock);
    if (!s->pool[slot]) {
        struct store_options o = {0};

        o.synchronous_full = s->store_sync_full;
        rc = store_open_key(&s->pool[slot], s->store_path, &o,
                            s->store_encrypted ? s->store_key : NULL);
        if (rc < 0) {
            pthread_mutex_lock(&s->lock);
            s->pool_busy[slot] = 0;
            pthread_cond_signal(&s->cond);
            pthread_mutex_unlock(&s->lock);
            return rc;
        }
    }
    *out = s->pool[slot];
    return PLAT_OK;
}

void srv_store_put(struct serve *s, struct store *st)
{
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < SERVE_THREADS; i++)
        if (s->pool[i] == st)
            s->pool_busy[i] = 0;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* ---- routing ------------------------------------------------------------ */

static int is(const struct srv_req *q, const char *m, int n, ...)
    __attribute__((sentinel));

/* Method m and segments equal to the given words ("*" matches any). */
static int is(const struct srv_req *q, const char *m, int n, ...)
{
    va_list ap;
    int ok = strcmp(q->method, m) == 0 && q->nsegs == n;

    va_start(ap, n);
    for (int i = 0; ok && i < n; i++) {
        const char *w = va_arg(ap, const char *);

        if (strcmp(w, "*") != 0 && strcmp(w, q->segs[i]) != 0)
            ok = 0;
    }
    va_end(ap);
    return ok;
}

static int not_found(const struct srv_req *q, struct srv_resp *r)
{
    cJSON *o = cJSON_CreateObject();
    char *msg = plat_asprintf("Cannot %s %s", q->method, q->path);

    if (o && msg) {
        cJSON_AddStringToObject(o, "message", msg);
        cJSON_AddStringToObject(o, "error", "Not Found");
        cJSON_AddNumberToObject(o, "statusCode", 404);
    }
    plat_free(msg);
    return srv_json_take(r, 404, o);
}

static int route_program(struct srv_req *q, struct srv_resp *r)
{
    int pid;
    const char *m = q->method;

    if (srv_seg_int(q->segs[2], r, &pid) < 0)
        return PLAT_OK;
    if (q->nsegs == 3 && strcmp(m, "GET") == 0)
        return srv_h_program(q, r, pid);
    if (is(q, "GET", 4, "*", "*", "*", "fsp-configurations", NULL))
        return srv_h_fsp_configs(q, r, pid);
    if (is(q, "GET", 4, "*", "*", "*", "registrations", NULL))
        return srv_h_registrations(q, r, pid);
    if (is(q, "POST", 4, "*", "*", "*", "registrations", NULL))
        return srv_h_post_registrations(q, r, pid);
    if (is(q, "PATCH", 5, "*", "*", "*", "registrations", "status", NULL))
        return srv_h_patch_status(q, r, pid);
    if (is(q, "POST", 5, "*", "*", "*", "registrations", "message", NULL))
        return srv_h_post_message(q, r, pid);
    if (is(q, "PATCH", 5, "*", "*", "*", "registration-attributes", "*",
           NULL))
        return srv_h_patch_attribute(q, r, pid, q->segs[4]);
    if (is(q, "POST", 6, "*", "*", "*", "payments", "*",
           "excel-reconciliation", NULL))
        return srv_h_post_recon(q, r, pid, q->segs[4]);
    if (is(q, "GET", 5, "*", "*", "*", "registrations", "*", NULL))
        return srv_h_registration(q, r, pid, q->segs[4]);
    if (is(q, "PATCH", 5, "*", "*", "*", "registrations", "*", NULL))
        return srv_h_patch_registration(q, r, pid, q->segs[4]);
    if (is(q, "GET", 6, "*", "*", "*", "registrations", "*", "activities",
           NULL))
        return srv_h_activities(q, r, pid, q->segs[4]);
    if (is(q, "GET", 4, "*", "*", "*", "registration-events", NULL))
        return srv_h_events(q, r, pid);
    if (is(q, "GET", 4, "*", "*", "*", "payments", NULL))
        return srv_h_payments(q, r, pid);
    if (is(q, "GET", 5, "*", "*", "*", "payments", "*", NULL))
        return srv_h_payment(q, r, pid, q->segs[4]);
    if (is(q, "GET", 6, "*", "*", "*", "payments", "*", "transactions", NULL))
        return srv_h_transactions(q, r, pid, q->segs[4]);
    if (is(q, "GET", 4, "*", "*", "*", "transactions", NULL))
        return srv_h_program_transactions(q, r, pid);
    if (is(q, "GET", 6, "*", "*", "*", "metrics", "export-list", "*", NULL))
        return srv_h_export(q, r, pid, q->segs[5]);
    if (is(q, "GET", 5, "*", "*", "*", "metrics", "program-stats-summary",
           NULL))
        return srv_h_stats(q, r, pid);
    if (is(q, "GET", 7, "*", "*", "*", "fsps", "intersolve-voucher",
           "voucher", "image-paper", NULL))
        return srv_h_voucher(q, r, pid);
    return not_found(q, r);
}

static int route(struct srv_req *q, struct srv_resp *r)
{
    if (q->nsegs == 0 && strcmp(q->method, "GET") == 0)
        return srv_h_dashboard(q, r);
    if (q->nsegs < 2 || strcmp(q->segs[0], "api") != 0)
        return not_found(q, r);
    if (is(q, "POST", 3, "api", "users", "login", NULL))
        return srv_login(q, r);
    if (!q->authed)
        return srv_error(r, 401, "Unauthorized");
    if (is(q, "POST", 3, "api", "users", "logout", NULL))
        return srv_logout(q, r);
    if (is(q, "GET", 3, "api", "users", "current", NULL))
        return srv_current(q, r);
    if (is(q, "GET", 2, "api", "users", NULL))
        return srv_users(q, r);
    if (is(q, "GET", 2, "api", "exchange-rates", NULL))
        return srv_h_exchange_rates(q, r);
    if (is(q, "GET", 4, "api", "notifications", "*", "message-templates",
           NULL)) {
        int pid;

        if (srv_seg_int(q->segs[2], r, &pid) < 0)
            return PLAT_OK;
        return srv_h_templates(q, r, pid);
    }
    if (is(q, "POST", 4, "api", "notifications", "*", "message-templates",
           NULL)) {
        int pid;

        if (srv_seg_int(q->segs[2], r, &pid) < 0)
            return PLAT_OK;
        return srv_h_post_template(q, r, pid);
    }
    if (is(q, "PATCH", 6, "api", "notifications", "*", "message-templates",
           "*", "*", NULL)) {
        int pid;

        if (srv_seg_int(q->segs[2], r, &pid) < 0)
            return PLAT_OK;
        return srv_h_patch_template(q, r, pid, q->segs[4], q->segs[5]);
    }
    if (q->nsegs >= 3 && strcmp(q->segs[1], "programs") == 0)
        return route_program(q, r);
    return not_found(q, r);
}

/* ---- libmicrohttpd glue ------------------------------------------------- */

/* Per-connection request state, across the calls of one request. */
struct conn_state {
    struct plat_buf body;
    int too_large;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value)
{
    struct srv_req *q = cls;

    (void)kind;
    if (q->npairs >= SRV_MAX_PAIRS)
        return MHD_NO;
    q->pairs[q->npairs].key = plat_strdup(key);
    q->pairs[q->npairs].value = plat_strdup(value ? value : "");
    if (!q->pairs[q->npairs].key || !q->pairs[q->npairs].value) {
        plat_free(q->pairs[q->npairs].key);
        plat_free(q->pairs[q->npairs].value);
        return MHD_NO;
    }
    q->npairs++;
    return MHD_YES;
}

static void req_free(struct srv_req *q)
{
    for (int i = 0; i < q->nsegs; i++)
        plat_free(q->segs[i]);
    for (int i = 0; i < q->npairs; i++) {
        plat_free(q->pairs[i].key);
        plat_free(q->pairs[i].value);
    }
}

/* Split the path on '/' (empty segments skipped), %XX unescaped. */
static int split_path(struct srv_req *q, const char *url)
{
    const char *p = url;

    while (*p) {
        const char *e;
        char *seg;
        size_t k = 0;

        while (*p == '/')
            p++;
        if (!*p)
            break;
        e = p;
        while (*e && *e != '/')
            e++;
        if (q->nsegs >= SRV_MAX_SEGS)
            return ERR_INVALID;
        seg = plat_malloc((size_t)(e - p) + 1);
        if (!seg)
            return ERR_NOMEM;
        for (const char *c = p; c < e; c++) {
            if (*c == '%' && c + 2 < e && plat_hex_digit(c[1]) >= 0 &&
                plat_hex_digit(c[2]) >= 0) {
                seg[k++] = (char)(plat_hex_digit(c[1]) * 16 + plat_hex_digit(c[2]));
                c += 2;
            } else {
                seg[k++] = *c;
            }
        }
        seg[k] = '\0';
        q->segs[q->nsegs++] = seg;
        p = e;
    }
    return PLAT_OK;
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct serve *s,
                                 struct srv_resp *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    size_t len = r->body.len;
    char *data = plat_buf_detach(&r->body);
    char stamp[64] = "";
    char *last = NULL;
    struct store *st = NULL;

    if (r->no_body) {
        plat_free(data);
        data = NULL;
        len = 0;
    }
    resp = MHD_create_response_from_buffer_with_free_callback(
        len, data ? data : (char *)"", data ? plat_free : NULL);
    if (!resp) {
        plat_free(data);
        return MHD_NO;
    }
    if (len && r->ctype)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    if (r->set_cookie)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE,
                                r->set_cookie);
    /* Every answer says it comes from the device copy, and how old it is. */
    MHD_add_response_header(resp, "X-Agent-Source", "device-copy");
    if (srv_store_get(s, &st) == PLAT_OK) {
        if (store_state_get(st, "last_sync.121", &last) == PLAT_OK)
            snprintf(stamp, sizeof(stamp), "%s", last);
        plat_free(last);
        srv_store_put(s, st);
    }
    plat_err_clear();
    MHD_add_response_header(resp, "X-Agent-Last-Sync",
                            stamp[0] ? stamp : "never");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result too_large(struct MHD_Connection *c, struct serve *s)
{
    struct srv_resp r = {0};

    plat_buf_init(&r.body, 0);
    srv_error(&r, 413, "request entity too large");
    {
        enum MHD_Result ret = send_resp(c, s, &r);

        plat_buf_dispose(&r.body);
        return ret;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct serve *s = cls;
    struct conn_state *cs = *con_cls;
    struct srv_req q;
    struct srv_resp r;
    enum MHD_Result ret;
    int rc;

    (void)version;
    if (!cs) {
        const char *cl = MHD_lookup_connection_value(
            c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

        cs = plat_calloc(1, sizeof(*cs));
        if (!cs)
            return MHD_NO;
        plat_buf_init(&cs->body, SERVE_BODY_MAX);
        *con_cls = cs;
        if (cl && strtoull(cl, NULL, 10) > SERVE_BODY_MAX) {
            cs->too_large = 1;
            return too_large(c, s);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!cs->too_large &&
            plat_buf_append(&cs->body, upload_data, *upload_data_size) < 0) {
            cs->too_large = 1;
            plat_buf_dispose(&cs->body);
            plat_err_clear();
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (cs->too_large)
        return too_large(c, s);

    memset(&q, 0, sizeof(q));
    memset(&r, 0, sizeof(r));
    plat_buf_init(&r.body, 0);
    q.srv = s;
    q.method = method;
    q.path = url;
    q.body = cs->body.data ? cs->body.data : "";
    q.body_len = cs->body.len;
    q.host = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                         MHD_HTTP_HEADER_HOST);
    q.cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                           MHD_HTTP_HEADER_COOKIE);
    rc = split_path(&q, url);
    if (rc == PLAT_OK)
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
    if (rc < 0) {
        srv_error(&r, 404, "Not Found");
    } else {
        rc = srv_store_get(s, &q.st);
        if (rc < 0) {
            srv_internal(&r, rc);
        } else {
            q.authed = srv_authed(q.st, q.cookie);
            rc = route(&q, &r);
            srv_store_put(s, q.st);
            if (rc < 0)
                srv_internal(&r, rc);
        }
    }
    if (!r.status)
        srv_error(&r, 500, "Internal server error");
    plat_err_clear();
    ret = send_resp(c, s, &r);
    plat_buf_dispose(&r.body);
    plat_free(r.set_cookie);
    req_free(&q);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_state *cs = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (cs) {
        plat_buf_dispose(&cs->body);
        plat_free(cs);
        *con_cls = NULL;
    }
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("serve: libmicrohttpd: %s", line);
}

/* ---- start / stop ------------------------------------------------------- */

/* "HOST:PORT" / "[V6]:PORT" into a socket address; loopback flag. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss,
                        socklen_t *len, int *loopback, int *v6)
{
    char host[128];
    const char *colon, *port_s;
    long port;
    char *end = NULL;

    memset(ss, 0, sizeof(*ss));
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');

        if (!rb || rb[1] != ':' || (size_t)(rb - listen - 1) >= sizeof(host))
            goto bad;
        memcpy(host, listen + 1, (size_t)(rb - listen - 1));
        host[rb - listen - 1] = '\0';
        port_s = rb + 2;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof(host))
            goto bad;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port_s = colon + 1;
    }
    port = strtol(port_s, &end, 10);
    if (!*port_s || *end || port < 0 || port > 65535)
        goto bad;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    {
        struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

        if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
            a4->sin_family = AF_INET;
            a4->sin_port = htons((uint16_t)port);
            *len = sizeof(*a4);
            *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
            *v6 = 0;
            return PLAT_OK;
        }
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
            a6->sin6_family = AF_INET6;
            a6->sin6_port = htons((uint16_t)port);
            *len = sizeof(*a6);
            *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
            *v6 = 1;
            return PLAT_OK;
        }
    }
bad:
    return plat_err_set(ERR_CONFIG, "serve: listen address '%.60s' is not "
                        "HOST:PORT with a numeric IPv4 or [IPv6] host",
                        listen);
}

static int read_pem(const char *what, const char *path, char **out)
{
    char *data = NULL;
    size_t len = 0;
    int rc = plat_fs_read_file(path, 1024 * 1024, &data, &len);

    if (rc < 0)
        return plat_err_set(ERR_CONFIG, "serve: cannot read the TLS %s %s: "
                            "%s", what, path, plat_err_msg());
    *out = data;
    return PLAT_OK;
}

int serve_start(struct serve **out, const struct serve_options *opt)
{
    struct sockaddr_storage ss;
    socklen_t slen = 0;
    int loopback = 0, v6 = 0, rc;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    const char *listen = opt->listen && *opt->listen ? opt->listen
                                                       : SERVE_DEFAULT_LISTEN;
    int tls = opt->tls_cert && *opt->tls_cert && opt->tls_key &&
              *opt->tls_key;
    struct serve *s;
    const union MHD_DaemonInfo *info;

    *out = NULL;
    rc = parse_listen(listen, &ss, &slen, &loopback, &v6);
    if (rc < 0)
        return rc;
    if ((opt->tls_cert && *opt->tls_cert) != (opt->tls_key && *opt->tls_key))
        return plat_err_set(ERR_CONFIG, "serve: give both serve.tls_cert and "
                            "serve.tls_key, or neither");
    if (!loopback && !tls)
        return plat_err_set(ERR_CONFIG, "serve: refusing to listen on %s "
                            "without TLS: set serve.tls_cert and "
                            "serve.tls_key, or listen on 127.0.0.1", listen);
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return plat_err_set(ERR_CONFIG, "serve: this libmicrohttpd has no "
                            "TLS support");
    s = plat_calloc(1, sizeof(*s));
    if (!s)
        return plat_err_set(ERR_NOMEM, "out of memory");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->store_path = plat_strdup(opt->store_path);
    s->user = plat_strdup(opt->user ? opt->user : "");
    s->store_sync_full = opt->store_sync_full;
    s->store_encrypted = opt->store_encrypted;
    memcpy(s->store_key, opt->store_key, sizeof(s->store_key));
    s->program_id = opt->program_id;
    s->sources = opt->sources;
    s->tls = tls;
    if (!s->store_path || !s->user) {
        serve_stop(s);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    for (char *p = s->user; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (tls) {
        if ((rc = read_pem("certificate", opt->tls_cert, &s->cert_pem)) < 0 ||
            (rc = read_pem("key", opt->tls_key, &s->key_pem)) < 0) {
            serve_stop(s);
            return rc;
        }
        flags |= MHD_USE_TLS;
    }
    if (v6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)SERVE_THREADS,
        MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(opt->max_connections > 0 ? opt->max_connections : 64),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVE_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, s->key_pem,
        MHD_OPTION_END);
    if (!s->mhd) {
        int e = errno;

        serve_stop(s);
        return plat_err_set(ERR_IO, "serve: cannot listen on %s: %s", listen,
                            e ? strerror(e) : "libmicrohttpd refused to "
                                             "start");
    }
    info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    log_info("serve: listening on %s%s (port %d)", tls ? "https://" :
             "http://", listen, s->port);
    *out = s;
    return PLAT_OK;
}

int serve_port(const struct serve *s)
{
    return s->port;
}

void serve_stop(struct serve *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    for (int i = 0; i < SERVE_THREADS; i++)
        store_close(s->pool[i]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    plat_free(s->store_path);
    plat_wipe(s->store_key, sizeof(s->store_key));
    plat_free(s->user);
    if (s->key_pem) {
        plat_wipe_str(s->key_pem);
        plat_free(s->key_pem);
    }
    plat_free(s->cert_pem);
    plat_free(s);
}
