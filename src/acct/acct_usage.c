/*
 * Batching usage writer: a mutex-protected FIFO filled by any thread, drained by one writer
 * thread that turns runs of consecutive rows into one DB_Q_USAGE_INSERT_BATCH (one transaction)
 * and each reset into one DB_Q_BUDGET_RESET, one batch in flight at a time so the queue order is
 * the commit order. The writer waits for each result on its own event_base.
 */
#include "acct/acct_usage.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "db/db.h"
#include "log.h"
#include "util.h"

#define GU_FLUSH_MS_DEFAULT 50
#define GU_MAX_QUEUE_DEFAULT 100000
#define GU_EAGER 256             /* this many queued entries are written without waiting */
#define GU_BATCH_MAX 500         /* rows per transaction */
#define GU_BACKOFF_MIN_US 100000 /* first retry after a failed batch */
#define GU_BACKOFF_MAX_US 2000000
#define GU_STOP_RETRY_US 5000000 /* how long acct_usage_stop() keeps retrying */
#define GU_ERR_MAX 8192          /* error_message bytes kept */

enum gu_kind { GU_ROW, GU_RESET };

/* One queued entry; its strings live in buf[] (one allocation). */
struct gu_ent {
    struct gu_ent *next;
    enum gu_kind kind;
    int64_t enq_us; /* monotonic time it was queued */
    int status;     /* final result, handed to done */
    struct event_base *base;
    acct_usage_done_fn *done;
    void *arg;

    /* GU_ROW */
    const char *api_key_id, *user_id, *model, *provider, *endpoint, *status_text, *error_message;
    bool has_tokens, has_cost, usage_estimated;
    long prompt_tokens, completion_tokens, total_tokens;
    double cost;
    int64_t ts_us;

    /* GU_RESET (user_id above too) */
    const char *budget_id;
    double previous_spend;
    int64_t reset_at_us, next_reset_us;

    char buf[];
};

/* A batch's rows with the ids and timestamps they point to (one allocation). */
struct gu_rows {
    struct db_usage_row *row; /* n, into mem[] */
    char (*id)[UTIL_UUID_LEN];
    char (*ts)[UTIL_TS_LEN];
    max_align_t mem[];
};

/* Entries taken from the queue together: one transaction. */
struct gu_batch {
    struct gu_ent *head, *tail;
    size_t n;
    enum gu_kind kind;
    struct gu_rows *rows; /* GU_ROW: the rows as db_usage_insert() takes them (built once, so
                             retries write the same ids) */
};

struct acct_usage {
    struct db *db;           /* borrowed */
    struct event_base *base; /* the writer's own loop (DB results arrive here) */
    int64_t flush_us;
    size_t max_queue;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; work to do, or stopping */
    pthread_t thread;
    bool started;
    bool stopping; /* under mu: no new entries; drain and exit */
    int64_t stop_deadline_us;
    struct gu_ent *head, *tail; /* under mu */
    size_t queued;              /* entries in the list */
    size_t pending;             /* queued + being written */
    size_t urgent;              /* queued entries with a done callback */
    struct acct_usage_stats stats;
    uint64_t full_unreported; /* queue-full losses since the last ERROR line */
    int64_t full_logged_us;
    acct_usage_written_fn *written; /* may be NULL */
    void *written_arg;
};

/* Result of one db_exec() as seen by the waiting writer. */
struct gu_wait {
    bool done;
    int status;
    char error[256];
};

static void gu_cv_deadline(struct timespec *ts, int64_t mono_us)
{
    ts->tv_sec = (time_t)(mono_us / 1000000);
    ts->tv_nsec = (long)(mono_us % 1000000) * 1000;
}

struct acct_usage *acct_usage_new(struct db *db, int flush_ms, size_t max_queue)
{
    struct acct_usage *u = NULL;
    pthread_condattr_t ca;
    bool mu_ok = false;

    if (db == NULL)
        return NULL;
    u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->db = db;
    u->flush_us = (int64_t)(flush_ms > 0 ? flush_ms : GU_FLUSH_MS_DEFAULT) * 1000;
    u->max_queue = max_queue > 0 ? max_queue : GU_MAX_QUEUE_DEFAULT;
    if (pthread_mutex_init(&u->mu, NULL) != 0)
        goto fail;
    mu_ok = true;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&u->cv, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail;
    }
    pthread_condattr_destroy(&ca);
    u->base = event_base_new();
    if (u->base == NULL) {
        pthread_cond_destroy(&u->cv);
        goto fail;
    }
    return u;
fail:
    LOG_ERR("usage writer: cannot initialise");
    if (mu_ok)
        pthread_mutex_destroy(&u->mu);
    free(u);
    return NULL;
}

/*
 * Copies s (may be NULL) to *pos, returning the copy or NULL; advances *pos. Bytes that are not
 * valid UTF-8 become '?' (PostgreSQL refuses them, and the usage API answers in JSON): one odd
 * upstream error text can never make a batch fail forever.
 */
static const char *gu_put(char **pos, const char *s, size_t n)
{
    char *d = *pos;

    if (s == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    util_utf8_scrub(d);
    *pos = d + n + 1;
    return d;
}

/* Length of s cut to at most max bytes without splitting a UTF-8 sequence. */
static size_t gu_cut(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/*
 * Under mu: counts a queue-full loss. Returns how many losses to report now (0: reported less
 * than a second ago), so an overloaded gateway writes at most one ERROR line per second.
 */
static uint64_t gu_count_full(struct acct_usage *u)
{
    int64_t now = util_mono_us();
    uint64_t n;

    u->stats.lost++;
    u->full_unreported++;
    if (u->full_logged_us != 0 && now - u->full_logged_us < 1000000)
        return 0;
    n = u->full_unreported;
    u->full_unreported = 0;
    u->full_logged_us = now;
    return n;
}

/* Appends e (taking ownership) unless stopping or full. Returns 0 or -1 (e freed). */
static int gu_enqueue(struct acct_usage *u, struct gu_ent *e)
{
    bool wake;

    e->enq_us = util_mono_us();
    pthread_mutex_lock(&u->mu);
    if (u->stopping) {
        pthread_mutex_unlock(&u->mu);
        LOG_ERR("usage writer: %s after stop ignored",
                e->kind == GU_ROW ? "usage row" : "budget reset");
        free(e);
        return -1;
    }
    if (u->pending >= u->max_queue) {
        uint64_t lost = gu_count_full(u);
        char ru[128], rm[128];

        pthread_mutex_unlock(&u->mu);
        if (lost > 0)
            LOG_ERR("%s lost: queue full (%zu entries waiting) user=%s model=%s (%llu lost since "
                    "the last report)",
                    e->kind == GU_ROW ? "usage row" : "budget reset", u->max_queue,
                    log_redact(ru, sizeof(ru), e->user_id != NULL ? e->user_id : "-"),
                    log_redact(rm, sizeof(rm), e->model != NULL ? e->model : "-"),
                    (unsigned long long)lost);
        free(e);
        return -1;
    }
    e->next = NULL;
    if (u->tail != NULL)
        u->tail->next = e;
    else
        u->head = e;
    u->tail = e;
    u->queued++;
    u->pending++;
    if (e->done != NULL)
        u->urgent++;
    /* The writer needs a signal to start its flush timer, to write now, or to go eager. */
    wake = u->queued == 1 || e->done != NULL || u->queued == GU_EAGER;
    if (wake)
        pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
    return 0;
}

int acct_usage_log(struct acct_usage *u, const struct acct_usage_rec *rec, struct event_base *base,
                   acct_usage_done_fn *done, void *arg)
{
    const char *strs[7];
    size_t lens[7], total = 0;
    struct gu_ent *e;
    char *pos;

    if (u == NULL || rec == NULL || rec->model == NULL || rec->endpoint == NULL ||
        rec->status == NULL || (done != NULL && base == NULL)) {
        LOG_ERR("usage writer: bad usage record");
        return -1;
    }
    strs[0] = rec->api_key_id;
    strs[1] = rec->user_id;
    strs[2] = rec->model;
    strs[3] = rec->provider;
    strs[4] = rec->endpoint;
    strs[5] = rec->status;
    strs[6] = rec->error_message;
    for (size_t i = 0; i < 7; i++) {
        lens[i] = strs[i] == NULL ? 0 : i == 6 ? gu_cut(strs[i], GU_ERR_MAX) : strlen(strs[i]);
        total += strs[i] == NULL ? 0 : lens[i] + 1;
    }
    e = malloc(sizeof(*e) + total);
    if (e == NULL) {
        LOG_ERR("usage writer: out of memory; usage row lost");
        return -1;
    }
    memset(e, 0, sizeof(*e));
    pos = e->buf;
    e->kind = GU_ROW;
    e->base = base;
    e->done = done;
    e->arg = arg;
    e->api_key_id = gu_put(&pos, strs[0], lens[0]);
    e->user_id = gu_put(&pos, strs[1], lens[1]);
    e->model = gu_put(&pos, strs[2], lens[2]);
    e->provider = gu_put(&pos, strs[3], lens[3]);
    e->endpoint = gu_put(&pos, strs[4], lens[4]);
    e->status_text = gu_put(&pos, strs[5], lens[5]);
    e->error_message = gu_put(&pos, strs[6], lens[6]);
    e->has_tokens = rec->has_tokens;
    e->prompt_tokens = rec->prompt_tokens;
    e->completion_tokens = rec->completion_tokens;
    e->total_tokens = rec->total_tokens;
    e->has_cost = rec->has_cost && isfinite(rec->cost);
    e->cost = rec->cost;
    e->usage_estimated = rec->usage_estimated;
    e->ts_us = rec->ts_us > 0 ? rec->ts_us : util_now_us();
    return gu_enqueue(u, e);
}

int acct_usage_reset(struct acct_usage *u, const char *user_id, const char *budget_id,
                     double previous_spend, int64_t reset_at_us, int64_t next_reset_us)
{
    size_t ul, bl;
    struct gu_ent *e;
    char *pos;

    if (u == NULL || user_id == NULL || budget_id == NULL) {
        LOG_ERR("usage writer: bad budget reset");
        return -1;
    }
    ul = strlen(user_id);
    bl = strlen(budget_id);
    e = malloc(sizeof(*e) + ul + bl + 2);
    if (e == NULL) {
        LOG_ERR("usage writer: out of memory; budget reset lost");
        return -1;
    }
    memset(e, 0, sizeof(*e));
    pos = e->buf;
    e->kind = GU_RESET;
    e->user_id = gu_put(&pos, user_id, ul);
    e->budget_id = gu_put(&pos, budget_id, bl);
    e->previous_spend = isfinite(previous_spend) ? previous_spend : 0.0;
    e->reset_at_us = reset_at_us > 0 ? reset_at_us : util_now_us();
    e->next_reset_us = next_reset_us;
    return gu_enqueue(u, e);
}

/* ---- writer side ---- */

/* The batch's rows for db_usage_insert(). Returns owned rows or NULL (out of memory). */
static struct gu_rows *gu_rows_new(const struct gu_batch *b)
{
    unsigned char rnd[GU_BATCH_MAX][8]; /* one getrandom() per batch, not per row */
    size_t rows_sz = b->n * sizeof(struct db_usage_row), id_sz = b->n * UTIL_UUID_LEN;
    struct gu_rows *r;
    size_t i = 0;

    if (b->n > GU_BATCH_MAX || util_random(rnd, b->n * sizeof(rnd[0])) < 0)
        return NULL;
    r = malloc(sizeof(*r) + rows_sz + id_sz + b->n * UTIL_TS_LEN);
    if (r == NULL)
        return NULL;
    r->row = (struct db_usage_row *)(void *)r->mem;
    r->id = (char(*)[UTIL_UUID_LEN])((char *)r->mem + rows_sz);
    r->ts = (char(*)[UTIL_TS_LEN])((char *)r->mem + rows_sz + id_sz);
    /* Time-ordered ids: the usage_logs primary-key index grows at its end instead of taking
     * one random leaf page per row (one WAL frame each on SQLite, one buffer on PostgreSQL). */
    for (const struct gu_ent *e = b->head; e != NULL; e = e->next, i++) {
        if (util_uuid7(r->id[i], e->ts_us, rnd[i]) < 0) {
            free(r);
            return NULL;
        }
        util_ts_format(r->ts[i], UTIL_TS_LEN, e->ts_us);
        r->row[i] = (struct db_usage_row){
            .id = r->id[i],
            .api_key_id = e->api_key_id,
            .user_id = e->user_id,
            .ts = r->ts[i],
            .model = e->model,
            .provider = e->provider,
            .endpoint = e->endpoint,
            .status = e->status_text,
            .error_message = e->error_message,
            .has_tokens = e->has_tokens,
            .has_cost = e->has_cost,
            .estimated = e->usage_estimated,
            .prompt_tokens = e->prompt_tokens,
            .completion_tokens = e->completion_tokens,
            .total_tokens = e->total_tokens,
            .cost = e->cost,
        };
    }
    return r;
}

static void gu_db_done(const struct db_result *res, void *arg)
{
    struct gu_wait *w = arg;

    w->done = true;
    w->status = res->status;
    snprintf(w->error, sizeof(w->error), "%s", res->error != NULL ? res->error : "");
}

/*
 * Writer: one attempt at committing b. Returns 0, -1 on a database error (err set) or -2 when
 * the database refused the query (closing: retrying cannot help).
 */
static int gu_attempt(struct acct_usage *u, struct gu_batch *b, char *err, size_t errlen)
{
    struct db_params p = {0};
    struct gu_wait w = {0};
    char reset_at[UTIL_TS_LEN], next_at[UTIL_TS_LEN];
    int rc;

    if (b->kind == GU_ROW) {
        if (b->rows == NULL)
            b->rows = gu_rows_new(b);
        if (b->rows == NULL) {
            snprintf(err, errlen, "out of memory building the batch");
            return -1;
        }
        rc = db_usage_insert(u->db, u->base, b->rows->row, b->n, gu_db_done, &w);
    } else {
        const struct gu_ent *e = b->head;

        util_ts_format(reset_at, sizeof(reset_at), e->reset_at_us);
        if (e->next_reset_us != 0)
            util_ts_format(next_at, sizeof(next_at), e->next_reset_us);
        p.n = 5;
        p.v[0] = db_text(e->user_id);
        p.v[1] = db_text(e->budget_id);
        p.v[2] = (struct db_value){.type = DB_T_REAL, .u.d = e->previous_spend};
        p.v[3] = db_text(reset_at);
        p.v[4] = db_text(e->next_reset_us != 0 ? next_at : NULL);
        rc = db_exec(u->db, u->base, DB_Q_BUDGET_RESET, &p, gu_db_done, &w);
    }
    if (rc < 0) {
        snprintf(err, errlen, "database closed");
        return -2;
    }
    while (!w.done)
        event_base_loop(u->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
    if (w.status == 0)
        return 0;
    snprintf(err, errlen, "%s", w.error[0] != '\0' ? w.error : "unknown error");
    return -1;
}

static void gu_done_trampoline(evutil_socket_t fd, short what, void *arg)
{
    struct gu_ent *e = arg;

    (void)fd;
    (void)what;
    e->done(e->status, e->arg);
    free(e);
}

void acct_usage_on_written(struct acct_usage *u, acct_usage_written_fn *fn, void *arg)
{
    u->written = fn;
    u->written_arg = arg;
}

/* Writer: ends every entry of b with status (posting done callbacks) and forgets them. */
static void gu_finish(struct acct_usage *u, struct gu_batch *b, int status)
{
    static const struct timeval zero_tv = {0, 0};
    struct gu_ent *e = b->head, *next;

    pthread_mutex_lock(&u->mu);
    u->pending -= b->n;
    if (status == 0) {
        u->stats.batches++;
        if (b->kind == GU_ROW)
            u->stats.rows_written += b->n;
        else
            u->stats.resets_written += b->n;
    } else {
        u->stats.lost += b->n;
    }
    pthread_mutex_unlock(&u->mu);
    for (; e != NULL; e = next) {
        next = e->next;
        e->status = status;
        if (u->written != NULL && e->kind == GU_ROW && e->has_cost && e->user_id != NULL &&
            isfinite(e->cost))
            u->written(e->user_id, e->cost, status, u->written_arg);
        if (e->done == NULL) {
            free(e);
            continue;
        }
        if (event_base_once(e->base, -1, EV_TIMEOUT, gu_done_trampoline, e, &zero_tv) < 0) {
            LOG_ERR("usage writer: cannot post a usage completion; callback dropped");
            free(e);
        }
    }
    free(b->rows);
    *b = (struct gu_batch){0};
}

/* Under mu: moves the next batch (one reset, or up to GU_BATCH_MAX consecutive rows) to b. */
static void gu_take(struct acct_usage *u, struct gu_batch *b)
{
    struct gu_ent *e;

    *b = (struct gu_batch){.kind = u->head->kind};
    while ((e = u->head) != NULL && e->kind == b->kind &&
           b->n < (b->kind == GU_RESET ? 1 : GU_BATCH_MAX)) {
        u->head = e->next;
        e->next = NULL;
        if (b->tail != NULL)
            b->tail->next = e;
        else
            b->head = e;
        b->tail = e;
        b->n++;
        u->queued--;
        if (e->done != NULL)
            u->urgent--;
    }
    if (u->head == NULL)
        u->tail = NULL;
}

/*
 * Under mu: waits until a batch should be written (the head is flush_us old, a done callback
 * waits, GU_EAGER entries are queued, or stopping). Returns false when stopping with nothing
 * left.
 */
static bool gu_wait_ready(struct acct_usage *u)
{
    struct timespec ts;

    for (;;) {
        if (u->head == NULL) {
            if (u->stopping)
                return false;
            pthread_cond_wait(&u->cv, &u->mu);
            continue;
        }
        if (u->stopping || u->urgent > 0 || u->queued >= GU_EAGER ||
            util_mono_us() >= u->head->enq_us + u->flush_us)
            return true;
        gu_cv_deadline(&ts, u->head->enq_us + u->flush_us);
        pthread_cond_timedwait(&u->cv, &u->mu, &ts);
    }
}

/*
 * Writer: commits b, retrying with backoff while the database fails. Returns true when b is
 * done, false when stop's deadline passed (or the database closed during stop): b and every
 * later entry are then given up.
 */
static bool gu_write(struct acct_usage *u, struct gu_batch *b)
{
    int64_t backoff = GU_BACKOFF_MIN_US, wake;
    char err[256];
    struct timespec ts;
    bool give_up;
    int rc;

    for (;;) {
        rc = gu_attempt(u, b, err, sizeof(err));
        if (rc == 0) {
            gu_finish(u, b, 0);
            return true;
        }
        pthread_mutex_lock(&u->mu);
        u->stats.failures++;
        give_up = u->stopping && (rc == -2 || util_mono_us() >= u->stop_deadline_us);
        pthread_mutex_unlock(&u->mu);
        if (give_up) {
            LOG_ERR("usage writer: giving up at shutdown: %s", err);
            return false;
        }
        /* Logged outside mu: producers never wait for stderr. */
        LOG_WARN("usage writer: writing %zu %s failed (%s); retrying in %lld ms", b->n,
                 b->kind == GU_ROW ? "usage rows" : "budget reset", err,
                 (long long)(backoff / 1000));
        pthread_mutex_lock(&u->mu);
        wake = util_mono_us() + backoff;
        if (u->stopping && wake > u->stop_deadline_us)
            wake = u->stop_deadline_us;
        gu_cv_deadline(&ts, wake);
        /* Stop's signal ends the wait early; other signals (new rows) are ignored. */
        while (util_mono_us() < wake) {
            bool was_stopping = u->stopping;

            if (pthread_cond_timedwait(&u->cv, &u->mu, &ts) == ETIMEDOUT ||
                (!was_stopping && u->stopping))
                break;
        }
        pthread_mutex_unlock(&u->mu);
        backoff = backoff * 2 > GU_BACKOFF_MAX_US ? GU_BACKOFF_MAX_US : backoff * 2;
    }
}

/* Writer: gives up b and everything still queued (stop only). */
static void gu_give_up(struct acct_usage *u, struct gu_batch *b)
{
    size_t lost = b->n;
    struct gu_batch rest;

    gu_finish(u, b, -1);
    pthread_mutex_lock(&u->mu);
    while (u->head != NULL) {
        gu_take(u, &rest);
        pthread_mutex_unlock(&u->mu);
        lost += rest.n;
        gu_finish(u, &rest, -1);
        pthread_mutex_lock(&u->mu);
    }
    pthread_mutex_unlock(&u->mu);
    LOG_ERR("usage writer: %zu queued entries (usage rows or budget resets) lost at shutdown",
            lost);
}

static void *gu_thread(void *arg)
{
    struct acct_usage *u = arg;
    struct gu_batch b;

    pthread_mutex_lock(&u->mu);
    while (gu_wait_ready(u)) {
        gu_take(u, &b);
        pthread_mutex_unlock(&u->mu);
        if (!gu_write(u, &b)) {
            gu_give_up(u, &b);
            return NULL; /* stopping, and the queue is now empty */
        }
        pthread_mutex_lock(&u->mu);
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

int acct_usage_start(struct acct_usage *u)
{
    if (u == NULL)
        return -1;
    pthread_mutex_lock(&u->mu);
    if (u->started || u->stopping) {
        pthread_mutex_unlock(&u->mu);
        return -1;
    }
    if (pthread_create(&u->thread, NULL, gu_thread, u) != 0) {
        pthread_mutex_unlock(&u->mu);
        LOG_ERR("usage writer: cannot start its thread");
        return -1;
    }
    u->started = true;
    pthread_mutex_unlock(&u->mu);
    return 0;
}

void acct_usage_stop(struct acct_usage *u)
{
    bool started;

    if (u == NULL)
        return;
    pthread_mutex_lock(&u->mu);
    if (u->stopping) { /* already stopped (stop is not called concurrently) */
        pthread_mutex_unlock(&u->mu);
        return;
    }
    u->stopping = true;
    u->stop_deadline_us = util_mono_us() + GU_STOP_RETRY_US;
    started = u->started;
    pthread_cond_broadcast(&u->cv);
    pthread_mutex_unlock(&u->mu);
    if (started)
        pthread_join(u->thread, NULL);
    else
        gu_thread(u); /* never started: drain on this thread */
}

void acct_usage_free(struct acct_usage *u)
{
    if (u == NULL)
        return;
    acct_usage_stop(u);
    event_base_free(u->base);
    u->base = NULL;
    pthread_cond_destroy(&u->cv);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

size_t acct_usage_pending(struct acct_usage *u)
{
    size_t n;

    pthread_mutex_lock(&u->mu);
    n = u->pending;
    pthread_mutex_unlock(&u->mu);
    return n;
}

void acct_usage_stats(struct acct_usage *u, struct acct_usage_stats *out)
{
    pthread_mutex_lock(&u->mu);
    *out = u->stats;
    pthread_mutex_unlock(&u->mu);
}
