/*
 * store_validate.h - checks on registration input before it is stored.
 *
 * Always checked: the value is a string, number, boolean or null (not an
 * object or array), is valid UTF-8 without NUL, is at most
 * STORE_VALUE_MAX bytes, and the key is a plausible attribute name.
 *
 * When the program definition is stored, also: the key is a program
 * attribute or one of the registration fields 121 accepts; required
 * attributes are present on create (and not cleared on edit);
 * dropdown/multi-select values are option keys; numeric values are numbers;
 * preferredLanguage is one of the program's languages;
 * programFspConfigurationName names one of its FSP configurations (required
 * on create).
 *
 * Returns PLAT_OK, or ERR_INVALID with a one-line message naming the field
 * (never its value: values can be personal data). When no program
 * definition is stored, returns PLAT_OK and sets *no_program_out = 1 so the
 * caller can warn that the entry was only checked for form.
 */
#ifndef STORE_VALIDATE_H
#define STORE_VALIDATE_H

struct store;
struct cJSON;

#define STORE_VALUE_MAX 10000 /* bytes per attribute value */

enum store_validate_mode { STORE_VALIDATE_CREATE, STORE_VALIDATE_EDIT };

int store_validate_fields(struct store *s, int program_id,
                          const struct cJSON *fields, int mode,
                          int *no_program_out);

#endif
