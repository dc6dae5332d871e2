/*
 * testlib.h - a minimal test harness: one binary per test file, each test a
 * function, run in order; a failed check prints file:line and the test goes
 * on to the next one. Output ends with "N passed, N failed".
 *
 *   static void test_store_open(void) { CHECK(x == 1); CHECK_STR(a, "b"); }
 *   TEST_MAIN(TEST(test_store_open), TEST(test_other))
 *
 * Run one test with: ./test_store test_store_open
 */
#ifndef TESTLIB_H
#define TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct testlib_case {
    const char *name;
    void (*fn)(void);
};

extern int testlib_failures;
int testlib_failures;

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                     \
            testlib_failures++;                                           \
        }                                                                 \
    } while (0)

#define CHECK_INT(a, b)                                                   \
    do {                                                                  \
        long long va_ = (long long)(a), vb_ = (long long)(b);             \
        if (va_ != vb_) {                                                 \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %lld, "       \
                    "expected %lld\n", __FILE__, __LINE__, #a, va_, vb_); \
            testlib_failures++;                                           \
        }                                                                 \
    } while (0)

#define CHECK_STR(a, b)                                                   \
    do {                                                                  \
        const char *sa_ = (a), *sb_ = (b);                                \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                      \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", "     \
                    "expected \"%s\"\n", __FILE__, __LINE__, #a,          \
                    sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");          \
            testlib_failures++;                                           \
        }                                                                 \
    } while (0)

/* Stop the current test (e.g. when a NULL would crash the rest). */
#define REQUIRE(cond)                                                     \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                     \
            testlib_failures++;                                           \
            return;                                                       \
        }                                                                 \
    } while (0)

#define TEST(fn) { #fn, fn }

#define TEST_MAIN(...)                                                    \
    int main(int argc, char **argv)                                       \
    {                                                                     \
        static const struct testlib_case cases[] = { __VA_ARGS__ };      \
        size_t n = sizeof(cases) / sizeof(cases[0]);                      \
        int passed = 0, failed = 0;                                       \
        for (size_t i = 0; i < n; i++) {                                  \
            if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)          \
                continue;                                                 \
            int before = testlib_failures;                                \
            cases[i].fn();                                                \
            if (testlib_failures == before) {                             \
                passed++;                                                 \
                printf("ok   %s\n", cases[i].name);                       \
            } else {                                                      \
                failed++;                                                 \
                printf("FAIL %s\n", cases[i].name);                       \
            }                                                             \
        }                                                                 \
        printf("%d passed, %d failed\n", passed, failed);                 \
        return failed ? 1 : 0;                                            \
    }

#endif
