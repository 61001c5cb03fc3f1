/* The Qwen2.5-Math evaluation toolkit's protocol (github QwenLM/Qwen2.5-Math,
 * evaluation/: parser.py, grader.py, utils.py, math_eval.py), written anew
 * in C from its documented behaviour: how a benchmark's gold answer is read,
 * how the final answer is extracted from a generated text, and when a
 * prediction counts as equal to the gold (math_equal). docs/eval.md lists
 * where this port and the toolkit disagree on the committed goldens.
 *
 * Pure functions of their inputs (no I/O, no global state, thread-safe);
 * every returned string is fresh (caller frees). */
#ifndef LR_EVAL_TOOLKIT_H
#define LR_EVAL_TOOLKIT_H

/* The toolkit's data_name as far as it changes parsing. */
typedef enum {
    TK_GSM8K = 0,
    TK_MATH,     /* MATH and MATH-500 */
    TK_SVAMP,
    TK_ASDIV,
    TK_MINERVA,  /* minerva_math: units kept (STRIP_EXCEPTIONS) */
    TK_OLYMPIAD, /* olympiadbench */
    TK_MMLU,     /* mmlu_stem: multiple choice A-D */
    TK_OTHER,    /* a user file: like MATH answers, gold read as written */
} tk_data;

/* parser.strip_string: the toolkit's answer normalisation (unit words,
 * \text{}, $, %, \left/\right, \dfrac, "x=", word numbers, 5.0 -> 5, a/b ->
 * \frac{a}{b}, spaces ...). skip_unit keeps unit words (minerva_math). */
char *tk_strip_string(const char *s, int skip_unit);

/* parser.extract_answer: "final answer is $…$. I hope", the last "boxed",
 * "he answer is", "final answer is", else the last number; then cleaned
 * and strip_string'ed. Multiple choice: choice_answer_clean. */
char *tk_extract_answer(const char *text, tk_data d);

/* parser.choice_answer_clean (the extraction one: few-shot aware). */
char *tk_choice_answer_clean(const char *pred);

/* The whole path of math_eval.py from a generated text to the prediction
 * that is graded: cut at the first stop word (stop: NULL-terminated list,
 * NULL = the toolkit's three), extract_answer, strip_string again, and the
 * multiple-choice fallbacks against the gold. */
char *tk_predict(const char *output, tk_data d, const char *gt, const char *const *stop);

/* grader.math_equal(pred, ref) with the toolkit's defaults (percentages
 * accepted, relative tolerance 1e-4). 1 equal, 0 not. */
int tk_math_equal(const char *pred, const char *ref);

/* grader.symbolic_equal: LaTeX (or plain) expressions parsed to trees as
 * sympy's parse_latex reads them, compared exactly / numerically. */
int tk_symbolic_equal(const char *a, const char *b);

/* ---- small helpers shared by the tk_*.c files */

/* Python's repr(float) of v ("145.0", "1e-05", "0.1"). buf >= 40 bytes. */
void tk_float_repr(double v, char *buf);

/* Python float(s) (whitespace, sign, digits with '_', "inf", "nan", "1e5").
 * 1 and *v when s parses. */
int tk_py_float(const char *s, double *v);

/* Python's str.isalnum() || '_' for the code point (\w in re). */
int tk_is_word_cp(unsigned cp);

/* Decodes the UTF-8 code point at s (length in *len, >= 1 even on bad
 * bytes). */
unsigned tk_utf8_cp(const char *s, int *len);

/* Python's str.strip(): Unicode whitespace off both ends (fresh string). */
char *tk_py_strip(const char *s);

/* s with every occurrence of from replaced by to (fresh string). */
char *tk_replace(const char *s, const char *from, const char *to);

#endif
