/*
 * store_sql - run SQL on an agent store, plain or encrypted, for the tests
 * that look inside a store (integrity, rows, planting a value). An
 * encrypted store cannot be read by Python's sqlite3: this opens it
 * through the project's encrypting VFS with the data key unwrapped by a
 * key file, and prints the rows.
 *
 *   store_sql [--key-file FILE] STORE SQL [PARAM...]
 *
 * Without --key-file the store is opened as a plain SQLite file. SQL may
 * hold several statements; each one with parameters gets all of PARAM
 * bound in order: "i:42" integer, "f:1.5" real, "t:text" text, "b:HEX"
 * blob, "n:" NULL. Every row of every statement is printed on its own line
 * as a JSON array: integers and reals as numbers, text as a string, NULL
 * as null, a blob as {"blob": "HEX"}. The store is opened raw (no
 * migrations, no checks of store_open) with a 10 s busy timeout; each
 * statement commits on its own unless the SQL says BEGIN/COMMIT.
 *
 * Exit: 0 done; 1 an SQL or key error (one line on stderr, SQLite's
 * message and its extended code); 2 usage. Test tool: never installed.
 */
#include "plat_err.h"
#include "plat_secure.h"
#include "store_crypt.h"
#include "store_keys.h"
#include "plat_utf8.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_json_string(const unsigned char *s, int n)
{
    putchar('"');
    for (int i = 0; i < n; i++) {
        unsigned char c = s[i];

        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c); /* UTF-8 passes through as it is */
    }
    putchar('"');
}

static void put_row(sqlite3_stmt *st)
{
    int n = sqlite3_column_count(st);

    putchar('[');
    for (int i = 0; i < n; i++) {
        if (i)
            putchar(',');
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            printf("%lld", (long long)sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            printf("%.17g", sqlite3_column_double(st, i));
            break;
        case SQLITE_TEXT:
            put_json_string(sqlite3_column_text(st, i),
                            sqlite3_column_bytes(st, i));
            break;
        case SQLITE_BLOB: {
            const unsigned char *b = sqlite3_column_blob(st, i);
            int len = sqlite3_column_bytes(st, i);

            printf("{\"blob\": \"");
            for (int k = 0; k < len; k++)
                printf("%02x", b[k]);
            printf("\"}");
            break;
        }
        default:
            printf("null");
        }
    }
    printf("]\n");
}

/* Bind "T:value" to parameter `i`; 0, or -1 for a malformed parameter. */
static int bind_one(sqlite3_stmt *st, int i, const char *p)
{
    const char *v = p + 2;

    if (strlen(p) < 2 || p[1] != ':')
        return -1;
    switch (p[0]) {
    case 'i':
        return sqlite3_bind_int64(st, i, strtoll(v, NULL, 10)) ? -1 : 0;
    case 'f':
        return sqlite3_bind_double(st, i, strtod(v, NULL)) ? -1 : 0;
    case 't':
        return sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) ? -1 : 0;
    case 'n':
        return sqlite3_bind_null(st, i) ? -1 : 0;
    case 'b': {
        size_t n = strlen(v) / 2;
        unsigned char *b = malloc(n ? n : 1);
        int rc;

        if (!b || strlen(v) % 2) {
            free(b);
            return -1;
        }
        for (size_t k = 0; k < n; k++) {
            int hi = plat_hex_digit(v[2 * k]), lo = plat_hex_digit(v[2 * k + 1]);
            if (hi < 0 || lo < 0) {
                free(b);
                return -1;
            }
            b[k] = (unsigned char)(hi * 16 + lo);
        }
        rc = sqlite3_bind_blob(st, i, b, (int)n, SQLITE_TRANSIENT);
        free(b);
        return rc ? -1 : 0;
    }
    default:
        return -1;
    }
}

static int sql_fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "store_sql: %s: %s (code %d)\n", what,
            sqlite3_errmsg(db), sqlite3_extended_errcode(db));
    return 1;
}

/* Run every statement of `sql`, printing rows. */
static int run(sqlite3 *db, const char *sql, char **params, int nparams)
{
    const char *tail = sql;

    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        int src;

        if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK)
            return sql_fail(db, "prepare");
        if (!st)
            continue; /* only whitespace or a comment was left */
        if (sqlite3_bind_parameter_count(st) > 0) {
            for (int i = 0; i < nparams; i++)
                if (bind_one(st, i + 1, params[i]) < 0) {
                    fprintf(stderr, "store_sql: bad parameter %d: %s\n",
                            i + 1, params[i]);
                    sqlite3_finalize(st);
                    return 1;
                }
        }
        while ((src = sqlite3_step(st)) == SQLITE_ROW)
            put_row(st);
        sqlite3_finalize(st);
        if (src != SQLITE_DONE)
            return sql_fail(db, "step");
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *keyfile = NULL, *path, *sql;
    struct store_crypt *crypt = NULL;
    sqlite3 *db = NULL;
    int argi = 1, rc;

    if (argc > 2 && strcmp(argv[1], "--key-file") == 0) {
        keyfile = argv[2];
        argi = 3;
    }
    if (argc - argi < 2) {
        fprintf(stderr, "usage: store_sql [--key-file FILE] STORE SQL "
                        "[PARAM...]\n");
        return 2;
    }
    path = argv[argi];
    sql = argv[argi + 1];
    if (keyfile) {
        struct store_keys *ring = NULL;
        uint8_t key[STORE_KEY_LEN];

        rc = store_keys_load(path, &ring);
        if (rc == PLAT_OK)
            rc = store_keys_unlock_keyfile(ring, keyfile, key);
        if (rc == PLAT_OK)
            rc = store_crypt_create(&crypt, key);
        plat_wipe(key, sizeof(key));
        store_keys_free(ring);
        if (rc < 0) {
            fprintf(stderr, "store_sql: %s\n", plat_err_msg());
            return 1;
        }
    }
    rc = 1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
                        crypt ? store_crypt_vfs_name(crypt) : NULL) !=
        SQLITE_OK)
        sql_fail(db, "open");
    else {
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, 10000);
        rc = run(db, sql, argv + argi + 2, argc - argi - 2);
    }
    sqlite3_close(db);
    store_crypt_destroy(crypt);
    fflush(stdout);
    return rc;
}
