/* Tests for src/cost/rules.c: globbing, rule parsing (errors with line numbers), first-match order, tag
 * and charge rules, and that the built-in rules are deploy/cost/rules.txt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cost/rules.h"

static fg_str S(const char *s) { return (fg_str){s, strlen(s)}; }
static bool g(const char *pat, const char *s) { return fg_glob_match(pat, s, strlen(s)); }

static void glob_basics(void **state) {
    (void)state;
    assert_true(g("abc", "abc"));
    assert_true(g("ABC", "abc"));
    assert_false(g("abc", "abcd"));
    assert_false(g("abcd", "abc"));
    assert_true(g("*", ""));
    assert_true(g("*", "anything"));
    assert_false(g("?", ""));
    assert_true(g("a?c", "aXc"));
    assert_true(g("*SpotUsage*", "USE1-SpotUsage:p3.2xlarge"));
    assert_true(g("*-Train:*", "USE1-Train:ml.p3.2xlarge"));
    assert_false(g("*-Train:*", "USE1-Host:ml.m5.large"));
    assert_true(g("a*b*c", "aXXbYYbZc"));
    assert_false(g("a*b*c", "aXXbYYbZ"));
    assert_true(g("**x", "x"));
    assert_true(g("train*", "Training"));
    assert_true(g("AI and Machine Learning", "ai AND machine learning"));
    assert_true(fg_glob_match("a*", "a\0b", 3));
}

static void parse_errors(void **state) {
    (void)state;
    fg_rules rs;
    fg_err e = {0};
    const char *bad_bucket = "# c\n\ntraining sku x\nbogus sku y\n";
    assert_int_equal(fg_rules_parse(bad_bucket, strlen(bad_bucket), "r.txt", &rs, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "r.txt:4: unknown bucket 'bogus'"));
    assert_int_equal(rs.n, 0);
    fg_err_clear(&e);
    const char *bad_field = "training sku x\ninference colour red\n";
    assert_int_equal(fg_rules_parse(bad_field, strlen(bad_field), "r", &rs, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "r:2: unknown field 'colour'"));
    fg_err_clear(&e);
    const char *no_pat = "training sku\n";
    assert_int_equal(fg_rules_parse(no_pat, strlen(no_pat), "r", &rs, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "r:1: want BUCKET FIELD PATTERN"));
    fg_err_clear(&e);
    const char *empty_tag = "\n\ntraining tag: x\n";
    assert_int_equal(fg_rules_parse(empty_tag, strlen(empty_tag), "r", &rs, &e), FG_EINVAL);
    assert_non_null(strstr(e.msg, "r:3: empty tag key"));
    fg_err_clear(&e);
    const char *ok = "  # comment\r\n\tTRAINING\tusage_type\t*GPU*  \r\n\ninference service_category AI and Machine Learning\n"
                     "network tag:Team net*\ncommitment_waste charge unused";
    assert_int_equal(fg_rules_parse(ok, strlen(ok), "r", &rs, &e), 0);
    assert_int_equal(rs.n, 4);
    assert_int_equal(rs.r[0].bucket, FG_BUCKET_TRAINING);
    assert_int_equal(rs.r[0].field, FG_RULE_USAGE_TYPE);
    assert_string_equal(rs.r[0].pattern, "*GPU*");
    assert_int_equal(rs.r[0].line, 2);
    assert_string_equal(rs.r[1].pattern, "AI and Machine Learning");
    assert_int_equal(rs.r[2].field, FG_RULE_TAG);
    assert_string_equal(rs.r[2].key, "Team");
    assert_int_equal(rs.r[3].line, 6);
    fg_rules_free(&rs);
    assert_int_equal(fg_rules_load("/nonexistent/rules.txt", &rs, &e), FG_EIO);
}

static void first_match_wins(void **state) {
    (void)state;
    fg_rules rs;
    fg_err e = {0};
    const char *t = "inference tag:workload serv*\n"
                    "training usage_type *GPU*\n"
                    "compute_etl service *EC2*\n"
                    "commitment_waste charge unused\n";
    assert_int_equal(fg_rules_parse(t, strlen(t), "r", &rs, &e), 0);
    fg_bill_tag tags[2] = {{S("team"), S("ml")}, {S("Workload"), S("Serving-eu")}};
    fg_bill_row row = {.usage_type = S("USE1-BoxUsage:g5.xlarge-GPU"), .service_name = S("Amazon EC2")};
    long line;
    assert_int_equal(fg_rules_classify(&rs, &row, &line), FG_BUCKET_TRAINING);
    assert_int_equal(line, 2);
    row.tags = tags;
    row.n_tags = 2;
    assert_int_equal(fg_rules_classify(&rs, &row, &line), FG_BUCKET_INFERENCE);
    assert_int_equal(line, 1);
    row.n_tags = 1; /* only team=ml */
    row.usage_type = S("USE1-BoxUsage:m5.large");
    assert_int_equal(fg_rules_classify(&rs, &row, &line), FG_BUCKET_COMPUTE_ETL);
    row.service_name = S("Amazon S3");
    assert_int_equal(fg_rules_classify(&rs, &row, &line), FG_BUCKET_OTHER);
    assert_int_equal(line, 0);
    row.commitment_status = FG_COMMIT_UNUSED;
    assert_int_equal(fg_rules_classify(&rs, &row, &line), FG_BUCKET_COMMITMENT_WASTE);
    fg_rules_free(&rs);
}

static void buckets_and_defaults(void **state) {
    (void)state;
    for (int i = 0; i < FG_BUCKET_COUNT; i++) {
        const char *n = fg_bucket_name((fg_bucket)i);
        assert_int_equal(fg_bucket_parse(n, strlen(n)), i);
    }
    assert_null(fg_bucket_name(FG_BUCKET_COUNT));
    assert_int_equal(fg_bucket_parse("Training", 8), FG_BUCKET_TRAINING);
    fg_rules rs;
    fg_err e = {0};
    assert_int_equal(fg_rules_parse(fg_rules_default, strlen(fg_rules_default), "d", &rs, &e), 0);
    assert_true(rs.n > 20);
    /* the default set on a few typical rows */
    fg_bill_row row = {.commitment_status = FG_COMMIT_UNUSED, .service_name = S("Amazon EC2")};
    assert_int_equal(fg_rules_classify(&rs, &row, NULL), FG_BUCKET_COMMITMENT_WASTE);
    fg_bill_tag t = {S("ml-stage"), S("training")};
    row = (fg_bill_row){.tags = &t, .n_tags = 1, .service_name = S("Amazon Simple Storage Service")};
    assert_int_equal(fg_rules_classify(&rs, &row, NULL), FG_BUCKET_TRAINING);
    row = (fg_bill_row){.usage_type = S("USE1-Host:ml.m5.large"), .service_name = S("Amazon SageMaker")};
    assert_int_equal(fg_rules_classify(&rs, &row, NULL), FG_BUCKET_INFERENCE);
    row = (fg_bill_row){.usage_type = S("USE1-DataTransfer-Out-Bytes")};
    assert_int_equal(fg_rules_classify(&rs, &row, NULL), FG_BUCKET_NETWORK);
    row = (fg_bill_row){.service_category = S("Storage")};
    assert_int_equal(fg_rules_classify(&rs, &row, NULL), FG_BUCKET_DATA_STORAGE);
    row = (fg_bill_row){.service_name = S("AmazonCloudWatch")};
    assert_int_equal(fg_rules_classify(&rs, &row, NULL), FG_BUCKET_MONITORING);
    row = (fg_bill_row){.service_name = S("Something Else")};
    assert_int_equal(fg_rules_classify(&rs, &row, NULL), FG_BUCKET_OTHER);
    fg_rules_free(&rs);
    /* the compiled-in text is deploy/cost/rules.txt */
    FILE *f = fopen(FG_SOURCE_DIR "/deploy/cost/rules.txt", "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    assert_string_equal(buf, fg_rules_default);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(glob_basics),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(first_match_wins),
        cmocka_unit_test(buckets_and_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
