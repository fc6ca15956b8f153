/* Tests for src/serve/promtext.c: a real frugal scrape, escapes, special values, comments and blank lines,
 * hostile lines (skipped and counted, never a crash), the bucket and histogram quantile helpers against
 * hand-computed values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/promtext.h"

static void assert_close(double got, double want) {
    if (fabs(got - want) > 1e-9 * fabs(want) + 1e-15)
        fail_msg("got %.12g, want %.12g", got, want);
}

/* the first 47 lines of GET /metrics of `frugal serve models/digits_mlp.onnx --port 0 --cache-bytes 16M
 * --price-per-hour 0.5` after 5 good requests and one bad one */
static const char real_scrape[] =
    "# HELP frugal_process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
    "# TYPE frugal_process_cpu_seconds_total counter\n"
    "frugal_process_cpu_seconds_total 0.00946\n"
    "# HELP frugal_process_resident_memory_bytes Resident memory size in bytes.\n"
    "# TYPE frugal_process_resident_memory_bytes gauge\n"
    "frugal_process_resident_memory_bytes 16568320\n"
    "# HELP frugal_process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
    "# TYPE frugal_process_start_time_seconds gauge\n"
    "frugal_process_start_time_seconds 1795907016.2473545\n"
    "# HELP frugal_uptime_seconds Seconds since the process started.\n"
    "# TYPE frugal_uptime_seconds gauge\n"
    "frugal_uptime_seconds 2.078005416\n"
    "# HELP frugal_price_per_hour_usd Configured price of this server per hour in USD (--price-per-hour).\n"
    "# TYPE frugal_price_per_hour_usd gauge\n"
    "frugal_price_per_hour_usd 0.5\n"
    "# HELP frugal_cost_usd_total Running cost of this server in USD: price_per_hour_usd * uptime_seconds / 3600.\n"
    "# TYPE frugal_cost_usd_total counter\n"
    "frugal_cost_usd_total 0.0002886118633333333\n"
    "# HELP frugal_requests_total Infer requests by outcome and HTTP status.\n"
    "# TYPE frugal_requests_total counter\n"
    "frugal_requests_total{model=\"digits_mlp\",version=\"1\",outcome=\"success\",status=\"200\"} 5\n"
    "frugal_requests_total{model=\"digits_mlp\",version=\"1\",outcome=\"bad_request\",status=\"400\"} 1\n"
    "frugal_requests_total{model=\"digits_mlp\",version=\"1\",outcome=\"rejected\",status=\"503\"} 0\n"
    "frugal_requests_total{model=\"digits_mlp\",version=\"1\",outcome=\"timeout\",status=\"503\"} 0\n"
    "frugal_requests_total{model=\"digits_mlp\",version=\"1\",outcome=\"unavailable\",status=\"503\"} 0\n"
    "frugal_requests_total{model=\"digits_mlp\",version=\"1\",outcome=\"error\",status=\"500\"} 0\n"
    "# HELP frugal_request_duration_seconds Infer request time from decoded to answered (queue + compute + encode), seconds.\n"
    "# TYPE frugal_request_duration_seconds histogram\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"0.0005\"} 4\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"0.001\"} 4\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"0.0025\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"0.005\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"0.01\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"0.025\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"0.05\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"0.1\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"0.25\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"0.5\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"1\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"2.5\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"5\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"10\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"30\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"60\"} 5\n"
    "frugal_request_duration_seconds_bucket{model=\"digits_mlp\",version=\"1\",le=\"+Inf\"} 5\n"
    "frugal_request_duration_seconds_sum{model=\"digits_mlp\",version=\"1\"} 0.002136993\n"
    "frugal_request_duration_seconds_count{model=\"digits_mlp\",version=\"1\"} 5\n";

static fg_prom_doc parse(const char *text) {
    fg_prom_doc d;
    fg_err e = {0};
    assert_int_equal(fg_prom_parse(text, strlen(text), &d, &e), 0);
    return d;
}

static void real_frugal_scrape(void **state) {
    (void)state;
    fg_prom_doc d = parse(real_scrape);
    assert_int_equal(d.n_bad, 0);
    assert_int_equal(d.bad_line, 0);
    assert_int_equal(d.n_samples, 6 + 6 + 17 + 2);
    assert_int_equal(fg_prom_family_type(&d, "frugal_process_cpu_seconds_total"), FG_PROM_COUNTER);
    assert_int_equal(fg_prom_family_type(&d, "frugal_uptime_seconds"), FG_PROM_GAUGE);
    assert_int_equal(fg_prom_family_type(&d, "frugal_request_duration_seconds"), FG_PROM_HISTOGRAM);
    assert_int_equal(fg_prom_family_type(&d, "nope"), FG_PROM_UNTYPED);
    size_t n;
    assert_close(fg_prom_sum(&d, "frugal_uptime_seconds", NULL, 0, &n), 2.078005416);
    assert_int_equal(n, 1);
    assert_close(fg_prom_sum(&d, "frugal_requests_total", NULL, 0, &n), 6);
    assert_int_equal(n, 6);
    const char *ok[] = {"model", "digits_mlp", "outcome", "success"};
    assert_close(fg_prom_sum(&d, "frugal_requests_total", ok, 2, &n), 5);
    assert_int_equal(n, 1);
    const char *none[] = {"model", "other"};
    assert_close(fg_prom_sum(&d, "frugal_requests_total", none, 1, &n), 0);
    assert_int_equal(n, 0);
    const fg_prom_sample *s = &d.samples[6];
    assert_string_equal(s->name, "frugal_requests_total");
    assert_string_equal(fg_prom_label_value(s, "status"), "200");
    assert_null(fg_prom_label_value(s, "le"));

    const char *m[] = {"model", "digits_mlp", "version", "1"};
    double le[64], cum[64];
    size_t nb = fg_prom_buckets(&d, "frugal_request_duration_seconds", m, 2, le, cum, 64);
    assert_int_equal(nb, 17);
    assert_true(isinf(le[16]) && le[16] > 0);
    assert_close(le[0], 0.0005);
    assert_close(cum[0], 4);
    assert_close(cum[16], 5);
    /* 4 in (0, 0.5 ms], 1 in (1 ms, 2.5 ms] */
    assert_close(fg_prom_histogram_quantile(0.50, le, cum, nb), 0.0005 * 2.5 / 4);
    assert_close(fg_prom_histogram_quantile(0.95, le, cum, nb), 0.001 + 0.0015 * 0.75);
    assert_close(fg_prom_histogram_quantile(0.99, le, cum, nb), 0.001 + 0.0015 * 0.95);
    /* a family name that is a prefix of another family's is not mixed up */
    assert_int_equal(fg_prom_buckets(&d, "frugal_request_duration", m, 2, le, cum, 64), 0);
    fg_prom_free(&d);
    fg_prom_free(&d); /* twice is harmless */
}

static void escapes_and_special_values(void **state) {
    (void)state;
    fg_prom_doc d = parse("\n"
                          "   \n"
                          "# a comment\n"
                          "#\n"
                          "# HELP m help with \\\\ and \\n escapes\n"
                          "# TYPE m gauge\n"
                          "m{a=\"x\\\"y\\\\z\\nw\",b=\"q\\t\"} 1.5\r\n"
                          "m{} +Inf\n"
                          "m -Inf 1700000000000\n"
                          "m NaN\n"
                          "\tm{ a = \"sp\" , } 2e-3   -5  \n"
                          "m{a=\"\"} -0.25e+2\n"
                          "m_bucket{le=\"+Inf\"} 7\n"
                          "m:rate:5m 3");
    assert_int_equal(d.n_bad, 0);
    assert_int_equal(d.n_samples, 8);
    assert_int_equal(d.n_lines, 14);
    assert_int_equal(fg_prom_family_type(&d, "m"), FG_PROM_GAUGE);
    fg_prom_sample *s = d.samples;
    assert_int_equal(s[0].n_labels, 2);
    assert_string_equal(fg_prom_label_value(&s[0], "a"), "x\"y\\z\nw");
    assert_string_equal(fg_prom_label_value(&s[0], "b"), "qt"); /* unknown escape: the character */
    assert_close(s[0].value, 1.5);
    assert_true(isinf(s[1].value) && s[1].value > 0 && s[1].n_labels == 0);
    assert_true(isinf(s[2].value) && s[2].value < 0);
    assert_true(s[2].has_timestamp && s[2].timestamp_ms == 1700000000000);
    assert_true(isnan(s[3].value) && !s[3].has_timestamp);
    assert_string_equal(fg_prom_label_value(&s[4], "a"), "sp");
    assert_close(s[4].value, 2e-3);
    assert_true(s[4].has_timestamp && s[4].timestamp_ms == -5);
    assert_string_equal(fg_prom_label_value(&s[5], "a"), "");
    assert_close(s[5].value, -25);
    assert_string_equal(fg_prom_label_value(&s[6], "le"), "+Inf");
    assert_string_equal(s[7].name, "m:rate:5m"); /* last line without '\n' */
    fg_prom_free(&d);

    double v;
    assert_int_equal(fg_prom_parse_value("Inf", 3, &v), 0);
    assert_true(isinf(v));
    assert_int_equal(fg_prom_parse_value("inf", 3, &v), -1);
    assert_int_equal(fg_prom_parse_value("-NaN", 4, &v), -1);
    assert_int_equal(fg_prom_parse_value("0x10", 4, &v), -1);
    assert_int_equal(fg_prom_parse_value("1e", 2, &v), -1);
    assert_int_equal(fg_prom_parse_value("", 0, &v), -1);
    assert_int_equal(fg_prom_parse_value(".5", 2, &v), 0);
    assert_close(v, 0.5);
}

static void hostile_lines_are_skipped(void **state) {
    (void)state;
    static const char *const bad[] = {
        "m{a=\"x} 1",          "m{a=x} 1",         "1m 2",          "m",
        "m ",                  "m 1 2 3",          "m abc",         "m{a=\"1\",a=\"2\"} 1",
        "m 1 12x",             "m{=\"\"} 1",       "m 0x10",        "m inf",
        "m{a=\"1\"}1",         "m{a=\"1\" b=\"2\"} 1", "m{:a=\"1\"} 1", "m{a=\"1\"",
        "m{a=\"\\",            "{a=\"1\"} 1",      "m 1 99999999999999999999", "m{,} 1",
        "# TYPE m bogus",      "# TYPE 9m gauge",  "m\xff 1",       "m 1e99999x",
    };
    size_t n = sizeof bad / sizeof bad[0];
    char text[4096] = "good 1\n";
    for (size_t i = 0; i < n; i++) {
        strcat(text, bad[i]);
        strcat(text, "\n");
    }
    strcat(text, "good 2\n");
    fg_prom_doc d = parse(text);
    assert_int_equal(d.n_samples, 2);
    assert_int_equal(d.n_bad, n);
    assert_int_equal(d.bad_line, 2);
    assert_string_equal(d.bad_why, "unterminated or too long label value");
    assert_close(fg_prom_sum(&d, "good", NULL, 0, NULL), 3);
    fg_prom_free(&d);

    /* a NUL byte inside a line, 65 labels, an over-long label value: each line skipped */
    char buf[16384];
    size_t len = 0;
    memcpy(buf, "a 1\nb\0 2\nc 3\n", 13);
    len = 13;
    len += (size_t)sprintf(buf + len, "many{");
    for (int i = 0; i < FG_PROM_MAX_LABELS + 1; i++)
        len += (size_t)sprintf(buf + len, "l%d=\"v\",", i);
    len += (size_t)sprintf(buf + len, "} 1\nlong{a=\"");
    memset(buf + len, 'x', FG_PROM_MAX_TOKEN + 10);
    len += FG_PROM_MAX_TOKEN + 10;
    len += (size_t)sprintf(buf + len, "\"} 1\n");
    fg_prom_doc d2;
    fg_err e = {0};
    assert_int_equal(fg_prom_parse(buf, len, &d2, &e), 0);
    assert_int_equal(d2.n_samples, 2);
    assert_int_equal(d2.n_bad, 3);
    assert_string_equal(d2.bad_why, "NUL byte");
    fg_prom_free(&d2);

    /* empty input */
    fg_prom_doc d3;
    assert_int_equal(fg_prom_parse("", 0, &d3, &e), 0);
    assert_int_equal(d3.n_samples, 0);
    fg_prom_free(&d3);
}

static void buckets_merge_and_sort(void **state) {
    (void)state;
    fg_prom_doc d = parse("h_bucket{i=\"0\",le=\"+Inf\"} 10\n"
                          "h_bucket{i=\"0\",le=\"2\"} 6\n"
                          "h_bucket{i=\"0\",le=\"1\"} 1\n"
                          "h_bucket{i=\"1\",le=\"1\"} 2\n"
                          "h_bucket{i=\"1\",le=\"+Inf\"} 4\n"
                          "h_bucket{i=\"1\",le=\"2\"} 3\n"
                          "h_bucket{i=\"1\",le=\"x\"} 3\n"
                          "h_bucket{i=\"1\"} 3\n"
                          "h_sum 1\n");
    double le[8], cum[8];
    size_t n = fg_prom_buckets(&d, "h", NULL, 0, le, cum, 8);
    assert_int_equal(n, 3);
    assert_close(le[0], 1);
    assert_close(le[1], 2);
    assert_true(isinf(le[2]));
    assert_close(cum[0], 3);
    assert_close(cum[1], 9);
    assert_close(cum[2], 14);
    const char *one[] = {"i", "1"};
    n = fg_prom_buckets(&d, "h", one, 1, le, cum, 8);
    assert_int_equal(n, 3);
    assert_close(cum[1], 3);
    /* no room: the largest bounds are dropped */
    n = fg_prom_buckets(&d, "h", NULL, 0, le, cum, 2);
    assert_int_equal(n, 2);
    assert_close(le[1], 2);
    assert_int_equal(fg_prom_buckets(&d, "h", NULL, 0, le, cum, 0), 0);
    fg_prom_free(&d);
}

static void histogram_quantile_by_hand(void **state) {
    (void)state;
    const double le[] = {1, 2, 4, INFINITY}, cum[] = {0, 10, 10, 20};
    assert_close(fg_prom_histogram_quantile(0.25, le, cum, 4), 1.5);  /* rank 5 of (1,2]'s 10 */
    assert_close(fg_prom_histogram_quantile(0.5, le, cum, 4), 2.0);   /* rank 10 */
    assert_close(fg_prom_histogram_quantile(0.75, le, cum, 4), 4.0);  /* in +Inf: highest finite bound */
    assert_close(fg_prom_histogram_quantile(0.0, le, cum, 4), 0.0);   /* rank 0 in an empty first bucket: its start */
    assert_true(fg_prom_histogram_quantile(-0.1, le, cum, 4) == -INFINITY);
    assert_true(fg_prom_histogram_quantile(1.1, le, cum, 4) == INFINITY);
    assert_true(isnan(fg_prom_histogram_quantile(NAN, le, cum, 4)));
    const double z[] = {0, 0, 0, 0};
    assert_true(isnan(fg_prom_histogram_quantile(0.5, le, z, 4)));     /* no observations */
    assert_true(isnan(fg_prom_histogram_quantile(0.5, le, cum, 1)));   /* one bucket */
    assert_true(isnan(fg_prom_histogram_quantile(0.5, le, cum, 3)));   /* no +Inf bucket */
    /* non-monotonic counts are made monotonic: {5,3,10} reads as {5,5,10} */
    const double le2[] = {1, 2, INFINITY}, nm[] = {5, 3, 10};
    assert_close(fg_prom_histogram_quantile(0.4, le2, nm, 3), 0.8);
    assert_close(fg_prom_histogram_quantile(0.6, le2, nm, 3), 2.0);
    /* a first bucket with a bound <= 0 answers that bound */
    const double le3[] = {-1, 0, INFINITY}, c3[] = {2, 2, 4};
    assert_close(fg_prom_histogram_quantile(0.25, le3, c3, 3), -1);
    /* frugal's latency buckets: 90 in (0, 0.5 ms], 9 in (0.5, 1 ms], 1 in (100, 250 ms] */
    const double le4[] = {0.0005, 0.001, 0.1, 0.25, INFINITY}, c4[] = {90, 99, 99, 100, 100};
    assert_close(fg_prom_histogram_quantile(0.5, le4, c4, 5), 0.0005 * 50 / 90);
    assert_close(fg_prom_histogram_quantile(0.95, le4, c4, 5), 0.0005 + 0.0005 * 5 / 9);
    assert_close(fg_prom_histogram_quantile(0.995, le4, c4, 5), 0.1 + 0.15 * 0.5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_frugal_scrape),
        cmocka_unit_test(escapes_and_special_values),
        cmocka_unit_test(hostile_lines_are_skipped),
        cmocka_unit_test(buckets_merge_and_sort),
        cmocka_unit_test(histogram_quantile_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
