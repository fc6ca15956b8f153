/* sched.c - dynamic batcher: per model-version queue, priority levels, timeouts, instance workers.
 * One mutex guards the queue; run_cb, input concatenation, output splitting and completions run
 * outside it. Each instance owns its batch buffers (grown, never shrunk: no malloc per batch once
 * sized); only requests split across batches allocate (their reassembly block, request-sized). */
#include "serve/sched.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"

#define FG_SCHED_ASSERT(c)                                                                          \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #c);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct piece {
    fg_sched_req *r;
    int64_t off, n; /* item range of r in this batch */
} piece;

typedef struct instance {
    fg_sched *q;
    int index;
    pthread_t thread;
    char *buf[FG_SCHED_MAX_IO];
    size_t buf_cap[FG_SCHED_MAX_IO];
    piece *pieces;      /* max_batch_size (or 1) entries */
    uint64_t *waits;
    uint64_t busy_ns;   /* under q->mu */
} instance;

typedef struct level {
    fg_sched_req *head, *tail;
} level;

struct fg_sched {
    fg_sched_config c;
    int n_levels;
    level *levels;
    pthread_mutex_t mu;
    pthread_cond_t work;   /* workers: new request, stop */
    pthread_cond_t reap;   /* reaper: earlier deadline, stop */
    fg_sched_run_cb run_cb;
    void *run_user;
    instance *inst;
    int n_inst;
    pthread_t reaper;
    int started, stopping, reaper_exit;
    uint64_t stop_deadline;
    uint64_t next_deadline; /* earliest deadline_ns_ of a queued untaken request (UINT64_MAX: none) */
    uint64_t last_arrival, gap_ewma; /* adaptive delay: last submit, moving average of the gaps (ns) */
    uint32_t busy_ewma; /* adaptive delay: share of arrivals that found requests queued or running, 1/65536 */
    fg_sched_stats st;
};

static size_t dtype_size(fg_dtype t) {
    switch (t) {
    case FG_F32: case FG_I32: case FG_U32: return 4;
    case FG_U8: case FG_I8: case FG_BOOL: return 1;
    case FG_U16: case FG_I16: case FG_F16: case FG_BF16: return 2;
    case FG_I64: case FG_F64: case FG_U64: return 8;
    default: return 0;
    }
}

/* Bytes of one item (row) of t: the product of dims[1..] times the element size. */
static size_t item_bytes(const fg_tensor *t) {
    size_t n = dtype_size(t->dtype);
    for (int i = 1; i < t->rank; i++)
        n *= (size_t)t->dims[i];
    return n;
}

static int same_item_shape(const fg_tensor *a, const fg_tensor *b) {
    if (a->dtype != b->dtype || a->rank != b->rank)
        return 0;
    for (int i = 1; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

static int compatible(const fg_sched_req *a, const fg_sched_req *b) {
    for (size_t i = 0; i < a->n_inputs; i++)
        if (!same_item_shape(&a->inputs[i], &b->inputs[i]))
            return 0;
    return 1;
}

static void abs_ts(uint64_t ns, struct timespec *ts) {
    ts->tv_sec = (time_t)(ns / 1000000000ull);
    ts->tv_nsec = (long)(ns % 1000000000ull);
}

const char *fg_sched_strerror(int code) {
    switch (code) {
    case FG_SCHED_ETIMEDOUT: return "timed out in queue";
    case FG_SCHED_ESTOPPED: return "scheduler stopping";
    default: return fg_strerror(code);
    }
}

fg_sched *fg_sched_new(const fg_sched_config *c, fg_err *e) {
    if (!c || c->max_batch_size < 0)
        return fg_err_set(e, FG_EINVAL, "sched: max_batch_size must be >= 0"), NULL;
    if (c->n_inputs < 1 || c->n_inputs > FG_SCHED_MAX_IO || c->n_outputs < 1 ||
        c->n_outputs > FG_SCHED_MAX_IO)
        return fg_err_set(e, FG_EINVAL, "sched: n_inputs and n_outputs must be 1..%d", FG_SCHED_MAX_IO),
               NULL;
    if (c->n_preferred < 0 || c->n_preferred > FG_SCHED_MAX_PREFERRED)
        return fg_err_set(e, FG_EINVAL, "sched: at most %d preferred batch sizes", FG_SCHED_MAX_PREFERRED),
               NULL;
    for (int i = 0; i < c->n_preferred; i++)
        if (c->preferred_batch_sizes[i] < 1 || c->preferred_batch_sizes[i] > c->max_batch_size)
            return fg_err_set(e, FG_EINVAL, "sched: preferred batch size %lld not in 1..max_batch_size %lld",
                              (long long)c->preferred_batch_sizes[i], (long long)c->max_batch_size),
                   NULL;
    int n_levels = c->priority_levels > 1 ? c->priority_levels : 1;
    if (c->priority_levels < 0 || c->default_priority < 0 || c->default_priority > n_levels)
        return fg_err_set(e, FG_EINVAL, "sched: default_priority %d not in 0..%d", c->default_priority,
                          n_levels),
               NULL;
    fg_sched *q = fg_xcalloc(1, sizeof *q);
    q->c = *c;
    if (q->c.default_priority == 0)
        q->c.default_priority = n_levels;
    q->n_levels = n_levels;
    q->levels = fg_xcalloc((size_t)n_levels, sizeof *q->levels);
    q->next_deadline = UINT64_MAX;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->work, &ca);
    pthread_cond_init(&q->reap, &ca);
    pthread_condattr_destroy(&ca);
    return q;
}

/* Unlinks r from its level list; prev is its predecessor (NULL for the head). Caller holds mu. */
static void unlink_req(level *l, fg_sched_req *prev, fg_sched_req *r) {
    if (prev)
        prev->next_ = r->next_;
    else
        l->head = r->next_;
    if (l->tail == r)
        l->tail = prev;
    r->next_ = NULL;
}

/* Removes every untaken queued request whose deadline (or the stop deadline) passed, chaining them on
 * *out with status_ set, and recomputes next_deadline. Caller holds mu. */
static void expire(fg_sched *q, uint64_t now, fg_sched_req **out) {
    uint64_t next = UINT64_MAX;
    int stop_due = q->stop_deadline && now >= q->stop_deadline;
    for (int li = 0; li < q->n_levels; li++) {
        level *l = &q->levels[li];
        fg_sched_req *prev = NULL, *r = l->head;
        while (r) {
            fg_sched_req *nx = r->next_;
            int timed = r->deadline_ns_ && now >= r->deadline_ns_;
            if (r->taken_ == 0 && (timed || stop_due)) {
                unlink_req(l, prev, r);
                r->status_ = timed ? FG_SCHED_ETIMEDOUT : FG_SCHED_ESTOPPED;
                q->st.queued_requests--;
                q->st.queued_items -= r->rows_;
                if (timed)
                    q->st.n_timeouts++;
                r->next_ = *out;
                *out = r;
            } else {
                if (r->taken_ == 0 && r->deadline_ns_ && r->deadline_ns_ < next)
                    next = r->deadline_ns_;
                prev = r;
            }
            r = nx;
        }
    }
    if (q->stop_deadline && !stop_due && q->stop_deadline < next)
        next = q->stop_deadline;
    q->next_deadline = next;
}

/* Completes a chain of expired requests. Called without mu. */
static void complete_expired(fg_sched_req *r) {
    while (r) {
        fg_sched_req *nx = r->next_;
        int st = r->status_;
        fg_sched_done_cb cb = r->done_cb;
        void *user = r->user;
        char msg[160];
        snprintf(msg, sizeof msg, "%s", fg_sched_strerror(st));
        cb(user, st, NULL, 0, msg);
        r = nx;
    }
}

/* Walks the queue in priority order and fills a batch of at most cap items: whole requests, or a
 * chunk of a request larger than max_batch_size. Stops at the first request that cannot join
 * (*blocked = 1). With take, records pieces, advances taken_ and dequeues fully taken requests.
 * Returns the items in the batch. Caller holds mu. */
static int64_t fill(fg_sched *q, int64_t cap, int take, piece *pieces, size_t *n_pieces, int *blocked) {
    int64_t total = 0;
    size_t np = 0;
    const fg_sched_req *first = NULL;
    *blocked = 0;
    for (int li = 0; li < q->n_levels && total < cap; li++) {
        level *l = &q->levels[li];
        fg_sched_req *r = l->head;
        while (r && total < cap) {
            fg_sched_req *nx = r->next_;
            int64_t rem = r->rows_ - r->taken_, n;
            if (first && !compatible(first, r)) {
                *blocked = 1;
                goto done;
            }
            if (rem <= cap - total)
                n = rem;
            else if (r->rows_ > q->c.max_batch_size)
                n = cap - total;
            else {
                *blocked = 1;
                goto done;
            }
            if (!first)
                first = r;
            if (take) {
                pieces[np].r = r;
                pieces[np].off = r->taken_;
                pieces[np].n = n;
                np++;
                if (r->taken_ == 0)
                    q->st.inflight_requests++;
                r->taken_ += n;
                q->st.queued_items -= n;
                if (r->taken_ == r->rows_) {
                    FG_SCHED_ASSERT(l->head == r);
                    unlink_req(l, NULL, r);
                    q->st.queued_requests--;
                }
            }
            total += n;
            r = nx;
        }
    }
done:
    if (n_pieces)
        *n_pieces = np;
    return total;
}

static atomic_int fail_allocs;

void fg_sched_test_fail_allocs(int n) {
    atomic_store(&fail_allocs, n);
}

/* Request-sized allocations go through here so tests can make them fail. */
static void *req_realloc(void *p, size_t n) {
    int left = atomic_load(&fail_allocs);
    while (left > 0)
        if (atomic_compare_exchange_weak(&fail_allocs, &left, left - 1))
            return NULL;
    return realloc(p, n);
}

/* Ensures instance buffer i holds at least n bytes. Returns 0 or FG_ENOMEM. */
static int reserve(instance *in, size_t i, size_t n) {
    if (in->buf_cap[i] >= n)
        return 0;
    char *p = req_realloc(in->buf[i], n);
    if (!p)
        return FG_ENOMEM;
    in->buf[i] = p;
    in->buf_cap[i] = n;
    return 0;
}

/* Delivers results of one piece: whole requests complete with views into out; chunks copy into the
 * request's reassembly block and the last chunk completes. boff is the piece's first row in the batch.
 * Called without mu. */
static void deliver(fg_sched *q, piece *p, int status, const char *msg, const fg_tensor *out, size_t n_out,
                    int64_t boff) {
    fg_sched_req *r = p->r;
    size_t no = q->c.n_outputs;
    if (p->n == r->rows_ && p->off == 0) {
        fg_tensor views[FG_SCHED_MAX_IO];
        if (status == 0) {
            for (size_t i = 0; i < no && i < n_out; i++) {
                views[i] = out[i];
                if (q->c.max_batch_size > 0) {
                    views[i].dims[0] = p->n;
                    views[i].data = (char *)out[i].data + (size_t)boff * item_bytes(&out[i]);
                }
            }
        }
        pthread_mutex_lock(&q->mu);
        q->st.inflight_requests--;
        q->st.n_completed++;
        if (status)
            q->st.n_failed++;
        pthread_mutex_unlock(&q->mu);
        r->done_cb(r->user, status, status ? NULL : views, status ? 0 : no, status ? msg : NULL);
        return;
    }
    /* a chunk of a split request */
    pthread_mutex_lock(&q->mu);
    if (status == 0 && r->status_ == 0 && !r->asm_) {
        size_t sz = no * sizeof(fg_tensor), total = sz;
        for (size_t i = 0; i < no; i++)
            total += (item_bytes(&out[i]) * (size_t)r->rows_ + 63) & ~(size_t)63;
        r->asm_ = req_realloc(NULL, total + 64);
        if (!r->asm_) {
            r->status_ = FG_ENOMEM;
            snprintf(r->msg_, sizeof r->msg_, "out of memory reassembling a split request");
        } else {
            fg_tensor *t = (fg_tensor *)r->asm_;
            char *d = r->asm_ + ((sz + 63) & ~(size_t)63);
            for (size_t i = 0; i < no; i++) {
                t[i] = out[i];
                t[i].dims[0] = r->rows_;
                t[i].data = d;
                d += (item_bytes(&out[i]) * (size_t)r->rows_ + 63) & ~(size_t)63;
            }
        }
    }
    if (status && r->status_ == 0) {
        r->status_ = status;
        snprintf(r->msg_, sizeof r->msg_, "%s", msg ? msg : fg_sched_strerror(status));
    }
    fg_tensor *t = r->status_ == 0 ? (fg_tensor *)r->asm_ : NULL;
    pthread_mutex_unlock(&q->mu);
    if (t) {
        int ok = 1;
        for (size_t i = 0; i < no; i++)
            ok &= same_item_shape(&t[i], &out[i]);
        if (ok) {
            for (size_t i = 0; i < no; i++) {
                size_t ib = item_bytes(&out[i]);
                memcpy((char *)t[i].data + (size_t)p->off * ib, (char *)out[i].data + (size_t)boff * ib,
                       (size_t)p->n * ib);
            }
        } else {
            pthread_mutex_lock(&q->mu);
            if (r->status_ == 0) {
                r->status_ = FG_ESHAPE;
                snprintf(r->msg_, sizeof r->msg_, "output shapes differ between chunks of a split request");
            }
            pthread_mutex_unlock(&q->mu);
        }
    }
    pthread_mutex_lock(&q->mu);
    r->done_ += p->n;
    int last = r->done_ == r->rows_;
    if (last) {
        q->st.inflight_requests--;
        q->st.n_completed++;
        if (r->status_)
            q->st.n_failed++;
    }
    pthread_mutex_unlock(&q->mu);
    if (last) {
        char *blk = r->asm_;
        r->asm_ = NULL;
        if (r->status_ == 0)
            r->done_cb(r->user, 0, (fg_tensor *)blk, no, NULL);
        else
            r->done_cb(r->user, r->status_, NULL, 0, r->msg_);
        free(blk);
    }
}

/* Delivers a batch's outputs (or its failure) to every piece, in batch order. Called without mu. */
static void finish_pieces(fg_sched *q, piece *pieces, size_t np, int status, const char *msg,
                          const fg_tensor *out, size_t n_out, int64_t batch_off_base) {
    int64_t boff = batch_off_base;
    for (size_t k = 0; k < np; k++) {
        deliver(q, &pieces[k], status, msg, out, n_out, boff);
        boff += pieces[k].n;
    }
}

/* Concatenates the pieces' inputs into in's buffers (or passes a lone unbatched request's tensors), calls
 * run_cb and checks the outputs. Returns 0 or a negative code with e filled; *dt is run_cb's time. */
static int run_pieces(instance *in, piece *pieces, size_t np, int64_t n_items, fg_tensor *bout, fg_err *e,
                      uint64_t *dt) {
    fg_sched *q = in->q;
    size_t ni = q->c.n_inputs, no = q->c.n_outputs;
    fg_tensor bin[FG_SCHED_MAX_IO];
    int rc = 0;
    const fg_tensor *inputs = bin;
    memset(bout, 0, sizeof(fg_tensor) * FG_SCHED_MAX_IO);
    *dt = 0;
    if (q->c.max_batch_size == 0) {
        inputs = pieces[0].r->inputs; /* no batching: pass the request's tensors as they are */
    } else {
        const fg_sched_req *r0 = pieces[0].r;
        for (size_t i = 0; i < ni && rc == 0; i++) {
            size_t ib = item_bytes(&r0->inputs[i]);
            rc = reserve(in, i, ib * (size_t)n_items);
            if (rc) {
                fg_err_set(e, FG_ENOMEM, "out of memory for a batch of %lld items", (long long)n_items);
                break;
            }
            bin[i] = r0->inputs[i];
            bin[i].dims[0] = n_items;
            bin[i].data = in->buf[i];
            size_t at = 0;
            for (size_t k = 0; k < np; k++) {
                const fg_tensor *src = &pieces[k].r->inputs[i];
                memcpy(in->buf[i] + at, (const char *)src->data + (size_t)pieces[k].off * ib,
                       (size_t)pieces[k].n * ib);
                at += (size_t)pieces[k].n * ib;
            }
        }
    }
    if (rc == 0) {
        uint64_t t0 = fg_now_ns();
        rc = q->run_cb(q->run_user, in->index, inputs, ni, n_items, bout, no, e);
        *dt = fg_now_ns() - t0;
        if (rc > 0)
            rc = FG_EINTERNAL;
        if (rc < 0 && !e->msg[0])
            fg_err_set(e, rc, "run failed: %s", fg_strerror(rc));
    }
    if (rc == 0 && q->c.max_batch_size > 0) {
        for (size_t i = 0; i < no && rc == 0; i++)
            if (bout[i].rank < 1 || bout[i].dims[0] != n_items || !bout[i].data || !dtype_size(bout[i].dtype))
                rc = fg_err_set(e, FG_ESHAPE, "output %zu: dim 0 must be the batch size %lld", i,
                                (long long)n_items);
    }
    return rc;
}

/* Runs one taken batch on instance in and delivers its outputs. When a batch of several requests fails,
 * each request is run again alone, so one request's bad input (an index out of range, say) fails only
 * that request, and nobody sees another client's values in an error message. */
static void run_batch(instance *in, piece *pieces, size_t np, int64_t n_items) {
    fg_sched *q = in->q;
    size_t no = q->c.n_outputs;
    fg_tensor bout[FG_SCHED_MAX_IO];
    fg_err e = {0};
    uint64_t dt = 0;
    int rc = run_pieces(in, pieces, np, n_items, bout, &e, &dt);
    pthread_mutex_lock(&q->mu);
    in->busy_ns += dt;
    q->st.n_batches++;
    q->st.n_batch_items += (uint64_t)n_items;
    if (rc == 0 || np == 1)
        q->st.inflight_items -= n_items;
    pthread_mutex_unlock(&q->mu);
    if (q->c.batch_cb) {
        fg_sched_batch_info bi = {.instance = in->index, .n_items = n_items, .n_requests = np,
                                  .queue_wait_ns = in->waits, .compute_ns = dt, .status = rc};
        q->c.batch_cb(q->c.batch_user, &bi);
    }
    if (rc == 0 || np == 1 || rc == FG_ENOMEM) {
        if (rc < 0 && np > 1) {
            pthread_mutex_lock(&q->mu);
            q->st.inflight_items -= n_items;
            pthread_mutex_unlock(&q->mu);
        }
        finish_pieces(q, pieces, np, rc, rc ? e.msg : NULL, bout, no, 0);
        return;
    }
    for (size_t k = 0; k < np; k++) {
        fg_err ek = {0};
        uint64_t dk = 0;
        int rk = run_pieces(in, &pieces[k], 1, pieces[k].n, bout, &ek, &dk);
        pthread_mutex_lock(&q->mu);
        in->busy_ns += dk;
        q->st.inflight_items -= pieces[k].n;
        pthread_mutex_unlock(&q->mu);
        finish_pieces(q, &pieces[k], 1, rk, rk ? ek.msg : NULL, bout, no, 0);
    }
}

/* Waits on cv until the absolute monotonic time ns (UINT64_MAX: no timeout). Caller holds mu. */
static void wait_until(fg_sched *q, pthread_cond_t *cv, uint64_t ns) {
    if (ns == UINT64_MAX) {
        pthread_cond_wait(cv, &q->mu);
    } else {
        struct timespec ts;
        abs_ts(ns, &ts);
        pthread_cond_timedwait(cv, &q->mu, &ts);
    }
}

/* With q->mu held: expires the requests whose deadline has passed and completes them with the lock
 * released (their callbacks may take time or submit again). True when it completed any. */
static bool reap_due(fg_sched *q) {
    uint64_t now = fg_now_ns();
    if (now < q->next_deadline)
        return false;
    fg_sched_req *dead = NULL;
    expire(q, now, &dead);
    if (!dead)
        return false;
    pthread_mutex_unlock(&q->mu);
    complete_expired(dead);
    pthread_mutex_lock(&q->mu);
    return true;
}

static void *worker_main(void *arg) {
    instance *in = arg;
    fg_sched *q = in->q;
    int64_t mbs = q->c.max_batch_size;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        if (reap_due(q))
            continue;
        uint64_t now = fg_now_ns();
        if (q->st.queued_requests == 0) {
            if (q->stopping)
                break;
            pthread_cond_wait(&q->work, &q->mu);
            continue;
        }
        int64_t cap = mbs > 0 ? mbs : 1;
        if (mbs > 0) {
            int blocked;
            int64_t avail = fill(q, mbs, 0, NULL, NULL, &blocked);
            uint64_t oldest = UINT64_MAX;
            for (int li = 0; li < q->n_levels; li++)
                if (q->levels[li].head && q->levels[li].head->enqueue_ns_ < oldest)
                    oldest = q->levels[li].head->enqueue_ns_;
            uint64_t due = oldest + q->c.max_queue_delay_us * 1000ull;
            int close = q->stopping || blocked || avail >= mbs || now >= due;
            if (!close) {
                int64_t best = 0;
                for (int i = 0; i < q->c.n_preferred; i++)
                    if (q->c.preferred_batch_sizes[i] <= avail && q->c.preferred_batch_sizes[i] > best)
                        best = q->c.preferred_batch_sizes[i];
                if (best) {
                    /* the head request may not fit the preferred size (it is never split): then the
                     * batch takes what fits max_batch_size */
                    int bl;
                    close = 1;
                    cap = fill(q, best, 0, NULL, NULL, &bl) > 0 ? best : mbs;
                }
            }
            uint64_t wake = due;
            if (!close && q->c.adaptive_delay) {
                uint64_t quiet = q->last_arrival + 4 * q->gap_ewma;
                if (q->busy_ewma < 32768 || now + q->gap_ewma > due || now >= quiet)
                    close = 1; /* nobody is expected in time: run what there is now */
                else if (quiet < wake)
                    wake = quiet;
            }
            if (!close) {
                wait_until(q, &q->work, wake < q->next_deadline ? wake : q->next_deadline);
                continue;
            }
        }
        size_t np = 0;
        int blocked;
        int64_t n = fill(q, cap, 1, in->pieces, &np, &blocked);
        FG_SCHED_ASSERT(np > 0 && n > 0);
        for (size_t k = 0; k < np; k++)
            in->waits[k] = now - in->pieces[k].r->enqueue_ns_;
        q->st.inflight_items += n;
        if (q->st.queued_requests > 0)
            pthread_cond_signal(&q->work);
        pthread_mutex_unlock(&q->mu);
        run_batch(in, in->pieces, np, n);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Fires request timeouts (and the stop deadline) on time even while every instance is busy. */
static void *reaper_main(void *arg) {
    fg_sched *q = arg;
    pthread_mutex_lock(&q->mu);
    while (!q->reaper_exit) {
        if (reap_due(q))
            continue;
        wait_until(q, &q->reap, q->next_deadline);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int fg_sched_start(fg_sched *q, int n_instances, fg_sched_run_cb run_cb, void *user, fg_err *e) {
    if (!q || !run_cb || n_instances < 1)
        return fg_err_set(e, FG_EINVAL, "sched: start needs a run callback and at least one instance");
    if (q->started)
        return fg_err_set(e, FG_EINVAL, "sched: already started");
    size_t np = q->c.max_batch_size > 0 ? (size_t)q->c.max_batch_size : 1;
    q->run_cb = run_cb;
    q->run_user = user;
    q->inst = fg_xcalloc((size_t)n_instances, sizeof *q->inst);
    for (int i = 0; i < n_instances; i++) {
        q->inst[i].q = q;
        q->inst[i].index = i;
        q->inst[i].pieces = fg_xcalloc(np, sizeof(piece));
        q->inst[i].waits = fg_xcalloc(np, sizeof(uint64_t));
    }
    pthread_mutex_lock(&q->mu);
    q->started = 1;
    pthread_mutex_unlock(&q->mu);
    if (pthread_create(&q->reaper, NULL, reaper_main, q) != 0)
        FG_SCHED_ASSERT(!"pthread_create failed");
    for (int i = 0; i < n_instances; i++) {
        if (pthread_create(&q->inst[i].thread, NULL, worker_main, &q->inst[i]) != 0)
            FG_SCHED_ASSERT(!"pthread_create failed");
        q->n_inst = i + 1;
    }
    return 0;
}

int fg_sched_submit(fg_sched *q, fg_sched_req *r) {
    if (!q || !r || !r->done_cb || !r->inputs || r->n_inputs != q->c.n_inputs)
        return FG_EINVAL;
    int64_t mbs = q->c.max_batch_size;
    if (mbs > 0) {
        if (r->n_items < 1)
            return FG_ESHAPE;
        for (size_t i = 0; i < r->n_inputs; i++) {
            const fg_tensor *t = &r->inputs[i];
            if (t->rank < 1 || t->rank > FG_MAX_RANK || t->dims[0] != r->n_items || !t->data ||
                !dtype_size(t->dtype))
                return FG_ESHAPE;
            for (int d = 1; d < t->rank; d++)
                if (t->dims[d] < 0)
                    return FG_ESHAPE;
        }
    }
    int prio = r->priority ? r->priority : q->c.default_priority;
    if (prio < 1 || prio > q->n_levels)
        return FG_EINVAL;
    uint64_t tmo = q->c.default_timeout_us;
    if (q->c.allow_timeout_override && r->timeout_us)
        tmo = r->timeout_us;
    uint64_t now = fg_now_ns();
    r->next_ = NULL;
    r->enqueue_ns_ = now;
    /* a timeout too large to add (a client's "no limit") is no deadline rather than an overflow */
    r->deadline_ns_ = tmo && tmo <= (UINT64_MAX - now) / 1000ull ? now + tmo * 1000ull : 0;
    r->rows_ = mbs > 0 ? r->n_items : 1;
    r->taken_ = r->done_ = 0;
    r->status_ = 0;
    r->asm_ = NULL;
    r->msg_[0] = 0;
    pthread_mutex_lock(&q->mu);
    if (q->stopping) {
        pthread_mutex_unlock(&q->mu);
        return FG_SCHED_ESTOPPED;
    }
    if (q->c.max_queue_size && q->st.queued_requests >= q->c.max_queue_size) {
        q->st.n_rejected++;
        pthread_mutex_unlock(&q->mu);
        return FG_SCHED_EFULL;
    }
    if (q->c.adaptive_delay) {
        /* gaps are capped at twice the delay so that one idle spell is forgotten after a few arrivals */
        uint64_t cap = 2 * q->c.max_queue_delay_us * 1000ull + 1000;
        uint64_t gap = q->last_arrival ? now - q->last_arrival : cap;
        if (gap > cap)
            gap = cap;
        q->gap_ewma = q->last_arrival ? q->gap_ewma - q->gap_ewma / 8 + gap / 8 : cap;
        q->last_arrival = now;
        /* Whether arrivals overlap: a lone closed-loop client never finds company, however long a
         * batch waits for it (the gaps alone would grow with the wait and feed it) */
        uint32_t busy = q->st.queued_requests + q->st.inflight_requests > 0 ? 65536u : 0u;
        q->busy_ewma = q->busy_ewma - q->busy_ewma / 8 + busy / 8;
    }
    level *l = &q->levels[prio - 1];
    if (l->tail)
        l->tail->next_ = r;
    else
        l->head = r;
    l->tail = r;
    q->st.queued_requests++;
    q->st.queued_items += r->rows_;
    if (r->deadline_ns_ && r->deadline_ns_ < q->next_deadline) {
        q->next_deadline = r->deadline_ns_;
        pthread_cond_signal(&q->reap);
    }
    pthread_cond_signal(&q->work); /* one worker decides; it signals on if work is left */
    pthread_mutex_unlock(&q->mu);
    return 0;
}

void fg_sched_stats_get(fg_sched *q, fg_sched_stats *st, uint64_t *busy_ns, size_t n_busy) {
    pthread_mutex_lock(&q->mu);
    if (st) {
        *st = q->st;
        st->stopping = q->stopping;
    }
    for (size_t i = 0; busy_ns && i < n_busy; i++)
        busy_ns[i] = i < (size_t)q->n_inst ? q->inst[i].busy_ns : 0;
    pthread_mutex_unlock(&q->mu);
}

void fg_sched_stop(fg_sched *q, uint64_t deadline_ns) {
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    q->stop_deadline = deadline_ns;
    if (deadline_ns && deadline_ns < q->next_deadline)
        q->next_deadline = deadline_ns;
    if (!q->started) {
        /* nobody will run them: fail what is queued */
        q->stop_deadline = 1;
        fg_sched_req *dead = NULL;
        expire(q, fg_now_ns(), &dead);
        pthread_mutex_unlock(&q->mu);
        complete_expired(dead);
        pthread_mutex_lock(&q->mu);
    }
    pthread_cond_broadcast(&q->work);
    pthread_cond_signal(&q->reap);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->n_inst; i++)
        pthread_join(q->inst[i].thread, NULL);
    if (q->started) {
        pthread_mutex_lock(&q->mu);
        q->reaper_exit = 1;
        pthread_cond_signal(&q->reap);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->reaper, NULL);
    }
    FG_SCHED_ASSERT(q->st.queued_requests == 0 && q->st.inflight_requests == 0);
    for (int i = 0; i < q->n_inst; i++) {
        for (size_t k = 0; k < FG_SCHED_MAX_IO; k++)
            free(q->inst[i].buf[k]);
        free(q->inst[i].pieces);
        free(q->inst[i].waits);
    }
    free(q->inst);
    free(q->levels);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->reap);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
