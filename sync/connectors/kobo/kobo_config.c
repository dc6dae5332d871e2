/*
 * kobo_config.c - the kobo connector's [kobo] section turned into the
 * state of one cycle (struct kobo_state: forms, their mapping files,
 * page size, attachments) and the token hook that signs every request
 * to the kpi host. See kobo_connector.h.
 */
#include "kobo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "sync_ctx.h"
#include "sync_http.h"

#include <cjson/cJSON.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KOBO_PAGE_DEFAULT 1000
#define KOBO_MAPPING_MAX ((size_t)1 << 20)

void kobo_exit(void *state)
{
    struct kobo_state *st = state;

    if (!st)
        return;
    for (size_t i = 0; i < st->n_forms; i++) {
        plat_free(st->forms[i].asset);
        plat_free(st->forms[i].mapping_path);
        kobo_mapping_free(st->forms[i].map);
        kobo_media_free(&st->forms[i].media);
    }
    kobo_att_conf_free(&st->att);
    plat_free(st->forms);
    plat_free(st->fsp);
    cJSON_Delete(st->rejected);
    plat_free(st);
}

/* The Authorization header (payload: the token, owned by the hook). */
static int kobo_headers(void *payload, const char *method,
                        const char *path_and_query,
                        sync_http_header_add_fn add, void *add_ctx)
{
    char line[600];
    int rc;

    (void)method;
    if ((size_t)snprintf(line, sizeof(line), "Authorization: Token %s",
                         (const char *)payload) >= sizeof(line))
        return plat_err_set(ERR_AUTH, "kobo: the token is too long");
    rc = add(add_ctx, line);
    memset(line, 0, sizeof(line));
    /* files are not JSON (the data and asset paths are) */
    if (rc == PLAT_OK && !strstr(path_and_query, "/attachments/") &&
        strncmp(path_and_query, "/media/", 7) != 0)
        rc = add(add_ctx, "Accept: application/json");
    return rc;
}

static void kobo_release(void *payload)
{
    char *t = payload;

    if (t) {
        memset(t, 0, strlen(t));
        plat_free(t);
    }
}

static int parse_pos_int(const char *s, int *out)
{
    char *end = NULL;
    long v;

    if (!s || !*s)
        return 0;
    v = strtol(s, &end, 10);
    if (*end || v <= 0 || v > 2147483647L)
        return 0;
    *out = (int)v;
    return 1;
}

static int load_mapping(struct kobo_form *f)
{
    char *text = NULL, why[KOBO_WHY_MAX];
    size_t len = 0;
    int rc;

    rc = plat_fs_read_file(f->mapping_path, KOBO_MAPPING_MAX, &text, &len);
    if (rc == ERR_NOTFOUND)
        return plat_err_set(ERR_CONFIG, "[kobo] mapping file %s does not "
                            "exist", f->mapping_path);
    if (rc != PLAT_OK)
        return rc;
    rc = kobo_mapping_parse(text, len, f->mapping_path, &f->map, why,
                            sizeof(why));
    plat_free(text);
    if (rc == ERR_INVALID)
        return plat_err_set(ERR_CONFIG, "%s", why);
    if (rc != PLAT_OK)
        return plat_err_set(rc, "%s", why);
    return PLAT_OK;
}

/* One entry of `assets`: UID[:PROGRAM[:MAPPING]]. */
static int add_form(struct kobo_state *st, struct sync_ctx *ctx,
                    const char *spec, size_t len)
{
    struct kobo_form *f = &st->forms[st->n_forms];
    const char *c1 = memchr(spec, ':', len), *c2;
    char prog[16];
    size_t ulen = c1 ? (size_t)(c1 - spec) : len;

    for (size_t i = 0; i < ulen; i++)
        if (!isalnum((unsigned char)spec[i]) && spec[i] != '_' &&
            spec[i] != '-')
            return plat_err_set(ERR_CONFIG, "[kobo] assets: an asset uid "
                                "holds only letters and digits");
    if (ulen == 0 || ulen > 64)
        return plat_err_set(ERR_CONFIG, "[kobo] assets: empty or too long "
                            "asset uid");
    f->asset = plat_strndup(spec, ulen);
    if (!f->asset)
        return plat_err_set(ERR_NOMEM, "out of memory");
    st->n_forms++;
    f->program_id = 0;
    parse_pos_int(sync_ctx_conf(ctx, "program_id"), &f->program_id);
    if (c1) {
        c2 = memchr(c1 + 1, ':', len - ulen - 1);
        size_t plen = c2 ? (size_t)(c2 - c1 - 1) : len - ulen - 1;

        if (plen >= sizeof(prog))
            return plat_err_set(ERR_CONFIG, "[kobo] assets: bad program of "
                                "form %s", f->asset);
        memcpy(prog, c1 + 1, plen);
        prog[plen] = '\0';
        if (plen && !parse_pos_int(prog, &f->program_id))
            return plat_err_set(ERR_CONFIG, "[kobo] assets: bad program of "
                                "form %s", f->asset);
        if (c2 && c2 + 1 < spec + len)
            f->mapping_path = plat_strndup(c2 + 1,
                                           (size_t)(spec + len - c2 - 1));
    }
    if (!f->mapping_path && sync_ctx_conf(ctx, "mapping") &&
        *sync_ctx_conf(ctx, "mapping"))
        f->mapping_path = plat_strdup(sync_ctx_conf(ctx, "mapping"));
    if (!f->mapping_path)
        return plat_err_set(ERR_CONFIG, "[kobo] form %s has no mapping file "
                            "(set mapping)", f->asset);
    return load_mapping(f);
}

int kobo_init(struct sync_ctx *ctx, void **state_out)
{
    const char *assets = sync_ctx_conf(ctx, "assets");
    const char *token = sync_ctx_conf(ctx, "token");
    const char *fsp = sync_ctx_conf(ctx, "fsp");
    const char *edits = sync_ctx_conf(ctx, "edits");
    struct sync_http_auth auth = {NULL, kobo_headers, kobo_release};
    struct kobo_state *st;
    size_t n = 1;
    char *tok;
    int rc;

    *state_out = NULL;
    if (!assets || !*assets)
        return plat_err_set(ERR_CONFIG, "[kobo] assets is not set (run "
                            "`agent kobo setup`)");
    if (!sync_ctx_http(ctx))
        return plat_err_set(ERR_CONFIG, "[kobo] url is not set");
    if (!token || !*token)
        return plat_err_set(ERR_AUTH, "no kobo token: set AGENT_KOBO_TOKEN "
                            "or token_file in [kobo]");
    for (const char *p = assets; *p; p++)
        n += *p == ',';
    st = plat_calloc(1, sizeof(*st));
    if (!st || !(st->forms = plat_calloc(n, sizeof(*st->forms)))) {
        plat_free(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    st->page = KOBO_PAGE_DEFAULT;
    if (sync_ctx_conf(ctx, "page_size") &&
        !parse_pos_int(sync_ctx_conf(ctx, "page_size"), &st->page)) {
        kobo_exit(st);
        return plat_err_set(ERR_CONFIG, "[kobo] page_size must be a "
                            "positive integer");
    }
    st->edits_on = !edits || strcmp(edits, "false") != 0;
    {
        const char *del = sync_ctx_conf(ctx, "deleted");

        if (del && strcmp(del, "ignore") != 0 && strcmp(del, "report") != 0) {
            kobo_exit(st);
            return plat_err_set(ERR_CONFIG, "[kobo] deleted must be ignore "
                                "or report");
        }
        st->report_deleted = !del || strcmp(del, "report") == 0;
    }
    if ((rc = kobo_att_conf_load(ctx, &st->att)) != PLAT_OK) {
        kobo_exit(st);
        return rc;
    }
    if (fsp && *fsp && !(st->fsp = plat_strdup(fsp))) {
        kobo_exit(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    for (const char *p = assets; *p;) {
        size_t len;

        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        len = strcspn(p, ", \t");
        if (len && (rc = add_form(st, ctx, p, len)) != PLAT_OK) {
            kobo_exit(st);
            return rc;
        }
        p += len;
    }
    if (st->n_forms == 0) {
        kobo_exit(st);
        return plat_err_set(ERR_CONFIG, "[kobo] assets is empty");
    }
    tok = plat_strdup(token);
    if (!tok) {
        kobo_exit(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    sync_http_set_auth(sync_ctx_http(ctx), &auth, tok);
    *state_out = st;
    return PLAT_OK;
}
