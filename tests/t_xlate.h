/*
 * Test helpers for the translating dialects (check_cohere.c, check_ollama.c): build a chat or
 * embeddings call from JSON text, collect a stream's emitted chunks, and run a stream through its
 * framing (prov_frame.h, as the gateway does) cut at every byte, comparing each run with the uncut
 * one.
 */
#ifndef T_XLATE_H
#define T_XLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "providers/prov_conf.h"
#include "providers/prov_dialect.h"

/* Hex text into out (big enough); returns the byte count. */
size_t tx_unhex(const char *hex, unsigned char *out);

/* Parses JSON text (the test fails when it is not JSON). */
json_t *tx_load(const char *text);

/* Resolved provider settings from a providers object in JSON text (NULL: none configured). */
struct prov_confs *tx_confs(const char *providers);
const struct prov_conf *tx_conf(const struct prov_confs *pc, const char *id);

/* The only header called name (any case), or NULL; fails when it appears twice. */
const char *tx_header(const struct prov_http *h, const char *name);

/* A built call: rc, the body parsed, the request line and headers, the reason on failure. */
struct tx_built {
    int rc;
    bool client_usage;
    json_t *body;
    struct prov_http h;
    char err[256];
};

/* chat_build (embed false) or embed_build of req for model "m1". */
void tx_build(struct tx_built *b, const struct prov_dialect_ops *d, const struct prov_conf *c,
              const char *req, bool stream, bool embed);

/* The same with the other inputs of in (model, stream, bearer, anthropic_*); in.req is req. */
void tx_build_in(struct tx_built *b, const struct prov_dialect_ops *d, const struct prov_conf *c,
                 struct prov_chat_in in, const char *req, bool embed);
void tx_built_free(struct tx_built *b);

/* The built body must equal expect (JSON text). */
void tx_body_is(const struct tx_built *b, const char *expect);

/* The building must be refused with PROV_E_REQUEST and a reason containing needle. */
void tx_rejects(const struct prov_dialect_ops *d, const struct prov_conf *c, const char *req,
                bool embed, const char *needle);

/* A reply through chat_reply (rc must be 0): the translated body parsed, usage, gen_bytes. */
json_t *tx_reply(const struct prov_dialect_ops *d, const char *body, struct prov_usage *u,
                 size_t *gen);

/* An embeddings reply through embed_reply (rc must be 0), parsed. */
json_t *tx_embed_reply(const struct prov_dialect_ops *d, const char *body, struct prov_usage *u);

/* error_message of body: the message, and the code into code. */
void tx_error(const struct prov_dialect_ops *d, const char *body, char *msg, size_t msglen,
              char *code, size_t codelen);

/*
 * Emitted chunks: "<event or ->|<json>\n" each, "created" values replaced by 0, generated ids by
 * "GEN". Every pivot chunk (no event) must carry the stream's one id (the first chunk's).
 */
struct tx_sink {
    char log[16384];
    size_t len;
    int n;
    bool overflow;
    char id[96];
};

/* The emit function writing into a struct tx_sink (arg). */
int tx_emit(const char *event, const char *data, size_t len, void *arg);

/* One stream run. */
struct tx_run {
    const struct prov_dialect_ops *d;
    struct prov_stream s;
    struct tx_sink k;
};

/*
 * Runs text through the dialect's framing (SSE or NDJSON) in one piece, then cut in two at every
 * byte: every run must emit the same and end in the same state. *whole gets the uncut run.
 */
void tx_run_everywhere(struct tx_run *whole, const struct prov_dialect_ops *d, const char *text,
                       bool client_usage);

/* The same for n bytes of any content (the AWS event stream is binary). */
void tx_run_everywhere_bytes(struct tx_run *whole, const struct prov_dialect_ops *d,
                             const void *data, size_t n, bool client_usage);

#endif
