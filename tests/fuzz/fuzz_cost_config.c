/* fuzz_cost_config.c - libFuzzer target for the two text files `frugal cost` reads besides billing data:
 * bucket rules (src/cost/rules.c) and the price table (src/cost/recs.c). The input, as an exact-size
 * copy, is parsed as both. Checked: a parse either succeeds or fails with a message and leaves the
 * output untouched (prices) or empty (rules); every kept rule has a valid bucket and field and a
 * NUL-free pattern; parsed prices stay inside their documented ranges; classifying a fixed row with the
 * parsed rules returns a valid bucket. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cost/recs.h"
#include "cost/rules.h"

#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            __builtin_trap();                                                                                \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);

    fg_rules rs;
    fg_err e = {0};
    int rc = fg_rules_parse(text, size, "fuzz", &rs, &e);
    if (rc == 0) {
        fg_bill_row row;
        memset(&row, 0, sizeof row);
        row.service_name = (fg_str){"Amazon SageMaker", 16};
        row.usage_type = (fg_str){"USE1-Train:ml.p3.2xlarge", 24};
        fg_bill_tag tag = {{"ml-stage", 8}, {"training", 8}};
        row.tags = &tag;
        row.n_tags = 1;
        row.commitment_status = FG_COMMIT_UNUSED;
        for (size_t i = 0; i < rs.n; i++) {
            CHECK((unsigned)rs.r[i].bucket < FG_BUCKET_COUNT);
            CHECK(rs.r[i].pattern != NULL);
            CHECK((rs.r[i].field == FG_RULE_TAG) == (rs.r[i].key != NULL));
        }
        long line = -1;
        fg_bucket b = fg_rules_classify(&rs, &row, &line);
        CHECK((unsigned)b < FG_BUCKET_COUNT && line >= 0);
        fg_rules_free(&rs);
    } else {
        CHECK(e.msg[0] != 0);
        CHECK(rs.n == 0);
    }

    fg_prices p = {0}, before;
    fg_err e2 = {0};
    CHECK(fg_prices_parse(fg_prices_default, strlen(fg_prices_default), "default", &p, &e2) == 0);
    before = p;
    fg_err e3 = {0};
    if (fg_prices_parse(text, size, "fuzz", &p, &e3) == 0) {
        CHECK(p.spot_discount >= 0 && p.spot_discount <= 1);
        CHECK(p.steady_min_days >= 1 && p.steady_min_days <= 366);
        CHECK(p.storage_standard_per_gb_month > 0 && p.storage_infrequent_per_gb_month <= p.storage_standard_per_gb_month);
        CHECK(!isnan(p.serving_idle_reducible));
    } else {
        CHECK(e3.msg[0] != 0);
        CHECK(memcmp(&p, &before, sizeof p) == 0);
    }
    free(text);
    return 0;
}
