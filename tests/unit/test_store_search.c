/*
 * test_store_search.c - the search index built once (store_search.h): while
 * the rebuild marker is set no write of any connection touches the index
 * and searches scan; the rebuild makes it whole in one go, after which
 * every connection keeps it in step again.
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_registrations.h"
#include "store_search.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>

static int count_cb(const cJSON *reg, void *payload)
{
    (void)reg;
    (*(int *)payload)++;
    return 0;
}

/* Rows store_reg_search finds for `text` (limit 1000), -1 on error. */
static int found(struct store *s, const char *text)
{
    int n = 0;

    if (store_reg_search(s, text, 1000, count_cb, &n) != PLAT_OK) {
        fprintf(stderr, "search %s: %s\n", text, plat_err_msg());
        return -1;
    }
    return n;
}

/* Rows the FTS index itself holds for `word`, read past the store. */
static int64_t indexed(struct store *s, const char *word)
{
    char sql[200];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM registrations_search "
             "WHERE registrations_search MATCH '\"%s\"'", word);
    return testutil_sql_int(s, sql);
}

/* Server copies with ids from..to named "<prefix> NN". */
static int put_server(struct store *s, int from, int to, const char *prefix)
{
    cJSON *arr = cJSON_CreateArray();
    char ref[32], name[64];
    int rc;

    for (int i = from; i <= to; i++) {
        cJSON *o = cJSON_CreateObject();

        snprintf(ref, sizeof(ref), "ref-%05d", i);
        snprintf(name, sizeof(name), "%s %02d", prefix, i);
        cJSON_AddNumberToObject(o, "id", i);
        cJSON_AddStringToObject(o, "referenceId", ref);
        cJSON_AddNumberToObject(o, "programId", 3);
        cJSON_AddStringToObject(o, "status", "included");
        cJSON_AddStringToObject(o, "fullName", name);
        cJSON_AddStringToObject(o, "phoneNumber", "31600000000");
        cJSON_AddItemToArray(arr, o);
    }
    rc = store_reg_put_server_batch(s, arr);
    cJSON_Delete(arr);
    return rc;
}

static int set_name(struct store *s, const char *ref, const char *name)
{
    cJSON *ch = cJSON_CreateObject();
    int rc;

    cJSON_AddStringToObject(ch, "fullName", name);
    rc = store_reg_edit(s, ref, ch, "test");
    cJSON_Delete(ch);
    return rc;
}

static void test_defer_then_rebuild(void)
{
    char *dir = testutil_tmpdir("agent-test-search");
    struct store_options opt = {0, 0, 0, 0};
    struct store *s, *s2 = NULL;
    char *path;
    int pending = -1, rebuilt = -1;

    REQUIRE(dir);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    path = plat_asprintf("%s/store.db", dir);
    CHECK_INT(put_server(s, 1, 30, "Pulled Person"), PLAT_OK);
    CHECK_INT(set_name(s, "ref-00007", "Anna Jansen"), PLAT_OK);
    /* A second connection, open before the marker is set (the CLI while
     * the daemon's sync pulls). */
    CHECK_INT(store_open(&s2, path, &opt), PLAT_OK);
    REQUIRE(s2);
    CHECK_INT(indexed(s, "jansen"), 1);
    CHECK_INT(store_search_pending(s, &pending), PLAT_OK);
    CHECK_INT(pending, 0);

    CHECK_INT(store_search_defer(s), PLAT_OK);
    CHECK_INT(store_search_pending(s2, &pending), PLAT_OK);
    CHECK_INT(pending, 1);
    /* A batch of new rows in a caller's transaction (a pull). */
    CHECK_INT(store_begin(s), PLAT_OK);
    CHECK_INT(put_server(s, 31, 60, "Zebediah Later"), PLAT_OK);
    CHECK_INT(store_commit(s), PLAT_OK);
    /* The other connection edits an indexed row and a server copy changes
     * an indexed name: FTS5 must get no 'delete' for them now. */
    CHECK_INT(set_name(s2, "ref-00007", "Anna Vermeer"), PLAT_OK);
    CHECK_INT(put_server(s2, 5, 5, "Renamed Five"), PLAT_OK);

    /* The index was left alone ... */
    CHECK_INT(indexed(s, "zebediah"), 0);
    CHECK_INT(indexed(s, "jansen"), 1);
    CHECK_INT(indexed(s, "vermeer"), 0);
    /* ... and searches scan: current values, both connections. */
    CHECK_INT(found(s, "zebediah"), 30);
    CHECK_INT(found(s2, "ZEBEDIAH later 4"), 10);
    CHECK_INT(found(s, "vermeer"), 1);
    CHECK_INT(found(s, "jansen"), 0);
    CHECK_INT(found(s2, "renamed"), 1);
    CHECK_INT(found(s, "Pulled Person 05"), 0);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    CHECK_INT(store_integrity_check(s2), PLAT_OK);

    /* Both calls change the store on their own. */
    CHECK_INT(store_begin(s), PLAT_OK);
    CHECK_INT(store_search_rebuild(s, &rebuilt), ERR_INVALID);
    CHECK_INT(store_search_defer(s), ERR_INVALID);
    store_rollback(s);

    /* The rebuild, from the connection that did not set the marker. */
    CHECK_INT(store_search_rebuild(s2, &rebuilt), PLAT_OK);
    CHECK_INT(rebuilt, 1);
    CHECK_INT(store_search_pending(s, &pending), PLAT_OK);
    CHECK_INT(pending, 0);
    CHECK_INT(indexed(s, "zebediah"), 30);
    CHECK_INT(indexed(s, "jansen"), 0);
    CHECK_INT(indexed(s, "vermeer"), 1);
    CHECK_INT(found(s, "renamed"), 1);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    /* FTS5's buffer size is back at its default for later writes. */
    CHECK_INT(testutil_sql_int(s, "SELECT v FROM registrations_search_config"
                                  " WHERE k = 'hashsize'"), 1024 * 1024);

    /* The connection that set the marker writes again: its transaction
     * reads the marker anew and keeps the index in step. */
    CHECK_INT(set_name(s, "ref-00007", "Anna Zonneveld"), PLAT_OK);
    CHECK_INT(put_server(s, 61, 62, "Fresh Row"), PLAT_OK);
    CHECK_INT(indexed(s, "zonneveld"), 1);
    CHECK_INT(indexed(s, "vermeer"), 0);
    CHECK_INT(indexed(s, "fresh"), 2);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    CHECK_INT(store_integrity_check(s2), PLAT_OK);

    /* Nothing to do now: nothing written. */
    CHECK_INT(store_search_rebuild(s, &rebuilt), PLAT_OK);
    CHECK_INT(rebuilt, 0);

    store_close(s2);
    store_close(s);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* A write that fails while the marker is set leaves no index change
 * behind, and a rolled-back marker is not believed by later writes. */
static void test_rolled_back(void)
{
    char *dir = testutil_tmpdir("agent-test-search");
    struct store *s;
    int pending = -1;

    REQUIRE(dir);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    CHECK_INT(put_server(s, 1, 5, "Early Bird"), PLAT_OK);
    CHECK_INT(store_search_defer(s), PLAT_OK);
    CHECK_INT(store_begin(s), PLAT_OK);
    CHECK_INT(put_server(s, 6, 9, "Dropped Row"), PLAT_OK);
    store_rollback(s);
    CHECK_INT(found(s, "dropped"), 0);
    CHECK_INT(store_search_rebuild(s, NULL), PLAT_OK);
    CHECK_INT(store_search_pending(s, &pending), PLAT_OK);
    CHECK_INT(pending, 0);
    CHECK_INT(indexed(s, "early"), 5);
    CHECK_INT(indexed(s, "dropped"), 0);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_defer_then_rebuild), TEST(test_rolled_back))
