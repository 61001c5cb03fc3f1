/* Shard files (one per scored chunk) and the run-in-progress manifest. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/hash.h"
#include "io/runfile.h"
#include "io/runfile_h5.h"

char *runfile_shard_dir(const char *out_path) {
    size_t n = strlen(out_path) + 8;
    char *d = xmalloc(n);
    snprintf(d, n, "%s.shards", out_path);
    return d;
}

char *runfile_shard_path(const char *dir, int64_t chunk) {
    char name[64];
    snprintf(name, sizeof name, "chunk-%08" PRId64 ".h5", chunk);
    return lr_path_join(dir, name);
}

/* FNV-1a 64 over every array of a chunk, in a fixed order, as the host's
 * (little-endian) bytes of the stored types; strings with their NUL. The
 * writer stores it as attribute `checksum`; every read recomputes it, so
 * bytes damaged after the shard was committed (a disk, a copy, a stray
 * write) are caught at resume and at the join instead of being merged. */
static uint64_t chunk_checksum(const lr_chunk *c) {
    uint64_t h = LR_FNV1A64_INIT;
    const size_t np = (size_t)c->n_problems, nt = (size_t)c->n_traces, ns = (size_t)c->n_steps;
    h = lr_fnv1a64(h, &c->chunk, sizeof c->chunk);
    h = lr_fnv1a64(h, &c->first_problem, sizeof c->first_problem);
    h = lr_fnv1a64(h, c->problem_status, np);
    h = lr_fnv1a64(h, c->trace_problem, nt * sizeof *c->trace_problem);
    h = lr_fnv1a64(h, c->prompt_len, nt * sizeof *c->prompt_len);
    h = lr_fnv1a64(h, c->n_generated, nt * sizeof *c->n_generated);
    h = lr_fnv1a64(h, c->finish, nt);
    h = lr_fnv1a64(h, c->token_offsets, (nt + 1) * sizeof *c->token_offsets);
    h = lr_fnv1a64(h, c->tokens, (size_t)c->token_offsets[nt] * sizeof *c->tokens);
    for (size_t i = 0; i < nt; i++) h = lr_fnv1a64(h, c->text[i], strlen(c->text[i]) + 1);
    for (size_t k = 0; k < ns; k++) {
        const lr_step_div *d = &c->div[k];
        h = lr_fnv1a64(h, &d->kl, sizeof d->kl);
        h = lr_fnv1a64(h, &d->entropy_expert, sizeof d->entropy_expert);
        h = lr_fnv1a64(h, &d->entropy_amateur, sizeof d->entropy_amateur);
        h = lr_fnv1a64(h, &d->logp_expert, sizeof d->logp_expert);
        h = lr_fnv1a64(h, &d->logp_amateur, sizeof d->logp_amateur);
        h = lr_fnv1a64(h, &d->top1_expert, sizeof d->top1_expert);
        h = lr_fnv1a64(h, &d->top1_amateur, sizeof d->top1_amateur);
    }
    h = lr_fnv1a64(h, c->cand_offsets, (ns + 1) * sizeof *c->cand_offsets);
    const size_t nc = (size_t)c->cand_offsets[ns];
    h = lr_fnv1a64(h, c->cand.ids, nc * sizeof *c->cand.ids);
    h = lr_fnv1a64(h, c->cand.logp_expert, nc * sizeof *c->cand.logp_expert);
    h = lr_fnv1a64(h, c->cand.logp_amateur, nc * sizeof *c->cand.logp_amateur);
    return h;
}

static void checksum_str(uint64_t h, char out[32]) { snprintf(out, 32, "fnv1a64:%016" PRIx64, h); }

void runfile_shard_write(const char *dir, const lr_chunk *c, double store_alpha, int writer_rank) {
    char *path = runfile_shard_path(dir, c->chunk);
    char *tmp = h5u_tmp_name(path, "tmp");
    hid_t f = h5u_create(tmp, path);
    char sum[32];
    checksum_str(chunk_checksum(c), sum);
    h5u_attr_str(f, "schema", LR_SHARD_SCHEMA);
    h5u_attr_i64(f, "schema_version", LR_RUN_SCHEMA_VERSION);
    h5u_attr_i64(f, "chunk", c->chunk);
    h5u_attr_i64(f, "first_problem", c->first_problem);
    h5u_attr_i64(f, "n_problems", c->n_problems);
    h5u_attr_i64(f, "writer_rank", writer_rank);
    h5u_attr_f64(f, "store_alpha", store_alpha);
    h5u_attr_str(f, "checksum", sum);

    h5u_write_1d(f, "problem_status", H5T_NATIVE_INT8, c->problem_status, (size_t)c->n_problems);
    size_t nt = (size_t)c->n_traces;
    h5u_write_1d(f, "trace_problem", H5T_NATIVE_INT64, c->trace_problem, nt);
    h5u_write_1d(f, "prompt_len", H5T_NATIVE_INT32, c->prompt_len, nt);
    h5u_write_1d(f, "n_generated", H5T_NATIVE_INT32, c->n_generated, nt);
    h5u_write_1d(f, "finish", H5T_NATIVE_INT8, c->finish, nt);
    h5u_write_1d(f, "token_offsets", H5T_NATIVE_INT64, c->token_offsets, nt + 1);
    h5u_write_1d(f, "tokens", H5T_NATIVE_INT32, c->tokens, (size_t)c->token_offsets[nt]);
    h5u_write_1d(f, "text", h5u_str_type(), c->text, nt);

    size_t ns = (size_t)c->n_steps;
    double *d = xmalloc((ns ? ns : 1) * sizeof *d);
    float *fl = xmalloc((ns ? ns : 1) * sizeof *fl);
    int32_t *ii = xmalloc((ns ? ns : 1) * sizeof *ii);
#define COL(buf, field, name, type)                                      \
    do {                                                                 \
        for (size_t k = 0; k < ns; k++) (buf)[k] = c->div[k].field;      \
        h5u_write_1d(f, name, type, buf, ns);                            \
    } while (0)
    COL(d, kl, "kl", H5T_NATIVE_DOUBLE);
    COL(d, entropy_expert, "entropy_expert", H5T_NATIVE_DOUBLE);
    COL(d, entropy_amateur, "entropy_amateur", H5T_NATIVE_DOUBLE);
    COL(fl, logp_expert, "logp_expert", H5T_NATIVE_FLOAT);
    COL(fl, logp_amateur, "logp_amateur", H5T_NATIVE_FLOAT);
    COL(ii, top1_expert, "top1_expert", H5T_NATIVE_INT32);
    COL(ii, top1_amateur, "top1_amateur", H5T_NATIVE_INT32);
#undef COL
    free(d);
    free(fl);
    free(ii);
    h5u_write_1d(f, "cand_offsets", H5T_NATIVE_INT64, c->cand_offsets, ns + 1);
    size_t nc = (size_t)c->cand_offsets[ns];
    h5u_write_1d(f, "cand_ids", H5T_NATIVE_INT32, c->cand.ids, nc);
    h5u_write_1d(f, "cand_logp_expert", H5T_NATIVE_FLOAT, c->cand.logp_expert, nc);
    h5u_write_1d(f, "cand_logp_amateur", H5T_NATIVE_FLOAT, c->cand.logp_amateur, nc);
    h5u_attr_i64(f, "complete", 1); /* last: a shard without it is never trusted */
    h5u_commit(f, tmp, path);          /* flush, close, fsync, rename: checked */
    free(tmp);
    free(path);
}

/* Offsets must start at 0, never decrease and end at total. */
static int offsets_ok(const int64_t *off, int64_t n, int64_t total) {
    if (off[0] != 0 || off[n] != total) return 0;
    for (int64_t i = 0; i < n; i++)
        if (off[i + 1] < off[i]) return 0;
    return 1;
}

int runfile_shard_read(const char *path, lr_chunk *c) {
    memset(c, 0, sizeof *c);
    h5u_quiet();
    struct stat sb; /* a FIFO would block H5Fopen */
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        lr_error_set(path, "%s, not a shard", S_ISDIR(sb.st_mode) ? "is a directory" : "is not a regular file");
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        lr_error_set(path, "not a readable HDF5 file (truncated or damaged shard)");
        return -1;
    }
    int64_t complete = 0, n_prob = 0;
    char *schema = NULL, *stored_sum = NULL;
    int rc = -1;
    if (h5u_read_attr_str(f, "schema", path, &schema) != 0) goto out;
    if (strcmp(schema, LR_SHARD_SCHEMA) != 0) {
        lr_error_set(path, "not a lightreasoner shard (schema '%s')", schema);
        goto out;
    }
    if (h5u_read_attr_i64(f, "complete", path, &complete) != 0 || complete != 1) {
        lr_error_set(path, "incomplete shard");
        goto out;
    }
    if (h5u_read_attr_i64(f, "chunk", path, &c->chunk) || h5u_read_attr_i64(f, "first_problem", path, &c->first_problem) ||
        h5u_read_attr_i64(f, "n_problems", path, &n_prob))
        goto out;
    if (n_prob < 0 || n_prob > INT32_MAX) {
        lr_error_set(path, "bad n_problems");
        goto out;
    }
    c->n_problems = (int)n_prob;
    int64_t nt = 0, ns = 0, nc = 0, ntok = 0;
    if (!(c->problem_status = h5u_read_all(f, "problem_status", path, H5T_NATIVE_INT8, n_prob, NULL))) goto out;
    if (!(c->trace_problem = h5u_read_all(f, "trace_problem", path, H5T_NATIVE_INT64, -1, &nt))) goto out;
    if (nt > n_prob) {
        lr_error_set(path, "more traces than problems");
        goto out;
    }
    c->n_traces = (int)nt;
    if (!(c->prompt_len = h5u_read_all(f, "prompt_len", path, H5T_NATIVE_INT32, nt, NULL)) ||
        !(c->n_generated = h5u_read_all(f, "n_generated", path, H5T_NATIVE_INT32, nt, NULL)) ||
        !(c->finish = h5u_read_all(f, "finish", path, H5T_NATIVE_INT8, nt, NULL)) ||
        !(c->token_offsets = h5u_read_all(f, "token_offsets", path, H5T_NATIVE_INT64, nt + 1, NULL)) ||
        !(c->tokens = h5u_read_all(f, "tokens", path, H5T_NATIVE_INT32, -1, &ntok)) ||
        !(c->text = h5u_read_all(f, "text", path, h5u_str_type(), nt, NULL)))
        goto out;
    if (!offsets_ok(c->token_offsets, nt, ntok)) {
        lr_error_set(path, "inconsistent token offsets");
        goto out;
    }
    for (int64_t i = 0; i < nt; i++) {
        int64_t len = c->token_offsets[i + 1] - c->token_offsets[i];
        if (c->prompt_len[i] < 1 || c->n_generated[i] < 1 || c->prompt_len[i] + (int64_t)c->n_generated[i] != len ||
            c->trace_problem[i] < c->first_problem || c->trace_problem[i] >= c->first_problem + n_prob) {
            lr_error_set(path, "inconsistent trace %lld", (long long)i);
            goto out;
        }
        ns += c->n_generated[i];
    }
    c->n_steps = ns;
    double *kl = NULL, *he = NULL, *ha = NULL;
    float *lpe = NULL, *lpa = NULL;
    int32_t *te = NULL, *ta = NULL;
    int ok = (kl = h5u_read_all(f, "kl", path, H5T_NATIVE_DOUBLE, ns, NULL)) &&
             (he = h5u_read_all(f, "entropy_expert", path, H5T_NATIVE_DOUBLE, ns, NULL)) &&
             (ha = h5u_read_all(f, "entropy_amateur", path, H5T_NATIVE_DOUBLE, ns, NULL)) &&
             (lpe = h5u_read_all(f, "logp_expert", path, H5T_NATIVE_FLOAT, ns, NULL)) &&
             (lpa = h5u_read_all(f, "logp_amateur", path, H5T_NATIVE_FLOAT, ns, NULL)) &&
             (te = h5u_read_all(f, "top1_expert", path, H5T_NATIVE_INT32, ns, NULL)) &&
             (ta = h5u_read_all(f, "top1_amateur", path, H5T_NATIVE_INT32, ns, NULL));
    if (ok) {
        c->div = xmalloc((size_t)(ns ? ns : 1) * sizeof *c->div);
        for (int64_t k = 0; k < ns; k++)
            c->div[k] = (lr_step_div){kl[k], he[k], ha[k], lpe[k], lpa[k], te[k], ta[k]};
    }
    free(kl), free(he), free(ha), free(lpe), free(lpa), free(te), free(ta);
    if (!ok) goto out;
    if (!(c->cand_offsets = h5u_read_all(f, "cand_offsets", path, H5T_NATIVE_INT64, ns + 1, NULL)) ||
        !(c->cand.ids = h5u_read_all(f, "cand_ids", path, H5T_NATIVE_INT32, -1, &nc)) ||
        !(c->cand.logp_expert = h5u_read_all(f, "cand_logp_expert", path, H5T_NATIVE_FLOAT, nc, NULL)) ||
        !(c->cand.logp_amateur = h5u_read_all(f, "cand_logp_amateur", path, H5T_NATIVE_FLOAT, nc, NULL)))
        goto out;
    c->cand.n = c->cand.cap = (size_t)nc;
    if (!offsets_ok(c->cand_offsets, ns, nc)) {
        lr_error_set(path, "inconsistent candidate offsets");
        goto out;
    }
    for (int64_t k = 0; k < ns; k++)
        if (c->cand_offsets[k + 1] == c->cand_offsets[k]) {
            lr_error_set(path, "step %lld has no candidates", (long long)k);
            goto out;
        }
    if (h5u_read_attr_str(f, "checksum", path, &stored_sum) != 0) goto out;
    char sum[32];
    checksum_str(chunk_checksum(c), sum);
    if (strcmp(sum, stored_sum) != 0) {
        lr_error_set(path, "checksum mismatch (stored %s, data %s): the shard's bytes were damaged after it was "
                           "written", stored_sum, sum);
        goto out;
    }
    rc = 0;
out:
    free(schema);
    free(stored_sum);
    H5Fclose(f);
    if (rc != 0) chunk_free(c);
    return rc;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A shard is kept when it reads back whole and its checksum matches; the
 * id in its name must be the chunk it holds. */
static int shard_ok(const char *path, long long id) {
    lr_chunk c;
    if (runfile_shard_read(path, &c) != 0) return 0;
    int ok = c.chunk == id;
    if (!ok) lr_error_set(path, "holds chunk %lld", (long long)c.chunk);
    chunk_free(&c);
    return ok;
}

int runfile_shard_scan(const char *dir, int64_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        lr_error_set(dir, "cannot list: %s", strerror(errno));
        return -1;
    }
    h5u_quiet();
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        char *full = lr_path_join(dir, name);
        long long id;
        int len = 0;
        if (strstr(name, ".tmp.")) {
            remove(full); /* a writer died before its rename */
        } else if (sscanf(name, "chunk-%lld.h5%n", &id, &len) == 1 && name[len] == 0 && id >= 0) {
            if (shard_ok(full, id)) {
                if (*n == cap) {
                    cap = cap ? 2 * cap : 64;
                    *ids = xrealloc(*ids, (size_t)cap * sizeof **ids);
                }
                (*ids)[(*n)++] = id;
            } else {
                char *bad = xmalloc(strlen(full) + 8);
                sprintf(bad, "%s.bad", full);
                lr_warn("%s; set aside as %s, its chunk is redone", lr_error_msg(), bad);
                rename(full, bad);
                free(bad);
            }
        }
        free(full);
    }
    closedir(d);
    if (*n) qsort(*ids, (size_t)*n, sizeof **ids, cmp_i64);
    return 0;
}

int runfile_manifest_write(const char *dir, const char *config_json) {
    char *path = lr_path_join(dir, "manifest.json");
    lr_atomic_file af;
    int rc = lr_atomic_open(&af, path);
    if (rc == 0) {
        fputs(config_json, af.f);
        fputc('\n', af.f);
        rc = lr_atomic_commit(&af);
    }
    free(path);
    return rc;
}

char *runfile_manifest_read(const char *dir) {
    char *path = lr_path_join(dir, "manifest.json");
    size_t len;
    char *s = lr_read_file(path, 1u << 20, &len);
    free(path);
    if (s)
        while (len && (s[len - 1] == '\n' || s[len - 1] == '\r')) s[--len] = 0;
    return s;
}
