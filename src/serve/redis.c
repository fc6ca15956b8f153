/* redis.c - Redis second-level cache: a queue filled by any thread, drained by one I/O thread that
 * pipelines each burst over a blocking hiredis connection with socket timeouts.
 * One mutex guards the queue, the state and the published socket; the network is only touched by the
 * I/O thread and never under the mutex, so callers wait at most for a list append. */
#include "serve/redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

#define DEFAULT_PORT 6379
#define DEFAULT_TIMEOUT_MS 50u
#define DEFAULT_MAX_PENDING 4096u
#define DEFAULT_MAX_PENDING_BYTES ((size_t)64 << 20)
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 5000u
#define HOST_MAX 256
#define PREFIX_MAX 256

enum { OP_GET, OP_SET };

/* CONNECTING only before the first connection attempt ends: operations queue (rather than fail) so a
 * server that starts with Redis up does not miss its first requests. DOWN is the open breaker. */
enum { ST_CONNECTING, ST_UP, ST_DOWN };

typedef struct op {
    struct op *next;
    int kind;
    uint8_t key[FG_REDIS_KEY_BYTES];
    fg_redis_get_cb cb;
    void *ctx;
    size_t len;
    unsigned char val[]; /* set only */
} op;

typedef struct counters {
    _Atomic uint64_t gets, hits, misses, get_errors, sets, sets_stored, dropped;
    _Atomic uint64_t err_connect, err_timeout, err_protocol, breaker_opens, reconnects;
} counters;

struct fg_redis {
    char host[HOST_MAX];
    int port, db; /* db < 0: none in the URL, no SELECT */
    char user[FG_REDIS_CRED_MAX], password[FG_REDIS_CRED_MAX]; /* password "": no AUTH */
    char *key;    /* prefix followed by room for 64 hex digits; used by the I/O thread only */
    size_t prefix_len;
    unsigned ttl_s, timeout_ms;
    size_t max_pending, max_pending_bytes;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* the I/O thread waits here for work, and during backoff */
    op *head, *tail;
    size_t n_pending, bytes_pending;
    bool stopping;
    int fd;             /* socket of the live connection, -1 when none; for fg_redis_free's shutdown */
    _Atomic int state;  /* written under mu; read without it on the fast refusal path */
    pthread_t thread;

    counters c;
};

#define INC(field) atomic_fetch_add_explicit(&r->c.field, 1, memory_order_relaxed)

int fg_redis_parse_url(const char *url, char *host, size_t hostcap, int *port, int *db, fg_err *e) {
    static const char scheme[] = "redis://";
    if (!url || !*url) return fg_err_set(e, FG_EINVAL, "redis url: empty (want redis://host[:port][/db])");
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
        return fg_err_set(e, FG_EINVAL,
                          "redis url '%s': the scheme must be redis:// (want redis://host[:port][/db])", url);
    }
    const char *p = url + sizeof scheme - 1, *h, *he;
    const char *at = strchr(p, '@');
    if (at) { /* credentials: checked by fg_redis_parse_credentials; the host follows them */
        if (strchr(at + 1, '@'))
            return fg_err_set(e, FG_EINVAL, "redis url: more than one '@' (percent-encode '@' in a password as %%40)");
        p = at + 1;
        url = p; /* messages below must not echo the password */
    }
    if (*p == '[') { /* IPv6 literal */
        h = p + 1;
        he = strchr(h, ']');
        if (!he) return fg_err_set(e, FG_EINVAL, "redis url '%s': missing ']' after the IPv6 address", url);
        p = he + 1;
    } else {
        h = p;
        he = p + strcspn(p, ":/");
        p = he;
    }
    if (he == h) return fg_err_set(e, FG_EINVAL, "redis url '%s': no host", url);
    if ((size_t)(he - h) >= hostcap) return fg_err_set(e, FG_EINVAL, "redis url '%s': host too long", url);
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';

    *port = DEFAULT_PORT;
    *db = -1;
    if (*p == ':') {
        p++;
        long v = 0;
        const char *d = p;
        while (*p >= '0' && *p <= '9' && v <= 65535) v = v * 10 + (*p++ - '0');
        if (p == d || (*p && *p != '/') || v < 1 || v > 65535) {
            return fg_err_set(e, FG_EINVAL, "redis url '%s': bad port (want a number 1..65535)", url);
        }
        *port = (int)v;
    }
    if (*p == '/') {
        p++;
        if (*p) { /* "redis://host/" is db 0 by default, as with no path */
            long v = 0;
            const char *d = p;
            while (*p >= '0' && *p <= '9' && v <= INT_MAX) v = v * 10 + (*p++ - '0');
            if (p == d || *p || v > INT_MAX) {
                return fg_err_set(e, FG_EINVAL, "redis url '%s': bad database '%s' (want a number)", url, d);
            }
            *db = (int)v;
        }
    } else if (*p) {
        return fg_err_set(e, FG_EINVAL, "redis url '%s': unexpected '%s' after the host", url, p);
    }
    return 0;
}

/* percent-decodes n bytes of s into out (cap bytes); -1 on a bad escape or when it does not fit */
static int pct_decode(const char *s, size_t n, char *out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int v = 0;
            for (int j = 1; j <= 2; j++) {
                char x = i + (size_t)j < n ? s[i + (size_t)j] : 0;
                int d = x >= '0' && x <= '9' ? x - '0' : x >= 'a' && x <= 'f' ? x - 'a' + 10 : x >= 'A' && x <= 'F' ? x - 'A' + 10 : -1;
                if (d < 0)
                    return -1;
                v = v * 16 + d;
            }
            if (v == 0)
                return -1;
            c = (char)v;
            i += 2;
        }
        if (k + 1 >= cap)
            return -1;
        out[k++] = c;
    }
    out[k] = '\0';
    return 0;
}

int fg_redis_parse_credentials(const char *url, char *user, char *password, fg_err *e) {
    static const char scheme[] = "redis://";
    user[0] = password[0] = '\0';
    if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0)
        return 0; /* fg_redis_parse_url reports the scheme */
    const char *p = url + sizeof scheme - 1, *at = strchr(p, '@');
    if (!at)
        return 0;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon) /* "redis://secret@host": Redis's own tools read a lone userinfo as the password */
        colon = p - 1;
    if ((colon >= p && pct_decode(p, (size_t)(colon - p), user, FG_REDIS_CRED_MAX) < 0) ||
        pct_decode(colon + 1, (size_t)(at - colon - 1), password, FG_REDIS_CRED_MAX) < 0)
        return fg_err_set(e, FG_EINVAL, "redis url: bad user or password (percent-escapes, at most %d bytes)",
                          FG_REDIS_CRED_MAX - 1);
    if (!password[0])
        return fg_err_set(e, FG_EINVAL, "redis url: a user without a password");
    return 0;
}

/* ---- completions (never under mu: a callback may call back into this module) ---- */

static void complete_get(fg_redis *r, op *o, int status, const void *val, size_t len) {
    if (status > 0) INC(hits);
    else if (status == 0) INC(misses);
    else INC(get_errors);
    o->cb(o->ctx, status, val, len);
}

/* Completes every get of list with status and frees the list (sets are lost). */
static void fail_list(fg_redis *r, op *list, int status) {
    while (list) {
        op *n = list->next;
        if (list->kind == OP_GET) complete_get(r, list, status, NULL, 0);
        free(list);
        list = n;
    }
}

/* ---- the caller's side ---- */

/* Queues o, or returns the status it is refused with (o untouched). */
static int enqueue(fg_redis *r, op *o) {
    int st = 0;
    pthread_mutex_lock(&r->mu);
    size_t bytes = o->kind == OP_SET ? o->len : 0;
    if (r->stopping) st = FG_REDIS_ESTOPPED;
    else if (atomic_load_explicit(&r->state, memory_order_relaxed) == ST_DOWN) st = FG_REDIS_EDOWN;
    else if (r->n_pending >= r->max_pending || bytes > r->max_pending_bytes - r->bytes_pending) {
        st = FG_REDIS_EFULL;
    } else {
        o->next = NULL;
        if (r->tail) r->tail->next = o;
        else {
            r->head = o;
            pthread_cond_signal(&r->cv); /* the thread only sleeps on an empty queue */
        }
        r->tail = o;
        r->n_pending++;
        r->bytes_pending += bytes;
    }
    pthread_mutex_unlock(&r->mu);
    return st;
}

void fg_redis_get(fg_redis *r, const uint8_t key[FG_REDIS_KEY_BYTES], fg_redis_get_cb cb, void *ctx) {
    INC(gets);
    int st = FG_REDIS_EDOWN;
    /* The open breaker is the common failure: refuse it before allocating or locking. */
    if (atomic_load_explicit(&r->state, memory_order_relaxed) != ST_DOWN) {
        op *o = malloc(sizeof *o);
        if (!o) st = FG_REDIS_EFULL; /* cannot queue it, as when the queue is full */
        else {
            o->kind = OP_GET;
            memcpy(o->key, key, FG_REDIS_KEY_BYTES);
            o->cb = cb;
            o->ctx = ctx;
            o->len = 0;
            st = enqueue(r, o);
            if (st == 0) return;
            free(o);
        }
    }
    INC(dropped);
    INC(get_errors);
    cb(ctx, st, NULL, 0);
}

void fg_redis_set(fg_redis *r, const uint8_t key[FG_REDIS_KEY_BYTES], const void *val, size_t len) {
    INC(sets);
    if (atomic_load_explicit(&r->state, memory_order_relaxed) != ST_DOWN) {
        op *o = malloc(sizeof *o + len); /* request-sized: a failure drops the set */
        if (o) {
            o->kind = OP_SET;
            memcpy(o->key, key, FG_REDIS_KEY_BYTES);
            o->cb = NULL;
            o->ctx = NULL;
            o->len = len;
            if (len) memcpy(o->val, val, len);
            if (enqueue(r, o) == 0) return;
            free(o);
        }
    }
    INC(dropped);
}

void fg_redis_stats_get(fg_redis *r, fg_redis_stats *s) {
    memset(s, 0, sizeof *s);
#define LD(f) s->f = atomic_load_explicit(&r->c.f, memory_order_relaxed)
    LD(gets); LD(hits); LD(misses); LD(get_errors); LD(sets); LD(sets_stored); LD(dropped);
    LD(err_connect); LD(err_timeout); LD(err_protocol); LD(breaker_opens); LD(reconnects);
#undef LD
    pthread_mutex_lock(&r->mu);
    s->pending = r->n_pending;
    pthread_mutex_unlock(&r->mu);
    s->connected = atomic_load_explicit(&r->state, memory_order_relaxed) == ST_UP;
}

/* ---- the I/O thread ---- */

/* Connects, sets the reply timeout, PINGs and SELECTs: a connection counts as up only once Redis has
 * answered, so a port that accepts but does not speak keeps the breaker open. NULL with why filled. */
static redisContext *open_conn(fg_redis *r, char *why, size_t whycap) {
    struct timeval tv = {.tv_sec = r->timeout_ms / 1000, .tv_usec = (r->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!c) {
        snprintf(why, whycap, "connect %s:%d: out of memory", r->host, r->port);
        return NULL;
    }
    if (c->err) {
        snprintf(why, whycap, "connect %s:%d: %s", r->host, r->port, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        snprintf(why, whycap, "%s:%d: setting the socket timeout: %s", r->host, r->port, c->errstr);
        redisFree(c);
        return NULL;
    }
    redisEnableKeepAlive(c); /* best effort: finds a dead peer on an idle connection */
    redisReply *rep;
    if (r->password[0]) { /* AUTH [user] password; the reply's error text never contains the password */
        rep = r->user[0] ? redisCommand(c, "AUTH %s %s", r->user, r->password) : redisCommand(c, "AUTH %s", r->password);
        bool authed = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0;
        if (!authed)
            snprintf(why, whycap, "%s:%d: AUTH: %s", r->host, r->port,
                     !rep ? c->errstr : rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        if (rep)
            freeReplyObject(rep);
        if (!authed) {
            redisFree(c);
            return NULL;
        }
    }
    rep = redisCommand(c, "PING");
    bool ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0;
    if (!ok) {
        snprintf(why, whycap, "%s:%d: PING: %s", r->host, r->port,
                 !rep ? c->errstr : rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    }
    if (rep) freeReplyObject(rep);
    if (ok && r->db >= 0) {
        rep = redisCommand(c, "SELECT %d", r->db);
        ok = rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0;
        if (!ok) {
            snprintf(why, whycap, "%s:%d: SELECT %d: %s", r->host, r->port, r->db,
                     !rep ? c->errstr : rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        }
        if (rep) freeReplyObject(rep);
    }
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Opens the breaker (once per outage) and fails what was queued behind the broken pipeline. */
static void go_down(fg_redis *r, const char *why) {
    pthread_mutex_lock(&r->mu);
    int was = atomic_load_explicit(&r->state, memory_order_relaxed);
    atomic_store_explicit(&r->state, ST_DOWN, memory_order_relaxed);
    op *list = r->head;
    r->head = r->tail = NULL;
    r->n_pending = r->bytes_pending = 0;
    bool stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    if (was != ST_DOWN) {
        INC(breaker_opens);
        if (!stopping) fg_warn("redis: down (%s)", why);
    }
    fail_list(r, list, stopping ? FG_REDIS_ESTOPPED : FG_REDIS_EDOWN);
}

static const char *redis_key(fg_redis *r, const uint8_t key[FG_REDIS_KEY_BYTES]) {
    static const char hex[] = "0123456789abcdef";
    char *k = r->key + r->prefix_len;
    for (int i = 0; i < FG_REDIS_KEY_BYTES; i++) {
        k[2 * i] = hex[key[i] >> 4];
        k[2 * i + 1] = hex[key[i] & 15];
    }
    return r->key;
}

/* Sends every operation of list, then reads every reply; completes and frees the whole list. Returns
 * 0, or -1 (why filled) when the connection is no longer usable. */
static int run_pipeline(fg_redis *r, redisContext *c, op *list, char *why, size_t whycap) {
    size_t klen = r->prefix_len + 2 * FG_REDIS_KEY_BYTES;
    for (op *o = list; o; o = o->next) {
        const char *k = redis_key(r, o->key);
        int a;
        if (o->kind == OP_GET) a = redisAppendCommand(c, "GET %b", k, klen);
        else if (r->ttl_s) a = redisAppendCommand(c, "SET %b %b EX %u", k, klen, o->val, o->len, r->ttl_s);
        else a = redisAppendCommand(c, "SET %b %b", k, klen, o->val, o->len);
        if (a != REDIS_OK) { /* out of memory: this context cannot be trusted any more */
            snprintf(why, whycap, "%s:%d: building a command: %s", r->host, r->port, c->errstr);
            INC(err_connect);
            fail_list(r, list, FG_REDIS_EDOWN);
            return -1;
        }
    }
    op *o = list;
    for (; o; ) {
        op *next = o->next;
        redisReply *rep = NULL;
        errno = 0;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK) {
            int en = errno;
            bool timeout = c->err == REDIS_ERR_IO && (en == EAGAIN || en == EWOULDBLOCK || en == ETIMEDOUT);
            if (timeout) {
                INC(err_timeout);
                snprintf(why, whycap, "%s:%d: no reply within %u ms", r->host, r->port, r->timeout_ms);
            } else {
                if (c->err == REDIS_ERR_PROTOCOL) INC(err_protocol);
                else INC(err_connect);
                snprintf(why, whycap, "%s:%d: %s", r->host, r->port, c->errstr);
            }
            fail_list(r, o, timeout ? FG_REDIS_ETIMEDOUT : FG_REDIS_EDOWN);
            return -1;
        }
        if (o->kind == OP_GET) {
            if (rep->type == REDIS_REPLY_STRING) complete_get(r, o, 1, rep->str, (size_t)rep->len);
            else if (rep->type == REDIS_REPLY_NIL) complete_get(r, o, 0, NULL, 0);
            else {
                INC(err_protocol);
                complete_get(r, o, FG_REDIS_EPROTO, NULL, 0);
            }
        } else if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0) {
            INC(sets_stored);
        } else {
            INC(err_protocol);
        }
        freeReplyObject(rep);
        free(o);
        o = next;
    }
    return 0;
}

/* Sleeps ms or until fg_redis_free; returns true when stopping. */
static bool backoff_wait(fg_redis *r, unsigned ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    while (!r->stopping && pthread_cond_timedwait(&r->cv, &r->mu, &ts) != ETIMEDOUT) {
    }
    bool stop = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

static void *io_main(void *arg) {
    fg_redis *r = arg;
    redisContext *c = NULL;
    unsigned backoff = BACKOFF_MIN_MS;
    bool ever_up = false;
    char why[256];
    for (;;) {
        if (!c) {
            pthread_mutex_lock(&r->mu);
            bool stop = r->stopping;
            pthread_mutex_unlock(&r->mu);
            if (stop) break;
            c = open_conn(r, why, sizeof why);
            if (!c) {
                INC(err_connect);
                go_down(r, why);
                if (backoff_wait(r, backoff)) break;
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            pthread_mutex_lock(&r->mu);
            int was = atomic_load_explicit(&r->state, memory_order_relaxed);
            atomic_store_explicit(&r->state, ST_UP, memory_order_relaxed);
            r->fd = c->fd;
            pthread_mutex_unlock(&r->mu);
            if (was == ST_DOWN) {
                INC(reconnects);
                fg_info("redis: reconnected to %s:%d", r->host, r->port);
            } else if (!ever_up) {
                fg_info("redis: connected to %s:%d", r->host, r->port);
            }
            ever_up = true;
            backoff = BACKOFF_MIN_MS;
        }
        pthread_mutex_lock(&r->mu);
        while (!r->head && !r->stopping) pthread_cond_wait(&r->cv, &r->mu);
        if (r->stopping) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        op *list = r->head;
        r->head = r->tail = NULL;
        r->n_pending = r->bytes_pending = 0;
        pthread_mutex_unlock(&r->mu);
        if (run_pipeline(r, c, list, why, sizeof why) < 0) {
            pthread_mutex_lock(&r->mu);
            r->fd = -1; /* before redisFree, so fg_redis_free never shuts down a reused descriptor */
            pthread_mutex_unlock(&r->mu);
            redisFree(c);
            c = NULL;
            go_down(r, why);
        }
    }
    pthread_mutex_lock(&r->mu);
    r->fd = -1;
    op *list = r->head;
    r->head = r->tail = NULL;
    r->n_pending = r->bytes_pending = 0;
    pthread_mutex_unlock(&r->mu);
    if (c) redisFree(c);
    fail_list(r, list, FG_REDIS_ESTOPPED);
    return NULL;
}

fg_redis *fg_redis_new(const fg_redis_opts *o, fg_err *e) {
    if (!o) {
        fg_err_set(e, FG_EINVAL, "redis: no options");
        return NULL;
    }
    char host[HOST_MAX];
    int port, db;
    if (fg_redis_parse_url(o->url, host, sizeof host, &port, &db, e) < 0) return NULL;
    char user[FG_REDIS_CRED_MAX], password[FG_REDIS_CRED_MAX];
    if (fg_redis_parse_credentials(o->url, user, password, e) < 0) return NULL;
    if (!password[0]) { /* kept out of the URL (and so out of ps) */
        const char *ep = getenv("FRUGAL_REDIS_PASSWORD"), *eu = getenv("FRUGAL_REDIS_USER");
        if (ep && *ep) {
            if (strlen(ep) >= sizeof password || (eu && strlen(eu) >= sizeof user)) {
                fg_err_set(e, FG_EINVAL, "FRUGAL_REDIS_PASSWORD or FRUGAL_REDIS_USER: longer than %d bytes",
                           FG_REDIS_CRED_MAX - 1);
                return NULL;
            }
            snprintf(password, sizeof password, "%s", ep);
            snprintf(user, sizeof user, "%s", eu ? eu : "");
        }
    }
    const char *prefix = o->prefix ? o->prefix : "";
    size_t plen = strlen(prefix);
    if (plen > PREFIX_MAX) {
        fg_err_set(e, FG_EINVAL, "redis: key prefix longer than %d bytes", PREFIX_MAX);
        return NULL;
    }
    fg_redis *r = fg_xcalloc(1, sizeof *r);
    memcpy(r->host, host, sizeof host);
    r->port = port;
    r->db = db;
    memcpy(r->user, user, sizeof user);
    memcpy(r->password, password, sizeof password);
    r->prefix_len = plen;
    r->key = fg_xmalloc(plen + 2 * FG_REDIS_KEY_BYTES + 1);
    memcpy(r->key, prefix, plen);
    r->key[plen + 2 * FG_REDIS_KEY_BYTES] = '\0';
    r->ttl_s = o->ttl_s;
    r->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
    r->max_pending = o->max_pending ? o->max_pending : DEFAULT_MAX_PENDING;
    r->max_pending_bytes = o->max_pending_bytes ? o->max_pending_bytes : DEFAULT_MAX_PENDING_BYTES;
    r->fd = -1;
    atomic_init(&r->state, ST_CONNECTING);
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);

    /* The thread blocks every signal: process signals belong to the server's own handling, and a
     * write to a connection Redis closed must fail with EPIPE rather than kill the process (hiredis
     * writes without MSG_NOSIGNAL). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&r->thread, NULL, io_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        fg_err_set(e, FG_EINTERNAL, "redis: starting the I/O thread: %s", strerror(rc));
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r->key);
        free(r);
        return NULL;
    }
    return r;
}

void fg_redis_free(fg_redis *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    /* Cuts a pipeline waiting on a slow server: its gets complete with errors now, not after
     * timeout_ms per reply. */
    if (r->fd >= 0) shutdown(r->fd, SHUT_RDWR);
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r->key);
    explicit_bzero(r->password, sizeof r->password); /* the thread that used it is joined */
    free(r);
}
