/* plan.h - execution plans: for one set of input shapes, the steps to run, every tensor's shape,
 * one arena with reused buffers, kernel state and scratch. Built once per shape by the session and
 * then run without allocating. Internal to src/engine. */
#ifndef FG_ENGINE_PLAN_H
#define FG_ENGINE_PLAN_H

#include <stdbool.h>

#include "engine/graph.h"
#include "engine/ops/ops.h"

typedef struct fg_plan fg_plan;

/* Builds a plan for graph g and the given inputs (shapes/dtypes; data is read only for inputs whose
 * value_keyed flag is set). On FG_ENEEDVALUE, *need_value receives the value whose contents shape
 * inference needed. Caller frees the plan with fg_plan_free. */
fg_plan *fg_plan_build(const fg_graph *g, const fg_tensor *in, const bool *value_keyed, int n_threads,
                       size_t max_tensor_bytes, struct fg_dnnl *dnnl, int *need_value, fg_err *e);

/* True when plan p was built for inputs with these dtypes, shapes (and keyed values). */
bool fg_plan_matches(const fg_plan *p, const fg_tensor *in, const bool *value_keyed);

/* Runs p on in (data read during the call), filling out[0..n_out) with tensors pointing into the
 * plan's memory. */
int fg_plan_run(fg_plan *p, const fg_tensor *in, fg_tensor *out, size_t n_out, fg_err *e);

/* Frees a plan (kernel states, arena, folded buffers). NULL is a no-op. */
void fg_plan_free(fg_plan *p);

/* Bytes of arena the plan uses (for tests of buffer reuse) and the sum of all its buffers. */
size_t fg_plan_arena_bytes(const fg_plan *p);
size_t fg_plan_total_bytes(const fg_plan *p);

/* Products the plan prepared in bf16, and those kept in f32 because oneDNN had no bf16 kernel for them
 * (both 0 unless the session's dnnl asks for bf16). */
void fg_plan_bf16_nodes(const fg_plan *p, int *n_bf16, int *n_fallback);

/* Evaluates node ni of g, all of whose inputs are constant, and stores its outputs as constants
 * (load-time constant folding). */
int fg_fold_node(fg_graph *g, int ni, size_t max_tensor_bytes, struct fg_dnnl *dnnl, fg_err *e);

#endif
