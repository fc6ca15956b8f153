/* threshold.h - frugal bench's pass/fail gates (--threshold 'p99<20ms'), parsed once and evaluated on
 * the whole run (all stages merged) or on one stage ('2:p99<20ms' is stage index 2). A failed gate
 * makes the command exit 1, so CI can use it.
 *
 * Grammar: [STAGE:]METRIC OP VALUE
 *   METRIC  p50 p90 p95 p99 p999 max (corrected latency; VALUE needs a unit: us, ms or s)
 *           errors (VALUE a count, or a percentage of sent requests with '%')
 *           dropped (a count, or with '%' a percentage of scheduled requests: sent + dropped)
 *           rps (ok responses per second)
 *   OP      < <= > >=                                                                               */
#ifndef FG_BENCH_THRESHOLD_H
#define FG_BENCH_THRESHOLD_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef enum {
    FG_THR_P50 = 0, FG_THR_P90, FG_THR_P95, FG_THR_P99, FG_THR_P999, FG_THR_MAX,
    FG_THR_ERRORS, FG_THR_DROPPED, FG_THR_RPS,
} fg_thr_metric;

typedef enum { FG_THR_LT = 0, FG_THR_LE, FG_THR_GT, FG_THR_GE } fg_thr_op;

/* One parsed gate. limit is in microseconds for latency, a percentage when percent is set, else a
 * count or requests per second. */
typedef struct fg_threshold {
    char expr[80]; /* as given */
    fg_thr_metric metric;
    fg_thr_op op;
    double limit;
    int percent;
    long stage; /* -1: the whole run */
} fg_threshold;

/* What a gate is checked against: one stage or the whole run. Latency in microseconds. */
typedef struct fg_thr_input {
    double p50, p90, p95, p99, p999, max;
    double sent, errors, dropped, throughput_rps;
} fg_thr_input;

/* Parses s into *t; 0, or FG_EINVAL with e naming the problem. */
int fg_bench_threshold_parse(const char *s, fg_threshold *t, fg_err *e);

/* The measured value a gate compares (same unit as t->limit); NaN when it cannot be measured (no
 * requests), which fails the gate. */
double fg_bench_threshold_value(const fg_threshold *t, const fg_thr_input *in);

/* Whether value satisfies t (NaN never does). */
int fg_bench_threshold_passes(const fg_threshold *t, double value);

#endif
