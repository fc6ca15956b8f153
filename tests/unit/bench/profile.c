/* Tests for src/bench/profile.c: every stage kind with its values and names, comments, blank lines and
 * CRLF; errors name the source and line; duration and rate spellings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/profile.h"

static void profile_reads_every_stage_kind(void **state) {
    (void)state;
    const char *text = "# a profile\n"
                       "step 1000/s 10s\n"
                       "\n"
                       "  ramp 100 2k/s 30s   # comment after\n"
                       "soak 500 2m name=long soak\r\n"
                       "spike 5k 500ms\n"
                       "closed 8 1.5\n";
    fg_stage *st;
    size_t n;
    fg_err e = {0};
    assert_int_equal(fg_bench_profile_parse(text, strlen(text), "p.txt", &st, &n, &e), 0);
    assert_int_equal(n, 5);
    assert_int_equal(st[0].kind, FG_STAGE_CONSTANT);
    assert_true(st[0].rate == 1000 && st[0].rate_end == 1000 && st[0].duration_s == 10);
    assert_string_equal(st[0].name, "step 1k/s");
    assert_int_equal(st[1].kind, FG_STAGE_RAMP);
    assert_true(st[1].rate == 100 && st[1].rate_end == 2000 && st[1].duration_s == 30);
    assert_string_equal(st[1].name, "ramp 100/s..2k/s");
    assert_int_equal(st[2].kind, FG_STAGE_SOAK);
    assert_true(st[2].rate == 500 && st[2].duration_s == 120);
    assert_string_equal(st[2].name, "long soak");
    assert_int_equal(st[3].kind, FG_STAGE_SPIKE);
    assert_true(st[3].rate == 5000 && st[3].duration_s == 0.5);
    assert_int_equal(st[4].kind, FG_STAGE_CLOSED);
    assert_int_equal(st[4].concurrency, 8);
    assert_true(st[4].duration_s == 1.5);
    assert_string_equal(st[4].name, "closed 8 conns");
    assert_string_equal(fg_stage_kind_name(st[4].kind), "closed");
    assert_false(fg_stage_is_open(&st[4]));
    assert_true(fg_stage_is_open(&st[1]));
    free(st);
}

static void expect_error(const char *text, const char *want) {
    fg_stage *st = (fg_stage *)1;
    size_t n = 7;
    fg_err e = {0};
    int rc = fg_bench_profile_parse(text, strlen(text), "prof.txt", &st, &n, &e);
    assert_int_equal(rc, FG_EINVAL);
    assert_null(st);
    assert_int_equal(n, 0);
    if (!strstr(e.msg, want))
        fail_msg("error '%s' lacks '%s'", e.msg, want);
}

static void profile_errors_name_the_line(void **state) {
    (void)state;
    expect_error("step 100 1s\n# fine\nwarp 3 1s\n", "prof.txt:3: unknown stage 'warp'");
    expect_error("step 100\n", "prof.txt:1: 'step' takes 2 values, got 1");
    expect_error("ramp 100 1s\n", "prof.txt:1: 'ramp' takes 3 values, got 2");
    expect_error("step 1 1s\nstep fast 1s\n", "prof.txt:2: bad rate 'fast'");
    expect_error("step 100 1s\nstep 100 soon\n", "prof.txt:2: bad duration 'soon'");
    expect_error("closed 0 1s\n", "prof.txt:1: bad connection count '0'");
    expect_error("closed -2 1s\n", "prof.txt:1: bad connection count");
    expect_error("step 0 1s\n", "prof.txt:1: bad rate '0'");
    expect_error("step 100 0s\n", "prof.txt:1: bad duration");
    expect_error("step 100 1s name=\n", "prof.txt:1: empty name=");
    expect_error("# only comments\n\n", "prof.txt: no stages");
    expect_error("", "prof.txt: no stages");
    expect_error("step 100 1s\x01\n", "prof.txt:1: control character");
    expect_error("step nan 1s\n", "bad rate 'nan'");
    expect_error("step 0x10 1s\n", "bad rate '0x10'");
    expect_error("step inf 1s\n", "bad rate 'inf'");
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    expect_error(big, "prof.txt:1: line longer than");
    const char nul[] = "step 1 1s\nstep\0 1 1s\n";
    fg_stage *st;
    size_t n;
    fg_err e = {0};
    assert_int_equal(fg_bench_profile_parse(nul, sizeof nul - 1, "z", &st, &n, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "z:2: NUL byte"));
}

static void profile_refuses_too_many_stages(void **state) {
    (void)state;
    size_t cap = (FG_BENCH_MAX_STAGES + 1) * 16;
    char *t = malloc(cap), *p = t;
    for (int i = 0; i <= FG_BENCH_MAX_STAGES; i++)
        p += sprintf(p, "step 10 1s\n");
    fg_stage *st;
    size_t n;
    fg_err e = {0};
    assert_int_equal(fg_bench_profile_parse(t, (size_t)(p - t), "many", &st, &n, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "many:257: more than 256 stages"));
    free(t);
}

static void durations_and_rates_parse(void **state) {
    (void)state;
    double v;
    assert_int_equal(fg_bench_parse_duration("10s", &v), 0);
    assert_true(v == 10);
    assert_int_equal(fg_bench_parse_duration("250ms", &v), 0);
    assert_true(v == 0.25);
    assert_int_equal(fg_bench_parse_duration("2m", &v), 0);
    assert_true(v == 120);
    assert_int_equal(fg_bench_parse_duration("1h", &v), 0);
    assert_true(v == 3600);
    assert_int_equal(fg_bench_parse_duration("100us", &v), 0);
    assert_true(fabs(v - 1e-4) < 1e-12);
    assert_int_equal(fg_bench_parse_duration("3", &v), 0);
    assert_true(v == 3);
    assert_int_equal(fg_bench_parse_duration("-1s", &v), FG_EINVAL);
    assert_int_equal(fg_bench_parse_duration("1d", &v), FG_EINVAL);
    assert_int_equal(fg_bench_parse_duration("", &v), FG_EINVAL);
    assert_int_equal(fg_bench_parse_duration("8d", &v), FG_EINVAL);
    assert_int_equal(fg_bench_parse_duration("200h", &v), FG_EINVAL);
    assert_int_equal(fg_bench_parse_rate("1000", &v), 0);
    assert_true(v == 1000);
    assert_int_equal(fg_bench_parse_rate("2.5k/s", &v), 0);
    assert_true(v == 2500);
    assert_int_equal(fg_bench_parse_rate("1M/s", &v), 0);
    assert_true(v == 1e6);
    assert_int_equal(fg_bench_parse_rate("20M", &v), FG_EINVAL);
    assert_int_equal(fg_bench_parse_rate("10/m", &v), FG_EINVAL);
    assert_int_equal(fg_bench_parse_rate("k", &v), FG_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(profile_reads_every_stage_kind),
        cmocka_unit_test(profile_errors_name_the_line),
        cmocka_unit_test(profile_refuses_too_many_stages),
        cmocka_unit_test(durations_and_rates_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
