/*
 * test_page_cipher_fallback.c - the page cipher when the libgcrypt.so.20
 * found first misbehaves (ctest points LD_LIBRARY_PATH at
 * fake_libgcrypt.c's build, whose AES-256-GCM returns the plaintext and
 * accepts any tag): the known-answer check at load refuses it, the store
 * is encrypted with mbedTLS (no plaintext on disk) and works,
 * AGENT_PAGE_CIPHER=libgcrypt is refused in one line saying why.
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "store_crypt.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t key[STORE_KEY_LEN] = "0123456789abcdef0123456789abcde";

static int contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle), i;

    for (i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

static void test_misbehaving_libgcrypt_is_refused(void)
{
    char *dir = testutil_tmpdir("pcfb");
    char *path = plat_asprintf("%s/s.db", dir);
    struct store_crypt *c = NULL;
    int reserve = STORE_CRYPT_RESERVE;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *data = NULL;
    size_t n = 0;

    REQUIRE(dir && path);
    unsetenv("AGENT_PAGE_CIPHER");
    REQUIRE(store_crypt_create(&c, key) == PLAT_OK);
    CHECK_STR(store_crypt_cipher(c), "mbedtls");
    REQUIRE(sqlite3_open_v2(path, &db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                            store_crypt_vfs_name(c)) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA page_size=4096", NULL, NULL, NULL) ==
            SQLITE_OK);
    REQUIRE(sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES,
                                 &reserve) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE t(x TEXT);"
                         "INSERT INTO t VALUES ('Ottoline Brackenbury')",
                         NULL, NULL, NULL) == SQLITE_OK);
    REQUIRE(sqlite3_prepare_v2(db, "SELECT x FROM t", -1, &st, NULL) ==
            SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0),
              "Ottoline Brackenbury");
    sqlite3_finalize(st);
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
    REQUIRE(plat_fs_read_file(path, 1u << 20, &data, &n) == PLAT_OK);
    CHECK(n >= 8192);
    CHECK(!contains(data, n, "Ottoline"));
    plat_free(data);
    store_crypt_destroy(c);

    setenv("AGENT_PAGE_CIPHER", "libgcrypt", 1);
    c = NULL;
    CHECK_INT(store_crypt_create(&c, key), ERR_CONFIG);
    CHECK(c == NULL);
    CHECK(strstr(plat_err_msg(), "disagrees with mbedTLS") != NULL);
    CHECK(strchr(plat_err_msg(), '\n') == NULL);
    unsetenv("AGENT_PAGE_CIPHER");
    plat_err_clear();
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_misbehaving_libgcrypt_is_refused))
