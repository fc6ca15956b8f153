/* serve.c - `frugal serve MODEL.onnx | REPO_DIR`: the KServe v2 HTTP API over a model repository
 * (repo.h). The HTTP loops (net.h) decode requests on their own threads, look the model version up under
 * the repository's read lock and submit to its batcher; completions answer from the instance workers.
 * Loads, unloads and the index run on the repository's control thread. SIGTERM or SIGINT: not ready,
 * stop accepting, answer every admitted request, print the KPI table, exit 0. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "frugal/engine.h"
#include "serve/abtest.h"
#include "serve/metrics.h"
#include "serve/cache.h"
#include "serve/net.h"
#include "serve/page.h"
#include "serve/redis.h"
#include "serve/repo.h"
#include "serve/sched.h"
#include "serve/v2.h"
#include "tools/tools.h"

#ifndef FG_VERSION
#define FG_VERSION "0.0.0"
#endif

static void serve_usage(FILE *f) {
    fprintf(f,
            "usage: frugal serve MODEL.onnx|REPO_DIR [options]\n\n"
            "Serves one ONNX file (model name = file name without extension, version 1) or a Triton-layout\n"
            "repository (REPO_DIR/<model>/[config.pbtxt] and REPO_DIR/<model>/<version>/model.onnx) over HTTP\n"
            "with the KServe v2 (Open Inference Protocol) API. Prints one line when ready; SIGTERM or SIGINT\n"
            "answers every admitted request, prints the KPI table and exits.\n\n"
            "options (the batching and instance flags override every model's config.pbtxt):\n"
            "  --host H                 address to bind (default 127.0.0.1)\n"
            "  --port P                 port (default 8000; 0 = pick a free port)\n"
            "  --loops N                HTTP event-loop threads (default: one per CPU)\n"
            "  --instances N            model instances, one engine session each (config: instance_group)\n"
            "  --threads N              compute threads per instance (default 1)\n"
            "  --precision P            fp32 (default) or bf16 compute for every model: Conv/MatMul/Gemm with\n"
            "                           bf16 weights and inputs, f32 accumulation (fast on CPUs with AMX)\n"
            "  --max-batch N            items per batch (config: max_batch_size; 0 = no batching)\n"
            "  --preferred-batch LIST   preferred batch sizes, e.g. 4,8 (config: preferred_batch_size)\n"
            "  --max-queue-delay-us U   longest the oldest request waits for a batch to fill (default 1000\n"
            "                           without config.pbtxt; config: max_queue_delay_microseconds)\n"
            "  --batch-delay MODE       fixed: a batch waits the whole delay for company (Triton; the default\n"
            "                           with a config.pbtxt dynamic_batching); adaptive: it closes early when\n"
            "                           no request is expected in time, so low load is not delayed (default\n"
            "                           otherwise)\n"
            "  --max-queue N            requests waiting per model version before 503 (default 1024)\n"
            "  --timeout-us U           default queue timeout per request, 0 = none (config:\n"
            "                           default_timeout_microseconds; requests may set parameters.timeout)\n"
            "  --poll-secs S            rescan the repository every S seconds: new versions are loaded and\n"
            "                           switched to without failing requests (default 0 = off)\n"
            "  --kpi-window-secs S      rolling window of the KPI figures (/stats, frugal_window_*; default 60)\n"
            "  --drain-secs S           longest SIGTERM waits for admitted requests (default 30)\n"
            "  --no-warmup              skip warmup runs before a version becomes ready\n"
            "  --price-per-hour USD     machine price for the cost figures (default 0.0)\n"
            "  --cache-bytes SIZE       response cache budget, e.g. 256M (default 0 = no cache); models are\n"
            "                           cached unless their config says response_cache { enable: false }\n"
            "  --cache-ttl SECS         lifetime of a cached answer (default 0 = until evicted)\n"
            "  --cache-policy P         sieve (default) or lru\n"
            "  --cache-admission A      all, or second-hit (default: store a result the second time its\n"
            "                           key is seen, so one-off inputs do not evict hot ones)\n"
            "  --cache-min-compute-us U store only results that took at least U us (default 0)\n"
            "  --cache-redis URL        redis://host:port[/db]: a shared second level (needs --cache-bytes)\n"
            "  --admin-token TOKEN      lets non-loopback callers load, unload and purge with\n"
            "                           'Authorization: Bearer TOKEN' (default: loopback only); also read\n"
            "                           from the environment variable FRUGAL_ADMIN_TOKEN\n"
            "  --abtest NAME=[VAR@]TARGET:WEIGHT,...\n"
            "                           A/B test: requests to model NAME without a version are routed to\n"
            "                           variants by weight; TARGET is a version of NAME (variant 'vN'), a\n"
            "                           model M or M/N; the first variant is the control (repeatable)\n"
            "  --abtest-header H        sticky routing header (default x-user-id; else the request id)\n"
            "  --abtest-margin X        roll back a variant whose accuracy is significantly (p < 0.05)\n"
            "                           lower than the control's by more than X (default 0.02)\n"
            "  --abtest-min-feedback N  feedbacks each side needs before that test (default 30)\n"
            "  --abtest-slo-p99-ms MS   roll back a variant whose p99 stays over MS (default 0 = off)\n"
            "  --abtest-slo-secs S      ... for S seconds (default 60)\n"
            "  --abtest-file FILE       A/B tests from a JSON file (default: REPO_DIR/abtest.json when present;\n"
            "                           format in the README); flags win over its options\n"
            "  -h, --help               this help\n"
            "\nexit status: 0 after a clean shutdown, 1 on error (one line on stderr), 2 on bad usage\n");
}

static int parse_long(const char *s, const char *opt, long min, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "frugal serve: %s needs an integer in %ld..%ld, got '%s'\n", opt, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* "268435456", "256K", "256M", "1G" (powers of 1024) into *out. */
static int parse_size(const char *s, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10, end++;
    else if (*end == 'M' || *end == 'm')
        shift = 20, end++;
    else if (*end == 'G' || *end == 'g')
        shift = 30, end++;
    if (*end || v > (SIZE_MAX >> shift))
        return -1;
    *out = (size_t)(v << shift);
    return 0;
}

/* The thread that waits for SIGTERM/SIGINT: a signal during startup stops model loading (through the
 * repository's cancel flag) instead of waiting for every model, and once serving it starts the drain. */
typedef struct sigwatch {
    sigset_t *sigs;
    int sig;
    _Atomic int got;
} sigwatch;

static void *sigwatch_main(void *arg) {
    sigwatch *w = arg;
    int sig = 0;
    while (sigwait(w->sigs, &sig) != 0)
        ;
    w->sig = sig;
    atomic_store(&w->got, 1);
    return NULL;
}

typedef struct server {
    _Atomic(fg_repo *) repo;  /* NULL while the models load */
    atomic_int ready;
    const char *admin_token;  /* NULL: management only from loopback */
    fg_cache *cache;          /* local response cache; NULL: no caching */
    fg_redis *redis;          /* shared second level; NULL: none */
    fg_metrics *metrics;
    fg_v2_buf server_meta;
    fg_abset *ab;             /* A/B tests; NULL: none */
    double price_per_hour;
    uint64_t id_seed;         /* generated request ids (A/B routing without a key) */
    atomic_uint_fast64_t id_next;
} server;

typedef struct job {
    server *s;
    fg_repo_version *v;
    fg_net_resp *resp;
    fg_v2_request r;
    fg_tensor ins[FG_SCHED_MAX_IO];
    fg_sched_req sr;
    uint64_t t0;
    int cached;               /* the result goes into the cache under key */
    fg_cache_key key;
    int raw;                  /* the response bytes go into the cache under raw_key */
    fg_cache_key raw_key;
    uint64_t lookup_t0;
    fg_ab *ab;                /* the A/B test that routed this request; NULL: none */
    int ab_var;
    char gen_id[40];          /* id generated for a request that named none (A/B feedback needs one) */
} job;

static uint64_t now_ms(void) { return fg_now_ns() / 1000000u; }

/* Answers {"error": msg} with status. */
static void respond_error(fg_net_resp *resp, int status, const char *msg) {
    fg_v2_buf b = {0};
    if (fg_v2_buf_puts(&b, "{\"error\":") < 0 || fg_v2_buf_append_json_str(&b, msg) < 0 ||
        fg_v2_buf_puts(&b, "}") < 0)
        fg_net_respond(resp, 503, "application/json", NULL, 0, "{\"error\":\"out of memory\"}", 25);
    else
        fg_net_respond(resp, status, "application/json", NULL, 0, b.ptr, b.len);
    fg_v2_buf_free(&b);
}

static void respond_json(fg_net_resp *resp, const char *body, size_t len) {
    fg_net_respond(resp, 200, "application/json", NULL, 0, body, len);
}

static int http_status(int outcome) {
    static const int st[FG_OUT_N] = {200, 400, 503, 503, 503, 500};
    return st[outcome];
}

/* Counts a failed request under its outcome. */
static void count_error(fg_repo_version *v, uint64_t t0, int outcome) {
    uint64_t now = fg_now_ns();
    fg_metric_inc(v->requests[outcome]);
    fg_kpi_request(v->kpi, now, now - t0, 0);
}

/* Counts the request under its outcome and answers an error (v must stay valid: completions only). */
static void infer_error(fg_repo_version *v, uint64_t t0, fg_net_resp *resp, int outcome, const char *msg) {
    count_error(v, t0, outcome);
    respond_error(resp, http_status(outcome), msg);
}

static void job_free(job *j) {
    fg_v2_request_free(&j->r);
    free(j);
}

/* The id an A/B-routed request is known by for feedback: its own, or the generated one. */
static const char *job_id(const job *j) { return j->r.id ? j->r.id : j->gen_id; }

/* Counts a failed A/B-routed request in its variant's window (no prediction). */
static void ab_fail(job *j) {
    if (j->ab) {
        uint64_t now = fg_now_ns();
        fg_ab_record(j->ab, j->ab_var, now, now - j->t0, 0, NULL, 0, -1);
    }
}

/* The predicted class: argmax of the first row of a float output; -1 when t is not FP32 or empty. */
static int64_t argmax_first_row(const fg_tensor *t) {
    if (t->dtype != FG_F32 || !t->data)
        return -1;
    int64_t total = 1;
    for (int i = 0; i < t->rank; i++)
        total *= t->dims[i];
    int64_t row = t->rank >= 2 && t->dims[0] > 0 ? total / t->dims[0] : total;
    const float *x = t->data;
    int64_t best = -1;
    for (int64_t i = 0; i < row; i++)
        if (best < 0 || x[i] > x[best])
            best = i;
    return best;
}

/* Raw entries: the exact bytes of a request body answer with the exact bytes of its response (the same
 * body has the same id, outputs and binary flags), so a repeated request skips decoding and encoding.
 * Value: the JSON length (8 bytes, for Inference-Header-Content-Length) and the response body. */
static void raw_store(job *j, fg_repo_version *v, const char *body, size_t len, size_t json_len) {
    server *s = j->s;
    if (!fg_cache_admit(s->cache, &j->raw_key, v->cache_tag, now_ms(), (fg_now_ns() - j->t0) / 1000))
        return;
    char *val = malloc(8 + len);
    if (!val)
        return;
    uint64_t jl = json_len;
    memcpy(val, &jl, 8);
    memcpy(val + 8, body, len);
    fg_cache_put(s->cache, &j->raw_key, v->cache_tag, now_ms(), val, 8 + len, UINT64_MAX);
    free(val);
}

/* The raw key of a request body (see raw_store): the body's bytes, the binary header length and the
 * model version. Never equal to a decoded request's key (the parameter string differs). */
static int raw_key_make(fg_cache_key *k, fg_repo_version *v, const char *body, size_t len, int64_t hdr_len) {
    fg_tensor t = {.dtype = FG_U8, .rank = 1, .dims = {(int64_t)len}, .data = (void *)(len ? body : "")};
    fg_cache_input in = {"body", &t};
    char params[48];
    snprintf(params, sizeof params, "raw-body:%lld", (long long)hdr_len);
    return fg_cache_key_make(k, v->model_name, v->cache_id, &in, 1, NULL, 0, params);
}

/* With the read lock held: answers j from a raw entry when its body was seen before. Returns 1 when it
 * did; else 0 with j->raw set when the response should be stored under the raw key. */
static int raw_lookup(server *s, job *j, fg_repo_version *v, const char *body, size_t len, int64_t hdr_len) {
    if (raw_key_make(&j->raw_key, v, body, len, hdr_len) < 0)
        return 0;
    const fg_cache_entry *ce = NULL;
    if (!fg_cache_get(s->cache, &j->raw_key, v->cache_tag, now_ms(), &ce)) {
        j->raw = 1;
        return 0;
    }
    const void *val;
    size_t vl;
    fg_cache_entry_value(ce, &val, &vl);
    uint64_t jl = 0;
    if (vl >= 8)
        memcpy(&jl, val, 8);
    if (vl < 8 || jl > vl - 8) { /* not ours: a miss */
        fg_cache_entry_release(s->cache, ce);
        return 0;
    }
    const char *resp_body = (const char *)val + 8;
    size_t rl = vl - 8;
    char num[32];
    fg_http_header h[2];
    size_t nh = 0;
    if (jl < rl) {
        int nl = snprintf(num, sizeof num, "%llu", (unsigned long long)jl);
        static const char hname[] = "Inference-Header-Content-Length";
        h[nh++] = (fg_http_header){{hname, sizeof hname - 1}, {num, (size_t)nl}};
    }
    static const char cname[] = "X-Frugal-Cache", cval[] = "hit-local";
    h[nh++] = (fg_http_header){{cname, sizeof cname - 1}, {cval, sizeof cval - 1}};
    uint64_t now = fg_now_ns();
    fg_metric_observe(v->duration, (double)(now - j->t0) / 1e9);
    fg_metric_inc(v->requests[FG_OUT_SUCCESS]);
    fg_metric_inc(v->c_hits[FG_CACHE_LOCAL]);
    fg_kpi_request(v->kpi, now, now - j->t0, 1);
    fg_kpi_cache(v->kpi, now, 1, 1);
    fg_net_respond(j->resp, 200, "application/json", h, nh, resp_body, rl);
    fg_cache_entry_release(s->cache, ce);
    return 1;
}

/* Answers j with outputs names[i]/ts[i] (the model's, or a cached set), as the request selected them,
 * and counts it as a success. cache: the X-Frugal-Cache value, or NULL when the model is not cached.
 * Returns 0, or -1 when the response could not be encoded (answered with an error then). */
static int respond_outputs(job *j, fg_repo_version *v, const char *const *names, const fg_tensor *ts, size_t n_ts,
                           const char *cache) {
    fg_v2_output outs[FG_SCHED_MAX_IO];
    size_t n = 0;
    if (j->r.n_outputs == 0) {
        for (size_t i = 0; i < n_ts && n < FG_SCHED_MAX_IO; i++)
            outs[n++] = (fg_v2_output){names[i], &ts[i], j->r.binary_data_output};
    } else {
        for (size_t k = 0; k < j->r.n_outputs && n < FG_SCHED_MAX_IO; k++)
            for (size_t i = 0; i < n_ts; i++)
                if (strcmp(names[i], j->r.outputs[k].name) == 0) {
                    int b = j->r.outputs[k].binary_data;
                    outs[n++] = (fg_v2_output){names[i], &ts[i], b < 0 ? j->r.binary_data_output : b != 0};
                    break;
                }
    }
    fg_v2_buf b = {0};
    size_t json_len = 0;
    fg_err e = {0};
    int rc = 0;
    if (fg_v2_encode_response(&b, v->model_name, v->vstr, j->r.id, outs, n, &json_len, &e) < 0) {
        fg_error("serve: encoding the response of '%s' failed: %s", v->model_name, e.msg);
        ab_fail(j);
        infer_error(v, j->t0, j->resp, e.code == FG_ENOMEM ? FG_OUT_UNAVAILABLE : FG_OUT_ERROR, e.msg);
        rc = -1;
    } else {
        uint64_t now = fg_now_ns();
        fg_metric_observe(v->duration, (double)(now - j->t0) / 1e9);
        fg_metric_inc(v->requests[FG_OUT_SUCCESS]);
        fg_kpi_request(v->kpi, now, now - j->t0, 1);
        char num[32];
        fg_http_header h[4];
        size_t nh = 0;
        if (j->ab) {
            /* recorded before the answer leaves, so feedback sent right after it finds the prediction */
            const char *id = job_id(j);
            int64_t pred = n_ts > 0 && strcmp(names[0], v->out[0].name) == 0 ? argmax_first_row(&ts[0]) : -1;
            fg_ab_record(j->ab, j->ab_var, now, now - j->t0, 1, id, strlen(id), pred);
            const char *vn = fg_ab_variant(j->ab, (size_t)j->ab_var)->name;
            static const char vh[] = "X-Frugal-Variant", ih[] = "X-Frugal-Request-Id";
            h[nh++] = (fg_http_header){{vh, sizeof vh - 1}, {vn, strlen(vn)}};
            h[nh++] = (fg_http_header){{ih, sizeof ih - 1}, {id, strlen(id)}};
        }
        if (json_len < b.len) {
            int nl = snprintf(num, sizeof num, "%zu", json_len);
            static const char hname[] = "Inference-Header-Content-Length";
            h[nh++] = (fg_http_header){{hname, sizeof hname - 1}, {num, (size_t)nl}};
        }
        if (cache) {
            static const char cname[] = "X-Frugal-Cache";
            h[nh++] = (fg_http_header){{cname, sizeof cname - 1}, {cache, strlen(cache)}};
        }
        if (j->raw)
            raw_store(j, v, b.ptr, b.len, json_len);
        fg_net_respond(j->resp, 200, "application/json", h, nh, b.ptr, b.len);
    }
    fg_v2_buf_free(&b);
    return rc;
}

/* Answers j from a cached value when it decodes to the outputs the request asked for; returns 1, or 0 when
 * the value is unusable (then it is a miss: a corrupt or foreign Redis value never answers). */
static int respond_cached(job *j, fg_repo_version *v, const void *val, size_t len, const char *level) {
    fg_cache_value cv;
    if (fg_cache_value_decode(val, len, &cv) < 0)
        return 0;
    size_t want = j->r.n_outputs ? j->r.n_outputs : v->n_out;
    if (cv.n != want)
        return 0;
    for (size_t i = 0; i < cv.n; i++) {
        const char *expect = j->r.n_outputs ? j->r.outputs[i].name : v->out[i].name;
        if (strcmp(cv.names[i], expect) != 0)
            return 0;
    }
    respond_outputs(j, v, cv.names, cv.t, cv.n, level);
    return 1;
}

/* Stores the answer of j (outputs as respond_outputs selects them) in the local cache and in Redis. */
static void cache_store(job *j, fg_repo_version *v, const fg_tensor *shaped, size_t n_out) {
    server *s = j->s;
    uint64_t compute_us = (fg_now_ns() - j->t0) / 1000;
    /* admission first: a one-off result is neither serialised nor sent to Redis */
    if (!fg_cache_admit(s->cache, &j->key, v->cache_tag, now_ms(), compute_us))
        return;
    const char *names[FG_SCHED_MAX_IO];
    fg_tensor ts[FG_SCHED_MAX_IO];
    size_t n = 0;
    if (j->r.n_outputs == 0) {
        for (size_t i = 0; i < n_out && n < FG_SCHED_MAX_IO; i++, n++)
            names[n] = v->out[i].name, ts[n] = shaped[i];
    } else {
        for (size_t k = 0; k < j->r.n_outputs && n < FG_SCHED_MAX_IO; k++)
            for (size_t i = 0; i < n_out; i++)
                if (strcmp(v->out[i].name, j->r.outputs[k].name) == 0) {
                    names[n] = v->out[i].name, ts[n++] = shaped[i];
                    break;
                }
    }
    uint8_t *blob = NULL;
    size_t len = 0;
    if (fg_cache_value_encode(names, ts, n, &blob, &len) < 0) {
        fg_warn("serve: model '%s': cannot serialise a result for the cache", v->model_name);
        return;
    }
    fg_cache_put(s->cache, &j->key, v->cache_tag, now_ms(), blob, len, compute_us);
    if (s->redis)
        fg_redis_set(s->redis, j->key.b, blob, len);
    free(blob);
}

static void done_cb(void *user, int status, const fg_tensor *out, size_t n_out, const char *msg) {
    job *j = user;
    fg_repo_version *v = j->v;
    if (status < 0) {
        int oc = fg_repo_outcome(status);
        if (oc == FG_OUT_ERROR)
            fg_error("serve: model '%s' version %s failed: %s", v->model_name, v->vstr,
                     msg ? msg : fg_sched_strerror(status));
        ab_fail(j);
        infer_error(v, j->t0, j->resp, oc, msg ? msg : fg_sched_strerror(status));
        job_free(j);
        return;
    }
    const char *names[FG_SCHED_MAX_IO];
    fg_tensor shaped[FG_SCHED_MAX_IO];
    for (size_t i = 0; i < n_out && i < FG_SCHED_MAX_IO; i++) {
        names[i] = v->out[i].name;
        shaped[i] = out[i];
        if (v->out_reshape_rank[i] >= 0)
            fg_repo_reshape(&shaped[i], v->batch_dim, v->out_reshape[i], v->out_reshape_rank[i]);
    }
    if (j->cached) {
        fg_kpi_cache(v->kpi, fg_now_ns(), 0, 1);
        fg_repo_cache_outcome(v, 0);
        cache_store(j, v, shaped, n_out);
    }
    respond_outputs(j, v, names, shaped, n_out, j->cached ? "miss" : NULL);
    job_free(j);
}

static int slice_is(fg_http_slice s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

static int slice_starts(fg_http_slice s, const char *lit) {
    size_t n = strlen(lit);
    return s.len >= n && memcmp(s.ptr, lit, n) == 0;
}

static const fg_http_slice *find_header(const fg_net_request *req, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name.len == n && strncasecmp(req->headers[i].name.ptr, name, n) == 0)
            return &req->headers[i].value;
    return NULL;
}

/* Integer request parameter `key` (raw JSON text), or def. */
static long long param_int(const fg_v2_request *r, const char *key, long long def) {
    for (size_t i = 0; i < r->n_params; i++)
        if (strcmp(r->params[i].key, key) == 0) {
            char *end;
            errno = 0;
            long long v = strtoll(r->params[i].raw, &end, 10);
            return errno || *end ? -1 : v;
        }
    return def;
}

static void not_found(fg_net_resp *resp, int why, const char *name, size_t nl, int64_t version) {
    char msg[256];
    if (why == FG_REPO_NO_MODEL)
        snprintf(msg, sizeof msg, "unknown model '%.*s'", (int)(nl > 128 ? 128 : nl), name);
    else if (why == FG_REPO_NO_VERSION)
        snprintf(msg, sizeof msg, "model '%.*s' has no version %lld loaded", (int)(nl > 128 ? 128 : nl), name,
                 (long long)version);
    else
        snprintf(msg, sizeof msg, "model '%.*s' is not ready", (int)(nl > 128 ? 128 : nl), name);
    respond_error(resp, why == FG_REPO_NOT_READY ? 503 : 404, msg);
}

/* With the read lock held: the local cache. Returns 1 when j was answered from it, 2 when the lookup
 * goes on in Redis (v is held for it), 0 to compute (j->cached says whether to store the result). */
static int cache_lookup(server *s, job *j, fg_repo_version *v, fg_err *e) {
    fg_cache_input ins[FG_SCHED_MAX_IO];
    const char *outs[FG_SCHED_MAX_IO];
    size_t n_in = j->r.n_inputs < FG_SCHED_MAX_IO ? j->r.n_inputs : FG_SCHED_MAX_IO;
    size_t n_out = j->r.n_outputs < FG_SCHED_MAX_IO ? j->r.n_outputs : FG_SCHED_MAX_IO;
    for (size_t i = 0; i < n_in; i++)
        ins[i] = (fg_cache_input){j->r.inputs[i].name, &j->r.inputs[i].t};
    for (size_t i = 0; i < n_out; i++)
        outs[i] = j->r.outputs[i].name;
    uint64_t t0 = fg_now_ns();
    if (fg_cache_key_make(&j->key, v->model_name, v->cache_id, ins, n_in, outs, n_out, NULL) < 0) {
        fg_err_clear(e);
        return 0; /* not cacheable (e.g. out of memory): compute */
    }
    j->cached = 1;
    const fg_cache_entry *ce = NULL;
    int hit = fg_cache_get(s->cache, &j->key, v->cache_tag, now_ms(), &ce);
    fg_metric_observe(v->c_lookup[FG_CACHE_LOCAL], (double)(fg_now_ns() - t0) / 1e9);
    if (hit) {
        const void *val;
        size_t len;
        fg_cache_entry_value(ce, &val, &len);
        int used = respond_cached(j, v, val, len, "hit-local");
        fg_cache_entry_release(s->cache, ce);
        if (used) {
            fg_metric_inc(v->c_hits[FG_CACHE_LOCAL]);
            fg_kpi_cache(v->kpi, fg_now_ns(), 1, 1);
            fg_repo_cache_outcome(v, 1);
            return 1;
        }
    }
    fg_metric_inc(v->c_misses[FG_CACHE_LOCAL]);
    if (!s->redis)
        return 0;
    fg_repo_version_hold(v);
    j->lookup_t0 = fg_now_ns();
    return 2;
}

/* Redis answered (I/O thread, or at once when it is down): a usable value answers the request (and is
 * kept locally); anything else computes it. v is held until the request is admitted or answered. */
static void redis_done(void *ctx, int status, const void *val, size_t len) {
    job *j = ctx;
    fg_repo_version *v = j->v;
    server *s = j->s;
    fg_metric_observe(v->c_lookup[FG_CACHE_REDIS], (double)(fg_now_ns() - j->lookup_t0) / 1e9);
    if (status == 1 && respond_cached(j, v, val, len, "hit-redis")) {
        fg_repo_cache_outcome(v, 1);
        fg_metric_inc(v->c_hits[FG_CACHE_REDIS]);
        fg_kpi_cache(v->kpi, fg_now_ns(), 1, 1);
        /* kept locally so the next hit is local; its compute time is unknown here, so size alone decides */
        fg_cache_put(s->cache, &j->key, v->cache_tag, now_ms(), val, len, UINT64_MAX);
        fg_repo_version_release(v);
        job_free(j);
        return;
    }
    fg_metric_inc(status == 0 ? v->c_misses[FG_CACHE_REDIS] : v->c_errors[FG_CACHE_REDIS]);
    if (status == 1)
        fg_warn("serve: model '%s': a Redis value did not decode to this request's outputs; computing",
                v->model_name);
    /* v is held, and a held version's queue is stopped only after its holds are released */
    int rc = fg_sched_submit(v->sched, &j->sr);
    if (rc < 0) {
        int oc = fg_repo_outcome(rc);
        count_error(v, j->t0, oc);
        respond_error(j->resp, http_status(oc), fg_sched_strerror(rc));
        fg_repo_version_release(v);
        job_free(j);
        return;
    }
    fg_repo_version_release(v);
}

static void infer(server *s, fg_repo *repo, const fg_net_request *req, fg_net_resp *resp, const char *name, size_t nl,
                  int64_t version) {
    uint64_t t0 = fg_now_ns();
    int64_t hdr_len = -1;
    const fg_http_slice *h = find_header(req, "Inference-Header-Content-Length");
    if (h) {
        char tmp[32];
        long long val = -1;
        if (h->len > 0 && h->len < sizeof tmp) {
            memcpy(tmp, h->ptr, h->len);
            tmp[h->len] = 0;
            char *end;
            errno = 0;
            val = strtoll(tmp, &end, 10);
            if (errno || *end)
                val = -1;
        }
        if (val < 0 || (unsigned long long)val > req->body_len) {
            respond_error(resp, 400, "bad Inference-Header-Content-Length");
            return;
        }
        hdr_len = val;
    }
    job *j = calloc(1, sizeof *j);
    if (!j) {
        fg_error("serve: out of memory for a request");
        respond_error(resp, 503, "out of memory");
        return;
    }
    j->s = s;
    j->resp = resp;
    j->t0 = t0;
    j->ab_var = -1;
    /* A/B routing: a request without a version to a tested name goes to a variant, sticky by the
     * configured header when it is there (else by its id, once decoded) */
    j->ab = version == 0 ? fg_abset_find(s->ab, name, nl) : NULL;
    if (j->ab) {
        const fg_http_slice *uh = find_header(req, fg_ab_header(j->ab));
        if (uh && uh->len)
            j->ab_var = fg_ab_route(j->ab, fg_ab_hash(uh->ptr, uh->len));
    }
    fg_err e = {0};
    int why = 0;
    fg_repo_version *v, *raw_v = NULL;
    int64_t raw_version = 0;
    int try_cache = 0;
    /* a body seen before is answered before it is even decoded; A/B-routed requests skip the cache so
     * each variant's latency and predictions are its own model's */
    if (s->cache && !j->ab) {
        fg_repo_rdlock(repo);
        v = raw_v = fg_repo_find(repo, name, nl, version, &why);
        raw_version = v ? v->version : 0;
        try_cache = v && fg_repo_cache_try(v);
        if (try_cache && raw_lookup(s, j, v, req->body, req->body_len, hdr_len)) {
            fg_repo_cache_outcome(v, 1);
            fg_repo_unlock(repo);
            job_free(j);
            return;
        }
        fg_repo_unlock(repo);
    }
    /* decoded before the lock: a large JSON body takes milliseconds */
    int rc = fg_v2_decode_request(req->body ? req->body : "", req->body_len, hdr_len, &j->r, &e);
    if (j->ab) {
        if (!j->r.id) { /* feedback needs an id: the answer's X-Frugal-Request-Id names this one */
            uint64_t n = atomic_fetch_add_explicit(&s->id_next, 1, memory_order_relaxed);
            uint64_t x = fg_ab_hash(&n, sizeof n) ^ s->id_seed;
            snprintf(j->gen_id, sizeof j->gen_id, "frugal-%016llx", (unsigned long long)x);
        }
        if (j->ab_var < 0) {
            const char *id = job_id(j);
            j->ab_var = fg_ab_route(j->ab, fg_ab_hash(id, strlen(id)));
        }
        const fg_ab_variant_spec *vs = fg_ab_variant(j->ab, (size_t)j->ab_var);
        name = vs->model;
        nl = strlen(vs->model);
        version = vs->version;
    }
    fg_repo_rdlock(repo);
    v = fg_repo_find(repo, name, nl, version, &why);
    if (v != raw_v || (v && v->version != raw_version)) /* switched meanwhile: the raw key names another */
        j->raw = 0;
    if (!v) {
        fg_repo_unlock(repo);
        ab_fail(j);
        not_found(resp, why, name, nl, version);
        job_free(j);
        return;
    }
    j->v = v;
    if (rc == 0)
        rc = fg_v2_validate_inputs(&j->r, v->req_in, v->n_in, &e);
    for (size_t k = 0; rc == 0 && k < j->r.n_outputs; k++) {
        size_t i = 0;
        while (i < v->n_out && strcmp(v->out[i].name, j->r.outputs[k].name) != 0)
            i++;
        if (i == v->n_out)
            rc = fg_err_set(&e, FG_EINVAL, "unknown output '%.100s'", j->r.outputs[k].name);
    }
    long long prio = param_int(&j->r, "priority", 0);
    if (rc == 0 && prio < 0)
        rc = fg_err_set(&e, FG_EINVAL, "parameter 'priority' must be an integer >= 0");
    if (rc == 0 && v->batch_dim && v->max_batch > 0) {
        for (size_t i = 1; i < j->r.n_inputs && rc == 0; i++)
            if (j->r.inputs[i].t.dims[0] != j->r.inputs[0].t.dims[0])
                rc = fg_err_set(&e, FG_EINVAL, "inputs '%s' and '%s' differ in their first (batch) dimension",
                                j->r.inputs[0].name, j->r.inputs[i].name);
    }
    if (rc == 0) {
        for (size_t i = 0; i < v->n_in; i++)
            for (size_t k = 0; k < j->r.n_inputs; k++)
                if (strcmp(j->r.inputs[k].name, v->in[i].name) == 0) {
                    j->ins[i] = j->r.inputs[k].t;
                    if (v->in_reshape_rank[i] >= 0)
                        fg_repo_reshape(&j->ins[i], v->batch_dim, v->in_reshape[i], v->in_reshape_rank[i]);
                }
        j->sr = (fg_sched_req){
            .n_items = v->max_batch > 0 ? j->ins[0].dims[0] : 1,
            .inputs = j->ins,
            .n_inputs = v->n_in,
            .priority = (int)(prio > 1000000 ? 1000000 : prio),
            .timeout_us = j->r.timeout_us > 0 ? (uint64_t)j->r.timeout_us : 0,
            .done_cb = done_cb,
            .user = j,
        };
        if (try_cache && v == raw_v) {
            int lr = cache_lookup(s, j, v, &e);
            if (lr == 1) { /* answered from the local cache */
                fg_repo_unlock(repo);
                job_free(j);
                return;
            }
            if (lr == 2) { /* waiting on Redis, which holds v */
                fg_repo_unlock(repo);
                fg_redis_get(s->redis, j->key.b, redis_done, j);
                return;
            }
        }
        rc = fg_sched_submit(v->sched, &j->sr);
        if (rc < 0)
            snprintf(e.msg, sizeof e.msg, "%s", fg_sched_strerror(rc));
    }
    int outcome = rc == FG_EINVAL || rc == FG_ESHAPE || rc == FG_EUNSUPPORTED || rc == FG_EDTYPE
                      ? FG_OUT_BAD_REQUEST
                      : fg_repo_outcome(rc);
    if (rc < 0) /* counted under the lock: once it is released, an unpublished v may be freed */
        count_error(v, t0, outcome);
    fg_repo_unlock(repo);
    if (rc < 0) {
        ab_fail(j);
        respond_error(resp, http_status(outcome), e.msg);
        job_free(j);
    }
}

/* Management operations (load, unload, cache purge) change what every client gets: loopback callers
 * may, others only with the admin token. Answers the request and returns 0 when it is refused. */
static int management_allowed(server *s, const fg_net_request *req, fg_net_resp *resp) {
    if (req->peer_loopback)
        return 1;
    if (!s->admin_token) {
        fg_warn("serve: refused a management request from %s (no --admin-token)", req->peer);
        respond_error(resp, 403,
                      "management operations are allowed only from loopback; start the server with "
                      "--admin-token to allow remote callers");
        return 0;
    }
    const fg_http_slice *h = find_header(req, "Authorization");
    if (!h || h->len < 7 || strncasecmp(h->ptr, "Bearer ", 7) != 0) {
        static const char wn[] = "WWW-Authenticate", wv[] = "Bearer";
        fg_http_header extra = {{wn, sizeof wn - 1}, {wv, sizeof wv - 1}};
        static const char msg[] =
            "{\"error\":\"management operations need the header 'Authorization: Bearer <admin token>'\"}";
        fg_net_respond(resp, 401, "application/json", &extra, 1, msg, sizeof msg - 1);
        return 0;
    }
    const char *tok = h->ptr + 7;
    size_t tl = h->len - 7, al = strlen(s->admin_token);
    /* constant time in the token's bytes: a wrong guess learns nothing from the timing */
    unsigned char diff = (unsigned char)(tl != al);
    for (size_t i = 0; i < al; i++)
        diff |= (unsigned char)(s->admin_token[i] ^ (i < tl ? tok[i] : 0));
    if (diff) {
        fg_warn("serve: refused a management request from %s (wrong admin token)", req->peer);
        respond_error(resp, 403, "invalid admin token");
        return 0;
    }
    return 1;
}

/* Repository operation completion: answers the HTTP request. */
static void control_done(void *ctx, int status, const char *body, size_t len, const char *msg) {
    fg_net_resp *resp = ctx;
    if (status == 0)
        respond_json(resp, body, len);
    else
        respond_error(resp, status == FG_ENOTFOUND ? 404 : status == FG_ESTOPPED || status == FG_ENOMEM ? 503 : 400,
                      msg);
}

/* Parses "/versions/<n>" at the start of rest; returns the remaining slice in *rest and the version, 0 when
 * absent, -1 when malformed. */
static int64_t take_version(fg_http_slice *rest) {
    static const char pre[] = "/versions/";
    if (!slice_starts(*rest, pre))
        return slice_starts(*rest, "/versions") ? -1 : 0;
    size_t i = sizeof pre - 1;
    int64_t v = 0;
    size_t digits = 0;
    while (i < rest->len && rest->ptr[i] >= '0' && rest->ptr[i] <= '9' && digits < 18) {
        v = v * 10 + (rest->ptr[i++] - '0');
        digits++;
    }
    if (!digits || v == 0 || (i < rest->len && rest->ptr[i] != '/'))
        return -1;
    rest->ptr += i;
    rest->len -= i;
    return v;
}

/* Answers with the A/B report of t: the test's figures, and each variant's cost per 1k requests by its
 * version's share of the server's busy time (fg_ab_cost_per_1k). */
static void abtest_report(server *s, fg_repo *repo, fg_ab *t, fg_net_resp *resp) {
    fg_ab_cost costs[FG_AB_MAX_VARIANTS];
    for (size_t i = 0; i < fg_ab_n(t); i++) {
        const fg_ab_variant_spec *vs = fg_ab_variant(t, i);
        double win = 0, busy = 0, all = 0;
        uint64_t reqs = 0;
        fg_repo_busy(repo, vs->model, vs->version, &win, &busy, &reqs, &all);
        costs[i].cost_per_1k_usd = fg_ab_cost_per_1k(s->price_per_hour, win, busy, all, reqs);
    }
    fg_v2_buf b = {0};
    if (fg_ab_json(t, fg_now_ns(), costs, &b) < 0)
        respond_error(resp, 503, "out of memory");
    else
        respond_json(resp, b.ptr, b.len);
    fg_v2_buf_free(&b);
}

/* GET/POST /v2/models/{m}/abtest (report; weights or promotion, a management call) and POST
 * /v2/models/{m}/feedback. */
static void abtest_route(server *s, fg_repo *repo, const fg_net_request *req, fg_net_resp *resp, const char *name,
                         size_t nl, int feedback) {
    fg_ab *t = fg_abset_find(s->ab, name, nl);
    if (!t) {
        char msg[256];
        snprintf(msg, sizeof msg, "model '%.*s' has no A/B test (start the server with --abtest %.*s=...)",
                 (int)(nl > 100 ? 100 : nl), name, (int)(nl > 100 ? 100 : nl), name);
        respond_error(resp, 404, msg);
        return;
    }
    int get = req->method_id == FG_HTTP_GET || req->method_id == FG_HTTP_HEAD;
    int post = req->method_id == FG_HTTP_POST;
    fg_err e = {0};
    if (feedback) {
        if (!post) {
            respond_error(resp, 405, "method not allowed: feedback takes POST");
            return;
        }
        int var = -1;
        int rc = fg_ab_feedback_json(t, req->body, req->body_len, &var, &e);
        if (rc < 0) {
            respond_error(resp, rc == FG_ENOTFOUND ? 404 : rc == FG_EFULL ? 409 : rc == FG_ENOMEM ? 503 : 400, e.msg);
            return;
        }
        fg_v2_buf b = {0};
        if (fg_v2_buf_puts(&b, "{\"recorded\":true,\"variant\":") < 0 ||
            fg_v2_buf_append_json_str(&b, fg_ab_variant(t, (size_t)var)->name) < 0 || fg_v2_buf_puts(&b, "}") < 0)
            respond_error(resp, 503, "out of memory");
        else
            respond_json(resp, b.ptr, b.len);
        fg_v2_buf_free(&b);
        return;
    }
    if (get) {
        abtest_report(s, repo, t, resp);
        return;
    }
    if (!post) {
        respond_error(resp, 405, "method not allowed: abtest takes GET or POST");
        return;
    }
    if (!management_allowed(s, req, resp))
        return;
    if (fg_ab_apply_json(t, req->body, req->body_len, &e) < 0) {
        respond_error(resp, e.code == FG_ENOMEM ? 503 : 400, e.msg);
        return;
    }
    abtest_report(s, repo, t, resp);
}

static void model_route(server *s, fg_repo *repo, const fg_net_request *req, fg_net_resp *resp, fg_http_slice p) {
    int get = req->method_id == FG_HTTP_GET || req->method_id == FG_HTTP_HEAD;
    int post = req->method_id == FG_HTTP_POST;
    const char *name = p.ptr;
    size_t nl = 0;
    while (nl < p.len && name[nl] != '/')
        nl++;
    fg_http_slice rest = {name + nl, p.len - nl};
    int64_t version = take_version(&rest);
    if (version < 0) {
        respond_error(resp, 404, "bad model version in path (versions are positive integers)");
        return;
    }
    if (slice_is(rest, "/abtest") || slice_is(rest, "/feedback")) {
        if (version > 0)
            respond_error(resp, 404, "A/B tests belong to a model, not a version: drop /versions/N");
        else
            abtest_route(s, repo, req, resp, name, nl, slice_is(rest, "/feedback"));
        return;
    }
    if (slice_is(rest, "/cache/purge")) {
        if (req->method_id != FG_HTTP_POST)
            respond_error(resp, 405, "method not allowed: purge takes POST");
        else if (management_allowed(s, req, resp))
            fg_repo_control(repo, FG_REPO_PURGE, name, nl, control_done, resp);
        return;
    }
    if (slice_is(rest, "/infer")) {
        if (post)
            infer(s, repo, req, resp, name, nl, version);
        else
            respond_error(resp, 405, "method not allowed: infer takes POST");
        return;
    }
    int is_meta = rest.len == 0 || slice_is(rest, "/"), is_ready = slice_is(rest, "/ready");
    if (!is_meta && !is_ready) {
        respond_error(resp, 404, "not found");
        return;
    }
    if (!get) {
        respond_error(resp, 405, "method not allowed");
        return;
    }
    int why = 0;
    fg_v2_buf b = {0};
    fg_repo_rdlock(repo);
    fg_repo_version *v = fg_repo_find(repo, name, nl, version, &why);
    int rc = 0;
    if (v && is_meta && version > 0)
        rc = fg_v2_buf_append(&b, v->meta.ptr, v->meta.len);
    else if (v && is_ready)
        rc = fg_v2_buf_printf(&b, "{\"name\":\"%s\",\"ready\":true}", v->model_name);
    fg_repo_unlock(repo);
    if (!v)
        not_found(resp, why, name, nl, version);
    else if (is_meta && version == 0 && (rc = fg_repo_model_meta(repo, name, nl, &b)) < 0 && rc != FG_ENOMEM)
        not_found(resp, rc == FG_ENOTFOUND ? FG_REPO_NO_MODEL : FG_REPO_NOT_READY, name, nl, 0);
    else if (rc < 0)
        respond_error(resp, 503, "out of memory");
    else
        respond_json(resp, b.ptr, b.len);
    fg_v2_buf_free(&b);
}

static void repository_route(server *s, fg_repo *repo, const fg_net_request *req, fg_net_resp *resp,
                             fg_http_slice p) {
    if (req->method_id != FG_HTTP_POST) {
        respond_error(resp, 405, "method not allowed: repository operations take POST");
        return;
    }
    if (slice_is(p, "/v2/repository/index")) {
        fg_repo_control(repo, FG_REPO_INDEX, NULL, 0, control_done, resp);
        return;
    }
    static const char pre[] = "/v2/repository/models/";
    const size_t pl = sizeof pre - 1;
    if (slice_starts(p, pre)) {
        const char *name = p.ptr + pl;
        size_t nl = 0;
        while (pl + nl < p.len && name[nl] != '/')
            nl++;
        fg_http_slice rest = {name + nl, p.len - pl - nl};
        int load = slice_is(rest, "/load"), unload = slice_is(rest, "/unload");
        if (nl > 0 && (load || unload)) {
            if (management_allowed(s, req, resp))
                fg_repo_control(repo, load ? FG_REPO_LOAD : FG_REPO_UNLOAD, name, nl, control_done, resp);
            return;
        }
    }
    respond_error(resp, 404, "not found");
}

/* Routes one request; answers it here, or hands it to the batcher or the control thread. */
static void handle(void *user, const fg_net_request *req, fg_net_resp *resp) {
    server *s = user;
    int get = req->method_id == FG_HTTP_GET || req->method_id == FG_HTTP_HEAD;
    fg_http_slice p = req->path;
    fg_repo *repo = atomic_load_explicit(&s->repo, memory_order_acquire);
    if (slice_is(p, "/v2/health/live")) {
        if (get)
            respond_json(resp, "{}", 2);
        else
            respond_error(resp, 405, "method not allowed");
    } else if (slice_is(p, "/v2/health/ready")) {
        if (!get)
            respond_error(resp, 405, "method not allowed");
        else if (atomic_load_explicit(&s->ready, memory_order_acquire))
            respond_json(resp, "{}", 2);
        else
            respond_error(resp, 503, repo ? "the server is shutting down" : "models are loading");
    } else if (slice_is(p, "/v2") || slice_is(p, "/v2/")) {
        if (get)
            respond_json(resp, s->server_meta.ptr, s->server_meta.len);
        else
            respond_error(resp, 405, "method not allowed");
    } else if (slice_is(p, "/dashboard")) {
        static const fg_http_header nocache = {{"Cache-Control", 13}, {"no-cache", 8}};
        if (get)
            fg_net_respond(resp, 200, FG_PAGE_CONTENT_TYPE, &nocache, 1, fg_page_dashboard, fg_page_dashboard_len);
        else
            respond_error(resp, 405, "method not allowed");
    } else if (slice_is(p, "/")) {
        static const fg_http_header to_dashboard = {{"Location", 8}, {"/dashboard", 10}};
        if (get)
            fg_net_respond(resp, 302, "text/plain", &to_dashboard, 1, "see /dashboard\n", 15);
        else
            respond_error(resp, 405, "method not allowed");
    } else if (slice_is(p, "/metrics")) {
        fg_metrics_buf b = {0};
        if (!get) {
            respond_error(resp, 405, "method not allowed");
        } else if (fg_metrics_write(s->metrics, &b) < 0) {
            fg_error("serve: out of memory rendering metrics");
            respond_error(resp, 503, "out of memory");
        } else {
            fg_net_respond(resp, 200, FG_METRICS_CONTENT_TYPE, NULL, 0, b.data, b.len);
        }
        fg_metrics_buf_free(&b);
    } else if (!repo) {
        respond_error(resp, 503, "models are loading");
    } else if (slice_is(p, "/stats")) {
        fg_v2_buf b = {0};
        if (!get)
            respond_error(resp, 405, "method not allowed");
        else if (fg_repo_stats_json(repo, &b) < 0)
            respond_error(resp, 503, "out of memory");
        else
            respond_json(resp, b.ptr, b.len);
        fg_v2_buf_free(&b);
    } else if (slice_starts(p, "/v2/models/") && p.len > 11) {
        model_route(s, repo, req, resp, (fg_http_slice){p.ptr + 11, p.len - 11});
    } else if (slice_starts(p, "/v2/repository/")) {
        repository_route(s, repo, req, resp, p);
    } else {
        respond_error(resp, 404, "not found");
    }
}

/* Parses "4,8,16" into preferred batch sizes. */
static int parse_sizes(const char *s, fg_repo_overrides *o) {
    o->n_preferred = 0;
    while (*s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || v < 1 || v > (1 << 20) || o->n_preferred == FG_SCHED_MAX_PREFERRED ||
            (*end && *end != ','))
            return -1;
        o->preferred[o->n_preferred++] = v;
        s = *end ? end + 1 : end;
    }
    return o->n_preferred ? 0 : -1;
}

/* The `variant` metric label of a version (repo.h variant_of). */
static const char *variant_of_cb(void *ctx, const char *model, int64_t version) {
    return fg_abset_variant_of(ctx, model, version);
}

/* Every A/B variant must name a loaded model version: a test that would answer 404 for a share of its
 * traffic is a configuration error, found at start. */
static int check_ab_targets(fg_abset *ab, fg_repo *repo, fg_err *e) {
    for (size_t i = 0; i < fg_abset_count(ab); i++) {
        fg_ab *t = fg_abset_at(ab, i);
        for (size_t k = 0; k < fg_ab_n(t); k++) {
            const fg_ab_variant_spec *vs = fg_ab_variant(t, k);
            int why = 0;
            fg_repo_rdlock(repo);
            fg_repo_version *v = fg_repo_find(repo, vs->model, strlen(vs->model), vs->version, &why);
            fg_repo_unlock(repo);
            char ver[24];
            snprintf(ver, sizeof ver, "%lld", (long long)vs->version);
            if (!v)
                return fg_err_set(e, FG_ENOTFOUND,
                                  "test '%s': variant '%s' names model '%s' version %s, which is not loaded",
                                  fg_ab_name(t), vs->name, vs->model, vs->version ? ver : "(latest)");
        }
    }
    return 0;
}

int fg_cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {
        {"host", required_argument, 0, 'H'},
        {"port", required_argument, 0, 'p'},
        {"loops", required_argument, 0, 'l'},
        {"instances", required_argument, 0, 'i'},
        {"threads", required_argument, 0, 't'},
        {"max-batch", required_argument, 0, 'b'},
        {"preferred-batch", required_argument, 0, 'P'},
        {"max-queue-delay-us", required_argument, 0, 'd'},
        {"max-queue", required_argument, 0, 'q'},
        {"batch-delay", required_argument, 0, 'A'},
        {"timeout-us", required_argument, 0, 'T'},
        {"poll-secs", required_argument, 0, 'o'},
        {"kpi-window-secs", required_argument, 0, 'w'},
        {"drain-secs", required_argument, 0, 'D'},
        {"no-warmup", no_argument, 0, 'W'},
        {"precision", required_argument, 0, 1007},
        {"price-per-hour", required_argument, 0, 'c'},
        {"admin-token", required_argument, 0, 'K'},
        {"cache-bytes", required_argument, 0, 'C'},
        {"cache-ttl", required_argument, 0, 'L'},
        {"cache-policy", required_argument, 0, 'Y'},
        {"cache-admission", required_argument, 0, 'M'},
        {"cache-min-compute-us", required_argument, 0, 'U'},
        {"cache-redis", required_argument, 0, 'R'},
        {"abtest", required_argument, 0, 1001},
        {"abtest-header", required_argument, 0, 1002},
        {"abtest-margin", required_argument, 0, 1003},
        {"abtest-min-feedback", required_argument, 0, 1004},
        {"abtest-slo-p99-ms", required_argument, 0, 1005},
        {"abtest-slo-secs", required_argument, 0, 1006},
        {"abtest-file", required_argument, 0, 1008},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *host = "127.0.0.1";
    const char *admin_token = getenv("FRUGAL_ADMIN_TOKEN");
    const char *cache_redis = NULL;
    size_t cache_bytes = 0;
    long cache_ttl = 0, cache_min_us = 0;
    fg_cache_policy cache_policy = FG_CACHE_SIEVE;
    fg_cache_admission cache_admission = FG_CACHE_ADMIT_SECOND_HIT;
    long port = 8000, loops = 0, v = 0, poll_s = 0, window = 60, drain = 30;
    fg_repo_opts ro = {.overrides = fg_repo_overrides_none()};
    fg_repo_overrides *ov = &ro.overrides;
    static fg_ab_spec ab_specs[FG_AB_MAX_TESTS]; /* static: 32 specs are too large for the stack */
    size_t n_ab = 0;
    const char *ab_file = NULL;
    static char ab_header[128];
    fg_ab_opts abo = {.margin = 0.02, .slo_secs = 60};
    optind = 1;
    int ch, bad = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'H': host = optarg; break;
        case 'p': bad |= parse_long(optarg, "--port", 0, 65535, &port); break;
        case 'l': bad |= parse_long(optarg, "--loops", 1, 1024, &loops); break;
        case 'i': bad |= parse_long(optarg, "--instances", 1, FG_REPO_MAX_INSTANCES, &v), ov->instances = (int)v; break;
        case 't': bad |= parse_long(optarg, "--threads", 1, 1024, &v), ov->threads = (int)v; break;
        case 'b': bad |= parse_long(optarg, "--max-batch", 0, 1 << 20, &v), ov->max_batch = v; break;
        case 'd': bad |= parse_long(optarg, "--max-queue-delay-us", 0, 60000000, &v), ov->max_queue_delay_us = v; break;
        case 'q': bad |= parse_long(optarg, "--max-queue", 1, 1 << 24, &v), ov->max_queue = v; break;
        case 'T': bad |= parse_long(optarg, "--timeout-us", 0, 3600000000L, &v), ov->default_timeout_us = v; break;
        case 'o': bad |= parse_long(optarg, "--poll-secs", 0, 86400, &poll_s); break;
        case 'w': bad |= parse_long(optarg, "--kpi-window-secs", 1, 3600, &window); break;
        case 'D': bad |= parse_long(optarg, "--drain-secs", 0, 3600, &drain); break;
        case 'W': ro.no_warmup = 1; break;
        case 1007:
            if (fg_precision_parse(optarg, &ro.precision) < 0) {
                fprintf(stderr, "frugal serve: --precision is 'fp32' or 'bf16', got '%s'\n", optarg);
                bad = -1;
            }
            break;
        case 'K': admin_token = optarg; break;
        case 'C':
            if (parse_size(optarg, &cache_bytes) < 0) {
                fprintf(stderr, "frugal serve: --cache-bytes needs a size like 268435456, 256M or 1G, got '%s'\n",
                        optarg);
                bad = -1;
            }
            break;
        case 'L': bad |= parse_long(optarg, "--cache-ttl", 0, 365L * 86400, &cache_ttl); break;
        case 'U': bad |= parse_long(optarg, "--cache-min-compute-us", 0, 3600000000L, &cache_min_us); break;
        case 'Y':
            if (strcmp(optarg, "sieve") == 0 || strcmp(optarg, "lru") == 0) {
                cache_policy = optarg[0] == 's' ? FG_CACHE_SIEVE : FG_CACHE_LRU;
            } else {
                fprintf(stderr, "frugal serve: --cache-policy is 'sieve' or 'lru', got '%s'\n", optarg);
                bad = -1;
            }
            break;
        case 'M':
            if (strcmp(optarg, "all") == 0 || strcmp(optarg, "second-hit") == 0) {
                cache_admission = optarg[0] == 'a' ? FG_CACHE_ADMIT_ALL : FG_CACHE_ADMIT_SECOND_HIT;
            } else {
                fprintf(stderr, "frugal serve: --cache-admission is 'all' or 'second-hit', got '%s'\n", optarg);
                bad = -1;
            }
            break;
        case 'R': cache_redis = optarg; break;
        case 'A':
            if (strcmp(optarg, "fixed") == 0 || strcmp(optarg, "adaptive") == 0) {
                ov->adaptive_delay = optarg[0] == 'a';
            } else {
                fprintf(stderr, "frugal serve: --batch-delay is 'fixed' or 'adaptive', got '%s'\n", optarg);
                bad = -1;
            }
            break;
        case 'P':
            if (parse_sizes(optarg, ov) < 0) {
                fprintf(stderr, "frugal serve: --preferred-batch needs sizes like 4,8 (at most %d), got '%s'\n",
                        FG_SCHED_MAX_PREFERRED, optarg);
                bad = -1;
            }
            break;
        case 'c': {
            char *end;
            errno = 0;
            ro.price_per_hour = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(ro.price_per_hour) || ro.price_per_hour < 0) {
                fprintf(stderr, "frugal serve: --price-per-hour needs a number >= 0, got '%s'\n", optarg);
                bad = -1;
            }
            break;
        }
        case 1001: {
            fg_err pe = {0};
            if (n_ab == FG_AB_MAX_TESTS) {
                fprintf(stderr, "frugal serve: at most %d --abtest flags\n", FG_AB_MAX_TESTS);
                bad = -1;
            } else if (fg_ab_parse(optarg, &ab_specs[n_ab], &pe) < 0) {
                fprintf(stderr, "frugal serve: %s\n", pe.msg);
                bad = -1;
            } else {
                n_ab++;
            }
            break;
        }
        case 1002: abo.header = optarg; break;
        case 1008: ab_file = optarg; break;
        case 1004: bad |= parse_long(optarg, "--abtest-min-feedback", 1, 1000000000L, &v), abo.min_feedback = (uint64_t)v; break;
        case 1003:
        case 1005:
        case 1006: {
            char *end;
            errno = 0;
            double x = strtod(optarg, &end);
            double max = ch == 1003 ? 1 : 1e9;
            if (errno || end == optarg || *end || !isfinite(x) || x < 0 || x > max) {
                fprintf(stderr, "frugal serve: %s needs a number in 0..%g, got '%s'\n",
                        ch == 1003 ? "--abtest-margin" : ch == 1005 ? "--abtest-slo-p99-ms" : "--abtest-slo-secs", max,
                        optarg);
                bad = -1;
            } else if (ch == 1003) {
                abo.margin = x;
            } else if (ch == 1005) {
                abo.slo_p99_ms = x;
            } else {
                abo.slo_secs = x;
            }
            break;
        }
        case 'h': serve_usage(stdout); return 0;
        default: serve_usage(stderr); return 2;
        }
        if (bad)
            return 2;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "frugal serve: expected one MODEL.onnx or REPO_DIR argument (see frugal serve --help)\n");
        return 2;
    }
    ro.path = argv[optind];
    {
        /* A/B tests from a file: --abtest-file, else the repository's own abtest.json (flags win) */
        char auto_file[4096];
        struct stat st;
        if (!ab_file && stat(ro.path, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(auto_file, sizeof auto_file, "%s/abtest.json", ro.path);
            if (access(auto_file, F_OK) == 0)
                ab_file = auto_file;
        }
        fg_err ae = {0};
        if (ab_file && fg_ab_load_file(ab_file, ab_specs, &n_ab, FG_AB_MAX_TESTS, &abo, ab_header, sizeof ab_header,
                                       &ae) < 0) {
            fprintf(stderr, "frugal serve: %s\n", ae.msg);
            return 2;
        }
    }
    ro.poll_s = (unsigned)poll_s;
    ro.kpi_window_s = (unsigned)window;
    int rc = 1;
    server s = {.ready = 0};
    fg_net_server *net = NULL;
    fg_repo *repo = NULL;
    fg_err e = {0};

    /* block the stop signals in every thread started from here; the main thread waits for them */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    sigwatch watch = {.sigs = &sigs};
    pthread_t watcher;
    int watching = pthread_create(&watcher, NULL, sigwatch_main, &watch) == 0;
    if (!watching) {
        fprintf(stderr, "frugal serve: cannot start the signal thread\n");
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return 1;
    }
    ro.cancel = &watch.got;

    if (admin_token && !*admin_token)
        admin_token = NULL;
    s.admin_token = admin_token;
    s.metrics = fg_metrics_new();
    ro.metrics = s.metrics;
    if (fg_metrics_process_register(s.metrics, ro.price_per_hour, &e) < 0 ||
        fg_v2_encode_server_metadata(&s.server_meta, FG_VERSION, &e) < 0) {
        fprintf(stderr, "frugal serve: %s\n", e.msg);
        goto out;
    }
    s.price_per_hour = ro.price_per_hour;
    if (n_ab) {
        abo.metrics = s.metrics;
        abo.window_s = (unsigned)window;
        if (!(s.ab = fg_abset_new(ab_specs, n_ab, &abo, &e))) {
            fprintf(stderr, "frugal serve: --abtest: %s\n", e.msg);
            rc = 2;
            goto out;
        }
        ro.variant_of = variant_of_cb;
        ro.variant_ctx = s.ab;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s.id_seed = fg_ab_hash(&ts, sizeof ts) ^ fg_now_ns();
    }
    if (cache_redis && !cache_bytes) {
        fprintf(stderr, "frugal serve: --cache-redis needs --cache-bytes > 0 (the local cache is the first level)\n");
        rc = 2;
        goto out;
    }
    if (cache_bytes) {
        fg_cache_config cc = {.max_bytes = cache_bytes, .ttl_ms = (uint64_t)cache_ttl * 1000, .policy = cache_policy,
                              .admission = cache_admission, .min_compute_us = (uint64_t)cache_min_us};
        if (!(s.cache = fg_cache_new(&cc, &e))) {
            fprintf(stderr, "frugal serve: cache: %s\n", e.msg);
            goto out;
        }
        ro.cache = s.cache;
        ro.cache_by_default = 1;
    }
    if (cache_redis) {
        /* the version of the value format is in the prefix: servers with another format never meet */
        char prefix[32];
        snprintf(prefix, sizeof prefix, "frugal:v%d:", FG_CACHE_VALUE_VERSION);
        fg_redis_opts rdo = {.url = cache_redis, .prefix = prefix, .ttl_s = (unsigned)cache_ttl};
        ro.cache_redis = 1;
        if (!(s.redis = fg_redis_new(&rdo, &e))) {
            fprintf(stderr, "frugal serve: --cache-redis: %s\n", e.msg);
            rc = 2;
            goto out;
        }
    }
    /* listen first: liveness answers while the models load, readiness once they are warm */
    fg_net_config nc = {.host = host, .port = (uint16_t)port, .n_loops = (int)loops,
                        .stop_timeout_ms = drain ? (int)(drain * 1000) : 1 /* 0 would mean the default */};
    if (fg_net_start(&nc, handle, &s, &net) < 0) {
        fprintf(stderr, "frugal serve: cannot listen on %s:%ld\n", host, port);
        goto out;
    }
    if (fg_repo_open(&ro, &repo, &e) < 0) {
        if (e.code == FG_ESTOPPED && atomic_load(&watch.got)) { /* asked to stop: not a failure */
            fg_info("serve: %s during startup: %s", watch.sig == SIGTERM ? "SIGTERM" : "SIGINT", e.msg);
            rc = 0;
        } else {
            fprintf(stderr, "frugal serve: %s\n", e.msg);
        }
        goto out;
    }
    if (check_ab_targets(s.ab, repo, &e) < 0) {
        fprintf(stderr, "frugal serve: --abtest: %s\n", e.msg);
        goto out;
    }
    atomic_store_explicit(&s.repo, repo, memory_order_release);
    atomic_store_explicit(&s.ready, 1, memory_order_release);
    size_t n_models, n_versions;
    fg_repo_counts(repo, &n_models, &n_versions);
    printf("frugal serve: ready on http://%s:%u (%zu model%s, %zu version%s)\n", host, (unsigned)fg_net_port(net),
           n_models, n_models == 1 ? "" : "s", n_versions, n_versions == 1 ? "" : "s");
    fflush(stdout);
    fg_info("serve: %s: %zu model(s), %zu version(s), listening on %s:%u", ro.path, n_models, n_versions, host,
            (unsigned)fg_net_port(net));

    pthread_join(watcher, NULL);
    watching = 0;
    fg_info("serve: %s received, draining", watch.sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rc = 0;

out:
    atomic_store_explicit(&s.ready, 0, memory_order_release);
    /* stop accepting and let admitted requests be answered (their batches run meanwhile) */
    fg_net_stop(net);
    if (repo && rc == 0) {
        printf("frugal serve: KPIs over the last %ld s (price %.4g USD/h)\n", window, ro.price_per_hour);
        fg_repo_print_kpis(repo, stdout);
        fflush(stdout);
    }
    /* The repository before Redis: requests still queued after the network's drain complete while it
     * closes and may store results in Redis; a version waits for its holds (requests waiting on Redis,
     * which answers them within its timeout) before its queue stops. */
    fg_repo_close(repo, fg_now_ns() + (uint64_t)drain * 1000000000ull);
    fg_abset_free(s.ab); /* after the repository: its last completions record into the tests */
    fg_redis_free(s.redis);
    fg_cache_free(s.cache);
    fg_metrics_free(s.metrics);
    fg_v2_buf_free(&s.server_meta);
    if (watching) { /* an error path: wake the signal thread (its sigwait takes this one) and join it */
        pthread_kill(watcher, SIGTERM);
        pthread_join(watcher, NULL);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
