/* common.c - the op registry and helpers shared by kernels (broadcasting, axes, typed reads, input values
 * that shape inference needs). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/ops/ops.h"

static const fg_op_def *const families[] = {fg_ops_elementwise, fg_ops_reduce, fg_ops_shape, fg_ops_nn, fg_ops_quant};

const fg_op_def *fg_op_find(const char *domain, const char *op_type) {
    if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0)
        return NULL;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const fg_op_def *d = families[f]; d->type; d++)
            if (strcmp(d->type, op_type) == 0)
                return d;
    return NULL;
}

/* Inputs ONNX requires of each op from the opset given on (entries of one op in rising opsets: the last
 * that applies wins); kernels may index those without checks. */
static const struct {
    const char *type;
    int n, since;
} required_inputs[] = {
    {"Add", 2, 1}, {"Sub", 2, 1}, {"Mul", 2, 1}, {"Div", 2, 1}, {"Pow", 2, 1}, {"Mod", 2, 1}, {"PRelu", 2, 1},
    {"Equal", 2, 1}, {"Less", 2, 1}, {"Greater", 2, 1}, {"LessOrEqual", 2, 1}, {"GreaterOrEqual", 2, 1},
    {"And", 2, 1}, {"Or", 2, 1}, {"Xor", 2, 1}, {"CastLike", 2, 1}, {"Where", 3, 1}, {"MatMul", 2, 1},
    {"Gemm", 2, 1}, {"Conv", 2, 1}, {"ConvTranspose", 2, 1}, {"BatchNormalization", 5, 1},
    {"InstanceNormalization", 3, 1}, {"LayerNormalization", 2, 1}, {"Expand", 2, 1}, {"Tile", 2, 1},
    {"Gather", 2, 1}, {"GatherElements", 2, 1}, {"Range", 3, 1}, {"OneHot", 3, 1}, {"CumSum", 2, 1},
    {"Reshape", 2, 5}, {"Slice", 3, 10}, {"Pad", 2, 11}, {"Upsample", 2, 9}, {"Resize", 2, 10}, {"Resize", 1, 13},
    {"TopK", 2, 10}, {"Unsqueeze", 2, 13}, {"QuantizeLinear", 2, 1}, {"DequantizeLinear", 2, 1},
    {"MatMulInteger", 2, 1}, {"ConvInteger", 2, 1}, {"QLinearMatMul", 8, 1}, {"QLinearConv", 8, 1},
};

int fg_op_required_inputs(const char *type, int opset) {
    int n = 1;
    for (size_t i = 0; i < sizeof required_inputs / sizeof required_inputs[0]; i++)
        if (strcmp(required_inputs[i].type, type) == 0 && opset >= required_inputs[i].since)
            n = required_inputs[i].n;
    return n;
}

int fg_kerr(fg_kctx *c, int code, const char *fmt, ...) {
    char msg[FG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fg_err_set(c->err, code, "%s: %s", fg_node_desc(c->node), msg);
}

int fg_broadcast_shape(fg_kctx *c, const fg_tensor *a, const fg_tensor *b, int *rank, int64_t *dims) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[160], sb[160];
            return fg_kerr(c, FG_ESHAPE, "shapes %s and %s cannot be broadcast", fg_shape_str(a, sa, sizeof sa),
                           fg_shape_str(b, sb, sizeof sb));
        }
        dims[i] = da == 1 ? db : da;
    }
    *rank = r;
    return 0;
}

int fg_norm_axis(fg_kctx *c, int64_t axis, int rank, int *out) {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= (rank ? rank : 1))
        return fg_kerr(c, FG_EINVAL, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)a;
    return 0;
}

/* Body of fg_in_ints (iv set) and fg_in_floats (fv set). Too many values is an engine limit for integer
 * inputs (split sizes) but a malformed node for float ones (scales, roi), hence the two codes. */
static int in_values(fg_kctx *c, int k, int64_t *iv, double *fv, int max, int *n, const char *what) {
    const fg_tensor *t = fg_in(c, k);
    if (!t)
        return FG_KERR(c, FG_EINVAL, "input %d (%s) is required", k, what);
    if (iv && t->dtype != FG_I64 && t->dtype != FG_I32)
        return FG_KERR(c, FG_EDTYPE, "%s must be int64 or int32, not %s", what, fg_dtype_name(t->dtype));
    if (fv && t->dtype != FG_F32 && t->dtype != FG_F64)
        return FG_KERR(c, FG_EUNSUPPORTED, "%s must be float32 or float64, not %s", what, fg_dtype_name(t->dtype));
    int64_t m = fg_tensor_numel(t);
    if (m > max)
        return FG_KERR(c, iv ? FG_EUNSUPPORTED : FG_EINVAL, "%s has %lld values, at most %d are %s", what,
                       (long long)m, max, iv ? "supported" : "allowed");
    if (m > 0 && !t->data) {
        c->need_value = k;
        return FG_KERR(c, FG_ENEEDVALUE, "the value of %s (input %d) is needed to plan", what, k);
    }
    for (int64_t i = 0; i < m; i++)
        if (iv)
            iv[i] = fg_tensor_get_i64(t, i);
        else
            fv[i] = fg_tensor_get_f64(t, i);
    *n = (int)m;
    return 0;
}

int fg_in_ints(fg_kctx *c, int k, int64_t *v, int max, int *n, const char *what) {
    return in_values(c, k, v, NULL, max, n, what);
}

int fg_in_floats(fg_kctx *c, int k, double *v, int max, int *n, const char *what) {
    return in_values(c, k, NULL, v, max, n, what);
}

int64_t fg_tensor_get_i64(const fg_tensor *t, int64_t i) {
    switch (t->dtype) {
    case FG_I64: return ((const int64_t *)t->data)[i];
    case FG_I32: return ((const int32_t *)t->data)[i];
    case FG_U8: case FG_BOOL: return ((const uint8_t *)t->data)[i];
    case FG_I8: return ((const int8_t *)t->data)[i];
    case FG_F32: return (int64_t)((const float *)t->data)[i];
    case FG_F64: return (int64_t)((const double *)t->data)[i];
    default: return 0;
    }
}

double fg_tensor_get_f64(const fg_tensor *t, int64_t i) {
    switch (t->dtype) {
    case FG_F32: return ((const float *)t->data)[i];
    case FG_F64: return ((const double *)t->data)[i];
    case FG_I64: return (double)((const int64_t *)t->data)[i];
    case FG_I32: return ((const int32_t *)t->data)[i];
    case FG_U8: case FG_BOOL: return ((const uint8_t *)t->data)[i];
    case FG_I8: return ((const int8_t *)t->data)[i];
    default: return 0;
    }
}

void fg_strides(const fg_tensor *t, int64_t *strides) {
    int64_t s = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= t->dims[i];
    }
}

int fg_check_dtype(fg_kctx *c, int i, const fg_dtype *allowed) {
    const fg_tensor *t = fg_in(c, i);
    if (!t)
        return fg_kerr(c, FG_EINVAL, "input %d is required", i);
    for (const fg_dtype *a = allowed; *a; a++)
        if (t->dtype == *a)
            return 0;
    return fg_kerr(c, FG_EUNSUPPORTED, "input %d has unsupported dtype %s", i, fg_dtype_name(t->dtype));
}
