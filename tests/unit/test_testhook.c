/*
 * test_testhook.c - the fault harness's kill points (plat_testhook.h): off
 * unless their variable is set; with AGENT_TEST_KILL_*=k the process dies
 * by SIGKILL exactly when the k-th event is counted. Each case runs in a
 * child process, since the variables are read once per process.
 */
#include "testlib.h"

#include "plat_testhook.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run `calls` calls of plat_testhook(h, step) in a child with `var`=`value`
 * (var NULL: nothing set). Returns how many calls returned, and in *sig the
 * signal that ended the child (0: it exited). */
static int run_child(const char *var, const char *value, enum plat_hook h,
                     uint64_t step, int calls, int *sig)
{
    int fds[2], status = 0, done = 0;
    unsigned char b;
    pid_t pid;

    *sig = -1;
    if (pipe(fds) != 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fds[0]);
        unsetenv("AGENT_TEST_KILL_AT_COMMIT");
        unsetenv("AGENT_TEST_KILL_AFTER_COMMIT");
        unsetenv("AGENT_TEST_KILL_AT_HTTP_BYTE");
        if (var)
            setenv(var, value, 1);
        for (int i = 0; i < calls; i++) {
            plat_testhook(h, step);
            b = 1;
            if (write(fds[1], &b, 1) != 1)
                _exit(3);
        }
        _exit(0);
    }
    close(fds[1]);
    while (read(fds[0], &b, 1) == 1)
        done++;
    close(fds[0]);
    waitpid(pid, &status, 0);
    *sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return done;
}

static void test_unset_does_nothing(void)
{
    int sig;

    CHECK_INT(run_child(NULL, NULL, PLAT_HOOK_AT_COMMIT, 1, 50, &sig), 50);
    CHECK_INT(sig, 0);
    CHECK_INT(run_child(NULL, NULL, PLAT_HOOK_HTTP_BYTE, 4096, 50, &sig), 50);
    CHECK_INT(sig, 0);
}

static void test_bad_values_do_nothing(void)
{
    int sig;

    CHECK_INT(run_child("AGENT_TEST_KILL_AT_COMMIT", "0", PLAT_HOOK_AT_COMMIT,
                        1, 10, &sig), 10);
    CHECK_INT(sig, 0);
    CHECK_INT(run_child("AGENT_TEST_KILL_AT_COMMIT", "3x",
                        PLAT_HOOK_AT_COMMIT, 1, 10, &sig), 10);
    CHECK_INT(sig, 0);
}

static void test_kill_at_kth_commit(void)
{
    int sig;

    /* Calls 1 and 2 return; the third kills. */
    CHECK_INT(run_child("AGENT_TEST_KILL_AT_COMMIT", "3", PLAT_HOOK_AT_COMMIT,
                        1, 10, &sig), 2);
    CHECK_INT(sig, SIGKILL);
    CHECK_INT(run_child("AGENT_TEST_KILL_AFTER_COMMIT", "1",
                        PLAT_HOOK_AFTER_COMMIT, 1, 10, &sig), 0);
    CHECK_INT(sig, SIGKILL);
}

static void test_other_hooks_do_not_count(void)
{
    int sig;

    CHECK_INT(run_child("AGENT_TEST_KILL_AT_COMMIT", "1",
                        PLAT_HOOK_AFTER_COMMIT, 1, 10, &sig), 10);
    CHECK_INT(sig, 0);
}

static void test_kill_at_http_byte(void)
{
    int sig;

    /* Bytes 1-8 pass in two chunks; the chunk holding byte 10 kills. */
    CHECK_INT(run_child("AGENT_TEST_KILL_AT_HTTP_BYTE", "10",
                        PLAT_HOOK_HTTP_BYTE, 4, 10, &sig), 2);
    CHECK_INT(sig, SIGKILL);
}

TEST_MAIN(TEST(test_unset_does_nothing), TEST(test_bad_values_do_nothing),
          TEST(test_kill_at_kth_commit), TEST(test_other_hooks_do_not_count),
          TEST(test_kill_at_http_byte))
