/*
 * confirm.c - after a pull: in-flight outbox entries (CSV bulk edits and
 * status changes, which 121 applies asynchronously after answering) are
 * checked against the fresh server copies.
 */
#include "c121_push.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_time.h"
#include "sync_http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A status change is judged skipped only by a pull that started at least
 * this long after it was sent (the real server applies a 202 within
 * seconds; the margin covers a queue behind a large batch). */
#define SKIP_GRACE_MS (60 * 1000)

/* A bulk edit still not visible after this long goes back to pending, so
 * that the next push checks it again and resends what is missing (121
 * applies CSV rows about one per second on a large program). */
#define EDIT_STALE_MS (24LL * 3600 * 1000)

/* agent_state key: when the last confirmation pass ran (epoch ms). */
#define LAST_PASS_KEY "confirm.last_pass_ms"

#define NUM_BUF 32

/* ---- confirmation ------------------------------------------------------- */

struct confirm_counts {
    int64_t done, rejected, conflicts, requeued;
};

/* The server copy of `ref` as the pull left it; NULL (PLAT_OK) when the
 * pull has not brought it yet: the entry waits. */
static int pulled_copy(struct c121 *c, const char *ref, cJSON **out)
{
    int rc = sync_get_registration(c->ctx, ref, out);

    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    return rc;
}

/* Entry `e` can never apply: 121 deleted its registration first. */
static int reject_deleted(struct c121 *c, const struct sync_op *e,
                          struct confirm_counts *k)
{
    return c121_op_settle_count(c, e, SYNC_OP_REJECTED,
                                   "the registration was deleted on 121 "
                                   "before the change was applied",
                                   &k->rejected);
}

/* Creates left inflight by an interrupted push: the server copy is there
 * (the pull fetched it), so they landed. */
static int confirm_creates(struct c121 *c, struct confirm_counts *k)
{
    struct sync_ops es = {0};
    cJSON *server = NULL;
    size_t i;
    int rc;

    rc = c121_ops_load(c, SYNC_OP_CREATE, SYNC_OP_INFLIGHT, 0, 0, &es);
    for (i = 0; rc == PLAT_OK && i < es.n; i++) {
        /* No copy yet: push_creates asks the server. */
        rc = pulled_copy(c, es.v[i].ref, &server);
        if (rc == PLAT_OK && server)
            rc = c121_op_settle_count(c, &es.v[i], SYNC_OP_DONE, NULL,
                                         &k->done);
        cJSON_Delete(server);
        server = NULL;
    }
    sync_ops_free(&es);
    return rc;
}

static int confirm_edits(struct c121 *c, int64_t now,
                         struct confirm_counts *n)
{
    struct sync_ops es = {0}, done = {0};
    cJSON *server = NULL;
    const cJSON *data, *f;
    int64_t changed, first = INT64_MAX;
    size_t k, *ix = NULL;
    int rc, all;

    /* Pending ones too: a later entry of the same field supersedes. */
    rc = c121_ops_load(c, SYNC_OP_EDIT, -1, 0, 0, &es);
    if (rc == PLAT_OK) {
        ix = sync_ops_order(&es);
        if (!ix)
            rc = plat_err_set(ERR_NOMEM, "out of memory");
    }
    /* And the done ones after the oldest in flight (few: the entries
     * done since it was sent). */
    for (k = 0; rc == PLAT_OK && k < es.n; k++)
        if (es.v[k].state == SYNC_OP_INFLIGHT && es.v[k].seq < first)
            first = es.v[k].seq;
    if (rc == PLAT_OK && first != INT64_MAX)
        rc = c121_ops_load(c, SYNC_OP_EDIT, SYNC_OP_DONE, first, 0, &done);
    for (k = 0; rc == PLAT_OK && k < es.n; k++) {
        struct sync_op *e = &es.v[ix[k]];

        if (e->state != SYNC_OP_INFLIGHT)
            continue;
        rc = pulled_copy(c, e->ref, &server);
        if (rc < 0)
            break;
        if (!server)
            continue;
        if (strcmp(c121_copy_status(server), "deleted") == 0) {
            rc = reject_deleted(c, e, n);
            cJSON_Delete(server);
            server = NULL;
            continue;
        }
        all = 1;
        data = cJSON_GetObjectItemCaseSensitive(e->payload, "data");
        cJSON_ArrayForEach(f, data) {
            /* A later entry (pending, in flight or done since) also sets
             * the field: the server ends with that value. An earlier entry
             * left in flight by a cut-off push and a later one since sent
             * (the two went as one write of the last value) otherwise
             * waited 24 h. */
            if (c121_set_again_later(&es, e, f->string) ||
                c121_set_again_later(&done, e, f->string))
                continue;
            if (!sync_same_value(c->ctx, f->string,
                                 cJSON_GetObjectItemCaseSensitive(server,
                                                                  f->string),
                                 f)) {
                all = 0;
                break;
            }
        }
        cJSON_Delete(server);
        server = NULL;
        if (all) {
            rc = c121_op_settle_count(c, e, SYNC_OP_DONE, NULL, &n->done);
            if (rc == PLAT_OK) /* its value no longer shows over the copy */
                rc = sync_refresh_view(c->ctx, e->ref);
            continue;
        }
        rc = sync_op_changed_ms(c->ctx, e->seq, &changed);
        if (rc == PLAT_OK && now - changed >= EDIT_STALE_MS) {
            /* Lost somewhere (the upload's queue, a restore on the
             * server): check and send again; 121 compares values, so a
             * row applied twice changes nothing. */
            rc = c121_op_settle_count(c, e, SYNC_OP_PENDING, NULL,
                                         &n->requeued);
        }
    }
    plat_free(ix);
    sync_ops_free(&es);
    sync_ops_free(&done);
    return rc;
}

static int confirm_status(struct c121 *c, int64_t last_pass,
                          struct confirm_counts *k)
{
    struct sync_ops es = {0};
    cJSON *server = NULL, *sv = NULL;
    const cJSON *target, *base;
    const char *sstat;
    char msg[C121_MSG_MAX];
    int64_t changed;
    size_t i;
    int rc;

    rc = c121_ops_load(c, SYNC_OP_STATUS, SYNC_OP_INFLIGHT, 0, 0, &es);
    for (i = 0; rc == PLAT_OK && i < es.n; i++) {
        struct sync_op *e = &es.v[i];

        target = cJSON_GetObjectItemCaseSensitive(e->payload, "status");
        base = cJSON_GetObjectItemCaseSensitive(e->base, "status");
        rc = pulled_copy(c, e->ref, &server);
        if (rc < 0)
            break;
        if (!server)
            continue;
        sstat = c121_copy_status(server);
        if (cJSON_IsString(target) &&
            strcmp(sstat, target->valuestring) == 0) {
            rc = c121_op_settle_count(c, e, SYNC_OP_DONE, NULL, &k->done);
            goto next;
        }
        if (strcmp(sstat, "deleted") == 0) { /* terminal */
            rc = reject_deleted(c, e, k);
            goto next;
        }
        rc = sync_op_changed_ms(c->ctx, e->seq, &changed);
        if (rc < 0)
            goto next;
        /* Not visible yet. The engine pulls, then confirms, then pushes,
         * so the pull just made started after the previous pass: judge
         * only entries sent at least SKIP_GRACE_MS before that pass, so
         * that 121 had time to apply them before the pull read them. */
        if (last_pass <= 0 || last_pass - changed < SKIP_GRACE_MS)
            goto next;
        if (cJSON_IsString(base) && strcmp(sstat, base->valuestring) == 0) {
            snprintf(msg, sizeof(msg),
                     "121 skipped this status change (%s -> %s): it "
                     "accepted the request but did not apply it",
                     sstat, cJSON_IsString(target) ? target->valuestring
                                                   : "?");
            rc = c121_op_settle_count(c, e, SYNC_OP_REJECTED, msg,
                                         &k->rejected);
            log_info("121 confirm: status change of %s skipped by the "
                     "server", e->ref);
            goto next;
        }
        /* Someone else set another status meanwhile: a person decides. */
        sv = cJSON_CreateString(sstat);
        if (!sv) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto next;
        }
        rc = sync_conflict_add(c->ctx, e->seq, e->ref, "status", base,
                                  target, sv, NULL);
        if (rc == PLAT_OK)
            rc = c121_op_settle_count(c, e, SYNC_OP_CONFLICT, NULL,
                                         &k->conflicts);
    next:
        cJSON_Delete(server);
        cJSON_Delete(sv);
        server = sv = NULL;
    }
    sync_ops_free(&es);
    return rc;
}

int c121_confirm_inflight(struct c121 *c)
{
    struct confirm_counts k = {0, 0, 0, 0};
    char *text = NULL, now_text[32];
    int64_t now = plat_time_wall_ms(), last_pass = 0;
    int rc;

    rc = sync_state_get(c->ctx, LAST_PASS_KEY, &text);
    if (rc == PLAT_OK) {
        last_pass = strtoll(text, NULL, 10);
        plat_free(text);
    } else if (rc == ERR_NOTFOUND) {
        plat_err_clear();
    } else {
        return rc;
    }
    /* One transaction for the whole pass: all of it or nothing, and one
     * commit instead of one per entry. */
    rc = sync_batch_begin(c->ctx);
    if (rc < 0)
        return rc;
    rc = confirm_creates(c, &k);
    if (rc == PLAT_OK)
        rc = confirm_edits(c, now, &k);
    if (rc == PLAT_OK)
        rc = confirm_status(c, last_pass, &k);
    if (rc == PLAT_OK) {
        snprintf(now_text, sizeof(now_text), "%lld", (long long)now);
        rc = sync_state_set(c->ctx, LAST_PASS_KEY, now_text);
    }
    rc = sync_batch_end(c->ctx, rc);
    if (rc < 0)
        return rc;
    sync_ctx_count(c->ctx, SYNC_COUNT_PUSHED, k.done);
    sync_ctx_count(c->ctx, SYNC_COUNT_REJECTED, k.rejected);
    sync_ctx_count(c->ctx, SYNC_COUNT_CONFLICTS, k.conflicts);
    if (k.done || k.rejected || k.conflicts || k.requeued)
        log_info("121 confirm: %lld done, %lld rejected, %lld conflicts, "
                 "%lld sent again",
                 (long long)k.done, (long long)k.rejected,
                 (long long)k.conflicts, (long long)k.requeued);
    return rc;
}
