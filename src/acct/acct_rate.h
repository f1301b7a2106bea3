/*
 * Rate limits (spec §8.1 plus the per-key limits of README "Rate limits"): requests and tokens
 * per subject (a user id or a key id) over a sliding window of ACCT_RATE_WINDOW seconds.
 *
 * Each subject keeps a ring of ACCT_RATE_WINDOW one-second buckets (requests, tokens), so its
 * memory is bounded whatever its traffic, and the window is exact to one second: a request made
 * during second s counts until second s + 60 begins (up to one second less than the reference's
 * per-timestamp window), and Retry-After / X-RateLimit-Reset are whole seconds computed from the
 * buckets. Subjects live in a hash table split into ACCT_RATE_STRIPES stripes, each with its own
 * mutex held for a few arithmetic operations; a known subject costs no allocation. Subjects
 * whose buckets have all expired are purged every ACCT_RATE_PURGE_EVERY admissions.
 *
 * Several replicas (one PostgreSQL): each bucket also holds the other replicas' counts for that
 * second ("remote"), replaced wholesale by the replica sync thread (acct_rate_remote_*), and the
 * limits apply to local plus remote counts. Seconds are wall-clock Unix seconds, so replicas
 * with synchronised clocks agree on them.
 */
#ifndef ACCT_RATE_H
#define ACCT_RATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACCT_RATE_WINDOW 60        /* seconds */
#define ACCT_RATE_STRIPES 64       /* independently locked parts of the subject table */
#define ACCT_RATE_PURGE_EVERY 1024 /* admissions between two purges of idle subjects */

/* Kinds of subject (the first byte of a subject's published name "u:<id>" / "k:<id>"). */
#define ACCT_RATE_USER 'u'
#define ACCT_RATE_KEY 'k'

struct acct_rate;

/* Returns owned limiter (free with acct_rate_free()) or NULL. */
struct acct_rate *acct_rate_new(void);
void acct_rate_free(struct acct_rate *rl);

/* One subject's part in an admission: its limits in, what it now holds out. */
struct acct_rate_ask {
    char kind;        /* ACCT_RATE_USER or ACCT_RATE_KEY */
    const char *name; /* the user or key id (borrowed) */
    int64_t rpm;      /* requests per window; 0: not limited */
    int64_t tpm;      /* tokens per window; 0: not limited */
    int64_t tokens;   /* tokens to reserve when tpm > 0 (the request's estimate, >= 0) */
    /* Filled when admitted: */
    int64_t count;     /* requests in the window, this one included */
    int64_t remaining; /* rpm - count, never below 0 (when rpm > 0) */
    int64_t reset;     /* Unix second when the oldest request in the window expires */
    int64_t reserved;  /* tokens reserved (give them to acct_rate_settle()) */
    int64_t second;    /* the Unix second the request was counted in */
};

enum acct_rate_verdict {
    ACCT_RATE_OK,
    ACCT_RATE_RPM,   /* asks[*which] has rpm requests in the window already */
    ACCT_RATE_TPM,   /* asks[*which] has tpm tokens in the window already */
    ACCT_RATE_NOMEM, /* a new subject could not be allocated */
};

/*
 * Admits one request against every ask at wall-clock now_us, atomically: either each ask's
 * subject counts the request (and reserves its tokens when tpm > 0) or none does. Refused when
 * a subject's requests (local plus remote) reach its rpm, or its tokens reach its tpm; *which is
 * then the refusing ask and *retry_after the whole seconds (1..ACCT_RATE_WINDOW) until enough of
 * the window has expired for it to pass. Asks with neither limit are skipped. n <= 4.
 */
enum acct_rate_verdict acct_rate_admit(struct acct_rate *rl, struct acct_rate_ask *asks, size_t n,
                                       int64_t now_us, size_t *which, int64_t *retry_after);

/*
 * Settles a request's tokens on a subject: the reservation made in second `second` is taken
 * back (when that bucket is still in the window) and `actual` tokens (>= 0) are counted in the
 * current second. No-op for an unknown subject with nothing to count.
 */
void acct_rate_settle(struct acct_rate *rl, char kind, const char *name, int64_t second,
                      int64_t reserved, int64_t actual, int64_t now_us);

/* Requests and tokens of a subject in the window at now_us (local plus remote). 0 when unknown. */
void acct_rate_peek(struct acct_rate *rl, char kind, const char *name, int64_t now_us,
                    int64_t *requests, int64_t *tokens);

/* Forgets subjects with nothing in the window at now_us. Returns how many were removed. */
size_t acct_rate_purge(struct acct_rate *rl, int64_t now_us);

/* Subjects held (for tests and diagnostics). */
size_t acct_rate_subjects(struct acct_rate *rl);

/*
 * Publication: calls fn for every local bucket in the window at now_us that holds something,
 * with the subject's kind and name, the bucket's second and its counts. fn runs under a stripe
 * lock: it must only copy (no limiter calls). Returns 0, or the first non-zero value fn returned
 * (which stops the walk).
 */
typedef int acct_rate_each_fn(char kind, const char *name, int64_t second, int64_t requests,
                              int64_t tokens, void *arg);
int acct_rate_each_local(struct acct_rate *rl, int64_t now_us, acct_rate_each_fn *fn, void *arg);

/*
 * The other replicas' counts, replaced as a whole: acct_rate_remote_begin() starts a round,
 * acct_rate_remote_put() sets the remote counts of (subject, second) (seconds outside the window
 * at now_us are ignored), acct_rate_remote_end() clears every remote count the round did not
 * set. Between begin and end the previous round's counts stay in force. Only one round at a
 * time (the sync thread). put returns 0 or -1 (out of memory for a new subject).
 */
uint32_t acct_rate_remote_begin(struct acct_rate *rl);
int acct_rate_remote_put(struct acct_rate *rl, uint32_t round, char kind, const char *name,
                         int64_t second, int64_t requests, int64_t tokens, int64_t now_us);
void acct_rate_remote_end(struct acct_rate *rl, uint32_t round);

#endif
