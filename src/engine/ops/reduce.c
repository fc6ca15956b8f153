/* reduce.c - reductions and normalisations along axes (Reduce*, Softmax, LayerNormalization). */
#include "engine/ops/ops.h"

const fg_op_def fg_ops_reduce[] = {
    {0},
};
