/* Tests for src/engine/fuse.c: post-op fusion rewrites on hand-built graphs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/fuse.h"
#include "engine/ops/ops.h"

static int dummy(fg_kctx *c) {
    (void)c;
    return 0;
}
static const fg_op_def postop_def = {.type = "MatMul", .infer = dummy, .run = dummy, .flags = FG_OP_POSTOPS};
static const fg_op_def plain_def = {.type = "Plain", .infer = dummy, .run = dummy};

static int cnst(fg_graph *g, const char *name, int n, float v) {
    int i = fg_graph_add_value(g, name);
    fg_value *x = &g->values[i];
    x->is_const = true;
    x->t.dtype = FG_F32;
    x->t.rank = 1;
    x->t.dims[0] = n;
    x->t.data = fg_xmalloc((size_t)n * sizeof(float));
    for (int k = 0; k < n; k++)
        ((float *)x->t.data)[k] = v;
    return i;
}

static int node(fg_graph *g, const char *op, const fg_op_def *def, int a, int b, int out) {
    if (g->n_nodes == g->cap_nodes) {
        g->cap_nodes = g->cap_nodes ? g->cap_nodes * 2 : 16;
        g->nodes = fg_xrealloc(g->nodes, (size_t)g->cap_nodes * sizeof(fg_node));
    }
    fg_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->name = fg_xstrdup(op);
    n->op_type = fg_xstrdup(op);
    n->domain = fg_xstrdup("");
    n->op = def;
    n->opset = 13;
    n->n_in = b >= 0 ? 2 : 1;
    n->in = fg_xmalloc(2 * sizeof(int));
    n->in[0] = a;
    n->in[1] = b;
    n->n_out = 1;
    n->out = fg_xmalloc(sizeof(int));
    n->out[0] = out;
    g->values[out].producer = g->n_nodes;
    return g->n_nodes++;
}

static int val(fg_graph *g, const char *name) { return fg_graph_add_value(g, name); }

static void set_output(fg_graph *g, int v) {
    g->outputs = fg_xrealloc(g->outputs, (size_t)(g->n_outputs + 1) * sizeof(int));
    g->outputs[g->n_outputs++] = v;
    g->values[v].is_output = true;
}

static int live(const fg_graph *g) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += !g->nodes[i].dead;
    return n;
}

static const fg_node *only_live(const fg_graph *g) {
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead)
            return &g->nodes[i];
    return NULL;
}

static int make_matmul(fg_graph *g, int x) {
    int w = val(g, "w");
    fg_value *wv = &g->values[w];
    wv->is_const = true;
    wv->t.dtype = FG_F32;
    wv->t.rank = 2;
    wv->t.dims[0] = 4;
    wv->t.dims[1] = 3;
    wv->t.data = fg_xcalloc(12, sizeof(float));
    int m = val(g, "m");
    node(g, "MatMul", &postop_def, x, w, m);
    return m;
}

static void matmul_absorbs_bias_residual_and_relu(void **st) {
    (void)st;
    fg_graph g = {0};
    int x = val(&g, "x"), r = val(&g, "r");
    g.values[x].is_input = g.values[r].is_input = true;
    int m = make_matmul(&g, x);
    int b = cnst(&g, "b", 3, 0.5f);
    int mb = val(&g, "mb"), mr = val(&g, "mr"), y = val(&g, "y");
    node(&g, "Add", &plain_def, b, m, mb); /* bias first, as torch writes it */
    node(&g, "Add", &plain_def, mb, r, mr);
    node(&g, "Relu", &plain_def, mr, -1, y);
    set_output(&g, y);
    assert_int_equal(fg_graph_fuse(&g, NULL), 0);
    assert_int_equal(live(&g), 1);
    const fg_node *n = only_live(&g);
    assert_string_equal(n->op_type, "MatMul");
    assert_int_equal(n->n_in, 4);
    assert_int_equal(n->in[2], b);
    assert_int_equal(n->in[3], r);
    assert_int_equal(fg_attr_i(n, FG_ATTR_BIAS, 0), 1);
    assert_int_equal(fg_attr_i(n, FG_ATTR_RESIDUAL, 0), 3);
    assert_string_equal(fg_attr_s(n, FG_ATTR_ACT, ""), "relu");
    assert_int_equal(n->out[0], y);
    assert_int_equal(g.values[y].producer, n - g.nodes);
    fg_graph_free(&g);
}

static void matmul_absorbs_torch_gelu(void **st) {
    (void)st;
    fg_graph g = {0};
    int x = val(&g, "x");
    g.values[x].is_input = true;
    int m = make_matmul(&g, x);
    int s2 = cnst(&g, "sqrt2", 1, (float)M_SQRT2), one = cnst(&g, "one", 1, 1.f), half = cnst(&g, "half", 1, .5f);
    int d = val(&g, "d"), e = val(&g, "e"), a = val(&g, "a"), p = val(&g, "p"), y = val(&g, "y");
    node(&g, "Div", &plain_def, m, s2, d);
    node(&g, "Erf", &plain_def, d, -1, e);
    node(&g, "Add", &plain_def, e, one, a);
    node(&g, "Mul", &plain_def, m, a, p);
    node(&g, "Mul", &plain_def, p, half, y);
    set_output(&g, y);
    assert_int_equal(fg_graph_fuse(&g, NULL), 0);
    assert_int_equal(live(&g), 1);
    const fg_node *n = only_live(&g);
    assert_string_equal(fg_attr_s(n, FG_ATTR_ACT, ""), "gelu_erf");
    assert_int_equal(n->out[0], y);
    fg_graph_free(&g);
}

static void fusion_keeps_values_that_are_graph_outputs(void **st) {
    (void)st;
    fg_graph g = {0};
    int x = val(&g, "x");
    g.values[x].is_input = true;
    int m = make_matmul(&g, x);
    int y = val(&g, "y");
    node(&g, "Relu", &plain_def, m, -1, y);
    set_output(&g, m); /* the matmul result itself is wanted: Relu must stay separate */
    set_output(&g, y);
    assert_int_equal(fg_graph_fuse(&g, NULL), 0);
    assert_int_equal(live(&g), 2);
    fg_graph_free(&g);
}

static void fusion_skips_ops_without_postop_support(void **st) {
    (void)st;
    fg_graph g = {0};
    int x = val(&g, "x"), m = val(&g, "m"), y = val(&g, "y");
    g.values[x].is_input = true;
    node(&g, "Plain", &plain_def, x, -1, m);
    node(&g, "Relu", &plain_def, m, -1, y);
    set_output(&g, y);
    assert_int_equal(fg_graph_fuse(&g, NULL), 0);
    assert_int_equal(live(&g), 2);
    fg_graph_free(&g);
}

/* Appends an attribute (owned by the graph) to node k: an int (i) or a string (str). */
static fg_attr *node_attr(fg_graph *g, int k, const char *name, fg_attr_type type, int64_t i, const char *str) {
    fg_node *nd = &g->nodes[k];
    nd->attrs = fg_xrealloc(nd->attrs, (size_t)(nd->n_attrs + 1) * sizeof(fg_attr));
    fg_attr *a = &nd->attrs[nd->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = fg_xstrdup(name);
    a->type = type;
    a->i = i;
    a->s = str ? fg_xstrdup(str) : NULL;
    return a;
}

static int node_attr_ints(fg_graph *g, int k, const char *name, const int64_t *v, int n) {
    fg_attr *a = node_attr(g, k, name, FG_ATTR_INTS, 0, NULL);
    a->ints = fg_xmalloc((size_t)n * sizeof(int64_t));
    memcpy(a->ints, v, (size_t)n * sizeof(int64_t));
    a->n_ints = (size_t)n;
    return k;
}

static int scalar0(fg_graph *g, const char *name, float v) {
    int i = cnst(g, name, 1, v);
    g->values[i].t.rank = 0;
    return i;
}

static const fg_node *nth_live(const fg_graph *g, const char *op, int k) {
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && strcmp(g->nodes[i].op_type, op) == 0 && k-- == 0)
            return &g->nodes[i];
    return NULL;
}

/* Attention's shuffles: q·kᵀ over Transposed heads, a Div by a scalar, P·v and the Transpose back all
 * fold into the two MatMuls' views; the Softmax between them stays. */
static void matmuls_take_over_transposes_and_scale(void **st) {
    (void)st;
    fg_graph g = {0};
    int q = val(&g, "q"), k = val(&g, "k"), v = val(&g, "v");
    g.values[q].is_input = g.values[k].is_input = g.values[v].is_input = true;
    int qt = val(&g, "qt"), kt = val(&g, "kt"), vt = val(&g, "vt"), s = val(&g, "s"), sd = val(&g, "sd");
    int p = val(&g, "p"), o = val(&g, "o"), y = val(&g, "y"), c = scalar0(&g, "c", 8.f);
    static const int64_t p0213[4] = {0, 2, 1, 3}, p0231[4] = {0, 2, 3, 1};
    node_attr_ints(&g, node(&g, "Transpose", &plain_def, q, -1, qt), "perm", p0213, 4);
    node_attr_ints(&g, node(&g, "Transpose", &plain_def, k, -1, kt), "perm", p0231, 4);
    node_attr_ints(&g, node(&g, "Transpose", &plain_def, v, -1, vt), "perm", p0213, 4);
    node(&g, "MatMul", &postop_def, qt, kt, s);
    node(&g, "Div", &plain_def, s, c, sd);
    node(&g, "Softmax", &plain_def, sd, -1, p);
    node(&g, "MatMul", &postop_def, p, vt, o);
    node_attr_ints(&g, node(&g, "Transpose", &plain_def, o, -1, y), "perm", p0213, 4);
    set_output(&g, y);
    assert_int_equal(fg_graph_fuse(&g, NULL), 0);
    assert_int_equal(live(&g), 3); /* MatMul, Softmax, MatMul */
    const fg_node *a = nth_live(&g, "MatMul", 0), *b = nth_live(&g, "MatMul", 1);
    assert_non_null(b);
    const int64_t *pa, *pb, *py;
    assert_int_equal(fg_attr_ints(a, FG_ATTR_PERM_A, &pa), 4);
    assert_int_equal(pa[1], 2);
    assert_int_equal(fg_attr_ints(a, FG_ATTR_PERM_B, &pb), 4);
    assert_int_equal(pb[3], 1);
    assert_true(a->in[0] == q && a->in[1] == k);
    assert_true(fg_attr_f(a, FG_ATTR_SCALE, 0.f) == 0.125f);
    assert_int_equal(fg_attr_ints(b, FG_ATTR_PERM_B, &pb), 4);
    assert_int_equal(fg_attr_ints(b, FG_ATTR_PERM_Y, &py), 4);
    assert_true(b->in[1] == v && b->out[0] == y);
    assert_null(fg_attr_get(b, FG_ATTR_PERM_A));
    fg_graph_free(&g);
}

/* What must not fold: a Transpose read twice, one that moves the innermost dim out of the matrix dims,
 * a Transpose after a MatMul with post-ops, a Div by a constant that is not rank 0. */
static void matmul_views_stay_where_they_must(void **st) {
    (void)st;
    fg_graph g = {0};
    int x = val(&g, "x"), w = val(&g, "w2"), u = val(&g, "u"), r = val(&g, "r");
    g.values[x].is_input = g.values[w].is_input = g.values[u].is_input = g.values[r].is_input = true;
    int xt = val(&g, "xt"), wt = val(&g, "wt"), ut = val(&g, "ut"), m = val(&g, "m"), y = val(&g, "y");
    int z = val(&g, "z"), m2 = val(&g, "m2"), mr = val(&g, "mr"), y2 = val(&g, "y2");
    int c1 = cnst(&g, "c1", 1, 2.f); /* rank 1: a Div would raise a rank-0 product's rank */
    static const int64_t p021[3] = {0, 2, 1}, p102[3] = {1, 0, 2}, p201[3] = {2, 0, 1};
    node_attr_ints(&g, node(&g, "Transpose", &plain_def, x, -1, xt), "perm", p021, 3);
    node_attr_ints(&g, node(&g, "Transpose", &plain_def, w, -1, wt), "perm", p102, 3);
    node(&g, "MatMul", &postop_def, xt, wt, m);
    node(&g, "Div", &plain_def, m, c1, y);
    node(&g, "Relu", &plain_def, xt, -1, z); /* xt is read twice: its Transpose stays */
    node_attr_ints(&g, node(&g, "Transpose", &plain_def, u, -1, ut), "perm", p201, 3); /* dim 2 into the batch */
    node(&g, "MatMul", &postop_def, ut, w, m2);
    node(&g, "Add", &plain_def, m2, r, mr); /* a residual post-op ... */
    node_attr_ints(&g, node(&g, "Transpose", &plain_def, mr, -1, y2), "perm", p021, 3); /* ... keeps this */
    set_output(&g, y);
    set_output(&g, z);
    set_output(&g, y2);
    assert_int_equal(fg_graph_fuse(&g, NULL), 0);
    const fg_node *a = nth_live(&g, "MatMul", 0), *b = nth_live(&g, "MatMul", 1);
    assert_non_null(b);
    const int64_t *p;
    assert_int_equal(a->in[0], xt);
    assert_int_equal(fg_attr_ints(a, FG_ATTR_PERM_B, &p), 3); /* [1,0,2] keeps the innermost dim last */
    assert_null(fg_attr_get(a, FG_ATTR_SCALE));
    assert_int_equal(b->in[0], ut);
    assert_null(fg_attr_get(b, FG_ATTR_PERM_Y));
    assert_int_equal(fg_attr_i(b, FG_ATTR_RESIDUAL, 0), 3);
    assert_int_equal(live(&g), 7); /* x's and u's and the last Transpose, two MatMuls, Div, Relu */
    fg_graph_free(&g);
}

/* A GELU fused into a dynamic matmul moves into the next dynamic matmul's input quantization when that
 * is its only reader, and stays when the GELU output is also a graph output. */
static void gelu_moves_into_the_next_dynamic_quantization(void **st) {
    (void)st;
    for (int keep = 0; keep < 2; keep++) {
        fg_graph g = {0};
        int x = val(&g, "x"), w1 = cnst(&g, "w1", 4, 1.f), w2 = cnst(&g, "w2", 4, 1.f);
        g.values[x].is_input = true;
        int h = val(&g, "h"), y = val(&g, "y");
        int a = node(&g, "MatMulInteger", &plain_def, x, w1, h);
        int b = node(&g, "MatMulInteger", &plain_def, h, w2, y);
        node_attr(&g, a, FG_ATTR_DYNQ, FG_ATTR_INT, 1, NULL);
        node_attr(&g, a, FG_ATTR_ACT, FG_ATTR_STRING, 0, "gelu_erf");
        node_attr(&g, b, FG_ATTR_DYNQ, FG_ATTR_INT, 1, NULL);
        if (keep)
            set_output(&g, h);
        set_output(&g, y);
        assert_int_equal(fg_graph_fuse_qdq(&g, NULL), 0);
        assert_int_equal(fg_attr_get(&g.nodes[a], FG_ATTR_ACT) != NULL, keep);
        assert_int_equal(fg_attr_get(&g.nodes[b], FG_ATTR_ACT_IN) != NULL, !keep);
        fg_graph_free(&g);
    }
}

/* A LayerNormalization whose output two dynamic quantizations read (a DynamicQuantizeLinear, a fused
 * dynamic matmul) writes its range as output 3, and both read it; a third reader that is not a
 * quantization changes nothing. */
static void layernorm_writes_the_range_its_quantizations_read(void **st) {
    (void)st;
    fg_graph g = {0};
    int x = val(&g, "x"), sc = cnst(&g, "sc", 4, 1.f), w = cnst(&g, "w", 4, 1.f);
    g.values[x].is_input = true;
    int y = val(&g, "y"), q = val(&g, "q"), m = val(&g, "m"), r = val(&g, "r");
    int l = node(&g, "LayerNormalization", &plain_def, x, sc, y);
    int d = node(&g, "DynamicQuantizeLinear", &plain_def, y, -1, q);
    int mm = node(&g, "MatMulInteger", &plain_def, y, w, m);
    node_attr(&g, mm, FG_ATTR_DYNQ, FG_ATTR_INT, 1, NULL);
    node(&g, "Relu", &plain_def, y, -1, r);
    set_output(&g, q);
    set_output(&g, m);
    set_output(&g, r);
    assert_int_equal(fg_graph_fuse_qdq(&g, NULL), 0);
    const fg_node *ln = &g.nodes[l], *dn = &g.nodes[d], *mn = &g.nodes[mm];
    assert_int_equal(fg_attr_i(ln, FG_ATTR_RANGE_OUT, 0), 3);
    assert_int_equal(ln->n_out, 4);
    assert_true(ln->out[1] < 0 && ln->out[2] < 0 && ln->out[3] >= 0);
    assert_int_equal(fg_attr_i(dn, FG_ATTR_RANGE_IN, 0), 1);
    assert_int_equal(dn->in[1], ln->out[3]);
    assert_int_equal(fg_attr_i(mn, FG_ATTR_RANGE_IN, 0), 9);
    assert_int_equal(mn->in[9], ln->out[3]);
    assert_int_equal(g.values[ln->out[3]].producer, l);
    fg_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matmul_absorbs_bias_residual_and_relu),
        cmocka_unit_test(matmul_absorbs_torch_gelu),
        cmocka_unit_test(fusion_keeps_values_that_are_graph_outputs),
        cmocka_unit_test(fusion_skips_ops_without_postop_support),
        cmocka_unit_test(matmuls_take_over_transposes_and_scale),
        cmocka_unit_test(matmul_views_stay_where_they_must),
        cmocka_unit_test(gelu_moves_into_the_next_dynamic_quantization),
        cmocka_unit_test(layernorm_writes_the_range_its_quantizations_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
