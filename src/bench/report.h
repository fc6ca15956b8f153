/* report.h - frugal bench's human outputs rendered from a parsed results document (docs/bench.md):
 * a self-contained HTML report and a side-by-side comparison of two runs. Both read only the JSON,
 * so a saved results file can be re-rendered or compared later; `null` (not measured) shows as "-",
 * never as 0. */
#ifndef FG_BENCH_REPORT_H
#define FG_BENCH_REPORT_H

#include <stdio.h>

#include "core/err.h"
#include "core/json.h"

/* Writes a self-contained HTML report of one results document (the frugal bench --json schema) to f:
 * header, per-stage tables, thresholds, inline SVG charts (no scripts, styles or fonts from elsewhere).
 * Returns 0, or FG_EINVAL (-1) with e when results is not a results document (no "stages" array, a
 * stage that is not an object), FG_EIO when writing f fails. */
int fg_bench_report_html(const fg_json *results, FILE *f, fg_err *e);

/* Writes a side-by-side comparison of results documents a and b (stages matched by index; differing
 * names, kinds or counts are noted) to f: an aligned text table, or with json set one JSON object
 * {"a","b","notes","stages":[{"index","name_a","name_b","metrics":[{"metric","a","b","delta",
 * "delta_pct","better"}]}]} where delta is b - a, delta_pct is relative to a, and better is "a", "b",
 * "same" or null (not measured, or a metric without a better direction). name_a and name_b label the
 * runs (NULL: "A", "B"). Returns 0, or FG_EINVAL (-1) / FG_EIO with e as fg_bench_report_html. */
int fg_bench_compare(const fg_json *a, const fg_json *b, const char *name_a, const char *name_b, int json, FILE *f,
                     fg_err *e);

#endif
