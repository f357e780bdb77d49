/* The C ABI of allocator-malloc, checked from C: run under
 * LD_PRELOAD=liballocator_malloc.so with EXPECT_SHIM=1 (the test then also
 * checks that malloc resolves into the shim), or without it against glibc
 * (the same checks, except where glibc's rules differ, marked).
 *
 * Exit status 0 when every check passed; each failure prints a line.
 * Build: cc -O1 -pthread -Wno-alloc-size-larger-than -Wno-use-after-free malloc_test.c -o malloc_test -ldl
 * (the warnings are about what the test does on purpose: overflowing calloc,
 * reading a block after a realloc of it failed)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;
static int checks;
static int shim;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static const size_t SIZES[] = {0, 1, 7, 8, 15, 16, 17, 24, 31, 32, 48, 63, 64, 100, 127, 128, 255, 256, 500,
                               1000, 2047, 2048, 2049, 4095, 4096, 4097, 10000, 65536, 100000, 262143,
                               262144, 300000, 1 << 20, 5 << 20};
#define NSIZES (sizeof SIZES / sizeof SIZES[0])

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 7);
}
static int verify(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7)) return 0;
    return 1;
}

static void test_interposed(void) {
    Dl_info info;
    CHECK(dladdr((void *)&malloc, &info) && info.dli_fname, "dladdr(malloc) failed");
    if (shim)
        CHECK(info.dli_fname && strstr(info.dli_fname, "allocator_malloc"), "malloc is %s, not the shim",
              info.dli_fname ? info.dli_fname : "?");
}

static void test_malloc_alignment_usable(void) {
    void *ptrs[NSIZES];
    for (size_t i = 0; i < NSIZES; i++) {
        ptrs[i] = malloc(SIZES[i]);
        CHECK(ptrs[i] != NULL, "malloc(%zu) failed", SIZES[i]);
        if (!ptrs[i]) continue;
        CHECK(aligned_to(ptrs[i], 16), "malloc(%zu) = %p not 16-aligned", SIZES[i], ptrs[i]);
        size_t usable = malloc_usable_size(ptrs[i]);
        CHECK(usable >= SIZES[i], "malloc_usable_size %zu < %zu", usable, SIZES[i]);
        fill(ptrs[i], usable, (unsigned)i);
    }
    for (size_t i = 0; i < NSIZES; i++)
        if (ptrs[i]) CHECK(verify(ptrs[i], malloc_usable_size(ptrs[i]), (unsigned)i), "block %zu overwritten", i);
    /* malloc(0): unique, freeable pointers. */
    void *a = malloc(0), *b = malloc(0);
    CHECK(a && b && a != b, "malloc(0) gave %p and %p", a, b);
    free(a);
    free(b);
    for (size_t i = 0; i < NSIZES; i++) free(ptrs[i]);
    free(NULL);
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) != 0");
}

static void test_calloc(void) {
    for (size_t i = 0; i < NSIZES; i++) {
        /* Dirty memory of this size first, so a reused block must be zeroed. */
        unsigned char *d = malloc(SIZES[i]);
        if (d) memset(d, 0xAB, SIZES[i]);
        free(d);
        unsigned char *p = calloc(1, SIZES[i]);
        CHECK(p != NULL, "calloc(1, %zu) failed", SIZES[i]);
        if (!p) continue;
        CHECK(aligned_to(p, 16), "calloc not aligned");
        int zero = 1;
        for (size_t j = 0; j < SIZES[i]; j++) zero &= p[j] == 0;
        CHECK(zero, "calloc(1, %zu) not zeroed", SIZES[i]);
        free(p);
    }
    unsigned char *p = calloc(0, 10), *q = calloc(10, 0);
    CHECK(p && q && p != q, "calloc with zero count/size: %p %p", (void *)p, (void *)q);
    free(p);
    free(q);
    errno = 0;
    CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM, "calloc overflow: errno %d", errno);
    /* Many small callocs over dirtied memory. */
    void *many[1000];
    for (int i = 0; i < 1000; i++) { many[i] = malloc(40); memset(many[i], 0xCD, 40); }
    for (int i = 0; i < 1000; i++) free(many[i]);
    for (int i = 0; i < 1000; i++) {
        unsigned char *c = calloc(5, 8);
        int zero = 1;
        for (int j = 0; j < 40; j++) zero &= c[j] == 0;
        CHECK(zero, "calloc(5, 8) over freed memory not zeroed");
        many[i] = c;
    }
    for (int i = 0; i < 1000; i++) free(many[i]);
}

/* calloc(1 GiB) under the shim: a fresh zero-filled mapping, not written, so
 * the resident set barely grows. */
static long rss_pages(void) {
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident;
}

static void test_calloc_huge_not_written(void) {
    long before = rss_pages();
    unsigned char *p = calloc(1, (size_t)1 << 30);
    CHECK(p != NULL, "calloc(1 GiB) failed");
    if (!p) return;
    long after = rss_pages();
    long grown_kib = (after - before) * (sysconf(_SC_PAGESIZE) / 1024);
    CHECK(p[0] == 0 && p[(1u << 29) + 12345] == 0 && p[(1u << 30) - 1] == 0, "calloc(1 GiB) not zero");
    printf("calloc(1 GiB): resident set grew by %ld KiB\n", grown_kib);
    CHECK(grown_kib < 64 * 1024, "calloc(1 GiB) made %ld KiB resident: it wrote its zeros", grown_kib);
    free(p);
}

static void test_realloc(void) {
    /* Grow step by step, through every size class and into a mapping. */
    size_t n = 1;
    unsigned char *p = malloc(n);
    fill(p, n, 3);
    while (n < (4u << 20)) {
        size_t m = n * 3 / 2 + 1;
        unsigned char *q = realloc(p, m);
        CHECK(q != NULL, "realloc grow to %zu failed", m);
        if (!q) { free(p); return; }
        CHECK(aligned_to(q, 16), "realloc not aligned");
        CHECK(verify(q, n, 3), "realloc %zu -> %zu lost contents", n, m);
        fill(q, m, 3);
        p = q;
        n = m;
    }
    /* Shrink back. */
    while (n > 1) {
        size_t m = n / 3;
        if (m == 0) m = 1;
        unsigned char *q = realloc(p, m);
        CHECK(q != NULL, "realloc shrink to %zu failed", m);
        if (!q) { free(p); return; }
        CHECK(verify(q, m, 3), "realloc shrink %zu -> %zu lost contents", n, m);
        p = q;
        n = m;
    }
    errno = 0;
    CHECK(realloc(p, SIZE_MAX - 64) == NULL && errno == ENOMEM, "realloc(huge): errno %d", errno);
    CHECK(verify(p, 1, 3), "a failed realloc changed the block");
    errno = 0;
    CHECK(reallocarray(p, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM, "reallocarray overflow: errno %d", errno);
    unsigned char *q = reallocarray(p, 10, 10);
    CHECK(q && verify(q, 1, 3), "reallocarray(10, 10) failed");
    p = q;
    /* realloc(p, 0) frees and returns NULL (glibc). */
    CHECK(realloc(p, 0) == NULL, "realloc(p, 0) did not return NULL");
    p = realloc(NULL, 100);
    CHECK(p != NULL && aligned_to(p, 16), "realloc(NULL, 100)");
    free(p);
    /* An aligned block keeps its alignment through realloc. */
    void *a = NULL;
    CHECK(posix_memalign(&a, 256, 100) == 0, "posix_memalign(256)");
    fill(a, 100, 9);
    for (size_t m = 200; m < (1u << 20); m *= 3) {
        a = realloc(a, m);
        CHECK(a && verify(a, 100, 9), "aligned realloc to %zu lost contents", m);
        if (shim) CHECK(aligned_to(a, 256), "the shim's realloc lost the alignment");
    }
    free(a);
}

static void test_aligned(void) {
    static const size_t aligns[] = {8, 16, 32, 64, 128, 4096, 65536, 1 << 20};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        for (size_t s = 0; s < NSIZES; s += 3) {
            size_t al = aligns[i], sz = SIZES[s];
            void *p = (void *)1;
            errno = 1234;
            int r = posix_memalign(&p, al, sz);
            CHECK(r == 0 && p && aligned_to(p, al), "posix_memalign(%zu, %zu) = %d, %p", al, sz, r, p);
            CHECK(errno == 1234, "posix_memalign set errno");
            if (r == 0) {
                CHECK(malloc_usable_size(p) >= sz, "usable size of an aligned block");
                memset(p, 1, sz);
                free(p);
            }
            p = aligned_alloc(al, sz);
            CHECK(p && aligned_to(p, al), "aligned_alloc(%zu, %zu)", al, sz);
            free(p);
            p = memalign(al, sz);
            CHECK(p && aligned_to(p, al), "memalign(%zu, %zu)", al, sz);
            free(p);
        }
    }
    void *p = (void *)1;
    errno = 1234;
    CHECK(posix_memalign(&p, 3, 10) == EINVAL && p == (void *)1, "posix_memalign(3)");
    CHECK(posix_memalign(&p, 4, 10) == EINVAL, "posix_memalign(4): not a multiple of sizeof(void *)");
    CHECK(posix_memalign(&p, 24, 10) == EINVAL, "posix_memalign(24)");
    CHECK(posix_memalign(&p, 0, 10) == EINVAL, "posix_memalign(0)");
    CHECK(posix_memalign(&p, 64, SIZE_MAX - 100) == ENOMEM, "posix_memalign(huge)");
    /* glibc's posix_memalign sets errno when memory runs out; POSIX says it need not. */
    if (shim) CHECK(errno == 1234, "posix_memalign set errno");
    if (shim) { /* glibc < 2.38 accepts any alignment in aligned_alloc. */
        errno = 0;
        CHECK(aligned_alloc(3, 10) == NULL && errno == EINVAL, "aligned_alloc(3): errno %d", errno);
        errno = 0;
        CHECK(aligned_alloc(0, 10) == NULL && errno == EINVAL, "aligned_alloc(0): errno %d", errno);
    }
    errno = 0;
    CHECK(aligned_alloc(64, SIZE_MAX - 100) == NULL && errno == ENOMEM, "aligned_alloc(huge): errno %d", errno);
    p = memalign(48, 100); /* rounded up to 64, as glibc */
    CHECK(p && aligned_to(p, 64), "memalign(48)");
    free(p);
    long page = sysconf(_SC_PAGESIZE);
    p = valloc(100);
    CHECK(p && aligned_to(p, (size_t)page), "valloc");
    free(p);
    p = pvalloc(100);
    CHECK(p && aligned_to(p, (size_t)page) && malloc_usable_size(p) >= (size_t)page, "pvalloc");
    free(p);
}

static void test_errno(void) {
    errno = 0;
    CHECK(malloc(SIZE_MAX) == NULL && errno == ENOMEM, "malloc(SIZE_MAX): errno %d", errno);
    errno = 0;
    CHECK(malloc(SIZE_MAX / 2) == NULL && errno == ENOMEM, "malloc(SIZE_MAX / 2): errno %d", errno);
    errno = 0;
    CHECK(calloc(SIZE_MAX, SIZE_MAX) == NULL && errno == ENOMEM, "calloc overflow: errno %d", errno);
    errno = 0;
    CHECK(memalign(64, SIZE_MAX - 10) == NULL && errno == ENOMEM, "memalign(huge): errno %d", errno);
}

/* Threads allocate blocks, hand them to one another through shared slots and
 * free what others allocated. */
#define SLOTS 256
#define THREADS 4
static _Atomic(unsigned char *) slots[SLOTS];
static atomic_long cross_frees;

static void *exchange_worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    for (int i = 0; i < 100000; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t size = 1 + (seed >> 8) % (seed & 1 ? 200 : 5000);
        unsigned char *p = malloc(size + 1);
        if (!p) { atomic_fetch_add(&cross_frees, -1000000000L); return NULL; }
        p[0] = (unsigned char)(size & 0xff);
        memset(p + 1, p[0], size);
        /* The first byte is the pattern; the block's usable size covers it. */
        unsigned char *old = atomic_exchange(&slots[(seed >> 4) % SLOTS], p);
        if (old) {
            size_t n = malloc_usable_size(old);
            if (n < 2 || old[1] != old[0]) atomic_fetch_add(&cross_frees, -1000000000L);
            free(old);
            atomic_fetch_add(&cross_frees, 1);
        }
    }
    return NULL;
}

static void test_threads(void) {
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, exchange_worker, (void *)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < SLOTS; i++) free(atomic_exchange(&slots[i], NULL));
    long frees = atomic_load(&cross_frees);
    CHECK(frees > 0, "threads: a block was corrupt or an allocation failed (%ld)", frees);
    printf("threads: %d threads, %ld blocks freed by a thread that took them from a slot\n", THREADS, frees);
}

/* fork() while other threads allocate: every child must malloc/free and exit
 * 0. A child stuck on the heap's lock fails the bounded wait. */
static atomic_int stop_churn;
static atomic_long churn_rounds;

static void *churn_worker(void *arg) {
    (void)arg;
    void *live[64] = {0};
    unsigned seed = 77;
    while (!atomic_load(&stop_churn)) {
        seed = seed * 1103515245u + 12345u;
        int k = (seed >> 8) % 64;
        free(live[k]);
        live[k] = malloc(1 + (seed >> 12) % 3000);
        atomic_fetch_add(&churn_rounds, 1);
    }
    for (int k = 0; k < 64; k++) free(live[k]);
    return NULL;
}

static void test_fork(void) {
    enum { CHILDREN = 100, CHURNERS = 2 };
    pthread_t t[CHURNERS];
    for (int i = 0; i < CHURNERS; i++) pthread_create(&t[i], NULL, churn_worker, NULL);
    while (atomic_load(&churn_rounds) < 1000) sched_yield();
    int ok = 0;
    for (int c = 0; c < CHILDREN; c++) {
        pid_t pid = fork();
        if (pid < 0) { CHECK(0, "fork failed"); break; }
        if (pid == 0) {
            int good = 1;
            for (int i = 0; i < 200; i++) {
                size_t n = 1 + (size_t)i * 97;
                unsigned char *p = malloc(n);
                if (!p) { good = 0; break; }
                memset(p, i, n);
                p = realloc(p, n * 2);
                if (!p || p[n - 1] != (unsigned char)i) good = 0;
                free(p);
            }
            void *big = calloc(1, 1 << 20);
            if (!big) good = 0;
            free(big);
            _exit(good ? 0 : 3);
        }
        int status = 0;
        long waited = 0;
        pid_t done;
        struct timespec ms = {0, 1000000};
        /* At most 20,000 polls of 1 ms or more: only a bound on a hang. */
        while ((done = waitpid(pid, &status, WNOHANG)) == 0 && waited < 20000) {
            nanosleep(&ms, NULL);
            waited++;
        }
        if (done == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            CHECK(0, "child %d hung (the heap's lock stayed held after fork)", c);
            continue;
        }
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", c, status);
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    atomic_store(&stop_churn, 1);
    for (int i = 0; i < CHURNERS; i++) pthread_join(t[i], NULL);
    printf("fork: %d of %d children forked during %ld allocations of 2 threads exited 0\n", ok, CHILDREN,
           atomic_load(&churn_rounds));
}

int main(void) {
    const char *expect = getenv("EXPECT_SHIM");
    shim = expect && strcmp(expect, "1") == 0;
    test_interposed();
    test_malloc_alignment_usable();
    test_calloc();
    if (shim) test_calloc_huge_not_written(); /* glibc also maps it fresh, but is not the subject */
    test_realloc();
    test_aligned();
    test_errno();
    test_threads();
    test_fork();
    printf("%s: %d checks, %d failures\n", shim ? "shim" : "system malloc", checks, failures);
    return failures ? 1 : 0;
}
