/* onnx.c - ONNX ModelProto (protobuf-c, generated from Debian libonnx-dev's onnx.proto) to graph IR.
 * Resolves names to value indices, turns initializers and Constant nodes into constant values, sorts
 * nodes topologically, and lists every unsupported op type in one error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/graph.h"
#include "engine/onnx_load.h"
#include "engine/ops/ops.h"
#include "engine/tensor_io.h"
#include "onnx.pb-c.h"

static bool is_default_domain(const char *d) { return !d || !d[0] || strcmp(d, "ai.onnx") == 0; }

static int domain_opset(const Onnx__ModelProto *mp, const char *domain) {
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain;
        if ((is_default_domain(domain) && is_default_domain(d)) || (d && domain && strcmp(d, domain) == 0))
            return (int)mp->opset_import[i]->version;
    }
    return -1;
}

static int convert_attr(const Onnx__AttributeProto *ap, fg_attr *a, fg_err *e) {
    memset(a, 0, sizeof *a);
    a->name = fg_xstrdup(ap->name ? ap->name : "");
    a->type = (fg_attr_type)ap->type;
    /* "_fg_*" attributes carry the fusion pass's decisions to the kernels; a model must not forge them */
    if (strncmp(a->name, "_fg_", 4) == 0)
        return fg_err_set(e, FG_EFORMAT, "attribute '%s' is reserved for frugal's own graph rewrites", a->name);
    if (!ap->has_type || ap->type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) {
        /* some exporters omit the type: take it from the one value field that is set, so the typed
         * accessors (fg_attr_i, ...) and presence checks (fg_attr_get) always agree */
        a->type = ap->has_f ? FG_ATTR_FLOAT : ap->has_i ? FG_ATTR_INT : ap->has_s ? FG_ATTR_STRING
                  : ap->t ? FG_ATTR_TENSOR : ap->g ? FG_ATTR_GRAPH : ap->n_floats ? FG_ATTR_FLOATS
                  : ap->n_ints ? FG_ATTR_INTS : ap->n_strings ? FG_ATTR_STRINGS : FG_ATTR_UNDEF;
        if (a->type == FG_ATTR_UNDEF)
            return fg_err_set(e, FG_EFORMAT, "attribute '%s' has neither a type nor a value", a->name);
    }
    switch ((int)a->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: a->f = ap->f; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: a->i = ap->i; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        a->s = fg_xstrndup((const char *)ap->s.data, ap->s.len);
        a->s_len = ap->s.len;
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        if (!ap->t)
            return fg_err_set(e, FG_EFORMAT, "attribute '%s' has no tensor", a->name);
        return fg_tensor_from_proto(ap->t, &a->t, e);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        a->n_floats = ap->n_floats;
        a->floats = fg_xmalloc(ap->n_floats * sizeof(float) + 1);
        if (ap->n_floats)
            memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        a->n_ints = ap->n_ints;
        a->ints = fg_xmalloc(ap->n_ints * sizeof(int64_t) + 1);
        if (ap->n_ints)
            memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        break;
    default: /* graphs, strings lists, sparse tensors: kept as typed placeholders */
        break;
    }
    return 0;
}

static int set_info(fg_graph *g, fg_tensor_info *info, int vi, const Onnx__ValueInfoProto *vp, fg_err *e) {
    fg_value *v = &g->values[vi];
    info->name = v->name;
    info->rank = -1;
    v->t.rank = -1;
    if (vp && vp->type && vp->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE &&
        vp->type->value_case != ONNX__TYPE_PROTO__VALUE__NOT_SET)
        return fg_err_set(e, FG_EUNSUPPORTED, "'%s' is a sequence, map or optional; only tensors are supported",
                          v->name);
    if (!vp || !vp->type || vp->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return 0;
    const Onnx__TypeProto__Tensor *tt = vp->type->tensor_type;
    info->dtype = (fg_dtype)tt->elem_type;
    v->t.dtype = info->dtype;
    if (!tt->shape)
        return 0;
    if (tt->shape->n_dim > FG_MAX_RANK)
        return fg_err_set(e, FG_EUNSUPPORTED, "'%s' has rank %zu (max %d)", v->name, tt->shape->n_dim, FG_MAX_RANK);
    info->rank = (int)tt->shape->n_dim;
    v->t.rank = info->rank;
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0) {
            info->dims[i] = d->dim_value;
        } else {
            info->dims[i] = -1;
            if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
                info->dim_names[i] = fg_xstrdup(d->dim_param);
        }
        v->t.dims[i] = info->dims[i];
    }
    return 0;
}

/* Constant node -> constant value. */
static int constant_value(const fg_node *n, fg_tensor *t, fg_err *e) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < n->n_attrs; i++) {
        const fg_attr *a = &n->attrs[i];
        if (strcmp(a->name, "value") == 0 && a->type == FG_ATTR_TENSOR) {
            size_t b = (size_t)fg_tensor_numel(&a->t) * fg_dtype_size(a->t.dtype);
            *t = a->t;
            t->data = fg_xmalloc(b + 1);
            memcpy(t->data, a->t.data, b);
            return 0;
        }
        if (strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_int") == 0) {
            bool f = a->name[6] == 'f';
            t->dtype = f ? FG_F32 : FG_I64;
            t->rank = 0;
            t->data = fg_xmalloc(8);
            if (f)
                *(float *)t->data = a->f;
            else
                *(int64_t *)t->data = a->i;
            return 0;
        }
        if (strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0) {
            bool f = a->name[6] == 'f';
            size_t cnt = f ? a->n_floats : a->n_ints;
            t->dtype = f ? FG_F32 : FG_I64;
            t->rank = 1;
            t->dims[0] = (int64_t)cnt;
            t->data = fg_xmalloc(cnt * 8 + 1);
            memcpy(t->data, f ? (void *)a->floats : (void *)a->ints, cnt * (f ? 4 : 8));
            return 0;
        }
    }
    return fg_err_set(e, FG_EUNSUPPORTED, "%s: only value, value_float(s) and value_int(s) are supported",
                      fg_node_desc(n));
}

/* Kahn's algorithm; ONNX requires sorted graphs but not every exporter complies. */
static int topo_sort(fg_graph *g, fg_err *e) {
    int n = g->n_nodes;
    int *indeg = fg_xcalloc((size_t)n, sizeof(int));
    int *order = fg_xmalloc((size_t)n * sizeof(int));
    int head = 0, tail = 0, rc = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int v = g->nodes[i].in[k];
            if (v >= 0 && g->values[v].producer >= 0)
                indeg[i]++;
        }
    for (int i = 0; i < n; i++)
        if (indeg[i] == 0)
            order[tail++] = i;
    while (head < tail) {
        int i = order[head++];
        for (int o = 0; o < g->nodes[i].n_out; o++) {
            int v = g->nodes[i].out[o];
            if (v < 0)
                continue;
            for (int j = 0; j < n; j++)
                for (int k = 0; k < g->nodes[j].n_in; k++)
                    if (g->nodes[j].in[k] == v && --indeg[j] == 0)
                        order[tail++] = j;
        }
    }
    if (tail != n) {
        rc = fg_err_set(e, FG_EFORMAT, "the graph has a cycle");
    } else {
        bool sorted = true;
        for (int i = 0; i < n; i++)
            sorted &= order[i] == i;
        if (!sorted) {
            fg_node *nn = fg_xmalloc((size_t)n * sizeof(fg_node));
            for (int i = 0; i < n; i++)
                nn[i] = g->nodes[order[i]];
            memcpy(g->nodes, nn, (size_t)n * sizeof(fg_node));
            free(nn);
            for (int i = 0; i < n; i++)
                for (int o = 0; o < g->nodes[i].n_out; o++)
                    if (g->nodes[i].out[o] >= 0)
                        g->values[g->nodes[i].out[o]].producer = i;
        }
    }
    free(indeg);
    free(order);
    return rc;
}

int fg_onnx_to_graph(const void *buf, size_t len, fg_graph *g, fg_err *e) {
    memset(g, 0, sizeof *g);
    if (len == 0)
        return fg_err_set(e, FG_EFORMAT, "empty file, not an ONNX model");
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    if (!mp)
        return fg_err_set(e, FG_EFORMAT, "not a valid ONNX model (protobuf decoding failed: truncated or corrupt)");
    int rc = 0;
    char *unsupported = NULL;
    size_t unsup_len = 0;
    const Onnx__GraphProto *gp = mp->graph;
    if (!gp) {
        rc = fg_err_set(e, FG_EFORMAT, "the model has no graph");
        goto out;
    }
    g->opset = domain_opset(mp, "");
    if (g->opset < 0 && gp->n_node == 0) {
        rc = fg_err_set(e, FG_EFORMAT, "the model declares no opset for the default ONNX domain");
        goto out;
    }
    if (g->opset > 18) {
        rc = fg_err_set(e, FG_EUNSUPPORTED, "opset %d is newer than supported (max 18)", g->opset);
        goto out;
    }
    if (gp->n_sparse_initializer) {
        rc = fg_err_set(e, FG_EUNSUPPORTED, "sparse initializers are not supported");
        goto out;
    }
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        int v = fg_graph_add_value(g, tp->name ? tp->name : "");
        if ((rc = fg_tensor_from_proto(tp, &g->values[v].t, e)) < 0) {
            fg_err_prefix(e, "initializer: ");
            goto out;
        }
        g->values[v].is_const = true;
    }
    g->inputs = fg_xmalloc((gp->n_input + 1) * sizeof(int));
    g->in_info = fg_xcalloc(gp->n_input + 1, sizeof(fg_tensor_info));
    for (size_t i = 0; i < gp->n_input; i++) {
        const char *nm = gp->input[i]->name ? gp->input[i]->name : "";
        if (fg_graph_find_value(g, nm) >= 0)
            continue; /* initializer listed as input (IR < 4): a constant, not something to feed */
        int v = fg_graph_add_value(g, nm);
        g->values[v].is_input = true;
        g->inputs[g->n_inputs] = v;
        if ((rc = set_info(g, &g->in_info[g->n_inputs++], v, gp->input[i], e)) < 0)
            goto out;
    }
    /* values for every node output first, so inputs can refer to nodes listed later */
    g->cap_nodes = (int)gp->n_node + 1;
    g->nodes = fg_xcalloc((size_t)g->cap_nodes, sizeof(fg_node));
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        fg_node *n = &g->nodes[g->n_nodes++];
        n->name = fg_xstrdup(np->name ? np->name : "");
        n->op_type = fg_xstrdup(np->op_type ? np->op_type : "");
        n->domain = fg_xstrdup(np->domain ? np->domain : "");
        n->opset = domain_opset(mp, n->domain);
        n->n_out = (int)np->n_output;
        n->out = fg_xmalloc((np->n_output + 1) * sizeof(int));
        for (size_t k = 0; k < np->n_output; k++) {
            const char *on = np->output[k];
            if (!on || !on[0]) {
                n->out[k] = -1;
                continue;
            }
            if (fg_graph_find_value(g, on) >= 0) {
                rc = fg_err_set(e, FG_EFORMAT, "%s: output '%s' is produced twice", fg_node_desc(n), on);
                goto out;
            }
            n->out[k] = fg_graph_add_value(g, on);
            g->values[n->out[k]].producer = (int)i;
        }
        n->n_attrs = (int)np->n_attribute;
        n->attrs = fg_xcalloc(np->n_attribute + 1, sizeof(fg_attr));
        for (size_t k = 0; k < np->n_attribute; k++)
            if ((rc = convert_attr(np->attribute[k], &n->attrs[k], e)) < 0) {
                fg_err_prefix(e, "%s: ", fg_node_desc(n));
                goto out;
            }
    }
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        fg_node *n = &g->nodes[i];
        n->n_in = (int)np->n_input;
        n->in = fg_xmalloc((np->n_input + 1) * sizeof(int));
        for (size_t k = 0; k < np->n_input; k++) {
            const char *in = np->input[k];
            n->in[k] = (!in || !in[0]) ? -1 : fg_graph_find_value(g, in);
            if (in && in[0] && n->in[k] < 0) {
                rc = fg_err_set(e, FG_EFORMAT, "%s: input '%s' is not a graph input, initializer or node output",
                                fg_node_desc(n), in);
                goto out;
            }
        }
        n->op = fg_op_find(n->domain, n->op_type);
        /* only ai.onnx's Constant becomes a value below: one of another domain is an unsupported op, not
         * a node without a kernel left in the graph */
        bool constant = !n->op && is_default_domain(n->domain) && strcmp(n->op_type, "Constant") == 0;
        if (n->op || constant) {
            int need = n->op ? fg_op_required_inputs(n->op_type, n->opset) : 0;
            for (int k = 0; k < need; k++)
                if (k >= n->n_in || n->in[k] < 0) {
                    rc = fg_err_set(e, FG_EFORMAT, "%s: input %d is required (opset %d)", fg_node_desc(n), k,
                                    n->opset);
                    goto out;
                }
            if (n->n_out < 1 || n->out[0] < 0) {
                rc = fg_err_set(e, FG_EFORMAT, "%s: has no output", fg_node_desc(n));
                goto out;
            }
        }
        bool listed = false;
        if (!n->op && !constant) {
            char key[300];
            snprintf(key, sizeof key, "%s%s%s", is_default_domain(n->domain) ? "" : n->domain,
                     is_default_domain(n->domain) ? "" : ".", n->op_type);
            for (char *p = unsupported; p && *p;) {
                size_t l = strcspn(p, ",");
                if (l == strlen(key) + 0 && strncmp(p, key, l) == 0)
                    listed = true;
                p += l;
                while (*p == ',' || *p == ' ')
                    p++;
            }
            if (!listed) {
                size_t kl = strlen(key);
                unsupported = fg_xrealloc(unsupported, unsup_len + kl + 3);
                sprintf(unsupported + unsup_len, "%s%s", unsup_len ? ", " : "", key);
                unsup_len += kl + (unsup_len ? 2 : 0);
            }
        }
    }
    if (unsupported) {
        rc = fg_err_set(e, FG_EUNSUPPORTED, "unsupported op: %s", unsupported);
        goto out;
    }
    g->outputs = fg_xmalloc((gp->n_output + 1) * sizeof(int));
    g->out_info = fg_xcalloc(gp->n_output + 1, sizeof(fg_tensor_info));
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *nm = gp->output[i]->name ? gp->output[i]->name : "";
        int v = fg_graph_find_value(g, nm);
        if (v < 0) {
            rc = fg_err_set(e, FG_EFORMAT, "graph output '%s' is not produced by any node", nm);
            goto out;
        }
        fg_tensor keep = g->values[v].t;
        g->outputs[g->n_outputs++] = v;
        rc = set_info(g, &g->out_info[i], v, gp->output[i], e);
        if (g->values[v].is_const || g->values[v].is_input)
            g->values[v].t = keep;
        g->values[v].is_output = true;
        if (rc < 0)
            goto out;
    }
    if ((rc = topo_sort(g, e)) < 0)
        goto out;
    /* Constant nodes become constant values */
    for (int i = 0; i < g->n_nodes; i++) {
        fg_node *n = &g->nodes[i];
        if (strcmp(n->op_type, "Constant") != 0 || !is_default_domain(n->domain) || n->n_out < 1 || n->out[0] < 0)
            continue;
        fg_value *v = &g->values[n->out[0]];
        if ((rc = constant_value(n, &v->t, e)) < 0)
            goto out;
        v->is_const = true;
        v->producer = -1;
        n->dead = true;
    }
out:
    free(unsupported);
    onnx__model_proto__free_unpacked(mp, NULL);
    return rc;
}
