/*
 * cmd_vouchers.c - `agent vouchers print | export | hand-out`: the stored
 * paper voucher images of a payment on A4 pages (libharu), as PNG files,
 * and the hand-out marks (store_dist.h), all offline.
 *
 * Layout: a cover page (program, payment, counts, the people whose image
 * is missing), then VOUCHERS_PER_PAGE vouchers per page in a 2 x 4 grid,
 * each image scaled into its cell with the name, phone number,
 * referenceId and voucher code under it. Text is set in Helvetica
 * (WinAnsi): characters outside Latin-1 print as '?'.
 */
#include "cli.h"
#include "cmd_dist.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_log.h"
#include "store.h"
#include "store_dist.h"
#include "store_program.h"
#include "store_sync.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <hpdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COLS 2
#define ROWS 4
#define VOUCHERS_PER_PAGE (COLS * ROWS)
#define PAGE_W 595.276f /* A4 in points */
#define PAGE_H 841.89f
#define MARGIN 36.0f
#define TEXT_LINES 4
#define LINE_H 10.0f
#define MISSING_PER_COVER 40
#define MISSING_PER_PAGE 70

/* What `print` collects per selected voucher. */
struct vsel {
    char *ref, *name, *phone;
    char code[48];
    unsigned char *image;
    size_t image_len;
};

struct vlist {
    const char *status, *attr_key, *attr_value;
    struct vsel *v;
    size_t n, cap;
    char **missing;
    size_t n_missing, cap_missing;
    int64_t selected, handed_out;
    int with_images;
};

static void vlist_dispose(struct vlist *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        plat_free(l->v[i].ref);
        plat_free(l->v[i].name);
        plat_free(l->v[i].phone);
        plat_free(l->v[i].image);
    }
    for (i = 0; i < l->n_missing; i++)
        plat_free(l->missing[i]);
    plat_free(l->v);
    plat_free(l->missing);
}

static int is_paper(const struct store_voucher_row *r)
{
    return r->fsp_name && strstr(r->fsp_name, "voucher-paper") != NULL;
}

/* Vouchers of the payment: those with an image, and the paper-voucher
 * transactions (success or waiting) without one, which are "missing". */
static int collect(const struct store_voucher_row *r, void *payload)
{
    struct vlist *l = payload;
    struct vsel *s;
    int paid = r->tx_status && (strcmp(r->tx_status, "success") == 0 ||
                                strcmp(r->tx_status, "waiting") == 0);

    if (!r->image_len && !(is_paper(r) && paid))
        return 0;
    if (!agent_dist_match(r->reg, l->status, l->attr_key, l->attr_value))
        return 0;
    l->selected++;
    l->handed_out += r->handed_out_at != NULL;
    if (!r->image_len) {
        if (l->n_missing == l->cap_missing) {
            size_t cap = l->cap_missing ? l->cap_missing * 2 : 32;
            char **g = plat_realloc(l->missing, cap * sizeof(*g));

            if (!g)
                return plat_err_set(ERR_NOMEM, "out of memory");
            l->missing = g;
            l->cap_missing = cap;
        }
        l->missing[l->n_missing] = plat_strdup(r->ref);
        if (!l->missing[l->n_missing])
            return plat_err_set(ERR_NOMEM, "out of memory");
        l->n_missing++;
        return 0;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct vsel *g = plat_realloc(l->v, cap * sizeof(*g));

        if (!g)
            return plat_err_set(ERR_NOMEM, "out of memory");
        l->v = g;
        l->cap = cap;
    }
    s = &l->v[l->n];
    memset(s, 0, sizeof(*s));
    l->n++;
    s->ref = plat_strdup(r->ref);
    s->name = plat_strdup(agent_dist_name(r->reg));
    s->phone = plat_strdup(agent_dist_phone(r->reg));
    agent_dist_code(s->code, sizeof(s->code), r->payment_id,
                    (long long)r->registration_program_id);
    if (l->with_images && r->image) {
        s->image = plat_malloc(r->image_len);
        if (s->image) {
            memcpy(s->image, r->image, r->image_len);
            s->image_len = r->image_len;
        }
    }
    if (!s->ref || !s->name || !s->phone || (l->with_images && !s->image))
        return plat_err_set(ERR_NOMEM, "out of memory");
    return 0;
}

static int payment_exists(struct agent_ctx *ctx, int pid, int payment)
{
    cJSON *p = NULL;
    int rc = store_payment_get(ctx->store, pid, payment, &p);

    cJSON_Delete(p);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "payment %d of program %d is not in "
                          "the store (run `agent sync --now --vouchers`)",
                          payment, pid);
    return rc;
}

/* ---- PDF ----------------------------------------------------------------- */

struct pdf_err {
    HPDF_STATUS code, detail;
};

static void on_pdf_error(HPDF_STATUS code, HPDF_STATUS detail, void *data)
{
    struct pdf_err *e = data;

    if (!e->code) {
        e->code = code;
        e->detail = detail;
    }
}

/* UTF-8 to Latin-1 for the standard fonts: other characters become '?',
 * control characters a space. */
static void latin1(const char *in, char *out, size_t n)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;

    while (*p && o + 1 < n) {
        unsigned cp;
        int len;

        if (*p < 0x80) {
            cp = *p;
            len = 1;
        } else if ((*p & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
            cp = ((unsigned)(*p & 0x1f) << 6) | (p[1] & 0x3f);
            len = 2;
        } else {
            cp = '?';
            len = (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 1;
            for (int i = 1; i < len; i++)
                if (!p[i]) {
                    len = i;
                    break;
                }
        }
        out[o++] = (char)(cp < 0x20 || cp == 0x7f ? ' ' : cp > 0xff ? '?'
                                                                    : cp);
        p += len;
    }
    out[o] = '\0';
}

static void text_at(HPDF_Page page, float x, float y, const char *s)
{
    char buf[256];

    latin1(s, buf, sizeof(buf));
    HPDF_Page_BeginText(page);
    HPDF_Page_TextOut(page, x, y, buf);
    HPDF_Page_EndText(page);
}

static HPDF_Page new_page(HPDF_Doc pdf, HPDF_Font font, float size)
{
    HPDF_Page page = HPDF_AddPage(pdf);

    HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    HPDF_Page_SetFontAndSize(page, font, size);
    return page;
}

static void cover(HPDF_Doc pdf, HPDF_Font font, HPDF_Font bold,
                  const char *program, int pid, int payment,
                  const struct vlist *l, const char *filter, int *pages)
{
    HPDF_Page page = new_page(pdf, bold, 18);
    char line[300];
    float y = PAGE_H - MARGIN - 18;
    size_t i, shown;

    text_at(page, MARGIN, y, program);
    HPDF_Page_SetFontAndSize(page, font, 12);
    y -= 28;
    snprintf(line, sizeof(line), "Program %d, payment %d: paper vouchers",
             pid, payment);
    text_at(page, MARGIN, y, line);
    y -= 18;
    snprintf(line, sizeof(line), "Selection: %.200s", filter);
    text_at(page, MARGIN, y, line);
    y -= 24;
    snprintf(line, sizeof(line), "Vouchers selected: %lld",
             (long long)l->selected);
    text_at(page, MARGIN, y, line);
    y -= 16;
    snprintf(line, sizeof(line), "Printed (image stored): %zu on %zu pages",
             l->n, (l->n + VOUCHERS_PER_PAGE - 1) / VOUCHERS_PER_PAGE);
    text_at(page, MARGIN, y, line);
    y -= 16;
    snprintf(line, sizeof(line), "Missing images (not printed): %zu",
             l->n_missing);
    text_at(page, MARGIN, y, line);
    y -= 16;
    snprintf(line, sizeof(line), "Already handed out: %lld",
             (long long)l->handed_out);
    text_at(page, MARGIN, y, line);
    y -= 24;
    (*pages)++;
    if (!l->n_missing)
        return;
    text_at(page, MARGIN, y, "Missing images (referenceId):");
    y -= 14;
    HPDF_Page_SetFontAndSize(page, font, 9);
    for (i = 0, shown = 0; i < l->n_missing; i++, shown++) {
        size_t per = *pages == 1 ? MISSING_PER_COVER : MISSING_PER_PAGE;

        if (shown == per) {
            page = new_page(pdf, font, 9);
            (*pages)++;
            y = PAGE_H - MARGIN - 9;
            shown = 0;
        }
        text_at(page, MARGIN, y, l->missing[i]);
        y -= LINE_H;
    }
}

static void voucher_cell(HPDF_Doc pdf, HPDF_Page page, const struct vsel *v,
                         int slot, int *bad_images)
{
    float cw = (PAGE_W - 2 * MARGIN) / COLS;
    float ch = (PAGE_H - 2 * MARGIN) / ROWS;
    float x = MARGIN + (float)(slot % COLS) * cw;
    float top = PAGE_H - MARGIN - (float)(slot / COLS) * ch;
    float boxw = cw - 12, boxh = ch - 12 - TEXT_LINES * LINE_H - 4;
    float iw, ih, scale, ty;
    HPDF_Image img;

    img = HPDF_LoadPngImageFromMem(pdf, v->image, (HPDF_UINT)v->image_len);
    if (img) {
        iw = (float)HPDF_Image_GetWidth(img);
        ih = (float)HPDF_Image_GetHeight(img);
        scale = boxw / iw < boxh / ih ? boxw / iw : boxh / ih;
        HPDF_Page_DrawImage(page, img, x + 6, top - 6 - ih * scale,
                            iw * scale, ih * scale);
        ty = top - 6 - ih * scale - LINE_H;
    } else {
        (*bad_images)++;
        HPDF_ResetError(pdf);
        text_at(page, x + 6, top - 20, "(image unreadable)");
        ty = top - 20 - LINE_H;
    }
    text_at(page, x + 6, ty, v->name);
    text_at(page, x + 6, ty - LINE_H, v->phone);
    text_at(page, x + 6, ty - 2 * LINE_H, v->ref);
    text_at(page, x + 6, ty - 3 * LINE_H, v->code);
    /* Cut lines between the cells. */
    HPDF_Page_SetLineWidth(page, 0.3f);
    HPDF_Page_Rectangle(page, x, top - ch, cw, ch);
    HPDF_Page_Stroke(page);
}

static int write_pdf(const char *out, const char *program, int pid,
                     int payment, const struct vlist *l, const char *filter,
                     int *pages_out, int *bad_out)
{
    struct pdf_err err = {0, 0};
    HPDF_Doc pdf = HPDF_New(on_pdf_error, &err);
    HPDF_Font font, bold;
    HPDF_Page page = NULL;
    char *tmp = NULL;
    size_t i, len = strlen(out);
    int pages = 0, bad = 0, rc = PLAT_OK;

    if (!pdf)
        return plat_err_set(ERR_NOMEM, "cannot start a PDF (libharu)");
    HPDF_SetCompressionMode(pdf, HPDF_COMP_ALL);
    font = HPDF_GetFont(pdf, "Helvetica", "WinAnsiEncoding");
    bold = HPDF_GetFont(pdf, "Helvetica-Bold", "WinAnsiEncoding");
    cover(pdf, font, bold, program, pid, payment, l, filter, &pages);
    for (i = 0; i < l->n && !err.code; i++) {
        if (i % VOUCHERS_PER_PAGE == 0) {
            page = new_page(pdf, font, 8);
            pages++;
        }
        voucher_cell(pdf, page, &l->v[i], (int)(i % VOUCHERS_PER_PAGE), &bad);
    }
    tmp = plat_malloc(len + 8);
    if (!tmp) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    snprintf(tmp, len + 8, "%s.tmp", out);
    if (!err.code)
        HPDF_SaveToFile(pdf, tmp);
    if (err.code) {
        rc = plat_err_set(ERR_IO, "cannot write %s: libharu error 0x%04x "
                          "(detail %u)", out, (unsigned)err.code,
                          (unsigned)err.detail);
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, out) != 0) {
        rc = plat_err_set(ERR_IO, "cannot write %s: %s", out,
                          strerror(errno));
        unlink(tmp);
    }
    *pages_out = pages;
    *bad_out = bad;

done:
    plat_free(tmp);
    HPDF_Free(pdf);
    return rc;
}

static int program_name(struct agent_ctx *ctx, int pid, char *out, size_t n)
{
    cJSON *p = NULL;
    const cJSON *t;
    int rc = store_program_get(ctx->store, pid, &p, NULL);

    snprintf(out, n, "Program %d", pid);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    t = cJSON_GetObjectItemCaseSensitive(p, "titlePortal");
    if (cJSON_IsObject(t))
        t = cJSON_GetObjectItemCaseSensitive(t, "en") ? cJSON_GetObjectItemCaseSensitive(t, "en") : t->child;
    if (cJSON_IsString(t) && t->valuestring[0])
        snprintf(out, n, "%s", t->valuestring);
    cJSON_Delete(p);
    return PLAT_OK;
}

static int select_vouchers(struct agent_ctx *ctx, int payment,
                           struct vlist *l, int *pid)
{
    int rc = agent_ctx_open(ctx, AGENT_NEED_STORE);

    if (rc == PLAT_OK)
        rc = agent_ctx_program(ctx, 0, pid);
    if (rc == PLAT_OK)
        rc = payment_exists(ctx, *pid, payment);
    if (rc == PLAT_OK)
        rc = store_vouchers_list(ctx->store, payment, l->with_images, collect,
                                 l);
    return rc;
}

int agent_cmd_vouchers_print(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *out = NULL, *attr = NULL;
    int payment = 0, npos = 0, pid = 0, pages = 0, bad = 0, rc;
    struct vlist l;
    const struct agent_opt opts[] = {
        { "--payment", AGENT_OPT_INT, &payment, 1, 2147483647 },
        { "--status", AGENT_OPT_STRING, &l.status, 0, 0 },
        { "--attr", AGENT_OPT_STRING, &attr, 0, 0 },
        { "-o", AGENT_OPT_STRING, &out, 0, 0 },
        { "--output", AGENT_OPT_STRING, &out, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    char **pos = NULL, *key = NULL, name[200], filter[300];
    cJSON *js = NULL;

    memset(&l, 0, sizeof(l));
    l.with_images = 1;
    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        return rc;
    if (!payment || !out || !*out) {
        rc = plat_err_set(ERR_USAGE, "vouchers print needs --payment N and "
                          "-o FILE.pdf");
        goto done;
    }
    if (attr && (rc = agent_dist_attr(attr, &key, &l.attr_value)) < 0)
        goto done;
    l.attr_key = key;
    rc = select_vouchers(ctx, payment, &l, &pid);
    if (rc == PLAT_OK)
        rc = program_name(ctx, pid, name, sizeof(name));
    if (rc < 0)
        goto done;
    snprintf(filter, sizeof(filter), "%s%s%s%s%s",
             l.status ? "status " : "", l.status ? l.status : "",
             l.status && key ? ", " : "", key ? "attribute " : "",
             key ? key : "");
    if (!filter[0])
        snprintf(filter, sizeof(filter), "all");
    rc = write_pdf(out, name, pid, payment, &l, filter, &pages, &bad);
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        js = cJSON_CreateObject();
        if (!js || !cJSON_AddStringToObject(js, "file", out) ||
            !cJSON_AddNumberToObject(js, "pages", pages) ||
            !cJSON_AddNumberToObject(js, "printed", (double)l.n) ||
            !cJSON_AddNumberToObject(js, "selected", (double)l.selected) ||
            !cJSON_AddNumberToObject(js, "handedOut", (double)l.handed_out) ||
            !cJSON_AddNumberToObject(js, "unreadable", bad) ||
            !cJSON_AddItemToObject(js, "missing",
                                   l.n_missing
                                       ? cJSON_CreateStringArray(
                                             (const char *const *)l.missing,
                                             (int)l.n_missing)
                                       : cJSON_CreateArray())) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(js);
    } else {
        printf("%s: %d pages, %zu vouchers printed of %lld selected\n", out,
               pages, l.n, (long long)l.selected);
        if (l.n_missing) {
            printf("missing images (%zu, not printed; run `agent sync --now "
                   "--vouchers`):\n", l.n_missing);
            for (size_t i = 0; i < l.n_missing; i++)
                printf("  %s\n", l.missing[i]);
        }
        if (bad)
            printf("%d images could not be read (marked on the page)\n", bad);
    }
done:
    cJSON_Delete(js);
    vlist_dispose(&l);
    plat_free(key);
    plat_free(pos);
    return rc;
}

int agent_cmd_vouchers_export(struct agent_ctx *ctx, int argc, char **argv)
{
    int payment = 0, npos = 0, pid = 0, rc;
    struct vlist l;
    const struct agent_opt opts[] = {
        { "--payment", AGENT_OPT_INT, &payment, 1, 2147483647 },
        { "--status", AGENT_OPT_STRING, &l.status, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    char **pos = NULL, path[4096];
    size_t i, written = 0;

    memset(&l, 0, sizeof(l));
    l.with_images = 1;
    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "DIR", &pos, &npos);
    if (rc < 0)
        return rc;
    if (!payment) {
        rc = plat_err_set(ERR_USAGE, "vouchers export needs --payment N");
        goto done;
    }
    if (mkdir(pos[0], 0700) != 0 && errno != EEXIST) {
        rc = plat_err_set(ERR_IO, "cannot make directory %s: %s", pos[0],
                          strerror(errno));
        goto done;
    }
    rc = select_vouchers(ctx, payment, &l, &pid);
    for (i = 0; rc == PLAT_OK && i < l.n; i++) {
        /* File names from referenceIds: anything but [A-Za-z0-9._-]
         * becomes '_' so a referenceId cannot name a path. */
        char safe[256];
        size_t j;

        for (j = 0; l.v[i].ref[j] && j + 1 < sizeof(safe); j++) {
            char ch = l.v[i].ref[j];

            safe[j] = ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                       (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
                       (ch == '.' && j > 0)) ? ch : '_';
        }
        safe[j] = '\0';
        snprintf(path, sizeof(path), "%s/payment-%d-%s.png", pos[0], payment,
                 safe);
        rc = plat_fs_write_atomic(path, l.v[i].image, l.v[i].image_len, 0600);
        written += rc == PLAT_OK;
    }
    if (rc == PLAT_OK) {
        printf("%zu voucher images written to %s\n", written, pos[0]);
        if (l.n_missing)
            printf("%zu missing (no image stored): %s%s\n", l.n_missing,
                   l.missing[0], l.n_missing > 1 ? ", ..." : "");
    }
done:
    vlist_dispose(&l);
    plat_free(pos);
    return rc;
}

int agent_cmd_vouchers_handout(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *by = NULL;
    int payment = 0, npos = 0, pid = 0, i, refused = 0, first_rc = 0, rc;
    const struct agent_opt opts[] = {
        { "--payment", AGENT_OPT_INT, &payment, 1, 2147483647 },
        { "--by", AGENT_OPT_STRING, &by, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct store_handout prev, done_h;
    char **pos = NULL, first_msg[400];
    cJSON *js = NULL, *o;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, -1, "REF...", &pos, &npos);
    if (rc < 0)
        return rc;
    if (!payment) {
        rc = plat_err_set(ERR_USAGE, "vouchers hand-out needs --payment N");
        goto done;
    }
    for (i = 0; rc == PLAT_OK && i < npos; i++)
        rc = agent_check_ref(pos[i]);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_WRITE);
    if (rc == PLAT_OK)
        rc = agent_ctx_program(ctx, 0, &pid);
    if (rc == PLAT_OK && ctx->g.json && !(js = cJSON_CreateArray()))
        rc = plat_err_set(ERR_NOMEM, "out of memory");
    if (rc < 0)
        goto done;
    /* Each hand-out is its own transaction: one refused (handed out
     * already, unknown) does not undo the others. */
    for (i = 0; i < npos; i++) {
        rc = store_handout_mark(ctx->store, pid, pos[i], payment,
                                agent_dist_user(by), &prev, &done_h);
        if (rc == ERR_EXISTS || rc == ERR_NOTFOUND) {
            if (!refused++) {
                first_rc = rc;
                snprintf(first_msg, sizeof(first_msg), "%s", plat_err_msg());
            }
            if (npos > 1)
                printf("%s: refused: %s\n", pos[i], plat_err_msg());
            plat_err_clear();
            continue;
        }
        if (rc < 0)
            goto done;
        if (js) {
            o = cJSON_CreateObject();
            if (!o || !cJSON_AddStringToObject(o, "referenceId", pos[i]) ||
                !cJSON_AddNumberToObject(o, "paymentId", payment) ||
                !cJSON_AddStringToObject(o, "handedOutAt", done_h.at) ||
                !cJSON_AddStringToObject(o, "handedOutBy", done_h.by) ||
                !cJSON_AddStringToObject(o, "clock", done_h.clock)) {
                cJSON_Delete(o);
                rc = plat_err_set(ERR_NOMEM, "out of memory");
                goto done;
            }
            cJSON_AddItemToArray(js, o);
        } else if (!agent_ctx_quiet(ctx)) {
            printf("%s: voucher of payment %d handed out at %s (device "
                   "time) by %s; queued for 121\n", pos[i], payment,
                   done_h.at, done_h.by);
        }
    }
    rc = js ? agent_print_json(js) : PLAT_OK;
    if (rc == PLAT_OK && refused)
        rc = npos == 1 ? plat_err_set(first_rc, "%s", first_msg)
                       : plat_err_set(ERR_EXISTS, "%d of %d hand-outs "
                                      "refused (listed above); the others "
                                      "are marked", refused, npos);
done:
    cJSON_Delete(js);
    plat_free(pos);
    return rc;
}
