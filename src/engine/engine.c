/* engine.c - the public engine API (include/frugal/engine.h): models, sessions, and the per-shape
 * plan cache. Inputs are validated against the model's declared dtypes and static dims before any
 * plan is looked up, so a caller's mistake is reported by input name, never as a kernel failure. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "engine/dnnl_util.h"
#include "engine/graph.h"
#include "engine/onnx_load.h"
#include "engine/plan.h"
#include "engine/tensor_io.h"
#include "frugal/engine.h"

struct fg_model {
    fg_graph g;
    size_t n_loaded, n_optimised;
};

struct fg_session {
    fg_model *m;
    int n_threads;
    fg_precision precision;
    fg_dnnl dnnl;
    fg_plan **plans; /* most recently used first */
    int n_plans, max_plans;
    size_t max_tensor_bytes;
    bool *value_keyed; /* per graph input: plans are keyed on its contents too */
};

static size_t count_live(const fg_graph *g) {
    size_t n = 0;
    for (int i = 0; i < g->n_nodes; i++)
        n += !g->nodes[i].dead;
    return n;
}

fg_model *fg_model_load_buffer(const void *buf, size_t len, const fg_model_opts *o, fg_err *e) {
    fg_model *m = fg_xcalloc(1, sizeof *m);
    if (fg_onnx_to_graph(buf, len, &m->g, e) < 0)
        goto fail;
    m->n_loaded = count_live(&m->g) ;
    for (int i = 0; i < m->g.n_nodes; i++)
        m->n_loaded += m->g.nodes[i].dead; /* Constant nodes were already turned into values */
    size_t max_bytes = o && o->max_tensor_bytes ? o->max_tensor_bytes : FG_DEFAULT_MAX_TENSOR_BYTES;
    if (fg_graph_optimize(&m->g, !(o && o->no_optimize), max_bytes, e) < 0)
        goto fail;
    m->n_optimised = count_live(&m->g);
    return m;
fail:
    fg_graph_free(&m->g);
    free(m);
    return NULL;
}

fg_model *fg_model_load(const char *path, const fg_model_opts *o, fg_err *e) {
    void *buf;
    size_t len;
    if (fg_read_file(path, &buf, &len, e) < 0)
        return NULL;
    fg_model *m = fg_model_load_buffer(buf, len, o, e);
    free(buf);
    if (!m)
        fg_err_prefix(e, "%s: ", path);
    return m;
}

void fg_model_free(fg_model *m) {
    if (!m)
        return;
    fg_graph_free(&m->g);
    free(m);
}

size_t fg_model_n_inputs(const fg_model *m) { return (size_t)m->g.n_inputs; }
size_t fg_model_n_outputs(const fg_model *m) { return (size_t)m->g.n_outputs; }
const fg_tensor_info *fg_model_input(const fg_model *m, size_t i) {
    return i < (size_t)m->g.n_inputs ? &m->g.in_info[i] : NULL;
}
const fg_tensor_info *fg_model_output(const fg_model *m, size_t i) {
    return i < (size_t)m->g.n_outputs ? &m->g.out_info[i] : NULL;
}
int fg_model_opset(const fg_model *m) { return m->g.opset; }
void fg_model_node_counts(const fg_model *m, size_t *n_loaded, size_t *n_optimised) {
    if (n_loaded)
        *n_loaded = m->n_loaded;
    if (n_optimised)
        *n_optimised = m->n_optimised;
}

fg_session *fg_session_new(fg_model *m, const fg_session_opts *o, fg_err *e) {
    fg_session *s = fg_xcalloc(1, sizeof *s);
    s->m = m;
    s->n_threads = o && o->n_threads > 0 ? o->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (s->n_threads < 1)
        s->n_threads = 1;
    s->precision = o ? o->precision : FG_PREC_F32;
    s->max_plans = o && o->max_plans > 0 ? o->max_plans : 16;
    s->max_tensor_bytes = o && o->max_tensor_bytes ? o->max_tensor_bytes : FG_DEFAULT_MAX_TENSOR_BYTES;
    s->plans = fg_xcalloc((size_t)s->max_plans, sizeof(fg_plan *));
    s->value_keyed = fg_xcalloc((size_t)m->g.n_inputs + 1, sizeof(bool));
    if (s->precision != FG_PREC_F32 && s->precision != FG_PREC_BF16) {
        fg_err_set(e, FG_EINVAL, "unknown precision %d", (int)s->precision);
        fg_session_free(s);
        return NULL;
    }
    if (fg_dnnl_init(&s->dnnl, e) < 0) {
        fg_session_free(s);
        return NULL;
    }
    s->dnnl.bf16 = s->precision == FG_PREC_BF16; /* read by the kernels when plans are prepared */
    return s;
}

void fg_session_free(fg_session *s) {
    if (!s)
        return;
    for (int i = 0; i < s->n_plans; i++)
        fg_plan_free(s->plans[i]);
    free(s->plans);
    free(s->value_keyed);
    fg_dnnl_fini(&s->dnnl);
    free(s);
}

size_t fg_session_n_plans(const fg_session *s) { return (size_t)s->n_plans; }

void fg_session_memory(const fg_session *s, size_t *arena_bytes, size_t *unshared_bytes) {
    *arena_bytes = s->n_plans ? fg_plan_arena_bytes(s->plans[0]) : 0;
    *unshared_bytes = s->n_plans ? fg_plan_total_bytes(s->plans[0]) : 0;
}

void fg_session_bf16_nodes(const fg_session *s, size_t *n_bf16, size_t *n_fallback) {
    int b = 0, f = 0;
    if (s->n_plans)
        fg_plan_bf16_nodes(s->plans[0], &b, &f);
    *n_bf16 = (size_t)b;
    *n_fallback = (size_t)f;
}

int fg_precision_parse(const char *s, fg_precision *out) {
    if (s && (strcmp(s, "fp32") == 0 || strcmp(s, "f32") == 0)) {
        *out = FG_PREC_F32;
        return 0;
    }
    if (s && strcmp(s, "bf16") == 0) {
        *out = FG_PREC_BF16;
        return 0;
    }
    return -1;
}

const char *fg_precision_name(fg_precision p) { return p == FG_PREC_BF16 ? "bf16" : "fp32"; }

static int check_inputs(const fg_graph *g, const fg_tensor *in, size_t n_in, fg_err *e) {
    if (n_in != (size_t)g->n_inputs)
        return fg_err_set(e, FG_EINVAL, "the model has %d inputs, %zu given", g->n_inputs, n_in);
    for (int i = 0; i < g->n_inputs; i++) {
        const fg_tensor_info *info = &g->in_info[i];
        const fg_tensor *t = &in[i];
        char want[160], got[160];
        if (info->dtype && t->dtype != info->dtype)
            return fg_err_set(e, FG_EDTYPE, "input '%s' is %s, the model expects %s", info->name,
                              fg_dtype_name(t->dtype), fg_dtype_name(info->dtype));
        if (fg_dtype_size(t->dtype) == 0)
            return fg_err_set(e, FG_EDTYPE, "input '%s' has unsupported dtype %s", info->name, fg_dtype_name(t->dtype));
        if (t->rank < 0 || t->rank > FG_MAX_RANK)
            return fg_err_set(e, FG_ESHAPE, "input '%s' has invalid rank %d", info->name, t->rank);
        for (int d = 0; d < t->rank; d++)
            if (t->dims[d] < 0)
                return fg_err_set(e, FG_ESHAPE, "input '%s' has a negative dimension", info->name);
        if (info->rank >= 0) {
            fg_tensor w = {.rank = info->rank};
            memcpy(w.dims, info->dims, sizeof w.dims);
            if (t->rank != info->rank)
                return fg_err_set(e, FG_ESHAPE, "input '%s' has shape %s, the model expects rank %d %s", info->name,
                                  fg_shape_str(t, got, sizeof got), info->rank, fg_shape_str(&w, want, sizeof want));
            for (int d = 0; d < t->rank; d++)
                if (info->dims[d] >= 0 && info->dims[d] != t->dims[d])
                    return fg_err_set(e, FG_ESHAPE, "input '%s' has shape %s, the model expects %s (dim %d must be %lld)",
                                      info->name, fg_shape_str(t, got, sizeof got), fg_shape_str(&w, want, sizeof want), d,
                                      (long long)info->dims[d]);
        }
        if (!t->data && fg_tensor_numel(t) > 0)
            return fg_err_set(e, FG_EINVAL, "input '%s' has no data", info->name);
    }
    return 0;
}

/* Marks graph inputs that value v depends on (through producers) as value-keyed when small enough to
 * key plans on; returns how many were newly marked. */
static int key_inputs_feeding(const fg_graph *g, int v, const fg_tensor *in, bool *keyed, bool *seen) {
    if (v < 0 || seen[v])
        return 0;
    seen[v] = true;
    int n = 0;
    const fg_value *val = &g->values[v];
    if (val->is_input) {
        for (int i = 0; i < g->n_inputs; i++)
            if (g->inputs[i] == v && !keyed[i] && fg_tensor_numel(&in[i]) <= 1024) {
                keyed[i] = true;
                n++;
            }
        return n;
    }
    if (val->producer < 0)
        return 0;
    const fg_node *nd = &g->nodes[val->producer];
    for (int k = 0; k < nd->n_in; k++)
        n += key_inputs_feeding(g, nd->in[k], in, keyed, seen);
    return n;
}

int fg_session_run(fg_session *s, const fg_tensor *in, size_t n_in, fg_tensor *out, size_t n_out, fg_err *e) {
    fg_err local = {0};
    if (!e)
        e = &local;
    const fg_graph *g = &s->m->g;
    int rc = check_inputs(g, in, n_in, e);
    if (rc < 0)
        return rc;
    if (n_out > (size_t)g->n_outputs)
        return fg_err_set(e, FG_EINVAL, "the model has %d outputs, %zu requested", g->n_outputs, n_out);
    omp_set_num_threads(s->n_threads);
    fg_plan *p = NULL;
    int at = -1;
    for (int i = 0; i < s->n_plans; i++)
        if (fg_plan_matches(s->plans[i], in, s->value_keyed)) {
            at = i;
            break;
        }
    if (at < 0) {
        for (;;) {
            int need = -1;
            p = fg_plan_build(g, in, s->value_keyed, s->n_threads, s->max_tensor_bytes, &s->dnnl, &need, e);
            if (p)
                break;
            if (e->code != FG_ENEEDVALUE || need < 0)
                return e->code ? e->code : FG_EINTERNAL;
            bool *seen = fg_xcalloc((size_t)g->n_values, sizeof(bool));
            int marked = key_inputs_feeding(g, need, in, s->value_keyed, seen);
            free(seen);
            if (marked == 0)
                return FG_ENEEDVALUE; /* e already names the node */
            fg_err_clear(e);
            /* plans built before the keying are now ambiguous */
            for (int i = 0; i < s->n_plans; i++)
                fg_plan_free(s->plans[i]);
            s->n_plans = 0;
        }
        if (s->n_plans == s->max_plans)
            fg_plan_free(s->plans[--s->n_plans]);
        at = s->n_plans++;
        s->plans[at] = p;
    }
    p = s->plans[at];
    memmove(s->plans + 1, s->plans, (size_t)at * sizeof(fg_plan *));
    s->plans[0] = p;
    return fg_plan_run(p, in, out, n_out, e);
}
