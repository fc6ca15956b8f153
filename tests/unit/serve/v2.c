/* Tests for src/serve/v2.c: KServe v2 request decoding, validation and response/metadata encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/v2.h"

#define IN(dt, shape, data) "{\"inputs\":[{\"name\":\"x\",\"shape\":" shape ",\"datatype\":\"" dt "\",\"data\":" data "}]}"

static int decode_str(const char *json, fg_v2_request *r, fg_err *e) {
    fg_err_clear(e);
    return fg_v2_decode_request(json, strlen(json), -1, r, e);
}

/* Decodes json and expects failure with exactly msg. */
static void expect_error(const char *json, int code, const char *msg) {
    fg_v2_request r;
    fg_err e = {0};
    int rc = decode_str(json, &r, &e);
    if (rc != code || strcmp(e.msg, msg) != 0)
        fprintf(stderr, "json: %s\n got %d '%s'\nwant %d '%s'\n", json, rc, e.msg, code, msg);
    assert_int_equal(rc, code);
    assert_string_equal(e.msg, msg);
    assert_int_equal(r.n_inputs, 0);
    assert_null(r.inputs);
    fg_v2_request_free(&r);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return s;
}

static void v2_dtype_names_round_trip(void **state) {
    (void)state;
    const char *names[] = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
                           "INT32", "INT64", "FP16", "FP32", "FP64", "BF16"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        fg_dtype dt = fg_v2_dtype_parse(names[i], strlen(names[i]));
        assert_int_not_equal(dt, FG_DT_UNDEFINED);
        assert_string_equal(fg_v2_dtype_name(dt), names[i]);
        assert_int_not_equal(fg_v2_dtype_size(dt), 0);
    }
    assert_int_equal(fg_v2_dtype_parse("BYTES", 5), FG_DT_UNDEFINED);
    assert_null(fg_v2_dtype_name(FG_STRING));
}

static void v2_decodes_digits_example_exactly(void **state) {
    (void)state;
    size_t len;
    char *body = read_file(FG_SOURCE_DIR "/models/digits_mlp.json", &len);
    fg_v2_request r;
    fg_err e = {0};
    assert_int_equal(fg_v2_decode_request(body, len, -1, &r, &e), 0);
    assert_int_equal(r.n_inputs, 1);
    assert_string_equal(r.inputs[0].name, "input");
    assert_int_equal(r.inputs[0].t.dtype, FG_F32);
    assert_int_equal(r.inputs[0].t.rank, 2);
    assert_int_equal(r.inputs[0].t.dims[0], 2);
    assert_int_equal(r.inputs[0].t.dims[1], 64);
    /* every value compared with strtof over the same text */
    const char *d = strstr(body, "\"data\"");
    assert_non_null(d);
    d = strchr(d, '[') + 1;
    const float *x = r.inputs[0].t.data;
    for (int i = 0; i < 128; i++) {
        char *end;
        float want = strtof(d, &end);
        assert_true(end != d);
        assert_memory_equal(&x[i], &want, 4);
        d = end + 1;
    }
    fg_v2_request_free(&r);
    free(body);
}

/* Decode `data` as dtype with shape [n], encode it back, and compare the JSON data text. */
static void round_trip(const char *dt, const char *data, const char *want_data, int n) {
    char json[2048];
    snprintf(json, sizeof json, "{\"inputs\":[{\"name\":\"x\",\"shape\":[%d],\"datatype\":\"%s\",\"data\":%s}]}", n,
             dt, data);
    fg_v2_request r;
    fg_err e = {0};
    int rc = decode_str(json, &r, &e);
    if (rc)
        fprintf(stderr, "%s: %s\n", dt, e.msg);
    assert_int_equal(rc, 0);
    fg_v2_output o = {.name = "x", .t = &r.inputs[0].t};
    fg_v2_buf b = {0};
    size_t jl;
    assert_int_equal(fg_v2_encode_response(&b, "m", "1", NULL, &o, 1, &jl, &e), 0);
    assert_int_equal(jl, b.len);
    char want[2048];
    snprintf(want, sizeof want,
             "{\"model_name\":\"m\",\"model_version\":\"1\",\"outputs\":[{\"name\":\"x\",\"datatype\":\"%s\","
             "\"shape\":[%d],\"data\":%s}]}",
             dt, n, want_data);
    if (strlen(want) != b.len || memcmp(want, b.ptr, b.len))
        fprintf(stderr, "got  %.*s\nwant %s\n", (int)b.len, b.ptr, want);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.ptr, want, b.len);
    fg_v2_buf_free(&b);
    fg_v2_request_free(&r);
}

static void v2_round_trips_every_datatype(void **state) {
    (void)state;
    round_trip("BOOL", "[true,false,1,0]", "[true,false,true,false]", 4);
    round_trip("UINT8", "[0,255,7]", "[0,255,7]", 3);
    round_trip("UINT16", "[0,65535]", "[0,65535]", 2);
    round_trip("UINT32", "[0,4294967295]", "[0,4294967295]", 2);
    round_trip("UINT64", "[0,18446744073709551615]", "[0,18446744073709551615]", 2);
    round_trip("INT8", "[-128,127,-0]", "[-128,127,0]", 3);
    round_trip("INT16", "[-32768,32767]", "[-32768,32767]", 2);
    round_trip("INT32", "[-2147483648,2147483647]", "[-2147483648,2147483647]", 2);
    round_trip("INT64", "[-9223372036854775808,9223372036854775807]", "[-9223372036854775808,9223372036854775807]",
               2);
    round_trip("FP16", "[1.5,-2,65504,0.0001]", "[1.5,-2,65504,0.000100016594]", 4);
    round_trip("BF16", "[1.5,-2,3.0e38]", "[1.5,-2,3.00405527e+38]", 3);
    round_trip("FP32", "[0.1,-1e-45,3.4028235e38,1,2.5e-3]", "[0.100000001,-1.40129846e-45,3.40282347e+38,1,0.00249999994]",
               5);
    round_trip("FP64", "[0.1,1e308,-5e-324,12345678901234567890]",
               "[0.10000000000000001,1e+308,-4.9406564584124654e-324,1.2345678901234567e+19]", 4);
}

/* Every FP32 printed with %.9g parses back to the same bits, and the decoder reads what strtof reads. */
static void v2_fp32_text_round_trips_bits(void **state) {
    (void)state;
    srand(7);
    for (int k = 0; k < 2000; k++) {
        uint32_t bits = (uint32_t)rand() << 16 ^ (uint32_t)rand();
        float f;
        memcpy(&f, &bits, 4);
        if (!isfinite(f))
            continue;
        char json[256];
        snprintf(json, sizeof json, "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[%.9g]}]}",
                 (double)f);
        fg_v2_request r;
        fg_err e = {0};
        assert_int_equal(decode_str(json, &r, &e), 0);
        assert_memory_equal(r.inputs[0].t.data, &f, 4);
        fg_v2_request_free(&r);
    }
}

/* Short decimals (the fast path) read exactly what strtof/strtod read. */
static void v2_short_decimals_match_strtof(void **state) {
    (void)state;
    srand(11);
    char json[8192], vals[6000];
    for (int round = 0; round < 50; round++) {
        size_t k = 0;
        for (int i = 0; i < 200; i++) {
            int digs = rand() % 9, ex = rand() % 25 - 12;
            long m = rand() % 100000000;
            if (rand() % 3 == 0)
                k += (size_t)sprintf(vals + k, "%s%s%ld.%0*de%d", i ? "," : "", rand() % 2 ? "-" : "", m % 1000, digs,
                                     rand() % 1000, ex);
            else
                k += (size_t)sprintf(vals + k, "%s%s%ld.%0*d", i ? "," : "", rand() % 2 ? "-" : "", m, digs,
                                     rand() % 100000);
        }
        for (int f64 = 0; f64 < 2; f64++) {
            snprintf(json, sizeof json, IN("%s", "[200]", "[%s]"), f64 ? "FP64" : "FP32", vals);
            fg_v2_request r;
            fg_err e = {0};
            assert_int_equal(decode_str(json, &r, &e), 0);
            const char *c = vals;
            for (int i = 0; i < 200; i++) {
                char *end;
                if (f64) {
                    double w = strtod(c, &end);
                    assert_memory_equal((double *)r.inputs[0].t.data + i, &w, 8);
                } else {
                    float w = strtof(c, &end);
                    assert_memory_equal((float *)r.inputs[0].t.data + i, &w, 4);
                }
                c = end + 1;
            }
            fg_v2_request_free(&r);
        }
    }
}

static void v2_nested_and_flat_data_decode_the_same(void **state) {
    (void)state;
    fg_v2_request a, b;
    fg_err e = {0};
    assert_int_equal(
        decode_str("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"INT32\",\"data\":[1,2,3,4,5,6]}]}", &a, &e),
        0);
    assert_int_equal(decode_str("{\"inputs\":[{\"data\":[[1,2,3],[4,5,6]],\"datatype\":\"INT32\",\"shape\":[2,3],"
                                "\"name\":\"x\"}]}",
                                &b, &e),
                     0);
    assert_memory_equal(a.inputs[0].t.data, b.inputs[0].t.data, 24);
    assert_int_equal(((int32_t *)a.inputs[0].t.data)[5], 6);
    fg_v2_request_free(&a);
    fg_v2_request_free(&b);
}

static void v2_decodes_envelope_fields(void **state) {
    (void)state;
    fg_v2_request r;
    fg_err e = {0};
    const char *json = "{\"id\":\"req-\\u00e91\",\"parameters\":{\"binary_data_output\":true,\"timeout\":2500,"
                       "\"priority\":3,\"tag\":{\"a\":[1,2]}},\"inputs\":[{\"name\":\"x\",\"shape\":[1],"
                       "\"datatype\":\"FP64\",\"data\":[2.5],\"parameters\":{\"foo\":1}}],"
                       "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":false}},{\"name\":\"z\"}],"
                       "\"extra\":null}";
    assert_int_equal(decode_str(json, &r, &e), 0);
    assert_string_equal(r.id, "req-\xc3\xa9" "1");
    assert_true(r.binary_data_output);
    assert_int_equal(r.timeout_us, 2500);
    assert_int_equal(r.n_params, 2);
    assert_string_equal(r.params[0].key, "priority");
    assert_string_equal(r.params[0].raw, "3");
    assert_string_equal(r.params[1].key, "tag");
    assert_string_equal(r.params[1].raw, "{\"a\":[1,2]}");
    assert_int_equal(r.n_outputs, 2);
    assert_string_equal(r.outputs[0].name, "y");
    assert_int_equal(r.outputs[0].binary_data, 0);
    assert_string_equal(r.outputs[1].name, "z");
    assert_int_equal(r.outputs[1].binary_data, -1);
    assert_true(((double *)r.inputs[0].t.data)[0] == 2.5);
    fg_v2_request_free(&r);
    fg_v2_request_free(&r); /* twice is harmless */
}

static void v2_decodes_binary_inputs_in_order(void **state) {
    (void)state;
    const char *hdr = "{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"FP32\",\"parameters\":"
                      "{\"binary_data_size\":8}},{\"name\":\"j\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[5]},"
                      "{\"name\":\"b\",\"shape\":[3],\"datatype\":\"UINT8\",\"parameters\":{\"binary_data_size\":3}}]}";
    size_t hl = strlen(hdr);
    char body[512];
    memcpy(body, hdr, hl);
    float f[2] = {1.25f, -3.5f};
    memcpy(body + hl, f, 8);
    memcpy(body + hl + 8, "\x01\x02\x03", 3);
    fg_v2_request r;
    fg_err e = {0};
    assert_int_equal(fg_v2_decode_request(body, hl + 11, (int64_t)hl, &r, &e), 0);
    assert_int_equal(r.n_inputs, 3);
    assert_true(r.inputs[0].binary);
    assert_memory_equal(r.inputs[0].t.data, f, 8);
    assert_false(r.inputs[1].binary);
    assert_memory_equal(r.inputs[2].t.data, "\x01\x02\x03", 3);
    fg_v2_request_free(&r);

    /* short, long and missing binary sections */
    assert_int_equal(fg_v2_decode_request(body, hl + 10, (int64_t)hl, &r, &e), FG_EINVAL);
    assert_string_equal(e.msg, "input 'b': binary_data_size 3, but only 2 bytes of binary data remain");
    fg_err_clear(&e);
    assert_int_equal(fg_v2_decode_request(body, hl + 12, (int64_t)hl, &r, &e), FG_EINVAL);
    assert_string_equal(e.msg, "1 bytes of binary tensor data left unused");
    fg_err_clear(&e);
    assert_int_equal(fg_v2_decode_request(body, hl, -1, &r, &e), FG_EINVAL);
    assert_string_equal(e.msg,
                        "input 'a': binary_data_size given but the request has no Inference-Header-Content-Length");
    fg_err_clear(&e);
    assert_int_equal(fg_v2_decode_request(body, hl, (int64_t)hl + 1, &r, &e), FG_EINVAL);
    assert_string_equal(e.msg, "Inference-Header-Content-Length 226 exceeds the body's 225 bytes");
    fg_err_clear(&e);
    const char *bad = "{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"FP32\",\"parameters\":"
                      "{\"binary_data_size\":12}}]}0123456789ab";
    assert_int_equal(fg_v2_decode_request(bad, strlen(bad), (int64_t)strlen(bad) - 12, &r, &e), FG_EINVAL);
    assert_string_equal(e.msg, "input 'a': binary_data_size 12, but shape [2] of FP32 needs 8 bytes");
    fg_err_clear(&e);
    const char *badb = "{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"BOOL\",\"parameters\":"
                       "{\"binary_data_size\":2}}]}\x01\x02";
    assert_int_equal(fg_v2_decode_request(badb, strlen(badb), (int64_t)strlen(badb) - 2, &r, &e), FG_EINVAL);
    assert_string_equal(e.msg, "input 'a': BOOL byte 1 is 2, not 0 or 1");
    /* an empty tensor */
    fg_err_clear(&e);
    assert_int_equal(decode_str(IN("FP32", "[0,3]", "[]"), &r, &e), 0);
    assert_int_equal(r.inputs[0].n_bytes, 0);
    fg_v2_request_free(&r);
}

static void v2_encodes_binary_outputs_after_json(void **state) {
    (void)state;
    float y[3] = {1.5f, 2.0f, 0.1f};
    int64_t z[1] = {-7};
    fg_tensor ty = {.dtype = FG_F32, .rank = 2, .dims = {1, 3}, .data = y};
    fg_tensor tz = {.dtype = FG_I64, .rank = 1, .dims = {1}, .data = z};
    fg_v2_output o[2] = {{.name = "y", .t = &ty, .binary = true}, {.name = "z", .t = &tz}};
    fg_v2_buf b = {0};
    fg_err e = {0};
    size_t jl;
    assert_int_equal(fg_v2_encode_response(&b, "mo\"del", "1", "id\n1", o, 2, &jl, &e), 0);
    const char *want = "{\"model_name\":\"mo\\\"del\",\"model_version\":\"1\",\"id\":\"id\\u000a1\",\"outputs\":["
                       "{\"name\":\"y\",\"datatype\":\"FP32\",\"shape\":[1,3],\"parameters\":{\"binary_data_size\":12}},"
                       "{\"name\":\"z\",\"datatype\":\"INT64\",\"shape\":[1],\"data\":[-7]}]}";
    assert_int_equal(jl, strlen(want));
    assert_memory_equal(b.ptr, want, jl);
    assert_int_equal(b.len, jl + 12);
    assert_memory_equal(b.ptr + jl, y, 12);
    fg_v2_buf_free(&b);

    /* non-finite floats have no JSON form */
    float nan[2] = {NAN, -INFINITY};
    fg_tensor tn = {.dtype = FG_F32, .rank = 1, .dims = {2}, .data = nan};
    fg_v2_output on = {.name = "n", .t = &tn};
    assert_int_equal(fg_v2_encode_response(&b, "m", NULL, NULL, &on, 1, &jl, &e), 0);
    const char *w2 =
        "{\"model_name\":\"m\",\"outputs\":[{\"name\":\"n\",\"datatype\":\"FP32\",\"shape\":[2],\"data\":[null,null]}]}";
    assert_int_equal(b.len, strlen(w2));
    assert_memory_equal(b.ptr, w2, b.len);
    fg_v2_buf_free(&b);
}


static void v2_rejects_bad_requests_with_exact_messages(void **state) {
    (void)state;
    expect_error(IN("FP32", "[2,64]", "[1]"), FG_EINVAL, "input 'x': 1 values for shape [2,64]");
    expect_error(IN("FP32", "[2]", "[1,2,3]"), FG_EINVAL, "input 'x': 3 values for shape [2]");
    expect_error(IN("BYTES", "[1]", "[\"a\"]"), FG_EUNSUPPORTED, "input 'x': datatype BYTES is not supported");
    expect_error(IN("FP8", "[1]", "[1]"), FG_EINVAL, "input 'x': unknown datatype 'FP8'");
    expect_error(IN("UINT8", "[1]", "[256]"), FG_EINVAL, "input 'x': value 256 is out of range for UINT8");
    expect_error(IN("UINT8", "[1]", "[-1]"), FG_EINVAL, "input 'x': value -1 is out of range for UINT8");
    expect_error(IN("INT8", "[1]", "[-129]"), FG_EINVAL, "input 'x': value -129 is out of range for INT8");
    expect_error(IN("INT64", "[1]", "[9223372036854775808]"), FG_EINVAL,
                 "input 'x': value 9223372036854775808 is out of range for INT64");
    expect_error(IN("UINT64", "[1]", "[18446744073709551616]"), FG_EINVAL,
                 "input 'x': value 18446744073709551616 is out of range for UINT64");
    expect_error(IN("INT32", "[1]", "[1.5]"), FG_EINVAL, "input 'x': value 1.5 is not an integer, as needed for INT32");
    expect_error(IN("INT32", "[1]", "[1e2]"), FG_EINVAL, "input 'x': value 1e2 is not an integer, as needed for INT32");
    expect_error(IN("BOOL", "[1]", "[2]"), FG_EINVAL, "input 'x': value 2 is out of range for BOOL");
    expect_error(IN("FP32", "[1]", "[NaN]"), FG_EINVAL, "input 'x': NaN is not a JSON number");
    expect_error(IN("FP32", "[1]", "[Infinity]"), FG_EINVAL, "input 'x': Infinity is not a JSON number");
    expect_error(IN("FP32", "[1]", "[-Infinity]"), FG_EINVAL, "input 'x': -Infinity is not a JSON number");
    expect_error(IN("FP32", "[1]", "[1e39]"), FG_EINVAL, "input 'x': value 1e39 is out of range for FP32");
    expect_error(IN("FP64", "[1]", "[1e309]"), FG_EINVAL, "input 'x': value 1e309 is out of range for FP64");
    expect_error(IN("FP16", "[1]", "[65520]"), FG_EINVAL, "input 'x': value 65520 is out of range for FP16");
    expect_error(IN("FP32", "[1]", "[null]"), FG_EINVAL, "input 'x': expected a number for FP32 at byte 61");
    expect_error(IN("FP32", "[1]", "[\"1\"]"), FG_EINVAL, "input 'x': strings are not valid FP32 data");
    expect_error(IN("FP32", "[1]", "[01]"), FG_EINVAL, "invalid JSON at byte 62: expected ',' or ']'");
    expect_error(IN("FP32", "[1]", "[1.]"), FG_EINVAL, "invalid JSON at byte 63: expected digits after '.'");
    expect_error(IN("FP32", "[1]", "[+1]"), FG_EINVAL, "invalid JSON at byte 61: expected a number");
    expect_error(IN("FP32", "[2]", "[1,]"), FG_EINVAL, "invalid JSON at byte 63: expected a number");
    expect_error(IN("FP32", "[1]", "1"), FG_EINVAL, "input 'x': data must be an array");
    expect_error(IN("FP32", "[-1]", "[1]"), FG_EINVAL, "input 'x': shape must hold non-negative integers");
    expect_error(IN("FP32", "[1]", "[1]") "x", FG_EINVAL, "invalid JSON at byte 66: expected the end of the JSON");
    expect_error(IN("FP32", "[99999999999,99999999999]", "[1]"), FG_EINVAL,
                 "input 'x': 1 values for shape [99999999999,99999999999]");
    expect_error(IN("FP32", "[4000000000000000000,4]", "[1]"), FG_EINVAL,
                 "input 'x': 1 values for shape [4000000000000000000,4]");
    expect_error("", FG_EINVAL, "request body must be a JSON object");
    expect_error("[]", FG_EINVAL, "request body must be a JSON object");
    expect_error("{}", FG_EINVAL, "request has no inputs");
    expect_error("{\"inputs\":[]}", FG_EINVAL, "request has no inputs");
    expect_error("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"data\":[1]}]}", FG_EINVAL, "input 'x': missing 'datatype'");
    expect_error("{\"inputs\":[{\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}", FG_EINVAL,
                 "inputs[0]: missing 'name'");
    expect_error("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"data\":[1]}]}", FG_EINVAL, "input 'x': missing 'shape'");
    expect_error("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[1]}]}", FG_EINVAL, "input 'x': missing 'data'");
    expect_error("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]},"
                 "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[2]}]}",
                 FG_EINVAL, "duplicate input 'x'");
    expect_error("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],\"data\":[2]}]}",
                 FG_EINVAL, "input 'x': duplicate key 'data'");
    expect_error("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],"
                 "\"parameters\":{\"binary_data_size\":4}}]}",
                 FG_EINVAL, "input 'x': has both 'data' and parameters.binary_data_size");
    expect_error("{\"id\":5,\"inputs\":[]}", FG_EINVAL, "id must be one string");
    expect_error("{\"parameters\":{\"timeout\":-5}}", FG_EINVAL, "parameters.timeout (microseconds) out of range: -5");
    expect_error("{\"parameters\":{\"binary_data_output\":1}}", FG_EINVAL,
                 "parameters.binary_data_output must be true or false");
    expect_error("{\"outputs\":[{\"parameters\":{}}]}", FG_EINVAL, "outputs[0]: missing 'name'");
    expect_error("{\"id\":\"a\\u0000b\"}", FG_EINVAL, "invalid JSON at byte 8: expected no \\u0000 in a string");
    expect_error("{\"id\":\"\\ud800\"}", FG_EINVAL, "invalid JSON at byte 13: expected a low surrogate after a high one");
    expect_error("{\"id\":\"a\nb\"}", FG_EINVAL, "invalid JSON at byte 8: expected no control characters in a string");
    expect_error("{\"id\":\"a\xc3(\"}", FG_EINVAL, "invalid JSON at byte 8: expected valid UTF-8 in a string");
    expect_error("{\"id\":\"\xed\xa0\x80\"}", FG_EINVAL, "invalid JSON at byte 7: expected valid UTF-8 in a string");
    expect_error("{\"id\":\"\xc0\xaf\"}", FG_EINVAL, "invalid JSON at byte 7: expected valid UTF-8 in a string");
    expect_error("{\"id\":\"ab", FG_EINVAL, "invalid JSON: unexpected end of input, expected '\"' closing the string");
}

static void v2_huge_numbers_follow_strtod(void **state) {
    (void)state;
    fg_v2_request r;
    fg_err e = {0};
    assert_int_equal(decode_str(IN("FP64", "[5]",
                                   "[123456789012345678901234567890, 0.000000000000000000000000000001234,"
                                   "1e-400, -0e5, 1.7976931348623157e308]"),
                                &r, &e),
                     0);
    const double *x = r.inputs[0].t.data;
    assert_true(x[0] == 123456789012345678901234567890.0);
    assert_true(x[1] == 0.000000000000000000000000000001234);
    assert_true(x[2] == 0.0);
    assert_true(x[3] == 0.0 && signbit(x[3]));
    assert_true(x[4] == 1.7976931348623157e308);
    fg_v2_request_free(&r);
    /* a number longer than the scanner's bound is rejected, not truncated */
    char big[1200];
    char digits[700];
    memset(digits, '1', sizeof digits - 1);
    digits[sizeof digits - 1] = 0;
    snprintf(big, sizeof big, IN("FP64", "[1]", "[%s]"), digits);
    expect_error(big, FG_EINVAL, "input 'x': number of 699 characters is too long (max 511)");
}

static void v2_bounds_nesting_depth(void **state) {
    (void)state;
    char json[4096];
    int k = 0;
    k += sprintf(json, "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":");
    for (int i = 0; i < 100; i++)
        json[k++] = '[';
    json[k++] = '1';
    for (int i = 0; i < 100; i++)
        json[k++] = ']';
    strcpy(json + k, "}]}");
    expect_error(json, FG_EINVAL, "input 'x': data nested deeper than 64 levels");
    /* deep nesting in a skipped value */
    k = sprintf(json, "{\"junk\":");
    for (int i = 0; i < 100; i++)
        json[k++] = '[';
    json[k] = 0;
    expect_error(json, FG_EINVAL, "JSON nested deeper than 64 levels");
}

static void v2_validates_inputs_against_model(void **state) {
    (void)state;
    fg_tensor_info mi[2] = {{.name = "a", .dtype = FG_F32, .rank = 2, .dims = {-1, 3}},
                            {.name = "b", .dtype = FG_I64, .rank = -1}};
    fg_v2_request r;
    fg_err e = {0};
    assert_int_equal(decode_str("{\"inputs\":[{\"name\":\"a\",\"shape\":[2,3],\"datatype\":\"FP32\",\"data\":[1,2,3,4,5,6]},"
                                "{\"name\":\"b\",\"shape\":[],\"datatype\":\"INT64\",\"data\":[9]}]}",
                                &r, &e),
                     0);
    assert_int_equal(fg_v2_validate_inputs(&r, mi, 2, &e), 0);
    mi[0].dims[1] = 4;
    assert_int_equal(fg_v2_validate_inputs(&r, mi, 2, &e), FG_EINVAL);
    assert_string_equal(e.msg, "input 'a': shape [2,3], but the model expects [-1,4]");
    fg_err_clear(&e);
    mi[0].dims[1] = 3;
    mi[1].dtype = FG_I32;
    assert_int_equal(fg_v2_validate_inputs(&r, mi, 2, &e), FG_EINVAL);
    assert_string_equal(e.msg, "input 'b': datatype INT64, but the model expects INT32");
    fg_err_clear(&e);
    assert_int_equal(fg_v2_validate_inputs(&r, mi, 1, &e), FG_EINVAL);
    assert_string_equal(e.msg, "unknown input 'b'");
    fg_err_clear(&e);
    fg_tensor_info mi3[3] = {mi[0], {.name = "b", .dtype = FG_I64, .rank = -1}, {.name = "c", .dtype = FG_F32, .rank = 1}};
    assert_int_equal(fg_v2_validate_inputs(&r, mi3, 3, &e), FG_EINVAL);
    assert_string_equal(e.msg, "missing input 'c'");
    fg_v2_request_free(&r);
}

/* The printf-free float32 writer must print exactly what "%.9g" prints, for every kind of value. */
static void v2_float_writer_matches_printf(void **state) {
    (void)state;
    char got[64], want[64];
    uint32_t x = 12345u;
    const float special[] = {0.1f, 1e-5f, 1e-4f, 9.99999944e-05f, 0.0001f, 123456789.f, 1e9f, 999999999.f,
                             3.4028235e38f, 1.17549435e-38f, 1e-45f, -2.5f, 0.5f, 1.5e-7f, 16777217.f, 8.5f,
                             -0.0f, 0.3333333f, 2.71828183f, 1e10f, 9.9999999e8f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        fg_v2_test_format_f32(got, special[i]);
        snprintf(want, sizeof want, "%.9g", (double)special[i]);
        if (strcmp(got, want) != 0 && !(special[i] == (float)(int64_t)special[i] && fabsf(special[i]) < 16777216.f))
            fail_msg("%.9g: got '%s', want '%s'", (double)special[i], got, want);
    }
    for (int i = 0; i < 2000000; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        float v;
        /* half the draws: any bit pattern; half: values of the usual model output range */
        uint32_t bits = i & 1 ? x : (x & 0x807fffffu) | ((uint32_t)(120 + (x >> 23) % 16) << 23);
        memcpy(&v, &bits, 4);
        if (!isfinite(v) || (fabsf(v) < 16777216.f && v == (float)(int64_t)v))
            continue; /* integral values take the integer path */
        fg_v2_test_format_f32(got, v);
        snprintf(want, sizeof want, "%.9g", (double)v);
        if (strcmp(got, want) != 0)
            fail_msg("bits 0x%08x: got '%s', want '%s'", bits, got, want);
    }
}

static void v2_encodes_metadata(void **state) {
    (void)state;
    fg_v2_buf b = {0};
    fg_err e = {0};
    assert_int_equal(fg_v2_encode_server_metadata(&b, "0.1.0", &e), 0);
    const char *w = "{\"name\":\"frugal\",\"version\":\"0.1.0\",\"extensions\":[\"binary_tensor_data\",\"model_repository\"]}";
    assert_int_equal(b.len, strlen(w));
    assert_memory_equal(b.ptr, w, b.len);
    b.len = 0;
    fg_tensor_info in = {.name = "input", .dtype = FG_F32, .rank = 2, .dims = {-7, 64}};
    fg_tensor_info out = {.name = "logits", .dtype = FG_F32, .rank = -1};
    const char *vers[] = {"1", "2"};
    assert_int_equal(fg_v2_encode_model_metadata(&b, "digits", vers, 2, &in, 1, &out, 1, &e), 0);
    w = "{\"name\":\"digits\",\"versions\":[\"1\",\"2\"],\"platform\":\"onnx\",\"inputs\":[{\"name\":\"input\","
        "\"datatype\":\"FP32\",\"shape\":[-1,64]}],\"outputs\":[{\"name\":\"logits\",\"datatype\":\"FP32\","
        "\"shape\":[-1]}]}";
    assert_int_equal(b.len, strlen(w));
    assert_memory_equal(b.ptr, w, b.len);
    out.dtype = FG_STRING;
    assert_int_equal(fg_v2_encode_model_metadata(&b, "digits", vers, 2, &in, 1, &out, 1, &e), FG_EINVAL);
    assert_string_equal(e.msg, "output 'logits': dtype 8 has no KServe v2 datatype");
    fg_v2_buf_free(&b);
}

/* Decode speed: digits request and a 1x3x224x224 FP32 JSON body (printed, not asserted). */
static void v2_decode_speed_report(void **state) {
    (void)state;
    size_t dl;
    char *digits = read_file(FG_SOURCE_DIR "/models/digits_mlp.json", &dl);
    size_t n = 3 * 224 * 224, cap = n * 16 + 256, k = 0;
    char *big = malloc(cap);
    k += (size_t)sprintf(big, "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,3,224,224],\"datatype\":\"FP32\",\"data\":[");
    srand(1);
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(big + k, "%s%.6g", i ? "," : "", (double)((float)rand() / (float)RAND_MAX * 4.0f - 2.0f));
    k += (size_t)sprintf(big + k, "]}]}");
    const struct {
        const char *name;
        const char *body;
        size_t len;
        int reps;
    } cases[] = {{"digits", digits, dl, 20000}, {"resnet18 1x3x224x224", big, k, 20}};
    for (int c = 0; c < 2; c++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < cases[c].reps; i++) {
            fg_v2_request r;
            fg_err e = {0};
            assert_int_equal(fg_v2_decode_request(cases[c].body, cases[c].len, -1, &r, &e), 0);
            fg_v2_request_free(&r);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / cases[c].reps;
        printf("decode %s: %zu bytes, %.1f us, %.0f MB/s\n", cases[c].name, cases[c].len, us,
               (double)cases[c].len / us);
    }
    free(big);
    free(digits);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v2_dtype_names_round_trip),
        cmocka_unit_test(v2_decodes_digits_example_exactly),
        cmocka_unit_test(v2_round_trips_every_datatype),
        cmocka_unit_test(v2_fp32_text_round_trips_bits),
        cmocka_unit_test(v2_short_decimals_match_strtof),
        cmocka_unit_test(v2_nested_and_flat_data_decode_the_same),
        cmocka_unit_test(v2_decodes_envelope_fields),
        cmocka_unit_test(v2_decodes_binary_inputs_in_order),
        cmocka_unit_test(v2_encodes_binary_outputs_after_json),
        cmocka_unit_test(v2_rejects_bad_requests_with_exact_messages),
        cmocka_unit_test(v2_huge_numbers_follow_strtod),
        cmocka_unit_test(v2_bounds_nesting_depth),
        cmocka_unit_test(v2_validates_inputs_against_model),
        cmocka_unit_test(v2_float_writer_matches_printf),
        cmocka_unit_test(v2_encodes_metadata),
        cmocka_unit_test(v2_decode_speed_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
