-- 0001_initial (PostgreSQL): the reference's final schema (alembic head 967575f779b7, spec §3
-- "Final schema (PostgreSQL)") plus usage_logs.usage_estimated (DESIGN §2.4). Same table,
-- column, constraint and index names and the same ON DELETE behaviour as
-- migrations/sqlite/0001_initial.sql (DESIGN §2.6).
--
-- Types as the reference: VARCHAR, DOUBLE PRECISION, INTEGER, BOOLEAN, JSON (not jsonb) and
-- TIMESTAMPTZ. Timestamps stay native timestamptz so they compare as times and the reference's
-- data can be read as is; the backend (src/db/db_pg.c) pins each session to UTC and turns
-- timestamptz and boolean cells into the SQLite backend's text (util_ts_format() form, 1/0),
-- so callers cannot tell the two databases apart.
--
-- As in the reference there are no server-side defaults (the application fills spend,
-- blocked, is_active, metadata and timestamps); the one exception is usage_estimated.
-- The runner (db_migrations_apply) applies this in one transaction, under a session
-- advisory lock so replicas starting at once migrate one after the other.

CREATE TABLE budgets (
    budget_id VARCHAR NOT NULL,
    max_budget DOUBLE PRECISION,
    budget_duration_sec INTEGER,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT budgets_pkey PRIMARY KEY (budget_id)
);

CREATE TABLE model_pricing (
    model_key VARCHAR NOT NULL,
    input_price_per_million DOUBLE PRECISION NOT NULL,
    output_price_per_million DOUBLE PRECISION NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT model_pricing_pkey PRIMARY KEY (model_key)
);

CREATE TABLE users (
    user_id VARCHAR NOT NULL,
    alias VARCHAR,
    spend DOUBLE PRECISION NOT NULL,
    budget_id VARCHAR,
    blocked BOOLEAN NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    metadata JSON NOT NULL,
    budget_started_at TIMESTAMP WITH TIME ZONE,
    next_budget_reset_at TIMESTAMP WITH TIME ZONE,
    deleted_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT users_pkey PRIMARY KEY (user_id),
    CONSTRAINT users_budget_id_fkey FOREIGN KEY (budget_id) REFERENCES budgets (budget_id)
);

CREATE INDEX ix_users_deleted_at ON users (deleted_at);

CREATE TABLE api_keys (
    id VARCHAR NOT NULL,
    key_hash VARCHAR NOT NULL,
    key_name VARCHAR,
    user_id VARCHAR,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    last_used_at TIMESTAMP WITH TIME ZONE,
    expires_at TIMESTAMP WITH TIME ZONE,
    is_active BOOLEAN NOT NULL,
    metadata JSON NOT NULL,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (user_id)
        ON DELETE CASCADE
);

CREATE UNIQUE INDEX ix_api_keys_key_hash ON api_keys (key_hash);
CREATE INDEX ix_api_keys_user_id ON api_keys (user_id);

-- status: success | error | cancelled (client gone mid-stream, DESIGN §2.4).
CREATE TABLE usage_logs (
    id VARCHAR NOT NULL,
    api_key_id VARCHAR,
    user_id VARCHAR,
    timestamp TIMESTAMP WITH TIME ZONE NOT NULL,
    model VARCHAR NOT NULL,
    provider VARCHAR,
    endpoint VARCHAR NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cost DOUBLE PRECISION,
    status VARCHAR NOT NULL,
    error_message VARCHAR,
    usage_estimated BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT usage_logs_pkey PRIMARY KEY (id),
    CONSTRAINT usage_logs_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES api_keys (id)
        ON DELETE SET NULL,
    CONSTRAINT usage_logs_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (user_id)
        ON DELETE SET NULL
);

CREATE INDEX ix_usage_logs_api_key_id ON usage_logs (api_key_id);
CREATE INDEX ix_usage_logs_user_id ON usage_logs (user_id);
CREATE INDEX ix_usage_logs_timestamp ON usage_logs (timestamp);
CREATE INDEX ix_usage_logs_user_id_timestamp ON usage_logs (user_id, timestamp);

CREATE TABLE budget_reset_logs (
    id SERIAL NOT NULL,
    user_id VARCHAR,
    budget_id VARCHAR NOT NULL,
    previous_spend DOUBLE PRECISION NOT NULL,
    reset_at TIMESTAMP WITH TIME ZONE NOT NULL,
    next_reset_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT budget_reset_logs_pkey PRIMARY KEY (id),
    CONSTRAINT budget_reset_logs_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (user_id)
        ON DELETE SET NULL,
    CONSTRAINT budget_reset_logs_budget_id_fkey FOREIGN KEY (budget_id)
        REFERENCES budgets (budget_id)
);

CREATE INDEX ix_budget_reset_logs_user_id ON budget_reset_logs (user_id);
