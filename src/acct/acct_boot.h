/*
 * Start-up work that needs the database: the bootstrap key (spec §2.6), config pricing
 * (spec §5.3) and loading the in-memory index; with retry while the database is away.
 */
#ifndef ACCT_BOOT_H
#define ACCT_BOOT_H

#include <stddef.h>

struct cfg;
struct db;
struct acct_index;

/*
 * Runs every start-up step in order. Returns 0, or -1 with a one-line message in err (a
 * configuration problem such as pricing for a provider missing under providers:, or a
 * database failure).
 */
int acct_boot(const struct cfg *cfg, struct db *db, struct acct_index *ix, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * The configuration checks of acct_boot() that need no database (pricing entries name configured
 * providers). Returns 0, or -1 with a one-line message in err: a configuration error.
 */
int acct_boot_check(const struct cfg *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * Start-up that waits for the database (issue: a database down at start-up must not kill
 * the gateway): runs the migrations (when cfg->auto_migrate) and acct_boot() once on the calling
 * thread; on success calls ready(arg) before returning. On failure it logs why and keeps
 * retrying on a thread of its own with backoff (250 ms doubling to 10 s) until an attempt
 * succeeds, then calls ready(arg) on that thread. Returns the owned handle (end it with
 * acct_boot_stop()), or NULL when out of memory or no thread could start.
 */
typedef void acct_boot_ready_fn(void *arg);
struct acct_boot_run;
struct acct_boot_run *acct_boot_start(const struct cfg *cfg, struct db *db, struct acct_index *ix,
                                      acct_boot_ready_fn *ready, void *arg);

/* Stops retrying and waits for the thread (after ready() if it is running). NULL-safe. */
void acct_boot_stop(struct acct_boot_run *b);

#endif
