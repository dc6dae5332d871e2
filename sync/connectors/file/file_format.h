/*
 * file_format.h - the pure helpers of the file connector: no I/O, no
 * store, no printing (tests call them directly).
 *
 * Wire format (see README.md): JSON lines, one object per line, UTF-8.
 *   in/  *.jsonl : one registration per line, 121's shape
 *                  {"referenceId":..., "programId":..., "status":..., ...}
 *   out/ *.jsonl : one outbox operation per line
 *                  {"seq":N, "device":..., "kind":..., "referenceId":...,
 *                   "payload":{...}, "base":{...}|null}
 *
 * Errors: ERR_INVALID with a one-line message "<file>:<line>: <reason>"
 * that names the field at fault, never a value; ERR_NOMEM.
 */
#ifndef FILE_FORMAT_H
#define FILE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define FILE_REF_MAX 200            /* 121: referenceId is at most 200 bytes */

/* Parse one line (`len` bytes, without its '\n'; a trailing '\r' is
 * ignored) of import file `file` at line number `lineno` into a new
 * registration object (*out, caller frees with cJSON_Delete).
 *   - a blank line: PLAT_OK with *out NULL (nothing to import);
 *   - not UTF-8, not JSON, not an object, referenceId missing / not a
 *     string / empty / over FILE_REF_MAX bytes / holding a control
 *     character, programId not a positive integer or not `program_id`,
 *     status not a string, id not a positive integer: ERR_INVALID.
 * A missing programId is filled in with `program_id` (ERR_INVALID when
 * that is <= 0 too). */
int file_parse_line(const char *line, size_t len, int program_id,
                    const char *file, int64_t lineno, struct cJSON **out);

/* 1 when `rec` (a parsed line) is a deletion mark: status "deleted". */
int file_is_deletion(const struct cJSON *rec);

/* Format one outbox operation as a line (new allocation, ends with '\n',
 * caller frees with plat_free). `device` may be NULL (no "device" key);
 * `payload` and `base` may be NULL (JSON null). */
int file_format_op(int64_t seq, const char *device, const char *kind,
                   const char *ref, const struct cJSON *payload,
                   const struct cJSON *base, char **out);

/* The "seq" of an export line (`len` bytes), or -1 when the line is not
 * an object with an integer seq. */
int64_t file_line_seq(const char *line, size_t len);

/* 1 when `name` is an import file name: ends in ".jsonl", does not start
 * with '.', holds no '/' and no control character, at most 200 bytes. */
int file_name_ok(const char *name);

/* FNV-1a 64 of `n` bytes, continuing from `h` (start with
 * FILE_HASH_INIT). */
#define FILE_HASH_INIT UINT64_C(0xcbf29ce484222325)
uint64_t file_hash(uint64_t h, const void *data, size_t n);

/* The cursor of one import file: bytes committed, lines committed, hash
 * of those bytes. Formatted as "<offset> <lines> <hash hex>" into `out`
 * (FILE_CURSOR_MAX bytes); parse gives ERR_INVALID for anything else. */
#define FILE_CURSOR_MAX 64
struct file_cursor {
    int64_t offset;
    int64_t lines;
    uint64_t hash;
};
void file_cursor_format(const struct file_cursor *c, char *out);
int file_cursor_parse(const char *text, struct file_cursor *out);

/* The export file name for `device` (NULL or "": the UTC date of
 * `epoch_ms`, "YYYY-MM-DD.jsonl") into `out` (n bytes). ERR_INVALID when
 * `device` is not [A-Za-z0-9._-]{1,64} or starts with '.'. */
int file_out_name(const char *device, int64_t epoch_ms, char *out, size_t n);

#endif
