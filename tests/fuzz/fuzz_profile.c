/* fuzz_profile.c - libFuzzer target for frugal bench's profile parser (src/bench/profile.c) and the
 * threshold parser (src/bench/threshold.c). The input is a profile, given as an exact-size copy so ASan
 * sees any read past it. Checked: parsing either succeeds with 1..FG_BENCH_MAX_STAGES stages whose
 * values are inside the documented ranges and whose names are NUL-terminated, or fails with a message
 * naming the source and a line; each line is also tried as a --threshold expression. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/profile.h"
#include "bench/threshold.h"

#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            __builtin_trap();                                                                                \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    fg_stage *st = NULL;
    size_t n = 0;
    fg_err e = {0};
    int rc = fg_bench_profile_parse(text, size, "fuzz.txt", &st, &n, &e);
    if (rc == 0) {
        CHECK(st != NULL && n >= 1 && n <= FG_BENCH_MAX_STAGES);
        for (size_t i = 0; i < n; i++) {
            const fg_stage *s = &st[i];
            CHECK(s->duration_s > 0 && s->duration_s <= FG_BENCH_MAX_DURATION_S && s->requests == 0);
            CHECK(memchr(s->name, 0, sizeof s->name) != NULL && s->name[0]);
            if (s->kind == FG_STAGE_CLOSED) {
                CHECK(s->concurrency >= 1 && s->concurrency <= FG_BENCH_MAX_CONCURRENCY);
            } else {
                CHECK(s->kind <= FG_STAGE_SPIKE);
                CHECK(s->rate > 0 && s->rate <= FG_BENCH_MAX_RATE && s->rate_end > 0 && s->rate_end <= FG_BENCH_MAX_RATE);
                CHECK(s->kind == FG_STAGE_RAMP || s->rate == s->rate_end);
            }
        }
        free(st);
    } else {
        CHECK(rc == FG_EINVAL && st == NULL && n == 0);
        CHECK(strncmp(e.msg, "fuzz.txt", 8) == 0);
    }
    /* every line as a threshold expression */
    size_t i = 0;
    while (i < size) {
        size_t j = i;
        while (j < size && text[j] != '\n')
            j++;
        char line[256];
        size_t l = j - i < sizeof line - 1 ? j - i : sizeof line - 1;
        memcpy(line, text + i, l);
        line[l] = 0;
        fg_threshold t;
        fg_err te = {0};
        if (fg_bench_threshold_parse(line, &t, &te) == 0) {
            CHECK(t.metric <= FG_THR_RPS && t.op <= FG_THR_GE && isfinite(t.limit) && t.limit >= 0);
            CHECK(!t.percent || t.limit <= 100);
            fg_thr_input in = {.p99 = 1, .sent = 1};
            double v = fg_bench_threshold_value(&t, &in);
            (void)fg_bench_threshold_passes(&t, v);
        } else {
            CHECK(te.msg[0]);
        }
        i = j + 1;
    }
    free(text);
    return 0;
}
