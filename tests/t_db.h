/*
 * Storage tests shared by the SQLite and PostgreSQL suites.
 */
#ifndef T_DB_H
#define T_DB_H

struct db;

/* What DB_Q_PING answers on a migrated database: the number of migrations in migrations/<db>/. */
#define T_DB_NMIGRATIONS "4"

/*
 * Runs per_thread DB_Q_PING queries from each of nthreads threads, each thread on an event_base
 * of its own, closes db (which answers whatever is still queued), then asserts every thread got
 * every answer, right, on its own thread. db must be migrated.
 */
void t_db_many_threads(struct db *db, int nthreads, int per_thread);

#endif
