/* http_parse.c - times fg_http_parse_head on a typical KServe v2 POST head (209 bytes, 6 fields), the way
 * the server calls it: reset, then one parse of a complete head. Built by hand, not part of CI:
 *
 *   cc -O2 -std=c17 -D_GNU_SOURCE -Isrc bench/http_parse.c src/serve/http.c -o /tmp/http_parse
 *   /tmp/http_parse [iterations]
 *
 * Prints the best of 7 rounds in ns per head (best, not mean: other processes only ever add time). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/http.h"

static const char HEAD[] = "POST /v2/models/resnet50/versions/1/infer HTTP/1.1\r\n"
                           "Host: frugal.internal:8000\r\n"
                           "User-Agent: python-requests/2.31.0\r\n"
                           "Accept: */*\r\n"
                           "Connection: keep-alive\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: 1532\r\n"
                           "\r\n";

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    size_t len = sizeof HEAD - 1;
    static fg_http_request r;
    double best = 1e30;
    long sink = 0;
    for (int round = 0; round < 7; round++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            fg_http_request_reset(&r);
            if (fg_http_parse_head(&r, HEAD, len, NULL) != 1) {
                fprintf(stderr, "parse failed: %d %s\n", r.status, r.error);
                return 1;
            }
            sink += (long)r.head_len;
            __asm__ volatile("" : : "r"(&r) : "memory"); /* keep the parse from being hoisted */
        }
        double ns = (now_ns() - t0) / (double)iters;
        if (ns < best)
            best = ns;
    }
    printf("head %zu bytes, %zu fields: %.1f ns per parse (%.2f GB/s), best of 7 x %ld\n", len, r.n_headers,
           best, (double)len / best, iters);
    return sink == 0;
}
