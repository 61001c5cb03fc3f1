/* GPU discovery, callable from C whether or not CUDA was built in. */
#ifndef LR_CUDA_DEVICE_H
#define LR_CUDA_DEVICE_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LR_HAVE_CUDA) || defined(__CUDACC__)
/* Number of usable CUDA devices (0 when there is no driver or device). */
int lr_cuda_device_count(void);
/* "NAME (sm_XY, N GiB)" into buf; 0 ok. */
int lr_cuda_device_name(int dev, char *buf, int len);
#else
static inline int lr_cuda_device_count(void) { return 0; }
static inline int lr_cuda_device_name(int dev, char *buf, int len) { (void)dev; (void)buf; (void)len; return -1; }
#endif

#ifdef __cplusplus
}
#endif
#endif
