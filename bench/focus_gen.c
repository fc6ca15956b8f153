/* focus_gen.c - generator of large synthetic FOCUS 1.2 billing exports (CSV) for benchmarking and
 * fuzz-style checking of `frugal cost`. Standalone C17, libc only.
 *
 * usage: focus_gen [--bytes N[K|M|G]] [--rows N] [--days D] [--seed S] [--out FILE|-]
 *   --bytes N   stop at the last whole row that fits in N bytes (K/M/G = 2^10/2^20/2^30)
 *   --rows N    stop after N data rows
 *   --days D    length of the charge period in days (default 30), hourly rows, from 2026-09-01
 *   --seed S    PRNG seed (default 1); the output is a pure function of (options, seed)
 *   --out FILE  output file, "-" (default) for stdout
 * With --bytes or --rows the fleet (number of resources) is sized from a dry run so that D days come
 * out at about that size (3% margin: the last hours of the period may be cut); without either, one
 * team's fleet (24 resources, ~13.5 MB for 30 days) is written in full.
 *
 * What the file holds: one billing account (an ML platform on AWS, USD) with T sub-accounts ("teams");
 * each team runs the same mix of 24 resource slots, each writing its rows every hour (or as its
 * schedule says). Slot kinds and what they write:
 *   - GPU training on-demand: SageMaker training jobs (USW2-Train:ml.p4d.24xlarge, ...) and EC2 p5/p4d
 *     instances (BoxUsage:...), running in jobs of 6-72 h with gaps; Tags {"ml-stage":"training",...}
 *     (~10% of EC2 training rows are untagged); a gp3 EBS volume row next to EC2 instances.
 *   - GPU training spot: EC2 SpotUsage:g5.12xlarge / p3.8xlarge, PricingCategory Dynamic, hourly spot
 *     price 28-45% of list; tags training (some missing).
 *   - Inference endpoints, every hour: SageMaker USE1-Host:ml.g5.2xlarge (on-demand), EC2 g5.xlarge
 *     and inf2.xlarge fleets (2-12 instances, following the daily load); the EC2 ones covered by the team's
 *     Savings Plan: CommitmentDiscountStatus Used, PricingCategory Committed, BilledCost 0,
 *     EffectiveCost = SP rate. Tags ml-stage inference / serving.
 *   - ETL / analytics: Glue (USE1-ETL-DPU-Hour), EMR (BoxUsage:m5.4xlarge + ElasticMapReduce fee),
 *     Athena (USE1-DataScannedInTB), nightly 4-8 h windows; tags ml-stage etl / preprocess.
 *   - S3 Standard storage (USE1-TimedStorage-ByteHrs) growing over the month, plus request rows
 *     (Requests-Tier1, tiny costs); S3 Standard-IA (USE1-TimedStorage-SIA-ByteHrs).
 *   - CloudWatch logs: ingestion (USE1-DataProcessing-Bytes) and storage (USE1-TimedStorage-ByteHrs),
 *     ServiceCategory "Management and Governance"; tags ml-stage monitoring on some.
 *   - Data transfer: inter-region (USE1-USW2-AWS-Out-Bytes) and internet egress (USE1-DataTransfer-
 *     Out-Bytes), ServiceCategory Networking, many sub-cent values.
 *   - Commitment: the team's Compute Savings Plan (or a Reserved Instance): an hourly Purchase row
 *     (BilledCost = hourly fee, EffectiveCost 0) and, when utilization < 100%, an Unused row
 *     (CommitmentDiscountStatus Unused, BilledCost 0, EffectiveCost = unused part).
 *   - Billing: a Tax row per team per day, a Credit row (negative) at the start of each billing month,
 *     and now and then a Correction (ChargeClass Correction) adjusting an earlier charge.
 * Messy bits real exports have, on purpose: NULL written as an empty field (most) or the bare word
 * NULL; costs with up to 10 decimals, written trimmed ("32.7726"), padded ("0.0000000000") or in
 * exponent form ("6.72e-8", "4.936E-04", rarely "3.27726E+1"); timestamps "2026-09-01T05:00:00Z"
 * (most), "2026-09-01 05:00:00" and "2026-09-01T05:00:00.000Z"; ChargeDescription sometimes quoted
 * with commas, doubled quotes and a newline inside; enum values in mixed case ("usage", "USED",
 * "standard"); Tags a JSON object quoted with doubled quotes, sometimes "{}" or empty; x_Operation,
 * x_ServiceCode, x_UsageType provider columns.
 * All costs are integers of 1e-10 USD internally, so every value is exact in 10 decimals: a decimal
 * sum of EffectiveCost (Python csv + decimal) must equal `frugal cost`'s total exactly.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------- PRNG (splitmix64) ---------------- */
typedef struct rng {
    uint64_t s;
} rng;
static uint64_t rnext(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double runif(rng *r) { return (double)(rnext(r) >> 11) * (1.0 / 9007199254740992.0); }
static uint64_t rbelow(rng *r, uint64_t n) { return n ? rnext(r) % n : 0; }
static int chance(rng *r, double p) { return runif(r) < p; }
static rng rfork(uint64_t seed, uint64_t a, uint64_t b) {
    rng r = {seed ^ (a * 0xd1342543de82ef95ull) ^ (b * 0x2545f4914f6cdd1dull)};
    rnext(&r);
    return r;
}

/* ---------------- output sink ---------------- */
typedef struct sink {
    FILE *f;        /* NULL: count only (dry run) */
    uint64_t bytes; /* written so far */
    uint64_t rows;  /* data rows written */
    uint64_t max_bytes, max_rows; /* 0: no limit */
    int full;
} sink;

#define ROWCAP (1u << 16)
static char row_buf[ROWCAP];
static size_t row_len;

static void put(const char *s, size_t n) {
    if (row_len + n >= ROWCAP) {
        fprintf(stderr, "focus_gen: row too long\n");
        exit(2);
    }
    memcpy(row_buf + row_len, s, n);
    row_len += n;
}
static void puts_(const char *s) { put(s, strlen(s)); }
static void putc_(char c) { put(&c, 1); }

/* ends the row; returns 0, or 1 when the sink is full (row not written) */
static int row_end(sink *k) {
    putc_('\n');
    if (k->full)
        return 1;
    if ((k->max_bytes && k->bytes + row_len > k->max_bytes) || (k->max_rows && k->rows >= k->max_rows)) {
        k->full = 1;
        row_len = 0;
        return 1;
    }
    if (k->f && fwrite(row_buf, 1, row_len, k->f) != row_len) {
        fprintf(stderr, "focus_gen: write: %s\n", strerror(errno));
        exit(2);
    }
    k->bytes += row_len;
    k->rows++;
    row_len = 0;
    return 0;
}

/* ---------------- field writers ---------------- */
static rng *R; /* the stream used for messiness decisions */

static void sep(void) { putc_(','); }
static void f_null(void) {
    if (chance(R, 0.2))
        puts_("NULL");
}
/* a text field, quoted (with doubled quotes) when it holds , " CR or LF */
static void f_str(const char *s) {
    if (!s || !*s) {
        f_null();
        return;
    }
    if (!strpbrk(s, ",\"\r\n")) {
        puts_(s);
        return;
    }
    putc_('"');
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            putc_('"');
        putc_(*p);
    }
    putc_('"');
}
/* an enum value, in mixed case now and then */
static void f_enum(const char *s) {
    if (!s || !*s) {
        f_null();
        return;
    }
    double u = runif(R);
    if (u < 0.97) {
        puts_(s);
        return;
    }
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (u < 0.985 && c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        else if (u >= 0.985 && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        putc_(c);
    }
}

static int u64_dec(char *out, uint64_t v) {
    char t[24];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++)
        out[i] = t[n - 1 - i];
    return n;
}

/* money: v in units of 1e-10 */
#define UNIT 10000000000LL
static void f_money(int64_t v) {
    char b[64];
    int n = 0;
    uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    double u = runif(R);
    int expo = a != 0 && ((a < 10000000ull && u < 0.5) || u < 0.002);
    if (v < 0)
        b[n++] = '-';
    if (expo) {
        /* a = m * 10^k, m without trailing zeros; value = m * 10^(k-10) */
        uint64_t m = a;
        int k = 0;
        while (m % 10 == 0) {
            m /= 10;
            k++;
        }
        char d[24];
        int L = u64_dec(d, m);
        b[n++] = d[0];
        if (L > 1) {
            b[n++] = '.';
            memcpy(b + n, d + 1, (size_t)L - 1);
            n += L - 1;
        }
        int e = k - 10 + L - 1;
        int big = chance(R, 0.5);
        b[n++] = big ? 'E' : 'e';
        b[n++] = e < 0 ? '-' : '+';
        if (e < 0)
            e = -e;
        if (big && e < 10)
            b[n++] = '0';
        n += u64_dec(b + n, (uint64_t)e);
    } else {
        n += u64_dec(b + n, a / UNIT);
        uint64_t frac = a % UNIT;
        int pad = chance(R, 0.1);
        if (frac || pad) {
            char d[11];
            for (int i = 9; i >= 0; i--) {
                d[i] = (char)('0' + frac % 10);
                frac /= 10;
            }
            int L = 10;
            if (!pad)
                while (L > 0 && d[L - 1] == '0')
                    L--;
            b[n++] = '.';
            memcpy(b + n, d, (size_t)L);
            n += L;
        }
    }
    put(b, (size_t)n);
}
/* a quantity or unit price in units of 1e-6, or 1e-10 when fine */
static void f_fixed(int64_t v, int decimals) {
    char b[48];
    int n = 0;
    uint64_t a = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
    uint64_t p = 1;
    for (int i = 0; i < decimals; i++)
        p *= 10;
    if (v < 0)
        b[n++] = '-';
    n += u64_dec(b + n, a / p);
    uint64_t frac = a % p;
    if (frac) {
        char d[20];
        for (int i = decimals - 1; i >= 0; i--) {
            d[i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        int L = decimals;
        while (L > 0 && d[L - 1] == '0')
            L--;
        b[n++] = '.';
        memcpy(b + n, d, (size_t)L);
        n += L;
    }
    put(b, (size_t)n);
}

/* ---------------- time ---------------- */
static int64_t days_from_civil(int y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + (int64_t)doe - 719468;
}
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + (unsigned)era * 400) + (*m <= 2);
}

/* the current hour's timestamps, precomputed */
typedef struct hour_ctx {
    int64_t h;              /* hour index from the start */
    int hod, dow, day;      /* hour of day, day of week (0 = Monday), day index */
    int first_of_month;     /* first hour of a billing month */
    char start[3][32], end[3][32]; /* styles: T..Z, space, T...000Z */
    char day_start[32], day_end[32];
    char bp_start[32], bp_end[32];
    char month[8];          /* 2026-09 */
} hour_ctx;

static void fmt_ts(char *out, int64_t t, int style) {
    int64_t days = t / 86400;
    int sec = (int)(t % 86400);
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    static const char *const fmt[3] = {"%04d-%02u-%02uT%02d:%02d:%02dZ", "%04d-%02u-%02u %02d:%02d:%02d",
                                       "%04d-%02u-%02uT%02d:%02d:%02d.000Z"};
    snprintf(out, 32, fmt[style], y, m, d, sec / 3600, sec / 60 % 60, sec % 60);
}

static const int64_t T0_DAYS = 20697; /* 2026-09-01 */

static void hour_setup(hour_ctx *c, int64_t h) {
    c->h = h;
    int64_t t = (T0_DAYS * 24 + h) * 3600;
    c->hod = (int)(h % 24);
    c->day = (int)(h / 24);
    c->dow = (int)((T0_DAYS + c->day + 3) % 7); /* 1970-01-01 was a Thursday */
    for (int s = 0; s < 3; s++) {
        fmt_ts(c->start[s], t, s);
        fmt_ts(c->end[s], t + 3600, s);
    }
    int y;
    unsigned m, d;
    civil_from_days(T0_DAYS + c->day, &y, &m, &d);
    c->first_of_month = d == 1 && c->hod == 0;
    fmt_ts(c->day_start, (T0_DAYS + c->day) * 86400, 0);
    fmt_ts(c->day_end, (T0_DAYS + c->day + 1) * 86400, 0);
    fmt_ts(c->bp_start, days_from_civil(y, m, 1) * 86400, 0);
    fmt_ts(c->bp_end, days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400, 0);
    snprintf(c->month, sizeof c->month, "%04d%02u", y, m);
}

/* ---------------- the row model ---------------- */
typedef struct row {
    int64_t billed, effective, list, contracted; /* 1e-10 USD; list/contracted < 0 unused below */
    int has_list, has_contracted;
    int64_t list_unit, contracted_unit; /* 1e-10 USD per pricing unit */
    int has_unit_prices;
    int64_t consumed_qty, pricing_qty; /* 1e-6 */
    int has_qty;
    const char *consumed_unit, *pricing_unit;
    const char *charge_category, *charge_class, *charge_frequency;
    char description[256];
    int period; /* 0 hour, 1 day, 2 month */
    const char *cd_id, *cd_name, *cd_status, *cd_type, *cd_category, *cd_unit;
    int64_t cd_qty;
    const char *pricing_category;
    const char *service_category, *service_subcategory, *service_name, *service_code;
    const char *publisher;
    const char *region, *region_name, *az;
    char resource_id[192], resource_name[96];
    const char *resource_type;
    const char *sku_meter, *usage_type, *operation;
    char sku_id[24], sku_price_id[48];
    char sku_price_details[96];
    char tags[256];
} row;

typedef struct team {
    int idx;
    char account[16], name[48];
    const char *project, *cost_center;
    char sp_arn[128];
    int64_t sp_hourly; /* 1e-10 USD */
    int ri;            /* commitment is a Reserved Instance instead of a Savings Plan */
} team;

static const char *const ACCOUNT = "123456789012";
static const char *const ACCOUNT_NAME = "ml-platform-payer";
static const char *const ISSUER = "Amazon Web Services, Inc.";

static void emit(sink *k, const hour_ctx *c, const team *tm, const row *r) {
    int ts = (int)rbelow(R, 100);
    int style = ts < 85 ? 0 : ts < 95 ? 1 : 2;
    const char *cps = r->period == 0 ? c->start[style] : r->period == 1 ? c->day_start : c->bp_start;
    const char *cpe = r->period == 0 ? c->end[style] : r->period == 1 ? c->day_end : c->bp_end;
    f_str(r->az); sep();                                          /* AvailabilityZone */
    f_money(r->billed); sep();                                    /* BilledCost */
    puts_(ACCOUNT); sep();                                        /* BillingAccountId */
    f_str(ACCOUNT_NAME); sep();                                   /* BillingAccountName */
    f_str("Billing Account"); sep();                              /* BillingAccountType */
    puts_("USD"); sep();                                          /* BillingCurrency */
    puts_(c->bp_end); sep();                                      /* BillingPeriodEnd */
    puts_(c->bp_start); sep();                                    /* BillingPeriodStart */
    f_null(); sep();                                              /* CapacityReservationId */
    f_null(); sep();                                              /* CapacityReservationStatus */
    f_enum(r->charge_category); sep();                            /* ChargeCategory */
    f_enum(r->charge_class); sep();                               /* ChargeClass */
    f_str(r->description); sep();                                 /* ChargeDescription */
    f_enum(r->charge_frequency); sep();                           /* ChargeFrequency */
    puts_(cpe); sep();                                            /* ChargePeriodEnd */
    puts_(cps); sep();                                            /* ChargePeriodStart */
    f_enum(r->cd_category); sep();                                /* CommitmentDiscountCategory */
    f_str(r->cd_id); sep();                                       /* CommitmentDiscountId */
    f_str(r->cd_name); sep();                                     /* CommitmentDiscountName */
    if (r->cd_id) f_fixed(r->cd_qty, 6); else f_null(); sep();    /* CommitmentDiscountQuantity */
    f_enum(r->cd_status); sep();                                  /* CommitmentDiscountStatus */
    f_str(r->cd_type); sep();                                     /* CommitmentDiscountType */
    f_str(r->cd_unit); sep();                                     /* CommitmentDiscountUnit */
    if (r->has_qty) f_fixed(r->consumed_qty, 6); else f_null(); sep(); /* ConsumedQuantity */
    f_str(r->has_qty ? r->consumed_unit : NULL); sep();           /* ConsumedUnit */
    if (r->has_contracted) f_money(r->contracted); else f_null(); sep(); /* ContractedCost */
    if (r->has_unit_prices) f_fixed(r->contracted_unit, 10); else f_null(); sep(); /* ContractedUnitPrice */
    f_money(r->effective); sep();                                 /* EffectiveCost */
    put("EUINUS26-", 9); puts_(c->month); sep();                  /* InvoiceId */
    f_str(ISSUER); sep();                                         /* InvoiceIssuerName */
    if (r->has_list) f_money(r->list); else f_null(); sep();      /* ListCost */
    if (r->has_unit_prices) f_fixed(r->list_unit, 10); else f_null(); sep(); /* ListUnitPrice */
    f_enum(r->pricing_category); sep();                           /* PricingCategory */
    puts_("USD"); sep();                                          /* PricingCurrency */
    if (r->has_qty) f_fixed(r->pricing_qty, 6); else f_null(); sep(); /* PricingQuantity */
    f_str(r->has_qty ? r->pricing_unit : NULL); sep();            /* PricingUnit */
    puts_("AWS"); sep();                                          /* ProviderName */
    f_str(r->publisher ? r->publisher : "AWS"); sep();            /* PublisherName */
    f_str(r->region); sep();                                      /* RegionId */
    f_str(r->region_name); sep();                                 /* RegionName */
    f_str(r->resource_id); sep();                                 /* ResourceId */
    f_str(r->resource_name); sep();                               /* ResourceName */
    f_str(r->resource_type); sep();                               /* ResourceType */
    f_str(r->service_category); sep();                            /* ServiceCategory */
    f_str(r->service_name); sep();                                /* ServiceName */
    f_str(r->service_subcategory); sep();                         /* ServiceSubcategory */
    f_str(r->sku_id); sep();                                      /* SkuId */
    f_str(r->sku_meter); sep();                                   /* SkuMeter */
    f_str(r->sku_price_details); sep();                           /* SkuPriceDetails */
    f_str(r->sku_price_id); sep();                                /* SkuPriceId */
    puts_(tm->account); sep();                                    /* SubAccountId */
    f_str(tm->name); sep();                                       /* SubAccountName */
    f_str("Linked Account"); sep();                               /* SubAccountType */
    if (r->tags[0]) f_str(r->tags); else if (chance(R, 0.5)) puts_("{}"); else f_null(); sep(); /* Tags */
    f_str(r->operation); sep();                                   /* x_Operation */
    f_str(r->service_code); sep();                                /* x_ServiceCode */
    f_str(r->usage_type ? r->usage_type : r->sku_meter);          /* x_UsageType */
    row_end(k);
}

static const char *const HEADER =
    "AvailabilityZone,BilledCost,BillingAccountId,BillingAccountName,BillingAccountType,BillingCurrency,"
    "BillingPeriodEnd,BillingPeriodStart,CapacityReservationId,CapacityReservationStatus,ChargeCategory,"
    "ChargeClass,ChargeDescription,ChargeFrequency,ChargePeriodEnd,ChargePeriodStart,"
    "CommitmentDiscountCategory,CommitmentDiscountId,CommitmentDiscountName,CommitmentDiscountQuantity,"
    "CommitmentDiscountStatus,CommitmentDiscountType,CommitmentDiscountUnit,ConsumedQuantity,ConsumedUnit,"
    "ContractedCost,ContractedUnitPrice,EffectiveCost,InvoiceId,InvoiceIssuerName,ListCost,ListUnitPrice,"
    "PricingCategory,PricingCurrency,PricingQuantity,PricingUnit,ProviderName,PublisherName,RegionId,"
    "RegionName,ResourceId,ResourceName,ResourceType,ServiceCategory,ServiceName,ServiceSubcategory,SkuId,"
    "SkuMeter,SkuPriceDetails,SkuPriceId,SubAccountId,SubAccountName,SubAccountType,Tags,x_Operation,"
    "x_ServiceCode,x_UsageType\n";

/* ---------------- slots ---------------- */
typedef enum kind {
    K_TRAIN_SM, K_TRAIN_EC2, K_SPOT, K_INFER_SM, K_INFER_EC2, K_ETL_GLUE, K_ETL_EMR, K_ETL_ATHENA,
    K_S3_STD, K_S3_IA, K_LOGS_INGEST, K_LOGS_STORE, K_NET_REGION, K_NET_INTERNET, K_COMMIT, K_BILLING,
} kind;

/* one team's fleet, kinds interleaved so that any prefix is a mix */
static const kind FLEET[] = {
    K_INFER_EC2, K_S3_STD,    K_TRAIN_SM,     K_LOGS_INGEST, K_SPOT,     K_NET_REGION,
    K_COMMIT,    K_BILLING,   K_ETL_GLUE,     K_INFER_SM,    K_S3_IA,    K_TRAIN_EC2,
    K_ETL_EMR,   K_INFER_EC2, K_NET_INTERNET, K_LOGS_STORE,  K_SPOT,     K_ETL_ATHENA,
    K_S3_STD,    K_TRAIN_SM,  K_INFER_EC2,    K_NET_REGION,  K_LOGS_INGEST, K_INFER_SM,
};
#define NFLEET (sizeof FLEET / sizeof FLEET[0])

typedef struct slot {
    kind k;
    int team;
    int variant;
    rng r;            /* the slot's own stream: schedules, prices, quantities */
    int job_left;     /* hours left in the current job (training), or gap when < 0 */
    int job_no;
    int64_t level;    /* storage size in 1e-6 GB, instance count, ... */
    char rid[160], rname[80];
    char tags[256];
    int tagged;
} slot;

typedef struct gpu {
    const char *type;
    int64_t od; /* on-demand $/h, 1e-10 */
} gpu;
static const gpu TRAIN_SM_T[] = {{"ml.p4d.24xlarge", 377260000000LL}, {"ml.p5.48xlarge", 1131000000000LL},
                                 {"ml.g5.12xlarge", 70900000000LL}};
static const gpu TRAIN_EC2_T[] = {{"p4d.24xlarge", 327726000000LL}, {"p5.48xlarge", 983200000000LL},
                                  {"p4de.24xlarge", 409657500000LL}};
static const gpu SPOT_T[] = {{"g5.12xlarge", 56720000000LL}, {"p3.8xlarge", 122400000000LL},
                             {"g6.12xlarge", 46016000000LL}};
static const gpu INFER_SM_T[] = {{"ml.g5.2xlarge", 15150000000LL}, {"ml.inf2.xlarge", 9090000000LL},
                                 {"ml.g5.xlarge", 14080000000LL}};
static const gpu INFER_EC2_T[] = {{"g5.xlarge", 10060000000LL}, {"inf2.xlarge", 7582000000LL},
                                  {"g6.xlarge", 8048000000LL}};

static const char *const PROJECTS[] = {"llm-finetune", "recsys", "vision", "search-ranking", "fraud", "speech"};
static const char *const TEAMS[] = {"ml-research", "ml-platform", "applied-ml", "data-eng", "mlops", "personalization"};

static void sku_ids(row *r, rng *g, const char *meter) {
    /* deterministic per meter, so the same SKU always gets the same ids */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = meter; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    static const char A[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    for (int i = 0; i < 16; i++)
        r->sku_id[i] = A[(h >> (i * 4 % 60)) % 32];
    r->sku_id[16] = 0;
    snprintf(r->sku_price_id, sizeof r->sku_price_id, "%s.JRTCKXETXF.6YS6EN2CT7", r->sku_id);
    (void)g;
}

static void set_tags(slot *s, const team *tm, const char *stage, const char *extra) {
    if (!stage) {
        s->tags[0] = 0;
        s->tagged = 0;
        return;
    }
    const char *key = (s->r.s & 3) == 1 ? "ml_stage" : "ml-stage";
    snprintf(s->tags, sizeof s->tags, "{\"%s\":\"%s\",\"team\":\"%s\",\"project\":\"%s\",\"cost-center\":\"%s\"%s}",
             key, stage, TEAMS[tm->idx % 6], tm->project, tm->cost_center, extra ? extra : "");
    s->tagged = 1;
}

static void slot_init(slot *s, int i, uint64_t seed, const team *tm) {
    memset(s, 0, sizeof *s);
    s->k = FLEET[i % NFLEET];
    s->team = i / (int)NFLEET;
    s->r = rfork(seed, (uint64_t)i + 1, 77);
    s->variant = (int)rbelow(&s->r, 3);
    uint64_t id = rnext(&s->r);
    const char *acct = tm->account;
    switch (s->k) {
    case K_TRAIN_SM:
        snprintf(s->rid, sizeof s->rid, "arn:aws:sagemaker:us-west-2:%s:training-job/%s-train-%04x", acct, tm->project,
                 (unsigned)(id & 0xffff));
        snprintf(s->rname, sizeof s->rname, "%s-train-%04x", tm->project, (unsigned)(id & 0xffff));
        set_tags(s, tm, "training", ",\"framework\":\"pytorch\"");
        s->job_left = -(int)rbelow(&s->r, 24);
        break;
    case K_TRAIN_EC2:
        snprintf(s->rid, sizeof s->rid, "i-0%016" PRIx64, id);
        snprintf(s->rname, sizeof s->rname, "%s-gpu-trainer-%u", tm->project, (unsigned)(id % 100));
        set_tags(s, tm, chance(&s->r, 0.85) ? "training" : NULL, ",\"owner\":\"a.b@example.com\"");
        s->job_left = -(int)rbelow(&s->r, 24);
        break;
    case K_SPOT:
        snprintf(s->rid, sizeof s->rid, "i-0%016" PRIx64, id);
        snprintf(s->rname, sizeof s->rname, "%s-spot-%u", tm->project, (unsigned)(id % 1000));
        set_tags(s, tm, chance(&s->r, 0.7) ? "train-sweep" : NULL, ",\"karpenter.sh/nodepool\":\"gpu-spot\"");
        s->job_left = -(int)rbelow(&s->r, 12);
        break;
    case K_INFER_SM:
        snprintf(s->rid, sizeof s->rid, "arn:aws:sagemaker:us-east-1:%s:endpoint/%s-prod-%u", acct, tm->project,
                 (unsigned)(id % 10));
        snprintf(s->rname, sizeof s->rname, "%s-prod-%u", tm->project, (unsigned)(id % 10));
        set_tags(s, tm, "inference", ",\"env\":\"prod\"");
        break;
    case K_INFER_EC2:
        snprintf(s->rid, sizeof s->rid, "i-0%016" PRIx64, id);
        snprintf(s->rname, sizeof s->rname, "%s-serving-%u", tm->project, (unsigned)(id % 100));
        set_tags(s, tm, chance(&s->r, 0.5) ? "serving" : "inference", ",\"env\":\"prod\",\"app\":\"triton\"");
        break;
    case K_ETL_GLUE:
        snprintf(s->rid, sizeof s->rid, "arn:aws:glue:us-east-1:%s:job/%s-features-nightly", acct, tm->project);
        snprintf(s->rname, sizeof s->rname, "%s-features-nightly", tm->project);
        set_tags(s, tm, "etl", NULL);
        s->level = 1 + (int64_t)rbelow(&s->r, 3);
        break;
    case K_ETL_EMR:
        snprintf(s->rid, sizeof s->rid, "arn:aws:elasticmapreduce:us-east-1:%s:cluster/j-%013" PRIX64, acct,
                 (id & 0xfffffffffffffu));
        snprintf(s->rname, sizeof s->rname, "%s-preprocess", tm->project);
        set_tags(s, tm, "data-preprocessing", NULL);
        s->level = 1 + (int64_t)rbelow(&s->r, 3);
        break;
    case K_ETL_ATHENA:
        snprintf(s->rid, sizeof s->rid, "arn:aws:athena:us-east-1:%s:workgroup/%s-analytics", acct, tm->project);
        snprintf(s->rname, sizeof s->rname, "%s-analytics", tm->project);
        set_tags(s, tm, chance(&s->r, 0.5) ? "etl" : NULL, NULL);
        s->level = 1 + (int64_t)rbelow(&s->r, 3);
        break;
    case K_S3_STD:
    case K_S3_IA:
        snprintf(s->rid, sizeof s->rid, "%s-%s-%04x", tm->project, s->k == K_S3_IA ? "archive" : i % 2 ? "datasets" : "model-artifacts",
                 (unsigned)(id & 0xffff));
        snprintf(s->rname, sizeof s->rname, "%.79s", s->rid);
        set_tags(s, tm, NULL, NULL);
        if (chance(&s->r, 0.5))
            snprintf(s->tags, sizeof s->tags, "{\"team\":\"%s\",\"data-class\":\"internal\"}", TEAMS[tm->idx % 6]);
        s->level = (int64_t)(2000 + rbelow(&s->r, 80000)) * 1000000; /* GB, 1e-6 */
        break;
    case K_LOGS_INGEST:
    case K_LOGS_STORE:
        snprintf(s->rid, sizeof s->rid, "arn:aws:logs:us-east-1:%s:log-group:/aws/sagemaker/Endpoints/%s-prod", acct,
                 tm->project);
        snprintf(s->rname, sizeof s->rname, "/aws/sagemaker/Endpoints/%s-prod", tm->project);
        set_tags(s, tm, chance(&s->r, 0.5) ? "monitoring" : NULL, NULL);
        s->level = (int64_t)(50 + rbelow(&s->r, 3000)) * 1000000;
        break;
    case K_NET_REGION:
    case K_NET_INTERNET:
        snprintf(s->rid, sizeof s->rid, "i-0%016" PRIx64, id);
        s->rname[0] = 0;
        set_tags(s, tm, NULL, NULL);
        break;
    case K_COMMIT:
    case K_BILLING:
        s->rid[0] = 0;
        s->rname[0] = 0;
        s->tags[0] = 0;
        break;
    }
}

static void row_init(row *r) {
    memset(r, 0, sizeof *r);
    r->charge_category = "Usage";
    r->charge_frequency = "Usage-Based";
    r->pricing_category = "Standard";
    r->has_list = r->has_contracted = r->has_unit_prices = r->has_qty = 1;
}

static int64_t mul_price(int64_t qty_u6, int64_t price_u10) {
    __int128 p = (__int128)qty_u6 * price_u10;
    return (int64_t)((p + (p >= 0 ? 500000 : -500000)) / 1000000);
}

/* usage row at standard (contracted = list * (1 - edp)) prices */
static void priced(row *r, int64_t qty_u6, int64_t list_u10, int edp_pct) {
    r->consumed_qty = r->pricing_qty = qty_u6;
    r->list_unit = list_u10;
    r->contracted_unit = list_u10 - list_u10 * edp_pct / 100;
    r->list = mul_price(qty_u6, list_u10);
    r->contracted = mul_price(qty_u6, r->contracted_unit);
    r->billed = r->effective = r->contracted;
}

static void messy_description(row *r, rng *g, const char *job) {
    if (chance(g, 0.01)) {
        char d[sizeof r->description];
        snprintf(d, sizeof d, "%.150s, job \"%.60s\" (restarted,\ncheckpoint resumed)", r->description, job);
        memcpy(r->description, d, sizeof d);
    }
}

static void commit_cover(row *r, const team *tm, int64_t rate_u10) {
    int64_t qty = r->pricing_qty;
    r->pricing_category = "Committed";
    r->cd_category = tm->ri ? "Usage" : "Spend";
    r->cd_id = tm->sp_arn;
    r->cd_name = tm->ri ? "ri-g5-1yr" : "compute-sp-1yr";
    r->cd_type = tm->ri ? "Reserved Instance" : "Compute Savings Plan";
    r->cd_status = "Used";
    r->cd_unit = tm->ri ? "Hours" : "USD";
    r->contracted_unit = rate_u10;
    r->contracted = mul_price(qty, rate_u10);
    r->billed = 0;
    r->effective = r->contracted;
    r->cd_qty = tm->ri ? qty : r->effective / 10000;
}

/* writes the rows of slot s for hour c; returns nothing, the sink tracks fullness */
static void slot_hour(sink *k, const hour_ctx *c, slot *s, const team *tm) {
    rng *g = &s->r;
    row r;
    row_init(&r);
    r.region = "us-east-1";
    r.region_name = "US East (N. Virginia)";
    r.az = "";
    snprintf(r.resource_id, sizeof r.resource_id, "%s", s->rid);
    snprintf(r.resource_name, sizeof r.resource_name, "%s", s->rname);
    snprintf(r.tags, sizeof r.tags, "%s", s->tags);
    if (s->tagged && chance(R, 0.002))
        snprintf(r.tags, sizeof r.tags, "{\"ml-stage\":\"%s\",\"note\":\"caf\\u00e9, \\\"q\\\"\"}",
                 s->k == K_TRAIN_SM || s->k == K_TRAIN_EC2 ? "training" : "inference");
    char job[96];
    switch (s->k) {
    case K_TRAIN_SM:
    case K_TRAIN_EC2:
    case K_SPOT: {
        if (s->job_left <= 0) {
            if (s->job_left < 0) {
                s->job_left++;
                return;
            }
            /* start a new job */
            s->job_no++;
            s->job_left = 6 + (int)rbelow(g, 67);
        }
        s->job_left--;
        if (s->job_left == 0)
            s->job_left = -(int)(2 + rbelow(g, 30)); /* gap after the job */
        const gpu *t = s->k == K_TRAIN_SM ? &TRAIN_SM_T[s->variant] : s->k == K_TRAIN_EC2 ? &TRAIN_EC2_T[s->variant] : &SPOT_T[s->variant];
        snprintf(job, sizeof job, "%s-%d", s->rname, s->job_no);
        int64_t inst = 1 + (int64_t)(s->variant == 2 ? rbelow(g, 4) : rbelow(g, 2));
        int64_t qty = inst * 1000000;
        r.region = s->k == K_TRAIN_SM ? "us-west-2" : "us-east-1";
        r.region_name = s->k == K_TRAIN_SM ? "US West (Oregon)" : "US East (N. Virginia)";
        r.az = s->k == K_TRAIN_SM ? "" : s->variant ? "us-east-1b" : "us-east-1a";
        r.service_category = s->k == K_TRAIN_SM ? "AI and Machine Learning" : "Compute";
        r.consumed_unit = r.pricing_unit = "Hours";
        if (s->k == K_TRAIN_SM) {
            static char meter[64];
            snprintf(meter, sizeof meter, "USW2-Train:%s", t->type);
            r.sku_meter = meter;
            r.service_name = "Amazon SageMaker";
            r.service_code = "AmazonSageMaker";
            r.service_subcategory = "Machine Learning";
            r.operation = "RunInstance";
            r.resource_type = "Training Job";
            priced(&r, qty, t->od, 5);
            snprintf(r.description, sizeof r.description, "$%.4f per %s hour in US West (Oregon)",
                     (double)t->od / UNIT, t->type);
            snprintf(r.resource_id, sizeof r.resource_id, "%s-%d", s->rid, s->job_no);
        } else if (s->k == K_TRAIN_EC2) {
            static char meter[64];
            snprintf(meter, sizeof meter, "BoxUsage:%s", t->type);
            r.sku_meter = meter;
            r.service_name = "Amazon Elastic Compute Cloud";
            r.service_code = "AmazonEC2";
            r.service_subcategory = "Virtual Machines";
            r.operation = "RunInstances";
            r.resource_type = "Instance";
            priced(&r, 1000000, t->od, 5);
            snprintf(r.description, sizeof r.description, "$%.4f per On Demand Linux %s Instance Hour",
                     (double)t->od / UNIT, t->type);
        } else {
            static char meter[64];
            snprintf(meter, sizeof meter, "SpotUsage:%s", t->type);
            r.sku_meter = meter;
            r.service_name = "Amazon Elastic Compute Cloud";
            r.service_code = "AmazonEC2";
            r.service_subcategory = "Virtual Machines";
            r.operation = "RunInstances:SV001";
            r.resource_type = "Instance";
            r.pricing_category = "Dynamic";
            int64_t spot = t->od * (28 + (int64_t)rbelow(g, 18)) / 100;
            priced(&r, 1000000, t->od, 0);
            r.contracted_unit = spot;
            r.contracted = r.billed = r.effective = mul_price(1000000, spot);
            snprintf(r.description, sizeof r.description, "$%.4f per Linux/UNIX (Amazon VPC), %s instance-hour (or partial hour)",
                     (double)spot / UNIT, t->type);
            if (chance(g, 0.1)) { /* interrupted: a partial hour */
                int64_t q = 100000 * (1 + (int64_t)rbelow(g, 9));
                r.consumed_qty = r.pricing_qty = q;
                r.list = mul_price(q, t->od);
                r.contracted = r.billed = r.effective = mul_price(q, spot);
            }
        }
        sku_ids(&r, g, r.sku_meter);
        snprintf(r.sku_price_details, sizeof r.sku_price_details, "{\"InstanceType\":\"%s\",\"OperatingSystem\":\"Linux\"}", t->type);
        messy_description(&r, g, job);
        emit(k, c, tm, &r);
        if (s->k == K_TRAIN_EC2) { /* the instance's EBS volume */
            row v;
            row_init(&v);
            v.region = r.region;
            v.region_name = r.region_name;
            v.az = r.az;
            snprintf(v.resource_id, sizeof v.resource_id, "vol-0%.16s", s->rid + 3); /* the instance's volume */
            snprintf(v.tags, sizeof v.tags, "%s", s->tags);
            v.service_category = "Storage";
            v.service_subcategory = "Block Storage";
            v.service_name = "Amazon Elastic Compute Cloud";
            v.service_code = "AmazonEC2";
            v.sku_meter = "EBS:VolumeUsage.gp3";
            v.operation = "CreateVolume-Gp3";
            v.resource_type = "Volume";
            v.consumed_unit = "GB-Hours";
            v.pricing_unit = "GB-Mo";
            priced(&v, 2000 * 1000000 / 730, 800000000, 5);
            snprintf(v.description, sizeof v.description, "$0.08 per GB-month of General Purpose (gp3) provisioned storage - US East (Northern Virginia)");
            sku_ids(&v, g, v.sku_meter);
            emit(k, c, tm, &v);
        }
        break;
    }
    case K_INFER_SM:
    case K_INFER_EC2: {
        const gpu *t = s->k == K_INFER_SM ? &INFER_SM_T[s->variant] : &INFER_EC2_T[s->variant];
        int64_t inst = 2 + s->variant * 2 + 2 * (c->hod >= 13 && c->hod <= 23) + 2 * (c->dow < 5 && c->hod >= 15 && c->hod <= 20) +
                       (int64_t)rbelow(g, 3); /* fleet size follows the daily load */
        r.consumed_unit = r.pricing_unit = "Hours";
        r.service_category = s->k == K_INFER_SM ? "AI and Machine Learning" : "Compute";
        static char meter[64];
        if (s->k == K_INFER_SM) {
            snprintf(meter, sizeof meter, "USE1-Host:%s", t->type);
            r.service_name = "Amazon SageMaker";
            r.service_code = "AmazonSageMaker";
            r.service_subcategory = "Machine Learning";
            r.operation = "RunInstance";
            r.resource_type = "Endpoint";
            priced(&r, inst * 1000000, t->od, 5);
            snprintf(r.description, sizeof r.description, "$%.4f per Hosting %s hour in US East (N. Virginia)", (double)t->od / UNIT, t->type);
        } else {
            snprintf(meter, sizeof meter, "BoxUsage:%s", t->type);
            r.service_name = "Amazon Elastic Compute Cloud";
            r.service_code = "AmazonEC2";
            r.service_subcategory = "Virtual Machines";
            r.operation = "RunInstances";
            r.resource_type = "Instance";
            r.az = "us-east-1c";
            priced(&r, inst * 1000000, t->od, 0);
            commit_cover(&r, tm, t->od * 72 / 100);
            snprintf(r.description, sizeof r.description, "%s covered by %s", t->type, tm->ri ? "Reserved Instance" : "Savings Plan");
        }
        r.sku_meter = meter;
        r.consumed_qty = r.pricing_qty = inst * 1000000;
        sku_ids(&r, g, meter);
        snprintf(r.sku_price_details, sizeof r.sku_price_details, "{\"InstanceType\":\"%s\"}", t->type);
        emit(k, c, tm, &r);
        break;
    }
    case K_ETL_GLUE:
    case K_ETL_EMR:
    case K_ETL_ATHENA: {
        int start = (int)s->level, len = 4 + s->variant * 2;
        if (c->hod < start || c->hod >= start + len)
            return;
        r.service_category = "Analytics";
        r.region = "us-east-1";
        if (s->k == K_ETL_GLUE) {
            int64_t dpu = (int64_t)(10 + rbelow(g, 40)) * 1000000;
            r.sku_meter = "USE1-ETL-DPU-Hour";
            r.service_name = "AWS Glue";
            r.service_code = "AWSGlue";
            r.service_subcategory = "Data Processing";
            r.operation = "Jobrun";
            r.resource_type = "Job";
            r.consumed_unit = r.pricing_unit = "DPU-Hour";
            priced(&r, dpu, 4400000000LL, 5);
            snprintf(r.description, sizeof r.description, "$0.44 per DPU-Hour for each Apache Spark or Spark Streaming job, billed per second with a 1-minute minimum");
        } else if (s->k == K_ETL_EMR) {
            int64_t n = (int64_t)(4 + rbelow(g, 12)) * 1000000;
            r.sku_meter = chance(g, 0.5) ? "USE1-BoxUsage:m5.4xlarge" : "BoxUsage:m5.4xlarge";
            r.service_name = chance(g, 0.5) ? "Amazon Elastic MapReduce" : "Amazon Elastic Compute Cloud";
            r.service_code = "ElasticMapReduce";
            r.service_subcategory = "Data Processing";
            r.operation = "RunInstances";
            r.resource_type = "Cluster";
            r.consumed_unit = r.pricing_unit = "Hours";
            priced(&r, n, 7680000000LL, 5);
            snprintf(r.description, sizeof r.description, "$0.768 per On Demand Linux m5.4xlarge Instance Hour");
        } else {
            int64_t tb = (int64_t)rbelow(g, 3000000) + 1; /* 1e-6 TB */
            r.sku_meter = "USE1-DataScannedInTB";
            r.service_name = "Amazon Athena";
            r.service_code = "AmazonAthena";
            r.service_subcategory = "Analytics Platforms";
            r.operation = "RunQueries";
            r.resource_type = "WorkGroup";
            r.consumed_unit = r.pricing_unit = "Terabytes";
            priced(&r, tb, 50000000000LL, 0);
            snprintf(r.description, sizeof r.description, "$5.00 per TB for Standard in US East (N. Virginia)");
        }
        sku_ids(&r, g, r.sku_meter);
        emit(k, c, tm, &r);
        break;
    }
    case K_S3_STD:
    case K_S3_IA: {
        int ia = s->k == K_S3_IA;
        s->level += s->level / 2000 * (int64_t)rbelow(g, 3); /* grows ~0.1%/h */
        r.service_category = "Storage";
        r.service_name = "Amazon Simple Storage Service";
        r.service_code = "AmazonS3";
        r.service_subcategory = "Object Storage";
        r.resource_type = "Bucket";
        r.sku_meter = ia ? "USE1-TimedStorage-SIA-ByteHrs" : "USE1-TimedStorage-ByteHrs";
        r.usage_type = ia ? "TimedStorage-SIA-ByteHrs" : "TimedStorage-ByteHrs";
        r.operation = ia ? "StandardIAStorage" : "StandardStorage";
        r.consumed_unit = "GB-Hours";
        r.pricing_unit = "GB-Mo";
        priced(&r, s->level / 730, ia ? 125000000LL : 230000000LL, 3);
        r.consumed_qty = s->level;
        snprintf(r.description, sizeof r.description, ia ? "$0.0125 per GB-Month of storage used in Standard-Infrequent Access"
                                                          : "$0.023 per GB - first 50 TB / month of storage used");
        sku_ids(&r, g, r.sku_meter);
        emit(k, c, tm, &r);
        if (chance(g, 0.6)) { /* requests: tiny costs */
            row q;
            row_init(&q);
            q.region = r.region;
            q.region_name = r.region_name;
            snprintf(q.resource_id, sizeof q.resource_id, "%s", s->rid);
            snprintf(q.tags, sizeof q.tags, "%s", s->tags);
            q.service_category = "Storage";
            q.service_name = r.service_name;
            q.service_code = "AmazonS3";
            q.service_subcategory = "Object Storage";
            q.resource_type = "Bucket";
            q.sku_meter = ia ? "USE1-Requests-SIA-Tier2" : "USE1-Requests-Tier1";
            q.operation = ia ? "GetObject" : "PutObject";
            q.consumed_unit = q.pricing_unit = "Requests";
            priced(&q, (int64_t)(1 + rbelow(g, 20000)) * 1000000, ia ? 10000LL : 50000LL, 0);
            snprintf(q.description, sizeof q.description, ia ? "$0.01 per 10,000 GET requests" : "$0.005 per 1,000 PUT, COPY, POST, or LIST requests");
            sku_ids(&q, g, q.sku_meter);
            emit(k, c, tm, &q);
        }
        break;
    }
    case K_LOGS_INGEST:
    case K_LOGS_STORE: {
        int ing = s->k == K_LOGS_INGEST;
        r.service_category = "Management and Governance";
        r.service_name = "AmazonCloudWatch";
        r.service_code = "AmazonCloudWatch";
        r.service_subcategory = "Observability";
        r.resource_type = "Log Group";
        r.sku_meter = ing ? "USE1-DataProcessing-Bytes" : "USE1-TimedStorage-ByteHrs";
        r.operation = ing ? "PutLogEvents" : "HourlyStorageMetering";
        r.consumed_unit = ing ? "GB" : "GB-Hours";
        r.pricing_unit = ing ? "GB" : "GB-Mo";
        if (ing) {
            int64_t gb = (int64_t)rbelow(g, 4000000) + (c->hod >= 13 ? 2000000 : 0); /* 1e-6 GB */
            if (chance(g, 0.2))
                gb /= 1000;
            priced(&r, gb, 5000000000LL, 0);
            snprintf(r.description, sizeof r.description, "$0.50 per GB custom log data ingested");
        } else {
            s->level += (int64_t)rbelow(g, 2000000);
            priced(&r, s->level / 730, 300000000LL, 0);
            r.consumed_qty = s->level;
            snprintf(r.description, sizeof r.description, "$0.03 per GB-mo of log storage");
        }
        sku_ids(&r, g, r.sku_meter);
        emit(k, c, tm, &r);
        break;
    }
    case K_NET_REGION:
    case K_NET_INTERNET: {
        int reg = s->k == K_NET_REGION;
        int64_t gb = (int64_t)rbelow(g, 50000000);
        if (chance(g, 0.3))
            gb /= 100000; /* sub-cent transfers */
        r.service_category = "Networking";
        r.service_name = chance(g, 0.5) ? "AWS Data Transfer" : "Amazon Elastic Compute Cloud";
        r.service_code = "AWSDataTransfer";
        r.service_subcategory = "Network Connectivity";
        r.resource_type = "";
        r.sku_meter = reg ? "USE1-USW2-AWS-Out-Bytes" : "USE1-DataTransfer-Out-Bytes";
        r.operation = reg ? "InterRegion" : "RunInstances";
        r.consumed_unit = r.pricing_unit = "GB";
        priced(&r, gb, reg ? 200000000LL : 900000000LL, 0);
        snprintf(r.description, sizeof r.description, reg ? "$0.02 per GB - US East (Northern Virginia) data transfer to US West (Oregon)"
                                                          : "$0.09 per GB - first 10 TB / month data transfer out beyond the global free tier");
        sku_ids(&r, g, r.sku_meter);
        emit(k, c, tm, &r);
        break;
    }
    case K_COMMIT: {
        /* the hourly fee */
        r.charge_category = "Purchase";
        r.charge_frequency = "Recurring";
        r.pricing_category = "Committed";
        r.cd_category = tm->ri ? "Usage" : "Spend";
        r.cd_id = tm->sp_arn;
        r.cd_name = tm->ri ? "ri-g5-1yr" : "compute-sp-1yr";
        r.cd_type = tm->ri ? "Reserved Instance" : "Compute Savings Plan";
        r.cd_unit = tm->ri ? "Hours" : "USD";
        r.cd_qty = tm->sp_hourly / 10000;
        r.service_category = "Compute";
        r.service_name = tm->ri ? "Amazon Elastic Compute Cloud" : "Savings Plans for AWS Compute usage";
        r.service_code = tm->ri ? "AmazonEC2" : "ComputeSavingsPlans";
        r.service_subcategory = "Virtual Machines";
        r.sku_meter = tm->ri ? "HeavyUsage:g5.xlarge" : "ComputeSP:1yrNoUpfront";
        r.operation = "";
        r.resource_type = "";
        snprintf(r.resource_id, sizeof r.resource_id, "%s", tm->sp_arn);
        r.tags[0] = 0;
        r.has_qty = 1;
        r.consumed_unit = r.pricing_unit = "Hours";
        r.consumed_qty = r.pricing_qty = 1000000;
        r.has_unit_prices = 0;
        r.has_contracted = 1;
        r.billed = r.contracted = r.list = tm->sp_hourly;
        r.effective = 0;
        snprintf(r.description, sizeof r.description, "%s 1 year No Upfront, recurring hourly fee", tm->ri ? "Reserved Instance" : "Compute Savings Plan");
        sku_ids(&r, g, r.sku_meter);
        emit(k, c, tm, &r);
        /* utilization: high on weekdays, lower at night and on weekends */
        int util = 92 + (int)rbelow(g, 9) - (c->dow >= 5 ? 25 : 0) - (c->hod < 7 ? 10 : 0);
        if (util < 100) {
            row u = r;
            u.charge_category = "Usage";
            u.charge_frequency = "Usage-Based";
            u.cd_status = "Unused";
            u.billed = 0;
            u.contracted = u.list = 0;
            u.has_contracted = u.has_list = 0;
            u.effective = tm->sp_hourly * (100 - util) / 100;
            u.cd_qty = u.effective / 10000;
            snprintf(u.description, sizeof u.description, "Unused %s commitment", tm->ri ? "Reserved Instance" : "Savings Plan");
            emit(k, c, tm, &u);
        }
        break;
    }
    case K_BILLING: {
        r.has_qty = r.has_unit_prices = 0;
        r.resource_id[0] = r.resource_name[0] = 0;
        r.tags[0] = 0;
        r.region = r.region_name = "";
        if (c->hod == 23) { /* daily tax */
            r.charge_category = "Tax";
            r.charge_frequency = "Recurring";
            r.pricing_category = "";
            r.period = 1;
            r.service_name = "Amazon Elastic Compute Cloud";
            r.service_category = "Compute";
            r.service_code = "AmazonEC2";
            r.has_list = r.has_contracted = 0;
            r.billed = r.effective = (int64_t)(20000000000LL + (int64_t)rbelow(g, 900000000000ull));
            snprintf(r.description, sizeof r.description, "Tax for product code AmazonEC2");
            r.sku_id[0] = 0;
            emit(k, c, tm, &r);
        }
        if (c->first_of_month) { /* credits */
            row cr = r;
            cr.charge_category = "Credit";
            cr.charge_frequency = "One-Time";
            cr.pricing_category = "";
            cr.period = 2;
            cr.service_name = "Amazon SageMaker";
            cr.service_category = "AI and Machine Learning";
            cr.service_code = "AmazonSageMaker";
            cr.has_list = cr.has_contracted = 0;
            cr.billed = cr.effective = -(int64_t)(5000000000000LL + (int64_t)rbelow(g, 20000000000000ull));
            snprintf(cr.description, sizeof cr.description, "AWS Credits, ML competency program, promotional");
            emit(k, c, tm, &cr);
        }
        if (c->hod == 12 && chance(g, 0.08)) { /* a correction of an earlier charge */
            row co = r;
            co.charge_class = "Correction";
            co.charge_category = "Usage";
            co.pricing_category = "Standard";
            co.service_name = "Amazon Simple Storage Service";
            co.service_category = "Storage";
            co.service_code = "AmazonS3";
            co.sku_meter = "USE1-TimedStorage-ByteHrs";
            co.billed = co.effective = co.list = co.contracted = -(int64_t)rbelow(g, 300000000000ull);
            snprintf(co.description, sizeof co.description, "Correction: storage over-metered on an earlier day");
            emit(k, c, tm, &co);
        }
        break;
    }
    }
}

static void team_init(team *t, int idx, uint64_t seed) {
    rng g = rfork(seed, (uint64_t)idx + 1, 991);
    t->idx = idx;
    snprintf(t->account, sizeof t->account, "%012" PRIu64, (uint64_t)(100000000000u + rnext(&g) % 900000000000u));
    t->project = PROJECTS[idx % 6];
    static const char *const cc[] = {"CC-1001", "CC-1002", "CC-2040", "CC-3300"};
    t->cost_center = cc[rbelow(&g, 4)];
    snprintf(t->name, sizeof t->name, "%s-%s-%d", TEAMS[idx % 6], t->project, idx);
    t->ri = (int)rbelow(&g, 4) == 0;
    uint64_t u[5];
    for (int i = 0; i < 5; i++) /* drawn in order: argument evaluation order is unspecified */
        u[i] = rnext(&g);
    if (t->ri)
        snprintf(t->sp_arn, sizeof t->sp_arn, "arn:aws:ec2:us-east-1:%s:reserved-instances/%08" PRIx64 "-1a2b-4c3d-9e8f-%012" PRIx64,
                 t->account, u[0] & 0xffffffffu, u[1] & 0xffffffffffffu);
    else
        snprintf(t->sp_arn, sizeof t->sp_arn, "arn:aws:savingsplans::%s:savingsplan/%08" PRIx64 "-%04" PRIx64 "-4%03" PRIx64 "-a%03" PRIx64 "-%012" PRIx64,
                 t->account, u[0] & 0xffffffffu, u[1] & 0xffffu, u[2] & 0xfffu, u[3] & 0xfffu, u[4] & 0xffffffffffffu);
    t->sp_hourly = (int64_t)(20 + rbelow(&g, 40)) * 1000000000LL; /* $2-$6/h */
}

/* writes the whole file (or dry-runs it with k->f == NULL) for nslots slots */
static void generate(sink *k, long nslots, int days, uint64_t seed) {
    rng messy = rfork(seed, 0, 5);
    R = &messy;
    long nteams = (nslots + (long)NFLEET - 1) / (long)NFLEET;
    team *tm = calloc((size_t)nteams, sizeof *tm);
    slot *sl = calloc((size_t)nslots, sizeof *sl);
    if (!tm || !sl) {
        fprintf(stderr, "focus_gen: out of memory\n");
        exit(2);
    }
    for (long i = 0; i < nteams; i++)
        team_init(&tm[i], (int)i, seed);
    for (long i = 0; i < nslots; i++)
        slot_init(&sl[i], (int)i, seed, &tm[i / (long)NFLEET]);
    row_len = 0;
    size_t hn = strlen(HEADER);
    if (k->f && fwrite(HEADER, 1, hn, k->f) != hn) {
        fprintf(stderr, "focus_gen: write: %s\n", strerror(errno));
        exit(2);
    }
    k->bytes += hn;
    hour_ctx c;
    for (int64_t h = 0; h < (int64_t)days * 24 && !k->full; h++) {
        hour_setup(&c, h);
        for (long i = 0; i < nslots && !k->full; i++)
            slot_hour(k, &c, &sl[i], &tm[i / (long)NFLEET]);
    }
    free(tm);
    free(sl);
}

static int parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -1;
    uint64_t m = 1;
    if (*end == 'K' || *end == 'k')
        m = 1ull << 10, end++;
    else if (*end == 'M' || *end == 'm')
        m = 1ull << 20, end++;
    else if (*end == 'G' || *end == 'g')
        m = 1ull << 30, end++;
    if (*end)
        return -1;
    *out = (uint64_t)v * m;
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: focus_gen [--bytes N[K|M|G]] [--rows N] [--days D] [--seed S] [--out FILE|-]\n"
               "Writes a synthetic FOCUS 1.2 CSV billing export (an ML platform on AWS, hourly rows).\n");
}

int main(int argc, char **argv) {
    uint64_t max_bytes = 0, max_rows = 0, seed = 1;
    int days = 30;
    const char *out = "-";
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        int bad = 0;
        if (strcmp(a, "--bytes") == 0)
            bad = parse_size(v, &max_bytes) || max_bytes == 0;
        else if (strcmp(a, "--rows") == 0)
            bad = parse_size(v, &max_rows) || max_rows == 0;
        else if (strcmp(a, "--seed") == 0)
            bad = parse_size(v, &seed);
        else if (strcmp(a, "--days") == 0) {
            uint64_t d;
            bad = parse_size(v, &d) || d == 0 || d > 3660;
            days = (int)d;
        } else if (strcmp(a, "--out") == 0)
            out = v;
        else {
            usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "focus_gen: bad value for %s: '%s'\n", a, v);
            return 2;
        }
    }
    long nslots = (long)NFLEET;
    if (max_bytes || max_rows) {
        /* dry run of up to 4 teams to learn bytes and rows per slot over the period */
        long cal = 4 * (long)NFLEET;
        sink dry = {0};
        generate(&dry, cal, days, seed);
        double per_slot = max_bytes ? (double)dry.bytes / (double)cal : (double)dry.rows / (double)cal;
        double want = max_bytes ? (double)max_bytes : (double)max_rows;
        double n = want / per_slot * 1.03;
        if (n < 1)
            n = 1;
        if (n > 5e7)
            n = 5e7;
        nslots = (long)n + 1;
    }
    sink k = {0};
    k.max_bytes = max_bytes;
    k.max_rows = max_rows;
    k.f = strcmp(out, "-") == 0 ? stdout : fopen(out, "wb");
    if (!k.f) {
        fprintf(stderr, "focus_gen: %s: %s\n", out, strerror(errno));
        return 2;
    }
    static char obuf[1 << 20];
    setvbuf(k.f, obuf, _IOFBF, sizeof obuf);
    generate(&k, nslots, days, seed);
    if (fflush(k.f) || (k.f != stdout && fclose(k.f))) {
        fprintf(stderr, "focus_gen: %s: %s\n", out, strerror(errno));
        return 2;
    }
    fprintf(stderr, "focus_gen: %" PRIu64 " rows, %" PRIu64 " bytes, %ld resources, %d days, seed %" PRIu64 "\n", k.rows,
            k.bytes, nslots, days, seed);
    return 0;
}
