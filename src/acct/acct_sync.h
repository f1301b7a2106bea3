/*
 * Replica sync (DESIGN.md §2.7): when several gateways share one PostgreSQL database, a thread
 * of its own refreshes the in-memory index from the database every interval, so a key revoked
 * or a user blocked through another replica is refused here within about one interval, and
 * spend written by the others counts in budget admission here. The same thread shares the
 * rate-limit counts (acct_rate.h) through the rate_counts table, so the limits hold across
 * replicas: another replica's requests count here within about two intervals (its publication,
 * then this replica's read), which bounds what all replicas together can admit over a limit.
 */
#ifndef ACCT_SYNC_H
#define ACCT_SYNC_H

#include <stdint.h>

struct db;
struct acct_index;
struct acct_sync;

/* Default refresh interval: revocations reach every replica within a second. */
#define ACCT_SYNC_INTERVAL_MS 500

/*
 * Starts the refresh thread over ix and db (both borrowed; they must outlive acct_sync_stop()).
 * interval_ms <= 0 means ACCT_SYNC_INTERVAL_MS. Returns owned state (stop and free with
 * acct_sync_stop()) or NULL.
 */
struct acct_sync *acct_sync_start(struct acct_index *ix, struct db *db, int interval_ms);

/* Wall-clock µs of the last successful refresh (0: none yet). Any thread. */
int64_t acct_sync_last_ok_us(struct acct_sync *s);

/* Stops the thread (waits for a refresh in progress) and frees. NULL-safe. */
void acct_sync_stop(struct acct_sync *s);

#endif
