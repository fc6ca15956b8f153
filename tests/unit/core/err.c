/* Tests for src/core/err.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/err.h"

static void err_set_returns_code_and_keeps_first_message(void **state) {
    (void)state;
    fg_err e = {0};
    assert_int_equal(fg_err_set(&e, FG_EINVAL, "first %d", 1), FG_EINVAL);
    assert_int_equal(fg_err_set(&e, FG_EIO, "second"), FG_EIO);
    assert_int_equal(e.code, FG_EINVAL);
    assert_string_equal(e.msg, "first 1");
}

static void err_prefix_adds_context(void **state) {
    (void)state;
    fg_err e = {0};
    fg_err_set(&e, FG_EFORMAT, "bad tensor");
    fg_err_prefix(&e, "%s: ", "model.onnx");
    assert_string_equal(e.msg, "model.onnx: bad tensor");
    assert_int_equal(e.code, FG_EFORMAT);
}

static void err_set_accepts_null(void **state) {
    (void)state;
    assert_int_equal(fg_err_set(NULL, FG_ENOMEM, "x"), FG_ENOMEM);
}

static void strerror_names_every_code(void **state) {
    (void)state;
    for (int c = FG_ESTOPPED; c <= 0; c++)
        assert_string_not_equal(fg_strerror(c), "unknown error");
    assert_string_equal(fg_strerror(-999), "unknown error");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(err_set_returns_code_and_keeps_first_message),
        cmocka_unit_test(err_prefix_adds_context),
        cmocka_unit_test(err_set_accepts_null),
        cmocka_unit_test(strerror_names_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
