/*
 * Virtual key administration (spec §1.7, master key): create (the plaintext key is returned
 * once, only its SHA-256 is stored), list, read, partial update (the revocation path) and hard
 * delete. Every change is written through to the in-memory key index (DESIGN.md §2.7) right
 * after the database commit, so a revoked or deleted key is refused at the very next request.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acct/acct_index.h"
#include "db/db.h"
#include "gateway/admin/gw_rows.h"
#include "gateway/gw_app.h"
#include "gateway/gw_handlers.h"
#include "gateway/http/gw_auth.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_valid.h"
#include "log.h"
#include "util.h"
#include "vkey.h"

/* Column index of deleted_at in DB_COLS_USER. */
enum { GW_USER_COL_DELETED = 10 };
/* Column indexes of the DB_Q_KEY_INDEX_ONE row (id, key_hash, user_id, is_active, expires_at,
   rpm_limit, tpm_limit). */
enum { GW_KIX_HASH = 1, GW_KIX_USER = 2, GW_KIX_ACTIVE = 3, GW_KIX_EXPIRES = 4, GW_KIX_RPM = 5 };

/* CreateKeyRequest. */
static const struct gw_field gw_key_create_fields[] = {
    {"key_name", GW_F_STR, GW_F_NULLABLE, 0},
    {"user_id", GW_F_STR, GW_F_NULLABLE, 0},
    {"expires_at", GW_F_DATETIME, GW_F_NULLABLE, 0},
    {"metadata", GW_F_OBJ, 0, 0},
    {"rpm_limit", GW_F_INT, GW_F_NULLABLE | GW_F_GT, 0},
    {"tpm_limit", GW_F_INT, GW_F_NULLABLE | GW_F_GT, 0},
};

/* UpdateKeyRequest: everything optional, null meaning "keep". */
static const struct gw_field gw_key_update_fields[] = {
    {"key_name", GW_F_STR, GW_F_NULLABLE, 0},
    {"is_active", GW_F_BOOL, GW_F_NULLABLE, 0},
    {"expires_at", GW_F_DATETIME, GW_F_NULLABLE, 0},
    {"metadata", GW_F_OBJ, GW_F_NULLABLE, 0},
    {"rpm_limit", GW_F_INT, GW_F_NULLABLE | GW_F_GT, 0}, /* null clears, absent keeps */
    {"tpm_limit", GW_F_INT, GW_F_NULLABLE | GW_F_GT, 0},
};

/* One pending key query on an existing key: the request plus the path id. */
struct gw_key_op {
    struct gw_req *r;
    json_t *row; /* PATCH: the updated KeyInfo, replied once the index is refreshed */
    char id[];
};

/* POST /v1/keys in flight (one or two queries). Freed with gw_key_new_free(). */
struct gw_key_new {
    struct gw_req *r;
    char id[UTIL_UUID_LEN];
    char key[VKEY_LEN + 1]; /* the plaintext: wiped on free */
    char hash[SHA256_HEX_LEN];
    char now[UTIL_TS_LEN];
    char expires[UTIL_TS_LEN];  /* "" when the key never expires */
    char *user_id;              /* owned */
    char *key_name;             /* owned, NULL when absent */
    char *alias;                /* owned: alias of the user created when absent */
    char *metadata;             /* owned JSON text */
    struct acct_key_limits lim; /* 0: none */
};

static void gw_key_not_found(struct gw_req *r, const char *id)
{
    gw_reply_errorf(r, 404, "key_not_found", "API key with id '%s' not found", id);
}

/* Returns a malloc'd string built from fmt, or NULL (out of memory). */
static char *gw_key_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *gw_key_strf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/*
 * Normalises a validated expires_at value into out (util_ts_format form), "" for null/absent.
 * A non-negative number (should the validator ever accept pydantic's Unix timestamps) counts
 * as seconds, or as milliseconds above 2e10 as in pydantic. Returns 0, or -1 when the value does
 * not parse (cannot happen after gw_valid_fields()).
 */
static int gw_key_expires(json_t *v, char out[UTIL_TS_LEN])
{
    long long us;

    out[0] = '\0';
    if (v == NULL || json_is_null(v))
        return 0;
    if (json_is_number(v)) {
        double t = json_number_value(v);

        if (!(t >= 0 && t < 1e13))
            return -1;
        us = (long long)(t > 2e10 ? t * 1e3 : t * 1e6);
    } else if (!json_is_string(v) || gw_valid_parse_datetime(json_string_value(v), &us) < 0) {
        return -1;
    }
    util_ts_format(out, UTIL_TS_LEN, (int64_t)us);
    return 0;
}

/* A rate limit as a parameter: the positive integer, or NULL (none). */
static struct db_value gw_key_limit_value(int64_t v)
{
    if (v <= 0)
        return (struct db_value){.type = DB_T_NULL};
    return (struct db_value){.type = DB_T_INT, .u.i = v};
}

/* A validated rpm_limit / tpm_limit member: its value, 0 for null or absent. */
static int64_t gw_key_limit(json_t *body, const char *name)
{
    json_t *v = json_object_get(body, name);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* Returns owned op (free with gw_key_op_free()) for r and id, or NULL after replying 500. */
static struct gw_key_op *gw_key_op_new(struct gw_req *r, const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    struct gw_key_op *op = malloc(sizeof(*op) + n + 1);

    if (op == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return NULL;
    }
    op->r = r;
    op->row = NULL;
    memcpy(op->id, id != NULL ? id : "", n + 1);
    return op;
}

static void gw_key_op_free(struct gw_key_op *op)
{
    if (op == NULL)
        return;
    json_decref(op->row);
    free(op);
}

static void gw_key_new_free(struct gw_key_new *kn)
{
    if (kn == NULL)
        return;
    explicit_bzero(kn->key, sizeof(kn->key));
    free(kn->user_id);
    free(kn->key_name);
    free(kn->alias);
    free(kn->metadata);
    free(kn);
}

/* ---- POST /v1/keys ---- */

/* CreateKeyResponse: the stored row plus the plaintext key, without last_used_at. */
static json_t *gw_key_created_json(const struct db_result *res, const char *key)
{
    json_t *row = gw_row_json(res, 0, gw_cols_key, GW_NCOLS(gw_cols_key));
    json_t *o = json_object();
    static const char *const order[] = {"id",         "key",        "key_name",  "user_id",
                                        "created_at", "expires_at", "is_active", "metadata",
                                        "rpm_limit",  "tpm_limit"};

    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (strcmp(order[i], "key") == 0)
            json_object_set_new(o, "key", json_string(key));
        else
            json_object_set(o, order[i], json_object_get(row, order[i]));
    }
    json_decref(row);
    return o;
}

static void gw_key_create_done(const struct db_result *res, void *arg)
{
    struct gw_key_new *kn = arg;
    struct gw_req *r = kn->r;

    if (res->status != 0 || res->nrows != 1) {
        gw_reply_db_error(r, res);
        goto out;
    }
    if (acct_index_user_ensure(r->w->app->index, kn->user_id) < 0 ||
        acct_index_key_set_ex(r->w->app->index, kn->id, kn->hash, kn->user_id, true,
                              kn->expires[0] != '\0' ? kn->expires : NULL, &kn->lim) < 0) {
        /* Committed but not usable until the next start-up's index load: say so. */
        LOG_ERR("rid=%s key %s created but not indexed (out of memory)", r->rid, kn->id);
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        goto out;
    }
    gw_reply_json(r, 200, gw_key_created_json(res, kn->key));
out:
    gw_key_new_free(kn);
}

/* Inserts the key (and its user when absent) in one transaction. */
static void gw_key_insert(struct gw_key_new *kn)
{
    struct db_params q = {.n = 10};

    q.v[0] = db_text(kn->id);
    q.v[1] = db_text(kn->hash);
    q.v[2] = db_text(kn->key_name);
    q.v[3] = db_text(kn->user_id);
    q.v[4] = db_text(kn->now);
    q.v[5] = db_text(kn->expires[0] != '\0' ? kn->expires : NULL);
    q.v[6] = db_text(kn->metadata);
    q.v[7] = db_text(kn->alias);
    q.v[8] = gw_key_limit_value(kn->lim.rpm);
    q.v[9] = gw_key_limit_value(kn->lim.tpm);
    gw_db_start(kn->r, DB_Q_KEY_CREATE, &q, gw_key_create_done, kn);
}

/* The named user's row: refuse a soft-deleted user, otherwise insert the key. */
static void gw_key_user_done(const struct db_result *res, void *arg)
{
    struct gw_key_new *kn = arg;

    if (res->status != 0) {
        gw_reply_db_error(kn->r, res);
        gw_key_new_free(kn);
        return;
    }
    if (res->nrows == 1 && gw_cell(res, 0, GW_USER_COL_DELETED) != NULL) {
        gw_reply_errorf(kn->r, 404, "user_deleted",
                        "User '%s' has been deleted. Recreate via POST /v1/users first.",
                        kn->user_id);
        gw_key_new_free(kn);
        return;
    }
    gw_key_insert(kn);
}

/* Fills kn from the validated body. Returns 0, or -1 (out of memory or bad input). */
static int gw_key_new_fill(struct gw_key_new *kn, json_t *body)
{
    const char *name = json_string_value(json_object_get(body, "key_name"));
    const char *user = json_string_value(json_object_get(body, "user_id"));
    json_t *meta = json_object_get(body, "metadata");

    if (util_uuid4(kn->id) < 0 || vkey_generate(kn->key) < 0)
        return -1;
    vkey_hash(kn->key, kn->hash);
    util_ts_format(kn->now, sizeof(kn->now), util_now_us());
    if (gw_key_expires(json_object_get(body, "expires_at"), kn->expires) < 0)
        return -1;
    if (name != NULL && (kn->key_name = strdup(name)) == NULL)
        return -1;
    if (user != NULL) {
        kn->user_id = strdup(user);
        kn->alias = gw_key_strf("User %s", user);
    } else {
        /* The reference's `key_name or 'unnamed'`: an empty name counts as none. */
        kn->user_id = gw_key_strf("apikey-%s", kn->id);
        kn->alias = gw_key_strf("Virtual user for API key: %s",
                                name != NULL && name[0] != '\0' ? name : "unnamed");
    }
    kn->lim.rpm = gw_key_limit(body, "rpm_limit");
    kn->lim.tpm = gw_key_limit(body, "tpm_limit");
    kn->metadata = json_is_object(meta) ? json_dumps(meta, JSON_COMPACT) : strdup("{}");
    if (kn->user_id == NULL || kn->alias == NULL || kn->metadata == NULL)
        return -1;
    return 0;
}

void gw_keys_create(struct gw_req *r, const struct gw_params *p)
{
    struct gw_key_new *kn = NULL;
    json_t *body = NULL;

    (void)p;
    if (!gw_auth_master(r))
        return;
    if (!gw_valid_body_json(r, &body))
        return;
    if (!gw_valid_fields(r, body, gw_key_create_fields, GW_NCOLS(gw_key_create_fields)))
        goto out;
    kn = calloc(1, sizeof(*kn));
    if (kn == NULL || gw_key_new_fill(kn, body) < 0) {
        gw_key_new_free(kn);
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        goto out;
    }
    kn->r = r;
    if (json_is_string(json_object_get(body, "user_id"))) {
        struct db_params q = {.n = 1};

        q.v[0] = db_text(kn->user_id);
        gw_db_start(r, DB_Q_USER_GET, &q, gw_key_user_done, kn);
    } else {
        gw_key_insert(kn);
    }
out:
    json_decref(body);
}

/* ---- GET /v1/keys ---- */

void gw_keys_list(struct gw_req *r, const struct gw_params *p)
{
    (void)p;
    if (!gw_auth_master(r))
        return;
    gw_list_page(r, DB_Q_KEY_LIST, gw_cols_key, GW_NCOLS(gw_cols_key));
}

/* ---- GET /v1/keys/{id} ---- */

static void gw_key_get_done(const struct db_result *res, void *arg)
{
    struct gw_key_op *op = arg;

    if (res->status != 0)
        gw_reply_db_error(op->r, res);
    else if (res->nrows == 0)
        gw_key_not_found(op->r, op->id);
    else
        gw_reply_json(op->r, 200, gw_row_json(res, 0, gw_cols_key, GW_NCOLS(gw_cols_key)));
    gw_key_op_free(op);
}

void gw_keys_get(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 1};
    struct gw_key_op *op;

    if (!gw_auth_master(r))
        return;
    op = gw_key_op_new(r, p->v[0]);
    if (op == NULL)
        return;
    q.v[0] = db_text(op->id);
    gw_db_start(r, DB_Q_KEY_GET, &q, gw_key_get_done, op);
}

/* ---- PATCH /v1/keys/{id} ---- */

/*
 * The updated key's index row: refresh the in-memory entry, then reply the KeyInfo. If the
 * index cannot be refreshed the key is dropped from it (fail closed: refused until the next
 * successful PATCH or restart) and the caller gets 500, so a revocation never silently fails.
 */
static void gw_key_update_index_done(const struct db_result *res, void *arg)
{
    struct gw_key_op *op = arg;
    struct acct_index *ix = op->r->w->app->index;
    const char *hash = gw_cell(res, 0, GW_KIX_HASH);
    const char *active = gw_cell(res, 0, GW_KIX_ACTIVE);
    struct acct_key_limits lim;

    if (res->status != 0 || res->nrows == 0 || hash == NULL || active == NULL) {
        acct_index_key_remove(ix, op->id);
        if (res->status == 0 && res->nrows == 0)
            gw_key_not_found(op->r, op->id); /* deleted in between */
        else
            gw_reply_db_error(op->r, res);
        goto out;
    }
    acct_key_limits_from_row(res, 0, GW_KIX_RPM, &lim);
    if (acct_index_key_set_ex(ix, op->id, hash, gw_cell(res, 0, GW_KIX_USER),
                              strcmp(active, "0") != 0, gw_cell(res, 0, GW_KIX_EXPIRES),
                              &lim) < 0) {
        acct_index_key_remove(ix, op->id);
        LOG_ERR("rid=%s key %s updated but not re-indexed (out of memory)", op->r->rid, op->id);
        gw_reply_error(op->r, 500, "internal_error", "Internal Server Error");
        goto out;
    }
    gw_reply_json(op->r, 200, op->row);
    op->row = NULL;
out:
    gw_key_op_free(op);
}

static void gw_key_update_done(const struct db_result *res, void *arg)
{
    struct gw_key_op *op = arg;
    struct db_params q = {.n = 1};

    if (res->status != 0) {
        gw_reply_db_error(op->r, res);
        gw_key_op_free(op);
        return;
    }
    if (res->nrows == 0) {
        gw_key_not_found(op->r, op->id);
        gw_key_op_free(op);
        return;
    }
    op->row = gw_row_json(res, 0, gw_cols_key, GW_NCOLS(gw_cols_key));
    q.v[0] = db_text(op->id);
    gw_db_start(op->r, DB_Q_KEY_INDEX_ONE, &q, gw_key_update_index_done, op);
}

void gw_keys_update(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 9};
    struct gw_key_op *op;
    char expires[UTIL_TS_LEN];
    char *meta = NULL;
    json_t *body = NULL, *active, *m;

    if (!gw_auth_master(r))
        return;
    if (!gw_valid_body_json(r, &body))
        return;
    if (!gw_valid_fields(r, body, gw_key_update_fields, GW_NCOLS(gw_key_update_fields)))
        goto out;
    m = json_object_get(body, "metadata");
    if ((json_is_object(m) && (meta = json_dumps(m, JSON_COMPACT)) == NULL) ||
        gw_key_expires(json_object_get(body, "expires_at"), expires) < 0) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        goto out;
    }
    op = gw_key_op_new(r, p->v[0]);
    if (op == NULL)
        goto out;
    active = json_object_get(body, "is_active");
    q.v[0] = db_text(op->id);
    q.v[1] = db_text(json_string_value(json_object_get(body, "key_name")));
    q.v[2] = json_is_boolean(active)
                 ? (struct db_value){.type = DB_T_BOOL, .u.b = json_is_true(active)}
                 : (struct db_value){.type = DB_T_NULL};
    q.v[3] = db_text(expires[0] != '\0' ? expires : NULL);
    q.v[4] = db_text(meta);
    q.v[5] =
        (struct db_value){.type = DB_T_BOOL, .u.b = json_object_get(body, "rpm_limit") != NULL};
    q.v[6] = gw_key_limit_value(gw_key_limit(body, "rpm_limit"));
    q.v[7] =
        (struct db_value){.type = DB_T_BOOL, .u.b = json_object_get(body, "tpm_limit") != NULL};
    q.v[8] = gw_key_limit_value(gw_key_limit(body, "tpm_limit"));
    gw_db_start(r, DB_Q_KEY_UPDATE, &q, gw_key_update_done, op);
out:
    free(meta);
    json_decref(body);
}

/* ---- DELETE /v1/keys/{id} ---- */

static void gw_key_delete_done(const struct db_result *res, void *arg)
{
    struct gw_key_op *op = arg;

    if (res->status != 0) {
        gw_reply_db_error(op->r, res);
    } else if (res->nrows == 0) {
        gw_key_not_found(op->r, op->id);
    } else {
        acct_index_key_remove(op->r->w->app->index, op->id);
        gw_reply_json(op->r, 204, NULL);
    }
    gw_key_op_free(op);
}

void gw_keys_delete(struct gw_req *r, const struct gw_params *p)
{
    struct db_params q = {.n = 1};
    struct gw_key_op *op;

    if (!gw_auth_master(r))
        return;
    op = gw_key_op_new(r, p->v[0]);
    if (op == NULL)
        return;
    q.v[0] = db_text(op->id);
    gw_db_start(r, DB_Q_KEY_DELETE, &q, gw_key_delete_done, op);
}
