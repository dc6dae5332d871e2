/*
 * test_platform.c - unit tests of the platform layer (platform/include).
 *
 * Each test that touches the file system works in its own fresh directory
 * under $TMPDIR (or /tmp) and removes it at the end. Lock and random tests
 * fork children, which report back through their exit status or a pipe.
 */
#include "testlib.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_lock.h"
#include "plat_log.h"
#include "plat_random.h"
#include "plat_time.h"
#include "plat_utf8.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------- */

/* A new empty directory for one test; caller frees and removes it. */
static char *make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = plat_asprintf("%s/test_platform.XXXXXX",
                              base && *base ? base : "/tmp");

    if (dir && !mkdtemp(dir)) {
        plat_free(dir);
        return NULL;
    }
    return dir;
}

/* Remove `dir` and the plain files in it (tests make nothing deeper than
 * the subdirectories they remove themselves). */
static void remove_tmpdir(char *dir)
{
    DIR *d;
    struct dirent *e;

    if (!dir)
        return;
    d = opendir(dir);
    if (d) {
        while ((e = readdir(d)) != NULL) {
            char *p;

            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            p = plat_asprintf("%s/%s", dir, e->d_name);
            if (p && unlink(p) < 0)
                rmdir(p);
            plat_free(p);
        }
        closedir(d);
    }
    rmdir(dir);
    plat_free(dir);
}

/* Number of entries in `dir` other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Exit status of child `pid`, or -1 if it did not exit normally. */
static int wait_child(pid_t pid)
{
    int status;

    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* ---- err -------------------------------------------------------------- */

static void test_err_set_get_clear(void)
{
    char longmsg[1000];

    plat_err_clear();
    CHECK_INT(plat_err_code(), PLAT_OK);
    CHECK_STR(plat_err_msg(), "");

    CHECK_INT(plat_err_set(ERR_NOTFOUND, "registration %s missing", "r-1"),
              ERR_NOTFOUND);
    CHECK_INT(plat_err_code(), ERR_NOTFOUND);
    CHECK_STR(plat_err_msg(), "registration r-1 missing");

    /* A later error replaces the earlier one. */
    plat_err_set(ERR_IO, "disk %d", 2);
    CHECK_INT(plat_err_code(), ERR_IO);
    CHECK_STR(plat_err_msg(), "disk 2");

    plat_err_clear();
    CHECK_INT(plat_err_code(), PLAT_OK);
    CHECK_STR(plat_err_msg(), "");

    /* Long messages are cut, not overflowed. */
    memset(longmsg, 'x', sizeof(longmsg) - 1);
    longmsg[sizeof(longmsg) - 1] = '\0';
    plat_err_set(ERR_GENERIC, "%s", longmsg);
    CHECK(strlen(plat_err_msg()) > 100);
    CHECK(strlen(plat_err_msg()) < sizeof(longmsg) - 1);
    plat_err_clear();
}

static void test_err_names(void)
{
    CHECK_STR(plat_err_name(PLAT_OK), "ok");
    CHECK_STR(plat_err_name(ERR_NOTFOUND), "not found");
    CHECK_STR(plat_err_name(ERR_LOCKED), "locked");
    CHECK_STR(plat_err_name(ERR_TOOLARGE), "too large");
    CHECK_STR(plat_err_name(-999), "unknown error");
    /* Every defined code has its own name. */
    for (int a = ERR_USAGE; a <= PLAT_OK; a++) {
        CHECK(strcmp(plat_err_name(a), "unknown error") != 0);
        for (int b = a + 1; b <= PLAT_OK; b++)
            CHECK(strcmp(plat_err_name(a), plat_err_name(b)) != 0);
    }
}

/* ---- alloc ------------------------------------------------------------ */

static void test_alloc_fail_after(void)
{
    void *a, *b, *c, *d;
    char *s;

    plat_err_clear();
    plat_alloc_fail_after(2);
    a = plat_malloc(10);
    b = plat_calloc(2, 8);
    c = plat_malloc(10);
    d = plat_strdup("x");
    CHECK(a != NULL);
    CHECK(b != NULL);
    CHECK(c == NULL);
    CHECK(d == NULL);
    CHECK_INT(plat_err_code(), ERR_NOMEM);
    plat_alloc_fail_after(-1);
    c = plat_realloc(NULL, 10);
    CHECK(c != NULL);
    plat_free(a);
    plat_free(b);
    plat_free(c);
    plat_free(NULL);

    /* fail_after(0) fails the very next allocation. */
    plat_alloc_fail_after(0);
    s = plat_asprintf("%d", 42);
    CHECK(s == NULL);
    plat_alloc_fail_after(-1);

    s = plat_asprintf("%s-%03d", "ref", 7);
    CHECK_STR(s, "ref-007");
    plat_free(s);
    s = plat_strndup("abcdef", 3);
    CHECK_STR(s, "abc");
    plat_free(s);
    s = plat_strndup("ab", 10);
    CHECK_STR(s, "ab");
    plat_free(s);

    /* calloc size overflow is refused, not wrapped around. */
    plat_err_clear();
    CHECK(plat_calloc((size_t)-1 / 2, 4) == NULL);
    CHECK_INT(plat_err_code(), ERR_NOMEM);
    plat_err_clear();
}

/* ---- buf -------------------------------------------------------------- */

static void test_buf_append(void)
{
    struct plat_buf b;
    char *s;

    plat_buf_init(&b, 0);
    CHECK(b.data == NULL);
    CHECK_INT(plat_buf_puts(&b, "hello"), PLAT_OK);
    CHECK_INT(plat_buf_append(&b, ", ", 2), PLAT_OK);
    CHECK_INT(plat_buf_printf(&b, "%s %d", "world", 42), PLAT_OK);
    CHECK_STR(b.data, "hello, world 42");
    CHECK_INT(b.len, 15);

    /* Growth over many appends keeps content and terminator. */
    plat_buf_reset(&b);
    CHECK_INT(b.len, 0);
    CHECK_STR(b.data, "");
    for (int i = 0; i < 10000; i++)
        CHECK_INT(plat_buf_append(&b, "0123456789", 10), PLAT_OK);
    CHECK_INT(b.len, 100000);
    CHECK_INT(strlen(b.data), 100000);
    CHECK(memcmp(b.data + 99990, "0123456789", 10) == 0);

    s = plat_buf_detach(&b);
    REQUIRE(s != NULL);
    CHECK_INT(strlen(s), 100000);
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);
    plat_free(s);

    /* The buffer is usable again after detach. */
    CHECK_INT(plat_buf_puts(&b, "again"), PLAT_OK);
    CHECK_STR(b.data, "again");
    plat_buf_dispose(&b);
    CHECK(b.data == NULL);
}

static void test_buf_cap(void)
{
    struct plat_buf b;
    char *s;

    plat_buf_init(&b, 10);
    CHECK_INT(plat_buf_puts(&b, "12345678"), PLAT_OK);
    CHECK_INT(plat_buf_puts(&b, "90"), PLAT_OK); /* exactly the cap */
    CHECK_INT(b.len, 10);
    CHECK_INT(plat_buf_puts(&b, "x"), ERR_TOOLARGE);
    CHECK_INT(plat_err_code(), ERR_TOOLARGE);
    /* The failure freed the content. */
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);

    CHECK_INT(plat_buf_printf(&b, "%s", "01234567890"), ERR_TOOLARGE);
    CHECK(b.data == NULL);
    plat_buf_dispose(&b);

    /* An allocation failure also frees what was there. */
    plat_buf_init(&b, 0);
    CHECK_INT(plat_buf_puts(&b, "abc"), PLAT_OK);
    plat_alloc_fail_after(0);
    CHECK_INT(plat_buf_append(&b, "0123456789012345678901234567890123456789",
                              40), ERR_NOMEM);
    plat_alloc_fail_after(-1);
    CHECK(b.data == NULL);
    CHECK_INT(b.len, 0);

    /* Detaching an empty buffer gives an allocated "". */
    s = plat_buf_detach(&b);
    REQUIRE(s != NULL);
    CHECK_STR(s, "");
    plat_free(s);
    plat_buf_dispose(&b);
    plat_err_clear();
}

/* ---- time ------------------------------------------------------------- */

static void test_time_iso_format(void)
{
    char s[PLAT_ISO_LEN];

    plat_time_iso(0, s);
    CHECK_STR(s, "1970-01-01T00:00:00.000Z");
    plat_time_iso(1795835853123LL, s);
    CHECK_STR(s, "2026-11-28T03:17:33.123Z");
    plat_time_iso(1709251199000LL, s);
    CHECK_STR(s, "2024-02-29T23:59:59.000Z");
    plat_time_iso(-1, s);
    CHECK_STR(s, "1969-12-31T23:59:59.999Z");
    CHECK_INT(strlen(s), PLAT_ISO_LEN - 1);
}

static void test_time_parse_round_trip(void)
{
    int64_t t = 0, now = plat_time_wall_ms();
    char s[PLAT_ISO_LEN];

    CHECK_INT(plat_time_parse_iso("2026-11-28T03:17:33.123Z", &t), PLAT_OK);
    CHECK_INT(t, 1795835853123LL);
    CHECK_INT(plat_time_parse_iso("2024-02-29T23:59:59Z", &t), PLAT_OK);
    CHECK_INT(t, 1709251199000LL);
    CHECK_INT(plat_time_parse_iso("1970-01-01T00:00:00.000Z", &t), PLAT_OK);
    CHECK_INT(t, 0);

    plat_time_iso(now, s);
    CHECK_INT(plat_time_parse_iso(s, &t), PLAT_OK);
    CHECK_INT(t, now);
    /* The wall clock is after this code was written. */
    CHECK(now > 1735689600000LL);
}

static void test_time_parse_rejects(void)
{
    static const char *const bad[] = {
        "2025-13-01T00:00:00Z",     /* month 13 */
        "2025-00-01T00:00:00Z",     /* month 0 */
        "2025-02-29T00:00:00Z",     /* not a leap year */
        "2025-04-31T00:00:00Z",     /* April has 30 days */
        "2025-01-01T24:00:00Z",     /* hour 24 */
        "2025-01-01T00:60:00Z",     /* minute 60 */
        "2025-01-01T00:00:60Z",     /* leap second */
        "2025-01-01T00:00:00",      /* no zone */
        "2025-01-01T00:00:00+01:00", /* not UTC */
        "2025-01-01 00:00:00Z",     /* space */
        "2025-01-01T00:00:00.12Z",  /* two-digit fraction */
        "2025-01-01T00:00:00.Z",    /* empty fraction */
        "2025-01-01T00:00:00Z ",    /* trailing garbage */
        "2025-1-01T00:00:00Z",      /* short field */
        "+025-01-01T00:00:00Z",
        "garbage",
        "",
    };
    int64_t t = 77;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        plat_err_clear();
        if (plat_time_parse_iso(bad[i], &t) != ERR_INVALID)
            fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
        CHECK_INT(plat_err_code(), ERR_INVALID);
    }
    CHECK_INT(plat_time_parse_iso(NULL, &t), ERR_INVALID);
    CHECK_INT(t, 77); /* untouched on failure */
    plat_err_clear();
}

static void test_time_monotonic(void)
{
    int64_t prev = plat_time_mono_us(), start = plat_time_mono_ms();

    for (int i = 0; i < 100000; i++) {
        int64_t now = plat_time_mono_us();

        CHECK(now >= prev);
        prev = now;
    }
    plat_time_sleep_ms(30);
    CHECK(plat_time_mono_ms() - start >= 30);
    plat_time_sleep_ms(0);
    plat_time_sleep_ms(-5);
}

/* ---- log -------------------------------------------------------------- */

static void test_log_file_and_reopen(void)
{
    char *dir = make_tmpdir();
    char *path = NULL, *rotated = NULL, *text = NULL, *missing = NULL;
    size_t len = 0;

    REQUIRE(dir != NULL);
    path = plat_asprintf("%s/agent.log", dir);
    rotated = plat_asprintf("%s/agent.log.1", dir);
    missing = plat_asprintf("%s/nodir/agent.log", dir);
    REQUIRE(path && rotated && missing);

    CHECK_INT(plat_log_level_parse("warn"), LOG_LVL_WARN);
    CHECK_INT(plat_log_level_parse("debug"), LOG_LVL_DEBUG);
    CHECK_INT(plat_log_level_parse("loud"), -1);
    CHECK_STR(plat_log_level_name(LOG_LVL_ERROR), "error");

    CHECK_INT(plat_log_set_file(path), PLAT_OK);
    plat_log_set_level(LOG_LVL_INFO);
    CHECK_INT(plat_log_get_level(), LOG_LVL_INFO);
    log_warn("sync failed for %s", "ref-1");
    log_debug("not written at info level");
    log_info("two\nlines");

    /* Rotation: move the file away, reopen, the next line goes to a new
     * file at the old path. */
    CHECK_INT(rename(path, rotated), 0);
    CHECK_INT(plat_log_reopen(), PLAT_OK);
    log_error("after rotation");

    /* A file that cannot be opened leaves logging where it was. */
    CHECK_INT(plat_log_set_file(missing), ERR_IO);
    log_error("still here");
    CHECK_INT(plat_log_set_file(NULL), PLAT_OK);

    CHECK_INT(plat_fs_read_file(rotated, 4096, &text, &len), PLAT_OK);
    REQUIRE(text != NULL);
    /* "2026-11-28T03:17:33.123Z warn  message" */
    CHECK(len > 25 && text[4] == '-' && text[10] == 'T' && text[23] == 'Z');
    CHECK(strncmp(text + 24, " warn  sync failed for ref-1\n", 29) == 0);
    CHECK(strstr(text, " info  two lines\n") != NULL);
    CHECK(strstr(text, "not written") == NULL);
    CHECK(strstr(text, "after rotation") == NULL);
    plat_free(text);
    text = NULL;

    CHECK_INT(plat_fs_read_file(path, 4096, &text, &len), PLAT_OK);
    REQUIRE(text != NULL);
    CHECK(strstr(text, " error after rotation\n") != NULL);
    CHECK(strstr(text, " error still here\n") != NULL);
    CHECK(strstr(text, "sync failed") == NULL);
    plat_free(text);

    plat_log_set_level(LOG_LVL_INFO);
    plat_err_clear();
    plat_free(path);
    plat_free(rotated);
    plat_free(missing);
    remove_tmpdir(dir);
}

/* ---- fs --------------------------------------------------------------- */

static void test_fs_write_atomic(void)
{
    char *dir = make_tmpdir();
    char *path = NULL, *text = NULL, *bad = NULL, *bad_dir = NULL;
    unsigned mode = 0;
    size_t len = 0;

    REQUIRE(dir != NULL);
    path = plat_asprintf("%s/state.json", dir);
    bad = plat_asprintf("%s/missing/state.json", dir);
    bad_dir = plat_asprintf("%s/a-directory", dir);
    REQUIRE(path && bad && bad_dir);

    CHECK_INT(plat_fs_write_atomic(path, "{\"a\":1}", 7, 0600), PLAT_OK);
    CHECK_INT(plat_fs_read_file(path, 100, &text, &len), PLAT_OK);
    CHECK_STR(text, "{\"a\":1}");
    CHECK_INT(len, 7);
    plat_free(text);
    text = NULL;
    CHECK_INT(plat_fs_mode(path, &mode), PLAT_OK);
    CHECK_INT(mode, 0600);

    /* Overwrite with other content and a mode the umask would cut. */
    CHECK_INT(plat_fs_write_atomic(path, "second", 6, 0660), PLAT_OK);
    CHECK_INT(plat_fs_read_file(path, 100, &text, &len), PLAT_OK);
    CHECK_STR(text, "second");
    plat_free(text);
    text = NULL;
    CHECK_INT(plat_fs_mode(path, &mode), PLAT_OK);
    CHECK_INT(mode, 0660);

    /* Empty content is a valid file. */
    CHECK_INT(plat_fs_write_atomic(path, "", 0, 0600), PLAT_OK);
    CHECK_INT(plat_fs_read_file(path, 100, &text, &len), PLAT_OK);
    CHECK_STR(text, "");
    CHECK_INT(len, 0);
    plat_free(text);
    text = NULL;

    /* No temp file is left beside the target. */
    CHECK_INT(count_entries(dir), 1);

    /* Failure in a missing directory: ERR_IO naming the path, no file. */
    plat_err_clear();
    CHECK_INT(plat_fs_write_atomic(bad, "x", 1, 0600), ERR_IO);
    CHECK(strstr(plat_err_msg(), "missing/state.json") != NULL);
    CHECK(!plat_fs_exists(bad));
    CHECK_INT(count_entries(dir), 1);

    /* A failure after the temp file was written (rename onto a directory)
     * removes the temp file. */
    CHECK_INT(mkdir(bad_dir, 0700), 0);
    CHECK_INT(plat_fs_write_atomic(bad_dir, "x", 1, 0600), ERR_IO);
    CHECK(strstr(plat_err_msg(), "rename") != NULL);
    CHECK_INT(count_entries(dir), 2);
    CHECK_INT(rmdir(bad_dir), 0);

    /* Failure on an existing target leaves the old content. */
    CHECK_INT(plat_fs_write_atomic(path, "keep", 4, 0600), PLAT_OK);
    CHECK_INT(chmod(dir, 0500), 0);
    if (geteuid() != 0) { /* root ignores the directory's permissions */
        CHECK_INT(plat_fs_write_atomic(path, "lost", 4, 0600), ERR_IO);
        CHECK_INT(plat_fs_read_file(path, 100, &text, &len), PLAT_OK);
        CHECK_STR(text, "keep");
        plat_free(text);
        text = NULL;
    }
    CHECK_INT(chmod(dir, 0700), 0);
    CHECK_INT(count_entries(dir), 1);

    plat_err_clear();
    plat_free(path);
    plat_free(bad);
    plat_free(bad_dir);
    remove_tmpdir(dir);
}

static void test_fs_read_file(void)
{
    char *dir = make_tmpdir();
    char *path = NULL, *none = NULL, *text = NULL;
    size_t len = 99;

    REQUIRE(dir != NULL);
    path = plat_asprintf("%s/data", dir);
    none = plat_asprintf("%s/none", dir);
    REQUIRE(path && none);
    CHECK_INT(plat_fs_write_atomic(path, "0123456789", 10, 0600), PLAT_OK);

    /* Exactly at the limit is fine, one byte over is not. */
    CHECK_INT(plat_fs_read_file(path, 10, &text, NULL), PLAT_OK);
    CHECK_STR(text, "0123456789");
    plat_free(text);
    text = NULL;
    CHECK_INT(plat_fs_read_file(path, 9, &text, &len), ERR_TOOLARGE);
    CHECK(text == NULL);
    CHECK_INT(len, 0);

    CHECK_INT(plat_fs_read_file(none, 100, &text, &len), ERR_NOTFOUND);
    CHECK(text == NULL);
    CHECK(!plat_fs_exists(none));
    CHECK(plat_fs_exists(path));

    /* A directory is not a file to read. */
    CHECK_INT(plat_fs_read_file(dir, 100, &text, &len), ERR_IO);
    CHECK(text == NULL);

    /* Files whose st_size says nothing (Linux /proc reports 0) are still
     * held to the limit while reading. */
    if (plat_fs_exists("/proc/self/status")) {
        CHECK_INT(plat_fs_read_file("/proc/self/status", 16, &text, &len),
                  ERR_TOOLARGE);
        CHECK(text == NULL);
        CHECK_INT(plat_fs_read_file("/proc/self/status", 1 << 20, &text,
                                    &len), PLAT_OK);
        CHECK(text && len > 16 && strlen(text) == len);
        CHECK(text && strncmp(text, "Name:", 5) == 0);
        plat_free(text);
        text = NULL;
    }

    /* Out of memory on the read buffer leaks nothing. */
    plat_alloc_fail_after(0);
    CHECK_INT(plat_fs_read_file(path, 100, &text, &len), ERR_NOMEM);
    plat_alloc_fail_after(-1);
    CHECK(text == NULL);

    plat_err_clear();
    plat_free(path);
    plat_free(none);
    remove_tmpdir(dir);
}

static void test_fs_dirs(void)
{
    char *dir = make_tmpdir();
    char *deep = NULL, *mid = NULL, *top = NULL, *file = NULL, *under = NULL;
    char *s;
    unsigned mode = 0;

    REQUIRE(dir != NULL);
    top = plat_asprintf("%s/a", dir);
    mid = plat_asprintf("%s/a/b", dir);
    deep = plat_asprintf("%s/a/b/c/", dir);
    file = plat_asprintf("%s/f", dir);
    under = plat_asprintf("%s/f/sub", dir);
    REQUIRE(top && mid && deep && file && under);

    CHECK_INT(plat_fs_mkdir_p(deep, 0700), PLAT_OK);
    CHECK(plat_fs_exists(deep));
    CHECK_INT(plat_fs_mode(deep, &mode), PLAT_OK);
    CHECK_INT(mode, 0700);
    CHECK_INT(plat_fs_mkdir_p(deep, 0700), PLAT_OK); /* existing is fine */

    CHECK_INT(plat_fs_write_atomic(file, "x", 1, 0600), PLAT_OK);
    CHECK_INT(plat_fs_mkdir_p(file, 0700), ERR_IO);
    CHECK_INT(plat_fs_mkdir_p(under, 0700), ERR_IO);
    CHECK_INT(plat_fs_mkdir_p("", 0700), ERR_INVALID);
    CHECK_INT(plat_fs_mode(under, &mode), ERR_NOTFOUND);

    s = plat_fs_dirname("/var/lib/agent/store.db");
    CHECK_STR(s, "/var/lib/agent");
    plat_free(s);
    s = plat_fs_dirname("store.db");
    CHECK_STR(s, ".");
    plat_free(s);
    s = plat_fs_dirname("/store.db");
    CHECK_STR(s, "/");
    plat_free(s);
    s = plat_fs_dirname("a//b/");
    CHECK_STR(s, "a");
    plat_free(s);
    s = plat_fs_dirname("/");
    CHECK_STR(s, "/");
    plat_free(s);

    CHECK(getenv("HOME") == NULL || plat_fs_home() != NULL);

    rmdir(deep);
    rmdir(mid);
    rmdir(top);
    plat_free(top);
    plat_free(mid);
    plat_free(deep);
    plat_free(file);
    plat_free(under);
    plat_err_clear();
    remove_tmpdir(dir);
}

/* ---- lock ------------------------------------------------------------- */

/* In a child: try the lock once; exit 0 if it is refused as expected and
 * the message names `holder`, 1 otherwise. */
static void child_expect_locked(const char *path, long holder)
{
    struct plat_lock *lock = NULL;
    char want[64];
    int rc = plat_lock_acquire(&lock, path, 0);

    snprintf(want, sizeof(want), "(pid %ld)", holder);
    _exit(rc == ERR_LOCKED && lock == NULL &&
          strstr(plat_err_msg(), want) != NULL ? 0 : 1);
}

static void test_lock_exclusive(void)
{
    char *dir = make_tmpdir();
    char *path = NULL;
    struct plat_lock *lock = NULL, *other = NULL;
    int64_t start;
    pid_t pid;

    REQUIRE(dir != NULL);
    path = plat_asprintf("%s/store.db.lock", dir);
    REQUIRE(path != NULL);

    CHECK_INT(plat_lock_acquire(&lock, path, 0), PLAT_OK);
    REQUIRE(lock != NULL);

    /* Another process is refused and told who holds the lock. */
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
        child_expect_locked(path, (long)getppid());
    CHECK_INT(wait_child(pid), 0);

    /* So is a second open in this process; waiting is bounded. */
    start = plat_time_mono_ms();
    CHECK_INT(plat_lock_acquire(&other, path, 150), ERR_LOCKED);
    CHECK(plat_time_mono_ms() - start >= 150);
    CHECK(other == NULL);

    /* A waiting process gets the lock once the holder releases it. */
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int rc = plat_lock_acquire(&other, path, 5000);

        _exit(rc == PLAT_OK ? 0 : 1);
    }
    plat_time_sleep_ms(200);
    plat_lock_release(lock);
    lock = NULL;
    CHECK_INT(wait_child(pid), 0);

    CHECK_INT(plat_lock_acquire(&lock, path, 0), PLAT_OK);
    plat_lock_release(lock);
    plat_lock_release(NULL);
    CHECK(plat_fs_exists(path)); /* never unlinked */

    plat_err_clear();
    plat_free(path);
    remove_tmpdir(dir);
}

static void test_lock_holder_dies(void)
{
    char *dir = make_tmpdir();
    char *path = NULL, *want = NULL;
    struct plat_lock *lock = NULL;
    int ready[2];
    char byte = 0;
    pid_t pid;

    REQUIRE(dir != NULL);
    path = plat_asprintf("%s/store.db.lock", dir);
    REQUIRE(path != NULL);
    REQUIRE(pipe(ready) == 0);

    /* The child takes the lock, says so, and is killed without releasing
     * it: the kernel must drop the lock with the process. */
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        struct plat_lock *held = NULL;

        close(ready[0]);
        if (plat_lock_acquire(&held, path, 0) == PLAT_OK &&
            write(ready[1], "1", 1) == 1)
            pause();
        _exit(1);
    }
    close(ready[1]);
    CHECK_INT(read(ready[0], &byte, 1), 1);
    close(ready[0]);

    CHECK_INT(plat_lock_acquire(&lock, path, 0), ERR_LOCKED);
    want = plat_asprintf("(pid %ld)", (long)pid);
    CHECK(want && strstr(plat_err_msg(), want) != NULL);
    CHECK(lock == NULL);

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK_INT(plat_lock_acquire(&lock, path, 1000), PLAT_OK);
    plat_lock_release(lock);

    /* A lock file in a missing directory is an I/O error, not "locked". */
    plat_free(path);
    path = plat_asprintf("%s/nodir/store.db.lock", dir);
    lock = NULL;
    CHECK_INT(plat_lock_acquire(&lock, path, 0), ERR_IO);
    CHECK(lock == NULL);

    plat_err_clear();
    plat_free(want);
    plat_free(path);
    remove_tmpdir(dir);
}

/* ---- random ----------------------------------------------------------- */

static int cmp_uuid(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void test_random_uuid(void)
{
    enum { N = 1000 };
    char (*ids)[PLAT_UUID_LEN] = plat_calloc(N, PLAT_UUID_LEN);
    int bad_format = 0, dupes = 0;

    REQUIRE(ids != NULL);
    for (int i = 0; i < N; i++) {
        const char *u = ids[i];

        CHECK_INT(plat_random_uuid(ids[i]), PLAT_OK);
        if (strlen(u) != 36)
            bad_format++;
        for (int k = 0; k < 36; k++) {
            int dash = k == 8 || k == 13 || k == 18 || k == 23;

            if (dash ? u[k] != '-' : !is_hex_lower(u[k]))
                bad_format++;
        }
        if (u[14] != '4' || (u[19] != '8' && u[19] != '9' &&
                             u[19] != 'a' && u[19] != 'b'))
            bad_format++;
    }
    CHECK_INT(bad_format, 0);
    qsort(ids, N, PLAT_UUID_LEN, cmp_uuid);
    for (int i = 1; i < N; i++) {
        if (strcmp(ids[i - 1], ids[i]) == 0)
            dupes++;
    }
    CHECK_INT(dupes, 0);
    plat_free(ids);
}

static void test_random_values(void)
{
    unsigned char big[5000], zero[5000];
    int seen[10] = { 0 };
    int out_of_range = 0;

    memset(big, 0, sizeof(big));
    memset(zero, 0, sizeof(zero));
    /* More than one DRBG request's worth in one call. */
    CHECK_INT(plat_random_bytes(big, sizeof(big)), PLAT_OK);
    CHECK(memcmp(big, zero, sizeof(big)) != 0);
    CHECK(memcmp(big + 4000, zero, 1000) != 0);

    CHECK_INT(plat_random_below(1), 0);
    for (int i = 0; i < 2000; i++) {
        uint64_t v = plat_random_below(10);

        if (v >= 10)
            out_of_range++;
        else
            seen[v]++;
    }
    CHECK_INT(out_of_range, 0);
    for (int i = 0; i < 10; i++)
        CHECK(seen[i] > 100); /* expected 200 each */
    CHECK(plat_random_below(UINT64_MAX) < UINT64_MAX);
}

static void test_random_after_fork(void)
{
    char parent_id[PLAT_UUID_LEN], child_id[PLAT_UUID_LEN] = "";
    int fds[2];
    pid_t pid;

    /* Seed in the parent first, so the child inherits a live generator. */
    CHECK_INT(plat_random_uuid(parent_id), PLAT_OK);
    REQUIRE(pipe(fds) == 0);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char id[PLAT_UUID_LEN];

        close(fds[0]);
        if (plat_random_uuid(id) != PLAT_OK)
            _exit(1);
        _exit(write(fds[1], id, PLAT_UUID_LEN) == PLAT_UUID_LEN ? 0 : 1);
    }
    close(fds[1]);
    CHECK_INT(read(fds[0], child_id, PLAT_UUID_LEN), PLAT_UUID_LEN);
    close(fds[0]);
    CHECK_INT(wait_child(pid), 0);
    CHECK_INT(plat_random_uuid(parent_id), PLAT_OK);
    /* Without the reseed both would draw the same next value. */
    CHECK(strcmp(parent_id, child_id) != 0);

    plat_random_cleanup();
    plat_random_cleanup();
    /* Usable again after cleanup. */
    CHECK_INT(plat_random_uuid(parent_id), PLAT_OK);
    plat_random_cleanup();
}

/* ---- utf8 ------------------------------------------------------------- */

static void test_utf8(void)
{
    static const struct {
        const char *s;
        size_t n;
        int valid;
        size_t off;
    } cases[] = {
        { "", 0, 1, 0 },
        { "hello", 5, 1, 5 },
        { "h\xc3\xa9llo", 6, 1, 6 },             /* é */
        { "\xe2\x82\xac", 3, 1, 3 },             /* € */
        { "\xf0\x9f\x98\x80", 4, 1, 4 },         /* U+1F600 */
        { "\xf4\x8f\xbf\xbf", 4, 1, 4 },         /* U+10FFFF */
        { "\xed\x9f\xbf", 3, 1, 3 },             /* U+D7FF */
        { "\xee\x80\x80", 3, 1, 3 },             /* U+E000 */
        { "ab\xc0\x80", 4, 0, 2 },               /* overlong NUL */
        { "\xc1\xbf", 2, 0, 0 },                 /* overlong */
        { "\xe0\x80\x80", 3, 0, 0 },             /* overlong 3 bytes */
        { "\xe0\x9f\xbf", 3, 0, 0 },             /* overlong 3 bytes */
        { "\xf0\x8f\xbf\xbf", 4, 0, 0 },         /* overlong 4 bytes */
        { "x\xed\xa0\x80", 4, 0, 1 },            /* surrogate D800 */
        { "\xed\xbf\xbf", 3, 0, 0 },             /* surrogate DFFF */
        { "\xf4\x90\x80\x80", 4, 0, 0 },         /* U+110000 */
        { "\xf5\x80\x80\x80", 4, 0, 0 },         /* F5 lead */
        { "\xff", 1, 0, 0 },
        { "abc\x80", 4, 0, 3 },                  /* stray continuation */
        { "ab\xe2\x82", 4, 0, 2 },               /* truncated at end */
        { "\xe2\x82x", 3, 0, 0 },                /* truncated mid-text */
        { "\xf0\x9f\x98", 3, 0, 0 },             /* truncated 4 bytes */
        { "a\0b", 3, 0, 1 },                     /* embedded NUL */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t off = 12345;

        if (plat_utf8_valid(cases[i].s, cases[i].n, &off) != cases[i].valid ||
            off != cases[i].off) {
            fprintf(stderr, "utf8 case %zu: got off %zu\n", i, off);
            testlib_failures++;
        }
    }
    CHECK(plat_utf8_valid("abc", 3, NULL));
    CHECK(!plat_utf8_valid("\xc0\x80", 2, NULL));
    /* Only `n` bytes are looked at. */
    CHECK(plat_utf8_valid("ab\xff", 2, NULL));
}

TEST_MAIN(TEST(test_err_set_get_clear), TEST(test_err_names),
          TEST(test_alloc_fail_after), TEST(test_buf_append),
          TEST(test_buf_cap), TEST(test_time_iso_format),
          TEST(test_time_parse_round_trip), TEST(test_time_parse_rejects),
          TEST(test_time_monotonic), TEST(test_log_file_and_reopen),
          TEST(test_fs_write_atomic), TEST(test_fs_read_file),
          TEST(test_fs_dirs), TEST(test_lock_exclusive),
          TEST(test_lock_holder_dies), TEST(test_random_uuid),
          TEST(test_random_values), TEST(test_random_after_fork),
          TEST(test_utf8))
