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
 * them; numbers and booleans given by a caller are kept as given. The
 * store holds no rules of any system: callers validate input against the
 * program first (c121_validate_fields, status transitions with
 * c121_status_*); these functions check only what the store itself needs
 * (registration exists, keys it manages, referenceId usable).
 *
 * Each outbox entry carries its origin (the system the change came from:
 * "device" for the writes below without _from) and its target (the system
 * it is for: "121" unless given).
 *
 * Errors: ERR_NOTFOUND (no such referenceId), ERR_INVALID (bad input: the
 * message names the field or status, never a value), ERR_EXISTS
 * (referenceId taken), ERR_IO / ERR_CORRUPT from the database.
 */
#ifndef STORE_REGISTRATIONS_H
#define STORE_REGISTRATIONS_H

#include <stddef.h>
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

/* store_reg_create for a change pulled from another system: the outbox
 * entry gets origin `origin` ("kobo", "espocrm", "file", ...) and target
 * `target` (the system to send it to, e.g. "121"). Both are 1-32 of
 * [a-z0-9_.-] and differ (ERR_INVALID). store_reg_create is
 * store_reg_create_from(..., "device", "121"). */
int store_reg_create_from(struct store *s, int program_id,
                          const struct cJSON *fields, char *ref_out,
                          const char *origin, const char *target);

/* Set fields of a registration: `changes` maps field -> new value (JSON
 * null clears: the field becomes null in the local view). `reason` may be
 * NULL. One outbox "edit" entry, payload {"data":{changed fields},
 * "reason":...} and base {field: value shown before, null if absent}.
 *
 * Fields whose value does not change are left out of the entry. The
 * comparison is generic (JSON scalars as text: "4" equals 4; null equals
 * ""; a boolean equals only a boolean) and knows no system's rules (no
 * phone-number forms): a caller that does leaves such fields out first. When NO field
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

/* store_reg_edit_fields for a change pulled from another system, queued
 * with origin `origin` for `target` (as store_reg_create_from). */
int store_reg_edit_from(int *changed_out, struct store *s, const char *ref,
                        const struct cJSON *changes, const char *reason,
                        const char *origin, const char *target);

/* store_reg_edit_from with the base value of each field given by the
 * caller: base[field] when `base` (an object, may be NULL) has it, else
 * the local view's value. For a change pulled from another system whose
 * base is what that system showed before (so that the three-way check
 * against the target sees a field changed on both sides). */
int store_reg_edit_from_base(int *changed_out, struct store *s,
                             const char *ref, const struct cJSON *changes,
                             const struct cJSON *base, const char *reason,
                             const char *origin, const char *target);

/* Change the status. The store does not know the 121 status table: the
 * caller checks the transition and the reason first (c121_status_known,
 * c121_status_transition_allowed, c121_status_settable,
 * c121_status_reason_required). One outbox "status" entry (origin
 * "device", target "121"), payload {"status":TO,"reason":...}, base
 * {"status":FROM} (FROM is "new" while the status is null). ERR_INVALID:
 * no status or longer than 32 bytes, or "REF is already TO". Nothing is
 * written on error. */
int store_reg_set_status(struct store *s, const char *ref,
                         const char *new_status, const char *reason);

/* store_reg_set_status for a change pulled from another system, queued
 * with origin `origin` for `target` (as store_reg_create_from). */
int store_reg_set_status_from(struct store *s, const char *ref,
                              const char *new_status, const char *reason,
                              const char *origin, const char *target);

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

/* store_reg_put_server with `text` (len bytes, no NUL), the JSON text of
 * the record, stored as the server copy as received instead of printing
 * `server_reg` again (a first pull's main CPU cost after parsing). text
 * NULL: print server_reg. With text, server_reg may hold only the members
 * the store reads from it - referenceId, programId, id, created, status,
 * fullName, name, phoneNumber, with the values they have in `text` - so a
 * puller need not keep or re-parse whole records: a local view that needs
 * the whole record (pending entries to re-apply) is parsed from `text`. */
int store_reg_put_server_text(struct store *s, const struct cJSON *server_reg,
                              const char *text, size_t len);

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
 * compared without case), and so does any text while the index waits for
 * its rebuild (store_search.h). `limit` 0 means 20. Not ranked: rows come
 * roughly in the order they were created. The name searched is fullName if
 * the registration has it, else 121's "name". ERR_INVALID: empty text, not
 * UTF-8, negative limit. A callback's non-zero return stops the search and
 * is returned. */
int store_reg_search(struct store *s, const char *text, int limit,
                     store_reg_cb cb, void *payload);

/* Number of registrations. */
int store_reg_count(struct store *s, int64_t *out);

#endif
