/*
 * Start-up work that needs the database, run once before the event loops start: the
 * bootstrap key (spec §2.6), config pricing (spec §5.3) and loading the in-memory index.
 */
#ifndef GW_BOOT_H
#define GW_BOOT_H

#include <stddef.h>

struct cfg;
struct db;
struct gw_index;

/*
 * Runs every start-up step in order. Returns 0, or -1 with a one-line message in err (a
 * configuration problem such as pricing for a provider missing under providers:, or a
 * database failure).
 */
int gw_boot(const struct cfg *cfg, struct db *db, struct gw_index *ix, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
