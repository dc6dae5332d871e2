/*
 * plat_utf8.h - text checks: UTF-8 validation (no overlongs, no surrogates,
 * <= U+10FFFF) and hex digits.
 */
#ifndef PLAT_UTF8_H
#define PLAT_UTF8_H

#include <stddef.h>

/* 1 if the `n` bytes at `s` are valid UTF-8 with no NUL byte, else 0.
 * `bad_offset`, if not NULL, receives the offset of the first bad byte
 * (the start of the first invalid or truncated sequence), or `n` if the
 * text is valid. */
int plat_utf8_valid(const char *s, size_t n, size_t *bad_offset);

/* The value 0-15 of hex digit `c` (either case), or -1. */
int plat_hex_digit(int c);

#endif
