/*
 * Test-side control of the fake provider (tests/fake_*.c, binary $GW_FAKE): start it on an
 * ephemeral loopback port, read its /_last and /_stats, reset it, stop it.
 *
 * OpenAI wire (POST to any path ending in /chat/completions or /embeddings). Scenarios, picked by
 * the request body's "model" (the gateway forwards the bare name):
 *   fake-ok (and any unknown name)  "Hello from fake", usage 10/5/15; stream: "Hel","lo"," world"
 *   fake-nousage                    no usage anywhere, even with include_usage
 *   fake-slow-<n>-<ms>              n chunks "x0 ".."x<n-1> " every ms (usage 10/n); non-stream
 *                                   answers after n*ms
 *   fake-overrun-<c>-<ms>           like fake-slow-1-<ms> but reports c completion tokens,
 *                                   whatever max_tokens asked (a provider that overruns)
 *   fake-big-<n>                    n chunks of 1000 'a' with backpressure (usage 10/n*250)
 *   fake-midfail                    stream: 2 chunks then TCP close without the last chunk;
 *                                   non-stream: close without any reply
 *   fake-miderror                   stream: 1 chunk, an SSE error event, normal end, no [DONE];
 *                                   non-stream: 500 "boom mid-stream"
 *   fake-status-<code>              that status, error message "fake error <code> for token
 *                                   <bearer token>"; 429 adds Retry-After: 7
 *   fake-keycut-<code>              the same, the token echoed without its last character
 *   fake-hang                       never answers
 *   fake-badjson                    200 application/json "this is not json"
 *   fake-echo                       content = the exact request body text
 *   fake-tools                      reasoning "Thinking", text "Checking.", tool calls call_a
 *                                   get_weather {"city":"Paris"} (and, streamed, call_b get_time
 *                                   {"tz":"CET"} with interleaved fragments), finish tool_calls,
 *                                   usage 30 (10 cached) / 25
 * Streams send the usage-only chunk only when stream_options.include_usage is true.
 *
 * Anthropic Messages (POST to any path ending in /v1/messages; providers.md §2). Like the real
 * API: no x-api-key header → 401 authentication_error; no anthropic-version header, a body that
 * is not an object, a top-level member the API does not know (e.g. stream_options) or a missing
 * model / max_tokens (integer) / messages (array) → 400 invalid_request_error. Errors are
 * {"type":"error","error":{"type","message"}}. JSON replies: id "msg_fake", the request's model,
 * content blocks, stop_reason, stop_sequence null, usage {input_tokens,
 * cache_creation_input_tokens, cache_read_input_tokens, output_tokens}. With "stream": true,
 * "event: <type>\ndata: <json>\n\n" events: message_start (usage: input side, output_tokens
 * 1), content_block_start index 0, ping, the deltas, content_block_stop, further blocks (start,
 * deltas, stop), message_delta {stop_reason, usage {output_tokens}}, message_stop.
 *   claude-ok (and any unknown name)  text "Hello from claude", end_turn, usage 10/5, cache 0/0;
 *                                   stream: text_delta "Hel", "lo"
 *   claude-tools                    text "Let me check." + tool_use toolu_01B get_weather
 *                                   {"city":"Paris"}, tool_use, usage 120/40; stream: text at
 *                                   index 0, tool_use at index 1 with input_json_delta
 *                                   '{"city":' then '"Paris"}'
 *   claude-cache                    claude-ok with cache_read 100, cache_creation 20 (a gateway
 *                                   that counts cache tokens bills prompt 130)
 *   claude-thinking                 thinking "Let me think" (signature "sig123"; stream:
 *                                   thinking_delta + signature_delta) then text "Answer"
 *   claude-error                    stream: start, text_delta "Hel", event: error
 *                                   overloaded_error "Overloaded", end of body (no
 *                                   message_delta/stop); non-stream: 500 api_error
 *   claude-status-<code>            that status, error type per §2.5 (other 5xx api_error, other
 *                                   4xx invalid_request_error), message "fake anthropic error
 *                                   <code>"; 429 and 529 add retry-after: 7
 *   claude-cut                      stream: start, text_delta "Hel", then TCP close; non-stream:
 *                                   close without any reply
 *   claude-slow-<n>-<ms>            stream: start at once, then n text deltas "x0 ".."x<n-1> "
 *                                   every ms, end_turn, usage 10/n; non-stream answers after n*ms
 *   claude-echo                     text = the exact request body (stream: one text_delta)
 *
 * OpenAI embeddings (POST to any path ending in /embeddings; models voy-* are Voyage's, below):
 * input a string, strings, a token array or token arrays; one vector [0.1+i, 0.2, 0.3] per
 * input i, or with encoding_format "base64" the base64 of those as little-endian float32
 * ("zczMPc3MTD6amZk+" for input 0); usage 4 prompt tokens per input. emb-status-<code>: that
 * status as fake-status-<code> says. No input / an unknown encoding_format → 400.
 *
 * The other wires return the vector [0.5+i, -1.0, 0.25] for input i (exact in float32: input 0
 * is "AAAAPwAAgL8AAIA+" in base64, providers.md §13) and share these rules: a "~tag" suffix is
 * ignored, unknown names behave like the -ok one, every POST is recorded for /_last.
 *
 * Gemini (providers.md §5; model from the URL): POST /v1beta/models/{model}:generateContent,
 * :streamGenerateContent?alt=sse, :batchEmbedContents; x-goog-api-key required. Vertex AI (§6):
 * POST /v1[beta1]/projects/{p}/locations/{loc}/publishers/google/models/{model}:generateContent,
 * :streamGenerateContent?alt=sse, :predict; Authorization: Bearer required, and a role on every
 * contents entry. Errors {"error":{"code","message","status"}} (401 UNAUTHENTICATED without
 * credentials; 400 INVALID_ARGUMENT for an unknown top-level member ("Unknown name"), no or
 * empty contents, a stream without alt=sse, batch requests whose model is not "models/{model}";
 * 404 NOT_FOUND for other methods). Streams: "data: <json>\r\n\r\n" events, no [DONE], the
 * end of the body ends them.
 *   gem-ok (and any unknown name)   text "Hello from gemini", STOP, usage 10/5/15; stream (§15):
 *                                   "Hel" with usageMetadata {promptTokenCount 5}, then "lo"
 *                                   STOP with 5/2/7
 *   gem-tools                       §5.3: a thought part "Thinking…", a functionCall get_weather
 *                                   {"city":"Paris"} with thoughtSignature "c2ln", STOP, usage
 *                                   prompt 30, candidates 8, thoughts 12, total 50, cached 0;
 *                                   stream: the thought (usage prompt 30), then the call (STOP,
 *                                   full usage)
 *   gem-status-<code>               that status, "fake gemini error <code>" (429:
 *                                   RESOURCE_EXHAUSTED "Resource exhausted" with a RetryInfo
 *                                   detail retryDelay "7s"), for every method
 *   gem-miderror                    stream: "Hel", then data: {"error":{"code":500,"message":
 *                                   "fake gemini mid-stream error","status":"INTERNAL"}}, end;
 *                                   non-stream: 500 INTERNAL
 *   batchEmbedContents              {"embeddings":[{"values":V}...]}, one per request, no usage
 *   predict (Vertex)                {"predictions":[{"embeddings":{"values":V,"statistics":
 *                                   {"token_count":4,"truncated":false}}}...]}, one per instance
 *
 * Cohere v2 (§9; POST .../v2/chat, .../v2/embed): Authorization: Bearer required (401);
 * errors {"id":"co-fake","message":M}; an unknown top-level member → 400. Streams ("stream":
 * true) are "event: <type>\ndata: <json with that type>\n\n", no [DONE].
 *   co-ok (and any unknown name)    content [{"type":"text","text":"Hello from cohere"}],
 *                                   COMPLETE, usage billed 10/5, tokens 10/5; stream:
 *                                   message-start, content-start, content-delta "Hel", "lo",
 *                                   content-end, message-end COMPLETE with that usage
 *   co-tools                        §9.2: tool_plan "I will look up the weather.", tool call
 *                                   get_weather_1 get_weather {"city":"Paris"}, TOOL_CALL, usage
 *                                   billed 20/12, tokens 512/12; stream: message-start,
 *                                   tool-plan-delta, tool-call-start, tool-call-delta '{"city":'
 *                                   and '"Paris"}', tool-call-end, message-end TOOL_CALL
 *   co-status-<code>                that status, "fake cohere error <code>" (429: "You are
 *                                   using a Trial key, ...")
 *   embed                           needs texts, input_type and (if embedding_types is given)
 *                                   "float"; {"embeddings":{"float":[V...]},"texts",
 *                                   "meta":{"billed_units":{"input_tokens":4 per text}}}
 *
 * Ollama (§10; POST .../api/chat, .../api/embed): no credentials; errors {"error":M}. Streams
 * unless "stream": false: NDJSON lines (application/x-ndjson), created_at
 * "2026-01-05T10:00:00.123456789Z", the last line done:true with done_reason and the counts.
 *   oll-ok (and any unknown name)   "Hello from ollama", stop, prompt_eval_count 5, eval_count
 *                                   2; stream (§15): "Hel", "lo", then "" done:true 5/2
 *   oll-tools                       thinking "Checking the weather.", tool_calls [{function:
 *                                   {name get_weather, arguments {"city":"Paris"}}}] (an
 *                                   object), content "", 41/17; stream: a thinking line, a
 *                                   tool_calls line, the done line
 *   oll-missing                     404 {"error":"model \"oll-missing\" not found, try pulling
 *                                   it first"} (chat and embed)
 *   oll-miderror                    stream: "Hel", then {"error":"fake ollama mid-stream error"},
 *                                   end; non-stream: 500
 *   embed                           input a string or strings; {"model","embeddings":[V...],
 *                                   "prompt_eval_count": 4 per input}
 *
 * Voyage (§12; POST .../v1/embeddings with a voy-* model): Authorization: Bearer required (401
 * {"detail":"Provided API key is invalid."}); errors {"detail":M}.
 *   voy-ok (any other voy- name)    data[] of {"object":"embedding","embedding":V,"index":i}
 *                                   (base64 when encoding_format is "base64"), usage
 *                                   {"total_tokens": 4 per input}
 *   voy-status-<code>               that status, {"detail":"fake voyage error <code>"}
 * Azure (§3, §4; fake_azure.c): Azure OpenAI at /openai/deployments/{d}/...?api-version=V and
 * /openai/v1/... (model = the deployment, else the body's), AI Inference at any other path with
 * ?api-version=. Azure OpenAI needs api-key or Authorization: Bearer, AI Inference both (401
 * {"error":{"code":"401",...}}); AI Inference answers 400 to a member outside its schema
 * without "extra-parameters". Errors {"error":{"code","message","param":null,"type":null}}.
 *   az-ok (and any other name)      "Hello from azure", stop, usage 9/3, prompt_filter_results
 *                                   and content_filter_results; stream: {"id":"","choices":[],
 *                                   "prompt_filter_results":[...]}, "Hel" (with the role), "lo",
 *                                   a finish chunk stop, usage 9/2 (Azure OpenAI: a usage-only
 *                                   chunk when include_usage is asked; AI Inference: on the
 *                                   finish chunk), data: [DONE]
 *   az-cf                           as az-ok but "Hel" only and finish_reason "content_filter"
 *   az-filter                       400 {"error":{"code":"content_filter","message":...}}
 *   embeddings                      one fake_vector_new vector per input (base64 when asked),
 *                                   model = the deployment or the body's, usage 4 per input
 * Google OAuth (POST to any path ending in /token, fake_google.c; not recorded in /_last): the
 * jwt-bearer grant. The assertion's RS256 signature must verify with the public key of
 * --google-pubkey FILE (or $FAKE_GOOGLE_PUBKEY, inherited from the test), aud must be the URL
 * posted to, exp live and at most 3600 s after iat; then {"access_token":"tok-<n>","expires_in":
 * <--token-ttl or $FAKE_TOKEN_TTL, default 3599>,"token_type":"Bearer"} (n = tokens issued
 * since start), else 400 {"error":"invalid_grant","error_description"}. /_stats counts them in
 * token_requests.
 * watsonx (§11; POST .../ml/v1/text/chat and .../ml/v1/text/chat_stream, fake_watsonx.c):
 * Authorization: Bearer iam-<n> required (401), a version query, model_id, messages, project_id
 * or space_id, and only the members of §11 (400 json_validation_error); errors {"errors":[{"code",
 * "message"}],"trace","status_code"}. Streams: "id: N\nevent: message\ndata: <chunk>\n\n".
 *   wx-ok (and any other name)      "Hello from watsonx", stop, usage 10/5/15, model_id echoed;
 *                                   stream: role + "Hel", "lo", then finish stop with usage 10/5
 *   wx-miderror                     stream: "Hel", then "event: error" with errors[]
 *   wx-status-<code>                that status, "fake watsonx error <code>" (400:
 *                                   json_validation_error)
 * IBM IAM (POST to any path ending in /identity/token; not recorded in /_last): the form body
 * must be exactly grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=<key>
 * with key $FAKE_WATSONX_APIKEY or "wx-test-key/1+2" (form-encoded); then {"access_token":
 * "iam-<n>","expires_in":3600,"expiration":<now+3600>,...}, else 400 {"errorCode":
 * "BXNIM0415E","errorMessage":"Provided API key could not be found."}. /_stats counts them in
 * iam_requests.
 *
 * AWS (§7, §8, §15; fake_aws.c, fake_aws_reply.c): Bedrock at .../model/{modelId}/converse,
 * /converse-stream and /invoke, SageMaker at .../endpoints/{name}/invocations and
 * /invocations-response-stream. The id arrives percent-encoded as one segment (ARNs: %3A, %2F);
 * /_last gets it decoded as "model_id" (Bedrock) or "endpoint_name" (SageMaker), plus "aws_auth":
 * {"scheme":"sigv4"|"bearer","key_id","region","service","signed_headers",
 * "canonical_request_hash"}. Auth: Bedrock accepts Authorization: Bearer T_FAKE_BEDROCK_API_KEY;
 * otherwise SigV4 verified with the fake's own code: key id T_FAKE_AWS_KEY_ID or
 * T_FAKE_AWS_TEMP_KEY_ID (which needs x-amz-security-token = T_FAKE_AWS_TOKEN; the token with the
 * long-term id is refused), secret T_FAKE_AWS_SECRET, scope <date>/T_FAKE_AWS_REGION/"bedrock" or
 * "sagemaker"/aws4_request, x-amz-date within 5 minutes, host, x-amz-date (and the token) signed,
 * canonical URI = the received path encoded again. Failures: 403 with x-amzn-ErrorType
 * UnrecognizedClientException (no/unknown auth, key id, token) or InvalidSignatureException
 * (signature, scope, date), body {"message"}. Errors carry x-amzn-ErrorType; Bedrock bodies
 * {"message":M}, SageMaker {"Message":M}. Streams: application/vnd.amazon.eventstream messages
 * (headers :event-type|:exception-type, :content-type, :message-type, in that order) written 61
 * bytes at a time.
 *   bd-ok (any other model id)      Converse: "Hello from bedrock", end_turn, usage inputTokens
 *                                   20, outputTokens 5, cacheRead 3, cacheWrite 2, total 30;
 *                                   stream: messageStart, delta "Hi" (the §15 fixture bytes),
 *                                   delta " there", contentBlockStop, messageStop end_turn,
 *                                   metadata usage 25/9, cacheRead 4, cacheWrite 1, total 39
 *   bd-tools                        text "Let me check." + toolUse tooluse_fake1 get_weather
 *                                   {"city":"Paris"}, tool_use; stream: the text block, then
 *                                   contentBlockStart 1 toolUse, input '{"city":' and
 *                                   '"Paris"}', stop, messageStop tool_use, metadata as bd-ok
 *   bd-midthrottle                  stream: messageStart, "Hi", then the §15 throttlingException
 *                                   message {"message":"Too many requests"}; JSON as bd-ok
 *   bd-miderror                     the same with modelStreamErrorException "fake model stream
 *                                   error"
 *   bd-badcrc                       stream: as bd-ok but the " there" message's CRC is wrong
 *   bd-status-<code>                that status: 400 ValidationException "Malformed input
 *                                   request: fake validation failure", 403 AccessDenied-, 404
 *                                   ResourceNotFound-, 408 ModelTimeout-, 424 ModelError-, 429
 *                                   Throttling-, 500 InternalServer-, 503 ServiceUnavailable-
 *                                   Exception
 *   Converse bodies with a member outside the Converse schema (model, stream, ...) or no
 *   messages: 400 ValidationException "Malformed input request: extraneous key [k] ...".
 *   invoke (Titan)                  {"inputText","dimensions"?,"normalize"?,"embeddingTypes"?}
 *                                   -> {"embedding":[strlen(inputText),-1,0.25,0...] (dimensions
 *                                   values, 3 by default),"inputTextTokenCount": words}
 *   sm-ok (any other endpoint)      body with messages: OpenAI chat.completion "Hello from
 *                                   sagemaker", stop, usage 11/4/15; stream: PayloadPart events
 *                                   carrying the OpenAI SSE text ("Hel" with the role, "lo",
 *                                   finish stop, usage-only chunk 11/2/13, data: [DONE]) cut
 *                                   every 13 bytes, so each JSON object spans parts
 *   sm-tgi                          {"generated_text":"Hello from tgi"}; stream: TGI lines
 *                                   data:{"token":{"text":"Hel"}}, "lo", then text "" with
 *                                   generated_text "Hello" and details (eos_token)
 *   sm-miderror                     stream: "Hel" then a ModelStreamError exception
 *                                   {"Message","ErrorCode":"ModelInvocationTimeExceeded"}; JSON:
 *                                   424 ModelError
 *   sm-status-<code>                that status, "fake sagemaker error <code>" (400
 *                                   ValidationError, 424 ModelError, 429 ModelNotReadyException,
 *                                   503 ServiceUnavailable, else InternalFailure)
 *   {"inputs":T} (any endpoint)     {"embeddings":[[strlen(T),-1,0.25]]}
 *
 * A "~tag" suffix on any name is ignored (fake-slow-5-10~a1 is fake-slow-5-10).
 * GET /_last: {"method","path","query","headers":{lower-case name: value},"body": JSON or null}
 * of the latest POST (all null before any). GET /_stats: requests, active, client_closed,
 * chunks_sent (OpenAI content chunks; Anthropic text, thinking and input_json deltas).
 * POST /_reset zeroes all but active and forgets the last request.
 */
#ifndef T_FAKE_H
#define T_FAKE_H

#include <sys/types.h>

#include <jansson.h>

/* The fake AWS endpoint's credentials (fake_aws.c). The temporary key id needs the token. */
#define T_FAKE_AWS_KEY_ID "AKIDFAKEGATEWAY00001"
#define T_FAKE_AWS_TEMP_KEY_ID "ASIAFAKEGATEWAY00002"
#define T_FAKE_AWS_SECRET "fakeSecret/Key+0123456789/abcdefGHIJ+klm"
#define T_FAKE_AWS_TOKEN "FwoGZXIvYXdzEFakeSession//Token+Value=="
#define T_FAKE_AWS_REGION "us-west-2"
#define T_FAKE_BEDROCK_API_KEY "ABSKQmVkcm9ja0FQSUtleS1mYWtl"

/* The API key the fake IBM IAM endpoint accepts (unless $FAKE_WATSONX_APIKEY names another). */
#define T_FAKE_WATSONX_KEY "wx-test-key/1+2"

struct t_fake {
    pid_t pid;     /* 0 when not running */
    int port;      /* 127.0.0.1 port, 0 when not running */
    char dir[128]; /* temporary directory holding the port file ("" when none) */
};

/*
 * Runs $GW_FAKE (default ./build/fake-upstream) with --port-file in a new temporary directory
 * and waits up to 5 s for the port. The child gets SIGTERM if the calling process dies. Returns
 * 0, or -1 with everything cleaned up (f is then as after t_fake_stop).
 */
int t_fake_start(struct t_fake *f);

/* Stops the fake with SIGTERM (SIGKILL after 3 s), reaps it and removes its directory. Safe on a
 * zeroed or already stopped struct. Returns the exit status (128+signal when killed, 0 for a
 * clean exit, which under LeakSanitizer also means no leaks), or -1 if nothing was running. */
int t_fake_stop_rc(struct t_fake *f);

/* t_fake_stop_rc, complaining on stderr when the exit status is not 0. */
void t_fake_stop(struct t_fake *f);

/* GET path on the fake; returns the parsed JSON body (owned, json_decref) or NULL when the
 * request fails, the status is not 200 or the body is not JSON. */
json_t *t_fake_get(const struct t_fake *f, const char *path);

/* One integer field of /_stats ("requests", "active", "client_closed", "chunks_sent"), -1 on
 * error. */
long t_fake_stat(const struct t_fake *f, const char *name);

/* POST /_reset: zero the counters (not active) and forget the last request. */
void t_fake_reset(const struct t_fake *f);

/* The member of j at a dotted path where numeric steps index arrays ("choices.0.delta"); NULL
 * when absent. Borrowed. */
json_t *t_json_at(json_t *j, const char *path);

#endif
