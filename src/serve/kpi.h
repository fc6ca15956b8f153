/* kpi.h - rolling-window KPIs of a served model (latency percentiles, throughput, errors, cost, idle
 * share, batch efficiency, cache hit ratio) over the last W seconds, for people without PromQL.
 *
 * Overview
 *   An fg_kpi is a ring of W per-second slots. Each slot is stamped with the absolute second
 *   (now_ns / 1e9) it holds and carries: requests, errors, a compact log-linear latency histogram,
 *   the sums of queue ns (and the requests they cover), compute ns, batches, batch items, batch
 *   capacity items, busy ns, cache hits and lookups. Recording into a slot whose stamp is older than
 *   the second being recorded resets it first, so data older than the window disappears by itself
 *   (also after a gap longer than W: stale slots are never counted, see "Window"). Snapshots turn the
 *   slots of the window into figures (fg_kpi_snap) that feed Prometheus gauges at scrape time
 *   (fg_kpi_snap fields), the JSON stats endpoint (fg_kpi_snap_json) and the shutdown summary table
 *   (fg_kpi_table). fg_kpi_snapshot_many aggregates several kpis (all models of a server): counts and
 *   sums are added, histograms merged before the percentiles are taken.
 *
 * Time
 *   Every call takes now_ns, CLOCK_MONOTONIC nanoseconds (fg_now_ns() in production; tests drive
 *   synthetic time). Work is recorded in the second of the now_ns passed, e.g. a batch's compute and
 *   busy time in the second it completed.
 *
 * Window (precise definition)
 *   With cur = floor(now_ns / 1e9), a snapshot at now_ns covers the slots of seconds cur-W+1 .. cur:
 *   W-1 complete seconds plus the current, partial second (the freshest data), i.e. the interval
 *   [(cur-W+1) s, now_ns], whose length is (W-1) + frac(now) seconds, in [W-1, W). The kpi's age
 *   (now_ns - its start) caps it, so a fresh server is not divided by W; the result is at least 1 s
 *   (fg_kpi_snap.window_s). Rates and shares divide by window_s. Records stamped after now_ns's second
 *   (a recorder's clock a little ahead of the snapshot's) are not counted. A record whose now_ns is at
 *   least W seconds older than the second its slot already holds is dropped (it is outside any
 *   window). W is 1..FG_KPI_MAX_WINDOW_S; 0 means FG_KPI_DEFAULT_WINDOW_S.
 *
 * Latency histogram
 *   Values in units of 256 ns: below 32 units (8.2 us) one bucket per unit; above, each power of two
 *   is split into 32 equal sub-buckets, up to 2^28 units (68.7 s); values above 60 s are clamped to
 *   60 s. A percentile is the middle of the bucket holding the value of rank ceil(p/100 * count), so it
 *   is within 1/64 (1.6%) of the true sample value above 8.2 us and within 128 ns below. 768 uint32
 *   buckets (3 KiB) per slot.
 *
 * Memory
 *   One allocation of 3200 bytes per slot plus 64: 192,064 bytes (188 KiB) for the default W = 60
 *   (fg_kpi_mem_bytes tells exactly); a 512 KiB budget holds up to W = 163. Snapshots use ~6 KiB of
 *   stack. No allocation after fg_kpi_new.
 *
 * Thread-safety
 *   Recording (fg_kpi_request, _batch, _busy, _cache) is safe from any number of threads at once and
 *   never allocates: it is relaxed atomic adds into the slot of the current second, plus, once per
 *   second per slot, a short per-kpi mutex for the slot rollover. Snapshots may run concurrently with
 *   recording; they hold the kpi's rollover mutex while reading (so no slot is reset under them) and
 *   see each counter as it was at some moment during the snapshot. A recorder that checked its slot's
 *   stamp and was then preempted for W seconds or more may add into the newer second; nothing else is
 *   lost or double counted. fg_kpi_free must not race with any other call.
 *
 * Usage
 *   fg_kpi *k = fg_kpi_new(60);                                   // at model load
 *   fg_kpi_request(k, fg_now_ns(), latency_ns, status == 0);      // per completed request
 *   fg_kpi_batch(k, now, items, max_batch ? max_batch : items, compute_ns, queue_sum, n_req);
 *   fg_kpi_busy(k, now, compute_ns);                              // per batch, per instance
 *   fg_kpi_snap s;
 *   fg_kpi_snapshot(k, fg_now_ns(), price_per_hour, n_instances, &s);   // at scrape time
 *   char buf[FG_KPI_JSON_MAX];
 *   int n = fg_kpi_snap_json(&s, buf, sizeof buf);                // GET stats body
 *   fg_kpi_table(stderr, names, snaps, n_models);                 // shutdown summary
 *   fg_kpi_free(k);
 */
#ifndef FG_SERVE_KPI_H
#define FG_SERVE_KPI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define FG_KPI_DEFAULT_WINDOW_S 60u /* window when fg_kpi_new is given 0 */
#define FG_KPI_MAX_WINDOW_S 3600u   /* larger windows are clamped (11 MiB at this size) */
#define FG_KPI_JSON_MAX 1024        /* buffer size that always holds fg_kpi_snap_json's output */

typedef struct fg_kpi fg_kpi;

/* Figures over one window (see "Window"). Every field is finite: ratios and means over nothing are 0.
 * JSON keys (fg_kpi_snap_json) are the field names. */
typedef struct fg_kpi_snap {
    double window_s;            /* seconds covered: min(window, age), at least 1 */
    uint64_t requests, errors;  /* completed requests in the window; those with ok == 0 */
    double error_ratio;         /* errors / requests; 0 without requests */
    double throughput_rps;      /* requests / window_s */
    double p50_s, p95_s, p99_s; /* request latency percentiles in seconds; 0 without requests */
    double mean_queue_s;        /* queue_ns_sum / n_requests over fg_kpi_batch calls; 0 without any */
    double mean_compute_s;      /* compute_ns per batch; 0 without batches */
    uint64_t batches, batch_items, batch_capacity_items;
    double batch_efficiency;    /* batch_items / batch_capacity_items, in [0,1]; 0 without batches */
    double mean_batch_items;    /* batch_items / batches; 0 without batches */
    double busy_s;              /* busy time summed over instances */
    double busy_share;          /* busy_s / (window_s * n_instances), clamped to [0,1] */
    double idle_share;          /* 1 - busy_share */
    double cost_usd;            /* price_per_hour * window_s / 3600 */
    double cost_per_1k_usd;     /* 1000 * cost_usd / requests; 0 without requests (not NaN/Inf) */
    uint64_t cache_hits, cache_lookups;
    double cache_hit_ratio;     /* cache_hits / cache_lookups; 0 without lookups */
} fg_kpi_snap;

/* Creates a kpi with a window of window_s seconds (0 = default, clamped to FG_KPI_MAX_WINDOW_S) whose
 * age counts from now (fg_now_ns()). Aborts on OOM (fixed size). Caller frees with fg_kpi_free. */
fg_kpi *fg_kpi_new(unsigned window_s);
/* As fg_kpi_new, with the age counted from start_ns (CLOCK_MONOTONIC ns; tests drive synthetic time). */
fg_kpi *fg_kpi_new_at(unsigned window_s, uint64_t start_ns);
/* Frees k (NULL is fine); nothing may use k concurrently or afterwards. */
void fg_kpi_free(fg_kpi *k);
/* The window in seconds k was created with (after defaulting and clamping). */
unsigned fg_kpi_window_s(const fg_kpi *k);
/* Bytes k's state occupies (its one allocation). */
size_t fg_kpi_mem_bytes(const fg_kpi *k);

/* Records one completed request: its end-to-end latency and whether it succeeded (ok != 0). Any thread,
 * lock-free except at a slot rollover, no allocation. */
void fg_kpi_request(fg_kpi *k, uint64_t now_ns, uint64_t latency_ns, int ok);
/* Records one batch: items run, capacity_items (max_batch_size, or items when batching is off; <= 0
 * means items; negative items count as 0), its compute time, and the queue waits summed over the
 * n_requests requests (or chunks) it held. Same guarantees as fg_kpi_request. */
void fg_kpi_batch(fg_kpi *k, uint64_t now_ns, int64_t items, int64_t capacity_items, uint64_t compute_ns,
                  uint64_t queue_ns_sum, size_t n_requests);
/* Adds busy_ns of instance busy time (may be called per batch). Same guarantees as fg_kpi_request. */
void fg_kpi_busy(fg_kpi *k, uint64_t now_ns, uint64_t busy_ns);
/* Adds hits out of lookups cache lookups. Same guarantees as fg_kpi_request. */
void fg_kpi_cache(fg_kpi *k, uint64_t now_ns, uint64_t hits, uint64_t lookups);

/* Fills *s with k's figures over the window ending at now_ns. price_per_hour (USD, negative or
 * non-finite = 0) is the price of the n_instances instances (< 1 counts as 1) the figures cover.
 * Thread-safe against recording; no allocation; s is the caller's. Same as fg_kpi_snapshot_many(&k, 1). */
void fg_kpi_snapshot(const fg_kpi *k, uint64_t now_ns, double price_per_hour, int n_instances, fg_kpi_snap *s);
/* Fills *s with the aggregate of ks[0, n) (e.g. every model of a server): counts and sums added,
 * latency histograms merged before percentiles; window_s is the largest of the kpis' covered windows
 * (give them the same W), busy_share divides by n_instances_total. n == 0 gives zeros over 1 s. The
 * array and the kpis stay the caller's. Thread-safe against recording; no allocation. */
void fg_kpi_snapshot_many(fg_kpi *const *ks, size_t n, uint64_t now_ns, double price_per_hour,
                          int n_instances_total, fg_kpi_snap *s);

/* Writes s as one JSON object (no newline) with the keys of fg_kpi_snap in declaration order:
 * window_s, requests, errors, error_ratio, throughput_rps, p50_s, p95_s, p99_s, mean_queue_s,
 * mean_compute_s, batches, batch_items, batch_capacity_items, batch_efficiency, mean_batch_items,
 * busy_s, busy_share, idle_share, cost_usd, cost_per_1k_usd, cache_hits, cache_lookups,
 * cache_hit_ratio. Integers as integers, others with %.9g; a non-finite value is written as 0.
 * Returns the length written (NUL-terminated in buf), or -1 when cap is too small (FG_KPI_JSON_MAX
 * always suffices); buf is the caller's. */
int fg_kpi_snap_json(const fg_kpi_snap *s, char *buf, size_t cap);

/* Prints an aligned text table to f: a header, then one row per names[i] / snaps[i] (i < n) with
 * requests, rps, p50/p95/p99 in ms, errors %, batch efficiency %, idle %, cost per 1k requests in USD.
 * Nothing is kept; the arrays are the caller's. */
void fg_kpi_table(FILE *f, const char *const *names, const fg_kpi_snap *snaps, size_t n);

#endif
