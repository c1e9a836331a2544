/*
 * Host TSC frequency for `ukctl run` (see host_tsc.h).  The guest would
 * otherwise calibrate it against the PIT at boot: 2 ms of boot time and
 * ~0.1-0.3 % of error under TCG.
 */
#include "host_tsc.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { SAMPLES = 16, WINDOW_NS = 10 * 1000 * 1000 };

#if defined(__x86_64__)
static uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

/* A (TSC, ns of clk) pair whose TSC bracket was the tightest of SAMPLES. */
static void pair_of(clockid_t clk, uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < SAMPLES; i++) {
        struct timespec ts;
        uint64_t a = rdtsc();
        clock_gettime(clk, &ts);
        uint64_t b = rdtsc();
        if (b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
        }
    }
}

static void pair(uint64_t *tsc, uint64_t *ns)
{
    pair_of(CLOCK_MONOTONIC_RAW, tsc, ns);
}

void host_tsc_pair(int64_t *tsc, int64_t *mono_ns)
{
    uint64_t t, n;
    pair_of(CLOCK_MONOTONIC, &t, &n);
    *tsc = (int64_t)t;
    *mono_ns = (int64_t)n;
}

/* Both flags: the TSC ticks at one rate in every P- and C-state. */
static bool tsc_invariant(void)
{
    char line[4096];
    bool constant = false, nonstop = false;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "flags", 5))
            continue;
        constant = strstr(line, " constant_tsc") != NULL;
        nonstop = strstr(line, " nonstop_tsc") != NULL;
        break;
    }
    fclose(f);
    return constant && nonstop;
}

uint64_t host_tsc_hz(void)
{
    uint64_t t0, n0, t1, n1;
    struct timespec w = {0, WINDOW_NS};
    if (!tsc_invariant())
        return 0;
    pair(&t0, &n0);
    nanosleep(&w, NULL);
    pair(&t1, &n1);
    if (n1 <= n0 || t1 <= t0)
        return 0;
    return (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000ULL / (n1 - n0));
}
#else
uint64_t host_tsc_hz(void)
{
    return 0;
}

void host_tsc_pair(int64_t *tsc, int64_t *mono_ns)
{
    *tsc = *mono_ns = 0;
}
#endif
