/*
 * store_migrations.h - the schema migrations embedded in the binary
 * (generated from storage/migrations/NNNN_*.sql at build time). Migration i
 * takes the store from user_version i to i + 1.
 */
#ifndef STORE_MIGRATIONS_H
#define STORE_MIGRATIONS_H

struct store_migration {
    const char *name; /* file name, e.g. "0001_initial.sql" */
    const char *sql;
};

extern const struct store_migration store_migrations[];
extern const int store_migrations_count;

#endif
