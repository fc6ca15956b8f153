/* metrics.c - the metric registry (families, labelled series) and its Prometheus text exposition.
 * Registration and scrapes take the registry mutex; recording never does: values are doubles stored as
 * bit patterns in atomics (CAS loops for add), histogram buckets are relaxed atomic counters. Series are
 * allocated one by one so their handles stay valid while the family's pointer array grows. */
#include "serve/metrics.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

/* from 100 us: a small model answers a request in a few hundred microseconds, and quantiles interpolate
 * inside buckets, so a first bucket of 500 us would hide its whole latency distribution */
const double FG_METRICS_LATENCY_BUCKETS[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
const size_t FG_METRICS_N_LATENCY_BUCKETS = sizeof FG_METRICS_LATENCY_BUCKETS / sizeof(double);
const double FG_METRICS_BATCH_BUCKETS[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
const size_t FG_METRICS_N_BATCH_BUCKETS = sizeof FG_METRICS_BATCH_BUCKETS / sizeof(double);

struct fg_metric {
    fg_metric_family *fam;
    char **values;             /* fam->n_labels copies */
    _Atomic uint64_t val;      /* counter/gauge value as double bits */
    _Atomic uint64_t sum;      /* histogram sum as double bits */
    _Atomic uint64_t *buckets; /* histogram: n_bounds + 1 non-cumulative counts, the last is +Inf */
};

struct fg_metric_family {
    fg_metrics *reg;
    fg_metric_type type;
    char *name, *help;
    char *labels[FG_METRICS_MAX_LABELS];
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    fg_metric **series;
    size_t n_series, cap_series;
};

typedef struct collector {
    void (*collect_cb)(void *ctx);
    void *ctx;
} collector;

typedef struct proc_state {
    fg_metric *cpu, *rss, *start, *uptime, *price, *cost;
    double price_per_hour;
    uint64_t start_boot_ns; /* process start on CLOCK_BOOTTIME */
} proc_state;

struct fg_metrics {
    pthread_mutex_t lock;
    fg_metric_family **fams;
    size_t n_fams, cap_fams;
    collector *colls;
    size_t n_colls, cap_colls;
    proc_state *proc;
};

static double from_bits(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static uint64_t to_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static void atomic_add_double(_Atomic uint64_t *a, double v) {
    uint64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &cur, to_bits(from_bits(cur) + v), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

fg_metrics *fg_metrics_new(void) {
    fg_metrics *r = fg_xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void series_free(fg_metric *m, size_t n_labels) {
    for (size_t i = 0; i < n_labels; i++) free(m->values[i]);
    free(m->values);
    free((void *)m->buckets);
    free(m);
}

void fg_metrics_free(fg_metrics *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n_fams; i++) {
        fg_metric_family *f = r->fams[i];
        for (size_t j = 0; j < f->n_series; j++) series_free(f->series[j], f->n_labels);
        for (size_t j = 0; j < f->n_labels; j++) free(f->labels[j]);
        free(f->series);
        free(f->bounds);
        free(f->name);
        free(f->help);
        free(f);
    }
    free(r->fams);
    free(r->colls);
    free(r->proc);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static int valid_name(const char *s, int is_label) {
    if (!s || !*s) return 0;
    if (is_label && s[0] == '_' && s[1] == '_') return 0; /* reserved for Prometheus */
    for (const char *p = s; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!is_label && c == ':') ||
                 (p != s && c >= '0' && c <= '9');
        if (!ok) return 0;
    }
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static fg_metric_family *find_locked(fg_metrics *r, const char *name) {
    for (size_t i = 0; i < r->n_fams; i++)
        if (strcmp(r->fams[i]->name, name) == 0) return r->fams[i];
    return NULL;
}

static fg_metric *series_new(fg_metric_family *f, const char *const *values) {
    fg_metric *m = fg_xcalloc(1, sizeof *m);
    m->fam = f;
    m->values = fg_xcalloc(f->n_labels ? f->n_labels : 1, sizeof *m->values);
    for (size_t i = 0; i < f->n_labels; i++) m->values[i] = fg_xstrdup(values[i]);
    if (f->type == FG_METRIC_HISTOGRAM) m->buckets = fg_xcalloc(f->n_bounds + 1, sizeof *m->buckets);
    atomic_store_explicit(&m->val, to_bits(0.0), memory_order_relaxed);
    atomic_store_explicit(&m->sum, to_bits(0.0), memory_order_relaxed);
    if (f->n_series == f->cap_series) {
        f->cap_series = f->cap_series ? 2 * f->cap_series : 4;
        f->series = fg_xrealloc(f->series, f->cap_series * sizeof *f->series);
    }
    f->series[f->n_series++] = m;
    return m;
}

static fg_metric_family *family_add(fg_metrics *r, fg_metric_type type, const char *name, const char *help,
                                    const char *const *label_names, size_t n_labels, const double *bounds,
                                    size_t n_bounds, fg_err *e) {
    if (!valid_name(name, 0)) {
        fg_err_set(e, FG_EINVAL, "metric name '%s' is not a valid Prometheus name", name ? name : "(null)");
        return NULL;
    }
    if (type == FG_METRIC_COUNTER && !ends_with(name, "_total")) {
        fg_err_set(e, FG_EINVAL, "counter '%s' must be named *_total", name);
        return NULL;
    }
    if (type != FG_METRIC_COUNTER && ends_with(name, "_total")) {
        fg_err_set(e, FG_EINVAL, "only counters may be named *_total ('%s')", name);
        return NULL;
    }
    if (n_labels > FG_METRICS_MAX_LABELS || (n_labels && !label_names)) {
        fg_err_set(e, FG_EINVAL, "metric '%s': bad label list (%zu labels)", name, n_labels);
        return NULL;
    }
    for (size_t i = 0; i < n_labels; i++) {
        if (!valid_name(label_names[i], 1) || (type == FG_METRIC_HISTOGRAM && !strcmp(label_names[i], "le"))) {
            fg_err_set(e, FG_EINVAL, "metric '%s': bad label name '%s'", name,
                       label_names[i] ? label_names[i] : "(null)");
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(label_names[i], label_names[j])) {
                fg_err_set(e, FG_EINVAL, "metric '%s': label '%s' given twice", name, label_names[i]);
                return NULL;
            }
    }
    if (type == FG_METRIC_HISTOGRAM) {
        if (!bounds || n_bounds == 0) {
            fg_err_set(e, FG_EINVAL, "histogram '%s' needs at least one bucket bound", name);
            return NULL;
        }
        for (size_t i = 0; i < n_bounds; i++)
            if (!isfinite(bounds[i]) || (i && !(bounds[i] > bounds[i - 1]))) {
                fg_err_set(e, FG_EINVAL, "histogram '%s': bounds must be finite and strictly increasing", name);
                return NULL;
            }
    }
    pthread_mutex_lock(&r->lock);
    if (find_locked(r, name)) {
        pthread_mutex_unlock(&r->lock);
        fg_err_set(e, FG_EINVAL, "metric '%s' is already registered", name);
        return NULL;
    }
    fg_metric_family *f = fg_xcalloc(1, sizeof *f);
    f->reg = r;
    f->type = type;
    f->name = fg_xstrdup(name);
    f->help = fg_xstrdup(help ? help : "");
    f->n_labels = n_labels;
    for (size_t i = 0; i < n_labels; i++) f->labels[i] = fg_xstrdup(label_names[i]);
    if (type == FG_METRIC_HISTOGRAM) {
        f->bounds = fg_xmalloc(n_bounds * sizeof *f->bounds);
        memcpy(f->bounds, bounds, n_bounds * sizeof *f->bounds);
        f->n_bounds = n_bounds;
    }
    if (n_labels == 0) series_new(f, NULL);
    if (r->n_fams == r->cap_fams) {
        r->cap_fams = r->cap_fams ? 2 * r->cap_fams : 16;
        r->fams = fg_xrealloc(r->fams, r->cap_fams * sizeof *r->fams);
    }
    r->fams[r->n_fams++] = f;
    pthread_mutex_unlock(&r->lock);
    return f;
}

fg_metric_family *fg_metrics_counter(fg_metrics *r, const char *name, const char *help,
                                     const char *const *label_names, size_t n_labels, fg_err *e) {
    return family_add(r, FG_METRIC_COUNTER, name, help, label_names, n_labels, NULL, 0, e);
}

fg_metric_family *fg_metrics_gauge(fg_metrics *r, const char *name, const char *help,
                                   const char *const *label_names, size_t n_labels, fg_err *e) {
    return family_add(r, FG_METRIC_GAUGE, name, help, label_names, n_labels, NULL, 0, e);
}

fg_metric_family *fg_metrics_histogram(fg_metrics *r, const char *name, const char *help,
                                       const char *const *label_names, size_t n_labels, const double *bounds,
                                       size_t n_bounds, fg_err *e) {
    return family_add(r, FG_METRIC_HISTOGRAM, name, help, label_names, n_labels, bounds, n_bounds, e);
}

fg_metric_family *fg_metrics_find(fg_metrics *r, const char *name) {
    pthread_mutex_lock(&r->lock);
    fg_metric_family *f = find_locked(r, name);
    pthread_mutex_unlock(&r->lock);
    return f;
}

fg_metric *fg_metrics_series(fg_metric_family *f, const char *const *label_values, fg_err *e) {
    if (f->n_labels && !label_values) {
        fg_err_set(e, FG_EINVAL, "metric '%s' needs %zu label values", f->name, f->n_labels);
        return NULL;
    }
    for (size_t i = 0; i < f->n_labels; i++)
        if (!label_values[i]) {
            fg_err_set(e, FG_EINVAL, "metric '%s': label '%s' has no value", f->name, f->labels[i]);
            return NULL;
        }
    pthread_mutex_lock(&f->reg->lock);
    fg_metric *m = NULL;
    for (size_t s = 0; s < f->n_series && !m; s++) {
        size_t i = 0;
        while (i < f->n_labels && !strcmp(f->series[s]->values[i], label_values[i])) i++;
        if (i == f->n_labels) m = f->series[s];
    }
    if (!m) m = series_new(f, label_values);
    pthread_mutex_unlock(&f->reg->lock);
    return m;
}

void fg_metric_inc(fg_metric *m) { fg_metric_add(m, 1.0); }

void fg_metric_add(fg_metric *m, double v) {
    assert(m->fam->type != FG_METRIC_HISTOGRAM);
    assert(m->fam->type != FG_METRIC_COUNTER || v >= 0);
    atomic_add_double(&m->val, v);
}

void fg_metric_set(fg_metric *m, double v) {
    assert(m->fam->type != FG_METRIC_HISTOGRAM);
    atomic_store_explicit(&m->val, to_bits(v), memory_order_relaxed);
}

void fg_metric_observe(fg_metric *m, double v) {
    const fg_metric_family *f = m->fam;
    assert(f->type == FG_METRIC_HISTOGRAM);
    size_t lo = 0, hi = f->n_bounds; /* first bound >= v, or n_bounds (+Inf) */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= f->bounds[mid]) hi = mid;
        else lo = mid + 1;
    }
    atomic_fetch_add_explicit(&m->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&m->sum, v);
}

double fg_metric_value(const fg_metric *m) {
    fg_metric *w = (fg_metric *)m; /* C17 atomic loads take non-const pointers */
    if (m->fam->type != FG_METRIC_HISTOGRAM) return from_bits(atomic_load_explicit(&w->val, memory_order_relaxed));
    uint64_t n = 0;
    for (size_t i = 0; i <= m->fam->n_bounds; i++) n += atomic_load_explicit(&w->buckets[i], memory_order_relaxed);
    return (double)n;
}

double fg_metric_hist_sum(const fg_metric *m) {
    assert(m->fam->type == FG_METRIC_HISTOGRAM);
    return from_bits(atomic_load_explicit(&((fg_metric *)m)->sum, memory_order_relaxed));
}

uint64_t fg_metric_hist_bucket(const fg_metric *m, size_t i) {
    assert(m->fam->type == FG_METRIC_HISTOGRAM && i <= m->fam->n_bounds);
    return atomic_load_explicit(&((fg_metric *)m)->buckets[i], memory_order_relaxed);
}

int fg_metrics_add_collector(fg_metrics *r, void (*collect_cb)(void *ctx), void *ctx) {
    pthread_mutex_lock(&r->lock);
    if (r->n_colls == r->cap_colls) {
        r->cap_colls = r->cap_colls ? 2 * r->cap_colls : 4;
        r->colls = fg_xrealloc(r->colls, r->cap_colls * sizeof *r->colls);
    }
    r->colls[r->n_colls++] = (collector){collect_cb, ctx};
    pthread_mutex_unlock(&r->lock);
    return 0;
}

/* ---- exposition ---- */

typedef struct writer {
    fg_metrics_buf *b;
    int err;
} writer;

static void put(writer *w, const char *s, size_t len) {
    if (w->err) return;
    fg_metrics_buf *b = w->b;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1) cap *= 2;
        char *p = realloc(b->data, cap); /* scrape-sized: fail the scrape, not the process */
        if (!p) {
            w->err = FG_ENOMEM;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static void puts_(writer *w, const char *s) { put(w, s, strlen(s)); }

/* Shortest of %.15g / %.17g that reads back as v; Prometheus spellings for the non-finite values. */
static void put_double(writer *w, double v) {
    char s[40];
    if (isnan(v)) snprintf(s, sizeof s, "NaN");
    else if (isinf(v)) snprintf(s, sizeof s, v > 0 ? "+Inf" : "-Inf");
    else {
        snprintf(s, sizeof s, "%.15g", v);
        if (strtod(s, NULL) != v) snprintf(s, sizeof s, "%.17g", v);
    }
    puts_(w, s);
}

static void put_u64(writer *w, uint64_t v) {
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    puts_(w, s);
}

/* Escapes \ and newline, and " too when in a label value. */
static void put_escaped(writer *w, const char *s, int quote) {
    const char *run = s;
    for (; *s; s++) {
        const char *rep = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : (quote && *s == '"') ? "\\\"" : NULL;
        if (!rep) continue;
        put(w, run, (size_t)(s - run));
        puts_(w, rep);
        run = s + 1;
    }
    put(w, run, (size_t)(s - run));
}

/* name{l1="v1",...[,le="bound"]}. Labels whose value is empty are left out: to Prometheus an empty label
 * is no label, and leaving it out keeps optional labels (the A/B `variant` of versions in no test) from
 * changing the exposition of series that do not use them. */
static void put_series_name(writer *w, const fg_metric *m, const char *suffix, const char *le) {
    const fg_metric_family *f = m->fam;
    puts_(w, f->name);
    puts_(w, suffix);
    size_t shown = 0;
    for (size_t i = 0; i < f->n_labels; i++) shown += m->values[i][0] != 0;
    if (shown == 0 && !le) return;
    puts_(w, "{");
    size_t k = 0;
    for (size_t i = 0; i < f->n_labels; i++) {
        if (!m->values[i][0]) continue;
        if (k++) puts_(w, ",");
        puts_(w, f->labels[i]);
        puts_(w, "=\"");
        put_escaped(w, m->values[i], 1);
        puts_(w, "\"");
    }
    if (le) {
        if (shown) puts_(w, ",");
        puts_(w, "le=\"");
        puts_(w, le);
        puts_(w, "\"");
    }
    puts_(w, "}");
}

static void write_family(writer *w, const fg_metric_family *f) {
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    puts_(w, "# HELP ");
    puts_(w, f->name);
    puts_(w, " ");
    put_escaped(w, f->help, 0);
    puts_(w, "\n# TYPE ");
    puts_(w, f->name);
    puts_(w, " ");
    puts_(w, type_names[f->type]);
    puts_(w, "\n");
    for (size_t s = 0; s < f->n_series; s++) {
        fg_metric *m = f->series[s];
        if (f->type != FG_METRIC_HISTOGRAM) {
            put_series_name(w, m, "", NULL);
            puts_(w, " ");
            put_double(w, from_bits(atomic_load_explicit(&m->val, memory_order_relaxed)));
            puts_(w, "\n");
            continue;
        }
        uint64_t cum = 0;
        for (size_t i = 0; i <= f->n_bounds; i++) {
            cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
            char le[40];
            if (i == f->n_bounds) snprintf(le, sizeof le, "+Inf");
            else {
                snprintf(le, sizeof le, "%.15g", f->bounds[i]);
                if (strtod(le, NULL) != f->bounds[i]) snprintf(le, sizeof le, "%.17g", f->bounds[i]);
            }
            put_series_name(w, m, "_bucket", le);
            puts_(w, " ");
            put_u64(w, cum);
            puts_(w, "\n");
        }
        put_series_name(w, m, "_sum", NULL);
        puts_(w, " ");
        put_double(w, from_bits(atomic_load_explicit(&m->sum, memory_order_relaxed)));
        puts_(w, "\n");
        put_series_name(w, m, "_count", NULL);
        puts_(w, " ");
        put_u64(w, cum); /* equal to the +Inf bucket by construction, even mid-recording */
        puts_(w, "\n");
    }
}

int fg_metrics_write(fg_metrics *r, fg_metrics_buf *b) {
    writer w = {b, 0};
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n_colls; i++) r->colls[i].collect_cb(r->colls[i].ctx);
    for (size_t i = 0; i < r->n_fams && !w.err; i++) write_family(&w, r->fams[i]);
    pthread_mutex_unlock(&r->lock);
    return w.err;
}

void fg_metrics_buf_free(fg_metrics_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- process metrics and cost ---- */

static uint64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Process start on CLOCK_BOOTTIME from /proc/self/stat field 22 (starttime, clock ticks since boot);
 * 0 when unavailable. */
static uint64_t proc_start_boot_ns(void) {
    char buf[1024];
    FILE *fp = fopen("/proc/self/stat", "r");
    if (!fp) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p) return 0;
    p++;
    /* after ')' come fields 3 (state) .. ; starttime is field 22 */
    for (int field = 3; field < 22; field++) {
        while (*p == ' ') p++;
        while (*p && *p != ' ') p++;
    }
    char *end;
    unsigned long long ticks = strtoull(p, &end, 10);
    long hz = sysconf(_SC_CLK_TCK);
    if (end == p || hz <= 0) return 0;
    return (uint64_t)((double)ticks * 1e9 / (double)hz);
}

static double rss_bytes(void) {
    FILE *fp = fopen("/proc/self/statm", "r");
    if (!fp) return 0;
    unsigned long long size = 0, resident = 0;
    int n = fscanf(fp, "%llu %llu", &size, &resident);
    fclose(fp);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (double)resident * (double)page : 0;
}

static void proc_collect(void *ctx) {
    proc_state *p = ctx;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        fg_metric_set(p->cpu, (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                                  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    fg_metric_set(p->rss, rss_bytes());
    uint64_t now = clock_ns(CLOCK_BOOTTIME);
    double up = now > p->start_boot_ns ? (double)(now - p->start_boot_ns) / 1e9 : 0;
    fg_metric_set(p->uptime, up);
    fg_metric_set(p->cost, p->price_per_hour * up / 3600.0);
}

int fg_metrics_process_register(fg_metrics *r, double price_per_hour, fg_err *e) {
    if (!isfinite(price_per_hour) || price_per_hour < 0)
        return fg_err_set(e, FG_EINVAL, "price per hour must be a finite number >= 0");
    if (r->proc) return fg_err_set(e, FG_EINVAL, "process metrics are already registered");
    fg_metric_family *cpu = fg_metrics_counter(r, "frugal_process_cpu_seconds_total",
                                               "Total user and system CPU time spent in seconds.", NULL, 0, e);
    fg_metric_family *rss = fg_metrics_gauge(r, "frugal_process_resident_memory_bytes",
                                             "Resident memory size in bytes.", NULL, 0, e);
    fg_metric_family *start = fg_metrics_gauge(r, "frugal_process_start_time_seconds",
                                               "Start time of the process since unix epoch in seconds.", NULL, 0, e);
    fg_metric_family *up = fg_metrics_gauge(r, "frugal_uptime_seconds", "Seconds since the process started.",
                                            NULL, 0, e);
    fg_metric_family *price = fg_metrics_gauge(r, "frugal_price_per_hour_usd",
                                               "Configured price of this server per hour in USD (--price-per-hour).",
                                               NULL, 0, e);
    fg_metric_family *cost = fg_metrics_counter(
        r, "frugal_cost_usd_total", "Running cost of this server in USD: price_per_hour_usd * uptime_seconds / 3600.",
        NULL, 0, e);
    if (!cpu || !rss || !start || !up || !price || !cost) return e ? e->code : FG_EINVAL;
    proc_state *p = fg_xcalloc(1, sizeof *p);
    p->cpu = fg_metrics_series(cpu, NULL, e);
    p->rss = fg_metrics_series(rss, NULL, e);
    p->start = fg_metrics_series(start, NULL, e);
    p->uptime = fg_metrics_series(up, NULL, e);
    p->price = fg_metrics_series(price, NULL, e);
    p->cost = fg_metrics_series(cost, NULL, e);
    p->price_per_hour = price_per_hour;
    uint64_t now_boot = clock_ns(CLOCK_BOOTTIME);
    p->start_boot_ns = proc_start_boot_ns();
    if (p->start_boot_ns == 0 || p->start_boot_ns > now_boot) p->start_boot_ns = now_boot;
    double start_unix = (double)clock_ns(CLOCK_REALTIME) / 1e9 - (double)(now_boot - p->start_boot_ns) / 1e9;
    fg_metric_set(p->start, start_unix);
    fg_metric_set(p->price, price_per_hour);
    r->proc = p;
    fg_metrics_add_collector(r, proc_collect, p);
    return 0;
}
