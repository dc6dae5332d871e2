/* SPDX-License-Identifier: MIT */
/*
 * sync_http.h - the HTTP client of the agent (the only code that uses curl).
 *
 * One `struct sync_http` wraps one curl easy handle that is reused for every
 * request, so the connection to the server is kept alive between requests.
 * It owns TLS settings (verification is always on), proxies, timeouts, gzip
 * in both directions, the response size cap, the 121 login cookie and the
 * retry policy:
 *
 *   - retried, with capped exponential backoff and full jitter, up to
 *     max_attempts: network errors (resolve, connect, TLS handshake,
 *     timeouts, reset or cut connections, a gzip body cut short), 429, 502,
 *     503, 504 (a Retry-After in seconds or as a date is honoured, capped at
 *     backoff_cap_ms). When the attempts are used up the call fails with
 *     ERR_RETRY. Note that a POST whose answer was lost is sent again: the
 *     caller's writes must be safe to repeat (121 refuses a duplicate
 *     referenceId);
 *   - 401 on any request but the login: log in once more and repeat the
 *     request once; a second 401 fails with ERR_AUTH;
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
    const char *base_url;        /* "https://121.example.org", required  */
    const char *service_name;    /* name in messages; default "121"      */

    const char *ca_file;         /* PEM CA bundle; default: system store */
    const char *pinned_pubkey;   /* curl syntax: "sha256//<base64>" or a
                                    PEM/DER public key file; optional    */
    const char *proxy;           /* NULL: curl's environment handling
                                    (https_proxy, no_proxy...); "": no
                                    proxy at all; else the proxy URL     */

    long connect_timeout_ms;     /* default 15000                        */
    long low_speed_limit;        /* abort below this many bytes/s ...    */
    long low_speed_time_s;       /* ... for this long; default 100 B/s
                                    for 60 s                             */
    size_t max_response;         /* decoded body cap, default 64 MiB;
                                    over it: ERR_TOOLARGE                */
    size_t gzip_request_threshold; /* gzip JSON request bodies longer
                                    than this, default 4096; SIZE_MAX
                                    turns it off                         */
    int max_attempts;            /* tries per request, default 5         */
    long backoff_base_ms;        /* default 500                          */
    long backoff_cap_ms;         /* default 30000                        */

    const char *user;            /* 121 login; NULL: never log in        */
    const char *password;        /* copied, wiped on destroy             */

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
};

#define SYNC_HTTP_OPTIONS_INIT { .version = SYNC_HTTP_OPTIONS_VERSION }

/* Create a client. Strings in `opt` are copied (the password is wiped from
 * memory on destroy). On success *out is owned by the caller and freed with
 * sync_http_destroy(). Nothing is sent yet.
 * Errors: ERR_CONFIG (no base_url, not http(s), wrong version, bad
 * option), ERR_NOMEM, ERR_GENERIC (curl failed to initialise). */
int sync_http_create(struct sync_http **out,
                     const struct sync_http_options *opt);

/* Close the connection and free everything; NULL is a no-op. */
void sync_http_destroy(struct sync_http *h);

/* Log in to 121: POST /api/users/login {"username","password"}; on 201
 * keep access_token_general (from the JSON body, else from Set-Cookie) and
 * send it as "Cookie: access_token_general=<jwt>" on every later request.
 * sync_http_request() calls this by itself when there is no token yet, so
 * calling it is optional. Retried like any request.
 * Errors: ERR_AUTH (401: "121 login failed for user U: wrong user name or
 * password"; 403), ERR_CONFIG (no user/password configured), ERR_INVALID
 * (other 4xx, or a 201 without a token), ERR_RETRY, ERR_GENERIC. */
int sync_http_login(struct sync_http *h);

/* Forget the session token (the next request logs in again). */
void sync_http_logout_local(struct sync_http *h);

struct sync_http_response {
    long status;                 /* HTTP status of the answer; 0: none   */
    struct plat_buf body;        /* decoded body, NUL-terminated; owned  */
    char etag[128];              /* ETag of the answer; "" if none or
                                    longer than the buffer              */
    char content_type[128];      /* Content-Type; "" if none or too long */
    double retry_after_s;        /* Retry-After of the answer; 0 if none */
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
 * Logs in first when a user is configured and there is no token yet.
 * Returns PLAT_OK whenever the server gave a final answer (check
 * resp->status). Errors: ERR_RETRY (network, 429/502/503/504 after all
 * attempts, cancelled), ERR_AUTH (401 again after a new login, or the login
 * failed), ERR_TOOLARGE (answer over max_response), ERR_INVALID (bad
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

/* Free the body of a response (the struct itself is the caller's). Safe on
 * a response that a failed call left empty; safe to call twice. */
void sync_http_response_dispose(struct sync_http_response *r);

/* Counters since create; all requests, including logins and retries. */
struct sync_http_stats {
    int64_t requests;            /* transfers attempted                  */
    int64_t retries;             /* of them, repeats after a failure     */
    int64_t logins;              /* login requests sent                  */
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
 * set the message "<what>: HTTP <status>: <server message>" and return the
 * code. `what` names the operation, e.g. "121 PATCH registration ref-1";
 * it must not hold personal data. */
int sync_http_response_err(const struct sync_http_response *resp,
                           const char *what);

/* Put the server's message from a 121 error body (shapes A-G of contract
 * 0.4: {"statusCode","message"} with a string or an array of DTO errors,
 * {"errors": string|object|array}, a raw array of {"error",
 * "referenceId","lineNumber","column",...}) into `out` as one line of at
 * most out_size - 1 bytes (cut at a UTF-8 boundary, with "..."). DTO
 * errors give "property: constraint"; `target` and `value` (which echo the
 * request body) are never copied. A body that is not JSON gives its first
 * bytes with control characters replaced; an empty body gives "". Returns
 * the length written. */
size_t sync_http_error_message(const char *body, size_t len, char *out,
                               size_t out_size);

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
