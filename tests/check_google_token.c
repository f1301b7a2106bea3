/*
 * The access-token cache (prov_token.h) on a real event loop against the fake provider's Google
 * token endpoint (fake_google.c): one fetch shared by concurrent waiters, cached tokens served at
 * once, refreshes ahead of expiry with short lifetimes, failures reaching every waiter and not
 * remembered, cancelled waits, a cache freed with a fetch in flight; then the gateway itself:
 * vertexaianthropic end to end (token fetched once, rawPredict and streamRawPredict at the Vertex
 * path), a misconfigured credential answered 502, and check-config reporting it.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "httpc.h"
#include "providers/prov_conf.h"
#include "providers/prov_token.h"
#include "t_fake.h"
#include "t_google.h"
#include "t_gw.h"
#include "util.h"

struct loop {
    struct event_base *base;
    struct httpc *hc;
    struct prov_tokens *t;
    struct t_fake fk;
    struct t_gkeys k;
    struct prov_confs *pc;
    const struct prov_conf *c;
};

/* One waiter's outcome. */
struct got {
    int calls;
    char token[64];
    char err[320];
};

static void got_cb(const char *token, const char *err, void *arg)
{
    struct got *g = arg;

    g->calls++;
    snprintf(g->token, sizeof(g->token), "%s", token != NULL ? token : "");
    snprintf(g->err, sizeof(g->err), "%s", err != NULL ? err : "");
}

/* Starts the fake (token TTL ttl) and a cache whose vertexai credential is signed by key (the
 * key the fake trusts, or the other one). */
static void loop_start(struct loop *l, const char *ttl, bool trusted)
{
    char path[160], uri[96];

    memset(l, 0, sizeof(*l));
    t_gclear_env();
    t_gkeys_init(&l->k);
    setenv("FAKE_GOOGLE_PUBKEY", l->k.pub, 1);
    setenv("FAKE_TOKEN_TTL", ttl, 1);
    ck_assert_int_eq(t_fake_start(&l->fk), 0);
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/token", l->fk.port);
    snprintf(path, sizeof(path), "%s/sa.json", l->k.dir);
    t_gsa_write(t_gsa_json(trusted ? l->k.key : l->k.key2, uri, "proj"), path);
    l->pc = t_gconfs(json_pack("{s:{s:s}}", "vertexai", "credentials", path));
    l->c = t_gconf(l->pc, "vertexai");
    ck_assert_ptr_null(l->c->problem);
    ck_assert_ptr_nonnull((l->base = event_base_new()));
    ck_assert_ptr_nonnull((l->hc = httpc_new(l->base, NULL)));
    ck_assert_ptr_nonnull((l->t = prov_tokens_new(l->hc)));
}

static void loop_stop(struct loop *l)
{
    prov_tokens_free(l->t);
    httpc_free(l->hc);
    event_base_free(l->base);
    prov_confs_free(l->pc);
    ck_assert_int_eq(t_fake_stop_rc(&l->fk), 0);
    t_gkeys_free(&l->k);
    unsetenv("FAKE_GOOGLE_PUBKEY");
    unsetenv("FAKE_TOKEN_TTL");
}

/* Runs the loop for about ms. */
static void loop_run(struct loop *l, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

    event_base_loopexit(l->base, &tv);
    event_base_dispatch(l->base);
}

/* Runs the loop until *calls reaches want (or ms pass). */
static void loop_until(struct loop *l, const int *calls, int want, int ms)
{
    int64_t deadline = util_mono_us() + (int64_t)ms * 1000;
    struct timeval tv = {0, 10000};

    while (*calls < want && util_mono_us() < deadline) {
        event_base_loopexit(l->base, &tv);
        event_base_dispatch(l->base);
    }
    ck_assert_int_eq(*calls, want);
}

START_TEST(cache_single_flight_and_reuse)
{
    struct loop l;
    struct got a = {0}, b = {0}, c = {0};

    loop_start(&l, "3599", true);
    /* The first two wait for one fetch; the third is served at once from the cache. */
    ck_assert_ptr_nonnull(prov_tokens_get(l.t, l.c, got_cb, &a));
    ck_assert_ptr_nonnull(prov_tokens_get(l.t, l.c, got_cb, &b));
    ck_assert_int_eq(a.calls + b.calls, 0);
    loop_until(&l, &a.calls, 1, 5000);
    loop_until(&l, &b.calls, 1, 5000);
    ck_assert_str_eq(a.token, "tok-1");
    ck_assert_str_eq(b.token, "tok-1");
    ck_assert_int_eq(t_fake_stat(&l.fk, "token_requests"), 1);
    ck_assert_ptr_null(prov_tokens_get(l.t, l.c, got_cb, &c));
    ck_assert_int_eq(c.calls, 1);
    ck_assert_str_eq(c.token, "tok-1");
    ck_assert_int_eq(t_fake_stat(&l.fk, "token_requests"), 1);
    loop_stop(&l);
}
END_TEST

START_TEST(cache_short_ttl_refreshes)
{
    struct loop l;
    struct got a = {0}, b = {0}, c = {0}, d = {0};
    int64_t got_at;

    /* 3 s tokens: handed out until 2.7 s, refreshed in the background from 2.4 s. */
    loop_start(&l, "3", true);
    ck_assert_ptr_nonnull(prov_tokens_get(l.t, l.c, got_cb, &a));
    loop_until(&l, &a.calls, 1, 5000);
    got_at = util_mono_us();
    ck_assert_str_eq(a.token, "tok-1");
    usleep((useconds_t)(got_at + 2450000 - util_mono_us()));
    ck_assert_ptr_null(prov_tokens_get(l.t, l.c, got_cb, &b));
    ck_assert_str_eq(b.token, "tok-1"); /* still good: served, refresh started behind it */
    ck_assert_int_eq(httpc_active(l.hc), 1);
    for (int i = 0; i < 500 && httpc_active(l.hc) > 0; i++)
        loop_run(&l, 10);
    ck_assert_int_eq(t_fake_stat(&l.fk, "token_requests"), 2);
    ck_assert_ptr_null(prov_tokens_get(l.t, l.c, got_cb, &c));
    ck_assert_str_eq(c.token, "tok-2");
    /* Past its usable time a token is never handed out: the request waits for a new one. */
    usleep(2800000);
    ck_assert_ptr_nonnull(prov_tokens_get(l.t, l.c, got_cb, &d));
    loop_until(&l, &d.calls, 1, 5000);
    ck_assert_str_eq(d.token, "tok-3");
    loop_stop(&l);
}
END_TEST

START_TEST(cache_failure_reaches_every_waiter)
{
    struct loop l;
    struct got a = {0}, b = {0}, c = {0};

    loop_start(&l, "3599", false); /* signed with a key the endpoint does not trust */
    ck_assert_ptr_nonnull(prov_tokens_get(l.t, l.c, got_cb, &a));
    ck_assert_ptr_nonnull(prov_tokens_get(l.t, l.c, got_cb, &b));
    loop_until(&l, &a.calls, 1, 5000);
    loop_until(&l, &b.calls, 1, 5000);
    ck_assert_str_eq(a.token, "");
    ck_assert_str_eq(a.err, "the token endpoint answered HTTP 400: invalid_grant: Invalid JWT "
                            "Signature.");
    ck_assert_str_eq(b.err, a.err);
    /* Not remembered: the next request tries again. */
    ck_assert_ptr_nonnull(prov_tokens_get(l.t, l.c, got_cb, &c));
    loop_until(&l, &c.calls, 1, 5000);
    ck_assert_int_eq(t_fake_stat(&l.fk, "token_requests"), 2);
    loop_stop(&l);
}
END_TEST

START_TEST(cache_cancel_and_free)
{
    struct loop l;
    struct got a = {0}, b = {0}, c = {0}, d = {0};
    struct prov_token_wait *w;
    struct prov_confs *none;

    loop_start(&l, "3599", true);
    /* A cancelled wait is never called back; the fetch goes on for the other waiter. */
    w = prov_tokens_get(l.t, l.c, got_cb, &a);
    ck_assert_ptr_nonnull(prov_tokens_get(l.t, l.c, got_cb, &b));
    prov_token_wait_cancel(w);
    loop_until(&l, &b.calls, 1, 5000);
    ck_assert_int_eq(a.calls, 0);
    ck_assert_str_eq(b.token, "tok-1");
    /* A credential that failed to load: the reason at once. */
    none = t_gconfs(json_pack("{s:{s:s}}", "vertexai", "project", "p"));
    ck_assert_ptr_null(prov_tokens_get(l.t, t_gconf(none, "vertexai"), got_cb, &c));
    ck_assert_int_eq(c.calls, 1);
    ck_assert_ptr_nonnull(strstr(c.err, "no service-account credentials"));
    prov_confs_free(none);
    /* Freed with a fetch in flight (a new cache fetches again): its waiter hears "shutting down".
     */
    prov_tokens_free(l.t);
    ck_assert_ptr_nonnull((l.t = prov_tokens_new(l.hc)));
    ck_assert_ptr_nonnull(prov_tokens_get(l.t, l.c, got_cb, &d));
    prov_tokens_free(l.t);
    l.t = NULL;
    ck_assert_int_eq(d.calls, 1);
    ck_assert_str_eq(d.err, "shutting down");
    loop_stop(&l);
}
END_TEST

/* ---- Through the gateway ---- */

/* A gateway (one worker: one token cache) whose vertexaianthropic provider points at the fake. */
struct vgw {
    struct t_gkeys k;
    struct t_fake fk;
    struct t_gw gw;
    char sa[160];
};

static void vpost(const struct vgw *v, const char *path, const char *body, struct t_resp *r);

static void vgw_start(struct vgw *v, const char *credentials)
{
    static const char *const args[] = {"--workers", "1", NULL};
    char yaml[1024], uri[96];
    struct t_resp r;

    memset(v, 0, sizeof(*v));
    t_gclear_env();
    t_gkeys_init(&v->k);
    setenv("FAKE_GOOGLE_PUBKEY", v->k.pub, 1);
    ck_assert_int_eq(t_fake_start(&v->fk), 0);
    unsetenv("FAKE_GOOGLE_PUBKEY");
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/token", v->fk.port);
    snprintf(v->sa, sizeof(v->sa), "%s/sa.json", v->k.dir);
    t_gsa_write(t_gsa_json(v->k.key, uri, NULL), v->sa);
    snprintf(yaml, sizeof(yaml),
             "master_key: m\nbootstrap_api_key: false\nproviders:\n  vertexaianthropic:\n"
             "    credentials: %s\n    project_id: proj\n    region: us-east5\n"
             "    api_base: http://127.0.0.1:%d\n",
             credentials != NULL ? credentials : v->sa, v->fk.port);
    ck_assert_int_eq(t_gw_start(&v->gw, yaml, args, NULL), 0);
    vpost(v, "/v1/users", "{\"user_id\":\"alice\"}", &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    t_resp_free(&r);
}

static void vgw_stop(struct vgw *v)
{
    ck_assert_int_eq(t_gw_stop(&v->gw, SIGTERM, 10000), 0);
    ck_assert_int_eq(t_fake_stop_rc(&v->fk), 0);
    t_gkeys_free(&v->k);
}

static void vpost(const struct vgw *v, const char *path, const char *body, struct t_resp *r)
{
    char te[32];

    ck_assert_int_eq(t_http(v->gw.port, "POST", path,
                            "Authorization: Bearer m\r\nContent-Type: application/json\r\n", body,
                            r),
                     0);
    if (t_header(r, "Transfer-Encoding", te, sizeof(te)) != NULL && strcmp(te, "chunked") == 0)
        r->body_len = t_dechunk(r->body, r->body_len);
    r->body[r->body_len] = '\0';
}

/* The fake's last provider call: path, Authorization and body checks for Vertex. */
static void assert_vertex_call(const struct vgw *v, const char *method)
{
    json_t *last = t_fake_get(&v->fk, "/_last"), *body;
    char want[160];

    ck_assert_ptr_nonnull(last);
    snprintf(want, sizeof(want),
             "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-ok:%s",
             method);
    ck_assert_str_eq(json_string_value(json_object_get(last, "path")), want);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(last, "headers"), "authorization")),
        "Bearer tok-1");
    body = json_object_get(last, "body");
    ck_assert_ptr_null(json_object_get(body, "model"));
    ck_assert_str_eq(json_string_value(json_object_get(body, "anthropic_version")),
                     "vertex-2023-10-16");
    json_decref(last);
}

START_TEST(gateway_vertex_anthropic)
{
    struct vgw v;
    struct t_resp r;
    static const char chat[] = "{\"model\":\"vertexaianthropic:claude-ok\",\"user\":\"alice\","
                               "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]%s}";
    char body[256];

    vgw_start(&v, NULL);
    snprintf(body, sizeof(body), chat, "");
    vpost(&v, "/v1/chat/completions", body, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "Hello from claude"));
    t_resp_free(&r);
    assert_vertex_call(&v, "rawPredict");
    snprintf(body, sizeof(body), chat, ",\"stream\":true");
    vpost(&v, "/v1/chat/completions", body, &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "\"Hel\""));
    ck_assert_ptr_nonnull(strstr(r.body, "[DONE]"));
    t_resp_free(&r);
    assert_vertex_call(&v, "streamRawPredict");
    vpost(&v, "/v1/messages",
          "{\"model\":\"vertexaianthropic:claude-ok\",\"max_tokens\":10,\"metadata\":{"
          "\"user_id\":\"alice\"},\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
          &r);
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "Hello from claude"));
    t_resp_free(&r);
    assert_vertex_call(&v, "rawPredict");
    /* One token served all three calls. */
    ck_assert_int_eq(t_fake_stat(&v.fk, "token_requests"), 1);
    vgw_stop(&v);
}
END_TEST

START_TEST(gateway_misconfigured)
{
    struct vgw v;
    struct t_resp r;
    char cfg[256], *out = NULL, *log;
    const char *chk[] = {"check-config", "--config", cfg, NULL};
    FILE *f;

    vgw_start(&v, "/nonexistent/sa.json");
    vpost(&v, "/v1/chat/completions",
          "{\"model\":\"vertexaianthropic:claude-ok\",\"user\":\"alice\",\"messages\":[{"
          "\"role\":\"user\",\"content\":\"Hi\"}]}",
          &r);
    ck_assert_int_eq(r.status, 502);
    ck_assert_msg(strstr(r.body, "provider 'vertexaianthropic' is misconfigured: cannot read "
                                 "credentials file '/nonexistent/sa.json'") != NULL,
                  "%s", r.body);
    t_resp_free(&r);
    ck_assert_int_eq(t_fake_stat(&v.fk, "token_requests"), 0);
    ck_assert_int_eq(t_fake_stat(&v.fk, "requests"), 0);
    log = t_gw_log_wait(&v.gw, "provider 'vertexaianthropic' is misconfigured", 5000);
    ck_assert_ptr_nonnull(log);
    free(log);
    /* check-config names the provider and the problem, and fails. */
    snprintf(cfg, sizeof(cfg), "%s/check.yaml", v.k.dir);
    ck_assert_ptr_nonnull((f = fopen(cfg, "w")));
    fprintf(f, "providers:\n  vertexai:\n    credentials: /nonexistent/sa.json\n");
    fclose(f);
    ck_assert_int_eq(t_run(chk, NULL, &out), 2);
    ck_assert_msg(strstr(out, "providers.vertexai: cannot read credentials file "
                              "'/nonexistent/sa.json'") != NULL,
                  "%s", out);
    free(out);
    /* A good key: OK. */
    ck_assert_ptr_nonnull((f = fopen(cfg, "w")));
    fprintf(f, "providers:\n  vertexai:\n    credentials: %s\n    project: p\n", v.sa);
    fclose(f);
    ck_assert_int_eq(t_run(chk, NULL, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "Configuration OK"));
    free(out);
    vgw_stop(&v);
}
END_TEST

Suite *google_token_suite(void)
{
    Suite *s = suite_create("google_token");
    TCase *tc = tcase_create("cache");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cache_single_flight_and_reuse);
    tcase_add_test(tc, cache_short_ttl_refreshes);
    tcase_add_test(tc, cache_failure_reaches_every_waiter);
    tcase_add_test(tc, cache_cancel_and_free);
    suite_add_tcase(s, tc);

    tc = tcase_create("gateway");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gateway_vertex_anthropic);
    tcase_add_test(tc, gateway_misconfigured);
    suite_add_tcase(s, tc);
    return s;
}
