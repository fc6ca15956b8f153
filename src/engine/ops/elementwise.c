/* elementwise.c - unary, binary (numpy broadcasting) and ternary element-wise ops. */
#include <math.h>

#include "engine/ops/ops.h"

static int infer_same(fg_kctx *c) {
    fg_same_shape(c->out[0], c->in[0]);
    return 0;
}

static int run_relu(fg_kctx *c) {
    if (c->in[0]->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(c->in[0]->dtype));
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data;
    int64_t n = fg_tensor_numel(c->in[0]);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0 ? x[i] : 0;
    return 0;
}

static int infer_bin(fg_kctx *c) {
    if (c->in[0]->dtype != c->in[1]->dtype)
        return FG_KERR(c, FG_EDTYPE, "inputs are %s and %s", fg_dtype_name(c->in[0]->dtype), fg_dtype_name(c->in[1]->dtype));
    int r;
    int64_t d[FG_MAX_RANK];
    int rc = fg_broadcast_shape(c, c->in[0], c->in[1], &r, d);
    if (rc < 0)
        return rc;
    fg_set_shape(c->out[0], c->in[0]->dtype, r, d);
    return 0;
}

static int run_add(fg_kctx *c) {
    const fg_tensor *a = c->in[0], *b = c->in[1];
    fg_tensor *y = c->out[0];
    int r = y->rank;
    int64_t sa[FG_MAX_RANK] = {0}, sb[FG_MAX_RANK] = {0}, idx[FG_MAX_RANK] = {0};
    int64_t st = 1;
    for (int i = a->rank - 1; i >= 0; i--) {
        sa[i + r - a->rank] = a->dims[i] == 1 ? 0 : st;
        st *= a->dims[i];
    }
    st = 1;
    for (int i = b->rank - 1; i >= 0; i--) {
        sb[i + r - b->rank] = b->dims[i] == 1 ? 0 : st;
        st *= b->dims[i];
    }
    int64_t n = fg_tensor_numel(y);
    for (int64_t i = 0; i < n; i++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < r; d++) {
            oa += idx[d] * sa[d];
            ob += idx[d] * sb[d];
        }
        switch (y->dtype) {
        case FG_F32: ((float *)y->data)[i] = ((float *)a->data)[oa] + ((float *)b->data)[ob]; break;
        case FG_I64: ((int64_t *)y->data)[i] = ((int64_t *)a->data)[oa] + ((int64_t *)b->data)[ob]; break;
        default: return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(y->dtype));
        }
        for (int d = r - 1; d >= 0; d--) {
            if (++idx[d] < y->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

const fg_op_def fg_ops_elementwise[] = {
    {.type = "Relu", .infer = infer_same, .run = run_relu},
    {.type = "Add", .infer = infer_bin, .run = run_add},
    {0},
};
