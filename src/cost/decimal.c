/* decimal.c - exact money (see decimal.h). */
#include "cost/decimal.h"

#include <stdio.h>
#include <string.h>

#define MAX_EXP 100000 /* exponents are clamped here; beyond it a nonzero value is out of range or 0 */

static bool is_null_word(const char *s, size_t n) {
    static const char w[] = "null";
    if (n != 4)
        return false;
    for (size_t i = 0; i < 4; i++)
        if ((s[i] | 0x20) != w[i])
            return false;
    return true;
}

int fg_dec_parse(const char *s, size_t n, fg_dec *out, bool *inexact, const char **why) {
    const char *dummy;
    if (!why)
        why = &dummy;
    if (inexact)
        *inexact = false;
    out->v = 0;
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || is_null_word(s, n))
        return 0;
    size_t i = 0;
    bool neg = false;
    if (s[i] == '+' || s[i] == '-')
        neg = s[i++] == '-';
    /* Significant digits: [d0, d1) of s, skipping '.', leading zeros dropped. exp10 makes
     * value = int(digits) * 10^exp10. */
    size_t first_sig = (size_t)-1, ndig = 0, nsig = 0;
    long frac_digits = 0;
    bool dot = false;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch >= '0' && ch <= '9') {
            ndig++;
            if (dot)
                frac_digits++;
            if (nsig == 0 && ch == '0')
                continue;
            if (nsig == 0)
                first_sig = i;
            nsig++;
        } else if (ch == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (ndig == 0)
        return *why = "not a number", FG_EINVAL;
    long exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        size_t ed = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ed++)
            if (exp < MAX_EXP)
                exp = exp * 10 + (s[i] - '0');
        if (ed == 0)
            return *why = "not a number", FG_EINVAL;
        if (eneg)
            exp = -exp;
    }
    if (i != n)
        return *why = "not a number", FG_EINVAL;
    if (nsig == 0)
        return 1; /* zero (any sign, any exponent) */
    /* Walk the significant digits again (they may be split by the '.'). */
    long shift = exp - frac_digits + FG_DEC_SCALE; /* value_units = int(sig) * 10^shift */
    long keep = (long)nsig + (shift < 0 ? shift : 0); /* digits that stay before the rounding point */
    if (shift > 0 && (long)nsig + shift > 37)
        return *why = "out of range", FG_EINVAL;
    __int128 v = 0;
    long k = 0;
    int first_dropped = -1;
    bool rest_nonzero = false;
    for (size_t j = first_sig; k < (long)nsig; j++) {
        if (s[j] == '.')
            continue;
        int d = s[j] - '0';
        if (k < keep) {
            v = v * 10 + d;
            if (v > FG_DEC_MAX_UNITS)
                return *why = "out of range", FG_EINVAL;
        } else if (k == keep) {
            first_dropped = d;
        } else if (d) {
            rest_nonzero = true;
        }
        k++;
    }
    if (keep < 0) { /* every digit is below the rounding point, and not adjacent to it */
        first_dropped = 0;
        rest_nonzero = true;
    }
    if (first_dropped >= 0) {
        if (inexact && (first_dropped || rest_nonzero))
            *inexact = true;
        if (first_dropped > 5 || (first_dropped == 5 && (rest_nonzero || (v & 1))))
            v++;
    }
    for (long t = 0; t < shift; t++) {
        v *= 10;
        if (v > FG_DEC_MAX_UNITS)
            return *why = "out of range", FG_EINVAL;
    }
    if (v > FG_DEC_MAX_UNITS)
        return *why = "out of range", FG_EINVAL;
    out->v = neg ? -v : v;
    return 1;
}

int fg_dec_add(fg_dec a, fg_dec b, fg_dec *out) {
    __int128 r;
    if (__builtin_add_overflow(a.v, b.v, &r))
        return FG_EINVAL;
    out->v = r;
    return 0;
}

int fg_dec_sub(fg_dec a, fg_dec b, fg_dec *out) {
    __int128 r;
    if (__builtin_sub_overflow(a.v, b.v, &r))
        return FG_EINVAL;
    out->v = r;
    return 0;
}

int fg_dec_cmp(fg_dec a, fg_dec b) { return a.v < b.v ? -1 : a.v > b.v; }

int fg_dec_format(fg_dec d, int decimals, char *buf, size_t size) {
    if (decimals < 0)
        decimals = 0;
    if (decimals > FG_DEC_SCALE)
        decimals = FG_DEC_SCALE;
    bool neg = d.v < 0;
    unsigned __int128 m = neg ? -(unsigned __int128)d.v : (unsigned __int128)d.v;
    unsigned __int128 div = 1;
    for (int i = 0; i < FG_DEC_SCALE - decimals; i++)
        div *= 10;
    unsigned __int128 q = m / div, r = m % div;
    if (div > 1 && (r * 2 > div || (r * 2 == div && (q & 1))))
        q++;
    char tmp[FG_DEC_STR_MAX];
    int len = 0;
    for (int i = 0; i < decimals; i++) {
        tmp[len++] = (char)('0' + (int)(q % 10));
        q /= 10;
    }
    if (decimals)
        tmp[len++] = '.';
    do {
        tmp[len++] = (char)('0' + (int)(q % 10));
        q /= 10;
    } while (q);
    bool all_zero = true;
    for (int i = 0; i < len; i++)
        if (tmp[i] != '0' && tmp[i] != '.')
            all_zero = false;
    if (neg && !all_zero)
        tmp[len++] = '-';
    for (int i = 0; i < len; i++)
        if ((size_t)i + 1 < size)
            buf[i] = tmp[len - 1 - i];
    if (size)
        buf[(size_t)len < size ? (size_t)len : size - 1] = 0;
    return len;
}

double fg_dec_to_double(fg_dec d) {
    __int128 ip = d.v / FG_DEC_ONE, fp = d.v % FG_DEC_ONE;
    return (double)ip + (double)fp / 1e12;
}

fg_dec fg_dec_from_int(long long units) { return (fg_dec){(__int128)units * FG_DEC_ONE}; }
fg_dec fg_dec_from_raw(__int128 raw) { return (fg_dec){raw}; }
