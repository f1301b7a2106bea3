/*
 * Migrations of the PostgreSQL backend: synchronous, on the caller's thread (start-up and the
 * migrate command only), over a connection of their own, under an advisory lock.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "db/db.h"
#include "db/db_migrations.h"
#include "db/db_pg.h"
#include "log.h"

/* pg_advisory_lock key serialising migrations across replicas ("anyllmgw"). */
#define PG_MIGRATE_LOCK "7020945710798026615"
#define PG_MIGRATE_LOCK_POLL_MS 100
#define PG_MIGRATE_LOCK_WAIT_MS 300000 /* another replica's migration taking longer: give up */
/* A migration statement waiting behind another session's table locks fails instead of hanging
 * (start-up then retries in the background). */
#define PG_MIGRATE_SESSION "SET lock_timeout = '10s'"

static int pg_io_check(PGresult *r, char *err, size_t errlen)
{
    ExecStatusType st = PQresultStatus(r);
    const char *msg;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 0;
    msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    db_pg_clean_msg(err, errlen, msg != NULL ? msg : PQresultErrorMessage(r));
    return -1;
}

static int pg_io_script(void *ctx, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(ctx, sql);
    int rc = pg_io_check(r, err, errlen);

    PQclear(r);
    return rc;
}

static int pg_io_applied(void *ctx, const char *version, char *err, size_t errlen)
{
    const char *vals[1] = {version};
    PGresult *r = PQexecParams(ctx, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
                               vals, NULL, NULL, 0);
    int rc = pg_io_check(r, err, errlen);

    if (rc == 0)
        rc = PQntuples(r) > 0 ? 1 : 0;
    PQclear(r);
    return rc;
}

static int pg_io_record(void *ctx, const char *version, const char *applied_at, char *err,
                        size_t errlen)
{
    const char *vals[2] = {version, applied_at};
    PGresult *r =
        PQexecParams(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", 2,
                     NULL, vals, NULL, NULL, 0);
    int rc = pg_io_check(r, err, errlen);

    PQclear(r);
    return rc;
}

static const struct db_migrate_io pg_migrate_io = {
    .begin_sql = "BEGIN",
    .script = pg_io_script,
    .applied = pg_io_applied,
    .record = pg_io_record,
};

/* Takes the session advisory lock, polling so db_interrupt() can end the wait. 0 or -1. */
static int pg_migrate_lock(PGconn *c, struct db *db, char *err, size_t errlen)
{
    struct timespec nap = {0, PG_MIGRATE_LOCK_POLL_MS * 1000000L};
    char msg[256];

    for (long waited = 0;; waited += PG_MIGRATE_LOCK_POLL_MS) {
        PGresult *r = PQexec(c, "SELECT pg_try_advisory_lock(" PG_MIGRATE_LOCK ")");
        int rc = pg_io_check(r, msg, sizeof(msg));
        bool got = rc == 0 && PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;

        PQclear(r);
        if (rc < 0) {
            snprintf(err, errlen, "cannot take the migration lock: %s", msg);
            return -1;
        }
        if (got)
            return 0;
        if (db_migrate_is_nowait(db)) {
            snprintf(err, errlen, "another replica is migrating the database");
            return -1;
        }
        if (waited == 0)
            LOG_INFO("migrations: waiting for another replica's migration to finish");
        if (db_interrupted(db)) {
            snprintf(err, errlen,
                     "migration interrupted while waiting for another replica's "
                     "migration lock (stop requested)");
            return -1;
        }
        if (waited >= PG_MIGRATE_LOCK_WAIT_MS) {
            snprintf(err, errlen, "another session has held the migration lock for %d s",
                     PG_MIGRATE_LOCK_WAIT_MS / 1000);
            return -1;
        }
        nanosleep(&nap, NULL);
    }
}

/*
 * Runs on the caller's thread over its own blocking connection (start-up only). A session
 * advisory lock serialises replicas that migrate at once: the second waits, then finds every
 * migration recorded (schema_migrations' CREATE TABLE IF NOT EXISTS is not safe concurrently).
 */
int db_pg_migrate(const struct pg_conninfo *ci, struct db *db, const char *target, char *err,
                  size_t errlen)
{
    PGconn *c = PQconnectdbParams(ci->kw, ci->val, 0);
    char msg[256];
    int rc = -1;

    if (c == NULL || PQstatus(c) != CONNECTION_OK) {
        db_pg_clean_msg(msg, sizeof(msg), c != NULL ? PQerrorMessage(c) : "out of memory");
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s", msg);
        PQfinish(c);
        return -1;
    }
    PQsetNoticeProcessor(c, db_pg_notice, NULL);
    if (pg_io_script(c, PG_MIGRATE_SESSION, msg, sizeof(msg)) < 0) {
        snprintf(err, errlen, "cannot set up the migration session: %s", msg);
        goto out;
    }
    if (pg_migrate_lock(c, db, err, errlen) < 0)
        goto out;
    rc = db_migrations_apply(db_migrations_postgres, target, &pg_migrate_io, c, err, errlen);
    (void)pg_io_script(c, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")", msg, sizeof(msg));
out:
    PQfinish(c);
    return rc;
}
