/* quant.c - the standalone quantization ops: QuantizeLinear, DequantizeLinear (per tensor or per axis,
 * uint8, int8 and, for DequantizeLinear, int32) and DynamicQuantizeLinear. The int8 products
 * (MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv) live in nn.c next to the float ones, whose
 * oneDNN plumbing they share.
 * Rounding is half to even (rintf under the default rounding mode, as numpy's rint in ONNX's reference)
 * and results saturate to the target type; NaN, which ONNX leaves undefined, becomes the type's lowest
 * value. Also DequantizeAddQuantize, the residual connection of a QDQ CNN that fuse.c fuses. Everything is
 * a loop without state or allocation; per-tensor ops run in any layout (formats_q). */
#ifndef __clang__
#pragma GCC optimize("no-trapping-math", "no-math-errno")
#endif

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/ops/ops.h"

/* The loops run once per element of every activation of a quantized model (resnet18's QDQ graph spent
 * 27% of its time in them): the project is compiled for baseline x86-64, where rintf is a libm call and
 * nothing vectorises, so the loops are cloned for x86-64-v4 and v3 and built at O3 (as NN_HOT in nn.c). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define Q_HOT __attribute__((optimize("O3"), target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define Q_HOT
#endif
#define Q_INLINE static inline __attribute__((always_inline))

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

/* Formats (ops.h): per tensor, QuantizeLinear and DequantizeLinear are elementwise, so they run in their
 * input's format (the channels-last int8 chains of QLinearConv, or blocked float) and write the same;
 * per axis they index channels and take plain data. The scale and zero point are plain. */
static void formats_q(fg_kctx *c) {
    const fg_tensor *s = fg_in(c, 1), *z = fg_in(c, 2);
    int f = c->fmt_in[0];
    memset(c->fmt_in, FG_FMT_PLAIN, (size_t)c->n_in);
    bool per_tensor = s && fg_tensor_numel(s) == 1 && s->rank <= 1 && (!z || fg_tensor_numel(z) == 1);
    c->fmt_in[0] = (uint8_t)(per_tensor ? f : FG_FMT_PLAIN);
    c->fmt_out[0] = c->fmt_in[0];
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

/* One run of n elements with one scale and zero point; x is float or int32 (xi). The clamps are
 * fg_quant_sat's, written out so that they vectorise (NaN fails both compares: the lowest value). */
#define QUANT_FN(NAME, TX, T, LO, HI)                                                                         \
    Q_HOT static void NAME(const TX *restrict x, T *restrict y, int64_t n, float sc, float zf) {             \
        if (sc >= 0x1p-90f && sc <= 0x1p90f) {                                                                \
            /* x / sc through the fused Newton step (bit-identical: quant_dyn_u8), x first clamped to one    \
             * step beyond what saturates anyway, which keeps |x / sc| small enough for it to be exact */    \
            float r = 1.0f / sc, xlo = ((float)(LO) - zf - 1.f) * sc, xhi = ((float)(HI) - zf + 1.f) * sc;    \
            for (int64_t i = 0; i < n; i++) {                                                                 \
                float w = (float)x[i];                                                                        \
                w = w < xlo ? xlo : w; /* NaN passes both: the lowest value below */                          \
                w = w > xhi ? xhi : w;                                                                        \
                float q0 = w * r;                                                                             \
                float v = rintf(fmaf(fmaf(-q0, sc, w), r, q0)) + zf;                                          \
                v = v > (float)(LO) ? v : (float)(LO);                                                        \
                v = v < (float)(HI) ? v : (float)(HI);                                                        \
                y[i] = (T)(int32_t)v;                                                                         \
            }                                                                                                 \
            return;                                                                                           \
        }                                                                                                     \
        for (int64_t i = 0; i < n; i++) {                                                                     \
            float v = rintf((float)x[i] / sc) + zf;                                                           \
            v = v > (float)(LO) ? v : (float)(LO);                                                            \
            v = v < (float)(HI) ? v : (float)(HI);                                                            \
            y[i] = (T)(int32_t)v;                                                                             \
        }                                                                                                     \
    }
QUANT_FN(quant_f_u8, float, uint8_t, 0, 255)
QUANT_FN(quant_f_i8, float, int8_t, -128, 127)
QUANT_FN(quant_i_u8, int32_t, uint8_t, 0, 255)
QUANT_FN(quant_i_i8, int32_t, int8_t, -128, 127)

#define QUANT_RUN(T, FF, FI)                                                                                  \
    do {                                                                                                      \
        if (xf)                                                                                               \
            FF(xf + o, (T *)yv + o, n, sc, zf);                                                               \
        else                                                                                                  \
            FI(xi + o, (T *)yv + o, n, sc, zf);                                                               \
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
            QUANT_RUN(uint8_t, quant_f_u8, quant_i_u8);
        else
            QUANT_RUN(int8_t, quant_f_i8, quant_i_i8);
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
#define DEQUANT_FN(NAME, T)                                                                                   \
    Q_HOT static void NAME(const T *restrict xp, float *restrict y, int64_t n, float sc, float zf) {         \
        for (int64_t i = 0; i < n; i++)                                                                       \
            y[i] = ((float)xp[i] - zf) * sc;                                                                  \
    }
DEQUANT_FN(dequant_u8, uint8_t)
DEQUANT_FN(dequant_i8, int8_t)
DEQUANT_FN(dequant_i32, int32_t)

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
        case FG_U8: dequant_u8((const uint8_t *)x->data + o, y, n, sc, zf); break;
        case FG_I8: dequant_i8((const int8_t *)x->data + o, y, n, sc, zf); break;
        default: dequant_i32((const int32_t *)x->data + o, y, n, sc, zf); break;
        }
    }
    return 0;
}

/* ---- DynamicQuantizeLinear: uint8 with scale and zero point chosen from x's range (which always
 * includes 0, so that 0 is exact) ---- */

static int infer_dynquant(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    const float *range;
    if (x->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "DynamicQuantizeLinear of %s", fg_dtype_name(x->dtype));
    TRY(fg_range_input(c, &range));
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
void fg_dynquant_params(float lo, float hi, float *scale, uint8_t *zp) {
    float mn = lo < 0.f ? lo : 0.f, mx = hi > 0.f ? hi : 0.f;
    float s = (mx - mn) / 255.0f;
    *scale = s;
    *zp = s > 0.f ? (uint8_t)fg_quant_sat(rintf(0.f - mn / s), 0, 255) : 0;
}


/* min and max of x[0..n), 0 included (DynamicQuantizeLinear's range). */
Q_HOT static void range_blk(const float *restrict x, int64_t n, float *lo_out, float *hi_out) {
    float lo = 0.f, hi = 0.f;
    fg_range_update(x, n, &lo, &hi);
    *lo_out = lo;
    *hi_out = hi;
}

/* range_blk of fg_gelu(x[i]) without evaluating GELU per element. GELU falls on (-inf, X_MIN] and rises
 * on [X_MIN, inf), so over a set of values its maximum is at the set's smallest or largest value and its
 * minimum at the value nearest X_MIN from either side: one compare-and-blend pass tracks those four, and
 * GELU runs on them alone. (fg_gelu is that shape up to rounding in its last bit, which can move an
 * extreme by one ulp: the rounding pass clamps.) NaN fails every compare and is skipped, as in range_blk. */
#define GELU_X_MIN (-0.75179152f)
Q_HOT static void range_blk_gelu(const float *restrict x, int64_t n, float *lo_out, float *hi_out) {
    /* min, max, largest value <= X_MIN, smallest value >= X_MIN; the infinities mark "none yet" */
    fg_v16f vmn = (fg_v16f){0} + INFINITY, vmx = (fg_v16f){0} - INFINITY, vl = vmx, vr = vmn;
    const fg_v16f xm = (fg_v16f){0} + GELU_X_MIN, pinf = vmn, ninf = vmx;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        fg_v16f v = *(const fg_v16f_u *)(x + i);
        fg_v16i m1 = v < vmn, m2 = v > vmx, above = v > xm, below = v < xm;
        vmn = (fg_v16f)(((fg_v16i)v & m1) | ((fg_v16i)vmn & ~m1));
        vmx = (fg_v16f)(((fg_v16i)v & m2) | ((fg_v16i)vmx & ~m2));
        fg_v16f wl = (fg_v16f)(((fg_v16i)v & ~above) | ((fg_v16i)ninf & above)); /* v, or -inf above X_MIN */
        fg_v16f wr = (fg_v16f)(((fg_v16i)v & ~below) | ((fg_v16i)pinf & below)); /* v, or +inf below X_MIN */
        fg_v16i m3 = wl > vl, m4 = wr < vr;
        vl = (fg_v16f)(((fg_v16i)wl & m3) | ((fg_v16i)vl & ~m3));
        vr = (fg_v16f)(((fg_v16i)wr & m4) | ((fg_v16i)vr & ~m4));
    }
    float c[17][4]; /* lanes out of registers only now: element access would keep them in memory */
    float lanes[4][16];
    memcpy(lanes[0], &vmn, sizeof lanes[0]);
    memcpy(lanes[1], &vmx, sizeof lanes[1]);
    memcpy(lanes[2], &vl, sizeof lanes[2]);
    memcpy(lanes[3], &vr, sizeof lanes[3]);
    for (int j = 0; j < 16; j++)
        for (int k = 0; k < 4; k++)
            c[j][k] = lanes[k][j];
    float tmn = INFINITY, tmx = -INFINITY, tl = -INFINITY, tr = INFINITY;
    for (; i < n; i++) {
        float v = x[i];
        tmn = v < tmn ? v : tmn;
        tmx = v > tmx ? v : tmx;
        tl = v <= GELU_X_MIN && v > tl ? v : tl;
        tr = v >= GELU_X_MIN && v < tr ? v : tr;
    }
    c[16][0] = tmn;
    c[16][1] = tmx;
    c[16][2] = tl;
    c[16][3] = tr;
    /* GELU of each candidate; a -inf candidate gives NaN (skipped), a +inf one counts only as a maximum
     * (a real +inf value is also the maximum, and GELU(+inf) = +inf) */
    float lo = 0.f, hi = 0.f;
    for (int j = 0; j < 17; j++) {
        for (int k = 0; k < 4; k++) {
            if (c[j][k] == INFINITY && k != 1)
                continue;
            float g = fg_gelu(c[j][k]);
            lo = g < lo ? g : lo;
            hi = g > hi ? g : hi;
        }
    }
    *lo_out = lo;
    *hi_out = hi;
}

/* quant_f_u8 without the division, for DynamicQuantizeLinear's own scale: q0 = x * r with r = RN(1/sc),
 * then one Newton step q = q0 + (x - q0 * sc) * r with both products fused. By Markstein's theorem q is
 * then RN(x / sc), bit for bit, when nothing overflows or underflows: the caller's scale lies in
 * [2^-90, 2^90] and |x| <= 255 * sc (the range it came from), so the residual stays normal wherever
 * rounding can matter (|x / sc| >= 0.5). Three FMA-port operations instead of a divide, which bounded
 * the whole pass (checked against division on 2e8 values at and around half-integers, and by
 * tests/unit/engine/ops/quant.c). */
Q_INLINE void quant_dyn_u8_act(const float *restrict x, uint8_t *restrict y, int64_t n, float sc, float r,
                               float zf, bool gelu) {
    for (int64_t i = 0; i < n; i++) {
        float xv = gelu ? fg_gelu(x[i]) : x[i];
        float q0 = xv * r;
        float v = rintf(fmaf(fmaf(-q0, sc, xv), r, q0)) + zf;
        v = v > 0.f ? v : 0.f;
        v = v < 255.f ? v : 255.f;
        y[i] = (uint8_t)(int32_t)v;
    }
}

Q_HOT static void quant_dyn_u8(const float *restrict x, uint8_t *restrict y, int64_t n, float sc, float r,
                               float zf) {
    quant_dyn_u8_act(x, y, n, sc, r, zf, false);
}

Q_HOT static void quant_dyn_u8_gelu(const float *restrict x, uint8_t *restrict y, int64_t n, float sc, float r,
                                    float zf) {
    quant_dyn_u8_act(x, y, n, sc, r, zf, true);
}

/* range: NULL, or min and max of x (0 included) from its producer, which skips the range pass. */
static void dynquant(const float *x, int64_t n, int n_threads, bool gelu, const float *range, uint8_t *y,
                     float *scale, uint8_t *zero_point) {
    enum { BLK = 16384 };
    int nt = n_threads > 0 ? n_threads : 1;
    int64_t nb = (n + BLK - 1) / BLK;
    float lo = range ? range[0] : 0.f, hi = range ? range[1] : 0.f;
#pragma omp parallel for num_threads(nt) if (n > Q_PAR_MIN) reduction(min : lo) reduction(max : hi)
    for (int64_t b = 0; b < (range ? 0 : nb); b++) {
        float l, h;
        int64_t len = b * BLK + BLK > n ? n - b * BLK : BLK;
        if (gelu)
            range_blk_gelu(x + b * BLK, len, &l, &h);
        else
            range_blk(x + b * BLK, len, &l, &h);
        lo = l < lo ? l : lo;
        hi = h > hi ? h : hi;
    }
    float s;
    uint8_t zp;
    fg_dynquant_params(lo, hi, &s, &zp);
    if (s >= 0x1p-90f && s <= 0x1p90f) {
        float r = 1.0f / s;
#pragma omp parallel for num_threads(nt) if (n > Q_PAR_MIN)
        for (int64_t b = 0; b < nb; b++) {
            int64_t len = b * BLK + BLK > n ? n - b * BLK : BLK;
            if (gelu)
                quant_dyn_u8_gelu(x + b * BLK, y + b * BLK, len, s, r, (float)zp);
            else
                quant_dyn_u8(x + b * BLK, y + b * BLK, len, s, r, (float)zp);
        }
    } else if (s > 0.f) { /* extreme scales: plain division, elementwise (rare, not hot) */
        for (int64_t i = 0; i < n; i++)
            y[i] = (uint8_t)fg_quant_sat(rintf((gelu ? fg_gelu(x[i]) : x[i]) / s) + (float)zp, 0, 255);
    } else {
        memset(y, zp, (size_t)n);
    }
    *scale = s;
    *zero_point = zp;
}

void fg_dynquant_u8(const float *x, int64_t n, int n_threads, uint8_t *y, float *scale, uint8_t *zero_point) {
    dynquant(x, n, n_threads, false, NULL, y, scale, zero_point);
}

void fg_dynquant_u8_ranged(const float *x, int64_t n, int n_threads, const float range[2], uint8_t *y,
                           float *scale, uint8_t *zero_point) {
    dynquant(x, n, n_threads, false, range, y, scale, zero_point);
}

void fg_dynquant_u8_gelu(const float *x, int64_t n, int n_threads, uint8_t *y, float *scale, uint8_t *zero_point) {
    dynquant(x, n, n_threads, true, NULL, y, scale, zero_point);
}

/* The range input of a DynamicQuantizeLinear or fused dynamic matmul (FG_ATTR_RANGE_IN), or NULL; an
 * error when the attribute names an input that is not a float [2]. */
int fg_range_input(fg_kctx *c, const float **range) {
    int64_t k = fg_attr_i(c->node, FG_ATTR_RANGE_IN, 0);
    *range = NULL;
    if (k <= 0)
        return 0;
    const fg_tensor *r = fg_in(c, (int)k);
    if (!r || r->dtype != FG_F32 || fg_tensor_numel(r) != 2)
        return FG_KERR(c, FG_EINVAL, "%s names input %lld, which is not a float32 [2] range", FG_ATTR_RANGE_IN,
                       (long long)k);
    *range = r->data;
    return 0;
}

static int run_dynquant(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    float s;
    uint8_t zp;
    const float *range;
    TRY(fg_range_input(c, &range));
    dynquant(x->data, fg_tensor_numel(x), nthreads(c), false, range, c->out[0]->data, &s, &zp);
    if (c->n_out > 1 && c->out[1])
        *(float *)c->out[1]->data = s;
    if (c->n_out > 2 && c->out[2])
        *(uint8_t *)c->out[2]->data = zp;
    return 0;
}

/* ---- DequantizeAddQuantize: the residual connection of a QDQ-quantized CNN in one pass. fuse.c makes it
 * from  r = [Relu](DequantizeLinear(a) + b),  y = QuantizeLinear(r)  (per-tensor constant parameters),
 * where b is the float residual stream or itself DequantizeLinear(b_q):
 *   inputs  0 a (uint8/int8), 1 a_scale, 2 a_zero_point (optional), 3 b (float32, or b_q: uint8/int8 with
 *           inputs 6 b_scale and 7 b_zero_point), 4 y_scale, 5 y_zero_point (optional: uint8 0);
 *   outputs 0 r (float32, optional: only where something else reads it), 1 y (y_zero_point's type);
 *   FG_ATTR_ACT "relu" when a Relu was folded in.
 * The float arithmetic is the unfused ops', step by step, so fusing changes no value (the rounding
 * divides by y_scale through a fused Newton step, bit-identical: see quant_dyn_u8); it reads and writes
 * 10 bytes per element (3 with a quantized b and no r) instead of the 30 of four float passes.
 * Internal: not an ONNX op. ---- */

enum { QA_A = 0, QA_AS, QA_AZ, QA_B, QA_YS, QA_YZ, QA_BS, QA_BZ, QA_N };

/* b is quantized (inputs 6 and 7 present). */
static bool qadd_bq(const fg_kctx *c) { return c->n_in > QA_BS && c->in[QA_BS]; }

static int infer_qadd(fg_kctx *c) {
    if (c->n_in < QA_YZ || c->n_out < 2 || !c->out[1] || !fg_in(c, QA_A) || !fg_in(c, QA_B) ||
        !fg_in(c, QA_AS) || !fg_in(c, QA_YS))
        return FG_KERR(c, FG_EINVAL, "DequantizeAddQuantize needs a, b, both scales and output y");
    static const fg_dtype q8[] = {FG_U8, FG_I8, 0}, f32[] = {FG_F32, 0};
    TRY(fg_check_dtype(c, QA_A, q8));
    TRY(fg_check_dtype(c, QA_B, qadd_bq(c) ? q8 : f32));
    if (qadd_bq(c)) {
        const fg_tensor *bs = c->in[QA_BS], *bz = fg_in(c, QA_BZ);
        TRY(fg_check_dtype(c, QA_BS, f32));
        if (fg_tensor_numel(bs) != 1 || (bz && (fg_tensor_numel(bz) != 1 || bz->dtype != c->in[QA_B]->dtype)))
            return FG_KERR(c, FG_EUNSUPPORTED, "DequantizeAddQuantize takes per-tensor parameters of the data's type");
    }
    TRY(fg_check_dtype(c, QA_AS, f32));
    TRY(fg_check_dtype(c, QA_YS, f32));
    const fg_tensor *az = fg_in(c, QA_AZ), *yz = fg_in(c, QA_YZ);
    if (fg_tensor_numel(c->in[QA_AS]) != 1 || fg_tensor_numel(c->in[QA_YS]) != 1 ||
        (az && (fg_tensor_numel(az) != 1 || az->dtype != c->in[QA_A]->dtype)) ||
        (yz && (fg_tensor_numel(yz) != 1 || (yz->dtype != FG_U8 && yz->dtype != FG_I8))))
        return FG_KERR(c, FG_EUNSUPPORTED, "DequantizeAddQuantize takes per-tensor parameters of the data's type");
    int rank;
    int64_t dims[FG_MAX_RANK];
    TRY(fg_broadcast_shape(c, c->in[QA_A], c->in[QA_B], &rank, dims));
    if (c->out[0])
        fg_set_shape(c->out[0], FG_F32, rank, dims);
    fg_set_shape(c->out[1], yz ? yz->dtype : FG_U8, rank, dims);
    return 0;
}

/* Same shapes run in a's format (the channels-last int8 chain) with b brought to it; broadcasting reads
 * plain data. */
static void formats_qadd(fg_kctx *c) {
    const fg_tensor *a = c->in[QA_A], *b = c->in[QA_B];
    bool same = a->rank == b->rank && memcmp(a->dims, b->dims, sizeof(int64_t) * (size_t)a->rank) == 0;
    int f = same ? c->fmt_in[QA_A] : FG_FMT_PLAIN;
    memset(c->fmt_in, FG_FMT_PLAIN, (size_t)c->n_in);
    c->fmt_in[QA_A] = c->fmt_in[QA_B] = (uint8_t)f;
    c->fmt_out[0] = c->fmt_out[1] = (uint8_t)f;
}

/* The parameters of one run as floats, and the output clamp. ry = RN(1 / sy); vlo, vhi: v is clamped to
 * them before rounding (every v beyond them saturates anyway), which keeps |v / sy| <= 2^9 so that the
 * Newton step is exact; mk says whether sy lies where it is (else: plain division). */
typedef struct qadd_p {
    float sa, za, sb, zb, sy, zy, lo, hi, ry, vlo, vhi;
    bool relu, mk;
} qadd_p;

/* r (float) and y (as float) of one element from a and b: as DequantizeLinear, Add, Relu (x < 0 ? 0 : x,
 * as the Relu kernel), QuantizeLinear. A macro: the clones below cannot inline a function built with other
 * optimisation attributes, and a call per element kept them scalar (20% of resnet18's run). */
#define QADD_ONE(A, B, P, R, Y) QADD_ONE_(A, B, P, R, Y, fmaf(fmaf(-d0_, (P).sy, w_), (P).ry, d0_))
/* The same with a plain division: for a y_scale outside the Newton step's range (run_qadd's generic
 * path only; the vectorised kernels take QADD_ONE, whose loops must not branch). */
#define QADD_ONE_DIV(A, B, P, R, Y) QADD_ONE_(A, B, P, R, Y, v_ / (P).sy)
#define QADD_ONE_(A, B, P, R, Y, QUOT)                                                                        \
    do {                                                                                                      \
        float v_ = ((A) - (P).za) * (P).sa + (B);                                                             \
        v_ = (P).relu && v_ < 0.f ? 0.f : v_;                                                                 \
        (R) = v_;                                                                                             \
        float w_ = v_ < (P).vlo ? (P).vlo : v_; /* NaN passes both: the lowest value below */                \
        w_ = w_ > (P).vhi ? (P).vhi : w_;                                                                     \
        float d0_ = w_ * (P).ry;                                                                              \
        (void)d0_;                                                                                            \
        float q_ = rintf(QUOT) + (P).zy;                                                                      \
        q_ = q_ > (P).lo ? q_ : (P).lo; /* false for NaN: the lowest value, as fg_quant_sat */               \
        (Y) = q_ < (P).hi ? q_ : (P).hi;                                                                      \
    } while (0)

/* b's value as the unfused DequantizeLinear gives it. */
#define QADD_B(BQ, P) (((float)(BQ) - (P).zb) * (P).sb)

/* The common case, vectorised: uint8 a and y, b of the same shape; r may be NULL. */
Q_HOT static void qadd_u8(const uint8_t *restrict a, const float *restrict b, float *restrict r,
                          uint8_t *restrict y, int64_t n, qadd_p p) {
    if (r) {
        for (int64_t i = 0; i < n; i++) {
            float v;
            QADD_ONE((float)a[i], b[i], p, r[i], v);
            y[i] = (uint8_t)(int32_t)v;
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float t, v;
            QADD_ONE((float)a[i], b[i], p, t, v);
            (void)t;
            y[i] = (uint8_t)(int32_t)v;
        }
    }
}

/* uint8 a, b and y of the same shape, b quantized; r may be NULL (then 3 bytes per element). */
Q_HOT static void qadd_u8_q(const uint8_t *restrict a, const uint8_t *restrict b, float *restrict r,
                            uint8_t *restrict y, int64_t n, qadd_p p) {
    if (r) {
        for (int64_t i = 0; i < n; i++) {
            float v;
            QADD_ONE((float)a[i], QADD_B(b[i], p), p, r[i], v);
            y[i] = (uint8_t)(int32_t)v;
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            float t, v;
            QADD_ONE((float)a[i], QADD_B(b[i], p), p, t, v);
            (void)t;
            y[i] = (uint8_t)(int32_t)v;
        }
    }
}

static int run_qadd(fg_kctx *c) {
    const fg_tensor *A = c->in[QA_A], *B = c->in[QA_B], *az = fg_in(c, QA_AZ), *yz = fg_in(c, QA_YZ);
    fg_tensor *R = c->out[0], *Y = c->out[1];
    bool yu8 = Y->dtype == FG_U8;
    const char *act = fg_attr_s(c->node, FG_ATTR_ACT, NULL);
    if (act && strcmp(act, "relu") != 0)
        return FG_KERR(c, FG_EUNSUPPORTED, "fused activation '%s'", act);
    bool bq = qadd_bq(c);
    const fg_tensor *bz = bq ? fg_in(c, QA_BZ) : NULL;
    qadd_p p = {.sa = *(const float *)c->in[QA_AS]->data, .sy = *(const float *)c->in[QA_YS]->data,
                .za = az ? (float)fg_tensor_get_i64(az, 0) : 0.f, .zy = yz ? (float)fg_tensor_get_i64(yz, 0) : 0.f,
                .sb = bq ? *(const float *)c->in[QA_BS]->data : 1.f, .zb = bz ? (float)fg_tensor_get_i64(bz, 0) : 0.f,
                .lo = yu8 ? 0.f : -128.f, .hi = yu8 ? 255.f : 127.f, .relu = act != NULL};
    /* the Newton step needs a normal y_scale and v / y_scale bounded: clamp v to 512 steps either side */
    p.mk = p.sy >= 0x1p-90f && p.sy <= 0x1p90f;
    p.ry = p.mk ? 1.0f / p.sy : 0.f;
    p.vlo = p.mk ? -512.f * p.sy : -INFINITY;
    p.vhi = p.mk ? 512.f * p.sy : INFINITY;
    int64_t n = fg_tensor_numel(Y);
    const float *bd = bq ? NULL : B->data;
    float *rd = R ? R->data : NULL;
    if (p.mk && bq && fg_tensor_numel(A) == n && fg_tensor_numel(B) == n && A->dtype == FG_U8 && B->dtype == FG_U8 &&
        yu8) {
        int64_t blk = n > Q_PAR_MIN ? 16384 : (n ? n : 1), nblk = (n + blk - 1) / blk;
#pragma omp parallel for num_threads(nthreads(c)) if (n > Q_PAR_MIN)
        for (int64_t k = 0; k < nblk; k++) {
            int64_t o = k * blk, m = o + blk > n ? n - o : blk;
            qadd_u8_q((const uint8_t *)A->data + o, (const uint8_t *)B->data + o, rd ? rd + o : NULL,
                      (uint8_t *)Y->data + o, m, p);
        }
        return 0;
    }
    if (p.mk && !bq && fg_tensor_numel(A) == n && fg_tensor_numel(B) == n && A->dtype == FG_U8 && yu8) {
        int64_t blk = n > Q_PAR_MIN ? 16384 : (n ? n : 1), nblk = (n + blk - 1) / blk;
#pragma omp parallel for num_threads(nthreads(c)) if (n > Q_PAR_MIN)
        for (int64_t k = 0; k < nblk; k++) {
            int64_t o = k * blk, m = o + blk > n ? n - o : blk;
            qadd_u8((const uint8_t *)A->data + o, bd + o, rd ? rd + o : NULL, (uint8_t *)Y->data + o, m, p);
        }
        return 0;
    }
    /* int8, or numpy broadcasting: index each input through its strides (0 on broadcast axes) */
    int r = Y->rank;
    int64_t sa[FG_MAX_RANK], sb[FG_MAX_RANK], idx[FG_MAX_RANK] = {0};
    const fg_tensor *in[2] = {A, B};
    int64_t *str[2] = {sa, sb};
    for (int k = 0; k < 2; k++) {
        int64_t st = 1;
        for (int d = r - 1; d >= 0; d--) {
            int di = d - (r - in[k]->rank);
            int64_t len = di >= 0 ? in[k]->dims[di] : 1;
            str[k][d] = len == 1 ? 0 : st;
            st *= len;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t oa = 0, ob = 0;
        for (int d = 0; d < r; d++) {
            oa += idx[d] * sa[d];
            ob += idx[d] * sb[d];
        }
        float t, v, bv = bq ? QADD_B(fg_tensor_get_i64(B, ob), p) : bd[ob];
        if (p.mk)
            QADD_ONE((float)fg_tensor_get_i64(A, oa), bv, p, t, v);
        else
            QADD_ONE_DIV((float)fg_tensor_get_i64(A, oa), bv, p, t, v);
        if (rd)
            rd[i] = t;
        if (yu8)
            ((uint8_t *)Y->data)[i] = (uint8_t)(int32_t)v;
        else
            ((int8_t *)Y->data)[i] = (int8_t)(int32_t)v;
        for (int d = r - 1; d >= 0 && ++idx[d] == Y->dims[d]; d--)
            idx[d] = 0;
    }
    return 0;
}

const fg_op_def fg_ops_quant[] = {
    {.type = "QuantizeLinear", .infer = infer_quantize, .run = run_quantize, .formats = formats_q},
    {.type = "DequantizeLinear", .infer = infer_dequantize, .run = run_dequantize, .formats = formats_q},
    {.type = "DynamicQuantizeLinear", .infer = infer_dynquant, .run = run_dynquant},
    {.type = "DequantizeAddQuantize", .infer = infer_qadd, .run = run_qadd, .formats = formats_qadd},
    {0},
};
