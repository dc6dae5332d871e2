/*
 * time.c - wall and monotonic clocks, ISO-8601 in the form 121 writes.
 *
 * Wall time is only formatted and parsed in UTC, so the device's time zone
 * setting never leaks into records.
 */
#include "plat_time.h"
#include "plat_err.h"

#include <errno.h>
#include <string.h>
#include <time.h>

int64_t plat_time_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t plat_time_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t plat_time_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Write `v` (0 <= v < 10^width) as `width` digits, zero-padded. */
static char *put_digits(char *p, int v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

void plat_time_iso(int64_t epoch_ms, char *out)
{
    int64_t sec = epoch_ms / 1000;
    int ms = (int)(epoch_ms % 1000);
    time_t t;
    struct tm tm;
    char *p = out;

    /* C division truncates toward zero; times before 1970 still need a
     * millisecond part in 0..999. */
    if (ms < 0) {
        ms += 1000;
        sec--;
    }
    t = (time_t)sec;
    if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 ||
        tm.tm_year > 9999 - 1900) {
        /* Outside four-digit years: write the epoch, never garbage. */
        memcpy(out, "1970-01-01T00:00:00.000Z", PLAT_ISO_LEN);
        return;
    }
    p = put_digits(p, tm.tm_year + 1900, 4);
    *p++ = '-';
    p = put_digits(p, tm.tm_mon + 1, 2);
    *p++ = '-';
    p = put_digits(p, tm.tm_mday, 2);
    *p++ = 'T';
    p = put_digits(p, tm.tm_hour, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_min, 2);
    *p++ = ':';
    p = put_digits(p, tm.tm_sec, 2);
    *p++ = '.';
    p = put_digits(p, ms, 3);
    *p++ = 'Z';
    *p = '\0';
}

/* Read exactly `n` decimal digits at *p, advancing it; -1 if not digits. */
static int take_digits(const char **p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    return v;
}

static int take_char(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

static int days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

/* Fill `tm` and `ms` from the strict form; -1 on any deviation. */
static int parse_fields(const char *p, struct tm *tm, int *ms)
{
    int year, mon, day, hour, min, sec;

    year = take_digits(&p, 4);
    if (year < 0 || take_char(&p, '-') < 0)
        return -1;
    mon = take_digits(&p, 2);
    if (mon < 1 || mon > 12 || take_char(&p, '-') < 0)
        return -1;
    day = take_digits(&p, 2);
    if (day < 1 || day > days_in_month(year, mon) || take_char(&p, 'T') < 0)
        return -1;
    hour = take_digits(&p, 2);
    if (hour < 0 || hour > 23 || take_char(&p, ':') < 0)
        return -1;
    min = take_digits(&p, 2);
    if (min < 0 || min > 59 || take_char(&p, ':') < 0)
        return -1;
    /* No leap seconds: 121 (JavaScript Date) never writes :60. */
    sec = take_digits(&p, 2);
    if (sec < 0 || sec > 59)
        return -1;
    *ms = 0;
    if (*p == '.') {
        p++;
        *ms = take_digits(&p, 3);
        if (*ms < 0)
            return -1;
    }
    if (take_char(&p, 'Z') < 0 || *p != '\0')
        return -1;

    memset(tm, 0, sizeof(*tm));
    tm->tm_year = year - 1900;
    tm->tm_mon = mon - 1;
    tm->tm_mday = day;
    tm->tm_hour = hour;
    tm->tm_min = min;
    tm->tm_sec = sec;
    return 0;
}

int plat_time_parse_iso(const char *s, int64_t *out)
{
    struct tm tm;
    int ms;

    if (!s || parse_fields(s, &tm, &ms) < 0)
        return plat_err_set(ERR_INVALID,
                            "timestamp is not YYYY-MM-DDTHH:MM:SS[.mmm]Z");
    *out = (int64_t)timegm(&tm) * 1000 + ms;
    return PLAT_OK;
}

void plat_time_sleep_ms(int64_t ms)
{
    struct timespec req, rem;

    if (ms <= 0)
        return;
    req.tv_sec = (time_t)(ms / 1000);
    req.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
}
