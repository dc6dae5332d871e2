/*
 * test_store_sessions.c - agent serve's login sessions in the store
 * (store_sessions.h): a kept hash is live until its expiry, a dropped one
 * is gone, expired ones and all but the newest `keep` are dropped at the
 * next put, and a bad hash is refused.
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_err.h"
#include "store.h"
#include "store_sessions.h"

#include <stdio.h>
#include <string.h>

/* A 64-hex-digit hash made from n. */
static void hash_of(int n, char out[STORE_SESSION_HASH_HEX + 1])
{
    memset(out, 'a', STORE_SESSION_HASH_HEX);
    snprintf(out, 9, "%08x", (unsigned)n);
    out[8] = 'b';
    out[STORE_SESSION_HASH_HEX] = '\0';
}

static void test_live_expired_dropped(void)
{
    char *dir = testutil_tmpdir("sess-");
    struct store *s = testutil_store_new(dir, "store.db");
    char h1[65], h2[65];

    REQUIRE(s);
    hash_of(1, h1);
    hash_of(2, h2);
    CHECK_INT(store_session_live(s, h1, 1000), 0);
    CHECK_INT(store_session_put(s, h1, 5000, 1000, 10), PLAT_OK);
    CHECK_INT(store_session_live(s, h1, 4999), 1);
    CHECK_INT(store_session_live(s, h1, 5000), 0); /* expired at 5000 */
    /* the next put drops the expired one */
    CHECK_INT(store_session_put(s, h2, 9000, 6000, 10), PLAT_OK);
    CHECK_INT(testutil_sql_int(s, "SELECT count(*) FROM agent_state WHERE"
                                  " key LIKE 'serve.session.%'"), 1);
    CHECK_INT(store_session_drop(s, h2), PLAT_OK);
    CHECK_INT(store_session_live(s, h2, 6000), 0);
    CHECK_INT(store_session_drop(s, h2), PLAT_OK); /* none: fine */
    CHECK_INT(store_session_put(s, "not-a-hash", 9000, 6000, 10),
              ERR_INVALID);
    plat_err_clear();
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static void test_keeps_the_newest(void)
{
    char *dir = testutil_tmpdir("sess-");
    struct store *s = testutil_store_new(dir, "store.db");
    char h[65];

    REQUIRE(s);
    for (int i = 0; i < 5; i++) {
        hash_of(i, h);
        CHECK_INT(store_session_put(s, h, 10000 + i, 1000, 3), PLAT_OK);
    }
    CHECK_INT(testutil_sql_int(s, "SELECT count(*) FROM agent_state WHERE"
                                  " key LIKE 'serve.session.%'"), 3);
    hash_of(1, h);
    CHECK_INT(store_session_live(s, h, 2000), 0);
    hash_of(4, h);
    CHECK_INT(store_session_live(s, h, 2000), 1);
    /* other state is never touched */
    CHECK_INT(store_state_set(s, "serve.password", "x"), PLAT_OK);
    CHECK_INT(store_session_put(s, h, 20000, 15000, 1), PLAT_OK);
    CHECK_INT(testutil_sql_int(s, "SELECT count(*) FROM agent_state WHERE"
                                  " key = 'serve.password'"), 1);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_live_expired_dropped), TEST(test_keeps_the_newest))
