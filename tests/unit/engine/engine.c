/* Tests for src/engine/engine.c: the public API on real models (the committed digits models and
 * ONNX's test data): correct results, plan caching, clear errors for every kind of bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "test_util.h"

static fg_model *load_ok(const char *path) {
    fg_err e = {0};
    fg_model *m = fg_model_load(path, NULL, &e);
    if (!m)
        fail_msg("%s", e.msg);
    return m;
}

static void check_digits(const char *model, const char *x_path, const char *expected, int min_correct) {
    fg_model *m = load_ok(model);
    fg_err e = {0};
    fg_session_opts so = {.n_threads = 2};
    fg_session *s = fg_session_new(m, &so, &e);
    assert_non_null(s);
    fg_tensor x = tu_read(x_path), want = tu_read(expected), y = tu_read(MODELS "/digits_test_y.npy");
    fg_tensor out;
    assert_int_equal(fg_session_run(s, &x, 1, &out, 1, &e), 0);
    assert_int_equal(out.dtype, FG_F32);
    assert_int_equal(out.rank, 2);
    assert_int_equal(out.dims[0], 360);
    assert_int_equal(out.dims[1], 10);
    const float *o = out.data, *w = want.data;
    int correct = 0;
    for (int i = 0; i < 360; i++) {
        int am = 0;
        for (int k = 0; k < 10; k++) {
            assert_true(fabsf(o[i * 10 + k] - w[i * 10 + k]) <= 1e-4f + 1e-4f * fabsf(w[i * 10 + k]));
            if (o[i * 10 + k] > o[i * 10 + am])
                am = k;
        }
        correct += am == ((int64_t *)y.data)[i];
    }
    assert_true(correct >= min_correct);
    free(x.data);
    free(want.data);
    free(y.data);
    fg_session_free(s);
    fg_model_free(m);
}

static void digits_mlp_matches_torch_logits(void **st) {
    (void)st;
    check_digits(MODELS "/digits_mlp.onnx", MODELS "/digits_test_x.npy", MODELS "/digits_expected_mlp.npy", 352);
}

static void digits_cnn_matches_torch_logits(void **st) {
    (void)st;
    check_digits(MODELS "/digits_cnn.onnx", MODELS "/digits_test_x_img.npy", MODELS "/digits_expected_cnn.npy", 355);
}

static void batchnorm_is_folded_into_conv_at_load(void **st) {
    (void)st;
    fg_model *m = load_ok(MODELS "/digits_cnn.onnx");
    size_t loaded, opt;
    fg_model_node_counts(m, &loaded, &opt);
    assert_int_equal(loaded, 9);
    assert_true(opt <= 7); /* both BatchNormalization nodes are gone (and more may be fused) */
    fg_model_opts no = {.no_optimize = 1};
    fg_err e = {0};
    fg_model *m2 = fg_model_load(MODELS "/digits_cnn.onnx", &no, &e);
    assert_non_null(m2);
    fg_model_node_counts(m2, &loaded, &opt);
    assert_int_equal(opt, 9);
    fg_model_free(m2);
    fg_model_free(m);
}

static void model_describes_inputs_and_outputs(void **st) {
    (void)st;
    fg_model *m = load_ok(MODELS "/digits_cnn.onnx");
    assert_int_equal(fg_model_n_inputs(m), 1);
    assert_int_equal(fg_model_n_outputs(m), 1);
    const fg_tensor_info *in = fg_model_input(m, 0);
    assert_string_equal(in->name, "input");
    assert_int_equal(in->dtype, FG_F32);
    assert_int_equal(in->rank, 4);
    assert_true(in->dims[0] < 0);
    assert_int_equal(in->dims[1], 1);
    assert_int_equal(in->dims[2], 8);
    assert_string_equal(fg_model_output(m, 0)->name, "logits");
    assert_int_equal(fg_model_opset(m), 13);
    assert_null(fg_model_input(m, 1));
    fg_model_free(m);
}

static void plans_are_cached_per_input_shape(void **st) {
    (void)st;
    fg_model *m = load_ok(MODELS "/digits_mlp.onnx");
    fg_err e = {0};
    fg_session_opts so = {.n_threads = 1, .max_plans = 2};
    fg_session *s = fg_session_new(m, &so, &e);
    float x[64 * 8] = {0};
    fg_tensor in = {.dtype = FG_F32, .rank = 2, .dims = {1, 64}, .data = x}, out;
    assert_int_equal(fg_session_run(s, &in, 1, &out, 1, &e), 0);
    assert_int_equal(fg_session_run(s, &in, 1, &out, 1, &e), 0);
    assert_int_equal(fg_session_n_plans(s), 1);
    in.dims[0] = 8;
    assert_int_equal(fg_session_run(s, &in, 1, &out, 1, &e), 0);
    assert_int_equal(out.dims[0], 8);
    assert_int_equal(fg_session_n_plans(s), 2);
    in.dims[0] = 3;
    assert_int_equal(fg_session_run(s, &in, 1, &out, 1, &e), 0);
    assert_int_equal(fg_session_n_plans(s), 2); /* capped: the least recently used plan went */
    fg_session_free(s);
    fg_model_free(m);
}

static void buffers_are_reused_across_layers(void **st) {
    (void)st;
    fg_model *m = load_ok(MODELS "/digits_cnn.onnx");
    fg_err e = {0};
    fg_session *s = fg_session_new(m, NULL, &e);
    static float x[32 * 64];
    fg_tensor in = {.dtype = FG_F32, .rank = 4, .dims = {32, 1, 8, 8}, .data = x}, out;
    assert_int_equal(fg_session_run(s, &in, 1, &out, 1, &e), 0);
    size_t arena, unshared;
    fg_session_memory(s, &arena, &unshared);
    assert_true(arena > 0);
    assert_true(arena < unshared);
    fg_session_free(s);
    fg_model_free(m);
}

static void run_names_input_on_dtype_mismatch(void **st) {
    (void)st;
    fg_model *m = load_ok(MODELS "/digits_mlp.onnx");
    fg_err e = {0};
    fg_session *s = fg_session_new(m, NULL, &e);
    int64_t x[64] = {0};
    fg_tensor in = {.dtype = FG_I64, .rank = 2, .dims = {1, 64}, .data = x}, out;
    assert_int_equal(fg_session_run(s, &in, 1, &out, 1, &e), FG_EDTYPE);
    assert_non_null(strstr(e.msg, "input 'input' is int64, the model expects float32"));
    fg_session_free(s);
    fg_model_free(m);
}

static void run_names_dimension_on_shape_mismatch(void **st) {
    (void)st;
    fg_model *m = load_ok(MODELS "/digits_mlp.onnx");
    fg_err e = {0};
    fg_session *s = fg_session_new(m, NULL, &e);
    float x[63] = {0};
    fg_tensor in = {.dtype = FG_F32, .rank = 2, .dims = {1, 63}, .data = x}, out;
    assert_int_equal(fg_session_run(s, &in, 1, &out, 1, &e), FG_ESHAPE);
    assert_non_null(strstr(e.msg, "input 'input' has shape [1,63]"));
    assert_non_null(strstr(e.msg, "dim 1 must be 64"));
    fg_err_clear(&e);
    in.rank = 1;
    assert_int_equal(fg_session_run(s, &in, 1, &out, 1, &e), FG_ESHAPE);
    assert_non_null(strstr(e.msg, "rank 2"));
    fg_session_free(s);
    fg_model_free(m);
}

static void run_rejects_missing_input(void **st) {
    (void)st;
    fg_model *m = load_ok(MODELS "/digits_mlp.onnx");
    fg_err e = {0};
    fg_session *s = fg_session_new(m, NULL, &e);
    fg_tensor out;
    assert_int_equal(fg_session_run(s, NULL, 0, &out, 1, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "the model has 1 inputs, 0 given"));
    fg_session_free(s);
    fg_model_free(m);
}

static void load_rejects_truncated_and_corrupt_files(void **st) {
    (void)st;
    fg_err e = {0};
    void *buf;
    size_t len;
    assert_int_equal(fg_read_file(MODELS "/digits_cnn.onnx", &buf, &len, &e), 0);
    size_t cuts[] = {0, 1, 7, 100, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        fg_err_clear(&e);
        fg_model *m = fg_model_load_buffer(buf, cuts[i], NULL, &e);
        assert_null(m);
        assert_int_equal(e.code, FG_EFORMAT);
        assert_true(strlen(e.msg) > 0);
    }
    unsigned char *bad = malloc(len);
    memcpy(bad, buf, len);
    for (size_t i = 0; i < len; i += 97)
        bad[i] ^= 0x5a;
    fg_err_clear(&e);
    fg_model *m = fg_model_load_buffer(bad, len, NULL, &e);
    assert_null(m);
    assert_true(e.code < 0);
    free(bad);
    free(buf);
    fg_err_clear(&e);
    assert_null(fg_model_load("/nonexistent/model.onnx", NULL, &e));
    assert_int_equal(e.code, FG_EIO);
    assert_non_null(strstr(e.msg, "/nonexistent/model.onnx"));
}

static void load_lists_every_unsupported_op_once(void **st) {
    (void)st;
    const char *const nodes[][3] = {{"FancyOp", "x", "a"}, {"Relu", "a", "b"}, {"OtherOp", "b", "c"}, {"FancyOp", "c", "y"}};
    size_t len;
    void *buf = tu_make_model(nodes, 4, "x", "y", &len);
    fg_err e = {0};
    assert_null(fg_model_load_buffer(buf, len, NULL, &e));
    assert_int_equal(e.code, FG_EUNSUPPORTED);
    assert_string_equal(e.msg, "unsupported op: FancyOp, OtherOp");
    free(buf);
}

static void load_rejects_dangling_node_input(void **st) {
    (void)st;
    const char *const nodes[][3] = {{"Relu", "nowhere", "y"}};
    size_t len;
    void *buf = tu_make_model(nodes, 1, "x", "y", &len);
    fg_err e = {0};
    assert_null(fg_model_load_buffer(buf, len, NULL, &e));
    assert_int_equal(e.code, FG_EFORMAT);
    assert_non_null(strstr(e.msg, "'nowhere'"));
    free(buf);
}

static void shape_from_input_values_keys_the_plan(void **st) {
    (void)st;
    /* Reshape whose target shape is a graph input: plans must follow the shape's value */
    fg_model *m = load_ok(NODE_TESTS "/test_reshape_reordered_all_dims/model.onnx");
    fg_err e = {0};
    fg_session *s = fg_session_new(m, NULL, &e);
    float x[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;
    int64_t shp[3] = {4, 2, 3};
    fg_tensor in[2] = {{.dtype = FG_F32, .rank = 3, .dims = {2, 3, 4}, .data = x},
                       {.dtype = FG_I64, .rank = 1, .dims = {3}, .data = shp}};
    fg_tensor out;
    if (fg_session_run(s, in, 2, &out, 1, &e) < 0)
        fail_msg("%s", e.msg);
    assert_int_equal(out.dims[0], 4);
    assert_int_equal(out.dims[2], 3);
    shp[0] = 3;
    shp[1] = 4;
    shp[2] = 2;
    assert_int_equal(fg_session_run(s, in, 2, &out, 1, &e), 0);
    assert_int_equal(out.dims[0], 3);
    assert_int_equal(out.dims[1], 4);
    assert_int_equal(out.dims[2], 2);
    assert_int_equal(((float *)out.data)[23], 23.0f);
    fg_session_free(s);
    fg_model_free(m);
}

/* A fuzzer-found model whose Concat 'axis' attribute lacks its type field: shape inference read the
 * value (0) while the kernel's typed read fell back to the default (1), and the copy overran. The loader
 * now takes the type from the value that is set. */
static void regression_concat_axis_without_attribute_type(void **st) {
    (void)st;
    fg_model *m = load_ok(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_concat_untyped_axis.onnx");
    fg_err e = {0};
    fg_session *s = fg_session_new(m, NULL, &e);
    float a[8], b[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (float)i;
        b[i] = (float)(100 + i);
    }
    fg_tensor in[2] = {{.dtype = FG_F32, .rank = 3, .dims = {2, 2, 2}, .data = a},
                       {.dtype = FG_F32, .rank = 3, .dims = {2, 2, 2}, .data = b}};
    fg_tensor out;
    if (fg_session_run(s, in, 2, &out, 1, &e) < 0)
        fail_msg("%s", e.msg);
    assert_int_equal(out.dims[0], 4);
    assert_int_equal(out.dims[1], 2);
    assert_true(((float *)out.data)[8] == 100.f);
    fg_session_free(s);
    fg_model_free(m);
}

/* A fuzzer-found ReduceMean whose data input name is empty (read as an absent optional input): the
 * kernel dereferenced it. The loader now rejects nodes missing inputs their op requires. */
static void regression_required_input_missing_is_a_load_error(void **st) {
    (void)st;
    fg_err e = {0};
    assert_null(fg_model_load(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_reduce_missing_input.onnx", NULL, &e));
    assert_int_equal(e.code, FG_EFORMAT);
    assert_non_null(strstr(e.msg, "ReduceMean node: input 0 is required"));
}

/* A fuzzer-found ReduceLogSum whose 'axes' attribute is typed STRING with no value: protobuf-c leaves the
 * empty bytes field NULL and the loader's string copy passed it to memcpy (undefined behaviour). The
 * model loads; a string 'axes' is not the ints the kernel reads, so it reduces over all axes. */
static void regression_empty_string_attribute_loads(void **st) {
    (void)st;
    fg_model *m = load_ok(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_empty_string_attribute.onnx");
    fg_err e = {0};
    fg_session *s = fg_session_new(m, NULL, &e);
    float x[7 * 4 * 5];
    for (int i = 0; i < 7 * 4 * 5; i++)
        x[i] = 1.f;
    fg_tensor in = {.dtype = FG_F32, .rank = 3, .dims = {7, 4, 5}, .data = x};
    fg_tensor out;
    if (fg_session_run(s, &in, 1, &out, 1, &e) < 0)
        fail_msg("%s", e.msg);
    assert_int_equal(out.rank, 3);
    assert_int_equal(fg_tensor_numel(&out), 1);
    assert_float_equal(((float *)out.data)[0], logf(140.f), 1e-5);
    fg_session_free(s);
    fg_model_free(m);
}

/* Runs the one-input model at path on zeros of shape dims and returns the error code, leaving the message in *e. */
static int run_zeros(const char *path, int rank, const int64_t *dims, fg_err *e) {
    fg_model *m = load_ok(path);
    fg_session *s = fg_session_new(m, NULL, e);
    assert_non_null(s);
    float x[64] = {0};
    fg_tensor in = {.dtype = FG_F32, .rank = rank, .data = x}, out;
    for (int i = 0; i < rank; i++)
        in.dims[i] = dims[i];
    assert_true(fg_tensor_numel(&in) <= 64);
    int rc = fg_session_run(s, &in, 1, &out, 1, e);
    fg_session_free(s);
    fg_model_free(m);
    return rc;
}

/* A fuzzer-found Constant node in a non-default domain: it was neither listed as unsupported nor turned
 * into a value, so the planner called the kernel of a node that has none (NULL op). */
static void regression_foreign_domain_constant_is_unsupported(void **st) {
    (void)st;
    fg_err e = {0};
    assert_null(
        fg_model_load(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_foreign_domain_constant.onnx", NULL, &e));
    assert_int_equal(e.code, FG_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, ": unsupported op: com.example.Constant"));
}

/* A fuzzer-found cubic Resize with scale 1.8e20: the output size was converted from double to int64
 * out of range (undefined behaviour) before the planner's size limit could see it. */
static void regression_resize_scale_overflow(void **st) {
    (void)st;
    fg_err e = {0};
    assert_int_equal(run_zeros(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_resize_scale_overflow.onnx", 4,
                               (int64_t[]){1, 1, 4, 4}, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "scale 1.84468e+20 on axis 1 gives an output size of 1.84468e+20"));
}

/* A fuzzer-found Split whose sizes 8.1e18 + 7.2e18 overflowed int64 while being summed. */
static void regression_split_sizes_overflow(void **st) {
    (void)st;
    fg_err e = {0};
    assert_int_equal(run_zeros(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_split_sizes_overflow.onnx", 1,
                               (int64_t[]){0}, &e), FG_ESHAPE);
    assert_non_null(strstr(e.msg, "split sums to more than the size 0 of axis 0"));
}

/* A fuzzer-found Reshape of [2,3,4] to [2, 8.2e18, 117]: the product of the target dims overflowed (and
 * could wrap to the input's count, accepting a bogus shape). */
static void regression_reshape_shape_overflow(void **st) {
    (void)st;
    fg_err e = {0};
    assert_int_equal(run_zeros(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_reshape_shape_overflow.onnx", 3,
                               (int64_t[]){2, 3, 4}, &e), FG_ESHAPE);
    assert_non_null(strstr(e.msg, "cannot reshape [2,3,4] to [2,8174999064253825023,117]"));
}

/* A fuzzer-found Resize to sizes [2^32,1,0,40]: the output is empty, so within the size limit, but the
 * kernel's index tables along the other axes asked for 16 GiB (and [2e8,0,46,3] looped for minutes).
 * The planner bounds an empty output's dims as if its zero dims were 1. */
static void regression_empty_output_with_huge_dims(void **st) {
    (void)st;
    fg_err e = {0};
    assert_int_equal(run_zeros(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_resize_empty_huge_output.onnx", 4,
                               (int64_t[]){1, 1, 4, 4}, &e), FG_ENOMEM);
    assert_non_null(strstr(e.msg, "output 0 is empty but its shape [4294967296,1,0,40] exceeds the limit"));
}

/* A MatMul in the model file carrying the engine's internal _fg_bias attribute with a [1] bias for 1024
 * columns (found by a crafted model while fuzzing): the fused post-op added 1024 bias values per row,
 * reading past the tensor. The kernel now checks the bias is one row of the result. */
static void regression_model_sets_fused_bias_attribute(void **st) {
    (void)st;
    fg_err e = {0};
    assert_null(fg_model_load(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_matmul_model_sets_fused_bias.onnx",
                              NULL, &e));
    assert_int_equal(e.code, FG_EFORMAT);
    assert_non_null(strstr(e.msg, "attribute '_fg_bias' is reserved"));
}

/* A fuzzer-found tf_crop_and_resize Resize with a NaN in roi: the sampling coordinate was NaN and its
 * conversion to an index undefined. A non-finite roi is now an error; a finite but huge one (+-1e30) only
 * samples outside the input, which takes the extrapolation value, so the coordinate is clamped. */
static void regression_resize_roi_not_finite_or_huge(void **st) {
    (void)st;
    fg_err e = {0};
    assert_int_equal(run_zeros(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_resize_roi_nan.onnx", 4,
                               (int64_t[]){1, 1, 4, 4}, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "roi of axis 1 is not finite"));
    if (run_zeros(FG_SOURCE_DIR "/tests/fuzz/corpus/onnx_load/regress_resize_roi_huge.onnx", 4,
                  (int64_t[]){1, 1, 4, 4}, &e) < 0)
        fail_msg("%s", e.msg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digits_mlp_matches_torch_logits),
        cmocka_unit_test(digits_cnn_matches_torch_logits),
        cmocka_unit_test(batchnorm_is_folded_into_conv_at_load),
        cmocka_unit_test(model_describes_inputs_and_outputs),
        cmocka_unit_test(plans_are_cached_per_input_shape),
        cmocka_unit_test(buffers_are_reused_across_layers),
        cmocka_unit_test(run_names_input_on_dtype_mismatch),
        cmocka_unit_test(run_names_dimension_on_shape_mismatch),
        cmocka_unit_test(run_rejects_missing_input),
        cmocka_unit_test(load_rejects_truncated_and_corrupt_files),
        cmocka_unit_test(load_lists_every_unsupported_op_once),
        cmocka_unit_test(load_rejects_dangling_node_input),
        cmocka_unit_test(shape_from_input_values_keys_the_plan),
        cmocka_unit_test(regression_concat_axis_without_attribute_type),
        cmocka_unit_test(regression_required_input_missing_is_a_load_error),
        cmocka_unit_test(regression_empty_string_attribute_loads),
        cmocka_unit_test(regression_foreign_domain_constant_is_unsupported),
        cmocka_unit_test(regression_resize_scale_overflow),
        cmocka_unit_test(regression_split_sizes_overflow),
        cmocka_unit_test(regression_reshape_shape_overflow),
        cmocka_unit_test(regression_empty_output_with_huge_dims),
        cmocka_unit_test(regression_model_sets_fused_bias_attribute),
        cmocka_unit_test(regression_resize_roi_not_finite_or_huge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
