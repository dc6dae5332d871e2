/* test_jscan.c - the strict one-pass JSON object check (sync_jscan.h):
 * what it accepts cJSON parses to the same members, and what it refuses
 * is left to cJSON (the first pull's fast path depends on both). */
#include "testlib.h"

#include "sync_jscan.h"

#include <cjson/cJSON.h>

static int scan(const char *t, struct sync_jscan_member *m, size_t n)
{
    return sync_jscan_object(t, strlen(t), m, n);
}

static int accepts(const char *t)
{
    return scan(t, NULL, 0);
}

static void test_jscan_members(void)
{
    struct sync_jscan_member m[3] = {{"id", NULL, 0}, {"name", NULL, 0},
                                     {"gone", NULL, 0}};
    const char *t = " {\"name\" : \"A \\\"b\\\" \\u00e9\", \"x\":{\"id\":9},"
                    "\"id\":12,\"id\":13, \"l\":[1,-2.5e+3,true,null]} ";

    CHECK_INT(scan(t, m, 3), 1);
    REQUIRE(m[0].val && m[1].val);
    /* The first top-level "id", not the nested one, not the second. */
    CHECK_INT(m[0].len, 2);
    CHECK(memcmp(m[0].val, "12", 2) == 0);
    CHECK_INT(m[1].len, strlen("\"A \\\"b\\\" \\u00e9\""));
    CHECK(memcmp(m[1].val, "\"A \\\"b\\\" \\u00e9\"", m[1].len) == 0);
    CHECK(m[2].val == NULL);
    CHECK_INT(accepts("{}"), 1);
    CHECK_INT(accepts("{\"a\":[]}"), 1);
    CHECK_INT(accepts("{\"a\":\"\\/\\b\\f\\n\\r\\t\\\\\"}"), 1);
}

static void test_jscan_refuses(void)
{
    static const char *const bad[] = {
        "", "[]", "\"x\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}",
        "{\"a\":1}x", "{\"a\":1}{}", "{\"a\":01}", "{\"a\":1.}",
        "{\"a\":.5}", "{\"a\":+1}", "{\"a\":1e}", "{\"a\":-}", "{\"a\":tru}",
        "{\"a\":nul}", "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\ud83d\\ude00\"}", "{\"a\":\"tab\there\"}",
        "{\"a\\u0062\":1}", "{'a':1}", "{\"a\":[1,]}", "{\"a\":[1 2]}",
        "{a:1}", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":1 \"b\":2}"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (accepts(bad[i])) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            CHECK(0);
        }
    /* A raw NUL inside the given length. */
    CHECK_INT(sync_jscan_object("{\"a\":\"x\0y\"}", 11, NULL, 0), 0);
}

/* {"a":[[...]]} with `arrays` arrays: depth arrays + 1. */
static size_t nested(char *t, int arrays)
{
    size_t n = 0;

    memcpy(t, "{\"a\":", 5);
    n = 5;
    for (int i = 0; i < arrays; i++)
        t[n++] = '[';
    for (int i = 0; i < arrays; i++)
        t[n++] = ']';
    t[n++] = '}';
    return n;
}

static void test_jscan_depth(void)
{
    char t[2 * SYNC_JSCAN_DEPTH + 16];

    CHECK_INT(sync_jscan_object(t, nested(t, SYNC_JSCAN_DEPTH - 1), NULL, 0),
              1);
    /* One level more: left to cJSON. */
    CHECK_INT(sync_jscan_object(t, nested(t, SYNC_JSCAN_DEPTH), NULL, 0), 0);
}

static void test_jscan_plain_run(void)
{
    char t[64];

    for (size_t at = 0; at < 40; at++)
        for (int k = 0; k < 4; k++) {
            const char stop[] = {'"', '\\', '\n', 0x1f};

            memset(t, 'a', sizeof(t));
            t[at] = stop[k];
            CHECK_INT(sync_jscan_plain_run(t, sizeof(t)), at);
            CHECK_INT(sync_jscan_plain_run(t, at), at);
        }
    /* Bytes that look like a stop to the word test: 0x80+, 0x20, 0x21. */
    memset(t, 0xa2, sizeof(t));
    t[3] = 0x20;
    t[9] = 0x21;
    t[17] = (char)0xdc;
    CHECK_INT(sync_jscan_plain_run(t, sizeof(t)), sizeof(t));
}

/* Mutations of a realistic record: whatever the scan accepts, cJSON
 * parses, and the members it found are the ones cJSON finds. */
static void test_jscan_agrees_with_cjson(void)
{
    static const char base[] =
        "{\"id\":1234,\"referenceId\":\"ref-\\u00e9 1\",\"programId\":3,"
        "\"fullName\":\"Jo \\\"Jo\\\" Ba\",\"phoneNumber\":\"31600000001\","
        "\"data\":{\"a\":[1,2.5,-3e2,true,false,null],\"b\":{}},"
        "\"status\":\"included\",\"x\":\"\\\\\\/\"}";
    static const char alphabet[] = "{}[]\":,\\u0e-+.1 atrfnl\t";
    char t[sizeof(base) + 8];
    unsigned seed = 12345;
    int accepted = 0;

    for (int round = 0; round < 20000; round++) {
        size_t n = sizeof(base) - 1;

        memcpy(t, base, n + 1);
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % n;
            seed = seed * 1103515245u + 12345u;
            t[at] = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
        }
        struct sync_jscan_member m[2] = {{"id", NULL, 0},
                                         {"fullName", NULL, 0}};
        if (!sync_jscan_object(t, n, m, 2))
            continue;
        accepted++;
        cJSON *j = cJSON_ParseWithLength(t, n);
        if (!j) {
            fprintf(stderr, "cJSON refuses what the scan took: %s\n", t);
            CHECK(0);
            continue;
        }
        for (int i = 0; i < 2; i++) {
            cJSON *want = cJSON_GetObjectItemCaseSensitive(j, m[i].key);
            cJSON *got = m[i].val ? cJSON_ParseWithLength(m[i].val, m[i].len)
                                  : NULL;

            CHECK((want == NULL) == (got == NULL));
            if (want && got && !cJSON_Compare(want, got, 1)) {
                fprintf(stderr, "member %s differs in: %s\n", m[i].key, t);
                CHECK(0);
            }
            cJSON_Delete(got);
        }
        cJSON_Delete(j);
    }
    /* The mutations must leave some texts valid, or this proves nothing. */
    CHECK(accepted > 1000);
}

TEST_MAIN(TEST(test_jscan_members), TEST(test_jscan_refuses),
          TEST(test_jscan_depth), TEST(test_jscan_plain_run),
          TEST(test_jscan_agrees_with_cjson))
