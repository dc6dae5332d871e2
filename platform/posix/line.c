/*
 * line.c - one line of text in a fixed buffer (plat_line.h).
 */
#include "plat_line.h"

#include <string.h>

void plat_line_init(struct plat_line *l, char *out, size_t size)
{
    memset(l, 0, sizeof(*l));
    l->out = out;
    l->size = size;
}

void plat_line_putc(struct plat_line *l, unsigned char c)
{
    if (c < 0x20 || c == 0x7f)
        c = ' ';
    if (c == ' ' && (l->space || l->pos == 0))
        return;
    if (l->pos + 1 >= l->size) {
        l->full = 1;
        return;
    }
    l->out[l->pos++] = (char)c;
    l->space = c == ' ';
}

void plat_line_putn(struct plat_line *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n && !l->full; i++)
        plat_line_putc(l, (unsigned char)s[i]);
}

void plat_line_puts(struct plat_line *l, const char *s)
{
    if (s)
        plat_line_putn(l, s, strlen(s));
}

size_t plat_line_finish(struct plat_line *l)
{
    while (l->pos > 0 && l->out[l->pos - 1] == ' ')
        l->pos--;
    if (l->full) {
        size_t keep = l->size > 4 ? l->size - 4 : 0;
        if (l->pos > keep)
            l->pos = keep;
        /* Step back over UTF-8 continuation bytes and the lead byte of a
         * character that was cut. */
        if (l->pos > 0 && l->pos < l->size - 1 &&
            ((unsigned char)l->out[l->pos] & 0xC0) == 0x80) {
            while (l->pos > 0 &&
                   ((unsigned char)l->out[l->pos] & 0xC0) == 0x80)
                l->pos--;
        }
        if (l->size > 4) {
            memcpy(l->out + l->pos, "...", 3);
            l->pos += 3;
        }
    }
    l->out[l->pos] = '\0';
    return l->pos;
}

/* Separator between two messages, if something was written. */
void plat_line_sep(struct plat_line *l)
{
    if (l->pos > 0)
        plat_line_puts(l, "; ");
}
