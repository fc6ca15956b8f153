/* quant.c - the standalone quantization ops: QuantizeLinear, DequantizeLinear (per tensor or per axis,
 * uint8, int8 and, for DequantizeLinear, int32) and DynamicQuantizeLinear. The int8 products
 * (MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv) live in nn.c next to the float ones, whose
 * oneDNN plumbing they share.
 * Rounding is half to even (rintf under the default rounding mode, as numpy's rint in ONNX's reference)
 * and results saturate to the target type; NaN, which ONNX leaves undefined, becomes the type's lowest
 * value. Everything is a loop over plain row-major data: no state, no allocation. */
#ifndef __clang__
#pragma GCC optimize("no-trapping-math", "no-math-errno")
#endif

#include <math.h>
#include <stdint.h>

#include "engine/ops/ops.h"

/* Element-wise loops above this many elements are split across threads. */
#define Q_PAR_MIN 65536

#define TRY(x)                                                                                                \
    do {                                                                                                      \
        int rc_ = (x);                                                                                        \
        if (rc_ < 0)                                                                                          \
            return rc_;                                                                                       \
    } while (0)

static int nthreads(const fg_kctx *c) { return c->n_threads > 0 ? c->n_threads : 1; }

/* How a scale / zero point pair applies to a tensor of shape x: one value for everything (per tensor) or
 * one per index of axis (per axis), the tensor seen as [outer, ch, inner]. */
typedef struct qlayout {
    int64_t outer, ch, inner;
    bool per_axis;
} qlayout;

/* Checks scale (input si) and the optional zero point (input zi) against x and fills l. A scale of one
 * element is per tensor whatever its rank ([1] is common in exported models); a 1-D scale of x's size
 * along axis (attribute, default 1) is per axis. The zero point must have the scale's shape. */
static int qlayout_get(fg_kctx *c, const fg_tensor *x, int si, int zi, qlayout *l) {
    const fg_tensor *s = fg_in(c, si), *z = fg_in(c, zi);
    if (s->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "scale is %s (float32 is supported)", fg_dtype_name(s->dtype));
    int64_t ns = fg_tensor_numel(s);
    if (z && fg_tensor_numel(z) != ns)
        return FG_KERR(c, FG_ESHAPE, "zero point has %lld values, scale %lld", (long long)fg_tensor_numel(z),
                       (long long)ns);
    int64_t n = fg_tensor_numel(x);
    l->outer = 1;
    l->ch = 1;
    l->inner = n;
    l->per_axis = false;
    if (ns == 1 && s->rank <= 1)
        return 0;
    if (s->rank != 1)
        return FG_KERR(c, FG_ESHAPE, "scale must be a scalar or 1-D, not of rank %d", s->rank);
    int ax;
    TRY(fg_norm_axis(c, fg_attr_i(c->node, "axis", 1), x->rank, &ax));
    if (x->rank == 0 || x->dims[ax] != ns)
        return FG_KERR(c, FG_ESHAPE, "scale has %lld values, the input %lld along axis %d", (long long)ns,
                       (long long)(x->rank ? x->dims[ax] : 1), ax);
    l->per_axis = true;
    l->ch = ns;
    l->outer = 1;
    for (int i = 0; i < ax; i++)
        l->outer *= x->dims[i];
    l->inner = 1;
    for (int i = ax + 1; i < x->rank; i++)
        l->inner *= x->dims[i];
    return 0;
}

/* ---- QuantizeLinear: y = saturate(round(x / scale) + zero_point) ---- */

static int infer_quantize(fg_kctx *c) {
    const fg_tensor *x = c->in[0], *z = fg_in(c, 2);
    if (x->dtype != FG_F32 && x->dtype != FG_I32)
        return FG_KERR(c, FG_EUNSUPPORTED, "QuantizeLinear of %s", fg_dtype_name(x->dtype));
    fg_dtype dt = z ? z->dtype : FG_U8;
    if (dt != FG_U8 && dt != FG_I8)
        return FG_KERR(c, FG_EUNSUPPORTED, "QuantizeLinear to %s (uint8 and int8 are supported)", fg_dtype_name(dt));
    qlayout l;
    TRY(qlayout_get(c, x, 1, 2, &l));
    fg_same_shape(c->out[0], x);
    c->out[0]->dtype = dt;
    return 0;
}

/* One run of n elements with one scale and zero point; x is float or int32 (xi). */
#define QUANT_RUN(T, LO, HI)                                                                                 \
    do {                                                                                                      \
        T *y = (T *)yv + o;                                                                                   \
        if (xf) {                                                                                             \
            const float *x = xf + o;                                                                          \
            for (int64_t i = 0; i < n; i++)                                                                   \
                y[i] = (T)fg_quant_sat(rintf(x[i] / sc) + zf, LO, HI);                                        \
        } else {                                                                                              \
            const int32_t *x = xi + o;                                                                        \
            for (int64_t i = 0; i < n; i++)                                                                   \
                y[i] = (T)fg_quant_sat(rintf((float)x[i] / sc) + zf, LO, HI);                                 \
        }                                                                                                     \
    } while (0)

static int run_quantize(fg_kctx *c) {
    const fg_tensor *x = c->in[0], *s = c->in[1], *z = fg_in(c, 2);
    qlayout l;
    TRY(qlayout_get(c, x, 1, 2, &l));
    const float *xf = x->dtype == FG_F32 ? x->data : NULL;
    const int32_t *xi = x->dtype == FG_I32 ? x->data : NULL;
    void *yv = c->out[0]->data;
    bool u8 = c->out[0]->dtype == FG_U8;
    int64_t rows = l.outer * l.ch, total = rows * l.inner;
    /* one row per (outer, channel); a per-tensor op is one row, split in blocks for the threads */
    int64_t blk = l.per_axis ? l.inner : (total > Q_PAR_MIN ? 16384 : (total ? total : 1));
    int64_t nblk = l.per_axis ? rows : (total + blk - 1) / blk;
#pragma omp parallel for num_threads(nthreads(c)) if (total > Q_PAR_MIN)
    for (int64_t b = 0; b < nblk; b++) {
        int64_t ch = l.per_axis ? b % l.ch : 0, o = b * blk, n = o + blk > total ? total - o : blk;
        float sc = ((const float *)s->data)[ch];
        float zf = z ? (float)fg_tensor_get_i64(z, ch) : 0.f;
        if (u8)
            QUANT_RUN(uint8_t, 0, 255);
        else
            QUANT_RUN(int8_t, -128, 127);
    }
    return 0;
}

/* ---- DequantizeLinear: y = (x - zero_point) * scale ---- */

static int infer_dequantize(fg_kctx *c) {
    const fg_tensor *x = c->in[0], *z = fg_in(c, 2);
    if (x->dtype != FG_U8 && x->dtype != FG_I8 && x->dtype != FG_I32)
        return FG_KERR(c, FG_EUNSUPPORTED, "DequantizeLinear of %s", fg_dtype_name(x->dtype));
    if (z && z->dtype != x->dtype)
        return FG_KERR(c, FG_EDTYPE, "zero point is %s, the input %s", fg_dtype_name(z->dtype),
                       fg_dtype_name(x->dtype));
    qlayout l;
    TRY(qlayout_get(c, x, 1, 2, &l));
    fg_same_shape(c->out[0], x);
    c->out[0]->dtype = FG_F32;
    return 0;
}

/* (x - zp) in float, as ONNX's reference: exact for 8-bit types, and for int32 the same rounding */
#define DEQUANT_RUN(T)                                                                                        \
    do {                                                                                                      \
        const T *xp = (const T *)x->data + o;                                                                 \
        for (int64_t i = 0; i < n; i++)                                                                       \
            y[i] = ((float)xp[i] - zf) * sc;                                                                  \
    } while (0)

static int run_dequantize(fg_kctx *c) {
    const fg_tensor *x = c->in[0], *s = c->in[1], *z = fg_in(c, 2);
    qlayout l;
    TRY(qlayout_get(c, x, 1, 2, &l));
    float *yo = c->out[0]->data;
    int64_t rows = l.outer * l.ch, total = rows * l.inner;
    int64_t blk = l.per_axis ? l.inner : (total > Q_PAR_MIN ? 16384 : (total ? total : 1));
    int64_t nblk = l.per_axis ? rows : (total + blk - 1) / blk;
#pragma omp parallel for num_threads(nthreads(c)) if (total > Q_PAR_MIN)
    for (int64_t b = 0; b < nblk; b++) {
        int64_t ch = l.per_axis ? b % l.ch : 0, o = b * blk, n = o + blk > total ? total - o : blk;
        float sc = ((const float *)s->data)[ch];
        float zf = z ? (float)fg_tensor_get_i64(z, ch) : 0.f;
        float *y = yo + o;
        switch (x->dtype) {
        case FG_U8: DEQUANT_RUN(uint8_t); break;
        case FG_I8: DEQUANT_RUN(int8_t); break;
        default: DEQUANT_RUN(int32_t); break;
        }
    }
    return 0;
}

/* ---- DynamicQuantizeLinear: uint8 with scale and zero point chosen from x's range (which always
 * includes 0, so that 0 is exact) ---- */

static int infer_dynquant(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    if (x->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "DynamicQuantizeLinear of %s", fg_dtype_name(x->dtype));
    fg_same_shape(c->out[0], x);
    c->out[0]->dtype = FG_U8;
    if (c->n_out > 1 && c->out[1])
        fg_set_shape(c->out[1], FG_F32, 0, NULL);
    if (c->n_out > 2 && c->out[2])
        fg_set_shape(c->out[2], FG_U8, 0, NULL);
    return 0;
}

/* The scale and zero point DynamicQuantizeLinear picks for values in [lo, hi] (ONNX's reference:
 * scale = (max(hi, 0) - min(lo, 0)) / 255, zero point = saturate(round(-min / scale))). All zeros (or
 * an empty x) give scale 0 and zero point 0, where the formula would divide by zero; x / 0 then
 * saturates every (zero) element to the zero point. */
static void dynquant_params(float lo, float hi, float *scale, uint8_t *zp) {
    float mn = lo < 0.f ? lo : 0.f, mx = hi > 0.f ? hi : 0.f;
    float s = (mx - mn) / 255.0f;
    *scale = s;
    *zp = s > 0.f ? (uint8_t)fg_quant_sat(rintf(0.f - mn / s), 0, 255) : 0;
}

static int run_dynquant(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    const float *xd = x->data;
    int64_t n = fg_tensor_numel(x);
    float lo = 0.f, hi = 0.f;
    /* NaN is skipped by the comparisons: it does not widen the range */
#pragma omp parallel for num_threads(nthreads(c)) if (n > Q_PAR_MIN) reduction(min : lo) reduction(max : hi)
    for (int64_t i = 0; i < n; i++) {
        lo = xd[i] < lo ? xd[i] : lo;
        hi = xd[i] > hi ? xd[i] : hi;
    }
    float s;
    uint8_t zp;
    dynquant_params(lo, hi, &s, &zp);
    uint8_t *y = c->out[0]->data;
    float zf = zp;
    if (s > 0.f) {
#pragma omp parallel for num_threads(nthreads(c)) if (n > Q_PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            y[i] = (uint8_t)fg_quant_sat(rintf(xd[i] / s) + zf, 0, 255);
    } else {
        memset(y, zp, (size_t)n);
    }
    if (c->n_out > 1 && c->out[1])
        *(float *)c->out[1]->data = s;
    if (c->n_out > 2 && c->out[2])
        *(uint8_t *)c->out[2]->data = zp;
    return 0;
}

const fg_op_def fg_ops_quant[] = {
    {.type = "QuantizeLinear", .infer = infer_quantize, .run = run_quantize},
    {.type = "DequantizeLinear", .infer = infer_dequantize, .run = run_dequantize},
    {.type = "DynamicQuantizeLinear", .infer = infer_dynquant, .run = run_dynquant},
    {0},
};
