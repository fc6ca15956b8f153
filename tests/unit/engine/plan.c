/* Tests for src/engine/plan.c: once a shape's plan exists, running it allocates nothing. Every
 * allocation made by frugal's own code is counted through the linker's --wrap (see CMakeLists). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "test_util.h"

static int g_counting;
static long g_allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t s);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n) {
    g_allocs += g_counting;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t s) {
    g_allocs += g_counting;
    return __real_calloc(n, s);
}
void *__wrap_realloc(void *p, size_t n) {
    g_allocs += g_counting;
    return __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t a, size_t n) {
    g_allocs += g_counting;
    return __real_aligned_alloc(a, n);
}

static void check_no_alloc(const char *model, fg_tensor *in) {
    fg_err e = {0};
    fg_model *m = fg_model_load(model, NULL, &e);
    if (!m)
        fail_msg("%s", e.msg);
    fg_session_opts so = {.n_threads = 2};
    fg_session *s = fg_session_new(m, &so, &e);
    fg_tensor out;
    g_allocs = 0;
    g_counting = 1;
    int rc = fg_session_run(s, in, 1, &out, 1, &e); /* builds the plan: allocates */
    g_counting = 0;
    if (rc < 0)
        fail_msg("%s", e.msg);
    assert_true(g_allocs > 0);
    g_allocs = 0;
    g_counting = 1;
    for (int i = 0; i < 5; i++)
        rc |= fg_session_run(s, in, 1, &out, 1, &e);
    g_counting = 0;
    assert_int_equal(rc, 0);
    assert_int_equal(g_allocs, 0);
    fg_session_free(s);
    fg_model_free(m);
}

static void run_allocates_nothing_once_plan_exists_mlp(void **st) {
    (void)st;
    static float x[4 * 64];
    fg_tensor in = {.dtype = FG_F32, .rank = 2, .dims = {4, 64}, .data = x};
    check_no_alloc(MODELS "/digits_mlp.onnx", &in);
}

static void run_allocates_nothing_once_plan_exists_cnn(void **st) {
    (void)st;
    static float x[16 * 64];
    fg_tensor in = {.dtype = FG_F32, .rank = 4, .dims = {16, 1, 8, 8}, .data = x};
    check_no_alloc(MODELS "/digits_cnn.onnx", &in);
}

/* models/blocks.onnx mixes 3-, 16-, 24- and 32-channel stages, residual adds, ReLU6 and a depthwise
 * conv: channel-blocked layouts, the reorders between them and the fused post-ops must all give torch's
 * answer, fused or not. */
static void blocked_layouts_and_fusions_match_torch(void **st) {
    (void)st;
    fg_tensor x = tu_read(MODELS "/blocks_input.npy"), want = tu_read(MODELS "/blocks_expected.npy");
    for (int opt = 0; opt < 2; opt++) {
        fg_err e = {0};
        fg_model_opts mo = {.no_optimize = !opt};
        fg_model *m = fg_model_load(MODELS "/blocks.onnx", &mo, &e);
        if (!m)
            fail_msg("%s", e.msg);
        size_t loaded, optimised;
        fg_model_node_counts(m, &loaded, &optimised);
        if (opt)
            assert_true(optimised < loaded - 8); /* Relu, Clip and Add folded into the convs */
        fg_session_opts so = {.n_threads = 2};
        fg_session *s = fg_session_new(m, &so, &e);
        fg_tensor out;
        for (int rep = 0; rep < 2; rep++) {
            if (fg_session_run(s, &x, 1, &out, 1, &e) < 0)
                fail_msg("%s", e.msg);
            assert_int_equal(out.rank, 2);
            assert_int_equal(out.dims[0], 2);
            assert_int_equal(out.dims[1], 10);
            for (int i = 0; i < 20; i++)
                assert_true(fabsf(((float *)out.data)[i] - ((float *)want.data)[i]) < 1e-5f);
        }
        fg_session_free(s);
        fg_model_free(m);
    }
    free(x.data);
    free(want.data);
}

static void run_allocates_nothing_once_plan_exists_blocked(void **st) {
    (void)st;
    fg_tensor x = tu_read(MODELS "/blocks_input.npy");
    check_no_alloc(MODELS "/blocks.onnx", &x);
    free(x.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_allocates_nothing_once_plan_exists_mlp),
        cmocka_unit_test(run_allocates_nothing_once_plan_exists_cnn),
        cmocka_unit_test(run_allocates_nothing_once_plan_exists_blocked),
        cmocka_unit_test(blocked_layouts_and_fusions_match_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
