/* Tests for src/bench/threshold.c: every metric, operator and unit; a stage prefix; refusals (a latency
 * without a unit, unknown metrics, a percentage on rps); evaluation, NaN when nothing was measured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "bench/threshold.h"

static void thresholds_parse(void **state) {
    (void)state;
    fg_threshold t;
    fg_err e = {0};
    assert_int_equal(fg_bench_threshold_parse("p99<20ms", &t, &e), 0);
    assert_int_equal(t.metric, FG_THR_P99);
    assert_int_equal(t.op, FG_THR_LT);
    assert_true(t.limit == 20000 && t.stage == -1 && !t.percent);
    assert_string_equal(t.expr, "p99<20ms");
    assert_int_equal(fg_bench_threshold_parse("p999 <= 1.5s", &t, &e), 0);
    assert_true(t.metric == FG_THR_P999 && t.op == FG_THR_LE && t.limit == 1500000);
    assert_int_equal(fg_bench_threshold_parse("max<900us", &t, &e), 0);
    assert_true(t.metric == FG_THR_MAX && t.limit == 900);
    assert_int_equal(fg_bench_threshold_parse("errors<0.1%", &t, &e), 0);
    assert_true(t.metric == FG_THR_ERRORS && t.percent && t.limit == 0.1);
    assert_int_equal(fg_bench_threshold_parse("errors<5", &t, &e), 0);
    assert_true(!t.percent && t.limit == 5);
    assert_int_equal(fg_bench_threshold_parse("rps>1000", &t, &e), 0);
    assert_true(t.metric == FG_THR_RPS && t.op == FG_THR_GT && t.limit == 1000);
    assert_int_equal(fg_bench_threshold_parse("rps>=10/s", &t, &e), 0);
    assert_true(t.op == FG_THR_GE && t.limit == 10);
    assert_int_equal(fg_bench_threshold_parse("dropped<1", &t, &e), 0);
    assert_true(t.metric == FG_THR_DROPPED && t.limit == 1);
    assert_int_equal(fg_bench_threshold_parse("2:p50<5ms", &t, &e), 0);
    assert_true(t.stage == 2 && t.metric == FG_THR_P50 && t.limit == 5000);
    assert_int_equal(fg_bench_threshold_parse("p90<1ms", &t, &e), 0);
    assert_int_equal(fg_bench_threshold_parse("p95<1ms", &t, &e), 0);
    assert_int_equal(t.metric, FG_THR_P95);
}

static void refuse(const char *s, const char *want) {
    fg_threshold t;
    fg_err e = {0};
    assert_int_equal(fg_bench_threshold_parse(s, &t, &e), FG_EINVAL);
    if (!strstr(e.msg, want))
        fail_msg("'%s': error '%s' lacks '%s'", s, e.msg, want);
}

static void thresholds_refuse_what_they_cannot_mean(void **state) {
    (void)state;
    refuse("p99<20", "a latency needs a unit");
    refuse("p98<20ms", "unknown metric 'p98'");
    refuse("p99=20ms", "expected <, <=, > or >=");
    refuse("p99<", "expected a number");
    refuse("p99<-3ms", "expected a number");
    refuse("rps>10%", "rps takes a plain number");
    refuse("errors<1x", "errors takes a count or a percentage");
    refuse("errors<101%", "a percentage above 100");
    refuse("x:p99<1ms", "unknown metric");
    refuse("3p99<1ms", "expected STAGE:METRIC");
    refuse("p99<infms", "expected a number");
    refuse("p99<0x10ms", "bad number");
    char longer[200];
    memset(longer, 'p', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    refuse(longer, "too long");
}

static void thresholds_evaluate(void **state) {
    (void)state;
    fg_thr_input in = {.p50 = 100, .p90 = 200, .p95 = 300, .p99 = 1000, .p999 = 5000, .max = 9000,
                       .sent = 1000, .errors = 2, .dropped = 10, .throughput_rps = 500};
    fg_threshold t;
    fg_err e = {0};
    fg_bench_threshold_parse("p99<1ms", &t, &e);
    assert_true(fg_bench_threshold_value(&t, &in) == 1000);
    assert_false(fg_bench_threshold_passes(&t, 1000)); /* strict */
    fg_bench_threshold_parse("p99<=1ms", &t, &e);
    assert_true(fg_bench_threshold_passes(&t, fg_bench_threshold_value(&t, &in)));
    fg_bench_threshold_parse("errors<0.1%", &t, &e);
    assert_true(fg_bench_threshold_value(&t, &in) == 0.2);
    assert_false(fg_bench_threshold_passes(&t, 0.2));
    fg_bench_threshold_parse("errors<3", &t, &e);
    assert_true(fg_bench_threshold_passes(&t, fg_bench_threshold_value(&t, &in)));
    fg_bench_threshold_parse("dropped<1%", &t, &e);
    assert_true(fabs(fg_bench_threshold_value(&t, &in) - 100.0 * 10 / 1010) < 1e-12);
    assert_true(fg_bench_threshold_passes(&t, fg_bench_threshold_value(&t, &in)));
    fg_bench_threshold_parse("rps>500", &t, &e);
    assert_false(fg_bench_threshold_passes(&t, fg_bench_threshold_value(&t, &in)));
    fg_bench_threshold_parse("rps>=500", &t, &e);
    assert_true(fg_bench_threshold_passes(&t, fg_bench_threshold_value(&t, &in)));
    fg_bench_threshold_parse("max>8ms", &t, &e);
    assert_true(fg_bench_threshold_passes(&t, fg_bench_threshold_value(&t, &in)));
    /* nothing sent: every latency and ratio gate fails instead of passing vacuously */
    fg_thr_input none = {0};
    fg_bench_threshold_parse("p99<1s", &t, &e);
    assert_true(isnan(fg_bench_threshold_value(&t, &none)));
    assert_false(fg_bench_threshold_passes(&t, NAN));
    fg_bench_threshold_parse("errors<1%", &t, &e);
    assert_false(fg_bench_threshold_passes(&t, fg_bench_threshold_value(&t, &none)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thresholds_parse),
        cmocka_unit_test(thresholds_refuse_what_they_cannot_mean),
        cmocka_unit_test(thresholds_evaluate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
