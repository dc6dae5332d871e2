/*
 * test_config.c - the config file: parsing, errors that name file, line and
 * key, the writer (round trip), and where the password comes from; the
 * connectors' sections ([121], [file]) and the old [server] layout.
 */
#include "testlib.h"

#include "config.h"
#include "config_sources.h"
#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_log.h"
#include "sync_connector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int contains(const char *haystack, const char *needle)
{
    return haystack && needle && strstr(haystack, needle) != NULL;
}

/* A value of the [121] section (NULL: unset). */
static const char *v121(const struct agent_config *cfg, const char *key)
{
    return agent_config_get(cfg, "121", key);
}

static int enabled(const struct agent_config *cfg, const char *source)
{
    const struct sync_source_conf *sc = agent_config_source(cfg, source);

    return sc && sc->enabled;
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
        "[121]\n"
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
    CHECK_STR(v121(&cfg, "url"), "https://121.example.org");
    CHECK_STR(v121(&cfg, "program_id"), "3");
    CHECK_INT(cfg.program_id, 3);
    CHECK_STR(v121(&cfg, "user"), "field@example.org");
    CHECK_STR(v121(&cfg, "password_file"), "/etc/agent/pw");
    CHECK(enabled(&cfg, "121"));          /* on: its url is set */
    CHECK(!enabled(&cfg, "file"));
    CHECK_INT(cfg.log_level, LOG_LVL_DEBUG);
    CHECK_STR(cfg.log_file, "/var/log/agent.log");
    agent_config_dispose(&cfg);
}

static void test_defaults(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[121]\nurl = http://x\n"), PLAT_OK);
    CHECK_INT(cfg.store_sync_full, 1);
    CHECK_INT(cfg.log_level, LOG_LVL_INFO);
    CHECK_INT(cfg.program_id, 0);
    CHECK(v121(&cfg, "password_file") == NULL);
    CHECK(v121(&cfg, "password") == NULL);
    CHECK_STR(cfg.ca_file, "");
    CHECK_STR(cfg.log_file, "");
    CHECK(cfg.store_path != NULL);
    agent_config_dispose(&cfg);
}

static void test_unknown_key(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[121]\nurl = http://x\nproxi = y\n"),
              ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:3"));
    CHECK(contains(plat_err_msg(), "121.proxi"));
    /* The valid keys are listed (never the SECRET ones). */
    CHECK(contains(plat_err_msg(), "valid keys in [121]: enabled, url, "
                   "program_id, user, password_file)"));
    CHECK(!contains(plat_err_msg(), "password,"));
    agent_config_dispose(&cfg);

    /* A secret is never read from the file. */
    CHECK_INT(parse(&cfg, "[121]\npassword = hunter2\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2"));
    CHECK(!contains(plat_err_msg(), "hunter2"));
    agent_config_dispose(&cfg);

    /* The transport keys are in [sync] now. */
    CHECK_INT(parse(&cfg, "[121]\nproxy = http://p\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "121.proxy"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[nope]\nx = 1\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:1"));
    CHECK(contains(plat_err_msg(), "nope"));
    agent_config_dispose(&cfg);
}

static void test_bad_values(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[121]\nprogram_id = abc\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2"));
    CHECK(contains(plat_err_msg(), "121.program_id"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[121]\nurl = ftp://h\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "121.url"));
    CHECK(contains(plat_err_msg(), "http://"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[121]\nenabled = perhaps\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "121.enabled"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[file]\ndir =\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "file.dir"));
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

    CHECK_INT(parse(&cfg, "[121]\nuser = a\nuser = b\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:3"));
    CHECK(contains(plat_err_msg(), "121.user"));
    CHECK(contains(plat_err_msg(), "line 2"));
    agent_config_dispose(&cfg);
}

static void test_missing_equals(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[121]\nurl http://x\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2"));
    CHECK(contains(plat_err_msg(), "'='"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[121\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:1"));
    agent_config_dispose(&cfg);

    CHECK_INT(parse(&cfg, "[121]\n = x\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2"));
    agent_config_dispose(&cfg);
}

static void test_bad_utf8(void)
{
    struct agent_config cfg;

    CHECK_INT(parse(&cfg, "[121]\nuser = a\xff\n"), ERR_CONFIG);
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
                                     "[121]\nprogram_id = x\nfoo = 1\n"
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
                      "[121]\nurl = https://h/x\nprogram_id = 12\n"
                      "user = u@x\n[log]\nlevel = warn\n"
                      "[sync]\nproxy = http://p:3128\n"
                      "[conflicts]\nphone = device-wins\n") == PLAT_OK);
    CHECK_INT(agent_config_format(&a, &out), PLAT_OK);
    REQUIRE(out.data != NULL);
    CHECK(contains(out.data, "[121]\n"));
    CHECK(contains(out.data, "enabled = true\n"));
    CHECK(contains(out.data, "[file]\n"));
    CHECK(!contains(out.data, "[server]"));
    CHECK(contains(out.data, "# password_file =\n"));
    CHECK(!contains(out.data, "password ="));
    CHECK_INT(parse(&b, out.data), PLAT_OK);
    CHECK_STR(b.store_path, a.store_path);
    CHECK_INT(b.store_sync_full, 0);
    CHECK_STR(v121(&b, "url"), v121(&a, "url"));
    CHECK_INT(b.program_id, 12);
    CHECK_STR(v121(&b, "user"), "u@x");
    CHECK(v121(&b, "password_file") == NULL);
    CHECK_STR(b.proxy, "http://p:3128");
    CHECK_INT(agent_config_policy(&b, "phone"), 2);
    CHECK(enabled(&b, "121"));
    CHECK(!enabled(&b, "file"));
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
    CHECK_INT(agent_config_set(&cfg, "121", "user", "a\nlevel = debug"),
              PLAT_OK);
    CHECK_INT(agent_config_format(&cfg, &out), ERR_INVALID);
    CHECK(contains(plat_err_msg(), "121.user"));
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
    REQUIRE(agent_config_set(&cfg, "121", "password_file", path) == PLAT_OK);

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
    REQUIRE(parse(&cfg, "[store]\npath = /x.db\n[121]\nurl = http://h\n"
                        "user = u\n") == PLAT_OK);
    CHECK_INT(agent_config_validate(&cfg), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "[121] program_id"));
    agent_config_dispose(&cfg);

    REQUIRE(parse(&cfg, "[store]\npath = /x.db\n[121]\nurl = http://h\n"
                        "program_id = -4\nuser = u\n") == PLAT_OK);
    CHECK_INT(agent_config_validate(&cfg), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "[121] program_id"));
    agent_config_dispose(&cfg);

    /* No source at all. */
    REQUIRE(parse(&cfg, "[store]\npath = /x.db\n") == PLAT_OK);
    CHECK_INT(agent_config_validate(&cfg), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "no source is enabled"));
    agent_config_dispose(&cfg);

    /* Enabled without its url. */
    REQUIRE(parse(&cfg, "[store]\npath = /x.db\n[121]\nenabled = yes\n")
            == PLAT_OK);
    CHECK_INT(agent_config_validate(&cfg), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "[121] url is not set"));
    agent_config_dispose(&cfg);

    REQUIRE(parse(&cfg, "[store]\npath = /x.db\n[121]\nurl = http://h\n"
                        "program_id = 3\nuser = u\n") == PLAT_OK);
    CHECK_INT(agent_config_validate(&cfg), PLAT_OK);
    REQUIRE(agent_config_set(&cfg, "121", "password_file", path) == PLAT_OK);
    CHECK_INT(agent_config_validate(&cfg), ERR_CONFIG); /* missing */
    REQUIRE(plat_fs_write_atomic(path, "x", 1, 0600) == 0);
    chmod(path, 0600);
    CHECK_INT(agent_config_validate(&cfg), PLAT_OK);
    chmod(path, 0400);
    CHECK_INT(agent_config_validate(&cfg), PLAT_OK);
    chmod(path, 0640);
    CHECK_INT(agent_config_validate(&cfg), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "0640"));
    unlink(path);
    rmdir(tmpdir);
    agent_config_dispose(&cfg);

    /* 121 switched off, a [file] source on: valid. */
    REQUIRE(parse(&cfg, "[store]\npath = /x.db\n[121]\nurl = http://h\n"
                        "enabled = false\n[file]\nenabled = on\n"
                        "dir = /srv/in\nprogram_id = 4\n") == PLAT_OK);
    CHECK(!enabled(&cfg, "121"));
    CHECK(enabled(&cfg, "file"));
    CHECK_STR(agent_config_get(&cfg, "file", "dir"), "/srv/in");
    CHECK_INT(agent_config_validate(&cfg), PLAT_OK);
    agent_config_dispose(&cfg);
}

/* A file of the layout before connectors loads, with one warning naming
 * the section to rename; its transport keys land in [sync]. */
static void test_old_server_section(void)
{
    struct agent_config cfg;
    char logp[128];
    char *log = NULL;
    size_t len = 0;

    REQUIRE(make_tmpdir());
    snprintf(logp, sizeof(logp), "%s/log", tmpdir);
    REQUIRE(plat_log_set_file(logp) == PLAT_OK);
    CHECK_INT(parse(&cfg, "[store]\npath = /x.db\n[server]\n"
                    "url = https://121.example.org\nprogram_id = 3\n"
                    "user = u\nca_file = /etc/ca.pem\n"
                    "pinned_public_key = sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=\nproxy = http://p\n"),
              PLAT_OK);
    plat_log_set_file(NULL);
    CHECK_STR(v121(&cfg, "url"), "https://121.example.org");
    CHECK_INT(cfg.program_id, 3);
    CHECK_STR(cfg.ca_file, "/etc/ca.pem");
    CHECK_STR(cfg.pinned_pubkey, "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=");
    CHECK_STR(cfg.proxy, "http://p");
    CHECK(enabled(&cfg, "121"));
    CHECK_INT(agent_config_validate(&cfg), PLAT_OK);
    REQUIRE(plat_fs_read_file(logp, 65536, &log, &len) == PLAT_OK);
    CHECK(contains(log, "test.conf: section [server] is now [121]; "
                   "rename it"));
    /* One line, not one per key. */
    CHECK(log && strstr(strstr(log, "is now [121]") + 1, "is now [121]")
          == NULL);
    plat_free(log);
    unlink(logp);
    rmdir(tmpdir);
    agent_config_dispose(&cfg);

    /* Unknown keys are still named with the section as written. */
    CHECK_INT(parse(&cfg, "[server]\ncolour = red\n"), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:2: unknown key "
                   "'server.colour'"));
    agent_config_dispose(&cfg);

    /* [server] and [121] together: a key set twice is a duplicate. */
    CHECK_INT(parse(&cfg, "[server]\nuser = a\n[121]\nuser = b\n"),
              ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "test.conf:4"));
    agent_config_dispose(&cfg);
}

/* `config show` never shows secrets nor credentials in URLs. */
static int show_cb(const char *key, const char *value, int is_number,
                   void *payload)
{
    (void)is_number;
    (void)payload;
    CHECK(strcmp(key, "121.password") != 0);
    CHECK(!contains(value, "hunter2"));
    if (strcmp(key, "121.url") == 0)
        CHECK_STR(value, "https://***@h.example/x");
    return 0;
}

static void test_show_hides_secrets(void)
{
    struct agent_config cfg;
    char masked[64];

    REQUIRE(parse(&cfg, "[121]\nurl = https://u:hunter2@h.example/x\n")
            == PLAT_OK);
    CHECK_INT(agent_config_foreach(&cfg, show_cb, NULL), PLAT_OK);
    agent_config_dispose(&cfg);
    agent_mask_url("http://h/a@b", masked, sizeof(masked));
    CHECK_STR(masked, "http://h/a@b");
}

static void test_load(void)
{
    struct agent_config cfg;
    char path[128];
    const char *text = "[121]\nprogram_id = 7\n";

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
    if (strcmp(key, "121.program_id") == 0) {
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

    REQUIRE(parse(&cfg, "[121]\nprogram_id = 5\n") == PLAT_OK);
    CHECK_INT(agent_config_foreach(&cfg, key_cb, &n), PLAT_OK);
    /* 35 agent keys (ui.lang, serve.*, store keys, bundle.*), then every
     * connector's keys but the SECRET ones
     * ([121] 5, [file] 5, ...: counted from the registry so that adding a
     * connector does not change this test). */
    {
        const struct sync_connector *const *reg = sync_connectors_registry();
        int want = 35;

        for (size_t i = 0; reg[i]; i++)
            for (size_t j = 0; reg[i]->config[j].key; j++)
                want += reg[i]->config[j].type != SYNC_CONF_SECRET;
        CHECK_INT(n, want);
    }
    agent_config_dispose(&cfg);
}

#define PIN "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE="

/* sync.pinned_public_key: curl's sha256//<base64 of 32 bytes>, several
 * separated by ';'; anything else is refused when the file is read. */
static void test_pinned_public_key(void)
{
    static const char *const bad[] = {
        "garbage", "sha256//AAAA", "sha256//" "YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE",
        "sha1//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwE=",
        "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMw!=",
        "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMwF=", /* bits */
        PIN ";", PIN ";garbage", ";" PIN, PIN " x", "/etc/agent/pin.pem",
    };
    struct agent_config cfg;
    char why[256], text[512];

    CHECK_INT(agent_config_pin_check("", why, sizeof(why)), 0);
    CHECK_INT(agent_config_pin_check(PIN, why, sizeof(why)), 0);
    CHECK_INT(agent_config_pin_check(PIN ";" PIN, why, sizeof(why)), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "[sync]\npinned_public_key = %s\n",
                 bad[i]);
        CHECK_INT(parse(&cfg, text), ERR_CONFIG);
        CHECK(contains(plat_err_msg(), "sync.pinned_public_key"));
        CHECK(contains(plat_err_msg(), "sha256//"));
        agent_config_dispose(&cfg);
    }
    snprintf(text, sizeof(text), "[sync]\npinned_public_key = %s;%s\n",
             PIN, PIN);
    CHECK_INT(parse(&cfg, text), PLAT_OK);
    agent_config_dispose(&cfg);
}

static void on_warn(const char *msg, void *payload)
{
    struct plat_buf *b = payload;

    CHECK_INT(plat_buf_puts(b, msg), PLAT_OK);
    CHECK_INT(plat_buf_puts(b, "\n"), PLAT_OK);
}

static void warnings_of(const char *text, struct plat_buf *out)
{
    struct agent_config cfg;

    out->len = 0;
    if (out->data)
        out->data[0] = '\0';
    REQUIRE(parse(&cfg, text) == PLAT_OK);
    agent_config_warnings(&cfg, on_warn, out);
    agent_config_dispose(&cfg);
}

/* http:// to another host than the loopback and credentials in a URL are
 * warned about, never quoting the credentials. */
static void test_url_warnings(void)
{
    struct plat_buf b;

    plat_buf_init(&b, 65536);
    warnings_of("[121]\nurl = https://121.example.org\n", &b);
    CHECK_INT((int)b.len, 0);
    warnings_of("[121]\nurl = http://121.example.org\n", &b);
    CHECK(b.data && contains(b.data, "[121] url uses http://"));
    CHECK(b.data && contains(b.data, "clear"));
    warnings_of("[121]\nurl = http://127.0.0.1:8080\n", &b);
    CHECK_INT((int)b.len, 0);
    warnings_of("[121]\nurl = http://localhost\n", &b);
    CHECK_INT((int)b.len, 0);
    warnings_of("[121]\nurl = http://[::1]:3000/x\n", &b);
    CHECK_INT((int)b.len, 0);
    warnings_of("[121]\nurl = http://localhost.evil.example\n", &b);
    CHECK(b.data && contains(b.data, "http://"));
    warnings_of("[121]\nurl = https://bob:hunter2@121.example.org\n", &b);
    CHECK(b.data && contains(b.data, "credentials"));
    CHECK(b.data && contains(b.data, "password_file"));
    CHECK(b.data && !contains(b.data, "hunter2"));
    CHECK(b.data && !contains(b.data, "bob"));
    warnings_of("[121]\nurl = https://h.example\n[sync]\n"
                "proxy = http://pu:pp@proxy.example:3128\n", &b);
    CHECK(b.data && contains(b.data, "sync.proxy holds credentials"));
    CHECK(b.data && !contains(b.data, "pp@"));
    plat_buf_dispose(&b);
    CHECK(agent_url_has_credentials("https://u@h/x"));
    CHECK(!agent_url_has_credentials("https://h/x@y"));
}

static int proxy_cb(const char *key, const char *value, int is_number,
                    void *payload)
{
    (void)is_number;
    (void)payload;
    CHECK(!contains(value, "hunter2"));
    if (strcmp(key, "sync.proxy") == 0)
        CHECK_STR(value, "http://***@proxy.example:3128");
    return 0;
}

/* `config show` masks the credentials of the proxy URL too. */
static void test_show_masks_proxy(void)
{
    struct agent_config cfg;

    REQUIRE(parse(&cfg, "[sync]\nproxy = http://u:hunter2@proxy.example:3128"
                  "\n") == PLAT_OK);
    CHECK_INT(agent_config_foreach(&cfg, proxy_cb, NULL), PLAT_OK);
    agent_config_dispose(&cfg);
}

/* A config file others can write is refused (it can redirect the agent);
 * one its group can write loads with a warning. */
static void test_config_mode(void)
{
    struct agent_config cfg;
    char path[128];
    const char *text = "[121]\nprogram_id = 7\n";
    int gw = -1;

    REQUIRE(make_tmpdir());
    snprintf(path, sizeof(path), "%s/agent.conf", tmpdir);
    REQUIRE(plat_fs_write_atomic(path, text, strlen(text), 0600) == 0);
    REQUIRE(chmod(path, 0646) == 0);
    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    CHECK_INT(agent_config_load(&cfg, path), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "other users"));
    CHECK(contains(plat_err_msg(), "chmod 600"));
    CHECK_INT(agent_config_mode_check(path, &gw), ERR_CONFIG);
    agent_config_dispose(&cfg);

    REQUIRE(chmod(path, 0660) == 0);
    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    CHECK_INT(agent_config_load(&cfg, path), PLAT_OK);
    CHECK_INT(agent_config_mode_check(path, &gw), PLAT_OK);
    CHECK_INT(gw, 1);
    agent_config_dispose(&cfg);
    REQUIRE(chmod(path, 0644) == 0);
    CHECK_INT(agent_config_mode_check(path, &gw), PLAT_OK);
    CHECK_INT(gw, 0);
    unlink(path);
    rmdir(tmpdir);
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
          TEST(test_password_file), TEST(test_validate),
          TEST(test_old_server_section), TEST(test_show_hides_secrets),
          TEST(test_load),
          TEST(test_sync_and_conflict_keys), TEST(test_daemon_keys),
          TEST(test_foreach), TEST(test_pinned_public_key),
          TEST(test_url_warnings), TEST(test_show_masks_proxy),
          TEST(test_config_mode),
          TEST(test_default_paths))
