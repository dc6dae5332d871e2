/*
 * output.h - what commands print: aligned text tables and key/value lines
 * for people, JSON for scripts (--json).
 *
 * Text output is made safe for a terminal: control characters in stored
 * values (line breaks, escape sequences) are shown as spaces, and table
 * cells are cut to a fixed width so one long value cannot wreck a table.
 */
#ifndef AGENT_OUTPUT_H
#define AGENT_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cJSON;

#define AGENT_CELL_MAX 40 /* characters shown per table cell */

/* A table built row by row and printed with aligned columns. The caller
 * owns the struct; the table owns copies of the cells. */
struct agent_table {
    int ncols;
    const char *const *headers; /* borrowed, ncols entries */
    char **cells;               /* nrows * ncols, owned    */
    size_t nrows, alloc;
};

void agent_table_init(struct agent_table *t, int ncols,
                      const char *const *headers);
void agent_table_dispose(struct agent_table *t);

/* Append a row of ncols cells (NULL prints as empty); they are copied,
 * cleaned and cut to AGENT_CELL_MAX characters. */
int agent_table_add(struct agent_table *t, const char *const *cells);

/* Print the header and the rows, columns separated by two spaces. */
void agent_table_print(const struct agent_table *t, FILE *f);

/* One "key   value" line, key padded to `width`, value cleaned (not cut). */
void agent_print_kv(FILE *f, int width, const char *key, const char *value);

/* `v` as text for people: a string as is, null as "", anything else as
 * compact JSON. Allocated (plat_free); NULL on failure. */
char *agent_json_text(const struct cJSON *v);

/* Add `item` to `obj` under `key`, taking ownership either way: on
 * failure (NULL item, or no memory for the key) the item is freed, so
 * `if (agent_json_put(o, "k", make()) < 0) goto fail;` never leaks.
 * Returns PLAT_OK or ERR_NOMEM. */
int agent_json_put(struct cJSON *obj, const char *key, struct cJSON *item);

/* Print `v` as indented JSON and a newline on stdout. */
int agent_print_json(const struct cJSON *v);

/* Parse stored JSON text (e.g. an outbox payload) into a new tree, or a
 * JSON null for NULL text; text that does not parse is kept as a string
 * so that nothing is hidden. NULL only when out of memory. */
struct cJSON *agent_json_from_text(const char *text);

/* "3 minutes ago", "in 2 hours", "just now" for the ISO-8601 time `iso`
 * seen at wall time `now_ms`; "" when `iso` does not parse. */
void agent_time_ago(const char *iso, int64_t now_ms, char *out, size_t n);

/* A time as people read it: on a terminal (`tty`) "ISO (3 minutes ago)",
 * else the ISO time alone (scripts parse it); NULL/"" gives `none`. */
void agent_time_text(const char *iso, int tty, const char *none, char *out,
                     size_t n);

#endif
