/* elementwise.c - unary, binary and variadic element-wise ops with numpy broadcasting, Where and Cast.
 * Binary/variadic/Where go through one broadcast walker: shapes are collapsed so that each run of the
 * innermost dimension is either contiguous or constant for every input, and a typed segment kernel is
 * called per run (same shape = one run; scalar and [N,C,H,W]+[C,1,1] style = long runs, no per-element
 * index math). Big tensors are split across OpenMP threads by element range. float16/bfloat16 go
 * through the float32 kernels in small stack blocks, so run() never allocates. */

/* Let gcc if-convert and vectorize selects on floats (clamps, Relu, LeakyRelu): nothing here reads FP
 * exception flags or errno, and results (NaN and inf included) are unchanged; FMA contraction (where
 * the CPU has it) only makes polynomials more exact. Before the includes so inline helpers share the
 * options and still inline. */
#ifndef __clang__
#pragma GCC optimize("no-trapping-math", "no-math-errno", "fp-contract=fast")
#endif

#include <float.h>
#include <stdint.h>
#include <tgmath.h>

#include "engine/ops/ops.h"

#define NDT 17          /* dtype enum values below this index the kernel tables */
#define MAX_IN 3        /* most inputs one walk handles (Where) */
#define PAR_CHEAP 65536 /* elements before a cheap op (add, relu) is split across threads */
#define PAR_HEAVY 8192  /* same for transcendental ops (exp, erf, pow) */
#define HALF_BLOCK 256  /* float16 elements converted per stack block */

/* ---- float16 / bfloat16 conversions (round to nearest even, as numpy and ORT) ---- */

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float h2f(uint16_t h) {
    uint32_t s = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f)
        return bits_f32(s | 0x7f800000u | (m << 13));
    if (e)
        return bits_f32(s | ((e + 112) << 23) | (m << 13));
    float f = (float)m * 0x1p-24f; /* subnormal (or zero): exact in float */
    return s ? -f : f;
}

static inline uint16_t f2h(float f) {
    uint32_t u = f32_bits(f), sign = u & 0x80000000u, o;
    u ^= sign;
    if (u >= (127u + 16) << 23) { /* >= 65536 rounds to inf; keep NaN a quiet NaN */
        o = u > 0x7f800000u ? 0x7e00 : 0x7c00;
    } else if (u < 113u << 23) { /* half subnormal or zero: let the FPU round by adding 0.5 */
        o = f32_bits(bits_f32(u) + 0.5f) - f32_bits(0.5f);
    } else {
        uint32_t odd = (u >> 13) & 1;
        u += ((uint32_t)(15 - 127) << 23) + 0xfff + odd;
        o = u >> 13;
    }
    return (uint16_t)(o | sign >> 16);
}

/* double -> half directly: going through float would round twice */
static inline uint16_t d2h(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    uint16_t sign = (uint16_t)((u >> 48) & 0x8000);
    u &= ~(1ull << 63);
    if (u >= 0x7ff0000000000000ull)
        return sign | (u > 0x7ff0000000000000ull ? 0x7e00 : 0x7c00);
    if (u >= 0x40effe0000000000ull) /* 65520 and above round to inf */
        return sign | 0x7c00;
    if (u < 0x3f10000000000000ull) { /* below 2^-14: subnormal half = round(|d| * 2^24) */
        double a;
        memcpy(&a, &u, 8);
        return sign | (uint16_t)nearbyint(a * 0x1p24);
    }
    uint64_t odd = (u >> 42) & 1;
    u += ((uint64_t)(15 - 1023) << 52) + ((1ull << 41) - 1) + odd;
    return sign | (uint16_t)(u >> 42);
}

static inline float bf2f(uint16_t h) { return bits_f32((uint32_t)h << 16); }

static inline uint16_t f2bf(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

static inline bool is_half(fg_dtype t) { return t == FG_F16 || t == FG_BF16; }

static inline float half_get(fg_dtype t, const uint16_t *p, int64_t i) { return t == FG_F16 ? h2f(p[i]) : bf2f(p[i]); }

static void half_to_f32(fg_dtype t, const uint16_t *s, float *d, int64_t n) {
    if (t == FG_F16)
        for (int64_t i = 0; i < n; i++)
            d[i] = h2f(s[i]);
    else
        for (int64_t i = 0; i < n; i++)
            d[i] = bf2f(s[i]);
}

static void f32_to_half(fg_dtype t, const float *s, uint16_t *d, int64_t n) {
    if (t == FG_F16)
        for (int64_t i = 0; i < n; i++)
            d[i] = f2h(s[i]);
    else
        for (int64_t i = 0; i < n; i++)
            d[i] = f2bf(s[i]);
}

/* ---- scalar helpers ---- */

static inline bool is_float_dt(fg_dtype t) { return t == FG_F32 || t == FG_F64 || is_half(t); }

static inline bool is_numeric_dt(fg_dtype t) {
    switch (t) {
    case FG_F32: case FG_F64: case FG_F16: case FG_BF16: case FG_I8: case FG_U8: case FG_I16: case FG_U16:
    case FG_I32: case FG_U32: case FG_I64: case FG_U64:
        return true;
    default:
        return false;
    }
}

/* Element i of a numeric tensor as double (float16 and unsigned included). */
static double load_f64(const void *p, fg_dtype t, int64_t i) {
    switch (t) {
    case FG_F32: return ((const float *)p)[i];
    case FG_F64: return ((const double *)p)[i];
    case FG_F16: case FG_BF16: return half_get(t, p, i);
    case FG_I8: return ((const int8_t *)p)[i];
    case FG_U8: case FG_BOOL: return ((const uint8_t *)p)[i];
    case FG_I16: return ((const int16_t *)p)[i];
    case FG_U16: return ((const uint16_t *)p)[i];
    case FG_I32: return ((const int32_t *)p)[i];
    case FG_U32: return ((const uint32_t *)p)[i];
    case FG_I64: return (double)((const int64_t *)p)[i];
    case FG_U64: return (double)((const uint64_t *)p)[i];
    default: return 0;
    }
}

/* float -> int64 with defined results: truncation toward zero, NaN -> 0, saturation outside the range
 * (C leaves those undefined; narrower integer targets then wrap like a C cast of the int64). */
static inline int64_t f2i64(double x) {
    if (x != x)
        return 0;
    if (x >= 9.2233720368547758e18)
        return INT64_MAX;
    if (x <= -9.2233720368547758e18)
        return INT64_MIN;
    return (int64_t)x;
}

static inline uint64_t f2u64(double x) {
    if (x >= 1.8446744073709552e19)
        return UINT64_MAX;
    if (x >= 9.2233720368547758e18)
        return (uint64_t)x;
    return (uint64_t)f2i64(x);
}

/* Element i of an integer (or bool) tensor as int64; uint64 is reinterpreted, floats truncate. */
static int64_t load_i64(const void *p, fg_dtype t, int64_t i) {
    switch (t) {
    case FG_I8: return ((const int8_t *)p)[i];
    case FG_U8: case FG_BOOL: return ((const uint8_t *)p)[i];
    case FG_I16: return ((const int16_t *)p)[i];
    case FG_U16: return ((const uint16_t *)p)[i];
    case FG_I32: return ((const int32_t *)p)[i];
    case FG_U32: return ((const uint32_t *)p)[i];
    case FG_I64: return ((const int64_t *)p)[i];
    case FG_U64: return (int64_t)((const uint64_t *)p)[i];
    default: return f2i64(load_f64(p, t, i));
    }
}

/* exp for float32 that gcc vectorizes (Cephes polynomial, ~1 ulp); 2^n is applied in two halves so
 * results down to the subnormal range and overflow to inf come out right. */
static inline float fast_expf(float x) {
    float xc = x > 89.0f ? 89.0f : (x < -104.0f ? -104.0f : x);
    xc = xc == xc ? xc : 0.0f;
    float t = xc * 1.44269504088896341f;
    float n = (t + 12582912.0f) - 12582912.0f; /* round to nearest: |t| < 2^22 */
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    float e = q * r * r + r + 1.0f;
    int32_t ni = (int32_t)n, h = ni / 2;
    float s1 = bits_f32((uint32_t)(h + 127) << 23), s2 = bits_f32((uint32_t)(ni - h + 127) << 23);
    e = e * s1 * s2;
    return x == x ? e : x;
}

/* tanh for float32 as a rational function of x (odd/even polynomials, the form Eigen and MLAS use);
 * a few ulp, vectorizes, no cancellation near 0. */
static inline float fast_tanhf(float x) {
    float xc = x > 7.90531110763549805f ? 7.90531110763549805f : (x < -7.90531110763549805f ? -7.90531110763549805f : x);
    float x2 = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * xc;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    float y = p / q;
    return fabsf(x) < 0.0004f ? x : y;
}

/* ---- threading ---- */

/* Threads worth using for n elements: one per ~32k (4k for heavy ops), at most c->n_threads. */
static int n_workers(const fg_kctx *c, int64_t n, bool heavy) {
    int64_t min_n = heavy ? PAR_HEAVY : PAR_CHEAP;
    if (c->n_threads <= 1 || n < min_n)
        return 1;
    int64_t w = n / (min_n / 2);
    return w < c->n_threads ? (int)w : c->n_threads;
}

/* Start of worker t's share of [0, n), aligned to 64 elements so vector loops stay aligned. */
static int64_t chunk_start(int64_t n, int t, int nt) {
    if (t >= nt)
        return n;
    int64_t s = (n / nt * t) & ~(int64_t)63;
    return s < n ? s : n;
}

/* ================= unary ops ================= */

typedef struct uparams uparams;
typedef void (*ukern)(const void *x, void *y, int64_t n, const uparams *p);

struct uparams {
    float alpha, beta, gamma;
    double flo, fhi;  /* Clip bounds for float types */
    int64_t ilo, ihi; /* Clip bounds for integer types (uint64 as its bits) */
    int flags;        /* IsInf: 1 detect negative, 2 detect positive */
    ukern inner;      /* float16 proxy: the float32 kernel */
    fg_dtype half;
    bool out_bool;
};

typedef struct uop {
    ukern k[NDT];
    bool out_bool; /* output is bool (IsNaN, IsInf) */
    bool heavy;    /* transcendental: worth threads sooner */
} uop;

/* Parameters are loaded before the loop: a load inside a select would keep gcc from vectorizing.
 * ILO/IHI are the integer Clip bounds; UKF adds the float ones (A, B, G = alpha, beta, gamma). */
#define UK(name, T, TY, EXPR)                                                                          \
    static void name(const void *px_, void *py_, int64_t n, const uparams *p) {                        \
        typedef T V;                                                                                   \
        const V *xs = px_;                                                                             \
        TY *ys = py_;                                                                                  \
        const V ILO = (V)p->ilo, IHI = (V)p->ihi;                                                      \
        (void)ILO, (void)IHI;                                                                          \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                          \
            const V x = xs[i];                                                                         \
            ys[i] = (TY)(EXPR);                                                                        \
        }                                                                                              \
    }

#define UKF(name, T, TY, EXPR)                                                                         \
    static void name(const void *px_, void *py_, int64_t n, const uparams *p) {                        \
        typedef T V;                                                                                   \
        const V *xs = px_;                                                                             \
        TY *ys = py_;                                                                                  \
        const V A = (V)p->alpha, B = (V)p->beta, G = (V)p->gamma, LO = (V)p->flo, HI = (V)p->fhi;      \
        const int F = p->flags;                                                                        \
        (void)A, (void)B, (void)G, (void)LO, (void)HI, (void)F;                                        \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                          \
            const V x = xs[i];                                                                         \
            ys[i] = (TY)(EXPR);                                                                        \
        }                                                                                              \
    }

/* float (float32, float64) kernels; tgmath picks the float or double libm function */
#define UK_FLT(op, EXPR) UKF(op##_f32, float, float, EXPR) UKF(op##_f64, double, double, EXPR)
#define TAB_FLT(op) [FG_F32] = op##_f32, [FG_F64] = op##_f64

/* integer kernels: X(suffix, type, wide unsigned type, enum) */
#define SINT_TYPES(X) X(i8, int8_t, uint32_t, FG_I8) X(i16, int16_t, uint32_t, FG_I16) X(i32, int32_t, uint32_t, FG_I32) X(i64, int64_t, uint64_t, FG_I64)
#define UINT_TYPES(X) X(u8, uint8_t, uint32_t, FG_U8) X(u16, uint16_t, uint32_t, FG_U16) X(u32, uint32_t, uint32_t, FG_U32) X(u64, uint64_t, uint64_t, FG_U64)
#define TAB_SINT(op) [FG_I8] = op##_i8, [FG_I16] = op##_i16, [FG_I32] = op##_i32, [FG_I64] = op##_i64
#define TAB_UINT(op) [FG_U8] = op##_u8, [FG_U16] = op##_u16, [FG_U32] = op##_u32, [FG_U64] = op##_u64

UK_FLT(u_sqrt, sqrt(x))
UK(u_exp_f64, double, double, exp(x))
UK_FLT(u_log, log(x))
UK_FLT(u_recip, (V)1 / x)
UK_FLT(u_floor, floor(x))
UK_FLT(u_ceil, ceil(x))
UK_FLT(u_round, nearbyint(x)) /* half to even in the default rounding mode */
UK_FLT(u_erf, erf(x))
UK_FLT(u_sin, sin(x))
UK_FLT(u_cos, cos(x))
UK_FLT(u_softplus, x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)))
UK_FLT(u_softsign, x / ((V)1 + fabs(x)))
UK_FLT(u_elu, x < 0 ? A * expm1(x) : x)
UK_FLT(u_selu, x > 0 ? G * x : G * (A * expm1(x)))
UK_FLT(u_celu, x > 0 ? x : A * expm1(x / A))
UK_FLT(u_hsigmoid, (A * x + B) < 0 ? (V)0 : (A * x + B) > 1 ? (V)1 : (A * x + B))
UK_FLT(u_hswish, x * ((x / (V)6 + (V)0.5) < 0 ? (V)0 : (x / (V)6 + (V)0.5) > 1 ? (V)1 : (x / (V)6 + (V)0.5)))
UK_FLT(u_leaky, x < 0 ? A * x : x)
UK(u_tanh_f64, double, double, tanh(x))
UK(u_sigmoid_f64, double, double, x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)))
UK(u_isnan_f32, float, uint8_t, x != x)
UK(u_isnan_f64, double, uint8_t, x != x)
UKF(u_isinf_f32, float, uint8_t, ((F & 1) && x == -INFINITY) || ((F & 2) && x == INFINITY))
UKF(u_isinf_f64, double, uint8_t, ((F & 1) && x == -INFINITY) || ((F & 2) && x == INFINITY))
UK(u_not_b, uint8_t, uint8_t, !x)

/* The float32 kernels that are compute-bound get an AVX2+FMA twin, picked at run time, so the default
 * x86-64 build still uses 8-wide vectors where the CPU has them. */
#define UK_DUAL(name, FN)                                                                              \
    static __attribute__((target("avx2,fma"))) void name##_avx2(const float *xs, float *ys, int64_t n) { \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) ys[i] = FN(xs[i]);                         \
    }                                                                                                  \
    static void name##_base(const float *xs, float *ys, int64_t n) {                                    \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) ys[i] = FN(xs[i]);                         \
    }                                                                                                  \
    static void name(const void *px, void *py, int64_t n, const uparams *p) {                          \
        (void)p;                                                                                       \
        if (have_avx2())                                                                               \
            name##_avx2(px, py, n);                                                                    \
        else                                                                                           \
            name##_base(px, py, n);                                                                    \
    }

static bool have_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

/* sigmoid through e = exp(-|x|) <= 1: never overflows and keeps relative accuracy for x << 0 */
static inline float fast_sigmoidf(float x) {
    float e = fast_expf(-fabsf(x)), s = 1.0f / (1.0f + e), t = e * s;
    return x >= 0 ? s : t;
}

UK_DUAL(u_sigmoid_f32, fast_sigmoidf)
UK_DUAL(u_tanh_f32, fast_tanhf)
UK_DUAL(u_exp_f32, fast_expf)

/* NaN passes through Relu, Abs, Neg, Sign and Clip as in numpy */
UK_FLT(u_relu, x < 0 ? (V)0 : x)
UK_FLT(u_abs, fabs(x))
UK_FLT(u_neg, -x)
UK_FLT(u_sign, x > 0 ? (V)1 : x < 0 ? (V)-1 : x)
UK_FLT(u_clip, (x < LO ? LO : x) > HI ? HI : (x < LO ? LO : x))

#define SINT_UNARY(s, T, W, E)                                                                         \
    UK(u_relu_##s, T, T, x < 0 ? 0 : x)                                                                \
    UK(u_abs_##s, T, T, x < 0 ? (W)0 - (W)x : (W)x)                                                    \
    UK(u_neg_##s, T, T, (W)0 - (W)x)                                                                   \
    UK(u_sign_##s, T, T, (x > 0) - (x < 0))                                                            \
    UK(u_clip_##s, T, T, (x < ILO ? ILO : x) > IHI ? IHI : (x < ILO ? ILO : x))
#define UINT_UNARY(s, T, W, E)                                                                         \
    UK(u_relu_##s, T, T, x)                                                                            \
    UK(u_abs_##s, T, T, x)                                                                             \
    UK(u_neg_##s, T, T, (W)0 - (W)x)                                                                   \
    UK(u_sign_##s, T, T, x > 0)                                                                        \
    UK(u_clip_##s, T, T, (x < ILO ? ILO : x) > IHI ? IHI : (x < ILO ? ILO : x))
SINT_TYPES(SINT_UNARY)
UINT_TYPES(UINT_UNARY)

static const uop U_SQRT = {.k = {TAB_FLT(u_sqrt)}, .heavy = true};
static const uop U_EXP = {.k = {TAB_FLT(u_exp)}, .heavy = true};
static const uop U_LOG = {.k = {TAB_FLT(u_log)}, .heavy = true};
static const uop U_RECIP = {.k = {TAB_FLT(u_recip)}};
static const uop U_FLOOR = {.k = {TAB_FLT(u_floor)}};
static const uop U_CEIL = {.k = {TAB_FLT(u_ceil)}};
static const uop U_ROUND = {.k = {TAB_FLT(u_round)}};
static const uop U_ERF = {.k = {TAB_FLT(u_erf)}, .heavy = true};
static const uop U_SIN = {.k = {TAB_FLT(u_sin)}, .heavy = true};
static const uop U_COS = {.k = {TAB_FLT(u_cos)}, .heavy = true};
static const uop U_SOFTPLUS = {.k = {TAB_FLT(u_softplus)}, .heavy = true};
static const uop U_SOFTSIGN = {.k = {TAB_FLT(u_softsign)}};
static const uop U_ELU = {.k = {TAB_FLT(u_elu)}, .heavy = true};
static const uop U_SELU = {.k = {TAB_FLT(u_selu)}, .heavy = true};
static const uop U_CELU = {.k = {TAB_FLT(u_celu)}, .heavy = true};
static const uop U_HSIGMOID = {.k = {TAB_FLT(u_hsigmoid)}};
static const uop U_HSWISH = {.k = {TAB_FLT(u_hswish)}};
static const uop U_LEAKY = {.k = {TAB_FLT(u_leaky)}};
static const uop U_TANH = {.k = {TAB_FLT(u_tanh)}, .heavy = true};
static const uop U_SIGMOID = {.k = {TAB_FLT(u_sigmoid)}, .heavy = true};
static const uop U_ISNAN = {.k = {TAB_FLT(u_isnan)}, .out_bool = true};
static const uop U_ISINF = {.k = {TAB_FLT(u_isinf)}, .out_bool = true};
static const uop U_NOT = {.k = {[FG_BOOL] = u_not_b}};
static const uop U_RELU = {.k = {TAB_FLT(u_relu), TAB_SINT(u_relu), TAB_UINT(u_relu)}};
static const uop U_ABS = {.k = {TAB_FLT(u_abs), TAB_SINT(u_abs), TAB_UINT(u_abs)}};
static const uop U_NEG = {.k = {TAB_FLT(u_neg), TAB_SINT(u_neg), TAB_UINT(u_neg)}};
static const uop U_SIGN = {.k = {TAB_FLT(u_sign), TAB_SINT(u_sign), TAB_UINT(u_sign)}};
static const uop U_CLIP = {.k = {TAB_FLT(u_clip), TAB_SINT(u_clip), TAB_UINT(u_clip)}};

/* float16/bfloat16 through the float32 kernel, HALF_BLOCK elements at a time on the stack */
static void u_half(const void *px, void *py, int64_t n, const uparams *p) {
    const uint16_t *xs = px;
    float buf[HALF_BLOCK];
    for (int64_t i0 = 0; i0 < n; i0 += HALF_BLOCK) {
        int64_t m = n - i0 < HALF_BLOCK ? n - i0 : HALF_BLOCK;
        half_to_f32(p->half, xs + i0, buf, m);
        if (p->out_bool) {
            p->inner(buf, (uint8_t *)py + i0, m, p);
        } else {
            p->inner(buf, buf, m, p);
            f32_to_half(p->half, buf, (uint16_t *)py + i0, m);
        }
    }
}

/* The kernel for dtype t (NULL when unsupported); *proxy says it must run through u_half. */
static ukern unary_kernel(const uop *u, fg_dtype t, bool *proxy) {
    *proxy = false;
    if ((unsigned)t >= NDT)
        return NULL;
    if (u->k[t])
        return u->k[t];
    if (is_half(t) && u->k[FG_F32]) {
        *proxy = true;
        return u->k[FG_F32];
    }
    return NULL;
}

static int unary_infer(fg_kctx *c, const uop *u) {
    const fg_tensor *x = fg_in(c, 0);
    bool proxy;
    if (!x)
        return FG_KERR(c, FG_EINVAL, "input 0 is required");
    if (!unary_kernel(u, x->dtype, &proxy))
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s is not supported", fg_dtype_name(x->dtype));
    fg_set_shape(c->out[0], u->out_bool ? FG_BOOL : x->dtype, x->rank, x->dims);
    return 0;
}

static int unary_run(fg_kctx *c, const uop *u, uparams *p) {
    const fg_tensor *x = c->in[0];
    fg_tensor *y = c->out[0];
    bool proxy;
    ukern k = unary_kernel(u, x->dtype, &proxy);
    if (!k)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s is not supported", fg_dtype_name(x->dtype));
    if (proxy) {
        p->inner = k;
        p->half = x->dtype;
        p->out_bool = u->out_bool;
        k = u_half;
    }
    int64_t n = fg_tensor_numel(x);
    size_t ex = fg_dtype_size(x->dtype), ey = fg_dtype_size(y->dtype);
    int nt = n_workers(c, n, u->heavy);
    if (nt <= 1) {
        if (n > 0)
            k(x->data, y->data, n, p);
        return 0;
    }
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; t++) {
        int64_t lo = chunk_start(n, t, nt), hi = chunk_start(n, t + 1, nt);
        if (hi > lo)
            k((const char *)x->data + lo * ex, (char *)y->data + lo * ey, hi - lo, p);
    }
    return 0;
}

/* ---- unary op entry points ---- */

/* UNARY_OP_P's parameters are uparams initialisers read from attributes; UNARY_OP has none. */
#define UNARY_OP_P(name, tab, ...)                                                                     \
    static int infer_##name(fg_kctx *c) { return unary_infer(c, &tab); }                                \
    static int run_##name(fg_kctx *c) {                                                                \
        uparams p = {__VA_ARGS__};                                                                     \
        return unary_run(c, &tab, &p);                                                                 \
    }
#define UNARY_OP(name, tab) UNARY_OP_P(name, tab, 0)

UNARY_OP(sqrt, U_SQRT)
UNARY_OP(exp, U_EXP)
UNARY_OP(log, U_LOG)
UNARY_OP(recip, U_RECIP)
UNARY_OP(floor, U_FLOOR)
UNARY_OP(ceil, U_CEIL)
UNARY_OP(round, U_ROUND)
UNARY_OP(erf, U_ERF)
UNARY_OP(sin, U_SIN)
UNARY_OP(cos, U_COS)
UNARY_OP(softplus, U_SOFTPLUS)
UNARY_OP(softsign, U_SOFTSIGN)
UNARY_OP(hswish, U_HSWISH)
UNARY_OP(tanh, U_TANH)
UNARY_OP(sigmoid, U_SIGMOID)
UNARY_OP(isnan, U_ISNAN)
UNARY_OP(not, U_NOT)
UNARY_OP(relu, U_RELU)
UNARY_OP(abs, U_ABS)
UNARY_OP(neg, U_NEG)
UNARY_OP(sign, U_SIGN)

/* ops whose parameters come from attributes */

UNARY_OP_P(elu, U_ELU, .alpha = fg_attr_f(c->node, "alpha", 1.0f))
UNARY_OP_P(selu, U_SELU, .alpha = fg_attr_f(c->node, "alpha", 1.67326319217681884765625f),
           .gamma = fg_attr_f(c->node, "gamma", 1.05070102214813232421875f))
UNARY_OP_P(celu, U_CELU, .alpha = fg_attr_f(c->node, "alpha", 1.0f))
UNARY_OP_P(hsigmoid, U_HSIGMOID, .alpha = fg_attr_f(c->node, "alpha", 0.2f), .beta = fg_attr_f(c->node, "beta", 0.5f))
UNARY_OP_P(leaky, U_LEAKY, .alpha = fg_attr_f(c->node, "alpha", 0.01f))
UNARY_OP_P(isinf, U_ISINF,
           .flags = (fg_attr_i(c->node, "detect_negative", 1) ? 1 : 0) | (fg_attr_i(c->node, "detect_positive", 1) ? 2 : 0))

/* Clip: min/max are attributes before opset 11 and optional scalar inputs since */
static int infer_clip(fg_kctx *c) {
    int rc = unary_infer(c, &U_CLIP);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    if (c->opset < 11) {
        if (!is_float_dt(x->dtype))
            return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s before opset 11", fg_dtype_name(x->dtype));
        return 0;
    }
    for (int i = 1; i <= 2; i++) {
        const fg_tensor *b = fg_in(c, i);
        if (!b)
            continue;
        if (b->dtype != x->dtype)
            return FG_KERR(c, FG_EDTYPE, "%s is %s, input is %s", i == 1 ? "min" : "max", fg_dtype_name(b->dtype),
                           fg_dtype_name(x->dtype));
        if (fg_tensor_numel(b) != 1)
            return FG_KERR(c, FG_ESHAPE, "%s must be a scalar", i == 1 ? "min" : "max");
    }
    return 0;
}

static int run_clip(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    uparams p = {.flo = -INFINITY, .fhi = INFINITY, .ilo = INT64_MIN, .ihi = INT64_MAX};
    if (c->opset < 11) {
        p.flo = fg_attr_f(c->node, "min", -FLT_MAX);
        p.fhi = fg_attr_f(c->node, "max", FLT_MAX);
        return unary_run(c, &U_CLIP, &p);
    }
    if (!is_float_dt(x->dtype)) { /* defaults: the type's range (its bits, for uint64) */
        switch (x->dtype) {
        case FG_I8: p.ilo = INT8_MIN, p.ihi = INT8_MAX; break;
        case FG_U8: p.ilo = 0, p.ihi = UINT8_MAX; break;
        case FG_I16: p.ilo = INT16_MIN, p.ihi = INT16_MAX; break;
        case FG_U16: p.ilo = 0, p.ihi = UINT16_MAX; break;
        case FG_I32: p.ilo = INT32_MIN, p.ihi = INT32_MAX; break;
        case FG_U32: p.ilo = 0, p.ihi = UINT32_MAX; break;
        case FG_U64: p.ilo = 0, p.ihi = -1; break;
        default: break;
        }
    }
    const fg_tensor *lo = fg_in(c, 1), *hi = fg_in(c, 2);
    if (lo && is_float_dt(x->dtype))
        p.flo = load_f64(lo->data, lo->dtype, 0);
    else if (lo)
        p.ilo = load_i64(lo->data, lo->dtype, 0);
    if (hi && is_float_dt(x->dtype))
        p.fhi = load_f64(hi->data, hi->dtype, 0);
    else if (hi)
        p.ihi = load_i64(hi->data, hi->dtype, 0);
    return unary_run(c, &U_CLIP, &p);
}

/* ================= broadcasting ================= */

/* Shapes of up to MAX_IN inputs broadcast to the output, collapsed: size-1 output dims dropped and
 * neighbouring dims merged while every input is either real in both or broadcast in both. Strides are
 * in elements of each input, 0 where it is broadcast. */
typedef struct bcast {
    int n_in, rank;
    int64_t numel;
    int64_t dims[FG_MAX_RANK];
    int64_t st[MAX_IN][FG_MAX_RANK];
} bcast;

/* in[k] must be broadcastable to y's shape (checked at infer). */
static void bcast_init(bcast *b, const fg_tensor *y, const fg_tensor *const *in, int n_in) {
    int64_t full[MAX_IN][FG_MAX_RANK];
    int r = y->rank;
    b->n_in = n_in;
    b->rank = 0;
    b->numel = fg_tensor_numel(y);
    for (int k = 0; k < n_in; k++) {
        int64_t acc = 1;
        for (int d = r - 1; d >= 0; d--) {
            int id = d - (r - in[k]->rank);
            int64_t dim = id >= 0 ? in[k]->dims[id] : 1;
            full[k][d] = dim == 1 ? 0 : acc;
            acc *= dim;
        }
    }
    for (int d = 0; d < r; d++) {
        if (y->dims[d] == 1)
            continue;
        bool merge = b->rank > 0;
        for (int k = 0; k < n_in && merge; k++)
            merge = (full[k][d] == 0) == (b->st[k][b->rank - 1] == 0);
        if (!merge)
            b->dims[b->rank++] = 1;
        b->dims[b->rank - 1] *= y->dims[d];
        for (int k = 0; k < n_in; k++)
            b->st[k][b->rank - 1] = full[k][d]; /* a merged dim steps like its innermost part */
    }
    if (b->rank == 0) {
        b->rank = 1;
        b->dims[0] = 1;
        for (int k = 0; k < n_in; k++)
            b->st[k][0] = 0;
    }
}

/* Called per run of the innermost dim: src[k] points at input k's first element, scalar[k] says it
 * stays put (stride 0) rather than advancing (stride 1); n output elements go to dst. */
typedef void (*segfn)(const void *ctx, const char *const *src, const int *scalar, char *dst, int64_t n);

typedef struct walk {
    const bcast *b;
    const char *base[MAX_IN];
    size_t es[MAX_IN], esy;
    char *y;
    segfn fn;
    const void *ctx;
} walk;

/* Copies the first es bytes of dst over the rest of its n elements (all inputs broadcast here). */
static void fill_repeat(char *dst, size_t es, int64_t n) {
    size_t total = es * (size_t)n, have = es;
    while (have < total) {
        size_t k = have < total - have ? have : total - have;
        memcpy(dst + have, dst, k);
        have += k;
    }
}

/* Computes output elements [lo, hi): one index decomposition, then whole runs with a carry per run. */
static void walk_range(const walk *w, int64_t lo, int64_t hi) {
    const bcast *b = w->b;
    int last = b->rank - 1, n_in = b->n_in;
    int64_t idx[FG_MAX_RANK], off[MAX_IN] = {0}, rem = lo, inner = b->dims[last];
    for (int d = last; d >= 0; d--) {
        idx[d] = rem % b->dims[d];
        rem /= b->dims[d];
        for (int k = 0; k < n_in; k++)
            off[k] += idx[d] * b->st[k][d];
    }
    int scalar[MAX_IN] = {0};
    bool all_scalar = true;
    for (int k = 0; k < n_in; k++) {
        scalar[k] = b->st[k][last] == 0;
        all_scalar = all_scalar && scalar[k];
    }
    const char *src[MAX_IN] = {0};
    for (int64_t pos = lo; pos < hi;) {
        int64_t len = inner - idx[last];
        if (len > hi - pos)
            len = hi - pos;
        for (int k = 0; k < n_in; k++)
            src[k] = w->base[k] + (size_t)off[k] * w->es[k];
        char *dst = w->y + (size_t)pos * w->esy;
        if (all_scalar) {
            w->fn(w->ctx, src, scalar, dst, 1);
            fill_repeat(dst, w->esy, len);
        } else {
            w->fn(w->ctx, src, scalar, dst, len);
        }
        pos += len;
        idx[last] += len;
        for (int k = 0; k < n_in; k++)
            off[k] += len * b->st[k][last];
        if (idx[last] < inner || pos >= hi)
            continue;
        idx[last] = 0;
        for (int k = 0; k < n_in; k++)
            off[k] -= inner * b->st[k][last];
        for (int d = last - 1; d >= 0; d--) {
            idx[d]++;
            for (int k = 0; k < n_in; k++)
                off[k] += b->st[k][d];
            if (idx[d] < b->dims[d])
                break;
            idx[d] = 0;
            for (int k = 0; k < n_in; k++)
                off[k] -= b->dims[d] * b->st[k][d];
        }
    }
}

/* Broadcasts in[0..n_in) to y's shape and calls fn per run, split across threads when big. */
static void bcast_run(fg_kctx *c, fg_tensor *y, const fg_tensor *const *in, int n_in, segfn fn, const void *ctx,
                      bool heavy) {
    bcast b;
    bcast_init(&b, y, in, n_in);
    if (b.numel == 0)
        return;
    walk w = {.b = &b, .y = y->data, .esy = fg_dtype_size(y->dtype), .fn = fn, .ctx = ctx};
    for (int k = 0; k < n_in; k++) {
        w.base[k] = in[k]->data;
        w.es[k] = fg_dtype_size(in[k]->dtype);
    }
    int nt = n_workers(c, b.numel, heavy);
    if (nt <= 1) {
        walk_range(&w, 0, b.numel);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int t = 0; t < nt; t++)
        walk_range(&w, chunk_start(b.numel, t, nt), chunk_start(b.numel, t + 1, nt));
}

/* Output shape of broadcasting all n tensors together. */
static int bcast_shape_n(fg_kctx *c, const fg_tensor *const *in, int n, fg_tensor *out) {
    fg_tensor acc = {.rank = in[0]->rank};
    memcpy(acc.dims, in[0]->dims, sizeof acc.dims);
    for (int k = 1; k < n; k++) {
        int r;
        int64_t d[FG_MAX_RANK];
        int rc = fg_broadcast_shape(c, &acc, in[k], &r, d);
        if (rc < 0)
            return rc;
        acc.rank = r;
        memcpy(acc.dims, d, sizeof d);
    }
    out->rank = acc.rank;
    memcpy(out->dims, acc.dims, sizeof acc.dims);
    return 0;
}

/* ================= binary ops ================= */

enum { M_VV = 0, M_VS = 1, M_SV = 2 }; /* both runs, b constant, a constant */

typedef struct bparams bparams;
typedef void (*bkern)(const void *a, const void *b, void *y, int64_t n, int mode, const bparams *p);

struct bparams {
    int fmod;        /* Mod */
    fg_dtype ta, tb; /* input dtypes (Pow mixes them) */
    bkern k;         /* the kernel the segment calls (the float32 one behind a float16 proxy) */
    fg_dtype half;
    bool out_bool;
};

typedef struct bop {
    bkern k[NDT];
    bool out_bool; /* comparisons */
    bool mixed;    /* Pow: the exponent's dtype may differ from the base's */
    bool heavy;
} bop;

/* The loop is written three times so that each vectorizes with its operand in a register or streamed. */
#define BK(name, TA, TB, TY, EXPR)                                                                     \
    static void name(const void *pa_, const void *pb_, void *py_, int64_t n, int mode, const bparams *p) { \
        typedef TA V;                                                                                  \
        const TA *as = pa_;                                                                            \
        const TB *bs = pb_;                                                                            \
        TY *ys = py_;                                                                                  \
        (void)p;                                                                                       \
        (void)sizeof(V);                                                                               \
        if (mode == M_VV) {                                                                            \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                      \
                const TA a = as[i];                                                                    \
                const TB b = bs[i];                                                                    \
                ys[i] = (TY)(EXPR);                                                                    \
            }                                                                                          \
        } else if (mode == M_VS) {                                                                     \
            const TB b = bs[0];                                                                        \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                      \
                const TA a = as[i];                                                                    \
                ys[i] = (TY)(EXPR);                                                                    \
            }                                                                                          \
        } else {                                                                                       \
            const TA a = as[0];                                                                        \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                      \
                const TB b = bs[i];                                                                    \
                ys[i] = (TY)(EXPR);                                                                    \
            }                                                                                          \
        }                                                                                              \
    }

#define BK_FLT(op, EXPR) BK(op##_f32, float, float, float, EXPR) BK(op##_f64, double, double, double, EXPR)
#define BK_FLT_BOOL(op, EXPR) BK(op##_f32, float, float, uint8_t, EXPR) BK(op##_f64, double, double, uint8_t, EXPR)
/* signed add/sub/mul run on the unsigned twins: same bits, and wrapping is defined */
#define TAB_WRAP(op) [FG_I8] = op##_u8, [FG_I16] = op##_u16, [FG_I32] = op##_u32, [FG_I64] = op##_u64, TAB_UINT(op)
#define TAB_INT(op) TAB_SINT(op), TAB_UINT(op)

BK_FLT(b_add, a + b)
BK_FLT(b_sub, a - b)
BK_FLT(b_mul, a * b)
BK_FLT(b_div, a / b)
BK_FLT(b_max, (a > b || a != a) ? a : b) /* NaN wins, as np.maximum */
BK_FLT(b_min, (a < b || a != a) ? a : b)
BK_FLT(b_prelu, a < 0 ? a * b : a)
/* fmod=0 on floats is outside the spec; give the Python (sign of divisor) result like the int case */
BK_FLT(b_mod, p->fmod ? fmod(a, b) : (fmod(a, b) != 0 && ((fmod(a, b) < 0) != (b < 0)) ? fmod(a, b) + b : fmod(a, b)))
BK_FLT_BOOL(b_eq, a == b)
BK_FLT_BOOL(b_lt, a < b)
BK_FLT_BOOL(b_gt, a > b)
BK_FLT_BOOL(b_le, a <= b)
BK_FLT_BOOL(b_ge, a >= b)
BK(b_and_b, uint8_t, uint8_t, uint8_t, (a != 0) & (b != 0))
BK(b_or_b, uint8_t, uint8_t, uint8_t, (a != 0) | (b != 0))
BK(b_xor_b, uint8_t, uint8_t, uint8_t, (a != 0) ^ (b != 0))

/* integer division by zero gives 0 rather than a trap; INT_MIN / -1 wraps */
#define SINT_BINARY(s, T, W, E)                                                                        \
    BK(b_div_##s, T, T, T, b == 0 ? 0 : b == -1 ? (T)((W)0 - (W)a) : a / b)                            \
    BK(b_mod_##s, T, T, T,                                                                             \
       (b == 0 || b == -1) ? 0 : (p->fmod || a % b == 0 || ((a % b < 0) == (b < 0))) ? a % b : a % b + b) \
    BK(b_max_##s, T, T, T, a > b ? a : b)                                                              \
    BK(b_min_##s, T, T, T, a < b ? a : b)                                                              \
    BK(b_prelu_##s, T, T, T, a < 0 ? (T)((W)a * (W)b) : a)                                              \
    BK(b_eq_##s, T, T, uint8_t, a == b)                                                                \
    BK(b_lt_##s, T, T, uint8_t, a < b)                                                                 \
    BK(b_gt_##s, T, T, uint8_t, a > b)                                                                 \
    BK(b_le_##s, T, T, uint8_t, a <= b)                                                                \
    BK(b_ge_##s, T, T, uint8_t, a >= b)
#define UINT_BINARY(s, T, W, E)                                                                        \
    BK(b_add_##s, T, T, T, (W)a + (W)b)                                                                \
    BK(b_sub_##s, T, T, T, (W)a - (W)b)                                                                \
    BK(b_mul_##s, T, T, T, (W)a * (W)b)                                                                \
    BK(b_div_##s, T, T, T, b == 0 ? 0 : a / b)                                                         \
    BK(b_mod_##s, T, T, T, b == 0 ? 0 : a % b)                                                         \
    BK(b_max_##s, T, T, T, a > b ? a : b)                                                              \
    BK(b_min_##s, T, T, T, a < b ? a : b)                                                              \
    BK(b_eq_##s, T, T, uint8_t, a == b)                                                                \
    BK(b_lt_##s, T, T, uint8_t, a < b)                                                                 \
    BK(b_gt_##s, T, T, uint8_t, a > b)                                                                 \
    BK(b_le_##s, T, T, uint8_t, a <= b)                                                                \
    BK(b_ge_##s, T, T, uint8_t, a >= b)
SINT_TYPES(SINT_BINARY)
UINT_TYPES(UINT_BINARY)

/* ---- Pow ---- */

/* Integer power by squaring with wrap-around, as numpy; negative exponents truncate 1/a^-e. */
static int64_t ipow(int64_t a, int64_t e) {
    if (e < 0)
        return a == 1 ? 1 : a == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, x = (uint64_t)a;
    while (e) {
        if (e & 1)
            r *= x;
        x *= x;
        e >>= 1;
    }
    return (int64_t)r;
}

/* float32 ^ float32, with the exponents models actually use (x^2 from LayerNorm, x^3 from GELU,
 * x^0.5) done without powf when the exponent is one constant */
static void b_pow_f32(const void *pa, const void *pb, void *py, int64_t n, int mode, const bparams *p) {
    const float *as = pa, *bs = pb;
    float *ys = py;
    (void)p;
    if (mode == M_VS) {
        float e = bs[0];
        if (e == 2.0f) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                ys[i] = as[i] * as[i];
            return;
        }
        if (e == 3.0f) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                ys[i] = as[i] * as[i] * as[i];
            return;
        }
        if (e == 1.0f) {
            memmove(ys, as, (size_t)n * sizeof *ys);
            return;
        }
        if (e == 0.5f) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                ys[i] = as[i] == -INFINITY ? INFINITY : sqrtf(as[i]);
            return;
        }
        for (int64_t i = 0; i < n; i++)
            ys[i] = powf(as[i], e);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        ys[i] = powf(as[mode == M_SV ? 0 : i], bs[i]);
}

BK(b_pow_f64, double, double, double, pow(a, b))

/* every other base/exponent pair: per element through double or int64, like numpy's promotion */
static void b_pow_mixed(const void *pa, const void *pb, void *py, int64_t n, int mode, const bparams *p) {
    bool fa = is_float_dt(p->ta), fb = is_float_dt(p->tb);
    for (int64_t i = 0; i < n; i++) {
        int64_t ia = mode == M_SV ? 0 : i, ib = mode == M_VS ? 0 : i;
        switch (p->ta) {
        case FG_F32: ((float *)py)[i] = (float)pow((double)((const float *)pa)[ia], load_f64(pb, p->tb, ib)); break;
        case FG_F64: ((double *)py)[i] = pow(((const double *)pa)[ia], load_f64(pb, p->tb, ib)); break;
        default: {
            int64_t a = load_i64(pa, p->ta, ia), r;
            if (!fa && !fb)
                r = ipow(a, load_i64(pb, p->tb, ib));
            else
                r = f2i64(pow((double)a, load_f64(pb, p->tb, ib)));
            if (p->ta == FG_I32)
                ((int32_t *)py)[i] = (int32_t)r;
            else
                ((int64_t *)py)[i] = r;
            break;
        }
        }
    }
}

static const bop B_ADD = {.k = {TAB_FLT(b_add), TAB_WRAP(b_add)}};
static const bop B_SUB = {.k = {TAB_FLT(b_sub), TAB_WRAP(b_sub)}};
static const bop B_MUL = {.k = {TAB_FLT(b_mul), TAB_WRAP(b_mul)}};
static const bop B_DIV = {.k = {TAB_FLT(b_div), TAB_INT(b_div)}};
static const bop B_MOD = {.k = {TAB_FLT(b_mod), TAB_INT(b_mod)}, .heavy = true};
static const bop B_MAX = {.k = {TAB_FLT(b_max), TAB_INT(b_max)}};
static const bop B_MIN = {.k = {TAB_FLT(b_min), TAB_INT(b_min)}};
static const bop B_PRELU = {.k = {TAB_FLT(b_prelu), TAB_SINT(b_prelu)}};
static const bop B_POW = {.k = {[FG_F32] = b_pow_f32, [FG_F64] = b_pow_f64, [FG_I32] = b_pow_mixed, [FG_I64] = b_pow_mixed},
                          .mixed = true,
                          .heavy = true};
static const bop B_EQ = {.k = {TAB_FLT(b_eq), TAB_INT(b_eq), [FG_BOOL] = b_eq_u8}, .out_bool = true};
static const bop B_LT = {.k = {TAB_FLT(b_lt), TAB_INT(b_lt)}, .out_bool = true};
static const bop B_GT = {.k = {TAB_FLT(b_gt), TAB_INT(b_gt)}, .out_bool = true};
static const bop B_LE = {.k = {TAB_FLT(b_le), TAB_INT(b_le)}, .out_bool = true};
static const bop B_GE = {.k = {TAB_FLT(b_ge), TAB_INT(b_ge)}, .out_bool = true};
static const bop B_AND = {.k = {[FG_BOOL] = b_and_b}, .out_bool = true};
static const bop B_OR = {.k = {[FG_BOOL] = b_or_b}, .out_bool = true};
static const bop B_XOR = {.k = {[FG_BOOL] = b_xor_b}, .out_bool = true};

static int bin_mode(const int *scalar) { return scalar[0] ? M_SV : scalar[1] ? M_VS : M_VV; }

static void seg_bin(const void *ctx, const char *const *src, const int *scalar, char *dst, int64_t n) {
    const bparams *p = ctx;
    p->k(src[0], src[1], dst, n, bin_mode(scalar), p);
}

/* float16/bfloat16 operands converted to float32 in stack blocks around the float32 kernel */
static void seg_bin_half(const void *ctx, const char *const *src, const int *scalar, char *dst, int64_t n) {
    const bparams *p = ctx;
    float ta[HALF_BLOCK], tb[HALF_BLOCK], ty[HALF_BLOCK];
    const uint16_t *a = (const uint16_t *)src[0], *b = (const uint16_t *)src[1];
    int mode = bin_mode(scalar);
    if (scalar[0])
        ta[0] = half_get(p->half, a, 0);
    if (scalar[1])
        tb[0] = half_get(p->half, b, 0);
    for (int64_t i0 = 0; i0 < n; i0 += HALF_BLOCK) {
        int64_t m = n - i0 < HALF_BLOCK ? n - i0 : HALF_BLOCK;
        if (!scalar[0])
            half_to_f32(p->half, a + i0, ta, m);
        if (!scalar[1])
            half_to_f32(p->half, b + i0, tb, m);
        if (p->out_bool) {
            p->k(ta, tb, (uint8_t *)dst + i0, m, mode, p);
        } else {
            p->k(ta, tb, ty, m, mode, p);
            f32_to_half(p->half, ty, (uint16_t *)dst + i0, m);
        }
    }
}

/* Kernel for inputs of dtype ta/tb under o, or NULL; *half is set when it is a float32 kernel that
 * must run behind the float16 proxy. */
static bkern binary_kernel(const bop *o, fg_dtype ta, fg_dtype tb, bool *half) {
    *half = false;
    if ((unsigned)ta >= NDT)
        return NULL;
    if (o->mixed) {
        if (!is_numeric_dt(tb) || !o->k[ta])
            return NULL;
        if (ta == FG_F32 && tb != FG_F32)
            return b_pow_mixed;
        if (ta == FG_F64 && tb != FG_F64)
            return b_pow_mixed;
        return o->k[ta];
    }
    if (ta != tb)
        return NULL;
    if (o->k[ta])
        return o->k[ta];
    if (is_half(ta) && o->k[FG_F32]) {
        *half = true;
        return o->k[FG_F32];
    }
    return NULL;
}

/* Shapes the kernel sees for the two inputs: numpy's, except before opset 7, where B is aligned to A at
 * `axis` when broadcast=1 and PRelu's 1-D slope runs along the channel axis. */
static void binary_views(const fg_kctx *c, fg_tensor *va, fg_tensor *vb) {
    *va = *c->in[0];
    *vb = *c->in[1];
    if (c->opset >= 7)
        return;
    const fg_tensor *a = c->in[0], *b = c->in[1];
    if (strcmp(c->node->op_type, "PRelu") == 0) {
        if (b->rank == 1 && a->rank >= 2 && b->dims[0] == a->dims[1]) {
            vb->rank = a->rank;
            for (int d = 0; d < a->rank; d++)
                vb->dims[d] = d == 1 ? b->dims[0] : 1;
        }
        return;
    }
    if (!fg_attr_i(c->node, "broadcast", 0) || b->rank > a->rank)
        return;
    int64_t axis = fg_attr_i(c->node, "axis", a->rank - b->rank);
    if (axis < 0)
        axis += a->rank;
    if (axis < 0 || axis + b->rank > a->rank)
        return; /* leave numpy's rule to report the mismatch */
    vb->rank = a->rank;
    for (int d = 0; d < a->rank; d++)
        vb->dims[d] = d >= axis && d < axis + b->rank ? b->dims[d - axis] : 1;
}

static int binary_infer(fg_kctx *c, const bop *o) {
    const fg_tensor *a = fg_in(c, 0), *b = fg_in(c, 1);
    bool half;
    if (!a || !b)
        return FG_KERR(c, FG_EINVAL, "two inputs are required");
    if (!o->mixed && a->dtype != b->dtype)
        return FG_KERR(c, FG_EDTYPE, "inputs are %s and %s", fg_dtype_name(a->dtype), fg_dtype_name(b->dtype));
    if (!binary_kernel(o, a->dtype, b->dtype, &half))
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s is not supported", fg_dtype_name(a->dtype));
    fg_tensor va, vb;
    binary_views(c, &va, &vb);
    int r, rc;
    int64_t d[FG_MAX_RANK];
    if ((rc = fg_broadcast_shape(c, &va, &vb, &r, d)) < 0)
        return rc;
    if (strcmp(c->node->op_type, "PRelu") == 0 && (r != a->rank || memcmp(d, a->dims, sizeof *d * (size_t)r) != 0))
        return FG_KERR(c, FG_ESHAPE, "slope does not broadcast to the input's shape");
    fg_set_shape(c->out[0], o->out_bool ? FG_BOOL : a->dtype, r, d);
    return 0;
}

/* y = a op b for tensors already checked by binary_infer (a, b may be y itself: runs read before writing). */
static int binary_apply(fg_kctx *c, const bop *o, bparams *p, const fg_tensor *a, const fg_tensor *b, fg_tensor *y) {
    bool half;
    bkern k = binary_kernel(o, a->dtype, b->dtype, &half);
    if (!k)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s is not supported", fg_dtype_name(a->dtype));
    p->ta = a->dtype;
    p->tb = b->dtype;
    p->k = k;
    p->half = a->dtype;
    p->out_bool = o->out_bool;
    const fg_tensor *in[2] = {a, b};
    bcast_run(c, y, in, 2, half ? seg_bin_half : seg_bin, p, o->heavy);
    return 0;
}

static int binary_run(fg_kctx *c, const bop *o, bparams *p) {
    fg_tensor va, vb;
    binary_views(c, &va, &vb);
    return binary_apply(c, o, p, &va, &vb, c->out[0]);
}

#define BINARY_OP(name, tab)                                                                           \
    static int infer_##name(fg_kctx *c) { return binary_infer(c, &tab); }                               \
    static int run_##name(fg_kctx *c) {                                                                \
        bparams p = {0};                                                                               \
        return binary_run(c, &tab, &p);                                                                \
    }

BINARY_OP(add, B_ADD)
BINARY_OP(sub, B_SUB)
BINARY_OP(mul, B_MUL)
BINARY_OP(div, B_DIV)
BINARY_OP(pow, B_POW)
BINARY_OP(prelu, B_PRELU)
BINARY_OP(equal, B_EQ)
BINARY_OP(less, B_LT)
BINARY_OP(greater, B_GT)
BINARY_OP(less_eq, B_LE)
BINARY_OP(greater_eq, B_GE)
BINARY_OP(and, B_AND)
BINARY_OP(or, B_OR)
BINARY_OP(xor, B_XOR)

static int infer_mod(fg_kctx *c) { return binary_infer(c, &B_MOD); }

static int run_mod(fg_kctx *c) {
    bparams p = {.fmod = fg_attr_i(c->node, "fmod", 0) != 0};
    return binary_run(c, &B_MOD, &p);
}

/* ================= variadic ops: Max, Min, Sum, Mean ================= */

static int variadic_infer(fg_kctx *c, const bop *o, bool mean) {
    if (c->n_in < 1)
        return FG_KERR(c, FG_EINVAL, "at least one input is required");
    for (int k = 0; k < c->n_in; k++) {
        if (!c->in[k])
            return FG_KERR(c, FG_EINVAL, "input %d is required", k);
        if (c->in[k]->dtype != c->in[0]->dtype)
            return FG_KERR(c, FG_EDTYPE, "input %d is %s, input 0 is %s", k, fg_dtype_name(c->in[k]->dtype),
                           fg_dtype_name(c->in[0]->dtype));
    }
    bool half;
    fg_dtype t = c->in[0]->dtype;
    if (!binary_kernel(o, t, t, &half) || (mean && !is_float_dt(t)))
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s is not supported", fg_dtype_name(t));
    int rc = bcast_shape_n(c, (const fg_tensor *const *)c->in, c->n_in, c->out[0]);
    c->out[0]->dtype = t;
    return rc;
}

/* y = in0 op in1, then y = y op in_k: each pass walks y's full shape, in place */
static int variadic_run(fg_kctx *c, const bop *o, bool mean) {
    fg_tensor *y = c->out[0];
    int64_t n = fg_tensor_numel(y);
    bparams p = {0};
    int rc = 0;
    if (n == 0)
        return 0;
    if (c->n_in == 1) {
        memcpy(y->data, c->in[0]->data, (size_t)n * fg_dtype_size(y->dtype));
    } else {
        rc = binary_apply(c, o, &p, c->in[0], c->in[1], y);
        for (int k = 2; k < c->n_in && rc == 0; k++)
            rc = binary_apply(c, o, &p, y, c->in[k], y);
    }
    if (rc < 0 || !mean || c->n_in == 1)
        return rc;
    switch (y->dtype) {
    case FG_F32: {
        float *v = y->data, s = (float)c->n_in;
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            v[i] /= s;
        break;
    }
    case FG_F64: {
        double *v = y->data, s = c->n_in;
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            v[i] /= s;
        break;
    }
    default: { /* float16 / bfloat16 */
        uint16_t *v = y->data;
        for (int64_t i = 0; i < n; i++) {
            float f = half_get(y->dtype, v, i) / (float)c->n_in;
            v[i] = y->dtype == FG_F16 ? f2h(f) : f2bf(f);
        }
        break;
    }
    }
    return 0;
}

static int infer_max(fg_kctx *c) { return variadic_infer(c, &B_MAX, false); }
static int run_max(fg_kctx *c) { return variadic_run(c, &B_MAX, false); }
static int infer_min(fg_kctx *c) { return variadic_infer(c, &B_MIN, false); }
static int run_min(fg_kctx *c) { return variadic_run(c, &B_MIN, false); }
static int infer_sum(fg_kctx *c) { return variadic_infer(c, &B_ADD, false); }
static int run_sum(fg_kctx *c) { return variadic_run(c, &B_ADD, false); }
static int infer_mean(fg_kctx *c) { return variadic_infer(c, &B_ADD, true); }
static int run_mean(fg_kctx *c) { return variadic_run(c, &B_ADD, true); }

/* ================= Where ================= */

#define WHERE_CASE(T)                                                                                  \
    {                                                                                                  \
        const T *x = (const T *)src[1], *y = (const T *)src[2];                                        \
        T *o = (T *)dst;                                                                               \
        if (!scalar[0] && !scalar[1] && !scalar[2]) {                                                  \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                      \
                T xv = x[i], yv = y[i]; /* both loaded: a conditional load blocks vectorizing */        \
                o[i] = cond[i] ? xv : yv;                                                              \
            }                                                                                          \
        } else {                                                                                       \
            for (int64_t i = 0; i < n; i++)                                                            \
                o[i] = cond[i * sc] ? x[i * sx] : y[i * sy];                                           \
        }                                                                                              \
        break;                                                                                         \
    }

/* Where moves bytes: one kernel per element size serves every dtype */
static void seg_where(const void *ctx, const char *const *src, const int *scalar, char *dst, int64_t n) {
    size_t es = *(const size_t *)ctx;
    const uint8_t *cond = (const uint8_t *)src[0];
    int64_t sc = !scalar[0], sx = !scalar[1], sy = !scalar[2];
    switch (es) {
    case 1: WHERE_CASE(uint8_t)
    case 2: WHERE_CASE(uint16_t)
    case 4: WHERE_CASE(uint32_t)
    default: WHERE_CASE(uint64_t)
    }
}

static int infer_where(fg_kctx *c) {
    if (c->n_in < 3 || !c->in[0] || !c->in[1] || !c->in[2])
        return FG_KERR(c, FG_EINVAL, "three inputs are required");
    if (c->in[0]->dtype != FG_BOOL)
        return FG_KERR(c, FG_EDTYPE, "condition is %s, not bool", fg_dtype_name(c->in[0]->dtype));
    fg_dtype t = c->in[1]->dtype;
    if (c->in[2]->dtype != t)
        return FG_KERR(c, FG_EDTYPE, "X is %s, Y is %s", fg_dtype_name(t), fg_dtype_name(c->in[2]->dtype));
    size_t es = fg_dtype_size(t);
    if (es != 1 && es != 2 && es != 4 && es != 8)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s is not supported", fg_dtype_name(t));
    int rc = bcast_shape_n(c, (const fg_tensor *const *)c->in, 3, c->out[0]);
    c->out[0]->dtype = t;
    return rc;
}

static int run_where(fg_kctx *c) {
    size_t es = fg_dtype_size(c->in[1]->dtype);
    bcast_run(c, c->out[0], (const fg_tensor *const *)c->in, 3, seg_where, &es, false);
    return 0;
}

/* ================= Cast ================= */

static bool cast_ok(fg_dtype t) { return is_numeric_dt(t) || t == FG_BOOL; }

/* Conversions to each destination from a C value v; float sources get defined truncation (f2i64). */
#define TO_INT(TD, v) _Generic((v), float: (TD)f2i64(v), double: (TD)f2i64(v), default: (TD)(v))
#define TO_U64(v) _Generic((v), float: f2u64(v), double: f2u64(v), default: (uint64_t)(v))
#define TO_F16(v) _Generic((v), double: d2h(v), default: f2h((float)(v)))

#define CAST_LOOP(TD, CONV)                                                                            \
    {                                                                                                  \
        TD *d = dst;                                                                                   \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++) {                                          \
            const LT v = LOAD(i);                                                                      \
            d[i] = CONV;                                                                               \
        }                                                                                              \
        return 0;                                                                                      \
    }

/* the destination switch, for a source whose elements LOAD(i) reads as type LT */
#define CAST_TO_ALL                                                                                    \
    switch (td) {                                                                                      \
    case FG_F32: CAST_LOOP(float, (float)v)                                                            \
    case FG_F64: CAST_LOOP(double, (double)v)                                                          \
    case FG_F16: CAST_LOOP(uint16_t, TO_F16(v))                                                        \
    case FG_BF16: CAST_LOOP(uint16_t, f2bf((float)v))                                                  \
    case FG_I8: CAST_LOOP(int8_t, TO_INT(int8_t, v))                                                   \
    case FG_U8: CAST_LOOP(uint8_t, TO_INT(uint8_t, v))                                                 \
    case FG_I16: CAST_LOOP(int16_t, TO_INT(int16_t, v))                                                \
    case FG_U16: CAST_LOOP(uint16_t, TO_INT(uint16_t, v))                                              \
    case FG_I32: CAST_LOOP(int32_t, TO_INT(int32_t, v))                                                \
    case FG_U32: CAST_LOOP(uint32_t, TO_INT(uint32_t, v))                                              \
    case FG_I64: CAST_LOOP(int64_t, TO_INT(int64_t, v))                                                \
    case FG_U64: CAST_LOOP(uint64_t, TO_U64(v))                                                        \
    case FG_BOOL: CAST_LOOP(uint8_t, (uint8_t)(v != 0))                                                \
    default: return -1;                                                                                \
    }

#define CAST_FROM(TS)                                                                                  \
    {                                                                                                  \
        typedef TS LT;                                                                                 \
        const TS *s = src;                                                                             \
        CAST_TO_ALL                                                                                    \
    }

/* Converts n elements of src (dtype ts) into dst (dtype td); -1 for an unsupported pair. */
static int cast_block(const void *src, fg_dtype ts, void *dst, fg_dtype td, int64_t n) {
#define LOAD(i) s[i]
    switch (ts) {
    case FG_F32: CAST_FROM(float)
    case FG_F64: CAST_FROM(double)
    case FG_I8: CAST_FROM(int8_t)
    case FG_U8: case FG_BOOL: CAST_FROM(uint8_t)
    case FG_I16: CAST_FROM(int16_t)
    case FG_U16: CAST_FROM(uint16_t)
    case FG_I32: CAST_FROM(int32_t)
    case FG_U32: CAST_FROM(uint32_t)
    case FG_I64: CAST_FROM(int64_t)
    case FG_U64: CAST_FROM(uint64_t)
    default: break;
    }
#undef LOAD
    if (!is_half(ts))
        return -1;
    /* float16/bfloat16 sources: every value is exact in float */
    {
        typedef float LT;
        const uint16_t *s = src;
#define LOAD(i) half_get(ts, s, i)
        CAST_TO_ALL
#undef LOAD
    }
}

static int cast_infer_to(fg_kctx *c, fg_dtype to) {
    const fg_tensor *x = fg_in(c, 0);
    if (!x)
        return FG_KERR(c, FG_EINVAL, "input 0 is required");
    if (!cast_ok(x->dtype) || !cast_ok(to))
        return FG_KERR(c, FG_EUNSUPPORTED, "cast from %s to %s is not supported", fg_dtype_name(x->dtype),
                       fg_dtype_name(to));
    fg_set_shape(c->out[0], to, x->rank, x->dims);
    return 0;
}

static int infer_cast(fg_kctx *c) {
    int64_t to = fg_attr_i(c->node, "to", -1);
    if (to < 0 || to >= NDT)
        return to == -1 ? FG_KERR(c, FG_EINVAL, "attribute 'to' is required")
                        : FG_KERR(c, FG_EUNSUPPORTED, "cast to data type %lld is not supported", (long long)to);
    return cast_infer_to(c, (fg_dtype)to);
}

static int infer_castlike(fg_kctx *c) {
    if (!fg_in(c, 1))
        return FG_KERR(c, FG_EINVAL, "input 1 (target_type) is required");
    return cast_infer_to(c, c->in[1]->dtype);
}

static int run_cast(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    fg_tensor *y = c->out[0];
    int64_t n = fg_tensor_numel(x);
    size_t ex = fg_dtype_size(x->dtype), ey = fg_dtype_size(y->dtype);
    if (n == 0)
        return 0; /* empty tensors may have no buffer at all */
    if (x->dtype == y->dtype) {
        memcpy(y->data, x->data, (size_t)n * ex);
        return 0;
    }
    int nt = n_workers(c, n, false), bad = 0;
    if (nt <= 1) {
        bad = cast_block(x->data, x->dtype, y->data, y->dtype, n) < 0;
    } else {
#pragma omp parallel for num_threads(nt) schedule(static, 1) reduction(| : bad)
        for (int t = 0; t < nt; t++) {
            int64_t lo = chunk_start(n, t, nt), hi = chunk_start(n, t + 1, nt);
            bad |= cast_block((const char *)x->data + lo * ex, x->dtype, (char *)y->data + lo * ey, y->dtype, hi - lo) < 0;
        }
    }
    if (bad)
        return FG_KERR(c, FG_EUNSUPPORTED, "cast from %s to %s is not supported", fg_dtype_name(x->dtype),
                       fg_dtype_name(y->dtype));
    return 0;
}

/* ================= table ================= */

#define EW FG_OP_ELEMENTWISE
#define OP(tname, name) {.type = tname, .infer = infer_##name, .run = run_##name, .flags = EW}

/* The element-wise family: every op here is FG_OP_ELEMENTWISE (output i reads input element i when
 * shapes match), none aliases its input. */
const fg_op_def fg_ops_elementwise[] = {
    OP("Add", add),
    OP("Sub", sub),
    OP("Mul", mul),
    OP("Div", div),
    OP("Pow", pow),
    OP("Mod", mod),
    OP("Sqrt", sqrt),
    OP("Exp", exp),
    OP("Log", log),
    OP("Abs", abs),
    OP("Neg", neg),
    OP("Reciprocal", recip),
    OP("Floor", floor),
    OP("Ceil", ceil),
    OP("Round", round),
    OP("Sign", sign),
    OP("Max", max),
    OP("Min", min),
    OP("Sum", sum),
    OP("Mean", mean),
    OP("Relu", relu),
    OP("LeakyRelu", leaky),
    OP("PRelu", prelu),
    OP("Elu", elu),
    OP("Selu", selu),
    OP("Celu", celu),
    OP("Sigmoid", sigmoid),
    OP("HardSigmoid", hsigmoid),
    OP("HardSwish", hswish),
    OP("Softplus", softplus),
    OP("Softsign", softsign),
    OP("Tanh", tanh),
    OP("Erf", erf),
    OP("Sin", sin),
    OP("Cos", cos),
    OP("Clip", clip),
    OP("Equal", equal),
    OP("Less", less),
    OP("Greater", greater),
    OP("LessOrEqual", less_eq),
    OP("GreaterOrEqual", greater_eq),
    OP("Not", not),
    OP("And", and),
    OP("Or", or),
    OP("Xor", xor),
    OP("Where", where),
    OP("Cast", cast),
    {.type = "CastLike", .infer = infer_castlike, .run = run_cast, .flags = EW},
    OP("IsNaN", isnan),
    OP("IsInf", isinf),
    {0},
};
