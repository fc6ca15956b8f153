/* rules.c - ML-lifecycle buckets: rule parsing, globbing, classification (see rules.h). */
#include "cost/rules.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const bucket_names[FG_BUCKET_COUNT] = {
    "training", "inference", "data_storage", "compute_etl", "monitoring", "network", "commitment_waste", "other",
};

const char *fg_bucket_name(fg_bucket b) {
    return (unsigned)b < FG_BUCKET_COUNT ? bucket_names[b] : NULL;
}

static bool eq_ci(const char *a, size_t n, const char *lit) {
    size_t m = strlen(lit);
    if (m != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)lit[i]))
            return false;
    return true;
}

int fg_bucket_parse(const char *s, size_t n) {
    for (int i = 0; i < FG_BUCKET_COUNT; i++)
        if (eq_ci(s, n, bucket_names[i]))
            return i;
    return -1;
}

bool fg_glob_match(const char *pat, const char *s, size_t n) {
    size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;
    size_t pn = strlen(pat);
    while (i < n) {
        if (p < pn && pat[p] == '*') {
            star_p = p++;
            star_i = i;
        } else if (p < pn && (pat[p] == '?' || tolower((unsigned char)pat[p]) == tolower((unsigned char)s[i]))) {
            p++;
            i++;
        } else if (star_p != (size_t)-1) {
            p = star_p + 1;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (p < pn && pat[p] == '*')
        p++;
    return p == pn;
}

void fg_rules_free(fg_rules *rs) {
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->r[i].key);
        free(rs->r[i].pattern);
    }
    free(rs->r);
    rs->r = NULL;
    rs->n = 0;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static bool is_sp(char c) { return c == ' ' || c == '\t' || c == '\r'; }

int fg_rules_parse(const char *text, size_t n, const char *label, fg_rules *out, fg_err *e) {
    out->r = NULL;
    out->n = 0;
    size_t cap = 0;
    long line = 0;
    size_t pos = 0;
    while (pos < n) {
        size_t end = pos;
        while (end < n && text[end] != '\n')
            end++;
        line++;
        const char *s = text + pos, *lim = text + end;
        pos = end + 1;
        while (s < lim && is_sp(*s))
            s++;
        while (lim > s && is_sp(lim[-1]))
            lim--;
        if (s == lim || *s == '#')
            continue;
        /* bucket */
        const char *b = s;
        while (s < lim && !is_sp(*s))
            s++;
        int bucket = fg_bucket_parse(b, (size_t)(s - b));
        if (bucket < 0) {
            fg_err_set(e, FG_EINVAL, "%s:%ld: unknown bucket '%.*s' (training, inference, data_storage, compute_etl, monitoring, network, commitment_waste, other)",
                       label, line, (int)(s - b), b);
            goto fail;
        }
        while (s < lim && is_sp(*s))
            s++;
        const char *f = s;
        while (s < lim && !is_sp(*s))
            s++;
        size_t fn = (size_t)(s - f);
        while (s < lim && is_sp(*s))
            s++;
        if (fn == 0 || s == lim) {
            fg_err_set(e, FG_EINVAL, "%s:%ld: want BUCKET FIELD PATTERN", label, line);
            goto fail;
        }
        fg_rule r = {.bucket = (fg_bucket)bucket, .line = line};
        if (fn > 4 && strncasecmp(f, "tag:", 4) == 0) {
            r.field = FG_RULE_TAG;
            r.key = dup_n(f + 4, fn - 4);
        } else if (eq_ci(f, fn, "tag:")) {
            fg_err_set(e, FG_EINVAL, "%s:%ld: empty tag key in 'tag:'", label, line);
            goto fail;
        } else if (eq_ci(f, fn, "sku")) {
            r.field = FG_RULE_SKU;
        } else if (eq_ci(f, fn, "usage_type")) {
            r.field = FG_RULE_USAGE_TYPE;
        } else if (eq_ci(f, fn, "service_category")) {
            r.field = FG_RULE_SERVICE_CATEGORY;
        } else if (eq_ci(f, fn, "service")) {
            r.field = FG_RULE_SERVICE;
        } else if (eq_ci(f, fn, "charge")) {
            r.field = FG_RULE_CHARGE;
        } else {
            fg_err_set(e, FG_EINVAL, "%s:%ld: unknown field '%.*s' (tag:KEY, sku, usage_type, service_category, service, charge)",
                       label, line, (int)fn, f);
            goto fail;
        }
        r.pattern = dup_n(s, (size_t)(lim - s));
        if (!r.pattern || (r.field == FG_RULE_TAG && !r.key)) {
            free(r.key);
            free(r.pattern);
            fg_err_set(e, FG_ENOMEM, "%s: out of memory", label);
            goto fail;
        }
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            fg_rule *nr = realloc(out->r, nc * sizeof *nr);
            if (!nr) {
                free(r.key);
                free(r.pattern);
                fg_err_set(e, FG_ENOMEM, "%s: out of memory", label);
                goto fail;
            }
            out->r = nr;
            cap = nc;
        }
        out->r[out->n++] = r;
    }
    return 0;
fail:
    fg_rules_free(out);
    return e ? e->code : FG_EINVAL;
}

int fg_rules_load(const char *path, fg_rules *out, fg_err *e) {
    out->r = NULL;
    out->n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fg_err_set(e, FG_EIO, "%s: cannot open", path);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = cap > (64u << 20) ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf)
        return fg_err_set(e, FG_ENOMEM, "%s: too large or out of memory", path);
    if (err) {
        free(buf);
        return fg_err_set(e, FG_EIO, "%s: read error", path);
    }
    int rc = fg_rules_parse(buf, n, path, out, e);
    free(buf);
    return rc;
}

static bool m(const char *pat, fg_str s) { return s.n > 0 && fg_glob_match(pat, s.p, s.n); }
static bool ml(const char *pat, const char *lit) { return lit && fg_glob_match(pat, lit, strlen(lit)); }

static const char *commit_name(fg_bill_commitment_status c) {
    return c == FG_COMMIT_USED ? "used" : c == FG_COMMIT_UNUSED ? "unused" : NULL;
}
static const char *charge_name(fg_bill_charge_category c) {
    switch (c) {
    case FG_CHARGE_USAGE: return "usage";
    case FG_CHARGE_PURCHASE: return "purchase";
    case FG_CHARGE_TAX: return "tax";
    case FG_CHARGE_CREDIT: return "credit";
    case FG_CHARGE_ADJUSTMENT: return "adjustment";
    default: return NULL;
    }
}
static const char *pricing_name(fg_bill_pricing_category c) {
    switch (c) {
    case FG_PRICING_STANDARD: return "standard";
    case FG_PRICING_COMMITTED: return "committed";
    case FG_PRICING_DYNAMIC: return "dynamic";
    case FG_PRICING_OTHER: return "other";
    default: return NULL;
    }
}

static bool rule_matches(const fg_rule *r, const fg_bill_row *row) {
    switch (r->field) {
    case FG_RULE_TAG:
        for (size_t i = 0; i < row->n_tags; i++)
            if (fg_glob_match(r->key, row->tags[i].key.p, row->tags[i].key.n) &&
                fg_glob_match(r->pattern, row->tags[i].value.p, row->tags[i].value.n))
                return true;
        return false;
    case FG_RULE_SKU: return m(r->pattern, row->sku);
    case FG_RULE_USAGE_TYPE: return m(r->pattern, row->usage_type);
    case FG_RULE_SERVICE_CATEGORY: return m(r->pattern, row->service_category);
    case FG_RULE_SERVICE: return m(r->pattern, row->service_name);
    case FG_RULE_CHARGE:
        return ml(r->pattern, commit_name(row->commitment_status)) || ml(r->pattern, charge_name(row->charge_category)) ||
               ml(r->pattern, pricing_name(row->pricing_category));
    }
    return false;
}

fg_bucket fg_rules_classify(const fg_rules *rs, const fg_bill_row *row, long *rule_line) {
    for (size_t i = 0; i < rs->n; i++)
        if (rule_matches(&rs->r[i], row)) {
            if (rule_line)
                *rule_line = rs->r[i].line;
            return rs->r[i].bucket;
        }
    if (rule_line)
        *rule_line = 0;
    return FG_BUCKET_OTHER;
}

/* The text of deploy/cost/rules.txt (tests/unit/cost/rules.c checks they are the same). */
const char fg_rules_default[] =
    "# frugal cost rules: which ML-lifecycle bucket a billing row's cost goes to.\n"
    "#\n"
    "# Syntax: one rule a line, `BUCKET  FIELD  PATTERN` (spaces or tabs between; PATTERN is the rest of\n"
    "# the line and may contain spaces). Lines starting with '#' and blank lines are ignored.\n"
    "#   BUCKET   training | inference | data_storage | compute_etl | monitoring | network |\n"
    "#            commitment_waste | other\n"
    "#   FIELD    tag:KEY           the value of tag KEY (KEY is itself a case-insensitive glob)\n"
    "#            sku               SkuId / product/sku / MeterId\n"
    "#            usage_type        SkuMeter, ConsumedUnit / lineItem/UsageType / MeterName\n"
    "#            service_category  FOCUS ServiceCategory (AWS CUR and Azure: from their service code,\n"
    "#                              deploy/cost/service-categories.csv)\n"
    "#            service           ServiceName / product/ProductName / MeterCategory\n"
    "#            charge            any of: commitment status (used, unused), charge category (usage,\n"
    "#                              purchase, tax, credit, adjustment), pricing category (standard,\n"
    "#                              committed, dynamic, other)\n"
    "#   PATTERN  case-insensitive glob: * any run of characters, ? one character\n"
    "# Rules are tried top to bottom; the first match wins; a row no rule matches is `other`\n"
    "# (unallocated spend, shown in the report). `frugal cost --rules FILE` replaces this whole set.\n"
    "#\n"
    "# Choices made by this default set:\n"
    "#   - unused commitment (reservation / savings plan) capacity is waste, whatever else it is;\n"
    "#   - explicit tags (ml-stage, stage, workload, ...) beat everything derived from SKUs and services;\n"
    "#   - spot and GPU usage with no tag count as training (interruptible / accelerator batch work);\n"
    "#     tag your GPU inference fleet to move it to inference;\n"
    "#   - FOCUS ServiceCategory \"AI and Machine Learning\" counts as inference (managed model APIs);\n"
    "#     SageMaker / Azure ML / Vertex AI split into training vs inference by usage type where the usage\n"
    "#     type says so (-Train:, -Host:, endpoint), and otherwise count as training;\n"
    "#   - Compute and Analytics are compute/ETL; Storage and Databases data storage.\n"
    "\n"
    "commitment_waste  charge            unused\n"
    "\n"
    "# 1. tags\n"
    "training          tag:ml-stage      train*\n"
    "inference         tag:ml-stage      infer*\n"
    "inference         tag:ml-stage      serv*\n"
    "compute_etl       tag:ml-stage      etl*\n"
    "compute_etl       tag:ml-stage      *preprocess*\n"
    "monitoring        tag:ml-stage      monitor*\n"
    "training          tag:ml_stage      train*\n"
    "inference         tag:ml_stage      infer*\n"
    "inference         tag:ml_stage      serv*\n"
    "compute_etl       tag:ml_stage      etl*\n"
    "training          tag:stage         train*\n"
    "inference         tag:stage         infer*\n"
    "inference         tag:stage         serv*\n"
    "compute_etl       tag:stage         etl*\n"
    "training          tag:workload      train*\n"
    "inference         tag:workload      infer*\n"
    "inference         tag:workload      serv*\n"
    "compute_etl       tag:workload      etl*\n"
    "compute_etl       tag:workload      *pipeline*\n"
    "monitoring        tag:workload      monitor*\n"
    "\n"
    "# 2. SKUs and usage types\n"
    "training          usage_type        *-Train:*\n"
    "training          usage_type        *Training*\n"
    "inference         usage_type        *-Host:*\n"
    "inference         usage_type        *Inference*\n"
    "inference         usage_type        *Endpoint*\n"
    "training          usage_type        *SpotUsage*\n"
    "training          usage_type        *GPU*\n"
    "training          sku               *GPU*\n"
    "network           usage_type        *DataTransfer*\n"
    "network           usage_type        *Egress*\n"
    "network           usage_type        *NatGateway*\n"
    "network           usage_type        *-Bytes\n"
    "monitoring        usage_type        *CW:*\n"
    "monitoring        usage_type        *Logs*\n"
    "data_storage      usage_type        *TimedStorage*\n"
    "data_storage      usage_type        *EBS:*\n"
    "data_storage      usage_type        *Snapshot*\n"
    "\n"
    "# 2b. service names more specific than their category (a category says \"AI and Machine Learning\"\n"
    "#     for SageMaker training too, \"Compute\" for managed disks)\n"
    "training          service           *SageMaker*\n"
    "training          service           *Machine Learning*\n"
    "training          service           *Vertex AI*\n"
    "inference         service           *Bedrock*\n"
    "inference         service           *OpenAI*\n"
    "inference         service           *Cognitive Services*\n"
    "compute_etl       service           *Databricks*\n"
    "data_storage      service           Storage\n"
    "\n"
    "# 3. service categories (FOCUS, or derived for AWS CUR and Azure)\n"
    "inference         service_category  AI and Machine Learning\n"
    "data_storage      service_category  Storage\n"
    "data_storage      service_category  Databases\n"
    "network           service_category  Networking\n"
    "monitoring        service_category  Management and Governance\n"
    "compute_etl       service_category  Analytics\n"
    "compute_etl       service_category  Compute\n"
    "\n"
    "# 4. service names\n"
    "data_storage      service           *Simple Storage Service*\n"
    "data_storage      service           *S3*\n"
    "data_storage      service           *Elastic File System*\n"
    "data_storage      service           *Blob*\n"
    "data_storage      service           *DynamoDB*\n"
    "data_storage      service           *Relational Database*\n"
    "data_storage      service           *Database*\n"
    "data_storage      service           *SQL*\n"
    "network           service           *Data Transfer*\n"
    "network           service           *CloudFront*\n"
    "network           service           *Virtual Private Cloud*\n"
    "network           service           Bandwidth\n"
    "network           service           Virtual Network\n"
    "monitoring        service           *CloudWatch*\n"
    "monitoring        service           *CloudTrail*\n"
    "monitoring        service           *Config*\n"
    "monitoring        service           Log Analytics\n"
    "monitoring        service           *Monitor*\n"
    "compute_etl       service           *Elastic Compute Cloud*\n"
    "compute_etl       service           *EC2*\n"
    "compute_etl       service           *Glue*\n"
    "compute_etl       service           *Elastic MapReduce*\n"
    "compute_etl       service           *Lambda*\n"
    "compute_etl       service           *Athena*\n"
    "compute_etl       service           Virtual Machines\n"
    "compute_etl       service           *Kubernetes*\n";
