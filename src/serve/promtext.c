/* promtext.c - Prometheus text format 0.0.4 reader (see promtext.h). */
#include "serve/promtext.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static int is_name_start(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
static int is_name_char(int c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
static int is_blank(int c) { return c == ' ' || c == '\t'; }

typedef struct {
    const char *p, *end;
} cursor;

static void skip_blank(cursor *c) {
    while (c->p < c->end && is_blank((unsigned char)*c->p))
        c->p++;
}

/* a metric name (colons allowed when metric != 0); returns its length, 0 when there is none */
static size_t take_name(cursor *c, int metric) {
    const char *s = c->p;
    if (c->p >= c->end || !is_name_start((unsigned char)*c->p) || (!metric && *c->p == ':'))
        return 0;
    while (c->p < c->end && is_name_char((unsigned char)*c->p) && (metric || *c->p != ':'))
        c->p++;
    return (size_t)(c->p - s);
}

int fg_prom_parse_value(const char *s, size_t len, double *out) {
    if (len == 0 || len > 64)
        return -1;
    const char *t = s;
    size_t n = len;
    int neg = 0;
    if (*t == '+' || *t == '-') {
        neg = *t == '-';
        t++;
        n--;
    }
    if (n == 3 && memcmp(t, "Inf", 3) == 0) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    if (n == 3 && memcmp(t, "NaN", 3) == 0 && t == s) {
        *out = NAN;
        return 0;
    }
    char buf[72];
    int digits = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch >= '0' && ch <= '9')
            digits = 1;
        else if (ch != '.' && ch != 'e' && ch != 'E' && ch != '+' && ch != '-')
            return -1;
        buf[i] = ch;
    }
    if (!digits)
        return -1;
    buf[len] = 0;
    char *endp;
    errno = 0;
    double v = strtod(buf, &endp);
    if (endp != buf + len)
        return -1;
    *out = v;
    return 0;
}

static int parse_timestamp(const char *s, size_t len, int64_t *out) {
    size_t i = 0;
    if (len && (s[0] == '-' || s[0] == '+'))
        i = 1;
    if (i == len || len - i > 18)
        return -1;
    int64_t v = 0;
    for (size_t k = i; k < len; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    *out = s[0] == '-' ? -v : v;
    return 0;
}

static void free_sample(fg_prom_sample *s) {
    for (size_t i = 0; i < s->n_labels; i++) {
        free(s->labels[i].name);
        free(s->labels[i].value);
    }
    free(s->labels);
    free(s->name);
    memset(s, 0, sizeof *s);
}

static void bad(fg_prom_doc *d, const char *why) {
    d->n_bad++;
    if (d->bad_line == 0) {
        d->bad_line = d->n_lines;
        strncpy(d->bad_why, why, sizeof d->bad_why - 1);
        d->bad_why[sizeof d->bad_why - 1] = 0;
    }
}

static void comment(fg_prom_doc *d, cursor *c) {
    c->p++; /* '#' */
    skip_blank(c);
    if ((size_t)(c->end - c->p) < 4 || memcmp(c->p, "TYPE", 4) != 0)
        return;
    c->p += 4;
    if (c->p >= c->end || !is_blank((unsigned char)*c->p))
        return;
    skip_blank(c);
    const char *name = c->p;
    size_t nl = take_name(c, 1);
    if (nl == 0 || nl > FG_PROM_MAX_TOKEN || c->p >= c->end || !is_blank((unsigned char)*c->p)) {
        bad(d, "malformed # TYPE line");
        return;
    }
    skip_blank(c);
    const char *t = c->p;
    while (c->p < c->end && !is_blank((unsigned char)*c->p))
        c->p++;
    size_t tl = (size_t)(c->p - t);
    skip_blank(c);
    static const char *const names[] = {"untyped", "counter", "gauge", "histogram", "summary"};
    int type = -1;
    for (int i = 0; i < 5; i++)
        if (tl == strlen(names[i]) && memcmp(t, names[i], tl) == 0)
            type = i;
    if (type < 0 || c->p != c->end) {
        bad(d, "malformed # TYPE line");
        return;
    }
    if (d->n_families >= FG_PROM_MAX_SAMPLES)
        return;
    if (d->n_families == d->cap_families) {
        d->cap_families = d->cap_families ? d->cap_families * 2 : 32;
        d->families = fg_xrealloc(d->families, d->cap_families * sizeof *d->families);
    }
    d->families[d->n_families].name = fg_xstrndup(name, nl);
    d->families[d->n_families].type = (fg_prom_type)type;
    d->n_families++;
}

/* a quoted label value with escapes, the opening quote consumed; NULL when unterminated or too long */
static char *take_label_value(cursor *c) {
    char *out = fg_xmalloc(64);
    size_t n = 0, cap = 64;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p >= c->end)
                break;
            ch = *c->p++;
            if (ch == 'n')
                ch = '\n';
        }
        if (n + 1 >= cap) {
            if (cap > FG_PROM_MAX_TOKEN) {
                free(out);
                return NULL;
            }
            cap *= 2;
            out = fg_xrealloc(out, cap);
        }
        out[n++] = ch;
    }
    if (c->p >= c->end || n > FG_PROM_MAX_TOKEN) {
        free(out);
        return NULL;
    }
    c->p++; /* closing quote */
    out[n] = 0;
    return out;
}

/* parses one sample line into s; NULL on success, else the reason (s then holds partial data) */
static const char *sample(cursor *c, fg_prom_sample *s) {
    const char *name = c->p;
    size_t nl = take_name(c, 1);
    if (nl == 0)
        return "bad metric name";
    if (nl > FG_PROM_MAX_TOKEN)
        return "metric name too long";
    s->name = fg_xstrndup(name, nl);
    const char *after = c->p;
    skip_blank(c);
    if (c->p < c->end && *c->p == '{') {
        c->p++;
        size_t cap = 0;
        for (;;) {
            skip_blank(c);
            if (c->p >= c->end)
                return "unterminated label set";
            if (*c->p == '}') {
                c->p++;
                break;
            }
            const char *ln = c->p;
            size_t lnl = take_name(c, 0);
            if (lnl == 0)
                return "bad label name";
            if (lnl > FG_PROM_MAX_TOKEN)
                return "label name too long";
            if (s->n_labels == FG_PROM_MAX_LABELS)
                return "too many labels";
            for (size_t i = 0; i < s->n_labels; i++)
                if (strlen(s->labels[i].name) == lnl && memcmp(s->labels[i].name, ln, lnl) == 0)
                    return "duplicate label";
            skip_blank(c);
            if (c->p >= c->end || *c->p != '=')
                return "expected '=' after a label name";
            c->p++;
            skip_blank(c);
            if (c->p >= c->end || *c->p != '"')
                return "expected '\"' to open a label value";
            c->p++;
            char *v = take_label_value(c);
            if (!v)
                return "unterminated or too long label value";
            if (s->n_labels == cap) {
                cap = cap ? cap * 2 : 4;
                s->labels = fg_xrealloc(s->labels, cap * sizeof *s->labels);
            }
            s->labels[s->n_labels].name = fg_xstrndup(ln, lnl);
            s->labels[s->n_labels].value = v;
            s->n_labels++;
            skip_blank(c);
            if (c->p < c->end && *c->p == ',') {
                c->p++;
                continue;
            }
            if (c->p < c->end && *c->p == '}') {
                c->p++;
                break;
            }
            return "expected ',' or '}' in a label set";
        }
        after = c->p;
        skip_blank(c);
    }
    if (c->p == after || c->p >= c->end)
        return "missing value";
    const char *v = c->p;
    while (c->p < c->end && !is_blank((unsigned char)*c->p))
        c->p++;
    if (fg_prom_parse_value(v, (size_t)(c->p - v), &s->value) < 0)
        return "bad value";
    skip_blank(c);
    if (c->p < c->end) {
        const char *t = c->p;
        while (c->p < c->end && !is_blank((unsigned char)*c->p))
            c->p++;
        if (parse_timestamp(t, (size_t)(c->p - t), &s->timestamp_ms) < 0)
            return "bad timestamp";
        s->has_timestamp = 1;
        skip_blank(c);
        if (c->p < c->end)
            return "trailing text after the timestamp";
    }
    return NULL;
}

int fg_prom_parse(const char *text, size_t len, fg_prom_doc *d, fg_err *e) {
    memset(d, 0, sizeof *d);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nlp = memchr(p, '\n', (size_t)(end - p));
        size_t ll = (size_t)((nlp ? nlp : end) - p);
        if (ll && p[ll - 1] == '\r')
            ll--;
        cursor c = {p, p + ll};
        const char *line = p;
        p = nlp ? nlp + 1 : end;
        d->n_lines++;
        if (ll && memchr(line, 0, ll)) {
            bad(d, "NUL byte");
            continue;
        }
        skip_blank(&c);
        if (c.p == c.end)
            continue;
        if (*c.p == '#') {
            comment(d, &c);
            continue;
        }
        fg_prom_sample s = {0};
        const char *why = sample(&c, &s);
        if (why) {
            free_sample(&s);
            bad(d, why);
            continue;
        }
        if (d->n_samples == FG_PROM_MAX_SAMPLES) {
            free_sample(&s);
            fg_prom_free(d);
            return fg_err_set(e, FG_EFULL, "more than %d samples", FG_PROM_MAX_SAMPLES);
        }
        if (d->n_samples == d->cap_samples) {
            d->cap_samples = d->cap_samples ? d->cap_samples * 2 : 64;
            d->samples = fg_xrealloc(d->samples, d->cap_samples * sizeof *d->samples);
        }
        d->samples[d->n_samples++] = s;
    }
    return 0;
}

void fg_prom_free(fg_prom_doc *d) {
    for (size_t i = 0; i < d->n_samples; i++)
        free_sample(&d->samples[i]);
    free(d->samples);
    for (size_t i = 0; i < d->n_families; i++)
        free(d->families[i].name);
    free(d->families);
    memset(d, 0, sizeof *d);
}

const char *fg_prom_label_value(const fg_prom_sample *s, const char *name) {
    for (size_t i = 0; i < s->n_labels; i++)
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    return NULL;
}

int fg_prom_matches(const fg_prom_sample *s, const char *const *match, size_t n_pairs) {
    for (size_t i = 0; i < n_pairs; i++) {
        const char *v = fg_prom_label_value(s, match[2 * i]);
        if (!v || strcmp(v, match[2 * i + 1]) != 0)
            return 0;
    }
    return 1;
}

fg_prom_type fg_prom_family_type(const fg_prom_doc *d, const char *name) {
    for (size_t i = 0; i < d->n_families; i++)
        if (strcmp(d->families[i].name, name) == 0)
            return d->families[i].type;
    return FG_PROM_UNTYPED;
}

double fg_prom_sum(const fg_prom_doc *d, const char *name, const char *const *match, size_t n_pairs,
                   size_t *n_found) {
    double sum = 0;
    size_t n = 0;
    for (size_t i = 0; i < d->n_samples; i++) {
        const fg_prom_sample *s = &d->samples[i];
        if (strcmp(s->name, name) == 0 && fg_prom_matches(s, match, n_pairs)) {
            sum += s->value;
            n++;
        }
    }
    if (n_found)
        *n_found = n;
    return sum;
}

size_t fg_prom_buckets(const fg_prom_doc *d, const char *family, const char *const *match, size_t n_pairs,
                       double *le, double *cum, size_t max) {
    size_t fl = strlen(family), n = 0;
    for (size_t i = 0; i < d->n_samples; i++) {
        const fg_prom_sample *s = &d->samples[i];
        if (strncmp(s->name, family, fl) != 0 || strcmp(s->name + fl, "_bucket") != 0 ||
            !fg_prom_matches(s, match, n_pairs))
            continue;
        const char *lv = fg_prom_label_value(s, "le");
        double b;
        if (!lv || fg_prom_parse_value(lv, strlen(lv), &b) < 0 || isnan(b))
            continue;
        size_t k = 0;
        while (k < n && le[k] < b)
            k++;
        if (k < n && le[k] == b) {
            cum[k] += s->value;
            continue;
        }
        if (k == max)
            continue; /* larger than every kept bound and no room */
        size_t last = n < max ? n : max - 1; /* when full, the largest bound is dropped */
        memmove(le + k + 1, le + k, (last - k) * sizeof *le);
        memmove(cum + k + 1, cum + k, (last - k) * sizeof *cum);
        le[k] = b;
        cum[k] = s->value;
        if (n < max)
            n++;
    }
    return n;
}

double fg_prom_histogram_quantile(double q, const double *le, const double *cum, size_t n) {
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if (n < 2 || !(isinf(le[n - 1]) && le[n - 1] > 0))
        return NAN;
    double total = 0;
    for (size_t i = 0; i < n; i++)
        if (cum[i] > total)
            total = cum[i];
    if (!(total > 0) || !isfinite(total))
        return NAN;
    double rank = q * total, run = 0, prev = 0;
    size_t b = 0;
    for (; b < n; b++) {
        if (cum[b] > run)
            run = cum[b];
        if (run >= rank)
            break;
        prev = run;
    }
    if (b >= n - 1)
        return le[n - 2];
    if (b == 0 && le[0] <= 0)
        return le[0];
    double start = b == 0 ? 0 : le[b - 1], count = run - (b == 0 ? 0 : prev);
    if (b > 0)
        rank -= prev;
    if (!(count > 0))
        return start;
    return start + (le[b] - start) * (rank / count);
}
