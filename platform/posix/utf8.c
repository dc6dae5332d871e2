/*
 * utf8.c - strict UTF-8 validation (RFC 3629 / Unicode table 3-7).
 *
 * Text from forms and the server goes into SQLite and JSON; rejecting
 * overlong forms, surrogates and NUL bytes here means no layer above has to
 * wonder whether two spellings of a name compare equal.
 */
#include "plat_utf8.h"

/* Length of the valid sequence starting at p[0] (n > 0 bytes left), or 0
 * if it is invalid, truncated or a NUL. */
static size_t sequence_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the 2nd byte */
    size_t len;

    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0; /* below is an overlong form */
        else if (c == 0xed)
            hi = 0x9f; /* above are the surrogates D800-DFFF */
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90; /* below is an overlong form */
        else if (c == 0xf4)
            hi = 0x8f; /* above is past U+10FFFF */
    } else {
        return 0; /* stray continuation, C0/C1 overlong, F5-FF too big */
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++) {
        if (p[k] < 0x80 || p[k] > 0xbf)
            return 0;
    }
    return len;
}

int plat_utf8_valid(const char *s, size_t n, size_t *bad_offset)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        size_t len = sequence_len(p + i, n - i);

        if (len == 0)
            break;
        i += len;
    }
    if (bad_offset)
        *bad_offset = i;
    return i == n;
}

int plat_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
