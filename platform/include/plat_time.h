/*
 * plat_time.h - clocks.
 *
 * Wall time is for records (what a person or the server reads); monotonic
 * time is for scheduling and measuring, since the wall clock of a field
 * device can jump when it finds a network.
 */
#ifndef PLAT_TIME_H
#define PLAT_TIME_H

#include <stddef.h>
#include <stdint.h>

#define PLAT_ISO_LEN 25 /* "2026-11-28T03:17:33.123Z" + NUL */

int64_t plat_time_wall_ms(void); /* milliseconds since the Unix epoch */
int64_t plat_time_mono_ms(void); /* milliseconds, monotonic, arbitrary zero */
int64_t plat_time_mono_us(void); /* microseconds, monotonic */

/* Format epoch milliseconds as UTC ISO-8601 with milliseconds and 'Z' into
 * `out` (at least PLAT_ISO_LEN bytes). */
void plat_time_iso(int64_t epoch_ms, char *out);

/* Parse "YYYY-MM-DDTHH:MM:SS[.mmm]Z" (as 121 writes it) into epoch ms.
 * Returns ERR_INVALID for anything else. */
int plat_time_parse_iso(const char *s, int64_t *out);

/* Sleep for `ms` milliseconds (restarted on EINTR). */
void plat_time_sleep_ms(int64_t ms);

#endif
