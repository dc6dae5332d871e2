/*
 * store_dist.c - distribution day writes and reads (store_dist.h):
 * hand-outs and reconciliation rows, messages, templates, labels.
 * Vouchers, look-ups and activities are in store_dist_read.c.
 */
#include "store_dist.h"
#include "store_internal.h"
#include "store_program.h"
#include "store_registrations.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_random.h"
#include "plat_utf8.h"

#include <stdio.h>
#include <string.h>

static int utf8_ok(const char *s)
{
    return plat_utf8_valid(s, strlen(s), NULL);
}

/* PLAT_OK if `ref` names a stored registration. */
static int reg_exists(struct store *s, const char *ref)
{
    cJSON *view = NULL;
    int rc = store_reg_get(s, ref, &view);

    cJSON_Delete(view);
    return rc;
}

/* PLAT_OK if a transaction of `payment_id` for `ref` is stored. */
static int transaction_exists(struct store *s, const char *ref,
                              int payment_id)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store__prepare(s, "SELECT 1 FROM transactions WHERE reference_id ="
                           " ?1 AND payment_id = ?2 LIMIT 1", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    sqlite3_bind_int(st, 2, payment_id);
    rc = store__step_row(s, st, "read a transaction");
    sqlite3_finalize(st);
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "%s has no transaction in payment "
                          "%d in the store (run `agent sync --now` first)",
                          ref, payment_id);
    return rc;
}

int store_handout_get(struct store *s, const char *ref, int payment_id,
                      struct store_handout *out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = store__prepare(s, "SELECT handed_out_at, handed_out_by,"
                           " handed_out_clock FROM vouchers WHERE"
                           " reference_id = ?1 AND payment_id = ?2 AND"
                           " handed_out_at IS NOT NULL", &st);
    if (rc < 0)
        return rc;
    store__bind_text(st, 1, ref);
    sqlite3_bind_int(st, 2, payment_id);
    rc = store__step_row(s, st, "read a hand-out");
    if (rc == PLAT_OK) {
        const char *by = store__col_text(st, 1);
        const char *clock = store__col_text(st, 2);

        snprintf(out->at, sizeof(out->at), "%s", store__col_text(st, 0));
        snprintf(out->by, sizeof(out->by), "%s", by ? by : "");
        snprintf(out->clock, sizeof(out->clock), "%s",
                 clock ? clock : "device");
    }
    sqlite3_finalize(st);
    return rc;
}

static int check_payment(int payment_id)
{
    return payment_id > 0 ? PLAT_OK
                          : plat_err_set(ERR_INVALID, "payment %d is not "
                                         "valid", payment_id);
}

int store_handout_mark(struct store *s, int program_id, const char *ref,
                       int payment_id, const char *by,
                       struct store_handout *prev, struct store_handout *done)
{
    sqlite3_stmt *st = NULL;
    struct store_handout first;
    char now[PLAT_ISO_LEN];
    cJSON *payload = NULL;
    int rc, token = 0;

    if (!ref || !*ref)
        return plat_err_set(ERR_INVALID, "no referenceId given");
    if (!by || !*by || strlen(by) > STORE_DIST_BY_MAX || !utf8_ok(by))
        return plat_err_set(ERR_INVALID, "the hand-out's user must be 1 to "
                            "%d bytes of UTF-8", STORE_DIST_BY_MAX);
    rc = check_payment(payment_id);
    if (rc < 0)
        return rc;
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = reg_exists(s, ref);
    if (rc == PLAT_OK)
        rc = transaction_exists(s, ref, payment_id);
    if (rc < 0)
        goto done;
    rc = store_handout_get(s, ref, payment_id, &first);
    if (rc == PLAT_OK) {
        if (prev)
            *prev = first;
        rc = plat_err_set(ERR_EXISTS, "the voucher of %s for payment %d was "
                          "handed out already at %s (%s time) by %s: not "
                          "marked again", ref, payment_id, first.at,
                          first.clock, first.by);
        goto done;
    }
    if (rc != ERR_NOTFOUND)
        goto done;
    store__now(now);
    rc = store__prepare(
        s,
        "INSERT INTO vouchers(reference_id, payment_id, handed_out_at,"
        " handed_out_by, handed_out_clock) VALUES (?1, ?2, ?3, ?4, 'device')"
        " ON CONFLICT(reference_id, payment_id) DO UPDATE SET"
        " handed_out_at = excluded.handed_out_at,"
        " handed_out_by = excluded.handed_out_by,"
        " handed_out_clock = excluded.handed_out_clock",
        &st);
    if (rc < 0)
        goto done;
    store__bind_text(st, 1, ref);
    sqlite3_bind_int(st, 2, payment_id);
    store__bind_text(st, 3, now);
    store__bind_text(st, 4, by);
    rc = store__step_done(s, st, "mark a hand-out");
    if (rc < 0)
        goto done;
    payload = cJSON_CreateObject();
    if (!payload || !cJSON_AddNumberToObject(payload, "paymentId", payment_id)
        || !cJSON_AddStringToObject(payload, "status", "success")
        || !cJSON_AddStringToObject(payload, "source", "hand-out")
        || !cJSON_AddStringToObject(payload, "handedOutAt", now)
        || !cJSON_AddStringToObject(payload, "handedOutBy", by)
        || !cJSON_AddStringToObject(payload, "clock", "device")) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = store__outbox_append(s, ref, program_id, "voucher", payload, NULL);
    if (rc == PLAT_OK && done) {
        memset(done, 0, sizeof(*done));
        snprintf(done->at, sizeof(done->at), "%s", now);
        snprintf(done->by, sizeof(done->by), "%s", by);
        snprintf(done->clock, sizeof(done->clock), "device");
    }

done:
    sqlite3_finalize(st);
    cJSON_Delete(payload);
    return store__txn_end(s, token, rc);
}

int store_recon_check(struct store *s, int payment_id,
                      const struct store_recon_row *row, char *problem)
{
    cJSON *view = NULL;
    int rc;

    problem[0] = '\0';
    if (!row->ref || !*row->ref) {
        snprintf(problem, 96, "no referenceId");
        return PLAT_OK;
    }
    if (!row->status || (strcmp(row->status, "success") != 0 &&
                         strcmp(row->status, "error") != 0)) {
        snprintf(problem, 96, "status must be success or error");
        return PLAT_OK;
    }
    rc = store_reg_get(s, row->ref, &view);
    cJSON_Delete(view);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        snprintf(problem, 96, "unknown referenceId");
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    rc = transaction_exists(s, row->ref, payment_id);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        snprintf(problem, 96, "no transaction in payment %d", payment_id);
        return PLAT_OK;
    }
    return rc;
}

int store_recon_queue(struct store *s, int program_id, int payment_id,
                      const struct store_recon_row *rows, size_t n)
{
    char problem[96];
    cJSON *payload = NULL;
    size_t i;
    int rc, token = 0;

    rc = check_payment(payment_id);
    if (rc < 0)
        return rc;
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        const struct store_recon_row *r = &rows[i];

        rc = store_recon_check(s, payment_id, r, problem);
        if (rc == PLAT_OK && problem[0])
            rc = plat_err_set(ERR_INVALID, "reconciliation row %zu (%s): %s",
                              i + 1, r->ref && store__check_ref(r->ref) == PLAT_OK
                                         ? r->ref : "?", problem);
        if (rc < 0)
            break;
        payload = cJSON_CreateObject();
        if (!payload ||
            !cJSON_AddNumberToObject(payload, "paymentId", payment_id) ||
            !cJSON_AddStringToObject(payload, "status", r->status) ||
            (r->error_message && *r->error_message &&
             !cJSON_AddStringToObject(payload, "errorMessage",
                                      r->error_message)) ||
            !cJSON_AddStringToObject(payload, "source", "import")) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            break;
        }
        rc = store__outbox_append(s, r->ref, program_id, "voucher", payload,
                                  NULL);
        cJSON_Delete(payload);
        payload = NULL;
    }
    cJSON_Delete(payload);
    return store__txn_end(s, token, rc);
}

/* ---- messages ----------------------------------------------------------- */

int store_message_queue(struct store *s, int program_id,
                        const char *const *refs, size_t n, const char *text,
                        const char *template_key, char *batch_out)
{
    unsigned char rnd[8];
    char batch[40];
    cJSON *payload = NULL;
    size_t i;
    int rc, token = 0;

    if ((text == NULL) == (template_key == NULL))
        return plat_err_set(ERR_INVALID, "a message needs exactly one of a "
                            "text and a template");
    if (text && (!*text || strlen(text) > 1600 || !utf8_ok(text)))
        return plat_err_set(ERR_INVALID, "the message text must be 1 to "
                            "1600 bytes of UTF-8");
    if (template_key && (!*template_key || strlen(template_key) > 255 ||
                         !utf8_ok(template_key)))
        return plat_err_set(ERR_INVALID, "the template type must be 1 to 255 "
                            "bytes of UTF-8");
    if (n == 0)
        return plat_err_set(ERR_INVALID, "no registrations to message");
    rc = plat_random_bytes(rnd, sizeof(rnd));
    if (rc < 0)
        return rc;
    snprintf(batch, sizeof(batch), "m%02x%02x%02x%02x%02x%02x%02x%02x",
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    payload = cJSON_CreateObject();
    if (!payload || !cJSON_AddStringToObject(payload, "batch", batch) ||
        !cJSON_AddStringToObject(payload, text ? "message"
                                               : "messageTemplateKey",
                                 text ? text : template_key)) {
        cJSON_Delete(payload);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    rc = store__txn_begin(s, &token);
    for (i = 0; rc == PLAT_OK && i < n; i++) {
        rc = reg_exists(s, refs[i]);
        if (rc == PLAT_OK)
            rc = store__outbox_append(s, refs[i], program_id, "message",
                                      payload, NULL);
    }
    cJSON_Delete(payload);
    rc = store__txn_end(s, token, rc);
    if (rc == PLAT_OK && batch_out)
        memcpy(batch_out, batch, strlen(batch) + 1);
    return rc;
}

/* ---- templates ---------------------------------------------------------- */

static int check_lang(const char *lang)
{
    size_t i, n = lang ? strlen(lang) : 0;

    for (i = 0; i < n; i++)
        if (!((lang[i] >= 'a' && lang[i] <= 'z') ||
              (lang[i] >= 'A' && lang[i] <= 'Z') || lang[i] == '_' ||
              lang[i] == '-'))
            break;
    if (n < 2 || n > 8 || i < n)
        return plat_err_set(ERR_INVALID, "language must be 2 to 8 letters "
                            "(e.g. en, nl)");
    return PLAT_OK;
}

static int check_type(const char *type)
{
    if (!type || !*type || strlen(type) > 255 || !utf8_ok(type) ||
        strchr(type, '/'))
        return plat_err_set(ERR_INVALID, "template type must be 1 to 255 "
                            "bytes of UTF-8 without '/'");
    return PLAT_OK;
}

int store_template_list(struct store *s, int program_id, store_template_cb cb,
                        void *payload)
{
    sqlite3_stmt *st = NULL;
    cJSON *tpl = NULL;
    int rc;

    rc = store__prepare(s, "SELECT json FROM message_templates WHERE"
                           " program_id = ?1 ORDER BY type, language", &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = store__json_parse(s, store__col_text(st, 0), "a message "
                               "template", &tpl);
        if (rc == PLAT_OK)
            rc = cb(tpl, payload);
        cJSON_Delete(tpl);
        tpl = NULL;
        if (rc != 0)
            goto done;
    }
    rc = rc == SQLITE_DONE ? PLAT_OK
                           : store__db_err(s, rc, "list message templates");
done:
    sqlite3_finalize(st);
    return rc;
}

int store_template_get(struct store *s, int program_id, const char *type,
                       const char *language, cJSON **out)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    rc = store__prepare(s, "SELECT json FROM message_templates WHERE"
                           " program_id = ?1 AND type = ?2 AND language = ?3",
                        &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    store__bind_text(st, 2, type);
    store__bind_text(st, 3, language);
    rc = store__step_row(s, st, "read a message template");
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no message template '%.60s' in "
                          "language '%.8s' is stored",
                          utf8_ok(type) ? type : "?",
                          utf8_ok(language) ? language : "?");
    else if (rc == PLAT_OK)
        rc = store__json_parse(s, store__col_text(st, 0), "a message "
                               "template", out);
    sqlite3_finalize(st);
    return rc;
}

static int template_write(struct store *s, int program_id, const char *type,
                          const char *language, const cJSON *tpl)
{
    sqlite3_stmt *st = NULL;
    char *json = store__json_print(tpl);
    int rc;

    if (!json)
        return ERR_NOMEM;
    rc = store__prepare(s, "INSERT INTO message_templates(program_id, type,"
                           " language, json) VALUES (?1, ?2, ?3, ?4) ON"
                           " CONFLICT(program_id, type, language) DO UPDATE"
                           " SET json = excluded.json", &st);
    if (rc == PLAT_OK) {
        sqlite3_bind_int(st, 1, program_id);
        store__bind_text(st, 2, type);
        store__bind_text(st, 3, language);
        store__bind_text(st, 4, json);
        rc = store__step_done(s, st, "store a message template");
    }
    sqlite3_finalize(st);
    cJSON_free(json);
    return rc;
}

int store_template_put_one(struct store *s, int program_id, const cJSON *tpl)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(tpl, "type");
    const cJSON *lang = cJSON_GetObjectItemCaseSensitive(tpl, "language");

    if (!cJSON_IsString(type) || !cJSON_IsString(lang))
        return plat_err_set(ERR_INVALID, "message template: field type or "
                            "language is missing");
    return template_write(s, program_id, type->valuestring,
                          lang->valuestring, tpl);
}

int store_template_set(struct store *s, int program_id, const char *type,
                       const char *language, const char *message,
                       int *created_out)
{
    cJSON *tpl = NULL, *payload = NULL, *base = NULL;
    const cJSON *old;
    char ref[300];
    int rc, token = 0, created = 0;

    rc = check_type(type);
    if (rc == PLAT_OK)
        rc = check_lang(language);
    if (rc < 0)
        return rc;
    if (!message || !*message || strlen(message) > 10000 || !utf8_ok(message))
        return plat_err_set(ERR_INVALID, "the template message must be 1 to "
                            "10,000 bytes of UTF-8");
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = store_template_get(s, program_id, type, language, &tpl);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        created = 1;
        tpl = cJSON_CreateObject();
        rc = tpl && cJSON_AddStringToObject(tpl, "type", type) &&
                     cJSON_AddStringToObject(tpl, "language", language) &&
                     cJSON_AddBoolToObject(tpl, "isSendMessageTemplate", 0) &&
                     cJSON_AddNumberToObject(tpl, "programId", program_id)
                 ? PLAT_OK
                 : plat_err_set(ERR_NOMEM, "out of memory");
    }
    if (rc < 0)
        goto done;
    old = cJSON_GetObjectItemCaseSensitive(tpl, "message");
    if (!created && cJSON_IsString(old) &&
        strcmp(old->valuestring, message) == 0) {
        rc = plat_err_set(ERR_INVALID, "template '%.60s' (%s) already has "
                          "that text: nothing queued", type, language);
        goto done;
    }
    base = cJSON_CreateObject();
    payload = cJSON_CreateObject();
    if (!base || !payload ||
        store__put_item(base, "message", cJSON_IsString(old)
                                             ? cJSON_CreateString(
                                                   old->valuestring)
                                             : cJSON_CreateNull()) < 0 ||
        !cJSON_AddStringToObject(payload, "type", type) ||
        !cJSON_AddStringToObject(payload, "language", language) ||
        !cJSON_AddStringToObject(payload, "message", message) ||
        !cJSON_AddBoolToObject(payload, "new", created) ||
        store__put_item(tpl, "message", cJSON_CreateString(message)) < 0) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    rc = template_write(s, program_id, type, language, tpl);
    snprintf(ref, sizeof(ref), "$template/%s/%s", type, language);
    if (rc == PLAT_OK)
        rc = store__outbox_append(s, ref, program_id, "template", payload,
                                  base);
    if (rc == PLAT_OK && created_out)
        *created_out = created;

done:
    cJSON_Delete(tpl);
    cJSON_Delete(payload);
    cJSON_Delete(base);
    return store__txn_end(s, token, rc);
}

/* ---- labels ------------------------------------------------------------- */

/* The attribute `attr` of `program` (programRegistrationAttributes), or
 * NULL. */
static cJSON *find_attr(cJSON *program, const char *attr)
{
    cJSON *list = cJSON_GetObjectItemCaseSensitive(
        program, "programRegistrationAttributes");
    cJSON *a;

    cJSON_ArrayForEach(a, list) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(a, "name");

        if (cJSON_IsString(name) && strcmp(name->valuestring, attr) == 0)
            return a;
    }
    return NULL;
}

int store__labels_reapply(struct store *s, int program_id, cJSON *program,
                          int *applied_out)
{
    sqlite3_stmt *st = NULL;
    cJSON *payload = NULL, *a, *label;
    const char *attr, *lang, *text;
    int rc;

    *applied_out = 0;
    rc = store__prepare(s,
                        "SELECT payload FROM outbox WHERE kind = 'label' AND"
                        " program_id = ?1 AND state IN ('pending', 'inflight')"
                        " ORDER BY seq",
                        &st);
    if (rc < 0)
        return rc;
    sqlite3_bind_int(st, 1, program_id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = store__json_parse(s, store__col_text(st, 0), "a label edit",
                               &payload);
        if (rc < 0)
            goto done;
        attr = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(payload, "attribute"));
        lang = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(payload, "language"));
        text = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(payload, "text"));
        a = attr ? find_attr(program, attr) : NULL;
        if (a && lang && text) {
            label = cJSON_GetObjectItemCaseSensitive(a, "label");
            if (!cJSON_IsObject(label)) {
                rc = store__put_item(a, "label", cJSON_CreateObject());
                label = cJSON_GetObjectItemCaseSensitive(a, "label");
            }
            if (rc == PLAT_OK)
                rc = store__put_item(label, lang, cJSON_CreateString(text));
            if (rc < 0)
                goto done;
            (*applied_out)++;
        }
        cJSON_Delete(payload);
        payload = NULL;
    }
    rc = rc == SQLITE_DONE ? PLAT_OK : store__db_err(s, rc, "read the outbox");

done:
    cJSON_Delete(payload);
    sqlite3_finalize(st);
    return rc;
}

/* Load the program, find `attr`: *program_out and *attr_out (inside it). */
static int load_attr(struct store *s, int program_id, const char *attr,
                     cJSON **program_out, cJSON **attr_out, char **etag_out)
{
    int rc = store_program_get(s, program_id, program_out, etag_out);

    if (rc == ERR_NOTFOUND)
        return plat_err_set(ERR_NOTFOUND, "program %d is not stored (run "
                            "`agent sync --now` first)", program_id);
    if (rc < 0)
        return rc;
    *attr_out = find_attr(*program_out, attr);
    if (!*attr_out)
        return plat_err_set(ERR_NOTFOUND, "program %d has no attribute "
                            "'%.100s'", program_id,
                            utf8_ok(attr) ? attr : "?");
    return PLAT_OK;
}

int store_label_apply(struct store *s, int program_id, const char *attr,
                      const cJSON *label)
{
    cJSON *program = NULL, *a = NULL;
    char *etag = NULL;
    int rc, token = 0;

    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = load_attr(s, program_id, attr, &program, &a, &etag);
    if (rc == PLAT_OK)
        rc = store__put_item(a, "label", cJSON_Duplicate(label, 1));
    if (rc == PLAT_OK)
        rc = store_program_put(s, program, etag);
    cJSON_Delete(program);
    plat_free(etag);
    return store__txn_end(s, token, rc);
}

int store_label_set(struct store *s, int program_id, const char *attr,
                    const char *language, const char *text)
{
    cJSON *program = NULL, *a = NULL, *label, *payload = NULL, *base = NULL;
    const cJSON *old;
    char *etag = NULL;
    char ref[160];
    int rc, token = 0;

    if (!attr || !*attr || strlen(attr) > 100 || !utf8_ok(attr))
        return plat_err_set(ERR_INVALID, "attribute name must be 1 to 100 "
                            "bytes of UTF-8");
    rc = check_lang(language);
    if (rc < 0)
        return rc;
    if (!text || !*text || strlen(text) > 1000 || !utf8_ok(text))
        return plat_err_set(ERR_INVALID, "the label must be 1 to 1000 bytes "
                            "of UTF-8");
    rc = store__txn_begin(s, &token);
    if (rc < 0)
        return rc;
    rc = load_attr(s, program_id, attr, &program, &a, &etag);
    if (rc < 0)
        goto done;
    label = cJSON_GetObjectItemCaseSensitive(a, "label");
    if (!cJSON_IsObject(label)) {
        rc = store__put_item(a, "label", cJSON_CreateObject());
        label = cJSON_GetObjectItemCaseSensitive(a, "label");
        if (rc < 0)
            goto done;
    }
    old = cJSON_GetObjectItemCaseSensitive(label, language);
    base = cJSON_CreateObject();
    payload = cJSON_CreateObject();
    if (!base || !payload ||
        store__put_item(base, "text", cJSON_IsString(old)
                                          ? cJSON_CreateString(old->valuestring)
                                          : cJSON_CreateNull()) < 0 ||
        store__put_item(label, language, cJSON_CreateString(text)) < 0 ||
        !cJSON_AddStringToObject(payload, "attribute", attr) ||
        !cJSON_AddStringToObject(payload, "language", language) ||
        !cJSON_AddStringToObject(payload, "text", text) ||
        store__put_item(payload, "label", cJSON_Duplicate(label, 1)) < 0) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    /* The entry first: storing the program applies the pending label
     * edits, this one last (store__labels_reapply). */
    snprintf(ref, sizeof(ref), "$label/%s", attr);
    rc = store__outbox_append(s, ref, program_id, "label", payload, base);
    if (rc == PLAT_OK)
        rc = store_program_put(s, program, etag);

done:
    cJSON_Delete(program);
    cJSON_Delete(payload);
    cJSON_Delete(base);
    plat_free(etag);
    return store__txn_end(s, token, rc);
}
