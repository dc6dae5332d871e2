/*
 * output.c - tables, key/value lines and JSON on stdout.
 */
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"

#include <cjson/cJSON.h>
#include <string.h>

void agent_table_init(struct agent_table *t, int ncols,
                      const char *const *headers)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    t->headers = headers;
}

void agent_table_dispose(struct agent_table *t)
{
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        plat_free(t->cells[i]);
    plat_free(t->cells);
    memset(t, 0, sizeof(*t));
}

/* Length of the UTF-8 sequence starting with byte `c` (1 for a stray
 * continuation byte, so the loop always advances). */
static size_t seq_len(unsigned char c)
{
    if (c >= 0xf0)
        return 4;
    if (c >= 0xe0)
        return 3;
    if (c >= 0xc0)
        return 2;
    return 1;
}

/* 1 if the character at `p` (of `n` bytes) must not reach a terminal:
 * C0 controls, DEL and the C1 controls U+0080..U+009F. */
static int is_control(const unsigned char *p, size_t n)
{
    if (n == 1)
        return p[0] < 0x20 || p[0] == 0x7f;
    return n == 2 && p[0] == 0xc2 && p[1] < 0xa0;
}

/* A copy of `s` with controls turned into spaces, cut after `max`
 * characters (0: no limit) with an ellipsis. */
static char *clean(const char *s, size_t max)
{
    size_t len = strlen(s), chars = 0, i = 0, o = 0;
    char *out = plat_malloc(len + 4);

    if (!out)
        return NULL;
    while (i < len) {
        size_t n = seq_len((unsigned char)s[i]);

        if (i + n > len)
            n = len - i;
        if (max && chars == max) {
            memcpy(out + o, "\xe2\x80\xa6", 3); /* U+2026 */
            o += 3;
            break;
        }
        if (is_control((const unsigned char *)s + i, n)) {
            out[o++] = ' ';
        } else {
            memcpy(out + o, s + i, n);
            o += n;
        }
        i += n;
        chars++;
    }
    out[o] = '\0';
    return out;
}

/* Characters (code points) in a UTF-8 string. */
static size_t width_of(const char *s)
{
    size_t w = 0;

    for (; *s; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    }
    return w;
}

int agent_table_add(struct agent_table *t, const char *const *cells)
{
    size_t base = t->nrows * (size_t)t->ncols;

    if (t->nrows == t->alloc) {
        size_t na = t->alloc ? t->alloc * 2 : 16;
        char **nc = plat_realloc(t->cells, na * (size_t)t->ncols *
                                 sizeof(*nc));

        if (!nc)
            return ERR_NOMEM;
        t->cells = nc;
        t->alloc = na;
    }
    for (int c = 0; c < t->ncols; c++) {
        t->cells[base + (size_t)c] = clean(cells[c] ? cells[c] : "",
                                           AGENT_CELL_MAX);
        if (!t->cells[base + (size_t)c]) {
            for (int k = 0; k < c; k++)
                plat_free(t->cells[base + (size_t)k]);
            return ERR_NOMEM;
        }
    }
    t->nrows++;
    return PLAT_OK;
}

static void print_cell(FILE *f, const char *s, size_t width, int last)
{
    fputs(s, f);
    if (last)
        return;
    for (size_t w = width_of(s); w < width + 2; w++)
        fputc(' ', f);
}

void agent_table_print(const struct agent_table *t, FILE *f)
{
    size_t widths[16] = { 0 };
    int ncols = t->ncols < 16 ? t->ncols : 16;

    for (int c = 0; c < ncols; c++) {
        widths[c] = width_of(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = width_of(t->cells[r * (size_t)t->ncols + (size_t)c]);

            if (w > widths[c])
                widths[c] = w;
        }
    }
    for (int c = 0; c < ncols; c++)
        print_cell(f, t->headers[c], widths[c], c == ncols - 1);
    fputc('\n', f);
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < ncols; c++)
            print_cell(f, t->cells[r * (size_t)t->ncols + (size_t)c],
                       widths[c], c == ncols - 1);
        fputc('\n', f);
    }
}

void agent_print_kv(FILE *f, int width, const char *key, const char *value)
{
    char *k = clean(key, 0);
    char *v = clean(value ? value : "", 0);

    if (k && v)
        fprintf(f, "%-*s  %s\n", width, k, v);
    plat_free(k);
    plat_free(v);
}

char *agent_json_text(const cJSON *v)
{
    char *printed, *copy;

    if (!v || cJSON_IsNull(v))
        return plat_strdup("");
    if (cJSON_IsString(v))
        return plat_strdup(v->valuestring);
    printed = cJSON_PrintUnformatted(v);
    if (!printed) {
        plat_err_set(ERR_NOMEM, "out of memory printing JSON");
        return NULL;
    }
    copy = plat_strdup(printed);
    cJSON_free(printed);
    return copy;
}

int agent_json_put(cJSON *obj, const char *key, cJSON *item)
{
    if (item && cJSON_AddItemToObject(obj, key, item))
        return PLAT_OK;
    cJSON_Delete(item);
    return plat_err_set(ERR_NOMEM, "out of memory building JSON");
}

int agent_print_json(const cJSON *v)
{
    char *printed = cJSON_Print(v);

    if (!printed)
        return plat_err_set(ERR_NOMEM, "out of memory printing JSON");
    fputs(printed, stdout);
    fputc('\n', stdout);
    cJSON_free(printed);
    return PLAT_OK;
}

cJSON *agent_json_from_text(const char *text)
{
    cJSON *v;

    if (!text)
        return cJSON_CreateNull();
    v = cJSON_Parse(text);
    if (!v)
        v = cJSON_CreateString(text);
    return v;
}

/* "1 minute", "3 minutes" */
static void amount(int64_t v, const char *unit, char *out, size_t n)
{
    snprintf(out, n, "%lld %s%s", (long long)v, unit, v == 1 ? "" : "s");
}

void agent_time_ago(const char *iso, int64_t now_ms, char *out, size_t n)
{
    int64_t ms, d, a;
    char what[48];

    out[0] = '\0';
    if (!iso || plat_time_parse_iso(iso, &ms) != PLAT_OK)
        return;
    d = (now_ms - ms) / 1000;
    a = d < 0 ? -d : d;
    if (a < 45) {
        snprintf(out, n, "just now");
        return;
    }
    if (a < 90 * 60)
        amount((a + 30) / 60, "minute", what, sizeof(what));
    else if (a < 36 * 3600)
        amount((a + 1800) / 3600, "hour", what, sizeof(what));
    else
        amount((a + 43200) / 86400, "day", what, sizeof(what));
    snprintf(out, n, d >= 0 ? "%s ago" : "in %s", what);
}

void agent_time_text(const char *iso, int tty, const char *none, char *out,
                     size_t n)
{
    char ago[64];

    if (!iso || !*iso) {
        snprintf(out, n, "%s", none);
        return;
    }
    agent_time_ago(iso, plat_time_wall_ms(), ago, sizeof(ago));
    if (tty && ago[0])
        snprintf(out, n, "%s (%s)", iso, ago);
    else
        snprintf(out, n, "%s", iso);
}
