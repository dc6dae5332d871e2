/*
 * store_registrations.h - registrations and the local writes on them.
 *
 * Each registration keeps its server copy (the last state pulled from 121,
 * NULL for one made on this device and not yet pulled) and its local view:
 * the server copy with the pending outbox operations applied. People see
 * and search the local view.
 *
 * Every write below changes the local view AND appends its outbox entry
 * (with the base value of each field: the value the person saw before the
 * change) in ONE transaction, so a crash leaves either both or neither.
 *
 * Values are JSON (cJSON). Attribute values are strings, as 121 stores
 * them; numbers and booleans given by a caller are kept as given. Callers
 * validate input first (store_validate.h); these functions check only what
 * the store itself needs (registration exists, status transition allowed).
 *
 * Errors: ERR_NOTFOUND (no such referenceId), ERR_INVALID (bad transition,
 * missing reason: the message names both statuses), ERR_EXISTS (referenceId
 * taken), ERR_IO / ERR_CORRUPT from the database.
 */
#ifndef STORE_REGISTRATIONS_H
#define STORE_REGISTRATIONS_H

#include <stdint.h>

struct store;
struct cJSON;

#define STORE_REF_MAX 200 /* 121: referenceId is 5-200 characters */

/* Create a registration on the device. `fields` is a JSON object of
 * attributes (and programFspConfigurationName, preferredLanguage, ...). If
 * it has no "referenceId" a new UUID is made (version 7: time-ordered, so
 * that the indexes on it grow at their ends). The new referenceId is copied
 * into `ref_out` (STORE_REF_MAX + 1 bytes; may be NULL). Status starts as
 * "new".
 *
 * The local view is {referenceId, programId, status:"new", created:<now>,
 * ...fields}; the outbox entry (kind "create", base NULL) has as payload
 * the object for 121's POST body: {referenceId, ...fields}.
 * ERR_INVALID: program_id <= 0, fields not an object, a key given twice,
 * a key 121 or the store manages (status, id, programId, created, keys
 * starting with '_'), or a referenceId that is not 5-200 bytes of UTF-8 or
 * holds a space, a control character or one of $ , / \ ? # % (they break
 * 121 URLs and filters), or is "status". ERR_EXISTS: referenceId taken. */
int store_reg_create(struct store *s, int program_id,
                     const struct cJSON *fields, char *ref_out);

/* Set fields of a registration: `changes` maps field -> new value (JSON
 * null clears: the field becomes null in the local view). `reason` may be
 * NULL. One outbox "edit" entry, payload {"data":{changed fields},
 * "reason":...} and base {field: value shown before, null if absent}.
 *
 * Fields whose value does not change (compared as text, as 121 does: "4"
 * equals 4, null equals "") are left out of the entry. When NO field
 * changes, nothing is written and PLAT_OK is returned: use
 * store_reg_edit_fields to learn that (*changed_out == 0) and say "no
 * change". ERR_INVALID for status ("use `agent registrations status`"),
 * referenceId, id, programId, created, '_' keys, or a key given twice;
 * ERR_NOTFOUND for an unknown referenceId. */
int store_reg_edit(struct store *s, const char *ref,
                   const struct cJSON *changes, const char *reason);

/* store_reg_edit, reporting in *changed_out (may be NULL) how many fields
 * changed; 0 means no outbox entry was written. */
int store_reg_edit_fields(int *changed_out, struct store *s, const char *ref,
                          const struct cJSON *changes, const char *reason);

/* Change the status; checked against store_status.h (only the statuses a
 * device may request: validated, included, paused, declined, deleted).
 * One outbox "status" entry, payload {"status":TO,"reason":...}, base
 * {"status":FROM}. ERR_INVALID: unknown status, "REF is already TO", a
 * transition not allowed ("invalid status change for REF: FROM -> TO is
 * not allowed (allowed from FROM: ...)"), or no reason where 121 needs one
 * (declined, paused, deleted). Nothing is written on error. */
int store_reg_set_status(struct store *s, const char *ref,
                         const char *new_status, const char *reason);

/* The local view of one registration as a new JSON object (caller frees
 * with cJSON_Delete). Adds "_pending" (outbox entries pending or in
 * flight), "_rejected" (entries 121 refused), "_conflicts" (open
 * conflicts) and "_serverId" (the 121 id, null until pulled). */
int store_reg_get(struct store *s, const char *ref, struct cJSON **out);

/* For the puller: store the server copy of one registration (an object of
 * GET /registrations: referenceId and programId required, id optional)
 * and recompute its local view = the server copy with this registration's
 * pending and in-flight edit/status outbox entries re-applied in seq order.
 * A pending create is not re-applied: the server copy is the base once it
 * exists (marking the create done is the sync engine's job). Conflict and
 * rejected entries are not applied. Inserts the row if it is new.
 * Joins an open transaction (store_begin), so a puller can commit every N
 * rows. ERR_INVALID for a malformed object, ERR_CONFLICT if its 121 id is
 * stored under another referenceId. */
int store_reg_put_server(struct store *s, const struct cJSON *server_reg);

/* store_reg_put_server for each object of the JSON array `regs`, all in
 * one transaction (or the caller's): all are stored or none. */
int store_reg_put_server_batch(struct store *s, const struct cJSON *regs);

/* Called for each row of a list or search; `reg` is borrowed for the call.
 * Return non-zero to stop (that value is returned by the lister). */
typedef int (*store_reg_cb)(const struct cJSON *reg, void *payload);

struct store_reg_filter {
    int program_id;          /* 0: any program                            */
    const char *status;      /* NULL: any status                          */
    const char *attr_name;   /* with attr_value: exact attribute match    */
    const char *attr_value;
    int limit;               /* 0: default 50                              */
    int offset;
};

/* Registrations matching `f` (NULL: all), ordered by creation time then
 * referenceId. The attribute filter compares the local view value as text
 * ("4" matches 4, "true" matches true); attr_name is 1-100 of
 * [A-Za-z0-9_.-]. `total_out` (may be NULL) receives the number of
 * matching rows, ignoring limit and offset. */
int store_reg_list(struct store *s, const struct store_reg_filter *f,
                   store_reg_cb cb, void *payload, int64_t *total_out);

/* Registrations whose name, phone number or referenceId contains `text`
 * (case-insensitive; UTF-8). Uses the trigram index for 3+ characters;
 * shorter text scans a narrow index (like LIKE '%text%': ASCII letters
 * compared without case). `limit` 0 means 20. Not ranked: rows come
 * roughly in the order they were created. The name searched is fullName if
 * the registration has it, else 121's "name". ERR_INVALID: empty text, not
 * UTF-8, negative limit. A callback's non-zero return stops the search and
 * is returned. */
int store_reg_search(struct store *s, const char *text, int limit,
                     store_reg_cb cb, void *payload);

/* Number of registrations. */
int store_reg_count(struct store *s, int64_t *out);

#endif
