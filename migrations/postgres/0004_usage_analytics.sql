-- Indexes for the usage analytics API (GET /v1/usage, GET /v1/usage/summary; the queries are
-- in src/db/db_pg_sql.c). Each filter column leads an index with the timestamp second, so a
-- filter plus a window is one index range, and the newest rows of a filtered page come in
-- index order; user_id has one already (0001). PostgreSQL aggregates with hashing, so unlike
-- SQLite (0004 there) the summaries need no covering indexes.
CREATE INDEX ix_usage_logs_api_key_id_timestamp ON usage_logs (api_key_id, timestamp);
CREATE INDEX ix_usage_logs_model_timestamp ON usage_logs (model, timestamp);
CREATE INDEX ix_usage_logs_provider_timestamp ON usage_logs (provider, timestamp);
CREATE INDEX ix_usage_logs_status_timestamp ON usage_logs (status, timestamp);
