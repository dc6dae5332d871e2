/*
 * store_status.c - the 121 status transition table (contract 3.9), as
 * data, so the checks and the "allowed from X" messages cannot disagree.
 */
#include "store_status.h"

#include <stddef.h>
#include <string.h>

struct status_row {
    const char *from;
    const char *targets; /* comma-separated, as shown to people */
};

static const struct status_row table[] = {
    {"new", "included, validated, declined, deleted, paused"},
    {"validated", "included, declined, deleted"},
    {"included", "completed, paused, declined, deleted"},
    {"completed", "included, declined, deleted"},
    {"paused", "validated, included, declined, deleted"},
    {"declined", "included, deleted"},
    {"deleted", ""},
};

static const struct status_row *find(const char *s)
{
    size_t i;

    if (!s)
        return NULL;
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].from, s) == 0)
            return &table[i];
    return NULL;
}

int store_status_known(const char *s)
{
    return find(s) != NULL;
}

/* 1 if `word` is one of the ", "-separated words of `list`. */
static int in_list(const char *list, const char *word)
{
    size_t n = strlen(word);
    const char *p = list;

    while (*p) {
        if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return 1;
        p = strchr(p, ',');
        if (!p)
            break;
        p += 2; /* ", " */
    }
    return 0;
}

int store_status_transition_allowed(const char *from, const char *to)
{
    const struct status_row *r = find(from);

    if (!r || !find(to))
        return 0;
    return in_list(r->targets, to);
}

int store_status_settable(const char *to)
{
    static const char *const settable[] = {"validated", "included", "paused",
                                           "declined", "deleted"};
    size_t i;

    if (!to)
        return 0;
    for (i = 0; i < sizeof(settable) / sizeof(settable[0]); i++)
        if (strcmp(settable[i], to) == 0)
            return 1;
    return 0;
}

int store_status_reason_required(const char *to)
{
    return to && (strcmp(to, "declined") == 0 || strcmp(to, "paused") == 0 ||
                  strcmp(to, "deleted") == 0);
}

const char *store_status_targets(const char *from)
{
    const struct status_row *r = find(from);

    return r ? r->targets : "";
}
