/*
 * The in-memory index of virtual keys (DESIGN.md §2.7): authentication costs no database round
 * trip. Loaded at start-up, updated write-through by the admin endpoints after each commit,
 * shared by every worker thread (read-mostly, one rwlock). last_used_at is recorded here and
 * written to the database in batches (gw_index_flush_touched), never on a request's path.
 */
#ifndef GW_INDEX_H
#define GW_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "sha256.h"
#include "util.h"

struct db;
struct event_base;
struct gw_index;

enum gw_key_state { GW_KEY_OK, GW_KEY_UNKNOWN, GW_KEY_INACTIVE, GW_KEY_EXPIRED };

/* What a request learns about its key (copied out under the lock). */
struct gw_key_ref {
    char id[UTIL_UUID_LEN];
    char user_id[256]; /* "" when the key has no user */
};

/* Returns owned index (free with gw_index_free()) or NULL. */
struct gw_index *gw_index_new(void);
void gw_index_free(struct gw_index *ix);

/* Start-up: loads every key from the database (synchronously). Returns 0 or -1. */
int gw_index_load(struct gw_index *ix, struct db *db) __attribute__((warn_unused_result));

/*
 * Inserts or replaces the key with this id. expires_at: ISO-8601 text or NULL. user_id may be
 * NULL. Returns 0 or -1 (out of memory).
 */
int gw_index_key_set(struct gw_index *ix, const char *id, const char *hash, const char *user_id,
                     bool active, const char *expires_at);

/* Forgets the key with this id (no-op when unknown). */
void gw_index_key_remove(struct gw_index *ix, const char *id);

/* Marks every key of user_id inactive (user soft delete). */
void gw_index_user_deactivate(struct gw_index *ix, const char *user_id);

/*
 * Looks up a key by the hex SHA-256 of its text at time now_us. On GW_KEY_OK fills *out and
 * records now_us as the key's last use.
 */
enum gw_key_state gw_index_key_check(struct gw_index *ix, const char *hash, int64_t now_us,
                                     struct gw_key_ref *out);

/*
 * Queues an UPDATE of last_used_at for every key used since the last flush (fire and forget,
 * results on base). Returns the number of keys written.
 */
int gw_index_flush_touched(struct gw_index *ix, struct db *db, struct event_base *base);

#endif
