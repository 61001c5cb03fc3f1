/* Minimal test harness: EXPECT_* record failures and keep going; main()
 * returns test_finish() so ctest sees the verdict. */
#ifndef LR_TEST_UTIL_H
#define LR_TEST_UTIL_H

#include <stddef.h>
#include <stdio.h>

extern int test_failures;
extern int test_checks;

#define EXPECT(cond, ...)                                                   \
    do {                                                                    \
        test_checks++;                                                      \
        if (!(cond)) {                                                      \
            test_failures++;                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

#define EXPECT_NEAR(a, b, tol, what)                                                                 \
    do {                                                                                             \
        double ea_ = (double)(a), eb_ = (double)(b);                                                 \
        EXPECT(ea_ - eb_ <= (tol) && eb_ - ea_ <= (tol), "%s: %.9g vs %.9g (tol %g)", what, ea_, eb_, \
               (double)(tol));                                                                       \
    } while (0)

/* Directory of committed test data (tests/data), from $LR_TEST_DATA. */
const char *test_data_dir(void);
/* Repository data directory (data/), from $LR_REPO_DATA. */
const char *test_repo_data_dir(void);
/* "<test_data_dir>/<rel>" in a static rotating buffer. */
const char *test_data_path(const char *rel);
/* Path of the lightreasoner binary, from $LR_BIN. */
const char *test_bin(void);

/* Runs a shell command; returns its exit status (-1 if it died of a
 * signal) and, if out != NULL, its stdout+stderr (malloc'd). */
int test_run(const char *cmd, char **out);
/* test_run on a printf-formatted command; the output (malloc'd) goes to
 * *out when out != NULL. LR_TEST_VERBOSE=1 echoes command and output. */
int test_sh(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int test_finish(const char *name);

#endif
