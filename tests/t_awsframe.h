/*
 * An AWS event-stream message encoder (providers.md §1.5) for the fake upstream (fake_aws.c) and
 * the tests that check it against the verified bytes of providers.md §15. Linked into both the
 * fake-upstream binary and the test runner. CRC-32 from zlib.
 */
#ifndef T_AWSFRAME_H
#define T_AWSFRAME_H

#include <stddef.h>

/*
 * Writes one message into out (cap bytes) with three string headers, in this order: type_name
 * (":event-type" or ":exception-type") = type_value, ":content-type" = content_type,
 * ":message-type" = message_type ("event", "exception"); then the payload (len bytes). Returns
 * the message's length, or 0 when it does not fit in cap (or a header is over 255/65535 bytes).
 */
size_t t_aws_frame(unsigned char *out, size_t cap, const char *message_type, const char *type_name,
                   const char *type_value, const char *content_type, const void *payload,
                   size_t len);

#endif
