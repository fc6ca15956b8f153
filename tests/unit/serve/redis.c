/* Tests for src/serve/redis.c against real redis-server processes: each test starts its own on a
 * free port (and kills, stops or restarts it to make Redis fail the way it does in production). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "serve/redis.h"

#define MS 1000000ull
#define REDIS_BIN "/usr/bin/redis-server"

extern char **environ;

/* ---- redis-server processes ---- */

#define MAX_PIDS 8
static pid_t g_pids[MAX_PIDS]; /* every server still running, so a failed test's teardown kills it */

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t n = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int ping_ok(int port) {
    struct timeval tv = {0, 100000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *rep = redisCommand(c, "PING");
        ok = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep) freeReplyObject(rep);
    }
    if (c) redisFree(c);
    return ok;
}

/* Starts redis-server on port and waits until it answers PING. */
static pid_t redis_start(int port) {
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char *argv[] = {REDIS_BIN, "--port", ps, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--loglevel", "warning", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, REDIS_BIN, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    for (int i = 0; i < MAX_PIDS; i++) {
        if (!g_pids[i]) {
            g_pids[i] = pid;
            break;
        }
    }
    uint64_t t0 = fg_now_ns();
    while (!ping_ok(port)) {
        if (fg_now_ns() - t0 > 5000 * MS) fail_msg("redis-server on port %d not ready after 5 s", port);
        usleep(5000);
    }
    return pid;
}

static void redis_kill(pid_t pid, int sig) {
    kill(pid, sig);
    waitpid(pid, NULL, 0);
    for (int i = 0; i < MAX_PIDS; i++) {
        if (g_pids[i] == pid) g_pids[i] = 0;
    }
}

static int teardown(void **state) {
    (void)state;
    for (int i = 0; i < MAX_PIDS; i++) {
        if (g_pids[i]) {
            kill(g_pids[i], SIGCONT);
            redis_kill(g_pids[i], SIGKILL);
        }
    }
    return 0;
}

static fg_redis *open_redis(int port, unsigned ttl_s, unsigned timeout_ms, size_t max_pending) {
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    fg_redis_opts o = {.url = url, .prefix = "t:v1:", .ttl_s = ttl_s, .timeout_ms = timeout_ms,
                       .max_pending = max_pending};
    fg_err e = {0};
    fg_redis *r = fg_redis_new(&o, &e);
    if (!r) fail_msg("fg_redis_new: %s", e.msg);
    return r;
}

static void make_key(uint8_t k[32], uint64_t a, uint64_t b) {
    uint64_t s = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
    for (int i = 0; i < 32; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        k[i] = (uint8_t)(s >> 56);
    }
}

/* ---- synchronous get ---- */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls, status;
    unsigned char *val;
    size_t len;
    uint64_t done_ns;
} waiter;

static void waiter_cb(void *ctx, int status, const void *val, size_t len) {
    waiter *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->calls++;
    w->status = status;
    w->done_ns = fg_now_ns();
    if (status == 1) {
        w->val = malloc(len ? len : 1);
        memcpy(w->val, val, len);
        w->len = len;
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Gets key and waits for the callback; *lat_ns is call -> callback. Fails (leaking the waiter, which a
 * late callback may still write) when no callback came within 2 s. Returns the status; *val (hits
 * only) is the caller's to free. */
static int get_wait(fg_redis *r, const uint8_t key[32], unsigned char **val, size_t *len, uint64_t *lat_ns) {
    waiter *w = calloc(1, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    uint64_t t0 = fg_now_ns();
    fg_redis_get(r, key, waiter_cb, w);
    pthread_mutex_lock(&w->mu);
    while (!w->calls) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * MS;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        if (!w->calls && fg_now_ns() - t0 > 2000 * MS) {
            pthread_mutex_unlock(&w->mu);
            fail_msg("get: no callback after 2 s");
        }
    }
    pthread_mutex_unlock(&w->mu);
    usleep(0);
    pthread_mutex_lock(&w->mu);
    assert_int_equal(w->calls, 1);
    pthread_mutex_unlock(&w->mu);
    int st = w->status;
    if (lat_ns) *lat_ns = w->done_ns - t0;
    if (val) *val = w->val;
    else free(w->val);
    if (len) *len = w->len;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    return st;
}

/* Sets key = val until a get hits (the breaker may still be open right after Redis came back);
 * fails after limit_ms. Returns the ms it took. */
static uint64_t wait_hit(fg_redis *r, const uint8_t key[32], const char *val, unsigned limit_ms) {
    uint64_t t0 = fg_now_ns();
    for (;;) {
        fg_redis_set(r, key, val, strlen(val));
        unsigned char *v = NULL;
        size_t n = 0;
        int st = get_wait(r, key, &v, &n, NULL);
        if (st == 1) {
            assert_int_equal(n, strlen(val));
            assert_memory_equal(v, val, n);
            free(v);
            return (fg_now_ns() - t0) / MS;
        }
        if (fg_now_ns() - t0 > limit_ms * MS) fail_msg("no hit %u ms after Redis came back", limit_ms);
        usleep(20000);
    }
}

/* ---- tests ---- */

static void redis_set_then_get_hits(void **state) {
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 0, 0, 0);
    uint8_t k[32];
    make_key(k, 1, 1);
    unsigned char val[300];
    for (size_t i = 0; i < sizeof val; i++) val[i] = (unsigned char)(i * 7); /* NULs and high bytes */
    fg_redis_set(r, k, val, sizeof val);
    unsigned char *got;
    size_t n;
    assert_int_equal(get_wait(r, k, &got, &n, NULL), 1);
    assert_int_equal(n, sizeof val);
    assert_memory_equal(got, val, n);
    free(got);

    /* The Redis key is the prefix and the key's lowercase hex. */
    char rk[5 + 65] = "t:v1:";
    for (int i = 0; i < 32; i++) snprintf(rk + 5 + 2 * i, 3, "%02x", k[i]);
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *rep = redisCommand(c, "GET %s", rk);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_int_equal(rep->len, sizeof val);
    assert_memory_equal(rep->str, val, sizeof val);
    freeReplyObject(rep);
    rep = redisCommand(c, "TTL %s", rk);
    assert_int_equal(rep->integer, -1); /* ttl_s 0: no expiry */
    freeReplyObject(rep);
    redisFree(c);

    /* An empty value is a hit, not a miss. */
    make_key(k, 1, 2);
    fg_redis_set(r, k, "", 0);
    assert_int_equal(get_wait(r, k, &got, &n, NULL), 1);
    assert_int_equal(n, 0);
    free(got);

    fg_redis_stats s;
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.gets, 2);
    assert_int_equal(s.hits, 2);
    assert_int_equal(s.sets, 2);
    assert_int_equal(s.sets_stored, 2);
    assert_int_equal(s.connected, 1);
    assert_int_equal(s.breaker_opens, 0);
    fg_redis_free(r);
    redis_kill(pid, SIGTERM);
}

static void redis_unknown_key_misses(void **state) {
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 0, 0, 0);
    uint8_t k[32];
    make_key(k, 2, 1);
    assert_int_equal(get_wait(r, k, NULL, NULL, NULL), 0);
    fg_redis_stats s;
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.get_errors, 0);
    fg_redis_free(r);
    redis_kill(pid, SIGTERM);
}

static void redis_ttl_expires(void **state) {
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 1, 0, 0);
    uint8_t k[32];
    make_key(k, 3, 1);
    fg_redis_set(r, k, "abc", 3);
    unsigned char *got;
    assert_int_equal(get_wait(r, k, &got, NULL, NULL), 1);
    free(got);
    usleep(1500000);
    assert_int_equal(get_wait(r, k, NULL, NULL, NULL), 0);
    fg_redis_free(r);
    redis_kill(pid, SIGTERM);
}

/* A -ERR or a reply of the wrong type fails that get only; the connection stays up. */
static void redis_wrong_type_is_protocol_error(void **state) {
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 0, 0, 0);
    uint8_t k[32];
    make_key(k, 4, 1);
    char rk[5 + 65] = "t:v1:";
    for (int i = 0; i < 32; i++) snprintf(rk + 5 + 2 * i, 3, "%02x", k[i]);
    redisContext *c = redisConnect("127.0.0.1", port);
    freeReplyObject(redisCommand(c, "LPUSH %s x", rk));
    redisFree(c);
    assert_int_equal(get_wait(r, k, NULL, NULL, NULL), FG_REDIS_EPROTO);
    make_key(k, 4, 2);
    fg_redis_set(r, k, "ok", 2);
    assert_int_equal(get_wait(r, k, NULL, NULL, NULL), 1);
    fg_redis_stats s;
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.err_protocol, 1);
    assert_int_equal(s.breaker_opens, 0);
    assert_int_equal(s.connected, 1);
    fg_redis_free(r);
    redis_kill(pid, SIGTERM);
}

/* ---- many concurrent gets ---- */

#define CG_KEYS 64
#define CG_THREADS 4
#define CG_PER_THREAD 3000

typedef struct cg_slot {
    atomic_int calls;
    int key, status;
    int ok; /* the value matched the key */
} cg_slot;

typedef struct cg_arg {
    fg_redis *r;
    cg_slot *slots;
    int t;
} cg_arg;

static atomic_int g_cg_done;

static void cg_cb(void *ctx, int status, const void *val, size_t len) {
    cg_slot *s = ctx;
    char want[32];
    int n = snprintf(want, sizeof want, "value-%d", s->key);
    s->status = status;
    s->ok = status == 1 && len == (size_t)n && memcmp(val, want, len) == 0;
    atomic_fetch_add(&s->calls, 1);
    atomic_fetch_add(&g_cg_done, 1);
}

static void *cg_thread(void *p) {
    cg_arg *a = p;
    for (int i = 0; i < CG_PER_THREAD; i++) {
        cg_slot *s = &a->slots[a->t * CG_PER_THREAD + i];
        s->key = (i * 7 + a->t) % CG_KEYS;
        uint8_t k[32];
        make_key(k, 5, (uint64_t)s->key);
        fg_redis_get(a->r, k, cg_cb, s);
    }
    return NULL;
}

static void redis_concurrent_gets(void **state) {
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 0, 1000, CG_THREADS * CG_PER_THREAD);
    for (int i = 0; i < CG_KEYS; i++) {
        uint8_t k[32];
        char v[32];
        make_key(k, 5, (uint64_t)i);
        fg_redis_set(r, k, v, (size_t)snprintf(v, sizeof v, "value-%d", i));
    }
    uint8_t k0[32];
    make_key(k0, 5, CG_KEYS - 1);
    assert_int_equal(get_wait(r, k0, NULL, NULL, NULL), 1); /* every set before it has been applied */

    cg_slot *slots = calloc(CG_THREADS * CG_PER_THREAD, sizeof *slots);
    pthread_t th[CG_THREADS];
    cg_arg args[CG_THREADS];
    for (int t = 0; t < CG_THREADS; t++) {
        args[t] = (cg_arg){r, slots, t};
        pthread_create(&th[t], NULL, cg_thread, &args[t]);
    }
    for (int t = 0; t < CG_THREADS; t++) pthread_join(th[t], NULL);
    uint64_t t0 = fg_now_ns();
    while (atomic_load(&g_cg_done) < CG_THREADS * CG_PER_THREAD) {
        if (fg_now_ns() - t0 > 5000 * MS) fail_msg("gets still pending after 5 s");
        usleep(1000);
    }
    usleep(10000); /* a second callback for some get would show up now */
    for (int i = 0; i < CG_THREADS * CG_PER_THREAD; i++) {
        int n = atomic_load(&slots[i].calls);
        if (n != 1) fail_msg("get %d: %d callbacks", i, n);
        if (!slots[i].ok) fail_msg("get %d: status %d or wrong value", i, slots[i].status);
    }
    fg_redis_stats s;
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.hits, CG_THREADS * CG_PER_THREAD + 1);
    assert_int_equal(s.dropped, 0);
    free(slots);
    fg_redis_free(r);
    redis_kill(pid, SIGTERM);
}

static void redis_url_parsing(void **state) {
    (void)state;
    char host[256];
    int port, db;
    fg_err e = {0};
    assert_int_equal(fg_redis_parse_url("redis://cache", host, sizeof host, &port, &db, &e), 0);
    assert_string_equal(host, "cache");
    assert_int_equal(port, 6379);
    assert_int_equal(db, -1);
    assert_int_equal(fg_redis_parse_url("redis://10.0.0.1:7000/3", host, sizeof host, &port, &db, &e), 0);
    assert_string_equal(host, "10.0.0.1");
    assert_int_equal(port, 7000);
    assert_int_equal(db, 3);
    assert_int_equal(fg_redis_parse_url("redis://[::1]:6380/0", host, sizeof host, &port, &db, &e), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 6380);
    assert_int_equal(db, 0);
    assert_int_equal(fg_redis_parse_url("redis://h/", host, sizeof host, &port, &db, &e), 0);
    assert_int_equal(db, -1);
    /* credentials: percent-decoded, never in the host; a lone userinfo is the password */
    char user[FG_REDIS_CRED_MAX], pw[FG_REDIS_CRED_MAX];
    assert_int_equal(fg_redis_parse_url("redis://app:s%40cret%3a1@cache:7000/2", host, sizeof host, &port, &db, &e), 0);
    assert_string_equal(host, "cache");
    assert_int_equal(port, 7000);
    assert_int_equal(db, 2);
    assert_int_equal(fg_redis_parse_credentials("redis://app:s%40cret%3a1@cache:7000/2", user, pw, &e), 0);
    assert_string_equal(user, "app");
    assert_string_equal(pw, "s@cret:1");
    assert_int_equal(fg_redis_parse_credentials("redis://:only@h", user, pw, &e), 0);
    assert_string_equal(user, "");
    assert_string_equal(pw, "only");
    assert_int_equal(fg_redis_parse_credentials("redis://lone@h", user, pw, &e), 0);
    assert_string_equal(pw, "lone");
    assert_int_equal(fg_redis_parse_credentials("redis://h:1/2", user, pw, &e), 0);
    assert_string_equal(pw, "");

    static const struct {
        const char *url, *want;
    } bad[] = {
        {"http://cache:6379", "scheme"},    {"cache:6379", "scheme"},
        {"", "empty"},                      {"redis://", "no host"},
        {"redis://:6379", "no host"},       {"redis://h:0", "bad port"},
        {"redis://h:65536", "bad port"},    {"redis://h:99999999999", "bad port"},
        {"redis://h:abc", "bad port"},      {"redis://h:", "bad port"},
        {"redis://h:12x", "bad port"},      {"redis://h:6379/x", "bad database"},
        {"redis://h/1x", "bad database"},   {"redis://h/-1", "bad database"},
        {"redis://h/99999999999", "bad database"}, {"redis://u:p@x@h", "more than one '@'"},
        {"redis://u:@h", "without a password"},    {"redis://:p%zz@h", "bad user or password"},
        {"redis://:p%00@h", "bad user or password"},
        {"redis://[::1", "']'"},            {"redis://[::1]x", "unexpected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fg_err_clear(&e);
        fg_redis_opts o = {.url = bad[i].url, .prefix = "p:"};
        fg_redis *r = fg_redis_new(&o, &e);
        if (r) fail_msg("'%s' accepted", bad[i].url);
        assert_int_equal(e.code, FG_EINVAL);
        if (!strstr(e.msg, bad[i].want)) {
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].url, e.msg, bad[i].want);
        }
    }
}

/* Nothing listens at start: gets fail fast (the first while connecting, the rest at once on the open
 * breaker); once Redis starts, the thread reconnects by itself. */
static void redis_down_at_start_then_reconnects(void **state) {
    (void)state;
    int port = free_port();
    fg_redis *r = open_redis(port, 0, 50, 0);
    uint8_t k[32];
    make_key(k, 6, 1);
    uint64_t worst = 0;
    for (int i = 0; i < 50; i++) {
        uint64_t lat;
        int st = get_wait(r, k, NULL, NULL, &lat);
        assert_true(st < 0);
        if (lat > worst) worst = lat;
        fg_redis_set(r, k, "x", 1); /* dropped */
        usleep(2000);
    }
    assert_true(worst < 200 * MS); /* connect refused (or timeout_ms) at worst */
    fg_redis_stats s;
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.connected, 0);
    assert_int_equal(s.breaker_opens, 1);
    assert_true(s.err_connect >= 1);
    assert_true(s.dropped >= 50 + 49);
    assert_int_equal(s.get_errors, 50);

    pid_t pid = redis_start(port);
    uint64_t ms = wait_hit(r, k, "after", 6000);
    print_message("reconnected and hit %llu ms after redis-server was ready\n", (unsigned long long)ms);
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.connected, 1);
    assert_int_equal(s.reconnects, 1);
    assert_int_equal(s.breaker_opens, 1);
    fg_redis_free(r);
    redis_kill(pid, SIGTERM);
}

/* ---- Redis killed while a thread issues gets ---- */

typedef struct loop_arg {
    fg_redis *r;
    atomic_int stop;
    atomic_int n, hits, misses, errors;
    atomic_ullong worst_ns;
} loop_arg;

static void *loop_thread(void *p) {
    loop_arg *a = p;
    uint8_t k[32];
    make_key(k, 7, 1);
    while (!atomic_load(&a->stop)) {
        uint64_t lat;
        int st = get_wait(a->r, k, NULL, NULL, &lat); /* fails (aborts the test) on a hang */
        if (st == 1) atomic_fetch_add(&a->hits, 1);
        else if (st == 0) atomic_fetch_add(&a->misses, 1);
        else atomic_fetch_add(&a->errors, 1);
        atomic_fetch_add(&a->n, 1);
        if (lat > atomic_load(&a->worst_ns)) atomic_store(&a->worst_ns, lat);
        usleep(500);
    }
    return NULL;
}

static void redis_killed_mid_run_then_restarted(void **state) {
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 0, 50, 0);
    uint8_t k[32];
    make_key(k, 7, 1);
    wait_hit(r, k, "before", 1000);
    loop_arg a = {.r = r};
    pthread_t th;
    pthread_create(&th, NULL, loop_thread, &a);
    usleep(200000);
    assert_true(atomic_load(&a.hits) > 0);
    redis_kill(pid, SIGKILL);
    usleep(300000);
    fg_redis_stats s;
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.connected, 0);
    assert_int_equal(s.breaker_opens, 1);
    int errs_down = atomic_load(&a.errors);
    assert_true(errs_down > 0);

    pid = redis_start(port); /* a fresh, empty server */
    uint64_t ms = wait_hit(r, k, "after", 6000);
    print_message("reconnected and hit %llu ms after the restart\n", (unsigned long long)ms);
    usleep(100000);
    atomic_store(&a.stop, 1);
    pthread_join(th, NULL);
    print_message("loop: %d gets (%d hits, %d misses, %d errors), slowest %.1f ms\n", atomic_load(&a.n),
                  atomic_load(&a.hits), atomic_load(&a.misses), atomic_load(&a.errors),
                  (double)atomic_load(&a.worst_ns) / 1e6);
    assert_true(atomic_load(&a.worst_ns) < 500 * MS);
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.connected, 1);
    assert_int_equal(s.reconnects, 1);
    assert_int_equal(s.gets, s.hits + s.misses + s.get_errors);
    fg_redis_free(r);
    redis_kill(pid, SIGTERM);
}

/* A stopped (SIGSTOP) server accepts connections but never answers: the per-reply timeout fails the
 * gets, opens the breaker, and reconnecting waits for PING to be answered. */
static void redis_stalled_server_times_out(void **state) {
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 0, 50, 0);
    uint8_t k[32];
    make_key(k, 8, 1);
    wait_hit(r, k, "v", 1000);
    kill(pid, SIGSTOP);
    uint64_t lat;
    assert_int_equal(get_wait(r, k, NULL, NULL, &lat), FG_REDIS_ETIMEDOUT);
    assert_true(lat < 300 * MS);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(get_wait(r, k, NULL, NULL, &lat), FG_REDIS_EDOWN);
        assert_true(lat < 5 * MS); /* the breaker answers at once */
    }
    fg_redis_stats s;
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.err_timeout, 1);
    assert_int_equal(s.breaker_opens, 1);
    usleep(400000); /* reconnect attempts time out on PING while the server is stopped */
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.connected, 0);
    kill(pid, SIGCONT);
    wait_hit(r, k, "v2", 6000);
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.reconnects, 1);
    fg_redis_free(r);
    redis_kill(pid, SIGTERM);
}

static void redis_huge_value_roundtrip(void **state) {
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 60, 1000, 0);
    size_t n = 1 << 20;
    unsigned char *val = malloc(n);
    uint64_t s = 42;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        val[i] = (unsigned char)(s >> 56);
    }
    uint8_t k[32];
    make_key(k, 9, 1);
    fg_redis_set(r, k, val, n);
    unsigned char *got;
    size_t len;
    assert_int_equal(get_wait(r, k, &got, &len, NULL), 1);
    assert_int_equal(len, n);
    assert_memory_equal(got, val, n);
    free(got);
    free(val);
    fg_redis_free(r);
    redis_kill(pid, SIGTERM);
}

/* ---- free with operations pending ---- */

static void fp_cb(void *ctx, int status, const void *val, size_t len) {
    (void)val;
    (void)len;
    atomic_int *c = ctx;
    (void)status;
    atomic_fetch_add(c, 1);
}

static void redis_free_completes_pending(void **state) {
    (void)state;
    enum { N = 2000 };
    static atomic_int calls[N];
    uint8_t k[32];
    make_key(k, 10, 1);
    /* Redis up: some gets run, the rest are still queued when free is called. */
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 0, 50, N);
    for (int i = 0; i < N; i++) {
        atomic_init(&calls[i], 0);
        fg_redis_get(r, k, fp_cb, &calls[i]);
        fg_redis_set(r, k, "", 0);
    }
    fg_redis_free(r);
    for (int i = 0; i < N; i++) assert_int_equal(atomic_load(&calls[i]), 1);
    redis_kill(pid, SIGTERM);

    /* Freed during the first connection attempt: the queued gets complete too. */
    r = open_redis(free_port(), 0, 50, N);
    for (int i = 0; i < N; i++) {
        atomic_init(&calls[i], 0);
        fg_redis_get(r, k, fp_cb, &calls[i]);
    }
    fg_redis_free(r);
    for (int i = 0; i < N; i++) assert_int_equal(atomic_load(&calls[i]), 1);
}

/* The queue is bounded: beyond max_pending, gets fail at once with FG_REDIS_EFULL. */
static void redis_queue_full_refuses(void **state) {
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 0, 200, 4);
    uint8_t k[32];
    make_key(k, 11, 1);
    wait_hit(r, k, "v", 1000);
    kill(pid, SIGSTOP); /* the thread is stuck in one pipeline while we fill the queue */
    static atomic_int calls[16];
    fg_redis_get(r, k, fp_cb, &calls[0]);
    usleep(50000); /* the I/O thread has taken it */
    for (int i = 1; i < 16; i++) fg_redis_get(r, k, fp_cb, &calls[i]);
    fg_redis_stats s;
    fg_redis_stats_get(r, &s);
    assert_int_equal(s.pending, 4);
    assert_int_equal(s.dropped, 11);
    for (int i = 5; i < 16; i++) assert_int_equal(atomic_load(&calls[i]), 1);
    fg_redis_free(r); /* cuts the stalled pipeline */
    for (int i = 0; i < 16; i++) assert_int_equal(atomic_load(&calls[i]), 1);
    kill(pid, SIGCONT);
    redis_kill(pid, SIGTERM);
}

/* ---- throughput (printed for the record; asserts only that it works) ---- */

typedef struct tp_arg {
    fg_redis *r;
    uint64_t end_ns;
    atomic_long done;
    long issued;
} tp_arg;

static void tp_cb(void *ctx, int status, const void *val, size_t len) {
    (void)val;
    (void)len;
    if (status == 1) atomic_fetch_add((atomic_long *)ctx, 1);
}

static void *tp_thread(void *p) {
    tp_arg *a = p;
    uint8_t k[32];
    make_key(k, 12, 1);
    while (fg_now_ns() < a->end_ns) {
        /* keep at most ~1000 outstanding per thread: an open loop would only measure the queue */
        while (a->issued - atomic_load(&a->done) > 1000) usleep(50);
        fg_redis_get(a->r, k, tp_cb, &a->done);
        a->issued++;
    }
    return NULL;
}

static void redis_throughput(void **state) {
    (void)state;
    int port = free_port();
    pid_t pid = redis_start(port);
    fg_redis *r = open_redis(port, 0, 1000, 65536);
    uint8_t k[32];
    make_key(k, 12, 1);
    char v[200];
    memset(v, 'x', sizeof v);
    v[sizeof v - 1] = 0;
    wait_hit(r, k, v, 1000);
    uint64_t lat_sum = 0, lat_min = UINT64_MAX;
    for (int i = 0; i < 200; i++) {
        uint64_t lat;
        assert_int_equal(get_wait(r, k, NULL, NULL, &lat), 1);
        lat_sum += lat;
        if (lat < lat_min) lat_min = lat;
    }
    tp_arg a[2];
    pthread_t th[2];
    uint64_t t0 = fg_now_ns();
    for (int t = 0; t < 2; t++) {
        a[t].r = r;
        a[t].end_ns = t0 + 1000 * MS;
        atomic_init(&a[t].done, 0);
        a[t].issued = 0;
        pthread_create(&th[t], NULL, tp_thread, &a[t]);
    }
    for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
    long issued = a[0].issued + a[1].issued;
    while (atomic_load(&a[0].done) + atomic_load(&a[1].done) < issued && fg_now_ns() - t0 < 5000 * MS) {
        usleep(100);
    }
    double secs = (double)(fg_now_ns() - t0) / 1e9;
    assert_int_equal(atomic_load(&a[0].done) + atomic_load(&a[1].done), issued);
    print_message("single get round trip: mean %.1f us, min %.1f us; pipelined from 2 threads: %.0f gets/s "
                  "(%ld hits of 200 bytes in %.2f s)\n",
                  (double)lat_sum / 200 / 1e3, (double)lat_min / 1e3, (double)issued / secs, issued, secs);
    fg_redis_free(r);
    redis_kill(pid, SIGTERM);
}

int main(void) {
    fg_log_set_level(FG_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(redis_url_parsing, teardown),
        cmocka_unit_test_teardown(redis_set_then_get_hits, teardown),
        cmocka_unit_test_teardown(redis_unknown_key_misses, teardown),
        cmocka_unit_test_teardown(redis_ttl_expires, teardown),
        cmocka_unit_test_teardown(redis_wrong_type_is_protocol_error, teardown),
        cmocka_unit_test_teardown(redis_concurrent_gets, teardown),
        cmocka_unit_test_teardown(redis_huge_value_roundtrip, teardown),
        cmocka_unit_test_teardown(redis_down_at_start_then_reconnects, teardown),
        cmocka_unit_test_teardown(redis_killed_mid_run_then_restarted, teardown),
        cmocka_unit_test_teardown(redis_stalled_server_times_out, teardown),
        cmocka_unit_test_teardown(redis_queue_full_refuses, teardown),
        cmocka_unit_test_teardown(redis_free_completes_pending, teardown),
        cmocka_unit_test_teardown(redis_throughput, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
