/*
 * Storage tests shared by the SQLite and PostgreSQL suites (contract in t_db.h).
 */
#include "t_db.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "db/db.h"
#include "util.h"

#define T_DB_MAX_THREADS 16

struct t_db_worker {
    struct db *db;
    int per_thread;
    int calls, ok, on_own_thread, queued;
    pthread_t self;
};

static void t_db_worker_cb(const struct db_result *res, void *arg)
{
    struct t_db_worker *w = arg;

    w->calls++;
    if (pthread_equal(pthread_self(), w->self))
        w->on_own_thread++;
    if (res->status == 0 && res->nrows == 1 && strcmp(res->cells[0], T_DB_NMIGRATIONS) == 0)
        w->ok++;
}

static void *t_db_worker_main(void *arg)
{
    struct t_db_worker *w = arg;
    struct event_base *base = event_base_new();
    int64_t deadline = util_mono_us() + 10 * 1000000;

    w->self = pthread_self();
    if (base == NULL)
        return NULL;
    for (int i = 0; i < w->per_thread; i++) {
        if (db_exec(w->db, base, DB_Q_PING, NULL, t_db_worker_cb, w) == 0)
            w->queued++;
    }
    while (w->calls < w->queued && util_mono_us() < deadline) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(200);
    }
    event_base_free(base);
    return NULL;
}

void t_db_many_threads(struct db *db, int nthreads, int per_thread)
{
    struct t_db_worker w[T_DB_MAX_THREADS];
    pthread_t th[T_DB_MAX_THREADS];

    ck_assert_int_le(nthreads, T_DB_MAX_THREADS);
    for (int i = 0; i < nthreads; i++) {
        w[i] = (struct t_db_worker){.db = db, .per_thread = per_thread};
        ck_assert_int_eq(pthread_create(&th[i], NULL, t_db_worker_main, &w[i]), 0);
    }
    for (int i = 0; i < nthreads; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    db_close(db);
    for (int i = 0; i < nthreads; i++) {
        ck_assert_int_eq(w[i].queued, per_thread);
        ck_assert_int_eq(w[i].calls, per_thread);
        ck_assert_int_eq(w[i].on_own_thread, per_thread);
        ck_assert_int_eq(w[i].ok, per_thread);
    }
}
