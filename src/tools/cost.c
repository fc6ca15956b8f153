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

#include "cost/billing.h"
#include "cost/decimal.h"
#include "cost/rules.h"
#include "tools/tools.h"

#define MAX_MALFORMED_SHOWN 20
#define SEP '\x1f'

static void cost_usage(FILE *f) {
    fprintf(f,
            "usage: frugal cost FILE... [options]\n\n"
            "Reads cloud billing exports (FOCUS 1.0-1.2, AWS CUR, Azure cost details; plain or gzip) and\n"
            "prints the top cost drivers, the cost per ML-lifecycle bucket, a breakdown table and row counts.\n\n"
            "options:\n"
            "  --basis B        effective (default: amortized, after discounts) or billed (invoiced)\n"
            "  --format F       force the input format: focus, focus-1.0, focus-1.1, focus-1.2, aws-cur,\n"
            "                   aws-cur-athena, azure (default: detected from each file's header)\n"
            "  --rules FILE     bucket rules (default: the built-in set, deploy/cost/rules.txt)\n"
            "  --top N          cost drivers to list (default 3; 0 for none)\n"
            "  --by KEY         breakdown: service (default; provider+service), provider, account,\n"
            "                   region, resource, tag:KEY\n"
            "  --from DATE      use rows whose charge period starts at or after DATE (YYYY-MM-DD[Thh:mm:ssZ])\n"
            "  --to DATE        ... and before DATE (exclusive)\n"
            "  --strict         a malformed row is an error (exit 1) instead of being skipped\n"
            "  --json           print one JSON object (money as numbers with 6 decimals)\n"
            "  -h, --help       this help\n"
            "\nDifferent currencies are never added: each currency gets its own totals.\n"
            "exit status: 0 on success, 1 on malformed rows with --strict, 2 on bad usage or an unreadable\n"
            "file (one line on stderr)\n");
}

/* ---- a small string → decimal hash map ---- */
typedef struct ent {
    char *key;
    size_t klen;
    uint64_t h;
    fg_dec v;
} ent;
typedef struct map {
    ent *e;
    size_t cap, n;
} map;

static uint64_t hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int map_add(map *m, const char *k, size_t kn, fg_dec v) {
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        ent *ne = calloc(nc, sizeof *ne);
        if (!ne)
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->e[i].key) {
                size_t j = m->e[i].h & (nc - 1);
                while (ne[j].key)
                    j = (j + 1) & (nc - 1);
                ne[j] = m->e[i];
            }
        free(m->e);
        m->e = ne;
        m->cap = nc;
    }
    uint64_t h = hash(k, kn);
    size_t j = h & (m->cap - 1);
    while (m->e[j].key) {
        if (m->e[j].h == h && m->e[j].klen == kn && memcmp(m->e[j].key, k, kn) == 0)
            return fg_dec_add(m->e[j].v, v, &m->e[j].v) == 0 ? 0 : -2;
        j = (j + 1) & (m->cap - 1);
    }
    char *c = malloc(kn + 1);
    if (!c)
        return -1;
    memcpy(c, k, kn);
    c[kn] = 0;
    m->e[j] = (ent){c, kn, h, v};
    m->n++;
    return 0;
}

static void map_free(map *m) {
    for (size_t i = 0; i < m->cap; i++)
        free(m->e[i].key);
    free(m->e);
}

static int ent_cmp(const void *a, const void *b) {
    const ent *x = *(const ent *const *)a, *y = *(const ent *const *)b;
    int c = fg_dec_cmp(y->v, x->v);
    if (c)
        return c;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int d = memcmp(x->key, y->key, n);
    return d ? d : (x->klen > y->klen) - (x->klen < y->klen);
}

/* entries sorted by value descending, then key; caller frees the array */
static ent **map_sorted(const map *m) {
    ent **v = malloc((m->n + 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].key)
            v[k++] = &m->e[i];
    qsort(v, k, sizeof *v, ent_cmp);
    return v;
}

/* the idx-th SEP-separated part of key */
static fg_str part(const ent *en, int idx) {
    const char *p = en->key, *end = en->key + en->klen;
    for (int i = 0; i < idx; i++) {
        const char *s = memchr(p, SEP, (size_t)(end - p));
        if (!s)
            return (fg_str){end, 0};
        p = s + 1;
    }
    const char *s = memchr(p, SEP, (size_t)(end - p));
    return (fg_str){p, s ? (size_t)(s - p) : (size_t)(end - p)};
}

/* ---- per-currency aggregates ---- */
typedef struct group {
    char *currency;
    uint64_t rows;
    fg_dec total, billed, effective;
    uint64_t n_billed, n_effective, missing;
    fg_dec bucket[FG_BUCKET_COUNT];
    map svc, by, drv;
} group;

typedef struct state {
    group *g;
    size_t ng;
    int by_kind; /* 0 service, 1 provider, 2 account, 3 region, 4 resource, 5 tag */
    const char *by_tag;
    bool effective;
    char *kbuf;
    size_t kcap;
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

static int key_of(state *st, const fg_str *parts, int np) {
    size_t need = 0;
    for (int i = 0; i < np; i++)
        need += parts[i].n + 1;
    if (need > st->kcap) {
        char *nb = realloc(st->kbuf, need * 2);
        if (!nb)
            return -1;
        st->kbuf = nb;
        st->kcap = need * 2;
    }
    size_t k = 0;
    for (int i = 0; i < np; i++) {
        if (i)
            st->kbuf[k++] = SEP;
        memcpy(st->kbuf + k, parts[i].p, parts[i].n);
        k += parts[i].n;
    }
    return (int)k;
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
    fg_bucket b = fg_rules_classify(rules, r, NULL);
    if (fg_dec_add(g->bucket[b], c, &g->bucket[b]))
        return -2;
    fg_str p[3] = {r->provider, r->service_name, r->resource_id};
    int k = key_of(st, p, 2);
    if (k < 0 || map_add(&g->svc, st->kbuf, (size_t)k, c))
        return -1;
    k = key_of(st, p, 3);
    if (k < 0 || map_add(&g->drv, st->kbuf, (size_t)k, c))
        return -1;
    if (st->by_kind) {
        fg_str v = by_value(st, r);
        k = key_of(st, &v, 1);
        if (k < 0 || map_add(&g->by, st->kbuf, (size_t)k, c))
            return -1;
    }
    return 0;
}

/* ---- output ---- */
static void json_str(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
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
        double bb = fg_dec_to_double(g->billed), ee = fg_dec_to_double(g->effective);
        double mx = (bb < 0 ? -bb : bb) > (ee < 0 ? -ee : ee) ? (bb < 0 ? -bb : bb) : (ee < 0 ? -ee : ee);
        double d = bb - ee;
        if (mx > 0 && (d < 0 ? -d : d) / mx > 0.03)
            warn_add(w, "%s: effective total %s and billed total %s differ by %.1f%% (commitments amortized, or purchases/credits)",
                     cl, money(g->effective, 2, a), money(g->billed, 2, b), (d < 0 ? -d : d) / mx * 100);
    }
}

static void json_group(const state *st, const group *g, long top) {
    char a[FG_DEC_STR_MAX];
    printf("\"currency\":");
    json_str(g->currency, strlen(g->currency));
    printf(",\"rows\":%llu,\"total\":%s,\"billed_total\":%s,\"effective_total\":%s,\"buckets\":[",
           (unsigned long long)g->rows, money(g->total, 6, a), money(g->billed, 6, a), money(g->effective, 6, a));
    for (int i = 0; i < FG_BUCKET_COUNT; i++)
        printf("%s{\"bucket\":\"%s\",\"cost\":%s,\"share\":%.6f}", i ? "," : "", fg_bucket_name((fg_bucket)i),
               money(g->bucket[i], 6, a), share(g->bucket[i], g->total));
    printf("],\"by_service\":[");
    ent **v = map_sorted(&g->svc);
    for (size_t i = 0; v && i < g->svc.n; i++) {
        fg_str p = part(v[i], 0), s = part(v[i], 1);
        printf("%s{\"provider\":", i ? "," : "");
        json_str(p.p, p.n);
        printf(",\"service\":");
        json_str(s.p, s.n);
        printf(",\"cost\":%s,\"share\":%.6f}", money(v[i]->v, 6, a), share(v[i]->v, g->total));
    }
    free(v);
    printf("]");
    if (st->by_kind) {
        printf(",\"by\":[");
        v = map_sorted(&g->by);
        for (size_t i = 0; v && i < g->by.n; i++) {
            printf("%s{\"key\":", i ? "," : "");
            json_str(v[i]->key, v[i]->klen);
            printf(",\"cost\":%s,\"share\":%.6f}", money(v[i]->v, 6, a), share(v[i]->v, g->total));
        }
        free(v);
        printf("]");
    }
    printf(",\"top_drivers\":[");
    v = map_sorted(&g->drv);
    for (size_t i = 0; v && i < g->drv.n && (long)i < top; i++) {
        fg_str p = part(v[i], 0), s = part(v[i], 1), r = part(v[i], 2);
        printf("%s{\"provider\":", i ? "," : "");
        json_str(p.p, p.n);
        printf(",\"service\":");
        json_str(s.p, s.n);
        printf(",\"resource_id\":");
        json_str(r.p, r.n);
        printf(",\"cost\":%s,\"share\":%.6f}", money(v[i]->v, 6, a), share(v[i]->v, g->total));
    }
    free(v);
    printf("]");
}

/* printf "%.*s" arguments of s, or of dflt when s is empty */
#define OR(s, dflt) ((s).n ? (int)(s).n : (int)strlen(dflt)), ((s).n ? (s).p : (dflt))

static void text_group(const state *st, const group *g, long top) {
    char a[FG_DEC_STR_MAX];
    const char *cl = cur_label(g);
    const char *basis = st->effective ? "effective" : "billed";
    ent **v = map_sorted(&g->drv);
    size_t nt = (size_t)top < g->drv.n ? (size_t)top : g->drv.n;
    if (top > 0) {
        printf("Top %zu cost drivers (%s cost, %s):\n", nt, basis, cl);
        for (size_t i = 0; v && i < nt; i++) {
            fg_str p = part(v[i], 0), s = part(v[i], 1), r = part(v[i], 2);
            printf("  %zu. %.*s / %.*s / %.*s  %s  %.1f%%\n", i + 1, OR(p, "(no provider)"), OR(s, "(no service)"),
                   OR(r, "(no resource)"), money(v[i]->v, 2, a), share(v[i]->v, g->total) * 100);
        }
    }
    free(v);
    printf("\nTotal (%s cost): %s %s over %llu rows\n", basis, money(g->total, 2, a), cl, (unsigned long long)g->rows);
    printf("\nML lifecycle buckets:\n");
    for (int i = 0; i < FG_BUCKET_COUNT; i++)
        printf("  %-17s %16s  %5.1f%%%s\n", fg_bucket_name((fg_bucket)i), money(g->bucket[i], 2, a),
               share(g->bucket[i], g->total) * 100, i == FG_BUCKET_OTHER ? "  (unallocated)" : "");
    if (st->by_kind == 0) {
        printf("\nBy service:\n");
        v = map_sorted(&g->svc);
        for (size_t i = 0; v && i < g->svc.n; i++) {
            fg_str p = part(v[i], 0), s = part(v[i], 1);
            printf("  %-13.*s %-45.*s %16s  %5.1f%%\n", OR(p, "(no provider)"), OR(s, "(no service)"), money(v[i]->v, 2, a),
                   share(v[i]->v, g->total) * 100);
        }
    } else {
        printf("\nBy %s%s%s:\n", by_label(st), st->by_kind == 5 ? " " : "", st->by_kind == 5 ? st->by_tag : "");
        v = map_sorted(&g->by);
        for (size_t i = 0; v && i < g->by.n; i++)
            printf("  %-59.*s %16s  %5.1f%%\n", OR(((fg_str){v[i]->key, v[i]->klen}), "(none)"),
                   money(v[i]->v, 2, a), share(v[i]->v, g->total) * 100);
    }
    free(v);
}

static int parse_date(const char *s, int64_t *t) {
    return fg_bill_parse_time(s, strlen(s), t) == 1 ? 0 : -1;
}

static int usage_err(const char *fmt, const char *arg) {
    fprintf(stderr, "frugal cost: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see frugal cost --help)\n");
    return 2;
}

int fg_cmd_cost(int argc, char **argv) {
    static const struct option opts[] = {
        {"basis", required_argument, 0, 'b'}, {"format", required_argument, 0, 'f'}, {"rules", required_argument, 0, 'r'},
        {"top", required_argument, 0, 't'},   {"by", required_argument, 0, 'y'},     {"from", required_argument, 0, 'F'},
        {"to", required_argument, 0, 'T'},    {"strict", no_argument, 0, 's'},       {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    state st = {.effective = true};
    const char *format = NULL, *rules_path = NULL;
    long top = 3;
    bool strict = false, json = false, has_from = false, has_to = false;
    int64_t from = 0, to = 0;
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
    fg_err e = {0};
    fg_rules rules;
    int rc = rules_path ? fg_rules_load(rules_path, &rules, &e)
                        : fg_rules_parse(fg_rules_default, strlen(fg_rules_default), "built-in rules", &rules, &e);
    if (rc) {
        fprintf(stderr, "frugal cost: %s\n", e.msg);
        return 2;
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
    if (status == 0) {
        warnings w = {0};
        char a[FG_DEC_STR_MAX];
        if (st.ng > 1)
            warn_add(&w, "%zu currencies: totals are per currency, never added", st.ng);
        if (skipped)
            warn_add(&w, "%llu malformed rows skipped", (unsigned long long)skipped);
        for (size_t i = 0; i < st.ng; i++)
            group_warnings(&st, &st.g[i], &w);
        /* the main group: most rows */
        size_t mg = 0;
        for (size_t i = 1; i < st.ng; i++)
            if (st.g[i].rows > st.g[mg].rows)
                mg = i;
        if (json) {
            printf("{\"basis\":\"%s\",\"formats\":[", st.effective ? "effective" : "billed");
            for (int i = 0; formats && i < argc - optind; i++) {
                printf("%s", i ? "," : "");
                json_str(formats[i] ? formats[i] : "", formats[i] ? strlen(formats[i]) : 0);
            }
            printf("],\"rows_read\":%llu,\"rows_used\":%llu,\"rows_skipped\":%llu,\"rows_out_of_range\":%llu,",
                   (unsigned long long)read, (unsigned long long)used, (unsigned long long)skipped,
                   (unsigned long long)out_of_range);
            if (st.by_kind) {
                printf("\"by_key\":");
                char lab[256];
                snprintf(lab, sizeof lab, "%s%s%s", by_label(&st), st.by_kind == 5 ? ":" : "", st.by_kind == 5 ? st.by_tag : "");
                json_str(lab, strlen(lab));
                printf(",");
            }
            if (st.ng == 0) {
                printf("\"currency\":\"\",\"rows\":0,\"total\":0.000000,\"buckets\":[],\"by_service\":[],\"top_drivers\":[]");
            } else {
                json_group(&st, &st.g[mg], top);
            }
            printf(",\"other_currencies\":[");
            int first = 1;
            for (size_t i = 0; i < st.ng; i++) {
                if (i == mg)
                    continue;
                printf("%s{", first ? "" : ",");
                first = 0;
                json_group(&st, &st.g[i], top);
                printf("}");
            }
            printf("],\"warnings\":[");
            for (size_t i = 0; i < w.n; i++) {
                printf("%s", i ? "," : "");
                json_str(w.w[i], strlen(w.w[i]));
            }
            printf("]}\n");
        } else {
            if (st.ng == 0)
                printf("No rows used.\n");
            for (size_t k = 0; k < st.ng; k++) {
                size_t i = k == 0 ? mg : (k <= mg ? k - 1 : k);
                if (k)
                    printf("\n---- currency %s ----\n", cur_label(&st.g[i]));
                text_group(&st, &st.g[i], top);
            }
            printf("\nRows: %llu read, %llu used, %llu skipped (malformed), %llu outside --from/--to\n",
                   (unsigned long long)read, (unsigned long long)used, (unsigned long long)skipped,
                   (unsigned long long)out_of_range);
            printf("Formats:");
            for (int i = 0; formats && i < argc - optind; i++)
                printf(" %s (%s)", formats[i] ? formats[i] : "?", argv[optind + i]);
            printf("\n");
            if (w.n) {
                printf("Warnings:\n");
                for (size_t i = 0; i < w.n; i++)
                    printf("  - %s\n", w.w[i]);
            }
            (void)a;
        }
        for (size_t i = 0; i < w.n; i++)
            free(w.w[i]);
        free(w.w);
    }
    for (int i = 0; formats && i < argc - optind; i++)
        free(formats[i]);
    free(formats);
    for (size_t i = 0; i < st.ng; i++) {
        free(st.g[i].currency);
        map_free(&st.g[i].svc);
        map_free(&st.g[i].by);
        map_free(&st.g[i].drv);
    }
    free(st.g);
    free(st.kbuf);
    fg_rules_free(&rules);
    return status;
}
