/* onnx_load.h - decoding an ONNX model file into the graph IR (onnx.c). */
#ifndef FG_ENGINE_ONNX_LOAD_H
#define FG_ENGINE_ONNX_LOAD_H

#include "engine/graph.h"

/* Decodes ONNX ModelProto bytes into g (zeroed first). On error g may be partly filled: the caller
 * frees it with fg_graph_free either way. */
int fg_onnx_to_graph(const void *buf, size_t len, fg_graph *g, fg_err *e);

#endif
