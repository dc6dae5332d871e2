/* TEMPORARY (drop with agent/tmp_v2/): the old engine's 121 cycle behind a
 * header-neutral call, for registry_stub.c. */
#ifndef TMP_V2_SHIM_H
#define TMP_V2_SHIM_H

#include <stdint.h>

struct store;

struct tmp_v2_run {
    const char *url, *user, *password;
    int program_id;
    const char *ca_file, *pinned_pubkey, *proxy;
    long connect_timeout_ms, backoff_base_ms, backoff_cap_ms;
    int max_attempts, direction, full, vouchers, window, batch;
    int create_batch, patch_max;
    int (*policy)(void *payload, const char *field);
    void *policy_payload;
    void (*progress)(void *payload, const char *phase, int64_t done,
                     int64_t total, int64_t bytes_wire);
    void *progress_payload;
    volatile int *cancel;
    /* out */
    int64_t pulled, events, pushed, sent, conflicts, rejected, requests,
            bytes_wire, bytes_body, elapsed_ms;
    char error[256];
};

int tmp_v2_old_run(struct store *s, struct tmp_v2_run *r);

#endif
