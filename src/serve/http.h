/* http.h - HTTP/1.1 request parser and response writer for frugal's own server (RFC 9110/9112 subset).
 *
 * Overview
 *   Parsing is zero-copy and allocation-free: the request head is parsed in the caller's receive buffer
 *   and described by (ptr, len) slices into it; a chunked body is decoded in place in that same buffer.
 *   The parser is strict on purpose: anything a front end (nginx, a load balancer) could frame
 *   differently from us is a 400 that closes the connection, so no request can be smuggled past it.
 *   Every rejection carries the HTTP status to send (400, 413, 414, 431, 501, 505) and a short static
 *   reason for the log and the JSON error body.
 *
 * Usage (one connection; buf holds the bytes read so far, len of them; nothing here does I/O)
 *   fg_http_request req;
 *   fg_http_request_reset(&req);                       // before the first byte of each request
 *   int rc = fg_http_parse_head(&req, buf, len, &limits); // again after every read, same bytes + more
 *   if (rc == 0) read more;
 *   if (rc < 0) send fg_http_write_error(..., req.status, req.error, ...), then close;
 *   // rc == 1: head is buf[0, req.head_len); if req.expect_continue, send FG_HTTP_100_CONTINUE first
 *   body: req.chunked ? fg_http_chunked_decode(&ch, buf + req.head_len, len - req.head_len, &limits)
 *                     : req.content_length bytes (0 when -1) after the head;
 *   answer with fg_http_write_head + body; if !req.keep_alive close after writing; otherwise the next
 *   pipelined request starts right after this one's body (head_len + body bytes consumed).
 *
 * Decisions (strictness, each one a smuggling or framing ambiguity closed off)
 *   - Lines end in CRLF only: a bare LF or bare CR anywhere in the head, a chunk line or a trailer is 400.
 *   - Duplicate Content-Length is 400 even when the values agree (also "5, 5" in one line).
 *   - Content-Length must be 1*DIGIT; a value over the body limit (however many digits) is 413.
 *   - Content-Length together with Transfer-Encoding: 400. Transfer-Encoding in an HTTP/1.0 request: 400.
 *   - Transfer-Encoding whose final coding is not "chunked", or chunked applied twice: 400 (RFC 9112
 *     6.3: the body length cannot be determined). Other codings before a final chunked ("gzip, chunked"):
 *     501, since the framing is sound but frugal does not implement the coding (RFC 9112 6.1).
 *   - obs-fold, whitespace before the colon, non-token bytes in method or field names, control bytes in
 *     field values: 400. HTTP versions other than 1.0 and 1.1 (well-formed "HTTP/d.d"): 505.
 *   - HTTP/1.1 without Host, or any request with two Host lines: 400 (RFC 9112 3.2).
 *   - Empty lines before the request line are skipped (RFC 9112 2.2), counted in the request-line limit.
 *   - A chunk size of more than 16 hex digits (leading zeros included) is 400, whatever its value: a
 *     peer that wraps around at 64 bits would frame the body differently. A size over the body limit: 413.
 */
#ifndef FG_SERVE_HTTP_H
#define FG_SERVE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/err.h"

/* Capacity of fg_http_request.headers; limits.max_headers is clamped to it. */
#define FG_HTTP_MAX_HEADERS 64

/* The interim response to send when a request carries Expect: 100-continue and the server wants the body. */
#define FG_HTTP_100_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* Bytes of a formatted Date value ("Sun, 06 Nov 1994 08:49:37 GMT") plus the NUL. */
#define FG_HTTP_DATE_SIZE 30

/* A byte range in someone else's buffer; not NUL-terminated. */
typedef struct fg_http_slice {
    const char *ptr;
    size_t len;
} fg_http_slice;

typedef struct fg_http_header {
    fg_http_slice name;  /* as sent (compare case-insensitively) */
    fg_http_slice value; /* leading and trailing whitespace removed */
} fg_http_header;

/* Hard limits; each one, when exceeded, rejects the request with the status named. max_header_bytes
 * also bounds a chunked body's trailer section (431) and its chunk extensions, all chunks together (413). */
typedef struct fg_http_limits {
    size_t max_request_line; /* bytes of "METHOD SP target SP HTTP/1.1", CRLF excluded: 414 */
    size_t max_header_bytes; /* bytes of the field lines with their CRLFs and the final CRLF: 431 */
    size_t max_headers;      /* field lines (and trailer lines): 431; at most FG_HTTP_MAX_HEADERS */
    uint64_t max_body_bytes; /* Content-Length, or the decoded size of a chunked body: 413 */
} fg_http_limits;

/* Defaults: 8 KiB request line, 16 KiB of header fields, 64 fields, 64 MiB body. */
#define FG_HTTP_LIMITS_DEFAULT                                                                               \
    ((fg_http_limits){.max_request_line = 8192,                                                              \
                      .max_header_bytes = 16384,                                                             \
                      .max_headers = FG_HTTP_MAX_HEADERS,                                                    \
                      .max_body_bytes = 64u << 20})

/* Methods the server tells apart; anything else is FG_HTTP_OTHER (method slice has the name). A server
 * answers an unknown method with 501 and a known one the resource does not allow with 405. Append-only. */
typedef enum fg_http_method {
    FG_HTTP_OTHER = 0,
    FG_HTTP_GET,
    FG_HTTP_HEAD,
    FG_HTTP_POST,
    FG_HTTP_PUT,
    FG_HTTP_DELETE,
    FG_HTTP_OPTIONS,
} fg_http_method;

/* One parsed request head. Slices point into the buffer given to fg_http_parse_head and are valid as
 * long as those bytes stay where they are. Fields other than head_len, status and error are only
 * meaningful after the parse returned 1. */
typedef struct fg_http_request {
    fg_http_method method_id;
    fg_http_slice method;
    fg_http_slice target; /* the whole request-target */
    fg_http_slice path;   /* origin-form: up to '?'; absolute-form: the path after the authority (may be
                           * empty, meaning "/"); "*" for OPTIONS * */
    fg_http_slice query;  /* after '?', without it; empty (ptr NULL) when there is no '?' */
    int version_minor;    /* 0 or 1 (HTTP/1.0, HTTP/1.1) */
    fg_http_header headers[FG_HTTP_MAX_HEADERS];
    size_t n_headers;
    int64_t content_length; /* -1 when absent (then the request has no body unless chunked) */
    bool chunked;           /* Transfer-Encoding: chunked; decode with fg_http_chunked_decode */
    bool keep_alive;        /* the connection may carry another request after the response */
    bool expect_continue;   /* HTTP/1.1 Expect: 100-continue: send FG_HTTP_100_CONTINUE for the body */
    size_t head_len;        /* bytes of the head, final CRLF included: the body starts at buf + head_len */
    int status;             /* on error: the HTTP status to answer with */
    const char *error;      /* on error: static, human-readable reason */
    /* scan state between calls; fg_http_request_reset clears it */
    size_t scan_off_;   /* bytes already checked for line ends */
    size_t line_off_;   /* start of the line being scanned */
    size_t fields_off_; /* start of the field section (0 while still in the request line) */
    size_t n_lines_;    /* field lines seen */
} fg_http_request;

/* Decoder state for one chunked body; reset with fg_http_chunked_reset before each body. */
typedef struct fg_http_chunked {
    size_t consumed; /* encoded bytes used so far, from the start of the body */
    size_t body_len; /* decoded bytes so far, stored at the start of the body (in place) */
    int status;      /* on error: the HTTP status to answer with */
    const char *error;
    /* private */
    int state_;
    uint64_t chunk_left_; /* data bytes still due in the current chunk */
    size_t n_digits_;     /* hex digits in the current size line */
    size_t meta_bytes_;   /* chunk-extension bytes over the whole body */
    size_t trailer_bytes_;
    size_t n_trailers_;
} fg_http_chunked;

/* What fg_http_write_head writes. */
typedef struct fg_http_response {
    int status;               /* 100..599; the reason phrase comes from fg_http_reason (empty if unknown) */
    const char *content_type; /* NUL-terminated; NULL writes no Content-Type */
    uint64_t content_length;  /* always written, except for 1xx and 204 (RFC 9110 8.6 forbids it there) */
    bool keep_alive;          /* false: "Connection: close" */
    bool http10;              /* HTTP/1.0 request: keep_alive then writes "Connection: keep-alive" */
    const fg_http_header *extra; /* more fields (Date, Retry-After, ...), checked for CR/LF injection */
    size_t n_extra;
} fg_http_response;

/* Prepares req for the first bytes of a new request (clears scan state and results). */
void fg_http_request_reset(fg_http_request *req);

/* Parses the request head at the start of buf[0, len). Call again after every read with the same bytes
 * plus whatever arrived (the buffer may have moved; its content must not change); already-scanned bytes
 * are not rescanned. lim NULL means FG_HTTP_LIMITS_DEFAULT. Returns 1 when the head is complete (req
 * filled, req->head_len set; bytes past it are the body or the next request and are not looked at), 0
 * when more bytes are needed, or FG_EINVAL (malformed, too large, smuggling risk) / FG_EUNSUPPORTED
 * (501, 505) with req->status and req->error set and req->keep_alive false: answer, then close.
 * Nothing is allocated; req's slices point into buf, which the caller owns. */
int fg_http_parse_head(fg_http_request *req, const char *buf, size_t len, const fg_http_limits *lim);

/* Returns the value of the first header named name (NUL-terminated, compared case-insensitively) in a
 * parsed req, or NULL. The slice points into the caller's buffer. */
const fg_http_slice *fg_http_header_get(const fg_http_request *req, const char *name);

/* Prepares c for a new chunked body. */
void fg_http_chunked_reset(fg_http_chunked *c);

/* Decodes a chunked body in place. buf is where the body starts (right after the head) and len the bytes
 * buffered from there; call again after every read with the same start and more bytes. Decoded data is
 * moved to buf[0, c->body_len), overwriting the encoding already consumed (c->consumed >= c->body_len
 * always). Chunk extensions and trailer fields are checked and dropped. Returns 1 when the last chunk and
 * trailers are done: the encoded body was buf[0, c->consumed) and the next pipelined request starts at
 * buf + c->consumed; 0 when more bytes are needed (every byte of buf[0, len) was used: c->consumed == len,
 * a partial chunk line lives on in c's state); FG_EINVAL with c->status (400, 413, 431) and c->error
 * set: answer, then close. lim NULL means defaults. No allocation; the caller owns buf. */
int fg_http_chunked_decode(fg_http_chunked *c, char *buf, size_t len, const fg_http_limits *lim);

/* Returns the reason phrase for status ("Not Found"), or "" for a status frugal does not name. Static. */
const char *fg_http_reason(int status);

/* Writes the status line and header section of r (ending with the empty line) into buf[0, cap) and sets
 * *out_len. Returns 0, or FG_EINVAL when the status is out of range, an extra field has a bad name or a
 * value with control bytes, or cap is too small (buf then holds no usable response). Caller owns buf. */
int fg_http_write_head(char *buf, size_t cap, const fg_http_response *r, size_t *out_len);

/* Writes the JSON body {"error": "<msg>"} into buf[0, cap), escaping msg[0, msg_len) as a JSON string
 * (quotes, backslashes, control bytes; invalid UTF-8 becomes U+FFFD), and sets *out_len. Returns 0, or
 * FG_EINVAL when cap is too small. Caller owns buf. */
int fg_http_json_error(char *buf, size_t cap, const char *msg, size_t msg_len, size_t *out_len);

/* Writes a whole error response, head and JSON body ({"error": msg}, Content-Type: application/json),
 * into buf[0, cap) and sets *out_len. msg is NUL-terminated. Returns 0 or FG_EINVAL (cap too small,
 * bad status). Caller owns buf. */
int fg_http_write_error(char *buf, size_t cap, int status, const char *msg, bool keep_alive, size_t *out_len);

/* Formats t as an IMF-fixdate Date value ("Sun, 06 Nov 1994 08:49:37 GMT") into out (NUL-terminated).
 * The server formats it once a second and passes it as an extra field. */
void fg_http_format_date(time_t t, char out[FG_HTTP_DATE_SIZE]);

#endif
