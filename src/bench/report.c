/* report.c - frugal bench's HTML report and run comparison, rendered from a parsed results document
 * (docs/bench.md) so that saved runs can be re-rendered and compared later. Everything is read with
 * NaN standing for "null or absent" and printed as "-": a value that was not measured must never pass
 * for 0. Charts come from core/svgchart; a chart with nothing to draw is replaced by a sentence. */
#include "bench/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/svgchart.h"

#define FMT 64 /* room for any formatted cell */
#define NBSP "\xc2\xa0"

/* ---- reading the document ---------------------------------------------------------------------- */

static double num(const fg_json *o, const char *k) { return fg_json_num(fg_json_get(o, k), NAN); }
static const char *str(const fg_json *o, const char *k) { return fg_json_str(fg_json_get(o, k), NULL); }

/* Checks that doc looks like a results document; who names the document in the message. */
static int check_doc(const fg_json *doc, const char *who, fg_err *e) {
    if (!doc || doc->type != FG_JSON_OBJECT)
        return fg_err_set(e, FG_EINVAL, "%snot a frugal bench results document: not a JSON object", who);
    const fg_json *st = fg_json_get(doc, "stages");
    if (!st || st->type != FG_JSON_ARRAY)
        return fg_err_set(e, FG_EINVAL, "%snot a frugal bench results document: no \"stages\" array", who);
    for (size_t i = 0; i < st->n; i++)
        if (st->items[i].type != FG_JSON_OBJECT)
            return fg_err_set(e, FG_EINVAL, "%sstage %zu is not a JSON object", who, i);
    return 0;
}

static int finish(FILE *f, fg_err *e) {
    if (fflush(f) != 0 || ferror(f))
        return fg_err_set(e, FG_EIO, "writing the bench report failed");
    return 0;
}

/* ---- formatting: every helper prints "-" for NaN (null) --------------------------------------- */

static const char *fmt_count(char *b, double x) {
    if (isnan(x))
        return "-";
    if (x == floor(x) && fabs(x) < 1e15)
        snprintf(b, FMT, "%.0f", x);
    else
        snprintf(b, FMT, "%.4g", x);
    return b;
}

static const char *fmt_rps(char *b, double x) {
    if (isnan(x))
        return "-";
    snprintf(b, FMT, fabs(x) >= 1000 ? "%.0f" : "%.1f", x);
    return b;
}

static const char *fmt_us(char *b, double us) {
    if (isnan(us))
        return "-";
    /* a no-break space (U+00A0) keeps number and unit together in narrow table cells */
    if (fabs(us) < 1000)
        snprintf(b, FMT, "%.0f" NBSP "µs", us);
    else if (fabs(us) < 1e6)
        snprintf(b, FMT, "%.2f" NBSP "ms", us / 1e3);
    else
        snprintf(b, FMT, "%.2f" NBSP "s", us / 1e6);
    return b;
}

static const char *fmt_ratio(char *b, double r) {
    if (isnan(r))
        return "-";
    snprintf(b, FMT, "%.1f%%", r * 100);
    return b;
}

static const char *fmt_usd(char *b, double x) {
    if (isnan(x))
        return "-";
    if (x == 0)
        snprintf(b, FMT, "$0");
    else if (fabs(x) >= 0.01)
        snprintf(b, FMT, "$%.4f", x);
    else {
        /* three significant digits without an exponent: cost per 1k requests is often $0.0000xyz */
        int d = 2 - (int)floor(log10(fabs(x)));
        snprintf(b, FMT, "$%.*f", d > 15 ? 15 : d, x);
    }
    return b;
}

static const char *fmt_bool(const fg_json *v) {
    if (!v || v->type != FG_JSON_BOOL)
        return "-";
    return v->boolean ? "yes" : "no";
}

/* ---- HTML pieces ------------------------------------------------------------------------------- */

static void td(FILE *f, const char *text, int numeric) {
    fputs(numeric ? "<td class=\"num\">" : "<td>", f);
    fg_html_escape(f, text);
    fputs("</td>", f);
}

static void th_row(FILE *f, const char *const *cols, size_t n, size_t n_text) {
    fputs("<tr>", f);
    for (size_t i = 0; i < n; i++) {
        fputs(i < n_text ? "<th>" : "<th class=\"num\">", f);
        fg_html_escape(f, cols[i]);
        fputs("</th>", f);
    }
    fputs("</tr>\n", f);
}

static void meta_row(FILE *f, const char *name, const char *value) {
    fputs("<tr><th>", f);
    fg_html_escape(f, name);
    fputs("</th><td>", f);
    fg_html_escape(f, value && *value ? value : "-");
    fputs("</td></tr>\n", f);
}

static void no_data(FILE *f, const char *title, const char *why) {
    fputs("<p class=\"muted nodata\"><strong>", f);
    fg_html_escape(f, title);
    fputs(":</strong> ", f);
    fg_html_escape(f, why);
    fputs("</p>\n", f);
}

/* "#2 step 1000/s" */
static void stage_label(char *b, size_t n, size_t i, const fg_json *st) {
    const char *name = str(st, "name");
    snprintf(b, n, "#%zu %s", i, name ? name : "");
}

/* ---- report sections --------------------------------------------------------------------------- */

static void header(FILE *f, const fg_json *doc) {
    const fg_json *t = fg_json_get(doc, "target"), *c = fg_json_get(doc, "config"), *cl = fg_json_get(doc, "client");
    char b[256], x[FMT], y[FMT], z[FMT], w[FMT];
    fputs("<table class=\"meta\" id=\"meta\">\n", f);
    meta_row(f, "Target", str(t, "url"));
    meta_row(f, "Model", str(t, "model"));
    snprintf(b, sizeof b, "%s, %s body, %s%s", str(t, "kind") ? str(t, "kind") : "-",
             str(t, "format") ? str(t, "format") : "-", str(t, "method") ? str(t, "method") : "-",
             fg_json_bool(fg_json_get(t, "frugal"), 0) ? ", frugal server" : "");
    meta_row(f, "Protocol", b);
    const char *mode = str(c, "mode");
    snprintf(b, sizeof b, "%s loop%s%s, %s threads, at most %s connections", mode ? mode : "-",
             str(c, "arrival") ? ", " : "", str(c, "arrival") ? str(c, "arrival") : "",
             fmt_count(x, num(c, "threads")), fmt_count(y, num(c, "max_connections")));
    meta_row(f, "Mode", b);
    snprintf(b, sizeof b, "profile %s, inputs %s, timeout %s s", str(c, "profile") ? str(c, "profile") : "-",
             str(c, "inputs") ? str(c, "inputs") : "-", fmt_count(x, num(c, "timeout_s")));
    meta_row(f, "Load", b);
    meta_row(f, "Date", str(doc, "started_at"));
    snprintf(b, sizeof b, "%s of %s CPUs (user %s s, system %s s)", fmt_ratio(x, num(cl, "cpu_share")),
             fmt_count(y, num(cl, "ncpu")), fmt_count(z, num(cl, "cpu_user_s")),
             fmt_count(w, num(cl, "cpu_sys_s")));
    meta_row(f, "Client CPU", b);
    snprintf(b, sizeof b, "%s %s", str(doc, "tool") ? str(doc, "tool") : "-",
             str(doc, "version") ? str(doc, "version") : "");
    meta_row(f, "Tool", b);
    const fg_json *passed = fg_json_get(doc, "passed");
    size_t n_thr = fg_json_count(fg_json_get(doc, "thresholds"));
    meta_row(f, "Result", n_thr == 0 ? "no thresholds" : fg_json_bool(passed, 0) ? "passed" : "FAILED");
    fputs("</table>\n", f);
}

/* The load a stage was driven at: "1000/s", "100 → 500/s" for a ramp, "32 connections" closed loop. */
static const char *fmt_load(char *b, const fg_json *st) {
    double r = num(st, "offered_rps"), r_end = num(st, "offered_rps_end"), conc = num(st, "concurrency");
    char x[FMT], y[FMT];
    if (!isnan(r) && !isnan(r_end))
        snprintf(b, FMT, "%s → %s/s", fmt_rps(x, r), fmt_rps(y, r_end));
    else if (!isnan(r))
        snprintf(b, FMT, "%s/s", fmt_rps(x, r));
    else if (!isnan(conc))
        snprintf(b, FMT, "%s connections", fmt_count(x, conc));
    else
        return "-";
    return b;
}

/* "5 (http_503 3, connect 1, timeout 1)": the total and the kinds that happened. */
static void errors_cell(FILE *f, const fg_json *st) {
    char b[512], x[FMT];
    double total = num(st, "error_count");
    const fg_json *kinds = fg_json_get(st, "errors");
    size_t used = (size_t)snprintf(b, sizeof b, "%s", fmt_count(x, total));
    int any = 0;
    for (size_t k = 0; k < fg_json_count(kinds) && kinds->type == FG_JSON_OBJECT && used < sizeof b; k++) {
        double v = fg_json_num(&kinds->items[k], NAN);
        if (isnan(v) || v == 0)
            continue;
        used += (size_t)snprintf(b + used, sizeof b - used, "%s%s %s", any ? ", " : " (", kinds->keys[k],
                                 fmt_count(x, v));
        any = 1;
    }
    if (any && used < sizeof b)
        snprintf(b + used, sizeof b - used, ")");
    td(f, b, 1);
}

static void stage_table(FILE *f, const fg_json *stages) {
    static const char *const cols[] = {"#",    "stage", "kind",    "load",   "duration", "sent", "ok",
                                       "achieved rps", "throughput rps", "errors", "dropped", "late",
                                       "stable", "client CPU"};
    char b[FMT];
    fputs("<table id=\"stages\">\n", f);
    th_row(f, cols, sizeof cols / sizeof cols[0], 3);
    for (size_t i = 0; i < stages->n; i++) {
        const fg_json *st = &stages->items[i];
        fprintf(f, "<tr class=\"stage\" data-stage=\"%zu\">", i);
        td(f, fmt_count(b, (double)i), 0);
        td(f, str(st, "name") ? str(st, "name") : "-", 0);
        td(f, str(st, "kind") ? str(st, "kind") : "-", 0);
        td(f, fmt_load(b, st), 1);
        double d = num(st, "duration_s");
        char ds[FMT];
        if (!isnan(d))
            snprintf(ds, sizeof ds, "%.1f" NBSP "s", d);
        td(f, isnan(d) ? "-" : ds, 1);
        td(f, fmt_count(b, num(st, "sent")), 1);
        td(f, fmt_count(b, num(st, "ok")), 1);
        td(f, fmt_rps(b, num(st, "achieved_rps")), 1);
        td(f, fmt_rps(b, num(st, "throughput_rps")), 1);
        errors_cell(f, st);
        td(f, fmt_count(b, num(st, "dropped")), 1);
        td(f, fmt_count(b, num(st, "late")), 1);
        td(f, fmt_bool(fg_json_get(st, "stable")), 0);
        td(f, fmt_ratio(b, num(st, "client_cpu_share")), 1);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static const char *const pct_keys[] = {"p50", "p90", "p95", "p99", "p999", "max"};
#define N_PCT (sizeof pct_keys / sizeof pct_keys[0])

static void latency_table(FILE *f, const fg_json *stages) {
    char b[FMT];
    fputs("<table id=\"latency\">\n<tr><th rowspan=\"2\">#</th><th rowspan=\"2\">stage</th>"
          "<th colspan=\"6\">corrected (from the intended send time)</th>"
          "<th colspan=\"6\">service (from the actual send time)</th></tr>\n<tr>",
          f);
    for (int k = 0; k < 2; k++)
        fputs("<th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p95</th>"
              "<th class=\"num\">p99</th><th class=\"num\">p99.9</th><th class=\"num\">max</th>",
              f);
    fputs("</tr>\n", f);
    for (size_t i = 0; i < stages->n; i++) {
        const fg_json *st = &stages->items[i];
        fprintf(f, "<tr class=\"stage\" data-stage=\"%zu\">", i);
        td(f, fmt_count(b, (double)i), 0);
        td(f, str(st, "name") ? str(st, "name") : "-", 0);
        const fg_json *lat = fg_json_get(st, "latency_us"), *svc = fg_json_get(st, "service_us");
        for (size_t k = 0; k < N_PCT; k++)
            td(f, fmt_us(b, num(lat, pct_keys[k])), 1);
        for (size_t k = 0; k < N_PCT; k++)
            td(f, fmt_us(b, num(svc, pct_keys[k])), 1);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void server_table(FILE *f, const fg_json *stages) {
    size_t with = 0;
    for (size_t i = 0; i < stages->n; i++)
        with += fg_json_get(&stages->items[i], "server") && fg_json_get(&stages->items[i], "server")->type == FG_JSON_OBJECT;
    if (!with) {
        no_data(f, "Server", "no server data (the target is not frugal, or its /metrics could not be read).");
        return;
    }
    static const char *const cols[] = {"#", "stage", "requests", "rps", "batch mean", "batch efficiency",
                                       "cache hit", "queue mean", "compute mean", "queue share",
                                       "server CPU", "cost per 1k"};
    char b[FMT];
    fputs("<table id=\"server\">\n", f);
    th_row(f, cols, sizeof cols / sizeof cols[0], 2);
    for (size_t i = 0; i < stages->n; i++) {
        const fg_json *st = &stages->items[i], *sv = fg_json_get(st, "server");
        if (sv && sv->type != FG_JSON_OBJECT)
            sv = NULL; /* null: every cell below shows "-" */
        fprintf(f, "<tr class=\"stage\" data-stage=\"%zu\">", i);
        td(f, fmt_count(b, (double)i), 0);
        td(f, str(st, "name") ? str(st, "name") : "-", 0);
        td(f, fmt_count(b, num(sv, "requests")), 1);
        td(f, fmt_rps(b, num(sv, "rps")), 1);
        double bm = num(sv, "batch_mean");
        if (!isnan(bm))
            snprintf(b, FMT, "%.2f", bm);
        td(f, isnan(bm) ? "-" : b, 1);
        td(f, fmt_ratio(b, num(sv, "batch_efficiency")), 1);
        td(f, fmt_ratio(b, num(sv, "cache_hit_ratio")), 1);
        double q = num(sv, "queue_mean_s"), c = num(sv, "compute_mean_s");
        td(f, fmt_us(b, q * 1e6), 1);
        td(f, fmt_us(b, c * 1e6), 1);
        /* where a request's server time goes: waiting for a batch vs computing it */
        td(f, fmt_ratio(b, q + c > 0 ? q / (q + c) : NAN), 1);
        const char *est = fg_json_bool(fg_json_get(sv, "cpu_estimate"), 0) ? " (est.)" : "";
        char cpu[FMT + 8];
        snprintf(cpu, sizeof cpu, "%s%s", fmt_ratio(b, num(sv, "cpu_share")), isnan(num(sv, "cpu_share")) ? "" : est);
        td(f, cpu, 1);
        td(f, fmt_usd(b, num(sv, "cost_per_1k_usd")), 1);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* A threshold's value in its metric's unit, read from the expression: latency in µs, '%' gates as a
 * percentage, rps per second, counts as is. */
static const char *fmt_thr(char *b, const char *expr, double v) {
    if (isnan(v))
        return "-";
    const char *m = expr ? expr : "";
    const char *colon = strchr(m, ':');
    if (colon)
        m = colon + 1;
    while (*m == ' ')
        m++;
    if (expr && strchr(expr, '%'))
        snprintf(b, FMT, "%.2f%%", v);
    else if (m[0] == 'p' || strncmp(m, "max", 3) == 0)
        return fmt_us(b, v);
    else if (strncmp(m, "rps", 3) == 0) {
        char r[FMT];
        snprintf(b, FMT, "%s/s", fmt_rps(r, v));
    }
    else
        return fmt_count(b, v);
    return b;
}

static void thresholds(FILE *f, const fg_json *doc) {
    const fg_json *thr = fg_json_get(doc, "thresholds");
    if (!thr || thr->type != FG_JSON_ARRAY || thr->n == 0) {
        no_data(f, "Thresholds", "none were set (--threshold).");
        return;
    }
    static const char *const cols[] = {"threshold", "stage", "measured", "limit", "result"};
    char b[FMT];
    fputs("<table id=\"thresholds\">\n", f);
    th_row(f, cols, 5, 2);
    for (size_t i = 0; i < thr->n; i++) {
        const fg_json *t = &thr->items[i];
        const char *expr = str(t, "expr");
        fputs("<tr class=\"threshold\">", f);
        td(f, expr ? expr : "-", 0);
        double st = num(t, "stage");
        td(f, isnan(st) ? "all" : fmt_count(b, st), 0);
        td(f, fmt_thr(b, expr, num(t, "value")), 1);
        td(f, fmt_thr(b, expr, num(t, "limit")), 1);
        const fg_json *p = fg_json_get(t, "passed");
        int known = p && p->type == FG_JSON_BOOL;
        fprintf(f, "<td class=\"%s\">%s</td></tr>\n", !known ? "muted" : p->boolean ? "good" : "bad",
                !known ? "-" : p->boolean ? "pass" : "FAIL");
    }
    fputs("</table>\n", f);
}

/* ---- charts ------------------------------------------------------------------------------------ */

static size_t finite_points(const fg_svg_series *s, size_t ns, int logy) {
    size_t n = 0;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++)
            n += isfinite(s[k].x[i]) && isfinite(s[k].y[i]) && !(logy && s[k].y[i] <= 0);
    return n;
}

/* A log axis when the values span more than 50x, so p50 and p99.9 both stay readable. */
static unsigned y_scale(const fg_svg_series *s, size_t ns) {
    double lo = INFINITY, hi = 0;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++)
            if (isfinite(s[k].x[i]) && isfinite(s[k].y[i]) && s[k].y[i] > 0) {
                lo = fmin(lo, s[k].y[i]);
                hi = fmax(hi, s[k].y[i]);
            }
    return hi > 50 * lo ? FG_SVG_LOG_Y : FG_SVG_Y_ZERO;
}

static int chart_latency_vs_load(FILE *f, const fg_json *doc, const fg_json *stages, fg_err *e) {
    static const char *title = "Latency percentiles (corrected) vs load";
    const char *mode = str(fg_json_get(doc, "config"), "mode");
    int closed = mode && strcmp(mode, "closed") == 0;
    const char *xkey = closed ? "concurrency" : "offered_rps";
    size_t n = stages->n;
    double *buf = malloc((n ? n : 1) * 5 * sizeof *buf);
    size_t *order = malloc((n ? n : 1) * sizeof *order);
    if (!buf || !order) {
        free(buf);
        free(order);
        return fg_err_set(e, FG_ENOMEM, "out of memory rendering the report");
    }
    /* stages in ascending load (a spike profile is not monotonic); stages without a load are left out */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double x = num(&stages->items[i], xkey);
        if (isnan(x))
            continue;
        size_t j = m++;
        while (j > 0 && num(&stages->items[order[j - 1]], xkey) > x) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    static const char *const keys[] = {"p50", "p90", "p99", "p999"};
    static const char *const names[] = {"p50", "p90", "p99", "p99.9"};
    double *xs = buf;
    fg_svg_series s[4];
    for (size_t k = 0; k < 4; k++) {
        double *ys = buf + (k + 1) * (n ? n : 1);
        for (size_t j = 0; j < m; j++) {
            const fg_json *st = &stages->items[order[j]];
            xs[j] = num(st, xkey);
            ys[j] = num(fg_json_get(st, "latency_us"), keys[k]) / 1e3;
        }
        s[k] = (fg_svg_series){.name = names[k], .x = xs, .y = ys, .n = m};
    }
    unsigned flags = y_scale(s, 4);
    if (finite_points(s, 4, flags & FG_SVG_LOG_Y) == 0)
        no_data(f, title, closed ? "no stage has both a concurrency and latency percentiles."
                                 : "no stage has both an offered rate and latency percentiles.");
    else
        fg_svg_lines(f, title, closed ? "concurrency (connections)" : "offered load (requests/s)", "latency (ms)", s,
                     4, flags);
    free(buf);
    free(order);
    return 0;
}

/* The per-second timelines of all stages laid end to end: p50/p99 latency and throughput over time. */
static int chart_timeline(FILE *f, const fg_json *stages, fg_err *e) {
    size_t n = 0;
    for (size_t i = 0; i < stages->n; i++) {
        const fg_json *tl = fg_json_get(&stages->items[i], "timeline");
        n += tl && tl->type == FG_JSON_ARRAY ? tl->n : 0;
    }
    size_t cap = n ? n : 1;
    double *buf = malloc(cap * 7 * sizeof *buf);
    if (!buf)
        return fg_err_set(e, FG_ENOMEM, "out of memory rendering the report");
    double *x = buf, *p50 = buf + cap, *p99 = buf + 2 * cap, *sp99 = buf + 3 * cap, *ok = buf + 4 * cap,
           *sent = buf + 5 * cap, *err = buf + 6 * cap;
    size_t m = 0;
    double t0 = 0;
    for (size_t i = 0; i < stages->n; i++) {
        const fg_json *st = &stages->items[i], *tl = fg_json_get(st, "timeline");
        double last = 0;
        for (size_t j = 0; tl && tl->type == FG_JSON_ARRAY && j < tl->n; j++) {
            const fg_json *p = &tl->items[j];
            double t = num(p, "t_s");
            if (!isnan(t))
                last = fmax(last, t);
            x[m] = t0 + t;
            p50[m] = num(p, "p50_us") / 1e3;
            p99[m] = num(p, "p99_us") / 1e3;
            sp99[m] = num(p, "service_p99_us") / 1e3;
            /* entries cover one second each, so counts are per-second rates */
            ok[m] = num(p, "ok");
            sent[m] = num(p, "sent");
            err[m] = num(p, "errors");
            m++;
        }
        double d = num(st, "duration_s");
        t0 += isnan(d) ? last : fmax(d, last);
    }
    fg_svg_series lat[3] = {{"p50", x, p50, m}, {"p99", x, p99, m}, {"service p99", x, sp99, m}};
    unsigned flags = y_scale(lat, 3);
    static const char *t1 = "p99 latency over time (all stages)", *t2 = "Throughput over time (all stages)";
    if (finite_points(lat, 3, flags & FG_SVG_LOG_Y) == 0)
        no_data(f, t1, "the stages have no per-second timeline.");
    else
        fg_svg_lines(f, t1, "time (s)", "latency (ms)", lat, 3, flags);
    fg_svg_series thr[3] = {{"ok/s", x, ok, m}, {"sent/s", x, sent, m}, {"errors/s", x, err, m}};
    if (finite_points(thr, 3, 0) == 0)
        no_data(f, t2, "the stages have no per-second timeline.");
    else
        fg_svg_lines(f, t2, "time (s)", "requests/s", thr, 3, FG_SVG_Y_ZERO);
    free(buf);
    return 0;
}

/* server.batch_size_hist of the last stage that has one: cumulative [le, count] pairs turned into one
 * column per bucket ("3-4" holds batches of 3 or 4). */
static int chart_batch_sizes(FILE *f, const fg_json *stages, fg_err *e) {
    static const char *title = "Batch sizes (server)";
    const fg_json *hist = NULL, *from = NULL;
    size_t idx = 0;
    for (size_t i = stages->n; i-- > 0;) {
        const fg_json *h = fg_json_get(fg_json_get(&stages->items[i], "server"), "batch_size_hist");
        if (h && h->type == FG_JSON_ARRAY && h->n > 0) {
            hist = h;
            from = &stages->items[i];
            idx = i;
            break;
        }
    }
    if (!hist) {
        no_data(f, title, "no stage has a server batch size histogram.");
        return 0;
    }
    size_t n = hist->n;
    double *vals = malloc(n * sizeof *vals);
    char(*labs)[FMT] = malloc(n * sizeof *labs);
    const char **lp = malloc(n * sizeof *lp);
    if (!vals || !labs || !lp) {
        free(vals);
        free(labs);
        free(lp);
        return fg_err_set(e, FG_ENOMEM, "out of memory rendering the report");
    }
    double prev_le = 0, prev_cum = 0;
    for (size_t i = 0; i < n; i++) {
        const fg_json *b = &hist->items[i];
        double le = fg_json_num(fg_json_at(b, 0), NAN), cum = fg_json_num(fg_json_at(b, 1), NAN);
        if (isnan(le))
            snprintf(labs[i], FMT, ">%g", prev_le); /* +Inf written as null or a string */
        else if (le <= prev_le + 1)
            snprintf(labs[i], FMT, "%g", le);
        else
            snprintf(labs[i], FMT, "%g-%g", prev_le + 1, le);
        vals[i] = cum - prev_cum;
        if (!isnan(cum))
            prev_cum = cum;
        if (!isnan(le))
            prev_le = le;
        lp[i] = labs[i];
    }
    size_t finite = 0;
    for (size_t i = 0; i < n; i++)
        finite += isfinite(vals[i]) != 0;
    char full[160], lab[FMT + 32];
    stage_label(lab, sizeof lab, idx, from);
    snprintf(full, sizeof full, "%s, stage %s", title, lab);
    if (finite == 0)
        no_data(f, full, "the histogram has no [size, count] pairs.");
    else
        fg_svg_columns(f, full, "batches by size", lp, vals, n);
    free(vals);
    free(labs);
    free(lp);
    return 0;
}

static int chart_cache(FILE *f, const fg_json *stages, fg_err *e) {
    static const char *title = "Cache hit ratio per stage";
    size_t n = stages->n ? stages->n : 1, m = 0;
    double *vals = malloc(n * sizeof *vals);
    char(*labs)[FMT] = malloc(n * sizeof *labs);
    const char **lp = malloc(n * sizeof *lp);
    if (!vals || !labs || !lp) {
        free(vals);
        free(labs);
        free(lp);
        return fg_err_set(e, FG_ENOMEM, "out of memory rendering the report");
    }
    for (size_t i = 0; i < stages->n; i++) {
        double r = num(fg_json_get(&stages->items[i], "server"), "cache_hit_ratio");
        if (isnan(r))
            continue;
        stage_label(labs[m], FMT, i, &stages->items[i]);
        lp[m] = labs[m];
        vals[m++] = r * 100;
    }
    if (m == 0)
        no_data(f, title, "no stage reports a server cache hit ratio (no cache, or not a frugal server).");
    else
        fg_svg_bars(f, title, "%", lp, vals, m);
    free(vals);
    free(labs);
    free(lp);
    return 0;
}

int fg_bench_report_html(const fg_json *results, FILE *f, fg_err *e) {
    int rc = check_doc(results, "", e);
    if (rc != 0)
        return rc;
    const fg_json *stages = fg_json_get(results, "stages");
    char title[256];
    const char *model = str(fg_json_get(results, "target"), "model");
    snprintf(title, sizeof title, "frugal bench: %s", model ? model : "report");
    fg_html_begin(f, title);
    header(f, results);
    fg_html_heading(f, 2, "Stages");
    if (stages->n == 0)
        no_data(f, "Stages", "the run has no stages.");
    else {
        stage_table(f, stages);
        fg_html_heading(f, 3, "Latency");
        latency_table(f, stages);
        fg_html_heading(f, 3, "Server");
        server_table(f, stages);
    }
    fg_html_heading(f, 2, "Thresholds");
    thresholds(f, results);
    fg_html_heading(f, 2, "Charts");
    if ((rc = chart_latency_vs_load(f, results, stages, e)) != 0 || (rc = chart_timeline(f, stages, e)) != 0 ||
        (rc = chart_batch_sizes(f, stages, e)) != 0 || (rc = chart_cache(f, stages, e)) != 0)
        return rc;
    fputs("<p class=\"muted\">Corrected latency counts from the time a request was meant to be sent, so a "
          "stalled server cannot hide queueing (coordinated omission); service latency counts from the "
          "actual send. \"-\" means not measured.</p>\n",
          f);
    fg_html_end(f);
    return finish(f, e);
}

/* ---- compare ----------------------------------------------------------------------------------- */

typedef struct {
    const char *metric; /* name in the output */
    const char *obj;    /* sub-object of the stage holding it, or NULL */
    const char *key;
    int dir; /* +1 higher is better, -1 lower is better, 0 no direction */
} metric_def;

static const metric_def metrics[] = {
    {"throughput_rps", NULL, "throughput_rps", +1},
    {"achieved_rps", NULL, "achieved_rps", +1},
    {"p50_us", "latency_us", "p50", -1},
    {"p90_us", "latency_us", "p90", -1},
    {"p99_us", "latency_us", "p99", -1},
    {"p999_us", "latency_us", "p999", -1},
    {"service_p50_us", "service_us", "p50", -1},
    {"service_p90_us", "service_us", "p90", -1},
    {"service_p99_us", "service_us", "p99", -1},
    {"service_p999_us", "service_us", "p999", -1},
    {"errors", NULL, "error_count", -1},
    {"dropped", NULL, "dropped", -1},
    {"late", NULL, "late", -1},
    {"batch_mean", "server", "batch_mean", 0}, /* bigger batches are cheaper but slower: no verdict */
    {"cache_hit_ratio", "server", "cache_hit_ratio", +1},
    {"cost_per_1k_usd", "server", "cost_per_1k_usd", -1},
};
#define N_METRICS (sizeof metrics / sizeof metrics[0])

static double metric_value(const fg_json *st, const metric_def *m) {
    return num(m->obj ? fg_json_get(st, m->obj) : st, m->key);
}

/* "a", "b", "same", or NULL when either side was not measured or the metric has no direction */
static const char *better(double a, double b, int dir) {
    if (isnan(a) || isnan(b) || dir == 0)
        return NULL;
    if (a == b)
        return "same";
    return (b > a) == (dir > 0) ? "b" : "a";
}

static void write_str_or_null(FILE *f, const char *s) {
    if (s)
        fg_json_write_str(f, s, strlen(s));
    else
        fputs("null", f);
}

int fg_bench_compare(const fg_json *a, const fg_json *b, const char *name_a, const char *name_b, int json, FILE *f,
                     fg_err *e) {
    name_a = name_a ? name_a : "A";
    name_b = name_b ? name_b : "B";
    char who[300];
    snprintf(who, sizeof who, "A (%s): ", name_a);
    int rc = check_doc(a, who, e);
    if (rc != 0)
        return rc;
    snprintf(who, sizeof who, "B (%s): ", name_b);
    if ((rc = check_doc(b, who, e)) != 0)
        return rc;
    const fg_json *sa = fg_json_get(a, "stages"), *sb = fg_json_get(b, "stages");
    size_t n = sa->n < sb->n ? sa->n : sb->n;
    char count_note[160] = "";
    if (sa->n != sb->n)
        snprintf(count_note, sizeof count_note, "A has %zu stages, B has %zu: comparing the first %zu by index", sa->n,
                 sb->n, n);

    if (json) {
        fputs("{\"a\":", f);
        write_str_or_null(f, name_a);
        fputs(",\"b\":", f);
        write_str_or_null(f, name_b);
        fprintf(f, ",\"stages_a\":%zu,\"stages_b\":%zu,\"notes\":[", sa->n, sb->n);
        if (count_note[0])
            write_str_or_null(f, count_note);
        fputs("],\"stages\":[", f);
    } else {
        fprintf(f, "A: %s\nB: %s\n", name_a, name_b);
        if (count_note[0])
            fprintf(f, "note: %s\n", count_note);
    }
    for (size_t i = 0; i < n; i++) {
        const fg_json *x = &sa->items[i], *y = &sb->items[i];
        const char *na = str(x, "name"), *nb = str(y, "name"), *ka = str(x, "kind"), *kb = str(y, "kind");
        int same_name = (na && nb) ? strcmp(na, nb) == 0 : na == nb;
        int same_kind = (ka && kb) ? strcmp(ka, kb) == 0 : ka == kb;
        if (json) {
            fprintf(f, "%s{\"index\":%zu,\"name_a\":", i ? "," : "", i);
            write_str_or_null(f, na);
            fputs(",\"name_b\":", f);
            write_str_or_null(f, nb);
            fputs(",\"kind_a\":", f);
            write_str_or_null(f, ka);
            fputs(",\"kind_b\":", f);
            write_str_or_null(f, kb);
            fprintf(f, ",\"same_stage\":%s,\"metrics\":[", same_name && same_kind ? "true" : "false");
        } else {
            fprintf(f, "\nstage %zu: A \"%s\" (%s), B \"%s\" (%s)\n", i, na ? na : "-", ka ? ka : "-", nb ? nb : "-",
                    kb ? kb : "-");
            if (!same_name || !same_kind)
                fprintf(f, "note: stage %zu differs (%s%s%s): the comparison may not be like for like\n", i,
                        same_name ? "" : "names", !same_name && !same_kind ? " and " : "", same_kind ? "" : "kinds");
            fprintf(f, "  %-16s %14s %14s %14s %9s  %s\n", "metric", "A", "B", "delta", "delta %", "better");
        }
        for (size_t k = 0; k < N_METRICS; k++) {
            const metric_def *m = &metrics[k];
            double va = metric_value(x, m), vb = metric_value(y, m);
            double d = vb - va, pct = va != 0 ? d / fabs(va) * 100 : NAN;
            const char *bt = better(va, vb, m->dir);
            if (json) {
                fprintf(f, "%s{\"metric\":\"%s\",\"a\":", k ? "," : "", m->metric);
                fg_json_write_num(f, va);
                fputs(",\"b\":", f);
                fg_json_write_num(f, vb);
                fputs(",\"delta\":", f);
                fg_json_write_num(f, d);
                fputs(",\"delta_pct\":", f);
                fg_json_write_num(f, pct);
                fputs(",\"better\":", f);
                write_str_or_null(f, bt);
                fputc('}', f);
            } else {
                char ca[FMT] = "-", cb[FMT] = "-", cd[FMT] = "-", cp[FMT] = "-";
                if (!isnan(va))
                    snprintf(ca, FMT, "%.6g", va);
                if (!isnan(vb))
                    snprintf(cb, FMT, "%.6g", vb);
                if (!isnan(d))
                    snprintf(cd, FMT, "%+.6g", d);
                if (!isnan(pct))
                    snprintf(cp, FMT, "%+.1f%%", pct);
                const char *bw = !bt ? "" : strcmp(bt, "a") == 0 ? "A" : strcmp(bt, "b") == 0 ? "B" : "same";
                fprintf(f, "  %-16s %14s %14s %14s %9s%s%s\n", m->metric, ca, cb, cd, cp, bw[0] ? "  " : "", bw);
            }
        }
        if (json)
            fputs("]}", f);
    }
    if (json)
        fputs("]}\n", f);
    return finish(f, e);
}
