/*
 * cmd_crypt.c - encryption at rest from the command line: `agent encrypt`,
 * `agent decrypt`, `agent key add|remove`, and the key ring that `agent
 * init --encrypt` makes (agent_crypt_new_ring).
 *
 * Order of steps, so that a crash at any point loses nothing: the copy is
 * made and verified first (store_convert.h); then the config (key_file),
 * then the key ring, then the atomic swap. A plain store with a key ring
 * beside it (a crash before the swap) still opens as the plain store it
 * is (store_key.c), and `agent encrypt` can be run again.
 */
#include "cli.h"
#include "cmd_util.h"
#include "store_key.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_log.h"
#include "plat_buf.h"
#include "plat_secure.h"
#include "store.h"
#include "store_convert.h"
#include "store_keys.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A new passphrase: $AGENT_STORE_NEW_PASSPHRASE, else as any passphrase
 * (environment, passphrase file, or asked twice at the terminal). */
static int new_passphrase(const struct agent_config *cfg, char **out)
{
    const char *env = getenv("AGENT_STORE_NEW_PASSPHRASE");

    if (env && *env) {
        *out = plat_strdup(env);
        return *out ? PLAT_OK : ERR_NOMEM;
    }
    return agent_passphrase(cfg, "new store passphrase", 1, out);
}

static int add_passphrase(const struct agent_config *cfg,
                          struct store_keys *ring, const uint8_t *key)
{
    char *pass = NULL;
    int rc = new_passphrase(cfg, &pass);

    if (rc == PLAT_OK)
        rc = store_keys_add_passphrase(ring, key, pass, strlen(pass));
    plat_wipe_str(pass);
    plat_free(pass);
    return rc;
}

int agent_crypt_new_ring(const struct agent_config *cfg, const char *keyfile,
                         int passphrase, struct store_keys **ring,
                         uint8_t key[STORE_KEY_LEN])
{
    int rc = store_keys_new(ring, key);

    if (rc == PLAT_OK && (passphrase || !keyfile))
        rc = add_passphrase(cfg, *ring, key);
    if (rc == PLAT_OK && keyfile)
        rc = store_keys_add_keyfile(*ring, key, keyfile);
    if (rc < 0) {
        store_keys_free(*ring);
        *ring = NULL;
        plat_wipe(key, STORE_KEY_LEN);
    }
    return rc;
}

int agent_config_store_key_file(struct agent_config *cfg, const char *keyfile)
{
    char *copy = plat_strdup(keyfile);

    if (!copy)
        return ERR_NOMEM;
    plat_free(cfg->store_key_file);
    cfg->store_key_file = copy;
    return PLAT_OK;
}

/* Write store.key_file = `keyfile` into the config file. */
static int config_key_file(struct agent_ctx *ctx, const char *keyfile)
{
    struct plat_buf text;
    int rc;

    plat_buf_init(&text, 0);
    rc = agent_config_store_key_file(&ctx->cfg, keyfile);
    if (rc == PLAT_OK)
        rc = agent_config_format(&ctx->cfg, &text);
    if (rc == PLAT_OK)
        rc = plat_fs_write_atomic(ctx->config_path, text.data, text.len,
                                  0600);
    plat_buf_dispose(&text);
    return rc;
}

static void say(struct agent_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(struct agent_ctx *ctx, const char *fmt, ...)
{
    FILE *f = ctx->g.json ? stderr : stdout;
    va_list ap;

    if (agent_ctx_quiet(ctx))
        return;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
}

/* encrypt, decrypt and key rotate: no arguments but `opts`, the store
 * lock itself (no daemon), a healthy store that is encrypted (want 1) or
 * plain (want 0). */
static int open_for_conversion(struct agent_ctx *ctx, int argc, char **argv,
                               const struct agent_opt *opts, int want,
                               char ***pos)
{
    int npos = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", pos, &npos);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_WRITE | AGENT_NEED_EXCLUSIVE |
                                     AGENT_NEED_HEALTHY);
    if (rc == PLAT_OK && store_encrypted(ctx->store) != want)
        rc = plat_err_set(ERR_INVALID, want ? "store %s is not encrypted"
                                            : "store %s is encrypted already",
                          ctx->cfg.store_path);
    return rc;
}

int agent_cmd_encrypt(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *keyfile_arg = NULL;
    int passphrase = 0, rc;
    const struct agent_opt opts[] = {
        { "--key-file", AGENT_OPT_STRING, &keyfile_arg, 0, 0 },
        { "--passphrase", AGENT_OPT_FLAG, &passphrase, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct store_keys *ring = NULL;
    uint8_t key[STORE_KEY_LEN];
    char **pos = NULL, *keyfile = NULL, *tmp = NULL;
    const char *path;

    rc = open_for_conversion(ctx, argc, argv, opts, 0, &pos);
    if (rc < 0)
        goto done;
    path = ctx->cfg.store_path;
    if (keyfile_arg && (rc = agent_absolute_path(keyfile_arg, &keyfile)) < 0)
        goto done;
    tmp = plat_asprintf("%s.encrypting", path);
    if (!tmp) {
        rc = ERR_NOMEM;
        goto done;
    }
    rc = agent_crypt_new_ring(&ctx->cfg, keyfile, passphrase, &ring, key);
    if (rc < 0)
        goto done;
    store_remove_files(tmp); /* left by an interrupted run (we hold the
                              * store lock: nobody else writes it) */
    rc = store_copy_to(ctx->store, tmp, key);
    plat_wipe(key, sizeof(key));
    if (rc < 0)
        goto done;
    store_close(ctx->store);
    ctx->store = NULL;
    if (keyfile && (rc = config_key_file(ctx, keyfile)) < 0)
        goto done;
    rc = store_keys_save(ring, path);
    if (rc == PLAT_OK)
        rc = store_swap_in(path, tmp);
    if (rc < 0)
        goto done;
    log_debug("store %s encrypted", path);
    say(ctx, "store %s is encrypted; its key ring is beside it (.keys). "
        "Without the passphrase or the key file the data is gone for good.",
        path);
done:
    if (rc < 0 && tmp)
        store_remove_files(tmp);
    store_keys_free(ring);
    plat_free(tmp);
    plat_free(keyfile);
    plat_free(pos);
    return rc;
}

int agent_cmd_decrypt(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    char **pos = NULL, *tmp = NULL, *ring = NULL;
    const char *path;
    int rc;

    rc = open_for_conversion(ctx, argc, argv, opts, 1, &pos);
    if (rc < 0)
        goto done;
    path = ctx->cfg.store_path;
    tmp = plat_asprintf("%s.decrypting", path);
    ring = store_keys_path(path);
    if (!tmp || !ring) {
        rc = ERR_NOMEM;
        goto done;
    }
    store_remove_files(tmp);
    rc = store_copy_to(ctx->store, tmp, NULL);
    if (rc < 0)
        goto done;
    store_close(ctx->store);
    ctx->store = NULL;
    rc = store_swap_in(path, tmp);
    if (rc < 0)
        goto done;
    unlink(ring);
    log_debug("store %s decrypted", path);
    say(ctx, "store %s is no longer encrypted: its personal data is readable "
        "by anyone who has the file", path);
done:
    if (rc < 0 && tmp)
        store_remove_files(tmp);
    plat_free(tmp);
    plat_free(ring);
    plat_free(pos);
    return rc;
}

/* `key add` / `key remove`: exactly one of --passphrase, --key-file. */
static int key_change(struct agent_ctx *ctx, int argc, char **argv, int add)
{
    const char *keyfile_arg = NULL;
    int passphrase = 0, keyfile_flag = 0, npos = 0, encrypted = 0, rc;
    struct agent_opt opts[] = {
        { "--passphrase", AGENT_OPT_FLAG, &passphrase, 0, 0 },
        { "--key-file", add ? AGENT_OPT_STRING : AGENT_OPT_FLAG,
          add ? (void *)&keyfile_arg : (void *)&keyfile_flag, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct store_keys *ring = NULL;
    uint8_t key[STORE_KEY_LEN];
    char **pos = NULL, *keyfile = NULL;
    int use_keyfile;

    rc = agent_cmd_args(ctx, argc, argv, opts, 0, 0, "", &pos, &npos);
    if (rc < 0)
        goto done;
    use_keyfile = keyfile_arg != NULL || keyfile_flag;
    if (passphrase == use_keyfile) {
        rc = plat_err_set(ERR_USAGE, "give one of --passphrase and "
                          "--key-file%s", add ? " FILE" : "");
        goto done;
    }
    rc = agent_ctx_open(ctx, AGENT_NEED_CONFIG);
    if (rc < 0)
        goto done;
    /* Proof that the caller holds a key: unwrap the data key. */
    rc = agent_store_key(&ctx->cfg, key, &encrypted);
    if (rc == PLAT_OK && !encrypted)
        rc = plat_err_set(ERR_INVALID, "store %s is not encrypted (`agent "
                          "encrypt` does that)", ctx->cfg.store_path);
    if (rc == PLAT_OK)
        rc = store_keys_load(ctx->cfg.store_path, &ring);
    if (rc < 0)
        goto done;
    if (!add) {
        rc = store_keys_remove(ring, use_keyfile ? STORE_WRAP_KEYFILE
                                                 : STORE_WRAP_PASSPHRASE);
    } else if (use_keyfile) {
        rc = agent_absolute_path(keyfile_arg, &keyfile);
        if (rc == PLAT_OK)
            rc = store_keys_add_keyfile(ring, key, keyfile);
        if (rc == PLAT_OK)
            rc = config_key_file(ctx, keyfile);
    } else {
        rc = add_passphrase(&ctx->cfg, ring, key);
    }
    if (rc == PLAT_OK)
        rc = store_keys_save(ring, ctx->cfg.store_path);
    if (rc == PLAT_OK)
        say(ctx, "key %s store %s", add ? "added to" : "removed from",
            ctx->cfg.store_path);
done:
    plat_wipe(key, sizeof(key));
    store_keys_free(ring);
    plat_free(keyfile);
    plat_free(pos);
    return rc;
}

int agent_cmd_key_add(struct agent_ctx *ctx, int argc, char **argv)
{
    return key_change(ctx, argc, argv, 1);
}

int agent_cmd_key_remove(struct agent_ctx *ctx, int argc, char **argv)
{
    return key_change(ctx, argc, argv, 0);
}

/* `agent key rotate`: a new data key, the store re-encrypted with it.
 * Steps: the copy under the new key (verified), the new ring as
 * "<store>.keys.next", the swap, then the ring renamed into place; an
 * open between the last two finds the store under the next ring's key
 * and finishes the rename (agent_store_open). */
int agent_cmd_key_rotate(struct agent_ctx *ctx, int argc, char **argv)
{
    const struct agent_opt opts[] = { { NULL, AGENT_OPT_FLAG, NULL, 0, 0 } };
    struct store_keys *old = NULL, *ring = NULL;
    uint8_t key[STORE_KEY_LEN];
    char **pos = NULL, *tmp = NULL, *next = NULL, *cur = NULL;
    const char *path;
    int rc;

    memset(key, 0, sizeof(key));
    rc = open_for_conversion(ctx, argc, argv, opts, 1, &pos);
    if (rc < 0)
        goto done;
    path = ctx->cfg.store_path;
    tmp = plat_asprintf("%s.rotating", path);
    next = plat_asprintf("%s.keys.next", path);
    cur = store_keys_path(path);
    if (!tmp || !next || !cur) {
        rc = ERR_NOMEM;
        goto done;
    }
    rc = store_keys_load(path, &old);
    if (rc == PLAT_OK)
        rc = store_keys_new(&ring, key);
    /* The same ways in as before: the passphrase (kept, or the new one of
     * AGENT_STORE_NEW_PASSPHRASE) and the configured key file. */
    if (rc == PLAT_OK && store_keys_has(old, STORE_WRAP_PASSPHRASE))
        rc = add_passphrase(&ctx->cfg, ring, key);
    if (rc == PLAT_OK && store_keys_has(old, STORE_WRAP_KEYFILE)) {
        if (!ctx->cfg.store_key_file || !*ctx->cfg.store_key_file)
            rc = plat_err_set(ERR_CONFIG, "store %s has a key file but "
                              "store.key_file is not set", path);
        else
            rc = store_keys_add_keyfile(ring, key, ctx->cfg.store_key_file);
    }
    if (rc < 0)
        goto done;
    store_remove_files(tmp);
    rc = store_copy_to(ctx->store, tmp, key);
    if (rc < 0)
        goto done;
    store_close(ctx->store);
    ctx->store = NULL;
    rc = store_keys_save_to(ring, next);
    if (rc == PLAT_OK)
        rc = store_swap_in(path, tmp);
    if (rc == PLAT_OK && rename(next, cur) != 0)
        rc = plat_err_set(ERR_IO, "cannot rename %s to %s", next, cur);
    if (rc == PLAT_OK)
        say(ctx, "store %s has a new key; the old one opens nothing now",
            path);
done:
    if (rc < 0 && tmp)
        store_remove_files(tmp);
    plat_wipe(key, sizeof(key));
    store_keys_free(old);
    store_keys_free(ring);
    plat_free(tmp);
    plat_free(next);
    plat_free(cur);
    plat_free(pos);
    return rc;
}
