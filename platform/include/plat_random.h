/*
 * plat_random.h - random bytes and UUIDs from mbedTLS CTR-DRBG, seeded from
 * the OS entropy source. The generator is created on first use and
 * reseeded after a fork (the pid is checked).
 */
#ifndef PLAT_RANDOM_H
#define PLAT_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#define PLAT_UUID_LEN 37 /* 36 characters + NUL */

int plat_random_bytes(void *out, size_t n);

/* A random (version 4) UUID in lower-case text form into `out`. */
int plat_random_uuid(char out[PLAT_UUID_LEN]);

/* A uniformly random integer in [0, bound) (bound > 0), for jitter. */
uint64_t plat_random_below(uint64_t bound);

/* Free the generator (at exit, so leak checkers stay quiet). */
void plat_random_cleanup(void);

#endif
