/*
 * kobo_program.h - what `agent kobo program ASSET --create` asks 121 for:
 * the program built from the form (kobo_program_from_form) checked
 * against what POST /api/programs and POST .../fsp-configurations accept
 * (121-api.md sections 2 and 7), so that a form 121 would refuse is
 * refused offline with one line. Pure: no network, no store.
 *
 * The plan is {"program": <CreateProgramDto>, "fspConfigurations":
 * [{"name", "label", "fspName", "properties": []}, ...]}:
 *   - the FSPs are the choices of the form's FSP question (a select_one
 *     named fsp, fspName or programFspConfigurationName, as kobo-connect
 *     and 121's Kobo import read it); that question answers
 *     programFspConfigurationName, so it is not a program attribute. Each
 *     choice name must be a 121 FSP name (contract 7); its label becomes
 *     the configuration's label. FSP credentials (properties) are not in a
 *     form: they are set in the 121 portal afterwards;
 *   - 121 requires titlePortal (with "en") and currency (ISO 4217, three
 *     capital letters): from the setup questions' defaults (titlePortal
 *     defaults to the form's name);
 *   - attribute names must be unique and usable as 121 keys (letters,
 *     digits, '_', '-'), dropdowns need choices;
 *   - `marker` (the request key) is appended to description.en, so the
 *     program can be recognised after a lost answer.
 * Messages name the question or the choice, never an answer.
 */
#ifndef KOBO_PROGRAM_H
#define KOBO_PROGRAM_H

#include <stddef.h>

struct cJSON;

/* The plan for form `asset` (the stored asset JSON) in *out (new).
 * ERR_INVALID with `why` (one line) when 121 would refuse it. */
int kobo_program_plan(const struct cJSON *asset, const char *marker,
                      struct cJSON **out, char *why, size_t n);

#endif
