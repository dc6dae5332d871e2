/*
 * file_connector.c - the "file" connector: registrations in from, and
 * outbox operations out to, a folder of JSON-lines files (a USB stick
 * carried between an offline site and the office). Design: README.md;
 * wire format and pure helpers: file_format.h.
 *
 * Like every connector it never touches the store and never prints: it
 * reads the folder and calls the engine's services (sync_ctx.h).
 */
#include "file_format.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_time.h"
#include "sync_connector.h"
#include "sync_ctx.h"
#include "sync_engine.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILE_MAX_BYTES ((size_t)256 * 1024 * 1024) /* one file, in or out */
#define FILE_BATCH_DEFAULT 1000
#define FILE_REJECTED_KEPT 20     /* rejected lines kept in import.rejected */
#define FILE_MSG_MAX 300

extern const struct sync_connector sync_connector_file;

struct file_state {
    char *dir;
    char *device;       /* NULL: export file named by date */
    int program_id;     /* 0: every line names its programId */
    int export_on;
};

/* ---- config ------------------------------------------------------------ */

static const struct sync_conf_key file_conf[] = {
    {"enabled", SYNC_CONF_BOOL, "false", "run the file source"},
    {"dir", SYNC_CONF_PATH, NULL,
     "the folder (USB stick) holding in/ and out/"},
    {"program_id", SYNC_CONF_INT, NULL,
     "program of the imported registrations (lines may omit programId)"},
    {"export", SYNC_CONF_BOOL, "true",
     "write the outbox operations for \"file\" to out/"},
    {"device", SYNC_CONF_STRING, NULL,
     "export file out/<device>.jsonl (unset: out/<UTC date>.jsonl)"},
    {NULL, 0, NULL, NULL}
};

static int parse_bool(const char *v, int dflt, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    size_t i;

    if (!v || !v[0]) {
        *out = dflt;
        return PLAT_OK;
    }
    for (i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = 1;
            return PLAT_OK;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = 0;
            return PLAT_OK;
        }
    }
    return ERR_CONFIG;
}

static void file_exit(void *state)
{
    struct file_state *st = state;

    if (!st)
        return;
    plat_free(st->dir);
    plat_free(st->device);
    plat_free(st);
}

static int file_init(struct sync_ctx *ctx, void **state_out)
{
    const char *dir = sync_ctx_conf(ctx, "dir");
    const char *pid = sync_ctx_conf(ctx, "program_id");
    const char *device = sync_ctx_conf(ctx, "device");
    struct file_state *st;
    char name[128];
    char *end = NULL;
    long v;

    *state_out = NULL;
    if (!dir || !dir[0])
        return plat_err_set(ERR_CONFIG, "[file] dir is not set");
    st = plat_calloc(1, sizeof(*st));
    if (!st)
        return plat_err_set(ERR_NOMEM, "out of memory");
    if (pid && pid[0]) {
        v = strtol(pid, &end, 10);
        if (*end || v <= 0 || v > 2147483647L) {
            file_exit(st);
            return plat_err_set(ERR_CONFIG,
                                "[file] program_id must be a positive "
                                "integer");
        }
        st->program_id = (int)v;
    }
    if (parse_bool(sync_ctx_conf(ctx, "export"), 1, &st->export_on) !=
        PLAT_OK) {
        file_exit(st);
        return plat_err_set(ERR_CONFIG, "[file] export must be true or "
                            "false");
    }
    if (device && device[0] &&
        file_out_name(device, 0, name, sizeof(name)) != PLAT_OK) {
        file_exit(st);
        return plat_err_set(ERR_CONFIG, "[file] device must be 1-64 of "
                            "[A-Za-z0-9._-], not starting with '.'");
    }
    st->dir = plat_strdup(dir);
    st->device = device && device[0] ? plat_strdup(device) : NULL;
    if (!st->dir || (device && device[0] && !st->device)) {
        file_exit(st);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    *state_out = st;
    return PLAT_OK;
}

/* ERR_RETRY when the folder is missing: the stick is not plugged in. */
static int check_dir(const struct file_state *st)
{
    if (!plat_fs_exists(st->dir))
        return plat_err_set(ERR_RETRY, "file: folder %s not found (is the "
                            "stick mounted?)", st->dir);
    return PLAT_OK;
}

/* ---- import ------------------------------------------------------------ */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        plat_free(v[i]);
    plat_free(v);
}

/* The import file names of `in` (regular files, file_name_ok), sorted;
 * *bytes_out: their total size. */
static int list_in(const char *in, char ***out, size_t *n_out,
                   int64_t *bytes_out)
{
    DIR *d = opendir(in);
    struct dirent *e;
    char **v = NULL, **nv, *path;
    size_t n = 0, cap = 0;
    struct stat sb;
    int ok;

    *out = NULL;
    *n_out = 0;
    *bytes_out = 0;
    if (!d)
        return plat_err_set(ERR_IO, "file: cannot read folder %s", in);
    while ((e = readdir(d)) != NULL) {
        if (!file_name_ok(e->d_name))
            continue;
        path = plat_asprintf("%s/%s", in, e->d_name);
        if (!path)
            goto nomem;
        ok = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
        plat_free(path);
        if (!ok)
            continue;
        *bytes_out += (int64_t)sb.st_size;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            nv = plat_realloc(v, cap * sizeof(*v));
            if (!nv)
                goto nomem;
            v = nv;
        }
        if ((v[n] = plat_strdup(e->d_name)) == NULL)
            goto nomem;
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), by_name);
    *out = v;
    *n_out = n;
    return PLAT_OK;
nomem:
    closedir(d);
    names_free(v, n);
    return plat_err_set(ERR_NOMEM, "out of memory");
}

/* gone: the deleted form of a server copy (sync_record_edit_fn): status
 * "deleted", every other field erased except the record's identity. */
static int mark_deleted(cJSON *rec, void *payload)
{
    static const char *const keep[] = {"referenceId", "programId", "id",
                                       "created", NULL};
    cJSON *it = rec ? rec->child : NULL, *next;
    size_t i;

    (void)payload;
    while (it) {
        next = it->next;
        for (i = 0; keep[i]; i++)
            if (it->string && strcmp(it->string, keep[i]) == 0)
                break;
        if (!keep[i])
            cJSON_Delete(cJSON_DetachItemViaPointer(rec, it));
        it = next;
    }
    if (!cJSON_AddStringToObject(rec, "status", "deleted"))
        return plat_err_set(ERR_NOMEM, "out of memory");
    return PLAT_OK;
}

/* Hand one parsed record to the engine (inside the open batch): unchanged
 * -> nothing; a deletion mark of a stored record -> its deleted form
 * (counts[1]++); otherwise the new server copy (counts[0]++). */
static int put_record(struct sync_ctx *ctx, const cJSON *rec,
                      int64_t counts[2])
{
    const char *ref =
        cJSON_GetObjectItemCaseSensitive(rec, "referenceId")->valuestring;
    cJSON *have = NULL;
    int rc, same;

    rc = sync_get_registration(ctx, ref, &have);
    if (rc != PLAT_OK && rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    if (have && file_is_deletion(rec)) {
        same = file_is_deletion(have);
        cJSON_Delete(have);
        if (same)
            return PLAT_OK;
        rc = sync_edit_registration(ctx, ref, mark_deleted, NULL);
        if (rc == PLAT_OK)
            counts[1]++;
        return rc;
    }
    same = have && cJSON_Compare(have, rec, 1);
    cJSON_Delete(have);
    if (same)
        return PLAT_OK;
    rc = sync_put_registration(ctx, rec);
    if (rc == PLAT_OK)
        counts[0]++;
    return rc;
}

/* Remember a rejected line (file:line: reason) in state import.rejected,
 * the last FILE_REJECTED_KEPT of them, newest last. */
static int note_rejected(struct sync_ctx *ctx, const char *msg)
{
    return sync_state_append_line(ctx, "import.rejected", msg,
                                  FILE_REJECTED_KEPT);
}

/* Commit the open batch with the cursor; its counts once committed. */
static int commit_batch(struct sync_ctx *ctx, const char *cname,
                        const struct file_cursor *cur, int64_t counts[2])
{
    char text[FILE_CURSOR_MAX];
    int rc;

    file_cursor_format(cur, text);
    rc = sync_cursor_set(ctx, cname, text);
    rc = sync_batch_end(ctx, rc);
    if (rc == PLAT_OK) {
        sync_ctx_count(ctx, SYNC_COUNT_PULLED, counts[0]);
        sync_ctx_count(ctx, SYNC_COUNT_GONE, counts[1]);
    }
    counts[0] = counts[1] = 0;
    return rc;
}

/* Import file `name` of folder `in` from its cursor on. Progress: bytes
 * `*done` of `total` (the files before this one, then this one's
 * committed bytes); *done moves past the file. */
static int import_file(struct file_state *st, struct sync_ctx *ctx,
                       const char *in, const char *name, int batch,
                       int full, int64_t *done, int64_t total)
{
    char *path = NULL, *data = NULL, *cname = NULL, *ctext = NULL;
    char msg[FILE_MSG_MAX];
    size_t len = 0, pos, end, next, in_batch = 0;
    struct file_cursor cur = {0, 0, FILE_HASH_INIT}, saved;
    const char *nl;
    cJSON *rec;
    int64_t counts[2] = {0, 0};
    int rc, open = 0, rejected;

    path = plat_asprintf("%s/%s", in, name);
    cname = plat_asprintf("in/%s", name);
    if (!path || !cname) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = plat_fs_read_file(path, FILE_MAX_BYTES, &data, &len);
    if (rc == ERR_NOTFOUND) {        /* removed since the listing */
        plat_err_clear();
        rc = PLAT_OK;
        goto out;
    }
    if (rc != PLAT_OK)
        goto out;
    rc = sync_cursor_get(ctx, cname, &ctext);
    if (rc == PLAT_OK && !full && file_cursor_parse(ctext, &saved) ==
        PLAT_OK && saved.offset <= (int64_t)len &&
        file_hash(FILE_HASH_INIT, data, (size_t)saved.offset) ==
        saved.hash) {
        cur = saved;                  /* same bytes so far: go on */
    } else if (rc != PLAT_OK && rc != ERR_NOTFOUND) {
        goto out;
    }
    plat_err_clear();
    rc = PLAT_OK;
    pos = (size_t)cur.offset;
    while (pos < len) {
        if (!open) {
            if (sync_ctx_cancelled(ctx)) {
                rc = ERR_RETRY;
                goto out;
            }
            if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
                goto out;
            open = 1;
            in_batch = 0;
            counts[0] = counts[1] = 0;
        }
        nl = memchr(data + pos, '\n', len - pos);
        end = nl ? (size_t)(nl - data) : len;
        next = nl ? end + 1 : len;
        cur.lines++;
        rejected = 0;
        rec = NULL;
        rc = file_parse_line(data + pos, end - pos, st->program_id, name,
                             cur.lines, &rec);
        if (rc == PLAT_OK && rec) {
            rc = put_record(ctx, rec, counts);
            if (rc == ERR_INVALID || rc == ERR_CONFLICT) {
                /* the store's message names the field, never a value */
                char why[200];

                snprintf(why, sizeof(why), "%s", plat_err_msg());
                rc = plat_err_set(ERR_INVALID, "%s:%" PRId64 ": %s", name,
                                  cur.lines, why);
            }
        }
        cJSON_Delete(rec);
        if (rc == ERR_INVALID) {
            rejected = 1;
            snprintf(msg, sizeof(msg), "%s", plat_err_msg());
            plat_err_clear();
            rc = PLAT_OK;
        }
        if (rc != PLAT_OK) {
            sync_batch_end(ctx, rc);
            open = 0;
            goto out;
        }
        cur.hash = file_hash(cur.hash, data + pos, next - pos);
        cur.offset = (int64_t)next;
        pos = next;
        in_batch++;
        if (rejected || in_batch >= (size_t)batch || pos >= len) {
            /* a rejected line ends its batch: what came before it is
             * committed, the line itself is skipped for good */
            rc = commit_batch(ctx, cname, &cur, counts);
            open = 0;
            if (rc != PLAT_OK)
                goto out;
            sync_ctx_progress(ctx, *done + cur.offset, total);
            if (rejected) {
                sync_ctx_count(ctx, SYNC_COUNT_REJECTED, 1);
                if ((rc = note_rejected(ctx, msg)) != PLAT_OK)
                    goto out;
            }
        }
    }
    if (open)   /* not reached: the last line always commits */
        rc = commit_batch(ctx, cname, &cur, counts);
    open = 0;
out:
    if (open)
        sync_batch_end(ctx, rc);
    *done += (int64_t)len;
    plat_free(path);
    plat_free(cname);
    plat_free(ctext);
    plat_free(data);
    return rc;
}

static int file_pull(void *state, struct sync_ctx *ctx, const char *stream)
{
    struct file_state *st = state;
    const struct sync_engine_options *opt = sync_ctx_options(ctx);
    char *in = NULL, **names = NULL;
    size_t n = 0, i;
    int64_t total = 0, done = 0;
    int rc, batch = opt && opt->batch > 0 ? opt->batch : FILE_BATCH_DEFAULT;

    if (strcmp(stream, "import") != 0)
        return PLAT_OK;
    if ((rc = check_dir(st)) != PLAT_OK)
        return rc;
    in = plat_asprintf("%s/in", st->dir);
    if (!in)
        return plat_err_set(ERR_NOMEM, "out of memory");
    if (!plat_fs_exists(in)) {       /* nothing to import */
        plat_free(in);
        return PLAT_OK;
    }
    rc = list_in(in, &names, &n, &total);
    for (i = 0; rc == PLAT_OK && i < n; i++)
        rc = import_file(st, ctx, in, names[i], batch, opt && opt->full,
                         &done, total);
    names_free(names, n);
    plat_free(in);
    return rc;
}

/* ---- export ------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The hashes of the lines of `text` (without their '\n'), sorted: a line
 * already in the export file is not written again. */
static int hashes_of(const char *text, size_t len, uint64_t **out,
                     size_t *n_out)
{
    size_t pos = 0, n = 0, cap = 0, end;
    const char *nl;
    uint64_t *v = NULL, *nv;

    while (pos < len) {
        nl = memchr(text + pos, '\n', len - pos);
        end = nl ? (size_t)(nl - text) : len;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            nv = plat_realloc(v, cap * sizeof(*v));
            if (!nv) {
                plat_free(v);
                return plat_err_set(ERR_NOMEM, "out of memory");
            }
            v = nv;
        }
        v[n++] = file_hash(FILE_HASH_INIT, text + pos, end - pos);
        pos = nl ? end + 1 : len;
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_u64);
    *out = v;
    *n_out = n;
    return PLAT_OK;
}

/* 1 when `line` (ending with '\n') is among the sorted `hashes`. */
static int line_known(const char *line, const uint64_t *hashes, size_t n)
{
    uint64_t h = file_hash(FILE_HASH_INIT, line, strlen(line) - 1);

    return n && bsearch(&h, hashes, n, sizeof(*hashes), cmp_u64) != NULL;
}

enum { ACT_NONE = 0, ACT_DONE, ACT_LEAVE };

/* The three-way check of one edit or status operation against the
 * record as the folder last gave it (`working`, updated by the check).
 * *line_out: the line to write (NULL: nothing to send); *act_out: settle
 * done, or leave (the check made it a conflict). */
static int check_op(struct file_state *st, struct sync_ctx *ctx,
                    const struct sync_op *op, cJSON *working,
                    const cJSON *source, char **line_out, int *act_out)
{
    struct sync_check chk;
    cJSON *data = NULL, *payload = NULL;
    const cJSON *d;
    const char *kind = sync_op_kind_name(op->kind);
    int rc;

    memset(&chk, 0, sizeof(chk));
    *line_out = NULL;
    *act_out = ACT_DONE;
    if (op->kind == SYNC_OP_STATUS) {
        d = cJSON_GetObjectItemCaseSensitive(op->payload, "status");
        data = cJSON_CreateObject();
        if (!data || !cJSON_AddItemToObject(data, "status",
                                            d ? cJSON_Duplicate(d, 1)
                                              : cJSON_CreateNull())) {
            cJSON_Delete(data);
            return plat_err_set(ERR_NOMEM, "out of memory");
        }
        d = data;
    } else {
        d = cJSON_GetObjectItemCaseSensitive(op->payload, "data");
    }
    if (!working) {                  /* the folder never showed it */
        rc = file_format_op(op->seq, st->device, kind, op->ref, op->payload,
                            op->base, line_out);
        cJSON_Delete(data);
        return rc;
    }
    rc = sync_check_fields(ctx, op, d, op->base, working, source, &chk);
    if (rc == PLAT_OK && ((chk.conflicts &&
                           cJSON_GetArraySize(chk.conflicts) > 0) ||
                          (chk.wins && cJSON_GetArraySize(chk.wins) > 0)))
        rc = sync_check_record(ctx, op, &chk);
    if (rc != PLAT_OK)
        goto out;
    if (chk.conflicts && cJSON_GetArraySize(chk.conflicts) > 0) {
        *act_out = ACT_LEAVE;
        goto out;
    }
    if (!chk.send)                  /* already so in the folder's copy */
        goto out;
    if (op->kind == SYNC_OP_STATUS) {
        rc = file_format_op(op->seq, st->device, kind, op->ref, op->payload,
                            op->base, line_out);
        goto out;
    }
    payload = cJSON_Duplicate(op->payload, 1);
    if (!payload || !cJSON_ReplaceItemInObjectCaseSensitive(
                        payload, "data", cJSON_Duplicate(chk.send, 1))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = file_format_op(op->seq, st->device, kind, op->ref, payload,
                        op->base, line_out);
out:
    cJSON_Delete(payload);
    cJSON_Delete(data);
    sync_check_dispose(&chk);
    return rc;
}

/* Decide every operation (in (ref, seq) order, one working copy per
 * record): lines[i] / act[i] for ops->v[i]. Inside the open batch. */
static int decide_ops(struct file_state *st, struct sync_ctx *ctx,
                      const struct sync_ops *ops, char **lines, int *act)
{
    size_t *order = sync_ops_order(ops), k, i;
    cJSON *source = NULL, *working = NULL;
    const char *ref = NULL;
    int rc = PLAT_OK;

    if (!order)
        return ERR_NOMEM;
    for (k = 0; rc == PLAT_OK && k < ops->n; k++) {
        const struct sync_op *op = &ops->v[order[k]];

        i = order[k];
        if (op->kind == SYNC_OP_CREATE) {
            act[i] = ACT_DONE;
            rc = file_format_op(op->seq, st->device, "create", op->ref,
                                op->payload, NULL, &lines[i]);
            continue;
        }
        if (!ref || strcmp(ref, op->ref) != 0) {
            cJSON_Delete(source);
            cJSON_Delete(working);
            source = working = NULL;
            ref = op->ref;
            rc = sync_get_registration(ctx, ref, &source);
            if (rc == ERR_NOTFOUND) {
                plat_err_clear();
                rc = PLAT_OK;
            } else if (rc == PLAT_OK &&
                       !(working = cJSON_Duplicate(source, 1))) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
            }
            if (rc != PLAT_OK)
                break;
        }
        rc = check_op(st, ctx, op, working, source, &lines[i], &act[i]);
    }
    cJSON_Delete(source);
    cJSON_Delete(working);
    plat_free(order);
    return rc;
}

static int file_push(void *state, struct sync_ctx *ctx, const char *kind)
{
    struct file_state *st = state;
    struct sync_ops ops;
    struct plat_buf b;
    char name[128], *out_dir = NULL, *path = NULL, *old = NULL;
    char **lines = NULL;
    int *act = NULL;
    uint64_t *seen = NULL;
    size_t n_seen = 0, old_len = 0, i, wrote = 0;
    int k = sync_op_kind_parse(kind), rc, open = 0;

    memset(&ops, 0, sizeof(ops));
    plat_buf_init(&b, FILE_MAX_BYTES);
    if (!st->export_on || k < 0)
        return PLAT_OK;
    if ((rc = check_dir(st)) != PLAT_OK)
        return rc;
    if ((rc = sync_ops_load(ctx, k, -1, 0, 0, &ops)) != PLAT_OK)
        goto out;
    if (ops.n == 0)
        goto out;
    if ((rc = file_out_name(st->device, plat_time_wall_ms(), name,
                            sizeof(name))) != PLAT_OK)
        goto out;
    out_dir = plat_asprintf("%s/out", st->dir);
    path = out_dir ? plat_asprintf("%s/%s", out_dir, name) : NULL;
    lines = plat_calloc(ops.n, sizeof(*lines));
    act = plat_calloc(ops.n, sizeof(*act));
    if (!path || !lines || !act) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = plat_fs_mkdir_p(out_dir, 0700)) != PLAT_OK)
        goto out;
    rc = plat_fs_read_file(path, FILE_MAX_BYTES, &old, &old_len);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    if (rc != PLAT_OK || (rc = hashes_of(old ? old : "", old_len, &seen,
                                         &n_seen)) != PLAT_OK)
        goto out;
    if ((rc = sync_batch_begin(ctx)) != PLAT_OK)
        goto out;
    open = 1;
    if ((rc = decide_ops(st, ctx, &ops, lines, act)) != PLAT_OK)
        goto out;
    /* the file first (old lines, then the new ones oldest first), then
     * the settles: after a crash in between, the same line is found in
     * the file next time and only settled; the office de-duplicates by
     * (device, seq) what still comes twice (another file, or a line
     * that came out different) */
    if (old_len && (rc = plat_buf_append(&b, old, old_len)) != PLAT_OK)
        goto out;
    if (old_len && old[old_len - 1] != '\n' &&
        (rc = plat_buf_puts(&b, "\n")) != PLAT_OK)
        goto out;
    for (i = 0; i < ops.n; i++)
        if (lines[i] && !line_known(lines[i], seen, n_seen)) {
            if ((rc = plat_buf_puts(&b, lines[i])) != PLAT_OK)
                goto out;
            wrote++;
        }
    if (wrote && (rc = plat_fs_write_atomic(path, b.data, b.len, 0600)) !=
        PLAT_OK)
        goto out;
    for (i = 0; i < ops.n; i++) {
        if (act[i] != ACT_DONE)
            continue;
        rc = sync_op_settle(ctx, ops.v[i].seq, ops.v[i].ref, SYNC_OP_DONE,
                            NULL);
        if (rc != PLAT_OK)
            goto out;
        sync_ctx_count(ctx, SYNC_COUNT_PUSHED, 1);
    }
    open = 0;
    rc = sync_batch_end(ctx, PLAT_OK);
out:
    if (open)
        sync_batch_end(ctx, rc);
    for (i = 0; lines && i < ops.n; i++)
        plat_free(lines[i]);
    plat_free(lines);
    plat_free(act);
    plat_free(seen);
    plat_free(old);
    plat_free(path);
    plat_free(out_dir);
    plat_buf_dispose(&b);
    sync_ops_free(&ops);
    return rc;
}

/* ---- the descriptor ---------------------------------------------------- */

static const char *const file_streams[] = {"import", NULL};
static const char *const file_kinds[] = {"create", "edit", "status", NULL};

const struct sync_connector sync_connector_file = {
    .name = "file",
    .description = "JSON-lines files in a folder (USB stick)",
    .config = file_conf,
    .streams = file_streams,
    .push_kinds = file_kinds,
    .cb_init = file_init,
    .cb_auth = NULL,
    .cb_pull = file_pull,
    .cb_confirm = NULL,
    .cb_push = file_push,
    .cb_exit = file_exit,
    .same_value = NULL,
    .probe_url = NULL,
};
