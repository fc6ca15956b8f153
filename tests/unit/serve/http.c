/* Tests for src/serve/http.c: the request head parser (rules, limits, pipelining, incremental feeding),
 * the in-place chunked decoder (every split point) and the response and JSON error writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/http.h"

#define KSERVE_HEAD                                                                                          \
    "POST /v2/models/digits/infer?trace=1 HTTP/1.1\r\n"                                                      \
    "Host: localhost:8000\r\n"                                                                               \
    "User-Agent: frugal-bench/0.1\r\n"                                                                       \
    "Content-Type: application/json\r\n"                                                                     \
    "Content-Length: 11\r\n"                                                                                 \
    "Accept: */*\r\n"                                                                                        \
    "\r\n"

static int parse_n(fg_http_request *r, const char *s, size_t n, const fg_http_limits *lim) {
    fg_http_request_reset(r);
    return fg_http_parse_head(r, s, n, lim);
}

static int parse(fg_http_request *r, const char *s) {
    return parse_n(r, s, strlen(s), NULL);
}

static bool slice_is(fg_http_slice s, const char *want) {
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.ptr, want, s.len) == 0);
}
#define assert_slice(s, want) assert_true(slice_is((s), (want)))

/* Asserts that head is rejected with status (and FG_EINVAL, or FG_EUNSUPPORTED for 501/505), and that
 * the connection is marked for closing. */
static void reject_lim(const char *head, int status, const fg_http_limits *lim) {
    fg_http_request r;
    int rc = parse_n(&r, head, strlen(head), lim);
    if (rc >= 0 || r.status != status)
        fail_msg("\"%s\": rc %d status %d (%s), want status %d", head, rc, r.status, r.error ? r.error : "",
                 status);
    assert_int_equal(rc, status == 501 || status == 505 ? FG_EUNSUPPORTED : FG_EINVAL);
    assert_non_null(r.error);
    assert_false(r.keep_alive);
    assert_false(r.expect_continue);
}
static void reject(const char *head, int status) {
    reject_lim(head, status, NULL);
}

static void accept_head(const char *head, fg_http_request *r) {
    int rc = parse(r, head);
    if (rc != 1)
        fail_msg("\"%s\": rc %d status %d (%s)", head, rc, r->status, r->error ? r->error : "");
    assert_int_equal(r->head_len, strlen(head));
}

/* ---- head: the normal case ---- */

static void head_parses_kserve_post(void **state) {
    (void)state;
    const char *req = KSERVE_HEAD "{\"inputs\":1}";
    fg_http_request r;
    assert_int_equal(parse(&r, req), 1);
    assert_int_equal(r.head_len, strlen(KSERVE_HEAD));
    assert_int_equal(r.method_id, FG_HTTP_POST);
    assert_slice(r.method, "POST");
    assert_slice(r.target, "/v2/models/digits/infer?trace=1");
    assert_slice(r.path, "/v2/models/digits/infer");
    assert_slice(r.query, "trace=1");
    assert_int_equal(r.version_minor, 1);
    assert_int_equal(r.n_headers, 5);
    assert_slice(r.headers[0].name, "Host");
    assert_slice(r.headers[0].value, "localhost:8000");
    assert_slice(r.headers[4].name, "Accept");
    assert_slice(r.headers[4].value, "*/*");
    assert_int_equal(r.content_length, 11);
    assert_false(r.chunked);
    assert_true(r.keep_alive);
    assert_false(r.expect_continue);
    assert_int_equal(r.status, 0);
    /* slices point into the caller's buffer */
    assert_ptr_equal(r.method.ptr, req);
    assert_ptr_equal(r.headers[0].value.ptr, strstr(req, "localhost"));
}

static void head_without_query_has_null_query(void **state) {
    (void)state;
    fg_http_request r;
    accept_head("GET /v2/health/ready HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    assert_int_equal(r.method_id, FG_HTTP_GET);
    assert_slice(r.path, "/v2/health/ready");
    assert_null(r.query.ptr);
    assert_int_equal(r.query.len, 0);
    assert_int_equal(r.content_length, -1);
    accept_head("GET /x? HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    assert_slice(r.path, "/x");
    assert_non_null(r.query.ptr);
    assert_int_equal(r.query.len, 0);
}

static void head_knows_methods_case_sensitively(void **state) {
    (void)state;
    static const struct {
        const char *m;
        fg_http_method id;
    } cases[] = {{"GET", FG_HTTP_GET},        {"HEAD", FG_HTTP_HEAD},     {"POST", FG_HTTP_POST},
                 {"PUT", FG_HTTP_PUT},        {"DELETE", FG_HTTP_DELETE}, {"OPTIONS", FG_HTTP_OPTIONS},
                 {"get", FG_HTTP_OTHER},      {"PATCH", FG_HTTP_OTHER},   {"BREW", FG_HTTP_OTHER},
                 {"X-Custom!", FG_HTTP_OTHER}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s / HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].m);
        fg_http_request r;
        accept_head(buf, &r);
        assert_int_equal(r.method_id, cases[i].id);
        assert_slice(r.method, cases[i].m);
    }
}

static void head_accepts_absolute_and_asterisk_forms(void **state) {
    (void)state;
    fg_http_request r;
    accept_head("GET http://example.com:8000/v2/models?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", &r);
    assert_slice(r.path, "/v2/models");
    assert_slice(r.query, "x=1");
    accept_head("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", &r);
    assert_int_equal(r.path.len, 0); /* empty path means "/" */
    accept_head("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    assert_slice(r.path, "*");
    reject("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 400);
    reject("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject("GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void head_trims_whitespace_around_values(void **state) {
    (void)state;
    fg_http_request r;
    accept_head("GET / HTTP/1.1\r\nHost:a\r\nX-A: \t v a l \t \r\nX-Empty:\r\nX-Sp:   \r\n\r\n", &r);
    assert_slice(r.headers[0].value, "a");
    assert_slice(r.headers[1].value, "v a l");
    assert_slice(r.headers[2].value, "");
    assert_slice(r.headers[3].value, "");
}

static void head_allows_obs_text_in_values(void **state) {
    (void)state;
    fg_http_request r;
    accept_head("GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9 \x80\xff\r\n\r\n", &r);
    assert_slice(r.headers[1].value, "caf\xc3\xa9 \x80\xff");
}

static void header_get_ignores_case_and_returns_first(void **state) {
    (void)state;
    fg_http_request r;
    accept_head("GET / HTTP/1.1\r\nHost: a\r\nX-Trace: one\r\nx-trace: two\r\n\r\n", &r);
    const fg_http_slice *v = fg_http_header_get(&r, "X-TRACE");
    assert_non_null(v);
    assert_slice(*v, "one");
    assert_slice(*fg_http_header_get(&r, "host"), "a");
    assert_null(fg_http_header_get(&r, "X-Trac"));
    assert_null(fg_http_header_get(&r, "X-Traces"));
    assert_null(fg_http_header_get(&r, "Content-Length"));
}

static void head_skips_empty_lines_before_request_line(void **state) {
    (void)state;
    fg_http_request r;
    accept_head("\r\n\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    assert_slice(r.path, "/a");
    assert_slice(r.method, "GET");
}

/* ---- head: incremental feeding and pipelining ---- */

static void head_needs_more_for_every_prefix(void **state) {
    (void)state;
    const char *head = KSERVE_HEAD;
    size_t n = strlen(head);
    for (size_t k = 0; k < n; k++) {
        fg_http_request r;
        assert_int_equal(parse_n(&r, head, k, NULL), 0);
    }
}

static void head_split_byte_by_byte_matches_one_shot(void **state) {
    (void)state;
    const char *head = KSERVE_HEAD;
    size_t n = strlen(head);
    fg_http_request one, inc;
    assert_int_equal(parse(&one, head), 1);
    fg_http_request_reset(&inc);
    /* a fresh copy per call: the connection buffer may move between reads */
    char *prev = NULL;
    for (size_t k = 0; k <= n; k++) {
        char *buf = malloc(n + 1);
        memcpy(buf, head, k);
        int rc = fg_http_parse_head(&inc, buf, k, NULL);
        if (k < n) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, 1);
            assert_int_equal(inc.head_len, one.head_len);
            assert_int_equal(inc.n_headers, one.n_headers);
            for (size_t i = 0; i < one.n_headers; i++) {
                assert_int_equal(inc.headers[i].name.ptr - buf, one.headers[i].name.ptr - head);
                assert_int_equal(inc.headers[i].value.len, one.headers[i].value.len);
            }
            assert_int_equal(inc.content_length, 11);
            assert_slice(inc.path, "/v2/models/digits/infer");
        }
        free(prev);
        prev = buf;
    }
    free(prev);
}

static void head_parse_after_completion_repeats_result(void **state) {
    (void)state;
    const char *head = KSERVE_HEAD;
    fg_http_request r;
    assert_int_equal(parse(&r, head), 1);
    assert_int_equal(fg_http_parse_head(&r, head, strlen(head), NULL), 1);
    assert_int_equal(r.n_headers, 5);
    assert_int_equal(r.content_length, 11);
}

static void head_error_is_sticky(void **state) {
    (void)state;
    const char *bad = "GET / HTTP/1.1\nHost: a\r\n\r\n";
    fg_http_request r;
    assert_int_equal(parse(&r, bad), FG_EINVAL);
    assert_int_equal(fg_http_parse_head(&r, bad, strlen(bad), NULL), FG_EINVAL);
    assert_int_equal(r.status, 400);
}

/* Parses one request at buf[*off] including its body and returns the path; advances *off. */
static void next_request(const char *buf, size_t len, size_t *off, const char *want_path,
                         const char *want_body) {
    fg_http_request r;
    assert_int_equal(parse_n(&r, buf + *off, len - *off, NULL), 1);
    assert_slice(r.path, want_path);
    size_t at = *off + r.head_len;
    if (r.chunked) {
        char *copy = malloc(len - at);
        memcpy(copy, buf + at, len - at);
        fg_http_chunked c;
        fg_http_chunked_reset(&c);
        assert_int_equal(fg_http_chunked_decode(&c, copy, len - at, NULL), 1);
        assert_int_equal(c.body_len, strlen(want_body));
        assert_memory_equal(copy, want_body, c.body_len);
        free(copy);
        *off = at + c.consumed;
    } else {
        size_t body = r.content_length < 0 ? 0 : (size_t)r.content_length;
        assert_true(at + body <= len);
        assert_int_equal(body, strlen(want_body));
        assert_memory_equal(buf + at, want_body, body);
        *off = at + body;
    }
}

static void pipelined_two_requests_parse_in_order(void **state) {
    (void)state;
    const char *buf = "GET /v2/health/live HTTP/1.1\r\nHost: a\r\n\r\n"
                      "POST /v2/models/m/infer HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody";
    size_t off = 0, len = strlen(buf);
    next_request(buf, len, &off, "/v2/health/live", "");
    next_request(buf, len, &off, "/v2/models/m/infer", "body");
    assert_int_equal(off, len);
}

static void pipelined_three_requests_with_chunked_middle(void **state) {
    (void)state;
    const char *buf = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
                      "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
                      "GET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    size_t off = 0, len = strlen(buf);
    next_request(buf, len, &off, "/a", "xyz");
    next_request(buf, len, &off, "/b", "abcde");
    next_request(buf, len, &off, "/c", "");
    assert_int_equal(off, len);
}

static void pipelined_head_leaves_next_request_untouched(void **state) {
    (void)state;
    /* the second request is malformed, but parsing the first must not look at it */
    const char *buf = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\nbroken";
    fg_http_request r;
    assert_int_equal(parse(&r, buf), 1);
    assert_int_equal(r.head_len, strlen("GET /a HTTP/1.1\r\nHost: a\r\n\r\n"));
}

/* ---- head: connection management ---- */

static void keep_alive_defaults_and_connection_tokens(void **state) {
    (void)state;
    static const struct {
        const char *head;
        bool keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: , keep-alive ,\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fg_http_request r;
        accept_head(cases[i].head, &r);
        if (r.keep_alive != cases[i].keep_alive)
            fail_msg("case %zu: keep_alive %d", i, r.keep_alive);
    }
}

static void expect_continue_is_flagged_for_http11_only(void **state) {
    (void)state;
    fg_http_request r;
    accept_head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", &r);
    assert_true(r.expect_continue);
    accept_head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n", &r);
    assert_true(r.expect_continue);
    accept_head("POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", &r);
    assert_false(r.expect_continue); /* RFC 9110 10.1.1: ignored in HTTP/1.0 */
    accept_head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 200-ok\r\n\r\n", &r);
    assert_false(r.expect_continue);
    assert_string_equal(FG_HTTP_100_CONTINUE, "HTTP/1.1 100 Continue\r\n\r\n");
}

static void host_rules(void **state) {
    (void)state;
    fg_http_request r;
    reject("GET / HTTP/1.1\r\n\r\n", 400);
    accept_head("GET / HTTP/1.0\r\n\r\n", &r);
    reject("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
    reject("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
    accept_head("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", &r);
    accept_head("GET / HTTP/1.1\r\nHost:\r\n\r\n", &r); /* empty Host is allowed (RFC 9112 3.2) */
}

/* ---- head: framing and smuggling ---- */

static void content_length_must_be_plain_decimal(void **state) {
    (void)state;
    fg_http_request r;
    accept_head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &r);
    assert_int_equal(r.content_length, 0);
    accept_head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", &r);
    assert_int_equal(r.content_length, 7);
    accept_head("POST / HTTP/1.1\r\nHost: a\r\ncontent-length:  42 \r\n\r\n", &r);
    assert_int_equal(r.content_length, 42);
    static const char *bad[] = {"", "-1", "+1", "1.0", "0x10", "1 2", "1,1", "1;", "abc", "１"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %s\r\n\r\n", bad[i]);
        reject(buf, 400);
    }
}

static void content_length_duplicates_are_rejected_even_when_equal(void **state) {
    (void)state;
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400);
}

static void content_length_and_transfer_encoding_is_rejected(void **state) {
    (void)state;
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400);
    /* framing beats size: a smuggling attempt with a huge length is still a 400 */
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 99999999999\r\n\r\n",
           400);
}

static void transfer_encoding_must_be_exactly_chunked(void **state) {
    (void)state;
    fg_http_request r;
    accept_head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &r);
    assert_true(r.chunked);
    assert_int_equal(r.content_length, -1);
    accept_head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &r);
    assert_true(r.chunked);
    accept_head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked ,\r\n\r\n", &r);
    assert_true(r.chunked);
    /* chunked not last, twice, or absent: the length cannot be known (RFC 9112 6.3) */
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
           400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 400);
    /* sound framing, coding not implemented (RFC 9112 6.1) */
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    reject("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
           501);
    /* HTTP/1.0 has no chunked framing (RFC 9112 6.1) */
    reject("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

static void obs_fold_is_rejected(void **state) {
    (void)state;
    reject("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
}

static void header_name_rules(void **state) {
    (void)state;
    reject("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a\r\nBad@Name: x\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a\r\n(x): y\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a\r\nNo-Colon\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: y\r\n\r\n", 400);
    fg_http_request r;
    accept_head("GET / HTTP/1.1\r\nHost: a\r\n!#$%&'*+-.^_`|~09azAZ: y\r\n\r\n", &r);
}

static void header_value_control_bytes_are_rejected(void **state) {
    (void)state;
    reject("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n", 400);
    const char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0z\r\n\r\n";
    fg_http_request r;
    assert_int_equal(parse_n(&r, nul, sizeof nul - 1, NULL), FG_EINVAL);
    assert_int_equal(r.status, 400);
}

/* Values and targets are scanned eight bytes at a time: put each byte kind at every position of a long
 * run, so every lane of the word test and the byte-wise tail see it. */
static void long_values_and_targets_checked_at_every_position(void **state) {
    (void)state;
    static const struct {
        char byte;
        bool ok_in_value, ok_in_target;
    } kinds[] = {{'\t', true, false},   {'\x01', false, false}, {'\0', false, false}, {'\x7f', false, false},
                 {'\x80', true, false}, {'\xff', true, false},  {' ', true, false},   {'\x1f', false, false},
                 {'\x0b', false, false}, {'!', true, true},      {'~', true, true},    {'\r', false, false}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (size_t pos = 1; pos < 39; pos++) {
            char v[41];
            memset(v, 'v', 40);
            v[40] = 0;
            v[pos] = kinds[k].byte;
            char buf[256];
            int n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
            memcpy(buf + n, v, 40);
            memcpy(buf + n + 40, "\r\n\r\n", 4);
            fg_http_request r;
            int rc = parse_n(&r, buf, (size_t)n + 44, NULL);
            if ((rc == 1) != kinds[k].ok_in_value)
                fail_msg("value byte 0x%02x at %zu: rc %d", (unsigned char)kinds[k].byte, pos, rc);
            if (rc == 1)
                assert_int_equal(r.headers[1].value.len, 40);
            v[0] = '/';
            n = snprintf(buf, sizeof buf, "GET ");
            memcpy(buf + n, v, 40);
            memcpy(buf + n + 40, " HTTP/1.1\r\nHost: a\r\n\r\n", 22);
            rc = parse_n(&r, buf, (size_t)n + 62, NULL);
            if ((rc == 1) != kinds[k].ok_in_target)
                fail_msg("target byte 0x%02x at %zu: rc %d", (unsigned char)kinds[k].byte, pos, rc);
            if (rc == 1)
                assert_int_equal(r.target.len, 40);
            else
                assert_int_equal(r.status, 400);
        }
    }
}

static void bare_lf_and_bare_cr_are_rejected(void **state) {
    (void)state;
    reject("GET / HTTP/1.1\nHost: a\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a\r\n\n", 400);
    reject("GET / HTTP/1.1\n\n", 400);
    reject("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400);
    reject("GET / HTTP/1.1\rHost: a\r\n\r\n", 400);
    reject("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    /* a bare LF is refused as soon as it arrives, not when the head would be complete */
    fg_http_request r;
    assert_int_equal(parse(&r, "GET / HTTP/1.1\nHo"), FG_EINVAL);
    assert_int_equal(r.status, 400);
}

static void request_line_rules(void **state) {
    (void)state;
    reject("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject(" / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    reject("GET /\r\n\r\n", 400);
    reject("GET / \r\nHost: a\r\n\r\n", 400);
    reject("GET\r\n\r\n", 400);
    reject("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    reject("GET relative HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void http_versions_other_than_10_and_11_get_505(void **state) {
    (void)state;
    reject("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    reject("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    reject("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    reject("GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505);
    /* not a version at all: 400 */
    reject("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400);
    reject("GET / http/1.1\r\nHost: a\r\n\r\n", 400);
    reject("GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400);
    reject("GET / HTTP/11\r\nHost: a\r\n\r\n", 400);
    reject("GET / FOO/1.1\r\nHost: a\r\n\r\n", 400);
}

/* ---- head: limits at exactly the limit and one past it ---- */

static void request_line_limit_is_414(void **state) {
    (void)state;
    fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
    lim.max_request_line = 64;
    char line[128], buf[256];
    /* "GET " + target + " HTTP/1.1" = 64 bytes */
    memset(line, 'a', sizeof line);
    line[0] = '/';
    snprintf(buf, sizeof buf, "GET %.*s HTTP/1.1\r\nHost: a\r\n\r\n", 51, line);
    fg_http_request r;
    assert_int_equal(parse_n(&r, buf, strlen(buf), &lim), 1);
    snprintf(buf, sizeof buf, "GET %.*s HTTP/1.1\r\nHost: a\r\n\r\n", 52, line);
    reject_lim(buf, 414, &lim);
    /* early: 64 bytes and a CR may still become a valid line; 65 bytes cannot */
    snprintf(buf, sizeof buf, "GET %.*s HTTP/1.1\r", 51, line);
    assert_int_equal(parse_n(&r, buf, 65, &lim), 0);
    assert_int_equal(parse_n(&r, buf, 64, &lim), 0);
    snprintf(buf, sizeof buf, "GET %.*s HTTP/1.1", 52, line);
    assert_int_equal(parse_n(&r, buf, 65, &lim), FG_EINVAL);
    assert_int_equal(r.status, 414);
    /* a long line without any line end is refused without waiting for one */
    memset(buf, 'A', sizeof buf);
    assert_int_equal(parse_n(&r, buf, 65, &lim), FG_EINVAL);
    assert_int_equal(r.status, 414);
    /* empty lines before the request line count towards it */
    snprintf(buf, sizeof buf, "\r\nGET %.*s HTTP/1.1\r\nHost: a\r\n\r\n", 49, line);
    assert_int_equal(parse_n(&r, buf, strlen(buf), &lim), 1);
    snprintf(buf, sizeof buf, "\r\nGET %.*s HTTP/1.1\r\nHost: a\r\n\r\n", 50, line);
    reject_lim(buf, 414, &lim);
}

static void header_bytes_limit_is_431(void **state) {
    (void)state;
    fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
    lim.max_header_bytes = 100;
    char pad[128], buf[256];
    memset(pad, 'v', sizeof pad);
    /* "Host: a\r\n" (9) + "X: " pad "\r\n" (5 + n) + "\r\n" (2) = 100 for n = 84 */
    int n_head = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %.*s\r\n\r\n", 84, pad);
    fg_http_request r;
    assert_int_equal(parse_n(&r, buf, (size_t)n_head, &lim), 1);
    assert_int_equal(r.head_len - strlen("GET / HTTP/1.1\r\n"), 100);
    /* every prefix of the exactly-limit head still needs more */
    for (int k = 0; k < n_head; k++)
        assert_int_equal(parse_n(&r, buf, (size_t)k, &lim), 0);
    n_head = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\nX: %.*s\r\n\r\n", 85, pad);
    reject_lim(buf, 431, &lim);
    /* early: 16 + 100 buffered bytes (final CR included) cannot end within the limit */
    assert_int_equal(parse_n(&r, buf, 16 + 99, &lim), 0);
    assert_int_equal(parse_n(&r, buf, 16 + 100, &lim), FG_EINVAL);
    assert_int_equal(r.status, 431);
}

static void header_count_limit_is_431(void **state) {
    (void)state;
    fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
    lim.max_headers = 3;
    fg_http_request r;
    const char *three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_int_equal(parse_n(&r, three, strlen(three), &lim), 1);
    assert_int_equal(r.n_headers, 3);
    reject_lim("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431, &lim);
    /* the default allows FG_HTTP_MAX_HEADERS and no more */
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < FG_HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "X-%d: %d\r\n", i, i);
    memcpy(buf + n, "\r\n", 3);
    assert_int_equal(parse(&r, buf), 1);
    assert_int_equal(r.n_headers, FG_HTTP_MAX_HEADERS);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "Y: 1\r\n\r\n");
    reject(buf, 431);
    /* a larger configured count is clamped to the array */
    lim.max_headers = FG_HTTP_MAX_HEADERS + 10;
    reject_lim(buf, 431, &lim);
}

static void body_limit_is_413(void **state) {
    (void)state;
    fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
    lim.max_body_bytes = 1000;
    fg_http_request r;
    const char *at = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n";
    assert_int_equal(parse_n(&r, at, strlen(at), &lim), 1);
    assert_int_equal(r.content_length, 1000);
    reject_lim("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413, &lim);
    /* too many digits for 64 bits is still a number, just too large */
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 123456789012345678901234567890\r\n\r\n", 413);
    reject("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 67108865\r\n\r\n", 413);
    fg_http_request ok;
    accept_head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 67108864\r\n\r\n", &ok);
}

/* ---- chunked bodies ---- */

static const char CHUNKED[] = "5\r\nhello\r\n1;name=value;q=\"x y\"\r\n \r\n00000a\r\n0123456789\r\n"
                              "0\r\nX-Checksum: abc\r\nX-Empty:\r\n\r\n";
static const char CHUNKED_BODY[] = "hello 0123456789";

/* Decodes msg fed in pieces ending at the given cut points, in a buffer that keeps every byte in place as
 * a connection buffer does, and checks the body. */
static void decode_in_pieces(const char *msg, size_t len, const size_t *cuts, size_t n_cuts,
                             const char *body) {
    char *buf = malloc(len + 16);
    fg_http_chunked c;
    fg_http_chunked_reset(&c);
    size_t have = 0;
    for (size_t k = 0; k <= n_cuts; k++) {
        size_t upto = k < n_cuts ? cuts[k] : len;
        memcpy(buf + have, msg + have, upto - have);
        have = upto;
        int rc = fg_http_chunked_decode(&c, buf, have, NULL);
        assert_true(c.body_len <= c.consumed && c.consumed <= have);
        if (have < len) {
            assert_int_equal(rc, 0);
            assert_int_equal(c.consumed, have);
        } else {
            assert_int_equal(rc, 1); /* and again on later calls once done */
        }
    }
    assert_int_equal(c.consumed, len);
    assert_int_equal(c.body_len, strlen(body));
    assert_memory_equal(buf, body, c.body_len);
    free(buf);
}

static void chunked_decodes_in_place(void **state) {
    (void)state;
    char buf[sizeof CHUNKED + 32];
    memcpy(buf, CHUNKED, sizeof CHUNKED - 1);
    memcpy(buf + sizeof CHUNKED - 1, "GET /", 5); /* a pipelined request after the body */
    fg_http_chunked c;
    fg_http_chunked_reset(&c);
    assert_int_equal(fg_http_chunked_decode(&c, buf, sizeof CHUNKED - 1 + 5, NULL), 1);
    assert_int_equal(c.consumed, sizeof CHUNKED - 1);
    assert_int_equal(c.body_len, strlen(CHUNKED_BODY));
    assert_memory_equal(buf, CHUNKED_BODY, c.body_len);
    assert_memory_equal(buf + c.consumed, "GET /", 5);
    /* done stays done */
    assert_int_equal(fg_http_chunked_decode(&c, buf, sizeof CHUNKED - 1 + 5, NULL), 1);
}

static void chunked_split_at_every_point(void **state) {
    (void)state;
    size_t len = sizeof CHUNKED - 1;
    for (size_t i = 0; i <= len; i++)
        decode_in_pieces(CHUNKED, len, &i, 1, CHUNKED_BODY);
}

static void chunked_split_at_every_pair_of_points(void **state) {
    (void)state;
    size_t len = sizeof CHUNKED - 1;
    for (size_t i = 0; i <= len; i++)
        for (size_t j = i; j <= len; j++) {
            size_t cuts[2] = {i, j};
            decode_in_pieces(CHUNKED, len, cuts, 2, CHUNKED_BODY);
        }
}

static void chunked_byte_by_byte(void **state) {
    (void)state;
    size_t len = sizeof CHUNKED - 1;
    size_t cuts[sizeof CHUNKED];
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    decode_in_pieces(CHUNKED, len, cuts, len, CHUNKED_BODY);
}

static void chunked_empty_body(void **state) {
    (void)state;
    size_t cut = 0;
    decode_in_pieces("0\r\n\r\n", 5, &cut, 0, "");
    decode_in_pieces("000\r\n\r\n", 7, &cut, 0, "");
}

/* Asserts that the chunked body msg is rejected with status, however it is split in two. */
static void chunked_reject_lim(const char *msg, int status, const fg_http_limits *lim) {
    size_t len = strlen(msg);
    char *buf = malloc(len + 1);
    for (size_t cut = 0; cut <= len; cut++) {
        fg_http_chunked c;
        fg_http_chunked_reset(&c);
        memcpy(buf, msg, len);
        int rc = fg_http_chunked_decode(&c, buf, cut, lim);
        if (rc == 0)
            rc = fg_http_chunked_decode(&c, buf, len, lim);
        if (rc != FG_EINVAL || c.status != status)
            fail_msg("\"%s\" cut %zu: rc %d status %d (%s), want %d", msg, cut, rc, c.status,
                     c.error ? c.error : "", status);
        assert_non_null(c.error);
        assert_int_equal(fg_http_chunked_decode(&c, buf, len, lim), FG_EINVAL); /* sticky */
    }
    free(buf);
}
static void chunked_reject(const char *msg, int status) {
    chunked_reject_lim(msg, status, NULL);
}

static void chunked_bad_sizes_are_400(void **state) {
    (void)state;
    chunked_reject("x\r\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("\r\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("-5\r\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("+5\r\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("0x5\r\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("5x\r\nhello\r\n0\r\n\r\n", 400);
    chunked_reject(" 5\r\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("5 x\r\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("5 \r\nhello\r\n0\r\n\r\n", 400);
    /* 17 digits overflow 64 bits (or would with a different parser): refused before any limit check */
    chunked_reject("10000000000000005\r\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("00000000000000005\r\nhello\r\n0\r\n\r\n", 400);
}

static void chunked_missing_crlf_is_400(void **state) {
    (void)state;
    chunked_reject("5\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("5\rhello\r\n0\r\n\r\n", 400);
    chunked_reject("5\r\nhelloX\r\n0\r\n\r\n", 400);
    chunked_reject("5\r\nhello\n0\r\n\r\n", 400);
    chunked_reject("5\r\nhello\rX0\r\n\r\n", 400);
    chunked_reject("3\r\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("5;a=b\nhello\r\n0\r\n\r\n", 400);
    chunked_reject("0\r\n\n", 400);
    chunked_reject("0\r\n\rX", 400);
    chunked_reject("0\r\nX: y\n\r\n", 400);
    chunked_reject("0\r\nX: y\rZ\r\n", 400);
}

static void chunked_extensions_are_ignored_but_checked(void **state) {
    (void)state;
    size_t cut = 0;
    decode_in_pieces("5;a\r\nhello\r\n0;last=1\r\n\r\n", 24, &cut, 0, "hello");
    decode_in_pieces("5 \t;a=\"b c\"\r\nhello\r\n0\r\n\r\n", 25, &cut, 0, "hello");
    chunked_reject("5;a\x01\r\nhello\r\n0\r\n\r\n", 400);
    fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
    lim.max_header_bytes = 10;
    /* extension bytes (";abcd" and ";efgh") over the whole body: 5 + 5 = 10, the limit */
    const char *at = "1;abcd\r\nx\r\n1;efgh\r\ny\r\n0\r\n\r\n";
    fg_http_chunked c;
    fg_http_chunked_reset(&c);
    char buf[64];
    memcpy(buf, at, strlen(at));
    assert_int_equal(fg_http_chunked_decode(&c, buf, strlen(at), &lim), 1);
    assert_int_equal(c.body_len, 2);
    chunked_reject_lim("1;abcd\r\nx\r\n1;efghi\r\ny\r\n0\r\n\r\n", 413, &lim);
}

static void chunked_trailers_are_ignored_but_checked(void **state) {
    (void)state;
    chunked_reject("0\r\nX: a\r\n b\r\n\r\n", 400);
    chunked_reject("0\r\n X: a\r\n\r\n", 400);
    chunked_reject("0\r\nX : a\r\n\r\n", 400);
    chunked_reject("0\r\nX@: a\r\n\r\n", 400);
    chunked_reject("0\r\n: a\r\n\r\n", 400);
    chunked_reject("0\r\nX: a\x01\r\n\r\n", 400);
    chunked_reject("0\r\nX\r\n\r\n", 400);
}

static void chunked_body_limit_is_413(void **state) {
    (void)state;
    fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
    lim.max_body_bytes = 10;
    const char *at = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    char buf[64];
    memcpy(buf, at, strlen(at));
    fg_http_chunked c;
    fg_http_chunked_reset(&c);
    assert_int_equal(fg_http_chunked_decode(&c, buf, strlen(at), &lim), 1);
    assert_int_equal(c.body_len, 10);
    chunked_reject_lim("5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n", 413, &lim);
    chunked_reject_lim("b\r\nhello world\r\n0\r\n\r\n", 413, &lim);
    /* the size alone decides: no data needs to arrive */
    chunked_reject("ffffffffffffffff\r\n", 413);
    chunked_reject("4000001\r\n", 413); /* default limit 64 MiB + 1 */
}

static void chunked_trailer_limits_are_431(void **state) {
    (void)state;
    fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
    lim.max_header_bytes = 20;
    lim.max_headers = 2;
    /* trailer section bytes: "A: 1234567\r\n" (12) + "B: 1\r\n" (6) + final CRLF (2) = 20, the limit */
    const char *at = "0\r\nA: 1234567\r\nB: 1\r\n\r\n";
    char buf[64];
    memcpy(buf, at, strlen(at));
    fg_http_chunked c;
    fg_http_chunked_reset(&c);
    assert_int_equal(fg_http_chunked_decode(&c, buf, strlen(at), &lim), 1);
    chunked_reject_lim("0\r\nA: 12345678\r\nB: 1\r\n\r\n", 431, &lim);
    chunked_reject_lim("0\r\nA: 1\r\nB: 1\r\nC: 1\r\n\r\n", 431, &lim);
}

/* ---- responses ---- */

static void write_head_exact_bytes(void **state) {
    (void)state;
    char buf[256];
    size_t n;
    fg_http_response r = {
        .status = 200, .content_type = "application/json", .content_length = 42, .keep_alive = true};
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), 0);
    const char *want = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 42\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);

    r = (fg_http_response){.status = 503, .content_length = 0, .keep_alive = false};
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), 0);
    want = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);

    r = (fg_http_response){
        .status = 200, .content_length = 18446744073709551615u, .keep_alive = true, .http10 = true};
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), 0);
    want = "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\nConnection: keep-alive\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
}

static void write_head_extra_fields_and_injection(void **state) {
    (void)state;
    char buf[256];
    size_t n;
    fg_http_header extra[2] = {{{"Date", 4}, {"Sun, 06 Nov 1994 08:49:37 GMT", 29}},
                               {{"Retry-After", 11}, {"1", 1}}};
    fg_http_response r = {
        .status = 404, .content_length = 3, .keep_alive = true, .extra = extra, .n_extra = 2};
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), 0);
    const char *want =
        "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        "Retry-After: 1\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    fg_http_header bad_value = {{"X", 1}, {"a\r\nSet-Cookie: x", 17}};
    r.extra = &bad_value;
    r.n_extra = 1;
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), FG_EINVAL);
    fg_http_header bad_name = {{"X Y", 3}, {"a", 1}};
    r.extra = &bad_name;
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), FG_EINVAL);
    fg_http_header empty_name = {{"", 0}, {"a", 1}};
    r.extra = &empty_name;
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), FG_EINVAL);
    r = (fg_http_response){.status = 200, .content_type = "text/plain\r\nX: y", .keep_alive = true};
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), FG_EINVAL);
}

static void write_head_checks_capacity(void **state) {
    (void)state;
    char buf[256];
    size_t n;
    fg_http_response r = {.status = 431, .content_type = "application/json", .content_length = 1234};
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), 0);
    size_t need = n;
    for (size_t cap = 0; cap < need; cap++) {
        char small[256];
        memset(small, '#', sizeof small);
        assert_int_equal(fg_http_write_head(small, cap, &r, &n), FG_EINVAL);
        for (size_t i = cap; i < sizeof small; i++)
            assert_int_equal(small[i], '#'); /* nothing written past cap */
    }
    assert_int_equal(fg_http_write_head(buf, need, &r, &n), 0);
    assert_int_equal(n, need);
}

static void write_head_omits_length_for_1xx_and_204(void **state) {
    (void)state;
    char buf[256];
    size_t n;
    fg_http_response r = {.status = 204, .content_length = 5, .keep_alive = true};
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), 0);
    assert_int_equal(n, strlen("HTTP/1.1 204 \r\n\r\n"));
    assert_memory_equal(buf, "HTTP/1.1 204 \r\n\r\n", n);
    r.status = 100;
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), 0);
    assert_memory_equal(buf, FG_HTTP_100_CONTINUE, n);
    r.status = 99;
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), FG_EINVAL);
    r.status = 600;
    assert_int_equal(fg_http_write_head(buf, sizeof buf, &r, &n), FG_EINVAL);
}

static void reason_phrases_for_server_statuses(void **state) {
    (void)state;
    assert_string_equal(fg_http_reason(100), "Continue");
    assert_string_equal(fg_http_reason(200), "OK");
    assert_string_equal(fg_http_reason(400), "Bad Request");
    assert_string_equal(fg_http_reason(404), "Not Found");
    assert_string_equal(fg_http_reason(405), "Method Not Allowed");
    assert_string_equal(fg_http_reason(408), "Request Timeout");
    assert_string_equal(fg_http_reason(413), "Content Too Large");
    assert_string_equal(fg_http_reason(414), "URI Too Long");
    assert_string_equal(fg_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(fg_http_reason(500), "Internal Server Error");
    assert_string_equal(fg_http_reason(501), "Not Implemented");
    assert_string_equal(fg_http_reason(503), "Service Unavailable");
    assert_string_equal(fg_http_reason(505), "HTTP Version Not Supported");
    assert_string_equal(fg_http_reason(299), "");
}

static void json_error_escape(const char *msg, size_t len, const char *want) {
    char buf[256];
    size_t n;
    assert_int_equal(fg_http_json_error(buf, sizeof buf, msg, len, &n), 0);
    if (n != strlen(want) || memcmp(buf, want, n))
        fail_msg("got %.*s want %s", (int)n, buf, want);
}

static void json_error_escapes_strings(void **state) {
    (void)state;
    json_error_escape("plain", 5, "{\"error\": \"plain\"}");
    json_error_escape("a\"b\\c/d", 7, "{\"error\": \"a\\\"b\\\\c/d\"}");
    json_error_escape("\b\f\n\r\t\x01\x1f\x7f", 8, "{\"error\": \"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"}");
    json_error_escape("nul\0x", 5, "{\"error\": \"nul\\u0000x\"}");
    json_error_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
                      "{\"error\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}");
    json_error_escape("\xff", 1, "{\"error\": \"\\ufffd\"}");
    json_error_escape("\xc0\xaf", 2, "{\"error\": \"\\ufffd\\ufffd\"}");            /* overlong */
    json_error_escape("\xed\xa0\x80", 3, "{\"error\": \"\\ufffd\\ufffd\\ufffd\"}"); /* surrogate */
    json_error_escape("\xf4\x90\x80\x80", 4,
                      "{\"error\": \"\\ufffd\\ufffd\\ufffd\\ufffd\"}");    /* > U+10FFFF */
    json_error_escape("a\xe2\x82", 3, "{\"error\": \"a\\ufffd\\ufffd\"}"); /* truncated */
    json_error_escape("", 0, "{\"error\": \"\"}");
}

static void json_error_checks_capacity(void **state) {
    (void)state;
    char buf[64];
    size_t n;
    const char *want = "{\"error\": \"a\\nb\"}";
    for (size_t cap = 0; cap < strlen(want); cap++)
        assert_int_equal(fg_http_json_error(buf, cap, "a\nb", 3, &n), FG_EINVAL);
    assert_int_equal(fg_http_json_error(buf, strlen(want), "a\nb", 3, &n), 0);
    assert_int_equal(n, strlen(want));
}

static void write_error_writes_head_and_json_body(void **state) {
    (void)state;
    char buf[256];
    size_t n;
    assert_int_equal(fg_http_write_error(buf, sizeof buf, 413, "request body too large", false, &n), 0);
    const char *want =
        "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: 35\r\n"
        "Connection: close\r\n\r\n{\"error\": \"request body too large\"}";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(buf, want, n);
    size_t need = n;
    for (size_t cap = 0; cap < need; cap++)
        assert_int_equal(fg_http_write_error(buf, cap, 413, "request body too large", false, &n), FG_EINVAL);
    /* a parse failure's status and reason make a complete answer */
    fg_http_request r;
    assert_true(parse(&r, "GET / HTTP/2.0\r\nHost: a\r\n\r\n") < 0);
    assert_int_equal(fg_http_write_error(buf, sizeof buf, r.status, r.error, r.keep_alive, &n), 0);
    assert_memory_equal(buf, "HTTP/1.1 505 HTTP Version Not Supported\r\n", 41);
}

static void format_date_is_imf_fixdate(void **state) {
    (void)state;
    char d[FG_HTTP_DATE_SIZE];
    fg_http_format_date(784111777, d);
    assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    fg_http_format_date(0, d);
    assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
    fg_http_format_date(4102444799, d);
    assert_string_equal(d, "Thu, 31 Dec 2099 23:59:59 GMT");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(head_parses_kserve_post),
        cmocka_unit_test(head_without_query_has_null_query),
        cmocka_unit_test(head_knows_methods_case_sensitively),
        cmocka_unit_test(head_accepts_absolute_and_asterisk_forms),
        cmocka_unit_test(head_trims_whitespace_around_values),
        cmocka_unit_test(head_allows_obs_text_in_values),
        cmocka_unit_test(header_get_ignores_case_and_returns_first),
        cmocka_unit_test(head_skips_empty_lines_before_request_line),
        cmocka_unit_test(head_needs_more_for_every_prefix),
        cmocka_unit_test(head_split_byte_by_byte_matches_one_shot),
        cmocka_unit_test(head_parse_after_completion_repeats_result),
        cmocka_unit_test(head_error_is_sticky),
        cmocka_unit_test(pipelined_two_requests_parse_in_order),
        cmocka_unit_test(pipelined_three_requests_with_chunked_middle),
        cmocka_unit_test(pipelined_head_leaves_next_request_untouched),
        cmocka_unit_test(keep_alive_defaults_and_connection_tokens),
        cmocka_unit_test(expect_continue_is_flagged_for_http11_only),
        cmocka_unit_test(host_rules),
        cmocka_unit_test(content_length_must_be_plain_decimal),
        cmocka_unit_test(content_length_duplicates_are_rejected_even_when_equal),
        cmocka_unit_test(content_length_and_transfer_encoding_is_rejected),
        cmocka_unit_test(transfer_encoding_must_be_exactly_chunked),
        cmocka_unit_test(obs_fold_is_rejected),
        cmocka_unit_test(header_name_rules),
        cmocka_unit_test(header_value_control_bytes_are_rejected),
        cmocka_unit_test(long_values_and_targets_checked_at_every_position),
        cmocka_unit_test(bare_lf_and_bare_cr_are_rejected),
        cmocka_unit_test(request_line_rules),
        cmocka_unit_test(http_versions_other_than_10_and_11_get_505),
        cmocka_unit_test(request_line_limit_is_414),
        cmocka_unit_test(header_bytes_limit_is_431),
        cmocka_unit_test(header_count_limit_is_431),
        cmocka_unit_test(body_limit_is_413),
        cmocka_unit_test(chunked_decodes_in_place),
        cmocka_unit_test(chunked_split_at_every_point),
        cmocka_unit_test(chunked_split_at_every_pair_of_points),
        cmocka_unit_test(chunked_byte_by_byte),
        cmocka_unit_test(chunked_empty_body),
        cmocka_unit_test(chunked_bad_sizes_are_400),
        cmocka_unit_test(chunked_missing_crlf_is_400),
        cmocka_unit_test(chunked_extensions_are_ignored_but_checked),
        cmocka_unit_test(chunked_trailers_are_ignored_but_checked),
        cmocka_unit_test(chunked_body_limit_is_413),
        cmocka_unit_test(chunked_trailer_limits_are_431),
        cmocka_unit_test(write_head_exact_bytes),
        cmocka_unit_test(write_head_extra_fields_and_injection),
        cmocka_unit_test(write_head_checks_capacity),
        cmocka_unit_test(write_head_omits_length_for_1xx_and_204),
        cmocka_unit_test(reason_phrases_for_server_statuses),
        cmocka_unit_test(json_error_escapes_strings),
        cmocka_unit_test(json_error_checks_capacity),
        cmocka_unit_test(write_error_writes_head_and_json_body),
        cmocka_unit_test(format_date_is_imf_fixdate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
