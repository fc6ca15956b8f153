/* graph.c - graph IR bookkeeping, attribute access, and load-time optimisation: dead-node removal,
 * constant folding (torch's Shape/Gather/Concat chains on constant inputs, weight transposes...),
 * and BatchNormalization folded into the Conv before it. QDQ chains are fused (fuse.c) before folding,
 * which would otherwise dequantize int8 weights into float constants. */
#include "engine/graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/dnnl_util.h"
#include "engine/fuse.h"
#include "engine/ops/ops.h"
#include "engine/plan.h"

int fg_graph_add_value(fg_graph *g, const char *name) {
    if (g->n_values == g->cap_values) {
        g->cap_values = g->cap_values ? g->cap_values * 2 : 64;
        g->values = fg_xrealloc(g->values, (size_t)g->cap_values * sizeof(fg_value));
    }
    fg_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->name = fg_xstrdup(name);
    v->producer = -1;
    v->t.rank = -1;
    return g->n_values++;
}

int fg_graph_find_value(const fg_graph *g, const char *name) {
    for (int i = g->n_values - 1; i >= 0; i--)
        if (strcmp(g->values[i].name, name) == 0)
            return i;
    return -1;
}

void fg_attr_free(fg_attr *a) {
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
    free(a->t.data);
}

void fg_graph_free(fg_graph *g) {
    if (!g)
        return;
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        if (g->values[i].is_const)
            free(g->values[i].t.data);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        fg_node *n = &g->nodes[i];
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n->in);
        free(n->out);
        for (int k = 0; k < n->n_attrs; k++)
            fg_attr_free(&n->attrs[k]);
        free(n->attrs);
    }
    for (int i = 0; g->in_info && i < g->n_inputs; i++)
        for (int k = 0; k < FG_MAX_RANK; k++)
            free((char *)g->in_info[i].dim_names[k]);
    for (int i = 0; g->out_info && i < g->n_outputs; i++)
        for (int k = 0; k < FG_MAX_RANK; k++)
            free((char *)g->out_info[i].dim_names[k]);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->in_info);
    free(g->out_info);
    memset(g, 0, sizeof *g);
}

const fg_attr *fg_attr_get(const fg_node *n, const char *name) {
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t fg_attr_i(const fg_node *n, const char *name, int64_t def) {
    const fg_attr *a = fg_attr_get(n, name);
    return a && a->type == FG_ATTR_INT ? a->i : def;
}

float fg_attr_f(const fg_node *n, const char *name, float def) {
    const fg_attr *a = fg_attr_get(n, name);
    if (a && a->type == FG_ATTR_FLOAT)
        return a->f;
    if (a && a->type == FG_ATTR_INT)
        return (float)a->i;
    return def;
}

const char *fg_attr_s(const fg_node *n, const char *name, const char *def) {
    const fg_attr *a = fg_attr_get(n, name);
    return a && a->type == FG_ATTR_STRING ? a->s : def;
}

int fg_attr_ints(const fg_node *n, const char *name, const int64_t **v) {
    const fg_attr *a = fg_attr_get(n, name);
    if (!a || a->type != FG_ATTR_INTS)
        return -1;
    *v = a->ints;
    return (int)a->n_ints;
}

int fg_attr_floats(const fg_node *n, const char *name, const float **v) {
    const fg_attr *a = fg_attr_get(n, name);
    if (!a || a->type != FG_ATTR_FLOATS)
        return -1;
    *v = a->floats;
    return (int)a->n_floats;
}

const fg_tensor *fg_attr_t(const fg_node *n, const char *name) {
    const fg_attr *a = fg_attr_get(n, name);
    return a && a->type == FG_ATTR_TENSOR ? &a->t : NULL;
}

const char *fg_node_desc(const fg_node *n) {
    static _Thread_local char buf[320];
    if (n->name && n->name[0])
        snprintf(buf, sizeof buf, "%s '%.256s'", n->op_type, n->name);
    else
        snprintf(buf, sizeof buf, "%s node", n->op_type);
    return buf;
}

void fg_graph_count_uses(fg_graph *g) {
    for (int i = 0; i < g->n_values; i++)
        g->values[i].n_uses = g->values[i].is_output ? 1 : 0;
    for (int i = 0; i < g->n_nodes; i++) {
        if (g->nodes[i].dead)
            continue;
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0)
                g->values[g->nodes[i].in[k]].n_uses++;
    }
}

/* Marks nodes dead when none of their outputs is used; repeats to a fixed point (reverse order
 * handles chains in one pass). */
static void remove_dead(fg_graph *g) {
    fg_graph_count_uses(g);
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        fg_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        bool used = false;
        for (int o = 0; o < n->n_out; o++)
            used |= n->out[o] >= 0 && g->values[n->out[o]].n_uses > 0;
        if (used)
            continue;
        n->dead = true;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                g->values[n->in[k]].n_uses--;
    }
}

static bool all_inputs_const(const fg_graph *g, const fg_node *n) {
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && !g->values[n->in[k]].is_const)
            return false;
    return true;
}

/* Conv -> BatchNormalization with constant parameters: scale the conv weights per output channel and
 * fold the shift into the bias, so inference runs one primitive instead of two passes over memory. */
static int fold_bn_into_conv(fg_graph *g, fg_err *e) {
    fg_graph_count_uses(g);
    for (int i = 0; i < g->n_nodes; i++) {
        fg_node *bn = &g->nodes[i];
        if (bn->dead || strcmp(bn->op_type, "BatchNormalization") != 0 || bn->n_in < 5 || bn->in[0] < 0)
            continue;
        bool has_extra_out = false;
        for (int o = 1; o < bn->n_out; o++)
            has_extra_out |= bn->out[o] >= 0 && g->values[bn->out[o]].n_uses > 0;
        if (has_extra_out || fg_attr_i(bn, "training_mode", 0))
            continue;
        fg_value *x = &g->values[bn->in[0]];
        if (x->producer < 0 || x->n_uses != 1 || x->is_output)
            continue;
        fg_node *cv = &g->nodes[x->producer];
        if (cv->dead || strcmp(cv->op_type, "Conv") != 0 || cv->n_in < 2 || cv->in[1] < 0)
            continue;
        const fg_value *w = &g->values[cv->in[1]];
        bool has_b = cv->n_in > 2 && cv->in[2] >= 0;
        if (!w->is_const || w->t.dtype != FG_F32 || (has_b && !g->values[cv->in[2]].is_const))
            continue;
        bool params_ok = true;
        for (int k = 1; k < 5; k++)
            params_ok &= bn->in[k] >= 0 && g->values[bn->in[k]].is_const && g->values[bn->in[k]].t.dtype == FG_F32;
        if (!params_ok)
            continue;
        int64_t m = w->t.dims[0];
        for (int k = 1; k < 5; k++)
            params_ok &= fg_tensor_numel(&g->values[bn->in[k]].t) == m;
        if (!params_ok || (has_b && fg_tensor_numel(&g->values[cv->in[2]].t) != m))
            continue;
        float eps = fg_attr_f(bn, "epsilon", 1e-5f);
        const float *sc = g->values[bn->in[1]].t.data, *bi = g->values[bn->in[2]].t.data;
        const float *mean = g->values[bn->in[3]].t.data, *var = g->values[bn->in[4]].t.data;
        const float *ob = has_b ? g->values[cv->in[2]].t.data : NULL;
        int64_t per = fg_tensor_numel(&w->t) / m;
        char nm[512];
        snprintf(nm, sizeof nm, "%s/bnfold_w", g->values[cv->in[1]].name);
        int nw = fg_graph_add_value(g, nm);
        snprintf(nm, sizeof nm, "%s/bnfold_b", g->values[cv->in[1]].name);
        int nb = fg_graph_add_value(g, nm);
        w = &g->values[cv->in[1]]; /* values may have moved */
        fg_value *vw = &g->values[nw], *vb = &g->values[nb];
        vw->t = w->t;
        vw->t.data = fg_xmalloc((size_t)(per * m) * sizeof(float));
        vw->is_const = true;
        vb->t.dtype = FG_F32;
        vb->t.rank = 1;
        vb->t.dims[0] = m;
        vb->t.data = fg_xmalloc((size_t)m * sizeof(float));
        vb->is_const = true;
        const float *src = w->t.data;
        float *dw = vw->t.data, *db = vb->t.data;
        for (int64_t c = 0; c < m; c++) {
            float s = sc[c] / sqrtf(var[c] + eps);
            for (int64_t j = 0; j < per; j++)
                dw[c * per + j] = src[c * per + j] * s;
            db[c] = ((ob ? ob[c] : 0.f) - mean[c]) * s + bi[c];
        }
        cv->in[1] = nw;
        if (has_b) {
            cv->in[2] = nb;
        } else {
            cv->in = fg_xrealloc(cv->in, 3 * sizeof(int));
            cv->in[2] = nb;
            cv->n_in = 3;
        }
        /* the conv now writes the BN's output value directly */
        int y = bn->out[0];
        g->values[cv->out[0]].producer = -1;
        cv->out[0] = y;
        g->values[y].producer = (int)(cv - g->nodes);
        bn->dead = true;
        fg_graph_count_uses(g);
    }
    (void)e;
    return 0;
}

/* Inference-mode Dropout whose mask nobody reads is Identity, which the planner aliases (no copy). */
static void dropout_to_identity(fg_graph *g) {
    fg_graph_count_uses(g);
    const fg_op_def *identity = fg_op_find("", "Identity");
    for (int i = 0; i < g->n_nodes; i++) {
        fg_node *n = &g->nodes[i];
        if (n->dead || strcmp(n->op_type, "Dropout") != 0 || n->domain[0] || n->n_in > 2 || !identity)
            continue;
        if (n->n_out > 1 && n->out[1] >= 0 && g->values[n->out[1]].n_uses > 0)
            continue;
        n->op = identity;
        n->n_in = 1; /* the ratio input means nothing at inference */
        n->n_out = 1;
    }
}

int fg_graph_optimize(fg_graph *g, bool fuse, size_t max_bytes, fg_err *e) {
    int rc = 0;
    fg_dnnl dnnl = {0};
    remove_dead(g);
    dropout_to_identity(g);
    if (fuse && (rc = fg_graph_fuse_qdq(g, e)) < 0)
        goto out;
    for (int i = 0; i < g->n_nodes; i++) {
        fg_node *n = &g->nodes[i];
        if (n->dead || !n->op || (n->op->flags & FG_OP_NOFOLD) || !all_inputs_const(g, n))
            continue;
        if (!dnnl.stream && (rc = fg_dnnl_init(&dnnl, e)) < 0)
            goto out;
        if ((rc = fg_fold_node(g, i, max_bytes, &dnnl, e)) < 0)
            goto out;
    }
    if (fuse && (rc = fold_bn_into_conv(g, e)) < 0)
        goto out;
    if (fuse && (rc = fg_graph_fuse(g, e)) < 0)
        goto out;
    remove_dead(g);
out:
    fg_dnnl_fini(&dnnl);
    return rc;
}
