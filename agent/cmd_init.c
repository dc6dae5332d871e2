/*
 * cmd_init.c - `agent init`: write the config file and create the store.
 *
 * The store is created first and the config written last, so a config file
 * only ever points at a store that exists. An existing store is opened, not
 * replaced: re-running init (with --force for the config) loses nothing.
 */
#include "cli.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_lock.h"
#include "plat_log.h"
#include "plat_secure.h"
#include "store.h"
#include "store_convert.h"
#include "store_keys.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define INIT_LOCK_WAIT_MS 5000

/* The store path as written to the config: absolute, since the config is
 * read later from other working directories. */
static int check_url(const char *url)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return plat_err_set(ERR_USAGE, "--server must start with http:// or "
                            "https://");
    if (strpbrk(url, " \t\r\n"))
        return plat_err_set(ERR_USAGE, "--server must not contain spaces");
    return PLAT_OK;
}

/* mkdir -p the directory of `path` (0700: it holds personal data). */
static int make_parent(const char *path)
{
    char *dir = plat_fs_dirname(path);
    int rc;

    if (!dir)
        return ERR_NOMEM;
    rc = plat_fs_mkdir_p(dir, 0700);
    plat_free(dir);
    return rc;
}

/* What --encrypt asked for. */
struct init_crypt {
    int on;
    const char *keyfile;  /* absolute, or NULL */
    int passphrase;
};

/* A new encrypted store: its key ring first (a store is never there
 * without the ring that opens it), then the store. */
static int create_encrypted(const struct agent_config *cfg,
                            const struct init_crypt *ic, struct store **st)
{
    struct store_options opt = {STORE_CREATE, 1, 0, 0};
    struct store_keys *ring = NULL;
    uint8_t key[STORE_KEY_LEN];
    int rc;

    if (plat_fs_exists(cfg->store_path))
        return plat_err_set(ERR_EXISTS, "store %s exists already: `agent "
                            "encrypt` encrypts it", cfg->store_path);
    opt.synchronous_full = cfg->store_sync_full;
    rc = agent_crypt_new_ring(cfg, ic->keyfile, ic->passphrase, &ring, key);
    if (rc == PLAT_OK)
        rc = store_keys_save(ring, cfg->store_path);
    if (rc == PLAT_OK) {
        rc = store_open_key(st, cfg->store_path, &opt, key);
        if (rc < 0) {
            char *kp = store_keys_path(cfg->store_path);
            store_remove_files(cfg->store_path);
            if (kp)
                unlink(kp);
            plat_free(kp);
        }
    }
    plat_wipe(key, sizeof(key));
    store_keys_free(ring);
    return rc;
}

/* Create (or open) the store and report its schema version. */
static int create_store(const struct agent_config *cfg,
                        const struct init_crypt *ic, int *version_out)
{
    struct plat_lock *lock = NULL;
    struct store *st = NULL;
    char *lock_path = NULL;
    int rc;

    rc = make_parent(cfg->store_path);
    if (rc < 0)
        goto done;
    lock_path = plat_asprintf("%s.lock", cfg->store_path);
    if (!lock_path) {
        rc = ERR_NOMEM;
        goto done;
    }
    /* A daemon may already use an existing store: do not migrate it under
     * its feet. */
    rc = plat_lock_acquire(&lock, lock_path, INIT_LOCK_WAIT_MS);
    if (rc < 0) {
        lock = NULL;
        goto done;
    }
    if (ic->on)
        rc = create_encrypted(cfg, ic, &st);
    else
        rc = agent_store_open(cfg, STORE_CREATE, &st);
    if (rc < 0)
        goto done;
    *version_out = store_version(st);
done:
    if (st)
        store_close(st);
    if (lock)
        plat_lock_release(lock);
    plat_free(lock_path);
    return rc;
}

int agent_cmd_init(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *server = NULL, *user = NULL, *store = NULL;
    int program = 0, force = 0, npos = 0, version = 0, rc;
    struct init_crypt ic = {0, NULL, 0};
    const char *keyfile = NULL;
    char *keyfile_abs = NULL;
    char program_text[16];
    const struct agent_opt opts[] = {
        { "--server", AGENT_OPT_STRING, &server, 0, 0 },
        { "--program", AGENT_OPT_INT, &program, 1, INT_MAX },
        { "--user", AGENT_OPT_STRING, &user, 0, 0 },
        { "--store", AGENT_OPT_STRING, &store, 0, 0 },
        { "--force", AGENT_OPT_FLAG, &force, 0, 0 },
        { "--encrypt", AGENT_OPT_FLAG, &ic.on, 0, 0 },
        { "--key-file", AGENT_OPT_STRING, &keyfile, 0, 0 },
        { "--passphrase", AGENT_OPT_FLAG, &ic.passphrase, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct agent_config *cfg = &ctx->cfg;
    struct plat_buf text;
    char **pos = NULL;
    cJSON *out = NULL;

    plat_buf_init(&text, 0);
    pos = plat_calloc((size_t)argc + 1, sizeof(*pos));
    if (!pos)
        return ERR_NOMEM;
    rc = agent_cli_parse_opts(ctx->cmd_name, argc, argv, opts, pos, &npos);
    if (rc < 0)
        goto done;
    if (npos > 0) {
        rc = plat_err_set(ERR_USAGE, "init takes no arguments, only options "
                          "(a password is never given here)");
        goto done;
    }
    if (!server || !program || !user) {
        rc = plat_err_set(ERR_USAGE, "init needs %s",
                          !server ? "--server URL" :
                          !program ? "--program ID" : "--user NAME");
        goto done;
    }
    rc = check_url(server);
    if (rc < 0)
        goto done;
    if (!*user || strpbrk(user, "\r\n")) {
        rc = plat_err_set(ERR_USAGE, "--user must be one non-empty line");
        goto done;
    }
    if (store && !*store) {
        rc = plat_err_set(ERR_USAGE, "--store needs a path");
        goto done;
    }
    if ((keyfile || ic.passphrase) && !ic.on) {
        rc = plat_err_set(ERR_USAGE, "--key-file and --passphrase go with "
                          "--encrypt");
        goto done;
    }
    if (keyfile) {
        rc = agent_absolute_path(keyfile, &keyfile_abs);
        if (rc < 0 ||
            (rc = agent_config_store_key_file(cfg, keyfile_abs)) < 0)
            goto done;
        ic.keyfile = keyfile_abs;
    }
    if (plat_fs_exists(ctx->config_path) && !force) {
        rc = plat_err_set(ERR_EXISTS, "config %s already exists (use --force "
                          "to overwrite it)", ctx->config_path);
        goto done;
    }
    snprintf(program_text, sizeof(program_text), "%d", program);
    if ((rc = agent_config_set(cfg, "121", "url", server)) < 0 ||
        (rc = agent_config_set(cfg, "121", "program_id", program_text)) < 0 ||
        (rc = agent_config_set(cfg, "121", "user", user)) < 0)
        goto done;
    if (store) {
        char *abs = NULL;

        rc = agent_absolute_path(store, &abs);
        if (rc < 0)
            goto done;
        plat_free(cfg->store_path);
        cfg->store_path = abs;
    } else if (!*cfg->store_path) {
        rc = plat_err_set(ERR_CONFIG, "no default store path (HOME is not "
                          "set); give --store PATH");
        goto done;
    }
    /* Format before touching the disk so a value that cannot be written
     * fails with nothing created. */
    rc = agent_config_format(cfg, &text);
    if (rc < 0)
        goto done;
    rc = create_store(cfg, &ic, &version);
    if (rc < 0)
        goto done;
    rc = make_parent(ctx->config_path);
    if (rc < 0)
        goto done;
    rc = plat_fs_write_atomic(ctx->config_path, text.data, text.len, 0600);
    if (rc < 0)
        goto done;
    log_debug("wrote %s; store %s at schema version %d", ctx->config_path,
              cfg->store_path, version);
    if (ctx->g.json) {
        out = cJSON_CreateObject();
        if (!out || !cJSON_AddStringToObject(out, "config", ctx->config_path) ||
            !cJSON_AddStringToObject(out, "store", cfg->store_path)) {
            rc = plat_err_set(ERR_NOMEM, "out of memory");
            goto done;
        }
        rc = agent_print_json(out);
    } else {
        printf("wrote config %s\n", ctx->config_path);
        printf("store %s ready (schema version %d)\n", cfg->store_path,
               version);
    }
    if (!agent_ctx_quiet(ctx))
        fprintf(ctx->g.json ? stderr : stdout,
                "The 121 password is not stored by init: set "
                "AGENT_121_PASSWORD, or add\n"
                "password_file = FILE (a file of mode 0600) to the [121] "
                "section of %s.\n", ctx->config_path);
    if (ic.on && !agent_ctx_quiet(ctx))
        fprintf(ctx->g.json ? stderr : stdout,
                "The store is encrypted. Keep the %s safe: without it the "
                "data in the store is gone for good.\n",
                ic.keyfile ? "key file" : "passphrase");
done:
    plat_free(keyfile_abs);
    cJSON_Delete(out);
    plat_buf_dispose(&text);
    plat_free(pos);
    return rc;
}
