/*
 * test_store.c - opening the store (create, not found, damaged, newer,
 * read-only), its checks and state, and the registration operations:
 * create, edit, status, get, list, search (also on 40,000 rows) and server
 * copies with pending edits re-applied.
 */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "store.h"
#include "store_conflicts.h"
#include "store_outbox.h"
#include "store_program.h"
#include "store_registrations.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------ */

static char *tmpdir_make(void)
{
    return testutil_tmpdir("agent-test-store");
}

/* Whole file in a new allocation; *len_out its size. */
static char *slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    *len_out = 0;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        buf = plat_malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
            *len_out = (size_t)n;
    }
    fclose(f);
    return buf;
}

static int file_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static cJSON *obj(const char *json)
{
    cJSON *j = cJSON_Parse(json);

    if (!j)
        fprintf(stderr, "bad test JSON: %s\n", json);
    return j;
}

static int create(struct store *s, const char *json, char *ref)
{
    cJSON *f = obj(json);
    int rc = store_reg_create(s, 3, f, ref);

    cJSON_Delete(f);
    return rc;
}

static const char *str_field(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_field(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int64_t sql_int(struct store *s, const char *sql)
{
    return testutil_sql_int(s, sql);
}

/* Collects the referenceIds a list or search hands out. */
struct refs {
    int n;
    char ref[200][64];
};

static int collect(const cJSON *reg, void *payload)
{
    struct refs *r = payload;
    const char *ref = str_field(reg, "referenceId");

    if (r->n < 200)
        snprintf(r->ref[r->n++], sizeof(r->ref[0]), "%s", ref ? ref : "?");
    return 0;
}

static int has_ref(const struct refs *r, const char *ref)
{
    int i;

    for (i = 0; i < r->n; i++)
        if (strcmp(r->ref[i], ref) == 0)
            return 1;
    return 0;
}

/* ---- opening ------------------------------------------------------------ */

static void test_open_create_notfound(void)
{
    char *dir = tmpdir_make();
    char *path = plat_asprintf("%s/store.db", dir);
    struct store_options create = {STORE_CREATE, 0, 0, 0};
    struct store *s = NULL;

    REQUIRE(dir && path);
    CHECK_INT(store_open(&s, path, NULL), ERR_NOTFOUND);
    CHECK(s == NULL);
    CHECK(strstr(plat_err_msg(), "agent init") != NULL);
    CHECK(strstr(plat_err_msg(), path) != NULL);
    CHECK(!file_exists(path));

    CHECK_INT(store_open(&s, path, &create), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_version(s), store_schema_version());
    CHECK_STR(store_path(s), path);
    CHECK_INT(sql_int(s, "PRAGMA user_version"),
              store_schema_version());
    CHECK_INT(sql_int(s, "PRAGMA foreign_keys"), 1);
    store_close(s);
    s = NULL;

    /* Existing store, no STORE_CREATE needed. */
    CHECK_INT(store_open(&s, path, NULL), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);
    s = NULL;

    /* Read-only open works on an existing store and refuses writes. */
    create.flags = STORE_READONLY;
    CHECK_INT(store_open(&s, path, &create), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_state_set(s, "k", "v"), ERR_IO);
    store_close(s);

    plat_free(path);
    testutil_tmpdir_remove(dir);
}

static void test_open_empty_file(void)
{
    char *dir = tmpdir_make();
    char *path = plat_asprintf("%s/store.db", dir);
    struct store_options create = {STORE_CREATE, 0, 0, 0};
    struct store *s = NULL;
    FILE *f;

    REQUIRE(path);
    f = fopen(path, "wb");
    REQUIRE(f);
    fclose(f);
    CHECK_INT(store_open(&s, path, NULL), ERR_NOTFOUND);
    CHECK(strstr(plat_err_msg(), "empty") != NULL);
    CHECK(s == NULL);
    /* `agent init` makes a store of it. */
    CHECK_INT(store_open(&s, path, &create), PLAT_OK);
    REQUIRE(s);
    CHECK_INT(store_version(s), store_schema_version());
    store_close(s);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

static void test_open_missing_dir(void)
{
    char *dir = tmpdir_make();
    char *path = plat_asprintf("%s/no/such/dir/store.db", dir);
    struct store_options create = {STORE_CREATE, 0, 0, 0};
    struct store *s = NULL;

    REQUIRE(dir && path);
    CHECK_INT(store_open(&s, path, &create), ERR_IO);
    CHECK(s == NULL);
    CHECK(strstr(plat_err_msg(), "no/such/dir") != NULL);
    CHECK(strstr(plat_err_msg(), "does not exist") != NULL);
    CHECK_INT(store_open(&s, path, NULL), ERR_IO);
    plat_free(path);
    testutil_tmpdir_remove(dir);
}

/* Open `path`, expecting `code`, and check the file was not touched and
 * no WAL file appeared. */
static void expect_refused(const char *path, int code)
{
    struct store_options create = {STORE_CREATE, 0, 0, 0};
    struct store *s = NULL;
    char *before, *after, *wal = plat_asprintf("%s-wal", path);
    size_t nb, na;

    before = slurp(path, &nb);
    CHECK_INT(store_open(&s, path, &create), code);
    CHECK(s == NULL);
    CHECK(strstr(plat_err_msg(), path) != NULL);
    after = slurp(path, &na);
    CHECK(before && after);
    CHECK_INT(na, nb);
    CHECK(before && after && memcmp(before, after, nb) == 0);
    CHECK(!file_exists(wal));
    plat_free(before);
    plat_free(after);
    plat_free(wal);
}

static void test_open_corrupt(void)
{
    char *dir = tmpdir_make();
    char *path = plat_asprintf("%s/store.db", dir);
    sqlite3 *db = NULL;
    FILE *f;
    int i;

    REQUIRE(dir && path);
    f = fopen(path, "wb");
    REQUIRE(f);
    for (i = 0; i < 200; i++)
        fputs("this is not a database, just some text in a file\n", f);
    fclose(f);
    expect_refused(path, ERR_CORRUPT);
    CHECK(strstr(plat_err_msg(), "damaged or not an agent store") != NULL);
    unlink(path);

    /* A real SQLite database that is not ours. Under AGENT_TEST_ENCRYPT
     * the default VFS encrypts, and refuses pages without room for the
     * tag: the foreign database is then an encrypted one (the same check,
     * a store that opens but is not an agent store). */
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    if (store_crypt_test_instance()) {
        int reserve = STORE_CRYPT_RESERVE;
        CHECK_INT(sqlite3_exec(db, "PRAGMA page_size=4096", NULL, NULL,
                               NULL), SQLITE_OK);
        CHECK_INT(sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES,
                                       &reserve), SQLITE_OK);
    }
    CHECK_INT(sqlite3_exec(db, "CREATE TABLE people(x); INSERT INTO people "
                           "VALUES (1);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_refused(path, ERR_CORRUPT);
    CHECK(strstr(plat_err_msg(), "other tables") != NULL);

    plat_free(path);
    testutil_tmpdir_remove(dir);
}

static void test_open_newer_version(void)
{
    char *dir = tmpdir_make();
    char *path = plat_asprintf("%s/store.db", dir);
    struct store *s;
    sqlite3 *db = NULL;

    REQUIRE(dir && path);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    CHECK_INT(create(s, "{\"fullName\":\"A\"}", NULL), PLAT_OK);
    store_close(s);
    /* Make it look written by a future agent, and back out of WAL so the
     * file alone holds everything. */
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, "PRAGMA journal_mode=DELETE; "
                           "PRAGMA user_version=99;", NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);

    expect_refused(path, ERR_VERSION);
    CHECK(strstr(plat_err_msg(), "schema version 99") != NULL);
    CHECK(strstr(plat_err_msg(), "upgrade the agent") != NULL);

    plat_free(path);
    testutil_tmpdir_remove(dir);
}

static void chmod_sibling(const char *path, const char *suffix)
{
    char *p = plat_asprintf("%s%s", path, suffix);

    if (p && file_exists(p))
        CHECK_INT(chmod(p, 0644), 0);
    plat_free(p);
}

/* The read-only checks run as an unprivileged user: root writes to
 * read-only files anyway. Returns the number of failed checks. */
static int readonly_checks(const char *dir)
{
    char *path = plat_asprintf("%s/store.db", dir);
    struct store *s = NULL;
    int64_t n = -1;
    char ref[STORE_REF_MAX + 1];
    int before = testlib_failures;

    s = testutil_store_new(dir, "store.db");
    if (!s || !path) {
        plat_free(path);
        return 1;
    }
    CHECK_INT(create(s, "{\"fullName\":\"Kept\"}", ref), PLAT_OK);
    store_close(s);
    s = NULL;

    /* Read-only directory: in WAL mode SQLite must create PATH-wal and
     * PATH-shm beside the store, even to read it, so opening fails with
     * ERR_IO, and nothing is lost. */
    CHECK_INT(chmod(dir, 0555), 0);
    CHECK_INT(store_open(&s, path, NULL), ERR_IO);
    CHECK(s == NULL);
    CHECK(strstr(plat_err_msg(), "read-only") != NULL);
    CHECK(strstr(plat_err_msg(), path) != NULL);
    CHECK_INT(chmod(dir, 0755), 0);

    /* Read-only file, writable directory: reads work, the first write
     * says why it fails, and nothing is lost. */
    CHECK_INT(chmod(path, 0444), 0);
    CHECK_INT(store_open(&s, path, NULL), PLAT_OK);
    if (s) {
        CHECK_INT(create(s, "{\"fullName\":\"New\"}", NULL), ERR_IO);
        CHECK(strstr(plat_err_msg(), "cannot write store") != NULL);
        CHECK(strstr(plat_err_msg(), "readonly") != NULL);
        CHECK_INT(store_reg_set_status(s, ref, "included", NULL), ERR_IO);
        CHECK_INT(store_reg_count(s, &n), PLAT_OK);
        CHECK_INT(n, 1);
        store_close(s);
        s = NULL;
    }
    /* SQLite made PATH-wal and PATH-shm with the mode of the store, and a
     * read-only connection cannot remove them: a person making the store
     * writable again must do the same to those. */
    CHECK_INT(chmod(path, 0644), 0);
    chmod_sibling(path, "-wal");
    chmod_sibling(path, "-shm");

    CHECK_INT(store_open(&s, path, NULL), PLAT_OK);
    if (s) {
        CHECK_INT(store_reg_count(s, &n), PLAT_OK);
        CHECK_INT(n, 1);
        CHECK_INT(store_integrity_check(s), PLAT_OK);
        CHECK_INT(create(s, "{\"fullName\":\"New\"}", NULL), PLAT_OK);
        store_close(s);
    }
    plat_free(path);
    return testlib_failures - before;
}

static void test_open_readonly(void)
{
    char *dir = tmpdir_make();
    pid_t pid;
    int status = 0;

    REQUIRE(dir);
    if (geteuid() != 0) {
        CHECK_INT(readonly_checks(dir), 0);
        testutil_tmpdir_remove(dir);
        return;
    }
    /* As root: run the checks in a child that became "nobody". */
    CHECK_INT(chown(dir, 65534, 65534), 0);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int failed = 1;
        if (setgid(65534) == 0 && setuid(65534) == 0)
            failed = readonly_checks(dir);
        else
            fprintf(stderr, "cannot become nobody\n");
        fflush(stdout);
        fflush(stderr);
        /* _exit: the parent process owns the leak check. */
        _exit(failed > 0 ? 1 : 0);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    testutil_tmpdir_remove(dir);
}

static void test_integrity_check(void)
{
    char *dir = tmpdir_make();
    struct store *s;
    char ref[STORE_REF_MAX + 1];
    sqlite3_stmt *st = NULL;

    REQUIRE(dir);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    CHECK_INT(create(s, "{\"fullName\":\"Ann\",\"phoneNumber\":\"12345\"}",
                     ref), PLAT_OK);
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    /* Damage the search index behind the store's back: drop one row. */
    CHECK_INT(sqlite3_prepare_v2(store_db(s),
                                 "INSERT INTO registrations_search("
                                 "registrations_search, rowid, reference_id,"
                                 " name, phone_number) SELECT 'delete',"
                                 " row_id, reference_id, name, phone_number"
                                 " FROM registrations",
                                 -1, &st, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    CHECK_INT(store_integrity_check(s), ERR_CORRUPT);
    CHECK(strstr(plat_err_msg(), "search index") != NULL);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

/* ---- state, counts, transactions --------------------------------------- */

static void test_state(void)
{
    char *dir = tmpdir_make();
    struct store *s;
    char *v = NULL;

    REQUIRE(dir);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    CHECK_INT(store_state_get(s, "sync.121.cursor", &v), ERR_NOTFOUND);
    CHECK(v == NULL);
    CHECK_INT(store_state_set(s, "sync.121.cursor", "2025-03-04T10:11:12Z"),
              PLAT_OK);
    CHECK_INT(store_state_get(s, "sync.121.cursor", &v), PLAT_OK);
    CHECK_STR(v, "2025-03-04T10:11:12Z");
    plat_free(v);
    CHECK_INT(store_state_set(s, "sync.121.cursor", "later"), PLAT_OK);
    CHECK_INT(store_state_get(s, "sync.121.cursor", &v), PLAT_OK);
    CHECK_STR(v, "later");
    plat_free(v);
    CHECK_INT(store_state_set(s, "", "x"), ERR_INVALID);
    CHECK_INT(store_state_set(s, "k", NULL), ERR_INVALID);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static void test_counts_and_transactions(void)
{
    char *dir = tmpdir_make();
    struct store *s;
    struct store_counts c;
    char a[STORE_REF_MAX + 1], b[STORE_REF_MAX + 1];
    cJSON *prog;

    REQUIRE(dir);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    CHECK_INT(store_counts(s, &c), PLAT_OK);
    CHECK_INT(c.registrations, 0);
    CHECK_INT(c.pending, 0);

    CHECK_INT(create(s, "{\"fullName\":\"A\"}", a), PLAT_OK);
    CHECK_INT(create(s, "{\"fullName\":\"B\"}", b), PLAT_OK);
    CHECK_INT(store_reg_set_status(s, a, "included", NULL), PLAT_OK);
    CHECK_INT(store_outbox_set_state(s, 2, "rejected", "400: bad"), PLAT_OK);
    CHECK_INT(store_conflict_add(s, "121", 3, a, "status", "\"new\"",
                                 "\"included\"", "\"declined\"", NULL),
              PLAT_OK);
    prog = obj("{\"id\":3,\"programRegistrationAttributes\":[]}");
    CHECK_INT(store_program_put(s, prog, NULL), PLAT_OK);
    cJSON_Delete(prog);
    CHECK_INT(store_counts(s, &c), PLAT_OK);
    CHECK_INT(c.registrations, 2);
    CHECK_INT(c.pending, 2);
    CHECK_INT(c.rejected, 1);
    CHECK_INT(c.conflicts, 1);
    CHECK_INT(c.programs, 1);

    /* Writes join an open transaction; rollback drops them all. */
    CHECK_INT(store_begin(s), PLAT_OK);
    CHECK_INT(store_begin(s), ERR_INVALID);
    CHECK_INT(create(s, "{\"fullName\":\"C\"}", NULL), PLAT_OK);
    CHECK_INT(store_reg_set_status(s, b, "validated", NULL), PLAT_OK);
    store_rollback(s);
    CHECK_INT(store_counts(s, &c), PLAT_OK);
    CHECK_INT(c.registrations, 2);
    CHECK_INT(c.pending, 2);

    /* A failing write inside a transaction undoes only itself. */
    CHECK_INT(store_begin(s), PLAT_OK);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00010\",\"fullName\":\"D\"}",
                     NULL), PLAT_OK);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00010\",\"fullName\":\"E\"}",
                     NULL), ERR_EXISTS);
    CHECK_INT(store_commit(s), PLAT_OK);
    CHECK_INT(store_commit(s), ERR_INVALID);
    CHECK_INT(store_counts(s, &c), PLAT_OK);
    CHECK_INT(c.registrations, 3);
    CHECK_INT(c.pending, 3);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

/* ---- registrations ------------------------------------------------------ */

static void test_create_get(void)
{
    char *dir = tmpdir_make();
    struct store *s;
    char ref[STORE_REF_MAX + 1];
    cJSON *r = NULL;

    REQUIRE(dir);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\",\"fullName\":\"Ann "
                        "Example\",\"phoneNumber\":\"+31600000001\","
                        "\"householdSize\":\"4\"}", ref), PLAT_OK);
    CHECK_STR(ref, "ref-00001");
    CHECK_INT(store_reg_get(s, "ref-00001", &r), PLAT_OK);
    REQUIRE(r);
    CHECK_STR(str_field(r, "referenceId"), "ref-00001");
    CHECK_STR(str_field(r, "status"), "new");
    CHECK_STR(str_field(r, "fullName"), "Ann Example");
    CHECK_STR(str_field(r, "householdSize"), "4");
    CHECK(num_field(r, "programId") == 3);
    CHECK(str_field(r, "created") != NULL);
    CHECK(num_field(r, "_pending") == 1);
    CHECK(num_field(r, "_rejected") == 0);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "_serverId")));
    cJSON_Delete(r);
    r = NULL;
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations WHERE name = "
                         "'Ann Example' AND phone_number = '+31600000001' AND"
                         " status = 'new'"), 1);

    /* No referenceId: a UUID is made. */
    CHECK_INT(create(s, "{\"fullName\":\"Bo\"}", ref), PLAT_OK);
    CHECK_INT(strlen(ref), 36);
    CHECK_INT(store_reg_get(s, ref, &r), PLAT_OK);
    CHECK(r && str_field(r, "referenceId") &&
          strcmp(str_field(r, "referenceId"), ref) == 0);
    cJSON_Delete(r);
    r = NULL;

    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\"}", NULL), ERR_EXISTS);
    CHECK(strstr(plat_err_msg(), "ref-00001") != NULL);
    CHECK_INT(create(s, "{\"referenceId\":\"ab\"}", NULL), ERR_INVALID);
    CHECK_INT(create(s, "{\"referenceId\":\"ref$00002\"}", NULL), ERR_INVALID);
    CHECK_INT(create(s, "{\"referenceId\":\"status\"}", NULL), ERR_INVALID);
    CHECK_INT(create(s, "{\"referenceId\":\"ref 0002\"}", NULL), ERR_INVALID);
    CHECK_INT(create(s, "{\"referenceId\":12345}", NULL), ERR_INVALID);
    CHECK_INT(create(s, "{\"status\":\"included\"}", NULL), ERR_INVALID);
    CHECK_INT(create(s, "{\"a\":1,\"a\":2}", NULL), ERR_INVALID);
    CHECK_INT(store_reg_get(s, "ref-99999", &r), ERR_NOTFOUND);
    CHECK(r == NULL);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations"), 2);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), 2);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static void test_edit(void)
{
    char *dir = tmpdir_make();
    struct store *s;
    cJSON *ch, *r = NULL;
    int changed = -1;

    REQUIRE(dir);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\",\"fullName\":\"Ann\","
                        "\"phoneNumber\":\"12345\",\"district\":\"north\"}",
                     NULL), PLAT_OK);
    ch = obj("{\"phoneNumber\":\"+31 6 5555 0000\",\"district\":null,"
             "\"fullName\":\"Ann\"}");
    CHECK_INT(store_reg_edit_fields(&changed, s, "ref-00001", ch, "moved"),
              PLAT_OK);
    CHECK_INT(changed, 2); /* fullName is unchanged */
    cJSON_Delete(ch);
    CHECK_INT(store_reg_get(s, "ref-00001", &r), PLAT_OK);
    REQUIRE(r);
    CHECK_STR(str_field(r, "phoneNumber"), "+31 6 5555 0000");
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "district")));
    CHECK(num_field(r, "_pending") == 2);
    cJSON_Delete(r);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations WHERE "
                         "phone_number = '+31 6 5555 0000'"), 1);

    /* The same values again: nothing to write. */
    ch = obj("{\"phoneNumber\":\"+31 6 5555 0000\",\"district\":\"\"}");
    CHECK_INT(store_reg_edit_fields(&changed, s, "ref-00001", ch, NULL),
              PLAT_OK);
    CHECK_INT(changed, 0);
    cJSON_Delete(ch);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), 2);

    ch = obj("{\"status\":\"included\"}");
    CHECK_INT(store_reg_edit(s, "ref-00001", ch, NULL), ERR_INVALID);
    CHECK(strstr(plat_err_msg(), "agent registrations status") != NULL);
    cJSON_Delete(ch);
    ch = obj("{\"referenceId\":\"ref-00009\"}");
    CHECK_INT(store_reg_edit(s, "ref-00001", ch, NULL), ERR_INVALID);
    cJSON_Delete(ch);
    ch = obj("{}");
    CHECK_INT(store_reg_edit(s, "ref-00001", ch, NULL), ERR_INVALID);
    cJSON_Delete(ch);
    ch = obj("{\"fullName\":\"X\"}");
    CHECK_INT(store_reg_edit(s, "ref-00404", ch, NULL), ERR_NOTFOUND);
    cJSON_Delete(ch);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), 2);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static void test_set_status(void)
{
    char *dir = tmpdir_make();
    struct store *s;
    cJSON *r = NULL;

    REQUIRE(dir);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\"}", NULL), PLAT_OK);
    CHECK_INT(store_reg_set_status(s, "ref-00001", "included", NULL),
              PLAT_OK);
    CHECK_INT(store_reg_set_status(s, "ref-00001", "included", NULL),
              ERR_INVALID);
    CHECK_STR(plat_err_msg(), "ref-00001 is already included");
    /* The 121 status table is the caller's (c121_model.h): the store
     * records any non-empty status, with the reason it is given. */
    CHECK_INT(store_reg_set_status(s, "ref-00001", "", NULL), ERR_INVALID);
    CHECK_INT(store_reg_set_status(s, "ref-00001", NULL, NULL), ERR_INVALID);
    CHECK_INT(store_reg_set_status(s, "ref-00404", "included", NULL),
              ERR_NOTFOUND);
    CHECK_INT(store_reg_set_status(s, "ref-00001", "paused", "away"),
              PLAT_OK);
    CHECK_INT(store_reg_set_status(s, "ref-00001", "deleted", "left"),
              PLAT_OK);
    CHECK_INT(store_reg_set_status(s, "ref-00001", "deleted", "again"),
              ERR_INVALID);
    CHECK_STR(plat_err_msg(), "ref-00001 is already deleted");
    CHECK_INT(store_reg_get(s, "ref-00001", &r), PLAT_OK);
    CHECK_STR(str_field(r, "status"), "deleted");
    cJSON_Delete(r);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations WHERE status = "
                         "'deleted'"), 1);
    CHECK_INT(sql_int(s, "SELECT count(*) FROM outbox"), 4);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

static void test_list(void)
{
    char *dir = tmpdir_make();
    struct store *s;
    struct store_reg_filter f;
    struct refs *r = plat_calloc(1, sizeof(*r));
    int64_t total = -1;
    char json[200];
    int i;

    REQUIRE(dir && r);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    for (i = 1; i <= 30; i++) {
        snprintf(json, sizeof(json),
                 "{\"referenceId\":\"ref-%05d\",\"fullName\":\"P %d\","
                 "\"district\":\"%s\",\"householdSize\":%d}",
                 i, i, i % 3 == 0 ? "north" : "south", i % 5);
        CHECK_INT(create(s, json, NULL), PLAT_OK);
    }
    CHECK_INT(store_reg_set_status(s, "ref-00002", "included", NULL),
              PLAT_OK);

    memset(&f, 0, sizeof(f));
    CHECK_INT(store_reg_list(s, &f, collect, r, &total), PLAT_OK);
    CHECK_INT(total, 30);
    CHECK_INT(r->n, 30);
    CHECK_STR(r->ref[0], "ref-00001");

    memset(r, 0, sizeof(*r));
    f.attr_name = "district";
    f.attr_value = "north";
    f.limit = 4;
    f.offset = 2;
    CHECK_INT(store_reg_list(s, &f, collect, r, &total), PLAT_OK);
    CHECK_INT(total, 10);
    CHECK_INT(r->n, 4);
    CHECK_STR(r->ref[0], "ref-00009");

    /* Numbers match their text, as 121 compares. */
    memset(r, 0, sizeof(*r));
    memset(&f, 0, sizeof(f));
    f.attr_name = "householdSize";
    f.attr_value = "4";
    CHECK_INT(store_reg_list(s, &f, collect, r, &total), PLAT_OK);
    CHECK_INT(total, 6);

    memset(r, 0, sizeof(*r));
    memset(&f, 0, sizeof(f));
    f.status = "included";
    f.program_id = 3;
    CHECK_INT(store_reg_list(s, &f, collect, r, &total), PLAT_OK);
    CHECK_INT(total, 1);
    CHECK_STR(r->ref[0], "ref-00002");
    f.program_id = 4;
    CHECK_INT(store_reg_list(s, &f, collect, r, &total), PLAT_OK);
    CHECK_INT(total, 0);

    memset(&f, 0, sizeof(f));
    f.attr_name = "x') OR 1=1 --";
    f.attr_value = "1";
    CHECK_INT(store_reg_list(s, &f, collect, r, &total), ERR_INVALID);
    f.attr_name = "district";
    f.attr_value = NULL;
    CHECK_INT(store_reg_list(s, &f, collect, r, &total), ERR_INVALID);
    store_close(s);
    plat_free(r);
    testutil_tmpdir_remove(dir);
}

static void test_search_small(void)
{
    char *dir = tmpdir_make();
    struct store *s;
    struct refs *r = plat_calloc(1, sizeof(*r));

    REQUIRE(dir && r);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\",\"fullName\":\"Anna "
                        "Jansen\",\"phoneNumber\":\"+31600000001\"}", NULL),
              PLAT_OK);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00002\",\"fullName\":\"Bram "
                        "de Vries\",\"phoneNumber\":\"+31611112222\"}", NULL),
              PLAT_OK);
    CHECK_INT(create(s, "{\"referenceId\":\"xyz-00003\",\"fullName\":"
                        "\"O\\\"Brien 50%_off\",\"phoneNumber\":\"0044\"}",
                     NULL),
              PLAT_OK);

    CHECK_INT(store_reg_search(s, "JANS", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 1);
    CHECK(has_ref(r, "ref-00001"));
    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, "1111", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 1);
    CHECK(has_ref(r, "ref-00002"));
    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, "ref-0000", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 2);
    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, "+316", 1, collect, r), PLAT_OK);
    CHECK_INT(r->n, 1); /* limit */
    memset(r, 0, sizeof(*r));
    /* Short text: LIKE, with % and _ taken literally. */
    CHECK_INT(store_reg_search(s, "br", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 2); /* Bram, O"Brien */
    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, "%_", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 1);
    CHECK(has_ref(r, "xyz-00003"));
    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, "_", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 1);
    memset(r, 0, sizeof(*r));
    /* Query syntax is not interpreted. */
    CHECK_INT(store_reg_search(s, "O\"Brien", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 1);
    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, "Anna OR Bram", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 0);
    CHECK_INT(store_reg_search(s, "NEAR(a b)*", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 0);
    CHECK_INT(store_reg_search(s, "", 0, collect, r), ERR_INVALID);
    CHECK_INT(store_reg_search(s, "\xff\xfe\xfd", 0, collect, r),
              ERR_INVALID);

    /* An edit moves the row in the index. */
    {
        cJSON *ch = obj("{\"fullName\":\"Anna Pietersen\"}");
        CHECK_INT(store_reg_edit(s, "ref-00001", ch, NULL), PLAT_OK);
        cJSON_Delete(ch);
    }
    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, "jansen", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 0);
    CHECK_INT(store_reg_search(s, "pieters", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 1);
    store_close(s);
    plat_free(r);
    testutil_tmpdir_remove(dir);
}

#define BIG 40000

static void test_search_40k(void)
{
    static const char *const words[] = {"Amina", "Bashir", "Chloe", "Dawit",
                                        "Esther", "Farah", "Goran", "Hiba"};
    char *dir = tmpdir_make();
    struct store *s;
    struct refs *r = plat_calloc(1, sizeof(*r));
    char json[256], ref[32];
    int64_t n = 0;
    int i, ok = 1;

    REQUIRE(dir && r);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    for (i = 0; i < BIG && ok; i++) {
        if (i % 1000 == 0)
            ok = store_begin(s) == PLAT_OK;
        /* Every 1000th person is a "Zebediah"; phone numbers are unique. */
        snprintf(json, sizeof(json),
                 "{\"referenceId\":\"ref-%06d\",\"fullName\":\"%s %s %d\","
                 "\"phoneNumber\":\"+2547%08d\"}",
                 i, words[i % 8], i % 1000 == 7 ? "Zebediah" : "Person", i,
                 (i * 7919) % 100000000);
        ok = ok && create(s, json, NULL) == PLAT_OK;
        if (i % 1000 == 999)
            ok = ok && store_commit(s) == PLAT_OK;
    }
    REQUIRE(ok);
    CHECK_INT(store_reg_count(s, &n), PLAT_OK);
    CHECK_INT(n, BIG);

    CHECK_INT(store_reg_search(s, "zebediah", 100, collect, r), PLAT_OK);
    CHECK_INT(r->n, 40);
    for (i = 0; i < r->n; i++)
        CHECK(strtol(r->ref[i] + 4, NULL, 10) % 1000 == 7);
    CHECK(has_ref(r, "ref-039007"));

    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, "ref-031337", 0, collect, r), PLAT_OK);
    CHECK_INT(r->n, 1);
    CHECK(has_ref(r, "ref-031337"));

    /* Phone of person 12345: +2547 then (12345 * 7919) % 10^8. */
    snprintf(ref, sizeof(ref), "%08d", (12345 * 7919) % 100000000);
    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, ref, 0, collect, r), PLAT_OK);
    CHECK(has_ref(r, "ref-012345"));

    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, "hiba person 3999", 0, collect, r),
              PLAT_OK);
    /* Hiba is every i % 8 == 7: 3999, 39991 and 39999. */
    CHECK_INT(r->n, 3);
    CHECK(has_ref(r, "ref-039991"));
    CHECK(has_ref(r, "ref-003999"));
    CHECK(has_ref(r, "ref-039999"));

    memset(r, 0, sizeof(*r));
    CHECK_INT(store_reg_search(s, "ZE", 500, collect, r), PLAT_OK);
    CHECK_INT(r->n, 40); /* two characters: the LIKE scan */
    store_close(s);
    plat_free(r);
    testutil_tmpdir_remove(dir);
}

/* ---- server copies ------------------------------------------------------ */

static void test_put_server(void)
{
    char *dir = tmpdir_make();
    struct store *s;
    cJSON *ch, *srv, *r = NULL, *arr;

    REQUIRE(dir);
    s = testutil_store_new(dir, "store.db");
    REQUIRE(s);
    CHECK_INT(create(s, "{\"referenceId\":\"ref-00001\",\"fullName\":\"Ann\","
                        "\"phoneNumber\":\"12345\",\"householdSize\":\"3\"}",
                     NULL), PLAT_OK);
    ch = obj("{\"phoneNumber\":\"99999\"}");
    CHECK_INT(store_reg_edit(s, "ref-00001", ch, "new phone"), PLAT_OK);
    cJSON_Delete(ch);
    CHECK_INT(store_reg_set_status(s, "ref-00001", "included", NULL),
              PLAT_OK);

    /* The server has the registration now, with other values. */
    srv = obj("{\"id\":17,\"referenceId\":\"ref-00001\",\"programId\":3,"
              "\"status\":\"new\",\"created\":\"2025-02-01T10:00:00.000Z\","
              "\"fullName\":\"Ann Server\",\"phoneNumber\":\"12345\","
              "\"householdSize\":\"4\",\"name\":\"Ann Server\"}");
    CHECK_INT(store_reg_put_server(s, srv), PLAT_OK);
    CHECK_INT(store_reg_get(s, "ref-00001", &r), PLAT_OK);
    REQUIRE(r);
    CHECK_STR(str_field(r, "phoneNumber"), "99999");    /* pending edit */
    CHECK_STR(str_field(r, "status"), "included");      /* pending status */
    CHECK_STR(str_field(r, "fullName"), "Ann Server");  /* server */
    CHECK_STR(str_field(r, "householdSize"), "4");      /* server, not create */
    CHECK(num_field(r, "_serverId") == 17);
    CHECK(num_field(r, "_pending") == 3);
    cJSON_Delete(r);
    r = NULL;
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations WHERE id = 17 "
                         "AND server_json IS NOT NULL AND server_seen_at IS "
                         "NOT NULL AND status = 'included' AND name = 'Ann "
                         "Server' AND phone_number = '99999'"), 1);

    /* Once the edit is done, the server value shows. */
    CHECK_INT(store_outbox_set_state(s, 2, "done", NULL), PLAT_OK);
    CHECK_INT(store_reg_put_server(s, srv), PLAT_OK);
    CHECK_INT(store_reg_get(s, "ref-00001", &r), PLAT_OK);
    CHECK_STR(str_field(r, "phoneNumber"), "12345");
    CHECK_STR(str_field(r, "status"), "included");
    cJSON_Delete(r);
    r = NULL;
    cJSON_Delete(srv);

    /* New rows, in a caller's transaction; rollback drops them. */
    arr = obj("[{\"id\":18,\"referenceId\":\"ref-00002\",\"programId\":3,"
              "\"status\":\"included\",\"fullName\":\"Bo\"},"
              "{\"id\":19,\"referenceId\":\"ref-00003\",\"programId\":3,"
              "\"status\":\"new\",\"fullName\":\"Cy\"}]");
    CHECK_INT(store_begin(s), PLAT_OK);
    CHECK_INT(store_reg_put_server_batch(s, arr), PLAT_OK);
    store_rollback(s);
    CHECK_INT(store_reg_get(s, "ref-00002", &r), ERR_NOTFOUND);
    CHECK_INT(store_reg_put_server_batch(s, arr), PLAT_OK);
    CHECK_INT(store_reg_get(s, "ref-00003", &r), PLAT_OK);
    CHECK_STR(str_field(r, "fullName"), "Cy");
    CHECK(num_field(r, "_pending") == 0);
    cJSON_Delete(r);
    r = NULL;
    cJSON_Delete(arr);
    {
        struct refs *found = plat_calloc(1, sizeof(*found));
        REQUIRE(found);
        CHECK_INT(store_reg_search(s, "Bo", 0, collect, found), PLAT_OK);
        CHECK(has_ref(found, "ref-00002"));
        plat_free(found);
    }

    srv = obj("{\"id\":18,\"referenceId\":\"ref-00004\",\"programId\":3}");
    CHECK_INT(store_reg_put_server(s, srv), ERR_CONFLICT);
    cJSON_Delete(srv);
    srv = obj("{\"id\":20,\"programId\":3}");
    CHECK_INT(store_reg_put_server(s, srv), ERR_INVALID);
    cJSON_Delete(srv);
    srv = obj("{\"id\":20,\"referenceId\":\"ref-00005\"}");
    CHECK_INT(store_reg_put_server(s, srv), ERR_INVALID);
    CHECK(strstr(plat_err_msg(), "programId") != NULL);
    cJSON_Delete(srv);
    CHECK_INT(store_integrity_check(s), PLAT_OK);

    /* A row with nothing pending is stored once (local_own '', 0010). */
    CHECK_INT(sql_int(s, "SELECT count(*) FROM registrations WHERE"
                         " reference_id = 'ref-00003' AND local_own = ''"
                         " AND local_json = server_json"), 1);

    /* Inside a caller's transaction a row that fails (its id is taken)
     * undoes only itself - no savepoint is set per row, its index entry
     * goes with it - and the transaction goes on. */
    CHECK_INT(store_begin(s), PLAT_OK);
    srv = obj("{\"id\":21,\"referenceId\":\"ref-00006\",\"programId\":3,"
              "\"fullName\":\"Dee Fail\"}");
    CHECK_INT(store_reg_put_server(s, srv), PLAT_OK);
    cJSON_Delete(srv);
    srv = obj("{\"id\":21,\"referenceId\":\"ref-00007\",\"programId\":3,"
              "\"fullName\":\"Eve Taken\"}");
    CHECK_INT(store_reg_put_server(s, srv), ERR_CONFLICT);
    cJSON_Delete(srv);
    CHECK_INT(store_commit(s), PLAT_OK);
    CHECK_INT(store_reg_get(s, "ref-00007", &r), ERR_NOTFOUND);
    {
        struct refs *found = plat_calloc(1, sizeof(*found));
        REQUIRE(found);
        CHECK_INT(store_reg_search(s, "Taken", 0, collect, found), PLAT_OK);
        CHECK(!has_ref(found, "ref-00007"));
        CHECK_INT(store_reg_search(s, "Dee Fail", 0, collect, found),
                  PLAT_OK);
        CHECK(has_ref(found, "ref-00006"));
        plat_free(found);
    }

    /* With its text, the store reads only a few members of the tree: a
     * row with a pending edit gets its view from the whole text. */
    ch = obj("{\"householdSize\":\"7\"}");
    CHECK_INT(store_reg_edit(s, "ref-00006", ch, NULL), PLAT_OK);
    cJSON_Delete(ch);
    {
        static const char text[] =
            "{\"id\":21,\"referenceId\":\"ref-00006\",\"programId\":3,"
            "\"fullName\":\"Dee Fail\",\"district\":\"north\","
            "\"householdSize\":\"2\"}";
        srv = obj("{\"id\":21,\"referenceId\":\"ref-00006\","
                  "\"programId\":3,\"fullName\":\"Dee Fail\"}");
        CHECK_INT(store_reg_put_server_text(s, srv, text, strlen(text)),
                  PLAT_OK);
        cJSON_Delete(srv);
    }
    CHECK_INT(store_reg_get(s, "ref-00006", &r), PLAT_OK);
    CHECK_STR(str_field(r, "district"), "north");
    CHECK_STR(str_field(r, "householdSize"), "7");
    cJSON_Delete(r);
    r = NULL;
    CHECK_INT(store_integrity_check(s), PLAT_OK);
    store_close(s);
    testutil_tmpdir_remove(dir);
}

TEST_MAIN(TEST(test_open_create_notfound), TEST(test_open_empty_file),
          TEST(test_open_missing_dir),
          TEST(test_open_corrupt), TEST(test_open_newer_version),
          TEST(test_open_readonly), TEST(test_integrity_check),
          TEST(test_state), TEST(test_counts_and_transactions),
          TEST(test_create_get), TEST(test_edit), TEST(test_set_status),
          TEST(test_list), TEST(test_search_small), TEST(test_search_40k),
          TEST(test_put_server))
