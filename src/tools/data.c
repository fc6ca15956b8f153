/* data.c - the tensor files the subcommands take (--input, --data, --labels, --calib): NumPy .npy, ONNX
 * TensorProto .pb, or a KServe v2 infer request in JSON ({"inputs": [{"name", "shape", "datatype",
 * "data"}]}, the body a client sends to /v2/models/M/infer), chosen by content. A JSON file must hold
 * exactly one input: which of several a flag meant would be a guess. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "engine/tensor_io.h"
#include "serve/v2.h"
#include "tools/tools.h"

/* The first non-space byte of buf[0, len), or 0. */
static char first_byte(const char *buf, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r')
            return buf[i];
    return 0;
}

int fg_tool_read_tensor(const char *path, fg_tensor *t, fg_err *e) {
    void *buf;
    size_t len;
    memset(t, 0, sizeof *t);
    int rc = fg_read_file(path, &buf, &len, e);
    if (rc < 0)
        return rc;
    if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0) {
        rc = fg_tensor_parse_npy(buf, len, t, e);
    } else if (first_byte(buf, len) == '{') {
        fg_v2_request r;
        rc = fg_v2_decode_request(buf, len, -1, &r, e);
        if (rc == 0 && r.n_inputs != 1) {
            rc = fg_err_set(e, FG_EINVAL, "a v2 infer request with %zu inputs (one tensor per file)", r.n_inputs);
        } else if (rc == 0) {
            *t = r.inputs[0].t; /* the request gives up its only tensor */
            r.inputs[0].t.data = NULL;
        }
        fg_v2_request_free(&r);
    } else {
        rc = fg_tensor_parse_pb(buf, len, t, NULL, e);
    }
    free(buf);
    return rc;
}
