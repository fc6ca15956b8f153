/* Tests for src/core/svgchart.c: escaping, the data attributes tests of reports rely on, non-finite
 * values, degenerate spans (one point, equal values, subnormal ranges) that must neither spin nor
 * divide by zero, and a log axis that skips values <= 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/svgchart.h"

/* runs fn into a memory stream; returns the text (caller frees) */
#define CAPTURE(out, stmt)                                                                                             \
    do {                                                                                                               \
        size_t len_;                                                                                                   \
        FILE *f = open_memstream(&(out), &len_);                                                                       \
        assert_non_null(f);                                                                                            \
        stmt;                                                                                                          \
        fclose(f);                                                                                                     \
    } while (0)

static size_t count(const char *hay, const char *needle) {
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_escape(void **st) {
    (void)st;
    char *out = NULL;
    CAPTURE(out, fg_html_escape(f, "<a href=\"x\">&'</a>"));
    assert_string_equal(out, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    free(out);
    CAPTURE(out, (fg_html_begin(f, "cost <report>"), fg_html_heading(f, 9, "a&b"), fg_html_end(f)));
    assert_non_null(strstr(out, "<title>cost &lt;report&gt;</title>"));
    assert_non_null(strstr(out, "<h2>a&amp;b</h2>")); /* bad level falls back to 2 */
    assert_null(strstr(out, "<script"));
    assert_null(strstr(out, "http://")); /* nothing external... */
    assert_non_null(strstr(out, "</body></html>"));
    free(out);
}

static void test_bars(void **st) {
    (void)st;
    const char *labels[] = {"training", "inference <gpu>", "a label far longer than thirty-six characters, cut", "nan"};
    double v[] = {120.5, 30, -4, NAN};
    char *out = NULL;
    CAPTURE(out, fg_svg_bars(f, "Cost by bucket", "USD", labels, v, 4));
    assert_non_null(strstr(out, "data-kind=\"bars\" data-points=\"3\""));
    assert_int_equal(count(out, "class=\"bar\""), 4);
    assert_non_null(strstr(out, "data-value=\"120.5\""));
    assert_non_null(strstr(out, "inference &lt;gpu&gt;"));
    assert_non_null(strstr(out, "data-value=\"0\"")); /* NaN drawn as 0 */
    assert_non_null(strstr(out, "…"));
    /* the longest bar spans the whole bar area; the others are to scale */
    assert_non_null(strstr(out, "width=\"400.0\""));
    assert_non_null(strstr(out, "width=\"99.6\""));
    free(out);
    CAPTURE(out, fg_svg_bars(f, "empty", NULL, NULL, NULL, 0));
    assert_non_null(strstr(out, "data-points=\"0\""));
    free(out);
}

static void test_columns(void **st) {
    (void)st;
    const char *labels[60];
    double v[60];
    char names[60][8];
    for (int i = 0; i < 60; i++) {
        snprintf(names[i], sizeof names[i], "%d", i);
        labels[i] = names[i];
        v[i] = i % 7;
    }
    char *out = NULL;
    CAPTURE(out, fg_svg_columns(f, "Batch sizes", "batches", labels, v, 60));
    assert_non_null(strstr(out, "data-kind=\"columns\" data-points=\"60\""));
    assert_int_equal(count(out, "class=\"col\""), 60);
    assert_int_equal(count(out, "text-anchor=\"middle\""), 20); /* every 3rd label */
    free(out);
    double zeros[2] = {0, 0};
    CAPTURE(out, fg_svg_columns(f, "zeros", "", labels, zeros, 2));
    assert_null(strstr(out, "nan"));
    assert_null(strstr(out, "inf"));
    free(out);
}

static void test_lines(void **st) {
    (void)st;
    double x[] = {1, 2, 3, 4}, y1[] = {10, 100, NAN, 1000}, y2[] = {0, 5, 50, 500};
    fg_svg_series s[] = {{"p99", x, y1, 4}, {"p50 & co", x, y2, 4}};
    char *out = NULL;
    CAPTURE(out, fg_svg_lines(f, "Latency", "offered req/s", "us", s, 2, FG_SVG_LOG_Y));
    assert_non_null(strstr(out, "data-kind=\"lines\" data-points=\"6\"")); /* NaN and 0 (log) skipped */
    assert_non_null(strstr(out, "data-n=\"3\""));
    assert_non_null(strstr(out, "p50 &amp; co"));
    assert_null(strstr(out, "nan"));
    free(out);
    /* one point, equal values, a subnormal span: finite coordinates, bounded output */
    double one_x[] = {5}, one_y[] = {7}, sx[] = {0, 1e-310}, sy[] = {1e-310, 2e-310};
    fg_svg_series a = {"one", one_x, one_y, 1}, b = {"tiny", sx, sy, 2};
    CAPTURE(out, fg_svg_lines(f, "one", "", "", &a, 1, FG_SVG_Y_ZERO));
    assert_non_null(strstr(out, "data-points=\"1\""));
    assert_null(strstr(out, "nan"));
    assert_null(strstr(out, "inf"));
    free(out);
    CAPTURE(out, fg_svg_lines(f, "tiny", "", "", &b, 1, 0));
    assert_null(strstr(out, "nan"));
    assert_true(strlen(out) < 20000);
    free(out);
    CAPTURE(out, fg_svg_lines(f, "none", "", "", NULL, 0, 0));
    assert_non_null(strstr(out, "no data"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_bars),
        cmocka_unit_test(test_columns),
        cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
