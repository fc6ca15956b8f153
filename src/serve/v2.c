/* v2.c - KServe v2 / Open Inference Protocol codec (see v2.h).
 * A small hand-written JSON reader: envelopes are walked key by key, "data" arrays are scanned number by
 * number straight into the input's typed buffer (nested arrays flattened row-major), nesting is bounded by
 * FG_V2_MAX_DEPTH so hostile input cannot exhaust the stack. Nothing here keeps pointers into the body. */
#include "serve/v2.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- datatypes ---- */

static const struct {
    const char *name;
    fg_dtype dt;
    size_t size;
} DTYPES[] = {
    {"BOOL", FG_BOOL, 1}, {"UINT8", FG_U8, 1},  {"UINT16", FG_U16, 2}, {"UINT32", FG_U32, 4},
    {"UINT64", FG_U64, 8}, {"INT8", FG_I8, 1},   {"INT16", FG_I16, 2},  {"INT32", FG_I32, 4},
    {"INT64", FG_I64, 8},  {"FP16", FG_F16, 2}, {"FP32", FG_F32, 4},   {"FP64", FG_F64, 8},
    {"BF16", FG_BF16, 2},
};
#define N_DTYPES (sizeof DTYPES / sizeof DTYPES[0])

const char *fg_v2_dtype_name(fg_dtype dt) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].dt == dt)
            return DTYPES[i].name;
    return NULL;
}

fg_dtype fg_v2_dtype_parse(const char *name, size_t len) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strlen(DTYPES[i].name) == len && memcmp(DTYPES[i].name, name, len) == 0)
            return DTYPES[i].dt;
    return FG_DT_UNDEFINED;
}

size_t fg_v2_dtype_size(fg_dtype dt) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (DTYPES[i].dt == dt)
            return DTYPES[i].size;
    return 0;
}

/* float -> IEEE half, round to nearest even (a double from JSON goes through float first: double rounding
 * can differ from a direct conversion in the last bit for rare inputs). */
static uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) { /* subnormal half or zero */
        if (ax < 0x33000000u)
            return (uint16_t)sign;
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(ax >> 23); /* value = m * 2^(E-150); half subnormal unit is 2^-24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1)))
            r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((ax - 0x38000000u) >> 13);
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1)))
        r++;
    return (uint16_t)(sign | r);
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ffu, x;
    if (e == 0) {
        float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    } else if (e == 31) {
        x = sign | 0x7f800000u | (m << 13);
    } else {
        x = sign | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static uint16_t f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static float bf16_to_f32(uint16_t h) {
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- JSON reader ---- */

typedef struct reader {
    const char *s;
    size_t n, i;
    int depth;
    fg_err *e;
} reader;

static void ws(reader *p) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->i++;
    }
}

static int syntax(reader *p, const char *what) {
    if (p->i >= p->n)
        return fg_err_set(p->e, FG_EINVAL, "invalid JSON: unexpected end of input, expected %s", what);
    return fg_err_set(p->e, FG_EINVAL, "invalid JSON at byte %zu: expected %s", p->i, what);
}

/* Consumes c (after whitespace) or fails. */
static int expect(reader *p, char c, const char *what) {
    ws(p);
    if (p->i < p->n && p->s[p->i] == c) {
        p->i++;
        return 0;
    }
    return syntax(p, what);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex4(reader *p, size_t at, unsigned *out) {
    if (at + 4 > p->n)
        return -1;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[at + k]);
        if (h < 0)
            return -1;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return 0;
}

/* Length of the well-formed UTF-8 sequence at s[0, n) (first byte >= 0x80), or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF rejected, as RFC 3629 says). */
static size_t utf8_len(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t k;
    unsigned lo = 0x80, hi = 0xbf;
    if (u[0] >= 0xc2 && u[0] <= 0xdf)
        k = 2;
    else if (u[0] >= 0xe0 && u[0] <= 0xef)
        k = 3, lo = u[0] == 0xe0 ? 0xa0 : 0x80, hi = u[0] == 0xed ? 0x9f : 0xbf;
    else if (u[0] >= 0xf0 && u[0] <= 0xf4)
        k = 4, lo = u[0] == 0xf0 ? 0x90 : 0x80, hi = u[0] == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (n < k || u[1] < lo || u[1] > hi)
        return 0;
    for (size_t j = 2; j < k; j++)
        if (u[j] < 0x80 || u[j] > 0xbf)
            return 0;
    return k;
}

/* Decodes the string at p->i (the opening quote) into dst (may be NULL: measure only) and sets *len.
 * Does not advance p unless advance is set. Rejects control bytes, bad escapes, lone surrogates, \u0000. */
static int string_scan(reader *p, char *dst, size_t *len, bool advance) {
    size_t i = p->i, o = 0;
    if (i >= p->n || p->s[i] != '"')
        return syntax(p, "a string");
    i++;
    for (;;) {
        if (i >= p->n) {
            p->i = i;
            return syntax(p, "'\"' closing the string");
        }
        unsigned char c = (unsigned char)p->s[i];
        if (c == '"') {
            i++;
            break;
        }
        if (c < 0x20) {
            p->i = i;
            return syntax(p, "no control characters in a string");
        }
        if (c >= 0x80) { /* raw UTF-8: must be well-formed, since names and ids are echoed back */
            size_t k = utf8_len(p->s + i, p->n - i);
            if (!k) {
                p->i = i;
                return syntax(p, "valid UTF-8 in a string");
            }
            if (dst)
                memcpy(dst + o, p->s + i, k);
            o += k;
            i += k;
            continue;
        }
        if (c != '\\') {
            if (dst)
                dst[o] = (char)c;
            o++;
            i++;
            continue;
        }
        if (i + 1 >= p->n) {
            p->i = i;
            return syntax(p, "an escape");
        }
        char x = p->s[i + 1];
        const char *map = strchr("\"\\/bfnrt", x);
        if (x && map) {
            static const char out[] = "\"\\/\b\f\n\r\t";
            if (dst)
                dst[o] = out[map - "\"\\/bfnrt"];
            o++;
            i += 2;
            continue;
        }
        unsigned cp;
        if (x != 'u' || hex4(p, i + 2, &cp) < 0) {
            p->i = i;
            return syntax(p, "a valid escape");
        }
        i += 6;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned lo;
            if (i + 1 >= p->n || p->s[i] != '\\' || p->s[i + 1] != 'u' || hex4(p, i + 2, &lo) < 0 || lo < 0xdc00 ||
                lo > 0xdfff) {
                p->i = i;
                return syntax(p, "a low surrogate after a high one");
            }
            i += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            p->i = i - 6;
            return syntax(p, "no lone low surrogate");
        } else if (cp == 0) {
            p->i = i - 6;
            return syntax(p, "no \\u0000 in a string");
        }
        unsigned char u[4];
        size_t k;
        if (cp < 0x80) {
            u[0] = (unsigned char)cp, k = 1;
        } else if (cp < 0x800) {
            u[0] = (unsigned char)(0xc0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3f)), k = 2;
        } else if (cp < 0x10000) {
            u[0] = (unsigned char)(0xe0 | cp >> 12), u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            u[2] = (unsigned char)(0x80 | (cp & 0x3f)), k = 3;
        } else {
            u[0] = (unsigned char)(0xf0 | cp >> 18), u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
            u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (unsigned char)(0x80 | (cp & 0x3f)), k = 4;
        }
        if (dst)
            memcpy(dst + o, u, k);
        o += k;
    }
    *len = o;
    if (advance)
        p->i = i;
    return 0;
}

/* Reads a string into a new NUL-terminated heap copy. */
static int string_alloc(reader *p, char **out) {
    size_t len;
    ws(p);
    int rc = string_scan(p, NULL, &len, false);
    if (rc < 0)
        return rc;
    char *s = malloc(len + 1);
    if (!s)
        return fg_err_set(p->e, FG_ENOMEM, "out of memory reading a string");
    string_scan(p, s, &len, true);
    s[len] = 0;
    *out = s;
    return 0;
}

/* Reads an object key into buf (truncated keys compare unequal to every known key; they are only kept
 * for unknown parameters, which use string_alloc instead). */
#define KEY_MAX 64
static int read_key(reader *p, char key[KEY_MAX], size_t *klen) {
    size_t len;
    ws(p);
    int rc = string_scan(p, NULL, &len, false);
    if (rc < 0)
        return rc;
    if (len >= KEY_MAX) {
        rc = string_scan(p, NULL, &len, true);
        key[0] = 0;
        *klen = 0;
        return expect(p, ':', "':' after a key");
    }
    string_scan(p, key, &len, true);
    key[len] = 0;
    *klen = len;
    return expect(p, ':', "':' after a key");
}

static int literal(reader *p, const char *lit) {
    size_t l = strlen(lit);
    if (p->n - p->i >= l && memcmp(p->s + p->i, lit, l) == 0) {
        p->i += l;
        return 0;
    }
    return syntax(p, "a JSON value");
}

/* A scanned number token. */
typedef struct numtok {
    size_t start, len;
    bool neg, is_int;
    uint64_t mant; /* significant digits as an integer (valid when mant_ok) */
    bool mant_ok;  /* at most 19 significant digits */
    int64_t exp10; /* value = mant * 10^exp10 */
} numtok;

/* Scans a JSON number at p->i (strict grammar: no leading '+', no leading zeros, digits after '.' and
 * 'e'). */
static int scan_number(reader *p, numtok *t) {
    /* locals, not t's fields: stores through t could alias the char loads and force reloads */
    size_t i = p->i, n = p->n, start = i;
    const char *s = p->s;
    bool neg = false, is_int = true, mant_ok = true;
    uint64_t mant = 0;
    int64_t exp10 = 0;
    if (i < n && s[i] == '-')
        neg = true, i++;
    if (i >= n || s[i] < '0' || s[i] > '9') {
        p->i = i;
        return syntax(p, "a number");
    }
    int ndig = 0; /* significant digits folded into mant */
    if (s[i] == '0') {
        i++;
    } else {
        while (i < n && (unsigned)(s[i] - '0') < 10) {
            if (ndig < 19)
                mant = mant * 10 + (uint64_t)(s[i] - '0'), ndig++;
            else
                mant_ok = false, exp10++; /* integer digits beyond 19 still count in the magnitude */
            i++;
        }
    }
    if (i < n && s[i] == '.') {
        is_int = false;
        i++;
        if (i >= n || (unsigned)(s[i] - '0') >= 10) {
            p->i = i;
            return syntax(p, "digits after '.'");
        }
        while (i < n && (unsigned)(s[i] - '0') < 10) {
            if (mant_ok && ndig < 19) {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                exp10--;
                if (mant)
                    ndig++;
            } else if (s[i] != '0') {
                mant_ok = false;
            }
            i++;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        is_int = false;
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i] == '-', i++;
        if (i >= n || (unsigned)(s[i] - '0') >= 10) {
            p->i = i;
            return syntax(p, "digits in the exponent");
        }
        int64_t ev = 0;
        while (i < n && (unsigned)(s[i] - '0') < 10) {
            if (ev < 1000000)
                ev = ev * 10 + (s[i] - '0');
            i++;
        }
        exp10 += eneg ? -ev : ev;
    }
    *t = (numtok){.start = start, .len = i - start, .neg = neg, .is_int = is_int, .mant = mant,
                  .mant_ok = mant_ok, .exp10 = exp10};
    p->i = i;
    return 0;
}

/* Skips any JSON value (bounded depth). */
static int skip_value(reader *p) {
    ws(p);
    if (p->i >= p->n)
        return syntax(p, "a JSON value");
    char c = p->s[p->i];
    if (c == '"') {
        size_t len;
        return string_scan(p, NULL, &len, true);
    }
    if (c == '{' || c == '[') {
        if (++p->depth > FG_V2_MAX_DEPTH)
            return fg_err_set(p->e, FG_EINVAL, "JSON nested deeper than %d levels", FG_V2_MAX_DEPTH);
        char close = c == '{' ? '}' : ']';
        p->i++;
        ws(p);
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            p->depth--;
            return 0;
        }
        for (;;) {
            int rc;
            if (c == '{') {
                char key[KEY_MAX];
                size_t kl;
                if ((rc = read_key(p, key, &kl)) < 0)
                    return rc;
            }
            if ((rc = skip_value(p)) < 0)
                return rc;
            ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if ((rc = expect(p, close, c == '{' ? "',' or '}'" : "',' or ']'")) < 0)
                return rc;
            p->depth--;
            return 0;
        }
    }
    if (c == 't')
        return literal(p, "true");
    if (c == 'f')
        return literal(p, "false");
    if (c == 'n')
        return literal(p, "null");
    numtok t;
    return scan_number(p, &t);
}

/* Iterates an object's members: call with p at '{'; *first set by the caller to true. Returns 1 with
 * the key read (p after ':'), 0 at the end ('}' consumed), <0 on error. */
static int next_member(reader *p, bool *first, char key[KEY_MAX], size_t *klen) {
    ws(p);
    if (*first) {
        *first = false;
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            return 0;
        }
    } else {
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            return 0;
        }
        int rc = expect(p, ',', "',' or '}'");
        if (rc < 0)
            return rc;
    }
    int rc = read_key(p, key, klen);
    return rc < 0 ? rc : 1;
}

/* Same for arrays: returns 1 when an element follows (p at it), 0 at ']' (consumed). */
static int next_element(reader *p, bool *first) {
    ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return 0;
    }
    if (!*first) {
        int rc = expect(p, ',', "',' or ']'");
        if (rc < 0)
            return rc;
        ws(p);
    }
    *first = false;
    return 1;
}

static int open_container(reader *p, char c, const char *what) {
    ws(p);
    if (p->i >= p->n || p->s[p->i] != c)
        return fg_err_set(p->e, FG_EINVAL, "%s must be %s", what, c == '{' ? "an object" : "an array");
    p->i++;
    return 0;
}

/* Reads a JSON boolean (true/false). */
static int read_bool(reader *p, bool *out, const char *what) {
    ws(p);
    if (p->n - p->i >= 4 && memcmp(p->s + p->i, "true", 4) == 0) {
        p->i += 4, *out = true;
        return 0;
    }
    if (p->n - p->i >= 5 && memcmp(p->s + p->i, "false", 5) == 0) {
        p->i += 5, *out = false;
        return 0;
    }
    return fg_err_set(p->e, FG_EINVAL, "%s must be true or false", what);
}

/* Reads a JSON integer in [lo, hi]. */
static int read_int(reader *p, int64_t lo, int64_t hi, int64_t *out, const char *what) {
    ws(p);
    numtok t;
    if (p->i >= p->n || (p->s[p->i] != '-' && (p->s[p->i] < '0' || p->s[p->i] > '9')))
        return fg_err_set(p->e, FG_EINVAL, "%s must be an integer", what);
    int rc = scan_number(p, &t);
    if (rc < 0)
        return rc;
    if (!t.is_int)
        return fg_err_set(p->e, FG_EINVAL, "%s must be an integer, got %.*s", what, (int)(t.len > 40 ? 40 : t.len),
                          p->s + t.start);
    if (!t.mant_ok || t.mant > (uint64_t)INT64_MAX || (t.neg ? -(int64_t)t.mant < lo : (int64_t)t.mant > hi))
        return fg_err_set(p->e, FG_EINVAL, "%s out of range: %.*s", what, (int)(t.len > 40 ? 40 : t.len),
                          p->s + t.start);
    *out = t.neg ? -(int64_t)t.mant : (int64_t)t.mant;
    return 0;
}

/* ---- typed data arrays ---- */

typedef struct dataset {
    fg_dtype dt;
    char *buf;      /* NULL: count only */
    size_t esz;     /* bytes per element */
    size_t n_cap;   /* elements the shape asks for */
    size_t count;   /* elements seen */
    const char *in; /* input name for messages */
} dataset;

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
static const float POW10F[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

static int bad_value(reader *p, dataset *d, const numtok *t, const char *why) {
    return fg_err_set(p->e, FG_EINVAL, "input '%s': value %.*s%s %s %s", d->in, (int)(t->len > 40 ? 40 : t->len),
                      p->s + t->start, t->len > 40 ? "..." : "", why, fg_v2_dtype_name(d->dt));
}

/* Parses the number token as a float/double, correctly rounded. */
static int number_as_float(reader *p, dataset *d, const numtok *t, double *dv, float *fv, bool want_float) {
    if (t->mant_ok) {
        if (want_float && t->mant < (1u << 24) && t->exp10 >= -10 && t->exp10 <= 10) {
            float m = (float)t->mant;
            float v = t->exp10 < 0 ? m / POW10F[-t->exp10] : m * POW10F[t->exp10];
            *fv = t->neg ? -v : v;
            return 0;
        }
        if (!want_float && t->mant < ((uint64_t)1 << 53) && t->exp10 >= -22 && t->exp10 <= 22) {
            double m = (double)t->mant;
            double v = t->exp10 < 0 ? m / POW10[-t->exp10] : m * POW10[t->exp10];
            *dv = t->neg ? -v : v;
            return 0;
        }
        if (t->mant == 0) {
            if (want_float)
                *fv = t->neg ? -0.0f : 0.0f;
            else
                *dv = t->neg ? -0.0 : 0.0;
            return 0;
        }
    }
    if (t->len >= FG_V2_MAX_NUMBER_LEN)
        return fg_err_set(p->e, FG_EINVAL, "input '%s': number of %zu characters is too long (max %d)", d->in,
                          t->len, FG_V2_MAX_NUMBER_LEN - 1);
    char tmp[FG_V2_MAX_NUMBER_LEN];
    memcpy(tmp, p->s + t->start, t->len);
    tmp[t->len] = 0;
    errno = 0;
    if (want_float) {
        float v = strtof(tmp, NULL);
        if (isinf(v))
            return bad_value(p, d, t, "is out of range for");
        *fv = v;
    } else {
        double v = strtod(tmp, NULL);
        if (isinf(v))
            return bad_value(p, d, t, "is out of range for");
        *dv = v;
    }
    return 0;
}

static int data_element(reader *p, dataset *d) {
    ws(p);
    if (p->i >= p->n)
        return syntax(p, "a value");
    char c = p->s[p->i];
    size_t k = d->count++;
    char *dst = d->buf && k < d->n_cap ? d->buf + k * d->esz : NULL;
    if (d->dt == FG_BOOL && (c == 't' || c == 'f')) {
        bool b;
        int rc = read_bool(p, &b, "a BOOL value");
        if (rc < 0)
            return fg_err_set(p->e, FG_EINVAL, "input '%s': expected true, false, 0 or 1 for BOOL", d->in);
        if (dst)
            *dst = (char)b;
        return 0;
    }
    if (c != '-' && (c < '0' || c > '9')) {
        if (c == 'N' || c == 'I')
            return fg_err_set(p->e, FG_EINVAL, "input '%s': %s is not a JSON number", d->in,
                              c == 'N' ? "NaN" : "Infinity");
        if (c == '"')
            return fg_err_set(p->e, FG_EINVAL, "input '%s': strings are not valid %s data", d->in,
                              fg_v2_dtype_name(d->dt));
        if (c == 'n' || c == 't' || c == 'f' || c == '{')
            return fg_err_set(p->e, FG_EINVAL, "input '%s': expected a number for %s at byte %zu", d->in,
                              fg_v2_dtype_name(d->dt), p->i);
        return syntax(p, "a number");
    }
    if (c == '-' && p->i + 1 < p->n && p->s[p->i + 1] == 'I')
        return fg_err_set(p->e, FG_EINVAL, "input '%s': -Infinity is not a JSON number", d->in);
    numtok t;
    int rc = scan_number(p, &t);
    if (rc < 0)
        return rc;
    switch (d->dt) {
    case FG_F32: {
        float v;
        if ((rc = number_as_float(p, d, &t, NULL, &v, true)) < 0)
            return rc;
        if (dst)
            memcpy(dst, &v, 4);
        return 0;
    }
    case FG_F64: {
        double v;
        if ((rc = number_as_float(p, d, &t, &v, NULL, false)) < 0)
            return rc;
        if (dst)
            memcpy(dst, &v, 8);
        return 0;
    }
    case FG_F16:
    case FG_BF16: {
        float v;
        if ((rc = number_as_float(p, d, &t, NULL, &v, true)) < 0)
            return rc;
        uint16_t h = d->dt == FG_F16 ? f32_to_f16(v) : f32_to_bf16(v);
        if (isinf(d->dt == FG_F16 ? f16_to_f32(h) : bf16_to_f32(h)))
            return bad_value(p, d, &t, "is out of range for");
        if (dst)
            memcpy(dst, &h, 2);
        return 0;
    }
    default:
        break;
    }
    /* integer types (and BOOL given as a number) */
    if (!t.is_int)
        return bad_value(p, d, &t, "is not an integer, as needed for");
    /* the token is [-]digits: fold them with an overflow check */
    bool big = false;
    uint64_t m = 0;
    for (size_t k = t.start + (size_t)t.neg; k < t.start + t.len && !big; k++) {
        uint64_t dg = (uint64_t)(p->s[k] - '0');
        if (m > (UINT64_MAX - dg) / 10)
            big = true;
        else
            m = m * 10 + dg;
    }
    int64_t lo = 0;
    uint64_t hi = 0;
    switch (d->dt) {
    case FG_BOOL: lo = 0, hi = 1; break;
    case FG_U8: lo = 0, hi = UINT8_MAX; break;
    case FG_U16: lo = 0, hi = UINT16_MAX; break;
    case FG_U32: lo = 0, hi = UINT32_MAX; break;
    case FG_U64: lo = 0, hi = UINT64_MAX; break;
    case FG_I8: lo = INT8_MIN, hi = INT8_MAX; break;
    case FG_I16: lo = INT16_MIN, hi = INT16_MAX; break;
    case FG_I32: lo = INT32_MIN, hi = INT32_MAX; break;
    case FG_I64: lo = INT64_MIN, hi = INT64_MAX; break;
    default: return fg_err_set(p->e, FG_EINTERNAL, "input '%s': unexpected dtype", d->in);
    }
    bool ok = !big && (t.neg ? (m == 0 || (lo < 0 && m <= (uint64_t)(-(lo + 1)) + 1)) : m <= hi);
    if (!ok)
        return bad_value(p, d, &t, "is out of range for");
    if (!dst)
        return 0;
    int64_t sv = t.neg ? (int64_t)(0 - m) : (int64_t)m;
    switch (d->dt) {
    case FG_BOOL:
    case FG_U8: *(uint8_t *)dst = (uint8_t)m; break;
    case FG_I8: *(int8_t *)dst = (int8_t)sv; break;
    case FG_U16: { uint16_t v = (uint16_t)m; memcpy(dst, &v, 2); break; }
    case FG_I16: { int16_t v = (int16_t)sv; memcpy(dst, &v, 2); break; }
    case FG_U32: { uint32_t v = (uint32_t)m; memcpy(dst, &v, 4); break; }
    case FG_I32: { int32_t v = (int32_t)sv; memcpy(dst, &v, 4); break; }
    case FG_U64: memcpy(dst, &m, 8); break;
    case FG_I64: memcpy(dst, &sv, 8); break;
    default: break;
    }
    return 0;
}

/* Parses a (possibly nested) array of values into d, row-major. */
static int data_array(reader *p, dataset *d) {
    if (++p->depth > FG_V2_MAX_DEPTH)
        return fg_err_set(p->e, FG_EINVAL, "input '%s': data nested deeper than %d levels", d->in, FG_V2_MAX_DEPTH);
    p->i++; /* '[' */
    bool first = true;
    int rc;
    while ((rc = next_element(p, &first)) == 1) {
        if (p->i < p->n && p->s[p->i] == '[')
            rc = data_array(p, d);
        else
            rc = data_element(p, d);
        if (rc < 0)
            return rc;
    }
    p->depth--;
    return rc;
}

/* ---- request decoding ---- */

static void shape_str(char *out, size_t cap, const int64_t *dims, int rank) {
    size_t o = 0;
    o += (size_t)snprintf(out + o, cap - o, "[");
    for (int i = 0; i < rank && o < cap; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (o < cap)
        snprintf(out + o, cap - o, "]");
}

typedef struct binsec {
    const char *ptr;
    size_t len, off;
    bool present; /* Inference-Header-Content-Length was given */
} binsec;

/* Element count and bytes of in's shape; *too_big when they exceed what any body could hold. */
static void size_input(fg_v2_input *in, bool *too_big) {
    size_t esz = fg_v2_dtype_size(in->t.dtype), n = 1;
    *too_big = false;
    for (int i = 0; i < in->t.rank; i++) {
        if (in->t.dims[i] != 0 && n > SIZE_MAX / 2 / esz / (uint64_t)in->t.dims[i])
            *too_big = true;
        else
            n *= (size_t)in->t.dims[i];
    }
    for (int i = 0; i < in->t.rank; i++)
        if (in->t.dims[i] == 0)
            n = 0, *too_big = false;
    in->n_elems = n;
    in->n_bytes = n * esz;
}

/* Parses the JSON "data" array at p->i into a new typed buffer for in. */
static int json_data(reader *p, fg_v2_input *in, const char *label) {
    bool too_big;
    size_input(in, &too_big);
    char shp[200];
    shape_str(shp, sizeof shp, in->t.dims, in->t.rank);
    /* each value takes at least one byte, so a shape larger than the body cannot match: count without a
     * buffer then, for the message */
    dataset d = {.dt = in->t.dtype, .esz = fg_v2_dtype_size(in->t.dtype), .n_cap = in->n_elems, .in = in->name};
    if (!too_big && in->n_elems <= p->n) {
        free(in->t.data);
        in->t.data = malloc(in->n_bytes ? in->n_bytes : 1);
        if (!in->t.data)
            return fg_err_set(p->e, FG_ENOMEM, "%s: out of memory for %zu bytes", label, in->n_bytes);
        d.buf = in->t.data;
    }
    ws(p);
    if (p->i >= p->n || p->s[p->i] != '[')
        return fg_err_set(p->e, FG_EINVAL, "%s: data must be an array", label);
    int rc = data_array(p, &d);
    if (rc < 0)
        return rc;
    if (d.count != in->n_elems || too_big)
        return fg_err_set(p->e, FG_EINVAL, "%s: %zu values for shape %s", label, d.count, shp);
    return 0;
}

static int decode_input(reader *p, fg_v2_input *in, binsec *bin, int idx) {
    char key[KEY_MAX];
    size_t kl;
    bool first = true, have_shape = false, have_dt = false, have_data = false, have_bsize = false, parsed = false;
    size_t data_at = 0;
    int64_t bsize = -1;
    int rc;
    char label[300];
    snprintf(label, sizeof label, "inputs[%d]", idx);
    if ((rc = open_container(p, '{', label)) < 0)
        return rc;
    while ((rc = next_member(p, &first, key, &kl)) == 1) {
        if (!strcmp(key, "name")) {
            if (in->name)
                return fg_err_set(p->e, FG_EINVAL, "%s: duplicate key 'name'", label);
            ws(p);
            if (p->i >= p->n || p->s[p->i] != '"')
                return fg_err_set(p->e, FG_EINVAL, "%s: name must be a string", label);
            if ((rc = string_alloc(p, &in->name)) < 0)
                return rc;
            snprintf(label, sizeof label, "input '%s'", in->name);
        } else if (!strcmp(key, "datatype")) {
            if (have_dt)
                return fg_err_set(p->e, FG_EINVAL, "%s: duplicate key 'datatype'", label);
            ws(p);
            char dn[KEY_MAX];
            size_t dl;
            if (p->i >= p->n || p->s[p->i] != '"' || string_scan(p, NULL, &dl, false) < 0)
                return fg_err_set(p->e, FG_EINVAL, "%s: datatype must be a string", label);
            if (dl >= KEY_MAX)
                return fg_err_set(p->e, FG_EINVAL, "%s: unknown datatype", label);
            string_scan(p, dn, &dl, true);
            dn[dl] = 0;
            if (!strcmp(dn, "BYTES"))
                return fg_err_set(p->e, FG_EUNSUPPORTED, "%s: datatype BYTES is not supported", label);
            in->t.dtype = fg_v2_dtype_parse(dn, dl);
            if (in->t.dtype == FG_DT_UNDEFINED)
                return fg_err_set(p->e, FG_EINVAL, "%s: unknown datatype '%s'", label, dn);
            have_dt = true;
        } else if (!strcmp(key, "shape")) {
            if (have_shape)
                return fg_err_set(p->e, FG_EINVAL, "%s: duplicate key 'shape'", label);
            if ((rc = open_container(p, '[', "shape")) < 0)
                return fg_err_set(p->e, FG_EINVAL, "%s: shape must be an array", label);
            bool f2 = true;
            while ((rc = next_element(p, &f2)) == 1) {
                if (in->t.rank >= FG_MAX_RANK)
                    return fg_err_set(p->e, FG_EINVAL, "%s: shape has more than %d dimensions", label, FG_MAX_RANK);
                fg_err tmp = {0};
                reader q = *p;
                q.e = &tmp;
                if (read_int(&q, 0, INT64_MAX, &in->t.dims[in->t.rank], "dim") < 0)
                    return fg_err_set(p->e, FG_EINVAL, "%s: shape must hold non-negative integers", label);
                p->i = q.i;
                in->t.rank++;
            }
            if (rc < 0)
                return rc;
            have_shape = true;
        } else if (!strcmp(key, "data")) {
            if (have_data)
                return fg_err_set(p->e, FG_EINVAL, "%s: duplicate key 'data'", label);
            have_data = true;
            ws(p);
            data_at = p->i;
            if (in->name && have_dt && have_shape) /* the usual order: parse straight into the buffer */
                rc = json_data(p, in, label), parsed = true;
            else /* parsed below once datatype and shape are known */
                rc = skip_value(p);
            if (rc < 0)
                return rc;
        } else if (!strcmp(key, "parameters")) {
            if ((rc = open_container(p, '{', "parameters")) < 0)
                return fg_err_set(p->e, FG_EINVAL, "%s: parameters must be an object", label);
            bool f2 = true;
            char k2[KEY_MAX];
            size_t k2l;
            while ((rc = next_member(p, &f2, k2, &k2l)) == 1) {
                if (!strcmp(k2, "binary_data_size")) {
                    fg_err tmp = {0};
                    reader q = *p;
                    q.e = &tmp;
                    if (have_bsize || read_int(&q, 0, INT64_MAX, &bsize, "x") < 0)
                        return fg_err_set(p->e, FG_EINVAL, "%s: binary_data_size must be one non-negative integer",
                                          label);
                    p->i = q.i;
                    have_bsize = true;
                } else if ((rc = skip_value(p)) < 0) {
                    return rc;
                }
            }
            if (rc < 0)
                return rc;
        } else if ((rc = skip_value(p)) < 0) {
            return rc;
        }
    }
    if (rc < 0)
        return rc;
    if (!in->name)
        return fg_err_set(p->e, FG_EINVAL, "%s: missing 'name'", label);
    if (!have_dt)
        return fg_err_set(p->e, FG_EINVAL, "%s: missing 'datatype'", label);
    if (!have_shape)
        return fg_err_set(p->e, FG_EINVAL, "%s: missing 'shape'", label);
    if (have_data && have_bsize)
        return fg_err_set(p->e, FG_EINVAL, "%s: has both 'data' and parameters.binary_data_size", label);
    if (!have_data && !have_bsize)
        return fg_err_set(p->e, FG_EINVAL, "%s: missing 'data'", label);

    char shp[200];
    shape_str(shp, sizeof shp, in->t.dims, in->t.rank);
    bool too_big;
    size_input(in, &too_big);

    if (have_bsize) {
        if (!bin->present)
            return fg_err_set(p->e, FG_EINVAL,
                              "%s: binary_data_size given but the request has no Inference-Header-Content-Length",
                              label);
        if ((uint64_t)bsize != in->n_bytes || too_big)
            return fg_err_set(p->e, FG_EINVAL, "%s: binary_data_size %lld, but shape %s of %s needs %zu bytes",
                              label, (long long)bsize, shp, fg_v2_dtype_name(in->t.dtype), in->n_bytes);
        if ((uint64_t)bsize > bin->len - bin->off)
            return fg_err_set(p->e, FG_EINVAL, "%s: binary_data_size %lld, but only %zu bytes of binary data remain",
                              label, (long long)bsize, bin->len - bin->off);
        in->t.data = malloc(in->n_bytes ? in->n_bytes : 1);
        if (!in->t.data)
            return fg_err_set(p->e, FG_ENOMEM, "%s: out of memory for %zu bytes", label, in->n_bytes);
        if (in->n_bytes)
            memcpy(in->t.data, bin->ptr + bin->off, in->n_bytes);
        if (in->t.dtype == FG_BOOL)
            for (size_t i = 0; i < in->n_elems; i++)
                if (((unsigned char *)in->t.data)[i] > 1)
                    return fg_err_set(p->e, FG_EINVAL, "%s: BOOL byte %zu is %u, not 0 or 1", label, i,
                                      ((unsigned char *)in->t.data)[i]);
        bin->off += in->n_bytes;
        in->binary = true;
        return 0;
    }

    if (parsed)
        return 0;
    size_t end = p->i;
    p->i = data_at;
    rc = json_data(p, in, label);
    p->i = end;
    return rc;
}

static int decode_output(reader *p, fg_v2_output_req *o, int idx) {
    char key[KEY_MAX];
    size_t kl;
    bool first = true;
    int rc;
    o->binary_data = -1;
    if ((rc = open_container(p, '{', "an outputs entry")) < 0)
        return rc;
    while ((rc = next_member(p, &first, key, &kl)) == 1) {
        if (!strcmp(key, "name")) {
            ws(p);
            if (o->name || p->i >= p->n || p->s[p->i] != '"')
                return fg_err_set(p->e, FG_EINVAL, "outputs[%d]: name must be one string", idx);
            if ((rc = string_alloc(p, &o->name)) < 0)
                return rc;
        } else if (!strcmp(key, "parameters")) {
            if ((rc = open_container(p, '{', "outputs[].parameters")) < 0)
                return rc;
            bool f2 = true;
            char k2[KEY_MAX];
            size_t k2l;
            while ((rc = next_member(p, &f2, k2, &k2l)) == 1) {
                if (!strcmp(k2, "binary_data")) {
                    bool b;
                    if ((rc = read_bool(p, &b, "outputs[].parameters.binary_data")) < 0)
                        return rc;
                    o->binary_data = b;
                } else if ((rc = skip_value(p)) < 0) {
                    return rc;
                }
            }
            if (rc < 0)
                return rc;
        } else if ((rc = skip_value(p)) < 0) {
            return rc;
        }
    }
    if (rc < 0)
        return rc;
    if (!o->name)
        return fg_err_set(p->e, FG_EINVAL, "outputs[%d]: missing 'name'", idx);
    return 0;
}

static int decode_params(reader *p, fg_v2_request *r) {
    bool first = true;
    int rc;
    if ((rc = open_container(p, '{', "parameters")) < 0)
        return rc;
    for (;;) {
        ws(p);
        if (first && p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            return 0;
        }
        if (!first) {
            if (p->i < p->n && p->s[p->i] == '}') {
                p->i++;
                return 0;
            }
            if ((rc = expect(p, ',', "',' or '}'")) < 0)
                return rc;
        }
        first = false;
        char *key = NULL;
        if ((rc = string_alloc(p, &key)) < 0)
            return rc;
        if ((rc = expect(p, ':', "':' after a key")) < 0) {
            free(key);
            return rc;
        }
        if (!strcmp(key, "binary_data_output")) {
            free(key);
            if ((rc = read_bool(p, &r->binary_data_output, "parameters.binary_data_output")) < 0)
                return rc;
        } else if (!strcmp(key, "timeout")) {
            free(key);
            if ((rc = read_int(p, 0, INT64_MAX, &r->timeout_us, "parameters.timeout (microseconds)")) < 0)
                return rc;
        } else {
            ws(p);
            size_t at = p->i;
            if ((rc = skip_value(p)) < 0) {
                free(key);
                return rc;
            }
            fg_v2_param *np = realloc(r->params, (r->n_params + 1) * sizeof *np);
            char *raw = malloc(p->i - at + 1);
            if (!np || !raw) {
                if (np)
                    r->params = np;
                free(raw);
                free(key);
                return fg_err_set(p->e, FG_ENOMEM, "out of memory for parameters");
            }
            r->params = np;
            memcpy(raw, p->s + at, p->i - at);
            raw[p->i - at] = 0;
            r->params[r->n_params++] = (fg_v2_param){.key = key, .raw = raw};
        }
    }
}

static int grow(void **arr, size_t n, size_t *cap, size_t elem) {
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return -1;
    memset((char *)na + *cap * elem, 0, (nc - *cap) * elem);
    *arr = na;
    *cap = nc;
    return 0;
}

static int decode(reader *p, fg_v2_request *r, binsec *bin) {
    char key[KEY_MAX];
    size_t kl;
    bool first = true, have_inputs = false, have_outputs = false, have_params = false;
    int rc;
    ws(p);
    if (p->i >= p->n || p->s[p->i] != '{')
        return fg_err_set(p->e, FG_EINVAL, "request body must be a JSON object");
    p->i++;
    while ((rc = next_member(p, &first, key, &kl)) == 1) {
        if (!strcmp(key, "id")) {
            ws(p);
            if (r->id || p->i >= p->n || p->s[p->i] != '"')
                return fg_err_set(p->e, FG_EINVAL, "id must be one string");
            if ((rc = string_alloc(p, &r->id)) < 0)
                return rc;
        } else if (!strcmp(key, "inputs")) {
            if (have_inputs)
                return fg_err_set(p->e, FG_EINVAL, "duplicate key 'inputs'");
            have_inputs = true;
            if ((rc = open_container(p, '[', "inputs")) < 0)
                return rc;
            bool f2 = true;
            size_t cap = 0;
            while ((rc = next_element(p, &f2)) == 1) {
                if (grow((void **)&r->inputs, r->n_inputs, &cap, sizeof *r->inputs) < 0)
                    return fg_err_set(p->e, FG_ENOMEM, "out of memory for inputs");
                fg_v2_input *in = &r->inputs[r->n_inputs++];
                if ((rc = decode_input(p, in, bin, (int)r->n_inputs - 1)) < 0)
                    return rc;
                for (size_t j = 0; j + 1 < r->n_inputs; j++)
                    if (!strcmp(r->inputs[j].name, in->name))
                        return fg_err_set(p->e, FG_EINVAL, "duplicate input '%s'", in->name);
            }
            if (rc < 0)
                return rc;
        } else if (!strcmp(key, "outputs")) {
            if (have_outputs)
                return fg_err_set(p->e, FG_EINVAL, "duplicate key 'outputs'");
            have_outputs = true;
            if ((rc = open_container(p, '[', "outputs")) < 0)
                return rc;
            bool f2 = true;
            size_t cap = 0;
            while ((rc = next_element(p, &f2)) == 1) {
                if (grow((void **)&r->outputs, r->n_outputs, &cap, sizeof *r->outputs) < 0)
                    return fg_err_set(p->e, FG_ENOMEM, "out of memory for outputs");
                fg_v2_output_req *o = &r->outputs[r->n_outputs++];
                if ((rc = decode_output(p, o, (int)r->n_outputs - 1)) < 0)
                    return rc;
                for (size_t j = 0; j + 1 < r->n_outputs; j++)
                    if (!strcmp(r->outputs[j].name, o->name))
                        return fg_err_set(p->e, FG_EINVAL, "duplicate output '%s'", o->name);
            }
            if (rc < 0)
                return rc;
        } else if (!strcmp(key, "parameters")) {
            if (have_params)
                return fg_err_set(p->e, FG_EINVAL, "duplicate key 'parameters'");
            have_params = true;
            if ((rc = decode_params(p, r)) < 0)
                return rc;
        } else if ((rc = skip_value(p)) < 0) {
            return rc;
        }
    }
    if (rc < 0)
        return rc;
    ws(p);
    if (p->i != p->n)
        return syntax(p, "the end of the JSON");
    if (!have_inputs || r->n_inputs == 0)
        return fg_err_set(p->e, FG_EINVAL, "request has no inputs");
    if (bin->off != bin->len)
        return fg_err_set(p->e, FG_EINVAL, "%zu bytes of binary tensor data left unused", bin->len - bin->off);
    return 0;
}

int fg_v2_decode_request(const char *body, size_t body_len, int64_t header_len, fg_v2_request *r, fg_err *e) {
    memset(r, 0, sizeof *r);
    r->timeout_us = -1;
    binsec bin = {0};
    size_t json_len = body_len;
    if (header_len >= 0) {
        if ((uint64_t)header_len > body_len)
            return fg_err_set(e, FG_EINVAL, "Inference-Header-Content-Length %lld exceeds the body's %zu bytes",
                              (long long)header_len, body_len);
        json_len = (size_t)header_len;
        bin = (binsec){.ptr = body + json_len, .len = body_len - json_len, .present = true};
    }
    reader p = {.s = body, .n = json_len, .e = e};
    int rc = decode(&p, r, &bin);
    if (rc < 0) {
        fg_v2_request_free(r);
        r->timeout_us = -1;
    }
    return rc;
}

void fg_v2_request_free(fg_v2_request *r) {
    if (!r)
        return;
    free(r->id);
    for (size_t i = 0; i < r->n_inputs; i++) {
        free(r->inputs[i].name);
        free(r->inputs[i].t.data);
    }
    free(r->inputs);
    for (size_t i = 0; i < r->n_outputs; i++)
        free(r->outputs[i].name);
    free(r->outputs);
    for (size_t i = 0; i < r->n_params; i++) {
        free(r->params[i].key);
        free(r->params[i].raw);
    }
    free(r->params);
    memset(r, 0, sizeof *r);
}

/* ---- validation ---- */

int fg_v2_validate_inputs(const fg_v2_request *r, const fg_tensor_info *model_in, size_t n_model_in, fg_err *e) {
    for (size_t i = 0; i < r->n_inputs; i++) {
        const fg_v2_input *in = &r->inputs[i];
        const fg_tensor_info *mi = NULL;
        for (size_t j = 0; j < n_model_in && !mi; j++)
            if (!strcmp(model_in[j].name, in->name))
                mi = &model_in[j];
        if (!mi)
            return fg_err_set(e, FG_EINVAL, "unknown input '%s'", in->name);
        if (mi->dtype != in->t.dtype) {
            const char *want = fg_v2_dtype_name(mi->dtype);
            return fg_err_set(e, FG_EINVAL, "input '%s': datatype %s, but the model expects %s", in->name,
                              fg_v2_dtype_name(in->t.dtype), want ? want : "an unsupported type");
        }
        if (mi->rank < 0)
            continue;
        bool ok = mi->rank == in->t.rank;
        for (int d = 0; ok && d < mi->rank; d++)
            if (mi->dims[d] >= 0 && mi->dims[d] != in->t.dims[d])
                ok = false;
        if (!ok) {
            char got[200], want[200];
            shape_str(got, sizeof got, in->t.dims, in->t.rank);
            int64_t wd[FG_MAX_RANK];
            for (int d = 0; d < mi->rank; d++)
                wd[d] = mi->dims[d] < 0 ? -1 : mi->dims[d];
            shape_str(want, sizeof want, wd, mi->rank);
            return fg_err_set(e, FG_EINVAL, "input '%s': shape %s, but the model expects %s", in->name, got, want);
        }
    }
    for (size_t j = 0; j < n_model_in; j++) {
        bool found = false;
        for (size_t i = 0; i < r->n_inputs && !found; i++)
            found = !strcmp(model_in[j].name, r->inputs[i].name);
        if (!found)
            return fg_err_set(e, FG_EINVAL, "missing input '%s'", model_in[j].name);
    }
    return 0;
}

/* ---- encoding ---- */

void fg_v2_buf_free(fg_v2_buf *b) {
    free(b->ptr);
    memset(b, 0, sizeof *b);
}

static int reserve(fg_v2_buf *b, size_t more) {
    if (b->cap - b->len >= more)
        return 0;
    size_t nc = b->cap ? b->cap : 256;
    while (nc - b->len < more) {
        if (nc > SIZE_MAX / 2)
            return FG_ENOMEM;
        nc *= 2;
    }
    char *np = realloc(b->ptr, nc);
    if (!np)
        return FG_ENOMEM;
    b->ptr = np;
    b->cap = nc;
    return 0;
}

static int put(fg_v2_buf *b, const char *s, size_t n) {
    if (reserve(b, n) < 0)
        return FG_ENOMEM;
    memcpy(b->ptr + b->len, s, n);
    b->len += n;
    return 0;
}

static int puts_(fg_v2_buf *b, const char *s) { return put(b, s, strlen(s)); }

static int put_str(fg_v2_buf *b, const char *s) {
    size_t n = strlen(s);
    if (reserve(b, n * 6 + 2) < 0)
        return FG_ENOMEM;
    char *o = b->ptr + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *o++ = '\\', *o++ = (char)c;
        } else if (c < 0x20) {
            o += sprintf(o, "\\u%04x", c);
        } else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->ptr);
    return 0;
}

int fg_v2_buf_append(fg_v2_buf *b, const char *s, size_t n) { return put(b, s, n); }

int fg_v2_buf_puts(fg_v2_buf *b, const char *s) { return puts_(b, s); }

int fg_v2_buf_append_json_str(fg_v2_buf *b, const char *s) { return put_str(b, s); }

int fg_v2_buf_printf(fg_v2_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n + 1) < 0)
        return FG_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* Writes an unsigned integer in decimal at o; returns the end. */
static char *u64_to(char *o, uint64_t v) {
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (k)
        *o++ = tmp[--k];
    return o;
}

static char *i64_to(char *o, int64_t v) {
    if (v < 0) {
        *o++ = '-';
        return u64_to(o, 0 - (uint64_t)v);
    }
    return u64_to(o, (uint64_t)v);
}

/* v * 10^k for k in about [-60, 60], with at most two roundings. */
static double scale10(double v, int k) {
    while (k > 22)
        v *= 1e22, k -= 22;
    while (k < -22)
        v /= 1e22, k += 22;
    return k >= 0 ? v * POW10[k] : v / POW10[-k];
}

/* Writes a float32 value (finite, not integral below 2^24) exactly as printf's "%.9g" would, without
 * printf: 9 significant digits from double arithmetic, whose error (< 1e-7 of the last digit) can only
 * matter within 1e-6 of a rounding tie, where printf decides. Returns the end. */
static char *f32_to(char *o, double v) {
    char *start = o;
    double a = fabs(v);
    if (a < 1e-38 || a > 3.5e38)
        return o + sprintf(o, "%.9g", v);
    int e = (int)floor(log10(a));
    double s = scale10(a, 8 - e);
    if (s < 1e8)
        s = scale10(a, 8 - --e);
    else if (s >= 1e9)
        s = scale10(a, 8 - ++e);
    double fl = floor(s), frac = s - fl;
    if (fabs(frac - 0.5) < 1e-6 || fl < 1e8 || fl >= 1e9)
        return start + sprintf(start, "%.9g", v);
    uint64_t m = (uint64_t)fl + (frac > 0.5);
    if (m == 1000000000u)
        m = 100000000u, e++;
    char d[9];
    for (int i = 8; i >= 0; i--, m /= 10)
        d[i] = (char)('0' + m % 10);
    int nd = 9;
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    if (v < 0)
        *o++ = '-';
    if (e < -4 || e >= 9) { /* d.ddde±XX */
        *o++ = d[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        *o++ = 'e';
        *o++ = e < 0 ? '-' : '+';
        int ae = e < 0 ? -e : e;
        if (ae >= 10) {
            *o++ = (char)('0' + ae / 10);
            *o++ = (char)('0' + ae % 10);
        } else {
            *o++ = '0';
            *o++ = (char)('0' + ae);
        }
    } else if (e >= 0) { /* ddd.ddd */
        for (int i = 0; i <= e; i++)
            *o++ = i < nd ? d[i] : '0';
        if (nd > e + 1) {
            *o++ = '.';
            memcpy(o, d + e + 1, (size_t)(nd - e - 1));
            o += nd - e - 1;
        }
    } else { /* 0.000ddd */
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -e - 1; i++)
            *o++ = '0';
        memcpy(o, d, (size_t)nd);
        o += nd;
    }
    return o;
}

static char *float_to(char *o, double v, bool f64) {
    if (!isfinite(v)) {
        memcpy(o, "null", 4);
        return o + 4;
    }
    if (fabs(v) < 16777216.0 && v == (double)(int64_t)v && !(v == 0 && signbit(v)))
        return i64_to(o, (int64_t)v); /* integral: exact, no printf */
    return f64 ? o + sprintf(o, "%.17g", v) : f32_to(o, v);
}

/* Tests only: writes v as the response encoder does ("%.9g" for float32) into buf (>= 32 bytes). */
size_t fg_v2_test_format_f32(char *buf, float v) {
    char *e = float_to(buf, v, false);
    *e = 0;
    return (size_t)(e - buf);
}

static int put_shape(fg_v2_buf *b, const int64_t *dims, int rank) {
    if (reserve(b, (size_t)rank * 22 + 4) < 0)
        return FG_ENOMEM;
    char *o = b->ptr + b->len;
    *o++ = '[';
    for (int i = 0; i < rank; i++) {
        if (i)
            *o++ = ',';
        o = i64_to(o, dims[i] < 0 ? -1 : dims[i]);
    }
    *o++ = ']';
    b->len = (size_t)(o - b->ptr);
    return 0;
}

static size_t n_elems(const fg_tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->dims[i];
    return n;
}

static int put_data(fg_v2_buf *b, const fg_tensor *t) {
    size_t n = n_elems(t);
    const char *src = t->data;
    if (reserve(b, n * 26 + 2) < 0) /* the widest element (%.17g or INT64) plus a comma */
        return FG_ENOMEM;
    char *o = b->ptr + b->len;
    *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *o++ = ',';
        switch (t->dtype) {
        case FG_BOOL: {
            bool v = src[i] != 0;
            memcpy(o, v ? "true" : "false", v ? 4 : 5);
            o += v ? 4 : 5;
            break;
        }
        case FG_U8: o = u64_to(o, ((const uint8_t *)src)[i]); break;
        case FG_I8: o = i64_to(o, ((const int8_t *)src)[i]); break;
        case FG_U16: { uint16_t v; memcpy(&v, src + 2 * i, 2); o = u64_to(o, v); break; }
        case FG_I16: { int16_t v; memcpy(&v, src + 2 * i, 2); o = i64_to(o, v); break; }
        case FG_U32: { uint32_t v; memcpy(&v, src + 4 * i, 4); o = u64_to(o, v); break; }
        case FG_I32: { int32_t v; memcpy(&v, src + 4 * i, 4); o = i64_to(o, v); break; }
        case FG_U64: { uint64_t v; memcpy(&v, src + 8 * i, 8); o = u64_to(o, v); break; }
        case FG_I64: { int64_t v; memcpy(&v, src + 8 * i, 8); o = i64_to(o, v); break; }
        case FG_F32: { float v; memcpy(&v, src + 4 * i, 4); o = float_to(o, v, false); break; }
        case FG_F64: { double v; memcpy(&v, src + 8 * i, 8); o = float_to(o, v, true); break; }
        case FG_F16: { uint16_t v; memcpy(&v, src + 2 * i, 2); o = float_to(o, f16_to_f32(v), false); break; }
        case FG_BF16: { uint16_t v; memcpy(&v, src + 2 * i, 2); o = float_to(o, bf16_to_f32(v), false); break; }
        default: break;
        }
    }
    *o++ = ']';
    b->len = (size_t)(o - b->ptr);
    return 0;
}

#define TRY(x)                                                                                               \
    do {                                                                                                     \
        if ((x) < 0)                                                                                         \
            goto nomem;                                                                                      \
    } while (0)

int fg_v2_encode_response(fg_v2_buf *b, const char *model_name, const char *model_version, const char *id,
                          const fg_v2_output *outs, size_t n_outs, size_t *json_len, fg_err *e) {
    size_t start = b->len;
    for (size_t i = 0; i < n_outs; i++)
        if (!fg_v2_dtype_name(outs[i].t->dtype))
            return fg_err_set(e, FG_EINVAL, "output '%s': dtype %d has no KServe v2 datatype", outs[i].name,
                              (int)outs[i].t->dtype);
    TRY(puts_(b, "{\"model_name\":"));
    TRY(put_str(b, model_name));
    if (model_version) {
        TRY(puts_(b, ",\"model_version\":"));
        TRY(put_str(b, model_version));
    }
    if (id) {
        TRY(puts_(b, ",\"id\":"));
        TRY(put_str(b, id));
    }
    TRY(puts_(b, ",\"outputs\":["));
    for (size_t i = 0; i < n_outs; i++) {
        const fg_tensor *t = outs[i].t;
        TRY(puts_(b, i ? ",{\"name\":" : "{\"name\":"));
        TRY(put_str(b, outs[i].name));
        TRY(puts_(b, ",\"datatype\":"));
        TRY(put_str(b, fg_v2_dtype_name(t->dtype)));
        TRY(puts_(b, ",\"shape\":"));
        TRY(put_shape(b, t->dims, t->rank));
        if (outs[i].binary) {
            char tmp[64];
            snprintf(tmp, sizeof tmp, ",\"parameters\":{\"binary_data_size\":%zu}}",
                     n_elems(t) * fg_v2_dtype_size(t->dtype));
            TRY(puts_(b, tmp));
        } else {
            TRY(puts_(b, ",\"data\":"));
            TRY(put_data(b, t));
            TRY(puts_(b, "}"));
        }
    }
    TRY(puts_(b, "]}"));
    *json_len = b->len - start;
    for (size_t i = 0; i < n_outs; i++)
        if (outs[i].binary)
            TRY(put(b, outs[i].t->data, n_elems(outs[i].t) * fg_v2_dtype_size(outs[i].t->dtype)));
    return 0;
nomem:
    b->len = start;
    return fg_err_set(e, FG_ENOMEM, "out of memory encoding the response");
}

int fg_v2_encode_server_metadata(fg_v2_buf *b, const char *version, fg_err *e) {
    size_t start = b->len;
    TRY(puts_(b, "{\"name\":\"frugal\",\"version\":"));
    TRY(put_str(b, version));
    /* only what the server implements; the statistics extension comes with its route */
    TRY(puts_(b, ",\"extensions\":[\"binary_tensor_data\",\"model_repository\"]}"));
    return 0;
nomem:
    b->len = start;
    return fg_err_set(e, FG_ENOMEM, "out of memory encoding server metadata");
}

static int put_infos(fg_v2_buf *b, const fg_tensor_info *t, size_t n) {
    if (puts_(b, "[") < 0)
        return FG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (puts_(b, i ? ",{\"name\":" : "{\"name\":") < 0 || put_str(b, t[i].name) < 0 ||
            puts_(b, ",\"datatype\":") < 0 || put_str(b, fg_v2_dtype_name(t[i].dtype)) < 0 ||
            puts_(b, ",\"shape\":") < 0)
            return FG_ENOMEM;
        static const int64_t unknown[1] = {-1};
        if ((t[i].rank < 0 ? put_shape(b, unknown, 1) : put_shape(b, t[i].dims, t[i].rank)) < 0 || puts_(b, "}") < 0)
            return FG_ENOMEM;
    }
    return puts_(b, "]");
}

int fg_v2_encode_model_metadata(fg_v2_buf *b, const char *name, const char *const *versions, size_t n_versions,
                                const fg_tensor_info *in, size_t n_in, const fg_tensor_info *out, size_t n_out,
                                fg_err *e) {
    size_t start = b->len;
    for (size_t i = 0; i < n_in + n_out; i++) {
        const fg_tensor_info *t = i < n_in ? &in[i] : &out[i - n_in];
        if (!fg_v2_dtype_name(t->dtype))
            return fg_err_set(e, FG_EINVAL, "%s '%s': dtype %d has no KServe v2 datatype",
                              i < n_in ? "input" : "output", t->name, (int)t->dtype);
    }
    TRY(puts_(b, "{\"name\":"));
    TRY(put_str(b, name));
    TRY(puts_(b, ",\"versions\":["));
    for (size_t i = 0; i < n_versions; i++) {
        if (i)
            TRY(puts_(b, ","));
        TRY(put_str(b, versions[i]));
    }
    TRY(puts_(b, "],\"platform\":\"onnx\",\"inputs\":"));
    TRY(put_infos(b, in, n_in));
    TRY(puts_(b, ",\"outputs\":"));
    TRY(put_infos(b, out, n_out));
    TRY(puts_(b, "}"));
    return 0;
nomem:
    b->len = start;
    return fg_err_set(e, FG_ENOMEM, "out of memory encoding model metadata");
}
