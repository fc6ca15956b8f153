/* Tests for the int8 ops: src/engine/ops/quant.c (QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear) and the int8 products in src/engine/ops/nn.c (MatMulInteger, ConvInteger,
 * QLinearMatMul, QLinearConv). ONNX's test data has a handful of tiny cases; these cover rounding half to
 * even, saturation, NaN and infinities, per-axis parameters, int8 against uint8, and every product three
 * ways on the same inputs: the oneDNN int8 primitive (constant weights), the C reference loops (forced
 * with _fg_qref, or taken because the weights arrive only at run time) and a naive loop written here;
 * the same for the fused dynamic matmul (MatMulInteger with _fg_dynq). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/dnnl_util.h"
#include "engine/ops/ops.h"
#include "op_harness.h"

static fg_dnnl g_dnnl;

static int setup(void **state) {
    (void)state;
    fg_err e = {0};
    return fg_dnnl_init(&g_dnnl, &e);
}

static int teardown(void **state) {
    (void)state;
    fg_dnnl_fini(&g_dnnl);
    return 0;
}

/* Runs op type at opset 13 with the engine's oneDNN handles, twice (prepared state must be reusable);
 * inputs whose bit is set in late have no data until run. */
static int run_q(const char *type, fg_attr *attrs, int n_attrs, fg_tensor **ins, int n_in, fg_tensor *out,
                 int n_out, unsigned late, fg_err *e) {
    return run_kernel(type, 13, attrs, n_attrs, ins, n_in, out, n_out,
                      &(kernel_env){.n_threads = 1, .n_runs = 2, .late = late, .err = e, .dnnl = &g_dnnl});
}

static const int64_t scalar_dims[1] = {1};

/* Deterministic bytes: uint8 in [0, 255] or int8 in [-128, 127] (the same bit patterns). */
static uint8_t *bytes(int64_t n, unsigned seed) {
    uint8_t *p = fg_xmalloc((size_t)n + 1);
    uint32_t s = seed * 2654435761u + 7;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (uint8_t)(s >> 24);
    }
    return p;
}

static int32_t ld8(const void *p, fg_dtype dt, int64_t i) {
    return dt == FG_U8 ? ((const uint8_t *)p)[i] : ((const int8_t *)p)[i];
}

/* ---- QuantizeLinear / DequantizeLinear ---- */

static void quantize_rounds_half_to_even_and_saturates(void **state) {
    (void)state;
    float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 126.5f, 127.5f, 254.5f, 255.5f, 1000.f, -1000.f,
                 NAN, INFINITY, -INFINITY, 0.49999997f};
    enum { N = sizeof x / sizeof x[0] };
    static const uint8_t want_u8[N] = {0, 2, 2, 0, 0, 0, 126, 128, 254, 255, 255, 0, 0, 255, 0, 0};
    static const int8_t want_s8[N] = {0, 2, 2, 0, -2, -2, 126, 127, 127, 127, 127, -128, -128, 127, -128, 0};
    int64_t xd[1] = {N};
    float one = 1.f;
    uint8_t zu = 0;
    int8_t zs = 0;
    fg_tensor tx = tens(FG_F32, 1, xd, x), ts = tens(FG_F32, 0, NULL, &one);
    fg_tensor tzu = tens(FG_U8, 0, NULL, &zu), tzs = tens(FG_I8, 0, NULL, &zs), ty;
    fg_tensor *in_u[3] = {&tx, &ts, &tzu}, *in_s[3] = {&tx, &ts, &tzs}, *in_none[2] = {&tx, &ts};
    assert_int_equal(run_q("QuantizeLinear", NULL, 0, in_u, 3, &ty, 1, 0, NULL), 0);
    assert_int_equal(ty.dtype, FG_U8);
    assert_memory_equal(ty.data, want_u8, N);
    free(ty.data);
    /* no zero point: uint8 with zero point 0 */
    assert_int_equal(run_q("QuantizeLinear", NULL, 0, in_none, 2, &ty, 1, 0, NULL), 0);
    assert_int_equal(ty.dtype, FG_U8);
    assert_memory_equal(ty.data, want_u8, N);
    free(ty.data);
    assert_int_equal(run_q("QuantizeLinear", NULL, 0, in_s, 3, &ty, 1, 1, NULL), 0);
    assert_int_equal(ty.dtype, FG_I8);
    assert_memory_equal(ty.data, want_s8, N);
    free(ty.data);
}

static void quantize_zero_point_shifts_after_rounding(void **state) {
    (void)state;
    /* scale 2: x / 2 = 0.5, 1.5, 2.5, -0.5, -1.5 round to 0, 2, 2, 0, -2, then + zero point */
    float x[5] = {1.f, 3.f, 5.f, -1.f, -3.f}, two = 2.f;
    uint8_t zu = 128;
    int8_t zs = -128;
    int64_t xd[1] = {5};
    fg_tensor tx = tens(FG_F32, 1, xd, x), ts = tens(FG_F32, 1, scalar_dims, &two), ty;
    fg_tensor tzu = tens(FG_U8, 1, scalar_dims, &zu), tzs = tens(FG_I8, 0, NULL, &zs);
    fg_tensor *in_u[3] = {&tx, &ts, &tzu}, *in_s[3] = {&tx, &ts, &tzs};
    assert_int_equal(run_q("QuantizeLinear", NULL, 0, in_u, 3, &ty, 1, 0, NULL), 0);
    static const uint8_t wu[5] = {128, 130, 130, 128, 126};
    assert_memory_equal(ty.data, wu, 5);
    free(ty.data);
    assert_int_equal(run_q("QuantizeLinear", NULL, 0, in_s, 3, &ty, 1, 0, NULL), 0);
    static const int8_t ws[5] = {-128, -126, -126, -128, -128}; /* -130 saturates */
    assert_memory_equal(ty.data, ws, 5);
    free(ty.data);
    /* int32 input (opset 10's QuantizeLinear takes it) */
    int32_t xi[5] = {1, 3, 5, -1, -3};
    fg_tensor txi = tens(FG_I32, 1, xd, xi);
    fg_tensor *in_i[3] = {&txi, &ts, &tzu};
    assert_int_equal(run_q("QuantizeLinear", NULL, 0, in_i, 3, &ty, 1, 0, NULL), 0);
    assert_memory_equal(ty.data, wu, 5);
    free(ty.data);
}

/* x of shape [2, 3, 4] quantized along axis (1 or -1 ...) with per-channel scales and zero points,
 * checked against a loop here, then dequantized back within half a scale step. */
static void check_per_axis(int axis, fg_dtype zdt) {
    int64_t xd[3] = {2, 3, 4}, n = 24;
    int ax = axis < 0 ? axis + 3 : axis;
    int64_t ch = xd[ax], sd[1] = {ch};
    float x[24], sc[4] = {0.5f, 0.25f, 2.f, 1.f}, back[24];
    int8_t zs[4] = {-3, 0, 5, 100};
    uint8_t zu[4] = {3, 0, 200, 128};
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(i * 7 % 11) - 5.25f + (float)i * 0.1f;
    fg_tensor tx = tens(FG_F32, 3, xd, x), ts = tens(FG_F32, 1, sd, sc), ty;
    fg_tensor tz = tens(zdt, 1, sd, zdt == FG_U8 ? (void *)zu : (void *)zs);
    fg_tensor *ins[3] = {&tx, &ts, &tz};
    fg_attr at[1] = {ai("axis", axis)};
    assert_int_equal(run_q("QuantizeLinear", at, 1, ins, 3, &ty, 1, 0, NULL), 0);
    int64_t inner = 1;
    for (int i = ax + 1; i < 3; i++)
        inner *= xd[i];
    for (int64_t i = 0; i < n; i++) {
        int64_t c = i / inner % ch;
        int32_t z = zdt == FG_U8 ? zu[c] : zs[c], lo = zdt == FG_U8 ? 0 : -128, hi = zdt == FG_U8 ? 255 : 127;
        double v = nearbyint((double)(x[i] / sc[c])) + z;
        int32_t want = v < lo ? lo : v > hi ? hi : (int32_t)v;
        assert_int_equal(ld8(ty.data, zdt, i), want);
        back[i] = (float)(want - z) * sc[c];
        if (want > lo && want < hi) /* not saturated: the round trip is within half a step */
            assert_true(fabsf(back[i] - x[i]) <= sc[c] / 2 + 1e-6f);
    }
    fg_tensor tq = ty, tb;
    fg_tensor *dins[3] = {&tq, &ts, &tz};
    assert_int_equal(run_q("DequantizeLinear", at, 1, dins, 3, &tb, 1, 0, NULL), 0);
    assert_int_equal(tb.dtype, FG_F32);
    assert_memory_equal(tb.data, back, sizeof back);
    free(tb.data);
    free(ty.data);
}

static void quantize_and_dequantize_per_axis(void **state) {
    (void)state;
    check_per_axis(1, FG_U8);
    check_per_axis(1, FG_I8);
    check_per_axis(-1, FG_I8);
    check_per_axis(0, FG_U8);
    check_per_axis(-2, FG_U8);
}

static void dequantize_int8_uint8_int32(void **state) {
    (void)state;
    int8_t xs[4] = {-128, -1, 0, 127}, zs = -128;
    uint8_t xu[4] = {0, 1, 128, 255}, zu = 128;
    int32_t xi[4] = {-1000000, -1, 0, 16777217};
    float sc = 0.5f;
    int64_t d[1] = {4};
    fg_tensor ts = tens(FG_F32, 0, NULL, &sc), ty;
    fg_tensor t8 = tens(FG_I8, 1, d, xs), tz8 = tens(FG_I8, 0, NULL, &zs);
    fg_tensor *in8[3] = {&t8, &ts, &tz8};
    assert_int_equal(run_q("DequantizeLinear", NULL, 0, in8, 3, &ty, 1, 0, NULL), 0);
    const float w8[4] = {0.f, 63.5f, 64.f, 127.5f};
    assert_memory_equal(ty.data, w8, sizeof w8);
    free(ty.data);
    fg_tensor tu = tens(FG_U8, 1, d, xu), tzu = tens(FG_U8, 0, NULL, &zu);
    fg_tensor *inu[3] = {&tu, &ts, &tzu};
    assert_int_equal(run_q("DequantizeLinear", NULL, 0, inu, 3, &ty, 1, 1, NULL), 0);
    const float wu[4] = {-64.f, -63.5f, 0.f, 63.5f};
    assert_memory_equal(ty.data, wu, sizeof wu);
    free(ty.data);
    fg_tensor ti = tens(FG_I32, 1, d, xi);
    fg_tensor *ini[2] = {&ti, &ts};
    assert_int_equal(run_q("DequantizeLinear", NULL, 0, ini, 2, &ty, 1, 0, NULL), 0);
    const float wi[4] = {-500000.f, -0.5f, 0.f, 8388608.f}; /* 16777217 is 16777216 as float */
    assert_memory_equal(ty.data, wi, sizeof wi);
    free(ty.data);
}

static void quant_rejects_bad_parameters(void **state) {
    (void)state;
    float x[6] = {0}, sc[2] = {1, 1};
    int8_t zs[3] = {0};
    uint8_t xu[6] = {0};
    int64_t xd[2] = {2, 3}, d2[1] = {2}, d3[1] = {3};
    fg_tensor tx = tens(FG_F32, 2, xd, x), ts2 = tens(FG_F32, 1, d2, sc), tz3 = tens(FG_I8, 1, d3, zs), ty;
    fg_err e = {0};
    /* two scales for an axis of 3 */
    fg_tensor *a[2] = {&tx, &ts2};
    assert_int_equal(run_q("QuantizeLinear", NULL, 0, a, 2, &ty, 1, 0, &e), FG_ESHAPE);
    /* zero point of another size than the scale */
    fg_attr at[1] = {ai("axis", 0)};
    fg_tensor *b[3] = {&tx, &ts2, &tz3};
    assert_int_equal(run_q("QuantizeLinear", at, 1, b, 3, &ty, 1, 0, &e), FG_ESHAPE);
    /* axis out of range */
    fg_attr bad[1] = {ai("axis", 2)};
    assert_int_equal(run_q("QuantizeLinear", bad, 1, a, 2, &ty, 1, 0, &e), FG_EINVAL);
    /* DequantizeLinear: zero point of another type than x */
    float one = 1.f;
    fg_tensor txu = tens(FG_U8, 2, xd, xu), ts1 = tens(FG_F32, 0, NULL, &one), tz1 = tens(FG_I8, 0, NULL, zs);
    fg_tensor *c[3] = {&txu, &ts1, &tz1};
    assert_int_equal(run_q("DequantizeLinear", NULL, 0, c, 3, &ty, 1, 0, &e), FG_EDTYPE);
    /* float x */
    fg_tensor *d[2] = {&tx, &ts1};
    assert_int_equal(run_q("DequantizeLinear", NULL, 0, d, 2, &ty, 1, 0, &e), FG_EUNSUPPORTED);
}

/* ---- DynamicQuantizeLinear ---- */

static void run_dynq(const float *x, int64_t n, uint8_t *y, float *scale, uint8_t *zp) {
    fg_tensor tx = tens(FG_F32, 1, &n, (void *)x), out[3];
    fg_tensor *ins[1] = {&tx};
    assert_int_equal(run_kernel("DynamicQuantizeLinear", 11, NULL, 0, ins, 1, out, 3,
                                &(kernel_env){.n_threads = 2, .late = 1}),
                     0);
    assert_int_equal(out[0].dtype, FG_U8);
    assert_int_equal(out[1].dtype, FG_F32);
    assert_int_equal(out[1].rank, 0);
    assert_int_equal(out[2].dtype, FG_U8);
    memcpy(y, out[0].data, (size_t)n);
    *scale = *(float *)out[1].data;
    *zp = *(uint8_t *)out[2].data;
    free_outs(out, 3);
}

static void dynamic_quantize_picks_range_including_zero(void **state) {
    (void)state;
    uint8_t y[8], zp;
    float s;
    /* [-1, 1.55]: scale 0.01, zero point round(100) */
    const float a[4] = {-1.f, 0.f, 1.55f, 0.5f};
    run_dynq(a, 4, y, &s, &zp);
    assert_float_equal(s, 2.55f / 255.f, 1e-9);
    assert_int_equal(zp, 100);
    assert_int_equal(y[0], 0);
    assert_int_equal(y[1], 100);
    assert_int_equal(y[2], 255);
    assert_int_equal(y[3], 150);
    /* all positive: the range still starts at 0, zero point 0 */
    const float b[3] = {2.f, 4.f, 5.1f};
    run_dynq(b, 3, y, &s, &zp);
    assert_int_equal(zp, 0);
    assert_float_equal(s, 5.1f / 255.f, 1e-9);
    assert_int_equal(y[2], 255);
    /* all negative: zero point 255 */
    const float c[2] = {-3.f, -1.f};
    run_dynq(c, 2, y, &s, &zp);
    assert_int_equal(zp, 255);
    assert_int_equal(y[0], 0);
    /* all zero: scale 0 and zero point 0 instead of a division by zero */
    const float z[3] = {0.f, 0.f, 0.f};
    run_dynq(z, 3, y, &s, &zp);
    assert_true(s == 0.f);
    assert_int_equal(zp, 0);
    assert_int_equal(y[0] | y[1] | y[2], 0);
}

/* DynamicQuantizeLinear against ONNX's reference rint(x / scale) + zp, bit for bit, on values placed
 * exactly on, and one ulp either side of, the half-integers of x / scale, plus NaN, mixed into vectors
 * of ordinary values (lengths that are not a multiple of 16 exercise the tails). A guard for any faster
 * rounding path (e.g. multiplying by 1 / scale), which must not move these. */
static void dynamic_quantize_matches_division_at_half_integers(void **state) {
    (void)state;
    enum { N = 4099 };
    float *x = malloc(N * sizeof *x);
    uint8_t *y = malloc(N);
    assert_non_null(x);
    assert_non_null(y);
    uint32_t r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = ((float)(r >> 8) / 16777216.f) * 3.7f - 1.3f; /* [-1.3, 2.4) */
    }
    x[0] = -1.3f;
    x[1] = 2.4f;
    float s0 = (2.4f - -1.3f) / 255.f;
    for (int i = 2; i + 3 < N; i += 37) { /* (k + 0.5) * s and its neighbours */
        float h = ((float)(i % 250) - 100.f + 0.5f) * s0;
        x[i] = h;
        x[i + 1] = nextafterf(h, INFINITY);
        x[i + 2] = nextafterf(h, -INFINITY);
    }
    x[N - 5] = NAN;
    for (int64_t n = N; n >= N - 20; n -= 7) {
        float s;
        uint8_t zp;
        run_dynq(x, n, y, &s, &zp);
        for (int64_t i = 0; i < n; i++) {
            float v = rintf(x[i] / s) + (float)zp;
            uint8_t want = (uint8_t)fg_quant_sat(v, 0, 255);
            if (y[i] != want)
                fail_msg("x[%lld] = %a: %d, want %d", (long long)i, (double)x[i], y[i], want);
        }
    }
    free(x);
    free(y);
}

/* QuantizeLinear (constant scale) rounds through a fused Newton step after clamping x to one step past
 * saturation: bit-identical to rint(x / scale) + zero point at and around half-integers, far out of range,
 * for infinities and NaN, for uint8 and int8, and for scales outside its range (a plain division). */
static void quantize_matches_division_at_half_integers(void **state) {
    (void)state;
    enum { N = 3001 };
    static const float scales[] = {0.0137f, 0.1f, 3.3f, 1e-30f, 1e30f};
    float *x = malloc(N * sizeof *x);
    assert_non_null(x);
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        float sc = scales[k];
        for (int i = 0; i < N; i++) {
            float h = ((float)(i / 3 % 700) - 350.f + 0.5f) * sc; /* (j + 0.5) * scale, j in [-350, 350) */
            x[i] = i % 3 == 0 ? h : nextafterf(h, i % 3 == 1 ? INFINITY : -INFINITY);
        }
        x[0] = NAN;
        x[1] = INFINITY;
        x[2] = -INFINITY;
        x[3] = 1e38f;
        for (int dt = 0; dt < 2; dt++) {
            int64_t xd[1] = {N};
            uint8_t zu = 100;
            int8_t zs = -7;
            fg_tensor tx = tens(FG_F32, 1, xd, x), ts = tens(FG_F32, 0, NULL, &sc), ty;
            fg_tensor tz = dt ? tens(FG_I8, 0, NULL, &zs) : tens(FG_U8, 0, NULL, &zu);
            fg_tensor *in[3] = {&tx, &ts, &tz};
            assert_int_equal(run_q("QuantizeLinear", NULL, 0, in, 3, &ty, 1, 0, NULL), 0);
            for (int i = 0; i < N; i++) {
                float v = rintf(x[i] / sc) + (dt ? (float)zs : (float)zu);
                int32_t want = dt ? fg_quant_sat(v, -128, 127) : fg_quant_sat(v, 0, 255);
                int32_t got = dt ? ((int8_t *)ty.data)[i] : ((uint8_t *)ty.data)[i];
                if (got != want)
                    fail_msg("scale %g x[%d] = %a: %d, want %d", (double)sc, i, (double)x[i], got, want);
            }
            free(ty.data);
        }
    }
    free(x);
}

/* ---- int8 products: three ways on the same inputs ---- */

/* Naive int32 product of A [batch, M, K] and B [K, N] with per-tensor (nz == 1) or per-row / per-column
 * zero points. */
static void mm_ref(const void *a, fg_dtype adt, const void *b, fg_dtype bdt, const int32_t *za, int64_t nza,
                   const int32_t *zb, int64_t nzb, int64_t batch, int64_t M, int64_t K, int64_t N, int32_t *y) {
    for (int64_t t = 0; t < batch; t++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                int32_t acc = 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (ld8(a, adt, (t * M + m) * K + k) - za[nza == 1 ? 0 : m]) *
                           (ld8(b, bdt, k * N + n) - zb[nzb == 1 ? 0 : n]);
                y[(t * M + m) * N + n] = acc;
            }
}

/* Requantizes acc as ONNX's reference: round(acc * (xs * ws / ys)) + yz, saturated. */
static int32_t requant(int32_t acc, float xs, float ws, float ys, int32_t yz, fg_dtype ydt) {
    float mult = xs * ws / ys;
    double v = nearbyint((double)acc * mult) + yz;
    double lo = ydt == FG_U8 ? 0 : -128, hi = ydt == FG_U8 ? 255 : 127;
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

typedef struct mm_case {
    int64_t batch, M, K, N;
    fg_dtype adt, bdt, ydt; /* ydt FG_I32: MatMulInteger, else QLinearMatMul's output type */
    int32_t za;             /* A's zero point (per tensor) */
    int32_t zb;             /* B's zero point, the same for every column */
    bool zb_per_col;        /* give B's zero point as [N] values (zb everywhere, or varying when vary) */
    bool vary;              /* per-column zero points that differ (only the C loops take them) */
    bool scales_per_col;
} mm_case;

/* The fused extras of QLinearMatMul / QLinearConv (fuse.c's QDQ pass): an int32 bias (QLinearMatMul's
 * input 8 with _fg_bias) and an activation clamping the quantized output. */
typedef struct fused {
    bool bias;
    const char *act; /* NULL, "relu" or "clip" (bounds -0.5, 2) */
} fused;

/* The clamp the kernel applies for act: the bounds quantized with the output's scale and zero point. */
static void act_bounds(const fused *f, float ys, int32_t yz, fg_dtype ydt, int32_t *lo, int32_t *hi) {
    *lo = ydt == FG_U8 ? 0 : -128;
    *hi = ydt == FG_U8 ? 255 : 127;
    if (!f || !f->act)
        return;
    float a = strcmp(f->act, "relu") == 0 ? 0.f : -0.5f, b = strcmp(f->act, "relu") == 0 ? INFINITY : 2.f;
    double qa = nearbyint(a / ys) + yz, qb = isinf(b) ? *hi : nearbyint(b / ys) + yz;
    *lo = qa > *lo ? (int32_t)qa : *lo;
    *hi = qb < *hi ? (int32_t)qb : *hi;
}

static int32_t clampi(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Runs the case with constant B (oneDNN where it applies), with _fg_qref, and with B given at run time,
 * and checks all three against mm_ref (exactly; requantized outputs within one step for oneDNN, which
 * rounds the product in float). */
static void check_mm_fused(const mm_case *k, const fused *f) {
    int64_t ad[3] = {k->batch, k->M, k->K}, bd[2] = {k->K, k->N}, nd[1] = {k->N};
    int64_t na = k->batch * k->M * k->K, nb = k->K * k->N, ny = k->batch * k->M * k->N;
    uint8_t *a = bytes(na, 11), *b = bytes(nb, 12);
    uint8_t za8 = (uint8_t)k->za, zb8[512];
    int32_t zb32[512], za32 = k->za;
    assert_true(k->N <= 512);
    for (int64_t n = 0; n < k->N; n++) {
        zb32[n] = k->vary ? (int32_t)(n % 7) - 3 + (k->bdt == FG_U8 ? 100 : 0) : k->zb;
        zb8[n] = (uint8_t)zb32[n];
    }
    float ascale = 0.02f, ys = k->ydt == FG_U8 ? 3.1f : 1.7f, bs[512];
    for (int64_t n = 0; n < k->N; n++)
        bs[n] = k->scales_per_col ? 0.01f + 0.001f * (float)(n % 13) : 0.013f;
    uint8_t yz8 = k->ydt == FG_U8 ? 120 : (uint8_t)(int8_t)-5;
    int32_t yz = k->ydt == FG_U8 ? 120 : -5;
    fg_tensor tA = tens(k->adt, 3, ad, a), tB = tens(k->bdt, 2, bd, b);
    fg_tensor tza = tens(k->adt, 0, NULL, &za8), tzb = tens(k->bdt, k->zb_per_col ? 1 : 0, nd, zb8);
    fg_tensor tas = tens(FG_F32, 0, NULL, &ascale), tbs = tens(FG_F32, k->scales_per_col ? 1 : 0, nd, bs);
    fg_tensor tys = tens(FG_F32, 0, NULL, &ys), tyz = tens(k->ydt, 0, NULL, &yz8);
    bool ql = k->ydt != FG_I32;
    fg_tensor *ins_mmi[4] = {&tA, &tB, &tza, &tzb}, *ins_q[9] = {&tA, &tas, &tza, &tB, &tbs, &tzb, &tys, &tyz, NULL};
    fg_tensor **ins = ql ? ins_q : ins_mmi;
    int n_in = ql ? 8 : 4, b_idx = ql ? 3 : 1;
    const char *op = ql ? "QLinearMatMul" : "MatMulInteger";
    int32_t *acc = fg_xmalloc((size_t)ny * sizeof(int32_t)), bias[512];
    mm_ref(a, k->adt, b, k->bdt, &za32, 1, zb32, k->N, k->batch, k->M, k->K, k->N, acc);
    fg_tensor tbias = tens(FG_I32, 1, nd, bias);
    int n_attrs = 0;
    fg_attr at[5];
    if (f && f->bias) {
        for (int64_t n = 0; n < k->N; n++)
            bias[n] = (int32_t)(n * 53 % 300) - 150;
        for (int64_t i = 0; i < ny; i++)
            acc[i] += bias[i % k->N];
        ins_q[8] = &tbias;
        n_in = 9;
        at[n_attrs++] = ai(FG_ATTR_BIAS, 1);
    }
    if (f && f->act) {
        at[n_attrs++] = as(FG_ATTR_ACT, f->act);
        at[n_attrs++] = af(FG_ATTR_ALPHA, -0.5f);
        at[n_attrs++] = af(FG_ATTR_BETA, 2.f);
    }
    int32_t lo, hi;
    act_bounds(f, ys, yz, k->ydt, &lo, &hi);
    /* ways: oneDNN, the C loops (_fg_qref), B at run time (C loops), and for the integer op x's zero point
     * at run time (DynamicQuantizeLinear's: oneDNN's run-time src zero point, where the zero point is one) */
    int ways = !ql && tza.rank == 0 ? 4 : 3;
    for (int way = 0; way < ways; way++) {
        fg_tensor ty;
        unsigned late = 1u | (way == 2 ? 1u << b_idx : 0) | (way == 3 ? 1u << 2 : 0);
        fg_err e = {0};
        at[n_attrs] = ai(FG_ATTR_QREF, 1);
        assert_int_equal(run_q(op, at, n_attrs + (way == 1), ins, n_in, &ty, 1, late, &e), 0);
        assert_int_equal(ty.dtype, k->ydt);
        assert_int_equal(ty.rank, 3);
        for (int64_t i = 0; i < ny; i++) {
            if (!ql) {
                if (((int32_t *)ty.data)[i] != acc[i])
                    fail_msg("%s way %d element %lld: %d, want %d", op, way, (long long)i, ((int32_t *)ty.data)[i],
                             acc[i]);
                continue;
            }
            int32_t want = clampi(requant(acc[i], ascale, bs[i % k->N], ys, yz, k->ydt), lo, hi);
            int32_t got = ld8(ty.data, k->ydt, i);
            if (got != want && !(way == 0 && abs(got - want) <= 1))
                fail_msg("%s way %d element %lld: %d, want %d", op, way, (long long)i, got, want);
        }
        free(ty.data);
    }
    free(acc);
    free(a);
    free(b);
}

static void check_mm(const mm_case *k) { check_mm_fused(k, NULL); }

static void matmul_integer_onednn_and_c_agree(void **state) {
    (void)state;
    /* u8 x s8, the exported-model case: oneDNN */
    check_mm(&(mm_case){1, 37, 70, 45, FG_U8, FG_I8, FG_I32, 7, 0, false, false, false});
    /* s8 x s8 with batch dims folded into rows, per-column zero points that are all zero */
    check_mm(&(mm_case){3, 5, 33, 19, FG_I8, FG_I8, FG_I32, -9, 0, true, false, false});
    /* a common non-zero weight zero point */
    check_mm(&(mm_case){1, 16, 64, 32, FG_U8, FG_I8, FG_I32, 128, 3, false, false, false});
    /* uint8 weights, per-column varying zero points: C loops only */
    check_mm(&(mm_case){2, 4, 9, 6, FG_U8, FG_U8, FG_I32, 12, 0, true, true, false});
    /* uint8 weights with one zero point: shifted into int8 for oneDNN */
    check_mm(&(mm_case){1, 20, 40, 24, FG_U8, FG_U8, FG_I32, 3, 77, false, false, false});
    /* a product big enough for oneDNN's multithreaded split and blocking */
    check_mm(&(mm_case){1, 128, 256, 96, FG_U8, FG_I8, FG_I32, 1, 0, false, false, false});
}

static void qlinear_matmul_onednn_and_c_agree(void **state) {
    (void)state;
    check_mm(&(mm_case){1, 33, 64, 40, FG_U8, FG_I8, FG_U8, 5, 0, false, false, false});
    check_mm(&(mm_case){2, 17, 48, 24, FG_I8, FG_I8, FG_I8, -3, 0, true, false, true}); /* per-column scales */
    check_mm(&(mm_case){1, 8, 16, 8, FG_U8, FG_U8, FG_U8, 100, 120, false, false, false});
    check_mm(&(mm_case){1, 5, 12, 7, FG_I8, FG_U8, FG_I8, 0, 0, true, true, true});
}

typedef struct conv_case {
    int64_t n, ci, h, w, co, g, kh, kw, s, d;
    int64_t pads[4];
    fg_dtype xdt, wdt, ydt;
    int32_t xz, wz;
    bool per_ch, bias;
} conv_case;

/* Naive int32 2-D convolution of shifted operands, X padded with its zero point. */
static void conv_ref(const conv_case *k, const void *x, const void *w, const int32_t *wz, const int32_t *b,
                     int64_t oh, int64_t ow, int32_t *y) {
    int64_t cig = k->ci / k->g, cog = k->co / k->g;
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->co; o++)
            for (int64_t r = 0; r < oh; r++)
                for (int64_t q = 0; q < ow; q++) {
                    int32_t acc = b ? b[o] : 0;
                    for (int64_t i = 0; i < cig; i++)
                        for (int64_t u = 0; u < k->kh; u++)
                            for (int64_t v = 0; v < k->kw; v++) {
                                int64_t ih = r * k->s - k->pads[0] + u * k->d, iw = q * k->s - k->pads[1] + v * k->d;
                                if (ih < 0 || ih >= k->h || iw < 0 || iw >= k->w)
                                    continue;
                                int64_t xi = ((n * k->ci + (o / cog) * cig + i) * k->h + ih) * k->w + iw;
                                int64_t wi = ((o * cig + i) * k->kh + u) * k->kw + v;
                                acc += (ld8(x, k->xdt, xi) - k->xz) * (ld8(w, k->wdt, wi) - wz[o]);
                            }
                    y[((n * k->co + o) * oh + r) * ow + q] = acc;
                }
}

static void check_conv_fused(const conv_case *k, const fused *f) {
    int64_t cig = k->ci / k->g;
    int64_t xd[4] = {k->n, k->ci, k->h, k->w}, wd[4] = {k->co, cig, k->kh, k->kw}, cd[1] = {k->co};
    int64_t oh = (k->h + k->pads[0] + k->pads[2] - ((k->kh - 1) * k->d + 1)) / k->s + 1;
    int64_t ow = (k->w + k->pads[1] + k->pads[3] - ((k->kw - 1) * k->d + 1)) / k->s + 1;
    int64_t nx = k->n * k->ci * k->h * k->w, nw = k->co * cig * k->kh * k->kw, ny = k->n * k->co * oh * ow;
    uint8_t *x = bytes(nx, 21), *w = bytes(nw, 22), xz8 = (uint8_t)k->xz, wz8[256];
    int32_t wz[256], bias[256];
    float xs = 0.05f, ws[256], ys = k->ydt == FG_U8 ? 4.3f : 2.9f;
    for (int64_t o = 0; o < k->co; o++) {
        wz[o] = k->wz;
        wz8[o] = (uint8_t)k->wz;
        ws[o] = k->per_ch ? 0.004f + 0.0005f * (float)(o % 9) : 0.006f;
        bias[o] = (int32_t)(o * 37 % 200) - 100;
    }
    uint8_t yz8 = k->ydt == FG_U8 ? 110 : (uint8_t)(int8_t)7;
    int32_t yz = k->ydt == FG_U8 ? 110 : 7;
    bool ql = k->ydt != FG_I32;
    fg_tensor tx = tens(k->xdt, 4, xd, x), tw = tens(k->wdt, 4, wd, w), txz = tens(k->xdt, 0, NULL, &xz8);
    fg_tensor twz = tens(k->wdt, k->per_ch ? 1 : 0, cd, wz8), txs = tens(FG_F32, 0, NULL, &xs);
    fg_tensor tws = tens(FG_F32, k->per_ch ? 1 : 0, cd, ws), tys = tens(FG_F32, 0, NULL, &ys);
    fg_tensor tyz = tens(k->ydt, 0, NULL, &yz8), tb = tens(FG_I32, 1, cd, bias);
    fg_tensor *ins_ci[4] = {&tx, &tw, &txz, &twz};
    fg_tensor *ins_q[9] = {&tx, &txs, &txz, &tw, &tws, &twz, &tys, &tyz, k->bias ? &tb : NULL};
    fg_tensor **ins = ql ? ins_q : ins_ci;
    int n_in = ql ? 9 : 4, w_idx = ql ? 3 : 1;
    const char *op = ql ? "QLinearConv" : "ConvInteger";
    int32_t *acc = fg_xmalloc((size_t)ny * sizeof(int32_t));
    conv_ref(k, x, w, wz, ql && k->bias ? bias : NULL, oh, ow, acc);
    int64_t pads[4] = {k->pads[0], k->pads[1], k->pads[2], k->pads[3]}, st[2] = {k->s, k->s}, dl[2] = {k->d, k->d};
    fg_attr at[8] = {ais("pads", pads, 4), ais("strides", st, 2), ais("dilations", dl, 2), ai("group", k->g)};
    int n_attrs = 4;
    if (f && f->act) {
        at[n_attrs++] = as(FG_ATTR_ACT, f->act);
        at[n_attrs++] = af(FG_ATTR_ALPHA, -0.5f);
        at[n_attrs++] = af(FG_ATTR_BETA, 2.f);
    }
    at[n_attrs] = ai(FG_ATTR_QREF, 1);
    int32_t lo, hi;
    act_bounds(f, ys, yz, k->ydt, &lo, &hi);
    int ways = ql ? 3 : 4; /* as in check_mm_fused: the fourth with x's zero point at run time */
    for (int way = 0; way < ways; way++) {
        fg_tensor ty;
        unsigned late = 1u | (way == 2 ? 1u << w_idx : 0) | (way == 3 ? 1u << 2 : 0);
        fg_err e = {0};
        assert_int_equal(run_q(op, at, n_attrs + (way == 1), ins, n_in, &ty, 1, late, &e), 0);
        assert_int_equal(ty.dtype, k->ydt);
        assert_int_equal(ty.dims[2], oh);
        assert_int_equal(ty.dims[3], ow);
        for (int64_t i = 0; i < ny; i++) {
            if (!ql) {
                if (((int32_t *)ty.data)[i] != acc[i])
                    fail_msg("%s way %d element %lld: %d, want %d", op, way, (long long)i, ((int32_t *)ty.data)[i],
                             acc[i]);
                continue;
            }
            int64_t o = i / (oh * ow) % k->co;
            int32_t want = clampi(requant(acc[i], xs, ws[o], ys, yz, k->ydt), lo, hi), got = ld8(ty.data, k->ydt, i);
            if (got != want && !(way == 0 && abs(got - want) <= 1))
                fail_msg("%s way %d element %lld: %d, want %d", op, way, (long long)i, got, want);
        }
        free(ty.data);
    }
    free(acc);
    free(x);
    free(w);
}

static void check_conv(const conv_case *k) { check_conv_fused(k, NULL); }

static void conv_integer_onednn_and_c_agree(void **state) {
    (void)state;
    /* u8 x s8 with a zero point and padding (padding must act as the zero point) */
    check_conv(&(conv_case){2, 8, 11, 9, 16, 1, 3, 3, 1, 1, {1, 1, 1, 1}, FG_U8, FG_I8, FG_I32, 17, 0, false, false});
    /* s8 activations, stride 2, asymmetric pads, groups */
    check_conv(&(conv_case){1, 12, 10, 10, 24, 3, 3, 3, 2, 1, {0, 1, 2, 0}, FG_I8, FG_I8, FG_I32, -4, 0, false, false});
    /* depthwise with dilation */
    check_conv(
        &(conv_case){1, 16, 12, 12, 16, 16, 3, 3, 1, 2, {2, 2, 2, 2}, FG_U8, FG_I8, FG_I32, 128, 0, false, false});
    /* uint8 weights with a zero point other than 128: C loops only */
    check_conv(&(conv_case){1, 2, 6, 5, 3, 1, 2, 2, 1, 1, {1, 0, 0, 1}, FG_U8, FG_U8, FG_I32, 1, 9, false, false});
    /* uint8 weights with zero point 128: int8 without zero point for oneDNN */
    check_conv(&(conv_case){1, 4, 8, 8, 16, 1, 3, 3, 1, 1, {1, 1, 1, 1}, FG_U8, FG_U8, FG_I32, 5, 128, false, false});
    /* 1x1 */
    check_conv(&(conv_case){1, 32, 7, 7, 64, 1, 1, 1, 1, 1, {0, 0, 0, 0}, FG_U8, FG_I8, FG_I32, 3, 0, false, false});
}

static void qlinear_conv_onednn_and_c_agree(void **state) {
    (void)state;
    /* per-channel weight scales and a bias, uint8 output */
    check_conv(&(conv_case){1, 8, 10, 10, 32, 1, 3, 3, 1, 1, {1, 1, 1, 1}, FG_U8, FG_I8, FG_U8, 60, 0, true, true});
    /* int8 everything, per-tensor, stride 2, no bias */
    check_conv(&(conv_case){2, 6, 9, 8, 12, 2, 3, 3, 2, 1, {1, 1, 1, 1}, FG_I8, FG_I8, FG_I8, -2, 0, false, false});
    /* uint8 weights with zero point 128 (per channel): shifted for oneDNN */
    check_conv(&(conv_case){1, 3, 5, 5, 4, 1, 3, 3, 1, 1, {1, 1, 1, 1}, FG_U8, FG_U8, FG_U8, 7, 128, true, true});
    /* 1-D spatial input is covered by ONNX's data; 3x3 with uint8 weights and zero point 9: C only */
    check_conv(&(conv_case){1, 3, 6, 6, 5, 1, 3, 3, 2, 1, {2, 0, 1, 1}, FG_U8, FG_U8, FG_U8, 7, 9, true, true});
}

/* What the QDQ fusion adds to the QLinear ops: a bias for QLinearMatMul and Relu / Clip as a clamp of
 * the quantized output (a oneDNN clip post-op, or the C loops' saturation bounds). */
static void qlinear_fused_bias_and_activation(void **state) {
    (void)state;
    check_mm_fused(&(mm_case){1, 33, 64, 40, FG_U8, FG_I8, FG_U8, 5, 0, false, false, true}, &(fused){true, "relu"});
    check_mm_fused(&(mm_case){2, 9, 32, 24, FG_I8, FG_I8, FG_I8, -3, 0, false, false, false}, &(fused){true, "clip"});
    check_mm_fused(&(mm_case){1, 6, 10, 5, FG_U8, FG_U8, FG_U8, 9, 0, true, true, false}, &(fused){false, "clip"});
    check_conv_fused(
        &(conv_case){1, 8, 10, 10, 32, 1, 3, 3, 1, 1, {1, 1, 1, 1}, FG_U8, FG_I8, FG_U8, 60, 0, true, true},
                     &(fused){true, "relu"});
    check_conv_fused(&(conv_case){1, 6, 9, 8, 12, 2, 3, 3, 2, 1, {1, 1, 1, 1}, FG_I8, FG_I8, FG_I8, -2, 0, false, true},
                     &(fused){true, "clip"});
}

static void int8_products_reject_bad_operands(void **state) {
    (void)state;
    uint8_t a[6] = {0}, b[6] = {0}, z5[5] = {0};
    float f[6] = {0};
    int8_t zs = 0;
    int64_t ad[2] = {2, 3}, bd[2] = {3, 2}, d5[1] = {5};
    fg_tensor tA = tens(FG_U8, 2, ad, a), tB = tens(FG_U8, 2, bd, b), tF = tens(FG_F32, 2, bd, f), ty;
    fg_tensor tzs = tens(FG_I8, 0, NULL, &zs), tz5 = tens(FG_U8, 1, d5, z5);
    fg_err e = {0};
    fg_tensor *fl[2] = {&tA, &tF};
    assert_int_equal(run_q("MatMulInteger", NULL, 0, fl, 2, &ty, 1, 0, &e), FG_EUNSUPPORTED);
    fg_tensor *zt[3] = {&tA, &tB, &tzs}; /* A's zero point must be A's type */
    assert_int_equal(run_q("MatMulInteger", NULL, 0, zt, 3, &ty, 1, 0, &e), FG_EDTYPE);
    fg_tensor *zn[3] = {&tA, &tB, &tz5}; /* 5 zero points for 2 rows */
    assert_int_equal(run_q("MatMulInteger", NULL, 0, zn, 3, &ty, 1, 0, &e), FG_ESHAPE);
}

/* ---- the fused dynamic int8 matmul (MatMulInteger with FG_ATTR_DYNQ, made by fuse.c) ---- */

/* Checks the fused node on x [2, M, K] and constant B [K, N] (bdt, one zero point bz or none), per-column
 * or one weight scale, optional bias and GELU: oneDNN (where it applies) and the C loops (_fg_qref) both
 * against DynamicQuantizeLinear + an integer matmul + the float scaling written here. */
enum {
    DQ_ZERO_X = 1,   /* x all zeros: a_scale 0, the output is act(bias) */
    DQ_ZERO_COL = 2, /* column 1's weight scale is 0 */
    DQ_GELU_IN = 4,  /* FG_ATTR_ACT_IN: GELU of x inside its quantization */
};

static void check_dynq(int64_t M, int64_t K, int64_t N, fg_dtype bdt, int bz, bool per_col, bool bias, bool gelu,
                       unsigned flags) {
    int64_t xd[3] = {2, M, K}, bd[2] = {K, N}, nd[1] = {N}, nx = 2 * M * K, ny = 2 * M * N;
    float *x = fg_xmalloc((size_t)nx * sizeof(float)), *xa = fg_xmalloc((size_t)nx * sizeof(float)), ws[256], bv[256];
    assert_true(N <= 256);
    uint8_t *b = bytes(K * N, 21), *xq = fg_xmalloc((size_t)nx), bz8 = (uint8_t)bz;
    for (int64_t i = 0; i < nx; i++) {
        x[i] = flags & DQ_ZERO_X ? 0.f : (float)((i * 37 + 11) % 101) * 0.05f - 1.7f;
        xa[i] = flags & DQ_GELU_IN ? fg_gelu(x[i]) : x[i];
    }
    for (int64_t n = 0; n < N; n++) {
        ws[n] = per_col ? 0.004f + 0.0002f * (float)(n % 9) : 0.005f;
        bv[n] = (float)(n % 11) * 0.1f - 0.5f;
    }
    if (flags & DQ_ZERO_COL)
        ws[1] = 0.f;
    float xs;
    uint8_t xz;
    run_dynq(xa, nx, xq, &xs, &xz);
    float *want = fg_xmalloc((size_t)ny * sizeof(float));
    for (int64_t m = 0; m < 2 * M; m++)
        for (int64_t n = 0; n < N; n++) {
            int32_t acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += ((int32_t)xq[m * K + k] - xz) * (ld8(b, bdt, k * N + n) - (bz >= -128 ? bz : 0));
            float v = (float)acc * (xs * ws[per_col ? n : 0]) + (bias ? bv[n] : 0.f);
            want[m * N + n] = gelu ? 0.5f * v * (1.f + erff(v / sqrtf(2.f))) : v;
        }
    fg_tensor tx = tens(FG_F32, 3, xd, x), tb = tens(bdt, 2, bd, b), tz = tens(bdt, 0, NULL, &bz8);
    fg_tensor tws = tens(FG_F32, per_col ? 1 : 0, nd, ws), tbias = tens(FG_F32, 1, nd, bv);
    fg_tensor *ins[6] = {&tx, &tb, NULL, bz >= -128 ? &tz : NULL, &tws, bias ? &tbias : NULL};
    fg_attr at[4] = {ai(FG_ATTR_DYNQ, 1), as(FG_ATTR_ACT, "gelu_erf"), ai(FG_ATTR_QREF, 1),
                     as(FG_ATTR_ACT_IN, "gelu_erf")};
    for (int way = 0; way < 2; way++) {
        fg_attr use[4];
        int na = 0;
        use[na++] = at[0];
        if (gelu)
            use[na++] = at[1];
        if (way == 1)
            use[na++] = at[2];
        if (flags & DQ_GELU_IN)
            use[na++] = at[3];
        fg_tensor ty;
        fg_err e = {0};
        assert_int_equal(run_q("MatMulInteger", use, na, ins, bias ? 6 : 5, &ty, 1, 1u, &e), 0);
        assert_int_equal(ty.dtype, FG_F32);
        assert_int_equal(ty.rank, 3);
        assert_int_equal(ty.dims[2], N);
        float mx = 0.f;
        for (int64_t i = 0; i < ny; i++)
            mx = fabsf(want[i]) > mx ? fabsf(want[i]) : mx;
        for (int64_t i = 0; i < ny; i++)
            if (fabsf(((float *)ty.data)[i] - want[i]) > 1e-5f * mx + 1e-6f)
                fail_msg("dynq way %d element %lld: %g, want %g", way, (long long)i, ((float *)ty.data)[i], want[i]);
        free(ty.data);
    }
    free(want);
    free(xq);
    free(b);
    free(xa);
    free(x);
}

static void dynamic_matmul_onednn_and_c_agree(void **state) {
    (void)state;
    /* int8 weights without a zero point, per-column scales, bias, GELU: BERT's feed-forward */
    check_dynq(7, 48, 40, FG_I8, -1000, true, true, true, 0);
    /* one scale, no bias, nothing after */
    check_dynq(3, 20, 9, FG_I8, -1000, false, false, false, 0);
    /* uint8 weights with zero point 128: shifted into int8 for oneDNN */
    check_dynq(5, 33, 17, FG_U8, 128, true, true, false, 0);
    /* a weight zero point oneDNN's shift does not remove: the C loops */
    check_dynq(4, 16, 12, FG_I8, 3, true, false, true, 0);
    /* big enough for oneDNN's blocking */
    check_dynq(64, 256, 128, FG_I8, -1000, true, true, false, 0);
    /* GELU of the input inside its quantization (BERT's FFN2 after fuse.c), with and without a GELU after */
    check_dynq(64, 256, 128, FG_I8, -1000, true, true, false, DQ_GELU_IN);
    check_dynq(5, 24, 16, FG_I8, -1000, true, true, true, DQ_GELU_IN);
}

/* The run-time-scale form passes the bias divided by a_scale * b_scale[n] to oneDNN; where that product is
 * 0 the column is rebuilt as act(bias): all of x zero (a_scale 0), or one weight channel's scale 0. */
static void dynamic_matmul_zero_scales_keep_the_bias(void **state) {
    (void)state;
    check_dynq(64, 256, 128, FG_I8, -1000, true, true, false, DQ_ZERO_X);
    check_dynq(64, 256, 128, FG_I8, -1000, true, true, true, DQ_ZERO_X);
    check_dynq(64, 256, 128, FG_I8, -1000, true, true, false, DQ_ZERO_COL);
    check_dynq(7, 48, 40, FG_I8, -1000, true, true, true, DQ_ZERO_COL);
}

/* fg_gelu (Abramowitz & Stegun erf, no division) against GELU in double precision. */
static void gelu_matches_erf_in_double(void **state) {
    (void)state;
    double worst = 0.0;
    for (int i = -200000; i <= 200000; i++) {
        double x = i * 6e-5; /* [-12, 12] */
        double want = 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        double err = fabs((double)fg_gelu((float)x) - want) / (fabs(x) > 1.0 ? fabs(x) : 1.0);
        worst = err > worst ? err : worst;
    }
    /* 0.5 |x| times (erf's 3e-7 + 16 times the reciprocal's 6e-8, raised to the 16th power) */
    if (worst >= 7e-7)
        fail_msg("GELU's error reached %g of max(1, |x|)", worst); /* 0.5 |x| times erf's 3e-7, plus float rounding */
    assert_true(fg_gelu(INFINITY) == INFINITY);
    assert_true(isnan(fg_gelu(NAN)));
    assert_true(fg_gelu(-30.f) == 0.f && fg_gelu(30.f) == 30.f);
}

/* fg_dynquant_u8_gelu finds GELU's range from four values per lane (smallest, largest, nearest the
 * minimum from either side); it must quantize exactly as DynamicQuantizeLinear of the GELU values. */
static void dynamic_quantize_of_gelu_matches_the_materialised_values(void **state) {
    (void)state;
    enum { N = 70001 };
    float *x = fg_xmalloc(N * sizeof(float)), *g = fg_xmalloc(N * sizeof(float));
    uint8_t *y1 = fg_xmalloc(N), *y2 = fg_xmalloc(N);
    uint32_t seed = 99;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            seed = seed * 1664525u + 1013904223u;
            float u = (float)(seed >> 8) / 16777216.0f;
            /* round 0: wide; 1: all negative (the minimum inside); 2: all above the minimum; 3: NaN, inf */
            x[i] = round == 0 ? u * 14.f - 7.f : round == 1 ? -u * 3.f : round == 2 ? u * 2.f - 0.7f : u * 8.f - 4.f;
            if (round == 3 && i % 997 == 0)
                x[i] = i % 2 ? NAN : -INFINITY;
            g[i] = fg_gelu(x[i]);
        }
        float s1, s2;
        uint8_t z1, z2;
        fg_dynquant_u8_gelu(x, N, 2, y1, &s1, &z1);
        fg_dynquant_u8(g, N, 2, y2, &s2, &z2);
        assert_true(s1 == s2);
        assert_int_equal(z1, z2);
        assert_memory_equal(y1, y2, N);
    }
    free(x);
    free(g);
    free(y1);
    free(y2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dynamic_matmul_onednn_and_c_agree),
        cmocka_unit_test(dynamic_matmul_zero_scales_keep_the_bias),
        cmocka_unit_test(gelu_matches_erf_in_double),
        cmocka_unit_test(dynamic_quantize_of_gelu_matches_the_materialised_values),
        cmocka_unit_test(quantize_rounds_half_to_even_and_saturates),
        cmocka_unit_test(quantize_matches_division_at_half_integers),
        cmocka_unit_test(quantize_zero_point_shifts_after_rounding),
        cmocka_unit_test(quantize_and_dequantize_per_axis),
        cmocka_unit_test(dequantize_int8_uint8_int32),
        cmocka_unit_test(quant_rejects_bad_parameters),
        cmocka_unit_test(dynamic_quantize_picks_range_including_zero),
        cmocka_unit_test(dynamic_quantize_matches_division_at_half_integers),
        cmocka_unit_test(matmul_integer_onednn_and_c_agree),
        cmocka_unit_test(qlinear_matmul_onednn_and_c_agree),
        cmocka_unit_test(conv_integer_onednn_and_c_agree),
        cmocka_unit_test(qlinear_conv_onednn_and_c_agree),
        cmocka_unit_test(qlinear_fused_bias_and_activation),
        cmocka_unit_test(int8_products_reject_bad_operands),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
