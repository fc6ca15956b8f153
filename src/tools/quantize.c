/* quantize.c - `frugal quantize IN.onnx OUT.onnx`: int8 quantization of an ONNX model's MatMul, Gemm
 * and Conv nodes with constant weights, written as standard ONNX that any runtime runs.
 *
 *   --mode dynamic  weights int8, per output channel, symmetric (zero point 0); activations quantized at
 *                   run time: DynamicQuantizeLinear → MatMulInteger / ConvInteger → Cast → Mul by the
 *                   product of the two scales (→ Add of the float bias).
 *   --mode static   QDQ format: activations get QuantizeLinear → DequantizeLinear with a uint8 scale
 *                   and zero point measured on calibration data (--calib X.npy; min/max, or a
 *                   percentile of the values), weights become int8 initializers behind a per-channel
 *                   DequantizeLinear; the node itself stays float, so a runtime may fuse
 *                   DQ → op → into one int8 kernel.
 *
 * The model is edited at the protobuf level (onnx.pb-c.h): nodes that are not quantized, and every
 * other field of the model, are written back untouched. Calibration runs frugal's own engine on a copy
 * of the model whose graph also outputs the activations to be measured. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tensor_io.h"
#include "frugal/engine.h"
#include "onnx.pb-c.h"
#include "tools/tools.h"

#define MAX_EXCLUDE 256
#define CALIB_BATCH 64
#define HIST_BINS 4096

static void quantize_usage(FILE *f) {
    fprintf(f,
            "usage: frugal quantize IN.onnx OUT.onnx [options]\n\n"
            "Quantizes the MatMul, Gemm and Conv nodes that have constant float weights to int8 and writes a\n"
            "standard ONNX model (ONNX Runtime runs it too).\n\n"
            "options:\n"
            "  --mode dynamic|static  dynamic (default): int8 weights, activations quantized at run time\n"
            "                         (DynamicQuantizeLinear, MatMulInteger, ConvInteger);\n"
            "                         static: QDQ format, activation ranges from --calib data\n"
            "  --calib FILE.npy       calibration inputs for the model's first input (static mode), first\n"
            "                         dimension = samples (.npy, .pb, or a v2 infer request in JSON)\n"
            "  --calib-limit N        use at most N samples (default: all)\n"
            "  --method minmax|percentile  activation range from calibration: the observed min/max\n"
            "                         (default) or --percentile of the values (clips outliers)\n"
            "  --percentile P         for --method percentile (default 99.99)\n"
            "  --exclude NODE         leave this node (by name) in float; repeatable\n"
            "  --keep-first-last      leave the first and the last quantizable node in float (the layers\n"
            "                         most sensitive to quantization)\n"
            "  --per-tensor           one weight scale per tensor instead of per output channel\n"
            "  -h, --help             this help\n"
            "\nexit status: 0 written, 1 nothing to quantize or a model/data error (one line on stderr),\n"
            "2 bad usage\n");
}

/* ---------------------------------------------------------------- allocation arena
 * Everything this tool adds to the unpacked model is allocated here and freed at the end, after the
 * model's own arrays are put back, so protobuf-c frees exactly what it allocated. */
typedef struct arena {
    void **p;
    size_t n, cap;
} arena;

static void *aalloc(arena *a, size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "frugal quantize: out of memory\n");
        exit(1);
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 256;
        void **np = realloc(a->p, a->cap * sizeof *np);
        if (!np) {
            fprintf(stderr, "frugal quantize: out of memory\n");
            exit(1);
        }
        a->p = np;
    }
    a->p[a->n++] = p;
    return p;
}

static char *astrf(arena *a, const char *fmt, const char *s1, const char *s2) {
    size_t n = strlen(fmt) + strlen(s1) + (s2 ? strlen(s2) : 0) + 1;
    char *p = aalloc(a, n);
    snprintf(p, n, fmt, s1, s2 ? s2 : "");
    return p;
}

static void afree(arena *a) {
    for (size_t i = 0; i < a->n; i++)
        free(a->p[i]);
    free(a->p);
}

/* ---------------------------------------------------------------- building protobuf pieces */

typedef struct qctx {
    arena a;
    Onnx__ModelProto *m;
    Onnx__GraphProto *g;
    Onnx__NodeProto **nodes; /* the new node list */
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits; /* initializers added */
    size_t n_inits, cap_inits;
    /* activations already quantized: tensor name → the names that replace it */
    struct act {
        const char *name, *q, *s, *zp;
    } *acts;
    size_t n_act, cap_act;
    size_t n_residual; /* residual Adds given int8 operands (qdq_residual_adds) */
    int64_t opset;
} qctx;

static void push(qctx *q, void ***arr, size_t *n, size_t *cap, void *x) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        void **na = aalloc(&q->a, nc * sizeof *na);
        if (*n)
            memcpy(na, *arr, *n * sizeof *na);
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = x;
}

static Onnx__NodeProto *node(qctx *q, const char *op, const char *name, int nin, const char *const *ins, int nout,
                             const char *const *outs) {
    Onnx__NodeProto *n = aalloc(&q->a, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->n_input = (size_t)nin;
    n->input = aalloc(&q->a, (size_t)(nin ? nin : 1) * sizeof(char *));
    for (int i = 0; i < nin; i++)
        n->input[i] = (char *)ins[i];
    n->n_output = (size_t)nout;
    n->output = aalloc(&q->a, (size_t)nout * sizeof(char *));
    for (int i = 0; i < nout; i++)
        n->output[i] = (char *)outs[i];
    push(q, (void ***)&q->nodes, &q->n_nodes, &q->cap_nodes, n);
    return n;
}

static void attr_int(qctx *q, Onnx__NodeProto *n, const char *name, int64_t v) {
    Onnx__AttributeProto *at = aalloc(&q->a, sizeof *at);
    onnx__attribute_proto__init(at);
    at->name = (char *)name;
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    at->has_i = 1;
    at->i = v;
    Onnx__AttributeProto **na = aalloc(&q->a, (n->n_attribute + 1) * sizeof *na);
    if (n->n_attribute)
        memcpy(na, n->attribute, n->n_attribute * sizeof *na);
    na[n->n_attribute++] = at;
    n->attribute = na;
}

/* a tensor holding a copy of raw bytes (not yet in the model) */
static Onnx__TensorProto *tensor(qctx *q, const char *name, int dtype, int rank, const int64_t *dims, const void *raw,
                                 size_t len) {
    Onnx__TensorProto *t = aalloc(&q->a, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)rank;
    t->dims = aalloc(&q->a, (size_t)(rank ? rank : 1) * sizeof *t->dims);
    for (int i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    t->has_raw_data = 1;
    t->raw_data.len = len;
    t->raw_data.data = aalloc(&q->a, len);
    memcpy(t->raw_data.data, raw, len);
    return t;
}

/* a new initializer holding a copy of raw bytes */
static const char *init(qctx *q, const char *name, int dtype, int rank, const int64_t *dims, const void *raw,
                        size_t len) {
    push(q, (void ***)&q->inits, &q->n_inits, &q->cap_inits, tensor(q, name, dtype, rank, dims, raw, len));
    return name;
}

static const Onnx__TensorProto *find_init(const Onnx__GraphProto *g, const char *name) {
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && strcmp(g->initializer[i]->name, name) == 0)
            return g->initializer[i];
    return NULL;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static int64_t attr_i(const Onnx__NodeProto *n, const char *name, int64_t dflt) {
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a && a->has_i ? a->i : dflt;
}

static float attr_f(const Onnx__NodeProto *n, const char *name, float dflt) {
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a && a->has_f ? a->f : dflt;
}

/* ---------------------------------------------------------------- weights */

/* A float weight as a plain array (converted from whatever storage the initializer uses). */
typedef struct weight {
    fg_tensor t;
    float *w;
} weight;

static int load_weight(const Onnx__TensorProto *p, weight *w, char *err, size_t errn) {
    fg_err e = {0};
    memset(w, 0, sizeof *w);
    if (fg_tensor_from_proto(p, &w->t, &e) < 0) {
        snprintf(err, errn, "initializer %s: %s", p->name ? p->name : "?", e.msg);
        return -1;
    }
    if (w->t.dtype != FG_F32) {
        free(w->t.data);
        snprintf(err, errn, "initializer %s is %s, not float32", p->name ? p->name : "?", fg_dtype_name(w->t.dtype));
        return -1;
    }
    w->w = w->t.data;
    return 0;
}

/* round half to even, as ONNX QuantizeLinear does */
static float rne(float x) { return nearbyintf(x); }

/* Symmetric int8 quantization of w viewed as [outer, ch, inner] with scales per ch (n_ch = 1: per
 * tensor): q = clamp(rne(w / s), -127, 127), s = max|w| / 127 over the channel. */
static void quant_sym(const float *w, int64_t outer, int64_t ch, int64_t inner, int per_channel, int8_t *q,
                      float *scale) {
    int64_t nsc = per_channel ? ch : 1;
    for (int64_t c = 0; c < nsc; c++)
        scale[c] = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < ch; c++)
            for (int64_t i = 0; i < inner; i++) {
                float a = fabsf(w[(o * ch + c) * inner + i]);
                int64_t k = per_channel ? c : 0;
                if (a > scale[k])
                    scale[k] = a;
            }
    for (int64_t c = 0; c < nsc; c++)
        scale[c] = scale[c] > 0 ? scale[c] / 127.0f : 1.0f;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t c = 0; c < ch; c++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t idx = (o * ch + c) * inner + i;
                float v = rne(w[idx] / scale[per_channel ? c : 0]);
                q[idx] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
            }
}

/* a node's name for messages and derived tensor names: its name, else its first output, else its type */
static const char *node_label(const Onnx__NodeProto *n) {
    if (n->name && n->name[0])
        return n->name;
    if (n->n_output && n->output[0] && n->output[0][0])
        return n->output[0];
    return n->op_type ? n->op_type : "node";
}

/* ---------------------------------------------------------------- Conv + BatchNormalization

 * A Conv whose output only feeds a BatchNormalization with constant parameters becomes one Conv with
 * the normalization folded into its weights and bias (W' = W * g / sqrt(v + eps) per output channel,
 * b' = (b - m) * g / sqrt(v + eps) + beta), as the engine does at load. Quantizing after folding keeps
 * the int8 region Conv → Relu → QuantizeLinear whole, so a runtime can fuse it; otherwise the
 * normalization would sit between the int8 product and its requantization. Rewrites q->g's node and
 * initializer arrays (arena copies; the originals are put back before the model is freed); returns how
 * many pairs were folded. */
static size_t fold_batchnorm(qctx *q) {
    Onnx__GraphProto *g = q->g;
    Onnx__NodeProto **nodes = aalloc(&q->a, (g->n_node + 1) * sizeof *nodes);
    Onnx__TensorProto **inits = aalloc(&q->a, (g->n_initializer + 2 * g->n_node + 1) * sizeof *inits);
    memcpy(inits, g->initializer, g->n_initializer * sizeof *inits);
    size_t nn = 0, ni = g->n_initializer, folded = 0;
    unsigned char *drop = aalloc(&q->a, g->n_node + 1);
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        if (drop[i])
            continue;
        nodes[nn++] = n;
        if (!n->op_type || strcmp(n->op_type, "Conv") != 0 || n->n_input < 2 || n->n_output != 1 ||
            (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0))
            continue;
        const char *y = n->output[0];
        long users = 0, only = -1;
        for (size_t k = 0; k < g->n_node; k++)
            for (size_t j = 0; j < g->node[k]->n_input; j++)
                if (strcmp(g->node[k]->input[j], y) == 0)
                    users++, only = (long)k;
        for (size_t k = 0; k < g->n_output; k++)
            users += g->output[k]->name && strcmp(g->output[k]->name, y) == 0;
        if (users != 1 || only <= (long)i)
            continue;
        const Onnx__NodeProto *bn = g->node[only];
        if (!bn->op_type || strcmp(bn->op_type, "BatchNormalization") != 0 || bn->n_input != 5 || bn->n_output < 1 ||
            strcmp(bn->input[0], y) != 0 || (bn->domain && bn->domain[0] && strcmp(bn->domain, "ai.onnx") != 0))
            continue;
        const Onnx__TensorProto *wp = find_init(g, n->input[1]), *bp = n->n_input > 2 && n->input[2][0] ? find_init(g, n->input[2]) : NULL;
        const Onnx__TensorProto *pp[4];
        int ok = wp != NULL && !(n->n_input > 2 && n->input[2][0] && !bp);
        for (int k = 0; k < 4 && ok; k++)
            ok = (pp[k] = find_init(g, bn->input[k + 1])) != NULL;
        if (!ok)
            continue;
        weight w, b = {0}, par[4];
        char err[256];
        int loaded = 0;
        if (load_weight(wp, &w, err, sizeof err) < 0)
            continue;
        for (; loaded < 4; loaded++)
            if (load_weight(pp[loaded], &par[loaded], err, sizeof err) < 0)
                break;
        int64_t m = w.t.rank >= 3 ? w.t.dims[0] : -1;
        ok = loaded == 4 && m > 0 && (!bp || load_weight(bp, &b, err, sizeof err) == 0);
        for (int k = 0; ok && k < 4; k++)
            ok = fg_tensor_numel(&par[k].t) == m;
        ok = ok && (!bp || fg_tensor_numel(&b.t) == m);
        if (ok) {
            double eps = attr_f(bn, "epsilon", 1e-5f);
            int64_t per = fg_tensor_numel(&w.t) / m;
            float *nb = aalloc(&q->a, (size_t)m * sizeof *nb);
            for (int64_t c = 0; c < m; c++) {
                double k = par[0].w[c] / sqrt((double)par[3].w[c] + eps);
                for (int64_t j = 0; j < per; j++)
                    w.w[c * per + j] = (float)(w.w[c * per + j] * k);
                nb[c] = (float)(((bp ? b.w[c] : 0) - par[2].w[c]) * k + par[1].w[c]);
            }
            const char *wn = astrf(&q->a, "%s_bn_folded", n->input[1], NULL);
            const char *bname = astrf(&q->a, "%s_bn_folded_bias", node_label(n), NULL);
            inits[ni++] = tensor(q, wn, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, w.t.rank, w.t.dims, w.w,
                                 (size_t)fg_tensor_numel(&w.t) * sizeof(float));
            inits[ni++] = tensor(q, bname, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, &m, nb, (size_t)m * sizeof(float));
            Onnx__NodeProto *copy = aalloc(&q->a, sizeof *copy);
            *copy = *n;
            copy->n_input = 3;
            copy->input = aalloc(&q->a, 3 * sizeof(char *));
            copy->input[0] = n->input[0];
            copy->input[1] = (char *)wn;
            copy->input[2] = (char *)bname;
            copy->output = aalloc(&q->a, sizeof(char *));
            copy->output[0] = bn->output[0];
            nodes[nn - 1] = copy;
            drop[only] = 1;
            folded++;
        }
        free(w.t.data);
        free(b.t.data);
        for (int k = 0; k < loaded; k++)
            free(par[k].t.data);
    }
    g->node = nodes;
    g->n_node = nn;
    g->initializer = inits;
    g->n_initializer = ni;
    return folded;
}

/* ---------------------------------------------------------------- candidates */

typedef enum { K_MATMUL, K_GEMM, K_CONV } kind;

typedef struct cand {
    size_t node;        /* index in the graph */
    kind k;
    const Onnx__TensorProto *wp;
    int transb;         /* Gemm: B is [N, K] */
    const char *act;    /* activation input */
    double lo, hi;      /* its calibrated range (static) */
    long post;          /* static: index of a Relu/Clip that is the output's only consumer, -1 none,
                           -2 the output is not quantized */
    const char *y;      /* static: the tensor quantized after the node (its output, or post's) */
    double ylo, yhi;    /* its calibrated range */
} cand;

/* A tensor measured during calibration. */
typedef struct meas {
    const char *name;
    double lo, hi;
} meas;

/* Whether node n is quantizable; fills c. why: the reason when it is not (NULL: not a candidate op). */
static int candidate(const Onnx__GraphProto *g, size_t idx, cand *c, const char **why) {
    const Onnx__NodeProto *n = g->node[idx];
    *why = NULL;
    memset(c, 0, sizeof *c);
    c->node = idx;
    if ((n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) || !n->op_type || n->n_output < 1)
        return 0;
    if (strcmp(n->op_type, "MatMul") == 0)
        c->k = K_MATMUL;
    else if (strcmp(n->op_type, "Gemm") == 0)
        c->k = K_GEMM;
    else if (strcmp(n->op_type, "Conv") == 0)
        c->k = K_CONV;
    else
        return 0;
    if (n->n_input < 2) {
        *why = "missing inputs";
        return 0;
    }
    c->wp = find_init(g, n->input[1]);
    if (!c->wp) {
        *why = "weights are not a constant initializer";
        return 0;
    }
    if (!c->wp->has_data_type || c->wp->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        *why = "weights are not float32";
        return 0;
    }
    size_t r = c->wp->n_dims;
    if ((c->k != K_CONV && r != 2) || (c->k == K_CONV && (r < 3 || r > 5))) {
        *why = "weights have an unexpected rank";
        return 0;
    }
    for (size_t i = 0; i < r; i++)
        if (c->wp->dims[i] <= 0) {
            *why = "weights have an empty dimension";
            return 0;
        }
    if (c->k == K_GEMM) {
        if (attr_i(n, "transA", 0) != 0 || attr_f(n, "alpha", 1.0f) != 1.0f || attr_f(n, "beta", 1.0f) != 1.0f) {
            *why = "Gemm with transA, alpha or beta";
            return 0;
        }
        c->transb = attr_i(n, "transB", 0) != 0;
        if (n->n_input > 2 && n->input[2][0] && !find_init(g, n->input[2])) {
            *why = "Gemm bias is not constant";
            return 0;
        }
    }
    if (!n->input[0][0] || find_init(g, n->input[0])) {
        *why = "the activation input is absent or a constant";
        return 0;
    }
    c->act = n->input[0];
    return 1;
}

/* ---------------------------------------------------------------- calibration (static mode) */

/* Runs the model on the calibration data with the measured tensors added as graph outputs, and sets
 * each one's lo/hi (min/max, or the percentile). 0 or -1 with err. */
static int calibrate(qctx *q, meas *cs, size_t nc, const char *calib, long limit, int percentile, double pct,
                     char *err, size_t errn) {
    fg_err e = {0};
    fg_tensor data;
    if (fg_tool_read_tensor(calib, &data, &e) < 0) {
        snprintf(err, errn, "--calib %s: %s", calib, e.msg);
        return -1;
    }
    int rc = -1;
    uint8_t *buf = NULL;
    fg_model *model = NULL;
    fg_session *s = NULL;
    double *h = NULL;
    if (data.dtype != FG_F32 || data.rank < 1 || data.dims[0] < 1) {
        snprintf(err, errn, "--calib %s: want float32 samples with a first (sample) dimension", calib);
        goto out;
    }
    /* the calibration copy: the same model, its graph also outputting every activation measured */
    Onnx__GraphProto *g = q->g;
    size_t n_out0 = g->n_output;
    Onnx__ValueInfoProto **out0 = g->output;
    Onnx__ValueInfoProto **outs = aalloc(&q->a, (n_out0 + nc) * sizeof *outs);
    memcpy(outs, out0, n_out0 * sizeof *outs);
    for (size_t i = 0; i < nc; i++) {
        Onnx__ValueInfoProto *v = aalloc(&q->a, sizeof *v);
        onnx__value_info_proto__init(v);
        v->name = (char *)cs[i].name;
        Onnx__TypeProto *tp = aalloc(&q->a, sizeof *tp);
        onnx__type_proto__init(tp);
        Onnx__TypeProto__Tensor *tt = aalloc(&q->a, sizeof *tt);
        onnx__type_proto__tensor__init(tt);
        tt->has_elem_type = 1;
        tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
        tp->tensor_type = tt;
        v->type = tp;
        outs[n_out0 + i] = v;
    }
    g->output = outs;
    g->n_output = n_out0 + nc;
    size_t len = onnx__model_proto__get_packed_size(q->m);
    buf = malloc(len);
    if (!buf) {
        g->output = out0;
        g->n_output = n_out0;
        snprintf(err, errn, "out of memory");
        goto out;
    }
    onnx__model_proto__pack(q->m, buf);
    g->output = out0;
    g->n_output = n_out0;
    fg_model_opts mo = {.no_optimize = 1}; /* fusions could fold away a measured tensor */
    model = fg_model_load_buffer(buf, len, &mo, &e);
    fg_session_opts so = {0};
    if (!model || !(s = fg_session_new(model, &so, &e))) {
        snprintf(err, errn, "calibration model: %s", e.msg);
        goto out;
    }
    if (fg_model_n_inputs(model) != 1) {
        snprintf(err, errn, "calibration feeds one input; the model has %zu", fg_model_n_inputs(model));
        goto out;
    }
    int64_t n = data.dims[0];
    if (limit > 0 && n > limit)
        n = limit;
    int64_t row = fg_tensor_numel(&data) / data.dims[0];
    size_t n_all = fg_model_n_outputs(model);
    fg_tensor *res = aalloc(&q->a, n_all * sizeof *res);
    for (size_t i = 0; i < nc; i++)
        cs[i].lo = INFINITY, cs[i].hi = -INFINITY;
    if (percentile && !(h = calloc(nc * HIST_BINS, sizeof *h))) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    /* pass 1: min/max; pass 2 (percentile): a histogram over [min, max] */
    for (int pass = 0; pass < (percentile ? 2 : 1); pass++) {
        for (int64_t at = 0; at < n; at += CALIB_BATCH) {
            fg_tensor in = data;
            in.dims[0] = n - at < CALIB_BATCH ? n - at : CALIB_BATCH;
            in.data = (float *)data.data + at * row;
            if (fg_session_run(s, &in, 1, res, n_all, &e) < 0) {
                snprintf(err, errn, "calibration run (samples %lld..): %s", (long long)at, e.msg);
                goto out;
            }
            for (size_t i = 0; i < nc; i++) {
                const fg_tensor *t = &res[n_all - nc + i];
                if (t->dtype != FG_F32) {
                    snprintf(err, errn, "activation %s is %s, not float32", cs[i].name, fg_dtype_name(t->dtype));
                    goto out;
                }
                const float *v = t->data;
                int64_t k = fg_tensor_numel(t);
                if (pass == 0) {
                    for (int64_t j = 0; j < k; j++) {
                        if (v[j] < cs[i].lo)
                            cs[i].lo = v[j];
                        if (v[j] > cs[i].hi)
                            cs[i].hi = v[j];
                    }
                } else {
                    double lo = cs[i].lo, w = (cs[i].hi - lo) / HIST_BINS;
                    for (int64_t j = 0; j < k; j++) {
                        long b = w > 0 ? (long)((v[j] - lo) / w) : 0;
                        h[i * HIST_BINS + (b < 0 ? 0 : b >= HIST_BINS ? HIST_BINS - 1 : b)]++;
                    }
                }
            }
        }
    }
    if (percentile) {
        for (size_t i = 0; i < nc; i++) {
            double total = 0, lo = cs[i].lo, w = (cs[i].hi - lo) / HIST_BINS;
            for (int b = 0; b < HIST_BINS; b++)
                total += h[i * HIST_BINS + b];
            double cut = total * (1 - pct / 100), acc = 0;
            int blo = 0, bhi = HIST_BINS - 1;
            for (; blo < HIST_BINS && acc + h[i * HIST_BINS + blo] <= cut; blo++)
                acc += h[i * HIST_BINS + blo];
            for (acc = 0; bhi > blo && acc + h[i * HIST_BINS + bhi] <= cut; bhi--)
                acc += h[i * HIST_BINS + bhi];
            cs[i].hi = lo + w * (bhi + 1);
            cs[i].lo = lo + w * blo;
        }
    }
    rc = 0;
out:
    free(h);
    fg_session_free(s);
    fg_model_free(model);
    free(buf);
    free(data.data);
    return rc;
}

/* ---------------------------------------------------------------- rewriting */

/* the replacement names of an activation quantized before, or NULL */
static const struct act *find_act(const qctx *q, const char *x) {
    for (size_t i = 0; i < q->n_act; i++)
        if (strcmp(q->acts[i].name, x) == 0)
            return &q->acts[i];
    return NULL;
}

static void add_act(qctx *q, struct act a) {
    if (q->n_act == q->cap_act) {
        size_t nc = q->cap_act ? q->cap_act * 2 : 32;
        struct act *na = aalloc(&q->a, nc * sizeof *na);
        if (q->n_act)
            memcpy(na, q->acts, q->n_act * sizeof *na);
        q->acts = na;
        q->cap_act = nc;
    }
    q->acts[q->n_act++] = a;
}

/* DynamicQuantizeLinear of an activation, once per tensor */
static void dyn_act(qctx *q, const char *x, const char **xq, const char **xs, const char **xzp) {
    const struct act *a = find_act(q, x);
    if (a) {
        *xq = a->q, *xs = a->s, *xzp = a->zp;
        return;
    }
    *xq = astrf(&q->a, "%s_quantized", x, NULL);
    *xs = astrf(&q->a, "%s_scale", x, NULL);
    *xzp = astrf(&q->a, "%s_zero_point", x, NULL);
    const char *outs[3] = {*xq, *xs, *xzp};
    node(q, "DynamicQuantizeLinear", astrf(&q->a, "%s_DynamicQuantizeLinear", x, NULL), 1, &x, 3, outs);
    add_act(q, (struct act){x, *xq, *xs, *xzp});
}

/* uint8 scale and zero point of a range (widened to hold 0, as ONNX QuantizeLinear needs) */
static void qparams(double lo, double hi, float *scale, uint8_t *zp) {
    lo = fmin(lo, 0), hi = fmax(hi, 0);
    *scale = (float)((hi - lo) / 255.0);
    if (!(*scale > 0))
        *scale = 1.0f;
    double z = nearbyint(-lo / *scale);
    *zp = (uint8_t)(z < 0 ? 0 : z > 255 ? 255 : z);
}

/* QuantizeLinear(x) → DequantizeLinear named xdq, with x's calibrated range; records x as quantized */
static void qdq_pair(qctx *q, const char *x, const char *key, const char *xdq, double lo, double hi) {
    float scale;
    uint8_t zp;
    qparams(lo, hi, &scale, &zp);
    const char *sn = init(q, astrf(&q->a, "%s_scale", key, NULL), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 0, NULL,
                          &scale, sizeof scale);
    const char *zn = init(q, astrf(&q->a, "%s_zero_point", key, NULL), ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 0, NULL,
                          &zp, 1);
    const char *xq = astrf(&q->a, "%s_quantized", key, NULL);
    const char *qi[3] = {x, sn, zn}, *di[3] = {xq, sn, zn};
    node(q, "QuantizeLinear", astrf(&q->a, "%s_QuantizeLinear", key, NULL), 3, qi, 1, &xq);
    node(q, "DequantizeLinear", astrf(&q->a, "%s_DequantizeLinear", key, NULL), 3, di, 1, &xdq);
    add_act(q, (struct act){key, xdq, sn, zn});
}

/* The dequantized form of activation x (a Q/DQ pair, once per tensor; a tensor already quantized as a
 * node's output is its own dequantized form). */
static const char *qdq_act(qctx *q, const char *x, double lo, double hi) {
    const struct act *a = find_act(q, x);
    if (a)
        return a->q;
    const char *xdq = astrf(&q->a, "%s_dequantized", x, NULL);
    qdq_pair(q, x, x, xdq, lo, hi);
    return xdq;
}

/* A residual Add that sums a quantized node's output (a DequantizeLinear's) and a float tensor that is
 * also quantized as some node's input reads that tensor's Q/DQ form instead, as ONNX Runtime's QDQ
 * quantizer does: both operands int8, so a runtime runs the Add (and its Relu, and the next
 * QuantizeLinear) as one int8 pass, and the float stream between residual blocks is never written. */
static void qdq_residual_adds(qctx *q) {
    for (size_t i = 0; i < q->n_nodes; i++) {
        Onnx__NodeProto *n = q->nodes[i];
        if (!n->op_type || strcmp(n->op_type, "Add") != 0 || n->n_input != 2 || (n->domain && n->domain[0]))
            continue;
        for (int k = 0; k < 2; k++) {
            const char *other = n->input[1 - k];
            int other_dq = 0;
            for (size_t j = 0; j < i && !other_dq; j++)
                other_dq = q->nodes[j]->op_type && strcmp(q->nodes[j]->op_type, "DequantizeLinear") == 0 &&
                           q->nodes[j]->n_output == 1 && strcmp(q->nodes[j]->output[0], other) == 0;
            const struct act *a = find_act(q, n->input[k]);
            if (!other_dq || !a || strcmp(a->q, n->input[k]) == 0)
                continue;
            Onnx__NodeProto *copy = aalloc(&q->a, sizeof *copy);
            *copy = *n;
            copy->input = aalloc(&q->a, 2 * sizeof(char *));
            copy->input[k] = (char *)a->q;
            copy->input[1 - k] = (char *)other;
            q->nodes[i] = copy;
            q->n_residual++;
            break;
        }
    }
}

/* Pushes a copy of node n whose output y is renamed, then Q/DQ that give y back under its own name: the
 * int8 boundary after a quantized node (its consumers, and graph outputs, keep reading y). */
static void qdq_output(qctx *q, const Onnx__NodeProto *n, Onnx__NodeProto *copy, const char *y, double lo, double hi) {
    if (!copy) {
        copy = aalloc(&q->a, sizeof *copy);
        *copy = *n;
        push(q, (void ***)&q->nodes, &q->n_nodes, &q->cap_nodes, copy);
    }
    copy->output = aalloc(&q->a, n->n_output * sizeof(char *));
    memcpy(copy->output, n->output, n->n_output * sizeof(char *));
    const char *pre = astrf(&q->a, "%s_prequant", y, NULL);
    copy->output[0] = (char *)pre;
    qdq_pair(q, pre, y, y, lo, hi);
}

/* The int8 form of a candidate's weights: q (same layout as the float weight), scales per output
 * channel (or one), the channel axis and the scale count. */
typedef struct qweight {
    weight w;
    int8_t *q;
    float *scale;
    int axis;
    int64_t nch;
} qweight;

static void qweight_free(qweight *x) {
    free(x->q);
    free(x->scale);
    free(x->w.t.data);
}

/* Quantizes candidate c's weights into *x (freed with qweight_free; nothing to free on failure). */
static int quant_weight(const cand *c, int per_channel, qweight *x, char *err, size_t errn) {
    memset(x, 0, sizeof *x);
    if (load_weight(c->wp, &x->w, err, errn) < 0)
        return -1;
    int64_t outer, ch, inner, total = fg_tensor_numel(&x->w.t);
    if (c->k == K_CONV) { /* [M, C/g, k...]: channels on axis 0 */
        x->axis = 0;
        outer = 1, ch = x->w.t.dims[0], inner = total / ch;
    } else if (c->k == K_GEMM && c->transb) { /* [N, K] */
        x->axis = 0;
        outer = 1, ch = x->w.t.dims[0], inner = x->w.t.dims[1];
    } else { /* [K, N]: output channels are columns */
        x->axis = 1;
        outer = x->w.t.dims[0], ch = x->w.t.dims[1], inner = 1;
    }
    x->nch = per_channel ? ch : 1;
    x->q = malloc((size_t)total);
    x->scale = malloc((size_t)ch * sizeof *x->scale);
    if (!x->q || !x->scale) {
        qweight_free(x);
        snprintf(err, errn, "out of memory");
        return -1;
    }
    quant_sym(x->w.w, outer, ch, inner, per_channel, x->q, x->scale);
    return 0;
}

/* Emits the dynamic replacement of candidate c (MatMul/Gemm/Conv). */
static int emit_dynamic(qctx *q, const cand *c, int per_channel, char *err, size_t errn) {
    const Onnx__NodeProto *n = q->g->node[c->node];
    qweight x;
    if (quant_weight(c, per_channel, &x, err, errn) < 0)
        return -1;
    const weight w = x.w;
    int8_t *qw = x.q;
    const float *scale = x.scale;
    int64_t nch = x.nch;
    const char *base = node_label(n);
    int64_t dims[FG_MAX_RANK];
    for (int i = 0; i < w.t.rank; i++)
        dims[i] = w.t.dims[i];
    int gemm_t = c->k == K_GEMM && c->transb;
    int8_t *qt = qw;
    if (gemm_t) { /* MatMulInteger wants [K, N]: transpose the quantized [N, K] */
        qt = malloc((size_t)(dims[0] * dims[1]));
        if (!qt) {
            qweight_free(&x);
            snprintf(err, errn, "out of memory");
            return -1;
        }
        for (int64_t i = 0; i < dims[0]; i++)
            for (int64_t j = 0; j < dims[1]; j++)
                qt[j * dims[0] + i] = qw[i * dims[1] + j];
        int64_t t = dims[0];
        dims[0] = dims[1], dims[1] = t;
    }
    const char *wq = init(q, astrf(&q->a, "%s_quantized", n->input[1], NULL), ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
                          w.t.rank, dims, qt, (size_t)fg_tensor_numel(&w.t));
    /* scales in the output's layout: [N] broadcasts over a MatMul's last axis, [1, M, 1, ...] over Conv */
    int64_t sdims[FG_MAX_RANK], srank = 1;
    sdims[0] = nch;
    if (c->k == K_CONV && nch > 1) {
        srank = w.t.rank;
        for (int i = 0; i < srank; i++)
            sdims[i] = i == 1 ? nch : 1;
    }
    const char *ws = init(q, astrf(&q->a, "%s_scale", n->input[1], NULL), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                          (int)srank, sdims, scale, (size_t)nch * sizeof(float));
    const char *xq, *xs, *xzp;
    dyn_act(q, c->act, &xq, &xs, &xzp);
    const char *y_i = astrf(&q->a, "%s_output_int32", base, NULL), *y_f = astrf(&q->a, "%s_output_float", base, NULL);
    const char *s_all = astrf(&q->a, "%s_scale_product", base, NULL);
    int has_bias = (c->k != K_MATMUL) && n->n_input > 2 && n->input[2][0];
    const char *y = has_bias ? astrf(&q->a, "%s_output_unbiased", base, NULL) : n->output[0];
    const char *ii[3] = {xq, wq, xzp};
    Onnx__NodeProto *op = node(q, c->k == K_CONV ? "ConvInteger" : "MatMulInteger",
                               astrf(&q->a, "%s_quant", base, NULL), 3, ii, 1, &y_i);
    if (c->k == K_CONV) /* the convolution's geometry carries over */
        for (size_t i = 0; i < n->n_attribute; i++) {
            Onnx__AttributeProto **na = aalloc(&q->a, (op->n_attribute + 1) * sizeof *na);
            if (op->n_attribute)
                memcpy(na, op->attribute, op->n_attribute * sizeof *na);
            na[op->n_attribute++] = n->attribute[i];
            op->attribute = na;
        }
    Onnx__NodeProto *cast = node(q, "Cast", astrf(&q->a, "%s_cast", base, NULL), 1, &y_i, 1, &y_f);
    attr_int(q, cast, "to", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    const char *mi[2] = {xs, ws};
    node(q, "Mul", astrf(&q->a, "%s_scales_mul", base, NULL), 2, mi, 1, &s_all);
    const char *mo[2] = {y_f, s_all};
    node(q, "Mul", astrf(&q->a, "%s_output_scale", base, NULL), 2, mo, 1, &y);
    if (has_bias) {
        const char *bias = n->input[2];
        if (c->k == K_CONV) { /* [M] → [1, M, 1, ...] */
            const Onnx__TensorProto *bp = find_init(q->g, bias);
            weight b;
            if (!bp || load_weight(bp, &b, err, errn) < 0) {
                if (!bp)
                    snprintf(err, errn, "Conv %s: bias %s is not a constant", base, bias);
                if (qt != qw)
                    free(qt);
                qweight_free(&x);
                return -1;
            }
            int64_t bd[FG_MAX_RANK];
            for (int i = 0; i < w.t.rank; i++)
                bd[i] = i == 1 ? fg_tensor_numel(&b.t) : 1;
            bias = init(q, astrf(&q->a, "%s_reshaped", bias, NULL), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, w.t.rank, bd,
                        b.w, (size_t)fg_tensor_numel(&b.t) * sizeof(float));
            free(b.t.data);
        }
        const char *ai[2] = {y, bias};
        node(q, "Add", astrf(&q->a, "%s_bias", base, NULL), 2, ai, 1, (const char *const *)&n->output[0]);
    }
    if (qt != qw)
        free(qt);
    qweight_free(&x);
    return 0;
}

/* Emits the QDQ form of candidate c: the original node, its inputs replaced by dequantized ones. */
static int emit_static(qctx *q, const cand *c, int per_channel, char *err, size_t errn) {
    const Onnx__NodeProto *n = q->g->node[c->node];
    qweight x;
    if (quant_weight(c, per_channel, &x, err, errn) < 0)
        return -1;
    const weight w = x.w;
    int64_t nch = x.nch;
    const char *xdq = qdq_act(q, c->act, c->lo, c->hi);
    const char *wq = init(q, astrf(&q->a, "%s_quantized", n->input[1], NULL), ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
                          w.t.rank, w.t.dims, x.q, (size_t)fg_tensor_numel(&w.t));
    const char *ws = init(q, astrf(&q->a, "%s_scale", n->input[1], NULL), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                          nch > 1 ? 1 : 0, &nch, x.scale, (size_t)nch * sizeof(float));
    int8_t *zeros = calloc((size_t)nch, 1);
    if (!zeros) {
        qweight_free(&x);
        snprintf(err, errn, "out of memory");
        return -1;
    }
    const char *wz = init(q, astrf(&q->a, "%s_zero_point", n->input[1], NULL), ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
                          nch > 1 ? 1 : 0, &nch, zeros, (size_t)nch);
    free(zeros);
    const char *wdq = astrf(&q->a, "%s_dequantized", n->input[1], NULL);
    const char *di[3] = {wq, ws, wz};
    Onnx__NodeProto *dq = node(q, "DequantizeLinear", astrf(&q->a, "%s_DequantizeLinear", n->input[1], NULL), 3, di,
                               1, &wdq);
    if (nch > 1)
        attr_int(q, dq, "axis", x.axis);
    /* a shallow copy of the node with the two inputs swapped for their dequantized forms */
    Onnx__NodeProto *copy = aalloc(&q->a, sizeof *copy);
    *copy = *n;
    copy->input = aalloc(&q->a, n->n_input * sizeof(char *));
    memcpy(copy->input, n->input, n->n_input * sizeof(char *));
    copy->input[0] = (char *)xdq;
    copy->input[1] = (char *)wdq;
    push(q, (void ***)&q->nodes, &q->n_nodes, &q->cap_nodes, copy);
    if (c->post == -1) /* quantize the output here; else after the Relu/Clip that follows, or not at all */
        qdq_output(q, n, copy, c->y, c->ylo, c->yhi);
    qweight_free(&x);
    return 0;
}

/* ---------------------------------------------------------------- the command */

static int used_by_any(Onnx__NodeProto **nodes, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < nodes[i]->n_input; k++)
            if (nodes[i]->input[k] && strcmp(nodes[i]->input[k], name) == 0)
                return 1;
    return 0;
}

int fg_cmd_quantize(int argc, char **argv) {
    static const struct option opts[] = {
        {"mode", required_argument, 0, 'm'},      {"calib", required_argument, 0, 'c'},
        {"calib-limit", required_argument, 0, 'l'}, {"method", required_argument, 0, 'M'},
        {"percentile", required_argument, 0, 'p'}, {"exclude", required_argument, 0, 'x'},
        {"keep-first-last", no_argument, 0, 'k'}, {"per-tensor", no_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},            {0, 0, 0, 0},
    };
    int dynamic = 1, percentile = 0, keep_fl = 0, per_channel = 1, ch;
    const char *calib = NULL, *excl[MAX_EXCLUDE];
    size_t n_excl = 0;
    long limit = 0;
    double pct = 99.99;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'm':
            if (strcmp(optarg, "dynamic") == 0)
                dynamic = 1;
            else if (strcmp(optarg, "static") == 0)
                dynamic = 0;
            else {
                fprintf(stderr, "frugal quantize: --mode wants dynamic or static, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'c': calib = optarg; break;
        case 'l':
            errno = 0;
            limit = strtol(optarg, &end, 10);
            if (errno || *end || limit < 1) {
                fprintf(stderr, "frugal quantize: --calib-limit wants a count >= 1, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'M':
            if (strcmp(optarg, "minmax") == 0)
                percentile = 0;
            else if (strcmp(optarg, "percentile") == 0)
                percentile = 1;
            else {
                fprintf(stderr, "frugal quantize: --method wants minmax or percentile, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'p':
            errno = 0;
            pct = strtod(optarg, &end);
            if (errno || *end || !(pct > 50 && pct <= 100)) {
                fprintf(stderr, "frugal quantize: --percentile wants a number in (50, 100], got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'x':
            if (n_excl == MAX_EXCLUDE) {
                fprintf(stderr, "frugal quantize: more than %d --exclude\n", MAX_EXCLUDE);
                return 2;
            }
            excl[n_excl++] = optarg;
            break;
        case 'k': keep_fl = 1; break;
        case 't': per_channel = 0; break;
        case 'h': quantize_usage(stdout); return 0;
        default:
            fprintf(stderr, "frugal quantize: unknown or incomplete option '%s' (see frugal quantize --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc - 2) {
        fprintf(stderr, "frugal quantize: expected IN.onnx OUT.onnx (see frugal quantize --help)\n");
        return 2;
    }
    if (!dynamic && !calib) {
        fprintf(stderr, "frugal quantize: --mode static needs --calib FILE.npy (activation ranges)\n");
        return 2;
    }
    if (dynamic && calib) {
        fprintf(stderr, "frugal quantize: --calib is for --mode static (dynamic mode measures at run time)\n");
        return 2;
    }
    const char *in_path = argv[optind], *out_path = argv[optind + 1];
    fg_err e = {0};
    void *raw = NULL;
    size_t raw_len = 0;
    if (fg_read_file(in_path, &raw, &raw_len, &e) < 0) {
        fprintf(stderr, "frugal quantize: %s\n", e.msg);
        return 1;
    }
    qctx q = {0};
    q.m = onnx__model_proto__unpack(NULL, raw_len, raw);
    free(raw);
    if (!q.m || !q.m->graph) {
        fprintf(stderr, "frugal quantize: %s: not an ONNX model (protobuf decoding failed)\n", in_path);
        if (q.m)
            onnx__model_proto__free_unpacked(q.m, NULL);
        return 1;
    }
    q.g = q.m->graph;
    /* the model's own arrays, put back before protobuf-c frees the model (fold_batchnorm replaces them) */
    Onnx__NodeProto **orig_node = q.g->node;
    Onnx__TensorProto **orig_init = q.g->initializer;
    size_t orig_n_node = q.g->n_node, orig_n_init = q.g->n_initializer, n_folded = 0;
    for (size_t i = 0; i < q.m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = q.m->opset_import[i];
        if (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0)
            q.opset = o->has_version ? o->version : 0;
    }
    int status = 1;
    char err[1024] = "";
    if (q.opset < (dynamic ? 11 : 13)) {
        snprintf(err, sizeof err, "%s: opset %lld; --mode %s needs opset %d or later (re-export the model)", in_path,
                 (long long)q.opset, dynamic ? "dynamic" : "static", dynamic ? 11 : 13);
        goto fail;
    }
    n_folded = fold_batchnorm(&q);
    /* candidates, in graph order */
    cand *cs = aalloc(&q.a, (q.g->n_node + 1) * sizeof *cs);
    size_t nc = 0, n_skipped = 0;
    for (size_t i = 0; i < q.g->n_node; i++) {
        const char *why;
        if (!candidate(q.g, i, &cs[nc], &why)) {
            if (why) {
                fprintf(stderr, "frugal quantize: %s %s stays float: %s\n", q.g->node[i]->op_type,
                        node_label(q.g->node[i]), why);
                n_skipped++;
            }
            continue;
        }
        const char *nm = q.g->node[i]->name ? q.g->node[i]->name : "";
        int ex = 0;
        for (size_t k = 0; k < n_excl; k++)
            ex |= strcmp(excl[k], nm) == 0;
        if (ex) {
            n_skipped++;
            continue;
        }
        nc++;
    }
    for (size_t k = 0; k < n_excl; k++) { /* an --exclude that names no node is a typo */
        int found = 0;
        for (size_t i = 0; i < q.g->n_node && !found; i++)
            found = q.g->node[i]->name && strcmp(q.g->node[i]->name, excl[k]) == 0;
        if (!found) {
            snprintf(err, sizeof err, "--exclude %s: no node of that name in %s", excl[k], in_path);
            goto fail;
        }
    }
    if (keep_fl && nc > 0) {
        memmove(cs, cs + 1, (nc - 1) * sizeof *cs);
        nc--;
        n_skipped++;
        if (nc > 0) {
            nc--;
            n_skipped++;
        }
    }
    if (nc == 0) {
        snprintf(err, sizeof err, "%s: no MatMul, Gemm or Conv node with constant float weights to quantize",
                 in_path);
        goto fail;
    }
    meas *ms = NULL;
    size_t nms = 0;
    if (!dynamic) {
        /* where each quantized node's int8 region ends: its output, or the Relu/Clip that is the
         * output's only consumer (a runtime fuses DQ → op → act → Q into one int8 kernel) */
        for (size_t i = 0; i < nc; i++) {
            const Onnx__NodeProto *n = q.g->node[cs[i].node];
            const char *y = n->output[0];
            long users = 0, only = -1;
            for (size_t k = 0; k < q.g->n_node; k++)
                for (size_t j = 0; j < q.g->node[k]->n_input; j++)
                    if (strcmp(q.g->node[k]->input[j], y) == 0)
                        users++, only = (long)k;
            for (size_t k = 0; k < q.g->n_output; k++)
                users += q.g->output[k]->name && strcmp(q.g->output[k]->name, y) == 0;
            const Onnx__NodeProto *u = users == 1 && only >= 0 ? q.g->node[only] : NULL;
            int act = u && u->op_type && u->n_output >= 1 &&
                      (strcmp(u->op_type, "Relu") == 0 || strcmp(u->op_type, "Clip") == 0);
            cs[i].post = act ? only : -1;
            cs[i].y = act ? u->output[0] : y;
            /* no int8 boundary on a graph output (logits keep their float resolution: argmax ties
             * otherwise), nor between a Conv and the BatchNormalization the engine folds into it */
            int graph_out = 0;
            for (size_t k = 0; k < q.g->n_output; k++)
                graph_out |= q.g->output[k]->name && strcmp(q.g->output[k]->name, cs[i].y) == 0;
            if (graph_out || (!act && u && u->op_type && strcmp(u->op_type, "BatchNormalization") == 0))
                cs[i].post = -2;
        }
        /* every tensor to measure, once */
        ms = aalloc(&q.a, 2 * nc * sizeof *ms);
        for (size_t i = 0; i < 2 * nc; i++) {
            if (i >= nc && cs[i - nc].post == -2)
                continue;
            const char *nm = i < nc ? cs[i].act : cs[i - nc].y;
            size_t k = 0;
            while (k < nms && strcmp(ms[k].name, nm) != 0)
                k++;
            if (k == nms)
                ms[nms++] = (meas){nm, 0, 0};
        }
        if (calibrate(&q, ms, nms, calib, limit, percentile, pct, err, sizeof err) < 0)
            goto fail;
        for (size_t i = 0; i < nc; i++)
            for (size_t k = 0; k < nms; k++) {
                if (strcmp(ms[k].name, cs[i].act) == 0)
                    cs[i].lo = ms[k].lo, cs[i].hi = ms[k].hi;
                if (strcmp(ms[k].name, cs[i].y) == 0)
                    cs[i].ylo = ms[k].lo, cs[i].yhi = ms[k].hi;
            }
    }
    /* the new node list */
    size_t ci = 0;
    for (size_t i = 0; i < q.g->n_node; i++) {
        if (ci < nc && cs[ci].node == i) {
            if ((dynamic ? emit_dynamic(&q, &cs[ci], per_channel, err, sizeof err)
                         : emit_static(&q, &cs[ci], per_channel, err, sizeof err)) < 0)
                goto fail;
            ci++;
            continue;
        }
        const cand *post = NULL;
        for (size_t k = 0; !dynamic && k < nc && !post; k++)
            if (cs[k].post == (long)i)
                post = &cs[k];
        if (post)
            qdq_output(&q, q.g->node[i], NULL, post->y, post->ylo, post->yhi);
        else
            push(&q, (void ***)&q.nodes, &q.n_nodes, &q.cap_nodes, q.g->node[i]);
    }
    if (!dynamic)
        qdq_residual_adds(&q);
    /* initializers: the float weights nothing reads any more are dropped, the new ones appended */
    Onnx__TensorProto **inits = aalloc(&q.a, (q.g->n_initializer + q.n_inits + 1) * sizeof *inits);
    size_t ni = 0;
    for (size_t i = 0; i < q.g->n_initializer; i++) {
        const char *nm = q.g->initializer[i]->name;
        int graph_out = 0;
        for (size_t k = 0; k < q.g->n_output; k++)
            graph_out |= nm && q.g->output[k]->name && strcmp(q.g->output[k]->name, nm) == 0;
        if (!nm || graph_out || used_by_any(q.nodes, q.n_nodes, nm))
            inits[ni++] = q.g->initializer[i];
    }
    for (size_t i = 0; i < q.n_inits; i++)
        inits[ni++] = q.inits[i];
    Onnx__NodeProto **node0 = q.g->node;
    size_t n_node0 = q.g->n_node, n_init0 = q.g->n_initializer;
    Onnx__TensorProto **init0 = q.g->initializer;
    q.g->node = q.nodes;
    q.g->n_node = q.n_nodes;
    q.g->initializer = inits;
    q.g->n_initializer = ni;
    size_t len = onnx__model_proto__get_packed_size(q.m);
    uint8_t *buf = malloc(len);
    if (buf)
        onnx__model_proto__pack(q.m, buf);
    q.g->node = node0;
    q.g->n_node = n_node0;
    q.g->initializer = init0;
    q.g->n_initializer = n_init0;
    if (!buf) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    FILE *f = fopen(out_path, "wb");
    int bad = !f || fwrite(buf, 1, len, f) != len;
    if (f && fclose(f) != 0)
        bad = 1;
    free(buf);
    if (bad) {
        snprintf(err, sizeof err, "%s: %s", out_path, strerror(errno ? errno : EIO));
        goto fail;
    }
    size_t nk[3] = {0, 0, 0};
    for (size_t i = 0; i < nc; i++)
        nk[cs[i].k]++;
    printf("frugal quantize: %s -> %s (%s, %s weights): %zu nodes quantized (%zu MatMul, %zu Gemm, %zu Conv), %zu "
           "left in float, %zu BatchNormalization folded into Conv, %zu residual Add%s given int8 operands; %zu -> %zu "
           "bytes\n",
           in_path, out_path, dynamic ? "dynamic" : "static QDQ", per_channel ? "per-channel" : "per-tensor", nc, nk[0],
           nk[1], nk[2], n_skipped, n_folded, q.n_residual, q.n_residual == 1 ? "" : "s", raw_len, len);
    for (size_t i = 0; i < nms; i++)
        printf("  %-32s range [%.6g, %.6g]\n", ms[i].name, ms[i].lo, ms[i].hi);
    status = 0;
fail:
    if (status)
        fprintf(stderr, "frugal quantize: %s\n", err);
    q.g->node = orig_node;
    q.g->n_node = orig_n_node;
    q.g->initializer = orig_init;
    q.g->n_initializer = orig_n_init;
    onnx__model_proto__free_unpacked(q.m, NULL);
    afree(&q.a);
    return status;
}
