/* bench.c - `frugal bench URL`: load generation against a KServe v2 model or a plain URL (closed loop,
 * open loop, or a profile of stages), honest latency (corrected for coordinated omission and service
 * time), the server's own view of each stage when the target is frugal (/metrics before and after),
 * gates for CI, and results as text, JSON (docs/bench.md), CSV and HTML; `--compare A.json B.json`
 * compares two saved runs, `--report A.json --html OUT` re-renders one. Exit 0 ok, 1 a threshold missed, 2 bad usage or the target cannot be used. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bench/loadgen.h"
#include "bench/profile.h"
#include "bench/report.h"
#include "bench/results.h"
#include "bench/target.h"
#include "bench/threshold.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "serve/scrape.h"
#include "tools/tools.h"

#ifndef FG_VERSION
#define FG_VERSION "0.0.0"
#endif

#define MAX_THRESHOLDS 64

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: frugal bench URL --model NAME [target options] [load options] [output options]\n"
            "       frugal bench URL [--method M] [--header 'K: V']... [--body-file F] [load options] [output options]\n"
            "       frugal bench --compare A.json B.json [--json]\n"
            "       frugal bench --report RESULTS.json --html OUT.html\n\n"
            "Drives a KServe v2 model (requests built from GET /v2/models/NAME) or a plain URL and reports\n"
            "latency from the intended send time (corrected for coordinated omission) and from the actual\n"
            "send (service time), errors by kind, dropped and late sends, its own CPU use, and, when the\n"
            "target is frugal, the server's batching, cache, queue vs compute time, CPU and cost per stage.\n\n"
            "target:\n"
            "  --model NAME          KServe v2 model to infer on (URL is the server, like http://127.0.0.1:8000)\n"
            "  --batch N             value of the model's -1 dimensions (default 1)\n"
            "  --inputs random|zipf:S:N  random inputs (a pool of %d), or N distinct ones picked by Zipf(S)\n"
            "  --input-file F        a v2 request body sent as is\n"
            "  --binary              binary tensors (Triton's binary tensor extension)\n"
            "  --method M            plain URL: GET (default; POST with --body-file), POST, PUT, ...\n"
            "  --header 'K: V'       extra request header (repeatable)\n"
            "  --body-file F         plain URL: request body\n"
            "load (default: closed loop, 1 connection, 10 s):\n"
            "  --concurrency N       closed loop with N connections\n"
            "  --rate R              open loop at R requests/s (like 1000 or 2k)\n"
            "  --arrival constant|poisson  open-loop gaps (default constant)\n"
            "  --duration D          how long (10s, 500ms, 2m); or\n"
            "  --requests N          this many requests\n"
            "  --profile FILE        stages: step, ramp, soak, spike, closed (docs/bench.md \"Profiles\")\n"
            "  --stability PCT       report a stage stable when its last 3 seconds' throughput agree within PCT%%\n"
            "  --threads N           load threads (default: online CPUs)\n"
            "  --max-connections N   open-loop connection cap (default 256); beyond it requests are dropped\n"
            "  --timeout D           per request, and the wait for answers at the end (default 10s)\n"
            "  --seed N              random inputs and arrivals (default 1)\n"
            "output:\n"
            "  --threshold EXPR      gate like 'p99<20ms', 'errors<0.1%%', 'rps>1000', 'dropped<1', '2:p95<5ms'\n"
            "                        (repeatable; a miss exits 1)\n"
            "  --json FILE           results document (docs/bench.md; '-' for stdout)\n"
            "  --csv FILE            one row per stage\n"
            "  --html FILE           self-contained HTML report\n"
            "  --quiet               no progress line on stderr\n"
            "  -h, --help            this help\n"
            "\nexit status: 0 ok, 1 a threshold missed, 2 bad usage or the target cannot be used (one line on\n"
            "stderr)\n",
            FG_BENCH_RANDOM_POOL);
}

static int usage_err(const char *fmt, const char *a) {
    fprintf(stderr, "frugal bench: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    return 2;
}

static int parse_uint(const char *s, unsigned long long min, unsigned long long max, unsigned long long *out) {
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- --compare */

static int read_json(const char *path, fg_json **doc) {
    char *text = NULL, err[1400];
    size_t len = 0;
    if (fg_read_whole_file(path, &text, &len, err, sizeof err) < 0) {
        fprintf(stderr, "frugal bench: %s\n", err);
        return -1;
    }
    fg_err e = {0};
    int rc = fg_json_parse(text, len, doc, &e);
    free(text);
    if (rc) {
        fprintf(stderr, "frugal bench: %s: %s\n", path, e.msg);
        return -1;
    }
    return 0;
}

static int cmd_compare(int argc, char **argv) {
    const char *a = NULL, *b = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--compare") == 0) {
            if (i + 2 >= argc)
                return usage_err("%s", "--compare takes two results files: --compare A.json B.json");
            a = argv[++i];
            b = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            return usage_err("with --compare only --json is allowed, got '%s'", argv[i]);
        }
    }
    fg_json *da = NULL, *db = NULL;
    if (read_json(a, &da) < 0 || read_json(b, &db) < 0) {
        fg_json_free(da);
        return 2;
    }
    fg_err e = {0};
    int rc = fg_bench_compare(da, db, a, b, json, stdout, &e);
    fg_json_free(da);
    fg_json_free(db);
    if (rc) {
        fprintf(stderr, "frugal bench: --compare: %s\n", e.msg);
        return 2;
    }
    return 0;
}

/* `--report FILE --html OUT`: re-renders a saved results document. */
static int cmd_report(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
            in = argv[++i];
        else if (strcmp(argv[i], "--html") == 0 && i + 1 < argc)
            out = argv[++i];
        else
            return usage_err("with --report only --html OUT is allowed, got '%s'", argv[i]);
    }
    if (!in || !out)
        return usage_err("%s", "--report FILE needs --html OUT");
    fg_json *doc = NULL;
    if (read_json(in, &doc) < 0)
        return 2;
    FILE *f = fopen(out, "w");
    if (!f) {
        fprintf(stderr, "frugal bench: cannot write %s: %s\n", out, strerror(errno));
        fg_json_free(doc);
        return 2;
    }
    fg_err e = {0};
    int rc = fg_bench_report_html(doc, f, &e);
    if (fclose(f) != 0 && rc == 0)
        rc = fg_err_set(&e, FG_EIO, "%s", strerror(errno));
    fg_json_free(doc);
    if (rc) {
        fprintf(stderr, "frugal bench: %s: %s\n", in, e.msg);
        remove(out);
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------- server scrapes */

typedef struct {
    char metrics_url[1500];
    int frugal, local;
    const char *model;
    fg_prom_doc *docs; /* n_stages + 1 scrapes at the boundaries */
    int *have;
    uint64_t *when;
    size_t n;
    const fg_stage *stages;
    int tty;
} bench_ctx;

static void on_boundary(void *user, size_t i) {
    bench_ctx *c = user;
    if (!c->frugal || i > c->n)
        return;
    char err[1400];
    c->have[i] = fg_scrape(c->metrics_url, &c->docs[i], NULL, err, sizeof err) == 0;
    c->when[i] = fg_now_ns();
}

static void on_progress(void *user, const fg_bench_progress *p) {
    bench_ctx *c = user;
    if (!c->tty)
        return;
    fprintf(stderr, "\r\033[K[stage %zu/%zu %s] %.1fs  sent %llu  ok %llu  errors %llu  dropped %llu  conns %u",
            p->stage + 1, c->n, c->stages[p->stage].name, p->elapsed_s, (unsigned long long)p->sent,
            (unsigned long long)p->ok, (unsigned long long)p->errors, (unsigned long long)p->dropped,
            p->connections);
    fflush(stderr);
}

/* The server's figures over stage i from the scrapes around it. */
static void server_stage(bench_ctx *c, size_t i, fg_bench_server *sv) {
    memset(sv, 0, sizeof *sv);
    if (!c->frugal || !c->have[i] || !c->have[i + 1])
        return;
    fg_scrape_kpis k;
    char err[1400];
    double wall = (double)(c->when[i + 1] - c->when[i]) / 1e9;
    if (fg_scrape_analyse(&c->docs[i], &c->docs[i + 1], wall, c->local, &k, err, sizeof err) < 0)
        return;
    const fg_scrape_model *m = NULL;
    for (size_t j = 0; j < k.n_models; j++) {
        const fg_scrape_model *x = &k.m[j];
        if (c->model ? strcmp(x->model, c->model) == 0 && (!m || x->total > m->total) : (!m || x->total > m->total))
            m = x;
    }
    sv->present = 1;
    sv->requests = m ? m->total : k.requests;
    sv->rps = m ? m->rps : k.rps;
    sv->batch_mean = m ? m->batch_mean : NAN;
    sv->batch_eff = m ? m->batch_eff : NAN;
    sv->hit_ratio = m ? m->hit_ratio : NAN;
    sv->queue_mean_s = m ? m->queue_mean : NAN;
    sv->compute_mean_s = m ? m->compute_mean : NAN;
    if (m) {
        sv->n_batch = m->n_batch_le < 64 ? m->n_batch_le : 64;
        memcpy(sv->batch_le, m->batch_le, sv->n_batch * sizeof *sv->batch_le);
        memcpy(sv->batch_cum, m->batch_cum, sv->n_batch * sizeof *sv->batch_cum);
    }
    sv->cpu_share = k.cpu_share;
    sv->cpu_estimate = k.cpu_estimate;
    sv->price = k.price;
    sv->cost_per_1k = k.cost_per_1k;
    fg_scrape_kpis_free(&k);
}

/* Whether the server at metrics_url is frugal (its /metrics has frugal_uptime_seconds). */
static int is_frugal(const char *metrics_url, int *local) {
    fg_prom_doc d = {0};
    char err[1400];
    if (fg_scrape(metrics_url, &d, local, err, sizeof err) < 0)
        return 0;
    size_t found = 0;
    fg_prom_sum(&d, "frugal_uptime_seconds", NULL, 0, &found);
    fg_prom_free(&d);
    return found > 0;
}

static volatile _Atomic int interrupted;
static void on_sigint(int sig) {
    (void)sig;
    atomic_store(&interrupted, 1);
}

/* ---------------------------------------------------------------- the command */

int fg_cmd_bench(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--compare") == 0)
            return cmd_compare(argc, argv);
        else if (strcmp(argv[i], "--report") == 0)
            return cmd_report(argc, argv);
    enum {
        O_MODEL = 256, O_BATCH, O_INPUTS, O_INPUT_FILE, O_BINARY, O_METHOD, O_HEADER, O_BODY_FILE, O_CONC, O_RATE,
        O_ARRIVAL, O_DURATION, O_REQUESTS, O_PROFILE, O_STABILITY, O_THREADS, O_MAXCONN, O_TIMEOUT, O_SEED,
        O_THRESHOLD, O_JSON, O_CSV, O_HTML, O_QUIET,
    };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},         {"batch", required_argument, 0, O_BATCH},
        {"inputs", required_argument, 0, O_INPUTS},       {"input-file", required_argument, 0, O_INPUT_FILE},
        {"binary", no_argument, 0, O_BINARY},             {"method", required_argument, 0, O_METHOD},
        {"header", required_argument, 0, O_HEADER},       {"body-file", required_argument, 0, O_BODY_FILE},
        {"concurrency", required_argument, 0, O_CONC},    {"rate", required_argument, 0, O_RATE},
        {"arrival", required_argument, 0, O_ARRIVAL},     {"duration", required_argument, 0, O_DURATION},
        {"requests", required_argument, 0, O_REQUESTS},   {"profile", required_argument, 0, O_PROFILE},
        {"stability", required_argument, 0, O_STABILITY}, {"threads", required_argument, 0, O_THREADS},
        {"max-connections", required_argument, 0, O_MAXCONN}, {"timeout", required_argument, 0, O_TIMEOUT},
        {"seed", required_argument, 0, O_SEED},           {"threshold", required_argument, 0, O_THRESHOLD},
        {"json", required_argument, 0, O_JSON},           {"csv", required_argument, 0, O_CSV},
        {"html", required_argument, 0, O_HTML},           {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, 'h'},                    {0, 0, 0, 0},
    };
    fg_bench_target_opts to = {.batch = 1, .seed = 1};
    unsigned long long conc = 0, requests = 0, threads = 0, maxconn = 256, u;
    double rate = 0, duration = 0, stability = 0, timeout = 10;
    const char *arrival = NULL, *profile = NULL, *json_path = NULL, *csv_path = NULL, *html_path = NULL;
    int quiet = 0, ch;
    fg_threshold *thr = fg_xcalloc(MAX_THRESHOLDS, sizeof *thr);
    size_t n_thr = 0;
    fg_err e = {0};
    int rc = 2;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_MODEL: to.model = optarg; break;
        case O_BATCH:
            if (parse_uint(optarg, 1, 1000000, &u) < 0) { rc = usage_err("--batch needs a whole number 1..1000000, got '%s'", optarg); goto out; }
            to.batch = (int64_t)u;
            break;
        case O_INPUTS: to.inputs = optarg; break;
        case O_INPUT_FILE: to.input_file = optarg; break;
        case O_BINARY: to.binary = 1; break;
        case O_METHOD:
            if (!*optarg || strlen(optarg) > 15 || strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(optarg)) {
                rc = usage_err("--method needs an upper-case HTTP method like GET or POST, got '%s'", optarg);
                goto out;
            }
            to.method = optarg;
            break;
        case O_HEADER:
            if (to.n_headers == FG_BENCH_MAX_HEADERS) { rc = usage_err("%s", "too many --header (at most 32)"); goto out; }
            to.headers[to.n_headers++] = optarg;
            break;
        case O_BODY_FILE: to.body_file = optarg; break;
        case O_CONC:
            if (parse_uint(optarg, 1, FG_BENCH_MAX_CONCURRENCY, &conc) < 0) { rc = usage_err("--concurrency needs a whole number 1..100000, got '%s'", optarg); goto out; }
            break;
        case O_RATE:
            if (fg_bench_parse_rate(optarg, &rate) < 0) { rc = usage_err("--rate needs requests per second like 1000 or 2k, got '%s'", optarg); goto out; }
            break;
        case O_ARRIVAL:
            if (strcmp(optarg, "constant") && strcmp(optarg, "poisson")) { rc = usage_err("--arrival is constant or poisson, got '%s'", optarg); goto out; }
            arrival = optarg;
            break;
        case O_DURATION:
            if (fg_bench_parse_duration(optarg, &duration) < 0) { rc = usage_err("--duration needs a time like 10s, 500ms or 2m, got '%s'", optarg); goto out; }
            break;
        case O_REQUESTS:
            if (parse_uint(optarg, 1, 1000000000000ull, &requests) < 0) { rc = usage_err("--requests needs a whole number >= 1, got '%s'", optarg); goto out; }
            break;
        case O_PROFILE: profile = optarg; break;
        case O_STABILITY: {
            char *end;
            stability = strtod(optarg, &end);
            if (end == optarg || (*end && strcmp(end, "%")) || !(stability > 0 && stability <= 100)) {
                rc = usage_err("--stability needs a percentage in (0, 100], got '%s'", optarg);
                goto out;
            }
            break;
        }
        case O_THREADS:
            if (parse_uint(optarg, 1, FG_BENCH_MAX_THREADS, &threads) < 0) { rc = usage_err("--threads needs a whole number 1..256, got '%s'", optarg); goto out; }
            break;
        case O_MAXCONN:
            if (parse_uint(optarg, 1, 1000000, &maxconn) < 0) { rc = usage_err("--max-connections needs a whole number 1..1000000, got '%s'", optarg); goto out; }
            break;
        case O_TIMEOUT:
            if (fg_bench_parse_duration(optarg, &timeout) < 0) { rc = usage_err("--timeout needs a time like 10s or 500ms, got '%s'", optarg); goto out; }
            break;
        case O_SEED:
            if (parse_uint(optarg, 0, UINT64_MAX, &u) < 0) { rc = usage_err("--seed needs a whole number, got '%s'", optarg); goto out; }
            to.seed = u;
            break;
        case O_THRESHOLD:
            if (n_thr == MAX_THRESHOLDS) { rc = usage_err("%s", "too many --threshold (at most 64)"); goto out; }
            if (fg_bench_threshold_parse(optarg, &thr[n_thr], &e) < 0) { rc = usage_err("%s", e.msg); goto out; }
            n_thr++;
            break;
        case O_JSON: json_path = optarg; break;
        case O_CSV: csv_path = optarg; break;
        case O_HTML: html_path = optarg; break;
        case O_QUIET: quiet = 1; break;
        case 'h': bench_usage(stdout); rc = 0; goto out;
        default:
            if (optopt)
                fprintf(stderr, "frugal bench: option %s needs a value or is unknown (see frugal bench --help)\n", argv[optind - 1]);
            else
                fprintf(stderr, "frugal bench: unknown option '%s' (see frugal bench --help)\n", argv[optind - 1]);
            goto out;
        }
    }
    if (optind != argc - 1) {
        rc = usage_err("%s", optind >= argc ? "expected one URL (like http://127.0.0.1:8000; see frugal bench --help)"
                                          : "expected exactly one URL argument (see frugal bench --help)");
        goto out;
    }
    to.url = argv[optind];
    if (strncasecmp(to.url, "http://", 7) != 0) { rc = usage_err("'%s' is not an http:// URL", to.url); goto out; }
    if (to.model && (to.method || to.body_file)) { rc = usage_err("%s", "--method and --body-file are for plain URLs, not --model"); goto out; }
    if (!to.model && (to.inputs || to.input_file || to.binary || to.batch != 1)) { rc = usage_err("%s", "--inputs, --input-file, --binary and --batch need --model"); goto out; }
    if (to.input_file && (to.inputs || to.binary)) { rc = usage_err("%s", "--input-file is sent as is: it does not go with --inputs or --binary"); goto out; }
    if (rate > 0 && conc > 0) { rc = usage_err("%s", "--rate (open loop) and --concurrency (closed loop) exclude each other"); goto out; }
    if (profile && (rate > 0 || conc > 0 || duration > 0 || requests > 0)) { rc = usage_err("%s", "--profile sets the load: it does not go with --rate, --concurrency, --duration or --requests"); goto out; }
    if (duration > 0 && requests > 0) { rc = usage_err("%s", "--duration and --requests exclude each other"); goto out; }
    if (arrival && rate == 0 && !profile) { rc = usage_err("%s", "--arrival is for open loop (--rate or --profile)"); goto out; }

    /* the stages */
    fg_stage *stages = NULL;
    size_t n_stages = 0;
    if (profile) {
        char *text = NULL, err[1400];
        size_t len = 0;
        if (fg_read_whole_file(profile, &text, &len, err, sizeof err) < 0) { rc = usage_err("%s", err); goto out; }
        int prc = fg_bench_profile_parse(text, len, profile, &stages, &n_stages, &e);
        free(text);
        if (prc < 0) { rc = usage_err("%s", e.msg); goto out; }
    } else {
        stages = fg_xcalloc(1, sizeof *stages);
        n_stages = 1;
        if (rate > 0) {
            stages[0].kind = FG_STAGE_CONSTANT;
            stages[0].rate = stages[0].rate_end = rate;
        } else {
            stages[0].kind = FG_STAGE_CLOSED;
            stages[0].concurrency = conc ? (uint32_t)conc : 1;
        }
        stages[0].requests = requests;
        stages[0].duration_s = requests ? 0 : duration > 0 ? duration : 10;
        fg_stage_default_name(&stages[0]);
    }
    int any_open = 0, any_closed = 0;
    uint32_t max_conc = 0;
    for (size_t i = 0; i < n_stages; i++) {
        if (fg_stage_is_open(&stages[i]))
            any_open = 1;
        else {
            any_closed = 1;
            if (stages[i].concurrency > max_conc)
                max_conc = stages[i].concurrency;
        }
    }
    if (!threads) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        threads = nc > 0 ? (unsigned long long)nc : 1;
        if (threads > FG_BENCH_MAX_THREADS)
            threads = FG_BENCH_MAX_THREADS;
    }
    if (!any_open && threads > max_conc)
        threads = max_conc; /* a thread without a connection would only idle */

    /* the target */
    fg_bench_target t;
    if (fg_bench_target_build(&to, &t, &e) < 0) {
        fprintf(stderr, "frugal bench: %s\n", e.msg);
        fg_bench_target_free(&t);
        free(stages);
        goto out;
    }
    bench_ctx c = {.model = to.model, .n = n_stages, .stages = stages, .tty = !quiet && isatty(2)};
    {
        fg_url mu = t.url;
        char bp[1024];
        snprintf(bp, sizeof bp, "%s", to.model ? t.url.path : "");
        size_t l = strlen(bp);
        while (l && bp[l - 1] == '/')
            bp[--l] = 0;
        snprintf(mu.path, sizeof mu.path, "%s/metrics", bp);
        fg_url_format(&mu, c.metrics_url, sizeof c.metrics_url);
        c.frugal = is_frugal(c.metrics_url, &c.local);
    }
    c.docs = fg_xcalloc(n_stages + 1, sizeof *c.docs);
    c.have = fg_xcalloc(n_stages + 1, sizeof *c.have);
    c.when = fg_xcalloc(n_stages + 1, sizeof *c.when);

    struct sigaction sa = {.sa_handler = on_sigint}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    atomic_store(&interrupted, 0);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    fg_bench_run_opts ro = {
        .target = &t, .stages = stages, .n_stages = n_stages,
        .poisson = arrival && strcmp(arrival, "poisson") == 0,
        .threads = (unsigned)threads, .max_connections = (unsigned)maxconn, .timeout_s = timeout,
        .stability_pct = stability, .seed = to.seed, .boundary_cb = on_boundary, .progress_cb = on_progress,
        .user = &c, .interrupt = &interrupted,
    };
    time_t started = time(NULL);
    fg_bench_result res;
    int run_rc = fg_bench_run(&ro, &res, &e);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (c.tty)
        fputs("\r\033[K", stderr);
    if (run_rc < 0) {
        fprintf(stderr, "frugal bench: %s\n", e.msg);
    } else {
        fg_bench_server *sv = fg_xcalloc(res.n_stages ? res.n_stages : 1, sizeof *sv);
        for (size_t i = 0; i < res.n_stages; i++)
            server_stage(&c, i, &sv[i]);
        double *tv = fg_xcalloc(n_thr ? n_thr : 1, sizeof *tv);
        int *tp = fg_xcalloc(n_thr ? n_thr : 1, sizeof *tp);
        fg_bench_report rep = {
            .version = FG_VERSION, .url = to.url, .model = to.model,
            .format = to.model ? (to.binary ? "binary" : "json") : NULL, .method = t.method, .frugal = c.frugal,
            .mode = any_open && any_closed ? "mixed" : any_open ? "open" : "closed",
            .arrival = any_open ? (arrival ? arrival : "constant") : NULL, .threads = (unsigned)threads,
            .max_connections = (unsigned)maxconn, .profile = profile, .inputs = to.model ? t.inputs : NULL,
            .timeout_s = timeout, .started_at = started, .stages = stages, .res = &res, .server = sv,
            .thr = thr, .n_thr = n_thr, .thr_value = tv, .thr_passed = tp,
        };
        int passed = fg_bench_eval_thresholds(&rep);
        rc = passed ? 0 : 1;
        int json_stdout = json_path && strcmp(json_path, "-") == 0;
        if (!json_stdout)
            fg_bench_write_text(stdout, &rep);
        if (json_path) {
            FILE *f = json_stdout ? stdout : fopen(json_path, "w");
            if (!f || fg_bench_write_json(f, &rep) < 0) {
                fprintf(stderr, "frugal bench: cannot write %s: %s\n", json_path, strerror(errno));
                rc = 2;
            }
            if (f && !json_stdout && fclose(f) != 0 && rc != 2) {
                fprintf(stderr, "frugal bench: cannot write %s: %s\n", json_path, strerror(errno));
                rc = 2;
            }
        }
        if (csv_path) {
            FILE *f = fopen(csv_path, "w");
            int wrc = f ? fg_bench_write_csv(f, &rep) : -1;
            if (f && fclose(f) != 0)
                wrc = -1;
            if (wrc < 0) {
                fprintf(stderr, "frugal bench: cannot write %s: %s\n", csv_path, strerror(errno));
                rc = 2;
            }
        }
        if (html_path) {
            char *mem = NULL;
            size_t mlen = 0;
            FILE *m = open_memstream(&mem, &mlen);
            fg_json *doc = NULL;
            fg_err he = {0};
            int hrc = m ? fg_bench_write_json(m, &rep) : FG_ENOMEM;
            if (m)
                fclose(m);
            if (hrc == 0)
                hrc = fg_json_parse(mem, mlen, &doc, &he);
            FILE *f = hrc == 0 ? fopen(html_path, "w") : NULL;
            if (hrc == 0 && !f)
                hrc = fg_err_set(&he, FG_EIO, "%s", strerror(errno));
            if (hrc == 0)
                hrc = fg_bench_report_html(doc, f, &he);
            if (f && fclose(f) != 0 && hrc == 0)
                hrc = fg_err_set(&he, FG_EIO, "%s", strerror(errno));
            if (hrc) {
                fprintf(stderr, "frugal bench: cannot write %s: %s\n", html_path, he.msg[0] ? he.msg : "out of memory");
                rc = 2;
            }
            fg_json_free(doc);
            free(mem);
        }
        free(sv);
        free(tv);
        free(tp);
        fg_bench_result_free(&res);
    }
    for (size_t i = 0; i <= n_stages; i++)
        fg_prom_free(&c.docs[i]);
    free(c.docs);
    free(c.have);
    free(c.when);
    fg_bench_target_free(&t);
    free(stages);
out:
    free(thr);
    return rc;
}
