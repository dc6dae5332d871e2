/*
 * plat_line.h - one line of text written into a fixed buffer, for messages
 * built from untrusted text (server error bodies): control characters
 * become spaces, runs of spaces collapse, and an overflow ends in "..." cut
 * at a UTF-8 character boundary. Never allocates; `out` is owned by the
 * caller and is NUL-terminated by plat_line_finish.
 */
#ifndef PLAT_LINE_H
#define PLAT_LINE_H

#include <stddef.h>

struct plat_line {
    char *out;
    size_t size;  /* of out, > 0 */
    size_t pos;
    int full;     /* something did not fit */
    int space;    /* last byte written is a space */
};

void plat_line_init(struct plat_line *l, char *out, size_t size);
void plat_line_putc(struct plat_line *l, unsigned char c);
void plat_line_putn(struct plat_line *l, const char *s, size_t n);
void plat_line_puts(struct plat_line *l, const char *s); /* NULL: nothing */
/* "; " between two messages, when something was written already. */
void plat_line_sep(struct plat_line *l);
/* Trim, mark an overflow with "...", NUL-terminate; the length. */
size_t plat_line_finish(struct plat_line *l);

#endif
