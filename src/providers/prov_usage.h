/*
 * Token usage accounting for OpenAI-wire chat responses (spec §5.1, §6.2; DESIGN §2.4): usage from
 * a full completion or merged over stream chunks, detection of the usage-only chunk, byte counts of
 * generated text for estimation when a provider reports nothing, cost, and the forced
 * stream_options.include_usage. Pure functions over jansson values.
 */
#ifndef PROV_USAGE_H
#define PROV_USAGE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Token counts; seen is true once the provider reported a usage object. */
struct prov_usage {
    long prompt_tokens, completion_tokens, total_tokens;
    bool seen;
};

/* Sets u to 0/0/0, not seen. */
void prov_usage_init(struct prov_usage *u);

/*
 * Reads "usage" of a full chat completion (borrows resp; NULL or a non-object is allowed). With a
 * usage object: sets the three counts as reported (missing, null, negative or non-numeric fields
 * read as 0; total_tokens is not recomputed), sets seen and returns true. Without one (absent or
 * null): sets u to 0/0/0, not seen, and returns false.
 */
bool prov_usage_parse(struct prov_usage *u, const json_t *resp);

/*
 * Merges one stream chunk (borrows chunk) per spec §6.2: only a chunk with a non-null "usage"
 * object counts; each field takes the chunk's value if non-zero, else keeps the current one ("last
 * non-zero wins": works for cumulative providers and for OpenAI's one final usage chunk). Then
 * seen is set and true returned. Other chunks leave u unchanged and return false.
 */
bool prov_usage_merge_chunk(struct prov_usage *u, const json_t *chunk);

/*
 * True when chunk is OpenAI's usage-only chunk: "choices" is an empty array and "usage" a
 * non-null object. The gateway drops it when the client did not ask for usage. NULL gives false.
 */
bool prov_usage_is_usage_only(const json_t *chunk);

/*
 * Bytes of generated text in a chunk or full completion (borrows v; NULL gives 0): for each
 * choices[] element, in its "delta" (stream) or "message" (full response): content (a string, or
 * an array of parts whose "text" strings count), reasoning_content, reasoning (a string or
 * {"content": string}), refusal, and each tool_calls[].function's name and arguments.
 */
size_t prov_usage_text_bytes(const json_t *v);

/*
 * Bytes of text in a request's "messages" array (borrowed; NULL or a non-array gives 0), counted
 * like prov_usage_text_bytes() counts one message: the prompt side of an estimate.
 */
size_t prov_usage_prompt_bytes(const json_t *messages);

/* Estimated tokens for n bytes: ceil(n / 4), so 0 for 0 and at least 1 otherwise. */
long prov_usage_tokens_for_bytes(size_t n);

/*
 * An estimate for a provider that reported nothing (DESIGN §2.4): prompt and completion tokens
 * from prov_usage_tokens_for_bytes(), total their sum. seen is false, marking it as an estimate.
 */
struct prov_usage prov_usage_estimate(size_t prompt_bytes, size_t generated_bytes);

/*
 * Cost in USD (spec §5.1): prompt / 1e6 * in_per_million + completion / 1e6 * out_per_million,
 * in double, not rounded; total_tokens is not used.
 */
double prov_usage_cost(const struct prov_usage *u, double in_per_million, double out_per_million);

/*
 * For a request with "stream": true, makes sure stream_options.include_usage is true, keeping the
 * other stream_options fields (DESIGN §2.4: streams always report usage). *client_asked (when
 * client_asked is not NULL) tells whether the client had set include_usage to true itself; when
 * false, the gateway strips the usage-only chunk from what the client sees. A non-streaming request
 * is left unchanged with *client_asked false. Modifies request in place (borrowed). Returns 0, or
 * -1 when request is not an object, stream_options is neither an object nor null, or memory ran
 * out.
 */
int prov_usage_inject_stream_options(json_t *request, bool *client_asked)
    __attribute__((warn_unused_result));

#endif
