/*
 * test_kobo_jobs.c - the pieces of `agent kobo program --create` and
 * `agent kobo validation-csv --upload` that need no network: the program
 * plan checked against what 121 accepts (kobo_program.h), the multipart
 * body of a Kobo media upload (kobo_media.h) and the jobs table
 * (store_jobs.h). Fixtures: tests/fakekobo/asset{,_program}.json.
 */
#include "testlib.h"
#include "testutil.h"

#include "kobo_media.h"
#include "kobo_program.h"
#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "store.h"
#include "store_jobs.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static cJSON *load(const char *name)
{
    char path[512], *text = NULL;
    size_t len = 0;
    cJSON *j = NULL;

    snprintf(path, sizeof(path), "%s/%s", KOBO_FIXTURES, name);
    if (plat_fs_read_file(path, 1 << 22, &text, &len) == PLAT_OK)
        j = cJSON_Parse(text);
    plat_free(text);
    return j;
}

static void test_plan(void)
{
    cJSON *form = load("asset_program.json"), *plan = NULL, *a;
    const cJSON *prog, *fsps, *desc;
    char why[512];

    REQUIRE(form);
    CHECK_INT(kobo_program_plan(form, "kp-0123", &plan, why, sizeof(why)),
              PLAT_OK);
    REQUIRE(plan);
    prog = cJSON_GetObjectItem(plan, "program");
    fsps = cJSON_GetObjectItem(plan, "fspConfigurations");
    CHECK_STR(cJSON_GetObjectItem(prog, "currency")->valuestring, "KES");
    CHECK_INT(cJSON_GetArraySize(fsps), 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(fsps, 1),
                                  "fspName")->valuestring, "Excel");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(
                  cJSON_GetArrayItem(fsps, 0), "label"), "en")->valuestring,
              "Paper voucher");
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(prog,
                                              "programRegistrationAttributes"))
        CHECK(strcmp(cJSON_GetObjectItem(a, "name")->valuestring, "fsp"));
    desc = cJSON_GetObjectItem(cJSON_GetObjectItem(prog, "description"),
                               "en");
    CHECK(cJSON_IsString(desc) && strstr(desc->valuestring, "kp-0123"));
    cJSON_Delete(plan);
    plan = NULL;

    /* an FSP choice 121 does not know names the choice */
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(cJSON_GetObjectItem(
                              form, "content"), "choices"))
        if (strcmp(cJSON_GetObjectItem(a, "name")->valuestring, "Excel") == 0)
            cJSON_ReplaceItemInObject(a, "name", cJSON_CreateString("Cash"));
    CHECK_INT(kobo_program_plan(form, "k", &plan, why, sizeof(why)),
              ERR_INVALID);
    CHECK(plan == NULL);
    CHECK(strstr(why, "choice 'Cash'") != NULL);
    cJSON_Delete(form);

    /* the synthetic registration form: no currency, no FSP question */
    form = load("asset.json");
    REQUIRE(form);
    CHECK_INT(kobo_program_plan(form, "k", &plan, why, sizeof(why)),
              ERR_INVALID);
    CHECK(strstr(why, "currency") != NULL);
    CHECK(strchr(why, '\n') == NULL);
    cJSON_Delete(form);
}

static void test_multipart(void)
{
    struct plat_buf b;
    char ctype[96];
    const char *csv = "referenceId\nref-1\n";

    plat_buf_init(&b, 0);
    CHECK_INT(kobo_media_multipart(&b, ctype, "ValidationDataFrom121.csv",
                                   "key km-1", csv, strlen(csv)), PLAT_OK);
    CHECK(strncmp(ctype, "multipart/form-data; boundary=agent-kobo-", 41) ==
          0);
    REQUIRE(b.data);
    CHECK(strstr(b.data, "name=\"content\"; filename=\"ValidationDataFrom121"
                         ".csv\"") != NULL);
    CHECK(strstr(b.data, "\r\n\r\nform_media\r\n") != NULL);
    CHECK(strstr(b.data, "{\"filename\":\"ValidationDataFrom121.csv\"}") !=
          NULL);
    CHECK(strstr(b.data, "ref-1") != NULL);
    CHECK_INT(kobo_media_multipart(&b, ctype, "a\"b.csv", "d", "", 0),
              ERR_INVALID);
    CHECK_INT((int)b.len, 0);
    plat_buf_dispose(&b);
}

struct seen {
    int n;
    char state[16], step[16];
    size_t body_len;
};

static int on_job(const struct store_job *j, void *payload)
{
    struct seen *s = payload;

    s->n++;
    snprintf(s->state, sizeof(s->state), "%s", j->state);
    snprintf(s->step, sizeof(s->step), "%s", j->step);
    s->body_len = j->body_len;
    return 0;
}

static void test_store_jobs(void)
{
    char *dir = testutil_tmpdir("agent-test-jobs");
    char *path = dir ? plat_asprintf("%s/store.db", dir) : NULL;
    struct store_options opt = {STORE_CREATE, 0, 0, 0};
    struct store *s = NULL;
    struct seen seen;
    int64_t id = 0, open = -1;

    REQUIRE(path);
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_job_add(s, "media", "kobo", "aB1", "km-1", "{}", "x,y\n",
                            4, &id), PLAT_OK);
    CHECK(id > 0);
    CHECK_INT(store_job_add(s, "media", "kobo", "aB1", "km-1", "{}", NULL, 0,
                            NULL), ERR_EXISTS);
    CHECK_INT(store_job_add(s, "other", "kobo", "aB1", "km-2", "{}", NULL, 0,
                            NULL), ERR_INVALID);
    CHECK_INT(store_job_count_open(s, &open), PLAT_OK);
    CHECK_INT((int)open, 1);
    CHECK_INT(store_job_update(s, id, "inflight", NULL, "{\"a\":1}", NULL,
                               1), PLAT_OK);
    CHECK_INT(store_job_update(s, id, "done", "deployed", NULL, NULL, 0),
              PLAT_OK);
    CHECK_INT(store_job_update(s, id, "gone", NULL, NULL, NULL, 0),
              ERR_INVALID);
    CHECK_INT(store_job_update(s, id + 99, "done", NULL, NULL, NULL, 0),
              ERR_NOTFOUND);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(store_job_list(s, "kobo", "media", 0, on_job, &seen), PLAT_OK);
    CHECK_INT(seen.n, 1);
    CHECK_STR(seen.state, "done");
    CHECK_STR(seen.step, "deployed");
    CHECK_INT((int)seen.body_len, 4);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(store_job_list(s, NULL, NULL, 1, on_job, &seen), PLAT_OK);
    CHECK_INT(seen.n, 0);
    store_close(s);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_plan), TEST(test_multipart), TEST(test_store_jobs))
