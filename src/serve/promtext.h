/* promtext.h - reader of the Prometheus text exposition format 0.0.4, and histogram helpers.
 *
 * Overview
 *   fg_prom_parse turns one scrape (the body of GET /metrics) into a flat list of samples: the metric
 *   name, its labels (names and unescaped values, in the order written) and the value, plus the
 *   `# TYPE` of each metric family. `# HELP` lines and other comments are read past. It is meant for
 *   tools that read a scrape (frugal doctor), not for a server: nothing is indexed, lookups are scans.
 *
 * Grammar (per line; lines end at '\n', a trailing '\r' is ignored)
 *   - blank lines and lines of only spaces/tabs are skipped;
 *   - `# TYPE name counter|gauge|histogram|summary|untyped` records the family's type (the first TYPE
 *     line of a name wins); `# HELP name text` and any other line starting with '#' are comments;
 *   - a sample is `name[{label="value",...}] value [timestamp]`, tokens separated by spaces or tabs.
 *     Names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*; a trailing comma in the
 *     label set is allowed; label values may use the escapes \\ \" and \n (any other escaped character
 *     stands for itself). Values are decimal or exponent floats, +Inf, -Inf, Inf or NaN (case as the
 *     Prometheus parser: exactly those spellings, also without the sign); the timestamp is an integer
 *     in milliseconds.
 *
 * Robustness
 *   Any byte string is accepted: a line that does not follow the grammar (bad name, unterminated label
 *   value, missing or unparsable value, NUL byte, trailing garbage, more than FG_PROM_MAX_LABELS labels,
 *   a name or value longer than FG_PROM_MAX_TOKEN) is skipped and counted in n_bad, and the first one's
 *   line number and reason are kept in bad_line / bad_why. fg_prom_parse fails only when the text holds
 *   more than FG_PROM_MAX_SAMPLES samples (FG_EFULL, nothing kept). Duplicate series are all kept.
 *
 * Usage
 *   fg_prom_doc d;
 *   if (fg_prom_parse(body, len, &d, &e) < 0) ...
 *   const char *m[] = {"model", "digits_mlp", "outcome", "success"};
 *   double ok = fg_prom_sum(&d, "frugal_requests_total", m, 2, NULL);
 *   double le[64], cum[64];
 *   size_t nb = fg_prom_buckets(&d, "frugal_request_duration_seconds", m, 1, le, cum, 64);
 *   double p99 = fg_prom_histogram_quantile(0.99, le, cum, nb);
 *   fg_prom_free(&d);
 */
#ifndef FG_SERVE_PROMTEXT_H
#define FG_SERVE_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define FG_PROM_MAX_LABELS 64        /* labels per sample; a line with more is skipped */
#define FG_PROM_MAX_TOKEN 4096       /* bytes of a name, label name or label value */
#define FG_PROM_MAX_SAMPLES 4000000  /* samples per document */

/* Metric family types, as written on `# TYPE` lines. */
typedef enum { FG_PROM_UNTYPED = 0, FG_PROM_COUNTER, FG_PROM_GAUGE, FG_PROM_HISTOGRAM, FG_PROM_SUMMARY } fg_prom_type;

/* One label: name and unescaped value (both NUL-terminated). */
typedef struct {
    char *name;
    char *value;
} fg_prom_label;

/* One sample line. */
typedef struct {
    char *name;
    fg_prom_label *labels;
    size_t n_labels;
    double value;
    int has_timestamp;
    int64_t timestamp_ms;
} fg_prom_sample;

/* One `# TYPE` line. */
typedef struct {
    char *name;
    fg_prom_type type;
} fg_prom_family;

/* A parsed scrape. */
typedef struct {
    fg_prom_sample *samples;
    size_t n_samples, cap_samples;
    fg_prom_family *families;
    size_t n_families, cap_families;
    size_t n_lines;     /* lines read */
    size_t n_bad;       /* lines skipped as malformed */
    size_t bad_line;    /* 1-based line number of the first malformed line (0: none) */
    char bad_why[96];   /* why that line was skipped */
} fg_prom_doc;

/* Parses len bytes of text (need not be NUL-terminated) into d; 0, or FG_EFULL (d left empty). */
int fg_prom_parse(const char *text, size_t len, fg_prom_doc *d, fg_err *e);

/* Frees everything d holds and zeroes it; safe on a zeroed or already freed doc. */
void fg_prom_free(fg_prom_doc *d);

/* The value of label `name` of sample s, or NULL when it has none. */
const char *fg_prom_label_value(const fg_prom_sample *s, const char *name);

/* Whether s carries every pair of match (n_pairs pairs: name, value, name, value, ...). */
int fg_prom_matches(const fg_prom_sample *s, const char *const *match, size_t n_pairs);

/* The type of family `name` from its `# TYPE` line (FG_PROM_UNTYPED when there is none). */
fg_prom_type fg_prom_family_type(const fg_prom_doc *d, const char *name);

/* Sum of the values of samples named `name` that match; *n_found (may be NULL) counts them. */
double fg_prom_sum(const fg_prom_doc *d, const char *name, const char *const *match, size_t n_pairs,
                   size_t *n_found);

/* Cumulative buckets of histogram `family` (samples family_bucket matching, summed per `le` bound)
 * into le[] ascending and cum[], at most max distinct bounds (beyond that the largest are dropped);
 * returns how many. Samples whose le does not parse (or is NaN) are ignored. */
size_t fg_prom_buckets(const fg_prom_doc *d, const char *family, const char *const *match, size_t n_pairs,
                       double *le, double *cum, size_t max);

/* The q-quantile (0..1) of cumulative buckets le[]/cum[] (le ascending, the last +Inf), as Prometheus's
 * histogram_quantile: linear interpolation inside the bucket holding rank q*total (the first bucket's
 * lower bound is 0 when its upper bound is positive); a rank in +Inf answers the highest finite bound, a
 * rank in an empty bucket its lower bound. NaN when n < 2, the last bound is not +Inf, or the total is 0
 * (or not finite); q < 0 gives -Inf and q > 1 +Inf. Non-monotonic counts are made monotonic first (as
 * Prometheus does). */
double fg_prom_histogram_quantile(double q, const double *le, const double *cum, size_t n);

/* The value of a number token as the text format spells it (also +Inf/-Inf/NaN); 0 on success. */
int fg_prom_parse_value(const char *s, size_t len, double *out);

#endif
