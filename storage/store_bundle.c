/*
 * store_bundle.c - bundles for sites without a link (format, numbering
 * and contract in store_bundle.h).
 */
#include "store_bundle.h"
#include "store_internal.h"
#include "store_program.h"
#include "store_registrations.h"
#include "store_seal.h"
#include "store_sign.h"
#include "store_sync.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_random.h"
#include "plat_secure.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "AGENTBN1"
#define KIND_RECIPIENT 2
#define FORMAT "agent-bundle/1"
#define DEVICE_KEY "bundle.device_id"
#define FILE_MAX ((size_t)2 << 30)
#define ID_MAX 63

/* ---- small helpers ------------------------------------------------------ */

static int query_int64(struct store *s, const char *sql, const char *arg,
                       int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = store__prepare(s, sql, &st);

    *out = 0;
    if (rc < 0)
        return rc;
    if (arg)
        store__bind_text(st, 1, arg);
    rc = store__step_row(s, st, "read the bundle records");
    if (rc == PLAT_OK)
        *out = sqlite3_column_int64(st, 0);
    else if (rc == ERR_NOTFOUND)
        rc = PLAT_OK;
    sqlite3_finalize(st);
    return rc;
}

int store_bundle_device_id(struct store *s, char out[64])
{
    char *v = NULL;
    char id[PLAT_UUID_LEN];
    int rc = store_state_get(s, DEVICE_KEY, &v);

    if (rc == PLAT_OK) {
        snprintf(out, 64, "%s", v);
        plat_free(v);
        return PLAT_OK;
    }
    if (rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    rc = plat_random_uuid(id);
    if (rc == PLAT_OK)
        rc = store_state_set(s, DEVICE_KEY, id);
    if (rc == PLAT_OK)
        snprintf(out, 64, "%s", id);
    return rc;
}

/* Add column `i` of `st` to `obj` (under `key`, or to the array `obj`)
 * as raw JSON (stored JSON text). */
static int add_raw(cJSON *obj, const char *key, sqlite3_stmt *st, int i)
{
    const char *t = store__col_text(st, i);
    cJSON *item = t ? cJSON_CreateRaw(t) : cJSON_CreateNull();

    if (!item)
        return ERR_NOMEM;
    if (key ? cJSON_AddItemToObject(obj, key, item)
            : cJSON_AddItemToArray(obj, item))
        return PLAT_OK;
    cJSON_Delete(item); /* not taken */
    return ERR_NOMEM;
}

/* ---- export ------------------------------------------------------------- */

static int export_entries(struct store *s, int64_t after, cJSON *arr,
                          int64_t *n)
{
    sqlite3_stmt *st = NULL;
    cJSON *e;
    int rc, src;

    rc = store__prepare(s,
                        "SELECT op_id, reference_id, program_id, kind,"
                        " payload, base, created_at, origin, target"
                        " FROM outbox WHERE seq > ?1 AND (state = 'pending'"
                        " OR state = 'inflight') ORDER BY seq",
                        &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, after);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        e = cJSON_CreateObject();
        if (e && !cJSON_AddItemToArray(arr, e)) {
            cJSON_Delete(e);
            e = NULL;
        }
        if (!e || !cJSON_AddStringToObject(e, "op_id", store__col_text(st, 0)) ||
            !cJSON_AddStringToObject(e, "reference_id",
                                     store__col_text(st, 1)) ||
            !cJSON_AddNumberToObject(e, "program_id",
                                     sqlite3_column_int(st, 2)) ||
            !cJSON_AddStringToObject(e, "kind", store__col_text(st, 3)) ||
            add_raw(e, "payload", st, 4) < 0 || add_raw(e, "base", st, 5) < 0
            || !cJSON_AddStringToObject(e, "created_at",
                                        store__col_text(st, 6)) ||
            !cJSON_AddStringToObject(e, "origin", store__col_text(st, 7)) ||
            !cJSON_AddStringToObject(e, "target", store__col_text(st, 8))) {
            rc = plat_err_set(ERR_NOMEM, "out of memory for the bundle");
            break;
        }
        (*n)++;
    }
    if (rc == PLAT_OK && src != SQLITE_DONE)
        rc = store__db_err(s, src, "read the outbox for the bundle");
    sqlite3_finalize(st);
    return rc;
}

/* Programs, server copies and the op_ids of entries done, written at or
 * after `after` ("" : all);
 * *through gets the newest time carried. */
static int export_server(struct store *s, const char *after, cJSON *progs,
                         cJSON *regs, cJSON *done,
                         struct store_bundle_info *info,
                         char *through, size_t through_len)
{
    sqlite3_stmt *st = NULL;
    const char *t;
    int rc, src;

    rc = store__prepare(s, "SELECT json FROM programs WHERE pulled_at >= ?1"
                           " ORDER BY id", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, after);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (add_raw(progs, NULL, st, 0) < 0) {
            rc = plat_err_set(ERR_NOMEM, "out of memory for the bundle");
            break;
        }
        info->programs++;
    }
    if (rc == PLAT_OK && src != SQLITE_DONE)
        rc = store__db_err(s, src, "read the programs for the bundle");
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    /* Entries the server has taken (from this store or brought by a
     * bundle): the other side marks its copies done. */
    rc = store__prepare(s, "SELECT op_id FROM outbox WHERE state = 'done'"
                           " AND updated_at >= ?1 ORDER BY seq", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, after);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *id = cJSON_CreateString(store__col_text(st, 0));

        if (!id || !cJSON_AddItemToArray(done, id)) {
            cJSON_Delete(id);
            rc = plat_err_set(ERR_NOMEM, "out of memory for the bundle");
            break;
        }
        info->done++;
    }
    if (rc == PLAT_OK && src != SQLITE_DONE)
        rc = store__db_err(s, src, "read the outbox for the bundle");
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    rc = store__prepare(s, "SELECT server_json, server_seen_at FROM"
                           " registrations WHERE server_json IS NOT NULL"
                           " AND server_seen_at >= ?1 ORDER BY row_id", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, after);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (add_raw(regs, NULL, st, 0) < 0) {
            rc = plat_err_set(ERR_NOMEM, "out of memory for the bundle");
            break;
        }
        t = store__col_text(st, 1);
        if (t && strcmp(t, through) > 0)
            snprintf(through, through_len, "%s", t);
        info->registrations++;
    }
    if (rc == PLAT_OK && src != SQLITE_DONE)
        rc = store__db_err(s, src, "read the registrations for the bundle");
    sqlite3_finalize(st);
    return rc;
}

/* Payments pulled at or after `after`, each with all its transactions:
 * what a distribution at the site needs (the voucher images stay at the
 * office, which prints them). */
static int export_payments(struct store *s, const char *after, cJSON *pays,
                           struct store_bundle_info *info)
{
    sqlite3_stmt *st = NULL, *tx = NULL;
    cJSON *p, *txs;
    int rc, src = SQLITE_DONE, trc;

    rc = store__prepare(s, "SELECT program_id, payment_id, json FROM payments"
                           " WHERE pulled_at >= ?1 ORDER BY payment_id", &st);
    if (rc == PLAT_OK)
        rc = store__prepare(s, "SELECT json FROM transactions WHERE"
                               " program_id = ?1 AND payment_id = ?2"
                               " ORDER BY id", &tx);
    if (rc < 0)
        goto done;
    store__bind_text(st, 1, after);
    while (rc == PLAT_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        p = cJSON_CreateObject();
        if (p && !cJSON_AddItemToArray(pays, p)) {
            cJSON_Delete(p);
            p = NULL;
        }
        if (!p || !cJSON_AddNumberToObject(p, "program_id",
                                           sqlite3_column_int(st, 0)) ||
            add_raw(p, "payment", st, 2) < 0 ||
            !(txs = cJSON_AddArrayToObject(p, "transactions"))) {
            rc = plat_err_set(ERR_NOMEM, "out of memory for the bundle");
            break;
        }
        sqlite3_bind_int(tx, 1, sqlite3_column_int(st, 0));
        sqlite3_bind_int(tx, 2, sqlite3_column_int(st, 1));
        while ((trc = sqlite3_step(tx)) == SQLITE_ROW)
            if (add_raw(txs, NULL, tx, 0) < 0) {
                rc = plat_err_set(ERR_NOMEM, "out of memory for the "
                                  "bundle");
                break;
            }
        if (rc == PLAT_OK && trc != SQLITE_DONE)
            rc = store__db_err(s, trc, "read the transactions for the "
                               "bundle");
        sqlite3_reset(tx);
        info->payments++;
    }
    if (rc == PLAT_OK && src != SQLITE_DONE)
        rc = store__db_err(s, src, "read the payments for the bundle");
done:
    sqlite3_finalize(st);
    sqlite3_finalize(tx);
    return rc;
}

/* Where bundle `since` left off: its outbox high-water and server time. */
static int export_start(struct store *s, int64_t since, int64_t last,
                        int64_t *outbox_after, char *server_after, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *outbox_after = 0;
    server_after[0] = '\0';
    if (since == 0)
        return PLAT_OK;
    if (since > last || since < 0)
        return plat_err_set(ERR_INVALID, "--since %lld: this store has "
                            "written bundles 1 to %lld only", (long long)since,
                            (long long)last);
    rc = store__prepare(s, "SELECT outbox_through, server_through FROM"
                           " bundle_exports WHERE seq = ?1", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, since);
    rc = store__step_row(s, st, "read the bundle records");
    if (rc == PLAT_OK) {
        *outbox_after = sqlite3_column_int64(st, 0);
        snprintf(server_after, n, "%s", store__col_text(st, 1));
    } else if (rc == ERR_NOTFOUND) {
        rc = plat_err_set(ERR_INVALID, "--since %lld: no such bundle was "
                          "written by this store", (long long)since);
    }
    sqlite3_finalize(st);
    return rc;
}

static int record_export(struct store *s, const struct store_bundle_info *i,
                         int64_t outbox_through, const char *server_through,
                         const char *bundle_id, const char *now)
{
    sqlite3_stmt *st = NULL;
    int rc = store__prepare(s,
                            "INSERT INTO bundle_exports(seq, since,"
                            " outbox_through, server_through, bundle_id,"
                            " entries, created_at) VALUES (?1, ?2, ?3, ?4,"
                            " ?5, ?6, ?7)",
                            &st);

    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, i->seq);
    sqlite3_bind_int64(st, 2, i->since);
    sqlite3_bind_int64(st, 3, outbox_through);
    store__bind_text(st, 4, server_through);
    store__bind_text(st, 5, bundle_id);
    sqlite3_bind_int64(st, 6, i->entries);
    store__bind_text(st, 7, now);
    rc = store__step_done(s, st, "record the bundle");
    sqlite3_finalize(st);
    return rc;
}

int store_bundle_export(struct store *s, int64_t since, int with_server,
                        const uint8_t key[STORE_KEY_LEN],
                        const char *signing_key, const char *out_path,
                        struct store_bundle_info *info)
{
    char now[PLAT_ISO_LEN], bundle_id[PLAT_UUID_LEN], server_after[64];
    char through[64];
    cJSON *root = NULL, *entries, *progs, *regs, *done, *pays;
    char *text = NULL;
    struct plat_buf out;
    int64_t last = 0, outbox_after = 0, outbox_max = 0;
    int rc, written = 0;

    memset(info, 0, sizeof(*info));
    plat_buf_init(&out, 0);
    rc = store_begin(s);
    if (rc < 0)
        return rc;
    rc = store_bundle_device_id(s, info->exporter);
    if (rc == PLAT_OK)
        rc = query_int64(s, "SELECT COALESCE(MAX(seq), 0) FROM"
                            " bundle_exports", NULL, &last);
    if (rc == PLAT_OK)
        rc = export_start(s, since < 0 ? last : since, last, &outbox_after,
                          server_after, sizeof(server_after));
    if (rc == PLAT_OK)
        rc = query_int64(s, "SELECT COALESCE(MAX(seq), 0) FROM outbox",
                         NULL, &outbox_max);
    if (rc == PLAT_OK)
        rc = plat_random_uuid(bundle_id);
    if (rc < 0)
        goto done;
    info->seq = last + 1;
    info->since = since < 0 ? last : since;
    store__now(now);
    root = cJSON_CreateObject();
    if (!root || !cJSON_AddStringToObject(root, "format", FORMAT) ||
        !cJSON_AddStringToObject(root, "exporter", info->exporter) ||
        !cJSON_AddNumberToObject(root, "seq", (double)info->seq) ||
        !cJSON_AddNumberToObject(root, "since", (double)info->since) ||
        !cJSON_AddStringToObject(root, "bundle_id", bundle_id) ||
        !cJSON_AddStringToObject(root, "created_at", now) ||
        !(entries = cJSON_AddArrayToObject(root, "entries")) ||
        !(progs = cJSON_AddArrayToObject(root, "programs")) ||
        !(regs = cJSON_AddArrayToObject(root, "registrations")) ||
        !(done = cJSON_AddArrayToObject(root, "done")) ||
        !(pays = cJSON_AddArrayToObject(root, "payments"))) {
        rc = plat_err_set(ERR_NOMEM, "out of memory for the bundle");
        goto done;
    }
    rc = export_entries(s, outbox_after, entries, &info->entries);
    snprintf(through, sizeof(through), "%s", server_after);
    if (rc == PLAT_OK && with_server)
        rc = export_server(s, server_after, progs, regs, done, info, through,
                           sizeof(through));
    if (rc == PLAT_OK && with_server)
        rc = export_payments(s, server_after, pays, info);
    if (rc < 0)
        goto done;
    text = cJSON_PrintUnformatted(root);
    if (!text) {
        rc = plat_err_set(ERR_NOMEM, "out of memory for the bundle");
        goto done;
    }
    rc = store_seal(MAGIC, KIND_RECIPIENT, (const uint8_t *)text,
                    strlen(text), key, &out);
    if (rc == PLAT_OK)
        rc = store_sign_append(signing_key, &out);
    if (rc == PLAT_OK)
        rc = record_export(s, info, outbox_max, through, bundle_id, now);
    if (rc == PLAT_OK)
        rc = plat_fs_write_atomic(out_path, out.data, out.len, 0600);
    if (rc == PLAT_OK) {
        written = 1;
        info->bytes = out.len;
        rc = store_commit(s);
    }
done:
    if (rc < 0) {
        store_rollback(s);
        /* A file whose number the store did not keep would be made
         * again with other content. */
        if (written)
            unlink(out_path);
    }
    if (text) {
        plat_wipe(text, strlen(text));
        cJSON_free(text);
    }
    cJSON_Delete(root);
    if (out.data)
        plat_wipe(out.data, out.len);
    plat_buf_dispose(&out);
    return rc;
}

/* ---- import ------------------------------------------------------------- */

static const char *str_item(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int system_ok(const char *name)
{
    size_t n;

    if (!name)
        return 0;
    for (n = 0; name[n]; n++)
        if (!((name[n] >= 'a' && name[n] <= 'z') ||
              (name[n] >= '0' && name[n] <= '9') || name[n] == '_' ||
              name[n] == '.' || name[n] == '-'))
            return 0;
    return n > 0 && n <= 32;
}

struct entry {
    const char *op_id, *ref, *kind, *created_at, *origin, *target;
    int64_t program_id;
    const cJSON *payload, *base;
};

static int entry_parse(const cJSON *e, struct entry *out)
{
    enum store_op_kind k;

    memset(out, 0, sizeof(*out));
    out->op_id = str_item(e, "op_id");
    out->ref = str_item(e, "reference_id");
    out->kind = str_item(e, "kind");
    out->created_at = str_item(e, "created_at");
    out->origin = str_item(e, "origin");
    out->target = str_item(e, "target");
    out->payload = cJSON_GetObjectItemCaseSensitive(e, "payload");
    out->base = cJSON_GetObjectItemCaseSensitive(e, "base");
    if (!out->op_id || !*out->op_id || strlen(out->op_id) > ID_MAX ||
        !out->ref || !*out->ref || strlen(out->ref) > 2 * STORE_REF_MAX ||
        !out->kind || store_op_kind_parse(out->kind, &k) < 0 ||
        !out->created_at || !system_ok(out->origin) ||
        !system_ok(out->target) || strcmp(out->origin, out->target) == 0 ||
        !cJSON_IsObject(out->payload) ||
        (out->base && !cJSON_IsNull(out->base) &&
         !cJSON_IsObject(out->base)) ||
        store__json_int64(cJSON_GetObjectItemCaseSensitive(e, "program_id"),
                          "program_id", 1, 2147483647, &out->program_id) < 0)
        return plat_err_set(ERR_INVALID, "an outbox entry of the bundle is "
                            "malformed");
    if (out->base && cJSON_IsNull(out->base))
        out->base = NULL;
    return PLAT_OK;
}

/* Make the entry's change to the local view the way the device did (it
 * queues an entry of its own, which the caller then turns into the
 * original). */
static int apply_view(struct store *s, const struct entry *e)
{
    const cJSON *data, *reason;
    const char *r;

    reason = cJSON_GetObjectItemCaseSensitive(e->payload, "reason");
    r = cJSON_IsString(reason) ? reason->valuestring : NULL;
    if (strcmp(e->kind, "create") == 0)
        return store_reg_create_from(s, (int)e->program_id, e->payload, NULL,
                                     e->origin, e->target);
    if (strcmp(e->kind, "edit") == 0) {
        data = cJSON_GetObjectItemCaseSensitive(e->payload, "data");
        if (!cJSON_IsObject(data))
            return ERR_INVALID;
        return store_reg_edit_from_base(NULL, s, e->ref, data, e->base, r,
                                        e->origin, e->target);
    }
    if (strcmp(e->kind, "status") == 0)
        return store_reg_set_status_from(s, e->ref,
                                         str_item(e->payload, "status"), r,
                                         e->origin, e->target);
    return ERR_NOTFOUND; /* the other kinds are only queued */
}

static int apply_entry(struct store *s, const cJSON *item,
                       struct store_bundle_info *info)
{
    struct entry e;
    sqlite3_stmt *st = NULL;
    char *payload = NULL, *base = NULL, now[PLAT_ISO_LEN];
    int64_t have = 0, before = 0, after = 0;
    int rc;

    rc = entry_parse(item, &e);
    if (rc == PLAT_OK)
        rc = query_int64(s, "SELECT count(*) FROM outbox WHERE op_id = ?1",
                         e.op_id, &have);
    if (rc < 0)
        return rc;
    if (have) {
        info->skipped++;
        return PLAT_OK;
    }
    rc = query_int64(s, "SELECT COALESCE(MAX(seq), 0) FROM outbox", NULL,
                     &before);
    if (rc < 0)
        return rc;
    rc = apply_view(s, &e);
    if (rc == ERR_INVALID || rc == ERR_NOTFOUND || rc == ERR_EXISTS) {
        /* The view here cannot take it (made already, gone, same status):
         * it is still queued for the server, which decides. */
        plat_err_clear();
        info->queued_only++;
        rc = PLAT_OK;
    }
    if (rc == PLAT_OK)
        rc = query_int64(s, "SELECT COALESCE(MAX(seq), 0) FROM outbox", NULL,
                         &after);
    if (rc < 0)
        return rc;
    payload = store__json_print(e.payload);
    base = e.base ? store__json_print(e.base) : NULL;
    if (!payload || (e.base && !base)) {
        rc = ERR_NOMEM;
        goto done;
    }
    store__now(now);
    if (after > before)
        rc = store__prepare(s, "UPDATE outbox SET op_id = ?2, payload = ?3,"
                               " base = ?4, created_at = ?5 WHERE seq = ?1",
                            &st);
    else
        rc = store__prepare(s, "INSERT INTO outbox(op_id, reference_id,"
                               " program_id, kind, payload, base, state,"
                               " attempts, created_at, updated_at, origin,"
                               " target) VALUES (?2, ?6, ?7, ?8, ?3, ?4,"
                               " 'pending', 0, ?5, ?9, ?10, ?11)",
                            &st);
    if (rc < 0)
        goto done;
    sqlite3_bind_int64(st, 1, after);
    store__bind_text(st, 2, e.op_id);
    store__bind_text(st, 3, payload);
    store__bind_text(st, 4, base);
    store__bind_text(st, 5, e.created_at);
    if (after <= before) {
        store__bind_text(st, 6, e.ref);
        sqlite3_bind_int64(st, 7, e.program_id);
        store__bind_text(st, 8, e.kind);
        store__bind_text(st, 9, now);
        store__bind_text(st, 10, e.origin);
        store__bind_text(st, 11, e.target);
    }
    rc = store__step_done(s, st, "queue an entry of the bundle");
    if (rc == PLAT_OK)
        info->applied++;
done:
    sqlite3_finalize(st);
    cJSON_free(payload);
    cJSON_free(base);
    return rc;
}

/* A server copy, unless the one stored here is newer ("updated"). */
static int apply_server_copy(struct store *s, const cJSON *reg,
                             struct store_bundle_info *info)
{
    const char *ref = str_item(reg, "referenceId");
    const char *upd = str_item(reg, "updated");
    cJSON *have = NULL;
    const char *hupd;
    int rc;

    if (!ref)
        return plat_err_set(ERR_INVALID, "a registration of the bundle has "
                            "no referenceId");
    rc = store__reg_server_copy(s, ref, &have);
    if (rc == ERR_NOTFOUND)
        rc = PLAT_OK;
    if (rc < 0)
        return rc;
    hupd = have ? str_item(have, "updated") : NULL;
    if (hupd && upd && strcmp(hupd, upd) > 0) {
        cJSON_Delete(have);
        return PLAT_OK;
    }
    cJSON_Delete(have);
    rc = store_reg_put_server(s, reg);
    if (rc == PLAT_OK)
        info->regs_applied++;
    return rc;
}

/* A payment and its transactions, as a pull stores them. */
static int apply_payment(struct store *s, const cJSON *item,
                         struct store_bundle_info *info)
{
    const cJSON *pay = cJSON_GetObjectItemCaseSensitive(item, "payment");
    const cJSON *txs = cJSON_GetObjectItemCaseSensitive(item,
                                                        "transactions");
    int64_t prog = 0, pid = 0;
    int rc;

    if (store__json_int64(cJSON_GetObjectItemCaseSensitive(item,
                                                           "program_id"),
                          "program_id", 1, 2147483647, &prog) < 0 ||
        !cJSON_IsObject(pay) || !cJSON_IsArray(txs) ||
        store__json_int64(cJSON_GetObjectItemCaseSensitive(pay, "paymentId"),
                          "paymentId", 1, 2147483647, &pid) < 0)
        return plat_err_set(ERR_INVALID, "a payment of the bundle is "
                            "malformed");
    rc = store_payment_put(s, (int)prog, pay);
    if (rc == PLAT_OK)
        rc = store_transactions_put(s, (int)prog, (int)pid, txs);
    if (rc == PLAT_OK)
        info->payments_stored++;
    return rc;
}

/* An entry the other side saw the server take: done here too (only if
 * it is still waiting: a conflict or a rejection here stays). */
static int mark_done(struct store *s, const cJSON *id,
                     struct store_bundle_info *info)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc;

    if (!cJSON_IsString(id) || strlen(id->valuestring) > ID_MAX)
        return plat_err_set(ERR_INVALID, "a done entry of the bundle is "
                            "malformed");
    rc = store__prepare(s, "UPDATE outbox SET state = 'done', updated_at ="
                           " ?2 WHERE op_id = ?1 AND (state = 'pending' OR"
                           " state = 'inflight')", &st);
    if (rc < 0)
        return rc;
    store__now(now);
    store__bind_text(st, 1, id->valuestring);
    store__bind_text(st, 2, now);
    rc = store__step_done(s, st, "mark an entry done");
    if (rc == PLAT_OK)
        info->marked_done += sqlite3_changes(store_db(s));
    sqlite3_finalize(st);
    return rc;
}

/* Where this bundle stands against the last one imported from its
 * exporter: PLAT_OK to apply, *repeat for the same bundle again. */
static int check_order(struct store *s, const char *exporter, int64_t seq,
                       int64_t since, const char *bundle_id, int *repeat)
{
    sqlite3_stmt *st = NULL;
    int64_t last = 0;
    char *last_id = NULL;
    int rc;

    *repeat = 0;
    rc = store__prepare(s, "SELECT last_seq, bundle_id FROM bundle_imports"
                           " WHERE exporter = ?1", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, exporter);
    rc = store__step_row(s, st, "read the bundle records");
    if (rc == PLAT_OK) {
        last = sqlite3_column_int64(st, 0);
        last_id = store__col_dup(st, 1, &rc);
    } else if (rc == ERR_NOTFOUND) {
        rc = PLAT_OK;
    }
    sqlite3_finalize(st);
    if (rc < 0)
        goto done;
    if (seq == last && last_id && strcmp(last_id, bundle_id) == 0)
        *repeat = 1;
    else if (seq == last)
        rc = plat_err_set(ERR_CONFLICT, "bundle %lld from device %s is not "
                          "the bundle %lld imported before: nothing applied; "
                          "export again there with --since %lld",
                          (long long)seq, exporter, (long long)last,
                          (long long)last);
    else if (seq < last)
        rc = plat_err_set(ERR_CONFLICT, "bundle %lld from device %s is older "
                          "than the last one imported from it (%lld): "
                          "nothing applied", (long long)seq, exporter,
                          (long long)last);
    else if (since > last)
        rc = plat_err_set(ERR_CONFLICT, "bundle %lld from device %s follows "
                          "its bundle %lld, but the last one imported from it "
                          "is %lld: nothing applied; import bundle %lld first, "
                          "or export again there with --since %lld",
                          (long long)seq, exporter, (long long)since,
                          (long long)last, (long long)last + 1,
                          (long long)last);
done:
    plat_free(last_id);
    return rc;
}

static int record_import(struct store *s, const char *exporter, int64_t seq,
                         const char *bundle_id)
{
    sqlite3_stmt *st = NULL;
    char now[PLAT_ISO_LEN];
    int rc = store__prepare(s,
                            "INSERT INTO bundle_imports(exporter, last_seq,"
                            " bundle_id, imported_at) VALUES (?1, ?2, ?3, ?4)"
                            " ON CONFLICT(exporter) DO UPDATE SET"
                            " last_seq = excluded.last_seq,"
                            " bundle_id = excluded.bundle_id,"
                            " imported_at = excluded.imported_at",
                            &st);

    if (rc < 0)
        return rc;
    store__now(now);
    store__bind_text(st, 1, exporter);
    sqlite3_bind_int64(st, 2, seq);
    store__bind_text(st, 3, bundle_id);
    store__bind_text(st, 4, now);
    rc = store__step_done(s, st, "record the bundle");
    sqlite3_finalize(st);
    return rc;
}

/* The checked, decrypted JSON of the bundle file. */
static int read_bundle(const char *in_path, const uint8_t *key,
                       const char *trusted, struct store_bundle_info *info,
                       cJSON **out)
{
    char *file = NULL, *what = NULL;
    uint8_t *text = NULL;
    size_t flen = 0, body = 0, tlen = 0;
    int rc, kind = 0;

    *out = NULL;
    what = plat_asprintf("bundle %s", in_path);
    if (!what)
        return ERR_NOMEM;
    rc = plat_fs_read_file(in_path, FILE_MAX, &file, &flen);
    if (rc == ERR_NOTFOUND || (rc < 0 && !plat_fs_exists(in_path)))
        rc = plat_err_set(ERR_NOTFOUND, "no bundle %s", in_path);
    if (rc == PLAT_OK && (flen < 8 || memcmp(file, MAGIC, 8) != 0))
        rc = plat_err_set(ERR_CORRUPT, "%s is not an agent bundle", what);
    if (rc == PLAT_OK)
        rc = store_sign_check((const uint8_t *)file, flen, trusted, what,
                              &body, info->signer);
    if (rc == PLAT_OK)
        rc = store_seal_kind((const uint8_t *)file, body, MAGIC, what, &kind);
    if (rc == PLAT_OK)
        rc = store_unseal((const uint8_t *)file, body, MAGIC, key,
                          STORE_SEAL_MAX, what, &text, &tlen);
    if (rc == PLAT_OK) {
        *out = cJSON_ParseWithLength((const char *)text, tlen);
        if (!*out)
            rc = plat_err_set(ERR_CORRUPT, "%s does not hold a bundle", what);
    }
    info->bytes = flen;
    if (text)
        plat_wipe(text, tlen);
    plat_free(text);
    if (file)
        plat_wipe(file, flen);
    plat_free(file);
    plat_free(what);
    return rc;
}

/* The header fields of the bundle into `info`. */
static int bundle_header(const cJSON *root, const char *in_path,
                         struct store_bundle_info *info,
                         const char **bundle_id)
{
    const char *format = str_item(root, "format");
    const char *exporter = str_item(root, "exporter");

    if (format && strncmp(format, "agent-bundle/", 13) == 0 &&
        strcmp(format, FORMAT) != 0)
        return plat_err_set(ERR_VERSION, "bundle %s was made by a newer "
                            "agent (%s)", in_path, format);
    *bundle_id = str_item(root, "bundle_id");
    if (!format || strcmp(format, FORMAT) != 0 || !exporter || !*exporter ||
        strlen(exporter) > ID_MAX || !*bundle_id || !**bundle_id ||
        store__json_int64(cJSON_GetObjectItemCaseSensitive(root, "seq"),
                          "seq", 1, STORE__JSON_INT_MAX, &info->seq) < 0 ||
        store__json_int64(cJSON_GetObjectItemCaseSensitive(root, "since"),
                          "since", 0, info->seq - 1, &info->since) < 0 ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root, "entries")))
        return plat_err_set(ERR_INVALID, "bundle %s has a malformed header",
                            in_path);
    snprintf(info->exporter, sizeof(info->exporter), "%s", exporter);
    return PLAT_OK;
}

int store_bundle_import(struct store *s, const char *in_path,
                        const uint8_t key[STORE_KEY_LEN],
                        const char *trusted_keys,
                        struct store_bundle_info *info)
{
    cJSON *root = NULL, *item;
    const char *bundle_id = NULL;
    char *own = NULL;
    int rc;

    memset(info, 0, sizeof(*info));
    rc = read_bundle(in_path, key, trusted_keys, info, &root);
    if (rc == PLAT_OK)
        rc = bundle_header(root, in_path, info, &bundle_id);
    if (rc < 0)
        goto out;
    rc = store_state_get(s, DEVICE_KEY, &own);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        rc = PLAT_OK;
    }
    if (rc == PLAT_OK && own && strcmp(own, info->exporter) == 0)
        rc = plat_err_set(ERR_INVALID, "bundle %s was made by this store: "
                          "import it on the other agent", in_path);
    if (rc < 0)
        goto out;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root,
                                                              "entries"))
        info->entries++;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root,
                                                              "registrations"))
        info->registrations++;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root,
                                                              "programs"))
        info->programs++;
    rc = store_begin(s);
    if (rc < 0)
        goto out;
    rc = check_order(s, info->exporter, info->seq, info->since, bundle_id,
                     &info->repeat);
    if (rc < 0 || info->repeat)
        goto end;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root,
                                                              "programs")) {
        rc = store_program_put(s, item, NULL);
        if (rc < 0)
            goto end;
    }
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root,
                                                              "registrations")) {
        rc = apply_server_copy(s, item, info);
        if (rc < 0)
            goto end;
    }
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root,
                                                              "entries")) {
        rc = apply_entry(s, item, info);
        if (rc < 0)
            goto end;
    }
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root,
                                                              "payments")) {
        rc = apply_payment(s, item, info);
        if (rc < 0)
            goto end;
    }
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root, "done")) {
        rc = mark_done(s, item, info);
        if (rc < 0)
            goto end;
    }
    rc = record_import(s, info->exporter, info->seq, bundle_id);
end:
    if (rc == PLAT_OK && !info->repeat)
        rc = store_commit(s);
    else
        store_rollback(s);
out:
    plat_free(own);
    cJSON_Delete(root);
    return rc;
}
