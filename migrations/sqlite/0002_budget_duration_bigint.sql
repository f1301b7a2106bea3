-- budgets.budget_duration_sec: SQLite's INTEGER is already 64-bit, so nothing changes here; the
-- migration exists so both backends have the same versions (PostgreSQL widens the column to
-- BIGINT in its 0002 to hold up to 100 years, the API's limit).
SELECT 1;
