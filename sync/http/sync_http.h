/* SPDX-License-Identifier: MIT */
/*
 * sync_http.h - the HTTP client of the agent (the only code that uses curl).
 *
 * One `struct sync_http` wraps one curl easy handle that is reused for every
 * request, so the connection to the server is kept alive between requests.
 * It owns TLS settings (verification is always on), proxies, timeouts, gzip
 * in both directions, the response size cap, cookies (curl's cookie engine,
 * in memory only: whatever the server sets is sent back, no name is known
 * here) and the retry policy. It knows no particular server: how to log in,
 * which headers authenticate a request and how to read an error body are
 * hooks the owner installs (sync_http_set_auth, sync_http_set_error_text;
 * the 121 connector's are in c121_http.h):
 *
 *   - retried, with capped exponential backoff and full jitter, up to
 *     max_attempts: network errors (resolve, connect, TLS handshake,
 *     timeouts, reset or cut connections, a gzip body cut short), 429, 502,
 *     503, 504 (a Retry-After in seconds or as a date is honoured, capped at
 *     backoff_cap_ms). When the attempts are used up the call fails with
 *     ERR_RETRY. Note that a POST whose answer was lost is sent again: the
 *     caller's writes must be safe to repeat;
 *   - 401 on any request but those sent by the login hook, when a login
 *     hook is installed: call it once more and repeat the request once; a
 *     second 401 fails with ERR_AUTH (without a login hook a 401 is
 *     returned as any other answer);
 *   - every other answer (2xx, 304, 4xx, 500...) is returned as it is, with
 *     PLAT_OK: the caller decides per operation, usually through
 *     sync_http_status_to_err() / sync_http_response_err().
 *
 * Paths: the caller passes the full path with its query, starting with '/',
 * e.g. "/api/programs/3/registrations?limit=1000"; it is appended to
 * base_url as it is (so a base URL with a path prefix works). Query values
 * must be escaped with sync_http_escape().
 *
 * Wire bytes: the client does not let curl decode gzip; it asks for gzip
 * itself (Accept-Encoding: gzip) and inflates with zlib in its write
 * callback, so it sees both sizes whatever the curl version, applies the
 * cap to the decoded size and notices a gzip stream cut short. "Wire" bytes
 * are what crossed the connection at the HTTP level: response headers plus
 * the body as received (compressed, after de-chunking), and request headers
 * plus the body as sent (compressed when gzipped). TLS and TCP overhead are
 * not counted. "Body" bytes are the decoded response bodies.
 *
 * Errors are set with plat_err_set() at the failure, one line, naming the
 * method and the path (never the query, a body, a cookie or a password).
 *
 * A handle is not thread-safe: use one per thread. Creating handles in
 * several threads at once is fine (curl's global init is thread-safe in the
 * libcurl the agent builds with and is reference-counted).
 */
#ifndef SYNC_HTTP_H
#define SYNC_HTTP_H

#include "plat_buf.h"

#include <stddef.h>
#include <stdint.h>

struct sync_http;

#define SYNC_HTTP_OPTIONS_VERSION 1

/* Zero-initialise with SYNC_HTTP_OPTIONS_INIT, then set what you need; a
 * zero (or NULL) field takes the default given beside it. */
struct sync_http_options {
    int version;                 /* SYNC_HTTP_OPTIONS_VERSION            */
    const char *base_url;        /* "https://server.example.org",
                                    required                             */
    const char *service_name;    /* name in messages; default "server"   */

    const char *ca_file;         /* PEM CA bundle; default: system store */
    const char *pinned_pubkey;   /* curl syntax: "sha256//<base64>" or a
                                    PEM/DER public key file; optional    */
    const char *proxy;           /* NULL: curl's environment handling
                                    (https_proxy, no_proxy...); "": no
                                    proxy at all; else the proxy URL     */

    long connect_timeout_ms;     /* default 15000                        */
    long low_speed_limit;        /* abort below this many bytes/s ...    */
    long low_speed_time_s;       /* ... for this long; default 100 B/s
                                    for 60 s. Once the request is sent,
                                    such a stall is not retried: a
                                    server trickling its answer fails
                                    the call after low_speed_time_s
                                    (ERR_RETRY, "too slow")              */
    size_t max_response;         /* decoded body cap, default 64 MiB;
                                    over it: ERR_TOOLARGE                */
    size_t gzip_request_threshold; /* gzip JSON request bodies longer
                                    than this, default 4096; SIZE_MAX
                                    turns it off                         */
    int max_attempts;            /* tries per request, default 5         */
    long backoff_base_ms;        /* default 500                          */
    long backoff_cap_ms;         /* default 30000                        */

    /* Called during transfers (from curl's progress callback) with the
     * counts of the current transfer attempt; optional. */
    void (*progress)(void *payload, int64_t dl_now, int64_t dl_total,
                     int64_t ul_now, int64_t ul_total);
    void *progress_payload;

    /* When *cancel becomes non-zero (e.g. from a signal handler), the
     * call fails with ERR_RETRY ("cancelled"): a backoff sleep notices
     * within 50 ms, a transfer at its next progress callback (curl calls it
     * as data moves, and about once a second on a silent link). Nothing is
     * sent while it is set. Borrowed; optional. */
    volatile int *cancel;

    /* plat_time_mono_ms() after which nothing more is sent and a running
     * transfer stops (ERR_RETRY, "... over its deadline"): the bound of a
     * whole sync. 0: none. */
    int64_t deadline_mono_ms;
};

#define SYNC_HTTP_OPTIONS_INIT { .version = SYNC_HTTP_OPTIONS_VERSION }

/* Create a client. Strings in `opt` are copied. On success *out is owned by the caller and freed with
 * sync_http_destroy(). Nothing is sent yet.
 * Errors: ERR_CONFIG (no base_url, not http(s), wrong version, bad
 * option), ERR_NOMEM, ERR_GENERIC (curl failed to initialise). */
int sync_http_create(struct sync_http **out,
                     const struct sync_http_options *opt);

/* Close the connection and free everything; NULL is a no-op. */
void sync_http_destroy(struct sync_http *h);

/* ---- authentication hook ------------------------------------------------ */

/* Adds one header line ("Name: value", no CR or LF) to the request being
 * built; the line is copied (and wiped when the request is done). Returns
 * PLAT_OK, ERR_INVALID (CR/LF/no colon) or ERR_NOMEM (message set). */
typedef int (*sync_http_header_add_fn)(void *add_ctx, const char *line);

/* How requests are authenticated; every member is optional (NULL).
 *
 * login: log in, usually with sync_http_request() on `h` (e.g. POST a user
 *   name and password; a session cookie the server sets is kept by the
 *   client and sent back from then on; a token found elsewhere can be kept
 *   in `payload` for `headers`, or given to sync_http_set_cookie()).
 *   Called before the first request when there is no session yet, and once
 *   more after a 401 (the request is then repeated once; a second 401 is
 *   ERR_AUTH). Before each call the client forgets its cookies. Requests
 *   the hook sends are neither preceded by a login nor repeated after a
 *   401 (they are retried on network errors and 429/5xx as usual). Returns
 *   PLAT_OK or a negative ERR_* with plat_err_set (e.g. ERR_AUTH for wrong
 *   credentials); the request that needed it then fails with that code, and
 *   the next request tries to log in again. Every call counts in
 *   sync_http_stats.logins.
 *
 * headers: add per-request headers (an API key, "Authorization: Token t",
 *   a signature computed from the method and path) by calling
 *   `add(add_ctx, line)`. Called for every attempt of every request, the
 *   login hook's included, with the method ("GET"...) and the path with its
 *   query as the caller gave it ("/api/v1/Contact?maxSize=5"). Returns
 *   PLAT_OK or a negative ERR_* (the request then fails with it, unsent).
 *
 * release: called with `payload` when the hook is replaced or the client is
 *   destroyed (e.g. to wipe and free credentials).
 *
 * Header lines and what the hooks hold are secrets: never log them. */
struct sync_http_auth {
    int (*login)(struct sync_http *h, void *payload);
    int (*headers)(void *payload, const char *method,
                   const char *path_and_query, sync_http_header_add_fn add,
                   void *add_ctx);
    void (*release)(void *payload);
};

/* Install `auth` (copied; NULL removes the hook) with `payload` (owned by
 * the caller unless auth->release frees it). The previous hook's release
 * is called first, and the session is forgotten (sync_http_logout_local).
 * Returns PLAT_OK. */
int sync_http_set_auth(struct sync_http *h, const struct sync_http_auth *auth,
                       void *payload);

/* The payload installed with `login` as the login hook, or NULL when
 * another hook (or none) is installed: lets the hook's owner read what its
 * login kept (e.g. the server's clock at login). Borrowed. */
void *sync_http_auth_payload(struct sync_http *h,
                             int (*login)(struct sync_http *h, void *payload));

/* Log in now with the login hook (forgetting the session first), so that a
 * wrong password is reported before any work. Optional: requests log in by
 * themselves. Errors: ERR_CONFIG (no login hook installed), else what the
 * hook returns. */
int sync_http_auth_login(struct sync_http *h);

/* Forget the session: the cookies are dropped and the next request calls
 * the login hook again. */
void sync_http_logout_local(struct sync_http *h);

/* Store a session cookie as if the server had set it (for the host of
 * base_url only, path "/", sent over http and https): for a login hook that got its session token in a
 * response body. `name` and `value` must be non-empty and hold no control
 * character, space, ';', ',', '"' or a backslash ('=' neither in the name).
 * Errors: ERR_INVALID, ERR_NOMEM. */
int sync_http_set_cookie(struct sync_http *h, const char *name,
                         const char *value);

/* 1 if the client holds a cookie named `name` (as set by the server or
 * sync_http_set_cookie), else 0. The value is not returned. */
int sync_http_has_cookie(struct sync_http *h, const char *name);

/* ---- error text hook ------------------------------------------------------ */

/* Puts the server's message from an answer with HTTP `status` and body
 * `body`/`len` (may be NULL/0) into `out` as one line of at most `n` - 1
 * bytes (n > 0; always NUL-terminated; "" when there is nothing to say).
 * Must not copy request data the server echoes, nor tokens. Returns the
 * length written. */
typedef size_t (*sync_http_error_text_fn)(long status, const char *body,
                                          size_t len, char *out, size_t n);

/* Install the reader of this server's error bodies; NULL restores
 * sync_http_default_error_text. Responses filled by `h` afterwards carry
 * it (sync_http_response.error_text). */
void sync_http_set_error_text(struct sync_http *h, sync_http_error_text_fn fn);

/* The default reader, knowing no server: the reason phrase of `status`
 * ("Not Found"; "" for an unknown status), then ": " and the body when it
 * is short plain text (control characters replaced, cut with "...") or,
 * for a JSON object, its top-level string "message", "error" or "detail";
 * other JSON is not copied (it may echo the request) and an HTML page is
 * named, not copied ("(HTML page)"). A 2xx answer whose body is an HTML
 * page gives "HTML page instead of JSON (a proxy or login portal
 * answered?)". */
size_t sync_http_default_error_text(long status, const char *body,
                                    size_t len, char *out, size_t n);

struct sync_http_response {
    long status;                 /* HTTP status of the answer; 0: none   */
    struct plat_buf body;        /* decoded body, NUL-terminated; owned  */
    char etag[128];              /* ETag of the answer; "" if none or
                                    longer than the buffer              */
    char content_type[128];      /* Content-Type; "" if none or too long */
    double retry_after_s;        /* Retry-After of the answer; 0 if none */
    char status_reason[160];     /* X-Status-Reason of the answer (EspoCRM
                                    puts its message there); "" if none,
                                    cut to fit                           */
    char date[64];               /* Date of the answer as sent (RFC 7231
                                    IMF-fixdate); "" if none (`agent
                                    doctor` compares the clocks)        */
    char location[2048];         /* a 3xx answer's redirect target, as
                                    an absolute URL (redirects are never
                                    followed by the client: the caller
                                    decides, e.g. not to send its token
                                    to another host); "" if none or too
                                    long                                 */
    sync_http_error_text_fn error_text; /* the client's error reader (see
                                    sync_http_set_error_text); NULL: the
                                    default                              */
};

/* Send one request and read the whole answer into `resp`.
 *   method          "GET", "POST", "PUT", "PATCH" or "DELETE"
 *   path_and_query  "/api/...", appended to base_url (see above)
 *   content_type    of `body`, e.g. "application/json"; NULL if no body
 *   body, body_len  request body (may be NULL/0); JSON bodies longer than
 *                   gzip_request_threshold are sent gzipped with
 *                   Content-Encoding: gzip (others, e.g. multipart, never:
 *                   121 only inflates JSON and urlencoded bodies)
 *   if_none_match   an ETag from an earlier answer, or NULL; a 304 answer
 *                   comes back with status 304 and an empty body
 *   resp            OUT: filled in by the call, which initialises it first
 *                   (do not pass one that still holds a body); always
 *                   release it with sync_http_response_dispose(), even when
 *                   the call fails
 * Calls the login hook first when one is installed and there is no session
 * yet; the headers hook adds its headers to every attempt.
 * Returns PLAT_OK whenever the server gave a final answer (check
 * resp->status). Errors: ERR_RETRY (network, 429/502/503/504 after all
 * attempts, cancelled), ERR_AUTH (401 again after a new login), what the
 * login or headers hook returned, ERR_TOOLARGE (answer over max_response), ERR_INVALID (bad
 * argument), ERR_NOMEM, ERR_GENERIC (TLS verification, other curl errors). */
int sync_http_request(struct sync_http *h, const char *method,
                      const char *path_and_query, const char *content_type,
                      const void *body, size_t body_len,
                      const char *if_none_match,
                      struct sync_http_response *resp);

/* Callback of sync_http_get_stream: `len` (> 0) decoded body bytes. Return
 * 0 to go on, or a negative ERR_* (with plat_err_set) to stop the transfer:
 * sync_http_get_stream then returns that code and keeps the message. */
typedef int (*sync_http_data_cb)(void *payload, const char *data,
                                 size_t len);

/* GET a large answer without holding it: the decoded body of a 2xx answer
 * is passed to `on_data` in chunks as it arrives. The body of any other
 * answer is not passed on but kept in resp->body (for the error message).
 * Retries, re-login and the cap (max_response applies to the streamed total
 * too) work as for sync_http_request(), with one difference: once a byte
 * has been passed to `on_data`, a failure is not retried but returns
 * ERR_RETRY at once, and the caller resumes from its own checkpoint.
 * `resp` as for sync_http_request(). Errors: as sync_http_request(), plus
 * whatever `on_data` returns. */
int sync_http_get_stream(struct sync_http *h, const char *path_and_query,
                         sync_http_data_cb on_data, void *payload,
                         struct sync_http_response *resp);

/* Set the decoded body cap of the next requests (0: the client's
 * default from sync_http_options.max_response); returns the cap it
 * replaces. For a caller whose answers differ in size: a small JSON
 * document gets a small cap, a streamed list the large one. */
size_t sync_http_set_max_response(struct sync_http *h, size_t cap);

/* Set the tries per request of the next requests (attempts > 0; else
 * unchanged); returns the value it replaces, to restore it. 1: a request
 * that must never be sent twice (121's messages: a lost answer leaves the
 * caller to find out whether it arrived). The re-send after a 401 and a
 * new login still happens (a 401 was not processed). With 1, a request
 * other than GET also goes on a new connection, so that curl's own re-send
 * on a reused connection closed without an answer cannot happen. */
int sync_http_set_max_attempts(struct sync_http *h, int attempts);

/* Free the body of a response (the struct itself is the caller's). Safe on
 * a response that a failed call left empty; safe to call twice. */
void sync_http_response_dispose(struct sync_http_response *r);

/* Counters since create; all requests, including the login hook's and
 * retries. */
struct sync_http_stats {
    int64_t requests;            /* transfers attempted                  */
    int64_t retries;             /* of them, repeats after a failure     */
    int64_t logins;              /* calls of the login hook              */
    int64_t bytes_down_wire;     /* response headers + bodies as received */
    int64_t bytes_up_wire;       /* request headers + bodies as sent     */
    int64_t bytes_down_body;     /* decoded response bodies              */
};

void sync_http_stats(const struct sync_http *h, struct sync_http_stats *out);

/* ---- helpers (no network) ---------------------------------------------- */

/* The one mapping from an HTTP status to a result code:
 *   2xx, 304 -> PLAT_OK                 401, 403 -> ERR_AUTH
 *   404 -> ERR_NOTFOUND                 429, 502, 503, 504 -> ERR_RETRY
 *   413 -> ERR_TOOLARGE                 other 4xx -> ERR_INVALID
 *   anything else (500, other 3xx: redirects are not followed, 0...)
 *   -> ERR_GENERIC
 * Does not set a message. */
int sync_http_status_to_err(long status);

/* Map resp->status with sync_http_status_to_err(); when it is an error,
 * set the message "<what>: HTTP <status>: <server message>" (the message
 * from resp->error_text, or the default reader; when it is empty just
 * "<what>: HTTP <status>") and return the code. `what` names the
 * operation, e.g. "GET contact list"; it must not hold personal data. */
int sync_http_response_err(const struct sync_http_response *resp,
                           const char *what);

/* The server's message for `resp` through resp->error_text (or the
 * default reader), as a sync_http_error_text_fn. */
size_t sync_http_error_text(const struct sync_http_response *resp, char *out,
                            size_t n);

/* For a 2xx answer that should be JSON: ERR_INVALID with "<what>: HTTP
 * <status>: HTML page instead of JSON (...)" when the answer is an HTML page
 * (Content-Type text/html, or a body starting with "<!doctype" or "<html"),
 * as a captive portal or a proxy's login page gives; else PLAT_OK. */
int sync_http_check_json(const struct sync_http_response *resp,
                         const char *what);

/* Append `s` to `out`, percent-encoded for a query value or a path segment:
 * letters, digits and "-._~" stay, and so do "$", ":" and "," so that
 * nestjs-paginate tokens stay readable ("$in:a,b", "$gt:2025-...Z"); every
 * other byte becomes %XX ("+" -> %2B, " " -> %20, "&" -> %26, "/" ->
 * %2F). A value holding a comma cannot be used inside $in (121 splits on
 * commas). Errors: ERR_NOMEM, ERR_TOOLARGE (buffer cap). */
int sync_http_escape(struct plat_buf *out, const char *s);

/* One text field of a multipart form. */
struct sync_http_form_field {
    const char *name;
    const char *value;
};

/* Build a multipart/form-data body with the file part "file" (filename
 * `filename`, which must end in ".csv", Content-Type text/csv, content
 * `csv`) followed by `n_fields` text fields (e.g. {"reason", "..."}).
 * `out` (initialised by the caller) receives the body; `content_type`
 * receives "multipart/form-data; boundary=..." for sync_http_request().
 * Errors: ERR_INVALID (bad file name, or a name/file name with a quote,
 * CR or LF), ERR_NOMEM, ERR_TOOLARGE (buffer cap); `out` is then empty. */
#define SYNC_HTTP_CONTENT_TYPE_SIZE 96
int sync_http_multipart_csv(struct plat_buf *out,
                            char content_type[SYNC_HTTP_CONTENT_TYPE_SIZE],
                            const char *filename, const void *csv,
                            size_t csv_len,
                            const struct sync_http_form_field *fields,
                            size_t n_fields);

/* Full-jitter backoff: a uniformly random delay in
 * [0, min(cap_ms, base_ms * 2^attempt)] milliseconds, attempt from 0. The
 * engine can use it for its own scheduling too. */
int64_t sync_http_backoff_ms(int64_t base_ms, int64_t cap_ms, int attempt);

#endif
