/* rules.h - ML-lifecycle cost buckets and the ordered rules that put a billing row into one.
 *
 * Rule text (deploy/cost/rules.txt is the default set; the same text is compiled in as
 * fg_rules_default): one rule a line, `BUCKET FIELD PATTERN`, separated by spaces/tabs; PATTERN is the
 * rest of the line (it may hold spaces), trimmed. '#' starts a comment line; blank lines are ignored.
 *   BUCKET   training | inference | data_storage | compute_etl | monitoring | network |
 *            commitment_waste | other
 *   FIELD    tag:KEY (KEY a case-insensitive glob on the tag key; PATTERN on its value) | sku |
 *            usage_type | service_category | service | charge
 *            charge matches any of the row's commitment status (used, unused), charge category (usage,
 *            purchase, tax, credit, adjustment) and pricing category (standard, committed, dynamic,
 *            other); absent values are not matched.
 *   PATTERN  case-insensitive glob: '*' any run of bytes, '?' one byte, everything else literal.
 * Rules are tried in order; the first match wins; no match is bucket `other` (unallocated spend). */
#ifndef FG_COST_RULES_H
#define FG_COST_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "cost/billing.h"

typedef enum fg_bucket {
    FG_BUCKET_TRAINING,
    FG_BUCKET_INFERENCE,
    FG_BUCKET_DATA_STORAGE,
    FG_BUCKET_COMPUTE_ETL,
    FG_BUCKET_MONITORING,
    FG_BUCKET_NETWORK,
    FG_BUCKET_COMMITMENT_WASTE,
    FG_BUCKET_OTHER,
    FG_BUCKET_COUNT,
} fg_bucket;

typedef enum fg_rule_field {
    FG_RULE_TAG,
    FG_RULE_SKU,
    FG_RULE_USAGE_TYPE,
    FG_RULE_SERVICE_CATEGORY,
    FG_RULE_SERVICE,
    FG_RULE_CHARGE,
} fg_rule_field;

typedef struct fg_rule {
    fg_bucket bucket;
    fg_rule_field field;
    char *key;     /* tag key glob (FG_RULE_TAG), else NULL */
    char *pattern; /* NUL-terminated */
    long line;
} fg_rule;

typedef struct fg_rules {
    fg_rule *r;
    size_t n;
} fg_rules;

/* The default rule set (the text of deploy/cost/rules.txt). */
extern const char fg_rules_default[];

/* "training", ... ; NULL when out of range. */
const char *fg_bucket_name(fg_bucket b);
/* Bucket named by n bytes at s (case-insensitive), or -1. */
int fg_bucket_parse(const char *s, size_t n);

/* Case-insensitive glob match of NUL-terminated pat against n bytes at s. */
bool fg_glob_match(const char *pat, const char *s, size_t n);

/* Parses rule text (n bytes). label names it in messages ("label:line: why"). Returns 0, or FG_EINVAL
 * (syntax) / FG_ENOMEM with e set; out is then empty. */
int fg_rules_parse(const char *text, size_t n, const char *label, fg_rules *out, fg_err *e);
/* Reads and parses a file: FG_EIO when unreadable. */
int fg_rules_load(const char *path, fg_rules *out, fg_err *e);
void fg_rules_free(fg_rules *rs);

/* The bucket of a row: first matching rule, else FG_BUCKET_OTHER. *rule_line (if not NULL) gets the
 * matching rule's line, 0 when none matched. */
fg_bucket fg_rules_classify(const fg_rules *rs, const fg_bill_row *row, long *rule_line);

#endif
