/* fuse.c - load-time fusion of post-ops into Conv, MatMul and Gemm (see FG_OP_POSTOPS in ops/ops.h):
 * a following bias Add, residual Add and activation (Relu, Clip, LeakyRelu, Sigmoid, Tanh, and the
 * erf form of GELU that torch exports as Div/Erf/Add/Mul/Mul) become attributes of the producing node,
 * so the result is written once instead of being re-read by every elementwise op. Only single-use
 * intermediate values are fused; graph outputs are never hidden. The second pass (fg_graph_fuse_qdq, at
 * the end) turns QDQ-quantized products back into the int8 ops QLinearConv / QLinearMatMul, residual
 * connections between them into DequantizeAddQuantize, and dynamic-quantization chains into fused
 * dynamic int8 MatMulInteger nodes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/fuse.h"
#include "engine/ops/ops.h"

typedef struct uses {
    int *count; /* live consumers (input occurrences) per value */
    int *last;  /* one consumer node per value */
} uses;

static void count_uses(const fg_graph *g, uses *u) {
    memset(u->count, 0, (size_t)g->n_values * sizeof(int));
    for (int i = 0; i < g->n_nodes; i++) {
        const fg_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0) {
                u->count[n->in[k]]++;
                u->last[n->in[k]] = i;
            }
    }
}

static int single_consumer(const fg_graph *g, const uses *u, int v) {
    if (v < 0 || g->values[v].is_output || u->count[v] != 1)
        return -1;
    return u->last[v];
}

static int producer_of(const fg_graph *g, int v);
static void fold_matmul_views(fg_graph *g, uses *u);

static bool is_op(const fg_node *n, const char *type) {
    return !n->dead && (!n->domain[0] || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, type) == 0;
}

/* The scalar value of a constant, or NAN when v is not a one-element float constant. */
static double const_scalar(const fg_graph *g, int v) {
    if (v < 0 || !g->values[v].is_const || fg_tensor_numel(&g->values[v].t) != 1 || g->values[v].t.dtype != FG_F32)
        return NAN;
    return *(const float *)g->values[v].t.data;
}

static void add_attr(fg_node *n, const char *name, fg_attr_type type, int64_t i, float f, const char *s) {
    n->attrs = fg_xrealloc(n->attrs, (size_t)(n->n_attrs + 1) * sizeof(fg_attr));
    fg_attr *a = &n->attrs[n->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = fg_xstrdup(name);
    a->type = type;
    a->i = i;
    a->f = f;
    if (s) {
        a->s = fg_xstrdup(s);
        a->s_len = strlen(s);
    }
}

static void ensure_inputs(fg_node *n, int count) {
    if (n->n_in >= count)
        return;
    n->in = fg_xrealloc(n->in, (size_t)count * sizeof(int));
    for (int k = n->n_in; k < count; k++)
        n->in[k] = -1;
    n->n_in = count;
}

/* Moves anchor node a into slot c (the consumer being absorbed, which runs after everything the fused
 * node reads) and makes it write c's output; the consumer is discarded. Returns the anchor's new slot. */
static int absorb(fg_graph *g, int a, int c, int out_value) {
    fg_node tmp = g->nodes[c];
    g->values[g->nodes[a].out[0]].producer = -1;
    g->nodes[c] = g->nodes[a];
    g->nodes[a] = tmp;
    g->nodes[a].dead = true;
    g->nodes[c].out[0] = out_value;
    g->values[out_value].producer = c;
    return c;
}

/* Matches torch's GELU: v/√2 → Erf → +1 → ×v → ×0.5 (Mul operands in either order). On a match,
 * returns the last Mul's node and fills kill[0..3] with the other four nodes. */
static int match_gelu(const fg_graph *g, const uses *u, int v, int kill[4]) {
    if (u->count[v] != 2 || g->values[v].is_output)
        return -1;
    int d = -1;
    for (int i = 0; i < g->n_nodes; i++)
        if (is_op(&g->nodes[i], "Div") && g->nodes[i].n_in == 2 && g->nodes[i].in[0] == v)
            d = i;
    if (d < 0 || fabs(const_scalar(g, g->nodes[d].in[1]) - M_SQRT2) > 1e-3)
        return -1;
    int e = single_consumer(g, u, g->nodes[d].out[0]);
    if (e < 0 || !is_op(&g->nodes[e], "Erf"))
        return -1;
    int a = single_consumer(g, u, g->nodes[e].out[0]);
    if (a < 0 || !is_op(&g->nodes[a], "Add"))
        return -1;
    const fg_node *an = &g->nodes[a];
    int one = an->in[0] == g->nodes[e].out[0] ? an->in[1] : an->in[0];
    if (const_scalar(g, one) != 1.0)
        return -1;
    int m1 = single_consumer(g, u, an->out[0]);
    if (m1 < 0 || !is_op(&g->nodes[m1], "Mul"))
        return -1;
    const fg_node *mn = &g->nodes[m1];
    if (!((mn->in[0] == v && mn->in[1] == an->out[0]) || (mn->in[1] == v && mn->in[0] == an->out[0])))
        return -1;
    int m2 = single_consumer(g, u, mn->out[0]);
    if (m2 < 0 || !is_op(&g->nodes[m2], "Mul"))
        return -1;
    const fg_node *m2n = &g->nodes[m2];
    int half = m2n->in[0] == mn->out[0] ? m2n->in[1] : m2n->in[0];
    if (const_scalar(g, half) != 0.5)
        return -1;
    kill[0] = d;
    kill[1] = e;
    kill[2] = a;
    kill[3] = m1;
    return m2;
}

/* Activation of consumer node c, or NULL when it is not one that can be fused. */
static const char *activation(const fg_graph *g, const fg_node *c, float *alpha, float *beta) {
    *alpha = 0;
    *beta = 0;
    if (is_op(c, "Relu"))
        return "relu";
    if (is_op(c, "Sigmoid"))
        return "sigmoid";
    if (is_op(c, "Tanh"))
        return "tanh";
    if (is_op(c, "LeakyRelu")) {
        *alpha = fg_attr_f(c, "alpha", 0.01f);
        return "leaky_relu";
    }
    if (is_op(c, "Clip")) {
        *alpha = -INFINITY;
        *beta = INFINITY;
        if (c->opset < 11) {
            *alpha = fg_attr_f(c, "min", -INFINITY);
            *beta = fg_attr_f(c, "max", INFINITY);
            return "clip";
        }
        for (int k = 1; k < c->n_in && k < 3; k++) {
            if (c->in[k] < 0)
                continue;
            double s = const_scalar(g, c->in[k]);
            if (isnan(s))
                return NULL;
            *(k == 1 ? alpha : beta) = (float)s;
        }
        return "clip";
    }
    return NULL;
}

static int out_features(const fg_graph *g, const fg_node *n) {
    if (n->n_in < 2 || n->in[1] < 0 || !g->values[n->in[1]].is_const)
        return -1;
    const fg_tensor *w = &g->values[n->in[1]].t;
    return w->rank == 2 ? (int)w->dims[1] : -1;
}

int fg_graph_fuse(fg_graph *g, fg_err *e) {
    (void)e;
    uses u = {fg_xcalloc((size_t)g->n_values + 1, sizeof(int)), fg_xcalloc((size_t)g->n_values + 1, sizeof(int))};
    for (int i = 0; i < g->n_nodes; i++) {
        fg_node *n = &g->nodes[i];
        if (n->dead || !n->op || !(n->op->flags & FG_OP_POSTOPS) || fg_attr_get(n, FG_ATTR_ACT) ||
            n->n_out < 1 || n->out[0] < 0)
            continue;
        bool is_matmul = is_op(n, "MatMul");
        /* a node moved forward by an earlier absorb is met again: resume after what it already has */
        int a = i, stage = fg_attr_get(n, FG_ATTR_RESIDUAL) ? 2 : fg_attr_get(n, FG_ATTR_BIAS) ? 1 : 0;
        for (;;) {
            count_uses(g, &u);
            fg_node *an = &g->nodes[a];
            int v = an->out[0];
            int c = single_consumer(g, &u, v);
            if (c < 0) {
                int kill[4];
                int m2 = stage <= 2 && is_matmul ? match_gelu(g, &u, v, kill) : -1;
                if (m2 < 0)
                    break;
                add_attr(an, FG_ATTR_ACT, FG_ATTR_STRING, 0, 0, "gelu_erf");
                for (int k = 0; k < 4; k++)
                    g->nodes[kill[k]].dead = true;
                absorb(g, a, m2, g->nodes[m2].out[0]);
                break;
            }
            fg_node *cn = &g->nodes[c];
            float alpha, beta;
            const char *act;
            if (stage == 0 && is_matmul && is_op(cn, "Add") && cn->n_in == 2) {
                int other = cn->in[0] == v ? cn->in[1] : cn->in[0];
                int nf = out_features(g, an);
                const fg_value *ov = &g->values[other];
                if (other != v && nf > 0 && ov->is_const && ov->t.dtype == FG_F32 && fg_tensor_numel(&ov->t) == nf &&
                    ov->t.rank >= 1 && ov->t.dims[ov->t.rank - 1] == nf) {
                    ensure_inputs(an, 3);
                    an->in[2] = other;
                    add_attr(an, FG_ATTR_BIAS, FG_ATTR_INT, 1, 0, NULL);
                    a = absorb(g, a, c, cn->out[0]);
                    stage = 1;
                    continue;
                }
            }
            if (stage <= 1 && is_op(cn, "Add") && cn->n_in == 2 && cn->in[0] != cn->in[1]) {
                int other = cn->in[0] == v ? cn->in[1] : cn->in[0];
                if (!g->values[other].is_const) {
                    ensure_inputs(an, 4);
                    an->in[3] = other;
                    add_attr(an, FG_ATTR_RESIDUAL, FG_ATTR_INT, 3, 0, NULL);
                    a = absorb(g, a, c, cn->out[0]);
                    stage = 2;
                    continue;
                }
            }
            if (stage <= 2 && (act = activation(g, cn, &alpha, &beta))) {
                add_attr(an, FG_ATTR_ACT, FG_ATTR_STRING, 0, 0, act);
                add_attr(an, FG_ATTR_ALPHA, FG_ATTR_FLOAT, 0, alpha, NULL);
                add_attr(an, FG_ATTR_BETA, FG_ATTR_FLOAT, 0, beta, NULL);
                absorb(g, a, c, cn->out[0]);
            }
            break;
        }
    }
    fold_matmul_views(g, &u);
    free(u.count);
    free(u.last);
    fg_graph_count_uses(g);
    return 0;
}

/* ------------------------------------------------------------------------------------------------------
 * Layout shuffles around float MatMuls. A BERT-style encoder splits heads out of the hidden size with
 * Reshape -> Transpose before Q·Kᵀ and P·V and merges them back with Transpose -> Reshape: each Transpose
 * copies a whole [batch·seq, hidden] activation, and the Div by √d after Q·Kᵀ is one more pass over the
 * scores. oneDNN's matmul reads and writes strided views as fast as dense ones, so a Transpose feeding
 * only a MatMul operand, or reading only a MatMul's result, becomes a permutation of that operand's
 * strides (FG_ATTR_PERM_A/B/Y), and a Div or Mul by a float scalar after it the product's scale.
 * ------------------------------------------------------------------------------------------------------ */

static void add_ints_attr(fg_node *n, const char *name, const int64_t *v, int len) {
    add_attr(n, name, FG_ATTR_INTS, 0, 0, NULL);
    fg_attr *a = &n->attrs[n->n_attrs - 1];
    a->ints = fg_xcalloc((size_t)len, sizeof(int64_t));
    memcpy(a->ints, v, (size_t)len * sizeof(int64_t));
    a->n_ints = (size_t)len;
}

/* The perm of Transpose node t when it is an explicit permutation of rank >= 2 that leaves the source's
 * innermost dim among the last two (one unit-stride dim per matrix, which oneDNN's kernels need);
 * returns its length, or -1. */
static int view_perm(const fg_node *t, const int64_t **perm) {
    int r = fg_attr_ints(t, "perm", perm);
    if (r < 2 || r > FG_MAX_RANK || t->n_in != 1 || t->n_out != 1)
        return -1;
    unsigned seen = 0;
    for (int i = 0; i < r; i++) {
        if ((*perm)[i] < 0 || (*perm)[i] >= r || (seen >> (*perm)[i] & 1u))
            return -1;
        seen |= 1u << (*perm)[i];
    }
    return (*perm)[r - 1] == r - 1 || (*perm)[r - 2] == r - 1 ? r : -1;
}

static bool has_postops(const fg_node *n) {
    return fg_attr_get(n, FG_ATTR_BIAS) || fg_attr_get(n, FG_ATTR_RESIDUAL) || fg_attr_get(n, FG_ATTR_ACT);
}

static void fold_matmul_views(fg_graph *g, uses *u) {
    static const char *const perm_attr[2] = {FG_ATTR_PERM_A, FG_ATTR_PERM_B};
    for (int i = 0; i < g->n_nodes; i++) {
        if (!is_op(&g->nodes[i], "MatMul") || g->nodes[i].n_in < 2)
            continue;
        count_uses(g, u);
        for (int k = 0; k < 2; k++) {
            fg_node *n = &g->nodes[i];
            int v = n->in[k], t = producer_of(g, v);
            const int64_t *perm;
            int r;
            if (t < 0 || !is_op(&g->nodes[t], "Transpose") || fg_attr_get(n, perm_attr[k]) ||
                single_consumer(g, u, v) != i || (r = view_perm(&g->nodes[t], &perm)) < 0 || n->in[0] == n->in[1])
                continue;
            add_ints_attr(n, perm_attr[k], perm, r);
            n->in[k] = g->nodes[t].in[0];
            g->nodes[t].dead = true;
            count_uses(g, u);
        }
        /* the result's consumers: one Transpose keeping the last dim last, and one scalar scale, any order */
        int a = i;
        for (;;) {
            fg_node *n = &g->nodes[a];
            if (has_postops(n))
                break;
            int c = single_consumer(g, u, n->out[0]);
            if (c < 0)
                break;
            fg_node *cn = &g->nodes[c];
            const int64_t *perm;
            int r;
            if (is_op(cn, "Transpose") && !fg_attr_get(n, FG_ATTR_PERM_Y) && (r = view_perm(cn, &perm)) >= 0 &&
                perm[r - 1] == r - 1) {
                add_ints_attr(n, FG_ATTR_PERM_Y, perm, r);
                a = absorb(g, a, c, cn->out[0]);
            } else if ((is_op(cn, "Div") || is_op(cn, "Mul")) && cn->n_in == 2 && !fg_attr_get(n, FG_ATTR_SCALE)) {
                /* a rank-0 constant only, so the result keeps the product's rank */
                int other = cn->in[0] == n->out[0] ? cn->in[1] : cn->in[0];
                double k = const_scalar(g, other);
                if (other == n->out[0] || (is_op(cn, "Div") && other == cn->in[0]) || !isfinite(k) || k == 0 ||
                    g->values[other].t.rank != 0)
                    break;
                add_attr(n, FG_ATTR_SCALE, FG_ATTR_FLOAT, 0, is_op(cn, "Div") ? (float)(1.0 / k) : (float)k, NULL);
                a = absorb(g, a, c, cn->out[0]);
            } else {
                break;
            }
            count_uses(g, u);
        }
    }
}

/* ------------------------------------------------------------------------------------------------------
 * QDQ fusion. A QDQ-format model (ONNX Runtime's quantize_static with QuantFormat.QDQ, TensorRT-style
 * exports) keeps float ops and marks the quantization with QuantizeLinear/DequantizeLinear pairs:
 *     x_q -> DequantizeLinear -> Conv/MatMul/Gemm <- DequantizeLinear <- W_q (constant int8)
 *            (-> bias Add) (-> Relu/Clip) -> QuantizeLinear -> y_q
 * Run as written, the weights' DequantizeLinear is folded to float at load and the product runs in
 * float between a dequantize and a quantize pass. This pass rewrites each such chain into one
 * QLinearConv or QLinearMatMul (the int8 oneDNN primitive with per-channel weight scales, ops/nn.c),
 * with the bias quantized to int32 at x_scale * w_scale and the activation folded into the output
 * range. It runs before constant folding, while the int8 weights are still there.
 * ------------------------------------------------------------------------------------------------------ */

/* A DequantizeLinear feeding a product: its node and its inputs' value indices (z -1 when absent). */
typedef struct dq_in {
    int node, q, s, z;
    fg_dtype dt; /* the quantized type: uint8 or int8 */
} dq_in;

static const fg_value *const_val(const fg_graph *g, int v) {
    return v >= 0 && g->values[v].is_const ? &g->values[v] : NULL;
}

/* Matches a DequantizeLinear producing v with constant float scale and constant uint8/int8 zero point,
 * per tensor, or (per_axis > 0) per channel: per_axis values along axis `axis` of a constant input. */
static bool match_dq(const fg_graph *g, int v, bool want_const, int64_t per_axis, int axis, dq_in *d) {
    if (v < 0 || g->values[v].producer < 0)
        return false;
    const fg_node *n = &g->nodes[g->values[v].producer];
    if (!is_op(n, "DequantizeLinear") || n->n_in < 2 || n->in[0] < 0 || n->n_out < 1)
        return false;
    d->node = g->values[v].producer;
    d->q = n->in[0];
    d->s = n->in[1];
    d->z = n->n_in > 2 ? n->in[2] : -1;
    const fg_value *q = const_val(g, d->q), *s = const_val(g, d->s), *z = const_val(g, d->z);
    if (want_const != (q != NULL) || !s || s->t.dtype != FG_F32 || (d->z >= 0 && !z))
        return false;
    if (z)
        d->dt = z->t.dtype;
    else if (q)
        d->dt = q->t.dtype;
    else
        return false; /* no zero point and a run-time input: the type is not known before planning */
    if ((d->dt != FG_U8 && d->dt != FG_I8) || (q && q->t.dtype != d->dt))
        return false;
    int64_t ns = fg_tensor_numel(&s->t);
    if (z && fg_tensor_numel(&z->t) != ns)
        return false;
    if (ns == 1 && s->t.rank <= 1)
        return true;
    if (per_axis <= 0 || s->t.rank != 1 || ns != per_axis || !q)
        return false;
    int64_t ax = fg_attr_i(n, "axis", 1);
    if (ax < 0)
        ax += q->t.rank;
    return ax == axis;
}

/* Scale i of a per-tensor or per-channel scale value. */
static float scale_at(const fg_graph *g, int s, int64_t i) {
    const fg_tensor *t = &g->values[s].t;
    return ((const float *)t->data)[fg_tensor_numel(t) == 1 ? 0 : i];
}

/* Float bias values of v for n channels: a float constant of n values, or a DequantizeLinear of a
 * constant int32 tensor (how QDQ exports keep biases). NULL when v is neither; malloc'd (caller frees). */
static double *bias_values(const fg_graph *g, int v, int64_t n) {
    const fg_value *b = const_val(g, v);
    double *out = NULL;
    if (b && b->t.dtype == FG_F32 && fg_tensor_numel(&b->t) == n && b->t.rank >= 1 && b->t.dims[b->t.rank - 1] == n) {
        out = fg_xmalloc((size_t)n * sizeof(double));
        for (int64_t i = 0; i < n; i++)
            out[i] = ((const float *)b->t.data)[i];
        return out;
    }
    if (v < 0 || g->values[v].producer < 0)
        return NULL;
    const fg_node *d = &g->nodes[g->values[v].producer];
    if (!is_op(d, "DequantizeLinear") || d->n_in < 2)
        return NULL;
    const fg_value *q = const_val(g, d->in[0]), *s = const_val(g, d->in[1]);
    const fg_value *z = d->n_in > 2 ? const_val(g, d->in[2]) : NULL;
    if (!q || !s || q->t.dtype != FG_I32 || fg_tensor_numel(&q->t) != n || q->t.rank < 1 ||
        q->t.dims[q->t.rank - 1] != n || s->t.dtype != FG_F32 ||
        (d->n_in > 2 && d->in[2] >= 0 && !z))
        return NULL;
    int64_t ns = fg_tensor_numel(&s->t);
    if (ns != 1 && ns != n)
        return NULL;
    out = fg_xmalloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        double zp = z ? fg_tensor_get_f64(&z->t, fg_tensor_numel(&z->t) == 1 ? 0 : i) : 0;
        out[i] = (((const int32_t *)q->t.data)[i] - zp) * ((const float *)s->t.data)[ns == 1 ? 0 : i];
    }
    return out;
}

/* A new constant value owning data. */
static int new_const(fg_graph *g, const char *base, const char *suffix, fg_dtype dt, int rank, const int64_t *dims,
                     void *data) {
    char nm[512];
    snprintf(nm, sizeof nm, "%s/%s", base, suffix);
    int v = fg_graph_add_value(g, nm);
    fg_value *x = &g->values[v];
    x->is_const = true;
    x->t.dtype = dt;
    x->t.rank = rank;
    for (int i = 0; i < rank; i++)
        x->t.dims[i] = dims[i];
    x->t.data = data;
    return v;
}

/* Tries to rewrite the chain whose product is node p; true when it did. */
static bool fuse_qdq_at(fg_graph *g, uses *u, int p) {
    fg_node *pn = &g->nodes[p];
    bool conv = is_op(pn, "Conv"), gemm = is_op(pn, "Gemm"), mm = is_op(pn, "MatMul");
    if ((!conv && !gemm && !mm) || pn->n_in < 2 || pn->n_out < 1 || pn->out[0] < 0)
        return false;
    const fg_value *wq0 = NULL;
    dq_in dx, dw;
    /* the weights: constant, 2-D for the products; per channel along the output-feature axis */
    if (pn->in[1] < 0 || g->values[pn->in[1]].producer < 0)
        return false;
    {
        const fg_node *wd = &g->nodes[g->values[pn->in[1]].producer];
        if (!is_op(wd, "DequantizeLinear") || wd->n_in < 2 || !(wq0 = const_val(g, wd->in[0])))
            return false;
    }
    bool trans_b = gemm && fg_attr_i(pn, "transB", 0);
    if (!conv && wq0->t.rank != 2)
        return false;
    int64_t n_out = conv ? wq0->t.dims[0] : trans_b ? wq0->t.dims[0] : wq0->t.dims[1];
    int w_axis = conv || trans_b ? 0 : 1;
    if (!match_dq(g, pn->in[0], false, 0, 0, &dx) || !match_dq(g, pn->in[1], true, n_out, w_axis, &dw))
        return false;
    if (gemm && (fg_attr_i(pn, "transA", 0) || fg_attr_f(pn, "alpha", 1.f) != 1.f ||
                 (pn->n_in > 2 && pn->in[2] >= 0 && fg_attr_f(pn, "beta", 1.f) != 1.f)))
        return false;
    /* the chain after the product: single-use float values up to the QuantizeLinear */
    int cur = pn->out[0], bias_v = conv || gemm ? (pn->n_in > 2 ? pn->in[2] : -1) : -1;
    int kill[3], n_kill = 0;
    int c = single_consumer(g, u, cur);
    if (c >= 0 && mm && is_op(&g->nodes[c], "Add") && g->nodes[c].n_in == 2) {
        const fg_node *an = &g->nodes[c];
        int other = an->in[0] == cur ? an->in[1] : an->in[0];
        double *bv = other != cur ? bias_values(g, other, n_out) : NULL;
        if (bv) { /* a bias row: [N] broadcast over the rows */
            free(bv);
            bias_v = other;
            kill[n_kill++] = c;
            cur = an->out[0];
            c = single_consumer(g, u, cur);
        }
    }
    const char *act = NULL;
    float alpha = 0, beta = 0;
    if (c >= 0 && (is_op(&g->nodes[c], "Relu") || is_op(&g->nodes[c], "Clip"))) {
        act = activation(g, &g->nodes[c], &alpha, &beta);
        if (!act)
            return false;
        kill[n_kill++] = c;
        cur = g->nodes[c].out[0];
        c = single_consumer(g, u, cur);
    }
    if (c < 0 || !is_op(&g->nodes[c], "QuantizeLinear") || g->nodes[c].n_in < 2 || g->nodes[c].in[0] != cur)
        return false;
    fg_node *qn = &g->nodes[c];
    const fg_value *ys = const_val(g, qn->in[1]), *yz = qn->n_in > 2 ? const_val(g, qn->in[2]) : NULL;
    if (!ys || ys->t.dtype != FG_F32 || fg_tensor_numel(&ys->t) != 1 || (qn->n_in > 2 && qn->in[2] >= 0 && !yz) ||
        (yz && ((yz->t.dtype != FG_U8 && yz->t.dtype != FG_I8) || fg_tensor_numel(&yz->t) != 1)))
        return false;
    if (yz && fg_attr_i(qn, "saturate", 1) != 1)
        return false;
    /* the bias, quantized to int32 with scale x_scale * w_scale[i] as the int8 ops take it */
    int32_t *bq = NULL;
    if (bias_v >= 0) {
        double *bv = bias_values(g, bias_v, n_out);
        if (!bv)
            return false;
        bq = fg_xmalloc((size_t)n_out * sizeof(int32_t));
        bool ok = true;
        for (int64_t i = 0; i < n_out && ok; i++) {
            double sc = (float)(scale_at(g, dx.s, 0) * scale_at(g, dw.s, i)), r = nearbyint(bv[i] / sc);
            ok = sc > 0 && r >= INT32_MIN && r <= INT32_MAX;
            bq[i] = ok ? (int32_t)r : 0;
        }
        free(bv);
        if (!ok) {
            free(bq);
            return false;
        }
    }

    /* rewrite: the QuantizeLinear's slot becomes the fused node (it runs after everything it reads) */
    const char *base = g->values[qn->out[0]].name;
    int w_in = dw.q, xz = dx.z, wz = dw.z, yzv = qn->n_in > 2 ? qn->in[2] : -1;
    if (trans_b) { /* QLinearMatMul takes B as [K, N] */
        const fg_tensor *wt = &g->values[dw.q].t;
        int64_t N = wt->dims[0], K = wt->dims[1], d[2] = {K, N};
        uint8_t *t = fg_xmalloc((size_t)(K * N) + 1);
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < N; n++)
                t[k * N + n] = ((const uint8_t *)wt->data)[n * K + k];
        w_in = new_const(g, base, "qdq_wT", wt->dtype, 2, d, t);
    }
    if (xz < 0)
        xz = new_const(g, base, "qdq_xz", dx.dt, 0, NULL, fg_xcalloc(1, 1));
    if (wz < 0)
        wz = new_const(g, base, "qdq_wz", dw.dt, 0, NULL, fg_xcalloc(1, 1));
    if (yzv < 0)
        yzv = new_const(g, base, "qdq_yz", FG_U8, 0, NULL, fg_xcalloc(1, 1));
    int bqv = -1;
    if (bq) {
        int64_t d[1] = {n_out};
        bqv = new_const(g, base, "qdq_bias", FG_I32, 1, d, bq);
    }
    pn = &g->nodes[p]; /* values may have moved, nodes not; refresh anyway */
    qn = &g->nodes[c];
    int in[9] = {dx.q, dx.s, xz, w_in, dw.s, wz, qn->in[1], yzv, bqv};
    for (int k = 0; k < qn->n_attrs; k++)
        fg_attr_free(&qn->attrs[k]);
    free(qn->attrs);
    /* the product's attributes carry over (Conv's geometry; MatMul has none; Gemm's are all checked) */
    qn->attrs = conv ? pn->attrs : NULL;
    qn->n_attrs = conv ? pn->n_attrs : 0;
    if (conv) {
        pn->attrs = NULL;
        pn->n_attrs = 0;
    }
    free(qn->op_type);
    qn->op_type = fg_xstrdup(conv ? "QLinearConv" : "QLinearMatMul");
    free(qn->domain);
    qn->domain = fg_xstrdup("");
    qn->op = fg_op_find("", qn->op_type);
    qn->n_in = bqv >= 0 ? 9 : 8;
    qn->in = fg_xrealloc(qn->in, 9 * sizeof(int));
    memcpy(qn->in, in, 9 * sizeof(int));
    if (bqv >= 0 && !conv)
        add_attr(qn, FG_ATTR_BIAS, FG_ATTR_INT, 1, 0, NULL);
    if (act) {
        add_attr(qn, FG_ATTR_ACT, FG_ATTR_STRING, 0, 0, act);
        add_attr(qn, FG_ATTR_ALPHA, FG_ATTR_FLOAT, 0, alpha, NULL);
        add_attr(qn, FG_ATTR_BETA, FG_ATTR_FLOAT, 0, beta, NULL);
    }
    g->nodes[p].dead = true;
    g->values[g->nodes[p].out[0]].producer = -1;
    for (int k = 0; k < n_kill; k++) {
        g->nodes[kill[k]].dead = true;
        g->values[g->nodes[kill[k]].out[0]].producer = -1;
    }
    /* DequantizeLinears (and a bias one) that fed only the product are gone too */
    count_uses(g, u);
    int dqs[3] = {dx.node, dw.node, bias_v >= 0 ? g->values[bias_v].producer : -1};
    for (int k = 0; k < 3; k++) {
        if (dqs[k] < 0 || g->nodes[dqs[k]].dead)
            continue;
        int o = g->nodes[dqs[k]].out[0];
        if (!g->values[o].is_output && u->count[o] == 0) {
            g->nodes[dqs[k]].dead = true;
            g->values[o].producer = -1;
        }
    }
    return true;
}

/* The node producing v, or -1. */
static int producer_of(const fg_graph *g, int v) { return v >= 0 ? g->values[v].producer : -1; }

/* Kills node k when nothing reads its outputs any more (a DynamicQuantizeLinear shared by several
 * products, or the scale product, stays while others use it). */
static void kill_if_unused(fg_graph *g, uses *u, int k) {
    if (k < 0 || g->nodes[k].dead)
        return;
    count_uses(g, u);
    const fg_node *n = &g->nodes[k];
    for (int o = 0; o < n->n_out; o++)
        if (n->out[o] >= 0 && (g->values[n->out[o]].is_output || u->count[n->out[o]]))
            return;
    g->nodes[k].dead = true;
    for (int o = 0; o < n->n_out; o++)
        if (n->out[o] >= 0)
            g->values[n->out[o]].producer = -1;
}

/* Dynamic quantization (`frugal quantize --mode dynamic`, ONNX Runtime's quantize_dynamic) writes each
 * MatMul as
 *     x -> DynamicQuantizeLinear -> (x_q, x_scale, x_zp) -> MatMulInteger(x_q, W_q, x_zp) -> Cast(float)
 *       -> Mul(., Mul(x_scale, w_scale)) [-> Add(bias)]
 * whose zero point is known only at run time. Tries to rewrite the chain whose MatMulInteger is node p
 * into one MatMulInteger with FG_ATTR_DYNQ (ops.h), which quantizes x itself and runs oneDNN with run-time
 * zero point and scales; true when it did. */
static bool fuse_dynq_at(fg_graph *g, uses *u, int p) {
    const fg_node *mn = &g->nodes[p];
    if (!is_op(mn, "MatMulInteger") || mn->n_in < 3 || mn->n_out != 1 || mn->out[0] < 0 || fg_attr_i(mn, FG_ATTR_DYNQ, 0))
        return false;
    int dq = producer_of(g, mn->in[0]);
    if (dq < 0 || !is_op(&g->nodes[dq], "DynamicQuantizeLinear") || g->nodes[dq].n_out < 3)
        return false;
    const fg_node *dn = &g->nodes[dq];
    if (dn->out[0] != mn->in[0] || dn->out[2] != mn->in[2] || dn->out[1] < 0)
        return false;
    const fg_value *w = const_val(g, mn->in[1]);
    int wz = mn->n_in > 3 ? mn->in[3] : -1;
    if (!w || w->t.rank != 2 || (w->t.dtype != FG_I8 && w->t.dtype != FG_U8) || (wz >= 0 && !const_val(g, wz)))
        return false;
    int64_t n_out = w->t.dims[1];
    /* Cast to float */
    int ca = single_consumer(g, u, mn->out[0]);
    if (ca < 0 || !is_op(&g->nodes[ca], "Cast") || fg_attr_i(&g->nodes[ca], "to", 0) != 1)
        return false;
    /* Mul by x_scale * w_scale */
    int mu = single_consumer(g, u, g->nodes[ca].out[0]);
    if (mu < 0 || !is_op(&g->nodes[mu], "Mul") || g->nodes[mu].n_in != 2)
        return false;
    int yf = g->nodes[ca].out[0];
    int s_all = g->nodes[mu].in[0] == yf ? g->nodes[mu].in[1] : g->nodes[mu].in[0];
    int sm = producer_of(g, s_all);
    if (s_all == yf || sm < 0 || !is_op(&g->nodes[sm], "Mul") || g->nodes[sm].n_in != 2)
        return false;
    const fg_node *smn = &g->nodes[sm];
    int xs = dn->out[1];
    int ws = smn->in[0] == xs ? smn->in[1] : smn->in[1] == xs ? smn->in[0] : -1;
    const fg_value *wsv = const_val(g, ws);
    if (!wsv || wsv->t.dtype != FG_F32 || wsv->t.rank > 1 ||
        (fg_tensor_numel(&wsv->t) != 1 && fg_tensor_numel(&wsv->t) != n_out))
        return false;
    /* an optional bias row: Add of a float constant [N] */
    int last = mu, bias = -1, cur = g->nodes[mu].out[0];
    int ad = single_consumer(g, u, cur);
    if (ad >= 0 && is_op(&g->nodes[ad], "Add") && g->nodes[ad].n_in == 2) {
        const fg_node *an = &g->nodes[ad];
        int other = an->in[0] == cur ? an->in[1] : an->in[0];
        const fg_value *b = const_val(g, other);
        if (other != cur && b && b->t.dtype == FG_F32 && fg_tensor_numel(&b->t) == n_out && b->t.rank >= 1 &&
            b->t.dims[b->t.rank - 1] == n_out) {
            bias = other;
            last = ad;
            cur = an->out[0];
        }
    }
    /* then an optional GELU (the feed-forward layers of BERT), as the float post-op fusion does, or else
     * a residual Add of a run-time value (BERT's attention output and second feed-forward layer) */
    int gk[4], ge = match_gelu(g, u, cur, gk), res = -1, ra = -1;
    if (ge < 0 && (ra = single_consumer(g, u, cur)) >= 0 && is_op(&g->nodes[ra], "Add") && g->nodes[ra].n_in == 2) {
        const fg_node *an = &g->nodes[ra];
        int other = an->in[0] == cur ? an->in[1] : an->in[0];
        if (other != cur && other >= 0 && !const_val(g, other))
            res = other;
    }
    /* rewrite: the last absorbed node's slot (it runs after everything the fused node reads). A
     * DynamicQuantizeLinear that feeds other nodes too stays, and the fused node reads its outputs
     * (quantizing once for BERT's Q, K and V); a private one is absorbed. */
    bool shared = u->count[dn->out[0]] > 1 || u->count[dn->out[2]] > 1;
    int x = shared ? dn->out[0] : dn->in[0], w_in = mn->in[1], xsv = dn->out[1], xzv = dn->out[2];
    fg_node *ln = &g->nodes[last];
    for (int k = 0; k < ln->n_attrs; k++)
        fg_attr_free(&ln->attrs[k]);
    free(ln->attrs);
    ln->attrs = NULL;
    ln->n_attrs = 0;
    free(ln->op_type);
    ln->op_type = fg_xstrdup("MatMulInteger");
    free(ln->domain);
    ln->domain = fg_xstrdup("");
    ln->op = fg_op_find("", ln->op_type);
    int in[9] = {x, w_in, -1, wz, ws, bias, res, shared ? xsv : -1, shared ? xzv : -1};
    ln->n_in = shared ? 9 : res >= 0 ? 7 : bias >= 0 ? 6 : 5;
    ln->in = fg_xrealloc(ln->in, 9 * sizeof(int));
    memcpy(ln->in, in, 9 * sizeof(int));
    add_attr(ln, FG_ATTR_DYNQ, FG_ATTR_INT, 1, 0, NULL);
    int kill[8] = {p, ca, last == mu ? -1 : mu, -1, -1, -1, -1, -1};
    if (res >= 0) {
        /* the residual Add's slot becomes the fused node (the residual may be computed after `last`) */
        int pre = g->nodes[last].out[0];
        fg_node tmp = g->nodes[last];
        g->nodes[last] = g->nodes[ra];
        g->nodes[ra] = tmp;
        g->nodes[ra].out[0] = g->nodes[last].out[0];
        g->nodes[last].out[0] = pre;
        g->values[g->nodes[ra].out[0]].producer = ra;
        kill[3] = last;
    }
    if (ge >= 0) {
        /* the GELU's last Mul becomes the fused node: it writes the chain's output */
        int pre = g->nodes[last].out[0];
        fg_node tmp = g->nodes[last];
        g->nodes[last] = g->nodes[ge];
        g->nodes[ge] = tmp;
        g->nodes[ge].out[0] = g->nodes[last].out[0];
        g->nodes[last].out[0] = pre; /* killed below with the rest of the GELU */
        g->values[g->nodes[ge].out[0]].producer = ge;
        add_attr(&g->nodes[ge], FG_ATTR_ACT, FG_ATTR_STRING, 0, 0, "gelu_erf");
        kill[3] = last;
        for (int k = 0; k < 4; k++)
            kill[4 + k] = gk[k];
    }
    for (int k = 0; k < 8; k++)
        if (kill[k] >= 0) {
            g->nodes[kill[k]].dead = true;
            g->values[g->nodes[kill[k]].out[0]].producer = -1;
        }
    kill_if_unused(g, u, sm);
    kill_if_unused(g, u, dq);
    return true;
}

/* Tries to rewrite  r = [Relu](DequantizeLinear(a) + b),  y = QuantizeLinear(r)  (per-tensor constant
 * parameters), whose QuantizeLinear is node q, into one DequantizeAddQuantize (ops/quant.c) writing r
 * (where anything else reads it) and y: the residual connections of a QDQ CNN, which keep the float
 * stream b and otherwise run as four float passes between the int8 convolutions. True when it did. */
static bool fuse_qadd_at(fg_graph *g, uses *u, int q) {
    const fg_node *qn = &g->nodes[q];
    if (!is_op(qn, "QuantizeLinear") || qn->n_in < 2 || qn->n_out != 1 || qn->out[0] < 0 || qn->in[0] < 0 ||
        !fg_op_find("", "DequantizeAddQuantize"))
        return false;
    const fg_value *ys = const_val(g, qn->in[1]), *yz = qn->n_in > 2 ? const_val(g, qn->in[2]) : NULL;
    if (!ys || ys->t.dtype != FG_F32 || fg_tensor_numel(&ys->t) != 1 || ys->t.rank > 1 ||
        (qn->n_in > 2 && qn->in[2] >= 0 && !yz) ||
        (yz && ((yz->t.dtype != FG_U8 && yz->t.dtype != FG_I8) || fg_tensor_numel(&yz->t) != 1)) ||
        (yz && fg_attr_i(qn, "saturate", 1) != 1))
        return false;
    int r = qn->in[0], rp = producer_of(g, r), add = rp, relu = -1;
    if (rp >= 0 && is_op(&g->nodes[rp], "Relu") && g->nodes[rp].n_in == 1) {
        relu = rp;
        add = producer_of(g, g->nodes[rp].in[0]);
        if (single_consumer(g, u, g->nodes[rp].in[0]) != relu)
            return false;
    }
    if (add < 0 || !is_op(&g->nodes[add], "Add") || g->nodes[add].n_in != 2 || g->nodes[add].n_out != 1)
        return false;
    const fg_node *an = &g->nodes[add];
    dq_in da;
    int k = match_dq(g, an->in[0], false, 0, 0, &da) ? 0 : match_dq(g, an->in[1], false, 0, 0, &da) ? 1 : -1;
    if (k < 0 || an->in[1 - k] < 0 || an->in[0] == an->in[1])
        return false;
    int b = an->in[1 - k];
    dq_in db; /* b = DequantizeLinear(b_q) (QDQ on both inputs of the Add): read b_q, 1 byte instead of 4 */
    bool bq = match_dq(g, b, false, 0, 0, &db) && db.z >= 0;
    /* rewrite: the slot producing r (after everything it reads, before everything reading r or y) */
    const char *base = g->values[qn->out[0]].name;
    int yzv = qn->n_in > 2 ? qn->in[2] : -1, ysv = qn->in[1], y = qn->out[0];
    if (yzv < 0)
        yzv = new_const(g, base, "qadd_yz", FG_U8, 0, NULL, fg_xcalloc(1, 1));
    g->nodes[q].dead = true; /* y's producer is set again below */
    if (relu >= 0) {
        g->nodes[add].dead = true;
        g->values[g->nodes[add].out[0]].producer = -1;
    }
    fg_node *n = &g->nodes[rp];
    int in[8] = {da.q, da.s, da.z, bq ? db.q : b, ysv, yzv, bq ? db.s : -1, bq ? db.z : -1};
    for (int j = 0; j < n->n_attrs; j++)
        fg_attr_free(&n->attrs[j]);
    free(n->attrs);
    n->attrs = NULL;
    n->n_attrs = 0;
    free(n->op_type);
    n->op_type = fg_xstrdup("DequantizeAddQuantize");
    free(n->domain);
    n->domain = fg_xstrdup("");
    n->op = fg_op_find("", n->op_type);
    n->n_in = bq ? 8 : 6;
    n->in = fg_xrealloc(n->in, 8 * sizeof(int));
    memcpy(n->in, in, 8 * sizeof(int));
    n->n_out = 2;
    n->out = fg_xrealloc(n->out, 2 * sizeof(int));
    n->out[0] = r;
    n->out[1] = y;
    g->values[r].producer = rp;
    g->values[y].producer = rp;
    if (relu >= 0)
        add_attr(n, FG_ATTR_ACT, FG_ATTR_STRING, 0, 0, "relu");
    kill_if_unused(g, u, da.node);
    if (bq)
        kill_if_unused(g, u, db.node);
    count_uses(g, u);
    if (!g->values[r].is_output && u->count[r] == 0) {
        n->out[0] = -1; /* nothing reads the float r (QDQ on the next residual too): not written */
        g->values[r].producer = -1;
    }
    return true;
}

/* Tries to swap  MaxPool(DequantizeLinear(q))  (per tensor, constant positive scale), whose
 * DequantizeLinear is node d, into  DequantizeLinear(MaxPool(q)): the same values, as dequantizing is
 * increasing, with the pool reading 8-bit data (channels-last after an int8 convolution) and the
 * dequantization done on the pooled tensor, 4x smaller in resnet's stem. True when it did. */
static bool swap_dq_pool_at(fg_graph *g, uses *u, int d) {
    dq_in dx;
    const fg_node *dn = &g->nodes[d];
    if (!is_op(dn, "DequantizeLinear") || dn->n_out != 1 || dn->out[0] < 0 ||
        !match_dq(g, dn->out[0], false, 0, 0, &dx) || !(scale_at(g, dx.s, 0) > 0.f))
        return false;
    int v = dn->out[0], p = single_consumer(g, u, v);
    if (p < 0 || !is_op(&g->nodes[p], "MaxPool") || g->nodes[p].n_in != 1 || g->nodes[p].in[0] != v ||
        (g->nodes[p].n_out > 1 && g->nodes[p].out[1] >= 0) || g->nodes[p].out[0] < 0)
        return false;
    /* the pool takes the DequantizeLinear's slot and input, writing v (now the pooled 8-bit tensor); the
     * DequantizeLinear moves to the pool's slot and writes the pool's output */
    int y = g->nodes[p].out[0];
    fg_node tmp = g->nodes[d];
    g->nodes[d] = g->nodes[p];
    g->nodes[p] = tmp;
    g->nodes[d].in[0] = dx.q;
    g->nodes[d].out[0] = v;
    g->nodes[p].in[0] = v;
    g->nodes[p].out[0] = y;
    g->values[v].producer = d;
    g->values[y].producer = p;
    return true;
}

static void remove_attr(fg_node *n, const char *name) {
    for (int k = 0; k < n->n_attrs; k++)
        if (strcmp(n->attrs[k].name, name) == 0) {
            fg_attr_free(&n->attrs[k]);
            n->attrs[k] = n->attrs[--n->n_attrs];
            return;
        }
}

/* A GELU fused into a dynamic matmul whose only reader is another dynamic matmul (BERT's FFN1 -> FFN2)
 * moves into the reader's input quantization (FG_ATTR_ACT_IN): the reader's range and rounding passes
 * compute it on the fly, instead of oneDNN's GELU post-op writing it (a third of FFN1's time there). */
static void gelu_into_dynq(fg_graph *g, uses *u) {
    count_uses(g, u);
    for (int c = 0; c < g->n_nodes; c++) {
        fg_node *cn = &g->nodes[c];
        if (!is_op(cn, "MatMulInteger") || !fg_attr_i(cn, FG_ATTR_DYNQ, 0) || fg_attr_get(cn, FG_ATTR_ACT_IN) ||
            (cn->n_in > 7 && cn->in[7] >= 0))
            continue; /* not fused, already done, or reading a shared DynamicQuantizeLinear's uint8 */
        int x = cn->in[0], p = producer_of(g, x);
        if (p < 0 || single_consumer(g, u, x) != c)
            continue;
        fg_node *pn = &g->nodes[p];
        const char *act = fg_attr_s(pn, FG_ATTR_ACT, NULL);
        if (!is_op(pn, "MatMulInteger") || !fg_attr_i(pn, FG_ATTR_DYNQ, 0) || !act || strcmp(act, "gelu_erf") != 0)
            continue;
        remove_attr(pn, FG_ATTR_ACT);
        add_attr(cn, FG_ATTR_ACT_IN, FG_ATTR_STRING, 0, 0, "gelu_erf");
    }
}

/* A LayerNormalization whose output is quantized dynamically (by a DynamicQuantizeLinear, or inside a
 * fused dynamic matmul: BERT's Q/K/V and FFN1 inputs) writes that output's range too
 * (FG_ATTR_RANGE_OUT), while each row is still in L1; the quantizations read it (FG_ATTR_RANGE_IN)
 * instead of reading the whole activation once more. */
static void range_from_layernorm(fg_graph *g) {
    for (int l = 0; l < g->n_nodes; l++) {
        fg_node *ln = &g->nodes[l];
        if (!is_op(ln, "LayerNormalization") || ln->n_out < 1 || ln->n_out > 3 || ln->out[0] < 0 ||
            fg_attr_get(ln, FG_ATTR_RANGE_OUT))
            continue;
        int y = ln->out[0], rv = -1;
        for (int c = 0; c < g->n_nodes; c++) {
            fg_node *cn = &g->nodes[c];
            bool dql = is_op(cn, "DynamicQuantizeLinear") && cn->n_in == 1 && cn->in[0] == y;
            bool dynq = is_op(cn, "MatMulInteger") && fg_attr_i(cn, FG_ATTR_DYNQ, 0) && cn->in[0] == y &&
                        !fg_attr_get(cn, FG_ATTR_ACT_IN) && !(cn->n_in > 7 && cn->in[7] >= 0);
            if ((!dql && !dynq) || fg_attr_get(cn, FG_ATTR_RANGE_IN))
                continue;
            if (rv < 0) {
                char name[256];
                snprintf(name, sizeof name, "%s/_fg_range", g->values[y].name ? g->values[y].name : "ln");
                rv = fg_graph_add_value(g, name);
                ln = &g->nodes[l];
                ln->out = fg_xrealloc(ln->out, 4 * sizeof(int));
                for (int k = ln->n_out; k < 3; k++)
                    ln->out[k] = -1;
                ln->out[3] = rv;
                ln->n_out = 4;
                g->values[rv].producer = l;
                add_attr(ln, FG_ATTR_RANGE_OUT, FG_ATTR_INT, 3, 0, NULL);
            }
            int k = dql ? 1 : 9;
            ensure_inputs(cn, k + 1);
            cn->in[k] = rv;
            add_attr(cn, FG_ATTR_RANGE_IN, FG_ATTR_INT, k, 0, NULL);
        }
    }
}

int fg_graph_fuse_qdq(fg_graph *g, fg_err *e) {
    (void)e;
    if (!fg_op_find("", "QLinearConv") || !fg_op_find("", "QLinearMatMul"))
        return 0;
    uses u = {fg_xcalloc((size_t)g->n_values + 1, sizeof(int)), fg_xcalloc((size_t)g->n_values + 1, sizeof(int))};
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead)
            continue;
        /* new constants grow the value arrays: size the use counts again */
        u.count = fg_xrealloc(u.count, ((size_t)g->n_values + 8) * sizeof(int));
        u.last = fg_xrealloc(u.last, ((size_t)g->n_values + 8) * sizeof(int));
        count_uses(g, &u);
        if (!fuse_qdq_at(g, &u, i) && !fuse_dynq_at(g, &u, i) && !fuse_qadd_at(g, &u, i))
            swap_dq_pool_at(g, &u, i);
    }
    gelu_into_dynq(g, &u);
    range_from_layernorm(g);
    free(u.count);
    free(u.last);
    fg_graph_count_uses(g);
    return 0;
}
