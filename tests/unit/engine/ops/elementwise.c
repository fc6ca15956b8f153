/* Tests for src/engine/ops/elementwise.c: kernels are called directly through their fg_op_def and
 * compared with naive index-math references on odd shapes, so the collapsed broadcast walker (flat,
 * scalar, inner-block and general runs, threaded splits at odd offsets) is checked against the plain
 * definition; plus integer Div/Mod, Cast and float16 semantics and the accuracy of the fast exp,
 * sigmoid and tanh. */
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

/* One output; out->data is malloc'd on success (run_kernel). */
static int run_op(const char *op, int opset, fg_attr *attrs, int n_attrs, fg_tensor **in, int n_in, fg_tensor *out,
                  int nt) {
    return run_kernel(op, opset, attrs, n_attrs, in, n_in, out, 1, &(kernel_env){.n_threads = nt});
}

/* Offset into t of output multi-index idx (numpy right alignment, size-1 dims broadcast). */
static int64_t ref_offset(const fg_tensor *t, const int64_t *idx, int out_rank) {
    int64_t off = 0;
    for (int d = 0; d < t->rank; d++) {
        int64_t i = t->dims[d] == 1 ? 0 : idx[d + out_rank - t->rank];
        off = off * t->dims[d] + i;
    }
    return off;
}

/* Advances a row-major multi-index over dims. */
static void next_index(int64_t *idx, const int64_t *dims, int rank) {
    for (int d = rank - 1; d >= 0; d--) {
        if (++idx[d] < dims[d])
            return;
        idx[d] = 0;
    }
}

typedef struct shape_pair {
    int ra;
    int64_t a[5];
    int rb;
    int64_t b[5];
} shape_pair;

/* flat, scalar, inner-block ([N,C,H,W]+[C,1,1], [N,T,D]+[D]), outer broadcast, both-sided, all-ones */
static const shape_pair PAIRS[] = {
    {4, {2, 3, 5, 7}, 4, {2, 3, 5, 7}},  {4, {2, 3, 5, 7}, 0, {0}},        {0, {0}, 3, {3, 5, 7}},
    {4, {2, 3, 5, 7}, 3, {3, 1, 1}},     {3, {4, 6, 9}, 1, {9}},           {3, {3, 1, 7}, 3, {1, 6, 1}},
    {2, {5, 1}, 2, {1, 13}},             {4, {2, 1, 5, 1}, 3, {3, 1, 4}},  {3, {1, 1, 1}, 2, {1, 1}},
    {5, {2, 3, 1, 4, 5}, 5, {1, 3, 2, 4, 1}}, {2, {3, 4}, 3, {2, 1, 4}},  {3, {7, 1, 11}, 1, {1}},
    /* big enough to split across threads at odd offsets */
    {3, {37, 41, 67}, 2, {41, 1}},       {2, {300, 301}, 2, {300, 301}},   {3, {2, 301, 257}, 1, {257}},
    {3, {151, 1, 523}, 2, {17, 1}},
};

static double ref_bin(const char *op, double a, double b) {
    if (!strcmp(op, "Add"))
        return a + b;
    if (!strcmp(op, "Sub"))
        return a - b;
    if (!strcmp(op, "Mul"))
        return a * b;
    if (!strcmp(op, "Div"))
        return a / b;
    if (!strcmp(op, "Max"))
        return a > b ? a : b;
    if (!strcmp(op, "Less"))
        return a < b;
    if (!strcmp(op, "PRelu"))
        return a < 0 ? a * b : a;
    return NAN;
}

/* b broadcasts to a's own shape (what PRelu requires of its slope) */
static bool fits(const shape_pair *sp) {
    if (sp->rb > sp->ra)
        return false;
    for (int d = 0; d < sp->rb; d++)
        if (sp->b[d] != 1 && sp->b[d] != sp->a[d + sp->ra - sp->rb])
            return false;
    return true;
}

static void check_pair(const char *op, const shape_pair *sp, int nt) {
    fg_tensor a = tens(FG_F32, sp->ra, sp->a, NULL), b = tens(FG_F32, sp->rb, sp->b, NULL), y;
    int64_t na = fg_tensor_numel(&a), nb = fg_tensor_numel(&b);
    a.data = randf(na, 1, -2, 2);
    b.data = randf(nb, 2, 0.5f, 2);
    fg_tensor *in[2] = {&a, &b};
    int rc = run_op(op, 17, NULL, 0, in, 2, &y, nt);
    if (!strcmp(op, "PRelu") && !fits(sp)) { /* slope must broadcast to X */
        assert_int_equal(rc, FG_ESHAPE);
        goto out;
    }
    assert_int_equal(rc, 0);
    int64_t idx[FG_MAX_RANK] = {0}, n = fg_tensor_numel(&y);
    for (int64_t i = 0; i < n; i++) {
        double va = ((float *)a.data)[ref_offset(&a, idx, y.rank)], vb = ((float *)b.data)[ref_offset(&b, idx, y.rank)];
        double want = ref_bin(op, va, vb);
        double got = y.dtype == FG_BOOL ? ((uint8_t *)y.data)[i] : ((float *)y.data)[i];
        if (fabs(got - want) > 1e-6 * fabs(want) + 1e-7) {
            fprintf(stderr, "%s pair %d nt %d element %lld: %g != %g\n", op, (int)(sp - PAIRS), nt, (long long)i, got, want);
            fail();
        }
        next_index(idx, y.dims, y.rank);
    }
    free(y.data);
out:
    free(a.data);
    free(b.data);
}

/* ---- broadcasting ---- */

static void broadcast_runs_match_index_math(void **state) {
    (void)state;
    const char *ops[] = {"Add", "Sub", "Mul", "Div", "Max", "Less", "PRelu"};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t p = 0; p < sizeof PAIRS / sizeof PAIRS[0]; p++) {
            check_pair(ops[o], &PAIRS[p], 1);
            check_pair(ops[o], &PAIRS[p], 4);
        }
}

static void broadcast_rejects_mismatched_shapes(void **state) {
    (void)state;
    int64_t da[] = {2, 3}, db[] = {4};
    float x[6] = {0}, z[4] = {0};
    fg_tensor a = tens(FG_F32, 2, da, x), b = tens(FG_F32, 1, db, z), y;
    fg_tensor *in[2] = {&a, &b};
    assert_int_equal(run_op("Add", 14, NULL, 0, in, 2, &y, 1), FG_ESHAPE);
    b.dtype = FG_I64;
    assert_int_equal(run_op("Add", 14, NULL, 0, in, 2, &y, 1), FG_EDTYPE);
    a.dtype = FG_STRING;
    b.dtype = FG_STRING;
    assert_int_equal(run_op("Add", 14, NULL, 0, in, 2, &y, 1), FG_EUNSUPPORTED);
}

static void legacy_broadcast_aligns_b_at_axis(void **state) {
    (void)state;
    int64_t da[] = {2, 3, 4}, db[] = {3};
    float x[24] = {0}, z[3] = {1, 2, 3};
    fg_tensor a = tens(FG_F32, 3, da, x), b = tens(FG_F32, 1, db, z), y;
    fg_tensor *in[2] = {&a, &b};
    fg_attr at[] = {ai("broadcast", 1), ai("axis", 1)};
    assert_int_equal(run_op("Add", 6, at, 2, in, 2, &y, 1), 0);
    assert_int_equal(y.rank, 3);
    for (int i = 0; i < 24; i++)
        assert_float_equal(((float *)y.data)[i], z[(i / 4) % 3], 0);
    free(y.data);
}

static void prelu_before_opset7_uses_channel_slope(void **state) {
    (void)state;
    int64_t dx[] = {2, 3, 4}, ds[] = {3};
    float x[24], s[3] = {0.5f, 2, 3};
    for (int i = 0; i < 24; i++)
        x[i] = -1;
    fg_tensor a = tens(FG_F32, 3, dx, x), b = tens(FG_F32, 1, ds, s), y;
    fg_tensor *in[2] = {&a, &b};
    assert_int_equal(run_op("PRelu", 6, NULL, 0, in, 2, &y, 1), 0);
    for (int i = 0; i < 24; i++)
        assert_float_equal(((float *)y.data)[i], -s[(i / 4) % 3], 0);
    free(y.data);
}

static void variadic_ops_broadcast_every_input(void **state) {
    (void)state;
    int64_t d0[] = {3, 1, 5}, d1[] = {4, 1}, d2[] = {5};
    fg_tensor a = tens(FG_F32, 3, d0, randf(15, 3, -1, 1)), b = tens(FG_F32, 2, d1, randf(4, 4, -1, 1)),
              c = tens(FG_F32, 1, d2, randf(5, 5, -1, 1)), y;
    fg_tensor *in[3] = {&a, &b, &c};
    const char *ops[] = {"Max", "Min", "Sum", "Mean"};
    for (int o = 0; o < 4; o++) {
        assert_int_equal(run_op(ops[o], 13, NULL, 0, in, 3, &y, 2), 0);
        assert_int_equal(y.rank, 3);
        assert_int_equal(y.dims[0], 3);
        assert_int_equal(y.dims[1], 4);
        assert_int_equal(y.dims[2], 5);
        int64_t idx[3] = {0};
        for (int i = 0; i < 60; i++) {
            float x0 = ((float *)a.data)[ref_offset(&a, idx, 3)], x1 = ((float *)b.data)[ref_offset(&b, idx, 3)],
                  x2 = ((float *)c.data)[ref_offset(&c, idx, 3)], want;
            if (o == 0)
                want = fmaxf(fmaxf(x0, x1), x2);
            else if (o == 1)
                want = fminf(fminf(x0, x1), x2);
            else
                want = (x0 + x1 + x2) / (o == 3 ? 3 : 1);
            assert_float_equal(((float *)y.data)[i], want, 1e-6);
            next_index(idx, y.dims, 3);
        }
        free(y.data);
    }
    /* one input: a copy */
    assert_int_equal(run_op("Max", 13, NULL, 0, in, 1, &y, 1), 0);
    assert_memory_equal(y.data, a.data, 15 * sizeof(float));
    free(y.data);
    free(a.data);
    free(b.data);
    free(c.data);
}

static void max_propagates_nan(void **state) {
    (void)state;
    int64_t d[] = {3};
    float x[3] = {NAN, 1, 2}, z[3] = {0, NAN, 1};
    fg_tensor a = tens(FG_F32, 1, d, x), b = tens(FG_F32, 1, d, z), y;
    fg_tensor *in[2] = {&a, &b};
    assert_int_equal(run_op("Max", 13, NULL, 0, in, 2, &y, 1), 0);
    assert_true(isnan(((float *)y.data)[0]) && isnan(((float *)y.data)[1]));
    assert_float_equal(((float *)y.data)[2], 2, 0);
    free(y.data);
}

static void where_broadcasts_three_ways(void **state) {
    (void)state;
    int64_t dc[] = {4, 1, 1}, dx[] = {1, 3, 1}, dy[] = {5};
    uint8_t cond[4] = {1, 0, 1, 0};
    int64_t x[3] = {10, 20, 30}, yv[5] = {-1, -2, -3, -4, -5};
    fg_tensor tc = tens(FG_BOOL, 3, dc, cond), tx = tens(FG_I64, 3, dx, x), ty = tens(FG_I64, 1, dy, yv), o;
    fg_tensor *in[3] = {&tc, &tx, &ty};
    assert_int_equal(run_op("Where", 16, NULL, 0, in, 3, &o, 1), 0);
    assert_int_equal(fg_tensor_numel(&o), 60);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 5; k++)
                assert_int_equal(((int64_t *)o.data)[(i * 3 + j) * 5 + k], cond[i] ? x[j] : yv[k]);
    free(o.data);
    /* condition must be bool */
    tc.dtype = FG_U8;
    assert_int_equal(run_op("Where", 16, NULL, 0, in, 3, &o, 1), FG_EDTYPE);
}

/* ---- integer semantics ---- */

static void int_div_truncates_and_survives_zero(void **state) {
    (void)state;
    int64_t d[] = {6};
    int32_t x[6] = {7, -7, 7, -7, INT32_MIN, 5}, z[6] = {2, 2, -2, -2, -1, 0};
    int32_t want[6] = {3, -3, -3, 3, INT32_MIN, 0};
    fg_tensor a = tens(FG_I32, 1, d, x), b = tens(FG_I32, 1, d, z), y;
    fg_tensor *in[2] = {&a, &b};
    assert_int_equal(run_op("Div", 14, NULL, 0, in, 2, &y, 1), 0);
    assert_memory_equal(y.data, want, sizeof want);
    free(y.data);
}

static void mod_follows_fmod_attribute(void **state) {
    (void)state;
    int64_t d[] = {5};
    int64_t x[5] = {7, -7, 7, -7, 3}, z[5] = {3, 3, -3, -3, 0};
    int64_t py[5] = {1, 2, -2, -1, 0}, c[5] = {1, -1, 1, -1, 0};
    fg_tensor a = tens(FG_I64, 1, d, x), b = tens(FG_I64, 1, d, z), y;
    fg_tensor *in[2] = {&a, &b};
    assert_int_equal(run_op("Mod", 13, NULL, 0, in, 2, &y, 1), 0);
    assert_memory_equal(y.data, py, sizeof py);
    free(y.data);
    fg_attr at = ai("fmod", 1);
    assert_int_equal(run_op("Mod", 13, &at, 1, in, 2, &y, 1), 0);
    assert_memory_equal(y.data, c, sizeof c);
    free(y.data);
    float fx[2] = {5.5f, -5.5f}, fz[2] = {2, 2};
    int64_t d2[] = {2};
    fg_tensor fa = tens(FG_F32, 1, d2, fx), fb = tens(FG_F32, 1, d2, fz);
    fg_tensor *fin[2] = {&fa, &fb};
    assert_int_equal(run_op("Mod", 13, &at, 1, fin, 2, &y, 1), 0);
    assert_float_equal(((float *)y.data)[0], 1.5f, 0);
    assert_float_equal(((float *)y.data)[1], -1.5f, 0);
    free(y.data);
}

static void int_add_mul_wrap(void **state) {
    (void)state;
    int64_t d[] = {2};
    int16_t x[2] = {INT16_MAX, -300}, z[2] = {1, 300};
    fg_tensor a = tens(FG_I16, 1, d, x), b = tens(FG_I16, 1, d, z), y;
    fg_tensor *in[2] = {&a, &b};
    assert_int_equal(run_op("Add", 14, NULL, 0, in, 2, &y, 1), 0);
    assert_int_equal(((int16_t *)y.data)[0], INT16_MIN);
    free(y.data);
    assert_int_equal(run_op("Mul", 14, NULL, 0, in, 2, &y, 1), 0);
    assert_int_equal(((int16_t *)y.data)[1], (int16_t)(uint16_t)(-90000 & 0xffff));
    free(y.data);
}

static void pow_mixes_types(void **state) {
    (void)state;
    int64_t d[] = {4}, d1[] = {1};
    float fx[4] = {2, -3, 0.5f, 4};
    int64_t ie[4] = {3, 2, -1, 0}, ib[4] = {2, -3, 5, 7};
    float two = 2, half = 0.5f;
    fg_tensor fa = tens(FG_F32, 1, d, fx), eb = tens(FG_I64, 1, d, ie), y;
    fg_tensor *in[2] = {&fa, &eb};
    assert_int_equal(run_op("Pow", 15, NULL, 0, in, 2, &y, 1), 0);
    float w1[4] = {8, 9, 2, 1};
    assert_memory_equal(y.data, w1, sizeof w1);
    free(y.data);
    fg_tensor ia = tens(FG_I64, 1, d, ib);
    in[0] = &ia;
    assert_int_equal(run_op("Pow", 15, NULL, 0, in, 2, &y, 1), 0); /* int ^ int, negative exponent truncates */
    int64_t w2[4] = {8, 9, 0, 1};
    assert_memory_equal(y.data, w2, sizeof w2);
    free(y.data);
    fg_tensor s = tens(FG_F32, 1, d1, &two);
    in[0] = &fa;
    in[1] = &s;
    assert_int_equal(run_op("Pow", 15, NULL, 0, in, 2, &y, 1), 0); /* constant exponent fast path */
    float w3[4] = {4, 9, 0.25f, 16};
    assert_memory_equal(y.data, w3, sizeof w3);
    free(y.data);
    s.data = &half;
    assert_int_equal(run_op("Pow", 15, NULL, 0, in, 2, &y, 1), 0);
    assert_float_equal(((float *)y.data)[0], sqrtf(2), 1e-7);
    assert_true(isnan(((float *)y.data)[1]));
    free(y.data);
}

static void clip_takes_bounds_from_inputs_or_attributes(void **state) {
    (void)state;
    int64_t d[] = {5};
    int8_t x[5] = {-128, -5, 0, 5, 127}, lo = -4, hi = 6;
    fg_tensor a = tens(FG_I8, 1, d, x), tl = tens(FG_I8, 0, NULL, &lo), th = tens(FG_I8, 0, NULL, &hi), y;
    fg_tensor *in[3] = {&a, NULL, &th};
    assert_int_equal(run_op("Clip", 13, NULL, 0, in, 3, &y, 1), 0); /* max only */
    int8_t w1[5] = {-128, -5, 0, 5, 6};
    assert_memory_equal(y.data, w1, 5);
    free(y.data);
    in[1] = &tl;
    assert_int_equal(run_op("Clip", 13, NULL, 0, in, 3, &y, 1), 0);
    int8_t w2[5] = {-4, -4, 0, 5, 6};
    assert_memory_equal(y.data, w2, 5);
    free(y.data);
    float fx[3] = {-2, 0.25f, 2};
    int64_t d3[] = {3};
    fg_tensor fa = tens(FG_F32, 1, d3, fx);
    fg_tensor *fin[1] = {&fa};
    fg_attr at[] = {af("min", -0.5f), af("max", 0.5f)};
    assert_int_equal(run_op("Clip", 6, at, 2, fin, 1, &y, 1), 0);
    float w3[3] = {-0.5f, 0.25f, 0.5f};
    assert_memory_equal(y.data, w3, sizeof w3);
    free(y.data);
}

/* ---- Cast ---- */

static void cast_truncates_and_defines_edge_cases(void **state) {
    (void)state;
    int64_t d[] = {7};
    float x[7] = {1.9f, -1.9f, NAN, 3e19f, -3e19f, 0.0f, 300.0f};
    fg_tensor a = tens(FG_F32, 1, d, x), y;
    fg_tensor *in[1] = {&a};
    fg_attr to = ai("to", FG_I32);
    assert_int_equal(run_op("Cast", 13, &to, 1, in, 1, &y, 1), 0);
    assert_int_equal(y.dtype, FG_I32);
    int32_t w1[7] = {1, -1, 0, -1, 0, 0, 300}; /* int64 saturation then wrap to 32 bits */
    w1[3] = (int32_t)(uint32_t)(uint64_t)INT64_MAX;
    w1[4] = (int32_t)(uint32_t)(uint64_t)INT64_MIN;
    assert_memory_equal(y.data, w1, sizeof w1);
    free(y.data);
    to = ai("to", FG_BOOL);
    assert_int_equal(run_op("Cast", 13, &to, 1, in, 1, &y, 1), 0);
    uint8_t w2[7] = {1, 1, 1, 1, 1, 0, 1};
    assert_memory_equal(y.data, w2, sizeof w2);
    free(y.data);
    to = ai("to", FG_U8);
    assert_int_equal(run_op("Cast", 13, &to, 1, in, 1, &y, 1), 0);
    assert_int_equal(((uint8_t *)y.data)[1], 255);
    assert_int_equal(((uint8_t *)y.data)[6], 44);
    free(y.data);
    to = ai("to", FG_STRING);
    assert_int_equal(run_op("Cast", 13, &to, 1, in, 1, &y, 1), FG_EUNSUPPORTED);
}

static void cast_float16_rounds_to_nearest_even(void **state) {
    (void)state;
    int64_t d[] = {9};
    float x[9] = {1.0f, 65504.0f, 65520.0f, 0x1p-24f, 0x1p-25f, 0x3p-25f, 0.1f, -2.0f, NAN};
    uint16_t want[9] = {0x3c00, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x0002, 0x2e66, 0xc000, 0x7e00};
    fg_tensor a = tens(FG_F32, 1, d, x), y, z;
    fg_tensor *in[1] = {&a};
    fg_attr to = ai("to", FG_F16);
    assert_int_equal(run_op("Cast", 13, &to, 1, in, 1, &y, 1), 0);
    assert_memory_equal(y.data, want, sizeof want);
    /* and back: every half is exact in float */
    in[0] = &y;
    to = ai("to", FG_F32);
    assert_int_equal(run_op("Cast", 13, &to, 1, in, 1, &z, 1), 0);
    assert_float_equal(((float *)z.data)[6], 0.0999755859375f, 0);
    assert_float_equal(((float *)z.data)[3], 0x1p-24f, 0);
    assert_true(isinf(((float *)z.data)[2]));
    free(z.data);
    free(y.data);
    /* double -> half rounds once: 1 + 2^-11 + 2^-40 must round up, which going through float loses */
    double dx[1] = {1.0 + 0x1p-11 + 0x1p-40};
    int64_t d1[] = {1};
    fg_tensor da = tens(FG_F64, 1, d1, dx);
    in[0] = &da;
    to = ai("to", FG_F16);
    assert_int_equal(run_op("Cast", 13, &to, 1, in, 1, &y, 1), 0);
    assert_int_equal(((uint16_t *)y.data)[0], 0x3c01);
    free(y.data);
}

static void float16_arithmetic_goes_through_float(void **state) {
    (void)state;
    int64_t d[] = {3};
    uint16_t x[3] = {0x3c00, 0x4000, 0xc200}, z[3] = {0x3800, 0x3800, 0x3800}; /* 1, 2, -3 and 0.5 */
    fg_tensor a = tens(FG_F16, 1, d, x), b = tens(FG_F16, 1, d, z), y;
    fg_tensor *in[2] = {&a, &b};
    assert_int_equal(run_op("Add", 14, NULL, 0, in, 2, &y, 1), 0);
    uint16_t w[3] = {0x3e00, 0x4100, 0xc100}; /* 1.5, 2.5, -2.5 */
    assert_memory_equal(y.data, w, sizeof w);
    free(y.data);
    assert_int_equal(run_op("Relu", 14, NULL, 0, in, 1, &y, 1), 0);
    uint16_t w2[3] = {0x3c00, 0x4000, 0x0000};
    assert_memory_equal(y.data, w2, sizeof w2);
    free(y.data);
}

/* ---- accuracy and threading of the fast float32 kernels ---- */

static void check_unary(const char *op, double (*ref)(double), float lo, float hi, double rtol, double atol) {
    int64_t n = 200003;
    float *x = malloc((size_t)n * sizeof *x);
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)i / (float)(n - 1);
    fg_tensor a = tens(FG_F32, 1, &n, x), y;
    fg_tensor *in[1] = {&a};
    for (int nt = 1; nt <= 4; nt += 3) {
        assert_int_equal(run_op(op, 13, NULL, 0, in, 1, &y, nt), 0);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double want = ref(x[i]), got = ((float *)y.data)[i];
            double err = fabs(got - want) / (fabs(want) * rtol + atol);
            if (err > worst)
                worst = err;
        }
        if (worst > 1) {
            fprintf(stderr, "%s: error %g of tolerance\n", op, worst);
            fail();
        }
        free(y.data);
    }
    free(x);
}

static double sigmoid_ref(double x) { return 1 / (1 + exp(-x)); }
static double relu_ref(double x) { return x > 0 ? x : 0; }
static double erf_ref(double x) { return erf(x); }
static double tanh_ref(double x) { return tanh(x); }
static double exp_ref(double x) { return exp(x); }

static void fast_float_kernels_are_accurate(void **state) {
    (void)state;
    check_unary("Exp", exp_ref, -100, 88.5f, 5e-7, 1e-44);
    check_unary("Sigmoid", sigmoid_ref, -90, 30, 5e-7, 1e-44);
    check_unary("Tanh", tanh_ref, -12, 12, 1e-6, 1e-30);
    check_unary("Tanh", tanh_ref, -0.01f, 0.01f, 1e-6, 1e-30);
    check_unary("Erf", erf_ref, -5, 5, 5e-7, 1e-30);
    check_unary("Relu", relu_ref, -5, 5, 0, 1e-30);
}

static void fast_exp_handles_edges(void **state) {
    (void)state;
    int64_t d[] = {6};
    float x[6] = {INFINITY, -INFINITY, NAN, 89.0f, -104.5f, 0.0f};
    fg_tensor a = tens(FG_F32, 1, d, x), y;
    fg_tensor *in[1] = {&a};
    assert_int_equal(run_op("Exp", 13, NULL, 0, in, 1, &y, 1), 0);
    float *o = y.data;
    assert_true(isinf(o[0]) && o[1] == 0 && isnan(o[2]) && isinf(o[3]) && o[4] == 0 && o[5] == 1);
    free(y.data);
    assert_int_equal(run_op("Sigmoid", 13, NULL, 0, in, 1, &y, 1), 0);
    o = y.data;
    assert_true(o[0] == 1 && o[1] == 0 && isnan(o[2]) && o[5] == 0.5f);
    free(y.data);
}

static void isinf_honours_detect_flags(void **state) {
    (void)state;
    int64_t d[] = {4};
    float x[4] = {INFINITY, -INFINITY, NAN, 1};
    fg_tensor a = tens(FG_F32, 1, d, x), y;
    fg_tensor *in[1] = {&a};
    fg_attr at = ai("detect_positive", 0);
    assert_int_equal(run_op("IsInf", 10, &at, 1, in, 1, &y, 1), 0);
    uint8_t w[4] = {0, 1, 0, 0};
    assert_int_equal(y.dtype, FG_BOOL);
    assert_memory_equal(y.data, w, 4);
    free(y.data);
    assert_int_equal(run_op("IsNaN", 13, NULL, 0, in, 1, &y, 1), 0);
    uint8_t w2[4] = {0, 0, 1, 0};
    assert_memory_equal(y.data, w2, 4);
    free(y.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broadcast_runs_match_index_math),
        cmocka_unit_test(broadcast_rejects_mismatched_shapes),
        cmocka_unit_test(legacy_broadcast_aligns_b_at_axis),
        cmocka_unit_test(prelu_before_opset7_uses_channel_slope),
        cmocka_unit_test(variadic_ops_broadcast_every_input),
        cmocka_unit_test(max_propagates_nan),
        cmocka_unit_test(where_broadcasts_three_ways),
        cmocka_unit_test(int_div_truncates_and_survives_zero),
        cmocka_unit_test(mod_follows_fmod_attribute),
        cmocka_unit_test(int_add_mul_wrap),
        cmocka_unit_test(pow_mixes_types),
        cmocka_unit_test(clip_takes_bounds_from_inputs_or_attributes),
        cmocka_unit_test(cast_truncates_and_defines_edge_cases),
        cmocka_unit_test(cast_float16_rounds_to_nearest_even),
        cmocka_unit_test(float16_arithmetic_goes_through_float),
        cmocka_unit_test(fast_float_kernels_are_accurate),
        cmocka_unit_test(fast_exp_handles_edges),
        cmocka_unit_test(isinf_honours_detect_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
