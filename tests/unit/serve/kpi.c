/* Tests for src/serve/kpi.c, driven with synthetic CLOCK_MONOTONIC times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/kpi.h"

#define S 1000000000ull
#define MS 1000000ull
#define US 1000ull

static void assert_close(double got, double want, double rel) {
    if (fabs(got - want) > rel * fabs(want) + 1e-12) {
        fail_msg("got %.9g, want %.9g (rel tolerance %g)", got, want, rel);
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Exact sample percentile with the kpi's rank rule: the value of rank ceil(p/100 * n). */
static double exact_pct_s(const uint64_t *sorted, size_t n, double p) {
    double r = ceil(p / 100.0 * (double)n);
    size_t rank = r < 1.0 ? 1 : (size_t)r;
    return (double)sorted[rank - 1] / 1e9;
}

static void check_percentiles(const uint64_t *vals, size_t n) {
    fg_kpi *k = fg_kpi_new_at(60, 0);
    for (size_t i = 0; i < n; i++) fg_kpi_request(k, 10 * S + (uint64_t)i * 1000, vals[i], 1); /* < 1 s */
    uint64_t *sorted = malloc(n * sizeof *sorted);
    memcpy(sorted, vals, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    fg_kpi_snap s;
    fg_kpi_snapshot(k, 11 * S, 0, 1, &s);
    assert_int_equal(s.requests, n);
    assert_close(s.p50_s, exact_pct_s(sorted, n, 50), 0.02);
    assert_close(s.p95_s, exact_pct_s(sorted, n, 95), 0.02);
    assert_close(s.p99_s, exact_pct_s(sorted, n, 99), 0.02);
    free(sorted);
    fg_kpi_free(k);
}

static uint64_t lcg(uint64_t *st) {
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return *st >> 11;
}

static void kpi_percentiles_within_2pct(void **state) {
    (void)state;
    enum { N = 20000 };
    uint64_t *v = malloc(N * sizeof *v);
    /* uniform 10 us .. 200 ms in steps */
    for (size_t i = 0; i < N; i++) v[i] = 10 * US + (uint64_t)i * 10 * US;
    check_percentiles(v, N);
    /* exponential, mean 5 ms, plus 20 us floor */
    uint64_t st = 42;
    for (size_t i = 0; i < N; i++) {
        double u = ((double)lcg(&st) + 0.5) / 9007199254740992.0;
        v[i] = 20 * US + (uint64_t)(-log(u) * 5e6);
    }
    check_percentiles(v, N);
    /* log-uniform 10 us .. 60 s: every octave of the histogram */
    for (size_t i = 0; i < N; i++) {
        double u = ((double)lcg(&st) + 0.5) / 9007199254740992.0;
        v[i] = (uint64_t)(1e4 * pow(6e6, u));
    }
    check_percentiles(v, N);
    /* bimodal: 90% at 1 ms, 10% at 100 ms */
    for (size_t i = 0; i < N; i++) v[i] = i % 10 == 9 ? 100 * MS : 1 * MS;
    check_percentiles(v, N);
    free(v);

    /* above 60 s is clamped to 60 s; one value is every percentile */
    fg_kpi *k = fg_kpi_new_at(60, 0);
    fg_kpi_request(k, 5 * S, 500 * S, 1);
    fg_kpi_snap s;
    fg_kpi_snapshot(k, 5 * S, 0, 1, &s);
    assert_close(s.p50_s, 60.0, 0.02);
    assert_close(s.p99_s, 60.0, 0.02);
    fg_kpi_free(k);
}

static void kpi_window_drops_data_older_than_w(void **state) {
    (void)state;
    fg_kpi *k = fg_kpi_new_at(10, 1000 * S);
    assert_int_equal(fg_kpi_window_s(k), 10);
    for (uint64_t sec = 1000; sec < 1030; sec++)
        for (int i = 0; i < 5; i++) fg_kpi_request(k, sec * S + (uint64_t)i * 100 * MS, 1 * MS, 1);
    for (int i = 0; i < 5; i++) fg_kpi_request(k, 1030 * S + 200 * MS, 1 * MS, 1); /* current partial */
    fg_kpi_snap s;
    /* window: seconds 1021..1030, i.e. [1021 s, 1030.5 s] = 9.5 s */
    fg_kpi_snapshot(k, 1030 * S + 500 * MS, 0, 1, &s);
    assert_close(s.window_s, 9.5, 1e-9);
    assert_int_equal(s.requests, 50);
    assert_close(s.throughput_rps, 50 / 9.5, 1e-9);
    /* at an exact second the current slot is empty and the window is W-1 s */
    fg_kpi_snapshot(k, 1031 * S, 0, 1, &s);
    assert_close(s.window_s, 9.0, 1e-9);
    assert_int_equal(s.requests, 45); /* 1022..1030 */
    /* records from a clock ahead of the snapshot's are not counted */
    fg_kpi_request(k, 1031 * S + 1, 1 * MS, 1);
    fg_kpi_snapshot(k, 1031 * S - 1, 0, 1, &s);
    assert_int_equal(s.requests, 45); /* and 1021's slot now holds 1031 */
    /* a record W or more seconds older than its slot's second is dropped */
    fg_kpi_request(k, 1021 * S, 1 * MS, 0); /* slot of 1021 holds 1031 now */
    fg_kpi_snapshot(k, 1031 * S + 1, 0, 1, &s);
    assert_int_equal(s.requests, 46);
    assert_int_equal(s.errors, 0);
    fg_kpi_free(k);
}

static void kpi_partial_first_window(void **state) {
    (void)state;
    fg_kpi *k = fg_kpi_new_at(60, 100 * S);
    for (uint64_t t = 100 * S; t < 103 * S; t += 100 * MS) fg_kpi_request(k, t, 2 * MS, 1);
    fg_kpi_snap s;
    fg_kpi_snapshot(k, 103 * S, 0, 1, &s);
    assert_close(s.window_s, 3.0, 1e-9);
    assert_int_equal(s.requests, 30);
    assert_close(s.throughput_rps, 10.0, 1e-9);
    /* a fresh kpi is never divided by less than 1 s */
    fg_kpi *f = fg_kpi_new_at(60, 100 * S);
    fg_kpi_request(f, 100 * S + 100 * MS, 2 * MS, 1);
    fg_kpi_snapshot(f, 100 * S + 200 * MS, 0, 1, &s);
    assert_close(s.window_s, 1.0, 1e-9);
    assert_close(s.throughput_rps, 1.0, 1e-9);
    /* default window */
    fg_kpi *d = fg_kpi_new(0);
    assert_int_equal(fg_kpi_window_s(d), FG_KPI_DEFAULT_WINDOW_S);
    assert_true(fg_kpi_mem_bytes(d) <= 512 * 1024);
    fg_kpi_free(d);
    fg_kpi_free(f);
    fg_kpi_free(k);
}

static void kpi_slot_reuse_after_gap(void **state) {
    (void)state;
    fg_kpi *k = fg_kpi_new_at(5, 0);
    for (uint64_t sec = 10; sec < 15; sec++) {
        fg_kpi_request(k, sec * S, 1 * MS, 0);
        fg_kpi_batch(k, sec * S, 4, 8, 1 * MS, 1 * MS, 1);
        fg_kpi_busy(k, sec * S, 500 * MS);
        fg_kpi_cache(k, sec * S, 1, 2);
    }
    fg_kpi_snap s;
    fg_kpi_snapshot(k, 14 * S + 500 * MS, 0, 1, &s);
    assert_int_equal(s.requests, 5);
    assert_int_equal(s.errors, 5);
    /* long gap: the stale slots (never reset) are not counted */
    fg_kpi_snapshot(k, 40 * S, 0, 1, &s);
    assert_int_equal(s.requests, 0);
    assert_int_equal(s.batches, 0);
    assert_true(s.busy_s == 0.0);
    assert_int_equal(s.cache_lookups, 0);
    /* one new record reuses the slot of second 10 (30 % 5 == 10 % 5) after resetting it */
    fg_kpi_request(k, 30 * S + 1, 3 * MS, 1);
    fg_kpi_snapshot(k, 30 * S + 500 * MS, 0, 1, &s);
    assert_int_equal(s.requests, 1);
    assert_int_equal(s.errors, 0);
    assert_int_equal(s.batches, 0);
    assert_int_equal(s.cache_lookups, 0);
    assert_close(s.p50_s, 0.003, 0.02);
    fg_kpi_free(k);
}

static void kpi_busy_idle_two_instances(void **state) {
    (void)state;
    fg_kpi *k = fg_kpi_new_at(10, 0);
    for (uint64_t sec = 1; sec < 10; sec++) {
        fg_kpi_busy(k, sec * S + 100 * MS, 500 * MS); /* instance 0: half busy */
        fg_kpi_busy(k, sec * S + 200 * MS, 250 * MS); /* instance 1: a quarter */
        fg_kpi_busy(k, sec * S + 700 * MS, 250 * MS);
    }
    fg_kpi_snap s;
    fg_kpi_snapshot(k, 10 * S, 0, 2, &s); /* seconds 1..9: 9 s */
    assert_close(s.window_s, 9.0, 1e-9);
    assert_close(s.busy_s, 9.0, 1e-9);
    assert_close(s.busy_share, 0.5, 1e-9);
    assert_close(s.idle_share, 0.5, 1e-9);
    /* one instance: 9 s of busy time in 9 s is fully busy; more is clamped */
    fg_kpi_snapshot(k, 10 * S, 0, 1, &s);
    assert_close(s.busy_share, 1.0, 1e-9);
    fg_kpi_busy(k, 9 * S, 5 * S);
    fg_kpi_snapshot(k, 10 * S, 0, 1, &s);
    assert_true(s.busy_share == 1.0);
    assert_true(s.idle_share == 0.0);
    fg_kpi_free(k);
}

static void kpi_cost_per_1k(void **state) {
    (void)state;
    fg_kpi *k = fg_kpi_new_at(60, 0);
    for (int i = 0; i < 1000; i++) fg_kpi_request(k, (uint64_t)i * 10 * MS, 1 * MS, 1); /* 0..10 s */
    fg_kpi_snap s;
    fg_kpi_snapshot(k, 10 * S, 3.6, 1, &s); /* $3.60/h over 10 s = $0.01 for 1000 requests */
    assert_close(s.window_s, 10.0, 1e-9);
    assert_close(s.cost_usd, 0.01, 1e-9);
    assert_close(s.cost_per_1k_usd, 0.01, 1e-9);
    assert_close(s.throughput_rps, 100.0, 1e-9);
    /* bad prices are 0 */
    fg_kpi_snapshot(k, 10 * S, NAN, 1, &s);
    assert_true(s.cost_usd == 0.0 && s.cost_per_1k_usd == 0.0);
    fg_kpi_snapshot(k, 10 * S, -1.0, 1, &s);
    assert_true(s.cost_usd == 0.0);
    fg_kpi_free(k);
}

static void assert_json_sane(const fg_kpi_snap *s) {
    char buf[FG_KPI_JSON_MAX];
    int n = fg_kpi_snap_json(s, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(buf));
    assert_true(buf[0] == '{' && buf[n - 1] == '}');
    assert_null(strstr(buf, "nan"));
    assert_null(strstr(buf, "inf"));
    assert_null(strstr(buf, "NAN"));
    assert_null(strstr(buf, "INF"));
}

static void kpi_zero_requests_give_zeros(void **state) {
    (void)state;
    fg_kpi *k = fg_kpi_new_at(60, 0);
    fg_kpi_snap s;
    fg_kpi_snapshot(k, 0, 2.0, 0, &s);
    assert_close(s.window_s, 1.0, 1e-9);
    assert_int_equal(s.requests, 0);
    assert_true(s.error_ratio == 0.0 && s.throughput_rps == 0.0);
    assert_true(s.p50_s == 0.0 && s.p95_s == 0.0 && s.p99_s == 0.0);
    assert_true(s.mean_queue_s == 0.0 && s.mean_compute_s == 0.0);
    assert_true(s.batch_efficiency == 0.0 && s.mean_batch_items == 0.0);
    assert_true(s.busy_share == 0.0 && s.idle_share == 1.0);
    assert_true(s.cost_per_1k_usd == 0.0);
    assert_true(s.cost_usd > 0.0);
    assert_true(s.cache_hit_ratio == 0.0);
    assert_json_sane(&s);
    fg_kpi_snapshot_many(NULL, 0, 5 * S, 0, 4, &s);
    assert_int_equal(s.requests, 0);
    assert_close(s.window_s, 1.0, 1e-9);
    assert_json_sane(&s);
    fg_kpi_free(k);
}

static void kpi_batch_efficiency_and_means(void **state) {
    (void)state;
    fg_kpi *k = fg_kpi_new_at(60, 0);
    fg_kpi_batch(k, 1 * S, 6, 8, 2 * MS, 3 * MS, 3); /* 3 requests waited 3 ms in all */
    fg_kpi_batch(k, 1 * S, 8, 8, 4 * MS, 1 * MS, 1);
    fg_kpi_batch(k, 2 * S, 2, 0, 3 * MS, 0, 2); /* batching off: capacity = items */
    fg_kpi_batch(k, 2 * S, -3, -1, 3 * MS, 0, 0); /* nonsense items count as 0 */
    fg_kpi_cache(k, 2 * S, 3, 4);
    fg_kpi_snap s;
    fg_kpi_snapshot(k, 3 * S, 0, 1, &s);
    assert_int_equal(s.batches, 4);
    assert_int_equal(s.batch_items, 16);
    assert_int_equal(s.batch_capacity_items, 18);
    assert_close(s.batch_efficiency, 16.0 / 18.0, 1e-12);
    assert_close(s.mean_batch_items, 4.0, 1e-12);
    assert_close(s.mean_queue_s, 4e-3 / 6.0, 1e-12);
    assert_close(s.mean_compute_s, 3e-3, 1e-12);
    assert_close(s.cache_hit_ratio, 0.75, 1e-12);
    fg_kpi_free(k);
}

static void kpi_snapshot_many_aggregates(void **state) {
    (void)state;
    fg_kpi *a = fg_kpi_new_at(60, 0), *b = fg_kpi_new_at(60, 5 * S);
    for (int i = 0; i < 100; i++) fg_kpi_request(a, 8 * S + (uint64_t)i * MS, 1 * MS, 1);
    for (int i = 0; i < 100; i++) fg_kpi_request(b, 9 * S + (uint64_t)i * MS, 10 * MS, i >= 90);
    fg_kpi_busy(a, 8 * S, 2 * S);
    fg_kpi_busy(b, 9 * S, 3 * S);
    fg_kpi_batch(a, 8 * S, 4, 8, 1 * MS, 0, 4);
    fg_kpi_batch(b, 9 * S, 8, 8, 1 * MS, 0, 8);
    fg_kpi_cache(a, 8 * S, 1, 4);
    fg_kpi_cache(b, 9 * S, 1, 4);
    fg_kpi *const ks[] = {a, b};
    fg_kpi_snap s;
    fg_kpi_snapshot_many(ks, 2, 10 * S, 7.2, 3, &s);
    assert_close(s.window_s, 10.0, 1e-9); /* the older kpi's age */
    assert_int_equal(s.requests, 200);
    assert_int_equal(s.errors, 90);
    assert_close(s.error_ratio, 0.45, 1e-12);
    assert_close(s.throughput_rps, 20.0, 1e-9);
    assert_close(s.p50_s, 0.001, 0.02); /* rank 100: the last of a's */
    assert_close(s.p95_s, 0.010, 0.02);
    assert_close(s.p99_s, 0.010, 0.02);
    assert_close(s.busy_share, 5.0 / 30.0, 1e-9);
    assert_close(s.batch_efficiency, 0.75, 1e-12);
    assert_close(s.cache_hit_ratio, 0.25, 1e-12);
    assert_close(s.cost_usd, 0.02, 1e-9);
    assert_close(s.cost_per_1k_usd, 0.1, 1e-9);
    /* b alone: 5 s old */
    fg_kpi_snapshot(b, 10 * S, 7.2, 1, &s);
    assert_close(s.window_s, 5.0, 1e-9);
    assert_int_equal(s.requests, 100);
    assert_close(s.p50_s, 0.010, 0.02);
    fg_kpi_free(a);
    fg_kpi_free(b);
}

static void kpi_json_and_table(void **state) {
    (void)state;
    fg_kpi *k = fg_kpi_new_at(60, 0);
    for (int i = 0; i < 10; i++) fg_kpi_request(k, 1 * S, 2 * MS, i != 3);
    fg_kpi_batch(k, 1 * S, 10, 16, 1 * MS, 5 * MS, 10);
    fg_kpi_snap s;
    fg_kpi_snapshot(k, 2 * S, 0.5, 1, &s);
    char buf[FG_KPI_JSON_MAX];
    int n = fg_kpi_snap_json(&s, buf, sizeof buf);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "\"window_s\":2,"));
    assert_non_null(strstr(buf, "\"requests\":10,"));
    assert_non_null(strstr(buf, "\"errors\":1,"));
    assert_non_null(strstr(buf, "\"error_ratio\":0.1,"));
    assert_non_null(strstr(buf, "\"throughput_rps\":5,"));
    assert_non_null(strstr(buf, "\"p99_s\":0.00"));
    assert_non_null(strstr(buf, "\"batch_efficiency\":0.625,"));
    assert_non_null(strstr(buf, "\"idle_share\":1,"));
    assert_non_null(strstr(buf, "\"cost_per_1k_usd\":"));
    assert_non_null(strstr(buf, "\"cache_hit_ratio\":0}"));
    assert_json_sane(&s);
    /* every key once, in order, separated by commas */
    const char *keys[] = {"window_s", "requests", "errors", "error_ratio", "throughput_rps", "p50_s", "p95_s",
                          "p99_s", "mean_queue_s", "mean_compute_s", "batches", "batch_items",
                          "batch_capacity_items", "batch_efficiency", "mean_batch_items", "busy_s", "busy_share",
                          "idle_share", "cost_usd", "cost_per_1k_usd", "cache_hits", "cache_lookups",
                          "cache_hit_ratio"};
    const char *p = buf;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char q[64];
        snprintf(q, sizeof q, "%c\"%s\":", i ? ',' : '{', keys[i]);
        const char *hit = strstr(p, q);
        assert_non_null(hit);
        p = hit + 1;
    }
    /* too small */
    assert_int_equal(fg_kpi_snap_json(&s, buf, (size_t)n), -1);
    assert_int_equal(fg_kpi_snap_json(&s, buf, (size_t)n + 1), n);
    /* non-finite values never leak */
    fg_kpi_snap bad = s;
    bad.p99_s = NAN;
    bad.throughput_rps = INFINITY;
    assert_json_sane(&bad);

    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const char *names[] = {"digits_mlp", "resnet50-very-long-name"};
    fg_kpi_snap snaps[2] = {s, s};
    fg_kpi_table(f, names, snaps, 2);
    fclose(f);
    assert_non_null(strstr(out, "model"));
    assert_non_null(strstr(out, "p99 ms"));
    assert_non_null(strstr(out, "cost/1k USD"));
    assert_non_null(strstr(out, "digits_mlp "));
    assert_non_null(strstr(out, "resnet50-very-long-name "));
    /* aligned: every line has the same length */
    char *nl1 = strchr(out, '\n'), *nl2 = strchr(nl1 + 1, '\n'), *nl3 = strchr(nl2 + 1, '\n');
    assert_non_null(nl3);
    assert_int_equal(nl1 - out, nl2 - nl1 - 1);
    assert_int_equal(nl2 - nl1, nl3 - nl2);
    free(out);
    fg_kpi_free(k);
}

/* 4 recorders of 1e5 requests each over 30 synthetic seconds (no slot reused) while a fifth thread
 * snapshots: everything adds up at the end. */
enum { N_THREADS = 4, N_PER_THREAD = 100000 };
#define T0 (1000 * S)
#define STEP (300 * US) /* 1e5 * 300 us = 30 s */

typedef struct {
    fg_kpi *k;
    int id;
} rec_arg;

static atomic_int g_running;
static atomic_int g_bad; /* checks failed in threads (cmocka asserts only work in the test's thread) */
#define CHECK(c) \
    do { \
        if (!(c)) atomic_fetch_add(&g_bad, 1); \
    } while (0)

static void *recorder(void *p) {
    rec_arg *a = p;
    for (uint64_t j = 0; j < N_PER_THREAD; j++) {
        uint64_t now = T0 + j * STEP + (uint64_t)a->id;
        fg_kpi_request(a->k, now, (1 + j % 100) * 100 * US, j % 50 != 0);
        if (j % 10 == 0) {
            fg_kpi_batch(a->k, now, 10, 16, 1 * MS, 10 * MS, 10);
            fg_kpi_busy(a->k, now, 100 * US);
            fg_kpi_cache(a->k, now, 1, 2);
        }
    }
    atomic_fetch_sub(&g_running, 1);
    return NULL;
}

static void *snapshotter(void *p) {
    fg_kpi *k = p;
    uint64_t last = 0;
    while (atomic_load(&g_running) > 0) {
        fg_kpi_snap s;
        fg_kpi_snapshot(k, T0 + 31 * S, 1.0, 2, &s);
        CHECK(s.requests <= (uint64_t)N_THREADS * N_PER_THREAD);
        CHECK(s.requests >= last); /* nothing is ever reset in this test */
        CHECK(s.errors <= s.requests);
        CHECK(s.busy_share >= 0.0 && s.busy_share <= 1.0);
        CHECK(isfinite(s.p99_s) && isfinite(s.cost_per_1k_usd));
        last = s.requests;
    }
    return NULL;
}

static void kpi_concurrent_recording_adds_up(void **state) {
    (void)state;
    fg_kpi *k = fg_kpi_new_at(60, T0);
    pthread_t th[N_THREADS], snap;
    rec_arg args[N_THREADS];
    atomic_store(&g_running, N_THREADS);
    atomic_store(&g_bad, 0);
    assert_int_equal(pthread_create(&snap, NULL, snapshotter, k), 0);
    for (int i = 0; i < N_THREADS; i++) {
        args[i] = (rec_arg){k, i};
        assert_int_equal(pthread_create(&th[i], NULL, recorder, &args[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    pthread_join(snap, NULL);
    assert_int_equal(atomic_load(&g_bad), 0);
    fg_kpi_snap s;
    fg_kpi_snapshot(k, T0 + 31 * S, 1.0, 2, &s);
    uint64_t n = (uint64_t)N_THREADS * N_PER_THREAD;
    assert_int_equal(s.requests, n);
    assert_int_equal(s.errors, n / 50);
    assert_int_equal(s.batches, n / 10);
    assert_int_equal(s.batch_items, n);
    assert_int_equal(s.cache_lookups, n / 5);
    assert_close(s.busy_s, (double)(n / 10) * 1e-4, 1e-9);
    assert_close(s.mean_queue_s, 1e-3, 1e-9);
    assert_close(s.p50_s, 5.0e-3, 0.02);
    assert_close(s.p99_s, 9.9e-3, 0.02);
    fg_kpi_free(k);
}

/* Recorders wrapping a 3 s ring many times while snapshots run: no crash, no race, sane figures. */
static void *wrap_recorder(void *p) {
    rec_arg *a = p;
    for (uint64_t j = 0; j < N_PER_THREAD; j++) {
        uint64_t now = T0 + j * STEP + (uint64_t)a->id * 7 * MS;
        fg_kpi_request(a->k, now, 1 * MS, 1);
        if (j % 16 == 0) fg_kpi_busy(a->k, now, 1 * MS);
    }
    atomic_fetch_sub(&g_running, 1);
    return NULL;
}

static void *wrap_snapshotter(void *p) {
    fg_kpi *k = p;
    for (uint64_t i = 0; atomic_load(&g_running) > 0; i++) {
        fg_kpi_snap s;
        fg_kpi_snapshot(k, T0 + (i % 30) * S + 500 * MS, 1.0, 1, &s);
        CHECK(s.window_s >= 1.0 && s.window_s <= 3.0);
        CHECK(s.requests <= (uint64_t)N_THREADS * N_PER_THREAD);
        CHECK(isfinite(s.throughput_rps));
    }
    return NULL;
}

static void kpi_concurrent_wraparound_is_safe(void **state) {
    (void)state;
    fg_kpi *k = fg_kpi_new_at(3, T0);
    pthread_t th[N_THREADS], snap;
    rec_arg args[N_THREADS];
    atomic_store(&g_running, N_THREADS);
    atomic_store(&g_bad, 0);
    assert_int_equal(pthread_create(&snap, NULL, wrap_snapshotter, k), 0);
    for (int i = 0; i < N_THREADS; i++) {
        args[i] = (rec_arg){k, i};
        assert_int_equal(pthread_create(&th[i], NULL, wrap_recorder, &args[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    pthread_join(snap, NULL);
    assert_int_equal(atomic_load(&g_bad), 0);
    fg_kpi_snap s;
    fg_kpi_snapshot(k, T0 + 31 * S, 1.0, 1, &s);
    /* at most the last 3 s of 4 threads (3333 requests/s each) */
    assert_true(s.requests <= 4 * 3 * 3334);
    fg_kpi_free(k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kpi_percentiles_within_2pct),
        cmocka_unit_test(kpi_window_drops_data_older_than_w),
        cmocka_unit_test(kpi_partial_first_window),
        cmocka_unit_test(kpi_slot_reuse_after_gap),
        cmocka_unit_test(kpi_busy_idle_two_instances),
        cmocka_unit_test(kpi_cost_per_1k),
        cmocka_unit_test(kpi_zero_requests_give_zeros),
        cmocka_unit_test(kpi_batch_efficiency_and_means),
        cmocka_unit_test(kpi_snapshot_many_aggregates),
        cmocka_unit_test(kpi_json_and_table),
        cmocka_unit_test(kpi_concurrent_recording_adds_up),
        cmocka_unit_test(kpi_concurrent_wraparound_is_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
