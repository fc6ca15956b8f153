/* fuzz_billing.c - libFuzzer target for the billing ingestion layer (src/cost/: csv.c, decimal.c,
 * billing.c). The input is written to a memfd and opened by its /proc path, so the whole path runs:
 * gzip detection, BOM, CSV syntax, format detection, row normalization. A first byte 0x01..0x07 forces a
 * format (focus, focus-1.0, focus-1.1, focus-1.2, aws-cur, aws-cur-athena, azure) and is dropped.
 * Checked: every row's strings and tags are readable (ASan), costs round-trip through fg_dec_format
 * and fg_dec_parse exactly, errors carry a message, skipped rows are counted, and the stream ends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cost/billing.h"

#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if (!(x))                                                                                            \
            __builtin_trap();                                                                                \
    } while (0)

static volatile unsigned char sink;

static void touch(fg_str s) {
    for (size_t i = 0; i < s.n; i++)
        sink ^= (unsigned char)s.p[i];
}

static void roundtrip(fg_dec d) {
    char buf[FG_DEC_STR_MAX];
    int n = fg_dec_format(d, FG_DEC_SCALE, buf, sizeof buf);
    CHECK(n > 0 && n < (int)sizeof buf);
    fg_dec back;
    CHECK(fg_dec_parse(buf, (size_t)n, &back, NULL, NULL) == 1);
    CHECK(fg_dec_cmp(back, d) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const formats[] = {NULL,    "focus",   "focus-1.0",      "focus-1.1",
                                          "focus-1.2", "aws-cur", "aws-cur-athena", "azure"};
    const char *fmt = NULL;
    if (size && data[0] >= 1 && data[0] <= 7) {
        fmt = formats[data[0]];
        data++, size--;
    }
    int fd = memfd_create("fuzz_billing", 0);
    CHECK(fd >= 0);
    CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    fg_err e = {0};
    fg_bill_reader *r = fg_bill_open(path, fmt, &e);
    if (!r) {
        CHECK(e.code < 0 && e.msg[0]);
        close(fd);
        return 0;
    }
    fg_bill_row row;
    uint64_t ok = 0, bad = 0;
    for (;;) {
        int rc = fg_bill_next(r, &row, &e);
        if (rc == 0)
            break;
        if (rc == FG_EFORMAT) {
            CHECK(e.code == FG_EFORMAT && strchr(e.msg, ':'));
            fg_err_clear(&e);
            bad++;
            continue;
        }
        if (rc < 0) {
            CHECK(e.msg[0]);
            break;
        }
        CHECK(rc == 1 && row.line >= 1);
        ok++;
        roundtrip(row.billed_cost);
        roundtrip(row.effective_cost);
        touch(row.provider), touch(row.currency), touch(row.service_name), touch(row.service_category);
        touch(row.sku), touch(row.usage_type), touch(row.resource_id), touch(row.region), touch(row.account);
        touch(row.sub_account);
        for (size_t i = 0; i < row.n_tags; i++)
            touch(row.tags[i].key), touch(row.tags[i].value);
    }
    CHECK(fg_bill_rows_skipped(r) == bad);
    CHECK(fg_bill_rows_read(r) >= ok + bad);
    fg_bill_close(r);
    close(fd);
    return 0;
}
