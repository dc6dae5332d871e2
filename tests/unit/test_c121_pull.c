/*
 * test_c121_pull.c - the pull side of the 121 connector (program,
 * registrations, events, payments, vouchers) against the stateful fake 121
 * server (tests/fake121/fake121.py on 127.0.0.1, one fresh server per
 * test), with its /_test/ endpoints for faults, server-side edits and
 * request statistics.
 */
#include "testlib.h"
#include "testutil.h"

#include "c121.h"
#include "c121_http.h"
#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_random.h"
#include "plat_time.h"
#include "store.h"
#include "store_program.h"
#include "store_registrations.h"
#include "store_sync.h"
#include "sync_connector.h"
#include "sync_engine.h"
#include "sync_http.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FAKE121_SERVER
#error "FAKE121_SERVER must name tests/fake121/fake121.py"
#endif
#ifndef FAKE121_PYTHON
#define FAKE121_PYTHON "python3"
#endif

#define USER "sync-bot@example.org"
#define PASSWORD "s3cret"
#define PROGRAM 3

/* ---- one fake server, one store, one connector per test ----------------- */

struct env {
    pid_t pid;
    char dir[64];
    char base[64];
    struct sync_http *ctl;      /* the last /_test/ call, no login */
    struct store *store;
    struct sync_http *http;
    struct sync_engine_options opt;
    struct sync_summary sum;
    int program_id;             /* [121] program_id of the connector */
    char program_text[16];
    const char *values[6];      /* aligned with sync_connector_c121.config */
    struct sync_source_conf conf;
    struct sync_ctx *ctx;
    struct c121 c;
    int progress_calls;
    size_t max_response;        /* of the connector's client; 0: default */
};

static struct env E;

static void on_progress(void *payload, const char *phase, int64_t done,
                        int64_t total, int64_t bytes)
{
    (void)phase;
    (void)done;
    (void)total;
    (void)bytes;
    ((struct env *)payload)->progress_calls++;
}

extern const struct sync_connector sync_connector_c121;

/* Drop the connector's context and state (not the client). */
static void env_disconnect(void)
{
    sync_ctx_destroy(E.ctx);
    E.ctx = NULL;
    memset(&E.c, 0, sizeof(E.c));
}

static void env_stop(void)
{
    env_disconnect();
    sync_http_destroy(E.http);
    sync_http_destroy(E.ctl);
    store_close(E.store);
    if (E.pid > 0) {
        kill(E.pid, SIGTERM);
        waitpid(E.pid, NULL, 0);
    }
    if (E.dir[0])
        testutil_rmdir(E.dir);
    memset(&E, 0, sizeof(E));
    plat_random_cleanup();
}

/* Make (or remake) the connector's HTTP client, its [121] section, the
 * engine's context for it and the connector's state, as cb_init would. */
static int env_connect(void)
{
    struct sync_http_options o = SYNC_HTTP_OPTIONS_INIT;

    env_disconnect();
    sync_http_destroy(E.http);
    E.http = NULL;
    o.base_url = E.base;
    o.proxy = "";
    o.service_name = "121";
    o.max_attempts = E.opt.max_attempts > 0 ? E.opt.max_attempts : 3;
    o.backoff_base_ms = 10;
    o.backoff_cap_ms = 2000;
    o.max_response = E.max_response;
    /* As the engine gives them (engine.c make_http). */
    o.low_speed_time_s = E.opt.low_speed_time_s;
    if (E.opt.deadline_ms > 0)
        o.deadline_mono_ms = plat_time_mono_ms() + E.opt.deadline_ms;
    if (sync_http_create(&E.http, &o) != PLAT_OK ||
        c121_http_install(E.http, USER, PASSWORD) != PLAT_OK)
        return -1;
    snprintf(E.program_text, sizeof(E.program_text), "%d", E.program_id);
    E.values[0] = "true";
    E.values[1] = E.base;
    E.values[2] = E.program_text;
    E.values[3] = USER;
    E.values[4] = NULL;
    E.values[5] = PASSWORD;
    E.conf.connector = &sync_connector_c121;
    E.conf.enabled = 1;
    E.conf.values = E.values;
    if (sync_ctx_create(&E.ctx, E.store, &E.conf, &E.opt, E.http, &E.sum) !=
        PLAT_OK)
        return -1;
    E.c.ctx = E.ctx;
    E.c.http = E.http;
    E.c.opt = &E.opt;
    E.c.program_id = E.program_id;
    snprintf(E.c.prefix, sizeof(E.c.prefix), "/api/programs/%d",
             E.program_id);
    snprintf(E.c.user, sizeof(E.c.user), "%s", USER);
    return 0;
}

/* Start a fake with `regs` seeded registrations (and its 2 seeded
 * payments), an empty store and a connector. */
static int env_start(int regs)
{
    struct store_options so = {STORE_CREATE, 0, 0, 0};
    char portfile[96], store_path[96], nregs[16], *text = NULL;
    int port = 0, i;

    static int registered;

    /* A test that stopped at a REQUIRE left its server running. */
    env_stop();
    if (!registered++)
        atexit(env_stop);
    snprintf(E.dir, sizeof(E.dir), "/tmp/test_c121_pull.XXXXXX");
    if (!mkdtemp(E.dir))
        return -1;
    snprintf(portfile, sizeof(portfile), "%s/port", E.dir);
    snprintf(nregs, sizeof(nregs), "%d", regs);
    E.pid = fork();
    if (E.pid < 0)
        return -1;
    if (E.pid == 0) {
        execl(FAKE121_PYTHON, FAKE121_PYTHON, FAKE121_SERVER, "--port", "0",
              "--port-file", portfile, "--seed-registrations", nregs,
              (char *)NULL);
        _exit(127);
    }
    /* Up to 2 minutes (a loaded machine, or this test under qemu), but
     * not a moment longer than the fake lives. */
    for (i = 0; i < 4800; i++) {
        if (plat_fs_read_file(portfile, 64, &text, NULL) == PLAT_OK)
            break;
        if (waitpid(E.pid, NULL, WNOHANG) == E.pid) {
            E.pid = 0;
            break;
        }
        plat_time_sleep_ms(25);
    }
    plat_err_clear();
    if (!text || sscanf(text, "%d", &port) != 1) {
        plat_free(text);
        fprintf(stderr, "fake121 did not start\n");
        return -1;
    }
    plat_free(text);
    snprintf(E.base, sizeof(E.base), "http://127.0.0.1:%d", port);
    snprintf(store_path, sizeof(store_path), "%s/agent.db", E.dir);
    so.synchronous_full = 0;
    if (store_open(&E.store, store_path, &so) != PLAT_OK)
        return -1;
    E.program_id = PROGRAM;
    E.opt.progress = on_progress;
    E.opt.progress_payload = &E;
    return env_connect();
}

/* A /_test/ call; returns the parsed answer (caller deletes) or NULL.
 * Each call opens a new connection: the fake answers a second request on
 * a kept-alive connection only after a delayed ACK (~40 ms; it writes the
 * head and the body separately, with Nagle on), which made the setup of
 * a hundred edits take seconds. The stats of a request are recorded just
 * after its answer is sent, hence the short pause before reading them. */
static cJSON *ctl(const char *method, const char *path, const char *json)
{
    struct sync_http_options o = SYNC_HTTP_OPTIONS_INIT;
    struct sync_http_response r;
    cJSON *out = NULL;
    int rc;

    sync_http_destroy(E.ctl);
    E.ctl = NULL;
    o.base_url = E.base;
    o.proxy = "";
    o.max_attempts = 1;
    if (sync_http_create(&E.ctl, &o) != PLAT_OK)
        return NULL;
    if (strncmp(path, "/_test/state", 12) == 0 ||
        strncmp(path, "/_test/requests", 15) == 0)
        plat_time_sleep_ms(20);
    rc = sync_http_request(E.ctl, method, path,
                           json ? "application/json" : NULL, json,
                           json ? strlen(json) : 0, NULL, &r);
    if (rc == PLAT_OK && r.status == 200)
        out = cJSON_Parse(r.body.data ? r.body.data : "");
    else
        fprintf(stderr, "ctl %s %s: rc %d status %ld %s\n", method, path, rc,
                r.status, r.body.data ? r.body.data : "");
    sync_http_response_dispose(&r);
    return out;
}

static int ctl_ok(const char *method, const char *path, const char *json)
{
    cJSON *j = ctl(method, path, json);

    cJSON_Delete(j);
    return j != NULL;
}

static double num(const cJSON *obj, const char *path)
{
    char key[64];
    const char *dot;

    while ((dot = strchr(path, '.')) != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
        obj = cJSON_GetObjectItemCaseSensitive(obj, key);
        path = dot + 1;
    }
    obj = cJSON_GetObjectItemCaseSensitive(obj, path);
    return cJSON_IsNumber(obj) ? obj->valuedouble : 0;
}

/* A number of /_test/state, e.g. "programs.3.registrations_live". */
static int64_t state_num(const char *path)
{
    cJSON *st = ctl("GET", "/_test/state", NULL);
    int64_t v = (int64_t)num(st, path);

    cJSON_Delete(st);
    return v;
}

/* /_test/state's count of `key` in table `table` ("by_route",
 * "by_status"): requests since the last reset-stats. */
static int64_t stats_count(const char *table, const char *key)
{
    cJSON *st = ctl("GET", "/_test/state", NULL);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(st, table), key);
    int64_t n = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;

    cJSON_Delete(st);
    return n;
}

/* Requests of one route ("GET /api/programs/{pid}/registrations"). */
static int64_t route_count(const char *route)
{
    return stats_count("by_route", route);
}

static int64_t status_count(const char *status)
{
    return stats_count("by_status", status);
}

/* The paths of the last requests matching `needle`, oldest first, written
 * into paths[] (each allocated); returns how many. */
static int request_paths(const char *needle, char **paths, int max)
{
    cJSON *j = ctl("GET", "/_test/requests?limit=200", NULL);
    const cJSON *r;
    int n = 0;

    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(j, "requests")) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "path");
        if (n < max && cJSON_IsString(p) && strstr(p->valuestring, needle))
            paths[n++] = plat_strdup(p->valuestring);
    }
    cJSON_Delete(j);
    return n;
}

static void free_paths(char **paths, int n)
{
    for (int i = 0; i < n; i++)
        plat_free(paths[i]);
}

/* The number after "filter.id=$gt:" in a path, -1 if none. */
static long long gt_of(const char *path)
{
    const char *p = path ? strstr(path, "filter.id=$gt:") : NULL;

    return p ? atoll(p + strlen("filter.id=$gt:")) : -1;
}

static int64_t sql_int(const char *sql)
{
    return testutil_sql_int(E.store, sql);
}

static int64_t reg_count(void)
{
    int64_t n = -1;

    store_reg_count(E.store, &n);
    return n;
}

static int64_t ckpt(const char *name)
{
    int64_t v = -1;

    store_checkpoint_get_i64(E.store, C121_SOURCE, name, -1, &v);
    return v;
}

/* 1 when checkpoint `name` is set (any text), else 0. */
static int ckpt_text_exists(const char *name)
{
    char *text = NULL;
    int rc = store_checkpoint_get(E.store, C121_SOURCE, name, &text);

    plat_free(text);
    plat_err_clear();
    return rc == PLAT_OK;
}

static const char *str_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_null(const cJSON *obj, const char *key)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(obj, key));
}

static int64_t body_bytes(void)
{
    struct sync_http_stats st;

    sync_http_stats(E.http, &st);
    return st.bytes_down_body;
}

static int64_t wire_bytes(void)
{
    struct sync_http_stats st;

    sync_http_stats(E.http, &st);
    return st.bytes_down_wire + st.bytes_up_wire;
}

/* The n-th live registration of the store in id order (1-based). */
static char *live_ref(int n)
{
    sqlite3_stmt *st = NULL;
    char *ref = NULL;

    if (sqlite3_prepare_v2(store_db(E.store),
                           "SELECT reference_id FROM registrations WHERE "
                           "status <> 'deleted' AND id IS NOT NULL ORDER BY "
                           "id LIMIT 1 OFFSET ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int(st, 1, n - 1);
        if (sqlite3_step(st) == SQLITE_ROW)
            ref = plat_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return ref;
}

static int first_pull(void)
{
    int rc = c121_pull_program(&E.c);

    if (rc == PLAT_OK)
        rc = c121_pull_registrations(&E.c);
    if (rc != PLAT_OK)
        fprintf(stderr, "first pull: %d %s\n", rc, plat_err_msg());
    return rc;
}

/* ---- tests -------------------------------------------------------------- */

static void test_first_pull_then_304(void)
{
    cJSON *prog = NULL, *reg = NULL;
    char *etag = NULL, *paths[4];
    int64_t live, t0, ms, max_id = 0, body0;
    struct sync_http_stats hs;
    int n;

    REQUIRE(env_start(2500) == 0);
    live = state_num("programs.3.registrations_live");
    REQUIRE(live > 2000);

    t0 = plat_time_mono_ms();
    CHECK_INT(c121_pull_program(&E.c), PLAT_OK);
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    ms = plat_time_mono_ms() - t0;
    /* Nothing updates the summary's transport counts in a context driven
     * by hand: they come from the client, as the engine takes them. */
    sync_http_stats(E.http, &hs);
    printf("# first pull of %lld registrations: %lld ms, %lld bytes on the "
           "wire, %lld requests\n", (long long)live, (long long)ms,
           (long long)(hs.bytes_down_wire + hs.bytes_up_wire),
           (long long)hs.requests);
    CHECK_INT(reg_count(), live);
    CHECK_INT(E.sum.pulled, live);
    CHECK(hs.bytes_down_wire + hs.bytes_up_wire > 0 && hs.requests >= 4);
    CHECK(E.progress_calls >= live / 1000);
    CHECK_INT(ckpt("pull.complete"), 1);
    CHECK_INT(store_reg_max_server_id(E.store, PROGRAM, &max_id), PLAT_OK);
    CHECK_INT(ckpt("pull.last_id"), max_id);
    CHECK_INT(route_count("GET /api/programs/{pid}/registrations"), 1);

    /* Server ids, program with its ETag, templates, events cursor. */
    CHECK_INT(store_reg_get(E.store, "ref-00001", &reg), PLAT_OK);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(reg, "_serverId")));
    CHECK_INT(store_program_get(E.store, PROGRAM, &prog, &etag), PLAT_OK);
    CHECK(etag && etag[0]);
    CHECK(sql_int("SELECT count(*) FROM message_templates") > 0);
    CHECK(sql_int("SELECT count(*) FROM fsp_configurations") == 2);
    CHECK(sql_int("SELECT count(*) FROM sync_checkpoints WHERE name = "
                  "'events.cursor'") == 1);
    cJSON_Delete(reg);
    cJSON_Delete(prog);
    plat_free(etag);

    /* The rest of a first cycle. */
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    CHECK_INT(c121_pull_payments(&E.c), PLAT_OK);
    CHECK_INT(E.sum.pulled, live);

    /* Second cycle: program, templates and payments answer 304 (an empty
     * body: the fake counts a 304 under its 200); registrations are only
     * asked for above the largest id. */
    CHECK(ctl_ok("POST", "/_test/reset-stats", "{}"));
    body0 = body_bytes();
    CHECK_INT(c121_pull_program(&E.c), PLAT_OK);
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(c121_pull_payments(&E.c), PLAT_OK);
    CHECK_INT(body_bytes() - body0, 0);
    CHECK_INT(route_count("GET /api/programs/{pid}/registrations"), 0);
    CHECK_INT(route_count("GET /api/programs/{pid}/payments/{payid}/"
                          "transactions"), 0);
    CHECK_INT(state_num("requests"), 3);
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    n = request_paths("/registrations?", paths, 4);
    CHECK(n == 1 && gt_of(paths[0]) == max_id);
    free_paths(paths, n);
    CHECK_INT(E.sum.pulled, live);
    CHECK_INT(reg_count(), live);
    env_stop();
}

static void test_windows(void)
{
    int64_t live, windows;
    char *paths[16];
    int n;

    REQUIRE(env_start(1200) == 0);
    live = state_num("programs.3.registrations_live");
    E.opt.window = 500;
    E.opt.batch = 150;
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), live);
    windows = live / 500 + 1;
    CHECK_INT(route_count("GET /api/programs/{pid}/registrations"), windows);
    n = request_paths("/registrations?", paths, 16);
    CHECK_INT(n, windows);
    for (int i = 0; i < n; i++)
        CHECK(strstr(paths[i], "sortBy=id:ASC") && strstr(paths[i],
                                                          "limit=500"));
    CHECK(n >= 2 && gt_of(paths[0]) == 0 && gt_of(paths[1]) > 0);
    free_paths(paths, n);
    CHECK_INT(ckpt("pull.complete"), 1);
    env_stop();
}

/* A connection cut mid-answer: the committed batches stay, the walk
 * resumes at once after the last committed id. */
static void test_drop_resumes(void)
{
    int64_t live, last;
    char *paths[8];
    int n;

    REQUIRE(env_start(1200) == 0);
    live = state_num("programs.3.registrations_live");
    E.opt.batch = 100;
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"drop_after_bytes\":300000,"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), live);
    CHECK_INT(E.sum.pulled, live);
    n = request_paths("/registrations?", paths, 8);
    REQUIRE(n == 2);
    CHECK_INT(gt_of(paths[0]), 0);
    /* ~430 records arrived before the cut: all but the open batch
     * stayed. */
    CHECK(gt_of(paths[1]) > 300);
    free_paths(paths, n);
    env_stop();

    /* Without attempts left the phase stops with ERR_RETRY; the next run
     * starts after the checkpoint. */
    REQUIRE(env_start(1200) == 0);
    live = state_num("programs.3.registrations_live");
    E.opt.batch = 100;
    E.opt.max_attempts = 1;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"drop_after_bytes\":300000,"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), ERR_RETRY);
    last = ckpt("pull.last_id");
    CHECK(last > 300);
    CHECK(reg_count() > 0 && reg_count() % 100 == 0);
    CHECK_INT(ckpt("pull.complete"), -1);
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), live);
    n = request_paths("/registrations?", paths, 8);
    REQUIRE(n == 2);
    CHECK_INT(gt_of(paths[1]), last);
    free_paths(paths, n);
    env_stop();
}

static void test_malformed(void)
{
    int64_t live;

    REQUIRE(env_start(600) == 0);
    live = state_num("programs.3.registrations_live");
    E.opt.batch = 100;
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"malformed_json\":true,"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), ERR_INVALID);
    CHECK_INT(reg_count(), 0);
    CHECK_INT(ckpt("pull.complete"), -1);

    /* Cut in half: the complete batches of the first half are kept. */
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"truncate_json\":true,"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), ERR_INVALID);
    CHECK(reg_count() >= 200 && reg_count() < live);
    CHECK_INT(reg_count() % 100, 0);
    CHECK_INT(sql_int("SELECT max(id) FROM registrations"),
              ckpt("pull.last_id"));

    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), live);
    CHECK_INT(ckpt("pull.complete"), 1);
    env_stop();
}

static void test_reauth_and_429(void)
{
    int64_t t0;

    REQUIRE(env_start(100) == 0);
    CHECK_INT(c121_pull_program(&E.c), PLAT_OK);
    CHECK(ctl_ok("POST", "/_test/faults", "{\"expire_tokens\":true}"));
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(route_count("POST /api/users/login"), 2);
    CHECK_INT(reg_count(), state_num("programs.3.registrations_live"));

    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"rate_limit_429\":1,\"retry_after\":1,"
                 "\"path_contains\":\"/payments\"}"));
    t0 = plat_time_mono_ms();
    CHECK_INT(c121_pull_payments(&E.c), PLAT_OK);
    CHECK(plat_time_mono_ms() - t0 >= 900);
    CHECK_INT(status_count("429"), 1);
    CHECK_INT(sql_int("SELECT count(*) FROM payments"), 2);
    env_stop();
}

static void test_program_not_found(void)
{
    REQUIRE(env_start(0) == 0);
    E.program_id = 9;
    REQUIRE(env_connect() == 0);
    CHECK_INT(c121_pull_program(&E.c), ERR_NOTFOUND);
    CHECK_STR(plat_err_msg(), "121 program 9 not found");
    env_stop();
}

/* Server-side edits, a status change, a deletion, an FSP change and a new
 * registration arrive through the events. */
static void test_incremental(void)
{
    cJSON *reg = NULL, *srv = NULL, *changes = NULL;
    char *refs[120], *paths[8], body[512], phone[16];
    int64_t live, t0, ms, bytes, events0, max_before = 0, max_after = 0;
    int i, n, edits = 0;

    REQUIRE(env_start(2500) == 0);
    REQUIRE(first_pull() == PLAT_OK);
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    CHECK_INT(E.sum.events, 0);
    live = reg_count();
    for (i = 0; i < 105; i++) {
        refs[i] = live_ref(i + 1);
        REQUIRE(refs[i]);
    }

    /* A pending local edit of another field of refs[0]. */
    changes = cJSON_Parse("{\"householdSize\":\"9\"}");
    CHECK_INT(store_reg_edit(E.store, refs[0], changes, "on site"),
              PLAT_OK);
    cJSON_Delete(changes);

    /* 100 portal edits of phone numbers, one of a full name. */
    for (i = 0; i < 100; i++) {
        snprintf(phone, sizeof(phone), "3169%07d", i);
        snprintf(body, sizeof(body), "{\"referenceId\":\"%s\",\"data\":"
                 "{\"phoneNumber\":\"%s\"},\"reason\":\"portal\"}", refs[i],
                 phone);
        edits += ctl_ok("POST", "/_test/edit", body);
    }
    CHECK_INT(edits, 100);
    snprintf(body, sizeof(body), "{\"referenceId\":\"%s\",\"data\":"
             "{\"fullName\":\"Renamed Person\"}}", refs[1]);
    CHECK(ctl_ok("POST", "/_test/edit", body));
    snprintf(body, sizeof(body), "{\"referenceId\":\"%s\",\"status\":"
             "\"declined\",\"reason\":\"x\",\"force\":true}", refs[100]);
    CHECK(ctl_ok("POST", "/_test/status", body));
    snprintf(body, sizeof(body), "{\"referenceId\":\"%s\",\"status\":"
             "\"deleted\",\"reason\":\"gone\",\"force\":true}", refs[101]);
    CHECK(ctl_ok("POST", "/_test/status", body));
    CHECK_INT(store_reg_server_get(E.store, refs[102], &srv), PLAT_OK);
    snprintf(body, sizeof(body), "{\"referenceId\":\"%s\",\"data\":"
             "{\"programFspConfigurationName\":\"%s\"}}", refs[102],
             strcmp(str_of(srv, "programFspConfigurationName"),
                    "bank-transfer") == 0 ? "Intersolve-voucher-paper"
                                          : "bank-transfer");
    cJSON_Delete(srv);
    srv = NULL;
    CHECK(ctl_ok("POST", "/_test/edit", body));
    CHECK(ctl_ok("POST", "/_test/seed", "{\"registrations\":1}"));
    CHECK_INT(store_reg_max_server_id(E.store, PROGRAM, &max_before),
              PLAT_OK);

    /* The incremental pull, with the real server's costs. */
    CHECK(ctl_ok("POST", "/_test/config", "{\"cost_model\":true,"
                 "\"cost_scale\":1.0}"));
    CHECK(ctl_ok("POST", "/_test/reset-stats", "{}"));
    events0 = E.sum.events;
    bytes = wire_bytes();
    t0 = plat_time_mono_ms();
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    ms = plat_time_mono_ms() - t0;
    bytes = wire_bytes() - bytes;
    printf("# incremental pull after 104 server changes (store of %lld): "
           "%lld ms, %lld bytes on the wire\n", (long long)live,
           (long long)ms, (long long)bytes);
    /* The time is a benchmark number (bench_sync), not a test: the
     * suite runs on a loaded machine. The bytes are deterministic. */
    CHECK(bytes < 200 * 1024);
    CHECK_INT(E.sum.events - events0, 104);
    CHECK(ctl_ok("POST", "/_test/config", "{\"cost_model\":false}"));

    /* The edit and the pending local edit of another field both show. */
    CHECK_INT(store_reg_get(E.store, refs[0], &reg), PLAT_OK);
    CHECK_STR(str_of(reg, "phoneNumber"), "31690000000");
    CHECK_STR(str_of(reg, "householdSize"), "9");
    cJSON_Delete(reg);
    reg = NULL;
    CHECK_INT(store_reg_server_get(E.store, refs[0], &srv), PLAT_OK);
    CHECK_STR(str_of(srv, "phoneNumber"), "31690000000");
    CHECK(!str_of(srv, "householdSize") ||
          strcmp(str_of(srv, "householdSize"), "9") != 0);
    cJSON_Delete(srv);
    srv = NULL;
    /* The name follows fullName; numbers keep their type. */
    CHECK_INT(store_reg_server_get(E.store, refs[1], &srv), PLAT_OK);
    CHECK_STR(str_of(srv, "fullName"), "Renamed Person");
    CHECK_STR(str_of(srv, "name"), "Renamed Person");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
        srv, "paymentAmountMultiplier")));
    cJSON_Delete(srv);
    srv = NULL;
    CHECK_INT(store_reg_get(E.store, refs[100], &reg), PLAT_OK);
    CHECK_STR(str_of(reg, "status"), "declined");
    cJSON_Delete(reg);
    reg = NULL;
    /* Deleted: status and erased attributes. */
    CHECK_INT(store_reg_get(E.store, refs[101], &reg), PLAT_OK);
    CHECK_STR(str_of(reg, "status"), "deleted");
    CHECK(is_null(reg, "fullName") && is_null(reg, "phoneNumber"));
    CHECK_STR(str_of(reg, "referenceId"), refs[101]);
    cJSON_Delete(reg);
    reg = NULL;
    /* FSP change: id, label and fspName from the program. */
    CHECK_INT(store_reg_server_get(E.store, refs[102], &srv), PLAT_OK);
    if (strcmp(str_of(srv, "programFspConfigurationName"),
               "bank-transfer") == 0) {
        CHECK_STR(str_of(srv, "fspName"), "Excel");
        CHECK_INT(num(srv, "programFspConfigurationId"), 3);
        CHECK_STR(str_of(cJSON_GetObjectItemCaseSensitive(
                             srv, "programFspConfigurationLabel"), "en"),
                  "Bank transfer (Excel)");
    } else {
        CHECK_STR(str_of(srv, "fspName"), "Intersolve-voucher-paper");
    }
    cJSON_Delete(srv);
    srv = NULL;
    /* The new registration. */
    CHECK_INT(reg_count(), live + 1);
    CHECK_INT(store_reg_max_server_id(E.store, PROGRAM, &max_after),
              PLAT_OK);
    CHECK(max_after > max_before);
    CHECK_INT(route_count("GET /api/programs/{pid}/registrations"), 1);
    n = request_paths("/registrations?", paths, 8);
    CHECK(n == 1 && gt_of(paths[0]) == max_before);
    free_paths(paths, n);

    /* Next cycle: the overlap holds only seen events; nothing applied
     * twice. The one after starts at the cursor itself. */
    events0 = E.sum.events;
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    CHECK_INT(E.sum.events, events0);
    CHECK_INT(ckpt("events.settled"), 1);
    CHECK(ctl_ok("POST", "/_test/reset-stats", "{}"));
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    CHECK_INT(E.sum.events, events0);
    n = request_paths("/registration-events?", paths, 8);
    CHECK_INT(n, 1);
    if (n == 1) {
        char *cursor = NULL;
        CHECK_INT(store_checkpoint_get(E.store, C121_SOURCE, "events.cursor",
                                       &cursor), PLAT_OK);
        CHECK(cursor && strstr(paths[0], cursor) != NULL);
        plat_free(cursor);
    }
    free_paths(paths, n);
    CHECK_INT(ckpt("events.last_id"), state_num("programs.3.last_event_id"));
    for (i = 0; i < 105; i++)
        plat_free(refs[i]);
    env_stop();
}

/* Events in several committed batches, and an interrupted events pull
 * applies the rest next time without applying anything twice. */
static void test_events_batches(void)
{
    char body[256], phone[16];
    int i;

    REQUIRE(env_start(300) == 0);
    REQUIRE(first_pull() == PLAT_OK);
    E.opt.batch = 7;
    for (i = 1; i <= 40; i++) {
        char *ref = live_ref(i);
        snprintf(phone, sizeof(phone), "3168%07d", i);
        snprintf(body, sizeof(body), "{\"referenceId\":\"%s\",\"data\":"
                 "{\"phoneNumber\":\"%s\"}}", ref, phone);
        CHECK(ctl_ok("POST", "/_test/edit", body));
        plat_free(ref);
    }
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"drop_after_bytes\":4000,"
                 "\"path_contains\":\"/registration-events\"}"));
    E.opt.max_attempts = 1;
    REQUIRE(env_connect() == 0);
    CHECK_INT(c121_pull_events(&E.c), ERR_RETRY);
    CHECK(E.sum.events > 0 && E.sum.events < 40 && E.sum.events % 7 == 0);
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    CHECK_INT(E.sum.events, 40);

    /* With attempts left, a cut answer is asked for again at once. */
    for (i = 41; i <= 80; i++) {
        char *ref = live_ref(i);
        snprintf(phone, sizeof(phone), "3168%07d", i);
        snprintf(body, sizeof(body), "{\"referenceId\":\"%s\",\"data\":"
                 "{\"phoneNumber\":\"%s\"}}", ref, phone);
        CHECK(ctl_ok("POST", "/_test/edit", body));
        plat_free(ref);
    }
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"drop_after_bytes\":4000,"
                 "\"path_contains\":\"/registration-events\"}"));
    E.opt.max_attempts = 3;
    REQUIRE(env_connect() == 0);
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    CHECK_INT(E.sum.events, 80);
    CHECK_INT(route_count("GET /api/programs/{pid}/registration-events"),
              4);
    env_stop();
}

/* A first pull that reads all `live` registrations and completes. */
static void check_whole_pull(int64_t live)
{
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), live);
    CHECK_INT(ckpt("pull.complete"), 1);
}

/* A streamed window is held one record at a time, so the client's cap
 * for an answer held whole (here 300 KB) does not cut it: 1,160 records
 * of ~0.7 KB come in one request. */
static void test_window_past_the_whole_answer_cap(void)
{
    int64_t live;

    REQUIRE(env_start(1200) == 0);
    live = state_num("programs.3.registrations_live");
    E.opt.batch = 100;
    E.opt.window = 1200;
    E.max_response = 300000;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/reset-stats", "{}"));
    check_whole_pull(live);
    CHECK_INT(route_count("GET /api/programs/{pid}/registrations"), 1);
    env_stop();
}

/* A window larger than its size cap (records of 6 KB on average, over
 * the 4 KiB a large window allows): the committed batches stay and the
 * walk goes on with smaller windows. */
static void test_window_over_cap(void)
{
    static char fault[6200];
    char pad[6001];
    int64_t live;

    REQUIRE(env_start(1200) == 0);
    live = state_num("programs.3.registrations_live");
    E.opt.batch = 100;
    E.opt.window = 1200;
    E.max_response = 300000;
    REQUIRE(env_connect() == 0);
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(fault, sizeof(fault), "{\"body_replace\":{\"old\":"
             "\"\\\"status\\\":\",\"new\":\"\\\"note\\\":\\\"%s\\\","
             "\\\"status\\\":\"},\"path_contains\":\"/registrations?\"}",
             pad);
    CHECK(ctl_ok("POST", "/_test/faults", fault));
    check_whole_pull(live);
    /* The padded window cut at its cap, then one of 600. */
    CHECK(route_count("GET /api/programs/{pid}/registrations") >= 2);
    env_stop();
}

/* A window whose answer does not start before the link gives up (the
 * server builds the whole window first): the walk asks for half as many
 * rows instead of failing after the client's retries. */
static void test_window_halved_when_no_answer_starts(void)
{
    int64_t live;

    REQUIRE(env_start(1200) == 0);
    live = state_num("programs.3.registrations_live");
    E.opt.window = 1600;
    E.opt.batch = 100;
    E.opt.max_attempts = 2;
    E.opt.low_speed_time_s = 1;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"latency_ms\":4000,\"path_contains\":\"limit=1600\"}"));
    CHECK(ctl_ok("POST", "/_test/reset-stats", "{}"));
    check_whole_pull(live);
    /* The tries of 1,600 rows may still be asleep in the fake (it counts
     * a request when it answers): at least the two of 800. */
    CHECK(route_count("GET /api/programs/{pid}/registrations") >= 2);
    env_stop();
}

/* New registrations on the server, some deleted again, all with events:
 * the new-people read brings the live ones, and the deleted ones are not
 * asked for one by one (filter.id=$eq: would not list them either; a
 * month's catch-up spent 200 requests on them). */
static void test_new_people_deleted_again_are_not_read_by_id(void)
{
    char *paths[8];
    int64_t live;
    int n;

    REQUIRE(env_start(300) == 0);
    REQUIRE(first_pull() == PLAT_OK);
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    CHECK(ctl_ok("POST", "/_test/clock", "{\"advance_ms\":120000}"));
    CHECK(ctl_ok("POST", "/_test/seed", "{\"registrations\":400}"));
    live = state_num("programs.3.registrations_live");
    REQUIRE(live < 700 - 3); /* the seed deletes ~3 % again */
    CHECK(ctl_ok("POST", "/_test/reset-stats", "{}"));
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), live);
    n = request_paths("filter.id=$eq:", paths, 8);
    CHECK_INT(n, 0);
    free_paths(paths, n);
    CHECK_INT(ckpt_text_exists("events.unknown"), 0);
    env_stop();
}

/* Fault harness seed 20170: two office registrations whose events fall
 * before the cursor (121 backdates `created` on imports; the fake's later
 * seeds do too), then one with a higher id that the device reads alone,
 * as it does its own creates (by referenceId). The new-people read
 * started above the largest stored id and never brought the two; it
 * starts at the walk frontier now. */
static void test_new_people_below_a_registration_read_alone(void)
{
    const char *alone[] = {"ref-00303"};
    unsigned char found[1] = {0};
    int64_t live;

    REQUIRE(env_start(300) == 0);
    REQUIRE(first_pull() == PLAT_OK);
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    CHECK(ctl_ok("POST", "/_test/seed", "{\"registrations\":3}"));
    live = state_num("programs.3.registrations_live");
    CHECK_INT(c121_fetch_by_refs(&E.c, alone, 1, found), PLAT_OK);
    CHECK_INT(found[0], 1);
    CHECK_INT(c121_pull_events(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), live);
    /* The next cycle starts from what this one read. */
    CHECK_INT(ckpt("new.last_id"), state_num("programs.3.max_id"));
    env_stop();
}

static void test_full_reconcile(void)
{
    cJSON *reg = NULL;
    char *gone, *edited, body[256], *paths[16], *cursor0 = NULL;
    char *cursor1 = NULL;
    int64_t live, last;
    int n;

    REQUIRE(env_start(500) == 0);
    REQUIRE(first_pull() == PLAT_OK);
    live = reg_count();
    gone = live_ref(10);
    edited = live_ref(20);
    REQUIRE(gone && edited);
    snprintf(body, sizeof(body), "{\"referenceId\":\"%s\",\"status\":"
             "\"deleted\",\"reason\":\"gone\",\"force\":true}", gone);
    CHECK(ctl_ok("POST", "/_test/status", body));
    snprintf(body, sizeof(body), "{\"referenceId\":\"%s\",\"data\":"
             "{\"phoneNumber\":\"31677777777\"}}", edited);
    CHECK(ctl_ok("POST", "/_test/edit", body));

    /* An interrupted reconcile resumes from full.last_id. It starts a
     * minute later on the server's clock, in a new session. */
    CHECK_INT(store_checkpoint_get(E.store, C121_SOURCE, "events.cursor",
                                   &cursor0), PLAT_OK);
    CHECK(ctl_ok("POST", "/_test/clock", "{\"advance_ms\":60000}"));
    E.opt.full = 1;
    E.opt.window = 200;
    E.opt.batch = 50;
    E.opt.max_attempts = 1;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"drop_after_bytes\":60000,"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK(ctl_ok("POST", "/_test/reset-stats", "{}"));
    CHECK_INT(c121_pull_registrations(&E.c), ERR_RETRY);
    last = ckpt("full.last_id");
    CHECK(last > 0);
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    n = request_paths("/registrations?", paths, 16);
    CHECK(n >= 3 && gt_of(paths[0]) == 0 && gt_of(paths[1]) == last);
    free_paths(paths, n);
    CHECK_INT(ckpt("full.last_id"), -1);
    CHECK_INT(ckpt("pull.complete"), 1);
    /* The events cursor moved up to the start of the reconcile. */
    CHECK_INT(store_checkpoint_get(E.store, C121_SOURCE, "events.cursor",
                                   &cursor1), PLAT_OK);
    CHECK(cursor0 && cursor1 && strcmp(cursor1, cursor0) > 0);
    plat_free(cursor0);
    plat_free(cursor1);

    /* Without any event: the deleted one is marked, the edit is read. */
    CHECK_INT(reg_count(), live);
    CHECK_INT(store_reg_get(E.store, gone, &reg), PLAT_OK);
    CHECK_STR(str_of(reg, "status"), "deleted");
    CHECK(is_null(reg, "phoneNumber") && is_null(reg, "fullName"));
    cJSON_Delete(reg);
    reg = NULL;
    CHECK_INT(store_reg_get(E.store, edited, &reg), PLAT_OK);
    CHECK_STR(str_of(reg, "phoneNumber"), "31677777777");
    cJSON_Delete(reg);
    plat_free(gone);
    plat_free(edited);
    env_stop();
}

static void test_fetch_by_refs(void)
{
    const char *refs[250];
    char names[250][16];
    unsigned char found[250];
    int i, hits = 0;

    REQUIRE(env_start(300) == 0);
    for (i = 0; i < 250; i++) {
        snprintf(names[i], sizeof(names[i]), "ref-%05d", i + 1);
        refs[i] = names[i];
    }
    refs[5] = "nope-00000";
    CHECK_INT(c121_fetch_by_refs(&E.c, refs, 250, found), PLAT_OK);
    for (i = 0; i < 250; i++)
        hits += found[i];
    CHECK_INT(found[0], 1);
    CHECK_INT(found[5], 0);
    CHECK_INT(hits, reg_count());
    CHECK(hits > 200 && hits < 250); /* deleted ones are not returned */
    CHECK_INT(route_count("GET /api/programs/{pid}/registrations"), 3);
    env_stop();
}

static void test_payments_vouchers(void)
{
    cJSON *res = NULL;
    char body[128], *paths[8];
    int64_t vouchers, expected, body0;
    int latest = 0, n;

    /* Few registrations: vouchers come one request each. */
    REQUIRE(env_start(100) == 0);
    REQUIRE(first_pull() == PLAT_OK);
    E.opt.vouchers = 1;
    CHECK_INT(c121_pull_payments(&E.c), PLAT_OK);
    CHECK_INT(sql_int("SELECT count(*) FROM payments"), 2);
    CHECK_INT(sql_int("SELECT count(*) FROM transactions"),
              state_num("programs.3.transactions"));
    CHECK_INT(store_payment_latest(E.store, PROGRAM, &latest), PLAT_OK);
    CHECK_INT(latest, 2);
    expected = sql_int("SELECT count(*) FROM transactions WHERE payment_id "
                       "= 2 AND status IN ('success', 'waiting') AND "
                       "json_extract(json, '$.fspName') = "
                       "'Intersolve-voucher-paper'");
    vouchers = sql_int("SELECT count(*) FROM vouchers WHERE payment_id = 2 "
                       "AND hex(substr(image, 1, 4)) = '89504E47' AND "
                       "content_type = 'image/png'");
    CHECK(expected > 0);
    CHECK_INT(vouchers, expected);
    CHECK_INT(sql_int("SELECT count(*) FROM vouchers WHERE payment_id = 1"),
              0);

    /* Nothing changed: one 304, no transactions, no vouchers. */
    CHECK(ctl_ok("POST", "/_test/reset-stats", "{}"));
    body0 = body_bytes();
    CHECK_INT(c121_pull_payments(&E.c), PLAT_OK);
    CHECK_INT(body_bytes() - body0, 0);
    CHECK_INT(state_num("requests"), 1);

    /* Three transactions change: only they are read again. */
    CHECK(ctl_ok("POST", "/_test/transactions",
                 "{\"paymentId\":1,\"status\":\"error\","
                 "\"errorMessage\":\"x\",\"limit\":3}"));
    CHECK(ctl_ok("POST", "/_test/reset-stats", "{}"));
    CHECK_INT(c121_pull_payments(&E.c), PLAT_OK);
    CHECK_INT(sql_int("SELECT count(*) FROM transactions WHERE payment_id "
                      "= 1 AND status = 'error'"), 3);
    n = request_paths("/transactions?", paths, 8);
    CHECK_INT(n, 1);
    CHECK(n == 1 && strstr(paths[0], "/payments/1/") &&
          strstr(paths[0], "filter.updated=$gt:"));
    free_paths(paths, n);

    /* A new payment: its transactions and vouchers. */
    res = ctl("POST", "/_test/payments", "{\"count\":1,\"status\":"
              "\"success\"}");
    REQUIRE(res);
    snprintf(body, sizeof(body), "%d", (int)num(res, "transactions"));
    cJSON_Delete(res);
    CHECK_INT(c121_pull_payments(&E.c), PLAT_OK);
    CHECK_INT(store_payment_latest(E.store, PROGRAM, &latest), PLAT_OK);
    CHECK_INT(latest, 3);
    CHECK_INT(sql_int("SELECT count(*) FROM transactions WHERE payment_id "
                      "= 3"), atoi(body));
    CHECK(sql_int("SELECT count(*) FROM vouchers WHERE payment_id = 3") >
          0);
    env_stop();
}

/* A transactions read cut off mid-answer resumes after the last
 * committed id, with the same updated filter. */
static void test_transactions_resume(void)
{
    char *paths[8];
    int64_t last, total;
    int n;

    REQUIRE(env_start(100) == 0);
    REQUIRE(first_pull() == PLAT_OK);
    total = state_num("programs.3.transactions");
    E.opt.batch = 10;
    E.opt.max_attempts = 1;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"drop_after_bytes\":8000,"
                 "\"path_contains\":\"/transactions\"}"));
    CHECK_INT(c121_pull_payments(&E.c), ERR_RETRY);
    last = ckpt("tx.2.last_id");
    CHECK(last > 0);
    CHECK_INT(sql_int("SELECT count(*) FROM transactions") % 10, 0);
    CHECK_INT(sql_int("SELECT count(*) FROM payments"), 0);
    CHECK(ctl_ok("POST", "/_test/reset-stats", "{}"));
    CHECK_INT(c121_pull_payments(&E.c), PLAT_OK);
    CHECK_INT(sql_int("SELECT count(*) FROM transactions"), total);
    CHECK_INT(sql_int("SELECT count(*) FROM payments"), 2);
    CHECK_INT(ckpt("tx.2.last_id"), -1);
    n = request_paths("/transactions?", paths, 8);
    CHECK(n == 2 && gt_of(paths[0]) == last);
    free_paths(paths, n);
    env_stop();
}

/* ---- bounds on what a server can make a sync do ------------------------- */

static int msg_has(const char *needle)
{
    if (strstr(plat_err_msg(), needle))
        return 1;
    fprintf(stderr, "message \"%s\" lacks \"%s\"\n", plat_err_msg(), needle);
    return 0;
}

/* A window answered with more rows than its limit: refused, and nothing
 * past the limit is stored (an endless answer cannot fill the store). */
static void test_more_than_asked(void)
{
    REQUIRE(env_start(50) == 0);
    E.opt.window = 100;
    E.opt.batch = 50;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"extra_registrations\":500,"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), ERR_INVALID);
    CHECK(msg_has("121 sent more registrations than asked"));
    CHECK(reg_count() <= 100);
    CHECK_INT(ckpt("pull.complete"), -1);
    CHECK_INT(route_count("GET /api/programs/{pid}/registrations"), 1);
    env_stop();
}

/* Windows of exactly `limit` valid rows without end: the store budget
 * stops the walk with ERR_TOOLARGE, the last batch rolled back. */
static void test_store_budget(void)
{
    int64_t n;

    REQUIRE(env_start(20) == 0);
    E.opt.window = 200;
    E.opt.batch = 100;
    E.opt.max_store_growth = 300000;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"endless_registrations\":true,"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), ERR_TOOLARGE);
    CHECK(msg_has("max_store_growth"));
    n = reg_count();
    CHECK(n > 0 && n < 3000);
    CHECK_INT(n % 100, 0);
    /* Stopped at once: no window halving, no more requests. */
    CHECK(route_count("GET /api/programs/{pid}/registrations") <= n / 200 + 1);
    CHECK_INT(ckpt("pull.complete"), -1);
    env_stop();
}

/* The same endless walk under a deadline: stopped soon after it. */
static void test_deadline(void)
{
    int64_t t0;

    REQUIRE(env_start(20) == 0);
    E.opt.window = 200;
    E.opt.batch = 100;
    E.opt.deadline_ms = 2000;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"endless_registrations\":true,"
                 "\"path_contains\":\"/registrations\"}"));
    t0 = plat_time_mono_ms();
    CHECK_INT(c121_pull_registrations(&E.c), ERR_RETRY);
    CHECK(msg_has("deadline"));
    CHECK(plat_time_mono_ms() - t0 < 30000); /* ends, not hangs */
    CHECK_INT(ckpt("pull.complete"), -1);
    env_stop();
}

/* A trickling answer (1 byte a second) fails after the low-speed time,
 * once: not retried max_attempts times. */
static void test_trickle(void)
{
    int64_t t0, ms;

    REQUIRE(env_start(20) == 0);
    E.opt.low_speed_time_s = 2;
    E.opt.max_attempts = 3;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"trickle_ms\":1000,\"count\":5,"
                 "\"path_contains\":\"/api/programs/3\"}"));
    t0 = plat_time_mono_ms();
    CHECK_INT(c121_pull_program(&E.c), ERR_RETRY);
    ms = plat_time_mono_ms() - t0;
    fprintf(stderr, "trickle: failed after %lld ms (low-speed time 2 s)\n",
            (long long)ms);
    CHECK(msg_has("too slow"));
    CHECK(ms >= 1500 && ms < 30000); /* once, not max_attempts times */
    CHECK_INT(route_count("GET /api/programs/{pid}"), 1);
    env_stop();
}

/* A transfer still trickling at the sync's deadline stops there (the
 * HTTP client is given the deadline), long before the low-speed time. */
static void test_deadline_stops_transfer(void)
{
    int64_t t0, ms;

    REQUIRE(env_start(20) == 0);
    E.opt.deadline_ms = 1500;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"trickle_ms\":1000,\"count\":5,"
                 "\"path_contains\":\"/api/programs/3\"}"));
    t0 = plat_time_mono_ms();
    CHECK_INT(c121_pull_program(&E.c), ERR_RETRY);
    ms = plat_time_mono_ms() - t0;
    CHECK(msg_has("deadline"));
    CHECK(ms >= 1000 && ms < 30000);
    env_stop();
}

/* An escaped NUL in a string of a server record: the record is refused
 * (cJSON would cut the value there), nothing of its batch stored. */
static void test_nul_in_record(void)
{
    cJSON *prog;

    REQUIRE(env_start(30) == 0);
    E.opt.batch = 1000;
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"body_replace\":{\"old\":\"Person 00002\","
                 "\"new\":\"Pers\\\\u0000on 00002\"},"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), ERR_INVALID);
    CHECK(msg_has("registration"));
    CHECK(msg_has("NUL"));
    CHECK_INT(reg_count(), 0);
    /* A literal backslash before u0000 is text, not a NUL. */
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"body_replace\":{\"old\":\"Person 00002\","
                 "\"new\":\"Pers\\\\\\\\u0000on\"},"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), state_num("programs.3.registrations_live"));
    /* In a whole answer (the program) too. */
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"body_replace\":{\"old\":\"fullName\","
                 "\"new\":\"full\\\\u0000Name\"},"
                 "\"path_contains\":\"/api/programs/3\"}"));
    CHECK_INT(c121_pull_program(&E.c), ERR_INVALID);
    CHECK(msg_has("NUL"));
    prog = NULL;
    (void)prog;
    env_stop();
}

/* One text column of the row whose name is LIKE `like`, or NULL. */
static char *reg_col(const char *col, const char *like)
{
    sqlite3_stmt *st = NULL;
    char sql[160], *v = NULL;

    snprintf(sql, sizeof(sql), "SELECT %s FROM registrations WHERE name "
             "LIKE ?1", col);
    if (sqlite3_prepare_v2(store_db(E.store), sql, -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, like, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            v = plat_strdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return v;
}

static void check_col(const char *col, const char *like, const char *want)
{
    char *v = reg_col(col, like);

    CHECK_STR(v, want);
    plat_free(v);
}

/* The first pull's fast path (a one-pass check, kept members as their
 * text) and its fallback (cJSON) store the same columns: escapes decoded,
 * a raw control character re-escaped, an id written as 5.0 taken. */
static void test_fast_and_slow_paths(void)
{
    /* Escaped, valid: the fast path, its name parsed at commit. */
    REQUIRE(env_start(30) == 0);
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"body_replace\":{\"old\":\"Person 00003\","
                 "\"new\":\"Per\\\\\\\"son\\\\u00e9 3\"},"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), state_num("programs.3.registrations_live"));
    check_col("name", "Per_son%", "Per\"son\xc3\xa9 3");
    check_col("json_extract(local_json, '$.fullName')", "Per_son%",
              "Per\"son\xc3\xa9 3");
    /* Stored as received. */
    check_col("instr(server_json, 'Per\\\"son\\u00e9 3') > 0", "Per_son%",
              "1");
    env_stop();

    /* A raw tab: the fallback, the text printed again (escaped). */
    REQUIRE(env_start(30) == 0);
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"body_replace\":{\"old\":\"Person 00004\","
                 "\"new\":\"Per\\tson 4\"},"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), state_num("programs.3.registrations_live"));
    check_col("name", "Per_son 4", "Per\tson 4");
    check_col("json_valid(server_json) AND instr(server_json, "
              "'Per\\tson') > 0", "Per_son 4", "1");
    env_stop();

    /* "id":5.0 - a whole number, not plain digits: the fallback. */
    REQUIRE(env_start(30) == 0);
    REQUIRE(env_connect() == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"body_replace\":{\"old\":\"{\\\"id\\\":5,\","
                 "\"new\":\"{\\\"id\\\":5.0,\"},"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), PLAT_OK);
    CHECK_INT(reg_count(), state_num("programs.3.registrations_live"));
    {
        sqlite3_stmt *st = NULL;

        REQUIRE(sqlite3_prepare_v2(store_db(E.store), "SELECT count(*) FROM "
                                   "registrations WHERE id = 5", -1, &st,
                                   NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW &&
              sqlite3_column_int(st, 0) == 1);
        sqlite3_finalize(st);
    }
    env_stop();
}

/* A 200 HTML page (captive portal) where JSON was expected is named as
 * such, for streamed and whole answers. */
static void test_html_page(void)
{
    REQUIRE(env_start(10) == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"html_page\":true,"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), ERR_INVALID);
    CHECK(msg_has("HTML page instead of JSON"));
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"html_page\":true,"
                 "\"path_contains\":\"/api/programs/3\"}"));
    CHECK_INT(c121_pull_program(&E.c), ERR_INVALID);
    CHECK(msg_has("HTML page instead of JSON"));
    env_stop();
}

/* Numbers out of any integer's range where ids are read: refused, no
 * undefined cast (UBSan in the sanitizer build). */
static void test_huge_numbers(void)
{
    REQUIRE(env_start(10) == 0);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"body_replace\":{\"old\":\"{\\\"id\\\":3,\","
                 "\"new\":\"{\\\"id\\\":1e308,\"},"
                 "\"path_contains\":\"/api/programs/3\"}"));
    CHECK_INT(c121_pull_program(&E.c), ERR_INVALID);
    CHECK_INT(c121_pull_program(&E.c), PLAT_OK);
    CHECK(ctl_ok("POST", "/_test/faults",
                 "{\"body_replace\":{\"old\":\"\\\"id\\\":\","
                 "\"new\":\"\\\"id\\\":1e308,\\\"x\\\":\"},"
                 "\"path_contains\":\"/registrations\"}"));
    CHECK_INT(c121_pull_registrations(&E.c), ERR_INVALID);
    CHECK_INT(reg_count(), 0);
    env_stop();
}

TEST_MAIN(TEST(test_more_than_asked), TEST(test_store_budget),
          TEST(test_deadline), TEST(test_trickle),
          TEST(test_deadline_stops_transfer), TEST(test_nul_in_record),
          TEST(test_html_page), TEST(test_huge_numbers),
          TEST(test_fast_and_slow_paths),
          TEST(test_first_pull_then_304), TEST(test_windows),
          TEST(test_drop_resumes), TEST(test_malformed),
          TEST(test_reauth_and_429), TEST(test_program_not_found),
          TEST(test_incremental), TEST(test_events_batches),
          TEST(test_window_past_the_whole_answer_cap),
          TEST(test_window_over_cap),
          TEST(test_window_halved_when_no_answer_starts),
          TEST(test_new_people_deleted_again_are_not_read_by_id),
          TEST(test_new_people_below_a_registration_read_alone),
          TEST(test_full_reconcile), TEST(test_fetch_by_refs),
          TEST(test_payments_vouchers), TEST(test_transactions_resume))
