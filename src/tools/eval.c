/* eval.c - `frugal eval MODEL [MODEL2 ...] --data X.npy [--labels Y.npy]`: accuracy against the
 * cost of each model side by side - top-1 accuracy (or agreement with the first model when there are
 * no labels), output difference from the first model, latency p50/p99 and throughput at batch 1 and 32,
 * model size, and cost per 1000 inferences at a price per hour - with deltas against the first model
 * and a plain verdict when a variant is slower or loses more accuracy than the budget allows. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/json.h"
#include "engine/tensor_io.h"
#include "frugal/engine.h"
#include "tools/tools.h"

#define MAX_MODELS 16
#define BIG_BATCH 32

static void eval_usage(FILE *f) {
    fprintf(f,
            "usage: frugal eval MODEL.onnx [MODEL2.onnx ...] --data X.npy [options]\n\n"
            "Runs each model on the same inputs and prints, side by side with deltas against the first:\n"
            "top-1 accuracy (with --labels; else agreement with the first model's predictions), the largest\n"
            "and mean output difference from the first model, latency p50/p99 and throughput at batch 1 and\n"
            "32, model size, and cost per 1000 inferences at --price-per-hour. A variant that is slower, or\n"
            "loses more accuracy than --accuracy-budget, is named in a verdict.\n\n"
            "options:\n"
            "  --data FILE.npy         inputs (first dimension = samples; reshaped per model when the\n"
            "                          model's input has the same size per sample, e.g. [N,64] -> [N,1,8,8])\n"
            "  --labels FILE.npy       true classes (integers, one per sample)\n"
            "                          (either file may also be .pb, or a KServe v2 infer request in JSON\n"
            "                          with one input: {\"inputs\":[{\"name\",\"shape\",\"datatype\",\"data\"}]})\n"
            "  --threads N             compute threads per model (default 1: the cost of one core)\n"
            "  --precision P           fp32 (default) or bf16 compute for every model (Conv/MatMul/Gemm\n"
            "                          with bf16 weights and inputs, f32 accumulation)\n"
            "  --repeat N              timed runs per batch size (default 200)\n"
            "  --price-per-hour USD    price of the machine (default 0.085, one small cloud core)\n"
            "  --accuracy-budget PTS   accuracy points a variant may lose (default 0.5)\n"
            "  --json                  print one JSON object\n"
            "  -h, --help              this help\n"
            "\nexit status: 0 evaluated, 1 a model or data error (one line on stderr), 2 bad usage\n");
}

typedef struct result {
    const char *path;
    long long size;
    double accuracy, agreement; /* NAN when not measured */
    double max_diff, mean_diff;
    double p50[2], p99[2], throughput[2], cost_per_1k[2]; /* [0] batch 1, [1] batch 32 (per item) */
    int64_t *pred;
    float *out; /* first output, all samples */
    int64_t out_numel;
} result;

static int dbl_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* the input tensor for rows [at, at + n) of data, shaped like the model's input */
static int shape_input(const fg_tensor *data, const fg_tensor_info *info, int64_t at, int64_t n, fg_tensor *in,
                       char *err, size_t errn) {
    int64_t row = fg_tensor_numel(data) / data->dims[0];
    *in = *data;
    in->dims[0] = n;
    in->data = (char *)data->data + (size_t)(at * row) * fg_dtype_size(data->dtype);
    if (info->rank < 1)
        return 0;
    int64_t per = 1;
    int known = 1;
    for (int i = 1; i < info->rank; i++) {
        if (info->dims[i] < 0)
            known = 0;
        per *= info->dims[i] < 0 ? 1 : info->dims[i];
    }
    if (info->rank == data->rank) {
        int same = 1;
        for (int i = 1; i < data->rank; i++)
            same &= info->dims[i] < 0 || info->dims[i] == data->dims[i];
        if (same)
            return 0;
    }
    if (!known || per != row) {
        snprintf(err, errn, "input %s wants %d dimensions of %lld values a sample; the data has %lld", info->name,
                 info->rank, (long long)per, (long long)row);
        return -1;
    }
    in->rank = info->rank;
    in->dims[0] = n;
    for (int i = 1; i < info->rank; i++)
        in->dims[i] = info->dims[i];
    return 0;
}

static int evaluate(const char *path, const fg_tensor *data, int threads, fg_precision prec, int repeat, double price,
                    result *r, char *err, size_t errn) {
    fg_err e = {0};
    memset(r, 0, sizeof *r);
    r->path = path;
    r->accuracy = r->agreement = r->max_diff = r->mean_diff = NAN;
    struct stat st;
    r->size = stat(path, &st) == 0 ? (long long)st.st_size : -1;
    fg_model *m = fg_model_load(path, NULL, &e);
    fg_session_opts so = {.n_threads = threads, .precision = prec};
    fg_session *s = m ? fg_session_new(m, &so, &e) : NULL;
    double *lat = NULL;
    int rc = -1;
    if (!s) { /* the engine's message names the file */
        snprintf(err, errn, "%s", e.msg);
        goto out;
    }
    if (fg_model_n_inputs(m) != 1) {
        snprintf(err, errn, "%s: eval feeds one input; the model has %zu", path, fg_model_n_inputs(m));
        goto out;
    }
    const fg_tensor_info *info = fg_model_input(m, 0);
    int64_t n = data->dims[0];
    r->pred = calloc((size_t)n, sizeof *r->pred);
    if (!r->pred) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    /* predictions over all samples, in batches of 32 */
    for (int64_t at = 0; at < n; at += BIG_BATCH) {
        fg_tensor in, out;
        int64_t k = n - at < BIG_BATCH ? n - at : BIG_BATCH;
        if (shape_input(data, info, at, k, &in, err, errn) < 0)
            goto out;
        if (fg_session_run(s, &in, 1, &out, 1, &e) < 0) {
            snprintf(err, errn, "%s: %s", path, e.msg);
            goto out;
        }
        if (out.dtype != FG_F32 || out.rank < 1 || out.dims[0] != k) {
            snprintf(err, errn, "%s: the first output is not float32 with one row per sample", path);
            goto out;
        }
        int64_t per = fg_tensor_numel(&out) / k;
        if (!r->out) {
            r->out_numel = per * n;
            if (!(r->out = malloc((size_t)r->out_numel * sizeof(float)))) {
                snprintf(err, errn, "out of memory");
                goto out;
            }
        } else if (per * n != r->out_numel) {
            snprintf(err, errn, "%s: output size changes between batches", path);
            goto out;
        }
        memcpy(r->out + at * per, out.data, (size_t)(k * per) * sizeof(float));
        const float *o = out.data;
        for (int64_t i = 0; i < k; i++) {
            int64_t best = 0;
            for (int64_t j = 1; j < per; j++)
                if (o[i * per + j] > o[i * per + best])
                    best = j;
            r->pred[at + i] = best;
        }
    }
    /* latency at batch 1 and 32: closed loop over the data, one warm-up pass first */
    lat = malloc((size_t)repeat * sizeof *lat);
    if (!lat) {
        snprintf(err, errn, "out of memory");
        goto out;
    }
    for (int b = 0; b < 2; b++) {
        int64_t bs = b ? (n < BIG_BATCH ? n : BIG_BATCH) : 1;
        double sum = 0;
        for (int i = -3; i < repeat; i++) {
            fg_tensor in, out;
            int64_t at = ((int64_t)(i < 0 ? 0 : i) * bs) % (n - bs + 1);
            if (shape_input(data, info, at, bs, &in, err, errn) < 0)
                goto out;
            uint64_t t0 = fg_now_ns();
            if (fg_session_run(s, &in, 1, &out, 1, &e) < 0) {
                snprintf(err, errn, "%s: %s", path, e.msg);
                goto out;
            }
            double us = (double)(fg_now_ns() - t0) / 1e3;
            if (i >= 0) {
                lat[i] = us;
                sum += us;
            }
        }
        qsort(lat, (size_t)repeat, sizeof *lat, dbl_cmp);
        r->p50[b] = lat[(size_t)((repeat - 1) * 0.50)];
        r->p99[b] = lat[(size_t)((repeat - 1) * 0.99)];
        r->throughput[b] = (double)bs * repeat / (sum / 1e6);
        /* the machine's price over the time one inference takes, times 1000 */
        r->cost_per_1k[b] = price / 3600.0 * 1000.0 / r->throughput[b];
    }
    rc = 0;
out:
    free(lat);
    fg_session_free(s);
    fg_model_free(m);
    return rc;
}

static int64_t label_at(const fg_tensor *y, int64_t i) {
    switch (y->dtype) {
    case FG_I64: return ((const int64_t *)y->data)[i];
    case FG_I32: return ((const int32_t *)y->data)[i];
    case FG_U8: return ((const uint8_t *)y->data)[i];
    case FG_F32: return (int64_t)((const float *)y->data)[i];
    case FG_F64: return (int64_t)((const double *)y->data)[i];
    default: return -1;
    }
}

static void jnum(double v) {
    if (isfinite(v))
        printf("%.6g", v);
    else
        printf("null");
}

static void jstr(const char *s) { fg_json_write_str(stdout, s, strlen(s)); }

/* the verdict of variant r against the baseline b */
static void verdict(const result *b, const result *r, double budget, char *out, size_t n) {
    double acc_b = isfinite(b->accuracy) ? b->accuracy : 1, acc_r = isfinite(r->accuracy) ? r->accuracy : r->agreement;
    double loss = (acc_b - acc_r) * 100, s1 = r->throughput[0] / b->throughput[0], s32 = r->throughput[1] / b->throughput[1];
    const char *what = isfinite(r->accuracy) ? "accuracy" : "agreement with the first model";
    if (loss > budget)
        snprintf(out, n, "worse: loses %.2f points of %s, over the budget of %.2f", loss, what, budget);
    else if (s1 < 0.95 && s32 < 0.95)
        snprintf(out, n, "slower: %.2fx the throughput at batch 1 and %.2fx at batch 32; it does not pay off here", s1, s32);
    else if (s1 < 0.95 || s32 < 0.95)
        snprintf(out, n, "mixed: %.2fx the throughput at batch 1, %.2fx at batch 32 (%s %+.2f points)", s1, s32, what,
                 -loss);
    else
        snprintf(out, n, "better: %.2fx the throughput at batch 1, %.2fx at batch 32, %s %+.2f points (budget %.2f)",
                 s1, s32, what, -loss, budget);
}

int fg_cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},   {"labels", required_argument, 0, 'l'},
        {"threads", required_argument, 0, 't'}, {"repeat", required_argument, 0, 'r'},
        {"price-per-hour", required_argument, 0, 'p'}, {"accuracy-budget", required_argument, 0, 'b'},
        {"json", no_argument, 0, 'j'},         {"help", no_argument, 0, 'h'},
        {"precision", required_argument, 0, 'P'}, {0, 0, 0, 0},
    };
    const char *data_path = NULL, *labels_path = NULL;
    int threads = 1, repeat = 200, json = 0, ch;
    fg_precision prec = FG_PREC_F32;
    double price = 0.085, budget = 0.5;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        double v;
        switch (ch) {
        case 'd': data_path = optarg; break;
        case 'l': labels_path = optarg; break;
        case 't':
        case 'r':
        case 'p':
        case 'b':
            errno = 0;
            v = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(v >= 0) || ((ch == 't' || ch == 'r') && (v < 1 || v > 100000 || v != floor(v)))) {
                fprintf(stderr, "frugal eval: %s wants a %s, got '%s'\n", argv[optind - 1],
                        ch == 't' || ch == 'r' ? "whole number >= 1" : "number >= 0", optarg);
                return 2;
            }
            if (ch == 't')
                threads = (int)v;
            else if (ch == 'r')
                repeat = (int)v;
            else if (ch == 'p')
                price = v;
            else
                budget = v;
            break;
        case 'j': json = 1; break;
        case 'P':
            if (fg_precision_parse(optarg, &prec) < 0) {
                fprintf(stderr, "frugal eval: --precision is 'fp32' or 'bf16', got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': eval_usage(stdout); return 0;
        default:
            fprintf(stderr, "frugal eval: unknown or incomplete option '%s' (see frugal eval --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    int nm = argc - optind;
    if (nm < 1 || !data_path) {
        fprintf(stderr, "frugal eval: expected MODEL.onnx... --data X.npy (see frugal eval --help)\n");
        return 2;
    }
    if (nm > MAX_MODELS) {
        fprintf(stderr, "frugal eval: at most %d models\n", MAX_MODELS);
        return 2;
    }
    fg_err e = {0};
    fg_tensor x = {0}, y = {0};
    result res[MAX_MODELS];
    int status = 1, nres = 0;
    char err[1200];
    if (fg_tool_read_tensor(data_path, &x, &e) < 0) {
        snprintf(err, sizeof err, "--data %s: %s", data_path, e.msg);
        goto fail;
    }
    if (x.rank < 1 || x.dims[0] < 1) {
        snprintf(err, sizeof err, "--data %s: want a first (sample) dimension", data_path);
        goto fail;
    }
    if (labels_path) {
        if (fg_tool_read_tensor(labels_path, &y, &e) < 0) {
            snprintf(err, sizeof err, "--labels %s: %s", labels_path, e.msg);
            goto fail;
        }
        if (fg_tensor_numel(&y) != x.dims[0] || label_at(&y, 0) < 0) {
            snprintf(err, sizeof err, "--labels %s: want %lld integer labels, one per sample", labels_path,
                     (long long)x.dims[0]);
            goto fail;
        }
    }
    for (int i = 0; i < nm; i++, nres++)
        if (evaluate(argv[optind + i], &x, threads, prec, repeat, price, &res[i], err, sizeof err) < 0) {
            nres++;
            goto fail;
        }
    int64_t n = x.dims[0];
    for (int i = 0; i < nm; i++) {
        result *r = &res[i];
        int64_t ok = 0, same = 0;
        for (int64_t k = 0; k < n; k++) {
            if (labels_path)
                ok += r->pred[k] == label_at(&y, k);
            same += r->pred[k] == res[0].pred[k];
        }
        if (labels_path)
            r->accuracy = (double)ok / (double)n;
        r->agreement = (double)same / (double)n;
        if (r->out_numel == res[0].out_numel) {
            double mx = 0, sum = 0;
            for (int64_t k = 0; k < r->out_numel; k++) {
                double d = fabs((double)r->out[k] - (double)res[0].out[k]);
                mx = d > mx ? d : mx;
                sum += d;
            }
            r->max_diff = mx;
            r->mean_diff = sum / (double)r->out_numel;
        }
    }
    char v[MAX_MODELS][256];
    for (int i = 1; i < nm; i++)
        verdict(&res[0], &res[i], budget, v[i], sizeof v[i]);
    if (json) {
        printf("{\"data\":");
        jstr(data_path);
        printf(",\"samples\":%lld,\"threads\":%d,\"precision\":\"%s\",\"price_per_hour_usd\":", (long long)n, threads,
               fg_precision_name(prec));
        jnum(price);
        printf(",\"accuracy_budget_points\":");
        jnum(budget);
        printf(",\"models\":[");
        for (int i = 0; i < nm; i++) {
            const result *r = &res[i];
            printf("%s{\"model\":", i ? "," : "");
            jstr(r->path);
            printf(",\"size_bytes\":%lld,\"accuracy\":", r->size);
            jnum(r->accuracy);
            printf(",\"agreement\":");
            jnum(r->agreement);
            printf(",\"max_abs_diff\":");
            jnum(r->max_diff);
            printf(",\"mean_abs_diff\":");
            jnum(r->mean_diff);
            const char *bn[2] = {"batch1", "batch32"};
            for (int b = 0; b < 2; b++) {
                printf(",\"%s\":{\"p50_us\":", bn[b]);
                jnum(r->p50[b]);
                printf(",\"p99_us\":");
                jnum(r->p99[b]);
                printf(",\"throughput_per_s\":");
                jnum(r->throughput[b]);
                printf(",\"cost_per_1k_usd\":");
                jnum(r->cost_per_1k[b]);
                printf(",\"speedup\":");
                jnum(r->throughput[b] / res[0].throughput[b]);
                printf("}");
            }
            printf(",\"verdict\":");
            if (i)
                jstr(v[i]);
            else
                printf("\"baseline\"");
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("frugal eval: %lld samples from %s, %d thread%s, %s, $%.4f/h\n\n", (long long)n, data_path, threads,
               threads == 1 ? "" : "s", fg_precision_name(prec), price);
        printf("%-28s %9s %9s %9s %10s %10s %12s %10s %10s %12s %11s\n", "model", "size KB", labels_path ? "accuracy" : "agree",
               "max diff", "b1 p50 us", "b1 p99 us", "b1 items/s", "b32 p50 us", "b32 p99 us", "b32 items/s", "$ per 1k");
        for (int i = 0; i < nm; i++) {
            const result *r = &res[i];
            const char *name = strrchr(r->path, '/') ? strrchr(r->path, '/') + 1 : r->path;
            printf("%-28.28s %9.1f %8.2f%% %9.2g %10.1f %10.1f %12.0f %10.1f %10.1f %12.0f %11.3g\n", name, (double)r->size / 1024,
                   100 * (labels_path ? r->accuracy : r->agreement), r->max_diff, r->p50[0], r->p99[0], r->throughput[0],
                   r->p50[1], r->p99[1], r->throughput[1], r->cost_per_1k[1]);
        }
        for (int i = 1; i < nm; i++) {
            const result *r = &res[i], *b = &res[0];
            printf("\n%s vs %s: size %+.0f%%, %s %+.2f points, throughput %.2fx at batch 1, %.2fx at batch 32, cost "
                   "per 1k %+.0f%%\n  verdict: %s\n",
                   r->path, b->path, 100.0 * ((double)r->size / (double)b->size - 1), labels_path ? "accuracy" : "agreement",
                   100 * ((labels_path ? r->accuracy : r->agreement) - (labels_path ? b->accuracy : b->agreement)),
                   r->throughput[0] / b->throughput[0], r->throughput[1] / b->throughput[1],
                   100.0 * (r->cost_per_1k[1] / b->cost_per_1k[1] - 1), v[i]);
        }
        printf("\n$ per 1k: the price per hour over the batch-32 throughput of one session with %d thread%s.\n", threads,
               threads == 1 ? "" : "s");
    }
    status = 0;
fail:
    if (status)
        fprintf(stderr, "frugal eval: %s\n", err);
    for (int i = 0; i < nres && i < MAX_MODELS; i++) {
        free(res[i].pred);
        free(res[i].out);
    }
    free(x.data);
    free(y.data);
    return status;
}
