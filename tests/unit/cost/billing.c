/* Tests for src/cost/billing.c: format detection and totals on the shared samples
 * (/work/shared/data/billing, see SOURCES.md there), the three tag styles, timestamps, malformed rows.
 *
 * Expected totals were computed independently with Python's csv and decimal modules, from the
 * directory /work/shared/data/billing:
 *   /usr/bin/python3 -c "
 *   import csv,decimal,glob
 *   D=decimal.Decimal; n=lambda x: D(0) if x.strip() in ('','NULL','null') else D(x)
 *   q=lambda x: n(x).quantize(D('1e-12'), rounding=decimal.ROUND_HALF_EVEN)
 *   for f in sorted(glob.glob('focus-1.2-spec-examples/[a-z]*.csv')):
 *       rows=[r for r in csv.DictReader(open(f,newline='',encoding='utf-8-sig')) if any(r.values())]
 *       print(f, len(rows), sum(n(r['BilledCost']) for r in rows), sum(n(r['EffectiveCost']) for r in rows))
 *   rows=list(csv.DictReader(open('aws-cur/aws-cur1_sample-anonymous_focus-converters.csv',newline='')))
 *   t=lambda r: r['lineItem/LineItemType']
 *   eff=lambda r: n(r['reservation/EffectiveCost']) if t(r)=='DiscountedUsage' else \
 *       n(r['savingsPlan/SavingsPlanEffectiveCost']) if t(r)=='SavingsPlanCoveredUsage' else n(r['lineItem/UnblendedCost'])
 *   print('aws', len(rows), sum(n(r['lineItem/UnblendedCost']) for r in rows), sum(eff(r) for r in rows))
 *   rows=list(csv.DictReader(open('azure/azure-ea-actualcost_small_finops-toolkit.csv',newline='',encoding='utf-8-sig')))
 *   print('azure', len(rows), sum(q(r['Cost']) for r in rows))"
 * (Azure: one Cost has 16 decimals, 0.4838709677419368, so the exact sum 8.5450077867419368 becomes
 * 8.545007786742 after fg_dec's documented half-even rounding to 12 decimals; q() does the same.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cost/billing.h"

#define DATA "/work/shared/data/billing/"

typedef struct totals {
    long rows, skipped;
    char billed[FG_DEC_STR_MAX], effective[FG_DEC_STR_MAX];
} totals;

static int sum_file(const char *path, const char *fmt, totals *t, char *format_out) {
    fg_err e = {0};
    fg_bill_reader *r = fg_bill_open(path, fmt, &e);
    if (!r)
        fail_msg("%s: %s", path, e.msg);
    if (format_out)
        strcpy(format_out, fg_bill_format_name(r));
    fg_dec b = {0}, ef = {0};
    fg_bill_row row;
    int rc;
    memset(t, 0, sizeof *t);
    while ((rc = fg_bill_next(r, &row, &e)) != 0) {
        if (rc == FG_EFORMAT) {
            t->skipped++;
            fg_err_clear(&e);
            continue;
        }
        if (rc < 0)
            fail_msg("%s: %s", path, e.msg);
        t->rows++;
        assert_int_equal(fg_dec_add(b, row.billed_cost, &b), 0);
        assert_int_equal(fg_dec_add(ef, row.effective_cost, &ef), 0);
    }
    assert_int_equal(fg_bill_rows_read(r), (uint64_t)(t->rows + t->skipped));
    assert_int_equal(fg_bill_rows_skipped(r), (uint64_t)t->skipped);
    fg_dec_format(b, 12, t->billed, sizeof t->billed);
    fg_dec_format(ef, 12, t->effective, sizeof t->effective);
    fg_bill_close(r);
    return 0;
}

static void bill_samples_detect_and_total(void **state) {
    (void)state;
    static const struct {
        const char *file, *format;
        long rows;
        const char *billed, *effective;
    } cases[] = {
        {"focus-1.2-spec-examples/commitment_discount_purchase_scenario_1.csv", "focus-1.1", 1, "8760", "0"},
        {"focus-1.2-spec-examples/commitment_discount_purchase_scenario_2.csv", "focus-1.1", 3, "3", "0"},
        {"focus-1.2-spec-examples/commitment_discount_purchase_scenario_3.csv", "focus-1.1", 4, "4381.5", "0"},
        {"focus-1.2-spec-examples/commitment_discount_usage_scenario_1.csv", "focus-1.1", 1, "0", "1"},
        {"focus-1.2-spec-examples/commitment_discount_usage_scenario_2.csv", "focus-1.1", 1, "0", "1"},
        {"focus-1.2-spec-examples/commitment_discount_usage_scenario_3.csv", "focus-1.1", 2, "0", "1"},
        {"focus-1.2-spec-examples/commitment_discount_usage_scenario_4.csv", "focus-1.1", 2, "0.5", "1.5"},
        {"focus-1.2-spec-examples/one_hundred_percent_utilization_with_commitment_discount_flexibility_with_1_resource.csv",
         "focus-1.1", 3, "2.75", "2.75"},
        {"focus-1.2-spec-examples/one_hundred_percent_utilization_with_commitment_discount_flexibility_with_2_resources.csv",
         "focus-1.1", 3, "2", "2"},
        {"focus-1.2-spec-examples/one_hundred_percent_utilization_without_commitment_discount_flexibility.csv",
         "focus-1.1", 2, "1.5", "1.5"},
        {"focus-1.2-spec-examples/zero_percent_utilization_without_commitment_discount_flexibility.csv", "focus-1.1",
         3, "3.5", "3.5"},
        {"aws-cur/aws-cur1_sample-anonymous_focus-converters.csv", "aws-cur", 1281, "1.6823086974", "1.6823086974"},
        {"azure/azure-ea-actualcost_small_finops-toolkit.csv", "azure", 11, "8.545007786742", "8.545007786742"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[512], fmt[32];
        snprintf(path, sizeof path, DATA "%s", cases[i].file);
        totals t;
        sum_file(path, NULL, &t, fmt);
        fg_dec wb, we;
        char sb[FG_DEC_STR_MAX], se[FG_DEC_STR_MAX];
        fg_dec_parse(cases[i].billed, strlen(cases[i].billed), &wb, NULL, NULL);
        fg_dec_parse(cases[i].effective, strlen(cases[i].effective), &we, NULL, NULL);
        fg_dec_format(wb, 12, sb, sizeof sb);
        fg_dec_format(we, 12, se, sizeof se);
        if (strcmp(fmt, cases[i].format) || t.rows != cases[i].rows || t.skipped || strcmp(t.billed, sb) ||
            strcmp(t.effective, se))
            fail_msg("%s: format %s rows %ld skipped %ld billed %s effective %s; want %s %ld 0 %s %s", cases[i].file,
                     fmt, t.rows, t.skipped, t.billed, t.effective, cases[i].format, cases[i].rows, sb, se);
        printf("%-110s %-14s rows %5ld billed %s effective %s\n", cases[i].file, fmt, t.rows, t.billed, t.effective);
    }
}

static char *write_tmp(const char *text, int gz) {
    static int seq;
    char *path = malloc(256);
    snprintf(path, 256, "/tmp/fg_bill_test_%d_%d", (int)getpid(), seq++);
    if (gz) {
        gzFile g = gzopen(path, "wb");
        gzwrite(g, text, (unsigned)strlen(text));
        gzclose(g);
    } else {
        FILE *f = fopen(path, "wb");
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static void bill_gzip_sample_same_totals(void **state) {
    (void)state;
    FILE *f = fopen(DATA "aws-cur/aws-cur1_sample-anonymous_focus-converters.csv", "rb");
    assert_non_null(f);
    char *buf = malloc(2 << 20);
    size_t n = fread(buf, 1, (2 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    char *path = write_tmp(buf, 1);
    totals t;
    char fmt[32];
    sum_file(path, NULL, &t, fmt);
    assert_string_equal(fmt, "aws-cur");
    assert_int_equal(t.rows, 1281);
    assert_string_equal(t.billed, "1.682308697400");
    unlink(path);
    free(path);
    free(buf);
}

static int str_is(fg_str s, const char *w) { return s.n == strlen(w) && memcmp(s.p, w, s.n) == 0; }

static void expect_tag(const fg_bill_row *row, size_t i, const char *k, const char *v) {
    if (i >= row->n_tags || !str_is(row->tags[i].key, k) || !str_is(row->tags[i].value, v))
        fail_msg("tag %zu: want %s=%s (have %zu tags)", i, k, v, row->n_tags);
}

static void bill_focus_row_fields_and_tags(void **state) {
    (void)state;
    char *path = write_tmp(
        "\xEF\xBB\xBF" "BillingAccountId,SubAccountId,ProviderName,BilledCost,EffectiveCost,BillingCurrency,"
        "ChargePeriodStart,ChargePeriodEnd,ServiceName,ServiceCategory,SkuId,ResourceId,RegionId,ChargeCategory,"
        "CommitmentDiscountStatus,PricingCategory,Tags,x_Custom,InvoiceId\n"
        "acct,sub,AWS,1.25,1.00,USD,2024-09-18 22:00:00,2024-09-18 23:00:00,Amazon SageMaker,AI and Machine Learning,"
        "SKU1,arn:x,us-east-1,USAGE,unused,committed,\"{\"\"team\"\": \"\"ml\"\", \"\"cost\\u00e9\"\":\"\"a\\\"\"b\"\","
        "\"\"n\"\": 3, \"\"z\"\": null}\",ignored,INV\n"
        "acct,sub,AWS,NULL,,USD,2024-09-18,NULL,S,Compute,,,,Purchase,NULL,On-Demand,{},x,INV\n"
        "acct,sub,AWS,2,2,USD,2024-09-18T00:00:00+02:00,2024-09-18T00:00:00.123Z,S,Compute,,,,Tax,,Dynamic,\"{\"\"a\"\":\"\"b\"\" x\",x,INV\n",
        0);
    fg_err e = {0};
    fg_bill_reader *r = fg_bill_open(path, NULL, &e);
    assert_non_null(r);
    assert_string_equal(fg_bill_format_name(r), "focus-1.2");
    assert_int_equal(fg_bill_get_format(r), FG_BILL_FOCUS_1_2);
    fg_bill_row row;
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_int_equal(row.line, 2);
    assert_true(str_is(row.provider, "AWS") && str_is(row.currency, "USD") && str_is(row.account, "acct") &&
                str_is(row.sub_account, "sub") && str_is(row.service_name, "Amazon SageMaker") &&
                str_is(row.service_category, "AI and Machine Learning") && str_is(row.sku, "SKU1") &&
                str_is(row.resource_id, "arn:x") && str_is(row.region, "us-east-1"));
    assert_true(row.has_billed && row.billed_cost.v == 1250000000000 && row.effective_cost.v == FG_DEC_ONE);
    assert_true(row.has_start && row.charge_start == 1726696800 && row.charge_end == 1726700400);
    assert_int_equal(row.charge_category, FG_CHARGE_USAGE);
    assert_int_equal(row.commitment_status, FG_COMMIT_UNUSED);
    assert_int_equal(row.pricing_category, FG_PRICING_COMMITTED);
    assert_false(row.tags_malformed);
    assert_int_equal(row.n_tags, 4);
    expect_tag(&row, 0, "team", "ml");
    expect_tag(&row, 1, "cost\xC3\xA9", "a\"b");
    expect_tag(&row, 2, "n", "3");
    expect_tag(&row, 3, "z", "");
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_false(row.has_billed || row.has_effective || row.has_end);
    assert_true(row.has_start && row.charge_start == 1726617600);
    assert_int_equal(row.charge_category, FG_CHARGE_PURCHASE);
    assert_int_equal(row.commitment_status, FG_COMMIT_NONE);
    assert_int_equal(row.pricing_category, FG_PRICING_STANDARD);
    assert_int_equal(row.n_tags, 0);
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_true(row.charge_start == 1726617600 - 7200 && row.charge_end == 1726617600);
    assert_int_equal(row.charge_category, FG_CHARGE_TAX);
    assert_int_equal(row.pricing_category, FG_PRICING_DYNAMIC);
    assert_true(row.tags_malformed);
    assert_int_equal(row.n_tags, 1);
    expect_tag(&row, 0, "a", "b");
    assert_int_equal(fg_bill_next(r, &row, &e), 0);
    fg_bill_close(r);
    unlink(path);
    free(path);
}

static void bill_aws_athena_and_legacy_tags(void **state) {
    (void)state;
    char *path = write_tmp(
        "line_item_line_item_type,line_item_unblended_cost,reservation_effective_cost,"
        "savings_plan_savings_plan_effective_cost,line_item_usage_start_date,line_item_usage_end_date,"
        "line_item_usage_type,pricing_term,bill_payer_account_id,line_item_usage_account_id,product_region,"
        "resource_tags_user_team,resource_tags_aws_created_by\n"
        "DiscountedUsage,0,0.75,,2023-11-01T00:00:00Z,2023-11-01T01:00:00Z,BoxUsage:p4d.24xlarge,Reserved,P,U,us-east-1,ml,\n"
        "SavingsPlanCoveredUsage,3,,1.5,2023-11-01T00:00:00Z,2023-11-01T01:00:00Z,BoxUsage,,P,U,us-east-1,,someone\n"
        "Usage,0.2,,,2023-11-01T00:00:00Z,2023-11-01T01:00:00Z,USE1-SpotUsage:g5.xlarge,,P,U,us-east-1,,\n"
        "Usage,0.3,,,2023-11-01T00:00:00Z,2023-11-01T01:00:00Z,BoxUsage,OnDemand,P,U,us-east-1,,\n",
        0);
    fg_err e = {0};
    fg_bill_reader *r = fg_bill_open(path, NULL, &e);
    assert_non_null(r);
    assert_string_equal(fg_bill_format_name(r), "aws-cur-athena");
    fg_bill_row row;
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_true(row.billed_cost.v == 0 && row.effective_cost.v == 750000000000);
    assert_int_equal(row.commitment_status, FG_COMMIT_USED);
    assert_int_equal(row.pricing_category, FG_PRICING_COMMITTED);
    assert_true(str_is(row.provider, "AWS") && str_is(row.account, "P") && str_is(row.sub_account, "U") &&
                str_is(row.region, "us-east-1") && str_is(row.usage_type, "BoxUsage:p4d.24xlarge"));
    assert_int_equal(row.n_tags, 1);
    expect_tag(&row, 0, "team", "ml");
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_true(row.billed_cost.v == 3 * FG_DEC_ONE && row.effective_cost.v == 1500000000000);
    assert_int_equal(row.n_tags, 1);
    expect_tag(&row, 0, "aws_created_by", "someone");
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_int_equal(row.pricing_category, FG_PRICING_DYNAMIC);
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_int_equal(row.pricing_category, FG_PRICING_STANDARD);
    assert_true(row.effective_cost.v == row.billed_cost.v);
    assert_int_equal(fg_bill_next(r, &row, &e), 0);
    fg_bill_close(r);
    unlink(path);
    free(path);
    /* legacy header style with resourceTags/user:KEY */
    path = write_tmp("lineItem/LineItemType,lineItem/UnblendedCost,lineItem/UsageStartDate,resourceTags/user:Project,"
                     "resourceTags/aws:createdBy\nUsage,1,2023-11-01T00:00:00.000Z,llm,x\n",
                     0);
    r = fg_bill_open(path, NULL, &e);
    assert_non_null(r);
    assert_string_equal(fg_bill_format_name(r), "aws-cur");
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_int_equal(row.n_tags, 2);
    expect_tag(&row, 0, "Project", "llm");
    expect_tag(&row, 1, "aws:createdBy", "x");
    fg_bill_close(r);
    unlink(path);
    free(path);
}

static void bill_azure_sample_rows(void **state) {
    (void)state;
    fg_err e = {0};
    fg_bill_reader *r = fg_bill_open(DATA "azure/azure-ea-actualcost_small_finops-toolkit.csv", NULL, &e);
    assert_non_null(r);
    fg_bill_row row;
    assert_int_equal(fg_bill_next(r, &row, &e), 1); /* reservation purchase */
    assert_int_equal(row.charge_category, FG_CHARGE_PURCHASE);
    assert_int_equal(row.pricing_category, FG_PRICING_COMMITTED);
    assert_true(row.charge_start == 1695254400 && row.charge_end == 1695254400 + 86400); /* 09/21/2023 */
    assert_true(str_is(row.provider, "Microsoft") && str_is(row.currency, "USD") &&
                str_is(row.service_name, "Virtual Machines") && str_is(row.region, "uksouth") &&
                str_is(row.sub_account, "1caaa5a3-2b66-438e-8ab4-bce37d518c5d") && str_is(row.account, "8611537"));
    assert_int_equal(row.n_tags, 0);
    assert_int_equal(fg_bill_next(r, &row, &e), 1); /* tags without braces */
    assert_int_equal(row.pricing_category, FG_PRICING_STANDARD);
    assert_false(row.tags_malformed);
    assert_int_equal(row.n_tags, 5);
    expect_tag(&row, 0, "CostCenter", "1234");
    expect_tag(&row, 4, "databricks-environment", "true");
    fg_bill_close(r);
}

/* Native AWS and Azure rows get a ServiceCategory from their service code (categories.h). */
static void bill_native_service_category(void **state) {
    (void)state;
    fg_err e = {0};
    fg_bill_reader *r = fg_bill_open(DATA "aws-cur/aws-cur1_sample-anonymous_focus-converters.csv", NULL, &e);
    assert_non_null(r);
    fg_bill_row row;
    long s3 = 0, uncategorized = 0, rows = 0;
    while (fg_bill_next(r, &row, &e) == 1) {
        rows++;
        assert_true(row.service_code.n > 0); /* lineItem/ProductCode, set on every sample row */
        if (str_is(row.service_code, "AmazonS3")) {
            s3++;
            assert_true(str_is(row.service_category, "Storage"));
        } else if (str_is(row.service_code, "AWSMigrationHubRefactorSpaces") ||
                   str_is(row.service_code, "AWSCloudShell")) {
            uncategorized++; /* not in the mapping table */
            assert_int_equal(row.service_category.n, 0);
        } else {
            assert_true(row.service_category.n > 0);
        }
    }
    assert_int_equal(rows, 1281);
    assert_int_equal(s3, 799);
    assert_int_equal(uncategorized, 46 + 16);
    fg_bill_close(r);
    /* Athena names; lineItem/ProductCode wins over product/servicecode, which is the fallback column */
    char *path = write_tmp("line_item_unblended_cost,line_item_product_code,product_servicecode\n"
                           "1,amazonsagemaker,AWSDataTransfer\n2,,AmazonS3\n",
                           0);
    r = fg_bill_open(path, NULL, &e);
    assert_non_null(r);
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_true(str_is(row.service_code, "amazonsagemaker") &&
                str_is(row.service_category, "AI and Machine Learning"));
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_true(row.service_code.n == 0 && row.service_category.n == 0);
    fg_bill_close(r);
    unlink(path);
    free(path);
    path = write_tmp("lineItem/UnblendedCost,product/servicecode\n1,AWSDataTransfer\n", 0);
    r = fg_bill_open(path, NULL, &e);
    assert_non_null(r);
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_true(str_is(row.service_code, "AWSDataTransfer") && str_is(row.service_category, "Networking"));
    fg_bill_close(r);
    unlink(path);
    free(path);
    /* Azure ConsumedService */
    r = fg_bill_open(DATA "azure/azure-ea-actualcost_small_finops-toolkit.csv", NULL, &e);
    assert_non_null(r);
    static const char *const want[][2] = {
        {"Microsoft.Capacity", "Other"},    {"Microsoft.Storage", "Storage"},  {"Microsoft.Storage", "Storage"},
        {"Microsoft.Compute", "Compute"},   {"Microsoft.Sql", "Databases"},    {"Microsoft.Sql", "Databases"},
        {"MICROSOFT.KEYVAULT", "Security"}, {"Microsoft.Compute", "Compute"},  {"Microsoft.Sql", "Databases"},
        {"Microsoft.DBforMySQL", "Databases"}, {"Microsoft.Sql", "Databases"},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        assert_int_equal(fg_bill_next(r, &row, &e), 1);
        if (!str_is(row.service_code, want[i][0]) || !str_is(row.service_category, want[i][1]))
            fail_msg("azure row %zu: got %.*s -> %.*s, want %s -> %s", i, (int)row.service_code.n,
                     row.service_code.p, (int)row.service_category.n, row.service_category.p, want[i][0], want[i][1]);
    }
    assert_int_equal(fg_bill_next(r, &row, &e), 0);
    fg_bill_close(r);
    /* FOCUS rows keep their own ServiceCategory, even when empty */
    path = write_tmp("BilledCost,ChargePeriodStart,ServiceName,ServiceCategory\n1,2024-01-01,AmazonS3,\n"
                     "1,2024-01-01,AmazonS3,Compute\n",
                     0);
    r = fg_bill_open(path, NULL, &e);
    assert_non_null(r);
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_true(row.service_category.n == 0 && row.service_code.n == 0);
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_true(str_is(row.service_category, "Compute"));
    fg_bill_close(r);
    unlink(path);
    free(path);
}

static void bill_malformed_rows_skipped(void **state) {
    (void)state;
    char *path = write_tmp("BilledCost,EffectiveCost,ChargePeriodStart\n"
                           "1,1,2024-01-01\n"
                           "2,2\n"                       /* line 3: field count */
                           "abc,1,2024-01-01\n"          /* line 4: cost */
                           "1,1,2024-13-01\n"            /* line 5: date */
                           "1,\"x\"y,2024-01-01\n"       /* line 6: CSV syntax */
                           "4,1,2024-02-30\n"           /* line 7: date (Feb 30) */
                           "5,5,01/02/2024 10:00\n",     /* line 8: ok */
                           0);
    fg_err e = {0};
    fg_bill_reader *r = fg_bill_open(path, NULL, &e);
    assert_non_null(r);
    static const char *const want[] = {NULL, "3: row has 2 fields, the header has 3", "4: billed cost: cannot parse 'abc'",
                                       "5: charge period start: cannot parse '2024-13-01'",
                                       "6: unexpected character after closing quote",
                                       "7: charge period start: cannot parse '2024-02-30'", NULL};
    fg_bill_row row;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        int rc = fg_bill_next(r, &row, &e);
        if (!want[i]) {
            assert_int_equal(rc, 1);
            continue;
        }
        assert_int_equal(rc, FG_EFORMAT);
        char full[256];
        snprintf(full, sizeof full, "%s:%s", path, want[i]);
        assert_string_equal(e.msg, full);
        fg_err_clear(&e);
    }
    assert_int_equal(row.line, 8);
    assert_true(row.charge_start == 1704189600);
    assert_int_equal(fg_bill_next(r, &row, &e), 0);
    assert_int_equal(fg_bill_rows_read(r), 7);
    assert_int_equal(fg_bill_rows_skipped(r), 5);
    fg_bill_close(r);
    unlink(path);
    free(path);
}

static void bill_open_errors_and_override(void **state) {
    (void)state;
    fg_err e = {0};
    char *path = write_tmp("a,b\n1,2\n", 0);
    assert_null(fg_bill_open(path, NULL, &e));
    assert_int_equal(e.code, FG_EUNSUPPORTED);
    fg_err_clear(&e);
    assert_null(fg_bill_open(path, "nope", &e));
    assert_int_equal(e.code, FG_EINVAL);
    fg_err_clear(&e);
    assert_null(fg_bill_open(path, "azure", &e));
    assert_int_equal(e.code, FG_EUNSUPPORTED);
    fg_err_clear(&e);
    unlink(path);
    free(path);
    path = write_tmp("", 0);
    assert_null(fg_bill_open(path, NULL, &e));
    assert_int_equal(e.code, FG_EFORMAT);
    fg_err_clear(&e);
    unlink(path);
    free(path);
    assert_null(fg_bill_open("/nonexistent.csv", NULL, &e));
    assert_int_equal(e.code, FG_EIO);
    fg_err_clear(&e);
    /* a BilledCost-only header is FOCUS only when forced */
    path = write_tmp("BilledCost\n7\n", 0);
    assert_null(fg_bill_open(path, NULL, &e));
    fg_err_clear(&e);
    fg_bill_reader *r = fg_bill_open(path, "focus", &e);
    assert_non_null(r);
    assert_string_equal(fg_bill_format_name(r), "focus-1.0");
    fg_bill_row row;
    assert_int_equal(fg_bill_next(r, &row, &e), 1);
    assert_true(row.effective_cost.v == 7 * FG_DEC_ONE); /* no EffectiveCost column: billed */
    fg_bill_close(r);
    r = fg_bill_open(path, "focus-1.2", &e);
    assert_non_null(r);
    assert_string_equal(fg_bill_format_name(r), "focus-1.2");
    fg_bill_close(r);
    unlink(path);
    free(path);
}

static void bill_timestamps(void **state) {
    (void)state;
    static const struct {
        const char *s;
        int rc;
        int64_t t;
    } cases[] = {
        {"2024-09-18 22:00:00", 1, 1726696800}, {"2024-09-18T22:00:00Z", 1, 1726696800},
        {"2024-09-18T22:00Z", 1, 1726696800},   {"2024-09-18", 1, 1726617600},
        {"2024-09-19T00:00:00+02:00", 1, 1726696800}, {"2024-09-18T21:30:00-0030", 1, 1726696800},
        {"09/18/2024", 1, 1726617600},          {"2023-02-01T30:00:00Z", 1, 1675209600 + 30 * 3600},
        {"1970-01-01", 1, 0},                   {"1969-12-31T23:59:59Z", 1, -1},
        {"2000-02-29", 1, 951782400},           {"", 0, 0},
        {"NULL", 0, 0},                         {"2001-02-29", FG_EINVAL, 0},
        {"2024-9-18x", FG_EINVAL, 0},           {"2024-09-18T", FG_EINVAL, 0},
        {"18.09.2024", FG_EINVAL, 0},           {"2024-09-18T10:60", FG_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t t = 0;
        int rc = fg_bill_parse_time(cases[i].s, strlen(cases[i].s), &t);
        if (rc != cases[i].rc || (rc == 1 && t != cases[i].t))
            fail_msg("'%s': rc %d t %lld, want %d %lld", cases[i].s, rc, (long long)t, cases[i].rc,
                     (long long)cases[i].t);
    }
}

static void bill_tag_parser(void **state) {
    (void)state;
    char scratch[256];
    fg_bill_tag tags[16];
    const char *s = "\"k\": \"v\",\"k2\": \"v2\"";
    assert_int_equal(fg_bill_parse_tags(s, strlen(s), scratch, tags, 16), 2);
    assert_true(str_is(tags[1].key, "k2") && str_is(tags[1].value, "v2"));
    s = " { \"a\" : \"\\ud83d\\ude00\" } ";
    assert_int_equal(fg_bill_parse_tags(s, strlen(s), scratch, tags, 16), 1);
    assert_true(str_is(tags[0].value, "\xF0\x9F\x98\x80"));
    const char *bad[] = {"{", "{\"a\"}", "{\"a\":\"b\"", "\"a\":\"b\"}", "{\"a\":{}}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\q\"}", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (fg_bill_parse_tags(bad[i], strlen(bad[i]), scratch, tags, 16) >= 0)
            fail_msg("'%s' accepted", bad[i]);
    assert_int_equal(fg_bill_parse_tags("{}", 2, scratch, tags, 16), 0);
    assert_int_equal(fg_bill_parse_tags("{\"a\":1,\"b\":2}", 13, scratch, tags, 1), 1); /* max respected */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bill_samples_detect_and_total), cmocka_unit_test(bill_gzip_sample_same_totals),
        cmocka_unit_test(bill_focus_row_fields_and_tags), cmocka_unit_test(bill_aws_athena_and_legacy_tags),
        cmocka_unit_test(bill_azure_sample_rows),         cmocka_unit_test(bill_malformed_rows_skipped),
        cmocka_unit_test(bill_open_errors_and_override),  cmocka_unit_test(bill_timestamps),
        cmocka_unit_test(bill_tag_parser),
        cmocka_unit_test(bill_native_service_category),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
