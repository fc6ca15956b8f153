/* hist.h - log-linear (HDR-style) latency histogram in microseconds, 1 us .. 60 s, 3 significant digits.
 * Memory is fixed (one allocation of ~136 KiB per histogram); recording is lock-free (relaxed atomic
 * increments), so any number of threads may record into one histogram at once. Queries, merge and reset
 * read or write the counters one by one: run concurrently with recording they see a near-snapshot.
 *
 * Layout: values below 2048 us have one bucket each (exact); above, every power of two [2^k, 2^(k+1))
 * is split into 1024 equal sub-buckets, so a reported value is at most 1/1024 (< 0.1%) above the true
 * one. Values above FG_HIST_MAX_US are clamped to it.
 *
 * Usage:
 *   fg_hist *h = fg_hist_new();
 *   fg_hist_record_ns(h, fg_now_ns() - t0);        // from any thread
 *   uint64_t p99 = fg_hist_percentile(h, 99.0);     // microseconds
 *   fg_hist_free(h);
 */
#ifndef FG_CORE_HIST_H
#define FG_CORE_HIST_H

#include <stdint.h>

#define FG_HIST_MAX_US 60000000ull /* 60 s: the highest value tracked; larger ones are clamped */
#define FG_HIST_SUB_BITS 11        /* 2048 sub-buckets: 3 significant decimal digits */

typedef struct fg_hist fg_hist;

/* Percentiles and totals of one histogram, all in microseconds (count in values). */
typedef struct fg_hist_summary {
    uint64_t count, sum, min, max;
    uint64_t p50, p90, p95, p99, p999;
} fg_hist_summary;

/* Allocates an empty histogram (aborts on OOM: the size is fixed). Caller frees with fg_hist_free. */
fg_hist *fg_hist_new(void);
/* Frees h (NULL is fine). */
void fg_hist_free(fg_hist *h);

/* Records one value in microseconds (clamped to FG_HIST_MAX_US). Lock-free, thread-safe, no allocation. */
void fg_hist_record(fg_hist *h, uint64_t us);
/* Records one duration given in nanoseconds (rounded down to microseconds). Same guarantees. */
void fg_hist_record_ns(fg_hist *h, uint64_t ns);

/* Adds every value of src into dst (src unchanged). Thread-safe against concurrent recording in either. */
void fg_hist_merge(fg_hist *dst, const fg_hist *src);
/* Empties h. Values recorded concurrently with a reset may be kept or lost, one by one. */
void fg_hist_reset(fg_hist *h);

/* Number of values recorded. */
uint64_t fg_hist_count(const fg_hist *h);
/* Sum of the (clamped) values recorded, in microseconds. */
uint64_t fg_hist_sum(const fg_hist *h);
/* Largest value recorded (exact), 0 when empty. */
uint64_t fg_hist_max(const fg_hist *h);
/* Smallest value recorded (exact), 0 when empty. */
uint64_t fg_hist_min(const fg_hist *h);
/* Value at percentile p (0..100, clamped): the highest value equivalent to the bucket holding the value
 * of rank ceil(p/100 * count) (at least 1), capped at the exact max; so true <= result <= true * 1.001.
 * 0 when empty. */
uint64_t fg_hist_percentile(const fg_hist *h, double p);
/* Fills *s with count, sum, min, max and p50/p90/p95/p99/p99.9 in one pass over the buckets. */
void fg_hist_summarize(const fg_hist *h, fg_hist_summary *s);

/* Bucket helpers, exposed for tests and exporters: index of the bucket holding us (clamped), and the
 * lowest and highest values that bucket holds. */
uint32_t fg_hist_bucket_index(uint64_t us);
uint64_t fg_hist_bucket_lowest(uint32_t idx);
uint64_t fg_hist_bucket_highest(uint32_t idx);
/* Number of buckets (constant). */
uint32_t fg_hist_n_buckets(void);

#endif
