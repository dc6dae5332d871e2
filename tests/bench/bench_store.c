/*
 * bench_store.c - how fast the store writes and searches registrations.
 * Not a test: it prints numbers to compare with the targets (insert rate
 * over 20,000 rows/s in batches, search under 5 ms at 40,000 rows).
 *
 *   bench_store [--only PARTS] [--encrypt | --compare] [DIR]
 *
 * PARTS picks from a (own transaction each, NORMAL), b (same, FULL), c
 * (batches of 1000) and s (search, after c); default all. DIR defaults to
 * a temporary directory under /tmp, removed at the end.
 * --encrypt: the stores are encrypted (store_open_key, a fixed bench key).
 * --compare: each part runs twice in a child process of its own, plain
 * then encrypted, and a table puts them side by side: wall time, CPU
 * (user + system, from wait4: steadier than wall time on a loaded
 * machine) and peak RSS of each child.
 */
#include "../unit/testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_random.h"
#include "plat_time.h"
#include "store.h"
#include "store_registrations.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROWS 40000
#define FULL_ROWS 2000
#define BATCH 1000
#define SEARCHES 200

static const char *const first[] = {"Amina", "Bashir", "Chloe", "Dawit",
                                    "Esther", "Farah", "Goran", "Hiba",
                                    "Ibrahim", "Jana", "Kofi", "Lina"};
static const char *const last[] = {"Jansen", "Okafor", "Haddad", "Tesfaye",
                                   "de Vries", "Nguyen", "Mensah", "Rahimi"};

/* The fields of person i: what a field worker would type. */
static cJSON *person(int i)
{
    char name[64], phone[32], hh[8];
    cJSON *f = cJSON_CreateObject();

    snprintf(name, sizeof(name), "%s %s %d", first[i % 12],
             last[(i / 12) % 8], i);
    snprintf(phone, sizeof(phone), "+2547%08d", (int)((i * 7919L) % 100000000));
    snprintf(hh, sizeof(hh), "%d", 1 + i % 9);
    cJSON_AddStringToObject(f, "fullName", name);
    cJSON_AddStringToObject(f, "phoneNumber", phone);
    cJSON_AddStringToObject(f, "householdSize", hh);
    cJSON_AddStringToObject(f, "district", i % 2 ? "north" : "south");
    cJSON_AddStringToObject(f, "programFspConfigurationName",
                            "Intersolve-voucher-paper");
    cJSON_AddStringToObject(f, "preferredLanguage", "en");
    return f;
}

/* --encrypt: the data key of the bench stores (not a secret). */
static const uint8_t bench_key[STORE_KEY_LEN] = "agent bench key, not a secret!!";
static int encrypt;

static struct store *open_store(const char *dir, const char *name, int full)
{
    struct store_options opt = {STORE_CREATE, full, 0, 0};
    struct store *s = NULL;
    char *path = plat_asprintf("%s/%s", dir, name);

    if (!path || store_open_key(&s, path, &opt,
                                encrypt ? bench_key : NULL) != PLAT_OK) {
        fprintf(stderr, "bench_store: %s\n", plat_err_msg());
        exit(1);
    }
    plat_free(path);
    return s;
}

static void create_or_die(struct store *s, int i)
{
    cJSON *f = person(i);

    if (!f || store_reg_create(s, 3, f, NULL) != PLAT_OK) {
        fprintf(stderr, "bench_store: create %d: %s\n", i, plat_err_msg());
        exit(1);
    }
    cJSON_Delete(f);
}

static void report_insert(const char *what, int rows, int64_t us)
{
    printf("insert %-44s %6d rows %8.3f s %9.0f rows/s\n", what, rows,
           (double)us / 1e6, (double)rows * 1e6 / (double)(us ? us : 1));
}

/* (a) and (b): each create in its own transaction. */
static void bench_single(const char *dir, const char *name, int full,
                         int rows, const char *what)
{
    struct store *s = open_store(dir, name, full);
    int64_t t0 = plat_time_mono_us();
    int i;

    for (i = 0; i < rows; i++)
        create_or_die(s, i);
    report_insert(what, rows, plat_time_mono_us() - t0);
    store_close(s);
}

/* (c): batches inside store_begin/store_commit. Leaves the store open for
 * the search part. */
static struct store *bench_batches(const char *dir)
{
    struct store *s = open_store(dir, "batch.db", 1);
    int64_t t0 = plat_time_mono_us();
    int i;

    for (i = 0; i < ROWS; i++) {
        if (i % BATCH == 0 && store_begin(s) != PLAT_OK)
            goto fail;
        create_or_die(s, i);
        if ((i % BATCH == BATCH - 1 || i == ROWS - 1) &&
            store_commit(s) != PLAT_OK)
            goto fail;
    }
    report_insert("batches of 1000, synchronous=FULL", ROWS,
                  plat_time_mono_us() - t0);
    return s;
fail:
    fprintf(stderr, "bench_store: %s\n", plat_err_msg());
    exit(1);
}

static int count_row(const cJSON *reg, void *payload)
{
    (void)reg;
    (*(int *)payload)++;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Search text of kind k for round i. */
static void search_text(int kind, int i, char *out, size_t n)
{
    int p = (i * 7907) % ROWS;

    switch (kind) {
    case 0: /* name substring */
        snprintf(out, n, "%s", last[i % 8] + 1);
        break;
    case 1: /* phone prefix */
        snprintf(out, n, "+2547%04d", (int)((p * 7919L) % 100000000 / 10000));
        break;
    case 2: /* referenceId fragment: part of a UUID made by the store */
        snprintf(out, n, "%x%x%x-", i % 16, (i / 16) % 16, (i / 3) % 16);
        break;
    default: /* two characters: the LIKE fallback */
        snprintf(out, n, "%c%c", "abdefhijk"[i % 9], "aeiou"[i % 5]);
        break;
    }
}

static void bench_search(struct store *s)
{
    static const char *const kinds[] = {"name substring", "phone prefix",
                                        "referenceId fragment",
                                        "2-char fallback (scan)"};
    int64_t lat[SEARCHES], all[SEARCHES * 4], sum, t0;
    char text[64];
    int k, i, rows, total_rows = 0;

    for (k = 0; k < 4; k++) {
        sum = 0;
        for (i = 0; i < SEARCHES; i++) {
            search_text(k, i, text, sizeof(text));
            rows = 0;
            t0 = plat_time_mono_us();
            if (store_reg_search(s, text, 20, count_row, &rows) != PLAT_OK) {
                fprintf(stderr, "bench_store: search: %s\n", plat_err_msg());
                exit(1);
            }
            lat[i] = plat_time_mono_us() - t0;
            all[k * SEARCHES + i] = lat[i];
            sum += lat[i];
            total_rows += rows;
        }
        qsort(lat, SEARCHES, sizeof(lat[0]), cmp_i64);
        printf("search %-24s %3d x: mean %6.3f ms  p95 %6.3f ms  max %6.3f "
               "ms\n",
               kinds[k], SEARCHES, (double)sum / SEARCHES / 1000.0,
               (double)lat[SEARCHES * 95 / 100] / 1000.0,
               (double)lat[SEARCHES - 1] / 1000.0);
    }
    sum = 0;
    for (i = 0; i < SEARCHES * 4; i++)
        sum += all[i];
    qsort(all, SEARCHES * 4, sizeof(all[0]), cmp_i64);
    printf("search %-24s %3d x: mean %6.3f ms  p95 %6.3f ms  (%d rows "
           "returned)\n",
           "all kinds", SEARCHES * 4, (double)sum / (SEARCHES * 4) / 1000.0,
           (double)all[SEARCHES * 4 * 95 / 100] / 1000.0, total_rows);
}

/* Run the parts in `only` (NULL: all) in `dir`. */
static void run_parts(const char *dir, const char *only)
{
    struct store *s;

    if (!only || strchr(only, 'a'))
        bench_single(dir, "normal.db", 0, ROWS,
                     "own transaction each, synchronous=NORMAL");
    if (!only || strchr(only, 'b'))
        bench_single(dir, "full.db", 1, FULL_ROWS,
                     "own transaction each, synchronous=FULL");
    if (!only || strchr(only, 'c') || strchr(only, 's')) {
        s = bench_batches(dir);
        if (!only || strchr(only, 's'))
            bench_search(s);
        store_close(s);
    }
}

struct run {
    double wall, cpu, rss_mb;
};

/* --compare: part `part` in a child of its own (its own directory), so
 * that CPU and peak RSS are its alone. */
static struct run run_child(const char *dir, const char *part, int enc)
{
    struct run r = {0, 0, 0};
    struct rusage ru;
    int64_t t0 = plat_time_mono_us();
    char *sub = plat_asprintf("%s/%s-%s", dir, part, enc ? "enc" : "plain");
    int status = 0;
    pid_t pid;

    if (!sub || mkdir(sub, 0700) != 0) {
        fprintf(stderr, "bench_store: cannot make a directory in %s\n", dir);
        exit(1);
    }
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        encrypt = enc;
        printf("-- part %s, %s\n", part, enc ? "encrypted" : "plain");
        run_parts(sub, part);
        fflush(stdout);
        _exit(0);
    }
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_store: part %s failed\n", part);
        exit(1);
    }
    r.wall = (double)(plat_time_mono_us() - t0) / 1e6;
    r.cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    r.rss_mb = (double)ru.ru_maxrss / 1024.0;
    testutil_rmdir(sub);
    plat_free(sub);
    return r;
}

/* --compare's parts: a, b, c, and "cs" (c, then the searches) when
 * PARTS has s. */
static int compare_part(int i, const char *only)
{
    if (!only)
        return i != 2;
    switch (i) {
    case 0:
        return strchr(only, 'a') != NULL;
    case 1:
        return strchr(only, 'b') != NULL;
    case 2:
        return strchr(only, 'c') && !strchr(only, 's');
    default:
        return strchr(only, 's') != NULL;
    }
}

static void compare(const char *dir, const char *only)
{
    static const char *const parts[] = {"a", "b", "c", "cs"};
    static const char *const what[] = {
        "a: 40,000 inserts, own transaction each (NORMAL)",
        "b: 2,000 inserts, own transaction each (FULL)",
        "c: 40,000 inserts, batches of 1,000 (FULL)",
        "cs: c, then 800 searches"};
    struct run p[4], e[4];
    int i;

    for (i = 0; i < 4; i++) {
        if (!compare_part(i, only))
            continue;
        p[i] = run_child(dir, parts[i], 0);
        e[i] = run_child(dir, parts[i], 1);
    }
    printf("\n%-50s %16s %16s %16s\n", "part: plain / encrypted",
           "CPU s", "wall s", "peak RSS MB");
    for (i = 0; i < 4; i++) {
        if (!compare_part(i, only))
            continue;
        printf("%-50s %5.2f / %5.2f %+4.0f%% %5.1f / %5.1f %+4.0f%% "
               "%5.1f / %5.1f\n",
               what[i], p[i].cpu, e[i].cpu,
               100.0 * (e[i].cpu - p[i].cpu) / (p[i].cpu > 0 ? p[i].cpu : 1),
               p[i].wall, e[i].wall,
               100.0 * (e[i].wall - p[i].wall) /
                   (p[i].wall > 0 ? p[i].wall : 1),
               p[i].rss_mb, e[i].rss_mb);
    }
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    char *dir;
    int cmp = 0;

    for (;;) {
        if (argc > 2 && strcmp(argv[1], "--only") == 0) {
            only = argv[2];
            argc -= 2;
            argv += 2;
        } else if (argc > 1 && strcmp(argv[1], "--encrypt") == 0) {
            encrypt = 1;
            argc--;
            argv++;
        } else if (argc > 1 && strcmp(argv[1], "--compare") == 0) {
            cmp = 1;
            argc--;
            argv++;
        } else {
            break;
        }
    }
    if (store_crypt_test_instance() && (cmp || encrypt)) {
        fprintf(stderr, "bench_store: AGENT_TEST_ENCRYPT=1 encrypts every "
                "store already; unset it for --encrypt or --compare\n");
        return 2;
    }
    dir = argc > 1 ? plat_strdup(argv[1])
                   : testutil_mkdtemp("agent-bench-store");
    if (!dir) {
        fprintf(stderr, "bench_store: cannot make a temporary directory\n");
        return 1;
    }
    printf("bench_store: %d registrations in %s%s (targets: > 20000 "
           "rows/s, search < 5 ms)\n", ROWS, dir,
           cmp ? ", plain and encrypted"
               : encrypt || store_crypt_test_instance() ? ", encrypted" : "");
    if (cmp)
        compare(dir, only);
    else
        run_parts(dir, only);
    if (argc <= 1)
        testutil_rmdir(dir);
    plat_free(dir);
    plat_random_cleanup();
    return 0;
}
