/* Tests for src/engine/tensor.c: dtype facts and the .npy / TensorProto readers and writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

#include "test_util.h"

static char tmp_path[64];

static void dtype_sizes_and_names(void **st) {
    (void)st;
    assert_int_equal(fg_dtype_size(FG_F32), 4);
    assert_int_equal(fg_dtype_size(FG_I64), 8);
    assert_int_equal(fg_dtype_size(FG_BOOL), 1);
    assert_int_equal(fg_dtype_size(FG_BF16), 2);
    assert_int_equal(fg_dtype_size(FG_STRING), 0);
    assert_string_equal(fg_dtype_name(FG_I32), "int32");
    fg_tensor t = {.rank = 3, .dims = {2, 3, 4}};
    char buf[32];
    assert_string_equal(fg_shape_str(&t, buf, sizeof buf), "[2,3,4]");
    assert_int_equal(fg_tensor_numel(&t), 24);
    t.rank = 0;
    assert_int_equal(fg_tensor_numel(&t), 1);
}

static void npy_round_trip_keeps_dtype_shape_and_bytes(void **st) {
    (void)st;
    int64_t v[6] = {1, -2, 3, -4, 5, INT64_MAX};
    fg_tensor t = {.dtype = FG_I64, .rank = 2, .dims = {2, 3}, .data = v}, r;
    fg_err e = {0};
    snprintf(tmp_path, sizeof tmp_path, "/tmp/fg_tensor_test_%d.npy", (int)getpid());
    assert_int_equal(fg_tensor_write_npy(tmp_path, &t, &e), 0);
    assert_int_equal(fg_tensor_read_file(tmp_path, &r, &e), 0);
    assert_int_equal(r.dtype, FG_I64);
    assert_int_equal(r.rank, 2);
    assert_int_equal(r.dims[1], 3);
    assert_memory_equal(r.data, v, sizeof v);
    free(r.data);
    unlink(tmp_path);
}

static void pb_round_trip_keeps_name_dtype_shape_and_bytes(void **st) {
    (void)st;
    float v[4] = {0.5f, -1.f, 3.25f, 1e-8f};
    fg_tensor t = {.dtype = FG_F32, .rank = 1, .dims = {4}, .data = v}, r;
    fg_err e = {0};
    snprintf(tmp_path, sizeof tmp_path, "/tmp/fg_tensor_test_%d.pb", (int)getpid());
    assert_int_equal(fg_tensor_write_pb(tmp_path, &t, "logits", &e), 0);
    void *buf;
    size_t len;
    assert_int_equal(fg_read_file(tmp_path, &buf, &len, &e), 0);
    char *name = NULL;
    assert_int_equal(fg_tensor_parse_pb(buf, len, &r, &name, &e), 0);
    assert_string_equal(name, "logits");
    assert_int_equal(r.dtype, FG_F32);
    assert_int_equal(r.dims[0], 4);
    assert_memory_equal(r.data, v, sizeof v);
    free(r.data);
    free(name);
    free(buf);
    unlink(tmp_path);
}

static void npy_reader_rejects_bad_files(void **st) {
    (void)st;
    fg_err e = {0};
    fg_tensor t;
    assert_int_equal(fg_tensor_parse_npy("hello", 5, &t, &e), FG_EFORMAT);
    fg_err_clear(&e);
    /* header promises 4 float32 values, payload has 2 */
    char b[128] = "\x93NUMPY\x01\x00";
    const char *h = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";
    size_t hl = strlen(h);
    b[8] = (char)hl;
    b[9] = 0;
    memcpy(b + 10, h, hl);
    assert_int_equal(fg_tensor_parse_npy(b, 10 + hl + 8, &t, &e), FG_EFORMAT);
    assert_non_null(strstr(e.msg, "payload"));
    fg_err_clear(&e);
    memcpy(b + 10, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", hl);
    assert_int_equal(fg_tensor_parse_npy(b, 10 + hl + 8, &t, &e), FG_EUNSUPPORTED);
}

static void pb_reader_rejects_payload_that_does_not_fit_dims(void **st) {
    (void)st;
    /* dims [1000000000, 1000] with 8 raw bytes: must fail before allocating anything large */
    Onnx__TensorProto p = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[2] = {1000000000, 1000};
    uint8_t raw[8] = {0};
    p.n_dims = 2;
    p.dims = dims;
    p.has_data_type = 1;
    p.data_type = FG_F32;
    p.has_raw_data = 1;
    p.raw_data.len = 8;
    p.raw_data.data = raw;
    fg_tensor t;
    fg_err e = {0};
    assert_int_equal(fg_tensor_from_proto(&p, &t, &e), FG_EFORMAT);
    assert_non_null(strstr(e.msg, "data bytes"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dtype_sizes_and_names),
        cmocka_unit_test(npy_round_trip_keeps_dtype_shape_and_bytes),
        cmocka_unit_test(pb_round_trip_keeps_name_dtype_shape_and_bytes),
        cmocka_unit_test(npy_reader_rejects_bad_files),
        cmocka_unit_test(pb_reader_rejects_payload_that_does_not_fit_dims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
