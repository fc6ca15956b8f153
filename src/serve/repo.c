/* repo.c - model repository: scanning, config, version policy, loading with warmup, publishing under a
 * read-write lock, draining retired versions, the control thread, per-version metrics and KPIs. */
#include "serve/repo.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include <openssl/evp.h>

#include "serve/config.h"

/* A file's identity: a version is reloaded when its model file (or the model's config) changes. */
typedef struct filesig {
    uint64_t dev, ino, size, mtime_ns;
} filesig;

/* Everything that decides how a version is served: the config after completion and the command-line
 * overrides. */
typedef struct settings {
    int64_t max_batch;
    int64_t preferred[FG_SCHED_MAX_PREFERRED];
    int n_preferred;
    uint64_t delay_us;
    size_t max_queue;
    uint64_t timeout_us;
    int allow_override;
    int priority_levels, default_priority;
    int instances, threads;
    int adaptive;
} settings;

typedef struct version_slot {
    fg_repo_version *v;
    filesig sig;
} version_slot;

enum { ST_READY, ST_UNAVAILABLE };

struct fg_repo_model {
    char *name;
    uint32_t tag; /* response cache tag: the model's index in the repository */
    char *dir;  /* REPO/<name>; NULL in single-file mode */
    char *file; /* the .onnx in single-file mode */
    filesig cfg_sig;
    version_slot slots[FG_REPO_MAX_VERSIONS]; /* published, ascending version */
    size_t n_slots;
    int state;
    int unloaded;         /* unloaded through the API: polling leaves it alone */
    char reason[256];     /* why it is unavailable (index) */
    char last_error[256]; /* last poll failure, logged once */
    /* the model's local cache series (shared by its versions), refreshed at scrapes even when the model is
     * unloaded, so its gauges fall to zero with the purge */
    fg_metric *c_inserts, *c_evictions, *c_rejects, *c_bytes, *c_entries;
    fg_v2_buf meta; /* model-level metadata; rebuilt at every publish */
};

typedef struct ctl_op {
    fg_repo_op op;
    char *name;
    fg_repo_done_cb done_cb;
    void *ctx;
    struct ctl_op *next;
} ctl_op;

struct fg_repo {
    char *path;
    int single;
    fg_repo_opts o;
    pthread_rwlock_t lock;
    fg_repo_model **models;
    size_t n_models, cap_models;

    pthread_mutex_t cmu;
    pthread_cond_t ccond;
    ctl_op *head, *tail;
    int stop;
    pthread_t ctl;
    int ctl_started;

    /* metric families */
    fg_metric_family *f_req, *f_dur, *f_qdur, *f_cdur, *f_bitems, *f_breq, *f_batches, *f_items, *f_cap;
    fg_metric_family *f_qdepth, *f_inflight, *f_busy, *f_wlat, *f_wrps, *f_werr, *f_weff, *f_widle;
    fg_metric *s_cost, *s_idle, *s_window;
    fg_metric_family *f_chits, *f_cmiss, *f_cerr, *f_clookup, *f_cins, *f_cevict, *f_crej, *f_cbytes, *f_centries;
    fg_metric_family *f_cbypass;
};

static const char *const outcome_names[FG_OUT_N] = {"success", "bad_request", "rejected",
                                                    "timeout", "unavailable", "error"};
static const char *const outcome_status[FG_OUT_N] = {"200", "400", "503", "503", "503", "500"};

fg_repo_overrides fg_repo_overrides_none(void) {
    fg_repo_overrides o;
    memset(&o, 0, sizeof o);
    o.instances = o.threads = -1;
    o.max_batch = o.max_queue_delay_us = o.max_queue = o.default_timeout_us = -1;
    o.adaptive_delay = -1;
    return o;
}

int fg_repo_outcome(int status) {
    switch (status) {
    case 0: return FG_OUT_SUCCESS;
    case FG_SCHED_EFULL: return FG_OUT_REJECTED;
    case FG_SCHED_ETIMEDOUT: return FG_OUT_TIMEOUT;
    case FG_SCHED_ESTOPPED:
    case FG_ENOMEM: return FG_OUT_UNAVAILABLE;
    case FG_EINVAL:
    case FG_ESHAPE:
    case FG_EDTYPE: return FG_OUT_BAD_REQUEST;
    default: return FG_OUT_ERROR;
    }
}

static int file_sig(const char *path, filesig *s) {
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return -1;
    s->dev = (uint64_t)st.st_dev;
    s->ino = (uint64_t)st.st_ino;
    s->size = (uint64_t)st.st_size;
    s->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
    return 0;
}

static int sig_eq(const filesig *a, const filesig *b) { return memcmp(a, b, sizeof *a) == 0; }

static char *str_dup(const char *s, size_t n) {
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

static char *path_join(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    char *r = malloc(na + nb + 2);
    if (r) {
        memcpy(r, a, na);
        r[na] = '/';
        memcpy(r + na + 1, b, nb + 1);
    }
    return r;
}

/* ---- config → settings ---------------------------------------------------------------------------- */

static void warn_cb(void *ctx, const char *msg) {
    (void)ctx;
    fg_warn("repo: %s", msg);
}

/* Reads m's config.pbtxt (or, without one, an empty config: *derived = 1) and completes it against
 * model. The caller frees *c in every case. */
static int read_config(fg_repo_model *m, const fg_model *model, fg_model_config *c, int *derived, fg_err *e) {
    int rc;
    char *cp = m->dir ? path_join(m->dir, "config.pbtxt") : NULL;
    struct stat st;
    *derived = !(cp && stat(cp, &st) == 0);
    if (!*derived)
        rc = fg_model_config_load(cp, c, warn_cb, NULL, e);
    else
        rc = fg_model_config_parse("", 0, "(derived config)", c, warn_cb, NULL, e);
    free(cp);
    if (rc < 0)
        return rc;
    size_t n_in = fg_model_n_inputs(model), n_out = fg_model_n_outputs(model);
    fg_tensor_info in[FG_SCHED_MAX_IO], out[FG_SCHED_MAX_IO];
    if (n_in > FG_SCHED_MAX_IO || n_out > FG_SCHED_MAX_IO || n_in == 0 || n_out == 0)
        return fg_err_set(e, FG_EUNSUPPORTED, "model has %zu inputs and %zu outputs; 1..%d of each are supported",
                          n_in, n_out, FG_SCHED_MAX_IO);
    for (size_t i = 0; i < n_in; i++)
        in[i] = *fg_model_input(model, i);
    for (size_t i = 0; i < n_out; i++)
        out[i] = *fg_model_output(model, i);
    return fg_model_config_complete(c, m->name, in, n_in, out, n_out, warn_cb, NULL, e);
}

/* Whether every input and output of the model has a dynamic first dimension (the batch). */
static int model_batchable(const fg_repo_version *v) {
    for (size_t i = 0; i < v->n_in; i++)
        if (v->in[i].rank < 1 || v->in[i].dims[0] >= 0)
            return 0;
    for (size_t i = 0; i < v->n_out; i++)
        if (v->out[i].rank < 1 || v->out[i].dims[0] >= 0)
            return 0;
    return 1;
}

/* Effective settings: the config; frugal's defaults where there is no config file (a batchable model is
 * batched with FG_REPO_DEFAULT_DELAY_US); the command-line overrides last. A config without
 * dynamic_batching runs requests as they come (delay 0), as Triton does. */
static int make_settings(const fg_model_config *c, int derived, int batchable, const fg_repo_overrides *ov,
                         settings *s, fg_err *e) {
    const fg_config_batching *b = &c->batching;
    memset(s, 0, sizeof *s);
    s->max_batch = c->max_batch_size;
    s->instances = c->instances > 0 ? c->instances : 1;
    s->threads = 1;
    s->allow_override = 1;
    if (c->has_dynamic_batching) {
        s->n_preferred = b->n_preferred;
        for (int i = 0; i < s->n_preferred && i < FG_SCHED_MAX_PREFERRED; i++)
            s->preferred[i] = b->preferred[i];
        s->delay_us = b->max_queue_delay_us;
        s->max_queue = (size_t)b->max_queue_size;
        s->timeout_us = b->default_timeout_us;
        s->allow_override = b->allow_timeout_override;
        s->priority_levels = (int)b->priority_levels;
        s->default_priority = (int)b->default_priority_level;
        if (b->timeout_action == FG_TIMEOUT_DELAY)
            fg_warn("repo: model '%s': timeout_action DELAY is served as REJECT (a timed-out request gets 503)",
                    c->name);
    } else if (derived) {
        s->delay_us = FG_REPO_DEFAULT_DELAY_US;
    }
    /* a config's dynamic_batching means Triton's fixed delay; frugal's own default adapts to the load */
    s->adaptive = !c->has_dynamic_batching;
    if (ov->adaptive_delay >= 0)
        s->adaptive = ov->adaptive_delay;
    if (!s->max_queue)
        s->max_queue = FG_REPO_DEFAULT_MAX_QUEUE;
    if (ov->instances >= 0)
        s->instances = ov->instances;
    if (ov->threads >= 0)
        s->threads = ov->threads;
    if (ov->max_batch >= 0) {
        if (ov->max_batch > 0 && !batchable)
            return fg_err_set(e, FG_EINVAL,
                              "--max-batch %lld: the model cannot be batched (an input or output has no dynamic "
                              "first dimension)",
                              (long long)ov->max_batch);
        if (ov->max_batch > 0 && s->max_batch == 0 && c->has_max_batch_size && !derived)
            return fg_err_set(e, FG_EINVAL,
                              "--max-batch %lld: config.pbtxt says max_batch_size 0, so its dims are whole shapes",
                              (long long)ov->max_batch);
        if (ov->max_batch > 0 && !c->has_dynamic_batching && !derived)
            s->delay_us = FG_REPO_DEFAULT_DELAY_US;
        s->max_batch = ov->max_batch;
    }
    if (ov->max_queue_delay_us >= 0)
        s->delay_us = (uint64_t)ov->max_queue_delay_us;
    if (ov->max_queue >= 0)
        s->max_queue = (size_t)ov->max_queue;
    if (ov->default_timeout_us >= 0)
        s->timeout_us = (uint64_t)ov->default_timeout_us;
    if (ov->n_preferred > 0) {
        s->n_preferred = ov->n_preferred;
        memcpy(s->preferred, ov->preferred, sizeof s->preferred);
    }
    int n = 0;
    for (int i = 0; i < s->n_preferred; i++)
        if (s->max_batch > 0 && s->preferred[i] <= s->max_batch)
            s->preferred[n++] = s->preferred[i];
    s->n_preferred = n;
    if (s->instances < 1 || s->instances > FG_REPO_MAX_INSTANCES)
        return fg_err_set(e, FG_EINVAL, "%d instances; 1..%d are supported", s->instances, FG_REPO_MAX_INSTANCES);
    return 0;
}

/* ---- loading one version -------------------------------------------------------------------------- */

/* Adds the bytes of file path (if it exists) to the digest. */
static int digest_file(EVP_MD_CTX *ctx, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (EVP_DigestUpdate(ctx, buf, n) != 1) {
            rc = -1;
            break;
        }
    if (ferror(f))
        rc = -1;
    fclose(f);
    return rc;
}

/* v->cache_id: "<version>-<first 16 bytes of SHA-256(model file, config.pbtxt) in hex>". */
static int make_cache_id(fg_repo_version *v, const fg_repo_model *m, const char *file, fg_err *e) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdl = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    char *cp = m->dir ? path_join(m->dir, "config.pbtxt") : NULL;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 && digest_file(ctx, file) == 0 &&
             (!cp || digest_file(ctx, cp) == 0) && EVP_DigestFinal_ex(ctx, md, &mdl) == 1 && mdl >= 16;
    free(cp);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return fg_err_set(e, FG_EIO, "cannot digest '%s' for the response cache", file);
    int n = snprintf(v->cache_id, sizeof v->cache_id, "%s-", v->vstr);
    for (int i = 0; i < 16 && n + 2 < (int)sizeof v->cache_id; i++)
        n += snprintf(v->cache_id + n, sizeof v->cache_id - (size_t)n, "%02x", md[i]);
    return 0;
}

static int run_cb(void *user, int instance, const fg_tensor *in, size_t n_in, int64_t n_items, fg_tensor *out,
                  size_t n_out, fg_err *e) {
    (void)n_items;
    fg_repo_version *v = user;
    return fg_session_run(v->sessions[instance], in, n_in, out, n_out, e);
}

static void batch_cb(void *user, const fg_sched_batch_info *b) {
    fg_repo_version *v = user;
    uint64_t now = fg_now_ns(), qsum = 0;
    double compute_s = (double)b->compute_ns / 1e9;
    for (size_t i = 0; i < b->n_requests; i++) {
        qsum += b->queue_wait_ns[i];
        fg_metric_observe(v->queue_duration, (double)b->queue_wait_ns[i] / 1e9);
        fg_metric_observe(v->compute_duration, compute_s);
    }
    int64_t cap = v->max_batch > 0 ? v->max_batch : b->n_items;
    fg_metric_observe(v->batch_items, (double)b->n_items);
    fg_metric_observe(v->batch_requests, (double)b->n_requests);
    fg_metric_inc(v->batches_total);
    fg_metric_add(v->items_total, (double)b->n_items);
    fg_metric_add(v->capacity_total, (double)cap);
    if (b->instance >= 0 && b->instance < v->n_instances)
        fg_metric_add(v->busy[b->instance], compute_s);
    fg_kpi_batch(v->kpi, now, b->n_items, cap, b->compute_ns, qsum, b->n_requests);
    fg_kpi_busy(v->kpi, now, b->compute_ns);
}

/* Reads a warmup input file (raw bytes, REPO/<model>/warmup/<file>, as Triton) of exactly n bytes. */
static int read_warm_file(const fg_repo_model *m, const char *file, void *dst, size_t n, fg_err *e) {
    if (!m->dir || strstr(file, "..") || file[0] == '/')
        return fg_err_set(e, FG_EINVAL, "warmup file '%s' must be a plain name under the model's warmup/", file);
    char *wd = path_join(m->dir, "warmup"), *p = wd ? path_join(wd, file) : NULL;
    free(wd);
    if (!p)
        return fg_err_set(e, FG_ENOMEM, "out of memory");
    FILE *f = fopen(p, "rb");
    int rc = 0;
    if (!f) {
        rc = fg_err_set(e, FG_EIO, "cannot open warmup file '%s': %s", p, strerror(errno));
    } else {
        size_t got = fread(dst, 1, n, f);
        int extra = fgetc(f) != EOF;
        if (got != n || extra)
            rc = fg_err_set(e, FG_EFORMAT, "warmup file '%s' must hold exactly %zu bytes", p, n);
        fclose(f);
    }
    free(p);
    return rc;
}

/* Fills t with a warmup input for info: `rows` items when batched, then dims (without the batch dim when
 * batched; dynamic ones as 1), zero, random (deterministic) or file data. The caller frees t->data. */
static int warm_tensor(const fg_repo_version *v, const fg_tensor_info *info, const int64_t *dims, int rank,
                       int64_t rows, fg_config_warmup_source src, const char *file, fg_tensor *t, fg_err *e) {
    memset(t, 0, sizeof *t);
    t->dtype = info->dtype;
    int r = 0;
    if (v->batch_dim)
        t->dims[r++] = rows;
    for (int i = 0; i < rank && r < FG_MAX_RANK; i++)
        t->dims[r++] = dims[i] < 0 ? 1 : dims[i];
    t->rank = r;
    size_t es = fg_dtype_size(info->dtype);
    int64_t n = fg_tensor_numel(t);
    if (!es || n < 0 || (uint64_t)n > ((uint64_t)1 << 31) / es)
        return fg_err_set(e, FG_EINVAL, "warmup input '%s' is too large or of an unsupported type", info->name);
    t->data = calloc((size_t)n ? (size_t)n : 1, es);
    if (!t->data)
        return fg_err_set(e, FG_ENOMEM, "out of memory for warmup input '%s'", info->name);
    if (src == FG_WARMUP_FILE)
        return read_warm_file(v->owner, file, t->data, (size_t)n * es, e);
    if (src == FG_WARMUP_RANDOM) {
        uint32_t x = 2463534242u;
        unsigned char *p = t->data;
        for (size_t i = 0; i < (size_t)n * es; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            p[i] = (unsigned char)(x >> 24);
        }
        if (info->dtype == FG_F32) /* random bytes could be NaNs: use values in [0, 1) */
            for (int64_t i = 0; i < n; i++)
                ((float *)t->data)[i] = (float)((unsigned char *)t->data)[i * 4] / 256.0f;
        if (info->dtype == FG_BOOL)
            for (int64_t i = 0; i < n; i++)
                p[i] &= 1;
    }
    return 0;
}

/* Runs one warmup batch on every instance: a config sample w, or (w NULL) `rows` items of zeros shaped
 * by the completed config. */
static int warm_run(fg_repo_version *v, const fg_model_config *c, const fg_config_warmup *w, int64_t rows,
                    fg_err *e) {
    fg_tensor in[FG_SCHED_MAX_IO] = {0}, out[FG_SCHED_MAX_IO];
    int rc = 0;
    for (size_t i = 0; i < v->n_in && rc == 0; i++) {
        if (w) {
            const fg_config_warmup_input *wi = NULL;
            for (size_t k = 0; k < w->n_inputs; k++)
                if (strcmp(w->inputs[k].key, v->in[i].name) == 0)
                    wi = &w->inputs[k];
            if (!wi)
                rc = fg_err_set(e, FG_EINVAL, "no data for input '%s'", v->in[i].name);
            else
                rc = warm_tensor(v, &v->in[i], wi->dims, wi->rank, rows, wi->source, wi->file, &in[i], e);
            continue;
        }
        const fg_config_io *io = &c->inputs[0];
        for (size_t k = 0; k < c->n_inputs; k++)
            if (strcmp(c->inputs[k].name, v->in[i].name) == 0)
                io = &c->inputs[k];
        /* full_dims: the whole request shape, batch dim first when batched */
        int skip = io->full_rank > 0 && (c->max_batch_size > 0 || v->batch_dim) ? 1 : 0;
        rc = warm_tensor(v, &v->in[i], io->full_dims + skip, io->full_rank - skip, rows, FG_WARMUP_ZERO, NULL,
                         &in[i], e);
    }
    for (int s = 0; s < v->n_instances && rc == 0; s++)
        rc = fg_session_run(v->sessions[s], in, v->n_in, out, v->n_out, e);
    for (size_t i = 0; i < v->n_in; i++)
        free(in[i].data);
    return rc;
}

/* Warmup before the version is published: the config's model_warmup samples, or else every batch size the
 * batcher forms that matters (1, the preferred sizes, max_batch_size), so the first requests do not pay
 * for plans and primitives. A failing derived warmup is a warning; a failing configured one fails the
 * load, as in Triton. */
static int warmup(fg_repo_version *v, const fg_model_config *c, const settings *st, fg_err *e) {
    uint64_t t0 = fg_now_ns();
    int n = 0;
    if (c->n_warmup > 0) {
        for (size_t i = 0; i < c->n_warmup; i++) {
            const fg_config_warmup *w = &c->warmup[i];
            int64_t rows = w->batch_size > 0 ? w->batch_size : 1;
            for (uint32_t k = 0; k < (w->count > 0 ? w->count : 1); k++, n++) {
                int rc = warm_run(v, c, w, rows, e);
                if (rc < 0) {
                    fg_err_prefix(e, "model_warmup '%s': ", w->name ? w->name : "");
                    return rc;
                }
            }
        }
    } else {
        int64_t sizes[FG_SCHED_MAX_PREFERRED + 2];
        int ns = 0;
        sizes[ns++] = 1;
        for (int i = 0; i < st->n_preferred; i++)
            sizes[ns++] = st->preferred[i];
        if (st->max_batch > 1)
            sizes[ns++] = st->max_batch;
        for (int i = 0; i < ns; i++) {
            int dup = 0;
            for (int k = 0; k < i; k++)
                dup |= sizes[k] == sizes[i];
            if (dup || (!v->batch_dim && i > 0))
                continue;
            fg_err we = {0};
            if (warm_run(v, c, NULL, sizes[i], &we) < 0) {
                fg_warn("repo: model '%s' version %s: warmup with batch %lld failed (%s); serving anyway",
                        v->model_name, v->vstr, (long long)sizes[i], we.msg);
                break;
            }
            n++;
        }
    }
    fg_info("repo: model '%s' version %s: %d warmup run(s) on %d instance(s) in %.1f ms", v->model_name, v->vstr,
            n, v->n_instances, (double)(fg_now_ns() - t0) / 1e6);
    return 0;
}


static int make_series(fg_repo *r, fg_repo_version *v, fg_err *e) {
    /* the variant is a property of the version: a configured, bounded set of values, and one per version,
     * so no series is split by it */
    const char *var = r->o.variant_of ? r->o.variant_of(r->o.variant_ctx, v->model_name, v->version) : "";
    v->variant = var ? var : "";
    const char *lv[] = {v->model_name, v->vstr, v->variant};
    for (int i = 0; i < FG_OUT_N; i++) {
        const char *l4[] = {v->model_name, v->vstr, v->variant, outcome_names[i], outcome_status[i]};
        if (!(v->requests[i] = fg_metrics_series(r->f_req, l4, e)))
            return -1;
    }
    if (!(v->duration = fg_metrics_series(r->f_dur, lv, e)) || !(v->queue_duration = fg_metrics_series(r->f_qdur, lv, e)) ||
        !(v->compute_duration = fg_metrics_series(r->f_cdur, lv, e)) ||
        !(v->batch_items = fg_metrics_series(r->f_bitems, lv, e)) ||
        !(v->batch_requests = fg_metrics_series(r->f_breq, lv, e)) ||
        !(v->batches_total = fg_metrics_series(r->f_batches, lv, e)) ||
        !(v->items_total = fg_metrics_series(r->f_items, lv, e)) ||
        !(v->capacity_total = fg_metrics_series(r->f_cap, lv, e)) ||
        !(v->queue_depth = fg_metrics_series(r->f_qdepth, lv, e)) ||
        !(v->inflight = fg_metrics_series(r->f_inflight, lv, e)) ||
        !(v->w_rps = fg_metrics_series(r->f_wrps, lv, e)) || !(v->w_errors = fg_metrics_series(r->f_werr, lv, e)) ||
        !(v->w_eff = fg_metrics_series(r->f_weff, lv, e)) || !(v->w_idle = fg_metrics_series(r->f_widle, lv, e)))
        return -1;
    const char *q[3] = {"50", "95", "99"};
    fg_metric **w[3] = {&v->w_p50, &v->w_p95, &v->w_p99};
    for (int i = 0; i < 3; i++) {
        const char *l3[] = {v->model_name, v->vstr, v->variant, q[i]};
        if (!(*w[i] = fg_metrics_series(r->f_wlat, l3, e)))
            return -1;
    }
    if (v->cache_on) {
        static const char *const lvl[2] = {"local", "redis"};
        for (int l = 0; l < (r->o.cache_redis ? 2 : 1); l++) {
            const char *ml[] = {v->model_name, lvl[l]};
            if (!(v->c_hits[l] = fg_metrics_series(r->f_chits, ml, e)) ||
                !(v->c_misses[l] = fg_metrics_series(r->f_cmiss, ml, e)) ||
                !(v->c_errors[l] = fg_metrics_series(r->f_cerr, ml, e)) ||
                !(v->c_lookup[l] = fg_metrics_series(r->f_clookup, ml, e)))
                return -1;
        }
        const char *ml[] = {v->model_name, "local"};
        const char *m1[] = {v->model_name};
        /* start as if hitting: the cache is tried until the traffic shows it does not pay */
        v->c_ratio_ = 65536;
        if (!(v->c_bypassed = fg_metrics_series(r->f_cbypass, m1, e)) ||
            !(v->c_inserts = fg_metrics_series(r->f_cins, ml, e)) ||
            !(v->c_evictions = fg_metrics_series(r->f_cevict, ml, e)) ||
            !(v->c_rejects = fg_metrics_series(r->f_crej, ml, e)) ||
            !(v->c_bytes = fg_metrics_series(r->f_cbytes, ml, e)) ||
            !(v->c_entries = fg_metrics_series(r->f_centries, ml, e)))
            return -1;
    }
    v->busy = calloc((size_t)v->n_instances, sizeof *v->busy);
    if (!v->busy)
        return fg_err_set(e, FG_ENOMEM, "out of memory");
    for (int i = 0; i < v->n_instances; i++) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", i);
        const char *l3[] = {v->model_name, v->vstr, v->variant, idx};
        if (!(v->busy[i] = fg_metrics_series(r->f_busy, l3, e)))
            return -1;
    }
    return 0;
}

/* The shapes requests see: the completed config's (batch dim first when batched), and its reshapes. */
static void request_shapes(fg_repo_version *v, const fg_model_config *c) {
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass ? v->n_out : v->n_in;
        const fg_config_io *ios = pass ? c->outputs : c->inputs;
        size_t n_io = pass ? c->n_outputs : c->n_inputs;
        for (size_t i = 0; i < n; i++) {
            fg_tensor_info *ri = pass ? &v->req_out[i] : &v->req_in[i];
            int *rr = pass ? &v->out_reshape_rank[i] : &v->in_reshape_rank[i];
            int64_t *rd = pass ? v->out_reshape[i] : v->in_reshape[i];
            *ri = pass ? v->out[i] : v->in[i];
            *rr = -1;
            const fg_config_io *io = NULL;
            for (size_t k = 0; k < n_io; k++)
                if (ios[k].model_index == (int)i)
                    io = &ios[k];
            if (!io || io->full_rank <= 0 || ri->rank < 0)
                continue;
            ri->rank = io->full_rank;
            memcpy(ri->dims, io->full_dims, sizeof ri->dims);
            if (v->batch_dim && c->max_batch_size == 0)
                ri->dims[0] = -1; /* --max-batch on a model whose config did not batch */
            for (int k = 0; k < FG_MAX_RANK; k++)
                ri->dim_names[k] = NULL;
            if (io->has_reshape) {
                /* inputs: request dims -> the model's reshape; outputs: the model's shape -> config dims */
                *rr = pass ? io->rank : io->reshape_rank;
                memcpy(rd, pass ? io->dims : io->reshape_dims, sizeof(int64_t) * FG_MAX_RANK);
            }
        }
    }
}

void fg_repo_reshape(fg_tensor *t, int batch_dim, const int64_t *dims, int rank) {
    int64_t n = fg_tensor_numel(t), known = 1;
    int r = 0, free_k = -1;
    if (batch_dim) {
        t->dims[r++] = t->dims[0];
        known = t->dims[0] > 0 ? t->dims[0] : 1;
    }
    for (int k = 0; k < rank && r < FG_MAX_RANK; k++, r++) {
        t->dims[r] = dims[k];
        if (dims[k] < 0)
            free_k = r;
        else
            known *= dims[k] ? dims[k] : 1;
    }
    if (free_k >= 0)
        t->dims[free_k] = known ? n / known : 0;
    t->rank = r;
}

/* Drains and frees v (NULL is fine). Its metric series stay in the registry: counters keep their final
 * values, gauges are zeroed. */
#define CACHE_BYPASS_BELOW 655u /* 1 % of 65536 */

int fg_repo_cache_try(fg_repo_version *v) {
    if (!v->cache_on)
        return 0;
    if (__atomic_load_n(&v->c_ratio_, __ATOMIC_RELAXED) >= CACHE_BYPASS_BELOW)
        return 1;
    if ((__atomic_add_fetch(&v->c_tick_, 1, __ATOMIC_RELAXED) & 7) == 0)
        return 1;
    fg_metric_inc(v->c_bypassed);
    return 0;
}

void fg_repo_cache_outcome(fg_repo_version *v, int hit) {
    /* weight 1/64: a racy read-modify-write only loses one sample now and then, which a moving average
     * shrugs off */
    uint32_t r = __atomic_load_n(&v->c_ratio_, __ATOMIC_RELAXED);
    r = r - r / 64 + (hit ? 65536u / 64 : 0);
    __atomic_store_n(&v->c_ratio_, r, __ATOMIC_RELAXED);
}

void fg_repo_version_hold(fg_repo_version *v) { __atomic_add_fetch(&v->holds_, 1, __ATOMIC_ACQ_REL); }

void fg_repo_version_release(fg_repo_version *v) { __atomic_sub_fetch(&v->holds_, 1, __ATOMIC_ACQ_REL); }

static void version_free(fg_repo_version *v, uint64_t deadline_ns) {
    if (!v)
        return;
    /* requests waiting on Redis hold v: they finish within the Redis timeout */
    while (__atomic_load_n(&v->holds_, __ATOMIC_ACQUIRE) > 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    fg_sched_stop(v->sched, deadline_ns);
    for (int i = 0; i < v->n_instances && v->sessions; i++)
        fg_session_free(v->sessions[i]);
    free(v->sessions);
    fg_metric *g[] = {v->queue_depth, v->inflight, v->w_p50, v->w_p95, v->w_p99, v->w_rps, v->w_errors, v->w_eff, v->w_idle};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++)
        if (g[i])
            fg_metric_set(g[i], 0);
    free(v->busy);
    fg_kpi_free(v->kpi);
    fg_v2_buf_free(&v->meta);
    fg_model_free(v->model);
    free(v);
}

/* Loads version `version` of m from file: model, config, sessions, warmup, queue. Not published yet. */
static fg_repo_version *version_load(fg_repo *r, fg_repo_model *m, int64_t version, const char *file, fg_err *e) {
    fg_repo_version *v = calloc(1, sizeof *v);
    if (!v) {
        fg_err_set(e, FG_ENOMEM, "out of memory");
        return NULL;
    }
    fg_model_config c;
    fg_model_config_init(&c);
    settings st;
    v->owner = m;
    v->model_name = m->name;
    v->version = version;
    snprintf(v->vstr, sizeof v->vstr, "%lld", (long long)version);
    uint64_t t0 = fg_now_ns();
    if (!(v->model = fg_model_load(file, NULL, e)))
        goto fail;
    int derived;
    if (read_config(m, v->model, &c, &derived, e) < 0)
        goto fail;
    v->n_in = fg_model_n_inputs(v->model);
    v->n_out = fg_model_n_outputs(v->model);
    for (size_t i = 0; i < v->n_in; i++)
        v->in[i] = *fg_model_input(v->model, i);
    for (size_t i = 0; i < v->n_out; i++)
        v->out[i] = *fg_model_output(v->model, i);
    if (make_settings(&c, derived, model_batchable(v), &r->o.overrides, &st, e) < 0)
        goto fail;
    request_shapes(v, &c);
    v->cache_tag = m->tag;
    v->cache_on = r->o.cache && m->tag < FG_CACHE_MAX_TAGS &&
                  (c.has_response_cache ? c.response_cache : r->o.cache_by_default);
    if (v->cache_on && make_cache_id(v, m, file, e) < 0)
        goto fail;
    if (c.has_response_cache && c.response_cache && !r->o.cache)
        fg_warn("repo: model '%s': response_cache is enabled in its config, but the server has no cache "
                "(--cache-bytes)", m->name);
    v->max_batch = st.max_batch;
    v->batch_dim = c.max_batch_size > 0 || st.max_batch > 0;
    v->allow_timeout_override = st.allow_override;
    v->n_instances = st.instances;
    if (!(v->sessions = calloc((size_t)st.instances, sizeof *v->sessions))) {
        fg_err_set(e, FG_ENOMEM, "out of memory");
        goto fail;
    }
    fg_session_opts so = {.n_threads = st.threads, .precision = r->o.precision};
    for (int i = 0; i < st.instances; i++)
        if (!(v->sessions[i] = fg_session_new(v->model, &so, e)))
            goto fail;
    if (!r->o.no_warmup && warmup(v, &c, &st, e) < 0)
        goto fail;
    v->kpi = fg_kpi_new(r->o.kpi_window_s ? r->o.kpi_window_s : 60);
    if (make_series(r, v, e) < 0)
        goto fail;
    const char *vs[] = {v->vstr};
    if (fg_v2_encode_model_metadata(&v->meta, m->name, vs, 1, v->req_in, v->n_in, v->req_out, v->n_out, e) < 0)
        goto fail;
    fg_sched_config sc = {
        .max_batch_size = st.max_batch,
        .n_preferred = st.n_preferred,
        .max_queue_delay_us = st.delay_us,
        .adaptive_delay = st.adaptive,
        .max_queue_size = st.max_queue,
        .default_timeout_us = st.timeout_us,
        .allow_timeout_override = st.allow_override,
        .priority_levels = st.priority_levels,
        .default_priority = st.default_priority,
        .n_inputs = v->n_in,
        .n_outputs = v->n_out,
        .batch_cb = batch_cb,
        .batch_user = v,
    };
    memcpy(sc.preferred_batch_sizes, st.preferred, sizeof sc.preferred_batch_sizes);
    if (!(v->sched = fg_sched_new(&sc, e)))
        goto fail;
    if (fg_sched_start(v->sched, st.instances, run_cb, v, e) < 0) {
        fg_sched_stop(v->sched, 0);
        v->sched = NULL;
        goto fail;
    }
    fg_info("repo: model '%s' version %s loaded in %.1f ms: %d instance(s) x %d thread(s), max batch %lld, "
            "queue delay %llu us (%s), max queue %zu",
            m->name, v->vstr, (double)(fg_now_ns() - t0) / 1e6, st.instances, st.threads, (long long)st.max_batch,
            (unsigned long long)st.delay_us, st.adaptive ? "adaptive" : "fixed", st.max_queue);
    if (r->o.precision == FG_PREC_BF16 && !r->o.no_warmup) { /* the warmup built a plan: say what runs in bf16 */
        size_t n_bf16, n_f32;
        fg_session_bf16_nodes(v->sessions[0], &n_bf16, &n_f32);
        fg_info("repo: model '%s' version %s: bf16 compute for %zu products, %zu kept in f32 (no oneDNN bf16 "
                "kernel on this CPU)", m->name, v->vstr, n_bf16, n_f32);
    }
    fg_model_config_free(&c);
    return v;
fail:
    fg_err_prefix(e, "model '%s' version %lld: ", m->name, (long long)version);
    fg_model_config_free(&c);
    version_free(v, 0);
    return NULL;
}

/* ---- scanning and publishing ---------------------------------------------------------------------- */

/* Model names end up in file paths: letters, digits, '_', '-', '.', not starting with '.', 1..128. */
static int name_ok(const char *s, size_t n) {
    if (n == 0 || n > 128 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return 0;
    }
    return 1;
}

static int parse_version(const char *s, int64_t *v) {
    if (!*s || *s == '0' || strlen(s) > 18)
        return -1;
    int64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        x = x * 10 + (*s - '0');
    }
    *v = x;
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The versions m's policy names: version directories holding model.onnx, filtered by the policy, at most
 * FG_REPO_MAX_VERSIONS (the highest ones). */
static int wanted_versions(fg_repo_model *m, int64_t *want, filesig *sigs, size_t *n_want, filesig *cfg_sig,
                           fg_err *e) {
    *n_want = 0;
    memset(cfg_sig, 0, sizeof *cfg_sig);
    if (!m->dir) {
        if (file_sig(m->file, &sigs[0]) < 0)
            return fg_err_set(e, FG_EIO, "cannot read '%s': %s", m->file, strerror(errno));
        want[0] = 1;
        *n_want = 1;
        return 0;
    }
    fg_model_config c;
    fg_model_config_init(&c);
    char *cp = path_join(m->dir, "config.pbtxt");
    if (!cp)
        return fg_err_set(e, FG_ENOMEM, "out of memory");
    int rc = 0;
    if (file_sig(cp, cfg_sig) == 0)
        rc = fg_model_config_load(cp, &c, NULL, NULL, e);
    else
        rc = fg_model_config_parse("", 0, "(derived)", &c, NULL, NULL, e);
    free(cp);
    if (rc < 0)
        return rc;
    DIR *d = opendir(m->dir);
    if (!d) {
        fg_model_config_free(&c);
        return fg_err_set(e, FG_ENOTFOUND, "cannot open model directory '%s': %s", m->dir, strerror(errno));
    }
    int64_t all[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < sizeof all / sizeof all[0]) {
        int64_t v;
        if (parse_version(de->d_name, &v) < 0)
            continue;
        all[n++] = v;
    }
    closedir(d);
    qsort(all, n, sizeof all[0], cmp_i64);
    /* highest first, keeping only those with a model file, filtered by the policy */
    size_t limit = c.version_policy.kind == FG_VERSIONS_LATEST
                       ? (size_t)(c.version_policy.num_versions > 0 ? c.version_policy.num_versions : 1)
                       : FG_REPO_MAX_VERSIONS;
    if (limit > FG_REPO_MAX_VERSIONS)
        limit = FG_REPO_MAX_VERSIONS;
    for (size_t i = n; i-- > 0 && *n_want < limit;) {
        if (c.version_policy.kind == FG_VERSIONS_SPECIFIC) {
            int listed = 0;
            for (int k = 0; k < c.version_policy.n_versions; k++)
                listed |= c.version_policy.versions[k] == all[i];
            if (!listed)
                continue;
        }
        char sub[32], *vp, *fp;
        snprintf(sub, sizeof sub, "%lld", (long long)all[i]);
        if (!(vp = path_join(m->dir, sub)))
            break;
        fp = path_join(vp, "model.onnx");
        free(vp);
        if (fp && file_sig(fp, &sigs[*n_want]) == 0)
            want[(*n_want)++] = all[i];
        free(fp);
    }
    fg_model_config_free(&c);
    /* ascending, sigs alongside */
    for (size_t i = 0; i < *n_want / 2; i++) {
        size_t j = *n_want - 1 - i;
        int64_t tv = want[i];
        want[i] = want[j];
        want[j] = tv;
        filesig ts = sigs[i];
        sigs[i] = sigs[j];
        sigs[j] = ts;
    }
    return 0;
}

static char *version_file(fg_repo_model *m, int64_t v) {
    if (!m->dir)
        return str_dup(m->file, strlen(m->file));
    char p[64];
    snprintf(p, sizeof p, "%lld/model.onnx", (long long)v);
    return path_join(m->dir, p);
}

/* Model-level metadata: the highest version's tensors and every loaded version. */
static int model_meta(const version_slot *slots, size_t n, fg_v2_buf *b, fg_err *e) {
    if (n == 0)
        return 0;
    const char *vs[FG_REPO_MAX_VERSIONS];
    for (size_t i = 0; i < n; i++)
        vs[i] = slots[n - 1 - i].v->vstr;
    const fg_repo_version *v = slots[n - 1].v;
    return fg_v2_encode_model_metadata(b, v->model_name, vs, n, v->req_in, v->n_in, v->req_out, v->n_out, e);
}

/* Publishes `slots` as m's versions under the write lock; retires (drains, frees) the versions no longer
 * in it. reason is the model's state text when slots is empty. */
static int publish(fg_repo *r, fg_repo_model *m, const version_slot *slots, size_t n, const char *reason,
                   fg_err *e) {
    fg_v2_buf meta = {0};
    if (model_meta(slots, n, &meta, e) < 0) {
        fg_v2_buf_free(&meta);
        return -1;
    }
    version_slot old[FG_REPO_MAX_VERSIONS];
    size_t n_old;
    pthread_rwlock_wrlock(&r->lock);
    n_old = m->n_slots;
    memcpy(old, m->slots, n_old * sizeof old[0]);
    if (n)
        memcpy(m->slots, slots, n * sizeof slots[0]);
    m->n_slots = n;
    fg_v2_buf t = m->meta;
    m->meta = meta;
    meta = t;
    m->state = n ? ST_READY : ST_UNAVAILABLE;
    for (size_t k = 0; k < n; k++)
        if (slots[k].v->cache_on && slots[k].v->c_entries) {
            const fg_repo_version *cv = slots[k].v;
            m->c_inserts = cv->c_inserts, m->c_evictions = cv->c_evictions, m->c_rejects = cv->c_rejects;
            m->c_bytes = cv->c_bytes, m->c_entries = cv->c_entries;
        }
    snprintf(m->reason, sizeof m->reason, "%s", n ? "" : reason);
    pthread_rwlock_unlock(&r->lock);
    fg_v2_buf_free(&meta);
    if (r->o.cache) /* a new version never matches old keys (the version is in them); free their room */
        fg_cache_purge_tag(r->o.cache, m->tag);
    for (size_t i = 0; i < n_old; i++) {
        int kept = 0;
        for (size_t k = 0; k < n; k++)
            kept |= slots[k].v == old[i].v;
        if (!kept) {
            uint64_t t0 = fg_now_ns();
            int64_t ver = old[i].v->version;
            version_free(old[i].v, 0);
            fg_info("repo: model '%s': version %lld unloaded (drained in %.1f ms)", m->name, (long long)ver,
                    (double)(fg_now_ns() - t0) / 1e6);
        }
    }
    /* again after the drain: requests that finished on a retired version may have stored answers (they are
     * under its own cache id, so never served by another, but they would only take room) */
    if (r->o.cache && n_old)
        fg_cache_purge_tag(r->o.cache, m->tag);
    return 0;
}

/* Brings m in line with its directory: loads new or changed versions, switches to them, unloads the ones
 * the policy no longer names. On any load failure nothing changes and the error is returned. *changed is
 * set when something was published. */
static int model_sync(fg_repo *r, fg_repo_model *m, int *changed, fg_err *e) {
    int64_t want[FG_REPO_MAX_VERSIONS];
    filesig sigs[FG_REPO_MAX_VERSIONS], cfg_sig;
    size_t n_want;
    *changed = 0;
    if (wanted_versions(m, want, sigs, &n_want, &cfg_sig, e) < 0)
        return -1;
    if (n_want == 0)
        return fg_err_set(e, FG_ENOTFOUND, "model '%s': no version directory with a model.onnx that the version policy names",
                          m->name);
    int cfg_changed = !sig_eq(&cfg_sig, &m->cfg_sig);
    version_slot next[FG_REPO_MAX_VERSIONS];
    size_t n = 0;
    int fresh[FG_REPO_MAX_VERSIONS] = {0};
    for (size_t i = 0; i < n_want; i++) {
        const version_slot *cur = NULL;
        for (size_t k = 0; k < m->n_slots; k++)
            if (m->slots[k].v->version == want[i])
                cur = &m->slots[k];
        if (cur && !cfg_changed && sig_eq(&cur->sig, &sigs[i])) {
            next[n++] = *cur;
            continue;
        }
        char *file = version_file(m, want[i]);
        fg_repo_version *v = file ? version_load(r, m, want[i], file, e) : NULL;
        if (!file)
            fg_err_set(e, FG_ENOMEM, "out of memory");
        free(file);
        if (!v) {
            for (size_t k = 0; k < n; k++)
                if (fresh[k])
                    version_free(next[k].v, 0);
            return -1;
        }
        fresh[n] = 1;
        next[n++] = (version_slot){v, sigs[i]};
    }
    int same = n == m->n_slots;
    for (size_t k = 0; same && k < n; k++)
        same = next[k].v == m->slots[k].v;
    if (same && m->state == ST_READY) {
        m->cfg_sig = cfg_sig;
        return 0;
    }
    if (publish(r, m, next, n, "", e) < 0) {
        for (size_t k = 0; k < n; k++)
            if (fresh[k])
                version_free(next[k].v, 0);
        return -1;
    }
    m->cfg_sig = cfg_sig;
    *changed = 1;
    for (size_t k = 0; k < n; k++)
        if (fresh[k])
            fg_info("repo: model '%s' version %s is ready", m->name, next[k].v->vstr);
    return 0;
}

static fg_repo_model *model_get(fg_repo *r, const char *name, size_t len) {
    for (size_t i = 0; i < r->n_models; i++)
        if (strlen(r->models[i]->name) == len && memcmp(r->models[i]->name, name, len) == 0)
            return r->models[i];
    return NULL;
}

/* Finds or creates the model entry for name (directory mode). */
static fg_repo_model *model_add(fg_repo *r, const char *name, size_t len, fg_err *e) {
    fg_repo_model *m = model_get(r, name, len);
    if (m)
        return m;
    m = calloc(1, sizeof *m);
    if (!m || !(m->name = str_dup(name, len))) {
        free(m);
        fg_err_set(e, FG_ENOMEM, "out of memory");
        return NULL;
    }
    m->state = ST_UNAVAILABLE;
    snprintf(m->reason, sizeof m->reason, "not loaded");
    if (r->single) {
        m->file = str_dup(r->path, strlen(r->path));
    } else {
        m->dir = path_join(r->path, m->name);
    }
    if (!(r->single ? m->file : m->dir)) {
        free(m->name);
        free(m);
        fg_err_set(e, FG_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_rwlock_wrlock(&r->lock);
    if (r->n_models == r->cap_models) {
        size_t nc = r->cap_models ? r->cap_models * 2 : 8;
        fg_repo_model **nm = realloc(r->models, nc * sizeof *nm);
        if (!nm) {
            pthread_rwlock_unlock(&r->lock);
            free(m->dir);
            free(m->file);
            free(m->name);
            free(m);
            fg_err_set(e, FG_ENOMEM, "out of memory");
            return NULL;
        }
        r->models = nm;
        r->cap_models = nc;
    }
    m->tag = (uint32_t)r->n_models;
    r->models[r->n_models++] = m;
    pthread_rwlock_unlock(&r->lock);
    return m;
}

static int model_unload(fg_repo *r, fg_repo_model *m, const char *reason, fg_err *e) {
    return publish(r, m, NULL, 0, reason, e);
}

static int strcmp_ptr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Model directories under the repository (sorted names, caller frees each and the array). */
static int list_model_dirs(fg_repo *r, char ***names, size_t *n, fg_err *e) {
    *names = NULL;
    *n = 0;
    if (r->single) {
        if (!(*names = malloc(sizeof **names)) || !((*names)[0] = str_dup(r->models[0]->name, strlen(r->models[0]->name)))) {
            free(*names);
            *names = NULL;
            return fg_err_set(e, FG_ENOMEM, "out of memory");
        }
        *n = 1;
        return 0;
    }
    DIR *d = opendir(r->path);
    if (!d)
        return fg_err_set(e, FG_EIO, "cannot open repository '%s': %s", r->path, strerror(errno));
    size_t cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!name_ok(de->d_name, strlen(de->d_name)))
            continue;
        char *p = path_join(r->path, de->d_name);
        struct stat st;
        int isdir = p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
        free(p);
        if (!isdir)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(*names, cap * sizeof *nn);
            if (!nn) {
                rc = fg_err_set(e, FG_ENOMEM, "out of memory");
                break;
            }
            *names = nn;
        }
        if (!((*names)[*n] = str_dup(de->d_name, strlen(de->d_name)))) {
            rc = fg_err_set(e, FG_ENOMEM, "out of memory");
            break;
        }
        (*n)++;
    }
    closedir(d);
    if (rc == 0)
        qsort(*names, *n, sizeof **names, strcmp_ptr);
    return rc;
}

/* ---- control thread ------------------------------------------------------------------------------- */

static int index_json(fg_repo *r, fg_v2_buf *b, fg_err *e) {
    char **names = NULL;
    size_t n = 0;
    if (list_model_dirs(r, &names, &n, e) < 0)
        return -1;
    int rc = fg_v2_buf_puts(b, "[");
    int first = 1;
    pthread_rwlock_rdlock(&r->lock);
    /* every model directory, and models still known whose directory went away */
    for (size_t pass = 0; pass < 2; pass++) {
        size_t cnt = pass == 0 ? n : r->n_models;
        for (size_t i = 0; i < cnt && rc == 0; i++) {
            const char *name = pass == 0 ? names[i] : r->models[i]->name;
            if (pass == 1) {
                int listed = 0;
                for (size_t k = 0; k < n; k++)
                    listed |= strcmp(names[k], name) == 0;
                if (listed)
                    continue;
            }
            fg_repo_model *m = model_get(r, name, strlen(name));
            if (m && m->n_slots) {
                for (size_t k = 0; k < m->n_slots && rc == 0; k++) {
                    rc |= fg_v2_buf_puts(b, first ? "{\"name\":" : ",{\"name\":");
                    rc |= fg_v2_buf_append_json_str(b, name);
                    rc |= fg_v2_buf_printf(b, ",\"version\":\"%s\",\"state\":\"READY\"}", m->slots[k].v->vstr);
                    first = 0;
                }
            } else {
                rc |= fg_v2_buf_puts(b, first ? "{\"name\":" : ",{\"name\":");
                rc |= fg_v2_buf_append_json_str(b, name);
                rc |= fg_v2_buf_puts(b, ",\"state\":\"UNAVAILABLE\",\"reason\":");
                rc |= fg_v2_buf_append_json_str(b, m ? m->reason : "not loaded");
                rc |= fg_v2_buf_puts(b, "}");
                first = 0;
            }
        }
    }
    pthread_rwlock_unlock(&r->lock);
    rc |= fg_v2_buf_puts(b, "]");
    free_names(names, n);
    return rc ? fg_err_set(e, FG_ENOMEM, "out of memory") : 0;
}

/* LOAD: (re)reads the model's directory and switches to what it holds. */
static int op_load(fg_repo *r, const char *name, fg_err *e) {
    size_t len = strlen(name);
    if (!name_ok(name, len))
        return fg_err_set(e, FG_EINVAL, "'%s' is not a valid model name", name);
    fg_repo_model *m = model_get(r, name, len);
    if (!m) {
        char *dir = r->single ? NULL : path_join(r->path, name);
        struct stat st;
        int exists = dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
        free(dir);
        if (!exists)
            return fg_err_set(e, FG_ENOTFOUND, "no model '%s' in the repository", name);
        if (!(m = model_add(r, name, len, e)))
            return -1;
    }
    int changed;
    int rc = model_sync(r, m, &changed, e);
    pthread_rwlock_wrlock(&r->lock);
    m->unloaded = 0;
    if (rc < 0 && m->n_slots == 0)
        snprintf(m->reason, sizeof m->reason, "%s", e->msg);
    pthread_rwlock_unlock(&r->lock);
    if (rc < 0)
        fg_error("repo: loading model '%s' failed: %s", name, e->msg);
    return rc;
}

static int op_unload(fg_repo *r, const char *name, fg_err *e) {
    fg_repo_model *m = model_get(r, name, strlen(name));
    if (!m)
        return fg_err_set(e, FG_ENOTFOUND, "no model '%s' in the repository", name);
    m->unloaded = 1;
    return model_unload(r, m, "unloaded", e);
}

/* Poll: load new models, switch changed ones, unload those whose directory went away. A model unloaded
 * through the API stays unloaded until loaded through the API. Each distinct failure is logged once. */
static void poll_repo(fg_repo *r) {
    char **names = NULL;
    size_t n = 0;
    fg_err e = {0};
    if (list_model_dirs(r, &names, &n, &e) < 0) {
        fg_error("repo: poll: %s", e.msg);
        free_names(names, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        fg_repo_model *m = model_get(r, names[i], strlen(names[i]));
        if (m && m->unloaded)
            continue;
        fg_err_clear(&e);
        if (!m && !(m = model_add(r, names[i], strlen(names[i]), &e))) {
            fg_error("repo: poll: %s", e.msg);
            continue;
        }
        int changed;
        if (model_sync(r, m, &changed, &e) < 0) {
            if (strcmp(m->last_error, e.msg) != 0)
                fg_error("repo: poll: %s", e.msg);
            snprintf(m->last_error, sizeof m->last_error, "%s", e.msg);
            if (m->n_slots == 0) {
                pthread_rwlock_wrlock(&r->lock);
                snprintf(m->reason, sizeof m->reason, "%s", e.msg);
                pthread_rwlock_unlock(&r->lock);
            }
        } else {
            m->last_error[0] = 0;
        }
    }
    for (size_t i = 0; !r->single && i < r->n_models; i++) {
        fg_repo_model *m = r->models[i];
        int listed = 0;
        for (size_t k = 0; k < n; k++)
            listed |= strcmp(names[k], m->name) == 0;
        if (!listed && m->n_slots) {
            fg_info("repo: model '%s' left the repository; unloading", m->name);
            model_unload(r, m, "removed from the repository", &e);
        }
    }
    free_names(names, n);
}

static int op_purge(fg_repo *r, const char *name, fg_v2_buf *b, fg_err *e) {
    fg_repo_model *m = model_get(r, name, strlen(name));
    if (!m)
        return fg_err_set(e, FG_ENOTFOUND, "no model '%s' in the repository", name);
    size_t n = r->o.cache ? fg_cache_purge_tag(r->o.cache, m->tag) : 0;
    fg_info("repo: model '%s': %zu response cache entries purged", name, n);
    return fg_v2_buf_printf(b, "{\"purged\":%zu}", n) < 0 ? fg_err_set(e, FG_ENOMEM, "out of memory") : 0;
}

static void *ctl_main(void *arg) {
    fg_repo *r = arg;
    uint64_t next_poll = r->o.poll_s ? fg_now_ns() + r->o.poll_s * 1000000000ull : UINT64_MAX;
    pthread_mutex_lock(&r->cmu);
    while (!r->stop) {
        if (!r->head) {
            if (next_poll == UINT64_MAX) {
                pthread_cond_wait(&r->ccond, &r->cmu);
            } else if (fg_now_ns() < next_poll) {
                struct timespec ts = {(time_t)(next_poll / 1000000000ull), (long)(next_poll % 1000000000ull)};
                pthread_cond_timedwait(&r->ccond, &r->cmu, &ts); /* ccond runs on CLOCK_MONOTONIC */
            }
        }
        if (r->stop)
            break;
        ctl_op *op = r->head;
        if (op) {
            r->head = op->next;
            if (!r->head)
                r->tail = NULL;
        }
        pthread_mutex_unlock(&r->cmu);
        if (op) {
            fg_err e = {0};
            fg_v2_buf b = {0};
            int rc = op->op == FG_REPO_LOAD     ? op_load(r, op->name, &e)
                     : op->op == FG_REPO_UNLOAD ? op_unload(r, op->name, &e)
                     : op->op == FG_REPO_PURGE  ? op_purge(r, op->name, &b, &e)
                                                : index_json(r, &b, &e);
            if (rc < 0)
                op->done_cb(op->ctx, rc, NULL, 0, e.msg);
            else if (op->op == FG_REPO_INDEX || op->op == FG_REPO_PURGE)
                op->done_cb(op->ctx, 0, b.ptr, b.len, NULL);
            else
                op->done_cb(op->ctx, 0, "{}", 2, NULL);
            fg_v2_buf_free(&b);
            free(op->name);
            free(op);
        } else if (fg_now_ns() >= next_poll) {
            poll_repo(r);
            next_poll = fg_now_ns() + r->o.poll_s * 1000000000ull;
        }
        pthread_mutex_lock(&r->cmu);
    }
    /* fail what is still queued */
    ctl_op *op = r->head;
    r->head = r->tail = NULL;
    pthread_mutex_unlock(&r->cmu);
    while (op) {
        ctl_op *nx = op->next;
        op->done_cb(op->ctx, FG_ESTOPPED, NULL, 0, "the server is shutting down");
        free(op->name);
        free(op);
        op = nx;
    }
    return NULL;
}

void fg_repo_control(fg_repo *r, fg_repo_op op, const char *name, size_t len, fg_repo_done_cb done_cb, void *ctx) {
    ctl_op *o = calloc(1, sizeof *o);
    if (!o || !(o->name = str_dup(name ? name : "", name ? len : 0))) {
        free(o);
        fg_error("repo: out of memory queueing a repository operation");
        done_cb(ctx, FG_ENOMEM, NULL, 0, "out of memory");
        return;
    }
    o->op = op;
    o->done_cb = done_cb;
    o->ctx = ctx;
    pthread_mutex_lock(&r->cmu);
    if (r->stop) {
        pthread_mutex_unlock(&r->cmu);
        free(o->name);
        free(o);
        done_cb(ctx, FG_ESTOPPED, NULL, 0, "the server is shutting down");
        return;
    }
    if (r->tail)
        r->tail->next = o;
    else
        r->head = o;
    r->tail = o;
    pthread_cond_signal(&r->ccond);
    pthread_mutex_unlock(&r->cmu);
}

/* ---- metrics -------------------------------------------------------------------------------------- */

static int register_families(fg_repo *r, fg_err *e) {
    fg_metrics *g = r->o.metrics;
    /* `variant` is empty (and so left out of the exposition) for versions in no A/B test */
    const char *l2[] = {"model", "version", "variant"};
    const char *l4[] = {"model", "version", "variant", "outcome", "status"};
    const char *lq[] = {"model", "version", "variant", "percentile"};
    const char *li[] = {"model", "version", "variant", "engine_instance"};
    const double *lb = FG_METRICS_LATENCY_BUCKETS, *bb = FG_METRICS_BATCH_BUCKETS;
    size_t nlb = FG_METRICS_N_LATENCY_BUCKETS, nbb = FG_METRICS_N_BATCH_BUCKETS;
    r->f_req = fg_metrics_counter(g, "frugal_requests_total", "Infer requests by outcome and HTTP status.", l4, 5, e);
    r->f_dur = fg_metrics_histogram(g, "frugal_request_duration_seconds",
                                    "Infer request time from decoded to answered (queue + compute + encode), seconds.",
                                    l2, 3, lb, nlb, e);
    r->f_qdur = fg_metrics_histogram(g, "frugal_queue_duration_seconds",
                                     "Time requests waited in the batcher's queue, seconds.", l2, 3, lb, nlb, e);
    r->f_cdur = fg_metrics_histogram(g, "frugal_compute_duration_seconds",
                                     "Compute time of the batch each request ran in, seconds.", l2, 3, lb, nlb, e);
    r->f_bitems = fg_metrics_histogram(g, "frugal_batch_size", "Items (rows) per executed batch.", l2, 3, bb, nbb, e);
    r->f_breq = fg_metrics_histogram(g, "frugal_batch_requests", "Requests (or parts of split requests) per batch.",
                                     l2, 3, bb, nbb, e);
    r->f_batches = fg_metrics_counter(g, "frugal_batches_total", "Batches executed.", l2, 3, e);
    r->f_items = fg_metrics_counter(g, "frugal_batch_items_total", "Items executed in batches.", l2, 3, e);
    r->f_cap = fg_metrics_counter(g, "frugal_batch_capacity_items_total",
                                  "max_batch_size summed over batches (batch efficiency = items / capacity).", l2, 3, e);
    r->f_qdepth = fg_metrics_gauge(g, "frugal_queue_depth", "Requests waiting in the queue.", l2, 3, e);
    r->f_inflight = fg_metrics_gauge(g, "frugal_inflight_requests",
                                     "Requests admitted and not yet answered (queued or running).", l2, 3, e);
    r->f_busy = fg_metrics_counter(g, "frugal_instance_busy_seconds_total", "Seconds each model instance spent computing.",
                                   li, 4, e);
    r->f_wlat = fg_metrics_gauge(g, "frugal_window_latency_seconds",
                                 "Request latency percentile over the rolling window.", lq, 4, e);
    r->f_wrps = fg_metrics_gauge(g, "frugal_window_throughput_rps", "Requests per second over the rolling window.", l2, 3, e);
    r->f_werr = fg_metrics_gauge(g, "frugal_window_error_ratio", "Failed share of requests over the rolling window.", l2,
                                 3, e);
    r->f_weff = fg_metrics_gauge(g, "frugal_window_batch_efficiency",
                                 "Items per batch / max_batch_size over the rolling window.", l2, 3, e);
    r->f_widle = fg_metrics_gauge(g, "frugal_window_idle_share",
                                  "Share of instance time not computing over the rolling window.", l2, 3, e);
    fg_metric_family *sc = fg_metrics_gauge(g, "frugal_window_cost_per_1k_requests_usd",
                                            "Machine cost per 1000 requests over the rolling window (all models).",
                                            NULL, 0, e);
    fg_metric_family *si = fg_metrics_gauge(g, "frugal_window_server_idle_share",
                                            "Share of all instances' time not computing over the rolling window.",
                                            NULL, 0, e);
    fg_metric_family *sw = fg_metrics_gauge(g, "frugal_window_seconds", "Length of the rolling window covered so far.",
                                            NULL, 0, e);
    if (!r->f_req || !r->f_dur || !r->f_qdur || !r->f_cdur || !r->f_bitems || !r->f_breq || !r->f_batches ||
        !r->f_items || !r->f_cap || !r->f_qdepth || !r->f_inflight || !r->f_busy || !r->f_wlat || !r->f_wrps ||
        !r->f_werr || !r->f_weff || !r->f_widle || !sc || !si || !sw)
        return -1;
    if (r->o.cache) {
        const char *ll[] = {"model", "level"};
        const char *l1[] = {"model"};
        r->f_chits = fg_metrics_counter(g, "frugal_cache_hits_total", "Response cache hits.", ll, 2, e);
        r->f_cmiss = fg_metrics_counter(g, "frugal_cache_misses_total", "Response cache misses.", ll, 2, e);
        r->f_cerr = fg_metrics_counter(g, "frugal_cache_errors_total",
                                       "Response cache lookups that failed (Redis down, slow or corrupt values).",
                                       ll, 2, e);
        /* a local lookup takes microseconds, a Redis one tens of microseconds to its timeout */
        static const double cb[] = {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4,
                                    5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1};
        r->f_clookup = fg_metrics_histogram(g, "frugal_cache_lookup_duration_seconds",
                                            "Response cache lookup time, seconds.", ll, 2, cb, sizeof cb / sizeof cb[0], e);
        r->f_cins = fg_metrics_counter(g, "frugal_cache_insertions_total", "Results stored in the response cache.",
                                       ll, 2, e);
        r->f_cevict = fg_metrics_counter(g, "frugal_cache_evictions_total",
                                         "Entries removed to make room or because their TTL passed.", ll, 2, e);
        r->f_crej = fg_metrics_counter(g, "frugal_cache_admission_rejects_total",
                                       "Results the admission policy did not store.", ll, 2, e);
        r->f_cbypass = fg_metrics_counter(g, "frugal_cache_bypassed_total",
                                          "Requests that skipped the cache because it was hitting under 1 %.",
                                          l1, 1, e);
        r->f_cbytes = fg_metrics_gauge(g, "frugal_cache_bytes", "Bytes held by the response cache.", ll, 2, e);
        r->f_centries = fg_metrics_gauge(g, "frugal_cache_entries", "Entries held by the response cache.", ll, 2, e);
        if (!r->f_chits || !r->f_cmiss || !r->f_cerr || !r->f_clookup || !r->f_cins || !r->f_cevict || !r->f_crej ||
            !r->f_cbytes || !r->f_centries || !r->f_cbypass)
            return -1;
    }
    if (!(r->s_cost = fg_metrics_series(sc, NULL, e)) || !(r->s_idle = fg_metrics_series(si, NULL, e)) ||
        !(r->s_window = fg_metrics_series(sw, NULL, e)))
        return -1;
    return 0;
}

/* Gathers every loaded version's KPI handle (read lock held). */
static size_t collect_kpis(fg_repo *r, fg_kpi **ks, fg_repo_version **vs, size_t cap, int *n_inst) {
    size_t n = 0;
    *n_inst = 0;
    for (size_t i = 0; i < r->n_models; i++)
        for (size_t k = 0; k < r->models[i]->n_slots && n < cap; k++) {
            vs[n] = r->models[i]->slots[k].v;
            ks[n] = vs[n]->kpi;
            *n_inst += vs[n]->n_instances;
            n++;
        }
    return n;
}

#define MAX_LISTED 256

/* Scrape-time refresh of the gauges: queue depth, in-flight, rolling-window KPIs. */
static void collect(void *ctx) {
    fg_repo *r = ctx;
    fg_kpi *ks[MAX_LISTED];
    fg_repo_version *vs[MAX_LISTED];
    int n_inst;
    uint64_t now = fg_now_ns();
    pthread_rwlock_rdlock(&r->lock);
    size_t n = collect_kpis(r, ks, vs, MAX_LISTED, &n_inst);
    for (size_t i = 0; i < n; i++) {
        fg_repo_version *v = vs[i];
        fg_sched_stats st;
        fg_sched_stats_get(v->sched, &st, NULL, 0);
        fg_metric_set(v->queue_depth, (double)st.queued_requests);
        fg_metric_set(v->inflight, (double)(st.queued_requests + st.inflight_requests));
        fg_kpi_snap s;
        fg_kpi_snapshot(v->kpi, now, r->o.price_per_hour, v->n_instances, &s);
        fg_metric_set(v->w_p50, s.p50_s);
        fg_metric_set(v->w_p95, s.p95_s);
        fg_metric_set(v->w_p99, s.p99_s);
        fg_metric_set(v->w_rps, s.throughput_rps);
        fg_metric_set(v->w_errors, s.error_ratio);
        fg_metric_set(v->w_eff, s.batch_efficiency);
        fg_metric_set(v->w_idle, s.idle_share);
    }
    for (size_t i = 0; r->o.cache && i < r->n_models; i++) {
        fg_repo_model *m = r->models[i];
        if (!m->c_entries)
            continue;
        fg_cache_stats cs;
        fg_cache_tag_stats(r->o.cache, m->tag, &cs);
        fg_metric_set(m->c_inserts, (double)cs.inserts);
        fg_metric_set(m->c_evictions, (double)(cs.evictions + cs.expiries));
        fg_metric_set(m->c_rejects, (double)cs.rejects);
        fg_metric_set(m->c_bytes, (double)cs.bytes);
        fg_metric_set(m->c_entries, (double)cs.entries);
    }
    fg_kpi_snap all;
    fg_kpi_snapshot_many(ks, n, now, r->o.price_per_hour, n_inst, &all);
    pthread_rwlock_unlock(&r->lock);
    fg_metric_set(r->s_cost, all.cost_per_1k_usd);
    fg_metric_set(r->s_idle, n ? all.idle_share : 1.0);
    fg_metric_set(r->s_window, all.window_s);
}

int fg_repo_stats_json(fg_repo *r, fg_v2_buf *out) {
    fg_kpi *ks[MAX_LISTED];
    fg_repo_version *vs[MAX_LISTED];
    int n_inst;
    char buf[2048];
    uint64_t now = fg_now_ns();
    int rc = 0;
    pthread_rwlock_rdlock(&r->lock);
    size_t n = collect_kpis(r, ks, vs, MAX_LISTED, &n_inst);
    fg_kpi_snap all;
    fg_kpi_snapshot_many(ks, n, now, r->o.price_per_hour, n_inst, &all);
    int len = fg_kpi_snap_json(&all, buf, sizeof buf);
    rc |= fg_v2_buf_printf(out, "{\"window_s\":%u,\"price_per_hour_usd\":%.6g,\"server\":",
                           r->o.kpi_window_s ? r->o.kpi_window_s : 60, r->o.price_per_hour);
    rc |= len < 0 ? FG_ENOMEM : fg_v2_buf_append(out, buf, (size_t)len);
    rc |= fg_v2_buf_puts(out, ",\"models\":[");
    for (size_t i = 0; i < n && rc == 0; i++) {
        fg_kpi_snap s;
        fg_kpi_snapshot(ks[i], now, r->o.price_per_hour, vs[i]->n_instances, &s);
        fg_sched_stats st;
        fg_sched_stats_get(vs[i]->sched, &st, NULL, 0);
        len = fg_kpi_snap_json(&s, buf, sizeof buf);
        rc |= fg_v2_buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
        rc |= fg_v2_buf_append_json_str(out, vs[i]->model_name);
        rc |= fg_v2_buf_printf(out, ",\"version\":\"%s\"", vs[i]->vstr);
        if (vs[i]->variant && vs[i]->variant[0]) { /* an A/B variant: the dashboard names it */
            rc |= fg_v2_buf_puts(out, ",\"variant\":");
            rc |= fg_v2_buf_append_json_str(out, vs[i]->variant);
        }
        rc |= fg_v2_buf_printf(out,
                               ",\"instances\":%d,\"max_batch_size\":%lld,\"queue_depth\":%zu,\"inflight\":%zu,"
                               "\"kpi\":",
                               vs[i]->n_instances, (long long)vs[i]->max_batch, st.queued_requests,
                               st.queued_requests + st.inflight_requests);
        rc |= len < 0 ? FG_ENOMEM : fg_v2_buf_append(out, buf, (size_t)len);
        rc |= fg_v2_buf_puts(out, "}");
    }
    pthread_rwlock_unlock(&r->lock);
    rc |= fg_v2_buf_puts(out, "]}");
    return rc ? FG_ENOMEM : 0;
}

int fg_repo_busy(fg_repo *r, const char *name, int64_t version, double *window_s, double *busy_s,
                 uint64_t *requests, double *busy_all_s) {
    fg_kpi *ks[MAX_LISTED];
    fg_repo_version *vs[MAX_LISTED];
    int n_inst, why = 0;
    uint64_t now = fg_now_ns();
    *busy_s = 0;
    *requests = 0;
    pthread_rwlock_rdlock(&r->lock);
    size_t n = collect_kpis(r, ks, vs, MAX_LISTED, &n_inst);
    fg_kpi_snap s;
    fg_kpi_snapshot_many(ks, n, now, 0, n_inst, &s);
    *window_s = s.window_s;
    *busy_all_s = s.busy_s;
    fg_repo_version *v = fg_repo_find(r, name, strlen(name), version, &why);
    if (v) {
        fg_kpi_snapshot(v->kpi, now, 0, v->n_instances, &s);
        *busy_s = s.busy_s;
        *requests = s.requests;
    }
    pthread_rwlock_unlock(&r->lock);
    return v ? 0 : FG_ENOTFOUND;
}

void fg_repo_print_kpis(fg_repo *r, FILE *f) {
    fg_kpi *ks[MAX_LISTED];
    fg_repo_version *vs[MAX_LISTED];
    static fg_kpi_snap snaps[MAX_LISTED + 1];
    char names[MAX_LISTED + 1][160];
    const char *np[MAX_LISTED + 1];
    int n_inst;
    uint64_t now = fg_now_ns();
    pthread_rwlock_rdlock(&r->lock);
    size_t n = collect_kpis(r, ks, vs, MAX_LISTED, &n_inst);
    for (size_t i = 0; i < n; i++) {
        fg_kpi_snapshot(ks[i], now, r->o.price_per_hour, vs[i]->n_instances, &snaps[i]);
        snprintf(names[i], sizeof names[i], "%s v%s", vs[i]->model_name, vs[i]->vstr);
        np[i] = names[i];
    }
    fg_kpi_snapshot_many(ks, n, now, r->o.price_per_hour, n_inst, &snaps[n]);
    pthread_rwlock_unlock(&r->lock);
    snprintf(names[n], sizeof names[n], "all");
    np[n] = names[n];
    fg_kpi_table(f, np, snaps, n + 1);
}

/* ---- the public face ------------------------------------------------------------------------------ */

static char *file_stem(const char *path) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    return str_dup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b));
}

int fg_repo_open(const fg_repo_opts *o, fg_repo **out, fg_err *e) {
    *out = NULL;
    struct stat st;
    if (!o->path || stat(o->path, &st) < 0)
        return fg_err_set(e, FG_ENOTFOUND, "cannot open '%s': %s", o->path ? o->path : "(null)",
                          strerror(errno));
    fg_repo *r = calloc(1, sizeof *r);
    if (!r)
        return fg_err_set(e, FG_ENOMEM, "out of memory");
    r->o = *o;
    r->single = !S_ISDIR(st.st_mode);
    r->path = str_dup(o->path, strlen(o->path));
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* a writer (a version switch) must not starve behind a steady stream of requests */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&r->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&r->cmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->ccond, &ca);
    pthread_condattr_destroy(&ca);
    int rc = -1;
    if (!r->path) {
        fg_err_set(e, FG_ENOMEM, "out of memory");
        goto fail;
    }
    if (register_families(r, e) < 0)
        goto fail;
    char **names = NULL;
    size_t n = 0;
    if (r->single) {
        char *stem = file_stem(o->path);
        if (!stem || !model_add(r, stem, strlen(stem), e)) {
            free(stem);
            fg_err_set(e, FG_ENOMEM, "out of memory");
            goto fail;
        }
        free(stem);
    } else if (list_model_dirs(r, &names, &n, e) < 0) {
        free_names(names, n);
        goto fail;
    } else if (n == 0) {
        fg_err_set(e, FG_ENOTFOUND, "no model directories in repository '%s'", o->path);
        free_names(names, n);
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (!model_add(r, names[i], strlen(names[i]), e)) {
            free_names(names, n);
            goto fail;
        }
    free_names(names, n);
    for (size_t i = 0; i < r->n_models; i++) {
        int changed;
        if (o->cancel && atomic_load(o->cancel)) {
            fg_err_set(e, FG_ESTOPPED, "stopped while loading models (%zu of %zu loaded)", i, r->n_models);
            goto fail;
        }
        if (model_sync(r, r->models[i], &changed, e) < 0)
            goto fail;
    }
    if (pthread_create(&r->ctl, NULL, ctl_main, r) != 0) {
        fg_err_set(e, FG_EINTERNAL, "cannot start the repository control thread");
        goto fail;
    }
    r->ctl_started = 1;
    /* registered last: a registry cannot drop a collector, so it must never see a repository that failed */
    fg_metrics_add_collector(o->metrics, collect, r);
    *out = r;
    return 0;
fail:
    rc = e->code ? e->code : FG_EINTERNAL;
    fg_repo_close(r, 0);
    return rc;
}

void fg_repo_close(fg_repo *r, uint64_t deadline_ns) {
    if (!r)
        return;
    if (r->ctl_started) {
        pthread_mutex_lock(&r->cmu);
        r->stop = 1;
        pthread_cond_signal(&r->ccond);
        pthread_mutex_unlock(&r->cmu);
        pthread_join(r->ctl, NULL);
    }
    /* Unpublish everything first (requests arriving now see "not ready"), then drain model by model. */
    pthread_rwlock_wrlock(&r->lock);
    for (size_t i = 0; i < r->n_models; i++)
        r->models[i]->state = ST_UNAVAILABLE;
    size_t n_slots[r->n_models ? r->n_models : 1];
    for (size_t i = 0; i < r->n_models; i++) {
        n_slots[i] = r->models[i]->n_slots;
        r->models[i]->n_slots = 0;
    }
    pthread_rwlock_unlock(&r->lock);
    for (size_t i = 0; i < r->n_models; i++)
        for (size_t k = 0; k < n_slots[i]; k++)
            version_free(r->models[i]->slots[k].v, deadline_ns);
    for (size_t i = 0; i < r->n_models; i++) {
        fg_repo_model *m = r->models[i];
        fg_v2_buf_free(&m->meta);
        free(m->name);
        free(m->dir);
        free(m->file);
        free(m);
    }
    free(r->models);
    pthread_rwlock_destroy(&r->lock);
    pthread_mutex_destroy(&r->cmu);
    pthread_cond_destroy(&r->ccond);
    free(r->path);
    free(r);
}

void fg_repo_rdlock(fg_repo *r) { pthread_rwlock_rdlock(&r->lock); }

void fg_repo_unlock(fg_repo *r) { pthread_rwlock_unlock(&r->lock); }

fg_repo_version *fg_repo_find(fg_repo *r, const char *name, size_t len, int64_t version, int *why) {
    fg_repo_model *m = model_get(r, name, len);
    if (!m) {
        *why = FG_REPO_NO_MODEL;
        return NULL;
    }
    if (m->n_slots == 0) {
        *why = FG_REPO_NOT_READY;
        return NULL;
    }
    if (version <= 0)
        return m->slots[m->n_slots - 1].v;
    for (size_t i = 0; i < m->n_slots; i++)
        if (m->slots[i].v->version == version)
            return m->slots[i].v;
    *why = FG_REPO_NO_VERSION;
    return NULL;
}

int fg_repo_model_meta(fg_repo *r, const char *name, size_t len, fg_v2_buf *out) {
    int rc = 0;
    pthread_rwlock_rdlock(&r->lock);
    fg_repo_model *m = model_get(r, name, len);
    if (!m)
        rc = FG_ENOTFOUND;
    else if (!m->n_slots)
        rc = FG_ESTOPPED;
    else
        rc = fg_v2_buf_append(out, m->meta.ptr, m->meta.len);
    pthread_rwlock_unlock(&r->lock);
    return rc;
}

void fg_repo_counts(fg_repo *r, size_t *n_models, size_t *n_versions) {
    pthread_rwlock_rdlock(&r->lock);
    *n_models = r->n_models;
    *n_versions = 0;
    for (size_t i = 0; i < r->n_models; i++)
        *n_versions += r->models[i]->n_slots;
    pthread_rwlock_unlock(&r->lock);
}
