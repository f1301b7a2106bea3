/*
 * Start-up steps over the database: bootstrap key, config pricing, in-memory index.
 * Synchronous (db_exec_sync) on the calling thread, never on a serving event loop: either
 * before the server serves, or on the retry thread while the server answers 503.
 */
#include "acct/acct_boot.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acct/acct_index.h"
#include "config.h"
#include "db/db.h"
#include "gateway/admin/gw_rows.h"
#include "log.h"
#include "nap.h"
#include "providers/prov_registry.h"
#include "util.h"
#include "vkey.h"

static void acct_boot_count_cb(const struct db_result *res, void *arg)
{
    const char *v = gw_cell(res, 0, 0);

    *(long *)arg = v != NULL ? strtol(v, NULL, 10) : -1;
}

static int acct_boot_key(struct db *db, char *err, size_t errlen)
{
    char key[VKEY_LEN + 1], hash[SHA256_HEX_LEN], id[UTIL_UUID_LEN], user[UTIL_UUID_LEN + 8];
    char now[UTIL_TS_LEN];
    struct db_params p = {.n = 10}; /* rpm_limit, tpm_limit: NULL (none) */
    long count = -1;

    if (db_exec_sync(db, DB_Q_KEY_COUNT, NULL, acct_boot_count_cb, &count) < 0 || count < 0) {
        snprintf(err, errlen, "cannot count API keys");
        return -1;
    }
    if (count > 0)
        return 0;
    if (vkey_generate(key) < 0 || util_uuid4(id) < 0) {
        snprintf(err, errlen, "cannot read the kernel random generator");
        return -1;
    }
    snprintf(user, sizeof(user), "apikey-%s", id);
    util_ts_format(now, sizeof(now), util_now_us());
    p.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = id};
    p.v[1] = (struct db_value){.type = DB_T_TEXT, .u.s = vkey_hash(key, hash)};
    p.v[2] = (struct db_value){.type = DB_T_TEXT, .u.s = "bootstrap"};
    p.v[3] = (struct db_value){.type = DB_T_TEXT, .u.s = user};
    p.v[4] = (struct db_value){.type = DB_T_TEXT, .u.s = now};
    p.v[5] = (struct db_value){.type = DB_T_NULL};
    p.v[6] = (struct db_value){.type = DB_T_TEXT, .u.s = "{\"bootstrap\":true}"};
    p.v[7] = (struct db_value){.type = DB_T_TEXT, .u.s = "Virtual user for API key: bootstrap"};
    p.v[8] = (struct db_value){.type = DB_T_NULL};
    p.v[9] = (struct db_value){.type = DB_T_NULL};
    if (db_exec_sync(db, DB_Q_KEY_CREATE, &p, NULL, NULL) < 0) {
        snprintf(err, errlen, "cannot create the bootstrap key");
        return -1;
    }
    /* The one deliberate secret in the log (spec §2.6): shown once, never again. */
    log_msg(LOG_LVL_WARN,
            "No API keys found. Created bootstrap key for first run. Save this key now: %s", key);
    return 0;
}

static void acct_boot_inserted_cb(const struct db_result *res, void *arg)
{
    *(bool *)arg = res->nrows > 0;
}

/*
 * Checks config pricing entry pr (its provider must be configured) and sets *key to its
 * "provider:model" key (owned, whatever its length). Returns 0, or -1 with the reason in err.
 */
static int acct_boot_price_key(const struct cfg *cfg, const struct cfg_price *pr, char **key,
                               char *err, size_t errlen)
{
    char prov[64], why[256];
    const char *model;
    size_t n;

    if (prov_split_model(pr->model_key, prov, sizeof(prov), &model, why, sizeof(why)) == NULL) {
        snprintf(err, errlen, "pricing: %s", why);
        return -1;
    }
    if (json_object_get(cfg->providers, prov) == NULL) {
        snprintf(err, errlen,
                 "Cannot set pricing for model '%s': provider '%s' is not configured in the "
                 "providers section",
                 pr->model_key, prov);
        return -1;
    }
    n = strlen(prov) + strlen(model) + 2;
    if ((*key = malloc(n)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(*key, n, "%s:%s", prov, model);
    return 0;
}

int acct_boot_check(const struct cfg *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->n_pricing; i++) {
        char *key;

        if (acct_boot_price_key(cfg, &cfg->pricing[i], &key, err, errlen) < 0)
            return -1;
        free(key);
    }
    return 0;
}

static int acct_boot_pricing(const struct cfg *cfg, struct db *db, char *err, size_t errlen)
{
    char now[UTIL_TS_LEN];

    util_ts_format(now, sizeof(now), util_now_us());
    for (size_t i = 0; i < cfg->n_pricing; i++) {
        const struct cfg_price *pr = &cfg->pricing[i];
        char *key;
        struct db_params p = {.n = 4};
        bool inserted = false;
        int rc;

        if (acct_boot_price_key(cfg, pr, &key, err, errlen) < 0)
            return -1;
        p.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = key};
        p.v[1] = (struct db_value){.type = DB_T_REAL, .u.d = pr->input_price_per_million};
        p.v[2] = (struct db_value){.type = DB_T_REAL, .u.d = pr->output_price_per_million};
        p.v[3] = (struct db_value){.type = DB_T_TEXT, .u.s = now};
        rc = db_exec_sync(db, DB_Q_PRICE_INSERT_ABSENT, &p, acct_boot_inserted_cb, &inserted);
        if (rc < 0)
            snprintf(err, errlen, "cannot store pricing for '%s'", key);
        else if (inserted)
            LOG_INFO("pricing for '%s' loaded from the configuration", key);
        else
            LOG_WARN("pricing for '%s' already exists in the database; keeping the database "
                     "value (change it with POST /v1/pricing)",
                     key);
        free(key);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int acct_boot(const struct cfg *cfg, struct db *db, struct acct_index *ix, char *err, size_t errlen)
{
    if (cfg->bootstrap_api_key && acct_boot_key(db, err, errlen) < 0)
        return -1;
    if (acct_boot_pricing(cfg, db, err, errlen) < 0)
        return -1;
    if (acct_index_load(ix, db) < 0 || acct_index_load_prices(ix, db) < 0 ||
        acct_index_load_accounts(ix, db) < 0) {
        snprintf(err, errlen, "cannot load keys, users, budgets and prices into memory");
        return -1;
    }
    return 0;
}

/* ---- start-up that waits for the database ---- */

#define ACCT_BOOT_BACKOFF_MIN_MS 250
#define ACCT_BOOT_BACKOFF_MAX_MS 10000

struct acct_boot_run {
    const struct cfg *cfg;
    struct db *db;
    struct acct_index *ix;
    acct_boot_ready_fn *ready;
    void *arg;
    pthread_t thread;
    bool thread_started;
    struct nap nap;
};

/* One attempt: migrations (when auto_migrate), then acct_boot(). Returns 0 or -1 with err. */
static int acct_boot_attempt(struct acct_boot_run *b, char *err, size_t errlen)
{
    if (b->cfg->auto_migrate && db_migrate_to(b->db, NULL, err, errlen) < 0)
        return -1;
    return acct_boot(b->cfg, b->db, b->ix, err, errlen);
}

static void *acct_boot_thread(void *arg)
{
    struct acct_boot_run *b = arg;
    int backoff = ACCT_BOOT_BACKOFF_MIN_MS;
    char err[512];

    for (;;) {
        if (nap_sleep(&b->nap, backoff) || db_interrupted(b->db))
            return NULL;
        if (acct_boot_attempt(b, err, sizeof(err)) == 0)
            break;
        if (db_interrupted(b->db))
            return NULL; /* stopping: no retry, no warning */
        backoff = backoff * 2 > ACCT_BOOT_BACKOFF_MAX_MS ? ACCT_BOOT_BACKOFF_MAX_MS : backoff * 2;
        LOG_WARN("start-up still waiting for the database: %s; retrying in %d ms", err, backoff);
    }
    LOG_INFO("database reachable: start-up complete, serving every endpoint");
    b->ready(b->arg);
    return NULL;
}

struct acct_boot_run *acct_boot_start(const struct cfg *cfg, struct db *db, struct acct_index *ix,
                                      acct_boot_ready_fn *ready, void *arg)
{
    struct acct_boot_run *b = calloc(1, sizeof(*b));
    char err[512];
    int rc;

    if (b == NULL)
        return NULL;
    b->cfg = cfg;
    b->db = db;
    b->ix = ix;
    b->ready = ready;
    b->arg = arg;
    nap_init(&b->nap);
    /* Another replica migrating: the retries wait for it, with the listeners up (liveness). */
    db_migrate_nowait(db, true);
    rc = acct_boot_attempt(b, err, sizeof(err));
    db_migrate_nowait(db, false);
    if (rc == 0) {
        ready(arg);
        return b;
    }
    if (db_interrupted(db))
        return b; /* a stop signal came during start-up: nothing to retry */
    LOG_ERR("start-up cannot complete yet: %s; retrying in the background (readiness answers "
            "503 and API requests 503 until it does)",
            err);
    if (pthread_create(&b->thread, NULL, acct_boot_thread, b) != 0) {
        LOG_ERR("cannot start the start-up retry thread");
        acct_boot_stop(b);
        return NULL;
    }
    b->thread_started = true;
    return b;
}

void acct_boot_stop(struct acct_boot_run *b)
{
    if (b == NULL)
        return;
    nap_stop(&b->nap);
    if (b->thread_started)
        pthread_join(b->thread, NULL);
    nap_destroy(&b->nap);
    free(b);
}
