/* The run-file readers on HDF5 files whose CONTENT the input describes
 * (structure-aware: the files are well-formed HDF5, built through the HDF5
 * API, so the fuzzer exercises our validation of lying counts, offsets,
 * ids, types and shapes rather than libhdf5's own parser). The first byte
 * picks the reader:
 *   0: a shard        -> runfile_shard_read
 *   1: /samples       -> tr_data_load, then the first-epoch order
 *   2: /divergence    -> runfile_select (rebuilds /samples, writes a file)
 *   3: /train         -> train_h5_probe, train_h5_load_checkpoint, then
 *                        train_h5_load_state into that adapter
 * Each dataset is written as the reader expects unless the input says to
 * drop it, give it another type, a second dimension or a scalar shape;
 * offsets are cumulative (plausible) unless the input makes them lie. */
#include <hdf5.h>

#include "fuzz_util.h"
#include "io/runfile.h"
#include "trainer/adamw.h"
#include "trainer/lora.h"
#include "trainer/train_data.h"
#include "trainer/train_h5.h"

typedef enum { K_I8, K_I32, K_I64, K_F32, K_F64, K_STR } kind;

static hid_t mem_type(kind k) {
    switch (k) {
    case K_I8: return H5T_NATIVE_INT8;
    case K_I32: return H5T_NATIVE_INT32;
    case K_I64: return H5T_NATIVE_INT64;
    case K_F32: return H5T_NATIVE_FLOAT;
    default: return H5T_NATIVE_DOUBLE;
    }
}

/* Values: plausible offsets (cumulative, ending at `total`) when total >= 0,
 * else small/extreme ints or reals. */
static void fill(fz_in *in, kind k, int64_t n, int64_t total, void *buf) {
    int64_t acc = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        if (total >= 0) {
            uint8_t b = fz_u8(in);
            v = (b >= 0xF8) ? fz_int(in) : (i == 0 ? 0 : (i == n - 1 ? total : (acc += b % 3)));
            if (i == n - 1 && b < 0xF8) v = total;
        } else {
            v = fz_int(in);
        }
        double r = (k == K_F32 || k == K_F64) ? fz_real(in) : 0.0;
        switch (k) {
        case K_I8: ((int8_t *)buf)[i] = (int8_t)v; break;
        case K_I32: ((int32_t *)buf)[i] = (int32_t)v; break;
        case K_I64: ((int64_t *)buf)[i] = v; break;
        case K_F32: ((float *)buf)[i] = (float)r; break;
        default: ((double *)buf)[i] = r; break;
        }
    }
}

static hid_t group_of(hid_t f, const char *g) {
    if (!g) return H5Gopen2(f, "/", H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t r = H5Lexists(f, g, H5P_DEFAULT) > 0 ? H5Gopen2(f, g, H5P_DEFAULT)
                                               : H5Gcreate2(f, g, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    return r;
}

/* One 1-D dataset of n values (offsets to `total` when total >= 0). */
static void put(hid_t f, fz_in *in, const char *grp, const char *name, kind k, int64_t n, int64_t total) {
    uint8_t mode = fz_u8(in) % 24;
    if (mode == 0) return; /* missing */
    if (mode == 1) n += 1;
    if (mode == 2 && n > 0) n -= 1;
    if (mode == 3) k = (k == K_F32 || k == K_F64) ? K_I64 : (k == K_STR ? K_I32 : K_F64); /* another type */
    hid_t g = group_of(f, grp);
    hsize_t dims[2] = {(hsize_t)n, 2};
    hid_t sp = mode == 4 ? H5Screate(H5S_SCALAR) : H5Screate_simple(mode == 5 ? 2 : 1, dims, NULL);
    if (k == K_STR) {
        hid_t st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, H5T_VARIABLE);
        H5Tset_cset(st, H5T_CSET_UTF8);
        const hsize_t cnt = mode == 4 ? 1 : (mode == 5 ? 2 * (hsize_t)n : (hsize_t)n);
        char **s = calloc(cnt ? cnt : 1, sizeof *s);
        for (hsize_t i = 0; i < cnt; i++) s[i] = (fz_u8(in) & 1) ? "text \xc3\xa9" : "";
        hid_t d = H5Dcreate2(g, name, st, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (d >= 0 && cnt) H5Dwrite(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, s);
        if (d >= 0) H5Dclose(d);
        free(s);
        H5Tclose(st);
    } else {
        const int64_t cnt = mode == 4 ? 1 : (mode == 5 ? 2 * n : n);
        void *buf = calloc((size_t)(cnt > 0 ? cnt : 1), 8);
        fill(in, k, cnt, total, buf);
        hid_t d = H5Dcreate2(g, name, mem_type(k), sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (d >= 0 && cnt > 0) H5Dwrite(d, mem_type(k), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        if (d >= 0) H5Dclose(d);
        free(buf);
    }
    H5Sclose(sp);
    H5Gclose(g);
}

static void attr_i64(hid_t o, fz_in *in, const char *name, int64_t plausible) {
    uint8_t b = fz_u8(in);
    if (b == 0) return; /* missing */
    int64_t v = b < 0xE0 ? plausible : fz_int(in);
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(o, name, H5T_NATIVE_INT64, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a), H5Sclose(sp);
}
static void attr_f64(hid_t o, fz_in *in, const char *name, double plausible) {
    uint8_t b = fz_u8(in);
    if (b == 0) return;
    double v = b < 0xE0 ? plausible : fz_real(in);
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(o, name, H5T_NATIVE_DOUBLE, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a), H5Sclose(sp);
}
static void attr_str(hid_t o, fz_in *in, const char *name, const char *plausible) {
    uint8_t b = fz_u8(in);
    if (b == 0) return;
    const char *v = b < 0xF0 ? plausible : "wrong";
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, H5T_VARIABLE);
    H5Tset_cset(st, H5T_CSET_UTF8); /* as the writers store text (HDF5 converts no cset into another) */
    hid_t sp = H5Screate(H5S_SCALAR), a = H5Acreate2(o, name, st, sp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, &v);
    H5Aclose(a), H5Sclose(sp), H5Tclose(st);
}

/* Counts: mostly small, consistent with each other. */
typedef struct {
    int64_t np, nt, ntok, ns, nc, nsmp, nlab;
} sizes;
static sizes pick_sizes(fz_in *in) {
    sizes z;
    z.np = fz_u8(in) % 5;
    z.nt = fz_u8(in) % (z.np + 1);
    z.ntok = z.nt * 3 + fz_u8(in) % 6;
    z.ns = fz_u8(in) % 9;
    z.nc = z.ns + fz_u8(in) % 8;
    z.nsmp = fz_u8(in) % 5;
    z.nlab = z.nsmp + fz_u8(in) % 6;
    return z;
}

static void run_attrs(hid_t f, fz_in *in) {
    attr_str(f, in, "schema", LR_RUN_SCHEMA);
    attr_i64(f, in, "schema_version", LR_RUN_SCHEMA_VERSION);
    attr_i64(f, in, "complete", 1);
    attr_i64(f, in, "vocab_shared", 50);
    attr_i64(f, in, "vocab_expert", 50);
    attr_i64(f, in, "vocab_amateur", 60);
}

static void traces(hid_t f, fz_in *in, const char *g, const sizes *z) {
    put(f, in, g, "token_offsets", K_I64, z->nt + 1, z->ntok);
    put(f, in, g, "tokens", K_I32, z->ntok, -1);
    put(f, in, g, "prompt_len", K_I32, z->nt, -1);
    put(f, in, g, "n_generated", K_I32, z->nt, -1);
    put(f, in, g, "problem", K_I64, z->nt, -1);
}

static void divergence(hid_t f, fz_in *in, const char *g, const sizes *z) {
    put(f, in, g, "kl", K_F64, z->ns, -1);
    put(f, in, g, "cand_offsets", K_I64, z->ns + 1, z->nc);
    put(f, in, g, "cand_ids", K_I32, z->nc, -1);
    put(f, in, g, "cand_logp_expert", K_F32, z->nc, -1);
    put(f, in, g, "cand_logp_amateur", K_F32, z->nc, -1);
    put(f, in, g, "trace", K_I64, z->ns, -1);
    put(f, in, g, "step", K_I32, z->ns, -1);
}

static void build_shard(hid_t f, fz_in *in, const sizes *z) {
    attr_str(f, in, "schema", LR_SHARD_SCHEMA);
    attr_i64(f, in, "complete", 1);
    attr_i64(f, in, "chunk", 0);
    attr_i64(f, in, "first_problem", 0);
    attr_i64(f, in, "n_problems", z->np);
    attr_str(f, in, "checksum", "fnv1a64:0000000000000000");
    put(f, in, NULL, "problem_status", K_I8, z->np, -1);
    put(f, in, NULL, "trace_problem", K_I64, z->nt, -1);
    put(f, in, NULL, "prompt_len", K_I32, z->nt, -1);
    put(f, in, NULL, "n_generated", K_I32, z->nt, -1);
    put(f, in, NULL, "finish", K_I8, z->nt, -1);
    put(f, in, NULL, "token_offsets", K_I64, z->nt + 1, z->ntok);
    put(f, in, NULL, "tokens", K_I32, z->ntok, -1);
    put(f, in, NULL, "text", K_STR, z->nt, -1);
    static const char *const f64[] = {"kl", "entropy_expert", "entropy_amateur"};
    for (int i = 0; i < 3; i++) put(f, in, NULL, f64[i], K_F64, z->ns, -1);
    put(f, in, NULL, "logp_expert", K_F32, z->ns, -1);
    put(f, in, NULL, "logp_amateur", K_F32, z->ns, -1);
    put(f, in, NULL, "top1_expert", K_I32, z->ns, -1);
    put(f, in, NULL, "top1_amateur", K_I32, z->ns, -1);
    put(f, in, NULL, "cand_offsets", K_I64, z->ns + 1, z->nc);
    put(f, in, NULL, "cand_ids", K_I32, z->nc, -1);
    put(f, in, NULL, "cand_logp_expert", K_F32, z->nc, -1);
    put(f, in, NULL, "cand_logp_amateur", K_F32, z->nc, -1);
}

static void build_samples(hid_t f, fz_in *in, const sizes *z) {
    run_attrs(f, in);
    traces(f, in, "traces", z);
    put(f, in, "samples", "trace", K_I64, z->nsmp, -1);
    put(f, in, "samples", "step", K_I32, z->nsmp, -1);
    put(f, in, "samples", "label_offsets", K_I64, z->nsmp + 1, z->nlab);
    put(f, in, "samples", "label_ids", K_I32, z->nlab, -1);
    put(f, in, "samples", "label_weights", K_F32, z->nlab, -1);
}

static void build_divergence(hid_t f, fz_in *in, const sizes *z) {
    run_attrs(f, in);
    traces(f, in, "traces", z);
    divergence(f, in, "divergence", z);
    hid_t g = group_of(f, "divergence");
    attr_f64(g, in, "store_alpha", 0.01);
    H5Gclose(g);
}

/* The PEFT-named A/B datasets of adapter a in group grp (a dataset dropped,
 * one row too many or 1-D when the input says so). */
static void put_adapter(hid_t f, fz_in *in, const char *grp, const lr_lora *a) {
    char nm[256];
    hid_t cg = group_of(f, grp);
    for (int s = 0; a && s < a->n_slots; s++)
        for (int w = 0; w < 2; w++) {
            lora_peft_name(a, s, w, nm, sizeof nm);
            const lora_slot *sl = &a->slots[s];
            hsize_t dims[2] = {w ? (hsize_t)sl->out : (hsize_t)a->cfg.r, w ? (hsize_t)a->cfg.r : (hsize_t)sl->in};
            uint8_t m = fz_u8(in) % 16;
            if (m == 0) continue;
            if (m == 1) dims[0]++;
            hid_t sp = H5Screate_simple(m == 2 ? 1 : 2, dims, NULL);
            hid_t ds = H5Dcreate2(cg, nm, H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            const size_t cnt = (size_t)dims[0] * (m == 2 ? 1 : (size_t)dims[1]);
            float *v = calloc(cnt ? cnt : 1, sizeof *v);
            for (size_t i = 0; i < cnt; i++) v[i] = (float)fz_real(in);
            if (ds >= 0) H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
            free(v);
            if (ds >= 0) H5Dclose(ds);
            H5Sclose(sp);
        }
    H5Gclose(cg);
}

static void build_train(hid_t f, fz_in *in) {
    run_attrs(f, in);
    hid_t g = group_of(f, "train");
    attr_str(g, in, "schema", LR_TRAIN_SCHEMA);
    attr_i64(g, in, "schema_version", LR_TRAIN_SCHEMA_VERSION);
    attr_str(g, in, "status", (fz_u8(in) & 1) ? "complete" : "running");
    attr_i64(g, in, "steps_done", fz_u8(in) % 4);
    const int64_t L = 1 + fz_u8(in) % 2, d = 2 + fz_u8(in) % 3, q = d, kv = 1 + fz_u8(in) % 2, I = 3, r = 1 + fz_u8(in) % 2;
    attr_i64(g, in, "r", r);
    attr_f64(g, in, "lora_alpha", 16);
    attr_f64(g, in, "lora_dropout", 0.05);
    attr_i64(g, in, "use_rslora", 0);
    static const char *const targets[] = {"q_proj,v_proj", "all", "q_proj,nope", ""};
    attr_str(g, in, "target_modules", targets[fz_u8(in) % 4]);
    attr_i64(g, in, "model_n_layers", L);
    attr_i64(g, in, "model_hidden_size", d);
    attr_i64(g, in, "model_q_dim", q);
    attr_i64(g, in, "model_kv_dim", kv);
    attr_i64(g, in, "model_intermediate_size", I);
    attr_str(g, in, "base_model_name_or_path", "base");
    /* one checkpoint, and the resume state, whose datasets follow the
     * adapter these (true) sizes make */
    lora_config lc = {.r = (int)r, .alpha = 16, .dropout = 0};
    if (lora_parse_targets(targets[0], "fuzz", &lc.targets) != 0) abort();
    lr_lora *a = lora_new_dims(&lc, (int)L, (int)d, (int)q, (int)kv, (int)I);
    char grp[64];
    snprintf(grp, sizeof grp, "train/checkpoints/step_%08d", 1 + fz_u8(in) % 3);
    put_adapter(f, in, grp, a);
    attr_str(g, in, "resume_key", "k");
    hid_t st = group_of(f, "train/state");
    static const char *const counters[] = {"step", "adam_step", "cursor", "rng_seed", "n_bad_steps", "bad_run"};
    for (int i = 0; i < 6; i++) attr_i64(st, in, counters[i], 1);
    H5Gclose(st);
    put_adapter(f, in, "train/state/lora", a);
    put_adapter(f, in, "train/state/exp_avg", a);
    put_adapter(f, in, "train/state/exp_avg_sq", a);
    const int64_t nlog = fz_u8(in) % 4;
    static const char *const li64[] = {"step", "samples", "tokens"}, *const lf64[] = {"loss", "lr", "grad_norm", "seconds"};
    for (int i = 0; i < 3; i++) put(f, in, "train/log", li64[i], K_I64, nlog, -1);
    for (int i = 0; i < 4; i++) put(f, in, "train/log", lf64[i], K_F64, nlog, -1);
    put(f, in, "train/log", "skipped", K_I8, nlog, -1);
    lora_free(a);
    H5Gclose(g);
}

static hid_t fapl_build; /* the input's file is built in memory and written once, at close */
static int verbose; /* LR_FUZZ_VERBOSE=1: print why a reader refused (to tune seeds) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_in in = {data, size};
    const int which = fz_u8(&in) % 4;
    char path[320];
    fz_path(path, sizeof path, "run.h5");
    unlink(path);
    sizes z = pick_sizes(&in);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl_build);
    if (f < 0) abort();
    if (which == 0) build_shard(f, &in, &z);
    else if (which == 1) build_samples(f, &in, &z);
    else if (which == 2) build_divergence(f, &in, &z);
    else build_train(f, &in);
    H5Fclose(f);

    if (which == 0) {
        lr_chunk c;
        if (runfile_shard_read(path, &c) == 0) chunk_free(&c);
    } else if (which == 1) {
        tr_data d;
        if (tr_data_load(path, 50, 1 + fz_u8(&in) % 8, &d) == 0) {
            tr_data_set_order(&d, 7, 1);
            tr_data_set_buffer(&d, fz_u8(&in) % 4, 0);
            for (int64_t p = 0; p < 2 * d.n + 1; p++)
                if (tr_data_at(&d, p) < 0 || tr_data_at(&d, p) >= d.n) abort();
            tr_data_free(&d);
        }
    } else if (which == 2) {
        int64_t ns = 0, nst = 0;
        const lr_method m = method_make(0.2, (fz_u8(&in) & 1) ? -1e9 : 0.1);
        if (runfile_select(path, &m, "fuzz", &ns, &nst) == 0 && ns > nst) abort();
    } else {
        int has = 0, complete = 0;
        int64_t steps = 0, got = 0;
        train_h5_probe(path, &has, &complete, &steps);
        char *base = NULL;
        lr_lora *a = train_h5_load_checkpoint(path, (fz_u8(&in) & 1) ? -1 : 2, &got, &base);
        if (a) { /* the resume state, into an adapter of the checkpoint's shape */
            adamw_state opt;
            adamw_init(&opt, a->n_params);
            tr_counters c = {0};
            tr_log log;
            memset(&log, 0, sizeof log);
            train_h5_load_state(path, (fz_u8(&in) & 1) ? "k" : NULL, a, &opt, &c, &log);
            tr_log_free(&log);
            adamw_free(&opt);
        }
        lora_free(a);
        free(base);
    }
    if (verbose && lr_error_msg()[0]) fprintf(stderr, "reader %d (%zu bytes unread): %s\n", which, in.n, lr_error_msg());
    lr_error_clear();
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_dir();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the readers report through lr_error */
    /* Speed (2x, same coverage): every H5Fcreate/H5Fopen allocates a ~0.5 MiB
     * zeroed metadata cache that libhdf5's capped free lists hand back to
     * malloc, where ASan unmaps it and the next open faults it in again;
     * uncapped lists keep reusing it (libhdf5's memory, not ours) ... */
    H5set_free_list_limits(-1, -1, -1, -1, -1, -1);
    /* ... and the core driver builds the file in memory and writes it in
     * one piece at H5Fclose; the readers still open it by path (sec2) */
    fapl_build = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl_build < 0 || H5Pset_fapl_core(fapl_build, 1 << 16, 1) < 0) abort();
    verbose = getenv("LR_FUZZ_VERBOSE") != NULL;
    return 0;
}
