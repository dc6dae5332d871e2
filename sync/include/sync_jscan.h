/*
 * sync_jscan.h - check one JSON object strictly, without building a tree,
 * and find where some of its top-level members' values are.
 *
 * A first pull receives tens of thousands of records, stores each one's
 * text as received and reads only a few members of it. Parsing each whole
 * record into a cJSON tree (an allocation per value, strtod per number)
 * was the largest single cost of the pull; this one pass over the bytes
 * answers the same question, "is this valid JSON?", for the common case.
 *
 * The check is stricter than cJSON: RFC 8259 grammar, no raw control
 * characters (below 0x20) in strings, no "\u0000" and no surrogate escape
 * (\uD800-\uDFFF: cJSON refuses a lone one, SQLite's json functions keep
 * it; the callers let cJSON decide), nesting at most SYNC_JSCAN_DEPTH, no
 * escape in a top-level key. A text it refuses may still be acceptable:
 * the caller then parses it with cJSON as before, which decides and says
 * what is wrong. So "accepted here" implies "cJSON parses it to the same
 * values", never the other way round.
 *
 * Memory: none; the spans point into the caller's text.
 */
#ifndef SYNC_JSCAN_H
#define SYNC_JSCAN_H

#include <stddef.h>

#define SYNC_JSCAN_DEPTH 64

/* A top-level member to look for: `key` is set by the caller; `val` and
 * `len` receive the exact text of its value (the first one, as cJSON's
 * look-ups find), or NULL and 0 when the object has no such member. */
struct sync_jscan_member {
    const char *key;
    const char *val;
    size_t len;
};

/* 1 when json[0..len) is exactly one JSON object (blanks around it
 * allowed) passing the check above, the members filled in; else 0 (the
 * members' values are then unspecified). */
int sync_jscan_object(const char *json, size_t len,
                      struct sync_jscan_member *members, size_t n_members);

/* How many bytes at the start of p[0..n) are string content that needs no
 * look: not '"', not '\\', not a control character. Eight bytes at a
 * time: most of a pull's bytes are inside strings. */
size_t sync_jscan_plain_run(const char *p, size_t n);

#endif
