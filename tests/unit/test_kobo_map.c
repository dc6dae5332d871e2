/*
 * test_kobo_map.c - the Kobo connector's pure helpers (kobo_map.h): the
 * mapping file, kobo-connect's value rules, referenceIds, the check of a
 * mapping against the form and the program, edit diffs and request paths.
 * No network, no store. Fixtures: tests/fakekobo/{asset,data_page}.json
 * (copies of ../shared/contracts/fixtures/kobo/) and tests/data/program.json.
 */
#include "testlib.h"

#include "kobo_map.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static cJSON *load(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *j = NULL, *body;

    if (plat_fs_read_file(path, 1 << 22, &text, &len) == PLAT_OK)
        j = cJSON_Parse(text);
    plat_free(text);
    body = cJSON_GetObjectItemCaseSensitive(j, "body");   /* {"_http":...} */
    if (body) {
        body = cJSON_DetachItemViaPointer(j, body);
        cJSON_Delete(j);
        j = body;
    }
    return j;
}

static struct kobo_mapping *mapping(const char *text)
{
    struct kobo_mapping *m = NULL;
    char why[KOBO_WHY_MAX];

    if (kobo_mapping_parse(text, strlen(text), "map.json", &m, why,
                           sizeof(why)) != PLAT_OK)
        fprintf(stderr, "mapping: %s\n", why);
    return m;
}

static const cJSON *sub_n(const cJSON *page, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(page, "results"), i);
}

static void test_clean_and_fold(void)
{
    char out[64];

    kobo_clean_key("hh/Full_Name", out, sizeof(out));
    CHECK_STR(out, "full_name");
    kobo_clean_key("District", out, sizeof(out));
    CHECK_STR(out, "district");
    kobo_clean_key("a/b/c/Q", out, sizeof(out));
    CHECK_STR(out, "q");
    kobo_fold_scope("Éste-Région Ñorte", out, sizeof(out));
    CHECK_STR(out, "este-region norte");
    kobo_fold_scope("Kenya.Nairobi", out, sizeof(out));
    CHECK_STR(out, "kenya.nairobi");
    /* NFD: e + combining acute */
    kobo_fold_scope("Re\xcc\x81gion", out, sizeof(out));
    CHECK_STR(out, "region");
}

static void test_mapping_parse(void)
{
    struct kobo_mapping *m;
    char why[KOBO_WHY_MAX];

    m = mapping("{\n \"hh/Full_Name\": \"fullName\",\n \"fsp\": \"fspName\","
                "\n \"n\": \"maxPayments\", \"s\": \"scope\"}");
    REQUIRE(m);
    CHECK_INT((int)m->n, 4);
    CHECK_STR(m->v[0].key, "full_name");
    CHECK_INT(m->v[0].line, 2);
    CHECK_STR(m->v[1].attr, "programFspConfigurationName");
    CHECK_INT(m->v[1].line, 3);
    CHECK_INT(m->v[2].kind, KOBO_T_INT);
    CHECK_INT(m->v[3].kind, KOBO_T_SCOPE);
    kobo_mapping_free(m);

    m = NULL;
    CHECK_INT(kobo_mapping_parse("[1]", 3, "m.json", &m, why, sizeof(why)),
              ERR_INVALID);
    CHECK(strstr(why, "m.json") != NULL);
    CHECK_INT(kobo_mapping_parse("{\"a\": 1}", 8, "m.json", &m, why,
                                 sizeof(why)), ERR_INVALID);
    CHECK(strstr(why, "m.json:1: key 'a'") != NULL);
    CHECK_INT(kobo_mapping_parse("{\"a\": \"x\",\n\"A\": \"y\"}", 20,
                                 "m.json", &m, why, sizeof(why)),
              ERR_INVALID);
    CHECK(strstr(why, "m.json:2: key 'A'") != NULL);
    CHECK(m == NULL);
}

static void test_reference_id(void)
{
    cJSON *page = load(KOBO_FIXTURES "/data_page.json");
    cJSON *legacy;
    char ref[256];

    REQUIRE(page);
    CHECK_INT(kobo_reference_id(sub_n(page, 0), "aX", ref, sizeof(ref)),
              PLAT_OK);
    CHECK_STR(ref, "11111111-1111-4111-8111-111111111111");
    /* edited: rootUuid (the first revision), not _uuid */
    CHECK_INT(kobo_reference_id(sub_n(page, 1), "aX", ref, sizeof(ref)),
              PLAT_OK);
    CHECK_STR(ref, "22222222-2222-4222-8222-222222222222");
    legacy = cJSON_Duplicate(sub_n(page, 2), 1);
    cJSON_DeleteItemFromObject(legacy, "meta/rootUuid");
    CHECK_INT(kobo_reference_id(legacy, "aX", ref, sizeof(ref)), PLAT_OK);
    CHECK_STR(ref, "kobo-aX-1003");
    cJSON_Delete(legacy);
    cJSON_Delete(page);
}

static void test_map_submission(void)
{
    cJSON *page = load(KOBO_FIXTURES "/data_page.json");
    cJSON *program = load(AGENT_TESTS_DATA "/program.json");
    struct kobo_mapping *m = mapping(
        "{\"Full_Name\": \"fullName\", \"phone\": \"phoneNumber\","
        " \"household_size\": \"householdSize\", \"district\": \"district\","
        " \"needs\": \"needs\", \"id_photo\": \"photo\"}");
    cJSON *f = NULL, *sub;
    char why[KOBO_WHY_MAX];
    int pid = -1;

    REQUIRE(page && program && m);
    CHECK_INT(kobo_map_submission(m, sub_n(page, 0), program,
                                  "Intersolve-voucher-paper", &f, &pid, why,
                                  sizeof(why)), PLAT_OK);
    CHECK_INT(pid, 0);
    CHECK_STR(cJSON_GetObjectItem(f, "fullName")->valuestring, "Amina Test");
    CHECK_STR(cJSON_GetObjectItem(f, "phoneNumber")->valuestring,
              "0612345678");                    /* no normalisation */
    CHECK_STR(cJSON_GetObjectItem(f, "householdSize")->valuestring, "4");
    CHECK_STR(cJSON_GetObjectItem(f, "needs")->valuestring, "water food");
    CHECK(strstr(cJSON_GetObjectItem(f, "photo")->valuestring,
                 "/attachments/attSynth000000000000001/") != NULL);
    CHECK_STR(cJSON_GetObjectItem(f, "programFspConfigurationName")
                  ->valuestring, "Intersolve-voucher-paper");
    cJSON_Delete(f);

    /* bad numeric answer: rejected, naming question and attribute */
    sub = cJSON_Duplicate(sub_n(page, 0), 1);
    cJSON_ReplaceItemInObject(sub, "hh/household_size",
                              cJSON_CreateString("four"));
    CHECK_INT(kobo_map_submission(m, sub, program, NULL, &f, NULL, why,
                                  sizeof(why)), ERR_INVALID);
    CHECK_STR(why, "question household_size, attribute householdSize: not "
              "a number");
    CHECK(strstr(why, "four") == NULL);
    /* unknown dropdown option */
    cJSON_ReplaceItemInObject(sub, "hh/household_size",
                              cJSON_CreateString("4"));
    cJSON_ReplaceItemInObject(sub, "district", cJSON_CreateString("east"));
    CHECK_INT(kobo_map_submission(m, sub, program, NULL, &f, NULL, why,
                                  sizeof(why)), ERR_INVALID);
    CHECK(strstr(why, "attribute district: not an option") != NULL);
    /* missing required attribute (phoneNumber is required in program 3) */
    cJSON_ReplaceItemInObject(sub, "district", cJSON_CreateString("north"));
    cJSON_DeleteItemFromObject(sub, "hh/phone");
    CHECK_INT(kobo_map_submission(m, sub, program, NULL, &f, NULL, why,
                                  sizeof(why)), ERR_INVALID);
    CHECK(strstr(why, "question phone, attribute phoneNumber: required") !=
          NULL);
    /* skipconnect */
    cJSON_AddStringToObject(sub, "skipconnect", "1");
    CHECK_INT(kobo_map_submission(m, sub, program, NULL, &f, NULL, why,
                                  sizeof(why)), KOBO_SKIP);
    cJSON_Delete(sub);
    kobo_mapping_free(m);

    /* integers, scope, fspName, programId */
    m = mapping("{\"n\": \"maxPayments\", \"s\": \"scope\", \"f\": "
                "\"fspName\", \"p\": \"programId\"}");
    sub = cJSON_Parse("{\"_id\": 7, \"g/n\": \"3\", \"S\": \"Région-Nord\","
                      " \"f\": \"Intersolve-voucher-paper\", \"p\": \"5\"}");
    REQUIRE(m && sub);
    CHECK_INT(kobo_map_submission(m, sub, NULL, NULL, &f, &pid, why,
                                  sizeof(why)), PLAT_OK);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(f, "maxPayments")));
    CHECK_INT(cJSON_GetObjectItem(f, "maxPayments")->valueint, 3);
    CHECK_STR(cJSON_GetObjectItem(f, "scope")->valuestring, "region-nord");
    CHECK_STR(cJSON_GetObjectItem(f, "programFspConfigurationName")
                  ->valuestring, "Intersolve-voucher-paper");
    CHECK_INT(pid, 5);
    CHECK(!cJSON_GetObjectItem(f, "programId"));
    cJSON_Delete(f);
    cJSON_ReplaceItemInObject(sub, "g/n", cJSON_CreateString("3.5"));
    CHECK_INT(kobo_map_submission(m, sub, NULL, NULL, &f, &pid, why,
                                  sizeof(why)), ERR_INVALID);
    CHECK_STR(why, "question n, attribute maxPayments: not an integer");
    cJSON_Delete(sub);
    kobo_mapping_free(m);
    cJSON_Delete(program);
    cJSON_Delete(page);
}

static void test_mapping_check(void)
{
    cJSON *asset = load(KOBO_FIXTURES "/asset.json");
    cJSON *program = load(AGENT_TESTS_DATA "/program.json");
    struct kobo_mapping *m = mapping(
        "{\n\"full_name\": \"fullName\",\n\"phone\": \"phoneNumber\",\n"
        "\"household_size\": \"householdSize\",\n\"district\": \"district\","
        "\n\"fsp\": \"fspName\"\n}");
    char out[2048];

    REQUIRE(asset && program && m);
    CHECK_INT(kobo_mapping_check(m, asset, program, out, sizeof(out)), 1);
    CHECK_STR(out, "map.json:6: key 'fsp': unknown question (not in the "
              "form)");
    kobo_mapping_free(m);
    m = mapping("{\"needs\": \"householdSize\",\n\"id_photo\": \"district\","
                "\n\"district\": \"colour\"}");
    REQUIRE(m);
    CHECK_INT(kobo_mapping_check(m, asset, program, out, sizeof(out)), 3);
    CHECK(strstr(out, "map.json:1: key 'needs': wrong type for attribute "
                 "householdSize") != NULL);
    CHECK(strstr(out, "map.json:2: key 'id_photo': wrong type") != NULL);
    CHECK(strstr(out, "map.json:3: key 'district': unknown attribute "
                 "colour") != NULL);
    /* without a stored form or program nothing can be checked */
    CHECK_INT(kobo_mapping_check(m, NULL, NULL, out, sizeof(out)), 0);
    kobo_mapping_free(m);
    cJSON_Delete(asset);
    cJSON_Delete(program);
}

static void test_diff(void)
{
    cJSON *old = cJSON_Parse("{\"a\":\"1\",\"b\":\"x\",\"c\":\"gone\","
                             "\"n\":2}");
    cJSON *now = cJSON_Parse("{\"a\":\"1\",\"b\":\"y\",\"d\":\"new\","
                             "\"n\":2}");
    cJSON *ch = NULL, *base = NULL;

    CHECK_INT(kobo_diff(old, now, &ch, &base), PLAT_OK);
    REQUIRE(ch && base);
    CHECK_STR(cJSON_GetObjectItem(ch, "b")->valuestring, "y");
    CHECK_STR(cJSON_GetObjectItem(base, "b")->valuestring, "x");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(ch, "c")));
    CHECK_STR(cJSON_GetObjectItem(base, "c")->valuestring, "gone");
    CHECK_STR(cJSON_GetObjectItem(ch, "d")->valuestring, "new");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(base, "d")));
    CHECK(!cJSON_GetObjectItem(ch, "a"));
    CHECK(!cJSON_GetObjectItem(ch, "n"));
    cJSON_Delete(ch);
    cJSON_Delete(base);
    CHECK_INT(kobo_diff(now, now, &ch, &base), PLAT_OK);
    CHECK(ch == NULL && base == NULL);
    cJSON_Delete(old);
    cJSON_Delete(now);
}

static void test_validation_ref(void)
{
    struct kobo_mapping *m = mapping("{\"RefId\": \"referenceId\", "
                                     "\"phone\": \"phoneNumber\"}");
    struct kobo_mapping *plain = mapping("{\"phone\": \"phoneNumber\"}");
    cJSON *sub = cJSON_Parse("{\"_id\": 3, \"g/refid\": \"ref-00001\", "
                             "\"phone\": \"0612\", \"skipvalidation\": \"1\"}");
    cJSON *f = NULL;
    char ref[64], why[KOBO_WHY_MAX];
    int skip = 0;

    REQUIRE(m && plain && sub);
    CHECK_INT(kobo_validation_ref(plain, sub, ref, sizeof(ref), &skip), 0);
    CHECK_INT(kobo_validation_ref(m, sub, ref, sizeof(ref), &skip), 1);
    CHECK_STR(ref, "ref-00001");
    CHECK_INT(skip, 1);
    /* the referenceId is not a field of the edit */
    CHECK_INT(kobo_map_submission(m, sub, NULL, NULL, &f, NULL, why,
                                  sizeof(why)), PLAT_OK);
    CHECK_INT(cJSON_GetArraySize(f), 1);
    CHECK_STR(cJSON_GetObjectItem(f, "phoneNumber")->valuestring, "0612");
    cJSON_Delete(f);
    cJSON_Delete(sub);
    kobo_mapping_free(m);
    kobo_mapping_free(plain);
}

static void test_program_from_form(void)
{
    cJSON *asset = load(KOBO_FIXTURES "/asset.json"), *prog = NULL, *a;
    const cJSON *d;
    char why[KOBO_WHY_MAX], names[256] = "";
    cJSON *row;

    REQUIRE(asset);
    /* a setup question with a default gives a program field */
    row = cJSON_Parse("{\"type\": \"text\", \"name\": \"currency\", "
                      "\"default\": \"KES\"}");
    cJSON_AddItemToArray(cJSON_GetObjectItem(cJSON_GetObjectItem(asset,
                         "content"), "survey"), row);
    CHECK_INT(kobo_program_from_form(asset, &prog, why, sizeof(why)),
              PLAT_OK);
    REQUIRE(prog);
    CHECK_STR(cJSON_GetObjectItem(prog, "currency")->valuestring, "KES");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(prog, "titlePortal"),
                                  "en")->valuestring,
              "Synthetic household registration");
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(prog,
                                              "programRegistrationAttributes")) {
        strcat(names, cJSON_GetObjectItem(a, "name")->valuestring);
        strcat(names, ":");
        strcat(names, cJSON_GetObjectItem(a, "type")->valuestring);
        strcat(names, " ");
    }
    /* repeats, media, calculate and meta questions are left out */
    CHECK_STR(names, "full_name:text phone:text household_size:numeric "
              "needs:text district:dropdown ");
    a = cJSON_GetArrayItem(cJSON_GetObjectItem(prog,
                           "programRegistrationAttributes"), 4);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(a, "duplicateCheck")));
    d = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "options"), 1);
    CHECK_STR(cJSON_GetObjectItem(d, "option")->valuestring, "south");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "label"),
                                  "fr")->valuestring, "Sud");
    a = cJSON_GetArrayItem(cJSON_GetObjectItem(prog,
                           "programRegistrationAttributes"), 0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(a, "isRequired")));
    cJSON_Delete(prog);
    cJSON_Delete(asset);
}

static void test_prune(void)
{
    struct kobo_mapping *m = mapping("{\"Full_Name\": \"fullName\"}");
    cJSON *sub = cJSON_Parse("{\"_id\":1,\"_uuid\":\"u\",\"meta/rootUuid\":"
                             "\"uuid:r\",\"hh/full_name\":\"A\",\"hh/phone\":"
                             "\"1\",\"skipconnect\":\"0\",\"_attachments\":[],"
                             "\"_notes\":[],\"start\":\"x\"}");

    REQUIRE(m && sub);
    kobo_prune(m, sub);
    CHECK_INT(cJSON_GetArraySize(sub), 6);
    CHECK(cJSON_GetObjectItem(sub, "hh/full_name") != NULL);
    CHECK(cJSON_GetObjectItem(sub, "hh/phone") == NULL);
    CHECK(cJSON_GetObjectItem(sub, "start") == NULL);
    cJSON_Delete(sub);
    kobo_mapping_free(m);
}

static void test_paths(void)
{
    char *p = NULL;
    int64_t ids[] = {5, 9};

    CHECK_INT(kobo_data_path("aX", 42, NULL, 0, 1000, 0, &p), PLAT_OK);
    CHECK_STR(p, "/api/v2/assets/aX/data/?format=json&limit=1000&sort="
              "%7B%22_id%22:1%7D&query=%7B%22_id%22:%7B%22$gt%22:42%7D%7D");
    plat_free(p);
    CHECK_INT(kobo_data_path("aX", 0, ids, 2, 2, 1, &p), PLAT_OK);
    CHECK(strstr(p, "&query=%7B%22_id%22:%7B%22$in%22:%5B5,9%5D%7D%7D") !=
          NULL);
    CHECK(strstr(p, "&fields=%5B%22_id%22,%22_uuid%22,%22meta%2FrootUuid"
                 "%22,%22_validation_status%22%5D") != NULL);
    plat_free(p);
}

TEST_MAIN(TEST(test_clean_and_fold), TEST(test_mapping_parse),
          TEST(test_reference_id), TEST(test_map_submission),
          TEST(test_mapping_check), TEST(test_diff), TEST(test_validation_ref), TEST(test_program_from_form),
          TEST(test_prune),
          TEST(test_paths))
