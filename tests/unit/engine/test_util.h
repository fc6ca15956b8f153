/* test_util.h - helpers shared by engine unit tests: paths to committed models and ONNX test data,
 * and building small ONNX models in memory with protobuf-c. */
#ifndef FG_TEST_UTIL_H
#define FG_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tensor_io.h"
#include "frugal/engine.h"
#include "onnx.pb-c.h"

#define MODELS FG_SOURCE_DIR "/models"
#define NODE_TESTS "/usr/share/libonnx-testdata/data/node"

/* Serializes a one-graph model whose nodes are given as (op_type, input, output) triples over float
 * tensors; returns malloc'd bytes (caller frees), length in *len. */
static inline void *tu_make_model(const char *const (*nodes)[3], size_t n_nodes, const char *in_name,
                                  const char *out_name, size_t *len) {
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
    Onnx__NodeProto *np = calloc(n_nodes, sizeof *np);
    Onnx__NodeProto **npp = calloc(n_nodes, sizeof *npp);
    for (size_t i = 0; i < n_nodes; i++) {
        Onnx__NodeProto init = ONNX__NODE_PROTO__INIT;
        np[i] = init;
        np[i].op_type = (char *)nodes[i][0];
        np[i].n_input = 1;
        np[i].input = (char **)&nodes[i][1];
        np[i].n_output = 1;
        np[i].output = (char **)&nodes[i][2];
        npp[i] = &np[i];
    }
    gp.n_node = n_nodes;
    gp.node = npp;
    Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT, vo = ONNX__VALUE_INFO_PROTO__INIT;
    Onnx__ValueInfoProto *vip = &vi, *vop = &vo;
    vi.name = (char *)in_name;
    vo.name = (char *)out_name;
    gp.n_input = 1;
    gp.input = &vip;
    gp.n_output = 1;
    gp.output = &vop;
    *len = onnx__model_proto__get_packed_size(&mp);
    void *buf = malloc(*len);
    onnx__model_proto__pack(&mp, buf);
    free(np);
    free(npp);
    return buf;
}

/* Reads a tensor file or aborts the test. Caller frees t.data. */
static inline fg_tensor tu_read(const char *path) {
    fg_tensor t;
    fg_err e = {0};
    if (fg_tensor_read_file(path, &t, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        abort();
    }
    return t;
}

#endif
