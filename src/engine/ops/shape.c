/* shape.c - ops that move, reinterpret or describe data without arithmetic. */
#include "engine/ops/ops.h"

static int infer_identity(fg_kctx *c) {
    fg_same_shape(c->out[0], c->in[0]);
    return 0;
}

static int run_copy(fg_kctx *c) {
    memcpy(c->out[0]->data, c->in[0]->data, (size_t)fg_tensor_numel(c->in[0]) * fg_dtype_size(c->in[0]->dtype));
    return 0;
}

const fg_op_def fg_ops_shape[] = {
    {.type = "Identity", .infer = infer_identity, .run = run_copy, .flags = FG_OP_ALIAS},
    {0},
};
