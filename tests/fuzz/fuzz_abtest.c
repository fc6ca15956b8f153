/* fuzz_abtest.c - libFuzzer target for the A/B test configuration readers (src/serve/abtest.c): the
 * --abtest argument parser and the abtest.json loader. The first byte picks the reader; the rest is an
 * argument (NUL-terminated copy) or a file (written to a memfd, read by its /proc path). Checked: a
 * parse either succeeds with 2..FG_AB_MAX_VARIANTS variants, positive total weight and NUL-terminated
 * names, or fails with a message; the loader never appends past max and fills options only in range. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "serve/abtest.h"

#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            __builtin_trap();                                                                                \
    } while (0)

static void check_spec(const fg_ab_spec *s) {
    CHECK(s->n >= 2 && s->n <= FG_AB_MAX_VARIANTS);
    CHECK(memchr(s->model, 0, sizeof s->model) != NULL);
    double total = 0;
    for (size_t i = 0; i < s->n; i++) {
        CHECK(memchr(s->v[i].name, 0, sizeof s->v[i].name) != NULL);
        CHECK(s->v[i].weight >= 0 && isfinite(s->v[i].weight));
        total += s->v[i].weight;
    }
    CHECK(total > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    static fg_ab_spec specs[4];
    if (data[0] & 1) {
        char *arg = malloc(size);
        memcpy(arg, data + 1, size - 1);
        arg[size - 1] = 0;
        fg_err e = {0};
        if (fg_ab_parse(arg, &specs[0], &e) == 0)
            check_spec(&specs[0]);
        else
            CHECK(e.msg[0] != 0);
        free(arg);
        return 0;
    }
    int fd = memfd_create("abtest", 0);
    if (fd < 0)
        return 0;
    if (size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
        close(fd);
        return 0;
    }
    char path[64], hdr[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    size_t n = 1; /* one slot already used, as after an --abtest flag */
    fg_ab_opts o = {0};
    fg_err e = {0};
    if (fg_ab_load_file(path, specs, &n, 4, &o, hdr, sizeof hdr, &e) == 0) {
        CHECK(n >= 2 && n <= 4);
        for (size_t i = 1; i < n; i++)
            check_spec(&specs[i]);
        CHECK(o.margin >= 0 && o.margin <= 1 && o.slo_p99_ms >= 0 && o.slo_secs >= 0);
        CHECK(!o.header || o.header == hdr);
    } else {
        CHECK(e.msg[0] != 0 && n <= 4);
    }
    close(fd);
    return 0;
}
