/* cost.c - `frugal cost FILE...`: billing exports (FOCUS, AWS CUR, Azure; plain or gzip) → total,
 * ML-lifecycle buckets (cost/rules.h), a breakdown table and the top cost drivers, in exact decimals.
 * Rows are streamed; memory grows with the number of distinct keys, not rows. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdarg.h>
#include <math.h>
#include <time.h>

#include "cost/billing.h"
#include "cost/decimal.h"
#include "cost/dmap.h"
#include "cost/recs.h"
#include "core/json.h"
#include "core/svgchart.h"
#include "serve/scrape.h"
#include "cost/rules.h"
#include "tools/tools.h"

#define MAX_MALFORMED_SHOWN 20

static void cost_usage(FILE *f) {
    fprintf(f,
            "usage: frugal cost FILE... [options]\n\n"
            "Reads cloud billing exports (FOCUS 1.0-1.2, AWS CUR, Azure cost details; plain or gzip) and\n"
            "prints the top cost drivers, the cost per ML-lifecycle bucket, savings recommendations (spot,\n"
            "storage tiering, idle resources, logs, commitments, unused commitments, cross-region transfer)\n"
            "with their evidence and price assumptions, a breakdown table and row counts.\n\n"
            "options:\n"
            "  --basis B        effective (default: amortized, after discounts) or billed (invoiced)\n"
            "  --format F       force the input format: focus, focus-1.0, focus-1.1, focus-1.2, aws-cur,\n"
            "                   aws-cur-athena, azure (default: detected from each file's header)\n"
            "  --rules FILE     bucket rules (default: the built-in set, deploy/cost/rules.txt)\n"
            "  --top N          cost drivers to list (default 3; 0 for none)\n"
            "  --by KEY         breakdown: service (default; provider+service), provider, account,\n"
            "                   region, resource, tag:KEY\n"
            "  --by-tag KEY     the same as --by tag:KEY\n"
            "  --from DATE      use rows whose charge period starts at or after DATE (YYYY-MM-DD[Thh:mm:ssZ])\n"
            "  --to DATE        ... and before DATE (exclusive)\n"
            "  --strict         a malformed row is an error (exit 1) instead of being skipped\n"
            "  --prices FILE    price assumptions for the savings estimates (default: the built-in example\n"
            "                   table, deploy/cost/prices.txt; keys not in FILE keep their value)\n"
            "  --requests N     requests served over the billing period: adds cost per 1k requests\n"
            "                   (inference bucket / N)\n"
            "  --metrics SRC    the same from a frugal server's /metrics (http://HOST:PORT or a saved scrape):\n"
            "                   requests served, the server's own price x time estimate, its idle share\n"
            "  --json           print one JSON object (money as numbers with 6 decimals)\n"
            "  --csv FILE       also write the breakdown table (--by) as CSV (- for stdout)\n"
            "  --html FILE      also write a self-contained HTML report with charts (- for stdout)\n"
            "  -h, --help       this help\n"
            "\nDifferent currencies are never added: each currency gets its own totals.\n"
            "exit status: 0 on success, 1 on malformed rows with --strict, 2 on bad usage or an unreadable\n"
            "file (one line on stderr)\n");
}

/* ---- per-currency aggregates ---- */
typedef struct group {
    char *currency;
    uint64_t rows;
    fg_dec total, billed, effective;
    uint64_t n_billed, n_effective, missing;
    fg_dec bucket[FG_BUCKET_COUNT];
    fg_dmap svc, by, drv, daily;
    fg_recs *recs;
    int64_t first, last; /* charge period covered: earliest start, latest end */
    bool has_period;
} group;

typedef struct state {
    group *g;
    size_t ng;
    int by_kind; /* 0 service, 1 provider, 2 account, 3 region, 4 resource, 5 tag */
    const char *by_tag;
    bool effective;
    char *kbuf;
    size_t kcap;
    struct memo *memo; /* row class → bucket and recommendation kind */
} state;

static group *get_group(state *st, fg_str cur) {
    for (size_t i = 0; i < st->ng; i++)
        if (strlen(st->g[i].currency) == cur.n && memcmp(st->g[i].currency, cur.p, cur.n) == 0)
            return &st->g[i];
    group *ng = realloc(st->g, (st->ng + 1) * sizeof *ng);
    if (!ng)
        return NULL;
    st->g = ng;
    group *g = &st->g[st->ng];
    memset(g, 0, sizeof *g);
    g->currency = malloc(cur.n + 1);
    if (!g->currency)
        return NULL;
    memcpy(g->currency, cur.p, cur.n);
    g->currency[cur.n] = 0;
    st->ng++;
    return g;
}

static fg_str by_value(const state *st, const fg_bill_row *r) {
    switch (st->by_kind) {
    case 1: return r->provider;
    case 2: return r->sub_account.n ? r->sub_account : r->account;
    case 3: return r->region;
    case 4: return r->resource_id;
    case 5:
        for (size_t i = 0; i < r->n_tags; i++)
            if (r->tags[i].key.n == strlen(st->by_tag) && strncasecmp(r->tags[i].key.p, st->by_tag, r->tags[i].key.n) == 0)
                return r->tags[i].value;
        return (fg_str){"", 0};
    default: return (fg_str){"", 0};
    }
}

/* ---- classification memo: rule matching (globs over every rule) and the recommendation kind cost
 * more than everything else a row needs, and real exports repeat the same few hundred combinations of
 * the fields they read; so both are kept per combination. Bounded: past MEMO_MAX entries new
 * combinations are classified without being kept. ---- */
#define MEMO_CAP (1u << 17)
#define MEMO_MAX (MEMO_CAP / 2)

typedef struct memo_ent {
    char *key;
    size_t klen;
    uint64_t h;
    int bucket, kind;
} memo_ent;

typedef struct memo {
    memo_ent *e;
    size_t n;
    char *buf;
    size_t cap;
} memo;

/* the fields rules and recommendations read, joined: the memo key */
static long class_key(memo *m, const fg_bill_row *r) {
    size_t need = r->service_category.n + r->service_name.n + r->sku.n + r->usage_type.n + 8;
    for (size_t i = 0; i < r->n_tags; i++)
        need += r->tags[i].key.n + r->tags[i].value.n + 2;
    if (need > m->cap) {
        char *nb = realloc(m->buf, need * 2);
        if (!nb)
            return -1;
        m->buf = nb;
        m->cap = need * 2;
    }
    char *p = m->buf;
#define PUT(str)                                                                                             \
    do {                                                                                                     \
        if ((str).n)                                                                                         \
            memcpy(p, (str).p, (str).n);                                                                     \
        p += (str).n;                                                                                        \
        *p++ = FG_DMAP_SEP;                                                                                  \
    } while (0)
    PUT(r->service_category);
    PUT(r->service_name);
    PUT(r->sku);
    PUT(r->usage_type);
    *p++ = (char)r->charge_category;
    *p++ = (char)r->commitment_status;
    *p++ = (char)r->pricing_category;
    for (size_t i = 0; i < r->n_tags; i++) {
        PUT(r->tags[i].key);
        PUT(r->tags[i].value);
    }
#undef PUT
    return (long)(p - m->buf);
}

/* bucket and recommendation kind of a row, from the memo or computed (and kept) */
static int classify(state *st, const fg_rules *rules, const fg_bill_row *r, fg_bucket *bucket, int *kind) {
    memo *m = st->memo;
    if (!m && !(m = st->memo = calloc(1, sizeof *m)))
        return -1;
    if (!m->e && !(m->e = calloc(MEMO_CAP, sizeof *m->e)))
        return -1;
    long kl = class_key(m, r);
    if (kl < 0)
        return -1;
    uint64_t h = fg_dmap_hash(m->buf, (size_t)kl);
    size_t j = h & (MEMO_CAP - 1);
    for (; m->e[j].key; j = (j + 1) & (MEMO_CAP - 1))
        if (m->e[j].h == h && m->e[j].klen == (size_t)kl && memcmp(m->e[j].key, m->buf, (size_t)kl) == 0) {
            *bucket = (fg_bucket)m->e[j].bucket;
            *kind = m->e[j].kind;
            return 0;
        }
    *bucket = fg_rules_classify(rules, r, NULL);
    *kind = fg_recs_classify(r, *bucket);
    if (m->n < MEMO_MAX) {
        char *k = malloc((size_t)kl + 1);
        if (!k)
            return -1;
        memcpy(k, m->buf, (size_t)kl);
        m->e[j] = (memo_ent){k, (size_t)kl, h, (int)*bucket, *kind};
        m->n++;
    }
    return 0;
}

static void memo_free(memo *m) {
    if (!m)
        return;
    for (size_t i = 0; m->e && i < MEMO_CAP; i++)
        free(m->e[i].key);
    free(m->e);
    free(m->buf);
    free(m);
}

/* the day (since the epoch) a timestamp falls on */
static int64_t day_of(int64_t t) { return t >= 0 ? t / 86400 : (t - 86399) / 86400; }

static int add_row(state *st, const fg_rules *rules, const fg_bill_row *r) {
    group *g = get_group(st, r->currency);
    if (!g)
        return -1;
    g->rows++;
    fg_dec c = st->effective ? r->effective_cost : r->billed_cost;
    if (!(st->effective ? (r->has_effective || r->has_billed) : r->has_billed))
        g->missing++;
    if (fg_dec_add(g->total, c, &g->total) || fg_dec_add(g->billed, r->billed_cost, &g->billed) ||
        fg_dec_add(g->effective, r->effective_cost, &g->effective))
        return -2;
    g->n_billed += r->has_billed;
    g->n_effective += r->has_effective;
    fg_bucket b;
    int kind, rc;
    if (classify(st, rules, r, &b, &kind) < 0)
        return -1;
    if (fg_dec_add(g->bucket[b], c, &g->bucket[b]))
        return -2;
    fg_str p[3] = {r->provider, r->service_name, r->resource_id};
    long k = fg_dmap_key(&st->kbuf, &st->kcap, p, 2);
    if (k < 0 || (rc = fg_dmap_add(&g->svc, st->kbuf, (size_t)k, c)))
        return k < 0 ? -1 : rc;
    k = fg_dmap_key(&st->kbuf, &st->kcap, p, 3);
    if (k < 0 || (rc = fg_dmap_add(&g->drv, st->kbuf, (size_t)k, c)))
        return k < 0 ? -1 : rc;
    if (st->by_kind) {
        fg_str v = by_value(st, r);
        k = fg_dmap_key(&st->kbuf, &st->kcap, &v, 1);
        if (k < 0 || (rc = fg_dmap_add(&g->by, st->kbuf, (size_t)k, c)))
            return k < 0 ? -1 : rc;
    }
    if (r->has_start) {
        /* cost over time, by the day a charge starts */
        char day[24];
        int dl = snprintf(day, sizeof day, "%lld", (long long)day_of(r->charge_start));
        if ((rc = fg_dmap_add(&g->daily, day, (size_t)dl, c)))
            return rc;
        int64_t end = r->has_end && r->charge_end > r->charge_start ? r->charge_end : r->charge_start;
        if (!g->has_period || r->charge_start < g->first)
            g->first = r->charge_start;
        if (!g->has_period || end > g->last)
            g->last = end;
        g->has_period = true;
    }
    if (!g->recs && !(g->recs = fg_recs_new()))
        return -1;
    return fg_recs_add_as(g->recs, kind, r, c);
}

/* ---- cost per 1k requests: requests served, from --requests or a frugal /metrics scrape ---- */
typedef struct per1k {
    bool on;
    const char *source; /* "--requests" or the scrape's URL / file */
    double requests;    /* successful requests served */
    double server_cost, server_price, uptime, idle; /* from the scrape; NAN when unknown */
} per1k;

static int load_metrics(const char *src, per1k *k, char *err, size_t errn) {
    fg_prom_doc d = {0};
    if (fg_scrape(src, &d, NULL, err, errn) < 0)
        return -1;
    size_t found = 0, n_inst = 0;
    k->uptime = fg_prom_sum(&d, "frugal_uptime_seconds", NULL, 0, &found);
    if (found != 1) {
        snprintf(err, errn, "%s: not a frugal server's metrics (no frugal_uptime_seconds)", src);
        fg_prom_free(&d);
        return -1;
    }
    static const char *const ok[] = {"outcome", "success"};
    k->requests = fg_prom_sum(&d, "frugal_requests_total", ok, 1, NULL);
    k->server_cost = fg_prom_sum(&d, "frugal_cost_usd_total", NULL, 0, &found);
    if (!found)
        k->server_cost = NAN;
    k->server_price = fg_prom_sum(&d, "frugal_price_per_hour_usd", NULL, 0, &found);
    if (!found)
        k->server_price = NAN;
    double busy = fg_prom_sum(&d, "frugal_instance_busy_seconds_total", NULL, 0, &n_inst);
    k->idle = n_inst && k->uptime > 0 ? fmax(0, 1 - busy / (k->uptime * (double)n_inst)) : NAN;
    fg_prom_free(&d);
    return 0;
}

/* ---- what each currency group reports: its recommendations and period ---- */
typedef struct report {
    fg_rec recs[FG_REC_COUNT];
    size_t n_recs;
    double period_days; /* 0 when unknown */
    double saving;      /* sum of the recommendations' monthly savings */
} report;

static void make_report(const group *g, const fg_prices *prices, const per1k *k, report *rp) {
    memset(rp, 0, sizeof *rp);
    rp->period_days = g->has_period && g->last > g->first ? (double)(g->last - g->first) / 86400.0 : 0;
    if (!g->recs)
        return;
    fg_recs_inference_total(g->recs, g->bucket[FG_BUCKET_INFERENCE]);
    rp->n_recs = fg_recs_finish(g->recs, prices, rp->period_days, k->on ? k->idle : NAN, rp->recs);
    for (size_t i = 0; i < rp->n_recs; i++)
        rp->saving += rp->recs[i].monthly_saving;
}

/* ---- output ---- */
static void json_s(FILE *o, const char *s) { fg_json_write_str(o, s, strlen(s)); }
static void json_f(FILE *o, fg_str s) { fg_json_write_str(o, s.p, s.n); }
static void json_num(FILE *o, double v) {
    if (isfinite(v))
        fprintf(o, "%.6f", v);
    else
        fputs("null", o);
}

static const char *money(fg_dec d, int decimals, char *buf) {
    fg_dec_format(d, decimals, buf, FG_DEC_STR_MAX);
    return buf;
}

static double share(fg_dec part_, fg_dec total) {
    double t = fg_dec_to_double(total);
    return t != 0 ? fg_dec_to_double(part_) / t : 0;
}

static const char *by_label(const state *st) {
    static const char *names[] = {"service", "provider", "account", "region", "resource", "tag"};
    return names[st->by_kind];
}

static void day_str(int64_t day, char *buf, size_t n) {
    time_t t = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d", &tm);
}

typedef struct warnings {
    char **w;
    size_t n;
} warnings;

static void warn_add(warnings *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn_add(warnings *w, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **nw = realloc(w->w, (w->n + 1) * sizeof *nw);
    if (!nw)
        return;
    w->w = nw;
    w->w[w->n] = strdup(buf);
    if (w->w[w->n])
        w->n++;
}

static const char *cur_label(const group *g) { return g->currency[0] ? g->currency : "(no currency)"; }

static void group_warnings(const state *st, const group *g, warnings *w) {
    char a[FG_DEC_STR_MAX], b[FG_DEC_STR_MAX];
    const char *cl = cur_label(g);
    if (fg_dec_cmp(g->total, fg_dec_from_int(0)) < 0)
        warn_add(w, "%s: the total is negative (%s): credits exceed charges", cl, money(g->total, 2, a));
    if (g->missing)
        warn_add(w, "%s: %llu rows have no %s cost (counted as 0)", cl, (unsigned long long)g->missing,
                 st->effective ? "effective or billed" : "billed");
    if (g->n_billed && g->n_effective) {
        double bb = fabs(fg_dec_to_double(g->billed)), ee = fabs(fg_dec_to_double(g->effective));
        double mx = fmax(bb, ee), d = fabs(fg_dec_to_double(g->billed) - fg_dec_to_double(g->effective));
        if (mx > 0 && d / mx > 0.03)
            warn_add(w, "%s: effective total %s and billed total %s differ by %.1f%% (commitments amortized, or purchases/credits)",
                     cl, money(g->effective, 2, a), money(g->billed, 2, b), d / mx * 100);
    }
}

/* the 1k figures of the main group: inference cost over requests, and the server's own estimate */
static void per1k_figures(const group *g, const per1k *k, double *billing, double *server) {
    *billing = k->requests > 0 ? fg_dec_to_double(g->bucket[FG_BUCKET_INFERENCE]) * 1000 / k->requests : NAN;
    *server = k->requests > 0 && isfinite(k->server_cost) && k->server_price > 0 ? k->server_cost * 1000 / k->requests : NAN;
}

static void json_group(FILE *o, const state *st, const group *g, const report *rp, long top) {
    char a[FG_DEC_STR_MAX];
    fputs("\"currency\":", o);
    json_s(o, g->currency);
    fprintf(o, ",\"rows\":%llu,\"total\":%s,", (unsigned long long)g->rows, money(g->total, 6, a));
    fprintf(o, "\"billed_total\":%s,", money(g->billed, 6, a));
    fprintf(o, "\"effective_total\":%s,\"period\":", money(g->effective, 6, a));
    if (g->has_period) {
        char d1[32], d2[32];
        struct tm tm;
        time_t t1 = (time_t)g->first, t2 = (time_t)g->last;
        strftime(d1, sizeof d1, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t1, &tm));
        strftime(d2, sizeof d2, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t2, &tm));
        fprintf(o, "{\"start\":\"%s\",\"end\":\"%s\",\"days\":%.4f}", d1, d2, rp->period_days);
    } else {
        fputs("null", o);
    }
    fputs(",\"buckets\":[", o);
    for (int i = 0; i < FG_BUCKET_COUNT; i++)
        fprintf(o, "%s{\"bucket\":\"%s\",\"cost\":%s,\"share\":%.6f}", i ? "," : "", fg_bucket_name((fg_bucket)i),
                money(g->bucket[i], 6, a), share(g->bucket[i], g->total));
    fputs("],\"by_service\":[", o);
    fg_dmap_ent **v = fg_dmap_sorted(&g->svc);
    for (size_t i = 0; v && i < g->svc.n; i++) {
        fprintf(o, "%s{\"provider\":", i ? "," : "");
        json_f(o, fg_dmap_part(v[i], 0));
        fputs(",\"service\":", o);
        json_f(o, fg_dmap_part(v[i], 1));
        fprintf(o, ",\"cost\":%s,\"share\":%.6f}", money(v[i]->v, 6, a), share(v[i]->v, g->total));
    }
    free(v);
    fputc(']', o);
    if (st->by_kind) {
        fputs(",\"by\":[", o);
        v = fg_dmap_sorted(&g->by);
        for (size_t i = 0; v && i < g->by.n; i++) {
            fprintf(o, "%s{\"key\":", i ? "," : "");
            fg_json_write_str(o, v[i]->key, v[i]->klen);
            fprintf(o, ",\"cost\":%s,\"share\":%.6f}", money(v[i]->v, 6, a), share(v[i]->v, g->total));
        }
        free(v);
        fputc(']', o);
    }
    fputs(",\"top_drivers\":[", o);
    v = fg_dmap_sorted(&g->drv);
    for (size_t i = 0; v && i < g->drv.n && (long)i < top; i++) {
        fprintf(o, "%s{\"provider\":", i ? "," : "");
        json_f(o, fg_dmap_part(v[i], 0));
        fputs(",\"service\":", o);
        json_f(o, fg_dmap_part(v[i], 1));
        fputs(",\"resource_id\":", o);
        json_f(o, fg_dmap_part(v[i], 2));
        fprintf(o, ",\"cost\":%s,\"share\":%.6f}", money(v[i]->v, 6, a), share(v[i]->v, g->total));
    }
    free(v);
    fputs("],\"daily\":[", o);
    v = fg_dmap_sorted(&g->daily);
    /* by day, not by cost: the keys are day numbers */
    for (size_t i = 0; v && i < g->daily.n; i++)
        for (size_t j = i + 1; j < g->daily.n; j++)
            if (atoll(v[j]->key) < atoll(v[i]->key)) {
                fg_dmap_ent *t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
    for (size_t i = 0; v && i < g->daily.n; i++) {
        char d[32];
        day_str(atoll(v[i]->key), d, sizeof d);
        fprintf(o, "%s{\"day\":\"%s\",\"cost\":%s}", i ? "," : "", d, money(v[i]->v, 6, a));
    }
    free(v);
    fputs("],\"recommendations\":[", o);
    for (size_t i = 0; i < rp->n_recs; i++) {
        const fg_rec *x = &rp->recs[i];
        fprintf(o, "%s{\"kind\":\"%s\",\"monthly_saving\":", i ? "," : "", x->name);
        json_num(o, x->monthly_saving);
        fputs(",\"monthly_cost\":", o);
        json_num(o, x->monthly_cost);
        fprintf(o, ",\"period_cost\":%s,\"rows\":%llu,\"action\":", money(x->cost, 6, a), (unsigned long long)x->rows);
        json_s(o, x->action);
        fputs(",\"assumption\":", o);
        json_s(o, x->assumption);
        fputs(",\"detail\":", o);
        json_s(o, x->detail);
        fputs(",\"evidence\":[", o);
        for (size_t j = 0; j < x->n_ev; j++) {
            const fg_rec_evidence *ev = &x->ev[j];
            fprintf(o, "%s{\"provider\":", j ? "," : "");
            json_f(o, ev->provider);
            fputs(",\"service\":", o);
            json_f(o, ev->service);
            fputs(",\"resource_id\":", o);
            json_f(o, ev->resource);
            fputs(",\"usage_type\":", o);
            json_f(o, ev->usage);
            fprintf(o, ",\"cost\":%s,\"rows\":%llu}", money(ev->cost, 6, a), (unsigned long long)ev->rows);
        }
        fputs("]}", o);
    }
    fputs("],\"monthly_saving\":", o);
    json_num(o, rp->saving);
}

/* printf "%.*s" arguments of s, or of dflt when s is empty */
#define OR(s, dflt) ((s).n ? (int)(s).n : (int)strlen(dflt)), ((s).n ? (s).p : (dflt))

static void text_recs(FILE *o, const group *g, const report *rp) {
    char a[FG_DEC_STR_MAX];
    if (!rp->n_recs) {
        fprintf(o, "\nRecommendations: none (no row is evidence for a saving; see frugal cost --help)\n");
        return;
    }
    fprintf(o, "\nRecommendations (estimated savings a month, %s; prices are assumptions, see each):\n", cur_label(g));
    for (size_t i = 0; i < rp->n_recs; i++) {
        const fg_rec *x = &rp->recs[i];
        fprintf(o, "  %zu. %-17s save ~%.2f a month (of %.2f)\n", i + 1, x->name, x->monthly_saving, x->monthly_cost);
        fprintf(o, "     do:       %s\n", x->action);
        if (x->rows)
            fprintf(o, "     evidence: %llu rows, %s over the period%s%s\n", (unsigned long long)x->rows,
                    money(x->cost, 2, a), x->detail[0] ? "; " : "", x->detail);
        else if (x->detail[0])
            fprintf(o, "     evidence: %s\n", x->detail);
        for (size_t j = 0; j < x->n_ev; j++) {
            const fg_rec_evidence *ev = &x->ev[j];
            fprintf(o, "               %.*s / %.*s / %.*s / %.*s  %s\n", OR(ev->provider, "-"), OR(ev->service, "-"),
                    OR(ev->resource, "-"), OR(ev->usage, "-"), money(ev->cost, 2, a));
        }
        fprintf(o, "     assumes:  %s\n", x->assumption);
    }
    fprintf(o, "  total: ~%.2f a month\n", rp->saving);
}

static void text_group(FILE *o, const state *st, const group *g, const report *rp, long top) {
    char a[FG_DEC_STR_MAX];
    const char *cl = cur_label(g);
    const char *basis = st->effective ? "effective" : "billed";
    fg_dmap_ent **v = fg_dmap_sorted(&g->drv);
    size_t nt = (size_t)top < g->drv.n ? (size_t)top : g->drv.n;
    if (top > 0) {
        fprintf(o, "Top %zu cost drivers (%s cost, %s):\n", nt, basis, cl);
        for (size_t i = 0; v && i < nt; i++) {
            fg_str p = fg_dmap_part(v[i], 0), s = fg_dmap_part(v[i], 1), r = fg_dmap_part(v[i], 2);
            fprintf(o, "  %zu. %.*s / %.*s / %.*s  %s  %.1f%%\n", i + 1, OR(p, "(no provider)"), OR(s, "(no service)"),
                    OR(r, "(no resource)"), money(v[i]->v, 2, a), share(v[i]->v, g->total) * 100);
        }
    }
    free(v);
    fprintf(o, "\nTotal (%s cost): %s %s over %llu rows", basis, money(g->total, 2, a), cl, (unsigned long long)g->rows);
    if (rp->period_days > 0)
        fprintf(o, ", %.1f days", rp->period_days);
    fprintf(o, "\n\nML lifecycle buckets:\n");
    for (int i = 0; i < FG_BUCKET_COUNT; i++)
        fprintf(o, "  %-17s %16s  %5.1f%%%s\n", fg_bucket_name((fg_bucket)i), money(g->bucket[i], 2, a),
                share(g->bucket[i], g->total) * 100, i == FG_BUCKET_OTHER ? "  (unallocated)" : "");
    text_recs(o, g, rp);
    if (st->by_kind == 0) {
        fprintf(o, "\nBy service:\n");
        v = fg_dmap_sorted(&g->svc);
        for (size_t i = 0; v && i < g->svc.n; i++) {
            fg_str p = fg_dmap_part(v[i], 0), s = fg_dmap_part(v[i], 1);
            fprintf(o, "  %-13.*s %-45.*s %16s  %5.1f%%\n", OR(p, "(no provider)"), OR(s, "(no service)"),
                    money(v[i]->v, 2, a), share(v[i]->v, g->total) * 100);
        }
    } else {
        fprintf(o, "\nBy %s%s%s:\n", by_label(st), st->by_kind == 5 ? " " : "", st->by_kind == 5 ? st->by_tag : "");
        v = fg_dmap_sorted(&g->by);
        for (size_t i = 0; v && i < g->by.n; i++)
            fprintf(o, "  %-59.*s %16s  %5.1f%%\n", OR(((fg_str){v[i]->key, v[i]->klen}), "(none)"),
                    money(v[i]->v, 2, a), share(v[i]->v, g->total) * 100);
    }
    free(v);
}

static void text_per1k(FILE *o, const group *g, const per1k *k) {
    double bill, server;
    per1k_figures(g, k, &bill, &server);
    char a[FG_DEC_STR_MAX];
    fprintf(o, "\nCost per 1k requests (%.0f requests served, from %s):\n", k->requests, k->source);
    if (isfinite(bill))
        fprintf(o, "  from billing:  %.6f %s (inference bucket %s / requests)\n", bill, cur_label(g),
                money(g->bucket[FG_BUCKET_INFERENCE], 2, a));
    else
        fprintf(o, "  from billing:  - (no requests)\n");
    if (isfinite(server))
        fprintf(o, "  server estimate: %.6f USD (its --price-per-hour %.4f x %.0f s up)\n", server, k->server_price, k->uptime);
    if (k->requests > 0 && fg_dec_to_double(g->bucket[FG_BUCKET_INFERENCE]) == 0)
        fprintf(o, "  note: the inference bucket is empty: tag the serving fleet (e.g. ml-stage=inference)\n");
}

/* CSV field: quoted when it holds a comma, quote or line break (RFC 4180) */
static void csv_field(FILE *o, const char *s, size_t n) {
    bool q = false;
    for (size_t i = 0; i < n; i++)
        q |= s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!q) {
        fwrite(s, 1, n, o);
        return;
    }
    fputc('"', o);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            fputc('"', o);
        fputc(s[i], o);
    }
    fputc('"', o);
}

static void write_csv(FILE *o, const state *st) {
    char a[FG_DEC_STR_MAX];
    if (st->by_kind == 0)
        fputs("currency,provider,service,cost,share\r\n", o);
    else
        fprintf(o, "currency,%s%s%s,cost,share\r\n", by_label(st), st->by_kind == 5 ? ":" : "",
                st->by_kind == 5 ? st->by_tag : "");
    for (size_t gi = 0; gi < st->ng; gi++) {
        const group *g = &st->g[gi];
        const fg_dmap *m = st->by_kind == 0 ? &g->svc : &g->by;
        fg_dmap_ent **v = fg_dmap_sorted(m);
        for (size_t i = 0; v && i < m->n; i++) {
            csv_field(o, g->currency, strlen(g->currency));
            for (int p = 0; p < (st->by_kind == 0 ? 2 : 1); p++) {
                fg_str f = st->by_kind == 0 ? fg_dmap_part(v[i], p) : (fg_str){v[i]->key, v[i]->klen};
                fputc(',', o);
                csv_field(o, f.p, f.n);
            }
            fprintf(o, ",%s,%.6f\r\n", money(v[i]->v, 6, a), share(v[i]->v, g->total));
        }
        free(v);
    }
}

/* an fg_str as a NUL-terminated label in buf */
static const char *label(char *buf, size_t n, fg_str s, const char *dflt) {
    snprintf(buf, n, "%.*s", OR(s, dflt));
    return buf;
}

static void write_html(FILE *o, const state *st, const group *g, const report *rp, const per1k *k, long top,
                       uint64_t read, uint64_t used, uint64_t skipped, const warnings *w) {
    char a[FG_DEC_STR_MAX], t[512];
    const char *basis = st->effective ? "effective (amortized)" : "billed";
    fg_html_begin(o, "frugal cost report");
    fprintf(o, "<p>Total <b>%s %s</b> (%s cost)", money(g->total, 2, a), cur_label(g), basis);
    if (g->has_period) {
        char d1[32], d2[32];
        day_str(day_of(g->first), d1, sizeof d1);
        day_str(day_of(g->last - (g->last > g->first ? 1 : 0)), d2, sizeof d2);
        fprintf(o, " from %s to %s (%.1f days)", d1, d2, rp->period_days);
    }
    fprintf(o, "; %llu rows read, %llu used, %llu skipped as malformed.",
            (unsigned long long)read, (unsigned long long)used, (unsigned long long)skipped);
    if (rp->n_recs)
        fprintf(o, " Estimated savings: <b>~%.2f %s a month</b>.", rp->saving, cur_label(g));
    fputs("</p>\n", o);

    /* top drivers */
    long nt = top > 0 ? top : 10;
    fg_dmap_ent **v = fg_dmap_sorted(&g->drv);
    size_t n = v ? ((size_t)nt < g->drv.n ? (size_t)nt : g->drv.n) : 0;
    char **labels = calloc(n + FG_BUCKET_COUNT + 1, sizeof *labels);
    double *vals = calloc(n + FG_BUCKET_COUNT + 1, sizeof *vals);
    if (labels && vals) {
        fg_html_heading(o, 2, "Top cost drivers");
        for (size_t i = 0; i < n; i++) {
            char p[128], s[160], r[200];
            snprintf(t, sizeof t, "%s / %s / %s", label(p, sizeof p, fg_dmap_part(v[i], 0), "-"),
                     label(s, sizeof s, fg_dmap_part(v[i], 1), "-"), label(r, sizeof r, fg_dmap_part(v[i], 2), "(no resource)"));
            labels[i] = strdup(t);
            vals[i] = fg_dec_to_double(v[i]->v);
        }
        fg_svg_bars(o, "Top cost drivers", cur_label(g), (const char *const *)labels, vals, n);
        fputs("<table><tr><th>#</th><th>driver</th><th class=\"num\">cost</th><th class=\"num\">share</th></tr>\n", o);
        for (size_t i = 0; i < n; i++) {
            fprintf(o, "<tr><td>%zu</td><td>", i + 1);
            fg_html_escape(o, labels[i] ? labels[i] : "");
            fprintf(o, "</td><td class=\"num\">%s</td><td class=\"num\">%.1f%%</td></tr>\n", money(v[i]->v, 2, a),
                    share(v[i]->v, g->total) * 100);
        }
        fputs("</table>\n", o);
        for (size_t i = 0; i < n; i++)
            free(labels[i]);
        /* buckets */
        fg_html_heading(o, 2, "Cost by ML lifecycle bucket");
        for (int i = 0; i < FG_BUCKET_COUNT; i++) {
            labels[i] = (char *)fg_bucket_name((fg_bucket)i);
            vals[i] = fg_dec_to_double(g->bucket[i]);
        }
        fg_svg_bars(o, "Cost by bucket", cur_label(g), (const char *const *)labels, vals, FG_BUCKET_COUNT);
        fputs("<p class=\"muted\">other = unallocated: no rule matched (see deploy/cost/rules.txt, --rules)</p>\n", o);
    }
    free(v);
    free(labels);
    free(vals);

    /* cost over time */
    fg_html_heading(o, 2, "Cost over time (by day the charge starts)");
    v = fg_dmap_sorted(&g->daily);
    n = v ? g->daily.n : 0;
    for (size_t i = 0; i < n; i++) /* by day */
        for (size_t j = i + 1; j < n; j++)
            if (atoll(v[j]->key) < atoll(v[i]->key)) {
                fg_dmap_ent *x = v[i];
                v[i] = v[j];
                v[j] = x;
            }
    char (*days)[16] = calloc(n + 1, sizeof *days);
    const char **dl = calloc(n + 1, sizeof *dl);
    double *dv = calloc(n + 1, sizeof *dv);
    if (n && days && dl && dv) {
        for (size_t i = 0; i < n; i++) {
            day_str(atoll(v[i]->key), days[i], sizeof days[i]);
            dl[i] = days[i];
            dv[i] = fg_dec_to_double(v[i]->v);
        }
        fg_svg_columns(o, "Cost per day", cur_label(g), dl, dv, n);
    } else {
        fputs("<p class=\"muted\">No charge period in the rows: no time series.</p>\n", o);
    }
    free(days);
    free(dl);
    free(dv);
    free(v);

    /* recommendations */
    fg_html_heading(o, 2, "Recommendations");
    if (!rp->n_recs) {
        fputs("<p>None: no row is evidence for a saving.</p>\n", o);
    } else {
        fprintf(o, "<table><tr><th>kind</th><th class=\"num\">saving / month</th><th>do</th><th>evidence</th>"
                   "<th>assumption</th></tr>\n");
        for (size_t i = 0; i < rp->n_recs; i++) {
            const fg_rec *x = &rp->recs[i];
            fprintf(o, "<tr class=\"rec\"><td>%s</td><td class=\"num\">%.2f</td><td>", x->name, x->monthly_saving);
            fg_html_escape(o, x->action);
            fprintf(o, "</td><td>%llu rows, %s over the period", (unsigned long long)x->rows, money(x->cost, 2, a));
            if (x->detail[0]) {
                fputs("; ", o);
                fg_html_escape(o, x->detail);
            }
            fputs("<ul>", o);
            for (size_t j = 0; j < x->n_ev; j++) {
                const fg_rec_evidence *ev = &x->ev[j];
                char p[128], s[160], r[200], u[160];
                snprintf(t, sizeof t, "%s / %s / %s / %s: %s", label(p, sizeof p, ev->provider, "-"),
                         label(s, sizeof s, ev->service, "-"), label(r, sizeof r, ev->resource, "-"),
                         label(u, sizeof u, ev->usage, "-"), money(ev->cost, 2, a));
                fputs("<li>", o);
                fg_html_escape(o, t);
                fputs("</li>", o);
            }
            fputs("</ul></td><td>", o);
            fg_html_escape(o, x->assumption);
            fputs("</td></tr>\n", o);
        }
        fputs("</table>\n", o);
    }

    if (k->on) {
        double bill, server;
        per1k_figures(g, k, &bill, &server);
        fg_html_heading(o, 2, "Cost per 1k requests");
        fprintf(o, "<p>%.0f requests served (from ", k->requests);
        fg_html_escape(o, k->source);
        if (isfinite(bill))
            fprintf(o, "): from billing <b>%.6f %s</b> per 1k requests (inference bucket / requests)", bill, cur_label(g));
        else
            fputs("): from billing - (no requests)", o);
        if (isfinite(server))
            fprintf(o, "; the server's own estimate %.6f USD per 1k (price %.4f/h)", server, k->server_price);
        fputs(".</p>\n", o);
    }

    /* the breakdown */
    fg_html_heading(o, 2, st->by_kind == 0 ? "By service" : "Breakdown");
    const fg_dmap *m = st->by_kind == 0 ? &g->svc : &g->by;
    v = fg_dmap_sorted(m);
    fputs("<table><tr><th>key</th><th class=\"num\">cost</th><th class=\"num\">share</th></tr>\n", o);
    for (size_t i = 0; v && i < m->n && i < 50; i++) {
        fputs("<tr><td>", o);
        if (st->by_kind == 0) {
            char p[128], s[200];
            snprintf(t, sizeof t, "%s / %s", label(p, sizeof p, fg_dmap_part(v[i], 0), "-"),
                     label(s, sizeof s, fg_dmap_part(v[i], 1), "-"));
            fg_html_escape(o, t);
        } else {
            snprintf(t, sizeof t, "%.*s", OR(((fg_str){v[i]->key, v[i]->klen}), "(none)"));
            fg_html_escape(o, t);
        }
        fprintf(o, "</td><td class=\"num\">%s</td><td class=\"num\">%.1f%%</td></tr>\n", money(v[i]->v, 2, a),
                share(v[i]->v, g->total) * 100);
    }
    fputs("</table>\n", o);
    if (v && m->n > 50)
        fprintf(o, "<p class=\"muted\">... and %zu more (see --csv)</p>\n", m->n - 50);
    free(v);
    if (w->n) {
        fg_html_heading(o, 2, "Warnings");
        fputs("<ul>", o);
        for (size_t i = 0; i < w->n; i++) {
            fputs("<li>", o);
            fg_html_escape(o, w->w[i]);
            fputs("</li>", o);
        }
        fputs("</ul>\n", o);
    }
    if (st->ng > 1) {
        fg_html_heading(o, 2, "Other currencies (never added)");
        fputs("<ul>", o);
        for (size_t i = 0; i < st->ng; i++)
            if (&st->g[i] != g) {
                fprintf(o, "<li>%s ", money(st->g[i].total, 2, a));
                fg_html_escape(o, cur_label(&st->g[i]));
                fprintf(o, " over %llu rows</li>", (unsigned long long)st->g[i].rows);
            }
        fputs("</ul>\n", o);
    }
    fputs("<p class=\"muted\">frugal cost: money summed in exact decimals; savings are estimates from the price "
          "assumptions shown.</p>\n",
          o);
    fg_html_end(o);
}

static int parse_date(const char *s, int64_t *t) { return fg_bill_parse_time(s, strlen(s), t) == 1 ? 0 : -1; }

static int usage_err(const char *fmt, const char *arg) {
    fprintf(stderr, "frugal cost: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see frugal cost --help)\n");
    return 2;
}

/* opens an output file for --csv / --html ("-" is stdout); NULL with a message on stderr */
static FILE *open_out(const char *path, const char *opt) {
    if (strcmp(path, "-") == 0)
        return stdout;
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "frugal cost: %s %s: %s\n", opt, path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path, const char *opt) {
    if (f == stdout)
        return fflush(f) == 0 ? 0 : -1;
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "frugal cost: %s %s: write error\n", opt, path);
        return -1;
    }
    return 0;
}

int fg_cmd_cost(int argc, char **argv) {
    static const struct option opts[] = {
        {"basis", required_argument, 0, 'b'},  {"format", required_argument, 0, 'f'},
        {"rules", required_argument, 0, 'r'},  {"top", required_argument, 0, 't'},
        {"by", required_argument, 0, 'y'},     {"from", required_argument, 0, 'F'},
        {"to", required_argument, 0, 'T'},     {"strict", no_argument, 0, 's'},
        {"json", no_argument, 0, 'j'},         {"csv", required_argument, 0, 'c'},
        {"html", required_argument, 0, 'H'},   {"prices", required_argument, 0, 'p'},
        {"requests", required_argument, 0, 'R'}, {"metrics", required_argument, 0, 'M'},
        {"by-tag", required_argument, 0, 'g'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    state st = {.effective = true};
    const char *format = NULL, *rules_path = NULL, *csv_path = NULL, *html_path = NULL, *prices_path = NULL,
               *metrics = NULL;
    long top = 3;
    bool strict = false, json = false, has_from = false, has_to = false;
    int64_t from = 0, to = 0;
    per1k k = {.requests = NAN, .server_cost = NAN, .server_price = NAN, .uptime = NAN, .idle = NAN};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (strcmp(optarg, "effective") == 0)
                st.effective = true;
            else if (strcmp(optarg, "billed") == 0)
                st.effective = false;
            else
                return usage_err("--basis wants effective or billed, got '%s'", optarg);
            break;
        case 'f': format = optarg; break;
        case 'r': rules_path = optarg; break;
        case 'p': prices_path = optarg; break;
        case 'c': csv_path = optarg; break;
        case 'H': html_path = optarg; break;
        case 'M': metrics = optarg; break;
        case 'R': {
            char *end;
            errno = 0;
            double r = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(r >= 0 && r < 1e18))
                return usage_err("--requests wants a count >= 0, got '%s'", optarg);
            k.requests = r;
            k.on = true;
            k.source = "--requests";
            break;
        }
        case 't': {
            char *end;
            errno = 0;
            top = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || top < 0)
                return usage_err("--top wants an integer >= 0, got '%s'", optarg);
            break;
        }
        case 'y':
            if (strcmp(optarg, "service") == 0)
                st.by_kind = 0;
            else if (strcmp(optarg, "provider") == 0)
                st.by_kind = 1;
            else if (strcmp(optarg, "account") == 0)
                st.by_kind = 2;
            else if (strcmp(optarg, "region") == 0)
                st.by_kind = 3;
            else if (strcmp(optarg, "resource") == 0)
                st.by_kind = 4;
            else if (strncmp(optarg, "tag:", 4) == 0 && optarg[4]) {
                st.by_kind = 5;
                st.by_tag = optarg + 4;
            } else
                return usage_err("--by wants service, provider, account, region, resource or tag:KEY, got '%s'", optarg);
            break;
        case 'g':
            if (!optarg[0])
                return usage_err("--by-tag wants a tag key, got '%s'", optarg);
            st.by_kind = 5;
            st.by_tag = optarg;
            break;
        case 'F':
            if (parse_date(optarg, &from))
                return usage_err("--from wants a date (YYYY-MM-DD), got '%s'", optarg);
            has_from = true;
            break;
        case 'T':
            if (parse_date(optarg, &to))
                return usage_err("--to wants a date (YYYY-MM-DD), got '%s'", optarg);
            has_to = true;
            break;
        case 's': strict = true; break;
        case 'j': json = true; break;
        case 'h': cost_usage(stdout); return 0;
        default:
            return usage_err("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_err("%s", "no billing file given");
    if (metrics && k.on)
        return usage_err("%s", "--requests and --metrics both give the request count: use one");
    if (json && ((csv_path && strcmp(csv_path, "-") == 0) || (html_path && strcmp(html_path, "-") == 0)))
        return usage_err("%s", "--json writes to stdout: give --csv / --html a file, not -");
    fg_err e = {0};
    fg_rules rules;
    int rc = rules_path ? fg_rules_load(rules_path, &rules, &e)
                        : fg_rules_parse(fg_rules_default, strlen(fg_rules_default), "built-in rules", &rules, &e);
    if (rc) {
        fprintf(stderr, "frugal cost: %s\n", e.msg);
        return 2;
    }
    fg_prices prices = {0};
    if (fg_prices_parse(fg_prices_default, strlen(fg_prices_default), "built-in prices", &prices, &e) ||
        (prices_path && fg_prices_load(prices_path, &prices, &e))) {
        fprintf(stderr, "frugal cost: %s\n", e.msg);
        fg_rules_free(&rules);
        return 2;
    }
    if (metrics) {
        char err[1400];
        if (load_metrics(metrics, &k, err, sizeof err) < 0) {
            fprintf(stderr, "frugal cost: --metrics %s\n", err);
            fg_rules_free(&rules);
            return 2;
        }
        k.on = true;
        k.source = metrics;
    }
    uint64_t read = 0, used = 0, skipped = 0, out_of_range = 0;
    int status = 0;
    char **formats = calloc((size_t)(argc - optind), sizeof *formats);
    for (int fi = optind; fi < argc && status == 0; fi++) {
        fg_err_clear(&e);
        fg_bill_reader *r = fg_bill_open(argv[fi], format, &e);
        if (!r) {
            fprintf(stderr, "frugal cost: %s\n", e.msg);
            status = 2;
            break;
        }
        if (formats)
            formats[fi - optind] = strdup(fg_bill_format_name(r));
        fg_bill_row row;
        int n;
        while ((n = fg_bill_next(r, &row, &e)) != 0) {
            if (n == FG_EFORMAT) {
                read++;
                skipped++;
                if (strict) {
                    fprintf(stderr, "frugal cost: malformed row (--strict): %s\n", e.msg);
                    status = 1;
                    break;
                }
                if (skipped <= MAX_MALFORMED_SHOWN)
                    fprintf(stderr, "frugal cost: skipped malformed row: %s\n", e.msg);
                fg_err_clear(&e);
                continue;
            }
            if (n < 0) {
                fprintf(stderr, "frugal cost: %s\n", e.msg);
                status = 2;
                break;
            }
            read++;
            if ((has_from || has_to) && (!row.has_start || (has_from && row.charge_start < from) ||
                                         (has_to && row.charge_start >= to))) {
                out_of_range++;
                continue;
            }
            int ar = add_row(&st, &rules, &row);
            if (ar) {
                fprintf(stderr, "frugal cost: %s:%ld: %s\n", argv[fi], row.line,
                        ar == -2 ? "sum out of range" : "out of memory");
                status = 2;
                break;
            }
            used++;
        }
        fg_bill_close(r);
    }
    if (skipped > MAX_MALFORMED_SHOWN && !strict)
        fprintf(stderr, "frugal cost: ... and %llu more malformed rows\n", (unsigned long long)(skipped - MAX_MALFORMED_SHOWN));
    report *reports = status == 0 ? calloc(st.ng + 1, sizeof *reports) : NULL;
    if (status == 0 && !reports) {
        fprintf(stderr, "frugal cost: out of memory\n");
        status = 2;
    }
    if (status == 0) {
        warnings w = {0};
        if (st.ng > 1)
            warn_add(&w, "%zu currencies: totals are per currency, never added", st.ng);
        if (skipped)
            warn_add(&w, "%llu malformed rows skipped", (unsigned long long)skipped);
        for (size_t i = 0; i < st.ng; i++) {
            group_warnings(&st, &st.g[i], &w);
            make_report(&st.g[i], &prices, &k, &reports[i]);
        }
        /* the main group: most rows */
        size_t mg = 0;
        for (size_t i = 1; i < st.ng; i++)
            if (st.g[i].rows > st.g[mg].rows)
                mg = i;
        if (k.on && st.ng && strcmp(st.g[mg].currency, "USD") != 0 && isfinite(k.server_cost))
            warn_add(&w, "the server's cost estimate is in USD, the billing in %s", cur_label(&st.g[mg]));
        if (json) {
            printf("{\"basis\":\"%s\",\"prices\":", st.effective ? "effective" : "billed");
            json_s(stdout, prices_path ? prices_path : "built-in example table (deploy/cost/prices.txt)");
            printf(",\"formats\":[");
            for (int i = 0; formats && i < argc - optind; i++) {
                printf("%s", i ? "," : "");
                json_s(stdout, formats[i] ? formats[i] : "");
            }
            printf("],\"rows_read\":%llu,\"rows_used\":%llu,\"rows_skipped\":%llu,\"rows_out_of_range\":%llu,",
                   (unsigned long long)read, (unsigned long long)used, (unsigned long long)skipped,
                   (unsigned long long)out_of_range);
            if (st.by_kind) {
                printf("\"by_key\":");
                char lab[256];
                snprintf(lab, sizeof lab, "%s%s%s", by_label(&st), st.by_kind == 5 ? ":" : "", st.by_kind == 5 ? st.by_tag : "");
                json_s(stdout, lab);
                printf(",");
            }
            if (st.ng == 0)
                printf("\"currency\":\"\",\"rows\":0,\"total\":0.000000,\"buckets\":[],\"by_service\":[],"
                       "\"top_drivers\":[],\"recommendations\":[]");
            else
                json_group(stdout, &st, &st.g[mg], &reports[mg], top);
            printf(",\"cost_per_1k\":");
            if (k.on && st.ng) {
                double bill, server;
                per1k_figures(&st.g[mg], &k, &bill, &server);
                printf("{\"source\":");
                json_s(stdout, k.source);
                printf(",\"requests\":%.0f,\"inference_cost\":", k.requests);
                json_num(stdout, fg_dec_to_double(st.g[mg].bucket[FG_BUCKET_INFERENCE]));
                printf(",\"billing_per_1k\":");
                json_num(stdout, bill);
                printf(",\"server_estimate_per_1k_usd\":");
                json_num(stdout, server);
                printf(",\"server_price_per_hour_usd\":");
                json_num(stdout, k.server_price);
                printf(",\"server_idle_share\":");
                json_num(stdout, k.idle);
                printf("}");
            } else {
                printf("null");
            }
            printf(",\"other_currencies\":[");
            int first = 1;
            for (size_t i = 0; i < st.ng; i++) {
                if (i == mg)
                    continue;
                printf("%s{", first ? "" : ",");
                first = 0;
                json_group(stdout, &st, &st.g[i], &reports[i], top);
                printf("}");
            }
            printf("],\"warnings\":[");
            for (size_t i = 0; i < w.n; i++) {
                printf("%s", i ? "," : "");
                json_s(stdout, w.w[i]);
            }
            printf("]}\n");
        } else if (!(csv_path && strcmp(csv_path, "-") == 0) && !(html_path && strcmp(html_path, "-") == 0)) {
            if (st.ng == 0)
                printf("No rows used.\n");
            for (size_t kk = 0; kk < st.ng; kk++) {
                size_t i = kk == 0 ? mg : (kk <= mg ? kk - 1 : kk);
                if (kk)
                    printf("\n---- currency %s ----\n", cur_label(&st.g[i]));
                text_group(stdout, &st, &st.g[i], &reports[i], top);
            }
            if (k.on && st.ng)
                text_per1k(stdout, &st.g[mg], &k);
            printf("\nRows: %llu read, %llu used, %llu skipped (malformed), %llu outside --from/--to\n",
                   (unsigned long long)read, (unsigned long long)used, (unsigned long long)skipped,
                   (unsigned long long)out_of_range);
            printf("Formats:");
            for (int i = 0; formats && i < argc - optind; i++)
                printf(" %s (%s)", formats[i] ? formats[i] : "?", argv[optind + i]);
            printf("\nPrices: %s\n", prices_path ? prices_path : "built-in example table (deploy/cost/prices.txt)");
            if (w.n) {
                printf("Warnings:\n");
                for (size_t i = 0; i < w.n; i++)
                    printf("  - %s\n", w.w[i]);
            }
        }
        if (csv_path) {
            FILE *o = open_out(csv_path, "--csv");
            if (!o)
                status = 2;
            else {
                write_csv(o, &st);
                if (close_out(o, csv_path, "--csv"))
                    status = 2;
            }
        }
        if (html_path && status == 0) {
            FILE *o = open_out(html_path, "--html");
            if (!o)
                status = 2;
            else {
                group empty = {.currency = ""};
                report none = {0};
                write_html(o, &st, st.ng ? &st.g[mg] : &empty, st.ng ? &reports[mg] : &none, &k, top, read, used,
                           skipped, &w);
                if (close_out(o, html_path, "--html"))
                    status = 2;
            }
        }
        for (size_t i = 0; i < w.n; i++)
            free(w.w[i]);
        free(w.w);
    }
    free(reports);
    for (int i = 0; formats && i < argc - optind; i++)
        free(formats[i]);
    free(formats);
    for (size_t i = 0; i < st.ng; i++) {
        free(st.g[i].currency);
        fg_dmap_free(&st.g[i].svc);
        fg_dmap_free(&st.g[i].by);
        fg_dmap_free(&st.g[i].drv);
        fg_dmap_free(&st.g[i].daily);
        fg_recs_free(st.g[i].recs);
    }
    free(st.g);
    free(st.kbuf);
    memo_free(st.memo);
    fg_rules_free(&rules);
    return status;
}
