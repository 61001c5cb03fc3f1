/* Agreement with the Qwen2.5-Math evaluation toolkit on the goldens that
 * tests/reference/make_eval_goldens.py made with the toolkit's own code:
 *   - verdicts: math_equal(pred, gt) on >= 2,000 (prediction, gold) pairs
 *     built from the seven benchmarks' gold answers (target >= 99.5%);
 *   - extraction: the toolkit's prediction from each model output;
 *   - gold answers and questions: parse_ground_truth and parse_question of
 *     every problem (through benchmark_load, the path `eval` takes);
 *   - prompts: construct_prompt for a sample of problems of every benchmark
 *     and prompt type, byte for byte (chat wrapping and few-shot included).
 * Every disagreement is printed; docs/eval.md explains the known ones. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "eval/benchmark.h"
#include "eval/tk_bench.h"
#include "eval/toolkit.h"
#include "test_util.h"

#define N_BENCH 7
static const char *const k_names[N_BENCH] = {"gsm8k", "math500", "svamp", "asdiv", "minerva_math",
                                             "olympiadbench", "mmlu_stem"};
static const tk_data k_data[N_BENCH] = {TK_GSM8K, TK_MATH, TK_SVAMP, TK_ASDIV, TK_MINERVA, TK_OLYMPIAD, TK_MMLU};

static int bench_index(const char *b) {
    for (int i = 0; i < N_BENCH; i++)
        if (!strcmp(b, k_names[i])) return i;
    return -1;
}

/* gt[b][i] and the question hash qh[b][i] from gold_goldens.jsonl */
static char **g_gt[N_BENCH], **g_qh[N_BENCH];
static long g_n[N_BENCH];

static void fnv_hex(const char *s, char out[17]) {
    unsigned long long h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    snprintf(out, 17, "%016llx", h);
}

static void load_golds(void) {
    lr_line_reader r;
    const char *path = test_data_path("eval/gold_goldens.jsonl");
    EXPECT(lr_lines_open(&r, path) == 0, "open %s", path);
    if (!r.f) return;
    char *line;
    long len;
    while ((len = lr_lines_next(&r, &line)) >= 0) {
        cJSON *c = cJSON_ParseWithLength(line, (size_t)len);
        if (!c) continue;
        int b = bench_index(cJSON_GetObjectItem(c, "b")->valuestring);
        long i = (long)cJSON_GetObjectItem(c, "i")->valuedouble;
        if (b >= 0 && i >= 0 && i < 100000) {
            if (i >= g_n[b]) {
                g_gt[b] = realloc(g_gt[b], (size_t)(i + 1) * sizeof **g_gt);
                g_qh[b] = realloc(g_qh[b], (size_t)(i + 1) * sizeof **g_qh);
                for (long k = g_n[b]; k <= i; k++) g_gt[b][k] = g_qh[b][k] = NULL;
                g_n[b] = i + 1;
            }
            g_gt[b][i] = strdup(cJSON_GetObjectItem(c, "gt")->valuestring);
            cJSON *qh = cJSON_GetObjectItem(c, "qh");
            if (cJSON_IsString(qh)) g_qh[b][i] = strdup(qh->valuestring);
        }
        cJSON_Delete(c);
    }
    lr_lines_close(&r);
}

static void test_verdicts(void) {
    lr_line_reader r;
    const char *path = test_data_path("eval/verdict_goldens.jsonl");
    EXPECT(lr_lines_open(&r, path) == 0, "open %s", path);
    if (!r.f) return;
    long n = 0, judge_agree = 0, extract_agree = 0, e2e_agree = 0, skipped = 0;
    long per_n[N_BENCH] = {0}, per_agree[N_BENCH] = {0};
    int shown = 0;
    char *line;
    long len;
    while ((len = lr_lines_next(&r, &line)) >= 0) {
        cJSON *c = cJSON_ParseWithLength(line, (size_t)len);
        if (!c) continue;
        int b = bench_index(cJSON_GetObjectItem(c, "b")->valuestring);
        long i = (long)cJSON_GetObjectItem(c, "i")->valuedouble;
        const char *out = cJSON_GetObjectItem(c, "out")->valuestring;
        const char *pred = cJSON_GetObjectItem(c, "pred")->valuestring;
        int ok = (int)cJSON_GetObjectItem(c, "ok")->valuedouble;
        if (cJSON_GetObjectItem(c, "to")) {
            skipped++; /* the toolkit timed out: its verdict is not a property of the pair */
            cJSON_Delete(c);
            continue;
        }
        const char *gt = b >= 0 && i < g_n[b] ? g_gt[b][i] : NULL;
        if (!gt) {
            cJSON_Delete(c);
            continue;
        }
        n++;
        per_n[b]++;
        int mine = tk_math_equal(pred, gt);
        judge_agree += mine == ok;
        per_agree[b] += mine == ok;
        char *cp = tk_predict(out, k_data[b], gt, NULL);
        int same_pred = !strcmp(cp, pred);
        extract_agree += same_pred;
        int e2e = tk_math_equal(cp, gt);
        e2e_agree += e2e == ok;
        if ((mine != ok || !same_pred) && shown < 60) {
            shown++;
            printf("  disagree %s #%ld: pred '%s' gt '%s' toolkit %d ours %d%s%s%s\n", k_names[b], i, pred, gt, ok,
                   mine, same_pred ? "" : "; our prediction '", same_pred ? "" : cp, same_pred ? "" : "'");
        }
        free(cp);
        cJSON_Delete(c);
    }
    lr_lines_close(&r);
    printf("verdict pairs: %ld (%ld skipped: toolkit timeout)\n", n, skipped);
    for (int b = 0; b < N_BENCH; b++)
        printf("  %-14s %5ld pairs, judge agreement %.2f%%\n", k_names[b], per_n[b],
               per_n[b] ? 100.0 * per_agree[b] / per_n[b] : 0);
    double ja = n ? (double)judge_agree / n : 0, ea = n ? (double)extract_agree / n : 0,
           ee = n ? (double)e2e_agree / n : 0;
    printf("judge agreement %.2f%% (%ld/%ld), extraction %.2f%%, end to end %.2f%%\n", 100 * ja, judge_agree, n,
           100 * ea, 100 * ee);
    EXPECT(n >= 2000, "at least 2,000 verdict pairs (got %ld)", n);
    EXPECT(ja >= 0.995, "judge agreement %.4f >= 0.995", ja);
    EXPECT(ea >= 0.995, "extraction agreement %.4f >= 0.995", ea);
    EXPECT(ee >= 0.995, "end-to-end agreement %.4f >= 0.995", ee);
}

/* the gold answer eval compares with, for every problem of every benchmark */
static void test_golds(void) {
    for (int b = 0; b < N_BENCH; b++) {
        eval_benchmark bm;
        eval_benchmark_opts o = {.benchmark = k_names[b], .data_dir = test_repo_data_dir(), .toolkit = 1, .num_shots = -1};
        EXPECT(benchmark_load(&bm, &o) == 0, "load %s", k_names[b]);
        if (!bm.items) continue;
        EXPECT(bm.n == g_n[b], "%s: %ld problems, goldens %ld", k_names[b], bm.n, g_n[b]);
        long agree = 0, shown = 0, q_agree = 0;
        for (long i = 0; i < bm.n && i < g_n[b]; i++) {
            int same = g_gt[b][i] && !strcmp(bm.items[i].gold, g_gt[b][i]);
            agree += same;
            if (!same && shown++ < 5)
                printf("  gold %s #%ld: ours '%s' toolkit '%s'\n", k_names[b], i, bm.items[i].gold,
                       g_gt[b][i] ? g_gt[b][i] : "(none)");
            char h[17];
            fnv_hex(bm.items[i].question, h);
            int q_same = g_qh[b][i] && !strcmp(h, g_qh[b][i]);
            q_agree += q_same;
            if (!q_same && shown++ < 5) printf("  question %s #%ld differs: '%.80s'\n", k_names[b], i, bm.items[i].question);
        }
        printf("gold answers %-14s %ld/%ld as the toolkit parses them, questions %ld/%ld identical\n", k_names[b],
               agree, bm.n, q_agree, bm.n);
        EXPECT(agree == bm.n, "%s: gold agreement %ld/%ld", k_names[b], agree, bm.n);
        EXPECT(q_agree == bm.n, "%s: question agreement %ld/%ld (parse_question, FNV-1a of the bytes)", k_names[b],
               q_agree, bm.n);
        benchmark_free(&bm);
    }
}

static void test_prompts(void) {
    eval_benchmark bm[N_BENCH];
    int loaded[N_BENCH] = {0};
    for (int b = 0; b < N_BENCH; b++) {
        eval_benchmark_opts o = {.benchmark = k_names[b], .data_dir = test_repo_data_dir(), .toolkit = 1,
                                 .num_shots = -1};
        loaded[b] = benchmark_load(&bm[b], &o) == 0;
        EXPECT(loaded[b], "load %s", k_names[b]);
    }
    EXPECT(bm[6].n_demos == 5, "mmlu_stem: the toolkit's 5 demonstrations (got %d)", bm[6].n_demos);
    lr_line_reader r;
    const char *path = test_data_path("eval/prompt_goldens.jsonl");
    EXPECT(lr_lines_open(&r, path) == 0, "open %s", path);
    long n = 0, same = 0, per_type[4] = {0};
    char *line;
    long len;
    while (r.f && (len = lr_lines_next(&r, &line)) >= 0) {
        cJSON *c = cJSON_ParseWithLength(line, (size_t)len);
        if (!c) continue;
        int b = bench_index(cJSON_GetObjectItem(c, "b")->valuestring);
        long i = (long)cJSON_GetObjectItem(c, "i")->valuedouble;
        const char *want = cJSON_GetObjectItem(c, "prompt")->valuestring;
        tk_prompt_type t;
        int known = tk_prompt_type_parse(cJSON_GetObjectItem(c, "t")->valuestring, &t) == 0;
        EXPECT(known && b >= 0 && loaded[b] && i < bm[b].n, "prompt golden line %ld usable", r.line_no);
        if (known && b >= 0 && loaded[b] && i < bm[b].n) {
            char *got = tk_render_prompt(t, bm[b].items[i].question, (const char *const *)bm[b].demo_q,
                                         (const char *const *)bm[b].demo_a, bm[b].n_demos);
            n++;
            per_type[t]++;
            if (!strcmp(got, want)) same++;
            else {
                size_t k = 0;
                while (got[k] && got[k] == want[k]) k++;
                EXPECT(0, "prompt %s #%ld %s differs at byte %zu: ours '%.40s' toolkit '%.40s'", k_names[b], i,
                       tk_prompt_type_name(t), k, got + k, want + k);
            }
            free(got);
        }
        cJSON_Delete(c);
    }
    if (r.f) lr_lines_close(&r);
    printf("prompts: %ld/%ld byte-identical (qwen25-math-cot %ld, direct %ld, cot %ld)\n", same, n, per_type[1],
           per_type[2], per_type[3]);
    EXPECT(n >= 150, "prompt goldens: %ld", n);
    for (int b = 0; b < N_BENCH; b++)
        if (loaded[b]) benchmark_free(&bm[b]);
}

/* Verdicts of the toolkit's math_equal on its parser's quirks (checked
 * with the toolkit: \pi and e are sympy symbols, a valid prefix is read,
 * 1/2x is 1/(2x), relations compare by meaning of the sides). */
static void test_quirks(void) {
    static const struct {
        const char *pred, *gold;
        int eq;
    } k[] = {
        {"\\frac{\\pi}{2}", "1.5708", 0}, {"2\\pi", "6.2832", 0},   {"\\sqrt{2}", "1.4142", 1},
        {"e", "2.718", 0},                {"x+x", "2x", 1},            {"\\frac{x}{2}", "0.5x", 1},
        {"1,2", "1,3", 0},                {"\\sqrt{2},3", "\\sqrt{2},5", 1}, {"x<3", "3>x", 1},
        {"\\ln2", "0.6931", 1},          {"3!", "6", 1},              {"|-2|", "2", 1},
        {"2^{10}", "1024", 1},            {"1/2x", "\\frac{1}{2x}", 1}, {"50", "0.5", 1},
        {"0.5", "50", 1},                 {"(1,2)", "(2,1)", 0},       {"[1,2)", "[1,2)", 1},
        {"\\begin{pmatrix}1\\\\2\\end{pmatrix}", "{1,2}", 0},  {"y=2x+1", "2x-y+1=0", 1},
        {"B", "B", 1},                    {"(B)", "B", 1},             {"The answer is b", "B", 1},
    };
    for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
        int got = tk_math_equal(k[i].pred, k[i].gold);
        EXPECT(got == k[i].eq, "math_equal('%s', '%s') = %d, toolkit %d", k[i].pred, k[i].gold, got, k[i].eq);
    }
    /* bounded fuzz: LaTeX-ish token soup never crashes or hangs */
    static const char *const toks[] = {"\\frac", "{", "}", "(", ")", "[", "]", "^", "_", "x", "2", "3.5", ",",
                                       "=", "<", "\\sqrt", "\\pi", "\\boxed{", "|", "!", "-", "+", "\\left",
                                       "\\text{", "%", "$", "\\\\", "&", "e", "\\sin", "\\log_", ".", " "};
    unsigned seed = 12345;
    char a[512], b[512];
    for (int it = 0; it < 3000; it++) {
        for (char *buf = a; buf; buf = buf == a ? b : NULL) {
            buf[0] = 0;
            int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 40;
            for (int j = 0; j < n; j++) {
                seed = seed * 1103515245u + 12345u;
                strcat(buf, toks[(seed >> 16) % (sizeof toks / sizeof *toks)]);
            }
        }
        int r1 = tk_math_equal(a, b);
        char *p = tk_predict(a, TK_MATH, b, NULL), *q = tk_extract_answer(b, TK_MMLU);
        EXPECT(r1 == 0 || r1 == 1, "fuzz verdict");
        EXPECT(tk_math_equal(a, a) == 1 || !*a, "a string equals itself: '%s'", a);
        free(p), free(q);
    }
}

int main(void) {
    test_quirks();
    load_golds();
    test_verdicts();
    test_golds();
    test_prompts();
    for (int b = 0; b < N_BENCH; b++) {
        for (long i = 0; i < g_n[b]; i++) {
            free(g_gt[b][i]);
            free(g_qh[b][i]);
        }
        free(g_gt[b]);
        free(g_qh[b]);
    }
    return test_finish("test_eval_toolkit");
}
