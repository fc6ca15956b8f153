/* Tests for src/cost/categories.c: the compiled-in table is deploy/cost/service-categories.csv row for
 * row (both come from scripts/make_service_categories.py), it is sorted the way the binary search needs,
 * every row is found by fg_service_category, and lookups ignore case and reject unknown codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cost/categories.h"

static const char *cat(fg_bill_format f, const char *code) { return fg_service_category(f, code, strlen(code)); }

static void lookups(void **state) {
    (void)state;
    assert_string_equal(cat(FG_BILL_AWS_CUR, "AmazonS3"), "Storage");
    assert_string_equal(cat(FG_BILL_AWS_CUR_ATHENA, "AmazonEC2"), "Compute");
    assert_string_equal(cat(FG_BILL_AWS_CUR, "AmazonSageMaker"), "AI and Machine Learning");
    assert_string_equal(cat(FG_BILL_AWS_CUR, "awskms"), "Security");
    /* case-insensitive both ways */
    assert_string_equal(cat(FG_BILL_AWS_CUR, "amazons3"), "Storage");
    assert_string_equal(cat(FG_BILL_AWS_CUR, "AWSKMS"), "Security");
    assert_string_equal(cat(FG_BILL_AZURE, "Microsoft.Compute"), "Compute");
    assert_string_equal(cat(FG_BILL_AZURE, "MICROSOFT.KEYVAULT"), "Security");
    assert_string_equal(cat(FG_BILL_AZURE, "microsoft.storage"), "Storage");
    /* focus_converters' Azure table wins over finops-toolkit (Databases there) */
    assert_string_equal(cat(FG_BILL_AZURE, "Microsoft.Cache"), "Storage");
    /* added from finops-toolkit Services.csv: missing from focus_converters' Azure table */
    assert_string_equal(cat(FG_BILL_AZURE, "microsoft.app"), "Compute");
    assert_string_equal(cat(FG_BILL_AZURE, "Microsoft.DBforPostgreSQL"), "Databases");
    /* only the code's length counts, not a trailing NUL */
    assert_string_equal(fg_service_category(FG_BILL_AWS_CUR, "AmazonS3Glacier", 8), "Storage");
    /* unknown, empty, prefix, wrong provider, FOCUS */
    assert_null(cat(FG_BILL_AWS_CUR, "AmazonNoSuchService"));
    assert_null(cat(FG_BILL_AWS_CUR, ""));
    assert_null(fg_service_category(FG_BILL_AWS_CUR, NULL, 0));
    assert_null(cat(FG_BILL_AWS_CUR, "AmazonS"));
    assert_null(cat(FG_BILL_AWS_CUR, "AmazonS3 "));
    assert_null(cat(FG_BILL_AZURE, "AmazonS3"));
    assert_null(cat(FG_BILL_AWS_CUR, "microsoft.compute"));
    assert_null(cat(FG_BILL_FOCUS_1_0, "AmazonS3"));
    assert_null(cat(FG_BILL_FOCUS_1_2, "microsoft.compute"));
}

static int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

/* The generator's order: provider, then code bytes after ASCII lowercasing. */
static int order(const fg_service_category_entry *a, const fg_service_category_entry *b) {
    int c = strcmp(a->provider, b->provider);
    if (c)
        return c;
    const unsigned char *x = (const unsigned char *)a->code, *y = (const unsigned char *)b->code;
    for (; *x && *y; x++, y++)
        if (lower(*x) != lower(*y))
            return lower(*x) - lower(*y);
    return (*x != 0) - (*y != 0);
}

static void table_sorted_and_every_row_found(void **state) {
    (void)state;
    assert_true(fg_service_category_count > 400);
    for (size_t i = 0; i < fg_service_category_count; i++) {
        const fg_service_category_entry *t = &fg_service_category_table[i];
        if (i > 0 && order(&fg_service_category_table[i - 1], t) >= 0)
            fail_msg("row %zu (%s,%s) is not after row %zu", i, t->provider, t->code, i - 1);
        fg_bill_format f = strcmp(t->provider, "AWS") == 0 ? FG_BILL_AWS_CUR : FG_BILL_AZURE;
        if (f == FG_BILL_AZURE)
            assert_string_equal(t->provider, "Microsoft");
        const char *got = cat(f, t->code);
        if (!got || strcmp(got, t->category) != 0)
            fail_msg("%s,%s: got %s, want %s", t->provider, t->code, got ? got : "NULL", t->category);
        /* and with the code upper-cased */
        char up[128];
        size_t n = strlen(t->code);
        assert_true(n < sizeof up);
        for (size_t k = 0; k < n; k++)
            up[k] = (char)(t->code[k] >= 'a' && t->code[k] <= 'z' ? t->code[k] - 32 : t->code[k]);
        assert_ptr_equal(fg_service_category(f, up, n), got);
    }
}

static void table_equals_csv(void **state) {
    (void)state;
    FILE *f = fopen(FG_SOURCE_DIR "/deploy/cost/service-categories.csv", "rb");
    assert_non_null(f);
    char line[512];
    size_t i = 0;
    bool header = false;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        assert_true(n > 0 && line[n - 1] == '\n');
        line[--n] = 0;
        if (line[0] == '#')
            continue;
        if (!header) {
            assert_string_equal(line, "provider,code,category");
            header = true;
            continue;
        }
        if (i >= fg_service_category_count)
            fail_msg("CSV has more rows than the compiled-in table (%zu): '%s'", fg_service_category_count, line);
        const fg_service_category_entry *t = &fg_service_category_table[i];
        char want[512];
        snprintf(want, sizeof want, "%s,%s,%s", t->provider, t->code, t->category);
        if (strcmp(line, want) != 0)
            fail_msg("row %zu: CSV '%s', compiled-in '%s' (rerun scripts/make_service_categories.py)", i, line,
                     want);
        i++;
    }
    fclose(f);
    assert_true(header);
    assert_int_equal(i, fg_service_category_count);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lookups),
        cmocka_unit_test(table_sorted_and_every_row_found),
        cmocka_unit_test(table_equals_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
