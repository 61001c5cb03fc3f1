#define _POSIX_C_SOURCE 200809L
#include "sampler/run_state.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/lock.h"
#include "io/runfile.h"
#include "io/runfile_h5.h"

/* selection and labels (alpha, beta, the method's rules) are redone from
 * the stored candidates: a resume may change them; the transport (rows or
 * ids) gives the same traces and, on the CPU, the same scores */
static const char *const irrelevant[] = {"resume", "overwrite", "quiet", "samplers", "scorers", "threads",
                                         "score-rows", "alpha", "beta", "out", "config",
                                         "select", "labels", "sft", "select-seed", "transport"};

char *run_resume_key(const char *args_json, uint64_t problems_digest, int n_problems) {
    cJSON *o = cJSON_Parse(args_json);
    LR_CHECK(o && cJSON_IsObject(o), "args_to_json produced no object");
    for (size_t i = 0; i < sizeof irrelevant / sizeof irrelevant[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(o, irrelevant[i]);
    /* --sample-seed was --seed: the key keeps the old name, so files from
     * before the rename still resume */
    cJSON *ss = cJSON_DetachItemFromObjectCaseSensitive(o, "sample-seed");
    if (ss) cJSON_AddItemToObject(o, "seed", ss);
    char dig[32];
    snprintf(dig, sizeof dig, "%016" PRIx64, problems_digest);
    cJSON_AddStringToObject(o, "problems_digest", dig);
    cJSON_AddNumberToObject(o, "n_problems", n_problems);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *r = xstrdup(txt);
    cJSON_free(txt);
    return r;
}

static void value_text(const cJSON *v, char *buf, size_t n) {
    if (!v) snprintf(buf, n, "(absent)");
    else {
        char *t = cJSON_PrintUnformatted(v);
        snprintf(buf, n, "%s", t ? t : "?");
        cJSON_free(t);
    }
}

int run_resume_key_check(const char *stored, const char *current, const char *where) {
    cJSON *a = cJSON_Parse(stored), *b = cJSON_Parse(current);
    int rc = 0;
    if (!a || !cJSON_IsObject(a)) {
        lr_error_set(where, "stored configuration is unreadable; refusing to resume");
        rc = -1;
    } else {
        const cJSON *keys[2] = {b, a};
        for (int pass = 0; pass < 2 && rc == 0; pass++)
            for (const cJSON *it = keys[pass]->child; it && rc == 0; it = it->next) {
                const cJSON *x = cJSON_GetObjectItemCaseSensitive(a, it->string);
                const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, it->string);
                if (x && y && cJSON_Compare(x, y, 1)) continue;
                char sv[256], cv[256];
                value_text(x, sv, sizeof sv);
                value_text(y, cv, sizeof cv);
                lr_error_set(where,
                             "comes from another configuration: '%s' was %s there and is %s now; refusing to "
                             "resume (use another --out, or --overwrite to start over)",
                             it->string, sv, cv);
                rc = -1;
            }
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    return rc;
}

/* Removes chunk shards, temporaries and the manifest from dir. */
static void clear_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "chunk-", 6) != 0 && strncmp(e->d_name, "manifest.json", 13) != 0) continue;
        char *p = lr_path_join(dir, e->d_name);
        remove(p);
        free(p);
    }
    closedir(d);
}

void run_state_cleanup(const char *shard_dir) {
    clear_dir(shard_dir);
    rmdir(shard_dir);
}

void run_state_free(lr_run_state *st) {
    free(st->done);
    memset(st, 0, sizeof *st);
}

static int check_complete_file(const char *out, const char *key) {
    hid_t f = (hid_t)runfile_open_read(out);
    if (f < 0) return -1;
    char *stored = NULL;
    int rc = h5u_read_attr_str(f, "resume_key", out, &stored);
    H5Fclose(f);
    if (rc == 0) rc = run_resume_key_check(stored, key, out);
    free(stored);
    return rc;
}

/* Removes "<path>.tmp.*" left by a killed writer: files (join, select) and
 * directories (a shard directory being created). */
static void remove_stale_temporaries(const char *path) {
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? path + (slash - dir) + 1 : path;
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (!strncmp(e->d_name, base, bl) && !strncmp(e->d_name + bl, ".tmp.", 5)) {
                char *p = lr_path_join(dir, e->d_name);
                if (lr_is_dir(p)) {
                    clear_dir(p);
                    rmdir(p);
                } else {
                    remove(p);
                }
                free(p);
            }
        closedir(d);
    }
    free(dir);
}

/* Creates the shard directory with its manifest in one step (a temporary
 * directory renamed into place), so a shard directory always has one. */
static int create_shard_dir(const char *shard_dir, const char *key) {
    size_t n = strlen(shard_dir) + 32;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", shard_dir, (long)getpid());
    int rc = lr_mkdir_p(tmp);
    if (rc == 0) rc = runfile_manifest_write(tmp, key);
    if (rc == 0 && rename(tmp, shard_dir) != 0) {
        lr_error_set(shard_dir, "cannot create: %s", strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        clear_dir(tmp);
        rmdir(tmp);
    }
    free(tmp);
    return rc;
}

int run_state_prepare(const char *out, const char *shard_dir, const char *key, int resume, int overwrite,
                      lr_run_state *st) {
    memset(st, 0, sizeof *st);
    if (lr_is_dir(out)) {
        lr_error_set(out, "is a directory");
        return -1;
    }
    if (lr_file_exists(out) && !overwrite && !resume) {
        lr_error_set(out, "already exists (use --resume to continue or finish it, --overwrite to replace it)");
        return -1;
    }
    /* one writer per run file, until this process ends (common/lock.h) */
    if (lr_lock_writer(out, "sample") != 0) return -1;
    if (lr_file_exists(out) && !overwrite) {
        if (check_complete_file(out, key) != 0) return -1;
        st->kind = RUN_COMPLETE;
        return 0;
    }
    if (lr_is_dir(shard_dir)) {
        if (resume && !overwrite) {
            char *stored = runfile_manifest_read(shard_dir);
            if (!stored) {
                lr_error_set(shard_dir, "holds no manifest.json: not an interrupted run of this program");
                return -1;
            }
            char *mpath = lr_path_join(shard_dir, "manifest.json");
            int rc = run_resume_key_check(stored, key, mpath);
            free(mpath);
            free(stored);
            if (rc != 0) return -1;
            if (runfile_shard_scan(shard_dir, &st->done, &st->n_done) != 0) return -1;
            remove_stale_temporaries(out);
            remove_stale_temporaries(shard_dir);
            st->kind = RUN_RESUME;
            return 0;
        }
        if (!overwrite) {
            lr_error_set(shard_dir, "an interrupted run is here (use --resume to continue it, --overwrite to start "
                                    "over)");
            return -1;
        }
        clear_dir(shard_dir);
        rmdir(shard_dir);
        if (lr_is_dir(shard_dir)) {
            lr_error_set(shard_dir, "holds files this program did not write; remove it or choose another --out");
            return -1;
        }
    }
    remove_stale_temporaries(out);
    remove_stale_temporaries(shard_dir);
    if (create_shard_dir(shard_dir, key) != 0) return -1;
    st->kind = RUN_FRESH;
    return 0;
}
