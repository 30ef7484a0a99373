/* The translation unit of the library's sm_90a fatbin (backends/cuda/meson.build):
 * the Hopper attention forward and backward kernels. */
#include "attention_forward_sm90.cu"
#include "attention_backward_sm90.cu"
