/* SPDX-License-Identifier: MIT */
/*
 * c121_http.c - 121's login and error bodies as hooks of the HTTP client
 * (see c121_http.h).
 *
 * Error bodies can echo the request (class-validator's `target` and
 * `value` hold the submitted body, passwords included), so the reader only
 * takes the fields that carry the server's own text. The login request and
 * response bodies and the credentials are wiped before they are freed.
 */
#include "c121_http.h"

#include "sync_http.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_line.h"
#include "plat_secure.h"
#include "plat_err.h"
#include "plat_time.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

#define C121_LOGIN_PATH "/api/users/login"
#define C121_COOKIE "access_token_general"
/* Contract 0.1: a token lives 33 h from its login, no more, no less. */
#define C121_TOKEN_LIFETIME_MS (33LL * 3600 * 1000)


static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One class-validator error (shape D): "property: constraint, ..." then
 * its children with a dotted path. Never `target` or `value`. */
static void put_dto(struct plat_line *l, const cJSON *e, const char *parent,
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
            plat_line_sep(l);
            if (path[0]) {
                plat_line_puts(l, path);
                plat_line_puts(l, ": ");
            }
            first = 0;
        } else {
            plat_line_puts(l, ", ");
        }
        plat_line_puts(l, c->valuestring);
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
static void put_entry(struct plat_line *l, const cJSON *e)
{
    const cJSON *line_no;
    const char *msg, *ref, *col;

    if (cJSON_IsString(e)) {
        plat_line_sep(l);
        plat_line_puts(l, e->valuestring);
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
    plat_line_sep(l);
    line_no = cJSON_GetObjectItemCaseSensitive(e, "lineNumber");
    if (cJSON_IsNumber(line_no)) {
        char num[32];
        snprintf(num, sizeof(num), "line %d ", line_no->valueint);
        plat_line_puts(l, num);
    }
    ref = str_of(e, "referenceId");
    col = str_of(e, "column");
    if (ref) {
        plat_line_puts(l, ref);
        plat_line_puts(l, col ? " " : ": ");
    }
    if (col) {
        plat_line_puts(l, col);
        plat_line_puts(l, ": ");
    }
    plat_line_puts(l, msg);
}

static void put_message(struct plat_line *l, const cJSON *m)
{
    const cJSON *e;

    if (cJSON_IsString(m)) {
        plat_line_sep(l);
        plat_line_puts(l, m->valuestring);
    } else if (cJSON_IsArray(m)) {
        cJSON_ArrayForEach(e, m)
            put_entry(l, e);
    }
}

/* {"errors": ...}: a string, an array, or an object such as
 * {"User":" not found"} which reads "User: not found". */
static void put_errors(struct plat_line *l, const cJSON *errs)
{
    const cJSON *e;

    if (cJSON_IsObject(errs)) {
        cJSON_ArrayForEach(e, errs) {
            plat_line_sep(l);
            plat_line_puts(l, e->string);
            if (cJSON_IsString(e)) {
                plat_line_puts(l, ": ");
                plat_line_puts(l, e->valuestring);
            }
        }
    } else {
        put_message(l, errs);
    }
}

size_t c121_error_message(const char *body, size_t len, char *out,
                          size_t out_size)
{
    struct plat_line l;
    cJSON *root;
    const cJSON *m;

    if (!out || out_size == 0)
        return 0;
    plat_line_init(&l, out, out_size);
    out[0] = '\0';
    if (!body || len == 0)
        return 0;
    root = cJSON_ParseWithLength(body, len);
    if (!root) {
        /* Not JSON (a proxy's page, plain text): its start. */
        plat_line_putn(&l, body, len);
        return plat_line_finish(&l);
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
            plat_line_puts(&l, str_of(root, "error"));
    } else if (cJSON_IsArray(root)) {
        put_message(&l, root);
    } else if (cJSON_IsString(root)) {
        plat_line_puts(&l, root->valuestring);
    }
    cJSON_Delete(root);
    return plat_line_finish(&l);
}


/* ---- login hook -------------------------------------------------------- */

struct c121_auth {
    char *user;
    char *password; /* wiped on release */
    int64_t login_ms; /* the last login on the server's clock; 0: unknown */
};

static void auth_release(void *payload)
{
    struct c121_auth *a = payload;

    if (!a)
        return;
    plat_free(a->user);
    if (a->password) {
        plat_wipe(a->password, strlen(a->password));
        plat_free(a->password);
    }
    plat_free(a);
}

/* Append `s` as a JSON string. */
static int json_string(struct plat_buf *b, const char *s)
{
    int rc = plat_buf_append(b, "\"", 1);

    for (; *s && rc == PLAT_OK; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            rc = plat_buf_append(b, esc, 2);
        } else if (c < 0x20) {
            rc = plat_buf_printf(b, "\\u%04x", c);
        } else {
            rc = plat_buf_append(b, s, 1);
        }
    }
    if (rc == PLAT_OK)
        rc = plat_buf_append(b, "\"", 1);
    return rc;
}

static int valid_token(const char *t)
{
    if (!t || !t[0])
        return 0;
    for (; *t; t++)
        if ((unsigned char)*t <= 0x20 || *t == ';' || *t == ',' ||
            *t == '"' || *t == '\\' || (unsigned char)*t >= 0x7f)
            return 0;
    return 1;
}

static int auth_login(struct sync_http *h, void *payload)
{
    struct c121_auth *a = payload;
    struct sync_http_response resp;
    struct plat_buf body;
    cJSON *json = NULL;
    const cJSON *tok;
    char msg[256];
    int rc;

    memset(&resp, 0, sizeof(resp));
    plat_buf_init(&body, 0);
    a->login_ms = 0;
    /* Allocate the worst case (every byte escaped as \u00XX) up front, so
     * the buffer never grows: a realloc would free a copy of the password
     * without wiping it. */
    rc = plat_buf_printf(&body, "%*s",
                         (int)(64 + 6 * (strlen(a->user) +
                                         strlen(a->password))), "");
    plat_buf_reset(&body);
    if (rc == PLAT_OK)
        rc = plat_buf_puts(&body, "{\"username\":");
    if (rc == PLAT_OK)
        rc = json_string(&body, a->user);
    if (rc == PLAT_OK)
        rc = plat_buf_puts(&body, ",\"password\":");
    if (rc == PLAT_OK)
        rc = json_string(&body, a->password);
    if (rc == PLAT_OK)
        rc = plat_buf_puts(&body, "}");
    if (rc < 0)
        goto done;

    rc = sync_http_request(h, "POST", C121_LOGIN_PATH, "application/json",
                           body.data, body.len, NULL, &resp);
    if (rc < 0)
        goto done;
    if (resp.status == 401) {
        rc = plat_err_set(ERR_AUTH, "121 login failed for user %s: wrong "
                          "user name or password", a->user);
        goto done;
    }
    if (resp.status != 200 && resp.status != 201) {
        rc = sync_http_status_to_err(resp.status);
        if (rc == PLAT_OK)
            rc = ERR_INVALID;
        c121_error_message(resp.body.data, resp.body.len, msg, sizeof(msg));
        rc = plat_err_set(rc, "121 login failed for user %s: HTTP %ld%s%s",
                          a->user, resp.status, msg[0] ? ": " : "", msg);
        goto done;
    }
    json = cJSON_ParseWithLength(resp.body.data ? resp.body.data : "",
                                 resp.body.len);
    /* The login moment on the server's clock, from the token's expiry:
     * what GET /api/users/current would tell, without its round trip. */
    if (plat_time_parse_iso(str_of(json, "expires"), &a->login_ms) < 0 ||
        a->login_ms <= C121_TOKEN_LIFETIME_MS)
        a->login_ms = 0;
    else
        a->login_ms -= C121_TOKEN_LIFETIME_MS;
    plat_err_clear();
    /* The cookie engine kept the Set-Cookie; else the token of the body. */
    if (sync_http_has_cookie(h, C121_COOKIE))
        goto done;
    tok = cJSON_GetObjectItemCaseSensitive(json, C121_COOKIE);
    if (cJSON_IsString(tok) && valid_token(tok->valuestring))
        rc = sync_http_set_cookie(h, C121_COOKIE, tok->valuestring);
    else
        rc = plat_err_set(ERR_INVALID, "121 login for user %s answered %ld "
                          "without a session token", a->user, resp.status);
done:
    if (json) {
        /* The parsed body holds the token: wipe it before freeing. */
        tok = cJSON_GetObjectItemCaseSensitive(json, C121_COOKIE);
        if (cJSON_IsString(tok))
            plat_wipe(tok->valuestring, strlen(tok->valuestring));
        cJSON_Delete(json);
    }
    if (body.data)
        plat_wipe(body.data, body.len);
    plat_buf_dispose(&body);
    if (resp.body.data)
        plat_wipe(resp.body.data, resp.body.len);
    sync_http_response_dispose(&resp);
    return rc;
}

int c121_http_login_time(struct sync_http *h, int64_t *ms_out)
{
    const struct c121_auth *a = sync_http_auth_payload(h, auth_login);

    *ms_out = a ? a->login_ms : 0;
    return *ms_out > 0;
}

/* 121's error bodies; a 2xx answer (e.g. an HTML portal page) is the
 * transport's business. */
size_t c121_http_error_text(long status, const char *body, size_t len,
                             char *out, size_t n)
{
    if (status >= 200 && status < 300)
        return sync_http_default_error_text(status, body, len, out, n);
    return c121_error_message(body, len, out, n);
}

int c121_http_install(struct sync_http *h, const char *user,
                      const char *password)
{
    static const struct sync_http_auth auth = {
        .login = auth_login,
        .headers = NULL,
        .release = auth_release,
    };
    struct c121_auth *a;

    if (!user || !user[0] || !password)
        return plat_err_set(ERR_CONFIG, "no 121 user name and password "
                            "configured");
    a = plat_calloc(1, sizeof(*a));
    if (!a)
        return plat_err_set(ERR_NOMEM, "out of memory keeping the 121 "
                            "credentials");
    a->user = plat_strdup(user);
    a->password = plat_strdup(password);
    if (!a->user || !a->password) {
        auth_release(a);
        return plat_err_set(ERR_NOMEM, "out of memory keeping the 121 "
                            "credentials");
    }
    sync_http_set_auth(h, &auth, a);
    sync_http_set_error_text(h, c121_http_error_text);
    return PLAT_OK;
}
