/*
 * config.c - the agent's config file: one table of the agent's own keys, a
 * line parser that names the file, the line and the key of every mistake,
 * a writer that documents every key, and the secret (password) lookup.
 *
 * The table is the only place an agent key is declared, and a connector's
 * `config` table the only place one of its keys is (config_sources.c):
 * parsing, defaults, `agent config show` and the file written by `agent
 * init` all come from them, so a new key cannot be half-supported.
 */
#include "config.h"
#include "config_sources.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_secure.h"
#include "plat_log.h"
#include "plat_utf8.h"
#include "sync_connector.h"
#include "sync_engine.h"
#include "store_keys.h"
#include "store_sign.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1024 * 1024)
#define PASSWORD_FILE_MAX 4096
#define REASON_MAX 160

enum cfg_type {
    CFG_STRING,   /* char *, any text (may be empty)                  */
    CFG_PATH,     /* char *, must not be empty                         */
    CFG_ID,       /* int, a positive whole number                      */
    CFG_SYNC,     /* int, "full" (1) or "normal" (0)                   */
    CFG_LEVEL,    /* int, a log level name                             */
    CFG_INT,      /* int, a whole number in [min, max]                 */
    CFG_POLICY    /* int, a conflict policy name                       */
};

struct cfg_key {
    const char *name;        /* "section.key"                            */
    enum cfg_type type;
    const char *def;         /* default as text; NULL: computed / unset  */
    size_t offset;           /* of the field in struct agent_config      */
    const char *desc;        /* one-line comment written by format       */
    long min, max;           /* CFG_INT only                              */
};

#define OFF(f) offsetof(struct agent_config, f)

static const struct cfg_key keys[] = {
    { "store.path", CFG_PATH, NULL, OFF(store_path),
      "Path of the local SQLite store.", 0, 0 },
    { "store.synchronous", CFG_SYNC, "full", OFF(store_sync_full),
      "full: fsync every commit (safe on power loss); normal: faster.", 0, 0 },
    { "store.key_file", CFG_STRING, "", OFF(store_key_file),
      "Encrypted store: key file (mode 0600) that opens it; empty: none.",
      0, 0 },
    { "store.passphrase_file", CFG_STRING, "", OFF(store_passphrase_file),
      "Encrypted store: file (0600) with the passphrase; empty: "
      "$AGENT_STORE_PASSPHRASE or a prompt.", 0, 0 },
    { "log.level", CFG_LEVEL, "info", OFF(log_level),
      "error, warn, info or debug.", 0, 0 },
    { "log.file", CFG_STRING, "", OFF(log_file),
      "Append log lines to this file; empty: stderr.", 0, 0 },
    { "sync.window", CFG_INT, "250000", OFF(sync_window),
      "Registrations asked for per request (121 costs ~1.5 s a request); "
      "halved when an answer does not start in time.", 100, 1000000 },
    { "sync.batch", CFG_INT, "1000", OFF(sync_batch),
      "Registrations committed together with the pull checkpoint.",
      10, 100000 },
    { "sync.create_batch", CFG_INT, "500", OFF(sync_create_batch),
      "New registrations sent per POST.", 1, 5000 },
    { "sync.patch_max", CFG_INT, "20", OFF(sync_patch_max),
      "Edited people sent as single PATCHes; above this, CSV bulk updates.",
      1, 100000 },
    { "sync.max_attempts", CFG_INT, "5", OFF(sync_max_attempts),
      "Tries per request on network errors, 429 and 502/503/504.", 1, 100 },
    { "sync.backoff_base_ms", CFG_INT, "500", OFF(sync_backoff_base_ms),
      "First retry delay (ms); doubles per try, with full jitter.",
      1, 600000 },
    { "sync.backoff_cap_ms", CFG_INT, "30000", OFF(sync_backoff_cap_ms),
      "Longest retry delay (ms).", 1, 3600000 },
    { "sync.connect_timeout_ms", CFG_INT, "15000",
      OFF(sync_connect_timeout_ms), "Connect timeout (ms).", 100, 600000 },
    { "sync.deadline_s", CFG_INT, "21600", OFF(sync_deadline_s),
      "Longest one sync may take (s); past it the sync stops and resumes "
      "next time.", 10, 604800 },
    { "sync.max_store_growth_mb", CFG_INT, "4096",
      OFF(sync_max_store_growth_mb),
      "Most record data one sync may write (MB): a runaway server stops "
      "there.", 1, 1048576 },
    { "sync.low_speed_time_s", CFG_INT, "60", OFF(sync_low_speed_time_s),
      "A transfer under 100 bytes/s this long fails (s).", 5, 3600 },
    { "sync.ca_file", CFG_STRING, "", OFF(ca_file),
      "PEM file of the CA to trust (every source); empty: the system's CAs.",
      0, 0 },
    { "sync.pinned_public_key", CFG_STRING, "", OFF(pinned_pubkey),
      "Pin the servers' TLS key: sha256//BASE64 (curl syntax); empty: no "
      "pin.", 0, 0 },
    { "sync.proxy", CFG_STRING, "", OFF(proxy),
      "HTTP(S) proxy URL; empty: https_proxy/no_proxy from the environment.",
      0, 0 },
    { "conflicts.default", CFG_POLICY, "manual", OFF(conflict_default),
      "manual, server-wins or device-wins; add FIELD = POLICY lines too.", 0, 0 },
    { "daemon.interval_s", CFG_INT, "900", OFF(daemon_interval_s),
      "agent daemon: seconds between syncs (+-10 % jitter).", 1, 2592000 },
    { "daemon.probe_interval_s", CFG_INT, "30", OFF(daemon_probe_interval_s),
      "While offline, probe each source's host this often (seconds).", 1, 86400 },
    { "daemon.backoff_base_s", CFG_INT, "5", OFF(daemon_backoff_base_s),
      "First retry after a failed sync (s); doubles per failure, full jitter.",
      1, 86400 },
    { "daemon.backoff_cap_s", CFG_INT, "600", OFF(daemon_backoff_cap_s),
      "Longest retry delay after failed syncs (seconds).", 1, 604800 },
    { "daemon.stuck_after_s", CFG_INT, "86400", OFF(daemon_stuck_after_s),
      "Health: stuck when the outbox has not drained this long while 121 "
      "was reachable.", 1, 31536000 },
    { "daemon.socket", CFG_STRING, "", OFF(daemon_socket),
      "Control socket of the daemon; empty: <store.path>.sock.", 0, 0 },
    { "ui.lang", CFG_STRING, "en", OFF(ui_lang),
      "Language of the program's labels in guided entry (en, nl, ...).",
      0, 0 },
    { "serve.listen", CFG_STRING, "127.0.0.1:8121", OFF(serve_listen),
      "agent serve: HOST:PORT; other than loopback needs tls_cert and "
      "tls_key.", 0, 0 },
    { "serve.tls_cert", CFG_STRING, "", OFF(serve_tls_cert),
      "agent serve: PEM certificate (chain); empty: plain HTTP (loopback "
      "only).", 0, 0 },
    { "serve.tls_key", CFG_STRING, "", OFF(serve_tls_key),
      "agent serve: PEM private key of tls_cert (mode 0600).", 0, 0 },
    { "serve.max_connections", CFG_INT, "256", OFF(serve_max_connections),
      "agent serve: most open connections at once.", 1, 4096 },
    { "bundle.key_file", CFG_STRING, "", OFF(bundle_key_file),
      "agent bundle: key file (0600) shared with the other side; encrypts "
      "bundles.", 0, 0 },
    { "bundle.signing_key", CFG_STRING, "", OFF(bundle_signing_key),
      "agent bundle: this agent's private signing key (PEM, 0600; agent "
      "bundle keygen).", 0, 0 },
    { "bundle.trusted_keys", CFG_STRING, "", OFF(bundle_trusted_keys),
      "agent bundle: public keys (PEM files, ';' between them) whose "
      "bundles are imported.", 0, 0 },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static char **str_field(struct agent_config *cfg, const struct cfg_key *k)
{
    return (char **)((char *)cfg + k->offset);
}

static const char *str_value(const struct agent_config *cfg,
                             const struct cfg_key *k)
{
    const char *v = *(char *const *)((const char *)cfg + k->offset);

    return v ? v : "";
}

static int *int_field(struct agent_config *cfg, const struct cfg_key *k)
{
    return (int *)((char *)cfg + k->offset);
}

static int int_value(const struct agent_config *cfg, const struct cfg_key *k)
{
    return *(const int *)((const char *)cfg + k->offset);
}

static int is_string_type(enum cfg_type t)
{
    return t == CFG_STRING || t == CFG_PATH;
}

static const struct cfg_key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    }
    return NULL;
}

static const char *const policy_names[] = {
    "manual", "server-wins", "device-wins" /* enum sync_policy order */
};

static int policy_parse(const char *v)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(v, policy_names[i]) == 0)
            return i;
    }
    return -1;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* sha256//<base64 of 32 bytes> = 8 + 43 characters + one '='. */
#define PIN_PREFIX "sha256//"
#define PIN_B64_LEN 44

int agent_config_pin_check(const char *value, char *why, size_t whylen)
{
    const char *p = value;
    int n = 0;

    if (!*value)
        return 0;
    for (;;) {
        size_t len = strcspn(p, ";");
        int v;

        n++;
        if (len != sizeof(PIN_PREFIX) - 1 + PIN_B64_LEN ||
            strncmp(p, PIN_PREFIX, sizeof(PIN_PREFIX) - 1) != 0)
            goto bad;
        for (int i = 0; i < PIN_B64_LEN - 1; i++) {
            if ((v = b64_value(p[sizeof(PIN_PREFIX) - 1 + (size_t)i])) < 0)
                goto bad;
        }
        /* The last data character carries 4 bits; its low 2 are zero. */
        v = b64_value(p[sizeof(PIN_PREFIX) - 1 + PIN_B64_LEN - 2]);
        if ((v & 3) != 0 || p[len - 1] != '=')
            goto bad;
        if (!p[len])
            return 0;
        p += len + 1;
    }
bad:
    snprintf(why, whylen, "key %d is not sha256//BASE64 of a 32-byte "
             "SHA-256 digest (several: separated by ';')", n);
    return -1;
}

/* The config file steers where the agent sends personal data: refuse one
 * that other users can change, warn when the group can. */
int agent_config_mode_check(const char *path, int *group_writable)
{
    unsigned mode = 0;
    int rc = plat_fs_mode(path, &mode);

    if (group_writable)
        *group_writable = 0;
    if (rc < 0)
        return rc;
    if (mode & 002)
        return plat_err_set(ERR_CONFIG, "%s can be changed by other users "
                            "(mode %04o): it can redirect the agent; run "
                            "chmod 600 %s", path, mode, path);
    if (group_writable)
        *group_writable = (mode & 020) != 0;
    return PLAT_OK;
}

/* A value for `k`, or -1 with the reason in `why` (no value is quoted for
 * string keys: a path or a user name is not for error messages). */
static int set_value(struct agent_config *cfg, const struct cfg_key *k,
                     const char *value, char *why, size_t whylen)
{
    char *copy, *end;
    long n;
    int lvl;

    switch (k->type) {
    case CFG_PATH:
        if (!*value) {
            snprintf(why, whylen, "must not be empty");
            return -1;
        }
        __attribute__((fallthrough)); /* a path is a string, checked */
    case CFG_STRING:
        if (k->offset == OFF(pinned_pubkey) &&
            agent_config_pin_check(value, why, whylen) < 0)
            return -1;
        copy = plat_strdup(value);
        if (!copy) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        plat_free(*str_field(cfg, k));
        *str_field(cfg, k) = copy;
        return 0;
    case CFG_ID:
        errno = 0;
        n = strtol(value, &end, 10);
        if (!*value || *end || errno || n <= 0 || n > INT_MAX ||
            value[0] == '+' || value[0] == ' ') {
            snprintf(why, whylen, "'%.40s' is not a positive whole number",
                     value);
            return -1;
        }
        *int_field(cfg, k) = (int)n;
        return 0;
    case CFG_SYNC:
        if (strcmp(value, "full") == 0) {
            *int_field(cfg, k) = 1;
        } else if (strcmp(value, "normal") == 0) {
            *int_field(cfg, k) = 0;
        } else {
            snprintf(why, whylen, "'%.40s' is not full or normal", value);
            return -1;
        }
        return 0;
    case CFG_LEVEL:
        lvl = plat_log_level_parse(value);
        if (lvl < 0) {
            snprintf(why, whylen,
                     "'%.40s' is not error, warn, info or debug", value);
            return -1;
        }
        *int_field(cfg, k) = lvl;
        return 0;
    case CFG_INT:
        errno = 0;
        n = strtol(value, &end, 10);
        if (!*value || *end || errno || n < k->min || n > k->max ||
            value[0] == '+' || value[0] == ' ') {
            snprintf(why, whylen, "'%.40s' is not a whole number from %ld "
                     "to %ld", value, k->min, k->max);
            return -1;
        }
        *int_field(cfg, k) = (int)n;
        return 0;
    case CFG_POLICY:
        lvl = policy_parse(value);
        if (lvl < 0) {
            snprintf(why, whylen, "'%.40s' is not manual, server-wins or "
                     "device-wins", value);
            return -1;
        }
        *int_field(cfg, k) = lvl;
        return 0;
    }
    snprintf(why, whylen, "unknown key type");
    return -1;
}

/* The config directory: root gets the system one, others their own. The
 * effective uid is asked directly since platform/ has no user API. */
static char *config_base(const char *xdg_var, const char *home_sub,
                         const char *system_dir, const char *file)
{
    const char *xdg = getenv(xdg_var);
    const char *home;

    if (geteuid() == 0)
        return plat_asprintf("%s/%s", system_dir, file);
    if (xdg && xdg[0] == '/')
        return plat_asprintf("%s/agent/%s", xdg, file);
    home = plat_fs_home();
    if (!home || !*home) {
        plat_err_set(ERR_CONFIG, "HOME is not set: cannot find the default "
                     "%s; give --config or set AGENT_CONFIG", file);
        return NULL;
    }
    return plat_asprintf("%s/%s/agent/%s", home, home_sub, file);
}

char *agent_config_default_path(void)
{
    return config_base("XDG_CONFIG_HOME", ".config", "/etc/agent",
                       "agent.conf");
}

char *agent_config_default_store(void)
{
    return config_base("XDG_DATA_HOME", ".local/share", "/var/lib/agent",
                       "agent.db");
}

int agent_config_init(struct agent_config *cfg)
{
    char why[REASON_MAX];
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];

        if (is_string_type(k->type)) {
            /* Every string field is non-NULL ("" when unset). */
            *str_field(cfg, k) = plat_strdup(k->def ? k->def : "");
            if (!*str_field(cfg, k))
                goto nomem;
        } else if (k->def && set_value(cfg, k, k->def, why, sizeof(why))) {
            return plat_err_set(ERR_GENERIC, "default of %s: %s", k->name,
                                why);
        }
    }
    {
        /* No HOME: leave store.path empty; opening the store says so. */
        char *store = agent_config_default_store();

        if (store) {
            plat_free(cfg->store_path);
            cfg->store_path = store;
        } else {
            plat_err_clear();
        }
    }
    rc = agent_sources_init(cfg);
    if (rc < 0) {
        agent_config_dispose(cfg);
        return rc == ERR_NOMEM ? plat_err_set(ERR_NOMEM, "out of memory")
                               : rc;
    }
    return PLAT_OK;
nomem:
    agent_config_dispose(cfg);
    return ERR_NOMEM;
}

void agent_config_dispose(struct agent_config *cfg)
{
    if (!cfg)
        return;
    plat_free(cfg->file);
    for (size_t i = 0; i < NKEYS; i++) {
        if (is_string_type(keys[i].type))
            plat_free(*str_field(cfg, &keys[i]));
    }
    for (size_t i = 0; i < cfg->npolicies; i++)
        plat_free(cfg->policies[i].field);
    plat_free(cfg->policies);
    agent_sources_dispose(cfg);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- parsing ---------------------------------------------------------- */

struct parse_state {
    const char *name;
    agent_config_error_cb cb;
    void *payload;
    int errors;
    char first[512];
};

static void parse_error(struct parse_state *ps, int line, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

static void parse_error(struct parse_state *ps, int line, const char *fmt,
                        ...)
{
    char msg[512];
    char detail[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(msg, sizeof(msg), "%s:%d: %s", ps->name, line, detail);
    else
        snprintf(msg, sizeof(msg), "%s: %s", ps->name, detail);
    if (ps->errors++ == 0)
        snprintf(ps->first, sizeof(ps->first), "%s", msg);
    if (ps->cb)
        ps->cb(msg, ps->payload);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Trim [*b, *e) of spaces on both ends. */
static void trim(const char **b, const char **e)
{
    while (*b < *e && is_space(**b))
        (*b)++;
    while (*e > *b && is_space((*e)[-1]))
        (*e)--;
}

static int name_ok(const char *b, const char *e)
{
    if (b == e)
        return 0;
    for (const char *p = b; p < e; p++) {
        char c = *p;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* 1 if [b, b+n) names a section of the key table. */
static int known_section(const char *b, size_t n)
{
    for (size_t i = 0; i < NKEYS; i++) {
        const char *dot = strchr(keys[i].name, '.');

        if ((size_t)(dot - keys[i].name) == n &&
            strncmp(keys[i].name, b, n) == 0)
            return 1;
    }
    return 0;
}

static int line_of_offset(const char *text, size_t off)
{
    int line = 1;

    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n')
            line++;
    }
    return line;
}

/* "FIELD = POLICY" in [conflicts]: any field name, since the program's
 * attributes are not known when the config is read. */
static void add_field_policy(struct agent_config *cfg, struct parse_state *ps,
                             int lineno, const char *kb, size_t klen,
                             const char *vb, const char *ve)
{
    char value[32];
    struct agent_policy *grown;
    int policy;

    snprintf(value, sizeof(value), "%.*s", (int)(ve - vb), vb);
    policy = (size_t)(ve - vb) < sizeof(value) ? policy_parse(value) : -1;
    if (policy < 0) {
        parse_error(ps, lineno, "bad value for 'conflicts.%.*s': '%.20s' is "
                    "not manual, server-wins or device-wins", (int)klen, kb,
                    value);
        return;
    }
    for (size_t i = 0; i < cfg->npolicies; i++) {
        if (strlen(cfg->policies[i].field) == klen &&
            strncmp(cfg->policies[i].field, kb, klen) == 0) {
            parse_error(ps, lineno, "duplicate key 'conflicts.%.*s'",
                        (int)klen, kb);
            return;
        }
    }
    grown = plat_realloc(cfg->policies,
                         (cfg->npolicies + 1) * sizeof(*grown));
    if (!grown) {
        parse_error(ps, lineno, "out of memory");
        return;
    }
    cfg->policies = grown;
    grown[cfg->npolicies].field = plat_strndup(kb, klen);
    if (!grown[cfg->npolicies].field) {
        parse_error(ps, lineno, "out of memory");
        return;
    }
    grown[cfg->npolicies++].policy = policy;
}

/* The section a line is in: its name as written, the connector section it
 * is (-1: an agent section), and whether it is the old [server]. */
struct section {
    char name[64];
    int src;
    int old_server;
};

/* Keys of the old [server] section that moved to [sync]. */
static int moved_to_sync(const char *key)
{
    return strcmp(key, "ca_file") == 0 ||
           strcmp(key, "pinned_public_key") == 0 ||
           strcmp(key, "proxy") == 0;
}

/* "key = value" in a connector's section. */
static void parse_source_key(struct agent_config *cfg, struct parse_state *ps,
                             int lineno, const struct section *sec,
                             const char *key, const char *value,
                             int seen_src[][AGENT_SOURCE_KEYS_MAX])
{
    char why[REASON_MAX];
    char valid[400];
    int k = agent_sources_key(cfg, (size_t)sec->src, key);

    if (k < 0) {
        agent_sources_key_list(cfg, (size_t)sec->src, valid, sizeof(valid));
        parse_error(ps, lineno, "unknown key '%s.%s' (valid keys in [%s]: "
                    "%s)", sec->name, key,
                    cfg->sources[sec->src].connector->name, valid);
        return;
    }
    if (seen_src[sec->src][k]) {
        parse_error(ps, lineno, "duplicate key '%s.%s' (first set on line "
                    "%d)", cfg->sources[sec->src].connector->name, key,
                    seen_src[sec->src][k]);
        return;
    }
    seen_src[sec->src][k] = lineno;
    if (agent_sources_set(cfg, (size_t)sec->src, k, value, why, sizeof(why)))
        parse_error(ps, lineno, "bad value for '%s.%s': %s", sec->name, key,
                    why);
}

/* One "key = value" line inside `sec`. */
static void parse_assignment(struct agent_config *cfg, struct parse_state *ps,
                             int lineno, const struct section *sec,
                             const char *b, const char *e, int *seen,
                             int seen_src[][AGENT_SOURCE_KEYS_MAX])
{
    const char *eq = memchr(b, '=', (size_t)(e - b));
    const char *kb = b, *ke, *vb, *ve = e;
    const char *section = sec->name;
    char full[128], key[64];
    char why[REASON_MAX];
    const struct cfg_key *k;
    char *value = NULL;
    size_t idx;

    if (!eq) {
        parse_error(ps, lineno,
                    "expected 'key = value' or '[section]' (no '=')");
        return;
    }
    ke = eq;
    vb = eq + 1;
    trim(&kb, &ke);
    trim(&vb, &ve);
    if (!name_ok(kb, ke) || ke - kb > 60) {
        parse_error(ps, lineno, "missing or malformed key before '='");
        return;
    }
    snprintf(key, sizeof(key), "%.*s", (int)(ke - kb), kb);
    value = plat_strndup(vb, (size_t)(ve - vb));
    if (!value) {
        parse_error(ps, lineno, "out of memory");
        return;
    }
    if (sec->old_server && moved_to_sync(key)) {
        section = "sync";
    } else if (sec->src >= 0) {
        parse_source_key(cfg, ps, lineno, sec, key, value, seen_src);
        plat_free(value);
        return;
    }
    if (*section)
        snprintf(full, sizeof(full), "%s.%s", section, key);
    else
        snprintf(full, sizeof(full), "%s", key);
    k = find_key(full);
    if (!k && strcmp(section, "conflicts") == 0) {
        add_field_policy(cfg, ps, lineno, kb, (size_t)(ke - kb), vb, ve);
        goto done;
    }
    if (!k) {
        parse_error(ps, lineno, "unknown key '%s'", full);
        goto done;
    }
    idx = (size_t)(k - keys);
    if (seen[idx]) {
        parse_error(ps, lineno, "duplicate key '%s' (first set on line %d)",
                    full, seen[idx]);
        goto done;
    }
    seen[idx] = lineno;
    if (set_value(cfg, k, value, why, sizeof(why)))
        parse_error(ps, lineno, "bad value for '%s': %s", full, why);
done:
    plat_free(value);
}

/* The known section names, for the message about an unknown one. */
static void section_list(const struct agent_config *cfg, char *out, size_t n)
{
    size_t used = (size_t)snprintf(out, n, "store, log, sync, conflicts, "
                                   "daemon");

    for (size_t i = 0; i < cfg->n_sources && used < n; i++)
        used += (size_t)snprintf(out + used, n - used, ", %s",
                                 cfg->sources[i].connector->name);
}

/* A "[name]" header: sets *sec, or reports an unknown section. */
static void parse_section(struct agent_config *cfg, struct parse_state *ps,
                          int lineno, const char *sb, const char *se,
                          struct section *sec)
{
    int n = se - sb > 40 ? 40 : (int)(se - sb);
    char known[256];

    snprintf(sec->name, sizeof(sec->name), "%.*s", n, sb);
    sec->src = agent_sources_find(cfg, sb, (size_t)(se - sb));
    sec->old_server = 0;
    if (sec->src < 0 && strcmp(sec->name, "server") == 0 &&
        (sec->src = agent_sources_find(cfg, "121", 3)) >= 0) {
        /* The layout before connectors: read it, say what to rename. */
        sec->old_server = 1;
        log_warn("%s: section [server] is now [121]; rename it", ps->name);
        return;
    }
    if (sec->src < 0 && !known_section(sb, (size_t)(se - sb))) {
        section_list(cfg, known, sizeof(known));
        parse_error(ps, lineno, "unknown section '[%.*s]' (known: %s)", n,
                    sb, known);
        /* Keys under it are then reported as unknown, one by one. */
    }
}

int agent_config_parse_all(struct agent_config *cfg, const char *name,
                           const char *text, agent_config_error_cb cb,
                           void *payload)
{
    struct parse_state ps = { name ? name : "config", cb, payload, 0, "" };
    int seen[NKEYS] = { 0 };
    int seen_src[SYNC_MAX_SOURCES][AGENT_SOURCE_KEYS_MAX];
    struct section sec = { "", -1, 0 };
    const char *p = text;
    int lineno = 0;
    size_t bad;

    memset(seen_src, 0, sizeof(seen_src));
    if (cfg->n_sources > SYNC_MAX_SOURCES)
        return plat_err_set(ERR_GENERIC, "more than %d connectors",
                            SYNC_MAX_SOURCES);
    if (!plat_utf8_valid(text, strlen(text), &bad)) {
        parse_error(&ps, line_of_offset(text, bad), "not valid UTF-8");
        return plat_err_set(ERR_CONFIG, "%s", ps.first);
    }
    while (*p) {
        const char *nl = strchr(p, '\n');
        const char *b = p, *e = nl ? nl : p + strlen(p);

        lineno++;
        p = nl ? nl + 1 : e;
        trim(&b, &e);
        if (b == e || *b == '#' || *b == ';')
            continue;
        if (*b == '[') {
            const char *sb = b + 1, *se = e;

            if (se[-1] != ']' || se - 1 <= sb) {
                parse_error(&ps, lineno, "malformed section header");
                sec.name[0] = '\0';
                sec.src = -1;
                sec.old_server = 0;
                continue;
            }
            se--;
            trim(&sb, &se);
            parse_section(cfg, &ps, lineno, sb, se, &sec);
            continue;
        }
        parse_assignment(cfg, &ps, lineno, &sec, b, e, seen, seen_src);
    }
    agent_sources_finish(cfg);
    if (ps.errors)
        return plat_err_set(ERR_CONFIG, "%s", ps.first);
    return PLAT_OK;
}

int agent_config_parse(struct agent_config *cfg, const char *name,
                       const char *text)
{
    return agent_config_parse_all(cfg, name, text, NULL, NULL);
}

int agent_config_load(struct agent_config *cfg, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    int rc, group_w = 0;

    rc = plat_fs_read_file(path, CONFIG_FILE_MAX, &text, &len);
    if (rc == ERR_NOTFOUND) {
        rc = plat_err_set(ERR_NOTFOUND, "no config at %s (run `agent init`)",
                          path);
        goto done;
    }
    if (rc < 0)
        goto done;
    if (strlen(text) != len) {
        rc = plat_err_set(ERR_CONFIG, "%s:%d: contains a NUL byte", path,
                          line_of_offset(text, strlen(text)));
        goto done;
    }
    if ((rc = agent_config_mode_check(path, &group_w)) < 0)
        goto done;
    if (group_w)
        log_warn("%s can be changed by its group: run chmod 600 %s", path,
                 path);
    plat_free(cfg->file);
    cfg->file = plat_strdup(path);
    if (!cfg->file) {
        rc = ERR_NOMEM;
        goto done;
    }
    rc = agent_config_parse(cfg, path, text);
done:
    plat_free(text);
    return rc;
}

/* ---- checks across keys ---------------------------------------------- */


static int trusted_key_ok(const char *path, void *unused)
{
    (void)unused;
    return store_sign_check_key(path, 0, NULL);
}

/* [bundle]: each key file that is set must load (and be private). */
static int bundle_validate(const struct agent_config *cfg, const char *f)
{
    uint8_t key[STORE_KEY_LEN];
    const char *which = NULL;
    int rc = PLAT_OK;

    if (cfg->bundle_key_file && *cfg->bundle_key_file) {
        which = "bundle.key_file";
        rc = store_keys_read_keyfile(cfg->bundle_key_file, key);
        plat_wipe(key, sizeof(key));
    }
    if (rc == PLAT_OK && cfg->bundle_signing_key &&
        *cfg->bundle_signing_key) {
        which = "bundle.signing_key";
        rc = store_sign_check_key(cfg->bundle_signing_key, 1, NULL);
    }
    if (rc == PLAT_OK && cfg->bundle_trusted_keys) {
        which = "bundle.trusted_keys";
        rc = store_sign_each_path(cfg->bundle_trusted_keys, trusted_key_ok,
                                  NULL);
    }
    if (rc < 0) {
        char why[512];

        snprintf(why, sizeof(why), "%s", plat_err_msg());
        return plat_err_set(ERR_CONFIG, "%s: %s: %s", f, which, why);
    }
    return PLAT_OK;
}

int agent_config_validate(const struct agent_config *cfg)
{
    const char *f = cfg->file ? cfg->file : "config";

    int rc;

    if (!cfg->store_path || !*cfg->store_path)
        return plat_err_set(ERR_CONFIG, "%s: store.path is not set", f);
    rc = bundle_validate(cfg, f);
    if (rc < 0)
        return rc;
    return agent_sources_validate(cfg, f);
}

void agent_config_warnings(const struct agent_config *cfg,
                           agent_config_error_cb cb, void *payload)
{
    const char *f = cfg->file ? cfg->file : "config";
    char msg[600];
    int group_w = 0;

    if (cfg->file && agent_config_mode_check(cfg->file, &group_w) == PLAT_OK
        && group_w) {
        snprintf(msg, sizeof(msg), "%s: warning: its group can change it; "
                 "run chmod 600 %s", f, f);
        cb(msg, payload);
    }
    plat_err_clear();
    if (cfg->proxy && agent_url_has_credentials(cfg->proxy)) {
        snprintf(msg, sizeof(msg), "%s: warning: sync.proxy holds "
                 "credentials; they are never printed, but keep the file "
                 "private", f);
        cb(msg, payload);
    }
    agent_sources_warnings(cfg, f, cb, payload);
}

/* ---- writing ---------------------------------------------------------- */

static int value_text(const struct agent_config *cfg, const struct cfg_key *k,
                      char *buf, size_t len)
{
    int v;

    switch (k->type) {
    case CFG_STRING:
    case CFG_PATH:
        snprintf(buf, len, "%s", str_value(cfg, k));
        return 0;
    case CFG_ID:
        v = int_value(cfg, k);
        if (v > 0)
            snprintf(buf, len, "%d", v);
        else
            buf[0] = '\0';
        return 1;
    case CFG_SYNC:
        snprintf(buf, len, "%s", int_value(cfg, k) ? "full" : "normal");
        return 0;
    case CFG_LEVEL:
        snprintf(buf, len, "%s", plat_log_level_name(int_value(cfg, k)));
        return 0;
    case CFG_INT:
        snprintf(buf, len, "%d", int_value(cfg, k));
        return 1;
    case CFG_POLICY:
        snprintf(buf, len, "%s", policy_names[int_value(cfg, k)]);
        return 0;
    }
    buf[0] = '\0';
    return 0;
}

int agent_config_foreach(const struct agent_config *cfg,
                         agent_config_key_cb cb, void *payload)
{
    char small[64], masked[1024];

    for (size_t i = 0; i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        int is_num, rc;

        if (k->offset == OFF(proxy)) {
            /* A proxy URL may carry credentials: never print them. */
            agent_mask_url(str_value(cfg, k), masked, sizeof(masked));
            rc = cb(k->name, masked, 0, payload);
        } else if (is_string_type(k->type)) {
            rc = cb(k->name, str_value(cfg, k), 0, payload);
        } else {
            is_num = value_text(cfg, k, small, sizeof(small));
            rc = cb(k->name, small, is_num, payload);
        }
        if (rc)
            return rc;
    }
    return agent_sources_foreach(cfg, cb, payload);
}

/* A value the parser would read back unchanged: one line, no surrounding
 * spaces. */
static int writable(const char *v)
{
    size_t n = strlen(v);

    if (strchr(v, '\n') || strchr(v, '\r'))
        return 0;
    return n == 0 || (!is_space(v[0]) && !is_space(v[n - 1]));
}

int agent_config_format(const struct agent_config *cfg, struct plat_buf *out)
{
    char section[16] = "";
    char small[64];
    int rc;

    rc = plat_buf_puts(out,
                       "# agent configuration (see `agent config check`).\n"
                       "# Passwords are never kept here: set "
                       "AGENT_121_PASSWORD or password_file in [121].\n");
    for (size_t i = 0; rc == PLAT_OK && i < NKEYS; i++) {
        const struct cfg_key *k = &keys[i];
        const char *dot = strchr(k->name, '.');
        const char *v;
        size_t slen = (size_t)(dot - k->name);

        if (strlen(section) != slen || strncmp(section, k->name, slen)) {
            /* The sources' sections right after [store]: they are what a
             * person edits most. */
            if (strcmp(section, "store") == 0 &&
                (rc = agent_sources_format(cfg, out)) < 0)
                break;
            snprintf(section, sizeof(section), "%.*s", (int)slen, k->name);
            rc = plat_buf_printf(out, "\n[%s]\n", section);
            if (rc < 0)
                break;
        }
        if (is_string_type(k->type)) {
            v = str_value(cfg, k);
        } else {
            value_text(cfg, k, small, sizeof(small));
            v = small;
        }
        if (!writable(v)) {
            rc = plat_err_set(ERR_INVALID, "the value of %s cannot be written "
                              "to a config file (line break or surrounding "
                              "spaces)", k->name);
            break;
        }
        /* An unset key is written commented out, so it reads back unset. */
        if (*v)
            rc = plat_buf_printf(out, "# %s\n%s = %s\n", k->desc, dot + 1,
                                 v);
        else
            rc = plat_buf_printf(out, "# %s\n# %s =\n", k->desc, dot + 1);
    }
    if (rc == PLAT_OK && cfg->npolicies)
        rc = plat_buf_puts(out, "\n[conflicts]\n");
    for (size_t i = 0; rc == PLAT_OK && i < cfg->npolicies; i++)
        rc = plat_buf_printf(out, "%s = %s\n", cfg->policies[i].field,
                             policy_names[cfg->policies[i].policy]);
    if (rc < 0)
        plat_buf_dispose(out);
    return rc;
}

/* ---- sync options ----------------------------------------------------- */

int agent_config_policy(const struct agent_config *cfg, const char *field)
{
    for (size_t i = 0; i < cfg->npolicies; i++) {
        if (strcmp(cfg->policies[i].field, field) == 0)
            return cfg->policies[i].policy;
    }
    return cfg->conflict_default;
}

static int policy_cb(void *payload, const char *field)
{
    return agent_config_policy(payload, field);
}

void agent_config_sync_options(const struct agent_config *cfg,
                               struct sync_engine_options *opt)
{
    opt->ca_file = *cfg->ca_file ? cfg->ca_file : NULL;
    opt->pinned_pubkey = *cfg->pinned_pubkey ? cfg->pinned_pubkey : NULL;
    opt->proxy = *cfg->proxy ? cfg->proxy : NULL;
    opt->connect_timeout_ms = cfg->sync_connect_timeout_ms;
    opt->deadline_ms = (int64_t)cfg->sync_deadline_s * 1000;
    opt->max_store_growth = (int64_t)cfg->sync_max_store_growth_mb << 20;
    opt->low_speed_time_s = cfg->sync_low_speed_time_s;
    opt->max_attempts = cfg->sync_max_attempts;
    opt->backoff_base_ms = cfg->sync_backoff_base_ms;
    opt->backoff_cap_ms = cfg->sync_backoff_cap_ms;
    opt->window = cfg->sync_window;
    opt->batch = cfg->sync_batch;
    opt->create_batch = cfg->sync_create_batch;
    opt->patch_max = cfg->sync_patch_max;
    opt->policy = policy_cb;
    opt->policy_payload = (void *)cfg;
}

char *agent_config_socket_path(const struct agent_config *cfg)
{
    if (cfg->daemon_socket && *cfg->daemon_socket)
        return plat_strdup(cfg->daemon_socket);
    return plat_asprintf("%s.sock", cfg->store_path ? cfg->store_path : "");
}

/* ---- password --------------------------------------------------------- */

static void wipe(char *p, size_t n)
{
    plat_wipe(p, n); /* not removable as a dead store */
}

const struct sync_source_conf *agent_config_source(
    const struct agent_config *cfg, const char *name)
{
    int i = agent_sources_find(cfg, name, strlen(name));

    return i >= 0 ? &cfg->sources[i] : NULL;
}

const char *agent_config_get(const struct agent_config *cfg,
                             const char *name, const char *key)
{
    return sync_source_conf_get(agent_config_source(cfg, name), key);
}

int agent_config_set(struct agent_config *cfg, const char *name,
                     const char *key, const char *value)
{
    int src = agent_sources_find(cfg, name, strlen(name));
    int k = src >= 0 ? agent_sources_key(cfg, (size_t)src, key) : -1;
    char why[REASON_MAX];

    if (k < 0)
        return plat_err_set(ERR_CONFIG, "no key %s.%s", name, key);
    if (agent_sources_set(cfg, (size_t)src, k, value, why, sizeof(why)))
        return plat_err_set(ERR_CONFIG, "bad value for '%s.%s': %s", name,
                            key, why);
    agent_sources_finish(cfg);
    return PLAT_OK;
}

int agent_config_secret(const struct agent_config *cfg,
                        const struct sync_source_conf *sc, const char *key,
                        char **out)
{
    const char *src = sc->connector->name;
    char var[96], fkey[64];
    const char *env, *file;
    char *text = NULL;
    size_t len = 0;
    unsigned mode = 0;
    int rc;

    (void)cfg;
    *out = NULL;
    snprintf(var, sizeof(var), "AGENT_%s_%s", src, key);
    for (char *p = var; *p; p++) {
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
        else if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    }
    env = getenv(var);
    if (env && *env) {
        *out = plat_strdup(env);
        return *out ? PLAT_OK : plat_err_set(ERR_NOMEM, "out of memory");
    }
    snprintf(fkey, sizeof(fkey), "%s_file", key);
    file = sync_source_conf_get(sc, fkey);
    if (!file || !*file)
        return plat_err_set(ERR_AUTH, "no %s %s: set %s or %s in [%s]", src,
                            key, var, fkey, src);
    if (!plat_fs_exists(file))
        return plat_err_set(ERR_CONFIG, "%s file %s does not exist", key,
                            file);
    rc = plat_fs_mode(file, &mode);
    if (rc < 0)
        return rc;
    if (mode & 077)
        return plat_err_set(ERR_CONFIG, "%s file %s can be read by "
                            "other users (mode %04o); run chmod 600 %s",
                            key, file, mode, file);
    rc = plat_fs_read_file(file, PASSWORD_FILE_MAX, &text, &len);
    if (rc < 0)
        return rc;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (len == 0 || strlen(text) != len) {
        wipe(text, len);
        plat_free(text);
        return plat_err_set(ERR_AUTH, "%s file %s is empty or holds a "
                            "NUL byte", key, file);
    }
    *out = text;
    return PLAT_OK;
}

int agent_config_password(const struct agent_config *cfg, char **out)
{
    const struct sync_source_conf *sc = agent_config_source(cfg, "121");

    *out = NULL;
    if (!sc)
        return plat_err_set(ERR_CONFIG, "no 121 connector in this build");
    return agent_config_secret(cfg, sc, "password", out);
}
