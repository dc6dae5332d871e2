/*
 * test_platform_safety.c - platform/ against a hostile machine: core dumps
 * off and the process non-dumpable (plat_harden_process), secrets wiped
 * (plat_wipe), symbolic and hard links planted at the lock and log paths
 * refused with the target untouched, directories other users can write
 * refused, and a full disk named as such.
 */
#define _GNU_SOURCE /* unshare */
#include "testlib.h"
#include "testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_lock.h"
#include "plat_log.h"
#include "plat_secure.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PRECIOUS "precious content, owned by someone else\n"

static char *write_precious(const char *dir)
{
    char *p = plat_asprintf("%s/precious", dir);
    FILE *f = p ? fopen(p, "w") : NULL;

    if (f) {
        fputs(PRECIOUS, f);
        fclose(f);
    }
    return p;
}

static int still_precious(const char *path)
{
    char *text = NULL;
    int same;

    if (plat_fs_read_file(path, 4096, &text, NULL) < 0)
        return 0;
    same = strcmp(text, PRECIOUS) == 0;
    plat_free(text);
    return same;
}

/* Reads the "Dumpable"-equivalent facts of the calling process: 1 if it
 * is non-dumpable with a zero core limit. */
static int hardened_now(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_CORE, &rl) < 0)
        return 0;
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 && rl.rlim_cur == 0 &&
           rl.rlim_max == 0;
}

static void test_harden_process(void)
{
    pid_t pid;
    int status = 0;

    /* In a child, so the test runner itself stays as it was. */
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int before = hardened_now();
        int rc = plat_harden_process();
        struct stat st;
        int root_owned;

        /* /proc/self of a non-dumpable process belongs to root. */
        root_owned = stat("/proc/self/status", &st) == 0 && st.st_uid == 0;
        _exit(before == 0 && rc == PLAT_OK && hardened_now() &&
                      (geteuid() == 0 || root_owned)
                  ? 0
                  : 1);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_wipe(void)
{
    char buf[64];
    char *secret = plat_strdup("correct horse battery staple");
    size_t n;

    memset(buf, 'x', sizeof(buf));
    plat_wipe(buf, sizeof(buf));
    for (n = 0; n < sizeof(buf); n++)
        CHECK(buf[n] == 0);
    REQUIRE(secret);
    n = strlen(secret);
    plat_wipe_str(secret);
    for (size_t i = 0; i < n; i++)
        CHECK(secret[i] == 0);
    plat_free(secret);
    plat_wipe(NULL, 0);
    plat_wipe_str(NULL);
}

static void test_lock_symlink_refused(void)
{
    char *dir = testutil_tmpdir("agent-test-psafe");
    char *target = write_precious(dir);
    char *lock_path = plat_asprintf("%s/store.db.lock", dir);
    char *hard = plat_asprintf("%s/hard.lock", dir);
    struct plat_lock *lock = NULL;

    REQUIRE(target && lock_path && hard);
    REQUIRE(symlink(target, lock_path) == 0);
    CHECK_INT(plat_lock_acquire(&lock, lock_path, 0), ERR_IO);
    CHECK(lock == NULL);
    CHECK(strstr(plat_err_msg(), "symbolic link") != NULL);
    CHECK(strstr(plat_err_msg(), lock_path) != NULL);
    CHECK(still_precious(target));

    /* A dangling link: nothing is created where it points. */
    unlink(lock_path);
    plat_free(target);
    target = plat_asprintf("%s/created-through-link", dir);
    REQUIRE(symlink(target, lock_path) == 0);
    CHECK_INT(plat_lock_acquire(&lock, lock_path, 0), ERR_IO);
    CHECK(!plat_fs_exists(target));

    /* A hard link to another file. */
    plat_free(target);
    target = write_precious(dir);
    REQUIRE(link(target, hard) == 0);
    CHECK_INT(plat_lock_acquire(&lock, hard, 0), ERR_IO);
    CHECK(still_precious(target));

    plat_free(target);
    plat_free(lock_path);
    plat_free(hard);
    testutil_tmpdir_remove(dir);
}

static void test_log_symlink_refused(void)
{
    char *dir = testutil_tmpdir("agent-test-psafe");
    char *target = write_precious(dir);
    char *log_path = plat_asprintf("%s/agent.log", dir);

    REQUIRE(target && log_path);
    REQUIRE(symlink(target, log_path) == 0);
    CHECK_INT(plat_log_set_file(log_path), ERR_IO);
    log_error("this line must not reach the precious file");
    CHECK(still_precious(target));
    plat_log_set_file(NULL);
    plat_free(target);
    plat_free(log_path);
    testutil_tmpdir_remove(dir);
}

static void test_dir_writable_by_others(void)
{
    char *dir = testutil_tmpdir("agent-test-psafe");
    char *lock_path = plat_asprintf("%s/store.db.lock", dir);
    struct plat_lock *lock = NULL;
    int group = -1;

    REQUIRE(lock_path);
    CHECK_INT(plat_fs_check_dir(dir, "store", &group), PLAT_OK);
    CHECK_INT(group, 0);
    REQUIRE(chmod(dir, 0770) == 0);
    CHECK_INT(plat_fs_check_dir(dir, "store", &group), PLAT_OK);
    CHECK_INT(group, 1);
    REQUIRE(chmod(dir, 0777) == 0);
    CHECK_INT(plat_fs_check_dir(dir, "store", &group), ERR_IO);
    CHECK(strstr(plat_err_msg(), "writable by other users") != NULL);
    CHECK(strstr(plat_err_msg(), dir) != NULL);
    CHECK_INT(plat_lock_acquire(&lock, lock_path, 0), ERR_IO);
    CHECK(!plat_fs_exists(lock_path));
    /* The sticky bit (as on /tmp) does not make it safe. */
    REQUIRE(chmod(dir, 01777) == 0);
    CHECK_INT(plat_fs_check_dir(dir, "store", &group), ERR_IO);
    chmod(dir, 0700);
    plat_free(lock_path);
    testutil_tmpdir_remove(dir);
}

/* ENOSPC on a tiny tmpfs: only as root with a mount namespace of our own
 * (unshare); skipped otherwise. */
static void test_disk_full_named(void)
{
    pid_t pid;
    int status = 0;

    if (geteuid() != 0) {
        fprintf(stderr, "SKIP test_disk_full_named: not root\n");
        return;
    }
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        char *dir = testutil_mkdtemp("agent-test-full");
        static char big[256 * 1024];
        int rc;

        if (!dir || unshare(CLONE_NEWNS) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0)
            _exit(77); /* no mount rights here: skip */
        char *path = plat_asprintf("%s/state.json", dir);
        memset(big, 'x', sizeof(big));
        rc = plat_fs_write_atomic(path, big, sizeof(big), 0600);
        _exit(rc == ERR_IO && strstr(plat_err_msg(), "the disk is full") &&
                      strstr(plat_err_msg(), path)
                  ? 0
                  : 1);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        fprintf(stderr, "SKIP test_disk_full_named: cannot mount tmpfs\n");
        return;
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_MAIN(TEST(test_harden_process), TEST(test_wipe),
          TEST(test_lock_symlink_refused), TEST(test_log_symlink_refused),
          TEST(test_dir_writable_by_others), TEST(test_disk_full_named))
