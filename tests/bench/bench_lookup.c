/*
 * bench_lookup.c - how fast `agent lookup` finds a person and their
 * payments at 40,000 registrations (target: under 10 ms). Not a test: it
 * prints numbers. It builds a store of 40,000 server copies (121 ids, as a
 * pull leaves them) with two payments of transactions for 20,000 people,
 * then times store_lookup plus store_person_transactions (what the
 * command does) for referenceIds, voucher codes, phone numbers and names.
 *
 *   bench_lookup [DIR]      (default: a temporary directory, removed)
 */
#include "../unit/testutil.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_time.h"
#include "store.h"
#include "store_dist.h"
#include "store_registrations.h"
#include "store_sync.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 40000
#define PAID 20000
#define LOOKUPS 200

static void die(const char *what)
{
    fprintf(stderr, "bench_lookup: %s: %s\n", what, plat_err_msg());
    exit(1);
}

static cJSON *server_reg(int i)
{
    char ref[32], name[64], phone[32];
    cJSON *r = cJSON_CreateObject();

    snprintf(ref, sizeof(ref), "ref-%06d", i);
    snprintf(name, sizeof(name), "Person %s %d", i % 2 ? "Amina" : "Kofi", i);
    snprintf(phone, sizeof(phone), "2547%08d", (int)((i * 7919L) % 100000000));
    cJSON_AddNumberToObject(r, "id", i + 1);
    cJSON_AddStringToObject(r, "referenceId", ref);
    cJSON_AddNumberToObject(r, "programId", 3);
    cJSON_AddNumberToObject(r, "registrationProgramId", i + 1);
    cJSON_AddStringToObject(r, "status", "included");
    cJSON_AddStringToObject(r, "fullName", name);
    cJSON_AddStringToObject(r, "phoneNumber", phone);
    cJSON_AddStringToObject(r, "programFspConfigurationName",
                            "Intersolve-voucher-paper");
    return r;
}

static cJSON *transaction(int id, int pay, int i)
{
    char ref[32];
    cJSON *t = cJSON_CreateObject();

    snprintf(ref, sizeof(ref), "ref-%06d", i);
    cJSON_AddNumberToObject(t, "id", id);
    cJSON_AddNumberToObject(t, "paymentId", pay);
    cJSON_AddStringToObject(t, "status", "success");
    cJSON_AddNumberToObject(t, "transferValue", 25);
    cJSON_AddStringToObject(t, "registrationReferenceId", ref);
    cJSON_AddNumberToObject(t, "registrationProgramId", i + 1);
    cJSON_AddStringToObject(t, "fspName", "Intersolve-voucher-paper");
    cJSON_AddStringToObject(t, "created", "2026-12-01T08:00:00.000Z");
    cJSON_AddStringToObject(t, "updated", "2026-12-01T08:00:02.000Z");
    return t;
}

static void fill(struct store *s)
{
    cJSON *batch, *pay;
    int i, p, id = 1;

    for (i = 0; i < ROWS; i += 1000) {
        batch = cJSON_CreateArray();
        for (int j = i; j < i + 1000; j++)
            cJSON_AddItemToArray(batch, server_reg(j));
        if (store_begin(s) < 0 || store_reg_put_server_batch(s, batch) < 0 ||
            store_commit(s) < 0)
            die("store registrations");
        cJSON_Delete(batch);
    }
    for (p = 1; p <= 2; p++) {
        pay = cJSON_CreateObject();
        cJSON_AddNumberToObject(pay, "paymentId", p);
        if (store_payment_put(s, 3, pay) < 0)
            die("store a payment");
        cJSON_Delete(pay);
        for (i = 0; i < PAID; i += 1000) {
            batch = cJSON_CreateArray();
            for (int j = i; j < i + 1000; j++)
                cJSON_AddItemToArray(batch, transaction(id++, p, j));
            if (store_transactions_put(s, 3, p, batch) < 0)
                die("store transactions");
            cJSON_Delete(batch);
        }
    }
}

struct hit {
    struct store *s;
    int people, payments;
};

static int count_pay(const struct store_voucher_row *r, void *payload)
{
    (void)r;
    ((struct hit *)payload)->payments++;
    return 0;
}

static int on_person(const cJSON *reg, void *payload)
{
    struct hit *h = payload;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(reg, "referenceId");

    h->people++;
    return store_person_transactions(h->s, ref->valuestring, count_pay, h);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void run(struct store *s, const char *what, int kind)
{
    int64_t us[LOOKUPS], sum = 0;
    char text[64];
    struct hit h;
    int i, found = 0;

    for (i = 0; i < LOOKUPS; i++) {
        int who = (i * 197) % PAID;
        int64_t t0;

        if (kind == 0)
            snprintf(text, sizeof(text), "ref-%06d", who);
        else if (kind == 1)
            snprintf(text, sizeof(text), "P2-%d", who + 1);
        else if (kind == 2)
            snprintf(text, sizeof(text), "2547%08d",
                     (int)((who * 7919L) % 100000000));
        else
            snprintf(text, sizeof(text), "Amina %d", who | 1);
        memset(&h, 0, sizeof(h));
        h.s = s;
        t0 = plat_time_mono_us();
        if (store_lookup(s, text, 10, on_person, &h) < 0)
            die("lookup");
        us[i] = plat_time_mono_us() - t0;
        sum += us[i];
        found += h.people >= 1 && h.payments >= 2;
    }
    qsort(us, LOOKUPS, sizeof(us[0]), cmp_i64);
    printf("lookup by %-12s  mean %.2f ms  p95 %.2f ms  max %.2f ms  "
           "(%d/%d found with 2 payments)\n", what,
           (double)sum / LOOKUPS / 1000.0,
           (double)us[LOOKUPS * 95 / 100] / 1000.0,
           (double)us[LOOKUPS - 1] / 1000.0, found, LOOKUPS);
}

int main(int argc, char **argv)
{
    struct store_options opt = {STORE_CREATE, 0, 0, 0};
    struct store *s = NULL;
    char dir[256], *path;
    int own = argc < 2;
    int64_t t0;

    if (own) {
        snprintf(dir, sizeof(dir), "/tmp/bench_lookup.XXXXXX");
        if (!mkdtemp(dir))
            return 1;
    } else {
        snprintf(dir, sizeof(dir), "%s", argv[1]);
    }
    path = plat_asprintf("%s/lookup.db", dir);
    if (!path || store_open(&s, path, &opt) < 0)
        die("open");
    t0 = plat_time_mono_ms();
    fill(s);
    printf("store of %d registrations, %d transactions: built in %.1f s\n",
           ROWS, 2 * PAID, (double)(plat_time_mono_ms() - t0) / 1000.0);
    run(s, "referenceId", 0);
    run(s, "voucher code", 1);
    run(s, "phone", 2);
    run(s, "name", 3);
    store_close(s);
    if (own) {
        char *cmd = plat_asprintf("rm -rf '%s'", dir);

        if (cmd && system(cmd) != 0)
            fprintf(stderr, "bench_lookup: could not remove %s\n", dir);
        plat_free(cmd);
    }
    plat_free(path);
    return 0;
}
