/* redis.h - the shared second level of the response cache: GET/SET of opaque values in Redis, without
 * ever blocking the caller.
 *
 * Overview
 *   Replicas of a server answer repeated requests from a cache; the local cache is the first level,
 *   Redis the second, shared by every replica. An fg_redis is one connection to one Redis server plus
 *   the thread that drives it. Keys are 32 bytes (a digest of model, version and request, computed by
 *   the caller); the Redis key is opts.prefix followed by the 64 lowercase hex digits of the key, so a
 *   format change is a new prefix ("frugal:v2:") and old entries simply age out. Values are opaque
 *   bytes: the caller validates what it reads (another replica, or another version, wrote it).
 *
 * Threads
 *   fg_redis_get and fg_redis_set only append to a queue under a short mutex and return; they never
 *   wait for the network, so event-loop threads can call them. One I/O thread per fg_redis takes
 *   every queued operation at once and pipelines them (all commands written, then all replies read),
 *   so one round trip serves a whole burst. Get callbacks run on the I/O thread (keep them short:
 *   hand the result to your own loop) or, when the operation is refused, at once on the caller's
 *   thread, so a callback must not take a lock its caller holds around fg_redis_get.
 *
 * Failure behaviour
 *   Redis being down or slow must never stall the server, which keeps answering from its local cache
 *   and the model; every error below reads as a miss to the caller.
 *   - Every reply has opts.timeout_ms (a socket timeout, also used to connect). A connection error or
 *     a timeout fails that pipeline's gets (FG_EIO / FG_ETIMEDOUT), drops the connection and opens
 *     the circuit breaker.
 *   - While the breaker is open, gets complete at once with FG_REDIS_EDOWN and sets are dropped:
 *     nobody waits for a server that is known to be away. The I/O thread reconnects by itself with
 *     exponential backoff (100 ms doubling to 5 s); a connection that answers PING (and SELECT) within
 *     the timeout closes the breaker. Each change of state is logged once ("redis: down (...)",
 *     "redis: reconnected"), never per request.
 *   - Redis not reachable at start is not an error: fg_redis_new succeeds, the first connection
 *     attempt fails the operations queued meanwhile, and the breaker opens as above.
 *   - A reply of the wrong type (not a bulk string or nil for GET, not +OK for SET; -ERR included)
 *     fails that get with FG_REDIS_EPROTO and keeps the connection.
 *   - Memory is bounded: at most opts.max_pending operations and opts.max_pending_bytes of queued set
 *     values; beyond, gets fail at once with FG_REDIS_EFULL and sets are dropped (counted).
 *   - fg_redis_free completes every queued get with FG_REDIS_ESTOPPED; a pipeline in flight is cut
 *     short (its socket is shut down), so freeing does not wait for a slow server.
 *
 * Usage
 *   fg_redis_opts o = {.url = "redis://cache:6379/2", .prefix = "frugal:v1:", .ttl_s = 3600};
 *   fg_redis *r = fg_redis_new(&o, &e);              // NULL only for bad options (FG_EINVAL)
 *   fg_redis_get(r, key, on_get, req);               // on_get(req, 1, val, len): hit; 0: miss; <0: error
 *   fg_redis_set(r, key, body, body_len);            // after computing a response; copied, no reply
 *   fg_redis_stats s; fg_redis_stats_get(r, &s);     // metrics
 *   fg_redis_free(r);                                // joins the thread; queued gets complete with errors
 */
#ifndef FG_SERVE_REDIS_H
#define FG_SERVE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Error statuses passed to a get callback (core/err.h codes under this module's names). */
#define FG_REDIS_EDOWN FG_EIO           /* breaker open, or the connection failed during the get */
#define FG_REDIS_ETIMEDOUT FG_ETIMEDOUT /* no reply within timeout_ms */
#define FG_REDIS_EPROTO FG_EFORMAT      /* the reply had the wrong type (an -ERR reply included) */
#define FG_REDIS_EFULL FG_EFULL         /* max_pending operations or bytes already queued */
#define FG_REDIS_ESTOPPED FG_ESTOPPED   /* fg_redis_free was called */

#define FG_REDIS_KEY_BYTES 32

typedef struct fg_redis fg_redis;

/* Options. Zero fields take the defaults in their comments; strings are copied by fg_redis_new. */
typedef struct fg_redis_opts {
    const char *url;          /* redis://[[user]:password@]host[:port][/db]; default port 6379, db 0; [v6
                                 addr] allowed; user and password percent-decoded. Without a password in
                                 the URL, the environment's FRUGAL_REDIS_PASSWORD (and FRUGAL_REDIS_USER)
                                 is used, so it need not appear in the process list */
    const char *prefix;       /* key prefix including a format version, e.g. "frugal:v1:" (NULL = "") */
    unsigned ttl_s;           /* SET ... EX ttl_s; 0 = no expiry */
    unsigned timeout_ms;      /* connect and per-reply timeout (default 50) */
    size_t max_pending;       /* queued operations before new ones are refused (default 4096) */
    size_t max_pending_bytes; /* queued set value bytes before sets are dropped (default 64 MiB) */
} fg_redis_opts;

/* Counters since fg_redis_new, each read atomically (not all at the same instant). Once every get
 * has completed, gets == hits + misses + get_errors. */
typedef struct fg_redis_stats {
    uint64_t gets, hits, misses, get_errors; /* fg_redis_get calls and how they completed */
    uint64_t sets, sets_stored;              /* fg_redis_set calls; sets Redis answered +OK */
    uint64_t dropped;          /* operations refused without trying (breaker open, queue full, stopping) */
    uint64_t err_connect;      /* failed connection attempts and connections lost mid-pipeline */
    uint64_t err_timeout;      /* pipelines cut by a reply timeout */
    uint64_t err_protocol;     /* replies of the wrong type */
    uint64_t breaker_opens;    /* closed -> open transitions (including a failed first connection) */
    uint64_t reconnects;       /* open -> closed transitions */
    uint64_t pending;          /* operations queued now */
    int connected;             /* 1: connected, breaker closed; 0: down, or the first connection pending */
} fg_redis_stats;

/* Get completion: status 1 = hit (val, len valid only during the call: copy what you keep), 0 = miss,
 * < 0 = an FG_REDIS_E* error (treat it as a miss). Called exactly once per fg_redis_get. */
typedef void (*fg_redis_get_cb)(void *ctx, int status, const void *val, size_t len);

/* Parses the options and starts the I/O thread, which connects in the background. Returns NULL with
 * e filled (FG_EINVAL naming the problem) for bad options; never fails because Redis is unreachable.
 * The caller owns o and its strings (copied). */
fg_redis *fg_redis_new(const fg_redis_opts *o, fg_err *e);

/* Looks key up; cb(ctx, ...) is called exactly once, later from the I/O thread or at once from this
 * thread when refused. Never blocks beyond a short mutex. key is copied; ctx is the caller's. */
void fg_redis_get(fg_redis *r, const uint8_t key[FG_REDIS_KEY_BYTES], fg_redis_get_cb cb, void *ctx);

/* Stores val (len bytes, copied; the caller keeps its buffer) under key with the configured TTL. Fire
 * and forget: no result; dropped (counted) when the breaker is open or the queue is full. */
void fg_redis_set(fg_redis *r, const uint8_t key[FG_REDIS_KEY_BYTES], const void *val, size_t len);

/* Copies the counters into s (the caller's struct). Safe from any thread. */
void fg_redis_stats_get(fg_redis *r, fg_redis_stats *s);

/* Stops and joins the I/O thread, completes every queued get with FG_REDIS_ESTOPPED (queued sets are
 * dropped), closes the connection and frees r. No other call on r may race with or follow it.
 * r may be NULL. */
void fg_redis_free(fg_redis *r);

/* Tests only: parses url into host (hostcap bytes), port and db without connecting. Returns 0 or
 * FG_EINVAL with e naming the problem. */
int fg_redis_parse_url(const char *url, char *host, size_t hostcap, int *port, int *db, fg_err *e);

/* Tests only: the user and password of url (percent-decoded; both "" when absent), each at most
 * FG_REDIS_CRED_MAX - 1 bytes. Returns 0 or FG_EINVAL with e naming the problem (never the password). */
#define FG_REDIS_CRED_MAX 256
int fg_redis_parse_credentials(const char *url, char *user, char *password, fg_err *e);

#endif
