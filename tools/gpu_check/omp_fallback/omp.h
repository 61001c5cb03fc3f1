/* <omp.h> for the stand-alone GPU check where the host compiler has no
 * OpenMP: one thread (the #pragma omp lines are then ignored). */
#ifndef LR_GPU_CHECK_OMP_H
#define LR_GPU_CHECK_OMP_H
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline void omp_set_num_threads(int n) { (void)n; }
#endif
