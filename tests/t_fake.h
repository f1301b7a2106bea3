/*
 * Test-side control of the fake OpenAI-wire provider (tests/fake_upstream.c, binary $GW_FAKE):
 * start it on an ephemeral loopback port, read its /_last and /_stats, reset it, stop it.
 *
 * Scenarios, picked by the request body's "model" (the gateway forwards the bare name):
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
 * A "~tag" suffix on any name is ignored (fake-slow-5-10~a1 is fake-slow-5-10).
 * Streams send the usage-only chunk only when stream_options.include_usage is true.
 * GET /_last: {"method","path","query","headers":{lower-case name: value},"body": JSON or null}
 * of the latest POST (all null before any). GET /_stats: requests, active, client_closed,
 * chunks_sent. POST /_reset zeroes all but active and forgets the last request.
 */
#ifndef T_FAKE_H
#define T_FAKE_H

#include <sys/types.h>

#include <jansson.h>

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

#endif
