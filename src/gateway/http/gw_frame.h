/*
 * Incremental HTTP/1.x request framer: finds where each request on a connection ends (head,
 * then a Content-Length or chunked body) without touching a socket, and checks the framing
 * rules that libevent's evhttp would otherwise answer with an HTML page (431, 413, 400).
 * The caller keeps the bytes; the framer only scans each byte once and remembers offsets.
 */
#ifndef GW_FRAME_H
#define GW_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_frame;

/* Longest chunk-size line (size, extensions, CRLF) accepted; longer is a 400. */
#define GW_FRAME_CHUNK_LINE_MAX 4096

enum gw_frame_ev {
    GW_FRAME_MORE,  /* every byte given was consumed; the request is not complete */
    GW_FRAME_HEAD,  /* the head is complete: call gw_frame_head() before feeding more */
    GW_FRAME_DONE,  /* the request is complete; gw_frame_info() describes it */
    GW_FRAME_ERROR, /* the request breaks a rule: gw_frame_info()->status is 400, 413, 431, */
                    /* 501 or 505 */
};

/* What the framer knows about the current request. The head starts after the skipped empty
 * lines; expect_off counts from the start of the head. */
struct gw_frame_info {
    int status;              /* after GW_FRAME_ERROR: 400, 413, 431, 501, 505; 0 otherwise */
    size_t skip;             /* empty lines (CR/LF bytes) before the request line, to drop */
    size_t head_len;         /* request line + headers + empty line, starting at skip */
    size_t total_len;        /* after GW_FRAME_DONE: skip + head + body with its framing */
    uint64_t content_length; /* when has_content_length */
    size_t expect_off;       /* when expect_continue: the "Expect:" line (with its line end) */
    size_t expect_len;       /*   is head[expect_off .. expect_off + expect_len) */
    bool has_content_length;
    bool chunked;         /* Transfer-Encoding: chunked */
    bool chunk_ext;       /* some chunk-size line carries extensions or whitespace */
    bool expect_continue; /* Expect: 100-continue */
    bool http11;          /* HTTP/1.1 (or later minor): a 100 Continue may be sent */
};

/*
 * Returns owned, free with gw_frame_free(); NULL when out of memory. The head (skipped empty
 * lines included, and trailers of a chunked body added) may be at most max_header_size bytes,
 * the body (sum of chunk sizes when chunked) at most max_body_size bytes.
 */
struct gw_frame *gw_frame_new(size_t max_header_size, size_t max_body_size)
    __attribute__((warn_unused_result));

/* NULL-safe. */
void gw_frame_free(struct gw_frame *f);

/*
 * Scans the next len bytes of the stream (p may be NULL when len is 0) and sets *used to how
 * many of them belong to the current request up to the event returned; the caller feeds the
 * rest again. After GW_FRAME_DONE the next call starts a new request (gw_frame_info() stays
 * valid until then). After GW_FRAME_ERROR the framer stays in error (*used = 0). After
 * GW_FRAME_HEAD, gw_frame_head() must be called before the next feed.
 * Rules: head > max_header_size -> 431; bad request line, header line without ':' or with
 * whitespace before it, folded header line, control bytes in the head, invalid or conflicting
 * Content-Length (non-digits, lists, differing values, > INT64_MAX), Transfer-Encoding other than
 * exactly "chunked", both Content-Length and Transfer-Encoding, a body on a method that evhttp
 * reads no body for (anything but GET POST PUT DELETE OPTIONS CONNECT PATCH), a bad chunk-size
 * line, missing CRLF after chunk data, or a malformed trailer -> 400; Content-Length or chunk
 * sum > max_body_size -> 413; a method other than GET POST HEAD PUT DELETE OPTIONS TRACE CONNECT
 * PATCH (case-sensitive) -> 501; a version other than HTTP/1.0 and HTTP/1.1 -> 505.
 * The request line is checked as it arrives: the first byte that cannot belong to an HTTP/1.x
 * request line (a non-token byte in the method, a method over 32 bytes, a control byte in the
 * target, anything but "HTTP/" digit "." digit CRLF after it) is a 400 at once, without waiting
 * for the end of the line or of the head (a TLS ClientHello fails at its first byte).
 */
enum gw_frame_ev gw_frame_feed(struct gw_frame *f, const char *p, size_t len, size_t *used);

/*
 * Parses the complete head after GW_FRAME_HEAD. head points to the info->head_len bytes of the
 * head (contiguous, after the skipped empty lines); it is borrowed for the call only. Returns
 * GW_FRAME_DONE (no body), GW_FRAME_MORE (a body follows: keep feeding) or GW_FRAME_ERROR.
 */
enum gw_frame_ev gw_frame_head(struct gw_frame *f, const char *head);

/* Borrowed; valid until the next gw_frame_feed() that starts a new request. */
const struct gw_frame_info *gw_frame_info(const struct gw_frame *f);

/* True while a request has begun (a byte other than a leading CR/LF arrived) and is neither
 * complete nor rejected. */
bool gw_frame_is_busy(const struct gw_frame *f);

#endif
