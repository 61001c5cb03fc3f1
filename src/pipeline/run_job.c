/* The pipeline job (run_job.h). */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/run_job.h"

#include <cjson/cJSON.h>
#include <hdf5.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/check.h"
#include "common/error.h"
#include "common/fileio.h"
#include "common/signals.h"
#include "common/signals.h"
#include "eval/benchmark.h"
#include "eval/eval_run.h"
#include "inspect/h5peek.h"
#include "pipeline/run_feed.h"
#include "sampler/sample_stage.h"
#include "trainer/train_h5.h"
#include "trainer/trainer.h"

char *run_demo_dir(void) {
    char *cands[8], *found = NULL;
    int n = lr_data_dir_candidates(NULL, cands, 7);
    cands[n++] = xstrdup("data"); /* the repository root as working directory */
    for (int i = 0; i < n; i++) {
        char *demo = lr_path_join(cands[i], "demo"), *expert = lr_path_join(demo, "expert");
        if (!found && lr_is_dir(expert)) {
            found = realpath(demo, NULL);
            if (!found) found = xstrdup(demo);
        }
        free(expert);
        free(demo);
        free(cands[i]);
    }
    return found;
}

/* "before  41.5% [34.9%, 48.4%] (83/200)" from /eval/<name>. */
static int eval_line(hid_t f, const char *name, double *acc) {
    char g[128];
    snprintf(g, sizeof g, "/eval/%s", name);
    double lo = 0, hi = 0, n = 0, k = 0;
    if (h5peek_attr_double(f, g, "accuracy", acc) != 0) return -1;
    h5peek_attr_double(f, g, "accuracy_ci95_low", &lo);
    h5peek_attr_double(f, g, "accuracy_ci95_high", &hi);
    h5peek_attr_double(f, g, "n_problems", &n);
    h5peek_attr_double(f, g, "n_correct", &k);
    printf("expert accuracy %-6s %5.1f%%  95%% CI [%.1f%%, %.1f%%]  (%g/%g)\n", name, 100 * *acc, 100 * lo, 100 * hi, k,
           n);
    return 0;
}

static void summary(const run_opts *o) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(o->sample.out, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return;
    double ns = 0, nd = 0, loss0 = 0, loss1 = 0, before = 0, after = 0;
    h5peek_attr_double(f, "/samples", "n_samples", &ns);
    h5peek_attr_double(f, "/samples", "n_steps", &nd);
    int64_t n = 0;
    double *loss = h5peek_doubles(f, "/train/log/loss", &n);
    printf("\nrun file %s\n", o->sample.out);
    printf("samples  %g of %g generated steps selected (KL >= %g)\n", ns, nd, o->sample.beta);
    if (loss && n > 0) {
        int64_t w = n >= 10 ? n / 10 : 1;
        for (int64_t i = 0; i < w; i++) loss0 += loss[i] / (double)w, loss1 += loss[n - 1 - i] / (double)w;
        printf("train    %lld steps, loss %.4f -> %.4f (mean of first/last %lld)\n", (long long)n, loss0, loss1,
               (long long)w);
    }
    free(loss);
    int hb = eval_line(f, "before", &before) == 0;
    int ha = eval_line(f, "after", &after) == 0;
    if (hb && ha) printf("change   %+.1f points (one run; see docs/pipeline.md for the spread over seeds)\n",
                         100 * (after - before));
    H5Fclose(f);
}

run_opts run_opts_default(void) {
    run_opts o = {.sample = sample_opts_default(), .train = train_opts_default(), .eval_max_new_tokens = 1024};
    o.train.shuffle_buffer = 256;
    o.train.start_after = 64;
    return o;
}

int run_split_roles(int world, long *samplers, long *scorers, long *trainers) {
    if (world == 1) {
        if (*samplers > 1 || *scorers > 1 || *trainers > 1) {
            lr_error_set("run", "one process plays every role: --samplers, --scorers and --trainers can be at most 1");
            return -1;
        }
        *samplers = *scorers = 0, *trainers = 1;
        return 1;
    }
    long t = *trainers;
    if (t == 0) t = *samplers + *scorers > 0 ? world - *samplers - *scorers : (world / 3 > 0 ? world / 3 : 1);
    if (t < 1 || t >= world) {
        lr_error_set("run", "%d ranks cannot hold %ld trainer rank(s) and at least one sampling rank (--samplers %ld, "
                            "--scorers %ld, --trainers %ld)", world, t, *samplers, *scorers, *trainers);
        return -1;
    }
    *trainers = t;
    long s = world - t;
    if (*samplers + *scorers != 0 && *samplers + *scorers != s && !(*samplers == 0 || *scorers == 0)) {
        lr_error_set("run", "--samplers %ld + --scorers %ld + --trainers %ld must add up to the %d ranks", *samplers,
                     *scorers, t, world);
        return -1;
    }
    if (mpi_env_split_two((int)s, samplers, scorers) != 0) return -1;
    return (int)s;
}

/* What the sampling data depends on (the sampling stage's resume key and
 * the trainers' data key): the resolved sampling configuration. */
static char *sampling_json(const sample_opts *so) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "expert", so->expert);
    cJSON_AddStringToObject(j, "amateur", so->amateur);
    cJSON_AddStringToObject(j, "problems", so->problems);
    cJSON_AddNumberToObject(j, "max-problems", (double)so->max_problems);
    cJSON_AddNumberToObject(j, "max-new-tokens", (double)so->max_new_tokens);
    cJSON_AddNumberToObject(j, "batch", (double)so->batch);
    cJSON_AddStringToObject(j, "system", so->system);
    cJSON_AddStringToObject(j, "chat-template", so->chat_template);
    cJSON_AddNumberToObject(j, "store-alpha", so->store_alpha);
    cJSON_AddStringToObject(j, "question-field", so->question_field);
    cJSON_AddNumberToObject(j, "temperature", so->temperature);
    cJSON_AddNumberToObject(j, "top-p", so->top_p);
    cJSON_AddNumberToObject(j, "seed", (double)so->seed);
    cJSON_AddBoolToObject(j, "skip-bad-lines", so->skip_bad_lines);
    cJSON_AddNumberToObject(j, "alpha", so->alpha);
    cJSON_AddNumberToObject(j, "beta", so->beta);
    /* an ablation's rule (method.h) changes the samples; the default adds
     * nothing, so keys of default runs are those of older files */
    const lr_method m = sample_opts_method(so);
    if (m.select != METHOD_SELECT_KL || m.labels != METHOD_LABELS_CONTRAST) {
        cJSON_AddStringToObject(j, "select", method_select_name(&m));
        cJSON_AddStringToObject(j, "labels", method_labels_name(&m));
        if (m.select == METHOD_SELECT_RANDOM) cJSON_AddNumberToObject(j, "select-seed", (double)m.select_seed);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

typedef struct {
    char state[PATH_MAX], adapter[PATH_MAX];
} run_paths;

/* A micro-batch holds distinct samples and a problem gives at most one per
 * generated token: a --micro-batch beyond that is refused before sampling
 * (the trainer refuses one beyond what the stream then really gave). */
static int check_micro_batch(const run_opts *o, const sample_stage *s, const sample_opts *so) {
    const long long most = (long long)s->n_problems * so->max_new_tokens;
    if (s->kind == RUN_COMPLETE || o->train.micro_batch <= most) return 0;
    lr_error_set("--micro-batch", "%ld is more than the %lld samples %d problems of --max-new-tokens %ld can give (a "
                 "micro-batch holds distinct samples)", o->train.micro_batch, most, s->n_problems, so->max_new_tokens);
    return LR_EXIT_INPUT;
}

/* Phase 2 on a trainer rank: LoRA training on the samples as they arrive. */
static int train_part(const run_opts *o, const lr_mpi_env *grp, const run_paths *p, run_feed *feed,
                      const char *data_key) {
    train_opts to = o->train;
    to.run_path = o->sample.out;
    to.model_dir = o->sample.expert;
    to.state_path = p->state;
    to.export_dir = p->adapter;
    if (to.alpha <= 0) to.alpha = 2.0 * (double)to.r;
    if (to.shuffle_buffer == 0) to.start_after = 0;
    to.threads = o->threads;
    to.resume = o->resume;
    to.overwrite = !o->resume;
    to.quiet = o->quiet;
    to.config_json = o->config_json;
    to.command_line = o->command_line;
    to.feed = run_feed_next;
    to.feed_ctx = feed;
    to.data_key = data_key;
    const double t0 = lr_now();
    int rc = trainer_run(&to, grp);
    if (rc == 0 && grp->rank == 0 && !o->quiet)
        fprintf(stderr, "run: training took %.1f s, %.1f s of it waiting for the scorers' samples\n", lr_now() - t0,
                feed->waited);
    return rc;
}

/* Phase 3: one evaluation on every rank. */
static int eval_part(const run_opts *o, const lr_mpi_env *world, const char *name, const char *adapter) {
    eval_opts eo = {.model_dir = o->sample.expert,
                    .adapter = adapter,
                    .benchmark = o->benchmark,
                    .compare = "auto",
                    .system_prompt = EVAL_SYSTEM_PROMPT,
                    .chat_template = "auto",
                    .name = name,
                    .out = o->sample.out,
                    .limit = o->eval_limit,
                    .max_new_tokens = o->eval_max_new_tokens,
                    .batch = o->batch > 0 ? o->batch : 8,
                    .threads = o->threads,
                    .resume = o->resume,
                    .overwrite = !o->resume,
                    .quiet = o->quiet,
                    .config_json = o->config_json,
                    .command_line = o->command_line};
    if (!o->quiet && world->rank == 0) fprintf(stderr, "run: == eval %s ==\n", name);
    return eval_run(&eo, world);
}

int run_job(const run_opts *o, const lr_mpi_env *world) {
    long samplers = o->sample.samplers, scorers = o->sample.scorers, trainers = o->trainers;
    const int n_sampling = run_split_roles(world->size, &samplers, &scorers, &trainers);
    int rc = mpi_env_agree(world, n_sampling < 0 ? LR_EXIT_INPUT : 0);
    if (rc) return rc;
    const int alone = world->size == 1;
    const int sampling = world->rank < n_sampling, training = alone || !sampling;
    if (!o->quiet && world->rank == 0) {
        if (alone) fprintf(stderr, "run: 1 process: it samples, then trains, then evaluates\n");
        else if (n_sampling == 1)
            fprintf(stderr, "run: %d ranks: [0, 1) samples (sampler and scorer in one), [1, %d) train, all evaluate\n",
                    world->size, world->size);
        else
            fprintf(stderr, "run: %d ranks: [0, %d) sample (%ld scorer%s, %ld sampler%s), [%d, %d) train, all evaluate\n",
                    world->size, n_sampling, scorers, scorers == 1 ? "" : "s", samplers, samplers == 1 ? "" : "s",
                    n_sampling, world->size);
    }

    run_paths p;
    snprintf(p.state, sizeof p.state, "%s/train.h5", o->workdir);
    snprintf(p.adapter, sizeof p.adapter, "%s/adapter", o->workdir);
    if (world->rank == 0 && lr_mkdir_p(o->workdir) != 0 && !lr_is_dir(o->workdir)) {
        lr_error_set(o->workdir, "cannot create the work directory");
        rc = LR_EXIT_INPUT;
    }
    if (rc == 0 && world->rank == 0 && !o->no_eval) {
        /* a bad benchmark must not surface only after sampling and training */
        eval_benchmark b;
        eval_benchmark_opts bo = {.benchmark = o->benchmark, .compare = "auto", .limit = o->eval_limit};
        if (benchmark_load(&b, &bo) != 0) rc = LR_EXIT_INPUT;
        else benchmark_free(&b);
    }
    if ((rc = mpi_env_agree(world, rc))) return rc;

    /* phase 1: the sampling group checks its inputs and loads its models */
    lr_mpi_env grp;
    mpi_env_split(world, sampling ? 0 : 1, &grp);
    sample_opts so = o->sample;
    const sample_opts sd = sample_opts_default();
    if (o->batch > 0) so.batch = o->batch;
    so.samplers = samplers, so.scorers = scorers, so.threads = o->threads;
    so.resume = o->resume, so.overwrite = !o->resume, so.quiet = o->quiet;
    if (!so.system) so.system = sd.system;
    if (!so.chat_template) so.chat_template = sd.chat_template;
    if (!so.question_field) so.question_field = sd.question_field;
    char *key_json = sampling_json(&so);
    sample_stage s;
    memset(&s, 0, sizeof s);
    if (sampling) rc = sample_stage_setup(&s, &so, key_json, o->command_line, &grp);
    rc = mpi_env_worst(world, rc);
    if (rc == 0) rc = mpi_env_agree(world, world->rank == 0 ? check_micro_batch(o, &s, &so) : 0);
    int64_t info[2] = {s.kind, s.n_chunks};
    if (rc == 0 && world->use_mpi) MPI_CHECK(MPI_Bcast(info, 2, MPI_INT64_T, 0, world->comm));
    const int complete = info[0] == RUN_COMPLETE;
    if (rc == 0 && world->rank == 0 && !complete) {
        /* the trainers' /train lives in the work directory until the join */
        if (!o->resume) remove(p.state);
        char *shards = runfile_shard_dir(o->sample.out), *mark = lr_path_join(shards, RUN_FEED_STOP_MARK);
        remove(mark); /* an earlier instance's stop marker */
        free(mark), free(shards);
        if (!lr_file_exists(p.state) && train_h5_create_state(p.state) != 0) rc = LR_EXIT_INPUT;
    }
    if (rc == 0) rc = mpi_env_agree(world, rc);

    /* phase 2: sample and train at once (one process: one after the other) */
    if (rc == 0 && !complete) {
        char *shard_dir = runfile_shard_dir(o->sample.out);
        run_feed feed = {.shard_dir = shard_dir, .n_chunks = info[1], .method = sample_opts_method(&o->sample)};
        int prc = 0;
        if (sampling) {
            prc = sample_stage_run(&s); /* LR_EXIT_INTERRUPTED: stopped by a signal */
            if (prc == LR_EXIT_INTERRUPTED && grp.rank == 0 && !alone) {
                /* trainers that got no signal themselves must not wait for shards that never come */
                char *mark = lr_path_join(shard_dir, RUN_FEED_STOP_MARK);
                FILE *mf = fopen(mark, "w");
                if (mf) fclose(mf);
                free(mark);
            }
            sample_stage_free_models(&s); /* the trainer of a lone process needs the memory */
        }
        if (training && (prc == 0 || !alone)) {
            const int trc = train_part(o, alone ? world : &grp, &p, &feed, key_json);
            if (trc > prc) prc = trc;
        }
        mpi_env_wait_all(world); /* sleeping: trainers may still be at work */
        rc = mpi_env_worst(world, prc);
        if (rc == 0 && world->rank == 0) {
            if (sample_stage_join(&s, p.state) != 0) rc = LR_EXIT_INPUT;
            else remove(p.state);
        }
        if (rc != LR_EXIT_INTERRUPTED) rc = mpi_env_agree(world, rc); /* the stages said why they stopped */
        free(shard_dir);
    } else if (rc == 0 && complete && world->rank == 0 && !o->quiet) {
        fprintf(stderr, "run: %s already holds the sampled and trained run; continuing with the evaluation\n", o->sample.out);
    }
    sample_stage_free(&s);
    mpi_env_free_sub(&grp);
    free(key_json);

    /* phase 3: every rank evaluates */
    if (rc == 0 && !o->no_eval) rc = eval_part(o, world, "before", NULL);
    if (rc == 0 && !o->no_eval) rc = eval_part(o, world, "after", p.adapter);
    if (rc == 0 && world->rank == 0) summary(o);
    return rc;
}
