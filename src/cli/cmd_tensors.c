/* `lightreasoner tensors PATH`: validate and list the tensors of a
 * .safetensors file or a model directory (single or sharded), and with
 * --check-config the directory's resolved config.json and
 * generation_config.json. Any bad input exits 2 with the file named. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "io/model_config.h"
#include "io/safetensors.h"

static void print_shape(char *buf, size_t cap, const st_tensor *t) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->ndim && o < cap; d++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* The directory a model file lives in ("." for a bare file name). */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    char *d = xstrdup(path);
    d[slash - path] = 0;
    return d;
}

/* Cheap agreement between config and weights: the embedding must be
 * [vocab_size, hidden_size], the first thing a mismatched pair gets wrong. */
static void check_embedding(const st_set *s, const lr_model_config *c, const char *where) {
    const st_tensor *t = st_find(s, "model.embed_tokens.weight");
    if (!t) return;
    if (t->ndim != 2 || t->shape[0] != c->vocab_size || t->shape[1] != c->hidden_size) {
        char sh[128];
        print_shape(sh, sizeof sh, t);
        lr_die_input(where, "tensor 'model.embed_tokens.weight' has shape %s but config.json says [%d, %d]", sh,
                     c->vocab_size, c->hidden_size);
    }
}

int cmd_tensors(int argc, char **argv) {
    int check_config = 0;
    const arg_def defs[] = {
        {"check-config", ARG_FLAG, &check_config, NULL,
         "also parse the model directory's config.json and generation_config.json and print the resolved values", 0, 0,
         0},
    };
    const arg_spec spec = {"tensors", "Validate and list the tensors of a .safetensors file or a model directory.",
                           "PATH", defs, (int)(sizeof defs / sizeof defs[0]), 1};
    char *pos[1];
    if (args_parse(&spec, argc, argv, pos) != 1) lr_die_input("tensors", "needs a PATH (a .safetensors file or a model directory)");
    const char *path = pos[0];

    st_set s;
    int is_dir = lr_is_dir(path);
    if ((is_dir ? st_open_dir(&s, path) : st_open_file(&s, path)) != 0) lr_die_last();

    lr_model_config c;
    lr_generation_config g;
    char *dir = is_dir ? xstrdup(path) : dir_of(path);
    if (check_config) {
        if (model_config_load_dir(&c, &g, dir) != 0) lr_die_last();
        check_embedding(&s, &c, s.paths[0]);
    }

    uint64_t total = 0;
    int wname = 4;
    for (int i = 0; i < s.n_tensors; i++) {
        int n = (int)strlen(s.tensors[i].name);
        if (n > wname) wname = n;
        total += s.tensors[i].nbytes;
    }
    printf("# %s: %d tensors in %d file%s, %" PRIu64 " bytes of data\n", path, s.n_tensors, s.n_files,
           s.n_files == 1 ? "" : "s", total);
    for (int i = 0; i < s.n_meta; i++) printf("# metadata %s = %s\n", s.meta_keys[i], s.meta_values[i]);
    printf("%-*s  %-5s  %-24s  %14s  %10s  %10s%s\n", wname, "name", "dtype", "shape", "bytes", "nan", "inf",
           s.n_files > 1 ? "  file" : "");
    uint64_t bad_tensors = 0, bad_values = 0;
    for (int i = 0; i < s.n_tensors; i++) {
        const st_tensor *t = &s.tensors[i];
        char sh[256];
        print_shape(sh, sizeof sh, t);
        printf("%-*s  %-5s  %-24s  %14zu", wname, t->name, st_dtype_name(t->dtype), sh, t->nbytes);
        uint64_t n_nan = 0, n_inf = 0;
        if (st_count_nonfinite(t, &n_nan, &n_inf) == 0) printf("  %10" PRIu64 "  %10" PRIu64, n_nan, n_inf);
        else printf("  %10s  %10s", "-", "-"); /* integer dtypes have no NaN/Inf */
        if (n_nan || n_inf) bad_tensors++, bad_values += n_nan + n_inf;
        if (s.n_files > 1) {
            const char *f = strrchr(s.paths[t->file_index], '/');
            printf("  %s", f ? f + 1 : s.paths[t->file_index]);
        }
        putchar('\n');
    }
    if (bad_tensors)
        printf("# non-finite: %" PRIu64 " NaN/Inf values in %" PRIu64 " tensor%s (broken weights)\n", bad_values,
               bad_tensors, bad_tensors == 1 ? "" : "s");
    if (check_config) {
        printf("# config: %s/config.json\n", dir);
        model_config_print(stdout, &c, &g);
    }
    free(dir);
    st_close(&s);
    return 0;
}
