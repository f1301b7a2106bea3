/*
 * Client shapes: how the gateway talks to its own clients, with OpenAI chat JSON as the pivot
 * (DESIGN.md §3). A shape turns the pivot a dialect produces into the client's wire format:
 * stream events (one pivot chunk in, zero or more client events out), the end of a stream (well
 * or failed), and a complete reply. Pure functions over buffers; no sockets, no timers.
 *
 *   prov_shape_openai            OpenAI chat (/v1/chat/completions): chunks as "data:" events,
 *                                "data: [DONE]" at the end, replies relayed as they are.
 *   prov_shape_anthropic         Anthropic Messages bridged from the pivot (/v1/messages to a
 *                                provider without a native Messages API; providers.md §14.3-14.4).
 *   prov_shape_anthropic_native  Anthropic Messages relayed from a native table: events written
 *                                as "event: <type>" + "data:" untouched, replies relayed.
 *
 * The request side of /v1/messages (Anthropic request -> pivot, providers.md §14.2) is
 * prov_shape_anthropic_request(). Error bodies are written by the gateway's reply module.
 */
#ifndef PROV_SHAPE_H
#define PROV_SHAPE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define PROV_SHAPE_MAX_TOOLS 128 /* tool calls of one streamed reply that are tracked */

/* Appends n bytes for the client. Returns 0 or -1 (out of memory). */
typedef int prov_write_fn(const char *p, size_t n, void *arg);

/* Block types of the Anthropic event writer. */
enum prov_shape_block { PROV_BLOCK_NONE, PROV_BLOCK_THINKING, PROV_BLOCK_TEXT, PROV_BLOCK_TOOL };

/*
 * Per-stream state of a shape (zeroed before the first call: all-zero is the initial state). Only
 * the bridged Anthropic shape uses it; tool blocks are opened in ascending block order, so
 * open_tools lists the open ones in the order they close.
 */
struct prov_shape_stream {
    bool started;                         /* message_start written */
    bool any_block;                       /* a content block was opened */
    enum prov_shape_block cur;            /* the open text/thinking block, if any */
    int cur_index;                        /* its block index */
    int next_block;                       /* the next block index */
    int tool_block[PROV_SHAPE_MAX_TOOLS]; /* OpenAI tool index -> block index + 1 (0: none) */
    bool tool_open[PROV_SHAPE_MAX_TOOLS]; /* that tool block is still open */
    int nopen;                            /* entries of open_tools used */
    int open_tools[PROV_SHAPE_MAX_TOOLS]; /* OpenAI tool indexes of the open tool blocks */
    long prompt_tokens, completion_tokens, cached_tokens; /* last non-zero values seen */
    char stop_reason[32];                                 /* Anthropic reason; "" until known */
    char id[96];                                          /* the first chunk's id */
    char model[160];                                      /* the first chunk's model */
};

struct prov_shape_ops {
    const char *name;
    /* The ops use their struct prov_shape_stream (else they are given NULL: a stream through a
     * stateless shape does not carry one, ~1.5 KB per open stream). */
    bool stateful;
    /*
     * One pivot chunk (event NULL: OpenAI chunk JSON, NUL-terminated at data[len]) or one native
     * event (event set) -> client bytes through w. Returns 0, or -1 when w failed or the chunk
     * cannot be translated (the stream then ends as failed).
     */
    int (*chunk)(struct prov_shape_stream *st, const char *event, const char *data, size_t len,
                 prov_write_fn *w, void *arg);
    /* The upstream stream ended well: the closing events. Returns 0 or -1 (w failed). */
    int (*finish)(struct prov_shape_stream *st, prov_write_fn *w, void *arg);
    /*
     * The stream failed after it started (upstream error, cut, shutdown): the shape's error
     * event(s). Returns 0 or -1 (w failed).
     */
    int (*fail)(struct prov_shape_stream *st, prov_write_fn *w, void *arg);
    /*
     * A complete pivot reply (a chat.completion, or for a native table the provider's own reply)
     * -> the client's body: *out gets an owned body, or NULL when body is to be relayed as is.
     * Returns 0, or -1 when body is not a reply this shape can read.
     */
    int (*reply)(const char *body, size_t len, char **out, size_t *out_len);
};

extern const struct prov_shape_ops prov_shape_openai;
extern const struct prov_shape_ops prov_shape_anthropic;
extern const struct prov_shape_ops prov_shape_anthropic_native;

/*
 * An Anthropic Messages request (borrowed, already checked to be an object with "model",
 * "messages" and "max_tokens") -> a new pivot request (OpenAI chat) per providers.md §14.2, with
 * "stream_options":{"include_usage":true} when it streams. Returns the new object, or NULL with
 * a one-line reason in err (a message that cannot be expressed, out of memory).
 */
json_t *prov_shape_anthropic_request(const json_t *req, char *err, size_t errlen);

/* The Anthropic error type for an HTTP status (providers.md §14.5), e.g. 429 -> rate_limit_error.
 */
const char *prov_shape_anthropic_error_type(int status);

#endif
