/*
 * Unit tests of the OpenAI wire dialect (prov_dialect.h) and the provider settings it builds from
 * (prov_conf.h): the upstream request (URL, body merge, forced usage, headers, missing base URL),
 * environment precedence and timeouts, full replies, stream events one by one and a whole SSE
 * stream split at every byte, error-message extraction (UTF-8 safe truncation) and key scrubbing.
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/prov_conf.h"
#include "providers/prov_dialect.h"
#include "providers/prov_registry.h"
#include "providers/prov_sse.h"

static json_t *load(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);

    ck_assert_msg(v != NULL, "bad test JSON: %s", e.text);
    return v;
}

static const struct prov_dialect_ops *openai(void)
{
    const struct prov_dialect_ops *d = prov_dialect_get(PROV_D_OPENAI);

    ck_assert_ptr_nonnull(d);
    return d;
}

/* Environment variables the resolved settings may read; tests start from none of them. */
static void clear_env(void)
{
    static const char *const vars[] = {"OPENAI_API_KEY", "OPENAI_BASE_URL", "GATEWAY_API_KEY",
                                       "GATEWAY_API_BASE"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

/* Resolves every provider from a providers object in JSON text (NULL: no section at all). */
static struct prov_confs *confs(const char *providers)
{
    json_t *p = providers != NULL ? load(providers) : NULL;
    struct prov_confs *pc = prov_confs_new(p);

    json_decref(p); /* borrowed by prov_confs_new */
    ck_assert_ptr_nonnull(pc);
    return pc;
}

static const struct prov_conf *conf_of(const struct prov_confs *pc, const char *id)
{
    const struct prov_info *info = prov_find(id);
    const struct prov_conf *c;

    ck_assert_ptr_nonnull(info);
    c = prov_confs_get(pc, info);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_eq(c->info, info);
    return c;
}

/* Value of the only header called name, or NULL when absent; fails when it appears twice. */
static const char *header(const struct prov_http *h, const char *name)
{
    const char *v = NULL;

    for (size_t i = 0; i < h->nheaders; i++) {
        if (strcmp(h->headers[i].name, name) != 0)
            continue;
        ck_assert_msg(v == NULL, "header %s sent twice", name);
        v = h->headers[i].value;
    }
    return v;
}

START_TEST(dialect_table)
{
    const struct prov_dialect_ops *d = openai();

    ck_assert_ptr_eq(d, &prov_dialect_openai);
    ck_assert_str_eq(d->name, "openai");
    ck_assert_ptr_nonnull(d->chat_build);
    ck_assert_ptr_nonnull(d->chat_reply);
    ck_assert_ptr_nonnull(d->chat_event);
    ck_assert_ptr_nonnull(d->error_message);
    ck_assert_ptr_eq(prov_dialect_get(PROV_D_ANTHROPIC), &prov_dialect_anthropic);
    ck_assert_ptr_eq(prov_dialect_native_messages(PROV_D_ANTHROPIC),
                     &prov_dialect_anthropic_native);
    ck_assert_ptr_null(prov_dialect_native_messages(PROV_D_OPENAI));
    ck_assert_ptr_eq(prov_dialect_get(PROV_D_GEMINI), &prov_dialect_gemini);
    ck_assert_ptr_eq(prov_dialect_get(PROV_D_VERTEX), &prov_dialect_vertex);
    ck_assert_ptr_eq(prov_dialect_get(PROV_D_BEDROCK), &prov_dialect_bedrock);
    /* Every provider of the registry has a dialect and something it can be asked (no 501). */
    for (size_t i = 0; i < prov_count(); i++) {
        ck_assert_ptr_nonnull(prov_dialect_get(prov_at(i)->dialect));
        ck_assert_uint_ne(prov_caps(prov_at(i)), 0);
    }
}
END_TEST

/* ---- Settings ---- */

START_TEST(conf_env_precedence)
{
    struct prov_confs *pc;
    const struct prov_conf *c;

    /* Nothing configured: the registry's default base URL, no key. */
    clear_env();
    pc = confs(NULL);
    c = conf_of(pc, "openai");
    ck_assert(!c->configured);
    ck_assert_ptr_null(c->api_key);
    ck_assert_str_eq(c->base_url, "https://api.openai.com/v1");
    ck_assert_int_eq(c->timeout_ms, PROV_DEFAULT_TIMEOUT_MS);
    ck_assert(json_is_object(c->kwargs) && json_object_size(c->kwargs) == 0);
    ck_assert_uint_eq(c->nheaders, 0);
    ck_assert_ptr_null(conf_of(pc, "gateway")->base_url);
    prov_confs_free(pc);

    /* The environment beats the default; trailing slashes go. */
    setenv("OPENAI_API_KEY", "sk-from-env", 1);
    setenv("OPENAI_BASE_URL", "http://env.example:8080/v1//", 1);
    pc = confs("{\"openai\":{}}");
    c = conf_of(pc, "openai");
    ck_assert(c->configured);
    ck_assert_str_eq(c->api_key, "sk-from-env");
    ck_assert_str_eq(c->base_url, "http://env.example:8080/v1");
    prov_confs_free(pc);

    /* The config beats the environment. */
    pc = confs("{\"openai\":{\"api_key\":\"sk-from-config\","
               "\"api_base\":\"https://proxy.example/openai/\"}}");
    c = conf_of(pc, "openai");
    ck_assert_str_eq(c->api_key, "sk-from-config");
    ck_assert_str_eq(c->base_url, "https://proxy.example/openai");
    prov_confs_free(pc);

    /* An empty api_base or OPENAI_BASE_URL does not count as set. */
    pc = confs("{\"openai\":{\"api_base\":\"\"}}");
    ck_assert_str_eq(conf_of(pc, "openai")->base_url, "http://env.example:8080/v1");
    prov_confs_free(pc);
    setenv("OPENAI_BASE_URL", "", 1);
    pc = confs(NULL);
    ck_assert_str_eq(conf_of(pc, "openai")->base_url, "https://api.openai.com/v1");
    prov_confs_free(pc);
    clear_env();
}
END_TEST

/*
 * DESIGN.md §2.13: a provider is usable only when it has a providers: section or its key
 * variable is set (not empty); local servers with default localhost addresses are not.
 */
START_TEST(conf_usable_only_when_configured)
{
    struct prov_confs *pc;

    clear_env();
    unsetenv("MISTRAL_API_KEY");
    unsetenv("VLLM_API_KEY");
    unsetenv("LLAMACPP_API_BASE");
    pc = confs(NULL);
    ck_assert(!conf_of(pc, "openai")->usable);
    ck_assert(!conf_of(pc, "llamacpp")->usable);
    ck_assert(!conf_of(pc, "ollama")->usable);
    ck_assert(!conf_of(pc, "lmstudio")->usable);
    ck_assert(!conf_of(pc, "vllm")->usable);
    prov_confs_free(pc);

    setenv("MISTRAL_API_KEY", "sk-m", 1);
    setenv("OPENAI_API_KEY", "", 1);                         /* empty: not set */
    setenv("LLAMACPP_API_BASE", "http://127.0.0.1:9/v1", 1); /* a base URL alone is not enough */
    pc = confs("{\"vllm\":{},\"llamafile\":{\"api_base\":\"http://gpu:8080/v1\"}}");
    ck_assert(conf_of(pc, "mistral")->usable);
    ck_assert(!conf_of(pc, "mistral")->configured);
    ck_assert(!conf_of(pc, "openai")->usable);
    ck_assert(!conf_of(pc, "llamacpp")->usable);
    ck_assert(conf_of(pc, "vllm")->usable);
    ck_assert(conf_of(pc, "llamafile")->usable);
    prov_confs_free(pc);
    unsetenv("MISTRAL_API_KEY");
    unsetenv("LLAMACPP_API_BASE");
    clear_env();
}
END_TEST

static long timeout_of(const char *section)
{
    char text[512];
    struct prov_confs *pc;
    long ms;

    snprintf(text, sizeof(text), "{\"openai\":%s}", section);
    pc = confs(text);
    ms = conf_of(pc, "openai")->timeout_ms;
    prov_confs_free(pc);
    return ms;
}

START_TEST(conf_timeout)
{
    ck_assert_int_eq(timeout_of("{}"), PROV_DEFAULT_TIMEOUT_MS);
    ck_assert_int_eq(timeout_of("{\"timeout\":30}"), 30000);
    ck_assert_int_eq(timeout_of("{\"timeout\":1.5}"), 1500);
    ck_assert_int_eq(timeout_of("{\"client_args\":{\"timeout\":7}}"), 7000);
    /* client_args.timeout wins over timeout, in either order. */
    ck_assert_int_eq(timeout_of("{\"timeout\":30,\"client_args\":{\"timeout\":5}}"), 5000);
    ck_assert_int_eq(timeout_of("{\"client_args\":{\"timeout\":5},\"timeout\":30}"), 5000);
    /* Unusable values are ignored. */
    ck_assert_int_eq(timeout_of("{\"timeout\":30,\"client_args\":{\"timeout\":0}}"), 30000);
    ck_assert_int_eq(timeout_of("{\"timeout\":-2}"), PROV_DEFAULT_TIMEOUT_MS);
    ck_assert_int_eq(timeout_of("{\"timeout\":\"30\"}"), PROV_DEFAULT_TIMEOUT_MS);
    ck_assert_int_eq(timeout_of("{\"timeout\":null}"), PROV_DEFAULT_TIMEOUT_MS);
}
END_TEST

START_TEST(conf_kwargs_and_headers)
{
    struct prov_confs *pc;
    const struct prov_conf *c;

    clear_env();
    pc = confs("{\"openai\":{\"api_key\":\"sk-1\",\"api_base\":\"http://h/v1\",\"timeout\":3,"
               "\"model\":\"gpt-x\",\"stream\":true,\"stream_options\":{\"include_usage\":false},"
               "\"client_args\":{\"timeout\":2,\"custom_headers\":{\"X-Org\":\"acme\","
               "\"X-Num\":7,\"X-Empty\":\"\"}},"
               "\"temperature\":0.25,\"metadata\":{\"team\":\"a\"}},"
               "\"groq\":{\"api_key\":\"gk\"}}");
    c = conf_of(pc, "openai");
    /* Only request fields remain as kwargs. */
    ck_assert_uint_eq(json_object_size(c->kwargs), 2);
    ck_assert_ptr_nonnull(json_object_get(c->kwargs, "metadata"));
    ck_assert(json_real_value(json_object_get(c->kwargs, "temperature")) == 0.25);
    /* String headers only. */
    ck_assert_uint_eq(c->nheaders, 2);
    for (size_t i = 0; i < c->nheaders; i++) {
        if (strcmp(c->headers[i].name, "X-Org") == 0)
            ck_assert_str_eq(c->headers[i].value, "acme");
        else if (strcmp(c->headers[i].name, "X-Empty") == 0)
            ck_assert_str_eq(c->headers[i].value, "");
        else
            ck_abort_msg("unexpected header %s", c->headers[i].name);
    }
    /* Sections are per provider. */
    ck_assert_str_eq(conf_of(pc, "groq")->api_key, "gk");
    ck_assert(!conf_of(pc, "anthropic")->configured);
    prov_confs_free(pc);
}
END_TEST

/* ---- Request building ---- */

/* Result of one chat_build: rc, the parsed body (owned) and the request itself. */
struct built {
    int rc;
    bool client_usage;
    json_t *body;
    struct prov_http h;
    char err[256];
};

/* One chat_build of req; raw: hand the dialect the request's bytes too, as the gateway does. */
static void build_one(struct built *b, const struct prov_conf *c, const char *model,
                      const char *req, bool stream, bool raw)
{
    json_t *r = load(req);
    struct prov_chat_in in = {.model = model,
                              .req = r,
                              .raw = raw ? req : NULL,
                              .raw_len = raw ? strlen(req) : 0,
                              .stream = stream};

    memset(b, 0, sizeof(*b));
    b->client_usage = true; /* must be overwritten */
    b->rc = openai()->chat_build(c, &in, &b->client_usage, &b->h, b->err, sizeof(b->err));
    if (b->rc == 0) {
        ck_assert_ptr_nonnull(b->h.body);
        ck_assert_uint_eq(b->h.body_len, strlen(b->h.body));
        b->body = load(b->h.body);
    }
    json_decref(r);
}

static void built_free(struct built *b);

/*
 * Builds req from its tree, and again with its bytes at hand: the two upstream bodies must say
 * exactly the same (whether the bytes were edited or the tree serialised is the dialect's call).
 */
static void build(struct built *b, const struct prov_conf *c, const char *model, const char *req,
                  bool stream)
{
    struct built w;

    build_one(b, c, model, req, stream, false);
    build_one(&w, c, model, req, stream, true);
    ck_assert_int_eq(w.rc, b->rc);
    ck_assert(w.client_usage == b->client_usage);
    if (b->rc == 0)
        ck_assert_msg(json_equal(w.body, b->body), "from bytes: %s\nfrom tree: %s", w.h.body,
                      b->h.body);
    built_free(&w);
}

static void built_free(struct built *b)
{
    json_decref(b->body);
    prov_http_cleanup(&b->h);
}

START_TEST(build_nonstream)
{
    struct prov_confs *pc;
    struct built b;

    clear_env();
    pc = confs("{\"openai\":{\"api_key\":\"sk-test\",\"api_base\":\"https://up.example/v1/\","
               "\"timeout\":9,\"model\":\"never\",\"stream\":true,"
               "\"stream_options\":{\"include_usage\":true},"
               "\"client_args\":{\"custom_headers\":{\"X-Org\":\"acme\"}},"
               "\"temperature\":0.5,\"top_p\":0.9,\"metadata\":{\"src\":\"cfg\"}}}");
    build(&b, conf_of(pc, "openai"), "gpt-4o-mini",
          "{\"model\":\"openai:gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
          "\"temperature\":1,\"user\":\"u1\"}",
          false);
    ck_assert_msg(b.rc == 0, "chat_build failed: %s", b.err);
    ck_assert(!b.client_usage);
    ck_assert_str_eq(b.h.url, "https://up.example/v1/chat/completions");

    /* Body: bare model, request fields win, config fields fill in, client keys never appear. */
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "model")), "gpt-4o-mini");
    ck_assert_int_eq(json_integer_value(json_object_get(b.body, "temperature")), 1);
    ck_assert(json_real_value(json_object_get(b.body, "top_p")) == 0.9);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b.body, "metadata"), "src")),
                     "cfg");
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "user")), "u1");
    ck_assert(json_is_array(json_object_get(b.body, "messages")));
    /* Those six and nothing else. */
    ck_assert_uint_eq(json_object_size(b.body), 6);

    ck_assert_str_eq(header(&b.h, "Content-Type"), "application/json");
    ck_assert_str_eq(header(&b.h, "Accept"), "application/json");
    ck_assert_str_eq(header(&b.h, "Authorization"), "Bearer sk-test");
    ck_assert_str_eq(header(&b.h, "X-Org"), "acme");
    ck_assert_ptr_null(header(&b.h, "AnyLLM-Key"));
    ck_assert_uint_eq(b.h.nheaders, 4);

    /* Cleanup frees everything (LeakSanitizer checks) and leaves a reusable empty request. */
    built_free(&b);
    ck_assert_ptr_null(b.h.url);
    ck_assert_ptr_null(b.h.body);
    ck_assert_uint_eq(b.h.nheaders, 0);
    ck_assert_uint_eq(b.h.nowned, 0);
    prov_http_cleanup(&b.h);
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_stream_usage)
{
    struct prov_confs *pc;
    struct built b;
    json_t *so;

    clear_env();
    pc = confs(NULL);

    /* The client did not ask: usage is forced on, and it is told so. */
    build(&b, conf_of(pc, "openai"), "gpt-4o",
          "{\"model\":\"openai:gpt-4o\",\"messages\":[],\"stream\":true}", true);
    ck_assert_msg(b.rc == 0, "chat_build failed: %s", b.err);
    ck_assert(!b.client_usage);
    so = json_object_get(b.body, "stream_options");
    ck_assert(json_is_true(json_object_get(so, "include_usage")));
    ck_assert(json_is_true(json_object_get(b.body, "stream")));
    ck_assert_str_eq(header(&b.h, "Accept"), "text/event-stream");
    /* No key anywhere: no Authorization header. */
    ck_assert_ptr_null(header(&b.h, "Authorization"));
    ck_assert_uint_eq(b.h.nheaders, 2);
    built_free(&b);

    /* An explicit false is overridden; other options are kept. */
    build(&b, conf_of(pc, "openai"), "gpt-4o",
          "{\"messages\":[],\"stream\":true,"
          "\"stream_options\":{\"include_usage\":false,\"include_obfuscation\":false}}",
          true);
    ck_assert_int_eq(b.rc, 0);
    ck_assert(!b.client_usage);
    so = json_object_get(b.body, "stream_options");
    ck_assert(json_is_true(json_object_get(so, "include_usage")));
    ck_assert(json_is_false(json_object_get(so, "include_obfuscation")));
    built_free(&b);

    /* The client asked itself: the usage chunk is for it. */
    build(&b, conf_of(pc, "openai"), "gpt-4o",
          "{\"messages\":[],\"stream\":true,\"stream_options\":{\"include_usage\":true}}", true);
    ck_assert_int_eq(b.rc, 0);
    ck_assert(b.client_usage);
    built_free(&b);

    /* Not streaming: nothing added. */
    build(&b, conf_of(pc, "openai"), "gpt-4o", "{\"messages\":[]}", false);
    ck_assert_int_eq(b.rc, 0);
    ck_assert(!b.client_usage);
    ck_assert_ptr_null(json_object_get(b.body, "stream_options"));
    ck_assert_ptr_null(json_object_get(b.body, "stream"));
    built_free(&b);

    /* A stream_options that is not an object is refused with a reason. */
    build(&b, conf_of(pc, "openai"), "gpt-4o",
          "{\"messages\":[],\"stream\":true,\"stream_options\":\"yes\"}", true);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "stream_options"));
    built_free(&b);
    prov_confs_free(pc);
}
END_TEST

/* With the request's bytes at hand, only the model's value changes: numbers, spacing, order kept.
 */
START_TEST(build_splice_bytes)
{
    static const char req[] =
        " { \"model\" : \"openai:gpt-4o\", \"temperature\": 0.70000000000000001,\n"
        "\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9 {\\\"model\\\":1}\"}] } \n";
    static const char want[] =
        " { \"model\" : \"gpt-4o\", \"temperature\": 0.70000000000000001,\n"
        "\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9 {\\\"model\\\":1}\"}] }";
    struct prov_confs *pc;
    struct built b;

    clear_env();
    pc = confs("{\"openai\":{\"api_key\":\"sk-test\",\"temperature\":0.2}}");
    build_one(&b, conf_of(pc, "openai"), "gpt-4o", req, false, true);
    ck_assert_msg(b.rc == 0, "chat_build failed: %s", b.err);
    ck_assert_str_eq(b.h.body, want);
    built_free(&b);

    /* A stream without stream_options gets usage asked for at the end; the client did not ask. */
    build_one(&b, conf_of(pc, "openai"), "gpt-4o",
              "{\"model\":\"openai:gpt-4o\",\"stream\":true,\"temperature\":1,\"messages\":[]}",
              true, true);
    ck_assert_int_eq(b.rc, 0);
    ck_assert(!b.client_usage);
    ck_assert_str_eq(b.h.body, "{\"model\":\"gpt-4o\",\"stream\":true,\"temperature\":1,"
                               "\"messages\":[],\"stream_options\":{\"include_usage\":true}}");
    built_free(&b);

    /* A model name that needs escapes is written as valid JSON. */
    build(&b, conf_of(pc, "openai"), "we\"ird\\m\x01",
          "{\"model\":\"openai:we\\\"ird\\\\m\\u0001\",\"temperature\":1,\"messages\":[]}", false);
    ck_assert_int_eq(b.rc, 0);
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "model")), "we\"ird\\m\x01");
    built_free(&b);

    /* The cases the bytes are not edited still come out right (compared with the tree above). */
    build(&b, conf_of(pc, "openai"), "x", "{\"model\":\"openai:x\",\"messages\":[]}", false);
    ck_assert(json_real_value(json_object_get(b.body, "temperature")) == 0.2); /* config field */
    built_free(&b);
    build(&b, conf_of(pc, "openai"), "x", "{\"mo\\u0064el\":\"openai:x\",\"temperature\":1}",
          false);
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "model")), "x");
    built_free(&b);
    build(&b, conf_of(pc, "openai"), "x",
          "{\"model\":\"openai:x\",\"temperature\":1,\"seed\":1234567890123456789}", false);
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "model")), "x");
    built_free(&b);
    build(&b, conf_of(pc, "openai"), "x",
          "{\"model\":\"openai:x\",\"temperature\":1,\"stream\":true,"
          "\"stream_options\":{\"include_usage\":true}}",
          true);
    ck_assert(b.client_usage);
    built_free(&b);
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_env_key_and_gateway)
{
    struct prov_confs *pc;
    struct built b;

    clear_env();
    setenv("OPENAI_API_KEY", "sk-env", 1);
    pc = confs(NULL);
    build(&b, conf_of(pc, "openai"), "m", "{\"messages\":[]}", false);
    ck_assert_int_eq(b.rc, 0);
    ck_assert_str_eq(header(&b.h, "Authorization"), "Bearer sk-env");
    ck_assert_str_eq(b.h.url, "https://api.openai.com/v1/chat/completions");
    built_free(&b);

    /* The gateway provider has no default base URL: the message says how to set one. */
    build(&b, conf_of(pc, "gateway"), "openai:gpt-4o", "{\"messages\":[]}", false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_msg(strstr(b.err, "providers.gateway.api_base") != NULL, "err: %s", b.err);
    ck_assert_msg(strstr(b.err, "GATEWAY_API_BASE") != NULL, "err: %s", b.err);
    built_free(&b);
    prov_confs_free(pc);

    /* Configured, it sends its key twice: Authorization and AnyLLM-Key. */
    pc = confs("{\"gateway\":{\"api_base\":\"http://gw.local:8000/v1/\",\"api_key\":\"gw-key\"}}");
    build(&b, conf_of(pc, "gateway"), "openai:gpt-4o", "{\"messages\":[]}", false);
    ck_assert_msg(b.rc == 0, "chat_build failed: %s", b.err);
    ck_assert_str_eq(b.h.url, "http://gw.local:8000/v1/chat/completions");
    ck_assert_str_eq(json_string_value(json_object_get(b.body, "model")), "openai:gpt-4o");
    ck_assert_str_eq(header(&b.h, "Authorization"), "Bearer gw-key");
    ck_assert_str_eq(header(&b.h, "AnyLLM-Key"), "Bearer gw-key");
    built_free(&b);
    prov_confs_free(pc);

    /* From the environment, without a key: no key headers at all. */
    setenv("GATEWAY_API_BASE", "http://gw.env/v1", 1);
    pc = confs(NULL);
    build(&b, conf_of(pc, "gateway"), "x", "{\"messages\":[]}", true);
    ck_assert_int_eq(b.rc, 0);
    ck_assert_str_eq(b.h.url, "http://gw.env/v1/chat/completions");
    ck_assert_ptr_null(header(&b.h, "Authorization"));
    ck_assert_ptr_null(header(&b.h, "AnyLLM-Key"));
    built_free(&b);
    prov_confs_free(pc);
    clear_env();
}
END_TEST

/* ---- Full replies ---- */

static int reply(const char *body, struct prov_usage *u, size_t *gen)
{
    char *out = (char *)"sentinel";
    size_t out_len = 99;
    int rc = openai()->chat_reply(body, strlen(body), u, gen, &out, &out_len);

    /* OpenAI replies are relayed as they are. */
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
    return rc;
}

START_TEST(reply_usage_and_malformed)
{
    struct prov_usage u;
    size_t gen = 77;

    ck_assert_int_eq(
        reply("{\"id\":\"c1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,"
              "\"message\":{\"role\":\"assistant\",\"content\":\"Hello\"},"
              "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,"
              "\"completion_tokens\":5,\"total_tokens\":15}}",
              &u, &gen),
        0);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 10);
    ck_assert_int_eq(u.completion_tokens, 5);
    ck_assert_int_eq(u.total_tokens, 15);
    ck_assert_uint_eq(gen, 5);

    /* No usage: accepted, not seen; the generated text is still measured for an estimate. */
    ck_assert_int_eq(reply("{\"choices\":[{\"message\":{\"content\":\"caf\\u00e9\","
                           "\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}"
                           "]}",
                           &u, &gen),
                     0);
    ck_assert(!u.seen);
    ck_assert_int_eq(u.total_tokens, 0);
    ck_assert_uint_eq(gen, 5 + 1 + 2);

    /* Malformed: not JSON, not an object, no choices, an error object instead. */
    static const char *const bad[] = {
        "",
        "not json",
        "{\"choices\":[",
        "[]",
        "{}",
        "{\"choices\":{}}",
        "{\"choices\":null,\"usage\":{\"prompt_tokens\":1}}",
        "{\"error\":{\"message\":\"Invalid API key\",\"type\":\"invalid_request_error\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        u.seen = true;
        gen = 77;
        ck_assert_msg(reply(bad[i], &u, &gen) == -1, "accepted: %s", bad[i]);
        ck_assert(!u.seen);
        ck_assert_uint_eq(gen, 0);
    }
}
END_TEST

/* ---- Stream events ---- */

/* Everything emitted to the client: chunks separated by '\n' (chunks are single-line JSON). */
struct sink {
    char log[8192];
    size_t len;
    int n;
    int fail_at; /* return -1 from the fail_at-th emit (1-based); 0: never */
    bool overflow;
};

static int sink_emit(const char *event, const char *data, size_t len, void *arg)
{
    struct sink *k = arg;

    ck_assert_ptr_null(event); /* the OpenAI dialect emits pivot chunks only */

    k->n++;
    if (k->len + len + 1 > sizeof(k->log)) {
        k->overflow = true;
        return -1;
    }
    memcpy(k->log + k->len, data, len);
    k->len += len;
    k->log[k->len++] = '\n';
    k->log[k->len] = '\0';
    return k->n == k->fail_at ? -1 : 0;
}

static void stream_init(struct prov_stream *s, struct sink *k, bool client_usage)
{
    memset(s, 0, sizeof(*s));
    prov_usage_init(&s->usage);
    s->client_usage = client_usage;
    memset(k, 0, sizeof(*k));
}

static int event(struct prov_stream *s, struct sink *k, const char *data)
{
    return openai()->chat_event(s, "message", data, strlen(data), sink_emit, k);
}

START_TEST(event_done_and_chunks)
{
    /* Unusual spacing and key order: relayed as sent, not re-serialised. */
    static const char chunk[] = "{ \"id\" : \"c\", \"choices\":[{\"index\":0,\"delta\":"
                                "{\"content\":\"Hi \\u00e9\"}}] ,\"usage\":null }";
    static const char usage_only[] = "{\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,"
                                     "\"completion_tokens\":3,\"total_tokens\":10}}";
    struct prov_stream s;
    struct sink k;

    stream_init(&s, &k, false);
    ck_assert_int_eq(event(&s, &k, chunk), 0);
    ck_assert_int_eq(k.n, 1);
    ck_assert_uint_eq(k.len, sizeof(chunk)); /* the chunk and the '\n' */
    ck_assert_int_eq(memcmp(k.log, chunk, sizeof(chunk) - 1), 0);
    ck_assert_uint_eq(s.gen_bytes, 5); /* "Hi é" */
    ck_assert(!s.usage.seen);
    ck_assert(!s.done && !s.failed);

    /* The usage-only chunk: counted, but not shown to a client that did not ask. */
    ck_assert_int_eq(event(&s, &k, usage_only), 0);
    ck_assert_int_eq(k.n, 1);
    ck_assert(s.usage.seen);
    ck_assert_int_eq(s.usage.prompt_tokens, 7);
    ck_assert_int_eq(s.usage.completion_tokens, 3);
    ck_assert_int_eq(s.usage.total_tokens, 10);

    /* [DONE] ends the stream without an emit. */
    ck_assert_int_eq(event(&s, &k, "[DONE]"), 0);
    ck_assert(s.done);
    ck_assert(!s.failed);
    ck_assert_int_eq(k.n, 1);

    /* A client that asked gets the usage chunk byte for byte. */
    stream_init(&s, &k, true);
    ck_assert_int_eq(event(&s, &k, usage_only), 0);
    ck_assert_int_eq(k.n, 1);
    ck_assert_str_eq(k.log, "{\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,"
                            "\"completion_tokens\":3,\"total_tokens\":10}}\n");
    /* A chunk with both choices and usage is not the usage-only chunk: always relayed. */
    stream_init(&s, &k, false);
    ck_assert_int_eq(event(&s, &k,
                           "{\"choices\":[{\"delta\":{\"content\":\"x\"}}],"
                           "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}"),
                     0);
    ck_assert_int_eq(k.n, 1);
    ck_assert(s.usage.seen);
    /* "error": null is not an error. */
    ck_assert_int_eq(event(&s, &k, "{\"choices\":[],\"error\":null}"), 0);
    ck_assert(!s.failed);
    ck_assert_int_eq(k.n, 2);
}
END_TEST

START_TEST(event_usage_merge)
{
    struct prov_stream s;
    struct sink k;

    /* Cumulative usage on every chunk: the last non-zero value of each field wins. */
    stream_init(&s, &k, false);
    ck_assert_int_eq(event(&s, &k,
                           "{\"choices\":[{\"delta\":{\"content\":\"ab\"}}],\"usage\":"
                           "{\"prompt_tokens\":100,\"completion_tokens\":1,\"total_tokens\":101}}"),
                     0);
    ck_assert_int_eq(event(&s, &k,
                           "{\"choices\":[{\"delta\":{\"content\":\"cd\"}}],\"usage\":"
                           "{\"prompt_tokens\":0,\"completion_tokens\":2,\"total_tokens\":102}}"),
                     0);
    ck_assert_int_eq(event(&s, &k,
                           "{\"choices\":[{\"delta\":{}}],\"usage\":{\"prompt_tokens\":null,"
                           "\"completion_tokens\":0}}"),
                     0);
    ck_assert_int_eq(k.n, 3);
    ck_assert(s.usage.seen);
    ck_assert_int_eq(s.usage.prompt_tokens, 100);
    ck_assert_int_eq(s.usage.completion_tokens, 2);
    ck_assert_int_eq(s.usage.total_tokens, 102);
    ck_assert_uint_eq(s.gen_bytes, 4);
}
END_TEST

START_TEST(event_errors)
{
    struct prov_stream s;
    struct sink k;
    char big[1200];
    int n;

    stream_init(&s, &k, true);
    ck_assert_int_eq(
        event(&s, &k,
              "{\"error\":{\"message\":\"Rate limit\\nreached\",\"type\":\"rate_limit_error\"}}"),
        0);
    ck_assert(s.failed);
    ck_assert(!s.done);
    ck_assert_str_eq(s.error, "Rate limit reached");
    ck_assert_int_eq(k.n, 0);

    stream_init(&s, &k, true);
    ck_assert_int_eq(event(&s, &k, "{\"error\":\"overloaded\"}"), 0);
    ck_assert(s.failed);
    ck_assert_str_eq(s.error, "overloaded");
    ck_assert_int_eq(k.n, 0);

    /* An error without a message still fails the stream with some text. */
    stream_init(&s, &k, true);
    ck_assert_int_eq(event(&s, &k, "{\"error\":{\"code\":500}}"), 0);
    ck_assert(s.failed);
    ck_assert_uint_gt(strlen(s.error), 0);
    ck_assert_int_eq(k.n, 0);

    /* A long message is cut to the buffer, still terminated. */
    n = snprintf(big, sizeof(big), "{\"error\":{\"message\":\"");
    memset(big + n, 'm', 1000);
    snprintf(big + n + 1000, sizeof(big) - (size_t)n - 1000, "\"}}");
    stream_init(&s, &k, true);
    ck_assert_int_eq(event(&s, &k, big), 0);
    ck_assert(s.failed);
    ck_assert_uint_eq(strlen(s.error), sizeof(s.error) - 1);

    /* Malformed events fail the stream and are not relayed. */
    static const char *const bad[] = {"not json", "{\"choices\":[", "[1,2]", "\"text\"", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        stream_init(&s, &k, true);
        ck_assert_int_eq(event(&s, &k, bad[i]), 0);
        ck_assert_msg(s.failed, "not failed: '%s'", bad[i]);
        ck_assert_uint_gt(strlen(s.error), 0);
        ck_assert_int_eq(k.n, 0);
    }
}
END_TEST

/* An OpenAI stream: the chunks sent as data, and how they travel. */
static const char *const stream_chunks[] = {
    "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Caf\\u00e9 \xE2\x82\xAC "
    "\xF0\x9F\x98\x80\"},\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":"
    "\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\":"
    "1}\"}}]},\"finish_reason\":null}],\"usage\":null}",
    "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],"
    "\"usage\":null}",
    "{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":"
    "\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":12,"
    "\"total_tokens\":33,\"completion_tokens_details\":{\"reasoning_tokens\":0}}}",
};
#define N_CHUNKS (sizeof(stream_chunks) / sizeof(stream_chunks[0]))
#define USAGE_CHUNK (N_CHUNKS - 1)

/* The wire text: LF and CRLF endings, a comment, a "data:" without a space, then [DONE]. */
static size_t stream_text(char *buf, size_t cap)
{
    static const char *const before[] = {
        "data: ", ": OPENROUTER PROCESSING\n\ndata: ", "data:", "data: ", "data: "};
    static const char *const after[] = {"\n\n", "\r\n\r\n", "\n\n", "\r\r", "\n\n"};
    size_t n = 0;
    int w;

    for (size_t i = 0; i < N_CHUNKS; i++) {
        w = snprintf(buf + n, cap - n, "%s%s%s", before[i], stream_chunks[i], after[i]);
        ck_assert(w > 0 && (size_t)w < cap - n);
        n += (size_t)w;
    }
    w = snprintf(buf + n, cap - n, "data: [DONE]\n\n");
    ck_assert(w > 0 && (size_t)w < cap - n);
    return n + (size_t)w;
}

struct run {
    struct prov_stream s;
    struct sink k;
    int event_rc; /* first non-zero chat_event result */
};

static int run_event(const struct prov_sse_event *ev, void *arg)
{
    struct run *r = arg;
    int rc = openai()->chat_event(&r->s, ev->event, ev->data, ev->data_len, sink_emit, &r->k);

    if (rc != 0 && r->event_rc == 0)
        r->event_rc = rc;
    return rc;
}

/* Parses text[0, n) in two pieces cut at `cut` (a cut of 0 or n means whole). */
static bool run_split(struct run *r, const char *text, size_t n, size_t cut, bool client_usage)
{
    struct prov_sse p;
    bool ok;

    stream_init(&r->s, &r->k, client_usage);
    r->event_rc = 0;
    prov_sse_init(&p, 0, run_event, r);
    ok = prov_sse_feed(&p, text, cut) == 0 && prov_sse_feed(&p, text + cut, n - cut) == 0;
    ok = !prov_sse_finish(&p) && ok;
    prov_sse_cleanup(&p);
    return ok;
}

static bool same_run(const struct run *a, const struct run *b)
{
    return a->k.len == b->k.len && memcmp(a->k.log, b->k.log, a->k.len) == 0 && a->k.n == b->k.n &&
           a->s.usage.prompt_tokens == b->s.usage.prompt_tokens &&
           a->s.usage.completion_tokens == b->s.usage.completion_tokens &&
           a->s.usage.total_tokens == b->s.usage.total_tokens &&
           a->s.usage.seen == b->s.usage.seen && a->s.gen_bytes == b->s.gen_bytes &&
           a->s.done == b->s.done && a->s.failed == b->s.failed && !b->k.overflow;
}

START_TEST(stream_split_everywhere)
{
    static char text[4096];
    static struct run whole, part;
    char expect[8192];
    size_t n = stream_text(text, sizeof(text)), elen;

    for (int cu = 0; cu <= 1; cu++) {
        bool client_usage = cu == 1;

        /* Whole: exactly the chunks, byte for byte, the usage chunk only when asked for. */
        ck_assert(run_split(&whole, text, n, n, client_usage));
        elen = 0;
        for (size_t i = 0; i < N_CHUNKS; i++) {
            if (i == USAGE_CHUNK && !client_usage)
                continue;
            elen +=
                (size_t)snprintf(expect + elen, sizeof(expect) - elen, "%s\n", stream_chunks[i]);
        }
        ck_assert_uint_eq(whole.k.len, elen);
        ck_assert_int_eq(memcmp(whole.k.log, expect, elen), 0);
        ck_assert_int_eq(whole.k.n, client_usage ? 5 : 4);
        ck_assert_int_eq(whole.event_rc, 0);
        ck_assert(whole.s.done);
        ck_assert(!whole.s.failed);
        ck_assert(whole.s.usage.seen);
        ck_assert_int_eq(whole.s.usage.prompt_tokens, 21);
        ck_assert_int_eq(whole.s.usage.completion_tokens, 12);
        ck_assert_int_eq(whole.s.usage.total_tokens, 33);
        /* "Café € 😀" is 14 bytes, the tool's name "get" 3 and arguments {"a":1} 7. */
        ck_assert_uint_eq(whole.s.gen_bytes, 14 + 3 + 7);

        /* Every cut gives the same emits and usage (one check per cut, no assert in the loop). */
        for (size_t cut = 0; cut <= n; cut++) {
            if (!run_split(&part, text, n, cut, client_usage) || !same_run(&whole, &part))
                ck_abort_msg("client_usage=%d, cut at %zu of %zu: different result", cu, cut, n);
        }
    }
}
END_TEST

START_TEST(stream_emit_failure_stops_parser)
{
    static char text[4096];
    static struct run r;
    struct prov_sse p;
    size_t n = stream_text(text, sizeof(text));

    stream_init(&r.s, &r.k, false);
    r.k.fail_at = 2;
    r.event_rc = 0;
    prov_sse_init(&p, 0, run_event, &r);
    ck_assert_int_eq(prov_sse_feed(&p, text, n), -1);
    ck_assert_int_eq(r.event_rc, -1);
    ck_assert_int_eq(r.k.n, 2);
    ck_assert(!r.s.done);
    /* A failed emit is the client's problem, not the provider's. */
    ck_assert(!r.s.failed);
    prov_sse_finish(&p);
    prov_sse_cleanup(&p);
}
END_TEST

/* ---- Error messages ---- */

struct errmsg {
    char msg[256];
    char code[64];
};

static struct errmsg errmsg_of(const char *body, size_t len)
{
    struct errmsg e;

    memset(&e, 'Z', sizeof(e)); /* garbage: everything must be written */
    openai()->error_message(body, len, e.msg, sizeof(e.msg), e.code, sizeof(e.code));
    return e;
}

#define ERR(body) errmsg_of(body, strlen(body))

START_TEST(error_message_shapes)
{
    static const char coded[] = "{\"error\":{\"message\":\"m\",\"code\":\"c\"}}";
    struct errmsg e;
    char msg[64];

    e = ERR("{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":"
            "\"invalid_request_error\",\"param\":null,\"code\":\"invalid_api_key\"}}");
    ck_assert_str_eq(e.msg, "Incorrect API key provided");
    ck_assert_str_eq(e.code, "invalid_api_key");
    /* A non-string code: the type instead. */
    e = ERR("{\"error\":{\"message\":\"Too many\",\"type\":\"rate_limit_error\",\"code\":429}}");
    ck_assert_str_eq(e.msg, "Too many");
    ck_assert_str_eq(e.code, "rate_limit_error");
    e = ERR("{\"error\":{\"message\":\"m\",\"code\":null,\"type\":\"server_error\"}}");
    ck_assert_str_eq(e.code, "server_error");
    e = ERR("{\"error\":{\"message\":\"m\"}}");
    ck_assert_str_eq(e.code, "");
    /* Other shapes: error as text, top-level message, FastAPI's detail. */
    e = ERR("{\"error\":\"model not found\"}");
    ck_assert_str_eq(e.msg, "model not found");
    ck_assert_str_eq(e.code, "");
    e = ERR("{\"message\":\"Unauthorized\"}");
    ck_assert_str_eq(e.msg, "Unauthorized");
    e = ERR("{\"detail\":\"Not Found\"}");
    ck_assert_str_eq(e.msg, "Not Found");
    /* Newlines in a message become spaces: one log line. */
    e = ERR("{\"error\":{\"message\":\"line one\\nline two\\r\\n\\tend\"}}");
    ck_assert_str_eq(e.msg, "line one line two   end");
    /* JSON that carries no message: its text. */
    e = ERR("{\"error\":{\"code\":\"x\"}}");
    ck_assert_str_eq(e.msg, "{\"error\":{\"code\":\"x\"}}");
    ck_assert_str_eq(e.code, "x");
    e = ERR("[]");
    ck_assert_str_eq(e.msg, "[]");
    e = ERR("");
    ck_assert_str_eq(e.msg, "");
    ck_assert_str_eq(e.code, "");
    /* code may be NULL. */
    openai()->error_message(coded, strlen(coded), msg, sizeof(msg), NULL, 0);
    ck_assert_str_eq(msg, "m");
}
END_TEST

START_TEST(error_message_raw_text)
{
    static const char html[] = "<html>\r\n<head><title>502 Bad Gateway</title></head>\n"
                               "<body>\tbad\x01gate\x1b[0m\x7f</body></html>";
    char body[400];
    struct errmsg e;

    e = ERR(html);
    ck_assert_ptr_nonnull(strstr(e.msg, "<title>502 Bad Gateway</title>"));
    ck_assert_ptr_nonnull(strstr(e.msg, "</body></html>"));
    for (const char *p = e.msg; *p != '\0'; p++)
        ck_assert_msg(!iscntrl((unsigned char)*p), "control byte 0x%02x kept", (unsigned char)*p);
    ck_assert_str_eq(e.code, "");

    /* Only the first 200 bytes. */
    memset(body, 'a', 300);
    e = errmsg_of(body, 300);
    ck_assert_uint_eq(strlen(e.msg), 200);
    /* A body that is not NUL-terminated is read only up to len. */
    memcpy(body, "oops", 4);
    memset(body + 4, 'Q', 100);
    e = errmsg_of(body, 4);
    ck_assert_str_eq(e.msg, "oops");
}
END_TEST

/* Length of the longest prefix of s, at most max bytes, made of whole UTF-8 characters. */
static size_t utf8_prefix(const char *s, size_t max)
{
    size_t i = 0, len = strlen(s);

    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t w = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + w > max)
            break;
        i += w;
    }
    return i;
}

START_TEST(error_message_utf8_truncation)
{
    /* 1-, 2-, 3- and 4-byte characters, ending on a 2-byte one. */
    static const char text[] = "ab \xC3\xA9t\xC3\xA9 \xE2\x82\xAC\xF0\x9F\x98\x80 fin \xC3\xA9";
    char body[256], out[64], raw[256];
    size_t tl = strlen(text);

    snprintf(body, sizeof(body), "{\"error\":{\"message\":\"%s\"}}", text);
    /* For every buffer size: the longest prefix of whole characters that fits. */
    for (size_t outlen = 1; outlen <= tl + 2; outlen++) {
        size_t want = utf8_prefix(text, outlen - 1);

        openai()->error_message(body, strlen(body), out, outlen, NULL, 0);
        if (strlen(out) != want || memcmp(out, text, want) != 0)
            ck_abort_msg("outlen %zu: got %zu bytes '%s', want %zu bytes '%.*s'", outlen,
                         strlen(out), out, want, (int)want, text);
    }

    /* Raw text cut at 200 bytes: a split character is dropped, a whole one kept. */
    memset(raw, 'a', 199);
    memcpy(raw + 199, "\xC3\xA9zz", 4);
    openai()->error_message(raw, 203, body, sizeof(body), NULL, 0);
    ck_assert_uint_eq(strlen(body), 199);
    memset(raw, 'a', 198);
    memcpy(raw + 198, "\xC3\xA9zz", 4);
    openai()->error_message(raw, 202, body, sizeof(body), NULL, 0);
    ck_assert_msg(strlen(body) == 200 && memcmp(body + 198, "\xC3\xA9", 2) == 0,
                  "whole character at the 200-byte cut lost: %zu bytes", strlen(body));

    /* The stream's error text goes through the same cut. */
    struct prov_stream s;
    struct sink k;
    stream_init(&s, &k, false);
    ck_assert_int_eq(event(&s, &k, "{\"error\":{\"message\":\"Serveur surcharg\\u00e9\"}}"), 0);
    ck_assert_str_eq(s.error, "Serveur surcharg\xC3\xA9");
}
END_TEST

/* ---- Scrubbing ---- */

START_TEST(scrub_secrets)
{
    char s[128];

    snprintf(s, sizeof(s), "Incorrect API key provided: sk-abc123. Key sk-abc123 is invalid");
    prov_scrub(s, "sk-abc123");
    ck_assert_str_eq(s, "Incorrect API key provided: ***. Key *** is invalid");
    /* Adjacent occurrences, at both ends. */
    snprintf(s, sizeof(s), "sk-abcdsk-abcd-sk-abcd");
    prov_scrub(s, "sk-abcd");
    ck_assert_str_eq(s, "******-***");
    /* A secret shorter than 4 characters would scrub ordinary words: ignored. */
    snprintf(s, sizeof(s), "the abc key");
    prov_scrub(s, "abc");
    ck_assert_str_eq(s, "the abc key");
    prov_scrub(s, "");
    ck_assert_str_eq(s, "the abc key");
    /* Exactly 4 counts; no occurrence leaves the text alone. */
    prov_scrub(s, "e ab");
    ck_assert_str_eq(s, "th***c key");
    prov_scrub(s, "zzzz");
    ck_assert_str_eq(s, "th***c key");
    /* The whole string. */
    snprintf(s, sizeof(s), "secret");
    prov_scrub(s, "secret");
    ck_assert_str_eq(s, "***");
    /* NULL-safe both ways. */
    prov_scrub(NULL, "secret");
    prov_scrub(s, NULL);
    ck_assert_str_eq(s, "***");
}
END_TEST

Suite *dialect_suite(void)
{
    Suite *s = suite_create("dialect");
    TCase *tc;

    tc = tcase_create("conf");
    tcase_add_test(tc, dialect_table);
    tcase_add_test(tc, conf_env_precedence);
    tcase_add_test(tc, conf_usable_only_when_configured);
    tcase_add_test(tc, conf_timeout);
    tcase_add_test(tc, conf_kwargs_and_headers);
    suite_add_tcase(s, tc);

    tc = tcase_create("build");
    tcase_add_test(tc, build_nonstream);
    tcase_add_test(tc, build_stream_usage);
    tcase_add_test(tc, build_splice_bytes);
    tcase_add_test(tc, build_env_key_and_gateway);
    suite_add_tcase(s, tc);

    tc = tcase_create("reply");
    tcase_add_test(tc, reply_usage_and_malformed);
    suite_add_tcase(s, tc);

    tc = tcase_create("events");
    tcase_add_test(tc, event_done_and_chunks);
    tcase_add_test(tc, event_usage_merge);
    tcase_add_test(tc, event_errors);
    tcase_add_test(tc, stream_split_everywhere);
    tcase_add_test(tc, stream_emit_failure_stops_parser);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, error_message_shapes);
    tcase_add_test(tc, error_message_raw_text);
    tcase_add_test(tc, error_message_utf8_truncation);
    tcase_add_test(tc, scrub_secrets);
    suite_add_tcase(s, tc);
    return s;
}
