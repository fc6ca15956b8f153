/* billing.c - billing export detection and row normalization (see billing.h). */
#include "cost/billing.h"

#include <stdlib.h>
#include <string.h>

#include "cost/categories.h"
#include "cost/csv.h"

enum {
    S_PROVIDER, S_BILLED, S_EFFECTIVE, S_CURRENCY, S_START, S_END, S_SERVICE, S_CATEGORY, S_SKU, S_USAGE,
    S_RESOURCE, S_REGION, S_ACCOUNT, S_SUBACCOUNT, S_CHARGE, S_COMMIT, S_PRICING, S_TAGS,
    S_AWS_TYPE, S_AWS_RI_EFF, S_AWS_SP_EFF, S_AWS_TERM, S_CODE,
    S_COUNT
};

/* Candidate column names per slot, normalized (lowercase letters and digits only), '|'-separated,
 * first match wins. */
static const char *const focus_cols[S_COUNT] = {
    [S_PROVIDER] = "providername", [S_BILLED] = "billedcost", [S_EFFECTIVE] = "effectivecost",
    [S_CURRENCY] = "billingcurrency", [S_START] = "chargeperiodstart", [S_END] = "chargeperiodend",
    [S_SERVICE] = "servicename", [S_CATEGORY] = "servicecategory", [S_SKU] = "skuid",
    [S_USAGE] = "skumeter|consumedunit", [S_RESOURCE] = "resourceid", [S_REGION] = "regionid|regionname|region",
    [S_ACCOUNT] = "billingaccountid", [S_SUBACCOUNT] = "subaccountid", [S_CHARGE] = "chargecategory",
    [S_COMMIT] = "commitmentdiscountstatus", [S_PRICING] = "pricingcategory", [S_TAGS] = "tags",
};
static const char *const aws_cols[S_COUNT] = {
    [S_BILLED] = "lineitemunblendedcost", [S_CURRENCY] = "lineitemcurrencycode",
    [S_START] = "lineitemusagestartdate", [S_END] = "lineitemusageenddate",
    [S_SERVICE] = "productproductname|lineitemproductcode", [S_SKU] = "productsku",
    [S_USAGE] = "lineitemusagetype", [S_RESOURCE] = "lineitemresourceid",
    [S_REGION] = "productregion|productregioncode", [S_ACCOUNT] = "billpayeraccountid",
    [S_SUBACCOUNT] = "lineitemusageaccountid", [S_AWS_TYPE] = "lineitemlineitemtype",
    [S_AWS_RI_EFF] = "reservationeffectivecost", [S_AWS_SP_EFF] = "savingsplansavingsplaneffectivecost",
    [S_AWS_TERM] = "pricingterm", [S_CODE] = "lineitemproductcode|productservicecode",
};
static const char *const azure_cols[S_COUNT] = {
    [S_BILLED] = "costinbillingcurrency|cost|pretaxcost",
    [S_CURRENCY] = "billingcurrency|billingcurrencycode|currency", [S_START] = "date|usagedatetime",
    [S_SERVICE] = "metercategory|consumedservice", [S_SKU] = "meterid", [S_USAGE] = "metername",
    [S_RESOURCE] = "resourceid|instanceid", [S_REGION] = "resourcelocation|meterregion",
    [S_ACCOUNT] = "billingaccountid", [S_SUBACCOUNT] = "subscriptionid|subscriptionguid",
    [S_CHARGE] = "chargetype", [S_PRICING] = "pricingmodel", [S_TAGS] = "tags", [S_CODE] = "consumedservice",
};

typedef struct aws_tag_col {
    size_t col;
    char *key;
} aws_tag_col;

struct fg_bill_reader {
    fg_csv *csv;
    fg_bill_format fmt;
    size_t ncols;
    long col[S_COUNT];
    aws_tag_col *tag_cols;
    size_t n_tag_cols;
    char *scratch;
    size_t scratch_cap;
    fg_bill_tag *tags;
    size_t tags_cap;
    uint64_t rows_read, rows_skipped;
};

static const char *const format_names[] = {"focus-1.0", "focus-1.1", "focus-1.2", "aws-cur", "aws-cur-athena",
                                           "azure"};

const char *fg_bill_format_str(fg_bill_format f) {
    return (unsigned)f < sizeof format_names / sizeof *format_names ? format_names[f] : "unknown";
}
const char *fg_bill_format_name(const fg_bill_reader *r) { return fg_bill_format_str(r->fmt); }
fg_bill_format fg_bill_get_format(const fg_bill_reader *r) { return r->fmt; }
uint64_t fg_bill_rows_read(const fg_bill_reader *r) { return r->rows_read; }
uint64_t fg_bill_rows_skipped(const fg_bill_reader *r) { return r->rows_skipped; }

static inline int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

/* Case-insensitive equality of n bytes at s and the lowercase word w. */
static bool eq_ci(const char *s, size_t n, const char *w) {
    size_t wn = strlen(w);
    if (n != wn)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != w[i])
            return false;
    return true;
}
static bool str_eq(fg_str s, const char *w) { return eq_ci(s.p, s.n, w); }

static bool contains_ci(fg_str s, const char *w) {
    size_t wn = strlen(w);
    for (size_t i = 0; i + wn <= s.n; i++)
        if (eq_ci(s.p + i, wn, w))
            return true;
    return false;
}

/* Normalizes a header name into out (lowercase alnum only), at most cap-1 bytes. */
static void norm_name(const char *s, size_t n, char *out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        int ch = lower((unsigned char)s[i]);
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
            out[k++] = (char)ch;
    }
    out[k] = 0;
}

#define NAME_MAX_LEN 128

static long find_col(char (*names)[NAME_MAX_LEN], size_t n, const char *alts) {
    while (alts && *alts) {
        const char *bar = strchr(alts, '|');
        size_t len = bar ? (size_t)(bar - alts) : strlen(alts);
        for (size_t i = 0; i < n; i++)
            if (strlen(names[i]) == len && memcmp(names[i], alts, len) == 0)
                return (long)i;
        alts = bar ? bar + 1 : NULL;
    }
    return -1;
}

static bool has(char (*names)[NAME_MAX_LEN], size_t n, const char *alts) { return find_col(names, n, alts) >= 0; }

static int parse_format_name(const char *s, fg_bill_format *f, bool *focus_guess) {
    *focus_guess = false;
    if (strcmp(s, "focus") == 0)
        return *focus_guess = true, *f = FG_BILL_FOCUS_1_0, 0;
    for (size_t i = 0; i < sizeof format_names / sizeof *format_names; i++)
        if (strcmp(s, format_names[i]) == 0)
            return *f = (fg_bill_format)i, 0;
    return FG_EINVAL;
}

void fg_bill_close(fg_bill_reader *r) {
    if (!r)
        return;
    fg_csv_close(r->csv);
    for (size_t i = 0; i < r->n_tag_cols; i++)
        free(r->tag_cols[i].key);
    free(r->tag_cols);
    free(r->scratch);
    free(r->tags);
    free(r);
}

static fg_bill_format focus_version(char (*names)[NAME_MAX_LEN], size_t n) {
    if (has(names, n,
            "invoiceid|billingaccounttype|subaccounttype|pricingcurrency|pricingcurrencyeffectivecost|"
            "pricingcurrencylistunitprice|pricingcurrencycontractedunitprice"))
        return FG_BILL_FOCUS_1_2;
    if (has(names, n,
            "servicesubcategory|skumeter|skupricedetails|commitmentdiscountquantity|commitmentdiscountunit|"
            "capacityreservationid|capacityreservationstatus"))
        return FG_BILL_FOCUS_1_1;
    return FG_BILL_FOCUS_1_0;
}

static bool is_focus(fg_bill_format f) { return f <= FG_BILL_FOCUS_1_2; }

fg_bill_reader *fg_bill_open(const char *path, const char *format_or_null, fg_err *e) {
    fg_bill_format forced = FG_BILL_FOCUS_1_0;
    bool focus_guess = false;
    if (format_or_null && parse_format_name(format_or_null, &forced, &focus_guess) < 0) {
        fg_err_set(e, FG_EINVAL,
                   "unknown billing format '%s' (expected focus, focus-1.0, focus-1.1, focus-1.2, aws-cur, "
                   "aws-cur-athena or azure)",
                   format_or_null);
        return NULL;
    }
    fg_bill_reader *r = calloc(1, sizeof *r);
    if (!r) {
        fg_err_set(e, FG_ENOMEM, "%s: out of memory", path);
        return NULL;
    }
    char (*names)[NAME_MAX_LEN] = NULL;
    r->csv = fg_csv_open(path, e);
    if (!r->csv)
        goto fail;
    fg_csv_record h;
    int rc = fg_csv_next(r->csv, &h, e);
    if (rc == 0) {
        fg_err_set(e, FG_EFORMAT, "%s: empty file, no header row", path);
        goto fail;
    }
    if (rc < 0) {
        fg_err_prefix(e, "header: ");
        goto fail;
    }
    r->ncols = h.n;
    names = malloc(h.n * sizeof *names);
    if (!names) {
        fg_err_set(e, FG_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    bool slash = false;
    for (size_t i = 0; i < h.n; i++) {
        norm_name(h.fields[i].p, h.fields[i].n, names[i], NAME_MAX_LEN);
        if (memchr(h.fields[i].p, '/', h.fields[i].n))
            slash = true;
    }
    fg_bill_format f;
    bool focus = has(names, h.n, "billedcost") && has(names, h.n, "chargeperiodstart|effectivecost");
    bool aws = has(names, h.n, "lineitemunblendedcost");
    bool azure = has(names, h.n, "costinbillingcurrency") ||
                 (has(names, h.n, "metercategory") && has(names, h.n, "cost|pretaxcost"));
    if (format_or_null) {
        f = focus_guess ? focus_version(names, h.n) : forced;
        const char *need = is_focus(f) ? "billedcost" : f == FG_BILL_AZURE ? azure_cols[S_BILLED]
                                                                            : "lineitemunblendedcost";
        if (!has(names, h.n, need)) {
            fg_err_set(e, FG_EUNSUPPORTED, "%s: format %s forced, but the header has no %s column", path,
                       format_or_null, is_focus(f) ? "BilledCost" : f == FG_BILL_AZURE ? "CostInBillingCurrency/Cost/PreTaxCost" : "lineItem/UnblendedCost");
            goto fail;
        }
    } else if (focus) {
        f = focus_version(names, h.n);
    } else if (aws) {
        f = slash ? FG_BILL_AWS_CUR : FG_BILL_AWS_CUR_ATHENA;
    } else if (azure) {
        f = FG_BILL_AZURE;
    } else {
        fg_err_set(e, FG_EUNSUPPORTED,
                   "%s: not a recognised billing export (no BilledCost, lineItem/UnblendedCost, "
                   "line_item_unblended_cost or CostInBillingCurrency/Cost with MeterCategory column)",
                   path);
        goto fail;
    }
    r->fmt = f;
    const char *const *cols = is_focus(f) ? focus_cols : f == FG_BILL_AZURE ? azure_cols : aws_cols;
    for (int s = 0; s < S_COUNT; s++)
        r->col[s] = cols[s] ? find_col(names, h.n, cols[s]) : -1;
    if (f == FG_BILL_AWS_CUR || f == FG_BILL_AWS_CUR_ATHENA) {
        for (size_t i = 0; i < h.n; i++) {
            const char *p = h.fields[i].p;
            size_t n = h.fields[i].n, skip;
            if (n > 13 && eq_ci(p, 13, "resourcetags/"))
                skip = 13;
            else if (n > 14 && eq_ci(p, 14, "resource_tags_"))
                skip = 14;
            else
                continue;
            p += skip, n -= skip;
            if (n > 5 && (eq_ci(p, 5, "user:") || eq_ci(p, 5, "user_")))
                p += 5, n -= 5;
            aws_tag_col *t = realloc(r->tag_cols, (r->n_tag_cols + 1) * sizeof *t);
            if (!t) {
                fg_err_set(e, FG_ENOMEM, "%s: out of memory", path);
                goto fail;
            }
            r->tag_cols = t;
            t[r->n_tag_cols].col = i;
            t[r->n_tag_cols].key = strndup(p, n);
            if (!t[r->n_tag_cols].key) {
                fg_err_set(e, FG_ENOMEM, "%s: out of memory", path);
                goto fail;
            }
            r->n_tag_cols++;
        }
    }
    free(names);
    return r;
fail:
    free(names);
    fg_bill_close(r);
    return NULL;
}

/* ---- timestamps ---- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char *s, size_t n, size_t *i, int min, int max, int *out) {
    int v = 0, k = 0;
    while (*i < n && k < max && s[*i] >= '0' && s[*i] <= '9')
        v = v * 10 + (s[(*i)++] - '0'), k++;
    if (k < min)
        return -1;
    *out = v;
    return 0;
}

int fg_bill_parse_time(const char *s, size_t n, int64_t *t) {
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || eq_ci(s, n, "null"))
        return 0;
    size_t i = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (n >= 5 && s[4] == '-') {
        if (digits(s, n, &i, 4, 4, &y) || i >= n || s[i++] != '-' || digits(s, n, &i, 1, 2, &mo) || i >= n ||
            s[i++] != '-' || digits(s, n, &i, 1, 2, &d))
            return FG_EINVAL;
    } else {
        if (digits(s, n, &i, 1, 2, &mo) || i >= n || s[i++] != '/' || digits(s, n, &i, 1, 2, &d) || i >= n ||
            s[i++] != '/' || digits(s, n, &i, 4, 4, &y))
            return FG_EINVAL;
    }
    if (mo < 1 || mo > 12 || d < 1)
        return FG_EINVAL;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
        return FG_EINVAL;
    int64_t off = 0;
    if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        i++;
        while (i < n && s[i] == ' ')
            i++;
        if (digits(s, n, &i, 1, 2, &h) || i >= n || s[i++] != ':' || digits(s, n, &i, 2, 2, &mi))
            return FG_EINVAL;
        if (i < n && s[i] == ':') {
            i++;
            if (digits(s, n, &i, 2, 2, &sec))
                return FG_EINVAL;
            if (i < n && s[i] == '.') {
                i++;
                size_t f0 = i;
                while (i < n && s[i] >= '0' && s[i] <= '9')
                    i++;
                if (i == f0)
                    return FG_EINVAL;
            }
        }
        if (mi > 59 || sec > 60)
            return FG_EINVAL;
        if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i++] == '-' ? -1 : 1, oh, om = 0;
            if (digits(s, n, &i, 2, 2, &oh))
                return FG_EINVAL;
            if (i < n && s[i] == ':')
                i++;
            if (i < n && digits(s, n, &i, 2, 2, &om))
                return FG_EINVAL;
            if (oh > 23 || om > 59)
                return FG_EINVAL;
            off = sign * (oh * 3600 + om * 60);
        }
    }
    if (i != n)
        return FG_EINVAL;
    *t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - off;
    return 1;
}

/* ---- tags ---- */

static void put_utf8(char **o, unsigned cp) {
    char *p = *o;
    if (cp < 0x80) {
        *p++ = (char)cp;
    } else if (cp < 0x800) {
        *p++ = (char)(0xC0 | cp >> 6);
        *p++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *p++ = (char)(0xE0 | cp >> 12);
        *p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *p++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *p++ = (char)(0xF0 | cp >> 18);
        *p++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *p++ = (char)(0x80 | (cp & 0x3F));
    }
    *o = p;
}

static int hex4(const char *s, size_t n, size_t i, unsigned *out) {
    if (i + 4 > n)
        return -1;
    unsigned v = 0;
    for (size_t k = 0; k < 4; k++) {
        int ch = lower((unsigned char)s[i + k]);
        v <<= 4;
        if (ch >= '0' && ch <= '9')
            v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v |= (unsigned)(ch - 'a' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Parses a JSON string at s[*i] == '"' into *o (advanced); out gets the unescaped text. */
static int json_str(const char *s, size_t n, size_t *i, char **o, fg_str *out) {
    char *start = *o;
    (*i)++;
    while (*i < n) {
        char ch = s[(*i)++];
        if (ch == '"') {
            out->p = start;
            out->n = (size_t)(*o - start);
            return 0;
        }
        if (ch != '\\') {
            *(*o)++ = ch;
            continue;
        }
        if (*i >= n)
            return -1;
        ch = s[(*i)++];
        switch (ch) {
        case '"': case '\\': case '/': *(*o)++ = ch; break;
        case 'b': *(*o)++ = '\b'; break;
        case 'f': *(*o)++ = '\f'; break;
        case 'n': *(*o)++ = '\n'; break;
        case 'r': *(*o)++ = '\r'; break;
        case 't': *(*o)++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(s, n, *i, &cp))
                return -1;
            *i += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (*i + 6 > n || s[*i] != '\\' || s[*i + 1] != 'u' || hex4(s, n, *i + 2, &lo) || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return -1;
                *i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                return -1;
            }
            put_utf8(o, cp);
            break;
        }
        default:
            return -1;
        }
    }
    return -1;
}

static inline void skip_ws(const char *s, size_t n, size_t *i) {
    while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r'))
        (*i)++;
}

long fg_bill_parse_tags(const char *s, size_t n, char *scratch, fg_bill_tag *tags, size_t max) {
    size_t i = 0, count = 0;
    char *o = scratch;
    skip_ws(s, n, &i);
    if (i == n || eq_ci(s, n, "null"))
        return 0;
    bool braced = s[i] == '{';
    if (braced) {
        i++;
        skip_ws(s, n, &i);
        if (i < n && s[i] == '}') {
            i++;
            skip_ws(s, n, &i);
            return i == n ? 0 : -1;
        }
    }
    for (;;) {
        fg_str k, v;
        skip_ws(s, n, &i);
        if (i >= n || s[i] != '"' || json_str(s, n, &i, &o, &k))
            return -(long)count - 1;
        skip_ws(s, n, &i);
        if (i >= n || s[i++] != ':')
            return -(long)count - 1;
        skip_ws(s, n, &i);
        if (i < n && s[i] == '"') {
            if (json_str(s, n, &i, &o, &v))
                return -(long)count - 1;
        } else {
            size_t b = i;
            while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ' ' && s[i] != '\t' && s[i] != '{' &&
                   s[i] != '[' && s[i] != '"')
                i++;
            if (i == b)
                return -(long)count - 1;
            v.p = s + b;
            v.n = eq_ci(s + b, i - b, "null") ? 0 : i - b;
        }
        if (count < max)
            tags[count++] = (fg_bill_tag){k, v};
        skip_ws(s, n, &i);
        if (i == n)
            return braced ? -(long)count - 1 : (long)count;
        if (s[i] == ',') {
            i++;
            continue;
        }
        if (braced && s[i] == '}') {
            i++;
            skip_ws(s, n, &i);
            return i == n ? (long)count : -(long)count - 1;
        }
        return -(long)count - 1;
    }
}

/* ---- rows ---- */

static fg_str field(const fg_bill_reader *r, const fg_csv_record *rec, int slot) {
    long c = r->col[slot];
    if (c < 0)
        return (fg_str){"", 0};
    fg_str s = {rec->fields[c].p, rec->fields[c].n};
    if (eq_ci(s.p, s.n, "null"))
        s.n = 0;
    return s;
}

static fg_bill_charge_category charge_of(fg_bill_format f, fg_str s, fg_bill_commitment_status *cs) {
    if (s.n == 0)
        return FG_CHARGE_UNKNOWN;
    if (is_focus(f)) {
        static const char *const w[] = {"usage", "purchase", "tax", "credit", "adjustment"};
        for (int i = 0; i < 5; i++)
            if (str_eq(s, w[i]))
                return (fg_bill_charge_category)(FG_CHARGE_USAGE + i);
        return FG_CHARGE_UNKNOWN;
    }
    if (f == FG_BILL_AZURE) {
        if (str_eq(s, "usage"))
            return FG_CHARGE_USAGE;
        if (str_eq(s, "unusedreservation") || str_eq(s, "unusedsavingsplan"))
            return *cs = FG_COMMIT_UNUSED, FG_CHARGE_USAGE;
        if (str_eq(s, "purchase"))
            return FG_CHARGE_PURCHASE;
        if (str_eq(s, "refund"))
            return FG_CHARGE_CREDIT;
        if (str_eq(s, "tax"))
            return FG_CHARGE_TAX;
        if (str_eq(s, "roundingadjustment"))
            return FG_CHARGE_ADJUSTMENT;
        return FG_CHARGE_UNKNOWN;
    }
    /* AWS lineItem/LineItemType */
    if (str_eq(s, "usage"))
        return FG_CHARGE_USAGE;
    if (str_eq(s, "discountedusage") || str_eq(s, "savingsplancoveredusage"))
        return *cs = FG_COMMIT_USED, FG_CHARGE_USAGE;
    if (str_eq(s, "fee") || str_eq(s, "rifee") || str_eq(s, "savingsplanrecurringfee") ||
        str_eq(s, "savingsplanupfrontfee"))
        return FG_CHARGE_PURCHASE;
    if (str_eq(s, "tax"))
        return FG_CHARGE_TAX;
    if (str_eq(s, "credit") || str_eq(s, "refund") || str_eq(s, "savingsplannegation") ||
        str_eq(s, "bundleddiscount") || str_eq(s, "edpdiscount") || str_eq(s, "privateratediscount") ||
        str_eq(s, "discount") || str_eq(s, "distributordiscount"))
        return FG_CHARGE_CREDIT;
    return FG_CHARGE_ADJUSTMENT;
}

static fg_bill_pricing_category pricing_of(fg_str s) {
    if (s.n == 0)
        return FG_PRICING_UNKNOWN;
    if (str_eq(s, "standard") || str_eq(s, "on-demand") || str_eq(s, "ondemand"))
        return FG_PRICING_STANDARD;
    if (str_eq(s, "committed") || str_eq(s, "reserved") || str_eq(s, "reservation") || str_eq(s, "savingsplan"))
        return FG_PRICING_COMMITTED;
    if (str_eq(s, "dynamic") || str_eq(s, "spot"))
        return FG_PRICING_DYNAMIC;
    if (str_eq(s, "other"))
        return FG_PRICING_OTHER;
    return FG_PRICING_UNKNOWN;
}

static int bad_row(fg_bill_reader *r, fg_err *e, long line, const char *fmt, const char *what, fg_str v) {
    r->rows_skipped++;
    return fg_err_set(e, FG_EFORMAT, fmt, fg_csv_label(r->csv), line, what, (int)(v.n > 64 ? 64 : v.n), v.p);
}

#define BAD_VALUE "%s:%ld: %s: cannot parse '%.*s'"

static int parse_cost(fg_bill_reader *r, fg_err *e, long line, const char *what, fg_str s, fg_dec *d, bool *has) {
    const char *why = NULL;
    int rc = fg_dec_parse(s.p, s.n, d, NULL, &why);
    if (rc < 0)
        return bad_row(r, e, line, BAD_VALUE, what, s);
    *has = rc == 1;
    return 0;
}

static int parse_ts(fg_bill_reader *r, fg_err *e, long line, const char *what, fg_str s, int64_t *t, bool *has) {
    int rc = fg_bill_parse_time(s.p, s.n, t);
    if (rc < 0)
        return bad_row(r, e, line, BAD_VALUE, what, s);
    *has = rc == 1;
    if (!*has)
        *t = 0;
    return 0;
}

int fg_bill_next(fg_bill_reader *r, fg_bill_row *row, fg_err *e) {
    fg_csv_record rec;
    int rc = fg_csv_next(r->csv, &rec, e);
    if (rc == 0)
        return 0;
    if (rc == FG_EFORMAT) {
        r->rows_read++;
        r->rows_skipped++;
        return rc;
    }
    if (rc < 0)
        return rc;
    r->rows_read++;
    memset(row, 0, sizeof *row);
    row->line = rec.line;
    if (rec.n != r->ncols) {
        r->rows_skipped++;
        return fg_err_set(e, FG_EFORMAT, "%s:%ld: row has %zu fields, the header has %zu", fg_csv_label(r->csv),
                          rec.line, rec.n, r->ncols);
    }
    fg_bill_format f = r->fmt;
    long line = rec.line;
    if (parse_cost(r, e, line, "billed cost", field(r, &rec, S_BILLED), &row->billed_cost, &row->has_billed))
        return FG_EFORMAT;
    if (parse_ts(r, e, line, "charge period start", field(r, &rec, S_START), &row->charge_start, &row->has_start) ||
        parse_ts(r, e, line, "charge period end", field(r, &rec, S_END), &row->charge_end, &row->has_end))
        return FG_EFORMAT;
    fg_str charge = field(r, &rec, f == FG_BILL_AWS_CUR || f == FG_BILL_AWS_CUR_ATHENA ? S_AWS_TYPE : S_CHARGE);
    row->charge_category = charge_of(f, charge, &row->commitment_status);
    fg_str pricing = field(r, &rec, S_PRICING);
    row->usage_type = field(r, &rec, S_USAGE);
    if (is_focus(f)) {
        if (r->col[S_EFFECTIVE] >= 0) {
            if (parse_cost(r, e, line, "effective cost", field(r, &rec, S_EFFECTIVE), &row->effective_cost,
                           &row->has_effective))
                return FG_EFORMAT;
        } else {
            row->effective_cost = row->billed_cost;
            row->has_effective = row->has_billed;
        }
        row->provider = field(r, &rec, S_PROVIDER);
        fg_str cs = field(r, &rec, S_COMMIT);
        row->commitment_status = str_eq(cs, "used") ? FG_COMMIT_USED : str_eq(cs, "unused") ? FG_COMMIT_UNUSED
                                                                                          : FG_COMMIT_NONE;
        row->pricing_category = pricing_of(pricing);
    } else if (f == FG_BILL_AZURE) {
        row->provider = (fg_str){"Microsoft", 9};
        row->effective_cost = row->billed_cost;
        row->has_effective = row->has_billed;
        row->pricing_category = pricing_of(pricing);
        if (!row->has_end && row->has_start && r->col[S_END] < 0) {
            row->charge_end = row->charge_start + 86400;
            row->has_end = true;
        }
    } else {
        row->provider = (fg_str){"AWS", 3};
        int slot = str_eq(charge, "discountedusage") ? S_AWS_RI_EFF
                   : str_eq(charge, "savingsplancoveredusage") ? S_AWS_SP_EFF
                                                                : -1;
        if (slot >= 0 && r->col[slot] >= 0) {
            if (parse_cost(r, e, line, "effective cost", field(r, &rec, slot), &row->effective_cost,
                           &row->has_effective))
                return FG_EFORMAT;
        } else {
            row->effective_cost = row->billed_cost;
            row->has_effective = row->has_billed;
        }
        if (row->commitment_status == FG_COMMIT_USED)
            row->pricing_category = FG_PRICING_COMMITTED;
        else if (contains_ci(row->usage_type, "spotusage"))
            row->pricing_category = FG_PRICING_DYNAMIC;
        else
            row->pricing_category = pricing_of(field(r, &rec, S_AWS_TERM));
    }
    row->currency = field(r, &rec, S_CURRENCY);
    row->service_name = field(r, &rec, S_SERVICE);
    row->service_category = field(r, &rec, S_CATEGORY);
    row->service_code = field(r, &rec, S_CODE);
    /* Native exports have no ServiceCategory column: derive it from the service code so that the
     * service_category rules apply to them too. FOCUS rows keep their own (the lookup is NULL for them). */
    if (row->service_category.n == 0) {
        const char *cat = fg_service_category(f, row->service_code.p, row->service_code.n);
        if (cat)
            row->service_category = (fg_str){cat, strlen(cat)};
    }
    row->sku = field(r, &rec, S_SKU);
    row->resource_id = field(r, &rec, S_RESOURCE);
    row->region = field(r, &rec, S_REGION);
    row->account = field(r, &rec, S_ACCOUNT);
    row->sub_account = field(r, &rec, S_SUBACCOUNT);

    /* Tags */
    if (r->n_tag_cols) {
        if (r->tags_cap < r->n_tag_cols) {
            fg_bill_tag *t = realloc(r->tags, r->n_tag_cols * sizeof *t);
            if (!t)
                return fg_err_set(e, FG_ENOMEM, "%s: out of memory", fg_csv_label(r->csv));
            r->tags = t;
            r->tags_cap = r->n_tag_cols;
        }
        size_t k = 0;
        for (size_t i = 0; i < r->n_tag_cols; i++) {
            const fg_csv_field *fl = &rec.fields[r->tag_cols[i].col];
            if (fl->n == 0)
                continue;
            r->tags[k].key = (fg_str){r->tag_cols[i].key, strlen(r->tag_cols[i].key)};
            r->tags[k].value = (fg_str){fl->p, fl->n};
            k++;
        }
        row->tags = r->tags;
        row->n_tags = k;
    } else if (r->col[S_TAGS] >= 0) {
        fg_str t = field(r, &rec, S_TAGS);
        if (t.n) {
            size_t max = t.n / 4 + 1;
            if (r->scratch_cap < t.n) {
                char *p = realloc(r->scratch, t.n);
                if (!p)
                    return fg_err_set(e, FG_ENOMEM, "%s: out of memory", fg_csv_label(r->csv));
                r->scratch = p;
                r->scratch_cap = t.n;
            }
            if (r->tags_cap < max) {
                fg_bill_tag *p = realloc(r->tags, max * sizeof *p);
                if (!p)
                    return fg_err_set(e, FG_ENOMEM, "%s: out of memory", fg_csv_label(r->csv));
                r->tags = p;
                r->tags_cap = max;
            }
            long n = fg_bill_parse_tags(t.p, t.n, r->scratch, r->tags, max);
            if (n < 0) {
                row->tags_malformed = true;
                n = -n - 1;
            }
            row->tags = r->tags;
            row->n_tags = (size_t)n;
        }
    }
    return 1;
}
