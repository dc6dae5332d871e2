/*
 * cmd_lookup.c - `agent lookup TEXT` (who is this person: status,
 * payments, transaction status per payment, voucher handed out or not)
 * and `agent registrations history REF` (local changes and the activities
 * pulled from 121), both from the store alone.
 */
#include "cli.h"
#include "cmd_dist.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_dist.h"
#include "store_outbox.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One payment line of a person, as JSON. */
static int add_payment(const struct store_voucher_row *r, void *payload)
{
    cJSON *arr = payload, *o = cJSON_CreateObject();
    char code[48];

    agent_dist_code(code, sizeof(code), r->payment_id,
                    (long long)r->registration_program_id);
    if (!o || !cJSON_AddNumberToObject(o, "paymentId", r->payment_id) ||
        !cJSON_AddNumberToObject(o, "transactionId",
                                 (double)r->transaction_id) ||
        !cJSON_AddStringToObject(o, "transactionStatus",
                                 r->tx_status ? r->tx_status : "") ||
        !cJSON_AddNumberToObject(o, "amount", r->amount) ||
        !cJSON_AddStringToObject(o, "voucherCode", code) ||
        !cJSON_AddBoolToObject(o, "voucherImage", r->image_len > 0) ||
        !cJSON_AddBoolToObject(o, "handedOut", r->handed_out_at != NULL) ||
        (r->handed_out_at &&
         (!cJSON_AddStringToObject(o, "handedOutAt", r->handed_out_at) ||
          !cJSON_AddStringToObject(o, "handedOutBy", r->handed_out_by
                                                         ? r->handed_out_by
                                                         : "") ||
          !cJSON_AddStringToObject(o, "clock", "device")))) {
        cJSON_Delete(o);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_AddItemToArray(arr, o);
    return 0;
}

struct found {
    struct store *store;
    cJSON *people;
};

static int add_person(const cJSON *reg, void *payload)
{
    struct found *f = payload;
    const char *ref = agent_json_str(reg, "referenceId");
    const char *status = agent_json_str(reg, "status");
    cJSON *o = cJSON_CreateObject(), *pays = cJSON_CreateArray();
    int rc;

    if (!o || !pays || !ref ||
        !cJSON_AddStringToObject(o, "referenceId", ref) ||
        !cJSON_AddStringToObject(o, "name", agent_dist_name(reg)) ||
        !cJSON_AddStringToObject(o, "phoneNumber", agent_dist_phone(reg)) ||
        !cJSON_AddStringToObject(o, "status", status ? status : "")) {
        cJSON_Delete(o);
        cJSON_Delete(pays);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    rc = store_person_transactions(f->store, ref, add_payment, pays);
    cJSON_AddItemToObject(o, "payments", pays);
    cJSON_AddItemToArray(f->people, o);
    return rc;
}

static void print_people(const cJSON *people)
{
    const cJSON *p, *pay;

    cJSON_ArrayForEach(p, people) {
        agent_print_kv(stdout, 14, "referenceId",
                       agent_json_str(p, "referenceId"));
        agent_print_kv(stdout, 14, "name", agent_json_str(p, "name"));
        agent_print_kv(stdout, 14, "phone", agent_json_str(p, "phoneNumber"));
        agent_print_kv(stdout, 14, "status", agent_json_str(p, "status"));
        cJSON_ArrayForEach(pay, cJSON_GetObjectItemCaseSensitive(p,
                                                                 "payments")) {
            char line[400];
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(pay,
                                                              "handedOut");

            snprintf(line, sizeof(line), "%s, %s%s%s%s%s",
                     agent_json_str(pay, "transactionStatus"),
                     agent_json_str(pay, "voucherCode"),
                     cJSON_IsTrue(h) ? ", handed out " : ", not handed out",
                     cJSON_IsTrue(h) ? agent_json_str(pay, "handedOutAt")
                                     : "",
                     cJSON_IsTrue(h) ? " (device time) by " : "",
                     cJSON_IsTrue(h) ? agent_json_str(pay, "handedOutBy")
                                     : "");
            char key[32];

            snprintf(key, sizeof(key), "payment %.0f",
                     cJSON_GetObjectItemCaseSensitive(pay, "paymentId")
                         ->valuedouble);
            agent_print_kv(stdout, 14, key, line);
        }
        printf("\n");
    }
}

int agent_cmd_lookup(struct agent_ctx *ctx, int argc, char **argv)
{
    int limit = 0, npos = 0, rc;
    const struct agent_opt opts[] = {
        { "--limit", AGENT_OPT_INT, &limit, 1, 200 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct found f = { NULL, NULL };
    char **pos = NULL;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "TEXT", &pos, &npos);
    if (rc < 0)
        return rc;
    if (!*pos[0]) {
        rc = plat_err_set(ERR_USAGE, "lookup needs a non-empty TEXT");
        goto done;
    }
    rc = agent_check_utf8("the look-up text", pos[0]);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    f.people = cJSON_CreateArray();
    if (rc == PLAT_OK && !f.people)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc < 0)
        goto done;
    f.store = ctx->store;
    rc = store_lookup(ctx->store, pos[0], limit ? limit : 10, add_person, &f);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        rc = agent_print_json(f.people);
    } else if (cJSON_GetArraySize(f.people) == 0) {
        rc = plat_err_set(ERR_NOTFOUND, "nobody in the store matches that "
                          "text");
    } else {
        print_people(f.people);
    }
done:
    cJSON_Delete(f.people);
    plat_free(pos);
    return rc;
}

/* ---- history ------------------------------------------------------------- */

struct hist {
    const char *ref;
    cJSON *local;
};

static int add_local(const struct store_outbox_entry *e, void *payload)
{
    struct hist *h = payload;
    cJSON *o;

    if (!e->reference_id || strcmp(e->reference_id, h->ref) != 0)
        return 0;
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "seq", (double)e->seq) ||
        !cJSON_AddStringToObject(o, "kind", e->kind ? e->kind : "") ||
        !cJSON_AddStringToObject(o, "state", e->state ? e->state : "") ||
        !cJSON_AddStringToObject(o, "created",
                                 e->created_at ? e->created_at : "") ||
        agent_json_put(o, "payload", agent_json_from_text(e->payload)) < 0 ||
        (e->server_message &&
         !cJSON_AddStringToObject(o, "serverMessage", e->server_message))) {
        cJSON_Delete(o);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_AddItemToArray(h->local, o);
    return 0;
}

static double seq_of(const cJSON *o)
{
    return cJSON_GetObjectItemCaseSensitive(o, "seq")->valuedouble;
}

static int by_seq(const void *a, const void *b)
{
    double x = seq_of(*(cJSON *const *)a), y = seq_of(*(cJSON *const *)b);

    return (x > y) - (x < y);
}

/* The entries in seq order (done and not done were listed apart). */
static int sort_local(cJSON *arr)
{
    int n = cJSON_GetArraySize(arr), i;
    cJSON **items = plat_calloc((size_t)n + 1, sizeof(*items));

    if (!items)
        return plat_err_set(ERR_NOMEM, "out of memory");
    for (i = n - 1; i >= 0; i--)
        items[i] = cJSON_DetachItemFromArray(arr, i);
    qsort(items, (size_t)n, sizeof(*items), by_seq);
    for (i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, items[i]);
    plat_free(items);
    return PLAT_OK;
}

int agent_cmd_reg_history(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    struct hist h = { NULL, NULL };
    cJSON *reg = NULL, *acts = NULL, *out = NULL;
    const cJSON *a, *e;
    char **pos = NULL, pulled[32];
    int npos = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "REF", &pos, &npos);
    if (rc < 0)
        return rc;
    h.ref = pos[0];
    rc = agent_check_ref(h.ref);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = agent_get_registration(ctx->store, h.ref, &reg);
    h.local = cJSON_CreateArray();
    if (rc == PLAT_OK && !h.local)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    /* Not done, then done: both in seq order; merged below by seq. */
    if (rc == PLAT_OK)
        rc = store_outbox_list(ctx->store, "done", add_local, &h);
    if (rc == PLAT_OK)
        rc = store_outbox_list(ctx->store, NULL, add_local, &h);
    if (rc == PLAT_OK)
        rc = sort_local(h.local);
    if (rc == PLAT_OK)
        rc = store_activities_get(ctx->store, h.ref, &acts, pulled);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        out = cJSON_CreateObject();
        if (!out || !cJSON_AddStringToObject(out, "referenceId", h.ref) ||
            !cJSON_AddItemReferenceToObject(out, "localChanges", h.local) ||
            !cJSON_AddItemReferenceToObject(out, "activities", acts) ||
            !cJSON_AddStringToObject(out, "activitiesPulledAt", pulled)) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(out);
        goto done;
    }
    printf("%s (%s): status %s\n", h.ref, agent_dist_name(reg),
           agent_json_str(reg, "status") ? agent_json_str(reg, "status")
                                         : "");
    printf("\nlocal changes (device time):\n");
    if (!cJSON_GetArraySize(h.local))
        printf("  none\n");
    cJSON_ArrayForEach(e, h.local) {
        char *p = agent_json_text(cJSON_GetObjectItemCaseSensitive(e,
                                                                  "payload"));

        printf("  #%.0f %s  %-8s %-9s %s\n", seq_of(e),
               agent_json_str(e, "created"), agent_json_str(e, "kind"),
               agent_json_str(e, "state"), p ? p : "");
        plat_free(p);
    }
    printf("\nactivities on 121%s%s%s:\n", pulled[0] ? " (pulled " : "",
           pulled, pulled[0] ? ")" : " (none pulled yet)");
    cJSON_ArrayForEach(a, acts) {
        const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(a,
                                                              "attributes");
        const cJSON *user = cJSON_GetObjectItemCaseSensitive(a, "user");
        char *at = agent_json_text(attrs);

        printf("  %s  %-14s %-20s %s\n", agent_json_str(a, "created")
                                             ? agent_json_str(a, "created")
                                             : "",
               agent_json_str(a, "type") ? agent_json_str(a, "type") : "",
               agent_json_str(user, "username")
                   ? agent_json_str(user, "username")
                   : "",
               at ? at : "");
        plat_free(at);
    }
done:
    cJSON_Delete(out);
    cJSON_Delete(acts);
    cJSON_Delete(h.local);
    cJSON_Delete(reg);
    plat_free(pos);
    return rc;
}
