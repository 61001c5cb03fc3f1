/* GPU discovery of a CUDA build (src/model/cuda): whatever the machine,
 * the count is >= 0 and never crashes; every device found has a name with
 * its compute capability and memory. Stand-alone (no test harness) so it
 * also builds with nvcc alone on a GPU machine without the project's other
 * dependencies:
 *   nvcc -x cu tests/test_cuda_device.c src/model/cuda/cuda_device.cu -Isrc -DLR_HAVE_CUDA -o t && ./t
 * Set LR_EXPECT_GPU=1 to require at least one device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/cuda/cuda_device.h"

int main(void) {
    const int n = lr_cuda_device_count();
    int bad = n < 0;
    printf("CUDA devices: %d\n", n);
    for (int i = 0; i < n; i++) {
        char name[256] = "";
        int rc = lr_cuda_device_name(i, name, sizeof name);
        printf("  %d: %s\n", i, name);
        if (rc != 0 || !strstr(name, "(sm_") || !strstr(name, "GiB)")) bad = 1;
    }
    const char *want = getenv("LR_EXPECT_GPU");
    if (want && atoi(want) && n < 1) {
        printf("LR_EXPECT_GPU is set but no device was found\n");
        bad = 1;
    }
    printf("test_cuda_device: %s\n", bad ? "FAILED" : "ok");
    return bad;
}
