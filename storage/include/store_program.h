/*
 * store_program.h - program definitions as pulled from 121 (GET
 * /api/programs/{id}): attributes, languages and FSP configurations, used to
 * validate offline entries; message templates.
 */
#ifndef STORE_PROGRAM_H
#define STORE_PROGRAM_H

struct store;
struct cJSON;

/* Store (replace) the program described by `program` (the JSON body of GET
 * /api/programs/{id}; must have a numeric "id"). Attributes, languages and
 * FSP configurations are replaced in one transaction. `etag` may be NULL.
 * ERR_INVALID names the missing or mistyped field. */
int store_program_put(struct store *s, const struct cJSON *program,
                      const char *etag);

/* The stored program JSON as a new object (caller frees). ERR_NOTFOUND if
 * none is stored. `etag_out` may be NULL; else allocated or NULL. */
int store_program_get(struct store *s, int program_id, struct cJSON **out,
                      char **etag_out);

/* Replace the message templates of a program (a JSON array). */
int store_program_put_templates(struct store *s, int program_id,
                                const struct cJSON *templates);

#endif
