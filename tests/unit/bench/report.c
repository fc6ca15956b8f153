/* Tests for src/bench/report.c: the HTML report of a small results document (header, one row per stage,
 * null shown as "-" and never 0, thresholds with units and pass/FAIL, charts that carry their data,
 * sentences instead of empty charts) and the comparison of two runs in text and JSON (values, deltas,
 * better/worse per metric direction, notes on mismatched stages); documents that are not results are
 * refused with a message naming the problem, and a failed write is reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/report.h"

#define NB "\xc2\xa0" /* the no-break space between a number and its unit */

/* Two open-loop stages; the second has no p99.9, no server data and no timeline. */
static const char doc_a[] =
    "{\"tool\": \"frugal bench\", \"version\": \"0.1.0\", \"started_at\": \"2026-11-29T01:02:03Z\","
    " \"target\": {\"url\": \"http://127.0.0.1:8000\", \"model\": \"digits_mlp\", \"kind\": \"v2\","
    "  \"format\": \"json\", \"method\": \"POST\", \"frugal\": true},"
    " \"config\": {\"mode\": \"open\", \"arrival\": \"constant\", \"threads\": 2, \"max_connections\": 256,"
    "  \"profile\": null, \"inputs\": \"random\", \"timeout_s\": 10},"
    " \"client\": {\"cpu_user_s\": 1.2, \"cpu_sys_s\": 3.4, \"cpu_share\": 0.62, \"ncpu\": 2},"
    " \"stages\": ["
    "  {\"index\": 0, \"name\": \"step 1000/s\", \"kind\": \"constant\", \"offered_rps\": 1000,"
    "   \"offered_rps_end\": null, \"concurrency\": null, \"duration_s\": 10.0, \"sent\": 10000,"
    "   \"completed\": 9995, \"ok\": 9990,"
    "   \"errors\": {\"http_503\": 3, \"http_400\": 0, \"connect\": 1, \"timeout\": 1, \"reset\": 0, \"other\": 0},"
    "   \"error_count\": 5, \"dropped\": 5, \"late\": 12, \"achieved_rps\": 999.5, \"throughput_rps\": 999.0,"
    "   \"latency_us\": {\"count\": 9995, \"min\": 80, \"mean\": 140.2, \"p50\": 120, \"p90\": 180, \"p95\": 210,"
    "    \"p99\": 400, \"p999\": 900, \"max\": 1500},"
    "   \"service_us\": {\"count\": 9995, \"min\": 78, \"mean\": 130.0, \"p50\": 118, \"p90\": 170, \"p95\": 200,"
    "    \"p99\": 310, \"p999\": 800, \"max\": 1400},"
    "   \"timeline\": [{\"t_s\": 1, \"sent\": 1000, \"ok\": 999, \"errors\": 1, \"p50_us\": 120, \"p99_us\": 400,"
    "    \"service_p99_us\": 300}, {\"t_s\": 2, \"sent\": 1000, \"ok\": 1000, \"errors\": 0, \"p50_us\": 121,"
    "    \"p99_us\": 380, \"service_p99_us\": null}],"
    "   \"stable\": true, \"client_cpu_share\": 0.4,"
    "   \"server\": {\"requests\": 9990, \"rps\": 999, \"batch_mean\": 3.2, \"batch_efficiency\": 0.4,"
    "    \"batch_size_hist\": [[1, 10], [2, 30], [4, 60]], \"cache_hit_ratio\": 0.5, \"queue_mean_s\": 0.0002,"
    "    \"compute_mean_s\": 0.0002, \"cpu_share\": 0.55, \"cpu_estimate\": false, \"price_per_hour_usd\": 0.085,"
    "    \"cost_per_1k_usd\": 2.4e-5}},"
    "  {\"index\": 1, \"name\": \"step 2000/s\", \"kind\": \"constant\", \"offered_rps\": 2000,"
    "   \"offered_rps_end\": null, \"concurrency\": null, \"duration_s\": 10.0, \"sent\": 19000,"
    "   \"completed\": 18990, \"ok\": 18990, \"errors\": {\"http_503\": 0}, \"error_count\": 0, \"dropped\": null,"
    "   \"late\": null, \"achieved_rps\": 1900, \"throughput_rps\": 1899,"
    "   \"latency_us\": {\"count\": 18990, \"min\": 90, \"mean\": 200, \"p50\": 150, \"p90\": 300, \"p95\": 400,"
    "    \"p99\": 2500, \"p999\": null, \"max\": 1200000},"
    "   \"service_us\": null, \"timeline\": [], \"stable\": null, \"client_cpu_share\": null, \"server\": null}"
    " ],"
    " \"thresholds\": [{\"expr\": \"p99<20ms\", \"stage\": null, \"value\": 2500, \"limit\": 20000, \"passed\": true},"
    "  {\"expr\": \"1:errors<0.1%\", \"stage\": 1, \"value\": 0.5, \"limit\": 0.1, \"passed\": false}],"
    " \"passed\": false}";

/* The same run, a second time: faster, no errors, one stage renamed, and a third stage. */
static const char doc_b[] =
    "{\"stages\": ["
    "  {\"index\": 0, \"name\": \"step 1000/s\", \"kind\": \"constant\", \"throughput_rps\": 1049.5,"
    "   \"achieved_rps\": 999.5, \"error_count\": 0, \"dropped\": 5, \"late\": 24,"
    "   \"latency_us\": {\"p50\": 120, \"p90\": 162, \"p99\": 300, \"p999\": null},"
    "   \"service_us\": {\"p50\": 100, \"p90\": 150, \"p99\": 250, \"p999\": 700},"
    "   \"server\": {\"batch_mean\": 4.0, \"cache_hit_ratio\": 0.25, \"cost_per_1k_usd\": 1.2e-5}},"
    "  {\"index\": 1, \"name\": \"ramp\", \"kind\": \"ramp\", \"throughput_rps\": 1899,"
    "   \"latency_us\": {\"p99\": 2000}, \"server\": null},"
    "  {\"index\": 2, \"name\": \"extra\", \"kind\": \"soak\"}"
    "]}";

static fg_json *parse(const char *text) {
    fg_json *v = NULL;
    fg_err e = {0};
    if (fg_json_parse(text, strlen(text), &v, &e) != 0)
        fail_msg("fixture does not parse: %s", e.msg);
    return v;
}

static char *render(const char *text) {
    fg_json *doc = parse(text);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    fg_err e = {0};
    int rc = fg_bench_report_html(doc, f, &e);
    fclose(f);
    fg_json_free(doc);
    if (rc != 0)
        fail_msg("report failed: %s", e.msg);
    return out;
}

static char *compare(const char *a, const char *b, int json) {
    fg_json *da = parse(a), *db = parse(b);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    fg_err e = {0};
    int rc = fg_bench_compare(da, db, "base.json", "new.json", json, f, &e);
    fclose(f);
    fg_json_free(da);
    fg_json_free(db);
    if (rc != 0)
        fail_msg("compare failed: %s", e.msg);
    return out;
}

static void has(const char *hay, const char *needle) {
    if (!strstr(hay, needle))
        fail_msg("missing: %s", needle);
}

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The text between the first occurrence of from and the next occurrence of to (malloc'ed). */
static char *between(const char *hay, const char *from, const char *to) {
    const char *a = strstr(hay, from);
    if (!a)
        fail_msg("missing: %s", from);
    const char *b = strstr(a, to);
    if (!b)
        fail_msg("missing %s after %s", to, from);
    size_t n = (size_t)(b - a) + strlen(to);
    char *s = malloc(n + 1);
    memcpy(s, a, n);
    s[n] = 0;
    return s;
}

static void report_shows_header_and_one_row_per_stage(void **state) {
    (void)state;
    char *html = render(doc_a);
    assert_true(strncmp(html, "<!doctype html>", 15) == 0);
    has(html, "<title>frugal bench: digits_mlp</title>");
    has(html, "<tr><th>Target</th><td>http://127.0.0.1:8000</td></tr>");
    has(html, "<tr><th>Mode</th><td>open loop, constant, 2 threads, at most 256 connections</td></tr>");
    has(html, "<tr><th>Date</th><td>2026-11-29T01:02:03Z</td></tr>");
    has(html, "<tr><th>Client CPU</th><td>62.0% of 2 CPUs (user 1.2 s, system 3.4 s)</td></tr>");
    has(html, "<tr><th>Result</th><td>FAILED</td></tr>");
    char *stages = between(html, "<table id=\"stages\">", "</table>");
    assert_int_equal(count(stages, "<tr class=\"stage\""), 2);
    has(stages, "<tr class=\"stage\" data-stage=\"0\"><td>0</td><td>step 1000/s</td><td>constant</td>"
                "<td class=\"num\">1000/s</td><td class=\"num\">10.0" NB "s</td><td class=\"num\">10000</td>"
                "<td class=\"num\">9990</td><td class=\"num\">999.5</td><td class=\"num\">999.0</td>"
                "<td class=\"num\">5 (http_503 3, connect 1, timeout 1)</td><td class=\"num\">5</td>"
                "<td class=\"num\">12</td><td>yes</td><td class=\"num\">40.0%</td></tr>");
    /* stage 1: dropped, late, stable and client CPU were not measured: "-", not 0 */
    has(stages, "<td class=\"num\">0</td><td class=\"num\">-</td><td class=\"num\">-</td><td>-</td>"
                "<td class=\"num\">-</td></tr>");
    free(stages);

    char *lat = between(html, "<table id=\"latency\">", "</table>");
    has(lat, "<tr class=\"stage\" data-stage=\"0\"><td>0</td><td>step 1000/s</td><td class=\"num\">120" NB "µs</td>"
             "<td class=\"num\">180" NB "µs</td><td class=\"num\">210" NB "µs</td><td class=\"num\">400" NB "µs</td>"
             "<td class=\"num\">900" NB "µs</td><td class=\"num\">1.50" NB "ms</td><td class=\"num\">118" NB "µs</td>");
    /* null p99.9 and a null service object */
    has(lat, "<td class=\"num\">2.50" NB "ms</td><td class=\"num\">-</td><td class=\"num\">1.20" NB "s</td>"
             "<td class=\"num\">-</td><td class=\"num\">-</td><td class=\"num\">-</td><td class=\"num\">-</td>"
             "<td class=\"num\">-</td><td class=\"num\">-</td></tr>");
    free(lat);

    char *srv = between(html, "<table id=\"server\">", "</table>");
    has(srv, "<tr class=\"stage\" data-stage=\"0\"><td>0</td><td>step 1000/s</td><td class=\"num\">9990</td>"
             "<td class=\"num\">999.0</td><td class=\"num\">3.20</td><td class=\"num\">40.0%</td>"
             "<td class=\"num\">50.0%</td><td class=\"num\">200" NB "µs</td><td class=\"num\">200" NB "µs</td>"
             "<td class=\"num\">50.0%</td><td class=\"num\">55.0%</td><td class=\"num\">$0.0000240</td></tr>");
    /* "server": null: a row of dashes, never zeros */
    has(srv, "<tr class=\"stage\" data-stage=\"1\"><td>1</td><td>step 2000/s</td><td class=\"num\">-</td>"
             "<td class=\"num\">-</td><td class=\"num\">-</td><td class=\"num\">-</td><td class=\"num\">-</td>"
             "<td class=\"num\">-</td><td class=\"num\">-</td><td class=\"num\">-</td><td class=\"num\">-</td>"
             "<td class=\"num\">-</td></tr>");
    free(srv);
    assert_null(strstr(html, "nan"));
    assert_null(strstr(html, "inf"));
    assert_null(strstr(html, "<script"));
    free(html);
}

static void report_shows_thresholds_with_units_and_verdicts(void **state) {
    (void)state;
    char *html = render(doc_a);
    char *thr = between(html, "<table id=\"thresholds\">", "</table>");
    assert_int_equal(count(thr, "<tr class=\"threshold\">"), 2);
    has(thr, "<tr class=\"threshold\"><td>p99&lt;20ms</td><td>all</td><td class=\"num\">2.50" NB "ms</td>"
             "<td class=\"num\">20.00" NB "ms</td><td class=\"good\">pass</td></tr>");
    has(thr, "<tr class=\"threshold\"><td>1:errors&lt;0.1%</td><td>1</td><td class=\"num\">0.50%</td>"
             "<td class=\"num\">0.10%</td><td class=\"bad\">FAIL</td></tr>");
    free(thr);
    free(html);
}

/* data-points of the n-th chart (0-based), or -1 */
static long chart_points(const char *html, size_t n) {
    const char *p = html;
    for (size_t i = 0; i <= n; i++) {
        p = strstr(p, "<svg class=\"chart\"");
        if (!p)
            return -1;
        p++;
    }
    const char *d = strstr(p, "data-points=\"");
    return d ? strtol(d + 13, NULL, 10) : -1;
}

static void report_charts_carry_their_data(void **state) {
    (void)state;
    char *html = render(doc_a);
    assert_int_equal(count(html, "<svg class=\"chart\""), 5);
    /* latency vs load: 2 stages x p50/p90/p99/p99.9, less stage 1's null p99.9 */
    has(html, "data-kind=\"lines\" data-points=\"7\"");
    assert_int_equal(chart_points(html, 0), 7);
    /* p99 over time: 2 seconds x p50/p99/service p99, less one null */
    assert_int_equal(chart_points(html, 1), 5);
    /* throughput over time: 2 seconds x ok/sent/errors */
    assert_int_equal(chart_points(html, 2), 6);
    /* batch sizes: cumulative 10/30/60 -> 10, 20, 30 in buckets 1, 2, 3-4 */
    assert_int_equal(chart_points(html, 3), 3);
    char *cols = between(html, "data-kind=\"columns\"", "</svg>");
    has(cols, "Batch sizes (server), stage #0 step 1000/s");
    has(cols, "data-value=\"10\"");
    has(cols, "data-value=\"20\"");
    has(cols, "data-value=\"30\"");
    has(cols, ">3-4</text>");
    free(cols);
    /* cache hit ratio: only stage 0 has one */
    assert_int_equal(chart_points(html, 4), 1);
    char *bars = between(html, "data-kind=\"bars\"", "</svg>");
    has(bars, "data-value=\"50\"");
    has(bars, "#0 step 1000/s");
    free(bars);
    assert_null(strstr(html, "class=\"muted nodata\""));
    free(html);
}

static void report_says_so_when_a_chart_has_no_data(void **state) {
    (void)state;
    char *html = render("{\"config\": {\"mode\": \"closed\"}, \"stages\": [{\"name\": \"s\", \"concurrency\": 8,"
                        " \"latency_us\": null, \"server\": null}], \"thresholds\": []}");
    assert_null(strstr(html, "<svg"));
    assert_int_equal(count(html, "class=\"muted nodata\""), 7); /* server, thresholds, 5 charts */
    has(html, "no stage has both a concurrency and latency percentiles.");
    has(html, "the stages have no per-second timeline.");
    has(html, "no stage has a server batch size histogram.");
    has(html, "no stage reports a server cache hit ratio");
    has(html, "no server data");
    has(html, "none were set (--threshold).");
    has(html, "<tr><th>Result</th><td>no thresholds</td></tr>");
    has(html, "<td class=\"num\">8 connections</td>");
    free(html);

    /* a histogram without a usable pair is no chart either */
    html = render("{\"stages\": [{\"name\": \"s\", \"server\": {\"batch_size_hist\": [[\"x\", null], 3]}}]}");
    has(html, "Batch sizes (server), stage #0 s:</strong> the histogram has no [size, count] pairs.");
    assert_null(strstr(html, "data-kind=\"columns\""));
    free(html);

    html = render("{\"stages\": []}");
    has(html, "the run has no stages.");
    assert_null(strstr(html, "<svg"));
    free(html);
}

static void report_escapes_text_from_the_document(void **state) {
    (void)state;
    char *html = render("{\"target\": {\"model\": \"<b>m&m</b>\"}, \"stages\": [{\"name\": \"<script>x\"}]}");
    assert_null(strstr(html, "<script>"));
    assert_null(strstr(html, "<b>"));
    has(html, "&lt;script&gt;x");
    has(html, "frugal bench: &lt;b&gt;m&amp;m&lt;/b&gt;");
    free(html);
}

static void report_refuses_documents_that_are_not_results(void **state) {
    (void)state;
    const char *docs[] = {"{\"x\": 1}", "[1]", "{\"stages\": {}}", "{\"stages\": [{}, 2]}"};
    const char *msgs[] = {"not a frugal bench results document: no \"stages\" array",
                          "not a frugal bench results document: not a JSON object",
                          "not a frugal bench results document: no \"stages\" array", "stage 1 is not a JSON object"};
    for (size_t i = 0; i < 4; i++) {
        fg_json *doc = parse(docs[i]);
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        fg_err e = {0};
        assert_int_equal(fg_bench_report_html(doc, f, &e), -1);
        assert_int_equal(e.code, FG_EINVAL);
        assert_string_equal(e.msg, msgs[i]);
        fclose(f);
        assert_int_equal(len, 0); /* nothing written for a bad document */
        free(out);
        fg_json_free(doc);
    }
    fg_err e = {0};
    assert_int_equal(fg_bench_report_html(NULL, stdout, &e), FG_EINVAL);
}

static void report_and_compare_report_write_failures(void **state) {
    (void)state;
    FILE *f = fopen("/dev/full", "w");
    if (!f)
        skip();
    fg_json *doc = parse(doc_a);
    fg_err e = {0};
    assert_int_equal(fg_bench_report_html(doc, f, &e), FG_EIO);
    assert_string_equal(e.msg, "writing the bench report failed");
    fclose(f);
    f = fopen("/dev/full", "w");
    fg_err_clear(&e);
    assert_int_equal(fg_bench_compare(doc, doc, NULL, NULL, 0, f, &e), FG_EIO);
    fclose(f);
    fg_json_free(doc);
}

static void compare_text_aligns_values_deltas_and_verdicts(void **state) {
    (void)state;
    char *out = compare(doc_a, doc_b, 0);
    has(out, "A: base.json\nB: new.json\n");
    has(out, "note: A has 2 stages, B has 3: comparing the first 2 by index\n");
    has(out, "\nstage 0: A \"step 1000/s\" (constant), B \"step 1000/s\" (constant)\n"
             "  metric                        A              B          delta   delta %  better\n"
             "  throughput_rps              999         1049.5          +50.5     +5.1%  B\n"
             "  achieved_rps              999.5          999.5             +0     +0.0%  same\n"
             "  p50_us                      120            120             +0     +0.0%  same\n"
             "  p90_us                      180            162            -18    -10.0%  B\n"
             "  p99_us                      400            300           -100    -25.0%  B\n"
             "  p999_us                     900              -              -         -\n"
             "  service_p50_us              118            100            -18    -15.3%  B\n");
    has(out, "  errors                        5              0             -5   -100.0%  B\n"
             "  dropped                       5              5             +0     +0.0%  same\n"
             "  late                         12             24            +12   +100.0%  A\n"
             "  batch_mean                  3.2              4           +0.8    +25.0%\n"
             "  cache_hit_ratio             0.5           0.25          -0.25    -50.0%  A\n"
             "  cost_per_1k_usd         2.4e-05        1.2e-05       -1.2e-05    -50.0%  B\n");
    has(out, "\nstage 1: A \"step 2000/s\" (constant), B \"ramp\" (ramp)\n"
             "note: stage 1 differs (names and kinds): the comparison may not be like for like\n");
    has(out, "  errors                        0              -              -         -\n");
    assert_null(strstr(out, "stage 2"));
    free(out);
}

static const fg_json *metric(const fg_json *stage, const char *name) {
    const fg_json *ms = fg_json_get(stage, "metrics");
    for (size_t i = 0; i < fg_json_count(ms); i++)
        if (strcmp(fg_json_str(fg_json_get(fg_json_at(ms, i), "metric"), ""), name) == 0)
            return fg_json_at(ms, i);
    fail_msg("no metric %s", name);
    return NULL;
}

static void compare_json_has_deltas_and_better_per_direction(void **state) {
    (void)state;
    char *out = compare(doc_a, doc_b, 1);
    fg_json *c = parse(out); /* the output must be valid JSON */
    assert_string_equal(fg_json_str(fg_json_get(c, "a"), ""), "base.json");
    assert_string_equal(fg_json_str(fg_json_get(c, "b"), ""), "new.json");
    assert_string_equal(fg_json_str(fg_json_at(fg_json_get(c, "notes"), 0), ""),
                        "A has 2 stages, B has 3: comparing the first 2 by index");
    const fg_json *stages = fg_json_get(c, "stages");
    assert_int_equal(fg_json_count(stages), 2);
    const fg_json *s0 = fg_json_at(stages, 0), *s1 = fg_json_at(stages, 1);
    assert_true(fg_json_num(fg_json_get(s0, "index"), -1) == 0);
    assert_int_equal(fg_json_bool(fg_json_get(s0, "same_stage"), -1), 1);
    assert_string_equal(fg_json_str(fg_json_get(s1, "name_a"), ""), "step 2000/s");
    assert_string_equal(fg_json_str(fg_json_get(s1, "name_b"), ""), "ramp");
    assert_int_equal(fg_json_bool(fg_json_get(s1, "same_stage"), -1), 0);
    assert_int_equal(fg_json_count(fg_json_get(s0, "metrics")), 16);

    const fg_json *p99 = metric(s0, "p99_us");
    assert_true(fg_json_num(fg_json_get(p99, "a"), 0) == 400);
    assert_true(fg_json_num(fg_json_get(p99, "b"), 0) == 300);
    assert_true(fg_json_num(fg_json_get(p99, "delta"), 0) == -100);
    assert_true(fg_json_num(fg_json_get(p99, "delta_pct"), 0) == -25);
    assert_string_equal(fg_json_str(fg_json_get(p99, "better"), ""), "b"); /* lower latency is better */

    const fg_json *tp = metric(s0, "throughput_rps");
    assert_true(fabs(fg_json_num(fg_json_get(tp, "delta_pct"), 0) - 50.5 / 999 * 100) < 1e-9);
    assert_string_equal(fg_json_str(fg_json_get(tp, "better"), ""), "b"); /* higher throughput is better */
    assert_string_equal(fg_json_str(fg_json_get(metric(s0, "cache_hit_ratio"), "better"), ""), "a");
    assert_string_equal(fg_json_str(fg_json_get(metric(s0, "cost_per_1k_usd"), "better"), ""), "b");
    assert_string_equal(fg_json_str(fg_json_get(metric(s0, "late"), "better"), ""), "a");
    assert_string_equal(fg_json_str(fg_json_get(metric(s0, "dropped"), "better"), ""), "same");
    /* no direction for batch size: a value, no verdict */
    const fg_json *bm = metric(s0, "batch_mean");
    assert_true(fabs(fg_json_num(fg_json_get(bm, "delta"), 0) - 0.8) < 1e-12);
    assert_int_equal(fg_json_get(bm, "better")->type, FG_JSON_NULL);
    /* not measured on one side: null value, null delta, null verdict */
    const fg_json *p999 = metric(s0, "p999_us");
    assert_true(fg_json_num(fg_json_get(p999, "a"), 0) == 900);
    assert_int_equal(fg_json_get(p999, "b")->type, FG_JSON_NULL);
    assert_int_equal(fg_json_get(p999, "delta")->type, FG_JSON_NULL);
    assert_int_equal(fg_json_get(p999, "delta_pct")->type, FG_JSON_NULL);
    assert_int_equal(fg_json_get(p999, "better")->type, FG_JSON_NULL);
    /* a = 0: a delta but no percentage */
    const fg_json *err1 = metric(s1, "errors");
    assert_int_equal(fg_json_get(err1, "b")->type, FG_JSON_NULL);
    const fg_json *err0 = metric(s0, "errors");
    assert_true(fg_json_num(fg_json_get(err0, "delta_pct"), 0) == -100);
    const fg_json *p99_1 = metric(s1, "p99_us");
    assert_true(fg_json_num(fg_json_get(p99_1, "delta"), 0) == -500);
    fg_json_free(c);
    free(out);

    out = compare(doc_b, doc_b, 1); /* same stage counts: no notes */
    c = parse(out);
    assert_int_equal(fg_json_count(fg_json_get(c, "notes")), 0);
    assert_int_equal(fg_json_count(fg_json_get(c, "stages")), 3);
    assert_string_equal(fg_json_str(fg_json_get(metric(fg_json_at(fg_json_get(c, "stages"), 0), "p99_us"), "better"), ""),
                        "same");
    fg_json_free(c);
    free(out);
}

static void compare_names_the_document_that_is_not_results(void **state) {
    (void)state;
    fg_json *good = parse(doc_b), *bad = parse("{\"stage\": []}");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    fg_err e = {0};
    assert_int_equal(fg_bench_compare(good, bad, "base.json", "new.json", 0, f, &e), -1);
    assert_string_equal(e.msg, "B (new.json): not a frugal bench results document: no \"stages\" array");
    fg_err_clear(&e);
    assert_int_equal(fg_bench_compare(bad, good, NULL, NULL, 1, f, &e), -1);
    assert_string_equal(e.msg, "A (A): not a frugal bench results document: no \"stages\" array");
    fclose(f);
    assert_int_equal(len, 0);
    free(out);
    fg_json_free(good);
    fg_json_free(bad);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_shows_header_and_one_row_per_stage),
        cmocka_unit_test(report_shows_thresholds_with_units_and_verdicts),
        cmocka_unit_test(report_charts_carry_their_data),
        cmocka_unit_test(report_says_so_when_a_chart_has_no_data),
        cmocka_unit_test(report_escapes_text_from_the_document),
        cmocka_unit_test(report_refuses_documents_that_are_not_results),
        cmocka_unit_test(report_and_compare_report_write_failures),
        cmocka_unit_test(compare_text_aligns_values_deltas_and_verdicts),
        cmocka_unit_test(compare_json_has_deltas_and_better_per_direction),
        cmocka_unit_test(compare_names_the_document_that_is_not_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
