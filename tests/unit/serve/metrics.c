/* Tests for src/serve/metrics.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/metrics.h"

static const char *const LAB[] = {"model", "version"};

static void metrics_write_exact_text_for_small_registry(void **state) {
    (void)state;
    fg_err e = {0};
    fg_metrics *r = fg_metrics_new();
    const char *const out_lab[] = {"model", "version", "outcome", "status"};
    fg_metric_family *req =
        fg_metrics_counter(r, "frugal_requests_total", "Requests handled.\nBy outcome \\ status.", out_lab, 4, &e);
    fg_metric_family *depth = fg_metrics_gauge(r, "frugal_queue_depth", "Items waiting.", LAB, 2, &e);
    const double b[] = {0.001, 0.01, 0.1};
    fg_metric_family *lat = fg_metrics_histogram(r, "frugal_request_duration_seconds", "Request latency.", LAB, 2,
                                                 b, 3, &e);
    fg_metric_family *up = fg_metrics_gauge(r, "frugal_up", "Always 1.", NULL, 0, &e);
    assert_non_null(req);
    assert_non_null(depth);
    assert_non_null(lat);
    assert_non_null(up);
    assert_int_equal(e.code, 0);

    const char *const v_ok[] = {"resnet", "1", "ok", "200"};
    const char *const v_odd[] = {"we\"ird\\na\nme", "2", "error", "503"};
    fg_metric *ok = fg_metrics_series(req, v_ok, &e);
    fg_metric *odd = fg_metrics_series(req, v_odd, &e);
    assert_ptr_equal(fg_metrics_series(req, v_ok, &e), ok); /* same labels, same series */
    fg_metric_inc(ok);
    fg_metric_inc(ok);
    fg_metric_add(ok, 1);
    fg_metric_inc(odd);
    const char *const v1[] = {"resnet", "1"};
    fg_metric *d = fg_metrics_series(depth, v1, &e);
    fg_metric_set(d, 5);
    fg_metric_add(d, -2.5);
    fg_metric *h = fg_metrics_series(lat, v1, &e);
    fg_metric_observe(h, 0.0005);
    fg_metric_observe(h, 0.001); /* le is inclusive */
    fg_metric_observe(h, 0.05);
    fg_metric_observe(h, 2);
    fg_metric_set(fg_metrics_series(up, NULL, &e), 1);
    assert_int_equal(e.code, 0);
    assert_true(fg_metric_value(ok) == 3.0);
    assert_true(fg_metric_value(h) == 4.0);
    assert_int_equal(fg_metric_hist_bucket(h, 0), 2);
    assert_int_equal(fg_metric_hist_bucket(h, 3), 1);

    fg_metrics_buf out = {0};
    assert_int_equal(fg_metrics_write(r, &out), 0);
    const char *want =
        "# HELP frugal_requests_total Requests handled.\\nBy outcome \\\\ status.\n"
        "# TYPE frugal_requests_total counter\n"
        "frugal_requests_total{model=\"resnet\",version=\"1\",outcome=\"ok\",status=\"200\"} 3\n"
        "frugal_requests_total{model=\"we\\\"ird\\\\na\\nme\",version=\"2\",outcome=\"error\",status=\"503\"} 1\n"
        "# HELP frugal_queue_depth Items waiting.\n"
        "# TYPE frugal_queue_depth gauge\n"
        "frugal_queue_depth{model=\"resnet\",version=\"1\"} 2.5\n"
        "# HELP frugal_request_duration_seconds Request latency.\n"
        "# TYPE frugal_request_duration_seconds histogram\n"
        "frugal_request_duration_seconds_bucket{model=\"resnet\",version=\"1\",le=\"0.001\"} 2\n"
        "frugal_request_duration_seconds_bucket{model=\"resnet\",version=\"1\",le=\"0.01\"} 2\n"
        "frugal_request_duration_seconds_bucket{model=\"resnet\",version=\"1\",le=\"0.1\"} 3\n"
        "frugal_request_duration_seconds_bucket{model=\"resnet\",version=\"1\",le=\"+Inf\"} 4\n"
        "frugal_request_duration_seconds_sum{model=\"resnet\",version=\"1\"} 2.0515\n"
        "frugal_request_duration_seconds_count{model=\"resnet\",version=\"1\"} 4\n"
        "# HELP frugal_up Always 1.\n"
        "# TYPE frugal_up gauge\n"
        "frugal_up 1\n";
    assert_string_equal(out.data, want);
    assert_int_equal(out.len, strlen(want));
    fg_metrics_buf_free(&out);
    assert_null(out.data);
    fg_metrics_free(r);
}

/* An empty label value is no label to Prometheus: it is left out, braces included when nothing is left,
 * so an optional label (the A/B `variant`) does not change the series that do not use it. */
static void metrics_empty_label_values_left_out(void **state) {
    (void)state;
    fg_err e = {0};
    fg_metrics *r = fg_metrics_new();
    const char *lab[] = {"model", "version", "variant"};
    fg_metric_family *c = fg_metrics_counter(r, "frugal_x_total", "X.", lab, 3, &e);
    fg_metric_family *h = fg_metrics_histogram(r, "frugal_h", "H.", lab + 2, 1, FG_METRICS_BATCH_BUCKETS, 1, &e);
    const char *v1[] = {"m", "1", ""}, *v2[] = {"m", "2", "B"}, *v3[] = {"", "", ""}, *hv[] = {""};
    fg_metric_inc(fg_metrics_series(c, v1, &e));
    fg_metric_inc(fg_metrics_series(c, v2, &e));
    fg_metric_inc(fg_metrics_series(c, v3, &e));
    fg_metric_observe(fg_metrics_series(h, hv, &e), 1);
    fg_metrics_buf out = {0};
    assert_int_equal(fg_metrics_write(r, &out), 0);
    const char *want = "# HELP frugal_x_total X.\n# TYPE frugal_x_total counter\n"
                       "frugal_x_total{model=\"m\",version=\"1\"} 1\n"
                       "frugal_x_total{model=\"m\",version=\"2\",variant=\"B\"} 1\n"
                       "frugal_x_total 1\n"
                       "# HELP frugal_h H.\n# TYPE frugal_h histogram\n"
                       "frugal_h_bucket{le=\"1\"} 1\nfrugal_h_bucket{le=\"+Inf\"} 1\n"
                       "frugal_h_sum 1\nfrugal_h_count 1\n";
    assert_string_equal(out.data, want);
    fg_metrics_buf_free(&out);
    fg_metrics_free(r);
}

static void metrics_histogram_without_labels_and_value_formats(void **state) {
    (void)state;
    fg_err e = {0};
    fg_metrics *r = fg_metrics_new();
    fg_metric_family *bs = fg_metrics_histogram(r, "frugal_batch_size", "Items per batch.", NULL, 0,
                                                FG_METRICS_BATCH_BUCKETS, FG_METRICS_N_BATCH_BUCKETS, &e);
    fg_metric_family *g = fg_metrics_gauge(r, "frugal_g", "", NULL, 0, &e);
    assert_non_null(bs);
    fg_metric *m = fg_metrics_series(bs, NULL, &e);
    fg_metric_observe(m, 3);
    fg_metric_observe(m, 1000);
    fg_metric_set(fg_metrics_series(g, NULL, &e), 0.1);
    fg_metrics_buf out = {0};
    assert_int_equal(fg_metrics_write(r, &out), 0);
    const char *want = "# HELP frugal_batch_size Items per batch.\n"
                       "# TYPE frugal_batch_size histogram\n"
                       "frugal_batch_size_bucket{le=\"1\"} 0\n"
                       "frugal_batch_size_bucket{le=\"2\"} 0\n"
                       "frugal_batch_size_bucket{le=\"4\"} 1\n"
                       "frugal_batch_size_bucket{le=\"8\"} 1\n"
                       "frugal_batch_size_bucket{le=\"16\"} 1\n"
                       "frugal_batch_size_bucket{le=\"32\"} 1\n"
                       "frugal_batch_size_bucket{le=\"64\"} 1\n"
                       "frugal_batch_size_bucket{le=\"128\"} 1\n"
                       "frugal_batch_size_bucket{le=\"256\"} 1\n"
                       "frugal_batch_size_bucket{le=\"+Inf\"} 2\n"
                       "frugal_batch_size_sum 1003\n"
                       "frugal_batch_size_count 2\n"
                       "# HELP frugal_g \n"
                       "# TYPE frugal_g gauge\n"
                       "frugal_g 0.1\n";
    assert_string_equal(out.data, want);
    /* non-finite gauge values use Prometheus spellings; writing appends */
    fg_metric_set(fg_metrics_series(g, NULL, &e), INFINITY);
    size_t before = out.len;
    assert_int_equal(fg_metrics_write(r, &out), 0);
    assert_int_equal(out.len, 2 * before + 1); /* "+Inf" instead of "0.1" */
    assert_non_null(strstr(out.data + before, "frugal_g +Inf\n"));
    fg_metrics_buf_free(&out);
    fg_metrics_free(r);
}

static void metrics_registration_rejects_bad_names_and_buckets(void **state) {
    (void)state;
    fg_metrics *r = fg_metrics_new();
    fg_err e = {0};
    assert_null(fg_metrics_counter(r, "frugal_requests", "", NULL, 0, &e)); /* no _total */
    assert_int_equal(e.code, FG_EINVAL);
    fg_err_clear(&e);
    assert_null(fg_metrics_gauge(r, "frugal_x_total", "", NULL, 0, &e));
    assert_int_equal(e.code, FG_EINVAL);
    fg_err_clear(&e);
    assert_null(fg_metrics_gauge(r, "9bad", "", NULL, 0, &e));
    assert_int_equal(e.code, FG_EINVAL);
    fg_err_clear(&e);
    assert_null(fg_metrics_gauge(r, "frugal-dash", "", NULL, 0, &e));
    fg_err_clear(&e);
    const char *const bad_lab[] = {"model", "__x"};
    assert_null(fg_metrics_gauge(r, "frugal_a", "", bad_lab, 2, &e));
    fg_err_clear(&e);
    const char *const dup_lab[] = {"model", "model"};
    assert_null(fg_metrics_gauge(r, "frugal_a", "", dup_lab, 2, &e));
    fg_err_clear(&e);
    const char *const le_lab[] = {"le"};
    const double ok_b[] = {1, 2};
    assert_null(fg_metrics_histogram(r, "frugal_h", "", le_lab, 1, ok_b, 2, &e));
    fg_err_clear(&e);
    const double bad_b[] = {1, 1};
    assert_null(fg_metrics_histogram(r, "frugal_h", "", NULL, 0, bad_b, 2, &e));
    fg_err_clear(&e);
    const double inf_b[] = {1, INFINITY};
    assert_null(fg_metrics_histogram(r, "frugal_h", "", NULL, 0, inf_b, 2, &e));
    fg_err_clear(&e);
    assert_null(fg_metrics_histogram(r, "frugal_h", "", NULL, 0, ok_b, 0, &e));
    fg_err_clear(&e);
    fg_metric_family *g = fg_metrics_gauge(r, "frugal_a", "", LAB, 2, &e);
    assert_non_null(g);
    assert_ptr_equal(fg_metrics_find(r, "frugal_a"), g);
    assert_null(fg_metrics_find(r, "frugal_nope"));
    assert_null(fg_metrics_gauge(r, "frugal_a", "", NULL, 0, &e)); /* duplicate */
    assert_int_equal(e.code, FG_EINVAL);
    fg_err_clear(&e);
    assert_null(fg_metrics_series(g, NULL, &e));
    fg_err_clear(&e);
    const char *const null_val[] = {"m", NULL};
    assert_null(fg_metrics_series(g, null_val, &e));
    assert_int_equal(e.code, FG_EINVAL);
    fg_metrics_free(r);
}

#define N_THREADS 4
#define PER_THREAD 100000

typedef struct rec_arg {
    fg_metric *c, *g, *h;
} rec_arg;

static void *record_many(void *arg) {
    rec_arg *a = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        fg_metric_inc(a->c);
        fg_metric_add(a->g, i % 2 ? 1 : -1);
        fg_metric_observe(a->h, (double)(i % 4)); /* exact in binary: the sum is exact */
    }
    return NULL;
}

static void *scrape_many(void *arg) {
    fg_metrics *r = arg;
    for (int i = 0; i < 50; i++) {
        fg_metrics_buf b = {0};
        assert_int_equal(fg_metrics_write(r, &b), 0);
        fg_metrics_buf_free(&b);
    }
    return NULL;
}

static void metrics_concurrent_recording_loses_nothing(void **state) {
    (void)state;
    fg_err e = {0};
    fg_metrics *r = fg_metrics_new();
    const double b[] = {0, 1, 2};
    fg_metric_family *cf = fg_metrics_counter(r, "frugal_c_total", "c", LAB, 2, &e);
    fg_metric_family *gf = fg_metrics_gauge(r, "frugal_inflight", "g", LAB, 2, &e);
    fg_metric_family *hf = fg_metrics_histogram(r, "frugal_h", "h", LAB, 2, b, 3, &e);
    const char *const v[] = {"m", "1"};
    rec_arg a = {fg_metrics_series(cf, v, &e), fg_metrics_series(gf, v, &e), fg_metrics_series(hf, v, &e)};
    pthread_t t[N_THREADS + 1];
    for (int i = 0; i < N_THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, record_many, &a), 0);
    assert_int_equal(pthread_create(&t[N_THREADS], NULL, scrape_many, r), 0);
    for (int i = 0; i <= N_THREADS; i++) pthread_join(t[i], NULL);
    assert_true(fg_metric_value(a.c) == (double)N_THREADS * PER_THREAD);
    assert_true(fg_metric_value(a.g) == 0.0);
    assert_true(fg_metric_value(a.h) == (double)N_THREADS * PER_THREAD);
    for (size_t i = 0; i < 4; i++) assert_int_equal(fg_metric_hist_bucket(a.h, i), N_THREADS * PER_THREAD / 4);
    assert_true(fg_metric_hist_sum(a.h) == (double)N_THREADS * PER_THREAD / 4 * (0 + 1 + 2 + 3));
    fg_metrics_free(r);
}

/* value of the label-less sample `name` in text, or NAN */
static double sample(const char *text, const char *name) {
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : NAN;
}

static void metrics_process_metrics_present_and_sane(void **state) {
    (void)state;
    fg_err e = {0};
    fg_metrics *r = fg_metrics_new();
    assert_int_equal(fg_metrics_process_register(r, -1, &e), FG_EINVAL);
    fg_err_clear(&e);
    assert_int_equal(fg_metrics_process_register(r, NAN, &e), FG_EINVAL);
    fg_err_clear(&e);
    assert_int_equal(fg_metrics_process_register(r, 3.6, &e), 0);
    assert_int_equal(fg_metrics_process_register(r, 3.6, &e), FG_EINVAL); /* once per registry */
    /* burn a little CPU so the counter is positive */
    volatile double x = 0;
    clock_t c0 = clock();
    while (clock() - c0 < CLOCKS_PER_SEC / 50) x += 1;
    fg_metrics_buf b = {0};
    assert_int_equal(fg_metrics_write(r, &b), 0);
    assert_non_null(strstr(b.data, "# TYPE frugal_process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(b.data, "# TYPE frugal_cost_usd_total counter\n"));
    assert_non_null(strstr(b.data, "# TYPE frugal_process_resident_memory_bytes gauge\n"));
    double cpu = sample(b.data, "frugal_process_cpu_seconds_total");
    double rss = sample(b.data, "frugal_process_resident_memory_bytes");
    double start = sample(b.data, "frugal_process_start_time_seconds");
    double up = sample(b.data, "frugal_uptime_seconds");
    double price = sample(b.data, "frugal_price_per_hour_usd");
    double cost = sample(b.data, "frugal_cost_usd_total");
    assert_true(cpu > 0 && cpu < 600);
    assert_true(rss > 1e5 && rss < 64e9);
    double now = (double)time(NULL);
    assert_true(start > now - 600 && start <= now + 1);
    assert_true(up >= 0 && up < 600);
    assert_true(price == 3.6);
    /* cost = price * uptime / 3600 from the same uptime sample: 3.6 $/h is 0.001 $/s */
    assert_true(fabs(cost - up * 0.001) <= 1e-12 + up * 1e-12);
    /* monotonic across scrapes */
    fg_metrics_buf b2 = {0};
    assert_int_equal(fg_metrics_write(r, &b2), 0);
    assert_true(sample(b2.data, "frugal_uptime_seconds") >= up);
    assert_true(sample(b2.data, "frugal_cost_usd_total") >= cost);
    assert_true(sample(b2.data, "frugal_process_cpu_seconds_total") >= cpu);
    if (getenv("FG_METRICS_DUMP")) { /* for manual `promtool check metrics` */
        FILE *fp = fopen(getenv("FG_METRICS_DUMP"), "w");
        if (fp) {
            fputs(b2.data, fp);
            fclose(fp);
        }
    }
    fg_metrics_buf_free(&b);
    fg_metrics_buf_free(&b2);
    fg_metrics_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_write_exact_text_for_small_registry),
        cmocka_unit_test(metrics_histogram_without_labels_and_value_formats),
        cmocka_unit_test(metrics_empty_label_values_left_out),
        cmocka_unit_test(metrics_registration_rejects_bad_names_and_buckets),
        cmocka_unit_test(metrics_concurrent_recording_loses_nothing),
        cmocka_unit_test(metrics_process_metrics_present_and_sane),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
