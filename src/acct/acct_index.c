/*
 * In-memory key index: two hash maps (by key hash for authentication, by id for admin
 * updates) over one set of entries, guarded by a rwlock. Lookups take the read lock; the
 * last-use time is a relaxed atomic so readers can record it without the write lock.
 */
#include "acct/acct_index.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct/acct_budget.h"
#include "acct/acct_rate.h"
#include "db/db.h"
#include "gateway/admin/gw_rows.h"
#include "gateway/http/gw_valid.h"
#include "hmap.h"
#include "log.h"

struct gw_ikey {
    char id[UTIL_UUID_LEN];
    char hash[SHA256_HEX_LEN];
    char *user_id;
    bool active;
    int64_t expires_us;   /* INT64_MAX: never */
    int64_t last_used_us; /* atomic; 0 = not used since the last flush */
    int64_t synced_us;    /* monotonic time of the last write (local, or a refresh) */
    int64_t rpm_limit;    /* requests per minute; 0: none */
    int64_t tpm_limit;    /* tokens per minute; 0: none */
};

struct acct_index {
    pthread_rwlock_t lock;
    struct hmap *by_hash;
    struct hmap *by_id;
    struct hmap *prices;    /* model_key -> struct gw_price */
    struct hmap *users;     /* user_id -> struct gw_user_state */
    struct hmap *budgets;   /* budget_id -> struct acct_budget_state */
    int64_t removed_us;     /* under the lock: monotonic time of the last local removal */
    struct acct_rate *rate; /* rate limits (its own locks) */
};

static void gw_ikey_free(struct gw_ikey *k)
{
    if (k == NULL)
        return;
    free(k->user_id);
    free(k);
}

struct acct_index *acct_index_new(void)
{
    struct acct_index *ix = calloc(1, sizeof(*ix));

    if (ix == NULL)
        return NULL;
    pthread_rwlock_init(&ix->lock, NULL);
    ix->by_hash = hmap_new();
    ix->by_id = hmap_new();
    ix->prices = hmap_new();
    ix->users = hmap_new();
    ix->budgets = hmap_new();
    ix->rate = acct_rate_new();
    if (ix->by_hash == NULL || ix->by_id == NULL || ix->prices == NULL || ix->users == NULL ||
        ix->budgets == NULL || ix->rate == NULL) {
        acct_index_free(ix);
        return NULL;
    }
    return ix;
}

static void gw_ikey_free_cb(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    gw_ikey_free(value);
}

/* Frees a plain malloc'd value (prices, users, budgets). */
static void gw_value_free_cb(const char *key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    free(value);
}

void acct_index_free(struct acct_index *ix)
{
    if (ix == NULL)
        return;
    if (ix->by_id != NULL)
        hmap_each(ix->by_id, gw_ikey_free_cb, NULL);
    hmap_free(ix->by_id);
    if (ix->prices != NULL)
        hmap_each(ix->prices, gw_value_free_cb, NULL);
    hmap_free(ix->prices);
    if (ix->users != NULL)
        hmap_each(ix->users, gw_value_free_cb, NULL);
    hmap_free(ix->users);
    if (ix->budgets != NULL)
        hmap_each(ix->budgets, gw_value_free_cb, NULL);
    hmap_free(ix->budgets);
    hmap_free(ix->by_hash);
    acct_rate_free(ix->rate);
    pthread_rwlock_destroy(&ix->lock);
    free(ix);
}

/* Removes the entry with id from both maps and frees it. Write lock held. */
static void acct_index_drop_locked(struct acct_index *ix, const char *id)
{
    struct gw_ikey *k = hmap_del(ix->by_id, id);

    if (k == NULL)
        return;
    hmap_del(ix->by_hash, k->hash);
    gw_ikey_free(k);
}

/* A key entry from its columns (owned, free with gw_ikey_free()) or NULL. */
static struct gw_ikey *gw_ikey_new(const char *id, const char *hash, const char *user_id,
                                   bool active, const char *expires_at,
                                   const struct acct_key_limits *lim)
{
    struct gw_ikey *k = calloc(1, sizeof(*k));
    long long us;

    if (k == NULL)
        return NULL;
    snprintf(k->id, sizeof(k->id), "%s", id);
    snprintf(k->hash, sizeof(k->hash), "%s", hash);
    k->user_id = user_id != NULL ? strdup(user_id) : NULL;
    if (user_id != NULL && k->user_id == NULL) {
        free(k);
        return NULL;
    }
    k->active = active;
    k->expires_us = INT64_MAX;
    if (expires_at != NULL && gw_valid_parse_datetime(expires_at, &us) == 0)
        k->expires_us = us;
    k->synced_us = util_mono_us();
    if (lim != NULL) {
        k->rpm_limit = lim->rpm > 0 ? lim->rpm : 0;
        k->tpm_limit = lim->tpm > 0 ? lim->tpm : 0;
    }
    return k;
}

/* Puts k in place of the entry with its id (which is freed). Write lock held. Takes k. */
static int acct_index_put_key_locked(struct acct_index *ix, struct gw_ikey *k)
{
    acct_index_drop_locked(ix, k->id);
    if (hmap_put(ix->by_id, k->id, k) < 0) {
        gw_ikey_free(k);
        return -1;
    }
    if (hmap_put(ix->by_hash, k->hash, k) < 0) {
        hmap_del(ix->by_id, k->id);
        gw_ikey_free(k);
        return -1;
    }
    return 0;
}

int acct_index_key_set(struct acct_index *ix, const char *id, const char *hash, const char *user_id,
                       bool active, const char *expires_at)
{
    return acct_index_key_set_ex(ix, id, hash, user_id, active, expires_at, NULL);
}

int acct_index_key_set_ex(struct acct_index *ix, const char *id, const char *hash,
                          const char *user_id, bool active, const char *expires_at,
                          const struct acct_key_limits *lim)
{
    struct gw_ikey *k = gw_ikey_new(id, hash, user_id, active, expires_at, lim);
    int rc;

    if (k == NULL)
        return -1;
    pthread_rwlock_wrlock(&ix->lock);
    rc = acct_index_put_key_locked(ix, k);
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

void acct_index_key_remove(struct acct_index *ix, const char *id)
{
    pthread_rwlock_wrlock(&ix->lock);
    acct_index_drop_locked(ix, id);
    ix->removed_us = util_mono_us();
    pthread_rwlock_unlock(&ix->lock);
}

static void gw_deactivate_cb(const char *key, void *value, void *arg)
{
    struct gw_ikey *k = value;

    (void)key;
    if (k->user_id != NULL && strcmp(k->user_id, arg) == 0) {
        k->active = false;
        k->synced_us = util_mono_us();
    }
}

void acct_index_user_delete(struct acct_index *ix, const char *user_id)
{
    struct gw_user_state *u;

    pthread_rwlock_wrlock(&ix->lock);
    hmap_each(ix->by_id, gw_deactivate_cb, (void *)user_id);
    u = hmap_get(ix->users, user_id);
    if (u != NULL) {
        u->deleted = true;
        u->synced_us = util_mono_us();
    }
    pthread_rwlock_unlock(&ix->lock);
}

void acct_key_limits_from_row(const struct db_result *res, size_t row, size_t col,
                              struct acct_key_limits *lim)
{
    const char *rpm = gw_cell(res, row, col), *tpm = gw_cell(res, row, col + 1);

    lim->rpm = rpm != NULL ? strtoll(rpm, NULL, 10) : 0;
    lim->tpm = tpm != NULL ? strtoll(tpm, NULL, 10) : 0;
}

struct acct_rate *acct_index_rate(struct acct_index *ix)
{
    return ix->rate;
}

void gw_key_ref_clear(struct gw_key_ref *ref)
{
    if (ref == NULL)
        return;
    free(ref->user_id);
    ref->user_id = NULL;
}

enum gw_key_state acct_index_key_check(struct acct_index *ix, const char *hash, int64_t now_us,
                                       struct gw_key_ref *out)
{
    enum gw_key_state st = GW_KEY_OK;
    struct gw_ikey *k;

    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&ix->lock);
    k = hmap_get(ix->by_hash, hash);
    if (k == NULL) {
        st = GW_KEY_UNKNOWN;
    } else if (!k->active) {
        st = GW_KEY_INACTIVE;
    } else if (k->expires_us < now_us) {
        st = GW_KEY_EXPIRED;
    } else {
        snprintf(out->id, sizeof(out->id), "%s", k->id);
        out->rpm_limit = k->rpm_limit;
        out->tpm_limit = k->tpm_limit;
        if (k->user_id != NULL && (out->user_id = strdup(k->user_id)) == NULL)
            st = GW_KEY_NOMEM;
        else
            __atomic_store_n(&k->last_used_us, now_us, __ATOMIC_RELAXED);
    }
    pthread_rwlock_unlock(&ix->lock);
    return st;
}

static void acct_index_load_cb(const struct db_result *res, void *arg)
{
    struct acct_index *ix = arg;

    for (size_t r = 0; r < res->nrows; r++) {
        const char *active = gw_cell(res, r, 3);
        struct acct_key_limits lim;

        acct_key_limits_from_row(res, r, 5, &lim);
        if (acct_index_key_set_ex(ix, gw_cell(res, r, 0), gw_cell(res, r, 1), gw_cell(res, r, 2),
                                  active != NULL && strcmp(active, "0") != 0, gw_cell(res, r, 4),
                                  &lim) < 0)
            LOG_ERR("out of memory loading the key index");
    }
}

int acct_index_load(struct acct_index *ix, struct db *db)
{
    return db_exec_sync(db, DB_Q_KEY_INDEX, NULL, acct_index_load_cb, ix);
}

struct gw_flush {
    struct db *db;
    struct event_base *base;
    int n;
};

static void gw_flush_cb(const char *key, void *value, void *arg)
{
    struct gw_ikey *k = value;
    struct gw_flush *f = arg;
    int64_t t = __atomic_exchange_n(&k->last_used_us, 0, __ATOMIC_RELAXED);
    char ts[UTIL_TS_LEN];
    struct db_params p = {.n = 2};

    (void)key;
    if (t == 0)
        return;
    p.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = k->id};
    p.v[1] = (struct db_value){.type = DB_T_TEXT, .u.s = util_ts_format(ts, sizeof(ts), t)};
    if (db_exec(f->db, f->base, DB_Q_KEY_TOUCH, &p, NULL, NULL) == 0)
        f->n++;
}

int acct_index_flush_touched(struct acct_index *ix, struct db *db, struct event_base *base)
{
    struct gw_flush f = {.db = db, .base = base};

    pthread_rwlock_rdlock(&ix->lock);
    hmap_each(ix->by_id, gw_flush_cb, &f);
    pthread_rwlock_unlock(&ix->lock);
    return f.n;
}

int acct_index_price_set(struct acct_index *ix, const char *model_key, double in, double out,
                         const char *created_at)
{
    struct gw_price *p = calloc(1, sizeof(*p)), *old;
    long long us = 0;
    int rc;

    if (p == NULL)
        return -1;
    p->input_per_million = in;
    p->output_per_million = out;
    if (created_at != NULL && gw_valid_parse_datetime(created_at, &us) == 0)
        p->created_us = us;
    p->synced_us = util_mono_us();
    pthread_rwlock_wrlock(&ix->lock);
    old = hmap_get(ix->prices, model_key);
    rc = hmap_put(ix->prices, model_key, p);
    pthread_rwlock_unlock(&ix->lock);
    if (rc < 0) {
        free(p);
        return -1;
    }
    free(old);
    return 0;
}

void acct_index_price_remove(struct acct_index *ix, const char *model_key)
{
    pthread_rwlock_wrlock(&ix->lock);
    free(hmap_del(ix->prices, model_key));
    ix->removed_us = util_mono_us();
    pthread_rwlock_unlock(&ix->lock);
}

int acct_index_price_get(struct acct_index *ix, const char *model_key, struct gw_price *out)
{
    struct gw_price *p;

    pthread_rwlock_rdlock(&ix->lock);
    p = hmap_get(ix->prices, model_key);
    if (p != NULL)
        *out = *p;
    pthread_rwlock_unlock(&ix->lock);
    return p != NULL ? 0 : -1;
}

/* "provider<sep>model" into buf when it fits, else into a malloc'd string; NULL: out of memory. */
static char *gw_price_key(char *buf, size_t len, const char *provider, char sep, const char *model)
{
    size_t np = strlen(provider), nm = strlen(model);
    char *key = np + nm + 2 <= len ? buf : malloc(np + nm + 2);

    if (key != NULL) {
        memcpy(key, provider, np);
        key[np] = sep;
        memcpy(key + np + 1, model, nm + 1);
    }
    return key;
}

int acct_index_price_find(struct acct_index *ix, const char *provider, const char *model,
                          struct gw_price *out)
{
    static const char seps[] = {':', '/'};
    char buf[256];

    for (size_t i = 0; i < sizeof(seps); i++) {
        char *key = gw_price_key(buf, sizeof(buf), provider, seps[i], model);
        int rc;

        if (key == NULL)
            return -1;
        rc = acct_index_price_get(ix, key, out);
        if (key != buf)
            free(key);
        if (rc == 0)
            return 1;
    }
    return 0;
}

/* Copying the prices out: sizing (a == NULL: count key bytes), then filling. */
struct gw_price_copy {
    struct gw_price_item *a;
    char *keys; /* next free byte of the key area after the items */
    size_t n;
    size_t key_bytes;
};

static void gw_price_size_cb(const char *key, void *value, void *arg)
{
    struct gw_price_copy *c = arg;

    (void)value;
    c->key_bytes += strlen(key) + 1;
}

static void gw_price_copy_cb(const char *key, void *value, void *arg)
{
    struct gw_price_copy *c = arg;
    size_t len = strlen(key) + 1;

    memcpy(c->keys, key, len);
    c->a[c->n].model_key = c->keys;
    c->a[c->n++].price = *(struct gw_price *)value;
    c->keys += len;
}

static int gw_price_cmp(const void *a, const void *b)
{
    return strcmp(((const struct gw_price_item *)a)->model_key,
                  ((const struct gw_price_item *)b)->model_key);
}

struct gw_price_item *acct_index_price_list(struct acct_index *ix, size_t *n)
{
    struct gw_price_copy c = {0};
    size_t count;

    pthread_rwlock_rdlock(&ix->lock);
    count = hmap_count(ix->prices);
    hmap_each(ix->prices, gw_price_size_cb, &c);
    c.a = malloc((count + 1) * sizeof(*c.a) + c.key_bytes);
    if (c.a != NULL) {
        c.keys = (char *)(c.a + count + 1);
        hmap_each(ix->prices, gw_price_copy_cb, &c);
    }
    pthread_rwlock_unlock(&ix->lock);
    if (c.a != NULL)
        qsort(c.a, c.n, sizeof(*c.a), gw_price_cmp);
    *n = c.n;
    return c.a;
}

static void acct_index_prices_cb(const struct db_result *res, void *arg)
{
    struct acct_index *ix = arg;

    for (size_t r = 0; r < res->nrows; r++) {
        const char *in = gw_cell(res, r, 1), *out = gw_cell(res, r, 2);
        if (acct_index_price_set(ix, gw_cell(res, r, 0), in ? strtod(in, NULL) : 0,
                                 out ? strtod(out, NULL) : 0, gw_cell(res, r, 3)) < 0)
            LOG_ERR("out of memory loading prices");
    }
}

int acct_index_load_prices(struct acct_index *ix, struct db *db)
{
    return db_exec_sync(db, DB_Q_PRICE_ALL, NULL, acct_index_prices_cb, ix);
}

/* Replaces the value of key in map m by v (freeing the old one). Write lock taken here. */
static int acct_index_replace(struct acct_index *ix, struct hmap *m, const char *key, void *v)
{
    void *old;
    int rc;

    pthread_rwlock_wrlock(&ix->lock);
    old = hmap_get(m, key);
    rc = hmap_put(m, key, v);
    pthread_rwlock_unlock(&ix->lock);
    if (rc < 0) {
        free(v);
        return -1;
    }
    free(old);
    return 0;
}

/*
 * Replaces a user's state after an admin write. Memory is ahead of the database for spend (the
 * usage writer batches increments) and alone knows the reservations, so both are kept unless the
 * row restores a soft-deleted user (a fresh start with the row's spend).
 */
static int acct_index_replace_user(struct acct_index *ix, const char *id, struct gw_user_state *u)
{
    struct gw_user_state *old;
    int rc;

    u->synced_us = util_mono_us();
    pthread_rwlock_wrlock(&ix->lock);
    old = hmap_get(ix->users, id);
    if (old != NULL && !old->deleted && !u->deleted) {
        u->spend = old->spend;
        u->reserved = old->reserved;
    } else if (old != NULL) {
        u->reserved = old->reserved;
    }
    if (old != NULL) {
        u->unflushed = old->unflushed;
        u->settled_total = old->settled_total;
        u->snap_pending = old->snap_pending;
        u->snap_settled = old->snap_settled;
    }
    rc = hmap_put(ix->users, id, u);
    pthread_rwlock_unlock(&ix->lock);
    if (rc < 0) {
        free(u);
        return -1;
    }
    free(old);
    return 0;
}

enum acct_budget_verdict acct_index_admit(struct acct_index *ix, const char *user_id,
                                          int64_t now_us, double reserve, bool free_model,
                                          bool store_up, struct acct_budget_reset *reset)
{
    struct gw_user_state *u;
    struct acct_budget_state *b;
    enum acct_budget_verdict v;

    memset(reset, 0, sizeof(*reset));
    pthread_rwlock_wrlock(&ix->lock);
    u = hmap_get(ix->users, user_id);
    if (u == NULL) {
        v = ACCT_BUDGET_NO_USER;
    } else {
        b = u->has_budget ? hmap_get(ix->budgets, u->budget_id) : NULL;
        if (!store_up && acct_budget_needs_store(u, b, free_model))
            v = ACCT_BUDGET_UNAVAILABLE;
        else
            v = acct_budget_admit(u, b, now_us, reserve, free_model, reset);
    }
    pthread_rwlock_unlock(&ix->lock);
    return v;
}

void acct_index_settle(struct acct_index *ix, const char *user_id, double reserve, double cost)
{
    struct gw_user_state *u;

    pthread_rwlock_wrlock(&ix->lock);
    u = hmap_get(ix->users, user_id);
    if (u != NULL) {
        acct_budget_settle(u, reserve, cost);
        if (cost > 0 && isfinite(cost)) {
            u->unflushed += cost;
            u->settled_total += cost;
        }
    }
    pthread_rwlock_unlock(&ix->lock);
}

static int64_t gw_ts_us(const char *s)
{
    long long us;

    return s != NULL && gw_valid_parse_datetime(s, &us) == 0 ? us : 0;
}

int acct_index_user_from_row(struct acct_index *ix, const struct db_result *res, size_t row)
{
    /* DB_COLS_USER: user_id, alias, spend, budget_id, budget_started_at, next_budget_reset_at,
     * blocked, created_at, updated_at, metadata, deleted_at */
    const char *id = gw_cell(res, row, 0), *spend = gw_cell(res, row, 2);
    const char *budget = gw_cell(res, row, 3), *blocked = gw_cell(res, row, 6);
    struct gw_user_state *u;

    if (id == NULL || (u = calloc(1, sizeof(*u))) == NULL)
        return -1;
    u->spend = spend != NULL ? strtod(spend, NULL) : 0;
    u->has_budget = budget != NULL;
    snprintf(u->budget_id, sizeof(u->budget_id), "%s", budget != NULL ? budget : "");
    u->started_us = gw_ts_us(gw_cell(res, row, 4));
    u->next_reset_us = gw_ts_us(gw_cell(res, row, 5));
    u->blocked = blocked != NULL && strcmp(blocked, "0") != 0;
    u->deleted = gw_cell(res, row, 10) != NULL;
    return acct_index_replace_user(ix, id, u);
}

int acct_index_budget_from_row(struct acct_index *ix, const struct db_result *res, size_t row)
{
    /* DB_COLS_BUDGET: budget_id, max_budget, budget_duration_sec, created_at, updated_at */
    const char *id = gw_cell(res, row, 0), *max = gw_cell(res, row, 1);
    const char *dur = gw_cell(res, row, 2);
    struct acct_budget_state *b;

    if (id == NULL || (b = calloc(1, sizeof(*b))) == NULL)
        return -1;
    b->has_max = max != NULL;
    b->max_budget = max != NULL ? strtod(max, NULL) : 0;
    b->duration_sec = dur != NULL ? strtoll(dur, NULL, 10) : 0;
    b->synced_us = util_mono_us();
    return acct_index_replace(ix, ix->budgets, id, b);
}

static void gw_unassign_cb(const char *key, void *value, void *arg)
{
    struct gw_user_state *u = value;

    (void)key;
    if (u->has_budget && strcmp(u->budget_id, arg) == 0) {
        u->has_budget = false;
        u->budget_id[0] = '\0';
    }
}

void acct_index_budget_remove(struct acct_index *ix, const char *id)
{
    pthread_rwlock_wrlock(&ix->lock);
    free(hmap_del(ix->budgets, id));
    ix->removed_us = util_mono_us();
    hmap_each(ix->users, gw_unassign_cb, (void *)id);
    pthread_rwlock_unlock(&ix->lock);
}

int acct_index_user_get(struct acct_index *ix, const char *user_id, struct gw_user_state *out)
{
    struct gw_user_state *u;

    pthread_rwlock_rdlock(&ix->lock);
    u = hmap_get(ix->users, user_id);
    if (u != NULL)
        *out = *u;
    pthread_rwlock_unlock(&ix->lock);
    return u != NULL ? 0 : -1;
}

int acct_index_budget_get(struct acct_index *ix, const char *id, struct acct_budget_state *out)
{
    struct acct_budget_state *b;

    pthread_rwlock_rdlock(&ix->lock);
    b = hmap_get(ix->budgets, id);
    if (b != NULL)
        *out = *b;
    pthread_rwlock_unlock(&ix->lock);
    return b != NULL ? 0 : -1;
}

static void acct_index_users_cb(const struct db_result *res, void *arg)
{
    for (size_t r = 0; r < res->nrows; r++)
        if (acct_index_user_from_row(arg, res, r) < 0)
            LOG_ERR("cannot load user row %zu into memory", r);
}

static void acct_index_budgets_cb(const struct db_result *res, void *arg)
{
    for (size_t r = 0; r < res->nrows; r++)
        if (acct_index_budget_from_row(arg, res, r) < 0)
            LOG_ERR("cannot load budget row %zu into memory", r);
}

int acct_index_load_accounts(struct acct_index *ix, struct db *db)
{
    if (db_exec_sync(db, DB_Q_BUDGET_ALL, NULL, acct_index_budgets_cb, ix) < 0)
        return -1;
    return db_exec_sync(db, DB_Q_USER_ALL, NULL, acct_index_users_cb, ix);
}

int acct_index_user_ensure(struct acct_index *ix, const char *user_id)
{
    struct gw_user_state *u = calloc(1, sizeof(*u));
    int rc = 0;

    if (u == NULL)
        return -1;
    u->synced_us = util_mono_us();
    pthread_rwlock_wrlock(&ix->lock);
    if (hmap_get(ix->users, user_id) == NULL)
        rc = hmap_put(ix->users, user_id, u);
    else
        rc = 1; /* known: keep its state */
    pthread_rwlock_unlock(&ix->lock);
    if (rc != 0)
        free(u);
    return rc < 0 ? -1 : 0;
}

/* ---- replica sync ---- */

/*
 * One refresh: t0 is when the reads began; `seen` collects the ids the database returned so
 * the sweep can tell what is gone. An entry written here at or after t0 is newer than the read
 * and is left alone; after a local removal at or after t0 nothing is added back this time.
 */
struct gw_refresh {
    struct acct_index *ix;
    int64_t t0;
    struct hmap *seen;
    bool oom;
};

/* Whether the refresh may put its version of an entry (synced at synced_us, or absent). */
static bool gw_refresh_may_put(const struct gw_refresh *rf, bool present, int64_t synced_us)
{
    return present ? synced_us < rf->t0 : rf->ix->removed_us < rf->t0;
}

/*
 * Puts v (a malloc'd price or budget whose int64_t synced_us is at synced_off) under key in m
 * when the refresh may (freeing the old value), else frees v. Takes the write lock.
 */
static void gw_refresh_put(struct gw_refresh *rf, struct hmap *m, const char *key, void *v,
                           size_t synced_off)
{
    void *old;
    int64_t synced = 0;

    pthread_rwlock_wrlock(&rf->ix->lock);
    old = hmap_get(m, key);
    if (old != NULL)
        memcpy(&synced, (char *)old + synced_off, sizeof(synced));
    if (gw_refresh_may_put(rf, old != NULL, synced)) {
        if (hmap_put(m, key, v) == 0) {
            free(old);
            v = NULL;
        } else {
            rf->oom = true;
        }
    }
    pthread_rwlock_unlock(&rf->ix->lock);
    free(v);
}

static void gw_refresh_seen(struct gw_refresh *rf, const char *id)
{
    if (hmap_put(rf->seen, id, rf) < 0)
        rf->oom = true;
}

static void gw_refresh_keys_cb(const struct db_result *res, void *arg)
{
    struct gw_refresh *rf = arg;
    struct acct_index *ix = rf->ix;

    for (size_t r = 0; r < res->nrows; r++) {
        const char *id = gw_cell(res, r, 0), *active = gw_cell(res, r, 3);
        struct gw_ikey *old, *k;
        struct acct_key_limits lim;

        if (id == NULL || gw_cell(res, r, 1) == NULL)
            continue;
        gw_refresh_seen(rf, id);
        acct_key_limits_from_row(res, r, 5, &lim);
        k = gw_ikey_new(id, gw_cell(res, r, 1), gw_cell(res, r, 2),
                        active != NULL && strcmp(active, "0") != 0, gw_cell(res, r, 4), &lim);
        if (k == NULL) {
            rf->oom = true;
            continue;
        }
        k->synced_us = rf->t0 - 1; /* a refresh's version, older than any later local write */
        pthread_rwlock_wrlock(&ix->lock);
        old = hmap_get(ix->by_id, id);
        if (gw_refresh_may_put(rf, old != NULL, old != NULL ? old->synced_us : 0)) {
            if (old != NULL)
                k->last_used_us = __atomic_load_n(&old->last_used_us, __ATOMIC_RELAXED);
            if (acct_index_put_key_locked(ix, k) < 0)
                rf->oom = true;
            k = NULL;
        }
        pthread_rwlock_unlock(&ix->lock);
        gw_ikey_free(k);
    }
}

static void gw_refresh_prices_cb(const struct db_result *res, void *arg)
{
    struct gw_refresh *rf = arg;
    struct acct_index *ix = rf->ix;

    for (size_t r = 0; r < res->nrows; r++) {
        const char *key = gw_cell(res, r, 0), *in = gw_cell(res, r, 1), *out = gw_cell(res, r, 2);
        struct gw_price *p;
        long long us = 0;

        if (key == NULL)
            continue;
        gw_refresh_seen(rf, key);
        if ((p = calloc(1, sizeof(*p))) == NULL) {
            rf->oom = true;
            continue;
        }
        p->input_per_million = in != NULL ? strtod(in, NULL) : 0;
        p->output_per_million = out != NULL ? strtod(out, NULL) : 0;
        if (gw_cell(res, r, 3) != NULL && gw_valid_parse_datetime(gw_cell(res, r, 3), &us) == 0)
            p->created_us = us;
        p->synced_us = rf->t0 - 1;
        gw_refresh_put(rf, ix->prices, key, p, offsetof(struct gw_price, synced_us));
    }
}

static void gw_refresh_budgets_cb(const struct db_result *res, void *arg)
{
    struct gw_refresh *rf = arg;
    struct acct_index *ix = rf->ix;

    for (size_t r = 0; r < res->nrows; r++) {
        const char *id = gw_cell(res, r, 0), *max = gw_cell(res, r, 1), *dur = gw_cell(res, r, 2);
        struct acct_budget_state *b;

        if (id == NULL)
            continue;
        gw_refresh_seen(rf, id);
        if ((b = calloc(1, sizeof(*b))) == NULL) {
            rf->oom = true;
            continue;
        }
        b->has_max = max != NULL;
        b->max_budget = max != NULL ? strtod(max, NULL) : 0;
        b->duration_sec = dur != NULL ? strtoll(dur, NULL, 10) : 0;
        b->synced_us = rf->t0 - 1;
        gw_refresh_put(rf, ix->budgets, id, b, offsetof(struct acct_budget_state, synced_us));
    }
}

/*
 * The user rows (DB_COLS_USER, see acct_index_user_from_row). Spend: the database's, plus what was
 * settled here and not yet written when the read began (snap_pending), plus everything settled
 * since (settled_total - snap_settled). A row written by another process's writer meanwhile may
 * count twice until the next refresh: an over-estimate, never an under-estimate. A budget
 * period started here later than the row's (a lazy reset not yet written) keeps the local spend.
 */
static void gw_refresh_users_cb(const struct db_result *res, void *arg)
{
    struct gw_refresh *rf = arg;
    struct acct_index *ix = rf->ix;

    for (size_t r = 0; r < res->nrows; r++) {
        const char *id = gw_cell(res, r, 0), *spend = gw_cell(res, r, 2);
        const char *budget = gw_cell(res, r, 3), *blocked = gw_cell(res, r, 6);
        int64_t started = gw_ts_us(gw_cell(res, r, 4)), next = gw_ts_us(gw_cell(res, r, 5));
        struct gw_user_state *u;

        if (id == NULL)
            continue;
        gw_refresh_seen(rf, id);
        pthread_rwlock_wrlock(&ix->lock);
        u = hmap_get(ix->users, id);
        if (u == NULL && gw_refresh_may_put(rf, false, 0)) {
            u = calloc(1, sizeof(*u));
            if (u != NULL && hmap_put(ix->users, id, u) < 0) {
                free(u);
                u = NULL;
            }
            if (u == NULL)
                rf->oom = true;
        } else if (u != NULL && !gw_refresh_may_put(rf, true, u->synced_us)) {
            u = NULL;
        }
        if (u != NULL) {
            u->blocked = blocked != NULL && strcmp(blocked, "0") != 0;
            u->deleted = gw_cell(res, r, 10) != NULL;
            u->has_budget = budget != NULL;
            snprintf(u->budget_id, sizeof(u->budget_id), "%s", budget != NULL ? budget : "");
            if (started >= u->started_us) {
                u->spend = (spend != NULL ? strtod(spend, NULL) : 0) + u->snap_pending +
                           (u->settled_total - u->snap_settled);
                u->started_us = started;
                u->next_reset_us = next;
            }
            u->synced_us = rf->t0 - 1;
        }
        pthread_rwlock_unlock(&ix->lock);
    }
}

static void gw_snap_cb(const char *key, void *value, void *arg)
{
    struct gw_user_state *u = value;

    (void)key;
    (void)arg;
    u->snap_pending = u->unflushed;
    u->snap_settled = u->settled_total;
}

/* Ids of map entries the refresh did not see and that were not written since it began. */
struct gw_sweep {
    const struct gw_refresh *rf;
    int which; /* 0 keys, 1 prices, 2 budgets */
    char **ids;
    size_t n, cap;
};

static void gw_sweep_cb(const char *key, void *value, void *arg)
{
    struct gw_sweep *sw = arg;
    int64_t synced = sw->which == 0   ? ((struct gw_ikey *)value)->synced_us
                     : sw->which == 1 ? ((struct gw_price *)value)->synced_us
                                      : ((struct acct_budget_state *)value)->synced_us;

    if (hmap_get(sw->rf->seen, key) != NULL || synced >= sw->rf->t0)
        return;
    if (sw->n == sw->cap) {
        size_t cap = sw->cap != 0 ? sw->cap * 2 : 16;
        char **ids = realloc(sw->ids, cap * sizeof(*ids));
        if (ids == NULL)
            return;
        sw->ids = ids;
        sw->cap = cap;
    }
    if ((sw->ids[sw->n] = strdup(key)) != NULL)
        sw->n++;
}

/* Forgets what the database no longer has. Write lock held. */
static void gw_refresh_sweep_locked(struct gw_refresh *rf, int which)
{
    struct acct_index *ix = rf->ix;
    struct hmap *m = which == 0 ? ix->by_id : which == 1 ? ix->prices : ix->budgets;
    struct gw_sweep sw = {.rf = rf, .which = which};

    hmap_each(m, gw_sweep_cb, &sw);
    for (size_t i = 0; i < sw.n; i++) {
        if (which == 0) {
            acct_index_drop_locked(ix, sw.ids[i]);
        } else if (which == 1) {
            free(hmap_del(ix->prices, sw.ids[i]));
        } else {
            free(hmap_del(ix->budgets, sw.ids[i]));
            hmap_each(ix->users, gw_unassign_cb, sw.ids[i]);
        }
        free(sw.ids[i]);
    }
    free(sw.ids);
}

int acct_index_refresh(struct acct_index *ix, struct db *db, struct event_base *base)
{
    static const struct {
        enum db_query q;
        db_done_fn *cb;
        int sweep; /* -1: none (users are soft-deleted, never removed) */
    } steps[] = {
        {DB_Q_KEY_INDEX, gw_refresh_keys_cb, 0},
        {DB_Q_PRICE_ALL, gw_refresh_prices_cb, 1},
        {DB_Q_BUDGET_ALL, gw_refresh_budgets_cb, 2},
        {DB_Q_USER_ALL, gw_refresh_users_cb, -1},
    };
    struct gw_refresh rf = {.ix = ix};
    int rc = 0;

    pthread_rwlock_wrlock(&ix->lock);
    hmap_each(ix->users, gw_snap_cb, NULL);
    pthread_rwlock_unlock(&ix->lock);
    rf.t0 = util_mono_us();
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        rf.seen = hmap_new();
        rf.oom = rf.seen == NULL;
        if (rf.oom || db_exec_wait(db, base, steps[i].q, NULL, steps[i].cb, &rf) < 0) {
            rc = -1; /* nothing is swept after a failed read */
        } else if (steps[i].sweep >= 0 && !rf.oom) {
            pthread_rwlock_wrlock(&ix->lock);
            gw_refresh_sweep_locked(&rf, steps[i].sweep);
            pthread_rwlock_unlock(&ix->lock);
        }
        hmap_free(rf.seen);
    }
    return rc;
}

void acct_index_spend_written(const char *user_id, double cost, int status, void *arg)
{
    struct acct_index *ix = arg;
    struct gw_user_state *u;

    (void)status; /* committed or given up: either way it is no longer on its way */
    pthread_rwlock_wrlock(&ix->lock);
    u = hmap_get(ix->users, user_id);
    if (u != NULL) {
        u->unflushed -= cost;
        if (u->unflushed < 0)
            u->unflushed = 0;
    }
    pthread_rwlock_unlock(&ix->lock);
}
