/* target.c - frugal bench's request pool: address resolution, KServe v2 model metadata (through
 * fg_http_get and the core JSON reader), random tensors in JSON or binary form, Zipf pools, plain
 * requests. Everything is built before the load starts; the load loop only copies these bytes. */
#include "bench/target.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/json.h"
#include "serve/v2.h"

#define MAX_ELEMS (16u << 20) /* elements per request: keeps a mistaken --batch from eating the memory */
#define MAX_INPUTS 64

typedef struct {
    char name[256];
    fg_dtype dt;
    char dt_name[16];
    int64_t shape[16];
    size_t rank, n_elems;
} input_spec;

/* splitmix64: small, fast and good enough for random tensor data and arrival times. */
static uint64_t next_rand(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rand01(uint64_t *s) { return (double)(next_rand(s) >> 11) * 0x1.0p-53; }

static uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xff, man = x & 0x7fffffu;
    if (exp < 113) /* below the smallest normal half: flush to zero (random data in [0,1) rarely gets here) */
        return (uint16_t)sign;
    if (exp > 142)
        return (uint16_t)(sign | 0x7c00u);
    return (uint16_t)(sign | ((exp - 112) << 10) | (man >> 13));
}

int fg_bench_parse_zipf(const char *s, double *exponent, size_t *n) {
    if (strncmp(s, "zipf:", 5) != 0)
        return FG_EINVAL;
    char *end;
    errno = 0;
    double e = strtod(s + 5, &end);
    if (errno || end == s + 5 || *end != ':' || !(e > 0 && e <= 10))
        return FG_EINVAL;
    const char *p = end + 1;
    if (*p < '0' || *p > '9')
        return FG_EINVAL;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || *end || v < 1 || v > 10000000)
        return FG_EINVAL;
    *exponent = e;
    *n = (size_t)v;
    return 0;
}

void fg_bench_zipf_cdf(double s, size_t n, double *cdf) {
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        cdf[i] = (sum += pow((double)(i + 1), -s));
    for (size_t i = 0; i < n; i++)
        cdf[i] /= sum;
    cdf[n - 1] = 1.0;
}

size_t fg_bench_zipf_pick(const double *cdf, size_t n, double u) {
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void fg_bench_target_free(fg_bench_target *t) {
    for (size_t i = 0; i < t->n_req; i++)
        free(t->req[i]);
    free(t->req);
    free(t->req_len);
    free(t->zipf_cdf);
    t->req = NULL;
    t->req_len = NULL;
    t->zipf_cdf = NULL;
    t->n_req = 0;
}

/* Checks one "K: V" header for a name and no CR/LF (they would split the request). */
static int header_ok(const char *h) {
    const char *c = strchr(h, ':');
    if (!c || c == h || strpbrk(h, "\r\n"))
        return 0;
    for (const char *p = h; p < c; p++)
        if (*p <= ' ' || *p >= 127)
            return 0;
    return 1;
}

/* Appends the request head for a body of body_len bytes to b. */
static int put_head(fg_v2_buf *b, const fg_bench_target *t, const char *path, const char *ctype, long hdr_len,
                    size_t body_len, int has_body, const char *const *headers, size_t n_headers) {
    int host_given = 0;
    for (size_t i = 0; i < n_headers; i++)
        if (strncasecmp(headers[i], "host:", 5) == 0)
            host_given = 1;
    int rc = fg_v2_buf_printf(b, "%s %s HTTP/1.1\r\n", t->method, path);
    if (!rc && !host_given) {
        int v6 = strchr(t->url.host, ':') != NULL;
        rc = fg_v2_buf_printf(b, "Host: %s%s%s:%s\r\n", v6 ? "[" : "", t->url.host, v6 ? "]" : "", t->url.port);
    }
    if (!rc)
        rc = fg_v2_buf_puts(b, "User-Agent: frugal-bench\r\n");
    for (size_t i = 0; !rc && i < n_headers; i++)
        rc = fg_v2_buf_printf(b, "%s\r\n", headers[i]);
    if (!rc && ctype)
        rc = fg_v2_buf_printf(b, "Content-Type: %s\r\n", ctype);
    if (!rc && hdr_len >= 0)
        rc = fg_v2_buf_printf(b, "Inference-Header-Content-Length: %ld\r\n", hdr_len);
    if (!rc && has_body)
        rc = fg_v2_buf_printf(b, "Content-Length: %zu\r\n", body_len);
    if (!rc)
        rc = fg_v2_buf_puts(b, "\r\n");
    return rc;
}

static void add_request(fg_bench_target *t, fg_v2_buf *b) {
    t->req[t->n_req] = b->ptr;
    t->req_len[t->n_req] = b->len;
    t->n_req++;
    b->ptr = NULL;
    b->len = b->cap = 0;
}

/* Percent-encodes a model name for the path (names are usually plain; anything else stays valid). */
static void path_escape(const char *s, char *out, size_t n) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < n; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-._~", *p))
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, n - o, "%%%02X", *p);
    }
    out[o] = 0;
}

/* Base path of the URL without a trailing slash ("" for "/"). */
static void base_path(const fg_url *u, char *out, size_t n) {
    snprintf(out, n, "%s", u->path);
    size_t l = strlen(out);
    while (l && out[l - 1] == '/')
        out[--l] = 0;
}

/* Appends one random element of dt as JSON text. */
static int put_json_elem(fg_v2_buf *b, fg_dtype dt, uint64_t *rs) {
    switch (dt) {
    case FG_F32: case FG_F16: case FG_BF16: case FG_F64: return fg_v2_buf_printf(b, "%.5g", rand01(rs));
    case FG_BOOL: return fg_v2_buf_puts(b, next_rand(rs) & 1 ? "true" : "false");
    default: return fg_v2_buf_printf(b, "%u", (unsigned)(next_rand(rs) % 10));
    }
}

/* Appends one random element of dt as little-endian raw bytes. */
static int put_raw_elem(fg_v2_buf *b, fg_dtype dt, uint64_t *rs) {
    unsigned char x[8] = {0};
    size_t sz = fg_v2_dtype_size(dt);
    switch (dt) {
    case FG_F32: { float f = (float)rand01(rs); memcpy(x, &f, 4); break; }
    case FG_F64: { double d = rand01(rs); memcpy(x, &d, 8); break; }
    case FG_F16: { uint16_t h = f32_to_f16((float)rand01(rs)); memcpy(x, &h, 2); break; }
    case FG_BF16: { float f = (float)rand01(rs); uint32_t u; memcpy(&u, &f, 4); uint16_t h = (uint16_t)(u >> 16); memcpy(x, &h, 2); break; }
    case FG_BOOL: x[0] = next_rand(rs) & 1; break;
    default: x[0] = (unsigned char)(next_rand(rs) % 10); break;
    }
    return fg_v2_buf_append(b, (const char *)x, sz);
}

/* Builds one infer request with fresh random data for every input. */
static int build_infer(fg_bench_target *t, const input_spec *in, size_t n_in, char out_names[][256], size_t n_out,
                       const char *path, uint64_t *rs, const char *const *headers, size_t n_headers, fg_v2_buf *req,
                       fg_err *e) {
    fg_v2_buf body = {0}, raw = {0};
    int rc = fg_v2_buf_puts(&body, "{\"inputs\":[");
    for (size_t i = 0; !rc && i < n_in; i++) {
        rc = fg_v2_buf_printf(&body, "%s{\"name\":", i ? "," : "");
        if (!rc)
            rc = fg_v2_buf_append_json_str(&body, in[i].name);
        if (!rc)
            rc = fg_v2_buf_puts(&body, ",\"shape\":[");
        for (size_t d = 0; !rc && d < in[i].rank; d++)
            rc = fg_v2_buf_printf(&body, "%s%lld", d ? "," : "", (long long)in[i].shape[d]);
        if (!rc)
            rc = fg_v2_buf_printf(&body, "],\"datatype\":\"%s\"", in[i].dt_name);
        if (rc)
            break;
        if (t->binary) {
            size_t before = raw.len;
            for (size_t k = 0; !rc && k < in[i].n_elems; k++)
                rc = put_raw_elem(&raw, in[i].dt, rs);
            if (!rc)
                rc = fg_v2_buf_printf(&body, ",\"parameters\":{\"binary_data_size\":%zu}}", raw.len - before);
        } else {
            rc = fg_v2_buf_puts(&body, ",\"data\":[");
            for (size_t k = 0; !rc && k < in[i].n_elems; k++) {
                if (k)
                    rc = fg_v2_buf_puts(&body, ",");
                if (!rc)
                    rc = put_json_elem(&body, in[i].dt, rs);
            }
            if (!rc)
                rc = fg_v2_buf_puts(&body, "]}");
        }
    }
    if (!rc)
        rc = fg_v2_buf_puts(&body, "]");
    if (!rc && t->binary && n_out) {
        rc = fg_v2_buf_puts(&body, ",\"outputs\":[");
        for (size_t i = 0; !rc && i < n_out; i++) {
            rc = fg_v2_buf_printf(&body, "%s{\"name\":", i ? "," : "");
            if (!rc)
                rc = fg_v2_buf_append_json_str(&body, out_names[i]);
            if (!rc)
                rc = fg_v2_buf_puts(&body, ",\"parameters\":{\"binary_data\":true}}");
        }
        if (!rc)
            rc = fg_v2_buf_puts(&body, "]");
    }
    if (!rc)
        rc = fg_v2_buf_puts(&body, "}");
    if (!rc)
        rc = put_head(req, t, path, t->binary ? "application/octet-stream" : "application/json",
                      t->binary ? (long)body.len : -1, body.len + raw.len, 1, headers, n_headers);
    if (!rc)
        rc = fg_v2_buf_append(req, body.ptr, body.len);
    if (!rc && raw.len)
        rc = fg_v2_buf_append(req, raw.ptr, raw.len);
    fg_v2_buf_free(&body);
    fg_v2_buf_free(&raw);
    if (rc)
        return fg_err_set(e, FG_ENOMEM, "out of memory building a request");
    return 0;
}

int fg_bench_target_from_metadata(fg_bench_target *t, const char *meta, size_t meta_len, int64_t batch,
                                  const char *inputs, uint64_t seed, const char *const *headers,
                                  size_t n_headers, fg_err *e) {
    fg_json *doc = NULL;
    int rc = fg_json_parse(meta, meta_len, &doc, e);
    if (rc) {
        fg_err_prefix(e, "model '%s' metadata: ", t->model);
        return rc;
    }
    input_spec *in = fg_xcalloc(MAX_INPUTS, sizeof *in);
    char (*outs)[256] = fg_xcalloc(MAX_INPUTS, sizeof *outs);
    size_t n_in = 0, n_out = 0;
    fg_v2_buf req = {0};
    const fg_json *ins = fg_json_get(doc, "inputs");
    if (!ins || ins->type != FG_JSON_ARRAY || ins->n == 0) {
        rc = fg_err_set(e, FG_EFORMAT, "model '%s' metadata has no \"inputs\" array", t->model);
        goto done;
    }
    if (ins->n > MAX_INPUTS) {
        rc = fg_err_set(e, FG_EUNSUPPORTED, "model '%s' has %zu inputs (at most %d)", t->model, ins->n, MAX_INPUTS);
        goto done;
    }
    size_t total = 0;
    for (size_t i = 0; i < ins->n; i++) {
        const fg_json *x = fg_json_at(ins, i);
        const char *name = fg_json_str(fg_json_get(x, "name"), NULL);
        const char *dt = fg_json_str(fg_json_get(x, "datatype"), NULL);
        const fg_json *shape = fg_json_get(x, "shape");
        if (!name || !dt || !shape || shape->type != FG_JSON_ARRAY || strlen(name) >= sizeof in[i].name) {
            rc = fg_err_set(e, FG_EFORMAT, "model '%s' metadata: input %zu lacks a name, datatype or shape", t->model, i);
            goto done;
        }
        input_spec *s = &in[n_in++];
        snprintf(s->name, sizeof s->name, "%s", name);
        snprintf(s->dt_name, sizeof s->dt_name, "%s", dt);
        s->dt = fg_v2_dtype_parse(dt, strlen(dt));
        if (s->dt == FG_DT_UNDEFINED) {
            rc = fg_err_set(e, FG_EUNSUPPORTED,
                            "input '%s' has datatype %s: random data is not supported for it (use --input-file)", name, dt);
            goto done;
        }
        if (shape->n > 16) {
            rc = fg_err_set(e, FG_EUNSUPPORTED, "input '%s' has rank %zu (at most 16)", name, shape->n);
            goto done;
        }
        s->rank = shape->n;
        s->n_elems = 1;
        for (size_t d = 0; d < shape->n; d++) {
            double v = fg_json_num(fg_json_at(shape, d), NAN);
            if (!(v == -1 || (v >= 0 && v <= MAX_ELEMS && v == floor(v)))) {
                rc = fg_err_set(e, FG_EFORMAT, "input '%s': bad dimension %zu in the metadata", name, d);
                goto done;
            }
            s->shape[d] = v == -1 ? batch : (int64_t)v;
            if (s->shape[d] && s->n_elems > MAX_ELEMS / (size_t)s->shape[d]) {
                rc = fg_err_set(e, FG_EINVAL, "input '%s' would have more than %u elements", name, MAX_ELEMS);
                goto done;
            }
            s->n_elems *= (size_t)s->shape[d];
        }
        total += s->n_elems;
        if (total > MAX_ELEMS) {
            rc = fg_err_set(e, FG_EINVAL, "a request would have more than %u elements", MAX_ELEMS);
            goto done;
        }
    }
    const fg_json *os = fg_json_get(doc, "outputs");
    for (size_t i = 0; i < fg_json_count(os) && n_out < MAX_INPUTS; i++) {
        const char *name = fg_json_str(fg_json_get(fg_json_at(os, i), "name"), NULL);
        if (name && strlen(name) < 256)
            snprintf(outs[n_out++], 256, "%s", name);
    }
    double zs = 0;
    size_t n_pool = FG_BENCH_RANDOM_POOL;
    if (inputs && strcmp(inputs, "random") != 0) {
        if (fg_bench_parse_zipf(inputs, &zs, &n_pool) < 0) {
            rc = fg_err_set(e, FG_EINVAL, "bad --inputs '%s' (expected random or zipf:S:N, like zipf:1.1:1000)", inputs);
            goto done;
        }
        snprintf(t->inputs, sizeof t->inputs, "%s", inputs);
    } else {
        snprintf(t->inputs, sizeof t->inputs, "random");
    }
    char path[1400], esc[800], bp[1024];
    base_path(&t->url, bp, sizeof bp);
    path_escape(t->model, esc, sizeof esc);
    snprintf(path, sizeof path, "%s/v2/models/%s/infer", bp, esc);
    t->req = fg_xcalloc(n_pool, sizeof *t->req);
    t->req_len = fg_xcalloc(n_pool, sizeof *t->req_len);
    uint64_t rs = seed, bytes = 0;
    for (size_t i = 0; i < n_pool; i++) {
        if ((rc = build_infer(t, in, n_in, outs, n_out, path, &rs, headers, n_headers, &req, e)) < 0)
            goto done;
        bytes += req.len;
        add_request(t, &req);
        if (bytes > FG_BENCH_MAX_POOL_BYTES) {
            rc = fg_err_set(e, FG_EINVAL, "%zu distinct requests would take more than %u MiB (use a smaller N)",
                            n_pool, FG_BENCH_MAX_POOL_BYTES >> 20);
            goto done;
        }
    }
    if (zs > 0) {
        t->zipf_cdf = fg_xmalloc(n_pool * sizeof *t->zipf_cdf);
        fg_bench_zipf_cdf(zs, n_pool, t->zipf_cdf);
    }
done:
    fg_v2_buf_free(&req);
    free(in);
    free(outs);
    fg_json_free(doc);
    return rc;
}

int fg_bench_target_build(const fg_bench_target_opts *o, fg_bench_target *t, fg_err *e) {
    memset(t, 0, sizeof *t);
    char err[1400];
    if (fg_url_parse(o->url, &t->url, err, sizeof err) < 0)
        return fg_err_set(e, FG_EINVAL, "%s", err);
    snprintf(t->base, sizeof t->base, "%s", o->url);
    for (size_t i = 0; i < o->n_headers; i++)
        if (!header_ok(o->headers[i]))
            return fg_err_set(e, FG_EINVAL, "bad --header '%.80s' (expected 'Name: value')", o->headers[i]);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(t->url.host, t->url.port, &hints, &ai);
    if (g != 0 || !ai)
        return fg_err_set(e, FG_ENOTFOUND, "%s: cannot resolve %s: %s", o->url, t->url.host, gai_strerror(g));
    memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
    t->addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);

    char *body = NULL;
    size_t body_len = 0;
    int rc = 0;
    fg_v2_buf req = {0};
    if (o->model) {
        t->v2 = 1;
        t->binary = o->binary;
        snprintf(t->model, sizeof t->model, "%s", o->model);
        snprintf(t->method, sizeof t->method, "POST");
        if (o->input_file) {
            if (fg_read_whole_file(o->input_file, &body, &body_len, err, sizeof err) < 0)
                return fg_err_set(e, FG_EIO, "%s", err);
            char path[1400], esc[800], bp[1024];
            base_path(&t->url, bp, sizeof bp);
            path_escape(t->model, esc, sizeof esc);
            snprintf(path, sizeof path, "%s/v2/models/%s/infer", bp, esc);
            snprintf(t->inputs, sizeof t->inputs, "file");
            rc = put_head(&req, t, path, "application/json", -1, body_len, 1, o->headers, o->n_headers);
            if (!rc)
                rc = fg_v2_buf_append(&req, body, body_len);
            if (rc) {
                rc = fg_err_set(e, FG_ENOMEM, "out of memory building the request");
                goto out;
            }
            t->req = fg_xcalloc(1, sizeof *t->req);
            t->req_len = fg_xcalloc(1, sizeof *t->req_len);
            add_request(t, &req);
            goto out;
        }
        fg_url mu = t->url;
        char bp[1024], esc[800];
        base_path(&t->url, bp, sizeof bp);
        path_escape(t->model, esc, sizeof esc);
        snprintf(mu.path, sizeof mu.path, "%s/v2/models/%s", bp, esc);
        if (fg_http_get(&mu, &body, &body_len, err, sizeof err) < 0) {
            rc = fg_err_set(e, FG_ENOTFOUND, "model metadata: %s", err);
            goto out;
        }
        rc = fg_bench_target_from_metadata(t, body, body_len, o->batch, o->inputs, o->seed, o->headers, o->n_headers, e);
        goto out;
    }
    /* plain URL */
    snprintf(t->method, sizeof t->method, "%s", o->method ? o->method : o->body_file ? "POST" : "GET");
    if (o->body_file && fg_read_whole_file(o->body_file, &body, &body_len, err, sizeof err) < 0)
        return fg_err_set(e, FG_EIO, "%s", err);
    int has_body = o->body_file != NULL || strcmp(t->method, "POST") == 0 || strcmp(t->method, "PUT") == 0;
    rc = put_head(&req, t, t->url.path, NULL, -1, body_len, has_body, o->headers, o->n_headers);
    if (!rc && body_len)
        rc = fg_v2_buf_append(&req, body, body_len);
    if (rc) {
        rc = fg_err_set(e, FG_ENOMEM, "out of memory building the request");
        goto out;
    }
    t->req = fg_xcalloc(1, sizeof *t->req);
    t->req_len = fg_xcalloc(1, sizeof *t->req_len);
    add_request(t, &req);
out:
    fg_v2_buf_free(&req);
    free(body);
    return rc;
}
