/* categories.h - FOCUS ServiceCategory for native AWS CUR and Azure rows, which carry a service code
 * (AWS lineItem/ProductCode, Azure ConsumedService) but no ServiceCategory column.
 *
 * The table is deploy/cost/service-categories.csv compiled in; both are generated from public mapping
 * tables (FinOps Foundation focus_converters, Microsoft finops-toolkit; MIT) by
 * scripts/make_service_categories.py, whose header comments give the sources and precedence. A unit
 * test checks the compiled-in rows equal the CSV. Rows are sorted by provider, then code compared
 * byte-wise after ASCII lowercasing, so fg_service_category can binary-search without allocating. */
#ifndef FG_COST_CATEGORIES_H
#define FG_COST_CATEGORIES_H

#include <stddef.h>

#include "cost/billing.h"

typedef struct fg_service_category_entry {
    const char *provider; /* "AWS" or "Microsoft" */
    const char *code;     /* product code / ConsumedService, as the source spells it */
    const char *category; /* FOCUS ServiceCategory, e.g. "Storage" */
} fg_service_category_entry;

/* The generated table (static storage, never freed) and its row count. */
extern const fg_service_category_entry fg_service_category_table[];
extern const size_t fg_service_category_count;

/* ServiceCategory of the n-byte code (case-insensitive) for a native export format: AWS formats search
 * the AWS rows, azure the Microsoft rows. Returns a static NUL-terminated string (caller must not free),
 * or NULL when the code is empty or unknown, or f is a FOCUS format (FOCUS rows carry their own). */
const char *fg_service_category(fg_bill_format f, const char *code, size_t n);

#endif
