/* tools.h - entry points of frugal's subcommands (src/tools/), called by src/main.c with argv after
 * the subcommand name (argv[0] is the subcommand). Each returns the process exit status. */
#ifndef FG_TOOLS_H
#define FG_TOOLS_H

#include "frugal/engine.h"

/* Reads a tensor file a subcommand takes: .npy, ONNX TensorProto .pb, or a KServe v2 infer request in
 * JSON with one input, chosen by content (data.c). t->data is malloc'd (caller frees); on error returns
 * a negative fg code with one line in e (the caller names the file and the flag). */
int fg_tool_read_tensor(const char *path, fg_tensor *t, fg_err *e);

/* frugal run: one model, inputs from files or random, prints outputs and latency. */
int fg_cmd_run(int argc, char **argv);

/* frugal serve: one model behind the KServe v2 HTTP API, with /metrics; exits 0 on SIGTERM/SIGINT. */
int fg_cmd_serve(int argc, char **argv);

/* frugal doctor: two /metrics scrapes of a server (or two saved files) → KPIs and findings with changes;
 * exits 0 healthy, 1 findings, 2 could not read. */
int fg_cmd_doctor(int argc, char **argv);

/* frugal cost: billing exports (FOCUS, AWS CUR, Azure) → totals, ML-lifecycle buckets, top drivers;
 * exits 0 ok, 1 malformed rows with --strict, 2 bad usage or unreadable file. */
int fg_cmd_cost(int argc, char **argv);

/* frugal bench: load generator (closed/open loop, profiles) with corrected latency and server KPIs;
 * exits 0 ok, 1 a --threshold missed, 2 bad usage or unusable target. */
int fg_cmd_bench(int argc, char **argv);

/* frugal eval: models side by side on the same data (accuracy or agreement, output difference, latency and
 * throughput at batch 1 and 32, size, cost per 1k) with verdicts; exits 0, 1 model/data error, 2 bad usage. */
int fg_cmd_eval(int argc, char **argv);

/* frugal quantize: IN.onnx → OUT.onnx with int8 MatMul/Gemm/Conv (dynamic or static QDQ); exits 0 written,
 * 1 model or data error, 2 bad usage. */
int fg_cmd_quantize(int argc, char **argv);

#endif
