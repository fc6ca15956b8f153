/* config.c - Triton config.pbtxt reader: a generic protobuf text-format parser into a small tree, a
 * mapping of the tree onto fg_model_config, and Triton-style auto-completion against the model. */
#include "serve/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* ---------------------------------------------------------------------------------------------------
 * Text-format tree
 * ------------------------------------------------------------------------------------------------- */

typedef enum nkind { N_MSG, N_LIST, N_IDENT, N_STR, N_INT, N_FLOAT } nkind;

typedef struct node {
    nkind kind;
    char *name;          /* field name (owned); NULL for list elements */
    int line, col;       /* of the field name, or of the element */
    const char *tok;     /* N_IDENT / N_INT / N_FLOAT: the token in the text (with its '-') */
    size_t tok_len;
    char *str;           /* N_STR: decoded, NUL-free (owned) */
    bool neg;            /* N_INT */
    uint64_t mag;        /* N_INT: magnitude */
    struct node *first, *last, *next; /* N_MSG / N_LIST children */
    bool warned;         /* an unknown-field warning already covered this name in this message */
} node;

static void node_free(node *n) {
    while (n) {
        node *next = n->next;
        node_free(n->first);
        free(n->name);
        free(n->str);
        free(n);
        n = next;
    }
}

typedef struct parser {
    const char *s;
    size_t n, i;
    int line;
    size_t line_start;
    const char *label;
    fg_err *e;
    size_t n_nodes;
} parser;

static int col_of(const parser *p, size_t at) { return (int)(at - p->line_start) + 1; }

static int perr(parser *p, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int perr(parser *p, int line, int col, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fg_err_set(p->e, FG_EFORMAT, "%s:%d:%d: %s", p->label, line, col, msg);
}

/* Describes the byte at p->i for "expected X, got Y" messages, printable or escaped. */
static const char *describe_here(const parser *p, char *buf, size_t cap) {
    if (p->i >= p->n)
        return "end of input";
    unsigned char ch = (unsigned char)p->s[p->i];
    if (ch >= 0x21 && ch < 0x7f)
        snprintf(buf, cap, "'%c'", ch);
    else
        snprintf(buf, cap, "'\\x%02x'", ch);
    return buf;
}

static void skip_ws(parser *p) {
    while (p->i < p->n) {
        char ch = p->s[p->i];
        if (ch == '\n') {
            p->i++;
            p->line++;
            p->line_start = p->i;
        } else if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f') {
            p->i++;
        } else if (ch == '#') {
            while (p->i < p->n && p->s[p->i] != '\n')
                p->i++;
        } else {
            break;
        }
    }
}

static bool is_ident_start(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_ident_char(char ch) { return is_ident_start(ch) || is_digit(ch); }
static int hex_val(char ch) {
    if (is_digit(ch))
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static node *new_node(parser *p, nkind kind, int line, int col) {
    if (p->n_nodes >= FG_CONFIG_MAX_NODES) {
        perr(p, line, col, "more than %d fields", FG_CONFIG_MAX_NODES);
        return NULL;
    }
    p->n_nodes++;
    node *n = fg_xcalloc(1, sizeof *n);
    n->kind = kind;
    n->line = line;
    n->col = col;
    return n;
}

static void append(node *parent, node *child) {
    if (parent->last)
        parent->last->next = child;
    else
        parent->first = child;
    parent->last = child;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sbuf_put(sbuf *b, char ch) {
    if (b->len + 1 >= b->cap) {
        b->cap = b->cap ? b->cap * 2 : 32;
        b->p = fg_xrealloc(b->p, b->cap);
    }
    b->p[b->len++] = ch;
    b->p[b->len] = 0;
}

/* One quoted string at p->i (the quote), decoded onto b. */
static int lex_string(parser *p, sbuf *b) {
    int line = p->line, col = col_of(p, p->i);
    char q = p->s[p->i++];
    for (;;) {
        if (p->i >= p->n || p->s[p->i] == '\n')
            return perr(p, line, col, "unterminated string");
        char ch = p->s[p->i];
        if (ch == q) {
            p->i++;
            return 0;
        }
        if (ch == 0)
            return perr(p, p->line, col_of(p, p->i), "NUL byte in string");
        if (ch != '\\') {
            sbuf_put(b, ch);
            p->i++;
            continue;
        }
        size_t esc_at = p->i++;
        if (p->i >= p->n)
            return perr(p, line, col, "unterminated string");
        ch = p->s[p->i++];
        unsigned v;
        switch (ch) {
        case 'n': v = '\n'; break;
        case 't': v = '\t'; break;
        case 'r': v = '\r'; break;
        case 'a': v = '\a'; break;
        case 'b': v = '\b'; break;
        case 'f': v = '\f'; break;
        case 'v': v = '\v'; break;
        case '\\': case '\'': case '"': case '?': v = (unsigned char)ch; break;
        case 'x': case 'X': {
            int d0 = p->i < p->n ? hex_val(p->s[p->i]) : -1;
            if (d0 < 0)
                return perr(p, p->line, col_of(p, esc_at), "\\x needs a hex digit");
            v = (unsigned)d0;
            p->i++;
            int d1 = p->i < p->n ? hex_val(p->s[p->i]) : -1;
            if (d1 >= 0) {
                v = v * 16 + (unsigned)d1;
                p->i++;
            }
            break;
        }
        default:
            if (ch >= '0' && ch <= '7') {
                v = (unsigned)(ch - '0');
                for (int k = 0; k < 2 && p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '7'; k++)
                    v = v * 8 + (unsigned)(p->s[p->i++] - '0');
                if (v > 255)
                    return perr(p, p->line, col_of(p, esc_at), "octal escape above \\377");
                break;
            }
            if (ch >= 0x21 && ch < 0x7f)
                return perr(p, p->line, col_of(p, esc_at), "unknown escape '\\%c'", ch);
            return perr(p, p->line, col_of(p, esc_at), "unknown escape '\\\\x%02x'", (unsigned char)ch);
        }
        if (v == 0)
            return perr(p, p->line, col_of(p, esc_at), "NUL character in string");
        sbuf_put(b, (char)v);
    }
}

/* Number token at p->i into n: integers (decimal, 0x hex, 0 octal) must fit 64 bits; anything with a
 * '.', exponent or f suffix is a float (its value is never needed by the subset, only its type). */
static int lex_number(parser *p, node *n) {
    size_t start = p->i;
    int col = col_of(p, start);
    if (p->s[p->i] == '-') {
        n->neg = true;
        p->i++;
    }
    size_t ds = p->i;
    while (p->i < p->n) {
        char ch = p->s[p->i];
        if (is_ident_char(ch) || ch == '.') {
            p->i++;
        } else if ((ch == '+' || ch == '-') && p->i > ds && (p->s[p->i - 1] == 'e' || p->s[p->i - 1] == 'E') &&
                   !(p->i - ds > 1 && (p->s[ds + 1] == 'x' || p->s[ds + 1] == 'X'))) {
            p->i++;
        } else {
            break;
        }
    }
    n->tok = p->s + start;
    n->tok_len = p->i - start;
    const char *d = p->s + ds;
    size_t len = p->i - ds;
    int tl = (int)(n->tok_len > 40 ? 40 : n->tok_len);
    unsigned base = 10;
    size_t k = 0;
    if (len > 2 && d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) {
        base = 16;
        k = 2;
    } else if (len > 1 && d[0] == '0' && is_digit(d[1])) {
        base = 8;
        k = 1;
    }
    bool all_digits = len > k;
    for (size_t j = k; j < len; j++) {
        int hv = hex_val(d[j]);
        if (hv < 0 || (unsigned)hv >= base)
            all_digits = false;
    }
    if (base == 8 && !all_digits)
        return perr(p, p->line, col, "invalid number '%.*s'", tl, n->tok);
    if (all_digits) {
        n->kind = N_INT;
        uint64_t mag = 0;
        for (size_t j = k; j < len; j++) {
            unsigned dv = (unsigned)hex_val(d[j]);
            if (mag > (UINT64_MAX - dv) / base)
                return perr(p, p->line, col, "integer '%.*s' is out of range", tl, n->tok);
            mag = mag * base + dv;
        }
        n->mag = mag;
        return 0;
    }
    /* float: digits [. digits] [e [+-] digits] [f] with at least one mantissa digit */
    size_t j = 0, mant = 0;
    while (j < len && is_digit(d[j]))
        j++, mant++;
    if (j < len && d[j] == '.') {
        j++;
        while (j < len && is_digit(d[j]))
            j++, mant++;
    }
    bool ok = mant > 0 && base != 16;
    if (ok && j < len && (d[j] == 'e' || d[j] == 'E')) {
        j++;
        if (j < len && (d[j] == '+' || d[j] == '-'))
            j++;
        size_t ed = 0;
        while (j < len && is_digit(d[j]))
            j++, ed++;
        ok = ed > 0;
    }
    if (ok && j < len && (d[j] == 'f' || d[j] == 'F'))
        j++;
    if (!ok || j != len)
        return perr(p, p->line, col, "invalid number '%.*s'", tl, n->tok);
    n->kind = N_FLOAT;
    return 0;
}

/* A scalar value at p->i: string(s), identifier or number. */
static int parse_scalar(parser *p, node *n, const char *field) {
    char ch = p->s[p->i];
    if (ch == '"' || ch == '\'') {
        sbuf b = {0};
        sbuf_put(&b, 'x');
        b.len = 0;
        b.p[0] = 0;
        for (;;) {
            int rc = lex_string(p, &b);
            if (rc < 0) {
                free(b.p);
                return rc;
            }
            /* adjacent literals concatenate, as in protobuf */
            skip_ws(p);
            if (p->i >= p->n || (p->s[p->i] != '"' && p->s[p->i] != '\''))
                break;
        }
        n->kind = N_STR;
        n->str = b.p;
        return 0;
    }
    if (is_ident_start(ch) || (ch == '-' && p->i + 1 < p->n && is_ident_start(p->s[p->i + 1]))) {
        size_t start = p->i++;
        while (p->i < p->n && is_ident_char(p->s[p->i]))
            p->i++;
        n->kind = N_IDENT;
        n->tok = p->s + start;
        n->tok_len = p->i - start;
        return 0;
    }
    char next = p->i + 1 < p->n ? p->s[p->i + 1] : 0;
    if (is_digit(ch) || ch == '.' || (ch == '-' && (is_digit(next) || next == '.')))
        return lex_number(p, n);
    char buf[16];
    return perr(p, p->line, col_of(p, p->i), "expected a value for '%s', got %s", field,
                describe_here(p, buf, sizeof buf));
}

static int parse_fields(parser *p, node *msg, char close, int depth);

/* A message body at p->i ('{' or '<'). */
static int parse_message(parser *p, node *n, int depth) {
    if (depth >= FG_CONFIG_MAX_DEPTH)
        return perr(p, p->line, col_of(p, p->i), "messages nested deeper than %d levels", FG_CONFIG_MAX_DEPTH);
    char open = p->s[p->i++];
    n->kind = N_MSG;
    return parse_fields(p, n, open == '{' ? '}' : '>', depth + 1);
}

/* A list at p->i ('['); msgs_only when the field had no ':' (protobuf allows that only for messages). */
static int parse_list(parser *p, node *n, const char *field, bool msgs_only, int depth) {
    int line = p->line, col = col_of(p, p->i);
    p->i++;
    n->kind = N_LIST;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        if (p->i >= p->n)
            return perr(p, line, col, "unterminated list for '%s'", field);
        node *el = new_node(p, N_INT, p->line, col_of(p, p->i));
        if (!el)
            return FG_EFORMAT;
        append(n, el);
        char ch = p->s[p->i];
        int rc;
        if (ch == '{' || ch == '<') {
            rc = parse_message(p, el, depth);
        } else if (msgs_only) {
            char buf[16];
            rc = perr(p, p->line, col_of(p, p->i), "expected '{' in the list for '%s', got %s", field,
                      describe_here(p, buf, sizeof buf));
        } else {
            rc = parse_scalar(p, el, field);
        }
        if (rc < 0)
            return rc;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            return 0;
        }
        if (p->i >= p->n)
            return perr(p, line, col, "unterminated list for '%s'", field);
        char buf[16];
        return perr(p, p->line, col_of(p, p->i), "expected ',' or ']' in the list for '%s', got %s", field,
                    describe_here(p, buf, sizeof buf));
    }
}

/* Fields until `close` (0: end of input). */
static int parse_fields(parser *p, node *msg, char close, int depth) {
    int open_line = p->line, open_col = col_of(p, p->i ? p->i - 1 : 0);
    for (;;) {
        skip_ws(p);
        if (p->i >= p->n) {
            if (close)
                return perr(p, open_line, open_col, "unterminated message: expected '%c'", close);
            return 0;
        }
        char ch = p->s[p->i];
        if (close && ch == close) {
            p->i++;
            return 0;
        }
        char buf[16];
        if (!is_ident_start(ch))
            return perr(p, p->line, col_of(p, p->i), "expected a field name, got %s",
                        describe_here(p, buf, sizeof buf));
        int line = p->line, col = col_of(p, p->i);
        size_t start = p->i;
        while (p->i < p->n && is_ident_char(p->s[p->i]))
            p->i++;
        node *f = new_node(p, N_INT, line, col);
        if (!f)
            return FG_EFORMAT;
        f->name = fg_xstrndup(p->s + start, p->i - start);
        append(msg, f);
        skip_ws(p);
        ch = p->i < p->n ? p->s[p->i] : 0;
        int rc;
        if (ch == ':') {
            p->i++;
            skip_ws(p);
            ch = p->i < p->n ? p->s[p->i] : 0;
            if (ch == '[')
                rc = parse_list(p, f, f->name, false, depth);
            else if (ch == '{' || ch == '<')
                rc = parse_message(p, f, depth);
            else if (p->i >= p->n)
                rc = perr(p, p->line, col_of(p, p->i), "expected a value for '%s', got end of input", f->name);
            else
                rc = parse_scalar(p, f, f->name);
        } else if (ch == '{' || ch == '<') {
            rc = parse_message(p, f, depth);
        } else if (ch == '[') {
            rc = parse_list(p, f, f->name, true, depth);
        } else {
            rc = perr(p, p->line, col_of(p, p->i), "expected ':' or '{' after '%s', got %s", f->name,
                      describe_here(p, buf, sizeof buf));
        }
        if (rc < 0)
            return rc;
        skip_ws(p);
        if (p->i < p->n && (p->s[p->i] == ',' || p->s[p->i] == ';'))
            p->i++;
    }
}

/* ---------------------------------------------------------------------------------------------------
 * Mapping the tree onto fg_model_config
 * ------------------------------------------------------------------------------------------------- */

typedef struct mapper {
    fg_model_config *c;
    const char *label;
    fg_err *e;
    fg_config_warn_fn warn;
    void *ctx;
    int n_warn;
} mapper;

#define PATH_MAX_LEN 256

static void warnf(mapper *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(mapper *m, const char *fmt, ...) {
    if (!m->warn || m->n_warn > FG_CONFIG_MAX_WARNINGS)
        return;
    char msg[768];
    if (m->n_warn++ == FG_CONFIG_MAX_WARNINGS) {
        snprintf(msg, sizeof msg, "%s: further warnings suppressed", m->label);
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    m->warn(m->ctx, msg);
}

/* Errors name the position and the field path: "config.pbtxt:3:17: max_batch_size: ...". */
static int merr(mapper *m, const node *n, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int merr(mapper *m, const node *n, int code, const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fg_err_set(m->e, code, "%s:%d:%d: %s: %s", m->label, n->line, n->col, path, msg);
}

static void join(char *out, const char *path, const char *name) {
    if (path[0])
        snprintf(out, PATH_MAX_LEN, "%s.%s", path, name);
    else
        snprintf(out, PATH_MAX_LEN, "%s", name);
}

static void join_idx(char *out, const char *path, const char *name, size_t idx) {
    if (path[0])
        snprintf(out, PATH_MAX_LEN, "%s.%s[%zu]", path, name, idx);
    else
        snprintf(out, PATH_MAX_LEN, "%s[%zu]", name, idx);
}

/* Unknown fields warn once per name per message: later siblings of the same name are marked. */
static void warn_field(mapper *m, node *f, const char *path, const char *what) {
    if (f->warned)
        return;
    char full[PATH_MAX_LEN];
    join(full, path, f->name);
    warnf(m, "%s: ignoring %s field '%s'", m->label, what, full);
    for (node *s = f->next; s && m->n_warn <= FG_CONFIG_MAX_WARNINGS; s = s->next)
        if (s->name && strcmp(s->name, f->name) == 0)
            s->warned = true;
}

static void unknown(mapper *m, node *f, const char *path) { warn_field(m, f, path, "unknown"); }
static void unsupported(mapper *m, node *f, const char *path) { warn_field(m, f, path, "unsupported"); }

static const char *kind_desc(const node *n, char *buf, size_t cap) {
    int tl = (int)(n->tok_len > 40 ? 40 : n->tok_len);
    switch (n->kind) {
    case N_MSG: return "a message";
    case N_LIST: return "a list";
    case N_STR: return "a string";
    case N_IDENT: snprintf(buf, cap, "'%.*s'", tl, n->tok); return buf;
    case N_INT: snprintf(buf, cap, "integer %.*s", tl, n->tok); return buf;
    case N_FLOAT: snprintf(buf, cap, "float %.*s", tl, n->tok); return buf;
    }
    return "?";
}

static int type_err(mapper *m, const node *n, const char *path, const char *want) {
    char buf[64];
    return merr(m, n, FG_EINVAL, path, "expected %s, got %s", want, kind_desc(n, buf, sizeof buf));
}

/* Non-repeated fields: protobuf rejects a second occurrence, so do we. */
static int once(mapper *m, const node **seen, const node *f, const char *path) {
    if (*seen) {
        char full[PATH_MAX_LEN];
        join(full, path, f->name);
        return merr(m, f, FG_EINVAL, full, "non-repeated field given twice (first at %d:%d)", (*seen)->line,
                    (*seen)->col);
    }
    *seen = f;
    return 0;
}

static int get_i64(mapper *m, const node *n, const char *path, int64_t lo, int64_t hi, int64_t *out) {
    if (n->kind != N_INT)
        return type_err(m, n, path, "an integer");
    int tl = (int)(n->tok_len > 40 ? 40 : n->tok_len);
    if ((!n->neg && n->mag > (uint64_t)INT64_MAX) || (n->neg && n->mag > (uint64_t)INT64_MAX + 1))
        return merr(m, n, FG_EINVAL, path, "%.*s is out of range", tl, n->tok);
    int64_t v = n->neg ? (n->mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)n->mag) : (int64_t)n->mag;
    if (v < lo || v > hi)
        return merr(m, n, FG_EINVAL, path, "%.*s is out of range (%lld..%lld)", tl, n->tok, (long long)lo,
                    (long long)hi);
    *out = v;
    return 0;
}

static int get_u64(mapper *m, const node *n, const char *path, uint64_t hi, uint64_t *out) {
    if (n->kind != N_INT)
        return type_err(m, n, path, "an integer");
    int tl = (int)(n->tok_len > 40 ? 40 : n->tok_len);
    if (n->neg && n->mag != 0)
        return merr(m, n, FG_EINVAL, path, "%.*s is negative", tl, n->tok);
    if (n->mag > hi)
        return merr(m, n, FG_EINVAL, path, "%.*s is out of range (0..%llu)", tl, n->tok, (unsigned long long)hi);
    *out = n->mag;
    return 0;
}

static bool tok_is(const node *n, const char *s) {
    return n->tok_len == strlen(s) && memcmp(n->tok, s, n->tok_len) == 0;
}

static int get_bool(mapper *m, const node *n, const char *path, bool *out) {
    if (n->kind == N_IDENT && (tok_is(n, "true") || tok_is(n, "True") || tok_is(n, "t")))
        *out = true;
    else if (n->kind == N_IDENT && (tok_is(n, "false") || tok_is(n, "False") || tok_is(n, "f")))
        *out = false;
    else if (n->kind == N_INT && !n->neg && n->mag <= 1)
        *out = n->mag == 1;
    else
        return type_err(m, n, path, "true or false");
    return 0;
}

/* Replaces *out with a copy of the string. */
static int get_str(mapper *m, const node *n, const char *path, char **out) {
    if (n->kind != N_STR)
        return type_err(m, n, path, "a string");
    free(*out);
    *out = fg_xstrdup(n->str);
    return 0;
}

static int get_msg(mapper *m, const node *n, const char *path) {
    return n->kind == N_MSG ? 0 : type_err(m, n, path, "a message ('{ ... }')");
}

typedef struct enum_val {
    const char *name;
    int number;
    int value;
} enum_val;

/* An enum by name or (as protobuf allows) by number; *out = the table's value. */
static int get_enum(mapper *m, const node *n, const char *path, const enum_val *t, size_t nt, const char *what,
                    int *out) {
    for (size_t k = 0; k < nt; k++) {
        if ((n->kind == N_IDENT && tok_is(n, t[k].name)) ||
            (n->kind == N_INT && !n->neg && n->mag == (uint64_t)t[k].number)) {
            *out = t[k].value;
            return 0;
        }
    }
    if (n->kind == N_IDENT || n->kind == N_INT) {
        int tl = (int)(n->tok_len > 40 ? 40 : n->tok_len);
        return merr(m, n, FG_EINVAL, path, "unknown %s '%.*s'", what, tl, n->tok);
    }
    return type_err(m, n, path, what);
}

/* Triton's DataType enum: name, proto number, fg_dtype (FG_STRING and FG_DT_UNDEFINED are refused). */
static const enum_val DTYPES[] = {
    {"TYPE_INVALID", 0, FG_DT_UNDEFINED}, {"TYPE_BOOL", 1, FG_BOOL},   {"TYPE_UINT8", 2, FG_U8},
    {"TYPE_UINT16", 3, FG_U16},           {"TYPE_UINT32", 4, FG_U32},  {"TYPE_UINT64", 5, FG_U64},
    {"TYPE_INT8", 6, FG_I8},              {"TYPE_INT16", 7, FG_I16},   {"TYPE_INT32", 8, FG_I32},
    {"TYPE_INT64", 9, FG_I64},            {"TYPE_FP16", 10, FG_F16},   {"TYPE_FP32", 11, FG_F32},
    {"TYPE_FP64", 12, FG_F64},            {"TYPE_STRING", 13, FG_STRING}, {"TYPE_BF16", 14, FG_BF16},
};
#define N_DTYPES (sizeof DTYPES / sizeof DTYPES[0])

const char *fg_config_dtype_name(fg_dtype t) {
    for (size_t k = 1; k < N_DTYPES; k++)
        if (DTYPES[k].value == (int)t)
            return DTYPES[k].name;
    return "TYPE_INVALID";
}

static int get_dtype(mapper *m, const node *n, const char *path, fg_dtype *out) {
    int v;
    int rc = get_enum(m, n, path, DTYPES, N_DTYPES, "data type", &v);
    if (rc < 0)
        return rc;
    if (v == FG_DT_UNDEFINED)
        return merr(m, n, FG_EINVAL, path, "TYPE_INVALID is not a data type");
    if (v == FG_STRING)
        return merr(m, n, FG_EUNSUPPORTED, path, "TYPE_STRING tensors are not supported");
    *out = (fg_dtype)v;
    return 0;
}

/* Iterates the values of a repeated field occurrence: a list's elements, or the node itself. */
#define FOR_VALUES(v, f)                                                                                     \
    for (const node *v = (f)->kind == N_LIST ? (f)->first : (f); v; v = (f)->kind == N_LIST ? v->next : NULL)

/* dims: repeated int64, each -1 (any) or >= 1 (Triton's rule), at most FG_MAX_RANK in total. */
static int get_dims(mapper *m, const node *f, const char *path, int *rank, int64_t *dims, int64_t lo) {
    if (*rank < 0)
        *rank = 0;
    FOR_VALUES(v, f) {
        int64_t d;
        int rc = get_i64(m, v, path, -1, INT64_MAX, &d);
        if (rc < 0)
            return rc;
        if (d < lo || (lo < 0 && d == 0))
            return merr(m, v, FG_EINVAL, path, "dimension %lld must be %s", (long long)d,
                        lo < 0 ? ">= 1, or -1 for any size" : ">= 1");
        if (*rank >= FG_MAX_RANK)
            return merr(m, v, FG_EUNSUPPORTED, path, "more than %d dimensions", FG_MAX_RANK);
        dims[(*rank)++] = d;
    }
    return 0;
}

/* reshape { shape: [...] }: the shape the model sees for a tensor whose request shape is dims. */
static int map_reshape(mapper *m, node *msg, const char *path, fg_config_io *io) {
    int rc = get_msg(m, msg, path);
    char fp[PATH_MAX_LEN];
    for (node *f = msg->first; f && rc == 0; f = f->next) {
        join(fp, path, f->name);
        if (strcmp(f->name, "shape") == 0)
            rc = get_dims(m, f, fp, &io->reshape_rank, io->reshape_dims, -1);
        else
            unknown(m, f, path);
    }
    io->has_reshape = rc == 0;
    return rc;
}

static int map_io(mapper *m, const node *msg, const char *path, bool is_input, fg_config_io *io) {
    const node *s_name = NULL, *s_dt = NULL, *s_opt = NULL, *s_rs = NULL;
    char fp[PATH_MAX_LEN];
    int rc = 0;
    for (node *f = msg->first; f && rc == 0; f = f->next) {
        join(fp, path, f->name);
        if (strcmp(f->name, "name") == 0) {
            if (!(rc = once(m, &s_name, f, path)))
                rc = get_str(m, f, fp, &io->name);
        } else if (strcmp(f->name, "data_type") == 0) {
            if (!(rc = once(m, &s_dt, f, path)))
                rc = get_dtype(m, f, fp, &io->dtype);
        } else if (strcmp(f->name, "dims") == 0) {
            rc = get_dims(m, f, fp, &io->rank, io->dims, -1);
        } else if (is_input && strcmp(f->name, "optional") == 0) {
            if (!(rc = once(m, &s_opt, f, path)))
                rc = get_bool(m, f, fp, &io->optional);
        } else if (strcmp(f->name, "reshape") == 0) {
            if (!(rc = once(m, &s_rs, f, path)))
                rc = map_reshape(m, f, fp, io);
        } else if (strcmp(f->name, "is_shape_tensor") == 0 ||
                   strcmp(f->name, "is_non_linear_format_io") == 0 ||
                   (is_input && (strcmp(f->name, "format") == 0 || strcmp(f->name, "allow_ragged_batch") == 0)) ||
                   (!is_input && strcmp(f->name, "label_filename") == 0)) {
            unsupported(m, f, path);
        } else {
            unknown(m, f, path);
        }
    }
    if (rc < 0)
        return rc;
    if (!io->name || !io->name[0])
        return merr(m, msg, FG_EINVAL, path, "missing 'name'");
    return 0;
}

/* Adds every message occurrence of a repeated message field (one message, or a list of them). */
static int map_io_field(mapper *m, const node *f, bool is_input) {
    fg_model_config *c = m->c;
    fg_config_io *arr = is_input ? c->inputs : c->outputs;
    size_t *n = is_input ? &c->n_inputs : &c->n_outputs;
    const char *what = is_input ? "input" : "output";
    FOR_VALUES(v, f) {
        char path[PATH_MAX_LEN];
        join_idx(path, "", what, *n);
        int rc = get_msg(m, v, path);
        if (rc < 0)
            return rc;
        if (*n >= FG_CONFIG_MAX_IO)
            return merr(m, v, FG_EUNSUPPORTED, path, "more than %d %ss", FG_CONFIG_MAX_IO, what);
        fg_config_io *io = &arr[(*n)++];
        io->pos = (fg_config_pos){v->line, v->col};
        if ((rc = map_io(m, v, path, is_input, io)) < 0)
            return rc;
        for (size_t k = 0; k + 1 < *n; k++)
            if (strcmp(arr[k].name, io->name) == 0)
                return merr(m, v, FG_EINVAL, path, "%s '%s' is listed twice", what, io->name);
    }
    return 0;
}

static const enum_val TIMEOUT_ACTIONS[] = {{"REJECT", 0, FG_TIMEOUT_REJECT}, {"DELAY", 1, FG_TIMEOUT_DELAY}};

static int map_queue_policy(mapper *m, const node *msg, const char *path) {
    fg_config_batching *b = &m->c->batching;
    const node *s_ta = NULL, *s_to = NULL, *s_ov = NULL, *s_qs = NULL;
    char fp[PATH_MAX_LEN];
    int rc = 0;
    for (node *f = msg->first; f && rc == 0; f = f->next) {
        join(fp, path, f->name);
        if (strcmp(f->name, "timeout_action") == 0) {
            int v;
            if (!(rc = once(m, &s_ta, f, path)) &&
                !(rc = get_enum(m, f, fp, TIMEOUT_ACTIONS, 2, "timeout action (REJECT or DELAY)", &v)))
                b->timeout_action = (fg_config_timeout_action)v;
        } else if (strcmp(f->name, "default_timeout_microseconds") == 0) {
            if (!(rc = once(m, &s_to, f, path)))
                rc = get_u64(m, f, fp, UINT64_MAX, &b->default_timeout_us);
        } else if (strcmp(f->name, "allow_timeout_override") == 0) {
            if (!(rc = once(m, &s_ov, f, path)))
                rc = get_bool(m, f, fp, &b->allow_timeout_override);
        } else if (strcmp(f->name, "max_queue_size") == 0) {
            if (!(rc = once(m, &s_qs, f, path)))
                rc = get_u64(m, f, fp, UINT64_MAX, &b->max_queue_size);
        } else {
            unknown(m, f, path);
        }
    }
    return rc;
}

static int map_batching(mapper *m, const node *msg) {
    fg_config_batching *b = &m->c->batching;
    const char *path = "dynamic_batching";
    const node *s_delay = NULL, *s_po = NULL, *s_pl = NULL, *s_dpl = NULL, *s_dqp = NULL;
    char fp[PATH_MAX_LEN];
    int rc = 0;
    for (node *f = msg->first; f && rc == 0; f = f->next) {
        join(fp, path, f->name);
        if (strcmp(f->name, "preferred_batch_size") == 0) {
            FOR_VALUES(v, f) {
                int64_t x;
                if ((rc = get_i64(m, v, fp, 1, INT32_MAX, &x)) < 0)
                    break;
                if (b->n_preferred >= FG_CONFIG_MAX_PREFERRED) {
                    rc = merr(m, v, FG_EUNSUPPORTED, fp, "more than %d preferred batch sizes", FG_CONFIG_MAX_PREFERRED);
                    break;
                }
                b->preferred_pos[b->n_preferred] = (fg_config_pos){v->line, v->col};
                b->preferred[b->n_preferred++] = x;
            }
        } else if (strcmp(f->name, "max_queue_delay_microseconds") == 0) {
            if (!(rc = once(m, &s_delay, f, path)))
                rc = get_u64(m, f, fp, UINT64_MAX, &b->max_queue_delay_us);
        } else if (strcmp(f->name, "preserve_ordering") == 0) {
            if (!(rc = once(m, &s_po, f, path)) && !(rc = get_bool(m, f, fp, &b->preserve_ordering)) &&
                b->preserve_ordering)
                warnf(m, "%s: %s has no effect: frugal answers each request independently", m->label, fp);
        } else if (strcmp(f->name, "priority_levels") == 0) {
            if (!(rc = once(m, &s_pl, f, path)))
                rc = get_u64(m, f, fp, FG_CONFIG_MAX_PRIORITY_LEVELS, &b->priority_levels);
        } else if (strcmp(f->name, "default_priority_level") == 0) {
            if (!(rc = once(m, &s_dpl, f, path)))
                rc = get_u64(m, f, fp, UINT64_MAX, &b->default_priority_level);
        } else if (strcmp(f->name, "default_queue_policy") == 0) {
            if (!(rc = once(m, &s_dqp, f, path)) && !(rc = get_msg(m, f, fp)))
                rc = map_queue_policy(m, f, fp);
        } else if (strcmp(f->name, "priority_queue_policy") == 0) {
            unsupported(m, f, path);
        } else {
            unknown(m, f, path);
        }
    }
    if (rc < 0)
        return rc;
    /* Triton's rule: with priorities, the default level must be one of them */
    if (b->priority_levels > 0 && (b->default_priority_level == 0 || b->default_priority_level > b->priority_levels))
        return merr(m, s_dpl ? s_dpl : msg, FG_EINVAL, s_dpl ? "dynamic_batching.default_priority_level" : path,
                    "default_priority_level %llu is out of range (1..%llu)",
                    (unsigned long long)b->default_priority_level, (unsigned long long)b->priority_levels);
    if (b->priority_levels == 0 && b->default_priority_level != 0)
        return merr(m, s_dpl, FG_EINVAL, "dynamic_batching.default_priority_level",
                    "default_priority_level %llu is out of range: priority_levels is 0",
                    (unsigned long long)b->default_priority_level);
    return 0;
}

static const enum_val KINDS[] = {{"KIND_AUTO", 0, FG_KIND_AUTO},
                                 {"KIND_GPU", 1, FG_KIND_GPU},
                                 {"KIND_CPU", 2, FG_KIND_CPU},
                                 {"KIND_MODEL", 3, FG_KIND_MODEL}};

static int map_group(mapper *m, const node *msg, const char *path, fg_config_group *g) {
    const node *s_name = NULL, *s_count = NULL, *s_kind = NULL;
    char fp[PATH_MAX_LEN];
    int rc = 0;
    g->count = 1;
    for (node *f = msg->first; f && rc == 0; f = f->next) {
        join(fp, path, f->name);
        if (strcmp(f->name, "name") == 0) {
            if (!(rc = once(m, &s_name, f, path)))
                rc = get_str(m, f, fp, &g->name);
        } else if (strcmp(f->name, "count") == 0) {
            int64_t v;
            if (!(rc = once(m, &s_count, f, path)) && !(rc = get_i64(m, f, fp, 1, FG_CONFIG_MAX_INSTANCES, &v)))
                g->count = (int)v;
        } else if (strcmp(f->name, "kind") == 0) {
            int v;
            if (!(rc = once(m, &s_kind, f, path)) && !(rc = get_enum(m, f, fp, KINDS, 4, "instance kind", &v))) {
                g->kind = (fg_config_kind)v;
                if (v == FG_KIND_GPU || v == FG_KIND_MODEL)
                    warnf(m, "%s: %s %.*s: frugal runs every instance on CPU", m->label, fp, (int)f->tok_len, f->tok);
            }
        } else if (strcmp(f->name, "gpus") == 0 || strcmp(f->name, "profile") == 0 ||
                   strcmp(f->name, "passive") == 0 || strcmp(f->name, "host_policy") == 0 ||
                   strcmp(f->name, "rate_limiter") == 0 || strcmp(f->name, "secondary_devices") == 0) {
            unsupported(m, f, path);
        } else {
            unknown(m, f, path);
        }
    }
    return rc;
}

static int map_version_policy(mapper *m, const node *msg) {
    fg_config_version_policy *vp = &m->c->version_policy;
    const char *path = "version_policy";
    const node *chosen = NULL;
    char fp[PATH_MAX_LEN], fp2[PATH_MAX_LEN];
    for (node *f = msg->first; f; f = f->next) {
        join(fp, path, f->name);
        bool latest = strcmp(f->name, "latest") == 0, all = strcmp(f->name, "all") == 0,
             specific = strcmp(f->name, "specific") == 0;
        if (!latest && !all && !specific) {
            unknown(m, f, path);
            continue;
        }
        if (chosen)
            return merr(m, f, FG_EINVAL, fp, "only one of latest, all and specific may be given (%s at %d:%d)",
                        chosen->name, chosen->line, chosen->col);
        chosen = f;
        int rc = get_msg(m, f, fp);
        if (rc < 0)
            return rc;
        vp->kind = latest ? FG_VERSIONS_LATEST : all ? FG_VERSIONS_ALL : FG_VERSIONS_SPECIFIC;
        vp->num_versions = 1;
        vp->n_versions = 0;
        const node *s_num = NULL;
        for (node *g = f->first; g; g = g->next) {
            join(fp2, fp, g->name);
            if (latest && strcmp(g->name, "num_versions") == 0) {
                uint64_t v;
                if ((rc = once(m, &s_num, g, fp)) < 0 || (rc = get_u64(m, g, fp2, UINT32_MAX, &v)) < 0)
                    return rc;
                if (v < 1)
                    return merr(m, g, FG_EINVAL, fp2, "must be at least 1");
                vp->num_versions = (uint32_t)v;
            } else if (specific && strcmp(g->name, "versions") == 0) {
                FOR_VALUES(v, g) {
                    int64_t x;
                    if ((rc = get_i64(m, v, fp2, 0, INT64_MAX, &x)) < 0)
                        return rc;
                    if (vp->n_versions >= FG_CONFIG_MAX_VERSIONS)
                        return merr(m, v, FG_EUNSUPPORTED, fp2, "more than %d versions", FG_CONFIG_MAX_VERSIONS);
                    vp->versions[vp->n_versions++] = x;
                }
            } else {
                unknown(m, g, fp);
            }
        }
        if (specific && vp->n_versions == 0)
            return merr(m, f, FG_EINVAL, fp, "lists no versions");
    }
    return 0;
}

static int map_warmup_value(mapper *m, const node *msg, const char *path, fg_config_warmup_input *wi) {
    const node *s_dt = NULL, *s_src = NULL;
    char fp[PATH_MAX_LEN];
    int rc = 0;
    for (node *f = msg->first; f && rc == 0; f = f->next) {
        join(fp, path, f->name);
        if (strcmp(f->name, "data_type") == 0) {
            if (!(rc = once(m, &s_dt, f, path)))
                rc = get_dtype(m, f, fp, &wi->dtype);
        } else if (strcmp(f->name, "dims") == 0) {
            rc = get_dims(m, f, fp, &wi->rank, wi->dims, 1);
        } else if (strcmp(f->name, "zero_data") == 0 || strcmp(f->name, "random_data") == 0 ||
                   strcmp(f->name, "input_data_file") == 0) {
            /* a oneof: which member is set matters, not its value */
            if (s_src)
                return merr(m, f, FG_EINVAL, fp,
                            "only one of zero_data, random_data and input_data_file may be given (%s at %d:%d)",
                            s_src->name, s_src->line, s_src->col);
            s_src = f;
            bool dummy;
            if (f->name[0] == 'i') {
                wi->source = FG_WARMUP_FILE;
                if ((rc = get_str(m, f, fp, &wi->file)) == 0 && !wi->file[0])
                    rc = merr(m, f, FG_EINVAL, fp, "empty file name");
            } else {
                wi->source = f->name[0] == 'z' ? FG_WARMUP_ZERO : FG_WARMUP_RANDOM;
                rc = get_bool(m, f, fp, &dummy);
            }
        } else {
            unknown(m, f, path);
        }
    }
    if (rc < 0)
        return rc;
    if (!s_dt)
        return merr(m, msg, FG_EINVAL, path, "missing 'data_type'");
    if (!s_src)
        return merr(m, msg, FG_EINVAL, path, "needs one of zero_data, random_data or input_data_file");
    if (wi->rank < 0)
        wi->rank = 0;
    return 0;
}

static void warmup_input_free(fg_config_warmup_input *wi) {
    free(wi->key);
    free(wi->file);
    memset(wi, 0, sizeof *wi);
    wi->rank = -1;
}

/* One `inputs { key: "x" value { ... } }` map entry; a repeated key replaces the earlier entry. */
static int map_warmup_input(mapper *m, const node *msg, const char *path, fg_config_warmup *w) {
    const node *s_key = NULL, *s_val = NULL;
    char fp[PATH_MAX_LEN];
    char *key = NULL;
    int rc = 0;
    for (node *f = msg->first; f && rc == 0; f = f->next) {
        join(fp, path, f->name);
        if (strcmp(f->name, "key") == 0) {
            if (!(rc = once(m, &s_key, f, path)))
                rc = get_str(m, f, fp, &key);
        } else if (strcmp(f->name, "value") == 0) {
            if (!(rc = once(m, &s_val, f, path)))
                rc = get_msg(m, f, fp);
        } else {
            unknown(m, f, path);
        }
    }
    if (rc == 0 && (!key || !key[0]))
        rc = merr(m, msg, FG_EINVAL, path, "missing 'key'");
    if (rc == 0 && !s_val)
        rc = merr(m, msg, FG_EINVAL, path, "missing 'value'");
    if (rc < 0) {
        free(key);
        return rc;
    }
    size_t k = 0;
    while (k < w->n_inputs && strcmp(w->inputs[k].key, key) != 0)
        k++;
    if (k == w->n_inputs) {
        if (w->n_inputs >= FG_CONFIG_MAX_IO) {
            free(key);
            return merr(m, msg, FG_EUNSUPPORTED, path, "more than %d inputs", FG_CONFIG_MAX_IO);
        }
        w->n_inputs++;
    }
    fg_config_warmup_input *wi = &w->inputs[k];
    warmup_input_free(wi);
    wi->key = key;
    char vp[PATH_MAX_LEN];
    join(vp, path, "value");
    return map_warmup_value(m, s_val, vp, wi);
}

static int map_warmup(mapper *m, const node *msg, const char *path, fg_config_warmup *w) {
    const node *s_name = NULL, *s_bs = NULL, *s_count = NULL;
    char fp[PATH_MAX_LEN];
    int rc = 0;
    w->batch_size = 1;
    size_t n_in = 0;
    for (node *f = msg->first; f && rc == 0; f = f->next) {
        join(fp, path, f->name);
        if (strcmp(f->name, "name") == 0) {
            if (!(rc = once(m, &s_name, f, path)))
                rc = get_str(m, f, fp, &w->name);
        } else if (strcmp(f->name, "batch_size") == 0) {
            uint64_t v;
            if (!(rc = once(m, &s_bs, f, path)) && !(rc = get_u64(m, f, fp, UINT32_MAX, &v)))
                w->batch_size = v ? (uint32_t)v : 1;
        } else if (strcmp(f->name, "count") == 0) {
            uint64_t v;
            if (!(rc = once(m, &s_count, f, path)) && !(rc = get_u64(m, f, fp, UINT32_MAX, &v)))
                w->count = (uint32_t)v;
        } else if (strcmp(f->name, "inputs") == 0) {
            FOR_VALUES(v, f) {
                char ip[PATH_MAX_LEN];
                join_idx(ip, path, "inputs", n_in++);
                if ((rc = get_msg(m, v, ip)) < 0 || (rc = map_warmup_input(m, v, ip, w)) < 0)
                    break;
            }
        } else {
            unknown(m, f, path);
        }
    }
    return rc;
}

/* One `parameters { key: "k" value { string_value: "v" } }` map entry; a repeated key replaces. */
static int map_param(mapper *m, const node *msg, const char *path) {
    fg_model_config *c = m->c;
    const node *s_key = NULL, *s_val = NULL, *s_sv = NULL;
    char fp[PATH_MAX_LEN], fp2[PATH_MAX_LEN];
    char *key = NULL, *val = NULL;
    int rc = 0;
    for (node *f = msg->first; f && rc == 0; f = f->next) {
        join(fp, path, f->name);
        if (strcmp(f->name, "key") == 0) {
            if (!(rc = once(m, &s_key, f, path)))
                rc = get_str(m, f, fp, &key);
        } else if (strcmp(f->name, "value") == 0) {
            if ((rc = once(m, &s_val, f, path)) < 0 || (rc = get_msg(m, f, fp)) < 0)
                break;
            for (node *g = f->first; g && rc == 0; g = g->next) {
                join(fp2, fp, g->name);
                if (strcmp(g->name, "string_value") == 0) {
                    if (!(rc = once(m, &s_sv, g, fp)))
                        rc = get_str(m, g, fp2, &val);
                } else {
                    unknown(m, g, fp);
                }
            }
        } else {
            unknown(m, f, path);
        }
    }
    if (rc == 0 && (!key || !key[0]))
        rc = merr(m, msg, FG_EINVAL, path, "missing 'key'");
    size_t k = 0;
    if (rc == 0) {
        while (k < c->n_params && strcmp(c->params[k].key, key) != 0)
            k++;
        if (k == c->n_params && c->n_params >= FG_CONFIG_MAX_PARAMS)
            rc = merr(m, msg, FG_EUNSUPPORTED, path, "more than %d parameters", FG_CONFIG_MAX_PARAMS);
    }
    if (rc < 0) {
        free(key);
        free(val);
        return rc;
    }
    if (k == c->n_params) {
        c->params[c->n_params++].key = key;
    } else {
        free(key);
        free(c->params[k].value);
    }
    c->params[k].value = val ? val : fg_xstrdup("");
    return 0;
}

static const char *const UNSUPPORTED_TOP[] = {
    "optimization", "sequence_batching", "ensemble_scheduling", "model_transaction_policy",
    "default_model_filename", "cc_model_filenames", "metric_tags", "model_repository_agents",
    "batch_input", "batch_output", "model_operations", "runtime", "model_metrics",
};

static int map_root(mapper *m, node *root) {
    fg_model_config *c = m->c;
    const node *s_name = NULL, *s_plat = NULL, *s_back = NULL, *s_mbs = NULL, *s_db = NULL, *s_vp = NULL,
               *s_rc = NULL, *s_mbs_node = NULL;
    int rc = 0;
    for (node *f = root->first; f && rc == 0; f = f->next) {
        const char *n = f->name;
        if (strcmp(n, "name") == 0) {
            if (!(rc = once(m, &s_name, f, "")) && !(rc = get_str(m, f, n, &c->name)) && !c->name[0]) {
                free(c->name); /* proto3: an empty string is the same as no value */
                c->name = NULL;
            }
            c->has_name = c->name != NULL;
        } else if (strcmp(n, "platform") == 0) {
            if (!(rc = once(m, &s_plat, f, "")) && !(rc = get_str(m, f, n, &c->platform))) {
                if (!c->platform[0]) {
                    free(c->platform);
                    c->platform = NULL;
                } else if (strcmp(c->platform, "onnxruntime_onnx") != 0 && strcmp(c->platform, "onnx") != 0) {
                    rc = merr(m, f, FG_EUNSUPPORTED, n,
                              "platform '%.64s' is not supported (frugal serves ONNX: onnxruntime_onnx)",
                              c->platform);
                }
            }
        } else if (strcmp(n, "backend") == 0) {
            if (!(rc = once(m, &s_back, f, "")) && !(rc = get_str(m, f, n, &c->backend))) {
                if (!c->backend[0]) {
                    free(c->backend);
                    c->backend = NULL;
                } else if (strcmp(c->backend, "onnxruntime") != 0 && strcmp(c->backend, "onnx") != 0 &&
                           strcmp(c->backend, "frugal") != 0) {
                    rc = merr(m, f, FG_EUNSUPPORTED, n,
                              "backend '%.64s' is not supported (frugal serves ONNX: onnxruntime)",
                              c->backend);
                }
            }
        } else if (strcmp(n, "max_batch_size") == 0) {
            if (!(rc = once(m, &s_mbs, f, "")) && !(rc = get_i64(m, f, n, 0, INT32_MAX, &c->max_batch_size))) {
                c->has_max_batch_size = true;
                c->max_batch_size_pos = (fg_config_pos){f->line, f->col};
                s_mbs_node = f;
            }
        } else if (strcmp(n, "input") == 0) {
            c->has_inputs = true;
            rc = map_io_field(m, f, true);
        } else if (strcmp(n, "output") == 0) {
            c->has_outputs = true;
            rc = map_io_field(m, f, false);
        } else if (strcmp(n, "dynamic_batching") == 0) {
            if (!(rc = once(m, &s_db, f, "")) && !(rc = get_msg(m, f, n)) && !(rc = map_batching(m, f)))
                c->has_dynamic_batching = true;
        } else if (strcmp(n, "instance_group") == 0) {
            if (!c->has_instance_group)
                c->instances = 0;
            c->has_instance_group = true;
            FOR_VALUES(v, f) {
                char path[PATH_MAX_LEN];
                join_idx(path, "", "instance_group", c->n_groups);
                if ((rc = get_msg(m, v, path)) < 0)
                    break;
                if (c->n_groups >= FG_CONFIG_MAX_GROUPS) {
                    rc = merr(m, v, FG_EUNSUPPORTED, path, "more than %d instance groups", FG_CONFIG_MAX_GROUPS);
                    break;
                }
                fg_config_group *g = &c->groups[c->n_groups++];
                if ((rc = map_group(m, v, path, g)) < 0)
                    break;
                if (c->instances + g->count > FG_CONFIG_MAX_INSTANCES) {
                    rc = merr(m, v, FG_EUNSUPPORTED, path, "more than %d instances in all", FG_CONFIG_MAX_INSTANCES);
                    break;
                }
                c->instances += g->count;
            }
        } else if (strcmp(n, "version_policy") == 0) {
            if (!(rc = once(m, &s_vp, f, "")) && !(rc = get_msg(m, f, n)) && !(rc = map_version_policy(m, f)))
                c->has_version_policy = true;
        } else if (strcmp(n, "model_warmup") == 0) {
            c->has_model_warmup = true;
            FOR_VALUES(v, f) {
                char path[PATH_MAX_LEN];
                join_idx(path, "", "model_warmup", c->n_warmup);
                if ((rc = get_msg(m, v, path)) < 0)
                    break;
                if (c->n_warmup >= FG_CONFIG_MAX_WARMUP) {
                    rc = merr(m, v, FG_EUNSUPPORTED, path, "more than %d warmup samples", FG_CONFIG_MAX_WARMUP);
                    break;
                }
                fg_config_warmup *w = &c->warmup[c->n_warmup++];
                for (int k = 0; k < FG_CONFIG_MAX_IO; k++)
                    w->inputs[k].rank = -1;
                w->pos = (fg_config_pos){v->line, v->col};
                if ((rc = map_warmup(m, v, path, w)) < 0)
                    break;
            }
        } else if (strcmp(n, "response_cache") == 0) {
            const node *s_en = NULL;
            if ((rc = once(m, &s_rc, f, "")) < 0 || (rc = get_msg(m, f, n)) < 0)
                break;
            c->has_response_cache = true;
            for (node *g = f->first; g && rc == 0; g = g->next) {
                if (strcmp(g->name, "enable") == 0) {
                    if (!(rc = once(m, &s_en, g, n)))
                        rc = get_bool(m, g, "response_cache.enable", &c->response_cache);
                } else {
                    unknown(m, g, n);
                }
            }
        } else if (strcmp(n, "parameters") == 0) {
            size_t idx = 0;
            FOR_VALUES(v, f) {
                char path[PATH_MAX_LEN];
                join_idx(path, "", "parameters", idx++);
                if ((rc = get_msg(m, v, path)) < 0 || (rc = map_param(m, v, path)) < 0)
                    break;
            }
        } else {
            bool known = false;
            for (size_t k = 0; k < sizeof UNSUPPORTED_TOP / sizeof UNSUPPORTED_TOP[0]; k++)
                known = known || strcmp(n, UNSUPPORTED_TOP[k]) == 0;
            if (known)
                unsupported(m, f, "");
            else
                unknown(m, f, "");
        }
    }
    if (rc < 0)
        return rc;
    if (c->n_groups == 0) /* `instance_group: []` is no group at all: the default single instance */
        c->instances = 1;
    /* Triton: every preferred size must fit max_batch_size (checked here when the file sets it, by
     * completion when it is derived) */
    if (c->has_max_batch_size && c->max_batch_size > 0) {
        const fg_config_batching *b = &c->batching;
        for (int k = 0; k < b->n_preferred; k++)
            if (b->preferred[k] > c->max_batch_size)
                return fg_err_set(m->e, FG_EINVAL,
                                  "%s:%d:%d: dynamic_batching.preferred_batch_size: %lld is larger than "
                                  "max_batch_size %lld (%d:%d)",
                                  m->label, b->preferred_pos[k].line, b->preferred_pos[k].col,
                                  (long long)b->preferred[k], (long long)c->max_batch_size, s_mbs_node->line,
                                  s_mbs_node->col);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------------------------------- */

void fg_model_config_init(fg_model_config *c) {
    memset(c, 0, sizeof *c);
    for (int k = 0; k < FG_CONFIG_MAX_IO; k++) {
        c->inputs[k].rank = c->outputs[k].rank = -1;
        c->inputs[k].model_index = c->outputs[k].model_index = -1;
        c->inputs[k].full_rank = c->outputs[k].full_rank = -1;
    }
    c->instances = 1;
    c->version_policy.kind = FG_VERSIONS_LATEST;
    c->version_policy.num_versions = 1;
}

void fg_model_config_free(fg_model_config *c) {
    if (!c)
        return;
    free(c->label);
    free(c->name);
    free(c->platform);
    free(c->backend);
    for (int k = 0; k < FG_CONFIG_MAX_IO; k++) {
        free(c->inputs[k].name);
        free(c->outputs[k].name);
    }
    for (int k = 0; k < FG_CONFIG_MAX_GROUPS; k++)
        free(c->groups[k].name);
    for (int k = 0; k < FG_CONFIG_MAX_WARMUP; k++) {
        free(c->warmup[k].name);
        for (int j = 0; j < FG_CONFIG_MAX_IO; j++) {
            free(c->warmup[k].inputs[j].key);
            free(c->warmup[k].inputs[j].file);
        }
    }
    for (int k = 0; k < FG_CONFIG_MAX_PARAMS; k++) {
        free(c->params[k].key);
        free(c->params[k].value);
    }
    fg_model_config_init(c);
}

int fg_model_config_parse(const char *text, size_t len, const char *label, fg_model_config *c,
                          fg_config_warn_fn warn, void *warn_ctx, fg_err *e) {
    fg_model_config_init(c);
    if (!label)
        label = "config.pbtxt";
    if (len > FG_CONFIG_MAX_SIZE)
        return fg_err_set(e, FG_EFORMAT, "%s: %zu bytes is larger than the %u-byte limit", label, len,
                          FG_CONFIG_MAX_SIZE);
    if (len && !text)
        return fg_err_set(e, FG_EINVAL, "%s: no text", label);
    parser p = {.s = text, .n = len, .line = 1, .label = label, .e = e};
    node root = {.kind = N_MSG, .line = 1, .col = 1};
    int rc = parse_fields(&p, &root, 0, 0);
    if (rc == 0) {
        mapper m = {.c = c, .label = label, .e = e, .warn = warn, .ctx = warn_ctx};
        rc = map_root(&m, &root);
    }
    node_free(root.first);
    if (rc < 0) {
        fg_model_config_free(c);
        return rc;
    }
    c->label = fg_xstrdup(label);
    return 0;
}

int fg_model_config_load(const char *path, fg_model_config *c, fg_config_warn_fn warn, void *warn_ctx,
                         fg_err *e) {
    fg_model_config_init(c);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fg_err_set(e, FG_EIO, "%s: %s", path, strerror(errno));
    char *buf = malloc(FG_CONFIG_MAX_SIZE + 1);
    if (!buf) {
        fclose(f);
        return fg_err_set(e, FG_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, FG_CONFIG_MAX_SIZE + 1, f);
    int bad = ferror(f);
    int err = errno;
    fclose(f);
    int rc;
    if (bad)
        rc = fg_err_set(e, FG_EIO, "%s: %s", path, strerror(err));
    else if (n > FG_CONFIG_MAX_SIZE)
        rc = fg_err_set(e, FG_EFORMAT, "%s: larger than the %u-byte limit", path, FG_CONFIG_MAX_SIZE);
    else
        rc = fg_model_config_parse(buf, n, path, c, warn, warn_ctx, e);
    free(buf);
    return rc;
}

const char *fg_model_config_param(const fg_model_config *c, const char *key) {
    for (size_t k = 0; k < c->n_params; k++)
        if (strcmp(c->params[k].key, key) == 0)
            return c->params[k].value;
    return NULL;
}

/* ---------------------------------------------------------------------------------------------------
 * Completion
 * ------------------------------------------------------------------------------------------------- */

/* Completion messages say where the entry is when it came from the file. */
static int cerr(const fg_model_config *c, fg_config_pos pos, fg_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int cerr(const fg_model_config *c, fg_config_pos pos, fg_err *e, int code, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->label && pos.line > 0)
        return fg_err_set(e, code, "%s:%d:%d: %s", c->label, pos.line, pos.col, msg);
    if (c->label)
        return fg_err_set(e, code, "%s: %s", c->label, msg);
    return fg_err_set(e, code, "%s", msg);
}

static const char *fmt_dims(const int64_t *dims, int rank, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
    return buf;
}

static const char *fmt_model_dims(const fg_tensor_info *t, char *buf, size_t cap) {
    if (t->rank < 0)
        return "unknown";
    return fmt_dims(t->dims, t->rank > FG_MAX_RANK ? FG_MAX_RANK : t->rank, buf, cap);
}

static int complete_ios(fg_model_config *c, bool is_input, const fg_tensor_info *mt, size_t n_mt, fg_err *e) {
    const char *what = is_input ? "input" : "output";
    fg_config_io *arr = is_input ? c->inputs : c->outputs;
    size_t *n = is_input ? &c->n_inputs : &c->n_outputs;
    int batch = c->max_batch_size > 0 ? 1 : 0;
    char b1[160], b2[160];
    /* the model's side of batching: with max_batch_size > 0 every tensor needs a dynamic dim 0 (outputs
     * whose shape the model does not declare are given the benefit of the doubt) */
    if (batch) {
        for (size_t j = 0; j < n_mt; j++) {
            const fg_tensor_info *t = &mt[j];
            if (!is_input && t->rank < 0)
                continue;
            if (t->rank < 1 || t->dims[0] >= 0)
                return cerr(c, c->max_batch_size_pos, e, FG_ESHAPE,
                            "%s '%s': max_batch_size %lld needs a dynamic first dimension, but the model's shape is %s",
                            what, t->name, (long long)c->max_batch_size, fmt_model_dims(t, b1, sizeof b1));
        }
    }
    bool covered[FG_CONFIG_MAX_IO] = {0};
    for (size_t i = 0; i < *n; i++) {
        fg_config_io *io = &arr[i];
        size_t j = 0;
        while (j < n_mt && strcmp(mt[j].name, io->name) != 0)
            j++;
        if (j == n_mt) {
            size_t k = 0;
            b1[0] = 0;
            for (size_t q = 0; q < n_mt && k < sizeof b1; q++)
                k += (size_t)snprintf(b1 + k, sizeof b1 - k, "%s'%s'", q ? ", " : "", mt[q].name);
            return cerr(c, io->pos, e, FG_ENOTFOUND, "%s '%s' is not an %s of the model (it has %s)", what,
                        io->name, what, n_mt ? b1 : "none");
        }
        const fg_tensor_info *t = &mt[j];
        covered[j] = true;
        io->model_index = (int)j;
        if (io->dtype == FG_DT_UNDEFINED)
            io->dtype = t->dtype;
        else if (t->dtype != FG_DT_UNDEFINED && t->dtype != io->dtype)
            return cerr(c, io->pos, e, FG_EDTYPE, "%s '%s': config data_type %s does not match the model's %s", what,
                        io->name, fg_config_dtype_name(io->dtype), fg_config_dtype_name(t->dtype));
        int mrank = t->rank > FG_MAX_RANK ? FG_MAX_RANK : t->rank;
        if (io->has_reshape) {
            /* dims are the request's shape, reshape the model's: same element count where both are fixed */
            if (io->rank < 0)
                return cerr(c, io->pos, e, FG_EINVAL, "%s '%s': reshape needs dims", what, io->name);
            int64_t a = 1, b = 1;
            bool fixed = true;
            for (int k = 0; k < io->rank; k++)
                fixed &= io->dims[k] >= 0, a *= io->dims[k] > 0 ? io->dims[k] : 1;
            for (int k = 0; k < io->reshape_rank; k++)
                fixed &= io->reshape_dims[k] >= 0, b *= io->reshape_dims[k] > 0 ? io->reshape_dims[k] : 1;
            if (fixed && a != b)
                return cerr(c, io->pos, e, FG_ESHAPE, "%s '%s': dims %s and reshape %s differ in size", what,
                            io->name, fmt_dims(io->dims, io->rank, b1, sizeof b1),
                            fmt_dims(io->reshape_dims, io->reshape_rank, b2, sizeof b2));
        }
        const int64_t *cdims = io->has_reshape ? io->reshape_dims : io->dims;
        int crank = io->has_reshape ? io->reshape_rank : io->rank;
        if (io->rank < 0) {
            if (mrank >= batch) {
                io->rank = mrank - batch;
                memcpy(io->dims, t->dims + batch, sizeof(int64_t) * (size_t)io->rank);
            }
        } else if (mrank >= 0) {
            bool ok = crank == mrank - batch;
            for (int k = 0; ok && k < crank; k++) {
                int64_t cd = cdims[k], md = t->dims[k + batch];
                if (cd >= 0 && md < 0)
                    io->narrowed = true;
                else if (cd >= 0 && cd != md)
                    ok = false;
            }
            if (!ok)
                return cerr(c, io->pos, e, FG_ESHAPE,
                            "%s '%s': config %s %s do not match the model's %s with max_batch_size %lld", what,
                            io->name, io->has_reshape ? "reshape" : "dims", fmt_dims(cdims, crank, b1, sizeof b1),
                            fmt_model_dims(t, b2, sizeof b2),
                            (long long)c->max_batch_size);
        }
        if (io->rank >= 0) {
            if (io->rank + batch > FG_MAX_RANK)
                return cerr(c, io->pos, e, FG_EUNSUPPORTED, "%s '%s': more than %d dimensions with the batch dimension",
                            what, io->name, FG_MAX_RANK);
            io->full_rank = io->rank + batch;
            if (batch)
                io->full_dims[0] = -1;
            for (int k = 0; k < io->rank; k++)
                io->full_dims[k + batch] =
                    io->dims[k] >= 0 || mrank < 0 || io->has_reshape ? io->dims[k] : t->dims[k + batch];
        }
    }
    for (size_t j = 0; j < n_mt; j++) {
        if (covered[j])
            continue;
        if (*n >= FG_CONFIG_MAX_IO)
            return cerr(c, (fg_config_pos){0, 0}, e, FG_EUNSUPPORTED, "the model has more than %d %ss",
                        FG_CONFIG_MAX_IO,
                        what);
        const fg_tensor_info *t = &mt[j];
        fg_config_io *io = &arr[(*n)++];
        io->name = fg_xstrdup(t->name);
        io->dtype = t->dtype;
        io->from_model = true;
        io->model_index = (int)j;
        int mrank = t->rank > FG_MAX_RANK ? FG_MAX_RANK : t->rank;
        if (mrank >= batch) {
            io->rank = mrank - batch;
            memcpy(io->dims, t->dims + batch, sizeof(int64_t) * (size_t)io->rank);
            io->full_rank = mrank;
            memcpy(io->full_dims, t->dims, sizeof(int64_t) * (size_t)mrank);
            if (batch)
                io->full_dims[0] = -1;
        }
    }
    return 0;
}

int fg_model_config_complete(fg_model_config *c, const char *model_name, const fg_tensor_info *in,
                             size_t n_in, const fg_tensor_info *out, size_t n_out, fg_config_warn_fn warn,
                             void *warn_ctx, fg_err *e) {
    char wbuf[768];
    const fg_config_pos nopos = {0, 0};
    if (n_in > FG_CONFIG_MAX_IO || n_out > FG_CONFIG_MAX_IO)
        return cerr(c, nopos, e, FG_EUNSUPPORTED, "the model has %zu inputs and %zu outputs; at most %d of each", n_in,
                    n_out, FG_CONFIG_MAX_IO);
    if (c->name) {
        if (model_name && strcmp(c->name, model_name) != 0)
            return cerr(c, nopos, e, FG_EINVAL, "name '%s' does not match the model's directory '%s'", c->name,
                        model_name);
    } else {
        if (!model_name || !model_name[0])
            return cerr(c, nopos, e, FG_EINVAL, "no model name");
        c->name = fg_xstrdup(model_name);
    }
    if (!c->has_max_batch_size) {
        bool batchable = n_in > 0;
        for (size_t j = 0; j < n_in; j++)
            batchable = batchable && in[j].rank >= 1 && in[j].dims[0] < 0;
        for (size_t j = 0; j < n_out; j++)
            batchable = batchable && (out[j].rank < 0 || (out[j].rank >= 1 && out[j].dims[0] < 0));
        c->max_batch_size = batchable ? FG_CONFIG_DEFAULT_MAX_BATCH : 0;
        c->max_batch_size_derived = true;
    }
    int rc = complete_ios(c, true, in, n_in, e);
    if (rc == 0)
        rc = complete_ios(c, false, out, n_out, e);
    if (rc < 0)
        return rc;
    fg_config_batching *b = &c->batching;
    if (c->max_batch_size > 0) {
        for (int k = 0; k < b->n_preferred; k++)
            if (b->preferred[k] > c->max_batch_size)
                return cerr(c, b->preferred_pos[k], e, FG_EINVAL,
                            "dynamic_batching.preferred_batch_size: %lld is larger than max_batch_size %lld%s",
                            (long long)b->preferred[k], (long long)c->max_batch_size,
                            c->max_batch_size_derived ? " (the default for a batchable model; set max_batch_size)"
                                                      : "");
    } else if (c->has_dynamic_batching && warn) {
        snprintf(wbuf, sizeof wbuf, "%s: dynamic_batching has no effect: max_batch_size is 0",
                 c->label ? c->label : "config.pbtxt");
        warn(warn_ctx, wbuf);
    }
    /* warmup samples must fit the (completed) inputs */
    for (size_t s = 0; s < c->n_warmup; s++) {
        const fg_config_warmup *w = &c->warmup[s];
        if (c->max_batch_size > 0 ? w->batch_size > c->max_batch_size : w->batch_size != 1)
            return cerr(c, w->pos, e, FG_EINVAL, "model_warmup[%zu]: batch_size %u is out of range (1..%lld)", s,
                        w->batch_size, (long long)(c->max_batch_size > 0 ? c->max_batch_size : 1));
        for (size_t k = 0; k < w->n_inputs; k++) {
            const fg_config_warmup_input *wi = &w->inputs[k];
            size_t i = 0;
            while (i < c->n_inputs && strcmp(c->inputs[i].name, wi->key) != 0)
                i++;
            if (i == c->n_inputs)
                return cerr(c, w->pos, e, FG_ENOTFOUND, "model_warmup[%zu]: '%s' is not an input of the model", s,
                            wi->key);
            const fg_config_io *io = &c->inputs[i];
            if (io->dtype != FG_DT_UNDEFINED && wi->dtype != io->dtype)
                return cerr(c, w->pos, e, FG_EDTYPE, "model_warmup[%zu]: input '%s' is %s, the model's is %s", s,
                            wi->key, fg_config_dtype_name(wi->dtype), fg_config_dtype_name(io->dtype));
            bool ok = io->rank < 0 || io->rank == wi->rank;
            for (int d = 0; ok && io->rank >= 0 && d < wi->rank; d++)
                ok = io->dims[d] < 0 || io->dims[d] == wi->dims[d];
            if (!ok) {
                char b1[160], b2[160];
                return cerr(c, w->pos, e, FG_ESHAPE, "model_warmup[%zu]: input '%s' dims %s do not fit the input's %s",
                            s, wi->key, fmt_dims(wi->dims, wi->rank, b1, sizeof b1),
                            fmt_dims(io->dims, io->rank, b2, sizeof b2));
            }
        }
        for (size_t i = 0; i < c->n_inputs; i++) {
            size_t k = 0;
            while (k < w->n_inputs && strcmp(c->inputs[i].name, w->inputs[k].key) != 0)
                k++;
            if (k == w->n_inputs && !c->inputs[i].optional)
                return cerr(c, w->pos, e, FG_EINVAL, "model_warmup[%zu]: no data for input '%s'", s, c->inputs[i].name);
        }
    }
    return 0;
}
