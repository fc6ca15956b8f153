/* Tests for src/bench/results.c: the results JSON has exactly the keys of docs/bench.md with null for
 * what was not measured, numbers that add up (histogram buckets sum to the count, error_count to the
 * errors), thresholds on the whole run and on one stage decide "passed" (the command's exit status);
 * the CSV has its perf_analyzer-like header and one row per stage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/results.h"
#include "core/json.h"

typedef struct {
    fg_stage st[2];
    fg_bench_result res;
    fg_bench_second tl[2];
    fg_bench_server sv[2];
    fg_threshold thr[3];
    double tv[3];
    int tp[3];
    fg_bench_report rep;
} fixture;

static void record(fg_bench_stage_result *s, uint64_t lat, uint64_t svc, int n) {
    for (int i = 0; i < n; i++) {
        fg_hist_record(s->lat, lat);
        fg_hist_record(s->svc, svc);
        s->blat[fg_hist_bucket_index(lat)]++;
        s->bsvc[fg_hist_bucket_index(svc)]++;
    }
}

static int setup(void **state) {
    fixture *x = calloc(1, sizeof *x);
    x->st[0] = (fg_stage){.kind = FG_STAGE_CLOSED, .concurrency = 4, .duration_s = 2};
    x->st[1] = (fg_stage){.kind = FG_STAGE_RAMP, .rate = 100, .rate_end = 300, .duration_s = 2};
    fg_stage_default_name(&x->st[0]);
    snprintf(x->st[1].name, sizeof x->st[1].name, "a \"quoted\" ramp");
    x->res.n_stages = 2;
    x->res.stages = calloc(2, sizeof *x->res.stages);
    x->res.wall_s = 4;
    x->res.cpu_user_s = 0.5;
    x->res.cpu_sys_s = 0.3;
    x->res.ncpu = 2;
    for (int i = 0; i < 2; i++) {
        fg_bench_stage_result *s = &x->res.stages[i];
        s->lat = fg_hist_new();
        s->svc = fg_hist_new();
        s->blat = calloc(fg_hist_n_buckets(), sizeof *s->blat);
        s->bsvc = calloc(fg_hist_n_buckets(), sizeof *s->bsvc);
        s->duration_s = 2;
        s->stable = -1;
    }
    fg_bench_stage_result *a = &x->res.stages[0], *b = &x->res.stages[1];
    record(a, 100, 100, 99);
    record(a, 10000, 10000, 1);
    a->sent = 100;
    a->completed = 100;
    a->ok = 100;
    record(b, 300, 200, 390);
    record(b, 50000, 400, 4);
    b->sent = 400;
    b->completed = 394;
    b->ok = 391;
    b->err_status[503] = 3;
    b->err_connect = 1;
    b->err_timeout = 5;
    b->dropped = 7;
    b->late = 4;
    b->stable = 1;
    x->tl[0] = (fg_bench_second){.sent = 200, .ok = 199, .errors = 1, .p50_us = 300, .p99_us = 50000,
                                 .service_p99_us = 400, .has_latency = 1};
    x->tl[1] = (fg_bench_second){.sent = 0};
    b->timeline = x->tl;
    b->n_timeline = 2;
    x->sv[1] = (fg_bench_server){.present = 1, .requests = 394, .rps = 197, .batch_mean = 2.5, .batch_eff = 0.31,
                                 .n_batch = 3, .batch_le = {1, 2, INFINITY}, .batch_cum = {10, 50, 60},
                                 .hit_ratio = NAN, .queue_mean_s = 0.0002, .compute_mean_s = 0.0001,
                                 .cpu_share = 0.4, .price = 0.1, .cost_per_1k = 1.4e-4};
    fg_err e = {0};
    fg_bench_threshold_parse("p99<20ms", &x->thr[0], &e);
    fg_bench_threshold_parse("1:errors<1%", &x->thr[1], &e);
    fg_bench_threshold_parse("5:p50<1s", &x->thr[2], &e);
    x->rep = (fg_bench_report){.version = "9.9.9", .url = "http://127.0.0.1:8000", .model = "digits_mlp",
                               .format = "json", .method = "POST", .frugal = 1, .mode = "mixed",
                               .arrival = "constant", .threads = 2, .max_connections = 256, .profile = "p.txt",
                               .inputs = "random", .timeout_s = 10, .started_at = 1795907016, .stages = x->st,
                               .res = &x->res, .server = x->sv, .thr = x->thr, .n_thr = 3, .thr_value = x->tv,
                               .thr_passed = x->tp};
    *state = x;
    return 0;
}

static int teardown(void **state) {
    fixture *x = *state;
    for (int i = 0; i < 2; i++) {
        x->res.stages[i].timeline = NULL;
        x->res.stages[i].n_timeline = 0;
    }
    fg_bench_result_free(&x->res);
    free(x);
    return 0;
}

static fg_json *render(fixture *x) {
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    assert_int_equal(fg_bench_write_json(f, &x->rep), 0);
    fclose(f);
    fg_json *doc = NULL;
    fg_err e = {0};
    if (fg_json_parse(mem, len, &doc, &e) != 0)
        fail_msg("results JSON does not parse: %s\n%s", e.msg, mem);
    free(mem);
    return doc;
}

static void keys_are(const fg_json *o, const char *const *want, size_t n) {
    assert_non_null(o);
    assert_int_equal(o->type, FG_JSON_OBJECT);
    if (o->n != n)
        fail_msg("object has %zu keys, want %zu (first: %s)", o->n, n, o->n ? o->keys[0] : "-");
    for (size_t i = 0; i < n; i++)
        if (!fg_json_get(o, want[i]))
            fail_msg("key '%s' missing", want[i]);
}

#define KEYS(o, ...)                                                                                         \
    do {                                                                                                     \
        static const char *const k_[] = {__VA_ARGS__};                                                       \
        keys_are(o, k_, sizeof k_ / sizeof k_[0]);                                                           \
    } while (0)

static int is_null(const fg_json *v) { return v && v->type == FG_JSON_NULL; }

static void json_has_the_documented_keys(void **state) {
    fixture *x = *state;
    assert_int_equal(fg_bench_eval_thresholds(&x->rep), 0);
    fg_json *d = render(x);
    KEYS(d, "tool", "version", "started_at", "target", "config", "client", "stages", "thresholds", "passed");
    assert_string_equal(fg_json_str(fg_json_get(d, "started_at"), ""), "2026-11-28T23:03:36Z");
    KEYS(fg_json_get(d, "target"), "url", "model", "kind", "format", "method", "frugal");
    assert_string_equal(fg_json_str(fg_json_get(fg_json_get(d, "target"), "kind"), ""), "v2");
    KEYS(fg_json_get(d, "config"), "mode", "arrival", "threads", "max_connections", "profile", "inputs",
         "timeout_s");
    KEYS(fg_json_get(d, "client"), "cpu_user_s", "cpu_sys_s", "cpu_share", "ncpu");
    assert_true(fabs(fg_json_num(fg_json_get(fg_json_get(d, "client"), "cpu_share"), NAN) - 0.1) < 1e-12);
    const fg_json *stages = fg_json_get(d, "stages");
    assert_int_equal(fg_json_count(stages), 2);
    for (size_t i = 0; i < 2; i++) {
        const fg_json *s = fg_json_at(stages, i);
        KEYS(s, "index", "name", "kind", "offered_rps", "offered_rps_end", "concurrency", "duration_s", "sent",
             "completed", "ok", "errors", "error_count", "dropped", "late", "achieved_rps", "throughput_rps",
             "latency_us", "service_us", "histogram", "timeline", "stable", "client_cpu_share", "server");
        KEYS(fg_json_get(s, "latency_us"), "count", "min", "mean", "p50", "p90", "p95", "p99", "p999", "max");
        KEYS(fg_json_get(s, "service_us"), "count", "min", "mean", "p50", "p90", "p95", "p99", "p999", "max");
        KEYS(fg_json_get(s, "histogram"), "latency_us", "service_us");
        /* buckets add up to the count */
        const fg_json *h = fg_json_get(fg_json_get(s, "histogram"), "latency_us");
        double sum = 0;
        for (size_t k = 0; k < fg_json_count(h); k++)
            sum += fg_json_num(fg_json_at(fg_json_at(h, k), 1), NAN);
        assert_true(sum == fg_json_num(fg_json_get(fg_json_get(s, "latency_us"), "count"), NAN));
    }
    const fg_json *a = fg_json_at(stages, 0), *b = fg_json_at(stages, 1);
    /* closed loop: no offered rate, a concurrency; no server figures; stability not asked */
    assert_true(is_null(fg_json_get(a, "offered_rps")) && is_null(fg_json_get(a, "offered_rps_end")));
    assert_true(fg_json_num(fg_json_get(a, "concurrency"), NAN) == 4);
    assert_true(is_null(fg_json_get(a, "server")) && is_null(fg_json_get(a, "stable")));
    assert_string_equal(fg_json_str(fg_json_get(a, "kind"), ""), "closed");
    KEYS(fg_json_get(a, "errors"), "connect", "timeout", "reset", "other");
    assert_true(fg_json_num(fg_json_get(fg_json_get(a, "latency_us"), "p50"), NAN) == 100);
    assert_true(fg_json_num(fg_json_get(fg_json_get(a, "latency_us"), "max"), NAN) == 10000);
    assert_true(fg_json_num(fg_json_get(fg_json_get(a, "latency_us"), "mean"), NAN) == (99 * 100 + 10000) / 100.0);
    /* ramp: mean and end rate, errors by status and kind */
    assert_string_equal(fg_json_str(fg_json_get(b, "name"), ""), "a \"quoted\" ramp");
    assert_true(fg_json_num(fg_json_get(b, "offered_rps"), NAN) == 200);
    assert_true(fg_json_num(fg_json_get(b, "offered_rps_end"), NAN) == 300);
    assert_true(is_null(fg_json_get(b, "concurrency")));
    KEYS(fg_json_get(b, "errors"), "http_503", "connect", "timeout", "reset", "other");
    assert_true(fg_json_num(fg_json_get(fg_json_get(b, "errors"), "http_503"), NAN) == 3);
    assert_true(fg_json_num(fg_json_get(b, "error_count"), NAN) == 9);
    assert_true(fg_json_num(fg_json_get(b, "dropped"), NAN) == 7 && fg_json_num(fg_json_get(b, "late"), NAN) == 4);
    assert_true(fg_json_num(fg_json_get(b, "achieved_rps"), NAN) == 200);
    assert_true(fg_json_num(fg_json_get(b, "throughput_rps"), NAN) == 195.5);
    assert_true(fg_json_bool(fg_json_get(b, "stable"), 0) == 1);
    const fg_json *tl = fg_json_get(b, "timeline");
    assert_int_equal(fg_json_count(tl), 2);
    KEYS(fg_json_at(tl, 0), "t_s", "sent", "ok", "errors", "p50_us", "p99_us", "service_p99_us");
    assert_true(fg_json_num(fg_json_get(fg_json_at(tl, 0), "p99_us"), NAN) == 50000);
    assert_true(fg_json_num(fg_json_get(fg_json_at(tl, 1), "t_s"), NAN) == 2);
    assert_true(is_null(fg_json_get(fg_json_at(tl, 1), "p50_us"))); /* nothing completed: not 0 */
    const fg_json *sv = fg_json_get(b, "server");
    KEYS(sv, "requests", "rps", "batch_mean", "batch_efficiency", "batch_size_hist", "cache_hit_ratio",
         "queue_mean_s", "compute_mean_s", "cpu_share", "cpu_estimate", "price_per_hour_usd", "cost_per_1k_usd");
    assert_true(is_null(fg_json_get(sv, "cache_hit_ratio")));
    const fg_json *bh = fg_json_get(sv, "batch_size_hist");
    assert_int_equal(fg_json_count(bh), 3);
    assert_true(is_null(fg_json_at(fg_json_at(bh, 2), 0))); /* +Inf bound */
    assert_true(fg_json_num(fg_json_at(fg_json_at(bh, 2), 1), NAN) == 60);
    /* thresholds: p99 over both stages (494 values, the top 1% includes 50 ms), stage 1 errors, a stage
     * that did not run */
    const fg_json *th = fg_json_get(d, "thresholds");
    assert_int_equal(fg_json_count(th), 3);
    KEYS(fg_json_at(th, 0), "expr", "stage", "value", "limit", "passed");
    assert_true(is_null(fg_json_get(fg_json_at(th, 0), "stage")));
    assert_true(fg_json_num(fg_json_get(fg_json_at(th, 0), "limit"), NAN) == 20000);
    double p99 = fg_json_num(fg_json_get(fg_json_at(th, 0), "value"), NAN); /* within the 10 ms bucket */
    assert_true(p99 >= 10000 && p99 <= 10010);
    assert_true(fg_json_bool(fg_json_get(fg_json_at(th, 0), "passed"), 0) == 1);
    assert_true(fg_json_num(fg_json_get(fg_json_at(th, 1), "stage"), NAN) == 1);
    assert_true(fg_json_num(fg_json_get(fg_json_at(th, 1), "value"), NAN) == 100.0 * 9 / 400);
    assert_true(fg_json_bool(fg_json_get(fg_json_at(th, 1), "passed"), 1) == 0);
    assert_true(is_null(fg_json_get(fg_json_at(th, 2), "value")));
    assert_true(fg_json_bool(fg_json_get(fg_json_at(th, 2), "passed"), 1) == 0);
    assert_true(fg_json_bool(fg_json_get(d, "passed"), 1) == 0);
    fg_json_free(d);
}

static void thresholds_decide_passed(void **state) {
    fixture *x = *state;
    fg_err e = {0};
    x->rep.n_thr = 1; /* p99<20ms alone passes */
    assert_int_equal(fg_bench_eval_thresholds(&x->rep), 1);
    fg_json *d = render(x);
    assert_true(fg_json_bool(fg_json_get(d, "passed"), 0) == 1);
    fg_json_free(d);
    fg_bench_threshold_parse("p99<5ms", &x->thr[0], &e); /* 10 ms at the whole run's p99 */
    assert_int_equal(fg_bench_eval_thresholds(&x->rep), 0);
    fg_bench_threshold_parse("0:p99<5ms", &x->thr[0], &e); /* stage 0 alone: p99 = 100 us */
    assert_int_equal(fg_bench_eval_thresholds(&x->rep), 1);
    fg_bench_threshold_parse("rps>100", &x->thr[0], &e); /* 491 ok over 4 s */
    assert_int_equal(fg_bench_eval_thresholds(&x->rep), 1);
    assert_true(x->tv[0] == 491.0 / 4);
    x->rep.n_thr = 0; /* no gates: passed */
    assert_int_equal(fg_bench_eval_thresholds(&x->rep), 1);
}

static void csv_has_a_header_and_a_row_per_stage(void **state) {
    fixture *x = *state;
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    assert_int_equal(fg_bench_write_csv(f, &x->rep), 0);
    fclose(f);
    char *l1 = strtok(mem, "\n"), *l2 = strtok(NULL, "\n"), *l3 = strtok(NULL, "\n");
    assert_string_equal(l1, "Stage,Name,Kind,Concurrency,Offered Rate,Inferences/Second,Client Send,p50 latency,"
                            "p90 latency,p95 latency,p99 latency,p99.9 latency,Max latency,p99 service,Dropped,Late,"
                            "Errors,Cost per 1k");
    assert_string_equal(l2, "0,\"closed 4 conns\",closed,4,,50.00,50.00,100,100,100,100,10000,10000,100,0,0,0,");
    assert_string_equal(l3, "1,\"a \"\"quoted\"\" ramp\",ramp,,200,195.50,200.00,300,300,300,50000,50000,50000,400,"
                            "7,4,9,0.00014");
    assert_null(strtok(NULL, "\n"));
    free(mem);
}

static void text_names_stages_and_gates(void **state) {
    fixture *x = *state;
    fg_bench_eval_thresholds(&x->rep);
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    fg_bench_write_text(f, &x->rep);
    fclose(f);
    assert_non_null(strstr(mem, "stage 1: a \"quoted\" ramp (ramp, 2.00 s) stable"));
    assert_non_null(strstr(mem, "errors 9 (http_503 3, connect 1, timeout 5)"));
    assert_non_null(strstr(mem, "threshold 1:errors<1%"));
    assert_non_null(strstr(mem, "FAILED (measured 2.25%)"));
    assert_non_null(strstr(mem, "server: 394 req"));
    free(mem);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(json_has_the_documented_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(thresholds_decide_passed, setup, teardown),
        cmocka_unit_test_setup_teardown(csv_has_a_header_and_a_row_per_stage, setup, teardown),
        cmocka_unit_test_setup_teardown(text_names_stages_and_gates, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
