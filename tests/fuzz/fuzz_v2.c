/* fuzz_v2.c - libFuzzer target for the KServe v2 request decoder (src/serve/v2.c).
 * The first two bytes pick the Inference-Header-Content-Length (0xffff: absent); the rest is the body,
 * given as an exact-size copy so ASan sees any read past it. Checked: a decoded request is internally
 * consistent (buffer sizes match shapes), re-encodes as a response that decodes back to the same bytes
 * (inputs that came as binary stay binary: they may hold NaN, which JSON cannot carry),
 * and a failed decode always leaves a message and nothing allocated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/v2.h"

#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            __builtin_trap();                                                                                \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2)
        return 0;
    unsigned hl = (unsigned)data[0] << 8 | data[1];
    size_t len = size - 2;
    char *body = malloc(len ? len : 1);
    memcpy(body, data + 2, len);
    fg_v2_request r;
    fg_err e = {0};
    int rc = fg_v2_decode_request(body, len, hl == 0xffff ? -1 : (int64_t)hl, &r, &e);
    if (rc < 0) {
        CHECK(e.msg[0] != 0);
        CHECK(r.inputs == NULL && r.id == NULL && r.params == NULL && r.outputs == NULL);
        free(body);
        return 0;
    }
    CHECK(r.n_inputs > 0);
    fg_v2_output outs[64];
    size_t n = r.n_inputs < 64 ? r.n_inputs : 64;
    for (size_t i = 0; i < r.n_inputs; i++) {
        fg_v2_input *in = &r.inputs[i];
        size_t el = 1;
        for (int d = 0; d < in->t.rank; d++)
            el *= (size_t)in->t.dims[d];
        CHECK(el == in->n_elems);
        CHECK(in->n_bytes == el * fg_v2_dtype_size(in->t.dtype));
        CHECK(in->t.data != NULL);
        if (in->n_bytes)
            CHECK(((volatile char *)in->t.data)[in->n_bytes - 1] == ((char *)in->t.data)[in->n_bytes - 1]);
        if (i < 64)
            outs[i] = (fg_v2_output){.name = in->name, .t = &in->t, .binary = in->binary || (i & 1) != 0};
    }
    /* encode the inputs as outputs, then decode that text as a request: same values back (NaN-free,
     * since the decoder never produces NaN or infinities) */
    fg_v2_buf b = {0};
    size_t jl;
    CHECK(fg_v2_encode_response(&b, "m", "1", r.id, outs, n, &jl, &e) == 0);
    CHECK(jl <= b.len);
    /* {"model_name":...,"outputs":[...]}<binary> -> {"inputs":[...]}<binary> */
    const char *key = "\"outputs\":";
    char *at = memmem(b.ptr, jl, key, strlen(key));
    CHECK(at != NULL);
    size_t tail = b.len - (size_t)(at + strlen(key) - b.ptr);
    char *req = malloc(tail + 16);
    size_t k = (size_t)sprintf(req, "{\"inputs\":");
    memcpy(req + k, at + strlen(key), tail);
    size_t req_hl = k + (jl - (size_t)(at + strlen(key) - b.ptr));
    fg_v2_request r2;
    fg_err e2 = {0};
    int rc2 = fg_v2_decode_request(req, k + tail, (int64_t)req_hl, &r2, &e2);
    CHECK(rc2 == 0);
    CHECK(r2.n_inputs == n);
    for (size_t i = 0; i < n; i++) {
        CHECK(strcmp(r2.inputs[i].name, r.inputs[i].name) == 0);
        CHECK(r2.inputs[i].t.dtype == r.inputs[i].t.dtype && r2.inputs[i].t.rank == r.inputs[i].t.rank);
        CHECK(r2.inputs[i].n_bytes == r.inputs[i].n_bytes);
        CHECK(memcmp(r2.inputs[i].t.data, r.inputs[i].t.data, r.inputs[i].n_bytes) == 0);
    }
    fg_v2_request_free(&r2);
    free(req);
    fg_v2_buf_free(&b);
    fg_v2_request_free(&r);
    free(body);
    return 0;
}
