/*
 * The migrations compiled into the binary (generated from migrations/<backend>/NNNN_name.sql
 * by scripts/embed-sql.sh). Each array ends with {NULL, NULL} and is in apply order.
 */
#ifndef GW_DB_MIGRATIONS_H
#define GW_DB_MIGRATIONS_H

#include <stddef.h> /* NULL, used by the generated arrays' terminator */

struct db_migration {
    const char *name; /* "0001_initial" */
    const char *sql;  /* one or more statements */
};

extern const struct db_migration db_migrations_sqlite[];
extern const struct db_migration db_migrations_postgres[];

#endif
