/*
 * cpu.c - asking the CPU (cpu.h).
 */
#include "cpu.h"

#ifdef HS_HAVE_AVX2
atomic_int hs_cpu_avx2;

__attribute__((cold)) int hs_cpu_ask_avx2(void)
{
    /* Also before the constructors that set up __cpu_model. */
    __builtin_cpu_init();
    int k = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi")
                ? 2
                : 1;
    atomic_store_explicit(&hs_cpu_avx2, k, memory_order_relaxed);
    return k;
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int hs_cpu_baseline_only;
#endif
