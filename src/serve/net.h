/* net.h - frugal's HTTP/1.1 transport: epoll event loops, connections, timeouts (no routes).
 *
 * Overview
 *   fg_net_start opens n_loops event-loop threads. Each has its own epoll instance and its own
 *   SO_REUSEPORT listening socket on host:port, so the kernel spreads connections over the loops and a
 *   connection lives on one loop for its whole life. Sockets are non-blocking with TCP_NODELAY;
 *   connections are kept alive, and pipelined requests are answered strictly in order: a connection
 *   works on one request at a time, and bytes of later requests stay buffered until the earlier
 *   response has been written. Request heads and bodies (Content-Length or chunked) are parsed by http.c
 *   with the configured limits; a rejected request gets http.c's status and the connection is closed.
 *   Expect: 100-continue is answered before the body is read. A connection that does not send a
 *   complete head within header_timeout_ms of its first byte (or of being accepted), that stalls for
 *   header_timeout_ms while sending a body or reading a response, or that sits idle between requests for
 *   idle_timeout_ms is closed: slow clients cannot hold connections. A request in the handler has no
 *   deadline here (the scheduler owns request deadlines). A connection buffers at most about twice
 *   max_body_bytes of encoded body (chunked framing included: tiny chunks of a large body get 413), and
 *   a connection closed after an error reads and drops what the client still sends (up to 256 KiB, or
 *   header_timeout_ms) so the answer is not lost to a reset. Over max_conns, new connections are closed
 *   at accept (logged once until the count drops).
 *
 * Usage
 *   static void handle(void *user, const fg_net_request *req, fg_net_resp *resp) {
 *       fg_net_respond(resp, 200, "text/plain", NULL, 0, req->path.ptr, req->path.len);
 *   }
 *   fg_net_config cfg = {.host = "127.0.0.1", .port = 8000};
 *   fg_net_server *srv;
 *   if (fg_net_start(&cfg, handle, NULL, &srv) == 0) { ...; fg_net_stop(srv); }
 *
 * The response rule (read this before writing a handler)
 *   The loop calls handler_cb with a request view and a response handle. The handler answers either
 *   before it returns or later from any thread, with fg_net_respond, exactly once per handle. Until
 *   then the handle and the request view (its slices point into the connection's buffer) stay valid,
 *   even if the client goes away meanwhile: the response is then dropped safely. After fg_net_respond
 *   returns, neither may be touched again. A handle that is never answered keeps its connection (and
 *   the later pipelined requests on it) waiting until fg_net_stop. fg_net_stop waits up to
 *   stop_timeout_ms for outstanding handles; a handle answered after that (even after fg_net_stop
 *   returned) is still safe to answer and is freed without effect, but its request view is gone once
 *   fg_net_stop has returned.
 */
#ifndef FG_SERVE_NET_H
#define FG_SERVE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/http.h"

/* Server settings. Zero-initialise and set what you need: every zero field takes its default. */
typedef struct fg_net_config {
    const char *host;      /* numeric address or name to bind; NULL means "0.0.0.0" */
    uint16_t port;         /* 0: the kernel picks a free port, see fg_net_port */
    int n_loops;           /* event-loop threads; 0: one per online CPU */
    int max_conns;         /* open connections, all loops together; more are closed at accept (10000) */
    int backlog;           /* listen() backlog per loop (511) */
    int header_timeout_ms; /* complete head / body or write progress deadline (10000) */
    int idle_timeout_ms;   /* keep-alive connection with no request in progress (60000) */
    int stop_timeout_ms;   /* how long fg_net_stop lets in-flight responses finish (5000) */
    fg_http_limits limits; /* all zero: FG_HTTP_LIMITS_DEFAULT; otherwise zero fields take the default */
} fg_net_config;

/* One request as the handler sees it. Slices point into the connection's buffer (not NUL-terminated)
 * and stay valid until the handle is answered (see the response rule above). */
typedef struct fg_net_request {
    fg_http_method method_id;
    fg_http_slice method;
    fg_http_slice target; /* whole request-target */
    fg_http_slice path;
    fg_http_slice query; /* after '?', ptr NULL when none */
    int version_minor;   /* 0 or 1 */
    const fg_http_header *headers;
    size_t n_headers;
    const char *body; /* Content-Length or decoded chunked body; NULL when body_len is 0 */
    size_t body_len;
    int loop_index; /* which loop thread runs this connection, 0..n_loops-1 */
    const char *peer;   /* "address:port" of the client, NUL-terminated, valid as the slices */
    bool peer_loopback; /* the client connects from 127.0.0.0/8 or ::1 (management is allowed) */
} fg_net_request;

typedef struct fg_net_server fg_net_server;
/* Response handle: one per request; answered exactly once with fg_net_respond. */
typedef struct fg_net_resp fg_net_resp;

/* Called on the connection's loop thread for every complete request. It must not block; long work goes
 * to another thread, which answers through fg_net_respond. req is only borrowed (see the rule above). */
typedef void (*fg_net_handler_cb)(void *user, const fg_net_request *req, fg_net_resp *resp);

/* Binds the listening sockets and starts the loop threads. cfg is copied (host too). On success returns
 * 0 and sets *out, which the caller stops and frees with fg_net_stop. Returns FG_EINVAL for a bad config
 * or an unresolvable host, FG_EIO when a socket cannot be created, bound or listened on (address in use),
 * FG_EINTERNAL when a thread or epoll instance cannot be created; each failure is logged once with the
 * address and the system's reason, and nothing is left open. */
int fg_net_start(const fg_net_config *cfg, fg_net_handler_cb handler_cb, void *user, fg_net_server **out);

/* Returns the port the server listens on (the kernel's pick when cfg.port was 0). */
uint16_t fg_net_port(const fg_net_server *s);

/* Returns the number of loop threads. */
int fg_net_n_loops(const fg_net_server *s);

/* Answers the request of handle h: status (100 is not allowed: use 200..599), content_type (NUL-terminated,
 * NULL for none), n_extra extra header fields (copied; Content-Length and Connection are written by the
 * server and must not be among them), and body[0, len), which is copied (the caller keeps ownership).
 * Callable from the handler or from any other thread, exactly once per handle; h is invalid afterwards.
 * The response is queued to the connection's loop, which writes it; if the connection has closed
 * meanwhile, or the server has stopped, it is dropped. For a HEAD request the body is not sent.
 * Returns 0; FG_EINVAL when the status or an extra field is invalid (a 500 is sent instead); FG_ENOMEM
 * when the response cannot be allocated (a 503 is sent instead and the connection closed). In every case
 * the handle has been consumed. */
int fg_net_respond(fg_net_resp *h, int status, const char *content_type, const fg_http_header *extra,
                   size_t n_extra, const void *body, size_t len);

/* Stops the server: closes the listening sockets, closes idle connections, lets responses in flight be
 * written for up to stop_timeout_ms (connections are closed after their current response), then closes
 * everything, joins the loop threads and frees s. NULL is a no-op. Call it from a thread that is not one
 * of the server's loops (never from a handler). */
void fg_net_stop(fg_net_server *s);

#endif
