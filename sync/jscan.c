/*
 * jscan.c - a strict one-pass JSON object check that finds some top-level
 * members (see sync_jscan.h). Recursive descent over the bytes; each
 * function returns the position after what it read, or NULL when the text
 * is not (strictly) valid there.
 */
#include "sync_jscan.h"
#include "plat_utf8.h"

#include <stdint.h>
#include <string.h>

struct scan {
    const char *end;
    struct sync_jscan_member *m;
    size_t n;
};

static const char *value(struct scan *s, const char *p, int depth);

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

size_t sync_jscan_plain_run(const char *p, size_t n)
{
    size_t i = 0;

    for (;;) {
        /* Whole words with none of the bytes: "has a zero byte" tests
         * (x - 0x01..) & ~x & 0x80.. on w ^ '"', w ^ '\\' and, for
         * bytes below 0x20, w - 0x20..; they may flag a word that has
         * none (a borrow), never miss one: the byte loop decides. */
        while (i + 8 <= n) {
            uint64_t w, q, b;

            memcpy(&w, p + i, 8);
            q = w ^ (ONES * '"');
            b = w ^ (ONES * '\\');
            if ((((q - ONES) & ~q) | ((b - ONES) & ~b) |
                 ((w - ONES * 0x20) & ~w)) & HIGHS)
                break;
            i += 8;
        }
        for (size_t stop = i + 8 < n ? i + 8 : n; i < stop; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == '"' || p[i] == '\\')
                return i;
        if (i >= n)
            return n;
    }
}

static const char *blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* A string starting at the '"' at p; *escaped set when it holds any. */
static const char *string(const char *p, const char *end, int *escaped)
{
    p++;
    for (;;) {
        /* The common bytes in a tight loop. */
        p += sync_jscan_plain_run(p, (size_t)(end - p));
        if (p >= end || *p != '\\')
            return p < end && *p == '"' ? p + 1 : NULL;
        *escaped = 1;
        if (++p >= end)
            return NULL;
        if (*p == 'u') {
            unsigned v = 0;

            if (end - p < 5)
                return NULL;
            for (int i = 1; i <= 4; i++) {
                int h = plat_hex_digit(p[i]);

                if (h < 0)
                    return NULL;
                v = v << 4 | (unsigned)h;
            }
            /* NUL cuts cJSON's copy short; surrogates: cJSON decides. */
            if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
                return NULL;
            p += 5;
        } else if (*p && strchr("\"\\/bfnrt", *p)) {
            p++;
        } else {
            return NULL;
        }
    }
}

static const char *digits(const char *p, const char *end)
{
    if (p >= end || *p < '0' || *p > '9')
        return NULL;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static const char *number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (!(p = digits(p, end)))
        return NULL;
    if (p < end && *p == '.' && !(p = digits(p + 1, end)))
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!(p = digits(p, end)))
            return NULL;
    }
    return p;
}

static const char *literal(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);

    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* Note the value span of a wanted top-level key (first one wins). */
static void note(struct scan *s, const char *key, size_t key_len,
                 const char *val, const char *val_end)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->m[i].val && strlen(s->m[i].key) == key_len &&
            memcmp(s->m[i].key, key, key_len) == 0) {
            s->m[i].val = val;
            s->m[i].len = (size_t)(val_end - val);
            return;
        }
}

static const char *object(struct scan *s, const char *p, int depth)
{
    const char *end = s->end;

    p = blanks(p + 1, end);
    if (p < end && *p == '}')
        return p + 1;
    for (;;) {
        const char *key, *val;
        size_t key_len;
        int escaped = 0;

        if (p >= end || *p != '"')
            return NULL;
        key = p + 1;
        if (!(p = string(p, end, &escaped)))
            return NULL;
        key_len = (size_t)(p - 1 - key);
        /* A top-level key is matched as written: an escaped one may
         * decode to a wanted name, so let cJSON look. */
        if (depth == 1 && escaped)
            return NULL;
        p = blanks(p, end);
        if (p >= end || *p != ':')
            return NULL;
        val = blanks(p + 1, end);
        if (!(p = value(s, val, depth)))
            return NULL;
        if (depth == 1)
            note(s, key, key_len, val, p);
        p = blanks(p, end);
        if (p < end && *p == '}')
            return p + 1;
        if (p >= end || *p != ',')
            return NULL;
        p = blanks(p + 1, end);
    }
}

static const char *array(struct scan *s, const char *p, int depth)
{
    const char *end = s->end;

    p = blanks(p + 1, end);
    if (p < end && *p == ']')
        return p + 1;
    for (;;) {
        if (!(p = value(s, p, depth)))
            return NULL;
        p = blanks(p, end);
        if (p < end && *p == ']')
            return p + 1;
        if (p >= end || *p != ',')
            return NULL;
        p = blanks(p + 1, end);
    }
}

/* A value at p (no blanks before it) inside `depth` containers. */
static const char *value(struct scan *s, const char *p, int depth)
{
    const char *end = s->end;
    int escaped = 0;

    if (p >= end)
        return NULL;
    switch (*p) {
    case '"':
        return string(p, end, &escaped);
    case '{':
        return depth < SYNC_JSCAN_DEPTH ? object(s, p, depth + 1) : NULL;
    case '[':
        return depth < SYNC_JSCAN_DEPTH ? array(s, p, depth + 1) : NULL;
    case 't':
        return literal(p, end, "true");
    case 'f':
        return literal(p, end, "false");
    case 'n':
        return literal(p, end, "null");
    default:
        return number(p, end);
    }
}

int sync_jscan_object(const char *json, size_t len,
                      struct sync_jscan_member *members, size_t n_members)
{
    struct scan s = {json + len, members, n_members};
    const char *p;

    for (size_t i = 0; i < n_members; i++) {
        members[i].val = NULL;
        members[i].len = 0;
    }
    p = blanks(json, s.end);
    if (p >= s.end || *p != '{' || !(p = object(&s, p, 1)))
        return 0;
    return blanks(p, s.end) == s.end;
}
