/*
 * Internal to the PostgreSQL backend (db_pg.c, db_pg_sql.c, db_pg_conninfo.c): the SQL table,
 * connection-string handling and the message cleaner they share.
 */
#ifndef DB_PG_H
#define DB_PG_H

#include <stddef.h>

#include "db/db.h"

#define PG_POOL_DEFAULT 4
#define PG_POOL_MAX 64
#define PG_CONNECT_TIMEOUT_MS 5000

/* SQL per query ("$N" placeholders; statements separated by ';' run in one transaction). */
extern const char *const db_pg_sql[DB_Q__COUNT];

/* libpq connection parameters parsed from a database_url, plus our own settings. */
struct pg_conninfo {
    const char **kw, **val; /* NULL-terminated; owned */
    char *strings;          /* owned storage behind kw/val */
    int npool;
    int connect_timeout_ms;
};

/*
 * Builds ci from url (postgresql://, postgres://, postgresql+psycopg2:// in any case, or a libpq
 * keyword string; our own pool_size parameter is taken out). Returns 0, or -1 with err (no
 * password in it); ci then needs db_pg_conninfo_free() either way.
 */
int db_pg_conninfo_build(struct pg_conninfo *ci, const char *url, char *err, size_t errlen);
void db_pg_conninfo_free(struct pg_conninfo *ci);

/* Copies a libpq message as one line without secrets (log_redact) into dst. */
void db_pg_clean_msg(char *dst, size_t dstlen, const char *msg);

/* libpq notice processor: notices go to the debug log. */
void db_pg_notice(void *arg, const char *msg);

/*
 * Applies the PostgreSQL migrations up to target (see db_migrate_to()) over a blocking connection
 * of its own, holding a session advisory lock so replicas starting at once take turns. The lock
 * is polled, so db_interrupt(db) ends the wait; the session has a lock_timeout so a migration
 * statement cannot wait forever behind another session's locks. Start-up only. Returns 0, or
 * -1 with err.
 */
int db_pg_migrate(const struct pg_conninfo *ci, struct db *db, const char *target, char *err,
                  size_t errlen);

#endif
