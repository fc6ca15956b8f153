/* Tests for src/engine/ops/common.c: the op registry holds every op the engine promises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "engine/ops/ops.h"

static void registry_has_every_required_op(void **st) {
    (void)st;
    static const char *required[] = {
        "Identity", "Dropout", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Log", "Abs", "Neg", "Max",
        "Min", "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Clip", "Softmax",
        "LogSoftmax", "Gemm", "MatMul", "Conv", "ConvTranspose", "BatchNormalization", "MaxPool", "AveragePool",
        "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Transpose", "Concat", "Split", "Slice",
        "Squeeze", "Unsqueeze", "Shape", "Size", "Gather", "Cast", "ReduceMean", "ReduceSum", "ReduceMax",
        "Resize", "Pad", "Where", "Expand", "Equal", "Less", "Greater", "Not", "Range", "ConstantOfShape",
        "LayerNormalization",
    };
    int missing = 0;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!fg_op_find("", required[i])) {
            fprintf(stderr, "missing op: %s\n", required[i]);
            missing++;
        }
    assert_int_equal(missing, 0);
}

static void registry_accepts_only_the_default_domain(void **st) {
    (void)st;
    assert_non_null(fg_op_find("ai.onnx", "Relu"));
    assert_null(fg_op_find("com.microsoft", "Relu"));
    assert_null(fg_op_find("", "NoSuchOp"));
}

static void every_registered_op_can_infer_and_run(void **st) {
    (void)st;
    const fg_op_def *families[] = {fg_ops_elementwise, fg_ops_reduce, fg_ops_shape, fg_ops_nn};
    int n = 0;
    for (size_t f = 0; f < 4; f++)
        for (const fg_op_def *d = families[f]; d->type; d++, n++) {
            assert_non_null(d->infer);
            assert_non_null(d->run);
        }
    assert_true(n >= 60);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registry_has_every_required_op),
        cmocka_unit_test(registry_accepts_only_the_default_domain),
        cmocka_unit_test(every_registered_op_can_infer_and_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
