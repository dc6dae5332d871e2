/*
 * serve.h - `agent serve`: the 121 API and a dashboard answered from the
 * local store, so that tools written for the online 121 service (kobo-
 * connect, dashboards, scripts) work on the device with no link to 121.
 *
 * One HTTP server (GNU libmicrohttpd, its own threads) per process, used by
 * `agent serve` and by `agent daemon --serve`. It reads the store through
 * a small pool of its own SQLite connections (WAL: a read never waits for
 * a running sync, and a sync never waits for a read); writes go through
 * the same store functions as the CLI (each write and its outbox entry one
 * transaction).
 *
 * Listening: loopback addresses only, unless a TLS certificate and key are
 * given (then any address; libmicrohttpd's GnuTLS). A non-loopback address
 * without TLS is ERR_CONFIG. Bounded: connections (max_connections), a
 * request body (SERVE_BODY_MAX, larger: 413), an idle or slow connection
 * (SERVE_TIMEOUT_S).
 *
 * Ownership: serve_start copies what it needs from `opt`; serve_stop
 * frees everything. Errors: ERR_CONFIG (address, TLS files), ERR_IO
 * (cannot listen, port taken), ERR_NOMEM.
 */
#ifndef AGENT_SERVE_H
#define AGENT_SERVE_H

#include "store_crypt.h"

#include <stddef.h>
#include <stdint.h>

#define SERVE_DEFAULT_LISTEN "127.0.0.1:8121"
#define SERVE_BODY_MAX (4u * 1024u * 1024u) /* bytes per request body    */
#define SERVE_TIMEOUT_S 30                  /* idle or slow connection   */
#define SERVE_THREADS 4                     /* request threads            */

struct serve;

struct serve_options {
    const char *listen;        /* "HOST:PORT" (IPv4 or [IPv6]); port 0 = any */
    const char *tls_cert;      /* PEM file, or NULL/"" for plain HTTP        */
    const char *tls_key;       /* PEM file, or NULL/""                       */
    int max_connections;       /* > 0                                        */
    const char *store_path;    /* the store to answer from                   */
    int store_sync_full;       /* store.synchronous                          */
    int store_encrypted;       /* 1: open the store with store_key           */
    uint8_t store_key[STORE_KEY_LEN]; /* its data key (copied; the caller
                                  wipes its own, serve_stop wipes the copy)  */
    int program_id;            /* the configured program (dashboard)         */
    const char *user;          /* the configured 121 user (login name)       */
    const char *const *sources;/* names of the compiled-in sources, NULL-ended
                                  (last sync per source); borrowed for life  */
};

/* Start listening; *out owned by the caller (serve_stop). */
int serve_start(struct serve **out, const struct serve_options *opt);

/* The port actually bound (useful with port 0). */
int serve_port(const struct serve *s);

/* Stop listening, finish the requests in progress, free everything. */
void serve_stop(struct serve *s);

/* The stored local password (agent_state SERVE_PASSWORD_KEY): a salted
 * PBKDF2-HMAC-SHA256 hash, "pbkdf2-sha256$ITER$SALTHEX$HASHHEX". */
#define SERVE_PASSWORD_KEY "serve.password"
struct store;
/* Hash `password` with a new random salt into *out (allocated). */
int serve_password_hash(const char *password, char **out);
/* 1 if `password` matches `stored`, 0 if not (or `stored` is malformed). */
int serve_password_check(const char *stored, const char *password);

#endif
