/* Tests for src/core/hist.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "core/hist.h"

static void hist_empty_reports_zero(void **state) {
    (void)state;
    fg_hist *h = fg_hist_new();
    assert_int_equal(fg_hist_count(h), 0);
    assert_int_equal(fg_hist_sum(h), 0);
    assert_int_equal(fg_hist_max(h), 0);
    assert_int_equal(fg_hist_min(h), 0);
    assert_int_equal(fg_hist_percentile(h, 50), 0);
    fg_hist_summary s;
    fg_hist_summarize(h, &s);
    assert_int_equal(s.count, 0);
    assert_int_equal(s.p999, 0);
    fg_hist_free(h);
}

static void hist_buckets_are_contiguous_and_exact_below_2048(void **state) {
    (void)state;
    uint32_t n = fg_hist_n_buckets();
    assert_int_equal(n, 2048 + 15 * 1024);
    for (uint64_t v = 0; v < 2048; v++) {
        assert_int_equal(fg_hist_bucket_index(v), v);
        assert_int_equal(fg_hist_bucket_lowest((uint32_t)v), v);
        assert_int_equal(fg_hist_bucket_highest((uint32_t)v), v);
    }
    for (uint32_t i = 1; i < n; i++)
        assert_int_equal(fg_hist_bucket_lowest(i), fg_hist_bucket_highest(i - 1) + 1);
    /* every bucket's bounds map back to itself, and its width is under 1/1024 of its lowest value */
    uint32_t top = fg_hist_bucket_index(FG_HIST_MAX_US); /* buckets above it are never used */
    assert_int_equal(top, 2048 + 14 * 1024 + (60000000 >> 15) - 1024);
    for (uint32_t i = 2048; i <= top; i++) {
        uint64_t lo = fg_hist_bucket_lowest(i), hi = fg_hist_bucket_highest(i);
        assert_int_equal(fg_hist_bucket_index(lo), i);
        assert_int_equal(fg_hist_bucket_index(hi), i);
        assert_true((hi - lo + 1) * 1024 <= lo);
    }
    assert_int_equal(fg_hist_bucket_index(FG_HIST_MAX_US), fg_hist_bucket_index(UINT64_MAX));
    assert_true(fg_hist_bucket_index(FG_HIST_MAX_US) < n);
    assert_int_equal(fg_hist_bucket_index(2048), 2048);
    assert_int_equal(fg_hist_bucket_index(2049), 2048);
    assert_int_equal(fg_hist_bucket_index(2050), 2049);
    assert_int_equal(fg_hist_bucket_index(4096), 2048 + 1024);
}

static void hist_percentiles_of_1_to_10000_within_0_1_percent(void **state) {
    (void)state;
    fg_hist *h = fg_hist_new();
    for (uint64_t v = 1; v <= 10000; v++) fg_hist_record(h, v);
    assert_int_equal(fg_hist_count(h), 10000);
    assert_int_equal(fg_hist_sum(h), 10000ull * 10001 / 2);
    assert_int_equal(fg_hist_min(h), 1);
    assert_int_equal(fg_hist_max(h), 10000);
    /* rank ceil(p% * 10000) has true value equal to the rank; the answer is the top of its bucket */
    assert_int_equal(fg_hist_percentile(h, 10), 1000); /* exact region */
    assert_int_equal(fg_hist_percentile(h, 50), 5003); /* 5000 in [5000, 5003] (step 4) */
    assert_int_equal(fg_hist_percentile(h, 90), 9007); /* 9000 in [9000, 9007] (step 8) */
    assert_int_equal(fg_hist_percentile(h, 99.9), 9991);
    assert_int_equal(fg_hist_percentile(h, 100), 10000); /* capped at the exact max */
    assert_int_equal(fg_hist_percentile(h, 0), 1);
    double ps[] = {1, 25, 50, 75, 90, 95, 99, 99.9, 99.99};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        uint64_t truth = (uint64_t)(ps[i] * 100 + 0.5);
        uint64_t got = fg_hist_percentile(h, ps[i]);
        assert_true(got >= truth);
        assert_true((double)(got - truth) <= (double)truth / 1000.0);
    }
    fg_hist_summary s;
    fg_hist_summarize(h, &s);
    assert_int_equal(s.count, 10000);
    assert_int_equal(s.p50, 5003);
    assert_int_equal(s.p90, 9007);
    assert_int_equal(s.p95, fg_hist_percentile(h, 95));
    assert_int_equal(s.p99, fg_hist_percentile(h, 99));
    assert_int_equal(s.p999, 9991);
    assert_int_equal(s.max, 10000);
    fg_hist_free(h);
}

static void hist_percentile_error_bound_across_range(void **state) {
    (void)state;
    fg_hist *h = fg_hist_new();
    /* single values spread over 1 us .. 60 s: p50 of one value is within 0.1% above it */
    for (uint64_t v = 1; v <= FG_HIST_MAX_US; v = v * 3 + 7) {
        fg_hist_reset(h);
        fg_hist_record(h, v);
        fg_hist_record(h, FG_HIST_MAX_US); /* so the max cap does not hide the bucket error */
        uint64_t got = fg_hist_percentile(h, 50);
        assert_true(got >= v);
        assert_true((double)(got - v) <= (double)v / 1000.0);
        assert_int_equal(fg_hist_bucket_highest(fg_hist_bucket_index(v)), got);
    }
    fg_hist_free(h);
}

static void hist_clamps_above_60s_and_records_ns(void **state) {
    (void)state;
    fg_hist *h = fg_hist_new();
    fg_hist_record(h, 100ull * 1000 * 1000 * 1000);
    assert_int_equal(fg_hist_max(h), FG_HIST_MAX_US);
    assert_int_equal(fg_hist_sum(h), FG_HIST_MAX_US);
    assert_int_equal(fg_hist_percentile(h, 99), FG_HIST_MAX_US);
    fg_hist_reset(h);
    fg_hist_record_ns(h, 1999); /* 1 us */
    fg_hist_record_ns(h, 1500000); /* 1500 us */
    assert_int_equal(fg_hist_min(h), 1);
    assert_int_equal(fg_hist_max(h), 1500);
    assert_int_equal(fg_hist_percentile(h, 50), 1);
    assert_int_equal(fg_hist_percentile(h, 51), 1500);
    fg_hist_free(h);
}

static void hist_merge_equals_single(void **state) {
    (void)state;
    fg_hist *a = fg_hist_new(), *b = fg_hist_new(), *all = fg_hist_new();
    uint64_t x = 12345;
    for (int i = 0; i < 100000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t v = (x >> 33) % 5000000;
        fg_hist_record(i % 3 ? a : b, v);
        fg_hist_record(all, v);
    }
    fg_hist_merge(a, b);
    assert_int_equal(fg_hist_count(a), fg_hist_count(all));
    assert_int_equal(fg_hist_sum(a), fg_hist_sum(all));
    assert_int_equal(fg_hist_min(a), fg_hist_min(all));
    assert_int_equal(fg_hist_max(a), fg_hist_max(all));
    fg_hist_summary sa, sall;
    fg_hist_summarize(a, &sa);
    fg_hist_summarize(all, &sall);
    assert_memory_equal(&sa, &sall, sizeof sa);
    for (double p = 0; p <= 100; p += 0.5) assert_int_equal(fg_hist_percentile(a, p), fg_hist_percentile(all, p));
    /* merging into an empty histogram copies */
    fg_hist *c = fg_hist_new();
    fg_hist_merge(c, all);
    fg_hist_summary sc;
    fg_hist_summarize(c, &sc);
    assert_memory_equal(&sc, &sall, sizeof sc);
    fg_hist_free(a);
    fg_hist_free(b);
    fg_hist_free(all);
    fg_hist_free(c);
}

#define PER_THREAD 500000

static void *record_many(void *arg) {
    fg_hist *h = arg;
    for (uint64_t i = 0; i < PER_THREAD; i++) fg_hist_record(h, i % 3000);
    return NULL;
}

static void hist_concurrent_recording_loses_nothing(void **state) {
    (void)state;
    fg_hist *h = fg_hist_new();
    pthread_t t[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, record_many, h), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_int_equal(fg_hist_count(h), 2 * PER_THREAD);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < PER_THREAD; i++) sum += i % 3000;
    assert_int_equal(fg_hist_sum(h), 2 * sum);
    assert_int_equal(fg_hist_max(h), 2999);
    assert_int_equal(fg_hist_min(h), 0);
    /* exact per-bucket counts: the single-threaded reference must match */
    fg_hist *ref = fg_hist_new();
    record_many(ref);
    record_many(ref);
    for (double p = 0; p <= 100; p += 0.25) assert_int_equal(fg_hist_percentile(h, p), fg_hist_percentile(ref, p));
    fg_hist_free(ref);
    fg_hist_free(h);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hist_empty_reports_zero),
        cmocka_unit_test(hist_buckets_are_contiguous_and_exact_below_2048),
        cmocka_unit_test(hist_percentiles_of_1_to_10000_within_0_1_percent),
        cmocka_unit_test(hist_percentile_error_bound_across_range),
        cmocka_unit_test(hist_clamps_above_60s_and_records_ns),
        cmocka_unit_test(hist_merge_equals_single),
        cmocka_unit_test(hist_concurrent_recording_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
