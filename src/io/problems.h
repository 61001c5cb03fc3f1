/* Problems for the sampling stage: one JSON object per line (jsonl, e.g.
 * GSM8K's {"question": ..., "answer": "... #### 72"}).
 *
 * A line that is not a JSON object, lacks the question/answer/id field, has
 * a field of the wrong type or holds invalid UTF-8 is bad input: an error
 * naming "<file>:<line>", or, with skip_bad_lines, skipped and counted.
 * Blank lines are ignored. The problem index is the position among the
 * accepted problems (0-based); the source line is kept for messages. */
#ifndef LR_PROBLEMS_H
#define LR_PROBLEMS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *id;       /* the id field as text, or the problem index when no id field */
    char *question; /* UTF-8 */
    char *answer;   /* "" when no answer field is configured */
    long line;      /* 1-based source line */
} lr_problem;

typedef struct {
    lr_problem *items; /* (n) */
    int n;
    long n_bad_lines;  /* skipped bad lines (skip_bad_lines only) */
    uint64_t digest;   /* FNV-1a 64 of the bytes of every line read */
} lr_problem_set;

typedef struct {
    const char *question_field; /* required, e.g. "question" */
    const char *answer_field;   /* NULL or "" = none */
    const char *id_field;       /* NULL or "" = use the problem index */
    long max_problems;          /* <= 0: all */
    int skip_bad_lines;
} lr_problem_opts;

/* 0 on success; -1 with lr_error "<file>:<line>: <what>" (or "<file>: ...")
 * set. An empty result is not an error here. */
int problems_load(const char *path, const lr_problem_opts *o, lr_problem_set *out);
void problems_free(lr_problem_set *s);

/* 1 when s[0..n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int lr_utf8_valid(const char *s, size_t n);

#endif
