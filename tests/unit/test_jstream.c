/* test_jstream.c - the streaming record splitter (sync_jstream.h). */
#include "testlib.h"

#include "plat_err.h"
#include "sync_jstream.h"

#include <cjson/cJSON.h>

struct collect {
    int n;
    char got[8][256];
    int stop_at; /* stop after this many records (0: never) */
};

static int on_record(void *payload, const char *json, size_t len)
{
    struct collect *c = payload;
    if (c->n < 8 && len < sizeof(c->got[0])) {
        memcpy(c->got[c->n], json, len);
        c->got[c->n][len] = '\0';
    }
    c->n++;
    if (c->stop_at && c->n >= c->stop_at)
        return 42;
    return 0;
}

/* Feed `doc` in chunks of `chunk` bytes; returns the first non-zero rc. */
static int run(const char *key, const char *doc, size_t chunk,
               struct collect *c)
{
    struct sync_jstream *js;
    int rc = sync_jstream_create(&js, key, 200, on_record, c);
    if (rc)
        return rc;
    size_t n = strlen(doc);
    for (size_t i = 0; i < n && !rc; i += chunk)
        rc = sync_jstream_feed(js, doc + i, i + chunk > n ? n - i : chunk);
    if (!rc)
        rc = sync_jstream_finish(js);
    sync_jstream_destroy(js);
    return rc;
}

static const char *page =
    "{\"fileName\":\"x\",\"data\":[{\"id\":1,\"name\":\"a]}\\\"{\"},"
    " {\"id\":2,\"tags\":[1,2,{\"k\":[]}]} ],"
    "\"meta\":{\"data\":[{\"id\":99}]},\"links\":{}}";

static void test_jstream_records_any_chunking(void)
{
    for (size_t chunk = 1; chunk <= 64; chunk *= 2) {
        struct collect c = {0};
        CHECK_INT(run("data", page, chunk, &c), 0);
        CHECK_INT(c.n, 2);
        CHECK_STR(c.got[0], "{\"id\":1,\"name\":\"a]}\\\"{\"}");
        CHECK_STR(c.got[1], "{\"id\":2,\"tags\":[1,2,{\"k\":[]}]}");
        cJSON *j = cJSON_Parse(c.got[0]);
        CHECK(j != NULL);
        cJSON_Delete(j);
    }
}

static void test_jstream_ignores_nested_data_keys(void)
{
    /* "data" inside meta must not be taken for the records array. */
    struct collect c = {0};
    CHECK_INT(run("data", "{\"meta\":{\"data\":[{\"id\":9}]},\"data\":[]}",
                  7, &c), 0);
    CHECK_INT(c.n, 0);
}

static void test_jstream_top_level_array(void)
{
    struct collect c = {0};
    CHECK_INT(run(NULL, "[{\"a\":1}, 2, \"s,]\", null]", 3, &c), 0);
    CHECK_INT(c.n, 4);
    CHECK_STR(c.got[0], "{\"a\":1}");
    CHECK_STR(c.got[1], "2");
    CHECK_STR(c.got[2], "\"s,]\"");
    CHECK_STR(c.got[3], "null");
}

static void test_jstream_truncated_is_an_error(void)
{
    struct collect c = {0};
    int rc = run("data", "{\"data\":[{\"id\":1},{\"id\":2", 5, &c);
    CHECK_INT(rc, ERR_INVALID);
    CHECK(strstr(plat_err_msg(), "truncated") != NULL);
    CHECK_INT(c.n, 1); /* the complete record was delivered */
}

static void test_jstream_malformed(void)
{
    struct collect c = {0};
    CHECK_INT(run("data", "{\"data\":[{\"id\":1]]}", 4, &c), ERR_INVALID);
    CHECK(strstr(plat_err_msg(), "byte") != NULL);
    memset(&c, 0, sizeof(c));
    CHECK_INT(run("data", "", 4, &c), ERR_INVALID);
    memset(&c, 0, sizeof(c));
    CHECK_INT(run("data", "{\"errors\":\"x\"}", 4, &c), ERR_INVALID);
    memset(&c, 0, sizeof(c));
    CHECK_INT(run("data", "{\"data\":[]} {", 4, &c), ERR_INVALID);
}

static void test_jstream_record_cap(void)
{
    char doc[600];
    strcpy(doc, "{\"data\":[{\"v\":\"");
    size_t n = strlen(doc);
    memset(doc + n, 'x', 300);
    strcpy(doc + n + 300, "\"}]}");
    struct collect c = {0};
    CHECK_INT(run("data", doc, 50, &c), ERR_TOOLARGE);
}

static void test_jstream_callback_stops(void)
{
    struct collect c = {0};
    c.stop_at = 1;
    CHECK_INT(run("data", page, 8, &c), 42);
    CHECK_INT(c.n, 1);
}

TEST_MAIN(TEST(test_jstream_records_any_chunking),
          TEST(test_jstream_ignores_nested_data_keys),
          TEST(test_jstream_top_level_array),
          TEST(test_jstream_truncated_is_an_error),
          TEST(test_jstream_malformed),
          TEST(test_jstream_record_cap),
          TEST(test_jstream_callback_stops))
