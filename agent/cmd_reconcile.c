/*
 * cmd_reconcile.c - `agent reconcile import FILE.csv --payment N` (an
 * FSP's reconciliation file, checked against 121's template and the store
 * before anything is queued) and `agent export unused-vouchers --payment
 * N` (121's export of the same name, from the store).
 */
#include "cli.h"
#include "cmd_dist.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "store.h"
#include "store_dist.h"
#include "store_registrations.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#define RECON_FILE_MAX (16u << 20)
#define RECON_ROWS_MAX 10000 /* 121's cap per upload (contract 0.5) */

/* The match columns 121's template allows; none: no Excel FSP. */
static int template_columns(struct store *s, cJSON **cols_out)
{
    int rc = agent_dist_recon_columns(s, cols_out);

    if (rc == PLAT_OK && cJSON_GetArraySize(*cols_out) == 0) {
        cJSON_Delete(*cols_out);
        *cols_out = NULL;
        return plat_err_set(ERR_INVALID, "121's reconciliation template "
                            "(pulled by the last sync) has no FSP: this "
                            "program has no Excel FSP to reconcile");
    }
    return rc;
}

int agent_cmd_reconcile_import(struct agent_ctx *ctx, int argc, char **argv)
{
    int payment = 0, npos = 0, pid = 0, rc, ncols, mcol = -1, scol = -1;
    int ecol = -1, i, bad = 0;
    const struct agent_opt opts[] = {
        { "--payment", AGENT_OPT_INT, &payment, 1, 2147483647 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct store_recon_row *rows = NULL;
    char **pos = NULL, *data = NULL, *line, *next, *cells[16], problem[96];
    char **refs = NULL, sep;
    cJSON *allowed = NULL;
    size_t len = 0, n = 0, cap = 0, lineno = 1, k;
    const char *match = NULL;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "FILE.csv", &pos, &npos);
    if (rc < 0)
        return rc;
    if (!payment) {
        rc = plat_err_set(ERR_USAGE, "reconcile import needs --payment N");
        goto done;
    }
    rc = plat_fs_read_file(pos[0], RECON_FILE_MAX, &data, &len);
    if (rc == PLAT_OK && memchr(data, '\0', len))
        rc = plat_err_set(ERR_INVALID, "%s: holds a NUL byte", pos[0]);
    if (rc == PLAT_OK)
        rc = agent_check_utf8(pos[0], data);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_WRITE);
    if (rc == PLAT_OK)
        rc = agent_ctx_program(ctx, 0, &pid);
    if (rc == PLAT_OK)
        rc = template_columns(ctx->store, &allowed);
    if (rc < 0)
        goto done;
    /* Header: the match column, status, optional errorMessage. */
    line = data;
    next = strchr(line, '\n');
    if (next)
        *next++ = '\0';
    if (*line && line[strlen(line) - 1] == '\r')
        line[strlen(line) - 1] = '\0';
    sep = strchr(line, ';') && !strchr(line, ',') ? ';' : ',';
    ncols = agent_dist_csv_split(line, sep, cells, 16);
    for (i = 0; i < ncols; i++) {
        if (strcmp(cells[i], "status") == 0)
            scol = i;
        else if (strcmp(cells[i], "errorMessage") == 0)
            ecol = i;
        else if (agent_dist_in_list(allowed, cells[i]) && mcol < 0)
            mcol = i;
        else {
            rc = plat_err_set(ERR_INVALID, "%s: column '%.60s' is not in "
                              "121's reconciliation template (a match "
                              "column, status, errorMessage)", pos[0],
                              agent_printable(cells[i]) ? cells[i] : "?");
            goto done;
        }
    }
    if (mcol < 0 || scol < 0) {
        char *want = cJSON_PrintUnformatted(allowed);

        rc = plat_err_set(ERR_INVALID, "%s: the header needs a match column "
                          "(one of %s) and status", pos[0],
                          want ? want : "?");
        cJSON_free(want);
        goto done;
    }
    match = cells[mcol];
    for (line = next; line && *line; line = next) {
        struct {
            char *ref;
            int count;
        } b;
        const char *value;

        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (*line && line[strlen(line) - 1] == '\r')
            line[strlen(line) - 1] = '\0';
        if (!*line)
            continue;
        if (n == RECON_ROWS_MAX) {
            rc = plat_err_set(ERR_TOOLARGE, "%s: more than %d rows (121's "
                              "limit per reconciliation file)", pos[0],
                              RECON_ROWS_MAX);
            goto done;
        }
        if (n == cap) {
            size_t c2 = cap ? cap * 2 : 256;
            struct store_recon_row *g = plat_realloc(rows, c2 * sizeof(*g));
            char **g2 = plat_realloc(refs, c2 * sizeof(*g2));

            if (g)
                rows = g;
            if (g2)
                refs = g2;
            if (!g || !g2) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
                goto done;
            }
            cap = c2;
        }
        ncols = agent_dist_csv_split(line, sep, cells, 16);
        memset(&rows[n], 0, sizeof(rows[n]));
        refs[n] = NULL;
        rows[n].status = scol < ncols ? cells[scol] : "";
        rows[n].error_message = ecol >= 0 && ecol < ncols ? cells[ecol] : NULL;
        memset(&b, 0, sizeof(b));
        value = mcol < ncols ? cells[mcol] : "";
        if (strcmp(match, "referenceId") == 0) {
            b.ref = plat_strdup(value);
            b.count = 1;
        } else if (*value) {
            rc = agent_dist_ref_by_value(ctx->store, match, value, &b.ref,
                                         &b.count);
            if (rc < 0)
                goto done;
        }
        refs[n] = b.ref;
        rows[n].ref = b.ref ? b.ref : "";
        n++;
        if (b.count > 1) {
            printf("line %zu: %s matches %d registrations\n", lineno, match,
                   b.count);
            bad++;
            continue;
        }
        if (!b.ref) {
            printf("line %zu: no registration has that %s\n", lineno, match);
            bad++;
            continue;
        }
        rc = store_recon_check(ctx->store, payment, &rows[n - 1], problem);
        if (rc < 0)
            goto done;
        if (problem[0]) {
            printf("line %zu: %s%s%s\n", lineno, problem,
                   b.ref && agent_printable(b.ref) ? ": " : "",
                   b.ref && agent_printable(b.ref) ? b.ref : "");
            bad++;
        }
    }
    if (bad) {
        rc = plat_err_set(ERR_INVALID, "%s: %d of %zu rows cannot be "
                          "reconciled (listed above): nothing queued",
                          pos[0], bad, n);
        goto done;
    }
    if (n == 0) {
        rc = plat_err_set(ERR_INVALID, "%s: no rows", pos[0]);
        goto done;
    }
    rc = store_recon_queue(ctx->store, pid, payment, rows, n);
    if (rc == PLAT_OK)
        printf("%zu reconciliation rows of payment %d queued for 121\n", n,
               payment);
done:
    for (k = 0; refs && k < n; k++)
        plat_free(refs[k]);
    plat_free(refs);
    plat_free(rows);
    cJSON_Delete(allowed);
    plat_free(data);
    plat_free(pos);
    return rc;
}

/* ---- export unused-vouchers ------------------------------------------------ */

static void csv_out(FILE *f, const char *v)
{
    const char *p;

    if (!strpbrk(v, ",;\"\r\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (p = v; *p; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

int agent_cmd_export_unused(struct agent_ctx *ctx, int argc, char **argv)
{
    int payment = 0, npos = 0, rc;
    const struct agent_opt opts[] = {
        { "--payment", AGENT_OPT_INT, &payment, 1, 2147483647 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    static const char *const cols[] = { "referenceId", "paymentId",
                                        "issueDate", "whatsappPhoneNumber",
                                        "lastExternalUpdate" };
    cJSON *arr = cJSON_CreateArray(), *out = NULL;
    const cJSON *o;
    char **pos = NULL;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc == PLAT_OK && !payment)
        rc = plat_err_set(ERR_USAGE, "export unused-vouchers needs --payment "
                          "N");
    if (rc == PLAT_OK && !arr)
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
    if (rc == PLAT_OK)
        rc = store_vouchers_list(ctx->store, payment, 0,
                                 agent_dist_unused_voucher, arr);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        out = cJSON_CreateObject();
        if (!out || !cJSON_AddStringToObject(out, "fileName",
                                             "unused-vouchers") ||
            !cJSON_AddItemReferenceToObject(out, "data", arr)) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(out);
        goto done;
    }
    for (size_t c = 0; c < 5; c++)
        printf("%s%s", c ? "," : "", cols[c]);
    printf("\n");
    cJSON_ArrayForEach(o, arr) {
        for (size_t c = 0; c < 5; c++) {
            char *t = agent_json_text(cJSON_GetObjectItemCaseSensitive(
                o, cols[c]));

            if (c)
                putchar(',');
            csv_out(stdout, t ? t : "");
            plat_free(t);
        }
        putchar('\n');
    }
done:
    cJSON_Delete(out);
    cJSON_Delete(arr);
    plat_free(pos);
    return rc;
}
