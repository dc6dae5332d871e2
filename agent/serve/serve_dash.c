/*
 * serve_dash.c - the dashboard at `/`: one HTML page, no script, no
 * external asset, every chart an inline SVG drawn here from the store's
 * counts: registrations by status and over time, payments with their
 * status aggregates, transactions per FSP and status, the pending outbox
 * and open conflicts, the last sync per source. Counts only: no names,
 * no personal data.
 *
 * Access: with a session cookie, or from loopback listening (the device's
 * own user); otherwise a login form.
 */
#include "serve_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"
#include "store.h"
#include "store_outbox.h"
#include "store_read.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAXG 64

struct group {
    char k1[64], k2[64];
    int64_t count;
    double sum;
};

struct groups {
    struct group g[MAXG];
    int n;
};

static int add_group(const char *k1, const char *k2, int64_t count,
                     double sum, void *payload)
{
    struct groups *gs = payload;

    if (gs->n >= MAXG)
        return 0;
    snprintf(gs->g[gs->n].k1, sizeof(gs->g[0].k1), "%s", k1 ? k1 : "(none)");
    snprintf(gs->g[gs->n].k2, sizeof(gs->g[0].k2), "%s", k2 ? k2 : "(none)");
    gs->g[gs->n].count = count;
    gs->g[gs->n].sum = sum;
    gs->n++;
    return 0;
}

/* Per-day counts can be many: keep them all in a growing array. */
struct days {
    char (*day)[11];
    int64_t *count;
    int n, alloc;
};

static int add_day(const char *k1, const char *k2, int64_t count, double sum,
                   void *payload)
{
    struct days *d = payload;

    (void)k2;
    (void)sum;
    if (d->n == d->alloc) {
        int na = d->alloc ? d->alloc * 2 : 64;
        char (*nd)[11] = plat_realloc(d->day, (size_t)na * sizeof(*nd));
        int64_t *nc;

        if (!nd)
            return ERR_NOMEM;
        d->day = nd;
        nc = plat_realloc(d->count, (size_t)na * sizeof(*nc));
        if (!nc)
            return ERR_NOMEM;
        d->count = nc;
        d->alloc = na;
    }
    snprintf(d->day[d->n], 11, "%.10s", k1 ? k1 : "");
    d->count[d->n++] = count;
    return 0;
}

/* Text safe inside HTML/SVG. */
static int esc(struct plat_buf *b, const char *s)
{
    int rc = 0;

    for (; *s && rc == 0; s++) {
        switch (*s) {
        case '<': rc = plat_buf_puts(b, "&lt;"); break;
        case '>': rc = plat_buf_puts(b, "&gt;"); break;
        case '&': rc = plat_buf_puts(b, "&amp;"); break;
        case '"': rc = plat_buf_puts(b, "&quot;"); break;
        default: rc = plat_buf_append(b, s, 1);
        }
    }
    return rc;
}

static const char *color_of(const char *status)
{
    static const struct { const char *k, *c; } map[] = {
        {"new", "#7aa6d8"}, {"validated", "#9b7ad8"}, {"included", "#3fa34d"},
        {"paused", "#e0a030"}, {"declined", "#d0504a"},
        {"completed", "#2b6cb0"}, {"deleted", "#9a9a9a"},
        {"success", "#3fa34d"}, {"waiting", "#e0a030"}, {"error", "#d0504a"},
        {"failed", "#d0504a"}, {"pendingApproval", "#9b7ad8"},
        {"approved", "#7aa6d8"}, {"pending", "#e0a030"},
        {"inflight", "#7aa6d8"}, {"conflict", "#d0504a"},
        {"rejected", "#8b1e1a"}};

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].k, status) == 0)
            return map[i].c;
    return "#6b7b8c";
}

/* Horizontal bars, one per (label, value). */
static int hbars(struct plat_buf *b, const char *title, const char **labels,
                 const double *values, const char **colors, int n,
                 const char *unit, double max)
{
    int h = 28 + n * 26 + 8, rc = 0;

    for (int i = 0; i < n; i++)
        if (values[i] > max)
            max = values[i];
    rc |= plat_buf_printf(b, "<figure><figcaption>");
    rc |= esc(b, title);
    rc |= plat_buf_printf(b, "</figcaption><svg role=\"img\" width=\"460\" "
                          "height=\"%d\" viewBox=\"0 0 460 %d\">", h, h);
    if (n == 0)
        rc |= plat_buf_printf(b, "<text x=\"10\" y=\"24\" class=\"none\">"
                              "nothing stored yet</text>");
    for (int i = 0; i < n; i++) {
        double w = max > 0 ? values[i] / max * 260.0 : 0;
        int y = 10 + i * 26;

        rc |= plat_buf_printf(b, "<text x=\"130\" y=\"%d\" "
                              "text-anchor=\"end\">", y + 15);
        rc |= esc(b, labels[i]);
        rc |= plat_buf_printf(b, "</text><rect x=\"138\" y=\"%d\" "
                              "width=\"%.1f\" height=\"20\" rx=\"3\" "
                              "fill=\"%s\"><title>", y,
                              w < 1 && values[i] > 0 ? 1.0 : w, colors[i]);
        rc |= esc(b, labels[i]);
        rc |= plat_buf_printf(b, ": %.0f%s</title></rect><text x=\"%.1f\" "
                              "y=\"%d\">%.0f%s</text>", values[i], unit,
                              138 + w + 6, y + 15, values[i], unit);
    }
    rc |= plat_buf_puts(b, "</svg></figure>");
    return rc;
}

/* Registrations over time: cumulative area + bars per day. */
static int timeline(struct plat_buf *b, const struct days *d)
{
    int rc = 0;
    const int W = 460, H = 200, L = 44, R = 10, T = 14, B = 30;
    double total = 0, run = 0, maxday = 0;

    for (int i = 0; i < d->n; i++) {
        total += (double)d->count[i];
        if (d->count[i] > maxday)
            maxday = (double)d->count[i];
    }
    rc |= plat_buf_printf(b, "<figure><figcaption>Registrations over time "
                          "(cumulative line, new per day as bars)"
                          "</figcaption><svg role=\"img\" width=\"%d\" "
                          "height=\"%d\" viewBox=\"0 0 %d %d\">", W, H, W, H);
    if (d->n == 0) {
        rc |= plat_buf_puts(b, "<text x=\"10\" y=\"24\" class=\"none\">"
                            "nothing stored yet</text></svg></figure>");
        return rc;
    }
    rc |= plat_buf_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                          "stroke=\"#888\"/>", L, H - B, W - R, H - B);
    {
        double bw = (double)(W - L - R) / d->n;

        for (int i = 0; i < d->n; i++) {
            double bh = maxday > 0 ? (double)d->count[i] / maxday *
                                         (H - T - B) * 0.5 : 0;

            rc |= plat_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" "
                                  "width=\"%.1f\" height=\"%.1f\" "
                                  "fill=\"#b9d3ee\"><title>%s: %lld"
                                  "</title></rect>",
                                  L + i * bw + bw * 0.1, H - B - bh,
                                  bw * 0.8 > 0.5 ? bw * 0.8 : 0.5, bh,
                                  d->day[i], (long long)d->count[i]);
        }
        rc |= plat_buf_printf(b, "<polyline fill=\"none\" stroke=\"#2b6cb0\" "
                              "stroke-width=\"2\" points=\"%d,%d",
                              L, H - B);
        for (int i = 0; i < d->n; i++) {
            run += (double)d->count[i];
            rc |= plat_buf_printf(b, " %.1f,%.1f", L + (i + 1) * bw,
                                  H - B - run / total * (H - T - B));
        }
        rc |= plat_buf_puts(b, "\"/>");
    }
    rc |= plat_buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">"
                          "%.0f</text><text x=\"%d\" y=\"%d\">%s</text>"
                          "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s"
                          "</text></svg></figure>",
                          L - 4, T + 8, total, L, H - 10, d->day[0], W - R,
                          H - 10, d->day[d->n - 1]);
    return rc;
}

/* Payments: one stacked bar per payment, by status (count). */
static int payments_chart(struct plat_buf *b, const cJSON *payments)
{
    static const char *const st[] = {"success", "waiting", "failed",
                                     "pendingApproval", "approved"};
    int n = cJSON_GetArraySize(payments), rc = 0, i = 0;
    int h = 40 + (n ? n : 1) * 30;
    double max = 0;
    const cJSON *p;

    cJSON_ArrayForEach(p, payments) {
        double tot = 0;
        const cJSON *agg = cJSON_GetObjectItemCaseSensitive(
            p, "aggregationsPerStatus");

        for (size_t k = 0; k < 5; k++) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(agg, st[k]), "count");

            tot += cJSON_IsNumber(c) ? c->valuedouble : 0;
        }
        if (tot > max)
            max = tot;
    }
    rc |= plat_buf_printf(b, "<figure><figcaption>Payments by transaction "
                          "status (count; amount in the tooltip)"
                          "</figcaption><svg role=\"img\" width=\"460\" "
                          "height=\"%d\" viewBox=\"0 0 460 %d\">", h, h);
    if (!n)
        rc |= plat_buf_puts(b, "<text x=\"10\" y=\"24\" class=\"none\">"
                            "no payments stored</text>");
    cJSON_ArrayForEach(p, payments) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "paymentId");
        const cJSON *agg = cJSON_GetObjectItemCaseSensitive(
            p, "aggregationsPerStatus");
        double x = 100;
        int y = 10 + i * 30;

        rc |= plat_buf_printf(b, "<text x=\"92\" y=\"%d\" text-anchor=\"end\">"
                              "payment %d</text>", y + 15,
                              cJSON_IsNumber(id) ? id->valueint : 0);
        for (size_t k = 0; k < 5; k++) {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(agg, st[k]);
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(s, "count");
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(s,
                                                              "transferValue");
            double cnt = cJSON_IsNumber(c) ? c->valuedouble : 0;
            double w = max > 0 ? cnt / max * 340 : 0;

            if (cnt <= 0)
                continue;
            rc |= plat_buf_printf(b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\""
                                  " height=\"22\" fill=\"%s\"><title>%s: %.0f"
                                  " (%.2f)</title></rect>", x, y,
                                  w < 1 ? 1.0 : w, color_of(st[k]), st[k],
                                  cnt, cJSON_IsNumber(v) ? v->valuedouble
                                                         : 0.0);
            x += w;
        }
        i++;
    }
    {
        double x = 10;
        int y = h - 16;

        for (size_t k = 0; k < 5; k++) {
            rc |= plat_buf_printf(b, "<rect x=\"%.0f\" y=\"%d\" width=\"10\" "
                                  "height=\"10\" fill=\"%s\"/><text x=\"%.0f\""
                                  " y=\"%d\" class=\"legend\">%s</text>", x, y,
                                  color_of(st[k]), x + 13, y + 9, st[k]);
            x += 20 + 7.0 * (double)strlen(st[k]);
        }
    }
    rc |= plat_buf_puts(b, "</svg></figure>");
    return rc;
}

/* Transactions per FSP, stacked by status. */
static int tx_chart(struct plat_buf *b, const struct groups *g)
{
    char fsps[MAXG][64];
    int nf = 0, rc = 0;
    double tot[MAXG] = {0}, max = 0;

    for (int i = 0; i < g->n; i++) {
        int k;

        for (k = 0; k < nf; k++)
            if (strcmp(fsps[k], g->g[i].k1) == 0)
                break;
        if (k == nf)
            snprintf(fsps[nf++], sizeof(fsps[0]), "%s", g->g[i].k1);
        tot[k] += (double)g->g[i].count;
        if (tot[k] > max)
            max = tot[k];
    }
    rc |= plat_buf_printf(b, "<figure><figcaption>Transactions per FSP and "
                          "status</figcaption><svg role=\"img\" width=\"460\""
                          " height=\"%d\" viewBox=\"0 0 460 %d\">",
                          44 + (nf ? nf : 1) * 30, 44 + (nf ? nf : 1) * 30);
    {
        static const char *const st[] = {"success", "waiting", "error",
                                         "pendingApproval", "approved"};
        double x = 10;
        int y = 28 + (nf ? nf : 1) * 30;

        for (size_t k = 0; k < 5; k++) {
            rc |= plat_buf_printf(b, "<rect x=\"%.0f\" y=\"%d\" width=\"10\" "
                                  "height=\"10\" fill=\"%s\"/><text x=\"%.0f\""
                                  " y=\"%d\" class=\"legend\">%s</text>", x, y,
                                  color_of(st[k]), x + 13, y + 9, st[k]);
            x += 20 + 7.0 * (double)strlen(st[k]);
        }
    }
    if (!nf)
        rc |= plat_buf_puts(b, "<text x=\"10\" y=\"24\" class=\"none\">"
                            "no transactions stored</text>");
    for (int k = 0; k < nf; k++) {
        double x = 170;
        int y = 10 + k * 30;

        rc |= plat_buf_printf(b, "<text x=\"162\" y=\"%d\" "
                              "text-anchor=\"end\">", y + 15);
        rc |= esc(b, fsps[k]);
        rc |= plat_buf_puts(b, "</text>");
        for (int i = 0; i < g->n; i++) {
            double w;

            if (strcmp(g->g[i].k1, fsps[k]) != 0)
                continue;
            w = max > 0 ? (double)g->g[i].count / max * 270 : 0;
            rc |= plat_buf_printf(b, "<rect x=\"%.1f\" y=\"%d\" "
                                  "width=\"%.1f\" height=\"22\" fill=\"%s\">"
                                  "<title>", x, y, w < 1 ? 1.0 : w,
                                  color_of(g->g[i].k2));
            rc |= esc(b, g->g[i].k2);
            rc |= plat_buf_printf(b, ": %lld (%.2f)</title></rect>",
                                  (long long)g->g[i].count, g->g[i].sum);
            x += w;
        }
    }
    rc |= plat_buf_puts(b, "</svg></figure>");
    return rc;
}

static int collect_payment(const char *json, size_t len, void *payload)
{
    cJSON *p = cJSON_ParseWithLength(json, len);

    if (p)
        cJSON_AddItemToArray(payload, p);
    return 0;
}

static int login_page(struct srv_resp *r)
{
    static const char page[] =
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>agent"
        "</title></head><body><h1>agent: log in</h1><form method=\"post\" "
        "action=\"/api/users/login\" onsubmit=\"event.preventDefault();"
        "fetch('/api/users/login',{method:'POST',headers:{'Content-Type':"
        "'application/json'},body:JSON.stringify({username:this.u.value,"
        "password:this.p.value})}).then(function(){location.reload()})\">"
        "<input name=\"u\" placeholder=\"user\"> <input name=\"p\" "
        "type=\"password\" placeholder=\"password\"> <button>log in</button>"
        "</form></body></html>";

    plat_buf_reset(&r->body);
    if (plat_buf_puts(&r->body, page) < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    r->status = 200;
    r->ctype = "text/html; charset=utf-8";
    return PLAT_OK;
}

int srv_h_dashboard(struct srv_req *q, struct srv_resp *r)
{
    struct serve *s = q->srv;
    struct groups reg = {0}, tx = {0}, ob = {0};
    struct days days = {0};
    cJSON *payments = NULL;
    struct plat_buf *b = &r->body;
    int pid = s->program_id, rc, n = 0;
    const char *labels[MAXG + 8], *colors[MAXG + 8];
    double values[MAXG + 8];
    int64_t conflicts = 0;
    char now[32];
    char lab[MAXG][130];
    char slab[16][64];

    if (!q->authed && s->tls)
        return login_page(r);
    payments = cJSON_CreateArray();
    if (!payments)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = store_read_groups(q->st, pid, STORE_GROUP_REG_STATUS, add_group,
                           &reg);
    if (rc == PLAT_OK)
        rc = store_read_groups(q->st, pid, STORE_GROUP_REG_DAY, add_day,
                               &days);
    if (rc == PLAT_OK)
        rc = store_read_groups(q->st, pid, STORE_GROUP_TX, add_group, &tx);
    if (rc == PLAT_OK)
        rc = store_read_groups(q->st, 0, STORE_GROUP_OUTBOX, add_group, &ob);
    if (rc == PLAT_OK)
        rc = store_read_payments(q->st, pid, collect_payment, payments);
    if (rc == PLAT_OK) {
        struct store_counts c;

        rc = store_counts(q->st, &c);
        conflicts = c.conflicts;
    }
    if (rc < 0)
        goto done;
    plat_time_iso(plat_time_wall_ms(), now);
    plat_buf_reset(b);
    rc |= plat_buf_printf(
        b,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width\">"
        "<title>agent dashboard: program %d</title><style>"
        "body{font:14px sans-serif;margin:16px;background:#f6f7f9;color:#222}"
        "h1{font-size:20px;margin:0 0 4px}p.sub{color:#555;margin:0 0 12px}"
        "main{display:flex;flex-wrap:wrap;gap:12px}"
        "figure{background:#fff;border:1px solid #dde;border-radius:6px;"
        "margin:0;padding:10px}figcaption{font-weight:bold;margin-bottom:6px}"
        "svg text{font:12px sans-serif;fill:#333}svg text.none{fill:#999}"
        "svg text.legend{font-size:11px}"
        "</style></head><body><h1>Program %d on this device</h1>"
        "<p class=\"sub\">Device copy, drawn %s. Counts only.</p><main>",
        pid, pid, now);
    for (int i = 0; i < reg.n && n < MAXG; i++, n++) {
        labels[n] = reg.g[i].k1;
        values[n] = (double)reg.g[i].count;
        colors[n] = color_of(reg.g[i].k1);
    }
    rc |= hbars(b, "Registrations by status", labels, values, colors, n, "",
                0);
    rc |= timeline(b, &days);
    rc |= payments_chart(b, payments);
    rc |= tx_chart(b, &tx);
    n = 0;
    for (int i = 0; i < ob.n && n < MAXG; i++, n++) {
        snprintf(lab[n], sizeof(lab[0]), "%s %s", ob.g[i].k2, ob.g[i].k1);
        labels[n] = lab[n];
        values[n] = (double)ob.g[i].count;
        colors[n] = color_of(ob.g[i].k1);
    }
    labels[n] = "open conflicts";
    values[n] = (double)conflicts;
    colors[n++] = color_of("conflict");
    rc |= hbars(b, "Waiting to be sent (outbox) and conflicts", labels,
                values, colors, n, "", 0);
    /* Last sync per source: age in hours, as bars. */
    {
        int m = 0;
        int64_t nowms = plat_time_wall_ms();

        for (int i = 0; s->sources && s->sources[i] && m < 16; i++) {
            char key[96], *v = NULL;
            int64_t ms = 0;

            snprintf(key, sizeof(key), "last_sync.%s", s->sources[i]);
            if (store_state_get(q->st, key, &v) == PLAT_OK &&
                plat_time_parse_iso(v, &ms) == PLAT_OK) {
                snprintf(slab[m], sizeof(slab[0]), "%s (%.16s)", s->sources[i],
                         v);
                values[m] = (double)(nowms - ms) / 3600000.0;
                colors[m] = values[m] > 24 ? "#d0504a" : "#3fa34d";
            } else {
                snprintf(slab[m], sizeof(slab[0]), "%s (never)",
                         s->sources[i]);
                values[m] = 0;
                colors[m] = "#9a9a9a";
            }
            plat_err_clear();
            plat_free(v);
            labels[m] = slab[m];
            m++;
        }
        /* the scale is at least a day, so a fresh sync is a short bar */
        rc |= hbars(b, "Hours since the last sync, per source (red: over "
                    "a day; grey: never)", labels, values, colors, m, " h",
                    24);
    }
    rc |= plat_buf_puts(b, "</main></body></html>");
    if (rc < 0) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    r->status = 200;
    r->ctype = "text/html; charset=utf-8";
done:
    plat_free(days.day);
    plat_free(days.count);
    cJSON_Delete(payments);
    return rc;
}
