/* run.c - `frugal run MODEL.onnx`: load a model, feed inputs from .npy/.pb files or random values,
 * run it --repeat times, print output shapes, a value summary and latency percentiles (or JSON), and
 * optionally write outputs as DIR/output_K.pb in ONNX's test-data layout. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "engine/tensor_io.h"
#include "frugal/engine.h"
#include "tools/tools.h"

static void run_usage(FILE *f) {
    fprintf(f,
            "usage: frugal run MODEL.onnx [options]\n\n"
            "Runs MODEL on inputs read from files or, where none is given, random values, and prints\n"
            "each output's shape, a summary of its values, and the latency.\n\n"
            "options:\n"
            "  --input NAME=FILE   input tensor from FILE (.npy, ONNX TensorProto .pb, or a KServe v2\n"
            "                      infer request in JSON with one input); repeatable\n"
            "  --output DIR        write output K as DIR/output_K.pb (ONNX TensorProto, graph order)\n"
            "  --batch N           size of dynamic dimensions of random inputs (default 1)\n"
            "  --threads N         compute threads (default: all cores)\n"
            "  --precision P       fp32 (default) or bf16: Conv/MatMul/Gemm with bf16 weights and inputs,\n"
            "                      f32 accumulation (fast on CPUs with AMX)\n"
            "  --repeat N          timed runs (default 1)\n"
            "  --warmup N          untimed runs before timing (default: 1 when --repeat > 1)\n"
            "  --seed N            seed of random inputs (default 1)\n"
            "  --json              print one JSON object instead of text\n"
            "  -h, --help          this help\n"
            "\nexit status: 0 on success, 1 on error (one line on stderr), 2 on bad usage\n");
}

/* xorshift64*: reproducible inputs without libc's global rand state */
static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static int fill_random(fg_tensor *t, uint64_t *seed) {
    int64_t n = fg_tensor_numel(t);
    size_t es = fg_dtype_size(t->dtype);
    t->data = malloc((size_t)n * es + 1);
    if (!t->data)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = rng_next(seed);
        switch (t->dtype) {
        case FG_F32: ((float *)t->data)[i] = (float)((double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0); break;
        case FG_F64: ((double *)t->data)[i] = (double)(r >> 11) / 9007199254740992.0 * 2.0 - 1.0; break;
        case FG_I64: ((int64_t *)t->data)[i] = (int64_t)(r % 100); break;
        case FG_I32: ((int32_t *)t->data)[i] = (int32_t)(r % 100); break;
        case FG_BOOL: ((uint8_t *)t->data)[i] = (uint8_t)(r & 1); break;
        case FG_U8: case FG_I8: ((uint8_t *)t->data)[i] = (uint8_t)r; break;
        default: memset((char *)t->data + (size_t)i * es, 0, es); break;
        }
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, int n, double p) {
    int i = (int)ceil(p / 100.0 * n) - 1;
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return (double)v[i] / 1e6;
}

static void summarize(const fg_tensor *t, double *mn, double *mx, double *mean) {
    int64_t n = fg_tensor_numel(t);
    *mn = INFINITY;
    *mx = -INFINITY;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double v;
        switch (t->dtype) {
        case FG_F32: v = ((const float *)t->data)[i]; break;
        case FG_F64: v = ((const double *)t->data)[i]; break;
        case FG_I64: v = (double)((const int64_t *)t->data)[i]; break;
        case FG_I32: v = ((const int32_t *)t->data)[i]; break;
        case FG_BOOL: case FG_U8: v = ((const uint8_t *)t->data)[i]; break;
        case FG_I8: v = ((const int8_t *)t->data)[i]; break;
        default: v = 0; break;
        }
        if (v < *mn)
            *mn = v;
        if (v > *mx)
            *mx = v;
        sum += v;
    }
    *mean = n ? sum / (double)n : 0;
    if (!n)
        *mn = *mx = 0;
}

static long parse_pos(const char *s, const char *opt, long min) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min) {
        fprintf(stderr, "frugal run: %s needs an integer >= %ld, got '%s'\n", opt, min, s);
        exit(2);
    }
    return v;
}

int fg_cmd_run(int argc, char **argv) {
    static const struct option opts[] = {
        {"input", required_argument, 0, 'i'},  {"output", required_argument, 0, 'o'},
        {"batch", required_argument, 0, 'b'},  {"threads", required_argument, 0, 't'},
        {"repeat", required_argument, 0, 'r'}, {"warmup", required_argument, 0, 'w'},
        {"seed", required_argument, 0, 's'},   {"json", no_argument, 0, 'j'},
        {"precision", required_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    const char *out_dir = NULL;
    char **in_specs = fg_xcalloc((size_t)argc + 1, sizeof(char *));
    int n_specs = 0, json = 0, rc = 1;
    long batch = 1, threads = 0, repeat = 1, warmup = -1, seed = 1;
    fg_precision prec = FG_PREC_F32;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'i': in_specs[n_specs++] = optarg; break;
        case 'o': out_dir = optarg; break;
        case 'b': batch = parse_pos(optarg, "--batch", 1); break;
        case 't': threads = parse_pos(optarg, "--threads", 1); break;
        case 'r': repeat = parse_pos(optarg, "--repeat", 1); break;
        case 'w': warmup = parse_pos(optarg, "--warmup", 0); break;
        case 's': seed = parse_pos(optarg, "--seed", 0); break;
        case 'j': json = 1; break;
        case 'p':
            if (fg_precision_parse(optarg, &prec) < 0) {
                fprintf(stderr, "frugal run: --precision is 'fp32' or 'bf16', got '%s'\n", optarg);
                free(in_specs);
                return 2;
            }
            break;
        case 'h': run_usage(stdout); free(in_specs); return 0;
        default: run_usage(stderr); free(in_specs); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "frugal run: expected one MODEL.onnx argument (see frugal run --help)\n");
        free(in_specs);
        return 2;
    }
    if (warmup < 0)
        warmup = repeat > 1 ? 1 : 0;
    const char *path = argv[optind];
    fg_err e = {0};
    fg_model *m = NULL;
    fg_session *s = NULL;
    fg_tensor *in = NULL, *out = NULL;
    uint64_t *lat = NULL;
    size_t n_in = 0, n_out = 0;

    m = fg_model_load(path, NULL, &e);
    if (!m) {
        fprintf(stderr, "frugal run: %s\n", e.msg);
        goto done;
    }
    n_in = fg_model_n_inputs(m);
    n_out = fg_model_n_outputs(m);
    in = fg_xcalloc(n_in + 1, sizeof(fg_tensor));
    out = fg_xcalloc(n_out + 1, sizeof(fg_tensor));
    for (int k = 0; k < n_specs; k++) {
        char *eq = strchr(in_specs[k], '=');
        if (!eq) {
            fprintf(stderr, "frugal run: --input needs NAME=FILE, got '%s'\n", in_specs[k]);
            rc = 2;
            goto done;
        }
        *eq = '\0';
        size_t i = 0;
        while (i < n_in && strcmp(fg_model_input(m, i)->name, in_specs[k]) != 0)
            i++;
        if (i == n_in) {
            char names[512] = "";
            size_t used = 0;
            for (size_t j = 0; j < n_in && used < sizeof names; j++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s'%s'", j ? ", " : "",
                                         fg_model_input(m, j)->name);
            fprintf(stderr, "frugal run: the model has no input named '%s' (its inputs: %s)\n", in_specs[k], names);
            goto done;
        }
        if (in[i].data) {
            fprintf(stderr, "frugal run: input '%s' given twice\n", in_specs[k]);
            goto done;
        }
        if (fg_tool_read_tensor(eq + 1, &in[i], &e) < 0) {
            fprintf(stderr, "frugal run: input '%s' from %s: %s\n", in_specs[k], eq + 1, e.msg);
            goto done;
        }
    }
    uint64_t rs = 0x9E3779B97F4A7C15ull ^ (uint64_t)seed;
    for (size_t i = 0; i < n_in; i++) {
        if (in[i].data)
            continue;
        const fg_tensor_info *info = fg_model_input(m, i);
        if (info->rank < 0 || !info->dtype) {
            fprintf(stderr, "frugal run: input '%s' has no declared shape; give it with --input\n", info->name);
            goto done;
        }
        in[i].dtype = info->dtype;
        in[i].rank = info->rank;
        for (int d = 0; d < info->rank; d++)
            in[i].dims[d] = info->dims[d] >= 0 ? info->dims[d] : batch;
        if (fill_random(&in[i], &rs) < 0) {
            fprintf(stderr, "frugal run: out of memory for input '%s'\n", info->name);
            goto done;
        }
    }
    if (threads == 0) /* the engine's default: one thread per online core; say which */
        threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
    fg_session_opts so = {.n_threads = (int)threads, .precision = prec};
    s = fg_session_new(m, &so, &e);
    if (!s) {
        fprintf(stderr, "frugal run: %s\n", e.msg);
        goto done;
    }
    for (long r = 0; r < warmup; r++)
        if (fg_session_run(s, in, n_in, out, n_out, &e) < 0) {
            fprintf(stderr, "frugal run: %s\n", e.msg);
            goto done;
        }
    lat = fg_xmalloc((size_t)repeat * sizeof(uint64_t));
    for (long r = 0; r < repeat; r++) {
        uint64_t t0 = fg_now_ns();
        if (fg_session_run(s, in, n_in, out, n_out, &e) < 0) {
            fprintf(stderr, "frugal run: %s\n", e.msg);
            goto done;
        }
        lat[r] = fg_now_ns() - t0;
    }
    double sum = 0;
    for (long r = 0; r < repeat; r++)
        sum += (double)lat[r] / 1e6;
    qsort(lat, (size_t)repeat, sizeof *lat, cmp_u64);
    if (out_dir) {
        if (mkdir(out_dir, 0755) < 0 && errno != EEXIST) {
            fprintf(stderr, "frugal run: cannot create '%s': %s\n", out_dir, strerror(errno));
            goto done;
        }
        for (size_t i = 0; i < n_out; i++) {
            char p[4096];
            snprintf(p, sizeof p, "%s/output_%zu.pb", out_dir, i);
            if (fg_tensor_write_pb(p, &out[i], fg_model_output(m, i)->name, &e) < 0) {
                fprintf(stderr, "frugal run: %s\n", e.msg);
                goto done;
            }
        }
    }
    char shp[256];
    size_t n_loaded, n_opt, n_bf16, n_fallback;
    fg_model_node_counts(m, &n_loaded, &n_opt);
    fg_session_bf16_nodes(s, &n_bf16, &n_fallback);
    if (json) {
        printf("{\"model\":\"%s\",\"threads\":%ld,\"batch\":%ld,\"repeat\":%ld,", path, threads, batch, repeat);
        printf("\"nodes_loaded\":%zu,\"nodes_optimised\":%zu,", n_loaded, n_opt);
        if (prec == FG_PREC_BF16)
            printf("\"precision\":\"bf16\",\"nodes_bf16\":%zu,\"nodes_bf16_fallback\":%zu,", n_bf16, n_fallback);
        printf("\"latency_ms\":{\"p50\":%.6f,\"p99\":%.6f,\"mean\":%.6f,\"min\":%.6f},\"outputs\":[",
               pct(lat, (int)repeat, 50), pct(lat, (int)repeat, 99), sum / (double)repeat, (double)lat[0] / 1e6);
        for (size_t i = 0; i < n_out; i++) {
            printf("%s{\"name\":\"%s\",\"dtype\":\"%s\",\"shape\":[", i ? "," : "", fg_model_output(m, i)->name,
                   fg_dtype_name(out[i].dtype));
            for (int d = 0; d < out[i].rank; d++)
                printf("%s%lld", d ? "," : "", (long long)out[i].dims[d]);
            printf("]}");
        }
        printf("]}\n");
    } else {
        for (size_t i = 0; i < n_out; i++) {
            double mn, mx, mean;
            summarize(&out[i], &mn, &mx, &mean);
            printf("output %zu '%s': %s %s  min %.6g  max %.6g  mean %.6g\n", i, fg_model_output(m, i)->name,
                   fg_dtype_name(out[i].dtype), fg_shape_str(&out[i], shp, sizeof shp), mn, mx, mean);
        }
        printf("nodes: %zu in the model, %zu after folding and fusion\n", n_loaded, n_opt);
        if (prec == FG_PREC_BF16) /* the rest, tiny products and C-kernel convs, is f32 by design */
            printf("precision bf16: %zu products in bf16, %zu kept in f32 (no oneDNN bf16 kernel on this CPU)\n",
                   n_bf16, n_fallback);
        printf("latency over %ld run%s: p50 %.3f ms  p99 %.3f ms  mean %.3f ms  (threads %ld)\n", repeat,
               repeat > 1 ? "s" : "", pct(lat, (int)repeat, 50), pct(lat, (int)repeat, 99), sum / (double)repeat,
               threads);
    }
    rc = 0;
done:
    for (size_t i = 0; in && i < n_in; i++)
        free(in[i].data);
    free(in);
    free(out);
    free(lat);
    free(in_specs);
    fg_session_free(s);
    fg_model_free(m);
    return rc;
}
