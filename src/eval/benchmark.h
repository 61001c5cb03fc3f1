/* Evaluation benchmarks: the bundled test sets (gsm8k, svamp, asdiv,
 * math500, minerva_math, olympiadbench, mmlu_stem under data/benchmarks/)
 * or any jsonl file, read into (question, gold answer) pairs — either the
 * SPEC §2 way or, with toolkit set, as the Qwen2.5-Math evaluation toolkit
 * reads them (its questions and parsed gold answers). */
#ifndef LR_EVAL_BENCHMARK_H
#define LR_EVAL_BENCHMARK_H

#include "eval/answer.h"
#include "eval/toolkit.h"

typedef struct {
    char *question; /* the user message */
    char *gold;     /* gold answer as compared (GSM8K: the text after "####") */
    long line;      /* 1-based line of the jsonl file */
} eval_problem;

typedef struct {
    char *name;        /* "gsm8k", or the file's stem for a custom file */
    char *path;        /* the jsonl file read */
    char *question_fields; /* comma-separated fields joined by a space */
    char *answer_field;
    answer_mode mode;
    tk_data tk;        /* how the toolkit reads this benchmark */
    int toolkit;       /* questions and golds as the toolkit builds them */
    char **demo_q, **demo_a; /* few-shot demonstrations (fewshot.jsonl), n_demos of them */
    int n_demos;
    eval_problem *items;
    long n;
} eval_benchmark;

typedef struct {
    const char *benchmark;      /* a bundled name or a .jsonl path */
    const char *question_field; /* NULL = the benchmark's own ("Body,Question" for SVAMP) */
    const char *answer_field;   /* NULL = the benchmark's own */
    const char *compare;        /* "auto" | "numeric" | "math" | "toolkit" */
    const char *data_dir;       /* NULL = --data-dir / LR_DATA_DIR / next to the executable */
    long limit;                 /* 0 = every problem */
    int toolkit;                /* the toolkit's questions and golds (its prompt types) */
    int num_shots;              /* demonstrations to load: -1 = the toolkit's per benchmark (5 for mmlu_stem) */
} eval_benchmark_opts;

/* The seven benchmarks of the paper's Table 1, in its column order. */
#define EVAL_PAPER_N 7
extern const char *const eval_paper_benchmarks[EVAL_PAPER_N];
extern const char *const eval_paper_titles[EVAL_PAPER_N];

/* Reads the benchmark. -1 + lr_error ("file:line: what") on a missing
 * file, a line that is not a JSON object, a missing or mistyped field. */
int benchmark_load(eval_benchmark *b, const eval_benchmark_opts *o);
void benchmark_free(eval_benchmark *b);

/* The jsonl file a bundled benchmark name resolves to (fresh string), or
 * NULL + lr_error listing the places searched. */
char *benchmark_bundled_path(const char *name, const char *data_dir);

/* Validates UTF-8 (no overlongs, no surrogates). 1 when valid. */
int eval_utf8_valid(const char *s);

#endif
