/*
 * cmd_registrations.c - the registration writes: `agent registrations add`,
 * `edit` and `status`.
 *
 * Every input is checked (form, then the stored program definition
 * through c121_validate_fields; status changes against the 121 status
 * table, c121_status_*) before anything is written; the store then makes
 * each write and its outbox entry one transaction. Messages name fields and
 * referenceIds, never the values a person typed.
 */
#include "cli.h"
#include "cmd_util.h"
#include "output.h"
#include "reg_ask.h"
#include "term.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_log.h"
#include "plat_utf8.h"
#include "c121_model.h"
#include "store.h"
#include "store_program.h"
#include "store_registrations.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Fields from KEY=VALUE arguments: a JSON object of strings; an empty
 * value is JSON null (no value / clear the field). */
static int fields_from_args(int n, char **args, int first_argno,
                            cJSON **out)
{
    cJSON *obj = cJSON_CreateObject();
    char key[256];
    int rc = PLAT_OK;

    *out = NULL;
    if (!obj)
        return plat_err_set(ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        int argno = first_argno + i;
        const char *value;
        size_t klen;
        size_t bad;
        cJSON *v;

        rc = agent_cli_split_kv(args[i], argno, &klen, &value);
        if (rc < 0)
            goto done;
        if (klen >= sizeof(key)) {
            rc = plat_err_set(ERR_INVALID, "argument %d: field name longer "
                              "than %zu bytes", argno, sizeof(key) - 1);
            goto done;
        }
        memcpy(key, args[i], klen);
        key[klen] = '\0';
        if (!plat_utf8_valid(key, klen, &bad)) {
            rc = plat_err_set(ERR_INVALID, "argument %d: field name is not "
                              "valid UTF-8 (byte %zu)", argno, bad);
            goto done;
        }
        if (!plat_utf8_valid(value, strlen(value), &bad)) {
            rc = plat_err_set(ERR_INVALID, "field '%s': value is not valid "
                              "UTF-8 (byte %zu)", key, bad);
            goto done;
        }
        if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
            rc = plat_err_set(ERR_USAGE, "field '%s' is given twice", key);
            goto done;
        }
        v = *value ? cJSON_CreateString(value) : cJSON_CreateNull();
        if (!v || !cJSON_AddItemToObject(obj, key, v)) {
            cJSON_Delete(v);
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    *out = obj;
    obj = NULL;
done:
    cJSON_Delete(obj);
    return rc;
}

/* The registrations in a --file: a JSON array of objects, or one object
 * (then *is_array = 0). Returns the array (new) in *out. */
static int items_from_file(const char *path, cJSON **out, int *is_array)
{
    cJSON *doc = NULL, *arr = NULL;
    int rc, i = 0;
    const cJSON *it;

    *out = NULL;
    rc = agent_read_json_file(path, &doc);
    if (rc < 0)
        return rc;
    if (cJSON_IsObject(doc)) {
        arr = cJSON_CreateArray();
        if (!arr) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        cJSON_AddItemToArray(arr, doc);
        doc = NULL;
        *is_array = 0;
    } else if (cJSON_IsArray(doc)) {
        cJSON_ArrayForEach(it, doc) {
            i++;
            if (!cJSON_IsObject(it)) {
                rc = plat_err_set(ERR_INVALID, "%s: item %d is not a JSON "
                                  "object", path, i);
                goto done;
            }
        }
        if (i == 0) {
            rc = plat_err_set(ERR_INVALID, "%s: the array holds no "
                              "registrations", path);
            goto done;
        }
        arr = doc;
        doc = NULL;
        *is_array = 1;
    } else {
        rc = plat_err_set(ERR_INVALID, "%s: expected a JSON object or an "
                          "array of objects", path);
        goto done;
    }
    *out = arr;
done:
    cJSON_Delete(doc);
    return rc;
}

/* "FILE: item N" or "FILE" or nothing, to put before a message. */
static int item_error(int rc, const char *file, int is_array, int idx)
{
    if (file && is_array)
        return agent_err_prefix(rc, "%s: item %d", file, idx + 1);
    if (file)
        return agent_err_prefix(rc, "%s", file);
    return rc;
}

/* The stored definition of `program` (new object), or NULL in *out when
 * none is stored: entries are then checked for form only. */
static int load_program(struct agent_ctx *ctx, int program, cJSON **out)
{
    int rc = store_program_get(ctx->store, program, out, NULL);

    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        *out = NULL;
        return PLAT_OK;
    }
    return rc;
}

static void warn_no_program(struct agent_ctx *ctx, int program)
{
    if (!agent_ctx_quiet(ctx))
        fprintf(stderr, "warning: no definition of program %d is stored; "
                "entry checked for form only\n", program);
}

/* Print one new referenceId (text, unless `defer`) or collect it (JSON,
 * or text with `defer`: printed by print_refs after the commit, so a
 * referenceId is never shown for an entry a failed commit dropped). */
static int emit_ref(struct agent_ctx *ctx, cJSON *refs, const char *ref,
                    int defer)
{
    cJSON *o;

    log_debug("registration %s created", ref);
    if (!ctx->g.json && !defer) {
        printf("%s\n", ref);
        return PLAT_OK;
    }
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "referenceId", ref)) {
        cJSON_Delete(o);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_AddItemToArray(refs, o);
    return PLAT_OK;
}

/* Text output of the referenceIds emit_ref deferred. */
static void print_refs(struct agent_ctx *ctx, const cJSON *refs)
{
    const cJSON *o;

    if (ctx->g.json)
        return;
    cJSON_ArrayForEach(o, refs) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "referenceId");

        if (cJSON_IsString(r))
            printf("%s\n", r->valuestring);
    }
}

/* Create every item in one transaction: all or nothing. */
static int create_all(struct agent_ctx *ctx, int program, cJSON *items,
                      const char *file, int is_array, cJSON *refs)
{
    char ref[STORE_REF_MAX + 1];
    const cJSON *it;
    int rc, idx = 0;

    rc = store_begin(ctx->store);
    if (rc < 0)
        return rc;
    cJSON_ArrayForEach(it, items) {
        rc = store_reg_create(ctx->store, program, it, ref);
        if (rc < 0) {
            item_error(rc, file, is_array, idx);
            store_rollback(ctx->store);
            return rc;
        }
        rc = emit_ref(ctx, refs, ref, 1);
        if (rc < 0) {
            store_rollback(ctx->store);
            return rc;
        }
        idx++;
    }
    rc = store_commit(ctx->store);
    if (rc < 0)
        store_rollback(ctx->store);
    else
        print_refs(ctx, refs);
    return rc;
}

/* The language of labels in guided entry: --lang, else ui.lang. */
static const char *ui_lang(struct agent_ctx *ctx, const char *opt)
{
    if (opt && *opt)
        return opt;
    return ctx->cfg_loaded && ctx->cfg.ui_lang ? ctx->cfg.ui_lang : "en";
}

/* Guided entry needs the program's definition: which attributes to ask. */
static int ask_needs_program(const cJSON *def, int program)
{
    if (def)
        return PLAT_OK;
    return plat_err_set(ERR_NOTFOUND, "no definition of program %d is "
                        "stored, so there is nothing to ask: run `agent "
                        "sync --now` (or `agent program import FILE`), or "
                        "give KEY=VALUE arguments", program);
}

/* A person at a terminal: no fields given means "ask me". */
static int on_terminal(void)
{
    return agent_term_is_tty(STDIN_FILENO) &&
           agent_term_is_tty(STDOUT_FILENO);
}

int agent_cmd_reg_add(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *file = NULL, *lang = NULL;
    int opt_program = 0, repeat = 0, program = 0, npos = 0, is_array = 0;
    int no_program = 0, rc, idx = 0, interactive = 0;
    const struct agent_opt opts[] = {
        { "--program", AGENT_OPT_INT, &opt_program, 1, INT_MAX },
        { "--file", AGENT_OPT_STRING, &file, 0, 0 },
        { "--repeat", AGENT_OPT_INT, &repeat, 1, INT_MAX },
        { "--interactive", AGENT_OPT_FLAG, &interactive, 0, 0 },
        { "--lang", AGENT_OPT_STRING, &lang, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    char ref[STORE_REF_MAX + 1];
    cJSON *items = NULL, *fields = NULL, *refs = NULL, *def = NULL;
    const cJSON *it;
    char **pos = NULL;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, -1, "", &pos, &npos);
    if (rc < 0)
        return rc;
    if (file && npos > 0) {
        rc = plat_err_set(ERR_USAGE, "give fields as KEY=VALUE arguments or "
                          "--file, not both");
        goto done;
    }
    if (!file && npos == 0 && !interactive && !ctx->g.json &&
        on_terminal())
        interactive = 1;
    if (interactive && (file || npos > 0 || repeat)) {
        rc = plat_err_set(ERR_USAGE, "--interactive asks for the fields: "
                          "give no KEY=VALUE, --file or --repeat with it");
        goto done;
    }
    if (!file && npos == 0 && !interactive) {
        rc = plat_err_set(ERR_USAGE, "no fields given (KEY=VALUE... or "
                          "--file F.json)");
        goto done;
    }
    if (repeat && file) {
        rc = plat_err_set(ERR_USAGE, "--repeat works with KEY=VALUE "
                          "arguments only");
        goto done;
    }
    if (interactive) {
        /* The store is read (the program) without the write lock: a
         * person may take minutes, and a sync must not wait for them. */
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE);
        if (rc == PLAT_OK)
            rc = agent_ctx_program(ctx, opt_program, &program);
        if (rc == PLAT_OK)
            rc = load_program(ctx, program, &def);
        if (rc == PLAT_OK)
            rc = ask_needs_program(def, program);
        if (rc == PLAT_OK)
            rc = agent_reg_ask(stdin, stdout, def, ui_lang(ctx, lang), NULL,
                               &fields);
        cJSON_Delete(def);
        def = NULL;
        if (rc == PLAT_OK) {
            items = cJSON_CreateArray();
            if (!items) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
            } else {
                cJSON_AddItemToArray(items, fields);
                fields = NULL;
            }
        }
    } else if (file) {
        rc = items_from_file(file, &items, &is_array);
    } else {
        rc = fields_from_args(npos, pos, 1, &fields);
        if (rc == PLAT_OK) {
            items = cJSON_CreateArray();
            if (!items) {
                rc = plat_err_set(ERR_NOMEM, "out of memory");
            } else {
                cJSON_AddItemToArray(items, fields);
                fields = NULL;
            }
        }
    }
    if (rc < 0)
        goto done;
    if (repeat > 1 && cJSON_GetObjectItemCaseSensitive(
                          cJSON_GetArrayItem(items, 0), "referenceId")) {
        rc = plat_err_set(ERR_USAGE, "--repeat cannot be used with a "
                          "referenceId (it must be unique)");
        goto done;
    }
    rc = agent_ctx_open(ctx, AGENT_NEED_WRITE);
    if (rc == PLAT_OK)
        rc = agent_ctx_program(ctx, opt_program, &program);
    if (rc == PLAT_OK)
        rc = load_program(ctx, program, &def);
    if (rc < 0)
        goto done;
    no_program = def == NULL;
    cJSON_ArrayForEach(it, items) {
        rc = c121_validate_fields(def, it, C121_VALIDATE_CREATE);
        if (rc < 0) {
            item_error(rc, file, is_array, idx);
            goto done;
        }
        idx++;
    }
    if (no_program)
        warn_no_program(ctx, program);
    refs = cJSON_CreateArray();
    if (!refs) {
        rc = plat_err_set(ERR_NOMEM, "out of memory");
        goto done;
    }
    if (repeat) {
        /* Load and crash tests: each add its own transaction, like a
         * person entering one registration after another. */
        for (int i = 0; i < repeat; i++) {
            rc = store_reg_create(ctx->store, program,
                                  cJSON_GetArrayItem(items, 0), ref);
            if (rc == PLAT_OK)
                rc = emit_ref(ctx, refs, ref, 0);
            if (rc < 0)
                goto done;
        }
    } else {
        rc = create_all(ctx, program, items, file, is_array, refs);
        if (rc < 0)
            goto done;
    }
    if (ctx->g.json) {
        if (is_array || repeat)
            rc = agent_print_json(refs);
        else
            rc = agent_print_json(cJSON_GetArrayItem(refs, 0));
    }
done:
    cJSON_Delete(def);
    cJSON_Delete(refs);
    cJSON_Delete(items);
    cJSON_Delete(fields);
    plat_free(pos);
    return rc;
}

/* The program a registration belongs to: its programId, else the
 * configured one. */
static int program_of(struct agent_ctx *ctx, const cJSON *reg, int *out)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(reg, "programId");

    if (cJSON_IsNumber(p) && p->valueint > 0) {
        *out = p->valueint;
        return PLAT_OK;
    }
    return agent_ctx_program(ctx, 0, out);
}

int agent_cmd_reg_edit(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *reason = NULL, *lang = NULL;
    int interactive = 0;
    const struct agent_opt opts[] = {
        { "--reason", AGENT_OPT_STRING, &reason, 0, 0 },
        { "--interactive", AGENT_OPT_FLAG, &interactive, 0, 0 },
        { "--lang", AGENT_OPT_STRING, &lang, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    cJSON *changes = NULL, *reg = NULL, *out = NULL, *def = NULL;
    int npos = 0, program = 0, no_program = 0, changed = 0, rc;
    char **pos = NULL;
    const char *ref;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, -1,
                        "REF and at least one KEY=VALUE", &pos, &npos);
    if (rc < 0)
        return rc;
    ref = pos[0];
    if (npos == 1 && !interactive && !ctx->g.json && on_terminal())
        interactive = 1;
    if (interactive && npos > 1) {
        rc = plat_err_set(ERR_USAGE, "--interactive asks for the fields: "
                          "give no KEY=VALUE with it");
        goto done;
    }
    if (npos == 1 && !interactive) {
        rc = plat_err_set(ERR_USAGE, "'%s' needs REF and at least one "
                          "KEY=VALUE", ctx->cmd_name);
        goto done;
    }
    if ((rc = agent_check_ref(ref)) < 0 ||
        (reason && (rc = agent_check_reason(reason)) < 0))
        goto done;
    if (!interactive && (rc = fields_from_args(npos - 1, pos + 1, 2,
                                               &changes)) < 0)
        goto done;
    /* Guided: read without the lock while the person answers. */
    rc = agent_ctx_open(ctx, interactive ? AGENT_NEED_STORE
                                         : AGENT_NEED_WRITE);
    if (rc == PLAT_OK)
        rc = agent_get_registration(ctx->store, ref, &reg);
    if (rc == PLAT_OK)
        rc = program_of(ctx, reg, &program);
    if (rc < 0)
        goto done;
    rc = load_program(ctx, program, &def);
    if (rc == PLAT_OK && interactive) {
        rc = ask_needs_program(def, program);
        if (rc == PLAT_OK)
            rc = agent_reg_ask(stdin, stdout, def, ui_lang(ctx, lang), reg,
                               &changes);
        if (rc == PLAT_OK && !changes->child) {
            printf("%s: no change\n", ref);
            goto done;
        }
        if (rc == PLAT_OK)
            rc = agent_ctx_open(ctx, AGENT_NEED_WRITE);
    }
    if (rc < 0)
        goto done;
    no_program = def == NULL;
    rc = c121_validate_fields(def, changes, C121_VALIDATE_EDIT);
    if (rc < 0) {
        agent_err_prefix(rc, "%s", ref);
        goto done;
    }
    if (no_program)
        warn_no_program(ctx, program);
    rc = store_reg_edit_fields(&changed, ctx->store, ref, changes, reason);
    if (rc < 0)
        goto done;
    log_debug("registration %s edited (%d fields changed)", ref, changed);
    if (ctx->g.json) {
        out = cJSON_CreateObject();
        if (!out || !cJSON_AddStringToObject(out, "referenceId", ref) ||
            !cJSON_AddNumberToObject(out, "changed", changed)) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(out);
    } else if (changed) {
        printf("%s: %d field%s changed\n", ref, changed,
               changed == 1 ? "" : "s");
    } else {
        /* The values equal the current ones: nothing to send. */
        printf("%s: no change\n", ref);
    }
done:
    cJSON_Delete(def);
    cJSON_Delete(out);
    cJSON_Delete(reg);
    cJSON_Delete(changes);
    plat_free(pos);
    return rc;
}

/* The 121 status rules (c121_model.h): the store does not check them, so
 * they are checked here before anything is written. The message names
 * both statuses and what is allowed. */
static int check_transition(const char *ref, const char *from, const char *to,
                            const char *reason)
{
    const char *targets = c121_status_targets(from);

    if (strcmp(from, to) == 0)
        return plat_err_set(ERR_INVALID, "%s: status is already '%s'", ref,
                            to);
    if (!c121_status_transition_allowed(from, to))
        return plat_err_set(ERR_INVALID, "%s: cannot change status from "
                            "'%s' to '%s' (from '%s': %s)", ref, from, to,
                            from, *targets ? targets : "none");
    if (!c121_status_settable(to))
        return plat_err_set(ERR_INVALID, "%s: cannot change status from "
                            "'%s' to '%s': only 121 sets '%s'", ref, from,
                            to, to);
    if (c121_status_reason_required(to) && (!reason || !*reason))
        return plat_err_set(ERR_INVALID, "%s: changing status from '%s' to "
                            "'%s' needs a reason (--reason TEXT)", ref, from,
                            to);
    return PLAT_OK;
}

int agent_cmd_reg_status(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *reason = NULL;
    const struct agent_opt opts[] = {
        { "--reason", AGENT_OPT_STRING, &reason, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    cJSON *reg = NULL, *out = NULL;
    const char *ref, *to, *from;
    char from_buf[32];
    char **pos = NULL;
    int npos = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 2, 2, "REF NEWSTATUS", &pos,
                        &npos);
    if (rc < 0)
        return rc;
    ref = pos[0];
    to = pos[1];
    if ((rc = agent_check_ref(ref)) < 0 ||
        (reason && (rc = agent_check_reason(reason)) < 0))
        goto done;
    if (!c121_status_known(to)) {
        rc = plat_err_set(ERR_INVALID, "unknown status '%.20s' (known: new, "
                          "validated, included, paused, declined, completed, "
                          "deleted)", agent_printable(to) ? to : "?");
        goto done;
    }
    rc = agent_ctx_open(ctx, AGENT_NEED_WRITE);
    if (rc == PLAT_OK)
        rc = agent_get_registration(ctx->store, ref, &reg);
    if (rc < 0)
        goto done;
    from = agent_json_str(reg, "status");
    snprintf(from_buf, sizeof(from_buf), "%s", from ? from : "new");
    rc = check_transition(ref, from_buf, to, reason);
    if (rc == PLAT_OK)
        rc = store_reg_set_status(ctx->store, ref, to, reason);
    if (rc < 0)
        goto done;
    log_debug("registration %s: status %s -> %s", ref, from_buf, to);
    if (ctx->g.json) {
        out = cJSON_CreateObject();
        if (!out || !cJSON_AddStringToObject(out, "referenceId", ref) ||
            !cJSON_AddStringToObject(out, "from", from_buf) ||
            !cJSON_AddStringToObject(out, "status", to)) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(out);
    } else {
        printf("%s: %s -> %s\n", ref, from_buf, to);
    }
done:
    cJSON_Delete(out);
    cJSON_Delete(reg);
    plat_free(pos);
    return rc;
}
