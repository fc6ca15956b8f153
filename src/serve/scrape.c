/* scrape.c - blocking HTTP GET, whole-file reads, /metrics scrapes and KPIs between two scrapes
 * (see scrape.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "serve/http.h"
#include "serve/scrape.h"

#define MAX_BODY FG_FETCH_MAX_BODY
#define CONNECT_MS 3000
#define READ_MS 10000
#define NBUCKETS 64


int fg_url_parse(const char *url, fg_url *u, char *err, size_t errn) {
    memset(u, 0, sizeof *u);
    if (strncasecmp(url, "https://", 8) == 0) {
        snprintf(err, errn, "%s: https is not supported (http:// only; put a TLS proxy's plain side here)", url);
        return -1;
    }
    if (strncasecmp(url, "http://", 7) != 0) {
        snprintf(err, errn, "%s: not an http:// URL (expected http://HOST[:PORT][/PATH])", url);
        return -1;
    }
    const char *p = url + 7, *hs, *he;
    if (*p == '[') {
        hs = p + 1;
        he = strchr(hs, ']');
        if (!he) {
            snprintf(err, errn, "%s: unterminated [IPv6] host", url);
            return -1;
        }
        p = he + 1;
    } else {
        hs = p;
        while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#')
            p++;
        he = p;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof u->host) {
        snprintf(err, errn, "%s: missing or too long host", url);
        return -1;
    }
    memcpy(u->host, hs, (size_t)(he - hs));
    for (const char *c = u->host; *c; c++)
        if (*c == '@' || (unsigned char)*c <= ' ') {
            snprintf(err, errn, "%s: bad host (user info is not supported)", url);
            return -1;
        }
    strcpy(u->port, "80");
    if (*p == ':') {
        p++;
        char *end;
        errno = 0;
        long port = strtol(p, &end, 10);
        if (end == p || errno || port < 1 || port > 65535 || (*end && *end != '/')) {
            snprintf(err, errn, "%s: bad port", url);
            return -1;
        }
        snprintf(u->port, sizeof u->port, "%ld", port);
        p = end;
    } else if (*p && *p != '/') {
        snprintf(err, errn, "%s: bad URL after the host", url);
        return -1;
    }
    size_t pl = strlen(p);
    while (pl && p[pl - 1] == '/')
        pl--;
    if (pl + 1 >= sizeof u->path) {
        snprintf(err, errn, "%s: path too long", url);
        return -1;
    }
    for (size_t i = 0; i < pl; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f) {
            snprintf(err, errn, "%s: bad character in the path", url);
            return -1;
        }
    memcpy(u->path, p, pl);
    if (!pl)
        strcpy(u->path, "/");
    u->local = strcmp(u->host, "127.0.0.1") == 0 || strcasecmp(u->host, "localhost") == 0 ||
               strcmp(u->host, "::1") == 0;
    return 0;
}

void fg_url_format(const fg_url *u, char *out, size_t n) {
    int v6 = strchr(u->host, ':') != NULL;
    snprintf(out, n, "http://%s%s%s:%s%s", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, u->path);
}

static int connect_to(const fg_url *u, char *err, size_t errn) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(u->host, u->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errn, "cannot resolve %s: %s", u->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, last = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            if (errno != EINPROGRESS) {
                last = errno;
                close(fd);
                fd = -1;
                continue;
            }
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            int pr = poll(&pf, 1, CONNECT_MS);
            if (pr <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
                last = pr == 0 ? ETIMEDOUT : soerr ? soerr : errno;
                close(fd);
                fd = -1;
            }
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errn, "cannot connect to %s:%s: %s", u->host, u->port, strerror(last));
    return fd;
}

static int header_value(const char *hdr, size_t hl, const char *name, char *out, size_t outn) {
    size_t nl = strlen(name);
    const char *p = hdr, *end = hdr + hl;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            size_t vl = (size_t)(eol - v);
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            if (vl >= outn)
                vl = outn - 1;
            memcpy(out, v, vl);
            out[vl] = 0;
            return 1;
        }
        p = eol + 1;
    }
    return 0;
}

/* Decodes a chunked body in place with the server's own (fuzzed) decoder; its length, or -1 when it is
 * malformed or incomplete. */
static long dechunk(char *b, size_t n) {
    fg_http_chunked ch;
    fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
    lim.max_body_bytes = MAX_BODY;
    fg_http_chunked_reset(&ch);
    return fg_http_chunked_decode(&ch, b, n, &lim) == 1 ? (long)ch.body_len : -1;
}

/* GET url; *body (NUL-terminated, malloc'd) and *len on success, else -1 with err filled */
int fg_http_get(const fg_url *u, char **body, size_t *len, char *err, size_t errn) {
    char url[1400];
    fg_url_format(u, url, sizeof url);
    int fd = connect_to(u, err, errn);
    if (fd < 0)
        return -1;
    char req[1600];
    int rl = snprintf(req, sizeof req,
                      "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: frugal\r\nAccept: */*\r\n"
                      "Connection: close\r\n\r\n",
                      u->path, u->host, u->port);
    size_t sent = 0;
    while (sent < (size_t)rl) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, READ_MS) <= 0) {
            snprintf(err, errn, "%s: timed out sending the request", url);
            close(fd);
            return -1;
        }
        ssize_t k = send(fd, req + sent, (size_t)rl - sent, MSG_NOSIGNAL);
        if (k < 0 && errno != EAGAIN && errno != EINTR) {
            snprintf(err, errn, "%s: send: %s", url, strerror(errno));
            close(fd);
            return -1;
        }
        if (k > 0)
            sent += (size_t)k;
    }
    size_t cap = 1 << 16, n = 0, hdr_end = 0;
    char *b = fg_xmalloc(cap + 1);
    long clen = -1;
    int chunked = 0, rc = -1;
    for (;;) {
        if (hdr_end && clen >= 0 && n - hdr_end >= (size_t)clen)
            break;
        if (hdr_end && chunked && n - hdr_end >= 5 && memcmp(b + n - 5, "0\r\n\r\n", 5) == 0)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int pr = poll(&pf, 1, READ_MS);
        if (pr <= 0) {
            snprintf(err, errn, "%s: timed out reading the response", url);
            goto out;
        }
        if (n == cap) {
            if (cap >= MAX_BODY + (1u << 16)) {
                snprintf(err, errn, "%s: response larger than 64 MiB", url);
                goto out;
            }
            cap *= 2;
            b = fg_xrealloc(b, cap + 1);
        }
        ssize_t k = recv(fd, b + n, cap - n, 0);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (k < 0) {
            snprintf(err, errn, "%s: recv: %s", url, strerror(errno));
            goto out;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (!hdr_end) {
            b[n] = 0;
            char *e = strstr(b, "\r\n\r\n");
            if (!e && n > (1u << 16)) {
                snprintf(err, errn, "%s: response headers too long", url);
                goto out;
            }
            if (e) {
                hdr_end = (size_t)(e - b) + 4;
                char v[64];
                if (header_value(b, hdr_end, "Content-Length", v, sizeof v)) {
                    char *end;
                    errno = 0;
                    long long cl = strtoll(v, &end, 10);
                    if (errno || *end || cl < 0 || cl > (long long)MAX_BODY) {
                        snprintf(err, errn, "%s: bad or too large Content-Length '%s'", url, v);
                        goto out;
                    }
                    clen = (long)cl;
                }
                if (header_value(b, hdr_end, "Transfer-Encoding", v, sizeof v) && strcasestr(v, "chunked"))
                    chunked = 1, clen = -1;
            }
        }
    }
    b[n] = 0;
    int major, minor, status;
    if (!hdr_end || sscanf(b, "HTTP/%d.%d %d", &major, &minor, &status) != 3) {
        snprintf(err, errn, "%s: not an HTTP response", url);
        goto out;
    }
    if (status != 200) {
        snprintf(err, errn, "%s: HTTP status %d", url, status);
        goto out;
    }
    size_t bl = n - hdr_end;
    if (chunked) {
        long d = dechunk(b + hdr_end, bl);
        if (d < 0) {
            snprintf(err, errn, "%s: malformed chunked body", url);
            goto out;
        }
        bl = (size_t)d;
    } else if (clen >= 0) {
        if (bl < (size_t)clen) {
            snprintf(err, errn, "%s: body shorter than its Content-Length (%zu of %ld bytes)", url, bl, clen);
            goto out;
        }
        bl = (size_t)clen;
    }
    if (bl > MAX_BODY) {
        snprintf(err, errn, "%s: response larger than 64 MiB", url);
        goto out;
    }
    memmove(b, b + hdr_end, bl);
    b[bl] = 0;
    *body = b;
    *len = bl;
    b = NULL;
    rc = 0;
out:
    free(b);
    close(fd);
    return rc;
}

int fg_read_whole_file(const char *path, char **body, size_t *len, char *err, size_t errn) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errn, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = fg_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap > MAX_BODY) {
                snprintf(err, errn, "%s: larger than 64 MiB", path);
                free(b);
                fclose(f);
                return -1;
            }
            cap *= 2;
            b = fg_xrealloc(b, cap + 1);
        }
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errn, "%s: read error", path);
        free(b);
        return -1;
    }
    b[n] = 0;
    *body = b;
    *len = n;
    return 0;
}


int fg_scrape(const char *src, fg_prom_doc *d, int *local, char *err, size_t errn) {
    char *body = NULL, where[1400];
    size_t len = 0;
    if (local)
        *local = 0;
    if (strncasecmp(src, "http://", 7) == 0 || strncasecmp(src, "https://", 8) == 0) {
        fg_url u;
        if (fg_url_parse(src, &u, err, errn) < 0)
            return -1;
        size_t pl = strlen(u.path);
        if (pl < 8 || strcmp(u.path + pl - 8, "/metrics") != 0) {
            if (pl + sizeof "/metrics" > sizeof u.path) {
                snprintf(err, errn, "%s: path too long", src);
                return -1;
            }
            strcpy(u.path + (pl && u.path[pl - 1] == '/' ? pl - 1 : pl), "/metrics");
        }
        fg_url_format(&u, where, sizeof where);
        if (fg_http_get(&u, &body, &len, err, errn) < 0)
            return -1;
        if (local)
            *local = u.local;
    } else {
        snprintf(where, sizeof where, "%s", src);
        if (fg_read_whole_file(src, &body, &len, err, errn) < 0)
            return -1;
    }
    fg_err e = {0};
    int rc = fg_prom_parse(body, len, d, &e);
    free(body);
    if (rc < 0) {
        snprintf(err, errn, "%s: %s", where, e.msg);
        return -1;
    }
    if (d->n_samples == 0) {
        snprintf(err, errn, "%s: no metrics in it%s%s%s", where, d->n_bad ? " (first bad line: " : "",
                 d->n_bad ? d->bad_why : "", d->n_bad ? ")" : "");
        fg_prom_free(d);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- KPIs */

const char *const fg_scrape_outcomes[] = {"success", "bad_request", "rejected", "timeout", "unavailable", "error"};

double fg_scrape_counter_delta(const fg_prom_doc *a, const fg_prom_doc *b, const char *name, const char *const *m,
                            size_t np) {
    double v1 = fg_prom_sum(a, name, m, np, NULL), v2 = fg_prom_sum(b, name, m, np, NULL);
    return v2 >= v1 ? v2 - v1 : v2; /* a reset between the scrapes: count from zero */
}

static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

/* delta of histogram `fam` between the scrapes; returns bucket count, le/cum filled */
static size_t hist_delta(const fg_prom_doc *a, const fg_prom_doc *b, const char *fam, const char *const *m,
                         size_t np, double *le, double *cum) {
    double le1[NBUCKETS], cum1[NBUCKETS];
    size_t n1 = fg_prom_buckets(a, fam, m, np, le1, cum1, NBUCKETS);
    size_t n2 = fg_prom_buckets(b, fam, m, np, le, cum, NBUCKETS);
    for (size_t i = 0; i < n2; i++)
        for (size_t k = 0; k < n1; k++)
            if (le1[k] == le[i]) {
                cum[i] = cum[i] >= cum1[k] ? cum[i] - cum1[k] : cum[i];
                break;
            }
    return n2;
}

static int has_pair(const fg_scrape_model *ms, size_t n, const char *model, const char *version) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(ms[i].model, model) == 0 && strcmp(ms[i].version, version) == 0)
            return 1;
    return 0;
}

static void model_kpis(const fg_prom_doc *a, const fg_prom_doc *b, double interval, fg_scrape_model *k) {
    const char *mv[] = {"model", k->model, "version", k->version, "outcome", NULL};
    for (int o = 0; o < FG_SCRAPE_N_OUT; o++) {
        mv[5] = fg_scrape_outcomes[o];
        k->req[o] = fg_scrape_counter_delta(a, b, "frugal_requests_total", mv, 3);
        k->total += k->req[o];
    }
    k->rps = k->total / interval;
    double le[NBUCKETS], cum[NBUCKETS];
    size_t nb = hist_delta(a, b, "frugal_request_duration_seconds", mv, 2, le, cum);
    k->p50 = fg_prom_histogram_quantile(0.50, le, cum, nb);
    k->p95 = fg_prom_histogram_quantile(0.95, le, cum, nb);
    k->p99 = fg_prom_histogram_quantile(0.99, le, cum, nb);
    k->lat_mean = ratio(fg_scrape_counter_delta(a, b, "frugal_request_duration_seconds_sum", mv, 2),
                        fg_scrape_counter_delta(a, b, "frugal_request_duration_seconds_count", mv, 2));
    k->queue_mean = ratio(fg_scrape_counter_delta(a, b, "frugal_queue_duration_seconds_sum", mv, 2),
                          fg_scrape_counter_delta(a, b, "frugal_queue_duration_seconds_count", mv, 2));
    k->compute_mean = ratio(fg_scrape_counter_delta(a, b, "frugal_compute_duration_seconds_sum", mv, 2),
                            fg_scrape_counter_delta(a, b, "frugal_compute_duration_seconds_count", mv, 2));
    double batches = fg_scrape_counter_delta(a, b, "frugal_batch_size_count", mv, 2);
    k->batch_mean = ratio(fg_scrape_counter_delta(a, b, "frugal_batch_size_sum", mv, 2), batches);
    double items = fg_scrape_counter_delta(a, b, "frugal_batch_items_total", mv, 2);
    double capy = fg_scrape_counter_delta(a, b, "frugal_batch_capacity_items_total", mv, 2);
    k->batch_eff = ratio(items, capy);
    k->max_batch = ratio(capy, fg_scrape_counter_delta(a, b, "frugal_batches_total", mv, 2));
    k->n_batch_le = hist_delta(a, b, "frugal_batch_size", mv, 2, k->batch_le, k->batch_cum);
    /* warmup: the slowest requests before the first scrape, against the interval's p99 */
    double l1[NBUCKETS], c1[NBUCKETS];
    size_t n1 = fg_prom_buckets(a, "frugal_request_duration_seconds", mv, 2, l1, c1, NBUCKETS);
    k->warm_lo = NAN;
    if (n1 >= 2 && c1[n1 - 1] > 0) {
        size_t i = 0;
        while (i < n1 && c1[i] < c1[n1 - 1])
            i++;
        k->warm_lo = i == 0 ? 0 : l1[i - 1];
    }
    /* instances */
    for (size_t i = 0; i < b->n_samples; i++) {
        const fg_prom_sample *s = &b->samples[i];
        /* engine_instance (instance before it was renamed to keep clear of Prometheus's target label) */
        const char *ilab = "engine_instance", *inst = fg_prom_label_value(s, ilab);
        if (!inst)
            inst = fg_prom_label_value(s, ilab = "instance");
        if (!inst || strcmp(s->name, "frugal_instance_busy_seconds_total") != 0 || !fg_prom_matches(s, mv, 2))
            continue;
        int dup = 0;
        for (size_t j = 0; j < k->n_inst; j++)
            dup |= strcmp(k->inst[j], inst) == 0;
        if (dup || k->n_inst >= 256)
            continue;
        k->inst = fg_xrealloc(k->inst, (k->n_inst + 1) * sizeof *k->inst);
        k->busy = fg_xrealloc(k->busy, (k->n_inst + 1) * sizeof *k->busy);
        const char *mi[] = {"model", k->model, "version", k->version, ilab, inst};
        k->inst[k->n_inst] = fg_xstrdup(inst);
        k->busy[k->n_inst] = fg_scrape_counter_delta(a, b, "frugal_instance_busy_seconds_total", mi, 3) / interval;
        k->n_inst++;
    }
    double bs = 0;
    for (size_t j = 0; j < k->n_inst; j++)
        bs += k->busy[j];
    k->busy_mean = k->n_inst ? bs / (double)k->n_inst : NAN;
    /* cache (labelled by model and level, not version) */
    const char *ml[] = {"model", k->model, "level", "local"};
    k->hits_local = fg_scrape_counter_delta(a, b, "frugal_cache_hits_total", ml, 2);
    k->misses_local = fg_scrape_counter_delta(a, b, "frugal_cache_misses_total", ml, 2);
    k->evictions = fg_scrape_counter_delta(a, b, "frugal_cache_evictions_total", ml, 2);
    k->insertions = fg_scrape_counter_delta(a, b, "frugal_cache_insertions_total", ml, 2);
    ml[3] = "redis";
    k->hits_redis = fg_scrape_counter_delta(a, b, "frugal_cache_hits_total", ml, 2);
    k->misses_redis = fg_scrape_counter_delta(a, b, "frugal_cache_misses_total", ml, 2);
    k->bypassed = fg_scrape_counter_delta(a, b, "frugal_cache_bypassed_total", ml, 1);
    k->hit_ratio = ratio(k->hits_local + k->hits_redis, k->hits_local + k->misses_local);
    k->queue_depth = fg_prom_sum(b, "frugal_queue_depth", mv, 2, NULL);
}

int fg_scrape_analyse(const fg_prom_doc *a, const fg_prom_doc *b, double wall_s, int local, fg_scrape_kpis *s,
                   char *err, size_t errn) {
    memset(s, 0, sizeof *s);
    size_t f1, f2;
    s->uptime1 = fg_prom_sum(a, "frugal_uptime_seconds", NULL, 0, &f1);
    s->uptime2 = fg_prom_sum(b, "frugal_uptime_seconds", NULL, 0, &f2);
    if (f1 != 1 || f2 != 1 || !isfinite(s->uptime1) || !isfinite(s->uptime2)) {
        snprintf(err, errn, "not frugal's metrics: no (single) frugal_uptime_seconds in %s scrape",
                 f1 != 1 || !isfinite(s->uptime1) ? "the first" : "the second");
        return -1;
    }
    if (s->uptime2 < s->uptime1) {
        snprintf(err, errn, "the server restarted between the scrapes (uptime %.3f s, then %.3f s)", s->uptime1,
                 s->uptime2);
        return -1;
    }
    s->interval = s->uptime2 - s->uptime1;
    if (!(s->interval > 0.001))
        s->interval = wall_s;
    if (!(s->interval > 0.001)) {
        snprintf(err, errn, "the two scrapes are of the same moment (uptime %.3f s in both)", s->uptime1);
        return -1;
    }
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    s->ncpu = nc > 0 ? (double)nc : 1;
    s->cpu_estimate = !local;
    s->cpu_share = fg_scrape_counter_delta(a, b, "frugal_process_cpu_seconds_total", NULL, 0) / s->interval / s->ncpu;
    s->price = fg_prom_sum(b, "frugal_price_per_hour_usd", NULL, 0, NULL);
    s->cost = fg_scrape_counter_delta(a, b, "frugal_cost_usd_total", NULL, 0);
    /* models: every (model, version) with request counters in the second scrape */
    for (size_t i = 0; i < b->n_samples; i++) {
        const fg_prom_sample *x = &b->samples[i];
        if (strcmp(x->name, "frugal_requests_total") != 0)
            continue;
        const char *m = fg_prom_label_value(x, "model"), *v = fg_prom_label_value(x, "version");
        /* at most 256 models: bounds the scans of a hostile scrape */
        if (!m || !v || has_pair(s->m, s->n_models, m, v) || s->n_models >= 256)
            continue;
        s->m = fg_xrealloc(s->m, (s->n_models + 1) * sizeof *s->m);
        fg_scrape_model *k = &s->m[s->n_models++];
        memset(k, 0, sizeof *k);
        k->model = fg_xstrdup(m);
        k->version = fg_xstrdup(v);
    }
    double busy = 0;
    for (size_t i = 0; i < s->n_models; i++) {
        fg_scrape_model *k = &s->m[i];
        model_kpis(a, b, s->interval, k);
        s->requests += k->total;
        for (size_t j = 0; j < k->n_inst; j++)
            busy += k->busy[j];
        s->n_inst += k->n_inst;
    }
    s->rps = s->requests / s->interval;
    s->cost_per_1k = s->requests > 0 && s->price > 0 ? s->cost * 1000 / s->requests : NAN;
    s->idle_share = s->n_inst ? 1 - busy / (double)s->n_inst : NAN;
    return 0;
}

void fg_scrape_kpis_free(fg_scrape_kpis *s) {
    for (size_t i = 0; i < s->n_models; i++) {
        fg_scrape_model *k = &s->m[i];
        for (size_t j = 0; j < k->n_inst; j++)
            free(k->inst[j]);
        free(k->inst);
        free(k->busy);
        free(k->model);
        free(k->version);
    }
    free(s->m);
}
