/*
 * cli.c - the `agent` entry point: global options, finding the command,
 * opening what it needs, and turning an error into one line and an exit
 * code.
 *
 * Errors travel as plat_err codes with their message; they are printed
 * here and nowhere else ("report once"), as "agent: <message>".
 */
#include "cli.h"
#include "cmd_util.h"
#include "daemon_client.h"
#include "output.h"
#include "term.h"
#include "store_key.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_lock.h"
#include "plat_log.h"
#include "plat_random.h"
#include "plat_secure.h"
#include "store.h"
#include "sync_version.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef AGENT_VERSION
#define AGENT_VERSION "0.0.0"
#endif

#define LOCK_WAIT_MS 5000

int agent_cli_exit_code(int err)
{
    if (err >= 0)
        return AGENT_EXIT_OK;
    if (err == ERR_USAGE)
        return AGENT_EXIT_USAGE;
    if (err == ERR_AUTH) /* a wrong store key or passphrase, say */
        return AGENT_EXIT_AUTH;
    return AGENT_EXIT_FAILURE;
}

/* ---- argument parsing ------------------------------------------------- */

int agent_cli_parse_globals(int argc, char **argv,
                            struct agent_cli_globals *out, int *rest_argc,
                            char ***rest_argv)
{
    char **rest;
    int n = 0, stopped = 0;

    memset(out, 0, sizeof(*out));
    *rest_argc = 0;
    *rest_argv = NULL;
    rest = plat_calloc((size_t)(argc > 0 ? argc : 1), sizeof(*rest));
    if (!rest)
        return ERR_NOMEM;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (stopped) {
            rest[n++] = argv[i];
        } else if (strcmp(a, "--") == 0) {
            stopped = 1;
            rest[n++] = argv[i];
        } else if (strcmp(a, "--json") == 0) {
            out->json = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            out->verbosity = 1;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            out->verbosity = -1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            out->help = 1;
        } else if (strcmp(a, "--version") == 0) {
            out->version = 1;
        } else if (strcmp(a, "--config") == 0 ||
                   strncmp(a, "--config=", 9) == 0) {
            const char *v = a[8] == '=' ? a + 9 : NULL;

            if (!v && i + 1 < argc)
                v = argv[++i];
            if (!v || !*v) {
                plat_free(rest);
                return plat_err_set(ERR_USAGE,
                                    "option --config needs a file path");
            }
            out->config_path = v;
        } else {
            rest[n++] = argv[i];
        }
    }
    *rest_argc = n;
    *rest_argv = rest;
    return PLAT_OK;
}

int agent_cli_config_path(const struct agent_cli_globals *g, char **out)
{
    const char *env = getenv("AGENT_CONFIG");

    if (g->config_path)
        *out = plat_strdup(g->config_path);
    else if (env && *env)
        *out = plat_strdup(env);
    else
        *out = agent_config_default_path();
    return *out ? PLAT_OK : plat_err_code();
}

int agent_cli_parse_int(const char *what, const char *s, int min, int max,
                        int *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max || *s == ' ' ||
        *s == '+') {
        if (max == INT_MAX)
            return plat_err_set(ERR_USAGE, "bad number '%.20s' for %s "
                                "(expected a whole number >= %d)", s, what,
                                min);
        return plat_err_set(ERR_USAGE, "bad number '%.20s' for %s (expected "
                            "%d to %d)", s, what, min, max);
    }
    *out = (int)v;
    return PLAT_OK;
}

int agent_cli_split_kv(const char *arg, int argno, size_t *key_len,
                       const char **value)
{
    const char *eq = strchr(arg, '=');

    if (!eq)
        return plat_err_set(ERR_USAGE, "argument %d is not key=value",
                            argno);
    if (eq == arg)
        return plat_err_set(ERR_USAGE, "argument %d has no key before '='",
                            argno);
    *key_len = (size_t)(eq - arg);
    *value = eq + 1;
    return PLAT_OK;
}

static const struct agent_opt *find_opt(const struct agent_opt *opts,
                                        const char *name, size_t len)
{
    for (; opts && opts->name; opts++) {
        if (strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
            return opts;
    }
    return NULL;
}

int agent_cli_parse_opts(const char *cmd, int argc, char **argv,
                         const struct agent_opt *opts, char **pos,
                         int *npos)
{
    int n = 0, done = 0;

    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const struct agent_opt *o;
        const char *eq, *value;
        size_t len;

        if (done || a[0] != '-' || a[1] == '\0') {
            pos[n++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            done = 1;
            continue;
        }
        eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        len = eq ? (size_t)(eq - a) : strlen(a);
        o = find_opt(opts, a, len);
        if (!o && !agent_printable(a))
            return plat_err_set(ERR_USAGE, "unknown option (argument %d) for "
                                "'%s'", i + 1, cmd);
        if (!o)
            return plat_err_set(ERR_USAGE, "unknown option '%.*s' for '%s'",
                                (int)(len > 40 ? 40 : len), a, cmd);
        if (o->kind == AGENT_OPT_FLAG) {
            if (eq)
                return plat_err_set(ERR_USAGE, "option %s takes no value",
                                    o->name);
            *(int *)o->out = 1;
            continue;
        }
        if (eq)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else
            return plat_err_set(ERR_USAGE, "option %s needs a value",
                                o->name);
        if (o->kind == AGENT_OPT_STRING) {
            *(const char **)o->out = value;
        } else {
            int rc = agent_cli_parse_int(o->name, value, o->min, o->max,
                                         (int *)o->out);

            if (rc < 0)
                return rc;
        }
    }
    *npos = n;
    return PLAT_OK;
}

/* ---- the context a command runs in ------------------------------------ */

int agent_ctx_quiet(const struct agent_ctx *ctx)
{
    return ctx->g.verbosity < 0;
}

static void apply_logging(struct agent_ctx *ctx)
{
    int level = ctx->cfg_loaded ? ctx->cfg.log_level : LOG_LVL_INFO;

    if (ctx->g.verbosity > 0)
        level = LOG_LVL_DEBUG;
    else if (ctx->g.verbosity < 0)
        level = LOG_LVL_ERROR;
    plat_log_set_level(level);
    if (ctx->cfg_loaded && ctx->cfg.log_file && *ctx->cfg.log_file &&
        plat_log_set_file(ctx->cfg.log_file) < 0) {
        /* A log file that cannot be opened must not stop field work. */
        if (!agent_ctx_quiet(ctx))
            fprintf(stderr, "agent: warning: %s; logging to stderr\n",
                    plat_err_msg());
        plat_err_clear();
    }
    /* A person at a terminal reads short lines ("warning: ..."); a log
     * file, journald and pipes keep the ISO timestamps. */
    plat_log_set_style(plat_log_to_stderr() && agent_term_is_tty(2),
                       agent_term_colour(2));
}

int agent_store_open(const struct agent_config *cfg, int flags,
                     struct store **out)
{
    struct store_options opt = { 0 };
    int rc;

    *out = NULL;
    if (!cfg->store_path || !*cfg->store_path)
        return plat_err_set(ERR_CONFIG, "%s: store.path is not set",
                            cfg->file ? cfg->file : "config");
    if (!(flags & STORE_CREATE) && !plat_fs_exists(cfg->store_path))
        return plat_err_set(ERR_NOTFOUND, "no store at %s (run `agent init`)",
                            cfg->store_path);
    opt.flags = flags;
    opt.synchronous_full = cfg->store_sync_full;
    {
        uint8_t key[STORE_KEY_LEN];
        int encrypted = 0;

        rc = agent_store_key(cfg, key, &encrypted);
        if (rc == PLAT_OK)
            rc = store_open_key(out, cfg->store_path, &opt,
                                encrypted ? key : NULL);
        if (rc == ERR_AUTH && encrypted &&
            agent_store_key_next(cfg, key) == PLAT_OK &&
            store_open_key(out, cfg->store_path, &opt, key) == PLAT_OK) {
            /* An interrupted `agent key rotate`: finish it. */
            char *ring = plat_asprintf("%s.keys", cfg->store_path);
            char *next = plat_asprintf("%s.keys.next", cfg->store_path);
            if (ring && next && rename(next, ring) == 0)
                log_warn("store %s: finished an interrupted key rotation",
                         cfg->store_path);
            plat_free(ring);
            plat_free(next);
            rc = PLAT_OK;
        }
        if (rc == PLAT_OK)
            plat_err_clear();
        plat_wipe(key, sizeof(key));
    }
    if (rc == PLAT_OK)
        return PLAT_OK;
    *out = NULL;
    /* ERR_CORRUPT: the store's message is one line naming the path and
     * what to do; it is passed on as it is. */
    if (rc == ERR_NOTFOUND)
        rc = plat_err_set(ERR_NOTFOUND, "no store at %s (run `agent init`)",
                          cfg->store_path);
    return rc;
}

/* A store refused as damaged, opened read-only for a command that only
 * reads: one warning line (the store's message), or the first error. */
static int open_damaged(struct agent_ctx *ctx)
{
    char *msg = plat_strdup(plat_err_msg());
    struct store *s = NULL;
    int rc;

    if (!msg)
        return ERR_NOMEM;
    rc = agent_store_open(&ctx->cfg, STORE_READONLY, &s);
    if (rc == PLAT_OK && store_damaged(s)) {
        if (!agent_ctx_quiet(ctx))
            fprintf(stderr, "agent: warning: %s\n", msg);
        ctx->store = s;
    } else {
        store_close(s);
        rc = plat_err_set(ERR_CORRUPT, "%s", msg);
    }
    plat_free(msg);
    return rc;
}

int agent_ctx_open(struct agent_ctx *ctx, int need)
{
    char *lock_path = NULL;
    int rc = PLAT_OK;

    if (need & (AGENT_NEED_STORE | AGENT_NEED_WRITE))
        need |= AGENT_NEED_CONFIG;
    if ((need & AGENT_NEED_CONFIG) && !ctx->cfg_loaded) {
        rc = agent_config_load(&ctx->cfg, ctx->config_path);
        if (rc < 0)
            goto done;
        ctx->cfg_loaded = 1;
        apply_logging(ctx);
        log_debug("config %s, store %s", ctx->config_path,
                  ctx->cfg.store_path);
    }
    if ((need & AGENT_NEED_WRITE) && !ctx->lock) {
        /* Checked before the lock so a missing store is reported as such,
         * not as a lock file that cannot be created. */
        if (!plat_fs_exists(ctx->cfg.store_path)) {
            rc = plat_err_set(ERR_NOTFOUND, "no store at %s (run `agent "
                              "init`)", ctx->cfg.store_path);
            goto done;
        }
        /* A daemon holds the lock; SQLite transactions keep the writes
         * apart (see cli.h). */
        if (!(need & AGENT_NEED_EXCLUSIVE) &&
            agent_daemon_ping(&ctx->cfg, NULL) == PLAT_OK) {
            log_debug("the agent daemon holds the store lock: writing "
                      "beside it");
            goto open_store;
        }
        lock_path = plat_asprintf("%s.lock", ctx->cfg.store_path);
        if (!lock_path) {
            rc = ERR_NOMEM;
            goto done;
        }
        rc = plat_lock_acquire(&ctx->lock, lock_path, LOCK_WAIT_MS);
        if (rc < 0) {
            ctx->lock = NULL;
            goto done;
        }
    }
open_store:
    if ((need & (AGENT_NEED_STORE | AGENT_NEED_WRITE)) && !ctx->store) {
        rc = agent_store_open(&ctx->cfg, 0, &ctx->store);
        if (rc == ERR_CORRUPT &&
            !(need & (AGENT_NEED_WRITE | AGENT_NEED_HEALTHY)))
            rc = open_damaged(ctx);
    }
done:
    plat_free(lock_path);
    return rc;
}

int agent_ctx_program(struct agent_ctx *ctx, int opt, int *out)
{
    if (opt > 0) {
        *out = opt;
        return PLAT_OK;
    }
    if (ctx->cfg_loaded && ctx->cfg.program_id > 0) {
        *out = ctx->cfg.program_id;
        return PLAT_OK;
    }
    return plat_err_set(ERR_CONFIG, "no program id: give --program ID or set "
                        "program_id in [121] of %s", ctx->config_path);
}

/* ---- help ------------------------------------------------------------- */

static void print_usage(FILE *f)
{
    fputs("Usage: agent [OPTIONS] COMMAND [ARGS]\n"
          "\n"
          "Offline-first field agent for the 121 platform: keeps "
          "registrations and\n"
          "their pending changes in a local store until they can be "
          "synced.\n"
          "\n"
          "Commands:\n", f);
    for (size_t i = 0; i < agent_commands_count; i++) {
        if (agent_commands[i].summary)
            fprintf(f, "  %-22s %s\n", agent_commands[i].name,
                    agent_commands[i].summary);
    }
    fputs("\n"
          "Options (accepted anywhere on the command line):\n"
          "  --config PATH   config file; else $AGENT_CONFIG, else "
          "/etc/agent/agent.conf\n"
          "                  (root) or ~/.config/agent/agent.conf\n"
          "  --json          print JSON on stdout, for scripts\n"
          "  -v, --verbose   debug logging\n"
          "  -q, --quiet     log errors only; no warnings\n"
          "  -h, --help      this help, or the usage of COMMAND\n"
          "  --version       print the version\n"
          "  --              end of options (for values starting with '-')\n"
          "\n"
          "The 121 password is never given on the command line: it comes "
          "from\n"
          "$AGENT_121_PASSWORD or from password_file in [121] (mode 0600).\n"
          "\n"
          "Exit codes: 0 ok, 1 failure, 2 usage error; `agent sync`: 3 server\n"
          "unreachable (nothing lost), 4 conflicts or rejected entries need a\n"
          "person, 5 authentication failed, 6 the daemon was too busy (try\n"
          "again). Any command: 5 wrong or missing key of an encrypted "
          "store.\n"
          "Run 'agent help COMMAND' or 'agent COMMAND --help' for the "
          "usage of a command.\n", f);
}

static int word_count(const char *name)
{
    return strchr(name, ' ') ? 2 : 1;
}

/* 1 if the command `name` is spelled by the first words of args. */
static int spelled(const char *name, int argc, char **args)
{
    const char *sp = strchr(name, ' ');

    if (!sp)
        return argc >= 1 && strcmp(args[0], name) == 0;
    return argc >= 2 && strlen(args[0]) == (size_t)(sp - name) &&
           strncmp(args[0], name, (size_t)(sp - name)) == 0 &&
           strcmp(args[1], sp + 1) == 0;
}

/* 1 if some command starts with the word `w` followed by a space. */
static int is_group(const char *w)
{
    size_t n = strlen(w);

    for (size_t i = 0; i < agent_commands_count; i++) {
        const char *name = agent_commands[i].name;

        if (strncmp(name, w, n) == 0 && name[n] == ' ')
            return 1;
    }
    return 0;
}

/* The subcommands of group `w`, for a message: "add, edit, ...". */
static void group_subs(const char *w, char *buf, size_t len)
{
    size_t n = strlen(w), used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < agent_commands_count; i++) {
        const char *name = agent_commands[i].name;

        if (strncmp(name, w, n) == 0 && name[n] == ' ' && used < len) {
            int k = snprintf(buf + used, len - used, "%s%s",
                             used ? ", " : "", name + n + 1);

            if (k > 0)
                used += (size_t)k;
        }
    }
}

/* Find the command spelled by args; *words says how many args it used. */
static int find_command(int argc, char **args, const struct agent_cmd **out,
                        int *words)
{
    const struct agent_cmd *best = NULL;
    char subs[200];

    for (size_t i = 0; i < agent_commands_count; i++) {
        const struct agent_cmd *c = &agent_commands[i];

        if (spelled(c->name, argc, args) &&
            (!best || word_count(c->name) > word_count(best->name)))
            best = c;
    }
    if (best) {
        *out = best;
        *words = word_count(best->name);
        return PLAT_OK;
    }
    /* Words are quoted back only when printable: the message is one line
     * on a terminal. */
    if (args[0][0] == '-')
        return plat_err_set(ERR_USAGE, "unknown option '%.40s'",
                            agent_printable(args[0]) ? args[0] : "?");
    if (is_group(args[0])) {
        group_subs(args[0], subs, sizeof(subs));
        if (argc < 2)
            return plat_err_set(ERR_USAGE, "'%s' needs a subcommand: %s",
                                args[0], subs);
        return plat_err_set(ERR_USAGE, "unknown command '%s %.40s' (known: "
                            "%s)", args[0],
                            agent_printable(args[1]) ? args[1] : "?", subs);
    }
    return plat_err_set(ERR_USAGE, "unknown command '%.40s'",
                        agent_printable(args[0]) ? args[0] : "?");
}

/* `agent help [COMMAND...]` */
static int run_help(int argc, char **args)
{
    const struct agent_cmd *cmd;
    int words, rc;

    if (argc == 0) {
        print_usage(stdout);
        return PLAT_OK;
    }
    rc = find_command(argc, args, &cmd, &words);
    if (rc < 0)
        return rc;
    if (words != argc)
        return plat_err_set(ERR_USAGE, "help takes a command name only");
    fputs(cmd->usage, stdout);
    return PLAT_OK;
}

/* ---- main ------------------------------------------------------------- */

static void report(int rc)
{
    const char *msg = plat_err_msg();

    fflush(stdout);
    if (!msg || !*msg)
        msg = plat_err_name(rc);
    fprintf(stderr, "agent: %s\n", msg);
    if (rc == ERR_USAGE)
        fputs("Try 'agent --help'.\n", stderr);
}

int agent_cli_main(int argc, char **argv)
{
    cJSON_Hooks hooks = { plat_malloc, plat_free };
    struct agent_ctx ctx;
    const struct agent_cmd *cmd = NULL;
    char **rest = NULL, **args;
    int nrest = 0, nargs, words = 0, cfg_inited = 0, rc;

    memset(&ctx, 0, sizeof(ctx));
    /* The store, its WAL and lock files and the logs hold personal data:
     * whatever this process creates is for its owner only. */
    umask(077);
    /* cJSON allocates through the project allocator, so the test hook that
     * fails the Nth allocation reaches JSON code too. */
    cJSON_InitHooks(&hooks);
    rc = agent_cli_parse_globals(argc, argv, &ctx.g, &nrest, &rest);
    if (rc < 0)
        goto done;
    apply_logging(&ctx);
    if (ctx.g.version) {
        /* The libraries too: field support asks "which curl, which
         * SQLite?" before anything else. */
        printf("agent %s (%s)\n", AGENT_VERSION, sync_version_libs());
        goto done;
    }
    args = rest;
    nargs = nrest;
    if (nargs > 0 && strcmp(args[0], "--") == 0) {
        args++;
        nargs--;
    }
    if (nargs == 0) {
        if (ctx.g.help) {
            print_usage(stdout);
        } else {
            print_usage(stderr);
            rc = ERR_USAGE;
            plat_err_set(ERR_USAGE, "no command given");
        }
        goto done;
    }
    if (strcmp(args[0], "help") == 0) {
        rc = run_help(nargs - 1, args + 1);
        goto done;
    }
    rc = find_command(nargs, args, &cmd, &words);
    if (rc < 0)
        goto done;
    if (ctx.g.help) {
        fputs(cmd->usage, stdout);
        goto done;
    }
    ctx.cmd_name = cmd->name;
    rc = agent_config_init(&ctx.cfg);
    if (rc < 0)
        goto done;
    cfg_inited = 1;
    rc = agent_cli_config_path(&ctx.g, &ctx.config_path);
    if (rc < 0)
        goto done;
    log_debug("command %s", cmd->name);
    rc = cmd->run(&ctx, nargs - words, args + words);
done:
    if (rc == PLAT_OK && fflush(stdout) != 0)
        rc = plat_err_set(ERR_IO, "cannot write the output: %s",
                          strerror(errno));
    if (rc < 0)
        report(rc);
    if (ctx.store)
        store_close(ctx.store);
    if (ctx.lock)
        plat_lock_release(ctx.lock);
    if (cfg_inited)
        agent_config_dispose(&ctx.cfg);
    plat_free(ctx.config_path);
    plat_free(rest);
    plat_log_set_file(NULL);
    plat_random_cleanup();
    if (rc == PLAT_OK && ctx.exit_override > 0)
        return ctx.exit_override;
    return agent_cli_exit_code(rc);
}
