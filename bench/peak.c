/* peak.c - this core's arithmetic ceilings, one thread: AVX-512 fp32 FMA (GFLOP/s, a multiply-add = 2)
 * against AVX-512 VNNI u8 x s8 dot products (vpdpbusd, GOP/s, 64 multiply-adds per instruction), each a
 * loop of independent register chains that never touches memory. The ratio bounds what int8 can gain
 * over fp32 on this machine without AMX: bench/RESULTS.md uses it for resnet18's int8 goal.
 *
 *   build/bench/peak [ROUNDS]      (rounds interleaved FMA, VNNI, FMA, ...; medians printed)
 *
 * Exits 2 when the CPU lacks AVX-512 VNNI. x86-64 with gcc or clang only. */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { CHAINS = 12, ITERS = 20000000 };

/* The chains written out as twelve named registers, each step one instruction in place (through the
 * intrinsics, gcc added a register copy per step; an array of registers may live in memory). */
#define CHAIN12(OP) OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7) OP(8) OP(9) OP(10) OP(11)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* GFLOP/s of CHAINS independent fp32 FMA chains. */
__attribute__((target("avx512f"), noinline)) static double fma_rate(float *sink) {
    __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(0.9999999f);
#define FMA_INIT(i) __m512 a##i = _mm512_set1_ps((float)(i));
    CHAIN12(FMA_INIT)
    double t = now();
#define FMA_STEP(i) __asm__("vfmadd231ps %2, %1, %0" : "+v"(a##i) : "v"(b), "v"(c));
    for (long n = 0; n < ITERS; n++) {
        CHAIN12(FMA_STEP)
    }
    t = now() - t;
    float s = 0;
#define FMA_SUM(i) s += _mm512_reduce_add_ps(a##i);
    CHAIN12(FMA_SUM)
    *sink += s;
    return (double)ITERS * CHAINS * 16 * 2 / t / 1e9;
}

/* GOP/s of CHAINS independent vpdpbusd chains (16 lanes x 4 u8*s8 products each). */
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) static double vnni_rate(int32_t *sink) {
    __m512i u = _mm512_set1_epi8(3), w = _mm512_set1_epi8(5);
#define VNNI_INIT(i) __m512i a##i = _mm512_set1_epi32(i);
    CHAIN12(VNNI_INIT)
    double t = now();
#define VNNI_STEP(i) __asm__("vpdpbusd %2, %1, %0" : "+v"(a##i) : "v"(u), "v"(w));
    for (long n = 0; n < ITERS; n++) {
        CHAIN12(VNNI_STEP)
    }
    t = now() - t;
    int32_t s = 0;
#define VNNI_SUM(i) s += _mm512_reduce_add_epi32(a##i);
    CHAIN12(VNNI_SUM)
    *sink += s;
    return (double)ITERS * CHAINS * 64 * 2 / t / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1 || rounds > 100) {
        fprintf(stderr, "peak: ROUNDS must be 1..100\n");
        return 2;
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vnni")) {
        fprintf(stderr, "peak: this CPU has no AVX-512 VNNI\n");
        return 2;
    }
    double f[100], v[100], r[100];
    float fs = 0;
    int32_t vs = 0;
    for (int i = 0; i < rounds; i++) {
        f[i] = fma_rate(&fs);
        v[i] = vnni_rate(&vs);
        r[i] = v[i] / f[i];
        printf("round %d: fp32 FMA %.0f GFLOP/s, VNNI %.0f GOP/s, VNNI/FMA %.2f\n", i + 1, f[i], v[i], r[i]);
    }
    qsort(f, (size_t)rounds, sizeof f[0], cmp);
    qsort(v, (size_t)rounds, sizeof v[0], cmp);
    qsort(r, (size_t)rounds, sizeof r[0], cmp);
    printf("median: fp32 FMA %.0f GFLOP/s, VNNI %.0f GOP/s, VNNI/FMA %.2f (checksums %g %d)\n", f[rounds / 2],
           v[rounds / 2], r[rounds / 2], (double)fs, (int)vs);
    return 0;
}
