/* results.h - frugal bench's outputs from a finished run: the results JSON document (the schema of
 * docs/bench.md, which --html and --compare read back), one CSV row per stage (perf_analyzer-like
 * columns), the text table per stage, and the evaluation of --threshold gates. Writers take a plain
 * description of the run (fg_bench_report) so tests can build one without a network. */
#ifndef FG_BENCH_RESULTS_H
#define FG_BENCH_RESULTS_H

#include <stdio.h>
#include <time.h>

#include "bench/loadgen.h"
#include "bench/profile.h"
#include "bench/threshold.h"

/* Server-side figures of one stage (from /metrics before and after it); NAN where not measured. */
typedef struct fg_bench_server {
    int present; /* 0: the target is not frugal, or a scrape failed */
    double requests, rps, batch_mean, batch_eff;
    size_t n_batch;
    double batch_le[64], batch_cum[64];
    double hit_ratio, queue_mean_s, compute_mean_s, cpu_share;
    int cpu_estimate;
    double price, cost_per_1k;
} fg_bench_server;

/* Everything the writers need; all borrowed. */
typedef struct fg_bench_report {
    const char *version;       /* frugal's version */
    const char *url, *model;   /* model NULL: plain target */
    const char *format;        /* "json", "binary" or NULL (plain) */
    const char *method;
    int frugal;                /* /metrics answered as frugal */
    const char *mode;          /* "closed" or "open" */
    const char *arrival;       /* "constant", "poisson" or NULL (closed loop) */
    unsigned threads, max_connections;
    const char *profile;       /* profile file or NULL */
    const char *inputs;        /* "random", "file", "zipf:S:N" or NULL (plain) */
    double timeout_s;
    time_t started_at;
    const fg_stage *stages;    /* res->n_stages of them */
    const fg_bench_result *res;
    const fg_bench_server *server; /* res->n_stages, or NULL */
    const fg_threshold *thr;
    size_t n_thr;
    double *thr_value; /* n_thr, filled by fg_bench_eval_thresholds */
    int *thr_passed;
} fg_bench_report;

/* Evaluates every gate against the whole run or its stage (a gate naming a stage that did not run
 * fails with value NaN); fills rep->thr_value/thr_passed. Returns 1 when all pass, else 0. */
int fg_bench_eval_thresholds(fg_bench_report *rep);

/* Writes the results document (docs/bench.md schema) to f; 0, or FG_EIO when writing fails. */
int fg_bench_write_json(FILE *f, const fg_bench_report *rep);

/* Writes a header and one row per stage to f; 0, or FG_EIO. */
int fg_bench_write_csv(FILE *f, const fg_bench_report *rep);

/* Writes the human table per stage (and the gates) to f. */
void fg_bench_write_text(FILE *f, const fg_bench_report *rep);

#endif
