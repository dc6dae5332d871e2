/*
 * test_outbox.c - every local write appends exactly one outbox entry, in
 * the same transaction, with the base values the person saw; failed
 * writes append nothing; entries move between states.
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_conflicts.h"
#include "store_outbox.h"
#include "store_registrations.h"
#include "store_sync.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <unistd.h>

static char *tmpdir_make(void)
{
    return testutil_tmpdir("agent-test-outbox");
}

static int create(struct store *s, const char *json, char *ref)
{
    cJSON *f = cJSON_Parse(json);
    int rc = store_reg_create(s, 3, f, ref);

    cJSON_Delete(f);
    return rc;
}

static int edit(struct store *s, const char *ref, const char *json,
                const char *reason)
{
    cJSON *f = cJSON_Parse(json);
    int rc = store_reg_edit(s, ref, f, reason);

    cJSON_Delete(f);
    return rc;
}

static int64_t sql_int(struct store *s, const char *sql)
{
    return testutil_sql_int(s, sql);
}

/* Copies of the entries handed to the callback. */
struct entry {
    int64_t seq;
    char kind[16];
    char state[16];
    char ref[64];
    int attempts;
    cJSON *payload;
    cJSON *base;
    char message[64];
    int op_id_len;
    char target[16];
    char origin[16];
};

struct entries {
    int n;
    struct entry e[16];
};

static int collect(const struct store_outbox_entry *e, void *payload)
{
    struct entries *list = payload;
    struct entry *c;

    if (list->n >= 16)
        return 1;
    c = &list->e[list->n++];
    c->seq = e->seq;
    snprintf(c->kind, sizeof(c->kind), "%s", e->kind);
    snprintf(c->state, sizeof(c->state), "%s", e->state);
    snprintf(c->ref, sizeof(c->ref), "%s", e->reference_id);
    snprintf(c->message, sizeof(c->message), "%s",
             e->server_message ? e->server_message : "");
    c->attempts = e->attempts;
    c->payload = cJSON_Parse(e->payload);
    c->base = e->base ? cJSON_Parse(e->base) : NULL;
    c->op_id_len = e->op_id ? (int)strlen(e->op_id) : 0;
    snprintf(c->target, sizeof(c->target), "%s", e->target);
    snprintf(c->origin, sizeof(c->origin), "%s", e->origin);
    return 0;
}

static void entries_free(struct entries *list)
{
    int i;

    for (i = 0; i < list->n; i++) {
        cJSON_Delete(list->e[i].payload);
        cJSON_Delete(list->e[i].base);
    }
    list->n = 0;
}

static const char *str_at(const cJSON *o, const char *k1, const char *k2)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k1);

    if (k2)
        v = cJSON_GetObjectItemCaseSensitive(v, k2);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* create + edit + status: three entries, in order, with their payloads
 * and base values. */
static void test_entries_in_order(void)
{
    char *dir = tmpdir_make();
    struct store *s = testutil_store_new(dir, "store.db");
    struct entries list = {0};
    const cJSON *base_district;

    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\",\"fullName\":\"Ann\","
                        "\"phoneNumber\":\"+31600000001\","
                        "\"programFspConfigurationName\":"
                        "\"Intersolve-voucher-paper\"}", NULL), PLAT_OK);
    CHECK_INT(edit(s, "ref-00001", "{\"phoneNumber\":\"+31600000009\","
                                   "\"district\":\"north\"}",
                   "Corrected by phone"), PLAT_OK);
    CHECK_INT(store_reg_set_status(s, "ref-00001", "declined", "moved away"),
              PLAT_OK);

    CHECK_INT(store_outbox_list(s, NULL, collect, &list), PLAT_OK);
    REQUIRE(list.n == 3);
    CHECK(list.e[0].seq < list.e[1].seq && list.e[1].seq < list.e[2].seq);
    CHECK_STR(list.e[0].kind, "create");
    CHECK_STR(list.e[1].kind, "edit");
    CHECK_STR(list.e[2].kind, "status");
    CHECK_STR(list.e[0].state, "pending");
    CHECK_STR(list.e[0].ref, "ref-00001");
    CHECK_INT(list.e[0].op_id_len, 36);

    /* create: the object for 121's POST, referenceId included; no base. */
    CHECK_STR(str_at(list.e[0].payload, "referenceId", NULL), "ref-00001");
    CHECK_STR(str_at(list.e[0].payload, "phoneNumber", NULL), "+31600000001");
    CHECK_STR(str_at(list.e[0].payload, "programFspConfigurationName", NULL),
              "Intersolve-voucher-paper");
    CHECK(cJSON_GetObjectItemCaseSensitive(list.e[0].payload, "status") ==
          NULL);
    CHECK(list.e[0].base == NULL);

    /* edit: PATCH body, base = what the person saw (null if absent). */
    CHECK_STR(str_at(list.e[1].payload, "data", "phoneNumber"),
              "+31600000009");
    CHECK_STR(str_at(list.e[1].payload, "data", "district"), "north");
    CHECK_STR(str_at(list.e[1].payload, "reason", NULL),
              "Corrected by phone");
    CHECK_STR(str_at(list.e[1].base, "phoneNumber", NULL), "+31600000001");
    base_district = cJSON_GetObjectItemCaseSensitive(list.e[1].base,
                                                     "district");
    CHECK(cJSON_IsNull(base_district));
    CHECK_INT(cJSON_GetArraySize(list.e[1].base), 2);

    /* status: target and reason, base = the status before. */
    CHECK_STR(str_at(list.e[2].payload, "status", NULL), "declined");
    CHECK_STR(str_at(list.e[2].payload, "reason", NULL), "moved away");
    CHECK_STR(str_at(list.e[2].base, "status", NULL), "new");

    entries_free(&list);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

/* A refused write changes nothing: no outbox entry, no row change. */
static void test_failed_write_writes_nothing(void)
{
    char *dir = tmpdir_make();
    struct store *s = testutil_store_new(dir, "store.db");
    struct store_counts before, after;
    int64_t n = 0;

    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\"}", NULL), PLAT_OK);
    CHECK_INT(store_reg_set_status(s, "ref-00001", "included", NULL),
              PLAT_OK);
    CHECK_INT(store_counts(s, &before), PLAT_OK);

    CHECK_INT(store_reg_set_status(s, "ref-00001", "included", NULL),
              ERR_INVALID);
    CHECK_INT(store_reg_set_status(s, "ref-00001", "", NULL), ERR_INVALID);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\"}", NULL), ERR_EXISTS);
    CHECK_INT(edit(s, "ref-00001", "{\"status\":\"new\"}", NULL),
              ERR_INVALID);
    CHECK_INT(edit(s, "ref-00404", "{\"fullName\":\"X\"}", NULL),
              ERR_NOTFOUND);

    CHECK_INT(store_counts(s, &after), PLAT_OK);
    CHECK_INT(after.registrations, before.registrations);
    CHECK_INT(after.pending, before.pending);
    CHECK_INT(store_outbox_count(s, NULL, &n), PLAT_OK);
    CHECK_INT(n, 2);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations WHERE status ="
                         " 'included'"), 1);

    /* The outbox insert fails after the registration row was written:
     * the row must go too ("both or neither"). */
    CHECK_INT(sqlite3_exec(store_db(s),
                           "CREATE TEMP TRIGGER outbox_fail BEFORE INSERT ON"
                           " outbox BEGIN SELECT RAISE(ABORT, 'injected');"
                           " END",
                           NULL, NULL, NULL),
              SQLITE_OK);
    CHECK(create(s, "{\"referenceId\":\"ref-00002\"}", NULL) < 0);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations WHERE"
                         " reference_id = 'ref-00002'"), 0);
    CHECK(edit(s, "ref-00001", "{\"fullName\":\"Changed\"}", NULL) < 0);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations WHERE name ="
                         " 'Changed'"), 0);

    /* Inside a caller's transaction a failed write undoes only itself. */
    CHECK_INT(store_begin(s), PLAT_OK);
    CHECK_INT(store_state_set(s, "k", "v"), PLAT_OK);
    CHECK(create(s, "{\"referenceId\":\"ref-00003\"}", NULL) < 0);
    CHECK_INT(store_commit(s), PLAT_OK);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations WHERE"
                         " reference_id = 'ref-00003'"), 0);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM agent_state"), 1);
    CHECK_INT(sqlite3_exec(store_db(s), "DROP TRIGGER outbox_fail", NULL,
                           NULL, NULL),
              SQLITE_OK);

    CHECK_INT(store_counts(s, &after), PLAT_OK);
    CHECK_INT(after.registrations, before.registrations);
    CHECK_INT(after.pending, before.pending);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

/* One create entry per registration made on the device, and the other
 * entries all point at existing registrations. */
static void test_outbox_matches_registrations(void)
{
    char *dir = tmpdir_make();
    struct store *s = testutil_store_new(dir, "store.db");
    char ref[STORE_REF_MAX + 1], json[96];
    int i;

    REQUIRE(s);
    for (i = 0; i < 50; i++) {
        snprintf(json, sizeof(json), "{\"fullName\":\"P%d\"}", i);
        CHECK_INT(create(s, json, ref), PLAT_OK);
        if (i % 3 == 0)
            CHECK_INT(edit(s, ref, "{\"district\":\"south\"}", NULL),
                      PLAT_OK);
        if (i % 5 == 0)
            CHECK_INT(store_reg_set_status(s, ref, "validated", NULL),
                      PLAT_OK);
    }
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox WHERE kind ="
                         " 'create'"), 50);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations r WHERE"
                         " (SELECT count(*) FROM outbox o WHERE"
                         " o.reference_id = r.reference_id AND o.kind ="
                         " 'create') <> 1"), 0);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox o WHERE NOT EXISTS"
                         " (SELECT 1 FROM registrations r WHERE"
                         " r.reference_id = o.reference_id)"), 0);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), 50 + 17 + 10);
    CHECK_INT(sql_int(s, "SELECT count(DISTINCT op_id) FROM outbox"),
              50 + 17 + 10);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static void test_set_state(void)
{
    char *dir = tmpdir_make();
    struct store *s = testutil_store_new(dir, "store.db");
    struct entries list = {0};
    int64_t n = -1;

    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\"}", NULL), PLAT_OK);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00002\"}", NULL), PLAT_OK);

    CHECK_INT(store_outbox_set_state(s, 1, "inflight", NULL), PLAT_OK);
    CHECK_INT(store_outbox_set_state(s, 1, "pending", NULL), PLAT_OK);
    CHECK_INT(store_outbox_set_state(s, 1, "inflight", NULL), PLAT_OK);
    CHECK_INT(store_outbox_count(s, "inflight", &n), PLAT_OK);
    CHECK_INT(n, 1);
    CHECK_INT(store_outbox_count(s, NULL, &n), PLAT_OK);
    CHECK_INT(n, 2);
    CHECK_INT(store_outbox_list(s, "inflight", collect, &list), PLAT_OK);
    REQUIRE(list.n == 1);
    CHECK_INT(list.e[0].attempts, 2);
    entries_free(&list);

    CHECK_INT(store_outbox_set_state(s, 1, "done", NULL), PLAT_OK);
    CHECK_INT(store_outbox_count(s, NULL, &n), PLAT_OK);
    CHECK_INT(n, 1);
    CHECK_INT(store_outbox_list(s, NULL, collect, &list), PLAT_OK);
    CHECK_INT(list.n, 1); /* done entries are kept, but not listed */
    entries_free(&list);
    CHECK_INT(store_outbox_list(s, "done", collect, &list), PLAT_OK);
    CHECK_INT(list.n, 1);
    entries_free(&list);

    CHECK_INT(store_outbox_set_state(s, 1, "finished", NULL), ERR_INVALID);
    CHECK_INT(store_outbox_set_state(s, 99, "done", NULL), ERR_NOTFOUND);
    CHECK_INT(store_outbox_count(s, "nonsense", &n), ERR_INVALID);
    CHECK_INT(store_outbox_list(s, "nonsense", collect, &list), ERR_INVALID);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

/* A rejected entry keeps the server's message, is counted, and does not
 * block the entries after it. */
static void test_rejected_counted(void)
{
    char *dir = tmpdir_make();
    struct store *s = testutil_store_new(dir, "store.db");
    struct entries list = {0};
    struct store_counts c;
    int64_t n = -1;
    cJSON *r = NULL;

    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\"}", NULL), PLAT_OK);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00002\"}", NULL), PLAT_OK);
    CHECK_INT(store_outbox_set_state(s, 1, "rejected",
                                     "referenceId already exists in "
                                     "database"),
              PLAT_OK);
    CHECK_INT(store_counts(s, &c), PLAT_OK);
    CHECK_INT(c.rejected, 1);
    CHECK_INT(c.pending, 1);
    CHECK_INT(store_outbox_count(s, "rejected", &n), PLAT_OK);
    CHECK_INT(n, 1);
    CHECK_INT(store_outbox_list(s, "rejected", collect, &list), PLAT_OK);
    REQUIRE(list.n == 1);
    CHECK_STR(list.e[0].message, "referenceId already exists in database");
    entries_free(&list);
    /* Not done: still listed with the default filter, before the next. */
    CHECK_INT(store_outbox_list(s, NULL, collect, &list), PLAT_OK);
    CHECK_INT(list.n, 2);
    entries_free(&list);
    CHECK_INT(store_reg_get(s, "ref-00001", &r), PLAT_OK);
    CHECK(r && cJSON_GetObjectItemCaseSensitive(r, "_rejected") &&
          cJSON_GetObjectItemCaseSensitive(r, "_rejected")->valuedouble == 1);
    CHECK(r && cJSON_GetObjectItemCaseSensitive(r, "_pending")->valuedouble ==
                   0);
    cJSON_Delete(r);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

/* Every allocation of a create failing in turn: each attempt either
 * succeeds or fails with ERR_NOMEM, and rows and entries stay paired. */
static void test_create_alloc_failures(void)
{
    char *dir = tmpdir_make();
    struct store *s = testutil_store_new(dir, "store.db");
    cJSON *f;
    long n;
    int rc, ok = 0, failed = 0;

    REQUIRE(s);
    f = cJSON_Parse("{\"fullName\":\"Ann\",\"phoneNumber\":\"12345\","
                    "\"district\":\"north\"}");
    REQUIRE(f);
    for (n = 0; n < 200 && ok == 0; n++) {
        plat_alloc_fail_after(n);
        rc = store_reg_create(s, 3, f, NULL);
        plat_alloc_fail_after(-1);
        if (rc == PLAT_OK)
            ok++;
        else if (rc == ERR_NOMEM)
            failed++;
        else
            CHECK_INT(rc, ERR_NOMEM);
        CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations"), ok);
        CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), ok);
    }
    CHECK_INT(ok, 1);
    CHECK(failed > 3);
    cJSON_Delete(f);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static int count_cb(const cJSON *reg, void *payload)
{
    (void)reg;
    (*(int *)payload)++;
    return 0;
}

/* Run op `which` with allocation n failing, for n = 0, 1, ... until it
 * succeeds; every failure must be ERR_NOMEM and leave the outbox size as
 * it was (leaks are caught by the sanitizer build). */
static void torture(struct store *s, int which, const char *status)
{
    cJSON *ch = cJSON_Parse("{\"fullName\":\"Bea\",\"district\":null}");
    cJSON *srv = cJSON_Parse("{\"id\":7,\"referenceId\":\"ref-00001\","
                             "\"programId\":3,\"status\":\"new\","
                             "\"fullName\":\"Server Name\"}");
    cJSON *got = NULL;
    struct store_reg_filter f = {3, NULL, "fullName", "Bea", 0, 0};
    int64_t before, after, total;
    long n;
    int rc = -1, found = 0;

    before = sql_int(s, "SELECT count(*) FROM outbox");
    for (n = 0; n < 500; n++) {
        plat_alloc_fail_after(n);
        switch (which) {
        case 0:
            rc = store_reg_edit(s, "ref-00001", ch, "why");
            break;
        case 1:
            rc = store_reg_set_status(s, "ref-00001", status, "r");
            break;
        case 2:
            rc = store_reg_put_server(s, srv);
            break;
        case 3:
            rc = store_reg_get(s, "ref-00001", &got);
            break;
        case 4:
            rc = store_reg_search(s, "ref-0", 0, count_cb, &found);
            break;
        default:
            rc = store_reg_list(s, &f, count_cb, &found, &total);
            break;
        }
        plat_alloc_fail_after(-1);
        cJSON_Delete(got);
        got = NULL;
        after = sql_int(s, "SELECT count(*) FROM outbox");
        if (rc == PLAT_OK)
            break;
        if (rc != ERR_NOMEM)
            fprintf(stderr, "op %d, allocation %ld: %s\n", which, n,
                    plat_err_msg());
        CHECK_INT(rc, ERR_NOMEM);
        CHECK_INT(after, before);
    }
    CHECK_INT(rc, PLAT_OK);
    cJSON_Delete(ch);
    cJSON_Delete(srv);
}

static void test_alloc_failures_everywhere(void)
{
    char *dir = tmpdir_make();
    struct store *s = testutil_store_new(dir, "store.db");
    int which;

    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\",\"fullName\":"
                        "\"Ann\",\"district\":\"north\"}", NULL), PLAT_OK);
    for (which = 0; which < 6; which++)
        torture(s, which, "included");
    /* Also inside a caller's transaction. */
    CHECK_INT(store_begin(s), PLAT_OK);
    torture(s, 1, "paused");
    torture(s, 2, NULL);
    CHECK_INT(store_commit(s), PLAT_OK);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

/* Counts conflicts whose source is "121" (list.n). */
static int conflict_source(const struct store_conflict *c, void *payload)
{
    struct entries *list = payload;

    if (c->source && strcmp(c->source, "121") == 0)
        list->n++;
    return 0;
}

/* Kinds and states as enums, and back to their SQL text. */
static void test_op_enums(void)
{
    enum store_op_kind k = STORE_OP_EDIT;
    enum store_op_state st = STORE_OP_DONE;

    CHECK_STR(store_op_kind_name(STORE_OP_CREATE), "create");
    CHECK_STR(store_op_kind_name(STORE_OP_VOUCHER), "voucher");
    CHECK_STR(store_op_kind_name(STORE_OP_LABEL), "label");
    CHECK(store_op_kind_name((enum store_op_kind)7) == NULL);
    CHECK_STR(store_op_state_name(STORE_OP_PENDING), "pending");
    CHECK_STR(store_op_state_name(STORE_OP_REJECTED), "rejected");
    CHECK(store_op_state_name((enum store_op_state)-1) == NULL);
    CHECK_INT(store_op_kind_parse("status", &k), PLAT_OK);
    CHECK_INT(k, STORE_OP_STATUS);
    CHECK_INT(store_op_kind_parse("message", &k), PLAT_OK);
    CHECK_INT(k, STORE_OP_MESSAGE);
    CHECK_INT(store_op_kind_parse("bogus", &k), ERR_INVALID);
    CHECK_INT(k, STORE_OP_MESSAGE); /* left as it was */
    CHECK_INT(store_op_kind_parse(NULL, &k), ERR_INVALID);
    CHECK_INT(store_op_state_parse("inflight", &st), PLAT_OK);
    CHECK_INT(st, STORE_OP_INFLIGHT);
    CHECK_INT(store_op_state_parse("conflict", &st), PLAT_OK);
    CHECK_INT(st, STORE_OP_CONFLICT);
    CHECK_INT(store_op_state_parse("Pending", &st), ERR_INVALID);
    CHECK(strstr(plat_err_msg(), "pending, inflight") != NULL);
}

/* Entries carry their origin and target; a system is not sent back what
 * came from it. */
static void test_origin_and_target(void)
{
    char *dir = tmpdir_make();
    struct store *s = testutil_store_new(dir, "store.db");
    struct entries list = {0};
    char ref1[STORE_REF_MAX + 1], ref2[STORE_REF_MAX + 1];
    cJSON *f;
    int changed = -1;

    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\"}", ref1), PLAT_OK);
    f = cJSON_Parse("{\"fullName\":\"K\"}");
    REQUIRE(f);
    CHECK_INT(store_reg_create_from(s, 3, f, ref2, "kobo", "121"), PLAT_OK);
    CHECK(ref2[0] != '\0');
    CHECK_INT(store_reg_create_from(s, 3, f, NULL, "121", "121"),
              ERR_INVALID);
    CHECK_INT(store_reg_create_from(s, 3, f, NULL, "Kobo!", "121"),
              ERR_INVALID);
    CHECK_INT(store_reg_create_from(s, 3, f, NULL, "kobo", ""), ERR_INVALID);
    CHECK_INT(store_reg_create_from(s, 3, f, NULL, NULL, "121"),
              ERR_INVALID);
    cJSON_Delete(f);
    f = cJSON_Parse("{\"fullName\":\"E\"}");
    REQUIRE(f);
    CHECK_INT(store_reg_edit_from(&changed, s, ref1, f, NULL, "espocrm",
                                  "121"), PLAT_OK);
    CHECK_INT(changed, 1);
    CHECK_INT(store_reg_edit_from(&changed, s, ref1, f, NULL, "espocrm",
                                  "121"), PLAT_OK);
    CHECK_INT(changed, 0);
    cJSON_Delete(f);
    CHECK_INT(edit(s, ref1, "{\"fullName\":\"D\"}", NULL), PLAT_OK);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), 4);

    CHECK_INT(store_outbox_list(s, NULL, collect, &list), PLAT_OK);
    REQUIRE(list.n == 4);
    CHECK_STR(list.e[0].origin, "device");
    CHECK_STR(list.e[0].target, "121");
    CHECK_STR(list.e[1].origin, "kobo");
    CHECK_STR(list.e[1].target, "121");
    CHECK_STR(list.e[1].kind, "create");
    CHECK_STR(list.e[2].origin, "espocrm");
    CHECK_STR(list.e[2].kind, "edit");
    CHECK_STR(list.e[3].origin, "device");
    entries_free(&list);

    /* For 121: everything but what came from 121 itself. */
    CHECK_INT(sqlite3_exec(store_db(s), "UPDATE outbox SET origin = '121'"
                           " WHERE seq = 4", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(store_outbox_list_for(s, "121", NULL, NULL, 0, 0, collect,
                                    &list), PLAT_OK);
    CHECK_INT(list.n, 3);
    entries_free(&list);
    CHECK_INT(store_outbox_list_for(s, "121", "edit", NULL, 0, 0, collect,
                                    &list), PLAT_OK);
    REQUIRE(list.n == 1);
    CHECK_STR(list.e[0].origin, "espocrm");
    entries_free(&list);
    CHECK_INT(store_outbox_list_for(s, "121", NULL, "pending", 1, 1,
                                    collect, &list), PLAT_OK);
    REQUIRE(list.n == 1);
    CHECK_INT(list.e[0].seq, 2);
    entries_free(&list);
    CHECK_INT(store_outbox_list_for(s, "kobo", NULL, NULL, 0, 0, collect,
                                    &list), PLAT_OK);
    CHECK_INT(list.n, 0);
    CHECK_INT(store_outbox_set_state(s, 1, "done", NULL), PLAT_OK);
    CHECK_INT(store_outbox_list_for(s, "121", NULL, "done", 0, 0, collect,
                                    &list), PLAT_OK);
    CHECK_INT(list.n, 1);
    entries_free(&list);
    CHECK_INT(store_outbox_list_for(s, "", NULL, NULL, 0, 0, collect,
                                    &list), ERR_INVALID);
    CHECK_INT(store_outbox_list_for(s, "121", "bogus", NULL, 0, 0, collect,
                                    &list), ERR_INVALID);
    CHECK_INT(store_outbox_list_for(s, "121", NULL, "bogus", 0, 0, collect,
                                    &list), ERR_INVALID);
    CHECK_INT(store_outbox_list_for(s, "121", NULL, NULL, 0, -1, collect,
                                    &list), ERR_INVALID);

    /* Conflicts name the system of the server value. */
    {
        int64_t id = 0;
        cJSON *c = NULL;
        const cJSON *src;

        CHECK_INT(store_conflict_add(s, "121", 3, ref1, "fullName", "\"a\"",
                                     "\"b\"", "\"c\"", &id), PLAT_OK);
        CHECK_INT(store_conflict_get(s, id, &c), PLAT_OK);
        src = cJSON_GetObjectItemCaseSensitive(c, "source");
        CHECK(cJSON_IsString(src) && strcmp(src->valuestring, "121") == 0);
        cJSON_Delete(c);
        CHECK_INT(store_conflict_list(s, "open", conflict_source, &list),
                  PLAT_OK);
        CHECK_INT(list.n, 1);
    }
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static void test_remote_ids(void)
{
    char *dir = tmpdir_make();
    struct store *s = testutil_store_new(dir, "store.db");
    char *ref = NULL, *version = NULL;

    REQUIRE(s);
    CHECK_INT(store_remote_id_get(s, "kobo", "submission", "1", &ref,
                                  &version), ERR_NOTFOUND);
    CHECK(ref == NULL && version == NULL);
    CHECK_INT(store_remote_id_put(s, "kobo", "submission", "1", "ref-00001",
                                  NULL), PLAT_OK);
    CHECK_INT(store_remote_id_get(s, "kobo", "submission", "1", &ref,
                                  &version), PLAT_OK);
    CHECK_STR(ref, "ref-00001");
    CHECK(version == NULL);
    plat_free(ref);
    ref = NULL;
    /* Replacing keeps one row. */
    CHECK_INT(store_remote_id_put(s, "kobo", "submission", "1", "ref-00002",
                                  "7"), PLAT_OK);
    CHECK_INT(store_remote_id_get(s, "kobo", "submission", "1", &ref, NULL),
              PLAT_OK);
    CHECK_STR(ref, "ref-00002");
    plat_free(ref);
    ref = NULL;
    CHECK_INT(store_remote_id_get(s, "kobo", "submission", "1", NULL,
                                  &version), PLAT_OK);
    CHECK_STR(version, "7");
    plat_free(version);
    version = NULL;
    CHECK_INT(store_remote_id_get(s, "espocrm", "submission", "1", &ref,
                                  NULL), ERR_NOTFOUND);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM remote_ids"), 1);
    CHECK_INT(store_remote_id_put(s, "", "submission", "1", "ref-00001",
                                  NULL), ERR_INVALID);
    CHECK_INT(store_remote_id_put(s, "kobo", "submission", "1", "", NULL),
              ERR_INVALID);
    CHECK_INT(store_remote_id_get(s, "kobo", NULL, "1", &ref, NULL),
              ERR_INVALID);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static int set_flag(cJSON *reg, void *payload)
{
    (*(int *)payload)++;
    cJSON_DeleteItemFromObjectCaseSensitive(reg, "status");
    return cJSON_AddStringToObject(reg, "status", "deleted") ? PLAT_OK
                                                             : ERR_NOMEM;
}

static int refuse(cJSON *reg, void *payload)
{
    (void)payload;
    cJSON_AddStringToObject(reg, "fullName", "half done");
    return plat_err_set(ERR_INVALID, "refused");
}

/* Server copies edited by the caller's function; gone records too. */
static void test_server_edit(void)
{
    char *dir = tmpdir_make();
    struct store *s = testutil_store_new(dir, "store.db");
    int64_t seen[] = {11}, count = -1;
    cJSON *reg = NULL;
    int calls = 0;
    const cJSON *v;

    REQUIRE(s);
    reg = cJSON_Parse("[{\"referenceId\":\"ref-00011\",\"programId\":3,"
                      "\"id\":11,\"status\":\"included\"},"
                      "{\"referenceId\":\"ref-00012\",\"programId\":3,"
                      "\"id\":12,\"status\":\"included\"},"
                      "{\"referenceId\":\"ref-00013\",\"programId\":3,"
                      "\"id\":13,\"status\":\"included\"}]");
    REQUIRE(reg);
    CHECK_INT(store_reg_put_server_batch(s, reg), PLAT_OK);
    cJSON_Delete(reg);
    reg = NULL;

    CHECK_INT(store_reg_server_edit(s, "ref-00011", refuse, NULL),
              ERR_INVALID);
    CHECK_INT(store_reg_server_get(s, "ref-00011", &reg), PLAT_OK);
    CHECK(cJSON_GetObjectItemCaseSensitive(reg, "fullName") == NULL);
    cJSON_Delete(reg);
    reg = NULL;
    CHECK_INT(store_reg_server_edit(s, "ref-00404", set_flag, &calls),
              ERR_NOTFOUND);
    CHECK_INT(store_reg_server_edit(s, "ref-00011", NULL, NULL),
              ERR_INVALID);

    CHECK_INT(store_reg_mark_gone(s, 3, 0, INT64_MAX, seen, 1, NULL, NULL,
                                  &count), ERR_INVALID);
    CHECK_INT(store_reg_mark_gone(s, 3, 0, 12, seen, 1, set_flag, &calls,
                                  &count), PLAT_OK);
    CHECK_INT(count, 1);
    CHECK_INT(calls, 1);
    CHECK_INT(store_reg_mark_gone(s, 3, 0, INT64_MAX, seen, 1, set_flag,
                                  &calls, &count), PLAT_OK);
    CHECK_INT(count, 1); /* 12 is deleted already: only 13 */
    CHECK_INT(calls, 2);
    CHECK_INT(store_reg_get(s, "ref-00013", &reg), PLAT_OK);
    v = cJSON_GetObjectItemCaseSensitive(reg, "status");
    CHECK(cJSON_IsString(v) && strcmp(v->valuestring, "deleted") == 0);
    cJSON_Delete(reg);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations WHERE status ="
                         " 'deleted'"), 2);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_entries_in_order), TEST(test_failed_write_writes_nothing),
          TEST(test_outbox_matches_registrations), TEST(test_set_state),
          TEST(test_rejected_counted), TEST(test_create_alloc_failures),
          TEST(test_alloc_failures_everywhere), TEST(test_op_enums),
          TEST(test_origin_and_target), TEST(test_remote_ids),
          TEST(test_server_edit))
