/* decimal.h - exact money: a signed 128-bit integer count of 10^-12 currency units.
 *
 * Overview
 *   Billing exports write costs as decimal text ("123.45", "-0.000123", "6.72e-8", "1E+3"). fg_dec
 *   holds such a value exactly when it has at most FG_DEC_SCALE (12) decimals, and sums of fg_dec are
 *   exact (0.1 added ten million times is exactly 1000000). Binary floating point is used only by
 *   fg_dec_to_double, for display and ratios, never for sums.
 *
 * Parsing (fg_dec_parse)
 *   Accepted: optional surrounding spaces/tabs, optional sign, digits with an optional '.', at least
 *   one digit, optional exponent e/E with optional sign and 1+ digits. An empty field, "NULL" or "null"
 *   (any case) is absent (returns 0). Digits beyond the 12th decimal are rounded half-to-even (the
 *   result reports it through *inexact). A magnitude above FG_DEC_MAX_UNITS units (10^24 currency
 *   units) is out of range; so is any syntax error: FG_EINVAL with a static reason in *why.
 *
 * Arithmetic
 *   fg_dec_add/fg_dec_sub return FG_EINVAL on int128 overflow (never wrap). fg_dec_format rounds
 *   half-to-even to the decimals asked for.
 */
#ifndef FG_COST_DECIMAL_H
#define FG_COST_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define FG_DEC_SCALE 12
#define FG_DEC_ONE ((__int128)1000000000000LL) /* 10^12: one currency unit */
/* Largest magnitude fg_dec_parse accepts, in units: 10^36 (10^24 currency units). */
#define FG_DEC_MAX_UNITS ((__int128)1000000000000000000LL * (__int128)1000000000000000000LL)
/* Longest text fg_dec_format writes, NUL included. */
#define FG_DEC_STR_MAX 64

typedef struct fg_dec {
    __int128 v; /* value * 10^12 */
} fg_dec;

/* Parses n bytes at s. Returns 1 with *out set (and *inexact, if not NULL, true when digits beyond the
 * scale were rounded away), 0 when absent (*out = 0), or FG_EINVAL with *why (if not NULL) set to a
 * static reason ("not a number", "out of range"). */
int fg_dec_parse(const char *s, size_t n, fg_dec *out, bool *inexact, const char **why);

/* *out = a + b (a - b). Returns 0, or FG_EINVAL on overflow (*out unchanged). */
int fg_dec_add(fg_dec a, fg_dec b, fg_dec *out);
int fg_dec_sub(fg_dec a, fg_dec b, fg_dec *out);

/* -1, 0 or 1 as a <, ==, > b. */
int fg_dec_cmp(fg_dec a, fg_dec b);

/* Writes the value rounded half-to-even to `decimals` (0..12) decimals, e.g. "-12.50"; always NUL-
 * terminates when size > 0. Returns the length it needed (like snprintf). */
int fg_dec_format(fg_dec d, int decimals, char *buf, size_t size);

/* An approximation, for display and ratios only. */
double fg_dec_to_double(fg_dec d);

/* Exact conversions from whole units and from units * 10^-12. */
fg_dec fg_dec_from_int(long long units);
fg_dec fg_dec_from_raw(__int128 raw);

#endif
