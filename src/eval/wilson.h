/* Confidence interval for an accuracy (a binomial proportion). */
#ifndef LR_EVAL_WILSON_H
#define LR_EVAL_WILSON_H

/* Wilson score interval for k successes in n trials at normal quantile z
 * (1.959964 for 95%). Unlike the normal approximation it stays inside
 * [0, 1] and is sensible at k = 0 or k = n. n = 0 gives [0, 1]. */
void eval_wilson(long k, long n, double z, double *lo, double *hi);

#define EVAL_Z95 1.959963984540054

#endif
