/*
 * testutil.h - what the store tests and the store benchmark share: a
 * temporary directory of their own, removed with its files at the end,
 * and a new store in it. Static inline, so each test binary stays one
 * source file (tests/CMakeLists.txt, agent_unit_test).
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_crypt.h"

#include <sqlite3.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* AGENT_TEST_ENCRYPT=1: every store a test creates is encrypted (a fixed
 * test key, store_crypt_set_test_key), so the whole suite runs on
 * encrypted stores too. Runs before main in every binary including this. */
__attribute__((constructor)) static void testutil_encrypt_from_env(void)
{
    static const uint8_t key[STORE_KEY_LEN] = "agent test key, not a secret!!!";
    const char *v = getenv("AGENT_TEST_ENCRYPT");

    if (v && strcmp(v, "1") == 0)
        store_crypt_set_test_key(key);
}

/* A new directory /tmp/<prefix>-XXXXXX (allocated: free it with
 * testutil_tmpdir_remove, or plat_free after testutil_rmdir), or NULL. */
static inline char *testutil_mkdtemp(const char *prefix)
{
    char tmpl[128];

    snprintf(tmpl, sizeof(tmpl), "/tmp/%s-XXXXXX", prefix);
    if (!mkdtemp(tmpl))
        return NULL;
    return plat_strdup(tmpl);
}

/* testutil_mkdtemp for a test, which cannot go on without it: exit 2. */
static inline char *testutil_tmpdir(const char *prefix)
{
    char *dir = testutil_mkdtemp(prefix);

    if (!dir) {
        perror("mkdtemp");
        exit(2);
    }
    return dir;
}

/* Remove `dir` and the files in it (one level: the tests make no
 * subdirectories). Made writable first, for the read-only store tests. */
static inline void testutil_rmdir(const char *dir)
{
    DIR *d;
    struct dirent *e;
    char *p;

    if (!dir)
        return;
    chmod(dir, 0700);
    d = opendir(dir);
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = plat_asprintf("%s/%s", dir, e->d_name);
        if (p)
            unlink(p);
        plat_free(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* testutil_rmdir, then free the name (from testutil_tmpdir). */
static inline void testutil_tmpdir_remove(char *dir)
{
    testutil_rmdir(dir);
    plat_free(dir);
}

/* Create store `name` in `dir`; NULL (the error printed) if it fails. */
static inline struct store *testutil_store_new(const char *dir,
                                               const char *name)
{
    struct store_options opt = {STORE_CREATE, 0, 0, 0};
    struct store *s = NULL;
    char *path = plat_asprintf("%s/%s", dir, name);

    if (store_open(&s, path, &opt) != PLAT_OK)
        fprintf(stderr, "store_open: %s\n", plat_err_msg());
    plat_free(path);
    return s;
}

/* The integer the first row of `sql` gives, read past the store API;
 * -1 if the query fails or has no row. */
static inline int64_t testutil_sql_int(struct store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

#endif
