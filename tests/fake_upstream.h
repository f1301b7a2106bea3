/*
 * Internals shared by the parts of the fake-upstream binary (not by the test runner):
 * fake_upstream.c (process, routing, /_last and /_stats, reply helpers, calls answered over
 * time), fake_openai.c and fake_openai_embed.c (the OpenAI-wire scenarios), fake_anthropic.c
 * (the Anthropic Messages scenarios), fake_gemini.c (Gemini API and Vertex AI), fake_cohere.c
 * (Cohere v2), fake_ollama.c (Ollama native), fake_voyage.c (Voyage embeddings) and
 * fake_watsonx.c (watsonx and IBM IAM), fake_azure.c (Azure OpenAI, Azure AI Inference),
 * fake_aws.c and fake_aws_reply.c (Bedrock and SageMaker, SigV4, event streams). The
 * scenarios are listed in t_fake.h.
 */
#ifndef FAKE_UPSTREAM_H
#define FAKE_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#define FAKE_MAX_N 10000000L
#define FAKE_MAX_MS 600000L

/* A scenario picked from the model name; kind is the mode's own enum. */
struct fake_spec {
    int kind;
    long n;          /* content chunks (slow, big) */
    long ms;         /* delay before each chunk (slow) */
    int code;        /* HTTP status (status) */
    int cut;         /* status: characters cut off the end of the echoed token (fake-keycut-) */
    long completion; /* reported completion tokens when > 0 (overrun), else n */
};

struct fake_call;

struct fake_srv {
    struct event_base *base;
    struct evhttp *http;
    TAILQ_HEAD(fake_call_list, fake_call) calls; /* requests still being answered */
    long requests;                               /* POSTs received since the last reset */
    long active;                                 /* length of calls */
    long client_closed;
    long chunks_sent;    /* SSE content chunks handed to evhttp */
    long token_requests; /* POSTs to the Google token endpoint (fake_google.c) */
    long iam_requests;   /* POSTs to the IBM IAM token endpoint (fake_watsonx.c) */
    json_t *last;        /* the /_last document; NULL when no POST since the last reset */
};

/* What a call does when its timer fires (unless close_now is set: then it is cut). */
typedef void fake_tick_fn(struct fake_call *c);

/*
 * One request answered over time (streams, delays, hangs). It is owned by srv->calls and ends
 * in exactly one of: fake_call_release (we answered), fake_call_closed (the client left, from
 * evhttp's close callback), fake_call_abort (we cut the connection), or shutdown.
 */
struct fake_call {
    TAILQ_ENTRY(fake_call) link;
    struct fake_srv *srv;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct fake_spec sp;
    fake_tick_fn *tick; /* NULL: the timer only serves close_now */
    char *model;
    bool stream;
    bool usage;     /* stream_options.include_usage */
    bool close_now; /* the next tick cuts the connection (fake-midfail, internal errors) */
    long sent;      /* content chunks sent */
    struct event *timer;
    struct event *watch; /* EOF detector while no reply has started */
};

typedef void fake_sent_fn(struct evhttp_connection *evcon, void *arg);

/* ---- fake_upstream.c ---- */

/* Parses a decimal in [min, max] at s that ends at stop; *end points at the stop character. */
bool fake_parse_num(const char *s, char stop, long min, long max, long *out, const char **end);

/* Percent-decodes n bytes of s (form: '+' as a space too) into a new string; NULL when a %XX is
   malformed or decodes to a NUL. */
char *fake_pct_decode(const char *s, size_t n, bool form);

/* The first member of the object body whose name is not in known (NULL-terminated), or NULL. */
const char *fake_unknown_member(json_t *body, const char *const *known);

/* Copies tagged without its "~tag" suffix (the soak test's request tags) into out. */
void fake_model_base(const char *tagged, char *out, size_t outlen);

/* Sends doc (ownership taken; NULL means an earlier allocation failed: 500) as the reply. */
void fake_reply_json(struct evhttp_request *req, int status, json_t *doc);

/* An OpenAI-shaped error reply {"error":{"message","type"}}. */
void fake_reply_error(struct evhttp_request *req, int status, const char *message,
                      const char *type);

/* Starts a 200 SSE reply (chunked: evhttp adds Transfer-Encoding for HTTP/1.1 clients). */
void fake_stream_start(struct evhttp_request *req);

/* Hands len bytes to evhttp as one HTTP chunk; cb (may be NULL) runs once evhttp's output has
 * drained. Returns 0 or -1. */
int fake_send_raw(struct evhttp_request *req, const char *data, size_t len, fake_sent_fn *cb,
                  void *arg);

/* Sends "event: <event>\n" (when event != NULL) then "data: <doc>\n\n" as one HTTP chunk (doc
 * taken; NULL fails). content: count it in chunks_sent. Returns 0 or -1. */
int fake_send_event(struct fake_srv *srv, struct evhttp_request *req, const char *event,
                    json_t *doc, bool content, fake_sent_fn *cb, void *arg);

/* Registers a call for req; its close callback is set until fake_call_release/abort. */
struct fake_call *fake_call_new(struct fake_srv *srv, struct evhttp_request *req,
                                const struct fake_spec *sp, const char *model, bool stream,
                                bool usage, fake_tick_fn *tick);

/* Forgets c before answering its request: the close callback must not fire on a connection that
 * outlives the request (keep-alive) or closes after our reply. Returns the request. */
struct evhttp_request *fake_call_release(struct fake_call *c);

/* Cuts the TCP connection without finishing the reply. Never call this from inside an evhttp
 * callback: evhttp_connection_free would pull the connection from under it. */
void fake_call_abort(struct fake_call *c);

/* Runs the call's tick after ms. */
void fake_call_after(struct fake_call *c, long long ms);

/* Internal failure mid-answer: cut the connection from a fresh event, since this may run inside
 * an evhttp callback. */
void fake_call_fail(struct fake_call *c);

/* A fake_sent_fn: evhttp has written everything we queued; arg is the call, whose tick runs
 * next (outside evhttp's callback). */
void fake_call_flushed(struct evhttp_connection *evcon, void *arg);

/* Watches the connection for the client's EOF while no reply has started (evhttp does not read a
 * connection that holds a whole request). */
void fake_call_watch_start(struct fake_call *c);

/* ---- fake_openai.c ---- */

/* POST .../chat/completions. */
void fake_chat(struct fake_srv *srv, struct evhttp_request *req, const char *text, size_t len);

/* The fake-status-<code> reply: that status, "fake error <code> for token <bearer token>" with
 * cut characters cut off the token's end; 429 adds Retry-After: 7. */
void fake_status(struct evhttp_request *req, int code, int cut);

/* ---- fake_openai_embed.c ---- */

/* POST .../embeddings (models named voy-* go to fake_voyage). */
void fake_embeddings(struct evhttp_request *req, const char *text, size_t len);

/* The embedding vector the wire modules return for input i: [0.5+i, -1.0, 0.25] (exact in
 * float32: input 0 is "AAAAPwAAgL8AAIA+" in base64). NULL on allocation failure. */
json_t *fake_vector_new(size_t i);

/* A JSON string: base64 of v[0..n) as little-endian float32 (n <= 16); NULL on failure. */
json_t *fake_base64_floats(const double *v, size_t n);

/* The bearer token of an Authorization header, NULL when there is none. */
const char *fake_bearer(struct evhttp_request *req);

/* ---- fake_anthropic.c ---- */

/* POST .../v1/messages. */
void fake_messages(struct fake_srv *srv, struct evhttp_request *req, const char *text, size_t len);

/* ---- fake_gemini.c ---- */

/* True for the Gemini API and Vertex AI publishers/google model paths. */
bool fake_gemini_path(const char *path);

/* POST /v1beta/models/{model}:{method} or .../publishers/google/models/{model}:{method}. */
void fake_gemini(struct fake_srv *srv, struct evhttp_request *req, const char *path,
                 const char *text, size_t len);

/* ---- fake_cohere.c ---- */

/* POST .../v2/chat and .../v2/embed (embed: true). */
void fake_cohere(struct fake_srv *srv, struct evhttp_request *req, bool embed, const char *text,
                 size_t len);

/* ---- fake_ollama.c ---- */

/* POST .../api/chat and .../api/embed (embed: true). */
void fake_ollama(struct fake_srv *srv, struct evhttp_request *req, bool embed, const char *text,
                 size_t len);

/* ---- fake_voyage.c ---- */

/* POST .../v1/embeddings for a voy-* model; body is the parsed request (borrowed). */
void fake_voyage(struct evhttp_request *req, json_t *body);
/* ---- fake_azure.c ---- */

/* True for Azure's v1 paths (/openai/v1/...) and any path with an api-version query. */
bool fake_azure_path(const char *path, const char *query);

/* POST an Azure OpenAI or AI Inference chat/completions or embeddings path. */
void fake_azure(struct fake_srv *srv, struct evhttp_request *req, const char *path,
                const char *text, size_t len);

/* ---- fake_aws.c ---- */

/* True for Bedrock runtime paths (.../model/{id}/converse, converse-stream, invoke) and
 * SageMaker runtime paths (.../endpoints/{name}/invocations, invocations-response-stream). */
bool fake_aws_path(const char *path);

/* POST one of those paths: decodes and records the model id / endpoint name in /_last
 * (model_id, endpoint_name, aws_auth), checks the Bedrock API key or the SigV4 signature, then
 * answers the scenario (fake_aws_reply.c). */
void fake_aws(struct fake_srv *srv, struct evhttp_request *req, const char *path, const char *text,
              size_t len);

/* An AWS error reply: status, x-amzn-ErrorType: type, body {key: message}. */
void fake_aws_error(struct evhttp_request *req, int status, const char *type, const char *key,
                    const char *message);

/* ---- fake_aws_reply.c ---- */

enum { FAKE_BD_CONVERSE, FAKE_BD_CONVERSE_STREAM, FAKE_BD_INVOKE };

/* A Bedrock call (op: FAKE_BD_*) for model (decoded), body the parsed JSON object (borrowed). */
void fake_bedrock(struct fake_srv *srv, struct evhttp_request *req, int op, const char *model,
                  json_t *body);

/* A SageMaker InvokeEndpoint (stream: ...WithResponseStream) call for endpoint. */
void fake_sagemaker(struct fake_srv *srv, struct evhttp_request *req, bool stream,
                    const char *endpoint, json_t *body);

/* ---- fake_google.c ---- */

/* The token endpoint's settings: the public key file and the TTL (NULL: from the environment,
 * FAKE_GOOGLE_PUBKEY and FAKE_TOKEN_TTL). Returns 0, or -1 (reported on stderr). */
int fake_google_init(const char *pubkey_path, const char *ttl);
void fake_google_free(void);

/* POST .../token (a Google OAuth token endpoint). */
void fake_google_token(struct fake_srv *srv, struct evhttp_request *req, const char *path,
                       const char *text, size_t len);

/* POST .../publishers/anthropic/models/M:rawPredict or :streamRawPredict (Vertex AI). */
void fake_vertex_messages(struct fake_srv *srv, struct evhttp_request *req, const char *path,
                          const char *text, size_t len);

/* ---- fake_watsonx.c ---- */

/* POST .../identity/token (IBM IAM, API-key grant). */
void fake_watsonx_iam(struct fake_srv *srv, struct evhttp_request *req, const char *text,
                      size_t len);

/* POST .../ml/v1/text/chat and .../ml/v1/text/chat_stream (stream: true). */
void fake_watsonx(struct fake_srv *srv, struct evhttp_request *req, bool stream, const char *text,
                  size_t len);

#endif
