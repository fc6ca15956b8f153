/* abtest.h - A/B tests in `frugal serve`: weighted, sticky routing of one model name to variants
 * (versions of that model, or other models), feedback matched to recent predictions, per-variant
 * accuracy with confidence intervals and a two-proportion z-test against the control, and guardrails
 * that roll a variant back (weight 0) when it is significantly less accurate than the control or its
 * p99 latency stays over its SLO.
 *
 * Overview
 *   An A/B test (fg_ab) is named by the model name requests use (POST /v2/models/NAME/infer without a
 *   version). It has 2..FG_AB_MAX_VARIANTS variants; the first one is the control. Each variant is a
 *   target (model, version; version 0 = the target model's latest loaded version) and a weight.
 *   Variants are fixed when the server starts (so the `variant` metric label has a bounded, configured
 *   set of values); weights change at run time (fg_ab_set_weights, fg_ab_promote, guardrails).
 *
 * Routing
 *   A request is placed by a 64-bit hash (fg_ab_hash: FNV-1a, then the splitmix64 finalizer so nearby
 *   ids spread) of its sticky key: the configured header (x-user-id by default), else its request id,
 *   else a random id. The hash's top 53 bits, as a fraction u in [0, 1), fall in the weight bucket whose
 *   cumulative share covers u (fg_ab_pick). The same key always gets the same variant while the weights
 *   stay; when weights change, only the keys whose u crosses a bucket boundary move.
 *
 * Feedback ring
 *   Every routed, answered request leaves a prediction (hash of its request id, variant, argmax class of
 *   its first output) in a ring of FG_AB_DEFAULT_RING entries per test (16 bytes each: 1 MiB). When the
 *   ring is full the oldest entry is overwritten; one that never got feedback is counted as dropped.
 *   Feedback names the request id and a label (correct when it equals the predicted class) or a score
 *   in [0, 1] (added to the variant's correct total as is, so accuracy is the mean score). An id is
 *   looked up newest first by a linear scan (at most the ring size, ~50 us for 64k entries, under the
 *   test's mutex; feedback is far rarer than inference). Each prediction takes one feedback.
 *
 * Statistics
 *   Accuracy p = correct / feedback with a Wilson score interval (fg_ab_wilson, z = 1.96 for 95 %);
 *   variant i vs the control: pooled two-proportion z-test (fg_ab_ztest), z = (p_i - p_0) / se,
 *   two-sided p-value erfc(|z| / sqrt 2).
 *
 * Guardrails (fg_ab_check, run every second by the set's thread)
 *   accuracy: a non-control variant with weight > 0 is rolled back when both it and the control have at
 *   least min_feedback feedbacks, the z-test gives p < 0.05 and p_0 - p_i > margin.
 *   latency: with slo_p99_ms > 0, a non-control variant whose p99 over the KPI window has exceeded the
 *   SLO (with at least 10 requests in the window) for slo_secs in a row is rolled back.
 *   A rollback sets the weight to 0, logs once with the evidence and counts
 *   frugal_abtest_rollbacks_total{model,variant,reason}. Setting weights again re-arms the guard. A
 *   rollback never leaves a test without traffic: a variant promoted to all of it stays (logged once).
 *
 * Threads
 *   fg_ab_route, fg_ab_record, fg_ab_feedback, fg_ab_set_weights, fg_ab_json and fg_ab_check may run
 *   from any thread at once (one mutex per test; latency goes into a lock-free fg_kpi). fg_abset_free
 *   joins the guard thread; nothing may use the set afterwards.
 */
#ifndef FG_SERVE_ABTEST_H
#define FG_SERVE_ABTEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "serve/metrics.h"
#include "serve/v2.h"

#define FG_AB_MAX_VARIANTS 8
#define FG_AB_MAX_TESTS 32
#define FG_AB_NAME_MAX 64            /* longest variant name + 1 */
#define FG_AB_MODEL_MAX 128          /* longest model name + 1 */
#define FG_AB_DEFAULT_RING 65536     /* predictions kept per test */
#define FG_AB_DEFAULT_HEADER "x-user-id"
#define FG_AB_SLO_MIN_REQUESTS 10    /* requests in the window before a p99 counts against the SLO */

/* One variant as configured. */
typedef struct fg_ab_variant_spec {
    char name[FG_AB_NAME_MAX];   /* [A-Za-z0-9_.-], unique in the test */
    char model[FG_AB_MODEL_MAX]; /* target model */
    int64_t version;             /* target version; 0 = the target's latest loaded version */
    double weight;               /* >= 0; shares are weight / sum of weights */
    double slo_p99_ms;           /* this variant's latency SLO (abtest.json only); 0 = the test-wide one */
} fg_ab_variant_spec;

/* One test as configured: the model name requests use and its variants (the first is the control). */
typedef struct fg_ab_spec {
    char model[FG_AB_MODEL_MAX];
    fg_ab_variant_spec v[FG_AB_MAX_VARIANTS];
    size_t n;
} fg_ab_spec;

typedef struct fg_ab_opts {
    const char *header;     /* sticky header (copied); NULL = FG_AB_DEFAULT_HEADER */
    double margin;          /* accuracy guard: how much worse than the control (absolute, 0..1) */
    uint64_t min_feedback;  /* accuracy guard: feedbacks each side needs first (0 = 30) */
    double slo_p99_ms;      /* latency guard: p99 SLO of non-control variants in ms (0 = off) */
    double slo_secs;        /* latency guard: how long p99 stays over the SLO before a rollback */
    size_t ring;            /* predictions kept per test (0 = FG_AB_DEFAULT_RING) */
    unsigned window_s;      /* KPI window of the per-variant latency figures (0 = 60) */
    unsigned tick_ms;       /* guard period (0 = 1000); 0 with no_thread: tests call fg_ab_check */
    int no_thread;          /* 1: no guard thread (unit tests drive fg_ab_check) */
    uint64_t start_ns;      /* origin of the KPI windows' age (0 = now; tests drive synthetic time) */
    fg_metrics *metrics;    /* registry for frugal_abtest_* (required, outlives the set) */
} fg_ab_opts;

typedef struct fg_abset fg_abset;
typedef struct fg_ab fg_ab;

/* Parses a --abtest argument "NAME=[VARIANT@]TARGET:WEIGHT,..." into *out. TARGET is a version number
 * of NAME (variant name "vN" by default), a model name M (name "M") or M/N (name "M-vN"). Returns 0, or
 * FG_EINVAL with e naming the problem. */
int fg_ab_parse(const char *arg, fg_ab_spec *out, fg_err *e);

/* Reads A/B tests from a JSON file (the repository's abtest.json, or --abtest-file):
 *   {"header": "x-user-id", "margin": 0.02, "min_feedback": 30, "slo_p99_ms": 0, "slo_secs": 60,
 *    "tests": {"digits": [{"variant": "fp32", "target": "1", "weight": 90},
 *                         {"variant": "int8", "target": "2", "weight": 10, "slo_p99_ms": 20}]}}
 * Every key but "tests" is optional; "variant" is optional (as in --abtest); a variant's "slo_p99_ms"
 * overrides the test-wide latency SLO for it. Each test is appended to
 * specs[*n..max) (*n grows); an option is taken only where *o still holds 0 / NULL (command-line flags
 * win); the header string is copied into hdr (hdr_cap bytes) and o->header points there. Returns 0, or
 * FG_EIO (unreadable) / FG_EINVAL with e naming the file and the key at fault. */
int fg_ab_load_file(const char *path, fg_ab_spec *specs, size_t *n, size_t max, fg_ab_opts *o, char *hdr,
                    size_t hdr_cap, fg_err *e);

/* 64-bit hash of s[0, n) used for sticky routing (FNV-1a + splitmix64 finalizer). Pure. */
uint64_t fg_ab_hash(const void *s, size_t n);

/* The variant index that hash h falls in, given weights w[0, n) (>= 0). All-zero weights give 0 (the
 * control). Pure. */
int fg_ab_pick(const double *w, size_t n, uint64_t h);

/* Wilson score interval of k successes out of n at normal quantile z into [*lo, *hi]; n == 0 gives
 * [0, 1]. k may be fractional (scores). Pure. */
void fg_ab_wilson(double k, double n, double z, double *lo, double *hi);

/* Pooled two-proportion z-test of k1/n1 against the control k0/n0: *z = (p1 - p0) / se, *p = two-sided
 * p-value. Returns 0, or -1 (z = 0, p = 1) when either n is 0 or se is 0 (both all right or all wrong).
 * Pure. */
int fg_ab_ztest(double k0, double n0, double k1, double n1, double *z, double *p);

/* Cost per 1k requests of a variant by busy-time share: the server's price over the window split among
 * versions by busy time, the variant's version's part divided by that version's requests.
 * 1000 * price_per_hour / 3600 * window_s * (busy_v / busy_all) / version_requests; 0 when any divisor
 * is 0. Pure. */
double fg_ab_cost_per_1k(double price_per_hour, double window_s, double busy_v, double busy_all,
                         uint64_t version_requests);

/* Creates the tests specs[0, n) (n <= FG_AB_MAX_TESTS), registers their metrics and starts the guard
 * thread. Returns the set (free with fg_abset_free) or NULL with e set (bad spec, duplicate names, bad
 * options). */
fg_abset *fg_abset_new(const fg_ab_spec *specs, size_t n, const fg_ab_opts *o, fg_err *e);
/* Stops and joins the guard thread and frees everything (NULL is fine). */
void fg_abset_free(fg_abset *s);
/* Number of tests in s (0 for NULL). */
size_t fg_abset_count(const fg_abset *s);
/* Test i, or NULL past the end (borrowed, lives as long as the set). */
fg_ab *fg_abset_at(fg_abset *s, size_t i);
/* The test named name[0, len), or NULL. Borrowed. */
fg_ab *fg_abset_find(fg_abset *s, const char *name, size_t len);
/* The variant name that model/version is labelled with in metrics ("" when it is in no test; the first
 * matching variant wins). Borrowed, lives as long as the set. s may be NULL. */
const char *fg_abset_variant_of(const fg_abset *s, const char *model, int64_t version);

/* The test's name (the model name requests use). Borrowed. */
const char *fg_ab_name(const fg_ab *t);
/* The sticky routing header, lowercase. Borrowed. */
const char *fg_ab_header(const fg_ab *t);
/* Number of variants. */
size_t fg_ab_n(const fg_ab *t);
/* Variant i's spec as configured (fg_ab_weight gives the current weight), NULL past the end. Borrowed. */
const fg_ab_variant_spec *fg_ab_variant(const fg_ab *t, size_t i);
/* Current weight of variant i. */
double fg_ab_weight(fg_ab *t, size_t i);
/* Index of the variant named name[0, len), or -1. */
int fg_ab_find_variant(const fg_ab *t, const char *name, size_t len);

/* The variant for sticky-key hash h under the current weights. */
int fg_ab_route(fg_ab *t, uint64_t h);

/* Records one routed request answered by variant var: latency and outcome into its KPI window, and
 * (ok, id given, pred >= 0) the prediction into the ring under id[0, idlen). */
void fg_ab_record(fg_ab *t, int var, uint64_t now_ns, uint64_t latency_ns, int ok, const char *id, size_t idlen,
                  int64_t pred);

/* Feedback on request id[0, idlen): with has_label, correct when label equals the prediction; else
 * score in [0, 1]. Returns 0 and the variant in *var (may be NULL), FG_ENOTFOUND (unknown or expired
 * id), FG_EINVAL (bad score) or FG_EFULL (the prediction already has feedback); e says why. */
int fg_ab_feedback(fg_ab *t, const char *id, size_t idlen, int has_label, int64_t label, double score, int *var,
                   fg_err *e);
/* Parses a feedback body {"id": "...", "label": N} or {"id": "...", "score": x} and applies it as
 * fg_ab_feedback (variant in *var, may be NULL). Returns its codes (FG_EINVAL for a malformed body). */
int fg_ab_feedback_json(fg_ab *t, const char *body, size_t len, int *var, fg_err *e);

/* Sets every weight (w[0, fg_ab_n)), each >= 0 and finite, not all 0; clears rollbacks. Returns 0 or
 * FG_EINVAL. */
int fg_ab_set_weights(fg_ab *t, const double *w, fg_err *e);
/* Makes variant i take all traffic (weight 100, the others 0). Returns 0 or FG_EINVAL. */
int fg_ab_promote(fg_ab *t, int i, fg_err *e);
/* Applies a management body: {"weights": {"NAME": W, ...}} (variants not named keep their weight) or
 * {"promote": "NAME"}. Returns 0 or FG_EINVAL with e naming the problem. */
int fg_ab_apply_json(fg_ab *t, const char *body, size_t len, fg_err *e);

/* Runs the guardrails at now_ns (see "Guardrails"). Returns the number of rollbacks done. */
int fg_ab_check(fg_ab *t, uint64_t now_ns);
/* Whether variant i was rolled back (and the reason, "accuracy" or "latency", in *reason when not NULL). */
int fg_ab_rolled_back(fg_ab *t, size_t i, const char **reason);

/* Feedback figures of variant i: feedbacks and the correct total. */
void fg_ab_counts(fg_ab *t, size_t i, uint64_t *feedback, double *correct);
/* Predictions in the ring waiting for feedback, and those overwritten before any came. */
void fg_ab_ring_stats(fg_ab *t, uint64_t *pending, uint64_t *dropped);

/* Per-variant cost input for fg_ab_json (from the repository; 0 when unknown). */
typedef struct fg_ab_cost {
    double cost_per_1k_usd;
} fg_ab_cost;

/* Appends the test's report to out (caller frees): header, per variant the weight, rollback, requests,
 * window p50/p99 in ms, costs[i] (may be NULL), feedback, accuracy with its 95 % Wilson interval, and
 * against the control z, p-value and a verdict. Returns 0 or FG_ENOMEM. */
int fg_ab_json(fg_ab *t, uint64_t now_ns, const fg_ab_cost *costs, fg_v2_buf *out);

/* The plain verdict of variant `name` vs control `cname` into buf: "B is worse than A (p=0.003)", "B is
 * better than A (p=...)", "no significant difference yet (n=120)" or "no feedback yet". Pure. */
void fg_ab_verdict(char *buf, size_t cap, const char *name, const char *cname, double n0, double n1, int tested,
                   double z, double p);

#endif
