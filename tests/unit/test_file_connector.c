/*
 * test_file_connector.c - the file connector (sync/connectors/file): its
 * pure helpers (file_format.h), and the whole connector through
 * sync_engine_run over a temporary folder.
 */
#include "testlib.h"
#include "testutil.h"

#include "file_format.h"
#include "plat_alloc.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "store.h"
#include "store_registrations.h"
#include "store_sync.h"
#include "sync_connector.h"
#include "sync_ctx.h"
#include "sync_engine.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- pure helpers ------------------------------------------------------ */

static int parse(const char *line, int program_id, cJSON **out)
{
    return file_parse_line(line, strlen(line), program_id, "a.jsonl", 7,
                           out);
}

static void test_parse_ok(void)
{
    cJSON *r = NULL;

    CHECK_INT(parse("{\"referenceId\":\"ref-1\",\"programId\":3,"
                    "\"status\":\"included\",\"fullName\":\"X\"}", 3, &r),
              PLAT_OK);
    REQUIRE(r);
    CHECK_STR(cJSON_GetObjectItem(r, "referenceId")->valuestring, "ref-1");
    CHECK_INT(cJSON_GetObjectItem(r, "programId")->valueint, 3);
    CHECK(!file_is_deletion(r));
    cJSON_Delete(r);

    /* programId filled in from the config; \r and blanks around are fine */
    r = NULL;
    CHECK_INT(parse("  {\"referenceId\":\"ref-2\"} \r", 5, &r), PLAT_OK);
    REQUIRE(r);
    CHECK_INT(cJSON_GetObjectItem(r, "programId")->valueint, 5);
    cJSON_Delete(r);

    /* a deletion mark */
    r = NULL;
    CHECK_INT(parse("{\"referenceId\":\"ref-3\",\"status\":\"deleted\"}", 5,
                    &r), PLAT_OK);
    REQUIRE(r);
    CHECK(file_is_deletion(r));
    cJSON_Delete(r);

    /* blank lines: nothing */
    r = (cJSON *)1;
    CHECK_INT(parse("", 5, &r), PLAT_OK);
    CHECK(r == NULL);
    r = (cJSON *)1;
    CHECK_INT(parse(" \t\r", 5, &r), PLAT_OK);
    CHECK(r == NULL);
}

/* Each bad line: ERR_INVALID, "a.jsonl:7: <reason>", no value quoted. */
static void check_bad(const char *line, int program_id, const char *reason)
{
    cJSON *r = (cJSON *)1;
    char want[256];

    CHECK_INT(parse(line, program_id, &r), ERR_INVALID);
    CHECK(r == NULL);
    snprintf(want, sizeof(want), "a.jsonl:7: %s", reason);
    CHECK_STR(plat_err_msg(), want);
    CHECK(strstr(plat_err_msg(), "SECRET") == NULL);
}

static void test_parse_bad(void)
{
    check_bad("{\"referenceId\":\"r1\",\"name\":\"SECRET\"", 3, "not JSON");
    check_bad("[\"SECRET\"]", 3, "not a JSON object");
    check_bad("{\"name\":\"SECRET\"}", 3,
              "referenceId missing or not a string");
    check_bad("{\"referenceId\":12}", 3,
              "referenceId missing or not a string");
    check_bad("{\"referenceId\":\"\"}", 3,
              "referenceId missing or not a string");
    check_bad("{\"referenceId\":\"a\\u0001b\"}", 3,
              "referenceId holds a control character");
    check_bad("{\"referenceId\":\"ref-1\",\"programId\":4}", 3,
              "programId is not the configured program_id");
    check_bad("{\"referenceId\":\"ref-1\",\"programId\":\"3\"}", 3,
              "programId not a positive integer");
    check_bad("{\"referenceId\":\"ref-1\",\"programId\":2.5}", 0,
              "programId not a positive integer");
    check_bad("{\"referenceId\":\"ref-1\"}", 0,
              "programId missing and no program_id set");
    check_bad("{\"referenceId\":\"ref-1\",\"status\":1}", 3,
              "status not a string");
    check_bad("{\"referenceId\":\"ref-1\",\"id\":-4}", 3,
              "id not a positive integer");
    check_bad("{\"referenceId\":\"ref-1\"} {\"x\":1}", 3,
              "text after the JSON object");
    check_bad("{\"referenceId\":\"r\xff\"}", 3, "not UTF-8 (byte 18)");

    {
        char big[300];
        char line[400];

        memset(big, 'a', 201);
        big[201] = '\0';
        snprintf(line, sizeof(line), "{\"referenceId\":\"%s\"}", big);
        check_bad(line, 3, "referenceId longer than 200 bytes");
    }
}

static void test_format_op(void)
{
    cJSON *payload = cJSON_Parse("{\"data\":{\"phoneNumber\":\"31600\"},"
                                 "\"reason\":null}");
    cJSON *base = cJSON_Parse("{\"phoneNumber\":\"31611\"}");
    char *line = NULL;
    cJSON *back;

    REQUIRE(payload && base);
    CHECK_INT(file_format_op(42, "site-a", "edit", "ref-1", payload, base,
                             &line), PLAT_OK);
    REQUIRE(line);
    CHECK(line[strlen(line) - 1] == '\n');
    CHECK(strchr(line, '\n') == line + strlen(line) - 1);
    back = cJSON_Parse(line);
    REQUIRE(back);
    CHECK_INT(cJSON_GetObjectItem(back, "seq")->valuedouble, 42);
    CHECK_STR(cJSON_GetObjectItem(back, "device")->valuestring, "site-a");
    CHECK_STR(cJSON_GetObjectItem(back, "kind")->valuestring, "edit");
    CHECK_STR(cJSON_GetObjectItem(back, "referenceId")->valuestring, "ref-1");
    CHECK(cJSON_Compare(cJSON_GetObjectItem(back, "payload"), payload, 1));
    CHECK(cJSON_Compare(cJSON_GetObjectItem(back, "base"), base, 1));
    CHECK_INT(file_line_seq(line, strlen(line) - 1), 42);
    cJSON_Delete(back);
    plat_free(line);

    /* a create: no device, base null */
    line = NULL;
    CHECK_INT(file_format_op(7, NULL, "create", "ref-2", payload, NULL,
                             &line), PLAT_OK);
    REQUIRE(line);
    back = cJSON_Parse(line);
    REQUIRE(back);
    CHECK(cJSON_GetObjectItem(back, "device") == NULL);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(back, "base")));
    cJSON_Delete(back);
    plat_free(line);

    CHECK_INT(file_line_seq("{\"seq\":\"1\"}", 11), -1);
    CHECK_INT(file_line_seq("garbage", 7), -1);
    CHECK_INT(file_line_seq("{\"seq\":9}", 9), 9);
    cJSON_Delete(payload);
    cJSON_Delete(base);
}

static void test_names(void)
{
    char out[64];

    CHECK(file_name_ok("2026-01-02.jsonl"));
    CHECK(file_name_ok("a.jsonl"));
    CHECK(!file_name_ok(".jsonl"));
    CHECK(!file_name_ok(".hidden.jsonl"));
    CHECK(!file_name_ok("a.json"));
    CHECK(!file_name_ok("a.jsonl.tmp"));
    CHECK(!file_name_ok("a/b.jsonl"));
    CHECK(!file_name_ok(NULL));

    CHECK_INT(file_out_name("site-a", 0, out, sizeof(out)), PLAT_OK);
    CHECK_STR(out, "site-a.jsonl");
    CHECK_INT(file_out_name(NULL, INT64_C(1767312000000), out, sizeof(out)),
              PLAT_OK);                           /* 2026-01-02 00:00 UTC */
    CHECK_STR(out, "2026-01-02.jsonl");
    CHECK_INT(file_out_name("", INT64_C(1767311999000), out, sizeof(out)),
              PLAT_OK);
    CHECK_STR(out, "2026-01-01.jsonl");
    CHECK_INT(file_out_name("../x", 0, out, sizeof(out)), ERR_INVALID);
    CHECK_INT(file_out_name(".x", 0, out, sizeof(out)), ERR_INVALID);
    CHECK_INT(file_out_name("a b", 0, out, sizeof(out)), ERR_INVALID);
}

static void test_cursor(void)
{
    struct file_cursor c = {12345, 67, 0}, d;
    char text[FILE_CURSOR_MAX];

    c.hash = file_hash(FILE_HASH_INIT, "abc", 3);
    CHECK(c.hash == file_hash(file_hash(FILE_HASH_INIT, "a", 1), "bc", 2));
    CHECK(c.hash != file_hash(FILE_HASH_INIT, "abd", 3));
    file_cursor_format(&c, text);
    CHECK_INT(file_cursor_parse(text, &d), PLAT_OK);
    CHECK_INT(d.offset, 12345);
    CHECK_INT(d.lines, 67);
    CHECK(d.hash == c.hash);
    CHECK_INT(file_cursor_parse("12 3", &d), ERR_INVALID);
    CHECK_INT(file_cursor_parse("12 3 ab x", &d), ERR_INVALID);
    CHECK_INT(file_cursor_parse("-1 3 ab", &d), ERR_INVALID);
    CHECK_INT(file_cursor_parse(NULL, &d), ERR_INVALID);
}


/* ---- the connector through the engine ---------------------------------- */

extern const struct sync_connector sync_connector_file;

struct ftest {
    char *dir;              /* temp dir: store.db and stick/            */
    char *stick;            /* the folder of the [file] section         */
    struct store *s;
    const char *values[5];  /* enabled, dir, program_id, export, device */
    struct sync_source_conf conf;
    struct sync_engine_options opt;
    struct sync_report rep;
    volatile int cancel;
    int progress_calls;
    int cancel_at_call;     /* set cancel at this progress call (0: no) */
};

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    struct stat sb;
    char *p;

    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        p = plat_asprintf("%s/%s", path, e->d_name);
        if (p && lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            rm_tree(p);
        else if (p)
            unlink(p);
        plat_free(p);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

static void on_progress(void *payload, const char *phase, int64_t done,
                        int64_t total, int64_t bytes_wire)
{
    struct ftest *t = payload;

    (void)phase;
    (void)done;
    (void)total;
    (void)bytes_wire;
    if (++t->progress_calls == t->cancel_at_call)
        t->cancel = 1;
}

static int ftest_open(struct ftest *t)
{
    char *p;

    memset(t, 0, sizeof(*t));
    t->dir = testutil_tmpdir("test-file");
    t->stick = plat_asprintf("%s/stick", t->dir);
    p = plat_asprintf("%s/in", t->stick);
    if (!t->stick || !p || plat_fs_mkdir_p(p, 0700) != PLAT_OK) {
        plat_free(p);
        return 0;
    }
    plat_free(p);
    t->s = testutil_store_new(t->dir, "store.db");
    t->values[0] = "true";
    t->values[1] = t->stick;
    t->values[2] = "1";
    t->values[3] = "true";
    t->values[4] = "site-a";
    t->conf.connector = &sync_connector_file;
    t->conf.enabled = 1;
    t->conf.values = t->values;
    t->opt.sources = &t->conf;
    t->opt.n_sources = 1;
    t->opt.batch = 300;
    t->opt.cancel = &t->cancel;
    t->opt.progress = on_progress;
    t->opt.progress_payload = t;
    return t->s != NULL;
}

static void ftest_close(struct ftest *t)
{
    store_close(t->s);
    rm_tree(t->dir);
    plat_free(t->dir);
    plat_free(t->stick);
}

static int ftest_run(struct ftest *t)
{
    static const char *const only[] = {"file"};

    t->opt.only = only;
    t->opt.n_only = 1;
    t->progress_calls = 0;
    return sync_engine_run(t->s, &t->opt, &t->rep);
}

/* Append `text` to stick/in/<name> (plat_fs: rewrite whole). */
static int append_in(struct ftest *t, const char *name, const char *text)
{
    char *path = plat_asprintf("%s/in/%s", t->stick, name), *old = NULL;
    char *all;
    size_t len = 0;
    int rc;

    if (!path)
        return ERR_NOMEM;
    rc = plat_fs_read_file(path, 64u << 20, &old, &len);
    if (rc == ERR_NOTFOUND)
        rc = PLAT_OK;
    all = rc == PLAT_OK ? plat_asprintf("%s%s", old ? old : "", text) : NULL;
    if (rc == PLAT_OK)
        rc = all ? plat_fs_write_atomic(path, all, strlen(all), 0600)
                 : ERR_NOMEM;
    plat_free(all);
    plat_free(old);
    plat_free(path);
    return rc;
}

/* Records first..last (referenceId file-NNNNN) as lines. */
static char *records(int first, int last)
{
    struct plat_buf b;
    int i;

    plat_buf_init(&b, 0);
    for (i = first; i <= last; i++)
        if (plat_buf_printf(&b, "{\"referenceId\":\"file-%05d\","
                            "\"programId\":1,\"status\":\"included\","
                            "\"fullName\":\"Person %d\","
                            "\"phoneNumber\":\"3160%07d\"}\n",
                            i, i, i) != PLAT_OK)
            return NULL;
    return plat_buf_detach(&b);
}

static int write_records(struct ftest *t, const char *name, int first,
                         int last)
{
    char *text = records(first, last);
    int rc = text ? append_in(t, name, text) : ERR_NOMEM;

    plat_free(text);
    return rc;
}

static int64_t regs_count(struct store *s)
{
    struct store_counts c;

    return store_counts(s, &c) == PLAT_OK ? c.registrations : -1;
}

static char *server_field(struct store *s, const char *ref,
                          const char *field)
{
    cJSON *r = NULL;
    const cJSON *v;
    char *out = NULL;

    if (store_reg_server_get(s, ref, &r) != PLAT_OK)
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(r, field);
    out = cJSON_IsString(v) ? plat_strdup(v->valuestring) : NULL;
    cJSON_Delete(r);
    return out;
}

static void test_import_resume_reimport(void)
{
    struct ftest t;
    struct file_cursor cur;
    char *v = NULL;

    REQUIRE(ftest_open(&t));
    /* 2,500 records in 3 files; b.jsonl has a malformed line (501) */
    REQUIRE(write_records(&t, "a.jsonl", 1, 1000) == PLAT_OK);
    REQUIRE(write_records(&t, "b.jsonl", 1001, 1500) == PLAT_OK);
    REQUIRE(append_in(&t, "b.jsonl",
                      "{\"referenceId\":7,\"fullName\":\"SECRET\"}\n") ==
            PLAT_OK);
    REQUIRE(write_records(&t, "b.jsonl", 1501, 2000) == PLAT_OK);
    REQUIRE(write_records(&t, "c.jsonl", 2001, 2500) == PLAT_OK);
    REQUIRE(append_in(&t, "notes.txt", "not imported\n") == PLAT_OK);

    /* killed after the second batch of 300 */
    t.cancel_at_call = 2;
    CHECK_INT(ftest_run(&t), ERR_RETRY);
    CHECK_INT(t.rep.per[0].rc, ERR_RETRY);
    CHECK_INT(t.rep.per[0].pulled, 600);
    CHECK_INT(regs_count(t.s), 600);
    REQUIRE(store_checkpoint_get(t.s, "file", "in/a.jsonl", &v) == PLAT_OK);
    CHECK_INT(file_cursor_parse(v, &cur), PLAT_OK);
    CHECK_INT(cur.lines, 600);
    plat_free(v);
    v = NULL;

    /* resumed: the rest, the malformed line skipped and counted */
    t.cancel = 0;
    t.cancel_at_call = 0;
    CHECK_INT(ftest_run(&t), PLAT_OK);
    CHECK_INT(t.rep.per[0].pulled, 1900);
    CHECK_INT(t.rep.per[0].rejected, 1);
    CHECK_INT(regs_count(t.s), 2500);
    REQUIRE(store_state_get(t.s, "file.import.rejected", &v) == PLAT_OK);
    CHECK(strstr(v, "b.jsonl:501: referenceId missing or not a string") !=
          NULL);
    CHECK(strstr(v, "SECRET") == NULL);
    plat_free(v);
    v = server_field(t.s, "file-01501", "fullName");
    CHECK_STR(v, "Person 1501");
    plat_free(v);
    v = server_field(t.s, "file-02500", "phoneNumber");
    CHECK_STR(v, "31600002500");
    plat_free(v);

    /* again: every file is known in full, nothing read */
    CHECK_INT(ftest_run(&t), PLAT_OK);
    CHECK_INT(t.rep.per[0].pulled, 0);
    CHECK_INT(t.rep.per[0].rejected, 0);

    /* --full: every line read again, nothing changes */
    t.opt.full = 1;
    CHECK_INT(ftest_run(&t), PLAT_OK);
    CHECK_INT(t.rep.per[0].pulled, 0);
    CHECK_INT(t.rep.per[0].rejected, 1);
    CHECK_INT(regs_count(t.s), 2500);
    t.opt.full = 0;

    /* the office appends: only the new lines; a changed record and a
     * deletion mark */
    REQUIRE(write_records(&t, "c.jsonl", 2501, 2510) == PLAT_OK);
    REQUIRE(append_in(&t, "c.jsonl",
                      "{\"referenceId\":\"file-00002\",\"programId\":1,"
                      "\"status\":\"validated\",\"fullName\":\"Person 2\","
                      "\"phoneNumber\":\"31600000002\"}\n"
                      "{\"referenceId\":\"file-00005\","
                      "\"status\":\"deleted\"}\n") == PLAT_OK);
    CHECK_INT(ftest_run(&t), PLAT_OK);
    CHECK_INT(t.rep.per[0].pulled, 11);
    CHECK_INT(t.rep.per[0].gone, 1);
    CHECK_INT(regs_count(t.s), 2510);
    v = server_field(t.s, "file-00002", "status");
    CHECK_STR(v, "validated");
    plat_free(v);
    v = server_field(t.s, "file-00005", "status");
    CHECK_STR(v, "deleted");
    plat_free(v);
    v = server_field(t.s, "file-00005", "fullName");
    CHECK(v == NULL);
    plat_free(v);

    /* a file replaced by other content under the same name: read again */
    {
        char *path = plat_asprintf("%s/in/a.jsonl", t.stick);
        char *text = records(1, 10);

        REQUIRE(path && text);
        REQUIRE(plat_fs_write_atomic(path, text, strlen(text), 0600) ==
                PLAT_OK);
        plat_free(path);
        plat_free(text);
    }
    CHECK_INT(ftest_run(&t), PLAT_OK);
    /* its lines win again: file-00002 and file-00005 as a.jsonl has them */
    CHECK_INT(t.rep.per[0].pulled, 2);
    v = server_field(t.s, "file-00005", "status");
    CHECK_STR(v, "included");
    plat_free(v);
    REQUIRE(store_checkpoint_get(t.s, "file", "in/a.jsonl", &v) == PLAT_OK);
    CHECK_INT(file_cursor_parse(v, &cur), PLAT_OK);
    CHECK_INT(cur.lines, 10);
    plat_free(v);
    ftest_close(&t);
}

/* The lines of stick/out/site-a.jsonl as a JSON array (NULL: none). */
static cJSON *out_lines(struct ftest *t)
{
    char *path = plat_asprintf("%s/out/site-a.jsonl", t->stick), *text = NULL;
    char *line, *save = NULL;
    cJSON *arr = NULL;

    if (path && plat_fs_read_file(path, 64u << 20, &text, NULL) == PLAT_OK) {
        arr = cJSON_CreateArray();
        for (line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
            cJSON_AddItemToArray(arr, cJSON_Parse(line));
    }
    plat_free(text);
    plat_free(path);
    return arr;
}

static const cJSON *line_of(const cJSON *lines, const char *kind,
                            const char *ref)
{
    const cJSON *l;

    cJSON_ArrayForEach(l, lines)
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(l, "kind")),
                   kind) == 0 &&
            strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(l,
                                                            "referenceId")),
                   ref) == 0)
            return l;
    return NULL;
}

static int edit_one(struct store *s, const char *ref, const char *field,
                    const char *value)
{
    cJSON *chg = cJSON_CreateObject();
    int rc;

    cJSON_AddStringToObject(chg, field, value);
    rc = store_reg_edit_from(NULL, s, ref, chg, NULL, "device", "file");
    cJSON_Delete(chg);
    return rc;
}

static void test_export_once(void)
{
    struct ftest t;
    struct store_counts c;
    cJSON *fields, *lines;
    const cJSON *l;
    char ref[STORE_REF_MAX + 1];
    int64_t edit_seq;

    REQUIRE(ftest_open(&t));
    REQUIRE(write_records(&t, "a.jsonl", 1, 5) == PLAT_OK);
    CHECK_INT(ftest_run(&t), PLAT_OK);
    CHECK_INT(regs_count(t.s), 5);

    /* local work: a create, an edit, a status change, and an edit the
     * office changes too (a conflict: not written) */
    fields = cJSON_Parse("{\"fullName\":\"New person\","
                         "\"phoneNumber\":\"31699999999\"}");
    REQUIRE(store_reg_create_from(t.s, 1, fields, ref, "device", "file") ==
            PLAT_OK);
    cJSON_Delete(fields);
    REQUIRE(edit_one(t.s, "file-00001", "phoneNumber", "31611111111") ==
            PLAT_OK);
    REQUIRE(store_reg_set_status(t.s, "file-00002", "paused", "moved") ==
            PLAT_OK);
    /* status changes have no _from form: queued for 121, moved to file */
    REQUIRE(sqlite3_exec(store_db(t.s), "UPDATE outbox SET target = 'file' "
                         "WHERE kind = 'status'", NULL, NULL, NULL) ==
            SQLITE_OK);
    REQUIRE(edit_one(t.s, "file-00003", "phoneNumber", "31622222222") ==
            PLAT_OK);
    REQUIRE(append_in(&t, "b.jsonl",
                      "{\"referenceId\":\"file-00003\",\"programId\":1,"
                      "\"status\":\"included\",\"fullName\":\"Person 3\","
                      "\"phoneNumber\":\"31633333333\"}\n") == PLAT_OK);

    CHECK_INT(ftest_run(&t), PLAT_OK);
    CHECK_INT(t.rep.per[0].pushed, 3);
    CHECK_INT(t.rep.per[0].conflicts, 1);
    REQUIRE(store_counts(t.s, &c) == PLAT_OK);
    CHECK_INT(c.pending, 0);
    CHECK_INT(c.conflicts, 1);
    {
        cJSON *conf = NULL;

        REQUIRE(store_conflict_get(t.s, 1, &conf) == PLAT_OK);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(conf, "field")),
                  "phoneNumber");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(conf, "source")),
                  "file");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(conf, "server")),
                  "31633333333");
        cJSON_Delete(conf);
    }
    lines = out_lines(&t);
    REQUIRE(lines);
    CHECK_INT(cJSON_GetArraySize(lines), 3);
    l = line_of(lines, "create", ref);
    CHECK(l != NULL);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(l, "base")));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(l, "device")),
              "site-a");
    l = line_of(lines, "edit", "file-00001");
    REQUIRE(l);
    edit_seq = (int64_t)cJSON_GetObjectItem(l, "seq")->valuedouble;
    CHECK(edit_seq > 0);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                  cJSON_GetObjectItem(cJSON_GetObjectItem(l, "payload"),
                                      "data"), "phoneNumber")),
              "31611111111");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                  cJSON_GetObjectItem(l, "base"), "phoneNumber")),
              "31600000001");
    l = line_of(lines, "status", "file-00002");
    REQUIRE(l);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                  cJSON_GetObjectItem(l, "payload"), "status")), "paused");
    CHECK(line_of(lines, "edit", "file-00003") == NULL);
    cJSON_Delete(lines);

    /* again: nothing new */
    CHECK_INT(ftest_run(&t), PLAT_OK);
    CHECK_INT(t.rep.per[0].pushed, 0);
    lines = out_lines(&t);
    CHECK_INT(cJSON_GetArraySize(lines), 3);
    cJSON_Delete(lines);

    /* a crash between the write and the settle: the edit is pending
     * again, its line is already there: settled, not written twice */
    REQUIRE(store_outbox_set_state(t.s, edit_seq, "pending", NULL) ==
            PLAT_OK);
    CHECK_INT(ftest_run(&t), PLAT_OK);
    CHECK_INT(t.rep.per[0].pushed, 1);
    lines = out_lines(&t);
    CHECK_INT(cJSON_GetArraySize(lines), 3);
    cJSON_Delete(lines);
    REQUIRE(store_counts(t.s, &c) == PLAT_OK);
    CHECK_INT(c.pending, 0);

    /* export = false: operations stay pending */
    t.values[3] = "false";
    REQUIRE(edit_one(t.s, "file-00004", "fullName", "Other") == PLAT_OK);
    CHECK_INT(ftest_run(&t), PLAT_OK);
    REQUIRE(store_counts(t.s, &c) == PLAT_OK);
    CHECK_INT(c.pending, 1);
    lines = out_lines(&t);
    CHECK_INT(cJSON_GetArraySize(lines), 3);
    cJSON_Delete(lines);
    ftest_close(&t);
}

static void test_missing_folder_is_retry(void)
{
    struct ftest t;

    REQUIRE(ftest_open(&t));
    rm_tree(t.stick);
    CHECK_INT(ftest_run(&t), ERR_RETRY);
    CHECK(strstr(t.rep.per[0].error, "not found") != NULL);

    /* config errors name the key */
    t.values[1] = NULL;
    CHECK_INT(ftest_run(&t), ERR_CONFIG);
    CHECK_STR(t.rep.per[0].error, "[file] dir is not set");
    t.values[1] = t.stick;
    t.values[2] = "x";
    CHECK_INT(ftest_run(&t), ERR_CONFIG);
    CHECK(strstr(t.rep.per[0].error, "program_id") != NULL);
    t.values[2] = "1";
    t.values[4] = "../up";
    CHECK_INT(ftest_run(&t), ERR_CONFIG);
    CHECK(strstr(t.rep.per[0].error, "device") != NULL);
    ftest_close(&t);
}

#define FILE_ENGINE_TESTS , TEST(test_import_resume_reimport), \
    TEST(test_export_once), TEST(test_missing_folder_is_retry)

TEST_MAIN(TEST(test_parse_ok), TEST(test_parse_bad), TEST(test_format_op),
          TEST(test_names), TEST(test_cursor) FILE_ENGINE_TESTS)
