/*
 * espo.h - the EspoCRM connector's pure helpers (no network, no store):
 * the mapping file, value conversion and comparison between EspoCRM and
 * 121, HMAC signing, EspoCRM times, list queries, and the per-record
 * "last seen" state. Design: README.md; the wire contract:
 * shared/contracts/espocrm-api.md. Unit-tested in
 * tests/unit/test_espocrm.c.
 *
 * Errors follow plat_err.h; messages name attributes, never a value.
 * Memory: what is returned through an `out` pointer is the caller's.
 */
#ifndef ESPO_H
#define ESPO_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct plat_buf;
struct sync_ctx;

#define ESPO_PAGE_MAX 200       /* EspoCRM's recordListMaxSizeLimit default */
#define ESPO_PAGE_MIN 5         /* a maxSize refusal never goes below this  */
#define ESPO_TIME_LEN 20        /* "YYYY-MM-DD HH:MM:SS" + NUL              */

/* ---- mapping file ------------------------------------------------------- */

enum espo_dir {
    ESPO_DIR_BOTH = 0,          /* "both"                                   */
    ESPO_DIR_TO_121 = 1,        /* "espo-to-121"                            */
    ESPO_DIR_FROM_121 = 2       /* "121-to-espo"                            */
};

enum espo_type {
    ESPO_TYPE_TEXT = 0,         /* compared as text (null equals "")        */
    ESPO_TYPE_PHONE = 1,        /* compared by digits; sent as given        */
    ESPO_TYPE_NUMBER = 2        /* 121 text "4" <-> EspoCRM number 4        */
};

/* One mapped attribute. `values` maps a 121 value to an EspoCRM option
 * key (an enum / dropdown); NULL when the attribute is not an enum. */
struct espo_field {
    char *espo;                 /* EspoCRM attribute, e.g. "cDistrict"      */
    char *f121;                 /* 121 attribute, e.g. "district"           */
    int dir;                    /* enum espo_dir                            */
    int type;                   /* enum espo_type                           */
    struct cJSON *values;       /* {"<121 value>": "<option key>"} or NULL  */
};

struct espo_map {
    struct espo_field *v;
    size_t n;
};

/* Parse the mapping file's text: a JSON object whose keys are EspoCRM
 * attributes and whose values are either the 121 attribute (both
 * directions) or an object {"field": 121 attribute, "direction": "both" |
 * "espo-to-121" | "121-to-espo", "type": "text" | "phone" | "number",
 * "values": {"<121 value>": "<option key>"}}. An EspoCRM attribute named
 * phoneNumber is of type phone unless given. ERR_CONFIG naming the
 * attribute at fault (a 121 attribute mapped twice, a reserved one such as
 * referenceId or status, a bad direction or type, values not strings). */
int espo_map_parse(const char *text, struct espo_map *out);
void espo_map_dispose(struct espo_map *m);

/* Check the 121 attributes of `m` against a stored 121 program (its
 * programRegistrationAttributes, plus the fixed ones such as
 * preferredLanguage): ERR_CONFIG naming the first unknown one, and an
 * enum value that is not an option of a dropdown attribute. */
int espo_map_check_program(const struct espo_map *m,
                           const struct cJSON *program);

/* ---- values ------------------------------------------------------------- */

/* The 121 form of an EspoCRM value of `f` (new object): enum option keys
 * back to 121 values, numbers as text, null stays null. */
struct cJSON *espo_to_121(const struct espo_field *f,
                          const struct cJSON *espo_value);

/* The EspoCRM form of a 121 value of `f` (new object). */
struct cJSON *espo_from_121(const struct espo_field *f,
                            const struct cJSON *value_121);

/* 1 when two 121-form values of `f` are the same (text; phone numbers
 * by their digits, a leading "00" or "+" ignored; null equals ""). */
int espo_same(const struct espo_field *f, const struct cJSON *a,
              const struct cJSON *b);

/* ---- authentication ----------------------------------------------------- */

/* The path EspoCRM signs for `path_and_query` (what follows "/api/v1",
 * without the query), into out (n bytes): "/api/v1/Contact?maxSize=5" ->
 * "/Contact". ERR_INVALID when it does not fit or lacks "/api/v1". */
int espo_sign_path(const char *path_and_query, char *out, size_t n);

/* The value of X-Hmac-Authorization: base64(api_key ":" digest), digest
 * = HMAC-SHA256(secret, METHOD " " signed path) in lower-case hex, or the
 * raw 32 bytes when `raw` (servers before 8.4.1). Into out (n bytes). */
int espo_hmac_value(const char *api_key, const char *secret,
                    const char *method, const char *path_and_query, int raw,
                    char *out, size_t n);

/* ---- times and queries -------------------------------------------------- */

/* "YYYY-MM-DD HH:MM:SS" (UTC) <-> seconds since the epoch. Parse:
 * ERR_INVALID for any other form. */
int espo_time_parse(const char *text, int64_t *out);
void espo_time_format(int64_t t, char out[ESPO_TIME_LEN]);

/* Append the query of one list page to `out` (after "?"): maxSize,
 * offset, orderBy=modifiedAt, order=asc, select, and where[0] with
 * greaterThanOrEquals `since` when since is not NULL (bracket encoding). */
int espo_list_query(struct plat_buf *out, const char *select, int max_size,
                    int64_t offset, const char *since);

/* ---- last seen ------------------------------------------------------------ */

/* What the agent last saw of one linked record, kept as the remote
 * version of its remote id ("record", EspoCRM id): {"m": modifiedAt, "v":
 * versionNumber (absent without optimistic concurrency), "d": 1 when
 * EspoCRM no longer shows it (deleted), "e": {EspoCRM
 * attribute: value}, "p": {121 attribute: value queued for 121 and not
 * seen there yet}}. */
struct espo_seen {
    char m[ESPO_TIME_LEN];
    int64_t v;                  /* -1: none                                 */
    int deleted;                /* "d": 1 once EspoCRM no longer shows it  */
    struct cJSON *e;            /* object, never NULL after parse           */
    struct cJSON *p;            /* object, never NULL after parse           */
};

/* qsort comparator of two `char *` (strcmp order): sorts the arrays
 * espo_id_in searches. */
int espo_cmp_str(const void *a, const void *b);

/* 1 when `id` is in the sorted array `ids` (n strings, strcmp order). */
int espo_id_in(const char *const *ids, size_t n, const char *id);

/* Parse `text` (NULL or "": empty). ERR_INVALID for malformed text. */
int espo_seen_parse(const char *text, struct espo_seen *out);
/* The compact JSON text (plat_free). NULL when out of memory. */
char *espo_seen_format(const struct espo_seen *s);
void espo_seen_dispose(struct espo_seen *s);

/* ---- status (for `agent espocrm status`) --------------------------------- */

/* Counts over the linked records, through the engine's services (a
 * context made with sync_ctx_create over the [espocrm] section):
 * {"linked", "pending_to_espocrm" (records whose 121 values differ from
 * what EspoCRM last showed), "pending_to_121" (records with EspoCRM
 * changes not yet seen in 121), "cursor", "page_size", "unlinked"}. */
int espo_status(struct sync_ctx *ctx, struct cJSON **out);

#endif
