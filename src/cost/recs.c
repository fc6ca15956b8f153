/* recs.c - savings recommendations from billing rows (see recs.h). */
#include "cost/recs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cost/dmap.h"

#define DAYS_PER_MONTH 30.4375 /* 365.25 / 12 */

/* ---------------------------------------------------------------- the price table */

static const struct {
    const char *key;
    size_t off;
    double lo, hi;
} price_keys[] = {
#define K(name, lo, hi) {#name, offsetof(fg_prices, name), lo, hi}
    K(spot_discount, 0, 1),
    K(commitment_discount, 0, 1),
    K(steady_min_days, 1, 366),
    K(steady_day_share, 0, 1),
    K(unused_commitment_recoverable, 0, 1),
    K(storage_standard_per_gb_month, 1e-9, 1e6),
    K(storage_infrequent_per_gb_month, 0, 1e6),
    K(storage_cold_share, 0, 1),
    K(log_ingest_reducible, 0, 1),
    K(log_retention_reducible, 0, 1),
    K(egress_avoidable_share, 0, 1),
    K(idle_reducible, 0, 1),
    K(serving_idle_reducible, 0, 1),
#undef K
};

/* The text of deploy/cost/prices.txt (tests/unit/cost/recs.c checks they are the same). */
const char fg_prices_default[] =
    "# frugal cost price assumptions: the figures its recommendations use to estimate savings.\n"
    "#\n"
    "# EXAMPLE DATA. These are round numbers in the range of public list prices of the big clouds\n"
    "# (us-east-1 / East US / us-central1, on-demand, 2024-2025); they are not your prices and not live.\n"
    "# Put your own contract's figures in a copy of this file and pass it with `frugal cost --prices FILE`\n"
    "# (keys not in your file keep these values). Every recommendation prints the figures it used.\n"
    "#\n"
    "# Syntax: `key value` a line, value a decimal number; '#' starts a comment (also after a value).\n"
    "\n"
    "# Spot / preemptible capacity: price below on-demand for the same instance (AWS Spot, GCP Spot VMs,\n"
    "# Azure Spot VMs are typically 60-90 % below on-demand; 0.65 = 65 % below).\n"
    "spot_discount                   0.65\n"
    "\n"
    "# Commitments (1-year compute savings plan / reserved instances / committed use discounts) below\n"
    "# on-demand for steady usage (typically 25-40 % for 1 year without upfront payment).\n"
    "commitment_discount             0.28\n"
    "# Usage counts as steady when it ran on at least this many days of the billing period ...\n"
    "steady_min_days                 7\n"
    "# ... and on at least this share of the period's days. Only the lowest day's usage (the floor that\n"
    "# runs all the time) is proposed for a commitment.\n"
    "steady_day_share                0.9\n"
    "# Share of unused commitment that can be recovered (reservations exchanged or sold, a smaller\n"
    "# renewal); savings plans usually cannot be resold, so not all of it.\n"
    "unused_commitment_recoverable   0.5\n"
    "\n"
    "# Object storage per GB-month: standard class vs infrequent-access class (S3 Standard 0.023 vs\n"
    "# S3 Standard-IA 0.0125; Azure Blob Hot vs Cool; GCS Standard vs Nearline are similar ratios).\n"
    "storage_standard_per_gb_month   0.023\n"
    "storage_infrequent_per_gb_month 0.0125\n"
    "# Share of standard-class bytes assumed not read for 30 days (old training data, checkpoints,\n"
    "# model versions no longer served): what a lifecycle rule would move.\n"
    "storage_cold_share              0.5\n"
    "\n"
    "# Logs: share of ingestion that filtering and sampling (debug and per-request access logs) can drop,\n"
    "# and share of log storage that a 30-day retention removes.\n"
    "log_ingest_reducible            0.5\n"
    "log_retention_reducible         0.7\n"
    "\n"
    "# Cross-region and cross-zone transfer (0.01-0.02 per GB each way): share that keeping data, training\n"
    "# and serving in one region / zone removes.\n"
    "egress_avoidable_share          0.8\n"
    "\n"
    "# Explicitly idle resources (unattached addresses, idle charges): share of their cost saved by\n"
    "# deleting them; and for `--metrics`, the share of a serving fleet's idle time that right-sizing\n"
    "# (fewer or smaller instances) removes.\n"
    "idle_reducible                  1.0\n"
    "serving_idle_reducible          0.5\n";

int fg_prices_parse(const char *text, size_t n, const char *label, fg_prices *p, fg_err *e) {
    fg_prices out = *p;
    const char *s = text, *end = text + n;
    for (long line = 1; s < end; line++) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        if (!eol)
            eol = end;
        const char *hash = memchr(s, '#', (size_t)(eol - s)), *le = hash ? hash : eol;
        while (s < le && (*s == ' ' || *s == '\t' || *s == '\r'))
            s++;
        while (le > s && (le[-1] == ' ' || le[-1] == '\t' || le[-1] == '\r'))
            le--;
        if (s < le) {
            const char *ke = s;
            while (ke < le && *ke != ' ' && *ke != '\t')
                ke++;
            const char *v = ke;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            size_t ki = 0, nk = sizeof price_keys / sizeof price_keys[0];
            while (ki < nk && !(strlen(price_keys[ki].key) == (size_t)(ke - s) &&
                                strncasecmp(price_keys[ki].key, s, (size_t)(ke - s)) == 0))
                ki++;
            if (ki == nk)
                return fg_err_set(e, FG_EINVAL, "%s:%ld: unknown price key '%.*s'", label, line, (int)(ke - s), s);
            char num[64];
            size_t vl = (size_t)(le - v);
            char *ve = NULL;
            double d = NAN;
            if (vl > 0 && vl < sizeof num) {
                memcpy(num, v, vl);
                num[vl] = 0;
                errno = 0;
                d = strtod(num, &ve);
                if (errno || *ve)
                    d = NAN;
            }
            if (!(d >= price_keys[ki].lo && d <= price_keys[ki].hi))
                return fg_err_set(e, FG_EINVAL, "%s:%ld: %s wants a number in [%g, %g], got '%.*s'", label, line,
                                  price_keys[ki].key, price_keys[ki].lo, price_keys[ki].hi, (int)vl, v);
            *(double *)((char *)&out + price_keys[ki].off) = d;
        }
        s = eol + 1;
    }
    if (out.storage_infrequent_per_gb_month > out.storage_standard_per_gb_month)
        return fg_err_set(e, FG_EINVAL, "%s: storage_infrequent_per_gb_month (%g) is above storage_standard_per_gb_month (%g)",
                          label, out.storage_infrequent_per_gb_month, out.storage_standard_per_gb_month);
    *p = out;
    return 0;
}

int fg_prices_load(const char *path, fg_prices *p, fg_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return fg_err_set(e, FG_EIO, "%s: %s", path, strerror(errno));
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    int bad = ferror(f), big = !feof(f) && fgetc(f) != EOF;
    fclose(f);
    if (bad)
        return fg_err_set(e, FG_EIO, "%s: read error", path);
    if (big)
        return fg_err_set(e, FG_EINVAL, "%s: larger than 64 KiB: not a price table", path);
    return fg_prices_parse(buf, n, path, p, e);
}

/* ---------------------------------------------------------------- classifying rows */

struct fg_recs {
    fg_dmap ev[FG_REC_COUNT]; /* provider | service | resource | usage → cost */
    fg_dec sum[FG_REC_COUNT];
    uint64_t rows[FG_REC_COUNT];
    fg_dec log_ingest, log_storage;
    fg_dmap daily; /* steady-commitment candidates: day number → cost */
    fg_dec inference;
    char *kbuf;
    size_t kcap;
};

static const char *const kind_names[FG_REC_COUNT] = {"spot", "storage_tiering", "idle", "logs",
                                                     "commitment", "unused_commitment", "egress"};

const char *fg_rec_kind_name(fg_rec_kind k) { return (unsigned)k < FG_REC_COUNT ? kind_names[k] : NULL; }

fg_recs *fg_recs_new(void) { return calloc(1, sizeof(fg_recs)); }

void fg_recs_free(fg_recs *r) {
    if (!r)
        return;
    for (int k = 0; k < FG_REC_COUNT; k++)
        fg_dmap_free(&r->ev[k]);
    fg_dmap_free(&r->daily);
    free(r->kbuf);
    free(r);
}

/* whether any of the NULL-terminated globs matches s */
static bool any(const char *const *globs, fg_str s) {
    if (!s.n)
        return false;
    for (; *globs; globs++)
        if (fg_glob_match(*globs, s.p, s.n))
            return true;
    return false;
}

static bool eq(fg_str s, const char *lit) { return s.n == strlen(lit) && strncasecmp(s.p, lit, s.n) == 0; }

/* instance-hour-like usage: what spot and commitments apply to */
static bool is_compute(const fg_bill_row *r) {
    static const char *const usage[] = {"*BoxUsage*", "*Instance*", "*vCPU*", "*GPU*", "*-Train:*", "*-Host:*",
                                        "*Node*Hour*", "*Compute*Hour*", "*SpotUsage*", NULL};
    static const char *const service[] = {"Virtual Machines*", "*Elastic Compute Cloud*", "*Compute Engine*", NULL};
    /* disks, snapshots and volumes bill under compute services too, but neither spot nor a compute
     * commitment applies to them */
    static const char *const not_instances[] = {"*Disk*", "*Storage*", "*Snapshot*", "*Byte*", "*Volume*", "*EBS:*",
                                                "*IP Address*", "*PublicIP*", NULL};
    if (any(not_instances, r->usage_type) || any(not_instances, r->service_name))
        return false;
    return eq(r->service_category, "Compute") || eq(r->service_category, "AI and Machine Learning") ||
           any(usage, r->usage_type) || any(usage, r->sku) || any(service, r->service_name);
}

/* usage at list (on-demand) prices, not covered by a commitment */
static bool on_demand_usage(const fg_bill_row *r) {
    return r->pricing_category == FG_PRICING_STANDARD && r->commitment_status == FG_COMMIT_NONE &&
           (r->charge_category == FG_CHARGE_USAGE || r->charge_category == FG_CHARGE_UNKNOWN);
}

static bool is_log_service(const fg_bill_row *r, fg_bucket b) {
    static const char *const service[] = {"*CloudWatch*", "*Log Analytics*", "*Logging*", "*Azure Monitor*",
                                          "*Cloud Logging*", NULL};
    return b == FG_BUCKET_MONITORING || any(service, r->service_name);
}

static int file_under(fg_recs *r, fg_rec_kind k, const fg_bill_row *row, fg_dec cost) {
    fg_str parts[4] = {row->provider, row->service_name, row->resource_id, row->usage_type.n ? row->usage_type : row->sku};
    long kl = fg_dmap_key(&r->kbuf, &r->kcap, parts, 4);
    if (kl < 0)
        return -1;
    int rc = fg_dmap_add(&r->ev[k], r->kbuf, (size_t)kl, cost);
    if (rc)
        return rc;
    r->rows[k]++;
    return fg_dec_add(r->sum[k], cost, &r->sum[k]) ? -2 : 0;
}

int fg_recs_classify(const fg_bill_row *row, fg_bucket b) {
    static const char *const standard_storage[] = {"*TimedStorage-ByteHrs", "*Hot*Data Stored*",
                                                   "*Standard*Storage*", "*Standard Storage*", NULL};
    static const char *const colder_storage[] = {"*SIA*", "*-IA-*", "*OneZoneIA*", "*Glacier*", "*Archive*", "*Cool*",
                                                 "*Cold*", "*Nearline*", "*INT-*", "*IntelligentTiering*", NULL};
    static const char *const log_ingest[] = {"*DataProcessing-Bytes*", "*Ingest*", "*VendedLog-Bytes*", NULL};
    static const char *const log_storage[] = {"*TimedStorage*", "*Retention*", "*Storage*", "*Archive*", NULL};
    static const char *const cross_region[] = {"*-AWS-Out-Bytes*", "*-AWS-In-Bytes*", "*InterRegion*",
                                               "*Inter-Region*", "*Inter Region*", "*DataTransfer-Regional-Bytes*",
                                               "*Inter-Zone*", "*Inter Zone*", "*InterZone*", NULL};
    static const char *const idle[] = {"*Idle*", NULL};
    if (row->commitment_status == FG_COMMIT_UNUSED)
        return FG_REC_UNUSED_COMMITMENT;
    if (row->charge_category != FG_CHARGE_USAGE && row->charge_category != FG_CHARGE_UNKNOWN)
        return -1;
    if (any(idle, row->usage_type) || any(idle, row->sku))
        return FG_REC_IDLE;
    if (any(cross_region, row->usage_type))
        return FG_REC_EGRESS;
    if (is_log_service(row, b)) {
        if (any(log_ingest, row->usage_type))
            return FG_REC_LOGS_INGEST;
        return any(log_storage, row->usage_type) ? FG_REC_LOGS : -1;
    }
    if (b == FG_BUCKET_DATA_STORAGE && (any(standard_storage, row->usage_type) || any(standard_storage, row->sku)) &&
        !any(colder_storage, row->usage_type) && !any(colder_storage, row->sku))
        return FG_REC_STORAGE_TIERING;
    if (!on_demand_usage(row) || !is_compute(row))
        return -1;
    if (b == FG_BUCKET_TRAINING || b == FG_BUCKET_COMPUTE_ETL)
        return FG_REC_SPOT;
    return b == FG_BUCKET_INFERENCE ? FG_REC_COMMITMENT : -1;
}

int fg_recs_add_as(fg_recs *r, int kind, const fg_bill_row *row, fg_dec cost) {
    if (kind < 0)
        return 0;
    bool ingest = kind == FG_REC_LOGS_INGEST;
    fg_rec_kind k = ingest ? FG_REC_LOGS : (fg_rec_kind)kind;
    if ((unsigned)k >= FG_REC_COUNT)
        return 0;
    int rc = file_under(r, k, row, cost);
    if (rc)
        return rc;
    if (k == FG_REC_LOGS) {
        fg_dec *d = ingest ? &r->log_ingest : &r->log_storage;
        return fg_dec_add(*d, cost, d) ? -2 : 0;
    }
    if (k == FG_REC_COMMITMENT && row->has_start) {
        char day[32];
        int dl = snprintf(day, sizeof day, "%lld",
                          (long long)(row->charge_start >= 0 ? row->charge_start / 86400 : (row->charge_start - 86399) / 86400));
        return fg_dmap_add(&r->daily, day, (size_t)dl, cost);
    }
    return 0;
}

int fg_recs_add(fg_recs *r, const fg_bill_row *row, fg_bucket b, fg_dec cost) {
    return fg_recs_add_as(r, fg_recs_classify(row, b), row, cost);
}

void fg_recs_inference_total(fg_recs *r, fg_dec inference) { r->inference = inference; }

/* ---------------------------------------------------------------- recommendations */

static int by_saving(const void *a, const void *b) {
    const fg_rec *x = a, *y = b;
    return x->monthly_saving < y->monthly_saving ? 1 : x->monthly_saving > y->monthly_saving ? -1 : (int)x->kind - (int)y->kind;
}

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* floor of steady daily on-demand inference: 0 when it is not steady; detail filled either way */
static double steady_floor(const fg_recs *r, const fg_prices *p, double period_days, char *detail, size_t dn) {
    size_t n = 0;
    double *d = malloc((r->daily.n + 1) * sizeof *d), sum = 0;
    if (!d)
        return 0;
    for (size_t i = 0; i < r->daily.cap; i++)
        if (r->daily.e[i].key) {
            double v = fg_dec_to_double(r->daily.e[i].v);
            if (v > 0)
                d[n++] = v, sum += v;
        }
    double pd = period_days > 0 ? fmax(1, round(period_days)) : (double)n;
    double floor_ = 0;
    if (n > 0) {
        qsort(d, n, sizeof *d, dbl_cmp);
        /* the first and last day of an export are often partial: the floor is the 2nd-lowest day then */
        floor_ = n >= 4 ? d[1] : d[0];
    }
    bool steady = (double)n >= p->steady_min_days && (double)n >= p->steady_day_share * pd;
    snprintf(detail, dn, "on-demand inference compute ran on %zu of %.0f days; daily cost lowest %.2f, mean %.2f%s", n,
             pd, floor_, n ? sum / (double)n : 0,
             steady ? "" : " (not steady enough to commit: see steady_min_days, steady_day_share)");
    free(d);
    return steady ? floor_ : 0;
}

size_t fg_recs_finish(fg_recs *r, const fg_prices *p, double period_days, double serving_idle, fg_rec *out) {
    double months = period_days > 0 ? period_days / DAYS_PER_MONTH : 1;
    const char *per = period_days > 0 ? "" : "; the billing period could not be told, so it counts as one month";
    size_t n = 0;
    for (int k = 0; k < FG_REC_COUNT; k++) {
        fg_rec *x = &out[n];
        memset(x, 0, sizeof *x);
        x->kind = (fg_rec_kind)k;
        x->name = kind_names[k];
        x->cost = r->sum[k];
        x->rows = r->rows[k];
        x->monthly_cost = fg_dec_to_double(r->sum[k]) / months;
        double m = x->monthly_cost;
        switch ((fg_rec_kind)k) {
        case FG_REC_SPOT:
            x->monthly_saving = m * p->spot_discount;
            snprintf(x->action, sizeof x->action,
                     "run training and batch/ETL compute on spot (preemptible) capacity; keep on-demand only for "
                     "deadline work");
            snprintf(x->assumption, sizeof x->assumption,
                     "spot is %.0f%% below on-demand (spot_discount %g, example price table); the jobs checkpoint "
                     "and tolerate interruption%s",
                     100 * p->spot_discount, p->spot_discount, per);
            break;
        case FG_REC_STORAGE_TIERING: {
            double cut = 1 - p->storage_infrequent_per_gb_month / p->storage_standard_per_gb_month;
            x->monthly_saving = m * p->storage_cold_share * cut;
            snprintf(x->action, sizeof x->action,
                     "add lifecycle rules: move objects not read for 30 days (old datasets, checkpoints, retired "
                     "model versions) to an infrequent-access class (S3 Standard-IA or Intelligent-Tiering, Blob "
                     "Cool, GCS Nearline)");
            snprintf(x->assumption, sizeof x->assumption,
                     "%.0f%% of standard-class bytes are cold (storage_cold_share %g); infrequent access costs "
                     "%g vs %g per GB-month (%.0f%% less); retrieval fees not counted%s",
                     100 * p->storage_cold_share, p->storage_cold_share, p->storage_infrequent_per_gb_month,
                     p->storage_standard_per_gb_month, 100 * cut, per);
            break;
        }
        case FG_REC_IDLE: {
            x->monthly_saving = m * p->idle_reducible;
            double inf = fg_dec_to_double(r->inference) / months, serve = 0;
            if (isfinite(serving_idle) && serving_idle > 0 && inf > 0) {
                serve = inf * serving_idle * p->serving_idle_reducible;
                x->monthly_saving += serve;
                snprintf(x->detail, sizeof x->detail,
                         "the serving fleet was idle %.0f%% of its instance time (its /metrics); the inference "
                         "bucket costs %.2f a month",
                         100 * serving_idle, inf);
            }
            snprintf(x->action, sizeof x->action, "%s%s%s",
                     x->rows ? "delete idle resources (unattached addresses, idle charges)" : "",
                     x->rows && serve > 0 ? "; " : "",
                     serve > 0 ? "serve with fewer or smaller instances (frugal doctor names the change)" : "");
            snprintf(x->assumption, sizeof x->assumption,
                     "idle resources are not needed (idle_reducible %g); right-sizing removes %.0f%% of the "
                     "serving fleet's idle time (serving_idle_reducible %g)%s",
                     p->idle_reducible, 100 * p->serving_idle_reducible, p->serving_idle_reducible, per);
            break;
        }
        case FG_REC_LOGS: {
            double ing = fg_dec_to_double(r->log_ingest) / months, sto = fg_dec_to_double(r->log_storage) / months;
            x->monthly_saving = ing * p->log_ingest_reducible + sto * p->log_retention_reducible;
            snprintf(x->detail, sizeof x->detail, "log ingestion %.2f and log storage %.2f a month", ing, sto);
            snprintf(x->action, sizeof x->action,
                     "drop debug and per-request logs at the source (sample them), and set a 30-day retention on "
                     "log groups / workspaces");
            snprintf(x->assumption, sizeof x->assumption,
                     "%.0f%% of ingestion can be dropped (log_ingest_reducible %g) and %.0f%% of log storage "
                     "expires (log_retention_reducible %g)%s",
                     100 * p->log_ingest_reducible, p->log_ingest_reducible, 100 * p->log_retention_reducible,
                     p->log_retention_reducible, per);
            break;
        }
        case FG_REC_COMMITMENT: {
            double fl = steady_floor(r, p, period_days, x->detail, sizeof x->detail);
            x->monthly_saving = fl * DAYS_PER_MONTH * p->commitment_discount;
            snprintf(x->action, sizeof x->action,
                     "cover the steady floor of on-demand inference compute (%.2f a day) with a 1-year savings "
                     "plan / reservation / committed-use discount",
                     fl);
            snprintf(x->assumption, sizeof x->assumption,
                     "commitments are %.0f%% below on-demand (commitment_discount %g, example price table); only "
                     "the lowest day's usage is committed, so it is used every day",
                     100 * p->commitment_discount, p->commitment_discount);
            break;
        }
        case FG_REC_UNUSED_COMMITMENT:
            x->monthly_saving = m * p->unused_commitment_recoverable;
            snprintf(x->action, sizeof x->action,
                     "commitments are going unused: move eligible usage onto them (instance family / region "
                     "flexibility), exchange or sell reservations, and commit less at renewal");
            snprintf(x->assumption, sizeof x->assumption,
                     "%.0f%% of the unused commitment can be recovered (unused_commitment_recoverable %g)%s",
                     100 * p->unused_commitment_recoverable, p->unused_commitment_recoverable, per);
            break;
        case FG_REC_EGRESS:
            x->monthly_saving = m * p->egress_avoidable_share;
            snprintf(x->action, sizeof x->action,
                     "keep training data, training jobs and serving in one region (and zone); cache or replicate "
                     "what must be read across regions");
            snprintf(x->assumption, sizeof x->assumption,
                     "%.0f%% of cross-region / cross-zone transfer is avoidable (egress_avoidable_share %g)%s",
                     100 * p->egress_avoidable_share, p->egress_avoidable_share, per);
            break;
        default: break;
        }
        if (!(x->monthly_saving > 0))
            continue;
        fg_dmap_ent **v = fg_dmap_sorted(&r->ev[k]);
        for (size_t i = 0; v && i < r->ev[k].n && i < FG_REC_MAX_EVIDENCE; i++)
            x->ev[x->n_ev++] = (fg_rec_evidence){fg_dmap_part(v[i], 0), fg_dmap_part(v[i], 1), fg_dmap_part(v[i], 2),
                                                 fg_dmap_part(v[i], 3), v[i]->v, v[i]->n};
        free(v);
        n++;
    }
    qsort(out, n, sizeof *out, by_saving);
    return n;
}
