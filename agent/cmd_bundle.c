/*
 * cmd_bundle.c - `agent bundle keygen|export|import`: files carried on a
 * USB stick between a site that never gets a link and the office
 * (storage/include/store_bundle.h has the format and the numbering).
 *
 * Keys, from the command line or the [bundle] section of the config:
 *   - the shared key file (--key-file, bundle.key_file): 32 random bytes
 *     (the format of `agent backup --key-file`), the same file on both
 *     sides; it encrypts the bundles;
 *   - this agent's signing key (--signing-key, bundle.signing_key): a
 *     private ECDSA P-256 key made by `agent bundle keygen` (mode 0600);
 *   - the other side's public keys (--trusted-keys, bundle.trusted_keys,
 *     ';' between files): a bundle signed by any other key is refused.
 */
#include "cli.h"
#include "cmd_util.h"
#include "output.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_secure.h"
#include "store.h"
#include "store_bundle.h"
#include "store_keys.h"
#include "store_sign.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* An option, else the config's value, else a usage error naming both. */
static int pick(const char *opt, const char *conf, const char *optname,
                const char *key, const char **out)
{
    *out = opt && *opt ? opt : conf;
    if (*out && **out)
        return PLAT_OK;
    return plat_err_set(ERR_USAGE, "no %s: give %s or set %s in the config",
                        key, optname, key);
}

static int read_key(const char *opt, const struct agent_config *cfg,
                    uint8_t key[STORE_KEY_LEN])
{
    const char *path;
    int rc = pick(opt, cfg->bundle_key_file, "--key-file",
                  "bundle.key_file", &path);

    return rc < 0 ? rc : store_keys_read_keyfile(path, key);
}

static int print_info(struct agent_ctx *ctx, const char *file,
                      const struct store_bundle_info *i, int import)
{
    cJSON *o;
    int rc;

    if (!ctx->g.json) {
        if (agent_ctx_quiet(ctx))
            return PLAT_OK;
        if (!import)
            printf("bundle %lld (since %lld) written to %s: %lld entries, "
                   "%lld registrations, %lld programs, %lld payments, "
                   "%lld done, %zu bytes\n",
                   (long long)i->seq, (long long)i->since, file,
                   (long long)i->entries, (long long)i->registrations,
                   (long long)i->programs, (long long)i->payments,
                   (long long)i->done, i->bytes);
        else if (i->repeat)
            printf("bundle %lld from device %s was imported already: "
                   "nothing to do\n", (long long)i->seq, i->exporter);
        else
            printf("bundle %lld from device %s (signed by %s) imported: "
                   "%lld entries queued, %lld here already, %lld "
                   "registrations stored, %lld entries marked done\n",
                   (long long)i->seq, i->exporter, i->signer,
                   (long long)i->applied, (long long)i->skipped,
                   (long long)i->regs_applied, (long long)i->marked_done);
        return PLAT_OK;
    }
    o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "file", file) ||
        !cJSON_AddStringToObject(o, "exporter", i->exporter) ||
        !cJSON_AddNumberToObject(o, "seq", (double)i->seq) ||
        !cJSON_AddNumberToObject(o, "since", (double)i->since) ||
        !cJSON_AddNumberToObject(o, "entries", (double)i->entries) ||
        !cJSON_AddNumberToObject(o, "registrations",
                                 (double)i->registrations) ||
        !cJSON_AddNumberToObject(o, "programs", (double)i->programs) ||
        !cJSON_AddNumberToObject(o, "done", (double)i->done) ||
        !cJSON_AddNumberToObject(o, "payments", (double)i->payments) ||
        !cJSON_AddNumberToObject(o, "bytes", (double)i->bytes) ||
        (import &&
         (!cJSON_AddStringToObject(o, "signer", i->signer) ||
          !cJSON_AddBoolToObject(o, "repeat", i->repeat) ||
          !cJSON_AddNumberToObject(o, "applied", (double)i->applied) ||
          !cJSON_AddNumberToObject(o, "skipped", (double)i->skipped) ||
          !cJSON_AddNumberToObject(o, "queued_only",
                                   (double)i->queued_only) ||
          !cJSON_AddNumberToObject(o, "registrations_stored",
                                   (double)i->regs_applied) ||
          !cJSON_AddNumberToObject(o, "marked_done",
                                   (double)i->marked_done) ||
          !cJSON_AddNumberToObject(o, "payments_stored",
                                   (double)i->payments_stored)))) {
        cJSON_Delete(o);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    rc = agent_print_json(o);
    cJSON_Delete(o);
    return rc;
}

int agent_cmd_bundle_keygen(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *pub_arg = NULL, *keyfile = NULL;
    const struct agent_opt opts[] = {
        { "--public", AGENT_OPT_STRING, &pub_arg, 0, 0 },
        { "--key-file", AGENT_OPT_STRING, &keyfile, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    char fp[STORE_SIGN_FP_HEX], **pos = NULL, *pub = NULL;
    int npos = 0, made = 0, rc;
    cJSON *o = NULL;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "FILE", &pos, &npos);
    if (rc < 0)
        return rc;
    pub = pub_arg ? plat_strdup(pub_arg) : plat_asprintf("%s.pub", pos[0]);
    if (!pub) {
        rc = ERR_NOMEM;
        goto done;
    }
    rc = store_sign_keygen(pos[0], pub, fp);
    if (rc == PLAT_OK && keyfile && !plat_fs_exists(keyfile)) {
        rc = store_keys_make_keyfile(keyfile);
        made = rc == PLAT_OK;
    }
    if (rc < 0)
        goto done;
    if (ctx->g.json) {
        o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "signing_key", pos[0]) ||
            !cJSON_AddStringToObject(o, "public_key", pub) ||
            !cJSON_AddStringToObject(o, "fingerprint", fp) ||
            !(keyfile ? cJSON_AddStringToObject(o, "key_file", keyfile)
                      : cJSON_AddNullToObject(o, "key_file")) ||
            !cJSON_AddBoolToObject(o, "key_file_made", made))
            rc = plat_err_set(ERR_NOMEM, "out of memory");
        else
            rc = agent_print_json(o);
    } else if (!agent_ctx_quiet(ctx)) {
        printf("signing key %s (keep it here, mode 0600), public key %s, "
               "fingerprint %s\n", pos[0], pub, fp);
        if (made)
            printf("shared key file %s made: copy it to the other side "
                   "(bundle.key_file there)\n", keyfile);
        printf("here:  [bundle] signing_key = %s\n"
               "there: [bundle] trusted_keys = <copy of %s>\n", pos[0], pub);
    }
done:
    cJSON_Delete(o);
    plat_free(pub);
    plat_free(pos);
    return rc;
}

int agent_cmd_bundle_export(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *keyfile = NULL, *signing = NULL, *signing_arg = NULL;
    int since = -1, server = 0, npos = 0, rc;
    const struct agent_opt opts[] = {
        { "--since", AGENT_OPT_INT, &since, 0, INT_MAX },
        { "--server", AGENT_OPT_FLAG, &server, 0, 0 },
        { "--key-file", AGENT_OPT_STRING, &keyfile, 0, 0 },
        { "--signing-key", AGENT_OPT_STRING, &signing_arg, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct store_bundle_info info;
    uint8_t key[STORE_KEY_LEN];
    char **pos = NULL;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "FILE", &pos, &npos);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_WRITE | AGENT_NEED_HEALTHY);
    if (rc == PLAT_OK)
        rc = pick(signing_arg, ctx->cfg.bundle_signing_key, "--signing-key",
                  "bundle.signing_key", &signing);
    if (rc == PLAT_OK)
        rc = read_key(keyfile, &ctx->cfg, key);
    if (rc == PLAT_OK)
        rc = store_bundle_export(ctx->store, since, server, key, signing,
                                 pos[0], &info);
    if (rc == PLAT_OK)
        rc = print_info(ctx, pos[0], &info, 0);
    plat_wipe(key, sizeof(key));
    plat_free(pos);
    return rc;
}

int agent_cmd_bundle_import(struct agent_ctx *ctx, int argc, char **argv)
{
    const char *keyfile = NULL, *trusted = NULL, *trusted_arg = NULL;
    int npos = 0, rc;
    const struct agent_opt opts[] = {
        { "--key-file", AGENT_OPT_STRING, &keyfile, 0, 0 },
        { "--trusted-keys", AGENT_OPT_STRING, &trusted_arg, 0, 0 },
        { NULL, AGENT_OPT_FLAG, NULL, 0, 0 }
    };
    struct store_bundle_info info;
    uint8_t key[STORE_KEY_LEN];
    char **pos = NULL;

    rc = agent_cmd_args(ctx, argc, argv, opts, 1, 1, "FILE", &pos, &npos);
    if (rc == PLAT_OK)
        rc = agent_ctx_open(ctx, AGENT_NEED_WRITE | AGENT_NEED_HEALTHY);
    if (rc == PLAT_OK)
        rc = pick(trusted_arg, ctx->cfg.bundle_trusted_keys,
                  "--trusted-keys", "bundle.trusted_keys", &trusted);
    if (rc == PLAT_OK)
        rc = read_key(keyfile, &ctx->cfg, key);
    if (rc == PLAT_OK)
        rc = store_bundle_import(ctx->store, pos[0], key, trusted, &info);
    if (rc == PLAT_OK)
        rc = print_info(ctx, pos[0], &info, 1);
    plat_wipe(key, sizeof(key));
    plat_free(pos);
    return rc;
}
