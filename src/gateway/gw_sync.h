/*
 * Replica sync (DESIGN.md §2.7): when several gateways share one PostgreSQL database, a thread
 * of its own refreshes the in-memory index from the database every interval, so a key revoked
 * or a user blocked through another replica is refused here within about one interval, and
 * spend written by the others counts in budget admission here.
 */
#ifndef GW_SYNC_H
#define GW_SYNC_H

struct db;
struct gw_index;
struct gw_sync;

/* Default refresh interval: revocations reach every replica within a second. */
#define GW_SYNC_INTERVAL_MS 500

/*
 * Starts the refresh thread over ix and db (both borrowed; they must outlive gw_sync_stop()).
 * interval_ms <= 0 means GW_SYNC_INTERVAL_MS. Returns owned state (stop and free with
 * gw_sync_stop()) or NULL.
 */
struct gw_sync *gw_sync_start(struct gw_index *ix, struct db *db, int interval_ms);

/* Stops the thread (waits for a refresh in progress) and frees. NULL-safe. */
void gw_sync_stop(struct gw_sync *s);

#endif
