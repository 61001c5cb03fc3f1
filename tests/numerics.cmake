# Batch/thread/alignment invariance of the CPU kernels on every ISA path this CPU runs.
lr_add_c_test(test_cpu_invariance test_cpu_invariance.c LABELS numerics)
