/*
 * Metric cells and label tables (the registry), independent of HTTP. A registry holds families
 * (counters, gauges, histograms with fixed bucket arrays) over one shard per writer thread:
 *
 *  - A shard's cells are written only by its owner thread, with relaxed atomic loads and stores
 *    (no lock, no read-modify-write shared with another thread on the hot path); a scrape reads
 *    them with relaxed loads and sums the shards.
 *  - Each shard has one label table per family: entries and cells are allocated once and never
 *    moved or freed while the registry lives. The owner looks label sets up without a lock (it is
 *    the table's only writer); inserting a new set takes the shard's mutex, which the scraper
 *    takes to walk the tables.
 *  - Cardinality is bounded: a family has at most `cap` label sets over all shards (a set seen on
 *    two workers counts twice); past it, new sets have their client-chosen labels (open_mask)
 *    replaced by "other". Those overflow sets use a reserve of GW_MX_RESERVE entries per shard;
 *    an observation that finds no room at all is dropped (counted in gw_mx_dropped()).
 */
#ifndef GW_MX_H
#define GW_MX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_MX_MAX_LABELS 3
#define GW_MX_MAX_BUCKETS 16 /* upper bounds, +Inf excluded */
#define GW_MX_RESERVE 256    /* entries per shard and family for "other" sets */
#define GW_MX_MAX_VALUE 200  /* bytes of a label value kept (cut at a UTF-8 boundary) */
#define GW_MX_OTHER "other"

enum gw_mx_kind { GW_MX_COUNTER, GW_MX_GAUGE, GW_MX_HISTOGRAM };

/* One metric family. Strings are static. */
struct gw_mx_def {
    const char *name; /* full sample name; counters end in _total */
    const char *help;
    enum gw_mx_kind kind;
    int nlabels;
    const char *labels[GW_MX_MAX_LABELS];
    unsigned open_mask; /* bit i: label i is chosen by clients (set to "other" past cap) */
    unsigned cap;       /* label sets over all shards */
    int nbuckets;       /* histograms */
    const double *buckets;
};

struct gw_mx;
struct gw_mx_shard;

/*
 * Creates a registry of nfam families (defs borrowed, static) with nshards shards. Returns owned
 * registry (free with gw_mx_free()) or NULL.
 */
struct gw_mx *gw_mx_new(const struct gw_mx_def *defs, int nfam, int nshards);
void gw_mx_free(struct gw_mx *mx);

/* Shard i (0 <= i < nshards), to be written by one thread only. */
struct gw_mx_shard *gw_mx_shard(struct gw_mx *mx, int i);

/*
 * Owner thread only. values: nlabels strings (NULL reads as ""). Counters and gauges add n (a
 * gauge may add a negative n); histograms observe v. NULL-safe on s (metrics off).
 */
void gw_mx_add(struct gw_mx_shard *s, int fam, const char *const *values, int64_t n);
void gw_mx_observe(struct gw_mx_shard *s, int fam, const char *const *values, double v);

/* Observations dropped for want of room since the start (any thread). */
uint64_t gw_mx_dropped(struct gw_mx *mx);

/* One merged label set of a family, as gw_mx_collect() returns it. */
struct gw_mx_sample {
    const char *key; /* the label values joined by '\0' (borrowed from the registry) */
    size_t keylen;
    int64_t value;                           /* counter / gauge */
    uint64_t buckets[GW_MX_MAX_BUCKETS + 1]; /* histogram, per bucket (not cumulative), +Inf last */
    uint64_t count;
    double sum;
};

/*
 * Any thread: the family's label sets merged over every shard, sorted by key (a gauge without
 * labels always has its one sample). Returns an owned array (free()) of *n samples, or NULL
 * with *n 0 (none, or out of memory).
 */
struct gw_mx_sample *gw_mx_collect(struct gw_mx *mx, int fam, size_t *n);

/* The definition of family fam. */
const struct gw_mx_def *gw_mx_def(const struct gw_mx *mx, int fam);
int gw_mx_nfam(const struct gw_mx *mx);

#endif
