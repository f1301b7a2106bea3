/*
 * A stoppable sleep for background threads (start-up retry, replica sync): nap_sleep() waits
 * on a CLOCK_MONOTONIC condition variable, so nap_stop() from another thread ends it at once.
 */
#ifndef NAP_H
#define NAP_H

#include <pthread.h>
#include <stdbool.h>

struct nap {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopped; /* under mu */
};

void nap_init(struct nap *n);
void nap_destroy(struct nap *n);

/* Sleeps ms milliseconds unless stopped first. Returns true once nap_stop() was called. */
bool nap_sleep(struct nap *n, int ms);

/* Ends the current and every later nap_sleep() at once. Any thread. */
void nap_stop(struct nap *n);

#endif
