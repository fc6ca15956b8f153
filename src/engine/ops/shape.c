/* shape.c - ops that move, reinterpret or describe data without arithmetic: Shape, Reshape, Transpose,
 * Concat, Slice, Gather, Pad, Resize and friends. Data moves as raw elements of fg_dtype_size bytes, so
 * every fixed-size dtype works; only Range, Pad's attribute value and Resize's interpolation compute.
 * Most copies go through one strided-view engine (view_copy) that merges contiguous dims and turns
 * inner runs into memcpy or cache-blocked transposes. Ops whose output shape depends on an input's
 * value (Reshape's shape, Slice's starts, ...) ask the planner for it with FG_ENEEDVALUE. */
#include <math.h>
#include <omp.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops/ops.h"

/* Copies smaller than this run on one thread: waking the pool costs more than the copy saves. */
#define PAR_BYTES ((size_t)1 << 17)
/* Views may split every dim in two (Tile: repeat x dim), hence twice the tensor rank. */
enum { VMAX = 2 * FG_MAX_RANK };

/* ---- small helpers ---- */

static size_t esz(const fg_tensor *t) { return fg_dtype_size(t->dtype); }

static size_t nbytes(const fg_tensor *t) { return (size_t)fg_tensor_numel(t) * esz(t); }

static int threads_for(const fg_kctx *c, size_t bytes) {
    return c->n_threads > 1 && bytes >= PAR_BYTES ? c->n_threads : 1;
}

static int64_t prod(const int64_t *d, int lo, int hi) {
    int64_t p = 1;
    for (int i = lo; i < hi; i++)
        p *= d[i];
    return p;
}

static int require_in(fg_kctx *c, int k) {
    if (!fg_in(c, k))
        return FG_KERR(c, FG_EINVAL, "input %d is required", k);
    return 0;
}

/* This thread's share [*lo, *hi) of n items inside an omp parallel region. */
static void thread_range(int64_t n, int64_t *lo, int64_t *hi) {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

/* float32 -> IEEE half, rounding to nearest even (subnormals, infinities and NaN kept). */
static uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, mant = x & 0x7fffff, bexp = (x >> 23) & 0xff;
    int32_t exp = (int32_t)bexp - 127 + 15;
    if (bexp == 0xff)
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp), h = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* a carry into the exponent is the correct rounding, up to infinity */
    return (uint16_t)(sign | h);
}

/* float32 -> bfloat16, rounding to nearest even. */
static uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* v clamped to [lo, hi] (NaN to 0), so converting it to an integer type is defined. */
static double sat(double v, double lo, double hi) { return v != v ? 0 : v < lo ? lo : v > hi ? hi : v; }

/* Largest doubles below 2^63 and 2^64: the saturation bounds for 64-bit integers. */
#define I64_HI 9223372036854774784.0
#define U64_HI 18446744073709549568.0

/* Writes v as one element of dtype dt into dst (attribute values such as Pad's `value`); integer
 * types saturate. */
static int store_f64(fg_kctx *c, fg_dtype dt, double v, void *dst) {
    if (dt != FG_F32 && dt != FG_F64 && dt != FG_F16 && dt != FG_BF16 && dt != FG_BOOL)
        v = sat(v, dt == FG_I64 ? -I64_HI : dt == FG_I32 ? INT32_MIN : dt == FG_I16 ? INT16_MIN : dt == FG_I8 ? INT8_MIN : 0,
                dt == FG_I64 ? I64_HI : dt == FG_U64 ? U64_HI : dt == FG_I32 ? INT32_MAX : dt == FG_U32 ? UINT32_MAX :
                dt == FG_I16 ? INT16_MAX : dt == FG_U16 ? UINT16_MAX : dt == FG_I8 ? INT8_MAX : UINT8_MAX);
    switch (dt) {
    case FG_F32: { float x = (float)v; memcpy(dst, &x, 4); return 0; }
    case FG_F64: memcpy(dst, &v, 8); return 0;
    case FG_I64: { int64_t x = (int64_t)v; memcpy(dst, &x, 8); return 0; }
    case FG_U64: { uint64_t x = (uint64_t)v; memcpy(dst, &x, 8); return 0; }
    case FG_I32: { int32_t x = (int32_t)v; memcpy(dst, &x, 4); return 0; }
    case FG_U32: { uint32_t x = (uint32_t)v; memcpy(dst, &x, 4); return 0; }
    case FG_I16: { int16_t x = (int16_t)v; memcpy(dst, &x, 2); return 0; }
    case FG_U16: { uint16_t x = (uint16_t)v; memcpy(dst, &x, 2); return 0; }
    case FG_I8: { int8_t x = (int8_t)v; memcpy(dst, &x, 1); return 0; }
    case FG_U8: { uint8_t x = (uint8_t)v; memcpy(dst, &x, 1); return 0; }
    case FG_BOOL: { uint8_t x = v != 0; memcpy(dst, &x, 1); return 0; }
    case FG_F16: { uint16_t x = f32_to_f16((float)v); memcpy(dst, &x, 2); return 0; }
    case FG_BF16: { uint16_t x = f32_to_bf16((float)v); memcpy(dst, &x, 2); return 0; }
    default:
        if (v == 0) { /* all-zero bits are 0 in every float format */
            memset(dst, 0, fg_dtype_size(dt));
            return 0;
        }
        return FG_KERR(c, FG_EUNSUPPORTED, "a non-zero %s constant is not supported", fg_dtype_name(dt));
    }
}

/* ---- element movers, specialised on the element size so the per-element memcpy becomes a move ---- */

static inline __attribute__((always_inline)) void fill_es(char *d, const char *v, int64_t n, size_t es) {
    for (int64_t i = 0; i < n; i++)
        memcpy(d + (size_t)i * es, v, es);
}

/* Writes n copies of the es-byte element at val. */
static void fill(void *dst, const void *val, int64_t n, size_t es) {
    switch (es) {
    case 1: memset(dst, *(const unsigned char *)val, (size_t)n); break;
    case 2: fill_es(dst, val, n, 2); break;
    case 4: fill_es(dst, val, n, 4); break;
    case 8: fill_es(dst, val, n, 8); break;
    default: fill_es(dst, val, n, es); break;
    }
}

static inline __attribute__((always_inline)) void gather_es(char *d, const char *s, int64_t n, int64_t sb, size_t es) {
    for (int64_t i = 0; i < n; i++)
        memcpy(d + (size_t)i * es, s + i * sb, es);
}

/* Copies n elements that lie sb bytes apart in s to contiguous d. */
static void gather_row(char *d, const char *s, int64_t n, int64_t sb, size_t es) {
    if (sb == (int64_t)es) {
        memcpy(d, s, (size_t)n * es);
        return;
    }
    if (sb == 0) {
        fill(d, s, n, es);
        return;
    }
    switch (es) {
    case 1: gather_es(d, s, n, sb, 1); break;
    case 2: gather_es(d, s, n, sb, 2); break;
    case 4: gather_es(d, s, n, sb, 4); break;
    case 8: gather_es(d, s, n, sb, 8); break;
    default: gather_es(d, s, n, sb, es); break;
    }
}

static inline __attribute__((always_inline)) void pick_es(char *d, const char *s, const int64_t *off, int64_t n,
                                                          size_t es) {
    for (int64_t i = 0; i < n; i++)
        memcpy(d + (size_t)i * es, s + off[i] * (int64_t)es, es);
}

/* d[i] = s[off[i]] (element offsets). */
static void pick_row(char *d, const char *s, const int64_t *off, int64_t n, size_t es) {
    switch (es) {
    case 1: pick_es(d, s, off, n, 1); break;
    case 2: pick_es(d, s, off, n, 2); break;
    case 4: pick_es(d, s, off, n, 4); break;
    case 8: pick_es(d, s, off, n, 8); break;
    default: pick_es(d, s, off, n, es); break;
    }
}

/* memcpy split over threads for big buffers. */
static void par_memcpy(char *dst, const char *src, size_t n, int nt) {
    if (nt <= 1 || n < PAR_BYTES) {
        memcpy(dst, src, n);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int64_t lo, hi;
        thread_range((int64_t)(n / 64), &lo, &hi);
        size_t a = (size_t)lo * 64, b = omp_get_thread_num() == omp_get_num_threads() - 1 ? n : (size_t)hi * 64;
        if (b > a)
            memcpy(dst + a, src + a, b - a);
    }
}

/* ---- the strided-view copy engine ---- */

/* A strided view of a source buffer, copied out densely in row-major order. */
typedef struct view {
    int rank;
    int64_t dims[VMAX];
    int64_t st[VMAX]; /* source strides in elements: 0 repeats (Expand, Tile), negative walks back (Slice) */
} view;

/* Drops size-1 dims and merges dims that are adjacent in the source, so the inner loop runs as long
 * as possible. Returns the element count (0: nothing to copy). */
static int64_t view_coalesce(view *v) {
    int64_t n = prod(v->dims, 0, v->rank);
    if (n == 0)
        return 0;
    int r = 0;
    for (int d = 0; d < v->rank; d++) {
        if (v->dims[d] == 1)
            continue;
        if (r > 0 && v->st[r - 1] == v->st[d] * v->dims[d]) {
            v->dims[r - 1] *= v->dims[d];
            v->st[r - 1] = v->st[d];
            continue;
        }
        v->dims[r] = v->dims[d];
        v->st[r] = v->st[d];
        r++;
    }
    if (r == 0) {
        v->dims[0] = 1;
        v->st[0] = 1;
        r = 1;
    }
    v->rank = r;
    return n;
}

static inline __attribute__((always_inline)) void block_es(char *d, const char *s, int64_t b0, int64_t b1, int64_t l0,
                                                           int64_t l1, int64_t ob, int64_t sl, size_t es) {
    if (l1 - l0 < 8) { /* few columns (interleaving channels): long inner loops over the rows */
        for (int64_t l = l0; l < l1; l++)
            for (int64_t i = b0; i < b1; i++)
                memcpy(d + (i * ob + l) * (int64_t)es, s + (i + l * sl) * (int64_t)es, es);
        return;
    }
    for (int64_t i = b0; i < b1; i++)
        for (int64_t l = l0; l < l1; l++)
            memcpy(d + (i * ob + l) * (int64_t)es, s + (i + l * sl) * (int64_t)es, es);
}

#ifdef __SSE2__
/* 4-byte elements: 4x4 transposes in SSE registers (baseline on x86-64), so a tile costs a quarter
 * of the loads and stores; the edges fall back to scalar moves. */
static void block_copy4(char *d, const char *s, int64_t b0, int64_t b1, int64_t l0, int64_t l1, int64_t ob,
                        int64_t sl) {
    int64_t b4 = b0 + ((b1 - b0) & ~(int64_t)3), l4 = l0 + ((l1 - l0) & ~(int64_t)3);
    for (int64_t i = b0; i < b4; i += 4) {
        for (int64_t l = l0; l < l4; l += 4) {
            const float *p = (const float *)s + i + l * sl;
            __m128 r0 = _mm_loadu_ps(p), r1 = _mm_loadu_ps(p + sl), r2 = _mm_loadu_ps(p + 2 * sl),
                   r3 = _mm_loadu_ps(p + 3 * sl);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            float *q = (float *)d + i * ob + l;
            _mm_storeu_ps(q, r0);
            _mm_storeu_ps(q + ob, r1);
            _mm_storeu_ps(q + 2 * ob, r2);
            _mm_storeu_ps(q + 3 * ob, r3);
        }
        if (l4 < l1)
            block_es(d, s, i, i + 4, l4, l1, ob, sl, 4);
    }
    if (b4 < b1)
        block_es(d, s, b4, b1, l0, l1, ob, sl, 4);
}
#endif

/* Transposes one tile: output rows b0..b1 (source-contiguous) by columns l0..l1 (source stride sl). */
static void block_copy(char *d, const char *s, int64_t b0, int64_t b1, int64_t l0, int64_t l1, int64_t ob,
                       int64_t sl, size_t es) {
#ifdef __SSE2__
    if (es == 4 && b1 - b0 >= 4 && l1 - l0 >= 4) {
        block_copy4(d, s, b0, b1, l0, l1, ob, sl);
        return;
    }
#endif
    switch (es) {
    case 1: block_es(d, s, b0, b1, l0, l1, ob, sl, 1); break;
    case 2: block_es(d, s, b0, b1, l0, l1, ob, sl, 2); break;
    case 4: block_es(d, s, b0, b1, l0, l1, ob, sl, 4); break;
    case 8: block_es(d, s, b0, b1, l0, l1, ob, sl, 8); break;
    default: block_es(d, s, b0, b1, l0, l1, ob, sl, es); break;
    }
}

/* The inner output dim L is strided in the source while dim b is contiguous there: copy in tiles of
 * (b, L). When both are long, a tile is first read into a stack buffer along the source's contiguous
 * rows and then written along the output's, so every cache line is read and written whole, even at
 * power-of-two strides where direct tiles thrash one cache set. When one side is short (NCHW<->NHWC
 * with 3 channels), the tile is long on the other side and copied directly: a few streams each way. */
static void view_copy_blocked(char *dst, const char *src, const view *v, int b, size_t es, int nt) {
    enum { SQ = 64, AREA = 2048, SHORT = 16 };
    int R = v->rank, L = R - 1, no = 0;
    int64_t ost[VMAX], od[VMAX], os[VMAX], odst[VMAX];
    int64_t s = 1;
    for (int d = R - 1; d >= 0; d--) {
        ost[d] = s;
        s *= v->dims[d];
    }
    for (int d = 0; d < R; d++)
        if (d != b && d != L) {
            od[no] = v->dims[d];
            os[no] = v->st[d];
            odst[no] = ost[d];
            no++;
        }
    int64_t n_outer = prod(od, 0, no), nb = v->dims[b], nl = v->dims[L], sl = v->st[L], ob = ost[b];
    int64_t bb_n = SQ, bl_n = SQ;
    bool staged = es <= 8;
    if (nl <= SHORT || nb <= SHORT) {
        bb_n = nl <= SHORT ? AREA / nl : nb;
        bl_n = nl <= SHORT ? nl : AREA / nb;
        staged = false;
    }
    int64_t nbb = (nb + bb_n - 1) / bb_n, nlb = (nl + bl_n - 1) / bl_n, tasks = n_outer * nbb * nlb;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t t = 0; t < tasks; t++) {
        /* tiles advance along b first: the source is read as a few sequential streams */
        int64_t bb = t % nbb, q = t / nbb, lb = q % nlb, o = q / nlb, so = 0, dof = 0;
        for (int d = no - 1; d >= 0; d--) {
            int64_t i = o % od[d];
            o /= od[d];
            so += i * os[d];
            dof += i * odst[d];
        }
        int64_t b0 = bb * bb_n, l0 = lb * bl_n;
        int64_t b1 = b0 + bb_n < nb ? b0 + bb_n : nb, l1 = l0 + bl_n < nl ? l0 + bl_n : nl;
        const char *sp = src + so * (int64_t)es;
        char *dp = dst + dof * (int64_t)es;
        if (!staged) {
            block_copy(dp, sp, b0, b1, l0, l1, ob, sl, es);
            continue;
        }
        _Alignas(64) char buf[SQ * SQ * 8];
        size_t run = (size_t)(b1 - b0) * es;
        for (int64_t l = l0; l < l1; l++)
            memcpy(buf + (size_t)(l - l0) * SQ * es, sp + (b0 + l * sl) * (int64_t)es, run);
        block_copy(dp + (b0 * ob + l0) * (int64_t)es, buf, 0, b1 - b0, 0, l1 - l0, ob, SQ, es);
    }
}

/* Copies the view v of src (element size es) densely into dst. v is coalesced in place. */
static void view_copy(const fg_kctx *c, char *dst, const char *src, view *v, size_t es) {
    int64_t n = view_coalesce(v);
    if (n == 0)
        return;
    int nt = threads_for(c, (size_t)n * es);
    int R = v->rank;
    int64_t inner = v->dims[R - 1], sl = v->st[R - 1];
    if (R == 1 && sl == 1) {
        par_memcpy(dst, src, (size_t)n * es, nt);
        return;
    }
    if (R >= 2 && sl != 1 && sl != 0)
        for (int b = R - 2; b >= 0; b--)
            if (v->st[b] == 1) {
                view_copy_blocked(dst, src, v, b, es, nt);
                return;
            }
    int64_t rows = n / inner;
    if (rows < nt)
        nt = rows > 1 ? (int)rows : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int64_t r0 = 0, r1 = rows, idx[VMAX], off = 0, rem;
        if (nt > 1)
            thread_range(rows, &r0, &r1);
        rem = r0;
        for (int d = R - 2; d >= 0; d--) {
            idx[d] = rem % v->dims[d];
            rem /= v->dims[d];
            off += idx[d] * v->st[d];
        }
        char *dp = dst + (size_t)r0 * (size_t)inner * es;
        for (int64_t r = r0; r < r1; r++) {
            gather_row(dp, src + off * (int64_t)es, inner, sl * (int64_t)es, es);
            dp += (size_t)inner * es;
            for (int d = R - 2; d >= 0; d--) {
                off += v->st[d];
                if (++idx[d] < v->dims[d])
                    break;
                off -= v->st[d] * v->dims[d];
                idx[d] = 0;
            }
        }
    }
}

/* ---- Identity and the metadata ops ---- */

static int infer_identity(fg_kctx *c) {
    int rc = require_in(c, 0);
    if (rc < 0)
        return rc;
    fg_same_shape(c->out[0], c->in[0]);
    return 0;
}

/* Alias ops never run in a plan (their output is the input's bytes); this serves direct callers. */
static int run_copy(fg_kctx *c) {
    if (c->out[0]->data != c->in[0]->data)
        par_memcpy(c->out[0]->data, c->in[0]->data, nbytes(c->in[0]), threads_for(c, nbytes(c->in[0])));
    return 0;
}

/* Shape's [start, end) range over the dims (opset 15 attributes), clamped like Python slicing. */
static void shape_range(fg_kctx *c, int64_t *lo, int64_t *hi) {
    int64_t r = c->in[0]->rank, s = 0, e = r;
    if (c->opset >= 15) {
        s = fg_attr_i(c->node, "start", 0);
        e = fg_attr_i(c->node, "end", r);
    }
    if (s < 0)
        s += r;
    if (e < 0)
        e += r;
    s = s < 0 ? 0 : s > r ? r : s;
    e = e < 0 ? 0 : e > r ? r : e;
    *lo = s;
    *hi = e > s ? e : s;
}

static int infer_shape(fg_kctx *c) {
    int rc = require_in(c, 0);
    if (rc < 0)
        return rc;
    int64_t lo, hi;
    shape_range(c, &lo, &hi);
    int64_t d = hi - lo;
    fg_set_shape(c->out[0], FG_I64, 1, &d);
    return 0;
}

static int run_shape(fg_kctx *c) {
    int64_t lo, hi;
    shape_range(c, &lo, &hi);
    int64_t *y = c->out[0]->data;
    for (int64_t i = lo; i < hi; i++)
        y[i - lo] = c->in[0]->dims[i];
    return 0;
}

static int infer_size(fg_kctx *c) {
    int rc = require_in(c, 0);
    if (rc < 0)
        return rc;
    fg_set_shape(c->out[0], FG_I64, 0, NULL);
    return 0;
}

static int run_size(fg_kctx *c) {
    *(int64_t *)c->out[0]->data = fg_tensor_numel(c->in[0]);
    return 0;
}

/* ---- Reshape, Flatten, Squeeze, Unsqueeze: new dims over the same bytes ---- */

static int infer_reshape(fg_kctx *c) {
    int rc = require_in(c, 0);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int64_t sh[FG_MAX_RANK];
    int n;
    if (c->opset < 5) {
        const int64_t *a;
        n = fg_attr_ints(c->node, "shape", &a);
        if (n < 0)
            return FG_KERR(c, FG_EINVAL, "attribute shape is required");
        if (n > FG_MAX_RANK)
            return FG_KERR(c, FG_EUNSUPPORTED, "rank %d is above %d", n, FG_MAX_RANK);
        memcpy(sh, a, sizeof(int64_t) * (size_t)n);
    } else if ((rc = fg_in_ints(c, 1, sh, FG_MAX_RANK, &n, "shape")) < 0) {
        return rc;
    }
    bool allowzero = c->opset >= 14 && fg_attr_i(c->node, "allowzero", 0) != 0;
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        if (sh[i] == -1) {
            if (infer_at >= 0)
                return FG_KERR(c, FG_EINVAL, "shape has more than one -1");
            infer_at = i;
            continue;
        }
        if (sh[i] == 0 && !allowzero) {
            if (i >= x->rank)
                return FG_KERR(c, FG_ESHAPE, "shape[%d] is 0 (copy) but the input has rank %d", i, x->rank);
            sh[i] = x->dims[i];
        }
        if (sh[i] < 0)
            return FG_KERR(c, FG_EINVAL, "shape[%d] is %lld", i, (long long)sh[i]);
        /* saturates instead of overflowing: a saturated product never equals the input's count, and a
         * later 0 still makes it 0 */
        known = sh[i] && known > INT64_MAX / sh[i] ? INT64_MAX : known * sh[i];
    }
    int64_t total = fg_tensor_numel(x);
    if (infer_at >= 0) {
        if (known == 0) {
            if (total != 0)
                return FG_KERR(c, FG_ESHAPE, "cannot infer the -1 of a shape with a zero dimension");
            sh[infer_at] = 0;
        } else {
            sh[infer_at] = total / known;
        }
        known *= sh[infer_at];
    }
    if (known != total) {
        char a[160];
        fg_tensor w = {.rank = n};
        memcpy(w.dims, sh, sizeof(int64_t) * (size_t)n);
        char b[160];
        return FG_KERR(c, FG_ESHAPE, "cannot reshape %s to %s", fg_shape_str(x, a, sizeof a), fg_shape_str(&w, b, sizeof b));
    }
    fg_set_shape(c->out[0], x->dtype, n, sh);
    return 0;
}

static int infer_flatten(fg_kctx *c) {
    int rc = require_in(c, 0);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int64_t a = fg_attr_i(c->node, "axis", 1);
    if (a < 0)
        a += x->rank;
    if (a < 0 || a > x->rank)
        return FG_KERR(c, FG_EINVAL, "axis %lld is out of range for rank %d", (long long)fg_attr_i(c->node, "axis", 1), x->rank);
    int64_t d[2] = {prod(x->dims, 0, (int)a), prod(x->dims, (int)a, x->rank)};
    fg_set_shape(c->out[0], x->dtype, 2, d);
    return 0;
}

/* Checks Squeeze/Unsqueeze's input 0 is present and reads their axes: an attribute before opset 13,
 * input 1 since. *n = -1 when absent. */
static int get_axes(fg_kctx *c, int64_t *ax, int *n) {
    int rc = require_in(c, 0);
    if (rc < 0)
        return rc;
    *n = -1;
    if (c->opset >= 13) {
        if (fg_in(c, 1))
            return fg_in_ints(c, 1, ax, FG_MAX_RANK, n, "axes");
        return 0;
    }
    const int64_t *a;
    int k = fg_attr_ints(c->node, "axes", &a);
    if (k > FG_MAX_RANK)
        return FG_KERR(c, FG_EINVAL, "%d axes are more than the rank allows", k);
    if (k >= 0)
        memcpy(ax, a, sizeof(int64_t) * (size_t)k);
    *n = k;
    return 0;
}

static int infer_squeeze(fg_kctx *c) {
    int64_t ax[FG_MAX_RANK], d[FG_MAX_RANK];
    int n, rc = get_axes(c, ax, &n);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    bool drop[FG_MAX_RANK] = {0};
    if (n < 0) {
        for (int i = 0; i < x->rank; i++)
            drop[i] = x->dims[i] == 1;
    } else {
        for (int i = 0; i < n; i++) {
            int a;
            if ((rc = fg_norm_axis(c, ax[i], x->rank, &a)) < 0)
                return rc;
            if (a >= x->rank)
                return FG_KERR(c, FG_EINVAL, "a scalar has no axis to squeeze");
            if (x->dims[a] != 1)
                return FG_KERR(c, FG_ESHAPE, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a]);
            drop[a] = true;
        }
    }
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (!drop[i])
            d[r++] = x->dims[i];
    fg_set_shape(c->out[0], x->dtype, r, d);
    return 0;
}

static int infer_unsqueeze(fg_kctx *c) {
    int64_t ax[FG_MAX_RANK], d[FG_MAX_RANK];
    int n, rc = get_axes(c, ax, &n);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    bool ins[FG_MAX_RANK] = {0};
    if (n < 0)
        return FG_KERR(c, FG_EINVAL, "axes are required");
    int r = x->rank + n;
    if (r > FG_MAX_RANK)
        return FG_KERR(c, FG_EUNSUPPORTED, "output rank %d is above %d", r, FG_MAX_RANK);
    for (int i = 0; i < n; i++) {
        int a;
        if ((rc = fg_norm_axis(c, ax[i], r, &a)) < 0)
            return rc;
        if (ins[a])
            return FG_KERR(c, FG_EINVAL, "axis %d is repeated", a);
        ins[a] = true;
    }
    for (int i = 0, j = 0; i < r; i++)
        d[i] = ins[i] ? 1 : x->dims[j++];
    fg_set_shape(c->out[0], x->dtype, r, d);
    return 0;
}

/* ---- Dropout: inference only. Not an alias: the planner would leave the mask output unwritten. ---- */

static int infer_dropout(fg_kctx *c) {
    int rc = require_in(c, 0);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    const fg_tensor *tm = fg_in(c, 2);
    if (c->opset >= 12 && tm && fg_tensor_numel(tm) > 0) {
        if (!tm->data) {
            c->need_value = 2;
            return FG_KERR(c, FG_ENEEDVALUE, "the value of training_mode is needed to plan");
        }
        if (fg_tensor_get_i64(tm, 0)) { /* training: deterministic only when nothing is dropped */
            const fg_tensor *rt = fg_in(c, 1);
            if (rt && fg_tensor_numel(rt) == 1 && !rt->data) {
                c->need_value = 1;
                return FG_KERR(c, FG_ENEEDVALUE, "the value of ratio is needed to plan");
            }
            if (!rt || fg_tensor_numel(rt) != 1 || (rt->dtype != FG_F32 && rt->dtype != FG_F64) ||
                fg_tensor_get_f64(rt, 0) != 0)
                return FG_KERR(c, FG_EUNSUPPORTED, "training_mode=true with a non-zero ratio (random dropout)");
        }
    }
    fg_same_shape(c->out[0], x);
    if (c->n_out > 1 && c->out[1])
        fg_set_shape(c->out[1], c->opset >= 10 ? FG_BOOL : x->dtype, x->rank, x->dims);
    return 0;
}

static int run_dropout(fg_kctx *c) {
    run_copy(c);
    if (c->n_out > 1 && c->out[1]) {
        fg_tensor *m = c->out[1];
        unsigned char one[8];
        int rc = store_f64(c, m->dtype, 1.0, one);
        if (rc < 0)
            return rc;
        fill(m->data, one, fg_tensor_numel(m), esz(m));
    }
    return 0;
}

/* ---- Transpose, DepthToSpace, SpaceToDepth: permutations of a view ---- */

static int transpose_perm(fg_kctx *c, int *perm) {
    const fg_tensor *x = c->in[0];
    const int64_t *p;
    int n = fg_attr_ints(c->node, "perm", &p);
    if (n < 0) {
        for (int i = 0; i < x->rank; i++)
            perm[i] = x->rank - 1 - i;
        return 0;
    }
    if (n != x->rank)
        return FG_KERR(c, FG_EINVAL, "perm has %d entries for rank %d", n, x->rank);
    bool seen[FG_MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= n || seen[p[i]])
            return FG_KERR(c, FG_EINVAL, "perm is not a permutation of 0..%d", n - 1);
        seen[p[i]] = true;
        perm[i] = (int)p[i];
    }
    return 0;
}

static int infer_transpose(fg_kctx *c) {
    int rc = require_in(c, 0), perm[FG_MAX_RANK];
    if (rc < 0 || (rc = transpose_perm(c, perm)) < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int64_t d[FG_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        d[i] = x->dims[perm[i]];
    fg_set_shape(c->out[0], x->dtype, x->rank, d);
    return 0;
}

static int run_transpose(fg_kctx *c) {
    int perm[FG_MAX_RANK];
    int rc = transpose_perm(c, perm);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int64_t st[FG_MAX_RANK];
    fg_strides(x, st);
    view v = {.rank = x->rank};
    for (int i = 0; i < x->rank; i++) {
        v.dims[i] = x->dims[perm[i]];
        v.st[i] = st[perm[i]];
    }
    view_copy(c, c->out[0]->data, x->data, &v, esz(x));
    return 0;
}

static int d2s_check(fg_kctx *c, int64_t *b) {
    int rc = require_in(c, 0);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    *b = fg_attr_i(c->node, "blocksize", 0);
    if (*b <= 0)
        return FG_KERR(c, FG_EINVAL, "blocksize must be positive");
    if (*b > (int64_t)1 << 31) /* so that blocksize^2 fits int64 */
        return FG_KERR(c, FG_EINVAL, "blocksize %lld is too large", (long long)*b);
    if (x->rank != 4)
        return FG_KERR(c, FG_ESHAPE, "input must be 4-D, got rank %d", x->rank);
    return 0;
}

static bool d2s_crd(fg_kctx *c) { return c->opset >= 11 && strcmp(fg_attr_s(c->node, "mode", "DCR"), "CRD") == 0; }

static int infer_d2s(fg_kctx *c) {
    int64_t b;
    int rc = d2s_check(c, &b);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    const char *mode = c->opset >= 11 ? fg_attr_s(c->node, "mode", "DCR") : "DCR";
    if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
        return FG_KERR(c, FG_EINVAL, "mode '%s' is not DCR or CRD", mode);
    if (x->dims[1] % (b * b))
        return FG_KERR(c, FG_ESHAPE, "channels %lld are not divisible by blocksize^2 = %lld", (long long)x->dims[1],
                       (long long)(b * b));
    int64_t d[4] = {x->dims[0], x->dims[1] / (b * b), x->dims[2] * b, x->dims[3] * b};
    fg_set_shape(c->out[0], x->dtype, 4, d);
    return 0;
}

static int run_d2s(fg_kctx *c) {
    int64_t b;
    int rc = d2s_check(c, &b);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int64_t C = x->dims[1], H = x->dims[2], W = x->dims[3], Co = C / (b * b), HW = H * W;
    /* output viewed as [N, C', H, b1, W, b2] */
    view v = {.rank = 6, .dims = {x->dims[0], Co, H, b, W, b}};
    int64_t st_crd[6] = {C * HW, b * b * HW, W, b * HW, 1, HW}, st_dcr[6] = {C * HW, HW, W, b * Co * HW, 1, Co * HW};
    memcpy(v.st, d2s_crd(c) ? st_crd : st_dcr, sizeof st_crd);
    view_copy(c, c->out[0]->data, x->data, &v, esz(x));
    return 0;
}

static int infer_s2d(fg_kctx *c) {
    int64_t b;
    int rc = d2s_check(c, &b);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    if (x->dims[2] % b || x->dims[3] % b)
        return FG_KERR(c, FG_ESHAPE, "height %lld and width %lld must be divisible by blocksize %lld",
                       (long long)x->dims[2], (long long)x->dims[3], (long long)b);
    if (x->dims[1] > INT64_MAX / (b * b)) /* possible when the spatial dims are 0 */
        return FG_KERR(c, FG_ENOMEM, "%lld channels times blocksize^2 overflow", (long long)x->dims[1]);
    int64_t d[4] = {x->dims[0], x->dims[1] * b * b, x->dims[2] / b, x->dims[3] / b};
    fg_set_shape(c->out[0], x->dtype, 4, d);
    return 0;
}

static int run_s2d(fg_kctx *c) {
    int64_t b;
    int rc = d2s_check(c, &b);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int64_t C = x->dims[1], H = x->dims[2], W = x->dims[3];
    /* output viewed as [N, b1, b2, C, H/b, W/b] */
    view v = {.rank = 6, .dims = {x->dims[0], b, b, C, H / b, W / b}, .st = {C * H * W, W, 1, H * W, b * W, b}};
    view_copy(c, c->out[0]->data, x->data, &v, esz(x));
    return 0;
}

/* ---- Concat and Split ---- */

static int infer_concat(fg_kctx *c) {
    const fg_tensor *f = NULL;
    for (int k = 0; k < c->n_in && !f; k++)
        f = c->in[k];
    if (!f)
        return FG_KERR(c, FG_EINVAL, "no inputs");
    const fg_attr *aa = fg_attr_get(c->node, "axis");
    if (!aa && c->opset >= 4)
        return FG_KERR(c, FG_EINVAL, "attribute axis is required");
    if (aa && aa->type != FG_ATTR_INT) /* run reads it with fg_attr_i: both must see the same axis */
        return FG_KERR(c, FG_EINVAL, "attribute axis must be an int");
    int axis, rc = fg_norm_axis(c, aa ? aa->i : 1, f->rank, &axis);
    if (rc < 0)
        return rc;
    if (f->rank == 0)
        return FG_KERR(c, FG_ESHAPE, "cannot concatenate scalars");
    int64_t d[FG_MAX_RANK];
    memcpy(d, f->dims, sizeof d);
    d[axis] = 0;
    for (int k = 0; k < c->n_in; k++) {
        const fg_tensor *t = c->in[k];
        if (!t)
            continue;
        if (t->dtype != f->dtype)
            return FG_KERR(c, FG_EDTYPE, "input %d is %s, input 0 is %s", k, fg_dtype_name(t->dtype), fg_dtype_name(f->dtype));
        if (t->rank != f->rank)
            return FG_KERR(c, FG_ESHAPE, "input %d has rank %d, expected %d", k, t->rank, f->rank);
        for (int i = 0; i < f->rank; i++)
            if (i != axis && t->dims[i] != f->dims[i]) {
                char a[160], b[160];
                return FG_KERR(c, FG_ESHAPE, "shapes %s and %s differ outside axis %d", fg_shape_str(f, a, sizeof a),
                               fg_shape_str(t, b, sizeof b), axis);
            }
        d[axis] += t->dims[axis];
    }
    fg_set_shape(c->out[0], f->dtype, f->rank, d);
    return 0;
}

static int concat_axis(fg_kctx *c, int rank) {
    int64_t a = fg_attr_i(c->node, "axis", 1);
    return (int)(a < 0 ? a + rank : a);
}

/* Writes row o of Concat's output (at d) from row o of every input; nt > 1 splits each copy. Inlined so
 * that the per-row loop with nt = 1 is plain memcpy calls, as many short rows need. */
static inline __attribute__((always_inline)) void concat_row(const fg_kctx *c, char *d, int axis, size_t es,
                                                             int64_t o, int nt) {
    for (int k = 0; k < c->n_in; k++) {
        const fg_tensor *t = c->in[k];
        if (!t)
            continue;
        size_t chunk = (size_t)prod(t->dims, axis, t->rank) * es;
        if (nt > 1)
            par_memcpy(d, (const char *)t->data + (size_t)o * chunk, chunk, nt);
        else
            memcpy(d, (const char *)t->data + (size_t)o * chunk, chunk);
        d += chunk;
    }
}

static int run_concat(fg_kctx *c) {
    fg_tensor *y = c->out[0];
    size_t es = esz(y);
    int axis = concat_axis(c, y->rank);
    int64_t outer = prod(y->dims, 0, axis);
    size_t row = (size_t)prod(y->dims, axis, y->rank) * es, total = row * (size_t)outer;
    int nt = threads_for(c, total);
    if (outer < 4 * nt || outer == 1) { /* few long rows: parallelise inside each copy */
        for (int64_t o = 0; o < outer; o++)
            concat_row(c, (char *)y->data + (size_t)o * row, axis, es, o, nt);
        return 0;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outer; o++)
        concat_row(c, (char *)y->data + (size_t)o * row, axis, es, o, 1);
    return 0;
}

/* Split's part sizes along *axis: from input 1 (opset 13+, or opset 1), attribute split (2-12),
 * num_outputs (18+) or equal parts. */
static int split_sizes(fg_kctx *c, int *axis, int64_t *sz) {
    int rc = require_in(c, 0), n = -1;
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    if ((rc = fg_norm_axis(c, fg_attr_i(c->node, "axis", 0), x->rank, axis)) < 0)
        return rc;
    if (x->rank == 0)
        return FG_KERR(c, FG_ESHAPE, "cannot split a scalar");
    int64_t dim = x->dims[*axis];
    if (c->n_out > 64)
        return FG_KERR(c, FG_EUNSUPPORTED, "%d outputs are more than 64", c->n_out);
    if ((c->opset >= 13 || c->opset < 2) && fg_in(c, 1)) {
        if ((rc = fg_in_ints(c, 1, sz, 64, &n, "split")) < 0)
            return rc;
        if (n == 0)
            n = -1; /* empty split input: equal parts */
    } else if (c->opset < 13) {
        const int64_t *a;
        n = fg_attr_ints(c->node, "split", &a);
        if (n > 64)
            return FG_KERR(c, FG_EUNSUPPORTED, "split has %d parts, at most 64 are supported", n);
        if (n > 0)
            memcpy(sz, a, sizeof(int64_t) * (size_t)n);
        if (n == 0)
            n = -1;
    }
    if (n < 0) {
        int64_t parts = c->n_out;
        const fg_attr *no = c->opset >= 18 ? fg_attr_get(c->node, "num_outputs") : NULL;
        if (no && no->type != FG_ATTR_INT)
            return FG_KERR(c, FG_EINVAL, "attribute num_outputs must be an int");
        if (no) {
            if (no->i != c->n_out)
                return FG_KERR(c, FG_EINVAL, "num_outputs is %lld but the node has %d outputs", (long long)no->i, c->n_out);
            int64_t chunk = (dim + parts - 1) / parts;
            for (int i = 0; i < parts; i++) {
                int64_t left = dim - chunk * i;
                sz[i] = left < 0 ? 0 : left < chunk ? left : chunk;
            }
        } else {
            if (dim % parts)
                return FG_KERR(c, FG_ESHAPE, "axis %d of size %lld does not split into %lld equal parts", *axis,
                               (long long)dim, (long long)parts);
            for (int i = 0; i < parts; i++)
                sz[i] = dim / parts;
        }
        n = (int)parts;
    }
    if (n != c->n_out)
        return FG_KERR(c, FG_EINVAL, "split has %d parts but the node has %d outputs", n, c->n_out);
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        if (sz[i] < 0)
            return FG_KERR(c, FG_EINVAL, "split[%d] is negative", i);
        if (sz[i] > dim - sum) /* compared before adding: huge sizes would overflow the sum */
            return FG_KERR(c, FG_ESHAPE, "split sums to more than the size %lld of axis %d", (long long)dim, *axis);
        sum += sz[i];
    }
    if (sum != dim)
        return FG_KERR(c, FG_ESHAPE, "split sums to %lld but axis %d has size %lld", (long long)sum, *axis, (long long)dim);
    return 0;
}

static int infer_split(fg_kctx *c) {
    int axis;
    int64_t sz[64];
    int rc = split_sizes(c, &axis, sz);
    if (rc < 0)
        return rc;
    for (int k = 0; k < c->n_out; k++) {
        if (!c->out[k])
            continue;
        fg_same_shape(c->out[k], c->in[0]);
        c->out[k]->dims[axis] = sz[k];
    }
    return 0;
}

/* Writes row o of every Split output from row o of the input (at s); nt > 1 splits each copy. Inlined
 * like concat_row. */
static inline __attribute__((always_inline)) void split_row(const fg_kctx *c, const char *s, const int64_t *sz,
                                                            size_t inner, int64_t o, int nt) {
    for (int k = 0; k < c->n_out; k++) {
        size_t chunk = (size_t)sz[k] * inner;
        if (c->out[k] && nt > 1)
            par_memcpy((char *)c->out[k]->data + (size_t)o * chunk, s, chunk, nt);
        else if (c->out[k])
            memcpy((char *)c->out[k]->data + (size_t)o * chunk, s, chunk);
        s += chunk;
    }
}

static int run_split(fg_kctx *c) {
    int axis;
    int64_t sz[64];
    int rc = split_sizes(c, &axis, sz);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    size_t es = esz(x);
    int64_t outer = prod(x->dims, 0, axis);
    size_t inner = (size_t)prod(x->dims, axis + 1, x->rank) * es, row = inner * (size_t)x->dims[axis];
    int nt = threads_for(c, nbytes(x));
    if (outer < 4 * nt || outer == 1) {
        for (int64_t o = 0; o < outer; o++)
            split_row(c, (const char *)x->data + (size_t)o * row, sz, inner, o, nt);
        return 0;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < outer; o++)
        split_row(c, (const char *)x->data + (size_t)o * row, sz, inner, o, 1);
    return 0;
}

/* ---- Slice ---- */

typedef struct slice_p {
    int64_t start[FG_MAX_RANK], step[FG_MAX_RANK], count[FG_MAX_RANK];
} slice_p;

/* Reads Slice-1's ints attribute name into v, *n = -1 when absent. */
static int slice_attr(fg_kctx *c, const char *name, int64_t *v, int *n) {
    const int64_t *a;
    *n = fg_attr_ints(c->node, name, &a);
    if (*n > FG_MAX_RANK)
        return FG_KERR(c, FG_EINVAL, "too many %s", name);
    if (*n > 0)
        memcpy(v, a, sizeof(int64_t) * (size_t)*n);
    return 0;
}

/* Resolves starts/ends/axes/steps (attributes before opset 10, inputs since) against the input shape,
 * with numpy's clamping: ends may be INT64_MAX/INT64_MIN, negative steps walk backwards. */
static int slice_params(fg_kctx *c, slice_p *p) {
    int rc = require_in(c, 0);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int64_t st[FG_MAX_RANK], en[FG_MAX_RANK], ax[FG_MAX_RANK], sp[FG_MAX_RANK];
    int ns, ne, na = -1, nsp = -1;
    if (c->opset < 10) {
        if ((rc = slice_attr(c, "starts", st, &ns)) < 0 || (rc = slice_attr(c, "ends", en, &ne)) < 0)
            return rc;
        if (ns < 0 || ne < 0)
            return FG_KERR(c, FG_EINVAL, "attributes starts and ends are required");
        if ((rc = slice_attr(c, "axes", ax, &na)) < 0)
            return rc;
    } else {
        if ((rc = fg_in_ints(c, 1, st, FG_MAX_RANK, &ns, "starts")) < 0 ||
            (rc = fg_in_ints(c, 2, en, FG_MAX_RANK, &ne, "ends")) < 0)
            return rc;
        if (fg_in(c, 3) && (rc = fg_in_ints(c, 3, ax, FG_MAX_RANK, &na, "axes")) < 0)
            return rc;
        if (fg_in(c, 4) && (rc = fg_in_ints(c, 4, sp, FG_MAX_RANK, &nsp, "steps")) < 0)
            return rc;
    }
    if (ns != ne || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
        return FG_KERR(c, FG_EINVAL, "starts, ends, axes and steps have different lengths");
    if (ns > x->rank)
        return FG_KERR(c, FG_EINVAL, "%d starts for rank %d", ns, x->rank);
    bool seen[FG_MAX_RANK] = {0};
    for (int d = 0; d < x->rank; d++) {
        p->start[d] = 0;
        p->step[d] = 1;
        p->count[d] = x->dims[d];
    }
    for (int i = 0; i < ns; i++) {
        int a = i;
        if (na >= 0 && (rc = fg_norm_axis(c, ax[i], x->rank, &a)) < 0)
            return rc;
        if (seen[a])
            return FG_KERR(c, FG_EINVAL, "axis %d is repeated", a);
        seen[a] = true;
        int64_t dim = x->dims[a], s = st[i], e = en[i], k = nsp >= 0 ? sp[i] : 1;
        if (k == 0)
            return FG_KERR(c, FG_EINVAL, "step on axis %d is 0", a);
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        int64_t n;
        if (k > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            n = e > s ? (e - s - 1) / k + 1 : 0;
        } else {
            s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            int64_t ak = k == INT64_MIN ? INT64_MAX : -k;
            n = s > e ? (s - e - 1) / ak + 1 : 0;
        }
        if (dim == 0)
            n = 0;
        p->start[a] = n ? s : 0;
        p->step[a] = n > 1 ? k : 1; /* the step only matters for a second element (and cannot overflow then) */
        p->count[a] = n;
    }
    return 0;
}

static int infer_slice(fg_kctx *c) {
    slice_p p;
    int rc = slice_params(c, &p);
    if (rc < 0)
        return rc;
    fg_set_shape(c->out[0], c->in[0]->dtype, c->in[0]->rank, p.count);
    return 0;
}

static int run_slice(fg_kctx *c) {
    slice_p p;
    int rc = slice_params(c, &p);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int64_t st[FG_MAX_RANK], base = 0;
    fg_strides(x, st);
    view v = {.rank = x->rank};
    for (int d = 0; d < x->rank; d++) {
        base += p.start[d] * st[d];
        v.dims[d] = p.count[d];
        v.st[d] = p.step[d] * st[d];
    }
    if (fg_tensor_numel(c->out[0]) == 0)
        return 0;
    view_copy(c, c->out[0]->data, (const char *)x->data + base * (int64_t)esz(x), &v, esz(x));
    return 0;
}

/* ---- Gather, GatherElements ---- */

static int check_index_dtype(fg_kctx *c, int k) {
    const fg_tensor *t = c->in[k];
    if (t->dtype != FG_I64 && t->dtype != FG_I32)
        return FG_KERR(c, FG_EDTYPE, "indices must be int64 or int32, not %s", fg_dtype_name(t->dtype));
    return 0;
}

static inline int64_t index_at(const fg_tensor *t, int64_t i) {
    return t->dtype == FG_I64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
}

static inline __attribute__((always_inline)) void pick_index_es(char *d, const char *s, const fg_tensor *ix, int64_t n,
                                                                int64_t dim, size_t es) {
    for (int64_t j = 0; j < n; j++) {
        int64_t v = index_at(ix, j);
        memcpy(d + (size_t)j * es, s + (v < 0 ? v + dim : v) * (int64_t)es, es);
    }
}

/* d[j] = s[ix[j]] for validated indices that may be negative (from the end of an axis of dim). */
static void pick_index(char *d, const char *s, const fg_tensor *ix, int64_t n, int64_t dim, size_t es) {
    switch (es) {
    case 1: pick_index_es(d, s, ix, n, dim, 1); break;
    case 2: pick_index_es(d, s, ix, n, dim, 2); break;
    case 4: pick_index_es(d, s, ix, n, dim, 4); break;
    case 8: pick_index_es(d, s, ix, n, dim, 8); break;
    default: pick_index_es(d, s, ix, n, dim, es); break;
    }
}

static int infer_gather(fg_kctx *c) {
    int rc, axis;
    if ((rc = require_in(c, 0)) < 0 || (rc = require_in(c, 1)) < 0 || (rc = check_index_dtype(c, 1)) < 0)
        return rc;
    const fg_tensor *x = c->in[0], *ix = c->in[1];
    if ((rc = fg_norm_axis(c, fg_attr_i(c->node, "axis", 0), x->rank, &axis)) < 0)
        return rc;
    if (x->rank == 0)
        return FG_KERR(c, FG_ESHAPE, "cannot gather from a scalar");
    int r = x->rank - 1 + ix->rank;
    if (r > FG_MAX_RANK)
        return FG_KERR(c, FG_EUNSUPPORTED, "output rank %d is above %d", r, FG_MAX_RANK);
    int64_t d[FG_MAX_RANK];
    int k = 0;
    for (int i = 0; i < axis; i++)
        d[k++] = x->dims[i];
    for (int i = 0; i < ix->rank; i++)
        d[k++] = ix->dims[i];
    for (int i = axis + 1; i < x->rank; i++)
        d[k++] = x->dims[i];
    fg_set_shape(c->out[0], x->dtype, r, d);
    return 0;
}

static int run_gather(fg_kctx *c) {
    const fg_tensor *x = c->in[0], *ix = c->in[1];
    int axis = (int)fg_attr_i(c->node, "axis", 0);
    if (axis < 0)
        axis += x->rank;
    int64_t dim = x->dims[axis], ni = fg_tensor_numel(ix), outer = prod(x->dims, 0, axis);
    size_t es = esz(x), inner = (size_t)prod(x->dims, axis + 1, x->rank) * es;
    for (int64_t j = 0; j < ni; j++) {
        int64_t v = index_at(ix, j);
        if (v < -dim || v >= dim)
            return FG_KERR(c, FG_EINVAL, "index %lld is out of range for axis %d of size %lld", (long long)v, axis,
                           (long long)dim);
    }
    int64_t rows = outer * ni;
    if (rows == 0 || inner == 0)
        return 0;
    const char *src = x->data;
    char *dst = c->out[0]->data;
    int nt = threads_for(c, (size_t)rows * inner);
    if (inner == es && ni > 1) { /* single elements: typed picks, no memcpy call per element */
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
        for (int64_t o = 0; o < outer; o++)
            pick_index(dst + (size_t)(o * ni) * es, src + (size_t)(o * dim) * es, ix, ni, dim, es);
        return 0;
    }
    if (rows < nt && inner >= PAR_BYTES) {
        for (int64_t t = 0; t < rows; t++) {
            int64_t o = t / ni, v = index_at(ix, t % ni);
            par_memcpy(dst + (size_t)t * inner, src + (size_t)(o * dim + (v < 0 ? v + dim : v)) * inner, inner, nt);
        }
        return 0;
    }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t t = 0; t < rows; t++) {
        int64_t o = t / ni, v = index_at(ix, t % ni);
        memcpy(dst + (size_t)t * inner, src + (size_t)(o * dim + (v < 0 ? v + dim : v)) * inner, inner);
    }
    return 0;
}

static int infer_gather_elements(fg_kctx *c) {
    int rc, axis;
    if ((rc = require_in(c, 0)) < 0 || (rc = require_in(c, 1)) < 0 || (rc = check_index_dtype(c, 1)) < 0)
        return rc;
    const fg_tensor *x = c->in[0], *ix = c->in[1];
    if ((rc = fg_norm_axis(c, fg_attr_i(c->node, "axis", 0), x->rank, &axis)) < 0)
        return rc;
    if (ix->rank != x->rank || x->rank == 0)
        return FG_KERR(c, FG_ESHAPE, "indices have rank %d, data rank %d", ix->rank, x->rank);
    for (int d = 0; d < x->rank; d++)
        if (d != axis && ix->dims[d] > x->dims[d])
            return FG_KERR(c, FG_ESHAPE, "indices dim %d (%lld) exceeds the data's (%lld)", d, (long long)ix->dims[d],
                           (long long)x->dims[d]);
    fg_set_shape(c->out[0], x->dtype, ix->rank, ix->dims);
    return 0;
}

static inline __attribute__((always_inline)) void ge_row_es(char *d, const char *s, const fg_tensor *ix, int64_t i0,
                                                            int64_t n, int64_t dim, int64_t sa, int64_t sj, size_t es) {
    for (int64_t j = 0; j < n; j++) {
        int64_t v = index_at(ix, i0 + j);
        memcpy(d + (size_t)j * es, s + (j * sj + (v < 0 ? v + dim : v) * sa) * (int64_t)es, es);
    }
}

/* One output row of GatherElements: d[j] = s[j*sj + ix[i0+j]*sa] (element strides). */
static void ge_row(char *d, const char *s, const fg_tensor *ix, int64_t i0, int64_t n, int64_t dim, int64_t sa,
                   int64_t sj, size_t es) {
    switch (es) {
    case 1: ge_row_es(d, s, ix, i0, n, dim, sa, sj, 1); break;
    case 2: ge_row_es(d, s, ix, i0, n, dim, sa, sj, 2); break;
    case 4: ge_row_es(d, s, ix, i0, n, dim, sa, sj, 4); break;
    case 8: ge_row_es(d, s, ix, i0, n, dim, sa, sj, 8); break;
    default: ge_row_es(d, s, ix, i0, n, dim, sa, sj, es); break;
    }
}

static int run_gather_elements(fg_kctx *c) {
    const fg_tensor *x = c->in[0], *ix = c->in[1];
    int axis = (int)fg_attr_i(c->node, "axis", 0), r = x->rank;
    if (axis < 0)
        axis += r;
    int64_t n = fg_tensor_numel(ix), dim = x->dims[axis], st[FG_MAX_RANK];
    for (int64_t i = 0; i < n; i++) {
        int64_t v = index_at(ix, i);
        if (v < -dim || v >= dim)
            return FG_KERR(c, FG_EINVAL, "index %lld is out of range for axis %d of size %lld", (long long)v, axis,
                           (long long)dim);
    }
    if (n == 0)
        return 0;
    size_t es = esz(x);
    fg_strides(x, st);
    int64_t W = ix->dims[r - 1], rows = n / W, sj = axis == r - 1 ? 0 : 1;
    int nt = threads_for(c, (size_t)n * es);
    const char *src = x->data;
    char *dst = c->out[0]->data;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row, off = 0;
        for (int d = r - 2; d >= 0; d--) { /* the data offset of the row, leaving out the gathered axis */
            int64_t i = rem % ix->dims[d];
            rem /= ix->dims[d];
            if (d != axis)
                off += i * st[d];
        }
        ge_row(dst + (size_t)(row * W) * es, src + off * (int64_t)es, ix, row * W, W, dim, st[axis], sj, es);
    }
    return 0;
}

/* ---- Expand, Tile ---- */

static int infer_expand(fg_kctx *c) {
    int rc = require_in(c, 0), n;
    if (rc < 0)
        return rc;
    fg_tensor s = {.dtype = FG_I64};
    if ((rc = fg_in_ints(c, 1, s.dims, FG_MAX_RANK, &n, "shape")) < 0)
        return rc;
    s.rank = n;
    for (int i = 0; i < n; i++)
        if (s.dims[i] < 0)
            return FG_KERR(c, FG_EINVAL, "shape[%d] is negative", i);
    int r;
    int64_t d[FG_MAX_RANK];
    if ((rc = fg_broadcast_shape(c, c->in[0], &s, &r, d)) < 0)
        return rc;
    fg_set_shape(c->out[0], c->in[0]->dtype, r, d);
    return 0;
}

static int run_expand(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    fg_tensor *y = c->out[0];
    int64_t st[FG_MAX_RANK];
    fg_strides(x, st);
    view v = {.rank = y->rank};
    for (int d = 0; d < y->rank; d++) {
        int i = d - (y->rank - x->rank);
        v.dims[d] = y->dims[d];
        v.st[d] = i < 0 || x->dims[i] == 1 ? 0 : st[i];
    }
    view_copy(c, y->data, x->data, &v, esz(x));
    return 0;
}

static int infer_tile(fg_kctx *c) {
    int rc = require_in(c, 0), n;
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int64_t rep[FG_MAX_RANK], d[FG_MAX_RANK];
    if ((rc = fg_in_ints(c, 1, rep, FG_MAX_RANK, &n, "repeats")) < 0)
        return rc;
    if (n != x->rank)
        return FG_KERR(c, FG_EINVAL, "%d repeats for rank %d", n, x->rank);
    for (int i = 0; i < n; i++) {
        if (rep[i] < 0)
            return FG_KERR(c, FG_EINVAL, "repeats[%d] is negative", i);
        if (x->dims[i] && rep[i] > INT64_MAX / x->dims[i]) /* the planner's size limit rejects less, later */
            return FG_KERR(c, FG_ENOMEM, "repeats[%d] = %lld overflows axis %d", i, (long long)rep[i], i);
        d[i] = x->dims[i] * rep[i];
    }
    fg_set_shape(c->out[0], x->dtype, n, d);
    return 0;
}

static int run_tile(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    int64_t st[FG_MAX_RANK];
    fg_strides(x, st);
    /* output dim d of size rep*dim is the pair (repeat, position) with strides (0, st) */
    view v = {.rank = 2 * x->rank};
    for (int d = 0; d < x->rank; d++) {
        v.dims[2 * d] = x->dims[d] ? c->out[0]->dims[d] / x->dims[d] : 0;
        v.st[2 * d] = 0;
        v.dims[2 * d + 1] = x->dims[d];
        v.st[2 * d + 1] = st[d];
    }
    view_copy(c, c->out[0]->data, x->data, &v, esz(x));
    return 0;
}

/* ---- Range, ConstantOfShape, OneHot: outputs made from values ---- */

static int range_count(fg_kctx *c, int64_t *n) {
    for (int k = 0; k < 3; k++) {
        int rc = require_in(c, k);
        if (rc < 0)
            return rc;
        const fg_tensor *t = c->in[k];
        if (fg_tensor_numel(t) != 1)
            return FG_KERR(c, FG_ESHAPE, "input %d must be a scalar", k);
        if (t->dtype != c->in[0]->dtype)
            return FG_KERR(c, FG_EDTYPE, "inputs have different dtypes");
        if (!t->data) {
            c->need_value = k;
            return FG_KERR(c, FG_ENEEDVALUE, "the value of input %d is needed to plan", k);
        }
    }
    switch (c->in[0]->dtype) {
    case FG_F32:
    case FG_F64: {
        double s = fg_tensor_get_f64(c->in[0], 0), l = fg_tensor_get_f64(c->in[1], 0), d = fg_tensor_get_f64(c->in[2], 0);
        if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
            return FG_KERR(c, FG_EINVAL, "start, limit and delta must be finite and delta non-zero");
        double m = ceil((l - s) / d);
        if (m > 1e12)
            return FG_KERR(c, FG_EINVAL, "range of %g elements is too large", m);
        *n = m > 0 ? (int64_t)m : 0;
        return 0;
    }
    case FG_I16:
    case FG_I32:
    case FG_I64: {
        int64_t s = fg_tensor_get_i64(c->in[0], 0), l = fg_tensor_get_i64(c->in[1], 0), d = fg_tensor_get_i64(c->in[2], 0);
        if (c->in[0]->dtype == FG_I16) {
            s = ((const int16_t *)c->in[0]->data)[0];
            l = ((const int16_t *)c->in[1]->data)[0];
            d = ((const int16_t *)c->in[2]->data)[0];
        }
        if (d == 0)
            return FG_KERR(c, FG_EINVAL, "delta is 0");
        if ((l > s) != (d > 0) || l == s) {
            *n = 0;
            return 0;
        }
        uint64_t span = l > s ? (uint64_t)l - (uint64_t)s : (uint64_t)s - (uint64_t)l;
        uint64_t ad = d > 0 ? (uint64_t)d : 0 - (uint64_t)d;
        *n = (int64_t)((span - 1) / ad + 1);
        return 0;
    }
    default: return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(c->in[0]->dtype));
    }
}

static int infer_range(fg_kctx *c) {
    int64_t n = 0;
    int rc = range_count(c, &n);
    if (rc < 0)
        return rc;
    fg_set_shape(c->out[0], c->in[0]->dtype, 1, &n);
    return 0;
}

static int run_range(fg_kctx *c) {
    int64_t n = c->out[0]->dims[0];
    void *y = c->out[0]->data;
    switch (c->in[0]->dtype) {
    case FG_F32: {
        float s = *(const float *)c->in[0]->data, d = *(const float *)c->in[2]->data;
        for (int64_t i = 0; i < n; i++)
            ((float *)y)[i] = s + (float)i * d;
        break;
    }
    case FG_F64: {
        double s = *(const double *)c->in[0]->data, d = *(const double *)c->in[2]->data;
        for (int64_t i = 0; i < n; i++)
            ((double *)y)[i] = s + (double)i * d;
        break;
    }
    case FG_I16: {
        int16_t s = *(const int16_t *)c->in[0]->data, d = *(const int16_t *)c->in[2]->data;
        for (int64_t i = 0; i < n; i++)
            ((int16_t *)y)[i] = (int16_t)(s + i * d);
        break;
    }
    case FG_I32: {
        int32_t s = *(const int32_t *)c->in[0]->data, d = *(const int32_t *)c->in[2]->data;
        for (int64_t i = 0; i < n; i++)
            ((int32_t *)y)[i] = (int32_t)(s + i * d);
        break;
    }
    case FG_I64: {
        int64_t s = *(const int64_t *)c->in[0]->data, d = *(const int64_t *)c->in[2]->data;
        for (int64_t i = 0; i < n; i++)
            ((int64_t *)y)[i] = s + i * d;
        break;
    }
    default: return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(c->in[0]->dtype));
    }
    return 0;
}

static int infer_const_of_shape(fg_kctx *c) {
    int64_t d[FG_MAX_RANK];
    int n, rc = fg_in_ints(c, 0, d, FG_MAX_RANK, &n, "shape");
    if (rc < 0)
        return rc;
    for (int i = 0; i < n; i++)
        if (d[i] < 0)
            return FG_KERR(c, FG_EINVAL, "shape[%d] is negative", i);
    const fg_tensor *v = fg_attr_t(c->node, "value");
    if (v && fg_tensor_numel(v) != 1)
        return FG_KERR(c, FG_EINVAL, "value must hold one element");
    fg_set_shape(c->out[0], v ? v->dtype : FG_F32, n, d);
    return 0;
}

static int run_const_of_shape(fg_kctx *c) {
    const fg_tensor *v = fg_attr_t(c->node, "value");
    fg_tensor *y = c->out[0];
    static const unsigned char zero[16];
    fill(y->data, v ? v->data : zero, fg_tensor_numel(y), esz(y));
    return 0;
}

static int onehot_params(fg_kctx *c, int *axis, int64_t *depth) {
    int rc;
    for (int k = 0; k < 3; k++)
        if ((rc = require_in(c, k)) < 0)
            return rc;
    const fg_tensor *ix = c->in[0], *dp = c->in[1], *vals = c->in[2];
    if (fg_tensor_numel(dp) != 1)
        return FG_KERR(c, FG_ESHAPE, "depth must hold one value");
    if (fg_tensor_numel(vals) != 2)
        return FG_KERR(c, FG_ESHAPE, "values must hold [off, on]");
    if (ix->rank + 1 > FG_MAX_RANK)
        return FG_KERR(c, FG_EUNSUPPORTED, "output rank %d is above %d", ix->rank + 1, FG_MAX_RANK);
    if (!dp->data) {
        c->need_value = 1;
        return FG_KERR(c, FG_ENEEDVALUE, "the value of depth is needed to plan");
    }
    if (dp->dtype == FG_F16 || dp->dtype == FG_BF16 || fg_dtype_size(dp->dtype) == 0 || dp->dtype == FG_I16 ||
        dp->dtype == FG_U16 || dp->dtype == FG_U32 || dp->dtype == FG_U64)
        return FG_KERR(c, FG_EUNSUPPORTED, "depth of dtype %s", fg_dtype_name(dp->dtype));
    double dv = fg_tensor_get_f64(dp, 0);
    if (!(dv >= 1 && dv <= INT32_MAX))
        return FG_KERR(c, FG_EINVAL, "depth %g must be in [1, 2^31)", dv);
    *depth = (int64_t)dv;
    return fg_norm_axis(c, fg_attr_i(c->node, "axis", -1), ix->rank + 1, axis);
}

static int infer_onehot(fg_kctx *c) {
    int axis;
    int64_t depth, d[FG_MAX_RANK];
    int rc = onehot_params(c, &axis, &depth);
    if (rc < 0)
        return rc;
    const fg_tensor *ix = c->in[0];
    switch (ix->dtype) {
    case FG_F32: case FG_F64: case FG_I64: case FG_I32: case FG_I8: case FG_U8: break;
    default: return FG_KERR(c, FG_EUNSUPPORTED, "indices of dtype %s", fg_dtype_name(ix->dtype));
    }
    for (int i = 0, j = 0; i <= ix->rank; i++)
        d[i] = i == axis ? depth : ix->dims[j++];
    fg_set_shape(c->out[0], c->in[2]->dtype, ix->rank + 1, d);
    return 0;
}

static int run_onehot(fg_kctx *c) {
    int axis;
    int64_t depth;
    int rc = onehot_params(c, &axis, &depth);
    if (rc < 0)
        return rc;
    const fg_tensor *ix = c->in[0];
    fg_tensor *y = c->out[0];
    size_t es = esz(y);
    const char *vals = c->in[2]->data;
    fill(y->data, vals, fg_tensor_numel(y), es);
    int64_t inner = prod(ix->dims, axis, ix->rank), n = fg_tensor_numel(ix);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = (int64_t)sat(fg_tensor_get_f64(ix, i), -I64_HI, I64_HI);
        if (v < 0)
            v += depth;
        if (v < 0 || v >= depth)
            continue;
        int64_t o = i / inner, in = i % inner;
        memcpy((char *)y->data + (size_t)((o * depth + v) * inner + in) * es, vals + es, es);
    }
    return 0;
}

/* ---- Pad ---- */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

typedef struct pad_p {
    int mode;
    int64_t pb[FG_MAX_RANK], pe[FG_MAX_RANK]; /* begin/end pads per axis; negative crops */
} pad_p;

/* Pads from attribute `paddings` (opset 1), `pads` (2-10) or input 1 (11+, with input 3 axes since 18). */
static int pad_params(fg_kctx *c, pad_p *p) {
    int rc = require_in(c, 0), np, na = -1;
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int r = x->rank;
    const char *mode = fg_attr_s(c->node, "mode", "constant");
    if (strcmp(mode, "constant") == 0)
        p->mode = PAD_CONSTANT;
    else if (strcmp(mode, "reflect") == 0)
        p->mode = PAD_REFLECT;
    else if (strcmp(mode, "edge") == 0)
        p->mode = PAD_EDGE;
    else if (strcmp(mode, "wrap") == 0)
        p->mode = PAD_WRAP;
    else
        return FG_KERR(c, FG_EUNSUPPORTED, "mode '%s'", mode);
    int64_t pads[2 * FG_MAX_RANK], ax[FG_MAX_RANK];
    if (c->opset >= 11) {
        if ((rc = fg_in_ints(c, 1, pads, 2 * FG_MAX_RANK, &np, "pads")) < 0)
            return rc;
        if (c->opset >= 18 && fg_in(c, 3) && (rc = fg_in_ints(c, 3, ax, FG_MAX_RANK, &na, "axes")) < 0)
            return rc;
    } else {
        const int64_t *a;
        np = fg_attr_ints(c->node, c->opset < 2 ? "paddings" : "pads", &a);
        if (np < 0)
            return FG_KERR(c, FG_EINVAL, "attribute pads is required");
        if (np > 2 * FG_MAX_RANK)
            return FG_KERR(c, FG_EINVAL, "%d pads for rank %d", np, r);
        memcpy(pads, a, sizeof(int64_t) * (size_t)np);
    }
    if (na < 0) {
        na = r;
        for (int i = 0; i < r; i++)
            ax[i] = i;
    }
    if (np != 2 * na)
        return FG_KERR(c, FG_EINVAL, "%d pads for %d axes", np, na);
    memset(p->pb, 0, sizeof p->pb);
    memset(p->pe, 0, sizeof p->pe);
    for (int i = 0; i < na; i++) {
        int a;
        if ((rc = fg_norm_axis(c, ax[i], r, &a)) < 0)
            return rc;
        /* larger pads could never fit the size limit, and would overflow the sum below */
        for (int k = i; k <= i + na; k += na) /* the axis's begin and end pads */
            if (pads[k] > ((int64_t)1 << 40) || pads[k] < -((int64_t)1 << 40))
                return FG_KERR(c, FG_EINVAL, "pads[%d] = %lld is out of range", k, (long long)pads[k]);
        p->pb[a] = pads[i];
        p->pe[a] = pads[i + na];
    }
    for (int d = 0; d < r; d++) {
        int64_t o = x->dims[d] + p->pb[d] + p->pe[d];
        if (o < 0)
            return FG_KERR(c, FG_ESHAPE, "pads crop axis %d below zero", d);
        if (p->mode != PAD_CONSTANT && x->dims[d] == 0 && o > 0)
            return FG_KERR(c, FG_ESHAPE, "cannot pad the empty axis %d in mode %s", d, mode);
    }
    return 0;
}

static int infer_pad(fg_kctx *c) {
    pad_p p;
    int rc = pad_params(c, &p);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0], *cv = fg_in(c, 2);
    if (c->opset >= 11 && cv && fg_tensor_numel(cv) > 0 && cv->dtype != x->dtype)
        return FG_KERR(c, FG_EDTYPE, "constant_value is %s, data is %s", fg_dtype_name(cv->dtype), fg_dtype_name(x->dtype));
    if (esz(x) > 8)
        return FG_KERR(c, FG_EUNSUPPORTED, "dtype %s", fg_dtype_name(x->dtype));
    int64_t d[FG_MAX_RANK];
    for (int i = 0; i < x->rank; i++)
        d[i] = x->dims[i] + p.pb[i] + p.pe[i];
    fg_set_shape(c->out[0], x->dtype, x->rank, d);
    return 0;
}

/* Source index of padded position s on an axis of n, or -1 for the constant. */
static inline int64_t pad_map(int64_t s, int64_t n, int mode) {
    if (s >= 0 && s < n)
        return s;
    switch (mode) {
    case PAD_EDGE: return s < 0 ? 0 : n - 1;
    case PAD_REFLECT: {
        if (n == 1)
            return 0;
        int64_t per = 2 * (n - 1);
        s %= per;
        if (s < 0)
            s += per;
        return s < n ? s : per - s;
    }
    case PAD_WRAP:
        s %= n;
        return s < 0 ? s + n : s;
    default: return -1;
    }
}

static int run_pad(fg_kctx *c) {
    pad_p p;
    int rc = pad_params(c, &p);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0], *cvt = fg_in(c, 2);
    fg_tensor *y = c->out[0];
    size_t es = esz(x);
    unsigned char cv[8] = {0};
    if (c->opset >= 11) {
        if (cvt && fg_tensor_numel(cvt) > 0)
            memcpy(cv, cvt->data, es);
    } else if ((rc = store_f64(c, x->dtype, fg_attr_f(c->node, "value", 0), cv)) < 0) {
        return rc;
    }
    if (fg_tensor_numel(y) == 0)
        return 0;
    if (x->rank == 0) {
        memcpy(y->data, x->data, es);
        return 0;
    }
    int R = x->rank, mode = p.mode;
    int64_t W = y->dims[R - 1], iw = x->dims[R - 1], pb = p.pb[R - 1], rows = fg_tensor_numel(y) / W, st[FG_MAX_RANK];
    fg_strides(x, st);
    int64_t lo = pb > 0 ? pb : 0, hi = pb + iw < W ? pb + iw : W;
    if (hi < lo)
        hi = lo;
    int nt = threads_for(c, nbytes(y));
    const char *src = x->data;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < rows; r++) {
        char *d = (char *)y->data + (size_t)(r * W) * es;
        int64_t rem = r, off = 0;
        bool constant = false;
        for (int k = R - 2; k >= 0; k--) {
            int64_t o = rem % y->dims[k];
            rem /= y->dims[k];
            int64_t s = pad_map(o - p.pb[k], x->dims[k], mode);
            if (s < 0)
                constant = true;
            off += s * st[k];
        }
        if (constant) {
            fill(d, cv, W, es);
            continue;
        }
        const char *row = src + (size_t)off * es;
        if (mode == PAD_CONSTANT) {
            fill(d, cv, lo, es);
            fill(d + (size_t)hi * es, cv, W - hi, es);
        } else {
            for (int64_t i = 0; i < lo; i++)
                memcpy(d + (size_t)i * es, row + (size_t)pad_map(i - pb, iw, mode) * es, es);
            for (int64_t i = hi; i < W; i++)
                memcpy(d + (size_t)i * es, row + (size_t)pad_map(i - pb, iw, mode) * es, es);
        }
        if (hi > lo)
            memcpy(d + (size_t)lo * es, row + (size_t)(lo - pb) * es, (size_t)(hi - lo) * es);
    }
    return 0;
}

/* ---- Resize and Upsample ---- */

enum { RS_NEAREST, RS_LINEAR, RS_CUBIC };
enum { CT_HALF_PIXEL, CT_HALF_PIXEL_SYM, CT_PYTORCH, CT_ALIGN, CT_ASYM, CT_TF_NEAREST, CT_TF_CROP };
enum { NM_ROUND_FLOOR, NM_ROUND_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE };
/* Row tap combinations a run may expand (e.g. 4^4: cubic over four outer axes). */
enum { RS_MAX_COMBOS = 256 };

typedef struct rs_axis {
    int64_t in, out;
    double scale;   /* out/in, or the given scale */
    double len_res; /* the resized length as the reference computes it: scale*in, or the given size */
    double roi0, roi1;
} rs_axis;

typedef struct rs_params {
    int rank, mode, ctm, nearest, exclude_outside;
    double cubic_a;
    float extrapolation;
    rs_axis ax[FG_MAX_RANK];
} rs_params;

static int rs_lookup(fg_kctx *c, const char *attr, const char *def, const char *const *names, const int *vals, int n,
                     int *out) {
    const char *s = fg_attr_s(c->node, attr, def);
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = vals[i];
            return 0;
        }
    return FG_KERR(c, FG_EUNSUPPORTED, "%s '%s'", attr, s);
}

/* Everything Resize (opset 10, 11-13, 18-19) and Upsample (1, 7, 9) need: per-axis lengths and scales,
 * and the interpolation settings. Upsample and Resize-10 map to asymmetric coordinates with the
 * "simple" nearest rule (floor when enlarging, ceil when shrinking), as ONNX Runtime does. */
static int resize_params(fg_kctx *c, rs_params *p) {
    int rc = require_in(c, 0);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    int r = x->rank, ns = 0, nz = 0, na = r;
    double sc[FG_MAX_RANK];
    int64_t sz[FG_MAX_RANK], axes[FG_MAX_RANK];
    bool upsample = strcmp(c->node->op_type, "Upsample") == 0;
    memset(p, 0, sizeof *p);
    p->rank = r;
    p->cubic_a = -0.75;
    for (int i = 0; i < r; i++)
        axes[i] = i;
    static const char *const modes[] = {"nearest", "linear", "bilinear", "cubic"};
    static const int mode_v[] = {RS_NEAREST, RS_LINEAR, RS_LINEAR, RS_CUBIC};
    if ((rc = rs_lookup(c, "mode", "nearest", modes, mode_v, upsample || c->opset < 11 ? 3 : 4, &p->mode)) < 0)
        return rc;
    if (upsample || c->opset < 11) {
        p->ctm = CT_ASYM;
        p->nearest = NM_SIMPLE;
        if (upsample && c->opset < 7) {
            if (r != 4)
                return FG_KERR(c, FG_ESHAPE, "Upsample-1 needs a 4-D input");
            sc[0] = sc[1] = 1;
            sc[2] = fg_attr_f(c->node, "height_scale", 1);
            sc[3] = fg_attr_f(c->node, "width_scale", 1);
            ns = 4;
        } else if (upsample && c->opset < 9) {
            const float *f;
            ns = fg_attr_floats(c->node, "scales", &f);
            if (ns < 0)
                return FG_KERR(c, FG_EINVAL, "attribute scales is required");
            if (ns > FG_MAX_RANK)
                return FG_KERR(c, FG_EINVAL, "%d scales for rank %d", ns, r);
            for (int i = 0; i < ns; i++)
                sc[i] = f[i];
        } else if ((rc = fg_in_floats(c, 1, sc, FG_MAX_RANK, &ns, "scales")) < 0) {
            return rc;
        }
        if (ns != r)
            return FG_KERR(c, FG_EINVAL, "%d scales for rank %d", ns, r);
    } else {
        static const char *const cts[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                                          "asymmetric", "tf_half_pixel_for_nearest", "tf_half_pixel_for_nn",
                                          "tf_crop_and_resize"};
        static const int ct_v[] = {CT_HALF_PIXEL, CT_HALF_PIXEL_SYM, CT_PYTORCH, CT_ALIGN,
                                   CT_ASYM,       CT_TF_NEAREST,     CT_TF_NEAREST, CT_TF_CROP};
        static const char *const nms[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
        static const int nm_v[] = {NM_ROUND_FLOOR, NM_ROUND_CEIL, NM_FLOOR, NM_CEIL};
        if ((rc = rs_lookup(c, "coordinate_transformation_mode", "half_pixel", cts, ct_v, 8, &p->ctm)) < 0 ||
            (rc = rs_lookup(c, "nearest_mode", "round_prefer_floor", nms, nm_v, 4, &p->nearest)) < 0)
            return rc;
        p->cubic_a = fg_attr_f(c->node, "cubic_coeff_a", -0.75f);
        p->exclude_outside = fg_attr_i(c->node, "exclude_outside", 0) != 0;
        p->extrapolation = fg_attr_f(c->node, "extrapolation_value", 0);
        if (fg_attr_i(c->node, "antialias", 0) != 0 && p->mode != RS_NEAREST)
            return FG_KERR(c, FG_EUNSUPPORTED, "antialias=1");
        const int64_t *aa;
        int n_attr_axes = fg_attr_ints(c->node, "axes", &aa);
        if (n_attr_axes >= 0) {
            if (n_attr_axes > r)
                return FG_KERR(c, FG_EINVAL, "%d axes for rank %d", n_attr_axes, r);
            bool seen[FG_MAX_RANK] = {0};
            for (int i = 0; i < n_attr_axes; i++) {
                int a;
                if ((rc = fg_norm_axis(c, aa[i], r, &a)) < 0)
                    return rc;
                if (seen[a])
                    return FG_KERR(c, FG_EINVAL, "axis %d is repeated", a);
                seen[a] = true;
                axes[i] = a;
            }
            na = n_attr_axes;
        }
        const fg_tensor *st = fg_in(c, 2), *zt = fg_in(c, 3);
        bool has_sc = st && fg_tensor_numel(st) > 0, has_sz = zt && fg_tensor_numel(zt) > 0;
        if (has_sc && has_sz)
            return FG_KERR(c, FG_EINVAL, "only one of scales and sizes may be given");
        if (!has_sc && !has_sz)
            return FG_KERR(c, FG_EINVAL, "one of scales and sizes is required");
        if (has_sc && (rc = fg_in_floats(c, 2, sc, FG_MAX_RANK, &ns, "scales")) < 0)
            return rc;
        if (has_sz && (rc = fg_in_ints(c, 3, sz, FG_MAX_RANK, &nz, "sizes")) < 0)
            return rc;
        if ((has_sc ? ns : nz) != na)
            return FG_KERR(c, FG_EINVAL, "%d %s for %d axes", has_sc ? ns : nz, has_sc ? "scales" : "sizes", na);
        for (int i = 0; i < r; i++) {
            p->ax[i].roi0 = 0;
            p->ax[i].roi1 = 1;
        }
        const fg_tensor *roi = fg_in(c, 1);
        if (p->ctm == CT_TF_CROP && roi && fg_tensor_numel(roi) > 0) {
            double rv[2 * FG_MAX_RANK];
            int nr;
            if ((rc = fg_in_floats(c, 1, rv, 2 * FG_MAX_RANK, &nr, "roi")) < 0)
                return rc;
            if (nr != 2 * na)
                return FG_KERR(c, FG_EINVAL, "roi has %d values for %d axes", nr, na);
            for (int i = 0; i < na; i++) {
                if (!isfinite(rv[i]) || !isfinite(rv[i + na]))
                    return FG_KERR(c, FG_EINVAL, "roi of axis %d is not finite", (int)axes[i]);
                p->ax[axes[i]].roi0 = rv[i];
                p->ax[axes[i]].roi1 = rv[i + na];
            }
        }
        if (has_sz) {
            const char *pol = c->opset >= 18 ? fg_attr_s(c->node, "keep_aspect_ratio_policy", "stretch") : "stretch";
            bool smaller = strcmp(pol, "not_larger") == 0, larger = strcmp(pol, "not_smaller") == 0;
            if (!smaller && !larger && strcmp(pol, "stretch") != 0)
                return FG_KERR(c, FG_EUNSUPPORTED, "keep_aspect_ratio_policy '%s'", pol);
            if (smaller || larger) { /* one scale for all axes, sizes rounded from it */
                double s = 0;
                for (int i = 0; i < na; i++) {
                    int64_t in = x->dims[axes[i]];
                    double q = in ? (double)sz[i] / (double)in : 1;
                    if (i == 0 || (smaller ? q < s : q > s))
                        s = q;
                }
                for (int i = 0; i < na; i++) {
                    sc[i] = s;
                    double v = floor(s * (double)x->dims[axes[i]] + 0.5);
                    if (!(v < 0x1p62)) /* one huge size scales the other axes past int64 */
                        return FG_KERR(c, FG_EINVAL, "sizes with policy %s give axis %d a size of %g", pol,
                                       (int)axes[i], v);
                    sz[i] = (int64_t)v;
                }
                ns = na;
            }
        }
        if (!has_sc && ns == 0)
            ns = -1; /* sizes only */
    }
    for (int i = 0; i < r; i++) {
        p->ax[i].in = p->ax[i].out = x->dims[i];
        p->ax[i].scale = 1;
        p->ax[i].len_res = (double)x->dims[i];
    }
    for (int i = 0; i < na; i++) {
        rs_axis *a = &p->ax[axes[i]];
        if (ns > 0) {
            if (!(sc[i] > 0) || !isfinite(sc[i]))
                return FG_KERR(c, FG_EINVAL, "scale %g on axis %d must be positive", sc[i], (int)axes[i]);
            a->scale = sc[i];
            a->len_res = sc[i] * (double)a->in;
            double span = p->ctm == CT_TF_CROP ? a->roi1 - a->roi0 : 1;
            double out = floor(a->len_res * span);
            if (!nz && !(out >= 0 && out < 0x1p62)) /* NaN too: converting those to int64 is undefined */
                return FG_KERR(c, FG_EINVAL, "scale %g on axis %d gives an output size of %g", sc[i], (int)axes[i],
                               out);
            a->out = nz ? sz[i] : (int64_t)out;
            if (nz)
                a->len_res = (double)a->out;
        } else {
            if (sz[i] < 0)
                return FG_KERR(c, FG_EINVAL, "sizes[%d] is negative", i);
            a->out = sz[i];
            a->scale = a->in ? (double)a->out / (double)a->in : 1;
            a->len_res = (double)a->out;
        }
        if (a->out > 0 && a->in == 0)
            return FG_KERR(c, FG_ESHAPE, "cannot resize the empty axis %d", (int)axes[i]);
    }
    return 0;
}

static int infer_resize(fg_kctx *c) {
    rs_params p;
    int rc = resize_params(c, &p);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    if (p.mode != RS_NEAREST && x->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "%s interpolation of %s", p.mode == RS_LINEAR ? "linear" : "cubic",
                       fg_dtype_name(x->dtype));
    int64_t d[FG_MAX_RANK];
    for (int i = 0; i < p.rank; i++)
        d[i] = p.ax[i].out;
    fg_set_shape(c->out[0], x->dtype, p.rank, d);
    return 0;
}

/* Per-axis sampling table: for output position o, k taps at element offsets off[o*k..] (already
 * multiplied by the axis stride) with weights w[o*k..]; oob[o] marks tf_crop_and_resize extrapolation. */
typedef struct rs_table {
    int k;
    int64_t *off;
    float *w;
    unsigned char *oob;
} rs_table;

typedef struct rs_state {
    int rank, all_nearest, any_oob;
    float extrapolation;
    unsigned char extrap_bytes[8];
    rs_table t[FG_MAX_RANK];
    bool last_identity;    /* nearest along the last axis copies whole rows */
    int64_t scratch_row;   /* floats of scratch per thread: one blended input row */
    int n_scratch_rows;    /* threads the scratch was sized for */
} rs_state;

static void release_resize(void *state) {
    rs_state *s = state;
    for (int i = 0; i < FG_MAX_RANK; i++) {
        free(s->t[i].off);
        free(s->t[i].w);
        free(s->t[i].oob);
    }
    free(s);
}

static double rs_cubic(double t, double a) {
    t = fabs(t);
    if (t <= 1)
        return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2)
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    return 0;
}

/* x_original for output position o (the coordinate_transformation_mode formulas). */
static double rs_coord(const rs_params *p, const rs_axis *a, int64_t o) {
    double x = (double)o, s = a->scale, in = (double)a->in;
    switch (p->ctm) {
    case CT_HALF_PIXEL: return (x + 0.5) / s - 0.5;
    case CT_HALF_PIXEL_SYM: {
        double adj = (double)a->out / (s * in), center = in / 2;
        return center * (1 - adj) + (x + 0.5) / s - 0.5;
    }
    case CT_PYTORCH: return a->len_res > 1 ? (x + 0.5) / s - 0.5 : 0;
    case CT_ALIGN: return a->len_res == 1 ? 0 : x * (in - 1) / (a->len_res - 1);
    case CT_TF_NEAREST: return (x + 0.5) / s;
    case CT_TF_CROP:
        if (a->len_res == 1)
            return 0.5 * (a->roi0 + a->roi1) * (in - 1);
        return a->roi0 * (in - 1) + x * (a->roi1 - a->roi0) * (in - 1) / (a->len_res - 1);
    default: return x / s;
    }
}

static int64_t rs_nearest(const rs_params *p, const rs_axis *a, double x) {
    double f = floor(x);
    switch (p->nearest) {
    case NM_ROUND_FLOOR: return (int64_t)(x - f == 0.5 ? f : floor(x + 0.5));
    case NM_ROUND_CEIL: return (int64_t)(x - f == 0.5 ? f + 1 : floor(x + 0.5));
    case NM_FLOOR: return (int64_t)f;
    case NM_CEIL: return (int64_t)ceil(x);
    default: return (int64_t)(a->scale < 1 ? ceil(x) : f);
    }
}

/* Fills the table of one axis; merges taps that clamp to the same element and collapses the axis to
 * one tap when every output reads a single input (identity axes such as N and C). */
static int rs_build(const rs_params *p, int axis, int64_t stride, rs_table *t, int *any_oob) {
    const rs_axis *a = &p->ax[axis];
    int k = p->mode == RS_NEAREST ? 1 : p->mode == RS_LINEAR ? 2 : 4;
    int64_t n = a->out > 0 ? a->out : 1, last = a->in - 1;
    t->off = malloc(sizeof(int64_t) * (size_t)(n * k));
    t->w = malloc(sizeof(float) * (size_t)(n * k));
    t->oob = calloc((size_t)n, 1);
    if (!t->off || !t->w || !t->oob)
        return FG_ENOMEM;
    bool single = true;
    for (int64_t o = 0; o < a->out; o++) {
        double x = rs_coord(p, a, o);
        int64_t *io = t->off + o * k;
        float *w = t->w + o * k;
        if (p->ctm == CT_TF_CROP && (x < 0 || x > (double)last)) {
            t->oob[o] = 1;
            *any_oob = 1;
        }
        /* only a tf_crop_and_resize roi reaches beyond [-1, last + 1] (such outputs take the extrapolation
         * value): clamped so that converting x to an index below stays defined for any finite roi */
        x = x < -2 ? -2 : x > (double)last + 2 ? (double)last + 2 : x;
        if (p->mode == RS_NEAREST) {
            int64_t i = rs_nearest(p, a, x);
            io[0] = i < 0 ? 0 : i > last ? last : i;
            w[0] = 1;
            continue;
        }
        double f = floor(x), tt = x - f;
        int64_t base = (int64_t)f - (k == 4 ? 1 : 0);
        double ws[4], sum = 0;
        for (int j = 0; j < k; j++) {
            ws[j] = k == 2 ? (j ? tt : 1 - tt) : rs_cubic(tt - (double)(j - 1), p->cubic_a);
            int64_t i = base + j;
            if (p->exclude_outside && (i < 0 || i > last))
                ws[j] = 0;
            sum += ws[j];
            io[j] = i < 0 ? 0 : i > last ? last : i;
        }
        if (p->exclude_outside && sum != 0)
            for (int j = 0; j < k; j++)
                ws[j] /= sum;
        for (int j = 0; j < k; j++) /* merge taps that clamped onto the same element */
            for (int q = 0; q < j; q++)
                if (io[q] == io[j] && ws[j] != 0) {
                    ws[q] += ws[j];
                    ws[j] = 0;
                }
        int nz = 0;
        for (int j = 0; j < k; j++) {
            w[j] = (float)ws[j];
            if (ws[j] != 0)
                nz++;
            if (ws[j] != 0 && fabs(ws[j] - 1) > 1e-7)
                nz = 2;
        }
        if (nz > 1)
            single = false;
    }
    if (k > 1 && single) { /* every output reads exactly one input with weight 1 */
        for (int64_t o = 0; o < a->out; o++) {
            int64_t pick = t->off[o * k];
            for (int j = 0; j < k; j++)
                if (t->w[o * k + j] != 0)
                    pick = t->off[o * k + j];
            t->off[o] = pick;
            t->w[o] = 1;
        }
        k = 1;
    }
    for (int64_t o = 0; o < a->out * k; o++)
        t->off[o] *= stride;
    t->k = k;
    return 0;
}

static int prepare_resize(fg_kctx *c) {
    rs_params p;
    int rc = resize_params(c, &p);
    if (rc < 0)
        return rc;
    const fg_tensor *x = c->in[0];
    rs_state *s = calloc(1, sizeof *s);
    if (!s)
        return FG_KERR(c, FG_ENOMEM, "cannot allocate the resize tables");
    c->state = s;
    s->rank = p.rank;
    s->extrapolation = p.extrapolation;
    if ((rc = store_f64(c, x->dtype, p.extrapolation, s->extrap_bytes)) < 0)
        return rc;
    int64_t st[FG_MAX_RANK];
    fg_strides(x, st);
    int64_t combos = 1;
    s->all_nearest = 1;
    for (int d = 0; d < p.rank; d++) {
        if (rs_build(&p, d, st[d], &s->t[d], &s->any_oob) < 0)
            return FG_KERR(c, FG_ENOMEM, "cannot allocate the resize tables");
        if (s->t[d].k != 1)
            s->all_nearest = 0;
        if (d < p.rank - 1)
            combos *= s->t[d].k;
    }
    if (combos > RS_MAX_COMBOS)
        return FG_KERR(c, FG_EUNSUPPORTED, "interpolating over %d axes", p.rank);
    s->n_scratch_rows = c->n_threads > 1 ? c->n_threads : 1;
    if (!s->all_nearest && p.rank > 0) {
        s->scratch_row = (x->dims[p.rank - 1] + 15) & ~(int64_t)15; /* 64-byte aligned rows */
        c->scratch_len = (size_t)s->scratch_row * sizeof(float) * (size_t)s->n_scratch_rows;
    }
    if (p.rank > 0) {
        const rs_table *t = &s->t[p.rank - 1];
        s->last_identity = t->k == 1 && p.ax[p.rank - 1].in == p.ax[p.rank - 1].out;
        for (int64_t o = 0; s->last_identity && o < p.ax[p.rank - 1].out; o++)
            if (t->off[o] != o || t->oob[o])
                s->last_identity = false;
    }
    return 0;
}

/* One output row along the last axis from a blended input row: k taps per output. */
static void rs_last_axis(float *y, const float *row, const rs_table *t, int64_t W) {
    const int64_t *o = t->off;
    const float *w = t->w;
    switch (t->k) {
    case 1:
        for (int64_t i = 0; i < W; i++)
            y[i] = row[o[i]];
        break;
    case 2:
        for (int64_t i = 0; i < W; i++)
            y[i] = w[2 * i] * row[o[2 * i]] + w[2 * i + 1] * row[o[2 * i + 1]];
        break;
    default:
        for (int64_t i = 0; i < W; i++) {
            float v = 0;
            for (int j = 0; j < t->k; j++)
                v += w[i * t->k + j] * row[o[i * t->k + j]];
            y[i] = v;
        }
        break;
    }
}

/* Separable resampling: for each output row, the outer axes' taps blend whole input rows into one
 * (vectorised, into per-thread scratch), then the last axis' taps pick from that row. Nearest rows
 * move bytes, so any dtype works; a row that reads the same input as the one before is copied. */
static int run_resize(fg_kctx *c) {
    const rs_state *s = c->state;
    const fg_tensor *x = c->in[0];
    fg_tensor *y = c->out[0];
    size_t es = esz(x);
    if (fg_tensor_numel(y) == 0)
        return 0;
    if (s->rank == 0) {
        memcpy(y->data, x->data, es);
        return 0;
    }
    int R = s->rank;
    const rs_table *tl = &s->t[R - 1];
    int64_t W = y->dims[R - 1], win = x->dims[R - 1], rows = fg_tensor_numel(y) / W;
    int nt = threads_for(c, nbytes(y) * (s->all_nearest ? 1 : 4));
    if (nt > s->n_scratch_rows)
        nt = s->n_scratch_rows;
    const char *src = x->data;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int64_t r0 = 0, r1 = rows, idx[FG_MAX_RANK], rem, prev = -1;
        if (nt > 1)
            thread_range(rows, &r0, &r1);
        float *tmp = s->all_nearest ? NULL : (float *)c->scratch + (size_t)omp_get_thread_num() * (size_t)s->scratch_row;
        rem = r0;
        for (int d = R - 2; d >= 0; d--) {
            idx[d] = rem % y->dims[d];
            rem /= y->dims[d];
        }
        int64_t coff[RS_MAX_COMBOS];
        float cw[RS_MAX_COMBOS];
        for (int64_t r = r0; r < r1; r++) {
            char *d = (char *)y->data + (size_t)(r * W) * es;
            /* expand the taps of the outer axes into (offset, weight) combinations */
            int nc = 1;
            bool oob = false;
            coff[0] = 0;
            cw[0] = 1;
            for (int a = 0; a < R - 1; a++) {
                const rs_table *t = &s->t[a];
                int64_t i = idx[a];
                oob |= t->oob[i] != 0;
                if (t->k == 1) {
                    for (int q = 0; q < nc; q++)
                        coff[q] += t->off[i];
                    continue;
                }
                for (int q = nc - 1; q >= 0; q--)
                    for (int j = t->k - 1; j >= 0; j--) {
                        coff[q * t->k + j] = coff[q] + t->off[i * t->k + j];
                        cw[q * t->k + j] = cw[q] * t->w[i * t->k + j];
                    }
                nc *= t->k;
            }
            for (int a = R - 2; a >= 0; a--) {
                if (++idx[a] < y->dims[a])
                    break;
                idx[a] = 0;
            }
            if (oob) {
                fill(d, s->extrap_bytes, W, es);
                prev = -1;
                continue;
            }
            if (nc == 1 && r > r0 && coff[0] == prev) { /* same input row as the previous output row */
                memcpy(d, d - (size_t)W * es, (size_t)W * es);
                continue;
            }
            prev = nc == 1 ? coff[0] : -1;
            if (s->all_nearest) {
                if (s->last_identity)
                    memcpy(d, src + (size_t)coff[0] * es, (size_t)W * es);
                else
                    pick_row(d, src + (size_t)coff[0] * es, tl->off, W, es);
            } else {
                const float *xs = (const float *)src, *row = xs + coff[0];
                if (nc > 1 || cw[0] != 1) {
                    for (int64_t j = 0; j < win; j++)
                        tmp[j] = cw[0] * row[j];
                    for (int q = 1; q < nc; q++) {
                        const float *rq = xs + coff[q];
                        float wq = cw[q];
                        for (int64_t j = 0; j < win; j++)
                            tmp[j] += wq * rq[j];
                    }
                    row = tmp;
                }
                rs_last_axis((float *)d, row, tl, W);
            }
            if (s->any_oob)
                for (int64_t i = 0; i < W; i++)
                    if (tl->oob[i])
                        memcpy(d + (size_t)i * es, s->extrap_bytes, es);
        }
    }
    return 0;
}

const fg_op_def fg_ops_shape[] = {
    {.type = "Identity", .infer = infer_identity, .run = run_copy, .flags = FG_OP_ALIAS},
    {.type = "Shape", .infer = infer_shape, .run = run_shape, .flags = FG_OP_SHAPE_ONLY},
    {.type = "Size", .infer = infer_size, .run = run_size, .flags = FG_OP_SHAPE_ONLY},
    {.type = "Reshape", .infer = infer_reshape, .run = run_copy, .flags = FG_OP_ALIAS},
    {.type = "Flatten", .infer = infer_flatten, .run = run_copy, .flags = FG_OP_ALIAS},
    {.type = "Squeeze", .infer = infer_squeeze, .run = run_copy, .flags = FG_OP_ALIAS},
    {.type = "Unsqueeze", .infer = infer_unsqueeze, .run = run_copy, .flags = FG_OP_ALIAS},
    {.type = "Dropout", .infer = infer_dropout, .run = run_dropout},
    {.type = "Transpose", .infer = infer_transpose, .run = run_transpose},
    {.type = "DepthToSpace", .infer = infer_d2s, .run = run_d2s},
    {.type = "SpaceToDepth", .infer = infer_s2d, .run = run_s2d},
    {.type = "Concat", .infer = infer_concat, .run = run_concat},
    {.type = "Split", .infer = infer_split, .run = run_split},
    {.type = "Slice", .infer = infer_slice, .run = run_slice},
    {.type = "Gather", .infer = infer_gather, .run = run_gather},
    {.type = "GatherElements", .infer = infer_gather_elements, .run = run_gather_elements},
    {.type = "Expand", .infer = infer_expand, .run = run_expand},
    {.type = "Tile", .infer = infer_tile, .run = run_tile},
    {.type = "Range", .infer = infer_range, .run = run_range},
    {.type = "ConstantOfShape", .infer = infer_const_of_shape, .run = run_const_of_shape},
    {.type = "OneHot", .infer = infer_onehot, .run = run_onehot},
    {.type = "Pad", .infer = infer_pad, .run = run_pad},
    {.type = "Resize", .infer = infer_resize, .prepare = prepare_resize, .run = run_resize, .release = release_resize},
    {.type = "Upsample", .infer = infer_resize, .prepare = prepare_resize, .run = run_resize, .release = release_resize},
    {0},
};
