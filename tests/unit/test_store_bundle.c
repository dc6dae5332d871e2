/*
 * test_store_bundle.c - the pieces of a bundle (store_seal.h,
 * store_sign.h, store_bundle.h): the sealed stream opens only with its key
 * and whole; a signed file verifies only unchanged, under a pinned key
 * (every byte of a small one flipped in turn); a bundle of one store
 * applied to another keeps op_ids, once, in order.
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_random.h"
#include "store.h"
#include "store_bundle.h"
#include "store_outbox.h"
#include "store_registrations.h"
#include "store_seal.h"
#include "store_sign.h"

#include <cjson/cJSON.h>

static const uint8_t KEY[STORE_KEY_LEN] = "bundle test key, not a secret!!";

static void test_seal_round_trip(void)
{
    struct plat_buf b;
    size_t n = 300 * 1000, len = 0, i;
    uint8_t *data = plat_malloc(n), *out = NULL, other[STORE_KEY_LEN];
    int kind = 0;

    REQUIRE(data);
    /* Half random (several 64 KiB chunks after deflate), half text. */
    plat_random_bytes(data, n / 2);
    for (i = n / 2; i < n; i++)
        data[i] = (uint8_t)("abcdefgh"[i % 8]);
    plat_buf_init(&b, 0);
    CHECK_INT(store_seal("AGENTTS1", 7, data, n, KEY, &b), PLAT_OK);
    CHECK_INT(store_seal_kind((uint8_t *)b.data, b.len, "AGENTTS1", "t",
                              &kind), PLAT_OK);
    CHECK_INT(kind, 7);
    CHECK_INT(store_unseal((uint8_t *)b.data, b.len, "AGENTTS1", KEY,
                           STORE_SEAL_MAX, "t", &out, &len), PLAT_OK);
    CHECK(len == n && out && memcmp(out, data, n) == 0);
    plat_free(out);
    out = NULL;
    /* Another magic, another key, a cut, a changed byte, a size cap. */
    CHECK_INT(store_unseal((uint8_t *)b.data, b.len, "AGENTXX1", KEY,
                           STORE_SEAL_MAX, "t", &out, &len), ERR_CORRUPT);
    memcpy(other, KEY, sizeof(other));
    other[0] ^= 1;
    CHECK_INT(store_unseal((uint8_t *)b.data, b.len, "AGENTTS1", other,
                           STORE_SEAL_MAX, "t", &out, &len), ERR_AUTH);
    CHECK_INT(store_unseal((uint8_t *)b.data, b.len - 17, "AGENTTS1", KEY,
                           STORE_SEAL_MAX, "t", &out, &len), ERR_CORRUPT);
    for (i = STORE_SEAL_HDR; i < b.len; i += b.len / 13) {
        b.data[i] ^= 0x20;
        CHECK(store_unseal((uint8_t *)b.data, b.len, "AGENTTS1", KEY,
                           STORE_SEAL_MAX, "t", &out, &len) < 0);
        b.data[i] ^= 0x20;
    }
    CHECK_INT(store_unseal((uint8_t *)b.data, b.len, "AGENTTS1", KEY, 1000,
                           "t", &out, &len), ERR_CORRUPT);
    CHECK(out == NULL);
    plat_buf_dispose(&b);
    plat_free(data);
}

static void test_sign_every_byte(void)
{
    char *dir = testutil_tmpdir("agent-test-sign");
    char *priv = plat_asprintf("%s/s.pem", dir);
    char *pub = plat_asprintf("%s/s.pub", dir);
    char *priv2 = plat_asprintf("%s/o.pem", dir);
    char *pub2 = plat_asprintf("%s/o.pub", dir);
    char *both = plat_asprintf("%s ; %s", pub2, pub);
    char fp[STORE_SIGN_FP_HEX], fp2[STORE_SIGN_FP_HEX];
    struct plat_buf b;
    size_t body = 0, i;
    unsigned mode = 0;

    REQUIRE(priv && pub && priv2 && pub2 && both);
    CHECK_INT(store_sign_keygen(priv, pub, fp), PLAT_OK);
    CHECK_INT(store_sign_keygen(priv2, pub2, NULL), PLAT_OK);
    CHECK_INT(store_sign_keygen(priv, pub2, NULL), ERR_EXISTS);
    CHECK_INT(plat_fs_mode(priv, &mode), PLAT_OK);
    CHECK_INT(mode, 0600);
    CHECK_INT(store_sign_check_key(priv, 1, fp2), PLAT_OK);
    CHECK_STR(fp2, fp);
    CHECK_INT(store_sign_check_key(pub, 0, fp2), PLAT_OK);
    CHECK_STR(fp2, fp);
    CHECK_INT(store_sign_check_key(pub, 1, NULL), ERR_INVALID);

    plat_buf_init(&b, 0);
    REQUIRE(plat_buf_puts(&b, "a small body of a signed file") == PLAT_OK);
    CHECK_INT(store_sign_append(priv, &b), PLAT_OK);
    CHECK_INT(store_sign_check((uint8_t *)b.data, b.len, both, "f", &body,
                               fp2), PLAT_OK);
    CHECK_INT(body, 29);
    CHECK_STR(fp2, fp);
    CHECK_INT(store_sign_check((uint8_t *)b.data, b.len, pub2, "f", &body,
                               NULL), ERR_AUTH);
    CHECK_INT(store_sign_check((uint8_t *)b.data, b.len, "", "f", &body,
                               NULL), ERR_AUTH);
    for (i = 0; i < b.len; i++) {
        int rc;

        b.data[i] ^= 0x01;
        rc = store_sign_check((uint8_t *)b.data, b.len, both, "f", &body,
                              NULL);
        if (rc == PLAT_OK)
            fprintf(stderr, "byte %zu changed and still verified\n", i);
        CHECK(rc < 0);
        b.data[i] ^= 0x01;
    }
    for (i = 0; i < b.len; i++)
        CHECK(store_sign_check((uint8_t *)b.data, i, both, "f", &body,
                               NULL) < 0);
    /* A private key others can read is refused. */
    chmod(priv, 0644);
    CHECK_INT(store_sign_append(priv, &b), ERR_INVALID);
    plat_buf_dispose(&b);
    plat_free(priv);
    plat_free(pub);
    plat_free(priv2);
    plat_free(pub2);
    plat_free(both);
    testutil_tmpdir_remove(dir);
}

static int count_pending(struct store *s)
{
    int64_t n = -1;

    store_outbox_count(s, NULL, &n);
    return (int)n;
}

/* The op_ids of the outbox in order, joined. */
static void op_ids(struct store *s, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;

    out[0] = '\0';
    if (sqlite3_prepare_v2(store_db(s), "SELECT group_concat(op_id) FROM "
                           "(SELECT op_id FROM outbox ORDER BY seq)", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static void test_bundle_between_stores(void)
{
    char *dir = testutil_tmpdir("agent-test-bundle");
    char *priv = plat_asprintf("%s/s.pem", dir);
    char *pub = plat_asprintf("%s/s.pub", dir);
    char *f1 = plat_asprintf("%s/b1", dir), *f2 = plat_asprintf("%s/b2", dir);
    struct store *a = testutil_store_new(dir, "a.db");
    struct store *b = testutil_store_new(dir, "b.db");
    struct store_bundle_info info;
    char ref[STORE_REF_MAX + 1];
    cJSON *fields = cJSON_Parse("{\"fullName\":\"X\"}");
    cJSON *edit = cJSON_Parse("{\"fullName\":\"Y\"}");

    REQUIRE(a && b && fields && edit && priv && f1 && f2);
    CHECK_INT(store_sign_keygen(priv, pub, NULL), PLAT_OK);
    CHECK_INT(store_reg_create(a, 3, fields, ref), PLAT_OK);
    CHECK_INT(store_reg_edit(a, ref, edit, "r"), PLAT_OK);
    CHECK_INT(store_bundle_export(a, -1, 0, KEY, priv, f1, &info), PLAT_OK);
    CHECK_INT(info.seq, 1);
    CHECK_INT(info.entries, 2);
    CHECK_INT(store_reg_set_status(a, ref, "validated", NULL), PLAT_OK);
    CHECK_INT(store_bundle_export(a, -1, 0, KEY, priv, f2, &info), PLAT_OK);
    CHECK_INT(info.seq, 2);
    CHECK_INT(info.since, 1);
    CHECK_INT(info.entries, 1);

    CHECK_INT(store_bundle_import(b, f2, KEY, pub, &info), ERR_CONFLICT);
    CHECK_INT(count_pending(b), 0);
    CHECK_INT(store_bundle_import(b, f1, KEY, pub, &info), PLAT_OK);
    CHECK_INT(info.applied, 2);
    CHECK_INT(store_bundle_import(b, f1, KEY, pub, &info), PLAT_OK);
    CHECK_INT(info.repeat, 1);
    CHECK_INT(store_bundle_import(b, f2, KEY, pub, &info), PLAT_OK);
    CHECK_INT(info.applied, 1);
    CHECK_INT(count_pending(b), 3);
    {
        char ida[512], idb[512];

        op_ids(a, ida, sizeof(ida));
        op_ids(b, idb, sizeof(idb));
        CHECK(strlen(ida) > 100);
        CHECK_STR(idb, ida);
    }
    CHECK_INT(store_integrity_check(b), PLAT_OK);
    /* The other store refuses its own bundle. */
    CHECK_INT(store_bundle_import(a, f1, KEY, pub, &info), ERR_INVALID);
    CHECK_INT(store_bundle_export(a, 5, 0, KEY, priv, f1, &info),
              ERR_INVALID);
    {
        cJSON *view = NULL;

        CHECK_INT(store_reg_get(b, ref, &view), PLAT_OK);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(view, "fullName")),
                  "Y");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(view, "status")),
                  "validated");
        cJSON_Delete(view);
    }
    cJSON_Delete(fields);
    cJSON_Delete(edit);
    store_close(a);
    store_close(b);
    plat_free(priv);
    plat_free(pub);
    plat_free(f1);
    plat_free(f2);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_seal_round_trip), TEST(test_sign_every_byte),
          TEST(test_bundle_between_stores))
