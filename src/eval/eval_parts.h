/* Crash safety for `eval`: every finished chunk of problems is persisted as
 * its own small JSON file in a parts directory next to the run file,
 * written to a temporary name and renamed, so a file that exists is
 * complete. --resume skips chunks whose file exists; the run file's
 * /eval/<name> group is written only once every chunk is there, and the
 * parts directory is removed after that. */
#ifndef LR_EVAL_PARTS_H
#define LR_EVAL_PARTS_H

#include <cjson/cJSON.h>

typedef struct {
    long index;        /* problem index in the benchmark (0-based) */
    char *output;      /* decoded generated text, special tokens skipped */
    char *extracted;   /* answer_extract() of output */
    int method;        /* answer_method */
    int finish;        /* lr_finish_reason */
    int n_tokens;      /* generated tokens, EOS included */
    int prompt_tokens;
} eval_item;

void eval_item_free(eval_item *it);

/* "<dir>/chunk-000012.json" (fresh string). */
char *eval_parts_chunk_path(const char *dir, long chunk);

/* Atomically writes chunk [lo, hi) (items[0 .. hi-lo)). 0, or -1 + lr_error. */
int eval_parts_write_chunk(const char *dir, long chunk, long lo, long hi, const char *fingerprint,
                           const eval_item *items);

/* Reads chunk [lo, hi) into items (hi-lo entries, caller frees each).
 * 1 read, 0 absent, -1 present but not a valid chunk for these settings
 * (lr_error says why). */
int eval_parts_read_chunk(const char *dir, long chunk, long lo, long hi, const char *fingerprint, eval_item *items);

/* Calls fn for every chunk file present (by name only; cheap, for progress). */
void eval_parts_list(const char *dir, void (*fn)(void *ctx, long chunk), void *ctx);

/* Removes the directory's files (ours: chunks, temporaries, manifest) and
 * the directory. 0, or -1 + lr_error. */
int eval_parts_remove(const char *dir);

/* Whole-file JSON helpers (atomic write). */
int eval_json_write_atomic(const char *path, const cJSON *obj);
cJSON *eval_json_read(const char *path); /* NULL + lr_error */

#endif
