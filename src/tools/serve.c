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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/log.h"
#include "frugal/engine.h"
#include "serve/metrics.h"
#include "serve/net.h"
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
            "  --admin-token TOKEN      lets non-loopback callers load, unload and purge with\n"
            "                           'Authorization: Bearer TOKEN' (default: loopback only); also read\n"
            "                           from the environment variable FRUGAL_ADMIN_TOKEN\n"
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

typedef struct server {
    _Atomic(fg_repo *) repo;  /* NULL while the models load */
    atomic_int ready;
    const char *admin_token;  /* NULL: management only from loopback */
    fg_metrics *metrics;
    fg_v2_buf server_meta;
} server;

typedef struct job {
    server *s;
    fg_repo_version *v;
    fg_net_resp *resp;
    fg_v2_request r;
    fg_tensor ins[FG_SCHED_MAX_IO];
    fg_sched_req sr;
    uint64_t t0;
} job;

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

static void done_cb(void *user, int status, const fg_tensor *out, size_t n_out, const char *msg) {
    job *j = user;
    fg_repo_version *v = j->v;
    if (status < 0) {
        int oc = fg_repo_outcome(status);
        if (oc == FG_OUT_ERROR)
            fg_error("serve: model '%s' version %s failed: %s", v->model_name, v->vstr,
                     msg ? msg : fg_sched_strerror(status));
        infer_error(v, j->t0, j->resp, oc, msg ? msg : fg_sched_strerror(status));
        job_free(j);
        return;
    }
    fg_v2_output outs[FG_SCHED_MAX_IO];
    fg_tensor shaped[FG_SCHED_MAX_IO];
    size_t n = 0;
    for (size_t i = 0; i < n_out && i < FG_SCHED_MAX_IO; i++) {
        shaped[i] = out[i];
        if (v->out_reshape_rank[i] >= 0)
            fg_repo_reshape(&shaped[i], v->batch_dim, v->out_reshape[i], v->out_reshape_rank[i]);
    }
    out = shaped;
    if (j->r.n_outputs == 0) {
        for (size_t i = 0; i < n_out; i++)
            outs[n++] = (fg_v2_output){v->out[i].name, &out[i], j->r.binary_data_output};
    } else {
        for (size_t k = 0; k < j->r.n_outputs && n < FG_SCHED_MAX_IO; k++)
            for (size_t i = 0; i < n_out; i++)
                if (strcmp(v->out[i].name, j->r.outputs[k].name) == 0) {
                    int b = j->r.outputs[k].binary_data;
                    outs[n++] = (fg_v2_output){v->out[i].name, &out[i], b < 0 ? j->r.binary_data_output : b != 0};
                    break;
                }
    }
    fg_v2_buf b = {0};
    size_t json_len = 0;
    fg_err e = {0};
    if (fg_v2_encode_response(&b, v->model_name, v->vstr, j->r.id, outs, n, &json_len, &e) < 0) {
        fg_error("serve: encoding the response of '%s' failed: %s", v->model_name, e.msg);
        infer_error(v, j->t0, j->resp, e.code == FG_ENOMEM ? FG_OUT_UNAVAILABLE : FG_OUT_ERROR, e.msg);
    } else {
        uint64_t now = fg_now_ns();
        fg_metric_observe(v->duration, (double)(now - j->t0) / 1e9);
        fg_metric_inc(v->requests[FG_OUT_SUCCESS]);
        fg_kpi_request(v->kpi, now, now - j->t0, 1);
        if (json_len < b.len) {
            char num[32];
            int nl = snprintf(num, sizeof num, "%zu", json_len);
            static const char hname[] = "Inference-Header-Content-Length";
            fg_http_header h = {{hname, sizeof hname - 1}, {num, (size_t)nl}};
            fg_net_respond(j->resp, 200, "application/json", &h, 1, b.ptr, b.len);
        } else {
            fg_net_respond(j->resp, 200, "application/json", NULL, 0, b.ptr, b.len);
        }
    }
    fg_v2_buf_free(&b);
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
    fg_err e = {0};
    /* decoded before the lock: a large JSON body takes milliseconds */
    int rc = fg_v2_decode_request(req->body ? req->body : "", req->body_len, hdr_len, &j->r, &e);
    int why = 0;
    fg_repo_rdlock(repo);
    fg_repo_version *v = fg_repo_find(repo, name, nl, version, &why);
    if (!v) {
        fg_repo_unlock(repo);
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
        {"price-per-hour", required_argument, 0, 'c'},
        {"admin-token", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *host = "127.0.0.1";
    const char *admin_token = getenv("FRUGAL_ADMIN_TOKEN");
    long port = 8000, loops = 0, v = 0, poll_s = 0, window = 60, drain = 30;
    fg_repo_opts ro = {.overrides = fg_repo_overrides_none()};
    fg_repo_overrides *ov = &ro.overrides;
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
        case 'K': admin_token = optarg; break;
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
    /* listen first: liveness answers while the models load, readiness once they are warm */
    fg_net_config nc = {.host = host, .port = (uint16_t)port, .n_loops = (int)loops,
                        .stop_timeout_ms = (int)(drain * 1000)};
    if (fg_net_start(&nc, handle, &s, &net) < 0) {
        fprintf(stderr, "frugal serve: cannot listen on %s:%ld\n", host, port);
        goto out;
    }
    if (fg_repo_open(&ro, &repo, &e) < 0) {
        fprintf(stderr, "frugal serve: %s\n", e.msg);
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

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    fg_info("serve: %s received, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
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
    fg_repo_close(repo, fg_now_ns() + (uint64_t)drain * 1000000000ull);
    fg_metrics_free(s.metrics);
    fg_v2_buf_free(&s.server_meta);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
