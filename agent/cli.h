/*
 * cli.h - the `agent` command line: global options, the command table,
 * per-command option parsing, exit codes, and the context a command runs
 * in (config, store, lock), opened lazily so that a usage error is reported
 * before anything is read from disk.
 *
 * Parsing functions are exposed here so tests can drive them without
 * running a command. They never print: a failure is ERR_USAGE with the
 * message set (plat_err.h), and the caller prints it.
 */
#ifndef AGENT_CLI_H
#define AGENT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct store;
struct plat_lock;

/* Process exit codes; scripts rely on them (documented in `agent --help`). */
enum agent_exit {
    AGENT_EXIT_OK = 0,       /* done                                       */
    AGENT_EXIT_FAILURE = 1,  /* failed: config, store, validation, ...     */
    AGENT_EXIT_USAGE = 2,    /* bad command line                           */
    AGENT_EXIT_OFFLINE = 3,  /* 121 unreachable: nothing lost, try later    */
    AGENT_EXIT_ATTENTION = 4,/* done, but conflicts or rejected entries
                                need a person                              */
    AGENT_EXIT_AUTH = 5,     /* authentication failed                      */
    AGENT_EXIT_BUSY = 6      /* `sync`: the daemon is too busy to take the
                                request; nothing was done, try again      */
};

/* Map an error code (plat_err.h) to the exit code. */
int agent_cli_exit_code(int err);

/* Global options, accepted anywhere on the command line. */
struct agent_cli_globals {
    const char *config_path; /* --config PATH (borrowed from argv), or NULL */
    int json;                /* --json                                     */
    int verbosity;           /* -1: -q, 0: config's log.level, 1: -v        */
    int help;                /* -h / --help                                */
    int version;             /* --version                                  */
};

/* Take the global options out of argv[1..argc-1]. The rest (command words,
 * command options and arguments, in order) goes into *rest_argv, a new
 * array (plat_free it; its strings are argv's) of *rest_argc entries.
 * Parsing stops at "--", which is kept in the rest so the command's own
 * parser stops there too. Options it does not know are left in the rest.
 * ERR_USAGE for a global option without its value. */
int agent_cli_parse_globals(int argc, char **argv,
                            struct agent_cli_globals *out, int *rest_argc,
                            char ***rest_argv);

/* The config file to use: --config, else $AGENT_CONFIG, else the default
 * (config.h). *out is allocated. */
int agent_cli_config_path(const struct agent_cli_globals *g, char **out);

/* Options of one command. */
enum agent_opt_kind {
    AGENT_OPT_FLAG,   /* out: int *, set to 1                             */
    AGENT_OPT_STRING, /* out: const char **, borrowed from argv           */
    AGENT_OPT_INT     /* out: int *, within [min, max]                     */
};

struct agent_opt {
    const char *name;  /* long name with dashes, e.g. "--limit"           */
    enum agent_opt_kind kind;
    void *out;
    int min, max;      /* AGENT_OPT_INT only                               */
};

/* Parse a command's arguments: options (from `opts`, ended by a {NULL}
 * entry; "--name VALUE" or "--name=VALUE") anywhere, "--" ends options.
 * Positional arguments go into `pos` (room for argc entries), their number
 * into *npos. ERR_USAGE names the unknown option or the missing value.
 * `cmd` is the command name, for messages. */
int agent_cli_parse_opts(const char *cmd, int argc, char **argv,
                         const struct agent_opt *opts, char **pos,
                         int *npos);

/* A whole number in [min, max]; ERR_USAGE naming `what` otherwise. */
int agent_cli_parse_int(const char *what, const char *s, int min, int max,
                        int *out);

/* Split "key=value" on the first '='. *key_len is the key's length and
 * *value points into `arg`. ERR_USAGE if there is no '=' or no key;
 * `argno` (1-based position) names the argument in the message, since the
 * argument itself may hold personal data. */
int agent_cli_split_kv(const char *arg, int argno, size_t *key_len,
                       const char **value);

/* What a command needs opened before it runs. */
enum agent_need {
    AGENT_NEED_CONFIG = 1 << 0, /* the config file                        */
    AGENT_NEED_STORE = 1 << 1,  /* the store (implies config)             */
    AGENT_NEED_WRITE = 1 << 2,  /* the store + the single-writer lock,
                                   unless a daemon holds it (see below)  */
    AGENT_NEED_EXCLUSIVE = 1 << 3, /* with WRITE: the lock itself, even
                                   while a daemon runs (a sync)           */
    AGENT_NEED_HEALTHY = 1 << 4 /* with STORE: a damaged store is an error
                                   (status), not a warning (lookups)      */
};

/* State of one run of the CLI; commands get it and open what they need. */
struct agent_ctx {
    struct agent_cli_globals g;
    const char *cmd_name;       /* e.g. "registrations add"               */
    char *config_path;          /* resolved; owned                        */
    struct agent_config cfg;
    int cfg_loaded;
    struct store *store;
    struct plat_lock *lock;
    int exit_override;          /* > 0: exit with this code (sync's 3, 4, 5)
                                   after a command that reported itself   */
};

/* Load the config and open the store as `need` says (idempotent). The
 * store is opened without STORE_CREATE; AGENT_NEED_WRITE takes
 * "<store>.lock" first (waiting up to 5 s for another writer).
 *
 * A running `agent daemon` holds that lock for its whole life, so that no
 * second sync can start. A write command (add, edit, status, import,
 * resolve) then goes ahead without the lock when the daemon answers on
 * its control socket: every store write is one SQLite transaction (WAL,
 * busy timeout), so the person's change and the daemon's sync batches
 * interleave safely, one transaction at a time. AGENT_NEED_EXCLUSIVE
 * refuses that shortcut (the lock or nothing).
 *
 * A damaged store (store.h) is refused for writing (ERR_CORRUPT, exit 1);
 * a command that only reads (AGENT_NEED_STORE without WRITE or HEALTHY)
 * opens it read-only instead, after one warning line, so people can still
 * look things up. */
int agent_ctx_open(struct agent_ctx *ctx, int need);

/* Open the store named by `cfg` (flags: enum store_flags) and turn the
 * store's errors into messages a person can act on ("no store at P (run
 * `agent init`)", "P is damaged or not an agent store"). */
int agent_store_open(const struct agent_config *cfg, int flags,
                     struct store **out);

/* The program id to use: `opt` (from --program) if > 0, else the
 * config's server.program_id; ERR_CONFIG if neither is set. */
int agent_ctx_program(struct agent_ctx *ctx, int opt, int *out);

/* 1 when the user asked for quiet output (-q). */
int agent_ctx_quiet(const struct agent_ctx *ctx);

/* A command: `run` gets the arguments after the command words. */
struct agent_cmd {
    const char *name;     /* "registrations add"                          */
    const char *summary;  /* one line for `agent --help`                   */
    const char *usage;    /* full usage text for `agent help COMMAND`      */
    int (*run)(struct agent_ctx *ctx, int argc, char **argv);
};

/* The commands, in help order. */
extern const struct agent_cmd agent_commands[];
extern const size_t agent_commands_count;

/* Command entry points (cmd_*.c). */
int agent_cmd_init(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_config_check(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_config_show(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_config_path(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_reg_add(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_reg_edit(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_reg_status(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_reg_show(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_reg_list(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_reg_search(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_program_import(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_program_show(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_outbox(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_conflicts_list(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_conflicts_show(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_conflicts_resolve(struct agent_ctx *ctx, int argc,
                                char **argv);
int agent_cmd_status(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_sync(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_daemon(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_doctor(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_completion(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_serve(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_serve_passwd(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_espocrm_setup(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_espocrm_status(struct agent_ctx *ctx, int argc, char **argv);
/* `config check`: the [espocrm] mapping parses and, when a program is
 * stored (s may be NULL), names its attributes (cmd_espocrm.c). */
int agent_espocrm_check(const struct agent_config *cfg, struct store *s);
int agent_cmd_kobo_setup(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_kobo_status(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_kobo_rejected(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_kobo_retry(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_kobo_program(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_kobo_validation_csv(struct agent_ctx *ctx, int argc,
                                  char **argv);

/* `config check` of the [kobo] mapping files against the stored form and
 * 121 program (cmd_kobo.c): each problem through on_error. */
void agent_kobo_check(struct agent_ctx *ctx,
                      void (*on_error)(const char *msg, void *payload),
                      void *payload);

/* Encryption at rest (cmd_crypt.c). agent_crypt_new_ring: a new data key
 * in `key` and its ring, wrapped for a passphrase (when `passphrase` or no
 * `keyfile`) and/or the key file `keyfile` (absolute; made if missing). */
int agent_cmd_encrypt(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_decrypt(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_key_add(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_key_remove(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_key_rotate(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_backup(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_restore(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_bundle_keygen(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_bundle_export(struct agent_ctx *ctx, int argc, char **argv);
int agent_cmd_bundle_import(struct agent_ctx *ctx, int argc, char **argv);
struct store_keys;
/* Set store.key_file in `cfg` (not yet written to the file). */
int agent_config_store_key_file(struct agent_config *cfg, const char *keyfile);
int agent_crypt_new_ring(const struct agent_config *cfg, const char *keyfile,
                         int passphrase, struct store_keys **ring,
                         uint8_t key[32]);

/* The whole CLI: returns the process exit code. */
int agent_cli_main(int argc, char **argv);

/* Attachments of a registration (cmd_attach.c): the array `registrations
 * show --json` gives as "_attachments" (*out new), and its text lines. */
struct cJSON;
int agent_reg_attachments_json(struct store *s, const char *ref,
                               struct cJSON **out);
void agent_reg_attachments_print(const struct cJSON *atts);
int agent_cmd_kobo_attachment(struct agent_ctx *ctx, int argc, char **argv);

#endif
