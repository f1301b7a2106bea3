-- Per-key rate limits (README "Rate limits"): requests and tokens per minute, NULL for none.
-- rate_counts holds each replica's per-second counts for the PostgreSQL replica sync; SQLite is
-- one process and never uses it, but the table exists so both backends have the same schema.
ALTER TABLE api_keys ADD COLUMN rpm_limit INTEGER;
ALTER TABLE api_keys ADD COLUMN tpm_limit INTEGER;
CREATE TABLE rate_counts (
    replica_id VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    second INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    PRIMARY KEY (replica_id, subject, second)
);
CREATE INDEX ix_rate_counts_second ON rate_counts (second);
