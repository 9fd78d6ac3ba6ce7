/*
 * cpu.h - what the CPU offers beyond the x86-64 baseline, asked once.
 *
 * The scans that read every request and every header block (the quick
 * request scan in http1_request.c, the steady state's compare in
 * rewrite_plan.c) have AVX2 variants, compiled with target("avx2") beside
 * the SSE2 ones and chosen per call: one relaxed load once the CPU was
 * asked.
 */
#ifndef HS_CPU_H
#define HS_CPU_H

#include <stdbool.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(HS_HTTP1_NO_SIMD)
#define HS_HAVE_AVX2 1
#include <stdatomic.h>

/* 0: not asked yet, 1: no, 2: yes (AVX2 and BMI1, for tzcnt). Hidden:
 * read straight, not through the GOT. */
extern __attribute__((visibility("hidden"))) atomic_int hs_cpu_avx2;
__attribute__((visibility("hidden"))) int hs_cpu_ask_avx2(void);

static inline bool hs_cpu_has_avx2(void)
{
    int k = atomic_load_explicit(&hs_cpu_avx2, memory_order_relaxed);
    return (k ? k : hs_cpu_ask_avx2()) == 2;
}
#endif

#endif /* HS_CPU_H */
