-- Per-key rate limits (README "Rate limits"): requests and tokens per minute, NULL for none.
-- rate_counts: each replica's per-second counts of the last minute, upserted and read by the
-- replica sync thread so the limits hold across replicas (acct_rate.h); rows older than the
-- window are deleted by every replica.
ALTER TABLE api_keys ADD COLUMN rpm_limit BIGINT;
ALTER TABLE api_keys ADD COLUMN tpm_limit BIGINT;
CREATE UNLOGGED TABLE rate_counts (
    replica_id VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    second BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    PRIMARY KEY (replica_id, subject, second)
);
CREATE INDEX ix_rate_counts_second ON rate_counts (second);
