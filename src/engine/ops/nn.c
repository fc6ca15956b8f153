/* nn.c - oneDNN-backed ops: MatMul, Gemm, Conv, ConvTranspose, pooling, BatchNormalization. */
#include "engine/ops/ops.h"

const fg_op_def fg_ops_nn[] = {
    {0},
};
