/* metrics.h - frugal's metric registry and its Prometheus text exposition (format 0.0.4).
 * Families (counter, gauge, histogram with fixed buckets) and their labelled series are created at
 * registration time, under the registry's lock; recording into an existing series takes its handle and
 * does only relaxed atomic operations (no lock, no allocation), from any thread. Scrapes render every
 * family in registration order, series in creation order, after running the registered collectors
 * (which refresh scrape-time values such as the process metrics and the cost counter).
 *
 * Usage:
 *   fg_metrics *r = fg_metrics_new();
 *   const char *lab[] = {"model", "version"};
 *   fg_metric_family *req = fg_metrics_counter(r, "frugal_requests_total", "Requests.", lab, 2, &e);
 *   fg_metric_family *lat = fg_metrics_histogram(r, "frugal_request_duration_seconds", "Latency.", lab, 2,
 *                                                FG_METRICS_LATENCY_BUCKETS, FG_METRICS_N_LATENCY_BUCKETS, &e);
 *   const char *val[] = {"resnet", "1"};
 *   fg_metric *m = fg_metrics_series(req, val, &e);     // at model load: allocates once
 *   fg_metric_inc(m);                                    // per request: atomic, lock-free
 *   fg_metrics_process_register(r, price_per_hour, &e); // process CPU, RSS, uptime, cost
 *   fg_metrics_buf b = {0};
 *   fg_metrics_write(r, &b);                             // GET /metrics body: b.data[0, b.len)
 *   fg_metrics_buf_free(&b);
 */
#ifndef FG_SERVE_METRICS_H
#define FG_SERVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Content-Type of the exposition written by fg_metrics_write. */
#define FG_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Most labels one family may have (model, version, outcome, status, ...). */
#define FG_METRICS_MAX_LABELS 8

typedef enum fg_metric_type {
    FG_METRIC_COUNTER = 0, /* monotonic; name must end in _total */
    FG_METRIC_GAUGE = 1,
    FG_METRIC_HISTOGRAM = 2,
} fg_metric_type;

typedef struct fg_metrics fg_metrics;             /* the registry */
typedef struct fg_metric_family fg_metric_family; /* one metric name, its help, type, label names */
typedef struct fg_metric fg_metric;               /* one series: a family plus label values */

/* Growable output buffer: zero-initialise it; fg_metrics_write appends to data[0, len) (NUL-terminated
 * after len). The caller owns data and frees it with fg_metrics_buf_free. */
typedef struct fg_metrics_buf {
    char *data;
    size_t len, cap;
} fg_metrics_buf;

/* Standard bucket bounds: request/queue/compute latency in seconds (100 us .. 60 s) and batch size in
 * items (1 .. 256). Static; pass them to fg_metrics_histogram. */
extern const double FG_METRICS_LATENCY_BUCKETS[];
extern const size_t FG_METRICS_N_LATENCY_BUCKETS;
extern const double FG_METRICS_BATCH_BUCKETS[];
extern const size_t FG_METRICS_N_BATCH_BUCKETS;

/* Creates an empty registry (aborts on OOM: fixed size). Free with fg_metrics_free. */
fg_metrics *fg_metrics_new(void);
/* Frees r with every family and series in it (handles become invalid); NULL is fine. */
void fg_metrics_free(fg_metrics *r);

/* Registers a counter family. name must be a valid Prometheus name ending in "_total"; label names must
 * be valid, distinct, not start with "__"; help is any text. Strings are copied. Returns the family,
 * owned by r, or NULL with FG_EINVAL in e (bad name, duplicate name, too many labels). With no labels the
 * family's single series exists at once (fetch it with fg_metrics_series(f, NULL, e)). */
fg_metric_family *fg_metrics_counter(fg_metrics *r, const char *name, const char *help,
                                     const char *const *label_names, size_t n_labels, fg_err *e);
/* Registers a gauge family; same rules as fg_metrics_counter except for the _total suffix (which a gauge
 * must not have). */
fg_metric_family *fg_metrics_gauge(fg_metrics *r, const char *name, const char *help,
                                   const char *const *label_names, size_t n_labels, fg_err *e);
/* Registers a histogram family with fixed upper bounds bounds[0, n_bounds) (finite, strictly increasing,
 * at least one; +Inf is implicit and copied along with them). No label may be named "le". Otherwise as
 * fg_metrics_counter. */
fg_metric_family *fg_metrics_histogram(fg_metrics *r, const char *name, const char *help,
                                       const char *const *label_names, size_t n_labels, const double *bounds,
                                       size_t n_bounds, fg_err *e);
/* Looks up r's family by name; NULL if none. The family is owned by r. */
fg_metric_family *fg_metrics_find(fg_metrics *r, const char *name);

/* Returns the series of f with the given label values (one per label name, any UTF-8, copied), creating
 * it (value 0) on first use. Takes the registry lock and may allocate: call it at registration time
 * (model load), keep the handle, and record through it. Returns NULL with FG_EINVAL if a value is NULL
 * or label_values is NULL while f has labels. The series is owned by f's registry. */
fg_metric *fg_metrics_series(fg_metric_family *f, const char *const *label_values, fg_err *e);

/* Hot path: lock-free, allocation-free, safe from any thread. */
/* Adds 1 to a counter or gauge. */
void fg_metric_inc(fg_metric *m);
/* Adds v to a counter (v >= 0, asserted) or gauge (any sign). */
void fg_metric_add(fg_metric *m, double v);
/* Sets a gauge to v (also allowed on counters by collectors that compute a monotonic total at scrape
 * time, such as CPU seconds and cost). */
void fg_metric_set(fg_metric *m, double v);
/* Records one observation in a histogram: counts it in the first bucket with v <= bound, adds to sum. */
void fg_metric_observe(fg_metric *m, double v);
/* Current value of a counter or gauge; of a histogram, its count. */
double fg_metric_value(const fg_metric *m);
/* Histogram only: sum of observations, and the (non-cumulative) count in bucket i (i == n_bounds is
 * the +Inf bucket). */
double fg_metric_hist_sum(const fg_metric *m);
uint64_t fg_metric_hist_bucket(const fg_metric *m, size_t i);

/* Registers collect_cb(ctx), called at the start of every fg_metrics_write under the registry lock,
 * in registration order, to refresh scrape-time values with fg_metric_set (it must not register
 * families or series). ctx stays owned by the caller. Returns 0 (aborts on OOM). */
int fg_metrics_add_collector(fg_metrics *r, void (*collect_cb)(void *ctx), void *ctx);

/* Appends the Prometheus text exposition (format 0.0.4) of every family in r to b: # HELP and # TYPE
 * lines, one line per series, histograms as cumulative _bucket{le=...} lines ending with +Inf, then
 * _sum and _count (_count equals the +Inf bucket). A label whose value is "" is left out (Prometheus reads an
 * empty label as no label; optional labels such as the A/B `variant` thus change nothing where unused).
 * Label values are escaped (\\, \", \n), as is help
 * (\\, \n). Returns 0, or FG_ENOMEM when growing b fails (b keeps what was written; the caller still
 * frees it). Safe to call concurrently with recording and with itself. */
int fg_metrics_write(fg_metrics *r, fg_metrics_buf *b);
/* Frees b's data and zeroes it. */
void fg_metrics_buf_free(fg_metrics_buf *b);

/* Process metrics and the cost counter. Registers, in r, label-less families refreshed at every scrape:
 *   frugal_process_cpu_seconds_total       user + system CPU time (getrusage)
 *   frugal_process_resident_memory_bytes   resident set size (/proc/self/statm x page size; 0 if absent)
 *   frugal_process_start_time_seconds      process start, Unix seconds (/proc/self/stat starttime)
 *   frugal_uptime_seconds                  seconds since the process started
 *   frugal_price_per_hour_usd              the configured --price-per-hour
 *   frugal_cost_usd_total                  price_per_hour_usd * uptime_seconds / 3600, computed at scrape
 *                                          time from the same uptime sample as frugal_uptime_seconds, so
 *                                          PromQL cost per 1k requests = 1000 * increase(cost) / increase(requests)
 * price_per_hour must be finite and >= 0. Returns 0 or FG_EINVAL (bad price, names already registered).
 * State lives in r and is freed with it. Call once per registry. */
int fg_metrics_process_register(fg_metrics *r, double price_per_hour, fg_err *e);

#endif
