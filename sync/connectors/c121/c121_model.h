/*
 * c121_model.h - the 121 data model as pure functions over cJSON: the
 * registration status table, field typing, event application, value
 * comparison and the validation of offline input against a program
 * definition. One copy of each rule; the CLI, the store's callers and the
 * 121 connector all use these. No store, no network, no allocation beyond
 * what a function says it returns.
 *
 * Status table (contract 3.9):
 *   new       -> included, validated, declined, deleted, paused
 *   validated -> included, declined, deleted
 *   included  -> completed, paused, declined, deleted
 *   completed -> included, declined, deleted
 *   paused    -> validated, included, declined, deleted
 *   declined  -> included, deleted
 *   deleted   -> (terminal)
 * `completed` is set only by the 121 system, so the device never requests
 * it. A reason is required for declined, paused and deleted.
 *
 * Errors: PLAT_OK or ERR_INVALID with a one-line message naming the field
 * (never its value: values can be personal data); ERR_NOMEM.
 */
#ifndef C121_MODEL_H
#define C121_MODEL_H

#include <stddef.h>

struct cJSON;

/* ---- statuses ----------------------------------------------------------- */

int c121_status_known(const char *s);
int c121_status_transition_allowed(const char *from, const char *to);
/* 1 if a person on the device may request `to` (not completed, not new). */
int c121_status_settable(const char *to);
int c121_status_reason_required(const char *to);
/* Comma-separated allowed targets of `from` ("" for deleted), static. */
const char *c121_status_targets(const char *from);
/* Status of a server copy ("new" when 121 still shows null). */
const char *c121_copy_status(const struct cJSON *reg);

/* ---- values ------------------------------------------------------------- */

/* Equal as 121 compares values: as text ("4" equals 4, true equals
 * "true"), null equals "". */
int c121_same_value(const struct cJSON *a, const struct cJSON *b);

/* Text of a scalar value as 121 stores it ("" for null/absent); NULL for
 * an object or array. `buf` (at least 40 bytes) holds a formatted number. */
const char *c121_value_text(const struct cJSON *v, char *buf, size_t n);

/* 1 if `field` is a tel attribute of `program` (phoneNumber always is). */
int c121_is_tel(const struct cJSON *program, const char *field);

/* c121_same_value, except that a phone number (tel attribute) compares by
 * its digits: 121 stores "+31 6 1234" as "3161234". `program` may be NULL.
 * (The connector's same_value helper.) */
int c121_same_field(const struct cJSON *program, const char *field,
                    const struct cJSON *a, const struct cJSON *b);

/* ---- events ------------------------------------------------------------- */

/* The JSON value 121 gives `field` for an event's text `text` (NULL:
 * null): a number for its number fields (paymentAmountMultiplier,
 * maxPayments, ...) and wherever `reg` holds a number, a boolean where it
 * holds one, a string otherwise. New object (cJSON_Delete); NULL when out
 * of memory. */
struct cJSON *c121_event_value(const struct cJSON *reg, const char *field,
                               const char *text);

/* Apply one registration event to the server copy `reg` in place: set
 * `field` to `new_value` typed by c121_event_value. Status "deleted" also
 * erases the attribute values, as 121 does; maxPayments also updates
 * paymentCountRemaining. ERR_INVALID for referenceId, programId or id. */
int c121_apply_event(struct cJSON *reg, const char *field,
                     const char *new_value);

/* One event, the payload of c121_apply_event_fn. */
struct c121_event {
    const char *field;
    const char *new_value; /* NULL: null */
};

/* Edit function (sync_record_edit_fn, for sync_edit_registration) applying the
 * event `payload` (a struct c121_event *) with c121_apply_event. */
int c121_apply_event_fn(struct cJSON *reg, void *payload);

/* sync_record_edit_fn that marks a server copy deleted (payload unused). */
int c121_mark_deleted(struct cJSON *reg, void *payload);

/* ---- validation of offline input ---------------------------------------- */

#define C121_VALUE_MAX 10000 /* bytes per attribute value */

enum c121_validate_mode { C121_VALIDATE_CREATE, C121_VALIDATE_EDIT };

/* Check registration input `fields` (an object) against `program` (the
 * body of GET /programs/{id}; NULL when none is stored: only the form is
 * checked). Always: values are string, number (finite), boolean or
 * null, valid UTF-8 (a NUL in input text is found before parsing: see
 * c121_text_has_nul), at most C121_VALUE_MAX bytes, keys plausible names.
 * With a program: known attribute or registration field, required ones
 * present on create (not cleared on edit), dropdown values are option
 * keys, numeric values numbers (finite, at most 2^53 - 1 in size: 1e308 is
 * refused), preferredLanguage one of the program's languages,
 * programFspConfigurationName one of its FSP configurations (required on
 * create). Reads `program` as the store keeps it (the body of GET /programs/{id}):
 * programRegistrationAttributes (name, type, isRequired, options as
 * {"option":...} or strings), languages, programFspConfigurations and
 * fspConfigurations (name). Mode not one of the enum: ERR_INVALID. */
int c121_validate_fields(const struct cJSON *program,
                         const struct cJSON *fields, int mode);

/* 1 if the JSON text `json_text` (`len` bytes) holds a NUL byte or a
 * "\u0000" escape. cJSON ends a string at such a NUL, so the parsed value
 * no longer shows it: callers that parse input check the text first and
 * refuse it (c121_validate_fields cannot see it). */
int c121_text_has_nul(const char *json_text, size_t len);

#endif
