/*
 * Replica sync: one thread that naps (nap.h) and runs acct_index_refresh() every interval; a failed
 * refresh (database away) is logged once until it works again, and memory keeps its last state
 * meanwhile. Each interval it also shares the rate-limit counts (acct_rate.h): this replica's
 * buckets of the last minute are upserted into rate_counts under its replica id (older rows of
 * every replica deleted), and the other replicas' sums become the limiter's remote counts.
 */
#include "acct/acct_sync.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "acct/acct_index.h"
#include "acct/acct_rate.h"
#include "db/db.h"
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
    _Atomic int64_t ok_us;          /* wall clock of the last successful refresh, 0: none */
    char replica_id[UTIL_UUID_LEN]; /* this process's rows in rate_counts */
};

/* Adds one local bucket to the JSON array arg as {"s": "<kind>:<name>", "t", "r", "k"}. */
static int acct_sync_rate_row(char kind, const char *name, int64_t second, int64_t requests,
                              int64_t tokens, void *arg)
{
    json_t *row = json_object();
    char *subject = malloc(strlen(name) + 3);

    if (row == NULL || subject == NULL) {
        json_decref(row);
        free(subject);
        return -1;
    }
    subject[0] = kind;
    subject[1] = ':';
    strcpy(subject + 2, name);
    json_object_set_new(row, "s", json_string(subject));
    json_object_set_new(row, "t", json_integer(second));
    json_object_set_new(row, "r", json_integer(requests));
    json_object_set_new(row, "k", json_integer(tokens));
    free(subject);
    return json_array_append_new(arg, row) < 0 ? -1 : 0;
}

struct acct_sync_others {
    struct acct_rate *rl;
    uint32_t round;
    int64_t now_us;
    int rc;
};

/* The other replicas' sums (subject, second, requests, tokens) into the limiter. */
static void acct_sync_others_cb(const struct db_result *res, void *arg)
{
    struct acct_sync_others *o = arg;

    if (res->status != 0) {
        o->rc = -1;
        return;
    }
    for (size_t r = 0; r < res->nrows; r++) {
        const char *subject = res->cells[r * res->ncols], *sec = res->cells[r * res->ncols + 1];
        const char *req = res->cells[r * res->ncols + 2], *tok = res->cells[r * res->ncols + 3];

        if (subject == NULL || sec == NULL || strlen(subject) < 3 || subject[1] != ':')
            continue;
        if (acct_rate_remote_put(o->rl, o->round, subject[0], subject + 2, strtoll(sec, NULL, 10),
                                 req != NULL ? strtoll(req, NULL, 10) : 0,
                                 tok != NULL ? strtoll(tok, NULL, 10) : 0, o->now_us) < 0)
            o->rc = -1;
    }
}

/*
 * One exchange of rate counts: publishes this replica's buckets of the window, deletes rows
 * older than the window, reads the other replicas' sums. Returns 0 or -1 (the remote counts
 * then stay as they were, and expire with their seconds).
 */
static int acct_sync_rates(struct acct_sync *s)
{
    struct acct_rate *rl = acct_index_rate(s->ix);
    int64_t now_us = util_now_us(), oldest = now_us / 1000000 - ACCT_RATE_WINDOW + 1;
    struct acct_sync_others o = {.rl = rl, .now_us = now_us};
    struct db_params q = {.n = 3};
    json_t *rows = json_array();
    char *text = NULL;
    int rc = -1;

    if (rows == NULL || acct_rate_each_local(rl, now_us, acct_sync_rate_row, rows) != 0 ||
        (text = json_dumps(rows, JSON_COMPACT)) == NULL)
        goto out;
    q.v[0] = db_text(s->replica_id);
    q.v[1] = db_text(text);
    q.v[2] = (struct db_value){.type = DB_T_INT, .u.i = oldest};
    if (db_exec_wait(s->db, s->base, DB_Q_RATE_PUBLISH, &q, NULL, NULL) < 0)
        goto out;
    q.n = 2;
    q.v[1] = (struct db_value){.type = DB_T_INT, .u.i = oldest};
    o.round = acct_rate_remote_begin(rl);
    if (db_exec_wait(s->db, s->base, DB_Q_RATE_OTHERS, &q, acct_sync_others_cb, &o) < 0 || o.rc < 0)
        goto out;
    acct_rate_remote_end(rl, o.round);
    rc = 0;
out:
    free(text);
    json_decref(rows);
    return rc;
}

static void *acct_sync_main(void *arg)
{
    struct acct_sync *s = arg;
    bool failing = false, rates_failing = false;

    while (!nap_sleep(&s->nap, s->interval_ms)) {
        if (acct_sync_rates(s) < 0) {
            if (!rates_failing)
                LOG_WARN("replica sync: cannot share rate-limit counts through the database; "
                         "limits count this replica's requests only meanwhile");
            rates_failing = true;
        } else if (rates_failing) {
            LOG_INFO("replica sync: sharing rate-limit counts again");
            rates_failing = false;
        }
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
    if (util_uuid4(s->replica_id) < 0) {
        free(s);
        return NULL;
    }
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
