/*
 * file_format.c - the file connector's pure helpers (file_format.h).
 */
#include "file_format.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_utf8.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int line_err(const char *file, int64_t lineno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int line_err(const char *file, int64_t lineno, const char *fmt, ...)
{
    char reason[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return plat_err_set(ERR_INVALID, "%s:%" PRId64 ": %s",
                        file ? file : "?", lineno, reason);
}

/* 1 when `v` is a JSON number holding an integer in [1, max]. */
static int positive_int(const cJSON *v, double max)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 1 &&
           v->valuedouble <= max && (double)(int64_t)v->valuedouble == v->valuedouble;
}

int file_parse_line(const char *line, size_t len, int program_id,
                    const char *file, int64_t lineno, cJSON **out)
{
    const char *end;
    cJSON *rec, *v;
    size_t i, bad = 0;

    *out = NULL;
    if (len && line[len - 1] == '\r')
        len--;
    for (i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t')
            break;
    if (i == len)
        return PLAT_OK;
    if (!plat_utf8_valid(line, len, &bad))
        return line_err(file, lineno, "not UTF-8 (byte %zu)", bad + 1);
    end = NULL;
    rec = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!rec)
        return line_err(file, lineno, "not JSON");
    while (end && end < line + len && (*end == ' ' || *end == '\t'))
        end++;
    if (end && end < line + len) {
        cJSON_Delete(rec);
        return line_err(file, lineno, "text after the JSON object");
    }
    if (!cJSON_IsObject(rec)) {
        cJSON_Delete(rec);
        return line_err(file, lineno, "not a JSON object");
    }
    v = cJSON_GetObjectItemCaseSensitive(rec, "referenceId");
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        cJSON_Delete(rec);
        return line_err(file, lineno, "referenceId missing or not a string");
    }
    if (strlen(v->valuestring) > FILE_REF_MAX) {
        cJSON_Delete(rec);
        return line_err(file, lineno, "referenceId longer than %d bytes",
                        FILE_REF_MAX);
    }
    for (i = 0; v->valuestring[i]; i++)
        if ((unsigned char)v->valuestring[i] < 0x20 ||
            v->valuestring[i] == 0x7f) {
            cJSON_Delete(rec);
            return line_err(file, lineno,
                            "referenceId holds a control character");
        }
    v = cJSON_GetObjectItemCaseSensitive(rec, "programId");
    if (v) {
        if (!positive_int(v, 2147483647.0)) {
            cJSON_Delete(rec);
            return line_err(file, lineno,
                            "programId not a positive integer");
        }
        if (program_id > 0 && v->valuedouble != (double)program_id) {
            cJSON_Delete(rec);
            return line_err(file, lineno,
                            "programId is not the configured program_id");
        }
    } else {
        if (program_id <= 0) {
            cJSON_Delete(rec);
            return line_err(file, lineno,
                            "programId missing and no program_id set");
        }
        if (!cJSON_AddNumberToObject(rec, "programId", program_id)) {
            cJSON_Delete(rec);
            return plat_err_set(ERR_NOMEM, "out of memory");
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(rec, "status");
    if (v && !cJSON_IsString(v)) {
        cJSON_Delete(rec);
        return line_err(file, lineno, "status not a string");
    }
    v = cJSON_GetObjectItemCaseSensitive(rec, "id");
    if (v && !cJSON_IsNull(v) && !positive_int(v, 9007199254740991.0)) {
        cJSON_Delete(rec);
        return line_err(file, lineno, "id not a positive integer");
    }
    *out = rec;
    return PLAT_OK;
}

int file_is_deletion(const cJSON *rec)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, "status");

    return cJSON_IsString(v) && strcmp(v->valuestring, "deleted") == 0;
}

static int add_copy(cJSON *o, const char *key, const cJSON *v)
{
    cJSON *c = v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();

    if (!c)
        return 0;
    if (!cJSON_AddItemToObject(o, key, c)) {
        cJSON_Delete(c);
        return 0;
    }
    return 1;
}

int file_format_op(int64_t seq, const char *device, const char *kind,
                   const char *ref, const cJSON *payload, const cJSON *base,
                   char **out)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;

    *out = NULL;
    if (!o || !cJSON_AddNumberToObject(o, "seq", (double)seq) ||
        (device && device[0] &&
         !cJSON_AddStringToObject(o, "device", device)) ||
        !cJSON_AddStringToObject(o, "kind", kind ? kind : "") ||
        !cJSON_AddStringToObject(o, "referenceId", ref ? ref : "") ||
        !add_copy(o, "payload", payload) || !add_copy(o, "base", base) ||
        (text = cJSON_PrintUnformatted(o)) == NULL) {
        cJSON_Delete(o);
        return plat_err_set(ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(o);
    *out = plat_asprintf("%s\n", text);
    cJSON_free(text);
    if (!*out)
        return plat_err_set(ERR_NOMEM, "out of memory");
    return PLAT_OK;
}

int64_t file_line_seq(const char *line, size_t len)
{
    cJSON *o = cJSON_ParseWithLength(line, len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "seq");
    int64_t seq = -1;

    if (cJSON_IsObject(o) && positive_int(v, 9007199254740991.0))
        seq = (int64_t)v->valuedouble;
    cJSON_Delete(o);
    return seq;
}

int file_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0, i;

    if (n <= 6 || n > 200 || name[0] == '.' ||
        strcmp(name + n - 6, ".jsonl") != 0)
        return 0;
    for (i = 0; i < n; i++)
        if (name[i] == '/' || (unsigned char)name[i] < 0x20 ||
            name[i] == 0x7f)
            return 0;
    return 1;
}

uint64_t file_hash(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

void file_cursor_format(const struct file_cursor *c, char *out)
{
    snprintf(out, FILE_CURSOR_MAX, "%" PRId64 " %" PRId64 " %016" PRIx64,
             c->offset, c->lines, c->hash);
}

int file_cursor_parse(const char *text, struct file_cursor *out)
{
    long long off, lines;
    unsigned long long h;
    int used = 0;

    if (!text || sscanf(text, "%lld %lld %16llx%n", &off, &lines, &h,
                        &used) != 3 ||
        text[used] != '\0' || off < 0 || lines < 0)
        return plat_err_set(ERR_INVALID, "file: malformed import cursor");
    out->offset = off;
    out->lines = lines;
    out->hash = h;
    return PLAT_OK;
}

int file_out_name(const char *device, int64_t epoch_ms, char *out, size_t n)
{
    size_t i, len;
    time_t t;
    struct tm tm;

    if (device && device[0]) {
        len = strlen(device);
        if (len > 64 || device[0] == '.')
            return plat_err_set(ERR_INVALID,
                                "file: device must be 1-64 of "
                                "[A-Za-z0-9._-], not starting with '.'");
        for (i = 0; i < len; i++) {
            char ch = device[i];

            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                  ch == '-'))
                return plat_err_set(ERR_INVALID,
                                    "file: device must be 1-64 of "
                                    "[A-Za-z0-9._-], not starting with '.'");
        }
        if ((size_t)snprintf(out, n, "%s.jsonl", device) >= n)
            return plat_err_set(ERR_INVALID, "file: device name too long");
        return PLAT_OK;
    }
    t = (time_t)(epoch_ms / 1000);
    if (!gmtime_r(&t, &tm) ||
        strftime(out, n, "%Y-%m-%d.jsonl", &tm) == 0)
        return plat_err_set(ERR_INVALID, "file: bad clock for the name");
    return PLAT_OK;
}
