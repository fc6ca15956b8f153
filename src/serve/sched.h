/* sched.h - dynamic batcher and queue policy for one model version, independent of HTTP.
 *
 * Overview
 *   An fg_sched is the queue of one model version plus its instance workers. Callers submit requests
 *   (n_items rows, batch-major input tensors, a priority, a timeout, a completion callback); each worker
 *   thread (one per model instance) takes a batch, concatenates the requests' inputs along dim 0 into a
 *   buffer it owns, calls the caller's run_cb with its instance index (the caller runs the engine
 *   session that this instance owns), splits the outputs back by item ranges and completes each request.
 *
 * Batching rules
 *   - A batch counts items (rows), never requests. max_batch_size == 0 disables batching: each request
 *     is one batch, its tensors are passed to run_cb as they are (no copy, no batch dimension needed).
 *   - A batch closes at once when it reaches max_batch_size, when the items queued reach a preferred
 *     size (the largest preferred size that fits is used), when the next queued request cannot join it
 *     (different per-item shape or dtype, or it does not fit), or when the OLDEST queued request has
 *     waited max_queue_delay_us. Otherwise workers sleep until that oldest request's deadline.
 *   - Adaptive delay (adaptive_delay = 1): the queue keeps moving averages of the gaps between
 *     arrivals and of the share of arrivals that found other requests queued or running. A batch that
 *     is not full also closes when most arrivals find the queue empty (no concurrency: a lone client
 *     will not send more while it waits), when the next arrival is not expected before the oldest
 *     request's deadline (average gap > time left), or when the queue has been quiet for four average
 *     gaps: at low load a request runs at once instead of waiting out the delay for company that will
 *     not come; under load batches fill as before. Off, the delay is waited in full (Triton).
 *   - Requests of at most max_batch_size items are never split. A request larger than max_batch_size
 *     is split into chunks that fill batches (possibly run by several instances at once); its outputs
 *     are reassembled in item order and its completion is called once.
 *   - Priority: level 1 is served first, FIFO within a level. A batch is filled in that order and stops
 *     at the first request that cannot join, so a lower level never overtakes a higher one.
 *   - max_queue_size counts REQUESTS waiting (as Triton does), not items; a full queue fails submit at
 *     once with FG_SCHED_EFULL. A request still queued when its timeout passes completes with
 *     FG_SCHED_ETIMEDOUT without running (a dedicated reaper thread fires it at the deadline, even while
 *     every instance is busy). A request partly dispatched (split) is no longer expired.
 *
 * Usage
 *   fg_sched_config c = {.max_batch_size = 8, .max_queue_delay_us = 2000, .n_inputs = 1,
 *                        .n_outputs = 1};
 *   fg_sched *q = fg_sched_new(&c, &e);
 *   fg_sched_start(q, 2, run_cb, sessions, &e);      // run_cb(sessions, i, ...) uses sessions[i]
 *   fg_sched_req r = {.n_items = 3, .inputs = &x, .n_inputs = 1, .done_cb = done, .user = ctx};
 *   if (fg_sched_submit(q, &r) < 0) ...              // 503
 *   ...
 *   fg_sched_stop(q, 0);                              // drains every admitted request, frees q
 */
#ifndef FG_SERVE_SCHED_H
#define FG_SERVE_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "frugal/engine.h"

/* Scheduler statuses; fg_sched_strerror names them (and every other FG_E* code).
 * All three mean "503" to an HTTP caller; they are core/err.h's codes under the scheduler's names. */
#define FG_SCHED_EFULL FG_EFULL         /* the queue holds max_queue_size requests */
#define FG_SCHED_ETIMEDOUT FG_ETIMEDOUT /* the request's timeout passed while it was queued */
#define FG_SCHED_ESTOPPED FG_ESTOPPED   /* the scheduler is stopping (or its stop deadline passed) */

#define FG_SCHED_MAX_IO 16       /* inputs or outputs per request */
#define FG_SCHED_MAX_PREFERRED 8 /* preferred batch sizes */

typedef struct fg_sched fg_sched;

/* Statistics for one batch, passed to fg_sched_config.batch_cb after the batch completed. The arrays
 * are valid only during the call. */
typedef struct fg_sched_batch_info {
    int instance;
    int64_t n_items;
    size_t n_requests;              /* requests (or chunks of split requests) in the batch */
    const uint64_t *queue_wait_ns;  /* per request: enqueue until the batch was taken */
    uint64_t compute_ns;            /* run_cb wall time */
    int status;                     /* run_cb's result */
} fg_sched_batch_info;

typedef struct fg_sched_config {
    int64_t max_batch_size;  /* items per batch; 0 = no batching (one request per batch) */
    int64_t preferred_batch_sizes[FG_SCHED_MAX_PREFERRED]; /* each in 1..max_batch_size */
    int n_preferred;
    uint64_t max_queue_delay_us;  /* longest the oldest request waits for a batch to fill */
    int adaptive_delay;           /* 1: close a batch early when no request is expected before the delay
                                   * ends (see "Adaptive delay" above) */
    size_t max_queue_size;        /* requests waiting (not items); 0 = unbounded */
    uint64_t default_timeout_us;  /* per request queue timeout; 0 = none */
    int allow_timeout_override;   /* 1: a request's timeout_us replaces the default */
    int priority_levels;          /* 0 or 1 = one level */
    int default_priority;         /* level for requests with priority 0; 0 = the lowest level */
    size_t n_inputs, n_outputs;   /* per request / per batch, each 1..FG_SCHED_MAX_IO */
    /* Optional: called from the worker after each batch (metrics). */
    void (*batch_cb)(void *user, const fg_sched_batch_info *info);
    void *batch_user;
} fg_sched_config;

/* Completion: called exactly once per admitted request, from a worker or the reaper thread (or from
 * fg_sched_stop). status is 0 with n_out outputs (dim 0 = the request's n_items; data valid only
 * during the call: copy what you keep), or a negative code with msg (NULL outputs). After this call
 * the scheduler never touches the request again, so the callback may free it. */
typedef void (*fg_sched_done_cb)(void *user, int status, const fg_tensor *out, size_t n_out,
                                 const char *msg);

/* Runs one batch on instance `instance`: in[i] has dims[0] == n_items (without batching, n_items is 1
 * and in[] are the request's own tensors, passed as they are); fills out[0..n_out) with
 * tensors whose dims[0] == n_items and whose data stays valid until the next run_cb call on the same
 * instance (engine session memory is fine). Returns 0 or a negative FG_E* code with e filled. Calls
 * for one instance are never concurrent; calls for different instances are. */
typedef int (*fg_sched_run_cb)(void *user, int instance, const fg_tensor *in, size_t n_in,
                               int64_t n_items, fg_tensor *out, size_t n_out, fg_err *e);

/* A request. The caller fills the public fields, owns the struct and the input data, and keeps both
 * alive and unchanged until done_cb has been called. */
typedef struct fg_sched_req {
    int64_t n_items;          /* rows: inputs[i].dims[0] (ignored when max_batch_size == 0) */
    const fg_tensor *inputs;  /* n_inputs tensors, batch-major */
    size_t n_inputs;
    int priority;             /* 1 = highest; 0 = the queue's default_priority */
    uint64_t timeout_us;      /* 0 = the queue default; honoured only with allow_timeout_override */
    fg_sched_done_cb done_cb;
    void *user;
    /* private to the scheduler */
    struct fg_sched_req *next_;
    uint64_t enqueue_ns_, deadline_ns_;
    int64_t rows_;            /* n_items, or 1 without batching */
    int64_t taken_, done_;    /* items dispatched / completed */
    int status_;
    char *asm_;               /* reassembly block for split requests */
    char msg_[128];
} fg_sched_req;

/* Point-in-time counters. busy_ns is per instance (filled up to n_busy entries). */
typedef struct fg_sched_stats {
    size_t queued_requests;
    int64_t queued_items;       /* items not yet dispatched */
    size_t inflight_requests;   /* dispatched (fully or partly), not completed */
    int64_t inflight_items;     /* items in batches being run */
    uint64_t n_batches, n_batch_items, n_completed, n_timeouts, n_rejected, n_failed;
    int stopping;               /* fg_sched_stop has been called */
} fg_sched_stats;

/* Creates a stopped queue with a copy of c. Returns NULL and fills e when c is invalid. */
fg_sched *fg_sched_new(const fg_sched_config *c, fg_err *e);

/* Starts n_instances worker threads (instance indexes 0..n-1) calling run_cb(user, index, ...), and
 * the timeout reaper. Once per queue. Returns 0 or a negative FG_E* code. */
int fg_sched_start(fg_sched *q, int n_instances, fg_sched_run_cb run_cb, void *user, fg_err *e);

/* Queues r. Returns 0 (done_cb will be called exactly once), or at once, without calling done_cb:
 * FG_SCHED_EFULL (queue full), FG_SCHED_ESTOPPED (stopping), FG_EINVAL / FG_ESHAPE (bad request).
 * Thread-safe; never blocks beyond the queue lock. */
int fg_sched_submit(fg_sched *q, fg_sched_req *r);

/* Copies the counters into st and up to n_busy per-instance busy times (ns in run_cb) into busy_ns. */
void fg_sched_stats_get(fg_sched *q, fg_sched_stats *st, uint64_t *busy_ns, size_t n_busy);

/* Stops accepting, lets workers finish every admitted request, joins the threads and frees q.
 * deadline_ns (CLOCK_MONOTONIC, as fg_now_ns; 0 = none): requests still queued when it passes complete
 * with FG_SCHED_ESTOPPED instead of running; batches already running always finish. q may be NULL. */
void fg_sched_stop(fg_sched *q, uint64_t deadline_ns);

/* Tests only: makes the next n request-sized allocations (batch buffers, reassembly blocks) of every
 * queue fail, so the FG_ENOMEM paths can be exercised. */
void fg_sched_test_fail_allocs(int n);

/* Short description of an FG_SCHED_E* or FG_E* code. */
const char *fg_sched_strerror(int code);

#endif
