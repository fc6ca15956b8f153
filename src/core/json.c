/* json.c - strict RFC 8259 reader into an fg_json DOM (see json.h), and two small writer helpers.
 * Recursive descent bounded by FG_JSON_MAX_DEPTH; every error names the byte offset where the input
 * stopped making sense and what was expected there. Allocations are input-sized, so they use plain
 * malloc and fail the parse with FG_ENOMEM rather than aborting. */
#include "core/json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *s, *p, *end;
    fg_err *e;
    int depth;
} parser;

static size_t off(const parser *ps, const unsigned char *at) { return (size_t)(at - ps->s); }

/* Describes the byte at `at` for an error message: 'x', byte 0xNN, or end of input. */
static const char *found(const parser *ps, const unsigned char *at, char buf[16]) {
    if (at >= ps->end)
        return "end of input";
    if (*at >= 0x21 && *at < 0x7f)
        snprintf(buf, 16, "'%c'", *at);
    else
        snprintf(buf, 16, "byte 0x%02x", *at);
    return buf;
}

static int expected(parser *ps, const unsigned char *at, const char *what) {
    char buf[16];
    return fg_err_set(ps->e, FG_EINVAL, "byte %zu: expected %s, found %s", off(ps, at), what, found(ps, at, buf));
}

static int nomem(parser *ps) {
    return fg_err_set(ps->e, FG_ENOMEM, "byte %zu: out of memory", off(ps, ps->p));
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

/* Frees what v owns (not v itself). Recursion is bounded by the parse depth limit. */
static void clear(fg_json *v) {
    switch (v->type) {
    case FG_JSON_STRING: free(v->str); break;
    case FG_JSON_OBJECT:
        for (size_t i = 0; i < v->n; i++)
            free(v->keys[i]);
        free(v->keys);
        /* fall through */
    case FG_JSON_ARRAY:
        for (size_t i = 0; i < v->n; i++)
            clear(&v->items[i]);
        free(v->items);
        break;
    default: break;
    }
    memset(v, 0, sizeof *v);
}

static int hex4(const unsigned char *p, uint32_t *out) {
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        x <<= 4;
        if (c >= '0' && c <= '9')
            x |= c - '0';
        else if (c >= 'a' && c <= 'f')
            x |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            x |= c - 'A' + 10;
        else
            return -1;
    }
    *out = x;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the well-formed UTF-8 sequence at p (lead byte >= 0x80), or 0: no overlongs, no encoded
 * surrogates, nothing above U+10FFFF (RFC 3629 table). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

/* Parses the string starting at the opening quote at ps->p into a malloc'ed NUL-terminated buffer. */
static int parse_string(parser *ps, char **out, size_t *out_len) {
    const unsigned char *start = ps->p + 1, *q = start;
    /* find the closing quote first: escapes never make the text longer, so its span bounds the output */
    while (q < ps->end && *q != '"')
        q += (*q == '\\') ? 2 : 1;
    if (q >= ps->end)
        return expected(ps, ps->end, "'\"' closing the string");
    char *buf = malloc((size_t)(q - start) + 1);
    if (!buf)
        return nomem(ps);
    size_t n = 0;
    const unsigned char *p = start;
    while (p < q) {
        unsigned c = *p;
        if (c < 0x20) {
            fg_err_set(ps->e, FG_EINVAL, "byte %zu: unescaped control character 0x%02x in string", off(ps, p), c);
            goto fail;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(p, q);
            if (!k) {
                fg_err_set(ps->e, FG_EINVAL, "byte %zu: invalid UTF-8 in string", off(ps, p));
                goto fail;
            }
            memcpy(buf + n, p, k);
            n += k;
            p += k;
            continue;
        }
        if (c != '\\') {
            buf[n++] = (char)c;
            p++;
            continue;
        }
        const unsigned char *esc = p;
        p++; /* the scan above guarantees an escaped byte before q */
        switch (*p) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (q - (p + 1) < 4 || hex4(p + 1, &cp) != 0) {
                fg_err_set(ps->e, FG_EINVAL, "byte %zu: expected 4 hex digits after \\u", off(ps, p + 1));
                goto fail;
            }
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fg_err_set(ps->e, FG_EINVAL, "byte %zu: lone low surrogate \\u%04X", off(ps, esc), (unsigned)cp);
                goto fail;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (q - (p + 1) < 6 || p[1] != '\\' || p[2] != 'u' || hex4(p + 3, &lo) != 0 || lo < 0xDC00 ||
                    lo > 0xDFFF) {
                    fg_err_set(ps->e, FG_EINVAL,
                               "byte %zu: high surrogate \\u%04X not followed by a \\uDC00-\\uDFFF low surrogate",
                               off(ps, esc), (unsigned)cp);
                    goto fail;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            n += put_utf8(buf + n, cp);
            break;
        }
        default: {
            char fb[16];
            fg_err_set(ps->e, FG_EINVAL, "byte %zu: expected an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u), found %s",
                       off(ps, p), found(ps, p, fb));
            goto fail;
        }
        }
        p++;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    ps->p = q + 1;
    return 0;
fail:
    free(buf);
    return ps->e ? ps->e->code : FG_EINVAL;
}

static int is_digit(const parser *ps, const unsigned char *p) { return p < ps->end && *p >= '0' && *p <= '9'; }

static int parse_number(parser *ps, fg_json *v) {
    const unsigned char *start = ps->p, *p = ps->p;
    if (p < ps->end && *p == '-')
        p++;
    if (!is_digit(ps, p))
        return expected(ps, p, "digit");
    if (*p == '0')
        p++; /* a leading zero stands alone; what follows is checked by the caller's context */
    else
        while (is_digit(ps, p))
            p++;
    if (p < ps->end && *p == '.') {
        p++;
        if (!is_digit(ps, p))
            return expected(ps, p, "digit after '.'");
        while (is_digit(ps, p))
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < ps->end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(ps, p))
            return expected(ps, p, "digit in exponent");
        while (is_digit(ps, p))
            p++;
    }
    /* strtod needs a terminated copy; the grammar above already holds, so it converts every byte */
    size_t n = (size_t)(p - start);
    char small[64], *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf)
        return nomem(ps);
    memcpy(buf, start, n);
    buf[n] = '\0';
    double x = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    if (isinf(x))
        return fg_err_set(ps->e, FG_EINVAL, "byte %zu: number out of range of a double", off(ps, start));
    v->type = FG_JSON_NUMBER;
    v->num = x;
    ps->p = p;
    return 0;
}

static int parse_value(parser *ps, fg_json *v);

/* Appends a zeroed slot to a growing items array (and keys array when keys is not NULL). */
static fg_json *push(parser *ps, fg_json *v, size_t *cap, int with_key) {
    if (v->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        fg_json *ni = realloc(v->items, nc * sizeof *ni);
        if (!ni)
            return nomem(ps), NULL;
        v->items = ni;
        if (with_key) {
            char **nk = realloc(v->keys, nc * sizeof *nk);
            if (!nk)
                return nomem(ps), NULL;
            v->keys = nk;
        }
        *cap = nc;
    }
    fg_json *slot = &v->items[v->n];
    memset(slot, 0, sizeof *slot);
    return slot;
}

static int parse_array(parser *ps, fg_json *v) {
    v->type = FG_JSON_ARRAY;
    size_t cap = 0;
    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        if (v->n == 0 && ps->p >= ps->end)
            return expected(ps, ps->p, "value or ']'");
        fg_json *slot = push(ps, v, &cap, 0);
        if (!slot)
            return FG_ENOMEM;
        int rc = parse_value(ps, slot);
        v->n++; /* counted even on failure so clear() frees a partial element */
        if (rc != 0)
            return rc;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return 0;
        }
        return expected(ps, ps->p, "',' or ']'");
    }
}

static int parse_object(parser *ps, fg_json *v) {
    v->type = FG_JSON_OBJECT;
    size_t cap = 0;
    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"')
            return expected(ps, ps->p, v->n == 0 ? "string key or '}'" : "string key");
        char *key;
        size_t key_len;
        int rc = parse_string(ps, &key, &key_len);
        if (rc != 0)
            return rc;
        fg_json *slot = push(ps, v, &cap, 1);
        if (!slot) {
            free(key);
            return FG_ENOMEM;
        }
        v->keys[v->n] = key;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            /* count the member so clear() frees the key; its value is still a zeroed null */
            v->n++;
            return expected(ps, ps->p, "':'");
        }
        ps->p++;
        skip_ws(ps);
        rc = parse_value(ps, slot);
        v->n++;
        if (rc != 0)
            return rc;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return 0;
        }
        return expected(ps, ps->p, "',' or '}'");
    }
}

static int literal(parser *ps, const char *word, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (ps->p + i >= ps->end || ps->p[i] != (unsigned char)word[i]) {
            char what[16];
            snprintf(what, sizeof what, "'%s'", word);
            return expected(ps, ps->p + i, what);
        }
    ps->p += n;
    return 0;
}

/* Parses one value at ps->p (whitespace already skipped) into the zeroed v. On failure v may hold
 * partial children; the caller's clear() of the root releases them. */
static int parse_value(parser *ps, fg_json *v) {
    if (ps->p >= ps->end)
        return expected(ps, ps->p, "value");
    switch (*ps->p) {
    case '{':
    case '[': {
        if (ps->depth >= FG_JSON_MAX_DEPTH)
            return fg_err_set(ps->e, FG_EINVAL, "byte %zu: nesting deeper than %d", off(ps, ps->p),
                              FG_JSON_MAX_DEPTH);
        ps->depth++;
        int rc = *ps->p == '{' ? parse_object(ps, v) : parse_array(ps, v);
        ps->depth--;
        return rc;
    }
    case '"': {
        int rc = parse_string(ps, &v->str, &v->len);
        if (rc == 0)
            v->type = FG_JSON_STRING;
        return rc;
    }
    case 't':
        v->type = FG_JSON_BOOL;
        v->boolean = 1;
        return literal(ps, "true", 4);
    case 'f':
        v->type = FG_JSON_BOOL;
        return literal(ps, "false", 5);
    case 'n': return literal(ps, "null", 4);
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return parse_number(ps, v);
        return expected(ps, ps->p, "value");
    }
}

int fg_json_parse(const char *text, size_t len, fg_json **out, fg_err *e) {
    *out = NULL;
    fg_json *root = calloc(1, sizeof *root);
    if (!root)
        return fg_err_set(e, FG_ENOMEM, "out of memory");
    fg_err local = {0};
    parser ps = {.s = (const unsigned char *)text, .p = (const unsigned char *)text,
                 .end = (const unsigned char *)text + len, .e = &local};
    skip_ws(&ps);
    int rc = parse_value(&ps, root);
    if (rc == 0) {
        skip_ws(&ps);
        if (ps.p < ps.end)
            rc = expected(&ps, ps.p, "end of input");
    }
    if (rc != 0) {
        clear(root);
        free(root);
        return fg_err_set(e, local.code ? local.code : rc, "%s", local.msg);
    }
    *out = root;
    return 0;
}

void fg_json_free(fg_json *v) {
    if (!v)
        return;
    clear(v);
    free(v);
}

const fg_json *fg_json_get(const fg_json *obj, const char *key) {
    if (!obj || obj->type != FG_JSON_OBJECT || !key)
        return NULL;
    for (size_t i = obj->n; i-- > 0;)
        if (strcmp(obj->keys[i], key) == 0)
            return &obj->items[i];
    return NULL;
}

const fg_json *fg_json_at(const fg_json *arr, size_t i) {
    if (!arr || arr->type != FG_JSON_ARRAY || i >= arr->n)
        return NULL;
    return &arr->items[i];
}

double fg_json_num(const fg_json *v, double dflt) { return v && v->type == FG_JSON_NUMBER ? v->num : dflt; }

const char *fg_json_str(const fg_json *v, const char *dflt) {
    return v && v->type == FG_JSON_STRING ? v->str : dflt;
}

int fg_json_bool(const fg_json *v, int dflt) { return v && v->type == FG_JSON_BOOL ? v->boolean : dflt; }

size_t fg_json_count(const fg_json *v) {
    return v && (v->type == FG_JSON_ARRAY || v->type == FG_JSON_OBJECT) ? v->n : 0;
}

void fg_json_write_str(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

void fg_json_write_num(FILE *f, double x) {
    if (!isfinite(x)) {
        fputs("null", f);
        return;
    }
    /* the shortest of %.15g and %.17g that reads back as x: 0.1 stays 0.1, every double round-trips */
    char buf[32];
    snprintf(buf, sizeof buf, "%.15g", x);
    if (strtod(buf, NULL) != x)
        snprintf(buf, sizeof buf, "%.17g", x);
    fputs(buf, f);
}
