/* serve.c - `frugal serve MODEL.onnx`: one model behind the KServe v2 HTTP API. The model is loaded
 * once; each instance owns one engine session; requests go through the dynamic batcher (sched.h) and
 * are answered from its completion callback. GET /metrics exposes the Prometheus registry. SIGTERM or
 * SIGINT stops accepting, drains in-flight requests and exits 0. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
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
#include "serve/sched.h"
#include "serve/v2.h"
#include "tools/tools.h"

#ifndef FG_VERSION
#define FG_VERSION "0.0.0"
#endif

static void serve_usage(FILE *f) {
    fprintf(f,
            "usage: frugal serve MODEL.onnx [options]\n\n"
            "Serves MODEL over HTTP with the KServe v2 (Open Inference Protocol) API; the model's name is\n"
            "the file name without its extension. Prints one line when ready; SIGTERM or SIGINT drains\n"
            "requests in flight and exits.\n\n"
            "options:\n"
            "  --host H                 address to bind (default 127.0.0.1)\n"
            "  --port P                 port (default 8000; 0 = pick a free port)\n"
            "  --loops N                HTTP event-loop threads (default: one per CPU)\n"
            "  --instances N            model instances, one engine session each (default 1)\n"
            "  --threads N              compute threads per instance (default 1)\n"
            "  --max-batch N            items per batch (default 8; 0 = no batching)\n"
            "  --max-queue-delay-us U   longest wait for a batch to fill (default 1000)\n"
            "  --max-queue N            requests waiting before 503 (default 128)\n"
            "  --price-per-hour USD     machine price for the cost metric (default 0.0)\n"
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

enum { ST_200, ST_400, ST_404, ST_405, ST_500, ST_503, ST_N };
static const char *const st_names[ST_N] = {"200", "400", "404", "405", "500", "503"};

typedef struct server {
    fg_model *model;
    char *name;
    size_t n_in, n_out;
    fg_tensor_info *in_copy; /* model inputs, contiguous, for fg_v2_validate_inputs */
    fg_session **sessions;
    int n_sessions;
    fg_sched *sched;
    int batching;
    fg_metrics *metrics;
    fg_metric *req_total[ST_N];
    fg_metric *duration;
    fg_metric *batch_size;
    fg_v2_buf server_meta, model_meta;
} server;

typedef struct job {
    server *s;
    fg_net_resp *resp;
    fg_v2_request r;
    fg_tensor ins[FG_SCHED_MAX_IO];
    fg_sched_req sr;
    uint64_t t0;
} job;

static int status_index(int status) {
    switch (status) {
    case 200: return ST_200;
    case 400: return ST_400;
    case 404: return ST_404;
    case 405: return ST_405;
    case 503: return ST_503;
    default: return ST_500;
    }
}

static void count(server *s, int status) { fg_metric_inc(s->req_total[status_index(status)]); }

/* Answers {"error": msg} with status, escaping msg. */
static void respond_error(server *s, fg_net_resp *resp, int status, const char *msg) {
    (void)s;
    char body[1024];
    size_t n = 0;
    n += (size_t)snprintf(body, sizeof body, "{\"error\":\"");
    for (const char *p = msg; *p && n < sizeof body - 16; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            body[n++] = '\\';
            body[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(body + n, sizeof body - n, "\\u%04x", c);
        } else {
            body[n++] = (char)c;
        }
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "\"}");
    fg_net_respond(resp, status, "application/json", NULL, 0, body, n);
}

/* An infer request's error: counted in frugal_requests_total (other routes are not). */
static void infer_error(server *s, fg_net_resp *resp, int status, const char *msg) {
    count(s, status);
    respond_error(s, resp, status, msg);
}

static void respond_json(server *s, fg_net_resp *resp, const char *body, size_t len) {
    (void)s;
    fg_net_respond(resp, 200, "application/json", NULL, 0, body, len);
}

static int run_cb(void *user, int instance, const fg_tensor *in, size_t n_in, int64_t n_items, fg_tensor *out,
                  size_t n_out, fg_err *e) {
    (void)n_items;
    server *s = user;
    return fg_session_run(s->sessions[instance], in, n_in, out, n_out, e);
}

static void batch_cb(void *user, const fg_sched_batch_info *info) {
    server *s = user;
    fg_metric_observe(s->batch_size, (double)info->n_items);
}

static void job_free(job *j) {
    fg_v2_request_free(&j->r);
    free(j);
}

static void done_cb(void *user, int status, const fg_tensor *out, size_t n_out, const char *msg) {
    job *j = user;
    server *s = j->s;
    if (status < 0) {
        int http = (status == FG_SCHED_EFULL || status == FG_SCHED_ETIMEDOUT || status == FG_SCHED_ESTOPPED ||
                    status == FG_ENOMEM)
                       ? 503
                       : (status == FG_ESHAPE || status == FG_EINVAL) ? 400 : 500;
        if (http == 500)
            fg_error("serve: model '%s' failed: %s", s->name, msg ? msg : fg_sched_strerror(status));
        infer_error(s, j->resp, http, msg ? msg : fg_sched_strerror(status));
        job_free(j);
        return;
    }
    fg_v2_output outs[FG_SCHED_MAX_IO];
    size_t n = 0;
    if (j->r.n_outputs == 0) {
        for (size_t i = 0; i < n_out; i++)
            outs[n++] = (fg_v2_output){fg_model_output(s->model, i)->name, &out[i], j->r.binary_data_output};
    } else {
        for (size_t k = 0; k < j->r.n_outputs && n < FG_SCHED_MAX_IO; k++) {
            for (size_t i = 0; i < n_out; i++) {
                if (strcmp(fg_model_output(s->model, i)->name, j->r.outputs[k].name) == 0) {
                    int b = j->r.outputs[k].binary_data;
                    outs[n++] = (fg_v2_output){fg_model_output(s->model, i)->name, &out[i],
                                               b < 0 ? j->r.binary_data_output : b != 0};
                    break;
                }
            }
        }
    }
    fg_v2_buf b = {0};
    size_t json_len = 0;
    fg_err e = {0};
    if (fg_v2_encode_response(&b, s->name, "1", j->r.id, outs, n, &json_len, &e) < 0) {
        fg_error("serve: encoding the response of '%s' failed: %s", s->name, e.msg);
        infer_error(s, j->resp, 500, e.msg);
    } else {
        fg_metric_observe(s->duration, (double)(fg_now_ns() - j->t0) / 1e9);
        count(s, 200);
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

static const fg_http_slice *find_header(const fg_net_request *req, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++)
        if (req->headers[i].name.len == n && strncasecmp(req->headers[i].name.ptr, name, n) == 0)
            return &req->headers[i].value;
    return NULL;
}

static void infer(server *s, const fg_net_request *req, fg_net_resp *resp) {
    int64_t hdr_len = -1;
    const fg_http_slice *h = find_header(req, "Inference-Header-Content-Length");
    if (h) {
        char tmp[32];
        if (h->len == 0 || h->len >= sizeof tmp) {
            infer_error(s, resp, 400, "bad Inference-Header-Content-Length");
            return;
        }
        memcpy(tmp, h->ptr, h->len);
        tmp[h->len] = 0;
        char *end;
        errno = 0;
        long long v = strtoll(tmp, &end, 10);
        if (errno || *end || v < 0 || (unsigned long long)v > req->body_len) {
            infer_error(s, resp, 400, "bad Inference-Header-Content-Length");
            return;
        }
        hdr_len = v;
    }
    job *j = calloc(1, sizeof *j);
    if (!j) {
        fg_error("serve: out of memory for a request");
        infer_error(s, resp, 503, "out of memory");
        return;
    }
    j->s = s;
    j->resp = resp;
    fg_err e = {0};
    int rc = fg_v2_decode_request(req->body ? req->body : "", req->body_len, hdr_len, &j->r, &e);
    if (rc == 0)
        rc = fg_v2_validate_inputs(&j->r, s->in_copy, s->n_in, &e);
    if (rc == 0) {
        for (size_t k = 0; k < j->r.n_outputs && rc == 0; k++) {
            size_t i = 0;
            while (i < s->n_out && strcmp(fg_model_output(s->model, i)->name, j->r.outputs[k].name) != 0)
                i++;
            if (i == s->n_out) {
                snprintf(e.msg, sizeof e.msg, "unknown output '%.100s'", j->r.outputs[k].name);
                rc = FG_EINVAL;
            }
        }
    }
    if (rc < 0) {
        infer_error(s, resp, rc == FG_ENOMEM ? 503 : 400, e.msg);
        job_free(j);
        return;
    }
    /* model input order */
    for (size_t i = 0; i < s->n_in; i++)
        for (size_t k = 0; k < j->r.n_inputs; k++)
            if (strcmp(j->r.inputs[k].name, s->in_copy[i].name) == 0)
                j->ins[i] = j->r.inputs[k].t;
    j->sr = (fg_sched_req){
        .n_items = s->batching ? j->ins[0].dims[0] : 1,
        .inputs = j->ins,
        .n_inputs = s->n_in,
        .timeout_us = j->r.timeout_us > 0 ? (uint64_t)j->r.timeout_us : 0,
        .done_cb = done_cb,
        .user = j,
    };
    j->t0 = fg_now_ns();
    rc = fg_sched_submit(s->sched, &j->sr);
    if (rc < 0) {
        int http = (rc == FG_EINVAL || rc == FG_ESHAPE) ? 400 : 503;
        infer_error(s, resp, http, fg_sched_strerror(rc));
        job_free(j);
    }
}

/* Routes one request; answers it here, or (infer) hands it to the scheduler. */
static void handle(void *user, const fg_net_request *req, fg_net_resp *resp) {
    server *s = user;
    int get = req->method_id == FG_HTTP_GET || req->method_id == FG_HTTP_HEAD;
    int post = req->method_id == FG_HTTP_POST;
    fg_http_slice p = req->path;
    static const char pre[] = "/v2/models/";
    const size_t pl = sizeof pre - 1;
    if (slice_is(p, "/v2/health/live") || slice_is(p, "/v2/health/ready")) {
        if (get)
            respond_json(s, resp, "{}", 2);
        else
            respond_error(s, resp, 405, "method not allowed");
    } else if (slice_is(p, "/v2") || slice_is(p, "/v2/")) {
        if (get)
            respond_json(s, resp, s->server_meta.ptr, s->server_meta.len);
        else
            respond_error(s, resp, 405, "method not allowed");
    } else if (slice_is(p, "/metrics")) {
        fg_metrics_buf b = {0};
        if (!get) {
            respond_error(s, resp, 405, "method not allowed");
        } else if (fg_metrics_write(s->metrics, &b) < 0) {
            fg_error("serve: out of memory rendering metrics");
            respond_error(s, resp, 503, "out of memory");
        } else {
            fg_net_respond(resp, 200, FG_METRICS_CONTENT_TYPE, NULL, 0, b.data, b.len);
        }
        fg_metrics_buf_free(&b);
    } else if (p.len > pl && memcmp(p.ptr, pre, pl) == 0) {
        const char *name = p.ptr + pl;
        size_t rest_len = p.len - pl, nl = 0;
        while (nl < rest_len && name[nl] != '/')
            nl++;
        fg_http_slice rest = {name + nl, rest_len - nl};
        static const char ver[] = "/versions/1";
        const size_t vl = sizeof ver - 1;
        int bad_version = 0;
        if (rest.len >= vl && memcmp(rest.ptr, ver, vl) == 0 && (rest.len == vl || rest.ptr[vl] == '/')) {
            rest.ptr += vl;
            rest.len -= vl;
        } else if (rest.len >= 9 && memcmp(rest.ptr, "/versions", 9) == 0) {
            bad_version = 1;
        }
        if (nl != strlen(s->name) || memcmp(name, s->name, nl) != 0)
            respond_error(s, resp, 404, "unknown model");
        else if (bad_version)
            respond_error(s, resp, 404, "unknown model version");
        else if (rest.len == 0 || slice_is(rest, "/") || slice_is(rest, "/ready")) {
            if (!get)
                respond_error(s, resp, 405, "method not allowed");
            else if (rest.len > 1)
                respond_json(s, resp, "{}", 2);
            else
                respond_json(s, resp, s->model_meta.ptr, s->model_meta.len);
        } else if (slice_is(rest, "/infer")) {
            if (post)
                infer(s, req, resp);
            else
                respond_error(s, resp, 405, "method not allowed");
        } else {
            respond_error(s, resp, 404, "not found");
        }
    } else {
        respond_error(s, resp, 404, "not found");
    }
}

static char *model_stem(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, b, n);
        r[n] = 0;
    }
    return r;
}

static int setup_metrics(server *s, double price, fg_err *e) {
    s->metrics = fg_metrics_new();
    const char *lab3[] = {"model", "version", "status"};
    const char *lab2[] = {"model", "version"};
    fg_metric_family *req =
        fg_metrics_counter(s->metrics, "frugal_requests_total", "Infer requests by HTTP status.", lab3, 3, e);
    fg_metric_family *lat = fg_metrics_histogram(s->metrics, "frugal_request_duration_seconds",
                                                 "Infer request latency, queue and compute, in seconds.", lab2,
                                                 2, FG_METRICS_LATENCY_BUCKETS, FG_METRICS_N_LATENCY_BUCKETS, e);
    fg_metric_family *bs =
        fg_metrics_histogram(s->metrics, "frugal_batch_size", "Items per executed batch.", lab2, 2,
                             FG_METRICS_BATCH_BUCKETS, FG_METRICS_N_BATCH_BUCKETS, e);
    if (!req || !lat || !bs)
        return -1;
    for (int i = 0; i < ST_N; i++) {
        const char *v[] = {s->name, "1", st_names[i]};
        if (!(s->req_total[i] = fg_metrics_series(req, v, e)))
            return -1;
    }
    const char *v2[] = {s->name, "1"};
    if (!(s->duration = fg_metrics_series(lat, v2, e)) || !(s->batch_size = fg_metrics_series(bs, v2, e)))
        return -1;
    return fg_metrics_process_register(s->metrics, price, e) < 0 ? -1 : 0;
}

int fg_cmd_serve(int argc, char **argv) {
    static const struct option opts[] = {
        {"host", required_argument, 0, 'H'},
        {"port", required_argument, 0, 'p'},
        {"loops", required_argument, 0, 'l'},
        {"instances", required_argument, 0, 'i'},
        {"threads", required_argument, 0, 't'},
        {"max-batch", required_argument, 0, 'b'},
        {"max-queue-delay-us", required_argument, 0, 'd'},
        {"max-queue", required_argument, 0, 'q'},
        {"price-per-hour", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *host = "127.0.0.1";
    long port = 8000, loops = 0, instances = 1, threads = 1, max_batch = 8, delay_us = 1000, max_queue = 128;
    double price = 0.0;
    optind = 1;
    int ch, bad = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'H': host = optarg; break;
        case 'p': bad |= parse_long(optarg, "--port", 0, 65535, &port); break;
        case 'l': bad |= parse_long(optarg, "--loops", 1, 1024, &loops); break;
        case 'i': bad |= parse_long(optarg, "--instances", 1, 256, &instances); break;
        case 't': bad |= parse_long(optarg, "--threads", 1, 1024, &threads); break;
        case 'b': bad |= parse_long(optarg, "--max-batch", 0, 1 << 20, &max_batch); break;
        case 'd': bad |= parse_long(optarg, "--max-queue-delay-us", 0, 60000000, &delay_us); break;
        case 'q': bad |= parse_long(optarg, "--max-queue", 1, 1 << 24, &max_queue); break;
        case 'c': {
            char *end;
            errno = 0;
            price = strtod(optarg, &end);
            if (errno || end == optarg || *end || !isfinite(price) || price < 0) {
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
        fprintf(stderr, "frugal serve: expected one MODEL.onnx argument (see frugal serve --help)\n");
        return 2;
    }
    const char *path = argv[optind];
    int rc = 1;
    server s = {0};
    fg_net_server *net = NULL;
    fg_err e = {0};

    /* block the stop signals in every thread started from here; the main thread waits for them */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);

    s.name = model_stem(path);
    if (!s.name) {
        fprintf(stderr, "frugal serve: out of memory\n");
        goto out;
    }
    s.model = fg_model_load(path, NULL, &e);
    if (!s.model) {
        fprintf(stderr, "frugal serve: %s\n", e.msg);
        goto out;
    }
    s.n_in = fg_model_n_inputs(s.model);
    s.n_out = fg_model_n_outputs(s.model);
    if (s.n_in < 1 || s.n_in > FG_SCHED_MAX_IO || s.n_out < 1 || s.n_out > FG_SCHED_MAX_IO) {
        fprintf(stderr, "frugal serve: model has %zu inputs and %zu outputs; 1..%d of each are supported\n",
                s.n_in, s.n_out, FG_SCHED_MAX_IO);
        goto out;
    }
    s.in_copy = calloc(s.n_in, sizeof *s.in_copy);
    fg_tensor_info out_copy[FG_SCHED_MAX_IO];
    if (!s.in_copy) {
        fprintf(stderr, "frugal serve: out of memory\n");
        goto out;
    }
    s.batching = max_batch > 0;
    for (size_t i = 0; i < s.n_in; i++) {
        s.in_copy[i] = *fg_model_input(s.model, i);
        if (s.in_copy[i].rank < 1 || s.in_copy[i].dims[0] >= 0)
            s.batching = 0;
    }
    for (size_t i = 0; i < s.n_out; i++)
        out_copy[i] = *fg_model_output(s.model, i);
    const char *versions[] = {"1"};
    if (fg_v2_encode_server_metadata(&s.server_meta, FG_VERSION, &e) < 0 ||
        fg_v2_encode_model_metadata(&s.model_meta, s.name, versions, 1, s.in_copy, s.n_in, out_copy, s.n_out,
                                    &e) < 0) {
        fprintf(stderr, "frugal serve: %s\n", e.msg);
        goto out;
    }
    s.sessions = calloc((size_t)instances, sizeof *s.sessions);
    if (!s.sessions) {
        fprintf(stderr, "frugal serve: out of memory\n");
        goto out;
    }
    fg_session_opts so = {.n_threads = (int)threads};
    for (int i = 0; i < instances; i++, s.n_sessions++) {
        if (!(s.sessions[i] = fg_session_new(s.model, &so, &e))) {
            fprintf(stderr, "frugal serve: %s\n", e.msg);
            goto out;
        }
    }
    if (setup_metrics(&s, price, &e) < 0) {
        fprintf(stderr, "frugal serve: metrics: %s\n", e.msg);
        goto out;
    }
    fg_sched_config sc = {
        .max_batch_size = s.batching ? max_batch : 0,
        .max_queue_delay_us = (uint64_t)delay_us,
        .max_queue_size = (size_t)max_queue,
        .allow_timeout_override = 1,
        .n_inputs = s.n_in,
        .n_outputs = s.n_out,
        .batch_cb = batch_cb,
        .batch_user = &s,
    };
    if (!(s.sched = fg_sched_new(&sc, &e))) {
        fprintf(stderr, "frugal serve: scheduler: %s\n", e.msg);
        goto out;
    }
    if (fg_sched_start(s.sched, (int)instances, run_cb, &s, &e) < 0) {
        fprintf(stderr, "frugal serve: scheduler: %s\n", e.msg);
        fg_sched_stop(s.sched, 0);
        s.sched = NULL;
        goto out;
    }
    fg_net_config nc = {.host = host, .port = (uint16_t)port, .n_loops = (int)loops};
    if (fg_net_start(&nc, handle, &s, &net) < 0) {
        fprintf(stderr, "frugal serve: cannot listen on %s:%ld\n", host, port);
        goto out;
    }
    printf("frugal serve: model %s on http://%s:%u\n", s.name, host, (unsigned)fg_net_port(net));
    fflush(stdout);
    fg_info("serve: model %s (%zu inputs, batching %s), %ld instance(s), listening on %s:%u", s.name, s.n_in,
            s.batching ? "on" : "off", instances, host, (unsigned)fg_net_port(net));

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    fg_info("serve: %s received, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    rc = 0;

out:
    fg_net_stop(net);
    fg_sched_stop(s.sched, 0);
    for (int i = 0; i < s.n_sessions; i++)
        fg_session_free(s.sessions[i]);
    free(s.sessions);
    fg_metrics_free(s.metrics);
    fg_v2_buf_free(&s.server_meta);
    fg_v2_buf_free(&s.model_meta);
    free(s.in_copy);
    fg_model_free(s.model);
    free(s.name);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
