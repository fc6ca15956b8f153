/* fuse.c - load-time fusion of post-ops into Conv, MatMul and Gemm (see FG_OP_POSTOPS in ops/ops.h):
 * a following bias Add, residual Add and activation (Relu, Clip, LeakyRelu, Sigmoid, Tanh, and the
 * erf form of GELU that torch exports as Div/Erf/Add/Mul/Mul) become attributes of the producing node,
 * so the result is written once instead of being re-read by every elementwise op. Only single-use
 * intermediate values are fused; graph outputs are never hidden. */
#include <math.h>
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
    free(u.count);
    free(u.last);
    fg_graph_count_uses(g);
    return 0;
}
