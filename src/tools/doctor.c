/* doctor.c - `frugal doctor URL`: scrapes a frugal server's /metrics twice (or reads two saved
 * scrapes), computes each model's KPIs over the interval (throughput and errors by outcome, latency
 * quantiles from histogram bucket deltas, queue vs compute time, batching, instance busy share, CPU,
 * cost, cache) and runs a checklist of known problems, each finding with its evidence and a concrete
 * change (a flag or a config.pbtxt field). Exit 0 healthy, 1 findings, 2 could not read. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "serve/scrape.h"
#include "tools/tools.h"


static void doctor_usage(FILE *f) {
    fprintf(f,
            "usage: frugal doctor URL [options]\n"
            "       frugal doctor --from SCRAPE1 --to SCRAPE2 [options]\n\n"
            "Reads a frugal server's /metrics twice, --interval apart (URL like http://127.0.0.1:8000), or\n"
            "two saved scrapes, computes each model's KPIs over that interval and checks them for known\n"
            "problems: small batches at low CPU, p99 over the SLO (queue- or compute-bound), errors by kind,\n"
            "cache thrash, warmup spikes, idle cost, cost over budget. Each finding names its evidence and\n"
            "a change to make (a flag of frugal serve or a config.pbtxt field). Server CPU use is counted\n"
            "against this machine's cores: an estimate when the server runs elsewhere.\n\n"
            "options:\n"
            "  --interval SECS      time between the two scrapes (default 5)\n"
            "  --slo-p99-ms MS      p99 latency objective (default 250)\n"
            "  --budget-per-1k USD  flag a cost per 1000 requests above USD\n"
            "  --from FILE1         with --to FILE2: two saved scrapes (curl URL/metrics > FILE) instead of\n"
            "  --to FILE2           a live server; the interval is the difference of their uptimes\n"
            "  --json               print one JSON object instead of text\n"
            "  -h, --help           this help\n"
            "\nexit status: 0 healthy (or no traffic), 1 findings, 2 could not read the metrics (one line\n"
            "on stderr) or bad usage\n");
}

/* ---------------------------------------------------------------- findings */

typedef struct {
    const char *id, *severity;
    const fg_scrape_model *m;
    size_t seq; /* checklist order, to keep it within a severity */
    char evidence[512], change[512];
} finding;

typedef struct {
    finding *f;
    size_t n, cap;
} findings;

static finding *add(findings *fs, const char *id, const char *sev, const fg_scrape_model *m) {
    if (fs->n == fs->cap) {
        fs->cap = fs->cap ? 2 * fs->cap : 16;
        fs->f = fg_xrealloc(fs->f, fs->cap * sizeof *fs->f);
    }
    finding *f = &fs->f[fs->n++];
    memset(f, 0, sizeof *f);
    f->id = id;
    f->severity = sev;
    f->m = m;
    f->seq = fs->n;
    return f;
}


static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

/* ---------------------------------------------------------------- the checklist */

#define MS(x) ((x) * 1e3)

static void check(const fg_scrape_kpis *s, double slo_s, double budget, findings *fs) {
    for (size_t i = 0; i < s->n_models; i++) {
        const fg_scrape_model *k = &s->m[i];
        if (k->total <= 0)
            continue;
        finding *f;
        /* errors by kind */
        static const struct {
            int o;
            const char *id, *sev, *change;
        } errs[] = {
            {2, "rejected", "critical",
             "raise --max-queue (config.pbtxt dynamic_batching.default_queue_policy.max_queue_size) or add "
             "--instances (instance_group count) so the queue drains faster"},
            {3, "timeout", "critical",
             "raise --timeout-us (dynamic_batching.default_queue_policy.default_timeout_microseconds) or the "
             "clients' parameters.timeout, or add --instances so requests wait less"},
            {1, "bad_request", "warning",
             "fix the client: each 400 body names the problem (bad JSON, unknown input, wrong dtype or shape); "
             "check it against GET /v2/models/MODEL"},
            {5, "server_error", "critical", "read the server log (stderr) around the failing requests"},
            {4, "unavailable", "warning",
             "requests reached a model that was loading, unloading or draining: wait for /v2/health/ready, "
             "check the log for load errors"},
        };
        for (size_t e = 0; e < sizeof errs / sizeof errs[0]; e++) {
            double n = k->req[errs[e].o], r = n / k->total;
            if (n <= 0 || (errs[e].o != 5 && r < 0.01))
                continue;
            f = add(fs, errs[e].id, errs[e].sev, k);
            snprintf(f->evidence, sizeof f->evidence, "%.0f of %.0f requests (%.1f %%) were %s (%.2f/s)", n,
                     k->total, 100 * r, fg_scrape_outcomes[errs[e].o], n / s->interval);
            snprintf(f->change, sizeof f->change, "%s", errs[e].change);
        }
        /* p99 over the SLO: queue- or compute-bound */
        if (isfinite(k->p99) && k->p99 > slo_s) {
            int queue = isfinite(k->queue_mean) && (!isfinite(k->compute_mean) || k->queue_mean >= k->compute_mean);
            f = add(fs, queue ? "queue_p99" : "compute_p99", "critical", k);
            snprintf(f->evidence, sizeof f->evidence,
                     "p99 %.1f ms > SLO %.0f ms (p50 %.1f ms); mean queue %.2f ms vs mean compute %.2f ms per "
                     "request",
                     MS(k->p99), MS(slo_s), MS(k->p50), MS(k->queue_mean), MS(k->compute_mean));
            if (queue && isfinite(k->busy_mean) && k->busy_mean >= 0.7)
                snprintf(f->change, sizeof f->change,
                         "requests wait for busy instances (%.0f %% busy): add --instances (instance_group "
                         "count), or lower --max-queue-delay-us (dynamic_batching.max_queue_delay_microseconds)",
                         100 * k->busy_mean);
            else if (queue)
                snprintf(f->change, sizeof f->change,
                         "requests wait for the batching delay while instances are mostly idle (%.0f %% busy): "
                         "lower --max-queue-delay-us (dynamic_batching.max_queue_delay_microseconds) or use "
                         "--batch-delay adaptive; add --instances only if they get busy",
                         isfinite(k->busy_mean) ? 100 * k->busy_mean : 0);
            else
                snprintf(f->change, sizeof f->change,
                         "compute dominates: give each instance more --threads, or serve a smaller model "
                         "(quantize it, or a smaller architecture)");
        }
        /* small batches at low CPU under load */
        double conc = k->rps * (isfinite(k->lat_mean) ? k->lat_mean : 0);
        int load = k->rps >= 20 &&
                   (conc >= 1 || (isfinite(k->queue_mean) && k->queue_mean >= 0.001 &&
                                  (!isfinite(k->compute_mean) || k->queue_mean >= k->compute_mean)));
        int small = isfinite(k->batch_mean) && k->batch_mean < 2 &&
                    ((isfinite(k->max_batch) && k->max_batch <= 1) || (isfinite(k->batch_eff) && k->batch_eff < 0.25));
        int rejecting = k->req[2] >= 0.01 * k->total; /* a queue cap explains small batches */
        if (load && small && !rejecting && isfinite(s->cpu_share) && s->cpu_share < 0.6) {
            f = add(fs, "small_batches", "warning", k);
            snprintf(f->evidence, sizeof f->evidence,
                     "%.0f req/s with %.1f requests in the server on average, mean batch %.2f items (max %.0f, "
                     "efficiency %.0f %%), server CPU %.0f %%%s",
                     k->rps, conc, k->batch_mean, k->max_batch, 100 * k->batch_eff, 100 * s->cpu_share,
                     s->cpu_estimate ? " (estimate)" : "");
            if (isfinite(k->max_batch) && k->max_batch <= 1)
                snprintf(f->change, sizeof f->change,
                         "raise --max-batch (config.pbtxt max_batch_size), e.g. 8 or 16, so concurrent requests "
                         "share a run");
            else
                snprintf(f->change, sizeof f->change,
                         "raise --max-queue-delay-us (dynamic_batching.max_queue_delay_microseconds) or set "
                         "preferred_batch_size so batches fill (max is %.0f)",
                         k->max_batch);
        }
        /* cache thrash */
        double lookups = k->hits_local + k->misses_local;
        if (lookups >= 10 && k->insertions >= 5 && k->hit_ratio < 0.2 && k->evictions >= 0.5 * k->insertions) {
            f = add(fs, "cache_thrash", "warning", k);
            snprintf(f->evidence, sizeof f->evidence,
                     "cache hit ratio %.1f %% over %.0f lookups, %.0f evictions for %.0f insertions",
                     100 * k->hit_ratio, lookups, k->evictions, k->insertions);
            snprintf(f->change, sizeof f->change,
                     "entries are evicted before they are reused: raise --cache-bytes, or store only repeated "
                     "inputs with --cache-admission second-hit (or turn the cache off: response_cache { enable: "
                     "false })");
        }
        /* warmup spikes */
        int early_slow = s->uptime1 < 300 && isfinite(k->warm_lo) && k->warm_lo >= 0.05 &&
                         (!isfinite(k->p99) || k->warm_lo >= 4 * k->p99);
        int early_tail = s->uptime1 < 60 && isfinite(k->p99) && k->p99 > slo_s && k->p50 > 0 && k->p99 >= 20 * k->p50 &&
                         !(isfinite(k->queue_mean) && k->queue_mean >= 0.25 * k->p99);
        if (early_slow || early_tail) {
            f = add(fs, "warmup", "warning", k);
            if (early_slow)
                snprintf(f->evidence, sizeof f->evidence,
                         "server up %.0f s at the first scrape; its slowest requests took over %.0f ms, the "
                         "interval's p99 is %.1f ms",
                         s->uptime1, MS(k->warm_lo), MS(k->p99));
            else
                snprintf(f->evidence, sizeof f->evidence,
                         "server up %.0f s; p99 %.1f ms is %.0fx p50 %.2f ms and the queue does not explain it",
                         s->uptime1, MS(k->p99), k->p99 / k->p50, MS(k->p50));
            snprintf(f->change, sizeof f->change,
                     "warm the model up before it is ready: add model_warmup samples to config.pbtxt (at each "
                     "batch size you serve) and do not run with --no-warmup");
        }
    }
    if (s->requests > 0 && isfinite(s->idle_share) && s->idle_share > 0.7 && (s->n_inst >= 2 || s->price > 0)) {
        finding *f = add(fs, "idle_cost", s->n_inst >= 2 ? "warning" : "info", NULL);
        snprintf(f->evidence, sizeof f->evidence,
                 "%.0f %% of instance time is idle (%zu instances, %.1f req/s)%s", 100 * s->idle_share, s->n_inst,
                 s->rps, s->price > 0 ? "" : "; no --price-per-hour set");
        if (s->price > 0) {
            size_t l = strlen(f->evidence);
            snprintf(f->evidence + l, sizeof f->evidence - l, "; $%.4f/h, of which about $%.4f/h pays for idle time",
                     s->price, s->price * s->idle_share);
        }
        snprintf(f->change, sizeof f->change,
                 "serve with fewer --instances (instance_group count) or on a smaller machine "
                 "(--price-per-hour follows it)");
    }
    if (budget > 0 && isfinite(s->cost_per_1k) && s->cost_per_1k > budget) {
        finding *f = add(fs, "over_budget", "warning", NULL);
        snprintf(f->evidence, sizeof f->evidence, "$%.5f per 1000 requests > budget $%.5f (%.1f req/s at $%.4f/h)",
                 s->cost_per_1k, budget, s->rps, s->price);
        snprintf(f->change, sizeof f->change,
                 "the machine costs the same at any load: send it more traffic per instance, use fewer "
                 "--instances or a cheaper machine, and raise --max-batch so each run serves more requests");
    }
}

static int sev_rank(const char *s) { return strcmp(s, "critical") == 0 ? 0 : strcmp(s, "warning") == 0 ? 1 : 2; }

/* critical first, then warning, then info; the checklist's order within a severity */
static int by_severity(const void *a, const void *b) {
    const finding *x = a, *y = b;
    int d = sev_rank(x->severity) - sev_rank(y->severity);
    return d ? d : x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---------------------------------------------------------------- output */

static void json_str(FILE *f, const char *s) { fg_json_write_str(f, s, strlen(s)); }

static void json_num(FILE *f, double v) {
    if (isfinite(v))
        fprintf(f, "%.6g", v);
    else
        fputs("null", f);
}

/* Writes a key (with its leading separator and colon, e.g. ",\"rps\":") and a number. */
static void json_kv(FILE *f, const char *key, double v) {
    fputs(key, f);
    json_num(f, v);
}

static void print_json(FILE *f, const char *source, const fg_scrape_kpis *s, double slo, const findings *fs) {
    fputs("{\"source\":", f);
    json_str(f, source);
    json_kv(f, ",\"interval_s\":", s->interval);
    json_kv(f, ",\"slo_p99_s\":", slo);
    fprintf(f, ",\"server\":{\"uptime_s\":");
    json_num(f, s->uptime2);
    json_kv(f, ",\"requests\":", s->requests);
    json_kv(f, ",\"rps\":", s->rps);
    json_kv(f, ",\"cpu_share\":", s->cpu_share);
    fprintf(f, ",\"cpu_estimate\":%s,\"online_cpus\":%.0f,\"price_per_hour_usd\":", s->cpu_estimate ? "true" : "false",
            s->ncpu);
    json_num(f, s->price);
    json_kv(f, ",\"cost_usd\":", s->cost);
    json_kv(f, ",\"cost_per_1k_usd\":", s->cost_per_1k);
    json_kv(f, ",\"idle_cost_share\":", s->idle_share);
    fprintf(f, ",\"instances\":%zu},\"models\":[", s->n_inst);
    for (size_t i = 0; i < s->n_models; i++) {
        const fg_scrape_model *k = &s->m[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", f);
        json_str(f, k->model);
        fputs(",\"version\":", f);
        json_str(f, k->version);
        json_kv(f, ",\"requests\":", k->total);
        json_kv(f, ",\"rps\":", k->rps);
        fputs(",\"outcomes\":{", f);
        for (int o = 0; o < FG_SCRAPE_N_OUT; o++) {
            fprintf(f, "%s\"%s\":{\"rps\":", o ? "," : "", fg_scrape_outcomes[o]);
            json_num(f, k->req[o] / s->interval);
            json_kv(f, ",\"ratio\":", ratio(k->req[o], k->total));
            fputc('}', f);
        }
        static const char *const keys[] = {"p50_s", "p95_s", "p99_s", "mean_latency_s", "mean_queue_s",
                                           "mean_compute_s", "mean_batch_size", "batch_efficiency",
                                           "max_batch_size", "mean_busy_share", "cache_hit_ratio",
                                           "cache_hits_local", "cache_misses_local", "cache_hits_redis",
                                           "cache_misses_redis", "cache_evictions", "cache_insertions",
                                           "cache_bypassed", "queue_depth"};
        const double vals[] = {k->p50, k->p95, k->p99, k->lat_mean, k->queue_mean, k->compute_mean,
                               k->batch_mean, k->batch_eff, k->max_batch, k->busy_mean, k->hit_ratio,
                               k->hits_local, k->misses_local, k->hits_redis, k->misses_redis, k->evictions,
                               k->insertions, k->bypassed, k->queue_depth};
        fputc('}', f);
        for (size_t j = 0; j < sizeof keys / sizeof keys[0]; j++) {
            fprintf(f, ",\"%s\":", keys[j]);
            json_num(f, vals[j]);
        }
        fputs(",\"busy_share\":{", f);
        for (size_t j = 0; j < k->n_inst; j++) {
            if (j)
                fputc(',', f);
            json_str(f, k->inst[j]);
            fputc(':', f);
            json_num(f, k->busy[j]);
        }
        fputs("}}", f);
    }
    fprintf(f, "],\"no_traffic\":%s,\"healthy\":%s,\"findings\":[", s->requests > 0 ? "false" : "true",
            fs->n ? "false" : "true");
    for (size_t i = 0; i < fs->n; i++) {
        const finding *x = &fs->f[i];
        fprintf(f, "%s{\"id\":\"%s\",\"severity\":\"%s\",\"model\":", i ? "," : "", x->id, x->severity);
        if (x->m) {
            json_str(f, x->m->model);
            fputs(",\"version\":", f);
            json_str(f, x->m->version);
        } else {
            fputs("null,\"version\":null", f);
        }
        fputs(",\"evidence\":", f);
        json_str(f, x->evidence);
        fputs(",\"change\":", f);
        json_str(f, x->change);
        fputc('}', f);
    }
    fputs("]}\n", f);
}

/* a duration in ms with a sensible precision, "-" when unknown */
static const char *ms(char *buf, double s) {
    if (!isfinite(s))
        return "-";
    double v = s * 1e3;
    snprintf(buf, 32, v < 1 ? "%.3f ms" : v < 100 ? "%.2f ms" : "%.0f ms", v);
    return buf;
}

static const char *pct(char *buf, double r) {
    if (!isfinite(r))
        return "-";
    snprintf(buf, 32, "%.1f %%", 100 * r);
    return buf;
}

static void print_text(FILE *f, const char *source, const fg_scrape_kpis *s, double slo, const findings *fs) {
    char a[32], b[32], c[32];
    fprintf(f, "frugal doctor: %s, %.1f s interval (server up %.0f s)\n\n", source, s->interval, s->uptime2);
    fprintf(f, "server   %.1f req/s, CPU %s of %.0f cores%s, instances busy %s, cost per 1k requests %s\n\n",
            s->rps, pct(a, s->cpu_share), s->ncpu,
            s->cpu_estimate ? " (estimate: counted against this machine's cores)" : "",
            pct(b, isfinite(s->idle_share) ? 1 - s->idle_share : NAN),
            isfinite(s->cost_per_1k) ? (snprintf(c, sizeof c, "$%.5f", s->cost_per_1k), c) : "- (no price)");
    for (size_t i = 0; i < s->n_models; i++) {
        const fg_scrape_model *k = &s->m[i];
        fprintf(f, "model %s version %s\n", k->model, k->version);
        fprintf(f, "  %-16s %.1f/s (%.0f in the interval)\n", "requests", k->rps, k->total);
        for (int o = 0; o < FG_SCRAPE_N_OUT; o++)
            if (k->req[o] > 0)
                fprintf(f, "  %-16s %.1f/s, %s\n", fg_scrape_outcomes[o], k->req[o] / s->interval, pct(a, k->req[o] / k->total));
        fprintf(f, "  %-16s p50 %s, p95 %s, ", "latency", ms(a, k->p50), ms(b, k->p95));
        fprintf(f, "p99 %s (SLO %.0f ms)\n", ms(a, k->p99), slo * 1e3);
        fprintf(f, "  %-16s queue %s, ", "mean queue/comp.", ms(a, k->queue_mean));
        fprintf(f, "compute %s\n", ms(a, k->compute_mean));
        fprintf(f, "  %-16s mean %.2f items of max %.0f, efficiency %s\n", "batches",
                isfinite(k->batch_mean) ? k->batch_mean : 0, isfinite(k->max_batch) ? k->max_batch : 0,
                pct(a, k->batch_eff));
        fprintf(f, "  %-16s", "busy share");
        for (size_t j = 0; j < k->n_inst; j++)
            fprintf(f, " #%s %s", k->inst[j], pct(a, k->busy[j]));
        fprintf(f, "%s\n", k->n_inst ? "" : " -");
        if (k->hits_local + k->misses_local + k->insertions + k->bypassed > 0)
            fprintf(f, "  %-16s hit ratio %s (%.0f local hits, %.0f misses, %.0f redis hits), %.0f insertions, "
                       "%.0f evictions, %.0f bypassed\n",
                    "cache", pct(a, k->hit_ratio), k->hits_local, k->misses_local, k->hits_redis, k->insertions,
                    k->evictions, k->bypassed);
        fprintf(f, "  %-16s %.0f\n\n", "queue depth now", k->queue_depth);
    }
    if (s->requests <= 0)
        fprintf(f, "no traffic: no requests in the %.1f s interval, nothing to judge\n", s->interval);
    if (fs->n == 0) {
        if (s->requests > 0)
            fprintf(f, "healthy: no findings\n");
        return;
    }
    fprintf(f, "findings (%zu):\n", fs->n);
    for (size_t i = 0; i < fs->n; i++) {
        const finding *x = &fs->f[i];
        fprintf(f, "  [%s] %s", x->severity, x->id);
        if (x->m)
            fprintf(f, " (%s v%s)", x->m->model, x->m->version);
        fprintf(f, "\n    evidence: %s\n    change:   %s\n", x->evidence, x->change);
    }
}

/* ---------------------------------------------------------------- the command */

static int parse_num(const char *s, const char *opt, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "frugal doctor: %s needs a number in [%g, %g], got '%s'\n", opt, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int fg_cmd_doctor(int argc, char **argv) {
    static const struct option opts[] = {
        {"interval", required_argument, 0, 'i'}, {"json", no_argument, 0, 'j'},
        {"slo-p99-ms", required_argument, 0, 's'}, {"budget-per-1k", required_argument, 0, 'b'},
        {"from", required_argument, 0, 'f'},     {"to", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0},
    };
    double interval = 5, slo_ms = 250, budget = 0;
    const char *from = NULL, *to = NULL;
    int json = 0, ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'i': if (parse_num(optarg, "--interval", 0.01, 3600, &interval) < 0) return 2; break;
        case 's': if (parse_num(optarg, "--slo-p99-ms", 0.001, 1e7, &slo_ms) < 0) return 2; break;
        case 'b': if (parse_num(optarg, "--budget-per-1k", 0, 1e12, &budget) < 0) return 2; break;
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'j': json = 1; break;
        case 'h': doctor_usage(stdout); return 0;
        default: doctor_usage(stderr); return 2;
        }
    }
    if ((from != NULL) != (to != NULL)) {
        fprintf(stderr, "frugal doctor: --from and --to go together (two saved scrapes)\n");
        return 2;
    }
    if (from ? optind != argc : optind != argc - 1) {
        fprintf(stderr, "frugal doctor: expected one URL argument, or --from FILE --to FILE (see frugal doctor "
                        "--help)\n");
        return 2;
    }
    char err[1400];
    fg_prom_doc d1 = {0}, d2 = {0};
    double wall = 0;
    int local = 0;
    const char *source;
    char src[1200];
    if (from) {
        snprintf(src, sizeof src, "%s -> %s", from, to);
        source = src;
        if (fg_scrape(from, &d1, NULL, err, sizeof err) < 0 || fg_scrape(to, &d2, NULL, err, sizeof err) < 0)
            goto fail;
    } else {
        source = argv[optind];
        if (strncasecmp(source, "http://", 7) != 0 && strncasecmp(source, "https://", 8) != 0) {
            snprintf(err, sizeof err, "%s: not an http:// URL (expected http://HOST[:PORT][/PATH])", source);
            goto fail;
        }
        uint64_t t0 = fg_now_ns();
        if (fg_scrape(source, &d1, &local, err, sizeof err) < 0)
            goto fail;
        struct timespec ts = {(time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9)};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
        if (fg_scrape(source, &d2, NULL, err, sizeof err) < 0)
            goto fail;
        wall = (double)(fg_now_ns() - t0) / 1e9;
    }
    fg_scrape_kpis s;
    if (fg_scrape_analyse(&d1, &d2, wall, local, &s, err, sizeof err) < 0)
        goto fail;
    findings fs = {0};
    check(&s, slo_ms / 1e3, budget, &fs);
    if (fs.n > 1)
        qsort(fs.f, fs.n, sizeof *fs.f, by_severity);
    if (json)
        print_json(stdout, source, &s, slo_ms / 1e3, &fs);
    else
        print_text(stdout, source, &s, slo_ms / 1e3, &fs);
    int rc = fs.n ? 1 : 0;
    free(fs.f);
    fg_scrape_kpis_free(&s);
    fg_prom_free(&d1);
    fg_prom_free(&d2);
    return rc;
fail:
    fprintf(stderr, "frugal doctor: %s\n", err);
    fg_prom_free(&d1);
    fg_prom_free(&d2);
    return 2;
}
