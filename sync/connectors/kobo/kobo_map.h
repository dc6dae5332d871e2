/*
 * kobo_map.h - pure helpers of the Kobo connector: the mapping file, a
 * submission turned into 121 fields with kobo-connect's semantics, the
 * referenceId of a submission, the mapping checked against a form and a
 * program, and the request paths. No network, no store, no printing:
 * unit-tested in tests/unit/test_kobo_map.c.
 *
 * Mapping file: a JSON object {"<kobo question>": "<121 attribute>", ...},
 * the pairs kobo-connect takes as REST Service headers. Questions match
 * submission keys case-insensitively after the group prefix is stripped
 * ("hh/Full_Name" matches "full_name"); a question given with a group path
 * in the file is stripped the same way. Attributes keep their case.
 * Targets with kobo-connect's rules:
 *   maxPayments, paymentAmountMultiplier, inclusionScore  integer (JSON number)
 *   scope                    lower-cased, accents stripped (Latin-1/-A)
 *   fspName, programFinancialServiceProviderConfigurationName
 *                            renamed to programFspConfigurationName
 *   programId                the answer is the 121 program id of the
 *                            submission (kobo-connect's programid question)
 *   referenceId              the form is a validation form (kobo-connect's
 *                            /kobo-update-121): the answer names an existing
 *                            registration, whose fields the other answers
 *                            edit; a `skipvalidation` answer "1" keeps its
 *                            status (kobo_validation_ref)
 * Everything else is copied as the text Kobo gives (select_multiple stays
 * space-separated, select_one is the choice name). A media answer that
 * names an attachment of the submission becomes the attachment's
 * download_url (what kobo-connect sends). A submission whose `skipconnect`
 * answer is "1" is skipped.
 *
 * Messages name the question and the attribute, never a value.
 * Errors: ERR_INVALID (bad answer / bad mapping, `why` set), ERR_NOMEM.
 */
#ifndef KOBO_MAP_H
#define KOBO_MAP_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define KOBO_SKIP 1          /* kobo_map_submission: skipconnect = "1" */
#define KOBO_WHY_MAX 256

enum kobo_target_kind {
    KOBO_T_TEXT = 0,
    KOBO_T_INT,              /* maxPayments, paymentAmountMultiplier, ...  */
    KOBO_T_SCOPE,
    KOBO_T_PROGRAM,          /* programId: the submission's program        */
    KOBO_T_REFID             /* referenceId: the validation flow's target  */
};

struct kobo_map_entry {
    char *question;          /* as in the file                             */
    char *key;               /* lower-cased, group prefix stripped         */
    char *attr;              /* 121 attribute (after the fspName rename)   */
    int kind;                /* enum kobo_target_kind                       */
    int line;                /* line of the key in the file (0: unknown)   */
};

struct kobo_mapping {
    struct kobo_map_entry *v;
    size_t n;
    char *file;              /* for messages                               */
};

/* Parse mapping text (`file` names it in messages: "file:line: ...").
 * ERR_INVALID: not a JSON object, a non-string or empty value, an empty
 * question, a question given twice (case-insensitively). */
int kobo_mapping_parse(const char *text, size_t len, const char *file,
                       struct kobo_mapping **out, char *why, size_t n);
void kobo_mapping_free(struct kobo_mapping *m);

/* "hh/Full_Name" -> "full_name" into out (n bytes, truncated). */
void kobo_clean_key(const char *key, char *out, size_t n);

/* "Ésta Ciudad" -> "esta ciudad" (UTF-8 Latin-1 and Latin Extended-A
 * letters folded to ASCII; other bytes kept, ASCII lower-cased). */
void kobo_fold_scope(const char *in, char *out, size_t n);

/* The referenceId of a submission: meta/rootUuid without "uuid:" (stable
 * across edits; equals the first _uuid, so a submission kobo-connect sent
 * unedited keeps its referenceId), else "kobo-<asset>-<_id>" (legacy data
 * without rootUuid). ERR_INVALID when neither is usable. */
int kobo_reference_id(const struct cJSON *sub, const char *asset, char *out,
                      size_t n);

/* _id of a submission (ERR_INVALID when missing or not a positive
 * integer). */
int kobo_submission_id(const struct cJSON *sub, int64_t *out);

/* Map one submission: *fields_out = {attr: value, ...} (new object).
 * `program` (may be NULL) is the stored 121 program: then a dropdown
 * answer must be one of its options, a numeric attribute a number, and
 * every isRequired attribute present (one not in the mapping at all is
 * left to 121). `fsp_default` (may be NULL) fills
 * programFspConfigurationName when no question gives it. *program_id_out
 * (may be NULL): the programId answer, or 0. Returns PLAT_OK, KOBO_SKIP
 * (skipconnect), or ERR_INVALID with `why` = "question Q, attribute A:
 * <what is wrong>". */
int kobo_map_submission(const struct kobo_mapping *m, const struct cJSON *sub,
                        const struct cJSON *program, const char *fsp_default,
                        struct cJSON **fields_out, int *program_id_out,
                        char *why, size_t n);

/* Drop from submission `sub` every key the import does not read (kept:
 * _id, _uuid, meta/rootUuid, _attachments, skipconnect and the mapped
 * questions), so that a page held in memory stays small. */
void kobo_prune(const struct kobo_mapping *m, struct cJSON *sub);

/* For a validation form (a question mapped to referenceId): 1 with the
 * answered referenceId in `out` ("" when unanswered) and *skip_out = 1
 * when the `skipvalidation` answer is "1"; 0 for an ordinary form. */
int kobo_validation_ref(const struct kobo_mapping *m, const struct cJSON *sub,
                        char *out, size_t n, int *skip_out);

/* A 121 program built from a form definition (the asset JSON), as
 * kobo-connect's /121-program does: setup questions (titlePortal,
 * description, location, ngo, startDate, endDate, currency, validation,
 * budget, maxPayments, distributionFrequency, distributionDuration,
 * fixedTransferValue, targetNrRegistrations, language(s)) give the
 * program's fields from their `default`; every other answerable question
 * (outside repeat groups; not media, calculate, hidden, note or meta)
 * becomes a programRegistrationAttribute: integer/decimal/range ->
 * numeric, select_one -> dropdown with its choices (label in the form's
 * first language), tel -> tel, anything else -> text; the tag "dedupe" ->
 * duplicateCheck; required -> isRequired. Labels are keyed by the
 * language code in "(xx)" of each translation ("en" when untranslated).
 * *out is a new object. ERR_INVALID (`why`): no content.survey. */
int kobo_program_from_form(const struct cJSON *asset, struct cJSON **out,
                           char *why, size_t n);

/* Check a mapping against the stored form (the asset JSON, content.survey;
 * may be NULL: not checked) and the 121 program (may be NULL): unknown
 * question, unknown attribute, a question type that cannot give the
 * attribute's type. Every problem is one line "file:line: key 'Q': ..."
 * appended to `out` (n bytes); returns the number of problems. */
int kobo_mapping_check(const struct kobo_mapping *m, const struct cJSON *asset,
                       const struct cJSON *program, char *out, size_t n);

/* Changes between what was imported last (`old`, may be NULL) and `now`:
 * *changes_out {attr: new} and *base_out {attr: old value or null} for
 * every attribute that differs (as text; one gone from `now` becomes
 * null). Both NULL when nothing changed. programId is never an edit. */
int kobo_diff(const struct cJSON *old, const struct cJSON *now,
              struct cJSON **changes_out, struct cJSON **base_out);

/* Request paths (query values escaped): a page of the data endpoint after
 * _id `after` in _id order, `limit` rows; `fields` 1 = the cheap edit scan
 * (_id, _uuid, meta/rootUuid, _validation_status); `in_ids`/`n_in` instead
 * of `after`: those _ids. *out allocated (plat_free). */
int kobo_data_path(const char *asset, int64_t after, const int64_t *in_ids,
                   size_t n_in, int limit, int fields, char **out);

#endif
