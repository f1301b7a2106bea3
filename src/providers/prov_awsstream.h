/*
 * Incremental decoder of the AWS event stream (application/vnd.amazon.eventstream; providers.md
 * §1.5), the framing of Bedrock converse-stream and SageMaker invocations-response-stream. Pure:
 * bytes in, messages out through a callback; input may be split anywhere. Each message's prelude
 * CRC and message CRC are checked with zlib's crc32 before anything in it is used; memory is
 * bounded by one message (at most 16 bytes + 128 KiB of headers + 24 MiB of payload).
 */
#ifndef PROV_AWSSTREAM_H
#define PROV_AWSSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROV_AWS_MAX_HEADERS (128 * 1024)       /* bytes of headers in one message */
#define PROV_AWS_MAX_PAYLOAD (24 * 1024 * 1024) /* bytes of payload in one message */
#define PROV_AWS_PRELUDE 12                     /* total length, headers length, prelude CRC */
#define PROV_AWS_MIN_MESSAGE 16                 /* prelude + message CRC */

/* Header value types (the wire's type byte). */
enum prov_aws_htype {
    PROV_AWS_TRUE = 0,
    PROV_AWS_FALSE = 1,
    PROV_AWS_INT8 = 2,
    PROV_AWS_INT16 = 3,
    PROV_AWS_INT32 = 4,
    PROV_AWS_INT64 = 5,
    PROV_AWS_BYTES = 6,
    PROV_AWS_STRING = 7,
    PROV_AWS_TIMESTAMP = 8, /* int64 milliseconds since the epoch */
    PROV_AWS_UUID = 9       /* 16 bytes */
};

/*
 * One header, borrowed from the decoder for the callback. name is not NUL-terminated. ival holds
 * the value of TRUE (1), FALSE (0), the integer types (sign-extended) and TIMESTAMP; data/len the
 * bytes of BYTES, STRING (UTF-8 as sent, not NUL-terminated) and UUID (16), else NULL/0.
 */
struct prov_aws_header {
    const char *name;
    size_t name_len;
    enum prov_aws_htype type;
    int64_t ival;
    const unsigned char *data;
    size_t len;
};

/*
 * One decoded message, borrowed for the callback. The well-known string headers are given as
 * NUL-terminated copies (NULL when absent or not of type string; a value holding a NUL byte ends
 * there; when a name repeats, the last one wins). payload is followed by a NUL byte not counted in
 * payload_len (it may itself hold NULs).
 */
struct prov_aws_message {
    const char *message_type; /* ":message-type": "event", "exception" or "error" */
    const char *event_type;   /* ":event-type" */
    const char *exception_type;
    const char *content_type;
    const char *error_code;
    const char *error_message;
    const struct prov_aws_header *headers; /* every header, in wire order */
    size_t nheaders;
    const char *payload;
    size_t payload_len;
};

/* Message callback. Return 0 to go on; any other value stops prov_awsstream_feed(), which
   returns it. */
typedef int prov_awsstream_fn(const struct prov_aws_message *m, void *arg);

/* Embedded decoder state: prov_awsstream_init() before use, prov_awsstream_cleanup() after.
   Internal fields: never read them directly. */
struct prov_awsstream {
    prov_awsstream_fn *on_message;
    void *arg;
    unsigned char *buf; /* the message being assembled */
    size_t len, cap;
    size_t need; /* its total length once the prelude is checked, else 0 */
    struct prov_aws_header *hdrs;
    size_t hcap;
    char *strs; /* the NUL-terminated copies of the well-known strings */
    size_t scap;
    unsigned long n_messages;
    int failed; /* non-zero: the value that stopped the decoder */
    char reason[128];
};

/* Prepares p; on_message must not be NULL. Allocates nothing. Callbacks must not feed, finish or
   clean up p. */
void prov_awsstream_init(struct prov_awsstream *p, prov_awsstream_fn *on_message, void *arg);

/* Frees p's buffers; p may be NULL. p can be initialised again afterwards. */
void prov_awsstream_cleanup(struct prov_awsstream *p);

/*
 * Feeds len bytes (buf may be NULL when len is 0); complete messages are delivered from inside
 * this call, in order. Returns 0 when every byte was consumed; -1 when the stream is invalid (a
 * CRC mismatch, a total length under 16, headers over 128 KiB or past the message, a payload over
 * 24 MiB, a malformed header), memory ran out, or an earlier call already failed (the reason is in
 * prov_awsstream_error()); otherwise the non-zero value the callback returned (the rest of buf is
 * dropped). After any non-zero return the decoder stays failed until prov_awsstream_finish().
 */
int prov_awsstream_feed(struct prov_awsstream *p, const void *buf, size_t len)
    __attribute__((warn_unused_result));

/*
 * Ends the stream. Returns true when it was truncated or unusable (a partial message was pending,
 * or a feed had failed or been stopped), false on a clean end. Resets the per-stream state
 * (failure and reason included) so p can decode another stream; the message count is kept.
 */
bool prov_awsstream_finish(struct prov_awsstream *p);

/* Why the stream failed ("" when it has not; "stopped by the callback" after a stop). */
const char *prov_awsstream_error(const struct prov_awsstream *p);

/* Messages delivered since prov_awsstream_init(). */
unsigned long prov_awsstream_count(const struct prov_awsstream *p);

#endif
