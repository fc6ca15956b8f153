/* fuzz_onnx_load.c - libFuzzer target for the ONNX loader and planner: any bytes either load or give
 * an error; a model that loads is run once on zero inputs of its declared shape (dynamic dims = 1),
 * so kernels' attribute and shape checks are fuzzed too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frugal/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fg_err e = {0};
    /* 4 MiB per tensor: enough for every op path, small enough that real work never looks like a hang */
    fg_model_opts mo = {.max_tensor_bytes = 4 << 20};
    fg_model *m = fg_model_load_buffer(data, size, &mo, &e);
    if (!m)
        return 0;
    size_t n_in = fg_model_n_inputs(m);
    fg_tensor in[16];
    memset(in, 0, sizeof in);
    int ok = n_in <= 16;
    for (size_t i = 0; ok && i < n_in; i++) {
        const fg_tensor_info *info = fg_model_input(m, i);
        if (info->rank < 0 || !fg_dtype_size(info->dtype)) {
            ok = 0;
            break;
        }
        in[i].dtype = info->dtype;
        in[i].rank = info->rank;
        for (int d = 0; d < info->rank; d++)
            in[i].dims[d] = info->dims[d] >= 0 ? info->dims[d] : 1;
        int64_t n = fg_tensor_numel(&in[i]);
        if (n > 4096) {
            ok = 0;
            break;
        }
        in[i].data = calloc((size_t)n + 1, fg_dtype_size(in[i].dtype));
    }
    if (ok) {
        fg_session_opts so = {.n_threads = 1, .max_tensor_bytes = 4 << 20};
        fg_session *s = fg_session_new(m, &so, &e);
        fg_tensor out[8];
        size_t n_out = fg_model_n_outputs(m);
        if (s)
            fg_session_run(s, in, n_in, out, n_out < 8 ? n_out : 8, &e);
        fg_session_free(s);
    }
    for (size_t i = 0; i < n_in && i < 16; i++)
        free(in[i].data);
    fg_model_free(m);
    return 0;
}
