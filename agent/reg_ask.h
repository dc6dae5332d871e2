/*
 * reg_ask.h - guided registration entry on a terminal (`agent
 * registrations add --interactive`, `edit REF --interactive`).
 *
 * Asks for each attribute of the stored program in its order (then the
 * preferred language and the FSP configuration), with its label in the
 * chosen language, a '*' on required ones, dropdown options as a numbered
 * list, and checks each answer as the non-interactive path does
 * (c121_validate_fields, so a phone number is checked as 121 checks it): a
 * wrong answer is asked again. A summary is shown and must be confirmed.
 * Nothing is written here: the caller stores the answers in one
 * transaction, so Ctrl-C or end of input at any point leaves nothing
 * half written.
 *
 * Answers are strings (as KEY=VALUE arguments give them); an empty answer
 * is no value. Reads lines from `in`, prompts on `out`.
 *
 * Errors: ERR_GENERIC "cancelled: nothing was stored" (no confirmation,
 * end of input), ERR_NOMEM, ERR_IO.
 */
#ifndef AGENT_REG_ASK_H
#define AGENT_REG_ASK_H

#include <stdio.h>

struct cJSON;

/* Ask for a registration of `program` (GET /programs/{id} body). With
 * `current` (a registration) the current values are the defaults and *out
 * holds only the fields that changed (possibly none); without it *out
 * holds every answered field. `lang`: label language ("en" when NULL or
 * missing from a label). *out is new (cJSON_Delete). */
int agent_reg_ask(FILE *in, FILE *out, const struct cJSON *program,
                  const char *lang, const struct cJSON *current,
                  struct cJSON **result);

#endif
