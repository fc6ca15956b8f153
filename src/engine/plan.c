/* plan.c - per-shape execution plans.
 * Building a plan walks the live nodes in order: every op infers its output shapes; a node whose
 * inputs are all known at plan time (constants, shapes of inputs, keyed input values) is executed
 * right away and its outputs become plan constants (this folds torch's Shape->Gather->Concat chains);
 * the rest become steps. Intermediate buffers are then packed into one arena by lifetime, so
 * `run` only points tensors at fixed offsets and calls kernels: no allocation. */
#include "engine/plan.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "engine/dnnl_util.h"
#include "engine/ops/ops.h"

typedef struct step {
    int node;   /* -1: a format reorder (src -> dst) */
    bool alias;
    fg_kctx c;
    int src, dst;                /* reorder slots */
    dnnl_primitive_t reorder;    /* reorder steps */
    dnnl_memory_t rm_src, rm_dst; /* their memory objects; data handles are set per run */
} step;

struct fg_plan {
    const fg_graph *g;
    int n_in;
    fg_tensor *key;     /* input dtypes/shapes; data = copy for value-keyed inputs */
    fg_tensor *vt;      /* per slot: graph values first, then plan-made copies in other formats */
    uint8_t *fmt;       /* per slot */
    int n_slots;
    int *out_slot;      /* slot holding graph output i (plain) */
    step *steps;
    int n_steps;
    fg_tensor **ptrs;   /* in/out pointer arrays of all kctx */
    uint8_t *fmts;      /* fmt_in/fmt_out arrays of all kctx */
    void *arena;
    size_t arena_len, total_len;
    void *scratch;
    size_t scratch_len;
    void **owned; /* folded outputs */
    int n_owned;
    int n_threads;
    fg_dnnl *dnnl;
    int n_bf16, n_bf16_fallback; /* products prepared in bf16 / kept in f32 (bf16 sessions) */
};

static size_t tensor_bytes(const fg_tensor *t) {
    return (size_t)fg_tensor_numel(t) * fg_dtype_size(t->dtype);
}

static void set_ctx(fg_kctx *c, const fg_node *n, fg_tensor *vt, fg_tensor **ptrs, int n_threads,
                    fg_dnnl *dnnl, fg_err *e) {
    memset(c, 0, sizeof *c);
    c->node = n;
    c->opset = n->opset;
    c->n_in = n->n_in;
    c->n_out = n->n_out;
    c->in = ptrs;
    c->out = ptrs + n->n_in;
    for (int k = 0; k < n->n_in; k++)
        c->in[k] = n->in[k] >= 0 ? &vt[n->in[k]] : NULL;
    for (int k = 0; k < n->n_out; k++)
        c->out[k] = n->out[k] >= 0 ? &vt[n->out[k]] : NULL;
    c->n_threads = n_threads;
    c->dnnl = dnnl;
    c->err = e;
    c->need_value = -1;
}

static int call_infer(fg_kctx *c, size_t max_bytes) {
    for (int k = 0; k < c->n_out; k++)
        if (c->out[k]) {
            c->out[k]->dtype = FG_DT_UNDEFINED;
            c->out[k]->rank = 0;
        }
    int rc = c->node->op->infer(c);
    if (rc < 0)
        return rc;
    for (int k = 0; k < c->n_out; k++) {
        fg_tensor *o = c->out[k];
        if (!o)
            continue;
        if (fg_dtype_size(o->dtype) == 0)
            return fg_err_set(c->err, FG_EUNSUPPORTED, "%s: output %d has unsupported dtype %s",
                              fg_node_desc(c->node), k, fg_dtype_name(o->dtype));
        double bytes = (double)fg_dtype_size(o->dtype), span = bytes;
        for (int d = 0; d < o->rank; d++) {
            if (o->dims[d] < 0)
                return fg_err_set(c->err, FG_ESHAPE, "%s: inferred a negative dimension for output %d",
                                  fg_node_desc(c->node), k);
            bytes *= (double)o->dims[d];
            span *= o->dims[d] ? (double)o->dims[d] : 1;
        }
        if (bytes > (double)max_bytes)
            return fg_err_set(c->err, FG_ENOMEM, "%s: output %d would need %.0f bytes (limit %zu)",
                              fg_node_desc(c->node), k, bytes, max_bytes);
        /* kernels loop over and build index tables along the other dims of an empty tensor too (Resize
         * to [2^32,1,0,40]): bound those as if the zero dims were 1, so no loop outruns the limit */
        if (span > (double)max_bytes) {
            char sh[160];
            return fg_err_set(c->err, FG_ENOMEM, "%s: output %d is empty but its shape %s exceeds the limit of %zu "
                              "bytes", fg_node_desc(c->node), k, fg_shape_str(o, sh, sizeof sh), max_bytes);
        }
    }
    return 0;
}

/* Executes c's node immediately with freshly malloc'd outputs (plan-time or load-time folding).
 * The output buffers are handed to *owned (realloc'd array) or left in the tensors for the caller. */
static int eval_now(fg_kctx *c, void ***owned, int *n_owned) {
    int rc = 0;
    for (int k = 0; k < c->n_out; k++) {
        if (!c->out[k])
            continue;
        size_t b = tensor_bytes(c->out[k]);
        c->out[k]->data = fg_aligned_alloc(b);
        if (!c->out[k]->data)
            return fg_err_set(c->err, FG_ENOMEM, "%s: cannot allocate %zu bytes", fg_node_desc(c->node), b);
        if (owned) {
            *owned = fg_xrealloc(*owned, (size_t)(*n_owned + 1) * sizeof(void *));
            (*owned)[(*n_owned)++] = c->out[k]->data;
        }
    }
    const fg_op_def *op = c->node->op;
    if (op->flags & FG_OP_ALIAS) {
        /* alias ops reinterpret the input bytes: copy for an independent constant */
        memcpy(c->out[0]->data, c->in[0]->data, tensor_bytes(c->out[0]));
        return 0;
    }
    if (op->prepare && (rc = op->prepare(c)) < 0)
        goto out;
    if (c->scratch_len) {
        c->scratch = fg_aligned_alloc(c->scratch_len);
        if (!c->scratch) {
            rc = fg_err_set(c->err, FG_ENOMEM, "%s: cannot allocate scratch", fg_node_desc(c->node));
            goto out;
        }
    }
    rc = op->run(c);
out:
    if (op->release && c->state)
        op->release(c->state);
    c->state = NULL;
    free(c->scratch);
    c->scratch = NULL;
    return rc;
}

int fg_fold_node(fg_graph *g, int ni, size_t max_bytes, fg_dnnl *dnnl, fg_err *e) {
    fg_node *n = &g->nodes[ni];
    fg_tensor *vt = fg_xcalloc((size_t)(n->n_in + n->n_out), sizeof(fg_tensor));
    fg_tensor **ptrs = fg_xcalloc((size_t)(n->n_in + n->n_out) + 1, sizeof(fg_tensor *));
    fg_kctx c;
    memset(&c, 0, sizeof c);
    c.node = n;
    c.opset = n->opset;
    c.n_in = n->n_in;
    c.n_out = n->n_out;
    c.in = ptrs;
    c.out = ptrs + n->n_in;
    c.n_threads = 1;
    c.dnnl = dnnl;
    c.err = e;
    c.need_value = -1;
    for (int k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0) {
            vt[k] = g->values[n->in[k]].t;
            c.in[k] = &vt[k];
        }
    for (int k = 0; k < n->n_out; k++)
        if (n->out[k] >= 0)
            c.out[k] = &vt[n->n_in + k];
    int rc = call_infer(&c, max_bytes);
    if (rc == 0)
        rc = eval_now(&c, NULL, NULL);
    if (rc == 0) {
        for (int k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0)
                continue;
            fg_value *v = &g->values[n->out[k]];
            v->t = vt[n->n_in + k];
            v->is_const = true;
            v->producer = -1;
        }
        n->dead = true;
    } else {
        for (int k = 0; k < n->n_out; k++)
            free(vt[n->n_in + k].data);
        fg_err_prefix(e, "folding constants: ");
    }
    free(vt);
    free(ptrs);
    return rc;
}

typedef struct buf {
    int v;
    size_t size, off;
    int first, last;
} buf;

static int cmp_buf_size(const void *a, const void *b) {
    const buf *x = a, *y = b;
    return x->size < y->size ? 1 : x->size > y->size ? -1 : x->v - y->v;
}

/* Greedy by size: place each buffer at the lowest offset that does not overlap any already placed
 * buffer whose lifetime intersects. Near-optimal for the chain-like graphs of CNNs and encoders. */
static size_t assign_offsets(buf *b, int n) {
    qsort(b, (size_t)n, sizeof *b, cmp_buf_size);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t off = 0;
        bool moved = true;
        while (moved) {
            moved = false;
            for (int j = 0; j < i; j++) {
                if (b[j].last < b[i].first || b[i].last < b[j].first)
                    continue;
                if (off < b[j].off + b[j].size && b[j].off < off + b[i].size) {
                    off = b[j].off + b[j].size;
                    moved = true;
                }
            }
        }
        b[i].off = off;
        if (off + b[i].size > total)
            total = off + b[i].size;
    }
    return total;
}

/* oneDNN memory descriptor for t in format fmt (plain, channel-blocked by 16, or channels-last). */
static dnnl_status_t fmt_md(dnnl_memory_desc_t *md, const fg_tensor *t, int fmt) {
    static const dnnl_format_tag_t plain[] = {dnnl_a, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    static const dnnl_format_tag_t blocked[] = {0, 0, 0, dnnl_aBc16b, dnnl_aBcd16b, dnnl_aBcde16b, 0};
    static const dnnl_format_tag_t nxc[] = {0, 0, 0, dnnl_acb, dnnl_acdb, dnnl_acdeb, 0};
    dnnl_dims_t d;
    for (int i = 0; i < t->rank; i++)
        d[i] = t->dims[i];
    dnnl_data_type_t dt = t->dtype == FG_F32 ? dnnl_f32 : t->dtype == FG_I32 ? dnnl_s32 : t->dtype == FG_I8 ? dnnl_s8 : dnnl_u8;
    return dnnl_memory_desc_init_by_tag(md, t->rank, d, dt,
                                        fmt == FG_FMT_NC16 ? blocked[t->rank] : fmt == FG_FMT_NXC ? nxc[t->rank] : plain[t->rank]);
}

/* Whether t can be stored channel-blocked: rank 3..5, float, channels a multiple of 16. */
static bool blockable(const fg_tensor *t) {
    return t->rank >= 3 && t->rank <= 5 && t->dtype == FG_F32 && t->dims[1] % 16 == 0;
}

typedef struct builder {
    fg_plan *p;
    int *root, *first, *last; /* per slot */
    int *conv;                /* per value: slot holding it in the other format, or -1 */
    int n_fmts;
} builder;

/* Returns a slot holding value slot `src` in format `fmt`, adding a reorder step (once per value and
 * format: the cache holds the last conversion, which is the one asked again in practice). */
static int converted(builder *b, int src, int fmt, fg_err *e) {
    fg_plan *p = b->p;
    if (p->fmt[src] == fmt)
        return src;
    if (b->conv[src] >= 0 && p->fmt[b->conv[src]] == fmt)
        return b->conv[src];
    if (fmt == FG_FMT_NXC && (p->vt[src].rank < 3 || p->vt[src].rank > 5)) {
        fg_err_set(e, FG_EINTERNAL, "planner: tensor cannot be channels-last");
        return -1;
    }
    if (fmt == FG_FMT_NC16 && !blockable(&p->vt[src])) {
        fg_err_set(e, FG_EINTERNAL, "planner: tensor cannot be blocked");
        return -1;
    }
    int dst = p->n_slots++;
    p->vt[dst] = p->vt[src];
    p->vt[dst].data = NULL;
    p->fmt[dst] = (uint8_t)fmt;
    step *s = &p->steps[p->n_steps];
    memset(s, 0, sizeof *s);
    s->node = -1;
    s->src = src;
    s->dst = dst;
    int si = p->n_steps++; /* counted first so that a failure below is cleaned up by fg_plan_free */
    dnnl_memory_desc_t a, c;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = fmt_md(&a, &p->vt[src], p->fmt[src]);
    if (st == dnnl_success)
        st = fmt_md(&c, &p->vt[dst], fmt);
    if (st == dnnl_success)
        st = dnnl_reorder_primitive_desc_create(&pd, &a, p->dnnl->engine, &c, p->dnnl->engine, NULL);
    if (st == dnnl_success)
        st = dnnl_primitive_create(&s->reorder, pd);
    if (st == dnnl_success)
        st = dnnl_memory_create(&s->rm_src, &a, p->dnnl->engine, DNNL_MEMORY_NONE);
    if (st == dnnl_success)
        st = dnnl_memory_create(&s->rm_dst, &c, p->dnnl->engine, DNNL_MEMORY_NONE);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        fg_err_set(e, FG_EINTERNAL, "planner: cannot create a format reorder (%s)", fg_dnnl_status_str(st));
        return -1;
    }
    b->last[b->root[src]] = si;
    b->root[dst] = dst;
    b->first[dst] = si;
    b->last[dst] = si;
    b->conv[src] = dst;
    b->conv[dst] = src;
    return dst;
}

fg_plan *fg_plan_build(const fg_graph *g, const fg_tensor *in, const bool *value_keyed, int n_threads,
                       size_t max_bytes, fg_dnnl *dnnl, int *need_value, fg_err *e) {
    fg_plan *p = fg_xcalloc(1, sizeof *p);
    p->g = g;
    p->n_in = g->n_inputs;
    p->n_threads = n_threads;
    p->dnnl = dnnl;
    int bf16_before = dnnl->n_bf16, fallback_before = dnnl->n_bf16_fallback;
    int n_ptrs = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead)
            n_ptrs += g->nodes[i].n_in + g->nodes[i].n_out;
    /* every node input and graph output may need one converted copy */
    int max_slots = g->n_values + n_ptrs + g->n_outputs + 1;
    p->key = fg_xcalloc((size_t)g->n_inputs + 1, sizeof(fg_tensor));
    p->vt = fg_xcalloc((size_t)max_slots, sizeof(fg_tensor));
    p->fmt = fg_xcalloc((size_t)max_slots, 1);
    p->out_slot = fg_xcalloc((size_t)g->n_outputs + 1, sizeof(int));
    p->n_slots = g->n_values;
    bool *known = fg_xcalloc((size_t)max_slots, sizeof(bool));
    builder b = {.p = p};
    b.root = fg_xmalloc((size_t)max_slots * sizeof(int));
    b.first = fg_xmalloc((size_t)max_slots * sizeof(int));
    b.last = fg_xmalloc((size_t)max_slots * sizeof(int));
    b.conv = fg_xmalloc((size_t)max_slots * sizeof(int));
    buf *bufs = NULL;
    int rc = 0;
    *need_value = -1;

    for (int i = 0; i < max_slots; i++) {
        b.root[i] = i;
        b.first[i] = b.last[i] = b.conv[i] = -1;
    }
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].is_const) {
            p->vt[i] = g->values[i].t;
            known[i] = true;
        }
    for (int i = 0; i < g->n_inputs; i++) {
        p->key[i] = in[i];
        p->key[i].data = NULL;
        fg_tensor *t = &p->vt[g->inputs[i]];
        *t = in[i];
        if (value_keyed && value_keyed[i]) {
            size_t nb = tensor_bytes(&in[i]);
            p->key[i].data = fg_xmalloc(nb + 1);
            memcpy(p->key[i].data, in[i].data, nb);
            t->data = p->key[i].data;
            known[g->inputs[i]] = true;
        } else {
            t->data = NULL;
        }
    }
    p->ptrs = fg_xcalloc((size_t)n_ptrs + 1, sizeof(fg_tensor *));
    p->fmts = fg_xcalloc((size_t)n_ptrs + 1, 1);
    p->steps = fg_xcalloc((size_t)(g->n_nodes + n_ptrs + g->n_outputs) + 1, sizeof(step));
    n_ptrs = 0;

    for (int i = 0; i < g->n_nodes; i++) {
        const fg_node *n = &g->nodes[i];
        if (n->dead)
            continue;
        fg_kctx ctx;
        fg_kctx *c = &ctx;
        set_ctx(c, n, p->vt, p->ptrs + n_ptrs, n_threads, dnnl, e);
        c->fmt_in = p->fmts + n_ptrs;
        c->fmt_out = c->fmt_in + n->n_in;
        n_ptrs += n->n_in + n->n_out;
        bool all_known = true;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0 && !known[n->in[k]])
                all_known = false;
        /* shape inference sees plain shapes; formats only change how bytes are laid out */
        if ((rc = call_infer(c, max_bytes)) < 0) {
            if (rc == FG_ENEEDVALUE && c->need_value >= 0 && c->need_value < n->n_in)
                *need_value = n->in[c->need_value];
            goto fail;
        }
        bool fold = !(n->op->flags & FG_OP_NOFOLD) && (all_known || (n->op->flags & FG_OP_SHAPE_ONLY));
        if (fold) {
            /* a folded node runs once, here: exact f32 costs nothing and keeps plan constants exact */
            int bf16 = dnnl->bf16;
            dnnl->bf16 = 0;
            rc = eval_now(c, &p->owned, &p->n_owned);
            dnnl->bf16 = bf16;
            if (rc < 0)
                goto fail;
            for (int k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0)
                    known[n->out[k]] = true;
            continue;
        }
        /* formats: what the op wants, reorders where the current format differs */
        for (int k = 0; k < n->n_in; k++)
            c->fmt_in[k] = n->in[k] >= 0 ? p->fmt[n->in[k]] : FG_FMT_PLAIN;
        for (int k = 0; k < n->n_out; k++)
            c->fmt_out[k] = FG_FMT_PLAIN;
        bool alias = (n->op->flags & FG_OP_ALIAS) != 0;
        if (n->op->formats && !alias) {
            n->op->formats(c);
        } else if ((n->op->flags & FG_OP_ELEMENTWISE) && n->n_in > 0 && c->in[0]) {
            bool same = true;
            for (int k = 1; k < n->n_in; k++)
                same &= c->in[k] && c->in[k]->rank == c->in[0]->rank && c->fmt_in[k] == c->fmt_in[0] &&
                        memcmp(c->in[k]->dims, c->in[0]->dims, sizeof(int64_t) * (size_t)c->in[0]->rank) == 0;
            /* outputs keep the format only where it exists for them (Cast or Equal make other dtypes) */
            for (int k = 0; k < n->n_out; k++)
                same &= !c->out[k] || c->out[k]->dtype == FG_F32;
            for (int k = 0; k < n->n_in; k++)
                c->fmt_in[k] = same ? c->fmt_in[0] : FG_FMT_PLAIN;
            for (int k = 0; k < n->n_out; k++)
                c->fmt_out[k] = c->fmt_in[0];
        } else {
            memset(c->fmt_in, FG_FMT_PLAIN, (size_t)n->n_in);
        }
        for (int k = 0; k < n->n_in; k++) {
            int v = n->in[k];
            if (v < 0 || p->fmt[v] == c->fmt_in[k])
                continue;
            int slot = converted(&b, v, c->fmt_in[k], e);
            if (slot < 0) {
                rc = e->code ? e->code : FG_EINTERNAL;
                goto fail;
            }
            c->in[k] = &p->vt[slot];
        }
        step *s = &p->steps[p->n_steps];
        s->c = ctx;
        c = &s->c;
        s->node = i;
        s->alias = alias;
        int si = p->n_steps++;
        for (int k = 0; k < n->n_in; k++) {
            if (!c->in[k])
                continue;
            int slot = (int)(c->in[k] - p->vt);
            if (!known[slot] && !(slot < g->n_values && g->values[slot].is_input))
                b.last[b.root[slot]] = si;
        }
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                p->fmt[n->out[k]] = c->fmt_out[k];
        if (alias) {
            int src = (int)(c->in[0] - p->vt);
            b.root[n->out[0]] = b.root[src];
            for (int k = 1; k < n->n_out; k++)
                if (n->out[k] >= 0)
                    b.first[n->out[k]] = b.last[n->out[k]] = si;
        } else {
            for (int k = 0; k < n->n_out; k++)
                if (n->out[k] >= 0)
                    b.first[n->out[k]] = b.last[n->out[k]] = si;
            if (n->op->prepare && (rc = n->op->prepare(c)) < 0)
                goto fail;
            if (c->scratch_len > p->scratch_len)
                p->scratch_len = c->scratch_len;
        }
    }
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        int slot = v;
        if (!known[v] && p->fmt[v] != FG_FMT_PLAIN && (slot = converted(&b, v, FG_FMT_PLAIN, e)) < 0) {
            rc = e->code ? e->code : FG_EINTERNAL;
            goto fail;
        }
        p->out_slot[i] = slot;
        if (!known[slot] && !(slot < g->n_values && g->values[slot].is_input))
            b.last[b.root[slot]] = p->n_steps;
    }
    /* lay out the buffers of step outputs that are not aliases of something else */
    bufs = fg_xcalloc((size_t)p->n_slots + 1, sizeof(buf));
    int nb = 0;
    for (int v = 0; v < p->n_slots; v++) {
        if (known[v] || (v < g->n_values && g->values[v].is_input) || b.root[v] != v || b.first[v] < 0)
            continue;
        bufs[nb].v = v;
        bufs[nb].size = (tensor_bytes(&p->vt[v]) + 63) & ~(size_t)63;
        bufs[nb].first = b.first[v];
        bufs[nb].last = b.last[v] < b.first[v] ? b.first[v] : b.last[v];
        p->total_len += bufs[nb].size;
        nb++;
    }
    p->arena_len = assign_offsets(bufs, nb);
    p->arena = fg_aligned_alloc(p->arena_len ? p->arena_len : 64);
    if (p->scratch_len)
        p->scratch = fg_aligned_alloc(p->scratch_len);
    if (!p->arena || (p->scratch_len && !p->scratch)) {
        rc = fg_err_set(e, FG_ENOMEM, "cannot allocate %zu bytes of activations", p->arena_len + p->scratch_len);
        goto fail;
    }
    for (int i = 0; i < nb; i++)
        p->vt[bufs[i].v].data = (char *)p->arena + bufs[i].off;
    for (int i = 0; i < p->n_steps; i++)
        p->steps[i].c.scratch = p->scratch;
    p->n_bf16 = dnnl->n_bf16 - bf16_before;
    p->n_bf16_fallback = dnnl->n_bf16_fallback - fallback_before;
    free(bufs);
    free(known);
    free(b.root);
    free(b.first);
    free(b.last);
    free(b.conv);
    return p;
fail:
    free(bufs);
    free(known);
    free(b.root);
    free(b.first);
    free(b.last);
    free(b.conv);
    fg_plan_free(p);
    return NULL;
}

bool fg_plan_matches(const fg_plan *p, const fg_tensor *in, const bool *value_keyed) {
    for (int i = 0; i < p->n_in; i++) {
        const fg_tensor *k = &p->key[i];
        if (k->dtype != in[i].dtype || k->rank != in[i].rank)
            return false;
        for (int d = 0; d < k->rank; d++)
            if (k->dims[d] != in[i].dims[d])
                return false;
        if (value_keyed && value_keyed[i]) {
            if (!k->data || memcmp(k->data, in[i].data, tensor_bytes(k)) != 0)
                return false;
        }
    }
    return true;
}

static int run_reorder(fg_plan *p, step *s, fg_err *e) {
    dnnl_status_t st = dnnl_memory_set_data_handle(s->rm_src, p->vt[s->src].data);
    if (st == dnnl_success)
        st = dnnl_memory_set_data_handle(s->rm_dst, p->vt[s->dst].data);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, s->rm_src}, {DNNL_ARG_TO, s->rm_dst}};
        st = dnnl_primitive_execute(s->reorder, p->dnnl->stream, 2, args);
    }
    if (st == dnnl_success)
        st = dnnl_stream_wait(p->dnnl->stream);
    if (st != dnnl_success)
        return fg_err_set(e, FG_EINTERNAL, "format reorder failed (%s)", fg_dnnl_status_str(st));
    return 0;
}

int fg_plan_run(fg_plan *p, const fg_tensor *in, fg_tensor *out, size_t n_out, fg_err *e) {
    const fg_graph *g = p->g;
    for (int i = 0; i < p->n_in; i++)
        if (!p->key[i].data)
            p->vt[g->inputs[i]].data = in[i].data;
    for (int i = 0; i < p->n_steps; i++) {
        step *s = &p->steps[i];
        if (s->node < 0) {
            int rc = run_reorder(p, s, e);
            if (rc < 0)
                return rc;
            continue;
        }
        if (s->alias) {
            s->c.out[0]->data = s->c.in[0]->data;
            continue;
        }
        s->c.err = e;
        int rc = g->nodes[s->node].op->run(&s->c);
        if (rc < 0) {
            if (e && !e->code)
                fg_err_set(e, rc, "%s failed: %s", fg_node_desc(&g->nodes[s->node]), fg_strerror(rc));
            return rc;
        }
    }
    for (size_t i = 0; i < n_out && (int)i < g->n_outputs; i++)
        out[i] = p->vt[p->out_slot[i]];
    return 0;
}

void fg_plan_free(fg_plan *p) {
    if (!p)
        return;
    for (int i = 0; i < p->n_steps; i++) {
        step *s = &p->steps[i];
        if (s->node < 0) {
            if (s->reorder)
                dnnl_primitive_destroy(s->reorder);
            if (s->rm_src)
                dnnl_memory_destroy(s->rm_src);
            if (s->rm_dst)
                dnnl_memory_destroy(s->rm_dst);
            continue;
        }
        const fg_op_def *op = p->g->nodes[s->node].op;
        if (op->release && s->c.state)
            op->release(s->c.state);
    }
    for (int i = 0; i < p->n_owned; i++)
        free(p->owned[i]);
    for (int i = 0; i < p->n_in; i++)
        free(p->key[i].data);
    free(p->owned);
    free(p->key);
    free(p->vt);
    free(p->fmt);
    free(p->fmts);
    free(p->out_slot);
    free(p->steps);
    free(p->ptrs);
    free(p->arena);
    free(p->scratch);
    free(p);
}

size_t fg_plan_arena_bytes(const fg_plan *p) { return p->arena_len; }
size_t fg_plan_total_bytes(const fg_plan *p) { return p->total_len; }

void fg_plan_bf16_nodes(const fg_plan *p, int *n_bf16, int *n_fallback) {
    *n_bf16 = p->n_bf16;
    *n_fallback = p->n_bf16_fallback;
}
