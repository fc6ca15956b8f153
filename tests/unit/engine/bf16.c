/* Tests for bf16 sessions (FG_PREC_BF16, engine.h): small Conv, MatMul and Gemm models built in memory run
 * in an fp32 and a bf16 session; the bf16 results must stay within bf16's precision (1e-2 of the largest
 * fp32 output) and the session must say which products ran in bf16. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "test_util.h"

/* ---- a tiny in-memory ONNX model builder (initializers and attributes, which tu_make_model lacks) ---- */

enum { MB_MAX = 16, MB_MAX_ATTRS = 6, MB_MAX_IO = 4 };

typedef struct mb {
    Onnx__TensorProto init[MB_MAX];
    Onnx__TensorProto *initp[MB_MAX];
    int64_t init_dims[MB_MAX][4];
    float *init_data[MB_MAX];
    size_t n_init;
    Onnx__NodeProto node[MB_MAX];
    Onnx__NodeProto *nodep[MB_MAX];
    const char *node_io[MB_MAX][2][MB_MAX_IO];
    Onnx__AttributeProto attr[MB_MAX][MB_MAX_ATTRS];
    Onnx__AttributeProto *attrp[MB_MAX][MB_MAX_ATTRS];
    int64_t attr_ints[MB_MAX][MB_MAX_ATTRS][4];
    size_t n_node;
    uint64_t rng;
} mb;

static float mb_uniform(mb *b) { /* xorshift64*: [-1, 1), reproducible */
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return (float)((double)((b->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* Adds a float initializer of random values scaled by scale. */
static void mb_weight(mb *b, const char *name, int rank, const int64_t *dims, float scale) {
    size_t i = b->n_init++;
    assert_true(i < MB_MAX);
    Onnx__TensorProto t = ONNX__TENSOR_PROTO__INIT;
    int64_t n = 1;
    for (int d = 0; d < rank; d++) {
        b->init_dims[i][d] = dims[d];
        n *= dims[d];
    }
    b->init_data[i] = malloc((size_t)n * sizeof(float));
    for (int64_t k = 0; k < n; k++)
        b->init_data[i][k] = scale * mb_uniform(b);
    t.name = (char *)name;
    t.n_dims = (size_t)rank;
    t.dims = b->init_dims[i];
    t.has_data_type = 1;
    t.data_type = FG_F32;
    t.n_float_data = (size_t)n;
    t.float_data = b->init_data[i];
    b->init[i] = t;
    b->initp[i] = &b->init[i];
}

/* Adds a node; ins/outs are NULL-terminated name lists. Returns it for attributes. */
static size_t mb_node(mb *b, const char *op, const char *const *ins, const char *const *outs) {
    size_t i = b->n_node++;
    assert_true(i < MB_MAX);
    Onnx__NodeProto n = ONNX__NODE_PROTO__INIT;
    n.op_type = (char *)op;
    while (ins[n.n_input]) {
        b->node_io[i][0][n.n_input] = ins[n.n_input];
        n.n_input++;
    }
    while (outs[n.n_output]) {
        b->node_io[i][1][n.n_output] = outs[n.n_output];
        n.n_output++;
    }
    n.input = (char **)b->node_io[i][0];
    n.output = (char **)b->node_io[i][1];
    n.attribute = b->attrp[i];
    b->node[i] = n;
    b->nodep[i] = &b->node[i];
    return i;
}

/* Adds an attribute to node ni: ints (n > 0 values), or one int (n == 0) or float (n < 0) in v[0]/f. */
static void mb_attr(mb *b, size_t ni, const char *name, int n, const int64_t *v, float f) {
    Onnx__NodeProto *nd = &b->node[ni];
    size_t k = nd->n_attribute++;
    assert_true(k < MB_MAX_ATTRS);
    Onnx__AttributeProto a = ONNX__ATTRIBUTE_PROTO__INIT;
    a.name = (char *)name;
    a.has_type = 1;
    if (n > 0) {
        a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        memcpy(b->attr_ints[ni][k], v, (size_t)n * sizeof(int64_t));
        a.n_ints = (size_t)n;
        a.ints = b->attr_ints[ni][k];
    } else if (n == 0) {
        a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a.has_i = 1;
        a.i = v[0];
    } else {
        a.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        a.has_f = 1;
        a.f = f;
    }
    b->attr[ni][k] = a;
    b->attrp[ni][k] = &b->attr[ni][k];
}

/* Serializes the graph (one input, one output) and loads it; frees the builder's buffers. */
static fg_model *mb_load(mb *b, const char *in, const char *out) {
    Onnx__ModelProto mp = ONNX__MODEL_PROTO__INIT;
    Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
    Onnx__OperatorSetIdProto ops = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    Onnx__OperatorSetIdProto *opsp = &ops;
    ops.domain = "";
    ops.has_version = 1;
    ops.version = 13;
    mp.has_ir_version = 1;
    mp.ir_version = 7;
    mp.n_opset_import = 1;
    mp.opset_import = &opsp;
    mp.graph = &gp;
    gp.n_node = b->n_node;
    gp.node = b->nodep;
    gp.n_initializer = b->n_init;
    gp.initializer = b->initp;
    Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT, vo = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__ValueInfoProto *vip = &vi, *vop = &vo;
    vi.name = (char *)in;
    vo.name = (char *)out;
    gp.n_input = 1;
    gp.input = &vip;
    gp.n_output = 1;
    gp.output = &vop;
    size_t len = onnx__model_proto__get_packed_size(&mp);
    void *buf = malloc(len);
    onnx__model_proto__pack(&mp, buf);
    for (size_t i = 0; i < b->n_init; i++)
        free(b->init_data[i]);
    fg_err e = {0};
    fg_model *m = fg_model_load_buffer(buf, len, NULL, &e);
    free(buf);
    if (!m)
        fail_msg("%s", e.msg);
    return m;
}

/* ---- running a model in both precisions ---- */

typedef struct outcome {
    double max_ref, max_diff;
    size_t n_bf16, n_fallback;
} outcome;

/* Runs m on x in an fp32 and a bf16 session (1 thread) and compares: the bf16 output keeps shape and
 * dtype, a second run of the same shape reuses the plan and gives the same bytes. */
static outcome run_both(fg_model *m, const fg_tensor *x) {
    fg_err e = {0};
    fg_session_opts o32 = {.n_threads = 1}, o16 = {.n_threads = 1, .precision = FG_PREC_BF16};
    fg_session *s32 = fg_session_new(m, &o32, &e), *s16 = fg_session_new(m, &o16, &e);
    if (!s32 || !s16)
        fail_msg("%s", e.msg);
    fg_tensor y32, y16;
    if (fg_session_run(s32, x, 1, &y32, 1, &e) < 0 || fg_session_run(s16, x, 1, &y16, 1, &e) < 0)
        fail_msg("%s", e.msg);
    assert_int_equal(y16.dtype, FG_F32);
    assert_int_equal(y16.rank, y32.rank);
    for (int d = 0; d < y32.rank; d++)
        assert_int_equal(y16.dims[d], y32.dims[d]);
    int64_t n = fg_tensor_numel(&y32);
    assert_true(n > 0);
    outcome r = {0};
    const float *a = y32.data, *b = y16.data;
    for (int64_t i = 0; i < n; i++) {
        assert_true(isfinite(b[i]));
        r.max_ref = fmax(r.max_ref, fabs(a[i]));
        r.max_diff = fmax(r.max_diff, fabs((double)a[i] - b[i]));
    }
    float *first = malloc((size_t)n * sizeof(float));
    memcpy(first, b, (size_t)n * sizeof(float));
    assert_int_equal(fg_session_run(s16, x, 1, &y16, 1, &e), 0);
    assert_int_equal(fg_session_n_plans(s16), 1);
    assert_memory_equal(first, y16.data, (size_t)n * sizeof(float));
    free(first);
    size_t z0, z1;
    fg_session_bf16_nodes(s32, &z0, &z1); /* fp32 sessions do nothing in bf16 */
    assert_int_equal(z0, 0);
    assert_int_equal(z1, 0);
    fg_session_bf16_nodes(s16, &r.n_bf16, &r.n_fallback);
    fg_session_free(s32);
    fg_session_free(s16);
    return r;
}

/* The checks every model gets: each of its n_products ran in bf16 or was counted as kept in f32, the
 * bf16 ones changed the result (so bf16 really ran) and it is within bf16's precision. */
static void check(const char *what, const outcome *r, size_t n_products) {
    print_message("%s: %zu products in bf16, %zu kept in f32; max |diff| %.3g of max |y| %.3g (%.2e relative)\n",
                  what, r->n_bf16, r->n_fallback, r->max_diff, r->max_ref, r->max_diff / r->max_ref);
    assert_int_equal(r->n_bf16 + r->n_fallback, n_products);
    assert_true(r->max_ref > 0.1);
    assert_true(r->max_diff <= 1e-2 * r->max_ref);
    if (r->n_bf16 > 0)
        assert_true(r->max_diff > 0); /* bf16 rounding must show: the session did not silently stay f32 */
    else
        assert_true(r->max_diff == 0);
}

static fg_tensor random_input(int rank, const int64_t *dims, uint64_t seed) {
    mb b = {.rng = seed};
    fg_tensor t = {.dtype = FG_F32, .rank = rank};
    for (int d = 0; d < rank; d++)
        t.dims[d] = dims[d];
    int64_t n = fg_tensor_numel(&t);
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        p[i] = mb_uniform(&b);
    t.data = p;
    return t;
}

/* Three convolutions: 3x3 with a fused Relu, 3x3 with a fused residual Add and Relu (blocked layout chain,
 * sum post-op), then a 1x1 (the layout frugal runs as one GEMM in f32). */
static void conv_chain_in_bf16(void **st) {
    (void)st;
    static mb b;
    memset(&b, 0, sizeof b);
    b.rng = 7;
    const int64_t w1[] = {32, 16, 3, 3}, w2[] = {32, 32, 3, 3}, w3[] = {16, 32, 1, 1}, c32[] = {32}, c16[] = {16};
    const int64_t pads[] = {1, 1, 1, 1};
    mb_weight(&b, "w1", 4, w1, 1.0f / 12);
    mb_weight(&b, "b1", 1, c32, 0.1f);
    mb_weight(&b, "w2", 4, w2, 1.0f / 17);
    mb_weight(&b, "b2", 1, c32, 0.1f);
    mb_weight(&b, "w3", 4, w3, 1.0f / 6);
    mb_weight(&b, "b3", 1, c16, 0.1f);
    size_t n1 = mb_node(&b, "Conv", (const char *[]){"x", "w1", "b1", NULL}, (const char *[]){"c1", NULL});
    mb_attr(&b, n1, "pads", 4, pads, 0);
    mb_node(&b, "Relu", (const char *[]){"c1", NULL}, (const char *[]){"r1", NULL});
    size_t n2 = mb_node(&b, "Conv", (const char *[]){"r1", "w2", "b2", NULL}, (const char *[]){"c2", NULL});
    mb_attr(&b, n2, "pads", 4, pads, 0);
    mb_node(&b, "Add", (const char *[]){"c2", "r1", NULL}, (const char *[]){"a2", NULL});
    mb_node(&b, "Relu", (const char *[]){"a2", NULL}, (const char *[]){"r2", NULL});
    mb_node(&b, "Conv", (const char *[]){"r2", "w3", "b3", NULL}, (const char *[]){"y", NULL});
    fg_model *m = mb_load(&b, "x", "y");
    const int64_t xd[] = {2, 16, 12, 12};
    fg_tensor x = random_input(4, xd, 11);
    outcome r = run_both(m, &x);
    check("conv", &r, 3);
    free(x.data);
    fg_model_free(m);
}

/* Depthwise convolutions: the first reads plain data and takes frugal's C kernel (f32 by design, counted
 * in neither), the second follows a 1x1 conv in the blocked layout and runs on oneDNN in bf16. */
static void depthwise_in_bf16(void **st) {
    (void)st;
    static mb b;
    memset(&b, 0, sizeof b);
    b.rng = 10;
    const int64_t wd[] = {32, 1, 3, 3}, w1[] = {32, 32, 1, 1}, c32[] = {32}, pads[] = {1, 1, 1, 1}, g = 32;
    mb_weight(&b, "wd1", 4, wd, 1.0f / 3);
    mb_weight(&b, "w1", 4, w1, 1.0f / 6);
    mb_weight(&b, "b1", 1, c32, 0.1f);
    mb_weight(&b, "wd2", 4, wd, 1.0f / 3);
    size_t n1 = mb_node(&b, "Conv", (const char *[]){"x", "wd1", NULL}, (const char *[]){"d1", NULL});
    mb_attr(&b, n1, "pads", 4, pads, 0);
    mb_attr(&b, n1, "group", 0, &g, 0);
    mb_node(&b, "Conv", (const char *[]){"d1", "w1", "b1", NULL}, (const char *[]){"c1", NULL});
    mb_node(&b, "Relu", (const char *[]){"c1", NULL}, (const char *[]){"r1", NULL});
    size_t n3 = mb_node(&b, "Conv", (const char *[]){"r1", "wd2", NULL}, (const char *[]){"y", NULL});
    mb_attr(&b, n3, "pads", 4, pads, 0);
    mb_attr(&b, n3, "group", 0, &g, 0);
    fg_model *m = mb_load(&b, "x", "y");
    const int64_t xd[] = {1, 32, 16, 16};
    fg_tensor x = random_input(4, xd, 14);
    outcome r = run_both(m, &x);
    check("depthwise", &r, 2);
    free(x.data);
    fg_model_free(m);
}

/* MatMul of a rank-3 activation (batch folded into rows) with a fused bias and Relu, then a second
 * MatMul; both too large for the C loops that tiny products take. */
static void matmul_in_bf16(void **st) {
    (void)st;
    static mb b;
    memset(&b, 0, sizeof b);
    b.rng = 8;
    const int64_t w1[] = {64, 96}, bias[] = {96}, w2[] = {96, 48};
    mb_weight(&b, "w1", 2, w1, 1.0f / 8);
    mb_weight(&b, "bias", 1, bias, 0.1f);
    mb_weight(&b, "w2", 2, w2, 1.0f / 10);
    mb_node(&b, "MatMul", (const char *[]){"x", "w1", NULL}, (const char *[]){"m1", NULL});
    mb_node(&b, "Add", (const char *[]){"m1", "bias", NULL}, (const char *[]){"a1", NULL});
    mb_node(&b, "Relu", (const char *[]){"a1", NULL}, (const char *[]){"r1", NULL});
    mb_node(&b, "MatMul", (const char *[]){"r1", "w2", NULL}, (const char *[]){"y", NULL});
    fg_model *m = mb_load(&b, "x", "y");
    const int64_t xd[] = {2, 8, 64};
    fg_tensor x = random_input(3, xd, 12);
    outcome r = run_both(m, &x);
    check("matmul", &r, 2);
    free(x.data);
    fg_model_free(m);
}

/* Gemm with transA (A read through strides, converted into a dense bf16 copy), transB, alpha and a
 * beta-scaled row C that becomes the bias. */
static void gemm_in_bf16(void **st) {
    (void)st;
    static mb b;
    memset(&b, 0, sizeof b);
    b.rng = 9;
    const int64_t wb[] = {96, 64}, wc[] = {96};
    mb_weight(&b, "B", 2, wb, 1.0f / 8);
    mb_weight(&b, "C", 1, wc, 0.1f);
    size_t n = mb_node(&b, "Gemm", (const char *[]){"a", "B", "C", NULL}, (const char *[]){"y", NULL});
    const int64_t one = 1;
    mb_attr(&b, n, "transA", 0, &one, 0);
    mb_attr(&b, n, "transB", 0, &one, 0);
    mb_attr(&b, n, "alpha", -1, NULL, 0.5f);
    mb_attr(&b, n, "beta", -1, NULL, 2.0f);
    fg_model *m = mb_load(&b, "a", "y");
    const int64_t ad[] = {64, 32};
    fg_tensor x = random_input(2, ad, 13);
    outcome r = run_both(m, &x);
    check("gemm", &r, 1);
    free(x.data);
    fg_model_free(m);
}

/* The committed digits MLP at batch 360: same predictions in bf16 as in fp32 on (nearly) every sample. */
static void digits_mlp_predictions_hold(void **st) {
    (void)st;
    fg_err e = {0};
    fg_model *m = fg_model_load(MODELS "/digits_mlp.onnx", NULL, &e);
    if (!m)
        fail_msg("%s", e.msg);
    fg_tensor x = tu_read(MODELS "/digits_test_x.npy");
    fg_session_opts o32 = {.n_threads = 1}, o16 = {.n_threads = 1, .precision = FG_PREC_BF16};
    fg_session *s32 = fg_session_new(m, &o32, &e), *s16 = fg_session_new(m, &o16, &e);
    assert_non_null(s32);
    assert_non_null(s16);
    fg_tensor y32, y16;
    assert_int_equal(fg_session_run(s32, &x, 1, &y32, 1, &e), 0);
    assert_int_equal(fg_session_run(s16, &x, 1, &y16, 1, &e), 0);
    size_t nb, nf;
    fg_session_bf16_nodes(s16, &nb, &nf);
    assert_int_equal(nb + nf, 3);
    int same = 0, n = (int)y32.dims[0], k = (int)y32.dims[1];
    const float *a = y32.data, *b = y16.data;
    for (int i = 0; i < n; i++) {
        int ia = 0, ib = 0;
        for (int j = 1; j < k; j++) {
            ia = a[i * k + j] > a[i * k + ia] ? j : ia;
            ib = b[i * k + j] > b[i * k + ib] ? j : ib;
        }
        same += ia == ib;
    }
    assert_true(same >= n - 2);
    fg_session_free(s32);
    fg_session_free(s16);
    free(x.data);
    fg_model_free(m);
}

static void precision_names_and_bad_values(void **st) {
    (void)st;
    fg_precision p = FG_PREC_BF16;
    assert_int_equal(fg_precision_parse("fp32", &p), 0);
    assert_int_equal(p, FG_PREC_F32);
    assert_int_equal(fg_precision_parse("bf16", &p), 0);
    assert_int_equal(p, FG_PREC_BF16);
    assert_int_equal(fg_precision_parse("fp16", &p), -1);
    assert_int_equal(fg_precision_parse("", &p), -1);
    assert_int_equal(fg_precision_parse(NULL, &p), -1);
    assert_string_equal(fg_precision_name(FG_PREC_BF16), "bf16");
    assert_string_equal(fg_precision_name(FG_PREC_F32), "fp32");
    fg_err e = {0};
    fg_model *m = fg_model_load(MODELS "/digits_mlp.onnx", NULL, &e);
    assert_non_null(m);
    fg_session_opts o = {.n_threads = 1, .precision = (fg_precision)7};
    assert_null(fg_session_new(m, &o, &e));
    assert_int_equal(e.code, FG_EINVAL);
    assert_non_null(strstr(e.msg, "precision"));
    fg_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conv_chain_in_bf16),
        cmocka_unit_test(depthwise_in_bf16),
        cmocka_unit_test(matmul_in_bf16),
        cmocka_unit_test(gemm_in_bf16),
        cmocka_unit_test(digits_mlp_predictions_hold),
        cmocka_unit_test(precision_names_and_bad_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
