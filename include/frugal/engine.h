/* frugal/engine.h - frugal's ONNX inference engine.
 *
 * Overview
 *   An fg_model is a loaded, validated and optimised ONNX graph (weights, constant-folded subgraphs,
 *   BatchNormalization folded into Conv). It is immutable after loading and may be shared by any number
 *   of sessions in any threads. An fg_session owns everything needed to run the model: a thread count,
 *   a cache of execution plans (one per distinct input shape: memory layout, oneDNN primitives,
 *   prepacked weights) and the memory for intermediate and output tensors. A session is used by one
 *   thread at a time; make one session per worker.
 *
 *   Once a session has seen an input shape, running it again with that shape allocates nothing.
 *
 * Usage
 *   fg_err e = {0};
 *   fg_model *m = fg_model_load("digits_mlp.onnx", NULL, &e);      // NULL opts = defaults
 *   if (!m) { fprintf(stderr, "%s\n", e.msg); ... }
 *   fg_session_opts so = {.n_threads = 2};
 *   fg_session *s = fg_session_new(m, &so, &e);
 *   float x[64 * 4] = {...};
 *   fg_tensor in = {.dtype = FG_F32, .rank = 2, .dims = {4, 64}, .data = x};
 *   fg_tensor out;
 *   if (fg_session_run(s, &in, 1, &out, 1, &e) < 0) { ... }
 *   // out.data points into the session: valid until the next run on s or fg_session_free(s)
 *   fg_session_free(s);
 *   fg_model_free(m);
 *
 * Errors: every function that can fail returns NULL or a negative FG_E* code (core/err.h) and writes a
 * one-line message naming the problem into the caller's fg_err.
 */
#ifndef FRUGAL_ENGINE_H
#define FRUGAL_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define FG_MAX_RANK 8

/* Element types; the values are ONNX TensorProto.DataType's, so they convert one to one. Append-only. */
typedef enum fg_dtype {
    FG_DT_UNDEFINED = 0,
    FG_F32 = 1,
    FG_U8 = 2,
    FG_I8 = 3,
    FG_U16 = 4,
    FG_I16 = 5,
    FG_I32 = 6,
    FG_I64 = 7,
    FG_STRING = 8,
    FG_BOOL = 9,
    FG_F16 = 10,
    FG_F64 = 11,
    FG_U32 = 12,
    FG_U64 = 13,
    FG_BF16 = 16,
} fg_dtype;

/* A dense, row-major tensor. data is not owned by the struct: whoever filled it says who frees it. */
typedef struct fg_tensor {
    fg_dtype dtype;
    int rank;
    int64_t dims[FG_MAX_RANK];
    void *data;
} fg_tensor;

/* Static description of a model input or output. dims[i] < 0 means the dimension is dynamic; its
 * symbolic name (e.g. "batch") is in dim_names[i] when the model gives one (else NULL). */
typedef struct fg_tensor_info {
    const char *name;
    fg_dtype dtype;
    int rank; /* -1 when the model does not say */
    int64_t dims[FG_MAX_RANK];
    const char *dim_names[FG_MAX_RANK];
} fg_tensor_info;

typedef struct fg_model fg_model;
typedef struct fg_session fg_session;

/* Default cap on the bytes of any one tensor the engine creates: a malformed or hostile model must
 * fail with an error, not exhaust the machine. */
#define FG_DEFAULT_MAX_TENSOR_BYTES ((size_t)1 << 34)

typedef struct fg_model_opts {
    int no_optimize;         /* 1: skip load-time fusions (folding constants still happens) */
    size_t max_tensor_bytes; /* cap for constants folded at load; 0 = FG_DEFAULT_MAX_TENSOR_BYTES */
} fg_model_opts;

/* Compute precision of a session. FG_PREC_BF16 runs Conv, MatMul and Gemm with constant weights on
 * oneDNN with bf16 weights (converted and prepacked once per plan) and a bf16 copy of the activation,
 * accumulating and writing f32: everything else, fused post-ops included, stays f32. It pays on CPUs with
 * AMX; elsewhere oneDNN emulates or uses slower bf16 kernels (see fg_session_bf16_nodes). */
typedef enum fg_precision { FG_PREC_F32 = 0, FG_PREC_BF16 = 1 } fg_precision;

/* Parses "fp32" (also "f32") or "bf16" into *out; returns 0, or -1 for anything else. */
int fg_precision_parse(const char *s, fg_precision *out);
/* "fp32" or "bf16". */
const char *fg_precision_name(fg_precision p);

typedef struct fg_session_opts {
    int n_threads;          /* 0 = one per available core */
    fg_precision precision; /* compute precision for fp32 models */
    int max_plans;          /* plans (input shapes) kept per session; 0 = 16 */
    size_t max_tensor_bytes; /* cap for any one tensor of a plan; 0 = FG_DEFAULT_MAX_TENSOR_BYTES */
} fg_session_opts;

/* Loads and optimises an ONNX model from a file. Returns NULL and fills e on error; every unsupported
 * op type in the model is listed in one message. The caller owns the model (fg_model_free). */
fg_model *fg_model_load(const char *path, const fg_model_opts *o, fg_err *e);

/* Same as fg_model_load from a buffer holding the .onnx bytes; the buffer is not kept. */
fg_model *fg_model_load_buffer(const void *buf, size_t len, const fg_model_opts *o, fg_err *e);

/* Frees a model. All its sessions must have been freed first. NULL is a no-op. */
void fg_model_free(fg_model *m);

/* Number of graph inputs (initializers excluded) and outputs. */
size_t fg_model_n_inputs(const fg_model *m);
size_t fg_model_n_outputs(const fg_model *m);
/* Describes input / output i; the returned pointer and its strings live as long as the model. */
const fg_tensor_info *fg_model_input(const fg_model *m, size_t i);
const fg_tensor_info *fg_model_output(const fg_model *m, size_t i);
/* Opset version of the default ONNX domain the model declares. */
int fg_model_opset(const fg_model *m);
/* Counts of nodes in the model as loaded and after load-time optimisation. */
void fg_model_node_counts(const fg_model *m, size_t *n_loaded, size_t *n_optimised);

/* Creates a session for m (m must outlive it). Returns NULL and fills e on error. Caller frees with
 * fg_session_free. */
fg_session *fg_session_new(fg_model *m, const fg_session_opts *o, fg_err *e);

/* Frees a session and every plan and buffer it holds. NULL is a no-op. */
void fg_session_free(fg_session *s);

/* Runs the model. in[i] is graph input i (order of fg_model_input); their data is read during the call
 * only. out receives n_out tensors (n_out <= fg_model_n_outputs; output i in graph order) whose data
 * points into memory owned by the session, valid until the next run on this session or its free.
 * Returns 0, or a negative FG_E* code with e naming the input, node or dimension at fault. */
int fg_session_run(fg_session *s, const fg_tensor *in, size_t n_in, fg_tensor *out, size_t n_out,
                   fg_err *e);

/* Number of plans currently cached in the session. */
size_t fg_session_n_plans(const fg_session *s);

/* Memory of the most recently used plan: the arena actually allocated for intermediate and output
 * tensors, and what those tensors would take without buffer reuse. Both 0 before the first run. */
void fg_session_memory(const fg_session *s, size_t *arena_bytes, size_t *unshared_bytes);

/* For bf16 sessions, of the most recently used plan: the Conv/MatMul/Gemm nodes that run in bf16, and
 * those kept in f32 because oneDNN has no bf16 kernel (other than its slow reference one) for their shape
 * on this CPU. Tiny products and depthwise convs that frugal computes in C stay f32 by design and count
 * in neither. Both 0 before the first run and in fp32 sessions. */
void fg_session_bf16_nodes(const fg_session *s, size_t *n_bf16, size_t *n_fallback);

/* Size in bytes of one element of dtype, 0 for types without a fixed size (string, undefined). */
size_t fg_dtype_size(fg_dtype t);
/* Short lower-case name of a dtype ("float32", "int64", ...). */
const char *fg_dtype_name(fg_dtype t);
/* Product of dims (1 for rank 0). */
int64_t fg_tensor_numel(const fg_tensor *t);
/* Formats t's shape as "[2,3,4]" into buf (always NUL-terminated); returns buf. */
char *fg_shape_str(const fg_tensor *t, char *buf, size_t len);

#endif
