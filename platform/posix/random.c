/*
 * random.c - random bytes and v4 UUIDs from mbedTLS CTR-DRBG.
 *
 * The generator is seeded from the OS entropy source on first use. A child
 * of fork() would otherwise continue the parent's DRBG state and produce
 * the same "random" UUIDs, so the generator is rebuilt when the pid
 * changes. The daemon draws from it on two threads (scheduling jitter on
 * the main thread, UUIDs and backoff jitter on the sync worker), so every
 * use of the generator holds one mutex.
 */
#include "plat_random.h"
#include "plat_err.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char personalization[] = "agent-121 plat_random";

static struct {
    int ready;
    pid_t pid;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} rng;

static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;

static void cleanup_locked(void)
{
    if (!rng.ready)
        return;
    mbedtls_ctr_drbg_free(&rng.drbg);
    mbedtls_entropy_free(&rng.entropy);
    rng.ready = 0;
}

void plat_random_cleanup(void)
{
    pthread_mutex_lock(&rng_lock);
    cleanup_locked();
    pthread_mutex_unlock(&rng_lock);
}

static int rng_ensure(void)
{
    int ret;

    if (rng.ready && rng.pid == getpid())
        return PLAT_OK;
    cleanup_locked();
    mbedtls_entropy_init(&rng.entropy);
    mbedtls_ctr_drbg_init(&rng.drbg);
    ret = mbedtls_ctr_drbg_seed(&rng.drbg, mbedtls_entropy_func, &rng.entropy,
                                (const unsigned char *)personalization,
                                sizeof(personalization) - 1);
    if (ret != 0) {
        mbedtls_ctr_drbg_free(&rng.drbg);
        mbedtls_entropy_free(&rng.entropy);
        return plat_err_set(ERR_GENERIC,
                            "cannot seed the random generator (mbedtls "
                            "-0x%04x)", (unsigned)-ret);
    }
    rng.pid = getpid();
    rng.ready = 1;
    return PLAT_OK;
}

static int random_bytes_locked(unsigned char *p, size_t n)
{
    int rc = rng_ensure();

    if (rc < 0)
        return rc;
    /* CTR-DRBG hands out at most MBEDTLS_CTR_DRBG_MAX_REQUEST per call. */
    while (n > 0) {
        size_t chunk = n < MBEDTLS_CTR_DRBG_MAX_REQUEST
                           ? n : MBEDTLS_CTR_DRBG_MAX_REQUEST;
        int ret = mbedtls_ctr_drbg_random(&rng.drbg, p, chunk);

        if (ret != 0)
            return plat_err_set(ERR_GENERIC,
                                "random generator failed (mbedtls -0x%04x)",
                                (unsigned)-ret);
        p += chunk;
        n -= chunk;
    }
    return PLAT_OK;
}

int plat_random_bytes(void *out, size_t n)
{
    int rc;

    pthread_mutex_lock(&rng_lock);
    rc = random_bytes_locked(out, n);
    pthread_mutex_unlock(&rng_lock);
    return rc;
}

int plat_random_uuid(char out[PLAT_UUID_LEN])
{
    unsigned char b[16];
    int rc = plat_random_bytes(b, sizeof(b));

    if (rc < 0) {
        out[0] = '\0';
        return rc;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, PLAT_UUID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
             b[10], b[11], b[12], b[13], b[14], b[15]);
    return PLAT_OK;
}

uint64_t plat_random_below(uint64_t bound)
{
    uint64_t limit, v;

    if (bound <= 1)
        return 0;
    /* Reject the top partial range so every residue is equally likely:
     * limit is the largest multiple of bound, minus one. */
    limit = UINT64_MAX - (UINT64_MAX % bound + 1) % bound;
    do {
        if (plat_random_bytes(&v, sizeof(v)) < 0)
            return 0; /* only used for jitter: 0 is a safe answer */
    } while (v > limit);
    return v % bound;
}
