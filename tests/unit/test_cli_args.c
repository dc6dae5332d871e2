/*
 * test_cli_args.c - the command line parsers: global options anywhere,
 * config path precedence, per-command options, "--", key=value splitting
 * and numbers.
 */
#include "testlib.h"

#include "cli.h"
#include "output.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* argv arrays like main's from string literals (which -Wwrite-strings
 * makes const); the parsers never write to them. */
#define ARGV(name, ...)                                                   \
    const char *name##_lit[] = { __VA_ARGS__ };                           \
    char *name[ARGC(name##_lit)];                                         \
    copy_args(name, name##_lit, ARGC(name##_lit))

static void copy_args(char **dst, const char *const *src, int n)
{
    for (int i = 0; i < n; i++)
        dst[i] = (char *)(uintptr_t)src[i];
}

static void test_globals_anywhere(void)
{
    ARGV(argv, "agent", "-v", "registrations", "--json", "list",
         "--status", "new", "--config", "/tmp/a.conf", "-q");
    struct agent_cli_globals g;
    char **rest = NULL;
    int n = 0;

    CHECK_INT(agent_cli_parse_globals(ARGC(argv), argv, &g, &n, &rest),
              PLAT_OK);
    REQUIRE(rest != NULL);
    CHECK_INT(g.json, 1);
    CHECK_INT(g.verbosity, -1); /* the last of -v / -q wins */
    CHECK_STR(g.config_path, "/tmp/a.conf");
    CHECK_INT(n, 4);
    CHECK_STR(rest[0], "registrations");
    CHECK_STR(rest[1], "list");
    CHECK_STR(rest[2], "--status");
    CHECK_STR(rest[3], "new");
    plat_free(rest);
}

static void test_globals_help_version(void)
{
    ARGV(argv, "agent", "status", "--help", "--version",
         "--config=/x.conf");
    struct agent_cli_globals g;
    char **rest = NULL;
    int n = 0;

    CHECK_INT(agent_cli_parse_globals(ARGC(argv), argv, &g, &n, &rest),
              PLAT_OK);
    CHECK_INT(g.help, 1);
    CHECK_INT(g.version, 1);
    CHECK_STR(g.config_path, "/x.conf");
    CHECK_INT(n, 1);
    plat_free(rest);

    ARGV(argv2, "agent", "-h");
    CHECK_INT(agent_cli_parse_globals(ARGC(argv2), argv2, &g, &n, &rest),
              PLAT_OK);
    CHECK_INT(g.help, 1);
    CHECK_INT(n, 0);
    plat_free(rest);
}

static void test_globals_missing_value(void)
{
    ARGV(argv, "agent", "status", "--config");
    ARGV(argv2, "agent", "--config=", "status");
    struct agent_cli_globals g;
    char **rest = NULL;
    int n = 0;

    CHECK_INT(agent_cli_parse_globals(ARGC(argv), argv, &g, &n, &rest),
              ERR_USAGE);
    CHECK(rest == NULL);
    CHECK(strstr(plat_err_msg(), "--config") != NULL);
    CHECK_INT(agent_cli_parse_globals(ARGC(argv2), argv2, &g, &n, &rest),
              ERR_USAGE);
    CHECK_INT(agent_cli_exit_code(ERR_USAGE), AGENT_EXIT_USAGE);
    CHECK_INT(agent_cli_exit_code(ERR_INVALID), AGENT_EXIT_FAILURE);
    CHECK_INT(agent_cli_exit_code(PLAT_OK), AGENT_EXIT_OK);
}

static void test_double_dash(void)
{
    ARGV(argv, "agent", "registrations", "search", "--json", "--",
         "-v", "--json");
    struct agent_cli_globals g;
    char **rest = NULL;
    int n = 0;

    CHECK_INT(agent_cli_parse_globals(ARGC(argv), argv, &g, &n, &rest),
              PLAT_OK);
    CHECK_INT(g.json, 1);
    CHECK_INT(g.verbosity, 0); /* -v after -- is an argument */
    REQUIRE(n == 5);
    CHECK_STR(rest[2], "--");
    CHECK_STR(rest[3], "-v");
    CHECK_STR(rest[4], "--json");

    /* The command's parser stops at "--" too and drops it. */
    {
        int limit = 0, npos = 0;
        const struct agent_opt opts[] = {
            { "--limit", AGENT_OPT_INT, &limit, 1, 100 },
            { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
        };
        char *pos[8];

        CHECK_INT(agent_cli_parse_opts("registrations search", n - 2,
                                       rest + 2, opts, pos, &npos),
                  PLAT_OK);
        CHECK_INT(npos, 2);
        CHECK_STR(pos[0], "-v");
        CHECK_STR(pos[1], "--json");
    }
    plat_free(rest);
}

static void test_config_precedence(void)
{
    struct agent_cli_globals g;
    char *path = NULL;

    memset(&g, 0, sizeof(g));
    setenv("AGENT_CONFIG", "/env/agent.conf", 1);
    CHECK_INT(agent_cli_config_path(&g, &path), PLAT_OK);
    CHECK_STR(path, "/env/agent.conf");
    plat_free(path);

    g.config_path = "/opt/agent.conf";
    CHECK_INT(agent_cli_config_path(&g, &path), PLAT_OK);
    CHECK_STR(path, "/opt/agent.conf");
    plat_free(path);

    g.config_path = NULL;
    unsetenv("AGENT_CONFIG");
    CHECK_INT(agent_cli_config_path(&g, &path), PLAT_OK);
    REQUIRE(path != NULL);
    CHECK(strstr(path, "agent.conf") != NULL);
    plat_free(path);
}

static void test_command_options(void)
{
    const char *status = NULL, *where = NULL;
    int limit = 0, all = 0, npos = 0;
    const struct agent_opt opts[] = {
        { "--status", AGENT_OPT_STRING, &status, 0, 0 },
        { "--where", AGENT_OPT_STRING, &where, 0, 0 },
        { "--limit", AGENT_OPT_INT, &limit, 1, 1000 },
        { "--all", AGENT_OPT_FLAG, &all, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    ARGV(argv, "a", "--status", "new", "b=c=d", "--limit=20",
         "--where", "district=north", "--all", "-");
    char *pos[ARGC(argv)];

    CHECK_INT(agent_cli_parse_opts("x", ARGC(argv), argv, opts, pos, &npos),
              PLAT_OK);
    CHECK_STR(status, "new");
    CHECK_STR(where, "district=north");
    CHECK_INT(limit, 20);
    CHECK_INT(all, 1);
    CHECK_INT(npos, 3);
    CHECK_STR(pos[0], "a");
    CHECK_STR(pos[1], "b=c=d");
    CHECK_STR(pos[2], "-"); /* a lone dash is an argument */
}

static void test_unknown_option(void)
{
    int all = 0, npos = 0;
    const struct agent_opt opts[] = {
        { "--all", AGENT_OPT_FLAG, &all, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    ARGV(argv, "--bogus=secret-value");
    ARGV(argv2, "--all=1");
    ARGV(argv3, "-x");
    char *pos[2];

    CHECK_INT(agent_cli_parse_opts("outbox", 1, argv, opts, pos, &npos),
              ERR_USAGE);
    CHECK(strstr(plat_err_msg(), "--bogus") != NULL);
    CHECK(strstr(plat_err_msg(), "outbox") != NULL);
    /* The value after '=' is not repeated: it may be personal data. */
    CHECK(strstr(plat_err_msg(), "secret-value") == NULL);
    CHECK_INT(agent_cli_exit_code(plat_err_code()), AGENT_EXIT_USAGE);
    CHECK_INT(agent_cli_parse_opts("outbox", 1, argv2, opts, pos, &npos),
              ERR_USAGE);
    CHECK_INT(agent_cli_parse_opts("outbox", 1, argv3, opts, pos, &npos),
              ERR_USAGE);
}

static void test_missing_option_value(void)
{
    const char *reason = NULL;
    int npos = 0;
    const struct agent_opt opts[] = {
        { "--reason", AGENT_OPT_STRING, &reason, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    ARGV(argv, "REF", "--reason");
    char *pos[2];

    CHECK_INT(agent_cli_parse_opts("registrations edit", 2, argv, opts, pos,
                                   &npos), ERR_USAGE);
    CHECK(strstr(plat_err_msg(), "--reason") != NULL);
}

static void test_split_kv(void)
{
    const char *value = NULL;
    size_t klen = 0;

    CHECK_INT(agent_cli_split_kv("fullName=Jane Doe", 1, &klen, &value),
              PLAT_OK);
    CHECK_INT(klen, 8);
    CHECK_STR(value, "Jane Doe");
    CHECK_INT(agent_cli_split_kv("note=a=b==c", 1, &klen, &value), PLAT_OK);
    CHECK_INT(klen, 4);
    CHECK_STR(value, "a=b==c");
    CHECK_INT(agent_cli_split_kv("phone=", 1, &klen, &value), PLAT_OK);
    CHECK_STR(value, "");
    CHECK_INT(agent_cli_split_kv("Jane Doe", 3, &klen, &value), ERR_USAGE);
    CHECK(strstr(plat_err_msg(), "argument 3") != NULL);
    CHECK(strstr(plat_err_msg(), "Jane") == NULL);
    CHECK_INT(agent_cli_split_kv("=x", 2, &klen, &value), ERR_USAGE);
}

static void test_numbers(void)
{
    int v = 0;

    CHECK_INT(agent_cli_parse_int("--limit", "25", 1, 100, &v), PLAT_OK);
    CHECK_INT(v, 25);
    CHECK_INT(agent_cli_parse_int("--offset", "0", 0, INT_MAX, &v), PLAT_OK);
    CHECK_INT(v, 0);
    CHECK_INT(agent_cli_parse_int("--limit", "abc", 1, 100, &v), ERR_USAGE);
    CHECK(strstr(plat_err_msg(), "--limit") != NULL);
    CHECK_INT(agent_cli_parse_int("--limit", "", 1, 100, &v), ERR_USAGE);
    CHECK_INT(agent_cli_parse_int("--limit", "12x", 1, 100, &v), ERR_USAGE);
    CHECK_INT(agent_cli_parse_int("--limit", "0", 1, 100, &v), ERR_USAGE);
    CHECK_INT(agent_cli_parse_int("--limit", "101", 1, 100, &v), ERR_USAGE);
    CHECK_INT(agent_cli_parse_int("--offset", "-1", 0, INT_MAX, &v),
              ERR_USAGE);
    CHECK_INT(agent_cli_parse_int("--offset", "99999999999999999999", 0,
                                  INT_MAX, &v), ERR_USAGE);
    CHECK_INT(agent_cli_parse_int("--limit", " 5", 1, 100, &v), ERR_USAGE);
    CHECK_INT(v, 0); /* untouched by failures */

    {
        int limit = 0, npos = 0;
        const struct agent_opt opts[] = {
            { "--limit", AGENT_OPT_INT, &limit, 1, 100 },
            { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
        };
        ARGV(argv, "--limit", "ten");
        char *pos[2];

        CHECK_INT(agent_cli_parse_opts("registrations list", 2, argv, opts,
                                       pos, &npos), ERR_USAGE);
        CHECK(strstr(plat_err_msg(), "ten") != NULL);
    }
}

static void test_command_table(void)
{
    /* Every command has a usage text that starts the same way, and every
     * visible one a summary for `agent --help`. */
    for (size_t i = 0; i < agent_commands_count; i++) {
        CHECK(agent_commands[i].usage != NULL);
        CHECK(strncmp(agent_commands[i].usage, "Usage: agent ", 13) == 0);
    }
    CHECK(agent_commands_count >= 16);
}

/* `agent status` on a terminal: "3 minutes ago" beside the ISO time. */
static void test_time_ago(void)
{
    const char *t = "2026-12-05T01:00:00.000Z";
    int64_t base = 0;
    char out[64];

    REQUIRE(plat_time_parse_iso(t, &base) == PLAT_OK);
    agent_time_ago(t, base + 10 * 1000, out, sizeof(out));
    CHECK_STR(out, "just now");
    agent_time_ago(t, base + 3 * 60 * 1000 + 5000, out, sizeof(out));
    CHECK_STR(out, "3 minutes ago");
    agent_time_ago(t, base + 61 * 1000, out, sizeof(out));
    CHECK_STR(out, "1 minute ago");
    agent_time_ago(t, base + 5 * 3600 * 1000LL, out, sizeof(out));
    CHECK_STR(out, "5 hours ago");
    agent_time_ago(t, base + 3 * 86400 * 1000LL, out, sizeof(out));
    CHECK_STR(out, "3 days ago");
    agent_time_ago(t, base - 2 * 3600 * 1000LL, out, sizeof(out));
    CHECK_STR(out, "in 2 hours");
    agent_time_ago("not a time", base, out, sizeof(out));
    CHECK_STR(out, "");
    agent_time_text(t, 0, "never", out, sizeof(out));
    CHECK_STR(out, t);
    agent_time_text(NULL, 1, "never", out, sizeof(out));
    CHECK_STR(out, "never");
}

TEST_MAIN(TEST(test_globals_anywhere), TEST(test_globals_help_version),
          TEST(test_globals_missing_value), TEST(test_double_dash),
          TEST(test_config_precedence), TEST(test_command_options),
          TEST(test_unknown_option), TEST(test_missing_option_value),
          TEST(test_split_kv), TEST(test_numbers), TEST(test_command_table),
          TEST(test_time_ago))
