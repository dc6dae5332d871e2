/*
 * espo_connector.c - the "espocrm" connector: records of one EspoCRM
 * entity type kept in step with 121 registrations, both ways, with no
 * echo. Design: README.md; pure helpers: espo.h; the files and what they
 * share: espo_connector.h. This file: the descriptor and its config keys.
 *
 * EspoCRM -> 121 (stream "records", espo_pull.c): pages of the entity by
 * modifiedAt; a changed mapped attribute becomes a local edit queued for
 * 121 (sync_queue_edit) whose base is what EspoCRM showed before, so
 * 121's three-way check turns a field changed on both sides into a
 * conflict. 121 -> EspoCRM (push kind "edit", espo_push.c): for every
 * linked record, mapped fields whose 121 server copy differs from what
 * EspoCRM last showed are written with one partial PUT. The last-seen
 * values and modifiedAt / versionNumber of each record (espo_seen) make
 * both directions echo-free.
 *
 * Never touches the store, never prints.
 */
#include "espo_connector.h"

#include "plat_err.h"
#include "sync_connector.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

extern const struct sync_connector sync_connector_espocrm;

static const struct sync_conf_key espo_conf[] = {
    {"enabled", SYNC_CONF_BOOL, NULL, "run the EspoCRM source"},
    {"url", SYNC_CONF_URL, NULL, "EspoCRM site URL, without /api/v1"},
    {"entity", SYNC_CONF_STRING, "Contact",
     "entity type holding the people (Contact, CBeneficiary, ...)"},
    {"reference_field", SYNC_CONF_STRING, NULL,
     "EspoCRM attribute holding the 121 referenceId"},
    {"mapping", SYNC_CONF_PATH, NULL,
     "JSON file {\"<EspoCRM attribute>\": \"<121 attribute>\", ...}"},
    {"auth", SYNC_CONF_STRING, "apikey", "apikey or hmac"},
    {"api_key", SYNC_CONF_SECRET, NULL, "API user's key"},
    {"api_key_file", SYNC_CONF_PATH, NULL,
     "file holding the API key (mode 0600)"},
    {"secret", SYNC_CONF_SECRET, "", "HMAC secret key (auth = hmac)"},
    {"secret_file", SYNC_CONF_PATH, NULL,
     "file holding the HMAC secret (mode 0600)"},
    {"hmac_digest", SYNC_CONF_STRING, "hex",
     "hex, or raw for EspoCRM before 8.4.1"},
    {"page_size", SYNC_CONF_INT, "200", "records per list request (<= 200)"},
    {"overlap_s", SYNC_CONF_INT, "5",
     "seconds of modifiedAt read again each poll (late commits)"},
    {"new_records", SYNC_CONF_STRING, "ignore",
     "EspoCRM records without a referenceId: ignore, report or create"},
    {"program_id", SYNC_CONF_INT, NULL,
     "121 program of registrations created from EspoCRM records"},
    {"create_defaults", SYNC_CONF_STRING, NULL,
     "JSON object of 121 fields added to those created (FSP, language)"},
    {"deleted", SYNC_CONF_STRING, "report",
     "linked records deleted in EspoCRM: ignore, report, or status (also "
     "queue the 121 status change to deleted)"},
    {"create_in_espocrm", SYNC_CONF_BOOL, "false",
     "create an EspoCRM record (with the referenceId) for each 121 "
     "registration of program_id that no record is linked to"},
    {"reconcile_hours", SYNC_CONF_INT, "24",
     "hours between id-only walks that find deletions (0: every sync)"},
    {NULL, 0, NULL, NULL}
};

static int espo_same_value(const cJSON *program, const char *field,
                           const cJSON *a, const cJSON *b)
{
    (void)program;
    (void)field;
    return espo_same(NULL, a, b);
}

static int espo_probe_url(const struct sync_source_conf *sc, char *out,
                          size_t n)
{
    const char *url = sync_source_conf_get(sc, "url");
    size_t len;

    if (!url || !*url)
        return plat_err_set(ERR_CONFIG, "[espocrm] url is not set");
    len = strlen(url);
    while (len && url[len - 1] == '/')
        len--;
    if ((size_t)snprintf(out, n, "%.*s/api/v1/App/user", (int)len, url) >= n)
        return plat_err_set(ERR_CONFIG, "[espocrm] url is too long");
    return PLAT_OK;
}

static const char *const espo_streams[] = {"records", "deletions", NULL};
static const char *const espo_kinds[] = {"edit", NULL};

const struct sync_connector sync_connector_espocrm = {
    .name = "espocrm",
    .description = "EspoCRM records kept in step with 121 registrations",
    .config = espo_conf,
    .streams = espo_streams,
    .push_kinds = espo_kinds,
    .cb_init = espo_init,
    .cb_auth = NULL,
    .cb_pull = espo_pull,
    .cb_confirm = NULL,
    .cb_push = espo_push,
    .cb_exit = espo_exit,
    .same_value = espo_same_value,
    .probe_url = espo_probe_url,
};
