/*
 * c121_connector.c - the 121 connector's descriptor: its config section
 * [121], its streams and push kinds, and the callbacks that run the
 * phases of c121.h (see README.md in this folder).
 */
#include "c121.h"
#include "c121_dist.h"
#include "c121_http.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_connector.h"
#include "sync_http.h"

static const struct sync_conf_key c121_config[] = {
    {"enabled", SYNC_CONF_BOOL, NULL,
     "sync with 121 (default: yes when url is set)"},
    {"url", SYNC_CONF_URL, NULL, "121 base URL, without /api"},
    {"program_id", SYNC_CONF_INT, NULL, "the 121 program this device serves"},
    {"user", SYNC_CONF_STRING, NULL, "121 user (an e-mail address)"},
    {"password_file", SYNC_CONF_PATH, NULL,
     "file holding the 121 password (mode 0600); or $AGENT_121_PASSWORD"},
    {"password", SYNC_CONF_SECRET, NULL,
     "filled in from password_file or $AGENT_121_PASSWORD; never in the file"},
    {NULL, 0, NULL, NULL}};

static const char *const c121_streams[] = {"program", "registrations",
                                           "events", NULL};
/* After the push: uploads never wait on payments, transactions or
 * voucher images. */
static const char *const c121_late_streams[] = {"payments", "activities",
                                                NULL};
/* Distribution-day kinds (c121_dist.h) after the registration kinds: a
 * message goes to people as the status changes left them. */
static const char *const c121_push_kinds[] = {"create", "edit", "status",
                                              "template", "label", "voucher",
                                              "message", "program", NULL};

static int cb_c121_init(struct sync_ctx *ctx, void **state_out)
{
    const char *pid = sync_ctx_conf(ctx, "program_id");
    const char *user = sync_ctx_conf(ctx, "user");
    const char *password = sync_ctx_conf(ctx, "password");
    struct c121 *c;
    int rc;
    char *end = NULL;
    long id;

    *state_out = NULL;
    id = pid ? strtol(pid, &end, 10) : 0;
    if (!sync_ctx_http(ctx) || !pid || *end || id <= 0 || id > 1000000000)
        return plat_err_set(ERR_CONFIG, "sync needs [121] url and "
                            "program_id in the config");
    rc = c121_http_install(sync_ctx_http(ctx), user, password);
    if (rc < 0)
        return rc;
    c = plat_calloc(1, sizeof(*c));
    if (!c)
        return plat_err_set(ERR_NOMEM, "out of memory");
    c->ctx = ctx;
    c->http = sync_ctx_http(ctx);
    c->opt = sync_ctx_options(ctx);
    c->program_id = (int)id;
    snprintf(c->prefix, sizeof(c->prefix), "/api/programs/%d", c->program_id);
    snprintf(c->user, sizeof(c->user), "%s", user ? user : "");
    *state_out = c;
    return PLAT_OK;
}

static int cb_c121_auth(void *state, struct sync_ctx *ctx)
{
    struct c121 *c = state;

    (void)ctx;
    return sync_http_auth_login(c->http);
}

static int cb_c121_pull(void *state, struct sync_ctx *ctx, const char *stream)
{
    struct c121 *c = state;

    (void)ctx;
    if (strcmp(stream, "program") == 0)
        return c121_pull_program(c);
    if (strcmp(stream, "registrations") == 0)
        return c121_pull_registrations(c);
    if (strcmp(stream, "events") == 0)
        return c121_pull_events(c);
    if (strcmp(stream, "payments") == 0)
        return c121_pull_payments(c);
    if (strcmp(stream, "activities") == 0) {
        /* the exchange rates ride on the last stream: one request at
         * most every 12 h, after everything else */
        int rc = c121_pull_activities(c);

        return rc < 0 ? rc : c121_pull_rates(c);
    }
    return plat_err_set(ERR_INVALID, "121 has no stream '%s'", stream);
}

static int cb_c121_confirm(void *state, struct sync_ctx *ctx)
{
    (void)ctx;
    return c121_confirm_inflight(state);
}

static int cb_c121_push(void *state, struct sync_ctx *ctx, const char *kind)
{
    struct c121 *c = state;

    (void)ctx;
    if (strcmp(kind, "create") == 0)
        return c121_push_creates(c);
    if (strcmp(kind, "edit") == 0)
        return c121_push_edits(c);
    if (strcmp(kind, "status") == 0)
        return c121_push_status(c);
    if (strcmp(kind, "template") == 0)
        return c121_push_templates(c);
    if (strcmp(kind, "label") == 0)
        return c121_push_labels(c);
    if (strcmp(kind, "voucher") == 0)
        return c121_push_vouchers(c);
    if (strcmp(kind, "message") == 0)
        return c121_push_messages(c);
    if (strcmp(kind, "program") == 0)
        return c121_push_programs(c);
    return plat_err_set(ERR_INVALID, "121 cannot send '%s' operations", kind);
}

static void cb_c121_exit(void *state)
{
    struct c121 *c = state;

    if (!c)
        return;
    plat_free(c);
}

static int c121_probe_url(const struct sync_source_conf *sc, char *out,
                          size_t n)
{
    const char *url = sync_source_conf_get(sc, "url");
    size_t len;

    if (!url || !*url)
        return plat_err_set(ERR_CONFIG, "[121] url is not set");
    len = strlen(url);
    while (len > 0 && url[len - 1] == '/')
        len--;
    /* Answers 401 without a session: any answer proves the host is up. */
    if ((size_t)snprintf(out, n, "%.*s/api/users/current", (int)len, url) >=
        n)
        return plat_err_set(ERR_CONFIG, "[121] url is too long");
    return PLAT_OK;
}

const struct sync_connector sync_connector_c121 = {
    .name = C121_SOURCE,
    .description = "121 platform API (registrations, payments, vouchers)",
    .config = c121_config,
    .streams = c121_streams,
    .push_kinds = c121_push_kinds,
    .late_streams = c121_late_streams,
    .cb_init = cb_c121_init,
    .cb_auth = cb_c121_auth,
    .cb_pull = cb_c121_pull,
    .cb_confirm = cb_c121_confirm,
    .cb_push = cb_c121_push,
    .cb_exit = cb_c121_exit,
    .same_value = c121_same_field,
    .probe_url = c121_probe_url,
};
