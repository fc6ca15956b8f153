/* net.c - epoll event loops, connections and timeouts for frugal's HTTP/1.1 server (see net.h).
 * Constraints: nothing on a loop thread blocks; connections use edge-triggered epoll and are read only
 * while a request is being received (one request at a time per connection, pipelined bytes wait);
 * responses from other threads come through a locked per-loop mailbox and an eventfd. Timeouts use two
 * FIFO lists per loop, each sorted by deadline because every entry in it has the same timeout. */
#include "serve/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#define READ_CHUNK 16384
/* always on: a broken invariant here would corrupt a connection's framing */
#define FG_NET_ASSERT(x)                                                                                     \
    ((x) ? (void)0 : (fg_error("net: assertion failed: %s (%s:%d)", #x, __FILE__, __LINE__), abort()))
#define IN_INITIAL 4096
#define MAX_EVENTS 64
#define ACCEPT_PAUSE_NS 100000000ull /* after EMFILE: stop accepting for 100 ms */

enum { ST_HEAD, ST_BODY, ST_HANDLER, ST_WRITING, ST_LINGER };
enum { TIMER_NONE = -1, TIMER_HEADER = 0, TIMER_IDLE = 1 };

struct loop;
struct conn;

/* Shared between a loop and the threads that answer its handles; freed by the last reference (the loop
 * holds one, every unanswered handle one), so a late fg_net_respond after fg_net_stop is safe. */
typedef struct mailbox {
    pthread_mutex_t mu;
    fg_net_resp *head, *tail;
    bool dead;          /* the loop is gone: drop what arrives */
    atomic_bool closing; /* the loop is stopping: answers say Connection: close */
    int wake_fd;
    atomic_int refs;
} mailbox;

struct fg_net_resp {
    mailbox *mb;
    struct loop *loop;
    struct conn *conn;
    bool keep_alive, http10, head_only;
    char *out; /* whole response; NULL with out_static set for the fallback 503 */
    const char *out_static;
    size_t out_len;
    bool close_after;
    fg_net_resp *next;
};

typedef struct conn {
    struct loop *loop;
    int fd; /* -1 once closed while a handle is outstanding (a zombie kept for the request view) */
    int state;
    char *in;
    size_t in_len, in_cap;
    size_t consumed; /* bytes of the current request (head + body) at the start of in */
    fg_http_request req;
    fg_http_chunked ch;
    bool continue_sent;
    fg_net_resp *pending;
    char *out;
    const char *out_static;
    size_t out_len, out_off;
    bool close_after;
    int timer;
    uint64_t deadline;
    struct conn *t_prev, *t_next; /* timer list */
    struct conn *a_prev, *a_next; /* all connections of the loop */
    char peer[64];
    bool peer_loopback;
} conn;

typedef struct tlist {
    conn *head, *tail;
} tlist;

typedef struct loop {
    struct fg_net_server *srv;
    int index;
    int ep_fd, listen_fd, wake_fd;
    mailbox *mb;
    pthread_t thread;
    bool started;
    conn *all;
    size_t n_all;
    conn *graveyard; /* closed connections, freed after the current event batch */
    tlist timers[2];
    fg_net_resp *ready_head, *ready_tail; /* answered on this thread, not yet written */
    bool stopping;
    uint64_t stop_deadline;
    uint64_t accept_resume; /* 0: accepting */
    char listen_tag, wake_tag;
} loop;

struct fg_net_server {
    fg_net_config cfg;
    char *host;
    fg_net_handler_cb handler_cb;
    void *user;
    loop *loops;
    int n_loops;
    uint16_t port;
    atomic_int n_conns;
    atomic_bool stop;
    atomic_bool full_logged;
};

static _Thread_local loop *tls_loop;

static const char FALLBACK_503[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                   "Content-Length: 40\r\nConnection: close\r\n\r\n"
                                   "{\"error\": \"out of memory for response\"}\n";

/* ---- mailbox ---- */

static void mailbox_unref(mailbox *mb) {
    if (atomic_fetch_sub(&mb->refs, 1) == 1) {
        pthread_mutex_destroy(&mb->mu);
        free(mb);
    }
}

static void resp_free(fg_net_resp *h) {
    free(h->out);
    mailbox *mb = h->mb;
    free(h);
    mailbox_unref(mb);
}

/* ---- timers ---- */

static void timer_clear(conn *c) {
    if (c->timer == TIMER_NONE)
        return;
    tlist *l = &c->loop->timers[c->timer];
    if (c->t_prev)
        c->t_prev->t_next = c->t_next;
    else
        l->head = c->t_next;
    if (c->t_next)
        c->t_next->t_prev = c->t_prev;
    else
        l->tail = c->t_prev;
    c->t_prev = c->t_next = NULL;
    c->timer = TIMER_NONE;
}

/* Puts c at the tail of timer list which with deadline now + that list's timeout (keeps lists sorted). */
static void timer_set(conn *c, int which) {
    timer_clear(c);
    const fg_net_config *cfg = &c->loop->srv->cfg;
    int ms = which == TIMER_HEADER ? cfg->header_timeout_ms : cfg->idle_timeout_ms;
    c->deadline = fg_now_ns() + (uint64_t)ms * 1000000ull;
    tlist *l = &c->loop->timers[which];
    c->t_prev = l->tail;
    c->t_next = NULL;
    if (l->tail)
        l->tail->t_next = c;
    else
        l->head = c;
    l->tail = c;
    c->timer = which;
}

/* ---- connections ---- */

static void all_unlink(conn *c) {
    loop *L = c->loop;
    if (c->a_prev)
        c->a_prev->a_next = c->a_next;
    else
        L->all = c->a_next;
    if (c->a_next)
        c->a_next->a_prev = c->a_prev;
    L->n_all--;
}

/* Unlinks c and moves it to the loop's graveyard, freed after the current batch of epoll events (a
 * later event in the batch may still name it; conn_event ignores it since its fd is -1). */
static void conn_free(conn *c) {
    all_unlink(c);
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->a_next = c->loop->graveyard;
    c->loop->graveyard = c;
}

static void loop_bury(loop *L) {
    while (L->graveyard) {
        conn *c = L->graveyard;
        L->graveyard = c->a_next;
        free(c);
    }
}

/* Closes c's socket. Without an outstanding handle c is freed; with one it stays as a zombie (the
 * handler may still read the request view) and is freed when the answer arrives. c is gone for the
 * caller either way. */
static void conn_close(conn *c) {
    if (c->fd >= 0) {
        close(c->fd); /* also leaves the epoll set */
        c->fd = -1;
        atomic_fetch_sub(&c->loop->srv->n_conns, 1);
    }
    timer_clear(c);
    free(c->out);
    c->out = NULL;
    c->out_static = NULL;
    if (!c->pending)
        conn_free(c);
}

static int conn_write(conn *c);
static int conn_process(conn *c);

/* Reads and drops what the peer still sends after the final response, closing on EOF, on an error or
 * after LINGER_MAX bytes. Returns 0 while c lives, -1 when it was closed. */
#define LINGER_MAX (256u << 10)
static int conn_linger(conn *c) {
    char buf[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n > 0) {
            total += (size_t)n;
            if (total < LINGER_MAX)
                continue;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        conn_close(c);
        return -1;
    }
}
static int conn_read(conn *c);

/* Sends out (owned, or static when out is NULL) and marks c for closing after it. Returns conn_write's. */
static int conn_send(conn *c, char *out, const char *out_static, size_t len, bool close_after) {
    c->out = out;
    c->out_static = out ? NULL : out_static;
    c->out_len = len;
    c->out_off = 0;
    c->close_after = close_after;
    c->state = ST_WRITING;
    timer_set(c, TIMER_HEADER);
    return conn_write(c);
}

/* Answers a rejected request with status and reason, then closes. Returns -1 (c is gone afterwards). */
static int conn_fail(conn *c, int status, const char *reason) {
    fg_debug("net: %s: rejecting request: %d %s", c->peer, status, reason ? reason : "");
    char *buf = fg_xmalloc(512);
    size_t n = 0;
    if (fg_http_write_error(buf, 512, status, reason ? reason : "bad request", false, &n) != 0) {
        free(buf);
        conn_close(c);
        return -1;
    }
    conn_send(c, buf, NULL, n, true);
    return -1;
}

/* Writes as much of c's output as the socket takes. Returns 0 while c lives, -1 when it was closed. */
static int conn_write(conn *c) {
    const char *base = c->out ? c->out : c->out_static;
    bool progress = false;
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, base + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            progress = true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (progress)
                timer_set(c, TIMER_HEADER);
            return 0;
        }
        fg_debug("net: %s: send: %s; closing", c->peer, strerror(errno));
        conn_close(c);
        return -1;
    }
    free(c->out);
    c->out = NULL;
    c->out_static = NULL;
    if (c->close_after) {
        /* lingering close: closing with unread request bytes would reset the connection and could
         * destroy the response in the client's buffers, so the rest is read and dropped first */
        shutdown(c->fd, SHUT_WR);
        c->state = ST_LINGER;
        timer_set(c, TIMER_HEADER);
        return conn_linger(c);
    }
    if (c->loop->stopping) {
        conn_close(c);
        return -1;
    }
    /* next request: keep the pipelined bytes, drop the answered one */
    size_t rest = c->in_len - c->consumed;
    if (rest)
        memmove(c->in, c->in + c->consumed, rest);
    c->in_len = rest;
    c->consumed = 0;
    c->state = ST_HEAD;
    fg_http_request_reset(&c->req);
    if (rest)
        timer_set(c, TIMER_HEADER);
    else
        timer_set(c, TIMER_IDLE);
    if (conn_process(c) < 0)
        return -1;
    if (c->state == ST_HEAD || c->state == ST_BODY)
        return conn_read(c); /* edge-triggered: bytes may have arrived while we were busy */
    return 0;
}

/* Sends 100 Continue once if the request asked for it and its body has not fully arrived. */
static int maybe_continue(conn *c) {
    if (!c->req.expect_continue || c->continue_sent)
        return 0;
    c->continue_sent = true;
    size_t len = sizeof FG_HTTP_100_CONTINUE - 1;
    ssize_t n = send(c->fd, FG_HTTP_100_CONTINUE, len, MSG_NOSIGNAL);
    if (n == (ssize_t)len)
        return 0;
    /* the send buffer is empty between requests, so a short write means the peer is in trouble */
    fg_debug("net: %s: cannot send 100 Continue (%s); closing", c->peer, n < 0 ? strerror(errno) : "short");
    conn_close(c);
    return -1;
}

static void dispatch(conn *c, const char *body, size_t body_len) {
    loop *L = c->loop;
    fg_net_resp *h = fg_xcalloc(1, sizeof *h);
    h->mb = L->mb;
    atomic_fetch_add(&L->mb->refs, 1);
    h->loop = L;
    h->conn = c;
    h->keep_alive = c->req.keep_alive;
    h->http10 = c->req.version_minor == 0;
    h->head_only = c->req.method_id == FG_HTTP_HEAD;
    c->pending = h;
    c->state = ST_HANDLER;
    timer_clear(c);
    fg_net_request r = {
        .method_id = c->req.method_id,
        .method = c->req.method,
        .target = c->req.target,
        .path = c->req.path,
        .query = c->req.query,
        .version_minor = c->req.version_minor,
        .headers = c->req.headers,
        .n_headers = c->req.n_headers,
        .body = body_len ? body : NULL,
        .body_len = body_len,
        .loop_index = L->index,
        .peer = c->peer,
        .peer_loopback = c->peer_loopback,
    };
    L->srv->handler_cb(L->srv->user, &r, h);
}

/* Works through the bytes buffered in c: parses the head, checks the body, dispatches the request.
 * Returns 0 while c lives (in ST_HEAD/ST_BODY it needs more bytes), -1 when it was closed. */
static int conn_process(conn *c) {
    const fg_http_limits *lim = &c->loop->srv->cfg.limits;
    if (c->state == ST_HEAD) {
        if (c->in_len == 0)
            return 0;
        int rc = fg_http_parse_head(&c->req, c->in, c->in_len, lim);
        if (rc < 0)
            return conn_fail(c, c->req.status, c->req.error);
        if (rc == 0)
            return 0;
        c->state = ST_BODY;
        c->continue_sent = false;
        fg_http_chunked_reset(&c->ch);
        timer_set(c, TIMER_HEADER); /* the body gets its own progress deadline */
    }
    if (c->state != ST_BODY)
        return 0;
    size_t head = c->req.head_len, avail = c->in_len - head;
    if (c->req.chunked) {
        int rc = fg_http_chunked_decode(&c->ch, c->in + head, avail, lim);
        if (rc < 0)
            return conn_fail(c, c->ch.status, c->ch.error);
        if (rc == 0)
            return maybe_continue(c);
        c->consumed = head + c->ch.consumed;
        dispatch(c, c->in + head, c->ch.body_len);
        return 0;
    }
    size_t cl = c->req.content_length > 0 ? (size_t)c->req.content_length : 0;
    if (avail < cl)
        return maybe_continue(c);
    c->consumed = head + cl;
    dispatch(c, c->in + head, cl);
    return 0;
}

/* Most bytes a connection buffers: the largest head, the largest body with its chunk framing, and one
 * read of the next request. */
static size_t in_max(const fg_http_limits *lim) {
    return lim->max_request_line + 2 * lim->max_header_bytes + 64 + (size_t)lim->max_body_bytes * 2 + READ_CHUNK;
}

/* Reads while c is receiving a request. Returns 0 while c lives, -1 when it was closed. */
static int conn_read(conn *c) {
    size_t max = in_max(&c->loop->srv->cfg.limits);
    while (c->state == ST_HEAD || c->state == ST_BODY) {
        if (c->in_cap - c->in_len < 1024) {
            if (c->in_cap >= max)
                return conn_fail(c, 413, "request too large");
            size_t cap = c->in_cap ? c->in_cap * 2 : IN_INITIAL;
            if (cap > max)
                cap = max;
            char *p = realloc(c->in, cap); /* request-sized: fails the request, not the process */
            if (!p) {
                fg_warn("net: %s: out of memory for a %zu-byte request buffer", c->peer, cap);
                return conn_fail(c, 503, "out of memory");
            }
            c->in = p;
            c->in_cap = cap;
            if (c->state == ST_BODY) { /* the head's slices pointed into the old buffer: parse it again */
                fg_http_request_reset(&c->req);
                int rc = fg_http_parse_head(&c->req, c->in, c->in_len, &c->loop->srv->cfg.limits);
                FG_NET_ASSERT(rc == 1);
            }
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n > 0) {
            if (c->timer == TIMER_IDLE || (c->state == ST_BODY))
                timer_set(c, TIMER_HEADER); /* first byte of a request, or body progress */
            c->in_len += (size_t)n;
            if (conn_process(c) < 0)
                return -1;
            continue;
        }
        if (n == 0) {
            conn_close(c);
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        fg_debug("net: %s: recv: %s; closing", c->peer, strerror(errno));
        conn_close(c);
        return -1;
    }
    return 0;
}

static void conn_event(conn *c, uint32_t ev) {
    if (c->fd < 0)
        return;
    if ((ev & EPOLLOUT) && c->state == ST_WRITING) {
        if (conn_write(c) < 0)
            return;
    }
    if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && (c->state == ST_HEAD || c->state == ST_BODY)) {
        conn_read(c);
        return;
    }
    if (c->state == ST_LINGER) {
        conn_linger(c);
        return;
    }
    if ((ev & (EPOLLHUP | EPOLLERR)) && c->state == ST_HANDLER)
        conn_close(c); /* peer gone; the answer will be dropped */
}

/* ---- accepting ---- */

static void loop_accept(loop *L) {
    fg_net_server *S = L->srv;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(L->listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                fg_warn("net: loop %d: accept: %s; pausing accepts for 100 ms", L->index, strerror(errno));
                epoll_ctl(L->ep_fd, EPOLL_CTL_DEL, L->listen_fd, NULL);
                L->accept_resume = fg_now_ns() + ACCEPT_PAUSE_NS;
                return;
            }
            fg_error("net: loop %d: accept: %s", L->index, strerror(errno));
            return;
        }
        if (atomic_fetch_add(&S->n_conns, 1) >= S->cfg.max_conns) {
            atomic_fetch_sub(&S->n_conns, 1);
            if (!atomic_exchange(&S->full_logged, true))
                fg_warn("net: max_conns (%d) reached; closing new connections", S->cfg.max_conns);
            close(fd);
            continue;
        }
        atomic_store(&S->full_logged, false);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn *c = fg_xcalloc(1, sizeof *c);
        c->loop = L;
        c->fd = fd;
        c->state = ST_HEAD;
        c->timer = TIMER_NONE;
        fg_http_request_reset(&c->req);
        char host[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        c->peer_loopback = false;
        if (sa.ss_family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
            inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
            port = ntohs(s4->sin_port);
            c->peer_loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
        } else if (sa.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
            inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
            port = ntohs(s6->sin6_port);
            const uint8_t *a = s6->sin6_addr.s6_addr;
            static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            c->peer_loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", host, port);
        c->a_next = L->all;
        if (L->all)
            L->all->a_prev = c;
        L->all = c;
        L->n_all++;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
        if (epoll_ctl(L->ep_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            fg_error("net: loop %d: epoll_ctl add %s: %s", L->index, c->peer, strerror(errno));
            conn_close(c);
            continue;
        }
        timer_set(c, TIMER_HEADER);
        conn_read(c); /* data may already be there (TCP_DEFER_ACCEPT-like clients) */
    }
}

/* ---- answers ---- */

/* Writes the answer of h to its connection (or drops it for a zombie) and frees h. */
static void deliver(fg_net_resp *h) {
    conn *c = h->conn;
    c->pending = NULL;
    char *out = h->out;
    const char *out_static = h->out_static;
    size_t len = h->out_len;
    bool close_after = h->close_after;
    h->out = NULL;
    resp_free(h);
    if (c->fd < 0) {
        free(out);
        conn_free(c);
        return;
    }
    conn_send(c, out, out_static, len, close_after);
}

static void loop_drain(loop *L) {
    for (;;) {
        fg_net_resp *h = L->ready_head;
        if (!h) {
            pthread_mutex_lock(&L->mb->mu);
            h = L->mb->head;
            L->mb->head = L->mb->tail = NULL;
            pthread_mutex_unlock(&L->mb->mu);
            if (!h)
                return;
        } else {
            L->ready_head = L->ready_tail = NULL;
        }
        while (h) {
            fg_net_resp *next = h->next;
            deliver(h);
            h = next;
        }
    }
}

int fg_net_respond(fg_net_resp *h, int status, const char *content_type, const fg_http_header *extra,
                   size_t n_extra, const void *body, size_t len) {
    int rc = 0;
    bool keep_alive = h->keep_alive && !atomic_load(&h->mb->closing);
    size_t body_len = h->head_only || status == 204 || status == 304 ? 0 : len;
    size_t head_cap = 512 + (content_type ? strlen(content_type) : 0);
    for (size_t i = 0; i < n_extra; i++)
        head_cap += extra[i].name.len + extra[i].value.len + 4;
    fg_http_response r = {.status = status,
                          .content_type = content_type,
                          .content_length = len,
                          .keep_alive = keep_alive,
                          .http10 = h->http10,
                          .extra = extra,
                          .n_extra = n_extra};
    char *out = NULL;
    size_t head_len = 0;
    if (status < 200 || status > 599) {
        rc = FG_EINVAL;
    } else {
        out = malloc(head_cap + body_len); /* request-sized: a failure answers 503 */
        if (!out) {
            rc = FG_ENOMEM;
        } else if (fg_http_write_head(out, head_cap, &r, &head_len) != 0) {
            rc = FG_EINVAL;
        }
    }
    if (rc == FG_EINVAL) {
        fg_error("net: handler answered with an invalid response (status %d or an extra header field)", status);
        free(out);
        out = malloc(512);
        if (!out || fg_http_write_error(out, 512, 500, "invalid response from handler", keep_alive, &head_len) != 0)
            rc = FG_ENOMEM;
        h->out = out;
        h->out_len = head_len;
        h->close_after = !keep_alive;
    }
    if (rc == FG_ENOMEM) {
        fg_warn("net: out of memory for a %zu-byte response; answering 503", len);
        free(out);
        h->out = NULL;
        h->out_static = FALLBACK_503;
        h->out_len = sizeof FALLBACK_503 - 1;
        h->close_after = true;
    }
    if (rc == 0) {
        if (body_len)
            memcpy(out + head_len, body, body_len);
        h->out = out;
        h->out_len = head_len + body_len;
        h->close_after = !keep_alive;
    }
    loop *L = h->loop;
    if (tls_loop == L) { /* the handler (or anything else on the loop thread): written after it returns */
        h->next = NULL;
        if (L->ready_tail)
            L->ready_tail->next = h;
        else
            L->ready_head = h;
        L->ready_tail = h;
        return rc;
    }
    mailbox *mb = h->mb;
    pthread_mutex_lock(&mb->mu);
    if (mb->dead) {
        pthread_mutex_unlock(&mb->mu);
        resp_free(h); /* the server has stopped: nobody is waiting for it */
        return rc;
    }
    h->next = NULL;
    bool was_empty = mb->head == NULL;
    if (mb->tail)
        mb->tail->next = h;
    else
        mb->head = h;
    mb->tail = h;
    if (was_empty) {
        uint64_t one = 1;
        ssize_t w = write(mb->wake_fd, &one, sizeof one); /* cannot block: the counter never nears 2^64 */
        (void)w;
    }
    pthread_mutex_unlock(&mb->mu);
    return rc;
}

/* ---- the loop thread ---- */

static bool conn_busy(const conn *c) {
    return c->pending != NULL || c->state == ST_WRITING || c->state == ST_LINGER;
}

/* Called once when the loop sees the stop flag: no more accepts, idle and half-read connections go. */
static void loop_begin_stop(loop *L) {
    L->stopping = true;
    atomic_store(&L->mb->closing, true);
    L->stop_deadline = fg_now_ns() + (uint64_t)L->srv->cfg.stop_timeout_ms * 1000000ull;
    if (L->listen_fd >= 0) {
        close(L->listen_fd);
        L->listen_fd = -1;
    }
    conn *c = L->all;
    while (c) {
        conn *next = c->a_next;
        if (!conn_busy(c) && c->fd >= 0)
            conn_close(c);
        c = next;
    }
}

static void loop_expire(loop *L, uint64_t now) {
    for (int t = 0; t < 2; t++) {
        while (L->timers[t].head && L->timers[t].head->deadline <= now) {
            conn *c = L->timers[t].head;
            fg_debug("net: %s: %s timeout; closing", c->peer, t == TIMER_HEADER ? "header/progress" : "idle");
            conn_close(c);
        }
    }
}

static int loop_timeout_ms(loop *L, uint64_t now) {
    uint64_t next = UINT64_MAX;
    for (int t = 0; t < 2; t++)
        if (L->timers[t].head && L->timers[t].head->deadline < next)
            next = L->timers[t].head->deadline;
    if (L->stopping && L->stop_deadline < next)
        next = L->stop_deadline;
    if (L->accept_resume && L->accept_resume < next)
        next = L->accept_resume;
    if (next == UINT64_MAX)
        return -1;
    if (next <= now)
        return 0;
    uint64_t ms = (next - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}

static void *loop_main(void *arg) {
    loop *L = arg;
    tls_loop = L;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        if (!L->stopping && atomic_load(&L->srv->stop))
            loop_begin_stop(L);
        if (L->stopping && (L->n_all == 0 || fg_now_ns() >= L->stop_deadline))
            break;
        int n = epoll_wait(L->ep_fd, evs, MAX_EVENTS, loop_timeout_ms(L, fg_now_ns()));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fg_error("net: loop %d: epoll_wait: %s; loop stops", L->index, strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &L->listen_tag) {
                if (!L->stopping)
                    loop_accept(L);
            } else if (p == &L->wake_tag) {
                uint64_t v;
                ssize_t r = read(L->wake_fd, &v, sizeof v);
                (void)r;
            } else {
                conn_event(p, evs[i].events);
            }
            loop_drain(L);
        }
        loop_drain(L);
        uint64_t now = fg_now_ns();
        loop_expire(L, now);
        loop_bury(L);
        if (L->accept_resume && now >= L->accept_resume && !L->stopping) {
            L->accept_resume = 0;
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &L->listen_tag};
            if (epoll_ctl(L->ep_fd, EPOLL_CTL_ADD, L->listen_fd, &ev) != 0)
                fg_error("net: loop %d: resuming accepts: %s", L->index, strerror(errno));
        }
    }
    /* what is left after the stop deadline is closed; zombies and their handles are freed in fg_net_stop */
    conn *c = L->all;
    while (c) {
        conn *next = c->a_next;
        if (c->fd >= 0)
            conn_close(c);
        c = next;
    }
    loop_bury(L);
    tls_loop = NULL;
    return NULL;
}

/* ---- start and stop ---- */

static int open_listener(fg_net_server *S, const struct addrinfo *ai, uint16_t port, int *out_fd) {
    char where[128];
    snprintf(where, sizeof where, "%s:%u", S->host, (unsigned)port);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fg_error("net: socket for %s: %s", where, strerror(errno));
        return FG_EIO;
    }
    int one = 1;
    struct sockaddr_storage sa;
    memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
    if (ai->ai_family == AF_INET)
        ((struct sockaddr_in *)&sa)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons(port);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        fg_error("net: setsockopt SO_REUSEPORT on %s: %s", where, strerror(errno));
        close(fd);
        return FG_EIO;
    }
    if (bind(fd, (struct sockaddr *)&sa, ai->ai_addrlen) != 0) {
        fg_error("net: bind %s: %s", where, strerror(errno));
        close(fd);
        return FG_EIO;
    }
    if (listen(fd, S->cfg.backlog) != 0) {
        fg_error("net: listen %s: %s", where, strerror(errno));
        close(fd);
        return FG_EIO;
    }
    *out_fd = fd;
    return 0;
}

/* Frees a loop's resources after its thread ended (or never started): zombie connections, queued
 * answers, the mailbox reference. */
static void loop_destroy(loop *L) {
    if (L->mb) {
        pthread_mutex_lock(&L->mb->mu);
        L->mb->dead = true;
        fg_net_resp *h = L->mb->head;
        L->mb->head = L->mb->tail = NULL;
        pthread_mutex_unlock(&L->mb->mu);
        while (h) {
            fg_net_resp *next = h->next;
            resp_free(h);
            h = next;
        }
        h = L->ready_head;
        while (h) {
            fg_net_resp *next = h->next;
            resp_free(h);
            h = next;
        }
        L->ready_head = L->ready_tail = NULL;
    }
    while (L->all) {
        conn *c = L->all;
        if (c->pending) {
            c->pending = NULL; /* its handle is answered later into the dead mailbox, which frees it */
        }
        if (c->fd >= 0) {
            close(c->fd);
            atomic_fetch_sub(&L->srv->n_conns, 1);
        }
        conn_free(c);
    }
    loop_bury(L);
    if (L->listen_fd >= 0)
        close(L->listen_fd);
    if (L->ep_fd >= 0)
        close(L->ep_fd);
    if (L->wake_fd >= 0)
        close(L->wake_fd);
    if (L->mb)
        mailbox_unref(L->mb);
    L->mb = NULL;
    L->listen_fd = L->ep_fd = L->wake_fd = -1;
}

static void server_free(fg_net_server *S) {
    for (int i = 0; i < S->n_loops; i++)
        loop_destroy(&S->loops[i]);
    free(S->loops);
    free(S->host);
    free(S);
}

static int loop_init(fg_net_server *S, loop *L, int index) {
    L->srv = S;
    L->index = index;
    L->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    L->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (L->ep_fd < 0 || L->wake_fd < 0) {
        fg_error("net: loop %d: epoll/eventfd: %s", index, strerror(errno));
        return FG_EINTERNAL;
    }
    L->mb = fg_xcalloc(1, sizeof *L->mb);
    pthread_mutex_init(&L->mb->mu, NULL);
    L->mb->wake_fd = L->wake_fd;
    atomic_init(&L->mb->refs, 1);
    atomic_init(&L->mb->closing, false);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &L->wake_tag};
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &L->listen_tag};
    if (epoll_ctl(L->ep_fd, EPOLL_CTL_ADD, L->wake_fd, &ev) != 0 ||
        epoll_ctl(L->ep_fd, EPOLL_CTL_ADD, L->listen_fd, &lev) != 0) {
        fg_error("net: loop %d: epoll_ctl: %s", index, strerror(errno));
        return FG_EINTERNAL;
    }
    return 0;
}

int fg_net_start(const fg_net_config *cfg, fg_net_handler_cb handler_cb, void *user, fg_net_server **out) {
    *out = NULL;
    if (!cfg || !handler_cb || cfg->n_loops < 0 || cfg->max_conns < 0 || cfg->header_timeout_ms < 0 ||
        cfg->idle_timeout_ms < 0 || cfg->stop_timeout_ms < 0) {
        fg_error("net: invalid server configuration (negative value or no handler)");
        return FG_EINVAL;
    }
    fg_net_server *S = fg_xcalloc(1, sizeof *S);
    S->cfg = *cfg;
    S->host = fg_xstrdup(cfg->host ? cfg->host : "0.0.0.0");
    S->cfg.host = S->host;
    S->handler_cb = handler_cb;
    S->user = user;
    fg_net_config *c = &S->cfg;
    if (c->n_loops == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        c->n_loops = n > 0 ? (int)n : 1;
    }
    if (c->max_conns == 0)
        c->max_conns = 10000;
    if (c->backlog <= 0)
        c->backlog = 511;
    if (c->header_timeout_ms == 0)
        c->header_timeout_ms = 10000;
    if (c->idle_timeout_ms == 0)
        c->idle_timeout_ms = 60000;
    if (c->stop_timeout_ms == 0)
        c->stop_timeout_ms = 5000;
    fg_http_limits d = FG_HTTP_LIMITS_DEFAULT;
    if (!c->limits.max_request_line)
        c->limits.max_request_line = d.max_request_line;
    if (!c->limits.max_header_bytes)
        c->limits.max_header_bytes = d.max_header_bytes;
    if (!c->limits.max_headers)
        c->limits.max_headers = d.max_headers;
    if (!c->limits.max_body_bytes)
        c->limits.max_body_bytes = d.max_body_bytes;
    atomic_init(&S->n_conns, 0);
    atomic_init(&S->stop, false);
    atomic_init(&S->full_logged, false);

    int rc = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(S->host, "0", &hints, &ai);
    if (gai != 0 || !ai) {
        fg_error("net: cannot resolve listen address '%s': %s", S->host, gai_strerror(gai));
        if (ai)
            freeaddrinfo(ai);
        free(S->host);
        free(S);
        return FG_EINVAL;
    }
    S->loops = fg_xcalloc((size_t)c->n_loops, sizeof *S->loops);
    for (int i = 0; i < c->n_loops; i++)
        S->loops[i].listen_fd = S->loops[i].ep_fd = S->loops[i].wake_fd = -1;
    S->n_loops = c->n_loops;
    S->port = c->port;
    for (int i = 0; i < c->n_loops && rc == 0; i++) {
        rc = open_listener(S, ai, S->port, &S->loops[i].listen_fd);
        if (rc == 0 && S->port == 0) { /* the kernel's pick; the other loops reuse it */
            struct sockaddr_storage sa;
            socklen_t sl = sizeof sa;
            if (getsockname(S->loops[i].listen_fd, (struct sockaddr *)&sa, &sl) != 0) {
                fg_error("net: getsockname: %s", strerror(errno));
                rc = FG_EIO;
            } else {
                S->port = ntohs(sa.ss_family == AF_INET ? ((struct sockaddr_in *)&sa)->sin_port
                                                        : ((struct sockaddr_in6 *)&sa)->sin6_port);
            }
        }
        if (rc == 0)
            rc = loop_init(S, &S->loops[i], i);
    }
    freeaddrinfo(ai);
    for (int i = 0; i < c->n_loops && rc == 0; i++) {
        int e = pthread_create(&S->loops[i].thread, NULL, loop_main, &S->loops[i]);
        if (e != 0) {
            fg_error("net: starting loop thread %d: %s", i, strerror(e));
            rc = FG_EINTERNAL;
        } else {
            S->loops[i].started = true;
        }
    }
    if (rc != 0) {
        atomic_store(&S->stop, true);
        for (int i = 0; i < S->n_loops; i++) {
            if (S->loops[i].started) {
                uint64_t one = 1;
                ssize_t w = write(S->loops[i].wake_fd, &one, sizeof one);
                (void)w;
                pthread_join(S->loops[i].thread, NULL);
            }
        }
        server_free(S);
        return rc;
    }
    fg_info("net: listening on %s:%u with %d loop(s)", S->host, (unsigned)S->port, S->n_loops);
    *out = S;
    return 0;
}

uint16_t fg_net_port(const fg_net_server *s) {
    return s->port;
}

int fg_net_n_loops(const fg_net_server *s) {
    return s->n_loops;
}

void fg_net_stop(fg_net_server *s) {
    if (!s)
        return;
    atomic_store(&s->stop, true);
    for (int i = 0; i < s->n_loops; i++) {
        uint64_t one = 1;
        ssize_t w = write(s->loops[i].wake_fd, &one, sizeof one);
        (void)w;
    }
    size_t n_unanswered = 0;
    for (int i = 0; i < s->n_loops; i++) {
        pthread_join(s->loops[i].thread, NULL);
        for (conn *c = s->loops[i].all; c; c = c->a_next)
            n_unanswered += c->pending != NULL;
    }
    if (n_unanswered)
        fg_warn("net: stopping with %zu request(s) still unanswered after %d ms; their answers will be dropped",
                n_unanswered, s->cfg.stop_timeout_ms);
    server_free(s);
    fg_info("net: stopped");
}
