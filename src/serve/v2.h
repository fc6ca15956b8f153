/* v2.h - KServe v2 / Open Inference Protocol codec: pure functions, no server state.
 *
 * Decoding turns an infer request body (JSON, optionally followed by the binary tensor data extension's
 * raw bytes) into an fg_v2_request whose inputs are ready-to-run fg_tensors. JSON "data" arrays are
 * scanned straight into the typed buffer (no DOM node per number); binary tensors are copied. Encoding
 * writes infer responses and metadata documents into a caller-owned growable buffer.
 *
 * Errors: every decode/validate failure is a client error (HTTP 400) with one line in the fg_err, except
 * FG_ENOMEM (a request-sized allocation failed: 503). The caller answers {"error": e.msg}.
 *
 * Usage
 *   fg_v2_request r;
 *   fg_err e = {0};
 *   if (fg_v2_decode_request(body, body_len, hdr_len_or_minus_1, &r, &e) < 0) -> 400 {"error": e.msg}
 *   if (fg_v2_validate_inputs(&r, model_inputs, n_model_inputs, &e) < 0) -> 400
 *   run with r.inputs[i].t ...
 *   fg_v2_buf out = {0}; size_t json_len;
 *   fg_v2_encode_response(&out, "digits", "1", r.id, outs, n_outs, &json_len, &e);
 *   if (json_len < out.len) send header Inference-Header-Content-Length: json_len
 *   fg_v2_buf_free(&out); fg_v2_request_free(&r);
 */
#ifndef FG_SERVE_V2_H
#define FG_SERVE_V2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "frugal/engine.h"

/* Deepest JSON nesting accepted anywhere in a request (objects and arrays together). */
#define FG_V2_MAX_DEPTH 64
/* Longest number token accepted (digits, sign, exponent): longer ones are rejected, not truncated. */
#define FG_V2_MAX_NUMBER_LEN 512

/* One decoded input. t.data is malloc'd and owned by the request; n_bytes is its size. */
typedef struct fg_v2_input {
    char *name;
    fg_tensor t;
    size_t n_elems;
    size_t n_bytes;
    bool binary; /* came from the binary tensor data section */
} fg_v2_input;

/* One requested output ("outputs" entry). binary_data: -1 when the request did not say, else 0 or 1. */
typedef struct fg_v2_output_req {
    char *name;
    int binary_data;
} fg_v2_output_req;

/* A request parameter frugal does not interpret: its key and the raw JSON text of its value. */
typedef struct fg_v2_param {
    char *key;
    char *raw;
} fg_v2_param;

typedef struct fg_v2_request {
    char *id; /* NULL when absent; echo it back in the response */
    fg_v2_input *inputs;
    size_t n_inputs;
    fg_v2_output_req *outputs; /* NULL / 0 when the request names none (return all outputs) */
    size_t n_outputs;
    bool binary_data_output; /* parameters.binary_data_output: all outputs as binary by default */
    int64_t timeout_us;      /* parameters.timeout in microseconds; -1 when absent */
    fg_v2_param *params;     /* other request parameters, raw */
    size_t n_params;
} fg_v2_request;

/* A growable byte buffer owned by the caller: zero-initialise, encoders append, fg_v2_buf_free frees. */
typedef struct fg_v2_buf {
    char *ptr;
    size_t len;
    size_t cap;
} fg_v2_buf;

/* One output to encode. t->data is read only; binary: send as raw bytes after the JSON. */
typedef struct fg_v2_output {
    const char *name;
    const fg_tensor *t;
    bool binary;
} fg_v2_output;

/* Returns the protocol name ("FP32") of dt, or NULL when the protocol has none for it. Static string. */
const char *fg_v2_dtype_name(fg_dtype dt);

/* Returns the fg_dtype for the protocol name name[0, len), or FG_DT_UNDEFINED (BYTES included). */
fg_dtype fg_v2_dtype_parse(const char *name, size_t len);

/* Bytes per element of dt (BOOL is 1), or 0 for types without a fixed size. */
size_t fg_v2_dtype_size(fg_dtype dt);

/* Decodes an infer request. body[0, body_len) is the whole HTTP body; header_len is the value of the
 * Inference-Header-Content-Length header, or -1 when it was absent (then the whole body is JSON). Bytes
 * after the JSON header are the binary tensor data, consumed by inputs with parameters.binary_data_size
 * in input order; all of it must be used. On success fills *r (zeroed first; free with
 * fg_v2_request_free) and returns 0. On error returns FG_EINVAL (malformed: 400), FG_EUNSUPPORTED (BYTES:
 * 400) or FG_ENOMEM (503) with one line in e, and *r holds nothing to free (freeing it is harmless).
 * body is not kept: everything in *r is a copy. */
int fg_v2_decode_request(const char *body, size_t body_len, int64_t header_len, fg_v2_request *r, fg_err *e);

/* Frees everything r owns and zeroes it. NULL is fine. */
void fg_v2_request_free(fg_v2_request *r);

/* Checks decoded inputs against a model's inputs: every model input present exactly once, no unknown
 * input, same datatype, same rank, equal dims where the model's dim is >= 0 (dynamic dims accept any
 * size; rank -1 accepts any shape). Returns 0 or FG_EINVAL (400) with the names in e->msg. */
int fg_v2_validate_inputs(const fg_v2_request *r, const fg_tensor_info *model_in, size_t n_model_in, fg_err *e);

/* Encodes an infer response into b (appending): {"model_name", "model_version", "id" (when id is not
 * NULL), "outputs": [{name, datatype, shape, data | parameters.binary_data_size}]}; binary outputs' raw
 * bytes follow the JSON in output order. *json_len receives the JSON's length: when it is smaller than
 * the bytes appended, send it as Inference-Header-Content-Length. Numbers: integers exact; FP32 (and
 * FP16/BF16, widened) as %.9g, FP64 as %.17g, so they parse back to the same value; NaN and infinities
 * have no JSON form and are written as null. Cost: one snprintf per non-integral float (~100 ns), the
 * dominant cost of a JSON response; integral floats below 2^24 take a printf-free path.
 * Returns 0, FG_EINVAL (an output dtype the protocol cannot name) or FG_ENOMEM. Strings are escaped. */
int fg_v2_encode_response(fg_v2_buf *b, const char *model_name, const char *model_version, const char *id,
                          const fg_v2_output *outs, size_t n_outs, size_t *json_len, fg_err *e);

/* Encodes GET /v2 server metadata: {"name": "frugal", "version": version, "extensions": [...]}.
 * Returns 0 or FG_ENOMEM. */
int fg_v2_encode_server_metadata(fg_v2_buf *b, const char *version, fg_err *e);

/* Encodes model metadata: {"name", "versions": [...], "platform": "onnx", "inputs": [...], "outputs":
 * [...]} with each tensor's name, datatype and shape (dynamic dims as -1; an unknown rank as [-1]).
 * Returns 0, FG_EINVAL (a dtype the protocol cannot name) or FG_ENOMEM. */
int fg_v2_encode_model_metadata(fg_v2_buf *b, const char *name, const char *const *versions, size_t n_versions,
                                const fg_tensor_info *in, size_t n_in, const fg_tensor_info *out, size_t n_out,
                                fg_err *e);

/* Appends s[0, n) to b. Returns 0 or FG_ENOMEM. */
int fg_v2_buf_append(fg_v2_buf *b, const char *s, size_t n);
/* Appends the NUL-terminated s to b. Returns 0 or FG_ENOMEM. */
int fg_v2_buf_puts(fg_v2_buf *b, const char *s);
/* Appends s as a quoted, escaped JSON string. Returns 0 or FG_ENOMEM. */
int fg_v2_buf_append_json_str(fg_v2_buf *b, const char *s);
/* Appends printf-formatted text. Returns 0 or FG_ENOMEM. */
int fg_v2_buf_printf(fg_v2_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Frees b's memory and zeroes it. */
void fg_v2_buf_free(fg_v2_buf *b);

/* Tests only: formats v as the response encoder does (what printf's "%.9g" writes) into buf (at least
 * 32 bytes, NUL-terminated); returns the length. */
size_t fg_v2_test_format_f32(char *buf, float v);

#endif
