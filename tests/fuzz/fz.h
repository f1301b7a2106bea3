/*
 * Shared by the libFuzzer targets in tests/fuzz/: a small deterministic PRNG seeded from the
 * input itself (so a seed file replays exactly), split plans for incremental parsers, and a
 * growable byte log whose contents two runs compare.
 */
#ifndef FZ_H
#define FZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A failed property: print it and abort, which libFuzzer reports as a crash with the input. */
#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* FNV-1a of the input: the seed of the split plans. */
static inline uint64_t fz_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* xorshift64*: deterministic for a given seed. */
static inline uint64_t fz_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/*
 * The length of the next piece of a split plan over n bytes, at off: plan 0 is the whole input,
 * plan 1 one byte at a time, plan 2 two pieces cut at a random point, the others random pieces of
 * 1..16 bytes. Always at least 1 byte when off < n.
 */
static inline size_t fz_piece(int plan, uint64_t *rng, size_t off, size_t n)
{
    size_t left = n - off, k;

    switch (plan) {
    case 0:
        return left;
    case 1:
        return 1;
    case 2:
        if (off == 0 && n > 1)
            return 1 + (size_t)(fz_next(rng) % (n - 1));
        return left;
    default:
        k = 1 + (size_t)(fz_next(rng) % 16);
        return k < left ? k : left;
    }
}

#define FZ_PLANS 5

/* A growable log of what a parser reported; two runs must produce the same bytes. */
struct fz_log {
    char *p;
    size_t len, cap;
};

static inline void fz_log_add(struct fz_log *l, const void *s, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 256;
        while (cap < l->len + n)
            cap *= 2;
        l->p = realloc(l->p, cap);
        FZ_CHECK(l->p != NULL);
        l->cap = cap;
    }
    if (n > 0)
        memcpy(l->p + l->len, s, n);
    l->len += n;
}

/* A value followed by its size, so adjacent fields cannot run together. */
static inline void fz_log_field(struct fz_log *l, const void *s, size_t n)
{
    fz_log_add(l, &n, sizeof(n));
    fz_log_add(l, s, n);
}

static inline void fz_log_num(struct fz_log *l, long long v)
{
    fz_log_add(l, &v, sizeof(v));
}

static inline void fz_log_free(struct fz_log *l)
{
    free(l->p);
    memset(l, 0, sizeof(*l));
}

static inline int fz_log_eq(const struct fz_log *a, const struct fz_log *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/* A copy of p[0..n) in its own allocation of exactly n bytes, so ASan sees any read past it. */
static inline char *fz_dup(const void *p, size_t n)
{
    char *c = malloc(n > 0 ? n : 1);

    FZ_CHECK(c != NULL);
    if (n > 0)
        memcpy(c, p, n);
    return c;
}

#endif
