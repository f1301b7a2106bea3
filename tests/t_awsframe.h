/*
 * An AWS event-stream message encoder (providers.md §1.5) for the fake upstream (fake_aws.c) and
 * the tests that check it against the verified bytes of providers.md §15. Linked into both the
 * fake-upstream binary and the test runner. CRC-32 from zlib.
 */
#ifndef T_AWSFRAME_H
#define T_AWSFRAME_H

#include <stddef.h>

/* The verified messages of providers.md §15, as hex: a converse-stream contentBlockDelta "Hi"
   (148 bytes) and a throttlingException {"message":"Too many requests"}. */
#define T_AWS_FX_DELTA_HEX                                                                         \
    "0000009400000057b4ab9aee0b3a6576656e742d74797065070011636f6e74656e74426c6f636b44656c7461"     \
    "0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d74"     \
    "7970650700056576656e747b22636f6e74656e74426c6f636b496e646578223a302c2264656c7461223a7b22"     \
    "74657874223a224869227d7d1f944657"
#define T_AWS_FX_THROTTLE_HEX                                                                      \
    "00000090000000618e91a9b70f3a657863657074696f6e2d747970650700137468726f74746c696e67457863"     \
    "657074696f6e0d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573"     \
    "736167652d74797065070009657863657074696f6e7b226d657373616765223a22546f6f206d616e79207265"     \
    "717565737473227de67f8005"

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
