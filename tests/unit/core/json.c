/* Tests for src/core/json.c: every value kind, escapes and surrogate pairs, the number grammar (exponents,
 * -0, big and tiny values), duplicates (the last wins), the depth limit, and the exact error message for
 * each kind of malformed input; the writer helpers round-trip through the parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

static fg_json *parse_ok(const char *text) {
    fg_json *v = NULL;
    fg_err e = {0};
    int rc = fg_json_parse(text, strlen(text), &v, &e);
    if (rc != 0)
        fail_msg("parse of %s failed: %s", text, e.msg);
    assert_non_null(v);
    return v;
}

/* asserts that text fails with FG_EINVAL and exactly msg */
static void parse_fails(const char *text, size_t len, const char *msg) {
    fg_json *v = (fg_json *)1;
    fg_err e = {0};
    int rc = fg_json_parse(text, len, &v, &e);
    if (rc == 0)
        fail_msg("parse of '%.*s' succeeded, want \"%s\"", (int)len, text, msg);
    assert_int_equal(rc, FG_EINVAL);
    assert_int_equal(e.code, FG_EINVAL);
    assert_null(v);
    assert_string_equal(e.msg, msg);
}
#define FAILS(lit, msg) parse_fails(lit, sizeof lit - 1, msg)

static void json_parses_every_kind(void **state) {
    (void)state;
    fg_json *v = parse_ok(" {\"a\": [1, 2.5, \"x\", true, false, null, {}, []], \"b\": {\"c\": -3}} \n");
    assert_int_equal(v->type, FG_JSON_OBJECT);
    assert_int_equal(v->n, 2);
    assert_string_equal(v->keys[0], "a");
    const fg_json *a = fg_json_get(v, "a");
    assert_int_equal(a->type, FG_JSON_ARRAY);
    assert_int_equal(fg_json_count(a), 8);
    assert_true(fg_json_num(fg_json_at(a, 0), 0) == 1.0);
    assert_true(fg_json_num(fg_json_at(a, 1), 0) == 2.5);
    assert_string_equal(fg_json_str(fg_json_at(a, 2), NULL), "x");
    assert_int_equal(fg_json_at(a, 2)->len, 1);
    assert_int_equal(fg_json_bool(fg_json_at(a, 3), -1), 1);
    assert_int_equal(fg_json_bool(fg_json_at(a, 4), -1), 0);
    assert_int_equal(fg_json_at(a, 5)->type, FG_JSON_NULL);
    assert_int_equal(fg_json_at(a, 6)->type, FG_JSON_OBJECT);
    assert_int_equal(fg_json_count(fg_json_at(a, 6)), 0);
    assert_int_equal(fg_json_at(a, 7)->type, FG_JSON_ARRAY);
    assert_null(fg_json_at(a, 8));
    assert_true(fg_json_num(fg_json_get(fg_json_get(v, "b"), "c"), 0) == -3.0);
    fg_json_free(v);

    v = parse_ok("42");
    assert_int_equal(v->type, FG_JSON_NUMBER);
    assert_true(v->num == 42.0);
    fg_json_free(v);
    v = parse_ok("\"\"");
    assert_int_equal(v->type, FG_JSON_STRING);
    assert_int_equal(v->len, 0);
    assert_string_equal(v->str, "");
    fg_json_free(v);
    v = parse_ok("null");
    assert_int_equal(v->type, FG_JSON_NULL);
    fg_json_free(v);
}

static void json_accessors_return_defaults_on_wrong_kind(void **state) {
    (void)state;
    fg_json *v = parse_ok("{\"n\": null, \"s\": \"str\", \"x\": 7, \"arr\": [1]}");
    assert_true(isnan(fg_json_num(fg_json_get(v, "n"), NAN))); /* null means "not measured", not 0 */
    assert_true(fg_json_num(fg_json_get(v, "s"), -1) == -1);
    assert_true(fg_json_num(fg_json_get(v, "missing"), -2) == -2);
    assert_true(fg_json_num(NULL, 5) == 5);
    assert_string_equal(fg_json_str(fg_json_get(v, "x"), "dflt"), "dflt");
    assert_string_equal(fg_json_str(NULL, "d"), "d");
    assert_int_equal(fg_json_bool(fg_json_get(v, "x"), 7), 7);
    assert_null(fg_json_get(fg_json_get(v, "arr"), "x")); /* not an object */
    assert_null(fg_json_at(v, 0));                          /* not an array */
    assert_null(fg_json_get(NULL, "x"));
    assert_null(fg_json_at(NULL, 0));
    assert_int_equal(fg_json_count(fg_json_get(v, "x")), 0);
    assert_int_equal(fg_json_count(v), 4);
    fg_json_free(v);
    fg_json_free(NULL);
}

static void json_unescapes_strings_and_surrogate_pairs(void **state) {
    (void)state;
    fg_json *v = parse_ok("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9\\u20AC \\ud83d\\ude00 caf\xc3\xa9\"");
    assert_string_equal(v->str, "q\" b\\ s/ \b\f\n\r\t \xc3\xa9\xe2\x82\xac \xf0\x9f\x98\x80 caf\xc3\xa9");
    assert_int_equal(v->len, strlen(v->str));
    fg_json_free(v);

    /* \u0000 is kept: len counts it, str stays NUL-terminated after it */
    v = parse_ok("\"a\\u0000b\"");
    assert_int_equal(v->len, 3);
    assert_memory_equal(v->str, "a\0b", 4);
    fg_json_free(v);

    /* the largest code point, and raw 4-byte UTF-8 */
    v = parse_ok("[\"\\uDBFF\\uDFFF\", \"\xf4\x8f\xbf\xbf\"]");
    assert_string_equal(v->items[0].str, "\xf4\x8f\xbf\xbf");
    assert_string_equal(v->items[1].str, "\xf4\x8f\xbf\xbf");
    fg_json_free(v);
}

static void json_numbers_follow_the_grammar(void **state) {
    (void)state;
    fg_json *v = parse_ok("[0, -0, 1e3, 1E+3, 2.5e-3, -1.25E2, 123456789012345678901234567890, 1e308, 1e-400, "
                          "0.1, 9007199254740993]");
    assert_true(v->items[0].num == 0 && !signbit(v->items[0].num));
    assert_true(v->items[1].num == 0 && signbit(v->items[1].num)); /* -0 keeps its sign */
    assert_true(v->items[2].num == 1000);
    assert_true(v->items[3].num == 1000);
    assert_true(v->items[4].num == 0.0025);
    assert_true(v->items[5].num == -125);
    assert_true(v->items[6].num == 123456789012345678901234567890.0);
    assert_true(v->items[7].num == 1e308);
    assert_true(v->items[8].num == 0); /* underflow rounds to 0; only overflow is refused */
    assert_true(v->items[9].num == 0.1);
    assert_true(v->items[10].num == 9007199254740992.0); /* nearest double */
    fg_json_free(v);

    /* a number longer than the on-stack copy buffer */
    char big[301];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = 0;
    v = parse_ok(big);
    assert_true(fabs(v->num / 1.1111111111111111e299 - 1) < 1e-15);
    fg_json_free(v);
    big[1] = 'e'; /* 1e111...: the long copy path reports overflow too */
    parse_fails(big, strlen(big), "byte 0: number out of range of a double");
}

static void json_refuses_numbers_outside_the_grammar(void **state) {
    (void)state;
    FAILS("01", "byte 1: expected end of input, found '1'");
    FAILS("[01]", "byte 2: expected ',' or ']', found '1'");
    FAILS("-", "byte 1: expected digit, found end of input");
    FAILS("-a", "byte 1: expected digit, found 'a'");
    FAILS("+1", "byte 0: expected value, found '+'");
    FAILS(".5", "byte 0: expected value, found '.'");
    FAILS("1.", "byte 2: expected digit after '.', found end of input");
    FAILS("1.e5", "byte 2: expected digit after '.', found 'e'");
    FAILS("1e", "byte 2: expected digit in exponent, found end of input");
    FAILS("1e+", "byte 3: expected digit in exponent, found end of input");
    FAILS("[1, 2e400]", "byte 4: number out of range of a double");
    FAILS("-1e309", "byte 0: number out of range of a double");
    FAILS("NaN", "byte 0: expected value, found 'N'");
    FAILS("Infinity", "byte 0: expected value, found 'I'");
    FAILS("0x10", "byte 1: expected end of input, found 'x'");
}

static void json_refuses_bad_strings(void **state) {
    (void)state;
    FAILS("\"abc", "byte 4: expected '\"' closing the string, found end of input");
    FAILS("\"ab\\\"", "byte 5: expected '\"' closing the string, found end of input");
    FAILS("\"a\nb\"", "byte 2: unescaped control character 0x0a in string");
    FAILS("\"a\tb\"", "byte 2: unescaped control character 0x09 in string");
    FAILS("\"\\x\"", "byte 2: expected an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u), found 'x'");
    FAILS("\"\\u12\"", "byte 3: expected 4 hex digits after \\u");
    FAILS("\"\\u12G4\"", "byte 3: expected 4 hex digits after \\u");
    FAILS("\"\\uDE00\"", "byte 1: lone low surrogate \\uDE00");
    FAILS("\"x\\uD83D\"",
          "byte 2: high surrogate \\uD83D not followed by a \\uDC00-\\uDFFF low surrogate");
    FAILS("\"\\uD83D\\u0041\"",
          "byte 1: high surrogate \\uD83D not followed by a \\uDC00-\\uDFFF low surrogate");
    FAILS("\"\\uD83Dx\"", "byte 1: high surrogate \\uD83D not followed by a \\uDC00-\\uDFFF low surrogate");
    FAILS("\"\xff\"", "byte 1: invalid UTF-8 in string");
    FAILS("\"\xc0\xaf\"", "byte 1: invalid UTF-8 in string");     /* overlong '/' */
    FAILS("\"a\xed\xa0\x80\"", "byte 2: invalid UTF-8 in string"); /* encoded surrogate */
    FAILS("\"\xf4\x90\x80\x80\"", "byte 1: invalid UTF-8 in string"); /* above U+10FFFF */
    FAILS("\"\xe2\x82\"", "byte 1: invalid UTF-8 in string");     /* truncated sequence */
    FAILS("'a'", "byte 0: expected value, found '''");
}

static void json_refuses_bad_structure_with_offsets(void **state) {
    (void)state;
    FAILS("", "byte 0: expected value, found end of input");
    FAILS("   ", "byte 3: expected value, found end of input");
    FAILS("[", "byte 1: expected value or ']', found end of input");
    FAILS("[1,", "byte 3: expected value, found end of input");
    FAILS("[1,]", "byte 3: expected value, found ']'");
    FAILS("[1 2]", "byte 3: expected ',' or ']', found '2'");
    FAILS("{", "byte 1: expected string key or '}', found end of input");
    FAILS("{\"a\":1,}", "byte 7: expected string key, found '}'");
    FAILS("{a:1}", "byte 1: expected string key or '}', found 'a'");
    FAILS("{\"a\" 1}", "byte 5: expected ':', found '1'");
    FAILS("{\"a\":}", "byte 5: expected value, found '}'");
    FAILS("{\"a\":1 \"b\":2}", "byte 7: expected ',' or '}', found '\"'");
    FAILS("tru", "byte 3: expected 'true', found end of input");
    FAILS("trUe", "byte 2: expected 'true', found 'U'");
    FAILS("nul", "byte 3: expected 'null', found end of input");
    FAILS("falsey", "byte 5: expected end of input, found 'y'");
    FAILS("{} {}", "byte 3: expected end of input, found '{'");
    FAILS("[] x", "byte 3: expected end of input, found 'x'");
    FAILS("\xef\xbb\xbf{}", "byte 0: expected value, found byte 0xef"); /* no byte order mark */
    FAILS("/* c */ 1", "byte 0: expected value, found '/'");
    FAILS("[1]\0", "byte 3: expected end of input, found byte 0x00");
    FAILS("\f1", "byte 0: expected value, found byte 0x0c"); /* form feed is not JSON whitespace */
}

static void json_keeps_duplicates_and_looks_up_the_last(void **state) {
    (void)state;
    fg_json *v = parse_ok("{\"k\": 1, \"other\": 2, \"k\": 3}");
    assert_int_equal(v->n, 3);
    assert_string_equal(v->keys[0], "k");
    assert_string_equal(v->keys[2], "k");
    assert_true(v->items[0].num == 1);
    assert_true(fg_json_num(fg_json_get(v, "k"), 0) == 3);
    assert_true(fg_json_num(fg_json_get(v, "other"), 0) == 2);
    fg_json_free(v);

    v = parse_ok("{\"\\u00e9t\\u00e9\": true, \"\": 1}"); /* escaped keys are unescaped for lookups */
    assert_int_equal(fg_json_bool(fg_json_get(v, "\xc3\xa9t\xc3\xa9"), 0), 1);
    assert_true(fg_json_num(fg_json_get(v, ""), 0) == 1);
    fg_json_free(v);
}

static char *nested(int depth, char open, char close) {
    char *s = malloc((size_t)depth * 2 + 1);
    for (int i = 0; i < depth; i++) {
        s[i] = open;
        s[depth * 2 - 1 - i] = close;
    }
    s[depth * 2] = 0;
    return s;
}

static void json_depth_limit_is_256(void **state) {
    (void)state;
    char *ok = nested(FG_JSON_MAX_DEPTH, '[', ']');
    fg_json *v = parse_ok(ok);
    const fg_json *in = v;
    int depth = 1;
    while (in->n) {
        in = &in->items[0];
        depth++;
    }
    assert_int_equal(depth, FG_JSON_MAX_DEPTH);
    fg_json_free(v);
    free(ok);

    char *deep = nested(FG_JSON_MAX_DEPTH + 1, '[', ']');
    parse_fails(deep, strlen(deep), "byte 256: nesting deeper than 256");
    free(deep);

    /* objects count too, and a huge nesting fails cleanly rather than exhausting the stack */
    char obj[] = "{\"a\":[{\"b\":";
    size_t per = strlen(obj);
    char *mixed = malloc(per * 200 + 1);
    for (int i = 0; i < 200; i++)
        memcpy(mixed + per * (size_t)i, obj, per);
    mixed[per * 200] = 0;
    parse_fails(mixed, strlen(mixed), "byte 940: nesting deeper than 256"); /* 3 levels a repeat: the 257th opens at 85 * 11 + 5 */
    free(mixed);

    char *huge = nested(100000, '[', ']');
    parse_fails(huge, strlen(huge), "byte 256: nesting deeper than 256");
    free(huge);
}

static void json_errors_free_partial_documents(void **state) {
    (void)state;
    /* under ASan these would leak if partial arrays, keys or strings were not released */
    FAILS("{\"a\": [\"x\", {\"b\": \"long string value\", \"c\": [1, 2, 3", "byte 52: expected ',' or ']', found end of input");
    FAILS("{\"key\"", "byte 6: expected ':', found end of input");
    FAILS("[\"a\", \"b\", \"\\q\"]", "byte 13: expected an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u), found 'q'");
    FAILS("{\"a\": tru}", "byte 9: expected 'true', found '}'");
}

static void json_reads_only_len_bytes(void **state) {
    (void)state;
    const char text[] = "[1, 2] garbage";
    fg_json *v = NULL;
    fg_err e = {0};
    assert_int_equal(fg_json_parse(text, 6, &v, &e), 0);
    assert_int_equal(fg_json_count(v), 2);
    fg_json_free(v);
    parse_fails("\"abc\"", 3, "byte 3: expected '\"' closing the string, found end of input");
}

static char *write_to_string(void (*fn)(FILE *, const void *), const void *arg) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fn(f, arg);
    fclose(f);
    return buf;
}
static void w_str(FILE *f, const void *arg) { fg_json_write_str(f, arg, 13); }
static void w_num(FILE *f, const void *arg) { fg_json_write_num(f, *(const double *)arg); }

static void json_writers_round_trip(void **state) {
    (void)state;
    const char raw[] = "a\"b\\c\n\x01\t\xc3\xa9\0z/"; /* 13 bytes, with a NUL */
    char *s = write_to_string(w_str, raw);
    assert_string_equal(s, "\"a\\\"b\\\\c\\n\\u0001\\t\xc3\xa9\\u0000z/\"");
    fg_json *v = parse_ok(s);
    assert_int_equal(v->len, 13);
    assert_memory_equal(v->str, raw, 13);
    fg_json_free(v);
    free(s);

    const double xs[] = {0.1, 1.0 / 3.0, 12345, -0.0, 1e-300, 2.5e100};
    const char *want[] = {"0.1", "0.33333333333333331", "12345", "-0", "1e-300", "2.5e+100"};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        s = write_to_string(w_num, &xs[i]);
        assert_string_equal(s, want[i]);
        v = parse_ok(s);
        assert_true(v->num == xs[i]);
        fg_json_free(v);
        free(s);
    }
    double inf = INFINITY, nan = NAN;
    s = write_to_string(w_num, &inf);
    assert_string_equal(s, "null");
    free(s);
    s = write_to_string(w_num, &nan);
    assert_string_equal(s, "null");
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_parses_every_kind),
        cmocka_unit_test(json_accessors_return_defaults_on_wrong_kind),
        cmocka_unit_test(json_unescapes_strings_and_surrogate_pairs),
        cmocka_unit_test(json_numbers_follow_the_grammar),
        cmocka_unit_test(json_refuses_numbers_outside_the_grammar),
        cmocka_unit_test(json_refuses_bad_strings),
        cmocka_unit_test(json_refuses_bad_structure_with_offsets),
        cmocka_unit_test(json_keeps_duplicates_and_looks_up_the_last),
        cmocka_unit_test(json_depth_limit_is_256),
        cmocka_unit_test(json_errors_free_partial_documents),
        cmocka_unit_test(json_reads_only_len_bytes),
        cmocka_unit_test(json_writers_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
