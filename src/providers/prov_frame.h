/*
 * A provider's chat stream, whatever its framing (enum prov_framing: SSE, NDJSON, the AWS event
 * stream), as one sequence of events for the dialect's chat_event: the SSE event type and data,
 * each NDJSON line as a "message" event, each AWS "event" message as its :event-type and payload.
 * AWS "exception" / "error" messages fail the stream (prov_aws_stream_fail()). Nothing is handed
 * on after the stream is done or failed (ps->done, ps->failed). Pure: bytes in, callbacks out.
 */
#ifndef PROV_FRAME_H
#define PROV_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#include "providers/prov_awsstream.h"
#include "providers/prov_dialect.h"
#include "providers/prov_ndjson.h"
#include "providers/prov_sse.h"

/* One event (data NUL-terminated). Return 0 to go on, -1 to stop the stream (emit failed). */
typedef int prov_frame_event_fn(const char *event, const char *data, size_t len, void *arg);

/* Embedded state: prov_frame_init() before use, prov_frame_cleanup() after. */
struct prov_frame {
    enum prov_framing kind;
    struct prov_stream *ps; /* the stream's state (borrowed): done, failed, error */
    prov_frame_event_fn *on_event;
    void *arg;
    struct prov_sse sse;
    struct prov_ndjson nd;
    struct prov_awsstream aws;
};

/* Prepares f for a stream framed as kind whose state is ps. Allocates nothing. */
void prov_frame_init(struct prov_frame *f, enum prov_framing kind, struct prov_stream *ps,
                     prov_frame_event_fn *on_event, void *arg);

void prov_frame_cleanup(struct prov_frame *f);

/* Whether a 2xx reply with Content-Type ct (NULL: none) is a stream framed as kind. */
bool prov_frame_content_type(enum prov_framing kind, const char *ct);

/*
 * Feeds len bytes of the stream. Returns 0, or -1 when the stream cannot be read on (a malformed
 * frame, a callback that stopped it): ps->failed is set then, with the reason in ps->error.
 */
int prov_frame_feed(struct prov_frame *f, const void *buf, size_t len);

/* The end of the stream: a stream cut inside a frame (NDJSON, AWS) fails ps. Returns 0 or -1. */
int prov_frame_finish(struct prov_frame *f);

#endif
