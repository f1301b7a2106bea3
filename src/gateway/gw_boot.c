/*
 * Start-up steps over the database: bootstrap key, config pricing, in-memory index.
 * Synchronous (db_exec_sync): nothing serves requests yet.
 */
#include "gateway/gw_boot.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db/db.h"
#include "gateway/gw_index.h"
#include "gateway/gw_rows.h"
#include "log.h"
#include "providers/prov_registry.h"
#include "util.h"
#include "vkey.h"

static void gw_boot_count_cb(const struct db_result *res, void *arg)
{
    const char *v = gw_cell(res, 0, 0);

    *(long *)arg = v != NULL ? strtol(v, NULL, 10) : -1;
}

static int gw_boot_key(struct db *db, char *err, size_t errlen)
{
    char key[VKEY_LEN + 1], hash[SHA256_HEX_LEN], id[UTIL_UUID_LEN], user[UTIL_UUID_LEN + 8];
    char now[UTIL_TS_LEN];
    struct db_params p = {.n = 8};
    long count = -1;

    if (db_exec_sync(db, DB_Q_KEY_COUNT, NULL, gw_boot_count_cb, &count) < 0 || count < 0) {
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
    if (db_exec_sync(db, DB_Q_KEY_CREATE, &p, NULL, NULL) < 0) {
        snprintf(err, errlen, "cannot create the bootstrap key");
        return -1;
    }
    /* The one deliberate secret in the log (spec §2.6): shown once, never again. */
    log_msg(LOG_LVL_WARN,
            "No API keys found. Created bootstrap key for first run. Save this key now: %s", key);
    return 0;
}

static void gw_boot_inserted_cb(const struct db_result *res, void *arg)
{
    *(bool *)arg = res->nrows > 0;
}

static int gw_boot_pricing(const struct cfg *cfg, struct db *db, char *err, size_t errlen)
{
    char now[UTIL_TS_LEN];

    util_ts_format(now, sizeof(now), util_now_us());
    for (size_t i = 0; i < cfg->n_pricing; i++) {
        const struct cfg_price *pr = &cfg->pricing[i];
        char prov[64], key[512], why[256];
        const char *model;
        struct db_params p = {.n = 4};
        bool inserted = false;

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
        snprintf(key, sizeof(key), "%s:%s", prov, model);
        p.v[0] = (struct db_value){.type = DB_T_TEXT, .u.s = key};
        p.v[1] = (struct db_value){.type = DB_T_REAL, .u.d = pr->input_price_per_million};
        p.v[2] = (struct db_value){.type = DB_T_REAL, .u.d = pr->output_price_per_million};
        p.v[3] = (struct db_value){.type = DB_T_TEXT, .u.s = now};
        if (db_exec_sync(db, DB_Q_PRICE_INSERT_ABSENT, &p, gw_boot_inserted_cb, &inserted) < 0) {
            snprintf(err, errlen, "cannot store pricing for '%s'", key);
            return -1;
        }
        if (inserted)
            LOG_INFO("pricing for '%s' loaded from the configuration", key);
        else
            LOG_WARN("pricing for '%s' already exists in the database; keeping the database "
                     "value (change it with POST /v1/pricing)",
                     key);
    }
    return 0;
}

int gw_boot(const struct cfg *cfg, struct db *db, struct gw_index *ix, char *err, size_t errlen)
{
    if (cfg->bootstrap_api_key && gw_boot_key(db, err, errlen) < 0)
        return -1;
    if (gw_boot_pricing(cfg, db, err, errlen) < 0)
        return -1;
    if (gw_index_load(ix, db) < 0 || gw_index_load_prices(ix, db) < 0 ||
        gw_index_load_accounts(ix, db) < 0) {
        snprintf(err, errlen, "cannot load keys, users, budgets and prices into memory");
        return -1;
    }
    return 0;
}
