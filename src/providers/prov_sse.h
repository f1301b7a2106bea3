/*
 * Incremental Server-Sent Events parser (the WHATWG "event stream interpretation" subset that
 * LLM APIs use). Pure: bytes in, events out through a callback; no sockets, no timers. Input may
 * be split anywhere (inside a CRLF, a UTF-8 sequence or a field name), and memory per event is
 * bounded by a configurable limit.
 */
#ifndef PROV_SSE_H
#define PROV_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define PROV_SSE_DEFAULT_MAX (1024 * 1024) /* default max_event: 1 MiB */

/*
 * One dispatched event. Every pointer is borrowed from the parser and valid only during the
 * callback. event is never NULL ("message" when no "event:" field was given); data is
 * NUL-terminated and data_len excludes the NUL (data may itself contain NUL bytes); id is the
 * last event ID seen on the stream ("" when none; it persists across events, as in the spec).
 */
struct prov_sse_event {
    const char *event;
    const char *data;
    size_t data_len;
    const char *id;
};

/* Event callback. Return 0 to go on; any other value stops prov_sse_feed(), which returns it. */
typedef int prov_sse_event_fn(const struct prov_sse_event *ev, void *arg);

/*
 * Comment callback (a line starting with ':', e.g. the ": ping" heartbeat). text points after the
 * colon (leading space kept), is not NUL-terminated and is borrowed for the call. Return 0 to go
 * on; any other value stops prov_sse_feed(), which returns it.
 */
typedef int prov_sse_comment_fn(const char *text, size_t len, void *arg);

/* A growable byte buffer owned by the parser (internal; never read these fields directly). */
struct prov_sse_buf {
    char *p;
    size_t len, cap;
};

/* Embedded parser state: prov_sse_init() before use, prov_sse_cleanup() after. */
struct prov_sse {
    prov_sse_event_fn *on_event;
    prov_sse_comment_fn *on_comment; /* NULL: comments only counted */
    void *arg;
    size_t max_event;
    struct prov_sse_buf line;  /* unfinished line carried over between chunks */
    struct prov_sse_buf data;  /* data buffer, each value followed by '\n' */
    struct prov_sse_buf event; /* event type buffer */
    struct prov_sse_buf id;    /* last event ID buffer */
    unsigned long n_events;
    unsigned long n_comments;
    int failed;    /* non-zero: the value that stopped the parser; feed returns -1 from then on */
    int bom;       /* bytes of a leading UTF-8 BOM matched so far; -1 once past the start */
    bool cr_last;  /* the previous chunk ended in CR: an LF opening the next one is its pair */
    bool in_event; /* a field was seen since the last dispatch (for prov_sse_finish) */
};

/*
 * Prepares p. max_event bounds the length of any one line (terminator excluded) and the data of one
 * event (values joined with '\n'), so the parser never holds more than a few times max_event,
 * whatever the input; 0 selects PROV_SSE_DEFAULT_MAX. The limits do not depend on how the input is
 * split. on_event must not be NULL; arg is passed to both callbacks. Callbacks must not feed,
 * finish or clean up p. Allocates nothing, so it cannot fail.
 */
void prov_sse_init(struct prov_sse *p, size_t max_event, prov_sse_event_fn *on_event, void *arg);

/* Sets (or with NULL clears) the comment callback. */
void prov_sse_set_comment_fn(struct prov_sse *p, prov_sse_comment_fn *on_comment);

/* Frees p's buffers; p may be NULL. p can be initialised again afterwards. */
void prov_sse_cleanup(struct prov_sse *p);

/*
 * Feeds len bytes (buf may be NULL when len is 0). Complete events are dispatched from inside this
 * call, in order. Returns 0 when every byte was consumed; -1 when a line or an event's data would
 * exceed max_event, memory ran out, or an earlier call already failed or was stopped; otherwise the
 * non-zero value a callback returned (the rest of buf is then dropped). After any non-zero return
 * the parser stays failed: later calls return -1 until prov_sse_finish() resets it.
 */
int prov_sse_feed(struct prov_sse *p, const void *buf, size_t len)
    __attribute__((warn_unused_result));

/*
 * Ends the stream. Per the spec an event not closed by a blank line is discarded, not dispatched.
 * Returns true when bytes were dropped (an unfinished line, undispatched fields, or input left
 * unparsed by a failed or stopped feed: the stream was truncated), false on a clean end. Resets the
 * per-stream state (line, event, id, failure), so p can parse another stream; the counters are
 * kept.
 */
bool prov_sse_finish(struct prov_sse *p);

/* Events dispatched and comment lines seen since prov_sse_init(). */
unsigned long prov_sse_event_count(const struct prov_sse *p);
unsigned long prov_sse_comment_count(const struct prov_sse *p);

#endif
