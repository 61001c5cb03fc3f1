/* LoRA merging into a model directory (lora_merge.h). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/lora_merge.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "model/adapter.h"
#include "model/backend.h"

/* W (out, in) += s · B (out, r) · A (r, in) on host memory (a tensor of
 * the model files), through a one-thread CPU backend's gemm. */
static void add_delta(lr_backend *be, const lr_lora *a, const lora_slot *sl, float *W) {
    be->gemm(be, 0, 0, sl->out, sl->in, a->cfg.r, a->scale, a->w + sl->b, a->cfg.r, a->w + sl->a, sl->in, 1.0f, W,
             sl->in);
}

/* "model.layers.<l>.<path>.weight" of an adapted slot, else NULL. */
static const lora_slot *slot_for(const lr_lora *a, const char *name) {
    int l = -1, n = 0;
    if (sscanf(name, "model.layers.%d.%n", &l, &n) != 1 || n == 0 || l < 0 || l >= a->n_layers) return NULL;
    for (int m = 0; m < LORA_N_MODULES; m++) {
        const char *p = lora_module_path(m);
        size_t pl = strlen(p);
        if (!strncmp(name + n, p, pl) && !strcmp(name + n + pl, ".weight")) return lora_slot_at(a, l, m);
    }
    return NULL;
}

static int from_f32(const float *src, st_dtype dt, void *dst, size_t n) {
    switch (dt) {
    case ST_F32: memcpy(dst, src, n * sizeof(float)); return 0;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = st_f32_to_bf16(src[i]);
        return 0;
    case ST_F16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = st_f32_to_f16(src[i]);
        return 0;
    case ST_F64:
        for (size_t i = 0; i < n; i++) ((double *)dst)[i] = src[i];
        return 0;
    default: return -1;
    }
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Copies every regular file of src that is not a safetensors shard
 * (config, generation config, tokenizer files, index, licence). */
static int copy_side_files(const char *src, const char *dst) {
    DIR *d = opendir(src);
    if (!d) {
        lr_error_set(src, "cannot list the directory");
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.' || ends_with(e->d_name, ".safetensors")) continue;
        char *sp = lr_path_join(src, e->d_name), *dp = lr_path_join(dst, e->d_name);
        struct stat st;
        if (stat(sp, &st) == 0 && S_ISREG(st.st_mode)) rc = lr_copy_file(sp, dp);
        free(sp);
        free(dp);
    }
    closedir(d);
    return rc;
}

int lora_merge_dir(const char *model_dir, const char *adapter_dir, const char *out_dir, int quiet) {
    lr_model_config mc;
    lr_generation_config gc;
    if (model_config_load_dir(&mc, &gc, model_dir) != 0) return -1;
    lr_lora *a = peft_adapter_load(adapter_dir, &mc, model_dir);
    if (!a) return -1;
    lr_backend *be = lr_backend_cpu_new(1); /* host tensors; one thread as before */
    int rc = -1;
    st_set st;
    int st_ok = 0;
    char rin[PATH_MAX], rout[PATH_MAX];
    if (lr_mkdir_p(out_dir) != 0) goto out;
    if (realpath(model_dir, rin) && realpath(out_dir, rout) && !strcmp(rin, rout)) {
        lr_error_set(out_dir, "the output directory is the model directory: refusing to overwrite the base model");
        goto out;
    }
    if (st_open_dir(&st, model_dir) != 0) goto out;
    st_ok = 1;
    int merged = 0;
    for (int fi = 0; fi < st.n_files; fi++) {
        int n = 0;
        for (int i = 0; i < st.n_tensors; i++) n += st.tensors[i].file_index == fi;
        st_write_tensor *ws = xcalloc((size_t)n + 1, sizeof *ws);
        void **owned = xcalloc((size_t)n + 1, sizeof *owned);
        int k = 0, bad = 0;
        for (int i = 0; i < st.n_tensors && !bad; i++) {
            const st_tensor *t = &st.tensors[i];
            if (t->file_index != fi) continue;
            st_write_tensor *w = &ws[k];
            w->name = t->name, w->dtype = t->dtype, w->ndim = t->ndim, w->data = t->data;
            memcpy(w->shape, t->shape, sizeof w->shape);
            const lora_slot *sl = slot_for(a, t->name);
            if (sl) {
                if (t->ndim != 2 || t->shape[0] != sl->out || t->shape[1] != sl->in) {
                    lr_error_set(st.paths[fi], "tensor '%s' does not have the adapter's shape [%d, %d]", t->name,
                                 sl->out, sl->in);
                    bad = 1;
                    break;
                }
                float *W = xmalloc((size_t)t->numel * sizeof(float));
                if (st_to_f32(t, W) != 0) {
                    free(W);
                    lr_error_set(st.paths[fi], "tensor '%s' is not floating point", t->name);
                    bad = 1;
                    break;
                }
                add_delta(be, a, sl, W);
                owned[k] = xmalloc(t->nbytes ? t->nbytes : 1);
                from_f32(W, t->dtype, owned[k], (size_t)t->numel);
                free(W);
                w->data = owned[k];
                merged++;
            }
            k++;
        }
        if (!bad) {
            char *op = lr_path_join(out_dir, base_name(st.paths[fi]));
            const char *const *mk = (const char *const *)st.meta_keys, *const *mv = (const char *const *)st.meta_values;
            bad = st_write_file(op, ws, k, mk, mv, st.n_meta) != 0;
            free(op);
        }
        for (int i = 0; i < n; i++) free(owned[i]);
        free(owned);
        free(ws);
        if (bad) goto out;
    }
    if (merged != a->n_slots) {
        lr_error_set(model_dir, "only %d of the adapter's %d target weights were found in the model files", merged,
                     a->n_slots);
        goto out;
    }
    if (copy_side_files(model_dir, out_dir) != 0) goto out;
    if (!quiet)
        fprintf(stderr, "merge: %s + %s -> %s (%d weights updated, s = %g)\n", model_dir, adapter_dir, out_dir, merged,
                (double)a->scale);
    rc = 0;
out:
    if (st_ok) st_close(&st);
    lr_backend_destroy(be);
    lora_free(a);
    return rc;
}
