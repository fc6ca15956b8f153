/* results.c - frugal bench's writers: the results JSON (docs/bench.md; every key always present, null
 * where not measured, so readers never guess), the CSV row per stage, the text table, and threshold
 * evaluation over the whole run or one stage. */
#include "bench/results.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"

/* Whole-run (stage < 0) or one stage's threshold inputs. */
static void thr_input(const fg_bench_report *rep, long stage, fg_thr_input *in) {
    memset(in, 0, sizeof *in);
    const fg_bench_result *r = rep->res;
    fg_hist *h = fg_hist_new();
    double dur = 0, ok = 0;
    for (size_t i = 0; i < r->n_stages; i++) {
        if (stage >= 0 && (size_t)stage != i)
            continue;
        const fg_bench_stage_result *s = &r->stages[i];
        fg_hist_merge(h, s->lat);
        in->sent += (double)s->sent;
        in->errors += (double)fg_bench_stage_errors(s);
        in->dropped += (double)s->dropped;
        ok += (double)s->ok;
        dur += s->duration_s;
    }
    fg_hist_summary sm;
    fg_hist_summarize(h, &sm);
    fg_hist_free(h);
    if (sm.count == 0) { /* no answer at all: latency gates cannot pass */
        in->p50 = in->p90 = in->p95 = in->p99 = in->p999 = in->max = NAN;
    } else {
        in->p50 = (double)sm.p50;
        in->p90 = (double)sm.p90;
        in->p95 = (double)sm.p95;
        in->p99 = (double)sm.p99;
        in->p999 = (double)sm.p999;
        in->max = (double)sm.max;
    }
    in->throughput_rps = dur > 0 ? ok / dur : NAN;
}

int fg_bench_eval_thresholds(fg_bench_report *rep) {
    int all = 1;
    for (size_t i = 0; i < rep->n_thr; i++) {
        const fg_threshold *t = &rep->thr[i];
        double v = NAN;
        if (t->stage < 0 || (size_t)t->stage < rep->res->n_stages) {
            fg_thr_input in;
            thr_input(rep, t->stage, &in);
            v = fg_bench_threshold_value(t, &in);
        }
        rep->thr_value[i] = v;
        rep->thr_passed[i] = fg_bench_threshold_passes(t, v);
        all &= rep->thr_passed[i];
    }
    return all;
}

/* ---------------------------------------------------------------- JSON */

static void jstr(FILE *f, const char *s) {
    if (s)
        fg_json_write_str(f, s, strlen(s));
    else
        fputs("null", f);
}
static void jnum(FILE *f, double x) { fg_json_write_num(f, x); }

static void jsummary(FILE *f, const fg_hist *h) {
    fg_hist_summary s;
    fg_hist_summarize(h, &s);
    if (s.count == 0) {
        fputs("{\"count\": 0, \"min\": null, \"mean\": null, \"p50\": null, \"p90\": null, \"p95\": null, "
              "\"p99\": null, \"p999\": null, \"max\": null}", f);
        return;
    }
    fprintf(f, "{\"count\": %llu, \"min\": %llu, \"mean\": ", (unsigned long long)s.count, (unsigned long long)s.min);
    jnum(f, (double)s.sum / (double)s.count);
    fprintf(f, ", \"p50\": %llu, \"p90\": %llu, \"p95\": %llu, \"p99\": %llu, \"p999\": %llu, \"max\": %llu}",
            (unsigned long long)s.p50, (unsigned long long)s.p90, (unsigned long long)s.p95,
            (unsigned long long)s.p99, (unsigned long long)s.p999, (unsigned long long)s.max);
}

static void jbuckets(FILE *f, const uint64_t *b) {
    fputc('[', f);
    int first = 1;
    for (uint32_t k = 0; b && k < fg_hist_n_buckets(); k++)
        if (b[k]) {
            fprintf(f, "%s[%llu, %llu]", first ? "" : ", ", (unsigned long long)fg_hist_bucket_highest(k),
                    (unsigned long long)b[k]);
            first = 0;
        }
    fputc(']', f);
}

static double offered(const fg_stage *st) {
    return st->kind == FG_STAGE_RAMP ? (st->rate + st->rate_end) / 2 : st->rate;
}

static void jserver(FILE *f, const fg_bench_server *sv) {
    if (!sv || !sv->present) {
        fputs("null", f);
        return;
    }
    fputs("{\"requests\": ", f);
    jnum(f, sv->requests);
    fputs(", \"rps\": ", f);
    jnum(f, sv->rps);
    fputs(", \"batch_mean\": ", f);
    jnum(f, sv->batch_mean);
    fputs(", \"batch_efficiency\": ", f);
    jnum(f, sv->batch_eff);
    fputs(", \"batch_size_hist\": [", f);
    for (size_t i = 0; i < sv->n_batch; i++) {
        fputs(i ? ", [" : "[", f);
        jnum(f, isinf(sv->batch_le[i]) ? NAN : sv->batch_le[i]); /* +Inf has no JSON spelling: null */
        fputs(", ", f);
        jnum(f, sv->batch_cum[i]);
        fputc(']', f);
    }
    fputs("], \"cache_hit_ratio\": ", f);
    jnum(f, sv->hit_ratio);
    fputs(", \"queue_mean_s\": ", f);
    jnum(f, sv->queue_mean_s);
    fputs(", \"compute_mean_s\": ", f);
    jnum(f, sv->compute_mean_s);
    fputs(", \"cpu_share\": ", f);
    jnum(f, sv->cpu_share);
    fprintf(f, ", \"cpu_estimate\": %s, \"price_per_hour_usd\": ", sv->cpu_estimate ? "true" : "false");
    jnum(f, sv->price);
    fputs(", \"cost_per_1k_usd\": ", f);
    jnum(f, sv->cost_per_1k);
    fputc('}', f);
}

int fg_bench_write_json(FILE *f, const fg_bench_report *rep) {
    const fg_bench_result *r = rep->res;
    char ts[32];
    struct tm tm;
    gmtime_r(&rep->started_at, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "{\n  \"tool\": \"frugal bench\",\n  \"version\": ");
    jstr(f, rep->version);
    fprintf(f, ",\n  \"started_at\": \"%s\",\n  \"target\": {\"url\": ", ts);
    jstr(f, rep->url);
    fputs(", \"model\": ", f);
    jstr(f, rep->model);
    fprintf(f, ", \"kind\": \"%s\", \"format\": ", rep->model ? "v2" : "plain");
    jstr(f, rep->format);
    fputs(", \"method\": ", f);
    jstr(f, rep->method);
    fprintf(f, ", \"frugal\": %s},\n  \"config\": {\"mode\": ", rep->frugal ? "true" : "false");
    jstr(f, rep->mode);
    fputs(", \"arrival\": ", f);
    jstr(f, rep->arrival);
    fprintf(f, ", \"threads\": %u, \"max_connections\": %u, \"profile\": ", rep->threads, rep->max_connections);
    jstr(f, rep->profile);
    fputs(", \"inputs\": ", f);
    jstr(f, rep->inputs);
    fputs(", \"timeout_s\": ", f);
    jnum(f, rep->timeout_s);
    fputs("},\n  \"client\": {\"cpu_user_s\": ", f);
    jnum(f, r->cpu_user_s);
    fputs(", \"cpu_sys_s\": ", f);
    jnum(f, r->cpu_sys_s);
    fputs(", \"cpu_share\": ", f);
    jnum(f, r->wall_s > 0 ? (r->cpu_user_s + r->cpu_sys_s) / (r->wall_s * r->ncpu) : NAN);
    fprintf(f, ", \"ncpu\": %u},\n  \"stages\": [", r->ncpu);
    for (size_t i = 0; i < r->n_stages; i++) {
        const fg_bench_stage_result *s = &r->stages[i];
        const fg_stage *st = &rep->stages[i];
        int open = fg_stage_is_open(st);
        fprintf(f, "%s\n    {\"index\": %zu, \"name\": ", i ? "," : "", i);
        jstr(f, st->name);
        fprintf(f, ", \"kind\": \"%s\", \"offered_rps\": ", fg_stage_kind_name(st->kind));
        jnum(f, open ? offered(st) : NAN);
        fputs(", \"offered_rps_end\": ", f);
        jnum(f, st->kind == FG_STAGE_RAMP ? st->rate_end : NAN);
        fputs(", \"concurrency\": ", f);
        jnum(f, open ? NAN : (double)st->concurrency);
        fputs(",\n     \"duration_s\": ", f);
        jnum(f, s->duration_s);
        fprintf(f, ", \"sent\": %llu, \"completed\": %llu, \"ok\": %llu,\n     \"errors\": {",
                (unsigned long long)s->sent, (unsigned long long)s->completed, (unsigned long long)s->ok);
        for (int k = 0; k < 600; k++)
            if (s->err_status[k])
                fprintf(f, "\"http_%d\": %llu, ", k, (unsigned long long)s->err_status[k]);
        fprintf(f, "\"connect\": %llu, \"timeout\": %llu, \"reset\": %llu, \"other\": %llu},\n",
                (unsigned long long)s->err_connect, (unsigned long long)s->err_timeout,
                (unsigned long long)s->err_reset, (unsigned long long)s->err_other);
        fprintf(f, "     \"error_count\": %llu, \"dropped\": %llu, \"late\": %llu, \"achieved_rps\": ",
                (unsigned long long)fg_bench_stage_errors(s), (unsigned long long)s->dropped,
                (unsigned long long)s->late);
        jnum(f, s->duration_s > 0 ? (double)s->sent / s->duration_s : NAN);
        fputs(", \"throughput_rps\": ", f);
        jnum(f, s->duration_s > 0 ? (double)s->ok / s->duration_s : NAN);
        fputs(",\n     \"latency_us\": ", f);
        jsummary(f, s->lat);
        fputs(",\n     \"service_us\": ", f);
        jsummary(f, s->svc);
        fputs(",\n     \"histogram\": {\"latency_us\": ", f);
        jbuckets(f, s->blat);
        fputs(", \"service_us\": ", f);
        jbuckets(f, s->bsvc);
        fputs("},\n     \"timeline\": [", f);
        for (size_t k = 0; k < s->n_timeline; k++) {
            const fg_bench_second *t = &s->timeline[k];
            fprintf(f, "%s{\"t_s\": %zu, \"sent\": %llu, \"ok\": %llu, \"errors\": %llu, \"p50_us\": ", k ? ", " : "",
                    k + 1, (unsigned long long)t->sent, (unsigned long long)t->ok, (unsigned long long)t->errors);
            jnum(f, t->has_latency ? (double)t->p50_us : NAN);
            fputs(", \"p99_us\": ", f);
            jnum(f, t->has_latency ? (double)t->p99_us : NAN);
            fputs(", \"service_p99_us\": ", f);
            jnum(f, t->has_latency ? (double)t->service_p99_us : NAN);
            fputc('}', f);
        }
        fputs("],\n     \"stable\": ", f);
        fputs(s->stable < 0 ? "null" : s->stable ? "true" : "false", f);
        fputs(", \"client_cpu_share\": ", f);
        jnum(f, s->duration_s > 0 ? (s->cpu_user_s + s->cpu_sys_s) / (s->duration_s * r->ncpu) : NAN);
        fputs(",\n     \"server\": ", f);
        jserver(f, rep->server ? &rep->server[i] : NULL);
        fputc('}', f);
    }
    fputs("\n  ],\n  \"thresholds\": [", f);
    int all = 1;
    for (size_t i = 0; i < rep->n_thr; i++) {
        const fg_threshold *t = &rep->thr[i];
        fputs(i ? ",\n    {\"expr\": " : "\n    {\"expr\": ", f);
        jstr(f, t->expr);
        fputs(", \"stage\": ", f);
        jnum(f, t->stage < 0 ? NAN : (double)t->stage);
        fputs(", \"value\": ", f);
        jnum(f, rep->thr_value ? rep->thr_value[i] : NAN);
        fputs(", \"limit\": ", f);
        jnum(f, t->limit);
        int p = rep->thr_passed ? rep->thr_passed[i] : 0;
        all &= p;
        fprintf(f, ", \"passed\": %s}", p ? "true" : "false");
    }
    fprintf(f, "%s],\n  \"passed\": %s\n}\n", rep->n_thr ? "\n  " : "", all ? "true" : "false");
    fflush(f);
    return ferror(f) ? FG_EIO : 0;
}

/* ---------------------------------------------------------------- CSV */

static void cnum(FILE *f, double x, const char *fmt) {
    if (isfinite(x))
        fprintf(f, fmt, x);
}

int fg_bench_write_csv(FILE *f, const fg_bench_report *rep) {
    const fg_bench_result *r = rep->res;
    fputs("Stage,Name,Kind,Concurrency,Offered Rate,Inferences/Second,Client Send,p50 latency,p90 latency,"
          "p95 latency,p99 latency,p99.9 latency,Max latency,p99 service,Dropped,Late,Errors,Cost per 1k\n", f);
    for (size_t i = 0; i < r->n_stages; i++) {
        const fg_bench_stage_result *s = &r->stages[i];
        const fg_stage *st = &rep->stages[i];
        fg_hist_summary l, v;
        fg_hist_summarize(s->lat, &l);
        fg_hist_summarize(s->svc, &v);
        fprintf(f, "%zu,\"", i);
        for (const char *p = st->name; *p; p++) /* CSV quoting: double the quotes */
            fputs(*p == '"' ? "\"\"" : (char[]){*p, 0}, f);
        fprintf(f, "\",%s,", fg_stage_kind_name(st->kind));
        if (!fg_stage_is_open(st))
            fprintf(f, "%u", st->concurrency);
        fputc(',', f);
        if (fg_stage_is_open(st))
            cnum(f, offered(st), "%.6g");
        fputc(',', f);
        cnum(f, s->duration_s > 0 ? (double)s->ok / s->duration_s : NAN, "%.2f");
        fputc(',', f);
        cnum(f, s->duration_s > 0 ? (double)s->sent / s->duration_s : NAN, "%.2f");
        if (l.count)
            fprintf(f, ",%llu,%llu,%llu,%llu,%llu,%llu,%llu", (unsigned long long)l.p50, (unsigned long long)l.p90,
                    (unsigned long long)l.p95, (unsigned long long)l.p99, (unsigned long long)l.p999,
                    (unsigned long long)l.max, (unsigned long long)v.p99);
        else
            fputs(",,,,,,,", f);
        fprintf(f, ",%llu,%llu,%llu,", (unsigned long long)s->dropped, (unsigned long long)s->late,
                (unsigned long long)fg_bench_stage_errors(s));
        if (rep->server && rep->server[i].present)
            cnum(f, rep->server[i].cost_per_1k, "%.6g");
        fputc('\n', f);
    }
    fflush(f);
    return ferror(f) ? FG_EIO : 0;
}

/* ---------------------------------------------------------------- text */

static const char *fmt_us(char *b, size_t n, double us) {
    if (!isfinite(us))
        snprintf(b, n, "-");
    else if (us < 1000)
        snprintf(b, n, "%.0fus", us);
    else if (us < 1e6)
        snprintf(b, n, "%.2fms", us / 1e3);
    else
        snprintf(b, n, "%.2fs", us / 1e6);
    return b;
}

/* Formats one number with fmt, or "-" when it was not measured. */
static void fmt_or_dash(char *b, size_t n, const char *fmt, double v) {
    if (isfinite(v))
        snprintf(b, n, fmt, v);
    else
        snprintf(b, n, "-");
}

static void text_lat(FILE *f, const char *label, const fg_hist *h) {
    fg_hist_summary s;
    fg_hist_summarize(h, &s);
    char a[6][24];
    if (!s.count) {
        fprintf(f, "  %-20s -\n", label);
        return;
    }
    fprintf(f, "  %-20s p50 %-9s p90 %-9s p95 %-9s p99 %-9s p99.9 %-9s max %s\n", label,
            fmt_us(a[0], 24, (double)s.p50), fmt_us(a[1], 24, (double)s.p90), fmt_us(a[2], 24, (double)s.p95),
            fmt_us(a[3], 24, (double)s.p99), fmt_us(a[4], 24, (double)s.p999), fmt_us(a[5], 24, (double)s.max));
}

void fg_bench_write_text(FILE *f, const fg_bench_report *rep) {
    const fg_bench_result *r = rep->res;
    fprintf(f, "frugal bench %s%s%s: %s loop, %u threads%s\n", rep->url, rep->model ? " model " : "",
            rep->model ? rep->model : "", rep->mode, rep->threads, r->interrupted ? " (interrupted)" : "");
    for (size_t i = 0; i < r->n_stages; i++) {
        const fg_bench_stage_result *s = &r->stages[i];
        const fg_stage *st = &rep->stages[i];
        double d = s->duration_s > 0 ? s->duration_s : NAN;
        fprintf(f, "\nstage %zu: %s (%s, %.2f s)", i, st->name, fg_stage_kind_name(st->kind), s->duration_s);
        if (s->stable >= 0)
            fprintf(f, " %s", s->stable ? "stable" : "NOT stable");
        fprintf(f, "\n  sent %llu  ok %llu  errors %llu", (unsigned long long)s->sent, (unsigned long long)s->ok,
                (unsigned long long)fg_bench_stage_errors(s));
        if (fg_bench_stage_errors(s)) {
            fputs(" (", f);
            const char *sep = "";
            for (int k = 0; k < 600; k++)
                if (s->err_status[k]) {
                    fprintf(f, "%shttp_%d %llu", sep, k, (unsigned long long)s->err_status[k]);
                    sep = ", ";
                }
            const char *kn[] = {"connect", "timeout", "reset", "other"};
            uint64_t kv[] = {s->err_connect, s->err_timeout, s->err_reset, s->err_other};
            for (int k = 0; k < 4; k++)
                if (kv[k]) {
                    fprintf(f, "%s%s %llu", sep, kn[k], (unsigned long long)kv[k]);
                    sep = ", ";
                }
            fputc(')', f);
        }
        fprintf(f, "  dropped %llu  late %llu\n", (unsigned long long)s->dropped, (unsigned long long)s->late);
        fprintf(f, "  achieved %.1f/s", (double)s->sent / d);
        if (fg_stage_is_open(st))
            fprintf(f, " of %.1f/s offered", offered(st));
        fprintf(f, "  throughput %.1f/s  connections %u  client cpu %.0f%%\n", (double)s->ok / d, s->max_open,
                100 * (s->cpu_user_s + s->cpu_sys_s) / (d * r->ncpu));
        text_lat(f, "latency (corrected)", s->lat);
        text_lat(f, "service time", s->svc);
        const fg_bench_server *sv = rep->server ? &rep->server[i] : NULL;
        if (sv && sv->present) {
            char q[24], c[24], h[24], bm[24], be[24], cpu[24], cost[32];
            fmt_or_dash(h, sizeof h, "%.0f%%", 100 * sv->hit_ratio);
            fmt_or_dash(bm, sizeof bm, "%.2f", sv->batch_mean);
            fmt_or_dash(be, sizeof be, "%.0f%%", 100 * sv->batch_eff);
            fmt_or_dash(cpu, sizeof cpu, "%.0f%%", 100 * sv->cpu_share);
            fmt_or_dash(cost, sizeof cost, "$%.3g", sv->cost_per_1k);
            fprintf(f, "  server: %.0f req (%.1f/s)  batch mean %s  efficiency %s  cache hit %s  queue %s  "
                       "compute %s  cpu %s%s  cost/1k %s\n",
                    sv->requests, sv->rps, bm, be, h, fmt_us(q, 24, sv->queue_mean_s * 1e6),
                    fmt_us(c, 24, sv->compute_mean_s * 1e6), cpu, sv->cpu_estimate ? " (estimate)" : "", cost);
        }
    }
    double cpu = r->cpu_user_s + r->cpu_sys_s;
    double share = r->wall_s > 0 ? cpu / (r->wall_s * r->ncpu) : 0;
    fprintf(f, "\nclient cpu: %.2f s user + %.2f s sys over %.2f s (%.0f%% of %u cpus)%s\n", r->cpu_user_s,
            r->cpu_sys_s, r->wall_s, 100 * share, r->ncpu,
            share > 0.7 ? ": the load generator may be the bottleneck (latency includes its own queueing)" : "");
    for (size_t i = 0; i < rep->n_thr; i++) {
        const fg_threshold *t = &rep->thr[i];
        double v = rep->thr_value[i];
        char b[32];
        if (t->metric <= FG_THR_MAX)
            fmt_us(b, sizeof b, v);
        else if (isfinite(v))
            snprintf(b, sizeof b, "%.4g%s", v, t->percent ? "%" : "");
        else
            snprintf(b, sizeof b, "-");
        fprintf(f, "threshold %-24s %s (measured %s)\n", t->expr, rep->thr_passed[i] ? "passed" : "FAILED", b);
    }
}
