/*
 * store_key.c - the key of an encrypted store, from a key file, the
 * environment, a passphrase file or a prompt (contract in store_key.h).
 */
#include "store_key.h"

#include "config.h"
#include "store_keys.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_log.h"
#include "plat_secure.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define PASS_MAX 1024

/* Read one line from the terminal with echo off. ERR_AUTH when there is
 * no terminal. */
static int prompt(const char *text, char **out)
{
    struct termios old, quiet;
    char buf[PASS_MAX];
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY), echo_off = 0;
    ssize_t n = 0, r;
    char c;

    *out = NULL;
    if (fd < 0)
        return ERR_AUTH;
    if (write(fd, text, strlen(text)) < 0) {
        close(fd);
        return ERR_AUTH;
    }
    if (tcgetattr(fd, &old) == 0) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
    }
    while ((r = read(fd, &c, 1)) == 1 && c != '\n')
        if (n < (ssize_t)sizeof(buf) - 1)
            buf[n++] = c;
    buf[n] = '\0';
    if (echo_off)
        tcsetattr(fd, TCSAFLUSH, &old);
    /* The newline the hidden input did not echo. */
    if (write(fd, "\n", 1) < 0)
        echo_off = 0;
    close(fd);
    *out = plat_strdup(buf);
    plat_wipe(buf, sizeof(buf));
    return *out ? PLAT_OK : ERR_NOMEM;
}

static int from_file(const char *file, char **out)
{
    unsigned mode = 0;
    size_t len = 0;
    int rc;

    rc = plat_fs_mode(file, &mode);
    if (rc < 0)
        return rc == ERR_NOTFOUND
                   ? plat_err_set(ERR_CONFIG, "passphrase file %s does not "
                                  "exist", file)
                   : rc;
    if (mode & 077)
        return plat_err_set(ERR_CONFIG, "passphrase file %s can be read by "
                            "other users (mode %04o); run chmod 600 %s",
                            file, mode, file);
    rc = plat_fs_read_file(file, PASS_MAX, out, &len);
    if (rc < 0)
        return rc;
    while (len > 0 && ((*out)[len - 1] == '\n' || (*out)[len - 1] == '\r'))
        (*out)[--len] = '\0';
    return PLAT_OK;
}

int agent_passphrase(const struct agent_config *cfg, const char *what,
                     int confirm, char **out)
{
    const char *env = getenv("AGENT_STORE_PASSPHRASE");
    char text[128], *again = NULL;
    int rc;

    *out = NULL;
    if (env && *env) {
        *out = plat_strdup(env);
        return *out ? PLAT_OK : ERR_NOMEM;
    }
    if (cfg && cfg->store_passphrase_file && *cfg->store_passphrase_file)
        rc = from_file(cfg->store_passphrase_file, out);
    else {
        snprintf(text, sizeof(text), "%s: ", what);
        rc = prompt(text, out);
        if (rc == PLAT_OK && confirm) {
            snprintf(text, sizeof(text), "%s (again): ", what);
            rc = prompt(text, &again);
            if (rc == PLAT_OK && strcmp(*out, again) != 0)
                rc = plat_err_set(ERR_AUTH, "the two passphrases differ");
            plat_wipe_str(again);
            plat_free(again);
        } else if (rc == ERR_AUTH) {
            rc = plat_err_set(ERR_AUTH, "no %s: set AGENT_STORE_PASSPHRASE, "
                              "store.passphrase_file or store.key_file, or "
                              "run on a terminal", what);
        }
    }
    if (rc == PLAT_OK && !**out)
        rc = plat_err_set(ERR_AUTH, "the %s is empty", what);
    if (rc < 0) {
        plat_wipe_str(*out);
        plat_free(*out);
        *out = NULL;
    }
    return rc;
}

static int unlock(const struct agent_config *cfg,
                  const struct store_keys *ring, uint8_t key[STORE_KEY_LEN]);

int agent_store_key(const struct agent_config *cfg,
                    uint8_t key[STORE_KEY_LEN], int *encrypted)
{
    struct store_keys *ring = NULL;
    int rc;

    *encrypted = 0;
    rc = store_keys_load(cfg->store_path, &ring);
    if (rc == ERR_NOTFOUND) {
        plat_err_clear();
        /* A test binary's stores (store_crypt_set_test_key: the default
         * VFS encrypts with the test key) have no ring. */
        if (store_crypt_file_kind(cfg->store_path) == STORE_FILE_ENCRYPTED &&
            !store_crypt_test_instance())
            return plat_err_set(ERR_AUTH, "store %s is encrypted but its key "
                                "ring %s.keys is missing (put it back beside "
                                "the store)", cfg->store_path,
                                cfg->store_path);
        return PLAT_OK;
    }
    if (rc < 0)
        return rc;
    if (store_crypt_file_kind(cfg->store_path) == STORE_FILE_PLAIN) {
        /* `agent encrypt` stopped between writing the ring and the swap:
         * the store is still the plain one. */
        log_warn("store %s is not encrypted but has a key ring beside it "
                 "(an interrupted `agent encrypt`?); opening it as it is",
                 cfg->store_path);
        store_keys_free(ring);
        return PLAT_OK;
    }
    *encrypted = 1;
    rc = unlock(cfg, ring, key);
    store_keys_free(ring);
    return rc;
}

int agent_store_key_next(const struct agent_config *cfg,
                         uint8_t key[STORE_KEY_LEN])
{
    struct store_keys *ring = NULL;
    char *next = plat_asprintf("%s.keys.next", cfg->store_path);
    int rc;

    if (!next)
        return ERR_NOMEM;
    rc = plat_fs_exists(next) ? store_keys_load_from(next, &ring)
                              : ERR_NOTFOUND;
    plat_free(next);
    if (rc < 0)
        return rc;
    rc = unlock(cfg, ring, key);
    store_keys_free(ring);
    return rc;
}

/* The data key of `ring`, from the key file or the passphrase. */
static int unlock(const struct agent_config *cfg,
                  const struct store_keys *ring, uint8_t key[STORE_KEY_LEN])
{
    char *pass = NULL;
    int rc;

    const char *keyfile = cfg->store_key_file && *cfg->store_key_file
                              ? cfg->store_key_file
                              : getenv("AGENT_STORE_KEY_FILE");

    if (keyfile && *keyfile && store_keys_has(ring, STORE_WRAP_KEYFILE)) {
        rc = store_keys_unlock_keyfile(ring, keyfile, key);
    } else {
        rc = agent_passphrase(cfg, "store passphrase", 0, &pass);
        if (rc == PLAT_OK)
            rc = store_keys_unlock_passphrase(ring, pass, strlen(pass), key);
        if (rc == ERR_NOTFOUND)
            rc = plat_err_set(ERR_AUTH, "store %s opens with a key file: set "
                              "store.key_file", cfg->store_path);
    }
    if (rc == ERR_AUTH && !strstr(plat_err_msg(), cfg->store_path)) {
        char why[512];

        snprintf(why, sizeof(why), "%s", plat_err_msg());
        rc = plat_err_set(ERR_AUTH, "store %s: %s", cfg->store_path, why);
    }
    plat_wipe_str(pass);
    plat_free(pass);
    return rc;
}
