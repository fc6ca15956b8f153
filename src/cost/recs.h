/* recs.h - savings recommendations of `frugal cost`: while the rows stream by, each row's cost is
 * offered to fg_recs_add, which files it under the kinds of saving it is evidence for; at the end
 * fg_recs_finish turns the sums into recommendations, each with its evidence (the largest lines), an
 * estimated monthly saving and the price assumption used (from a price table, deploy/cost/prices.txt,
 * compiled in as fg_prices_default; `--prices FILE` overrides keys).
 *
 * Kinds and the rows that are evidence for them (bucket from cost/rules.h; "compute" = ServiceCategory
 * Compute or AI and Machine Learning, or a usage type/SKU naming instance, vCPU, GPU or box hours):
 *   spot              training or compute_etl compute usage at on-demand (standard) prices
 *   storage_tiering   data_storage usage of a standard / hot class (…TimedStorage-ByteHrs, Hot … Data
 *                     Stored, Standard Storage), not already infrequent, cool, archive or glacier
 *   idle              usage types or SKUs naming idle resources (…IdleAddress, Idle…); with
 *                     fg_recs_finish's serving idle share, also the idle part of the inference bucket
 *   logs              monitoring rows: ingestion (…DataProcessing-Bytes, Ingest…) and log storage
 *   commitment        inference compute usage at on-demand prices that runs every day (steady)
 *   unused_commitment rows whose commitment discount status is Unused
 *   egress            network rows of cross-region or cross-zone transfer (…-AWS-Out-Bytes,
 *                     InterRegion, Inter-Region, DataTransfer-Regional…)
 *   A row may be evidence for more than one kind only where the kinds do not overlap in what they save.
 *
 * Savings are estimates in double precision from exact per-kind sums; the monthly figure scales the
 * period's cost by 30.4375 days over the period the rows cover (one month when it cannot be told). */
#ifndef FG_COST_RECS_H
#define FG_COST_RECS_H

#include <stddef.h>

#include "core/err.h"
#include "cost/billing.h"
#include "cost/decimal.h"
#include "cost/rules.h"

typedef enum fg_rec_kind {
    FG_REC_SPOT,
    FG_REC_STORAGE_TIERING,
    FG_REC_IDLE,
    FG_REC_LOGS,
    FG_REC_COMMITMENT,
    FG_REC_UNUSED_COMMITMENT,
    FG_REC_EGRESS,
    FG_REC_COUNT,
} fg_rec_kind;

/* The price table: see deploy/cost/prices.txt for what each figure means. */
typedef struct fg_prices {
    double spot_discount, commitment_discount, steady_min_days, steady_day_share, unused_commitment_recoverable;
    double storage_standard_per_gb_month, storage_infrequent_per_gb_month, storage_cold_share;
    double log_ingest_reducible, log_retention_reducible, egress_avoidable_share, idle_reducible,
        serving_idle_reducible;
} fg_prices;

/* The default price table (the text of deploy/cost/prices.txt). */
extern const char fg_prices_default[];

/* Parses price text (n bytes) over *p (keys not in the text keep their value in *p; start from the
 * default by parsing fg_prices_default first). label names it in messages ("label:line: why"): an
 * unknown key, a value that is not a number in its range. 0 or FG_EINVAL. */
int fg_prices_parse(const char *text, size_t n, const char *label, fg_prices *p, fg_err *e);
/* Reads and parses a file over *p: FG_EIO when unreadable. */
int fg_prices_load(const char *path, fg_prices *p, fg_err *e);

/* One line of evidence: the largest lines filed under a kind (strings owned by the fg_recs). */
typedef struct fg_rec_evidence {
    fg_str provider, service, resource, usage;
    fg_dec cost;
    uint64_t rows;
} fg_rec_evidence;

#define FG_REC_MAX_EVIDENCE 5

/* One recommendation. */
typedef struct fg_rec {
    fg_rec_kind kind;
    const char *name;      /* "spot", ... */
    fg_dec cost;           /* the period's cost the recommendation is about */
    uint64_t rows;         /* billing rows behind it */
    double monthly_cost;   /* cost scaled to a month */
    double monthly_saving; /* estimated */
    char action[320];      /* what to do */
    char assumption[480];  /* the price figures used and what must hold */
    char detail[320];      /* extra evidence (days steady, daily floor, idle share) */
    fg_rec_evidence ev[FG_REC_MAX_EVIDENCE];
    size_t n_ev;
} fg_rec;

typedef struct fg_recs fg_recs;

/* A new accumulator (one per currency); NULL when out of memory. Free with fg_recs_free. */
fg_recs *fg_recs_new(void);
/* Frees r and everything it holds (NULL is fine). */
void fg_recs_free(fg_recs *r);

/* Files a row's cost (in the basis chosen) under the kind it is evidence for. 0, -1 out of memory,
 * -2 a sum out of range. The same as fg_recs_add_as(r, fg_recs_classify(row, bucket), row, cost). */
int fg_recs_add(fg_recs *r, const fg_bill_row *row, fg_bucket bucket, fg_dec cost);

/* The kind a row is evidence for: an fg_rec_kind, FG_REC_LOGS_INGEST (logs, the ingestion part), or -1
 * for none. A pure function of the row's service name and category, SKU, usage type, charge, pricing
 * and commitment status and its bucket, so callers may memoize it on those. */
int fg_recs_classify(const fg_bill_row *row, fg_bucket bucket);
#define FG_REC_LOGS_INGEST 100

/* Files a row's cost under a kind fg_recs_classify returned (-1: nothing to file). Same codes as
 * fg_recs_add. */
int fg_recs_add_as(fg_recs *r, int kind, const fg_bill_row *row, fg_dec cost);

/* Adds the cost of the inference bucket (for the serving idle estimate). */
void fg_recs_inference_total(fg_recs *r, fg_dec inference);

/* The recommendations with a positive saving, largest saving first, into out[FG_REC_COUNT]; returns
 * how many. period_days: the days the rows cover (<= 0: unknown, one month assumed); serving_idle:
 * the idle share of the serving fleet from its metrics, or NAN. Pointers in out point into r. */
size_t fg_recs_finish(fg_recs *r, const fg_prices *p, double period_days, double serving_idle, fg_rec *out);

/* "spot", "storage_tiering", ... */
const char *fg_rec_kind_name(fg_rec_kind k);

#endif
