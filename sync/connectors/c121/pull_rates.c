/*
 * pull_rates.c - 121's exchange rates (GET /api/exchange-rates, contract
 * 9: one row per stored day per currency), kept whole for `agent serve`,
 * which answers the same route from the device (tools that convert
 * payment amounts to euros read it).
 *
 * The rates change once a day, so they are asked for when none are kept
 * or the last answer is more than RATES_EVERY_MS old: an ordinary sync
 * costs no request for them. The route is for admins only: a user who is
 * not one gets 403 (an older 121: 404); that is logged and the sync goes
 * on (asked again after RATES_EVERY_MS). Any other failure of this one
 * request is logged too and never fails the sync: the rates are an extra.
 *
 * State (per source): "exchange-rates" (the array as received) and
 * "exchange-rates.at" (wall ms of the last answer, 2xx or 403/404).
 */
#include "c121.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#define RATES_KEY "exchange-rates"
#define RATES_AT_KEY "exchange-rates.at"
#define RATES_EVERY_MS (12LL * 3600 * 1000)

static int rates_due(struct c121 *c, int64_t now)
{
    char *text = NULL;
    int rc = sync_state_get(c->ctx, RATES_AT_KEY, &text);
    int64_t at;

    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return 1;
    }
    if (rc < 0)
        return rc;
    at = strtoll(text, NULL, 10);
    plat_free(text);
    /* a clock set back (at in the future) asks again too */
    return at > now || now - at >= RATES_EVERY_MS;
}

static int mark_asked(struct c121 *c, int64_t now)
{
    char at[32];

    snprintf(at, sizeof(at), "%lld", (long long)now);
    return sync_state_set(c->ctx, RATES_AT_KEY, at);
}

int c121_pull_rates(struct c121 *c)
{
    int64_t now = plat_time_wall_ms();
    cJSON *body = NULL;
    char *text = NULL;
    long status = 0;
    int rc = rates_due(c, now);

    if (rc <= 0)
        return rc;
    rc = c121_get_json(c, "/api/exchange-rates", NULL, "121 GET exchange "
                       "rates", &body, &status, NULL);
    if (rc < 0 && (status == 403 || status == 404)) {
        log_info("121: exchange rates not readable by this user (HTTP %ld, "
                 "an admin route): not kept", status);
        plat_err_clear();
        return mark_asked(c, now);
    }
    if (rc == ERR_NOMEM || (rc < 0 && sync_ctx_cancelled(c->ctx)))
        return rc;
    if (rc < 0) {
        log_warn("121: exchange rates not pulled (asked again next sync): "
                 "%s", plat_err_msg());
        plat_err_clear();
        return PLAT_OK;
    }
    if (!cJSON_IsArray(body)) {
        log_warn("121: exchange rates: the answer is not a JSON array: not "
                 "kept");
        cJSON_Delete(body);
        return mark_asked(c, now);
    }
    text = cJSON_PrintUnformatted(body);
    rc = text ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
    /* the rates and the time they were asked change together */
    if (rc == PLAT_OK)
        rc = sync_batch_begin(c->ctx);
    if (rc == PLAT_OK) {
        rc = sync_state_set(c->ctx, RATES_KEY, text);
        if (rc == PLAT_OK)
            rc = mark_asked(c, now);
        rc = sync_batch_end(c->ctx, rc);
    }
    if (rc == PLAT_OK)
        log_info("121: exchange rates kept (%d rows)",
                 cJSON_GetArraySize(body));
    cJSON_free(text);
    cJSON_Delete(body);
    return rc;
}
