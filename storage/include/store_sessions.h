/*
 * store_sessions.h - the login sessions of `agent serve`, kept in the store
 * so that a restart of the server (or of the daemon serving it) does not
 * log every tool out, and so that `agent serve` and `agent daemon --serve`
 * on the same store accept the same cookies.
 *
 * Only a hash of each token is stored (the caller hashes: SHA-256 of the
 * 256-bit random token, hex), never the token: a copy of the store gives
 * no session. Sessions live in agent_state under "serve.session.<hash>"
 * with their expiry (wall ms) as the value: no schema change.
 *
 * Errors: ERR_INVALID (hash not 64 hex digits), ERR_IO from SQLite.
 */
#ifndef STORE_SESSIONS_H
#define STORE_SESSIONS_H

#include <stdint.h>

struct store;

#define STORE_SESSION_HASH_HEX 64

/* Keep a new session until expires_ms; in the same transaction drop the
 * expired ones (as of now_ms) and all but the newest `keep`. */
int store_session_put(struct store *s, const char *hash_hex,
                      int64_t expires_ms, int64_t now_ms, int keep);

/* 1 when the session is kept and not expired at now_ms, else 0; < 0 on a
 * store error. */
int store_session_live(struct store *s, const char *hash_hex, int64_t now_ms);

/* Forget a session (logout); PLAT_OK when there was none. */
int store_session_drop(struct store *s, const char *hash_hex);

#endif
