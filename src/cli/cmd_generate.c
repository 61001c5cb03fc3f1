/* `lightreasoner generate`: text (and ids) from a model directory.
 *
 *   generate --model DIR [--adapter DIR] [--chat [--system S] [--chat-template NAME]]
 *            (--prompt TEXT | --prompt-ids "1 2 3" | --prompts FILE.jsonl [--field prompt])
 *            [--max-new-tokens N] [--temperature T --top-p P --sample-seed S]
 *            [--batch B] [--ids] [--threads N] [--quiet]
 *
 * One prompt: the generated text on stdout (special tokens skipped), then
 * with --ids a line "ids: <id> ...". A jsonl file (each line an object with
 * a string under --field, or an "ids" list): one JSON object per input
 * line, in order, {"index", "text", "finish_reason", "n_tokens"[, "ids"]}.
 * Generation stops at the model's EOS ids (generation_config.json,
 * config.json, the tokenizer's eos_token). Sampling is seeded per prompt
 * index, so --batch never changes the output. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli_ids.h"
#include "cli/commands.h"
#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/progress.h"
#include "model/eos.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    int32_t *ids;
    int n;
    char where[512]; /* "FILE:LINE" or "--prompt" for messages */
} prompt;

static lr_tokenizer *need_tok(lr_tokenizer *t, const char *dir) {
    if (!t) lr_die_input(dir, "no tokenizer (tokenizer.json or vocab.json + merges.txt) for a text prompt");
    return t;
}

static int32_t *encode(lr_tokenizer *t, lr_chat_template tpl, int chat, const char *system, const char *text,
                       const char *where, int *n_out) {
    char *wrapped = chat ? tokenizer_chat_render(t, tpl, system, text, 1) : NULL;
    const char *s = wrapped ? wrapped : text;
    int32_t *ids;
    long k = tokenizer_encode(t, s, strlen(s), &ids);
    if (k < 0) lr_die_input(where, "%s", lr_error_msg());
    free(wrapped);
    *n_out = (int)k;
    return ids;
}

static const char *finish_name(lr_finish_reason f) {
    return f == FINISH_EOS ? "eos" : f == FINISH_LENGTH ? "length" : f == FINISH_CONTEXT ? "context" : "nonfinite";
}

typedef struct {
    lr_progress *pg;
    long done_tokens;
} gen_ctx;

static void on_step(void *vctx, int seq, int step, int32_t token, const float *logits) {
    (void)seq, (void)step, (void)token, (void)logits;
    gen_ctx *c = vctx;
    c->done_tokens++;
    progress_update(c->pg, c->done_tokens, 0, "%.1f tok/s (bound: every prompt to --max-new-tokens)",
                    c->done_tokens / (progress_elapsed(c->pg) + 1e-9));
}

int cmd_generate(int argc, char **argv) {
    const char *dir = NULL, *system = NULL, *tpl_name = "auto", *prompt_text = NULL, *prompt_ids = NULL,
               *prompts_path = NULL, *field = "prompt";
    long max_new = 128, seed = 0, batch = 8, threads = 0;
    double temperature = 0.0, top_p = 1.0;
    int chat = 0, print_ids = 0, quiet = 0;
    const char *adapter = NULL; /* PEFT LoRA adapter directory */
    const arg_def defs[] = {
        {"model", ARG_STR, &dir, "DIR", "Hugging Face model directory (qwen2 / llama)", 0, 0, 1},
        {"adapter", ARG_STR, &adapter, "DIR",
         "PEFT LoRA adapter applied to the model (ours or peft's; docs/train.md)", 0, 0, 0},
        {"prompt", ARG_STR, &prompt_text, "TEXT", "one prompt", 0, 0, 0},
        {"prompt-ids", ARG_STR, &prompt_ids, "IDS", "one prompt as token ids (\"1 2 3\")", 0, 0, 0},
        {"prompts", ARG_STR, &prompts_path, "FILE", "jsonl: one object per line with a string under --field, or \"ids\"", 0, 0, 0},
        {"field", ARG_STR, &field, "NAME", "prompt field of --prompts lines", 0, 0, 0},
        {"chat", ARG_FLAG, &chat, NULL, "wrap text prompts as the user turn of the chat template (+ assistant header)", 0, 0, 0},
        {"system", ARG_STR, &system, "S", "system prompt for --chat (default: the template's own)", 0, 0, 0},
        {"chat-template", ARG_STR, &tpl_name, "NAME", "auto (the model's own Jinja template), chatml, plain or FILE.jinja", 0, 0, 0},
        {"max-new-tokens", ARG_INT, &max_new, "N", "tokens to generate at most per prompt", 0, 1e9, 0},
        {"temperature", ARG_FLOAT, &temperature, "T", "0 = greedy; > 0 samples", 0, 1e6, 0},
        {"top-p", ARG_FLOAT, &top_p, "P", "nucleus sampling mass (1 = off)", 1e-9, 1, 0},
        {"sample-seed", ARG_INT, &seed, "S", "sampling seed (prompt i uses stream (S, i))", 0, 9.2e18, 0},
        {"seed", ARG_INT, &seed, "S", "sampling seed", 0, 9.2e18, 0, NULL, "sample-seed"},
        {"batch", ARG_INT, &batch, "B", "sequences decoded together", 1, 4096, 0},
        {"ids", ARG_FLAG, &print_ids, NULL, "also print the generated token ids", 0, 0, 0},
        {"threads", ARG_INT, &threads, "N", "threads (0 = OMP_NUM_THREADS or all cores)", 0, 4096, 0},
        {"quiet", ARG_FLAG, &quiet, NULL, "no progress on stderr", 0, 0, 0},
    };
    const arg_spec spec = {"generate", "Generate text from a model directory (greedy by default).", NULL, defs,
                           (int)(sizeof defs / sizeof defs[0]), 0};
    args_parse(&spec, argc, argv, NULL);
    if ((prompt_text != NULL) + (prompt_ids != NULL) + (prompts_path != NULL) != 1)
        lr_die_input("generate", "give exactly one of --prompt, --prompt-ids, --prompts");

    lr_model_opts mo = {.n_threads = (int)threads, .quiet = quiet};
    lr_model *m = model_load(dir, &mo);
    if (!m) lr_die_last();
    if (adapter && model_apply_adapter(m, adapter) != 0) lr_die_last(); /* W += s·B·A in memory */
    const lr_model_config *cfg = model_config(m);
    char *tj = lr_path_join(dir, "tokenizer.json"), *vj = lr_path_join(dir, "vocab.json");
    lr_tokenizer *tok = NULL;
    if (lr_file_exists(tj) || lr_file_exists(vj)) {
        tok = tokenizer_load(dir);
        if (!tok || tokenizer_check_vocab(tok, model_vocab_size(m), dir) != 0) lr_die_last();
    }
    free(tj);
    free(vj);
    lr_chat_template tpl = CHAT_PLAIN;
    if (chat && tok && chat_template_from_name(tpl_name, tok, &tpl) != 0) lr_die_last();
    if (chat && !tok) lr_die_input(dir, "--chat needs a tokenizer in the model directory");

    /* prompts */
    int n = 0, cap = 16;
    prompt *ps = xmalloc((size_t)cap * sizeof *ps);
    if (prompts_path) {
        lr_line_reader r;
        if (lr_lines_open(&r, prompts_path) != 0) lr_die_last();
        char *line;
        long len;
        while ((len = lr_lines_next(&r, &line)) >= 0) {
            if (len == 0) continue;
            if (n == cap) ps = xrealloc(ps, (size_t)(cap *= 2) * sizeof *ps);
            prompt *p = &ps[n];
            snprintf(p->where, sizeof p->where, "%s:%ld", r.path, r.line_no);
            cJSON *js = cJSON_ParseWithLength(line, (size_t)len);
            if (!cJSON_IsObject(js)) lr_die_input(p->where, "not a JSON object");
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(js, field);
            const cJSON *ids = cJSON_GetObjectItemCaseSensitive(js, "ids");
            if (cJSON_IsString(f))
                p->ids = encode(need_tok(tok, dir), tpl, chat, system, f->valuestring, p->where, &p->n);
            else if (cJSON_IsArray(ids))
                p->ids = cli_ids_from_json(ids, p->where, &p->n);
            else
                lr_die_input(p->where, "no string field \"%s\" and no \"ids\" list", field);
            cJSON_Delete(js);
            n++;
        }
        lr_lines_close(&r);
        if (n == 0) lr_die_input(prompts_path, "no prompts");
    } else {
        prompt *p = &ps[n++];
        snprintf(p->where, sizeof p->where, "%s", prompt_text ? "--prompt" : "--prompt-ids");
        p->ids = prompt_text ? encode(need_tok(tok, dir), tpl, chat, system, prompt_text, p->where, &p->n)
                             : cli_ids_from_text(prompt_ids, p->where, 0, &p->n);
    }
    const int V = model_vocab_size(m), ctx = cfg->max_position_embeddings;
    for (int i = 0; i < n; i++) {
        if (ps[i].n == 0) lr_die_input(ps[i].where, "empty prompt");
        for (int j = 0; j < ps[i].n; j++)
            if (ps[i].ids[j] >= V) lr_die_input(ps[i].where, "token id %d is outside the model's vocabulary [0, %d)", ps[i].ids[j], V);
        if (ps[i].n >= ctx)
            lr_die_input(ps[i].where, "context overflow: the prompt has %d tokens, the model's context is %d "
                         "(max_position_embeddings) and generation needs room", ps[i].n, ctx);
    }

    /* EOS ids: config + generation_config (merged at load) + the tokenizer's */
    lr_eos_set eos;
    model_eos_set(m, tok ? tokenizer_eos_id(tok) : -1, &eos);

    lr_gen_params gp = {.max_new_tokens = (int)max_new, .temperature = temperature, .top_p = top_p,
                        .seed = (uint64_t)seed, .eos_ids = eos.ids, .n_eos = eos.n, .batch = (int)batch,
                        .no_step_logits = 1 /* on_step counts tokens only */};
    const int32_t **pp = xmalloc((size_t)n * sizeof *pp);
    int *pl = xmalloc((size_t)n * sizeof *pl), *ol = xmalloc((size_t)n * sizeof *ol);
    int32_t **outs = xmalloc((size_t)n * sizeof *outs);
    lr_finish_reason *fin = xmalloc((size_t)n * sizeof *fin);
    for (int i = 0; i < n; i++) pp[i] = ps[i].ids, pl[i] = ps[i].n;
    lr_progress pg;
    progress_init(&pg, "generate", (long)n * max_new, 0, quiet);
    gen_ctx gc = {.pg = &pg};
    if (model_generate(m, pp, pl, n, &gp, on_step, &gc, outs, ol, fin) != 0) lr_die_last();
    progress_end(&pg);

    int n_nonfinite = 0;
    for (int i = 0; i < n; i++) {
        char *text = NULL;
        size_t tl = 0;
        if (fin[i] == FINISH_NONFINITE) { /* its last token came from a NaN/Inf row: not text */
            ol[i]--;
            n_nonfinite++;
            lr_warn("%s: sequence %d stopped after %d tokens: the model's logits are not finite (NaN/Inf; "
                    "`lightreasoner tensors %s` counts NaN/Inf per tensor)", ps[i].where, i, ol[i], dir);
        }
        if (tok) {
            text = tokenizer_decode(tok, outs[i], (size_t)ol[i], 1, &tl);
            if (!text) lr_die_input(ps[i].where, "%s", lr_error_msg());
        }
        if (prompts_path) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "index", i);
            if (text) cJSON_AddStringToObject(o, "text", text);
            cJSON_AddStringToObject(o, "finish_reason", finish_name(fin[i]));
            cJSON_AddNumberToObject(o, "n_tokens", ol[i]);
            if (print_ids || !text) {
                cJSON *a = cJSON_AddArrayToObject(o, "ids");
                for (int j = 0; j < ol[i]; j++) cJSON_AddItemToArray(a, cJSON_CreateNumber(outs[i][j]));
            }
            char *js = cJSON_PrintUnformatted(o);
            LR_CHECK(js, "cJSON_PrintUnformatted failed");
            puts(js);
            cJSON_free(js);
            cJSON_Delete(o);
        } else {
            if (text) {
                fwrite(text, 1, tl, stdout);
                putchar('\n');
            }
            if (print_ids || !text) {
                fputs("ids:", stdout);
                for (int j = 0; j < ol[i]; j++) printf(" %d", outs[i][j]);
                putchar('\n');
            }
        }
        free(text);
        free(outs[i]);
        free(ps[i].ids);
    }
    if (!quiet)
        fprintf(stderr, "generate: %d prompt%s, %ld tokens in %.1f s (%.1f tok/s)\n", n, n == 1 ? "" : "s",
                gc.done_tokens, progress_elapsed(&pg), gc.done_tokens / (progress_elapsed(&pg) + 1e-9));
    free(pp), free(pl), free(ol), free(outs), free(fin), free(ps);
    tokenizer_free(tok);
    model_free(m);
    if (n_nonfinite) lr_die_input(dir, "%d of %d sequences stopped at non-finite logits (NaN/Inf)", n_nonfinite, n);
    if (fflush(stdout) != 0) lr_die_input("<stdout>", "write error: %s", strerror(errno));
    return 0;
}
