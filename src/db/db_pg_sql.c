/*
 * The PostgreSQL backend's SQL, one entry per enum db_query (contract in db.h; same semantics as
 * the SQLite table in db_sqlite.c).
 */
#include "db/db_pg.h"

/*
 * Usage analytics filters: $1 start, $2 end, $3 user_id, $4 api_key_id, $5 model, $6 provider,
 * $7 status, NULL meaning any. Queries go out unnamed, so PostgreSQL plans each with its values
 * and folds the NULL tests away: a given filter becomes a plain indexable condition.
 */
#define PG_U_WHERE                                                                                 \
    " FROM usage_logs WHERE ($1::timestamptz IS NULL OR timestamp >= $1::timestamptz) "            \
    "AND ($2::timestamptz IS NULL OR timestamp < $2::timestamptz) "                                \
    "AND ($3::varchar IS NULL OR user_id = $3) AND ($4::varchar IS NULL OR api_key_id = $4) "      \
    "AND ($5::varchar IS NULL OR model = $5) AND ($6::varchar IS NULL OR provider = $6) "          \
    "AND ($7::varchar IS NULL OR status = $7)"
#define PG_U_AGG                                                                                   \
    "count(*) AS n, count(*) FILTER (WHERE status <> 'success') AS e, "                            \
    "coalesce(sum(prompt_tokens), 0) AS pt, coalesce(sum(completion_tokens), 0) AS ct, "           \
    "coalesce(sum(total_tokens), 0) AS tt, coalesce(sum(cost), 0) AS cs" PG_U_WHERE
/* Sums per UTC time bucket (unit of date_trunc, to_char format of the key), ascending. */
#define PG_U_SUM_TIME(unit, fmt)                                                                   \
    "SELECT to_char(date_trunc('" unit "', timestamp AT TIME ZONE 'UTC'), '" fmt "'), " PG_U_AGG   \
    " GROUP BY date_trunc('" unit "', timestamp AT TIME ZONE 'UTC') "                              \
    "ORDER BY date_trunc('" unit "', timestamp AT TIME ZONE 'UTC')"
/* Sums per value of col, by cost, then requests, then value (null last, bytewise as SQLite). */
#define PG_U_SUM_COL(col)                                                                          \
    "SELECT " col ", " PG_U_AGG " GROUP BY " col " ORDER BY cs DESC, n DESC, " col                 \
    " IS NULL, " col " COLLATE \"C\""

/*
 * SQL per query, "$N" placeholders only, same semantics as the SQLite table. Parameters are
 * sent untyped, so the server infers each from its context (as SQLite's dynamic typing
 * accepts anything); casts mark the few places with no context. Statements separated by ';'
 * run in one transaction. Lists order by created_at (SQLite uses rowid, i.e. insertion order).
 */
const char *const db_pg_sql[DB_Q__COUNT] = {
    [DB_Q_PING] = "SELECT count(*) FROM schema_migrations",
    [DB_Q_SCHEMA_VERSIONS] = "SELECT version, applied_at FROM schema_migrations "
                             "ORDER BY version COLLATE \"C\"",
    [DB_Q_SCHEMA_VERSION] = "SELECT version, applied_at FROM schema_migrations WHERE version = $1",
    [DB_Q_ECHO] = "SELECT $1, $2, $3, $4",

    [DB_Q_BUDGET_INSERT] = "INSERT INTO budgets (budget_id, max_budget, budget_duration_sec, "
                           "created_at, updated_at) VALUES ($1, $2, $3, $4, $4) "
                           "RETURNING " DB_COLS_BUDGET,
    [DB_Q_BUDGET_LIST] = "SELECT " DB_COLS_BUDGET " FROM budgets ORDER BY created_at, budget_id "
                         "LIMIT $1 OFFSET $2",
    [DB_Q_BUDGET_ALL] = "SELECT " DB_COLS_BUDGET " FROM budgets ORDER BY created_at, budget_id",
    [DB_Q_BUDGET_GET] = "SELECT " DB_COLS_BUDGET " FROM budgets WHERE budget_id = $1",
    [DB_Q_BUDGET_UPDATE] = "UPDATE budgets SET max_budget = coalesce($2, max_budget), "
                           "budget_duration_sec = coalesce($3, budget_duration_sec), "
                           "updated_at = $4 WHERE budget_id = $1 RETURNING " DB_COLS_BUDGET,
    [DB_Q_BUDGET_DELETE] = "UPDATE users SET budget_id = NULL WHERE budget_id = $1;"
                           "DELETE FROM budgets WHERE budget_id = $1 RETURNING budget_id",

    [DB_Q_USER_UPSERT] =
        "INSERT INTO users (user_id, alias, spend, budget_id, blocked, created_at, updated_at, "
        "metadata, budget_started_at, next_budget_reset_at, deleted_at) "
        "VALUES ($1, $2, 0.0, $3, $4, $8, $8, $5, $6, $7, NULL) "
        "ON CONFLICT (user_id) DO UPDATE SET alias = excluded.alias, spend = 0.0, "
        "budget_id = excluded.budget_id, blocked = excluded.blocked, metadata = excluded.metadata, "
        "budget_started_at = excluded.budget_started_at, "
        "next_budget_reset_at = excluded.next_budget_reset_at, deleted_at = NULL, "
        "updated_at = excluded.updated_at WHERE users.deleted_at IS NOT NULL "
        "RETURNING " DB_COLS_USER,
    [DB_Q_USER_LIST] = "SELECT " DB_COLS_USER " FROM users WHERE deleted_at IS NULL "
                       "ORDER BY created_at, user_id LIMIT $1 OFFSET $2",
    [DB_Q_USER_ALL] = "SELECT " DB_COLS_USER " FROM users ORDER BY created_at, user_id",
    [DB_Q_USER_GET] = "SELECT " DB_COLS_USER " FROM users WHERE user_id = $1",
    [DB_Q_USER_UPDATE] =
        "UPDATE users SET alias = coalesce($2, alias), budget_id = coalesce($3, budget_id), "
        "blocked = coalesce($4, blocked), metadata = coalesce($5, metadata), "
        "budget_started_at = CASE WHEN $9::boolean THEN $6::timestamptz "
        "ELSE budget_started_at END, "
        "next_budget_reset_at = CASE WHEN $9::boolean THEN $7::timestamptz "
        "ELSE next_budget_reset_at END, "
        "updated_at = $8 WHERE user_id = $1 AND deleted_at IS NULL RETURNING " DB_COLS_USER,
    [DB_Q_USER_DELETE] = "UPDATE api_keys SET is_active = false WHERE user_id = $1 AND EXISTS "
                         "(SELECT 1 FROM users WHERE user_id = $1 AND deleted_at IS NULL);"
                         "UPDATE users SET deleted_at = $2, updated_at = $2 "
                         "WHERE user_id = $1 AND deleted_at IS NULL RETURNING user_id",
    [DB_Q_USAGE_LIST] = "SELECT " DB_COLS_USAGE " FROM usage_logs WHERE user_id = $1 "
                        "ORDER BY timestamp DESC LIMIT $2 OFFSET $3",

    [DB_Q_KEY_CREATE] =
        "INSERT INTO users (user_id, alias, spend, blocked, created_at, updated_at, metadata) "
        "VALUES ($4, $8, 0.0, false, $5, $5, '{}') ON CONFLICT (user_id) DO NOTHING;"
        "INSERT INTO api_keys (id, key_hash, key_name, user_id, created_at, expires_at, "
        "is_active, metadata, rpm_limit, tpm_limit) VALUES ($1, $2, $3, $4, $5, $6, true, $7, "
        "$9::bigint, $10::bigint) RETURNING " DB_COLS_KEY,
    [DB_Q_KEY_LIST] = "SELECT " DB_COLS_KEY " FROM api_keys ORDER BY created_at, id "
                      "LIMIT $1 OFFSET $2",
    [DB_Q_KEY_GET] = "SELECT " DB_COLS_KEY " FROM api_keys WHERE id = $1",
    [DB_Q_KEY_UPDATE] = "UPDATE api_keys SET key_name = coalesce($2, key_name), "
                        "is_active = coalesce($3, is_active), "
                        "expires_at = coalesce($4, expires_at), "
                        "metadata = coalesce($5, metadata), "
                        "rpm_limit = CASE WHEN $6::boolean THEN $7::bigint ELSE rpm_limit END, "
                        "tpm_limit = CASE WHEN $8::boolean THEN $9::bigint ELSE tpm_limit END "
                        "WHERE id = $1 RETURNING " DB_COLS_KEY,
    [DB_Q_KEY_DELETE] = "DELETE FROM api_keys WHERE id = $1 RETURNING id, key_hash",
    [DB_Q_KEY_INDEX] = "SELECT id, key_hash, user_id, is_active, expires_at, rpm_limit, tpm_limit "
                       "FROM api_keys "
                       "ORDER BY created_at, id",
    [DB_Q_KEY_INDEX_ONE] =
        "SELECT id, key_hash, user_id, is_active, expires_at, rpm_limit, tpm_limit "
        "FROM api_keys "
        "WHERE id = $1",
    [DB_Q_KEY_TOUCH] = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1",
    [DB_Q_KEY_COUNT] = "SELECT count(*) FROM api_keys",

    [DB_Q_PRICE_UPSERT] =
        "INSERT INTO model_pricing (model_key, input_price_per_million, "
        "output_price_per_million, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) "
        "ON CONFLICT (model_key) DO UPDATE SET "
        "input_price_per_million = excluded.input_price_per_million, "
        "output_price_per_million = excluded.output_price_per_million, "
        "updated_at = excluded.updated_at RETURNING " DB_COLS_PRICE,
    [DB_Q_PRICE_INSERT_ABSENT] =
        "INSERT INTO model_pricing (model_key, input_price_per_million, "
        "output_price_per_million, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) "
        "ON CONFLICT (model_key) DO NOTHING RETURNING " DB_COLS_PRICE,
    [DB_Q_PRICE_LIST] = "SELECT " DB_COLS_PRICE " FROM model_pricing "
                        "ORDER BY created_at, model_key COLLATE \"C\" LIMIT $1 OFFSET $2",
    [DB_Q_PRICE_ALL] = "SELECT " DB_COLS_PRICE " FROM model_pricing "
                       "ORDER BY model_key COLLATE \"C\"",
    [DB_Q_PRICE_GET] = "SELECT " DB_COLS_PRICE " FROM model_pricing WHERE model_key = $1",
    [DB_Q_PRICE_DELETE] = "DELETE FROM model_pricing WHERE model_key = $1 RETURNING model_key",

    /* WITH ORDINALITY keeps the array order, so rows are inserted in the order they were queued. */
    [DB_Q_USAGE_INSERT_BATCH] =
        "INSERT INTO usage_logs (id, api_key_id, user_id, timestamp, model, provider, endpoint, "
        "prompt_tokens, completion_tokens, total_tokens, cost, status, error_message, "
        "usage_estimated) SELECT r ->> 'id', "
        "(SELECT k.id FROM api_keys AS k WHERE k.id = r ->> 'key'), "
        "(SELECT u.user_id FROM users AS u WHERE u.user_id = r ->> 'user'), "
        "(r ->> 'ts')::timestamptz, r ->> 'model', r ->> 'provider', r ->> 'endpoint', "
        "(r ->> 'pt')::numeric::integer, (r ->> 'ct')::numeric::integer, "
        "(r ->> 'tt')::numeric::integer, (r ->> 'cost')::double precision, r ->> 'status', "
        "r ->> 'err', coalesce(r ->> 'est', '0') IN ('1', 'true') "
        "FROM json_array_elements($1::json) WITH ORDINALITY AS a (r, n) ORDER BY a.n;"
        "UPDATE users SET spend = users.spend + b.total FROM (SELECT r ->> 'user' AS uid, "
        "sum((r ->> 'cost')::double precision) AS total FROM json_array_elements($1::json) AS r "
        "WHERE r ->> 'cost' IS NOT NULL GROUP BY 1) AS b "
        "WHERE users.user_id = b.uid AND users.deleted_at IS NULL",
    [DB_Q_BUDGET_RESET] =
        "INSERT INTO budget_reset_logs (user_id, budget_id, previous_spend, reset_at, "
        "next_reset_at) SELECT $1::varchar, $2::varchar, $3::double precision, "
        "$4::timestamptz, $5::timestamptz "
        "WHERE EXISTS (SELECT 1 FROM budgets WHERE budget_id = $2) "
        "AND EXISTS (SELECT 1 FROM users WHERE user_id = $1 AND deleted_at IS NULL);"
        "UPDATE users SET spend = 0.0, budget_started_at = $4, next_budget_reset_at = $5, "
        "updated_at = $4 WHERE user_id = $1 AND deleted_at IS NULL",
    [DB_Q_USAGE_FILTER_PAGE] = "SELECT " DB_COLS_USAGE PG_U_WHERE
                               " ORDER BY timestamp DESC, id COLLATE \"C\" DESC LIMIT $8 OFFSET $9",
    [DB_Q_USAGE_FILTER_COUNT] = "SELECT count(*)" PG_U_WHERE,
    [DB_Q_USAGE_SUM_DAY] = PG_U_SUM_TIME("day", "YYYY-MM-DD"),
    [DB_Q_USAGE_SUM_HOUR] = PG_U_SUM_TIME("hour", "YYYY-MM-DD\"T\"HH24\":00:00+00:00\""),
    [DB_Q_USAGE_SUM_USER] = PG_U_SUM_COL("user_id"),
    [DB_Q_USAGE_SUM_KEY] = PG_U_SUM_COL("api_key_id"),
    [DB_Q_USAGE_SUM_MODEL] = PG_U_SUM_COL("model"),
    [DB_Q_USAGE_SUM_PROVIDER] = PG_U_SUM_COL("provider"),
    [DB_Q_RATE_PUBLISH] =
        "INSERT INTO rate_counts (replica_id, subject, second, requests, tokens) "
        "SELECT $1::varchar, r ->> 's', (r ->> 't')::bigint, (r ->> 'r')::bigint, "
        "(r ->> 'k')::bigint FROM json_array_elements($2::json) AS r "
        "ON CONFLICT (replica_id, subject, second) DO UPDATE SET "
        "requests = excluded.requests, tokens = excluded.tokens;"
        "DELETE FROM rate_counts WHERE second < $3::bigint",
    [DB_Q_RATE_OTHERS] = "SELECT subject, second, sum(requests), sum(tokens) FROM rate_counts "
                         "WHERE replica_id <> $1 AND second >= $2::bigint GROUP BY subject, second",
};
_Static_assert(sizeof(db_pg_sql) / sizeof(db_pg_sql[0]) == DB_Q__COUNT,
               "every enum db_query needs PostgreSQL SQL");
