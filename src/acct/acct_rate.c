/*
 * Sliding-window rate limits (contract in acct_rate.h): a striped hash table of subjects, each
 * with a ring of one-second buckets (local counts, and the other replicas' counts set by the
 * sync thread). Every operation on a subject is a few arithmetic steps under its stripe's mutex.
 */
#include "acct/acct_rate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define W ACCT_RATE_WINDOW

struct rate_bucket {
    int64_t sec; /* the Unix second counted here; stale when outside the window */
    int64_t req;
    int64_t tok;
};

struct rate_subj {
    struct rate_subj *next; /* chain of the stripe's slot */
    uint64_t hash;
    int64_t last_sec; /* newest second counted (local or remote): idle once out of the window */
    struct rate_bucket local[W];
    struct rate_bucket remote[W];
    uint32_t round[W]; /* the remote round that set remote[i] */
    char kind;
    char name[]; /* NUL-terminated */
};

struct rate_stripe {
    pthread_mutex_t mu;
    struct rate_subj **tab; /* cap slots (a power of two), chained */
    size_t cap;
    size_t n;
    char pad[64]; /* stripes on different cache lines (the struct starts 64-aligned) */
};

struct acct_rate {
    struct rate_stripe st[ACCT_RATE_STRIPES];
    atomic_uint_fast64_t admits;
    uint32_t round; /* last remote round (the sync thread's only) */
};

static uint64_t rate_hash(char kind, const char *name)
{
    uint64_t h = UINT64_C(1469598103934665603); /* FNV-1a over kind then name */

    h = (h ^ (unsigned char)kind) * UINT64_C(1099511628211);
    for (const char *s = name; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

static struct rate_stripe *rate_stripe_of(struct acct_rate *rl, uint64_t h)
{
    return &rl->st[(h >> 32) % ACCT_RATE_STRIPES];
}

static size_t rate_slot(const struct rate_stripe *st, uint64_t h)
{
    return (size_t)(h & (st->cap - 1));
}

static int64_t rate_sec(int64_t now_us)
{
    return now_us >= 0 ? now_us / 1000000 : -((-now_us + 999999) / 1000000);
}

static size_t rate_idx(int64_t sec)
{
    return (size_t)(((sec % W) + W) % W);
}

struct acct_rate *acct_rate_new(void)
{
    size_t size = (sizeof(struct acct_rate) + 63) / 64 * 64; /* aligned_alloc wants a multiple */
    struct acct_rate *rl = aligned_alloc(64, size);

    if (rl == NULL)
        return NULL;
    memset(rl, 0, size);
    for (size_t i = 0; i < ACCT_RATE_STRIPES; i++)
        pthread_mutex_init(&rl->st[i].mu, NULL);
    atomic_init(&rl->admits, 0);
    return rl;
}

void acct_rate_free(struct acct_rate *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < ACCT_RATE_STRIPES; i++) {
        struct rate_stripe *st = &rl->st[i];

        for (size_t j = 0; j < st->cap; j++) {
            struct rate_subj *s = st->tab[j], *next;
            for (; s != NULL; s = next) {
                next = s->next;
                free(s);
            }
        }
        free(st->tab);
        pthread_mutex_destroy(&st->mu);
    }
    free(rl);
}

/* The subject, or NULL. Stripe lock held. */
static struct rate_subj *rate_find(struct rate_stripe *st, uint64_t h, char kind, const char *name)
{
    if (st->cap == 0)
        return NULL;
    for (struct rate_subj *s = st->tab[rate_slot(st, h)]; s != NULL; s = s->next)
        if (s->hash == h && s->kind == kind && strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

/* Doubles the stripe's slots (16 at first). Returns 0 or -1. Stripe lock held. */
static int rate_grow(struct rate_stripe *st)
{
    size_t cap = st->cap != 0 ? st->cap * 2 : 16;
    struct rate_subj **tab = calloc(cap, sizeof(*tab));

    if (tab == NULL)
        return -1;
    for (size_t j = 0; j < st->cap; j++) {
        struct rate_subj *s = st->tab[j], *next;
        for (; s != NULL; s = next) {
            next = s->next;
            s->next = tab[s->hash & (cap - 1)];
            tab[s->hash & (cap - 1)] = s;
        }
    }
    free(st->tab);
    st->tab = tab;
    st->cap = cap;
    return 0;
}

/* The subject, added (empty) when unknown; NULL when out of memory. Stripe lock held. */
static struct rate_subj *rate_get(struct rate_stripe *st, uint64_t h, char kind, const char *name)
{
    struct rate_subj *s = rate_find(st, h, kind, name);
    size_t len;

    if (s != NULL)
        return s;
    if (st->n >= st->cap && rate_grow(st) < 0)
        return NULL;
    len = strlen(name);
    if ((s = calloc(1, sizeof(*s) + len + 1)) == NULL)
        return NULL;
    s->hash = h;
    s->kind = kind;
    memcpy(s->name, name, len + 1);
    s->next = st->tab[rate_slot(st, h)];
    st->tab[rate_slot(st, h)] = s;
    st->n++;
    return s;
}

static bool rate_live(int64_t sec, int64_t now_sec)
{
    return sec > now_sec - W && sec <= now_sec;
}

/* Requests and tokens of s in second sec (local plus remote). */
static void rate_at(const struct rate_subj *s, int64_t sec, int64_t *req, int64_t *tok)
{
    size_t i = rate_idx(sec);

    *req = 0;
    *tok = 0;
    if (s->local[i].sec == sec) {
        *req += s->local[i].req;
        *tok += s->local[i].tok;
    }
    if (s->remote[i].sec == sec) {
        *req += s->remote[i].req;
        *tok += s->remote[i].tok;
    }
}

static void rate_sum(const struct rate_subj *s, int64_t now_sec, int64_t *req, int64_t *tok)
{
    *req = 0;
    *tok = 0;
    for (int64_t sec = now_sec - W + 1; sec <= now_sec; sec++) {
        int64_t r, t;
        rate_at(s, sec, &r, &t);
        *req += r;
        *tok += t;
    }
}

/*
 * Seconds until the window holds less than limit (requests, or tokens when tokens is true):
 * the buckets expire oldest first, the one of second sec at sec + W.
 */
static int64_t rate_retry(const struct rate_subj *s, int64_t now_sec, int64_t total, int64_t limit,
                          bool tokens)
{
    for (int64_t sec = now_sec - W + 1; sec <= now_sec; sec++) {
        int64_t r, t;
        rate_at(s, sec, &r, &t);
        total -= tokens ? t : r;
        if (total < limit)
            return sec + W - now_sec;
    }
    return W;
}

/* The oldest second in the window with a request, or now_sec. */
static int64_t rate_oldest(const struct rate_subj *s, int64_t now_sec)
{
    for (int64_t sec = now_sec - W + 1; sec < now_sec; sec++) {
        int64_t r, t;
        rate_at(s, sec, &r, &t);
        if (r > 0)
            return sec;
    }
    return now_sec;
}

/* The local bucket of second sec, emptied first when it held an older second. */
static struct rate_bucket *rate_local(struct rate_subj *s, int64_t sec)
{
    struct rate_bucket *b = &s->local[rate_idx(sec)];

    if (b->sec != sec) {
        b->sec = sec;
        b->req = 0;
        b->tok = 0;
    }
    if (sec > s->last_sec)
        s->last_sec = sec;
    return b;
}

/* Locks the distinct stripes of the asks in ascending order (no deadlock between admissions). */
static size_t rate_lock(struct acct_rate *rl, const size_t *stripes, size_t n, size_t *order)
{
    size_t m = 0;

    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < m && order[j] < stripes[i])
            j++;
        if (j < m && order[j] == stripes[i])
            continue;
        memmove(order + j + 1, order + j, (m - j) * sizeof(*order));
        order[j] = stripes[i];
        m++;
    }
    for (size_t i = 0; i < m; i++)
        pthread_mutex_lock(&rl->st[order[i]].mu);
    return m;
}

enum acct_rate_verdict acct_rate_admit(struct acct_rate *rl, struct acct_rate_ask *asks, size_t n,
                                       int64_t now_us, size_t *which, int64_t *retry_after)
{
    int64_t now_sec = rate_sec(now_us);
    uint64_t h[4];
    size_t stripes[4], order[4], act[4], na = 0, nl;
    struct rate_subj *s[4];
    enum acct_rate_verdict v = ACCT_RATE_OK;

    for (size_t i = 0; i < n && i < 4; i++) {
        asks[i].count = asks[i].remaining = asks[i].reset = asks[i].reserved = 0;
        asks[i].second = now_sec;
        if (asks[i].rpm <= 0 && asks[i].tpm <= 0)
            continue;
        h[na] = rate_hash(asks[i].kind, asks[i].name);
        stripes[na] = (size_t)(rate_stripe_of(rl, h[na]) - rl->st);
        act[na++] = i;
    }
    if (na == 0)
        return ACCT_RATE_OK;
    nl = rate_lock(rl, stripes, na, order);
    for (size_t k = 0; k < na && v == ACCT_RATE_OK; k++) {
        struct acct_rate_ask *a = &asks[act[k]];
        int64_t req, tok;

        if ((s[k] = rate_get(&rl->st[stripes[k]], h[k], a->kind, a->name)) == NULL) {
            v = ACCT_RATE_NOMEM;
            break;
        }
        rate_sum(s[k], now_sec, &req, &tok);
        if (a->rpm > 0 && req >= a->rpm) {
            v = ACCT_RATE_RPM;
            *retry_after = rate_retry(s[k], now_sec, req, a->rpm, false);
        } else if (a->tpm > 0 && tok >= a->tpm) {
            v = ACCT_RATE_TPM;
            *retry_after = rate_retry(s[k], now_sec, tok, a->tpm, true);
        }
        if (v != ACCT_RATE_OK)
            *which = act[k];
        else
            a->count = req + 1;
    }
    for (size_t k = 0; k < na && v == ACCT_RATE_OK; k++) {
        struct acct_rate_ask *a = &asks[act[k]];
        struct rate_bucket *b = rate_local(s[k], now_sec);

        b->req++;
        if (a->tpm > 0 && a->tokens > 0) {
            b->tok += a->tokens;
            a->reserved = a->tokens;
        }
        a->remaining = a->rpm > a->count ? a->rpm - a->count : 0;
        a->reset = rate_oldest(s[k], now_sec) + W;
    }
    for (size_t i = nl; i-- > 0;)
        pthread_mutex_unlock(&rl->st[order[i]].mu);
    if (atomic_fetch_add(&rl->admits, 1) % ACCT_RATE_PURGE_EVERY == ACCT_RATE_PURGE_EVERY - 1)
        acct_rate_purge(rl, now_us);
    return v;
}

void acct_rate_settle(struct acct_rate *rl, char kind, const char *name, int64_t second,
                      int64_t reserved, int64_t actual, int64_t now_us)
{
    uint64_t h = rate_hash(kind, name);
    struct rate_stripe *st = rate_stripe_of(rl, h);
    int64_t now_sec = rate_sec(now_us);
    struct rate_subj *s;

    pthread_mutex_lock(&st->mu);
    s = actual > 0 ? rate_get(st, h, kind, name) : rate_find(st, h, kind, name);
    if (s != NULL) {
        struct rate_bucket *b = &s->local[rate_idx(second)];

        if (reserved > 0 && b->sec == second && rate_live(second, now_sec))
            b->tok = b->tok > reserved ? b->tok - reserved : 0;
        if (actual > 0)
            rate_local(s, now_sec)->tok += actual;
    }
    pthread_mutex_unlock(&st->mu);
}

void acct_rate_peek(struct acct_rate *rl, char kind, const char *name, int64_t now_us,
                    int64_t *requests, int64_t *tokens)
{
    uint64_t h = rate_hash(kind, name);
    struct rate_stripe *st = rate_stripe_of(rl, h);
    struct rate_subj *s;

    *requests = *tokens = 0;
    pthread_mutex_lock(&st->mu);
    if ((s = rate_find(st, h, kind, name)) != NULL)
        rate_sum(s, rate_sec(now_us), requests, tokens);
    pthread_mutex_unlock(&st->mu);
}

size_t acct_rate_purge(struct acct_rate *rl, int64_t now_us)
{
    int64_t now_sec = rate_sec(now_us);
    size_t removed = 0;

    for (size_t i = 0; i < ACCT_RATE_STRIPES; i++) {
        struct rate_stripe *st = &rl->st[i];

        pthread_mutex_lock(&st->mu);
        for (size_t j = 0; j < st->cap; j++) {
            struct rate_subj **pp = &st->tab[j];
            while (*pp != NULL) {
                struct rate_subj *s = *pp;
                if (s->last_sec > now_sec - W) {
                    pp = &s->next;
                    continue;
                }
                *pp = s->next;
                free(s);
                st->n--;
                removed++;
            }
        }
        pthread_mutex_unlock(&st->mu);
    }
    return removed;
}

size_t acct_rate_subjects(struct acct_rate *rl)
{
    size_t n = 0;

    for (size_t i = 0; i < ACCT_RATE_STRIPES; i++) {
        pthread_mutex_lock(&rl->st[i].mu);
        n += rl->st[i].n;
        pthread_mutex_unlock(&rl->st[i].mu);
    }
    return n;
}

int acct_rate_each_local(struct acct_rate *rl, int64_t now_us, acct_rate_each_fn *fn, void *arg)
{
    int64_t now_sec = rate_sec(now_us);
    int rc = 0;

    for (size_t i = 0; i < ACCT_RATE_STRIPES && rc == 0; i++) {
        struct rate_stripe *st = &rl->st[i];

        pthread_mutex_lock(&st->mu);
        for (size_t j = 0; j < st->cap && rc == 0; j++) {
            for (struct rate_subj *s = st->tab[j]; s != NULL && rc == 0; s = s->next) {
                for (size_t k = 0; k < W && rc == 0; k++) {
                    const struct rate_bucket *b = &s->local[k];
                    if (rate_live(b->sec, now_sec) && (b->req > 0 || b->tok > 0))
                        rc = fn(s->kind, s->name, b->sec, b->req, b->tok, arg);
                }
            }
        }
        pthread_mutex_unlock(&st->mu);
    }
    return rc;
}

uint32_t acct_rate_remote_begin(struct acct_rate *rl)
{
    if (++rl->round == 0)
        rl->round = 1; /* 0 marks a bucket no round set */
    return rl->round;
}

int acct_rate_remote_put(struct acct_rate *rl, uint32_t round, char kind, const char *name,
                         int64_t second, int64_t requests, int64_t tokens, int64_t now_us)
{
    uint64_t h = rate_hash(kind, name);
    struct rate_stripe *st = rate_stripe_of(rl, h);
    struct rate_subj *s;
    size_t i = rate_idx(second);
    int rc = 0;

    if (!rate_live(second, rate_sec(now_us)))
        return 0;
    pthread_mutex_lock(&st->mu);
    if ((s = rate_get(st, h, kind, name)) == NULL) {
        rc = -1;
    } else {
        s->remote[i].sec = second;
        s->remote[i].req = requests > 0 ? requests : 0;
        s->remote[i].tok = tokens > 0 ? tokens : 0;
        s->round[i] = round;
        if (second > s->last_sec)
            s->last_sec = second;
    }
    pthread_mutex_unlock(&st->mu);
    return rc;
}

void acct_rate_remote_end(struct acct_rate *rl, uint32_t round)
{
    for (size_t i = 0; i < ACCT_RATE_STRIPES; i++) {
        struct rate_stripe *st = &rl->st[i];

        pthread_mutex_lock(&st->mu);
        for (size_t j = 0; j < st->cap; j++) {
            for (struct rate_subj *s = st->tab[j]; s != NULL; s = s->next) {
                for (size_t k = 0; k < W; k++) {
                    if (s->round[k] != round) {
                        s->remote[k].sec = 0;
                        s->remote[k].req = s->remote[k].tok = 0;
                    }
                }
            }
        }
        pthread_mutex_unlock(&st->mu);
    }
}
