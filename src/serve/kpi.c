/* kpi.c - rolling-window KPIs: a ring of per-second slots, see kpi.h. */
#include "serve/kpi.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/clock.h"

#define NS_PER_S 1000000000ull

/* Latency histogram: values in 256 ns units, 32 sub-buckets per power of two, 2^28 units max. */
#define LAT_UNIT_SHIFT 8
#define LAT_SUB_BITS 5
#define LAT_SUB (1u << LAT_SUB_BITS)
#define LAT_MAX_MSB 27 /* highest power of two: 2^27 units = 34 s, its octave ends at 68.7 s */
#define LAT_N_BUCKETS ((LAT_MAX_MSB - LAT_SUB_BITS + 2) * LAT_SUB) /* 768 */
#define LAT_CLAMP_NS (60ull * NS_PER_S)

typedef struct slot {
    _Alignas(64) _Atomic uint64_t stamp; /* absolute second + 1; 0 = never used */
    _Atomic uint64_t requests, errors;
    _Atomic uint64_t queue_ns, queue_requests, compute_ns;
    _Atomic uint64_t batches, batch_items, batch_capacity;
    _Atomic uint64_t busy_ns, cache_hits, cache_lookups;
    _Atomic uint32_t lat[LAT_N_BUCKETS];
} slot;

struct fg_kpi {
    pthread_mutex_t roll; /* serialises slot rollovers, and rollovers against snapshots */
    unsigned window_s;    /* == number of slots */
    uint64_t start_ns;
    slot slots[];
};

static uint32_t lat_index(uint64_t ns) {
    if (ns > LAT_CLAMP_NS) ns = LAT_CLAMP_NS;
    uint64_t v = ns >> LAT_UNIT_SHIFT;
    if (v < LAT_SUB) return (uint32_t)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - LAT_SUB_BITS;
    return (msb - LAT_SUB_BITS + 1) * LAT_SUB + (uint32_t)((v >> shift) - LAT_SUB);
}

/* Middle of bucket idx, in ns. */
static double lat_mid_ns(uint32_t idx) {
    uint64_t lo, width;
    if (idx < LAT_SUB) {
        lo = idx;
        width = 1;
    } else {
        unsigned msb = idx / LAT_SUB + LAT_SUB_BITS - 1;
        unsigned shift = msb - LAT_SUB_BITS;
        lo = (uint64_t)(LAT_SUB + idx % LAT_SUB) << shift;
        width = 1ull << shift;
    }
    return ((double)lo + (double)width / 2.0) * (double)(1u << LAT_UNIT_SHIFT);
}

fg_kpi *fg_kpi_new_at(unsigned window_s, uint64_t start_ns) {
    if (window_s == 0) window_s = FG_KPI_DEFAULT_WINDOW_S;
    if (window_s > FG_KPI_MAX_WINDOW_S) window_s = FG_KPI_MAX_WINDOW_S;
    size_t bytes = sizeof(fg_kpi) + (size_t)window_s * sizeof(slot);
    bytes = (bytes + 63) / 64 * 64;
    fg_kpi *k = fg_aligned_alloc(bytes);
    if (!k) {
        fprintf(stderr, "frugal: out of memory allocating %zu bytes\n", bytes);
        abort();
    }
    memset(k, 0, bytes); /* all-zero atomics are valid zero values */
    pthread_mutex_init(&k->roll, NULL);
    k->window_s = window_s;
    k->start_ns = start_ns;
    return k;
}

fg_kpi *fg_kpi_new(unsigned window_s) { return fg_kpi_new_at(window_s, fg_now_ns()); }

void fg_kpi_free(fg_kpi *k) {
    if (!k) return;
    pthread_mutex_destroy(&k->roll);
    free(k);
}

unsigned fg_kpi_window_s(const fg_kpi *k) { return k->window_s; }

size_t fg_kpi_mem_bytes(const fg_kpi *k) {
    return (sizeof(fg_kpi) + (size_t)k->window_s * sizeof(slot) + 63) / 64 * 64;
}

static void slot_zero(slot *s) {
    atomic_store_explicit(&s->requests, 0, memory_order_relaxed);
    atomic_store_explicit(&s->errors, 0, memory_order_relaxed);
    atomic_store_explicit(&s->queue_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&s->queue_requests, 0, memory_order_relaxed);
    atomic_store_explicit(&s->compute_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&s->batches, 0, memory_order_relaxed);
    atomic_store_explicit(&s->batch_items, 0, memory_order_relaxed);
    atomic_store_explicit(&s->batch_capacity, 0, memory_order_relaxed);
    atomic_store_explicit(&s->busy_ns, 0, memory_order_relaxed);
    atomic_store_explicit(&s->cache_hits, 0, memory_order_relaxed);
    atomic_store_explicit(&s->cache_lookups, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < LAT_N_BUCKETS; i++) atomic_store_explicit(&s->lat[i], 0, memory_order_relaxed);
}

/* The slot of now_ns's second, reset first if it still holds an older second; NULL when it already
 * holds a newer second (the record is at least W seconds old: outside every window). */
static slot *slot_for(fg_kpi *k, uint64_t now_ns) {
    uint64_t sec = now_ns / NS_PER_S, want = sec + 1;
    slot *s = &k->slots[sec % k->window_s];
    uint64_t st = atomic_load_explicit(&s->stamp, memory_order_acquire);
    if (__builtin_expect(st == want, 1)) return s;
    if (st > want) return NULL;
    pthread_mutex_lock(&k->roll);
    st = atomic_load_explicit(&s->stamp, memory_order_relaxed);
    if (st < want) {
        slot_zero(s);
        /* release: whoever sees the new stamp sees the zeroes, so its adds land after them */
        atomic_store_explicit(&s->stamp, want, memory_order_release);
    } else if (st > want) {
        s = NULL;
    }
    pthread_mutex_unlock(&k->roll);
    return s;
}

#define ADD(field, v) atomic_fetch_add_explicit(&s->field, (v), memory_order_relaxed)

void fg_kpi_request(fg_kpi *k, uint64_t now_ns, uint64_t latency_ns, int ok) {
    slot *s = slot_for(k, now_ns);
    if (!s) return;
    ADD(requests, 1);
    if (!ok) ADD(errors, 1);
    atomic_fetch_add_explicit(&s->lat[lat_index(latency_ns)], 1, memory_order_relaxed);
}

void fg_kpi_batch(fg_kpi *k, uint64_t now_ns, int64_t items, int64_t capacity_items, uint64_t compute_ns,
                  uint64_t queue_ns_sum, size_t n_requests) {
    slot *s = slot_for(k, now_ns);
    if (!s) return;
    if (items < 0) items = 0;
    if (capacity_items <= 0) capacity_items = items;
    ADD(batches, 1);
    ADD(batch_items, (uint64_t)items);
    ADD(batch_capacity, (uint64_t)capacity_items);
    ADD(compute_ns, compute_ns);
    ADD(queue_ns, queue_ns_sum);
    ADD(queue_requests, (uint64_t)n_requests);
}

void fg_kpi_busy(fg_kpi *k, uint64_t now_ns, uint64_t busy_ns) {
    slot *s = slot_for(k, now_ns);
    if (s) ADD(busy_ns, busy_ns);
}

void fg_kpi_cache(fg_kpi *k, uint64_t now_ns, uint64_t hits, uint64_t lookups) {
    slot *s = slot_for(k, now_ns);
    if (!s) return;
    ADD(cache_hits, hits);
    ADD(cache_lookups, lookups);
}

#undef ADD

/* Sums over the window, filled by accumulate(). */
typedef struct totals {
    uint64_t requests, errors, queue_ns, queue_requests, compute_ns, batches, batch_items, batch_capacity;
    uint64_t busy_ns, cache_hits, cache_lookups;
    uint64_t lat[LAT_N_BUCKETS];
} totals;

#define LOAD(field) atomic_load_explicit(&s->field, memory_order_relaxed)

/* Adds k's slots of seconds cur-W+1 .. cur into t; returns k's covered window in ns. */
static uint64_t accumulate(fg_kpi *k, uint64_t now_ns, totals *t) {
    uint64_t cur = now_ns / NS_PER_S, w = k->window_s;
    uint64_t lo_stamp = cur + 1 >= w ? cur + 2 - w : 1, hi_stamp = cur + 1; /* stamps are second + 1 */
    pthread_mutex_lock(&k->roll); /* no slot is reset while we read */
    for (uint64_t i = 0; i < w; i++) {
        const slot *s = &k->slots[i];
        uint64_t st = atomic_load_explicit(&s->stamp, memory_order_acquire);
        if (st < lo_stamp || st > hi_stamp) continue;
        t->requests += LOAD(requests);
        t->errors += LOAD(errors);
        t->queue_ns += LOAD(queue_ns);
        t->queue_requests += LOAD(queue_requests);
        t->compute_ns += LOAD(compute_ns);
        t->batches += LOAD(batches);
        t->batch_items += LOAD(batch_items);
        t->batch_capacity += LOAD(batch_capacity);
        t->busy_ns += LOAD(busy_ns);
        t->cache_hits += LOAD(cache_hits);
        t->cache_lookups += LOAD(cache_lookups);
        for (uint32_t b = 0; b < LAT_N_BUCKETS; b++) t->lat[b] += LOAD(lat[b]);
    }
    pthread_mutex_unlock(&k->roll);
    uint64_t span = (w - 1) * NS_PER_S + now_ns % NS_PER_S;
    uint64_t age = now_ns > k->start_ns ? now_ns - k->start_ns : 0;
    return span < age ? span : age;
}

#undef LOAD

/* Latency at percentile p (seconds) from the merged histogram; the requests counter and the histogram
 * are read separately, so the rank uses the histogram's own count. */
static double lat_percentile_s(const totals *t, uint64_t count, double p) {
    if (count == 0) return 0.0;
    double r = ceil(p / 100.0 * (double)count);
    uint64_t rank = r < 1.0 ? 1 : (uint64_t)r;
    if (rank > count) rank = count;
    uint64_t cum = 0;
    for (uint32_t b = 0; b < LAT_N_BUCKETS; b++) {
        cum += t->lat[b];
        if (cum >= rank) return lat_mid_ns(b) / 1e9;
    }
    return lat_mid_ns(LAT_N_BUCKETS - 1) / 1e9;
}

static double ratio(uint64_t num, uint64_t den) { return den ? (double)num / (double)den : 0.0; }

void fg_kpi_snapshot_many(fg_kpi *const *ks, size_t n, uint64_t now_ns, double price_per_hour,
                          int n_instances_total, fg_kpi_snap *s) {
    totals t;
    memset(&t, 0, sizeof t);
    uint64_t covered_ns = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t c = accumulate(ks[i], now_ns, &t);
        if (c > covered_ns) covered_ns = c;
    }
    if (covered_ns < NS_PER_S) covered_ns = NS_PER_S;
    if (!(price_per_hour > 0.0) || !isfinite(price_per_hour)) price_per_hour = 0.0;
    if (n_instances_total < 1) n_instances_total = 1;

    memset(s, 0, sizeof *s);
    double win = (double)covered_ns / 1e9;
    s->window_s = win;
    s->requests = t.requests;
    s->errors = t.errors;
    s->error_ratio = ratio(t.errors, t.requests);
    s->throughput_rps = (double)t.requests / win;
    uint64_t hcount = 0;
    for (uint32_t b = 0; b < LAT_N_BUCKETS; b++) hcount += t.lat[b];
    s->p50_s = lat_percentile_s(&t, hcount, 50.0);
    s->p95_s = lat_percentile_s(&t, hcount, 95.0);
    s->p99_s = lat_percentile_s(&t, hcount, 99.0);
    s->mean_queue_s = ratio(t.queue_ns, t.queue_requests) / 1e9;
    s->mean_compute_s = ratio(t.compute_ns, t.batches) / 1e9;
    s->batches = t.batches;
    s->batch_items = t.batch_items;
    s->batch_capacity_items = t.batch_capacity;
    s->batch_efficiency = ratio(t.batch_items, t.batch_capacity);
    if (s->batch_efficiency > 1.0) s->batch_efficiency = 1.0;
    s->mean_batch_items = ratio(t.batch_items, t.batches);
    s->busy_s = (double)t.busy_ns / 1e9;
    double busy = s->busy_s / (win * (double)n_instances_total);
    s->busy_share = busy > 1.0 ? 1.0 : busy;
    s->idle_share = 1.0 - s->busy_share;
    s->cost_usd = price_per_hour * win / 3600.0;
    s->cost_per_1k_usd = t.requests ? 1000.0 * s->cost_usd / (double)t.requests : 0.0;
    s->cache_hits = t.cache_hits;
    s->cache_lookups = t.cache_lookups;
    s->cache_hit_ratio = ratio(t.cache_hits, t.cache_lookups);
}

void fg_kpi_snapshot(const fg_kpi *k, uint64_t now_ns, double price_per_hour, int n_instances, fg_kpi_snap *s) {
    /* the kpi is never const-allocated; the snapshot only takes its rollover mutex */
    fg_kpi *m = (fg_kpi *)k;
    fg_kpi_snapshot_many(&m, 1, now_ns, price_per_hour, n_instances, s);
}

static double fin(double v) { return isfinite(v) ? v : 0.0; }

int fg_kpi_snap_json(const fg_kpi_snap *s, char *buf, size_t cap) {
    int n = snprintf(buf, cap,
                     "{\"window_s\":%.9g,\"requests\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"error_ratio\":%.9g,"
                     "\"throughput_rps\":%.9g,\"p50_s\":%.9g,\"p95_s\":%.9g,\"p99_s\":%.9g,"
                     "\"mean_queue_s\":%.9g,\"mean_compute_s\":%.9g,\"batches\":%" PRIu64
                     ",\"batch_items\":%" PRIu64 ",\"batch_capacity_items\":%" PRIu64
                     ",\"batch_efficiency\":%.9g,\"mean_batch_items\":%.9g,\"busy_s\":%.9g,"
                     "\"busy_share\":%.9g,\"idle_share\":%.9g,\"cost_usd\":%.9g,\"cost_per_1k_usd\":%.9g,"
                     "\"cache_hits\":%" PRIu64 ",\"cache_lookups\":%" PRIu64 ",\"cache_hit_ratio\":%.9g}",
                     fin(s->window_s), s->requests, s->errors, fin(s->error_ratio), fin(s->throughput_rps),
                     fin(s->p50_s), fin(s->p95_s), fin(s->p99_s), fin(s->mean_queue_s), fin(s->mean_compute_s),
                     s->batches, s->batch_items, s->batch_capacity_items, fin(s->batch_efficiency),
                     fin(s->mean_batch_items), fin(s->busy_s), fin(s->busy_share), fin(s->idle_share),
                     fin(s->cost_usd), fin(s->cost_per_1k_usd), s->cache_hits, s->cache_lookups,
                     fin(s->cache_hit_ratio));
    if (n < 0 || (size_t)n >= cap) {
        if (cap) buf[0] = '\0';
        return -1;
    }
    return n;
}

void fg_kpi_table(FILE *f, const char *const *names, const fg_kpi_snap *snaps, size_t n) {
    int w = 5; /* "model" */
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l > (size_t)w) w = l > 64 ? 64 : (int)l;
    }
    fprintf(f, "%-*s %10s %10s %9s %9s %9s %8s %11s %7s %14s\n", w, "model", "requests", "rps", "p50 ms",
            "p95 ms", "p99 ms", "errors %", "batch eff %", "idle %", "cost/1k USD");
    for (size_t i = 0; i < n; i++) {
        const fg_kpi_snap *s = &snaps[i];
        fprintf(f, "%-*.*s %10" PRIu64 " %10.2f %9.3f %9.3f %9.3f %8.2f %11.1f %7.1f %14.6g\n", w, w, names[i],
                s->requests, fin(s->throughput_rps), fin(s->p50_s) * 1e3, fin(s->p95_s) * 1e3,
                fin(s->p99_s) * 1e3, fin(s->error_ratio) * 100.0, fin(s->batch_efficiency) * 100.0,
                fin(s->idle_share) * 100.0, fin(s->cost_per_1k_usd));
    }
}
