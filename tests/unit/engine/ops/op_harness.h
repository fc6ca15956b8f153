/* op_harness.h - drives one kernel through its fg_op_def the way the planner does (infer, prepare,
 * scratch, run, release), plus the attribute and tensor makers the op tests share. Header-only (static
 * inline) because every test file is its own executable; include it after the standard headers. */
#ifndef FG_TEST_OP_HARNESS_H
#define FG_TEST_OP_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/ops/ops.h"

static inline fg_attr ai(const char *name, int64_t v) {
    return (fg_attr){.name = (char *)name, .type = FG_ATTR_INT, .i = v};
}
static inline fg_attr af(const char *name, float v) {
    return (fg_attr){.name = (char *)name, .type = FG_ATTR_FLOAT, .f = v};
}
static inline fg_attr as(const char *name, const char *v) {
    return (fg_attr){.name = (char *)name, .type = FG_ATTR_STRING, .s = (char *)v};
}
static inline fg_attr ais(const char *name, int64_t *v, size_t n) {
    return (fg_attr){.name = (char *)name, .type = FG_ATTR_INTS, .ints = v, .n_ints = n};
}

/* A tensor of dtype dt and shape dims over data (not copied, not owned). */
static inline fg_tensor tens(fg_dtype dt, int rank, const int64_t *dims, void *data) {
    fg_tensor t = {.dtype = dt, .rank = rank, .data = data};
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    return t;
}

/* n floats uniform in [lo, hi] from rand() seeded with seed; malloc'd (caller frees). */
static inline float *randf(int64_t n, unsigned seed, float lo, float hi) {
    float *x = malloc((size_t)n * sizeof *x);
    srand(seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)rand() / (float)RAND_MAX;
    return x;
}

/* Frees the data of outputs filled by run_kernel. */
static inline void free_outs(fg_tensor *out, int n) {
    for (int i = 0; i < n; i++)
        free(out[i].data);
}

/* How run_kernel drives the kernel beyond its node; zero fields mean one run, no oneDNN. */
typedef struct kernel_env {
    int n_threads;
    int n_runs;         /* run() calls after prepare (a second one checks prepared state is reusable) */
    unsigned late;      /* inputs whose bit is set have no data until run, like activations (else they
                           look like plan constants to infer and prepare) */
    int *need_value;    /* when non-NULL, receives c.need_value after infer */
    fg_err *err;        /* receives the kernel's error; NULL: a local one, printed on stderr if run fails */
    struct fg_dnnl *dnnl;
} kernel_env;

/* Runs op type at opset on in[0..n_in) (NULL entries are absent optional inputs) into out[0..n_out):
 * infer, prepare, scratch, run (alias ops copy input 0's bytes instead, as the planner aliases them),
 * release. Returns 0 with every out[i].data malloc'd, zeroed and padded by 64 bytes (free with
 * free_outs), or the first negative FG_E* code with every out[i].data NULL. */
static inline int run_kernel(const char *type, int opset, fg_attr *attrs, int n_attrs, fg_tensor **in, int n_in,
                             fg_tensor *out, int n_out, const kernel_env *env) {
    const fg_op_def *op = fg_op_find("", type);
    assert_non_null(op);
    assert_true(n_in + n_out <= 16);
    fg_node node = {.name = "t", .op_type = (char *)type, .op = op, .opset = opset, .n_in = n_in, .n_out = n_out,
                    .n_attrs = n_attrs, .attrs = attrs};
    fg_tensor *ptrs[16] = {0};
    void *data[16] = {0};
    fg_err local = {0}, *e = env->err ? env->err : &local;
    for (int i = 0; i < n_in; i++) {
        ptrs[i] = in[i];
        data[i] = in[i] ? in[i]->data : NULL;
        if (in[i] && (env->late >> i & 1))
            in[i]->data = NULL;
    }
    for (int i = 0; i < n_out; i++) {
        memset(&out[i], 0, sizeof out[i]);
        ptrs[n_in + i] = &out[i];
    }
    fg_kctx c = {.node = &node, .opset = opset, .n_in = n_in, .n_out = n_out, .in = ptrs, .out = ptrs + n_in,
                 .n_threads = env->n_threads, .need_value = -1, .err = e, .dnnl = env->dnnl};
    int rc = op->infer(&c);
    if (env->need_value)
        *env->need_value = c.need_value;
    if (rc < 0)
        goto out;
    for (int i = 0; i < n_out; i++)
        out[i].data = calloc(1, (size_t)fg_tensor_numel(&out[i]) * fg_dtype_size(out[i].dtype) + 64);
    if (op->prepare && (rc = op->prepare(&c)) < 0)
        goto out;
    if (c.scratch_len)
        c.scratch = fg_aligned_alloc(c.scratch_len);
    for (int i = 0; i < n_in; i++)
        if (in[i])
            in[i]->data = data[i];
    if (op->flags & FG_OP_ALIAS)
        memcpy(out[0].data, in[0]->data, (size_t)fg_tensor_numel(in[0]) * fg_dtype_size(in[0]->dtype));
    else
        for (int r = 0; r < (env->n_runs ? env->n_runs : 1) && rc == 0; r++)
            if ((rc = op->run(&c)) < 0 && !env->err)
                fprintf(stderr, "%s\n", e->msg);
out:
    for (int i = 0; i < n_in; i++)
        if (in[i])
            in[i]->data = data[i];
    if (op->release && c.state)
        op->release(c.state);
    free(c.scratch);
    if (rc < 0)
        for (int i = 0; i < n_out; i++) {
            free(out[i].data);
            out[i].data = NULL;
        }
    return rc;
}

#endif
