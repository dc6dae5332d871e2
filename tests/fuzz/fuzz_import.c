/*
 * fuzz_import.c - every file the agent imports. Byte 0 picks the import,
 * the rest is the file:
 *   0  `agent registrations add --file F` (JSON object or array, checked
 *      against the stored program, all or nothing)
 *   1  `agent program import F` (a program definition)
 *   2  a JSON-lines file of the file connector (`<dir>/in/NAME.jsonl`,
 *      imported by `agent sync --now --source file`)
 *   3  a Kobo mapping file (kobo_mapping_parse, the mapping check against
 *      the program, a submission mapped with it)
 *   4  an EspoCRM mapping file (espo_map_parse, checked against the
 *      program, values converted both ways)
 *   5  file connector lines and cursors alone (file_format.c)
 * 0-2 run the CLI in-process (cli_harness.h); 3-5 call the parsers.
 */
#include "fuzz.h"

#include "c121_model.h"
#include "cli_harness.h"
#include "espo.h"
#include "fake_http.h"
#include "file_format.h"
#include "kobo_map.h"
#include "plat_err.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <unistd.h>

static cJSON *program;

static cJSON *read_json(const char *path)
{
    FILE *f = fopen(path, "rb");
    char buf[1 << 16];
    size_t n;

    if (!f)
        abort();
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return cJSON_Parse(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_cli_setup();
    program = read_json(FUZZ_DATA "/program.json");
    if (!program)
        abort();
    return 0;
}

/* One CLI command on the harness store, no server reachable. */
static void cli_import(int argc, const char *const *argv)
{
    fake_http_script("", 0);
    fuzz_cli_run(argc, argv);
}

static void kobo_mapping(const char *text, size_t len)
{
    static const char sub_text[] =
        "{\"_id\": 7, \"_uuid\": \"u-7\", \"meta/rootUuid\": \"uuid:r-7\", "
        "\"group/full_name\": \"A B\", \"phone\": \"+31 6 1\", "
        "\"household_size\": \"3\", \"district\": \"north\", "
        "\"skipconnect\": \"0\"}";
    struct kobo_mapping *m = NULL;
    char why[KOBO_WHY_MAX], out[2048], ref[256];
    cJSON *sub, *fields = NULL;
    int pid = 0, skip = 0;

    if (kobo_mapping_parse(text, len, "map.json", &m, why, sizeof(why)) !=
        PLAT_OK) {
        FUZZ_CHECK(m == NULL);
        return;
    }
    kobo_mapping_check(m, NULL, program, out, sizeof(out));
    sub = cJSON_Parse(sub_text);
    if (!sub)
        abort();
    kobo_map_submission(m, sub, program, "Intersolve-voucher-paper",
                        &fields, &pid, why, sizeof(why));
    cJSON_Delete(fields);
    kobo_validation_ref(m, sub, ref, sizeof(ref), &skip);
    kobo_prune(m, sub);
    cJSON_Delete(sub);
    kobo_mapping_free(m);
}

static void espo_mapping(const char *text)
{
    struct espo_map m;
    cJSON *v121 = cJSON_CreateString("north"), *vnum = cJSON_CreateNumber(3);

    memset(&m, 0, sizeof(m));
    if (espo_map_parse(text, &m) == PLAT_OK) {
        espo_map_check_program(&m, program);
        for (size_t i = 0; i < m.n; i++) {
            cJSON *a = espo_from_121(&m.v[i], v121);
            cJSON *b = a ? espo_to_121(&m.v[i], a) : NULL;
            cJSON *c = espo_from_121(&m.v[i], vnum);

            if (b)
                espo_same(&m.v[i], b, v121);
            cJSON_Delete(a);
            cJSON_Delete(b);
            cJSON_Delete(c);
        }
    }
    espo_map_dispose(&m);
    cJSON_Delete(v121);
    cJSON_Delete(vnum);
}

static void file_lines(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    int64_t lineno = 0;
    struct file_cursor cur;
    char back[FILE_CURSOR_MAX];

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        cJSON *rec = NULL;

        lineno++;
        if (file_parse_line(p, n, 3, "in.jsonl", lineno, &rec) == PLAT_OK &&
            rec) {
            file_is_deletion(rec);
        }
        cJSON_Delete(rec);
        file_line_seq(p, n);
        p = nl ? nl + 1 : end;
    }
    /* The cursor text, as a stored cursor could hold it. */
    if (len < 200 && !memchr(text, '\0', len) &&
        file_cursor_parse(text, &cur) == PLAT_OK) {
        file_cursor_format(&cur, back);
        FUZZ_CHECK(file_cursor_parse(back, &cur) == PLAT_OK);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[192], *text;
    const char *body;
    size_t len;

    if (size < 1)
        return 0;
    body = (const char *)data + 1;
    len = size - 1;
    text = malloc(len + 1);
    if (!text)
        return 0;
    memcpy(text, body, len);
    text[len] = '\0';

    switch (data[0] % 6) {
    case 0: {
        const char *argv[] = {"-q", "registrations", "add", "--file",
                              "../in.json"};
        snprintf(path, sizeof(path), "%s/in.json", fuzz_cli_dir());
        fuzz_write_file(path, body, len);
        cli_import(5, argv);
        unlink(path);
        break;
    }
    case 1: {
        const char *argv[] = {"-q", "program", "import", "../in.json"};
        snprintf(path, sizeof(path), "%s/in.json", fuzz_cli_dir());
        fuzz_write_file(path, body, len);
        cli_import(4, argv);
        unlink(path);
        break;
    }
    case 2: {
        const char *argv[] = {"-q", "sync", "--now", "--source", "file"};
        snprintf(path, sizeof(path), "%s/usb/in/fuzz.jsonl", fuzz_cli_dir());
        fuzz_write_file(path, body, len);
        cli_import(5, argv);
        unlink(path);
        break;
    }
    case 3:
        kobo_mapping(text, len);
        break;
    case 4:
        espo_mapping(text);
        break;
    default:
        file_lines(text, len);
        break;
    }
    free(text);
    return 0;
}
