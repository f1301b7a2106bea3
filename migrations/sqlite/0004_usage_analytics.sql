-- Indexes for the usage analytics API (GET /v1/usage, GET /v1/usage/summary; the queries are
-- in src/db/db_sqlite_usage.h). Each filter column leads an index with the timestamp second, so
-- a filter plus a window is one index range. The indexes of the group_by columns (user, key,
-- model, provider) and of the hour also carry what the sums read (status, tokens, cost): a
-- summary over every row reads one index in key order, with no sort and no table lookup
-- (SQLite groups by sorting, which alone took about a second for a million rows). They cost
-- about 380 bytes a row on disk. The user index replaces 0001's (user_id, timestamp) under
-- the same name (same prefix, so it serves the same queries).
--
-- A month of one million rows (bench/usage.sh, shared 2-core machine under load): every
-- summary over the whole month in 0.27-0.46 s through HTTP (without these: 0.5-3.6 s), a
-- filtered page in 2-60 ms; figures in README "Usage analytics".
DROP INDEX ix_usage_logs_user_id_timestamp;
CREATE INDEX ix_usage_logs_user_id_timestamp ON usage_logs
    (user_id, timestamp, status, prompt_tokens, completion_tokens, total_tokens, cost);
CREATE INDEX ix_usage_logs_api_key_id_timestamp ON usage_logs
    (api_key_id, timestamp, status, prompt_tokens, completion_tokens, total_tokens, cost);
CREATE INDEX ix_usage_logs_model_timestamp ON usage_logs
    (model, timestamp, status, prompt_tokens, completion_tokens, total_tokens, cost);
CREATE INDEX ix_usage_logs_provider_timestamp ON usage_logs
    (provider, timestamp, status, prompt_tokens, completion_tokens, total_tokens, cost);
CREATE INDEX ix_usage_logs_status_timestamp ON usage_logs (status, timestamp);
CREATE INDEX ix_usage_logs_hour ON usage_logs
    (substr(timestamp, 1, 13), timestamp, status, prompt_tokens, completion_tokens,
     total_tokens, cost);
