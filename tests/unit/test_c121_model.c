/*
 * test_c121_model.c - the 121 model as pure functions (c121_model.h):
 * status table, event typing and application, value comparison (phone
 * numbers), range and NUL checks on input. No store, no network.
 */
#include "testlib.h"

#include "c121_model.h"
#include "plat_alloc.h"
#include "plat_err.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static const char *program_json =
    "{\"id\":3,\"languages\":[\"en\",\"nl\"],"
    "\"programFspConfigurations\":[{\"name\":\"Cash\",\"fspName\":\"Cash\"}],"
    "\"programRegistrationAttributes\":["
    "{\"name\":\"fullName\",\"type\":\"text\",\"isRequired\":true},"
    "{\"name\":\"whatsappPhoneNumber\",\"type\":\"tel\",\"isRequired\":false},"
    "{\"name\":\"householdSize\",\"type\":\"numeric\",\"isRequired\":false},"
    "{\"name\":\"district\",\"type\":\"dropdown\",\"options\":["
    "{\"option\":\"north\"},{\"option\":\"south\"}]}]}";

static void test_status_table(void)
{
    CHECK(c121_status_known("new"));
    CHECK(c121_status_known("completed"));
    CHECK(!c121_status_known("active"));
    CHECK(!c121_status_known(NULL));
    CHECK(c121_status_transition_allowed("new", "included"));
    CHECK(c121_status_transition_allowed("paused", "validated"));
    CHECK(!c121_status_transition_allowed("validated", "paused"));
    CHECK(!c121_status_transition_allowed("deleted", "included"));
    CHECK(!c121_status_transition_allowed("new", "bogus"));
    CHECK(c121_status_settable("deleted"));
    CHECK(!c121_status_settable("completed"));
    CHECK(!c121_status_settable("new"));
    CHECK(c121_status_reason_required("declined"));
    CHECK(c121_status_reason_required("paused"));
    CHECK(!c121_status_reason_required("included"));
    CHECK_STR(c121_status_targets("declined"), "included, deleted");
    CHECK_STR(c121_status_targets("deleted"), "");
    CHECK_STR(c121_status_targets("nonsense"), "");
}

static void test_copy_status(void)
{
    cJSON *r = cJSON_Parse("{\"status\":null}");

    REQUIRE(r);
    CHECK_STR(c121_copy_status(r), "new");
    cJSON_ReplaceItemInObject(r, "status", cJSON_CreateString("included"));
    CHECK_STR(c121_copy_status(r), "included");
    CHECK_STR(c121_copy_status(NULL), "new");
    cJSON_Delete(r);
}

static void test_event_value(void)
{
    cJSON *reg = cJSON_Parse("{\"paymentCount\":1,\"flag\":false,"
                             "\"score\":3,\"name\":\"x\"}");
    cJSON *v;

    REQUIRE(reg);
    v = c121_event_value(reg, "maxPayments", "4");
    CHECK(cJSON_IsNumber(v) && v->valuedouble == 4);
    cJSON_Delete(v);
    v = c121_event_value(reg, "score", "7.5");
    CHECK(cJSON_IsNumber(v) && v->valuedouble == 7.5);
    cJSON_Delete(v);
    v = c121_event_value(reg, "score", "many");
    CHECK(cJSON_IsString(v));
    cJSON_Delete(v);
    v = c121_event_value(reg, "flag", "true");
    CHECK(cJSON_IsTrue(v));
    cJSON_Delete(v);
    v = c121_event_value(reg, "name", "12");
    CHECK(cJSON_IsString(v) && strcmp(v->valuestring, "12") == 0);
    cJSON_Delete(v);
    v = c121_event_value(reg, "name", NULL);
    CHECK(cJSON_IsNull(v));
    cJSON_Delete(v);
    /* Not finite: kept as text, never inf. */
    v = c121_event_value(reg, "maxPayments", "1e999");
    CHECK(cJSON_IsString(v));
    cJSON_Delete(v);
    cJSON_Delete(reg);
}

static void test_apply_event(void)
{
    cJSON *reg = cJSON_Parse(
        "{\"referenceId\":\"ref-1\",\"programId\":3,\"status\":\"included\","
        "\"name\":\"Some Body\",\"fullName\":\"Some Body\","
        "\"phoneNumber\":\"31600000001\",\"maxPayments\":null,"
        "\"paymentCount\":2,\"paymentCountRemaining\":null,"
        "\"preferredLanguage\":\"en\"}");
    const cJSON *v;

    REQUIRE(reg);
    CHECK_INT(c121_apply_event(reg, "maxPayments", "5"), PLAT_OK);
    v = cJSON_GetObjectItemCaseSensitive(reg, "paymentCountRemaining");
    CHECK(cJSON_IsNumber(v) && v->valuedouble == 3);
    CHECK_INT(c121_apply_event(reg, "maxPayments", NULL), PLAT_OK);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
        reg, "paymentCountRemaining")));

    CHECK_INT(c121_apply_event(reg, "referenceId", "x"), ERR_INVALID);
    CHECK_INT(c121_apply_event(reg, "id", "9"), ERR_INVALID);
    CHECK_INT(c121_apply_event(reg, "programId", "9"), ERR_INVALID);
    CHECK_INT(c121_apply_event(reg, "", "9"), ERR_INVALID);

    /* Deleted: attributes erased, registration fields kept. */
    CHECK_INT(c121_mark_deleted(reg, NULL), PLAT_OK);
    CHECK_STR(c121_copy_status(reg), "deleted");
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(reg, "fullName")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(reg,
                                                        "phoneNumber")));
    v = cJSON_GetObjectItemCaseSensitive(reg, "name");
    CHECK(cJSON_IsString(v) && v->valuestring[0] == '\0');
    v = cJSON_GetObjectItemCaseSensitive(reg, "preferredLanguage");
    CHECK(cJSON_IsString(v) && strcmp(v->valuestring, "en") == 0);
    v = cJSON_GetObjectItemCaseSensitive(reg, "referenceId");
    CHECK(cJSON_IsString(v) && strcmp(v->valuestring, "ref-1") == 0);
    cJSON_Delete(reg);
}

static void test_apply_event_fn(void)
{
    struct c121_event ev = {"status", "paused"};
    cJSON *reg = cJSON_Parse("{\"status\":\"included\"}");

    REQUIRE(reg);
    CHECK_INT(c121_apply_event_fn(reg, &ev), PLAT_OK);
    CHECK_STR(c121_copy_status(reg), "paused");
    CHECK_INT(c121_apply_event_fn(reg, NULL), ERR_INVALID);
    cJSON_Delete(reg);
}

static void test_same_value_and_field(void)
{
    cJSON *prog = cJSON_Parse(program_json);
    cJSON *a = cJSON_CreateString("4"), *b = cJSON_CreateNumber(4);
    cJSON *t = cJSON_CreateTrue(), *ts = cJSON_CreateString("true");
    cJSON *n = cJSON_CreateNull(), *e = cJSON_CreateString("");
    cJSON *p1 = cJSON_CreateString("+31 6 1234 5678");
    cJSON *p2 = cJSON_CreateString("31612345678");
    cJSON *p3 = cJSON_CreateString("0031612345678");
    cJSON *p4 = cJSON_CreateString("31612345679");

    REQUIRE(prog && a && b && t && ts && n && e && p1 && p2 && p3 && p4);
    CHECK(c121_same_value(a, b));
    CHECK(c121_same_value(t, ts));
    CHECK(c121_same_value(n, e));
    CHECK(c121_same_value(NULL, n));
    CHECK(!c121_same_value(a, e));
    CHECK(!c121_same_value(p1, p2));

    CHECK(c121_is_tel(NULL, "phoneNumber"));
    CHECK(c121_is_tel(prog, "whatsappPhoneNumber"));
    CHECK(!c121_is_tel(prog, "fullName"));
    CHECK(!c121_is_tel(NULL, "whatsappPhoneNumber"));

    CHECK(c121_same_field(prog, "phoneNumber", p1, p2));
    CHECK(c121_same_field(NULL, "phoneNumber", p3, p2));
    CHECK(c121_same_field(prog, "whatsappPhoneNumber", p1, p2));
    CHECK(!c121_same_field(prog, "whatsappPhoneNumber", p1, p4));
    CHECK(!c121_same_field(prog, "fullName", p1, p2));
    CHECK(!c121_same_field(NULL, "whatsappPhoneNumber", p1, p2));
    CHECK(c121_same_field(prog, "fullName", a, b));

    cJSON_Delete(prog);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(t);
    cJSON_Delete(ts);
    cJSON_Delete(n);
    cJSON_Delete(e);
    cJSON_Delete(p1);
    cJSON_Delete(p2);
    cJSON_Delete(p3);
    cJSON_Delete(p4);
}

static int validate(const cJSON *prog, const char *json, int mode)
{
    cJSON *f = cJSON_Parse(json);
    int rc;

    if (!f)
        return -100;
    rc = c121_validate_fields(prog, f, mode);
    cJSON_Delete(f);
    return rc;
}

static void test_validate_ranges(void)
{
    cJSON *prog = cJSON_Parse(program_json);
    cJSON *f;

    REQUIRE(prog);
    CHECK_INT(validate(prog, "{\"householdSize\":1e308}",
                       C121_VALIDATE_EDIT), ERR_INVALID);
    CHECK(strstr(plat_err_msg(), "householdSize") != NULL);
    CHECK(strstr(plat_err_msg(), "out of range") != NULL);
    CHECK_INT(validate(prog, "{\"householdSize\":\"-1e308\"}",
                       C121_VALIDATE_EDIT), ERR_INVALID);
    CHECK_INT(validate(prog, "{\"householdSize\":12}", C121_VALIDATE_EDIT),
              PLAT_OK);
    /* Without a program only the form is checked, but a number must still
     * be finite. */
    CHECK_INT(validate(NULL, "{\"householdSize\":1e308}",
                       C121_VALIDATE_EDIT), PLAT_OK);
    f = cJSON_CreateObject();
    REQUIRE(f);
    cJSON_AddNumberToObject(f, "householdSize", INFINITY);
    CHECK_INT(c121_validate_fields(NULL, f, C121_VALIDATE_EDIT), ERR_INVALID);
    CHECK(strstr(plat_err_msg(), "not finite") != NULL);
    cJSON_Delete(f);

    /* The required attribute and the FSP come from the program JSON. */
    CHECK_INT(validate(prog, "{\"programFspConfigurationName\":\"Cash\"}",
                       C121_VALIDATE_CREATE), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "field fullName is required by program 3");
    CHECK_INT(validate(prog, "{\"fullName\":\"A\",\"district\":\"east\","
                             "\"programFspConfigurationName\":\"Cash\"}",
                       C121_VALIDATE_CREATE), ERR_INVALID);
    CHECK_STR(plat_err_msg(), "field district: value is not one of its "
                              "options (north, south)");
    CHECK_INT(validate(prog, "{\"fullName\":\"A\",\"district\":\"north\","
                             "\"preferredLanguage\":\"NL\","
                             "\"programFspConfigurationName\":\"Cash\"}",
                       C121_VALIDATE_CREATE), PLAT_OK);
    CHECK_INT(validate(prog, "{\"fullName\":\"A\"}", 7), ERR_INVALID);
    cJSON_Delete(prog);
}

static void test_nul(void)
{
    static const char with_nul[] = "{\"a\":\"x\0y\"}";
    const char *esc = "{\"fullName\":\"A\\u0000B\"}";
    const char *escaped_bs = "{\"fullName\":\"A\\\\u0000B\"}";

    CHECK(c121_text_has_nul(with_nul, sizeof(with_nul) - 1));
    CHECK(c121_text_has_nul(esc, strlen(esc)));
    CHECK(!c121_text_has_nul(escaped_bs, strlen(escaped_bs)));
    CHECK(!c121_text_has_nul("{\"a\":\"\\u0001\"}", 14));
    CHECK(!c121_text_has_nul(NULL, 0));
}

/* Each allocation failing in turn: ERR_NOMEM, never a crash. */
static void test_alloc_failures(void)
{
    cJSON *reg;
    long n;
    int rc = -1;

    for (n = 0; n < 200; n++) {
        reg = cJSON_Parse("{\"status\":\"new\",\"fullName\":\"A\","
                          "\"phoneNumber\":\"1\",\"x\":\"y\"}");
        REQUIRE(reg);
        plat_alloc_fail_after(n);
        rc = c121_mark_deleted(reg, NULL);
        plat_alloc_fail_after(-1);
        cJSON_Delete(reg);
        if (rc == PLAT_OK)
            break;
        CHECK_INT(rc, ERR_NOMEM);
    }
    CHECK_INT(rc, PLAT_OK);
}

TEST_MAIN(TEST(test_status_table), TEST(test_copy_status),
          TEST(test_event_value), TEST(test_apply_event),
          TEST(test_apply_event_fn), TEST(test_same_value_and_field),
          TEST(test_validate_ranges), TEST(test_nul),
          TEST(test_alloc_failures))
