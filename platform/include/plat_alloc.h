/*
 * plat_alloc.h - the project's only allocator.
 *
 * Code outside platform/ uses these instead of malloc/free so that tests can
 * make the Nth allocation fail (plat_alloc_fail_after) and check that every
 * error path cleans up. plat_free(NULL) is a no-op. A failed allocation
 * returns NULL and sets ERR_NOMEM.
 */
#ifndef PLAT_ALLOC_H
#define PLAT_ALLOC_H

#include <stddef.h>

void *plat_malloc(size_t n);
void *plat_calloc(size_t count, size_t size);
void *plat_realloc(void *p, size_t n);
void plat_free(void *p);

/* Copy of a string (or of its first n bytes), NUL-terminated; caller frees. */
char *plat_strdup(const char *s);
char *plat_strndup(const char *s, size_t n);

/* Formatted string in a new allocation; caller frees. NULL on failure. */
char *plat_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Test hook: after `n` more successful allocations, fail every allocation
 * until reset with a negative n. */
void plat_alloc_fail_after(long n);

#endif
