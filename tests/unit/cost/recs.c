/* Tests for src/cost/recs.c: the price table (default = deploy/cost/prices.txt, overrides, errors with
 * line numbers), which rows are evidence for which saving, the savings arithmetic per kind (monthly
 * scaling, steady-floor commitments, serving idle share), evidence order, and rows that must not count
 * (commitment-covered usage, disks under a compute service, credits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cost/recs.h"

static fg_str S(const char *s) { return (fg_str){s, s ? strlen(s) : 0}; }

static fg_dec D(const char *s) {
    fg_dec d;
    bool inexact;
    const char *why;
    assert_int_equal(fg_dec_parse(s, strlen(s), &d, &inexact, &why), 1);
    return d;
}

static void assert_close(double got, double want) {
    if (fabs(got - want) > 1e-9 * fmax(1, fabs(want)))
        fail_msg("got %.12g, want %.12g", got, want);
}

static fg_prices defaults(void) {
    fg_prices p = {0};
    fg_err e = {0};
    assert_int_equal(fg_prices_parse(fg_prices_default, strlen(fg_prices_default), "built-in", &p, &e), 0);
    return p;
}

/* a usage row at on-demand prices */
static fg_bill_row row(const char *service, const char *category, const char *usage, const char *resource) {
    fg_bill_row r;
    memset(&r, 0, sizeof r);
    r.provider = S("AWS");
    r.service_name = S(service);
    r.service_category = S(category);
    r.usage_type = S(usage);
    r.resource_id = S(resource);
    r.charge_category = FG_CHARGE_USAGE;
    r.pricing_category = FG_PRICING_STANDARD;
    return r;
}

static const fg_rec *find(const fg_rec *v, size_t n, fg_rec_kind k) {
    for (size_t i = 0; i < n; i++)
        if (v[i].kind == k)
            return &v[i];
    return NULL;
}

static void price_table(void **st) {
    (void)st;
    fg_prices p = defaults();
    assert_close(p.spot_discount, 0.65);
    assert_close(p.serving_idle_reducible, 0.5);
    fg_err e = {0};
    const char *over = "# mine\nspot_discount 0.9   # negotiated\n\nSTORAGE_COLD_SHARE 0.25\n";
    assert_int_equal(fg_prices_parse(over, strlen(over), "mine.txt", &p, &e), 0);
    assert_close(p.spot_discount, 0.9);
    assert_close(p.storage_cold_share, 0.25);
    assert_close(p.commitment_discount, 0.28); /* untouched */
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"spot_discount 0.5\nspot_discont 0.5\n", "p.txt:2: unknown price key 'spot_discont'"},
        {"spot_discount 1.5\n", "p.txt:1: spot_discount wants a number in [0, 1], got '1.5'"},
        {"spot_discount\n", "p.txt:1: spot_discount wants a number in [0, 1], got ''"},
        {"spot_discount 0.5x\n", "p.txt:1: spot_discount wants a number in [0, 1], got '0.5x'"},
        {"steady_min_days nan\n", "p.txt:1: steady_min_days wants a number in [1, 366], got 'nan'"},
        {"storage_infrequent_per_gb_month 0.5\n",
         "p.txt: storage_infrequent_per_gb_month (0.5) is above storage_standard_per_gb_month (0.023)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fg_prices q = defaults();
        fg_err e2 = {0};
        assert_int_equal(fg_prices_parse(bad[i].text, strlen(bad[i].text), "p.txt", &q, &e2), FG_EINVAL);
        assert_string_equal(e2.msg, bad[i].msg);
        assert_close(q.spot_discount, 0.65); /* a failed parse changes nothing */
    }
    fg_err e3 = {0};
    assert_int_equal(fg_prices_load("/nonexistent/prices.txt", &p, &e3), FG_EIO);
}

static void default_is_the_file(void **st) {
    (void)st;
    FILE *f = fopen(FG_SOURCE_DIR "/deploy/cost/prices.txt", "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(n, strlen(fg_prices_default));
    assert_memory_equal(buf, fg_prices_default, n);
}

static void kinds_and_savings(void **st) {
    (void)st;
    fg_prices p = defaults();
    fg_recs *r = fg_recs_new();
    assert_non_null(r);
    /* spot: on-demand training GPU hours, two resources */
    fg_bill_row a = row("Amazon SageMaker", "AI and Machine Learning", "USE1-Train:ml.p3.2xlarge", "job-a");
    assert_int_equal(fg_recs_add(r, &a, FG_BUCKET_TRAINING, D("300")), 0);
    fg_bill_row b = row("Amazon EC2", "Compute", "USE1-BoxUsage:g5.xlarge", "i-b");
    assert_int_equal(fg_recs_add(r, &b, FG_BUCKET_TRAINING, D("100")), 0);
    assert_int_equal(fg_recs_add(r, &b, FG_BUCKET_TRAINING, D("150")), 0);
    /* already spot, or covered by a commitment: not evidence */
    fg_bill_row c = b;
    c.pricing_category = FG_PRICING_DYNAMIC;
    assert_int_equal(fg_recs_add(r, &c, FG_BUCKET_TRAINING, D("999")), 0);
    fg_bill_row cc = b;
    cc.commitment_status = FG_COMMIT_USED;
    cc.pricing_category = FG_PRICING_COMMITTED;
    assert_int_equal(fg_recs_add(r, &cc, FG_BUCKET_TRAINING, D("999")), 0);
    /* a disk under a compute service is not an instance */
    fg_bill_row disk = row("Virtual Machines", "Compute", "P4 LRS Disk", "disk-1");
    assert_int_equal(fg_recs_add(r, &disk, FG_BUCKET_COMPUTE_ETL, D("999")), 0);
    /* storage tiering: standard only */
    fg_bill_row s1 = row("Amazon S3", "Storage", "USE1-TimedStorage-ByteHrs", "bucket-a");
    assert_int_equal(fg_recs_add(r, &s1, FG_BUCKET_DATA_STORAGE, D("200")), 0);
    fg_bill_row s2 = row("Amazon S3", "Storage", "USE1-TimedStorage-SIA-ByteHrs", "bucket-b");
    assert_int_equal(fg_recs_add(r, &s2, FG_BUCKET_DATA_STORAGE, D("999")), 0);
    /* logs: ingestion and storage of a log service (storage of logs is not storage tiering) */
    fg_bill_row l1 = row("AmazonCloudWatch", "Management and Governance", "USE1-DataProcessing-Bytes", "lg");
    assert_int_equal(fg_recs_add(r, &l1, FG_BUCKET_MONITORING, D("80")), 0);
    fg_bill_row l2 = row("AmazonCloudWatch", "Management and Governance", "USE1-TimedStorage-ByteHrs", "lg");
    assert_int_equal(fg_recs_add(r, &l2, FG_BUCKET_DATA_STORAGE, D("20")), 0);
    /* egress, idle, unused commitment */
    fg_bill_row x = row("Amazon S3", "Networking", "USE1-USW2-AWS-Out-Bytes", "bucket-a");
    assert_int_equal(fg_recs_add(r, &x, FG_BUCKET_NETWORK, D("50")), 0);
    fg_bill_row id = row("Amazon EC2", "Networking", "USE1-ElasticIP:IdleAddress", "eip-1");
    assert_int_equal(fg_recs_add(r, &id, FG_BUCKET_NETWORK, D("3.6")), 0);
    fg_bill_row un = row("Amazon EC2", "Compute", "USE1-BoxUsage:m5.large", "ri-1");
    un.commitment_status = FG_COMMIT_UNUSED;
    assert_int_equal(fg_recs_add(r, &un, FG_BUCKET_COMMITMENT_WASTE, D("40")), 0);
    /* a credit is not evidence for anything */
    fg_bill_row cr = b;
    cr.charge_category = FG_CHARGE_CREDIT;
    assert_int_equal(fg_recs_add(r, &cr, FG_BUCKET_TRAINING, D("-500")), 0);

    fg_rec out[FG_REC_COUNT];
    size_t n = fg_recs_finish(r, &p, 30.4375, NAN, out); /* exactly one month */
    assert_int_equal(n, 6);
    const fg_rec *spot = find(out, n, FG_REC_SPOT);
    assert_non_null(spot);
    assert_int_equal(spot->rows, 3);
    assert_close(fg_dec_to_double(spot->cost), 550);
    assert_close(spot->monthly_saving, 550 * 0.65);
    assert_int_equal(spot->n_ev, 2);
    assert_memory_equal(spot->ev[0].resource.p, "job-a", 5); /* largest first */
    assert_int_equal(spot->ev[1].rows, 2);
    assert_non_null(strstr(spot->assumption, "spot_discount 0.65"));
    assert_close(find(out, n, FG_REC_STORAGE_TIERING)->monthly_saving, 200 * 0.5 * (1 - 0.0125 / 0.023));
    assert_close(find(out, n, FG_REC_LOGS)->monthly_saving, 80 * 0.5 + 20 * 0.7);
    assert_close(find(out, n, FG_REC_EGRESS)->monthly_saving, 50 * 0.8);
    assert_close(find(out, n, FG_REC_IDLE)->monthly_saving, 3.6);
    assert_close(find(out, n, FG_REC_UNUSED_COMMITMENT)->monthly_saving, 40 * 0.5);
    assert_null(find(out, n, FG_REC_COMMITMENT)); /* no inference */
    for (size_t i = 1; i < n; i++) /* largest saving first */
        assert_true(out[i - 1].monthly_saving >= out[i].monthly_saving);
    /* a period of two months halves the monthly figures; an unknown one counts as a month */
    n = fg_recs_finish(r, &p, 2 * 30.4375, NAN, out);
    assert_close(find(out, n, FG_REC_SPOT)->monthly_saving, 550 * 0.65 / 2);
    n = fg_recs_finish(r, &p, 0, NAN, out);
    assert_close(find(out, n, FG_REC_SPOT)->monthly_saving, 550 * 0.65);
    assert_non_null(strstr(find(out, n, FG_REC_SPOT)->assumption, "counts as one month"));
    fg_recs_free(r);
}

static void steady_commitment_and_serving_idle(void **st) {
    (void)st;
    fg_prices p = defaults();
    fg_recs *r = fg_recs_new();
    /* 10 days of on-demand inference hours: day 0 partial (5), days 1..8 between 20 and 30, day 9 partial (2) */
    fg_bill_row a = row("Amazon SageMaker", "AI and Machine Learning", "USE1-Host:ml.m5.xlarge", "endpoint-1");
    a.has_start = true;
    const char *cost[10] = {"5", "24", "20", "30", "22", "25", "27", "21", "26", "2"};
    for (int d = 0; d < 10; d++) {
        a.charge_start = 1700006400 + (int64_t)d * 86400; /* midnight UTC */
        assert_int_equal(fg_recs_add(r, &a, FG_BUCKET_INFERENCE, D(cost[d])), 0);
    }
    fg_recs_inference_total(r, D("202"));
    fg_rec out[FG_REC_COUNT];
    size_t n = fg_recs_finish(r, &p, 10, NAN, out);
    const fg_rec *c = find(out, n, FG_REC_COMMITMENT);
    assert_non_null(c);
    /* the floor skips the lowest (partial) day: 5 is the 2nd lowest of {2,5,20,...} */
    assert_close(c->monthly_saving, 5 * 30.4375 * 0.28);
    assert_non_null(strstr(c->detail, "ran on 10 of 10 days"));
    /* not steady: fewer days than steady_min_days */
    fg_prices q = p;
    q.steady_min_days = 11;
    n = fg_recs_finish(r, &q, 10, NAN, out);
    assert_null(find(out, n, FG_REC_COMMITMENT));
    /* serving idle share from metrics: half of the idle inference time is saved */
    n = fg_recs_finish(r, &p, 30.4375, 0.6, out);
    const fg_rec *idle = find(out, n, FG_REC_IDLE);
    assert_non_null(idle);
    assert_close(idle->monthly_saving, 202 * 0.6 * 0.5);
    assert_non_null(strstr(idle->detail, "idle 60%"));
    fg_recs_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(price_table),
        cmocka_unit_test(default_is_the_file),
        cmocka_unit_test(kinds_and_savings),
        cmocka_unit_test(steady_commitment_and_serving_idle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
