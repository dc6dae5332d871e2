/*
 * test_cli_oom.c - the CLI under allocation failures: each command is run
 * in-process with the Nth allocation failing, for N = 0, 1, 2, ... until it
 * succeeds. Every run must end with exit code 0 or 1 (never a crash), a
 * failed write must leave nothing behind, and under the sanitizer build
 * LeakSanitizer checks that every error path freed what it took.
 */
#include "testlib.h"
#include "testutil.h" /* AGENT_TEST_ENCRYPT=1: encrypted stores */

#include "cli.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "store.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARGS 16
#define MAX_FAILPOINTS 20000

static char dir[64];
static char conf[128];
static char db[128];
static char program_file[512];

/* Run `agent --config CONF args...` with output sent to /dev/null. */
static int run(long fail_after, const char *const *args)
{
    char *argv[MAX_ARGS];
    int argc = 0, saved_out, saved_err, devnull, rc;

    argv[argc++] = (char *)(uintptr_t)"agent";
    argv[argc++] = (char *)(uintptr_t)"--config";
    argv[argc++] = conf;
    for (; *args && argc < MAX_ARGS - 1; args++)
        argv[argc++] = (char *)(uintptr_t)*args;
    argv[argc] = NULL;

    fflush(stdout);
    fflush(stderr);
    saved_out = dup(1);
    saved_err = dup(2);
    devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    close(devnull);

    plat_alloc_fail_after(fail_after);
    rc = agent_cli_main(argc, argv);
    plat_alloc_fail_after(-1);

    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    return rc;
}

static int counts(struct store_counts *c)
{
    struct store *s = NULL;
    int rc = store_open(&s, db, NULL);

    if (rc == PLAT_OK)
        rc = store_counts(s, c);
    store_close(s);
    return rc;
}

/* Fail each allocation of the command in turn; returns how many runs
 * failed before one succeeded (-1 if none did). */
static int torture(const char *const *args, int writes)
{
    struct store_counts before, after;

    if (counts(&before) < 0)
        return -1;
    for (long n = 0; n < MAX_FAILPOINTS; n++) {
        int rc;

        rc = run(n, args);
        if (rc != 0 && rc != 1) {
            fprintf(stderr, "%s: exit %d with allocation %ld failing\n",
                    args[0], rc, n);
            return -1;
        }
        if (counts(&after) < 0)
            return -1;
        if (rc == 0) {
            if (writes && after.registrations + after.pending ==
                              before.registrations + before.pending) {
                fprintf(stderr, "%s: succeeded without writing\n", args[0]);
                return -1;
            }
            return (int)n;
        }
        /* A failed run wrote nothing (so `before` still holds). */
        if (after.registrations != before.registrations ||
            after.pending != before.pending) {
            fprintf(stderr, "%s: failed run %ld left a partial write\n",
                    args[0], n);
            return -1;
        }
    }
    return -1;
}

static void setup(void)
{
    const char *init[] = { "init", "--server", "http://127.0.0.1:9",
                           "--program", "3", "--user", "u", "--store", db,
                           NULL };
    const char *tests_dir = getenv("AGENT_TESTS_DIR");

    snprintf(dir, sizeof(dir), "/tmp/test_cli_oom.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(conf, sizeof(conf), "%s/agent.conf", dir);
    snprintf(db, sizeof(db), "%s/agent.db", dir);
    snprintf(program_file, sizeof(program_file), "%s/data/program.json",
             tests_dir ? tests_dir : TESTS_DIR);
    if (run(-1, init) != 0) {
        fprintf(stderr, "agent init failed\n");
        exit(1);
    }
}

static void test_oom_writes(void)
{
    const char *add[] = { "registrations", "add", "fullName=Jane Doe",
                          "phoneNumber=31600000001", NULL };
    const char *import[] = { "program", "import", program_file, NULL };
    const char *add_valid[] = {
        "registrations", "add", "fullName=John", "phoneNumber=31600000002",
        "programFspConfigurationName=Intersolve-voucher-paper", NULL };

    CHECK(torture(add, 1) > 0);
    CHECK(torture(import, 0) > 0);
    CHECK(torture(add_valid, 1) > 0);
}

static void test_oom_reads(void)
{
    static const char *const cmds[][6] = {
        { "--json", "registrations", "list", NULL },
        { "registrations", "list", NULL },
        { "registrations", "search", "jane", NULL },
        { "--json", "outbox", NULL },
        { "outbox", "--all", NULL },
        { "--json", "status", NULL },
        { "status", NULL },
        { "config", "show", NULL },
        { "--json", "config", "check", NULL },
        { "program", "show", NULL },
        { "conflicts", "list", NULL },
    };

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int n = torture(cmds[i], 0);

        if (n < 0)
            fprintf(stderr, "read command %zu failed the torture\n", i);
        CHECK(n >= 0);
    }
}

static void test_oom_edit_status(void)
{
    const char *add[] = {
        "--json", "registrations", "add", "fullName=Edit Me",
        "phoneNumber=31600000003",
        "programFspConfigurationName=Intersolve-voucher-paper",
        "referenceId=ref-oom-0001", NULL };
    const char *edit[] = { "registrations", "edit", "ref-oom-0001",
                           "fullName=Edited", "--reason", "typo", NULL };
    const char *status[] = { "registrations", "status", "ref-oom-0001",
                             "included", NULL };

    REQUIRE(run(-1, add) == 0);
    CHECK(torture(edit, 1) > 0);
    CHECK(torture(status, 1) > 0);
}

/* Bundles: an import (one transaction: all or nothing under every
 * failing allocation) of a bundle made by a second store, and an export. */
static void test_oom_bundle(void)
{
    char sign[160], pub[170], key[160], file[160], out[160], db2[160];
    char main_conf[128];
    const char *keygen[] = { "bundle", "keygen", sign, "--key-file", key,
                             NULL };
    const char *init2[] = { "init", "--server", "http://127.0.0.1:9",
                            "--program", "3", "--user", "u", "--store", db2,
                            NULL };
    const char *add[] = { "registrations", "add", "fullName=Far Away",
                          "phoneNumber=31600000009", NULL };
    const char *export2[] = { "bundle", "export", file, "--key-file", key,
                              "--signing-key", sign, NULL };
    const char *import[] = { "bundle", "import", file, "--key-file", key,
                             "--trusted-keys", pub, NULL };
    const char *export1[] = { "bundle", "export", out, "--key-file", key,
                              "--signing-key", sign, NULL };

    snprintf(sign, sizeof(sign), "%s/sign.pem", dir);
    snprintf(pub, sizeof(pub), "%s/sign.pem.pub", dir);
    snprintf(key, sizeof(key), "%s/bundle.key", dir);
    snprintf(file, sizeof(file), "%s/b1.bundle", dir);
    snprintf(out, sizeof(out), "%s/out.bundle", dir);
    snprintf(db2, sizeof(db2), "%s/site.db", dir);
    REQUIRE(run(-1, keygen) == 0);
    /* The second store, through a config of its own. */
    snprintf(main_conf, sizeof(main_conf), "%s", conf);
    snprintf(conf, sizeof(conf), "%s/site.conf", dir);
    REQUIRE(run(-1, init2) == 0);
    REQUIRE(run(-1, add) == 0);
    REQUIRE(run(-1, export2) == 0);
    snprintf(conf, sizeof(conf), "%s", main_conf);
    CHECK(torture(import, 1) > 0);
    CHECK(torture(export1, 0) > 0);
}

static void test_cleanup(void)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void run_setup(void)
{
    setup();
}

TEST_MAIN(TEST(run_setup), TEST(test_oom_writes), TEST(test_oom_reads),
          TEST(test_oom_edit_status), TEST(test_oom_bundle),
          TEST(test_cleanup))
