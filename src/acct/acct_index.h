/*
 * The in-memory index of virtual keys, users, budgets and model prices (DESIGN.md §2.7):
 * authentication, budget and price lookups cost no database round trip. Loaded at start-up, updated
 * write-through by the admin endpoints after each commit, shared by every worker thread
 * (read-mostly, one rwlock). last_used_at is recorded here and written to the database in batches
 * (acct_index_flush_touched), never on a request's path.
 */
#ifndef ACCT_INDEX_H
#define ACCT_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "sha256.h"
#include "util.h"

struct db;
struct db_result;
struct event_base;
struct acct_index;
struct acct_rate;

enum gw_key_state {
    GW_KEY_OK,
    GW_KEY_UNKNOWN,
    GW_KEY_INACTIVE,
    GW_KEY_EXPIRED,
    GW_KEY_NOMEM, /* valid, but its user id could not be copied out (out of memory) */
};

/* What a request learns about its key (copied out under the lock). */
struct gw_key_ref {
    char id[UTIL_UUID_LEN];
    char *user_id;     /* owned (gw_key_ref_clear()); NULL when the key has no user */
    int64_t rpm_limit; /* the key's requests per minute; 0: none */
    int64_t tpm_limit; /* the key's tokens per minute; 0: none */
};

/* A key's rate limits (api_keys.rpm_limit / tpm_limit); 0 or less: none. */
struct acct_key_limits {
    int64_t rpm;
    int64_t tpm;
};

/* Reads the limits from columns col (rpm_limit) and col + 1 (tpm_limit) of a result row. */
void acct_key_limits_from_row(const struct db_result *res, size_t row, size_t col,
                              struct acct_key_limits *lim);

/* The rate limiter the index owns (acct_rate.h): shared by every worker, with its own locks. */
struct acct_rate *acct_index_rate(struct acct_index *ix);

/* Frees ref->user_id and sets it to NULL. NULL-safe; safe on a zeroed ref. */
void gw_key_ref_clear(struct gw_key_ref *ref);

/* Returns owned index (free with acct_index_free()) or NULL. */
struct acct_index *acct_index_new(void);
void acct_index_free(struct acct_index *ix);

/* Start-up: loads every key from the database (synchronously). Returns 0 or -1. */
int acct_index_load(struct acct_index *ix, struct db *db) __attribute__((warn_unused_result));

/*
 * Inserts or replaces the key with this id. expires_at: ISO-8601 text or NULL. user_id may be
 * NULL. Returns 0 or -1 (out of memory).
 */
int acct_index_key_set(struct acct_index *ix, const char *id, const char *hash, const char *user_id,
                       bool active, const char *expires_at);

/* acct_index_key_set() with the key's rate limits (lim NULL: none). */
int acct_index_key_set_ex(struct acct_index *ix, const char *id, const char *hash,
                          const char *user_id, bool active, const char *expires_at,
                          const struct acct_key_limits *lim);

/* Forgets the key with this id (no-op when unknown). */
void acct_index_key_remove(struct acct_index *ix, const char *id);

/*
 * Looks up a key by the hex SHA-256 of its text at time now_us. On GW_KEY_OK fills *out (the
 * whole user id, whatever its length: release it with gw_key_ref_clear()) and records now_us as
 * the key's last use. *out is left zeroed on any other state.
 */
enum gw_key_state acct_index_key_check(struct acct_index *ix, const char *hash, int64_t now_us,
                                       struct gw_key_ref *out);

/* What the hot path needs of a user (copied out under the lock). */
struct gw_user_state {
    bool blocked;
    bool deleted;
    bool has_budget;
    char budget_id[128];   /* budget ids are UUID4s made by POST /v1/budgets (spec §1) */
    double spend;          /* USD in the current budget period */
    double reserved;       /* USD held by admitted requests in flight (acct_budget.h) */
    int64_t started_us;    /* budget_started_at, 0 when none */
    int64_t next_reset_us; /* next_budget_reset_at, 0 when none */
    /* Replica sync (acct_index_refresh): costs settled here but not yet in users.spend. */
    double unflushed;
    double settled_total;              /* every cost settled here, ever */
    double snap_pending, snap_settled; /* unflushed and settled_total before a refresh query */
    int64_t synced_us;                 /* monotonic time of the last local write */
};

/* What the hot path needs of a budget. */
struct acct_budget_state {
    bool has_max;
    double max_budget;    /* USD, when has_max */
    int64_t duration_sec; /* 0: never resets */
    int64_t synced_us;    /* monotonic time of the last local write */
};

/*
 * Inserts or replaces the user (or budget) described by row `row` of res, a result in the
 * DB_COLS_USER (or DB_COLS_BUDGET) column order: the state just committed by a write. Returns 0
 * or -1 (out of memory, or a row without an id).
 */
int acct_index_user_from_row(struct acct_index *ix, const struct db_result *res, size_t row);
int acct_index_budget_from_row(struct acct_index *ix, const struct db_result *res, size_t row);

/*
 * Adds user_id as a fresh user (no budget, not blocked, spend 0) unless it is known: the state
 * DB_Q_KEY_CREATE gives a user it creates. Returns 0 or -1 (out of memory).
 */
int acct_index_user_ensure(struct acct_index *ix, const char *user_id);

/* Marks user_id soft-deleted and deactivates its keys (one write-locked step). */
void acct_index_user_delete(struct acct_index *ix, const char *user_id);

/* Forgets budget id and unassigns it from every user, as the database does on delete. */
void acct_index_budget_remove(struct acct_index *ix, const char *id);

/* Copy of a user's (budget's) state. Returns 0, or -1 when unknown. */
int acct_index_user_get(struct acct_index *ix, const char *user_id, struct gw_user_state *out);
int acct_index_budget_get(struct acct_index *ix, const char *id, struct acct_budget_state *out);

enum acct_budget_verdict {
    ACCT_BUDGET_OK,
    ACCT_BUDGET_NO_USER,     /* unknown or soft-deleted: 404 */
    ACCT_BUDGET_BLOCKED,     /* 403 "is blocked" */
    ACCT_BUDGET_EXCEEDED,    /* 403 "has exceeded budget limit" */
    ACCT_BUDGET_UNAVAILABLE, /* 503: a budget limit applies and the database cannot be reached */
};

/* A lazy reset performed by an admission (to be written to the database in order). */
struct acct_budget_reset {
    bool happened;
    char budget_id[128];
    double previous_spend;
    int64_t reset_at_us;
    int64_t next_reset_us; /* 0: none (budget without a duration) */
};

/*
 * Budget admission of one request of user_id (acct_budget_admit() under the write lock, on the
 * user's budget if it still exists). Unknown users give ACCT_BUDGET_NO_USER. When store_up is
 * false (the database cannot be reached) a request that needs a budget decision fails closed
 * with ACCT_BUDGET_UNAVAILABLE (acct_budget_needs_store()); others are decided as usual.
 */
enum acct_budget_verdict acct_index_admit(struct acct_index *ix, const char *user_id,
                                          int64_t now_us, double reserve, bool free_model,
                                          bool store_up, struct acct_budget_reset *reset);

/* acct_budget_settle() on user_id (no-op when unknown). */
void acct_index_settle(struct acct_index *ix, const char *user_id, double reserve, double cost);

/* Start-up: loads every user and budget from the database (synchronously). Returns 0 or -1. */
int acct_index_load_accounts(struct acct_index *ix, struct db *db)
    __attribute__((warn_unused_result));

/* One model price (USD per million tokens); its model_key is the key it is stored under. */
struct gw_price {
    double input_per_million;
    double output_per_million;
    int64_t created_us; /* creation time of the pricing row */
    int64_t synced_us;  /* monotonic time of the last local write */
};

/*
 * Inserts or replaces the price of model_key (created_at: the row's ISO-8601 text). Returns 0
 * or -1 (out of memory).
 */
int acct_index_price_set(struct acct_index *ix, const char *model_key, double in, double out,
                         const char *created_at);

/* Forgets the price of model_key (no-op when unknown). */
void acct_index_price_remove(struct acct_index *ix, const char *model_key);

/* Copies the price of model_key into *out. Returns 0, or -1 when there is none. */
int acct_index_price_get(struct acct_index *ix, const char *model_key, struct gw_price *out);

/*
 * The price of a request's model (spec §5.2): that of "provider:model", else of the legacy
 * "provider/model", whatever their length. Returns 1 with *out filled, 0 when there is none, -1
 * when out of memory.
 */
int acct_index_price_find(struct acct_index *ix, const char *provider, const char *model,
                          struct gw_price *out);

/* One entry of acct_index_price_list(). */
struct gw_price_item {
    const char *model_key; /* the whole key, stored in the list's own allocation */
    struct gw_price price;
};

/*
 * Copies every price, sorted by model_key, into one allocation (owned, a single free()); *n gets
 * its length. Returns NULL only when out of memory (an empty index gives a non-NULL array with
 * *n = 0).
 */
struct gw_price_item *acct_index_price_list(struct acct_index *ix, size_t *n);

/* Start-up: loads every price from the database (synchronously). Returns 0 or -1. */
int acct_index_load_prices(struct acct_index *ix, struct db *db)
    __attribute__((warn_unused_result));

/*
 * Replica coherence (DESIGN.md §2.7, several gateways on one PostgreSQL): reads every key,
 * price, budget and user from the database (synchronously: call it from a thread of its own,
 * never an event loop) and brings memory up to date. Entries written here since the read began
 * are kept as they are; entries gone from the database (and not written here since) are
 * forgotten. A user's spend becomes the database's plus what was settled here and is not yet
 * written (acct_index_spend_written), unless a budget reset made here is not yet written either.
 * Reservations stay local. Returns 0, or -1 when a query failed (memory unchanged for it).
 */
int acct_index_refresh(struct acct_index *ix, struct db *db, struct event_base *base)
    __attribute__((warn_unused_result));

/* The usage writer's hook (acct_usage_written_fn): cost of user_id is no longer pending here. */
void acct_index_spend_written(const char *user_id, double cost, int status, void *ix);

/*
 * Queues an UPDATE of last_used_at for every key used since the last flush (fire and forget,
 * results on base). Returns the number of keys written.
 */
int acct_index_flush_touched(struct acct_index *ix, struct db *db, struct event_base *base);

#endif
