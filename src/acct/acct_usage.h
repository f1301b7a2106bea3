/*
 * The batching usage writer (DESIGN.md §2.7): usage rows, spend increments and budget resets are
 * queued by the request threads (cheap, never blocking on I/O) and written by one writer thread
 * in group commits: all rows queued within flush_ms become one transaction. Order is strict
 * (a budget reset is a barrier between the increments before and after it), a failing database
 * delays rows but never drops them while the queue bound allows, and acct_usage_stop() writes
 * everything queued before it returns, so a clean shutdown loses no row.
 */
#ifndef ACCT_USAGE_H
#define ACCT_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct event_base;
struct acct_usage;

/* One usage_logs row. Every string is borrowed for the duration of acct_usage_log() (copied). */
struct acct_usage_rec {
    const char *api_key_id;    /* NULL: master key; a key deleted meanwhile is written as NULL */
    const char *user_id;       /* may be NULL; a user deleted meanwhile is written as NULL */
    const char *model;         /* required (model name without provider) */
    const char *provider;      /* may be NULL */
    const char *endpoint;      /* required, e.g. "/v1/chat/completions" */
    const char *status;        /* required: "success" | "error" | "cancelled" */
    const char *error_message; /* NULL or text (cut to 8 KiB) */
    bool has_tokens;           /* false: the three token columns are NULL */
    long prompt_tokens, completion_tokens, total_tokens;
    bool has_cost; /* false (or cost not finite): cost NULL and no spend change */
    double cost;   /* USD; users.spend += cost for user_id, unless soft-deleted, in the same
                      transaction as the row */
    bool usage_estimated;
    int64_t ts_us; /* wall clock (util_now_us()) -> timestamp column; <= 0: now */
};

/*
 * Completion of one row in synchronous mode (usage_log_sync). status 0: the row is durable
 * (committed, visible to every reader); -1: it could not be written and is lost.
 */
typedef void acct_usage_done_fn(int status, void *arg);

/*
 * Called on the writer thread for every usage row with a cost once it is no longer pending:
 * committed (status 0, its cost is now in users.spend) or given up (-1). user_id is borrowed.
 */
typedef void acct_usage_written_fn(const char *user_id, double cost, int status, void *arg);

/* Counters since acct_usage_new() (for metrics). */
struct acct_usage_stats {
    uint64_t rows_written;   /* usage rows committed */
    uint64_t resets_written; /* budget resets committed */
    uint64_t batches;        /* committed transactions */
    uint64_t failures;       /* failed attempts (each retried) */
    uint64_t lost;           /* entries dropped: queue full, or given up at stop */
};

/*
 * Creates a writer over db (borrowed; it must outlive the writer and must not be shut down
 * before acct_usage_stop() returned). Rows are committed at the latest flush_ms after they were
 * queued (<= 0: 50 ms); at most max_queue entries wait at once (0: 100000). The process must
 * have called evthread_use_pthreads() before. Returns owned writer (free with acct_usage_free()),
 * or NULL. Entries may be queued before acct_usage_start(); they wait for it (or for stop).
 */
struct acct_usage *acct_usage_new(struct db *db, int flush_ms, size_t max_queue);

/* Sets the hook of written rows (before acct_usage_start(); fn may be NULL). */
void acct_usage_on_written(struct acct_usage *u, acct_usage_written_fn *fn, void *arg);

/* Starts the writer thread (it runs its own event_base). Returns 0, or -1 (also if started). */
int acct_usage_start(struct acct_usage *u) __attribute__((warn_unused_result));

/*
 * Queues one usage row (its id, a fresh UUID4, is made by the writer). Callable from any thread;
 * copies rec into one allocation and never waits for I/O. done (may be NULL) is later posted to
 * base (required when done is set) with event_base_once() once the row's transaction committed
 * (0) or was finally given up (-1); such a row is written at once instead of after flush_ms.
 * Returns 0, or -1 when rec is invalid (model, endpoint or status NULL), the writer is stopping
 * or stopped, or max_queue entries are waiting (logged at ERROR as "usage row lost: queue full"
 * with user and model). On -1 done is never called.
 */
int acct_usage_log(struct acct_usage *u, const struct acct_usage_rec *rec, struct event_base *base,
                   acct_usage_done_fn *done, void *arg);

/*
 * Queues a budget reset of user_id (required): spend = 0, budget_started_at = reset_at
 * (reset_at_us <= 0: now), next_budget_reset_at = next_reset_us (0: NULL), updated_at =
 * reset_at, and a budget_reset_logs row (budget_id (required), previous_spend) when the user is
 * active and the budget exists, in one transaction; nothing for an unknown or soft-deleted user. It
 * is a barrier: rows queued before it are committed before it, later rows after it. Same threading
 * and -1 cases as acct_usage_log().
 */
int acct_usage_reset(struct acct_usage *u, const char *user_id, const char *budget_id,
                     double previous_spend, int64_t reset_at_us, int64_t next_reset_us);

/*
 * Stops accepting entries (acct_usage_log()/acct_usage_reset() return -1 from now on), writes
 * everything queued without waiting for flush_ms, retrying failures for about 5 s, then gives
 * up: the lost rows are counted in an ERROR line and their done callbacks get -1. Joins the
 * thread (or, when never started, writes on the calling thread). Blocks; call it from one
 * thread (a later call returns at once). Done callbacks are posted, never run inside it, so it
 * may be called from a loop that receives them; they run when that loop dispatches again. The
 * database must still accept queries (stop the writer before db_shutdown()/db_close()); when
 * it refuses them, everything queued is given up at once.
 */
void acct_usage_stop(struct acct_usage *u);

/* Stops (see acct_usage_stop()) if needed, then frees. NULL-safe. */
void acct_usage_free(struct acct_usage *u);

/* Entries (rows and resets) queued or being written, not yet committed or given up. */
size_t acct_usage_pending(struct acct_usage *u);

/* Copies the counters into *out. */
void acct_usage_stats(struct acct_usage *u, struct acct_usage_stats *out);

#endif
