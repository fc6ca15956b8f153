/* main.c - the frugal command: subcommand dispatch, --help and --version. */
#include <stdio.h>
#include <string.h>

#include "tools/tools.h"

#ifndef FG_VERSION
#define FG_VERSION "0.0.0"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} cmds[] = {
    {"run", fg_cmd_run, "run a model once or repeatedly on given or random inputs; print outputs and latency"},
    {"serve", fg_cmd_serve, "serve a model over HTTP (KServe v2 API) with Prometheus metrics"},
    {"cost", fg_cmd_cost, "cloud billing exports (FOCUS, AWS CUR, Azure) -> ML cost buckets, top drivers, totals"},
    {"eval", fg_cmd_eval, "models side by side on the same data: accuracy, output difference, latency, cost per 1k"},
    {"quantize", fg_cmd_quantize, "int8-quantize a model's MatMul/Gemm/Conv (dynamic, or static QDQ from calibration data)"},
    {"doctor", fg_cmd_doctor, "diagnose a running server from two /metrics scrapes: KPIs, findings, changes"},
    {"bench", fg_cmd_bench, "load-test a v2 model or URL: closed/open loop, profiles, honest latency, server KPIs"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: frugal <command> [options]\n\n"
               "frugal is a cost-aware inference server for ONNX models.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].what);
    fprintf(f, "\n  frugal <command> --help   options of a command\n  frugal --version          print the version\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("frugal %s\n", FG_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "frugal: unknown command '%s' (see frugal --help)\n", argv[1]);
    return 2;
}
