/*
 * Replica sync: one thread that sleeps on a condition variable (CLOCK_MONOTONIC) and runs
 * gw_index_refresh() every interval; a failed refresh (database away) is logged once until it
 * works again, and memory keeps its last state meanwhile.
 */
#include "gateway/gw_sync.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "gateway/gw_index.h"
#include "log.h"

struct gw_sync {
    struct gw_index *ix;
    struct db *db;
    int interval_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping; /* under mu */
};

static void *gw_sync_main(void *arg)
{
    struct gw_sync *s = arg;
    bool failing = false;

    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += s->interval_ms / 1000;
        ts.tv_nsec += (long)(s->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!s->stopping && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
            ;
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->mu);
        if (gw_index_refresh(s->ix, s->db) < 0) {
            if (!failing)
                LOG_WARN("replica sync: cannot refresh keys, users, budgets and prices from the "
                         "database; serving the last known state");
            failing = true;
        } else if (failing) {
            LOG_INFO("replica sync: refreshing from the database again");
            failing = false;
        }
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

struct gw_sync *gw_sync_start(struct gw_index *ix, struct db *db, int interval_ms)
{
    struct gw_sync *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;

    if (s == NULL)
        return NULL;
    s->ix = ix;
    s->db = db;
    s->interval_ms = interval_ms > 0 ? interval_ms : GW_SYNC_INTERVAL_MS;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&s->thread, NULL, gw_sync_main, s) != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    return s;
}

void gw_sync_stop(struct gw_sync *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
