/*
 * fuzz_jstream.c - the streaming JSON cutter (sync/jstream.c).
 *
 * Byte 0 picks the array key and the record cap, byte 1 the piece size;
 * the rest is the document. The document is cut twice, whole and in
 * pieces: both must give the same records and the same result (the
 * cutter's state must not depend on where curl splits the body), and each
 * record must be the NUL-terminated text it claims to be.
 */
#include "fuzz.h"

#include "plat_buf.h"
#include "plat_err.h"
#include "sync_jstream.h"

#include <cjson/cJSON.h>
#include <string.h>

struct got {
    struct plat_buf text;  /* records, each followed by a 0x01 byte */
    int records;
    int stop_at;           /* return 1 at this record (0: never) */
};

static int on_record(void *payload, const char *json, size_t len)
{
    struct got *g = payload;
    cJSON *v;

    FUZZ_CHECK(json[len] == '\0');
    FUZZ_CHECK(len > 0);
    /* What the connectors do with it. */
    v = cJSON_ParseWithLength(json, len);
    cJSON_Delete(v);
    if (plat_buf_append(&g->text, json, len) < 0 ||
        plat_buf_append(&g->text, "\x01", 1) < 0)
        abort();
    g->records++;
    return g->stop_at && g->records == g->stop_at ? 1 : 0;
}

static int cut(const char *key, size_t cap, const uint8_t *doc, size_t len,
               size_t piece, struct got *g)
{
    struct sync_jstream *js;
    int rc;
    size_t off = 0;

    if (sync_jstream_create(&js, key, cap, on_record, g) != PLAT_OK)
        abort();
    rc = PLAT_OK;
    while (off < len && rc == PLAT_OK) {
        size_t n = len - off < piece ? len - off : piece;
        rc = sync_jstream_feed(js, (const char *)doc + off, n);
        off += n;
    }
    if (rc == PLAT_OK)
        rc = sync_jstream_finish(js);
    sync_jstream_destroy(js);
    return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const keys[] = {NULL, "data", "results", "list"};
    struct got whole, pieces;
    const char *key;
    size_t cap, piece;
    int rc1, rc2;

    if (size < 2)
        return 0;
    key = keys[data[0] & 3];
    cap = data[0] & 4 ? 64 : 0;
    piece = 1 + data[1] % 17;
    memset(&whole, 0, sizeof(whole));
    memset(&pieces, 0, sizeof(pieces));
    plat_buf_init(&whole.text, 0);
    plat_buf_init(&pieces.text, 0);
    whole.stop_at = pieces.stop_at = (data[0] >> 3) & 7;

    rc1 = cut(key, cap, data + 2, size - 2, size, &whole);
    rc2 = cut(key, cap, data + 2, size - 2, piece, &pieces);
    FUZZ_CHECK(rc1 == rc2);
    FUZZ_CHECK(whole.records == pieces.records);
    FUZZ_CHECK(whole.text.len == pieces.text.len);
    FUZZ_CHECK(whole.text.len == 0 ||
               memcmp(whole.text.data, pieces.text.data,
                      whole.text.len) == 0);
    plat_buf_dispose(&whole.text);
    plat_buf_dispose(&pieces.text);
    return 0;
}
