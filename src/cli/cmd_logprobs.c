/* `lightreasoner logprobs`: teacher-forced per-position next-token
 * statistics for given texts or id sequences, to HDF5.
 *
 *   logprobs --model DIR [--adapter DIR] --input FILE.jsonl --out FILE.h5 [--top-k K] [--full]
 *            [--field text] [--batch-tokens N] [--threads N] [--quiet]
 *
 * Each input line is a JSON object with a string under --field (tokenized
 * with the model directory's tokenizer, no chat template) or an "ids" list.
 * For a sequence of n tokens there are n - 1 positions: position t holds
 * the distribution over token t + 1 given tokens 0..t.
 *
 * Output (ragged data concatenated over sequences, with offsets):
 *   /ids               int32 (n_tokens)         all input tokens
 *   /ids_offsets       int64 (n_seq + 1)        sequence i = ids[ids_offsets[i]:ids_offsets[i+1]]
 *   /position_offsets  int64 (n_seq + 1)        its positions = rows [position_offsets[i], ..[i+1]) below
 *   /source_line    int64 (n_seq)               line of the input file
 *   /logprob        float32 (n_pos)             log p(ids[t+1] | ids[..t]), nats
 *   /entropy        float32 (n_pos)             entropy of that distribution, nats
 *   /topk_ids       int32 (n_pos, K)            most probable next ids (ties: lower id first)
 *   /topk_logprobs  float32 (n_pos, K)          their log-probs, nats
 *   /full_logprobs  float32 (n_pos, vocab)      with --full: the whole log-softmax rows
 * Log-softmax in fp32 with fp64 sums. The file is written under a
 * temporary name and renamed when complete, so a crash never leaves a
 * complete-looking file. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli_ids.h"
#include "cli/commands.h"
#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/progress.h"
#include "io/runfile_h5.h"
#include "model/logits_stats.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "version.h"

typedef struct {
    int32_t *ids;
    int n;
    long line;
} seq;

/* The output is written with io/runfile_h5.h: every HDF5 call is checked,
 * a failure (disk full) ends the process naming the file and the OS
 * reason, its temporary removed. */

int cmd_logprobs(int argc, char **argv) {
    const char *dir = NULL, *in_path = NULL, *out_path = NULL, *field = "text";
    long top_k = 0, threads = 0, batch_tokens = 2048;
    int full = 0, quiet = 0;
    const char *adapter = NULL; /* PEFT LoRA adapter directory */
    const arg_def defs[] = {
        {"model", ARG_STR, &dir, "DIR", "Hugging Face model directory (qwen2 / llama)", 0, 0, 1},
        {"adapter", ARG_STR, &adapter, "DIR",
         "PEFT LoRA adapter applied to the model (ours or peft's; docs/train.md)", 0, 0, 0},
        {"input", ARG_STR, &in_path, "FILE", "jsonl: one object per line with a string under --field, or \"ids\"", 0, 0, 1},
        {"out", ARG_STR, &out_path, "FILE", "HDF5 file to write (replaced atomically)", 0, 0, 1},
        {"field", ARG_STR, &field, "NAME", "text field of input lines", 0, 0, 0},
        {"top-k", ARG_INT, &top_k, "K", "also store the K most probable next tokens per position", 0, 1000000, 0},
        {"full", ARG_FLAG, &full, NULL, "also store full log-softmax rows (n_positions x vocab floats)", 0, 0, 0},
        {"batch-tokens", ARG_INT, &batch_tokens, "N", "tokens per forward pass (sequences are never split)", 1, 1e7, 0},
        {"threads", ARG_INT, &threads, "N", "threads (0 = OMP_NUM_THREADS or all cores)", 0, 4096, 0},
        {"quiet", ARG_FLAG, &quiet, NULL, "no progress on stderr", 0, 0, 0},
    };
    const arg_spec spec = {"logprobs",
                           "Teacher-forced per-position log p(next token), entropy and top-k (optionally full "
                           "log-softmax rows) for texts or id sequences, to HDF5.",
                           NULL, defs, (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);

    lr_model_opts mo = {.n_threads = (int)threads, .quiet = quiet};
    lr_model *m = model_load(dir, &mo);
    if (!m) lr_die_last();
    if (adapter && model_apply_adapter(m, adapter) != 0) lr_die_last(); /* W += s·B·A in memory */
    const int V = model_vocab_size(m), ctx = model_config(m)->max_position_embeddings;
    if (top_k > V) top_k = V;

    /* Read and check every input first: bad input never produces output. */
    lr_tokenizer *tok = NULL;
    int n = 0, cap = 64;
    seq *ss = xmalloc((size_t)cap * sizeof *ss);
    lr_line_reader r;
    if (lr_lines_open(&r, in_path) != 0) lr_die_last();
    char *line, where[4200];
    long len, total = 0, n_pos = 0;
    while ((len = lr_lines_next(&r, &line)) >= 0) {
        if (len == 0) continue;
        snprintf(where, sizeof where, "%s:%ld", r.path, r.line_no);
        if (n == cap) ss = xrealloc(ss, (size_t)(cap *= 2) * sizeof *ss);
        seq *s = &ss[n];
        s->line = r.line_no;
        cJSON *js = cJSON_ParseWithLength(line, (size_t)len);
        if (!cJSON_IsObject(js)) lr_die_input(where, "not a JSON object");
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(js, field);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(js, "ids");
        if (cJSON_IsArray(ids)) {
            s->ids = cli_ids_from_json(ids, where, &s->n);
        } else if (cJSON_IsString(f)) {
            if (!tok && !(tok = tokenizer_load(dir))) lr_die_last();
            long k = tokenizer_encode(tok, f->valuestring, strlen(f->valuestring), &s->ids);
            if (k < 0) lr_die_input(where, "%s", lr_error_msg());
            s->n = (int)k;
        } else {
            lr_die_input(where, "no string field \"%s\" and no \"ids\" list", field);
        }
        cJSON_Delete(js);
        if (s->n == 0) lr_die_input(where, "empty sequence");
        if (s->n > ctx)
            lr_die_input(where, "context overflow: %d tokens, the model's context is %d (max_position_embeddings)", s->n, ctx);
        for (int j = 0; j < s->n; j++)
            if (s->ids[j] >= V) lr_die_input(where, "token id %d is outside the model's vocabulary [0, %d)", s->ids[j], V);
        total += s->n;
        n_pos += s->n - 1;
        n++;
    }
    lr_lines_close(&r);
    if (n == 0) lr_die_input(in_path, "no sequences");

    /* Output under a temporary name. */
    size_t tl = strlen(out_path) + 32;
    char *tmp = xmalloc(tl);
    snprintf(tmp, tl, "%s.tmp.%ld", out_path, (long)getpid());
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = h5u_create(tmp, out_path);
    h5u_attr_str(f, "schema", "lightreasoner.logprobs");
    h5u_attr_i64(f, "schema_version", 1);
    h5u_attr_str(f, "version", LR_VERSION);
    h5u_attr_str(f, "git_commit", LR_GIT_COMMIT);
    char *cl = args_command_line(argc, argv);
    h5u_attr_str(f, "command_line", cl);
    free(cl);
    h5u_attr_str(f, "model", dir);
    h5u_attr_str(f, "input", in_path);
    h5u_attr_i64(f, "full", full);
    h5u_attr_i64(f, "vocab_size", V);
    h5u_attr_i64(f, "n_sequences", n);
    h5u_attr_i64(f, "n_positions", n_pos);
    h5u_attr_i64(f, "top_k", top_k);
    h5u_attr_str(f, "description",
             "Teacher-forced next-token statistics. Position t of a sequence of n tokens (t < n-1) is the "
             "distribution over token t+1 given tokens 0..t. Sequence i: ids[ids_offsets[i]:ids_offsets[i+1]], "
             "positions position_offsets[i]..position_offsets[i+1]-1 of the per-position datasets. Log-softmax in "
             "fp32, sums in fp64. Attribute complete = 1 is written last.");
    int64_t *seq_off = xmalloc((size_t)(n + 1) * sizeof *seq_off), *pos_off = xmalloc((size_t)(n + 1) * sizeof *pos_off);
    int64_t *src_line = xmalloc((size_t)n * sizeof *src_line);
    int32_t *all_ids = xmalloc((size_t)total * sizeof *all_ids);
    seq_off[0] = pos_off[0] = 0;
    for (int i = 0; i < n; i++) {
        memcpy(all_ids + seq_off[i], ss[i].ids, (size_t)ss[i].n * sizeof(int32_t));
        seq_off[i + 1] = seq_off[i] + ss[i].n;
        pos_off[i + 1] = pos_off[i] + ss[i].n - 1;
        src_line[i] = ss[i].line;
    }
    h5u_write_1d_plain(f, "ids", H5T_STD_I32LE, H5T_NATIVE_INT32, all_ids, (hsize_t)total, "input token ids, all sequences concatenated", NULL);
    h5u_write_1d_plain(f, "ids_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, seq_off, (hsize_t)n + 1,
             "sequence i is ids[ids_offsets[i]:ids_offsets[i+1]]", NULL);
    h5u_write_1d_plain(f, "position_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, pos_off, (hsize_t)n + 1,
             "positions of sequence i are rows position_offsets[i]..position_offsets[i+1]-1 of "
             "logprob/entropy/topk_*/full_logprobs (a sequence of n tokens has n-1)", NULL);
    h5u_write_1d_plain(f, "source_line", H5T_STD_I64LE, H5T_NATIVE_INT64, src_line, (hsize_t)n, "line number of the sequence in the input file", NULL);
    h5u_rows d_lp, d_ent, d_tki = {0}, d_tkl = {0}, d_full = {0};
    h5u_rows_create(&d_lp, f, "logprob", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 0,
                    "log p(ids[t+1] | ids[0..t]) under the model", "nats (natural log)");
    h5u_rows_create(&d_ent, f, "entropy", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 0,
                    "entropy of the next-token distribution at position t", "nats (natural log)");
    if (top_k > 0) {
        h5u_rows_create(&d_tki, f, "topk_ids", H5T_STD_I32LE, H5T_NATIVE_INT32, (hsize_t)top_k,
                        "the top_k most probable next token ids, most probable first (ties: lower id first)", NULL);
        h5u_rows_create(&d_tkl, f, "topk_logprobs", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, (hsize_t)top_k,
                        "log-probs of topk_ids", "nats (natural log)");
    }
    if (full)
        h5u_rows_create(&d_full, f, "full_logprobs", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, (hsize_t)V,
                        "full log-softmax row of the next-token distribution at position t", "nats (natural log)");

    /* Forward passes over whole sequences, batch_tokens at a time. */
    lr_progress pg;
    progress_init(&pg, "logprobs", total, 0, quiet);
    long done = 0;
    float *logits = NULL;
    size_t logits_cap = 0;
    int *lens = xmalloc((size_t)n * sizeof *lens);
    for (int s0 = 0; s0 < n;) {
        int s1 = s0;
        long T = 0;
        while (s1 < n && (s1 == s0 || T + ss[s1].n <= batch_tokens)) T += ss[s1++].n;
        if ((size_t)T * V > logits_cap) {
            free(logits);
            logits_cap = (size_t)T * V;
            logits = xmalloc(logits_cap * sizeof(float));
        }
        for (int i = s0; i < s1; i++) lens[i - s0] = ss[i].n;
        if (model_forward(m, all_ids + seq_off[s0], lens, s1 - s0, 1, logits) != 0) lr_die_last();
        const long P = pos_off[s1] - pos_off[s0];
        float *lp = xmalloc((size_t)(P ? P : 1) * sizeof(float)), *ent = xmalloc((size_t)(P ? P : 1) * sizeof(float));
        int32_t *tki = top_k ? xmalloc((size_t)P * top_k * sizeof(int32_t) + 1) : NULL;
        float *tkl = top_k ? xmalloc((size_t)P * top_k * sizeof(float) + 1) : NULL;
        /* Rows whose next token exists, in place of the logits when --full. */
        long p = 0;
        for (int i = s0; i < s1; i++) {
            const long row0 = seq_off[i] - seq_off[s0];
            for (int t = 0; t + 1 < ss[i].n; t++, p++) {
                float *row = logits + (size_t)(row0 + t) * V;
                logits_row_stats(row, V, ss[i].ids[t + 1], (int)top_k, NULL, &lp[p], &ent[p],
                                 tki ? tki + (size_t)p * top_k : NULL, tkl ? tkl + (size_t)p * top_k : NULL,
                                 full ? logits + (size_t)p * V : NULL);
            }
        }
        h5u_rows_append(&d_lp, lp, (hsize_t)P);
        h5u_rows_append(&d_ent, ent, (hsize_t)P);
        if (top_k) {
            h5u_rows_append(&d_tki, tki, (hsize_t)P);
            h5u_rows_append(&d_tkl, tkl, (hsize_t)P);
        }
        if (full) h5u_rows_append(&d_full, logits, (hsize_t)P);
        free(lp), free(ent), free(tki), free(tkl);
        done += T;
        progress_update(&pg, done, 0, "%.0f tok/s", done / (progress_elapsed(&pg) + 1e-9));
        s0 = s1;
    }
    progress_end(&pg);
    h5u_rows_close(&d_lp);
    h5u_rows_close(&d_ent);
    h5u_rows_close(&d_tki);
    h5u_rows_close(&d_tkl);
    h5u_rows_close(&d_full);
    h5u_attr_i64(f, "complete", 1);
    h5u_commit(f, tmp, out_path); /* flush, close, fsync, rename: checked */
    if (!quiet)
        fprintf(stderr, "logprobs: %d sequences, %ld tokens, %ld positions in %.1f s -> %s\n", n, total, n_pos,
                progress_elapsed(&pg), out_path);
    for (int i = 0; i < n; i++) free(ss[i].ids);
    free(ss), free(lens), free(logits), free(all_ids), free(seq_off), free(pos_off), free(src_line), free(tmp);
    tokenizer_free(tok);
    model_free(m);
    return 0;
}
