/*
 * cmd_backup.c - `agent backup FILE` and `agent restore FILE`
 * (storage/include/store_backup.h has the format).
 *
 * The key: with --key-file F, the 32 bytes of key file F (a recipient key:
 * the office keeps it; made here, mode 0600, when it does not exist);
 * otherwise a key derived from the store's own data key (so an encrypted
 * store's backup opens with the same passphrase or key file, on a device
 * with the same key ring). A plain store needs --key-file.
 *
 * Restore checks the whole backup (every chunk, the image, its schema)
 * and makes a verified copy beside the store before anything is replaced;
 * the copy is encrypted with the current store's key when that store is
 * encrypted. Stop the daemon first (the store lock is needed).
 */
#include "cli.h"
#include "cmd_util.h"
#include "store_key.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_lock.h"
#include "plat_secure.h"
#include "store.h"
#include "store_backup.h"
#include "store_convert.h"
#include "store_keys.h"

#include <stdio.h>
#include <string.h>

/* The backup key: the key file's bytes, or derived from the store key.
 * *data_key gets the store's data key when it is encrypted (*enc 1). */
static int backup_key(struct agent_ctx *ctx, const char *keyfile, int make,
                      uint8_t out[STORE_KEY_LEN],
                      uint8_t data_key[STORE_KEY_LEN], int *enc)
{
    int rc = agent_store_key(&ctx->cfg, data_key, enc);

    if (rc < 0)
        return rc;
    if (keyfile) {
        if (make && !plat_fs_exists(keyfile) &&
            (rc = store_keys_make_keyfile(keyfile)) < 0)
            return rc;
        return store_keys_read_keyfile(keyfile, out);
    }
    if (!*enc)
        return plat_err_set(ERR_USAGE, "store %s is not encrypted: give "
                            "--key-file FILE for the backup's key",
                            ctx->cfg.store_path);
    store_backup_derive(data_key, out);
    return PLAT_OK;
}

int agent_cmd_backup(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *keyfile = NULL;
    const struct agent_opt opts[] = {
        { "--key-file", AGENT_OPT_STRING, &keyfile, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    uint8_t key[STORE_KEY_LEN], data_key[STORE_KEY_LEN];
    char **pos = NULL;
    int npos = 0, enc = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "FILE", &pos, &npos);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_STORE | AGENT_NEED_HEALTHY);
    if (rc == PLAT_OK)
        rc = backup_key(ctx, keyfile, 1, key, data_key, &enc);
    if (rc == PLAT_OK)
        rc = store_backup_write(ctx->store, pos[0], key,
                                keyfile ? STORE_BACKUP_RECIPIENT
                                        : STORE_BACKUP_STORE_KEY);
    if (rc == PLAT_OK && !agent_ctx_quiet(ctx))
        fprintf(ctx->g.json ? stderr : stdout, "backup %s written\n",
                pos[0]);
    plat_wipe(key, sizeof(key));
    plat_wipe(data_key, sizeof(data_key));
    plat_free(pos);
    return rc;
}

int agent_cmd_restore(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *keyfile = NULL;
    const struct agent_opt opts[] = {
        { "--key-file", AGENT_OPT_STRING, &keyfile, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    uint8_t key[STORE_KEY_LEN], data_key[STORE_KEY_LEN];
    char **pos = NULL, *tmp = NULL, *lock_path = NULL;
    struct plat_lock *lock = NULL;
    int npos = 0, enc = 0, kind = 0, rc;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "FILE", &pos, &npos);
    if (rc == PLAT_OK)
        rc = store_backup_kind(pos[0], &kind);
    if (rc == PLAT_OK && kind == STORE_BACKUP_RECIPIENT && !keyfile)
        rc = plat_err_set(ERR_USAGE, "backup %s was made with a key file: "
                          "give --key-file FILE", pos[0]);
    /* The lock, not the store's health: restoring a damaged store is
     * what this is for. */
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_CONFIG);
    if (rc == PLAT_OK)
        rc = backup_key(ctx, kind == STORE_BACKUP_RECIPIENT ? keyfile : NULL,
                        0, key, data_key, &enc);
    if (rc < 0)
        goto done;
    tmp = plat_asprintf("%s.restoring", ctx->cfg.store_path);
    if (!tmp) {
        rc = ERR_NOMEM;
        goto done;
    }
    store_remove_files(tmp);
    /* The store lock (no daemon, no other writer), not the store itself:
     * restoring a damaged store is what this is for. */
    lock_path = plat_asprintf("%s.lock", ctx->cfg.store_path);
    if (!lock_path) {
        rc = ERR_NOMEM;
        goto done;
    }
    rc = plat_lock_acquire(&lock, lock_path, 5000);
    if (rc < 0) {
        lock = NULL;
        goto done;
    }
    rc = store_backup_restore(pos[0], key, tmp, enc ? data_key : NULL);
    if (rc == PLAT_OK)
        rc = store_swap_in(ctx->cfg.store_path, tmp);
    if (rc == PLAT_OK && !agent_ctx_quiet(ctx))
        fprintf(ctx->g.json ? stderr : stdout, "store %s restored from %s\n",
                ctx->cfg.store_path, pos[0]);
done:
    if (rc < 0 && tmp)
        store_remove_files(tmp);
    if (lock)
        plat_lock_release(lock);
    plat_free(lock_path);
    plat_wipe(key, sizeof(key));
    plat_wipe(data_key, sizeof(data_key));
    plat_free(tmp);
    plat_free(pos);
    return rc;
}
