/*
 * Replica sync: one thread that naps (nap.h) and runs acct_index_refresh() every interval; a failed
 * refresh (database away) is logged once until it works again, and memory keeps its last state
 * meanwhile.
 */
#include "acct/acct_sync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include <event2/event.h>

#include "acct/acct_index.h"
#include "log.h"
#include "nap.h"
#include "util.h"

struct acct_sync {
    struct acct_index *ix;
    struct db *db;
    struct event_base *base; /* the loop the thread waits for its queries on, made once */
    int interval_ms;
    pthread_t thread;
    struct nap nap;
    _Atomic int64_t ok_us; /* wall clock of the last successful refresh, 0: none */
};

static void *acct_sync_main(void *arg)
{
    struct acct_sync *s = arg;
    bool failing = false;

    while (!nap_sleep(&s->nap, s->interval_ms)) {
        if (acct_index_refresh(s->ix, s->db, s->base) < 0) {
            if (!failing)
                LOG_WARN("replica sync: cannot refresh keys, users, budgets and prices from the "
                         "database; serving the last known state");
            failing = true;
        } else {
            atomic_store_explicit(&s->ok_us, util_now_us(), memory_order_relaxed);
            if (failing)
                LOG_INFO("replica sync: refreshing from the database again");
            failing = false;
        }
    }
    return NULL;
}

struct acct_sync *acct_sync_start(struct acct_index *ix, struct db *db, int interval_ms)
{
    struct acct_sync *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->ix = ix;
    s->db = db;
    s->interval_ms = interval_ms > 0 ? interval_ms : ACCT_SYNC_INTERVAL_MS;
    if ((s->base = event_base_new()) == NULL) {
        free(s);
        return NULL;
    }
    nap_init(&s->nap);
    if (pthread_create(&s->thread, NULL, acct_sync_main, s) != 0) {
        nap_destroy(&s->nap);
        event_base_free(s->base);
        free(s);
        return NULL;
    }
    return s;
}

int64_t acct_sync_last_ok_us(struct acct_sync *s)
{
    return atomic_load_explicit(&s->ok_us, memory_order_relaxed);
}

void acct_sync_stop(struct acct_sync *s)
{
    if (s == NULL)
        return;
    nap_stop(&s->nap);
    pthread_join(s->thread, NULL);
    nap_destroy(&s->nap);
    event_base_free(s->base);
    free(s);
}
