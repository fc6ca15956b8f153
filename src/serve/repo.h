/* repo.h - the model repository: which models and versions are loaded, each with its engine sessions,
 * its dynamic batcher and its metrics; loading, unloading and switching versions while serving.
 *
 * Overview
 *   A repository is either a directory in Triton's layout (REPO/<model>/config.pbtxt, optional, and
 *   REPO/<model>/<version>/model.onnx, versions being positive integers) or one .onnx file, served as
 *   model <file stem>, version 1, with a configuration derived from the model. For every model the
 *   version policy of its config (latest {num_versions}, all, specific) says which version directories
 *   are loaded. A loaded version (fg_repo_version) owns its fg_model, one engine session per instance,
 *   an fg_sched queue whose workers run those sessions, and its metric series.
 *
 * Version switch without failing requests
 *   Loading a version (model file, sessions, warmup) happens without any lock held. The version is then
 *   published under the repository's write lock, and the versions it replaces are unpublished in the
 *   same step. A request looks its version up and submits to that version's queue under the read lock,
 *   so a request is either admitted to a version that is published, or sees the next state; an
 *   unpublished version stops accepting only after that (fg_sched_stop drains every admitted request),
 *   and is freed once drained. A version that fails to load leaves the old one serving.
 *
 * Threads
 *   One control thread runs every load, unload, index and poll, in order, so a slow model load never
 *   runs on an event loop; its results come back through a callback (which may answer HTTP). Requests
 *   use fg_repo_rdlock / fg_repo_find / fg_repo_unlock from any thread.
 *
 * Usage
 *   fg_repo_opts o = {.path = "models/", .metrics = reg, .overrides = {...}};
 *   fg_repo *r;
 *   if (fg_repo_open(&o, &r, &e) < 0) ...               // loads every model (blocking), warm
 *   fg_repo_rdlock(r);
 *   fg_repo_version *v = fg_repo_find(r, name, name_len, 0, &why);   // 0 = latest ready version
 *   if (v) fg_sched_submit(v->sched, &req);
 *   fg_repo_unlock(r);
 *   fg_repo_control(r, FG_REPO_LOAD, "resnet", done_cb, ctx);        // from a handler
 *   fg_repo_close(r);                                    // drains every queue, frees everything
 */
#ifndef FG_SERVE_REPO_H
#define FG_SERVE_REPO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"
#include "frugal/engine.h"
#include "serve/cache.h"
#include "serve/kpi.h"
#include "serve/metrics.h"
#include "serve/sched.h"
#include "serve/v2.h"

#define FG_REPO_MAX_VERSIONS 16 /* versions of one model loaded at once */
#define FG_REPO_MAX_INSTANCES 64
#define FG_REPO_DEFAULT_DELAY_US 1000   /* batching delay when no config.pbtxt says otherwise */
#define FG_REPO_DEFAULT_MAX_QUEUE 1024  /* requests waiting per version when the config sets no bound */

/* Request outcomes counted in frugal_requests_total{outcome, status}. */
enum {
    FG_OUT_SUCCESS,     /* 200 */
    FG_OUT_BAD_REQUEST, /* 400: the request does not fit the model */
    FG_OUT_REJECTED,    /* 503: queue full */
    FG_OUT_TIMEOUT,     /* 503: the request's timeout passed in the queue */
    FG_OUT_UNAVAILABLE, /* 503: stopping or out of memory */
    FG_OUT_ERROR,       /* 500: the model failed */
    FG_OUT_N
};

/* Settings given on the command line; each overrides the config of every model when set (>= 0). */
typedef struct fg_repo_overrides {
    int instances, threads;
    int64_t max_batch;           /* 0 = no batching */
    int64_t max_queue_delay_us;
    int64_t max_queue;
    int64_t default_timeout_us;
    int64_t preferred[FG_SCHED_MAX_PREFERRED];
    int n_preferred;             /* > 0: preferred batch sizes given */
    int adaptive_delay;          /* 1 adaptive, 0 fixed (sched.h "Adaptive delay") */
} fg_repo_overrides;

/* Returns overrides with every field unset. */
fg_repo_overrides fg_repo_overrides_none(void);

typedef struct fg_repo_opts {
    const char *path;       /* repository directory or one .onnx file */
    fg_metrics *metrics;    /* registry for per-version series (required, outlives the repo) */
    fg_repo_overrides overrides;
    unsigned kpi_window_s;  /* rolling window of the KPI figures (0 = 60) */
    int no_warmup;          /* 1: skip warmup runs */
    fg_precision precision; /* compute precision of every session (FG_PREC_F32 when zeroed) */
    unsigned poll_s;        /* > 0: rescan the repository every poll_s seconds */
    double price_per_hour;  /* machine price, for the KPI cost figures */
    fg_cache *cache;        /* response cache (NULL: none); purged per model on unload and version switch */
    int cache_by_default;   /* cache models whose config does not set response_cache */
    int cache_redis;        /* a Redis level exists: its series are exported (else they would read 0/0) */
    /* A/B tests: the `variant` label value of a version's series ("" = none, left out of the exposition),
     * asked once per version load; NULL = no variants. The returned string must outlive the repo. */
    const char *(*variant_of)(void *ctx, const char *model, int64_t version);
    void *variant_ctx;
    /* NULL, or a flag that fg_repo_open reads between models: once nonzero it stops loading and fails
     * with FG_ESTOPPED (a SIGTERM during a long startup need not wait for every model) */
    const _Atomic int *cancel;
} fg_repo_opts;

typedef struct fg_repo fg_repo;
typedef struct fg_repo_model fg_repo_model;

/* One loaded model version. Fields are read-only for users, valid while the read lock is held (and,
 * for a request admitted to sched, until its completion returns). */
typedef struct fg_repo_version {
    fg_repo_model *owner;
    const char *model_name;
    int64_t version;
    char vstr[24];           /* version as text */
    const char *variant;     /* A/B variant label of every series of this version ("" = none) */
    fg_model *model;
    size_t n_in, n_out;
    fg_tensor_info in[FG_SCHED_MAX_IO], out[FG_SCHED_MAX_IO];         /* the model's, graph order */
    fg_tensor_info req_in[FG_SCHED_MAX_IO], req_out[FG_SCHED_MAX_IO]; /* what requests see (config dims) */
    /* config `reshape`: per-item shapes the model sees (inputs) or the request sees (outputs); rank -1 =
     * no reshape. Element counts match by config validation. */
    int in_reshape_rank[FG_SCHED_MAX_IO], out_reshape_rank[FG_SCHED_MAX_IO];
    int64_t in_reshape[FG_SCHED_MAX_IO][FG_MAX_RANK], out_reshape[FG_SCHED_MAX_IO][FG_MAX_RANK];
    int64_t max_batch;       /* items per batch; 0 = requests are not batched */
    int batch_dim;           /* 1: dim 0 of every input and output is the batch (items) */
    int allow_timeout_override;
    int n_instances;
    fg_session **sessions;
    fg_sched *sched;
    fg_v2_buf meta;          /* GET /v2/models/{m}/versions/{v} */
    fg_kpi *kpi;
    fg_metric *requests[FG_OUT_N];
    fg_metric *duration, *queue_duration, *compute_duration;
    fg_metric *batch_items, *batch_requests, *batches_total, *items_total, *capacity_total;
    fg_metric *queue_depth, *inflight;
    fg_metric *w_p50, *w_p95, *w_p99, *w_rps, *w_errors, *w_eff, *w_idle;
    fg_metric **busy;        /* per instance */
    /* response cache: on for this version, the model's tag, and the series of both levels */
    int cache_on;
    uint32_t cache_tag;
    /* what cache keys name this version by: its number and a digest of its model file and config, so a
     * version reloaded under the same number (changed file) never matches the old one's answers, in this
     * process or in a shared Redis */
    char cache_id[96];
    fg_metric *c_hits[2], *c_misses[2], *c_errors[2], *c_lookup[2]; /* [FG_CACHE_LOCAL], [FG_CACHE_REDIS] */
    fg_metric *c_inserts, *c_evictions, *c_rejects, *c_bytes, *c_entries;
    fg_metric *c_bypassed;   /* requests that skipped the cache (see fg_repo_cache_try) */
    uint32_t c_ratio_, c_tick_; /* moving hit ratio (1/65536) and a request counter; private */
    int holds_;              /* fg_repo_version_hold count; private */
} fg_repo_version;

enum { FG_CACHE_LOCAL = 0, FG_CACHE_REDIS = 1 };

/* Whether this request should look in the cache. A cache that hits almost nothing (unique inputs) only
 * costs hashing and lookups, so while the moving hit ratio of v is under 1 %, 7 of 8 requests skip it
 * (counted in frugal_cache_bypassed_total); the 8th keeps measuring and storing, so a change in the
 * traffic turns the cache back on. Any thread. */
int fg_repo_cache_try(fg_repo_version *v);
/* Records whether a request that looked in the cache was answered from it (1) or not (0). */
void fg_repo_cache_outcome(fg_repo_version *v, int hit);

/* Keeps v from being freed after it is unpublished until fg_repo_version_release (a request waiting on
 * Redis outside the read lock). Call with the read lock held. */
void fg_repo_version_hold(fg_repo_version *v);
/* Drops a hold; any thread. */
void fg_repo_version_release(fg_repo_version *v);

/* Why fg_repo_find returned NULL. */
enum { FG_REPO_NO_MODEL = 1, FG_REPO_NO_VERSION, FG_REPO_NOT_READY };

/* Opens the repository and loads every model its policies name, with warmup, before returning.
 * Fails (returning a negative code, with e naming the model and the reason) if any model fails, as a
 * server that starts without one of its models would be quietly wrong. *out is freed with
 * fg_repo_close. */
int fg_repo_open(const fg_repo_opts *o, fg_repo **out, fg_err *e);

/* Stops the control thread, drains every version's queue (requests still queued at deadline_ns,
 * CLOCK_MONOTONIC, 0 = none, fail with 503), frees everything. NULL is fine. */
void fg_repo_close(fg_repo *r, uint64_t deadline_ns);

/* Read lock around fg_repo_find and the use of what it returns. Never held across a blocking call. */
void fg_repo_rdlock(fg_repo *r);
void fg_repo_unlock(fg_repo *r);

/* Finds model name[0, len), version (0 = the highest loaded version). Caller holds the read lock.
 * Returns the version or NULL with *why = FG_REPO_NO_MODEL, FG_REPO_NO_VERSION or FG_REPO_NOT_READY
 * (the model is known but has no loaded version: unloaded, or its load failed). */
fg_repo_version *fg_repo_find(fg_repo *r, const char *name, size_t len, int64_t version, int *why);

/* The model-level metadata of model name[0, len) (latest version's tensors, every loaded version) as a
 * malloc'd copy in *out (caller frees with fg_v2_buf_free). Takes the read lock itself. Returns 0, or
 * FG_ENOTFOUND / FG_ESTOPPED (known, not ready) / FG_ENOMEM. */
int fg_repo_model_meta(fg_repo *r, const char *name, size_t len, fg_v2_buf *out);

/* Control operations, run on the control thread in order. */
typedef enum fg_repo_op { FG_REPO_LOAD, FG_REPO_UNLOAD, FG_REPO_INDEX, FG_REPO_PURGE } fg_repo_op;

/* Called on the control thread when an operation finished: status 0 with body (LOAD/UNLOAD: "{}";
 * INDEX: the repository index JSON; PURGE: {"purged": n}), or a negative FG_E* code with msg. body/msg are valid only during
 * the call. */
typedef void (*fg_repo_done_cb)(void *ctx, int status, const char *body, size_t len, const char *msg);

/* Queues an operation on model name (copied; ignored for INDEX). done_cb is called exactly once, from
 * the control thread, or from here with FG_ENOMEM / FG_ESTOPPED. LOAD (re)reads the model's directory
 * and config: new or changed versions are loaded and switched to, versions no longer named by the
 * policy are drained and unloaded. UNLOAD drains and unloads every version. PURGE drops the model's
 * entries from the local response cache. */
void fg_repo_control(fg_repo *r, fg_repo_op op, const char *name, size_t len, fg_repo_done_cb done_cb, void *ctx);

/* Number of models and loaded versions (for the startup line). */
void fg_repo_counts(fg_repo *r, size_t *n_models, size_t *n_versions);

/* Writes the KPI snapshot of every loaded version and of the whole server as JSON into *out (caller
 * frees with fg_v2_buf_free): {"window_s":..., "server":{...}, "models":[{"name","version",...}]}.
 * The cost figures use opts.price_per_hour. Returns 0 or FG_ENOMEM. */
int fg_repo_stats_json(fg_repo *r, fg_v2_buf *out);

/* Busy-time figures for cost attribution (A/B cost per 1k): the KPI window covered, the busy seconds of
 * model name's version `version` (0 = latest) and its requests in the window, and the busy seconds of
 * every loaded version. Takes the read lock itself. Returns 0, or FG_ENOTFOUND when the version is not
 * loaded (the figures are then 0 except *busy_all_s and *window_s). */
int fg_repo_busy(fg_repo *r, const char *name, int64_t version, double *window_s, double *busy_s,
                 uint64_t *requests, double *busy_all_s);

/* Prints the KPI table (one row per loaded version, then "all") to f. */
void fg_repo_print_kpis(fg_repo *r, FILE *f);

/* Sets t's shape to the batch dim (when batch_dim) followed by dims[0, rank), a -1 in dims taking what
 * is left of t's element count. Used for config `reshape`; the data is not touched. */
void fg_repo_reshape(fg_tensor *t, int batch_dim, const int64_t *dims, int rank);

/* Outcome for a completion or submit status (FG_SCHED_E*, FG_E*). */
int fg_repo_outcome(int status);

#endif
