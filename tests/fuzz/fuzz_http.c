/* fuzz_http.c - libFuzzer target for the HTTP/1.1 head parser and chunked decoder (src/serve/http.c).
 * The first byte picks the limits and how the bytes are split into reads; the rest is a connection's
 * byte stream, served as the server would: head, then body (Content-Length or chunked), then the next
 * pipelined request. Checked: results stay inside the buffer, fed-in-pieces equals fed-at-once, and
 * every parsed header survives the response writer (nothing the parser accepts can inject a line). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/http.h"

/* always on, unlike assert: the fuzz build may be made without -UNDEBUG */
#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            __builtin_trap();                                                                                \
    } while (0)

static bool inside(fg_http_slice s, const char *buf, size_t len) {
    if (s.len == 0)
        return s.ptr == NULL || (s.ptr >= buf && s.ptr <= buf + len);
    return s.ptr >= buf && s.ptr + s.len <= buf + len;
}

/* Parses the head of data[0, len) fed `step` bytes at a time, each time from a fresh exact-size copy (the
 * connection buffer may move, and ASan then sees any read past what was given). */
static int parse_in_steps(fg_http_request *r, const char *data, size_t len, size_t step,
                          const fg_http_limits *lim) {
    fg_http_request_reset(r);
    int rc = 0;
    for (size_t have = step < len ? step : len;; have = have + step < len ? have + step : len) {
        char *copy = malloc(have ? have : 1);
        memcpy(copy, data, have);
        rc = fg_http_parse_head(r, copy, have, lim);
        free(copy);
        if (rc != 0 || have == len)
            return rc;
    }
}

static void check_head(const fg_http_request *r, int rc, const char *buf, size_t len,
                       const fg_http_limits *lim) {
    if (rc == 1) {
        CHECK(r->status == 0 && r->head_len <= len);
        CHECK(r->n_headers <= lim->max_headers && r->n_headers <= FG_HTTP_MAX_HEADERS);
        CHECK(inside(r->method, buf, r->head_len) && r->method.len > 0);
        CHECK(inside(r->target, buf, r->head_len) && r->target.len > 0);
        CHECK(inside(r->path, buf, r->head_len) && inside(r->query, buf, r->head_len));
        CHECK(r->version_minor == 0 || r->version_minor == 1);
        CHECK(r->content_length >= -1 && (uint64_t)(r->content_length + 1) <= lim->max_body_bytes + 1);
        CHECK(!(r->chunked && r->content_length >= 0));
        CHECK(!r->expect_continue || r->version_minor == 1);
        for (size_t i = 0; i < r->n_headers; i++) {
            CHECK(inside(r->headers[i].name, buf, r->head_len) && r->headers[i].name.len > 0);
            CHECK(inside(r->headers[i].value, buf, r->head_len));
        }
        /* the head fits the limits it was parsed under */
        CHECK(r->head_len <= lim->max_request_line + 2 + lim->max_header_bytes);
    } else if (rc < 0) {
        CHECK(r->error != NULL && !r->keep_alive);
        CHECK(r->status == 400 || r->status == 413 || r->status == 414 || r->status == 431 ||
              (r->status == 501 && rc == FG_EUNSUPPORTED) || (r->status == 505 && rc == FG_EUNSUPPORTED));
        CHECK(r->status == 501 || r->status == 505 || rc == FG_EINVAL);
    } else {
        CHECK(rc == 0);
        CHECK(len <= lim->max_request_line + 2 + lim->max_header_bytes);
    }
}

/* Every header the parser accepted can be echoed by the writer, and the error body for any reason is
 * well-formed. */
static void check_writer(const fg_http_request *r) {
    static char out[1 << 17];
    size_t n;
    fg_http_response resp = {.status = 200,
                             .content_type = "application/json",
                             .content_length = 3,
                             .keep_alive = r->keep_alive,
                             .http10 = r->version_minor == 0,
                             .extra = r->headers,
                             .n_extra = r->n_headers};
    CHECK(fg_http_write_head(out, sizeof out, &resp, &n) == 0);
    CHECK(n <= sizeof out && n >= 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
    /* a header section the writer produced has no bare CR or LF */
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\n')
            CHECK(i > 0 && out[i - 1] == '\r');
}

/* Checks that buf[0, n) is {"error": "<valid JSON string>"}. */
static void check_json_error(const char *buf, size_t n) {
    CHECK(n >= 13 && memcmp(buf, "{\"error\": \"", 11) == 0 && memcmp(buf + n - 2, "\"}", 2) == 0);
    for (size_t i = 11; i < n - 2; i++) {
        unsigned char c = (unsigned char)buf[i];
        CHECK(c >= 0x20 && c != '"');
        if (c == '\\') {
            i++;
            CHECK(i < n - 2);
            if (buf[i] == 'u') {
                CHECK(i + 4 < n - 2);
                i += 4;
            } else {
                CHECK(strchr("\"\\/bfnrt", buf[i]) != NULL);
            }
        } else if (c >= 0x80) {
            size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            CHECK(c >= 0xc2 && c <= 0xf4 && i + k <= n - 2);
            for (size_t j = 1; j < k; j++)
                CHECK(((unsigned char)buf[i + j] & 0xc0) == 0x80);
            i += k - 1;
        }
    }
}

/* Decodes the chunked body at data[0, len) at once and in steps; both must agree. Returns the bytes the
 * body used, or 0 when it is incomplete or failed. */
static size_t check_chunked(const char *data, size_t len, size_t step, const fg_http_limits *lim) {
    char *one = malloc(len ? len : 1), *inc = malloc(len ? len : 1);
    memcpy(one, data, len);
    memcpy(inc, data, len);
    fg_http_chunked a, b;
    fg_http_chunked_reset(&a);
    fg_http_chunked_reset(&b);
    int ra = fg_http_chunked_decode(&a, one, len, lim);
    int rb = 0;
    for (size_t have = step < len ? step : len;; have = have + step < len ? have + step : len) {
        rb = fg_http_chunked_decode(&b, inc, have, lim);
        CHECK(b.body_len <= b.consumed && b.consumed <= have);
        if (rb != 0 || have == len)
            break;
        CHECK(b.consumed == have);
    }
    CHECK(a.body_len <= a.consumed && a.consumed <= len);
    CHECK(a.body_len <= lim->max_body_bytes);
    CHECK(ra == rb && a.status == b.status);
    CHECK(ra == 1 || ra == 0 ||
          (ra == FG_EINVAL && a.error && (a.status == 400 || a.status == 413 || a.status == 431)));
    size_t used = 0;
    if (ra == 1) {
        CHECK(a.consumed == b.consumed && a.body_len == b.body_len);
        CHECK(memcmp(one, inc, a.body_len) == 0);
        used = a.consumed;
    } else if (ra == 0) {
        CHECK(a.consumed == len && b.consumed == len && a.body_len == b.body_len);
    }
    free(one);
    free(inc);
    return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    unsigned ctl = data[0];
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
    if (ctl & 1) { /* small limits, so the fuzzer reaches every limit branch */
        lim.max_request_line = 64;
        lim.max_header_bytes = 128;
        lim.max_headers = 4;
        lim.max_body_bytes = 256;
    }
    size_t step = ((ctl >> 1) & 15) + 1;

    for (int n_req = 0; n_req < 8 && len > 0; n_req++) {
        char *buf = malloc(len);
        memcpy(buf, s, len);
        fg_http_request r, r2;
        fg_http_request_reset(&r);
        int rc = fg_http_parse_head(&r, buf, len, &lim);
        check_head(&r, rc, buf, len, &lim);
        int rc2 = parse_in_steps(&r2, s, len, step, &lim);
        CHECK((rc == 1) == (rc2 == 1) && (rc == 0) == (rc2 == 0) && (rc < 0) == (rc2 < 0));
        if (rc == 1)
            CHECK(r2.head_len == r.head_len && r2.n_headers == r.n_headers &&
                  r2.content_length == r.content_length && r2.chunked == r.chunked &&
                  r2.keep_alive == r.keep_alive);

        static char out[1 << 16];
        size_t n;
        if (rc < 0) {
            CHECK(fg_http_write_error(out, sizeof out, r.status, r.error, r.keep_alive, &n) == 0);
            free(buf);
            break;
        }
        if (rc == 0) {
            free(buf);
            break;
        }
        check_writer(&r);
        size_t used;
        if (r.chunked) {
            used = check_chunked(s + r.head_len, len - r.head_len, step, &lim);
            if (!used) {
                free(buf);
                break;
            }
        } else {
            used = r.content_length > 0 ? (size_t)r.content_length : 0;
            if (used > len - r.head_len) {
                free(buf);
                break;
            }
        }
        free(buf);
        s += r.head_len + used;
        len -= r.head_len + used;
    }

    /* the JSON error body for arbitrary message bytes */
    static char js[6 * 65536 + 64]; /* worst case: every byte is escaped as six */
    size_t n;
    size_t m = size - 1 < 65536 ? size - 1 : 65536;
    CHECK(fg_http_json_error(js, sizeof js, (const char *)data + 1, m, &n) == 0);
    check_json_error(js, n);
    return 0;
}
