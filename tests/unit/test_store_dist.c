/*
 * test_store_dist.c - the distribution-day store functions (store_dist.h):
 * a hand-out and its outbox entry in one transaction, a second one
 * refused with the first; reconciliation rows all or none; messages,
 * templates and labels queued with the local change; look-up by
 * referenceId, voucher code and phone.
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_dist.h"
#include "store_outbox.h"
#include "store_program.h"
#include "store_registrations.h"
#include "store_sync.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <string.h>

static int64_t sql_int(struct store *s, const char *sql)
{
    return testutil_sql_int(s, sql);
}

/* A store with ref-00001..3 pulled, payment 5 for 1 and 2, a program with
 * attribute "district", and template (included, en). */
static struct store *fixture(const char *dir)
{
    struct store *s = testutil_store_new(dir, "store.db");
    cJSON *regs = cJSON_Parse(
        "[{\"id\":11,\"referenceId\":\"ref-00001\",\"programId\":3,"
        "\"status\":\"included\",\"fullName\":\"Ana\",\"phoneNumber\":"
        "\"31600000001\",\"registrationProgramId\":1},"
        "{\"id\":12,\"referenceId\":\"ref-00002\",\"programId\":3,"
        "\"status\":\"included\",\"fullName\":\"Ben\",\"phoneNumber\":"
        "\"31600000002\",\"registrationProgramId\":2},"
        "{\"id\":13,\"referenceId\":\"ref-00003\",\"programId\":3,"
        "\"status\":\"new\",\"fullName\":\"Cy\",\"phoneNumber\":"
        "\"31600000003\",\"registrationProgramId\":3}]");
    cJSON *tx = cJSON_Parse(
        "[{\"id\":1,\"status\":\"success\",\"registrationReferenceId\":"
        "\"ref-00001\",\"registrationProgramId\":1,\"fspName\":"
        "\"Intersolve-voucher-paper\",\"transferValue\":25},"
        "{\"id\":2,\"status\":\"success\",\"registrationReferenceId\":"
        "\"ref-00002\",\"registrationProgramId\":2,\"fspName\":"
        "\"Intersolve-voucher-paper\",\"transferValue\":25}]");
    cJSON *pay = cJSON_Parse("{\"paymentId\":5}");
    cJSON *prog = cJSON_Parse(
        "{\"id\":3,\"titlePortal\":{\"en\":\"Pilot\"},\"languages\":[\"en\","
        "\"nl\"],\"programRegistrationAttributes\":[{\"name\":\"district\","
        "\"type\":\"text\",\"label\":{\"en\":\"District\"}}]}");
    cJSON *tpls = cJSON_Parse(
        "[{\"type\":\"included\",\"language\":\"en\",\"message\":\"Hi\"}]");

    if (!s)
        return NULL;
    if (store_reg_put_server_batch(s, regs) != PLAT_OK ||
        store_payment_put(s, 3, pay) != PLAT_OK ||
        store_transactions_put(s, 3, 5, tx) != PLAT_OK ||
        store_program_put(s, prog, "W/\"1\"") != PLAT_OK ||
        store_program_put_templates(s, 3, tpls) != PLAT_OK) {
        fprintf(stderr, "fixture: %s\n", plat_err_msg());
        store_close(s);
        s = NULL;
    }
    cJSON_Delete(regs);
    cJSON_Delete(tx);
    cJSON_Delete(pay);
    cJSON_Delete(prog);
    cJSON_Delete(tpls);
    return s;
}

static void test_handout_once(void)
{
    char *dir = testutil_tmpdir("agent-test-dist");
    struct store *s = fixture(dir);
    struct store_handout prev, done, got;

    REQUIRE(s);
    CHECK_INT(store_handout_mark(s, 3, "ref-00001", 5, "ana", &prev, &done),
              PLAT_OK);
    CHECK_STR(done.by, "ana");
    CHECK_STR(done.clock, "device");
    CHECK_INT(store_handout_get(s, "ref-00001", 5, &got), PLAT_OK);
    CHECK_STR(got.at, done.at);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox WHERE kind ="
                         " 'voucher' AND reference_id = 'ref-00001'"), 1);
    /* Second: refused, naming the first; nothing written. */
    CHECK_INT(store_handout_mark(s, 3, "ref-00001", 5, "bob", &prev, &done),
              ERR_EXISTS);
    CHECK_STR(prev.by, "ana");
    CHECK(strstr(plat_err_msg(), "handed out already") != NULL);
    CHECK(strstr(plat_err_msg(), "ana") != NULL);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), 1);
    /* No transaction in that payment, unknown person, bad user. */
    CHECK_INT(store_handout_mark(s, 3, "ref-00003", 5, "ana", NULL, NULL),
              ERR_NOTFOUND);
    CHECK_INT(store_handout_mark(s, 3, "ref-09999", 5, "ana", NULL, NULL),
              ERR_NOTFOUND);
    CHECK_INT(store_handout_mark(s, 3, "ref-00002", 5, "", NULL, NULL),
              ERR_INVALID);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), 1);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static void test_recon_all_or_none(void)
{
    char *dir = testutil_tmpdir("agent-test-dist");
    struct store *s = fixture(dir);
    struct store_recon_row bad[2] = {{"ref-00001", "success", NULL},
                                     {"ref-00003", "success", NULL}};
    struct store_recon_row good[2] = {{"ref-00001", "success", NULL},
                                      {"ref-00002", "error", "lost"}};
    char problem[96];

    REQUIRE(s);
    CHECK_INT(store_recon_queue(s, 3, 5, bad, 2), ERR_INVALID);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), 0);
    CHECK_INT(store_recon_check(s, 5, &bad[1], problem), PLAT_OK);
    CHECK_STR(problem, "no transaction in payment 5");
    bad[1].status = "paid";
    bad[1].ref = "ref-00002";
    CHECK_INT(store_recon_check(s, 5, &bad[1], problem), PLAT_OK);
    CHECK_STR(problem, "status must be success or error");
    CHECK_INT(store_recon_queue(s, 3, 5, good, 2), PLAT_OK);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox WHERE kind ="
                         " 'voucher' AND json_extract(payload,"
                         " '$.errorMessage') = 'lost'"), 1);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static void test_messages_templates_labels(void)
{
    char *dir = testutil_tmpdir("agent-test-dist");
    struct store *s = fixture(dir);
    const char *refs[] = {"ref-00001", "ref-00002", "ref-09999"};
    cJSON *tpl = NULL, *prog = NULL;
    char batch[40];
    int created = -1;

    REQUIRE(s);
    /* An unknown person: nothing queued. */
    CHECK_INT(store_message_queue(s, 3, refs, 3, "Hello", NULL, batch),
              ERR_NOTFOUND);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), 0);
    CHECK_INT(store_message_queue(s, 3, refs, 2, "Hello", "x", batch),
              ERR_INVALID);
    CHECK_INT(store_message_queue(s, 3, refs, 2, "Hello", NULL, batch),
              PLAT_OK);
    CHECK_INT(sql_int(s, "SELECT count(DISTINCT json_extract(payload,"
                         " '$.batch')) FROM outbox WHERE kind = 'message'"),
              1);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox WHERE kind ="
                         " 'message'"), 2);

    CHECK_INT(store_template_set(s, 3, "included", "en", "Hi", &created),
              ERR_INVALID); /* already that text */
    CHECK_INT(store_template_set(s, 3, "included", "en", "Hello {{fullName}}",
                                 &created), PLAT_OK);
    CHECK_INT(created, 0);
    CHECK_INT(store_template_get(s, 3, "included", "en", &tpl), PLAT_OK);
    CHECK_STR(cJSON_GetObjectItem(tpl, "message")->valuestring,
              "Hello {{fullName}}");
    cJSON_Delete(tpl);
    CHECK_INT(store_template_set(s, 3, "new-type", "nl", "Hoi", &created),
              PLAT_OK);
    CHECK_INT(created, 1);
    CHECK_INT(store_template_set(s, 3, "bad/type", "nl", "Hoi", NULL),
              ERR_INVALID);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox WHERE kind ="
                         " 'template' AND reference_id ="
                         " '$template/new-type/nl' AND json_extract(payload,"
                         " '$.new') = 1"), 1);

    CHECK_INT(store_label_set(s, 3, "district", "nl", "Wijk"), PLAT_OK);
    CHECK_INT(store_label_set(s, 3, "nope", "nl", "X"), ERR_NOTFOUND);
    CHECK_INT(store_program_get(s, 3, &prog, NULL), PLAT_OK);
    {
        const cJSON *a = cJSON_GetArrayItem(
            cJSON_GetObjectItem(prog, "programRegistrationAttributes"), 0);
        const cJSON *l = cJSON_GetObjectItem(a, "label");

        CHECK_STR(cJSON_GetObjectItem(l, "nl")->valuestring, "Wijk");
        CHECK_STR(cJSON_GetObjectItem(l, "en")->valuestring, "District");
    }
    cJSON_Delete(prog);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox WHERE kind = 'label'"
                         " AND json_extract(payload, '$.label.en') ="
                         " 'District'"), 1);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static int count_cb(const cJSON *reg, void *payload)
{
    const cJSON *ref = cJSON_GetObjectItem(reg, "referenceId");

    snprintf(payload, 32, "%s", ref ? ref->valuestring : "?");
    return 0;
}

static void test_lookup(void)
{
    char *dir = testutil_tmpdir("agent-test-dist");
    struct store *s = fixture(dir);
    char found[32];

    REQUIRE(s);
    found[0] = '\0';
    CHECK_INT(store_lookup(s, "ref-00002", 5, count_cb, found), PLAT_OK);
    CHECK_STR(found, "ref-00002");
    found[0] = '\0';
    CHECK_INT(store_lookup(s, "P5-1", 5, count_cb, found), PLAT_OK);
    CHECK_STR(found, "ref-00001");
    found[0] = '\0';
    CHECK_INT(store_lookup(s, "600000003", 5, count_cb, found), PLAT_OK);
    CHECK_STR(found, "ref-00003");
    found[0] = '\0';
    CHECK_INT(store_lookup(s, "P9-1", 5, count_cb, found), PLAT_OK);
    CHECK_STR(found, "");
    store_close(s);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_handout_once), TEST(test_recon_all_or_none),
          TEST(test_messages_templates_labels), TEST(test_lookup))
