/*
 * espo_config.c - the espocrm connector's [espocrm] section and mapping
 * file turned into the state of one cycle (struct espo_state), checked:
 * a bad value is ERR_CONFIG naming its key. See espo_connector.h.
 */
#include "espo_connector.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "sync_ctx.h"

#include <cjson/cJSON.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define ESPO_MAP_MAX ((size_t)1024 * 1024)

void espo_exit(void *state)
{
    struct espo_state *st = state;

    if (!st)
        return;
    espo_map_dispose(&st->map);
    cJSON_Delete(st->defaults);
    plat_free(st->entity);
    plat_free(st->ref_field);
    plat_free(st->select);
    plat_free(st);
}

static int conf_int(struct sync_ctx *ctx, const char *key, int dflt, int lo,
                    int hi, int *out)
{
    const char *v = sync_ctx_conf(ctx, key);
    char *end = NULL;
    long n;

    if (!v || !*v) {
        *out = dflt;
        return PLAT_OK;
    }
    n = strtol(v, &end, 10);
    if (*end || n < lo || n > hi)
        return plat_err_set(ERR_CONFIG, "[espocrm] %s must be %d-%d", key, lo,
                            hi);
    *out = (int)n;
    return PLAT_OK;
}

static int entity_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 100 || !isupper((unsigned char)*s))
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s))
            return 0;
    return 1;
}

/* Load and parse the mapping file named in the section. */
static int load_map(struct sync_ctx *ctx, struct espo_map *map)
{
    const char *path = sync_ctx_conf(ctx, "mapping");
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (!path || !*path)
        return plat_err_set(ERR_CONFIG, "[espocrm] mapping is not set");
    rc = plat_fs_read_file(path, ESPO_MAP_MAX, &text, &len);
    if (rc == ERR_NOTFOUND)
        return plat_err_set(ERR_CONFIG, "[espocrm] mapping %s does not "
                            "exist", path);
    if (rc != PLAT_OK)
        return rc;
    rc = espo_map_parse(text, map);
    plat_free(text);
    return rc;
}

/* The state without HTTP (also for espo_status). */
int espo_state_make(struct sync_ctx *ctx, struct espo_state **out)
{
    const char *entity = sync_ctx_conf(ctx, "entity");
    const char *ref = sync_ctx_conf(ctx, "reference_field");
    const char *nr = sync_ctx_conf(ctx, "new_records");
    struct espo_state *st;
    struct plat_buf b;
    char *saved = NULL;
    size_t i;
    int rc, page;

    *out = NULL;
    if (!entity_ok(entity))
        return plat_err_set(ERR_CONFIG, "[espocrm] entity must be an entity "
                            "type name such as Contact");
    if (!ref || !*ref)
        return plat_err_set(ERR_CONFIG, "[espocrm] reference_field is not "
                            "set");
    st = plat_calloc(1, sizeof(*st));
    if (!st)
        return plat_err_set(ERR_NOMEM, "out of memory");
    st->ctx = ctx;
    st->entity = plat_strdup(entity);
    st->ref_field = plat_strdup(ref);
    if (!st->entity || !st->ref_field) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((rc = conf_int(ctx, "page_size", ESPO_PAGE_MAX, ESPO_PAGE_MIN,
                       ESPO_PAGE_MAX, &st->page)) != PLAT_OK ||
        (rc = conf_int(ctx, "overlap_s", 5, 0, 86400, &st->overlap_s)) !=
            PLAT_OK)
        goto fail;
    if (nr && strcmp(nr, "ignore") != 0 && strcmp(nr, "report") != 0 &&
        strcmp(nr, "create") != 0) {
        rc = plat_err_set(ERR_CONFIG, "[espocrm] new_records must be ignore, "
                          "report or create");
        goto fail;
    }
    st->new_records = !nr || strcmp(nr, "ignore") == 0 ? 0
                      : strcmp(nr, "report") == 0 ? 1 : 2;
    if (st->new_records == 2) {
        const char *d = sync_ctx_conf(ctx, "create_defaults");

        if ((rc = conf_int(ctx, "program_id", 0, 1, 1000000000,
                           &st->program_id)) != PLAT_OK ||
            st->program_id <= 0) {
            rc = plat_err_set(ERR_CONFIG, "[espocrm] new_records = create "
                              "needs program_id");
            goto fail;
        }
        if (d && *d && !cJSON_IsObject(st->defaults = cJSON_Parse(d))) {
            rc = plat_err_set(ERR_CONFIG, "[espocrm] create_defaults must be "
                              "a JSON object");
            goto fail;
        }
    }
    {
        const char *del = sync_ctx_conf(ctx, "deleted");
        if (del && strcmp(del, "ignore") != 0 &&
            strcmp(del, "report") != 0 && strcmp(del, "status") != 0) {
            rc = plat_err_set(ERR_CONFIG, "[espocrm] deleted must be "
                              "ignore, report or status");
            goto fail;
        }
        st->report_deleted = !del || strcmp(del, "ignore") != 0;
        st->status_deleted = del && strcmp(del, "status") == 0;
    }
    {
        const char *ce = sync_ctx_conf(ctx, "create_in_espocrm");

        st->create_in_espo = ce && strcmp(ce, "true") == 0;
        if (st->create_in_espo &&
            ((rc = conf_int(ctx, "program_id", 0, 1, 1000000000,
                            &st->create_pid)) != PLAT_OK ||
             st->create_pid <= 0)) {
            rc = plat_err_set(ERR_CONFIG, "[espocrm] create_in_espocrm "
                              "needs program_id");
            goto fail;
        }
    }
    if ((rc = conf_int(ctx, "reconcile_hours", 24, 0, 24 * 365,
                       &st->reconcile_h)) != PLAT_OK)
        goto fail;
    /* a page size lowered after a maxSize refusal is remembered */
    if (sync_state_get(ctx, "page_size", &saved) == PLAT_OK) {
        page = atoi(saved);
        if (page >= ESPO_PAGE_MIN && page < st->page)
            st->page = page;
    }
    plat_free(saved);
    plat_err_clear();
    if ((rc = load_map(ctx, &st->map)) != PLAT_OK)
        goto fail;
    plat_buf_init(&b, 0);
    rc = plat_buf_printf(&b, "id,modifiedAt,versionNumber,%s", ref);
    for (i = 0; rc == PLAT_OK && i < st->map.n; i++)
        rc = plat_buf_printf(&b, ",%s", st->map.v[i].espo);
    if (rc != PLAT_OK) {
        plat_buf_dispose(&b);
        goto fail;
    }
    st->select = b.data;   /* taken over from the buffer */
    *out = st;
    return PLAT_OK;
fail:
    espo_exit(st);
    return rc;
}
