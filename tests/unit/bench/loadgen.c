/* Tests for src/bench/loadgen.c: the response head parser, the stability rule, and the engine against
 * an in-process server thread that answers in turn with a Content-Length body, a chunked body (split
 * over two writes) and a 503 with Connection: close: exact ok and error counts, reconnection after the
 * close, latency recorded for every answer; and a connection refused counts as a connect error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/loadgen.h"

static void response_heads_parse(void **state) {
    (void)state;
    int st, ch, cl_;
    int64_t cl;
    const char *a = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX: y\r\n\r\n";
    assert_int_equal(fg_bench_parse_response_head(a, strlen(a), &st, &cl, &ch, &cl_), 0);
    assert_true(st == 200 && cl == 12 && !ch && !cl_);
    const char *b = "HTTP/1.1 503 Service Unavailable\r\ncontent-length:0\r\nConnection: close\r\n\r\n";
    assert_int_equal(fg_bench_parse_response_head(b, strlen(b), &st, &cl, &ch, &cl_), 0);
    assert_true(st == 503 && cl == 0 && cl_);
    const char *c = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
    assert_int_equal(fg_bench_parse_response_head(c, strlen(c), &st, &cl, &ch, &cl_), 0);
    assert_true(ch && cl == -1);
    const char *d = "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n"; /* 1.0 without keep-alive closes */
    assert_int_equal(fg_bench_parse_response_head(d, strlen(d), &st, &cl, &ch, &cl_), 0);
    assert_true(cl_);
    const char *e = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n";
    assert_int_equal(fg_bench_parse_response_head(e, strlen(e), &st, &cl, &ch, &cl_), 0);
    assert_false(cl_);
    const char *bad[] = {"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
                         "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                         "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "ICY 200 OK\r\n\r\n",
                         "HTTP/1.1 600 X\r\n\r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (fg_bench_parse_response_head(bad[i], strlen(bad[i]), &st, &cl, &ch, &cl_) != -1)
            fail_msg("accepted: %s", bad[i]);
}

static void stability_needs_three_agreeing_seconds(void **state) {
    (void)state;
    fg_bench_second s[4] = {{.ok = 10}, {.ok = 100}, {.ok = 104}, {.ok = 97}};
    assert_true(fg_bench_stable(s, 4, 5));
    assert_false(fg_bench_stable(s, 4, 2));
    assert_false(fg_bench_stable(s, 3, 50)); /* 10, 100, 104 */
    assert_false(fg_bench_stable(s + 2, 2, 50));
    fg_bench_second z[3] = {{0}};
    assert_false(fg_bench_stable(z, 3, 50)); /* nothing answered is not stable */
}

/* ---- a scripted server: answers request i with script[i % 3] */

typedef struct {
    int ls;
    int n_req; /* answers to give, then exit */
    int answered;
} server;

static const char *const script[] = {
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", /* the rest in a second write */
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy",
};

static void *server_main(void *arg) {
    server *s = arg;
    while (s->answered < s->n_req) {
        int fd = accept(s->ls, NULL, NULL);
        if (fd < 0)
            break;
        char buf[4096];
        size_t len = 0;
        int open = 1;
        while (open && s->answered < s->n_req) {
            ssize_t r = read(fd, buf + len, sizeof buf - len);
            if (r <= 0)
                break;
            len += (size_t)r;
            char *end;
            while ((end = memmem(buf, len, "\r\n\r\n", 4)) != NULL) {
                size_t q = (size_t)(end + 4 - buf);
                memmove(buf, buf + q, len - q);
                len -= q;
                int k = s->answered++ % 3;
                if (write(fd, script[k], strlen(script[k])) < 0)
                    open = 0;
                if (k == 1) {
                    struct timespec ts = {0, 2000000};
                    nanosleep(&ts, NULL);
                    if (write(fd, "lo\r\n0\r\n\r\n", 9) < 0)
                        open = 0;
                }
                if (k == 2) {
                    open = 0;
                    break;
                }
            }
        }
        close(fd);
    }
    return NULL;
}

static int listen_any(int *port) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(ls, 64), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return ls;
}

static void engine_counts_ok_chunked_and_503_close(void **state) {
    (void)state;
    int port;
    server s = {.n_req = 30};
    s.ls = listen_any(&port);
    pthread_t th;
    pthread_create(&th, NULL, server_main, &s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", port);
    fg_bench_target_opts to = {.url = url};
    fg_bench_target t;
    fg_err e = {0};
    assert_int_equal(fg_bench_target_build(&to, &t, &e), 0);
    fg_stage st = {.kind = FG_STAGE_CLOSED, .concurrency = 1, .requests = 30};
    fg_bench_run_opts o = {.target = &t, .stages = &st, .n_stages = 1, .threads = 1, .max_connections = 4,
                           .timeout_s = 5};
    fg_bench_result r;
    assert_int_equal(fg_bench_run(&o, &r, &e), 0);
    pthread_join(th, NULL);
    close(s.ls);
    assert_int_equal(r.n_stages, 1);
    const fg_bench_stage_result *x = &r.stages[0];
    assert_int_equal(x->sent, 30);
    assert_int_equal(x->completed, 30);
    assert_int_equal(x->ok, 20);
    assert_int_equal(x->err_status[503], 10);
    assert_int_equal(fg_bench_stage_errors(x), 10);
    assert_int_equal(x->err_reset + x->err_other + x->err_connect + x->err_timeout, 0);
    assert_int_equal(fg_hist_count(x->lat), 30);
    assert_int_equal(x->dropped, 0);
    assert_true(fg_hist_max(x->svc) >= 2000); /* the chunked answer waited 2 ms for its end */
    assert_int_equal(x->stable, -1);
    fg_bench_result_free(&r);
    fg_bench_target_free(&t);
}

static void engine_counts_refused_connections(void **state) {
    (void)state;
    int port;
    int ls = listen_any(&port);
    close(ls); /* nothing listens there now */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    fg_bench_target_opts to = {.url = url};
    fg_bench_target t;
    fg_err e = {0};
    assert_int_equal(fg_bench_target_build(&to, &t, &e), 0);
    fg_stage st = {.kind = FG_STAGE_CONSTANT, .rate = 100, .rate_end = 100, .duration_s = 0.3};
    fg_bench_run_opts o = {.target = &t, .stages = &st, .n_stages = 1, .threads = 1, .max_connections = 8,
                           .timeout_s = 1};
    fg_bench_result r;
    assert_int_equal(fg_bench_run(&o, &r, &e), 0);
    const fg_bench_stage_result *x = &r.stages[0];
    assert_int_equal(x->ok, 0);
    assert_true(x->err_connect >= 1);
    assert_int_equal(x->sent + x->dropped, 30); /* every scheduled request is accounted for */
    assert_int_equal(fg_bench_stage_errors(x), x->err_connect);
    assert_int_equal(x->sent, x->err_connect);
    fg_bench_result_free(&r);
    fg_bench_target_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(response_heads_parse),
        cmocka_unit_test(stability_needs_three_agreeing_seconds),
        cmocka_unit_test(engine_counts_ok_chunked_and_503_close),
        cmocka_unit_test(engine_counts_refused_connections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
