-- 0001_initial (SQLite): the reference's final schema (alembic head 967575f779b7, PostgreSQL
-- column list) with the PostgreSQL ON DELETE behaviour on SQLite too (DESIGN §2.6) and
-- usage_logs.usage_estimated (DESIGN §2.4).
--
-- Types: TEXT for VARCHAR and JSON, REAL for FLOAT, INTEGER for INTEGER and BOOLEAN (0/1),
-- TEXT for timestamps. The application writes every timestamp itself, always with
-- util_ts_format(): ISO-8601 UTC ending in "+00:00" (2025-11-07T16:41:44.429258+00:00, the
-- fraction omitted when 0). That single form makes text order equal time order ('+' sorts
-- before '.', so a whole second precedes its fractions).
--
-- As in the reference there are no server-side defaults (the application fills spend,
-- blocked, is_active, metadata and timestamps); the one exception is usage_estimated.
-- Foreign keys need PRAGMA foreign_keys=ON, which the gateway sets on its connection.

CREATE TABLE budgets (
    budget_id TEXT NOT NULL PRIMARY KEY,
    max_budget REAL,
    budget_duration_sec INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE model_pricing (
    model_key TEXT NOT NULL PRIMARY KEY,
    input_price_per_million REAL NOT NULL,
    output_price_per_million REAL NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE users (
    user_id TEXT NOT NULL PRIMARY KEY,
    alias TEXT,
    spend REAL NOT NULL,
    budget_id TEXT,
    blocked INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    metadata TEXT NOT NULL,
    budget_started_at TEXT,
    next_budget_reset_at TEXT,
    deleted_at TEXT,
    CONSTRAINT users_budget_id_fkey FOREIGN KEY (budget_id) REFERENCES budgets (budget_id)
);

CREATE INDEX ix_users_deleted_at ON users (deleted_at);

CREATE TABLE api_keys (
    id TEXT NOT NULL PRIMARY KEY,
    key_hash TEXT NOT NULL,
    key_name TEXT,
    user_id TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    expires_at TEXT,
    is_active INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (user_id)
        ON DELETE CASCADE
);

CREATE UNIQUE INDEX ix_api_keys_key_hash ON api_keys (key_hash);
CREATE INDEX ix_api_keys_user_id ON api_keys (user_id);

-- status: success | error | cancelled (client gone mid-stream, DESIGN §2.4).
CREATE TABLE usage_logs (
    id TEXT NOT NULL PRIMARY KEY,
    api_key_id TEXT,
    user_id TEXT,
    timestamp TEXT NOT NULL,
    model TEXT NOT NULL,
    provider TEXT,
    endpoint TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cost REAL,
    status TEXT NOT NULL,
    error_message TEXT,
    usage_estimated INTEGER NOT NULL DEFAULT 0,
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT,
    budget_id TEXT NOT NULL,
    previous_spend REAL NOT NULL,
    reset_at TEXT NOT NULL,
    next_reset_at TEXT,
    CONSTRAINT budget_reset_logs_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (user_id)
        ON DELETE SET NULL,
    CONSTRAINT budget_reset_logs_budget_id_fkey FOREIGN KEY (budget_id)
        REFERENCES budgets (budget_id)
);

CREATE INDEX ix_budget_reset_logs_user_id ON budget_reset_logs (user_id);
