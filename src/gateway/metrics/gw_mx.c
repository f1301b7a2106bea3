/*
 * Metric cells and label tables (contract and threading in gw_mx.h).
 */
#include "gateway/metrics/gw_mx.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* One label set of a shard: its key and its cell (never moved or freed while the registry
   lives). Counters and gauges: cell[0]. Histograms: buckets, then count, then the sum's bits. */
struct gw_mx_entry {
    uint32_t hash;
    uint32_t keylen;
    char *key;
    uint64_t *cell;
};

struct gw_mx_table {
    unsigned n;    /* entries in use (written by the owner under the shard's mutex) */
    unsigned max;  /* entries allocated */
    unsigned mask; /* slots - 1 */
    struct gw_mx_entry *ents;
    uint32_t *slots; /* entry index + 1, 0: empty */
};

struct gw_mx_shard {
    struct gw_mx *mx;
    pthread_mutex_t mu; /* inserting a label set; the scraper's walk */
    struct gw_mx_table *tabs;
};

struct gw_mx {
    const struct gw_mx_def *defs;
    int nfam, nshards;
    struct gw_mx_shard *shards;
    atomic_uint *used; /* per family: label sets inserted over all shards (the cap's count) */
    atomic_uint_fast64_t dropped;
};

#define GW_MX_KEY_MAX (GW_MX_MAX_LABELS * (GW_MX_MAX_VALUE + 1))

static size_t gw_mx_cell_words(const struct gw_mx_def *d)
{
    return d->kind == GW_MX_HISTOGRAM ? (size_t)d->nbuckets + 3 : 1;
}

static int gw_mx_table_init(struct gw_mx_table *t, const struct gw_mx_def *d)
{
    unsigned slots = 16;

    t->max = d->cap + GW_MX_RESERVE;
    while (slots < 2 * t->max)
        slots <<= 1;
    t->mask = slots - 1;
    t->ents = calloc(t->max, sizeof(*t->ents));
    t->slots = calloc(slots, sizeof(*t->slots));
    return t->ents != NULL && t->slots != NULL ? 0 : -1;
}

struct gw_mx *gw_mx_new(const struct gw_mx_def *defs, int nfam, int nshards)
{
    struct gw_mx *mx = calloc(1, sizeof(*mx));

    if (mx == NULL)
        return NULL;
    mx->defs = defs;
    mx->nfam = nfam;
    mx->nshards = nshards;
    mx->shards = calloc((size_t)nshards, sizeof(*mx->shards));
    mx->used = calloc((size_t)nfam, sizeof(*mx->used));
    if (mx->shards == NULL || mx->used == NULL) {
        free(mx->shards);
        free(mx->used);
        free(mx);
        return NULL;
    }
    for (int f = 0; f < nfam; f++)
        atomic_init(&mx->used[f], 0);
    atomic_init(&mx->dropped, 0);
    for (int i = 0; i < nshards; i++) {
        struct gw_mx_shard *s = &mx->shards[i];
        s->mx = mx;
        pthread_mutex_init(&s->mu, NULL);
        s->tabs = calloc((size_t)nfam, sizeof(*s->tabs));
        if (s->tabs == NULL)
            goto fail;
        for (int f = 0; f < nfam; f++)
            if (gw_mx_table_init(&s->tabs[f], &defs[f]) < 0)
                goto fail;
    }
    return mx;
fail:
    gw_mx_free(mx);
    return NULL;
}

void gw_mx_free(struct gw_mx *mx)
{
    if (mx == NULL)
        return;
    for (int i = 0; i < mx->nshards; i++) {
        struct gw_mx_shard *s = &mx->shards[i];
        for (int f = 0; s->tabs != NULL && f < mx->nfam; f++) {
            struct gw_mx_table *t = &s->tabs[f];
            for (unsigned e = 0; e < t->n; e++) {
                free(t->ents[e].key);
                free(t->ents[e].cell);
            }
            free(t->ents);
            free(t->slots);
        }
        free(s->tabs);
        pthread_mutex_destroy(&s->mu);
    }
    free(mx->shards);
    free(mx->used);
    free(mx);
}

struct gw_mx_shard *gw_mx_shard(struct gw_mx *mx, int i)
{
    return mx != NULL && i >= 0 && i < mx->nshards ? &mx->shards[i] : NULL;
}

const struct gw_mx_def *gw_mx_def(const struct gw_mx *mx, int fam)
{
    return &mx->defs[fam];
}

int gw_mx_nfam(const struct gw_mx *mx)
{
    return mx->nfam;
}

uint64_t gw_mx_dropped(struct gw_mx *mx)
{
    return mx != NULL ? atomic_load_explicit(&mx->dropped, memory_order_relaxed) : 0;
}

/* Joins the values (each cut to GW_MX_MAX_VALUE bytes at a UTF-8 boundary) with a '\0' after
   each; open labels become "other" when other is set. Returns the key's length. */
static size_t gw_mx_key(const struct gw_mx_def *d, const char *const *values, bool other, char *buf)
{
    size_t len = 0;

    for (int i = 0; i < d->nlabels; i++) {
        const char *v = values != NULL && values[i] != NULL ? values[i] : "";
        size_t n;
        if (other && (d->open_mask & (1u << i)))
            v = GW_MX_OTHER;
        n = strlen(v);
        if (n > GW_MX_MAX_VALUE) {
            n = GW_MX_MAX_VALUE;
            while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
                n--; /* v[n] would start the cut part inside a character */
        }
        memcpy(buf + len, v, n);
        len += n;
        buf[len++] = '\0';
    }
    return len;
}

static uint32_t gw_mx_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/* The owner's lookup (no lock: it is the table's only writer). Returns the cell or NULL, with
 *slot the slot where the key is or would go. */
static uint64_t *gw_mx_find(const struct gw_mx_table *t, uint32_t h, const char *key, size_t len,
                            unsigned *slot)
{
    unsigned i = h & t->mask;

    for (;; i = (i + 1) & t->mask) {
        uint32_t e = t->slots[i];
        if (e == 0)
            break;
        const struct gw_mx_entry *en = &t->ents[e - 1];
        if (en->hash == h && en->keylen == len && memcmp(en->key, key, len) == 0) {
            *slot = i;
            return en->cell;
        }
    }
    *slot = i;
    return NULL;
}

/* Inserts a label set (owner thread, under the shard's mutex). Returns its cell or NULL. */
static uint64_t *gw_mx_insert(struct gw_mx_shard *s, int fam, uint32_t h, const char *key,
                              size_t len, unsigned slot)
{
    struct gw_mx_table *t = &s->tabs[fam];
    struct gw_mx_entry *en;
    char *k;
    uint64_t *cell;

    if (t->n >= t->max)
        return NULL;
    k = malloc(len + 1);
    cell = calloc(gw_mx_cell_words(&s->mx->defs[fam]), sizeof(*cell));
    if (k == NULL || cell == NULL) {
        free(k);
        free(cell);
        return NULL;
    }
    memcpy(k, key, len);
    k[len] = '\0';
    pthread_mutex_lock(&s->mu);
    en = &t->ents[t->n];
    en->hash = h;
    en->keylen = (uint32_t)len;
    en->key = k;
    en->cell = cell;
    t->slots[slot] = t->n + 1;
    t->n++;
    pthread_mutex_unlock(&s->mu);
    return cell;
}

/* The cell of the label set values on s (inserted when new, "other" past the cap), or NULL. */
static uint64_t *gw_mx_cell(struct gw_mx_shard *s, int fam, const char *const *values)
{
    struct gw_mx *mx = s->mx;
    const struct gw_mx_def *d = &mx->defs[fam];
    struct gw_mx_table *t = &s->tabs[fam];
    char key[GW_MX_KEY_MAX];
    size_t len = gw_mx_key(d, values, false, key);
    uint32_t h = gw_mx_hash(key, len);
    unsigned slot;
    uint64_t *cell = gw_mx_find(t, h, key, len, &slot);

    if (cell != NULL)
        return cell;
    if (d->nlabels == 0) /* one set: every shard has its cell, outside the cap */
        return gw_mx_insert(s, fam, h, key, len, slot);
    if (atomic_fetch_add_explicit(&mx->used[fam], 1, memory_order_relaxed) < d->cap &&
        t->n < d->cap) {
        if ((cell = gw_mx_insert(s, fam, h, key, len, slot)) != NULL)
            return cell;
    }
    atomic_fetch_sub_explicit(&mx->used[fam], 1, memory_order_relaxed);
    if (d->open_mask != 0) {
        len = gw_mx_key(d, values, true, key);
        h = gw_mx_hash(key, len);
        if ((cell = gw_mx_find(t, h, key, len, &slot)) != NULL ||
            (cell = gw_mx_insert(s, fam, h, key, len, slot)) != NULL)
            return cell;
    }
    atomic_fetch_add_explicit(&mx->dropped, 1, memory_order_relaxed);
    return NULL;
}

static inline void gw_mx_bump(uint64_t *w, uint64_t n)
{
    __atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

void gw_mx_add(struct gw_mx_shard *s, int fam, const char *const *values, int64_t n)
{
    uint64_t *cell;

    if (s == NULL || (cell = gw_mx_cell(s, fam, values)) == NULL)
        return;
    gw_mx_bump(cell, (uint64_t)n); /* two's complement: a gauge's negative step */
}

void gw_mx_observe(struct gw_mx_shard *s, int fam, const char *const *values, double v)
{
    const struct gw_mx_def *d;
    uint64_t *cell, bits;
    double sum;
    int b = 0;

    if (s == NULL || isnan(v) || (cell = gw_mx_cell(s, fam, values)) == NULL)
        return;
    d = &s->mx->defs[fam];
    while (b < d->nbuckets && v > d->buckets[b])
        b++;
    gw_mx_bump(&cell[b], 1);
    gw_mx_bump(&cell[d->nbuckets + 1], 1);
    bits = __atomic_load_n(&cell[d->nbuckets + 2], __ATOMIC_RELAXED);
    memcpy(&sum, &bits, sizeof(sum));
    sum += v;
    memcpy(&bits, &sum, sizeof(bits));
    __atomic_store_n(&cell[d->nbuckets + 2], bits, __ATOMIC_RELAXED);
}

static int gw_mx_sample_cmp(const void *a, const void *b)
{
    const struct gw_mx_sample *x = a, *y = b;
    size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
    int c = memcmp(x->key, y->key, n);

    if (c != 0)
        return c;
    return x->keylen < y->keylen ? -1 : x->keylen > y->keylen;
}

/* Adds the cell's current values into sm (relaxed loads). */
static void gw_mx_read(const struct gw_mx_def *d, const uint64_t *cell, struct gw_mx_sample *sm)
{
    if (d->kind != GW_MX_HISTOGRAM) {
        sm->value += (int64_t)__atomic_load_n(&cell[0], __ATOMIC_RELAXED);
        return;
    }
    for (int b = 0; b <= d->nbuckets; b++)
        sm->buckets[b] += __atomic_load_n(&cell[b], __ATOMIC_RELAXED);
    sm->count += __atomic_load_n(&cell[d->nbuckets + 1], __ATOMIC_RELAXED);
    uint64_t bits = __atomic_load_n(&cell[d->nbuckets + 2], __ATOMIC_RELAXED);
    double sum;
    memcpy(&sum, &bits, sizeof(sum));
    sm->sum += sum;
}

struct gw_mx_sample *gw_mx_collect(struct gw_mx *mx, int fam, size_t *n)
{
    const struct gw_mx_def *d = &mx->defs[fam];
    struct gw_mx_sample *out = NULL;
    size_t used = 0, cap = 0, merged = 0;

    *n = 0;
    for (int i = 0; i < mx->nshards; i++) {
        struct gw_mx_shard *s = &mx->shards[i];
        const struct gw_mx_table *t = &s->tabs[fam];
        pthread_mutex_lock(&s->mu);
        if (used + t->n > cap) {
            size_t ncap = used + t->n + 16;
            struct gw_mx_sample *p = realloc(out, ncap * sizeof(*out));
            if (p == NULL) {
                pthread_mutex_unlock(&s->mu);
                free(out);
                return NULL;
            }
            out = p;
            cap = ncap;
        }
        for (unsigned e = 0; e < t->n; e++) {
            struct gw_mx_sample *sm = &out[used++];
            memset(sm, 0, sizeof(*sm));
            sm->key = t->ents[e].key;
            sm->keylen = t->ents[e].keylen;
            gw_mx_read(d, t->ents[e].cell, sm);
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (used == 0 && d->kind == GW_MX_GAUGE && d->nlabels == 0) {
        if ((out = calloc(1, sizeof(*out))) == NULL)
            return NULL;
        out->key = "";
        *n = 1;
        return out;
    }
    if (used == 0) {
        free(out);
        return NULL;
    }
    qsort(out, used, sizeof(*out), gw_mx_sample_cmp);
    for (size_t i = 0; i < used; i++) {
        struct gw_mx_sample *m;
        if (merged > 0 && gw_mx_sample_cmp(&out[merged - 1], &out[i]) == 0) {
            m = &out[merged - 1];
            m->value += out[i].value;
            for (int b = 0; b <= GW_MX_MAX_BUCKETS; b++)
                m->buckets[b] += out[i].buckets[b];
            m->count += out[i].count;
            m->sum += out[i].sum;
            continue;
        }
        if (merged != i)
            out[merged] = out[i];
        merged++;
    }
    *n = merged;
    return out;
}
