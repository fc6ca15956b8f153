/* reduce.c - reductions and normalisations along axes: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/
 * Hardmax, LayerNormalization, InstanceNormalization, LpNormalization, MeanVarianceNormalization, CumSum
 * and TopK. Kernels view their input as [outer, axis, inner], or for multi-axis reductions as
 * alternating groups of kept and reduced dimensions, so hot loops walk contiguous memory without
 * per-element index arithmetic. Long float sums run in short float blocks folded into doubles. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "engine/ops/ops.h"

/* glibc declares libmvec's SIMD expf only under -ffast-math; declaring it here lets `omp simd` loops
 * call the vector variant while every other operation keeps IEEE semantics. */
#if defined(__x86_64__) && defined(_OPENMP) && !defined(__FAST_MATH__)
#pragma omp declare simd notinbranch
extern float expf(float);
#endif

enum {
    PAR_MIN = 1 << 15, /* elements below which starting threads costs more than it saves */
    CH = 256,          /* width of the inner chunk kept on the stack when the axis is not innermost */
    BLK = 512,         /* float-summed block length before folding into a double */
    LANES = 16,        /* independent partial results in a horizontal reduction */
};

/* Row kernels are built for the x86-64-v4 (AVX-512) and v3 (AVX2) ISA levels and baseline, with runtime
 * dispatch (the project compiles for baseline), so their `omp simd` loops use the widest vectors and the
 * matching libmvec expf. ISA levels dispatch on CPU features; "arch=haswell"-style clones dispatch on the
 * exact CPU model and fall back to baseline on newer or virtualised CPUs. The small helpers the kernels
 * call are always inlined, hence compiled for each clone's ISA. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define RD_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RD_HOT
#endif
#define RD_INLINE static inline __attribute__((always_inline))

static int nthreads(const fg_kctx *c) { return c->n_threads > 0 ? c->n_threads : 1; }

/* Product of d[a..b). */
static int64_t span(const int64_t *d, int a, int b) {
    int64_t p = 1;
    for (int i = a; i < b; i++)
        p *= d[i];
    return p;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* ---------------------------------------------------------------------------------------------- */
/* float segment reductions                                                                        */

/* Horizontal reductions keep LANES partial results in an array that gcc turns into vector registers;
 * `omp simd reduction` would spill its accumulator to the stack on every iteration. F(v) maps each
 * element, C(a, b) combines. */
#define LANE_REDUCE(NAME, INIT, F, C)                                                                    \
    RD_INLINE float NAME(const float *x, int64_t n, float mu) {                                          \
        float a[LANES];                                                                                  \
        for (int k = 0; k < LANES; k++)                                                                  \
            a[k] = INIT;                                                                                 \
        int64_t i = 0;                                                                                   \
        for (; i + LANES <= n; i += LANES)                                                               \
            for (int k = 0; k < LANES; k++) {                                                            \
                float v = x[i + k];                                                                      \
                a[k] = C(a[k], F(v));                                                                    \
            }                                                                                            \
        for (int k = 0; i < n; i++, k++) {                                                               \
            float v = x[i];                                                                              \
            a[k] = C(a[k], F(v));                                                                        \
        }                                                                                                \
        _Pragma("GCC unroll 4") /* a tree, not a 16-long dependency chain */                             \
        for (int w = LANES / 2; w > 0; w /= 2)                                                           \
            _Pragma("GCC unroll 8")                                                                      \
            for (int k = 0; k < w; k++)                                                                  \
                a[k] = C(a[k], a[k + w]);                                                                \
        float t = a[0];                                                                                  \
        (void)mu;                                                                                        \
        return t;                                                                                        \
    }

#define F_ID(v) (v)
#define F_SQ(v) ((v) * (v))
#define F_ABS(v) fabsf(v)
#define F_DEV2(v) (((v) - mu) * ((v) - mu))
#define C_ADD(a, b) ((a) + (b))
#define C_MAX(a, b) ((b) > (a) ? (b) : (a))
#define C_MIN(a, b) ((b) < (a) ? (b) : (a))
LANE_REDUCE(lane_sum, 0.0f, F_ID, C_ADD)
LANE_REDUCE(lane_sumsq, 0.0f, F_SQ, C_ADD)
LANE_REDUCE(lane_sumabs, 0.0f, F_ABS, C_ADD)
LANE_REDUCE(lane_dev2, 0.0f, F_DEV2, C_ADD)
LANE_REDUCE(lane_max, -INFINITY, F_ID, C_MAX)
LANE_REDUCE(lane_min, INFINITY, F_ID, C_MIN)

/* y[i] = expf(x[i] - m): the only vector math call; libmvec supplies the SIMD variant. */
RD_INLINE void exp_shift(const float *x, float *y, int64_t n, float m) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = expf(x[i] - m);
}

typedef enum seg { S_SUM, S_SUMSQ, S_SUMABS, S_SUMEXP, S_PROD, S_MAX, S_MIN } seg;

static double seg_init(seg s) {
    switch (s) {
    case S_PROD: return 1;
    case S_MAX: return -INFINITY;
    case S_MIN: return INFINITY;
    default: return 0;
    }
}

static double seg_comb(seg s, double a, double b) {
    switch (s) {
    case S_PROD: return a * b;
    case S_MAX: return b > a ? b : a;
    case S_MIN: return b < a ? b : a;
    default: return a + b;
    }
}

/* Reduces x[0], x[st], ... x[(n-1)*st] with s; m is the shift subtracted before exp for S_SUMEXP. Sums
 * run in float over blocks of BLK and fold into a double, which keeps long reductions within tolerance. */
RD_HOT static double seg_f32(seg s, const float *x, int64_t n, int64_t st, float m) {
    double acc = seg_init(s);
    if (st != 1) {
        for (int64_t i = 0; i < n; i++) {
            float v = x[i * st];
            switch (s) {
            case S_SUM: acc += v; break;
            case S_SUMSQ: acc += (double)v * v; break;
            case S_SUMABS: acc += fabsf(v); break;
            case S_SUMEXP: acc += expf(v - m); break;
            case S_PROD: acc *= v; break;
            case S_MAX: acc = v > acc ? v : acc; break;
            case S_MIN: acc = v < acc ? v : acc; break;
            }
        }
        return acc;
    }
    float tmp[BLK];
    for (int64_t b = 0; b < n; b += BLK) {
        const float *p = x + b;
        int64_t e = min64(n - b, BLK);
        switch (s) {
        case S_SUM: acc += lane_sum(p, e, 0); break;
        case S_SUMSQ: acc += lane_sumsq(p, e, 0); break;
        case S_SUMABS: acc += lane_sumabs(p, e, 0); break;
        case S_SUMEXP:
            exp_shift(p, tmp, e, m);
            acc += lane_sum(tmp, e, 0);
            break;
        case S_PROD:
            for (int64_t i = 0; i < e; i++)
                acc *= p[i];
            break;
        case S_MAX: acc = seg_comb(s, acc, lane_max(p, e, 0)); break;
        case S_MIN: acc = seg_comb(s, acc, lane_min(p, e, 0)); break;
        }
    }
    return acc;
}

static float max_f32(const float *x, int64_t n) { return (float)seg_f32(S_MAX, x, n, 1, 0); }

/* ---------------------------------------------------------------------------------------------- */
/* Reduce*                                                                                         */

typedef enum rop { R_SUM, R_MEAN, R_SUMSQ, R_L1, R_L2, R_LOGSUM, R_LSE, R_PROD, R_MAX, R_MIN } rop;

static const seg rop_seg[] = {S_SUM, S_SUM, S_SUMSQ, S_SUMABS, S_SUMSQ, S_SUM, S_SUMEXP, S_PROD, S_MAX, S_MIN};

/* Turns an accumulated value over n elements into the op's result (m: the max, for LogSumExp). */
static double rop_fin(rop op, double a, double m, int64_t n) {
    switch (op) {
    case R_MEAN: return a / (double)n;
    case R_L2: return sqrt(a);
    case R_LOGSUM: return log(a);
    case R_LSE: return isfinite(m) ? m + log(a) : m;
    default: return a;
    }
}

/* The input seen as alternating groups of kept and reduced dimensions: size-1 dimensions are dropped
 * and neighbours with the same role merged, so [N,C,H,W] reduced over H,W is [K:N*C, R:H*W]. */
typedef struct rlay {
    int m;
    int64_t size[FG_MAX_RANK], stride[FG_MAX_RANK];
    bool red[FG_MAX_RANK];
    int64_t n_out, n_red;
    /* kept groups (output order) and the reduced groups but the innermost one, which is walked as a
     * strided segment (in_n elements, in_st apart) */
    int n_ko, n_ro;
    int64_t ko_n[FG_MAX_RANK], ko_st[FG_MAX_RANK], ro_n[FG_MAX_RANK], ro_st[FG_MAX_RANK];
    int64_t in_n, in_st;
    bool fast; /* exactly [O, R, I] (any of them possibly 1) */
    int64_t O, R, I;
} rlay;

static void rlay_build(const fg_tensor *x, const bool *mask, rlay *L) {
    memset(L, 0, sizeof *L);
    for (int d = 0; d < x->rank; d++) {
        if (x->dims[d] == 1)
            continue;
        if (L->m > 0 && L->red[L->m - 1] == mask[d]) {
            L->size[L->m - 1] *= x->dims[d];
        } else {
            L->size[L->m] = x->dims[d];
            L->red[L->m] = mask[d];
            L->m++;
        }
    }
    if (L->m == 0) { /* a single element */
        L->size[0] = 1;
        L->m = 1;
    }
    int64_t s = 1;
    for (int g = L->m - 1; g >= 0; g--) {
        L->stride[g] = s;
        s *= L->size[g];
    }
    L->n_out = L->n_red = 1;
    int nr = 0, last_r = -1;
    for (int g = 0; g < L->m; g++) {
        if (L->red[g]) {
            L->n_red *= L->size[g];
            nr++;
            last_r = g;
        } else {
            L->n_out *= L->size[g];
            L->ko_n[L->n_ko] = L->size[g];
            L->ko_st[L->n_ko++] = L->stride[g];
        }
    }
    L->in_n = 1;
    L->in_st = 1;
    for (int g = 0; g < L->m; g++) {
        if (!L->red[g])
            continue;
        if (g == last_r) {
            L->in_n = L->size[g];
            L->in_st = L->stride[g];
        } else {
            L->ro_n[L->n_ro] = L->size[g];
            L->ro_st[L->n_ro++] = L->stride[g];
        }
    }
    if (nr == 0) {
        L->fast = true;
        L->O = 1;
        L->R = 1;
        L->I = L->n_out;
    } else if (nr == 1) { /* groups alternate, so at most one kept group on each side */
        L->fast = true;
        L->O = last_r > 0 ? L->size[0] : 1;
        L->R = L->size[last_r];
        L->I = last_r < L->m - 1 ? L->size[L->m - 1] : 1;
    }
}

/* Input offset of the first element reduced into output o. */
static int64_t rlay_base(const rlay *L, int64_t o) {
    int64_t base = 0;
    for (int k = L->n_ko - 1; k >= 0; k--) {
        base += (o % L->ko_n[k]) * L->ko_st[k];
        o /= L->ko_n[k];
    }
    return base;
}

/* Steps the odometer over the outer reduced groups; false once every combination was visited. */
static bool rlay_next(const rlay *L, int64_t *idx, int64_t *off) {
    for (int k = L->n_ro - 1; k >= 0; k--) {
        *off += L->ro_st[k];
        if (++idx[k] < L->ro_n[k])
            return true;
        *off -= L->ro_st[k] * L->ro_n[k];
        idx[k] = 0;
    }
    return false;
}

/* Reduces the whole reduced set of one output (x points at its first element) with SEG over each inner
 * run: the general path. */
#define DEF_GATHER(T, NAME, SEG)                                                                        \
    static double NAME(const rlay *L, seg s, const T *x, T m) {                                         \
        double acc = seg_init(s);                                                                       \
        if (L->n_red == 0)                                                                              \
            return acc;                                                                                 \
        int64_t idx[FG_MAX_RANK] = {0}, off = 0;                                                        \
        do                                                                                              \
            acc = seg_comb(s, acc, SEG(s, x + off, L->in_n, L->in_st, m));                              \
        while (rlay_next(L, idx, &off));                                                                \
        return acc;                                                                                     \
    }

DEF_GATHER(float, gather_f32, seg_f32)

/* Contiguous rows: y[o] = op(x[o, 0..R)). */
static void reduce_rows_f32(rop op, const float *x, float *y, int64_t O, int64_t R, int nt) {
    seg s = rop_seg[op];
#pragma omp parallel for num_threads(nt) if (O > 1 && O * R >= PAR_MIN) schedule(static)
    for (int64_t o = 0; o < O; o++) {
        const float *p = x + o * R;
        float m = 0;
        if (op == R_LSE) {
            m = max_f32(p, R);
            if (!isfinite(m)) {
                y[o] = m;
                continue;
            }
        }
        y[o] = (float)rop_fin(op, seg_f32(s, p, R, 1, m), m, R);
    }
}

/* n <= CH columns (I apart) of an [R, I] slab reduced over R into yo. Sums run in float over at most
 * BLK rows, then fold into doubles. */
RD_HOT static void cols_f32(rop op, const float *base, int64_t R, int64_t I, int64_t n, float *yo) {
    seg s = rop_seg[op];
    double acc[CH];
    float mx[CH], t[CH];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        acc[i] = seg_init(s);
        mx[i] = s == S_MIN ? INFINITY : -INFINITY;
    }
    if (s == S_MAX || s == S_MIN || s == S_SUMEXP) { /* LogSumExp needs the column maxima first */
        for (int64_t r = 0; r < R; r++) {
            const float *p = base + r * I;
            if (s == S_MIN) {
#pragma omp simd
                for (int64_t i = 0; i < n; i++)
                    mx[i] = C_MIN(mx[i], p[i]);
            } else {
#pragma omp simd
                for (int64_t i = 0; i < n; i++)
                    mx[i] = C_MAX(mx[i], p[i]);
            }
        }
        if (s != S_SUMEXP) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                yo[i] = mx[i];
            return;
        }
    }
    for (int64_t r0 = 0; r0 < R; r0 += BLK) {
        int64_t r1 = min64(R, r0 + BLK);
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            t[i] = s == S_PROD ? 1.0f : 0.0f;
        for (int64_t r = r0; r < r1; r++) {
            const float *p = base + r * I;
            switch (s) {
            case S_SUM:
#pragma omp simd
                for (int64_t i = 0; i < n; i++)
                    t[i] += p[i];
                break;
            case S_SUMSQ:
#pragma omp simd
                for (int64_t i = 0; i < n; i++)
                    t[i] += p[i] * p[i];
                break;
            case S_SUMABS:
#pragma omp simd
                for (int64_t i = 0; i < n; i++)
                    t[i] += fabsf(p[i]);
                break;
            case S_SUMEXP:
#pragma omp simd
                for (int64_t i = 0; i < n; i++)
                    t[i] += expf(p[i] - mx[i]);
                break;
            case S_PROD: /* in double: a float running product under- or overflows early */
#pragma omp simd
                for (int64_t i = 0; i < n; i++)
                    acc[i] *= p[i];
                break;
            default: break;
            }
        }
        if (s != S_PROD) {
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                acc[i] += t[i];
        }
    }
    for (int64_t i = 0; i < n; i++)
        yo[i] = (float)rop_fin(op, acc[i], mx[i], R);
}

/* [O, R, I] with I > 1: each work item reduces a chunk of up to CH inner columns over R rows. */
static void reduce_cols_f32(rop op, const float *x, float *y, int64_t O, int64_t R, int64_t I, int nt) {
    int64_t nch = (I + CH - 1) / CH, work = O * nch;
#pragma omp parallel for num_threads(nt) if (work > 1 && O * R * I >= PAR_MIN) schedule(static)
    for (int64_t w = 0; w < work; w++) {
        int64_t o = w / nch, i0 = (w % nch) * CH;
        cols_f32(op, x + o * R * I + i0, R, I, min64(CH, I - i0), y + o * I + i0);
    }
}

static void reduce_general_f32(rop op, const rlay *L, const float *x, float *y, int nt) {
    seg s = rop_seg[op];
#pragma omp parallel for num_threads(nt) if (L->n_out > 1 && L->n_out * L->n_red >= PAR_MIN) schedule(static)
    for (int64_t o = 0; o < L->n_out; o++) {
        const float *p = x + rlay_base(L, o);
        float m = 0;
        if (op == R_LSE) {
            m = (float)gather_f32(L, S_MAX, p, 0);
            if (!isfinite(m)) {
                y[o] = m;
                continue;
            }
        }
        y[o] = (float)rop_fin(op, gather_f32(L, s, p, m), m, L->n_red);
    }
}

/* float64 takes the general path only: it is rare in inference graphs, so it gets correctness, not
 * speed. */
static double seg_f64(seg s, const double *x, int64_t n, int64_t st, double m) {
    double acc = seg_init(s);
    for (int64_t i = 0; i < n; i++) {
        double v = x[i * st];
        switch (s) {
        case S_SUM: acc += v; break;
        case S_SUMSQ: acc += v * v; break;
        case S_SUMABS: acc += fabs(v); break;
        case S_SUMEXP: acc += exp(v - m); break;
        case S_PROD: acc *= v; break;
        case S_MAX: acc = v > acc ? v : acc; break;
        case S_MIN: acc = v < acc ? v : acc; break;
        }
    }
    return acc;
}

DEF_GATHER(double, gather_f64, seg_f64)

static void reduce_f64(rop op, const rlay *L, const double *x, double *y, int nt) {
    seg s = rop_seg[op];
#pragma omp parallel for num_threads(nt) if (L->n_out > 1 && L->n_out * L->n_red >= PAR_MIN) schedule(static)
    for (int64_t o = 0; o < L->n_out; o++) {
        const double *p = x + rlay_base(L, o);
        double m = op == R_LSE ? gather_f64(L, S_MAX, p, 0) : 0;
        y[o] = op == R_LSE && !isfinite(m) ? m : rop_fin(op, gather_f64(L, s, p, m), m, L->n_red);
    }
}

/* Integer reductions (Sum, Prod wrap modulo 2^bits like ONNX Runtime; Max, Min) take the general path:
 * they mostly compute shapes and indices, where tensors are small. */
#define DEF_REDUCE_INT(T, NAME, TMIN, TMAX)                                                             \
    static void NAME(seg s, const rlay *L, const T *x, T *y, int nt) {                                   \
        _Pragma("omp parallel for num_threads(nt) if (L->n_out * L->n_red >= PAR_MIN) schedule(static)") \
        for (int64_t o = 0; o < L->n_out; o++) {                                                         \
            const T *b = x + rlay_base(L, o);                                                            \
            uint64_t acc = s == S_PROD ? 1 : 0;                                                          \
            T best = s == S_MAX ? TMIN : TMAX;                                                           \
            int64_t idx[FG_MAX_RANK] = {0}, off = 0;                                                     \
            if (L->n_red > 0) {                                                                          \
                do {                                                                                     \
                    const T *p = b + off;                                                                \
                    for (int64_t i = 0; i < L->in_n; i++) {                                              \
                        T v = p[i * L->in_st];                                                           \
                        switch (s) {                                                                     \
                        case S_PROD: acc *= (uint64_t)v; break;                                          \
                        case S_MAX: best = v > best ? v : best; break;                                   \
                        case S_MIN: best = v < best ? v : best; break;                                   \
                        default: acc += (uint64_t)v; break;                                              \
                        }                                                                                \
                    }                                                                                    \
                } while (rlay_next(L, idx, &off));                                                       \
            }                                                                                            \
            y[o] = s == S_MAX || s == S_MIN ? best : (T)acc;                                             \
        }                                                                                                \
    }

DEF_REDUCE_INT(int64_t, reduce_i64, INT64_MIN, INT64_MAX)
DEF_REDUCE_INT(int32_t, reduce_i32, INT32_MIN, INT32_MAX)

/* Reads the reduced axes (attribute before the op took them as input 1: ReduceSum since 13, the
 * others since 18; an axes input is honoured whenever present) into mask. */
static int reduce_mask(fg_kctx *c, const fg_tensor *x, bool *mask) {
    const fg_tensor *at = fg_in(c, 1);
    const int64_t *av = NULL;
    int64_t n = 0;
    for (int d = 0; d < FG_MAX_RANK; d++)
        mask[d] = false;
    if (at) {
        if (at->dtype != FG_I64 && at->dtype != FG_I32)
            return FG_KERR(c, FG_EDTYPE, "axes must be int64, not %s", fg_dtype_name(at->dtype));
        if (at->rank > 1)
            return FG_KERR(c, FG_ESHAPE, "axes must be 1-D, got rank %d", at->rank);
        n = fg_tensor_numel(at);
        if (n > 0 && !at->data) {
            c->need_value = 1;
            return FG_KERR(c, FG_ENEEDVALUE, "the axes input must be known to infer the output shape");
        }
    } else {
        n = fg_attr_ints(c->node, "axes", &av);
        if (n < 0)
            n = 0;
    }
    if (n == 0) {
        bool all = fg_attr_i(c->node, "noop_with_empty_axes", 0) == 0;
        for (int d = 0; d < x->rank; d++)
            mask[d] = all;
        return 0;
    }
    if (n > FG_MAX_RANK)
        return FG_KERR(c, FG_EINVAL, "%lld axes for rank %d", (long long)n, x->rank);
    for (int64_t k = 0; k < n; k++) {
        int a, rc = fg_norm_axis(c, at ? fg_tensor_get_i64(at, k) : av[k], x->rank, &a);
        if (rc < 0)
            return rc;
        if (mask[a])
            return FG_KERR(c, FG_EINVAL, "axis %d is repeated", a);
        mask[a] = true;
    }
    return 0;
}

static int infer_reduce(fg_kctx *c, rop op) {
    const fg_tensor *x = c->in[0];
    bool int_ok = op == R_SUM || op == R_PROD || op == R_MAX || op == R_MIN;
    if (x->dtype != FG_F32 && x->dtype != FG_F64 && !(int_ok && (x->dtype == FG_I64 || x->dtype == FG_I32)))
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    bool mask[FG_MAX_RANK];
    int rc = reduce_mask(c, x, mask);
    if (rc < 0)
        return rc;
    bool keep = fg_attr_i(c->node, "keepdims", 1) != 0;
    int64_t d[FG_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (!mask[i])
            d[r++] = x->dims[i];
        else if (keep)
            d[r++] = 1;
    }
    fg_set_shape(c->out[0], x->dtype, r, d);
    return 0;
}

static int run_reduce(fg_kctx *c, rop op) {
    const fg_tensor *x = c->in[0];
    fg_tensor *y = c->out[0];
    bool mask[FG_MAX_RANK];
    int rc = reduce_mask(c, x, mask);
    if (rc < 0)
        return rc;
    rlay L;
    rlay_build(x, mask, &L);
    int nt = nthreads(c);
    if (L.n_out == 0)
        return 0;
    switch (x->dtype) {
    case FG_F32:
        if (L.n_red == 0) {
            for (int64_t o = 0; o < L.n_out; o++)
                ((float *)y->data)[o] = (float)rop_fin(op, seg_init(rop_seg[op]), -INFINITY, 0);
        } else if (L.fast && L.I == 1) {
            reduce_rows_f32(op, x->data, y->data, L.O, L.R, nt);
        } else if (L.fast) {
            reduce_cols_f32(op, x->data, y->data, L.O, L.R, L.I, nt);
        } else {
            reduce_general_f32(op, &L, x->data, y->data, nt);
        }
        return 0;
    case FG_F64: reduce_f64(op, &L, x->data, y->data, nt); return 0;
    case FG_I64: reduce_i64(rop_seg[op], &L, x->data, y->data, nt); return 0;
    case FG_I32: reduce_i32(rop_seg[op], &L, x->data, y->data, nt); return 0;
    default: return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    }
}

#define DEF_REDUCE(NAME, OP)                                                                             \
    static int infer_##NAME(fg_kctx *c) { return infer_reduce(c, OP); }                                  \
    static int run_##NAME(fg_kctx *c) { return run_reduce(c, OP); }

DEF_REDUCE(rsum, R_SUM)
DEF_REDUCE(rmean, R_MEAN)
DEF_REDUCE(rsumsq, R_SUMSQ)
DEF_REDUCE(rl1, R_L1)
DEF_REDUCE(rl2, R_L2)
DEF_REDUCE(rlogsum, R_LOGSUM)
DEF_REDUCE(rlse, R_LSE)
DEF_REDUCE(rprod, R_PROD)
DEF_REDUCE(rmax, R_MAX)
DEF_REDUCE(rmin, R_MIN)

/* ---------------------------------------------------------------------------------------------- */
/* ArgMax, ArgMin                                                                                  */

/* Views x as [O, N, I] around axis a. */
static void view3(const fg_tensor *x, int a, int64_t *O, int64_t *N, int64_t *I) {
    *O = span(x->dims, 0, a);
    *N = x->rank ? x->dims[a] : 1;
    *I = x->rank ? span(x->dims, a + 1, x->rank) : 1;
}

static int infer_arg(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    if (x->dtype != FG_F32 && x->dtype != FG_I64 && x->dtype != FG_I32)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    if (x->rank < 1)
        return FG_KERR(c, FG_ESHAPE, "input must have rank >= 1");
    int a, rc = fg_norm_axis(c, fg_attr_i(c->node, "axis", 0), x->rank, &a);
    if (rc < 0)
        return rc;
    if (x->dims[a] == 0 && span(x->dims, 0, a) * span(x->dims, a + 1, x->rank) > 0)
        return FG_KERR(c, FG_ESHAPE, "axis %d is empty", a);
    bool keep = fg_attr_i(c->node, "keepdims", 1) != 0;
    int64_t d[FG_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++) {
        if (i != a)
            d[r++] = x->dims[i];
        else if (keep)
            d[r++] = 1;
    }
    fg_set_shape(c->out[0], FG_I64, r, d);
    return 0;
}

/* ArgMax (is_min 0) / ArgMin over [O, N, I]; ties go to the first index, or the last with last != 0. */
#define DEF_ARG(T, NAME)                                                                                 \
    static void NAME(const T *x, int64_t *y, int64_t O, int64_t N, int64_t I, bool is_min, bool last,     \
                     int nt) {                                                                           \
        int64_t nch = (I + CH - 1) / CH, work = O * nch;                                                 \
        _Pragma("omp parallel for num_threads(nt) if (work > 1 && O * N * I >= PAR_MIN) schedule(static)") \
        for (int64_t w = 0; w < work; w++) {                                                             \
            int64_t o = w / nch, i0 = (w % nch) * CH, n = min64(CH, I - i0);                             \
            const T *p = x + o * N * I + i0;                                                             \
            T best[CH];                                                                                  \
            int64_t bi[CH];                                                                              \
            for (int64_t i = 0; i < n; i++) {                                                            \
                best[i] = p[i];                                                                          \
                bi[i] = 0;                                                                               \
            }                                                                                            \
            for (int64_t j = 1; j < N; j++) {                                                            \
                const T *q = p + j * I;                                                                  \
                for (int64_t i = 0; i < n; i++) {                                                        \
                    T v = q[i];                                                                          \
                    bool take = is_min ? (last ? v <= best[i] : v < best[i])                             \
                                       : (last ? v >= best[i] : v > best[i]);                            \
                    if (take) {                                                                          \
                        best[i] = v;                                                                     \
                        bi[i] = j;                                                                       \
                    }                                                                                    \
                }                                                                                        \
            }                                                                                            \
            for (int64_t i = 0; i < n; i++)                                                              \
                y[o * I + i0 + i] = bi[i];                                                               \
        }                                                                                                \
    }

DEF_ARG(float, arg_f32)
DEF_ARG(int64_t, arg_i64)
DEF_ARG(int32_t, arg_i32)

static int run_arg(fg_kctx *c, bool is_min) {
    const fg_tensor *x = c->in[0];
    int a, rc = fg_norm_axis(c, fg_attr_i(c->node, "axis", 0), x->rank, &a);
    if (rc < 0)
        return rc;
    int64_t O, N, I;
    view3(x, a, &O, &N, &I);
    if (O * I == 0)
        return 0;
    if (N == 0)
        return FG_KERR(c, FG_ESHAPE, "axis %d is empty", a);
    bool last = fg_attr_i(c->node, "select_last_index", 0) != 0;
    int nt = nthreads(c);
    switch (x->dtype) {
    case FG_F32: arg_f32(x->data, c->out[0]->data, O, N, I, is_min, last, nt); return 0;
    case FG_I64: arg_i64(x->data, c->out[0]->data, O, N, I, is_min, last, nt); return 0;
    case FG_I32: arg_i32(x->data, c->out[0]->data, O, N, I, is_min, last, nt); return 0;
    default: return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    }
}

static int run_argmax(fg_kctx *c) { return run_arg(c, false); }
static int run_argmin(fg_kctx *c) { return run_arg(c, true); }

/* ---------------------------------------------------------------------------------------------- */
/* Softmax, LogSoftmax, Hardmax                                                                    */

typedef enum smode { SM_SOFT, SM_LOG, SM_HARD } smode;

/* Before opset 13 these ops flatten the input to 2-D at axis (default 1) and normalise whole rows;
 * since 13 they work along one axis (default -1). */
static int sm_view(fg_kctx *c, const fg_tensor *x, int64_t *O, int64_t *N, int64_t *I) {
    if (x->rank == 0) {
        *O = *N = *I = 1;
        return 0;
    }
    bool old = c->opset < 13;
    int64_t axis = fg_attr_i(c->node, "axis", old ? 1 : -1);
    int a, rc = fg_norm_axis(c, axis, x->rank, &a);
    if (rc < 0)
        return rc;
    if (old) {
        *O = span(x->dims, 0, a);
        *N = span(x->dims, a, x->rank);
        *I = 1;
    } else {
        view3(x, a, O, N, I);
    }
    return 0;
}

static int infer_sm(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    if (x->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    int64_t O, N, I;
    int rc = sm_view(c, x, &O, &N, &I);
    if (rc < 0)
        return rc;
    fg_same_shape(c->out[0], x);
    return 0;
}

/* One contiguous row: the hot case (attention scores, classifier heads). */
RD_HOT static void sm_row(const float *x, float *y, int64_t n, smode mode) {
    float m = lane_max(x, n, 0);
    if (mode == SM_HARD) {
        int64_t k = 0;
        while (k < n && !(x[k] == m))
            k++;
        for (int64_t i = 0; i < n; i++)
            y[i] = 0;
        if (k < n)
            y[k] = 1;
        return;
    }
    exp_shift(x, y, n, m);
    double s = 0;
    for (int64_t b = 0; b < n; b += BLK)
        s += lane_sum(y + b, min64(n - b, BLK), 0);
    if (mode == SM_LOG) {
        float ls = (float)log(s);
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] - m) - ls;
        return;
    }
    float inv = (float)(1.0 / s);
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] *= inv;
}

/* A chunk of n <= CH columns of an [N, I] slab (axis not innermost). */
RD_HOT static void sm_cols(const float *x, float *y, int64_t N, int64_t I, int64_t n, smode mode) {
    float mx[CH], sm[CH];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        mx[i] = x[i];
        sm[i] = 0;
    }
    if (mode == SM_HARD) {
        int64_t arg[CH];
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            arg[i] = 0;
        for (int64_t j = 1; j < N; j++) {
            const float *p = x + j * I;
            for (int64_t i = 0; i < n; i++)
                if (p[i] > mx[i]) {
                    mx[i] = p[i];
                    arg[i] = j;
                }
        }
        for (int64_t j = 0; j < N; j++) {
            float *q = y + j * I;
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                q[i] = arg[i] == j ? 1.0f : 0.0f;
        }
        return;
    }
    for (int64_t j = 1; j < N; j++) {
        const float *p = x + j * I;
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            mx[i] = C_MAX(mx[i], p[i]);
    }
    for (int64_t j = 0; j < N; j++) {
        const float *p = x + j * I;
        float *q = y + j * I;
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float v = expf(p[i] - mx[i]);
            q[i] = v;
            sm[i] += v;
        }
    }
    if (mode == SM_LOG) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            sm[i] = logf(sm[i]);
        for (int64_t j = 0; j < N; j++) {
            const float *p = x + j * I;
            float *q = y + j * I;
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                q[i] = (p[i] - mx[i]) - sm[i];
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            sm[i] = 1.0f / sm[i];
        for (int64_t j = 0; j < N; j++) {
            float *q = y + j * I;
#pragma omp simd
            for (int64_t i = 0; i < n; i++)
                q[i] *= sm[i];
        }
    }
}

static int run_sm(fg_kctx *c, smode mode) {
    const fg_tensor *x = c->in[0];
    int64_t O, N, I;
    int rc = sm_view(c, x, &O, &N, &I);
    if (rc < 0)
        return rc;
    const float *xd = x->data;
    float *yd = c->out[0]->data;
    int nt = nthreads(c);
    if (N == 0 || O * I == 0)
        return 0;
    if (I == 1) {
#pragma omp parallel for num_threads(nt) if (O > 1 && O * N >= PAR_MIN) schedule(static)
        for (int64_t o = 0; o < O; o++)
            sm_row(xd + o * N, yd + o * N, N, mode);
        return 0;
    }
    int64_t nch = (I + CH - 1) / CH, work = O * nch;
#pragma omp parallel for num_threads(nt) if (work > 1 && O * N * I >= PAR_MIN) schedule(static)
    for (int64_t w = 0; w < work; w++) {
        int64_t o = w / nch, i0 = (w % nch) * CH;
        sm_cols(xd + o * N * I + i0, yd + o * N * I + i0, N, I, min64(CH, I - i0), mode);
    }
    return 0;
}

static int run_softmax(fg_kctx *c) { return run_sm(c, SM_SOFT); }
static int run_logsoftmax(fg_kctx *c) { return run_sm(c, SM_LOG); }
static int run_hardmax(fg_kctx *c) { return run_sm(c, SM_HARD); }

/* ---------------------------------------------------------------------------------------------- */
/* LayerNormalization, InstanceNormalization, LpNormalization, MeanVarianceNormalization            */

/* Mean and 1/sqrt(var + eps) of a contiguous row, two-pass for accuracy. */
RD_INLINE void row_moments(const float *x, int64_t n, float eps, float *mean, float *inv) {
    double s = 0, v = 0;
    for (int64_t b = 0; b < n; b += BLK)
        s += lane_sum(x + b, min64(n - b, BLK), 0);
    float mu = (float)(s / (double)n);
    for (int64_t b = 0; b < n; b += BLK)
        v += lane_dev2(x + b, min64(n - b, BLK), mu);
    *mean = mu;
    *inv = (float)(1.0 / sqrt(v / (double)n + eps));
}

/* One LayerNormalization row; scale (period ps) and bias (period pb, 0 when absent) repeat along it. */
RD_HOT static void ln_row(const float *x, float *y, int64_t n, const float *sc, int64_t ps, const float *bd,
                          int64_t pb, float eps, float *mean, float *inv) {
    float mu, g;
    row_moments(x, n, eps, &mu, &g);
    *mean = mu;
    *inv = g;
    if (ps == n && pb == n) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] - mu) * g * sc[i] + bd[i];
    } else if (ps == n && pb == 0) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            y[i] = (x[i] - mu) * g * sc[i];
    } else {
        for (int64_t k = 0; k < n; k += ps)
            for (int64_t i = 0; i < ps; i++)
                y[k + i] = (x[k + i] - mu) * g * sc[i];
        for (int64_t k = 0; pb && k < n; k += pb)
            for (int64_t i = 0; i < pb; i++)
                y[k + i] += bd[i];
    }
}

/* One InstanceNormalization row (a channel of one image): y = x * g + h. */
RD_HOT static void in_row(const float *x, float *y, int64_t n, float scale, float bias, float eps) {
    float mu, inv;
    row_moments(x, n, eps, &mu, &inv);
    float g = inv * scale, h = bias - mu * g;
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * g + h;
}

/* Scale and bias must broadcast to the normalised shape by repetition: after leading 1s their dims
 * equal the trailing dims of x[axis:]. *period receives their element count. */
static int ln_period(fg_kctx *c, const fg_tensor *t, const fg_tensor *x, int a, const char *what,
                     int64_t *period) {
    int s = 0;
    while (s < t->rank && t->dims[s] == 1)
        s++;
    int n = t->rank - s;
    if (n > x->rank - a)
        return FG_KERR(c, FG_ESHAPE, "%s has more dimensions than the normalised shape", what);
    for (int k = 0; k < n; k++) {
        int64_t want = x->dims[x->rank - n + k];
        if (t->dims[s + k] != want) {
            if (t->dims[s + k] == 1)
                return FG_KERR(c, FG_EUNSUPPORTED, "%s broadcasts inside the normalised shape", what);
            return FG_KERR(c, FG_ESHAPE, "%s does not match the normalised shape", what);
        }
    }
    *period = fg_tensor_numel(t);
    return 0;
}

static int ln_check(fg_kctx *c, int *axis, int64_t *ps, int64_t *pb) {
    const fg_tensor *x = c->in[0], *sc = fg_in(c, 1), *b = fg_in(c, 2);
    if (x->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    if (!sc)
        return FG_KERR(c, FG_EINVAL, "Scale is required");
    if (sc->dtype != FG_F32 || (b && b->dtype != FG_F32))
        return FG_KERR(c, FG_EUNSUPPORTED, "Scale and B must be float32");
    if (x->rank < 1)
        return FG_KERR(c, FG_ESHAPE, "input must have rank >= 1");
    int rc = fg_norm_axis(c, fg_attr_i(c->node, "axis", -1), x->rank, axis);
    if (rc < 0)
        return rc;
    *pb = 0;
    if ((rc = ln_period(c, sc, x, *axis, "Scale", ps)) < 0)
        return rc;
    if (b && (rc = ln_period(c, b, x, *axis, "B", pb)) < 0)
        return rc;
    return 0;
}

static int infer_ln(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    int a;
    int64_t ps, pb;
    int rc = ln_check(c, &a, &ps, &pb);
    if (rc < 0)
        return rc;
    fg_same_shape(c->out[0], x);
    int64_t d[FG_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        d[i] = i < a ? x->dims[i] : 1;
    for (int k = 1; k < 3 && k < c->n_out; k++)
        if (c->out[k])
            fg_set_shape(c->out[k], FG_F32, x->rank, d);
    int64_t rk = fg_attr_i(c->node, FG_ATTR_RANGE_OUT, 0), two = 2;
    if (rk > 0) {
        if (rk < 3 || rk >= c->n_out || !c->out[rk])
            return FG_KERR(c, FG_EINVAL, "%s names output %lld, which is not there", FG_ATTR_RANGE_OUT, (long long)rk);
        fg_set_shape(c->out[rk], FG_F32, 1, &two);
    }
    return 0;
}

/* FG_ATTR_RANGE_OUT: run_ln widens the range over a group of rows it just wrote, still in cache, which
 * costs little next to a later pass over the whole activation. */
RD_HOT static void row_range(const float *y, int64_t n, float *lo, float *hi) { fg_range_update(y, n, lo, hi); }

static int run_ln(fg_kctx *c) {
    const fg_tensor *x = c->in[0], *b = fg_in(c, 2);
    int a;
    int64_t ps, pb;
    int rc = ln_check(c, &a, &ps, &pb);
    if (rc < 0)
        return rc;
    int64_t O = span(x->dims, 0, a), N = span(x->dims, a, x->rank);
    const float *xd = x->data, *sc = c->in[1]->data, *bd = b ? b->data : NULL;
    float *yd = c->out[0]->data;
    float *md = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    float *id = c->n_out > 2 && c->out[2] ? c->out[2]->data : NULL;
    float eps = fg_attr_f(c->node, "epsilon", 1e-5f);
    int64_t rk = fg_attr_i(c->node, FG_ATTR_RANGE_OUT, 0);
    float *range = rk > 0 ? c->out[rk]->data : NULL, lo = 0.f, hi = 0.f;
    int nt = nthreads(c);
    if (ps == 0 || (b && pb == 0))
        return FG_KERR(c, FG_ESHAPE, "empty Scale or B");
    enum { RG = 16 }; /* rows per group: the range runs once per group, over rows still in L1/L2 */
    int64_t ng = N ? (O + RG - 1) / RG : 0;
#pragma omp parallel for num_threads(nt) if (O > 1 && O * N >= PAR_MIN) schedule(static) \
    reduction(min : lo) reduction(max : hi)
    for (int64_t gi = 0; gi < ng; gi++) {
        int64_t o0 = gi * RG, o1 = o0 + RG < O ? o0 + RG : O;
        for (int64_t o = o0; o < o1; o++) {
            float mu, inv;
            ln_row(xd + o * N, yd + o * N, N, sc, ps, bd, bd ? pb : 0, eps, &mu, &inv);
            if (md)
                md[o] = mu;
            if (id)
                id[o] = inv;
        }
        if (range)
            row_range(yd + o0 * N, (o1 - o0) * N, &lo, &hi);
    }
    if (range) {
        range[0] = lo;
        range[1] = hi;
    }
    return 0;
}

static int infer_in(fg_kctx *c) {
    const fg_tensor *x = c->in[0], *sc = fg_in(c, 1), *b = fg_in(c, 2);
    if (x->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    if (!sc || !b)
        return FG_KERR(c, FG_EINVAL, "scale and B are required");
    if (sc->dtype != FG_F32 || b->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "scale and B must be float32");
    if (x->rank < 2)
        return FG_KERR(c, FG_ESHAPE, "input must have rank >= 2, got %d", x->rank);
    if (fg_tensor_numel(sc) != x->dims[1] || fg_tensor_numel(b) != x->dims[1])
        return FG_KERR(c, FG_ESHAPE, "scale and B must have %lld elements", (long long)x->dims[1]);
    fg_same_shape(c->out[0], x);
    return 0;
}

static int run_in(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    int64_t C = x->dims[1], rows = x->dims[0] * C, S = span(x->dims, 2, x->rank);
    const float *xd = x->data, *sc = c->in[1]->data, *bd = c->in[2]->data;
    float *yd = c->out[0]->data;
    float eps = fg_attr_f(c->node, "epsilon", 1e-5f);
    int nt = nthreads(c);
    if (S == 0)
        return 0;
#pragma omp parallel for num_threads(nt) if (rows > 1 && rows * S >= PAR_MIN) schedule(static)
    for (int64_t r = 0; r < rows; r++)
        in_row(xd + r * S, yd + r * S, S, sc[r % C], bd[r % C], eps);
    return 0;
}

static int lp_args(fg_kctx *c, int *a, int *p) {
    const fg_tensor *x = c->in[0];
    if (x->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    if (x->rank < 1)
        return FG_KERR(c, FG_ESHAPE, "input must have rank >= 1");
    int64_t pp = fg_attr_i(c->node, "p", 2);
    if (pp != 1 && pp != 2)
        return FG_KERR(c, FG_EINVAL, "p must be 1 or 2, got %lld", (long long)pp);
    *p = (int)pp;
    return fg_norm_axis(c, fg_attr_i(c->node, "axis", -1), x->rank, a);
}

static int infer_lp(fg_kctx *c) {
    int a, p, rc = lp_args(c, &a, &p);
    if (rc < 0)
        return rc;
    fg_same_shape(c->out[0], c->in[0]);
    return 0;
}

/* y = x / ||x||_p along the axis; a zero norm gives zeros rather than NaN. */
static int run_lp(fg_kctx *c) {
    int a, p, rc = lp_args(c, &a, &p);
    if (rc < 0)
        return rc;
    int64_t O, N, I;
    view3(c->in[0], a, &O, &N, &I);
    const float *xd = c->in[0]->data;
    float *yd = c->out[0]->data;
    int nt = nthreads(c);
    int64_t nch = (I + CH - 1) / CH, work = O * nch;
#pragma omp parallel for num_threads(nt) if (work > 1 && O * N * I >= PAR_MIN) schedule(static)
    for (int64_t w = 0; w < work; w++) {
        int64_t o = w / nch, i0 = (w % nch) * CH, n = min64(CH, I - i0);
        const float *x0 = xd + o * N * I + i0;
        float *y0 = yd + o * N * I + i0;
        float inv[CH];
        if (I == 1) {
            double s = seg_f32(p == 1 ? S_SUMABS : S_SUMSQ, x0, N, 1, 0);
            inv[0] = s > 0 ? (float)(1.0 / (p == 1 ? s : sqrt(s))) : 0;
        } else {
            double acc[CH];
            for (int64_t i = 0; i < n; i++)
                acc[i] = 0;
            for (int64_t j = 0; j < N; j++) {
                const float *q = x0 + j * I;
                if (p == 1)
                    for (int64_t i = 0; i < n; i++)
                        acc[i] += fabsf(q[i]);
                else
                    for (int64_t i = 0; i < n; i++)
                        acc[i] += q[i] * q[i];
            }
            for (int64_t i = 0; i < n; i++)
                inv[i] = acc[i] > 0 ? (float)(1.0 / (p == 1 ? acc[i] : sqrt(acc[i]))) : 0;
        }
        if (I == 1) {
#pragma omp simd
            for (int64_t j = 0; j < N; j++)
                y0[j] = x0[j] * inv[0];
        } else {
            for (int64_t j = 0; j < N; j++)
                for (int64_t i = 0; i < n; i++)
                    y0[j * I + i] = x0[j * I + i] * inv[i];
        }
    }
    return 0;
}

/* MeanVarianceNormalization: y = (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9) over axes (default
 * 0,2,3), as ONNX's function body defines it. The statistics live in scratch (2 doubles per output). */
static int mvn_mask(fg_kctx *c, bool *mask) {
    const fg_tensor *x = c->in[0];
    static const int64_t def[] = {0, 2, 3};
    const int64_t *av;
    int n = fg_attr_ints(c->node, "axes", &av);
    if (n < 0) {
        av = def;
        n = 3;
    }
    for (int d = 0; d < FG_MAX_RANK; d++)
        mask[d] = false;
    for (int k = 0; k < n; k++) {
        int a, rc = fg_norm_axis(c, av[k], x->rank, &a);
        if (rc < 0)
            return rc;
        mask[a] = true;
    }
    return 0;
}

static int infer_mvn(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    if (x->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    bool mask[FG_MAX_RANK];
    int rc = mvn_mask(c, mask);
    if (rc < 0)
        return rc;
    fg_same_shape(c->out[0], x);
    return 0;
}

static int prepare_mvn(fg_kctx *c) {
    bool mask[FG_MAX_RANK];
    int rc = mvn_mask(c, mask);
    if (rc < 0)
        return rc;
    rlay L;
    rlay_build(c->in[0], mask, &L);
    c->scratch_len = (size_t)L.n_out * 2 * sizeof(double);
    return 0;
}

/* Walks every element group by group; the innermost group is a contiguous run whose statistics index
 * is constant (reduced) or advances with it (kept). pass 0 accumulates, pass 1 normalises. */
static void mvn_walk(const rlay *L, const float *x, float *y, double *st, int pass) {
    int64_t ks[FG_MAX_RANK], s = 1;
    for (int g = L->m - 1; g >= 0; g--) {
        ks[g] = L->red[g] ? 0 : s;
        if (!L->red[g])
            s *= L->size[g];
    }
    int g_in = L->m - 1;
    int64_t n = L->size[g_in], idx[FG_MAX_RANK] = {0}, xo = 0, ko = 0;
    double *sum = st, *sq = st + L->n_out;
    for (;;) {
        const float *p = x + xo;
        if (pass == 0) {
            if (L->red[g_in]) {
                sum[ko] += seg_f32(S_SUM, p, n, 1, 0);
                sq[ko] += seg_f32(S_SUMSQ, p, n, 1, 0);
            } else {
                for (int64_t i = 0; i < n; i++) {
                    sum[ko + i] += p[i];
                    sq[ko + i] += (double)p[i] * p[i];
                }
            }
        } else {
            float *q = y + xo;
            if (L->red[g_in]) {
                float mu = (float)sum[ko], inv = (float)sq[ko];
                for (int64_t i = 0; i < n; i++)
                    q[i] = (p[i] - mu) * inv;
            } else {
                for (int64_t i = 0; i < n; i++)
                    q[i] = (p[i] - (float)sum[ko + i]) * (float)sq[ko + i];
            }
        }
        int g = g_in - 1;
        for (; g >= 0; g--) {
            xo += L->stride[g];
            ko += ks[g];
            if (++idx[g] < L->size[g])
                break;
            xo -= L->stride[g] * L->size[g];
            ko -= ks[g] * L->size[g];
            idx[g] = 0;
        }
        if (g < 0)
            break;
    }
}

static int run_mvn(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    bool mask[FG_MAX_RANK];
    int rc = mvn_mask(c, mask);
    if (rc < 0)
        return rc;
    rlay L;
    rlay_build(x, mask, &L);
    if (fg_tensor_numel(x) == 0)
        return 0;
    if (c->scratch_len < (size_t)L.n_out * 2 * sizeof(double))
        return FG_KERR(c, FG_EINTERNAL, "scratch too small");
    double *st = c->scratch;
    for (int64_t i = 0; i < 2 * L.n_out; i++)
        st[i] = 0;
    mvn_walk(&L, x->data, NULL, st, 0);
    for (int64_t k = 0; k < L.n_out; k++) {
        double mu = st[k] / (double)L.n_red, var = st[L.n_out + k] / (double)L.n_red - mu * mu;
        st[k] = mu;
        st[L.n_out + k] = 1.0 / (sqrt(var > 0 ? var : 0) + 1e-9);
    }
    mvn_walk(&L, x->data, c->out[0]->data, st, 1);
    return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* CumSum                                                                                          */

static int infer_cumsum(fg_kctx *c) {
    const fg_tensor *x = c->in[0], *ax = fg_in(c, 1);
    if (x->dtype != FG_F32 && x->dtype != FG_F64 && x->dtype != FG_I64 && x->dtype != FG_I32)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    if (!ax)
        return FG_KERR(c, FG_EINVAL, "axis input is required");
    if ((ax->dtype != FG_I64 && ax->dtype != FG_I32) || fg_tensor_numel(ax) != 1)
        return FG_KERR(c, FG_EINVAL, "axis must be one int32 or int64");
    if (x->rank < 1)
        return FG_KERR(c, FG_ESHAPE, "input must have rank >= 1");
    int a;
    if (ax->data) {
        int rc = fg_norm_axis(c, fg_tensor_get_i64(ax, 0), x->rank, &a);
        if (rc < 0)
            return rc;
    }
    fg_same_shape(c->out[0], x);
    return 0;
}

/* Running sums along N of an [O, N, I] view; each step adds a whole inner row, so it vectorises over I.
 * Integers wrap through uint64 instead of overflowing. */
#define DEF_CUMSUM(T, NAME, ADD)                                                                        \
    static void NAME(const T *x, T *y, int64_t O, int64_t N, int64_t I, bool excl, bool rev, int nt) {   \
        _Pragma("omp parallel for num_threads(nt) if (O > 1 && O * N * I >= PAR_MIN) schedule(static)") \
        for (int64_t o = 0; o < O; o++) {                                                                \
            const T *xo = x + o * N * I;                                                                 \
            T *yo = y + o * N * I;                                                                       \
            int64_t j0 = rev ? N - 1 : 0, d = rev ? -1 : 1;                                              \
            for (int64_t i = 0; i < I; i++)                                                              \
                yo[j0 * I + i] = excl ? (T)0 : xo[j0 * I + i];                                           \
            for (int64_t k = 1; k < N; k++) {                                                            \
                int64_t j = j0 + k * d, pj = j - d, sj = excl ? pj : j;                                  \
                const T *src = xo + sj * I, *prev = yo + pj * I;                                         \
                T *dst = yo + j * I;                                                                     \
                for (int64_t i = 0; i < I; i++)                                                          \
                    dst[i] = ADD(prev[i], src[i]);                                                       \
            }                                                                                            \
        }                                                                                                \
    }

#define ADD_F(a, b) ((a) + (b))
#define ADD_I64(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))
#define ADD_I32(a, b) ((int32_t)((uint32_t)(a) + (uint32_t)(b)))
DEF_CUMSUM(float, cumsum_f32, ADD_F)
DEF_CUMSUM(double, cumsum_f64, ADD_F)
DEF_CUMSUM(int64_t, cumsum_i64, ADD_I64)
DEF_CUMSUM(int32_t, cumsum_i32, ADD_I32)

static int run_cumsum(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    int a, rc = fg_norm_axis(c, fg_tensor_get_i64(c->in[1], 0), x->rank, &a);
    if (rc < 0)
        return rc;
    int64_t O, N, I;
    view3(x, a, &O, &N, &I);
    if (N == 0 || O * I == 0)
        return 0;
    bool excl = fg_attr_i(c->node, "exclusive", 0) != 0, rev = fg_attr_i(c->node, "reverse", 0) != 0;
    int nt = nthreads(c);
    void *y = c->out[0]->data;
    switch (x->dtype) {
    case FG_F32: cumsum_f32(x->data, y, O, N, I, excl, rev, nt); return 0;
    case FG_F64: cumsum_f64(x->data, y, O, N, I, excl, rev, nt); return 0;
    case FG_I64: cumsum_i64(x->data, y, O, N, I, excl, rev, nt); return 0;
    case FG_I32: cumsum_i32(x->data, y, O, N, I, excl, rev, nt); return 0;
    default: return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* TopK                                                                                            */

/* k is an attribute before opset 10 and a 1-element input since. */
static int topk_args(fg_kctx *c, int *a, int64_t *k) {
    const fg_tensor *x = c->in[0];
    if (x->dtype != FG_F32 && x->dtype != FG_I64 && x->dtype != FG_I32)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    if (x->rank < 1)
        return FG_KERR(c, FG_ESHAPE, "input must have rank >= 1");
    int rc = fg_norm_axis(c, fg_attr_i(c->node, "axis", -1), x->rank, a);
    if (rc < 0)
        return rc;
    const fg_tensor *kt = fg_in(c, 1);
    if (c->opset < 10 || !kt) {
        if (!fg_attr_get(c->node, "k"))
            return FG_KERR(c, FG_EINVAL, "k is required");
        *k = fg_attr_i(c->node, "k", 0);
    } else {
        if ((kt->dtype != FG_I64 && kt->dtype != FG_I32) || fg_tensor_numel(kt) != 1)
            return FG_KERR(c, FG_EINVAL, "K must hold one int64");
        if (!kt->data) {
            c->need_value = 1;
            return FG_KERR(c, FG_ENEEDVALUE, "K must be known to infer the output shape");
        }
        *k = fg_tensor_get_i64(kt, 0);
    }
    if (*k < 0 || *k > x->dims[*a])
        return FG_KERR(c, FG_EINVAL, "k=%lld is out of range for axis of size %lld", (long long)*k,
                       (long long)x->dims[*a]);
    return 0;
}

static int infer_topk(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    int a;
    int64_t k;
    int rc = topk_args(c, &a, &k);
    if (rc < 0)
        return rc;
    int64_t d[FG_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        d[i] = i == a ? k : x->dims[i];
    if (c->out[0])
        fg_set_shape(c->out[0], x->dtype, x->rank, d);
    if (c->n_out > 1 && c->out[1])
        fg_set_shape(c->out[1], FG_I64, x->rank, d);
    return 0;
}

static int prepare_topk(fg_kctx *c) {
    int a;
    int64_t k;
    int rc = topk_args(c, &a, &k);
    if (rc < 0)
        return rc;
    c->scratch_len = (size_t)nthreads(c) * (size_t)c->in[0]->dims[a] * sizeof(int64_t);
    return 0;
}

/* Selects the k first of N strided values by building a binary heap ordered by "comes first" (larger,
 * or smaller with !largest; the lower index wins ties, as ONNX specifies) and popping k times. */
#define DEF_TOPK(T, NAME)                                                                                \
    static bool NAME##_before(const T *v, int64_t I, int64_t a, int64_t b, bool largest) {              \
        T x = v[a * I], y = v[b * I];                                                                    \
        if (x != y)                                                                                      \
            return largest ? x > y : x < y;                                                              \
        return a < b;                                                                                    \
    }                                                                                                    \
    static void NAME##_sift(const T *v, int64_t I, int64_t *h, int64_t n, int64_t i, bool largest) {    \
        for (;;) {                                                                                       \
            int64_t l = 2 * i + 1, r = l + 1, best = i;                                                  \
            if (l < n && NAME##_before(v, I, h[l], h[best], largest))                                    \
                best = l;                                                                                \
            if (r < n && NAME##_before(v, I, h[r], h[best], largest))                                    \
                best = r;                                                                                \
            if (best == i)                                                                               \
                return;                                                                                  \
            int64_t t = h[i];                                                                            \
            h[i] = h[best];                                                                              \
            h[best] = t;                                                                                 \
            i = best;                                                                                    \
        }                                                                                                \
    }                                                                                                    \
    static void NAME(const T *x, T *vals, int64_t *idx, int64_t O, int64_t N, int64_t I, int64_t k,     \
                     bool largest, int64_t *scratch, int nt) {                                           \
        int64_t rows = O * I;                                                                            \
        _Pragma("omp parallel for num_threads(nt) if (rows > 1 && rows * N >= PAR_MIN) schedule(static)") \
        for (int64_t r = 0; r < rows; r++) {                                                             \
            int64_t o = r / I, i = r % I;                                                                \
            const T *v = x + o * N * I + i;                                                              \
            int64_t *h = scratch + (int64_t)omp_get_thread_num() * N, n = N;                             \
            for (int64_t j = 0; j < N; j++)                                                              \
                h[j] = j;                                                                                \
            for (int64_t j = N / 2 - 1; j >= 0; j--)                                                     \
                NAME##_sift(v, I, h, N, j, largest);                                                     \
            for (int64_t j = 0; j < k; j++) {                                                            \
                int64_t top = h[0], at = (o * k + j) * I + i;                                            \
                if (vals)                                                                                \
                    vals[at] = v[top * I];                                                               \
                if (idx)                                                                                 \
                    idx[at] = top;                                                                       \
                h[0] = h[--n];                                                                           \
                NAME##_sift(v, I, h, n, 0, largest);                                                     \
            }                                                                                            \
        }                                                                                                \
    }

DEF_TOPK(float, topk_f32)
DEF_TOPK(int64_t, topk_i64)
DEF_TOPK(int32_t, topk_i32)

static int run_topk(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    int a;
    int64_t k;
    int rc = topk_args(c, &a, &k);
    if (rc < 0)
        return rc;
    int64_t O, N, I;
    view3(x, a, &O, &N, &I);
    int nt = nthreads(c);
    if (k == 0 || O * I == 0)
        return 0;
    if (c->scratch_len < (size_t)nt * (size_t)N * sizeof(int64_t))
        return FG_KERR(c, FG_EINTERNAL, "scratch too small");
    void *vals = c->out[0] ? c->out[0]->data : NULL;
    int64_t *idx = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    bool largest = fg_attr_i(c->node, "largest", 1) != 0;
    switch (x->dtype) {
    case FG_F32: topk_f32(x->data, vals, idx, O, N, I, k, largest, c->scratch, nt); return 0;
    case FG_I64: topk_i64(x->data, vals, idx, O, N, I, k, largest, c->scratch, nt); return 0;
    case FG_I32: topk_i32(x->data, vals, idx, O, N, I, k, largest, c->scratch, nt); return 0;
    default: return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    }
}

/* The reduction and normalisation family, looked up by fg_op_find. */
const fg_op_def fg_ops_reduce[] = {
    {.type = "ReduceSum", .infer = infer_rsum, .run = run_rsum},
    {.type = "ReduceMean", .infer = infer_rmean, .run = run_rmean},
    {.type = "ReduceSumSquare", .infer = infer_rsumsq, .run = run_rsumsq},
    {.type = "ReduceL1", .infer = infer_rl1, .run = run_rl1},
    {.type = "ReduceL2", .infer = infer_rl2, .run = run_rl2},
    {.type = "ReduceLogSum", .infer = infer_rlogsum, .run = run_rlogsum},
    {.type = "ReduceLogSumExp", .infer = infer_rlse, .run = run_rlse},
    {.type = "ReduceProd", .infer = infer_rprod, .run = run_rprod},
    {.type = "ReduceMax", .infer = infer_rmax, .run = run_rmax},
    {.type = "ReduceMin", .infer = infer_rmin, .run = run_rmin},
    {.type = "ArgMax", .infer = infer_arg, .run = run_argmax},
    {.type = "ArgMin", .infer = infer_arg, .run = run_argmin},
    {.type = "Softmax", .infer = infer_sm, .run = run_softmax},
    {.type = "LogSoftmax", .infer = infer_sm, .run = run_logsoftmax},
    {.type = "Hardmax", .infer = infer_sm, .run = run_hardmax},
    {.type = "LayerNormalization", .infer = infer_ln, .run = run_ln},
    {.type = "InstanceNormalization", .infer = infer_in, .run = run_in},
    {.type = "LpNormalization", .infer = infer_lp, .run = run_lp},
    {.type = "MeanVarianceNormalization", .infer = infer_mvn, .prepare = prepare_mvn, .run = run_mvn},
    {.type = "CumSum", .infer = infer_cumsum, .run = run_cumsum},
    {.type = "TopK", .infer = infer_topk, .prepare = prepare_topk, .run = run_topk},
    {0},
};
