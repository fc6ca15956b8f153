/* Tests for src/engine/ops/reduce.c: each kernel is called directly through its fg_op_def (infer,
 * prepare, run, release) and compared with a naive reference, across the fast [outer, axis, inner]
 * paths, the general multi-axis path and the threaded paths. */
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
 * request, if any (run_kernel). */
static int run_op(const char *op, int opset, fg_attr *attrs, int n_attrs, fg_tensor **in, int n_in, fg_tensor *out,
                  int n_out, int nt, int *need_value) {
    return run_kernel(op, opset, attrs, n_attrs, in, n_in, out, n_out,
                      &(kernel_env){.n_threads = nt, .need_value = need_value});
}

static void assert_close(const float *got, const double *want, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-5 + 1e-4 * fabs(want[i])))
            fail_msg("element %lld is %.9g, expected %.9g", (long long)i, got[i], want[i]);
}

/* ---- Reduce* ---- */

static const char *const rnames[] = {"ReduceSum", "ReduceMean", "ReduceSumSquare", "ReduceL1", "ReduceL2",
                                     "ReduceLogSum", "ReduceLogSumExp", "ReduceProd", "ReduceMax", "ReduceMin"};

/* Naive reference: every input element is mapped to its output index by dropping reduced dims. */
static void ref_reduce(int op, const float *x, int rank, const int64_t *dims, const bool *mask, double *y,
                       int64_t n_out) {
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d];
    double *a = calloc((size_t)n_out, sizeof *a), *m = malloc((size_t)n_out * sizeof *m);
    int64_t *cnt = calloc((size_t)n_out, sizeof *cnt);
    for (int64_t k = 0; k < n_out; k++) {
        m[k] = -INFINITY;
        a[k] = op == 7 ? 1 : op == 9 ? INFINITY : op == 8 ? -INFINITY : 0;
    }
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i = 0; i < n; i++) {
            int64_t rem = i, o = 0, os = 1;
            for (int d = rank - 1; d >= 0; d--) {
                int64_t id = rem % dims[d];
                rem /= dims[d];
                if (!mask[d]) {
                    o += id * os;
                    os *= dims[d];
                }
            }
            double v = x[i];
            if (pass == 0) {
                m[o] = v > m[o] ? v : m[o];
                cnt[o]++;
                continue;
            }
            switch (op) {
            case 0: case 1: case 5: a[o] += v; break;
            case 2: case 4: a[o] += v * v; break;
            case 3: a[o] += fabs(v); break;
            case 6: a[o] += exp(v - m[o]); break;
            case 7: a[o] *= v; break;
            case 8: a[o] = v > a[o] ? v : a[o]; break;
            case 9: a[o] = v < a[o] ? v : a[o]; break;
            }
        }
    for (int64_t k = 0; k < n_out; k++) {
        switch (op) {
        case 1: y[k] = a[k] / (double)cnt[k]; break;
        case 4: y[k] = sqrt(a[k]); break;
        case 5: y[k] = log(a[k]); break;
        case 6: y[k] = m[k] + log(a[k]); break;
        default: y[k] = a[k];
        }
    }
    free(a);
    free(m);
    free(cnt);
}

static void check_reduce_case(int rank, const int64_t *dims, int64_t *axes, int n_axes, int keep, int noop,
                              int nt) {
    int64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= dims[d];
    float *x = randf(n, 7, 0.5f, 1.5f); /* positive and near 1: LogSum and Prod stay finite */
    bool mask[FG_MAX_RANK] = {0};
    for (int k = 0; k < n_axes; k++)
        mask[axes[k] < 0 ? axes[k] + rank : axes[k]] = true;
    if (n_axes == 0 && !noop)
        for (int d = 0; d < rank; d++)
            mask[d] = true;
    int64_t n_out = 1, od[FG_MAX_RANK];
    int orank = 0;
    for (int d = 0; d < rank; d++) {
        if (!mask[d]) {
            n_out *= dims[d];
            od[orank++] = dims[d];
        } else if (keep) {
            od[orank++] = 1;
        }
    }
    double *want = malloc((size_t)n_out * sizeof *want);
    fg_tensor xt = tens(FG_F32, rank, dims, x);
    int64_t ad[1] = {n_axes};
    fg_tensor at = tens(FG_I64, 1, ad, axes);
    for (int op = 0; op < 10; op++) {
        if (op == 7 && n / n_out > 200)
            continue; /* products of long runs leave float range */
        ref_reduce(op, x, rank, dims, mask, want, n_out);
        /* axes as an attribute (opset 13) and, for all ops, as an input (opset 18) */
        for (int as_input = 0; as_input < 2; as_input++) {
            fg_attr attrs[3] = {ai("keepdims", keep), ai("noop_with_empty_axes", noop), ais("axes", axes, (size_t)n_axes)};
            fg_tensor *in[2] = {&xt, &at};
            fg_tensor out;
            int rc = run_op(rnames[op], as_input ? 18 : 13, attrs, as_input || n_axes == 0 ? 2 : 3, in,
                            as_input ? 2 : 1, &out, 1, nt, NULL);
            assert_int_equal(rc, 0);
            assert_int_equal(out.rank, orank);
            for (int d = 0; d < orank; d++)
                assert_int_equal(out.dims[d], od[d]);
            assert_close(out.data, want, n_out);
            free_outs(&out, 1);
        }
    }
    free(want);
    free(x);
}

static void reduce_matches_reference_on_every_layout(void **state) {
    (void)state;
    int64_t d4[] = {3, 4, 5, 6};
    int64_t a1[] = {1}, a3[] = {3}, a0[] = {0}, a13[] = {1, 3}, a02[] = {0, 2}, an[] = {-1, -2}, a023[] = {0, 2, 3};
    int64_t *cases[] = {a1, a3, a0, a13, a02, an, a023};
    int ncase[] = {1, 1, 1, 2, 2, 2, 3};
    for (int k = 0; k < 7; k++)
        for (int keep = 0; keep < 2; keep++)
            check_reduce_case(4, d4, cases[k], ncase[k], keep, 0, 1);
    check_reduce_case(4, d4, NULL, 0, 1, 0, 1); /* empty axes: all */
    check_reduce_case(4, d4, NULL, 0, 0, 1, 1); /* noop: elementwise transform only */
    int64_t d1[] = {3, 1, 5}, ax1[] = {1};
    check_reduce_case(3, d1, ax1, 1, 0, 0, 1); /* reducing a size-1 axis still applies the op */
}

static void reduce_threads_give_same_result(void **state) {
    (void)state;
    int64_t d[] = {64, 40, 33}, a2[] = {2}, a0[] = {0}, a02[] = {0, 2}, a1[] = {1};
    check_reduce_case(3, d, a2, 1, 1, 0, 4);
    check_reduce_case(3, d, a0, 1, 1, 0, 4);
    check_reduce_case(3, d, a02, 1, 0, 0, 4);
    check_reduce_case(3, d, a1, 1, 0, 0, 3);
    int64_t big[] = {3, 100000}, al[] = {1};
    check_reduce_case(2, big, al, 1, 0, 0, 2); /* long rows: blocked float sums folded into doubles */
}

static void reduce_int64_is_exact(void **state) {
    (void)state;
    int64_t dims[] = {2, 3}, x[] = {1, -5, 3, 4, 2, -6}, axes[] = {1};
    fg_tensor xt = tens(FG_I64, 2, dims, x), *in[] = {&xt};
    fg_attr attrs[] = {ai("keepdims", 0), ais("axes", axes, 1)};
    const char *ops[] = {"ReduceSum", "ReduceProd", "ReduceMax", "ReduceMin"};
    int64_t want[4][2] = {{-1, 0}, {-15, -48}, {3, 4}, {-5, -6}};
    for (int k = 0; k < 4; k++) {
        fg_tensor out;
        assert_int_equal(run_op(ops[k], 13, attrs, 2, in, 1, &out, 1, 1, NULL), 0);
        assert_int_equal(out.dtype, FG_I64);
        assert_int_equal(out.rank, 1);
        assert_memory_equal(out.data, want[k], sizeof want[k]);
        free_outs(&out, 1);
    }
    int32_t x32[] = {7, 1, 2, 3, 4, 5};
    fg_tensor x32t = tens(FG_I32, 2, dims, x32), *in32[] = {&x32t};
    fg_tensor out;
    assert_int_equal(run_op("ReduceSum", 11, attrs + 1, 1, in32, 1, &out, 1, 1, NULL), 0);
    assert_int_equal(out.dtype, FG_I32);
    assert_int_equal(((int32_t *)out.data)[0], 10);
    assert_int_equal(((int32_t *)out.data)[1], 12);
    free_outs(&out, 1);
}

static void reduce_reports_bad_and_unknown_axes(void **state) {
    (void)state;
    int64_t dims[] = {2, 3};
    float x[6] = {0};
    fg_tensor xt = tens(FG_F32, 2, dims, x), out;
    int64_t ad[] = {1};
    fg_tensor at = tens(FG_I64, 1, ad, NULL), *in[] = {&xt, &at};
    int need = -1;
    assert_int_equal(run_op("ReduceSum", 13, NULL, 0, in, 2, &out, 1, 1, &need), FG_ENEEDVALUE);
    assert_int_equal(need, 1);
    int64_t bad[] = {2}, dup[] = {1, -1};
    fg_attr a1[] = {ais("axes", bad, 1)}, a2[] = {ais("axes", dup, 2)};
    assert_int_equal(run_op("ReduceMean", 13, a1, 1, in, 1, &out, 1, 1, NULL), FG_EINVAL);
    assert_int_equal(run_op("ReduceMean", 13, a2, 1, in, 1, &out, 1, 1, NULL), FG_EINVAL);
    uint8_t u[6] = {0};
    fg_tensor ut = tens(FG_U8, 2, dims, u), *uin[] = {&ut};
    assert_int_equal(run_op("ReduceMean", 13, NULL, 0, uin, 1, &out, 1, 1, NULL), FG_EUNSUPPORTED);
}

/* ---- ArgMax / ArgMin ---- */

static void argmax_breaks_ties_by_select_last_index(void **state) {
    (void)state;
    int64_t dims[] = {2, 3, 2};
    float x[] = {1, 5, 3, 5, 3, 0, /**/ 2, 2, 2, 2, 1, 9};
    fg_tensor xt = tens(FG_F32, 3, dims, x), *in[] = {&xt}, out;
    fg_attr first[] = {ai("axis", 1), ai("keepdims", 0)};
    assert_int_equal(run_op("ArgMax", 13, first, 2, in, 1, &out, 1, 1, NULL), 0);
    int64_t w1[] = {1, 0, 0, 2};
    assert_int_equal(out.rank, 2);
    assert_memory_equal(out.data, w1, sizeof w1);
    free_outs(&out, 1);
    fg_attr last[] = {ai("axis", -2), ai("keepdims", 1), ai("select_last_index", 1)};
    assert_int_equal(run_op("ArgMax", 13, last, 3, in, 1, &out, 1, 1, NULL), 0);
    int64_t w2[] = {2, 1, 1, 2};
    assert_int_equal(out.rank, 3);
    assert_int_equal(out.dims[1], 1);
    assert_memory_equal(out.data, w2, sizeof w2);
    free_outs(&out, 1);
    fg_attr mn[] = {ai("axis", 2), ai("keepdims", 0)};
    assert_int_equal(run_op("ArgMin", 13, mn, 2, in, 1, &out, 1, 1, NULL), 0);
    int64_t w3[] = {0, 0, 1, 0, 0, 0};
    assert_memory_equal(out.data, w3, sizeof w3);
    free_outs(&out, 1);
}

/* ---- Softmax family ---- */

static void softmax_coerces_to_2d_before_opset_13(void **state) {
    (void)state;
    int64_t dims[] = {2, 3, 4};
    float *x = randf(24, 3, -3, 3);
    fg_tensor xt = tens(FG_F32, 3, dims, x), *in[] = {&xt}, out;
    fg_attr ax1[] = {ai("axis", 1)};
    double want[24];
    /* opset 11: rows of 12 */
    for (int o = 0; o < 2; o++) {
        double m = -INFINITY, s = 0;
        for (int j = 0; j < 12; j++)
            m = fmax(m, x[o * 12 + j]);
        for (int j = 0; j < 12; j++)
            s += exp(x[o * 12 + j] - m);
        for (int j = 0; j < 12; j++)
            want[o * 12 + j] = exp(x[o * 12 + j] - m) / s;
    }
    assert_int_equal(run_op("Softmax", 11, ax1, 1, in, 1, &out, 1, 1, NULL), 0);
    assert_close(out.data, want, 24);
    free_outs(&out, 1);
    /* opset 13: along axis 1 only (stride 4) */
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 4; i++) {
            double m = -INFINITY, s = 0;
            for (int j = 0; j < 3; j++)
                m = fmax(m, x[o * 12 + j * 4 + i]);
            for (int j = 0; j < 3; j++)
                s += exp(x[o * 12 + j * 4 + i] - m);
            for (int j = 0; j < 3; j++)
                want[o * 12 + j * 4 + i] = log(exp(x[o * 12 + j * 4 + i] - m) / s);
        }
    assert_int_equal(run_op("LogSoftmax", 13, ax1, 1, in, 1, &out, 1, 1, NULL), 0);
    assert_close(out.data, want, 24);
    free_outs(&out, 1);
    free(x);
}

static void softmax_rows_in_parallel_sum_to_one(void **state) {
    (void)state;
    int64_t dims[] = {4, 128, 128};
    int64_t n = 4 * 128 * 128;
    float *x = randf(n, 11, -20, 20);
    fg_tensor xt = tens(FG_F32, 3, dims, x), *in[] = {&xt}, out;
    assert_int_equal(run_op("Softmax", 13, NULL, 0, in, 1, &out, 1, 4, NULL), 0);
    const float *y = out.data;
    for (int64_t r = 0; r < n / 128; r++) {
        double s = 0, m = -INFINITY;
        for (int j = 0; j < 128; j++)
            m = fmax(m, x[r * 128 + j]);
        for (int j = 0; j < 128; j++)
            s += exp(x[r * 128 + j] - m);
        for (int j = 0; j < 128; j++) {
            double w = exp(x[r * 128 + j] - m) / s;
            if (!(fabs(y[r * 128 + j] - w) <= 1e-7 + 1e-4 * w))
                fail_msg("row %lld col %d: %g vs %g", (long long)r, j, y[r * 128 + j], w);
        }
    }
    free_outs(&out, 1);
    free(x);
}

static void hardmax_marks_first_maximum(void **state) {
    (void)state;
    int64_t dims[] = {2, 3};
    float x[] = {1, 3, 3, 0, -1, -2};
    fg_tensor xt = tens(FG_F32, 2, dims, x), *in[] = {&xt}, out;
    assert_int_equal(run_op("Hardmax", 13, NULL, 0, in, 1, &out, 1, 1, NULL), 0);
    float w[] = {0, 1, 0, 1, 0, 0};
    assert_memory_equal(out.data, w, sizeof w);
    free_outs(&out, 1);
    fg_attr a0[] = {ai("axis", 0)};
    assert_int_equal(run_op("Hardmax", 13, a0, 1, in, 1, &out, 1, 1, NULL), 0);
    float w0[] = {1, 1, 1, 0, 0, 0};
    assert_memory_equal(out.data, w0, sizeof w0);
    free_outs(&out, 1);
}

/* ---- normalisations ---- */

static void layernorm_writes_mean_and_invstddev(void **state) {
    (void)state;
    int64_t dims[] = {2, 3, 4}, sd[] = {4}, bd[] = {3, 4};
    float *x = randf(24, 5, -2, 2), sc[] = {1, 2, 0.5f, -1}, b[12];
    for (int i = 0; i < 12; i++)
        b[i] = 0.1f * (float)i;
    fg_tensor xt = tens(FG_F32, 3, dims, x), st = tens(FG_F32, 1, sd, sc), bt = tens(FG_F32, 2, bd, b);
    fg_tensor *in[] = {&xt, &st, &bt}, out[3];
    fg_attr attrs[] = {ai("axis", 1), af("epsilon", 1e-3f)};
    assert_int_equal(run_op("LayerNormalization", 17, attrs, 2, in, 3, out, 3, 1, NULL), 0);
    assert_int_equal(out[1].rank, 3);
    assert_int_equal(out[1].dims[0], 2);
    assert_int_equal(out[1].dims[1], 1);
    double want[24], wm[2], wi[2];
    for (int o = 0; o < 2; o++) {
        double m = 0, v = 0;
        for (int j = 0; j < 12; j++)
            m += x[o * 12 + j];
        m /= 12;
        for (int j = 0; j < 12; j++)
            v += (x[o * 12 + j] - m) * (x[o * 12 + j] - m);
        double inv = 1 / sqrt(v / 12 + 1e-3);
        wm[o] = m;
        wi[o] = inv;
        for (int j = 0; j < 12; j++)
            want[o * 12 + j] = (x[o * 12 + j] - m) * inv * sc[j % 4] + b[j];
    }
    assert_close(out[0].data, want, 24);
    assert_close(out[1].data, wm, 2);
    assert_close(out[2].data, wi, 2);
    free_outs(out, 3);
    free(x);
}

static void instancenorm_normalises_each_channel(void **state) {
    (void)state;
    int64_t dims[] = {2, 3, 5}, cd[] = {3};
    float *x = randf(30, 9, -1, 4), sc[] = {1, 2, 3}, b[] = {0, -1, 1};
    fg_tensor xt = tens(FG_F32, 3, dims, x), st = tens(FG_F32, 1, cd, sc), bt = tens(FG_F32, 1, cd, b);
    fg_tensor *in[] = {&xt, &st, &bt}, out;
    assert_int_equal(run_op("InstanceNormalization", 6, NULL, 0, in, 3, &out, 1, 1, NULL), 0);
    double want[30];
    for (int r = 0; r < 6; r++) {
        double m = 0, v = 0;
        for (int j = 0; j < 5; j++)
            m += x[r * 5 + j] / 5.0;
        for (int j = 0; j < 5; j++)
            v += (x[r * 5 + j] - m) * (x[r * 5 + j] - m) / 5.0;
        for (int j = 0; j < 5; j++)
            want[r * 5 + j] = (x[r * 5 + j] - m) / sqrt(v + 1e-5) * sc[r % 3] + b[r % 3];
    }
    assert_close(out.data, want, 30);
    free_outs(&out, 1);
    free(x);
}

static void lpnorm_divides_by_norm_along_axis(void **state) {
    (void)state;
    int64_t dims[] = {2, 2};
    float x[] = {3, -1, 4, 0};
    fg_tensor xt = tens(FG_F32, 2, dims, x), *in[] = {&xt}, out;
    fg_attr a0[] = {ai("axis", 0), ai("p", 2)};
    assert_int_equal(run_op("LpNormalization", 1, a0, 2, in, 1, &out, 1, 1, NULL), 0);
    double w[] = {0.6, -1, 0.8, 0};
    assert_close(out.data, w, 4);
    free_outs(&out, 1);
    fg_attr a1[] = {ai("p", 1)};
    assert_int_equal(run_op("LpNormalization", 1, a1, 1, in, 1, &out, 1, 1, NULL), 0);
    double w1[] = {0.75, -0.25, 1, 0};
    assert_close(out.data, w1, 4);
    free_outs(&out, 1);
    fg_attr a3[] = {ai("p", 3)};
    assert_int_equal(run_op("LpNormalization", 1, a3, 1, in, 1, &out, 1, 1, NULL), FG_EINVAL);
}

static void mvn_normalises_over_default_axes(void **state) {
    (void)state;
    int64_t dims[] = {2, 3, 2, 2};
    float *x = randf(24, 13, -1, 1);
    fg_tensor xt = tens(FG_F32, 4, dims, x), *in[] = {&xt}, out;
    assert_int_equal(run_op("MeanVarianceNormalization", 13, NULL, 0, in, 1, &out, 1, 1, NULL), 0);
    double want[24];
    for (int ch = 0; ch < 3; ch++) {
        double m = 0, q = 0;
        for (int nn = 0; nn < 2; nn++)
            for (int s = 0; s < 4; s++) {
                double v = x[nn * 12 + ch * 4 + s];
                m += v / 8;
                q += v * v / 8;
            }
        for (int nn = 0; nn < 2; nn++)
            for (int s = 0; s < 4; s++)
                want[nn * 12 + ch * 4 + s] = (x[nn * 12 + ch * 4 + s] - m) / (sqrt(q - m * m) + 1e-9);
    }
    assert_close(out.data, want, 24);
    free_outs(&out, 1);
    free(x);
}

/* ---- CumSum, TopK ---- */

static void cumsum_exclusive_reverse_along_axis_1(void **state) {
    (void)state;
    int64_t dims[] = {2, 3}, sd[] = {1}, axis[] = {1};
    float x[] = {1, 2, 3, 4, 5, 6};
    fg_tensor xt = tens(FG_F32, 2, dims, x), at = tens(FG_I64, 1, sd, axis), *in[] = {&xt, &at}, out;
    fg_attr attrs[] = {ai("exclusive", 1), ai("reverse", 1)};
    assert_int_equal(run_op("CumSum", 14, attrs, 2, in, 2, &out, 1, 1, NULL), 0);
    float w[] = {5, 3, 0, 11, 6, 0};
    assert_memory_equal(out.data, w, sizeof w);
    free_outs(&out, 1);
    axis[0] = 0;
    int64_t xi[] = {1, 2, 3, 4, 5, 6}, wi[] = {1, 2, 3, 5, 7, 9};
    fg_tensor xit = tens(FG_I64, 2, dims, xi), *in2[] = {&xit, &at};
    assert_int_equal(run_op("CumSum", 14, NULL, 0, in2, 2, &out, 1, 1, NULL), 0);
    assert_memory_equal(out.data, wi, sizeof wi);
    free_outs(&out, 1);
}

static void topk_orders_ties_by_lower_index(void **state) {
    (void)state;
    int64_t dims[] = {4, 2}, kd[] = {1}, k[] = {3};
    float x[] = {1, 5, 3, 5, 3, 0, 2, 7};
    fg_tensor xt = tens(FG_F32, 2, dims, x), kt = tens(FG_I64, 1, kd, k), *in[] = {&xt, &kt}, out[2];
    fg_attr a0[] = {ai("axis", 0)};
    assert_int_equal(run_op("TopK", 11, a0, 1, in, 2, out, 2, 1, NULL), 0);
    assert_int_equal(out[0].dims[0], 3);
    float wv[] = {3, 7, 3, 5, 2, 5};
    int64_t wi[] = {1, 3, 2, 0, 3, 1};
    assert_memory_equal(out[0].data, wv, sizeof wv);
    assert_memory_equal(out[1].data, wi, sizeof wi);
    free_outs(out, 2);
    fg_attr small[] = {ai("axis", 0), ai("largest", 0)};
    assert_int_equal(run_op("TopK", 11, small, 2, in, 2, out, 2, 1, NULL), 0);
    float sv[] = {1, 0, 2, 5, 3, 5};
    int64_t si[] = {0, 2, 3, 0, 1, 1};
    assert_memory_equal(out[0].data, sv, sizeof sv);
    assert_memory_equal(out[1].data, si, sizeof si);
    free_outs(out, 2);
    fg_tensor unknown = tens(FG_I64, 1, kd, NULL), *in2[] = {&xt, &unknown};
    int need = -1;
    assert_int_equal(run_op("TopK", 11, a0, 1, in2, 2, out, 2, 1, &need), FG_ENEEDVALUE);
    assert_int_equal(need, 1);
    k[0] = 5;
    assert_int_equal(run_op("TopK", 11, a0, 1, in, 2, out, 2, 1, NULL), FG_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reduce_matches_reference_on_every_layout),
        cmocka_unit_test(reduce_threads_give_same_result),
        cmocka_unit_test(reduce_int64_is_exact),
        cmocka_unit_test(reduce_reports_bad_and_unknown_axes),
        cmocka_unit_test(argmax_breaks_ties_by_select_last_index),
        cmocka_unit_test(softmax_coerces_to_2d_before_opset_13),
        cmocka_unit_test(softmax_rows_in_parallel_sum_to_one),
        cmocka_unit_test(hardmax_marks_first_maximum),
        cmocka_unit_test(layernorm_writes_mean_and_invstddev),
        cmocka_unit_test(instancenorm_normalises_each_channel),
        cmocka_unit_test(lpnorm_divides_by_norm_along_axis),
        cmocka_unit_test(mvn_normalises_over_default_axes),
        cmocka_unit_test(cumsum_exclusive_reverse_along_axis_1),
        cmocka_unit_test(topk_orders_ties_by_lower_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
