/*
 * sync_report.c - exit code, JSON summary and text lines of one sync (see
 * sync_report.h). Shared by `agent sync` and the daemon so that a sync
 * run by the daemon reports exactly as one run by the CLI.
 */
#include "sync_report.h"
#include "cli.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

int agent_sync_counts(struct store *s, struct store_counts *out)
{
    char *text = NULL;
    cJSON *rej;
    int rc = store_counts(s, out);

    if (rc < 0)
        return rc;
    /* The kobo connector keeps its rejected list in its state (an object
     * "<asset>:<_id>" -> entry); absent means none. */
    if (store_state_get(s, "kobo.rejected", &text) < 0) {
        plat_err_clear();
        return PLAT_OK;
    }
    rej = cJSON_Parse(text);
    plat_free(text);
    if (cJSON_IsObject(rej))
        out->held = cJSON_GetArraySize(rej);
    cJSON_Delete(rej);
    return PLAT_OK;
}

int agent_sync_exit_code(int rc, const struct store_counts *after)
{
    if (rc == ERR_RETRY)
        return AGENT_EXIT_OFFLINE;
    if (rc == ERR_AUTH)
        return AGENT_EXIT_AUTH;
    if (rc < 0)
        return agent_cli_exit_code(rc);
    if (after->conflicts > 0 || after->rejected > 0 || after->held > 0)
        return AGENT_EXIT_ATTENTION;
    return AGENT_EXIT_OK;
}

const char *agent_sync_result_name(int code)
{
    switch (code) {
    case AGENT_EXIT_OK: return "ok";
    case AGENT_EXIT_OFFLINE: return "offline";
    case AGENT_EXIT_ATTENTION: return "attention";
    case AGENT_EXIT_AUTH: return "auth";
    case AGENT_EXIT_BUSY: return "busy";
    default: return "error";
    }
}

int agent_sync_code_err(int code)
{
    switch (code) {
    case AGENT_EXIT_OK:
    case AGENT_EXIT_ATTENTION:
        return PLAT_OK;
    case AGENT_EXIT_OFFLINE:
        return ERR_RETRY;
    case AGENT_EXIT_AUTH:
        return ERR_AUTH;
    case AGENT_EXIT_BUSY:
        return ERR_LOCKED;
    default:
        return ERR_GENERIC;
    }
}

/* The counters both the total and a source have. */
static int add_counts(cJSON *o, const struct sync_summary *sum)
{
    return cJSON_AddNumberToObject(o, "pulled", (double)sum->pulled) &&
           cJSON_AddNumberToObject(o, "events", (double)sum->events) &&
           cJSON_AddNumberToObject(o, "pushed", (double)sum->pushed) &&
           cJSON_AddNumberToObject(o, "sent", (double)sum->sent) &&
           cJSON_AddNumberToObject(o, "conflicts", (double)sum->conflicts) &&
           cJSON_AddNumberToObject(o, "rejected", (double)sum->rejected);
}

static int add_traffic(cJSON *o, const struct sync_summary *sum)
{
    return cJSON_AddNumberToObject(o, "requests", (double)sum->requests) &&
           cJSON_AddNumberToObject(o, "bytes_wire",
                                   (double)sum->bytes_wire) &&
           cJSON_AddNumberToObject(o, "bytes_body",
                                   (double)sum->bytes_body) &&
           cJSON_AddNumberToObject(o, "seconds",
                                   (double)sum->elapsed_ms / 1000.0) &&
           (sum->error[0] ? cJSON_AddStringToObject(o, "error", sum->error)
                          : cJSON_AddNullToObject(o, "error"));
}

/* "ok", "offline", "auth" or "error": what one source's rc means. */
static const char *source_result(int rc)
{
    return rc == PLAT_OK ? "ok" : rc == ERR_RETRY ? "offline"
         : rc == ERR_AUTH ? "auth" : "error";
}

static int add_sources(cJSON *o, const struct sync_report *rep)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "sources");

    if (!arr)
        return 0;
    for (size_t i = 0; i < rep->n_per && i < SYNC_MAX_SOURCES; i++) {
        const struct sync_summary *s = &rep->per[i];
        cJSON *so = cJSON_CreateObject();

        if (!so || !cJSON_AddItemToArray(arr, so)) {
            cJSON_Delete(so);
            return 0;
        }
        if (!cJSON_AddStringToObject(so, "source", s->source) ||
            !cJSON_AddStringToObject(so, "result", source_result(s->rc)) ||
            !add_counts(so, s) ||
            !cJSON_AddNumberToObject(so, "gone", (double)s->gone) ||
            !add_traffic(so, s))
            return 0;
    }
    return 1;
}

struct cJSON *agent_sync_summary_json(const struct sync_report *rep,
                                      const struct store_counts *after,
                                      int code, long daemon_pid)
{
    const struct sync_summary *sum = &rep->total;
    cJSON *o = cJSON_CreateObject();

    if (!o ||
        !cJSON_AddStringToObject(o, "result", agent_sync_result_name(code)) ||
        !cJSON_AddNumberToObject(o, "exit_code", code) ||
        !add_counts(o, sum) ||
        !cJSON_AddNumberToObject(o, "open_conflicts",
                                 (double)after->conflicts) ||
        !cJSON_AddNumberToObject(o, "rejected_total",
                                 (double)after->rejected) ||
        !cJSON_AddNumberToObject(o, "kobo_rejected",
                                 (double)after->held) ||
        !cJSON_AddNumberToObject(o, "pending", (double)after->pending) ||
        !add_traffic(o, sum) ||
        !(daemon_pid > 0 ? cJSON_AddNumberToObject(o, "daemon_pid",
                                                   (double)daemon_pid)
                         : cJSON_AddNullToObject(o, "daemon_pid")) ||
        !add_sources(o, rep)) {
        cJSON_Delete(o);
        plat_err_set(ERR_NOMEM, "out of memory");
        return NULL;
    }
    return o;
}

static int64_t num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static void parse_summary(const cJSON *o, struct sync_summary *sum)
{
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(o, "seconds");

    sum->pulled = num(o, "pulled");
    sum->events = num(o, "events");
    sum->pushed = num(o, "pushed");
    sum->sent = num(o, "sent");
    sum->conflicts = num(o, "conflicts");
    sum->rejected = num(o, "rejected");
    sum->gone = num(o, "gone");
    sum->requests = num(o, "requests");
    sum->bytes_wire = num(o, "bytes_wire");
    sum->bytes_body = num(o, "bytes_body");
    if (cJSON_IsNumber(secs))
        sum->elapsed_ms = (int64_t)(secs->valuedouble * 1000.0 + 0.5);
    if (cJSON_IsString(err))
        snprintf(sum->error, sizeof(sum->error), "%s", err->valuestring);
}

int agent_sync_summary_parse(const struct cJSON *o, struct sync_report *rep,
                             struct store_counts *after, int *code)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "exit_code");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "sources");
    const cJSON *so;

    memset(rep, 0, sizeof(*rep));
    memset(after, 0, sizeof(*after));
    if (!cJSON_IsNumber(c))
        return plat_err_set(ERR_INVALID, "the daemon's sync result has no "
                            "exit code");
    *code = c->valueint;
    parse_summary(o, &rep->total);
    rep->total.rc = agent_sync_code_err(*code);
    cJSON_ArrayForEach(so, arr) {
        struct sync_summary *s = &rep->per[rep->n_per];
        const char *name = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(so, "source"));
        const char *res = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(so, "result"));

        if (rep->n_per >= SYNC_MAX_SOURCES || !name)
            continue;
        snprintf(s->source, sizeof(s->source), "%s", name);
        parse_summary(so, s);
        s->rc = !res || strcmp(res, "ok") == 0 ? PLAT_OK
              : strcmp(res, "offline") == 0 ? ERR_RETRY
              : strcmp(res, "auth") == 0 ? ERR_AUTH : ERR_GENERIC;
        rep->n_per++;
    }
    after->conflicts = num(o, "open_conflicts");
    after->rejected = num(o, "rejected_total");
    after->pending = num(o, "pending");
    after->held = num(o, "kobo_rejected");
    return PLAT_OK;
}

void agent_human_bytes(int64_t n, char *out, size_t size)
{
    if (n >= 1000000)
        snprintf(out, size, "%.1f MB", (double)n / 1e6);
    else if (n >= 1000)
        snprintf(out, size, "%.1f kB", (double)n / 1e3);
    else
        snprintf(out, size, "%lld B", (long long)n);
}

static void print_summary(const struct sync_report *rep,
                          const struct store_counts *after)
{
    const struct sync_summary *sum = &rep->total;
    char wire[32], body[32];

    agent_human_bytes(sum->bytes_wire, wire, sizeof(wire));
    agent_human_bytes(sum->bytes_body, body, sizeof(body));
    printf("sync: pulled %lld registrations, %lld changes; pushed %lld, "
           "sent %lld (awaiting confirmation); conflicts %lld, rejected "
           "%lld\n", (long long)sum->pulled, (long long)sum->events,
           (long long)sum->pushed, (long long)sum->sent,
           (long long)sum->conflicts, (long long)sum->rejected);
    printf("      %lld requests, %s on the wire (%s of data), %.2f s\n",
           (long long)sum->requests, wire, body,
           (double)sum->elapsed_ms / 1000.0);
    if (after->pending || after->conflicts || after->rejected)
        printf("      now: %lld pending, %lld open conflicts, %lld rejected"
               "%s\n", (long long)after->pending,
               (long long)after->conflicts, (long long)after->rejected,
               after->conflicts || after->rejected
                   ? " (see `agent conflicts list`, `agent outbox --state "
                     "rejected`)" : "");
    if (after->held)
        printf("      %lld kobo submission%s rejected (see `agent kobo "
               "rejected`; fix the mapping, then `agent kobo retry`)\n",
               (long long)after->held, after->held == 1 ? "" : "s");
    for (size_t i = 0; i < rep->n_per && i < SYNC_MAX_SOURCES; i++) {
        const struct sync_summary *s = &rep->per[i];

        agent_human_bytes(s->bytes_wire, wire, sizeof(wire));
        printf("  %-8s %s: pulled %lld, changes %lld, pushed %lld, sent "
               "%lld, conflicts %lld, rejected %lld; %lld requests, %s, "
               "%.2f s%s%s\n", s->source, source_result(s->rc),
               (long long)s->pulled, (long long)s->events,
               (long long)s->pushed, (long long)s->sent,
               (long long)s->conflicts, (long long)s->rejected,
               (long long)s->requests, wire, (double)s->elapsed_ms / 1000.0,
               s->rc < 0 && s->error[0] ? "; " : "",
               s->rc < 0 ? s->error : "");
    }
}

void agent_sync_print_text(int rc, const struct sync_report *rep,
                           const struct store_counts *after)
{
    if (rc >= 0 || rc == ERR_RETRY)
        print_summary(rep, after);
}

void agent_sync_print_oneline(int rc, const struct sync_report *rep,
                              const struct store_counts *after)
{
    const struct sync_summary *sum = &rep->total;
    char wire[32], held[96] = "";

    if (rc < 0 && rc != ERR_RETRY)
        return;
    agent_human_bytes(sum->bytes_wire, wire, sizeof(wire));
    if (after->held)
        snprintf(held, sizeof(held), ", kobo rejected %lld (`agent kobo "
                 "rejected`)", (long long)after->held);
    printf("sync %s: pulled %lld, changes %lld, pushed %lld, sent %lld, "
           "conflicts %lld, rejected %lld, pending %lld%s; %s, %.1f s\n",
           rc == ERR_RETRY ? "offline" : "ok", (long long)sum->pulled,
           (long long)sum->events, (long long)sum->pushed,
           (long long)sum->sent, (long long)after->conflicts,
           (long long)after->rejected, (long long)after->pending,
           held, wire, (double)sum->elapsed_ms / 1000.0);
}

void agent_sync_print_reason(int rc, const struct sync_report *rep,
                             const struct store_counts *after)
{
    char who[128] = "";
    size_t used = 0;

    fflush(stdout);
    for (size_t i = 0; i < rep->n_per && i < SYNC_MAX_SOURCES; i++) {
        if (rep->per[i].rc == ERR_RETRY && used < sizeof(who))
            used += (size_t)snprintf(who + used, sizeof(who) - used, "%s%s",
                                     used ? ", " : "", rep->per[i].source);
    }
    if (rc == ERR_RETRY)
        fprintf(stderr, "agent: %s server unreachable: nothing was lost; "
                "the %lld pending changes will be sent on the next sync "
                "(%s)\n", used ? who : "the", (long long)after->pending,
                rep->total.error);
    else if (rc == ERR_LOCKED)
        fprintf(stderr, "agent: sync not started: %s\n", rep->total.error);
    else if (rc < 0)
        fprintf(stderr, "agent: sync failed: %s\n", rep->total.error);
}
