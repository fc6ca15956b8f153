/* Tests for src/cost/decimal.c: parsing, half-even rounding, range, exact sums, formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "cost/decimal.h"

static void want(const char *s, const char *formatted12, int inexact_want) {
    fg_dec d;
    bool inexact;
    const char *why = NULL;
    int rc = fg_dec_parse(s, strlen(s), &d, &inexact, &why);
    if (rc != 1)
        fail_msg("'%s': rc %d (%s)", s, rc, why ? why : "");
    char buf[FG_DEC_STR_MAX];
    fg_dec_format(d, 12, buf, sizeof buf);
    if (strcmp(buf, formatted12) != 0 || inexact != inexact_want)
        fail_msg("'%s': got %s inexact %d, want %s inexact %d", s, buf, inexact, formatted12, inexact_want);
}

static void dec_parse_forms(void **state) {
    (void)state;
    want("123.45", "123.450000000000", 0);
    want("-0.000123", "-0.000123000000", 0);
    want("6.72e-8", "0.000000067200", 0);
    want("1E+3", "1000.000000000000", 0);
    want("+.5", "0.500000000000", 0);
    want("5.", "5.000000000000", 0);
    want("  42  ", "42.000000000000", 0);
    want("-0", "0.000000000000", 0);
    want("0e999999999", "0.000000000000", 0);
    want("1.5e-13", "0.000000000000", 1);
    want("12345678901234567890.123456789012", "12345678901234567890.123456789012", 0);
    want("0.4838709677419368", "0.483870967742", 1);
}

static void dec_half_even(void **state) {
    (void)state;
    want("0.0000000000005", "0.000000000000", 1);  /* tie, even stays */
    want("0.0000000000015", "0.000000000002", 1);  /* tie, odd rounds up */
    want("0.00000000000050001", "0.000000000001", 1);
    want("-0.0000000000025", "-0.000000000002", 1);
    want("0.0000000000004999", "0.000000000000", 1);
    want("1e-30", "0.000000000000", 1);
    want("5e-13", "0.000000000000", 1);
    want("1.5e-12", "0.000000000002", 1);
}

static void dec_absent_and_errors(void **state) {
    (void)state;
    fg_dec d;
    const char *why;
    assert_int_equal(fg_dec_parse("", 0, &d, NULL, NULL), 0);
    assert_int_equal(fg_dec_parse("NULL", 4, &d, NULL, NULL), 0);
    assert_int_equal(fg_dec_parse("null", 4, &d, NULL, NULL), 0);
    assert_int_equal(fg_dec_parse("   ", 3, &d, NULL, NULL), 0);
    const char *bad[] = {"abc", "1.2.3", "1e", "e5", "-", ".", "1,5", "0x10", "1e+", "nan", "inf", "1 2", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        if (fg_dec_parse(bad[i], strlen(bad[i]), &d, NULL, &why) != FG_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_string_equal(why, "not a number");
    }
    const char *big[] = {"1e25", "1000000000000000000000000.000000000001", "-1e400", "99999999999999999999999999999999999999999"};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
        why = NULL;
        if (fg_dec_parse(big[i], strlen(big[i]), &d, NULL, &why) != FG_EINVAL)
            fail_msg("'%s' accepted", big[i]);
        assert_string_equal(why, "out of range");
    }
    assert_int_equal(fg_dec_parse("1e24", 4, &d, NULL, NULL), 1); /* the limit itself */
    assert_int_equal(fg_dec_parse("1e-99999999999", 14, &d, NULL, NULL), 1);
    assert_true(d.v == 0);
}

static void dec_exact_sums(void **state) {
    (void)state;
    fg_dec tenth, sum = {0};
    assert_int_equal(fg_dec_parse("0.1", 3, &tenth, NULL, NULL), 1);
    for (int i = 0; i < 10000000; i++)
        assert_int_equal(fg_dec_add(sum, tenth, &sum), 0);
    assert_int_equal(fg_dec_cmp(sum, fg_dec_from_int(1000000)), 0);
    char buf[FG_DEC_STR_MAX];
    fg_dec_format(sum, 2, buf, sizeof buf);
    assert_string_equal(buf, "1000000.00");
    /* tiny values that double would lose against a large one */
    fg_dec big, tiny, s2;
    fg_dec_parse("1e15", 4, &big, NULL, NULL);
    fg_dec_parse("0.000000000001", 14, &tiny, NULL, NULL);
    assert_int_equal(fg_dec_add(big, tiny, &s2), 0);
    fg_dec_format(s2, 12, buf, sizeof buf);
    assert_string_equal(buf, "1000000000000000.000000000001");
    assert_int_equal(fg_dec_sub(s2, big, &s2), 0);
    assert_int_equal(fg_dec_cmp(s2, tiny), 0);
    /* overflow is reported, not wrapped */
    fg_dec max = fg_dec_from_raw(~(unsigned __int128)0 >> 1), out = {0};
    assert_int_equal(fg_dec_add(max, tiny, &out), FG_EINVAL);
    assert_true(out.v == 0);
    assert_int_equal(fg_dec_cmp(tiny, big), -1);
    assert_int_equal(fg_dec_cmp(big, tiny), 1);
    assert_true(fg_dec_to_double(big) == 1e15);
}

static void dec_format(void **state) {
    (void)state;
    char buf[FG_DEC_STR_MAX];
    fg_dec d;
    fg_dec_parse("2.345", 5, &d, NULL, NULL);
    fg_dec_format(d, 2, buf, sizeof buf);
    assert_string_equal(buf, "2.34"); /* half-even */
    fg_dec_parse("2.355", 5, &d, NULL, NULL);
    fg_dec_format(d, 2, buf, sizeof buf);
    assert_string_equal(buf, "2.36");
    fg_dec_parse("-0.004", 6, &d, NULL, NULL);
    fg_dec_format(d, 2, buf, sizeof buf);
    assert_string_equal(buf, "0.00"); /* no "-0.00" */
    fg_dec_parse("-1234.5", 7, &d, NULL, NULL);
    fg_dec_format(d, 0, buf, sizeof buf);
    assert_string_equal(buf, "-1234");
    char small[4];
    assert_int_equal(fg_dec_format(d, 3, small, sizeof small), 9);
    assert_string_equal(small, "-12");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dec_parse_forms),   cmocka_unit_test(dec_half_even), cmocka_unit_test(dec_absent_and_errors),
        cmocka_unit_test(dec_exact_sums), cmocka_unit_test(dec_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
