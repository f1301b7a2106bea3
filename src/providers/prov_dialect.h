/*
 * Wire dialects: how to talk to one family of providers. Each dialect is a table of pure
 * functions over buffers and jansson values (no sockets, no timers), one file each
 * (prov_openai.c now; Anthropic, Gemini, ... plug in as further files). The gateway builds the
 * upstream request with chat_build, then feeds the reply to chat_reply (JSON) or each SSE event
 * to chat_event (streams); what comes out is always the OpenAI shape.
 */
#ifndef PROV_DIALECT_H
#define PROV_DIALECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "httpc.h"
#include "providers/prov_anthropic.h"
#include "providers/prov_conf.h"
#include "providers/prov_usage.h"

#define PROV_MAX_HEADERS 24

/* An upstream HTTP request, owned (free with prov_http_cleanup()). */
struct prov_http {
    char *url;
    char *body;
    size_t body_len;
    struct httpc_header headers[PROV_MAX_HEADERS];
    size_t nheaders;
    char *owned[PROV_MAX_HEADERS]; /* header values built for this request */
    size_t nowned;
};

void prov_http_cleanup(struct prov_http *h);

/*
 * Appends a header whose value is owned by h afterwards (value may be NULL: out of memory).
 * Returns 0 or -1 (table full or value NULL; value is freed).
 */
int prov_http_add_owned(struct prov_http *h, const char *name, char *value);

/* Appends a header whose strings outlive h. Returns 0 or -1 (table full). */
int prov_http_add(struct prov_http *h, const char *name, const char *value);

/*
 * Adds the provider's credential header for its auth style (prov_info.auth) when a key is
 * configured: Authorization: Bearer, x-api-key, api-key or x-goog-api-key (a keyless local server
 * given a key gets Bearer). Returns 0 or -1 (out of memory or table full).
 */
int prov_http_add_auth(struct prov_http *h, const struct prov_conf *pc);

/* "provider 'x' has no base URL: set providers.x.api_base or <its env var>" into err; returns -1.
 */
int prov_no_base_url(const struct prov_conf *pc, char *err, size_t errlen);

/*
 * The headers every JSON call carries, in this order: Content-Type: application/json, Accept
 * (when accept is not NULL), the credential (Authorization: Bearer bearer when bearer is not NULL,
 * e.g. a Google access token; else prov_http_add_auth()), then the provider's custom headers.
 * Returns 0, or -1 with "out of memory" in err (out of memory or table full).
 */
int prov_http_std(struct prov_http *out, const struct prov_conf *pc, const char *accept,
                  const char *bearer, char *err, size_t errlen);

/* The client's request, as chat_build gets it: the pivot (OpenAI chat), or for a native table
   (prov_dialect_native) the provider's own request shape. */
struct prov_chat_in {
    const char *model; /* the bare model name (without "provider:") */
    json_t *req;       /* the request, an object */
    /*
     * The request's bytes when req is exactly their parse (nothing normalised), else NULL: a
     * dialect that forwards the request nearly as is may edit these instead of serialising req.
     */
    const char *raw;
    size_t raw_len;
    bool stream; /* the client asked for SSE */
    /* An access token fetched for this call (OAuth providers, prov_token.h), else NULL. */
    const char *bearer;
    /* Native tables only: the client's anthropic-version / anthropic-beta headers (NULL: none). */
    const char *anthropic_version;
    const char *anthropic_beta;
};

/* chat_build's result when the request cannot be expressed in the dialect (a client error). */
#define PROV_E_REQUEST (-2)

/* Stream state shared by the translating dialects (Gemini, Cohere, Ollama, ...). */
struct prov_xlate_stream {
    char id[96];     /* one id for every chunk (synthesised when the provider has none) */
    char model[160]; /* the model named in the chunks: the provider's, else the request's (the
                        gateway sets it before the first event) */
    int64_t created; /* one created for every chunk */
    bool started;    /* the role chunk is out */
    bool finished;   /* the finish chunk is out */
    int ntools;      /* tool calls emitted so far: the next OpenAI tool index */
    char finish[32]; /* the finish_reason, once known */
    long cached_tokens, reasoning_tokens; /* usage details as last reported (Gemini) */
    long tool_block; /* the provider's content block of the tool call started last (Bedrock) */
    /* Bytes a dialect carries from one event to the next (SageMaker: a JSON line split across
       PayloadParts); owned, freed by prov_stream_cleanup(). */
    char *carry;
    size_t carry_len, carry_cap;
};

/* Per-stream state a dialect keeps while parsing events. */
struct prov_stream {
    struct prov_usage usage;       /* merged from the chunks that carry usage */
    size_t gen_bytes;              /* generated text seen, for an estimate */
    bool client_usage;             /* the client asked for usage: forward the usage-only chunk */
    bool done;                     /* the provider's end marker arrived */
    bool failed;                   /* the provider sent an error event */
    char error[256];               /* its message (for the usage log) */
    struct prov_anth_stream *anth; /* the Anthropic dialects' state (prov_anthropic.h), made at
                                      its first event, or NULL */
    struct prov_xlate_stream x;    /* the other translating dialects' state */
};

/*
 * Sends one event towards the client: with event NULL a pivot chunk (an OpenAI chat chunk, the
 * JSON text of a "data:" field); with event set, one event of the client's own shape relayed
 * untouched by a native table (e.g. "message_start" and its JSON). Returns 0 or -1.
 */
typedef int prov_emit_fn(const char *event, const char *data, size_t len, void *arg);

/* How a dialect's streams are framed on the wire. */
enum prov_framing {
    PROV_FRAME_SSE = 0, /* Server-Sent Events (prov_sse.h): text/event-stream */
    PROV_FRAME_NDJSON,  /* one JSON object per line (prov_ndjson.h): Ollama */
    /*
     * AWS event stream (prov_awsstream.h): Bedrock, SageMaker. Each message of type "event" goes
     * to chat_event with its :event-type as the event and its payload as the data; "exception"
     * and "error" messages fail the stream (prov_aws_stream_fail()).
     */
    PROV_FRAME_AWS,
};

struct prov_dialect_ops {
    const char *name;
    enum prov_framing framing; /* of chat streams; each event or line goes to chat_event */
    /*
     * Builds the chat call from in (the dialect may modify in->req). *client_usage gets whether
     * the client asked for the usage chunk itself. Returns 0; -1 with a one-line reason in err
     * when the provider's settings do not allow a call (e.g. no base URL: the gateway's fault,
     * 502); PROV_E_REQUEST with the reason in err when the request cannot be expressed in this
     * dialect (e.g. unparsable tool-call arguments: the client's fault, 400).
     */
    int (*chat_build)(const struct prov_conf *pc, const struct prov_chat_in *in, bool *client_usage,
                      struct prov_http *out, char *err, size_t errlen);
    /*
     * Reads a complete 2xx reply. Fills *u (seen = false when the reply had no usage) and
     * *gen_bytes. *out gets a translated body (owned) or NULL when body is to be relayed as is.
     * Returns 0, or -1 when the reply is malformed (not the dialect's JSON).
     */
    int (*chat_reply)(const char *body, size_t len, struct prov_usage *u, size_t *gen_bytes,
                      char **out, size_t *out_len);
    /*
     * Handles one SSE event (its data, NUL-terminated, and its event type), emitting zero or more
     * OpenAI chunks. Sets s->done on the end marker and s->failed (with s->error) on an error
     * event. Returns 0, or -1 when emit failed.
     */
    int (*chat_event)(struct prov_stream *s, const char *event, const char *data, size_t len,
                      prov_emit_fn *emit, void *arg);
    /*
     * The provider's stream ended cleanly (not failed, not cut inside a frame): handles what the
     * dialect carried (e.g. a last line without its newline) like chat_event would. NULL when
     * the dialect carries nothing. Returns 0, or -1 when emit failed.
     */
    int (*chat_end)(struct prov_stream *s, prov_emit_fn *emit, void *arg);
    /*
     * The human-readable message of an error reply body (e.g. OpenAI's error.message), or the
     * start of the raw text, into out; *code (may be NULL) gets the provider's error code when it
     * is a string, copied into code_buf.
     */
    void (*error_message)(const char *body, size_t len, char *out, size_t outlen, char *code,
                          size_t codelen);
    /*
     * The gateway's status for a provider's HTTP error (http_status) with error code code (the
     * one error_message found, or the x-amzn-ErrorType header's name when the reply had one;
     * "" when none), or NULL for the common mapping (DESIGN.md §2.3): 400/404/413/422/429
     * relayed, Anthropic's 529 as 429, everything else 502. A 504 reads as a provider timeout.
     */
    int (*error_status)(int http_status, const char *code);
    /*
     * Embeddings (NULL when the dialect has none). in->req is the pivot: an OpenAI embeddings
     * request ({"model","input": string | [string] | tokens,"dimensions"?,"encoding_format"?});
     * "user" is never forwarded. Builds the upstream call like chat_build (same return values).
     * A dialect that cannot send base64 asks the provider for floats: the gateway converts.
     */
    int (*embed_build)(const struct prov_conf *pc, const struct prov_chat_in *in,
                       struct prov_http *out, char *err, size_t errlen);
    /*
     * Reads a complete 2xx embeddings reply into the pivot: *out gets an owned OpenAI
     * embeddings body ({"object":"list","data":[{"object":"embedding","index":i,"embedding":
     * [floats] or base64}],"model","usage":{"prompt_tokens","total_tokens"}}) or NULL when body
     * already is one. *u gets the prompt tokens (seen false when the provider reports none).
     * Returns 0, or -1 when the reply is malformed.
     */
    int (*embed_reply)(const char *body, size_t len, struct prov_usage *u, char **out,
                       size_t *out_len);
};

/* The chat dialect (pivot in, pivot out) of a provider family, or NULL while not implemented. */
const struct prov_dialect_ops *prov_dialect_get(enum prov_dialect d);

/*
 * The native Anthropic Messages table of a provider family whose own wire is the Anthropic
 * Messages API (for /v1/messages: the client's body forwarded with the model and credentials
 * replaced, the reply and events relayed untouched, usage read on the way), or NULL.
 */
const struct prov_dialect_ops *prov_dialect_native_messages(enum prov_dialect d);

/* Dialect tables (one per file). */
extern const struct prov_dialect_ops prov_dialect_openai;
extern const struct prov_dialect_ops prov_dialect_anthropic;        /* pivot <-> Messages API */
extern const struct prov_dialect_ops prov_dialect_anthropic_native; /* Messages API relayed */
extern const struct prov_dialect_ops prov_dialect_gemini;  /* pivot <-> Gemini generateContent */
extern const struct prov_dialect_ops prov_dialect_vertex;  /* the same on Vertex AI */
extern const struct prov_dialect_ops prov_dialect_cohere;  /* pivot <-> Cohere v2 */
extern const struct prov_dialect_ops prov_dialect_ollama;  /* pivot <-> Ollama /api */
extern const struct prov_dialect_ops prov_dialect_voyage;  /* embeddings only */
extern const struct prov_dialect_ops prov_dialect_watsonx; /* pivot <-> watsonx text/chat */
extern const struct prov_dialect_ops prov_dialect_azureopenai; /* OpenAI wire, Azure OpenAI */
extern const struct prov_dialect_ops prov_dialect_azure;       /* OpenAI wire, AI Inference */
extern const struct prov_dialect_ops prov_dialect_bedrock;     /* pivot <-> Bedrock Converse */
extern const struct prov_dialect_ops prov_dialect_sagemaker;   /* OpenAI-wire containers */

/* Frees what a dialect kept in s (s->x.carry); s can be used again afterwards. */
void prov_stream_cleanup(struct prov_stream *s);

/*
 * Copies len bytes of s into out (outlen bytes, NUL-terminated) as one printable line: control
 * bytes become spaces and a UTF-8 sequence cut by the end of out is left out whole. For provider
 * error messages and codes.
 */
void prov_copy_line(char *out, size_t outlen, const char *s, size_t len);

/*
 * Replaces every occurrence of secret (when at least 4 characters), and of any prefix of it of
 * 8 or more characters, in s by "***", in place (log_scrub). For provider keys echoed in
 * upstream error messages, whole or cut short.
 */
void prov_scrub(char *s, const char *secret);

#endif
