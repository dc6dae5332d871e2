/*
 * serve_internal.h - what the files of agent/serve/ share: one request,
 * one response, the store pool, the session table, and the handlers.
 *
 * A handler gets a parsed request (method, path segments, query pairs in
 * order, body) and a store connection of its own for the call, and fills a
 * response (status, body bytes, content type, extra headers). Bodies are
 * plat_buf (owned by the response until sent). Handlers never log values
 * of people's data: referenceIds only.
 */
#ifndef AGENT_SERVE_INTERNAL_H
#define AGENT_SERVE_INTERNAL_H

#include "serve.h"

#include "plat_buf.h"

#include <pthread.h>
#include <stdint.h>

struct cJSON;
struct store;

#define SRV_MAX_SEGS 12
#define SRV_MAX_PAIRS 64
#define SRV_SESSIONS 256   /* sessions kept (the newest)            */
#define SRV_TOKEN_HEX 64
#define SRV_TOKEN_TTL_MS (33LL * 3600 * 1000) /* 121's fixed lifetime */

struct srv_pair {
    char *key;
    char *value;
};

struct serve {
    struct MHD_Daemon *mhd;
    int port;
    int tls;
    char *store_path;
    int store_sync_full;
    int store_encrypted;
    uint8_t store_key[STORE_KEY_LEN]; /* wiped by serve_stop             */
    int program_id;
    char *user;                      /* lowercased                       */
    const char *const *sources;
    /* store connections, opened on first use, one per request in flight */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct store *pool[SERVE_THREADS];
    int pool_busy[SERVE_THREADS];
    /* login throttle (sessions are in the store: store_sessions.h) */
    int64_t login_window_ms;         /* throttle: start of the minute   */
    int login_count;
    char *cert_pem, *key_pem;
};

struct srv_req {
    struct serve *srv;
    struct store *st;
    const char *method;
    char *segs[SRV_MAX_SEGS];        /* path split on '/', unescaped     */
    int nsegs;
    struct srv_pair pairs[SRV_MAX_PAIRS];
    int npairs;
    const char *body;
    size_t body_len;
    const char *host;                /* Host header, for paging links    */
    const char *path;                /* the path as asked (no query)     */
    const char *cookie;              /* Cookie header, or NULL           */
    int authed;
};

struct srv_resp {
    int status;
    struct plat_buf body;
    const char *ctype;               /* static                           */
    char *set_cookie;                /* allocated, or NULL               */
    int no_body;                     /* 200 with an empty body           */
};

/* ---- responses ---------------------------------------------------------- */
/* Body = JSON text of `v` (not consumed). */
int srv_json(struct srv_resp *r, int status, const struct cJSON *v);
/* Body = `v`, then cJSON_Delete(v) (NULL v: out of memory, 500). */
int srv_json_take(struct srv_resp *r, int status, struct cJSON *v);
/* 121's shape A: {"statusCode":N,"message":"..."}. */
int srv_error(struct srv_resp *r, int status, const char *message);
/* 121's shape B: {"errors":"..."}. */
int srv_errors(struct srv_resp *r, int status, const char *message);
/* 121's shape D: one class-validator failure on `property` of `target`. */
int srv_error_d(struct srv_resp *r, const struct cJSON *target,
                const char *property, const struct cJSON *value,
                const char *constraint, const char *message);
/* 500 shape G after a store error (the message is logged, not sent). */
int srv_internal(struct srv_resp *r, int rc);

/* ---- request helpers ---------------------------------------------------- */
/* First value of query key `k`, or NULL. */
const char *srv_q(const struct srv_req *q, const char *k);
/* Parse the JSON body; on failure the response is filled (400) and NULL
 * returned. */
struct cJSON *srv_body_json(const struct srv_req *q, struct srv_resp *r);
/* A path segment as a program id; fills 400 shape E when not numeric. */
int srv_seg_int(const char *seg, struct srv_resp *r, int *out);

/* ---- the store pool ----------------------------------------------------- */
int srv_store_get(struct serve *s, struct store **out);
void srv_store_put(struct serve *s, struct store *st);

/* ---- auth (serve_auth.c) ------------------------------------------------ */
/* 1 if the request's cookie access_token_general names a live session
 * (its token's hash kept in the store, not expired). */
int srv_authed(struct store *st, const char *cookie_header);
int srv_login(struct srv_req *q, struct srv_resp *r);
int srv_logout(struct srv_req *q, struct srv_resp *r);
int srv_current(struct srv_req *q, struct srv_resp *r);
int srv_users(struct srv_req *q, struct srv_resp *r);

/* ---- query: filters, sort, paging (serve_query.c) ----------------------- */
enum srv_col_kind { SRV_COL_STRING, SRV_COL_NUMBER, SRV_COL_DATE };

struct srv_col {
    const char *name;
    enum srv_col_kind kind;
    const char *json_key;  /* key in the row object (NULL: name)          */
    const char *sub_key;   /* nested key (label.en), or NULL              */
};

struct srv_filter; /* parsed filter.* pairs */

/* Parse the filter.* pairs against the columns: known columns `cols`
 * (n) plus `extra` string columns (custom attributes, may be NULL).
 * Unknown columns and disallowed operators are dropped, as 121 does;
 * *dropped_out (may be NULL) counts them. */
int srv_filter_parse(const struct srv_req *q, const struct srv_col *cols,
                     size_t n, const struct cJSON *extra,
                     struct srv_filter **out, int *dropped_out);
void srv_filter_free(struct srv_filter *f);
/* 1 if row matches (no entries: 1). */
int srv_filter_match(const struct srv_filter *f, const struct cJSON *row);
/* The values of an AND-ed referenceId $eq/$in filter (NULL: none). The
 * array is owned by `f`. */
const char *const *srv_filter_refs(const struct srv_filter *f, int *n);

struct srv_page {
    int page;
    int limit;          /* -1 all, 0 counts only, > 0 page size         */
    char sort_col[64];
    int sort_desc;
};
/* page, limit (default `dflt`), sortBy (one column of `cols`/extra; the
 * default is id:ASC). 400 when more than one sortBy (registrations). */
int srv_page_parse(const struct srv_req *q, const struct srv_col *cols,
                   size_t n, const struct cJSON *extra, int dflt,
                   struct srv_page *out);
/* Sort rows (array of objects) in place by the page's column. */
void srv_sort_rows(struct cJSON **rows, size_t n, const struct srv_page *p,
                   const struct srv_col *cols, size_t ncols);
/* {"data":[rows start..stop],"meta":...,"links":...} as 121 (nestjs-
 * paginate) builds it. `texts` (may be NULL): the JSON text of each row to
 * copy as is (faster than printing); `select` limits the keys. */
int srv_paginate(struct srv_resp *r, const struct srv_req *q,
                 const struct srv_page *pg, const struct srv_filter *f,
                 struct cJSON **rows, char **texts, size_t total);

/* Pieces of srv_paginate for a page streamed without parsing its rows:
 * 1 if row i (0-based, in order) is on the page; the closing
 * `],"meta":...,"links":...}` for `n_items` rows of `total`. */
int srv_page_wants(const struct srv_page *pg, size_t i);
int srv_page_tail(struct plat_buf *b, const struct srv_req *q,
                  const struct srv_page *pg, size_t total, size_t n_items);
/* 1 when no filter entry is left (none given, or all dropped). */
int srv_filter_empty(const struct srv_filter *f);

/* ---- handlers ----------------------------------------------------------- */
int srv_h_program(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_fsp_configs(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_templates(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_registrations(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_registration(struct srv_req *q, struct srv_resp *r, int pid,
                       const char *id);
int srv_h_activities(struct srv_req *q, struct srv_resp *r, int pid,
                     const char *id);
int srv_h_events(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_payments(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_payment(struct srv_req *q, struct srv_resp *r, int pid,
                  const char *id);
int srv_h_transactions(struct srv_req *q, struct srv_resp *r, int pid,
                       const char *payid);
int srv_h_program_transactions(struct srv_req *q, struct srv_resp *r,
                               int pid);
int srv_h_export(struct srv_req *q, struct srv_resp *r, int pid,
                 const char *type);
int srv_h_stats(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_voucher(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_post_registrations(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_patch_registration(struct srv_req *q, struct srv_resp *r, int pid,
                             const char *ref);
int srv_h_patch_status(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_dashboard(struct srv_req *q, struct srv_resp *r);
int srv_h_exchange_rates(struct srv_req *q, struct srv_resp *r);
/* distribution-day writes (serve_dist.c) */
int srv_h_post_message(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_patch_attribute(struct srv_req *q, struct srv_resp *r, int pid,
                          const char *name);
int srv_h_post_template(struct srv_req *q, struct srv_resp *r, int pid);
int srv_h_patch_template(struct srv_req *q, struct srv_resp *r, int pid,
                         const char *type, const char *lang);
int srv_h_post_recon(struct srv_req *q, struct srv_resp *r, int pid,
                     const char *payid);

/* Rows of the registrations of `pid` (local views) matching `f`, deleted
 * ones left out unless `with_deleted`; each row a parsed object, and (when
 * texts_out is not NULL) its JSON text. Arrays owned by the caller
 * (srv_rows_free). Sorted by 121 id (rows made on the device last). */
int srv_reg_rows(struct store *st, int pid, const struct srv_filter *f,
                 int with_deleted, struct cJSON ***rows_out,
                 char ***texts_out, size_t *n_out);
void srv_rows_free(struct cJSON **rows, char **texts, size_t n);
/* The registrations of `pid` a bulk write applies to, chosen by the
 * request's filter.* parameters (local views, deleted ones left out). A
 * filter value that does not fit its column, or a filter 121 would drop
 * (unknown column or operator), is answered with 400 in `r`: 121 would then
 * apply the write to the whole program, so the device refuses instead;
 * `what` names the write in that message ("message", "change"). Returns 1
 * when `r` holds that answer, PLAT_OK with the rows in *rows_out
 * (srv_rows_free), or an error. */
int srv_bulk_rows(struct srv_req *q, struct srv_resp *r, int pid,
                  const char *what, struct cJSON ***rows_out, size_t *n_out);
/* Rows parsed from stored JSON texts (serve_read.c): `f` filters them,
 * keep_texts keeps each row's text beside it. */
struct srv_rows {
    struct cJSON **rows;
    char **texts;
    size_t n, alloc;
    const struct srv_filter *f;
    int keep_texts;
};

/* Transactions of one registration (ref), or filtered by r.f. */
struct srv_tx_rows {
    struct srv_rows r;
    const char *ref;      /* only this registration's, or NULL */
};

int srv_rows_add(struct srv_rows *r, struct cJSON *row, const char *text,
                 size_t len);
/* store_json_cb: parse, filter (payload: struct srv_rows). */
int srv_collect(const char *json, size_t len, void *payload);
/* store_json_cb for transactions (payload: struct srv_tx_rows). */
int srv_collect_tx(const char *json, size_t len, void *payload);
/* dst[as or key] = copy of src[key], when src has it. */
void srv_copy_key(struct cJSON *dst, const struct cJSON *src,
                  const char *key, const char *as);
/* The stored program in *out, or (not stored) 403 like 121's permission
 * check filled in `r` and ERR_NOTFOUND returned. */
int srv_program_or_403(struct srv_req *q, struct srv_resp *r, int pid,
                       struct cJSON **out);
/* 400 shape D naming query parameter `prop` (class-validator style). */
int srv_query_error(struct srv_req *q, struct srv_resp *r, const char *prop,
                    const char *cons, const char *msg);

/* Registration columns (contract 3.3). */
extern const struct srv_col srv_reg_cols[];
extern const size_t srv_reg_ncols;
/* The program's custom attribute names as a cJSON array of strings (new),
 * from the stored program; an empty array when none is stored. */
struct cJSON *srv_attr_names(struct store *st, int pid);

#endif
