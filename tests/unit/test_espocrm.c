/* test_espocrm.c - the EspoCRM connector's pure helpers (espo.h), without
 * a network: HMAC signing (the contract's worked example), signed paths,
 * times, list queries, the mapping file, value conversion and comparison,
 * and the last-seen state. */
#include "testlib.h"

#include "espo.h"
#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"

#include <cjson/cJSON.h>
#include <string.h>


/* shared/contracts/espocrm-api.md 2.2: apiKey k123, secret s456,
 * GET /api/v1/Contact?maxSize=5 -> base64("k123:" + hex(HMAC-SHA256(
 * "s456", "GET /Contact"))). */
static void test_hmac_worked_example(void)
{
    char out[256];

    CHECK_INT(espo_hmac_value("k123", "s456", "GET",
                              "/api/v1/Contact?maxSize=5", 0, out,
                              sizeof(out)), PLAT_OK);
    CHECK_STR(out, "azEyMzo5ZGJkMzdlMTZiZmY2ZWM4ZmM2NmM2ZGYwNTE1MmI3NmRjMj"
                   "BkMmY0YjM2NjIxZTVmNzMzZjViMzcyMmY2N2Fl");
    /* the legacy raw digest: "k123:" + 32 bytes -> 52 base64 chars */
    CHECK_INT(espo_hmac_value("k123", "s456", "GET", "/api/v1/Contact", 1,
                              out, sizeof(out)), PLAT_OK);
    CHECK_INT((int)strlen(out), 52);
    CHECK(strncmp(out, "azEyMz", 6) == 0);
    /* too small a buffer is an error, never a cut header */
    CHECK(espo_hmac_value("k123", "s456", "GET", "/api/v1/Contact", 0, out,
                          20) < 0);
}

static void test_sign_path(void)
{
    char p[64];

    CHECK_INT(espo_sign_path("/api/v1/Contact?maxSize=5", p, sizeof(p)),
              PLAT_OK);
    CHECK_STR(p, "/Contact");
    CHECK_INT(espo_sign_path("/api/v1/Contact/6650f1c2a1b2c3d4e", p,
                             sizeof(p)), PLAT_OK);
    CHECK_STR(p, "/Contact/6650f1c2a1b2c3d4e");
    CHECK_INT(espo_sign_path("/crm/api/v1/Lead/action/convert", p,
                             sizeof(p)), PLAT_OK);
    CHECK_STR(p, "/Lead/action/convert");
    CHECK(espo_sign_path("/Contact", p, sizeof(p)) < 0);
    CHECK(espo_sign_path("/api/v1/Contact", p, 5) < 0);
    plat_err_clear();
}

static void test_times(void)
{
    int64_t t = 0;
    char out[ESPO_TIME_LEN];

    CHECK_INT(espo_time_parse("2026-05-01 10:00:00", &t), PLAT_OK);
    CHECK(t == 1777629600);
    espo_time_format(t - 5, out);
    CHECK_STR(out, "2026-05-01 09:59:55");
    CHECK(espo_time_parse("2026-05-01T10:00:00", &t) < 0);
    CHECK(espo_time_parse("2026-05-01 10:00:00Z", &t) < 0);
    CHECK(espo_time_parse("", &t) < 0);
    /* Found by fuzz_answers: signs, spaces and impossible dates. */
    CHECK(espo_time_parse("2026-01-06 03:\r4:05", &t) < 0);
    CHECK(espo_time_parse("2026-01-06 -3:04:05", &t) < 0);
    CHECK(espo_time_parse("2026-02-30 00:00:00", &t) < 0);
    CHECK(espo_time_parse("2025-02-29 00:00:00", &t) < 0);
    CHECK_INT(espo_time_parse("2024-02-29 23:59:59", &t), PLAT_OK);
    plat_err_clear();
}

static void test_list_query(void)
{
    struct plat_buf b;

    plat_buf_init(&b, 0);
    CHECK_INT(espo_list_query(&b, "id,modifiedAt", 200, 400,
                              "2026-05-01 10:00:00"), PLAT_OK);
    CHECK_STR(b.data, "maxSize=200&offset=400&orderBy=modifiedAt&order=asc"
              "&select=id,modifiedAt"
              "&where%5B0%5D%5Btype%5D=greaterThanOrEquals"
              "&where%5B0%5D%5Battribute%5D=modifiedAt"
              "&where%5B0%5D%5Bvalue%5D=2026-05-01%2010:00:00");
    plat_buf_dispose(&b);
    plat_buf_init(&b, 0);
    CHECK_INT(espo_list_query(&b, "id", 50, 0, NULL), PLAT_OK);
    CHECK(strstr(b.data, "where") == NULL);
    plat_buf_dispose(&b);
}

static void test_mapping(void)
{
    struct espo_map m;
    cJSON *prog;

    CHECK_INT(espo_map_parse("{\"name\":\"fullName\",\"phoneNumber\":"
                             "\"phoneNumber\",\"cDistrict\":{\"field\":"
                             "\"district\",\"values\":{\"north\":\"North\","
                             "\"south\":\"South\"}},\"cSize\":{\"field\":"
                             "\"householdSize\",\"type\":\"number\","
                             "\"direction\":\"121-to-espo\"}}", &m),
              PLAT_OK);
    REQUIRE(m.n == 4);
    CHECK_STR(m.v[0].f121, "fullName");
    CHECK_INT(m.v[0].dir, ESPO_DIR_BOTH);
    CHECK_INT(m.v[1].type, ESPO_TYPE_PHONE);
    CHECK_INT(m.v[3].dir, ESPO_DIR_FROM_121);
    CHECK_INT(m.v[3].type, ESPO_TYPE_NUMBER);
    prog = cJSON_Parse("{\"programRegistrationAttributes\":["
                       "{\"name\":\"fullName\"},{\"name\":\"phoneNumber\"},"
                       "{\"name\":\"householdSize\"},{\"name\":\"district\","
                       "\"options\":[{\"option\":\"north\"},{\"option\":"
                       "\"south\"}]}]}");
    CHECK_INT(espo_map_check_program(&m, prog), PLAT_OK);
    espo_map_dispose(&m);
    CHECK_INT(espo_map_parse("{\"cDistrict\":{\"field\":\"district\","
                             "\"values\":{\"east\":\"East\"}}}", &m),
              PLAT_OK);
    CHECK_INT(espo_map_check_program(&m, prog), ERR_CONFIG);
    espo_map_dispose(&m);
    CHECK_INT(espo_map_parse("{\"x\":\"nope\"}", &m), PLAT_OK);
    CHECK_INT(espo_map_check_program(&m, prog), ERR_CONFIG);
    CHECK(strstr(plat_err_msg(), "nope") != NULL);
    espo_map_dispose(&m);
    cJSON_Delete(prog);
    CHECK_INT(espo_map_parse("[]", &m), ERR_CONFIG);
    CHECK_INT(espo_map_parse("{}", &m), ERR_CONFIG);
    CHECK_INT(espo_map_parse("{\"a\":\"status\"}", &m), ERR_CONFIG);
    CHECK_INT(espo_map_parse("{\"a\":\"x\",\"b\":\"x\"}", &m), ERR_CONFIG);
    CHECK_INT(espo_map_parse("{\"a\":{\"field\":\"x\",\"direction\":"
                             "\"sideways\"}}", &m), ERR_CONFIG);
    CHECK_INT(espo_map_parse("{\"a\":{\"field\":\"x\",\"values\":{\"n\":1}}}",
                             &m), ERR_CONFIG);
    plat_err_clear();
}

static void test_values(void)
{
    struct espo_map m;
    cJSON *v, *e, *a, *b;
    char *t;

    REQUIRE(espo_map_parse("{\"phoneNumber\":\"phoneNumber\",\"cDistrict\":"
                           "{\"field\":\"district\",\"values\":{\"north\":"
                           "\"North\"}},\"cSize\":{\"field\":"
                           "\"householdSize\",\"type\":\"number\"}}", &m) ==
            PLAT_OK);
    /* enum: option key <-> 121 value */
    e = cJSON_CreateString("North");
    v = espo_to_121(&m.v[1], e);
    CHECK_STR(v->valuestring, "north");
    a = espo_from_121(&m.v[1], v);
    CHECK_STR(a->valuestring, "North");
    cJSON_Delete(e);
    cJSON_Delete(v);
    cJSON_Delete(a);
    /* number: 121 text <-> EspoCRM number */
    e = cJSON_CreateNumber(4);
    v = espo_to_121(&m.v[2], e);
    CHECK_STR(v->valuestring, "4");
    a = espo_from_121(&m.v[2], v);
    CHECK(cJSON_IsNumber(a) && a->valuedouble == 4);
    cJSON_Delete(e);
    cJSON_Delete(v);
    cJSON_Delete(a);
    /* phone numbers compare by digits, for comparison only */
    a = cJSON_CreateString("+31 6 1234 5678");
    b = cJSON_CreateString("0031612345678");
    CHECK(espo_same(&m.v[0], a, b));
    CHECK(!espo_same(&m.v[1], a, b));
    cJSON_Delete(b);
    b = cJSON_CreateString("31612345679");
    CHECK(!espo_same(&m.v[0], a, b));
    cJSON_Delete(a);
    cJSON_Delete(b);
    /* null equals "" */
    a = cJSON_CreateNull();
    b = cJSON_CreateString("");
    CHECK(espo_same(NULL, a, b));
    CHECK(espo_same(NULL, NULL, b));
    cJSON_Delete(a);
    cJSON_Delete(b);
    espo_map_dispose(&m);
    (void)t;
}

static void test_seen(void)
{
    struct espo_seen s;
    char *t;

    CHECK_INT(espo_seen_parse(NULL, &s), PLAT_OK);
    CHECK_INT((int)s.v, -1);
    CHECK(s.e && s.p);
    snprintf(s.m, sizeof(s.m), "2026-03-02 07:20:11");
    s.v = 3;
    cJSON_AddStringToObject(s.e, "firstName", "Amina");
    t = espo_seen_format(&s);
    REQUIRE(t);
    CHECK_STR(t, "{\"m\":\"2026-03-02 07:20:11\",\"v\":3,\"e\":{\"firstName\""
              ":\"Amina\"}}");
    espo_seen_dispose(&s);
    CHECK_INT(espo_seen_parse(t, &s), PLAT_OK);
    CHECK_STR(s.m, "2026-03-02 07:20:11");
    CHECK_INT((int)s.v, 3);
    CHECK_STR(cJSON_GetObjectItem(s.e, "firstName")->valuestring, "Amina");
    espo_seen_dispose(&s);
    plat_free(t);
    CHECK(espo_seen_parse("[1]", &s) < 0);
    plat_err_clear();
}

TEST_MAIN(TEST(test_hmac_worked_example), TEST(test_sign_path),
          TEST(test_times), TEST(test_list_query), TEST(test_mapping),
          TEST(test_values), TEST(test_seen))
