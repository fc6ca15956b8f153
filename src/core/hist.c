/* hist.c - log-linear latency histogram (see hist.h for the bucket layout).
 * Constraints: fixed memory, lock-free recording with relaxed atomics (counts only need to be exact once
 * the recording threads are joined), no allocation after fg_hist_new. */
#include "core/hist.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/alloc.h"

#define SUB_COUNT (1u << FG_HIST_SUB_BITS)     /* 2048 */
#define HALF_COUNT (SUB_COUNT >> 1)            /* 1024 */
/* highest power-of-two bucket: FG_HIST_MAX_US < 2^26, so k = floor(log2(v)) - 10 <= 15 */
#define MAX_SHIFT 15u
#define N_BUCKETS (SUB_COUNT + MAX_SHIFT * HALF_COUNT)

_Static_assert(FG_HIST_MAX_US < (1ull << (FG_HIST_SUB_BITS + MAX_SHIFT)), "MAX_SHIFT too small");

struct fg_hist {
    _Atomic uint64_t count;
    _Atomic uint64_t sum;
    _Atomic uint64_t min; /* UINT64_MAX when empty */
    _Atomic uint64_t max;
    _Atomic uint64_t counts[N_BUCKETS];
};

uint32_t fg_hist_n_buckets(void) { return N_BUCKETS; }

uint32_t fg_hist_bucket_index(uint64_t us) {
    if (us > FG_HIST_MAX_US) us = FG_HIST_MAX_US;
    if (us < SUB_COUNT) return (uint32_t)us;
    unsigned k = (unsigned)(63 - __builtin_clzll(us)) - (FG_HIST_SUB_BITS - 1); /* us >> k in [1024, 2048) */
    uint32_t idx = SUB_COUNT + (k - 1) * HALF_COUNT + (uint32_t)((us >> k) - HALF_COUNT);
    assert(idx < N_BUCKETS);
    return idx;
}

uint64_t fg_hist_bucket_lowest(uint32_t idx) {
    if (idx < SUB_COUNT) return idx;
    uint32_t k = (idx - SUB_COUNT) / HALF_COUNT + 1;
    uint64_t sub = (idx - SUB_COUNT) % HALF_COUNT + HALF_COUNT;
    return sub << k;
}

uint64_t fg_hist_bucket_highest(uint32_t idx) {
    if (idx < SUB_COUNT) return idx;
    uint32_t k = (idx - SUB_COUNT) / HALF_COUNT + 1;
    return fg_hist_bucket_lowest(idx) + (1ull << k) - 1;
}

fg_hist *fg_hist_new(void) {
    fg_hist *h = fg_xcalloc(1, sizeof *h);
    atomic_store_explicit(&h->min, UINT64_MAX, memory_order_relaxed);
    return h;
}

void fg_hist_free(fg_hist *h) { free(h); }

void fg_hist_record(fg_hist *h, uint64_t us) {
    if (us > FG_HIST_MAX_US) us = FG_HIST_MAX_US;
    atomic_fetch_add_explicit(&h->counts[fg_hist_bucket_index(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, us, memory_order_relaxed);
    uint64_t cur = atomic_load_explicit(&h->max, memory_order_relaxed);
    while (us > cur && !atomic_compare_exchange_weak_explicit(&h->max, &cur, us, memory_order_relaxed,
                                                              memory_order_relaxed)) {
    }
    cur = atomic_load_explicit(&h->min, memory_order_relaxed);
    while (us < cur && !atomic_compare_exchange_weak_explicit(&h->min, &cur, us, memory_order_relaxed,
                                                              memory_order_relaxed)) {
    }
}

void fg_hist_record_ns(fg_hist *h, uint64_t ns) { fg_hist_record(h, ns / 1000); }

void fg_hist_merge(fg_hist *dst, const fg_hist *src) {
    fg_hist *s = (fg_hist *)src; /* atomic loads need a non-const object in C17 */
    for (uint32_t i = 0; i < N_BUCKETS; i++) {
        uint64_t c = atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        if (c) atomic_fetch_add_explicit(&dst->counts[i], c, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&dst->count, atomic_load_explicit(&s->count, memory_order_relaxed),
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&dst->sum, atomic_load_explicit(&s->sum, memory_order_relaxed),
                              memory_order_relaxed);
    uint64_t v = atomic_load_explicit(&s->max, memory_order_relaxed);
    uint64_t cur = atomic_load_explicit(&dst->max, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak_explicit(&dst->max, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
    v = atomic_load_explicit(&s->min, memory_order_relaxed);
    cur = atomic_load_explicit(&dst->min, memory_order_relaxed);
    while (v < cur && !atomic_compare_exchange_weak_explicit(&dst->min, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

void fg_hist_reset(fg_hist *h) {
    for (uint32_t i = 0; i < N_BUCKETS; i++) atomic_store_explicit(&h->counts[i], 0, memory_order_relaxed);
    atomic_store_explicit(&h->count, 0, memory_order_relaxed);
    atomic_store_explicit(&h->sum, 0, memory_order_relaxed);
    atomic_store_explicit(&h->max, 0, memory_order_relaxed);
    atomic_store_explicit(&h->min, UINT64_MAX, memory_order_relaxed);
}

uint64_t fg_hist_count(const fg_hist *h) {
    return atomic_load_explicit(&((fg_hist *)h)->count, memory_order_relaxed);
}

uint64_t fg_hist_sum(const fg_hist *h) {
    return atomic_load_explicit(&((fg_hist *)h)->sum, memory_order_relaxed);
}

uint64_t fg_hist_max(const fg_hist *h) {
    return atomic_load_explicit(&((fg_hist *)h)->max, memory_order_relaxed);
}

uint64_t fg_hist_min(const fg_hist *h) {
    uint64_t v = atomic_load_explicit(&((fg_hist *)h)->min, memory_order_relaxed);
    return v == UINT64_MAX ? 0 : v;
}

/* rank (1-based) of percentile p among n values */
static uint64_t rank_of(double p, uint64_t n) {
    if (!(p > 0)) p = 0; /* NaN too */
    if (p > 100) p = 100;
    double r = p / 100.0 * (double)n;
    uint64_t k = (uint64_t)r;
    if ((double)k < r) k++;
    if (k < 1) k = 1;
    if (k > n) k = n;
    return k;
}

/* Walks the buckets once, answering n_p percentiles given in ascending order. Returns the total seen. */
static uint64_t percentiles(const fg_hist *h, const double *ps, uint64_t *out, int n_p) {
    fg_hist *m = (fg_hist *)h;
    uint64_t total = 0;
    for (uint32_t i = 0; i < N_BUCKETS; i++) total += atomic_load_explicit(&m->counts[i], memory_order_relaxed);
    for (int j = 0; j < n_p; j++) out[j] = 0;
    if (total == 0) return 0;
    uint64_t mx = fg_hist_max(h), acc = 0;
    int j = 0;
    uint64_t want = rank_of(ps[0], total);
    for (uint32_t i = 0; i < N_BUCKETS && j < n_p; i++) {
        acc += atomic_load_explicit(&m->counts[i], memory_order_relaxed);
        while (j < n_p && acc >= want) {
            uint64_t v = fg_hist_bucket_highest(i);
            out[j++] = v > mx && mx ? mx : v;
            if (j < n_p) want = rank_of(ps[j], total);
        }
    }
    return total;
}

uint64_t fg_hist_percentile(const fg_hist *h, double p) {
    uint64_t v;
    percentiles(h, &p, &v, 1);
    return v;
}

void fg_hist_summarize(const fg_hist *h, fg_hist_summary *s) {
    static const double ps[5] = {50, 90, 95, 99, 99.9};
    uint64_t v[5];
    s->count = percentiles(h, ps, v, 5);
    s->sum = fg_hist_sum(h);
    s->min = fg_hist_min(h);
    s->max = fg_hist_max(h);
    s->p50 = v[0], s->p90 = v[1], s->p95 = v[2], s->p99 = v[3], s->p999 = v[4];
}
