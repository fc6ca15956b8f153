/* http.c - HTTP/1.1 request head parser, in-place chunked body decoder and response writer (http.h).
 * Runs on event-loop threads: no allocation, no locale, no blocking, and every loop is bounded by the
 * bytes given or by the limits. The head parser scans for line ends incrementally (each byte once over
 * a slow sender's many reads) and validates the whole head in one pass once its final CRLF is in. */
#include "serve/http.h"

#include <assert.h>
#include <string.h>

/* ---- character classes ---------------------------------------------------------------------------- */

enum { C_TOKEN = 1, C_VALUE = 2, C_TARGET = 4, C_HOST = 8 };

/* The byte classes, written as the RFC grammar and evaluated at compile time into one table (a lookup per
 * byte keeps the parser fast; a constant table needs no initialisation race between loop threads).
 *   tchar (RFC 9110 5.6.2); field-vchar, SP, HTAB (5.5); request-target bytes: VCHAR (the URI grammar
 *   is the router's business); Host bytes: uri-host [":" port] with IP literals (RFC 3986). */
#define IS_ALNUM(c) (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_TCHAR(c)                                                                                          \
    (IS_ALNUM(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' || (c) == '&' || (c) == '\'' ||     \
     (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' || (c) == '_' || (c) == '`' ||       \
     (c) == '|' || (c) == '~')
#define IS_VCHAR(c) ((c) >= 0x21 && (c) <= 0x7e)
#define IS_FIELD(c) (IS_VCHAR(c) || (c) >= 0x80 || (c) == ' ' || (c) == '\t')
#define IS_HOST(c)                                                                                           \
    (IS_ALNUM(c) || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' || (c) == '!' || (c) == '$' ||      \
     (c) == '&' || (c) == '\'' || (c) == '(' || (c) == ')' || (c) == '*' || (c) == '+' || (c) == ',' ||      \
     (c) == ';' || (c) == '=' || (c) == '%' || (c) == ':' || (c) == '[' || (c) == ']')
#define CLS(c)                                                                                               \
    (unsigned char)((IS_TCHAR(c) ? C_TOKEN : 0) | (IS_FIELD(c) ? C_VALUE : 0) |                              \
                    (IS_VCHAR(c) ? C_TARGET : 0) | (IS_HOST(c) ? C_HOST : 0))
#define CLS4(c) CLS(c), CLS((c) + 1), CLS((c) + 2), CLS((c) + 3)
#define CLS16(c) CLS4(c), CLS4((c) + 4), CLS4((c) + 8), CLS4((c) + 12)
#define CLS64(c) CLS16(c), CLS16((c) + 16), CLS16((c) + 32), CLS16((c) + 48)
static const unsigned char cls[256] = {CLS64(0), CLS64(64), CLS64(128), CLS64(192)};

static inline bool is_class(unsigned char c, int k) {
    return cls[c] & k;
}

/* Word-at-a-time scanning for the two long runs in a head, field values and request targets: eight
 * bytes are tested at once (has_less is exact about whether some byte is below n, for n <= 128), and
 * any word with a suspect byte is finished byte by byte against the table. */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load8(const char *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static inline uint64_t has_less(uint64_t x, unsigned n) {
    return (x - ONES * n) & ~x & HIGHS;
}

/* Returns the first byte in [p, end) that is not of class k (or end). */
static const char *skip_run(const char *p, const char *end, int k) {
    for (;;) {
        while (end - p >= 8) {
            uint64_t x = load8(p);
            /* values: no byte < 0x20 or 0x7f (obs-text passes); targets: 0x21..0x7e only */
            uint64_t bad = k == C_VALUE ? has_less(x, 0x20) | has_less(x ^ (ONES * 0x7f), 1)
                                        : has_less(x, 0x21) | has_less(x ^ (ONES * 0x7f), 1) | (x & HIGHS);
            if (bad)
                break;
            p += 8;
        }
        const char *stop = end - p > 8 ? p + 8 : end;
        while (p < stop && is_class((unsigned char)*p, k))
            p++;
        if (p < stop || p == end)
            return p;
    }
}

static inline unsigned char lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* s[0, n) equals the lowercase literal lit, ignoring ASCII case. */
static bool eq_lit(const char *s, size_t n, const char *lit) {
    size_t i = 0;
    for (; i < n && lit[i]; i++)
        if (lower((unsigned char)s[i]) != (unsigned char)lit[i])
            return false;
    return i == n && !lit[i];
}

static inline bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

/* Trims OWS from both ends of s[0, *n), returning the new start. */
static inline const char *trim(const char *s, size_t *n) {
    size_t b = 0, e = *n;
    while (b < e && is_ows(s[b]))
        b++;
    while (e > b && is_ows(s[e - 1]))
        e--;
    *n = e - b;
    return s + b;
}

/* Calls fn on each non-empty element of the comma-separated list s[0, n), trimmed (RFC 9110 5.6.1: empty
 * elements are allowed and ignored). */
typedef void list_cb(const char *elem, size_t len, void *arg);
static void each_element(const char *s, size_t n, list_cb *fn, void *arg) {
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        size_t len = j - i;
        const char *e = trim(s + i, &len);
        if (len)
            fn(e, len, arg);
        i = j + 1;
    }
}

static fg_http_limits effective_limits(const fg_http_limits *lim) {
    fg_http_limits l = lim ? *lim : FG_HTTP_LIMITS_DEFAULT;
    if (l.max_headers > FG_HTTP_MAX_HEADERS)
        l.max_headers = FG_HTTP_MAX_HEADERS;
    return l;
}

/* ---- request head --------------------------------------------------------------------------------- */

void fg_http_request_reset(fg_http_request *req) {
    /* only the scalars: clearing the 2 KiB header array for every request would be wasted work */
    req->method_id = FG_HTTP_OTHER;
    req->method = req->target = req->path = req->query = (fg_http_slice){0};
    req->version_minor = 0;
    req->n_headers = 0;
    req->content_length = -1;
    req->chunked = req->keep_alive = req->expect_continue = false;
    req->head_len = 0;
    req->status = 0;
    req->error = NULL;
    req->scan_off_ = req->line_off_ = req->fields_off_ = req->n_lines_ = 0;
}

static int fail(fg_http_request *req, int status, const char *why) {
    req->status = status;
    req->error = why;
    req->keep_alive = false;
    req->expect_continue = false;
    return status == 501 || status == 505 ? FG_EUNSUPPORTED : FG_EINVAL;
}

static fg_http_method method_of(const char *m, size_t n) {
    /* methods are case-sensitive (RFC 9110 9.1) */
    switch (n) {
    case 3:
        return !memcmp(m, "GET", 3) ? FG_HTTP_GET : !memcmp(m, "PUT", 3) ? FG_HTTP_PUT : FG_HTTP_OTHER;
    case 4:
        return !memcmp(m, "HEAD", 4) ? FG_HTTP_HEAD : !memcmp(m, "POST", 4) ? FG_HTTP_POST : FG_HTTP_OTHER;
    case 6:
        return !memcmp(m, "DELETE", 6) ? FG_HTTP_DELETE : FG_HTTP_OTHER;
    case 7:
        return !memcmp(m, "OPTIONS", 7) ? FG_HTTP_OPTIONS : FG_HTTP_OTHER;
    default:
        return FG_HTTP_OTHER;
    }
}

/* Splits the request-target into path and query by its form (RFC 9112 3.2). */
static int parse_target(fg_http_request *req) {
    const char *t = req->target.ptr, *end = t + req->target.len;
    const char *p;
    if (t[0] == '/') {
        p = t;
    } else if (req->target.len == 1 && t[0] == '*') {
        if (req->method_id != FG_HTTP_OPTIONS)
            return fail(req, 400, "asterisk-form target is only allowed with OPTIONS");
        req->path = req->target;
        return 0;
    } else {
        /* absolute-form, which a server must accept (RFC 9112 3.2.2); authority-form (CONNECT) and
         * anything else is not a request frugal can answer */
        size_t skip = 0;
        if (req->target.len > 7 && eq_lit(t, 7, "http://"))
            skip = 7;
        else if (req->target.len > 8 && eq_lit(t, 8, "https://"))
            skip = 8;
        else
            return fail(req, 400, "request target must be a path or an absolute http(s) URI");
        const char *a = t + skip;
        p = a;
        while (p < end && *p != '/' && *p != '?')
            p++;
        if (p == a)
            return fail(req, 400, "absolute request target without authority");
    }
    const char *q = memchr(p, '?', (size_t)(end - p));
    req->path = (fg_http_slice){p, (size_t)((q ? q : end) - p)};
    if (q)
        req->query = (fg_http_slice){q + 1, (size_t)(end - q - 1)};
    return 0;
}

/* request-line = method SP request-target SP HTTP-version, single spaces only (RFC 9112 3). */
static int parse_request_line(fg_http_request *req, const char *s, const char *e) {
    const char *p = s;
    while (p < e && is_class((unsigned char)*p, C_TOKEN))
        p++;
    if (p == s)
        return fail(req, 400, "request line does not start with a method");
    if (p == e || *p != ' ')
        return fail(req, 400, "invalid character in method");
    req->method = (fg_http_slice){s, (size_t)(p - s)};
    req->method_id = method_of(s, (size_t)(p - s));
    const char *t = ++p;
    p = skip_run(p, e, C_TARGET);
    if (p == t)
        return fail(req, 400, "empty request target");
    if (p == e)
        return fail(req, 400, "request line has no HTTP version");
    if (*p != ' ')
        return fail(req, 400, "invalid character in request target");
    req->target = (fg_http_slice){t, (size_t)(p - t)};
    const char *v = ++p;
    /* HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3) */
    if (e - v != 8 || memcmp(v, "HTTP/", 5) || v[5] < '0' || v[5] > '9' || v[6] != '.' || v[7] < '0' ||
        v[7] > '9')
        return fail(req, 400, "malformed HTTP version");
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return fail(req, 505, "HTTP version not supported (only 1.0 and 1.1)");
    req->version_minor = v[7] - '0';
    return parse_target(req);
}

/* What the framing and connection fields said, gathered over all field lines. */
typedef struct fields {
    int n_host;
    int n_cl;
    bool cl_overflow;
    uint64_t cl;
    int n_te_lines;
    int n_codings, n_chunked;
    bool chunked_last;
    bool conn_close, conn_keep_alive;
    bool expect_100;
} fields;

static void te_elem(const char *e, size_t n, void *arg) {
    fields *f = arg;
    f->n_codings++;
    f->chunked_last = eq_lit(e, n, "chunked");
    f->n_chunked += f->chunked_last;
}

static void conn_elem(const char *e, size_t n, void *arg) {
    fields *f = arg;
    if (eq_lit(e, n, "close"))
        f->conn_close = true;
    else if (eq_lit(e, n, "keep-alive"))
        f->conn_keep_alive = true;
}

static int note_field(fg_http_request *req, fields *f, const fg_http_header *h) {
    const char *n = h->name.ptr, *v = h->value.ptr;
    size_t nl = h->name.len, vl = h->value.len;
    switch (nl) {
    case 4:
        if (eq_lit(n, 4, "host")) {
            f->n_host++;
            for (size_t i = 0; i < vl; i++)
                if (!is_class((unsigned char)v[i], C_HOST))
                    return fail(req, 400, "invalid Host");
        }
        break;
    case 6:
        if (eq_lit(n, 6, "expect") && eq_lit(v, vl, "100-continue"))
            f->expect_100 = true;
        break;
    case 10:
        if (eq_lit(n, 10, "connection"))
            each_element(v, vl, conn_elem, f);
        break;
    case 14:
        if (eq_lit(n, 14, "content-length")) {
            /* any second Content-Length is refused, equal or not: two framings of one message are what
             * smuggling is made of, and no honest client sends them */
            if (++f->n_cl > 1)
                return fail(req, 400, "more than one Content-Length");
            if (vl == 0)
                return fail(req, 400, "Content-Length is not a decimal number");
            uint64_t x = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return fail(req, 400, "Content-Length is not a decimal number");
                if (x > (UINT64_MAX - 9) / 10)
                    f->cl_overflow = true; /* still a number, just a huge one: 413 below */
                else
                    x = x * 10 + (uint64_t)(v[i] - '0');
            }
            f->cl = x;
        }
        break;
    case 17:
        if (eq_lit(n, 17, "transfer-encoding")) {
            f->n_te_lines++;
            each_element(v, vl, te_elem, f);
        }
        break;
    }
    return 0;
}

/* Validates the complete head buf[0, req->head_len) and fills req. The scan already guaranteed that every
 * line ends in CRLF and that the limits hold. */
static int parse_complete(fg_http_request *req, const char *buf, const fg_http_limits *lim) {
    const char *s = buf;
    while (s[0] == '\r' && s[1] == '\n') /* skipped empty lines before the request line */
        s += 2;
    const char *line_end = buf + req->fields_off_ - 2;
    int rc = parse_request_line(req, s, line_end);
    if (rc < 0)
        return rc;

    fields f = {0};
    const char *end = buf + req->head_len - 2; /* the final empty line's CR */
    req->n_headers = 0;
    for (const char *p = buf + req->fields_off_; p < end;) {
        if (is_ows(*p))
            return fail(req, 400, "obsolete line folding in header");
        const char *name = p;
        while (is_class((unsigned char)*p, C_TOKEN))
            p++;
        if (*p != ':') {
            if (is_ows(*p))
                return fail(req, 400, "whitespace between header name and colon");
            return fail(req, 400, "invalid character in header name");
        }
        if (p == name)
            return fail(req, 400, "empty header name");
        size_t name_len = (size_t)(p - name);
        p++;
        const char *v = p;
        p = skip_run(p, end + 2, C_VALUE);
        /* the scan stops at this line's CR; stopping anywhere else means a control byte (a bare CR
         * included, which some parsers take as a line end) */
        if (p[0] != '\r' || p[1] != '\n')
            return fail(req, 400, "invalid character in header value");
        size_t vl = (size_t)(p - v);
        v = trim(v, &vl);
        assert(req->n_headers < lim->max_headers);
        fg_http_header *h = &req->headers[req->n_headers++];
        h->name = (fg_http_slice){name, name_len};
        h->value = (fg_http_slice){v, vl};
        if ((rc = note_field(req, &f, h)) < 0)
            return rc;
        p += 2;
    }

    if (f.n_host > 1)
        return fail(req, 400, "more than one Host");
    if (f.n_host == 0 && req->version_minor == 1)
        return fail(req, 400, "HTTP/1.1 request without Host");
    if (f.n_te_lines) {
        if (req->version_minor == 0)
            return fail(req, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (f.n_cl)
            return fail(req, 400, "both Content-Length and Transfer-Encoding");
        if (!f.chunked_last)
            return fail(req, 400, "Transfer-Encoding does not end in chunked");
        if (f.n_chunked > 1)
            return fail(req, 400, "chunked applied more than once");
        if (f.n_codings > 1)
            return fail(req, 501, "transfer coding not implemented (only chunked)");
        req->chunked = true;
    }
    if (f.n_cl) {
        if (f.cl_overflow || f.cl > lim->max_body_bytes)
            return fail(req, 413, "request body too large");
        req->content_length = (int64_t)f.cl;
    }
    req->keep_alive = !f.conn_close && (req->version_minor == 1 || f.conn_keep_alive);
    /* an HTTP/1.0 client cannot understand 100 Continue, so the expectation is ignored (RFC 9110 10.1.1) */
    req->expect_continue = f.expect_100 && req->version_minor == 1;
    return 1;
}

int fg_http_parse_head(fg_http_request *req, const char *buf, size_t len, const fg_http_limits *lim) {
    if (req->status)
        return fail(req, req->status, req->error);
    fg_http_limits l = effective_limits(lim);
    if (req->head_len)
        return parse_complete(req, buf, &l);
    assert(req->scan_off_ <= len);

    size_t i = req->scan_off_;
    for (;;) {
        const char *lf = i < len ? memchr(buf + i, '\n', len - i) : NULL;
        if (!lf)
            break;
        size_t pos = (size_t)(lf - buf);
        if (pos == 0 || buf[pos - 1] != '\r')
            return fail(req, 400, "line ends in a bare LF (CRLF required)");
        size_t line_len = pos - 1 - req->line_off_;
        i = pos + 1;
        if (!req->fields_off_) {
            /* the request line, possibly after empty lines, which count towards its limit */
            if (pos - 1 > l.max_request_line)
                return fail(req, 414, "request line too long");
            if (line_len)
                req->fields_off_ = i;
        } else {
            if (i - req->fields_off_ > l.max_header_bytes)
                return fail(req, 431, "header section too large");
            if (line_len == 0) {
                req->head_len = i;
                req->scan_off_ = req->line_off_ = i;
                return parse_complete(req, buf, &l);
            }
            if (++req->n_lines_ > l.max_headers)
                return fail(req, 431, "too many header fields");
        }
        req->line_off_ = i;
    }
    req->scan_off_ = len;
    /* fail early on a line that can no longer fit, instead of buffering up to the limit and beyond */
    if (!req->fields_off_) {
        size_t n = len - (len && buf[len - 1] == '\r'); /* the CR of a CRLF still to come */
        if (n > l.max_request_line)
            return fail(req, 414, "request line too long");
    } else if (len - req->fields_off_ >= l.max_header_bytes) {
        return fail(req, 431, "header section too large"); /* at least one LF is still due */
    }
    return 0;
}

const fg_http_slice *fg_http_header_get(const fg_http_request *req, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const fg_http_header *h = &req->headers[i];
        if (h->name.len != n)
            continue;
        size_t k = 0;
        while (k < n && lower((unsigned char)h->name.ptr[k]) == lower((unsigned char)name[k]))
            k++;
        if (k == n)
            return &h->value;
    }
    return NULL;
}

/* ---- chunked body (RFC 9112 7.1) ------------------------------------------------------------------ */

enum {
    CH_SIZE,     /* hex digits of chunk-size */
    CH_EXT_BWS,  /* whitespace after the size: only ';' or more whitespace may follow */
    CH_EXT,      /* chunk-ext after ';', ignored up to CR */
    CH_SIZE_LF,  /* CR of the size line seen */
    CH_DATA,     /* chunk_left_ data bytes */
    CH_DATA_CR,  /* the CR that must follow the data */
    CH_DATA_LF,  /* and its LF */
    CH_TRAILER,  /* start of a trailer line, or of the final CRLF */
    CH_TR_NAME,  /* trailer field name */
    CH_TR_VALUE, /* trailer field value, up to CR */
    CH_TR_LF,    /* CR of a trailer line seen */
    CH_FINAL_LF, /* CR of the final empty line seen */
    CH_DONE,
    CH_FAILED,
};

void fg_http_chunked_reset(fg_http_chunked *c) {
    memset(c, 0, sizeof *c);
    c->state_ = CH_SIZE;
}

/* Records the failure; consumed is the bytes looked at, the offending one included, which keeps
 * body_len <= consumed true even then. */
static int ch_fail(fg_http_chunked *c, size_t consumed, int status, const char *why) {
    c->state_ = CH_FAILED;
    c->consumed = consumed;
    c->status = status;
    c->error = why;
    return FG_EINVAL;
}

static int hex_value(unsigned char ch) {
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = lower(ch);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

int fg_http_chunked_decode(fg_http_chunked *c, char *buf, size_t len, const fg_http_limits *lim) {
    if (c->state_ == CH_DONE)
        return 1;
    if (c->state_ == CH_FAILED)
        return FG_EINVAL;
    fg_http_limits l = effective_limits(lim);
    size_t i = c->consumed;
    assert(i <= len && c->body_len <= i);
    while (i < len) {
        if (c->state_ == CH_DATA) {
            /* the one bulk step: data moves down over the framing already consumed */
            size_t n = len - i;
            if (n > c->chunk_left_)
                n = (size_t)c->chunk_left_;
            memmove(buf + c->body_len, buf + i, n);
            c->body_len += n;
            c->chunk_left_ -= n;
            i += n;
            if (!c->chunk_left_)
                c->state_ = CH_DATA_CR;
            continue;
        }
        unsigned char ch = (unsigned char)buf[i++];
        switch (c->state_) {
        case CH_SIZE: {
            int d = hex_value(ch);
            if (d >= 0) {
                /* 16 digits fill 64 bits; more (leading zeros included) are refused rather than risk a
                 * peer that wraps around where we do not */
                if (c->n_digits_ == 16)
                    return ch_fail(c, i, 400, "chunk size too long");
                c->chunk_left_ = c->chunk_left_ << 4 | (uint64_t)d;
                c->n_digits_++;
                break;
            }
            if (!c->n_digits_)
                return ch_fail(c, i, 400, "chunk size is not a hex number");
            if (c->chunk_left_ > l.max_body_bytes - c->body_len)
                return ch_fail(c, i, 413, "request body too large");
            if (ch == '\r') {
                c->state_ = CH_SIZE_LF;
                break;
            }
            if (ch == ';')
                c->state_ = CH_EXT;
            else if (is_ows((char)ch))
                c->state_ = CH_EXT_BWS;
            else
                return ch_fail(c, i, 400, "invalid character after chunk size");
            /* extensions are ignored, but their bytes (from the first one after the size to the CR) are
             * bounded over the whole body, so tiny chunks with long extensions cannot keep us reading */
            if (++c->meta_bytes_ > l.max_header_bytes)
                return ch_fail(c, i, 413, "chunk extensions too large");
            break;
        }
        case CH_EXT_BWS:
            if (ch == ';')
                c->state_ = CH_EXT;
            else if (!is_ows((char)ch))
                return ch_fail(c, i, 400, "invalid character after chunk size");
            if (++c->meta_bytes_ > l.max_header_bytes)
                return ch_fail(c, i, 413, "chunk extensions too large");
            break;
        case CH_EXT:
            if (ch == '\r') {
                c->state_ = CH_SIZE_LF;
                break;
            }
            if (!is_class(ch, C_VALUE))
                return ch_fail(c, i, 400, "invalid character in chunk extension");
            if (++c->meta_bytes_ > l.max_header_bytes)
                return ch_fail(c, i, 413, "chunk extensions too large");
            break;
        case CH_SIZE_LF:
            if (ch != '\n')
                return ch_fail(c, i, 400, "chunk size line does not end in CRLF");
            c->n_digits_ = 0;
            c->state_ = c->chunk_left_ ? CH_DATA : CH_TRAILER;
            break;
        case CH_DATA_CR:
            if (ch != '\r')
                return ch_fail(c, i, 400, "chunk data not followed by CRLF");
            c->state_ = CH_DATA_LF;
            break;
        case CH_DATA_LF:
            if (ch != '\n')
                return ch_fail(c, i, 400, "chunk data not followed by CRLF");
            c->state_ = CH_SIZE;
            break;
        case CH_TRAILER:
            if (++c->trailer_bytes_ > l.max_header_bytes)
                return ch_fail(c, i, 431, "trailer section too large");
            if (ch == '\r') {
                c->state_ = CH_FINAL_LF;
            } else if (is_class(ch, C_TOKEN)) {
                if (++c->n_trailers_ > l.max_headers)
                    return ch_fail(c, i, 431, "too many trailer fields");
                c->state_ = CH_TR_NAME;
            } else if (is_ows((char)ch)) {
                return ch_fail(c, i, 400, "obsolete line folding in trailer");
            } else {
                return ch_fail(c, i, 400, "invalid character in trailer name");
            }
            break;
        case CH_TR_NAME:
            if (++c->trailer_bytes_ > l.max_header_bytes)
                return ch_fail(c, i, 431, "trailer section too large");
            if (ch == ':')
                c->state_ = CH_TR_VALUE;
            else if (is_ows((char)ch))
                return ch_fail(c, i, 400, "whitespace between trailer name and colon");
            else if (!is_class(ch, C_TOKEN))
                return ch_fail(c, i, 400, "invalid character in trailer name");
            break;
        case CH_TR_VALUE:
            if (++c->trailer_bytes_ > l.max_header_bytes)
                return ch_fail(c, i, 431, "trailer section too large");
            if (ch == '\r')
                c->state_ = CH_TR_LF;
            else if (!is_class(ch, C_VALUE))
                return ch_fail(c, i, 400, "invalid character in trailer value");
            break;
        case CH_TR_LF:
            if (++c->trailer_bytes_ > l.max_header_bytes)
                return ch_fail(c, i, 431, "trailer section too large");
            if (ch != '\n')
                return ch_fail(c, i, 400, "trailer line does not end in CRLF");
            c->state_ = CH_TRAILER;
            break;
        case CH_FINAL_LF:
            if (++c->trailer_bytes_ > l.max_header_bytes)
                return ch_fail(c, i, 431, "trailer section too large");
            if (ch != '\n')
                return ch_fail(c, i, 400, "chunked body does not end in CRLF");
            c->state_ = CH_DONE;
            c->consumed = i;
            return 1;
        default:
            assert(0 && "unreachable chunked state");
            return ch_fail(c, i, 500, "internal error");
        }
    }
    c->consumed = i;
    assert(c->consumed == len && c->body_len <= c->consumed);
    return 0;
}

/* ---- response ------------------------------------------------------------------------------------- */

const char *fg_http_reason(int status) {
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

/* An appender that never writes past cap but keeps counting, so a dry run (cap 0) measures. */
typedef struct out {
    char *p;
    size_t len, cap;
} out;

static void put(out *o, const char *s, size_t n) {
    if (o->len <= o->cap && n <= o->cap - o->len)
        memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(out *o, const char *s) {
    put(o, s, strlen(s));
}

static void put_u64(out *o, uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do {
        tmp[sizeof tmp - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(o, tmp + sizeof tmp - n, n);
}

static bool field_ok(const char *name, size_t nl, const char *value, size_t vl) {
    if (!nl)
        return false;
    for (size_t i = 0; i < nl; i++)
        if (!is_class((unsigned char)name[i], C_TOKEN))
            return false;
    for (size_t i = 0; i < vl; i++)
        if (!is_class((unsigned char)value[i], C_VALUE))
            return false;
    return true;
}

int fg_http_write_head(char *buf, size_t cap, const fg_http_response *r, size_t *out_len) {
    if (r->status < 100 || r->status > 599)
        return FG_EINVAL;
    out o = {buf, 0, cap};
    char code[4] = {(char)('0' + r->status / 100), (char)('0' + r->status / 10 % 10),
                    (char)('0' + r->status % 10), ' '};
    put(&o, "HTTP/1.1 ", 9);
    put(&o, code, 4);
    put_str(&o, fg_http_reason(r->status));
    put(&o, "\r\n", 2);
    if (r->content_type) {
        size_t n = strlen(r->content_type);
        if (!field_ok("Content-Type", 12, r->content_type, n))
            return FG_EINVAL;
        put(&o, "Content-Type: ", 14);
        put(&o, r->content_type, n);
        put(&o, "\r\n", 2);
    }
    if (r->status >= 200 && r->status != 204) {
        put(&o, "Content-Length: ", 16);
        put_u64(&o, r->content_length);
        put(&o, "\r\n", 2);
    }
    if (!r->keep_alive)
        put(&o, "Connection: close\r\n", 19);
    else if (r->http10)
        put(&o, "Connection: keep-alive\r\n", 24);
    for (size_t i = 0; i < r->n_extra; i++) {
        const fg_http_header *h = &r->extra[i];
        if (!field_ok(h->name.ptr, h->name.len, h->value.ptr, h->value.len))
            return FG_EINVAL;
        put(&o, h->name.ptr, h->name.len);
        put(&o, ": ", 2);
        put(&o, h->value.ptr, h->value.len);
        put(&o, "\r\n", 2);
    }
    put(&o, "\r\n", 2);
    if (o.len > cap)
        return FG_EINVAL;
    *out_len = o.len;
    return 0;
}

/* Length of the valid UTF-8 sequence at s[0, n), or 0 if it is not one (RFC 3629 table 3-7: no overlong
 * forms, no surrogates, nothing past U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t k;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < k || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < k; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return k;
}

static void put_json_string(out *o, const char *msg, size_t n) {
    static const char hexd[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)msg;
    put(o, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t k = utf8_len(s + i, n - i);
            if (k) {
                put(o, msg + i, k);
                i += k;
            } else {
                put(o, "\\ufffd", 6); /* JSON text must be valid Unicode */
                i++;
            }
            continue;
        }
        i++;
        switch (c) {
        case '"':
            put(o, "\\\"", 2);
            break;
        case '\\':
            put(o, "\\\\", 2);
            break;
        case '\b':
            put(o, "\\b", 2);
            break;
        case '\f':
            put(o, "\\f", 2);
            break;
        case '\n':
            put(o, "\\n", 2);
            break;
        case '\r':
            put(o, "\\r", 2);
            break;
        case '\t':
            put(o, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
                put(o, u, 6);
            } else {
                put(o, (const char *)&s[i - 1], 1);
            }
        }
    }
    put(o, "\"", 1);
}

static void put_json_error(out *o, const char *msg, size_t msg_len) {
    put(o, "{\"error\": ", 10);
    put_json_string(o, msg, msg_len);
    put(o, "}", 1);
}

int fg_http_json_error(char *buf, size_t cap, const char *msg, size_t msg_len, size_t *out_len) {
    out o = {buf, 0, cap};
    put_json_error(&o, msg, msg_len);
    if (o.len > cap)
        return FG_EINVAL;
    *out_len = o.len;
    return 0;
}

int fg_http_write_error(char *buf, size_t cap, int status, const char *msg, bool keep_alive,
                        size_t *out_len) {
    size_t msg_len = strlen(msg);
    out dry = {NULL, 0, 0};
    put_json_error(&dry, msg, msg_len);
    fg_http_response r = {.status = status,
                          .content_type = "application/json",
                          .content_length = dry.len,
                          .keep_alive = keep_alive};
    size_t head_len;
    int rc = fg_http_write_head(buf, cap, &r, &head_len);
    if (rc < 0)
        return rc;
    out o = {buf, head_len, cap};
    put_json_error(&o, msg, msg_len);
    if (o.len > cap)
        return FG_EINVAL;
    *out_len = o.len;
    return 0;
}

void fg_http_format_date(time_t t, char out_date[FG_HTTP_DATE_SIZE]) {
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    /* built by hand: strftime's %a and %b follow the locale, the Date header must not */
    char *p = out_date;
    memcpy(p, days[tm.tm_wday], 3);
    p[3] = ',';
    p[4] = ' ';
    p[5] = (char)('0' + tm.tm_mday / 10);
    p[6] = (char)('0' + tm.tm_mday % 10);
    p[7] = ' ';
    memcpy(p + 8, months[tm.tm_mon], 3);
    p[11] = ' ';
    int y = tm.tm_year + 1900;
    p[12] = (char)('0' + y / 1000 % 10);
    p[13] = (char)('0' + y / 100 % 10);
    p[14] = (char)('0' + y / 10 % 10);
    p[15] = (char)('0' + y % 10);
    p[16] = ' ';
    p[17] = (char)('0' + tm.tm_hour / 10);
    p[18] = (char)('0' + tm.tm_hour % 10);
    p[19] = ':';
    p[20] = (char)('0' + tm.tm_min / 10);
    p[21] = (char)('0' + tm.tm_min % 10);
    p[22] = ':';
    p[23] = (char)('0' + tm.tm_sec / 10);
    p[24] = (char)('0' + tm.tm_sec % 10);
    memcpy(p + 25, " GMT", 5);
}
