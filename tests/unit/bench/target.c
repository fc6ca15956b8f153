/* Tests for src/bench/target.c: v2 requests built from model metadata (JSON and binary tensors, -1
 * dimensions taking the batch, Content-Length and Inference-Header-Content-Length right), the Zipf pool
 * and sampler, and refusals (BYTES inputs, metadata without inputs, a bad zipf spec). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/target.h"
#include "core/json.h"

static const char meta[] = "{\"name\":\"m\",\"versions\":[\"1\"],\"platform\":\"onnx\","
                           "\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[-1,4]},"
                           "{\"name\":\"mask\",\"datatype\":\"INT64\",\"shape\":[2]}],"
                           "\"outputs\":[{\"name\":\"out\",\"datatype\":\"FP32\",\"shape\":[-1,2]}]}";

static void make(fg_bench_target *t, int binary) {
    memset(t, 0, sizeof *t);
    char err[256];
    assert_int_equal(fg_url_parse("http://127.0.0.1:8000", &t->url, err, sizeof err), 0);
    snprintf(t->model, sizeof t->model, "m");
    snprintf(t->method, sizeof t->method, "POST");
    t->v2 = 1;
    t->binary = binary;
}

/* Splits a built request into head and body; checks Content-Length against the body. */
static const char *body_of(const char *req, size_t len, size_t *body_len) {
    const char *sep = strstr(req, "\r\n\r\n");
    assert_non_null(sep);
    const char *cl = strstr(req, "\r\nContent-Length: ");
    assert_true(cl && cl < sep);
    *body_len = len - (size_t)(sep + 4 - req);
    assert_int_equal(strtoul(cl + 18, NULL, 10), *body_len);
    return sep + 4;
}

static void v2_json_requests_follow_the_metadata(void **state) {
    (void)state;
    fg_bench_target t;
    make(&t, 0);
    fg_err e = {0};
    const char *hdr[] = {"X-Trace: 1"};
    assert_int_equal(fg_bench_target_from_metadata(&t, meta, sizeof meta - 1, 3, NULL, 7, hdr, 1, &e), 0);
    assert_int_equal(t.n_req, FG_BENCH_RANDOM_POOL);
    assert_null(t.zipf_cdf);
    assert_string_equal(t.inputs, "random");
    const char *r = t.req[0];
    assert_memory_equal(r, "POST /v2/models/m/infer HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n", 55);
    assert_non_null(strstr(r, "\r\nX-Trace: 1\r\n"));
    assert_non_null(strstr(r, "Content-Type: application/json\r\n"));
    size_t bl;
    const char *body = body_of(r, t.req_len[0], &bl);
    fg_json *d;
    assert_int_equal(fg_json_parse(body, bl, &d, &e), 0);
    const fg_json *in0 = fg_json_at(fg_json_get(d, "inputs"), 0), *in1 = fg_json_at(fg_json_get(d, "inputs"), 1);
    assert_string_equal(fg_json_str(fg_json_get(in0, "name"), ""), "input");
    assert_string_equal(fg_json_str(fg_json_get(in0, "datatype"), ""), "FP32");
    assert_true(fg_json_num(fg_json_at(fg_json_get(in0, "shape"), 0), 0) == 3);
    assert_true(fg_json_num(fg_json_at(fg_json_get(in0, "shape"), 1), 0) == 4);
    assert_int_equal(fg_json_count(fg_json_get(in0, "data")), 12);
    for (size_t i = 0; i < 12; i++) {
        double v = fg_json_num(fg_json_at(fg_json_get(in0, "data"), i), NAN);
        assert_true(v >= 0 && v < 1);
    }
    assert_int_equal(fg_json_count(fg_json_get(in1, "data")), 2);
    fg_json_free(d);
    /* the pool holds distinct requests */
    assert_true(t.req_len[0] != t.req_len[1] || memcmp(t.req[0], t.req[1], t.req_len[0]) != 0);
    fg_bench_target_free(&t);
}

static void v2_binary_requests_carry_the_header_length(void **state) {
    (void)state;
    fg_bench_target t;
    make(&t, 1);
    fg_err e = {0};
    assert_int_equal(fg_bench_target_from_metadata(&t, meta, sizeof meta - 1, 2, "zipf:1.1:100", 1, NULL, 0, &e), 0);
    assert_int_equal(t.n_req, 100);
    const char *r = t.req[5];
    const char *h = strstr(r, "Inference-Header-Content-Length: ");
    assert_non_null(h);
    size_t hl = strtoul(h + 33, NULL, 10), bl;
    const char *body = body_of(r, t.req_len[5], &bl);
    assert_int_equal(bl, hl + 2 * 4 * 4 + 2 * 8); /* [2,4] FP32 + [2] INT64 */
    fg_json *d;
    assert_int_equal(fg_json_parse(body, hl, &d, &e), 0);
    const fg_json *in0 = fg_json_at(fg_json_get(d, "inputs"), 0);
    assert_true(fg_json_num(fg_json_get(fg_json_get(in0, "parameters"), "binary_data_size"), 0) == 32);
    assert_null(fg_json_get(in0, "data"));
    const fg_json *o = fg_json_at(fg_json_get(d, "outputs"), 0);
    assert_string_equal(fg_json_str(fg_json_get(o, "name"), ""), "out");
    assert_true(fg_json_bool(fg_json_get(fg_json_get(o, "parameters"), "binary_data"), 0));
    fg_json_free(d);
    float f[8];
    memcpy(f, body + hl, sizeof f);
    for (int i = 0; i < 8; i++)
        assert_true(f[i] >= 0 && f[i] < 1);
    assert_non_null(t.zipf_cdf);
    assert_true(t.zipf_cdf[99] == 1.0);
    fg_bench_target_free(&t);
}

static void refusals_name_the_problem(void **state) {
    (void)state;
    fg_bench_target t;
    fg_err e = {0};
    make(&t, 0);
    const char bytes[] = "{\"inputs\":[{\"name\":\"text\",\"datatype\":\"BYTES\",\"shape\":[1]}]}";
    assert_int_equal(fg_bench_target_from_metadata(&t, bytes, sizeof bytes - 1, 1, NULL, 1, NULL, 0, &e), FG_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, "input 'text' has datatype BYTES"));
    fg_bench_target_free(&t);
    make(&t, 0);
    fg_err_clear(&e);
    assert_int_equal(fg_bench_target_from_metadata(&t, "{\"name\":\"m\"}", 12, 1, NULL, 1, NULL, 0, &e), FG_EFORMAT);
    assert_non_null(strstr(e.msg, "no \"inputs\""));
    fg_bench_target_free(&t);
    make(&t, 0);
    fg_err_clear(&e);
    assert_int_equal(fg_bench_target_from_metadata(&t, meta, sizeof meta - 1, 1, "zipf:0:10", 1, NULL, 0, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "bad --inputs 'zipf:0:10'"));
    fg_bench_target_free(&t);
    make(&t, 0);
    fg_err_clear(&e);
    assert_int_equal(fg_bench_target_from_metadata(&t, "{nope", 5, 1, NULL, 1, NULL, 0, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "model 'm' metadata: "));
    fg_bench_target_free(&t);
    double s;
    size_t n;
    assert_int_equal(fg_bench_parse_zipf("zipf:1.1:1000", &s, &n), 0);
    assert_true(s == 1.1 && n == 1000);
    assert_int_equal(fg_bench_parse_zipf("zipf:1.1:", &s, &n), FG_EINVAL);
    assert_int_equal(fg_bench_parse_zipf("zipf:1.1:0", &s, &n), FG_EINVAL);
    assert_int_equal(fg_bench_parse_zipf("zipf:-1:5", &s, &n), FG_EINVAL);
    assert_int_equal(fg_bench_parse_zipf("uniform:5", &s, &n), FG_EINVAL);
}

static void zipf_picks_follow_the_distribution(void **state) {
    (void)state;
    enum { N = 50 };
    double cdf[N];
    fg_bench_zipf_cdf(1.0, N, cdf);
    double h = 0;
    for (int i = 1; i <= N; i++)
        h += 1.0 / i;
    assert_true(fabs(cdf[0] - 1 / h) < 1e-12);
    assert_int_equal(fg_bench_zipf_pick(cdf, N, 0), 0);
    assert_int_equal(fg_bench_zipf_pick(cdf, N, cdf[0]), 1); /* the boundary belongs to the next rank */
    assert_int_equal(fg_bench_zipf_pick(cdf, N, 0.999999999999), N - 1);
    unsigned counts[N] = {0};
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        counts[fg_bench_zipf_pick(cdf, N, (double)(x >> 11) * 0x1.0p-53)]++;
    }
    for (int r = 0; r < 5; r++) { /* within 3% of 1/(r+1)/H */
        double want = 200000.0 / (r + 1) / h;
        if (fabs(counts[r] - want) > 0.03 * want)
            fail_msg("rank %d: %u picks, want about %.0f", r + 1, counts[r], want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v2_json_requests_follow_the_metadata),
        cmocka_unit_test(v2_binary_requests_carry_the_header_length),
        cmocka_unit_test(refusals_name_the_problem),
        cmocka_unit_test(zipf_picks_follow_the_distribution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
