/*
 * store_key.h - where the CLI and the daemon get the key of an encrypted
 * store (storage/include/store_keys.h has the key ring itself).
 *
 * A store is encrypted when "<store>.keys" exists beside it. Its data key
 * is unwrapped, in this order, with:
 *   1. the key file named by store.key_file, else by $AGENT_STORE_KEY_FILE
 *      (the daemon's way: a Pi that boots unattended), if set;
 *   2. the passphrase from $AGENT_STORE_PASSPHRASE, else from the file
 *      named by store.passphrase_file (mode 0600 or 0400), else typed at a
 *      prompt on the terminal (/dev/tty, echo off). Never from argv.
 * Errors: ERR_AUTH (no key available, wrong passphrase or key file: exit
 * 5, nothing touched), ERR_CONFIG (a passphrase file others can read),
 * ERR_CORRUPT (a damaged key ring), ERR_NOMEM. Key buffers are the
 * caller's: plat_wipe them. A passphrase string (*out) is the caller's:
 * plat_wipe_str and plat_free it.
 */
#ifndef AGENT_STORE_KEY_H
#define AGENT_STORE_KEY_H

#include "store_crypt.h"

#include <stddef.h>
#include <stdint.h>

struct agent_config;

/* *encrypted 0: a plain store (no key ring; `key` untouched). */
int agent_store_key(const struct agent_config *cfg,
                    uint8_t key[STORE_KEY_LEN], int *encrypted);

/* `agent key rotate` stopped after swapping in the store re-encrypted
 * with the new key but before renaming "<store>.keys.next" to
 * "<store>.keys": the data key of the next ring (ERR_NOTFOUND: none). */
int agent_store_key_next(const struct agent_config *cfg,
                         uint8_t key[STORE_KEY_LEN]);

/* The passphrase from the environment, the passphrase file or the
 * terminal; `confirm` asks twice at a prompt (a new passphrase). `what`
 * names it in the prompt ("store passphrase"). */
int agent_passphrase(const struct agent_config *cfg, const char *what,
                     int confirm, char **out);

#endif
