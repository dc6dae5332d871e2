/*
 * fuzz_answers.c - the pure readers of what servers send, called directly
 * (fast; fuzz_sync reaches the same code through whole syncs). Byte 0
 * picks the reader, the rest is the answer:
 *   0  an error body: 121's reader (shapes A-G) and the default one,
 *      for a status taken from byte 1
 *   1  a gzip body (the client's inflater), fed in pieces
 *   2  a KoboToolbox asset: the 121 program made from the form, the
 *      mapping check against it
 *   3  a KoboToolbox submission: referenceId, _id, mapping, edit diff
 *   4  a 121 program as stored: offline input validated against it
 *   5  a 121 registration: statuses, events applied, deletion, value
 *      comparison (byte 1 picks the event)
 *   6  EspoCRM: the per-record seen state and modifiedAt times
 *   7  a JSON document: numbers range-checked, escaped NULs found
 * Every reader must return a one-line message, never crash, and (where
 * the answer is text for a person) never more than the buffer.
 */
#include "fuzz.h"

#include "c121.h"
#include "c121_http.h"
#include "c121_model.h"
#include "espo.h"
#include "http_internal.h"
#include "kobo_map.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "sync_http.h"

#include <cjson/cJSON.h>
#include <string.h>

static cJSON *program;
static struct kobo_mapping *mapping;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char map[] =
        "{\"full_name\": \"fullName\", \"phone\": \"phoneNumber\", "
        "\"household_size\": \"householdSize\", \"district\": \"district\", "
        "\"ref\": \"referenceId\"}";
    char why[KOBO_WHY_MAX], buf[1 << 16];
    FILE *f = fopen(FUZZ_DATA "/program.json", "rb");
    size_t n;

    (void)argc;
    (void)argv;
    if (!f)
        abort();
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    program = cJSON_Parse(buf);
    if (!program || kobo_mapping_parse(map, strlen(map), "map.json",
                                       &mapping, why, sizeof(why)) != PLAT_OK)
        abort();
    return 0;
}

static void check_line(const char *s, size_t len, size_t cap)
{
    FUZZ_CHECK(len < cap);
    FUZZ_CHECK(strlen(s) == len);
    FUZZ_CHECK(strchr(s, '\n') == NULL);
}

static void error_bodies(const char *body, size_t len, long status)
{
    char out[200];
    size_t n;

    n = c121_error_message(body, len, out, sizeof(out));
    check_line(out, n, sizeof(out));
    n = c121_http_error_text(status, body, len, out, sizeof(out));
    check_line(out, n, sizeof(out));
    n = sync_http_default_error_text(status, body, len, out, sizeof(out));
    check_line(out, n, sizeof(out));
    n = c121_error_message(body, len, out, 8);
    check_line(out, n, 8);
}

static int gz_sink(void *ctx, const char *data, size_t len)
{
    return plat_buf_append(ctx, data, len);
}

static void gzip_body(const uint8_t *data, size_t len)
{
    struct sync_http_inflate inf;
    struct plat_buf out;
    size_t off = 0, piece = 1 + len % 13;
    int rc = 0;

    memset(&inf, 0, sizeof(inf));
    plat_buf_init(&out, 1 << 20);
    while (off < len && rc == 0) {
        size_t n = len - off < piece ? len - off : piece;
        rc = sync_http_inflate_feed(&inf, (const char *)data + off, n,
                                    gz_sink, &out);
        off += n;
    }
    sync_http_inflate_end(&inf);
    plat_buf_dispose(&out);
}

static void kobo_asset(const cJSON *asset)
{
    cJSON *prog = NULL;
    char why[KOBO_WHY_MAX], out[2048];

    if (kobo_program_from_form(asset, &prog, why, sizeof(why)) == PLAT_OK) {
        FUZZ_CHECK(prog != NULL);
        kobo_mapping_check(mapping, asset, prog, out, sizeof(out));
        c121_validate_fields(prog, prog, C121_VALIDATE_EDIT);
    }
    cJSON_Delete(prog);
    kobo_mapping_check(mapping, asset, program, out, sizeof(out));
}

static void kobo_submission(cJSON *sub)
{
    char ref[256], why[KOBO_WHY_MAX];
    cJSON *fields = NULL, *fields2 = NULL, *changes = NULL, *base = NULL;
    int64_t id;
    int pid, skip;

    kobo_reference_id(sub, "aFuzzAsset", ref, sizeof(ref));
    kobo_submission_id(sub, &id);
    kobo_validation_ref(mapping, sub, ref, sizeof(ref), &skip);
    if (kobo_map_submission(mapping, sub, program, "Intersolve-voucher-paper",
                            &fields, &pid, why, sizeof(why)) == PLAT_OK &&
        fields) {
        c121_validate_fields(program, fields, C121_VALIDATE_CREATE);
        kobo_map_submission(mapping, sub, NULL, NULL, &fields2, NULL, why,
                            sizeof(why));
        if (kobo_diff(fields2, fields, &changes, &base) == PLAT_OK)
            FUZZ_CHECK((changes == NULL) == (base == NULL));
        cJSON_Delete(changes);
        cJSON_Delete(base);
        changes = base = NULL;
        if (kobo_diff(NULL, fields, &changes, &base) == PLAT_OK)
            FUZZ_CHECK((changes == NULL) == (base == NULL));
    }
    kobo_prune(mapping, sub);
    cJSON_Delete(fields);
    cJSON_Delete(fields2);
    cJSON_Delete(changes);
    cJSON_Delete(base);
}

static void stored_program(const cJSON *prog)
{
    static const char *const inputs[] = {
        "{\"fullName\": \"A\", \"phoneNumber\": \"316\", "
        "\"programFspConfigurationName\": \"Intersolve-voucher-paper\", "
        "\"householdSize\": 3, \"district\": \"north\", "
        "\"preferredLanguage\": \"en\"}",
        "{\"householdSize\": \"x\", \"district\": null}",
        "{\"fullName\": 1e308, \"phoneNumber\": true}",
    };
    cJSON *a = cJSON_CreateString("+31 6 12"), *b = cJSON_CreateNumber(3161);

    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        cJSON *f = cJSON_Parse(inputs[i]);
        c121_validate_fields(prog, f, C121_VALIDATE_CREATE);
        c121_validate_fields(prog, f, C121_VALIDATE_EDIT);
        cJSON_Delete(f);
    }
    c121_is_tel(prog, "phoneNumber");
    c121_same_field(prog, "phoneNumber", a, b);
    c121_same_field(prog, "whatsappPhoneNumber", a, b);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void registration(cJSON *reg, uint8_t pick)
{
    static const char *const fields[] = {
        "status", "fullName", "phoneNumber", "householdSize", "maxPayments",
        "paymentAmountMultiplier", "programId", "preferredLanguage"};
    static const char *const values[] = {
        "deleted", "included", "7", "1e308", "", "true", "-1", NULL};
    const char *status = c121_copy_status(reg);
    char buf[64];
    cJSON *copy = cJSON_Duplicate(reg, 1);

    if (status) {
        c121_status_known(status);
        c121_status_targets(status);
        c121_status_transition_allowed(status, "included");
    }
    for (cJSON *m = reg->child; m; m = m->next) {
        c121_value_text(m, buf, sizeof(buf));
        if (copy)
            c121_same_value(m, cJSON_GetObjectItemCaseSensitive(copy,
                                                                m->string));
    }
    {
        cJSON *v = c121_event_value(reg, fields[pick & 7],
                                    values[(pick >> 3) & 7]);
        cJSON_Delete(v);
    }
    c121_apply_event(reg, fields[pick & 7], values[(pick >> 3) & 7]);
    if (copy) {
        c121_mark_deleted(copy, NULL);
        cJSON_Delete(copy);
    }
}

static void espo_state(const char *text)
{
    struct espo_seen s;
    int64_t t;
    char back[ESPO_TIME_LEN];

    memset(&s, 0, sizeof(s));
    if (espo_seen_parse(text, &s) == PLAT_OK) {
        char *again = espo_seen_format(&s);
        struct espo_seen s2;

        memset(&s2, 0, sizeof(s2));
        if (again) {
            FUZZ_CHECK(espo_seen_parse(again, &s2) == PLAT_OK);
            espo_seen_dispose(&s2);
        }
        free(again);
    }
    espo_seen_dispose(&s);
    if (espo_time_parse(text, &t) == PLAT_OK) {
        espo_time_format(t, back);
        FUZZ_CHECK(strcmp(back, text) == 0);
    }
}

static void numbers(const cJSON *v, const char *text, size_t len)
{
    int64_t out;

    for (; v; v = v->next) {
        c121_json_int(v, 0, C121_ID_MAX, &out);
        c121_json_int(v, -5, 5, &out);
        if (v->child)
            numbers(v->child, NULL, 0);
    }
    if (text) {
        c121_json_has_nul(text, len);
        c121_text_has_nul(text, len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    size_t len;
    cJSON *doc;
    uint8_t sel;

    if (size < 2)
        return 0;
    sel = data[0] & 7;
    len = size - 2;
    text = malloc(len + 1);
    if (!text)
        return 0;
    memcpy(text, data + 2, len);
    text[len] = '\0';
    doc = sel >= 2 ? cJSON_ParseWithLength(text, len) : NULL;

    switch (sel) {
    case 0: {
        static const long st[] = {400, 401, 403, 404, 409, 422, 500, 200};
        error_bodies(text, len, st[data[1] & 7]);
        break;
    }
    case 1:
        gzip_body(data + 2, len);
        break;
    case 2:
        if (doc)
            kobo_asset(doc);
        break;
    case 3:
        if (doc)
            kobo_submission(doc);
        break;
    case 4:
        stored_program(doc);
        break;
    case 5:
        if (cJSON_IsObject(doc))
            registration(doc, data[1]);
        break;
    case 6:
        if (!memchr(text, '\0', len))
            espo_state(text);
        break;
    default:
        numbers(doc, text, len);
        break;
    }
    cJSON_Delete(doc);
    free(text);
    return 0;
}
