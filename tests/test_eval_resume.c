/* Crash safety: SIGKILL during an eval, then --resume, completes without
 * duplicates and equals an uninterrupted run (SPEC §4, §7). The kill lands
 * once at a known chunk (testing hook), once at an arbitrary moment from
 * outside, and once for every rank of a 2-rank MPI job resumed on 1 rank. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_eval_util.h"
#include "test_util.h"

#define N 14
static char g_args[512];

static int count_chunks(const char *parts) {
    DIR *d = opendir(parts);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "chunk-", 6) && strlen(e->d_name) == 17) n++;
    closedir(d);
    return n;
}

static void check_complete(const char *file, const char *ref, const char *what) {
    char why[512] = "";
    EXPECT(eval_groups_equal(file, "/eval/gsm8k", ref, "/eval/gsm8k", why, sizeof why), "%s: %s", what, why);
    long n = 0;
    long *line = h5_longs(file, "/eval/gsm8k/line", &n);
    EXPECT(n == N, "%s: %ld rows (no duplicates, none lost)", what, n);
    for (long i = 0; line && i < n; i++) EXPECT(line[i] == i + 1, "%s: row %ld is line %ld", what, i, line[i]);
    free(line);
    char parts[700];
    snprintf(parts, sizeof parts, "%s.eval-gsm8k.parts", file);
    struct stat st;
    EXPECT(stat(parts, &st) != 0, "%s: parts directory removed", what);
}

static int run_eval(const char *prefix, const char *file, const char *extra, char **out) {
    return test_sh(out, "%s %s eval %s --out %s %s", prefix, test_bin(), g_args, file, extra);
}

/* Starts the eval as a child, SIGKILLs it as soon as `after` chunk files
 * exist (any moment inside the next chunk, or the write of a chunk). */
static void kill_midway(const char *file, int after) {
    char parts[700];
    snprintf(parts, sizeof parts, "%s.eval-gsm8k.parts", file);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec %s eval %s --out %s", test_bin(), g_args, file);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    struct timespec ts = {0, 1000000};
    for (int i = 0; i < 20000 && count_chunks(parts) < after; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            pid = -1;
            break;
        }
        nanosleep(&ts, NULL);
    }
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    fprintf(stderr, "note: killed with %d chunk file(s) present\n", count_chunks(parts));
}

int main(void) {
    const char *dir = eval_scratch("resume");
    snprintf(g_args, sizeof g_args,
             "--model %s --data-dir %s --benchmark gsm8k --limit %d --max-new-tokens 48 --batch 1 --chunk 1 --quiet",
             eval_test_model(), test_repo_data_dir(), N);
    char ref[600], a[600], b[600], c[600], parts[700], *out = NULL;
    snprintf(ref, sizeof ref, "%s/ref.h5", dir);
    snprintf(a, sizeof a, "%s/a.h5", dir);
    snprintf(b, sizeof b, "%s/b.h5", dir);
    snprintf(c, sizeof c, "%s/c.h5", dir);

    int rc = run_eval("", ref, "", &out);
    EXPECT(rc == 0, "uninterrupted run rc %d: %s", rc, out);
    free(out);

    /* (1) SIGKILL right after the 3rd chunk is persisted */
    rc = run_eval("LR_TEST_DIE_AT=chunk:3", a, "", &out);
    EXPECT(rc != 0, "crash hook killed the run (rc %d)", rc);
    free(out);
    snprintf(parts, sizeof parts, "%s.eval-gsm8k.parts", a);
    EXPECT(count_chunks(parts) == 3, "3 chunks persisted, found %d", count_chunks(parts));
    EXPECT(!h5_has(a, "/eval/gsm8k"), "no result group before completion");
    /* a stale temporary and a damaged chunk must not be trusted */
    test_sh(NULL, "printf '{\"chunk\":' > %s/chunk-000009.json.tmp.4242", parts);
    test_sh(NULL, "printf '{\"chunk\": 1, \"lo\": 1' > %s/chunk-000001.json", parts);
    rc = run_eval("", a, "", &out);
    EXPECT(rc == 2 && out && strstr(out, "--resume"), "rerun without --resume refused: rc %d: %s", rc, out);
    free(out);
    rc = run_eval("", a, "--resume --max-new-tokens 40", &out);
    EXPECT(rc == 2 && out && strstr(out, "max_new_tokens"), "resume with other settings refused: rc %d: %s", rc, out);
    free(out);
    /* --quiet silences warnings: this one is checked with --no-quiet */
    rc = run_eval("", a, "--resume --no-quiet", &out);
    EXPECT(rc == 0, "resume rc %d: %s", rc, out);
    EXPECT(out && strstr(out, "redoing"), "damaged chunk reported: %s", out);
    free(out);
    check_complete(a, ref, "resume after crash hook");

    /* (2) SIGKILL from outside at an arbitrary moment */
    kill_midway(b, 2);
    rc = run_eval("", b, "--resume", &out);
    EXPECT(rc == 0, "resume after kill -9 rc %d: %s", rc, out);
    free(out);
    check_complete(b, ref, "resume after kill -9");

    /* (3) every rank of a 2-rank job dies; resume on one rank */
    char prefix[700];
    snprintf(prefix, sizeof prefix, "LR_TEST_DIE_AT=chunk:2 %s", eval_mpirun(2));
    rc = run_eval(prefix, c, "", &out);
    EXPECT(rc != 0, "2-rank job killed (rc %d)", rc);
    free(out);
    snprintf(parts, sizeof parts, "%s.eval-gsm8k.parts", c);
    int have = count_chunks(parts);
    EXPECT(have >= 2 && have < N, "chunks persisted by the killed job: %d", have);
    rc = run_eval("", c, "--resume", &out);
    EXPECT(rc == 0, "1-rank resume of a 2-rank job rc %d: %s", rc, out);
    free(out);
    check_complete(c, ref, "resume on another rank count");
    return test_finish("test_eval_resume");
}
