/*
 * test_file_connector.c - the file connector (sync/connectors/file): its
 * pure helpers (file_format.h), and the whole connector through
 * sync_engine_run over a temporary folder.
 */
#include "testlib.h"

#include "file_format.h"
#include "plat_alloc.h"
#include "plat_err.h"

#include <cjson/cJSON.h>

#include <stdint.h>
#include <string.h>

/* ---- pure helpers ------------------------------------------------------ */

static int parse(const char *line, int program_id, cJSON **out)
{
    return file_parse_line(line, strlen(line), program_id, "a.jsonl", 7,
                           out);
}

static void test_parse_ok(void)
{
    cJSON *r = NULL;

    CHECK_INT(parse("{\"referenceId\":\"ref-1\",\"programId\":3,"
                    "\"status\":\"included\",\"fullName\":\"X\"}", 3, &r),
              PLAT_OK);
    REQUIRE(r);
    CHECK_STR(cJSON_GetObjectItem(r, "referenceId")->valuestring, "ref-1");
    CHECK_INT(cJSON_GetObjectItem(r, "programId")->valueint, 3);
    CHECK(!file_is_deletion(r));
    cJSON_Delete(r);

    /* programId filled in from the config; \r and blanks around are fine */
    r = NULL;
    CHECK_INT(parse("  {\"referenceId\":\"ref-2\"} \r", 5, &r), PLAT_OK);
    REQUIRE(r);
    CHECK_INT(cJSON_GetObjectItem(r, "programId")->valueint, 5);
    cJSON_Delete(r);

    /* a deletion mark */
    r = NULL;
    CHECK_INT(parse("{\"referenceId\":\"ref-3\",\"status\":\"deleted\"}", 5,
                    &r), PLAT_OK);
    REQUIRE(r);
    CHECK(file_is_deletion(r));
    cJSON_Delete(r);

    /* blank lines: nothing */
    r = (cJSON *)1;
    CHECK_INT(parse("", 5, &r), PLAT_OK);
    CHECK(r == NULL);
    r = (cJSON *)1;
    CHECK_INT(parse(" \t\r", 5, &r), PLAT_OK);
    CHECK(r == NULL);
}

/* Each bad line: ERR_INVALID, "a.jsonl:7: <reason>", no value quoted. */
static void check_bad(const char *line, int program_id, const char *reason)
{
    cJSON *r = (cJSON *)1;
    char want[256];

    CHECK_INT(parse(line, program_id, &r), ERR_INVALID);
    CHECK(r == NULL);
    snprintf(want, sizeof(want), "a.jsonl:7: %s", reason);
    CHECK_STR(plat_err_msg(), want);
    CHECK(strstr(plat_err_msg(), "SECRET") == NULL);
}

static void test_parse_bad(void)
{
    check_bad("{\"referenceId\":\"r1\",\"name\":\"SECRET\"", 3, "not JSON");
    check_bad("[\"SECRET\"]", 3, "not a JSON object");
    check_bad("{\"name\":\"SECRET\"}", 3,
              "referenceId missing or not a string");
    check_bad("{\"referenceId\":12}", 3,
              "referenceId missing or not a string");
    check_bad("{\"referenceId\":\"\"}", 3,
              "referenceId missing or not a string");
    check_bad("{\"referenceId\":\"a\\u0001b\"}", 3,
              "referenceId holds a control character");
    check_bad("{\"referenceId\":\"ref-1\",\"programId\":4}", 3,
              "programId is not the configured program_id");
    check_bad("{\"referenceId\":\"ref-1\",\"programId\":\"3\"}", 3,
              "programId not a positive integer");
    check_bad("{\"referenceId\":\"ref-1\",\"programId\":2.5}", 0,
              "programId not a positive integer");
    check_bad("{\"referenceId\":\"ref-1\"}", 0,
              "programId missing and no program_id set");
    check_bad("{\"referenceId\":\"ref-1\",\"status\":1}", 3,
              "status not a string");
    check_bad("{\"referenceId\":\"ref-1\",\"id\":-4}", 3,
              "id not a positive integer");
    check_bad("{\"referenceId\":\"ref-1\"} {\"x\":1}", 3,
              "text after the JSON object");
    check_bad("{\"referenceId\":\"r\xff\"}", 3, "not UTF-8 (byte 18)");

    {
        char big[300];
        char line[400];

        memset(big, 'a', 201);
        big[201] = '\0';
        snprintf(line, sizeof(line), "{\"referenceId\":\"%s\"}", big);
        check_bad(line, 3, "referenceId longer than 200 bytes");
    }
}

static void test_format_op(void)
{
    cJSON *payload = cJSON_Parse("{\"data\":{\"phoneNumber\":\"31600\"},"
                                 "\"reason\":null}");
    cJSON *base = cJSON_Parse("{\"phoneNumber\":\"31611\"}");
    char *line = NULL;
    cJSON *back;

    REQUIRE(payload && base);
    CHECK_INT(file_format_op(42, "site-a", "edit", "ref-1", payload, base,
                             &line), PLAT_OK);
    REQUIRE(line);
    CHECK(line[strlen(line) - 1] == '\n');
    CHECK(strchr(line, '\n') == line + strlen(line) - 1);
    back = cJSON_Parse(line);
    REQUIRE(back);
    CHECK_INT(cJSON_GetObjectItem(back, "seq")->valuedouble, 42);
    CHECK_STR(cJSON_GetObjectItem(back, "device")->valuestring, "site-a");
    CHECK_STR(cJSON_GetObjectItem(back, "kind")->valuestring, "edit");
    CHECK_STR(cJSON_GetObjectItem(back, "referenceId")->valuestring, "ref-1");
    CHECK(cJSON_Compare(cJSON_GetObjectItem(back, "payload"), payload, 1));
    CHECK(cJSON_Compare(cJSON_GetObjectItem(back, "base"), base, 1));
    CHECK_INT(file_line_seq(line, strlen(line) - 1), 42);
    cJSON_Delete(back);
    plat_free(line);

    /* a create: no device, base null */
    line = NULL;
    CHECK_INT(file_format_op(7, NULL, "create", "ref-2", payload, NULL,
                             &line), PLAT_OK);
    REQUIRE(line);
    back = cJSON_Parse(line);
    REQUIRE(back);
    CHECK(cJSON_GetObjectItem(back, "device") == NULL);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(back, "base")));
    cJSON_Delete(back);
    plat_free(line);

    CHECK_INT(file_line_seq("{\"seq\":\"1\"}", 11), -1);
    CHECK_INT(file_line_seq("garbage", 7), -1);
    CHECK_INT(file_line_seq("{\"seq\":9}", 9), 9);
    cJSON_Delete(payload);
    cJSON_Delete(base);
}

static void test_names(void)
{
    char out[64];

    CHECK(file_name_ok("2026-01-02.jsonl"));
    CHECK(file_name_ok("a.jsonl"));
    CHECK(!file_name_ok(".jsonl"));
    CHECK(!file_name_ok(".hidden.jsonl"));
    CHECK(!file_name_ok("a.json"));
    CHECK(!file_name_ok("a.jsonl.tmp"));
    CHECK(!file_name_ok("a/b.jsonl"));
    CHECK(!file_name_ok(NULL));

    CHECK_INT(file_out_name("site-a", 0, out, sizeof(out)), PLAT_OK);
    CHECK_STR(out, "site-a.jsonl");
    CHECK_INT(file_out_name(NULL, INT64_C(1767312000000), out, sizeof(out)),
              PLAT_OK);                           /* 2026-01-02 00:00 UTC */
    CHECK_STR(out, "2026-01-02.jsonl");
    CHECK_INT(file_out_name("", INT64_C(1767311999000), out, sizeof(out)),
              PLAT_OK);
    CHECK_STR(out, "2026-01-01.jsonl");
    CHECK_INT(file_out_name("../x", 0, out, sizeof(out)), ERR_INVALID);
    CHECK_INT(file_out_name(".x", 0, out, sizeof(out)), ERR_INVALID);
    CHECK_INT(file_out_name("a b", 0, out, sizeof(out)), ERR_INVALID);
}

static void test_cursor(void)
{
    struct file_cursor c = {12345, 67, 0}, d;
    char text[FILE_CURSOR_MAX];

    c.hash = file_hash(FILE_HASH_INIT, "abc", 3);
    CHECK(c.hash == file_hash(file_hash(FILE_HASH_INIT, "a", 1), "bc", 2));
    CHECK(c.hash != file_hash(FILE_HASH_INIT, "abd", 3));
    file_cursor_format(&c, text);
    CHECK_INT(file_cursor_parse(text, &d), PLAT_OK);
    CHECK_INT(d.offset, 12345);
    CHECK_INT(d.lines, 67);
    CHECK(d.hash == c.hash);
    CHECK_INT(file_cursor_parse("12 3", &d), ERR_INVALID);
    CHECK_INT(file_cursor_parse("12 3 ab x", &d), ERR_INVALID);
    CHECK_INT(file_cursor_parse("-1 3 ab", &d), ERR_INVALID);
    CHECK_INT(file_cursor_parse(NULL, &d), ERR_INVALID);
}

#ifdef FILE_TEST_ENGINE
#include "test_file_engine.inc"
#else
#define FILE_ENGINE_TESTS
#endif

TEST_MAIN(TEST(test_parse_ok), TEST(test_parse_bad), TEST(test_format_op),
          TEST(test_names), TEST(test_cursor) FILE_ENGINE_TESTS)
