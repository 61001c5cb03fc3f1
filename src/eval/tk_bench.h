/* Questions, gold answers and prompts as the Qwen2.5-Math toolkit builds
 * them (parser.parse_question, parser.parse_ground_truth,
 * utils.construct_prompt), for benchmark.c and eval_run.c. */
#ifndef LR_EVAL_TK_BENCH_H
#define LR_EVAL_TK_BENCH_H

#include <cjson/cJSON.h>

#include "eval/toolkit.h"

/* The gold answer of one jsonl record (fresh string), or NULL + lr_error
 * (where: "file:line"). field: the answer field for TK_OTHER. */
char *tk_gold(const cJSON *obj, tk_data d, const char *field, const char *where);

/* The question (fresh string) or NULL + lr_error. fields: comma-separated
 * question fields for TK_OTHER; gt: the record's gold (yes/no suffix). */
char *tk_question(const cJSON *obj, tk_data d, const char *fields, const char *gt, const char *where);

/* The toolkit's prompt types (utils.PROMPT_TEMPLATES names); PT_SPEC is
 * ours: the SPEC §2 system prompt through the model's chat template. */
typedef enum { PT_SPEC = 0, PT_QWEN25_MATH_COT, PT_DIRECT, PT_COT } tk_prompt_type;

/* 0 and *t, or -1 for an unknown name. */
int tk_prompt_type_parse(const char *name, tk_prompt_type *t);
const char *tk_prompt_type_name(tk_prompt_type t);

/* construct_prompt: the question in the type's template, after n_demos
 * (question, answer) demonstrations joined as the toolkit joins them, the
 * result stripped of spaces at both ends. Fresh string. */
char *tk_render_prompt(tk_prompt_type t, const char *question, const char *const *demo_q,
                       const char *const *demo_a, int n_demos);

/* math_eval.py's stop words for the type (NULL-terminated). */
const char *const *tk_stop_words(tk_prompt_type t);

#endif
