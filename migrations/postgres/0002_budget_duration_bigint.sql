-- budgets.budget_duration_sec holds up to 100 years (3155760000 s, the API's limit), which does
-- not fit PostgreSQL's 32-bit INTEGER; SQLite's INTEGER is already 64-bit (its 0002 is a no-op),
-- so both backends store the same range.
ALTER TABLE budgets ALTER COLUMN budget_duration_sec TYPE BIGINT;
