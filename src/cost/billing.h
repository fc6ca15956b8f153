/* billing.h - cloud billing exports in, one normalized row struct out: the ingestion layer of
 * `frugal cost`.
 *
 * Overview
 *   fg_bill_open reads the header row of a CSV export (plain or gzip; see csv.h), decides its format
 *   and maps the columns it needs; fg_bill_next then returns one fg_bill_row per data record. Costs are
 *   exact decimals (decimal.h), timestamps seconds since the epoch (UTC), enums case-insensitive.
 *
 * Formats (detected from the header; column names are compared ignoring case and every character
 *   that is not a letter or digit, so `lineItem/UnblendedCost` and `line_item_unblended_cost` are the
 *   same column)
 *   focus-1.0, focus-1.1, focus-1.2  FOCUS: a BilledCost column plus ChargePeriodStart or EffectiveCost.
 *       The version is a best-effort guess, the lowest one whose columns explain the header: 1.2 when
 *       any of InvoiceId, BillingAccountType, SubAccountType, PricingCurrency,
 *       PricingCurrencyEffectiveCost, PricingCurrencyListUnitPrice, PricingCurrencyContractedUnitPrice
 *       is present; else 1.1 when any of ServiceSubcategory, SkuMeter, SkuPriceDetails,
 *       CommitmentDiscountQuantity, CommitmentDiscountUnit, CapacityReservationId,
 *       CapacityReservationStatus is; else 1.0. (Exports may omit optional columns, so a 1.2 file can
 *       read as 1.1: the FOCUS 1.2 spec examples do.) Versions read the same columns.
 *   aws-cur          AWS Cost and Usage Report (legacy CUR, `lineItem/UnblendedCost` headers).
 *   aws-cur-athena   the same columns in Athena snake_case (`line_item_unblended_cost`).
 *   azure            Azure cost details, EA or MCA, actual or amortized (a MeterCategory column with
 *                    CostInBillingCurrency, Cost or PreTaxCost).
 *   format_or_null overrides detection: "focus" (version still guessed), "focus-1.0", "focus-1.1",
 *   "focus-1.2", "aws-cur", "aws-cur-athena" (the two AWS styles read the same), "azure". The header
 *   must still hold that format's cost column.
 *
 * Column mapping (first existing column wins; "-" = left empty)
 *   field            FOCUS                        AWS CUR                                    Azure
 *   provider         ProviderName                 "AWS"                                      "Microsoft"
 *   billed_cost      BilledCost                   lineItem/UnblendedCost                     CostInBillingCurrency, Cost, PreTaxCost
 *   effective_cost   EffectiveCost (absent: billed)  DiscountedUsage: reservation/EffectiveCost;  = billed (the export type
 *                                                 SavingsPlanCoveredUsage:                   decides actual/amortized)
 *                                                 savingsPlan/SavingsPlanEffectiveCost; else unblended
 *   currency         BillingCurrency              lineItem/CurrencyCode                      BillingCurrency(Code), Currency
 *   charge start/end ChargePeriodStart/End        lineItem/UsageStartDate/EndDate            Date (or UsageDateTime) .. +1 day
 *   service_name     ServiceName                  product/ProductName, lineItem/ProductCode  MeterCategory, ConsumedService
 *   service_category ServiceCategory              from service_code (see below)              from service_code
 *   service_code     -                            lineItem/ProductCode, product/servicecode  ConsumedService
 *   sku              SkuId                        product/sku                                MeterId
 *   usage_type       SkuMeter, ConsumedUnit       lineItem/UsageType                         MeterName
 *   resource_id      ResourceId                   lineItem/ResourceId                        ResourceId, InstanceId
 *   region           RegionId, RegionName, Region product/region, product/regionCode         ResourceLocation, MeterRegion
 *   account          BillingAccountId             bill/PayerAccountId                        BillingAccountId
 *   sub_account      SubAccountId                 lineItem/UsageAccountId                    SubscriptionId, SubscriptionGuid
 *   charge_category  ChargeCategory               from lineItem/LineItemType                 from ChargeType
 *   commitment       CommitmentDiscountStatus     Used for DiscountedUsage/SPCoveredUsage    Unused for ChargeType Unused*
 *   pricing_category PricingCategory              Committed for those, pricing/term, Spot    PricingModel
 *                                                 in lineItem/UsageType
 *   tags             Tags (JSON object)           resourceTags/user:KEY, resource_tags_user_KEY   Tags ({..} or without braces)
 *   Every other column (x_* and the rest) is ignored.
 *   service_category of AWS and Azure rows: fg_service_category (categories.h) of service_code, e.g.
 *   AmazonS3 -> Storage, Microsoft.Compute -> Compute; empty when the code is not in that table. It points
 *   to static storage, not into the reader's buffers. FOCUS rows keep their own ServiceCategory.
 *
 * Values
 *   Costs: see fg_dec_parse; an absent cost is 0 with has_billed/has_effective false. Timestamps:
 *   YYYY-MM-DD, YYYY-MM-DD[T ]hh:mm[:ss[.fff]][Z|+hh:mm|-hhmm], MM/DD/YYYY [hh:mm[:ss]] (Azure EA);
 *   absent (empty/NULL) leaves has_start/has_end false. An hour past 23 rolls over into the next day
 *   (the FOCUS 1.2 spec examples contain "2023-02-01T30:00:00Z"). Tags: keys and values are unescaped
 *   JSON strings; a non-string value keeps its raw text; null is empty. A malformed Tags value does not
 *   drop the row: tags_malformed is set and the tags parsed before the fault are kept.
 *
 * Errors
 *   A malformed row (a field count different from the header's, an unparsable cost or timestamp, a CSV
 *   syntax error) makes fg_bill_next return FG_EFORMAT with "file:line: reason" in e; the caller counts
 *   it and calls again (clear e first): the stream goes on. Any other negative code is fatal.
 *
 * Memory
 *   Every fg_str in a row, and the tags array, point into the reader's buffers and stay valid until the
 *   next fg_bill_next or fg_bill_close (a derived service_category points to static storage instead).
 *   Copy what must outlive the row. Strings are not NUL-terminated.
 *
 * Usage
 *   fg_err e = {0};
 *   fg_bill_reader *r = fg_bill_open("focus.csv.gz", NULL, &e);
 *   fg_bill_row row;
 *   int rc;
 *   while ((rc = fg_bill_next(r, &row, &e)) != 0) {
 *       if (rc == FG_EFORMAT) { warn(e.msg); fg_err_clear(&e); continue; }
 *       if (rc < 0) fail(e.msg);
 *       fg_dec_add(total, row.effective_cost, &total);
 *   }
 *   fg_bill_close(r);
 */
#ifndef FG_COST_BILLING_H
#define FG_COST_BILLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "cost/decimal.h"

typedef enum fg_bill_format {
    FG_BILL_FOCUS_1_0,
    FG_BILL_FOCUS_1_1,
    FG_BILL_FOCUS_1_2,
    FG_BILL_AWS_CUR,
    FG_BILL_AWS_CUR_ATHENA,
    FG_BILL_AZURE,
} fg_bill_format;

typedef enum fg_bill_charge_category {
    FG_CHARGE_UNKNOWN,
    FG_CHARGE_USAGE,
    FG_CHARGE_PURCHASE,
    FG_CHARGE_TAX,
    FG_CHARGE_CREDIT,
    FG_CHARGE_ADJUSTMENT,
} fg_bill_charge_category;

typedef enum fg_bill_commitment_status {
    FG_COMMIT_NONE, /* absent / not a commitment-discount row */
    FG_COMMIT_USED,
    FG_COMMIT_UNUSED,
} fg_bill_commitment_status;

typedef enum fg_bill_pricing_category {
    FG_PRICING_UNKNOWN,
    FG_PRICING_STANDARD, /* On-Demand / Standard */
    FG_PRICING_COMMITTED,
    FG_PRICING_DYNAMIC, /* spot and other dynamic prices */
    FG_PRICING_OTHER,
} fg_bill_pricing_category;

/* n bytes at p, not NUL-terminated; n == 0 means empty or absent. */
typedef struct fg_str {
    const char *p;
    size_t n;
} fg_str;

typedef struct fg_bill_tag {
    fg_str key, value;
} fg_bill_tag;

typedef struct fg_bill_row {
    fg_str provider;
    fg_dec billed_cost, effective_cost;
    bool has_billed, has_effective;
    fg_str currency;
    int64_t charge_start, charge_end; /* seconds since 1970-01-01T00:00:00Z */
    bool has_start, has_end;
    fg_str service_name, service_category;
    fg_str service_code; /* AWS product code / Azure ConsumedService; empty for FOCUS */
    fg_str sku, usage_type;
    fg_str resource_id, region;
    fg_str account, sub_account;
    fg_bill_charge_category charge_category;
    fg_bill_commitment_status commitment_status;
    fg_bill_pricing_category pricing_category;
    const fg_bill_tag *tags;
    size_t n_tags;
    bool tags_malformed;
    long line; /* physical line the record starts on */
} fg_bill_row;

typedef struct fg_bill_reader fg_bill_reader;

/* Opens path and reads its header. format_or_null: NULL to detect, or a name listed above. Returns
 * NULL with e set: FG_EIO (cannot read), FG_EFORMAT (no header), FG_EUNSUPPORTED (format not
 * recognised, or the header lacks the forced format's cost column), FG_EINVAL (unknown format name). */
fg_bill_reader *fg_bill_open(const char *path, const char *format_or_null, fg_err *e);

/* Next row: 1 (row filled), 0 (end), FG_EFORMAT (row skipped, e says file:line: why; call again),
 * another negative code (fatal). */
int fg_bill_next(fg_bill_reader *r, fg_bill_row *row, fg_err *e);

fg_bill_format fg_bill_get_format(const fg_bill_reader *r);
/* "focus-1.2", "aws-cur", ... (the names format_or_null accepts). */
const char *fg_bill_format_name(const fg_bill_reader *r);
const char *fg_bill_format_str(fg_bill_format f);

/* Data records seen (returned or skipped) and records skipped as malformed. */
uint64_t fg_bill_rows_read(const fg_bill_reader *r);
uint64_t fg_bill_rows_skipped(const fg_bill_reader *r);

/* Parsing helpers, exposed for tests. fg_bill_parse_time: 1 with *t set, 0 absent, FG_EINVAL bad.
 * fg_bill_parse_tags: parses a FOCUS/Azure Tags value into at most max tags whose strings point into
 * scratch (capacity >= n) or s; returns the count, or -(count+1) when malformed after count tags. */
int fg_bill_parse_time(const char *s, size_t n, int64_t *t);
long fg_bill_parse_tags(const char *s, size_t n, char *scratch, fg_bill_tag *tags, size_t max);

void fg_bill_close(fg_bill_reader *r);

#endif
