/* fuse.h - load-time post-op fusion (fuse.c). */
#ifndef FG_ENGINE_FUSE_H
#define FG_ENGINE_FUSE_H

#include "engine/graph.h"

/* Folds bias Adds, residual Adds and activations into the Conv/MatMul/Gemm nodes that produce their
 * input, where the kernel declares FG_OP_POSTOPS. 0 or FG_E*. */
int fg_graph_fuse(fg_graph *g, fg_err *e);

/* Rewrites QDQ chains (DequantizeLinear -> Conv/MatMul/Gemm [-> bias Add] [-> Relu/Clip] ->
 * QuantizeLinear, constant int8 weights) into QLinearConv / QLinearMatMul nodes, and dynamic-quantization
 * chains (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul [-> Add]) into fused dynamic int8
 * MatMulInteger nodes (FG_ATTR_DYNQ in ops/ops.h). Must run before
 * constant folding, which would turn the weights' DequantizeLinear into float. 0 or FG_E*. */
int fg_graph_fuse_qdq(fg_graph *g, fg_err *e);

#endif
