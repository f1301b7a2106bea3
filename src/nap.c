/*
 * Stoppable sleep (contract in nap.h).
 */
#include "nap.h"

#include <time.h>

void nap_init(struct nap *n)
{
    pthread_condattr_t ca;

    pthread_mutex_init(&n->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    n->stopped = false;
}

void nap_destroy(struct nap *n)
{
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
}

bool nap_sleep(struct nap *n, int ms)
{
    struct timespec ts;
    bool stopped;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&n->mu);
    while (!n->stopped && pthread_cond_timedwait(&n->cv, &n->mu, &ts) == 0)
        ;
    stopped = n->stopped;
    pthread_mutex_unlock(&n->mu);
    return stopped;
}

void nap_stop(struct nap *n)
{
    pthread_mutex_lock(&n->mu);
    n->stopped = true;
    pthread_cond_broadcast(&n->cv);
    pthread_mutex_unlock(&n->mu);
}
