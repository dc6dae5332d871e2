/*
 * serve_auth.c - logins as 121 does them (POST /api/users/login, 201, the
 * cookie access_token_general), checked against the configured 121 user
 * name and a LOCAL password: never the 121 password, only its salted
 * PBKDF2-HMAC-SHA256 hash (`agent serve passwd`) is stored.
 *
 * Tokens are 32 random bytes (hex) with 121's fixed 33 h lifetime (the
 * cookie's Expires, as 121 sets it). The store keeps only each token's
 * SHA-256 (store_sessions.h), so a restart of the server logs nobody out
 * and a copy of the store gives no session; logout drops the session.
 * Logins are throttled like 121's (30 a minute, then 429).
 */
#include "serve_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_random.h"
#include "plat_secure.h"
#include "plat_time.h"
#include "store.h"
#include "store_sessions.h"

#include <cjson/cJSON.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PBKDF2_ITER 100000
#define SALT_LEN 16
#define HASH_LEN 32
#define LOGIN_PER_MIN 30

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;

        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (unsigned char)v;
    }
    return s[2 * n] == '\0' || s[2 * n] == '$' ? 0 : -1;
}

static int pbkdf2(const char *pw, const unsigned char *salt, unsigned iter,
                  unsigned char *out)
{
    mbedtls_md_context_t md;
    int rc;

    mbedtls_md_init(&md);
    rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                          1);
    if (rc == 0)
        rc = mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)pw,
                                       strlen(pw), salt, SALT_LEN, iter,
                                       HASH_LEN, out);
    mbedtls_md_free(&md);
    return rc == 0 ? PLAT_OK : plat_err_set(ERR_GENERIC, "PBKDF2 failed");
}

int serve_password_hash(const char *password, char **out)
{
    unsigned char salt[SALT_LEN], h[HASH_LEN];
    char salt_hex[2 * SALT_LEN + 1], h_hex[2 * HASH_LEN + 1];
    int rc;

    *out = NULL;
    if (!password || strlen(password) < 8)
        return plat_err_set(ERR_INVALID, "the password must have at least 8 "
                            "characters");
    rc = plat_random_bytes(salt, sizeof(salt));
    if (rc == PLAT_OK)
        rc = pbkdf2(password, salt, PBKDF2_ITER, h);
    if (rc < 0)
        return rc;
    hex(salt, sizeof(salt), salt_hex);
    hex(h, sizeof(h), h_hex);
    plat_wipe(h, sizeof(h));
    *out = plat_asprintf("pbkdf2-sha256$%d$%s$%s", PBKDF2_ITER, salt_hex,
                         h_hex);
    return *out ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
}

int serve_password_check(const char *stored, const char *password)
{
    unsigned char salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
    const char *p;
    unsigned long iter;
    char *end = NULL;
    unsigned diff = 0;

    if (!stored || strncmp(stored, "pbkdf2-sha256$", 14) != 0)
        return 0;
    p = stored + 14;
    iter = strtoul(p, &end, 10);
    if (end == p || *end != '$' || iter < 1000 || iter > 10000000)
        return 0;
    p = end + 1;
    if (strlen(p) != 2 * SALT_LEN + 1 + 2 * HASH_LEN ||
        unhex(p, salt, SALT_LEN) < 0 ||
        unhex(p + 2 * SALT_LEN + 1, want, HASH_LEN) < 0)
        return 0;
    if (pbkdf2(password, salt, (unsigned)iter, got) < 0)
        return 0;
    for (size_t i = 0; i < HASH_LEN; i++)
        diff |= (unsigned)(got[i] ^ want[i]);
    plat_wipe(got, sizeof(got));
    return diff == 0;
}

/* ---- sessions ----------------------------------------------------------- */

/* The value of cookie `name` in a Cookie header, copied into out. */
static int cookie_value(const char *header, const char *name, char *out,
                        size_t n)
{
    size_t nl = strlen(name);
    const char *p = header;

    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t l = strcspn(v, ";");

            if (l >= n)
                return 0;
            memcpy(out, v, l);
            out[l] = '\0';
            return 1;
        }
        p = strchr(p, ';');
    }
    return 0;
}

/* SHA-256 of the token's text, hex: what the store keeps of a session. */
static int token_hash(const char *tok, char out[STORE_SESSION_HASH_HEX + 1])
{
    unsigned char h[32];

    if (mbedtls_sha256_ret((const unsigned char *)tok, strlen(tok), h, 0))
        return plat_err_set(ERR_GENERIC, "SHA-256 failed");
    hex(h, sizeof(h), out);
    return PLAT_OK;
}

/* The token of the request's cookie (64 hex digits) in tok, or 0. */
static int cookie_token(const char *cookie_header, char *tok, size_t n)
{
    return cookie_header &&
           cookie_value(cookie_header, "access_token_general", tok, n) &&
           strlen(tok) == SRV_TOKEN_HEX &&
           strspn(tok, "0123456789abcdef") == SRV_TOKEN_HEX;
}

int srv_authed(struct store *st, const char *cookie_header)
{
    char tok[SRV_TOKEN_HEX + 2], h[STORE_SESSION_HASH_HEX + 1];
    int live;

    if (!cookie_token(cookie_header, tok, sizeof(tok)) ||
        token_hash(tok, h) < 0) {
        plat_err_clear();
        return 0;
    }
    live = store_session_live(st, h, plat_time_wall_ms());
    if (live < 0) {
        log_warn("serve: cannot check a session: %s", plat_err_msg());
        plat_err_clear();
        return 0;
    }
    return live;
}

/* A new session: a random token, its hash kept in the store until
 * now + SRV_TOKEN_TTL_MS (expired ones and all but the newest
 * SRV_SESSIONS dropped). */
static int session_new(struct store *st, char *tok_out, int64_t *exp_out)
{
    unsigned char raw[SRV_TOKEN_HEX / 2];
    char h[STORE_SESSION_HASH_HEX + 1];
    int64_t now = plat_time_wall_ms();
    int rc = plat_random_bytes(raw, sizeof(raw));

    if (rc < 0)
        return rc;
    hex(raw, sizeof(raw), tok_out);
    plat_wipe(raw, sizeof(raw));
    rc = token_hash(tok_out, h);
    if (rc == PLAT_OK)
        rc = store_session_put(st, h, now + SRV_TOKEN_TTL_MS, now,
                               SRV_SESSIONS);
    *exp_out = now + SRV_TOKEN_TTL_MS;
    return rc;
}

static int throttled(struct serve *s)
{
    int64_t now = plat_time_mono_ms();
    int over;

    pthread_mutex_lock(&s->lock);
    if (now - s->login_window_ms >= 60000) {
        s->login_window_ms = now;
        s->login_count = 0;
    }
    over = ++s->login_count > LOGIN_PER_MIN;
    pthread_mutex_unlock(&s->lock);
    return over;
}

static cJSON *permissions(int program_id)
{
    static const char *const perms[] = {
        "program.read", "program:metrics.read", "program:fsp-config.read",
        "registration.read", "registration.create",
        "registration:personal.read", "registration:personal.export",
        "registration:personal.update", "registration:attribute.update",
        "registration:attribute:financial.update",
        "registration:fsp-config.update",
        "registration:status:included.update",
        "registration:status:paused.update",
        "registration:status:markAsValidated.update",
        "registration:status:markAsDeclined.update", "payment.read",
        "payment:transaction.read", "payment:voucher-paper.read"};
    cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
    char key[16];

    if (!o || !a) {
        cJSON_Delete(o);
        cJSON_Delete(a);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(perms[i]));
    snprintf(key, sizeof(key), "%d", program_id);
    cJSON_AddItemToObject(o, key, a);
    return o;
}

/* An object's string member, or NULL when absent, empty or not a string. */
static const char *nonempty(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

int srv_login(struct srv_req *q, struct srv_resp *r)
{
    struct serve *s = q->srv;
    cJSON *body, *out;
    const char *user, *pw;
    char *stored = NULL, *lower = NULL;
    char tok[SRV_TOKEN_HEX + 1], exp_iso[32];
    int64_t exp_ms;
    int ok, rc;

    if (throttled(s))
        return srv_error(r, 429, "ThrottlerException: Too Many Requests");
    body = srv_body_json(q, r);
    if (!body)
        return PLAT_OK;
    user = nonempty(body, "username");
    pw = nonempty(body, "password");
    if (!user || !pw) {
        const char *prop = !user ? "username" : "password";
        char msg[64];

        /* 121's shape D echoes the body; never a password: it is left out. */
        cJSON_DeleteItemFromObjectCaseSensitive(body, "password");
        snprintf(msg, sizeof(msg), "%s should not be empty", prop);
        srv_error_d(r, body, prop, NULL, "isNotEmpty", msg);
        cJSON_Delete(body);
        return PLAT_OK;
    }
    lower = plat_strdup(user);
    if (!lower) {
        cJSON_Delete(body);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    for (char *p = lower; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    rc = store_state_get(q->st, SERVE_PASSWORD_KEY, &stored);
    if (rc == ERR_NOTFOUND) {
        log_warn("serve: login refused: no local password is set (run "
                 "`agent serve passwd`)");
        plat_err_clear();
    } else if (rc < 0) {
        plat_free(lower);
        cJSON_Delete(body);
        return rc;
    }
    ok = stored && s->user[0] && strcmp(lower, s->user) == 0 &&
         serve_password_check(stored, pw);
    plat_free(stored);
    {
        cJSON *pwi = cJSON_GetObjectItemCaseSensitive(body, "password");

        if (cJSON_IsString(pwi))
            plat_wipe_str(pwi->valuestring);
    }
    cJSON_Delete(body);
    if (!ok) {
        plat_free(lower);
        return srv_error(r, 401, "Unauthorized");
    }
    rc = session_new(q->st, tok, &exp_ms);
    if (rc < 0) {
        plat_free(lower);
        return rc;
    }
    plat_time_iso(exp_ms, exp_iso);
    out = cJSON_CreateObject();
    if (out) {
        cJSON_AddStringToObject(out, "username", lower);
        cJSON_AddItemToObject(out, "permissions", permissions(s->program_id));
        cJSON_AddStringToObject(out, "access_token_general", tok);
        cJSON_AddStringToObject(out, "expires", exp_iso);
        cJSON_AddFalseToObject(out, "isAdmin");
        cJSON_AddFalseToObject(out, "isEntraUser");
        cJSON_AddFalseToObject(out, "isOrganizationAdmin");
    }
    plat_free(lower);
    {
        /* as 121 sets it (recorded/121/login.headers): Expires, 33 h */
        char date[40];
        time_t t = (time_t)(exp_ms / 1000);
        struct tm tm;

        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        r->set_cookie = plat_asprintf(
            "access_token_general=%s; Path=/; Expires=%s; HttpOnly; "
            "SameSite=Lax%s", tok, date, s->tls ? "; Secure" : "");
    }
    plat_wipe(tok, sizeof(tok));
    log_info("serve: login");
    return srv_json_take(r, 201, out);
}

int srv_logout(struct srv_req *q, struct srv_resp *r)
{
    char tok[SRV_TOKEN_HEX + 2], h[STORE_SESSION_HASH_HEX + 1];
    int rc;

    /* the token stops working here, not only in this browser */
    if (cookie_token(q->cookie, tok, sizeof(tok)) &&
        token_hash(tok, h) == PLAT_OK) {
        rc = store_session_drop(q->st, h);
        if (rc < 0)
            return rc;
    }
    r->set_cookie = plat_strdup("access_token_general=; Path=/; Max-Age=0; "
                                "HttpOnly; SameSite=Lax");
    r->status = 201;
    r->no_body = 1;
    return PLAT_OK;
}

static cJSON *user_object(struct serve *s, int current)
{
    cJSON *u = cJSON_CreateObject();

    if (!u)
        return NULL;
    cJSON_AddNumberToObject(u, "id", 1);
    cJSON_AddStringToObject(u, "username", s->user);
    if (current)
        cJSON_AddItemToObject(u, "permissions", permissions(s->program_id));
    cJSON_AddFalseToObject(u, "isAdmin");
    if (!current) {
        cJSON_AddFalseToObject(u, "admin");
        cJSON_AddTrueToObject(u, "active");
    }
    cJSON_AddFalseToObject(u, "isEntraUser");
    cJSON_AddNullToObject(u, "lastLogin");
    cJSON_AddStringToObject(u, "displayName", s->user);
    cJSON_AddFalseToObject(u, "isOrganizationAdmin");
    return u;
}

int srv_current(struct srv_req *q, struct srv_resp *r)
{
    cJSON *o = cJSON_CreateObject(), *u = user_object(q->srv, 1);

    if (!o || !u) {
        cJSON_Delete(o);
        cJSON_Delete(u);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_AddItemToObject(o, "user", u);
    return srv_json_take(r, 200, o);
}

int srv_users(struct srv_req *q, struct srv_resp *r)
{
    cJSON *a = cJSON_CreateArray(), *u = user_object(q->srv, 0);

    if (!a || !u) {
        cJSON_Delete(a);
        cJSON_Delete(u);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_AddItemToArray(a, u);
    return srv_json_take(r, 200, a);
}
