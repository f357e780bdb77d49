/* C allocation benchmarks for allocator-capi/bench/run.sh.
 *
 *   cbench which            prints the file that defines malloc (the check
 *                           that LD_PRELOAD took effect)
 *   cbench sizes N          N random malloc/free of 8 B..4 KiB (and 1 in 64
 *                           up to 64 KiB) over a live set of 20,000 blocks,
 *                           each block written once (one thread)
 *   cbench larson T N       T threads, each N rounds of: free a random slot
 *                           of a shared array, malloc 16..1024 B into it
 *                           (blocks freed by other threads than their own)
 *
 * Prints a checksum so the work cannot be optimised away. Time and peak RSS
 * are measured from outside (/usr/bin/time).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int sizes(long n) {
    enum { LIVE = 20000 };
    static unsigned char *live[LIVE];
    uint64_t seed = 88172645463325252ull, sum = 0;
    for (long i = 0; i < n; i++) {
        uint64_t r = next(&seed);
        size_t k = r % LIVE;
        size_t size = (r >> 20) % 64 == 0 ? 8 + (r >> 32) % 65536 : 8 + (r >> 32) % 4096;
        if (live[k]) { sum += live[k][0]; free(live[k]); }
        live[k] = malloc(size);
        if (!live[k]) return 1;
        live[k][0] = (unsigned char)r;
        live[k][size - 1] = 1;
    }
    for (size_t k = 0; k < LIVE; k++) free(live[k]);
    printf("sizes: %ld operations, checksum %llu\n", n, (unsigned long long)sum);
    return 0;
}

enum { SLOTS = 8192 };
static _Atomic(unsigned char *) slots[SLOTS];
static long rounds;
static atomic_ullong total;

static void *larson_worker(void *arg) {
    uint64_t seed = 0x9E3779B97F4A7C15ull * ((uintptr_t)arg + 1), sum = 0;
    for (long i = 0; i < rounds; i++) {
        uint64_t r = next(&seed);
        size_t size = 16 + (r >> 16) % 1009;
        unsigned char *p = malloc(size);
        if (!p) abort();
        p[0] = (unsigned char)r;
        unsigned char *old = atomic_exchange(&slots[r % SLOTS], p);
        if (old) { sum += old[0]; free(old); }
    }
    atomic_fetch_add(&total, sum);
    return NULL;
}

static int larson(int threads, long n) {
    pthread_t t[64];
    rounds = n;
    if (threads > 64) threads = 64;
    for (intptr_t i = 0; i < threads; i++) pthread_create(&t[i], NULL, larson_worker, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    for (int k = 0; k < SLOTS; k++) free(atomic_exchange(&slots[k], NULL));
    printf("larson: %d threads x %ld rounds, checksum %llu\n", threads, n, (unsigned long long)atomic_load(&total));
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "which") == 0) {
        Dl_info info;
        if (!dladdr((void *)&malloc, &info) || !info.dli_fname) return 1;
        printf("%s\n", info.dli_fname);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "sizes") == 0) return sizes(atol(argv[2]));
    if (argc >= 4 && strcmp(argv[1], "larson") == 0) return larson(atoi(argv[2]), atol(argv[3]));
    fprintf(stderr, "usage: cbench which | sizes N | larson THREADS N\n");
    return 2;
}
