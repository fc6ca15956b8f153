/* Tests for the QDQ fusion in src/engine/fuse.c (fg_graph_fuse_qdq): a small QDQ-format model built here
 * with protobuf-c (Conv with per-channel int8 weights, an int32 bias and Relu; MatMul with per-column
 * weights and a float bias Add; Gemm with transB and Clip) runs fused (QLinearConv / QLinearMatMul on
 * oneDNN's int8 primitives) and unfused (no_optimize: the float ops between dequantize and quantize),
 * and the two must agree to within one quantization step, almost everywhere exactly. The same for the
 * dynamic-quantization chains (fused into MatMulInteger with FG_ATTR_DYNQ), for a QDQ residual block
 * (QLinearConv channels-last, DequantizeAddQuantize), for a LayerNormalization that writes the range its
 * dynamic quantizations read, and for float attention whose Transposes and scale
 * fold into the MatMuls (fold_matmul_views). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "frugal/engine.h"
#include "onnx.pb-c.h"

/* ---- a tiny model builder: everything lives in fixed arrays of one struct ---- */

enum { MB_NODES = 32, MB_INITS = 40, MB_ATTRS = 64, MB_IO = 4 };

typedef struct mb {
    Onnx__NodeProto nodes[MB_NODES];
    Onnx__NodeProto *node_ptrs[MB_NODES];
    const char *node_io[MB_NODES][6];
    int n_nodes;
    Onnx__TensorProto inits[MB_INITS];
    Onnx__TensorProto *init_ptrs[MB_INITS];
    int64_t init_dims[MB_INITS][4];
    void *init_data[MB_INITS];
    int n_inits;
    Onnx__AttributeProto attrs[MB_ATTRS];
    Onnx__AttributeProto *attr_ptrs[MB_ATTRS];
    int64_t attr_ints[MB_ATTRS][4];
    int n_attrs;
    Onnx__ValueInfoProto vi[2 * MB_IO];
    Onnx__ValueInfoProto *in_ptrs[MB_IO], *out_ptrs[MB_IO];
    Onnx__TypeProto tp[2 * MB_IO];
    Onnx__TypeProto__Tensor tt[2 * MB_IO];
    Onnx__TensorShapeProto sp[2 * MB_IO];
    Onnx__TensorShapeProto__Dimension dims[2 * MB_IO][4];
    Onnx__TensorShapeProto__Dimension *dim_ptrs[2 * MB_IO][4];
    int n_in, n_out;
} mb;

/* Adds an initializer of dtype dt, shape dims, from data (copied). */
static void mb_init(mb *b, const char *name, int dt, int rank, const int64_t *dims, const void *data, size_t es) {
    assert_true(b->n_inits < MB_INITS);
    int i = b->n_inits++;
    Onnx__TensorProto init = ONNX__TENSOR_PROTO__INIT;
    Onnx__TensorProto *t = &b->inits[i];
    *t = init;
    size_t n = 1;
    for (int k = 0; k < rank; k++) {
        b->init_dims[i][k] = dims[k];
        n *= (size_t)dims[k];
    }
    b->init_data[i] = malloc(n * es + 1);
    memcpy(b->init_data[i], data, n * es);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dt;
    t->n_dims = (size_t)rank;
    t->dims = b->init_dims[i];
    t->has_raw_data = 1;
    t->raw_data.len = n * es;
    t->raw_data.data = b->init_data[i];
    b->init_ptrs[i] = t;
}

static void mb_scalar_f(mb *b, const char *name, float v) { mb_init(b, name, FG_F32, 0, NULL, &v, 4); }
static void mb_scalar_u8(mb *b, const char *name, int dt, int v) {
    uint8_t x = (uint8_t)v;
    mb_init(b, name, dt, 0, NULL, &x, 1);
}

/* Adds a node with up to 5 inputs (NULL-terminated list in io, output last). */
static Onnx__NodeProto *mb_node(mb *b, const char *op, const char *out, const char *i0, const char *i1,
                                const char *i2) {
    assert_true(b->n_nodes < MB_NODES);
    int i = b->n_nodes++;
    Onnx__NodeProto init = ONNX__NODE_PROTO__INIT;
    Onnx__NodeProto *n = &b->nodes[i];
    *n = init;
    n->op_type = (char *)op;
    n->name = (char *)out;
    const char **io = b->node_io[i];
    int k = 0;
    io[k++] = i0;
    if (i1)
        io[k++] = i1;
    if (i2)
        io[k++] = i2;
    n->n_input = (size_t)k;
    n->input = (char **)io;
    io[5] = out;
    n->n_output = 1;
    n->output = (char **)&io[5];
    b->node_ptrs[i] = n;
    return n;
}

static Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name) {
    assert_true(b->n_attrs < MB_ATTRS);
    int i = b->n_attrs++;
    Onnx__AttributeProto init = ONNX__ATTRIBUTE_PROTO__INIT;
    b->attrs[i] = init;
    b->attrs[i].name = (char *)name;
    b->attrs[i].has_type = 1;
    /* attributes of a node must be contiguous in attr_ptrs: nodes take theirs right after creation */
    if (n->n_attribute == 0)
        n->attribute = &b->attr_ptrs[i];
    b->attr_ptrs[i] = &b->attrs[i];
    n->n_attribute++;
    return &b->attrs[i];
}

static void mb_attr_i(mb *b, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *a = mb_attr(b, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
}

static void mb_attr_ints(mb *b, Onnx__NodeProto *n, const char *name, const int64_t *v, int cnt) {
    Onnx__AttributeProto *a = mb_attr(b, n, name);
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    int i = (int)(a - b->attrs);
    memcpy(b->attr_ints[i], v, (size_t)cnt * sizeof(int64_t));
    a->n_ints = (size_t)cnt;
    a->ints = b->attr_ints[i];
}

/* Declares a float graph input or output of the given shape. */
static void mb_io(mb *b, bool input, const char *name, int rank, const int64_t *dims) {
    int i = input ? b->n_in : MB_IO + b->n_out;
    Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__TypeProto tp = ONNX__TYPE_PROTO__INIT;
    Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
    Onnx__TensorShapeProto sp = ONNX__TENSOR_SHAPE_PROTO__INIT;
    b->vi[i] = vi;
    b->tp[i] = tp;
    b->tt[i] = tt;
    b->sp[i] = sp;
    for (int k = 0; k < rank; k++) {
        Onnx__TensorShapeProto__Dimension d = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        b->dims[i][k] = d;
        b->dims[i][k].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        b->dims[i][k].dim_value = dims[k];
        b->dim_ptrs[i][k] = &b->dims[i][k];
    }
    b->sp[i].n_dim = (size_t)rank;
    b->sp[i].dim = b->dim_ptrs[i];
    b->tt[i].has_elem_type = 1;
    b->tt[i].elem_type = FG_F32;
    b->tt[i].shape = &b->sp[i];
    b->tp[i].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->tp[i].tensor_type = &b->tt[i];
    b->vi[i].name = (char *)name;
    b->vi[i].type = &b->tp[i];
    if (input)
        b->in_ptrs[b->n_in++] = &b->vi[i];
    else
        b->out_ptrs[b->n_out++] = &b->vi[i];
}

/* Serializes the model (opset 13); malloc'd bytes (caller frees). */
static void *mb_pack(mb *b, size_t *len) {
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
    gp.name = "qdq";
    gp.n_node = (size_t)b->n_nodes;
    gp.node = b->node_ptrs;
    gp.n_initializer = (size_t)b->n_inits;
    gp.initializer = b->init_ptrs;
    gp.n_input = (size_t)b->n_in;
    gp.input = b->in_ptrs;
    gp.n_output = (size_t)b->n_out;
    gp.output = b->out_ptrs;
    *len = onnx__model_proto__get_packed_size(&mp);
    void *buf = malloc(*len);
    onnx__model_proto__pack(&mp, buf);
    return buf;
}

static void mb_free(mb *b) {
    for (int i = 0; i < b->n_inits; i++)
        free(b->init_data[i]);
}

/* Deterministic values in [lo, hi). */
static float frand(uint32_t *s, float lo, float hi) {
    *s = *s * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(*s >> 8) / 16777216.0f;
}

/* Scales of the model, shared with the checks (one quantization step of each output). */
#define SX 0.02f
#define SY 0.05f
#define S3 0.04f
#define SG_IN 0.03f
#define SG 0.02f

/* The QDQ model: x [1,8,10,10] -> Q -> DQ -> Conv(DQ(w int8 per-channel), DQ(bias int32)) -> Relu -> Q
 * -> DQ -> MatMul(DQ(B int8 per-column)) -> Add(bias float) -> Q(int8) -> DQ -> y; and
 * g [4,20] -> Q -> DQ -> Gemm(DQ(Wg int8 [6,20] per-row), C float, transB) -> Clip(0, 1) -> Q -> DQ -> z. */
static void *build_qdq(size_t *len) {
    mb *b = calloc(1, sizeof *b);
    uint32_t seed = 12345;
    int64_t xd[4] = {1, 8, 10, 10}, gd[2] = {4, 20}, yd[4] = {1, 16, 10, 12}, zd[2] = {4, 6};
    mb_io(b, true, "x", 4, xd);
    mb_io(b, true, "g", 2, gd);
    mb_io(b, false, "y", 4, yd);
    mb_io(b, false, "z", 2, zd);
    /* conv branch */
    mb_scalar_f(b, "sx", SX);
    mb_scalar_u8(b, "zx", FG_U8, 128);
    int8_t w[16 * 8 * 9], zw[16] = {0};
    float sw[16], sbias[16];
    int32_t bq[16];
    for (int i = 0; i < 16 * 8 * 9; i++)
        w[i] = (int8_t)(frand(&seed, -127.f, 127.f));
    for (int i = 0; i < 16; i++) {
        sw[i] = 0.001f + 0.0002f * (float)i;
        sbias[i] = SX * sw[i];
        bq[i] = (int32_t)frand(&seed, -2000.f, 2000.f);
    }
    int64_t wd[4] = {16, 8, 3, 3}, cd[1] = {16};
    mb_init(b, "w", FG_I8, 4, wd, w, 1);
    mb_init(b, "sw", FG_F32, 1, cd, sw, 4);
    mb_init(b, "zw", FG_I8, 1, cd, zw, 1);
    mb_init(b, "bq", FG_I32, 1, cd, bq, 4);
    mb_init(b, "sb", FG_F32, 1, cd, sbias, 4);
    mb_scalar_f(b, "sy", SY);
    mb_scalar_u8(b, "zy", FG_U8, 10);
    mb_node(b, "QuantizeLinear", "xq", "x", "sx", "zx");
    mb_node(b, "DequantizeLinear", "xf", "xq", "sx", "zx");
    Onnx__NodeProto *n = mb_node(b, "DequantizeLinear", "wf", "w", "sw", "zw");
    mb_attr_i(b, n, "axis", 0);
    n = mb_node(b, "DequantizeLinear", "bf", "bq", "sb", NULL);
    mb_attr_i(b, n, "axis", 0);
    n = mb_node(b, "Conv", "cf", "xf", "wf", "bf");
    int64_t pads[4] = {1, 1, 1, 1};
    mb_attr_ints(b, n, "pads", pads, 4);
    mb_node(b, "Relu", "rf", "cf", NULL, NULL);
    mb_node(b, "QuantizeLinear", "rq", "rf", "sy", "zy");
    mb_node(b, "DequantizeLinear", "rdq", "rq", "sy", "zy");
    /* matmul branch: B [10, 12] per column */
    int8_t B[10 * 12], zB[12] = {0};
    float sB[12], bias[12];
    for (int i = 0; i < 120; i++)
        B[i] = (int8_t)frand(&seed, -127.f, 127.f);
    for (int i = 0; i < 12; i++) {
        sB[i] = 0.002f + 0.0003f * (float)i;
        bias[i] = frand(&seed, -0.5f, 0.5f);
    }
    int64_t bd[2] = {10, 12}, nd[1] = {12};
    mb_init(b, "B", FG_I8, 2, bd, B, 1);
    mb_init(b, "sB", FG_F32, 1, nd, sB, 4);
    mb_init(b, "zB", FG_I8, 1, nd, zB, 1);
    mb_init(b, "bias", FG_F32, 1, nd, bias, 4);
    mb_scalar_f(b, "s3", S3);
    mb_scalar_u8(b, "z3", FG_I8, -3);
    n = mb_node(b, "DequantizeLinear", "Bf", "B", "sB", "zB");
    mb_attr_i(b, n, "axis", 1);
    mb_node(b, "MatMul", "mf", "rdq", "Bf", NULL);
    mb_node(b, "Add", "af", "mf", "bias", NULL);
    mb_node(b, "QuantizeLinear", "oq", "af", "s3", "z3");
    mb_node(b, "DequantizeLinear", "y", "oq", "s3", "z3");
    /* gemm branch: Wg [6, 20] per output row, transB */
    int8_t Wg[6 * 20];
    float sWg[6], Cg[6];
    for (int i = 0; i < 120; i++)
        Wg[i] = (int8_t)frand(&seed, -127.f, 127.f);
    for (int i = 0; i < 6; i++) {
        sWg[i] = 0.003f + 0.0005f * (float)i;
        Cg[i] = frand(&seed, -0.3f, 0.3f);
    }
    int64_t wgd[2] = {6, 20}, sd6[1] = {6};
    mb_init(b, "Wg", FG_I8, 2, wgd, Wg, 1);
    mb_init(b, "sWg", FG_F32, 1, sd6, sWg, 4);
    mb_init(b, "Cg", FG_F32, 1, sd6, Cg, 4);
    mb_scalar_f(b, "sgi", SG_IN);
    mb_scalar_u8(b, "zgi", FG_I8, 0);
    mb_scalar_f(b, "sg", SG);
    mb_scalar_u8(b, "zg", FG_U8, 0);
    mb_scalar_f(b, "lo", 0.f);
    mb_scalar_f(b, "hi", 1.f);
    mb_node(b, "QuantizeLinear", "gq", "g", "sgi", "zgi");
    mb_node(b, "DequantizeLinear", "gf", "gq", "sgi", "zgi");
    n = mb_node(b, "DequantizeLinear", "Wgf", "Wg", "sWg", NULL);
    mb_attr_i(b, n, "axis", 0);
    n = mb_node(b, "Gemm", "hf", "gf", "Wgf", "Cg");
    mb_attr_i(b, n, "transB", 1);
    mb_node(b, "Clip", "kf", "hf", "lo", "hi");
    mb_node(b, "QuantizeLinear", "kq", "kf", "sg", "zg");
    mb_node(b, "DequantizeLinear", "z", "kq", "sg", "zg");
    void *buf = mb_pack(b, len);
    mb_free(b);
    free(b);
    return buf;
}

/* Runs the model (fused or not) on fixed inputs; copies both outputs into y and z. */
static void run_model(const void *buf, size_t len, bool fuse, float *y, float *z, size_t *n_nodes) {
    fg_err e = {0};
    fg_model_opts mo = {.no_optimize = !fuse};
    fg_model *m = fg_model_load_buffer(buf, len, &mo, &e);
    if (!m)
        fail_msg("load: %s", e.msg);
    size_t loaded;
    fg_model_node_counts(m, &loaded, n_nodes);
    fg_session *s = fg_session_new(m, &(fg_session_opts){.n_threads = 1}, &e);
    assert_non_null(s);
    static float x[800], g[80];
    uint32_t seed = 99;
    for (int i = 0; i < 800; i++)
        x[i] = frand(&seed, -2.5f, 2.5f);
    for (int i = 0; i < 80; i++)
        g[i] = frand(&seed, -3.5f, 3.5f);
    fg_tensor in[2] = {{.dtype = FG_F32, .rank = 4, .dims = {1, 8, 10, 10}, .data = x},
                       {.dtype = FG_F32, .rank = 2, .dims = {4, 20}, .data = g}};
    fg_tensor out[2];
    if (fg_session_run(s, in, 2, out, 2, &e) < 0)
        fail_msg("run: %s", e.msg);
    assert_int_equal(fg_tensor_numel(&out[0]), 16 * 10 * 12);
    assert_int_equal(fg_tensor_numel(&out[1]), 24);
    memcpy(y, out[0].data, 16 * 10 * 12 * sizeof(float));
    memcpy(z, out[1].data, 24 * sizeof(float));
    fg_session_free(s);
    fg_model_free(m);
}

/* got and want within one step everywhere, and exactly equal in at least 95% of the elements. */
static void assert_steps(const float *got, const float *want, int n, float step) {
    int exact = 0;
    for (int i = 0; i < n; i++) {
        float d = fabsf(got[i] - want[i]);
        if (d > step * 1.001f)
            fail_msg("element %d: fused %g, unfused %g (step %g)", i, got[i], want[i], step);
        exact += d == 0.f;
    }
    if (exact < n * 95 / 100)
        fail_msg("only %d of %d elements agree exactly", exact, n);
}

static void qdq_chains_fuse_and_match_the_float_ops(void **state) {
    (void)state;
    size_t len;
    void *buf = build_qdq(&len);
    static float y_f[1920], z_f[24], y_u[1920], z_u[24];
    size_t nf, nu;
    run_model(buf, len, true, y_f, z_f, &nf);
    run_model(buf, len, false, y_u, z_u, &nu);
    /* fused: Q, QLinearConv, QLinearMatMul, DQ and Q, QLinearMatMul, DQ; unfused keeps every float op
     * (the weights' DequantizeLinears are folded into constants) */
    assert_int_equal(nf, 7);
    assert_int_equal(nu, 16);
    assert_steps(y_f, y_u, 1920, S3);
    assert_steps(z_f, z_u, 24, SG);
    /* not a trivial agreement: the outputs spread over many quantization steps */
    int distinct = 0;
    for (int i = 0; i < 1920; i++) {
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = y_f[j] == y_f[i];
        distinct += !seen;
    }
    assert_true(distinct >= 20);
    /* the Relu and the Clip took effect: no negative outputs, z within [0, 1] */
    int nonzero = 0;
    for (int i = 0; i < 24; i++) {
        assert_true(z_f[i] >= 0.f && z_f[i] <= 1.f);
        nonzero += z_f[i] > 0.f && z_f[i] < 1.f;
    }
    assert_true(nonzero > 0);
    free(buf);
}

/* Gives node n (made by mb_node with one input) the three outputs o0..o2 (DynamicQuantizeLinear's). */
static void mb_three_outs(mb *b, Onnx__NodeProto *n, const char *o0, const char *o1, const char *o2) {
    const char **io = b->node_io[n - b->nodes];
    io[3] = o0;
    io[4] = o1;
    io[5] = o2;
    n->output = (char **)&io[3];
    n->n_output = 3;
}

/* Runs a model (fused or not) on n_in float inputs; copies output k's cnt[k] values into out[k]. */
static void run_io(const void *buf, size_t len, bool fuse, fg_tensor *in, int n_in, float **out, const int64_t *cnt,
                   int n_out, size_t *n_nodes) {
    fg_err e = {0};
    fg_model_opts mo = {.no_optimize = !fuse};
    fg_model *m = fg_model_load_buffer(buf, len, &mo, &e);
    if (!m)
        fail_msg("load: %s", e.msg);
    size_t loaded;
    fg_model_node_counts(m, &loaded, n_nodes);
    fg_session *s = fg_session_new(m, &(fg_session_opts){.n_threads = 1}, &e);
    assert_non_null(s);
    fg_tensor res[4];
    if (fg_session_run(s, in, n_in, res, n_out, &e) < 0)
        fail_msg("run: %s", e.msg);
    for (int k = 0; k < n_out; k++) {
        assert_int_equal(fg_tensor_numel(&res[k]), cnt[k]);
        memcpy(out[k], res[k].data, (size_t)cnt[k] * sizeof(float));
    }
    fg_session_free(s);
    fg_model_free(m);
}

/* The dynamic-quantization model `frugal quantize --mode dynamic` writes, on x [6, 16]:
 *   DynamicQuantizeLinear(x) -> (xq, xs, xz), shared by two products:
 *   y = GELU(Cast(MatMulInteger(xq, W1 int8 [16, 24], xz)) * Mul(xs, s1[24]) + bias[24])
 *   z = Cast(MatMulInteger(xq, W2 int8 [16, 8], xz)) * Mul(xs, s2)   (one weight scale)
 *   v = Cast(MatMulInteger(xq, W3 int8 [16, 16], xz)) * Mul(xs, s2) + bias3[16] + x   (a residual)
 *   t = Cast(MatMulInteger(DynamicQuantizeLinear(z) of its own, W4 int8 [8, 5])) * Mul(zs, s2) */
static void *build_dynamic(size_t *len) {
    mb *b = calloc(1, sizeof *b);
    uint32_t seed = 777;
    int64_t xd[2] = {6, 16}, yd[2] = {6, 24}, zd[2] = {6, 8};
    mb_io(b, true, "x", 2, xd);
    mb_io(b, false, "y", 2, yd);
    mb_io(b, false, "z", 2, zd);
    mb_io(b, false, "v", 2, xd);
    int64_t td[2] = {6, 5}, w4d[2] = {8, 5};
    mb_io(b, false, "t", 2, td);
    int8_t w4[8 * 5];
    for (int i = 0; i < 40; i++)
        w4[i] = (int8_t)frand(&seed, -127.f, 127.f);
    mb_init(b, "w4", FG_I8, 2, w4d, w4, 1);
    int8_t w1[16 * 24], w2[16 * 8], w3[16 * 16];
    float bias3[16];
    for (int i = 0; i < 16 * 16; i++)
        w3[i] = (int8_t)frand(&seed, -127.f, 127.f);
    for (int i = 0; i < 16; i++)
        bias3[i] = frand(&seed, -0.5f, 0.5f);
    int64_t w3d[2] = {16, 16};
    mb_init(b, "w3", FG_I8, 2, w3d, w3, 1);
    mb_init(b, "bias3", FG_F32, 1, w3d + 1, bias3, 4);
    float s1[24], bias[24];
    for (int i = 0; i < 16 * 24; i++)
        w1[i] = (int8_t)frand(&seed, -127.f, 127.f);
    for (int i = 0; i < 16 * 8; i++)
        w2[i] = (int8_t)frand(&seed, -127.f, 127.f);
    for (int i = 0; i < 24; i++) {
        s1[i] = 0.002f + 0.0001f * (float)i;
        bias[i] = frand(&seed, -0.5f, 0.5f);
    }
    int64_t w1d[2] = {16, 24}, w2d[2] = {16, 8}, nd[1] = {24};
    mb_init(b, "w1", FG_I8, 2, w1d, w1, 1);
    mb_init(b, "w2", FG_I8, 2, w2d, w2, 1);
    mb_init(b, "s1", FG_F32, 1, nd, s1, 4);
    mb_init(b, "bias", FG_F32, 1, nd, bias, 4);
    mb_scalar_f(b, "s2", 0.003f);
    mb_scalar_f(b, "sqrt2", 1.4142135f);
    mb_scalar_f(b, "one", 1.f);
    mb_scalar_f(b, "half", 0.5f);
    Onnx__NodeProto *n = mb_node(b, "DynamicQuantizeLinear", "unused", "x", NULL, NULL);
    mb_three_outs(b, n, "xq", "xs", "xz");
    mb_node(b, "MatMulInteger", "i1", "xq", "w1", "xz");
    n = mb_node(b, "Cast", "f1", "i1", NULL, NULL);
    mb_attr_i(b, n, "to", FG_F32);
    mb_node(b, "Mul", "sc1", "xs", "s1", NULL);
    mb_node(b, "Mul", "m1", "f1", "sc1", NULL);
    mb_node(b, "Add", "a1", "bias", "m1", NULL);
    mb_node(b, "Div", "g1", "a1", "sqrt2", NULL);
    mb_node(b, "Erf", "g2", "g1", NULL, NULL);
    mb_node(b, "Add", "g3", "g2", "one", NULL);
    mb_node(b, "Mul", "g4", "a1", "g3", NULL);
    mb_node(b, "Mul", "y", "g4", "half", NULL);
    mb_node(b, "MatMulInteger", "i2", "xq", "w2", "xz");
    n = mb_node(b, "Cast", "f2", "i2", NULL, NULL);
    mb_attr_i(b, n, "to", FG_F32);
    mb_node(b, "Mul", "sc2", "s2", "xs", NULL);
    mb_node(b, "Mul", "z", "sc2", "f2", NULL);
    mb_node(b, "MatMulInteger", "i3", "xq", "w3", "xz");
    n = mb_node(b, "Cast", "f3", "i3", NULL, NULL);
    mb_attr_i(b, n, "to", FG_F32);
    mb_node(b, "Mul", "m3", "f3", "sc2", NULL);
    mb_node(b, "Add", "a3", "m3", "bias3", NULL);
    mb_node(b, "Add", "v", "x", "a3", NULL);
    n = mb_node(b, "DynamicQuantizeLinear", "unused2", "z", NULL, NULL);
    mb_three_outs(b, n, "zq", "zs", "zz");
    mb_node(b, "MatMulInteger", "i4", "zq", "w4", "zz");
    n = mb_node(b, "Cast", "f4", "i4", NULL, NULL);
    mb_attr_i(b, n, "to", FG_F32);
    mb_node(b, "Mul", "sc4", "zs", "s2", NULL);
    mb_node(b, "Mul", "t", "f4", "sc4", NULL);
    void *buf = mb_pack(b, len);
    mb_free(b);
    free(b);
    return buf;
}

/* got and want agree to rel (relative to want's largest magnitude) everywhere. */
static void assert_close(const float *got, const float *want, int n, float rel) {
    float mx = 0.f;
    for (int i = 0; i < n; i++)
        mx = fabsf(want[i]) > mx ? fabsf(want[i]) : mx;
    for (int i = 0; i < n; i++)
        if (fabsf(got[i] - want[i]) > rel * mx)
            fail_msg("element %d: fused %g, unfused %g (max %g)", i, got[i], want[i], mx);
}

static void dynamic_chains_fuse_and_match_the_unfused_ops(void **state) {
    (void)state;
    size_t len;
    void *buf = build_dynamic(&len);
    static float x[96], y_f[144], z_f[48], y_u[144], z_u[48], v_f[96], v_u[96], t_f[30], t_u[30];
    uint32_t seed = 5;
    for (int i = 0; i < 96; i++)
        x[i] = frand(&seed, -3.f, 2.f); /* asymmetric: a zero point other than 128 */
    fg_tensor in = {.dtype = FG_F32, .rank = 2, .dims = {6, 16}, .data = x};
    int64_t cnt[4] = {144, 48, 96, 30};
    size_t nf, nu;
    run_io(buf, len, true, &in, 1, (float *[]){y_f, z_f, v_f, t_f}, cnt, 4, &nf);
    run_io(buf, len, false, &in, 1, (float *[]){y_u, z_u, v_u, t_u}, cnt, 4, &nu);
    /* fused: the shared DynamicQuantizeLinear, the three products reading it, and t's product with its
     * own quantization absorbed */
    assert_int_equal(nf, 5);
    assert_int_equal(nu, 25);
    /* the same integer products; only float rounding (the scales' order, oneDNN's erf) differs */
    assert_close(y_f, y_u, 144, 1e-5f);
    assert_close(z_f, z_u, 48, 1e-5f);
    assert_close(v_f, v_u, 96, 1e-5f);
    /* z's float rounding may move a value of t's quantization by one step: compare loosely */
    assert_close(t_f, t_u, 30, 2e-2f);
    int neg = 0;
    for (int i = 0; i < 144; i++)
        neg += y_f[i] < 0.f;
    assert_true(neg > 0 && neg < 144); /* GELU's negative lobe: the activation ran */
    free(buf);
}

/* x [6, 16] -> LayerNormalization -> y, quantized twice: by a DynamicQuantizeLinear (dequantized again:
 * output d) and inside a fused dynamic matmul (output t). Fused, the LayerNormalization writes y's range
 * and neither quantization reads y for it (fuse.c, range_from_layernorm). */
static void *build_ln_range(size_t *len) {
    mb *b = calloc(1, sizeof *b);
    uint32_t seed = 4711;
    int64_t xd[2] = {6, 16}, td[2] = {6, 8}, wd[2] = {16, 8}, nd[1] = {16};
    mb_io(b, true, "x", 2, xd);
    mb_io(b, false, "d", 2, xd);
    mb_io(b, false, "t", 2, td);
    float scale[16], bias[16];
    int8_t w[16 * 8];
    for (int i = 0; i < 16; i++) {
        scale[i] = frand(&seed, 0.5f, 2.f);
        bias[i] = frand(&seed, -1.f, 1.f);
    }
    for (int i = 0; i < 16 * 8; i++)
        w[i] = (int8_t)frand(&seed, -127.f, 127.f);
    mb_init(b, "scale", FG_F32, 1, nd, scale, 4);
    mb_init(b, "bias", FG_F32, 1, nd, bias, 4);
    mb_init(b, "w", FG_I8, 2, wd, w, 1);
    mb_scalar_f(b, "sw", 0.004f);
    Onnx__NodeProto *n = mb_node(b, "LayerNormalization", "y", "x", "scale", "bias");
    mb_attr_i(b, n, "axis", -1);
    n = mb_node(b, "DynamicQuantizeLinear", "unused", "y", NULL, NULL);
    mb_three_outs(b, n, "yq", "ys", "yz");
    mb_node(b, "DequantizeLinear", "d", "yq", "ys", "yz");
    n = mb_node(b, "DynamicQuantizeLinear", "unused2", "y", NULL, NULL);
    mb_three_outs(b, n, "uq", "us", "uz");
    mb_node(b, "MatMulInteger", "i", "uq", "w", "uz");
    n = mb_node(b, "Cast", "f", "i", NULL, NULL);
    mb_attr_i(b, n, "to", FG_F32);
    mb_node(b, "Mul", "sc", "us", "sw", NULL);
    mb_node(b, "Mul", "t", "f", "sc", NULL);
    void *buf = mb_pack(b, len);
    mb_free(b);
    free(b);
    return buf;
}

static void layernorm_range_quantizes_as_the_range_pass(void **state) {
    (void)state;
    size_t len, nf, nu;
    void *buf = build_ln_range(&len);
    static float x[96], d_f[96], d_u[96], t_f[48], t_u[48];
    uint32_t seed = 12;
    for (int i = 0; i < 96; i++)
        x[i] = frand(&seed, -3.f, 5.f);
    fg_tensor in = {.dtype = FG_F32, .rank = 2, .dims = {6, 16}, .data = x};
    int64_t cnt[2] = {96, 48};
    run_io(buf, len, true, &in, 1, (float *[]){d_f, t_f}, cnt, 2, &nf);
    run_io(buf, len, false, &in, 1, (float *[]){d_u, t_u}, cnt, 2, &nu);
    assert_true(nf < nu);
    assert_memory_equal(d_f, d_u, sizeof d_f); /* the same range, so the same quantization, bit for bit */
    assert_close(t_f, t_u, 48, 1e-5f);
    free(buf);
}

/* Float attention over q, k, v [2, 5, 8] split into 2 heads of 4 (BERT's layout shuffles):
 *   y = Reshape(Transpose(Softmax(Q·Kᵀ / c) · V, 0213), [2, 5, 8])  with Q = Transpose(Reshape(q), 0213),
 *   K = Transpose(Reshape(k), 0231), V = Transpose(Reshape(v), 0213),
 * and u = q · Transpose(w3, 021) on a 3-D batch (a transposed B, no head split). Fused, the Transposes and
 * the Div are the MatMuls' strides and scale (fuse.c, fold_matmul_views). */
static void *build_attention(size_t *len, float c) {
    mb *b = calloc(1, sizeof *b);
    int64_t qd[3] = {2, 5, 8}, hd[4] = {2, 5, 2, 4}, four = 4, three = 3, wd[3] = {2, 3, 8};
    mb_io(b, true, "q", 3, qd);
    mb_io(b, true, "k", 3, qd);
    mb_io(b, true, "v", 3, qd);
    mb_io(b, true, "w3", 3, wd);
    mb_io(b, false, "y", 3, qd);
    mb_io(b, false, "u", 3, (int64_t[]){2, 5, 3});
    mb_init(b, "heads", FG_I64, 1, &four, hd, 8);
    mb_init(b, "merged", FG_I64, 1, &three, qd, 8);
    mb_scalar_f(b, "c", c);
    static const int64_t p0213[4] = {0, 2, 1, 3}, p0231[4] = {0, 2, 3, 1}, p021[3] = {0, 2, 1};
    mb_node(b, "Reshape", "qr", "q", "heads", NULL);
    mb_attr_ints(b, mb_node(b, "Transpose", "qt", "qr", NULL, NULL), "perm", p0213, 4);
    mb_node(b, "Reshape", "kr", "k", "heads", NULL);
    mb_attr_ints(b, mb_node(b, "Transpose", "kt", "kr", NULL, NULL), "perm", p0231, 4);
    mb_node(b, "Reshape", "vr", "v", "heads", NULL);
    mb_attr_ints(b, mb_node(b, "Transpose", "vt", "vr", NULL, NULL), "perm", p0213, 4);
    mb_node(b, "MatMul", "s", "qt", "kt", NULL);
    mb_node(b, "Div", "sd", "s", "c", NULL);
    mb_attr_i(b, mb_node(b, "Softmax", "p", "sd", NULL, NULL), "axis", -1);
    mb_node(b, "MatMul", "o", "p", "vt", NULL);
    mb_attr_ints(b, mb_node(b, "Transpose", "ot", "o", NULL, NULL), "perm", p0213, 4);
    mb_node(b, "Reshape", "y", "ot", "merged", NULL);
    mb_attr_ints(b, mb_node(b, "Transpose", "w3t", "w3", NULL, NULL), "perm", p021, 3);
    mb_node(b, "MatMul", "u", "q", "w3t", NULL); /* [2, 5, 8] x [2, 8, 3] */
    void *buf = mb_pack(b, len);
    mb_free(b);
    free(b);
    return buf;
}

static void attention_views_match_the_unfused_ops(void **state) {
    (void)state;
    static float q[80], k[80], v[80], w3[48], y_f[80], y_u[80], u_f[30], u_u[30];
    uint32_t seed = 31;
    for (int i = 0; i < 80; i++) {
        q[i] = frand(&seed, -2.f, 2.f);
        k[i] = frand(&seed, -2.f, 2.f);
        v[i] = frand(&seed, -1.f, 1.f);
    }
    for (int i = 0; i < 48; i++)
        w3[i] = frand(&seed, -1.f, 1.f);
    fg_tensor in[4] = {{.dtype = FG_F32, .rank = 3, .dims = {2, 5, 8}, .data = q},
                       {.dtype = FG_F32, .rank = 3, .dims = {2, 5, 8}, .data = k},
                       {.dtype = FG_F32, .rank = 3, .dims = {2, 5, 8}, .data = v},
                       {.dtype = FG_F32, .rank = 3, .dims = {2, 3, 8}, .data = w3}};
    int64_t cnt[2] = {80, 30};
    for (int ci = 0; ci < 2; ci++) { /* a power of two (exact as a scale) and one that is not */
        size_t len, nf, nu;
        void *buf = build_attention(&len, ci ? 2.828427f : 8.f);
        run_io(buf, len, true, in, 4, (float *[]){y_f, u_f}, cnt, 2, &nf);
        run_io(buf, len, false, in, 4, (float *[]){y_u, u_u}, cnt, 2, &nu);
        assert_true(nf + 6 <= nu); /* five Transposes and the Div gone */
        assert_close(y_f, y_u, 80, 1e-6f);
        assert_close(u_f, u_u, 30, 1e-6f);
        free(buf);
    }
}

/* A residual block in QDQ form, on x [1, 16, 6, 6]:
 *   c1 = Q(Conv(DQ(Q(x)), w1))         r = Relu(DQ(c1) + x)        (the float stream continues: r is an output)
 *   y  = DQ(Q(Conv(DQ(Q(r)), w2)))
 * Fused: QLinearConv, DequantizeAddQuantize (r and Q(r) in one pass), QLinearConv, with the int8 tensors
 * channels-last between them. */
static void *build_residual(size_t *len, bool qb) {
    mb *b = calloc(1, sizeof *b);
    uint32_t seed = 4242;
    int64_t xd[4] = {1, 16, 6, 6};
    mb_io(b, true, "x", 4, xd);
    mb_io(b, false, "y", 4, xd);
    if (!qb)
        mb_io(b, false, "r", 4, xd);
    int8_t w1[16 * 16 * 9], w2[16 * 16 * 9], zw[16] = {0};
    float sw[16];
    for (int i = 0; i < 16 * 16 * 9; i++) {
        w1[i] = (int8_t)frand(&seed, -127.f, 127.f);
        w2[i] = (int8_t)frand(&seed, -127.f, 127.f);
    }
    for (int i = 0; i < 16; i++)
        sw[i] = 0.0005f + 0.00005f * (float)i;
    int64_t wd[4] = {16, 16, 3, 3}, cd[1] = {16}, pads[4] = {1, 1, 1, 1};
    mb_init(b, "w1", FG_I8, 4, wd, w1, 1);
    mb_init(b, "w2", FG_I8, 4, wd, w2, 1);
    mb_init(b, "sw", FG_F32, 1, cd, sw, 4);
    mb_init(b, "zw", FG_I8, 1, cd, zw, 1);
    mb_scalar_f(b, "sx", SX);
    mb_scalar_u8(b, "zx", FG_U8, 100);
    mb_scalar_f(b, "sc", SY);
    mb_scalar_u8(b, "zc", FG_U8, 120);
    mb_scalar_f(b, "sr", S3);
    mb_scalar_u8(b, "zr", FG_U8, 0);
    mb_node(b, "QuantizeLinear", "xq", "x", "sx", "zx");
    mb_node(b, "DequantizeLinear", "xf", "xq", "sx", "zx");
    Onnx__NodeProto *n = mb_node(b, "DequantizeLinear", "w1f", "w1", "sw", "zw");
    mb_attr_i(b, n, "axis", 0);
    n = mb_node(b, "Conv", "c1f", "xf", "w1f", NULL);
    mb_attr_ints(b, n, "pads", pads, 4);
    mb_node(b, "QuantizeLinear", "c1q", "c1f", "sc", "zc");
    mb_node(b, "DequantizeLinear", "c1d", "c1q", "sc", "zc");
    mb_node(b, "Add", "s", "c1d", qb ? "xf" : "x", NULL); /* qb: the residual read through its own Q/DQ */
    mb_node(b, "Relu", "r", "s", NULL, NULL);
    mb_node(b, "QuantizeLinear", "rq", "r", "sr", "zr");
    mb_node(b, "DequantizeLinear", "rf", "rq", "sr", "zr");
    n = mb_node(b, "DequantizeLinear", "w2f", "w2", "sw", "zw");
    mb_attr_i(b, n, "axis", 0);
    n = mb_node(b, "Conv", "c2f", "rf", "w2f", NULL);
    mb_attr_ints(b, n, "pads", pads, 4);
    mb_node(b, "QuantizeLinear", "c2q", "c2f", "sc", "zc");
    mb_node(b, "DequantizeLinear", "y", "c2q", "sc", "zc");
    void *buf = mb_pack(b, len);
    mb_free(b);
    free(b);
    return buf;
}

static void residual_blocks_stay_int8_and_match_the_float_ops(void **state) {
    (void)state;
    size_t len;
    void *buf = build_residual(&len, false);
    static float x[576], y_f[576], r_f[576], y_u[576], r_u[576];
    uint32_t seed = 31;
    for (int i = 0; i < 576; i++)
        x[i] = frand(&seed, -2.f, 3.f);
    fg_tensor in = {.dtype = FG_F32, .rank = 4, .dims = {1, 16, 6, 6}, .data = x};
    int64_t cnt[2] = {576, 576};
    size_t nf, nu;
    run_io(buf, len, true, &in, 1, (float *[]){y_f, r_f}, cnt, 2, &nf);
    run_io(buf, len, false, &in, 1, (float *[]){y_u, r_u}, cnt, 2, &nu);
    /* fused: Q(x), QLinearConv, DequantizeAddQuantize, QLinearConv, DQ(y) */
    assert_int_equal(nf, 5);
    assert_int_equal(nu, 12);
    /* the float stream is the unfused ops' arithmetic step by step; y within one step of it */
    assert_steps(r_f, r_u, 576, 1e-6f);
    assert_steps(y_f, y_u, 576, SY);
    int zero = 0, pos = 0;
    for (int i = 0; i < 576; i++) {
        zero += r_f[i] == 0.f;
        pos += r_f[i] > 0.f;
    }
    assert_true(zero > 0 && pos > 0); /* the Relu took effect */
    free(buf);
}

/* The residual as ONNX Runtime's QDQ quantizer (and `frugal quantize --mode static`) writes it: both Add
 * operands through Q/DQ. Fused, DequantizeAddQuantize reads the uint8 residual and writes no float
 * stream (nothing reads it): still five nodes, y within one step of the unfused ops. */
static void residual_on_int8_operands_fuses_and_matches(void **state) {
    (void)state;
    size_t len;
    void *buf = build_residual(&len, true);
    static float x[576], y_f[576], y_u[576];
    uint32_t seed = 77;
    for (int i = 0; i < 576; i++)
        x[i] = frand(&seed, -2.f, 3.f);
    fg_tensor in = {.dtype = FG_F32, .rank = 4, .dims = {1, 16, 6, 6}, .data = x};
    int64_t cnt[1] = {576};
    size_t nf, nu;
    run_io(buf, len, true, &in, 1, (float *[]){y_f}, cnt, 1, &nf);
    run_io(buf, len, false, &in, 1, (float *[]){y_u}, cnt, 1, &nu);
    assert_int_equal(nf, 5);
    assert_steps(y_f, y_u, 576, SY);
    free(buf);
}

/* y = MaxPool(DQ(Conv_int8(...))) as resnet's stem: x [1, 16, 8, 8] -> Q -> DQ -> Conv(3x3, pads 1) -> Q
 * -> DQ -> MaxPool(3x3, stride 2, pads 1) -> y. Fused, the pool runs on the convolution's uint8 output
 * (channels-last) and the DequantizeLinear after it: the same values exactly. */
static void pool_of_dequantized_runs_on_int8(void **state) {
    (void)state;
    mb *b = calloc(1, sizeof *b);
    uint32_t seed = 99;
    int64_t xd[4] = {1, 16, 8, 8}, yd[4] = {1, 16, 4, 4};
    mb_io(b, true, "x", 4, xd);
    mb_io(b, false, "y", 4, yd);
    int8_t w[16 * 16 * 9], zw[16] = {0};
    float sw[16];
    for (int i = 0; i < 16 * 16 * 9; i++)
        w[i] = (int8_t)frand(&seed, -127.f, 127.f);
    for (int i = 0; i < 16; i++)
        sw[i] = 0.0005f + 0.00005f * (float)i;
    int64_t wd[4] = {16, 16, 3, 3}, cd[1] = {16}, pads[4] = {1, 1, 1, 1}, k3[2] = {3, 3}, s2[2] = {2, 2};
    mb_init(b, "w", FG_I8, 4, wd, w, 1);
    mb_init(b, "sw", FG_F32, 1, cd, sw, 4);
    mb_init(b, "zw", FG_I8, 1, cd, zw, 1);
    mb_scalar_f(b, "sx", SX);
    mb_scalar_u8(b, "zx", FG_U8, 100);
    mb_scalar_f(b, "sc", SY);
    mb_scalar_u8(b, "zc", FG_U8, 120);
    mb_node(b, "QuantizeLinear", "xq", "x", "sx", "zx");
    mb_node(b, "DequantizeLinear", "xf", "xq", "sx", "zx");
    Onnx__NodeProto *n = mb_node(b, "DequantizeLinear", "wf", "w", "sw", "zw");
    mb_attr_i(b, n, "axis", 0);
    n = mb_node(b, "Conv", "cf", "xf", "wf", NULL);
    mb_attr_ints(b, n, "pads", pads, 4);
    mb_node(b, "QuantizeLinear", "cq", "cf", "sc", "zc");
    mb_node(b, "DequantizeLinear", "cd", "cq", "sc", "zc");
    n = mb_node(b, "MaxPool", "y", "cd", NULL, NULL);
    mb_attr_ints(b, n, "kernel_shape", k3, 2);
    mb_attr_ints(b, n, "strides", s2, 2);
    mb_attr_ints(b, n, "pads", pads, 4);
    size_t len;
    void *buf = mb_pack(b, &len);
    mb_free(b);
    free(b);
    static float x[1024], y_f[256], y_u[256];
    for (int i = 0; i < 1024; i++)
        x[i] = frand(&seed, -2.f, 3.f);
    fg_tensor in = {.dtype = FG_F32, .rank = 4, .dims = {1, 16, 8, 8}, .data = x};
    int64_t cnt[1] = {256};
    size_t nf, nu;
    run_io(buf, len, true, &in, 1, (float *[]){y_f}, cnt, 1, &nf);
    run_io(buf, len, false, &in, 1, (float *[]){y_u}, cnt, 1, &nu);
    assert_int_equal(nf, 4); /* Q(x), QLinearConv, MaxPool, DQ */
    assert_int_equal(nu, 6);
    assert_steps(y_f, y_u, 256, SY); /* the convolution: within a step; the pool adds nothing */
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qdq_chains_fuse_and_match_the_float_ops),
        cmocka_unit_test(dynamic_chains_fuse_and_match_the_unfused_ops),
        cmocka_unit_test(attention_views_match_the_unfused_ops),
        cmocka_unit_test(layernorm_range_quantizes_as_the_range_pass),
        cmocka_unit_test(residual_blocks_stay_int8_and_match_the_float_ops),
        cmocka_unit_test(residual_on_int8_operands_fuses_and_matches),
        cmocka_unit_test(pool_of_dequantized_runs_on_int8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
