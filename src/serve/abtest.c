/* abtest.c - A/B tests: spec parsing, sticky weighted routing, the feedback ring, accuracy statistics,
 * guardrails with rollback, and the JSON report (see abtest.h). */
#include "serve/abtest.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/json.h"
#include "core/log.h"
#include "serve/kpi.h"

enum { SLOT_EMPTY = 0, SLOT_PENDING = 1, SLOT_DONE = 2 };

typedef struct ring_slot {
    uint64_t idh;
    int32_t pred;
    uint8_t var, state;
} ring_slot;

typedef struct variant {
    fg_ab_variant_spec spec;
    double weight;                /* current; under the test's mutex */
    fg_kpi *kpi;                  /* routed requests: latency and outcome over the window */
    uint64_t requests;            /* routed requests answered (atomic) */
    uint64_t feedback;
    double correct;
    int rolled_back;
    const char *reason;           /* "accuracy" / "latency" while rolled_back */
    uint64_t slo_over_since_ns;   /* 0: p99 within the SLO at the last check */
    int vetoed;                   /* a rollback was skipped as the variant takes all traffic (logged once) */
    fg_metric *m_weight, *m_requests, *m_feedback, *m_correct, *m_rollback[2];
} variant;

struct fg_ab {
    fg_abset *set;
    char name[FG_AB_MODEL_MAX];
    char header[64];
    pthread_mutex_t mu;
    variant v[FG_AB_MAX_VARIANTS];
    size_t n;
    ring_slot *ring;
    size_t ring_cap, ring_next, ring_used;
    uint64_t pending, dropped;
    fg_metric *m_dropped;
};

struct fg_abset {
    fg_ab *t[FG_AB_MAX_TESTS];
    size_t n;
    fg_ab_opts o;
    char header[64];
    pthread_t thr;
    int thr_started, stop;
    pthread_mutex_t smu;
    pthread_cond_t scond;
};

static const char *const reasons[2] = {"accuracy", "latency"};

/* ---- pure parts ---- */

uint64_t fg_ab_hash(const void *s, size_t n) {
    const unsigned char *p = s;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    /* splitmix64 finalizer: FNV alone leaves ids that differ in the last byte close together */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

int fg_ab_pick(const double *w, size_t n, uint64_t h) {
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i] > 0 ? w[i] : 0;
    if (!(total > 0))
        return 0;
    double u = (double)(h >> 11) * 0x1.0p-53 * total, acc = 0;
    int last = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(w[i] > 0))
            continue;
        last = (int)i;
        acc += w[i];
        if (u < acc)
            return (int)i;
    }
    return last; /* rounding at the top end */
}

void fg_ab_wilson(double k, double n, double z, double *lo, double *hi) {
    if (!(n > 0)) {
        *lo = 0, *hi = 1;
        return;
    }
    double p = k / n, z2 = z * z, den = 1 + z2 / n;
    double c = (p + z2 / (2 * n)) / den;
    double h = z / den * sqrt(p * (1 - p) / n + z2 / (4 * n * n));
    /* exact at the ends: rounding would otherwise leave 1e-17 above 0 for k = 0 */
    *lo = k <= 0 || c - h < 0 ? 0 : c - h;
    *hi = k >= n || c + h > 1 ? 1 : c + h;
}

int fg_ab_ztest(double k0, double n0, double k1, double n1, double *z, double *p) {
    *z = 0, *p = 1;
    if (!(n0 > 0) || !(n1 > 0))
        return -1;
    double p0 = k0 / n0, p1 = k1 / n1, pp = (k0 + k1) / (n0 + n1);
    double se = sqrt(pp * (1 - pp) * (1 / n0 + 1 / n1));
    if (!(se > 0))
        return -1;
    *z = (p1 - p0) / se;
    *p = erfc(fabs(*z) / sqrt(2.0));
    return 0;
}

double fg_ab_cost_per_1k(double price_per_hour, double window_s, double busy_v, double busy_all,
                         uint64_t version_requests) {
    if (!(price_per_hour > 0) || !(window_s > 0) || !(busy_all > 0) || version_requests == 0 || !(busy_v >= 0))
        return 0;
    return 1000.0 * price_per_hour / 3600.0 * window_s * (busy_v / busy_all) / (double)version_requests;
}

void fg_ab_verdict(char *buf, size_t cap, const char *name, const char *cname, double n0, double n1, int tested,
                   double z, double p) {
    if (n1 <= 0 || n0 <= 0)
        snprintf(buf, cap, "no feedback yet (n=%.0f)", n0 + n1);
    else if (tested && p < 0.05)
        snprintf(buf, cap, "%s is %s than %s (p=%.3g)", name, z < 0 ? "worse" : "better", cname, p);
    else
        snprintf(buf, cap, "no significant difference yet (n=%.0f)", n0 + n1);
}

static int name_char(int c) { return isalnum(c) || c == '_' || c == '-' || c == '.'; }

static int copy_name(char *dst, size_t cap, const char *s, size_t n, const char *what, fg_err *e) {
    if (n == 0 || n >= cap)
        return fg_err_set(e, FG_EINVAL, "%s must be 1..%zu characters", what, cap - 1);
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)s[i]))
            return fg_err_set(e, FG_EINVAL, "%s '%.*s' may hold only letters, digits, '_', '-' and '.'", what,
                              (int)n, s);
    memcpy(dst, s, n);
    dst[n] = 0;
    return 0;
}

static int parse_i64(const char *s, size_t n, int64_t *out) {
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return v > 0 ? 0 : -1;
}

int fg_ab_parse(const char *arg, fg_ab_spec *out, fg_err *e) {
    memset(out, 0, sizeof *out);
    const char *eq = strchr(arg, '=');
    if (!eq)
        return fg_err_set(e, FG_EINVAL, "--abtest needs NAME=VARIANT:WEIGHT,..., got '%s'", arg);
    if (copy_name(out->model, sizeof out->model, arg, (size_t)(eq - arg), "the A/B test's model name", e) < 0)
        return FG_EINVAL;
    const char *s = eq + 1;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (out->n == FG_AB_MAX_VARIANTS)
            return fg_err_set(e, FG_EINVAL, "--abtest %s: at most %d variants", out->model, FG_AB_MAX_VARIANTS);
        fg_ab_variant_spec *v = &out->v[out->n];
        const char *colon = memchr(s, ':', len);
        if (!colon)
            return fg_err_set(e, FG_EINVAL, "--abtest %s: variant '%.*s' needs ':WEIGHT'", out->model, (int)len, s);
        char wbuf[32];
        size_t wl = len - (size_t)(colon + 1 - s);
        if (wl == 0 || wl >= sizeof wbuf)
            return fg_err_set(e, FG_EINVAL, "--abtest %s: bad weight in '%.*s'", out->model, (int)len, s);
        memcpy(wbuf, colon + 1, wl);
        wbuf[wl] = 0;
        char *we;
        errno = 0;
        v->weight = strtod(wbuf, &we);
        if (errno || *we || !isfinite(v->weight) || v->weight < 0)
            return fg_err_set(e, FG_EINVAL, "--abtest %s: weight '%s' must be a number >= 0", out->model, wbuf);
        const char *t = s;
        size_t tl = (size_t)(colon - s);
        const char *at = memchr(s, '@', tl);
        if (at) {
            if (copy_name(v->name, sizeof v->name, s, (size_t)(at - s), "a variant name", e) < 0)
                return FG_EINVAL;
            tl -= (size_t)(at + 1 - s);
            t = at + 1;
        }
        int64_t ver;
        const char *slash = memchr(t, '/', tl);
        if (parse_i64(t, tl, &ver) == 0) { /* a version of the test's own model */
            memcpy(v->model, out->model, sizeof v->model);
            v->version = ver;
            if (!at)
                snprintf(v->name, sizeof v->name, "v%lld", (long long)ver);
        } else {
            size_t ml = slash ? (size_t)(slash - t) : tl;
            if (copy_name(v->model, sizeof v->model, t, ml, "a variant's model name", e) < 0)
                return FG_EINVAL;
            v->version = 0;
            if (slash && parse_i64(slash + 1, tl - ml - 1, &v->version) < 0)
                return fg_err_set(e, FG_EINVAL, "--abtest %s: bad version in '%.*s' (positive integer)", out->model,
                                  (int)tl, t);
            if (!at) {
                char nb[FG_AB_NAME_MAX];
                int nn = slash ? snprintf(nb, sizeof nb, "%s-v%lld", v->model, (long long)v->version)
                               : snprintf(nb, sizeof nb, "%s", v->model);
                memcpy(v->name, nb, sizeof nb);
                if (nn >= (int)sizeof nb)
                    return fg_err_set(e, FG_EINVAL, "--abtest %s: variant name of '%.*s' too long; name it NAME@",
                                      out->model, (int)tl, t);
            }
        }
        for (size_t i = 0; i < out->n; i++)
            if (strcmp(out->v[i].name, v->name) == 0)
                return fg_err_set(e, FG_EINVAL, "--abtest %s: variant '%s' given twice", out->model, v->name);
        out->n++;
        s = end ? end + 1 : s + len;
        if (end && !*s)
            return fg_err_set(e, FG_EINVAL, "--abtest %s: trailing ','", out->model);
    }
    if (out->n < 2)
        return fg_err_set(e, FG_EINVAL, "--abtest %s: needs at least 2 variants", out->model);
    double total = 0;
    for (size_t i = 0; i < out->n; i++)
        total += out->v[i].weight;
    if (!(total > 0))
        return fg_err_set(e, FG_EINVAL, "--abtest %s: the weights add up to 0", out->model);
    return 0;
}

int fg_ab_load_file(const char *path, fg_ab_spec *specs, size_t *n, size_t max, fg_ab_opts *o, char *hdr,
                    size_t hdr_cap, fg_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return fg_err_set(e, FG_EIO, "%s: %s", path, strerror(errno));
    char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    int big = len == sizeof buf, bad = ferror(f);
    fclose(f);
    if (bad)
        return fg_err_set(e, FG_EIO, "%s: read error", path);
    if (big)
        return fg_err_set(e, FG_EINVAL, "%s: larger than 64 KiB", path);
    fg_json *doc = NULL;
    fg_err je = {0};
    if (fg_json_parse(buf, len, &doc, &je) < 0)
        return fg_err_set(e, FG_EINVAL, "%s: %s", path, je.msg);
    int rc = 0;
    const fg_json *tests = fg_json_get(doc, "tests"), *h = fg_json_get(doc, "header");
    if (!doc || doc->type != FG_JSON_OBJECT || !tests || tests->type != FG_JSON_OBJECT || tests->n == 0) {
        rc = fg_err_set(e, FG_EINVAL, "%s: want an object with \"tests\": {\"MODEL\": [variants...]}", path);
        goto out;
    }
    static const char *const nums[] = {"margin", "min_feedback", "slo_p99_ms", "slo_secs"};
    for (size_t i = 0; i < doc->n; i++) {
        const char *k = doc->keys[i];
        int known = strcmp(k, "tests") == 0 || strcmp(k, "header") == 0;
        for (size_t j = 0; j < 4; j++)
            known |= strcmp(k, nums[j]) == 0;
        if (!known) {
            rc = fg_err_set(e, FG_EINVAL, "%s: unknown key \"%s\"", path, k);
            goto out;
        }
    }
    if (h && (h->type != FG_JSON_STRING || !h->len || h->len >= hdr_cap)) {
        rc = fg_err_set(e, FG_EINVAL, "%s: \"header\" wants a header name", path);
        goto out;
    }
    if (h && !o->header) {
        memcpy(hdr, h->str, h->len + 1);
        o->header = hdr;
    }
    for (size_t j = 0; j < 4; j++) {
        const fg_json *v = fg_json_get(doc, nums[j]);
        if (!v)
            continue;
        double x = fg_json_num(v, NAN);
        if (!(x >= 0) || (j == 0 && x > 1) || (j == 1 && (x < 1 || x != floor(x)))) {
            rc = fg_err_set(e, FG_EINVAL, "%s: \"%s\" wants a number%s", path, nums[j],
                            j == 0 ? " in 0..1" : j == 1 ? " >= 1 (whole)" : " >= 0");
            goto out;
        }
        if (j == 0 && o->margin == 0)
            o->margin = x;
        else if (j == 1 && o->min_feedback == 0)
            o->min_feedback = (uint64_t)x;
        else if (j == 2 && o->slo_p99_ms == 0)
            o->slo_p99_ms = x;
        else if (j == 3 && o->slo_secs == 0)
            o->slo_secs = x;
    }
    for (size_t i = 0; i < tests->n; i++) {
        const char *model = tests->keys[i];
        const fg_json *vs = &tests->items[i];
        if (vs->type != FG_JSON_ARRAY || vs->n == 0) {
            rc = fg_err_set(e, FG_EINVAL, "%s: tests.%s wants an array of variants", path, model);
            goto out;
        }
        /* the same text --abtest takes, so both spellings share one parser and one set of rules */
        char arg[4096];
        size_t at = (size_t)snprintf(arg, sizeof arg, "%s=", model);
        for (size_t k = 0; k < vs->n && at < sizeof arg; k++) {
            const fg_json *v = &vs->items[k], *name = fg_json_get(v, "variant"), *tg = fg_json_get(v, "target"),
                          *w = fg_json_get(v, "weight");
            char target[64];
            if (tg && tg->type == FG_JSON_NUMBER && tg->num == floor(tg->num) && tg->num >= 1 && tg->num < 1e15)
                snprintf(target, sizeof target, "%lld", (long long)tg->num);
            else if (tg && tg->type == FG_JSON_STRING && tg->len && tg->len < sizeof target)
                memcpy(target, tg->str, tg->len + 1);
            else
                target[0] = 0;
            if (v->type != FG_JSON_OBJECT || !target[0] || !w || w->type != FG_JSON_NUMBER ||
                (name && (name->type != FG_JSON_STRING || !name->len))) {
                rc = fg_err_set(e, FG_EINVAL,
                                "%s: tests.%s[%zu] wants {\"variant\": NAME (optional), \"target\": VERSION or MODEL[/VERSION], "
                                "\"weight\": NUMBER}",
                                path, model, k);
                goto out;
            }
            at += (size_t)snprintf(arg + at, sizeof arg - at, "%s%s%s%s:%.17g", k ? "," : "", name ? name->str : "",
                                   name ? "@" : "", target, w->num);
        }
        if (at >= sizeof arg) {
            rc = fg_err_set(e, FG_EINVAL, "%s: tests.%s: too many or too long variants", path, model);
            goto out;
        }
        if (*n >= max) {
            rc = fg_err_set(e, FG_EINVAL, "%s: more than %zu A/B tests", path, max);
            goto out;
        }
        fg_err pe = {0};
        if (fg_ab_parse(arg, &specs[*n], &pe) < 0) {
            rc = fg_err_set(e, FG_EINVAL, "%s: tests.%s: %s", path, model, pe.msg);
            goto out;
        }
        for (size_t k = 0; k < vs->n; k++) { /* the one per-variant field --abtest has no spelling for */
            const fg_json *sl = fg_json_get(&vs->items[k], "slo_p99_ms");
            if (!sl)
                continue;
            if (k == 0 || sl->type != FG_JSON_NUMBER || !(sl->num > 0)) {
                rc = fg_err_set(e, FG_EINVAL, "%s: tests.%s[%zu].slo_p99_ms: %s", path, model, k,
                                k == 0 ? "the control has no SLO guard (it is never rolled back)" : "want a number > 0");
                goto out;
            }
            specs[*n].v[k].slo_p99_ms = sl->num;
        }
        (*n)++;
    }
out:
    fg_json_free(doc);
    return rc;
}

/* ---- the set ---- */

static void *guard_main(void *arg);

static void test_free(fg_ab *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        fg_kpi_free(t->v[i].kpi);
    free(t->ring);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static int test_metrics(fg_ab *t, fg_metrics *r, fg_err *e) {
    const char *l2[] = {"model", "variant"}, *l3[] = {"model", "variant", "reason"}, *l1[] = {"model"};
    fg_metric_family *fw = fg_metrics_find(r, "frugal_abtest_weight"), *fr, *ff, *fc, *fb, *fd;
    if (!fw) {
        fw = fg_metrics_gauge(r, "frugal_abtest_weight", "Current traffic weight of an A/B variant.", l2, 2, e);
        fr = fg_metrics_counter(r, "frugal_abtest_requests_total", "Requests routed to an A/B variant and answered.",
                                l2, 2, e);
        ff = fg_metrics_counter(r, "frugal_abtest_feedback_total", "Feedbacks matched to an A/B variant's predictions.",
                                l2, 2, e);
        fc = fg_metrics_counter(r, "frugal_abtest_correct_total",
                                "Correct feedbacks (or the sum of scores) of an A/B variant.", l2, 2, e);
        fb = fg_metrics_counter(r, "frugal_abtest_rollbacks_total",
                                "Automatic rollbacks of an A/B variant by the guardrails, by reason.", l3, 3, e);
        fd = fg_metrics_counter(r, "frugal_abtest_predictions_dropped_total",
                                "Predictions overwritten in the feedback ring before any feedback came.", l1, 1, e);
        if (!fw || !fr || !ff || !fc || !fb || !fd)
            return FG_EINVAL;
    } else {
        fr = fg_metrics_find(r, "frugal_abtest_requests_total");
        ff = fg_metrics_find(r, "frugal_abtest_feedback_total");
        fc = fg_metrics_find(r, "frugal_abtest_correct_total");
        fb = fg_metrics_find(r, "frugal_abtest_rollbacks_total");
        fd = fg_metrics_find(r, "frugal_abtest_predictions_dropped_total");
    }
    const char *m1[] = {t->name};
    if (!(t->m_dropped = fg_metrics_series(fd, m1, e)))
        return FG_EINVAL;
    for (size_t i = 0; i < t->n; i++) {
        variant *v = &t->v[i];
        const char *lv[] = {t->name, v->spec.name};
        if (!(v->m_weight = fg_metrics_series(fw, lv, e)) || !(v->m_requests = fg_metrics_series(fr, lv, e)) ||
            !(v->m_feedback = fg_metrics_series(ff, lv, e)) || !(v->m_correct = fg_metrics_series(fc, lv, e)))
            return FG_EINVAL;
        for (int k = 0; k < 2; k++) {
            const char *l[] = {t->name, v->spec.name, reasons[k]};
            if (!(v->m_rollback[k] = fg_metrics_series(fb, l, e)))
                return FG_EINVAL;
        }
        fg_metric_set(v->m_weight, v->weight);
    }
    return 0;
}

fg_abset *fg_abset_new(const fg_ab_spec *specs, size_t n, const fg_ab_opts *o, fg_err *e) {
    if (n > FG_AB_MAX_TESTS) {
        fg_err_set(e, FG_EINVAL, "at most %d A/B tests", FG_AB_MAX_TESTS);
        return NULL;
    }
    if (!o->metrics || !(o->margin >= 0 && o->margin <= 1) || !(o->slo_p99_ms >= 0) || !(o->slo_secs >= 0)) {
        fg_err_set(e, FG_EINVAL, "A/B options: metrics registry needed; margin in 0..1, SLO figures >= 0");
        return NULL;
    }
    const char *hdr = o->header ? o->header : FG_AB_DEFAULT_HEADER;
    size_t hl = strlen(hdr);
    if (hl == 0 || hl >= 64) {
        fg_err_set(e, FG_EINVAL, "the A/B sticky header name must be 1..63 characters");
        return NULL;
    }
    for (size_t i = 0; i < hl; i++)
        if (!isalnum((unsigned char)hdr[i]) && hdr[i] != '-' && hdr[i] != '_') {
            fg_err_set(e, FG_EINVAL, "bad A/B sticky header name '%s'", hdr);
            return NULL;
        }
    fg_abset *s = calloc(1, sizeof *s);
    if (!s) {
        fg_err_set(e, FG_ENOMEM, "out of memory");
        return NULL;
    }
    s->o = *o;
    for (size_t i = 0; i <= hl; i++)
        s->header[i] = (char)tolower((unsigned char)hdr[i]);
    s->o.header = s->header;
    if (!s->o.min_feedback)
        s->o.min_feedback = 30;
    if (!s->o.ring)
        s->o.ring = FG_AB_DEFAULT_RING;
    if (!s->o.tick_ms)
        s->o.tick_ms = 1000;
    pthread_mutex_init(&s->smu, NULL);
    pthread_cond_init(&s->scond, NULL);
    for (size_t k = 0; k < n; k++) {
        const fg_ab_spec *sp = &specs[k];
        for (size_t j = 0; j < k; j++)
            if (strcmp(specs[j].model, sp->model) == 0) {
                fg_err_set(e, FG_EINVAL, "two A/B tests for model '%s'", sp->model);
                goto fail;
            }
        if (sp->n < 2 || sp->n > FG_AB_MAX_VARIANTS) {
            fg_err_set(e, FG_EINVAL, "A/B test '%s' needs 2..%d variants", sp->model, FG_AB_MAX_VARIANTS);
            goto fail;
        }
        fg_ab *t = calloc(1, sizeof *t);
        ring_slot *ring = calloc(s->o.ring, sizeof *ring);
        if (!t || !ring) {
            free(t);
            free(ring);
            fg_err_set(e, FG_ENOMEM, "out of memory for the A/B test '%s'", sp->model);
            goto fail;
        }
        s->t[s->n++] = t;
        pthread_mutex_init(&t->mu, NULL);
        t->set = s;
        t->ring = ring;
        t->ring_cap = s->o.ring;
        snprintf(t->name, sizeof t->name, "%s", sp->model);
        snprintf(t->header, sizeof t->header, "%s", s->header);
        t->n = sp->n;
        for (size_t i = 0; i < sp->n; i++) {
            t->v[i].spec = sp->v[i];
            t->v[i].weight = sp->v[i].weight;
            t->v[i].kpi = o->start_ns ? fg_kpi_new_at(o->window_s, o->start_ns) : fg_kpi_new(o->window_s);
        }
        if (test_metrics(t, o->metrics, e) < 0)
            goto fail;
        fg_info("serve: A/B test '%s': %zu variants, control '%s', sticky header '%s'", t->name, t->n,
                t->v[0].spec.name, t->header);
    }
    if (!o->no_thread) {
        if (pthread_create(&s->thr, NULL, guard_main, s) != 0) {
            fg_err_set(e, FG_EINTERNAL, "cannot start the A/B guard thread");
            goto fail;
        }
        s->thr_started = 1;
    }
    return s;
fail:
    fg_abset_free(s);
    return NULL;
}

void fg_abset_free(fg_abset *s) {
    if (!s)
        return;
    if (s->thr_started) {
        pthread_mutex_lock(&s->smu);
        s->stop = 1;
        pthread_cond_signal(&s->scond);
        pthread_mutex_unlock(&s->smu);
        pthread_join(s->thr, NULL);
    }
    for (size_t i = 0; i < s->n; i++)
        test_free(s->t[i]);
    pthread_mutex_destroy(&s->smu);
    pthread_cond_destroy(&s->scond);
    free(s);
}

static void *guard_main(void *arg) {
    fg_abset *s = arg;
    pthread_mutex_lock(&s->smu);
    while (!s->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)s->o.tick_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&s->scond, &s->smu, &ts);
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->smu);
        for (size_t i = 0; i < s->n; i++)
            fg_ab_check(s->t[i], fg_now_ns());
        pthread_mutex_lock(&s->smu);
    }
    pthread_mutex_unlock(&s->smu);
    return NULL;
}

size_t fg_abset_count(const fg_abset *s) { return s ? s->n : 0; }

fg_ab *fg_abset_at(fg_abset *s, size_t i) { return s && i < s->n ? s->t[i] : NULL; }

fg_ab *fg_abset_find(fg_abset *s, const char *name, size_t len) {
    for (size_t i = 0; s && i < s->n; i++)
        if (strlen(s->t[i]->name) == len && memcmp(s->t[i]->name, name, len) == 0)
            return s->t[i];
    return NULL;
}

const char *fg_abset_variant_of(const fg_abset *s, const char *model, int64_t version) {
    for (size_t i = 0; s && i < s->n; i++)
        for (size_t j = 0; j < s->t[i]->n; j++) {
            const fg_ab_variant_spec *v = &s->t[i]->v[j].spec;
            if (strcmp(v->model, model) == 0 && (v->version == 0 || v->version == version))
                return v->name;
        }
    return "";
}

const char *fg_ab_name(const fg_ab *t) { return t->name; }
const char *fg_ab_header(const fg_ab *t) { return t->header; }
size_t fg_ab_n(const fg_ab *t) { return t->n; }
const fg_ab_variant_spec *fg_ab_variant(const fg_ab *t, size_t i) { return i < t->n ? &t->v[i].spec : NULL; }

double fg_ab_weight(fg_ab *t, size_t i) {
    pthread_mutex_lock(&t->mu);
    double w = i < t->n ? t->v[i].weight : 0;
    pthread_mutex_unlock(&t->mu);
    return w;
}

int fg_ab_find_variant(const fg_ab *t, const char *name, size_t len) {
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->v[i].spec.name) == len && memcmp(t->v[i].spec.name, name, len) == 0)
            return (int)i;
    return -1;
}

int fg_ab_route(fg_ab *t, uint64_t h) {
    double w[FG_AB_MAX_VARIANTS];
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n; i++)
        w[i] = t->v[i].weight;
    pthread_mutex_unlock(&t->mu);
    return fg_ab_pick(w, t->n, h);
}

void fg_ab_record(fg_ab *t, int var, uint64_t now_ns, uint64_t latency_ns, int ok, const char *id, size_t idlen,
                  int64_t pred) {
    if (var < 0 || (size_t)var >= t->n)
        return;
    variant *v = &t->v[var];
    fg_kpi_request(v->kpi, now_ns, latency_ns, ok);
    if (!ok)
        return;
    __atomic_add_fetch(&v->requests, 1, __ATOMIC_RELAXED);
    fg_metric_inc(v->m_requests);
    if (!id || pred < 0 || pred > INT32_MAX)
        return;
    uint64_t h = fg_ab_hash(id, idlen);
    pthread_mutex_lock(&t->mu);
    ring_slot *sl = &t->ring[t->ring_next];
    if (sl->state == SLOT_PENDING) { /* the oldest prediction never got feedback */
        t->dropped++;
        t->pending--;
        fg_metric_inc(t->m_dropped);
    }
    *sl = (ring_slot){.idh = h, .pred = (int32_t)pred, .var = (uint8_t)var, .state = SLOT_PENDING};
    t->pending++;
    t->ring_next = (t->ring_next + 1) % t->ring_cap;
    if (t->ring_used < t->ring_cap)
        t->ring_used++;
    pthread_mutex_unlock(&t->mu);
}

/* Rolls variant i back (weight 0), logging the evidence once; call with t->mu held. Returns 1 when done.
 * A rollback never leaves the test without traffic: when no other variant has weight (i was promoted),
 * there is nothing to fall back to, and the operator's promotion stands; that is logged once. */
static int rollback_locked(fg_ab *t, size_t i, int reason, const char *evidence) {
    variant *v = &t->v[i];
    if (v->rolled_back)
        return 0;
    double others = 0;
    for (size_t k = 0; k < t->n; k++)
        others += k == i ? 0 : t->v[k].weight;
    if (!(others > 0)) {
        if (!v->vetoed)
            fg_warn("serve: A/B test '%s': variant '%s' fails its %s guardrail (%s) but takes all traffic "
                    "(promoted): not rolled back", t->name, v->spec.name, reasons[reason], evidence);
        v->vetoed = 1;
        return 0;
    }
    v->rolled_back = 1;
    v->reason = reasons[reason];
    v->weight = 0;
    v->slo_over_since_ns = 0;
    fg_metric_set(v->m_weight, 0);
    fg_metric_inc(v->m_rollback[reason]);
    fg_warn("serve: A/B test '%s': variant '%s' rolled back (weight 0), %s: %s", t->name, v->spec.name,
            reasons[reason], evidence);
    return 1;
}

static int check_accuracy_locked(fg_ab *t, size_t i) {
    const fg_abset *s = t->set;
    variant *c = &t->v[0], *v = &t->v[i];
    if (v->rolled_back || !(v->weight > 0) || v->feedback < s->o.min_feedback || c->feedback < s->o.min_feedback)
        return 0;
    double z, p, n0 = (double)c->feedback, n1 = (double)v->feedback;
    if (fg_ab_ztest(c->correct, n0, v->correct, n1, &z, &p) < 0)
        return 0;
    double a0 = c->correct / n0, a1 = v->correct / n1;
    if (!(p < 0.05) || !(a0 - a1 > s->o.margin))
        return 0;
    char ev[256];
    snprintf(ev, sizeof ev,
             "accuracy %.4f (%.0f/%llu) vs control '%s' %.4f (%.0f/%llu), z=%.3f, p=%.3g, margin %.3g", a1,
             v->correct, (unsigned long long)v->feedback, c->spec.name, a0, c->correct,
             (unsigned long long)c->feedback, z, p, s->o.margin);
    return rollback_locked(t, i, 0, ev);
}

int fg_ab_check(fg_ab *t, uint64_t now_ns) {
    const fg_abset *s = t->set;
    int n = 0;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 1; i < t->n; i++) {
        n += check_accuracy_locked(t, i);
        variant *v = &t->v[i];
        double slo = v->spec.slo_p99_ms > 0 ? v->spec.slo_p99_ms : s->o.slo_p99_ms;
        if (!(slo > 0) || v->rolled_back || !(v->weight > 0))
            continue;
        fg_kpi_snap k;
        fg_kpi_snapshot(v->kpi, now_ns, 0, 1, &k);
        if (k.requests >= FG_AB_SLO_MIN_REQUESTS && k.p99_s * 1000 > slo) {
            if (!v->slo_over_since_ns)
                v->slo_over_since_ns = now_ns;
            double over_s = (double)(now_ns - v->slo_over_since_ns) / 1e9;
            if (over_s >= s->o.slo_secs) {
                char ev[256];
                snprintf(ev, sizeof ev, "p99 %.3f ms over the SLO of %.3f ms for %.1f s (%llu requests in %.0f s)",
                         k.p99_s * 1000, slo, over_s, (unsigned long long)k.requests, k.window_s);
                n += rollback_locked(t, i, 1, ev);
            }
        } else {
            v->slo_over_since_ns = 0;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return n;
}

int fg_ab_rolled_back(fg_ab *t, size_t i, const char **reason) {
    pthread_mutex_lock(&t->mu);
    int r = i < t->n && t->v[i].rolled_back;
    if (reason)
        *reason = r ? t->v[i].reason : NULL;
    pthread_mutex_unlock(&t->mu);
    return r;
}

int fg_ab_feedback(fg_ab *t, const char *id, size_t idlen, int has_label, int64_t label, double score, int *var,
                   fg_err *e) {
    if (!has_label && !(score >= 0 && score <= 1))
        return fg_err_set(e, FG_EINVAL, "'score' must be a number in [0, 1]");
    uint64_t h = fg_ab_hash(id, idlen);
    pthread_mutex_lock(&t->mu);
    ring_slot *found = NULL;
    /* newest first: a client that reuses an id means its latest request */
    for (size_t k = 1; k <= t->ring_used; k++) {
        ring_slot *sl = &t->ring[(t->ring_next + t->ring_cap - k) % t->ring_cap];
        if (sl->idh == h && sl->state != SLOT_EMPTY) {
            found = sl;
            break;
        }
    }
    int rc = 0;
    if (!found) {
        rc = fg_err_set(e, FG_ENOTFOUND,
                        "no recent prediction of model '%s' has id '%.100s' (unknown, or older than the last %zu)",
                        t->name, id, t->ring_cap);
    } else if (found->state == SLOT_DONE) {
        rc = fg_err_set(e, FG_EFULL, "request '%.100s' already has feedback", id);
    } else {
        variant *v = &t->v[found->var];
        double c = has_label ? (label == found->pred ? 1.0 : 0.0) : score;
        found->state = SLOT_DONE;
        t->pending--;
        v->feedback++;
        v->correct += c;
        fg_metric_inc(v->m_feedback);
        fg_metric_add(v->m_correct, c);
        if (var)
            *var = found->var;
        if (found->var != 0)
            check_accuracy_locked(t, found->var);
        else
            for (size_t i = 1; i < t->n; i++)
                check_accuracy_locked(t, i);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

int fg_ab_feedback_json(fg_ab *t, const char *body, size_t len, int *var, fg_err *e) {
    fg_json *doc = NULL;
    fg_err pe = {0};
    int rc = fg_json_parse(body ? body : "", len, &doc, &pe);
    if (rc < 0) {
        rc = fg_err_set(e, rc == FG_ENOMEM ? FG_ENOMEM : FG_EINVAL, "feedback body is not JSON: %s", pe.msg);
        goto out;
    }
    if (doc->type != FG_JSON_OBJECT) {
        rc = fg_err_set(e, FG_EINVAL, "feedback must be a JSON object {\"id\": ..., \"label\": N}");
        goto out;
    }
    const fg_json *id = fg_json_get(doc, "id"), *label = fg_json_get(doc, "label"), *score = fg_json_get(doc, "score");
    if (!id || id->type != FG_JSON_STRING || id->len == 0) {
        rc = fg_err_set(e, FG_EINVAL, "feedback needs \"id\": the request id (a non-empty string)");
        goto out;
    }
    if (!label == !score) {
        rc = fg_err_set(e, FG_EINVAL, "feedback needs exactly one of \"label\" (class index) or \"score\" (0..1)");
        goto out;
    }
    if (label && (label->type != FG_JSON_NUMBER || label->num < 0 || label->num > INT32_MAX ||
                  label->num != floor(label->num))) {
        rc = fg_err_set(e, FG_EINVAL, "\"label\" must be an integer class index >= 0");
        goto out;
    }
    if (score && score->type != FG_JSON_NUMBER) {
        rc = fg_err_set(e, FG_EINVAL, "\"score\" must be a number in [0, 1]");
        goto out;
    }
    rc = fg_ab_feedback(t, id->str, id->len, label != NULL, label ? (int64_t)label->num : 0,
                        score ? score->num : 0, var, e);
out:
    fg_json_free(doc);
    return rc;
}

int fg_ab_set_weights(fg_ab *t, const double *w, fg_err *e) {
    double total = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (!isfinite(w[i]) || w[i] < 0)
            return fg_err_set(e, FG_EINVAL, "weight of variant '%s' must be a finite number >= 0", t->v[i].spec.name);
        total += w[i];
    }
    if (!(total > 0))
        return fg_err_set(e, FG_EINVAL, "the weights add up to 0: at least one variant must take traffic");
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n; i++) {
        variant *v = &t->v[i];
        v->weight = w[i];
        v->rolled_back = 0; /* an operator's explicit weights re-arm the guardrails */
        v->vetoed = 0;
        v->reason = NULL;
        v->slo_over_since_ns = 0;
        fg_metric_set(v->m_weight, w[i]);
    }
    pthread_mutex_unlock(&t->mu);
    fg_info("serve: A/B test '%s': weights set", t->name);
    return 0;
}

int fg_ab_promote(fg_ab *t, int i, fg_err *e) {
    if (i < 0 || (size_t)i >= t->n)
        return fg_err_set(e, FG_EINVAL, "no variant %d", i);
    double w[FG_AB_MAX_VARIANTS] = {0};
    w[i] = 100;
    int rc = fg_ab_set_weights(t, w, e);
    if (rc == 0)
        fg_info("serve: A/B test '%s': variant '%s' promoted to all traffic", t->name, t->v[i].spec.name);
    return rc;
}

int fg_ab_apply_json(fg_ab *t, const char *body, size_t len, fg_err *e) {
    fg_json *doc = NULL;
    fg_err pe = {0};
    int rc = fg_json_parse(body ? body : "", len, &doc, &pe);
    if (rc < 0) {
        rc = fg_err_set(e, rc == FG_ENOMEM ? FG_ENOMEM : FG_EINVAL, "body is not JSON: %s", pe.msg);
        goto out;
    }
    const fg_json *ws = fg_json_get(doc, "weights"), *pr = fg_json_get(doc, "promote");
    if (doc->type != FG_JSON_OBJECT || !ws == !pr) {
        rc = fg_err_set(e, FG_EINVAL, "expected {\"weights\": {\"VARIANT\": W, ...}} or {\"promote\": \"VARIANT\"}");
        goto out;
    }
    if (pr) {
        int i = pr->type == FG_JSON_STRING ? fg_ab_find_variant(t, pr->str, pr->len) : -1;
        rc = i < 0 ? fg_err_set(e, FG_EINVAL, "\"promote\" names no variant of '%s'", t->name) : fg_ab_promote(t, i, e);
        goto out;
    }
    if (ws->type != FG_JSON_OBJECT || ws->n == 0) {
        rc = fg_err_set(e, FG_EINVAL, "\"weights\" must be a non-empty object {\"VARIANT\": W, ...}");
        goto out;
    }
    double w[FG_AB_MAX_VARIANTS];
    for (size_t i = 0; i < t->n; i++)
        w[i] = fg_ab_weight(t, i);
    for (size_t k = 0; k < ws->n; k++) {
        int i = fg_ab_find_variant(t, ws->keys[k], strlen(ws->keys[k]));
        if (i < 0) {
            rc = fg_err_set(e, FG_EINVAL, "unknown variant '%.64s' (variants are fixed at start)", ws->keys[k]);
            goto out;
        }
        if (ws->items[k].type != FG_JSON_NUMBER) {
            rc = fg_err_set(e, FG_EINVAL, "weight of '%s' must be a number", ws->keys[k]);
            goto out;
        }
        w[i] = ws->items[k].num;
    }
    rc = fg_ab_set_weights(t, w, e);
out:
    fg_json_free(doc);
    return rc;
}

void fg_ab_counts(fg_ab *t, size_t i, uint64_t *feedback, double *correct) {
    pthread_mutex_lock(&t->mu);
    *feedback = i < t->n ? t->v[i].feedback : 0;
    *correct = i < t->n ? t->v[i].correct : 0;
    pthread_mutex_unlock(&t->mu);
}

void fg_ab_ring_stats(fg_ab *t, uint64_t *pending, uint64_t *dropped) {
    pthread_mutex_lock(&t->mu);
    *pending = t->pending;
    *dropped = t->dropped;
    pthread_mutex_unlock(&t->mu);
}

int fg_ab_json(fg_ab *t, uint64_t now_ns, const fg_ab_cost *costs, fg_v2_buf *b) {
    const fg_abset *s = t->set;
    int rc = 0;
    pthread_mutex_lock(&t->mu);
    variant *c = &t->v[0];
    rc |= fg_v2_buf_puts(b, "{\"model\":");
    rc |= fg_v2_buf_append_json_str(b, t->name);
    rc |= fg_v2_buf_puts(b, ",\"header\":");
    rc |= fg_v2_buf_append_json_str(b, t->header);
    rc |= fg_v2_buf_puts(b, ",\"control\":");
    rc |= fg_v2_buf_append_json_str(b, c->spec.name);
    rc |= fg_v2_buf_printf(b,
                           ",\"guardrails\":{\"accuracy_margin\":%.6g,\"min_feedback\":%llu,\"slo_p99_ms\":%.6g,"
                           "\"slo_secs\":%.6g},\"predictions_pending\":%llu,\"predictions_dropped\":%llu,"
                           "\"ring_size\":%zu,\"variants\":[",
                           s->o.margin, (unsigned long long)s->o.min_feedback, s->o.slo_p99_ms, s->o.slo_secs,
                           (unsigned long long)t->pending, (unsigned long long)t->dropped, t->ring_cap);
    for (size_t i = 0; i < t->n; i++) {
        variant *v = &t->v[i];
        fg_kpi_snap k;
        fg_kpi_snapshot(v->kpi, now_ns, 0, 1, &k);
        double n = (double)v->feedback, lo, hi;
        fg_ab_wilson(v->correct, n, 1.959963984540054, &lo, &hi);
        char ver[24];
        snprintf(ver, sizeof ver, "%lld", (long long)v->spec.version);
        rc |= fg_v2_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        rc |= fg_v2_buf_append_json_str(b, v->spec.name);
        rc |= fg_v2_buf_puts(b, ",\"target_model\":");
        rc |= fg_v2_buf_append_json_str(b, v->spec.model);
        rc |= fg_v2_buf_printf(b, ",\"target_version\":%s", v->spec.version ? ver : "\"latest\"");
        rc |= fg_v2_buf_printf(b, ",\"weight\":%.6g,\"rolled_back\":%s,\"rollback_reason\":", v->weight,
                               v->rolled_back ? "true" : "false");
        rc |= v->rolled_back ? fg_v2_buf_append_json_str(b, v->reason) : fg_v2_buf_puts(b, "null");
        double slo = i == 0 ? 0 : v->spec.slo_p99_ms > 0 ? v->spec.slo_p99_ms : s->o.slo_p99_ms;
        rc |= fg_v2_buf_puts(b, ",\"slo_p99_ms\":");
        rc |= slo > 0 ? fg_v2_buf_printf(b, "%.6g", slo) : fg_v2_buf_puts(b, "null");
        rc |= fg_v2_buf_printf(b,
                               ",\"requests\":%llu,\"window_s\":%.6g,\"window_requests\":%llu,\"window_errors\":%llu,"
                               "\"p50_ms\":%.6g,\"p99_ms\":%.6g,\"cost_per_1k_usd\":%.9g,\"feedback\":%llu,"
                               "\"correct\":%.6g,\"accuracy\":",
                               (unsigned long long)__atomic_load_n(&v->requests, __ATOMIC_RELAXED), k.window_s,
                               (unsigned long long)k.requests, (unsigned long long)k.errors, k.p50_s * 1000,
                               k.p99_s * 1000, costs ? costs[i].cost_per_1k_usd : 0.0,
                               (unsigned long long)v->feedback, v->correct);
        if (n > 0)
            rc |= fg_v2_buf_printf(b, "%.6g,\"accuracy_ci95\":[%.6g,%.6g]", v->correct / n, lo, hi);
        else
            rc |= fg_v2_buf_puts(b, "null,\"accuracy_ci95\":null");
        if (i == 0) {
            rc |= fg_v2_buf_puts(b, ",\"vs_control\":null}");
            continue;
        }
        double z, p;
        int tested = fg_ab_ztest(c->correct, (double)c->feedback, v->correct, n, &z, &p) == 0;
        char verdict[160];
        fg_ab_verdict(verdict, sizeof verdict, v->spec.name, c->spec.name, (double)c->feedback, n, tested, z, p);
        if (tested)
            rc |= fg_v2_buf_printf(b, ",\"vs_control\":{\"z\":%.6g,\"p_value\":%.6g,\"verdict\":", z, p);
        else
            rc |= fg_v2_buf_puts(b, ",\"vs_control\":{\"z\":null,\"p_value\":null,\"verdict\":");
        rc |= fg_v2_buf_append_json_str(b, verdict);
        rc |= fg_v2_buf_puts(b, "}}");
    }
    rc |= fg_v2_buf_puts(b, "]}");
    pthread_mutex_unlock(&t->mu);
    return rc ? FG_ENOMEM : 0;
}
