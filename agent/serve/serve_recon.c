/*
 * serve_recon.c - POST /api/programs/{id}/payments/{pid}/excel-
 * reconciliation: an FSP's reconciliation file (multipart/form-data, field
 * "file", a .csv) checked row by row with store_recon_check and queued in
 * one go with store_recon_queue; the next sync uploads it to 121.
 *
 * Answered as 121 answers (contract 6): 201 with importResult and
 * aggregateImportResult; a row whose match value has no transaction in
 * the payment is listed as importStatus "notFound" and not queued; a bad
 * status, header or file is a 400 {"errors": ...} and nothing is queued;
 * a program without an Excel FSP (as last pulled) is a 404.
 */
#include "serve_internal.h"
#include "cmd_dist.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "store.h"
#include "store_dist.h"
#include "store_registrations.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RECON_ROWS_MAX 10000 /* 121's cap per upload */
#define RECON_COLS_MAX 16

/* Find `needle` (n bytes) in [h, h + hl). */
static const char *find_bytes(const char *h, size_t hl, const char *needle,
                              size_t n)
{
    for (size_t i = 0; n <= hl && i <= hl - n; i++)
        if (h[i] == needle[0] && memcmp(h + i, needle, n) == 0)
            return h + i;
    return NULL;
}

/* The content of the part named "file" of a multipart body (boundary taken
 * from the body's first line), copied NUL-terminated into *out; its
 * filename into fname. 0 when there is no such part. */
static int multipart_file(const char *body, size_t len, char **out,
                          char *fname, size_t fname_n)
{
    const char *eol = find_bytes(body, len, "\r\n", 2);
    const char *p, *end = body + len;
    char delim[200];
    size_t dn;

    *out = NULL;
    if (!eol || len < 4 || body[0] != '-' || body[1] != '-' ||
        (size_t)(eol - body) + 2 >= sizeof(delim))
        return 0;
    /* parts are separated by CRLF "--boundary" */
    dn = (size_t)snprintf(delim, sizeof(delim), "\r\n%.*s",
                          (int)(eol - body), body);
    p = eol + 2;
    while (p < end) {
        const char *hdr_end = find_bytes(p, (size_t)(end - p), "\r\n\r\n", 4);
        const char *content, *stop, *fn;

        if (!hdr_end)
            return 0;
        content = hdr_end + 4;
        stop = find_bytes(content, (size_t)(end - content), delim, dn);
        if (!stop)
            return 0;
        if (find_bytes(p, (size_t)(hdr_end - p), "name=\"file\"", 11)) {
            fn = find_bytes(p, (size_t)(hdr_end - p), "filename=\"", 10);
            fname[0] = '\0';
            if (fn) {
                const char *q = memchr(fn + 10, '"', (size_t)(hdr_end - fn - 10));
                size_t k = q ? (size_t)(q - fn - 10) : 0;

                if (k >= fname_n)
                    k = fname_n - 1;
                memcpy(fname, fn + 10, k);
                fname[k] = '\0';
            }
            *out = plat_malloc((size_t)(stop - content) + 1);
            if (!*out)
                return -1;
            memcpy(*out, content, (size_t)(stop - content));
            (*out)[stop - content] = '\0';
            return 1;
        }
        p = stop + dn;
        if (p + 2 <= end && p[0] == '-' && p[1] == '-')
            return 0;
        p += 2; /* CRLF */
    }
    return 0;
}

static void trim(char *s)
{
    size_t n = strlen(s);

    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

struct recon_job {
    struct store_recon_row *rows;
    char **refs;
    size_t n, cap;
};

static int job_grow(struct recon_job *j)
{
    size_t c2 = j->cap ? j->cap * 2 : 64;
    struct store_recon_row *g = plat_realloc(j->rows, c2 * sizeof(*g));
    char **g2;

    if (!g)
        return plat_err_set(ERR_NOMEM, "out of memory");
    j->rows = g;
    g2 = plat_realloc(j->refs, c2 * sizeof(*g2));
    if (!g2)
        return plat_err_set(ERR_NOMEM, "out of memory");
    j->refs = g2;
    j->cap = c2;
    return PLAT_OK;
}

int srv_h_post_recon(struct srv_req *q, struct srv_resp *r, int pid,
                     const char *payid)
{
    struct recon_job job = {0};
    cJSON *prog = NULL, *cols = NULL, *result = NULL, *agg, *item;
    char *data = NULL, *line, *next, *cells[RECON_COLS_MAX], fname[256];
    char msg[400], problem[96], sep, *endp;
    int rc = PLAT_OK, ncols, mcol = -1, scol = -1, ecol = -1, i;
    int ok_n = 0, fail_n = 0, nf_n = 0;
    long payment;
    const char *match;

    if (srv_program_or_403(q, r, pid, &prog) < 0)
        return PLAT_OK;
    cJSON_Delete(prog);
    payment = strtol(payid, &endp, 10);
    if (!*payid || *endp || payment <= 0 || payment > 2147483647L)
        return srv_error(r, 400, "Validation failed (numeric string is "
                         "expected)");
    rc = agent_dist_recon_columns(q->st, &cols);
    if (rc < 0)
        goto done;
    if (cJSON_GetArraySize(cols) == 0) {
        snprintf(msg, sizeof(msg), "No FSP configuration with integration "
                 "type excel found in program %d", pid);
        rc = srv_errors(r, 404, msg);
        goto done;
    }
    rc = multipart_file(q->body ? q->body : "", q->body_len, &data, fname,
                        sizeof(fname));
    if (rc < 0)
        goto done;
    rc = PLAT_OK;
    if (!data) {
        rc = srv_errors(r, 400, "No file uploaded (multipart/form-data "
                        "field 'file')");
        goto done;
    }
    if (strlen(fname) < 4 || strcasecmp(fname + strlen(fname) - 4, ".csv")) {
        rc = srv_errors(r, 400, "Wrong file extension. It should be .csv");
        goto done;
    }
    line = data;
    if ((unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
        (unsigned char)line[2] == 0xBF)
        line += 3; /* UTF-8 BOM */
    next = strchr(line, '\n');
    if (next)
        *next++ = '\0';
    trim(line);
    sep = strchr(line, ';') && !strchr(line, ',') ? ';' : ',';
    ncols = agent_dist_csv_split(line, sep, cells, RECON_COLS_MAX);
    for (i = 0; i < ncols; i++) {
        if (strcmp(cells[i], "status") == 0)
            scol = i;
        else if (strcmp(cells[i], "errorMessage") == 0)
            ecol = i;
        else if (agent_dist_in_list(cols, cells[i]) && mcol < 0)
            mcol = i;
        else {
            mcol = -2;
            break;
        }
    }
    if (mcol < 0 || scol < 0) {
        char *want = cJSON_PrintUnformatted(cols);

        snprintf(msg, sizeof(msg), "The file must have exactly one of the "
                 "columns %.200s, a status column and optionally "
                 "errorMessage", want ? want : "?");
        cJSON_free(want);
        rc = srv_errors(r, 400, msg);
        goto done;
    }
    match = cells[mcol];
    result = cJSON_CreateArray();
    if (!result) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    for (line = next; line && *line; line = next) {
        struct {
            char *ref;
            int count;
        } b = {NULL, 0};
        const char *value, *status, *err;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        trim(line);
        if (!*line)
            continue;
        if (ok_n + fail_n + nf_n == RECON_ROWS_MAX) {
            snprintf(msg, sizeof(msg), "Too many records. Maximum number of "
                     "records is %d.", RECON_ROWS_MAX);
            rc = srv_errors(r, 400, msg);
            goto done;
        }
        ncols = agent_dist_csv_split(line, sep, cells, RECON_COLS_MAX);
        value = mcol < ncols ? cells[mcol] : "";
        status = scol < ncols ? cells[scol] : "";
        err = ecol >= 0 && ecol < ncols && cells[ecol][0] ? cells[ecol] : NULL;
        if (strcmp(status, "success") != 0 && strcmp(status, "error") != 0) {
            snprintf(msg, sizeof(msg), "Status must be 'success' or 'error', "
                     "found '%.40s'", status);
            rc = srv_errors(r, 400, msg);
            goto done;
        }
        if (strcmp(match, "referenceId") == 0) {
            b.ref = plat_strdup(value);
            b.count = 1;
        } else if (*value) {
            rc = agent_dist_ref_by_value(q->st, match, value, &b.ref,
                                         &b.count);
            if (rc < 0) {
                /* a value the search refuses matches nobody */
                if (rc != ERR_INVALID)
                    goto done;
                plat_err_clear();
                rc = PLAT_OK;
            }
        }
        item = cJSON_CreateObject();
        if (!item) {
            plat_free(b.ref);
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        cJSON_AddItemToArray(result, item);
        problem[0] = '\0';
        if (b.ref && b.count == 1) {
            struct store_recon_row row = {b.ref, status, err};

            rc = store_recon_check(q->st, (int)payment, &row, problem);
            if (rc < 0) {
                plat_free(b.ref);
                goto done;
            }
        }
        if (!b.ref || b.count != 1 || problem[0]) {
            cJSON_AddStringToObject(item, match, value);
            cJSON_AddStringToObject(item, "status", status);
            cJSON_AddStringToObject(item, "importStatus", "notFound");
            plat_free(b.ref);
            nf_n++;
            continue;
        }
        if (job.n == job.cap && (rc = job_grow(&job)) < 0) {
            plat_free(b.ref);
            goto done;
        }
        job.refs[job.n] = b.ref;
        job.rows[job.n].ref = b.ref;
        job.rows[job.n].status = status;
        job.rows[job.n].error_message =
            strcmp(status, "error") == 0 ? err : NULL;
        job.n++;
        cJSON_AddStringToObject(item, "referenceId", b.ref);
        if (strcmp(match, "referenceId") != 0)
            cJSON_AddStringToObject(item, match, value);
        cJSON_AddStringToObject(item, "status", status);
        cJSON_AddStringToObject(item, "importStatus",
                                strcmp(status, "success") == 0
                                    ? "paymentSuccess" : "paymentFailed");
        if (strcmp(status, "success") == 0)
            ok_n++;
        else
            fail_n++;
    }
    if (job.n > 0) {
        rc = store_recon_queue(q->st, pid, (int)payment, job.rows, job.n);
        if (rc == ERR_INVALID) {
            snprintf(msg, sizeof(msg), "%s", plat_err_msg());
            plat_err_clear();
            rc = srv_errors(r, 400, msg);
            goto done;
        }
        if (rc < 0)
            goto done;
        log_info("serve: %zu reconciliation rows of payment %ld queued",
                 job.n, payment);
    }
    item = cJSON_CreateObject();
    if (!item) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    cJSON_AddItemToObject(item, "importResult", result);
    result = NULL;
    agg = cJSON_AddObjectToObject(item, "aggregateImportResult");
    cJSON_AddNumberToObject(agg, "countPaymentSuccess", ok_n);
    cJSON_AddNumberToObject(agg, "countPaymentFailed", fail_n);
    cJSON_AddNumberToObject(agg, "countNotFound", nf_n);
    rc = srv_json_take(r, 201, item);
done:
    for (size_t k = 0; k < job.n; k++)
        plat_free(job.refs[k]);
    plat_free(job.refs);
    plat_free(job.rows);
    cJSON_Delete(result);
    cJSON_Delete(cols);
    plat_free(data);
    return rc;
}
