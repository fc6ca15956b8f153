/* target.h - what frugal bench sends and where: the server's address and a pool of complete,
 * pre-built HTTP/1.1 requests (head and body bytes), so the load loop never formats anything.
 *
 * A KServe v2 target (--model) reads the model's metadata (GET /v2/models/NAME) and builds infer
 * requests for its inputs (-1 dimensions take the batch size) with random data, JSON or binary tensors
 * (Triton's binary tensor extension); or sends one request body from a file as is; or a pool of N
 * distinct random requests picked with a Zipf distribution (to exercise caches). A plain target sends
 * one request (method, headers, body) to the URL. */
#ifndef FG_BENCH_TARGET_H
#define FG_BENCH_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"
#include "serve/scrape.h"

#define FG_BENCH_MAX_HEADERS 32
#define FG_BENCH_RANDOM_POOL 16          /* distinct random requests cycled through with --inputs random */
#define FG_BENCH_MAX_POOL_BYTES (1u << 30) /* all pre-built requests together */

/* How to build the requests; strings are borrowed for the duration of fg_bench_target_build. */
typedef struct fg_bench_target_opts {
    const char *url;
    const char *model;      /* NULL: plain target */
    int64_t batch;          /* value of -1 dimensions (>= 1) */
    const char *inputs;     /* "random" (default) or "zipf:S:N" */
    const char *input_file; /* v2: a request body sent as is */
    int binary;             /* v2: binary tensors */
    const char *method;     /* plain: GET (default, or POST with a body) */
    const char *headers[FG_BENCH_MAX_HEADERS]; /* "K: V" */
    size_t n_headers;
    const char *body_file; /* plain: request body */
    uint64_t seed;
} fg_bench_target_opts;

/* The built target. Requests are complete HTTP/1.1 messages. */
typedef struct fg_bench_target {
    fg_url url;
    char base[1400];      /* the URL as given, for reports */
    char model[256];      /* "" for plain */
    int v2, binary;
    char method[16];
    char inputs[64];      /* "random", "file", "zipf:S:N", or "" for plain */
    char **req;           /* n_req pre-built requests */
    size_t *req_len;
    size_t n_req;
    double *zipf_cdf;     /* n_req cumulative probabilities when picking by Zipf, else NULL (round robin) */
    struct sockaddr_storage addr;
    socklen_t addr_len;
} fg_bench_target;

/* Resolves the address, fetches the metadata (v2) and builds the request pool into *t (free with
 * fg_bench_target_free, also after a failure). 0, or a negative FG_E* code with e naming the problem
 * (unreachable server, unknown model, unsupported datatype, unreadable file, bad zipf spec). */
int fg_bench_target_build(const fg_bench_target_opts *o, fg_bench_target *t, fg_err *e);

/* Builds the request pool from a model metadata document (JSON text) without any network: used by
 * fg_bench_target_build and tests. t->url, model, binary must be set. 0 or FG_E* with e. */
int fg_bench_target_from_metadata(fg_bench_target *t, const char *meta, size_t meta_len, int64_t batch,
                                  const char *inputs, uint64_t seed, const char *const *headers,
                                  size_t n_headers, fg_err *e);

/* Frees everything t holds (safe on a zeroed or failed target). */
void fg_bench_target_free(fg_bench_target *t);

/* Parses "zipf:S:N" (S > 0 exponent, N >= 1 distinct inputs); 0 or FG_EINVAL. */
int fg_bench_parse_zipf(const char *s, double *exponent, size_t *n);

/* Cumulative Zipf(s) probabilities over ranks 1..n into cdf[n] (last is 1). */
void fg_bench_zipf_cdf(double s, size_t n, double *cdf);

/* The index (0-based rank) that u in [0, 1) falls on in cdf[n]: binary search, no allocation. */
size_t fg_bench_zipf_pick(const double *cdf, size_t n, double u);

#endif
