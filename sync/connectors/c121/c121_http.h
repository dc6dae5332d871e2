/* SPDX-License-Identifier: MIT */
/*
 * c121_http.h - what the HTTP client (sync_http.h, which knows no server)
 * needs to talk to 121: the login hook and the reader of 121 error bodies.
 *
 * Login (contract 0.4): POST /api/users/login {"username","password"}.
 * 201 sets the session cookie (named in c121_http.c), which the client's
 * cookie engine keeps and sends back; when the cookie did not take (e.g. a
 * cookie domain the client refuses), the token of the JSON body is stored
 * as that cookie instead. A 401 on any later request logs in once more
 * (the client's policy, see sync_http_set_auth).
 *
 * Errors follow plat_err.h: PLAT_OK or a negative ERR_* with a one-line
 * message. Messages may name the user (as configured) but never hold the
 * password, the token or a request body.
 */
#ifndef C121_HTTP_H
#define C121_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct sync_http;

/* Install on `h` the 121 login hook for `user`/`password` (both copied; the
 * copies are wiped and freed when the hook is replaced or `h` destroyed)
 * and the 121 error-text hook (c121_error_message; a 2xx HTML page gets
 * the transport's "HTML page instead of JSON" text). Nothing is sent: the
 * first request logs in, or call sync_http_auth_login(h) to find a wrong
 * password early. The login hook's errors: ERR_AUTH (401: "121 login
 * failed for user U: wrong user name or password"; 403), ERR_INVALID
 * (other 4xx, or a 201 without a session token), ERR_RETRY, ERR_GENERIC,
 * ERR_NOMEM.
 * Errors of the call: ERR_CONFIG (no user or password), ERR_NOMEM. */
int c121_http_install(struct sync_http *h, const char *user,
                      const char *password);

/* The moment of the last login on the server's clock, in ms since the
 * epoch: the login answer's `expires` minus the token's fixed 33 h
 * lifetime (the same moment GET /api/users/current gives, one round trip
 * less). Returns 1 with *ms_out set, or 0 (*ms_out = 0) when the c121
 * login hook is not installed on `h`, has not logged in, or the answer
 * had no readable `expires`. */
int c121_http_login_time(struct sync_http *h, int64_t *ms_out);

/* The error-text hook c121_http_install installs (a
 * sync_http_error_text_fn): c121_error_message for a non-2xx answer, the
 * transport's default reader for a 2xx one. */
size_t c121_http_error_text(long status, const char *body, size_t len,
                            char *out, size_t n);

/* Put the server's message from a 121 error body (shapes A-G of contract
 * 0.4: {"statusCode","message"} with a string or an array of DTO errors,
 * {"errors": string|object|array}, a raw array of {"error",
 * "referenceId","lineNumber","column",...}) into `out` as one line of at
 * most out_size - 1 bytes (cut at a UTF-8 boundary, with "..."). DTO
 * errors give "property: constraint"; `target` and `value` (which echo the
 * request body) are never copied. A body that is not JSON gives its first
 * bytes with control characters replaced; an empty body gives "". Returns
 * the length written. */
size_t c121_error_message(const char *body, size_t len, char *out,
                          size_t out_size);

#endif
