/* Tests for the QDQ fusion in src/engine/fuse.c (fg_graph_fuse_qdq): a small QDQ-format model built here
 * with protobuf-c (Conv with per-channel int8 weights, an int32 bias and Relu; MatMul with per-column
 * weights and a float bias Add; Gemm with transB and Clip) runs fused (QLinearConv / QLinearMatMul on
 * oneDNN's int8 primitives) and unfused (no_optimize: the float ops between dequantize and quantize),
 * and the two must agree to within one quantization step, almost everywhere exactly. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qdq_chains_fuse_and_match_the_float_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
