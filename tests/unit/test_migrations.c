/*
 * test_migrations.c - the embedded schema migrations: versions step one by
 * one, an old store is upgraded with its rows kept (and made searchable),
 * and a migration that fails leaves the store at its previous version.
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_migrations.h"
#include "store_outbox.h"
#include "store_registrations.h"
#include "store_sync.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <unistd.h>

/* The newest schema version: the number of embedded migrations (each test
 * below must hold whatever migrations are added later). */
#define LATEST ((int)store_migrations_count)

static char *tmpdir_make(void)
{
    return testutil_tmpdir("agent-test-migr");
}

/* An integer read with a raw connection, bypassing the store. */
static long long raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
            SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);

    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

static int count_rows(const cJSON *reg, void *payload)
{
    (void)reg;
    (*(int *)payload)++;
    return 0;
}

static void test_schema_version(void)
{
    int i;

    CHECK_INT(store_schema_version(), 9);
    CHECK_INT(store_migrations_count, 9);
    CHECK_STR(store_migrations[0].name, "0001_initial.sql");
    CHECK_STR(store_migrations[1].name, "0002_search_index.sql");
    CHECK_STR(store_migrations[2].name, "0003_sources.sql");
    CHECK_STR(store_migrations[3].name, "0004_distribution.sql");
    CHECK_STR(store_migrations[4].name, "0005_registration_events.sql");
    CHECK_STR(store_migrations[5].name, "0006_bundles.sql");
    CHECK_STR(store_migrations[6].name, "0007_jobs.sql");
    CHECK_STR(store_migrations[7].name, "0008_attachments.sql");
    CHECK_STR(store_migrations[8].name, "0010_local_view_once.sql");
    for (i = 0; i < store_migrations_count; i++)
        CHECK(store_migrations[i].sql && strlen(store_migrations[i].sql) > 0);
}

/* Versions go up one at a time, each recorded in user_version. */
static void test_version_steps(void)
{
    char *dir = tmpdir_make();
    char *path = plat_asprintf("%s/store.db", dir);
    struct store_options opt = {STORE_CREATE, 0, 0, 1};
    struct store *s = NULL;

    REQUIRE(path);
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_version(s), 1);
    store_close(s);
    s = NULL;
    CHECK_INT(raw_int(path, "PRAGMA user_version"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                            " 'registrations_search'"), 0);

    /* Asking for the version a store already has changes nothing. */
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    store_close(s);
    s = NULL;
    CHECK_INT(raw_int(path, "PRAGMA user_version"), 1);

    opt.target_version = 2;
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_version(s), 2);
    store_close(s);
    s = NULL;
    CHECK_INT(raw_int(path, "PRAGMA user_version"), 2);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                            " 'registrations_search'"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                            " 'remote_ids'"), 0);

    opt.target_version = 0; /* latest */
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_version(s), LATEST);
    store_close(s);
    s = NULL;
    CHECK_INT(raw_int(path, "PRAGMA user_version"), LATEST);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                            " 'jobs'"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                            " 'remote_ids'"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name ="
                            " 'outbox_target'"), 1);

    opt.target_version = LATEST + 1; /* beyond the latest */
    CHECK_INT(store_open(&s, path, &opt), ERR_INVALID);
    CHECK(s == NULL);

    /* A read-only open of an old store does not upgrade it. */
    plat_free(path);
    testutil_tmpdir_remove(dir);
    dir = tmpdir_make();
    path = plat_asprintf("%s/store.db", dir);
    REQUIRE(path);
    opt.target_version = 1;
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    store_close(s);
    s = NULL;
    opt.flags = STORE_READONLY;
    opt.target_version = 0;
    CHECK_INT(store_open(&s, path, &opt), ERR_VERSION);
    CHECK(strstr(plat_err_msg(), "older than this agent") != NULL);
    CHECK_INT(raw_int(path, "PRAGMA user_version"), 1);

    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* A store written by an agent at schema 1, with rows in it, is upgraded
 * on open, keeps its rows, and they become searchable. */
static void test_upgrade_keeps_rows(void)
{
    char *dir = tmpdir_make();
    char *path = plat_asprintf("%s/store.db", dir);
    struct store_options opt = {STORE_CREATE, 0, 0, 1};
    struct store *s = NULL;
    int64_t n = 0;
    int found = 0;
    cJSON *r = NULL;

    REQUIRE(path);
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    store_close(s);
    s = NULL;
    CHECK_INT(raw_exec(path,
                       "INSERT INTO registrations(reference_id, program_id,"
                       " local_json, status, name, phone_number, created_at,"
                       " updated_at) VALUES"
                       " ('ref-00001', 3, '{\"referenceId\":\"ref-00001\","
                       "\"status\":\"new\",\"fullName\":\"Marta Kowalski\"}',"
                       " 'new', 'Marta Kowalski', '+48600111222',"
                       " '2025-02-01T10:00:00.000Z',"
                       " '2025-02-01T10:00:00.000Z'),"
                       " ('ref-00002', 3, '{\"referenceId\":"
                       "\"ref-00002\",\"status\":\"included\","
                       "\"fullName\":\"Jan Nowak\"}',"
                       " 'included', 'Jan Nowak', '+48600333444',"
                       " '2025-02-02T10:00:00.000Z',"
                       " '2025-02-02T10:00:00.000Z');"
                       "INSERT INTO agent_state(key, value)"
                       " VALUES ('k', 'v');"),
              SQLITE_OK);

    opt.target_version = 0;
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_version(s), LATEST);
    CHECK_INT(store_reg_count(s, &n), PLAT_OK);
    CHECK_INT(n, 2);
    CHECK_INT(store_reg_search(s, "kowal", 0, count_rows, &found), PLAT_OK);
    CHECK_INT(found, 1);
    found = 0;
    CHECK_INT(store_reg_search(s, "600333", 0, count_rows, &found), PLAT_OK);
    CHECK_INT(found, 1);
    found = 0;
    CHECK_INT(store_reg_search(s, "ref-0000", 0, count_rows, &found),
              PLAT_OK);
    CHECK_INT(found, 2);
    CHECK_INT(store_reg_get(s, "ref-00002", &r), PLAT_OK);
    CHECK(r && cJSON_GetObjectItemCaseSensitive(r, "fullName") != NULL);
    cJSON_Delete(r);
    /* Old rows work with the writes of the new version. */
    CHECK_INT(store_reg_set_status(s, "ref-00001", "validated", NULL),
              PLAT_OK);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);

    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* Each migration runs in one transaction with its version bump: when one
 * fails, the store stays at the version before it, with none of the
 * migration's objects, and opens fine once the cause is gone. */
static void test_failed_migration_is_atomic(void)
{
    char *dir = tmpdir_make();
    char *path = plat_asprintf("%s/store.db", dir);
    struct store_options opt = {STORE_CREATE, 0, 0, 1};
    struct store *s = NULL;
    int rc;

    REQUIRE(path);
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    store_close(s);
    s = NULL;
    /* An object in the way of migration 2, which creates
     * registrations_search first and rebuilds it last. */
    CHECK_INT(raw_exec(path, "CREATE TABLE registrations_search(x)"),
              SQLITE_OK);

    opt.target_version = 0;
    rc = store_open(&s, path, &opt);
    CHECK_INT(rc, ERR_CORRUPT);
    CHECK(s == NULL);
    CHECK(strstr(plat_err_msg(), "0002_search_index.sql") != NULL);
    CHECK_INT(raw_int(path, "PRAGMA user_version"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE name "
                            "LIKE 'registrations_search_%'"), 0);

    CHECK_INT(raw_exec(path, "DROP TABLE registrations_search"), SQLITE_OK);
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_version(s), LATEST);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);

    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* A store at schema 2 with registrations, outbox entries (every state),
 * conflicts and checkpoints: 0003 keeps every row, gives the old entries
 * target '121' and origin 'device' and the conflicts source '121', and
 * the new columns and table work at once. */
static void test_upgrade_from_v2_keeps_outbox(void)
{
    char *dir = tmpdir_make();
    char *path = plat_asprintf("%s/store.db", dir);
    struct store_options opt = {STORE_CREATE, 0, 0, 2};
    struct store *s = NULL;
    char *ref = NULL, *version = NULL;
    int64_t n = 0;

    REQUIRE(path);
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_version(s), 2);
    store_close(s);
    s = NULL;
    CHECK_INT(raw_exec(path,
                       "INSERT INTO registrations(reference_id, program_id,"
                       " local_json, status, name, phone_number, created_at,"
                       " updated_at) VALUES"
                       " ('ref-00001', 3, '{\"referenceId\":\"ref-00001\","
                       "\"status\":\"new\"}', 'new', 'A', NULL,"
                       " '2025-02-01T10:00:00.000Z',"
                       " '2025-02-01T10:00:00.000Z');"
                       /* as the v2 store code kept it */
                       "INSERT INTO registrations_search("
                       "registrations_search) VALUES ('rebuild');"
                       "INSERT INTO outbox(op_id, reference_id, program_id,"
                       " kind, payload, base, state, attempts,"
                       " server_message, created_at, updated_at) VALUES"
                       " ('op-1', 'ref-00001', 3, 'create', '{}', NULL,"
                       " 'done', 1, NULL, '2025-02-01T10:00:00.000Z',"
                       " '2025-02-01T10:00:00.000Z'),"
                       " ('op-2', 'ref-00001', 3, 'edit', '{\"data\":{}}',"
                       " '{}', 'pending', 0, NULL,"
                       " '2025-02-01T10:01:00.000Z',"
                       " '2025-02-01T10:01:00.000Z'),"
                       " ('op-3', 'ref-00001', 3, 'status',"
                       " '{\"status\":\"included\"}', NULL, 'inflight', 2,"
                       " NULL, '2025-02-01T10:02:00.000Z',"
                       " '2025-02-01T10:02:00.000Z'),"
                       " ('op-4', 'ref-00001', 3, 'edit', '{}', NULL,"
                       " 'conflict', 1, NULL, '2025-02-01T10:03:00.000Z',"
                       " '2025-02-01T10:03:00.000Z'),"
                       " ('op-5', 'ref-00001', 3, 'edit', '{}', NULL,"
                       " 'rejected', 1, 'bad', '2025-02-01T10:04:00.000Z',"
                       " '2025-02-01T10:04:00.000Z');"
                       "INSERT INTO conflicts(outbox_seq, reference_id,"
                       " field, base_value, local_value, server_value,"
                       " created_at) VALUES (4, 'ref-00001', 'district',"
                       " '\"a\"', '\"b\"', '\"c\"',"
                       " '2025-02-01T10:05:00.000Z');"
                       "INSERT INTO sync_checkpoints(source, name, value,"
                       " updated_at) VALUES ('121', 'pull.last_id', '42',"
                       " '2025-02-01T10:06:00.000Z');"),
              SQLITE_OK);

    opt.target_version = 0;
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_version(s), LATEST);
    store_close(s);
    s = NULL;
    CHECK_INT(raw_int(path, "SELECT count(*) FROM registrations"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM outbox"), 5);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM outbox WHERE target = '121'"
                            " AND origin = 'device'"), 5);
    /* Nothing else about the entries changed. */
    CHECK_INT(raw_int(path, "SELECT count(*) FROM outbox WHERE"
                            " (seq, op_id, kind, state, attempts) IN (VALUES"
                            " (1, 'op-1', 'create', 'done', 1),"
                            " (2, 'op-2', 'edit', 'pending', 0),"
                            " (3, 'op-3', 'status', 'inflight', 2),"
                            " (4, 'op-4', 'edit', 'conflict', 1),"
                            " (5, 'op-5', 'edit', 'rejected', 1))"), 5);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM outbox WHERE seq = 5 AND"
                            " server_message = 'bad'"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM conflicts WHERE"
                            " source = '121' AND field = 'district' AND"
                            " server_value = '\"c\"' AND state = 'open'"),
              1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM sync_checkpoints WHERE"
                            " value = '42'"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM remote_ids"), 0);
    /* 0004 rebuilt the outbox: the conflict still points at its entry,
     * the new kinds are accepted, seq goes on after the copied ones. */
    CHECK_INT(raw_int(path, "SELECT count(*) FROM pragma_foreign_key_check"),
              0);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM conflicts c JOIN outbox o"
                            " ON o.seq = c.outbox_seq WHERE o.op_id ="
                            " 'op-4'"), 1);
    CHECK_INT(raw_exec(path, "INSERT INTO outbox(op_id, reference_id,"
                             " program_id, kind, payload, created_at,"
                             " updated_at) VALUES ('op-6', '$label/x', 3,"
                             " 'label', '{}', 'now', 'now')"), SQLITE_OK);
    CHECK_INT(raw_int(path, "SELECT seq FROM outbox WHERE op_id = 'op-6'"),
              6);
    CHECK_INT(raw_exec(path, "DELETE FROM outbox WHERE op_id = 'op-6'"),
              SQLITE_OK);

    /* The upgraded store takes the new writes. */
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_outbox_count(s, NULL, &n), PLAT_OK);
    CHECK_INT(n, 2);
    CHECK_INT(store_remote_id_put(s, "kobo", "submission", "4711",
                                  "ref-00001", "v1"), PLAT_OK);
    CHECK_INT(store_remote_id_get(s, "kobo", "submission", "4711", &ref,
                                  &version), PLAT_OK);
    CHECK_STR(ref, "ref-00001");
    CHECK_STR(version, "v1");
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);

    plat_free(ref);
    plat_free(version);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}


/* 0010: a store at schema 5 holds every pulled row twice. The upgrade
 * keeps only the views that differ from their server copy (local_own ''
 * otherwise), every reader sees the same views as before, and the rows
 * take the writes of the new version: an edit gets a view of its own, a
 * newer server copy keeps the pending edit on top, and a server copy with
 * nothing pending stores no second copy. */
static int edit_name(cJSON *reg, void *payload)
{
    (void)payload;
    return cJSON_ReplaceItemInObjectCaseSensitive(
               reg, "fullName", cJSON_CreateString("Server Name"))
               ? PLAT_OK
               : ERR_NOMEM;
}

static void test_upgrade_to_0010_stores_views_once(void)
{
    char *dir = tmpdir_make();
    char *path = plat_asprintf("%s/store.db", dir);
    struct store_options opt = {STORE_CREATE, 0, 0, 5};
    struct store *s = NULL;
    cJSON *r = NULL, *server = NULL;
    const cJSON *v;
    int found = 0;

    REQUIRE(path);
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    store_close(s);
    s = NULL;
    CHECK_INT(raw_exec(path,
                       /* pulled, nothing pending: both copies equal */
                       "INSERT INTO registrations(reference_id, id,"
                       " program_id, server_json, server_seen_at,"
                       " local_json, status, name, phone_number, created_at,"
                       " updated_at) VALUES"
                       " ('ref-00001', 1, 3, '{\"referenceId\":\"ref-00001\","
                       "\"id\":1,\"programId\":3,\"status\":\"new\","
                       "\"fullName\":\"Marta Kowalski\"}', 'now',"
                       " '{\"referenceId\":\"ref-00001\","
                       "\"id\":1,\"programId\":3,\"status\":\"new\","
                       "\"fullName\":\"Marta Kowalski\"}',"
                       " 'new', 'Marta Kowalski', NULL, 'now', 'now'),"
                       /* pulled, with a pending edit on top */
                       " ('ref-00002', 2, 3, '{\"referenceId\":\"ref-00002\","
                       "\"id\":2,\"programId\":3,\"status\":\"new\","
                       "\"fullName\":\"Jan Nowak\",\"district\":\"a\"}', 'now',"
                       " '{\"referenceId\":\"ref-00002\","
                       "\"id\":2,\"programId\":3,\"status\":\"new\","
                       "\"fullName\":\"Jan Nowak\",\"district\":\"b\"}',"
                       " 'new', 'Jan Nowak', NULL, 'now', 'now'),"
                       /* made on this device, never pulled */
                       " ('ref-00003', NULL, 3, NULL, NULL,"
                       " '{\"referenceId\":\"ref-00003\",\"programId\":3,"
                       "\"status\":\"new\",\"fullName\":\"Ola Lis\"}',"
                       " 'new', 'Ola Lis', NULL, 'now', 'now');"
                       "INSERT INTO registrations_search("
                       "registrations_search) VALUES ('rebuild');"
                       "INSERT INTO outbox(op_id, reference_id, program_id,"
                       " kind, payload, base, state, attempts, created_at,"
                       " updated_at) VALUES ('op-1', 'ref-00002', 3, 'edit',"
                       " '{\"data\":{\"district\":\"b\"}}',"
                       " '{\"district\":\"a\"}', 'pending', 0, 'now',"
                       " 'now'), ('op-2', 'ref-00003', 3, 'create', '{}',"
                       " NULL, 'pending', 0, 'now', 'now');"),
              SQLITE_OK);

    opt.target_version = 0;
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_version(s), LATEST);
    store_close(s);
    s = NULL;
    CHECK_INT(raw_int(path, "SELECT count(*) FROM registrations WHERE"
                            " local_own = ''"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM registrations WHERE"
                            " reference_id = 'ref-00001' AND local_own = ''"
                            " AND local_json = server_json"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM registrations WHERE"
                            " json_extract(local_json, '$.district') = 'b'"),
              1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM registrations WHERE"
                            " reference_id = 'ref-00003' AND local_json ="
                            " local_own AND server_json IS NULL"), 1);
    /* local_json is computed: no statement can write it. */
    CHECK(raw_exec(path, "UPDATE registrations SET local_json = '{}'") !=
          SQLITE_OK);

    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_reg_get(s, "ref-00001", &r), PLAT_OK);
    v = r ? cJSON_GetObjectItemCaseSensitive(r, "fullName") : NULL;
    CHECK(cJSON_IsString(v) && strcmp(v->valuestring, "Marta Kowalski") == 0);
    cJSON_Delete(r);
    r = NULL;
    CHECK_INT(store_reg_search(s, "kowal", 0, count_rows, &found), PLAT_OK);
    CHECK_INT(found, 1);

    /* A newer server copy of the edited row keeps the edit on top. */
    CHECK_INT(store_reg_server_edit(s, "ref-00002", edit_name, NULL),
              PLAT_OK);
    CHECK_INT(store_reg_get(s, "ref-00002", &r), PLAT_OK);
    v = r ? cJSON_GetObjectItemCaseSensitive(r, "district") : NULL;
    CHECK(cJSON_IsString(v) && strcmp(v->valuestring, "b") == 0);
    v = r ? cJSON_GetObjectItemCaseSensitive(r, "fullName") : NULL;
    CHECK(cJSON_IsString(v) && strcmp(v->valuestring, "Server Name") == 0);
    cJSON_Delete(r);
    r = NULL;
    /* A newer server copy of a row with nothing pending: one copy. */
    CHECK_INT(store_reg_server_edit(s, "ref-00001", edit_name, NULL),
              PLAT_OK);
    CHECK_INT(store_reg_server_get(s, "ref-00001", &server), PLAT_OK);
    cJSON_Delete(server);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM registrations WHERE"
                            " reference_id = 'ref-00001' AND local_own = ''"
                            " AND json_extract(local_json, '$.fullName') ="
                            " 'Server Name'"), 1);
    /* An edit of a row stored once gives it a view of its own. */
    CHECK_INT(store_reg_set_status(s, "ref-00001", "validated", NULL),
              PLAT_OK);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);
    s = NULL;
    CHECK_INT(raw_int(path, "SELECT count(*) FROM registrations WHERE"
                            " reference_id = 'ref-00001' AND local_own <> ''"
                            " AND json_extract(local_json, '$.status') ="
                            " 'validated' AND json_extract(server_json,"
                            " '$.status') = 'new'"), 1);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM registrations WHERE"
                            " reference_id = 'ref-00002' AND local_own <> ''"
                            " AND json_extract(local_json, '$.fullName') ="
                            " 'Server Name'"), 1);

    plat_free(path);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_schema_version), TEST(test_version_steps),
          TEST(test_upgrade_keeps_rows), TEST(test_failed_migration_is_atomic),
          TEST(test_upgrade_from_v2_keeps_outbox),
          TEST(test_upgrade_to_0010_stores_views_once))
