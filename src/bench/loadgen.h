/* loadgen.h - frugal bench's load engine: a fixed set of worker threads, each with its own epoll loop
 * and keep-alive HTTP/1.1 connections, sending pre-built requests (target.h) through a list of stages
 * (profile.h) in closed loop (N connections, each sends again as soon as its answer arrives) or open
 * loop (a schedule of intended send times; never waits on a busy connection: opens another up to the
 * cap, else counts the request as dropped).
 *
 * Latency is measured twice: from the intended send time (corrected for coordinated omission) and from
 * the actual send (service time). Per-thread, per-stage histograms are merged at the end; a per-second
 * timeline is kept in shared lock-free histograms that the calling thread summarises as soon as every
 * worker has moved past that second, so memory does not grow with the run's length.
 *
 * Usage
 *   fg_bench_run_opts o = {.target = &t, .stages = st, .n_stages = n, .threads = 2, ...};
 *   fg_bench_result r;
 *   if (fg_bench_run(&o, &r, &e) == 0) { ... r.stages[i] ...; fg_bench_result_free(&r); }
 */
#ifndef FG_BENCH_LOADGEN_H
#define FG_BENCH_LOADGEN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/profile.h"
#include "bench/target.h"
#include "core/err.h"
#include "core/hist.h"

#define FG_BENCH_LATE_NS 1000000ull /* a request sent more than 1 ms after its intended time is late */
#define FG_BENCH_MAX_THREADS 256

/* One whole second of a stage's timeline: requests dispatched, answers (ok / error, by completion
 * time) and latency percentiles (microseconds) of the answers completed in that second. */
typedef struct fg_bench_second {
    uint64_t sent, ok, errors;
    uint64_t p50_us, p99_us, service_p99_us;
    int has_latency; /* 0 when nothing completed that second (the percentiles are then unknown) */
} fg_bench_second;

/* Progress snapshot passed to the progress callback (totals since the start). */
typedef struct fg_bench_progress {
    size_t stage;
    double elapsed_s;
    uint64_t sent, ok, errors, dropped;
    unsigned connections;
} fg_bench_progress;

/* Everything measured in one stage. err_status counts answers by HTTP status when not 2xx. */
typedef struct fg_bench_stage_result {
    double start_s, duration_s; /* start relative to the run's start; measured wall time */
    uint64_t sent, completed, ok, dropped, late;
    uint64_t err_status[600];
    uint64_t err_connect, err_timeout, err_reset, err_other;
    fg_hist *lat, *svc; /* corrected latency and service time of every answer (any status) */
    uint64_t *blat, *bsvc; /* the same as counts per fg_hist bucket (fg_hist_n_buckets() entries) */
    fg_bench_second *timeline;
    size_t n_timeline;
    int stable; /* -1: not asked; else whether the last 3 seconds' throughput agreed within the tolerance */
    double cpu_user_s, cpu_sys_s; /* this process's CPU time during the stage */
    unsigned max_open;            /* most connections open at once (summed over threads) */
} fg_bench_stage_result;

/* The whole run. */
typedef struct fg_bench_result {
    fg_bench_stage_result *stages;
    size_t n_stages;
    double wall_s;
    double cpu_user_s, cpu_sys_s;
    unsigned ncpu;
    int interrupted; /* stopped early by *interrupt */
} fg_bench_result;

/* Called on the calling thread: at the start of stage i (i < n_stages) and once after the last stage
 * ended and every answer came back or timed out (i == n_stages). Used to scrape the server. */
typedef void (*fg_bench_boundary_cb)(void *user, size_t i);
/* Called on the calling thread about 4 times a second. */
typedef void (*fg_bench_progress_cb)(void *user, const fg_bench_progress *p);

typedef struct fg_bench_run_opts {
    const fg_bench_target *target;
    const fg_stage *stages; /* duration-based, or a single stage with requests > 0 */
    size_t n_stages;
    int poisson;            /* open loop: exponential gaps instead of constant ones */
    unsigned threads;       /* 1..FG_BENCH_MAX_THREADS */
    unsigned max_connections; /* open loop cap over all threads */
    double timeout_s;       /* per request; also how long the end waits for answers */
    double stability_pct;   /* > 0: judge each stage's last 3 seconds */
    uint64_t seed;
    fg_bench_boundary_cb boundary_cb;
    fg_bench_progress_cb progress_cb;
    void *user;
    volatile _Atomic int *interrupt; /* may be NULL; set to 1 (from a signal handler) to stop early */
} fg_bench_run_opts;

/* Runs every stage and fills *r (free with fg_bench_result_free). 0, or a negative FG_E* code with e
 * (bad options, no epoll or threads); failed requests are results, not errors. */
int fg_bench_run(const fg_bench_run_opts *o, fg_bench_result *r, fg_err *e);

/* Frees what fg_bench_run allocated in r. */
void fg_bench_result_free(fg_bench_result *r);

/* Number of errors of every kind in s. */
uint64_t fg_bench_stage_errors(const fg_bench_stage_result *s);

/* Whether the last 3 entries of tl (n of them) agree within +-pct % of their mean ok/s; 0 with fewer. */
int fg_bench_stable(const fg_bench_second *tl, size_t n, double pct);

/* Parses a complete HTTP/1.x response head in buf[0, len) (up to and including the blank line):
 * *status, *content_length (-1 absent), *chunked, *close (Connection: close or HTTP/1.0 without
 * keep-alive). Returns 0, or -1 when malformed. Exposed for tests. */
int fg_bench_parse_response_head(const char *buf, size_t len, int *status, int64_t *content_length, int *chunked,
                                 int *close);

#endif
