/* Tests for src/engine/ops/shape.c: kernels are called directly through their fg_op_def (infer,
 * prepare, run, release) and compared with naive index arithmetic, across element sizes (the kernels
 * move raw bytes), the blocked-transpose and threaded paths, and the error codes of bad inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/ops/ops.h"
#include "op_harness.h"

/* ---- harness ---- */

/* Outputs' data are malloc'd on success (free with free_outs); *need_value receives the kernel's
 * request, if any (run_kernel). Errors are not printed: these tests provoke many on purpose. */
static int run_op(const char *op, int opset, fg_attr *attrs, int n_attrs, fg_tensor **in, int n_in, fg_tensor *out,
                  int n_out, int nt, int *need_value) {
    return run_kernel(op, opset, attrs, n_attrs, in, n_in, out, n_out,
                      &(kernel_env){.n_threads = nt, .need_value = need_value, .err = &(fg_err){0}});
}

/* Bytes whose value encodes their position, so any misplaced element shows. */
static void *pattern(int64_t n_bytes) {
    unsigned char *p = malloc((size_t)n_bytes + 1);
    for (int64_t i = 0; i < n_bytes; i++)
        p[i] = (unsigned char)(i * 131 + (i >> 8) * 7 + 3);
    return p;
}

static void assert_shape(const fg_tensor *t, int rank, const int64_t *dims) {
    assert_int_equal(t->rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(t->dims[i], dims[i]);
}

/* ---- Transpose ---- */

static void check_transpose(int rank, const int64_t *dims, int64_t *perm, fg_dtype dt, int nt) {
    size_t es = fg_dtype_size(dt);
    fg_tensor x = tens(dt, rank, dims, NULL);
    int64_t n = fg_tensor_numel(&x);
    x.data = pattern(n * (int64_t)es);
    fg_attr at[] = {ais("perm", perm, (size_t)rank)};
    fg_tensor *in[] = {&x}, y;
    assert_int_equal(run_op("Transpose", 13, at, 1, in, 1, &y, 1, nt, NULL), 0);
    int64_t st[FG_MAX_RANK], idx[FG_MAX_RANK] = {0};
    fg_strides(&x, st);
    for (int64_t i = 0; i < n; i++) {
        int64_t off = 0;
        for (int d = 0; d < rank; d++)
            off += idx[d] * st[perm[d]];
        assert_memory_equal((char *)y.data + i * (int64_t)es, (char *)x.data + off * (int64_t)es, es);
        for (int d = rank - 1; d >= 0; d--) {
            if (++idx[d] < y.dims[d])
                break;
            idx[d] = 0;
        }
    }
    free(x.data);
    free_outs(&y, 1);
}

static void transpose_matches_naive_for_every_element_size(void **state) {
    (void)state;
    static const fg_dtype dts[] = {FG_U8, FG_F16, FG_F32, FG_I64};
    struct {
        int rank;
        int64_t dims[4], perm[4];
    } cs[] = {
        {2, {300, 257}, {1, 0}},          /* staged square tiles with ragged edges */
        {3, {3, 64, 70}, {0, 2, 1}},      /* batched */
        {4, {2, 5, 7, 3}, {3, 1, 0, 2}},  /* general */
        {4, {1, 3, 90, 70}, {0, 2, 3, 1}}, /* NCHW -> NHWC, 3 channels: short tiles */
        {4, {1, 90, 70, 3}, {0, 3, 1, 2}}, /* NHWC -> NCHW */
        {4, {2, 4, 33, 16}, {0, 2, 1, 3}}, /* contiguous inner runs */
        {3, {4, 1, 5}, {1, 2, 0}},         /* unit dims */
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++)
        for (size_t t = 0; t < 4; t++)
            for (int nt = 1; nt <= 4; nt += 3)
                check_transpose(cs[k].rank, cs[k].dims, cs[k].perm, dts[t], nt);
}

static void transpose_defaults_to_reversed_axes(void **state) {
    (void)state;
    float v[6] = {0, 1, 2, 3, 4, 5};
    fg_tensor x = tens(FG_F32, 2, (int64_t[]){2, 3}, v), *in[] = {&x}, y;
    assert_int_equal(run_op("Transpose", 13, NULL, 0, in, 1, &y, 1, 1, NULL), 0);
    assert_shape(&y, 2, (int64_t[]){3, 2});
    const float want[6] = {0, 3, 1, 4, 2, 5};
    assert_memory_equal(y.data, want, sizeof want);
    free_outs(&y, 1);
}

static void transpose_rejects_bad_perm(void **state) {
    (void)state;
    float v[6] = {0};
    int64_t p[] = {0, 0};
    fg_attr at[] = {ais("perm", p, 2)};
    fg_tensor x = tens(FG_F32, 2, (int64_t[]){2, 3}, v), *in[] = {&x}, y;
    assert_int_equal(run_op("Transpose", 13, at, 1, in, 1, &y, 1, 1, NULL), FG_EINVAL);
}

/* ---- Slice ---- */

static void slice_walks_backwards_and_clamps_extreme_ends(void **state) {
    (void)state;
    float v[200];
    for (int i = 0; i < 200; i++)
        v[i] = (float)i;
    int64_t s[] = {-1, 2}, e[] = {INT64_MIN, INT64_MAX}, a[] = {0, -1}, k[] = {-3, 5};
    fg_tensor x = tens(FG_F32, 2, (int64_t[]){10, 20}, v), ts = tens(FG_I64, 1, (int64_t[]){2}, s),
              te = tens(FG_I64, 1, (int64_t[]){2}, e), ta = tens(FG_I64, 1, (int64_t[]){2}, a),
              tk = tens(FG_I64, 1, (int64_t[]){2}, k), *in[] = {&x, &ts, &te, &ta, &tk}, y;
    assert_int_equal(run_op("Slice", 13, NULL, 0, in, 5, &y, 1, 1, NULL), 0);
    assert_shape(&y, 2, (int64_t[]){4, 4});
    const int rows[] = {9, 6, 3, 0}, cols[] = {2, 7, 12, 17};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            assert_true(((float *)y.data)[i * 4 + j] == (float)(rows[i] * 20 + cols[j]));
    free_outs(&y, 1);
}

static void slice_before_opset_10_reads_attributes(void **state) {
    (void)state;
    int32_t v[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    int64_t s[] = {-4}, e[] = {1000};
    fg_attr at[] = {ais("starts", s, 1), ais("ends", e, 1)};
    fg_tensor x = tens(FG_I32, 1, (int64_t[]){10}, v), *in[] = {&x}, y;
    assert_int_equal(run_op("Slice", 1, at, 2, in, 1, &y, 1, 1, NULL), 0);
    const int32_t want[] = {6, 7, 8, 9};
    assert_shape(&y, 1, (int64_t[]){4});
    assert_memory_equal(y.data, want, sizeof want);
    free_outs(&y, 1);
}

static void slice_rejects_zero_step(void **state) {
    (void)state;
    float v[4] = {0};
    int64_t s[] = {0}, e[] = {4}, a[] = {0}, k[] = {0};
    fg_tensor x = tens(FG_F32, 1, (int64_t[]){4}, v), ts = tens(FG_I64, 1, (int64_t[]){1}, s),
              te = tens(FG_I64, 1, (int64_t[]){1}, e), ta = tens(FG_I64, 1, (int64_t[]){1}, a),
              tk = tens(FG_I64, 1, (int64_t[]){1}, k), *in[] = {&x, &ts, &te, &ta, &tk}, y;
    assert_int_equal(run_op("Slice", 13, NULL, 0, in, 5, &y, 1, 1, NULL), FG_EINVAL);
}

/* ---- Reshape family ---- */

static void reshape_asks_for_a_shape_unknown_at_plan_time(void **state) {
    (void)state;
    fg_tensor x = tens(FG_F32, 2, (int64_t[]){4, 6}, NULL), sh = tens(FG_I64, 1, (int64_t[]){2}, NULL),
              *in[] = {&x, &sh}, y;
    int need = -1;
    assert_int_equal(run_op("Reshape", 13, NULL, 0, in, 2, &y, 1, 1, &need), FG_ENEEDVALUE);
    assert_int_equal(need, 1);
}

static void reshape_copies_zeros_and_infers_minus_one(void **state) {
    (void)state;
    int64_t s[] = {0, -1, 3};
    fg_tensor x = tens(FG_F32, 3, (int64_t[]){2, 6, 2}, NULL), sh = tens(FG_I64, 1, (int64_t[]){3}, s),
              *in[] = {&x, &sh}, y;
    const fg_op_def *d = fg_op_find("", "Reshape");
    assert_true(d->flags & FG_OP_ALIAS);
    fg_node node = {.op_type = "Reshape", .opset = 13, .n_in = 2, .n_out = 1};
    fg_tensor *ptrs[] = {in[0], in[1], &y};
    fg_err e = {0};
    fg_kctx c = {.node = &node, .opset = 13, .n_in = 2, .n_out = 1, .in = ptrs, .out = ptrs + 2, .need_value = -1, .err = &e};
    assert_int_equal(d->infer(&c), 0);
    assert_shape(&y, 3, (int64_t[]){2, 4, 3});
    /* allowzero (opset 14) keeps a literal 0, which cannot hold 24 elements */
    s[1] = 0;
    s[2] = 0;
    fg_attr az = ai("allowzero", 1);
    node.opset = c.opset = 14;
    node.attrs = &az;
    node.n_attrs = 1;
    assert_int_equal(d->infer(&c), FG_ESHAPE);
}

static void squeeze_and_unsqueeze_check_axes(void **state) {
    (void)state;
    fg_tensor x = tens(FG_F32, 3, (int64_t[]){1, 3, 1}, NULL), y;
    int64_t bad[] = {1}, dup[] = {0, 0}, ok[] = {-1, 0};
    fg_tensor tb = tens(FG_I64, 1, (int64_t[]){1}, bad), td = tens(FG_I64, 1, (int64_t[]){2}, dup),
              to = tens(FG_I64, 1, (int64_t[]){2}, ok);
    fg_tensor *in1[] = {&x, &tb}, *in2[] = {&x, &td}, *in3[] = {&x, &to}, *in4[] = {&x};
    assert_int_equal(run_op("Squeeze", 13, NULL, 0, in1, 2, &y, 1, 1, NULL), FG_ESHAPE);
    assert_int_equal(run_op("Unsqueeze", 13, NULL, 0, in2, 2, &y, 1, 1, NULL), FG_EINVAL);
    const fg_op_def *d = fg_op_find("", "Unsqueeze");
    fg_node node = {.op_type = "Unsqueeze", .opset = 13, .n_in = 2, .n_out = 1};
    fg_tensor *ptrs[] = {in3[0], in3[1], &y};
    fg_err e = {0};
    fg_kctx c = {.node = &node, .opset = 13, .n_in = 2, .n_out = 1, .in = ptrs, .out = ptrs + 2, .need_value = -1, .err = &e};
    assert_int_equal(d->infer(&c), 0);
    assert_shape(&y, 5, (int64_t[]){1, 1, 3, 1, 1});
    /* Squeeze before opset 13 takes an attribute; without axes it drops every 1 */
    d = fg_op_find("", "Squeeze");
    node = (fg_node){.op_type = "Squeeze", .opset = 11, .n_in = 1, .n_out = 1};
    fg_tensor *p2[] = {in4[0], &y};
    c = (fg_kctx){.node = &node, .opset = 11, .n_in = 1, .n_out = 1, .in = p2, .out = p2 + 1, .need_value = -1, .err = &e};
    assert_int_equal(d->infer(&c), 0);
    assert_shape(&y, 1, (int64_t[]){3});
}

static void shape_clamps_start_and_end(void **state) {
    (void)state;
    fg_tensor x = tens(FG_F32, 4, (int64_t[]){2, 3, 4, 5}, NULL), *in[] = {&x}, y;
    fg_attr at[] = {ai("start", -10), ai("end", -1)};
    assert_int_equal(run_op("Shape", 15, at, 2, in, 1, &y, 1, 1, NULL), 0);
    const int64_t want[] = {2, 3, 4};
    assert_shape(&y, 1, (int64_t[]){3});
    assert_memory_equal(y.data, want, sizeof want);
    free_outs(&y, 1);
    assert_true(fg_op_find("", "Shape")->flags & FG_OP_SHAPE_ONLY);
}

/* ---- Dropout ---- */

static void dropout_copies_input_and_fills_mask(void **state) {
    (void)state;
    float v[5] = {1, -2, 3, -4, 5};
    fg_tensor x = tens(FG_F32, 1, (int64_t[]){5}, v), *in[] = {&x}, y[2];
    assert_int_equal(run_op("Dropout", 13, NULL, 0, in, 1, y, 2, 1, NULL), 0);
    assert_memory_equal(y[0].data, v, sizeof v);
    assert_int_equal(y[1].dtype, FG_BOOL);
    for (int i = 0; i < 5; i++)
        assert_int_equal(((uint8_t *)y[1].data)[i], 1);
    free_outs(y, 2);
    uint8_t on = 1;
    float half = 0.5f;
    fg_tensor r = tens(FG_F32, 0, NULL, &half), t = tens(FG_BOOL, 0, NULL, &on), *in2[] = {&x, &r, &t};
    assert_int_equal(run_op("Dropout", 13, NULL, 0, in2, 3, y, 1, 1, NULL), FG_EUNSUPPORTED);
}

/* ---- Concat, Split ---- */

static void concat_and_split_round_trip_under_threads(void **state) {
    (void)state;
    int64_t da[] = {64, 30, 50}, db[] = {64, 11, 50};
    fg_tensor a = tens(FG_I64, 3, da, NULL), b = tens(FG_I64, 3, db, NULL);
    a.data = pattern(fg_tensor_numel(&a) * 8);
    b.data = pattern(fg_tensor_numel(&b) * 8 + 5);
    for (int nt = 1; nt <= 4; nt += 3) {
        fg_attr at[] = {ai("axis", -2)};
        fg_tensor *in[] = {&a, &b}, y, parts[2];
        assert_int_equal(run_op("Concat", 13, at, 1, in, 2, &y, 1, nt, NULL), 0);
        assert_shape(&y, 3, (int64_t[]){64, 41, 50});
        int64_t sv[] = {30, 11};
        fg_tensor sp = tens(FG_I64, 1, (int64_t[]){2}, sv), *in2[] = {&y, &sp};
        fg_attr at2[] = {ai("axis", 1)};
        assert_int_equal(run_op("Split", 13, at2, 1, in2, 2, parts, 2, nt, NULL), 0);
        assert_memory_equal(parts[0].data, a.data, (size_t)fg_tensor_numel(&a) * 8);
        assert_memory_equal(parts[1].data, b.data, (size_t)fg_tensor_numel(&b) * 8);
        free_outs(parts, 2);
        free_outs(&y, 1);
    }
    free(a.data);
    free(b.data);
}

static void concat_rejects_mismatched_dims(void **state) {
    (void)state;
    fg_tensor a = tens(FG_F32, 2, (int64_t[]){2, 3}, NULL), b = tens(FG_F32, 2, (int64_t[]){3, 3}, NULL),
              *in[] = {&a, &b}, y;
    fg_attr at[] = {ai("axis", 1)};
    assert_int_equal(run_op("Concat", 13, at, 1, in, 2, &y, 1, 1, NULL), FG_ESHAPE);
}

static void split_num_outputs_leaves_a_smaller_last_part(void **state) {
    (void)state;
    fg_tensor x = tens(FG_F32, 1, (int64_t[]){7}, NULL), *in[] = {&x}, y[3];
    fg_attr at[] = {ai("num_outputs", 3)};
    const fg_op_def *d = fg_op_find("", "Split");
    fg_node node = {.op_type = "Split", .opset = 18, .n_in = 1, .n_out = 3, .n_attrs = 1, .attrs = at};
    fg_tensor *ptrs[] = {in[0], &y[0], &y[1], &y[2]};
    fg_err e = {0};
    fg_kctx c = {.node = &node, .opset = 18, .n_in = 1, .n_out = 3, .in = ptrs, .out = ptrs + 1, .need_value = -1, .err = &e};
    assert_int_equal(d->infer(&c), 0);
    assert_int_equal(y[0].dims[0], 3);
    assert_int_equal(y[1].dims[0], 3);
    assert_int_equal(y[2].dims[0], 1);
    /* before opset 18 the parts must be equal */
    node.opset = c.opset = 13;
    assert_int_equal(d->infer(&c), FG_ESHAPE);
}

/* ---- Gather ---- */

static void gather_takes_negative_indices_and_rejects_out_of_range(void **state) {
    (void)state;
    float v[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    int32_t ix[] = {-1, 0, 2};
    fg_tensor x = tens(FG_F32, 2, (int64_t[]){4, 3}, v), i = tens(FG_I32, 1, (int64_t[]){3}, ix), *in[] = {&x, &i}, y;
    fg_attr at[] = {ai("axis", 1)};
    assert_int_equal(run_op("Gather", 13, at, 1, in, 2, &y, 1, 1, NULL), 0);
    const float want[] = {2, 0, 2, 5, 3, 5, 8, 6, 8, 11, 9, 11};
    assert_memory_equal(y.data, want, sizeof want);
    free_outs(&y, 1);
    ix[1] = 3;
    assert_int_equal(run_op("Gather", 13, at, 1, in, 2, &y, 1, 1, NULL), FG_EINVAL);
}

static void gather_elements_follows_the_axis(void **state) {
    (void)state;
    float v[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    int64_t ix[] = {-1, 0, 2, 1, 0, 0};
    fg_tensor x = tens(FG_F32, 2, (int64_t[]){3, 3}, v), i = tens(FG_I64, 2, (int64_t[]){2, 3}, ix),
              *in[] = {&x, &i}, y;
    fg_attr at[] = {ai("axis", 0)};
    assert_int_equal(run_op("GatherElements", 13, at, 1, in, 2, &y, 1, 1, NULL), 0);
    const float want[] = {7, 2, 9, 4, 2, 3};
    assert_memory_equal(y.data, want, sizeof want);
    free_outs(&y, 1);
}

/* ---- Expand, Tile, Range, ConstantOfShape, OneHot ---- */

static void expand_and_tile_repeat_like_numpy(void **state) {
    (void)state;
    int16_t v[3] = {1, 2, 3};
    int64_t sh[] = {2, 3, 4};
    fg_tensor x = tens(FG_I16, 2, (int64_t[]){3, 1}, v), s = tens(FG_I64, 1, (int64_t[]){3}, sh), *in[] = {&x, &s}, y;
    assert_int_equal(run_op("Expand", 13, NULL, 0, in, 2, &y, 1, 4, NULL), 0);
    assert_shape(&y, 3, sh);
    for (int i = 0; i < 24; i++)
        assert_int_equal(((int16_t *)y.data)[i], (i / 4) % 3 + 1);
    free_outs(&y, 1);
    int64_t rep[] = {2, 3};
    fg_tensor r = tens(FG_I64, 1, (int64_t[]){2}, rep), *in2[] = {&x, &r};
    assert_int_equal(run_op("Tile", 13, NULL, 0, in2, 2, &y, 1, 1, NULL), 0);
    assert_shape(&y, 2, (int64_t[]){6, 3});
    for (int i = 0; i < 18; i++)
        assert_int_equal(((int16_t *)y.data)[i], (i / 3) % 3 + 1);
    free_outs(&y, 1);
}

/* Tile multiplied an axis by its repeats unchecked: 2^62 repeats of a 4-element axis overflowed int64
 * before the planner's size limit could see the shape. */
static void regression_tile_repeats_overflow(void **state) {
    (void)state;
    int16_t v[4] = {0};
    int64_t rep[] = {(int64_t)1 << 62};
    fg_tensor x = tens(FG_I16, 1, (int64_t[]){4}, v), r = tens(FG_I64, 1, (int64_t[]){1}, rep), *in[] = {&x, &r}, y;
    fg_err e = {0};
    assert_int_equal(run_kernel("Tile", 13, NULL, 0, in, 2, &y, 1, &(kernel_env){.err = &e}), FG_ENOMEM);
    assert_non_null(strstr(e.msg, "repeats[0] = 4611686018427387904 overflows axis 0"));
}

static void range_counts_like_numpy(void **state) {
    (void)state;
    int64_t a = 10, b = -7, d = -3;
    fg_tensor ta = tens(FG_I64, 0, NULL, &a), tb = tens(FG_I64, 0, NULL, &b), td = tens(FG_I64, 0, NULL, &d),
              *in[] = {&ta, &tb, &td}, y;
    assert_int_equal(run_op("Range", 11, NULL, 0, in, 3, &y, 1, 1, NULL), 0);
    const int64_t want[] = {10, 7, 4, 1, -2, -5};
    assert_shape(&y, 1, (int64_t[]){6});
    assert_memory_equal(y.data, want, sizeof want);
    free_outs(&y, 1);
    d = 0;
    assert_int_equal(run_op("Range", 11, NULL, 0, in, 3, &y, 1, 1, NULL), FG_EINVAL);
}

static void constant_of_shape_uses_the_value_attribute(void **state) {
    (void)state;
    int64_t sh[] = {2, 3}, seven = 7;
    fg_tensor s = tens(FG_I64, 1, (int64_t[]){2}, sh), *in[] = {&s}, y;
    fg_attr at = {.name = "value", .type = FG_ATTR_TENSOR, .t = tens(FG_I64, 1, (int64_t[]){1}, &seven)};
    assert_int_equal(run_op("ConstantOfShape", 13, &at, 1, in, 1, &y, 1, 1, NULL), 0);
    assert_int_equal(y.dtype, FG_I64);
    for (int i = 0; i < 6; i++)
        assert_int_equal(((int64_t *)y.data)[i], 7);
    free_outs(&y, 1);
    assert_int_equal(run_op("ConstantOfShape", 13, NULL, 0, in, 1, &y, 1, 1, NULL), 0);
    assert_int_equal(y.dtype, FG_F32);
    assert_true(((float *)y.data)[5] == 0.0f);
    free_outs(&y, 1);
}

static void onehot_writes_on_and_off_values(void **state) {
    (void)state;
    int64_t ix[] = {1, -1, 5}, depth = 3;
    float vals[] = {-1, 9};
    fg_tensor i = tens(FG_I64, 1, (int64_t[]){3}, ix), d = tens(FG_I64, 0, NULL, &depth),
              v = tens(FG_F32, 1, (int64_t[]){2}, vals), *in[] = {&i, &d, &v}, y;
    fg_attr at[] = {ai("axis", 0)};
    assert_int_equal(run_op("OneHot", 11, at, 1, in, 3, &y, 1, 1, NULL), 0);
    assert_shape(&y, 2, (int64_t[]){3, 3});
    const float want[] = {-1, -1, -1, 9, -1, -1, -1, 9, -1}; /* column j is index j; 5 is out of range */
    assert_memory_equal(y.data, want, sizeof want);
    free_outs(&y, 1);
}

/* ---- Pad ---- */

static void pad_modes_match_numpy(void **state) {
    (void)state;
    float v[4] = {1, 2, 3, 4}, cv = 7;
    int64_t pads[] = {2, 3};
    fg_tensor x = tens(FG_F32, 1, (int64_t[]){4}, v), p = tens(FG_I64, 1, (int64_t[]){2}, pads),
              c = tens(FG_F32, 0, NULL, &cv), *in[] = {&x, &p, &c}, y;
    struct {
        const char *mode;
        float want[9];
    } cs[] = {{"constant", {7, 7, 1, 2, 3, 4, 7, 7, 7}}, {"reflect", {3, 2, 1, 2, 3, 4, 3, 2, 1}},
              {"edge", {1, 1, 1, 2, 3, 4, 4, 4, 4}}};
    for (int k = 0; k < 3; k++) {
        fg_attr at[] = {as("mode", cs[k].mode)};
        assert_int_equal(run_op("Pad", 13, at, 1, in, 3, &y, 1, 1, NULL), 0);
        assert_memory_equal(y.data, cs[k].want, sizeof cs[k].want);
        free_outs(&y, 1);
    }
    /* negative pads crop; opset 2 takes pads and value as attributes */
    int64_t crop[] = {-1, 2};
    fg_attr at2[] = {ais("pads", crop, 2), {.name = "value", .type = FG_ATTR_FLOAT, .f = 5}};
    fg_tensor *in2[] = {&x};
    assert_int_equal(run_op("Pad", 2, at2, 2, in2, 1, &y, 1, 1, NULL), 0);
    const float want2[] = {2, 3, 4, 5, 5};
    assert_memory_equal(y.data, want2, sizeof want2);
    free_outs(&y, 1);
}

static void pad_2d_threaded_matches_naive(void **state) {
    (void)state;
    int64_t dims[] = {3, 70, 90}, pads[] = {0, 2, -3, 1, 4, 5};
    fg_tensor x = tens(FG_F32, 3, dims, NULL);
    x.data = pattern(fg_tensor_numel(&x) * 4);
    fg_tensor p = tens(FG_I64, 1, (int64_t[]){6}, pads), *in[] = {&x, &p}, y;
    fg_attr at[] = {as("mode", "edge")};
    assert_int_equal(run_op("Pad", 13, at, 1, in, 2, &y, 1, 4, NULL), 0);
    assert_shape(&y, 3, (int64_t[]){4, 76, 92});
    for (int64_t a = 0; a < 4; a++)
        for (int64_t b = 0; b < 76; b++)
            for (int64_t c = 0; c < 92; c++) {
                int64_t sa = a < 0 ? 0 : a > 2 ? 2 : a, sb = b - 2 < 0 ? 0 : b - 2 > 69 ? 69 : b - 2,
                        sc = c + 3 > 89 ? 89 : c + 3;
                assert_memory_equal((char *)y.data + ((a * 76 + b) * 92 + c) * 4,
                                    (char *)x.data + ((sa * 70 + sb) * 90 + sc) * 4, 4);
            }
    free(x.data);
    free_outs(&y, 1);
}

/* ---- Resize, DepthToSpace ---- */

static void resize_linear_half_pixel_matches_onnx_example(void **state) {
    (void)state;
    float v[4] = {1, 2, 3, 4}, sc[4] = {1, 1, 2, 2};
    fg_tensor x = tens(FG_F32, 4, (int64_t[]){1, 1, 2, 2}, v), s = tens(FG_F32, 1, (int64_t[]){4}, sc),
              *in[] = {&x, NULL, &s}, y;
    fg_attr at[] = {as("mode", "linear")};
    assert_int_equal(run_op("Resize", 13, at, 1, in, 3, &y, 1, 1, NULL), 0);
    const float want[16] = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
    assert_shape(&y, 4, (int64_t[]){1, 1, 4, 4});
    for (int i = 0; i < 16; i++)
        assert_true(fabsf(((float *)y.data)[i] - want[i]) < 1e-6f);
    free_outs(&y, 1);
}

static void resize_nearest_upsamples_any_dtype_under_threads(void **state) {
    (void)state;
    int64_t dims[] = {2, 40, 30, 20}, sizes[] = {2, 40, 60, 40};
    fg_tensor x = tens(FG_I64, 4, dims, NULL);
    x.data = pattern(fg_tensor_numel(&x) * 8);
    fg_tensor sz = tens(FG_I64, 1, (int64_t[]){4}, sizes), *in[] = {&x, NULL, NULL, &sz}, y;
    fg_attr at[] = {as("coordinate_transformation_mode", "asymmetric"), as("nearest_mode", "floor")};
    assert_int_equal(run_op("Resize", 13, at, 2, in, 4, &y, 1, 4, NULL), 0);
    for (int64_t r = 0; r < 80; r++)
        for (int64_t h = 0; h < 60; h++)
            for (int64_t w = 0; w < 40; w++)
                assert_memory_equal((char *)y.data + ((r * 60 + h) * 40 + w) * 8,
                                    (char *)x.data + ((r * 30 + h / 2) * 20 + w / 2) * 8, 8);
    free(x.data);
    free_outs(&y, 1);
}

static void resize_needs_scales_or_sizes(void **state) {
    (void)state;
    float v[4] = {0};
    fg_tensor x = tens(FG_F32, 2, (int64_t[]){2, 2}, v), *in[] = {&x, NULL, NULL, NULL}, y;
    assert_int_equal(run_op("Resize", 13, NULL, 0, in, 4, &y, 1, 1, NULL), FG_EINVAL);
    fg_tensor s = tens(FG_F32, 1, (int64_t[]){2}, NULL), *in2[] = {&x, NULL, &s};
    int need = -1;
    assert_int_equal(run_op("Resize", 13, NULL, 0, in2, 3, &y, 1, 1, &need), FG_ENEEDVALUE);
    assert_int_equal(need, 2);
}

static void depth_to_space_modes_match_formula(void **state) {
    (void)state;
    int64_t dims[] = {2, 12, 3, 5};
    fg_tensor x = tens(FG_F32, 4, dims, NULL);
    x.data = pattern(fg_tensor_numel(&x) * 4);
    for (int crd = 0; crd < 2; crd++) {
        fg_attr at[] = {ai("blocksize", 2), as("mode", crd ? "CRD" : "DCR")};
        fg_tensor *in[] = {&x}, y;
        assert_int_equal(run_op("DepthToSpace", 13, at, 2, in, 1, &y, 1, 1, NULL), 0);
        assert_shape(&y, 4, (int64_t[]){2, 3, 6, 10});
        for (int64_t n = 0; n < 2; n++)
            for (int64_t c = 0; c < 3; c++)
                for (int64_t h = 0; h < 6; h++)
                    for (int64_t w = 0; w < 10; w++) {
                        int64_t i = h % 2, j = w % 2;
                        int64_t ci = crd ? c * 4 + i * 2 + j : (i * 2 + j) * 3 + c;
                        assert_memory_equal((char *)y.data + (((n * 3 + c) * 6 + h) * 10 + w) * 4,
                                            (char *)x.data + (((n * 12 + ci) * 3 + h / 2) * 5 + w / 2) * 4, 4);
                    }
        /* SpaceToDepth inverts DCR */
        if (!crd) {
            fg_tensor *in2[] = {&y}, z;
            assert_int_equal(run_op("SpaceToDepth", 13, at, 1, in2, 1, &z, 1, 1, NULL), 0);
            assert_memory_equal(z.data, x.data, (size_t)fg_tensor_numel(&x) * 4);
            free_outs(&z, 1);
        }
        free_outs(&y, 1);
    }
    free(x.data);
}

/* A blocksize of 2^32 overflowed blocksize^2 (found by a crafted model while fuzzing); SpaceToDepth of an
 * input with empty spatial dims accepts any blocksize, so its channels * blocksize^2 is checked too. */
static void regression_depth_to_space_blocksize_overflow(void **state) {
    (void)state;
    float v[4] = {0};
    fg_tensor x = tens(FG_F32, 4, (int64_t[]){1, 4, 1, 1}, v), *in[] = {&x}, y;
    fg_attr big[] = {ai("blocksize", (int64_t)1 << 32)}, half[] = {ai("blocksize", (int64_t)1 << 31)};
    fg_err e = {0};
    assert_int_equal(run_kernel("DepthToSpace", 13, big, 1, in, 1, &y, 1, &(kernel_env){.err = &e}), FG_EINVAL);
    assert_non_null(strstr(e.msg, "blocksize 4294967296 is too large"));
    x.dims[2] = x.dims[3] = 0;
    e = (fg_err){0};
    assert_int_equal(run_kernel("SpaceToDepth", 13, half, 1, in, 1, &y, 1, &(kernel_env){.err = &e}), FG_ENOMEM);
    assert_non_null(strstr(e.msg, "4 channels times blocksize^2 overflow"));
}

/* Pad added pads of 2^62 to the axis size unchecked (found by a crafted model while fuzzing): int64 overflow. */
static void regression_pad_huge_pads(void **state) {
    (void)state;
    float v[9] = {0};
    int64_t pads[] = {(int64_t)1 << 62, 0, (int64_t)1 << 62, 0};
    fg_tensor x = tens(FG_F32, 2, (int64_t[]){3, 3}, v), p = tens(FG_I64, 1, (int64_t[]){4}, pads), *in[] = {&x, &p}, y;
    fg_err e = {0};
    assert_int_equal(run_kernel("Pad", 13, NULL, 0, in, 2, &y, 1, &(kernel_env){.err = &e}), FG_EINVAL);
    assert_non_null(strstr(e.msg, "pads[0] = 4611686018427387904 is out of range"));
}

/* Resize's not_smaller policy scales every axis by the largest size ratio: sizes [2^53, 1] on a [1,1024]
 * input gave the second axis 2^63, converted from double to int64 out of range (found by a crafted model
 * while fuzzing). */
static void regression_resize_policy_size_overflow(void **state) {
    (void)state;
    float v[1024] = {0};
    int64_t axes[] = {2, 3}, sizes[] = {(int64_t)1 << 53, 1};
    fg_tensor x = tens(FG_F32, 4, (int64_t[]){1, 1, 1, 1024}, v), s = tens(FG_I64, 1, (int64_t[]){2}, sizes), y;
    fg_tensor *in[] = {&x, NULL, NULL, &s};
    fg_attr at[] = {as("keep_aspect_ratio_policy", "not_smaller"), ais("axes", axes, 2)};
    fg_err e = {0};
    assert_int_equal(run_kernel("Resize", 18, at, 2, in, 4, &y, 1, &(kernel_env){.err = &e}), FG_EINVAL);
    assert_non_null(strstr(e.msg, "sizes with policy not_smaller give axis 3 a size of 9.22337e+18"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transpose_matches_naive_for_every_element_size),
        cmocka_unit_test(transpose_defaults_to_reversed_axes),
        cmocka_unit_test(transpose_rejects_bad_perm),
        cmocka_unit_test(slice_walks_backwards_and_clamps_extreme_ends),
        cmocka_unit_test(slice_before_opset_10_reads_attributes),
        cmocka_unit_test(slice_rejects_zero_step),
        cmocka_unit_test(reshape_asks_for_a_shape_unknown_at_plan_time),
        cmocka_unit_test(reshape_copies_zeros_and_infers_minus_one),
        cmocka_unit_test(squeeze_and_unsqueeze_check_axes),
        cmocka_unit_test(shape_clamps_start_and_end),
        cmocka_unit_test(dropout_copies_input_and_fills_mask),
        cmocka_unit_test(concat_and_split_round_trip_under_threads),
        cmocka_unit_test(concat_rejects_mismatched_dims),
        cmocka_unit_test(split_num_outputs_leaves_a_smaller_last_part),
        cmocka_unit_test(gather_takes_negative_indices_and_rejects_out_of_range),
        cmocka_unit_test(gather_elements_follows_the_axis),
        cmocka_unit_test(expand_and_tile_repeat_like_numpy),
        cmocka_unit_test(regression_tile_repeats_overflow),
        cmocka_unit_test(range_counts_like_numpy),
        cmocka_unit_test(constant_of_shape_uses_the_value_attribute),
        cmocka_unit_test(onehot_writes_on_and_off_values),
        cmocka_unit_test(pad_modes_match_numpy),
        cmocka_unit_test(pad_2d_threaded_matches_naive),
        cmocka_unit_test(resize_linear_half_pixel_matches_onnx_example),
        cmocka_unit_test(resize_nearest_upsamples_any_dtype_under_threads),
        cmocka_unit_test(resize_needs_scales_or_sizes),
        cmocka_unit_test(depth_to_space_modes_match_formula),
        cmocka_unit_test(regression_depth_to_space_blocksize_overflow),
        cmocka_unit_test(regression_pad_huge_pads),
        cmocka_unit_test(regression_resize_policy_size_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
