/*
 * test_validate.c - registration input checked for form and against the
 * program definition (tests/data/program.json: program 3 of the 121
 * fixtures) by c121_validate_fields, with the program JSON as the store
 * keeps it (store_program_get), and storing that definition. Messages name the field and
 * never repeat the value.
 */
#include "testlib.h"
#include "testutil.h"

#include "c121_model.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "store.h"
#include "store_program.h"

#include <cjson/cJSON.h>
#include <unistd.h>

#ifndef AGENT_TESTS_DATA
#error "AGENT_TESTS_DATA must name tests/data"
#endif

static char *dir;
static struct store *st;

static char *tmpdir_make(void)
{
    return testutil_tmpdir("agent-test-validate");
}

static cJSON *load_program(void)
{
    char *text = NULL;
    cJSON *p;

    if (plat_fs_read_file(AGENT_TESTS_DATA "/program.json", 1 << 20, &text,
                          NULL) != PLAT_OK) {
        fprintf(stderr, "cannot read program.json: %s\n", plat_err_msg());
        return NULL;
    }
    p = cJSON_Parse(text);
    plat_free(text);
    return p;
}

/* A fresh store, with program 3 stored when `with_program`. */
static int setup(int with_program)
{
    struct store_options opt = {STORE_CREATE, 0, 0, 0};
    char *path;
    cJSON *p;
    int rc;

    dir = tmpdir_make();
    path = plat_asprintf("%s/store.db", dir);
    rc = path ? store_open(&st, path, &opt) : ERR_NOMEM;
    plat_free(path);
    if (rc < 0 || !with_program)
        return rc;
    p = load_program();
    rc = p ? store_program_put(st, p, "W/\"etag-1\"") : ERR_INVALID;
    cJSON_Delete(p);
    return rc;
}

static void teardown(void)
{
    store_close(st);
    st = NULL;
    testutil_tmpdir_remove(dir);
    dir = NULL;
}

/* c121_validate_fields with program 3 as stored (NULL when none is
 * stored: *no_program, may be NULL, receives 1). */
static int validate_stored(const cJSON *f, int mode, int *no_program)
{
    cJSON *prog = NULL;
    int rc;

    if (no_program)
        *no_program = 0;
    rc = store_program_get(st, 3, &prog, NULL);
    if (rc == ERR_NOTFOUND) {
        if (no_program)
            *no_program = 1;
        prog = NULL;
    } else if (rc < 0) {
        return rc;
    }
    rc = c121_validate_fields(prog, f, mode);
    cJSON_Delete(prog);
    return rc;
}

/* Validate `json`; *no_program receives the flag. */
static int check(const char *json, int mode, int *no_program)
{
    cJSON *f = cJSON_Parse(json);
    int rc;

    if (!f) {
        fprintf(stderr, "bad test JSON: %s\n", json);
        return -100;
    }
    rc = validate_stored(f, mode, no_program);
    cJSON_Delete(f);
    return rc;
}

static int create_ok(const char *extra, int *np)
{
    char json[512];

    snprintf(json, sizeof(json),
             "{\"fullName\":\"Test Person\",\"phoneNumber\":\"+31600000001\","
             "\"programFspConfigurationName\":\"Intersolve-voucher-paper\""
             "%s%s}",
             extra[0] ? "," : "", extra);
    return check(json, C121_VALIDATE_CREATE, np);
}

static int msg_has(const char *s)
{
    return strstr(plat_err_msg(), s) != NULL;
}

static void test_no_program(void)
{
    int np = -1;

    REQUIRE(setup(0) == PLAT_OK);
    CHECK_INT(check("{\"anything\":\"goes\",\"n\":4}", C121_VALIDATE_CREATE,
                    &np), PLAT_OK);
    CHECK_INT(np, 1);
    /* Form is still checked. */
    CHECK_INT(check("{\"a\":{\"b\":1}}", C121_VALIDATE_CREATE, &np),
              ERR_INVALID);
    CHECK(msg_has("field a: expected a string, number, boolean or null, got "
                  "an object"));
    teardown();
}

static void test_valid_create(void)
{
    int np = -1;

    REQUIRE(setup(1) == PLAT_OK);
    CHECK_INT(create_ok("", &np), PLAT_OK);
    CHECK_INT(np, 0);
    CHECK_INT(create_ok("\"householdSize\":\"4\",\"district\":\"north\","
                        "\"preferredLanguage\":\"NL\","
                        "\"paymentAmountMultiplier\":2,\"maxPayments\":\"6\","
                        "\"referenceId\":\"ref-00003\"", &np), PLAT_OK);
    CHECK_INT(create_ok("\"householdSize\":4.5,\"district\":null", &np),
              PLAT_OK);
    teardown();
}

static void test_required_missing(void)
{
    REQUIRE(setup(1) == PLAT_OK);
    CHECK_INT(check("{\"phoneNumber\":\"+31600000001\","
                    "\"programFspConfigurationName\":"
                    "\"Intersolve-voucher-paper\"}",
                    C121_VALIDATE_CREATE, NULL), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "field fullName is required by program 3");
    CHECK_INT(check("{\"fullName\":\"\",\"phoneNumber\":\"+31600000001\","
                    "\"programFspConfigurationName\":"
                    "\"Intersolve-voucher-paper\"}",
                    C121_VALIDATE_CREATE, NULL), ERR_INVALID);
    CHECK(msg_has("fullName is required"));
    /* Edits need not repeat required fields, but cannot clear them. */
    CHECK_INT(check("{\"householdSize\":\"5\"}", C121_VALIDATE_EDIT, NULL),
              PLAT_OK);
    CHECK_INT(check("{\"phoneNumber\":null}", C121_VALIDATE_EDIT, NULL),
              ERR_INVALID);
    CHECK(msg_has("field phoneNumber is required by program 3 and cannot be "
                  "cleared"));
    teardown();
}

static void test_unknown_field(void)
{
    REQUIRE(setup(1) == PLAT_OK);
    CHECK_INT(create_ok("\"favouriteColour\":\"blue\"", NULL), ERR_INVALID);
    CHECK_STR(plat_err_msg(),
              "field favouriteColour is not an attribute of program 3");
    CHECK_INT(check("{\"status\":\"included\"}", C121_VALIDATE_EDIT, NULL),
              ERR_INVALID);
    CHECK(msg_has("agent registrations status"));
    CHECK_INT(check("{\"referenceId\":\"ref-00009\"}", C121_VALIDATE_EDIT,
                    NULL), ERR_INVALID);
    CHECK(msg_has("referenceId cannot be edited"));
    CHECK_INT(create_ok("\"referenceId\":\"r$1234\"", NULL), ERR_INVALID);
    CHECK(msg_has("referenceId"));
    teardown();
}

static void test_dropdown(void)
{
    REQUIRE(setup(1) == PLAT_OK);
    CHECK_INT(create_ok("\"district\":\"Secret Valley\"", NULL), ERR_INVALID);
    CHECK_STR(plat_err_msg(),
              "field district: value is not one of its options (north, "
              "south)");
    CHECK(!msg_has("Secret Valley"));
    CHECK_INT(create_ok("\"district\":\"North\"", NULL), ERR_INVALID);
    CHECK_INT(check("{\"district\":\"south\"}", C121_VALIDATE_EDIT, NULL),
              PLAT_OK);
    teardown();
}

static void test_language(void)
{
    REQUIRE(setup(1) == PLAT_OK);
    CHECK_INT(create_ok("\"preferredLanguage\":\"xx\"", NULL), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "field preferredLanguage: not one of the "
                              "languages of program 3 (en, nl)");
    CHECK_INT(create_ok("\"preferredLanguage\":\"en\"", NULL), PLAT_OK);
    CHECK_INT(create_ok("\"preferredLanguage\":\"En\"", NULL), PLAT_OK);
    teardown();
}

static void test_fsp_configuration(void)
{
    REQUIRE(setup(1) == PLAT_OK);
    CHECK_INT(check("{\"fullName\":\"A\",\"phoneNumber\":\"+31600000001\","
                    "\"programFspConfigurationName\":\"Bank-X\"}",
                    C121_VALIDATE_CREATE, NULL), ERR_INVALID);
    CHECK_STR(plat_err_msg(),
              "field programFspConfigurationName: not one of the FSP "
              "configurations of program 3 (Intersolve-voucher-paper)");
    CHECK_INT(check("{\"fullName\":\"A\",\"phoneNumber\":\"+31600000001\"}",
                    C121_VALIDATE_CREATE, NULL), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "field programFspConfigurationName is required "
                              "(one of: Intersolve-voucher-paper)");
    CHECK_INT(check("{\"programFspConfigurationName\":\"\"}",
                    C121_VALIDATE_EDIT, NULL), ERR_INVALID);
    teardown();
}

static void test_numeric_and_tel(void)
{
    REQUIRE(setup(1) == PLAT_OK);
    CHECK_INT(create_ok("\"householdSize\":\"four\"", NULL), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "field householdSize: expected a number");
    CHECK_INT(create_ok("\"householdSize\":\"4\"", NULL), PLAT_OK);
    CHECK_INT(create_ok("\"householdSize\":\"-2.50\"", NULL), PLAT_OK);
    CHECK_INT(create_ok("\"householdSize\":\"1e5\"", NULL), ERR_INVALID);
    CHECK_INT(create_ok("\"householdSize\":true", NULL), ERR_INVALID);
    /* Numbers 121 cannot keep exactly are refused, as JSON or as text. */
    CHECK_INT(create_ok("\"householdSize\":1e308", NULL), ERR_INVALID);
    CHECK(msg_has("field householdSize: number out of range"));
    CHECK_INT(create_ok("\"householdSize\":-1e20", NULL), ERR_INVALID);
    CHECK_INT(create_ok("\"householdSize\":\"1000000000000000000000\"",
                        NULL), ERR_INVALID);
    CHECK_INT(create_ok("\"householdSize\":9007199254740991", NULL),
              PLAT_OK);
    CHECK_INT(create_ok("\"householdSize\":4.5", NULL), PLAT_OK);
    CHECK_INT(check("{\"phoneNumber\":\"call me\"}", C121_VALIDATE_EDIT,
                    NULL), ERR_INVALID);
    CHECK(msg_has("field phoneNumber: not a phone number"));
    CHECK(!msg_has("call me"));
    CHECK_INT(check("{\"phoneNumber\":\"+31 (6) 1234-5678\"}",
                    C121_VALIDATE_EDIT, NULL), PLAT_OK);
    CHECK_INT(check("{\"phoneNumber\":\"+31\"}", C121_VALIDATE_EDIT, NULL),
              ERR_INVALID);
    CHECK_INT(create_ok("\"paymentAmountMultiplier\":0", NULL), ERR_INVALID);
    CHECK(msg_has("paymentAmountMultiplier"));
    teardown();
}

static void test_form(void)
{
    char *big, *json;
    int np = -1;

    REQUIRE(setup(1) == PLAT_OK);
    CHECK_INT(create_ok("\"householdSize\":[1,2]", NULL), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "field householdSize: expected a string, "
                              "number, boolean or null, got an array");
    CHECK_INT(create_ok("\"fullName\":{\"first\":\"A\"}", NULL),
              ERR_INVALID);
    CHECK(msg_has("got an object"));

    /* Invalid UTF-8: cJSON passes the bytes through. */
    CHECK_INT(check("{\"fullName\":\"Ren\xe9\"}", C121_VALIDATE_EDIT, NULL),
              ERR_INVALID);
    CHECK_STR(plat_err_msg(), "field fullName: value is not valid UTF-8 (bad "
                              "byte at offset 3)");
    CHECK_INT(check("{\"fullName\":\"Ren\xc3\xa9\"}", C121_VALIDATE_EDIT,
                    NULL), PLAT_OK);

    /* A 1 MB value. */
    big = plat_malloc(1048576 + 1);
    REQUIRE(big);
    memset(big, 'x', 1048576);
    big[1048576] = '\0';
    json = plat_asprintf("{\"fullName\":\"%s\"}", big);
    REQUIRE(json);
    CHECK_INT(check(json, C121_VALIDATE_EDIT, &np), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "field fullName: value is 1048576 bytes, more "
                              "than the 10000 allowed");
    plat_free(json);
    plat_free(big);

    CHECK_INT(check("{\"full name\":\"A\"}", C121_VALIDATE_EDIT, NULL),
              ERR_INVALID);
    CHECK(msg_has("field name \"full name\" is not valid"));
    CHECK_INT(check("{\"\":\"A\"}", C121_VALIDATE_EDIT, NULL), ERR_INVALID);
    CHECK(msg_has("field name number 1 is not valid"));
    CHECK_INT(check("{\"fullName\":\"A\",\"fullName\":\"B\"}",
                    C121_VALIDATE_EDIT, NULL), ERR_INVALID);
    CHECK(msg_has("given more than once"));
    CHECK_INT(check("{}", C121_VALIDATE_EDIT, NULL), ERR_INVALID);
    CHECK_INT(check("[1]", C121_VALIDATE_CREATE, NULL), ERR_INVALID);
    CHECK_INT(check("{\"a\":1}", 7, NULL), ERR_INVALID);
    teardown();
}

static void test_program_put_get(void)
{
    cJSON *p, *got = NULL, *t;
    char *etag = NULL;

    REQUIRE(setup(1) == PLAT_OK);
    CHECK_INT(store_program_get(st, 3, &got, &etag), PLAT_OK);
    REQUIRE(got);
    CHECK_STR(etag, "W/\"etag-1\"");
    CHECK(cJSON_GetObjectItemCaseSensitive(got, "languages") != NULL);
    cJSON_Delete(got);
    got = NULL;
    plat_free(etag);
    CHECK_INT(store_program_get(st, 4, &got, NULL), ERR_NOTFOUND);

    /* Replacing the program replaces its attributes. */
    p = cJSON_Parse("{\"id\":3,\"languages\":[\"fr\"],"
                    "\"programRegistrationAttributes\":[{\"name\":"
                    "\"nickname\",\"type\":\"text\",\"isRequired\":true}],"
                    "\"programFspConfigurations\":[{\"name\":\"Cash\","
                    "\"fspName\":\"Cash\"}]}");
    REQUIRE(p);
    CHECK_INT(store_program_put(st, p, NULL), PLAT_OK);
    cJSON_Delete(p);
    CHECK_INT(check("{\"nickname\":\"A\",\"programFspConfigurationName\":"
                    "\"Cash\",\"preferredLanguage\":\"fr\"}",
                    C121_VALIDATE_CREATE, NULL), PLAT_OK);
    CHECK_INT(check("{\"fullName\":\"A\"}", C121_VALIDATE_EDIT, NULL),
              ERR_INVALID);

    p = cJSON_Parse("{\"programRegistrationAttributes\":[]}");
    CHECK_INT(store_program_put(st, p, NULL), ERR_INVALID);
    CHECK_STR(plat_err_msg(),
              "program: field id is missing or not a positive integer");
    cJSON_Delete(p);
    p = cJSON_Parse("{\"id\":3,\"programRegistrationAttributes\":[{\"type\":"
                    "\"text\"}]}");
    CHECK_INT(store_program_put(st, p, NULL), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "program: field programRegistrationAttributes"
                              "[0].name is missing or not a string");
    cJSON_Delete(p);
    p = cJSON_Parse("{\"id\":3}");
    CHECK_INT(store_program_put(st, p, NULL), ERR_INVALID);
    CHECK(msg_has("programRegistrationAttributes"));
    cJSON_Delete(p);
    /* The failed puts left the program as it was. */
    CHECK_INT(check("{\"nickname\":\"B\"}", C121_VALIDATE_EDIT, NULL),
              PLAT_OK);

    t = cJSON_Parse("[{\"type\":\"new\",\"language\":\"en\",\"message\":"
                    "\"Hello\"},{\"type\":\"included\",\"language\":\"nl\","
                    "\"message\":\"Hallo\"}]");
    CHECK_INT(store_program_put_templates(st, 3, t), PLAT_OK);
    cJSON_Delete(t);
    t = cJSON_Parse("[{\"type\":\"new\"}]");
    CHECK_INT(store_program_put_templates(st, 3, t), ERR_INVALID);
    CHECK(msg_has("language"));
    cJSON_Delete(t);
    teardown();
}

/* Each allocation failing in turn: ERR_NOMEM, never a crash or a leak
 * (the sanitizer build checks the latter). */
static void test_alloc_failures(void)
{
    cJSON *f, *p;
    long n;
    int rc = -1;

    REQUIRE(setup(1) == PLAT_OK);
    f = cJSON_Parse("{\"fullName\":\"A\",\"phoneNumber\":\"+316000\","
                    "\"programFspConfigurationName\":"
                    "\"Intersolve-voucher-paper\",\"district\":\"north\"}");
    p = load_program();
    REQUIRE(f && p);
    for (n = 0; n < 500; n++) {
        plat_alloc_fail_after(n);
        rc = c121_validate_fields(p, f, C121_VALIDATE_CREATE);
        plat_alloc_fail_after(-1);
        if (rc == PLAT_OK)
            break;
        CHECK_INT(rc, ERR_NOMEM);
    }
    CHECK_INT(rc, PLAT_OK);
    for (n = 0; n < 2000; n++) {
        plat_alloc_fail_after(n);
        rc = store_program_put(st, p, "e");
        plat_alloc_fail_after(-1);
        if (rc == PLAT_OK)
            break;
        CHECK_INT(rc, ERR_NOMEM);
    }
    CHECK_INT(rc, PLAT_OK);
    cJSON_Delete(f);
    cJSON_Delete(p);
    teardown();
}

TEST_MAIN(TEST(test_no_program), TEST(test_valid_create),
          TEST(test_required_missing), TEST(test_unknown_field),
          TEST(test_dropdown), TEST(test_language),
          TEST(test_fsp_configuration), TEST(test_numeric_and_tel),
          TEST(test_form), TEST(test_program_put_get),
          TEST(test_alloc_failures))
