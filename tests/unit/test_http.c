/* SPDX-License-Identifier: MIT */
/*
 * test_http.c - the HTTP client (sync_http.h) against a scripted local
 * server (http_test_server.py, started once per run on 127.0.0.1 and
 * stopped at exit), plus the network-free helpers on recorded 121 error
 * bodies (tests/data/http/).
 *
 * Every test resets the server, scripts the answers it needs and reads the
 * server's log of what arrived. Backoff is kept to a few milliseconds.
 */
#include "testlib.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_random.h"
#include "plat_time.h"
#include "sync_http.h"
#include "c121_http.h"

#include <cjson/cJSON.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HTTP_TEST_SERVER
#error "HTTP_TEST_SERVER must name http_test_server.py"
#endif

/* ---- the server ---------------------------------------------------------- */

static pid_t srv_pid;
static int srv_port, srv_tls_port;
static char srv_dir[64];
static char srv_portfile[128];
static char base_url[64], tls_url[64];
static struct sync_http *ctl_h;

static void server_stop(void)
{
    if (ctl_h) {
        sync_http_destroy(ctl_h);
        ctl_h = NULL;
    }
    if (srv_pid > 0) {
        kill(srv_pid, SIGTERM);
        waitpid(srv_pid, NULL, 0);
        srv_pid = 0;
    }
    if (srv_portfile[0]) {
        unlink(srv_portfile);
        rmdir(srv_dir);
        srv_portfile[0] = '\0';
    }
    plat_random_cleanup();
}

static int server_start(void)
{
    struct sync_http_options o = SYNC_HTTP_OPTIONS_INIT;
    char *text = NULL;

    if (srv_pid > 0)
        return 0;
    snprintf(srv_dir, sizeof(srv_dir), "/tmp/test_http.XXXXXX");
    if (!mkdtemp(srv_dir))
        return -1;
    snprintf(srv_portfile, sizeof(srv_portfile), "%s/port", srv_dir);
    srv_pid = fork();
    if (srv_pid < 0)
        return -1;
    if (srv_pid == 0) {
        execl(HTTP_TEST_PYTHON, HTTP_TEST_PYTHON, HTTP_TEST_SERVER,
              "--port-file", srv_portfile, "--tls-cert",
              HTTP_TEST_DATA "/tls-cert.pem", "--tls-key",
              HTTP_TEST_DATA "/tls-key.pem", (char *)NULL);
        _exit(127);
    }
    atexit(server_stop);
    /* Up to 2 minutes (a loaded machine, or this test under qemu), but
     * not a moment longer than the server lives. */
    for (int i = 0; i < 2400; i++) {
        if (plat_fs_read_file(srv_portfile, 64, &text, NULL) == PLAT_OK)
            break;
        if (waitpid(srv_pid, NULL, WNOHANG) == srv_pid) {
            srv_pid = 0;
            break;
        }
        plat_time_sleep_ms(50);
    }
    if (!text || sscanf(text, "%d %d", &srv_port, &srv_tls_port) != 2) {
        plat_free(text);
        fprintf(stderr, "test server did not start\n");
        return -1;
    }
    plat_free(text);
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", srv_port);
    snprintf(tls_url, sizeof(tls_url), "https://127.0.0.1:%d", srv_tls_port);
    o.base_url = base_url;
    o.proxy = "";
    o.max_attempts = 1;
    if (sync_http_create(&ctl_h, &o) != PLAT_OK)
        return -1;
    return 0;
}

/* POST a control command (JSON) to the server. */
static int ctl(const char *json)
{
    struct sync_http_response r;
    int rc = sync_http_request(ctl_h, "POST", "/_control", "application/json",
                               json, strlen(json), NULL, &r);
    if (rc == PLAT_OK && r.status != 200)
        rc = ERR_GENERIC;
    sync_http_response_dispose(&r);
    return rc;
}

/* The server's log: {"requests": [...], "logins": n}; caller deletes. */
static cJSON *ctl_log(void)
{
    struct sync_http_response r;
    cJSON *j = NULL;

    if (sync_http_request(ctl_h, "GET", "/_control/log", NULL, NULL, 0, NULL,
                          &r) == PLAT_OK)
        j = cJSON_Parse(r.body.data ? r.body.data : "");
    sync_http_response_dispose(&r);
    return j;
}

static int log_logins(void)
{
    cJSON *j = ctl_log();
    int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "logins"));
    cJSON_Delete(j);
    return n;
}

static int log_count(void)
{
    cJSON *j = ctl_log();
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "requests"));
    cJSON_Delete(j);
    return n;
}

/* Request `i` of the log (negative: from the end); caller deletes `*root`. */
static const cJSON *log_req(int i, cJSON **root)
{
    const cJSON *reqs;

    *root = ctl_log();
    reqs = cJSON_GetObjectItem(*root, "requests");
    if (i < 0)
        i += cJSON_GetArraySize(reqs);
    return cJSON_GetArrayItem(reqs, i);
}

static const char *jstr(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItem(o, a);
    if (b)
        v = cJSON_GetObjectItem(v, b);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *a)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItem(o, a));
}

static void opts_default(struct sync_http_options *o)
{
    struct sync_http_options d = SYNC_HTTP_OPTIONS_INIT;

    *o = d;
    o->base_url = base_url;
    o->service_name = "121";
    o->proxy = "";
    o->connect_timeout_ms = 2000;
    o->backoff_base_ms = 1;
    o->backoff_cap_ms = 20;
    o->max_attempts = 5;
}

/* A client for u@example.org after a server reset with `setup`. */
static struct sync_http *client_with(const struct sync_http_options *o,
                                     const char *setup)
{
    struct sync_http *h = NULL;
    char cmd[4096];

    if (server_start() != 0)
        return NULL;
    snprintf(cmd, sizeof(cmd), "{\"reset\":true%s%s}", setup ? "," : "",
             setup ? setup : "");
    if (ctl(cmd) != PLAT_OK)
        return NULL;
    if (sync_http_create(&h, o) != PLAT_OK)
        return NULL;
    return h;
}

/* client_with() and the 121 hooks for `user`/`password`. */
static struct sync_http *client_121(const struct sync_http_options *o,
                                    const char *setup, const char *user,
                                    const char *password)
{
    struct sync_http *h = client_with(o, setup);

    if (h && c121_http_install(h, user, password) != PLAT_OK) {
        sync_http_destroy(h);
        return NULL;
    }
    return h;
}

static struct sync_http *client(const char *setup)
{
    struct sync_http_options o;

    opts_default(&o);
    return client_121(&o, setup, "u@example.org", "s3cret");
}

static cJSON *body_json(const struct sync_http_response *r)
{
    return cJSON_ParseWithLength(r->body.data ? r->body.data : "",
                                 r->body.len);
}

/* ---- helpers without network -------------------------------------------- */

static void test_status_to_err(void)
{
    CHECK_INT(sync_http_status_to_err(200), PLAT_OK);
    CHECK_INT(sync_http_status_to_err(201), PLAT_OK);
    CHECK_INT(sync_http_status_to_err(202), PLAT_OK);
    CHECK_INT(sync_http_status_to_err(304), PLAT_OK);
    CHECK_INT(sync_http_status_to_err(302), ERR_GENERIC);
    CHECK_INT(sync_http_status_to_err(101), ERR_GENERIC);
    CHECK_INT(sync_http_status_to_err(400), ERR_INVALID);
    CHECK_INT(sync_http_status_to_err(401), ERR_AUTH);
    CHECK_INT(sync_http_status_to_err(403), ERR_AUTH);
    CHECK_INT(sync_http_status_to_err(404), ERR_NOTFOUND);
    CHECK_INT(sync_http_status_to_err(409), ERR_INVALID);
    CHECK_INT(sync_http_status_to_err(413), ERR_TOOLARGE);
    CHECK_INT(sync_http_status_to_err(429), ERR_RETRY);
    CHECK_INT(sync_http_status_to_err(500), ERR_GENERIC);
    CHECK_INT(sync_http_status_to_err(502), ERR_RETRY);
    CHECK_INT(sync_http_status_to_err(503), ERR_RETRY);
    CHECK_INT(sync_http_status_to_err(504), ERR_RETRY);
    CHECK_INT(sync_http_status_to_err(0), ERR_GENERIC);
}

static void test_backoff(void)
{
    int64_t max_seen = 0;

    for (int i = 0; i < 200; i++) {
        int64_t d = sync_http_backoff_ms(100, 1000, 0);
        CHECK(d >= 0 && d <= 100);
        d = sync_http_backoff_ms(100, 1000, 2);
        CHECK(d >= 0 && d <= 400);
        d = sync_http_backoff_ms(100, 1000, 60);
        CHECK(d >= 0 && d <= 1000);
        if (d > max_seen)
            max_seen = d;
    }
    CHECK(max_seen > 500); /* jitter spreads over the whole range */
    CHECK_INT(sync_http_backoff_ms(0, 1000, 3), 0);
    CHECK(sync_http_backoff_ms(INT64_MAX / 2, INT64_MAX, 100) >= 0);
}

static void test_escape(void)
{
    struct plat_buf b;

    plat_buf_init(&b, 0);
    CHECK_INT(sync_http_escape(&b, "$in:ref-1,ref 2+x&y=z/#%?\xc3\xa9"),
              PLAT_OK);
    CHECK_STR(b.data, "$in:ref-1,ref%202%2Bx%26y%3Dz%2F%23%25%3F%C3%A9");
    plat_buf_reset(&b);
    CHECK_INT(sync_http_escape(&b, "$gt:2025-01-01T00:00:00.000Z"), PLAT_OK);
    CHECK_STR(b.data, "$gt:2025-01-01T00:00:00.000Z");
    plat_buf_reset(&b);
    CHECK_INT(sync_http_escape(&b, ""), PLAT_OK);
    CHECK_STR(b.data, "");
    plat_buf_dispose(&b);
}

static char *read_data(const char *name)
{
    char path[512];
    char *text = NULL;

    snprintf(path, sizeof(path), "%s/%s", HTTP_TEST_DATA, name);
    if (plat_fs_read_file(path, 1 << 20, &text, NULL) != PLAT_OK)
        return NULL;
    return text;
}

static void check_msg(const char *file, const char *expect)
{
    char out[300];
    char *body = read_data(file);

    if (!body) {
        fprintf(stderr, "missing test data %s\n", file);
        testlib_failures++;
        return;
    }
    c121_error_message(body, strlen(body), out, sizeof(out));
    CHECK_STR(out, expect);
    plat_free(body);
}

static void check_shape(const cJSON *fixture, const char *key,
                        const char *expect)
{
    char out[300];
    char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(fixture, key));

    if (!text) {
        fprintf(stderr, "fixture %s missing\n", key);
        testlib_failures++;
        return;
    }
    c121_error_message(text, strlen(text), out, sizeof(out));
    CHECK_STR(out, expect);
    cJSON_free(text);
}

static void test_error_messages_recorded(void)
{
    check_msg("err-program-404.json", "No program found with id 999");
    check_msg("err-registration-patch-404.json",
              "The following referenceIds were not found in the database: "
              "does-not-exist");
    check_msg("err-registration-events-baddate.json",
              "fromDate: fromDate must be a valid ISO 8601 date string");
    check_msg("err-status-invalid.json",
              "status: status must be one of the following values: new, "
              "validated, included, deleted, completed, paused, declined");
    check_msg("err-registrations-post-dup.json",
              "line 1 real121-verify-1795835096 referenceId: referenceId "
              "already exists in database");
    check_msg("err-registrations-post-bad.json",
              "line 1 real121-verify-bad programFspConfigurationName: Fsp "
              "does-not-exist not found in program. Allowed values: "
              "Intersolve-voucher-whatsapp, Intersolve-voucher-paper, "
              "Intersolve-visa, Excel; line 1 real121-verify-bad "
              "phoneNumber: This value is not a valid phonenumber according "
              "to Twilio lookup");
    check_msg("login-wrong-password.json", "Unauthorized");
}

static void test_error_messages_shapes(void)
{
    char out[300];
    char *text = read_data("errors.json");
    cJSON *fx = text ? cJSON_Parse(text) : NULL;
    const char *s;

    plat_free(text);
    REQUIRE(fx);
    check_shape(fx, "unauthorized_401", "Unauthorized");
    check_shape(fx, "forbidden_403", "Forbidden");
    check_shape(fx, "not_found_errors_404",
                "ReferenceId ref-99999 is not known in this program (within "
                "your scope).");
    /* Shape D echoes the request body (a password) in target: never
     * copied. */
    check_shape(fx, "dto_validation_400",
                "username: username should not be empty");
    check_shape(fx, "parse_int_400",
                "Validation failed (numeric string is expected)");
    check_shape(fx, "import_validation_400",
                "line 1 ref-00001 referenceId: referenceId already exists "
                "in database");
    check_shape(fx, "throttled_429", "ThrottlerException: Too Many Requests");
    check_shape(fx, "template_duplicate_400",
                "Message template with type 'voucher-ready' and language 'en' "
                "already exists in program 3");
    cJSON_Delete(fx);

    /* B with an object, an array of strings, nested DTO children. */
    s = "{\"errors\":{\"User\":\" not found\"}}";
    c121_error_message(s, strlen(s), out, sizeof(out));
    CHECK_STR(out, "User: not found");
    s = "[\"Too many records. Maximum number of records is 1000.\"]";
    c121_error_message(s, strlen(s), out, sizeof(out));
    CHECK_STR(out, "Too many records. Maximum number of records is 1000.");
    s = "{\"message\":[{\"target\":{\"password\":\"hunter2\"},\"value\":"
        "\"hunter2\",\"property\":\"data\",\"children\":[{\"property\":"
        "\"phone\",\"value\":\"+31600000000\",\"children\":[],"
        "\"constraints\":{\"isString\":\"phone must be a string\","
        "\"maxLength\":\"phone is too long\"}}],\"constraints\":{}}],"
        "\"error\":\"Bad Request\",\"statusCode\":400}";
    c121_error_message(s, strlen(s), out, sizeof(out));
    CHECK_STR(out, "data.phone: phone must be a string, phone is too long");
    CHECK(!strstr(out, "hunter2") && !strstr(out, "+316"));
    /* Not JSON: first bytes, one line. */
    s = "<html>\r\n<title>502 Bad Gateway</title>\n</html>";
    c121_error_message(s, strlen(s), out, sizeof(out));
    CHECK_STR(out, "<html> <title>502 Bad Gateway</title> </html>");
    c121_error_message("", 0, out, sizeof(out));
    CHECK_STR(out, "");
    c121_error_message(NULL, 0, out, sizeof(out));
    CHECK_STR(out, "");
    /* Cut at a UTF-8 boundary with "...". */
    s = "{\"message\":\"abcd\xc3\xa9\xc3\xa9\xc3\xa9\"}";
    CHECK_INT(c121_error_message(s, strlen(s), out, 10), 9);
    CHECK_STR(out, "abcd\xc3\xa9...");
    CHECK_INT(c121_error_message(s, strlen(s), out, 9), 7);
    CHECK_STR(out, "abcd...");
}

static void test_response_err(void)
{
    struct sync_http_response r;
    const char *b = "{\"statusCode\":404,\"message\":\"Program with id 9 not "
                    "found\"}";

    memset(&r, 0, sizeof(r));
    plat_buf_init(&r.body, 0);
    r.error_text = c121_http_error_text;
    r.status = 200;
    CHECK_INT(sync_http_response_err(&r, "121 GET program 9"), PLAT_OK);
    r.status = 404;
    plat_buf_puts(&r.body, b);
    CHECK_INT(sync_http_response_err(&r, "121 GET program 9"), ERR_NOTFOUND);
    CHECK_STR(plat_err_msg(),
              "121 GET program 9: HTTP 404: Program with id 9 not found");
    r.status = 500;
    plat_buf_reset(&r.body);
    CHECK_INT(sync_http_response_err(&r, "x"), ERR_GENERIC);
    CHECK_STR(plat_err_msg(), "x: HTTP 500");
    /* Without a hook: the transport's generic reader. */
    r.error_text = NULL;
    CHECK_INT(sync_http_response_err(&r, "x"), ERR_GENERIC);
    CHECK_STR(plat_err_msg(), "x: HTTP 500: Internal Server Error");
    r.status = 404;
    plat_buf_puts(&r.body, b);
    CHECK_INT(sync_http_response_err(&r, "GET y"), ERR_NOTFOUND);
    CHECK_STR(plat_err_msg(),
              "GET y: HTTP 404: Not Found: Program with id 9 not found");
    sync_http_response_dispose(&r);
}

static void check_default(long status, const char *body, const char *expect)
{
    char out[200];

    sync_http_default_error_text(status, body, body ? strlen(body) : 0, out,
                                 sizeof(out));
    CHECK_STR(out, expect);
}

static void test_default_error_text(void)
{
    struct sync_http_response r;
    char small[12];
    char long_text[400];

    check_default(404, NULL, "Not Found");
    check_default(599, "", "");
    check_default(401, "{\"detail\":\"Invalid token.\"}",
                  "Unauthorized: Invalid token.");
    check_default(401, "{\"message\":\"Unauthorized\",\"statusCode\":401}",
                  "Unauthorized");
    /* JSON without a top-level message is not quoted: it may echo the
     * request (here a password). */
    check_default(400, "{\"target\":{\"password\":\"s3cret\"}}",
                  "Bad Request");
    check_default(400, "[\"s3cret\"]", "Bad Request");
    check_default(503, "Service\r\nUnavailable  now\n",
                  "Service Unavailable: Service Unavailable now");
    check_default(502, "<!DOCTYPE html><html><body>Bad gateway</body></html>",
                  "Bad Gateway (HTML page)");
    check_default(200, "\n  <html><head><title>Wi-Fi login</title>",
                  "HTML page instead of JSON (a proxy or login portal "
                  "answered?)");
    check_default(200, "{\"a\":1}", "OK");
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    sync_http_default_error_text(500, long_text, strlen(long_text), small,
                                 sizeof(small));
    CHECK_STR(small, "Internal...");
    {
        char out[300];
        sync_http_default_error_text(500, long_text, strlen(long_text), out,
                                     sizeof(out));
        CHECK(strlen(out) < 160);
        CHECK(strstr(out, "...") != NULL);
    }
    /* sync_http_check_json on a 2xx portal page. */
    memset(&r, 0, sizeof(r));
    plat_buf_init(&r.body, 0);
    r.status = 200;
    plat_buf_puts(&r.body, "{\"ok\":true}");
    CHECK_INT(sync_http_check_json(&r, "GET z"), PLAT_OK);
    snprintf(r.content_type, sizeof(r.content_type), "text/html; charset=x");
    CHECK_INT(sync_http_check_json(&r, "GET z"), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "GET z: HTTP 200: HTML page instead of JSON "
                              "(a proxy or login portal answered?)");
    r.content_type[0] = '\0';
    plat_buf_reset(&r.body);
    plat_buf_puts(&r.body, "<!doctype html><p>hi</p>");
    CHECK_INT(sync_http_check_json(&r, "GET z"), ERR_INVALID);
    CHECK_INT(sync_http_error_text(&r, small, sizeof(small)), 11);
    CHECK_STR(small, "HTML pag...");
    sync_http_response_dispose(&r);
}

static void test_multipart(void)
{
    struct plat_buf b;
    char ct[SYNC_HTTP_CONTENT_TYPE_SIZE];
    const char *csv = "referenceId,phoneNumber\nref-1,31600000001\n";
    struct sync_http_form_field f[] = { { "reason", "field visit" } };

    plat_buf_init(&b, 0);
    CHECK_INT(sync_http_multipart_csv(&b, ct, "edits.csv", csv, strlen(csv),
                                      f, 1), PLAT_OK);
    CHECK(strncmp(ct, "multipart/form-data; boundary=agent-", 36) == 0);
    CHECK(strstr(b.data, "name=\"file\"; filename=\"edits.csv\"\r\n"
                         "Content-Type: text/csv\r\n\r\nreferenceId,"));
    CHECK(strstr(b.data, "name=\"reason\"\r\n\r\nfield visit\r\n--"));
    CHECK(strstr(b.data, ct + 30));
    CHECK_INT(sync_http_multipart_csv(&b, ct, "edits.txt", csv, strlen(csv),
                                      f, 1), ERR_INVALID);
    CHECK_INT(sync_http_multipart_csv(&b, ct, "a\".csv", csv, strlen(csv),
                                      f, 1), ERR_INVALID);
    CHECK_INT(sync_http_multipart_csv(&b, ct, "../x.csv", csv, strlen(csv),
                                      f, 1), ERR_INVALID);
    CHECK_INT(b.len, 0);
    plat_buf_dispose(&b);
}

static void test_create_options(void)
{
    struct sync_http_options o = SYNC_HTTP_OPTIONS_INIT;
    struct sync_http *h = (struct sync_http *)&o;

    CHECK_INT(sync_http_create(&h, &o), ERR_CONFIG); /* no URL */
    CHECK(h == NULL);
    o.base_url = "ftp://example.org";
    CHECK_INT(sync_http_create(&h, &o), ERR_CONFIG);
    o.base_url = "http://127.0.0.1:1/";
    o.version = 99;
    CHECK_INT(sync_http_create(&h, &o), ERR_CONFIG);
    o.version = SYNC_HTTP_OPTIONS_VERSION;
    CHECK_INT(sync_http_create(&h, &o), PLAT_OK);
    sync_http_destroy(h);
    sync_http_destroy(NULL);
}

/* ---- requests ------------------------------------------------------------ */

static void test_login_token_from_body(void)
{
    struct sync_http *h = client("\"auth\":true");
    struct sync_http_response r;
    struct sync_http_stats st;
    cJSON *j, *root;
    const cJSON *login;

    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/programs/3", NULL, NULL, 0,
                                NULL, &r), PLAT_OK);
    CHECK_INT(r.status, 200);
    j = body_json(&r);
    CHECK_STR(jstr(j, "headers", "cookie"), "access_token_general=tok-1");
    CHECK_STR(jstr(j, "headers", "user-agent"), "agent/0.1");
    CHECK_STR(jstr(j, "headers", "accept-encoding"), "gzip");
    CHECK(!cJSON_GetObjectItem(cJSON_GetObjectItem(j, "headers"), "expect"));
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    /* The login went first, with the credentials as JSON and no cookie. */
    login = log_req(0, &root);
    CHECK_STR(jstr(login, "path", NULL), "/api/users/login");
    CHECK_STR(jstr(login, "method", NULL), "POST");
    CHECK_STR(jstr(login, "body", NULL),
              "{\"username\":\"u@example.org\",\"password\":\"s3cret\"}");
    CHECK_STR(jstr(login, "headers", "content-type"), "application/json");
    CHECK(!jstr(login, "headers", "cookie"));
    cJSON_Delete(root);
    /* A second request reuses the session. */
    CHECK_INT(sync_http_request(h, "GET", "/api/programs/3", NULL, NULL, 0,
                                NULL, &r), PLAT_OK);
    CHECK_INT(r.status, 200);
    sync_http_response_dispose(&r);
    CHECK_INT(log_logins(), 1);
    sync_http_stats(h, &st);
    CHECK_INT(st.requests, 3);
    CHECK_INT(st.logins, 1);
    CHECK_INT(st.retries, 0);
    sync_http_destroy(h);
}

static void test_login_token_from_cookie(void)
{
    struct sync_http *h = client("\"auth\":true,\"login_mode\":\"cookie\"");
    struct sync_http_response r;
    cJSON *j;

    REQUIRE(h);
    CHECK_INT(sync_http_auth_login(h), PLAT_OK);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(r.status, 200);
    j = body_json(&r);
    CHECK_STR(jstr(j, "headers", "cookie"), "access_token_general=tok-1");
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

/* No Set-Cookie: the 121 hook keeps the token of the body as the cookie. */
static void test_login_token_body_only(void)
{
    struct sync_http *h = client("\"auth\":true,\"login_mode\":\"body_only\"");
    struct sync_http_response r;
    cJSON *j;

    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(r.status, 200);
    j = body_json(&r);
    CHECK_STR(jstr(j, "headers", "cookie"), "access_token_general=tok-1");
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

/* The login answer's `expires` minus 33 h is the session's login moment on
 * the server's clock (c121_server_time takes it instead of a GET of
 * /api/users/current); an answer without a readable one gives 0, so the
 * caller falls back to that GET. */
static void test_login_time(void)
{
    struct sync_http_options o;
    struct sync_http *h = client("\"auth\":true,\"login_mode\":\"cookie\"");
    int64_t ms = -1, want = 0;

    REQUIRE(h);
    CHECK_INT(c121_http_login_time(h, &ms), 0);
    CHECK(ms == 0);
    CHECK_INT(sync_http_auth_login(h), PLAT_OK);
    /* the server answers expires 2026-01-01T09:00:00.000Z */
    CHECK_INT(plat_time_parse_iso("2025-12-31T00:00:00.000Z", &want),
              PLAT_OK);
    CHECK_INT(c121_http_login_time(h, &ms), 1);
    CHECK(ms == want);
    sync_http_destroy(h);

    /* A failed login, a token without `expires`, one with a broken
     * `expires`: each login forgets the time of the one before. */
    h = client("\"login_script\":["
               "{\"status\":201,\"body\":\"{\\\"access_token_general\\\":"
               "\\\"t1\\\",\\\"expires\\\":\\\"2026-01-01T09:00:00.000Z\\\"}\"},"
               "{\"status\":401,\"body\":\"{}\"},"
               "{\"status\":201,\"body\":\"{\\\"access_token_general\\\":"
               "\\\"t2\\\"}\"},"
               "{\"status\":201,\"body\":\"{\\\"access_token_general\\\":"
               "\\\"t3\\\",\\\"expires\\\":\\\"tomorrow\\\"}\"}]");
    REQUIRE(h);
    CHECK_INT(sync_http_auth_login(h), PLAT_OK);
    CHECK_INT(c121_http_login_time(h, &ms), 1);
    CHECK(ms == want);
    CHECK_INT(sync_http_auth_login(h), ERR_AUTH);
    CHECK_INT(c121_http_login_time(h, &ms), 0);
    CHECK_INT(sync_http_auth_login(h), PLAT_OK);
    CHECK_INT(c121_http_login_time(h, &ms), 0);
    CHECK(ms == 0);
    CHECK_INT(sync_http_auth_login(h), PLAT_OK);
    CHECK_INT(c121_http_login_time(h, &ms), 0);
    sync_http_destroy(h);

    /* No 121 login hook installed: no time. */
    opts_default(&o);
    h = client_with(&o, NULL);
    REQUIRE(h);
    CHECK_INT(c121_http_login_time(h, &ms), 0);
    CHECK(sync_http_auth_payload(h, NULL) == NULL);
    sync_http_destroy(h);
}

static void test_login_without_token(void)
{
    struct sync_http *h = client(
        "\"login_script\":[{\"status\":201,\"body\":\"{}\"}]");
    struct sync_http_stats st;

    REQUIRE(h);
    CHECK_INT(sync_http_auth_login(h), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "121 login for user u@example.org answered 201 "
                              "without a session token");
    sync_http_stats(h, &st);
    CHECK_INT(st.logins, 1);
    sync_http_destroy(h);
}

static void test_login_wrong_password(void)
{
    struct sync_http_options o;
    struct sync_http *h;
    struct sync_http_response r;

    opts_default(&o);
    h = client_121(&o, NULL, "u@example.org", "wrong");
    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_AUTH);
    CHECK_STR(plat_err_msg(), "121 login failed for user u@example.org: "
                              "wrong user name or password");
    CHECK(!strstr(plat_err_msg(), "wrong\""));
    sync_http_response_dispose(&r);
    CHECK_INT(log_count(), 1); /* the login only, not retried */
    sync_http_destroy(h);
}

static void test_login_throttled_then_ok(void)
{
    struct sync_http *h = client(
        "\"login_script\":[{\"status\":429,\"body\":\"{\\\"statusCode\\\":429,"
        "\\\"message\\\":\\\"ThrottlerException: Too Many Requests\\\"}\"}]");
    struct sync_http_stats st;

    REQUIRE(h);
    CHECK_INT(sync_http_auth_login(h), PLAT_OK);
    CHECK_INT(log_logins(), 2);
    sync_http_stats(h, &st);
    CHECK_INT(st.retries, 1);
    sync_http_destroy(h);
}

static void test_relogin_after_401(void)
{
    struct sync_http *h = client("\"auth\":true");
    struct sync_http_response r;
    struct sync_http_stats st;
    cJSON *j;

    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/a", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    sync_http_response_dispose(&r);
    CHECK_INT(ctl("{\"expire\":true}"), PLAT_OK); /* the token ran out */
    CHECK_INT(sync_http_request(h, "POST", "/api/b", "application/json",
                                "{\"a\":1}", 7, NULL, &r), PLAT_OK);
    CHECK_INT(r.status, 200);
    j = body_json(&r);
    CHECK_STR(jstr(j, "headers", "cookie"), "access_token_general=tok-2");
    CHECK_STR(jstr(j, "body", NULL), "{\"a\":1}");
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    CHECK_INT(log_logins(), 2);
    sync_http_stats(h, &st);
    CHECK_INT(st.requests, 5); /* login, a, b (401), login, b */
    sync_http_destroy(h);
}

static void test_401_twice_is_auth_error(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"status\":401,\"repeat\":2,\"body\":\"{\\\"message\\\":"
        "\\\"Unauthorized\\\",\\\"statusCode\\\":401}\"}]");
    struct sync_http_response r;

    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/programs/3/registrations?"
                                "filter.referenceId=ref-1", NULL, NULL, 0,
                                NULL, &r), ERR_AUTH);
    CHECK(strstr(plat_err_msg(), "HTTP 401 on GET "
                                 "/api/programs/3/registrations)"));
    CHECK(!strstr(plat_err_msg(), "ref-1")); /* no query in messages */
    sync_http_response_dispose(&r);
    CHECK_INT(log_logins(), 2);
    CHECK_INT(log_count(), 4);
    sync_http_destroy(h);
}

static void test_401_without_user_is_returned(void)
{
    struct sync_http_options o;
    struct sync_http *h;
    struct sync_http_response r;

    opts_default(&o);
    h = client_with(&o, "\"auth\":true");
    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(r.status, 401);
    CHECK_INT(sync_http_response_err(&r, "121 GET x"), ERR_AUTH);
    CHECK_STR(plat_err_msg(), "121 GET x: HTTP 401: Unauthorized");
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

static void test_retry_503_then_ok(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"status\":503,\"repeat\":2},{\"status\":502},"
        "{\"status\":200,\"body\":\"done\"}]");
    struct sync_http_response r;
    struct sync_http_stats st;

    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body.data, "done");
    sync_http_response_dispose(&r);
    sync_http_stats(h, &st);
    CHECK_INT(st.requests, 5); /* login + 4 */
    CHECK_INT(st.retries, 3);
    sync_http_destroy(h);
}

static void test_retry_exhausted(void)
{
    struct sync_http_options o;
    struct sync_http *h;
    struct sync_http_response r;

    opts_default(&o);
    o.max_attempts = 3;
    h = client_with(&o, "\"script\":[{\"status\":504,\"repeat\":9}]");
    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "DELETE", "/api/x?y=1", NULL, NULL, 0,
                                NULL, &r), ERR_RETRY);
    CHECK_STR(plat_err_msg(), "121 server unreachable after 3 attempts "
                              "(DELETE /api/x): HTTP 504");
    CHECK_INT(r.status, 504);
    sync_http_response_dispose(&r);
    CHECK_INT(log_count(), 3);
    sync_http_destroy(h);
}

static void test_429_retry_after(void)
{
    struct sync_http_options o;
    struct sync_http *h;
    struct sync_http_response r;
    int64_t t0, dt;
    const char *s429 = "\"script\":[{\"status\":429,\"headers\":"
                       "{\"Retry-After\":\"1\"}},{\"status\":200}]";

    /* Honoured when under the cap ... */
    opts_default(&o);
    o.backoff_cap_ms = 5000;
    h = client_with(&o, s429);
    REQUIRE(h);
    t0 = plat_time_mono_ms();
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    dt = plat_time_mono_ms() - t0;
    CHECK_INT(r.status, 200);
    CHECK(dt >= 950 && dt < 3000);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
    /* ... and capped at backoff_cap_ms. */
    opts_default(&o);
    o.backoff_cap_ms = 100;
    h = client_with(&o, s429);
    REQUIRE(h);
    t0 = plat_time_mono_ms();
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    dt = plat_time_mono_ms() - t0;
    CHECK_INT(r.status, 200);
    CHECK(dt < 800);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

static void test_final_statuses_not_retried(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"status\":500,\"body\":\"{\\\"statusCode\\\":500,"
        "\\\"message\\\":\\\"Internal server error\\\"}\"},{\"status\":404,"
        "\"body\":\"{\\\"errors\\\":\\\"No program found with id 9\\\"}\"},"
        "{\"status\":400,\"body\":\"{\\\"message\\\":[{\\\"target\\\":{"
        "\\\"password\\\":\\\"s3cret\\\"},\\\"property\\\":\\\"username\\\","
        "\\\"children\\\":[],\\\"constraints\\\":{\\\"isNotEmpty\\\":"
        "\\\"username should not be empty\\\"}}],\\\"statusCode\\\":400}\"}]");
    struct sync_http_response r;
    struct sync_http_stats st;

    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "POST", "/api/x", "application/json", "{}",
                                2, NULL, &r), PLAT_OK);
    CHECK_INT(r.status, 500);
    CHECK_INT(sync_http_response_err(&r, "121 POST x"), ERR_GENERIC);
    CHECK_STR(plat_err_msg(), "121 POST x: HTTP 500: Internal server error");
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "GET", "/api/programs/9", NULL, NULL, 0,
                                NULL, &r), PLAT_OK);
    CHECK_INT(r.status, 404);
    CHECK_INT(sync_http_response_err(&r, "121 GET program 9"), ERR_NOTFOUND);
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "PATCH", "/api/x", "application/json",
                                "{}", 2, NULL, &r), PLAT_OK);
    CHECK_INT(r.status, 400);
    CHECK_INT(sync_http_response_err(&r, "121 PATCH x"), ERR_INVALID);
    CHECK_STR(plat_err_msg(),
              "121 PATCH x: HTTP 400: username: username should not be empty");
    sync_http_response_dispose(&r);
    sync_http_stats(h, &st);
    CHECK_INT(st.retries, 0);
    CHECK_INT(st.requests, 4);
    sync_http_destroy(h);
}

static void test_methods_and_etag(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"echo\":true,\"headers\":{\"ETag\":"
        "\"W/\\\"29-jl4Z\\\"\"}},{\"status\":304,\"headers\":{\"ETag\":"
        "\"W/\\\"29-jl4Z\\\"\"}}]");
    struct sync_http_response r;
    cJSON *j, *root;
    const cJSON *q;

    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/programs/2", NULL, NULL, 0,
                                NULL, &r), PLAT_OK);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.etag, "W/\"29-jl4Z\"");
    CHECK_STR(r.content_type, "application/json; charset=utf-8");
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "GET", "/api/programs/2", NULL, NULL, 0,
                                "W/\"29-jl4Z\"", &r), PLAT_OK);
    CHECK_INT(r.status, 304);
    CHECK_INT(r.body.len, 0);
    CHECK_STR(r.etag, "W/\"29-jl4Z\"");
    sync_http_response_dispose(&r);
    q = log_req(-1, &root);
    CHECK_STR(jstr(q, "headers", "if-none-match"), "W/\"29-jl4Z\"");
    cJSON_Delete(root);

    /* PATCH, PUT with bodies, DELETE without: method and body arrive. */
    CHECK_INT(sync_http_request(h, "PATCH", "/api/r/ref-1", "application/json",
                                "{\"x\":2}", 7, NULL, &r), PLAT_OK);
    j = body_json(&r);
    CHECK_STR(jstr(j, "method", NULL), "PATCH");
    CHECK_STR(jstr(j, "body", NULL), "{\"x\":2}");
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "PUT", "/api/r", "application/json",
                                "[]", 2, NULL, &r), PLAT_OK);
    j = body_json(&r);
    CHECK_STR(jstr(j, "method", NULL), "PUT");
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "DELETE", "/api/r", NULL, NULL, 0, NULL,
                                &r), PLAT_OK);
    j = body_json(&r);
    CHECK_STR(jstr(j, "method", NULL), "DELETE");
    CHECK_INT(jnum(j, "body_len"), 0);
    CHECK(!jstr(j, "headers", "content-type"));
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    /* Bad arguments never reach the network. */
    CHECK_INT(sync_http_request(h, "GET", "api/x", NULL, NULL, 0, NULL, &r),
              ERR_INVALID);
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0,
                                "\"a\"\r\nX-Evil: 1", &r), ERR_INVALID);
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "TRACE", "/api/x", NULL, NULL, 0, NULL,
                                &r), ERR_INVALID);
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "POST", "/api/x", NULL, "{}", 2, NULL,
                                &r), ERR_INVALID);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

static void test_query_escaping_round_trip(void)
{
    struct sync_http *h = client(NULL);
    struct sync_http_response r;
    struct plat_buf path;
    const char *v1 = "$in:ref 1,ref+2,a&b=c";
    const char *v2 = "$gt:2025-01-01T00:00:00.000+01:00";
    const cJSON *q;
    cJSON *j;

    REQUIRE(h);
    plat_buf_init(&path, 0);
    plat_buf_puts(&path, "/api/programs/3/registrations?filter.referenceId=");
    sync_http_escape(&path, v1);
    plat_buf_puts(&path, "&filter.created=");
    sync_http_escape(&path, v2);
    CHECK_INT(sync_http_request(h, "GET", path.data, NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    j = body_json(&r);
    q = cJSON_GetObjectItem(j, "query");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(q, "filter.referenceId"),
                                 0)->valuestring, v1);
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(q, "filter.created"),
                                 0)->valuestring, v2);
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    plat_buf_dispose(&path);
    sync_http_destroy(h);
}

static void test_gzip_request_body(void)
{
    struct sync_http *h = client(NULL);
    struct sync_http_response r;
    struct sync_http_stats st0, st1;
    struct plat_buf big, form;
    char ct[SYNC_HTTP_CONTENT_TYPE_SIZE];
    struct sync_http_form_field f[] = { { "reason", "bulk edit" } };
    cJSON *j;
    const cJSON *mp;

    REQUIRE(h);
    plat_buf_init(&big, 0);
    plat_buf_puts(&big, "[");
    for (int i = 0; i < 400; i++)
        plat_buf_printf(&big, "%s{\"referenceId\":\"ref-%05d\"}",
                        i ? "," : "", i);
    plat_buf_puts(&big, "]");
    REQUIRE(big.len > 4096);
    CHECK_INT(sync_http_auth_login(h), PLAT_OK);
    sync_http_stats(h, &st0);
    CHECK_INT(sync_http_request(h, "POST", "/api/programs/3/registrations",
                                "application/json", big.data, big.len, NULL,
                                &r), PLAT_OK);
    sync_http_stats(h, &st1);
    j = body_json(&r);
    CHECK_STR(jstr(j, "headers", "content-encoding"), "gzip");
    CHECK_INT(jnum(j, "body_len"), big.len);
    CHECK(jnum(j, "body_wire_len") < (double)big.len / 4);
    CHECK_STR(jstr(j, "body", NULL), big.data);
    /* Upload counted as sent: compressed body plus headers. */
    CHECK(st1.bytes_up_wire - st0.bytes_up_wire >=
          (int64_t)jnum(j, "body_wire_len"));
    CHECK(st1.bytes_up_wire - st0.bytes_up_wire <
          (int64_t)jnum(j, "body_wire_len") + 1000);
    cJSON_Delete(j);
    sync_http_response_dispose(&r);

    /* Small bodies go as they are. */
    CHECK_INT(sync_http_request(h, "POST", "/api/x", "application/json",
                                "{\"a\":1}", 7, NULL, &r), PLAT_OK);
    j = body_json(&r);
    CHECK(!jstr(j, "headers", "content-encoding"));
    CHECK_INT(jnum(j, "body_wire_len"), 7);
    cJSON_Delete(j);
    sync_http_response_dispose(&r);

    /* Multipart never: 121's upload handler does not inflate. */
    plat_buf_init(&form, 0);
    CHECK_INT(sync_http_multipart_csv(&form, ct, "edits.csv", big.data,
                                      big.len, f, 1), PLAT_OK);
    CHECK_INT(sync_http_request(h, "PATCH", "/api/programs/3/registrations",
                                ct, form.data, form.len, NULL, &r), PLAT_OK);
    j = body_json(&r);
    CHECK(!jstr(j, "headers", "content-encoding"));
    mp = cJSON_GetObjectItem(j, "multipart");
    CHECK_STR(jstr(cJSON_GetObjectItem(mp, "file"), "filename", NULL),
              "edits.csv");
    CHECK_STR(jstr(cJSON_GetObjectItem(mp, "file"), "content", NULL),
              big.data);
    CHECK_STR(jstr(cJSON_GetObjectItem(mp, "file"), "content_type", NULL),
              "text/csv");
    CHECK_STR(jstr(cJSON_GetObjectItem(mp, "reason"), "content", NULL),
              "bulk edit");
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    plat_buf_dispose(&form);
    plat_buf_dispose(&big);
    sync_http_destroy(h);
}

/* The pattern the server sends for body_size: "abc...z" repeated. */
static int is_pattern(const char *d, size_t n, size_t offset)
{
    for (size_t i = 0; i < n; i++)
        if (d[i] != (char)('a' + (offset + i) % 26))
            return 0;
    return 1;
}

static void test_gzip_response_and_stats(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"body_size\":200000,\"gzip\":true},"
        "{\"body_size\":200000}]");
    struct sync_http_response r;
    struct sync_http_stats st0, st1, st2;

    REQUIRE(h);
    CHECK_INT(sync_http_auth_login(h), PLAT_OK);
    sync_http_stats(h, &st0);
    CHECK_INT(sync_http_request(h, "GET", "/api/big", NULL, NULL, 0, NULL,
                                &r), PLAT_OK);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body.len, 200000);
    CHECK(is_pattern(r.body.data, r.body.len, 0));
    sync_http_response_dispose(&r);
    sync_http_stats(h, &st1);
    CHECK_INT(st1.bytes_down_body - st0.bytes_down_body, 200000);
    /* gzip of the pattern is tiny: the wire count shows it. */
    CHECK(st1.bytes_down_wire - st0.bytes_down_wire < 5000);
    CHECK(st1.bytes_down_wire - st0.bytes_down_wire > 100);
    /* Uncompressed: wire = body + headers. */
    CHECK_INT(sync_http_request(h, "GET", "/api/big", NULL, NULL, 0, NULL,
                                &r), PLAT_OK);
    sync_http_response_dispose(&r);
    sync_http_stats(h, &st2);
    CHECK_INT(st2.bytes_down_body - st1.bytes_down_body, 200000);
    CHECK(st2.bytes_down_wire - st1.bytes_down_wire > 200000);
    CHECK(st2.bytes_down_wire - st1.bytes_down_wire < 200500);
    sync_http_destroy(h);
}

static void test_keepalive(void)
{
    struct sync_http *h = client(NULL);
    struct sync_http_response r;
    double port1, port2;
    cJSON *j;

    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/1", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    j = body_json(&r);
    port1 = jnum(j, "client_port");
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "POST", "/api/2", "application/json", "1",
                                1, NULL, &r), PLAT_OK);
    j = body_json(&r);
    port2 = jnum(j, "client_port");
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    CHECK(port1 > 0 && port1 == port2);
    sync_http_destroy(h);
}

static void test_connection_cut_is_retried(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"body_size\":1000,\"close_after\":100},"
        "{\"body_size\":1000,\"gzip_truncate\":true},{\"body_size\":1000}]");
    struct sync_http_response r;
    struct sync_http_stats st;

    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(r.status, 200);
    CHECK_INT(r.body.len, 1000);
    sync_http_response_dispose(&r);
    sync_http_stats(h, &st);
    CHECK_INT(st.retries, 2);
    sync_http_destroy(h);
}

static int dead_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void test_connect_refused(void)
{
    struct sync_http_options o;
    struct sync_http *h = NULL;
    struct sync_http_response r;
    struct sync_http_stats st;
    char url[64];

    opts_default(&o);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", dead_port());
    o.base_url = url;
    o.max_attempts = 3;
    REQUIRE(sync_http_create(&h, &o) == PLAT_OK);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_RETRY);
    CHECK(strstr(plat_err_msg(), "121 server unreachable after 3 attempts "
                                 "(GET /api/x): "));
    CHECK(strstr(plat_err_msg(), "onnect"));
    sync_http_response_dispose(&r);
    sync_http_stats(h, &st);
    CHECK_INT(st.requests, 3);
    CHECK_INT(st.retries, 2);
    sync_http_destroy(h);
}

static void test_low_speed_timeout(void)
{
    struct sync_http_options o;
    struct sync_http *h;
    struct sync_http_response r;
    int64_t t0, dt;

    opts_default(&o);
    o.low_speed_limit = 1000;
    o.low_speed_time_s = 1;
    /* A trickling answer fails once, after the low-speed time: not
     * max_attempts times over (a server sending a byte every few seconds
     * held a sync for minutes). */
    o.max_attempts = 4;
    h = client_with(&o, "\"script\":[{\"body_size\":2000,"
                        "\"slow\":[10,0.2]},{\"body_size\":2000,"
                        "\"slow\":[10,0.2]},{\"body_size\":2000,"
                        "\"slow\":[10,0.2]},{\"body_size\":2000,"
                        "\"slow\":[10,0.2]}]");
    REQUIRE(h);
    t0 = plat_time_mono_ms();
    CHECK_INT(sync_http_request(h, "GET", "/api/slow", NULL, NULL, 0, NULL,
                                &r), ERR_RETRY);
    dt = plat_time_mono_ms() - t0;
    CHECK(strstr(plat_err_msg(), "too slow"));
    CHECK(dt >= 900 && dt < 2500);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

/* The sync's deadline stops a slow transfer and the retries. */
static void test_deadline(void)
{
    struct sync_http_options o;
    struct sync_http *h;
    struct sync_http_response r;
    int64_t t0, dt;

    opts_default(&o);
    o.low_speed_limit = 1;
    o.low_speed_time_s = 30;
    o.max_attempts = 4;
    t0 = plat_time_mono_ms();
    o.deadline_mono_ms = t0 + 800;
    h = client_with(&o, "\"script\":[{\"body_size\":2000,"
                        "\"slow\":[10,0.5]}]");
    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/slow", NULL, NULL, 0, NULL,
                                &r), ERR_RETRY);
    dt = plat_time_mono_ms() - t0;
    CHECK(strstr(plat_err_msg(), "over its deadline"));
    CHECK(dt >= 700 && dt < 2500);
    sync_http_response_dispose(&r);
    /* Nothing more is sent after it. */
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL,
                                &r), ERR_RETRY);
    CHECK(strstr(plat_err_msg(), "over its deadline"));
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

static void test_response_cap(void)
{
    struct sync_http_options o;
    struct sync_http *h;
    struct sync_http_response r;

    opts_default(&o);
    o.max_response = 1000;
    h = client_with(&o, "\"script\":[{\"body_size\":5000},"
                        "{\"body_size\":5000,\"chunked\":true},"
                        "{\"body_size\":100000,\"gzip\":true},"
                        "{\"body_size\":1000,\"gzip\":true}]");
    REQUIRE(h);
    /* Known length over the cap. */
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_TOOLARGE);
    CHECK(strstr(plat_err_msg(), "over the cap of 1000 bytes"));
    sync_http_response_dispose(&r);
    /* Unknown length (chunked). */
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_TOOLARGE);
    sync_http_response_dispose(&r);
    /* Small on the wire, large once inflated. */
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_TOOLARGE);
    sync_http_response_dispose(&r);
    /* Exactly at the cap is fine, and the client still works. */
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(r.body.len, 1000);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

static void test_unknown_content_encoding(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"body\":\"xyz\",\"headers\":{\"Content-Encoding\":"
        "\"br\"}}]");
    struct sync_http_response r;

    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_INVALID);
    CHECK(strstr(plat_err_msg(), "Content-Encoding"));
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

/* ---- streaming ----------------------------------------------------------- */

struct collect {
    size_t total;
    int calls;
    int bad;
    size_t fail_after; /* return ERR_INVALID once past this (0: never) */
};

static int on_data(void *payload, const char *data, size_t len)
{
    struct collect *c = payload;

    if (!is_pattern(data, len, c->total))
        c->bad = 1;
    c->total += len;
    c->calls++;
    if (c->fail_after && c->total > c->fail_after)
        return plat_err_set(ERR_INVALID, "record parser gave up");
    return 0;
}

static void test_stream_gzip(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"body_size\":1000000,\"gzip\":true,\"chunked\":true}]");
    struct sync_http_response r;
    struct sync_http_stats st;
    struct collect c = { 0 };

    REQUIRE(h);
    CHECK_INT(sync_http_get_stream(h, "/api/programs/3/registrations?limit=-1",
                                   on_data, &c, &r), PLAT_OK);
    CHECK_INT(r.status, 200);
    CHECK_INT(c.total, 1000000);
    CHECK(c.calls > 1);
    CHECK(!c.bad);
    CHECK_INT(r.body.len, 0); /* nothing held */
    sync_http_response_dispose(&r);
    sync_http_stats(h, &st);
    CHECK(st.bytes_down_body >= 1000000);
    CHECK(st.bytes_down_wire < 20000);
    sync_http_destroy(h);
}

static void test_stream_retry_before_data(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"status\":503},{\"body_size\":5000,\"close_after\":0},"
        "{\"body_size\":5000}]");
    struct sync_http_response r;
    struct sync_http_stats st;
    struct collect c = { 0 };

    REQUIRE(h);
    CHECK_INT(sync_http_get_stream(h, "/api/x", on_data, &c, &r), PLAT_OK);
    CHECK_INT(r.status, 200);
    CHECK_INT(c.total, 5000);
    CHECK(!c.bad);
    sync_http_response_dispose(&r);
    sync_http_stats(h, &st);
    CHECK_INT(st.retries, 2);
    sync_http_destroy(h);
}

static void test_stream_cut_after_data(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"body_size\":10000,\"close_after\":3000},"
        "{\"body_size\":10000}]");
    struct sync_http_response r;
    struct sync_http_stats st;
    struct collect c = { 0 };

    REQUIRE(h);
    CHECK_INT(sync_http_get_stream(h, "/api/x?limit=5", on_data, &c, &r),
              ERR_RETRY);
    CHECK_STR(plat_err_msg(), "121 answer to GET /api/x cut after 3000 bytes: "
                              "transfer closed with 7000 bytes remaining to "
                              "read");
    CHECK_INT(c.total, 3000);
    sync_http_response_dispose(&r);
    sync_http_stats(h, &st);
    CHECK_INT(st.retries, 0);
    CHECK_INT(st.requests, 2); /* login + the cut one */
    sync_http_destroy(h);
}

static void test_stream_error_answer(void)
{
    struct sync_http *h = client(
        "\"script\":[{\"status\":404,\"body\":\"{\\\"errors\\\":"
        "\\\"No program found with id 999\\\"}\"}]");
    struct sync_http_response r;
    struct collect c = { 0 };
    char msg[128];

    REQUIRE(h);
    CHECK_INT(sync_http_get_stream(h, "/api/programs/999", on_data, &c, &r),
              PLAT_OK);
    CHECK_INT(r.status, 404);
    CHECK_INT(c.calls, 0);
    c121_error_message(r.body.data, r.body.len, msg, sizeof(msg));
    CHECK_STR(msg, "No program found with id 999");
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

static void test_stream_callback_stops(void)
{
    struct sync_http *h = client("\"script\":[{\"body_size\":500000}]");
    struct sync_http_response r;
    struct collect c = { 0 };

    REQUIRE(h);
    c.fail_after = 1000;
    CHECK_INT(sync_http_get_stream(h, "/api/x", on_data, &c, &r),
              ERR_INVALID);
    CHECK_STR(plat_err_msg(), "record parser gave up");
    CHECK(c.total < 500000);
    sync_http_response_dispose(&r);
    /* The client is usable afterwards. */
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(r.status, 200);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

static void test_stream_cap(void)
{
    struct sync_http_options o;
    struct sync_http *h;
    struct sync_http_response r;
    struct collect c = { 0 };

    opts_default(&o);
    o.max_response = 10000;
    h = client_with(&o, "\"script\":[{\"body_size\":50000,\"gzip\":true}]");
    REQUIRE(h);
    CHECK_INT(sync_http_get_stream(h, "/api/x", on_data, &c, &r),
              ERR_TOOLARGE);
    CHECK(c.total <= 10000);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

/* ---- cancel, progress ---------------------------------------------------- */

static volatile int cancel_flag;
static int progress_calls;

static void cancel_on_progress(void *payload, int64_t dl_now,
                               int64_t dl_total, int64_t ul_now,
                               int64_t ul_total)
{
    (void)payload;
    (void)dl_total;
    (void)ul_now;
    (void)ul_total;
    progress_calls++;
    if (dl_now > 0)
        cancel_flag = 1;
}

static void on_usr1(int sig)
{
    (void)sig;
    cancel_flag = 1;
}

static void setup_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
}

static void test_cancel(void)
{
    struct sync_http_options o;
    struct sync_http *h;
    struct sync_http_response r;
    struct sync_http_stats st;
    int64_t t0, dt;

    opts_default(&o);
    o.cancel = &cancel_flag;
    o.progress = cancel_on_progress;
    h = client_with(&o, "\"script\":[{\"body_size\":5000,"
                        "\"slow\":[100,0.1]}]");
    REQUIRE(h);
    cancel_flag = 0;
    progress_calls = 0;
    t0 = plat_time_mono_ms();
    CHECK_INT(sync_http_request(h, "GET", "/api/slow", NULL, NULL, 0, NULL,
                                &r), ERR_RETRY);
    dt = plat_time_mono_ms() - t0;
    CHECK_STR(plat_err_msg(), "121 request GET /api/slow cancelled");
    CHECK(dt < 2000);
    CHECK(progress_calls > 0);
    sync_http_response_dispose(&r);
    /* Already cancelled: nothing is sent. */
    sync_http_stats(h, &st);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_RETRY);
    sync_http_response_dispose(&r);
    {
        struct sync_http_stats st2;
        sync_http_stats(h, &st2);
        CHECK_INT(st2.requests, st.requests);
    }
    cancel_flag = 0;
    sync_http_destroy(h);
}

static void test_cancel_during_backoff(void)
{
    struct sync_http_options o;
    struct sync_http *h;
    struct sync_http_response r;
    int64_t t0, dt;

    opts_default(&o);
    o.cancel = &cancel_flag;
    o.backoff_cap_ms = 10000;
    h = client_121(&o, "\"script\":[{\"status\":503,\"repeat\":5,"
                       "\"headers\":{\"Retry-After\":\"5\"}}]",
                   "u@example.org", "s3cret");
    REQUIRE(h);
    CHECK_INT(sync_http_auth_login(h), PLAT_OK);
    cancel_flag = 0;
    setup_signals();
    /* 503 with Retry-After: 5 puts the client to sleep; a signal from a
     * child sets the flag (as the daemon's SIGTERM handler would) after
     * 300 ms, and the sleep notices within a slice. */
    t0 = plat_time_mono_ms();
    {
        pid_t kid = fork();
        if (kid == 0) {
            plat_time_sleep_ms(300);
            kill(getppid(), SIGUSR1);
            _exit(0);
        }
        CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL,
                                    &r), ERR_RETRY);
        waitpid(kid, NULL, 0);
    }
    dt = plat_time_mono_ms() - t0;
    CHECK(strstr(plat_err_msg(), "cancelled"));
    CHECK(dt < 2000);
    sync_http_response_dispose(&r);
    cancel_flag = 0;
    sync_http_destroy(h);
}

/* ---- TLS ----------------------------------------------------------------- */

static void test_tls(void)
{
    struct sync_http_options o;
    struct sync_http *h = NULL;
    struct sync_http_response r;
    char *pin_file = read_data("tls-pin.txt");
    char pin[128];

    REQUIRE(pin_file);
    snprintf(pin, sizeof(pin), "sha256//%.*s", (int)strcspn(pin_file, "\n"),
             pin_file);
    plat_free(pin_file);
    REQUIRE(server_start() == 0);
    CHECK_INT(ctl("{\"reset\":true}"), PLAT_OK);

    /* Trusted through ca_file. */
    opts_default(&o);
    o.base_url = tls_url;
    o.ca_file = HTTP_TEST_DATA "/tls-cert.pem";
    REQUIRE(sync_http_create(&h, &o) == PLAT_OK);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(r.status, 200);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);

    /* Self-signed and not trusted: refused, not retried. */
    o.ca_file = NULL;
    REQUIRE(sync_http_create(&h, &o) == PLAT_OK);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_GENERIC);
    CHECK(strstr(plat_err_msg(), "TLS verification of the 121 server "
                                 "failed"));
    sync_http_response_dispose(&r);
    sync_http_destroy(h);

    /* Pinned key: the right one passes, a wrong one fails. */
    o.ca_file = HTTP_TEST_DATA "/tls-cert.pem";
    o.pinned_pubkey = pin;
    REQUIRE(sync_http_create(&h, &o) == PLAT_OK);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(r.status, 200);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
    o.pinned_pubkey = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    REQUIRE(sync_http_create(&h, &o) == PLAT_OK);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_GENERIC);
    CHECK(strstr(plat_err_msg(), "TLS verification"));
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

/* ---- the authentication and error-text hooks ------------------------------ */

struct hook_state {
    int logins;
    int header_calls;
    int fail_login;         /* the login hook fails with ERR_AUTH */
    int fail_headers;       /* the headers hook fails with ERR_CONFIG */
    const char *bad_line;   /* a line the headers hook adds as well */
    char token[32];         /* "session" the login hook got */
    int released;
};

static int token_headers(void *payload, const char *method,
                         const char *path, sync_http_header_add_fn add,
                         void *add_ctx)
{
    struct hook_state *s = payload;

    (void)method;
    (void)path;
    s->header_calls++;
    if (s->fail_headers)
        return plat_err_set(ERR_CONFIG, "no API token configured");
    if (s->bad_line) {
        int rc = add(add_ctx, s->bad_line);
        if (rc < 0)
            return rc;
    }
    return add(add_ctx, "Authorization: Token abc");
}

static void hook_release(void *payload)
{
    ((struct hook_state *)payload)->released++;
}

static void test_hook_token_header(void)
{
    static const struct sync_http_auth auth = {
        .headers = token_headers, .release = hook_release };
    struct hook_state s = { 0 };
    struct sync_http_options o;
    struct sync_http_response r;
    struct sync_http_stats st;
    struct sync_http *h;
    cJSON *j;

    opts_default(&o);
    h = client_with(&o, "\"script\":[{\"status\":503},{\"echo\":true}]");
    REQUIRE(h);
    CHECK_INT(sync_http_set_auth(h, &auth, &s), PLAT_OK);
    CHECK_INT(sync_http_request(h, "GET", "/api/v2/assets/?format=json",
                                NULL, NULL, 0, NULL, &r), PLAT_OK);
    CHECK_INT(r.status, 200);
    j = body_json(&r);
    CHECK_STR(jstr(j, "headers", "authorization"), "Token abc");
    CHECK(!jstr(j, "headers", "cookie"));
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    CHECK_INT(s.header_calls, 2); /* every attempt, the retry included */
    CHECK_INT(log_logins(), 0);   /* no login hook: no login */
    sync_http_stats(h, &st);
    CHECK_INT(st.logins, 0);
    /* A 401 without a login hook is an answer like any other. */
    CHECK_INT(ctl("{\"script\":[{\"status\":401,\"body\":\"{\\\"detail\\\":"
                  "\\\"Invalid token.\\\"}\"}]}"), PLAT_OK);
    CHECK_INT(sync_http_request(h, "GET", "/api/v2/assets/", NULL, NULL, 0,
                                NULL, &r), PLAT_OK);
    CHECK_INT(r.status, 401);
    CHECK_INT(sync_http_response_err(&r, "Kobo GET assets"), ERR_AUTH);
    CHECK_STR(plat_err_msg(), "Kobo GET assets: HTTP 401: Unauthorized: "
                              "Invalid token.");
    sync_http_response_dispose(&r);
    /* A failing hook stops the request before it is sent. */
    s.fail_headers = 1;
    CHECK_INT(log_count(), 3);
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_CONFIG);
    sync_http_response_dispose(&r);
    CHECK_INT(log_count(), 3);
    /* A header line with a line break is refused. */
    s.fail_headers = 0;
    s.bad_line = "X-A: 1\r\nX-Injected: 2";
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_INVALID);
    sync_http_response_dispose(&r);
    s.bad_line = "no colon";
    CHECK_INT(sync_http_request(h, "GET", "/api/x", NULL, NULL, 0, NULL, &r),
              ERR_INVALID);
    sync_http_response_dispose(&r);
    CHECK_INT(log_count(), 3);
    CHECK_INT(s.released, 0);
    sync_http_destroy(h);
    CHECK_INT(s.released, 1);
}

/* An EspoCRM-style signature: depends on the method and on the path
 * without "/api/v1" and without the query. A stand-in for the HMAC (no
 * crypto here): "key:" + METHOD + " /" + path. */
static int hmac_headers(void *payload, const char *method, const char *path,
                        sync_http_header_add_fn add, void *add_ctx)
{
    char line[256];
    size_t n;

    (void)payload;
    if (strncmp(path, "/api/v1/", 8) == 0)
        path += 7;
    n = strcspn(path, "?");
    snprintf(line, sizeof(line), "X-Hmac-Authorization: key:%s /%.*s",
             method, (int)(n > 0 ? n - 1 : 0), path + (n > 0));
    return add(add_ctx, line);
}

static void test_hook_signed_per_request(void)
{
    static const struct sync_http_auth auth = { .headers = hmac_headers };
    struct sync_http_options o;
    struct sync_http_response r;
    struct sync_http *h;
    cJSON *root;
    const cJSON *q;

    opts_default(&o);
    h = client_with(&o, NULL);
    REQUIRE(h);
    sync_http_set_auth(h, &auth, NULL);
    CHECK_INT(sync_http_request(h, "GET", "/api/v1/Contact?maxSize=5&offset=0",
                                NULL, NULL, 0, NULL, &r), PLAT_OK);
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "PUT", "/api/v1/Contact/abc123",
                                "application/json", "{}", 2, NULL, &r),
              PLAT_OK);
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "DELETE", "/api/v1/Lead/x", NULL, NULL, 0,
                                NULL, &r), PLAT_OK);
    sync_http_response_dispose(&r);
    q = log_req(0, &root);
    CHECK_STR(jstr(q, "headers", "x-hmac-authorization"),
              "key:GET /Contact");
    cJSON_Delete(root);
    q = log_req(1, &root);
    CHECK_STR(jstr(q, "headers", "x-hmac-authorization"),
              "key:PUT /Contact/abc123");
    cJSON_Delete(root);
    q = log_req(2, &root);
    CHECK_STR(jstr(q, "headers", "x-hmac-authorization"),
              "key:DELETE /Lead/x");
    cJSON_Delete(root);
    sync_http_destroy(h);
}

/* A login hook that POSTs to its own path, takes a token from the body and
 * sends it as a bearer header; the server (script) also sets a cookie. */
static int bearer_login(struct sync_http *h, void *payload)
{
    struct hook_state *s = payload;
    struct sync_http_response r;
    int rc;

    s->logins++;
    if (s->fail_login)
        return plat_err_set(ERR_AUTH, "login refused");
    rc = sync_http_request(h, "POST", "/auth/session", "application/json",
                           "{}", 2, NULL, &r);
    if (rc == PLAT_OK && r.status != 200)
        rc = sync_http_response_err(&r, "login");
    if (rc == PLAT_OK)
        snprintf(s->token, sizeof(s->token), "t%d", s->logins);
    sync_http_response_dispose(&r);
    return rc;
}

static int bearer_headers(void *payload, const char *method,
                          const char *path, sync_http_header_add_fn add,
                          void *add_ctx)
{
    struct hook_state *s = payload;
    char line[64];

    (void)method;
    if (!s->token[0] || strcmp(path, "/auth/session") == 0)
        return PLAT_OK;
    snprintf(line, sizeof(line), "Authorization: Bearer %s", s->token);
    return add(add_ctx, line);
}

static void test_hook_login_and_401(void)
{
    static const struct sync_http_auth auth = {
        .login = bearer_login, .headers = bearer_headers };
    struct hook_state s = { 0 };
    struct sync_http_options o;
    struct sync_http_response r;
    struct sync_http_stats st;
    struct sync_http *h;
    cJSON *j, *root;
    const cJSON *q;

    opts_default(&o);
    o.service_name = "crm";
    h = client_with(&o, "\"script\":[{\"status\":200,\"headers\":"
                        "{\"Set-Cookie\":\"sid=s1; Path=/\"}},"
                        "{\"echo\":true},{\"status\":401},"
                        "{\"status\":200},{\"echo\":true}]");
    REQUIRE(h);
    sync_http_set_auth(h, &auth, &s);
    CHECK(!sync_http_has_cookie(h, "sid"));
    /* Login first (its request sends no bearer), then the request. */
    CHECK_INT(sync_http_request(h, "GET", "/api/a", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    j = body_json(&r);
    CHECK_STR(jstr(j, "headers", "authorization"), "Bearer t1");
    CHECK_STR(jstr(j, "headers", "cookie"), "sid=s1"); /* kept generically */
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    CHECK(sync_http_has_cookie(h, "sid"));
    CHECK(!sync_http_has_cookie(h, "si"));
    q = log_req(0, &root);
    CHECK_STR(jstr(q, "path", NULL), "/auth/session");
    CHECK(!jstr(q, "headers", "authorization"));
    cJSON_Delete(root);
    /* 401: log in again (cookies forgotten first), repeat once. */
    CHECK_INT(sync_http_request(h, "GET", "/api/b", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(r.status, 200);
    j = body_json(&r);
    CHECK_STR(jstr(j, "headers", "authorization"), "Bearer t2");
    CHECK(!jstr(j, "headers", "cookie"));
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    q = log_req(3, &root);
    CHECK_STR(jstr(q, "path", NULL), "/auth/session");
    CHECK(!jstr(q, "headers", "cookie"));
    cJSON_Delete(root);
    CHECK_INT(s.logins, 2);
    sync_http_stats(h, &st);
    CHECK_INT(st.logins, 2);
    CHECK_INT(st.requests, 5);
    /* 401 twice: ERR_AUTH. */
    CHECK_INT(ctl("{\"script\":[{\"status\":401},{\"status\":200},"
                  "{\"status\":401}]}"), PLAT_OK);
    CHECK_INT(sync_http_request(h, "GET", "/api/c?q=secret", NULL, NULL, 0,
                                NULL, &r), ERR_AUTH);
    CHECK_STR(plat_err_msg(), "crm refused the new session (HTTP 401 on GET "
                              "/api/c)");
    sync_http_response_dispose(&r);
    CHECK_INT(s.logins, 3);
    /* A failing login fails the request, and the next one tries again. */
    s.fail_login = 1;
    CHECK_INT(sync_http_request(h, "GET", "/api/d", NULL, NULL, 0, NULL, &r),
              ERR_AUTH);
    CHECK_STR(plat_err_msg(), "login refused");
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_auth_login(h), ERR_AUTH);
    CHECK_INT(s.logins, 5);
    /* Removing the hook: no login any more. */
    sync_http_set_auth(h, NULL, NULL);
    CHECK_INT(sync_http_auth_login(h), ERR_CONFIG);
    CHECK_INT(sync_http_request(h, "GET", "/api/e", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    sync_http_response_dispose(&r);
    CHECK_INT(s.logins, 5);
    sync_http_destroy(h);
}

static void test_cookie_helpers(void)
{
    struct sync_http_options o;
    struct sync_http_response r;
    struct sync_http *h;
    cJSON *j;

    opts_default(&o);
    h = client_with(&o, NULL);
    REQUIRE(h);
    CHECK_INT(sync_http_set_cookie(h, "a b", "x"), ERR_INVALID);
    CHECK_INT(sync_http_set_cookie(h, "a", "x;y"), ERR_INVALID);
    CHECK_INT(sync_http_set_cookie(h, "a=", "x"), ERR_INVALID);
    CHECK_INT(sync_http_set_cookie(h, "a", ""), ERR_INVALID);
    CHECK_INT(sync_http_set_cookie(h, "session", "v-1.2"), PLAT_OK);
    CHECK(sync_http_has_cookie(h, "session"));
    CHECK_INT(sync_http_request(h, "GET", "/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    j = body_json(&r);
    CHECK_STR(jstr(j, "headers", "cookie"), "session=v-1.2");
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    sync_http_logout_local(h);
    CHECK(!sync_http_has_cookie(h, "session"));
    CHECK_INT(sync_http_request(h, "GET", "/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    j = body_json(&r);
    CHECK(!jstr(j, "headers", "cookie"));
    cJSON_Delete(j);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

static void test_error_text_hook(void)
{
    struct sync_http_options o;
    struct sync_http_response r;
    struct sync_http *h;

    opts_default(&o);
    h = client_with(&o, "\"script\":[{\"status\":400,\"body\":"
                        "\"{\\\"statusCode\\\":400,\\\"message\\\":[\\\"a\\\","
                        "\\\"b\\\"]}\"},{\"status\":400,\"body\":"
                        "\"{\\\"statusCode\\\":400,\\\"message\\\":[\\\"a\\\","
                        "\\\"b\\\"]}\"},{\"status\":200,\"headers\":"
                        "{\"Content-Type\":\"text/html\"},\"body\":"
                        "\"<html><body>Sign in to the Wi-Fi</body></html>\"}]");
    REQUIRE(h);
    CHECK_INT(sync_http_request(h, "GET", "/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK(r.error_text == NULL);
    CHECK_INT(sync_http_response_err(&r, "GET x"), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "GET x: HTTP 400: Bad Request");
    sync_http_response_dispose(&r);
    sync_http_set_error_text(h, c121_http_error_text);
    CHECK_INT(sync_http_request(h, "GET", "/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK(r.error_text == c121_http_error_text);
    CHECK_INT(sync_http_response_err(&r, "GET x"), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "GET x: HTTP 400: a; b");
    sync_http_response_dispose(&r);
    CHECK_INT(sync_http_request(h, "GET", "/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK_INT(sync_http_response_err(&r, "GET x"), PLAT_OK);
    CHECK_INT(sync_http_check_json(&r, "GET x"), ERR_INVALID);
    CHECK(strstr(plat_err_msg(), "HTML page instead of JSON"));
    sync_http_response_dispose(&r);
    sync_http_set_error_text(h, NULL);
    CHECK_INT(sync_http_request(h, "GET", "/x", NULL, NULL, 0, NULL, &r),
              PLAT_OK);
    CHECK(r.error_text == NULL);
    sync_http_response_dispose(&r);
    sync_http_destroy(h);
}

/* ---- allocation failures ------------------------------------------------- */

static void test_alloc_failures(void)
{
    struct sync_http_options o;
    int ok = 0;

    REQUIRE(server_start() == 0);
    opts_default(&o);
    /* Fail each allocation in turn: every failure is clean (ASan checks
     * for leaks) and reported as ERR_NOMEM. */
    for (long n = 0; n < 400 && !ok; n++) {
        struct sync_http *h = NULL;
        struct sync_http_response r;
        struct collect c = { 0 };
        int rc;

        CHECK_INT(ctl("{\"reset\":true,\"script\":[{\"body_size\":3000,"
                      "\"gzip\":true},{\"body_size\":3000}]}"), PLAT_OK);
        plat_alloc_fail_after(n);
        rc = sync_http_create(&h, &o);
        if (rc == PLAT_OK)
            rc = c121_http_install(h, "u@example.org", "s3cret");
        if (rc == PLAT_OK) {
            rc = sync_http_request(h, "POST", "/api/x", "application/json",
                                   "{}", 2, NULL, &r);
            sync_http_response_dispose(&r);
        }
        if (rc == PLAT_OK) {
            rc = sync_http_get_stream(h, "/api/x", on_data, &c, &r);
            sync_http_response_dispose(&r);
        }
        plat_alloc_fail_after(-1);
        sync_http_destroy(h);
        if (rc == PLAT_OK)
            ok = 1;
        else if (rc != ERR_NOMEM) {
            fprintf(stderr, "allocation %ld: rc %d (%s)\n", n, rc,
                    plat_err_msg());
            testlib_failures++;
            break;
        }
    }
    CHECK(ok);
}

static void test_setup(void)
{
    setup_signals();
    CHECK(server_start() == 0);
}

TEST_MAIN(TEST(test_setup),
          TEST(test_status_to_err),
          TEST(test_backoff),
          TEST(test_escape),
          TEST(test_error_messages_recorded),
          TEST(test_error_messages_shapes),
          TEST(test_default_error_text),
          TEST(test_response_err),
          TEST(test_multipart),
          TEST(test_create_options),
          TEST(test_login_token_from_body),
          TEST(test_login_token_from_cookie),
          TEST(test_login_token_body_only),
          TEST(test_login_time),
          TEST(test_login_without_token),
          TEST(test_login_wrong_password),
          TEST(test_login_throttled_then_ok),
          TEST(test_relogin_after_401),
          TEST(test_401_twice_is_auth_error),
          TEST(test_401_without_user_is_returned),
          TEST(test_retry_503_then_ok),
          TEST(test_retry_exhausted),
          TEST(test_429_retry_after),
          TEST(test_final_statuses_not_retried),
          TEST(test_methods_and_etag),
          TEST(test_query_escaping_round_trip),
          TEST(test_gzip_request_body),
          TEST(test_gzip_response_and_stats),
          TEST(test_keepalive),
          TEST(test_connection_cut_is_retried),
          TEST(test_connect_refused),
          TEST(test_low_speed_timeout),
          TEST(test_deadline),
          TEST(test_response_cap),
          TEST(test_unknown_content_encoding),
          TEST(test_stream_gzip),
          TEST(test_stream_retry_before_data),
          TEST(test_stream_cut_after_data),
          TEST(test_stream_error_answer),
          TEST(test_stream_callback_stops),
          TEST(test_stream_cap),
          TEST(test_cancel),
          TEST(test_cancel_during_backoff),
          TEST(test_tls),
          TEST(test_hook_token_header),
          TEST(test_hook_signed_per_request),
          TEST(test_hook_login_and_401),
          TEST(test_cookie_helpers),
          TEST(test_error_text_hook),
          TEST(test_alloc_failures))
