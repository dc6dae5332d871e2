/*
 * sync_jstream.h - split a JSON response into records as it arrives.
 *
 * 121 answers a large registrations window as one JSON document
 * ({"data":[{...},{...},...],"meta":{...}}) of up to tens of megabytes. A
 * field device must not hold it whole, so the body is fed here in chunks as
 * curl receives it; each element of the array under `array_key` (or of the
 * top-level array when array_key is NULL) is handed to the callback as the
 * exact text of that element, ready for cJSON_ParseWithLength. Memory is
 * bounded by the largest single record (max_record bytes).
 *
 * The splitter checks the structure it walks (brackets, strings, escapes);
 * each record's own content is checked by whoever parses it. Anything else
 * in the document (meta, links) is skipped.
 *
 * Errors: ERR_INVALID (malformed or truncated document: the message gives
 * the byte offset), ERR_TOOLARGE (a record over max_record), or the
 * callback's non-zero return value, passed through unchanged.
 */
#ifndef SYNC_JSTREAM_H
#define SYNC_JSTREAM_H

#include <stddef.h>
#include <stdint.h>

struct sync_jstream;

/* Called once per record; `json` (NUL-terminated, `len` bytes) is borrowed
 * for the call. Return 0 to go on, non-zero to stop. */
typedef int (*sync_jstream_cb)(void *payload, const char *json, size_t len);

int sync_jstream_create(struct sync_jstream **out, const char *array_key,
                        size_t max_record, sync_jstream_cb cb,
                        void *payload);
void sync_jstream_destroy(struct sync_jstream *js);

/* Feed the next `len` bytes of the document. */
int sync_jstream_feed(struct sync_jstream *js, const char *data, size_t len);

/* The document ended: ERR_INVALID if it is incomplete (e.g. the
 * connection dropped mid-array), or if the array was never found. */
int sync_jstream_finish(struct sync_jstream *js);

#endif
