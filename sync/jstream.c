/*
 * jstream.c - a byte-at-a-time JSON walker that cuts the records out of
 * one array of a large document (see sync_jstream.h).
 *
 * It tracks only what it needs: nesting depth, whether it is inside a
 * string (and after a backslash), the last object key seen at depth 1, and
 * whether it is inside the wanted array. Scalars outside strings are not
 * validated here; cJSON does that per record.
 */
#include "sync_jstream.h"
#include "sync_jscan.h"

#include <string.h>

#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"

#define KEY_MAX 64
#define DEPTH_MAX 512

struct sync_jstream {
    char *array_key;     /* NULL: the top-level array */
    size_t max_record;
    sync_jstream_cb cb;
    void *payload;

    int64_t offset;      /* bytes consumed, for messages */
    int64_t count;
    int depth;           /* current nesting depth */
    char stack[DEPTH_MAX]; /* '{' or '[' per level */
    int in_string;
    int escaped;
    int started;         /* saw the first non-space byte */
    int done;            /* document closed at depth 0 */

    /* Key tracking at depth 1 (the top-level object). */
    int capturing_key;
    char key[KEY_MAX];
    size_t key_len;
    int expect_key;      /* at depth 1, the next string is a key */
    int key_pending;     /* a key string ended; waiting for ':' */
    char last_key[KEY_MAX];
    int have_array;      /* found the wanted array at all */
    int array_depth;     /* depth of the wanted array's contents; 0 = no */

    struct plat_buf record; /* the record being collected */
    int in_record;
    /* The record's bytes are copied span by span, not byte by byte: the
     * part of the current chunk from span_start up to the byte at pos is
     * not in `record` yet. */
    const char *chunk;
    size_t pos;
    size_t span_start;
};

int sync_jstream_create(struct sync_jstream **out, const char *array_key,
                        size_t max_record, sync_jstream_cb cb, void *payload)
{
    struct sync_jstream *js;

    *out = NULL;
    js = plat_calloc(1, sizeof(*js));
    if (!js)
        return ERR_NOMEM;
    if (array_key) {
        js->array_key = plat_strdup(array_key);
        if (!js->array_key) {
            plat_free(js);
            return ERR_NOMEM;
        }
    }
    js->max_record = max_record ? max_record : (size_t)1 << 20;
    js->cb = cb;
    js->payload = payload;
    plat_buf_init(&js->record, js->max_record);
    *out = js;
    return PLAT_OK;
}

void sync_jstream_destroy(struct sync_jstream *js)
{
    if (!js)
        return;
    plat_buf_dispose(&js->record);
    plat_free(js->array_key);
    plat_free(js);
}

static int malformed(struct sync_jstream *js, const char *what)
{
    return plat_err_set(ERR_INVALID, "malformed JSON from server at byte "
                        "%lld: %s", (long long)js->offset, what);
}

/* The array we want is the value of `array_key` in the top-level object,
 * or the top-level value itself when no key was given. */
static int is_wanted_array(const struct sync_jstream *js)
{
    if (!js->array_key)
        return js->depth == 0;
    return js->depth == 1 && js->stack[0] == '{' &&
           strcmp(js->last_key, js->array_key) == 0;
}

/* Copy the current chunk's record bytes before `end` into `record`. */
static int flush_span(struct sync_jstream *js, size_t end)
{
    int rc = PLAT_OK;

    if (end > js->span_start)
        rc = plat_buf_append(&js->record, js->chunk + js->span_start,
                             end - js->span_start);
    js->span_start = end;
    if (rc == ERR_TOOLARGE)
        return plat_err_set(ERR_TOOLARGE, "a record from the server is "
                            "larger than %zu bytes", js->max_record);
    return rc;
}

/* The record ends before `end` (the current byte included or not). */
static int emit_record(struct sync_jstream *js, size_t end)
{
    int rc;

    rc = flush_span(js, end);
    if (rc < 0) {
        plat_buf_reset(&js->record);
        return rc;
    }
    js->in_record = 0;
    js->count++;
    rc = js->cb(js->payload, js->record.data ? js->record.data : "",
                js->record.len);
    plat_buf_reset(&js->record);
    return rc;
}

static int step(struct sync_jstream *js, char c)
{
    int rc;

    if (js->in_string) {
        if (js->escaped) {
            js->escaped = 0;
        } else if (c == '\\') {
            js->escaped = 1;
        } else if (c == '"') {
            js->in_string = 0;
            if (js->capturing_key) {
                js->capturing_key = 0;
                js->key[js->key_len] = '\0';
                js->key_pending = 1;
            }
            return PLAT_OK;
        }
        if (js->capturing_key && js->key_len + 1 < KEY_MAX)
            js->key[js->key_len++] = c;
        return PLAT_OK;
    }

    switch (c) {
    case ' ': case '\t': case '\r': case '\n':
        return PLAT_OK;
    case '"':
        js->in_string = 1;
        if (js->array_depth && js->depth == js->array_depth &&
            !js->in_record) {
            /* A string element of the wanted array. */
            js->in_record = 1;
            js->span_start = js->pos;
        }
        /* A string directly inside the top-level object, where a key is
         * expected, is a key: remember it to find "data". */
        if (js->depth == 1 && js->expect_key) {
            js->expect_key = 0;
            js->capturing_key = 1;
            js->key_len = 0;
        }
        break;
    case ':':
        if (js->key_pending) {
            memcpy(js->last_key, js->key, sizeof(js->key));
            js->key_pending = 0;
        }
        break;
    case '{':
    case '[':
        if (js->done)
            return malformed(js, "data after the end of the document");
        if (js->depth >= DEPTH_MAX)
            return malformed(js, "nested too deeply");
        if (c == '[' && js->array_depth == 0 && !js->have_array &&
            is_wanted_array(js)) {
            js->have_array = 1;
            js->array_depth = js->depth + 1;
        } else if (js->array_depth && js->depth == js->array_depth &&
                   !js->in_record) {
            /* An element of the wanted array begins. */
            js->in_record = 1;
            js->span_start = js->pos;
        }
        js->stack[js->depth++] = c;
        if (js->depth == 1 && c == '{')
            js->expect_key = 1;
        break;
    case '}':
    case ']':
        if (js->depth == 0 ||
            js->stack[js->depth - 1] != (c == '}' ? '{' : '['))
            return malformed(js, "unbalanced brackets");
        if (js->array_depth && js->depth == js->array_depth &&
            js->in_record) {
            /* A scalar element ended with the array: without the ']'. */
            rc = emit_record(js, js->pos);
            if (rc != 0)
                return rc;
        }
        js->depth--;
        if (js->array_depth && js->depth == js->array_depth &&
            js->in_record)
            return emit_record(js, js->pos + 1);
        if (js->array_depth && js->depth == js->array_depth - 1)
            js->array_depth = 0; /* the wanted array closed */
        if (js->depth == 0)
            js->done = 1;
        break;
    case ',':
        if (js->depth == 1 && js->stack[0] == '{')
            js->expect_key = 1;
        if (js->array_depth && js->depth == js->array_depth &&
            js->in_record) {
            /* A scalar element ended: without the ','. */
            return emit_record(js, js->pos);
        }
        break;
    default:
        if (js->done)
            return malformed(js, "data after the end of the document");
        /* Scalar elements (numbers, true, null) of the wanted array are
         * records too. */
        if (js->array_depth && js->depth == js->array_depth &&
            !js->in_record) {
            js->in_record = 1;
            js->span_start = js->pos;
        }
        break;
    }
    if (!js->started)
        js->started = 1;
    return PLAT_OK;
}

/* The bytes that matter between strings inside a record. */
static const unsigned char STRUCTURAL[256] = {
    ['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1};

int sync_jstream_feed(struct sync_jstream *js, const char *data, size_t len)
{
    int rc = PLAT_OK;

    js->chunk = data;
    js->span_start = 0; /* a record that goes on continues at byte 0 */
    for (js->pos = 0; js->pos < len; js->pos++) {
        if (js->in_string && !js->escaped && !js->capturing_key) {
            /* Most bytes are inside strings: skip to the next quote or
             * backslash. */
            size_t j = js->pos;

            /* (It also stops at a control character: step() takes
             * that byte like any other in a string.) */
            j += sync_jscan_plain_run(data + j, len - j);
            js->offset += (int64_t)(j - js->pos);
            js->pos = j;
            if (j == len)
                break;
        } else if (!js->in_string && js->in_record &&
                   js->depth > js->array_depth) {
            /* Inside a record, between strings, only quotes and brackets
             * change the state (keys, ':' and ',' matter at depth 1 and
             * at the array's own level only): skip the rest. */
            size_t j = js->pos;

            while (j < len && !STRUCTURAL[(unsigned char)data[j]])
                j++;
            js->offset += (int64_t)(j - js->pos);
            js->pos = j;
            if (j == len)
                break;
        }
        rc = step(js, data[js->pos]);
        if (rc != 0)
            break;
        js->offset++;
    }
    if (rc == 0 && js->in_record)
        rc = flush_span(js, len);
    js->chunk = NULL;
    return rc;
}

int sync_jstream_finish(struct sync_jstream *js)
{
    if (!js->started)
        return malformed(js, "empty response");
    if (!js->done || js->in_string)
        return malformed(js, "the response ended early (truncated)");
    if (!js->have_array)
        return malformed(js, js->array_key ? "no \"data\" array"
                                           : "not an array");
    return PLAT_OK;
}
