/* fuzz_promtext.c - libFuzzer target for the Prometheus text reader (src/serve/promtext.c).
 * The input is a scrape, given as an exact-size copy so ASan sees any read past it. Checked: parsing
 * never fails below the sample limit; every kept sample has a valid name, at most FG_PROM_MAX_LABELS
 * distinct labels and NUL-free strings; the bad-line bookkeeping is consistent; the lookup helpers
 * find each sample again; the buckets of every histogram-looking family come back sorted and their
 * quantiles stay inside the finite bounds (or are NaN/0). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/promtext.h"

#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            __builtin_trap();                                                                                \
    } while (0)

static int name_ok(const char *s) {
    if (!s[0] || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == ':'))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    memcpy(text, data, size);
    fg_prom_doc d;
    fg_err e = {0};
    int rc = fg_prom_parse(text, size, &d, &e);
    CHECK(rc == 0); /* inputs are far below FG_PROM_MAX_SAMPLES */
    CHECK(d.n_bad <= d.n_lines && d.bad_line <= d.n_lines && (d.n_bad == 0) == (d.bad_line == 0));
    CHECK(d.n_samples + d.n_bad <= d.n_lines);
    for (size_t i = 0; i < d.n_samples && i < 64; i++) {
        const fg_prom_sample *s = &d.samples[i];
        CHECK(name_ok(s->name));
        CHECK(s->n_labels <= FG_PROM_MAX_LABELS);
        const char *match[2 * FG_PROM_MAX_LABELS];
        for (size_t k = 0; k < s->n_labels; k++) {
            CHECK(name_ok(s->labels[k].name) && strchr(s->labels[k].name, ':') == NULL);
            CHECK(fg_prom_label_value(s, s->labels[k].name) == s->labels[k].value);
            match[2 * k] = s->labels[k].name;
            match[2 * k + 1] = s->labels[k].value;
        }
        size_t found = 0;
        fg_prom_sum(&d, s->name, match, s->n_labels, &found);
        CHECK(found >= 1);
        size_t nl = strlen(s->name);
        if (nl > 7 && strcmp(s->name + nl - 7, "_bucket") == 0) {
            char fam[FG_PROM_MAX_TOKEN + 1];
            memcpy(fam, s->name, nl - 7);
            fam[nl - 7] = 0;
            double le[16], cum[16];
            size_t nb = fg_prom_buckets(&d, fam, NULL, 0, le, cum, 16);
            CHECK(nb <= 16);
            for (size_t b = 1; b < nb; b++)
                CHECK(le[b - 1] < le[b]);
            const double qs[] = {0, 0.5, 0.99, 1};
            for (int q = 0; q < 4; q++) {
                double v = fg_prom_histogram_quantile(qs[q], le, cum, nb);
                if (isnan(v) || nb < 2)
                    continue;
                double lo = le[0] < 0 ? le[0] : 0, hi = le[nb - 2];
                CHECK(isinf(hi) || (v >= lo - 1e-9 * fabs(lo) && v <= hi + 1e-9 * fabs(hi)) || isinf(le[0]));
            }
        }
    }
    for (size_t i = 0; i < d.n_families; i++)
        CHECK(name_ok(d.families[i].name) && d.families[i].type <= FG_PROM_SUMMARY);
    fg_prom_free(&d);
    free(text);
    return 0;
}
