/* ops.h - the contract between the planner and the kernels, and helpers kernels share.
 *
 * An op is described by an fg_op_def. The planner calls, per plan (i.e. per distinct input shape):
 *   infer(c)   - input shapes and dtypes are set (c->in[i]->data is non-NULL only where the value is
 *                known at plan time: constants, folded subgraphs); set c->out[i]'s dtype/rank/dims.
 *                Return FG_ENEEDVALUE with c->need_value = input index when an output shape depends
 *                on an input's value that is not known (the planner then keys plans on it).
 *   prepare(c) - optional; shapes are final. Create primitives, prepack weights into c->state,
 *                request scratch bytes through c->scratch_len. Called once per plan.
 *   run(c)     - compute. in/out data are valid; must not allocate (use state and scratch).
 *   release(s) - optional; frees what prepare put into c->state.
 * Kernels read attributes from c->node (fg_attr_*), honour c->opset for semantics that changed between
 * opsets, and report errors through fg_err_set(c->err, ...) naming the node (fg_node_desc). */
#ifndef FG_ENGINE_OPS_H
#define FG_ENGINE_OPS_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "engine/graph.h"

struct fg_dnnl; /* engine-wide oneDNN handles (engine/dnnl_util.h) */

typedef struct fg_kctx {
    const fg_node *node;
    int opset;
    int n_in, n_out;
    fg_tensor **in;  /* NULL where an optional input is absent */
    fg_tensor **out; /* NULL where an optional output is absent */
    void *state;
    void *scratch;
    size_t scratch_len;
    int n_threads;
    int need_value;
    fg_err *err;
    struct fg_dnnl *dnnl;
    uint8_t *fmt_in;  /* memory format of each input (FG_FMT_*), see fg_op_def.formats */
    uint8_t *fmt_out; /* memory format of each output; FG_FMT_PLAIN unless formats() says otherwise */
} fg_kctx;

/* Memory formats of tensors inside a plan. Tensors crossing the API, constants and inputs are always
 * plain row-major. FG_FMT_NC16 is oneDNN's channel-blocked layout (nChw16c for 4-D, nCw16c, nCdhw16c):
 * [N][C/16][spatial...][16], used only when C is a multiple of 16 so the byte size is unchanged. A chain of
 * convolutions, pools and elementwise ops stays blocked; the planner inserts reorders where a
 * consumer needs plain data. FG_FMT_NXC is channels-last (nwc, nhwc, ndhwc), the layout oneDNN's int8
 * convolutions (brgconv) work in: QLinearConv reads and writes it, and the per-tensor QuantizeLinear /
 * DequantizeLinear and elementwise ops between int8 convolutions keep it, so a quantized CNN reorders
 * only at its ends (resnet18's QDQ graph spent 20% of its time in per-conv reorders). */
enum { FG_FMT_PLAIN = 0, FG_FMT_NC16 = 1, FG_FMT_NXC = 2 };

enum {
    FG_OP_SHAPE_ONLY = 1u << 0, /* run reads only input shapes (Shape, Size): foldable at plan time */
    FG_OP_ALIAS = 1u << 1,      /* output 0 is input 0's bytes reinterpreted (Reshape, Identity, ...) */
    FG_OP_NOFOLD = 1u << 2,     /* never constant-fold (random ops) */
    FG_OP_POSTOPS = 1u << 3,    /* honours the fused post-op attributes below (Conv, MatMul, Gemm) */
    FG_OP_ELEMENTWISE = 1u << 4, /* output[i] depends on input[i] only: when all inputs have the same shape
                                    and format, the planner keeps that format (no reorder) */
};

/* Post-ops that the load-time fusion pass (engine/fuse.c) folds into Conv, MatMul and Gemm nodes whose
 * op declares FG_OP_POSTOPS. The node then computes  y = act(op(x) + bias + residual)  where
 *   attribute "_fg_bias" (int 1): input 2 of MatMul is a constant bias of shape [N] added per column
 *                                 (Conv and Gemm already have their own bias input);
 *   attribute "_fg_residual" (int k): input k is a tensor added to the result (its shape broadcasts
 *                                 to the output's; usually equal, as in residual connections);
 *   attribute "_fg_act" (string): "relu", "leaky_relu" (_fg_alpha), "clip" (_fg_alpha = min,
 *                                 _fg_beta = max), "sigmoid", "tanh", "gelu_erf", applied last.
 * QLinearConv and QLinearMatMul (not FG_OP_POSTOPS: their result is int8) take "_fg_bias" (an int32 [N]
 * input 8 of QLinearMatMul) and "_fg_act" relu/clip from the QDQ fusion (fuse.c, fg_graph_fuse_qdq). */
#define FG_ATTR_BIAS "_fg_bias"
#define FG_ATTR_RESIDUAL "_fg_residual"
#define FG_ATTR_ACT "_fg_act"
#define FG_ATTR_ALPHA "_fg_alpha"
#define FG_ATTR_BETA "_fg_beta"

/* Views and scale a float MatMul takes over from its neighbours (fuse.c, fold_matmul_views):
 *   "_fg_perm_a", "_fg_perm_b" (ints): the operand is input k transposed by this perm (ONNX Transpose
 *                                 semantics), read through strides instead of a copy;
 *   "_fg_perm_y" (ints): the output is the product transposed by this perm, written through strides;
 *   "_fg_scale" (float): the product is multiplied by it (a Div or Mul by a scalar that followed). */
#define FG_ATTR_PERM_A "_fg_perm_a"
#define FG_ATTR_PERM_B "_fg_perm_b"
#define FG_ATTR_PERM_Y "_fg_perm_y"
#define FG_ATTR_SCALE "_fg_scale"

/* Attribute "_fg_qref" (int 1) on an int8 product (MatMulInteger, ConvInteger, QLinearMatMul,
 * QLinearConv) makes it run the C reference loops instead of oneDNN: the tests compare the two. */
#define FG_ATTR_QREF "_fg_qref"

/* Attribute "_fg_dynq" (int 1) on MatMulInteger: the node is the fused dynamic int8 matmul fuse.c makes
 * from DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scales) [-> Add(bias)]; float input 0, int8
 * constant weights 1 (zero point 3), their float scale 4, optional float bias 5; float output, then
 * FG_ATTR_ACT "gelu_erf" when a GELU followed (nn.c). */
#define FG_ATTR_DYNQ "_fg_dynq"

/* Attribute "_fg_act_in" (string "gelu_erf") on a fused dynamic int8 matmul with a float input: GELU is
 * applied to the input inside its quantization (fuse.c moves it there from the producing dynamic
 * matmul), so the GELU output is never written as float. */
#define FG_ATTR_ACT_IN "_fg_act_in"

/* The range of an activation, computed where it is written instead of in a pass of its own (fuse.c,
 * range_from_layernorm): "_fg_range_out" (int k) on LayerNormalization makes output k a float [2] holding
 * min and max of output 0 with 0 included and NaN skipped (DynamicQuantizeLinear's range);
 * "_fg_range_in" (int k) on DynamicQuantizeLinear or a fused dynamic matmul says input k holds that
 * range for its input 0, so its quantization skips the range pass. */
#define FG_ATTR_RANGE_OUT "_fg_range_out"
#define FG_ATTR_RANGE_IN "_fg_range_in"

typedef struct fg_op_def {
    const char *type;
    int (*infer)(fg_kctx *c);
    int (*prepare)(fg_kctx *c);
    int (*run)(fg_kctx *c);
    void (*release)(void *state);
    unsigned flags;
    /* Optional; called by the planner after infer with c->fmt_in holding the current format of each
     * input: set c->fmt_in[k] to the format input k must have (the planner reorders when it differs)
     * and c->fmt_out[k] to the format output k will be written in. Without it, every input is made
     * plain and outputs are plain. */
    void (*formats)(fg_kctx *c);
} fg_op_def;

/* How many leading inputs op `type` must have at `opset` (ONNX's schema); the loader rejects nodes with
 * fewer, so kernels may index those inputs without checking. */
int fg_op_required_inputs(const char *type, int opset);

/* Looks up the kernel for (domain, op_type); NULL when unsupported. */
const fg_op_def *fg_op_find(const char *domain, const char *op_type);

/* Op families, each a table terminated by an entry with type == NULL. */
extern const fg_op_def fg_ops_elementwise[];
extern const fg_op_def fg_ops_reduce[];
extern const fg_op_def fg_ops_shape[];
extern const fg_op_def fg_ops_nn[];
extern const fg_op_def fg_ops_quant[];

/* ---- helpers for kernels ---- */

/* Input i or NULL when absent/out of range. */
static inline fg_tensor *fg_in(fg_kctx *c, int i) { return i < c->n_in ? c->in[i] : NULL; }

/* Sets out's dtype and shape. */
static inline void fg_set_shape(fg_tensor *out, fg_dtype dt, int rank, const int64_t *dims) {
    out->dtype = dt;
    out->rank = rank;
    for (int i = 0; i < rank; i++)
        out->dims[i] = dims[i];
}

/* Copies in's dtype and shape to out. */
static inline void fg_same_shape(fg_tensor *out, const fg_tensor *in) {
    fg_set_shape(out, in->dtype, in->rank, in->dims);
}

/* Computes the numpy-style broadcast of shapes a and b into out (rank and dims). FG_ESHAPE on
 * mismatch (with a message naming the node). */
int fg_broadcast_shape(fg_kctx *c, const fg_tensor *a, const fg_tensor *b, int *rank, int64_t *dims);

/* Normalises a possibly negative axis for rank r; FG_EINVAL (message naming the node) when out of range. */
int fg_norm_axis(fg_kctx *c, int64_t axis, int rank, int *out);

/* Reads int32/int64 input k into v[0..*n), *n <= max (what names it in errors); FG_ENEEDVALUE with
 * c->need_value = k while its value is unknown (an empty tensor is known). Allocates nothing. */
int fg_in_ints(fg_kctx *c, int k, int64_t *v, int max, int *n, const char *what);
/* The same for a float32/float64 input (Resize's scales and roi), read as double. Allocates nothing. */
int fg_in_floats(fg_kctx *c, int k, double *v, int max, int *n, const char *what);

/* Reads element i of an integer tensor (I32 or I64) as int64. */
int64_t fg_tensor_get_i64(const fg_tensor *t, int64_t i);
/* Reads element i of a numeric tensor (F32, I32, I64, BOOL, U8, I8) as double. */
double fg_tensor_get_f64(const fg_tensor *t, int64_t i);

/* Row-major strides of t in elements. */
void fg_strides(const fg_tensor *t, int64_t *strides);

/* Shorthand for errors that name the node. */
#define FG_KERR(c, code, ...) fg_kerr((c), (code), __VA_ARGS__)
int fg_kerr(fg_kctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Saturates an already rounded value v to [lo, hi] as the quantizing ops do; NaN, which ONNX leaves
 * undefined, gives lo. Callers round first (rintf: half to even, as ONNX's reference). */
static inline int32_t fg_quant_sat(float v, int32_t lo, int32_t hi) {
    v = v > (float)lo ? v : (float)lo; /* false for NaN too */
    v = v < (float)hi ? v : (float)hi;
    return (int32_t)v;
}

/* The uint8 scale and zero point DynamicQuantizeLinear picks for values in [lo, hi] (quant.c); shared
 * with the fused dynamic matmul so both quantize identically. */
void fg_dynquant_params(float lo, float hi, float *scale, uint8_t *zp);
/* DynamicQuantizeLinear of float x[0..n) into y on up to n_threads threads (quant.c): the range pass, the
 * parameters above and the rounding pass, vectorised; shared with the fused dynamic matmul (nn.c). */
void fg_dynquant_u8(const float *x, int64_t n, int n_threads, uint8_t *y, float *scale, uint8_t *zero_point);
/* fg_dynquant_u8 for x whose range (min and max, 0 included: FG_ATTR_RANGE_OUT) is known: the rounding
 * pass alone. */
void fg_dynquant_u8_ranged(const float *x, int64_t n, int n_threads, const float range[2], uint8_t *y,
                           float *scale, uint8_t *zero_point);
typedef float fg_v16f __attribute__((vector_size(64)));
typedef float fg_v16f_u __attribute__((vector_size(64), aligned(4), may_alias));
typedef int32_t fg_v16i __attribute__((vector_size(64)));

/* Widens the running range [*lo, *hi] to cover x[0..n), skipping NaN (it fails every compare), as
 * DynamicQuantizeLinear's range needs. Sixteen running lanes as vector compare-and-blend: gcc does not
 * vectorise a scalar min/max reduction (reassociating it is not exact for NaN and -0), which took 11% of
 * bert_mini's dynamic int8 run. Inlined into each ISA clone of its callers (quant.c, reduce.c). */
static inline __attribute__((always_inline)) void fg_range_update(const float *restrict x, int64_t n, float *lo,
                                                                  float *hi) {
    fg_v16f vlo = (fg_v16f){0} + *lo, vhi = (fg_v16f){0} + *hi;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        fg_v16f v = *(const fg_v16f_u *)(x + i);
        fg_v16i ml = v < vlo, mh = v > vhi;
        vlo = (fg_v16f)(((fg_v16i)v & ml) | ((fg_v16i)vlo & ~ml));
        vhi = (fg_v16f)(((fg_v16i)v & mh) | ((fg_v16i)vhi & ~mh));
    }
    float l[16], h[16];
    memcpy(l, &vlo, sizeof l);
    memcpy(h, &vhi, sizeof h);
    for (; i < n; i++) {
        l[0] = x[i] < l[0] ? x[i] : l[0];
        h[0] = x[i] > h[0] ? x[i] : h[0];
    }
    for (int j = 0; j < 16; j++) {
        *lo = l[j] < *lo ? l[j] : *lo;
        *hi = h[j] > *hi ? h[j] : *hi;
    }
}

/* The float [2] range input FG_ATTR_RANGE_IN names, or NULL without the attribute (quant.c). */
int fg_range_input(fg_kctx *c, const float **range);
/* fg_dynquant_u8 of fg_gelu(x[i]) without writing the GELU values anywhere. */
void fg_dynquant_u8_gelu(const float *x, int64_t n, int n_threads, uint8_t *y, float *scale, uint8_t *zero_point);
/* GELU, erf form, x * Phi(x), with erf from Abramowitz & Stegun 7.1.28 (absolute error <= 3e-7 in erf;
 * <= 7e-7 * max(1, |x|) in GELU, tests/unit/engine/ops/quant.c): branch-free and without a division (the
 * reciprocal is a bit-pattern guess refined by three Newton steps, relative error 6e-8), so loops over
 * it vectorise and stay cheap.
 * erf(|z|) is 1 in float beyond |z| = 4, so |z| is capped at 6, which keeps the guess in range. */
static inline __attribute__((always_inline)) float fg_gelu(float x) {
    float ax = x < 0.f ? -x : x, a = ax * 0.70710678118654752f;
    a = a < 6.f ? a : 6.f;
    float p = fmaf(a, 0.0000430638f, 0.0002765672f); /* Horner, fused: ISO C mode contracts nothing */
    p = fmaf(a, p, 0.0001520143f);
    p = fmaf(a, p, 0.0092705272f);
    p = fmaf(a, p, 0.0422820123f);
    p = fmaf(a, p, 0.0705230784f);
    p = fmaf(a, p, 1.f);
    union {
        float f;
        int32_t i;
    } u = {.f = p};
    u.i = 0x7EF311C3 - u.i;
    float t = u.f;
    t = fmaf(t, fmaf(-p, t, 1.f), t);
    t = fmaf(t, fmaf(-p, t, 1.f), t);
    t = fmaf(t, fmaf(-p, t, 1.f), t);
    t *= t; /* p^-2 */
    t *= t; /* p^-4 */
    t *= t; /* p^-8 */
    t *= t; /* p^-16 */
    return fmaf(0.5f * ax, 1.f - t, 0.5f * x); /* x * erf(z) = |x| * erf(|z|) */
}

/* Checks input i is present with one of the allowed dtypes (terminated by 0). */
int fg_check_dtype(fg_kctx *c, int i, const fg_dtype *allowed);

#endif
