/*
 * serve_query.c - nestjs-paginate as the 121 service configures it:
 * filter tokens `[$or:][$not:]$op:value`, the operators each column type
 * accepts (others, and unknown columns, are dropped silently, as 121
 * does), one sort column, page/limit (limit=-1 all, 0 counts only), and
 * the meta/links envelope built the way nestjs-paginate builds it.
 */
#include "serve_internal.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum op { OP_EQ, OP_IN, OP_ILIKE, OP_NULL, OP_GT, OP_LT, OP_BTW };

struct fentry {
    int is_or;
    int negate;
    enum op op;
    const struct srv_col *col;   /* NULL: a custom attribute (string)    */
    char *attr;                  /* custom attribute name                */
    char *value;
    char **vals;                 /* $in values / $btw bounds             */
    int nvals;
    double num[2];               /* number / date (ms) operands          */
};

struct srv_filter {
    struct fentry *e;
    int n;
    const char **refs;           /* AND-ed referenceId $eq/$in values    */
    int nrefs;
    int has_refs;
};

static const char *const OP_NAMES[] = {"$eq", "$in", "$ilike", "$null",
                                       "$gt", "$lt", "$btw"};

static int op_allowed(enum srv_col_kind k, enum op op)
{
    if (op == OP_EQ || op == OP_NULL)
        return 1;
    if (k == SRV_COL_STRING)
        return op == OP_IN || op == OP_ILIKE;
    return op == OP_GT || op == OP_LT || op == OP_BTW;
}

/* Parse one token like nestjs-paginate's parseFilterToken. Returns 0 when
 * the token is dropped ($gte, $lte, $sw, $contains are not allowed on any
 * 121 column). */
static int parse_token(const char *raw, int *is_or, int *negate,
                       enum op *op, const char **value)
{
    const char *p = raw;
    int used = 0, known_op = 0;

    *is_or = 0;
    *negate = 0;
    *op = OP_EQ;
    *value = raw;
    for (int part = 0; part < 4; part++) {
        const char *c = strchr(p, ':');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        int hit = 0;

        if (l == 3 && strncmp(p, "$or", 3) == 0) {
            *is_or = 1, hit = 1;
        } else if (l == 4 && strncmp(p, "$and", 4) == 0) {
            hit = 1;
        } else if (l == 4 && strncmp(p, "$not", 4) == 0) {
            *negate = 1, hit = 1;
        } else {
            for (size_t i = 0; i < sizeof(OP_NAMES) / sizeof(OP_NAMES[0]);
                 i++)
                if (strlen(OP_NAMES[i]) == l && strncmp(p, OP_NAMES[i], l) ==
                    0) {
                    *op = (enum op)i, hit = 1, known_op = 1;
                    break;
                }
            if (!hit && ((l == 4 && (strncmp(p, "$gte", 4) == 0 ||
                                     strncmp(p, "$lte", 4) == 0)) ||
                         (l == 3 && strncmp(p, "$sw", 3) == 0) ||
                         (l == 9 && strncmp(p, "$contains", 9) == 0)))
                return 0;
        }
        if (!hit)
            break;
        used++;
        if (!c) {
            p += l;
            break;
        }
        p = c + 1;
    }
    (void)known_op;
    if (used)
        *value = p;
    if (*op == OP_NULL)
        *value = NULL;
    else if (used && p == raw + strlen(raw) && raw[strlen(raw) - 1] != ':')
        return 0; /* "$eq" alone: no value */
    return 1;
}

static char *trim_dup(const char *b, size_t n)
{
    while (n && (*b == ' ' || *b == '\t'))
        b++, n--;
    while (n && (b[n - 1] == ' ' || b[n - 1] == '\t'))
        n--;
    return plat_strndup(b, n);
}

static int split_vals(struct fentry *e, const char *v)
{
    const char *p = v;

    for (;;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char **nv = plat_realloc(e->vals, sizeof(char *) * (size_t)(e->nvals + 1));

        if (!nv)
            return ERR_NOMEM;
        e->vals = nv;
        e->vals[e->nvals] = trim_dup(p, l);
        if (!e->vals[e->nvals])
            return ERR_NOMEM;
        e->nvals++;
        if (!c)
            break;
        p = c + 1;
    }
    return PLAT_OK;
}

/* Operand of a number or date column; 0 if it does not parse (121's
 * database then fails the query: 500). */
static int operand(enum srv_col_kind k, const char *v, double *out)
{
    char *end = NULL;

    if (k == SRV_COL_DATE) {
        int64_t ms;

        if (plat_time_parse_iso(v, &ms) < 0) {
            plat_err_clear();
            return 0;
        }
        *out = (double)ms;
        return 1;
    }
    *out = strtod(v, &end);
    return *v && end && *end == '\0';
}

void srv_filter_free(struct srv_filter *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++) {
        plat_free(f->e[i].attr);
        plat_free(f->e[i].value);
        for (int k = 0; k < f->e[i].nvals; k++)
            plat_free(f->e[i].vals[k]);
        plat_free(f->e[i].vals);
    }
    plat_free(f->e);
    plat_free(f->refs);
    plat_free(f);
}

static const struct srv_col *find_col(const struct srv_col *cols, size_t n,
                                      const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(cols[i].name, name) == 0)
            return &cols[i];
    return NULL;
}

static int is_attr(const cJSON *extra, const char *name)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, extra)
        if (cJSON_IsString(it) && strcmp(it->valuestring, name) == 0)
            return 1;
    return 0;
}

/* The referenceId values every row must have (AND of $eq/$in), for a
 * lookup by key instead of a scan. */
static int collect_refs(struct srv_filter *f)
{
    for (int i = 0; i < f->n; i++)
        if (f->e[i].is_or && i > 0)
            return PLAT_OK;
    for (int i = 0; i < f->n; i++) {
        struct fentry *e = &f->e[i];

        if (!e->col || strcmp(e->col->name, "referenceId") != 0 ||
            e->negate || (e->op != OP_EQ && e->op != OP_IN))
            continue;
        if (!f->has_refs) {
            int n = e->op == OP_EQ ? 1 : e->nvals;

            f->refs = plat_calloc((size_t)n + 1, sizeof(char *));
            if (!f->refs)
                return ERR_NOMEM;
            for (int k = 0; k < n; k++)
                f->refs[k] = e->op == OP_EQ ? e->value : e->vals[k];
            f->nrefs = n;
            f->has_refs = 1;
        }
    }
    return PLAT_OK;
}

int srv_filter_parse(const struct srv_req *q, const struct srv_col *cols,
                     size_t n, const cJSON *extra, struct srv_filter **out,
                     int *dropped_out)
{
    struct srv_filter *f = plat_calloc(1, sizeof(*f));
    int dropped = 0;

    *out = NULL;
    if (!f)
        return plat_err_set(ERR_NOMEM, "out of memory");
    for (int i = 0; i < q->npairs; i++) {
        const char *k = q->pairs[i].key, *name, *value;
        const struct srv_col *col;
        enum srv_col_kind kind;
        struct fentry e;
        struct fentry *ne;
        int is_or, negate;
        enum op op;

        if (strncmp(k, "filter.", 7) != 0)
            continue;
        name = k + 7;
        col = find_col(cols, n, name);
        if (!col && !(extra && is_attr(extra, name))) {
            dropped++;
            continue;
        }
        kind = col ? col->kind : SRV_COL_STRING;
        if (!parse_token(q->pairs[i].value, &is_or, &negate, &op, &value) ||
            !op_allowed(kind, op)) {
            dropped++;
            continue;
        }
        memset(&e, 0, sizeof(e));
        e.is_or = is_or;
        e.negate = negate;
        e.op = op;
        e.col = col;
        if (!col && !(e.attr = plat_strdup(name)))
            goto nomem;
        if (value && !(e.value = plat_strdup(value)))
            goto nomem_e;
        if ((op == OP_IN || op == OP_BTW) && split_vals(&e, value) < 0)
            goto nomem_e;
        if (kind != SRV_COL_STRING && op != OP_NULL) {
            if (op == OP_BTW ? (e.nvals != 2 || !operand(kind, e.vals[0],
                                                         &e.num[0]) ||
                                !operand(kind, e.vals[1], &e.num[1]))
                             : !operand(kind, value, &e.num[0])) {
                /* 121's database refuses such a value: a 500. */
                for (int v = 0; v < e.nvals; v++)
                    plat_free(e.vals[v]);
                plat_free(e.vals);
                plat_free(e.value);
                plat_free(e.attr);
                srv_filter_free(f);
                return plat_err_set(ERR_INVALID, "filter.%s: not a %s", name,
                                    kind == SRV_COL_DATE ? "date"
                                                         : "number");
            }
        }
        ne = plat_realloc(f->e, sizeof(*ne) * (size_t)(f->n + 1));
        if (!ne)
            goto nomem_e;
        f->e = ne;
        f->e[f->n++] = e;
        continue;
nomem_e:
        for (int v = 0; v < e.nvals; v++)
            plat_free(e.vals[v]);
        plat_free(e.vals);
        plat_free(e.value);
        plat_free(e.attr);
nomem:
        srv_filter_free(f);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    if (collect_refs(f) < 0) {
        srv_filter_free(f);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    if (dropped_out)
        *dropped_out = dropped;
    *out = f;
    return PLAT_OK;
}

const char *const *srv_filter_refs(const struct srv_filter *f, int *n)
{
    if (!f || !f->has_refs)
        return NULL;
    *n = f->nrefs;
    return f->refs;
}

/* The cell of `row` a column (or attribute) names. */
static const cJSON *cell(const cJSON *row, const struct srv_col *col,
                         const char *attr)
{
    const cJSON *v;

    if (!col)
        return cJSON_GetObjectItemCaseSensitive(row, attr);
    v = cJSON_GetObjectItemCaseSensitive(row, col->json_key ? col->json_key
                                                            : col->name);
    if (v && col->sub_key)
        v = cJSON_GetObjectItemCaseSensitive(v, col->sub_key);
    return v;
}

/* Text of a string cell (NULL for null/absent). */
static const char *cell_text(const cJSON *v, char *buf, size_t n)
{
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble == (double)(int64_t)v->valuedouble)
            snprintf(buf, n, "%lld", (long long)v->valuedouble);
        else
            snprintf(buf, n, "%.17g", v->valuedouble);
        return buf;
    }
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    return NULL;
}

static int cell_num(const cJSON *v, enum srv_col_kind k, double *out)
{
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return 1;
    }
    if (cJSON_IsString(v))
        return operand(k, v->valuestring, out);
    return 0;
}

/* SQL LIKE '%pat%' without case (ASCII), '%' and '_' wildcards. */
static int like(const char *s, const char *p)
{
    if (!*p)
        return 1;
    if (*p == '%')
        return like(s, p + 1) || (*s && like(s + 1, p));
    if (!*s)
        return 0;
    if (*p == '_' || tolower((unsigned char)*p) ==
                         tolower((unsigned char)*s))
        return like(s + 1, p + 1);
    return 0;
}

static int ilike(const char *s, const char *v)
{
    for (const char *st = s;; st++) {
        if (like(st, v))
            return 1;
        if (!*st)
            return 0;
    }
}

/* 1 true, 0 false, -1 NULL (SQL three-valued). */
static int eval(const struct fentry *e, const cJSON *row)
{
    const cJSON *v = cell(row, e->col, e->attr);
    enum srv_col_kind k = e->col ? e->col->kind : SRV_COL_STRING;
    int b = -1;

    if (e->op == OP_NULL) {
        b = !v || cJSON_IsNull(v);
    } else if (k == SRV_COL_STRING) {
        char buf[48];
        const char *t = cell_text(v, buf, sizeof(buf));

        if (!t)
            return -1;
        if (e->op == OP_EQ) {
            b = strcmp(t, e->value) == 0;
        } else if (e->op == OP_IN) {
            b = 0;
            for (int i = 0; i < e->nvals && !b; i++)
                b = strcmp(t, e->vals[i]) == 0;
        } else if (e->op == OP_ILIKE) {
            b = ilike(t, e->value);
        }
    } else {
        double x;

        if (!cell_num(v, k, &x))
            return -1;
        switch (e->op) {
        case OP_EQ: b = x == e->num[0]; break;
        case OP_GT: b = x > e->num[0]; break;
        case OP_LT: b = x < e->num[0]; break;
        case OP_BTW: b = x >= e->num[0] && x <= e->num[1]; break;
        default: return -1;
        }
    }
    if (b < 0)
        return -1;
    return e->negate ? !b : b;
}

int srv_filter_match(const struct srv_filter *f, const cJSON *row)
{
    int cur = 1;

    if (!f)
        return 1;
    for (int i = 0; i < f->n; i++) {
        if (f->e[i].is_or && i > 0) {
            if (cur)
                return 1;
            cur = 1;
        }
        if (cur && eval(&f->e[i], row) != 1)
            cur = 0;
    }
    return cur;
}

/* ---- paging ------------------------------------------------------------- */

static int parse_int(const char *s, int *out)
{
    char *end = NULL;
    long v;

    if (!s || !*s)
        return 0;
    v = strtol(s, &end, 10);
    if (*end || v < -2147483647L || v > 2147483647L)
        return 0;
    *out = (int)v;
    return 1;
}

int srv_page_parse(const struct srv_req *q, const struct srv_col *cols,
                   size_t n, const cJSON *extra, int dflt,
                   struct srv_page *out)
{
    int nsort = 0;

    memset(out, 0, sizeof(*out));
    out->page = 1;
    out->limit = dflt;
    if (srv_q(q, "page") && (!parse_int(srv_q(q, "page"), &out->page) ||
                             out->page < 1))
        out->page = 1;
    if (srv_q(q, "limit") && (!parse_int(srv_q(q, "limit"), &out->limit) ||
                              out->limit < -1))
        out->limit = dflt;
    snprintf(out->sort_col, sizeof(out->sort_col), "id");
    for (int i = 0; i < q->npairs; i++) {
        const char *v = q->pairs[i].value, *c;
        char col[64];

        if (strcmp(q->pairs[i].key, "sortBy") != 0)
            continue;
        nsort++;
        c = strchr(v, ':');
        if (!c || (size_t)(c - v) >= sizeof(col))
            continue;
        memcpy(col, v, (size_t)(c - v));
        col[c - v] = '\0';
        if (!find_col(cols, n, col) && !(extra && is_attr(extra, col)))
            continue;
        if (strcasecmp(c + 1, "ASC") == 0 || strcasecmp(c + 1, "DESC") == 0) {
            snprintf(out->sort_col, sizeof(out->sort_col), "%s", col);
            out->sort_desc = strcasecmp(c + 1, "DESC") == 0;
        }
    }
    return nsort;
}

static const struct srv_col *g_sort_col;
static const char *g_sort_attr;
static int g_sort_desc;
static pthread_mutex_t g_sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int cmp_rows(const void *a, const void *b)
{
    const cJSON *ra = *(cJSON *const *)a, *rb = *(cJSON *const *)b;
    const cJSON *va = cell(ra, g_sort_col, g_sort_attr);
    const cJSON *vb = cell(rb, g_sort_col, g_sort_attr);
    int na = !va || cJSON_IsNull(va), nb = !vb || cJSON_IsNull(vb), c;
    enum srv_col_kind k = g_sort_col ? g_sort_col->kind : SRV_COL_STRING;

    /* Postgres: NULLs last ascending, first descending. */
    if (na || nb)
        return na == nb ? 0 : (na ? 1 : -1) * (g_sort_desc ? -1 : 1);
    if (k == SRV_COL_STRING) {
        char b1[48], b2[48];

        c = strcmp(cell_text(va, b1, sizeof(b1)), cell_text(vb, b2,
                                                              sizeof(b2)));
    } else {
        double x = 0, y = 0;

        cell_num(va, k, &x);
        cell_num(vb, k, &y);
        c = x < y ? -1 : x > y;
    }
    if (c == 0) {
        /* qsort is not stable: ties keep the id order. */
        const cJSON *ia = cJSON_GetObjectItemCaseSensitive(ra, "id");
        const cJSON *ib = cJSON_GetObjectItemCaseSensitive(rb, "id");
        double x = cJSON_IsNumber(ia) ? ia->valuedouble : 1e18;
        double y = cJSON_IsNumber(ib) ? ib->valuedouble : 1e18;

        return x < y ? -1 : x > y;
    }
    return g_sort_desc ? -c : c;
}

void srv_sort_rows(cJSON **rows, size_t n, const struct srv_page *p,
                   const struct srv_col *cols, size_t ncols)
{
    if (strcmp(p->sort_col, "id") == 0 && !p->sort_desc)
        return; /* the store's order */
    pthread_mutex_lock(&g_sort_lock);
    g_sort_col = find_col(cols, ncols, p->sort_col);
    g_sort_attr = p->sort_col;
    g_sort_desc = p->sort_desc;
    qsort(rows, n, sizeof(*rows), cmp_rows);
    pthread_mutex_unlock(&g_sort_lock);
}

/* meta.filter / links: every filter.* pair as given, grouped by column in
 * first-seen order (unknown columns too, as nestjs-paginate echoes them). */
static int add_filter_meta(const struct srv_req *q, cJSON *meta,
                           struct plat_buf *opts)
{
    cJSON *fo = NULL;
    int rc = PLAT_OK;

    for (int i = 0; i < q->npairs; i++) {
        const char *k = q->pairs[i].key;
        int seen = 0;

        if (strncmp(k, "filter.", 7) != 0)
            continue;
        for (int j = 0; j < i; j++)
            if (strcmp(q->pairs[j].key, k) == 0)
                seen = 1;
        if (seen)
            continue;
        if (!fo && !(fo = cJSON_AddObjectToObject(meta, "filter")))
            return ERR_NOMEM;
        {
            int count = 0;
            cJSON *arr = cJSON_CreateArray();

            if (!arr)
                return ERR_NOMEM;
            for (int j = i; j < q->npairs; j++)
                if (strcmp(q->pairs[j].key, k) == 0) {
                    cJSON_AddItemToArray(arr, cJSON_CreateString(
                                                  q->pairs[j].value));
                    count++;
                }
            if (count == 1) {
                cJSON_AddItemToObject(fo, k + 7,
                                      cJSON_DetachItemFromArray(arr, 0));
                cJSON_Delete(arr);
            } else {
                cJSON_AddItemToObject(fo, k + 7, arr);
            }
        }
    }
    if (fo) {
        const cJSON *c;

        cJSON_ArrayForEach(c, fo) {
            if (cJSON_IsArray(c)) {
                const cJSON *x;

                cJSON_ArrayForEach(x, c)
                    rc |= plat_buf_printf(opts, "&filter.%s=%s", c->string,
                                          x->valuestring);
            } else {
                rc |= plat_buf_printf(opts, "&filter.%s=%s", c->string,
                                      c->valuestring);
            }
        }
    }
    return rc < 0 ? ERR_NOMEM : PLAT_OK;
}

static int add_link(cJSON *links, const char *name, const struct srv_req *q,
                    int page, const char *opts)
{
    char *l = plat_asprintf("http://%s%s?page=%d%s",
                            q->host ? q->host : "127.0.0.1", q->path, page,
                            opts);

    if (!l)
        return ERR_NOMEM;
    cJSON_AddStringToObject(links, name, l);
    plat_free(l);
    return PLAT_OK;
}

/* Keys of `row` named in select=, in select's order, printed to out. */
static int print_selected(struct plat_buf *out, const cJSON *row,
                          const char *select)
{
    cJSON *o = cJSON_CreateObject();
    const char *p = select;
    char *t;
    int rc;

    if (!o)
        return ERR_NOMEM;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        char *k = trim_dup(p, l);

        if (!k) {
            cJSON_Delete(o);
            return ERR_NOMEM;
        }
        if (*k && !cJSON_GetObjectItemCaseSensitive(o, k)) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, k);

            if (v)
                cJSON_AddItemToObject(o, k, cJSON_Duplicate(v, 1));
        }
        plat_free(k);
        if (!c)
            break;
        p = c + 1;
    }
    t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!t)
        return ERR_NOMEM;
    rc = plat_buf_puts(out, t);
    cJSON_free(t);
    return rc;
}

/* `],"meta":...,"links":...}` of a page of `n_items` rows out of `total`,
 * appended to b. */
int srv_page_tail(struct plat_buf *b, const struct srv_req *q,
                  const struct srv_page *pg, size_t total, size_t n_items)
{
    int counter_only = pg->limit == 0, paginated = pg->limit > 0;
    int limit = counter_only ? 0 : (paginated ? pg->limit : 20);
    int64_t items_per_page, total_items, total_pages;
    const char *search = srv_q(q, "search");
    cJSON *meta = NULL, *links = NULL, *sort;
    struct plat_buf opts;
    char *mt = NULL, *lt = NULL;
    int rc = ERR_NOMEM;

    if (counter_only)
        items_per_page = total_items = (int64_t)total;
    else if (paginated)
        items_per_page = limit, total_items = (int64_t)total;
    else
        items_per_page = total_items = (int64_t)n_items;
    total_pages = paginated ? ((int64_t)total + limit - 1) / limit : 1;

    plat_buf_init(&opts, 0);
    meta = cJSON_CreateObject();
    links = cJSON_CreateObject();
    if (!meta || !links)
        goto done;
    cJSON_AddNumberToObject(meta, "itemsPerPage", (double)items_per_page);
    cJSON_AddNumberToObject(meta, "totalItems", (double)total_items);
    cJSON_AddNumberToObject(meta, "currentPage", pg->page);
    cJSON_AddNumberToObject(meta, "totalPages", (double)total_pages);
    sort = cJSON_AddArrayToObject(meta, "sortBy");
    {
        cJSON *pair = cJSON_CreateArray();

        cJSON_AddItemToArray(pair, cJSON_CreateString(pg->sort_col));
        cJSON_AddItemToArray(pair, cJSON_CreateString(pg->sort_desc ? "DESC"
                                                                    : "ASC"));
        cJSON_AddItemToArray(sort, pair);
    }
    if (search && *search)
        cJSON_AddStringToObject(meta, "search", search);
    if (plat_buf_printf(&opts, "&limit=%d&sortBy=%s:%s", limit, pg->sort_col,
                        pg->sort_desc ? "DESC" : "ASC") < 0)
        goto done;
    if (search && *search && plat_buf_printf(&opts, "&search=%s", search) < 0)
        goto done;
    if (add_filter_meta(q, meta, &opts) < 0)
        goto done;
    {
        const char *o = opts.data ? opts.data : "";

        if ((pg->page != 1 && add_link(links, "first", q, 1, o) < 0) ||
            (pg->page - 1 >= 1 &&
             add_link(links, "previous", q, pg->page - 1, o) < 0) ||
            add_link(links, "current", q, pg->page, o) < 0 ||
            (pg->page + 1 <= total_pages &&
             add_link(links, "next", q, pg->page + 1, o) < 0) ||
            (pg->page != total_pages && total &&
             add_link(links, "last", q, (int)total_pages, o) < 0))
            goto done;
    }
    mt = cJSON_PrintUnformatted(meta);
    lt = cJSON_PrintUnformatted(links);
    if (!mt || !lt)
        goto done;
    if (plat_buf_printf(b, "],\"meta\":%s,\"links\":%s}", mt, lt) < 0)
        goto done;
    rc = PLAT_OK;
done:
    cJSON_free(mt);
    cJSON_free(lt);
    cJSON_Delete(meta);
    cJSON_Delete(links);
    plat_buf_dispose(&opts);
    if (rc < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    return rc;
}

int srv_page_wants(const struct srv_page *pg, size_t i)
{
    size_t start;

    if (pg->limit == 0)
        return 0;
    if (pg->limit < 0)
        return 1;
    start = (size_t)(pg->page - 1) * (size_t)pg->limit;
    return i >= start && i < start + (size_t)pg->limit;
}

int srv_filter_empty(const struct srv_filter *f)
{
    return !f || f->n == 0;
}

int srv_paginate(struct srv_resp *r, const struct srv_req *q,
                 const struct srv_page *pg, const struct srv_filter *f,
                 cJSON **rows, char **texts, size_t total)
{
    const char *select = srv_q(q, "select");
    size_t n_items = 0;
    int first = 1;

    (void)f;
    plat_buf_reset(&r->body);
    if (plat_buf_puts(&r->body, "{\"data\":[") < 0)
        return plat_err_set(ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < total; i++) {
        if (!srv_page_wants(pg, i))
            continue;
        if (!first && plat_buf_puts(&r->body, ",") < 0)
            return plat_err_set(ERR_NOMEM, "out of memory");
        first = 0;
        n_items++;
        if (select && *select) {
            if (print_selected(&r->body, rows[i], select) < 0)
                return plat_err_set(ERR_NOMEM, "out of memory");
        } else if (texts) {
            if (plat_buf_puts(&r->body, texts[i]) < 0)
                return plat_err_set(ERR_NOMEM, "out of memory");
        } else {
            char *t = cJSON_PrintUnformatted(rows[i]);

            if (!t || plat_buf_puts(&r->body, t) < 0) {
                cJSON_free(t);
                return plat_err_set(ERR_NOMEM, "out of memory");
            }
            cJSON_free(t);
        }
    }
    if (srv_page_tail(&r->body, q, pg, total, n_items) < 0)
        return ERR_NOMEM;
    r->status = 200;
    r->ctype = "application/json; charset=utf-8";
    return PLAT_OK;
}
