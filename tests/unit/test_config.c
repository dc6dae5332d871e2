/*
 * test_config.c - the config file: parsing, errors that name file, line and
 * key, the writer (round trip), and where the password comes from.
 */
#include "testlib.h"

#include "config.h"
#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int contains(const char *haystack, const char *needle)
{
    return haystack && needle && strstr(haystack, needle) != NULL;
}

/* Parse `text` into a fresh config; returns the result code. */
static int parse(struct agent_config *cfg, const char *text)
{
    int rc = agent_config_init(cfg);

    if (rc < 0)
        return rc;
    return agent_config_parse(cfg, "test.conf", text);
}

static void test_parse_valid(void)
{
    struct agent_config cfg;
    const char *text =
        "# a comment\n"
        "\n"
        "[store]\n"
        "path = /var/tmp/agent.db\n"
        "synchronous = normal\n"
        "  ; another comment style\n"
        "[server]\n"
        "url=https://121.example.org\n"
        "  program_id   =   3  \r\n"
        "user = field@example.org\n"
        "password_file = /etc/agent/pw\n"
        "[log]\n"
        "level = debug\n"
        "file = /var/log/agent.log\n";

    CHECK_INT(parse(&cfg, text), PLAT_OK);
    CHECK_STR(cfg.store_path, "/var/tmp/agent.db");
    CHECK_INT(cfg.store_sync_full, 0);
    CHECK_STR(cfg.server_url, "https://121.example.org");
    CHECK_INT(cfg.program_id, 3);
    CHECK_STR(cfg.user, "field@example.org");
    CHECK_STR(cfg.password_file, "/etc/agent/pw");
    CHECK_INT(cfg.log_level, LOG_LVL_DEBUG);
    CHECK_STR(cfg.log_file, "/var/log/agent.log");
    agent_config_dispose(&cfg);
}

static void test_defaults(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[server]\nurl = http://x\n"), PLAT_OK);
    CHECK_INT(cfg.store_sync_full, 1);
    CHECK_INT(cfg.log_level, LOG_LVL_INFO);
    CHECK_INT(cfg.program_id, 0);
    CHECK_STR(cfg.password_file, "");
    CHECK_STR(cfg.log_file, "");
    CHECK(cfg.store_path != NULL);
    agent_config_dispose(&cfg);
}

static void test_unknown_key(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[server]\nurl = http://x\nproxi = y\n"),
              ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:3"));
    CHECK(contains(plat_err_msg(), "server.proxi"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[nope]\nx = 1\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:1"));
    CHECK(contains(plat_err_msg(), "nope"));
    agent_config_dispose(&cfg);
}

static void test_bad_values(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[server]\nprogram_id = abc\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2"));
    CHECK(contains(plat_err_msg(), "server.program_id"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[server]\nprogram_id = -4\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "server.program_id"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "\n\n[log]\nlevel = loud\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:4"));
    CHECK(contains(plat_err_msg(), "log.level"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[store]\nsynchronous = maybe\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2"));
    CHECK(contains(plat_err_msg(), "store.synchronous"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[store]\npath =\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "store.path"));
    agent_config_dispose(&cfg);
}

static void test_duplicate_key(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[server]\nuser = a\nuser = b\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:3"));
    CHECK(contains(plat_err_msg(), "server.user"));
    CHECK(contains(plat_err_msg(), "line 2"));
    agent_config_dispose(&cfg);
}

static void test_missing_equals(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[server]\nurl http://x\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2"));
    CHECK(contains(plat_err_msg(), "'='"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[server\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:1"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[server]\n = x\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2"));
    agent_config_dispose(&cfg);
}

static void test_bad_utf8(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[server]\nuser = a\xff\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2"));
    CHECK(contains(plat_err_msg(), "UTF-8"));
    agent_config_dispose(&cfg);
}

static void count_error(const char *msg, void *payload)
{
    (void)msg;
    (*(int *)payload)++;
}

static void test_every_error_reported(void)
{
    struct agent_config cfg;
    int n = 0;

    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    CHECK_INT(agent_config_parse_all(&cfg, "t.conf",
                                     "[server]\nprogram_id = x\nfoo = 1\n"
                                     "[log]\nlevel = loud\nlevel = info\n",
                                     count_error, &n),
              ERR_CONFIG);
    CHECK_INT(n, 4);
    /* The first error is the one reported as the message. */
    CHECK(contains(plat_err_msg(), "t.conf:2"));
    agent_config_dispose(&cfg);
}

static void test_round_trip(void)
{
    struct agent_config a, b;
    struct plat_buf out;

    plat_buf_init(&out, 0);
    REQUIRE(parse(&a, "[store]\npath = /srv/a.db\nsynchronous = normal\n"
                      "[server]\nurl = https://h/x\nprogram_id = 12\n"
                      "user = u@x\n[log]\nlevel = warn\n") == PLAT_OK);
    CHECK_INT(agent_config_format(&a, &out), PLAT_OK);
    REQUIRE(out.data != NULL);
    CHECK(contains(out.data, "[server]"));
    CHECK(contains(out.data, "# password_file =\n"));
    CHECK_INT(parse(&b, out.data), PLAT_OK);
    CHECK_STR(b.store_path, a.store_path);
    CHECK_INT(b.store_sync_full, 0);
    CHECK_STR(b.server_url, a.server_url);
    CHECK_INT(b.program_id, 12);
    CHECK_STR(b.user, a.user);
    CHECK_STR(b.password_file, "");
    CHECK_INT(b.log_level, LOG_LVL_WARN);
    CHECK_STR(b.log_file, "");
    agent_config_dispose(&a);
    agent_config_dispose(&b);
    plat_buf_dispose(&out);
}

static void test_format_refuses_newline(void)
{
    struct agent_config cfg;
    struct plat_buf out;

    plat_buf_init(&out, 0);
    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    plat_free(cfg.user);
    cfg.user = plat_strdup("a\nlevel = debug");
    CHECK_INT(agent_config_format(&cfg, &out), ERR_INVALID);
    CHECK(contains(plat_err_msg(), "server.user"));
    agent_config_dispose(&cfg);
    plat_buf_dispose(&out);
}

/* A temporary directory for file-based tests (removed by the caller). */
static char tmpdir[64];

static int make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
    return mkdtemp(tmpdir) != NULL;
}

static void test_password_env(void)
{
    struct agent_config cfg;
    char *pw = NULL;

    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    unsetenv("AGENT_121_PASSWORD");
    CHECK_INT(agent_config_password(&cfg, &pw), ERR_AUTH);
    CHECK(pw == NULL);
    setenv("AGENT_121_PASSWORD", "s3cret", 1);
    CHECK_INT(agent_config_password(&cfg, &pw), PLAT_OK);
    CHECK_STR(pw, "s3cret");
    plat_free(pw);
    unsetenv("AGENT_121_PASSWORD");
    agent_config_dispose(&cfg);
}

static void test_password_file(void)
{
    struct agent_config cfg;
    char path[128];
    char *pw = NULL;

    REQUIRE(make_tmpdir());
    unsetenv("AGENT_121_PASSWORD");
    snprintf(path, sizeof(path), "%s/pw", tmpdir);
    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    plat_free(cfg.password_file);
    cfg.password_file = plat_strdup(path);

    /* Missing file. */
    CHECK(agent_config_password(&cfg, &pw) < 0);
    CHECK(pw == NULL);

    /* Readable by others: refused, and the message says what to do. */
    REQUIRE(plat_fs_write_atomic(path, "pw-file-secret\n", 15, 0644) == 0);
    chmod(path, 0644);
    CHECK_INT(agent_config_password(&cfg, &pw), ERR_CONFIG);
    CHECK(pw == NULL);
    CHECK(contains(plat_err_msg(), "0644"));
    CHECK(!contains(plat_err_msg(), "pw-file-secret"));

    /* 0600: accepted, trailing newline removed. */
    chmod(path, 0600);
    CHECK_INT(agent_config_password(&cfg, &pw), PLAT_OK);
    CHECK_STR(pw, "pw-file-secret");
    plat_free(pw);
    pw = NULL;

    /* The environment wins over the file. */
    setenv("AGENT_121_PASSWORD", "from-env", 1);
    CHECK_INT(agent_config_password(&cfg, &pw), PLAT_OK);
    CHECK_STR(pw, "from-env");
    plat_free(pw);
    unsetenv("AGENT_121_PASSWORD");

    unlink(path);
    rmdir(tmpdir);
    agent_config_dispose(&cfg);
}

static void test_validate(void)
{
    struct agent_config cfg;
    char path[128];

    REQUIRE(make_tmpdir());
    snprintf(path, sizeof(path), "%s/pw", tmpdir);
    REQUIRE(parse(&cfg, "[store]\npath = /x.db\n[server]\nurl = ftp://h\n"
                        "program_id = 3\nuser = u\n") == PLAT_OK);
    CHECK_INT(agent_config_validate(&cfg), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "server.url"));
    agent_config_dispose(&cfg);

    REQUIRE(parse(&cfg, "[store]\npath = /x.db\n[server]\nurl = http://h\n"
                        "user = u\n") == PLAT_OK);
    CHECK_INT(agent_config_validate(&cfg), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "server.program_id"));
    agent_config_dispose(&cfg);

    REQUIRE(parse(&cfg, "[store]\npath = /x.db\n[server]\nurl = http://h\n"
                        "program_id = 3\nuser = u\n") == PLAT_OK);
    CHECK_INT(agent_config_validate(&cfg), PLAT_OK);
    plat_free(cfg.password_file);
    cfg.password_file = plat_strdup(path);
    CHECK_INT(agent_config_validate(&cfg), ERR_CONFIG); /* missing */
    REQUIRE(plat_fs_write_atomic(path, "x", 1, 0600) == 0);
    chmod(path, 0600);
    CHECK_INT(agent_config_validate(&cfg), PLAT_OK);
    chmod(path, 0640);
    CHECK_INT(agent_config_validate(&cfg), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "0640"));
    unlink(path);
    rmdir(tmpdir);
    agent_config_dispose(&cfg);
}

static void test_load(void)
{
    struct agent_config cfg;
    char path[128];
    const char *text = "[server]\nprogram_id = 7\n";

    REQUIRE(make_tmpdir());
    snprintf(path, sizeof(path), "%s/agent.conf", tmpdir);
    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    CHECK_INT(agent_config_load(&cfg, path), ERR_NOTFOUND);
    CHECK(contains(plat_err_msg(), "agent init"));
    REQUIRE(plat_fs_write_atomic(path, text, strlen(text), 0600) == 0);
    CHECK_INT(agent_config_load(&cfg, path), PLAT_OK);
    CHECK_INT(cfg.program_id, 7);
    CHECK_STR(cfg.file, path);
    agent_config_dispose(&cfg);

    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    REQUIRE(plat_fs_write_atomic(path, "[log]\nlevel = x\n", 16, 0600) == 0);
    CHECK_INT(agent_config_load(&cfg, path), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "agent.conf:2"));
    unlink(path);
    rmdir(tmpdir);
    agent_config_dispose(&cfg);
}

static int key_cb(const char *key, const char *value, int is_number,
                  void *payload)
{
    int *n = payload;

    (*n)++;
    if (strcmp(key, "server.program_id") == 0) {
        CHECK(is_number);
        CHECK_STR(value, "5");
    }
    if (strcmp(key, "store.synchronous") == 0)
        CHECK_STR(value, "full");
    return 0;
}

/* [conflicts] takes any field name with a policy; bad policies and
 * repeated fields are errors naming the line; sync keys are range checked. */
static void test_sync_and_conflict_keys(void)
{
    struct agent_config cfg;

    REQUIRE(parse(&cfg, "[sync]\nwindow = 20000\npatch_max = 5\n"
                  "[conflicts]\ndefault = server-wins\n"
                  "phoneNumber = manual\nhouseholdSize = device-wins\n")
            == PLAT_OK);
    CHECK_INT(cfg.sync_window, 20000);
    CHECK_INT(cfg.sync_patch_max, 5);
    CHECK_INT(agent_config_policy(&cfg, "phoneNumber"), 0);
    CHECK_INT(agent_config_policy(&cfg, "householdSize"), 2);
    CHECK_INT(agent_config_policy(&cfg, "district"), 1);
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[conflicts]\nfullName = maybe\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2"));
    CHECK(contains(plat_err_msg(), "conflicts.fullName"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[conflicts]\na = manual\na = manual\n"),
              ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:3"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[sync]\nwindow = 5\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "sync.window"));
    agent_config_dispose(&cfg);
}

static void test_daemon_keys(void)
{
    struct agent_config cfg;
    char *sock;

    REQUIRE(parse(&cfg, "[store]\npath = /tmp/a.db\n") == PLAT_OK);
    CHECK_INT(cfg.daemon_interval_s, 900);
    CHECK_INT(cfg.daemon_probe_interval_s, 30);
    CHECK_INT(cfg.daemon_backoff_base_s, 5);
    CHECK_INT(cfg.daemon_backoff_cap_s, 600);
    CHECK_INT(cfg.daemon_stuck_after_s, 86400);
    sock = agent_config_socket_path(&cfg);
    CHECK_STR(sock, "/tmp/a.db.sock");
    plat_free(sock);
    agent_config_dispose(&cfg);

    REQUIRE(parse(&cfg, "[daemon]\ninterval_s = 2\nprobe_interval_s = 1\n"
                  "backoff_base_s = 1\nbackoff_cap_s = 8\n"
                  "stuck_after_s = 60\nsocket = /run/agent/ctl\n")
            == PLAT_OK);
    CHECK_INT(cfg.daemon_interval_s, 2);
    CHECK_INT(cfg.daemon_backoff_cap_s, 8);
    sock = agent_config_socket_path(&cfg);
    CHECK_STR(sock, "/run/agent/ctl");
    plat_free(sock);
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[daemon]\ninterval_s = 0\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "daemon.interval_s"));
    agent_config_dispose(&cfg);
}

static void test_foreach(void)
{
    struct agent_config cfg;
    int n = 0;

    REQUIRE(parse(&cfg, "[server]\nprogram_id = 5\n") == PLAT_OK);
    CHECK_INT(agent_config_foreach(&cfg, key_cb, &n), PLAT_OK);
    CHECK_INT(n, 26);
    agent_config_dispose(&cfg);
}

static void test_default_paths(void)
{
    char *p = agent_config_default_path();
    char *s = agent_config_default_store();

    REQUIRE(p && s);
    CHECK(contains(p, "agent.conf"));
    CHECK(contains(s, "agent.db"));
    plat_free(p);
    plat_free(s);
}

TEST_MAIN(TEST(test_parse_valid), TEST(test_defaults), TEST(test_unknown_key),
          TEST(test_bad_values), TEST(test_duplicate_key),
          TEST(test_missing_equals), TEST(test_bad_utf8),
          TEST(test_every_error_reported), TEST(test_round_trip),
          TEST(test_format_refuses_newline), TEST(test_password_env),
          TEST(test_password_file), TEST(test_validate), TEST(test_load),
          TEST(test_sync_and_conflict_keys), TEST(test_daemon_keys),
          TEST(test_foreach),
          TEST(test_default_paths))
