/*
 * test_store_attachments.c - store_attachments.h: rows noted, bytes stored
 * and kept for the same uid, dropped for another, states and attempts,
 * the lists by state/prefix and by registration.
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_attachments.h"

#include <string.h>

struct seen {
    int n;
    int64_t size;
    char state[16];
    char uid[32];
    int attempts;
    int data_ok;
};

static int seen_cb(const struct store_att *a, void *payload)
{
    struct seen *s = payload;

    s->n++;
    s->size = a->size;
    s->attempts = a->attempts;
    snprintf(s->state, sizeof(s->state), "%s", a->state);
    snprintf(s->uid, sizeof(s->uid), "%s", a->uid);
    s->data_ok = a->data && a->size == 5 && memcmp(a->data, "bytes", 5) == 0;
    return 0;
}

static void test_note_store_replace(void)
{
    char *dir = testutil_tmpdir("agent-test-att");
    char *path = plat_asprintf("%s/store.db", dir);
    struct store_options opt = {STORE_CREATE, 0, 0, 0};
    struct store *s = NULL;
    struct store_att a;
    struct seen seen;

    REQUIRE(path);
    CHECK_INT(store_open(&s, path, &opt), PLAT_OK);
    REQUIRE(s);
    memset(&a, 0, sizeof(a));
    a.source = "kobo";
    a.remote_id = "aAsset:17";
    a.question = "hh/photo";
    a.uid = "";
    a.ref = "ref-00001";
    a.name = "p.jpg";
    a.state = "missing";
    CHECK_INT(store_att_note(s, &a), PLAT_OK);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(store_att_list(s, "kobo", "missing", "aAsset:", 0, seen_cb,
                             &seen), PLAT_OK);
    CHECK_INT(seen.n, 1);
    CHECK_INT((int)seen.size, -1);
    /* listed later: pending, then stored */
    a.uid = "att1";
    a.state = "pending";
    a.url = "https://kf.example.org/api/v2/assets/aAsset/data/17/"
            "attachments/att1/";
    CHECK_INT(store_att_note(s, &a), PLAT_OK);
    CHECK_INT(store_att_set_data(s, "kobo", "aAsset:17", "hh/photo", "bytes",
                                 5), PLAT_OK);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(store_att_list_ref(s, "ref-00001", 1, seen_cb, &seen), PLAT_OK);
    CHECK_INT(seen.n, 1);
    CHECK_STR(seen.state, "stored");
    CHECK(seen.data_ok);
    /* the same uid noted again (an edit of another answer) keeps it */
    CHECK_INT(store_att_note(s, &a), PLAT_OK);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(store_att_list_ref(s, "ref-00001", 1, seen_cb, &seen), PLAT_OK);
    CHECK_STR(seen.state, "stored");
    CHECK(seen.data_ok);
    /* another file for the question: bytes dropped, pending again */
    a.uid = "att2";
    CHECK_INT(store_att_note(s, &a), PLAT_OK);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(store_att_list_ref(s, "ref-00001", 1, seen_cb, &seen), PLAT_OK);
    CHECK_STR(seen.state, "pending");
    CHECK_STR(seen.uid, "att2");
    CHECK_INT((int)seen.size, -1);
    /* failed tries count, and the list leaves out rows over the limit */
    CHECK_INT(store_att_set_state(s, "kobo", "aAsset:17", "hh/photo",
                                  "failed", "HTTP 403", 1), PLAT_OK);
    CHECK_INT(store_att_set_state(s, "kobo", "aAsset:17", "hh/photo",
                                  "failed", "HTTP 403", 1), PLAT_OK);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(store_att_list(s, "kobo", "failed", NULL, 3, seen_cb, &seen),
              PLAT_OK);
    CHECK_INT(seen.n, 1);
    CHECK_INT(seen.attempts, 2);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(store_att_list(s, "kobo", "failed", NULL, 2, seen_cb, &seen),
              PLAT_OK);
    CHECK_INT(seen.n, 0);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(store_att_list(s, "kobo", "failed", "bOther:", 0, seen_cb,
                             &seen), PLAT_OK);
    CHECK_INT(seen.n, 0);
    /* unknown rows and bad keys */
    CHECK_INT(store_att_set_data(s, "kobo", "aAsset:18", "hh/photo", "x", 1),
              ERR_NOTFOUND);
    a.question = "";
    CHECK_INT(store_att_note(s, &a), ERR_INVALID);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_note_store_replace))
