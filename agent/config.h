/*
 * config.h - the agent's one config file.
 *
 * Format: a text file a person edits by hand. `# comment` lines, blank
 * lines, `[section]` headers and `key = value` lines; a key's full name is
 * "section.key" (e.g. "121.url"). Values run to the end of the line,
 * surrounding spaces trimmed; no quoting needed. The agent's own keys
 * ([store], [log], [sync], [conflicts], [daemon]) are declared in one
 * table in config.c; each compiled-in connector declares the keys of its
 * own section, named after it ([121], [file], ...: config_sources.h). An
 * unknown key or a bad value is an error that names the file, the line and
 * the key (and, in a connector's section, lists the valid keys).
 *
 * Transport keys shared by every source are in [sync] (ca_file,
 * pinned_public_key, proxy). A file of the old layout still loads: its
 * [server] section is read as [121] (ca_file, pinned_public_key and proxy
 * as [sync] keys), with one warning "FILE: section [server] is now [121];
 * rename it".
 *
 * Where the file is: --config PATH, else $AGENT_CONFIG, else the default
 * (root: /etc/agent/agent.conf; others: $XDG_CONFIG_HOME/agent/agent.conf or
 * ~/.config/agent/agent.conf).
 *
 * Passwords are never in this file and never on the command line: they come
 * from $AGENT_121_PASSWORD or from the file named by [121] password_file,
 * which must not be readable by group or others (mode 0600 or 0400). In
 * general a connector's SECRET key K of source S comes from
 * $AGENT_<S>_<K> (upper case) or the file named by its key "K_file".
 *
 * Ownership: agent_config_load fills a caller-owned struct whose strings
 * it allocates; agent_config_dispose frees them. Errors: ERR_NOTFOUND (no
 * file), ERR_CONFIG (syntax or value: message "FILE:LINE: ..."), ERR_IO.
 */
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stddef.h>

struct plat_buf;

struct agent_config {
    char *file;              /* the file this was read from               */
    /* [store] */
    char *store_path;        /* store.path                                */
    int store_sync_full;     /* store.synchronous: full (1) | normal (0)  */
    char *store_key_file;    /* store.key_file: "" = none (encrypted store) */
    char *store_passphrase_file; /* store.passphrase_file: "" = none       */
    /* One section per compiled-in connector ([121], [file], ...), in
     * registry order (config_sources.h). sources[i].values points into
     * src_values[i]; both are owned here and borrowed by the engine. */
    struct sync_source_conf *sources;
    size_t n_sources;
    char ***src_values;
    int program_id;          /* [121] program_id (0: unset), for --program */
    /* [log] */
    int log_level;           /* log.level: error, warn, info, debug       */
    char *log_file;          /* log.file: empty = stderr                  */
    /* [sync] */
    int sync_window;         /* sync.window: registrations per request    */
    int sync_batch;          /* sync.batch: records per committed batch   */
    int sync_create_batch;   /* sync.create_batch: creates per POST       */
    int sync_patch_max;      /* sync.patch_max: single PATCHes before CSV */
    int sync_max_attempts;   /* sync.max_attempts: tries per request      */
    int sync_backoff_base_ms;/* sync.backoff_base_ms                      */
    int sync_backoff_cap_ms; /* sync.backoff_cap_ms                       */
    int sync_connect_timeout_ms; /* sync.connect_timeout_ms               */
    int sync_deadline_s;         /* sync.deadline_s: one sync at most     */
    int sync_max_store_growth_mb;/* sync.max_store_growth_mb              */
    int sync_low_speed_time_s;   /* sync.low_speed_time_s                 */
    char *ca_file;           /* sync.ca_file: PEM CA bundle (optional)    */
    char *pinned_pubkey;     /* sync.pinned_public_key (optional)         */
    char *proxy;             /* sync.proxy: "" = curl's environment       */
    /* [conflicts]: default = manual | server-wins | device-wins, and
     * FIELD = POLICY for any field (e.g. householdSize = server-wins). */
    int conflict_default;    /* enum sync_policy                          */
    struct agent_policy {
        char *field;
        int policy;
    } *policies;             /* per-field policies, in file order         */
    size_t npolicies;
    /* [daemon] (agent daemon: scheduling, health, control socket) */
    int daemon_interval_s;       /* daemon.interval_s: between syncs      */
    int daemon_probe_interval_s; /* daemon.probe_interval_s: offline probe */
    int daemon_backoff_base_s;   /* daemon.backoff_base_s: first retry    */
    int daemon_backoff_cap_s;    /* daemon.backoff_cap_s: longest retry   */
    int daemon_stuck_after_s;    /* daemon.stuck_after_s: health "stuck"  */
    char *daemon_socket;         /* daemon.socket: "" = <store.path>.sock */
    /* [ui] (what a person at a terminal sees) */
    char *ui_lang;               /* ui.lang: labels' language (default en) */
    /* [serve] (agent serve: the 121 API and dashboard from the store) */
    char *serve_listen;          /* serve.listen: HOST:PORT               */
    char *serve_tls_cert;        /* serve.tls_cert: PEM; "" = plain HTTP  */
    char *serve_tls_key;         /* serve.tls_key: PEM (mode 0600)        */
    int serve_max_connections;   /* serve.max_connections                 */
    /* [bundle] (agent bundle: files carried to sites without a link) */
    char *bundle_key_file;       /* bundle.key_file: shared key (0600)    */
    char *bundle_signing_key;    /* bundle.signing_key: private PEM (0600) */
    char *bundle_trusted_keys;   /* bundle.trusted_keys: public PEMs, ';' */
};

struct sync_engine_options;
struct sync_source_conf;

/* Fill the transport, batching and conflict-policy fields of `opt` from
 * `cfg` (sync_options.c adds the sources and the request). `cfg` must
 * outlive the options (strings and the policy table are borrowed). */
void agent_config_sync_options(const struct agent_config *cfg,
                               struct sync_engine_options *opt);

/* The section of source `name`, or NULL when no such connector is
 * compiled in. */
const struct sync_source_conf *agent_config_source(
    const struct agent_config *cfg, const char *name);

/* The value of `key` in the section of source `name` (NULL: unset). */
const char *agent_config_get(const struct agent_config *cfg,
                             const char *name, const char *key);

/* The control socket of the daemon: daemon.socket, else
 * "<store.path>.sock". Allocated (caller frees); NULL when out of memory. */
char *agent_config_socket_path(const struct agent_config *cfg);

/* The conflict policy of `field` (a per-field line, else the default). */
int agent_config_policy(const struct agent_config *cfg, const char *field);

/* The default config path for this user (allocated; caller frees). */
char *agent_config_default_path(void);

/* The default store path for this user (allocated; caller frees). */
char *agent_config_default_store(void);

/* Set every key to its default (strings allocated). */
int agent_config_init(struct agent_config *cfg);
void agent_config_dispose(struct agent_config *cfg);

/* Read `path` into `cfg` (which agent_config_init prepared). */
int agent_config_load(struct agent_config *cfg, const char *path);

/* Parse config text (for tests and for load); `name` is used in messages. */
int agent_config_parse(struct agent_config *cfg, const char *name,
                       const char *text);

/* Like agent_config_parse, but goes on after an error and calls `cb` with
 * each message ("FILE:LINE: ..."), for `agent config check`. `cb` may be
 * NULL. Returns ERR_CONFIG (message: the first error) if any was found. */
typedef void (*agent_config_error_cb)(const char *msg, void *payload);
int agent_config_parse_all(struct agent_config *cfg, const char *name,
                           const char *text, agent_config_error_cb cb,
                           void *payload);

/* Call `cb` for every key in table order with its effective value as text
 * ("" when unset); `is_number` is 1 for numeric keys. Never passwords.
 * A non-zero return from `cb` stops and is returned. */
typedef int (*agent_config_key_cb)(const char *key, const char *value,
                                   int is_number, void *payload);
int agent_config_foreach(const struct agent_config *cfg,
                         agent_config_key_cb cb, void *payload);

/* Checks that need more than one key or the file system: the URL scheme,
 * the program id, the password file's existence and permissions. */
int agent_config_validate(const struct agent_config *cfg);

/* Things `config check` warns about without refusing the config: a
 * source URL over plain http:// to another host than 127.0.0.1, localhost
 * or ::1 (credentials and personal data in clear), credentials inside a
 * URL (they belong in password files), a config file its group can
 * change. One line each to `cb`; no URL or secret is quoted. */
void agent_config_warnings(const struct agent_config *cfg,
                           agent_config_error_cb cb, void *payload);

/* sync.pinned_public_key: empty, or "sha256//<base64 of 32 bytes>",
 * several separated by ';'. 0, or -1 with the reason in `why`. */
int agent_config_pin_check(const char *value, char *why, size_t whylen);

/* Refuse (ERR_CONFIG) a config file other users can write: it can
 * redirect the agent. *group_writable (may be NULL) is set when its group
 * can. */
int agent_config_mode_check(const char *path, int *group_writable);

/* Write the config as text (every key, with its description as a comment)
 * into `out`. Used by `agent init` and `agent config show`. */
int agent_config_format(const struct agent_config *cfg, struct plat_buf *out);

/* Set `key` of source `name`'s section as the file would (type checks;
 * then "enabled" is recomputed). ERR_CONFIG names the key. For `agent
 * init`. */
int agent_config_set(struct agent_config *cfg, const char *name,
                     const char *key, const char *value);

/* The SECRET key `key` of source `sc`: $AGENT_<SOURCE>_<KEY> (upper
 * case, e.g. AGENT_121_PASSWORD), else the file named by the key
 * "<key>_file" (trailing newline removed). ERR_AUTH if neither is set;
 * ERR_CONFIG if the file is missing or readable by others. *out is
 * allocated; the caller wipes and frees it. */
int agent_config_secret(const struct agent_config *cfg,
                        const struct sync_source_conf *sc, const char *key,
                        char **out);

/* The 121 password: agent_config_secret of [121] "password". */
int agent_config_password(const struct agent_config *cfg, char **out);

#endif
