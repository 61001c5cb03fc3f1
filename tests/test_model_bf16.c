/* bf16 weights stay bf16 in memory and give bit-identical results to the
 * same checkpoint widened to fp32 at load (SPEC §5): the 9-shard bf16 GQA
 * test model loaded both ways (lr_model_opts.weights_f32), compared on a
 * ragged teacher-forced forward (every position), KV-cache prefill+decode
 * and greedy generation; the bf16 load holds about half the weight bytes.
 * An adapter merged into a bf16 model widens the touched matrices (fp32
 * merge, as before), covered by test_train_adapter. */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/model.h"
#include "test_util.h"

int main(void) {
    const char *dir = test_data_path("model/qwen2_gqa_bf16");
    lr_model_opts o16 = {.n_threads = 2, .quiet = 1}, o32 = {.n_threads = 2, .quiet = 1, .weights_f32 = 1};
    lr_model *a = model_load(dir, &o16), *b = model_load(dir, &o32);
    EXPECT(a && b, "load: %s", lr_error_msg());
    if (!a || !b) return test_finish("test_model_bf16");
    const size_t wa = model_weight_bytes(a), wb = model_weight_bytes(b);
    printf("weight bytes: bf16 load %zu, fp32 load %zu\n", wa, wb);
    EXPECT(wa < wb * 0.55, "the bf16 load holds %zu bytes vs %zu widened", wa, wb);
    const int V = model_vocab_size(a), lens[3] = {37, 5, 19}, T = 61;
    int32_t ids[61];
    for (int i = 0; i < T; i++) ids[i] = (int32_t)((i * 7919u + 13u) % (unsigned)V);
    float *la = malloc((size_t)T * V * sizeof(float)), *lb = malloc((size_t)T * V * sizeof(float));
    EXPECT(model_forward(a, ids, lens, 3, 1, la) == 0 && model_forward(b, ids, lens, 3, 1, lb) == 0, "forward: %s",
           lr_error_msg());
    EXPECT(!memcmp(la, lb, (size_t)T * V * sizeof(float)), "forward logits: bf16 weights != widened weights");
    /* KV cache: prefill 20 tokens, then 5 single-token decode steps */
    lr_kv_cache *ca = kv_cache_new(a, 1, 64), *cb = kv_cache_new(b, 1, 64);
    const int slot = 0;
    for (int step = 0; step < 6; step++) {
        const int n_new = step == 0 ? 20 : 1, off = step == 0 ? 0 : 19 + step;
        EXPECT(model_extend(a, ca, &slot, ids + off, &n_new, 1, la, NULL) == 0 &&
                   model_extend(b, cb, &slot, ids + off, &n_new, 1, lb, NULL) == 0,
               "extend: %s", lr_error_msg());
        EXPECT(!memcmp(la, lb, (size_t)V * sizeof(float)), "cached step %d: bf16 != widened", step);
    }
    kv_cache_free(ca);
    kv_cache_free(cb);
    /* greedy generation, 2 prompts at batch 2 */
    const int32_t *prompts[2] = {ids, ids + 37};
    const int plens[2] = {9, 4};
    lr_gen_params gp = {.max_new_tokens = 24, .batch = 2};
    int32_t *ta[2], *tb[2];
    int na[2], nb[2];
    lr_finish_reason fa[2], fb[2];
    EXPECT(model_generate(a, prompts, plens, 2, &gp, NULL, NULL, ta, na, fa) == 0 &&
               model_generate(b, prompts, plens, 2, &gp, NULL, NULL, tb, nb, fb) == 0,
           "generate: %s", lr_error_msg());
    for (int i = 0; i < 2; i++) {
        EXPECT(na[i] == nb[i] && !memcmp(ta[i], tb[i], (size_t)na[i] * sizeof(int32_t)) && fa[i] == fb[i],
               "generation %d: bf16 != widened", i);
        free(ta[i]);
        free(tb[i]);
    }
    free(la);
    free(lb);
    model_free(a);
    model_free(b);
    return test_finish("test_model_bf16");
}
