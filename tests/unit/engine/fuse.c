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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matmul_absorbs_bias_residual_and_relu),
        cmocka_unit_test(matmul_absorbs_torch_gelu),
        cmocka_unit_test(fusion_keeps_values_that_are_graph_outputs),
        cmocka_unit_test(fusion_skips_ops_without_postop_support),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
