/* Tests for src/cost/csv.c: RFC 4180 edge cases, line numbers, errors that resynchronise, gzip input. */
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

#include "cost/csv.h"

static char *write_tmp(const void *data, size_t n, int gz) {
    static int seq;
    char *path = malloc(256);
    snprintf(path, 256, "/tmp/fg_csv_test_%d_%d%s", (int)getpid(), seq++, gz ? ".dat" : ".csv");
    if (gz) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
        assert_int_equal(gzclose(g), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, n, f), n);
        fclose(f);
    }
    return path;
}

/* Reads every record of text into a flat description: fields joined by '|', records by '\n',
 * each record prefixed with "<line>:"; errors appear as "E<code>@<msg>". */
static char *dump(const char *text, size_t n, int gz) {
    char *path = write_tmp(text, n, gz);
    fg_err e = {0};
    fg_csv *c = fg_csv_open(path, &e);
    assert_non_null(c);
    assert_int_equal(fg_csv_is_gzip(c), gz);
    char *out = NULL;
    size_t outn = 0;
    FILE *o = open_memstream(&out, &outn);
    fg_csv_record r;
    int rc;
    while ((rc = fg_csv_next(c, &r, &e)) != 0) {
        if (rc < 0) {
            const char *m = strchr(e.msg, ':');
            fprintf(o, "E%d@%s\n", rc, m ? m + 1 : e.msg);
            fg_err_clear(&e);
            if (rc != -4)
                break;
            continue;
        }
        fprintf(o, "%ld:", r.line);
        for (size_t i = 0; i < r.n; i++)
            fprintf(o, "%s%.*s", i ? "|" : "", (int)r.fields[i].n, r.fields[i].p);
        fprintf(o, "\n");
    }
    fg_csv_close(c);
    fclose(o);
    unlink(path);
    free(path);
    return out;
}

static void check(const char *text, const char *want) {
    for (int gz = 0; gz < 2; gz++) {
        char *got = dump(text, strlen(text), gz);
        if (strcmp(got, want) != 0)
            fail_msg("input %s (gzip %d):\ngot:\n%s\nwant:\n%s", text, gz, got, want);
        free(got);
    }
}

static void csv_basic_and_line_endings(void **state) {
    (void)state;
    check("a,b,c\n1,2,3\n", "1:a|b|c\n2:1|2|3\n");
    check("a,b,c\r\n1,2,3\r\n", "1:a|b|c\n2:1|2|3\n");
    check("a,b,c\r\n1,2,3", "1:a|b|c\n2:1|2|3\n");          /* no trailing newline */
    check("a,b\r1,2\r", "1:a|b\n2:1|2\n");                   /* lone CR */
    check("a,,c\n,,\n", "1:a||c\n2:||\n");                   /* empty fields */
    check("a\n\n\r\nb\n\n", "1:a\n4:b\n");                   /* blank lines skipped, still counted */
    check("", "");
    check("x", "1:x\n");
}

static void csv_bom_and_quotes(void **state) {
    (void)state;
    check("\xEF\xBB\xBFh1,h2\nv1,v2\n", "1:h1|h2\n2:v1|v2\n");
    check("\xEF\xBB\xBF", "");
    check("\xEF\xBB", "1:\xEF\xBB\n");
    check("\"a,b\",\"say \"\"hi\"\"\",\"\"\n", "1:a,b|say \"hi\"|\n");
    check("\"multi\nline\",x\nnext,y\n", "1:multi\nline|x\n3:next|y\n");
    check("\"crlf\r\ninside\",x\r\nnext,y\r\n", "1:crlf\r\ninside|x\n3:next|y\n");
    check("\"\"\"\"", "1:\"\n");
    /* a lone CR inside quotes is kept with what follows it (an older reader lost the next byte) */
    check("\"a\rb\",x\ny,z\n", "1:a\rb|x\n3:y|z\n");
    check("\"\rO\n\"", "1:\rO\n\n");
}

static void csv_malformed_quotes_resync(void **state) {
    (void)state;
    check("a,b\n1,\"x\"y,2\n3,4\n", "1:a|b\nE-4@2: unexpected character after closing quote\n3:3|4\n");
    check("a,b\n1,x\"y\n3,4\n", "1:a|b\nE-4@2: quote inside unquoted field\n3:3|4\n");
    check("a,b\n1,\"open\n2\n3\n", "1:a|b\nE-4@2: unterminated quoted field starting at line 2\n");
}

static void csv_record_limit(void **state) {
    (void)state;
    size_t big = FG_CSV_MAX_RECORD + 10;
    char *text = malloc(big + 64);
    strcpy(text, "h\n");
    memset(text + 2, 'x', big);
    strcpy(text + 2 + big, "\nok\n");
    char *got = dump(text, strlen(text), 0);
    assert_string_equal(got, "1:h\nE-4@2: record longer than 16777216 bytes\n3:ok\n");
    free(got);
    free(text);
}

static void csv_missing_file_and_truncated_gzip(void **state) {
    (void)state;
    fg_err e = {0};
    assert_null(fg_csv_open("/nonexistent/x.csv", &e));
    assert_int_equal(e.code, FG_EIO);
    /* a truncated gzip stream is a fatal I/O error, not silent EOF */
    char text[4096];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (i % 50 == 49) ? '\n' : (char)('a' + (int)(i * 7 % 26));
    char *path = write_tmp(text, sizeof text, 1);
    FILE *f = fopen(path, "rb");
    unsigned char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    f = fopen(path, "wb");
    fwrite(buf, 1, n / 2, f);
    fclose(f);
    fg_err_clear(&e);
    fg_csv *c = fg_csv_open(path, &e); /* may fail already on the first read */
    if (c) {
        fg_csv_record r;
        int rc;
        while ((rc = fg_csv_next(c, &r, &e)) == 1) {
        }
        assert_int_equal(rc, FG_EIO);
        assert_int_equal(fg_csv_next(c, &r, &e), FG_EIO);
        fg_csv_close(c);
    } else {
        assert_int_equal(e.code, FG_EIO);
    }
    assert_non_null(strstr(e.msg, "gzip"));
    unlink(path);
    free(path);
}

static void csv_stream_gzip_equals_plain(void **state) {
    (void)state;
    /* a larger input crossing buffer boundaries: plain and gzip give the same records */
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    len += (size_t)snprintf(text + len, cap - len, "\xEF\xBB\xBF" "id,name,note\r\n");
    for (int i = 0; len + 200 < cap; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d,\"n,%d\",\"l1\nl2 \"\"q\"\"\"\r\n", i, i * 3);
    char *a = dump(text, len, 0), *b = dump(text, len, 1);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "2:0|n,0|l1\nl2 \"q\"\n4:1|n,3|"));
    /* fg_csv_open_stream on a FILE* */
    char *path = write_tmp(text, len, 1);
    FILE *f = fopen(path, "rb");
    fg_err e = {0};
    fg_csv *c = fg_csv_open_stream(f, "stream", &e);
    assert_non_null(c);
    fg_csv_record r;
    long n = 0;
    while (fg_csv_next(c, &r, &e) == 1)
        n++;
    assert_int_equal(e.code, 0);
    assert_true(n > 1000);
    fg_csv_close(c);
    fclose(f);
    unlink(path);
    free(path);
    free(a);
    free(b);
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_basic_and_line_endings),   cmocka_unit_test(csv_bom_and_quotes),
        cmocka_unit_test(csv_malformed_quotes_resync),  cmocka_unit_test(csv_record_limit),
        cmocka_unit_test(csv_missing_file_and_truncated_gzip), cmocka_unit_test(csv_stream_gzip_equals_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
