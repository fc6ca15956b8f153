/* loadgen.c - frugal bench's load engine (see loadgen.h): worker threads with their own epoll loops and
 * connections, closed and open loop, stage schedule by the clock, response parsing, latency recording.
 * Hot path: no allocation and no formatting per request; one read and one send syscall per request
 * on a keep-alive connection. Sends are timed by sleeping in epoll_pwait2 (ns timeout, 1 ns timer
 * slack) until shortly before the due time and spinning the rest. */
#include "bench/loadgen.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "serve/http.h"

#define SPIN_NS 20000ull            /* spin in user space (no syscalls) this close to a due send */
#define SCAN_NS 10000000ull         /* timeout scan period */
#define RETRY_NS 10000000ull        /* closed loop: wait after a failed connect before opening another */
#define RBUF_INIT 16384
#define MAX_HEAD 65536
#define MAX_CHUNKED_BODY (64u << 20)
#define TIMELINE_MAX_S 86400
#define NEVER UINT64_MAX

enum { C_FREE = 0, C_CONNECTING, C_IDLE, C_BUSY };
enum { P_HEAD = 0, P_BODY_LEN, P_BODY_CHUNKED, P_BODY_EOF };
enum { K_CONNECT = 0, K_TIMEOUT, K_RESET, K_OTHER };

typedef struct {
    int fd;
    int state;
    int has_req;     /* C_CONNECTING: a request waits for the connection */
    int want_out;    /* EPOLLOUT registered */
    int close_after; /* the answer said Connection: close */
    uint32_t stage;
    uint64_t intended, sent_at, started;
    const char *wbuf;
    size_t wlen, woff;
    char *rbuf;
    size_t rcap, rlen, scan;
    int phase, status;
    uint64_t body_left;
    size_t head_len;
    fg_http_chunked ch;
} conn;

typedef struct {
    _Atomic uint64_t sent, completed, ok, dropped, late, errors;
    uint64_t err_status[600];
    uint64_t err_kind[4];
    fg_hist *lat, *svc;
    uint64_t *blat, *bsvc; /* per-bucket counts for the results' histogram export (fg_hist has no reader) */
} wstats;

typedef struct {
    fg_hist *lat, *svc;
} tl_hists;

typedef struct {
    _Atomic(tl_hists *) h;
    _Atomic uint64_t sent, ok, errors;
} tl_slot;

struct run;

typedef struct {
    struct run *r;
    unsigned id;
    pthread_t th;
    int ep;
    conn *c;
    uint32_t cap;       /* connections this thread may hold */
    uint32_t *idle, n_idle;
    uint32_t *freel, n_free;
    uint32_t n_open, n_busy, n_pending; /* open = connecting + idle + busy; pending = connecting with a request */
    uint64_t rs, rr;
    wstats *st;
    uint64_t quota;      /* requests mode: requests left to dispatch */
    uint64_t connect_retry_at;
    _Atomic uint64_t published; /* loop time; every record this thread makes is at or after it */
    _Atomic unsigned open_now;
    _Atomic int done;
    unsigned max_open[FG_BENCH_MAX_STAGES];
} worker;

typedef struct run {
    const fg_bench_run_opts *o;
    const fg_bench_target *t;
    uint64_t t0;
    uint64_t *stage_start, *stage_end; /* absolute ns; requests mode: end NEVER */
    _Atomic uint64_t stop_at;           /* no dispatch at or after this time */
    int requests_mode;
    worker *w;
    unsigned nw;
    tl_slot *slots;
    size_t n_slots;
    tl_hists final_mark; /* sentinel address: the slot was summarised */
} run;

/* ---------------------------------------------------------------- response head */

int fg_bench_parse_response_head(const char *buf, size_t len, int *status, int64_t *content_length, int *chunked,
                                 int *close) {
    *status = 0;
    *content_length = -1;
    *chunked = 0;
    *close = 0;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
        return -1;
    int http10 = buf[7] == '0', keep_alive = 0;
    if (buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' || buf[11] < '0' || buf[11] > '9')
        return -1;
    if (len > 12 && buf[12] != ' ' && buf[12] != '\r')
        return -1;
    *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    const char *p = memchr(buf, '\n', len);
    const char *end = buf + len;
    while (p && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return -1;
        size_t l = (size_t)(eol - p);
        if (l && p[l - 1] == '\r')
            l--;
        if (l == 0)
            break;
        const char *colon = memchr(p, ':', l);
        if (!colon)
            return -1;
        size_t nl = (size_t)(colon - p);
        const char *v = colon + 1, *ve = p + l;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v);
        if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
            if (vl == 0 || vl > 18)
                return -1;
            int64_t n = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return -1;
                n = n * 10 + (v[i] - '0');
            }
            if (*content_length >= 0 && *content_length != n)
                return -1;
            *content_length = n;
        } else if (nl == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
            if (vl >= 7 && strncasecmp(ve - 7, "chunked", 7) == 0)
                *chunked = 1;
        } else if (nl == 10 && strncasecmp(p, "connection", 10) == 0) {
            for (size_t i = 0; i + 5 <= vl; i++)
                if (strncasecmp(v + i, "close", 5) == 0)
                    *close = 1;
            for (size_t i = 0; i + 10 <= vl; i++)
                if (strncasecmp(v + i, "keep-alive", 10) == 0)
                    keep_alive = 1;
        }
        p = eol;
    }
    if (http10 && !keep_alive)
        *close = 1;
    return 0;
}

/* ---------------------------------------------------------------- timeline */

static tl_slot *slot_at(run *r, uint64_t t) {
    if (t < r->t0)
        return NULL;
    uint64_t s = (t - r->t0) / 1000000000ull;
    return s < r->n_slots ? &r->slots[s] : NULL;
}

/* The slot's histograms, allocated by the first thread that needs them; NULL once summarised. */
static tl_hists *slot_hists(run *r, tl_slot *sl) {
    tl_hists *h = atomic_load_explicit(&sl->h, memory_order_acquire);
    if (h == &r->final_mark)
        return NULL;
    if (h)
        return h;
    tl_hists *n = fg_xmalloc(sizeof *n);
    n->lat = fg_hist_new();
    n->svc = fg_hist_new();
    tl_hists *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&sl->h, &expected, n, memory_order_acq_rel, memory_order_acquire))
        return n;
    fg_hist_free(n->lat);
    fg_hist_free(n->svc);
    free(n);
    return expected == &r->final_mark ? NULL : expected;
}

/* ---------------------------------------------------------------- connections */

static void stats_add(atomic_uint_least64_t *x) {
    atomic_store_explicit(x, atomic_load_explicit(x, memory_order_relaxed) + 1, memory_order_relaxed);
}

static void ep_set(worker *w, conn *c, uint32_t idx, int out) {
    if (c->want_out == out)
        return;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.u32 = idx};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = out;
}

static void conn_close(worker *w, uint32_t idx) {
    conn *c = &w->c[idx];
    if (c->state == C_FREE)
        return;
    if (c->state == C_IDLE) { /* remove from the idle stack */
        for (uint32_t i = 0; i < w->n_idle; i++)
            if (w->idle[i] == idx) {
                w->idle[i] = w->idle[--w->n_idle];
                break;
            }
    }
    if (c->state == C_BUSY)
        w->n_busy--;
    if (c->state == C_CONNECTING && c->has_req)
        w->n_pending--;
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = C_FREE;
    c->has_req = 0;
    c->want_out = 0;
    w->n_open--;
    w->freel[w->n_free++] = idx;
    atomic_store_explicit(&w->open_now, w->n_open, memory_order_relaxed);
}

/* One request failed without an answer: counted by kind in its stage. */
static void fail_req(worker *w, conn *c, int kind, uint64_t now) {
    wstats *s = &w->st[c->stage];
    s->err_kind[kind]++;
    stats_add(&s->errors);
    tl_slot *sl = slot_at(w->r, now);
    if (sl)
        atomic_fetch_add_explicit(&sl->errors, 1, memory_order_relaxed);
}

/* Fails the connection's request (if any) and closes it. */
static void conn_fail(worker *w, uint32_t idx, int kind, uint64_t now) {
    conn *c = &w->c[idx];
    if (c->state == C_BUSY || (c->state == C_CONNECTING && c->has_req)) {
        fail_req(w, c, kind, now);
        if (kind == K_CONNECT)
            w->connect_retry_at = now + RETRY_NS;
    }
    conn_close(w, idx);
}

/* Opens a non-blocking connection; returns its index, or -1 (counted by the caller). */
static int64_t conn_open(worker *w, uint64_t now) {
    if (w->n_free == 0)
        return -1;
    const fg_bench_target *t = w->r->t;
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, (const struct sockaddr *)&t->addr, t->addr_len);
    if (rc < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    uint32_t idx = w->freel[--w->n_free];
    conn *c = &w->c[idx];
    c->fd = fd;
    c->state = C_CONNECTING;
    c->has_req = 0;
    c->started = now;
    c->want_out = 1;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = idx};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        c->fd = -1;
        c->state = C_FREE;
        w->freel[w->n_free++] = idx;
        return -1;
    }
    w->n_open++;
    atomic_store_explicit(&w->open_now, w->n_open, memory_order_relaxed);
    return idx;
}

/* Writes as much of the request as the socket takes; on a partial write waits for EPOLLOUT. */
static void conn_write(worker *w, uint32_t idx, uint64_t now) {
    conn *c = &w->c[idx];
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ep_set(w, c, idx, 1);
            return;
        }
        conn_fail(w, idx, K_RESET, now);
        return;
    }
    ep_set(w, c, idx, 0);
}

/* Starts the connection's request: picks the bytes, stamps the actual send time, writes. */
static void start_send(worker *w, uint32_t idx, uint64_t now) {
    conn *c = &w->c[idx];
    const fg_bench_target *t = w->r->t;
    size_t k;
    if (t->zipf_cdf) {
        w->rs += 0x9E3779B97F4A7C15ull;
        uint64_t z = w->rs;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        k = fg_bench_zipf_pick(t->zipf_cdf, t->n_req, (double)(z >> 11) * 0x1.0p-53);
    } else {
        k = (size_t)(w->rr++ % t->n_req);
    }
    c->wbuf = t->req[k];
    c->wlen = t->req_len[k];
    c->woff = 0;
    c->sent_at = now;
    c->rlen = c->scan = 0;
    c->phase = P_HEAD;
    c->state = C_BUSY;
    c->has_req = 0;
    w->n_busy++;
    if (now > c->intended + FG_BENCH_LATE_NS)
        stats_add(&w->st[c->stage].late);
    conn_write(w, idx, now);
}

/* Dispatches one request meant for `intended` in stage si: on an idle connection, else on a new one,
 * else it is dropped. */
static void dispatch(worker *w, uint32_t si, uint64_t intended, uint64_t now) {
    wstats *s = &w->st[si];
    int64_t idx;
    if (w->n_idle) {
        idx = w->idle[--w->n_idle];
    } else if (w->n_open < w->cap && now >= w->connect_retry_at) {
        idx = conn_open(w, now);
        if (idx < 0) {
            stats_add(&s->sent);
            s->err_kind[K_CONNECT]++;
            stats_add(&s->errors);
            tl_slot *sl = slot_at(w->r, now);
            if (sl) {
                atomic_fetch_add_explicit(&sl->sent, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&sl->errors, 1, memory_order_relaxed);
            }
            w->connect_retry_at = now + RETRY_NS;
            return;
        }
    } else {
        stats_add(&s->dropped);
        return;
    }
    stats_add(&s->sent);
    tl_slot *sl = slot_at(w->r, now);
    if (sl)
        atomic_fetch_add_explicit(&sl->sent, 1, memory_order_relaxed);
    conn *c = &w->c[idx];
    c->stage = si;
    c->intended = intended;
    if (c->state == C_CONNECTING) {
        c->has_req = 1;
        c->sent_at = now;
        w->n_pending++;
    } else {
        start_send(w, (uint32_t)idx, now);
    }
}

static void make_idle(worker *w, uint32_t idx) {
    w->c[idx].state = C_IDLE;
    w->idle[w->n_idle++] = idx;
}

/* One answer is complete: record it, then close or free the connection. */
static void complete(worker *w, uint32_t idx, uint64_t now) {
    conn *c = &w->c[idx];
    wstats *s = &w->st[c->stage];
    if (!s->lat) {
        s->lat = fg_hist_new();
        s->svc = fg_hist_new();
        s->blat = fg_xcalloc(fg_hist_n_buckets(), sizeof *s->blat);
        s->bsvc = fg_xcalloc(fg_hist_n_buckets(), sizeof *s->bsvc);
    }
    uint64_t lat = now - c->intended, svc = now - c->sent_at;
    fg_hist_record_ns(s->lat, lat);
    fg_hist_record_ns(s->svc, svc);
    s->blat[fg_hist_bucket_index(lat / 1000)]++;
    s->bsvc[fg_hist_bucket_index(svc / 1000)]++;
    stats_add(&s->completed);
    int ok = c->status >= 200 && c->status < 300;
    if (ok) {
        stats_add(&s->ok);
    } else {
        s->err_status[c->status < 600 ? c->status : 599]++;
        stats_add(&s->errors);
    }
    tl_slot *sl = slot_at(w->r, now);
    if (sl) {
        atomic_fetch_add_explicit(ok ? &sl->ok : &sl->errors, 1, memory_order_relaxed);
        tl_hists *h = slot_hists(w->r, sl);
        if (h) {
            fg_hist_record_ns(h->lat, lat);
            fg_hist_record_ns(h->svc, svc);
        }
    }
    w->n_busy--;
    c->state = C_IDLE; /* transient: the caller reuses, parks or closes it */
    if (c->close_after) {
        c->state = C_IDLE;
        w->idle[w->n_idle++] = idx; /* conn_close removes it from the stack */
        conn_close(w, idx);
        return;
    }
    make_idle(w, idx);
}

/* Reads what arrived on a busy connection and advances the response parser. */
static void conn_read(worker *w, uint32_t idx, uint64_t now) {
    conn *c = &w->c[idx];
    for (;;) {
        if (c->rlen == c->rcap) {
            size_t ncap = c->rcap ? c->rcap * 2 : RBUF_INIT;
            if ((c->phase == P_HEAD && ncap > MAX_HEAD * 2) || ncap > MAX_CHUNKED_BODY + MAX_HEAD) {
                conn_fail(w, idx, K_OTHER, now);
                return;
            }
            c->rbuf = fg_xrealloc(c->rbuf, ncap);
            c->rcap = ncap;
        }
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            if (n == 0 && c->phase == P_BODY_EOF) {
                complete(w, idx, now);
                conn_close(w, idx);
                return;
            }
            conn_fail(w, idx, c->state == C_BUSY ? K_RESET : K_OTHER, now);
            return;
        }
        if (c->state != C_BUSY) { /* bytes nobody asked for */
            conn_fail(w, idx, K_OTHER, now);
            return;
        }
        c->rlen += (size_t)n;
        for (;;) {
            if (c->phase == P_HEAD) {
                size_t from = c->scan > 3 ? c->scan - 3 : 0;
                const char *hit = NULL;
                for (size_t i = from; i + 3 < c->rlen; i++)
                    if (c->rbuf[i] == '\r' && c->rbuf[i + 1] == '\n' && c->rbuf[i + 2] == '\r' && c->rbuf[i + 3] == '\n') {
                        hit = c->rbuf + i;
                        break;
                    }
                c->scan = c->rlen;
                if (!hit) {
                    if (c->rlen > MAX_HEAD) {
                        conn_fail(w, idx, K_OTHER, now);
                        return;
                    }
                    break;
                }
                c->head_len = (size_t)(hit - c->rbuf) + 4;
                int64_t cl;
                int chunked, close_after;
                if (fg_bench_parse_response_head(c->rbuf, c->head_len, &c->status, &cl, &chunked, &close_after) < 0) {
                    conn_fail(w, idx, K_OTHER, now);
                    return;
                }
                c->close_after = close_after;
                size_t extra = c->rlen - c->head_len;
                if (c->status < 200) { /* 1xx: an interim head, the real one follows */
                    memmove(c->rbuf, c->rbuf + c->head_len, extra);
                    c->rlen = extra;
                    c->scan = 0;
                    continue;
                }
                int no_body = c->status == 204 || c->status == 304 || strcmp(w->r->t->method, "HEAD") == 0;
                if (no_body) {
                    c->body_left = 0;
                    c->phase = P_BODY_LEN;
                } else if (chunked) {
                    fg_http_chunked_reset(&c->ch);
                    c->phase = P_BODY_CHUNKED;
                } else if (cl >= 0) {
                    c->body_left = (uint64_t)cl;
                    c->phase = P_BODY_LEN;
                } else {
                    c->phase = P_BODY_EOF;
                    c->close_after = 1;
                    c->rlen = 0;
                    break;
                }
                if (c->phase == P_BODY_LEN) {
                    if (extra > c->body_left) { /* more than the answer: this client never pipelines */
                        conn_fail(w, idx, K_OTHER, now);
                        return;
                    }
                    c->body_left -= extra;
                    c->rlen = 0; /* the body is counted, not kept */
                    if (c->body_left == 0) {
                        complete(w, idx, now);
                        return;
                    }
                    break;
                }
                continue; /* chunked: decode what is there */
            }
            if (c->phase == P_BODY_LEN) {
                if ((uint64_t)c->rlen > c->body_left) {
                    conn_fail(w, idx, K_OTHER, now);
                    return;
                }
                c->body_left -= c->rlen;
                c->rlen = 0;
                if (c->body_left == 0) {
                    complete(w, idx, now);
                    return;
                }
                break;
            }
            if (c->phase == P_BODY_CHUNKED) {
                fg_http_limits lim = FG_HTTP_LIMITS_DEFAULT;
                int rc = fg_http_chunked_decode(&c->ch, c->rbuf + c->head_len, c->rlen - c->head_len, &lim);
                if (rc < 0) {
                    conn_fail(w, idx, K_OTHER, now);
                    return;
                }
                if (rc == 1) {
                    if (c->head_len + c->ch.consumed != c->rlen) {
                        conn_fail(w, idx, K_OTHER, now);
                        return;
                    }
                    complete(w, idx, now);
                    return;
                }
                break; /* the decoder keeps its place; the buffer keeps growing up to MAX_CHUNKED_BODY */
            }
            /* P_BODY_EOF: discard until the server closes */
            c->rlen = 0;
            break;
        }
    }
}

/* A connecting socket became writable (or failed). */
static void conn_connected(worker *w, uint32_t idx, uint64_t now) {
    conn *c = &w->c[idx];
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
        conn_fail(w, idx, K_CONNECT, now);
        return;
    }
    if (c->has_req) {
        w->n_pending--;
        start_send(w, idx, now);
    } else {
        ep_set(w, c, idx, 0);
        make_idle(w, idx);
    }
}

static void on_event(worker *w, uint32_t idx, uint32_t ev, uint64_t now) {
    conn *c = &w->c[idx];
    if (c->state == C_FREE)
        return;
    if (c->state == C_CONNECTING) {
        if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            conn_connected(w, idx, now);
        return;
    }
    if (c->state == C_IDLE) { /* the server closed a kept-alive connection, or sent garbage */
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            conn_close(w, idx);
        return;
    }
    if ((ev & EPOLLOUT) && c->woff < c->wlen)
        conn_write(w, idx, now);
    if (c->state == C_BUSY && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        conn_read(w, idx, now);
}

/* ---------------------------------------------------------------- worker loop */

static uint64_t rand_u64(worker *w) {
    uint64_t z = (w->rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* This thread's share of a total (connections, requests): total / n, the first total % n get one more. */
static uint64_t share(uint64_t total, unsigned n, unsigned id) { return total / n + (id < total % n ? 1 : 0); }

/* Rate of stage st at time t (per second, whole run), for ramps linear between start and end. */
static double rate_at(const run *r, size_t si, uint64_t t) {
    const fg_stage *st = &r->o->stages[si];
    if (st->kind != FG_STAGE_RAMP || r->stage_end[si] == NEVER)
        return st->rate;
    double f = (double)(t - r->stage_start[si]) / (double)(r->stage_end[si] - r->stage_start[si]);
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    return st->rate + (st->rate_end - st->rate) * f;
}

/* Next intended send time after `prev` for this thread (rate split over the threads). */
static uint64_t next_send(worker *w, size_t si, uint64_t prev) {
    double rate = rate_at(w->r, si, prev) / w->r->nw;
    double gap = 1e9 / rate;
    if (w->r->o->poisson) {
        double u = (double)(rand_u64(w) >> 11) * 0x1.0p-53;
        gap = -log1p(-u) * gap;
    }
    uint64_t g = (uint64_t)gap;
    return prev + (g ? g : 1);
}

static void scan_timeouts(worker *w, uint64_t now, uint64_t limit_ns) {
    for (uint32_t i = 0; i < w->cap; i++) {
        conn *c = &w->c[i];
        if (c->state == C_BUSY && now - c->sent_at > limit_ns)
            conn_fail(w, i, K_TIMEOUT, now);
        else if (c->state == C_CONNECTING && now - c->started > limit_ns)
            conn_fail(w, i, c->has_req ? K_TIMEOUT : K_CONNECT, now);
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    run *r = w->r;
    const fg_bench_run_opts *o = r->o;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* precise wakeups for scheduled sends */
    struct epoll_event evs[256];
    uint64_t timeout_ns = (uint64_t)(o->timeout_s * 1e9);
    size_t si = 0;
    int stage_on = 0;         /* the stage si has been set up */
    uint64_t due = NEVER;     /* open loop: next intended send */
    uint64_t want = 0;        /* closed loop: connections that should be busy */
    uint64_t next_scan = 0, drain_deadline = NEVER;
    for (;;) {
        uint64_t now = fg_now_ns();
        atomic_store_explicit(&w->published, now, memory_order_release);
        uint64_t stop = atomic_load_explicit(&r->stop_at, memory_order_relaxed);
        int sending = now >= r->t0 && now < stop && (!r->requests_mode || w->quota > 0);
        if (sending) {
            while (si + 1 < o->n_stages && now >= r->stage_start[si + 1]) {
                si++;
                stage_on = 0;
            }
            const fg_stage *st = &o->stages[si];
            if (!stage_on) {
                stage_on = 1;
                if (fg_stage_is_open(st)) {
                    /* threads are staggered so their sends interleave instead of bunching */
                    double gap = 1e9 / rate_at(r, si, r->stage_start[si]);
                    due = r->stage_start[si] + (uint64_t)(gap * w->id);
                    want = 0;
                } else {
                    due = NEVER;
                    want = share(st->concurrency, r->nw, w->id);
                }
            }
            uint64_t end = r->stage_end[si] < stop ? r->stage_end[si] : stop;
            if (fg_stage_is_open(st)) {
                while (due <= now && due < end && (!r->requests_mode || w->quota > 0)) {
                    dispatch(w, (uint32_t)si, due, now);
                    if (r->requests_mode)
                        w->quota--;
                    due = next_send(w, si, due);
                }
            } else {
                while (w->n_busy + w->n_pending < want && (!r->requests_mode || w->quota > 0)) {
                    if (!w->n_idle && (w->n_open >= w->cap || now < w->connect_retry_at))
                        break;
                    dispatch(w, (uint32_t)si, now, now);
                    if (r->requests_mode)
                        w->quota--;
                }
            }
        } else if (now >= r->t0 && drain_deadline == NEVER) {
            drain_deadline = now + timeout_ns;
        }
        if (!sending && now >= r->t0) {
            if ((w->n_busy == 0 && w->n_pending == 0) || now >= drain_deadline)
                break;
        }
        if (now >= next_scan) {
            scan_timeouts(w, now, timeout_ns);
            next_scan = now + SCAN_NS;
        }
        /* how long to wait for events: until the next due send (minus the spin window), the next
         * stage, the next timeout scan */
        uint64_t wake = next_scan;
        int due_first = 0; /* the next thing to do is the due send */
        if (now < r->t0)
            wake = r->t0;
        if (sending) {
            if (due < wake) {
                wake = due > SPIN_NS ? due - SPIN_NS : 0;
                due_first = 1;
            }
            if (si + 1 < o->n_stages && r->stage_start[si + 1] < wake) {
                wake = r->stage_start[si + 1];
                due_first = 0;
            }
            if (stop < wake) {
                wake = stop;
                due_first = 0;
            }
            if (o->stages[si].kind == FG_STAGE_CLOSED && now < w->connect_retry_at && w->connect_retry_at < wake) {
                wake = w->connect_retry_at;
                due_first = 0;
            }
        }
        if (due_first && due > now && wake <= now) {
            /* within SPIN_NS of the send: spin on the vDSO clock rather than pay a syscall per check
             * (answers arriving meanwhile wait at most SPIN_NS; the next sleep picks them up) */
            while (fg_now_ns() < due) {
            }
            continue;
        }
        struct timespec ts = {0, 0};
        if (wake > now) {
            uint64_t d = wake - now;
            ts.tv_sec = (time_t)(d / 1000000000ull);
            ts.tv_nsec = (long)(d % 1000000000ull);
        }
        int n = epoll_pwait2(w->ep, evs, 256, &ts, NULL);
        if (n < 0 && errno == ENOSYS) /* kernels before 5.11: millisecond sleeps, the spin does the rest */
            n = epoll_wait(w->ep, evs, 256, (int)(((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) / 1000000));
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0) {
            uint64_t t = fg_now_ns();
            for (int i = 0; i < n; i++)
                on_event(w, evs[i].data.u32, evs[i].events, t);
        }
        unsigned open = w->n_open;
        if (open > w->max_open[si])
            w->max_open[si] = open;
    }
    uint64_t now = fg_now_ns();
    for (uint32_t i = 0; i < w->cap; i++)
        if (w->c[i].state != C_FREE)
            conn_fail(w, i, K_TIMEOUT, now);
    atomic_store_explicit(&w->published, NEVER, memory_order_release);
    atomic_store_explicit(&w->done, 1, memory_order_release);
    return NULL;
}

/* ---------------------------------------------------------------- the calling thread */

static uint64_t min_published(run *r) {
    uint64_t m = NEVER;
    for (unsigned i = 0; i < r->nw; i++) {
        uint64_t p = atomic_load_explicit(&r->w[i].published, memory_order_acquire);
        if (p < m)
            m = p;
    }
    return m;
}

/* Summarises every slot that no worker can record into any more (all are past its end). */
static void finalize_slots(run *r, fg_bench_second *sec, size_t *next) {
    uint64_t m = min_published(r);
    while (*next < r->n_slots && r->t0 + (*next + 1) * 1000000000ull <= m) {
        tl_slot *sl = &r->slots[*next];
        fg_bench_second *s = &sec[*next];
        s->sent = atomic_load_explicit(&sl->sent, memory_order_relaxed);
        s->ok = atomic_load_explicit(&sl->ok, memory_order_relaxed);
        s->errors = atomic_load_explicit(&sl->errors, memory_order_relaxed);
        tl_hists *h = atomic_exchange_explicit(&sl->h, &r->final_mark, memory_order_acq_rel);
        if (h) {
            if (fg_hist_count(h->lat)) {
                s->has_latency = 1;
                s->p50_us = fg_hist_percentile(h->lat, 50);
                s->p99_us = fg_hist_percentile(h->lat, 99);
                s->service_p99_us = fg_hist_percentile(h->svc, 99);
            }
            fg_hist_free(h->lat);
            fg_hist_free(h->svc);
            free(h);
        }
        (*next)++;
    }
}

static void sleep_until(uint64_t t) {
    struct timespec ts = {(time_t)(t / 1000000000ull), (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void cpu_now(double *user, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void progress(run *r, size_t si, uint64_t now) {
    if (!r->o->progress_cb)
        return;
    fg_bench_progress p = {.stage = si, .elapsed_s = now > r->t0 ? (double)(now - r->t0) / 1e9 : 0};
    for (unsigned i = 0; i < r->nw; i++) {
        worker *w = &r->w[i];
        for (size_t s = 0; s < r->o->n_stages; s++) {
            p.sent += atomic_load_explicit(&w->st[s].sent, memory_order_relaxed);
            p.ok += atomic_load_explicit(&w->st[s].ok, memory_order_relaxed);
            p.errors += atomic_load_explicit(&w->st[s].errors, memory_order_relaxed);
            p.dropped += atomic_load_explicit(&w->st[s].dropped, memory_order_relaxed);
        }
        p.connections += atomic_load_explicit(&w->open_now, memory_order_relaxed);
    }
    r->o->progress_cb(r->o->user, &p);
}

static int all_done(run *r) {
    for (unsigned i = 0; i < r->nw; i++)
        if (!atomic_load_explicit(&r->w[i].done, memory_order_acquire))
            return 0;
    return 1;
}

int fg_bench_stable(const fg_bench_second *tl, size_t n, double pct) {
    if (n < 3)
        return 0;
    double a = (double)tl[n - 3].ok, b = (double)tl[n - 2].ok, c = (double)tl[n - 1].ok, m = (a + b + c) / 3;
    double tol = m * pct / 100;
    return m > 0 && fabs(a - m) <= tol && fabs(b - m) <= tol && fabs(c - m) <= tol;
}

uint64_t fg_bench_stage_errors(const fg_bench_stage_result *s) {
    uint64_t n = s->err_connect + s->err_timeout + s->err_reset + s->err_other;
    for (int i = 0; i < 600; i++)
        n += s->err_status[i];
    return n;
}

void fg_bench_result_free(fg_bench_result *r) {
    for (size_t i = 0; i < r->n_stages; i++) {
        fg_hist_free(r->stages[i].lat);
        fg_hist_free(r->stages[i].svc);
        free(r->stages[i].blat);
        free(r->stages[i].bsvc);
        free(r->stages[i].timeline);
    }
    free(r->stages);
    memset(r, 0, sizeof *r);
}

int fg_bench_run(const fg_bench_run_opts *o, fg_bench_result *res, fg_err *e) {
    memset(res, 0, sizeof *res);
    if (!o->target || !o->target->n_req || !o->n_stages || o->n_stages > FG_BENCH_MAX_STAGES || o->threads < 1 ||
        o->threads > FG_BENCH_MAX_THREADS || o->max_connections < 1 || !(o->timeout_s > 0))
        return fg_err_set(e, FG_EINVAL, "bad load options");
    int requests_mode = o->stages[0].requests > 0;
    if (requests_mode && o->n_stages != 1)
        return fg_err_set(e, FG_EINVAL, "a request count works with a single stage only");
    for (size_t i = 0; i < o->n_stages; i++)
        if (!requests_mode && !(o->stages[i].duration_s > 0))
            return fg_err_set(e, FG_EINVAL, "stage %zu has no duration", i);

    /* enough descriptors for every connection */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    run r = {.o = o, .t = o->target, .nw = o->threads, .requests_mode = requests_mode};
    r.stage_start = fg_xcalloc(o->n_stages, sizeof *r.stage_start);
    r.stage_end = fg_xcalloc(o->n_stages, sizeof *r.stage_end);
    r.t0 = fg_now_ns() + 20000000ull; /* let the threads start before the first send */
    double total_s = 0;
    uint64_t t = r.t0;
    for (size_t i = 0; i < o->n_stages; i++) {
        r.stage_start[i] = t;
        if (requests_mode) {
            r.stage_end[i] = NEVER;
        } else {
            t += (uint64_t)(o->stages[i].duration_s * 1e9);
            r.stage_end[i] = t;
            total_s += o->stages[i].duration_s;
        }
    }
    atomic_store(&r.stop_at, requests_mode ? NEVER : t);
    r.n_slots = requests_mode ? TIMELINE_MAX_S : (size_t)ceil(total_s + o->timeout_s) + 3;
    r.slots = fg_xcalloc(r.n_slots, sizeof *r.slots);
    fg_bench_second *sec = fg_xcalloc(r.n_slots, sizeof *sec);
    size_t next_final = 0;

    uint32_t max_closed = 0;
    for (size_t i = 0; i < o->n_stages; i++)
        if (o->stages[i].kind == FG_STAGE_CLOSED && o->stages[i].concurrency > max_closed)
            max_closed = o->stages[i].concurrency;
    r.w = fg_xcalloc(r.nw, sizeof *r.w);
    int rc = 0;
    unsigned started = 0;
    for (unsigned i = 0; i < r.nw; i++)
        r.w[i].ep = -1;
    for (unsigned i = 0; i < r.nw; i++) {
        worker *w = &r.w[i];
        w->r = &r;
        w->id = i;
        uint64_t cap = share(o->max_connections, r.nw, i), cc = share(max_closed, r.nw, i);
        w->cap = (uint32_t)(cap > cc ? cap : cc);
        if (w->cap == 0)
            w->cap = 1;
        w->c = fg_xcalloc(w->cap, sizeof *w->c);
        w->idle = fg_xcalloc(w->cap, sizeof *w->idle);
        w->freel = fg_xcalloc(w->cap, sizeof *w->freel);
        for (uint32_t k = 0; k < w->cap; k++) {
            w->freel[k] = w->cap - 1 - k;
            w->c[k].fd = -1;
        }
        w->n_free = w->cap;
        w->st = fg_xcalloc(o->n_stages, sizeof *w->st);
        w->rs = o->seed * 0x100000001B3ull + i + 1;
        w->rr = i;
        if (requests_mode)
            w->quota = share(o->stages[0].requests, r.nw, i);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        if (w->ep < 0) {
            rc = fg_err_set(e, FG_EINTERNAL, "epoll_create1: %s", strerror(errno));
            break;
        }
    }
    if (rc == 0) {
        for (; started < r.nw; started++) {
            worker *w = &r.w[started];
            if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
                rc = fg_err_set(e, FG_EINTERNAL, "cannot start load thread %u", started);
                atomic_store(&r.stop_at, 0);
                break;
            }
        }
    }
    double cu0, cs0;
    cpu_now(&cu0, &cs0);
    res->stages = fg_xcalloc(o->n_stages, sizeof *res->stages);
    res->n_stages = o->n_stages; /* trimmed to the stages that ran below */
    double *cpu_u = fg_xcalloc(o->n_stages + 1, sizeof *cpu_u), *cpu_s = fg_xcalloc(o->n_stages + 1, sizeof *cpu_s);
    uint64_t *actual = fg_xcalloc(o->n_stages + 1, sizeof *actual);
    size_t n_run = 0; /* stages that started (fewer when interrupted) */
    double cpu_end_u = 0, cpu_end_s = 0;
    for (size_t i = 0; rc == 0 && i <= o->n_stages; i++) {
        /* wait for the start of stage i (the end of the run for i == n), with progress on the way */
        int skip = 0;
        for (;;) {
            uint64_t now = fg_now_ns();
            if (o->interrupt && atomic_load(o->interrupt) && atomic_load(&r.stop_at) > now) {
                atomic_store(&r.stop_at, now);
                res->interrupted = 1;
            }
            uint64_t target = i < o->n_stages ? r.stage_start[i] : NEVER;
            if (i < o->n_stages && atomic_load(&r.stop_at) <= now && now < target) {
                skip = 1; /* stopped early: stage i and the rest never start */
                break;
            }
            if (i < o->n_stages ? now >= target : all_done(&r))
                break;
            if (target < now + 250000000ull) {
                sleep_until(target);
                continue;
            }
            finalize_slots(&r, sec, &next_final);
            progress(&r, n_run ? n_run - 1 : 0, now);
            sleep_until(now + 250000000ull);
        }
        if (skip) {
            i = o->n_stages - 1;
            continue;
        }
        actual[i] = fg_now_ns();
        if (i < o->n_stages) {
            cpu_now(&cpu_u[i], &cpu_s[i]);
            n_run = i + 1;
        } else {
            cpu_now(&cpu_end_u, &cpu_end_s);
        }
        if (o->boundary_cb)
            o->boundary_cb(o->user, i < o->n_stages ? i : n_run);
    }
    for (unsigned i = 0; i < started; i++)
        pthread_join(r.w[i].th, NULL);
    finalize_slots(&r, sec, &next_final);
    uint64_t t_end = actual[o->n_stages] ? actual[o->n_stages] : fg_now_ns();
    double cu1, cs1;
    cpu_now(&cu1, &cs1);
    res->cpu_user_s = cu1 - cu0;
    res->cpu_sys_s = cs1 - cs0;
    res->wall_s = (double)(t_end - r.t0) / 1e9;
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    res->ncpu = nc > 0 ? (unsigned)nc : 1;

    res->n_stages = n_run;
    for (size_t si = 0; si < n_run; si++) {
        fg_bench_stage_result *s = &res->stages[si];
        s->lat = fg_hist_new();
        s->svc = fg_hist_new();
        s->blat = fg_xcalloc(fg_hist_n_buckets(), sizeof *s->blat);
        s->bsvc = fg_xcalloc(fg_hist_n_buckets(), sizeof *s->bsvc);
        for (unsigned i = 0; i < r.nw; i++) {
            wstats *ws = &r.w[i].st[si];
            s->sent += atomic_load(&ws->sent);
            s->completed += atomic_load(&ws->completed);
            s->ok += atomic_load(&ws->ok);
            s->dropped += atomic_load(&ws->dropped);
            s->late += atomic_load(&ws->late);
            for (int k = 0; k < 600; k++)
                s->err_status[k] += ws->err_status[k];
            s->err_connect += ws->err_kind[K_CONNECT];
            s->err_timeout += ws->err_kind[K_TIMEOUT];
            s->err_reset += ws->err_kind[K_RESET];
            s->err_other += ws->err_kind[K_OTHER];
            if (ws->lat) {
                fg_hist_merge(s->lat, ws->lat);
                fg_hist_merge(s->svc, ws->svc);
                for (uint32_t k = 0; k < fg_hist_n_buckets(); k++) {
                    s->blat[k] += ws->blat[k];
                    s->bsvc[k] += ws->bsvc[k];
                }
            }
            s->max_open += r.w[i].max_open[si];
        }
        /* the stage ran from its actual start to the next one's (the last: until the end of sending) */
        uint64_t a = actual[si];
        uint64_t b;
        if (si + 1 < n_run)
            b = actual[si + 1];
        else if (requests_mode)
            b = t_end;
        else
            b = atomic_load(&r.stop_at) < r.stage_end[si] ? atomic_load(&r.stop_at) : r.stage_end[si];
        if (b < a)
            b = a;
        s->start_s = (double)(a - r.t0) / 1e9;
        s->duration_s = (double)(b - a) / 1e9;
        if (s->duration_s <= 0)
            s->duration_s = 1e-9;
        s->cpu_user_s = (si + 1 < n_run ? cpu_u[si + 1] : cpu_end_u) - cpu_u[si];
        s->cpu_sys_s = (si + 1 < n_run ? cpu_s[si + 1] : cpu_end_s) - cpu_s[si];
        /* whole seconds inside the stage's nominal window */
        uint64_t ws0 = r.stage_start[si] - r.t0, we = (requests_mode ? t_end : r.stage_end[si]) - r.t0;
        if (!requests_mode && atomic_load(&r.stop_at) < r.stage_end[si])
            we = atomic_load(&r.stop_at) > r.t0 ? atomic_load(&r.stop_at) - r.t0 : 0;
        size_t first = (size_t)((ws0 + 999999999ull) / 1000000000ull), last = (size_t)(we / 1000000000ull);
        if (last > r.n_slots)
            last = r.n_slots;
        if (last > first) {
            s->n_timeline = last - first;
            s->timeline = fg_xcalloc(s->n_timeline, sizeof *s->timeline);
            memcpy(s->timeline, sec + first, s->n_timeline * sizeof *sec);
        }
        s->stable = o->stability_pct > 0 ? fg_bench_stable(s->timeline, s->n_timeline, o->stability_pct) : -1;
    }

    for (unsigned i = 0; i < r.nw; i++) {
        worker *w = &r.w[i];
        for (uint32_t k = 0; k < w->cap; k++)
            free(w->c[k].rbuf);
        for (size_t si = 0; si < o->n_stages; si++) {
            fg_hist_free(w->st[si].lat);
            fg_hist_free(w->st[si].svc);
            free(w->st[si].blat);
            free(w->st[si].bsvc);
        }
        free(w->st);
        free(w->c);
        free(w->idle);
        free(w->freel);
        if (w->ep >= 0)
            close(w->ep);
    }
    for (size_t k = 0; k < r.n_slots; k++) {
        tl_hists *h = atomic_load(&r.slots[k].h);
        if (h && h != &r.final_mark) {
            fg_hist_free(h->lat);
            fg_hist_free(h->svc);
            free(h);
        }
    }
    free(r.w);
    free(r.slots);
    free(sec);
    free(cpu_u);
    free(cpu_s);
    free(actual);
    free(r.stage_start);
    free(r.stage_end);
    if (rc)
        fg_bench_result_free(res);
    return rc;
}
