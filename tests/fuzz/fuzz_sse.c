/*
 * Fuzz target: the SSE parser (prov_sse). The input is an event stream; it is fed whole, one byte
 * at a time and in random pieces, with the default event limit and with a small one. Every plan
 * must dispatch the same events and comments, return the same codes and report the same
 * truncation at the end; every event's strings are NUL-terminated where the header says so. The
 * parser is then reused after prov_sse_finish() and must give the same events again. A data
 * value starting with "STOP" makes the callback stop the parser (exercising that path).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fz.h"
#include "providers/prov_sse.h"

static int on_event(const struct prov_sse_event *ev, void *arg)
{
    struct fz_log *l = arg;

    FZ_CHECK(ev->event != NULL && ev->data != NULL && ev->id != NULL);
    FZ_CHECK(ev->data[ev->data_len] == '\0');
    fz_log_num(l, 'E');
    fz_log_field(l, ev->event, strlen(ev->event));
    fz_log_field(l, ev->data, ev->data_len);
    fz_log_field(l, ev->id, strlen(ev->id));
    return ev->data_len >= 4 && memcmp(ev->data, "STOP", 4) == 0 ? 7 : 0;
}

static int on_comment(const char *text, size_t len, void *arg)
{
    struct fz_log *l = arg;

    fz_log_num(l, 'C');
    fz_log_field(l, text, len);
    return 0;
}

/* Feeds the stream by plan into p (already initialised with log l as its argument). */
static void feed_plan(struct prov_sse *p, struct fz_log *l, const uint8_t *data, size_t size,
                      int plan)
{
    uint64_t rng = fz_hash(data, size) | 1;
    int last = 0;

    for (size_t off = 0; off < size;) {
        size_t k = fz_piece(plan, &rng, off, size);
        char *piece = fz_dup(data + off, k);
        int rc = prov_sse_feed(p, piece, k);

        free(piece);
        off += k;
        /* Once failed or stopped, the parser stays so: every later feed returns -1. */
        FZ_CHECK(last == 0 || rc == -1);
        if (last == 0 && rc != 0) {
            FZ_CHECK(rc == -1 || rc == 7);
            fz_log_num(l, 'R');
            fz_log_num(l, rc);
        }
        if (rc != 0)
            last = rc;
    }
    fz_log_num(l, 'F');
    fz_log_num(l, prov_sse_finish(p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const size_t limits[2] = {0, 1 + fz_hash(data, size) % 64};

    for (int l = 0; l < 2; l++) {
        struct fz_log whole = {0}, part = {0};
        struct prov_sse p;

        prov_sse_init(&p, limits[l], on_event, &whole);
        prov_sse_set_comment_fn(&p, on_comment);
        feed_plan(&p, &whole, data, size, 0);
        prov_sse_cleanup(&p);
        for (int plan = 1; plan < FZ_PLANS; plan++) {
            prov_sse_init(&p, limits[l], on_event, &part);
            /* Odd plans count comments only, which must not change the events. */
            prov_sse_set_comment_fn(&p, plan % 2 == 0 ? on_comment : NULL);
            feed_plan(&p, &part, data, size, plan);
            if (plan % 2 == 0) {
                FZ_CHECK(fz_log_eq(&whole, &part));
                /* The same parser after finish(): the same stream parses the same way again. */
                part.len = 0;
                feed_plan(&p, &part, data, size, 0);
                FZ_CHECK(fz_log_eq(&whole, &part));
            }
            prov_sse_cleanup(&p);
            part.len = 0;
        }
        fz_log_free(&part);
        fz_log_free(&whole);
    }
    return 0;
}
