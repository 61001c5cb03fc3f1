/* Final-answer extraction and comparison for evaluation (SPEC §2).
 *
 * Extraction: the last brace-matched \boxed{…} (or \fbox{…}), else the text
 * after the last "answer is", else the last number in the output.
 *
 * Comparison has three modes (the third, COMPARE_TOOLKIT, is the
 * Qwen2.5-Math toolkit's extraction and math_equal: eval/toolkit.h):
 *   - numeric (GSM8K, SVAMP, ASDiv, custom files): gold and prediction are
 *     compared as numbers with $, %, commas and units stripped, relative
 *     tolerance 1e-4; a gold answer that is not a number (ASDiv "Yes",
 *     "3:30 p.m.") is flagged and compared as normalised text instead;
 *   - math (MATH-500): both sides are LaTeX-normalised; numbers and simple
 *     fractions compare numerically, everything else as normalised strings.
 *
 * Pure functions of their inputs: no I/O, no global state, thread-safe. */
#ifndef LR_EVAL_ANSWER_H
#define LR_EVAL_ANSWER_H

typedef enum {
    ANSWER_NONE = 0,        /* nothing found */
    ANSWER_BOXED = 1,       /* \boxed{…} / \fbox{…} */
    ANSWER_IS = 2,          /* "… answer is X" */
    ANSWER_LAST_NUMBER = 3, /* last number in the text */
} answer_method;

/* COMPARE_TOOLKIT: the Qwen2.5-Math toolkit's math_equal (eval/toolkit.h) */
typedef enum { COMPARE_NUMERIC = 0, COMPARE_MATH = 1, COMPARE_TOOLKIT = 2 } answer_mode;

/* The final answer of a model output as a fresh string ("" when none). */
char *answer_extract(const char *text, answer_method *method);

typedef struct {
    int correct;
    int gold_unparseable; /* numeric mode: gold is not a number; math mode: gold is empty */
} answer_verdict;

/* Compares an extracted answer with a gold answer. */
answer_verdict answer_judge(answer_mode mode, const char *pred, const char *gold);

/* ---- building blocks, exposed for tests and for other stages */

/* Relative tolerance 1e-4 (exact equality required for zero). */
int answer_numbers_equal(double a, double b);

/* Light normalisation used by both modes: \text{…}/\mathrm{…} unwrapped,
 * \left/\right, $, \$, %, \%, \!, \, ^\circ and similar dropped, \dfrac and
 * \tfrac -> \frac, \frac12 -> \frac{1}{2}, \sqrt2 -> \sqrt{2}, Unicode minus
 * -> '-'; whitespace kept. Fresh string. */
char *answer_normalize_light(const char *s);

/* Math-mode normalisation: light normalisation plus all whitespace removed,
 * a leading "x=" dropped, trailing zeros of decimals ("2.50" -> "2.5",
 * "5.0" -> "5"), ".5" -> "0.5", trailing '.' dropped. Fresh string. */
char *answer_normalize_math(const char *s);

/* Parses a number at s: optional sign, digits with optional thousands
 * commas ("1,234"), optional decimals, optional "/denominator"; or
 * \frac{a}{b} with plain numbers a, b. Returns the bytes consumed (0 when
 * s does not start with a number). */
int answer_scan_number(const char *s, double *value);

/* The whole string (light-normalised) is a number, optionally followed by
 * unit words ("9 (apples)", "18 dollars", "6th"). Returns 1 and the value.
 * allow_short_units = 0 rejects one-letter suffixes ("2i", "3x"). */
int answer_parse_number_strict(const char *s, int allow_short_units, double *value);

/* The first number after the last '=' (or in the whole string when there
 * is none), e.g. "2 \times 9 = 18 apples" -> 18. Returns 1 and the value. */
int answer_parse_number_lenient(const char *s, double *value);

#endif
