/*
 * Stream framings as one event sequence (contract in prov_frame.h).
 */
#include "providers/prov_frame.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "providers/prov_aws.h"

static bool frame_open(const struct prov_frame *f)
{
    return !f->ps->done && !f->ps->failed;
}

static int frame_on_sse(const struct prov_sse_event *ev, void *arg)
{
    struct prov_frame *f = arg;

    return frame_open(f) ? f->on_event(ev->event, ev->data, ev->data_len, f->arg) : 0;
}

static int frame_on_line(const char *line, size_t len, void *arg)
{
    struct prov_frame *f = arg;

    return frame_open(f) ? f->on_event("message", line, len, f->arg) : 0;
}

static int frame_on_aws(const struct prov_aws_message *m, void *arg)
{
    struct prov_frame *f = arg;

    if (!frame_open(f))
        return 0;
    if (m->message_type == NULL || strcmp(m->message_type, "event") != 0) {
        prov_aws_stream_fail(f->ps, m);
        return 0;
    }
    return f->on_event(m->event_type != NULL ? m->event_type : "", m->payload, m->payload_len,
                       f->arg);
}

void prov_frame_init(struct prov_frame *f, enum prov_framing kind, struct prov_stream *ps,
                     prov_frame_event_fn *on_event, void *arg)
{
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->ps = ps;
    f->on_event = on_event;
    f->arg = arg;
    prov_sse_init(&f->sse, 0, frame_on_sse, f);
    prov_ndjson_init(&f->nd, 0, frame_on_line, f);
    prov_awsstream_init(&f->aws, frame_on_aws, f);
}

void prov_frame_cleanup(struct prov_frame *f)
{
    prov_sse_cleanup(&f->sse);
    prov_ndjson_cleanup(&f->nd);
    prov_awsstream_cleanup(&f->aws);
}

bool prov_frame_content_type(enum prov_framing kind, const char *ct)
{
    switch (kind) {
    case PROV_FRAME_NDJSON:
        return ct == NULL || strncasecmp(ct, "application/x-ndjson", 20) == 0 ||
               strncasecmp(ct, "application/json", 16) == 0;
    case PROV_FRAME_AWS:
        return ct != NULL && strncasecmp(ct, "application/vnd.amazon.eventstream", 34) == 0;
    case PROV_FRAME_SSE:
        break;
    }
    return ct == NULL || strncasecmp(ct, "text/event-stream", 17) == 0;
}

/* Marks the stream failed with reason unless something failed it already. Returns -1. */
static int frame_fail(struct prov_frame *f, const char *reason, const char *detail)
{
    if (!f->ps->failed) {
        f->ps->failed = true;
        snprintf(f->ps->error, sizeof(f->ps->error), "%s%s%s", reason,
                 detail != NULL && detail[0] != '\0' ? ": " : "", detail != NULL ? detail : "");
    }
    return -1;
}

int prov_frame_feed(struct prov_frame *f, const void *buf, size_t len)
{
    int rc;

    switch (f->kind) {
    case PROV_FRAME_NDJSON:
        rc = prov_ndjson_feed(&f->nd, buf, len);
        break;
    case PROV_FRAME_AWS:
        rc = prov_awsstream_feed(&f->aws, buf, len);
        if (rc != 0)
            return frame_fail(f, "unreadable event stream from the provider",
                              rc == -1 ? prov_awsstream_error(&f->aws) : NULL);
        return 0;
    default:
        rc = prov_sse_feed(&f->sse, buf, len);
        break;
    }
    return rc != 0 ? frame_fail(f, "unreadable event stream from the provider", NULL) : 0;
}

int prov_frame_finish(struct prov_frame *f)
{
    switch (f->kind) {
    case PROV_FRAME_NDJSON:
        return prov_ndjson_finish(&f->nd) != 0
                   ? frame_fail(f, "the provider's stream ended inside a line", NULL)
                   : 0;
    case PROV_FRAME_AWS:
        return prov_awsstream_finish(&f->aws)
                   ? frame_fail(f, "the provider's stream ended inside a message", NULL)
                   : 0;
    default:
        (void)prov_sse_finish(&f->sse); /* a last event without its blank line still counts */
        return 0;
    }
}
