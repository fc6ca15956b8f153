/* fuzz_tensor.c - libFuzzer target for the tensor file parsers (ONNX TensorProto and .npy). */
#include <stdint.h>
#include <stdlib.h>

#include "engine/tensor_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fg_err e = {0};
    fg_tensor t;
    char *name = NULL;
    if (fg_tensor_parse_pb(data, size, &t, &name, &e) == 0) {
        free(t.data);
        free(name);
    }
    fg_err_clear(&e);
    if (fg_tensor_parse_npy(data, size, &t, &e) == 0)
        free(t.data);
    return 0;
}
