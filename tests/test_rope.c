/* RoPE inv_freq against transformers, bit for bit: tests/data/model/
 * rope_inv_freq.txt holds transformers' fp32 inv_freq (bit patterns) for
 * default, linear and llama3 configurations (tests/reference/
 * make_model_goldens.py); rope_inv_freq must reproduce every bit. Also the
 * parameter checks. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "model/rope.h"
#include "test_util.h"

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* One line: "type head_dim theta factor low high old : hex..." -> checks. */
static void check_line(char *line, int lineno, int exact_pow, int *n_cases, int *n_values) {
    char type[16];
    int dim, old, used = 0;
    double theta, factor, lo, hi;
    if (sscanf(line, "%15s %d %lf %lf %lf %lf %d : %n", type, &dim, &theta, &factor, &lo, &hi, &old, &used) != 7 ||
        !used || dim <= 0 || dim > 4096 || dim % 2) {
        EXPECT(0, "rope_inv_freq.txt:%d: malformed line", lineno);
        return;
    }
    lr_model_config c = {.head_dim = dim, .rope_theta = theta, .rope_factor = factor, .rope_low_freq_factor = lo,
                         .rope_high_freq_factor = hi, .rope_original_max_position = old};
    if (!strcmp(type, "default")) c.rope_type = ROPE_DEFAULT;
    else if (!strcmp(type, "linear")) c.rope_type = ROPE_LINEAR;
    else if (!strcmp(type, "llama3")) c.rope_type = ROPE_LLAMA3;
    else {
        EXPECT(0, "rope_inv_freq.txt:%d: unknown rope type %s", lineno, type);
        return;
    }
    const int half = dim / 2;
    float *got = malloc((size_t)half * sizeof *got); /* (half) */
    EXPECT(rope_inv_freq(&c, "test", got) == 0, "line %d: rope_inv_freq: %s", lineno, lr_error_msg());
    const char *p = line + used;
    int n_diff = 0, worst_ulp = 0, first = -1;
    for (int i = 0; i < half; i++) {
        char *end;
        unsigned long want = strtoul(p, &end, 16);
        if (end == p) {
            EXPECT(0, "rope_inv_freq.txt:%d: %d values for head_dim %d", lineno, i, dim);
            break;
        }
        p = end;
        const int ulp = abs((int)((int64_t)bits(got[i]) - (int64_t)want));
        if (ulp) {
            n_diff++;
            if (first < 0) first = i;
            if (ulp > worst_ulp) worst_ulp = ulp;
        }
        (*n_values)++;
    }
    if (exact_pow)
        EXPECT(n_diff == 0, "%s head_dim %d theta %g: %d of %d inv_freq differ from transformers (first at %d, %d ulp)",
               type, dim, theta, n_diff, half, first, worst_ulp);
    else /* libm powf where torch uses SLEEF: 1 ulp, which llama3's smoothing can double */
        EXPECT(worst_ulp <= 4, "%s head_dim %d theta %g: inv_freq %d ulp from transformers", type, dim, theta,
               worst_ulp);
    (*n_cases)++;
    free(got);
}

static void check_goldens(void) {
    const char *path = test_data_path("model/rope_inv_freq.txt");
    FILE *f = fopen(path, "r");
    EXPECT(f != NULL, "cannot open %s", path);
    if (!f) return;
    const int exact_pow = rope_have_exact_pow();
    if (!exact_pow)
        printf("SKIPPED: bit-exact inv_freq (needs SLEEF and an FMA CPU); checking within 4 ulp instead\n");
    char line[65536];
    int lineno = 0, n_cases = 0, n_values = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') continue;
        check_line(line, lineno, exact_pow, &n_cases, &n_values);
    }
    fclose(f);
    EXPECT(n_cases >= 10, "only %d configurations in %s", n_cases, path);
    printf("inv_freq: %d configurations, %d values, %s transformers\n", n_cases, n_values,
           exact_pow ? "bit-identical to" : "within 4 ulp of");
}

static void check_refusals(void) {
    float buf[64];
    lr_model_config c = {.head_dim = 23, .rope_theta = 10000.0};
    EXPECT(rope_inv_freq(&c, "cfg", buf) == -1 && strstr(lr_error_msg(), "head_dim"), "odd head_dim accepted");
    c.head_dim = 16;
    c.rope_theta = 1.0;
    EXPECT(rope_inv_freq(&c, "cfg", buf) == -1 && strstr(lr_error_msg(), "rope_theta"), "rope_theta 1 accepted");
    c.rope_theta = 10000.0;
    c.rope_type = ROPE_LINEAR;
    c.rope_factor = 0;
    EXPECT(rope_inv_freq(&c, "cfg", buf) == -1, "linear factor 0 accepted");
    c.rope_type = ROPE_LLAMA3;
    c.rope_factor = 8;
    c.rope_low_freq_factor = 4;
    c.rope_high_freq_factor = 1;
    c.rope_original_max_position = 32;
    EXPECT(rope_inv_freq(&c, "cfg", buf) == -1, "llama3 high_freq_factor < low_freq_factor accepted");
    c.rope_low_freq_factor = 1;
    c.rope_high_freq_factor = 4;
    EXPECT(rope_inv_freq(&c, "cfg", buf) == 0, "valid llama3: %s", lr_error_msg());
    for (int i = 0; i < 8; i++) EXPECT(isfinite(buf[i]) && buf[i] > 0, "inv_freq[%d] = %g", i, buf[i]);
}

int main(void) {
    check_goldens();
    check_refusals();
    return test_finish("test_rope");
}
