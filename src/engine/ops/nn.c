/* nn.c - neural-network ops: MatMul, Gemm, Conv, ConvTranspose, MaxPool, AveragePool, the global pools,
 * BatchNormalization (inference), LRN, and the int8 products MatMulInteger, ConvInteger, QLinearMatMul
 * and QLinearConv.
 * Products and convolutions run on oneDNN: prepare() builds the primitives once per plan, reorders constant
 * weights once into the layout the primitive prefers and lays out the plan scratch (reordered activations,
 * then the primitive scratchpad in user mode); run() only re-points memory handles and executes, so it
 * allocates nothing. Activations are plain row-major at op boundaries, like every other kernel's; each conv
 * picks the layout (and Winograd) that is fastest on the target CPU with the reorders counted. Wide
 * depthwise convs, tiny products and per-channel ops are C loops, where oneDNN's reorders or per-call
 * overhead would dominate. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/dnnl_util.h"
#include "engine/ops/ops.h"

/* Hot C loops: the project is compiled for baseline x86-64, so they are cloned for x86-64-v4 (AVX-512)
 * and v3 (AVX2+FMA), picked at load time by CPU features ("arch=skylake-avx512" would test the CPU model
 * and miss newer ones), and built at O3 so that gcc vectorises loops with runtime trip counts. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NN_HOT __attribute__((optimize("O3"), target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NN_HOT
#endif

/* Element-wise loops above this many elements are split across threads. */
#define NN_PAR_MIN 32768

/* GCC vector types for the hand-blocked loops (unaligned loads and stores; the baseline clone lowers
 * them to SSE). */
typedef float v16f __attribute__((vector_size(64)));
typedef float v16f_u __attribute__((vector_size(64), aligned(4), may_alias));
typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_u __attribute__((vector_size(32), aligned(4), may_alias));

/* ------------------------------------------------------------------------------------------------------
 * oneDNN execution state: the primitives of one op in execution order, the memory objects they use and
 * where each memory's data lives at run time (an input, an output, the plan scratch, or a fixed buffer).
 * ------------------------------------------------------------------------------------------------------ */

enum { NN_MAX_EXEC = 4, NN_MAX_ARGS = 8, NN_MAX_MEM = 16, NN_MAX_PD = 16, NN_MAX_OWN = 4 };

enum { MEM_IN, MEM_OUT, MEM_SCRATCH, MEM_PAD, MEM_FIXED };

typedef struct nn_mem {
    dnnl_memory_t m;
    int kind; /* MEM_* */
    int idx;  /* input/output index */
    size_t off; /* offset into the plan scratch */
    void *cur;  /* handle currently set, to skip redundant updates */
} nn_mem;

typedef struct nn_exec {
    dnnl_primitive_t p;
    int n_args;
    dnnl_exec_arg_t args[NN_MAX_ARGS];
} nn_exec;

/* C-path parameters of the ops that do not (only) run on oneDNN. */
typedef struct nn_cpath {
    int64_t M, K, N;        /* tiny GEMM: y[M,N] = a[M,K] (strides sm, sk) * bp[K,N] (+ bias row) */
    int64_t a_sm, a_sk;
    float *bp, *bias_row;   /* owned */
    int b_nt;               /* bp holds B transposed, [N, K]: narrow outputs as dot products */
    int post_c;             /* Gemm: add beta * C (broadcast) after the product */
    float beta;
    int64_t c_d0, c_d1;     /* C's dims as [rows, cols] broadcast to [M, N] */
    float *scale, *shift;   /* BatchNormalization: per-feature affine (owned) */
    int64_t n_feat, inner;  /* features per item and elements per feature */
    int bn_live;            /* parameters are not plan constants: recompute each run */
    float eps;
    /* depthwise Conv on NCHW: planes of H x W in, OH x OW out, kernel kh x kw */
    int64_t n_planes, mult, H, W, OH, OW, kh, kw, sh, sw, pt, pl, Hp, Wp;
} nn_cpath;

/* Post-ops fused into this node at load (FG_OP_POSTOPS, ops.h): y = act(op(x) + bias + residual). */
enum { ACT_NONE, ACT_RELU, ACT_LEAKY, ACT_CLIP, ACT_SIGMOID, ACT_TANH, ACT_GELU };

typedef struct nn_post {
    int act;
    float alpha, beta;
    int res;  /* residual input index, or -1 */
    int bias; /* MatMul bias input index, or -1 */
    /* which parts the C pass after the primitives applies (the rest run inside the primitive) */
    bool c_bias, c_res, c_act;
} nn_post;

typedef struct nn_state {
    nn_exec ex[NN_MAX_EXEC];
    int n_ex;
    nn_mem mem[NN_MAX_MEM];
    int n_mem;
    dnnl_primitive_desc_t pd[NN_MAX_PD];
    int n_pd;
    dnnl_primitive_attr_t attr;
    void *own[NN_MAX_OWN];
    int n_own;
    size_t scratch_used, pad_len;
    int empty;   /* zero-sized output: run does nothing */
    int single;  /* small op: primitives built and run on one thread (see NN_SINGLE_WORK) */
    int use_c;   /* the op's C path runs instead of (or after) the primitives */
    nn_cpath cp;
    nn_post post;
} nn_state;

static int dn_err(fg_kctx *c, const char *what, dnnl_status_t st) {
    return FG_KERR(c, st == dnnl_unimplemented ? FG_EUNSUPPORTED : FG_EINTERNAL, "oneDNN %s: %s", what,
                   fg_dnnl_status_str(st));
}

#define DN(c, what, call)                                                                                     \
    do {                                                                                                      \
        dnnl_status_t st_ = (call);                                                                           \
        if (st_ != dnnl_success)                                                                              \
            return dn_err((c), (what), st_);                                                                  \
    } while (0)

#define TRY(x)                                                                                                \
    do {                                                                                                      \
        int rc_ = (x);                                                                                        \
        if (rc_ < 0)                                                                                          \
            return rc_;                                                                                       \
    } while (0)

static int nthreads(const fg_kctx *c) { return c->n_threads > 0 ? c->n_threads : 1; }

/* Destroys the oneDNN objects and owned buffers of s and forgets its scratch layout, keeping the op's
 * settings (single, post-ops, C path): a bf16 attempt that failed is dropped this way before the f32 one. */
static void st_drop_dnnl(nn_state *s) {
    for (int i = 0; i < s->n_ex; i++)
        dnnl_primitive_destroy(s->ex[i].p);
    for (int i = 0; i < s->n_mem; i++)
        dnnl_memory_destroy(s->mem[i].m);
    for (int i = 0; i < s->n_pd; i++)
        dnnl_primitive_desc_destroy(s->pd[i]);
    if (s->attr)
        dnnl_primitive_attr_destroy(s->attr);
    for (int i = 0; i < s->n_own; i++)
        free(s->own[i]);
    s->n_ex = s->n_mem = s->n_pd = s->n_own = 0;
    s->attr = NULL;
    s->scratch_used = s->pad_len = 0;
}

static void st_free(void *p) {
    nn_state *s = p;
    if (!s)
        return;
    st_drop_dnnl(s);
    free(s->cp.bp);
    free(s->cp.bias_row);
    free(s->cp.scale);
    free(s->cp.shift);
    free(s);
}

/* The state is attached to c at once, so every error path can just return: the planner releases it. */
static nn_state *st_new(fg_kctx *c) {
    nn_state *s = fg_xcalloc(1, sizeof *s);
    c->state = s;
    return s;
}

/* Reserves bytes of the plan scratch (64-byte aligned) and returns their offset. */
static size_t st_take(nn_state *s, size_t bytes) {
    size_t off = s->scratch_used;
    s->scratch_used += (bytes + 63) & ~(size_t)63;
    return off;
}

/* An owned, 64-byte aligned buffer freed with the state. */
static void *st_own(fg_kctx *c, nn_state *s, size_t bytes) {
    if (s->n_own >= NN_MAX_OWN) {
        FG_KERR(c, FG_EINTERNAL, "too many owned buffers");
        return NULL;
    }
    void *p = fg_aligned_alloc(bytes ? bytes : 64);
    if (!p) {
        FG_KERR(c, FG_ENOMEM, "cannot allocate %zu bytes of packed weights", bytes);
        return NULL;
    }
    s->own[s->n_own++] = p;
    return p;
}

/* A memory object for md whose data is bound at run time (kind/idx/off) or fixed now (MEM_FIXED). */
static int st_mem(fg_kctx *c, nn_state *s, const dnnl_memory_desc_t *md, int kind, int idx, size_t off,
                  const void *fixed, dnnl_memory_t *out) {
    if (s->n_mem >= NN_MAX_MEM)
        return FG_KERR(c, FG_EINTERNAL, "too many oneDNN memories");
    nn_mem *m = &s->mem[s->n_mem];
    void *h = kind == MEM_FIXED ? (void *)fixed : DNNL_MEMORY_NONE;
    DN(c, "memory", dnnl_memory_create(&m->m, md, c->dnnl->engine, h));
    m->kind = kind;
    m->idx = idx;
    m->off = off;
    m->cur = kind == MEM_FIXED ? (void *)fixed : NULL;
    s->n_mem++;
    *out = m->m;
    return 0;
}

static int st_pd(fg_kctx *c, nn_state *s, const void *desc, const char *what, dnnl_primitive_desc_t *out) {
    if (s->n_pd >= NN_MAX_PD)
        return FG_KERR(c, FG_EINTERNAL, "too many primitive descriptors");
    DN(c, what, dnnl_primitive_desc_create(&s->pd[s->n_pd], desc, s->attr, c->dnnl->engine, NULL));
    *out = s->pd[s->n_pd++];
    return 0;
}

static void ex_arg(nn_exec *e, int arg, dnnl_memory_t m) {
    e->args[e->n_args].arg = arg;
    e->args[e->n_args].memory = m;
    e->n_args++;
}

/* The arguments every product primitive (matmul, inner product, convolution) takes; bias may be NULL. */
static void ex_product_args(nn_exec *e, dnnl_memory_t src, dnnl_memory_t w, dnnl_memory_t bias, dnnl_memory_t dst) {
    ex_arg(e, DNNL_ARG_SRC, src);
    ex_arg(e, DNNL_ARG_WEIGHTS, w);
    if (bias)
        ex_arg(e, DNNL_ARG_BIAS, bias);
    ex_arg(e, DNNL_ARG_DST, dst);
}

/* Appends the primitive of pd to the execution list, with its scratchpad in the plan scratch. */
static int st_prim(fg_kctx *c, nn_state *s, const_dnnl_primitive_desc_t pd, nn_exec **out) {
    if (s->n_ex >= NN_MAX_EXEC)
        return FG_KERR(c, FG_EINTERNAL, "too many primitives");
    nn_exec *e = &s->ex[s->n_ex];
    memset(e, 0, sizeof *e);
    DN(c, "primitive", dnnl_primitive_create(&e->p, pd));
    s->n_ex++;
    const dnnl_memory_desc_t *pmd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t sz = pmd ? dnnl_memory_desc_get_size(pmd) : 0;
    if (sz) {
        dnnl_memory_t m;
        TRY(st_mem(c, s, pmd, MEM_PAD, 0, 0, NULL, &m));
        ex_arg(e, DNNL_ARG_SCRATCHPAD, m);
        if (sz > s->pad_len)
            s->pad_len = sz;
    }
    *out = e;
    return 0;
}

/* Attributes every primitive gets: user-mode scratchpad (the plan's), optional output scale and post-ops
 * (the hook for fusing a following Relu or Add later). */
static int st_attr(fg_kctx *c, nn_state *s, float out_scale, const_dnnl_post_ops_t po) {
    if (!s->attr)
        DN(c, "attr", dnnl_primitive_attr_create(&s->attr));
    DN(c, "attr", dnnl_primitive_attr_set_scratchpad_mode(s->attr, dnnl_scratchpad_mode_user));
    if (out_scale != 1.0f)
        DN(c, "attr", dnnl_primitive_attr_set_output_scales(s->attr, 1, 0, &out_scale));
    if (po)
        DN(c, "attr", dnnl_primitive_attr_set_post_ops(s->attr, po));
    return 0;
}

/* Adds a reorder src_md -> dst_md to the execution list between two bound memories. */
static int st_reorder(fg_kctx *c, nn_state *s, const dnnl_memory_desc_t *src_md, dnnl_memory_t src,
                      const dnnl_memory_desc_t *dst_md, dnnl_memory_t dst) {
    if (s->n_pd >= NN_MAX_PD)
        return FG_KERR(c, FG_EINTERNAL, "too many primitive descriptors");
    dnnl_primitive_attr_t a;
    DN(c, "attr", dnnl_primitive_attr_create(&a));
    dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user);
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&s->pd[s->n_pd], src_md, c->dnnl->engine, dst_md,
                                                          c->dnnl->engine, a);
    dnnl_primitive_attr_destroy(a);
    if (st != dnnl_success)
        return dn_err(c, "reorder", st);
    nn_exec *e;
    TRY(st_prim(c, s, s->pd[s->n_pd++], &e));
    ex_arg(e, DNNL_ARG_FROM, src);
    ex_arg(e, DNNL_ARG_TO, dst);
    return 0;
}

/* Reorders src (src_md) into dst (dst_md) right now: packing constant weights at prepare time. */
static int reorder_now(fg_kctx *c, const dnnl_memory_desc_t *src_md, const void *src,
                       const dnnl_memory_desc_t *dst_md, void *dst) {
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t p = NULL;
    dnnl_memory_t ms = NULL, md = NULL;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, src_md, c->dnnl->engine, dst_md, c->dnnl->engine, NULL);
    if (st == dnnl_success)
        st = dnnl_primitive_create(&p, pd);
    if (st == dnnl_success)
        st = dnnl_memory_create(&ms, src_md, c->dnnl->engine, (void *)src);
    if (st == dnnl_success)
        st = dnnl_memory_create(&md, dst_md, c->dnnl->engine, dst);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
        st = dnnl_primitive_execute(p, c->dnnl->stream, 2, args);
    }
    if (st == dnnl_success)
        st = dnnl_stream_wait(c->dnnl->stream);
    if (ms)
        dnnl_memory_destroy(ms);
    if (md)
        dnnl_memory_destroy(md);
    if (p)
        dnnl_primitive_destroy(p);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st == dnnl_success ? 0 : dn_err(c, "weights reorder", st);
}

/* Places the primitive scratchpad after the op's own scratch buffers and tells the planner the total. */
static void st_finish(fg_kctx *c, nn_state *s) {
    size_t pad_off = s->scratch_used;
    for (int i = 0; i < s->n_mem; i++)
        if (s->mem[i].kind == MEM_PAD)
            s->mem[i].off = pad_off;
    c->scratch_len = pad_off + s->pad_len;
}

/* Reads the fused post-op attributes of c's node into p (nothing fused: act ACT_NONE, res/bias -1). */
static int post_get(fg_kctx *c, nn_post *p) {
    memset(p, 0, sizeof *p);
    p->res = p->bias = -1;
    const char *a = fg_attr_s(c->node, FG_ATTR_ACT, NULL);
    if (a) {
        static const struct {
            const char *name;
            int act;
        } acts[] = {{"relu", ACT_RELU}, {"leaky_relu", ACT_LEAKY}, {"clip", ACT_CLIP},
                    {"sigmoid", ACT_SIGMOID}, {"tanh", ACT_TANH}, {"gelu_erf", ACT_GELU}};
        for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
            if (strcmp(a, acts[i].name) == 0)
                p->act = acts[i].act;
        if (p->act == ACT_NONE)
            return FG_KERR(c, FG_EUNSUPPORTED, "fused activation '%s'", a);
        p->alpha = fg_attr_f(c->node, FG_ATTR_ALPHA, 0.f);
        p->beta = fg_attr_f(c->node, FG_ATTR_BETA, 0.f);
    }
    int64_t r = fg_attr_i(c->node, FG_ATTR_RESIDUAL, 0);
    if (r > 0) {
        const fg_tensor *t = fg_in(c, (int)r);
        if (!t)
            return FG_KERR(c, FG_EINVAL, "fused residual input %lld is missing", (long long)r);
        if (t->dtype != c->out[0]->dtype)
            return FG_KERR(c, FG_EDTYPE, "residual is %s, the result %s", fg_dtype_name(t->dtype),
                           fg_dtype_name(c->out[0]->dtype));
        int rk;
        int64_t d[FG_MAX_RANK];
        TRY(fg_broadcast_shape(c, c->out[0], t, &rk, d));
        if (rk != c->out[0]->rank || memcmp(d, c->out[0]->dims, sizeof(int64_t) * (size_t)rk) != 0)
            return FG_KERR(c, FG_ESHAPE, "residual does not broadcast to the result's shape");
        p->res = (int)r;
    }
    const fg_tensor *b = fg_in(c, 2), *y = c->out[0];
    if (fg_attr_i(c->node, FG_ATTR_BIAS, 0) && b) {
        /* fusion only sets this on an [N] float row, but a model file may carry the attribute on anything:
         * the bias is added per output row, so check it is one */
        if (b->dtype != y->dtype || fg_tensor_numel(b) != (y->rank ? y->dims[y->rank - 1] : 1)) {
            char sh[160];
            return FG_KERR(c, FG_ESHAPE, "fused bias is %s %s, not one %s row of the result",
                           fg_dtype_name(b->dtype), fg_shape_str(b, sh, sizeof sh), fg_dtype_name(y->dtype));
        }
        p->bias = 2;
    }
    return 0;
}

/* Whether the residual has exactly the result's shape (so a primitive can add it element by element). */
static bool post_res_same(const fg_kctx *c, const nn_post *p) {
    const fg_tensor *r = c->in[p->res], *y = c->out[0];
    return r->rank == y->rank && memcmp(r->dims, y->dims, sizeof(int64_t) * (size_t)y->rank) == 0;
}

static dnnl_alg_kind_t post_alg(const nn_post *p, float *alpha, float *beta) {
    *alpha = 0.f;
    *beta = 0.f;
    switch (p->act) {
    case ACT_RELU: return dnnl_eltwise_relu;
    case ACT_LEAKY: *alpha = p->alpha; return dnnl_eltwise_relu;
    case ACT_CLIP: *alpha = p->alpha; *beta = p->beta; return dnnl_eltwise_clip;
    case ACT_SIGMOID: return dnnl_eltwise_logistic;
    case ACT_TANH: return dnnl_eltwise_tanh;
    case ACT_GELU: return dnnl_eltwise_gelu_erf;
    default: return dnnl_alg_kind_undef;
    }
}

/* Builds the primitive post-op list [residual (sum or binary add over res_md)] [activation] into *po
 * (NULL when there is nothing to fuse; caller destroys). Parts marked for the C pass are left out. */
static int post_dnnl(fg_kctx *c, const nn_post *p, bool res_as_sum, const dnnl_memory_desc_t *res_md,
                     dnnl_post_ops_t *po) {
    *po = NULL;
    bool res = p->res >= 0 && !p->c_res, act = p->act != ACT_NONE && !p->c_act;
    if (!res && !act)
        return 0;
    DN(c, "post-ops", dnnl_post_ops_create(po));
    if (res && res_as_sum)
        DN(c, "post-ops", dnnl_post_ops_append_sum(*po, 1.0f));
    else if (res)
        DN(c, "post-ops", dnnl_post_ops_append_binary(*po, dnnl_binary_add, res_md));
    if (act) {
        float al, be;
        dnnl_alg_kind_t alg = post_alg(p, &al, &be);
        DN(c, "post-ops", dnnl_post_ops_append_eltwise(*po, 1.0f, alg, al, be));
    }
    return 0;
}

/* Activation over y[0..n), one simple loop per kind so the common ones vectorise. */
NN_HOT static void act_block(int act, float *restrict y, int64_t n, float alpha, float beta) {
    switch (act) {
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] > 0.f ? y[i] : 0.f;
        break;
    case ACT_LEAKY:
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] > 0.f ? y[i] : alpha * y[i];
        break;
    case ACT_CLIP:
        for (int64_t i = 0; i < n; i++) {
            float v = y[i] < alpha ? alpha : y[i];
            y[i] = v > beta ? beta : v;
        }
        break;
    case ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = 1.f / (1.f + expf(-y[i]));
        break;
    case ACT_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanhf(y[i]);
        break;
    case ACT_GELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = 0.5f * y[i] * (1.f + erff(y[i] * (float)M_SQRT1_2));
        break;
    default: break;
    }
}

NN_HOT static void add_block(float *restrict y, const float *restrict r, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += r[i];
}

/* The post-ops the primitive did not apply, on the finished output: y = act(y + bias + residual).
 * Works row by row (rows of the last dimension), so each row is still in cache for the activation. A
 * residual of another shape is broadcast through strides (rare: the fused Add broadcast). */
static int post_run_c(fg_kctx *c, const nn_post *p) {
    bool do_bias = p->c_bias && p->bias >= 0, do_res = p->c_res && p->res >= 0;
    bool do_act = p->c_act && p->act != ACT_NONE;
    if (!do_bias && !do_res && !do_act)
        return 0;
    fg_tensor *yt = c->out[0];
    if (yt->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "fused post-ops on %s", fg_dtype_name(yt->dtype));
    float *y = yt->data;
    int64_t n = fg_tensor_numel(yt), N = yt->rank ? yt->dims[yt->rank - 1] : 1;
    if (n == 0)
        return 0;
    if (N < 256 && !do_bias) /* short rows: work in blocks instead */
        N = n % 1024 == 0 ? 1024 : n;
    const float *b = do_bias ? c->in[p->bias]->data : NULL;
    const fg_tensor *rt = do_res ? c->in[p->res] : NULL;
    const float *r = rt ? rt->data : NULL;
    bool r_same = rt && fg_tensor_numel(rt) == n;
    int64_t rs[FG_MAX_RANK] = {0};
    if (rt && !r_same) { /* strides of the residual in the result's index space, 0 where broadcast */
        int64_t st = 1;
        for (int i = rt->rank - 1; i >= 0; i--) {
            rs[i + yt->rank - rt->rank] = rt->dims[i] == 1 ? 0 : st;
            st *= rt->dims[i];
        }
    }
    int act = do_act ? p->act : ACT_NONE;
    int64_t rows = n / N;
#pragma omp parallel for num_threads(nthreads(c)) if (n > NN_PAR_MIN)
    for (int64_t row = 0; row < rows; row++) {
        float *yr = y + row * N;
        if (b)
            add_block(yr, b, N);
        if (r_same) {
            add_block(yr, r + row * N, N);
        } else if (r) {
            for (int64_t j = 0; j < N; j++) {
                int64_t off = 0, rem = row * N + j;
                for (int d = yt->rank - 1; d >= 0; d--) {
                    off += (rem % yt->dims[d]) * rs[d];
                    rem /= yt->dims[d];
                }
                yr[j] += r[off];
            }
        }
        act_block(act, yr, N, p->alpha, p->beta);
    }
    return 0;
}

/* oneDNN ops with less work than this (multiply-adds, or window taps for pools; about 10 us on one core)
 * are built and run on one thread: waking a second thread costs about as much as it saves. The digits
 * CNN at batch 1 took 20 us with 2 threads against 9 us with 1; now both take 9 us. */
#define NN_SINGLE_WORK (1 << 19)

/* Marks s single-threaded when work is small and, if so, sets OpenMP to one thread for the primitives
 * created next (oneDNN sizes its work split at creation). Returns the thread count to restore. */
static int st_single_begin(fg_kctx *c, nn_state *s, int64_t work) {
    int prev = omp_get_max_threads();
    s->single = nthreads(c) > 1 && work < NN_SINGLE_WORK;
    if (s->single)
        omp_set_num_threads(1);
    return prev;
}

static void st_single_end(nn_state *s, int prev) {
    if (s->single)
        omp_set_num_threads(prev);
}

/* Points every bound memory at this run's buffers and executes the primitives in order. */
static int st_exec(fg_kctx *c, nn_state *s) {
    for (int i = 0; i < s->n_mem; i++) {
        nn_mem *m = &s->mem[i];
        void *p;
        switch (m->kind) {
        case MEM_IN: p = c->in[m->idx]->data; break;
        case MEM_OUT: p = c->out[m->idx]->data; break;
        case MEM_SCRATCH: case MEM_PAD: p = (char *)c->scratch + m->off; break;
        default: continue;
        }
        if (p != m->cur) {
            DN(c, "set handle", dnnl_memory_set_data_handle(m->m, p));
            m->cur = p;
        }
    }
    int prev = s->single ? omp_get_max_threads() : 0;
    if (s->single)
        omp_set_num_threads(1);
    dnnl_status_t st = dnnl_success;
    for (int i = 0; i < s->n_ex && st == dnnl_success; i++)
        st = dnnl_primitive_execute(s->ex[i].p, c->dnnl->stream, s->ex[i].n_args, s->ex[i].args);
    if (st == dnnl_success && s->n_ex)
        st = dnnl_stream_wait(c->dnnl->stream);
    if (s->single)
        omp_set_num_threads(prev);
    return st == dnnl_success ? 0 : dn_err(c, "execute", st);
}

/* Plain (row-major, dense) f32 descriptor. */
static int md_plain(fg_kctx *c, dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt) {
    dnnl_dims_t d, st;
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        d[i] = dims[i];
        st[i] = s;
        s *= dims[i] > 0 ? dims[i] : 1;
    }
    DN(c, "memory desc", dnnl_memory_desc_init_by_strides(md, nd, d, dt, st));
    return 0;
}

/* Descriptor of an activation in the plan format fmt (FG_FMT_PLAIN, FG_FMT_NC16 or FG_FMT_NXC, see ops.h). */
static int md_act(fg_kctx *c, dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt, int fmt) {
    if (fmt != FG_FMT_NC16 && fmt != FG_FMT_NXC)
        return md_plain(c, md, nd, dims, dt);
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    dnnl_format_tag_t tag = nd == 3 ? dnnl_nCw16c : nd == 4 ? dnnl_nChw16c : dnnl_nCdhw16c;
    if (fmt == FG_FMT_NXC)
        tag = nd == 3 ? dnnl_nwc : nd == 4 ? dnnl_nhwc : dnnl_ndhwc;
    DN(c, "memory desc", dnnl_memory_desc_init_by_tag(md, nd, d, dt, tag));
    return 0;
}

/* Plan format of input k / output k (plain when the caller gives no formats, as unit tests do). */
static int fmt_in(const fg_kctx *c, int k) { return c->fmt_in ? c->fmt_in[k] : FG_FMT_PLAIN; }
static int fmt_out(const fg_kctx *c, int k) { return c->fmt_out ? c->fmt_out[k] : FG_FMT_PLAIN; }

static int md_strided(fg_kctx *c, dnnl_memory_desc_t *md, int nd, const int64_t *dims, const int64_t *strides) {
    dnnl_dims_t d, st;
    for (int i = 0; i < nd; i++) {
        d[i] = dims[i];
        st[i] = strides[i];
    }
    DN(c, "memory desc", dnnl_memory_desc_init_by_strides(md, nd, d, dnnl_f32, st));
    return 0;
}

static int md_tag_dt(fg_kctx *c, dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_format_tag_t tag,
                     dnnl_data_type_t dt) {
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    DN(c, "memory desc", dnnl_memory_desc_init_by_tag(md, nd, d, dt, tag));
    return 0;
}

/* bf16 sessions (FG_PREC_BF16, dnnl_util.h) run products with constant weights in bf16: weights packed
 * once, the activation converted into the scratch by a reorder before the primitive, f32 accumulation and
 * destination. oneDNN 2.6.3 ignores fpmath_mode=bf16 for f32 primitives, so the types must be explicit. */
static bool want_bf16(const fg_kctx *c, const fg_tensor *w) { return c->dnnl && c->dnnl->bf16 && w && w->data; }

/* Whether a bf16 primitive got only oneDNN's reference implementation, which is many times slower than
 * the f32 kernels: such a node runs in f32 instead. */
static bool pd_is_ref(const_dnnl_primitive_desc_t pd) {
    const char *impl = "";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    return strncmp(impl, "ref", 3) == 0;
}

/* Settles a bf16 build attempt that returned rc: counts it, and when oneDNN had no usable bf16 kernel (any
 * failure but running out of memory) drops the attempt and clears the error. Returns 1 when the caller
 * should build in f32 instead, else rc. */
static int bf16_settle(fg_kctx *c, nn_state *s, int rc) {
    if (rc == 0) {
        c->dnnl->n_bf16++;
        return 0;
    }
    if (rc == FG_ENOMEM)
        return rc;
    st_drop_dnnl(s);
    fg_err_clear(c->err);
    c->dnnl->n_bf16_fallback++;
    return 1;
}

static bool is_const(const fg_tensor *t) { return t && t->data; }

/* Whether memory laid out as want can be read as the dense row-major user layout: equal descriptors, or
 * both plain and differing only in the strides of size-1 dims (NCHW and NHWC are the same bytes when
 * C == 1 or H*W == 1), so no reorder is needed. */
static bool same_bytes(const dnnl_memory_desc_t *want, const dnnl_memory_desc_t *user) {
    if (dnnl_memory_desc_equal(want, user))
        return true;
    if (want->format_kind != dnnl_blocked || user->format_kind != dnnl_blocked || want->ndims != user->ndims ||
        want->data_type != user->data_type || want->offset0 != user->offset0 ||
        want->format_desc.blocking.inner_nblks != 0 || user->format_desc.blocking.inner_nblks != 0 ||
        dnnl_memory_desc_get_size(want) != dnnl_memory_desc_get_size(user))
        return false;
    for (int i = 0; i < want->ndims; i++)
        if (want->dims[i] != user->dims[i] || want->padded_dims[i] != user->padded_dims[i] ||
            (want->dims[i] > 1 && want->format_desc.blocking.strides[i] != user->format_desc.blocking.strides[i]))
            return false;
    return true;
}

static int check_f32(fg_kctx *c, int i) {
    static const fg_dtype f32[] = {FG_F32, 0};
    return fg_check_dtype(c, i, f32);
}

/* ------------------------------------------------------------------------------------------------------
 * Sliding-window geometry shared by Conv, ConvTranspose and the pools.
 * ------------------------------------------------------------------------------------------------------ */

typedef struct win {
    int nsp;                                     /* spatial dims, 1..3 */
    int64_t in[3], k[3], s[3], d[3], pl[3], pr[3], out[3];
    int64_t pr_dnnl[3];                          /* right padding oneDNN needs for out (ceil mode) */
} win;

static int64_t dk(const win *w, int i) { return (w->k[i] - 1) * w->d[i] + 1; }

/* Reads an optional ints attribute of exactly n values, each >= lo, into v (defaults kept if absent). */
static int read_ints(fg_kctx *c, const char *name, int n, int64_t lo, int64_t *v) {
    const int64_t *a;
    int cnt = fg_attr_ints(c->node, name, &a);
    if (cnt < 0)
        return 0;
    if (cnt != n)
        return FG_KERR(c, FG_EINVAL, "attribute %s has %d values, expected %d", name, cnt, n);
    for (int i = 0; i < n; i++) {
        if (a[i] < lo || a[i] > ((int64_t)1 << 40))
            return FG_KERR(c, FG_EINVAL, "attribute %s[%d] = %lld is out of range", name, i, (long long)a[i]);
        v[i] = a[i];
    }
    return 0;
}

typedef enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID } pad_mode;

static int read_auto_pad(fg_kctx *c, pad_mode *m) {
    const char *ap = fg_attr_s(c->node, "auto_pad", "NOTSET");
    if (!strcmp(ap, "NOTSET") || !ap[0])
        *m = PAD_NOTSET;
    else if (!strcmp(ap, "SAME_UPPER"))
        *m = PAD_SAME_UPPER;
    else if (!strcmp(ap, "SAME_LOWER"))
        *m = PAD_SAME_LOWER;
    else if (!strcmp(ap, "VALID"))
        *m = PAD_VALID;
    else
        return FG_KERR(c, FG_EINVAL, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", ap);
    return 0;
}

/* Forward window (Conv, pools): w->in and w->k are set; reads strides, dilations, pads, auto_pad and
 * computes out (ceil_mode for pools, with PyTorch's rule that the last window starts inside the input). */
static int win_forward(fg_kctx *c, win *w, bool ceil_mode, bool has_dilations) {
    int n = w->nsp;
    int64_t pads[6] = {0};
    for (int i = 0; i < n; i++)
        w->s[i] = w->d[i] = 1;
    TRY(read_ints(c, "strides", n, 1, w->s));
    if (has_dilations)
        TRY(read_ints(c, "dilations", n, 1, w->d));
    pad_mode pm;
    TRY(read_auto_pad(c, &pm));
    if (pm == PAD_NOTSET)
        TRY(read_ints(c, "pads", 2 * n, 0, pads));
    for (int i = 0; i < n; i++) {
        int64_t in = w->in[i], kk = dk(w, i), s = w->s[i];
        switch (pm) {
        case PAD_NOTSET: {
            w->pl[i] = pads[i];
            w->pr[i] = pads[i + n];
            int64_t span = in + w->pl[i] + w->pr[i] - kk;
            if (span < 0)
                return FG_KERR(c, FG_ESHAPE, "kernel extent %lld exceeds padded input %lld on spatial axis %d",
                               (long long)kk, (long long)(in + w->pl[i] + w->pr[i]), i);
            w->out[i] = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
            if (ceil_mode && (w->out[i] - 1) * s >= in + w->pl[i])
                w->out[i]--;
            break;
        }
        case PAD_SAME_UPPER: case PAD_SAME_LOWER: {
            w->out[i] = (in + s - 1) / s;
            int64_t total = (w->out[i] - 1) * s + kk - in;
            if (total < 0)
                total = 0;
            w->pl[i] = pm == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            w->pr[i] = total - w->pl[i];
            break;
        }
        case PAD_VALID:
            if (in < kk)
                return FG_KERR(c, FG_ESHAPE, "kernel extent %lld exceeds input %lld on spatial axis %d",
                               (long long)kk, (long long)in, i);
            w->pl[i] = w->pr[i] = 0;
            w->out[i] = (in - kk) / s + 1;
            break;
        }
        int64_t need = (w->out[i] - 1) * s + kk - in - w->pl[i];
        w->pr_dnnl[i] = need > w->pr[i] ? need : w->pr[i];
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------------
 * Conv and ConvTranspose
 * ------------------------------------------------------------------------------------------------------ */

typedef struct conv_geom {
    win w;
    int64_t n, ci, co, g;
    int64_t op[3]; /* ConvTranspose output_padding */
} conv_geom;

/* Geometry of a convolution whose X, W and optional bias are inputs xi, wi and bi (-1: none); the
 * float ops check for float32, the int8 ones (q) check their types themselves. */
static int conv_geom_at(fg_kctx *c, conv_geom *g, bool transpose, int xi, int wi, int bi, bool q) {
    const fg_tensor *x = fg_in(c, xi), *wt = fg_in(c, wi), *b = bi >= 0 ? fg_in(c, bi) : NULL;
    if (!x || !wt)
        return FG_KERR(c, FG_EINVAL, "X and W are required");
    if (!q) {
        TRY(check_f32(c, xi));
        TRY(check_f32(c, wi));
        if (b)
            TRY(check_f32(c, bi));
    }
    if (x->rank < 3 || x->rank > 5)
        return FG_KERR(c, FG_EUNSUPPORTED, "input rank %d (1 to 3 spatial dimensions are supported)", x->rank);
    if (wt->rank != x->rank)
        return FG_KERR(c, FG_ESHAPE, "W has rank %d, X has rank %d", wt->rank, x->rank);
    memset(g, 0, sizeof *g);
    win *w = &g->w;
    w->nsp = x->rank - 2;
    g->n = x->dims[0];
    g->ci = x->dims[1];
    g->g = fg_attr_i(c->node, "group", 1);
    if (g->g < 1 || g->ci % g->g != 0)
        return FG_KERR(c, FG_EINVAL, "group %lld does not divide the %lld input channels", (long long)g->g,
                       (long long)g->ci);
    if (!transpose) {
        g->co = wt->dims[0];
        if (wt->dims[1] * g->g != g->ci || g->co % g->g != 0)
            return FG_KERR(c, FG_ESHAPE, "W [%lld,%lld,...] does not fit %lld input channels in %lld groups",
                           (long long)wt->dims[0], (long long)wt->dims[1], (long long)g->ci, (long long)g->g);
    } else {
        if (wt->dims[0] != g->ci)
            return FG_KERR(c, FG_ESHAPE, "W has %lld input channels, X has %lld", (long long)wt->dims[0],
                           (long long)g->ci);
        g->co = wt->dims[1] * g->g;
    }
    for (int i = 0; i < w->nsp; i++) {
        w->in[i] = x->dims[2 + i];
        w->k[i] = wt->dims[2 + i];
        if (w->k[i] < 1)
            return FG_KERR(c, FG_ESHAPE, "empty kernel");
    }
    int64_t ks[3];
    memcpy(ks, w->k, sizeof ks);
    TRY(read_ints(c, "kernel_shape", w->nsp, 1, ks));
    if (memcmp(ks, w->k, sizeof ks) != 0)
        return FG_KERR(c, FG_ESHAPE, "kernel_shape does not match W's spatial dimensions");
    if (b && (b->rank != 1 || b->dims[0] != g->co))
        return FG_KERR(c, FG_ESHAPE, "bias must be [%lld]", (long long)g->co);
    if (!transpose)
        return win_forward(c, w, false, true);

    /* ConvTranspose: out = s*(in-1) + output_padding + dk - pads, or output_shape with derived pads */
    int n = w->nsp;
    int64_t pads[6] = {0};
    for (int i = 0; i < n; i++)
        w->s[i] = w->d[i] = 1;
    TRY(read_ints(c, "strides", n, 1, w->s));
    TRY(read_ints(c, "dilations", n, 1, w->d));
    TRY(read_ints(c, "output_padding", n, 0, g->op));
    pad_mode pm;
    TRY(read_auto_pad(c, &pm));
    const int64_t *ov;
    int n_os = fg_attr_ints(c->node, "output_shape", &ov);
    if (n_os >= 0 && n_os != n && n_os != n + 2)
        return FG_KERR(c, FG_EINVAL, "output_shape has %d values for %d spatial dimensions", n_os, n);
    if (pm == PAD_NOTSET && n_os < 0)
        TRY(read_ints(c, "pads", 2 * n, 0, pads));
    for (int i = 0; i < n; i++) {
        int64_t natural = w->s[i] * (w->in[i] - 1) + g->op[i] + dk(w, i);
        if (n_os >= 0 || pm == PAD_SAME_UPPER || pm == PAD_SAME_LOWER) {
            w->out[i] = n_os >= 0 ? ov[n_os - n + i] : w->in[i] * w->s[i];
            if (w->out[i] < 1)
                return FG_KERR(c, FG_EINVAL, "output_shape[%d] = %lld", i, (long long)w->out[i]);
            int64_t total = natural - w->out[i];
            if (total < 0) { /* a larger output than the kernel reaches: the tail gets only the bias */
                w->pl[i] = 0;
                w->pr[i] = total;
            } else if (pm == PAD_SAME_UPPER) {
                w->pl[i] = total / 2;
                w->pr[i] = total - total / 2;
            } else {
                w->pl[i] = total - total / 2;
                w->pr[i] = total / 2;
            }
        } else {
            w->pl[i] = pads[i];
            w->pr[i] = pads[i + n];
            w->out[i] = natural - w->pl[i] - w->pr[i];
            if (w->out[i] < 1)
                return FG_KERR(c, FG_ESHAPE, "pads leave an empty output on spatial axis %d", i);
        }
        w->pr_dnnl[i] = w->pr[i] - g->op[i];
    }
    return 0;
}

static int conv_geom_get(fg_kctx *c, conv_geom *g, bool transpose) {
    return conv_geom_at(c, g, transpose, 0, 1, 2, false);
}

static int infer_conv_common(fg_kctx *c, bool transpose) {
    conv_geom g;
    TRY(conv_geom_get(c, &g, transpose));
    int64_t d[5] = {g.n, g.co};
    for (int i = 0; i < g.w.nsp; i++)
        d[2 + i] = g.w.out[i];
    fg_set_shape(c->out[0], FG_F32, g.w.nsp + 2, d);
    return 0;
}

static int infer_conv(fg_kctx *c) { return infer_conv_common(c, false); }
static int infer_convt(fg_kctx *c) { return infer_conv_common(c, true); }

/* Activation layout a convolution runs in; the op reorders from and to plain NCHW around it. */
typedef enum { LAYOUT_PLAIN, LAYOUT_ANY, LAYOUT_16C } conv_layout;

/* Per-shape choice, from timing every conv of resnet18 and mobilenet_v2 at batch 1 on the target CPU
 * (oneDNN 2.6.3, AVX-512, 1 thread, reorders included):
 * - 1x1: NCHW, where oneDNN runs one sgemm ("gemm:jit"); mobilenet_v2's 34 take 4.4 ms, against 3.8 ms
 *   for NHWC brgconv alone plus ~3.5 ms of reorders;
 * - depthwise (those the C kernel does not take): nChw16c, whose reorders cost 1.5-2x less than NHWC's;
 *   on NCHW oneDNN falls back to gemm:jit, 3-10x slower;
 * - the rest: oneDNN's pick (NHWC brgconv), 1.3-3x faster than NCHW on resnet18's convs despite the
 *   reorders. */
static conv_layout conv_pick_layout(const conv_geom *g, bool transpose) {
    bool k1 = true;
    for (int i = 0; i < g->w.nsp; i++)
        k1 &= g->w.k[i] == 1;
    if (!transpose && g->g == 1 && k1)
        return LAYOUT_PLAIN;
    if (!transpose && g->g > 1 && g->g == g->ci)
        return LAYOUT_16C;
    return LAYOUT_ANY;
}

/* Winograd F(2x2, 3x3) for 3x3 stride-1 convs with 32 or more channels in and out: timed on resnet18's
 * (1 thread, reorders included) it takes 0.94 / 0.79 / 1.02 / 1.33 ms against 1.50 / 1.38 / 1.37 / 1.44
 * ms for direct brgconv at 64 / 128 / 256 / 512 channels (2 threads: 6.6 vs 9.8 ms over all 13), but is
 * slower with 3 or 16 input channels. Its error stays around 1e-6 relative on resnet18's output. */
static bool conv_winograd(const conv_geom *g) {
    return g->w.nsp == 2 && g->g == 1 && g->ci >= 32 && g->co >= 32 && g->w.k[0] == 3 && g->w.k[1] == 3 &&
           g->w.s[0] == 1 && g->w.s[1] == 1 && g->w.d[0] == 1 && g->w.d[1] == 1;
}

typedef struct conv_cand {
    dnnl_alg_kind_t alg;
    conv_layout lay;
} conv_cand;

static int md_tag(fg_kctx *c, dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_format_tag_t tag) {
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    DN(c, "memory desc", dnnl_memory_desc_init_by_tag(md, nd, d, dnnl_f32, tag));
    return 0;
}

/* Sets the primitive attributes of a convolution with pp's post-ops (residual as sum, then activation),
 * leaving out what the C pass applies. */
static int conv_attr(fg_kctx *c, nn_state *s, const nn_post *pp) {
    dnnl_post_ops_t po = NULL;
    if (pp)
        TRY(post_dnnl(c, pp, true, NULL, &po));
    if (s->attr) { /* an earlier attempt's list: start afresh (an empty list does not replace it) */
        dnnl_primitive_attr_destroy(s->attr);
        s->attr = NULL;
    }
    int rc = st_attr(c, s, 1.0f, po);
    if (po)
        dnnl_post_ops_destroy(po);
    return rc;
}

/* oneDNN's weight dims and strides ([G,] O, I, k...) over ONNX's weight layout ([O, I/G, k...] for Conv,
 * [I, O/G, k...] for ConvTranspose); returns the rank. */
static int conv_weight_layout(const conv_geom *g, bool transpose, int64_t *wdims, int64_t *wstr) {
    const win *w = &g->w;
    int n = w->nsp;
    bool grouped = g->g > 1;
    int64_t kvol = 1;
    for (int i = 0; i < n; i++)
        kvol *= w->k[i];
    int64_t og = g->co / g->g, ig = g->ci / g->g;
    int o = 0;
    if (grouped) {
        wdims[0] = g->g;
        wstr[0] = og * ig * kvol;
        o = 1;
    }
    wdims[o] = og;
    wdims[o + 1] = ig;
    wstr[o] = transpose ? kvol : ig * kvol;
    wstr[o + 1] = transpose ? og * kvol : kvol;
    for (int i = 0; i < n; i++) {
        int64_t inner = 1;
        for (int j = i + 1; j < n; j++)
            inner *= w->k[j];
        wdims[o + 2 + i] = w->k[i];
        wstr[o + 2 + i] = inner;
    }
    return n + 2 + grouped;
}

/* oneDNN's strides, dilations (0 = none) and paddings of a convolution window */
static void conv_window(const win *w, int n, int64_t *st, int64_t *dl, int64_t *pl, int64_t *pr) {
    for (int i = 0; i < n; i++) {
        st[i] = w->s[i];
        dl[i] = w->d[i] - 1;
        pl[i] = w->pl[i];
        pr[i] = w->pr_dnnl[i];
    }
}

/* Builds a Conv or ConvTranspose primitive with optional post-ops (NULL: none), constant weights packed
 * once into the primitive's preferred layout, and activation reorders where the primitive wants a
 * blocked layout. */
static int conv_build(fg_kctx *c, nn_state *s, const conv_geom *g, bool transpose, nn_post *pp, bool bf16) {
    const fg_tensor *x = c->in[0], *wt = c->in[1], *b = fg_in(c, 2);
    const fg_tensor *y = c->out[0];
    const win *w = &g->w;
    int nd = x->rank, n = w->nsp;
    int64_t wdims[6], wstr[6];
    int wnd = conv_weight_layout(g, transpose, wdims, wstr);

    dnnl_memory_desc_t x_user, y_user, w_user, b_md, x_md, y_md, w_md;
    TRY(md_act(c, &x_user, nd, x->dims, dnnl_f32, fmt_in(c, 0)));
    TRY(md_act(c, &y_user, nd, y->dims, dnnl_f32, fmt_out(c, 0)));
    TRY(md_strided(c, &w_user, wnd, wdims, wstr));
    /* bf16: source and weights in bf16 (the source is reordered into the scratch below), bias and
     * destination stay f32 */
    dnnl_data_type_t cdt = bf16 ? dnnl_bf16 : dnnl_f32;
    TRY(md_tag_dt(c, &w_md, wnd, wdims, dnnl_format_tag_any, cdt));
    if (b)
        TRY(md_plain(c, &b_md, 1, &g->co, dnnl_f32));
    dnnl_dims_t st, dl, pl, pr;
    conv_window(w, n, st, dl, pl, pr);
    /* a fused residual is accumulated with the sum post-op: it is copied into the destination (in whatever
     * layout the primitive picks) just before the convolution runs */
    bool res_sum = pp && pp->res >= 0 && !pp->c_res;
    TRY(conv_attr(c, s, pp));
    if (s->n_pd + 6 > NN_MAX_PD)
        return FG_KERR(c, FG_EINTERNAL, "too many primitive descriptors");
    /* Candidates in order of preference: Winograd where it pays, the picked layout, then oneDNN's own
     * pick when the first choices are unimplemented or only the reference implementation has them. */
    /* between blocked neighbours the conv runs blocked too, so that no reorder is needed on either side */
    conv_layout picked = fmt_out(c, 0) == FG_FMT_NC16 || fmt_in(c, 0) == FG_FMT_NC16 ? LAYOUT_16C
                                                                                   : conv_pick_layout(g, transpose);
    conv_cand cand[3];
    int n_cand = 0;
    dnnl_alg_kind_t direct = transpose ? dnnl_deconvolution_direct : dnnl_convolution_direct;
    if (bf16) {
        /* the source is converted anyway, so its layout is free: oneDNN's own pick first (on AMX its bf16
         * kernels want NHWC, and on blocked data it would take the AVX512-BF16 kernels, slower than f32);
         * no Winograd in bf16 */
        cand[n_cand++] = (conv_cand){direct, LAYOUT_ANY};
        if (picked != LAYOUT_ANY)
            cand[n_cand++] = (conv_cand){direct, picked};
    } else {
        if (!transpose && conv_winograd(g))
            cand[n_cand++] = (conv_cand){dnnl_convolution_winograd, LAYOUT_ANY};
        cand[n_cand++] = (conv_cand){direct, picked};
        if (picked != LAYOUT_ANY)
            cand[n_cand++] = (conv_cand){direct, LAYOUT_ANY};
    }
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st_last = dnnl_unimplemented;
    for (int attempt = 0; attempt < 2 && !pd; attempt++)
    for (int k = 0; k < n_cand && !pd; k++) {
        if (cand[k].lay == LAYOUT_PLAIN) {
            x_md = x_user;
            y_md = y_user;
            if (bf16)
                TRY(md_act(c, &x_md, nd, x->dims, dnnl_bf16, fmt_in(c, 0)));
        } else {
            dnnl_format_tag_t tag = cand[k].lay == LAYOUT_ANY ? dnnl_format_tag_any
                                    : nd == 3                 ? dnnl_nCw16c
                                    : nd == 4                 ? dnnl_nChw16c
                                                              : dnnl_nCdhw16c;
            TRY(md_tag_dt(c, &x_md, nd, x->dims, tag, cdt));
            TRY(md_tag(c, &y_md, nd, y->dims, tag));
        }
        union {
            dnnl_convolution_desc_t conv;
            dnnl_deconvolution_desc_t deconv;
        } d;
        if (!transpose)
            st_last = dnnl_dilated_convolution_forward_desc_init(&d.conv, dnnl_forward_inference, cand[k].alg,
                                                                 &x_md, &w_md, b ? &b_md : NULL, &y_md, st, dl, pl, pr);
        else
            st_last = dnnl_dilated_deconvolution_forward_desc_init(&d.deconv, dnnl_forward_inference, cand[k].alg,
                                                                   &x_md, &w_md, b ? &b_md : NULL, &y_md, st, dl, pl,
                                                                   pr);
        if (st_last == dnnl_success)
            st_last = dnnl_primitive_desc_create(&s->pd[s->n_pd], &d, s->attr, c->dnnl->engine, NULL);
        if (st_last != dnnl_success)
            continue;
        pd = s->pd[s->n_pd++];
        const char *impl = "";
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        if (strncmp(impl, "ref", 3) == 0 && (k + 1 < n_cand || bf16)) {
            pd = NULL; /* kept in s->pd until release; try the next candidate */
            st_last = dnnl_unimplemented; /* bf16: the reference kernel is no option (f32 is faster) */
        }
        /* oneDNN's gemm-based convolution applies eltwise post-ops in a scalar loop (mobilenet_v2's 1x1
         * convs with Clip: 7.3 ms -> 26.6 ms): build it again without, and run the activation in C */
        if (pd && attempt == 0 && pp && pp->act != ACT_NONE && !pp->c_act && strstr(impl, "gemm:") != NULL) {
            pp->c_act = true;
            TRY(conv_attr(c, s, pp));
            pd = NULL;
            k = n_cand; /* restart the candidates with the new attributes */
        }
    }
    if (!pd)
        return dn_err(c, transpose ? "deconvolution" : "convolution", st_last);
    const dnnl_memory_desc_t *xp = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wp = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *yp = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);

    dnnl_memory_t mx, mw, mb = NULL, my, m_user;
    if (is_const(wt)) {
        void *buf = st_own(c, s, dnnl_memory_desc_get_size(wp));
        if (!buf)
            return FG_ENOMEM;
        TRY(reorder_now(c, &w_user, wt->data, wp, buf));
        TRY(st_mem(c, s, wp, MEM_FIXED, 0, 0, buf, &mw));
    } else if (same_bytes(wp, &w_user)) {
        TRY(st_mem(c, s, wp, MEM_IN, 1, 0, NULL, &mw));
    } else {
        TRY(st_mem(c, s, &w_user, MEM_IN, 1, 0, NULL, &m_user));
        TRY(st_mem(c, s, wp, MEM_SCRATCH, 0, st_take(s, dnnl_memory_desc_get_size(wp)), NULL, &mw));
        TRY(st_reorder(c, s, &w_user, m_user, wp, mw));
    }
    if (same_bytes(xp, &x_user)) {
        TRY(st_mem(c, s, xp, MEM_IN, 0, 0, NULL, &mx));
    } else {
        TRY(st_mem(c, s, &x_user, MEM_IN, 0, 0, NULL, &m_user));
        TRY(st_mem(c, s, xp, MEM_SCRATCH, 0, st_take(s, dnnl_memory_desc_get_size(xp)), NULL, &mx));
        TRY(st_reorder(c, s, &x_user, m_user, xp, mx));
    }
    if (b)
        TRY(st_mem(c, s, &b_md, is_const(b) ? MEM_FIXED : MEM_IN, 2, 0, b->data, &mb));
    bool y_direct = same_bytes(yp, &y_user);
    if (y_direct)
        TRY(st_mem(c, s, yp, MEM_OUT, 0, 0, NULL, &my));
    else
        TRY(st_mem(c, s, yp, MEM_SCRATCH, 0, st_take(s, dnnl_memory_desc_get_size(yp)), NULL, &my));
    if (res_sum) {
        dnnl_memory_t m_res;
        TRY(st_mem(c, s, &y_user, MEM_IN, pp->res, 0, NULL, &m_res));
        TRY(st_reorder(c, s, &y_user, m_res, yp, my));
    }
    nn_exec *e;
    TRY(st_prim(c, s, pd, &e));
    ex_arg(e, DNNL_ARG_SRC, mx);
    ex_arg(e, DNNL_ARG_WEIGHTS, mw);
    if (mb)
        ex_arg(e, DNNL_ARG_BIAS, mb);
    ex_arg(e, DNNL_ARG_DST, my);
    if (!y_direct) {
        TRY(st_mem(c, s, &y_user, MEM_OUT, 0, 0, NULL, &m_user));
        TRY(st_reorder(c, s, yp, my, &y_user, m_user));
    }
    return 0;
}

/* Depthwise convolution on NCHW in C (see dw_ok for when). Kernels wider than this take oneDNN. */
enum { DW_MAX_K = 16 };

/* Outputs ow0 .. ow0+NB-1 of output rows oh .. oh+3 of a depthwise conv over the prepared plane xp (row
 * stride ld, tap q of output column ow at xp[row * ld + toff[q] + ow]). Four rows give four independent
 * accumulator chains, so the FMAs pipeline instead of waiting on each other. */
#define DW_BLOCK4(VF, VFU)                                                                                    \
    do {                                                                                                      \
        VF a0 = (VF){0} + bias, a1 = a0, a2 = a0, a3 = a0;                                                    \
        for (int64_t r = 0; r < kh; r++) {                                                                    \
            const float *x0 = xp + (oh * sh + r) * ld + ow0;                                                  \
            const float *x1 = x0 + sh * ld, *x2 = x1 + sh * ld, *x3 = x2 + sh * ld;                           \
            for (int64_t q = 0; q < kw; q++) {                                                                \
                float wv = w[r * kw + q];                                                                     \
                int64_t o = toff[q];                                                                          \
                a0 += wv * *(const VFU *)(x0 + o);                                                            \
                a1 += wv * *(const VFU *)(x1 + o);                                                            \
                a2 += wv * *(const VFU *)(x2 + o);                                                            \
                a3 += wv * *(const VFU *)(x3 + o);                                                            \
            }                                                                                                 \
        }                                                                                                     \
        *(VFU *)(y + oh * OW + ow0) = a0;                                                                     \
        *(VFU *)(y + (oh + 1) * OW + ow0) = a1;                                                               \
        *(VFU *)(y + (oh + 2) * OW + ow0) = a2;                                                               \
        *(VFU *)(y + (oh + 3) * OW + ow0) = a3;                                                               \
    } while (0)

/* Whether dw_plane runs its vector blocks (else a scalar loop reading x with bounds checks). */
static bool dw_vector(const nn_cpath *p) {
    return p->OW >= 8 && p->OH >= 4 && p->sw <= 2 && p->kw <= DW_MAX_K;
}

/* Whether dw_plane reads a prepared copy of the plane: padding to add, or stride 2 to de-interleave. */
static bool dw_copies(const nn_cpath *p) {
    return dw_vector(p) && (p->pt || p->pl || p->Hp > p->H || p->Wp > p->W || p->sw == 2);
}

/* Copies plane x into pad, laid out so every tap is a contiguous load: rows of Wp with the zero border
 * (stride 1), or each padded row split into its even then its odd columns (stride 2: tap q of output ow
 * is padded column 2*ow + q). pad's border must be zero already: positions outside the input are never
 * written. */
NN_HOT static void dw_prepare_plane(const nn_cpath *p, const float *restrict x, float *restrict pad) {
    int64_t W = p->W, Wp = p->Wp, c0 = p->pl < Wp ? p->pl : Wp, n = W < Wp - c0 ? W : Wp - c0;
    int64_t we = (Wp + 1) / 2, wo = Wp / 2;
    if (n <= 0) /* the windows see only padding */
        return;
    for (int64_t r = 0; r < p->Hp; r++) {
        int64_t ih = r - p->pt;
        if (ih < 0 || ih >= p->H)
            continue;
        const float *restrict src = x + ih * W;
        float *restrict dst = pad + r * Wp;
        if (p->sw == 1) {
            memcpy(dst + c0, src, (size_t)n * sizeof(float));
            continue;
        }
        /* padded column i is src[i - c0]: even[j] = src[2j - c0], odd[j] = src[2j + 1 - c0] */
        int64_t j = (c0 + 1) / 2;
        for (; j + 16 <= wo && 2 * j - c0 + 32 <= n; j += 16) {
            v16f a = *(const v16f_u *)(src + 2 * j - c0), b = *(const v16f_u *)(src + 2 * j - c0 + 16);
            *(v16f_u *)(dst + j) =
                __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            *(v16f_u *)(dst + we + j) =
                __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        }
        for (; j < we; j++) {
            int64_t e = 2 * j - c0;
            if (e >= 0 && e < n)
                dst[j] = src[e];
            if (j < wo && e + 1 >= 0 && e + 1 < n)
                dst[we + j] = src[e + 1];
        }
        if (c0 & 1) /* odd[(c0-1)/2] = src[0] was skipped by starting at (c0+1)/2 */
            dst[we + (c0 - 1) / 2] = src[0];
    }
}

/* One output plane of a depthwise conv on NCHW: y = bias + sum over the kernel window of w * x, in
 * blocks of 4 rows x 16 (or 8) columns; the last row and column blocks overlap their neighbours rather
 * than running a scalar tail (recomputing an output is harmless). pad holds the prepared plane when
 * dw_copies (else x is read in place). */
NN_HOT static void dw_plane(const nn_cpath *p, const float *restrict x, const float *restrict w, float bias,
                            float *restrict y, const float *restrict pad) {
    int64_t H = p->H, W = p->W, OH = p->OH, OW = p->OW, kh = p->kh, kw = p->kw, sh = p->sh, sw = p->sw;
    if (!dw_vector(p)) {
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                float acc = bias;
                for (int64_t r = 0; r < kh; r++) {
                    int64_t ih = oh * sh - p->pt + r;
                    for (int64_t q = 0; q < kw && ih >= 0 && ih < H; q++) {
                        int64_t iw = ow * sw - p->pl + q;
                        if (iw >= 0 && iw < W)
                            acc += w[r * kw + q] * x[ih * W + iw];
                    }
                }
                y[oh * OW + ow] = acc;
            }
        return;
    }
    const float *xp = dw_copies(p) ? pad : x;
    int64_t ld = dw_copies(p) ? p->Wp : W, toff[DW_MAX_K];
    for (int64_t q = 0; q < kw; q++)
        toff[q] = sw == 1 ? q : (q & 1 ? (p->Wp + 1) / 2 : 0) + q / 2;
    int nb = OW >= 16 ? 16 : 8;
    for (int64_t oh = 0; oh < OH; oh += 4) {
        if (oh + 4 > OH)
            oh = OH - 4;
        for (int64_t ow0 = 0; ow0 < OW; ow0 += nb) {
            if (ow0 + nb > OW)
                ow0 = OW - nb;
            if (nb == 16)
                DW_BLOCK4(v16f, v16f_u);
            else
                DW_BLOCK4(v8f, v8f_u);
        }
    }
}

/* Bytes of scratch one thread uses: the prepared plane, 64-byte aligned. */
static size_t dw_thread_scratch(const nn_cpath *p) {
    return ((size_t)(p->Hp * p->Wp) * sizeof(float) + 63) & ~(size_t)63;
}

static void run_dw(fg_kctx *c, const nn_cpath *p) {
    const float *x = c->in[0]->data, *w = c->in[1]->data;
    const fg_tensor *bt = fg_in(c, 2);
    const float *b = bt ? bt->data : NULL;
    float *y = c->out[0]->data;
    int64_t ch_out = c->out[0]->dims[1], in_plane = p->H * p->W, out_plane = p->OH * p->OW, kvol = p->kh * p->kw;
    size_t per = dw_thread_scratch(p);
    bool copies = dw_copies(p);
#pragma omp parallel num_threads(nthreads(c)) if (p->n_planes * out_plane * kvol > NN_PAR_MIN)
    {
        float *pad = (float *)((char *)c->scratch + (size_t)omp_get_thread_num() * per);
        if (copies) /* the border stays zero across planes: only the input's positions are rewritten */
            memset(pad, 0, per);
#pragma omp for
        for (int64_t i = 0; i < p->n_planes; i++) {
            int64_t oc = i % ch_out, n = i / ch_out;
            const float *xp = x + (n * (ch_out / p->mult) + oc / p->mult) * in_plane;
            if (copies)
                dw_prepare_plane(p, xp, pad);
            dw_plane(p, xp, w + oc * kvol, b ? b[oc] : 0.f, y + i * out_plane, pad);
        }
    }
}

/* Depthwise 2-D convs (one input channel per group, no dilation, stride <= 2) with output rows of 16 or
 * more run as the C kernel above on NCHW. Timed per mobilenet_v2 layer (1 thread) against oneDNN's
 * blocked depthwise kernel plus the two reorders it needs: 2.2x faster on 112x112 planes, 1.5-2.3x on
 * 56x56, 1.4x on 28x28 stride 1; for 14-wide outputs and smaller oneDNN's channel-vectorised kernel wins
 * (up to 10x on 7x7, where rows are shorter than a vector). */
static bool dw_ok(const conv_geom *g) {
    return g->w.nsp == 2 && g->g > 1 && g->g == g->ci && g->w.d[0] == 1 && g->w.d[1] == 1 && g->w.out[1] >= 16 &&
           g->w.out[0] >= 4 && g->w.s[1] <= 2 && g->w.k[1] <= DW_MAX_K;
}

static int prepare_conv_common(fg_kctx *c, bool transpose) {
    conv_geom g;
    TRY(conv_geom_get(c, &g, transpose));
    nn_state *s = st_new(c);
    nn_post *pp = &s->post;
    TRY(post_get(c, pp));
    /* a broadcast residual cannot be a sum post-op: residual and activation then run in C, in order */
    if (pp->res >= 0 && !post_res_same(c, pp))
        pp->c_res = pp->c_act = true;
    if (fg_tensor_numel(c->out[0]) == 0 || fg_tensor_numel(c->in[0]) == 0 || fg_tensor_numel(c->in[1]) == 0) {
        s->empty = 1;
        pp->c_res = pp->res >= 0;
        pp->c_act = pp->act != ACT_NONE;
        return 0;
    }
    if (!transpose && dw_ok(&g) && fmt_in(c, 0) == FG_FMT_PLAIN && fmt_out(c, 0) == FG_FMT_PLAIN) {
        pp->c_res = pp->res >= 0;
        pp->c_act = pp->act != ACT_NONE;
        nn_cpath *p = &s->cp;
        p->n_planes = g.n * g.co;
        p->mult = g.co / g.ci;
        p->H = g.w.in[0];
        p->W = g.w.in[1];
        p->OH = g.w.out[0];
        p->OW = g.w.out[1];
        p->kh = g.w.k[0];
        p->kw = g.w.k[1];
        p->sh = g.w.s[0];
        p->sw = g.w.s[1];
        p->pt = g.w.pl[0];
        p->pl = g.w.pl[1];
        p->Hp = (p->OH - 1) * p->sh + p->kh;
        p->Wp = (p->OW - 1) * p->sw + p->kw;
        c->scratch_len = (size_t)nthreads(c) * dw_thread_scratch(p);
        s->use_c = 1;
        return 0;
    }
    int64_t macs = fg_tensor_numel(transpose ? c->in[0] : c->out[0]) * fg_tensor_numel(c->in[1]) /
                   (transpose ? g.ci : g.co);
    int prev = st_single_begin(c, s, macs);
    int rc = 1;
    if (!transpose && want_bf16(c, c->in[1])) {
        nn_post saved = *pp; /* the attempt may move the activation to the C pass */
        rc = bf16_settle(c, s, conv_build(c, s, &g, false, pp, true));
        if (rc == 1)
            *pp = saved;
    }
    if (rc == 1)
        rc = conv_build(c, s, &g, transpose, transpose ? NULL : pp, false);
    st_single_end(s, prev);
    TRY(rc);
    st_finish(c, s);
    return 0;
}

static int prepare_conv(fg_kctx *c) { return prepare_conv_common(c, false); }
static int prepare_convt(fg_kctx *c) { return prepare_conv_common(c, true); }

/* A convolution over zero input channels still has an output: the bias. */
static int fill_bias(fg_kctx *c) {
    fg_tensor *y = c->out[0];
    const fg_tensor *b = fg_in(c, 2);
    int64_t n = y->dims[0], ch = y->dims[1], inner = n * ch != 0 ? fg_tensor_numel(y) / (n * ch) : 0;
    float *p = y->data;
    for (int64_t i = 0; i < n * ch; i++)
        for (int64_t j = 0; j < inner; j++)
            p[i * inner + j] = b ? ((const float *)b->data)[i % ch] : 0.f;
    return 0;
}

static int run_conv(fg_kctx *c) {
    nn_state *s = c->state;
    if (s->empty) {
        if (!fg_tensor_numel(c->out[0]))
            return 0;
        TRY(fill_bias(c));
    } else if (s->use_c) {
        run_dw(c, &s->cp);
    } else {
        TRY(st_exec(c, s));
    }
    return post_run_c(c, &s->post);
}

static int run_convt(fg_kctx *c) {
    nn_state *s = c->state;
    if (s->empty)
        return fg_tensor_numel(c->out[0]) ? fill_bias(c) : 0;
    return st_exec(c, s);
}

/* ------------------------------------------------------------------------------------------------------
 * MatMul and Gemm
 * ------------------------------------------------------------------------------------------------------ */

/* Products with constant B of at most TINY_MNK multiply-adds, or of at most two rows and TINY_KN
 * weights (they stay in L2), run as the C loops below: there oneDNN's per-call cost (argument maps, the
 * thread team) is larger than the arithmetic. Timed on the 64-256-256-10 MLP's layers at batch 1, the C
 * loops take 0.53, 2.0 and 0.15 us against oneDNN's 1.0, 2.7 and 0.75 us (1 thread; 1.6 us and up with
 * 2 threads); the whole MLP runs in 3.0 us instead of 5.0 (6.4 with 2 threads). From about 4 rows on
 * oneDNN's packed kernel is faster (4x64x256: 1.6 vs 1.2 us with 1 thread). */
#define TINY_MNK (1 << 16)
#define TINY_KN (1 << 17)

/* Rows m .. m+R-1, columns n0 .. n0 + NV*LANES - 1 of y = bias + a * b, with R*NV accumulators in
 * registers across the whole k loop (independent FMA chains, each b vector loaded once for R rows). */
#define SG_BLOCK(R, NV, VF, VFU, LANES)                                                                       \
    do {                                                                                                      \
        VF acc[R][NV];                                                                                        \
        for (int j = 0; j < (NV); j++) {                                                                      \
            VF b0 = {0};                                                                                      \
            if (bias)                                                                                         \
                b0 = *(const VFU *)(bias + n0 + j * (LANES));                                                 \
            for (int r = 0; r < (R); r++)                                                                     \
                acc[r][j] = b0;                                                                               \
        }                                                                                                     \
        for (int64_t k = 0; k < K; k++) {                                                                     \
            const float *br = b + k * N + n0;                                                                 \
            float av[R];                                                                                      \
            for (int r = 0; r < (R); r++)                                                                     \
                av[r] = a[(m + r) * sm + k * sk];                                                             \
            for (int j = 0; j < (NV); j++) {                                                                  \
                VF bv = *(const VFU *)(br + j * (LANES));                                                     \
                for (int r = 0; r < (R); r++)                                                                 \
                    acc[r][j] += av[r] * bv;                                                                  \
            }                                                                                                 \
        }                                                                                                     \
        for (int r = 0; r < (R); r++)                                                                         \
            for (int j = 0; j < (NV); j++)                                                                    \
                *(VFU *)(y + (m + r) * N + n0 + j * (LANES)) = acc[r][j];                                     \
    } while (0)

/* Columns of rows m .. m+R-1: wide blocks, then single vectors, the last one overlapping its neighbour
 * (recomputing an output is harmless), and a scalar loop only for N < 8. */
#define SG_ROWS(R, NV)                                                                                        \
    do {                                                                                                      \
        int64_t n0 = 0;                                                                                       \
        for (; n0 + (NV)*16 <= N; n0 += (NV)*16)                                                              \
            SG_BLOCK(R, NV, v16f, v16f_u, 16);                                                                \
        if (N >= 16) {                                                                                        \
            for (; n0 < N; n0 += 16) {                                                                        \
                if (n0 + 16 > N)                                                                              \
                    n0 = N - 16;                                                                              \
                SG_BLOCK(R, 1, v16f, v16f_u, 16);                                                             \
            }                                                                                                 \
        } else if (N >= 8) {                                                                                  \
            SG_BLOCK(R, 1, v8f, v8f_u, 8);                                                                    \
            n0 = N - 8;                                                                                       \
            SG_BLOCK(R, 1, v8f, v8f_u, 8);                                                                    \
        } else {                                                                                              \
            for (int r = 0; r < (R); r++)                                                                     \
                for (int64_t n = 0; n < N; n++) {                                                             \
                    float acc = bias ? bias[n] : 0.f;                                                         \
                    for (int64_t k = 0; k < K; k++)                                                           \
                        acc += a[(m + r) * sm + k * sk] * b[k * N + n];                                       \
                    y[(m + r) * N + n] = acc;                                                                 \
                }                                                                                             \
        }                                                                                                     \
    } while (0)

/* y = bias_row + a * b for few rows: a is [M, K] with strides (sm, sk), b is [K, N] row-major, bias_row
 * [N] or NULL, y [M, N] dense. Pairs of rows share each b load; single rows use 8 accumulators. */
NN_HOT static void sgemm_small(int64_t M, int64_t K, int64_t N, const float *restrict a, int64_t sm, int64_t sk,
                               const float *restrict b, const float *restrict bias, float *restrict y) {
    int64_t m = 0;
    for (; m + 2 <= M; m += 2)
        SG_ROWS(2, 4);
    for (; m < M; m++)
        SG_ROWS(1, 8);
}

/* y[m,n] += beta * C[m or 0, n or 0] */
static void add_c(const nn_cpath *p, const float *cd, float *y) {
    for (int64_t m = 0; m < p->M; m++) {
        const float *cr = cd + (p->c_d0 == 1 ? 0 : m) * p->c_d1;
        float *yr = y + m * p->N;
        if (p->c_d1 == 1)
            for (int64_t n = 0; n < p->N; n++)
                yr[n] += p->beta * cr[0];
        else
            for (int64_t n = 0; n < p->N; n++)
                yr[n] += p->beta * cr[n];
    }
}

typedef struct mm_spec {
    int nd;
    int64_t ad[FG_MAX_RANK], as[FG_MAX_RANK]; /* A (src) dims and strides */
    int64_t bd[FG_MAX_RANK], bs[FG_MAX_RANK]; /* B (weights) */
    int64_t yd[FG_MAX_RANK], ys[FG_MAX_RANK]; /* Y (dst): dense unless y_strided */
    bool y_strided;
    int b_in;                                 /* input index of B */
    float alpha;                              /* folded into packed B when B is constant */
    const fg_tensor *bias;                    /* oneDNN bias, broadcast over rows: [1, N] */
    float bias_scale;
    const nn_post *post;                      /* fused post-ops; a residual here has Y's element count */
    bool bf16;                                /* bf16 A (converted into the scratch) and packed B; B constant */
} mm_spec;

/* oneDNN matmul for spec with optional post-ops (NULL: none); constant B is packed once (with alpha
 * folded in), else used in place with an output scale. Returns FG_EUNSUPPORTED (message set) when oneDNN
 * has no implementation. */
static int mm_build_mt(fg_kctx *c, nn_state *s, const mm_spec *sp, const_dnnl_post_ops_t po);

static int mm_build(fg_kctx *c, nn_state *s, const mm_spec *sp, const_dnnl_post_ops_t po) {
    int64_t macs = fg_tensor_numel(c->out[0]) * sp->ad[sp->nd - 1];
    int prev = st_single_begin(c, s, macs);
    int rc = 1;
    if (want_bf16(c, c->in[sp->b_in])) {
        mm_spec b = *sp;
        b.bf16 = true;
        rc = bf16_settle(c, s, mm_build_mt(c, s, &b, po));
    }
    if (rc == 1)
        rc = mm_build_mt(c, s, sp, po);
    st_single_end(s, prev);
    return rc;
}

static int mm_build_mt(fg_kctx *c, nn_state *s, const mm_spec *sp, const_dnnl_post_ops_t po) {
    const fg_tensor *bt = c->in[sp->b_in];
    bool bconst = is_const(bt);
    dnnl_memory_desc_t a_user, a_md, b_user, b_md, y_md, bias_md;
    int nd = sp->nd;
    TRY(md_strided(c, &a_user, nd, sp->ad, sp->as));
    TRY(md_strided(c, &b_user, nd, sp->bd, sp->bs));
    if (sp->y_strided)
        TRY(md_strided(c, &y_md, nd, sp->yd, sp->ys));
    else
        TRY(md_plain(c, &y_md, nd, sp->yd, dnnl_f32));
    if (sp->bf16 && !bconst)
        return FG_KERR(c, FG_EINTERNAL, "bf16 matmul needs constant weights");
    if (sp->bf16)
        TRY(md_plain(c, &a_md, nd, sp->ad, dnnl_bf16)); /* A's dense bf16 copy in the scratch */
    else
        a_md = a_user;
    if (bconst)
        TRY(md_tag_dt(c, &b_md, nd, sp->bd, dnnl_format_tag_any, sp->bf16 ? dnnl_bf16 : dnnl_f32));
    else
        b_md = b_user;
    if (sp->bias) {
        int64_t bd[FG_MAX_RANK];
        for (int i = 0; i < nd; i++)
            bd[i] = 1;
        bd[nd - 1] = sp->yd[nd - 1];
        TRY(md_plain(c, &bias_md, nd, bd, dnnl_f32));
    }
    dnnl_post_ops_t own_po = NULL;
    if (!po && sp->post) {
        TRY(post_dnnl(c, sp->post, false, &y_md, &own_po));
        po = own_po;
    }
    int arc = st_attr(c, s, bconst ? 1.0f : sp->alpha, po);
    if (own_po)
        dnnl_post_ops_destroy(own_po);
    TRY(arc);
    dnnl_matmul_desc_t d;
    DN(c, "matmul desc", dnnl_matmul_desc_init(&d, &a_md, &b_md, sp->bias ? &bias_md : NULL, &y_md));
    dnnl_primitive_desc_t pd;
    TRY(st_pd(c, s, &d, "matmul", &pd));
    if (sp->bf16 && pd_is_ref(pd))
        return FG_KERR(c, FG_EUNSUPPORTED, "oneDNN has only its reference bf16 matmul here");
    dnnl_memory_t ma, mb, my, mbias = NULL;
    if (sp->bf16) { /* converted right before the product, by a reorder that runs first */
        dnnl_memory_t m_user;
        TRY(st_mem(c, s, &a_user, MEM_IN, 0, 0, NULL, &m_user));
        TRY(st_mem(c, s, &a_md, MEM_SCRATCH, 0, st_take(s, dnnl_memory_desc_get_size(&a_md)), NULL, &ma));
        TRY(st_reorder(c, s, &a_user, m_user, &a_md, ma));
    } else {
        TRY(st_mem(c, s, &a_md, MEM_IN, 0, 0, NULL, &ma));
    }
    if (bconst) {
        const dnnl_memory_desc_t *bp = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        void *buf = st_own(c, s, dnnl_memory_desc_get_size(bp));
        if (!buf)
            return FG_ENOMEM;
        const float *src = bt->data;
        float *scaled = NULL;
        if (sp->alpha != 1.0f) {
            int64_t n = fg_tensor_numel(bt);
            scaled = fg_aligned_alloc((size_t)n * sizeof(float) + 64);
            if (!scaled)
                return FG_KERR(c, FG_ENOMEM, "cannot allocate weights");
            for (int64_t i = 0; i < n; i++)
                scaled[i] = sp->alpha * src[i];
            src = scaled;
        }
        int rc = reorder_now(c, &b_user, src, bp, buf);
        free(scaled);
        TRY(rc);
        TRY(st_mem(c, s, bp, MEM_FIXED, 0, 0, buf, &mb));
    } else {
        TRY(st_mem(c, s, &b_md, MEM_IN, sp->b_in, 0, NULL, &mb));
    }
    if (sp->bias) {
        const float *bsrc = sp->bias->data;
        if (sp->bias_scale != 1.0f) {
            int64_t n = fg_tensor_numel(sp->bias);
            float *sc = st_own(c, s, (size_t)n * sizeof(float));
            if (!sc)
                return FG_ENOMEM;
            for (int64_t i = 0; i < n; i++)
                sc[i] = sp->bias_scale * bsrc[i];
            bsrc = sc;
        }
        TRY(st_mem(c, s, &bias_md, MEM_FIXED, 0, 0, bsrc, &mbias));
    }
    TRY(st_mem(c, s, &y_md, MEM_OUT, 0, 0, NULL, &my));
    nn_exec *e;
    TRY(st_prim(c, s, pd, &e));
    ex_product_args(e, ma, mb, mbias, my);
    if (sp->post && sp->post->res >= 0 && !sp->post->c_res) {
        dnnl_memory_t m_res; /* the residual, read with Y's (dense) descriptor */
        TRY(st_mem(c, s, &y_md, MEM_IN, sp->post->res, 0, NULL, &m_res));
        ex_arg(e, DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, m_res);
    }
    st_finish(c, s);
    return 0;
}

/* y[m, n] = bias[n] + dot(a[m, :], bt[n, :]) for narrow outputs (N < 16), where the column-blocked loop
 * would run one long dependent chain per vector: four accumulators along K instead. a's rows are dense. */
NN_HOT static void sgemm_small_nt(int64_t M, int64_t K, int64_t N, const float *restrict a, int64_t sm,
                                  const float *restrict bt, const float *restrict bias, float *restrict y) {
    for (int64_t m = 0; m < M; m++) {
        const float *restrict ar = a + m * sm;
        for (int64_t n = 0; n < N; n++) {
            const float *restrict br = bt + n * K;
            v16f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
            int64_t k = 0;
            for (; k + 64 <= K; k += 64) {
                s0 += *(const v16f_u *)(ar + k) * *(const v16f_u *)(br + k);
                s1 += *(const v16f_u *)(ar + k + 16) * *(const v16f_u *)(br + k + 16);
                s2 += *(const v16f_u *)(ar + k + 32) * *(const v16f_u *)(br + k + 32);
                s3 += *(const v16f_u *)(ar + k + 48) * *(const v16f_u *)(br + k + 48);
            }
            for (; k + 16 <= K; k += 16)
                s0 += *(const v16f_u *)(ar + k) * *(const v16f_u *)(br + k);
            s0 += s1 + s2 + s3;
            float acc = bias ? bias[n] : 0.f;
            for (int j = 0; j < 16; j++)
                acc += s0[j];
            for (; k < K; k++)
                acc += ar[k] * br[k];
            y[m * N + n] = acc;
        }
    }
}

static void tiny_gemm(const nn_cpath *p, const float *a, float *y) {
    if (p->b_nt)
        sgemm_small_nt(p->M, p->K, p->N, a, p->a_sm, p->bp, p->bias_row, y);
    else
        sgemm_small(p->M, p->K, p->N, a, p->a_sm, p->a_sk, p->bp, p->bias_row, y);
}

/* Sets up the C path for a 2-D product with constant B: packs alpha * B once, as [K, N] row-major, or
 * transposed to [N, K] for narrow outputs. */
static int tiny_build(fg_kctx *c, nn_state *s, int64_t M, int64_t K, int64_t N, int64_t a_sm, int64_t a_sk,
                      const float *b, int64_t b_sk, int64_t b_sn, float alpha) {
    nn_cpath *p = &s->cp;
    p->M = M;
    p->K = K;
    p->N = N;
    p->a_sm = a_sm;
    p->a_sk = a_sk;
    p->b_nt = N < 16 && a_sk == 1;
    p->bp = fg_aligned_alloc((size_t)(K * N) * sizeof(float) + 64);
    if (!p->bp)
        return FG_KERR(c, FG_ENOMEM, "cannot allocate packed weights");
    for (int64_t k = 0; k < K; k++)
        for (int64_t n = 0; n < N; n++)
            p->bp[p->b_nt ? n * K + k : k * N + n] = alpha * b[k * b_sk + n * b_sn];
    s->use_c = 1;
    return 0;
}

static bool tiny_ok(int64_t M, int64_t K, int64_t N) {
    return M * K * N <= TINY_MNK || (M <= 2 && K * N <= TINY_KN);
}

typedef struct mm_shape {
    int nd; /* >= 2: batch dims + M, N */
    int64_t a[FG_MAX_RANK], b[FG_MAX_RANK], y[FG_MAX_RANK];
    int64_t M, K, N;
    int y_rank;
    int64_t y_dims[FG_MAX_RANK];
} mm_shape;

/* Shape of the product of inputs ai and bi (numpy matmul broadcasting); same_dt: they must share a dtype
 * (the int8 products mix uint8 and int8). */
static int mm_shape_of(fg_kctx *c, mm_shape *sh, const fg_tensor *A, const fg_tensor *B, bool same_dt) {
    if (!A || !B)
        return FG_KERR(c, FG_EINVAL, "A and B are required");
    if (same_dt && A->dtype != B->dtype)
        return FG_KERR(c, FG_EDTYPE, "A is %s, B is %s", fg_dtype_name(A->dtype), fg_dtype_name(B->dtype));
    if (A->rank < 1 || B->rank < 1)
        return FG_KERR(c, FG_ESHAPE, "MatMul needs operands of rank >= 1");
    int64_t a[FG_MAX_RANK + 1], b[FG_MAX_RANK + 1];
    int ra = A->rank, rb = B->rank;
    if (ra == 1) {
        a[0] = 1;
        a[1] = A->dims[0];
        ra = 2;
    } else {
        memcpy(a, A->dims, sizeof(int64_t) * (size_t)ra);
    }
    if (rb == 1) {
        b[0] = B->dims[0];
        b[1] = 1;
        rb = 2;
    } else {
        memcpy(b, B->dims, sizeof(int64_t) * (size_t)rb);
    }
    sh->M = a[ra - 2];
    sh->K = a[ra - 1];
    sh->N = b[rb - 1];
    if (b[rb - 2] != sh->K)
        return FG_KERR(c, FG_ESHAPE, "inner dimensions differ: %lld and %lld", (long long)sh->K, (long long)b[rb - 2]);
    int nb = (ra > rb ? ra : rb) - 2;
    sh->nd = nb + 2;
    for (int i = 0; i < nb; i++) {
        int ia = i - (nb - (ra - 2)), ib = i - (nb - (rb - 2));
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return FG_KERR(c, FG_ESHAPE, "batch dimensions %lld and %lld cannot be broadcast", (long long)da,
                           (long long)db);
        sh->a[i] = da;
        sh->b[i] = db;
        sh->y[i] = da == 1 ? db : da;
    }
    sh->a[nb] = sh->M;
    sh->a[nb + 1] = sh->K;
    sh->b[nb] = sh->K;
    sh->b[nb + 1] = sh->N;
    sh->y[nb] = sh->M;
    sh->y[nb + 1] = sh->N;
    sh->y_rank = 0;
    for (int i = 0; i < nb; i++)
        sh->y_dims[sh->y_rank++] = sh->y[i];
    if (A->rank > 1)
        sh->y_dims[sh->y_rank++] = sh->M;
    if (B->rank > 1)
        sh->y_dims[sh->y_rank++] = sh->N;
    return 0;
}

static int mm_shape_at(fg_kctx *c, mm_shape *sh, int ai, int bi, bool same_dt) {
    return mm_shape_of(c, sh, fg_in(c, ai), fg_in(c, bi), same_dt);
}

/* A float MatMul's operands as the product sees them: inputs 0 and 1 through FG_ATTR_PERM_A/B (fuse.c
 * folds Transposes into these), the output permutation and the scale. */
typedef struct mm_views {
    fg_tensor a, b;                                     /* headers only, dims permuted; data shared */
    int64_t as[FG_MAX_RANK], bs[FG_MAX_RANK];           /* their element strides, in view order */
    const int64_t *py;                                  /* FG_ATTR_PERM_Y, or NULL */
    int ry;
    float scale;                                        /* FG_ATTR_SCALE, else 1 */
    bool pa, pb;                                        /* A, B are permuted views */
} mm_views;

/* Fills the view of input k under perm attribute attr; *permuted says whether one was given. */
static int mm_view(fg_kctx *c, int k, const char *attr, fg_tensor *v, int64_t *st, bool *permuted) {
    const fg_tensor *t = fg_in(c, k);
    *permuted = false;
    if (!t)
        return FG_KERR(c, FG_EINVAL, "A and B are required");
    *v = *t;
    int64_t dense[FG_MAX_RANK], x = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        dense[i] = x;
        x *= t->dims[i];
    }
    const int64_t *p;
    int r = fg_attr_ints(c->node, attr, &p);
    if (r < 0) {
        memcpy(st, dense, sizeof(int64_t) * (size_t)t->rank);
        return 0;
    }
    if (r != t->rank)
        return FG_KERR(c, FG_ESHAPE, "%s has %d entries for an operand of rank %d", attr, r, t->rank);
    for (int i = 0; i < r; i++) {
        if (p[i] < 0 || p[i] >= r)
            return FG_KERR(c, FG_EINVAL, "%s is not a permutation", attr);
        for (int j = 0; j < i; j++)
            if (p[j] == p[i])
                return FG_KERR(c, FG_EINVAL, "%s is not a permutation", attr);
        v->dims[i] = t->dims[p[i]];
        st[i] = dense[p[i]];
    }
    *permuted = true;
    return 0;
}

static int mm_shape_get(fg_kctx *c, mm_shape *sh, mm_views *v) {
    TRY(mm_view(c, 0, FG_ATTR_PERM_A, &v->a, v->as, &v->pa));
    TRY(mm_view(c, 1, FG_ATTR_PERM_B, &v->b, v->bs, &v->pb));
    v->scale = fg_attr_f(c->node, FG_ATTR_SCALE, 1.0f);
    TRY(mm_shape_of(c, sh, &v->a, &v->b, true));
    v->ry = fg_attr_ints(c->node, FG_ATTR_PERM_Y, &v->py);
    if (v->ry < 0) {
        v->py = NULL;
        return 0;
    }
    if (v->ry != sh->y_rank || v->ry != sh->nd)
        return FG_KERR(c, FG_ESHAPE, "%s has %d entries for a result of rank %d", FG_ATTR_PERM_Y, v->ry, sh->y_rank);
    int64_t d[FG_MAX_RANK];
    for (int i = 0; i < v->ry; i++) {
        if (v->py[i] < 0 || v->py[i] >= v->ry)
            return FG_KERR(c, FG_EINVAL, "%s is not a permutation", FG_ATTR_PERM_Y);
        for (int j = 0; j < i; j++)
            if (v->py[j] == v->py[i])
                return FG_KERR(c, FG_EINVAL, "%s is not a permutation", FG_ATTR_PERM_Y);
        d[i] = sh->y_dims[v->py[i]];
    }
    memcpy(sh->y_dims, d, sizeof(int64_t) * (size_t)v->ry); /* the output's shape; sh->y stays the product's */
    return 0;
}

/* Element strides of the product's result [batch..., M, N] (sh->y) in the output tensor: dense, or
 * through FG_ATTR_PERM_Y when the output is the product transposed. */
static void mm_y_strides(const mm_shape *sh, const mm_views *v, int64_t *ys) {
    int64_t dense[FG_MAX_RANK], x = 1;
    for (int i = sh->nd - 1; i >= 0; i--) {
        dense[i] = x;
        x *= v->py ? sh->y_dims[i] : sh->y[i];
    }
    for (int i = 0; i < sh->nd; i++)
        if (v->py)
            ys[v->py[i]] = dense[i];
        else
            ys[i] = dense[i];
}

/* Element strides of operand view t (strides ts) over the product's nd dims: leading broadcast dims
 * added, and a 1-D operand read as [1, K] (A) or [K, 1] (B). */
static void mm_op_strides(int nd, const fg_tensor *t, const int64_t *ts, bool is_b, int64_t *out) {
    for (int i = 0; i < nd; i++)
        out[i] = fg_tensor_numel(t);
    if (t->rank == 1) {
        out[nd - (is_b ? 2 : 1)] = ts[0];
        return;
    }
    for (int i = 0; i < t->rank; i++)
        out[nd - t->rank + i] = ts[i];
}

static int infer_matmul(fg_kctx *c) {
    mm_shape sh;
    mm_views v;
    TRY(mm_shape_get(c, &sh, &v));
    fg_dtype dt = c->in[0]->dtype;
    if (dt != FG_F32 && dt != FG_F64 && dt != FG_I32 && dt != FG_I64)
        return FG_KERR(c, FG_EUNSUPPORTED, "MatMul on %s", fg_dtype_name(dt));
    fg_set_shape(c->out[0], dt, sh.y_rank, sh.y_dims);
    return 0;
}

static void dense_strides(int nd, const int64_t *d, int64_t *s) {
    int64_t x = 1;
    for (int i = nd - 1; i >= 0; i--) {
        s[i] = d[i] == 1 ? 0 : x;
        x *= d[i];
    }
}

static int prepare_matmul(fg_kctx *c) {
    mm_shape sh;
    mm_views v;
    TRY(mm_shape_get(c, &sh, &v));
    nn_state *s = st_new(c);
    nn_post *pp = &s->post;
    TRY(post_get(c, pp));
    /* the bias goes into the product when it is a constant row; residual and activation into the
     * primitive when the residual has Y's element count; everything else runs in C afterwards */
    const fg_tensor *bias = pp->bias >= 0 ? c->in[pp->bias] : NULL;
    if (bias && (!is_const(bias) || fg_tensor_numel(bias) != sh.N || bias->dtype != FG_F32))
        pp->c_bias = true;
    if (pp->res >= 0 && fg_tensor_numel(c->in[pp->res]) != fg_tensor_numel(c->out[0]))
        pp->c_res = pp->c_act = true;
    if (fg_tensor_numel(c->out[0]) == 0) {
        s->empty = 1;
        return 0;
    }
    if (sh.K == 0 || c->in[0]->dtype != FG_F32) {
        s->use_c = 1; /* integer dtypes and K == 0 (zeros) take the generic C loop */
        pp->c_bias = bias != NULL;
        pp->c_res = pp->res >= 0;
        pp->c_act = pp->act != ACT_NONE;
        return 0;
    }
    int nb = sh.nd - 2;
    int64_t bbatch = 1;
    for (int i = 0; i < nb; i++)
        bbatch *= sh.b[i];
    const fg_tensor *B = c->in[1];
    mm_spec sp = {.alpha = v.scale, .b_in = 1};
    bool views = v.pa || v.pb || v.py;
    if (bbatch == 1 && !views) {
        /* B is one matrix: fold A's batch dims into M (A is dense) for one big 2-D product */
        int64_t Mf = fg_tensor_numel(c->in[0]) / sh.K;
        if (is_const(B) && tiny_ok(Mf, sh.K, sh.N)) {
            TRY(tiny_build(c, s, Mf, sh.K, sh.N, sh.K, 1, B->data, sh.N, 1, v.scale));
            if (bias && !pp->c_bias) {
                s->cp.bias_row = fg_aligned_alloc((size_t)sh.N * sizeof(float) + 64);
                if (!s->cp.bias_row)
                    return FG_KERR(c, FG_ENOMEM, "cannot allocate bias");
                memcpy(s->cp.bias_row, bias->data, (size_t)sh.N * sizeof(float));
            }
            pp->c_res = pp->res >= 0;
            pp->c_act = pp->act != ACT_NONE;
            return 0;
        }
        sp.nd = 2;
        sp.ad[0] = Mf;
        sp.ad[1] = sh.K;
        sp.as[0] = sh.K;
        sp.as[1] = 1;
        sp.bd[0] = sh.K;
        sp.bd[1] = sh.N;
        sp.bs[0] = sh.N;
        sp.bs[1] = 1;
        sp.yd[0] = Mf;
        sp.yd[1] = sh.N;
    } else {
        sp.nd = sh.nd;
        memcpy(sp.ad, sh.a, sizeof sh.a);
        memcpy(sp.bd, sh.b, sizeof sh.b);
        memcpy(sp.yd, sh.y, sizeof sh.y);
        mm_op_strides(sh.nd, &v.a, v.as, false, sp.as);
        mm_op_strides(sh.nd, &v.b, v.bs, true, sp.bs);
        if (v.py) {
            mm_y_strides(&sh, &v, sp.ys);
            sp.y_strided = true;
        }
    }
    if (bias && !pp->c_bias) {
        sp.bias = bias;
        sp.bias_scale = 1.0f;
    }
    sp.post = pp;
    return mm_build(c, s, &sp, NULL);
}

/* Generic batched product for integer and double tensors (shape arithmetic, not hot), through the
 * operands' and the result's strides. */
#define MM_NAIVE(T)                                                                                           \
    do {                                                                                                      \
        const T *A = c->in[0]->data, *B = c->in[1]->data;                                                     \
        T *Y = c->out[0]->data;                                                                               \
        for (int64_t bi = 0; bi < nbatch; bi++) {                                                             \
            int64_t oa = 0, ob = 0, oy = 0, r = bi;                                                           \
            for (int i = nb - 1; i >= 0; i--) {                                                               \
                int64_t ix = r % sh.y[i];                                                                     \
                r /= sh.y[i];                                                                                 \
                oa += (sh.a[i] == 1 ? 0 : ix) * sa[i];                                                        \
                ob += (sh.b[i] == 1 ? 0 : ix) * sb[i];                                                        \
                oy += ix * sy[i];                                                                             \
            }                                                                                                 \
            for (int64_t m = 0; m < sh.M; m++)                                                                \
                for (int64_t n = 0; n < sh.N; n++) {                                                          \
                    T acc = 0;                                                                                \
                    for (int64_t k = 0; k < sh.K; k++)                                                        \
                        acc += A[oa + m * sa[nb] + k * sa[nb + 1]] * B[ob + k * sb[nb] + n * sb[nb + 1]];     \
                    Y[oy + m * sy[nb] + n * sy[nb + 1]] = acc;                                                \
                }                                                                                             \
        }                                                                                                     \
    } while (0)

static int matmul_naive(fg_kctx *c) {
    mm_shape sh;
    mm_views v;
    TRY(mm_shape_get(c, &sh, &v));
    int nb = sh.nd - 2;
    int64_t sa[FG_MAX_RANK], sb[FG_MAX_RANK], sy[FG_MAX_RANK], nbatch = 1;
    mm_op_strides(sh.nd, &v.a, v.as, false, sa);
    mm_op_strides(sh.nd, &v.b, v.bs, true, sb);
    mm_y_strides(&sh, &v, sy);
    for (int i = 0; i < nb; i++)
        nbatch *= sh.y[i];
    if (v.scale != 1.0f && c->out[0]->dtype != FG_F32 && c->out[0]->dtype != FG_F64)
        return FG_KERR(c, FG_EUNSUPPORTED, "%s on a %s MatMul", FG_ATTR_SCALE, fg_dtype_name(c->out[0]->dtype));
    switch (c->out[0]->dtype) {
    case FG_F32: MM_NAIVE(float); break;
    case FG_F64: MM_NAIVE(double); break;
    case FG_I32: MM_NAIVE(int32_t); break;
    case FG_I64: MM_NAIVE(int64_t); break;
    default: return FG_KERR(c, FG_EUNSUPPORTED, "MatMul on %s", fg_dtype_name(c->out[0]->dtype));
    }
    if (v.scale != 1.0f) {
        int64_t n = fg_tensor_numel(c->out[0]);
        if (c->out[0]->dtype == FG_F32)
            for (int64_t i = 0; i < n; i++)
                ((float *)c->out[0]->data)[i] *= v.scale;
        else
            for (int64_t i = 0; i < n; i++)
                ((double *)c->out[0]->data)[i] *= v.scale;
    }
    return 0;
}

static int run_matmul(fg_kctx *c) {
    nn_state *s = c->state;
    if (s->empty)
        return 0;
    if (s->use_c && !s->cp.bp)
        TRY(matmul_naive(c));
    else if (s->use_c)
        tiny_gemm(&s->cp, c->in[0]->data, c->out[0]->data);
    else
        TRY(st_exec(c, s));
    return post_run_c(c, &s->post);
}

typedef struct gemm_geom {
    int64_t M, K, N;
    int ta, tb;
    float alpha, beta;
    int64_t c_d0, c_d1; /* C broadcast as [rows, cols]; 0 when absent */
} gemm_geom;

static int gemm_geom_get(fg_kctx *c, gemm_geom *g) {
    const fg_tensor *A = fg_in(c, 0), *B = fg_in(c, 1), *C = fg_in(c, 2);
    if (!A || !B)
        return FG_KERR(c, FG_EINVAL, "A and B are required");
    TRY(check_f32(c, 0));
    TRY(check_f32(c, 1));
    if (A->rank != 2 || B->rank != 2)
        return FG_KERR(c, FG_ESHAPE, "Gemm needs 2-D A and B (got ranks %d and %d)", A->rank, B->rank);
    g->ta = fg_attr_i(c->node, "transA", 0) != 0;
    g->tb = fg_attr_i(c->node, "transB", 0) != 0;
    g->alpha = fg_attr_f(c->node, "alpha", 1.0f);
    g->beta = fg_attr_f(c->node, "beta", 1.0f);
    g->M = A->dims[g->ta ? 1 : 0];
    g->K = A->dims[g->ta ? 0 : 1];
    int64_t kb = B->dims[g->tb ? 1 : 0];
    g->N = B->dims[g->tb ? 0 : 1];
    if (kb != g->K)
        return FG_KERR(c, FG_ESHAPE, "inner dimensions differ: %lld and %lld", (long long)g->K, (long long)kb);
    g->c_d0 = g->c_d1 = 0;
    if (C) {
        TRY(check_f32(c, 2));
        if (C->rank > 2)
            return FG_KERR(c, FG_ESHAPE, "C has rank %d", C->rank);
        g->c_d0 = C->rank == 2 ? C->dims[0] : 1;
        g->c_d1 = C->rank >= 1 ? C->dims[C->rank - 1] : 1;
        if ((g->c_d0 != 1 && g->c_d0 != g->M) || (g->c_d1 != 1 && g->c_d1 != g->N))
            return FG_KERR(c, FG_ESHAPE, "C [%lld,%lld] does not broadcast to [%lld,%lld]", (long long)g->c_d0,
                           (long long)g->c_d1, (long long)g->M, (long long)g->N);
    }
    return 0;
}

static int infer_gemm(fg_kctx *c) {
    gemm_geom g;
    TRY(gemm_geom_get(c, &g));
    int64_t d[2] = {g.M, g.N};
    fg_set_shape(c->out[0], FG_F32, 2, d);
    return 0;
}

static int prepare_gemm(fg_kctx *c) {
    gemm_geom g;
    TRY(gemm_geom_get(c, &g));
    nn_state *s = st_new(c);
    nn_post *pp = &s->post;
    TRY(post_get(c, pp));
    const fg_tensor *A = c->in[0], *B = c->in[1], *C = fg_in(c, 2);
    if (g.M * g.N == 0) {
        s->empty = 1;
        return 0;
    }
    nn_cpath *p = &s->cp;
    p->M = g.M;
    p->N = g.N;
    p->beta = g.beta;
    p->c_d0 = g.c_d0;
    p->c_d1 = g.c_d1;
    bool has_c = C && g.beta != 0.0f;
    bool bconst = is_const(B);
    /* a row-vector C that is a plan constant becomes the product's bias; anything else is added after */
    bool c_bias = has_c && is_const(C) && g.c_d0 == 1 && (bconst || g.alpha == 1.0f);
    int64_t a_sm = g.ta ? 1 : g.K, a_sk = g.ta ? g.M : 1;
    int64_t b_sk = g.tb ? 1 : g.N, b_sn = g.tb ? g.K : 1;
    if (g.K == 0 || (bconst && tiny_ok(g.M, g.K, g.N))) { /* C paths: post-ops after, in C */
        pp->c_res = pp->res >= 0;
        pp->c_act = pp->act != ACT_NONE;
    }
    if (g.K == 0) {
        s->use_c = 1;
        p->post_c = has_c;
        return 0;
    }
    if (bconst && tiny_ok(g.M, g.K, g.N)) {
        TRY(tiny_build(c, s, g.M, g.K, g.N, a_sm, a_sk, B->data, b_sk, b_sn, g.alpha));
        if (c_bias) {
            p->bias_row = fg_aligned_alloc((size_t)g.N * sizeof(float) + 64);
            if (!p->bias_row)
                return FG_KERR(c, FG_ENOMEM, "cannot allocate bias");
            for (int64_t n = 0; n < g.N; n++)
                p->bias_row[n] = g.beta * ((const float *)C->data)[g.c_d1 == 1 ? 0 : n];
        } else {
            p->post_c = has_c;
        }
        return 0;
    }
    mm_spec sp = {.nd = 2, .b_in = 1, .alpha = g.alpha, .bias_scale = g.beta};
    sp.ad[0] = g.M;
    sp.ad[1] = g.K;
    sp.as[0] = a_sm;
    sp.as[1] = a_sk;
    sp.bd[0] = g.K;
    sp.bd[1] = g.N;
    sp.bs[0] = b_sk;
    sp.bs[1] = b_sn;
    sp.yd[0] = g.M;
    sp.yd[1] = g.N;
    (void)A;
    if (c_bias && g.c_d1 == g.N) {
        sp.bias = C;
    } else {
        p->post_c = has_c;
    }
    /* C added after the product, or a broadcast residual: the post-ops follow in C, in order */
    if (p->post_c || (pp->res >= 0 && !post_res_same(c, pp)))
        pp->c_res = pp->c_act = true;
    sp.post = pp;
    return mm_build(c, s, &sp, NULL);
}

static int run_gemm(fg_kctx *c) {
    nn_state *s = c->state;
    if (s->empty)
        return 0;
    nn_cpath *p = &s->cp;
    if (s->use_c && p->bp)
        tiny_gemm(p, c->in[0]->data, c->out[0]->data);
    else if (s->use_c)
        memset(c->out[0]->data, 0, (size_t)(p->M * p->N) * sizeof(float));
    else
        TRY(st_exec(c, s));
    if (p->post_c)
        add_c(p, c->in[2]->data, c->out[0]->data);
    return post_run_c(c, &s->post);
}

/* ------------------------------------------------------------------------------------------------------
 * int8 products: MatMulInteger and ConvInteger (int32 results), QLinearMatMul and QLinearConv (results
 * requantized to uint8/int8: y = saturate(round(acc * x_scale * w_scale / y_scale) + y_zero_point), acc
 * the int32 product of the zero-point-shifted operands plus QLinearConv's int32 bias).
 * oneDNN's int8 primitives (u8/s8 activations, s8 weights; VNNI/AMX) run the case exported quantized
 * models have: constant weights (uint8 ones shifted into int8), constant scales and zero points, one
 * zero point per tensor, and for convolutions no weight zero point after the shift (oneDNN convolutions
 * take none). Everything else (run-time weights, per-row or per-column zero points that differ, what
 * oneDNN refuses or only has a reference implementation for) runs the C loops below, which also serve as
 * the reference the tests compare with.
 * ------------------------------------------------------------------------------------------------------ */

/* Where each operand of an int8 product is among the node's inputs (-1: the op has none), and the
 * range the requantized output is clamped to (the type's, or narrower where the QDQ fusion in fuse.c
 * folded a Relu or Clip into the node: Q(relu(y)) = max(Q(y), Q(0)) because Q is monotonic). */
typedef struct q_io {
    int x, xs, xz, w, ws, wz, ys, yz, b;
    bool qlinear, conv;
    bool act;        /* lo/hi narrower than the output type, from a fused activation */
    int32_t lo, hi;
} q_io;

static const q_io q_io_mmi = {0, -1, 2, 1, -1, 3, -1, -1, -1, false, false, false, 0, 0};
static const q_io q_io_convi = {0, -1, 2, 1, -1, 3, -1, -1, -1, false, true, false, 0, 0};
static const q_io q_io_qmm = {0, 1, 2, 3, 4, 5, 6, 7, -1, true, false, false, 0, 0};
static const q_io q_io_qconv = {0, 1, 2, 3, 4, 5, 6, 7, 8, true, true, false, 0, 0};

/* The state of an int8 product: the oneDNN state first (st_free releases the whole block). */
typedef struct q_state {
    nn_state nn;
    q_io io;
    mm_shape sh;
    conv_geom g;
    int32_t zp[3]; /* src, weights, dst zero points handed to oneDNN as run-time values */
    bool xz_run;   /* x's zero point is a one-value input known only at run time (DynamicQuantizeLinear's) */
    size_t xz_off; /* then: its int32 copy in the scratch, bound as oneDNN's run-time src zero point */
} q_state;

static bool q_is8(fg_dtype t) { return t == FG_U8 || t == FG_I8; }

static const fg_tensor *q_opt(fg_kctx *c, int i) { return i >= 0 ? fg_in(c, i) : NULL; }

/* Checks a scale or zero point: n values (n == 1 per tensor, else one per row/column/channel) of dtype dt
 * (0: float32 scale). Absent optional ones pass. */
static int q_check_param(fg_kctx *c, int i, const char *what, fg_dtype dt, int64_t n) {
    const fg_tensor *t = q_opt(c, i);
    if (!t)
        return 0;
    fg_dtype want = dt ? dt : FG_F32;
    if (t->dtype != want)
        return FG_KERR(c, FG_EDTYPE, "%s is %s, expected %s", what, fg_dtype_name(t->dtype), fg_dtype_name(want));
    int64_t m = fg_tensor_numel(t);
    if (t->rank > 1 || (m != 1 && m != n))
        return FG_KERR(c, FG_ESHAPE, "%s has %lld values (1%s%lld expected)", what, (long long)m,
                       n != 1 ? " or " : "", n != 1 ? (long long)n : 0LL);
    return 0;
}

/* Validates the operands of an int8 product and gets its geometry; sets the output's dtype and shape. */
static int q_geom(fg_kctx *c, const q_io *io, mm_shape *sh, conv_geom *g) {
    const fg_tensor *x = fg_in(c, io->x), *w = fg_in(c, io->w);
    if (!x || !w)
        return FG_KERR(c, FG_EINVAL, "both operands are required");
    if (!q_is8(x->dtype) || !q_is8(w->dtype))
        return FG_KERR(c, FG_EUNSUPPORTED, "int8 product of %s and %s (uint8 and int8 are supported)",
                       fg_dtype_name(x->dtype), fg_dtype_name(w->dtype));
    int64_t x_n, w_n; /* values a per-row / per-column (per-channel) parameter has */
    if (io->conv) {
        TRY(conv_geom_at(c, g, false, io->x, io->w, io->b, true));
        x_n = 1;
        w_n = g->co;
    } else {
        TRY(mm_shape_at(c, sh, io->x, io->w, false));
        x_n = sh->M;
        w_n = sh->N;
    }
    TRY(q_check_param(c, io->xz, "the first operand's zero point", x->dtype, x_n));
    TRY(q_check_param(c, io->wz, "the second operand's zero point", w->dtype, w_n));
    fg_dtype ydt = FG_I32;
    if (io->qlinear) {
        const fg_tensor *yz = fg_in(c, io->yz);
        if (!q_is8(yz->dtype))
            return FG_KERR(c, FG_EUNSUPPORTED, "output zero point of %s", fg_dtype_name(yz->dtype));
        ydt = yz->dtype;
        TRY(q_check_param(c, io->xs, "the first operand's scale", 0, x_n));
        TRY(q_check_param(c, io->ws, "the second operand's scale", 0, w_n));
        TRY(q_check_param(c, io->ys, "the output scale", 0, 1));
        TRY(q_check_param(c, io->yz, "the output zero point", ydt, 1));
    }
    const fg_tensor *b = q_opt(c, io->b);
    int64_t nb = io->conv ? g->co : sh->N;
    if (b && (b->dtype != FG_I32 || b->rank != 1 || b->dims[0] != nb))
        return FG_KERR(c, FG_ESHAPE, "bias must be int32 [%lld]", (long long)nb);
    if (io->conv) {
        int64_t d[5] = {g->n, g->co};
        for (int i = 0; i < g->w.nsp; i++)
            d[2 + i] = g->w.out[i];
        fg_set_shape(c->out[0], ydt, g->w.nsp + 2, d);
    } else {
        fg_set_shape(c->out[0], ydt, sh->y_rank, sh->y_dims);
    }
    return 0;
}

/* Value i of a parameter that has one value or one per index (absent: 0 for zero points). */
static inline int32_t q_zp(const fg_tensor *t, int64_t i) {
    return t ? (int32_t)fg_tensor_get_i64(t, fg_tensor_numel(t) == 1 ? 0 : i) : 0;
}
static inline float q_scale(const fg_tensor *t, int64_t i) {
    return ((const float *)t->data)[fg_tensor_numel(t) == 1 ? 0 : i];
}

static inline int32_t q_ld(const void *p, bool u8, int64_t i) {
    return u8 ? ((const uint8_t *)p)[i] : ((const int8_t *)p)[i];
}

/* Writes output element i from its accumulator: int32 as is, or requantized. The multiplier is formed in
 * float and applied in double, as ONNX's reference does (float32 scales, an int32 array times a float32
 * scalar is float64 in numpy). */
static inline void q_store(void *y, fg_dtype ydt, int64_t i, int32_t acc, float mult, const q_io *io,
                           int32_t yz) {
    if (ydt == FG_I32) {
        ((int32_t *)y)[i] = acc;
        return;
    }
    double v = nearbyint((double)acc * mult) + yz;
    v = v < io->lo ? io->lo : v > io->hi ? io->hi : v;
    if (ydt == FG_U8)
        ((uint8_t *)y)[i] = (uint8_t)v;
    else
        ((int8_t *)y)[i] = (int8_t)v;
}

/* Requantization multiplier for row/column/channel i (1 for the int32 ops). */
static inline float q_mult(fg_kctx *c, const q_io *io, int64_t xi, int64_t wi) {
    if (!io->qlinear)
        return 1.f;
    return q_scale(c->in[io->xs], xi) * q_scale(c->in[io->ws], wi) / q_scale(c->in[io->ys], 0);
}

/* acc[0..n) += av * (b[j] - zb[j]), b of type T: the inner loop of the C matmul, vectorised. Sums wrap
 * (unsigned arithmetic) instead of overflowing: ONNX leaves overflow to the implementation, C would make
 * it undefined (it takes K above ~33000 at the extremes of uint8). */
#define Q_AXPY(T)                                                                                             \
    NN_HOT static void q_axpy_##T(int32_t *restrict acc, int32_t av, const T *restrict b,                      \
                                  const int32_t *restrict zb, int64_t n) {                                    \
        for (int64_t j = 0; j < n; j++)                                                                       \
            acc[j] = (int32_t)((uint32_t)acc[j] + (uint32_t)(av * ((int32_t)b[j] - zb[j])));                  \
    }
Q_AXPY(uint8_t)
Q_AXPY(int8_t)

/* Scratch the C loops need: the matmul's B zero points and one accumulator row; the convolution's
 * accumulator plane. */
static size_t q_c_scratch(const q_io *io, const mm_shape *sh, const conv_geom *g) {
    if (!io->conv)
        return (size_t)sh->N * 2 * sizeof(int32_t);
    int64_t o = 1;
    for (int i = 0; i < g->w.nsp; i++)
        o *= g->w.out[i];
    return (size_t)o * sizeof(int32_t);
}

/* The C reference of the int8 matmuls: numpy batch broadcasting, per-tensor or per-row zero point and
 * scale for A, per-tensor or per-column for B. Row by row: each A value scales a shifted row of B into
 * an int32 accumulator row (scratch), so the inner loop is contiguous. */
static void q_matmul_c(fg_kctx *c, const q_io *io, const mm_shape *sh) {
    const fg_tensor *A = c->in[io->x], *B = c->in[io->w], *az = q_opt(c, io->xz), *bz = q_opt(c, io->wz);
    const fg_tensor *bias = q_opt(c, io->b);
    fg_tensor *Y = c->out[0];
    bool au = A->dtype == FG_U8, bu = B->dtype == FG_U8;
    int32_t yz = io->qlinear ? q_zp(c->in[io->yz], 0) : 0;
    int nb = sh->nd - 2;
    int64_t sa[FG_MAX_RANK], sb[FG_MAX_RANK], nbatch = 1, M = sh->M, K = sh->K, N = sh->N;
    int32_t *zb = c->scratch, *acc = zb + N;
    for (int64_t n = 0; n < N; n++)
        zb[n] = q_zp(bz, n);
    dense_strides(nb, sh->a, sa);
    dense_strides(nb, sh->b, sb);
    for (int i = 0; i < nb; i++)
        nbatch *= sh->y[i];
    for (int64_t bi = 0; bi < nbatch; bi++) {
        int64_t oa = 0, ob = 0, r = bi;
        for (int i = nb - 1; i >= 0; i--) {
            int64_t ix = r % sh->y[i];
            r /= sh->y[i];
            oa += ix * sa[i];
            ob += ix * sb[i];
        }
        oa *= M * K;
        ob *= K * N;
        for (int64_t m = 0; m < M; m++) {
            int32_t za = q_zp(az, m);
            if (bias)
                memcpy(acc, bias->data, (size_t)N * sizeof(int32_t));
            else
                memset(acc, 0, (size_t)N * sizeof(int32_t));
            for (int64_t k = 0; k < K; k++) {
                int32_t av = q_ld(A->data, au, oa + m * K + k) - za;
                if (!av)
                    continue;
                if (bu)
                    q_axpy_uint8_t(acc, av, (const uint8_t *)B->data + ob + k * N, zb, N);
                else
                    q_axpy_int8_t(acc, av, (const int8_t *)B->data + ob + k * N, zb, N);
            }
            int64_t y0 = (bi * M + m) * N;
            for (int64_t n = 0; n < N; n++)
                q_store(Y->data, Y->dtype, y0 + n, acc[n], q_mult(c, io, m, n), io, yz);
        }
    }
}

/* acc[o] += wv * (x[o * s] - zx) for o < n: one kernel tap over part of an output row (wrapping, as
 * q_axpy). */
#define Q_TAP(T)                                                                                              \
    NN_HOT static void q_tap_##T(int32_t *restrict acc, int32_t wv, const T *restrict x, int64_t s,            \
                                 int32_t zx, int64_t n) {                                                     \
        if (s == 1)                                                                                           \
            for (int64_t o = 0; o < n; o++)                                                                   \
                acc[o] = (int32_t)((uint32_t)acc[o] + (uint32_t)(wv * ((int32_t)x[o] - zx)));                 \
        else                                                                                                  \
            for (int64_t o = 0; o < n; o++)                                                                   \
                acc[o] = (int32_t)((uint32_t)acc[o] + (uint32_t)(wv * ((int32_t)x[o * s] - zx)));             \
    }
Q_TAP(uint8_t)
Q_TAP(int8_t)

/* The C reference of the int8 convolutions (1 to 3 spatial dims, groups, dilations, pads; padding is zero
 * after the zero point is subtracted, i.e. X is padded with its zero point). Per output channel, each
 * kernel tap adds its weight times the shifted input rows into an int32 plane (scratch). */
static void q_conv_c(fg_kctx *c, const q_io *io, const conv_geom *g) {
    const fg_tensor *X = c->in[io->x], *W = c->in[io->w], *xz = q_opt(c, io->xz), *wz = q_opt(c, io->wz);
    const fg_tensor *B = q_opt(c, io->b);
    fg_tensor *Y = c->out[0];
    bool xu = X->dtype == FG_U8, wu = W->dtype == FG_U8;
    int32_t zx = q_zp(xz, 0), yz = io->qlinear ? q_zp(c->in[io->yz], 0) : 0;
    /* spatial dims right-aligned into 3, the missing ones of size 1 */
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, out[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
    int64_t p[3] = {0, 0, 0};
    int o = 3 - g->w.nsp;
    for (int i = 0; i < g->w.nsp; i++) {
        in[o + i] = g->w.in[i];
        k[o + i] = g->w.k[i];
        out[o + i] = g->w.out[i];
        s[o + i] = g->w.s[i];
        d[o + i] = g->w.d[i];
        p[o + i] = g->w.pl[i];
    }
    int64_t og = g->co / g->g, ig = g->ci / g->g, isz = in[0] * in[1] * in[2], ksz = k[0] * k[1] * k[2];
    int64_t osz = out[0] * out[1] * out[2];
    int32_t *acc = c->scratch;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t oc = 0; oc < g->co; oc++) {
            int32_t zw = q_zp(wz, oc), bias = B ? ((const int32_t *)B->data)[oc] : 0;
            int64_t ic0 = oc / og * ig;
            for (int64_t i = 0; i < osz; i++)
                acc[i] = bias;
            for (int64_t icg = 0; icg < ig; icg++) {
                int64_t xb = (n * g->ci + ic0 + icg) * isz, wb = (oc * ig + icg) * ksz;
                for (int64_t k0 = 0; k0 < k[0]; k0++)
                    for (int64_t k1 = 0; k1 < k[1]; k1++)
                        for (int64_t k2 = 0; k2 < k[2]; k2++) {
                            int32_t wv = q_ld(W->data, wu, wb + (k0 * k[1] + k1) * k[2] + k2) - zw;
                            if (!wv)
                                continue;
                            /* the output columns whose input column is inside X */
                            int64_t t = p[2] - k2 * d[2], u = in[2] - 1 + p[2] - k2 * d[2];
                            int64_t lo = t <= 0 ? 0 : (t + s[2] - 1) / s[2], hi = u < 0 ? 0 : u / s[2] + 1;
                            if (hi > out[2])
                                hi = out[2];
                            if (lo >= hi)
                                continue;
                            for (int64_t o0 = 0; o0 < out[0]; o0++) {
                                int64_t i0 = o0 * s[0] - p[0] + k0 * d[0];
                                if (i0 < 0 || i0 >= in[0])
                                    continue;
                                for (int64_t o1 = 0; o1 < out[1]; o1++) {
                                    int64_t i1 = o1 * s[1] - p[1] + k1 * d[1];
                                    if (i1 < 0 || i1 >= in[1])
                                        continue;
                                    /* output column o reads input column o * s - t */
                                    int64_t xo = xb + (i0 * in[1] + i1) * in[2] + lo * s[2] - t;
                                    int32_t *ar = acc + (o0 * out[1] + o1) * out[2] + lo;
                                    if (xu)
                                        q_tap_uint8_t(ar, wv, (const uint8_t *)X->data + xo, s[2], zx, hi - lo);
                                    else
                                        q_tap_int8_t(ar, wv, (const int8_t *)X->data + xo, s[2], zx, hi - lo);
                                }
                            }
                        }
            }
            float mult = q_mult(c, io, 0, oc);
            int64_t y0 = (n * g->co + oc) * osz;
            for (int64_t i = 0; i < osz; i++)
                q_store(Y->data, Y->dtype, y0 + i, acc[i], mult, io, yz);
        }
}

static dnnl_data_type_t q_dt(fg_dtype t) { return t == FG_U8 ? dnnl_u8 : t == FG_I8 ? dnnl_s8 : dnnl_s32; }

/* Plain row-major descriptor of dtype dt with the given strides. */
static int md_strided_dt(fg_kctx *c, dnnl_memory_desc_t *md, int nd, const int64_t *dims, const int64_t *strides,
                         dnnl_data_type_t dt) {
    dnnl_dims_t d, st;
    for (int i = 0; i < nd; i++) {
        d[i] = dims[i];
        st[i] = strides[i];
    }
    DN(c, "memory desc", dnnl_memory_desc_init_by_strides(md, nd, d, dt, st));
    return 0;
}

static int md_any_dt(fg_kctx *c, dnnl_memory_desc_t *md, int nd, const int64_t *dims, dnnl_data_type_t dt) {
    dnnl_dims_t d;
    for (int i = 0; i < nd; i++)
        d[i] = dims[i];
    DN(c, "memory desc", dnnl_memory_desc_init_by_tag(md, nd, d, dt, dnnl_format_tag_any));
    return 0;
}

/* Whether parameter i is a plan constant (or absent), and, for zero points, one value for the whole
 * tensor (*common receives it). */
static bool q_const(fg_kctx *c, int i) {
    const fg_tensor *t = q_opt(c, i);
    return !t || is_const(t);
}
static bool q_common_zp(fg_kctx *c, int i, int32_t *common) {
    const fg_tensor *t = q_opt(c, i);
    *common = 0;
    if (!t)
        return true;
    if (!is_const(t))
        return false;
    int64_t n = fg_tensor_numel(t);
    *common = q_zp(t, 0);
    for (int64_t j = 1; j < n; j++)
        if (q_zp(t, j) != *common)
            return false;
    return true;
}

/* Attributes of an int8 primitive: user scratchpad, output scales (one, or one per output channel along
 * mask_dim) and zero points; runtime_zp: zero points are passed at execution (some implementations only
 * take them so) instead of baked in. */
static int q_attr(fg_kctx *c, q_state *q, int mask_dim, int64_t n_ch, const float *scales, bool runtime_zp) {
    nn_state *s = &q->nn;
    if (s->attr) {
        dnnl_primitive_attr_destroy(s->attr);
        s->attr = NULL;
    }
    DN(c, "attr", dnnl_primitive_attr_create(&s->attr));
    DN(c, "attr", dnnl_primitive_attr_set_scratchpad_mode(s->attr, dnnl_scratchpad_mode_user));
    if (scales)
        DN(c, "attr", dnnl_primitive_attr_set_output_scales(s->attr, n_ch, n_ch > 1 ? 1 << mask_dim : 0, scales));
    static const int args[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    for (int i = 0; i < 3; i++)
        if (q->zp[i]) {
            int32_t v = runtime_zp ? DNNL_RUNTIME_S32_VAL : q->zp[i];
            DN(c, "attr", dnnl_primitive_attr_set_zero_points(s->attr, args[i], 1, 0, &v));
        }
    if (q->io.act) {
        /* post-ops see the scaled result before the output zero point is added: clamp to the fused range
         * shifted by it (integers, so clamping before or after rounding is the same) */
        dnnl_post_ops_t po;
        DN(c, "post-ops", dnnl_post_ops_create(&po));
        dnnl_status_t st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, (float)(q->io.lo - q->zp[2]),
                                                        (float)(q->io.hi - q->zp[2]));
        if (st == dnnl_success)
            st = dnnl_primitive_attr_set_post_ops(s->attr, po);
        dnnl_post_ops_destroy(po);
        if (st != dnnl_success)
            return dn_err(c, "post-ops", st);
    }
    return 0;
}

/* Creates the primitive descriptor of desc with q's attributes, first with the zero points baked in, then
 * as run-time values; *pd NULL (and *runtime_zp unspecified) when oneDNN has no implementation that is not
 * the reference one (the C loops are as good there). */
static int q_pd(fg_kctx *c, q_state *q, const void *desc, int mask_dim, int64_t n_ch, const float *scales,
                dnnl_primitive_desc_t *pd, bool *runtime_zp) {
    nn_state *s = &q->nn;
    *pd = NULL;
    for (int attempt = q->xz_run ? 1 : 0; attempt < 2 && !*pd; attempt++) {
        if (attempt == 1 && !q->zp[0] && !q->zp[1] && !q->zp[2])
            break;
        *runtime_zp = attempt == 1;
        TRY(q_attr(c, q, mask_dim, n_ch, scales, *runtime_zp));
        if (s->n_pd >= NN_MAX_PD)
            return FG_KERR(c, FG_EINTERNAL, "too many primitive descriptors");
        if (dnnl_primitive_desc_create(&s->pd[s->n_pd], desc, s->attr, c->dnnl->engine, NULL) != dnnl_success)
            continue;
        const char *impl = "";
        dnnl_primitive_desc_query(s->pd[s->n_pd], dnnl_query_impl_info_str, 0, &impl);
        if (strncmp(impl, "ref", 3) != 0)
            *pd = s->pd[s->n_pd];
        s->n_pd++; /* kept until release either way */
    }
    return 0;
}

/* Binds the run-time zero points (if any) of e as fixed one-value memories. */
static int q_zp_args(fg_kctx *c, q_state *q, nn_exec *e, bool runtime_zp) {
    if (!runtime_zp)
        return 0;
    static const int args[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    int64_t one = 1;
    dnnl_memory_desc_t md;
    TRY(md_plain(c, &md, 1, &one, dnnl_s32));
    for (int i = 0; i < 3; i++)
        if (q->zp[i]) {
            dnnl_memory_t m;
            if (i == 0 && q->xz_run) /* filled by q_run from the input */
                TRY(st_mem(c, &q->nn, &md, MEM_SCRATCH, 0, q->xz_off, NULL, &m));
            else
                TRY(st_mem(c, &q->nn, &md, MEM_FIXED, 0, 0, &q->zp[i], &m));
            if (e->n_args >= NN_MAX_ARGS)
                return FG_KERR(c, FG_EINTERNAL, "too many primitive arguments");
            ex_arg(e, DNNL_ARG_ATTR_ZERO_POINTS | args[i], m);
        }
    return 0;
}

/* Output scales x_scale * w_scale[i] / y_scale for i < n, in an owned buffer (NULL for the int32 ops, or
 * on failure with the error set: check c->err). */
static float *q_scales(fg_kctx *c, q_state *q, int64_t n) {
    const q_io *io = &q->io;
    if (!io->qlinear)
        return NULL;
    float *sc = st_own(c, &q->nn, (size_t)n * sizeof(float));
    if (sc)
        for (int64_t i = 0; i < n; i++)
            sc[i] = q_mult(c, io, 0, i);
    return sc;
}

/* Whether the oneDNN path applies to c (see the section comment); fills q->zp. */
static bool q_dnnl_ok(fg_kctx *c, q_state *q) {
    const q_io *io = &q->io;
    const fg_tensor *w = c->in[io->w];
    if (fg_attr_i(c->node, FG_ATTR_QREF, 0) || !c->dnnl || !is_const(w))
        return false;
    const fg_tensor *xz = q_opt(c, io->xz);
    q->xz_run = !io->qlinear && xz && !is_const(xz) && fg_tensor_numel(xz) == 1;
    if (q->xz_run)
        q->zp[0] = 1; /* any non-zero value: the primitive takes a run-time src zero point */
    else if (!q_common_zp(c, io->xz, &q->zp[0]))
        return false;
    if (!q_common_zp(c, io->wz, &q->zp[1]))
        return false;
    /* oneDNN weights are int8: uint8 ones are packed as w - 128, with the zero point moved along (128,
     * the symmetric choice, becomes none) */
    if (w->dtype == FG_U8)
        q->zp[1] -= 128;
    if (io->conv && q->zp[1] != 0) /* oneDNN convolutions take no weight zero points */
        return false;
    if (io->qlinear) {
        if (!q_const(c, io->xs) || !q_const(c, io->ws) || !q_const(c, io->ys) || !q_common_zp(c, io->yz, &q->zp[2]))
            return false;
        if (fg_tensor_numel(c->in[io->xs]) != 1)
            return false;
    }
    return q_const(c, io->b);
}

/* Packs constant weights w (int8, or uint8 shifted by -128 into int8 as q_dnnl_ok assumed) from the
 * user layout into the layout the primitive wants. */
static int q_pack_weights(fg_kctx *c, const fg_tensor *w, const dnnl_memory_desc_t *user,
                          const dnnl_memory_desc_t *want, void *dst) {
    if (w->dtype == FG_I8)
        return reorder_now(c, user, w->data, want, dst);
    int64_t n = fg_tensor_numel(w);
    int8_t *tmp = malloc((size_t)n + 1);
    if (!tmp)
        return FG_KERR(c, FG_ENOMEM, "cannot allocate %lld bytes of weights", (long long)n);
    const uint8_t *src = w->data;
    for (int64_t i = 0; i < n; i++)
        tmp[i] = (int8_t)(src[i] - 128);
    int rc = reorder_now(c, user, tmp, want, dst);
    free(tmp);
    return rc;
}

/* oneDNN int8 matmul of A (batch dims folded into rows) and one constant B. 1: not applicable. */
static int q_mm_build(fg_kctx *c, q_state *q) {
    const q_io *io = &q->io;
    const mm_shape *sh = &q->sh;
    const fg_tensor *A = c->in[io->x], *B = c->in[io->w];
    fg_tensor *Y = c->out[0];
    for (int i = 0; i < sh->nd - 2; i++)
        if (sh->b[i] != 1)
            return 1;
    int64_t M = fg_tensor_numel(A) / sh->K;
    int64_t ad[2] = {M, sh->K}, as[2] = {sh->K, 1}, bd[2] = {sh->K, sh->N}, bs[2] = {sh->N, 1};
    int64_t yd[2] = {M, sh->N}, ys[2] = {sh->N, 1}, bsd[2] = {1, sh->N};
    const fg_tensor *bias = q_opt(c, io->b);
    dnnl_memory_desc_t a_md, b_user, b_md, y_md, bias_md;
    if (bias)
        TRY(md_plain(c, &bias_md, 2, bsd, dnnl_s32));
    TRY(md_strided_dt(c, &a_md, 2, ad, as, q_dt(A->dtype)));
    TRY(md_strided_dt(c, &b_user, 2, bd, bs, dnnl_s8));
    TRY(md_any_dt(c, &b_md, 2, bd, dnnl_s8));
    TRY(md_strided_dt(c, &y_md, 2, yd, ys, q_dt(Y->dtype)));
    int64_t n_ch = io->qlinear && fg_tensor_numel(c->in[io->ws]) > 1 ? sh->N : 1;
    float *scales = q_scales(c, q, n_ch);
    if (io->qlinear && !scales)
        return FG_ENOMEM;
    dnnl_matmul_desc_t d;
    DN(c, "matmul desc", dnnl_matmul_desc_init(&d, &a_md, &b_md, bias ? &bias_md : NULL, &y_md));
    dnnl_primitive_desc_t pd;
    bool rt;
    TRY(q_pd(c, q, &d, 1, n_ch, scales, &pd, &rt));
    if (!pd)
        return 1;
    nn_state *s = &q->nn;
    const dnnl_memory_desc_t *bp = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    void *buf = st_own(c, s, dnnl_memory_desc_get_size(bp));
    if (!buf)
        return FG_ENOMEM;
    TRY(q_pack_weights(c, B, &b_user, bp, buf));
    dnnl_memory_t ma, mb, my, mbias = NULL;
    TRY(st_mem(c, s, &a_md, MEM_IN, io->x, 0, NULL, &ma));
    TRY(st_mem(c, s, bp, MEM_FIXED, 0, 0, buf, &mb));
    if (bias)
        TRY(st_mem(c, s, &bias_md, MEM_FIXED, 0, 0, bias->data, &mbias));
    TRY(st_mem(c, s, &y_md, MEM_OUT, 0, 0, NULL, &my));
    nn_exec *e;
    TRY(st_prim(c, s, pd, &e));
    ex_product_args(e, ma, mb, mbias, my);
    TRY(q_zp_args(c, q, e, rt));
    st_finish(c, s);
    return 0;
}

/* oneDNN int8 convolution with constant weights packed once, activations in the plan's format
 * (channels-last from formats_qconv, which is what the primitive picks for int8, or plain) reordered into
 * the primitive's layout and back only where they differ. 1: not applicable. */
static int q_conv_build(fg_kctx *c, q_state *q, bool probe) {
    const q_io *io = &q->io;
    const conv_geom *g = &q->g;
    const fg_tensor *x = c->in[io->x], *wt = c->in[io->w], *b = q_opt(c, io->b);
    const fg_tensor *y = c->out[0];
    const win *w = &g->w;
    int nd = x->rank, n = w->nsp;
    int64_t wdims[6], wstr[6];
    int wnd = conv_weight_layout(g, false, wdims, wstr);
    dnnl_data_type_t xdt = q_dt(x->dtype), ydt = q_dt(y->dtype);
    dnnl_memory_desc_t x_user, y_user, w_user, b_md, x_md, y_md, w_md;
    TRY(md_act(c, &x_user, nd, x->dims, xdt, fmt_in(c, io->x)));
    TRY(md_act(c, &y_user, nd, y->dims, ydt, fmt_out(c, 0)));
    TRY(md_strided_dt(c, &w_user, wnd, wdims, wstr, dnnl_s8));
    TRY(md_any_dt(c, &w_md, wnd, wdims, dnnl_s8));
    TRY(md_any_dt(c, &x_md, nd, x->dims, xdt));
    TRY(md_any_dt(c, &y_md, nd, y->dims, ydt));
    if (b)
        TRY(md_plain(c, &b_md, 1, &g->co, dnnl_s32));
    dnnl_dims_t st, dl, pl, pr;
    conv_window(w, n, st, dl, pl, pr);
    int64_t n_ch = io->qlinear && fg_tensor_numel(c->in[io->ws]) > 1 ? g->co : 1;
    float *scales = q_scales(c, q, n_ch);
    if (io->qlinear && !scales)
        return FG_ENOMEM;
    dnnl_convolution_desc_t d;
    DN(c, "convolution desc", dnnl_dilated_convolution_forward_desc_init(&d, dnnl_forward_inference,
                                                                          dnnl_convolution_direct, &x_md, &w_md,
                                                                          b ? &b_md : NULL, &y_md, st, dl, pl, pr));
    dnnl_primitive_desc_t pd;
    bool rt;
    TRY(q_pd(c, q, &d, 1, n_ch, scales, &pd, &rt));
    if (!pd)
        return 1;
    if (probe) /* formats_qconv only asks whether oneDNN takes it */
        return 0;
    nn_state *s = &q->nn;
    const dnnl_memory_desc_t *xp = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *wp = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *yp = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_memory_t mx, mw, mb = NULL, my, m_user;
    void *buf = st_own(c, s, dnnl_memory_desc_get_size(wp));
    if (!buf)
        return FG_ENOMEM;
    TRY(q_pack_weights(c, wt, &w_user, wp, buf));
    TRY(st_mem(c, s, wp, MEM_FIXED, 0, 0, buf, &mw));
    if (same_bytes(xp, &x_user)) {
        TRY(st_mem(c, s, xp, MEM_IN, io->x, 0, NULL, &mx));
    } else {
        TRY(st_mem(c, s, &x_user, MEM_IN, io->x, 0, NULL, &m_user));
        TRY(st_mem(c, s, xp, MEM_SCRATCH, 0, st_take(s, dnnl_memory_desc_get_size(xp)), NULL, &mx));
        TRY(st_reorder(c, s, &x_user, m_user, xp, mx));
    }
    if (b)
        TRY(st_mem(c, s, &b_md, MEM_FIXED, 0, 0, b->data, &mb));
    bool y_direct = same_bytes(yp, &y_user);
    if (y_direct)
        TRY(st_mem(c, s, yp, MEM_OUT, 0, 0, NULL, &my));
    else
        TRY(st_mem(c, s, yp, MEM_SCRATCH, 0, st_take(s, dnnl_memory_desc_get_size(yp)), NULL, &my));
    nn_exec *e;
    TRY(st_prim(c, s, pd, &e));
    ex_arg(e, DNNL_ARG_SRC, mx);
    ex_arg(e, DNNL_ARG_WEIGHTS, mw);
    if (mb)
        ex_arg(e, DNNL_ARG_BIAS, mb);
    ex_arg(e, DNNL_ARG_DST, my);
    TRY(q_zp_args(c, q, e, rt));
    if (!y_direct) {
        TRY(st_mem(c, s, &y_user, MEM_OUT, 0, 0, NULL, &m_user));
        TRY(st_reorder(c, s, yp, my, &y_user, m_user));
    }
    st_finish(c, s);
    return 0;
}

/* The operands of node c from the op's layout base: QLinearMatMul takes a fused int32 bias as input 8
 * (FG_ATTR_BIAS), and a fused activation (FG_ATTR_ACT relu or clip) narrows the output range to the
 * quantized bounds, which needs a constant output scale and zero point. */
static int q_node_io(fg_kctx *c, const q_io *base, q_io *io) {
    *io = *base;
    if (io->qlinear && !io->conv && fg_attr_i(c->node, FG_ATTR_BIAS, 0))
        io->b = 8;
    fg_dtype ydt = io->qlinear ? c->in[io->yz]->dtype : FG_I32;
    io->lo = ydt == FG_U8 ? 0 : -128;
    io->hi = ydt == FG_U8 ? 255 : 127;
    const char *act = fg_attr_s(c->node, FG_ATTR_ACT, NULL);
    if (!act)
        return 0;
    bool relu = strcmp(act, "relu") == 0, clip = strcmp(act, "clip") == 0;
    if (!io->qlinear || (!relu && !clip))
        return FG_KERR(c, FG_EUNSUPPORTED, "fused activation '%s'", act);
    const fg_tensor *ys = c->in[io->ys], *yz = c->in[io->yz];
    if (!is_const(ys) || !is_const(yz) || fg_tensor_numel(ys) != 1 || fg_tensor_numel(yz) != 1 || !q_is8(ydt))
        return FG_KERR(c, FG_EUNSUPPORTED, "a fused activation needs constant per-tensor output parameters");
    /* the activation's bounds quantized like the output: Q is monotonic, so clamping Q(y) to Q(lo), Q(hi)
     * is Q(clamp(y, lo, hi)) */
    float s = q_scale(ys, 0), z = (float)q_zp(yz, 0);
    float lo = relu ? 0.f : fg_attr_f(c->node, FG_ATTR_ALPHA, -INFINITY);
    float hi = relu ? INFINITY : fg_attr_f(c->node, FG_ATTR_BETA, INFINITY);
    int32_t qlo = fg_quant_sat(rintf(lo / s) + z, io->lo, io->hi);
    int32_t qhi = fg_quant_sat(rintf(hi / s) + z, io->lo, io->hi);
    io->lo = qlo;
    io->hi = qhi > qlo ? qhi : qlo;
    io->act = true;
    return 0;
}

static int q_infer(fg_kctx *c, const q_io *base) {
    mm_shape sh;
    conv_geom g;
    q_io io;
    TRY(q_node_io(c, base, &io));
    return q_geom(c, &io, &sh, &g);
}

static int q_prepare(fg_kctx *c, const q_io *base) {
    q_state *q = fg_xcalloc(1, sizeof *q);
    c->state = q; /* attached at once: the planner releases it on any error */
    TRY(q_node_io(c, base, &q->io));
    const q_io *io = &q->io;
    TRY(q_geom(c, io, &q->sh, &q->g));
    nn_state *s = &q->nn;
    if (fg_tensor_numel(c->out[0]) == 0) {
        s->empty = 1;
        return 0;
    }
    s->use_c = 1;
    c->scratch_len = q_c_scratch(io, &q->sh, &q->g);
    bool empty_k = io->conv ? fg_tensor_numel(c->in[io->w]) == 0 || fg_tensor_numel(c->in[io->x]) == 0 : q->sh.K == 0;
    if (empty_k || !q_dnnl_ok(c, q))
        return 0;
    if (q->xz_run)
        q->xz_off = st_take(s, sizeof(int32_t));
    int64_t macs = io->conv ? fg_tensor_numel(c->out[0]) * fg_tensor_numel(c->in[io->w]) / q->g.co
                            : fg_tensor_numel(c->out[0]) * q->sh.K;
    int prev = st_single_begin(c, s, macs);
    int rc = io->conv ? q_conv_build(c, q, false) : q_mm_build(c, q);
    st_single_end(s, prev);
    if (rc < 0)
        return rc;
    if (rc == 0)
        s->use_c = 0; /* st_finish set the scratch oneDNN needs */
    else if (fmt_in(c, io->x) != FG_FMT_PLAIN || fmt_out(c, 0) != FG_FMT_PLAIN)
        return FG_KERR(c, FG_EINTERNAL, "oneDNN refused an int8 convolution formats_qconv planned channels-last");
    return 0;
}

/* QLinearConv and ConvInteger run channels-last (FG_FMT_NXC) where oneDNN will run them (q_dnnl_ok, and
 * a primitive descriptor that is not the reference one: probed here, without packing weights), so a chain
 * of int8 convolutions and the per-tensor (de)quantizations between them is never reordered; the C loops
 * read and write plain data. Parameters are plain. */
static void formats_qconv(fg_kctx *c) {
    memset(c->fmt_in, FG_FMT_PLAIN, (size_t)c->n_in);
    c->fmt_out[0] = FG_FMT_PLAIN;
    const q_io *base = strcmp(c->node->op_type, "QLinearConv") == 0 ? &q_io_qconv : &q_io_convi;
    q_state q;
    memset(&q, 0, sizeof q);
    fg_err quiet = {0};
    fg_err *keep = c->err;
    c->err = &quiet;
    bool ok = q_node_io(c, base, &q.io) == 0 && q_geom(c, &q.io, &q.sh, &q.g) == 0;
    c->err = keep;
    const fg_tensor *x = c->in[q.io.x];
    if (!ok || x->rank < 3 || x->rank > 5 || fg_tensor_numel(c->out[0]) == 0 || fg_tensor_numel(x) == 0 ||
        fg_tensor_numel(c->in[q.io.w]) == 0 || !q_dnnl_ok(c, &q))
        return;
    c->err = &quiet;
    int rc = q_conv_build(c, &q, true);
    c->err = keep;
    nn_state *s = &q.nn;
    for (int i = 0; i < s->n_pd; i++)
        dnnl_primitive_desc_destroy(s->pd[i]);
    if (s->attr)
        dnnl_primitive_attr_destroy(s->attr);
    for (int i = 0; i < s->n_own; i++)
        free(s->own[i]);
    if (rc != 0)
        return;
    c->fmt_in[q.io.x] = FG_FMT_NXC;
    c->fmt_out[0] = FG_FMT_NXC;
}

static int q_run(fg_kctx *c) {
    q_state *q = c->state;
    if (q->nn.empty)
        return 0;
    if (!q->nn.use_c && q->xz_run)
        *(int32_t *)((char *)c->scratch + q->xz_off) = q_zp(c->in[q->io.xz], 0);
    if (!q->nn.use_c)
        return st_exec(c, &q->nn);
    if (q->io.conv)
        q_conv_c(c, &q->io, &q->g);
    else
        q_matmul_c(c, &q->io, &q->sh);
    return 0;
}

/* ------------------------------------------------------------------------------------------------------
 * Dynamic int8 matmul (MatMulInteger with FG_ATTR_DYNQ, made at load by fuse.c from the pattern
 * DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_scale * w_scale) [-> Add(bias)] [-> GELU or
 * Add(residual)]):
 *   inputs  0 A float32 [..., K]; 1 B constant int8/uint8 [K, N]; 3 B's zero point (optional, constant);
 *           4 B's scale, float32 constant of 1 or N values; 5 bias, float32 constant [N] (optional);
 *           6 residual, float32 of the output's shape or broadcast along its trailing dims (optional);
 *           or, where one DynamicQuantizeLinear feeds several products (BERT's Q, K and V), A already
 *           quantized: 0 uint8 A, 7 its scale, 8 its zero point (the shared node's outputs);
 *   output  float32 [..., N] = (Q(A) - a_zp) (B - b_zp) * a_scale * b_scale[n] + bias[n] + residual,
 * with Q(A), a_scale and a_zp exactly as DynamicQuantizeLinear computes them, then FG_ATTR_ACT "gelu_erf"
 * when fuse.c folded a GELU in. Fused, A is quantized into the scratch and the product runs on oneDNN
 * with the activation zero point passed at execution: the unfused chain sent the run-time zero point to
 * the C loops and wrote the int32 product and two float copies of it. b_scale is oneDNN's constant output
 * scale and a_scale a one-value binary-multiply post-op: run-time output scales make oneDNN 2.6 leave its
 * brgemm kernels for the slower gemm one (74 against 61 ms for bert_mini's 24 products at batch 32), and a
 * [1, N] operand holding a_scale * b_scale[n] (the unfused Mul's exact product) costs 15% of bert_mini's
 * run. The float results differ from the unfused chain's by rounding (and GELU's erf), which a following
 * DynamicQuantizeLinear can turn into one quantization step: bert_mini's error against its fp32 model is
 * the same (rms 0.0062 either way).
 * ------------------------------------------------------------------------------------------------------ */

enum { DQ_X = 0, DQ_W = 1, DQ_WZ = 3, DQ_WS = 4, DQ_B = 5, DQ_R = 6, DQ_XS = 7, DQ_XZ = 8 };

typedef struct dq_state {
    nn_state nn;
    int64_t M, K, N;
    size_t qa_off, sc_off, zp_off, acc_off; /* scratch: quantized A, a_scale, A's zero point, C rows */
    int64_t n_ws;                           /* values in B's scale: 1 or N */
    bool gelu;                              /* a fused GELU (erf form) follows the bias */
    bool res_post;                          /* the residual is a oneDNN post-op (same size as the output) */
    bool pre;                               /* A arrives quantized (inputs 0, 7, 8) */
    bool rt;                                /* run-time output scales and bias (dq_attr) */
    bool gelu_in;                           /* FG_ATTR_ACT_IN: GELU of the input, inside its quantization */
    size_t osc_off, bias_off;               /* scratch for rt: a_scale * b_scale[n], the bias divided by it */
} dq_state;

static bool dq_fused(const fg_kctx *c) { return fg_attr_i(c->node, FG_ATTR_DYNQ, 0) != 0; }

static int dq_infer(fg_kctx *c) {
    mm_shape sh;
    const fg_tensor *A = c->in[DQ_X], *B = c->in[DQ_W], *ws = fg_in(c, DQ_WS), *bias = fg_in(c, DQ_B);
    const char *act = fg_attr_s(c->node, FG_ATTR_ACT, NULL);
    if (act && strcmp(act, "gelu_erf") != 0)
        return FG_KERR(c, FG_EUNSUPPORTED, "fused activation '%s'", act);
    const char *act_in = fg_attr_s(c->node, FG_ATTR_ACT_IN, NULL);
    if (act_in && (strcmp(act_in, "gelu_erf") != 0 || A->dtype != FG_F32))
        return FG_KERR(c, FG_EUNSUPPORTED, "input activation '%s' on a %s input", act_in, fg_dtype_name(A->dtype));
    const float *range;
    TRY(fg_range_input(c, &range));
    if (fg_attr_get(c->node, FG_ATTR_RANGE_IN) && (act_in || A->dtype != FG_F32))
        return FG_KERR(c, FG_EUNSUPPORTED, "an input range for a %s input%s", fg_dtype_name(A->dtype),
                       act_in ? " with an input activation" : "");
    const fg_tensor *xs = fg_in(c, DQ_XS), *xz = fg_in(c, DQ_XZ);
    bool pre_ok = A->dtype == FG_U8 && xs && xz && xs->dtype == FG_F32 && fg_tensor_numel(xs) == 1 &&
                  xz->dtype == FG_U8 && fg_tensor_numel(xz) == 1;
    if ((A->dtype != FG_F32 && !pre_ok) || !q_is8(B->dtype) || B->rank != 2 || !ws || ws->dtype != FG_F32)
        return FG_KERR(c, FG_EUNSUPPORTED, "fused dynamic int8 matmul of %s and %s", fg_dtype_name(A->dtype),
                       fg_dtype_name(B->dtype));
    TRY(mm_shape_at(c, &sh, DQ_X, DQ_W, false));
    int64_t nws = fg_tensor_numel(ws);
    if (nws != 1 && nws != sh.N)
        return FG_KERR(c, FG_ESHAPE, "B's scale has %lld values (1 or %lld expected)", (long long)nws, (long long)sh.N);
    TRY(q_check_param(c, DQ_WZ, "the second operand's zero point", B->dtype, sh.N));
    if (bias && (bias->dtype != FG_F32 || fg_tensor_numel(bias) != sh.N))
        return FG_KERR(c, FG_ESHAPE, "bias must be float32 [%lld]", (long long)sh.N);
    fg_set_shape(c->out[0], FG_F32, sh.y_rank, sh.y_dims);
    const fg_tensor *r = fg_in(c, DQ_R);
    if (r) {
        /* the residual's dims are the output's trailing ones (1s before them): all numpy broadcasting
         * a residual Add of the product's result can need without growing the output */
        bool ok = r->dtype == FG_F32 && r->rank <= sh.y_rank;
        for (int i = 0; ok && i < r->rank; i++) {
            int64_t d = r->dims[r->rank - 1 - i], o = sh.y_dims[sh.y_rank - 1 - i];
            ok = d == o || (d == 1 && fg_tensor_numel(r) == 1);
        }
        if (!ok)
            return FG_KERR(c, FG_EUNSUPPORTED, "fused residual of %s rank %d that is not a suffix of the output",
                           fg_dtype_name(r->dtype), r->rank);
    }
    return 0;
}

/* The primitive attributes of the fused dynamic matmul in one of two forms. Both take A's zero point as a
 * run-time argument (scratch) and end with the residual and GELU post-ops.
 *   rt false: b_scale as constant output scales, then binary post-ops: times a_scale (a one-value operand
 *             in the scratch), plus the bias.
 *   rt true:  run-time per-channel output scales a_scale * b_scale[n] and oneDNN's own bias, which oneDNN
 *             2.x adds before the scales: dq_run passes bias[n] / (a_scale * b_scale[n]).
 * The second form runs 15-25% faster than the first on AVX-512 VNNI (no binary post-ops; with GELU
 * 6.5 vs 8.3 ms for bert_mini's [4096, 256] x [256, 1024]), but oneDNN has it only in its gemm kernel,
 * not in the brgemm kernels that use AMX; dq_build picks it unless the first form gets AMX. */
static int dq_attr(fg_kctx *c, const dq_state *q, bool rt, dnnl_primitive_attr_t *out) {
    const fg_tensor *bias = fg_in(c, DQ_B);
    int64_t yd[2] = {q->M, q->N}, bsd[2] = {1, q->N}, sd[2] = {1, 1};
    dnnl_memory_desc_t y_md, bias_md, sc_md;
    TRY(md_plain(c, &y_md, 2, yd, dnnl_f32));
    TRY(md_plain(c, &bias_md, 2, bsd, dnnl_f32));
    TRY(md_plain(c, &sc_md, 2, sd, dnnl_f32));
    dnnl_primitive_attr_t at;
    DN(c, "attr", dnnl_primitive_attr_create(&at));
    const int32_t rt_zp = DNNL_RUNTIME_S32_VAL;
    const float rt_sc = DNNL_RUNTIME_F32_VAL;
    dnnl_post_ops_t po = NULL;
    dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(at, dnnl_scratchpad_mode_user);
    if (st == dnnl_success && rt)
        st = dnnl_primitive_attr_set_output_scales(at, 1, 1 << 1, &rt_sc); /* count 1: run-time values */
    else if (st == dnnl_success)
        st = dnnl_primitive_attr_set_output_scales(at, q->n_ws, q->n_ws > 1 ? 1 << 1 : 0, c->in[DQ_WS]->data);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_zero_points(at, DNNL_ARG_SRC, 1, 0, &rt_zp);
    if (st == dnnl_success)
        st = dnnl_post_ops_create(&po);
    if (st == dnnl_success && !rt)
        st = dnnl_post_ops_append_binary(po, dnnl_binary_mul, &sc_md);
    if (st == dnnl_success && !rt && bias)
        st = dnnl_post_ops_append_binary(po, dnnl_binary_add, &bias_md);
    if (st == dnnl_success && q->res_post)
        st = dnnl_post_ops_append_binary(po, dnnl_binary_add, &y_md);
    if (st == dnnl_success && q->gelu)
        st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf, 0.f, 0.f);
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_post_ops(at, po);
    if (po)
        dnnl_post_ops_destroy(po);
    if (st != dnnl_success) {
        dnnl_primitive_attr_destroy(at);
        return dn_err(c, "attr", st);
    }
    *out = at;
    return 0;
}

/* The primitive descriptor of one form, or NULL (and no attr) when oneDNN has none but its reference. */
static int dq_pd(fg_kctx *c, const dq_state *q, bool rt, dnnl_primitive_attr_t *at, dnnl_primitive_desc_t *pd) {
    const fg_tensor *bias = fg_in(c, DQ_B);
    int64_t ad[2] = {q->M, q->K}, bd[2] = {q->K, q->N}, yd[2] = {q->M, q->N}, bsd[2] = {1, q->N};
    dnnl_memory_desc_t a_md, b_md, y_md, bias_md;
    TRY(md_plain(c, &a_md, 2, ad, dnnl_u8));
    TRY(md_any_dt(c, &b_md, 2, bd, dnnl_s8));
    TRY(md_plain(c, &y_md, 2, yd, dnnl_f32));
    TRY(md_plain(c, &bias_md, 2, bsd, dnnl_f32));
    *pd = NULL;
    TRY(dq_attr(c, q, rt, at));
    dnnl_matmul_desc_t d;
    const char *impl = "ref";
    if (dnnl_matmul_desc_init(&d, &a_md, &b_md, rt && bias ? &bias_md : NULL, &y_md) == dnnl_success &&
        dnnl_primitive_desc_create(pd, &d, *at, c->dnnl->engine, NULL) == dnnl_success)
        dnnl_primitive_desc_query(*pd, dnnl_query_impl_info_str, 0, &impl);
    if (strncmp(impl, "ref", 3) != 0)
        return 0;
    if (*pd)
        dnnl_primitive_desc_destroy(*pd);
    dnnl_primitive_attr_destroy(*at);
    *pd = NULL;
    *at = NULL;
    return 0;
}

/* oneDNN u8 x s8 -> f32 matmul of the quantized A (scratch, or input 0) and B packed once, in the form
 * dq_attr describes. 1: not applicable (the C loops run). */
static int dq_build(fg_kctx *c, dq_state *q) {
    nn_state *s = &q->nn;
    const fg_tensor *B = c->in[DQ_W], *bias = fg_in(c, DQ_B);
    int32_t wz = 0;
    if (fg_attr_i(c->node, FG_ATTR_QREF, 0) || !c->dnnl || !is_const(B) || !q_common_zp(c, DQ_WZ, &wz))
        return 1;
    if (B->dtype == FG_U8)
        wz -= 128; /* packed as B - 128 (q_pack_weights) */
    if (wz != 0)
        return 1;
    if (s->n_pd >= NN_MAX_PD)
        return FG_KERR(c, FG_EINTERNAL, "too many primitive descriptors");
    dnnl_primitive_attr_t at;
    dnnl_primitive_desc_t pd;
    TRY(dq_pd(c, q, false, &at, &pd));
    const char *impl = "";
    if (pd)
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    if (!strstr(impl, "amx")) {
        dnnl_primitive_attr_t at2;
        dnnl_primitive_desc_t pd2;
        TRY(dq_pd(c, q, true, &at2, &pd2));
        if (pd2) {
            if (pd) {
                dnnl_primitive_desc_destroy(pd);
                dnnl_primitive_attr_destroy(at);
            }
            pd = pd2;
            at = at2;
            q->rt = true;
        }
    }
    if (!pd)
        return 1; /* the C loops are as good as oneDNN's reference */
    s->attr = at;
    s->pd[s->n_pd++] = pd;
    int64_t ad[2] = {q->M, q->K}, bd[2] = {q->K, q->N}, yd[2] = {q->M, q->N}, bsd[2] = {1, q->N}, one = 1;
    int64_t sd[2] = {1, 1}, nd = q->N;
    dnnl_memory_desc_t a_md, b_user, y_md, bias_md, sc_md, zp_md, osc_md;
    TRY(md_plain(c, &a_md, 2, ad, dnnl_u8));
    TRY(md_plain(c, &b_user, 2, bd, dnnl_s8));
    TRY(md_plain(c, &y_md, 2, yd, dnnl_f32));
    TRY(md_plain(c, &bias_md, 2, bsd, dnnl_f32));
    TRY(md_plain(c, &sc_md, 2, sd, dnnl_f32));
    TRY(md_plain(c, &zp_md, 1, &one, dnnl_s32));
    TRY(md_plain(c, &osc_md, 1, &nd, dnnl_f32));
    const dnnl_memory_desc_t *bp = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    void *buf = st_own(c, s, dnnl_memory_desc_get_size(bp));
    if (!buf)
        return FG_ENOMEM;
    TRY(q_pack_weights(c, B, &b_user, bp, buf));
    dnnl_memory_t ma, mb, my, msc, mzp, mbias = NULL, mres = NULL;
    if (q->pre)
        TRY(st_mem(c, s, &a_md, MEM_IN, DQ_X, 0, NULL, &ma));
    else
        TRY(st_mem(c, s, &a_md, MEM_SCRATCH, 0, q->qa_off, NULL, &ma));
    TRY(st_mem(c, s, bp, MEM_FIXED, 0, 0, buf, &mb));
    TRY(st_mem(c, s, &y_md, MEM_OUT, 0, 0, NULL, &my));
    TRY(st_mem(c, s, &zp_md, MEM_SCRATCH, 0, q->zp_off, NULL, &mzp));
    if (q->rt) {
        TRY(st_mem(c, s, &osc_md, MEM_SCRATCH, 0, q->osc_off, NULL, &msc));
        if (bias)
            TRY(st_mem(c, s, &bias_md, MEM_SCRATCH, 0, q->bias_off, NULL, &mbias));
    } else {
        TRY(st_mem(c, s, &sc_md, MEM_SCRATCH, 0, q->sc_off, NULL, &msc));
        if (bias)
            TRY(st_mem(c, s, &bias_md, MEM_FIXED, 0, 0, bias->data, &mbias));
    }
    if (q->res_post)
        TRY(st_mem(c, s, &y_md, MEM_IN, DQ_R, 0, NULL, &mres));
    nn_exec *e;
    TRY(st_prim(c, s, pd, &e));
    ex_arg(e, DNNL_ARG_SRC, ma);
    ex_arg(e, DNNL_ARG_WEIGHTS, mb);
    ex_arg(e, DNNL_ARG_DST, my);
    ex_arg(e, DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, mzp);
    int k = 0;
    if (q->rt) {
        ex_arg(e, DNNL_ARG_ATTR_OUTPUT_SCALES, msc);
        if (mbias)
            ex_arg(e, DNNL_ARG_BIAS, mbias);
    } else {
        ex_arg(e, DNNL_ARG_ATTR_MULTIPLE_POST_OP(k++) | DNNL_ARG_SRC_1, msc);
        if (mbias)
            ex_arg(e, DNNL_ARG_ATTR_MULTIPLE_POST_OP(k++) | DNNL_ARG_SRC_1, mbias);
    }
    if (mres)
        ex_arg(e, DNNL_ARG_ATTR_MULTIPLE_POST_OP(k) | DNNL_ARG_SRC_1, mres);
    st_finish(c, s);
    return 0;
}

static int dq_prepare(fg_kctx *c) {
    dq_state *q = fg_xcalloc(1, sizeof *q);
    c->state = q; /* attached at once: the planner releases it on any error */
    TRY(dq_infer(c));
    mm_shape sh;
    TRY(mm_shape_at(c, &sh, DQ_X, DQ_W, false));
    nn_state *s = &q->nn;
    q->K = sh.K;
    q->N = sh.N;
    q->M = sh.K ? fg_tensor_numel(c->in[DQ_X]) / sh.K : 0;
    q->n_ws = fg_tensor_numel(c->in[DQ_WS]);
    q->gelu = fg_attr_s(c->node, FG_ATTR_ACT, NULL) != NULL; /* dq_infer allows only gelu_erf */
    q->gelu_in = fg_attr_s(c->node, FG_ATTR_ACT_IN, NULL) != NULL;
    const fg_tensor *r = fg_in(c, DQ_R);
    if (r && q->gelu)
        return FG_KERR(c, FG_EUNSUPPORTED, "a fused residual and GELU together");
    q->res_post = r && fg_tensor_numel(r) == fg_tensor_numel(c->out[0]);
    q->pre = c->in[DQ_X]->dtype == FG_U8;
    if (fg_tensor_numel(c->out[0]) == 0) {
        s->empty = 1;
        return 0;
    }
    q->qa_off = st_take(s, q->pre ? 0 : (size_t)(q->M * q->K));
    q->sc_off = st_take(s, sizeof(float));
    q->zp_off = st_take(s, sizeof(int32_t));
    q->acc_off = st_take(s, (size_t)q->N * 2 * sizeof(int32_t));
    q->osc_off = st_take(s, (size_t)q->N * sizeof(float));
    q->bias_off = st_take(s, (size_t)q->N * sizeof(float));
    size_t own = s->scratch_used;
    s->use_c = 1;
    c->scratch_len = own;
    if (q->K == 0)
        return 0;
    int prev = st_single_begin(c, s, q->M * q->K * q->N);
    int rc = dq_build(c, q);
    st_single_end(s, prev);
    if (rc < 0)
        return rc;
    if (rc == 0)
        s->use_c = 0; /* st_finish set the scratch oneDNN needs after ours */
    return 0;
}

/* The C loops of the fused dynamic matmul, on A already quantized (qa) with zero point za. */
static void dq_matmul_c(fg_kctx *c, const dq_state *q, const uint8_t *qa, int32_t za, float as) {
    const fg_tensor *B = c->in[DQ_W], *bz = fg_in(c, DQ_WZ), *bias = fg_in(c, DQ_B);
    int64_t K = q->K, N = q->N;
    int32_t *zb = (int32_t *)((char *)c->scratch + q->acc_off), *acc = zb + N;
    const float *bv = bias ? bias->data : NULL, *ws = c->in[DQ_WS]->data;
    const fg_tensor *rt = fg_in(c, DQ_R);
    const float *res = rt ? rt->data : NULL;
    int64_t nres = rt ? fg_tensor_numel(rt) : 1; /* a suffix of the output (dq_infer): index modulo */
    float *y = c->out[0]->data;
    for (int64_t n = 0; n < N; n++)
        zb[n] = q_zp(bz, n);
    for (int64_t m = 0; m < q->M; m++) {
        memset(acc, 0, (size_t)N * sizeof(int32_t));
        for (int64_t k = 0; k < K; k++) {
            int32_t av = (int32_t)qa[m * K + k] - za;
            if (!av)
                continue;
            if (B->dtype == FG_U8)
                q_axpy_uint8_t(acc, av, (const uint8_t *)B->data + k * N, zb, N);
            else
                q_axpy_int8_t(acc, av, (const int8_t *)B->data + k * N, zb, N);
        }
        float *yr = y + m * N;
        for (int64_t n = 0; n < N; n++) {
            float v = (float)acc[n] * ws[q->n_ws > 1 ? n : 0] * as; /* oneDNN's order */
            v = bv ? v + bv[n] : v;
            yr[n] = q->gelu ? 0.5f * v * (1.f + erff(v * (float)M_SQRT1_2)) : v;
            if (res)
                yr[n] += res[(m * N + n) % nres];
        }
    }
}

/* After the rt form: a column whose combined scale is 0 (all of A zero, or a zero channel of B) got
 * act(0 [+ residual]) from oneDNN, as its bias could not be divided by the scale; it is
 * act(bias [+ residual]). (oneDNN fuses a residual or GELU, never both: dq_prepare.) */
static void dq_fix_zero_columns(fg_kctx *c, const dq_state *q) {
    const float *osc = (const float *)((const char *)c->scratch + q->osc_off);
    const float *bias = fg_in(c, DQ_B)->data;
    const float *res = q->res_post ? fg_in(c, DQ_R)->data : NULL;
    float *y = c->out[0]->data;
    for (int64_t n = 0; n < q->N; n++) {
        if (osc[n] != 0.f)
            continue;
        for (int64_t m = 0; m < q->M; m++) {
            float v = bias[n] + (res ? res[m * q->N + n] : 0.f);
            y[m * q->N + n] = q->gelu ? 0.5f * v * (1.f + erff(v * (float)M_SQRT1_2)) : v;
        }
    }
}

static int dq_run(fg_kctx *c) {
    dq_state *q = c->state;
    if (q->nn.empty)
        return 0;
    const float *x = c->in[DQ_X]->data;
    int64_t n = q->M * q->K;
    float s;
    uint8_t zp;
    uint8_t *qa;
    if (q->pre) { /* quantized by a shared DynamicQuantizeLinear */
        qa = c->in[DQ_X]->data;
        s = *(const float *)c->in[DQ_XS]->data;
        zp = *(const uint8_t *)c->in[DQ_XZ]->data;
    } else {
        qa = (uint8_t *)c->scratch + q->qa_off;
        const float *range;
        TRY(fg_range_input(c, &range));
        if (range)
            fg_dynquant_u8_ranged(x, n, nthreads(c), range, qa, &s, &zp);
        else
            (q->gelu_in ? fg_dynquant_u8_gelu : fg_dynquant_u8)(x, n, nthreads(c), qa, &s, &zp);
    }
    *(float *)((char *)c->scratch + q->sc_off) = s;
    *(int32_t *)((char *)c->scratch + q->zp_off) = zp;
    if (q->nn.use_c) {
        dq_matmul_c(c, q, qa, zp, s);
        return 0;
    }
    bool zero_cols = false;
    if (q->rt) {
        float *osc = (float *)((char *)c->scratch + q->osc_off), *bq = (float *)((char *)c->scratch + q->bias_off);
        const float *ws = c->in[DQ_WS]->data;
        const fg_tensor *bias = fg_in(c, DQ_B);
        for (int64_t j = 0; j < q->N; j++) {
            osc[j] = s * ws[q->n_ws > 1 ? j : 0];
            if (!bias)
                continue;
            bq[j] = osc[j] != 0.f ? ((const float *)bias->data)[j] / osc[j] : 0.f;
            zero_cols |= osc[j] == 0.f;
            if (!isfinite(bq[j])) { /* a scale so small that the divided bias overflows: the C loops */
                dq_matmul_c(c, q, qa, zp, s);
                return 0;
            }
        }
    }
    TRY(st_exec(c, &q->nn));
    if (zero_cols)
        dq_fix_zero_columns(c, q);
    const fg_tensor *rt = fg_in(c, DQ_R);
    if (rt && !q->res_post) { /* a broadcast residual (a suffix of the output's dims) */
        const float *r = rt->data;
        float *y = c->out[0]->data;
        int64_t nr = fg_tensor_numel(rt), ny = fg_tensor_numel(c->out[0]);
        for (int64_t i = 0; i < ny; i++)
            y[i] += r[i % nr];
    }
    return 0;
}

static int infer_mmi(fg_kctx *c) { return dq_fused(c) ? dq_infer(c) : q_infer(c, &q_io_mmi); }
static int prepare_mmi(fg_kctx *c) { return dq_fused(c) ? dq_prepare(c) : q_prepare(c, &q_io_mmi); }
static int run_mmi(fg_kctx *c) { return dq_fused(c) ? dq_run(c) : q_run(c); }
static int infer_convi(fg_kctx *c) { return q_infer(c, &q_io_convi); }
static int prepare_convi(fg_kctx *c) { return q_prepare(c, &q_io_convi); }
static int infer_qmm(fg_kctx *c) { return q_infer(c, &q_io_qmm); }
static int prepare_qmm(fg_kctx *c) { return q_prepare(c, &q_io_qmm); }
static int infer_qconv(fg_kctx *c) { return q_infer(c, &q_io_qconv); }
static int prepare_qconv(fg_kctx *c) { return q_prepare(c, &q_io_qconv); }

/* ------------------------------------------------------------------------------------------------------
 * Pooling
 * ------------------------------------------------------------------------------------------------------ */

typedef struct pool_geom {
    win w;
    int64_t n, ch;
    bool is_max, include_pad;
} pool_geom;

static int pool_geom_get(fg_kctx *c, pool_geom *g, bool is_max) {
    const fg_tensor *x = fg_in(c, 0);
    if (!x)
        return FG_KERR(c, FG_EINVAL, "X is required");
    static const fg_dtype max_dt[] = {FG_F32, FG_U8, FG_I8, 0}, avg_dt[] = {FG_F32, 0};
    TRY(fg_check_dtype(c, 0, is_max ? max_dt : avg_dt));
    if (x->rank < 3 || x->rank > 5)
        return FG_KERR(c, FG_EUNSUPPORTED, "input rank %d (1 to 3 spatial dimensions are supported)", x->rank);
    memset(g, 0, sizeof *g);
    g->is_max = is_max;
    g->n = x->dims[0];
    g->ch = x->dims[1];
    win *w = &g->w;
    w->nsp = x->rank - 2;
    const int64_t *ks;
    if (fg_attr_ints(c->node, "kernel_shape", &ks) != w->nsp)
        return FG_KERR(c, FG_EINVAL, "kernel_shape must have %d values", w->nsp);
    for (int i = 0; i < w->nsp; i++) {
        w->in[i] = x->dims[2 + i];
        w->k[i] = ks[i];
        if (ks[i] < 1 || ks[i] > ((int64_t)1 << 40))
            return FG_KERR(c, FG_EINVAL, "kernel_shape[%d] = %lld", i, (long long)ks[i]);
    }
    bool ceil_mode = c->opset >= 10 && fg_attr_i(c->node, "ceil_mode", 0) != 0;
    bool dil = is_max ? c->opset >= 10 : c->opset >= 19;
    g->include_pad = !is_max && fg_attr_i(c->node, "count_include_pad", 0) != 0;
    return win_forward(c, w, ceil_mode, dil);
}

static int infer_pool_common(fg_kctx *c, bool is_max) {
    pool_geom g;
    TRY(pool_geom_get(c, &g, is_max));
    int64_t d[5] = {g.n, g.ch};
    for (int i = 0; i < g.w.nsp; i++)
        d[2 + i] = g.w.out[i];
    fg_set_shape(c->out[0], c->in[0]->dtype, g.w.nsp + 2, d);
    if (is_max && c->n_out > 1 && c->out[1]) {
        if (c->in[0]->dtype != FG_F32)
            return FG_KERR(c, FG_EUNSUPPORTED, "MaxPool Indices on %s", fg_dtype_name(c->in[0]->dtype));
        fg_set_shape(c->out[1], FG_I64, g.w.nsp + 2, d);
    }
    return 0;
}

static int infer_maxpool(fg_kctx *c) { return infer_pool_common(c, true); }
static int infer_avgpool(fg_kctx *c) { return infer_pool_common(c, false); }

static dnnl_data_type_t dnnl_dt(fg_dtype t) {
    switch (t) {
    case FG_U8: return dnnl_u8;
    case FG_I8: return dnnl_s8;
    default: return dnnl_f32;
    }
}

static int pool_build(fg_kctx *c, nn_state *s, const dnnl_pooling_v2_desc_t *d, const dnnl_memory_desc_t *x_md,
                      const dnnl_memory_desc_t *y_md) {
    dnnl_primitive_desc_t pd;
    TRY(st_pd(c, s, d, "pooling", &pd));
    dnnl_memory_t mx, my;
    TRY(st_mem(c, s, x_md, MEM_IN, 0, 0, NULL, &mx));
    TRY(st_mem(c, s, y_md, MEM_OUT, 0, 0, NULL, &my));
    nn_exec *e;
    TRY(st_prim(c, s, pd, &e));
    ex_arg(e, DNNL_ARG_SRC, mx);
    ex_arg(e, DNNL_ARG_DST, my);
    return 0;
}

static int prepare_pool_common(fg_kctx *c, bool is_max) {
    pool_geom g;
    TRY(pool_geom_get(c, &g, is_max));
    nn_state *s = st_new(c);
    const fg_tensor *x = c->in[0], *y = c->out[0];
    if (fg_tensor_numel(y) == 0) {
        s->empty = 1;
        return 0;
    }
    if (is_max && c->n_out > 1 && c->out[1]) {
        s->use_c = 1; /* Indices: the C loop computes both */
        return 0;
    }
    const win *w = &g.w;
    for (int i = 0; i < w->nsp; i++)
        if (g.include_pad && w->pr_dnnl[i] > w->pr[i])
            return FG_KERR(c, FG_EUNSUPPORTED, "count_include_pad with ceil_mode windows past the padding");
    int nd = x->rank;
    dnnl_memory_desc_t x_md, y_md;
    TRY(md_act(c, &x_md, nd, x->dims, dnnl_dt(x->dtype), fmt_in(c, 0)));
    TRY(md_act(c, &y_md, nd, y->dims, dnnl_dt(x->dtype), fmt_out(c, 0)));
    dnnl_dims_t st, kk, dl, pl, pr;
    for (int i = 0; i < w->nsp; i++) {
        st[i] = w->s[i];
        kk[i] = w->k[i];
        dl[i] = w->d[i] - 1;
        pl[i] = w->pl[i];
        pr[i] = w->pr_dnnl[i];
    }
    dnnl_alg_kind_t alg = is_max ? dnnl_pooling_max : g.include_pad ? dnnl_pooling_avg_include_padding
                                                                    : dnnl_pooling_avg_exclude_padding;
    dnnl_pooling_v2_desc_t d;
    DN(c, "pooling desc",
       dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference, alg, &x_md, &y_md, st, kk, dl, pl, pr));
    TRY(st_attr(c, s, 1.0f, NULL));
    int64_t taps = fg_tensor_numel(y);
    for (int i = 0; i < w->nsp; i++)
        taps *= w->k[i];
    int prev = st_single_begin(c, s, taps);
    int rc = pool_build(c, s, &d, &x_md, &y_md);
    st_single_end(s, prev);
    TRY(rc);
    st_finish(c, s);
    return 0;
}

static int prepare_maxpool(fg_kctx *c) { return prepare_pool_common(c, true); }
static int prepare_avgpool(fg_kctx *c) { return prepare_pool_common(c, false); }

/* MaxPool with Indices (flat offsets into X; storage_order 1 numbers the spatial dims column-major). */
static int maxpool_indices(fg_kctx *c) {
    pool_geom g;
    TRY(pool_geom_get(c, &g, true));
    /* pad to 3 spatial dims, the missing leading ones of extent 1, so the loops always run D, H, W */
    const win w = g.w;
    int sh = 3 - w.nsp;
    win v;
    for (int i = 0; i < 3; i++) {
        int j = i - sh;
        bool real = j >= 0;
        v.in[i] = real ? w.in[j] : 1;
        v.k[i] = real ? w.k[j] : 1;
        v.s[i] = real ? w.s[j] : 1;
        v.d[i] = real ? w.d[j] : 1;
        v.pl[i] = real ? w.pl[j] : 0;
        v.out[i] = real ? w.out[j] : 1;
    }
    bool colmajor = fg_attr_i(c->node, "storage_order", 0) != 0;
    const float *x = c->in[0]->data;
    float *y = c->out[0]->data;
    int64_t *ix = c->out[1]->data;
    int64_t plane = v.in[0] * v.in[1] * v.in[2];
    int64_t oplane = v.out[0] * v.out[1] * v.out[2];
    for (int64_t nc = 0; nc < g.n * g.ch; nc++) {
        const float *xp = x + nc * plane;
        for (int64_t o0 = 0; o0 < v.out[0]; o0++)
            for (int64_t o1 = 0; o1 < v.out[1]; o1++)
                for (int64_t o2 = 0; o2 < v.out[2]; o2++) {
                    float best = -INFINITY;
                    int64_t bi = -1;
                    for (int64_t k0 = 0; k0 < v.k[0]; k0++) {
                        int64_t i0 = o0 * v.s[0] - v.pl[0] + k0 * v.d[0];
                        if (i0 < 0 || i0 >= v.in[0])
                            continue;
                        for (int64_t k1 = 0; k1 < v.k[1]; k1++) {
                            int64_t i1 = o1 * v.s[1] - v.pl[1] + k1 * v.d[1];
                            if (i1 < 0 || i1 >= v.in[1])
                                continue;
                            for (int64_t k2 = 0; k2 < v.k[2]; k2++) {
                                int64_t i2 = o2 * v.s[2] - v.pl[2] + k2 * v.d[2];
                                if (i2 < 0 || i2 >= v.in[2])
                                    continue;
                                float val = xp[(i0 * v.in[1] + i1) * v.in[2] + i2];
                                if (bi < 0 || val > best) {
                                    best = val;
                                    bi = colmajor ? (i2 * v.in[1] + i1) * v.in[0] + i0
                                                  : (i0 * v.in[1] + i1) * v.in[2] + i2;
                                }
                            }
                        }
                    }
                    int64_t o = nc * oplane + (o0 * v.out[1] + o1) * v.out[2] + o2;
                    y[o] = best;
                    ix[o] = bi < 0 ? 0 : nc * plane + bi;
                }
    }
    return 0;
}

static int run_pool(fg_kctx *c) {
    nn_state *s = c->state;
    if (s->empty)
        return 0;
    if (s->use_c)
        return maxpool_indices(c);
    return st_exec(c, s);
}

static int infer_global_pool(fg_kctx *c) {
    TRY(check_f32(c, 0));
    const fg_tensor *x = c->in[0];
    if (x->rank < 3)
        return FG_KERR(c, FG_ESHAPE, "input rank %d, expected >= 3", x->rank);
    int64_t d[FG_MAX_RANK];
    d[0] = x->dims[0];
    d[1] = x->dims[1];
    for (int i = 2; i < x->rank; i++)
        d[i] = 1;
    fg_set_shape(c->out[0], FG_F32, x->rank, d);
    return 0;
}

NN_HOT static void global_pool(const float *restrict x, float *restrict y, int64_t rows, int64_t inner, bool is_max,
                               int n_threads) {
    float inv = inner ? 1.0f / (float)inner : 0.f;
#pragma omp parallel for num_threads(n_threads) if (rows * inner > NN_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict p = x + r * inner;
        if (is_max) {
            float m = inner ? p[0] : -INFINITY;
            for (int64_t i = 1; i < inner; i++)
                m = p[i] > m ? p[i] : m;
            y[r] = m;
        } else {
            float acc = 0.f;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = 0; i < inner; i++)
                acc += p[i];
            y[r] = acc * inv;
        }
    }
}

static int run_global_pool_common(fg_kctx *c, bool is_max) {
    const fg_tensor *x = c->in[0];
    int64_t rows = x->dims[0] * x->dims[1];
    int64_t inner = rows ? fg_tensor_numel(x) / rows : 0;
    global_pool(x->data, c->out[0]->data, rows, inner, is_max, nthreads(c));
    return 0;
}

static int run_gap(fg_kctx *c) { return run_global_pool_common(c, false); }
static int run_gmp(fg_kctx *c) { return run_global_pool_common(c, true); }

/* ------------------------------------------------------------------------------------------------------
 * BatchNormalization (inference) and LRN: per-channel C loops, memory-bound either way.
 * ------------------------------------------------------------------------------------------------------ */

static int bn_check(fg_kctx *c, int64_t *n_feat, int64_t *inner) {
    if (c->n_in < 5)
        return FG_KERR(c, FG_EINVAL, "BatchNormalization needs 5 inputs");
    for (int i = 0; i < 5; i++)
        TRY(check_f32(c, i));
    if (fg_attr_i(c->node, "training_mode", 0))
        return FG_KERR(c, FG_EUNSUPPORTED, "BatchNormalization training_mode");
    for (int i = 1; i < c->n_out; i++)
        if (c->out[i])
            return FG_KERR(c, FG_EUNSUPPORTED, "BatchNormalization training outputs");
    const fg_tensor *x = c->in[0];
    if (x->rank < 2)
        return FG_KERR(c, FG_ESHAPE, "input rank %d, expected >= 2", x->rank);
    int64_t ch = x->dims[1], per_item = x->dims[0] ? fg_tensor_numel(x) / x->dims[0] : 0;
    int64_t f = fg_tensor_numel(c->in[1]);
    /* f == C: per channel; f == C*spatial: per element (spatial = 0 of opsets before 9) */
    if (f != ch && f != per_item)
        return FG_KERR(c, FG_ESHAPE, "scale has %lld values for %lld channels", (long long)f, (long long)ch);
    for (int i = 2; i < 5; i++)
        if (fg_tensor_numel(c->in[i]) != f)
            return FG_KERR(c, FG_ESHAPE, "input %d has %lld values, scale has %lld", i,
                           (long long)fg_tensor_numel(c->in[i]), (long long)f);
    *n_feat = f;
    *inner = f ? per_item / f : 0;
    return 0;
}

static int infer_bn(fg_kctx *c) {
    int64_t f, inner;
    TRY(bn_check(c, &f, &inner));
    fg_same_shape(c->out[0], c->in[0]);
    return 0;
}

static void bn_fold(nn_cpath *p, const fg_kctx *c) {
    const float *sc = c->in[1]->data, *b = c->in[2]->data, *mean = c->in[3]->data, *var = c->in[4]->data;
    for (int64_t i = 0; i < p->n_feat; i++) {
        float a = sc[i] / sqrtf(var[i] + p->eps);
        p->scale[i] = a;
        p->shift[i] = b[i] - mean[i] * a;
    }
}

static int prepare_bn(fg_kctx *c) {
    nn_state *s = st_new(c);
    nn_cpath *p = &s->cp;
    TRY(bn_check(c, &p->n_feat, &p->inner));
    p->eps = fg_attr_f(c->node, "epsilon", 1e-5f);
    p->scale = fg_aligned_alloc((size_t)p->n_feat * sizeof(float) + 64);
    p->shift = fg_aligned_alloc((size_t)p->n_feat * sizeof(float) + 64);
    if (!p->scale || !p->shift)
        return FG_KERR(c, FG_ENOMEM, "cannot allocate BatchNormalization parameters");
    p->bn_live = 0;
    for (int i = 1; i < 5; i++)
        p->bn_live |= !is_const(c->in[i]);
    if (!p->bn_live)
        bn_fold(p, c);
    return 0;
}

NN_HOT static void affine_rows(const float *restrict x, float *restrict y, int64_t n_items, int64_t n_feat,
                               int64_t inner, const float *restrict a, const float *restrict b, int n_threads) {
    int64_t rows = n_items * n_feat;
#pragma omp parallel for num_threads(n_threads) if (rows * inner > NN_PAR_MIN)
    for (int64_t r = 0; r < rows; r++) {
        float ar = a[r % n_feat], br = b[r % n_feat];
        const float *restrict xr = x + r * inner;
        float *restrict yr = y + r * inner;
        for (int64_t i = 0; i < inner; i++)
            yr[i] = xr[i] * ar + br;
    }
}

static int run_bn(fg_kctx *c) {
    nn_state *s = c->state;
    nn_cpath *p = &s->cp;
    if (p->bn_live)
        bn_fold(p, c);
    const fg_tensor *x = c->in[0];
    affine_rows(x->data, c->out[0]->data, x->dims[0], p->n_feat, p->inner, p->scale, p->shift, nthreads(c));
    return 0;
}

static int infer_lrn(fg_kctx *c) {
    TRY(check_f32(c, 0));
    if (c->in[0]->rank < 2)
        return FG_KERR(c, FG_ESHAPE, "input rank %d, expected >= 2", c->in[0]->rank);
    int64_t size = fg_attr_i(c->node, "size", 0);
    if (size < 1)
        return FG_KERR(c, FG_EINVAL, "size must be >= 1 (got %lld)", (long long)size);
    fg_same_shape(c->out[0], c->in[0]);
    return 0;
}

/* y = x / (bias + alpha/size * sum of x^2 over channels [c - (size-1)/2, c + size/2])^beta */
static int run_lrn(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    int64_t size = fg_attr_i(c->node, "size", 1);
    float alpha = fg_attr_f(c->node, "alpha", 1e-4f), beta = fg_attr_f(c->node, "beta", 0.75f);
    float bias = fg_attr_f(c->node, "bias", 1.0f);
    int64_t n = x->dims[0], ch = x->dims[1];
    int64_t inner = n * ch != 0 ? fg_tensor_numel(x) / (n * ch) : 0;
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    const float *xp = x->data;
    float *yp = c->out[0]->data;
    float k = alpha / (float)size;
    int64_t win = size < ch ? size : ch; /* channels summed per output; size itself may be huge */
#pragma omp parallel for collapse(2) num_threads(nthreads(c)) if (n * ch * inner * win > NN_PAR_MIN)
    for (int64_t b = 0; b < n; b++)
        for (int64_t ci = 0; ci < ch; ci++) {
            int64_t c0 = ci - lo < 0 ? 0 : ci - lo, c1 = ci + hi >= ch ? ch - 1 : ci + hi;
            const float *xb = xp + b * ch * inner;
            float *yr = yp + (b * ch + ci) * inner;
            for (int64_t i = 0; i < inner; i++) {
                float sq = 0.f;
                for (int64_t j = c0; j <= c1; j++) {
                    float v = xb[j * inner + i];
                    sq += v * v;
                }
                yr[i] = xb[ci * inner + i] / powf(bias + k * sq, beta);
            }
        }
    return 0;
}

/* Conv writes channel-blocked activations (FG_FMT_NC16) when its output channels are a multiple of 16, so
 * chains of convs, pools and elementwise ops run without reorders (as ONNX Runtime's NCHWc chains do).
 * It takes its input in whatever format it comes (reordering inside when the primitive needs it), so a
 * layer with another channel count (mobilenet_v2's 24) costs one small reorder, not a plain stage. A
 * broadcast residual forces plain. */
static void formats_conv(fg_kctx *c) {
    const fg_tensor *x = c->in[0], *y = c->out[0];
    if (c->fmt_in[0] == FG_FMT_NXC) /* the int8 layout (a DequantizeLinear's output): float convs read plain */
        c->fmt_in[0] = FG_FMT_PLAIN;
    for (int k = 1; k < c->n_in; k++)
        c->fmt_in[k] = FG_FMT_PLAIN;
    c->fmt_out[0] = FG_FMT_PLAIN;
    bool ok = x->dtype == FG_F32 && x->rank == 4 && y->dims[1] % 16 == 0 && fg_tensor_numel(y) > 0 &&
              fg_tensor_numel(x) > 0;
    int64_t r = fg_attr_i(c->node, FG_ATTR_RESIDUAL, 0);
    if (ok && r > 0 && r < c->n_in && c->in[r])
        ok = c->in[r]->rank == y->rank && memcmp(c->in[r]->dims, y->dims, sizeof(int64_t) * (size_t)y->rank) == 0;
    conv_geom g;
    fg_err quiet = {0};
    fg_err *keep = c->err;
    c->err = &quiet;
    if (ok && conv_geom_get(c, &g, false) < 0)
        ok = false;
    c->err = keep;
    /* wide depthwise convs after a plain producer take the C kernel, which works on plain planes */
    if (!ok || (dw_ok(&g) && c->fmt_in[0] == FG_FMT_PLAIN)) {
        /* plain output; a blocked input stays blocked (no reorder) unless the C depthwise kernel runs */
        if (!ok && x->dtype == FG_F32 && x->rank == 4 && fg_tensor_numel(y) > 0)
            return;
        c->fmt_in[0] = FG_FMT_PLAIN;
        return;
    }
    c->fmt_out[0] = FG_FMT_NC16;
    if (r > 0 && r < c->n_in)
        c->fmt_in[r] = FG_FMT_NC16;
}

/* Pools run in their input's format (oneDNN pools blocked data natively, and 8-bit data channels-last,
 * which is how the int8 convolutions leave it); Indices need plain. */
static void formats_pool(fg_kctx *c) {
    const fg_tensor *x = c->in[0];
    bool ok = ((x->dtype == FG_F32 && x->dims[1] % 16 == 0) ||
               ((x->dtype == FG_U8 || x->dtype == FG_I8) && c->fmt_in[0] == FG_FMT_NXC)) &&
              x->rank == 4 && !(c->n_out > 1 && c->out[1]);
    int f = ok ? c->fmt_in[0] : FG_FMT_PLAIN;
    c->fmt_in[0] = (uint8_t)f;
    c->fmt_out[0] = (uint8_t)f;
}

const fg_op_def fg_ops_nn[] = {
    {.type = "MatMul", .infer = infer_matmul, .prepare = prepare_matmul, .run = run_matmul, .release = st_free,
     .flags = FG_OP_POSTOPS},
    {.type = "Gemm", .infer = infer_gemm, .prepare = prepare_gemm, .run = run_gemm, .release = st_free,
     .flags = FG_OP_POSTOPS},
    {.type = "Conv", .infer = infer_conv, .prepare = prepare_conv, .run = run_conv, .release = st_free,
     .flags = FG_OP_POSTOPS, .formats = formats_conv},
    {.type = "ConvTranspose", .infer = infer_convt, .prepare = prepare_convt, .run = run_convt, .release = st_free},
    {.type = "MaxPool", .infer = infer_maxpool, .prepare = prepare_maxpool, .run = run_pool, .release = st_free,
     .formats = formats_pool},
    {.type = "AveragePool", .infer = infer_avgpool, .prepare = prepare_avgpool, .run = run_pool, .release = st_free,
     .formats = formats_pool},
    {.type = "GlobalAveragePool", .infer = infer_global_pool, .run = run_gap},
    {.type = "GlobalMaxPool", .infer = infer_global_pool, .run = run_gmp},
    {.type = "BatchNormalization", .infer = infer_bn, .prepare = prepare_bn, .run = run_bn, .release = st_free},
    {.type = "LRN", .infer = infer_lrn, .run = run_lrn},
    {.type = "MatMulInteger", .infer = infer_mmi, .prepare = prepare_mmi, .run = run_mmi, .release = st_free},
    {.type = "ConvInteger", .infer = infer_convi, .prepare = prepare_convi, .run = q_run, .release = st_free,
     .formats = formats_qconv},
    {.type = "QLinearMatMul", .infer = infer_qmm, .prepare = prepare_qmm, .run = q_run, .release = st_free},
    {.type = "QLinearConv", .infer = infer_qconv, .prepare = prepare_qconv, .run = q_run, .release = st_free,
     .formats = formats_qconv},
    {0},
};
