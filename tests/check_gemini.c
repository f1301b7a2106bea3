/*
 * Unit tests of the Gemini dialects (prov_gemini.h): the URL forms of the Gemini API and Vertex AI
 * (global, regional, multi-region, api_base) and their credentials, the pivot request translated
 * per providers.md §5.2 (every row, the errors, the fields left out), the §15 fixtures (the §5.3
 * reply, the SSE stream fed through prov_sse cut at every byte, the 429 body, a mid-stream error
 * event) and embeddings for both (batchEmbedContents, predict, embedContent).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "providers/prov_conf.h"
#include "providers/prov_dialect.h"
#include "providers/prov_registry.h"
#include "t_xlate.h"

static const struct prov_dialect_ops *gem(void)
{
    return prov_dialect_get(PROV_D_GEMINI);
}

static const struct prov_dialect_ops *vtx(void)
{
    return prov_dialect_get(PROV_D_VERTEX);
}

static void clear_env(void)
{
    static const char *const vars[] = {"GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL",
                                       "VERTEXAI_API_BASE"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

static struct prov_confs *confs(const char *providers)
{
    clear_env();
    return tx_confs(providers);
}

/* ---- Request building ---- */

static void build_full(const struct prov_dialect_ops *d, struct tx_built *b,
                       const struct prov_conf *c, const char *model, const char *req, bool stream,
                       const char *bearer, bool embed)
{
    tx_build_in(b, d, c, (struct prov_chat_in){.model = model, .stream = stream, .bearer = bearer},
                req, embed);
}

static void build(struct tx_built *b, const struct prov_conf *c, const char *req)
{
    build_full(gem(), b, c, "gemini-2.5-flash", req, false, NULL, false);
}

/* chat_build of req must be a 400 whose reason holds needle. */
static void rejects(const struct prov_conf *c, const char *req, const char *needle)
{
    tx_rejects(gem(), c, req, false, needle);
}

#define USER_HI "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define CONTENTS_HI "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]"

START_TEST(tables)
{
    ck_assert_ptr_eq(gem(), &prov_dialect_gemini);
    ck_assert_ptr_eq(vtx(), &prov_dialect_vertex);
    ck_assert_str_eq(gem()->name, "gemini");
    ck_assert_str_eq(vtx()->name, "vertexai");
    ck_assert_int_eq(gem()->framing, PROV_FRAME_SSE);
    ck_assert_int_eq(vtx()->framing, PROV_FRAME_SSE);
    ck_assert_ptr_null(prov_dialect_native_messages(PROV_D_GEMINI));
    ck_assert_ptr_nonnull(gem()->chat_build);
    ck_assert_ptr_nonnull(gem()->chat_reply);
    ck_assert_ptr_nonnull(gem()->chat_event);
    ck_assert_ptr_nonnull(gem()->error_message);
    ck_assert_ptr_nonnull(gem()->embed_build);
    ck_assert_ptr_nonnull(gem()->embed_reply);
    ck_assert_ptr_nonnull(vtx()->embed_build);
    ck_assert_ptr_eq(vtx()->chat_reply, gem()->chat_reply);
}
END_TEST

START_TEST(gemini_url_and_headers)
{
    struct prov_confs *pc;
    struct tx_built b;

    /* Default base, key from GOOGLE_API_KEY when GEMINI_API_KEY is not set. */
    clear_env();
    setenv("GOOGLE_API_KEY", "g-key", 1);
    pc = prov_confs_new(NULL);
    build(&b, tx_conf(pc, "gemini"), "{" USER_HI "}");
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(
        b.h.url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent");
    ck_assert_str_eq(tx_header(&b.h, "x-goog-api-key"), "g-key");
    ck_assert_str_eq(tx_header(&b.h, "content-type"), "application/json");
    ck_assert_ptr_null(tx_header(&b.h, "Authorization"));
    ck_assert(!b.client_usage);
    tx_built_free(&b);
    prov_confs_free(pc);

    /* api_base, custom headers, the stream form; models/ and tunedModels/ names. */
    pc = confs("{\"gemini\":{\"api_key\":\"k1\",\"api_base\":\"http://127.0.0.1:9/\","
               "\"client_args\":{\"custom_headers\":{\"X-Org\":\"acme\"}}}}");
    build_full(gem(), &b, tx_conf(pc, "gemini"), "models/gemini-2.5-pro",
               "{" USER_HI ",\"stream_options\":{\"include_usage\":true}}", true, NULL, false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, "http://127.0.0.1:9/v1beta/models/gemini-2.5-pro:"
                              "streamGenerateContent?alt=sse");
    ck_assert_str_eq(tx_header(&b.h, "x-goog-api-key"), "k1");
    ck_assert_str_eq(tx_header(&b.h, "X-Org"), "acme");
    ck_assert(b.client_usage);
    ck_assert_ptr_null(json_object_get(b.body, "stream_options"));
    tx_built_free(&b);
    build_full(gem(), &b, tx_conf(pc, "gemini"), "tunedModels/my-model", "{" USER_HI "}", false,
               NULL, false);
    ck_assert_str_eq(b.h.url, "http://127.0.0.1:9/v1beta/tunedModels/my-model:generateContent");
    tx_built_free(&b);
    /* Characters outside the unreserved set are escaped. */
    build_full(gem(), &b, tx_conf(pc, "gemini"), "gem+ini\xC3\xA9@1", "{" USER_HI "}", false, NULL,
               false);
    ck_assert_str_eq(b.h.url, "http://127.0.0.1:9/v1beta/models/gem%2Bini%C3%A9@1:generateContent");
    tx_built_free(&b);

    /* Model names that cannot be one path segment: 400. */
    static const char *const bad[] = {
        "a/b", "x?y", "x#y", "x%2e", "x y",     "x\ty",           "x\x01",
        "..",  ".",   "",    "a:b",  "models/", "tunedModels/a/b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        build_full(gem(), &b, tx_conf(pc, "gemini"), bad[i], "{" USER_HI "}", false, NULL, false);
        ck_assert_msg(b.rc == PROV_E_REQUEST, "accepted model '%s'", bad[i]);
        ck_assert_ptr_nonnull(strstr(b.err, "cannot be named in a URL"));
        ck_assert_ptr_null(b.h.url);
        tx_built_free(&b);
    }
    prov_confs_free(pc);
}
END_TEST

/* A vertexai conf with this project and location (the strings outlive the call). */
static struct prov_conf vconf(const struct prov_confs *pc, const char *project, const char *loc)
{
    struct prov_conf c = *tx_conf(pc, "vertexai");

    c.project = (char *)project;
    c.location = (char *)loc;
    return c;
}

static void vertex_url_is(const struct prov_conf *c, const char *model, bool stream,
                          const char *url)
{
    struct tx_built b;

    build_full(vtx(), &b, c, model, "{" USER_HI "}", stream, "ya29.tok", false);
    ck_assert_msg(b.rc == 0, "%s", b.err);
    ck_assert_str_eq(b.h.url, url);
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer ya29.tok");
    ck_assert_ptr_null(tx_header(&b.h, "x-goog-api-key"));
    ck_assert_str_eq(tx_header(&b.h, "content-type"), "application/json");
    tx_built_free(&b);
}

START_TEST(vertex_url_and_headers)
{
    struct prov_confs *pc = confs("{\"vertexai\":{\"project\":\"ignored\",\"location\":\"x\","
                                  "\"credentials\":\"/k.json\",\"temperature\":0.5}}");
    struct prov_conf c;
    struct tx_built b;

    c = vconf(pc, "my-proj", NULL); /* default location */
    vertex_url_is(&c, "gemini-2.5-flash", false,
                  "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/"
                  "us-central1/publishers/google/models/gemini-2.5-flash:generateContent");
    vertex_url_is(&c, "gemini-2.5-flash", true,
                  "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/"
                  "us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?"
                  "alt=sse");
    c = vconf(pc, "my-proj", "global");
    vertex_url_is(&c, "gemini-2.5-pro", false,
                  "https://aiplatform.googleapis.com/v1/projects/my-proj/locations/global/"
                  "publishers/google/models/gemini-2.5-pro:generateContent");
    c = vconf(pc, "my-proj", "europe-west4");
    vertex_url_is(&c, "models/gemini-2.5-pro", false,
                  "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/"
                  "europe-west4/publishers/google/models/gemini-2.5-pro:generateContent");
    c = vconf(pc, "my-proj", "eu");
    vertex_url_is(&c, "meta/llama-4", false,
                  "https://aiplatform.eu.rep.googleapis.com/v1/projects/my-proj/locations/eu/"
                  "publishers/meta/models/llama-4:generateContent");
    vertex_url_is(&c, "publishers/google/models/gemini-2.0", false,
                  "https://aiplatform.eu.rep.googleapis.com/v1/projects/my-proj/locations/eu/"
                  "publishers/google/models/gemini-2.0:generateContent");

    /* Config keys of the Vertex section (project, location, credentials) never reach the
       body; a default request field does. */
    c = vconf(pc, "p", NULL);
    build_full(vtx(), &b, &c, "gemini-2.5-flash", "{" USER_HI "}", false, "t", false);
    tx_body_is(&b, "{" CONTENTS_HI ",\"generationConfig\":{\"temperature\":0.5}}");
    tx_built_free(&b);

    /* No project: the gateway's settings (-1) name the setting; no token: -1. */
    c = vconf(pc, NULL, NULL);
    build_full(vtx(), &b, &c, "gemini-2.5-flash", "{" USER_HI "}", false, "t", false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "providers.vertexai.project"));
    ck_assert_ptr_nonnull(strstr(b.err, "GOOGLE_CLOUD_PROJECT"));
    tx_built_free(&b);
    c = vconf(pc, "p", NULL);
    build_full(vtx(), &b, &c, "gemini-2.5-flash", "{" USER_HI "}", false, NULL, false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "access token"));
    tx_built_free(&b);
    c = vconf(pc, "p/../x", NULL);
    build_full(vtx(), &b, &c, "gemini-2.5-flash", "{" USER_HI "}", false, "t", false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "project"));
    tx_built_free(&b);
    c = vconf(pc, "p", "us central");
    build_full(vtx(), &b, &c, "gemini-2.5-flash", "{" USER_HI "}", false, "t", false);
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "location"));
    tx_built_free(&b);
    c = vconf(pc, "p", NULL);
    build_full(vtx(), &b, &c, "a/b/c", "{" USER_HI "}", false, "t", false);
    ck_assert_int_eq(b.rc, PROV_E_REQUEST);
    tx_built_free(&b);
    prov_confs_free(pc);

    /* api_base (or VERTEXAI_API_BASE) replaces the host. */
    pc = confs("{\"vertexai\":{\"api_base\":\"http://127.0.0.1:7/\"}}");
    c = vconf(pc, "p", "global");
    vertex_url_is(&c, "gemini-2.5-flash", false,
                  "http://127.0.0.1:7/v1/projects/p/locations/global/publishers/google/models/"
                  "gemini-2.5-flash:generateContent");
    prov_confs_free(pc);
    setenv("VERTEXAI_API_BASE", "http://127.0.0.1:8", 1);
    pc = prov_confs_new(NULL);
    c = vconf(pc, "p", NULL);
    vertex_url_is(&c, "gemini-2.5-flash", false,
                  "http://127.0.0.1:8/v1/projects/p/locations/us-central1/publishers/google/"
                  "models/gemini-2.5-flash:generateContent");
    prov_confs_free(pc);
    clear_env();
}
END_TEST

START_TEST(build_fields)
{
    struct prov_confs *pc =
        confs("{\"gemini\":{\"api_key\":\"k\",\"temperature\":0.2,\"top_p\":0.5,\"max_tokens\":100,"
              "\"safety\":\"x\",\"user\":\"cfg\"}}");
    struct tx_built b;

    /* system + developer joined with \n; config fields fill in, the request wins; everything
       Gemini would reject as unknown is left out. */
    build(&b, tx_conf(pc, "gemini"),
          "{\"model\":\"gemini:gemini-2.5-flash\",\"messages\":["
          "{\"role\":\"system\",\"content\":\"Be brief.\"},"
          "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"Use \"},"
          "{\"type\":\"text\",\"text\":\"French.\"}]},"
          "{\"role\":\"user\",\"content\":\"hi\",\"name\":\"bob\"},"
          "{\"role\":\"assistant\",\"content\":\"Salut\"},"
          "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"encore\"}]}],"
          "\"temperature\":0.7,\"top_k\":40,\"max_completion_tokens\":64,\"max_tokens\":9,"
          "\"stop\":\"END\",\"seed\":7,\"presence_penalty\":0.1,\"frequency_penalty\":0.2,"
          "\"n\":1,\"user\":\"u1\",\"metadata\":{\"a\":\"b\"},\"logit_bias\":{\"1\":2},"
          "\"logprobs\":true,\"top_logprobs\":2,\"parallel_tool_calls\":false,\"store\":true,"
          "\"stream\":false,\"stream_options\":{\"include_usage\":true},"
          "\"service_tier\":\"auto\",\"modalities\":[\"text\"]}");
    tx_body_is(&b, "{\"systemInstruction\":{\"parts\":[{\"text\":\"Be brief.\\nUse French.\"}]},"
                   "\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]},"
                   "{\"role\":\"model\",\"parts\":[{\"text\":\"Salut\"}]},"
                   "{\"role\":\"user\",\"parts\":[{\"text\":\"encore\"}]}],"
                   "\"generationConfig\":{\"temperature\":0.7,\"topP\":0.5,\"topK\":40,"
                   "\"maxOutputTokens\":64,\"stopSequences\":[\"END\"],\"seed\":7,"
                   "\"presencePenalty\":0.1,\"frequencyPenalty\":0.2,\"candidateCount\":1}}");
    ck_assert(b.client_usage);
    tx_built_free(&b);

    /* max_tokens when max_completion_tokens is null; stop as an array; no generationConfig
       when nothing sets one. */
    build(&b, tx_conf(pc, "gemini"),
          "{" USER_HI ",\"max_completion_tokens\":null,\"max_tokens\":5,\"stop\":[\"a\",\"b\"]}");
    tx_body_is(&b, "{" CONTENTS_HI ",\"generationConfig\":{\"temperature\":0.2,\"topP\":0.5,"
                   "\"maxOutputTokens\":5,\"stopSequences\":[\"a\",\"b\"]}}");
    tx_built_free(&b);
    prov_confs_free(pc);
    pc = confs("{\"gemini\":{\"api_key\":\"k\"}}");
    build(&b, tx_conf(pc, "gemini"), "{" USER_HI ",\"seed\":null,\"n\":null}");
    tx_body_is(&b, "{" CONTENTS_HI "}");
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_parts)
{
    struct prov_confs *pc = confs("{\"gemini\":{\"api_key\":\"k\"}}");
    struct tx_built b;

    build(&b, tx_conf(pc, "gemini"),
          "{\"messages\":[{\"role\":\"user\",\"content\":["
          "{\"type\":\"text\",\"text\":\"What is this?\"},"
          "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:image/png;base64,iVBORw0=\"}},"
          "{\"type\":\"image_url\",\"image_url\":{\"url\":\"https://x.example/cat.PNG?s=1\"}},"
          "{\"type\":\"image_url\",\"image_url\":\"http://x.example/photo\"},"
          "{\"type\":\"image_url\",\"image_url\":{\"url\":\"gs://bucket/doc.pdf\"}},"
          "{\"type\":\"file\",\"file\":{\"file_data\":\"data:application/pdf;base64,JVBE\"}},"
          "{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"UklG\",\"format\":\"wav\"}}"
          "]}]}");
    tx_body_is(
        &b, "{\"contents\":[{\"role\":\"user\",\"parts\":["
            "{\"text\":\"What is this?\"},"
            "{\"inlineData\":{\"mimeType\":\"image/png\",\"data\":\"iVBORw0=\"}},"
            "{\"fileData\":{\"mimeType\":\"image/png\","
            "\"fileUri\":\"https://x.example/cat.PNG?s=1\"}},"
            "{\"fileData\":{\"mimeType\":\"image/jpeg\",\"fileUri\":\"http://x.example/photo\"}},"
            "{\"fileData\":{\"mimeType\":\"application/pdf\","
            "\"fileUri\":\"gs://bucket/doc.pdf\"}},"
            "{\"inlineData\":{\"mimeType\":\"application/pdf\",\"data\":\"JVBE\"}},"
            "{\"inlineData\":{\"mimeType\":\"audio/wav\",\"data\":\"UklG\"}}]}]}");
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_tool_turns)
{
    struct prov_confs *pc = confs("{\"gemini\":{\"api_key\":\"k\"}}");
    struct tx_built b;

    /* Calls with their signatures (the first without one gets the skip value, later ones
       none); "" arguments -> {}; consecutive results in one content, each by its call's name;
       a text's signature back on its part; reasoning is not sent back. */
    build(&b, tx_conf(pc, "gemini"),
          "{\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
          "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
          "{\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
          "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}},"
          "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_time\","
          "\"arguments\":\"\"},\"extra_content\":{\"google\":{\"thought_signature\":\"c2ln\"}}},"
          "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"noop\","
          "\"arguments\":\"{}\"}}]},"
          "{\"role\":\"tool\",\"tool_call_id\":\"call_0\",\"content\":\"{\\\"temp\\\":21}\"},"
          "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"noon\"},"
          "{\"role\":\"tool\",\"tool_call_id\":\"call_2\",\"content\":[{\"type\":\"text\","
          "\"text\":\"4\"},{\"type\":\"text\",\"text\":\"2\"}]},"
          "{\"role\":\"assistant\",\"content\":\"Sunny.\",\"reasoning\":{\"content\":\"hmm\"},"
          "\"extra_content\":{\"google\":{\"thought_signature\":\"dGV4\"}}},"
          "{\"role\":\"assistant\",\"content\":\"\"},"
          "{\"role\":\"user\",\"content\":\"thanks\"}]}");
    tx_body_is(&b,
               "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"weather?\"}]},"
               "{\"role\":\"model\",\"parts\":["
               "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}},"
               "\"thoughtSignature\":\"skip_thought_signature_validator\"},"
               "{\"functionCall\":{\"name\":\"get_time\",\"args\":{}},"
               "\"thoughtSignature\":\"c2ln\"},"
               "{\"functionCall\":{\"name\":\"noop\",\"args\":{}}}]},"
               "{\"role\":\"user\",\"parts\":["
               "{\"functionResponse\":{\"name\":\"get_weather\",\"response\":{\"temp\":21}}},"
               "{\"functionResponse\":{\"name\":\"get_time\",\"response\":{\"result\":\"noon\"}}},"
               "{\"functionResponse\":{\"name\":\"noop\",\"response\":{\"result\":42}}}]},"
               "{\"role\":\"model\",\"parts\":[{\"text\":\"Sunny.\",\"thoughtSignature\":"
               "\"dGV4\"}]},"
               "{\"role\":\"user\",\"parts\":[{\"text\":\"thanks\"}]}]}");
    tx_built_free(&b);

    /* A signature on the first call is kept; the same id reused by a later turn names the
       later call. */
    build(&b, tx_conf(pc, "gemini"),
          "{\"messages\":[{\"role\":\"user\",\"content\":\"go\"},"
          "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_0\",\"function\":{\"name\":"
          "\"a\",\"arguments\":\"{}\"},\"extra_content\":{\"google\":{\"thought_signature\":"
          "\"AA==\"}}}]},"
          "{\"role\":\"tool\",\"tool_call_id\":\"call_0\",\"content\":\"[1]\"},"
          "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"call_0\",\"function\":{\"name\":"
          "\"b\",\"arguments\":\"{}\"}}]},"
          "{\"role\":\"tool\",\"tool_call_id\":\"call_0\",\"content\":null}]}");
    tx_body_is(&b, "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"go\"}]},"
                   "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"a\",\"args\":{}},"
                   "\"thoughtSignature\":\"AA==\"}]},"
                   "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"a\","
                   "\"response\":{\"result\":[1]}}}]},"
                   "{\"role\":\"model\",\"parts\":[{\"functionCall\":{\"name\":\"b\",\"args\":{}},"
                   "\"thoughtSignature\":\"skip_thought_signature_validator\"}]},"
                   "{\"role\":\"user\",\"parts\":[{\"functionResponse\":{\"name\":\"b\","
                   "\"response\":{\"result\":\"\"}}}]}]}");
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_tools_and_choice)
{
    struct prov_confs *pc = confs("{\"gemini\":{\"api_key\":\"k\"}}");
    struct tx_built b;

    /* parameters as given; a schema Gemini's OpenAPI subset cannot hold goes as
       parametersJsonSchema; an empty object schema is left out; "strict" is dropped. */
    build(&b, tx_conf(pc, "gemini"),
          "{" USER_HI ",\"tools\":["
          "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"W\","
          "\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\","
          "\"enum\":[\"Paris\"]},\"days\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}},"
          "\"required\":[\"city\"]}}},"
          "{\"type\":\"function\",\"function\":{\"name\":\"strict\",\"strict\":true,"
          "\"parameters\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
          "\"additionalProperties\":false}}},"
          "{\"type\":\"function\",\"function\":{\"name\":\"refs\",\"parameters\":{\"type\":"
          "\"object\",\"properties\":{\"a\":{\"$ref\":\"#/$defs/A\"}},\"$defs\":{\"A\":{}}}}},"
          "{\"type\":\"function\",\"function\":{\"name\":\"nullable\",\"parameters\":{\"type\":"
          "\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"null\"]}}}}},"
          "{\"type\":\"function\",\"function\":{\"name\":\"empty\",\"parameters\":{\"type\":"
          "\"object\",\"properties\":{}}}},"
          "{\"function\":{\"name\":\"bare\"}}],\"tool_choice\":\"required\"}");
    tx_body_is(
        &b,
        "{" CONTENTS_HI ",\"tools\":[{\"functionDeclarations\":["
        "{\"name\":\"get_weather\",\"description\":\"W\",\"parameters\":{\"type\":\"object\","
        "\"properties\":{\"city\":{\"type\":\"string\",\"enum\":[\"Paris\"]},\"days\":{\"type\":"
        "\"array\",\"items\":{\"type\":\"integer\"}}},\"required\":[\"city\"]}},"
        "{\"name\":\"strict\",\"parametersJsonSchema\":{\"type\":\"object\",\"properties\":{\"a\":"
        "{\"type\":\"string\"}},\"additionalProperties\":false}},"
        "{\"name\":\"refs\",\"parametersJsonSchema\":{\"type\":\"object\",\"properties\":{\"a\":"
        "{\"$ref\":\"#/$defs/A\"}},\"$defs\":{\"A\":{}}}},"
        "{\"name\":\"nullable\",\"parametersJsonSchema\":{\"type\":\"object\",\"properties\":"
        "{\"a\":{\"type\":[\"string\",\"null\"]}}}},"
        "{\"name\":\"empty\"},{\"name\":\"bare\"}]}],"
        "\"toolConfig\":{\"functionCallingConfig\":{\"mode\":\"ANY\"}}}");
    tx_built_free(&b);

    static const char *const choices[][2] = {
        {"\"auto\"", "{\"mode\":\"AUTO\"}"},
        {"\"none\"", "{\"mode\":\"NONE\"}"},
        {"{\"type\":\"function\",\"function\":{\"name\":\"f\"}}",
         "{\"mode\":\"ANY\",\"allowedFunctionNames\":[\"f\"]}"}};
    char req[512], expect[512];
    for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
        snprintf(req, sizeof(req),
                 "{" USER_HI ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                 "\"tool_choice\":%s}",
                 choices[i][0]);
        snprintf(expect, sizeof(expect),
                 "{" CONTENTS_HI ",\"tools\":[{\"functionDeclarations\":[{\"name\":\"f\"}]}],"
                 "\"toolConfig\":{\"functionCallingConfig\":%s}}",
                 choices[i][1]);
        build(&b, tx_conf(pc, "gemini"), req);
        tx_body_is(&b, expect);
        tx_built_free(&b);
    }
    /* An empty tools list says nothing. */
    build(&b, tx_conf(pc, "gemini"), "{" USER_HI ",\"tools\":[],\"tool_choice\":null}");
    tx_body_is(&b, "{" CONTENTS_HI "}");
    tx_built_free(&b);
    prov_confs_free(pc);
}
END_TEST

static void build_model(struct tx_built *b, const struct prov_conf *c, const char *model,
                        const char *req)
{
    build_full(gem(), b, c, model, req, false, NULL, false);
}

START_TEST(build_output_and_reasoning)
{
    struct prov_confs *pc = confs("{\"gemini\":{\"api_key\":\"k\"}}");
    struct tx_built b;

    build(&b, tx_conf(pc, "gemini"),
          "{" USER_HI ",\"response_format\":{\"type\":\"json_object\"}}");
    tx_body_is(&b, "{" CONTENTS_HI ",\"generationConfig\":{\"responseMimeType\":"
                   "\"application/json\"}}");
    tx_built_free(&b);
    build(&b, tx_conf(pc, "gemini"),
          "{" USER_HI ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
          "\"x\",\"strict\":true,\"schema\":{\"type\":\"object\",\"additionalProperties\":false}}},"
          "\"reasoning_effort\":\"none\"}");
    tx_body_is(&b,
               "{" CONTENTS_HI ",\"generationConfig\":{\"responseMimeType\":\"application/json\","
               "\"responseJsonSchema\":{\"type\":\"object\",\"additionalProperties\":false},"
               "\"thinkingConfig\":{\"includeThoughts\":false}}}");
    tx_built_free(&b);
    build(&b, tx_conf(pc, "gemini"),
          "{" USER_HI ",\"response_format\":{\"type\":\"text\"},\"reasoning_effort\":null}");
    tx_body_is(&b, "{" CONTENTS_HI "}");
    tx_built_free(&b);

    static const char *const budgets[][2] = {{"minimal", "256"}, {"low", "1024"},
                                             {"medium", "8192"}, {"high", "24576"},
                                             {"xhigh", "32768"}, {"max", "32768"}};
    static const char *const levels[] = {"MINIMAL", "LOW", "MEDIUM", "HIGH", "HIGH", "HIGH"};
    char req[256], expect[256];
    for (size_t i = 0; i < 6; i++) {
        snprintf(req, sizeof(req), "{" USER_HI ",\"reasoning_effort\":\"%s\"}", budgets[i][0]);
        snprintf(expect, sizeof(expect),
                 "{" CONTENTS_HI ",\"generationConfig\":{\"thinkingConfig\":{\"includeThoughts\":"
                 "true,\"thinkingBudget\":%s}}}",
                 budgets[i][1]);
        build_model(&b, tx_conf(pc, "gemini"), "gemini-3-pro", req);
        tx_body_is(&b, expect);
        tx_built_free(&b);
        snprintf(expect, sizeof(expect),
                 "{" CONTENTS_HI ",\"generationConfig\":{\"thinkingConfig\":{\"includeThoughts\":"
                 "true,\"thinkingLevel\":\"%s\"}}}",
                 levels[i]);
        build_model(&b, tx_conf(pc, "gemini"), i % 2 == 0 ? "gemini-3.5-pro" : "gemini-4-flash",
                    req);
        tx_body_is(&b, expect);
        tx_built_free(&b);
    }
    prov_confs_free(pc);
}
END_TEST

START_TEST(build_errors)
{
    struct prov_confs *pc = confs("{\"gemini\":{\"api_key\":\"k\"}}");
    const struct prov_conf *c = tx_conf(pc, "gemini");

    rejects(c, "{\"messages\":{}}", "messages must be an array");
    rejects(c, "{\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", "at least one");
    rejects(c, "{\"messages\":[{\"content\":\"x\"}]}", "role is required");
    rejects(c, "{\"messages\":[{\"role\":\"function\",\"content\":\"x\"}]}",
            "role 'function' is not supported");
    rejects(c, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "must be a string or");
    rejects(c, "{\"messages\":[{\"role\":\"user\"}]}", "must be a string or");
    rejects(c, "{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"image_url\"}]}]}",
            "only text parts");
    rejects(c, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}",
            "needs a type");
    rejects(c, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}]}",
            "'video' is not supported by Gemini");
    rejects(c,
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":"
            "{\"url\":\"data:image/png,abc\"}}]}]}",
            "data:<type>;base64");
    rejects(c,
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":"
            "{\"url\":\"ftp://x/y\"}}]}]}",
            "http(s) URL");
    rejects(c,
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":"
            "{\"file_data\":\"https://x/y.pdf\"}}]}]}",
            "expected a data URI");
    rejects(c,
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"file\",\"file\":"
            "{\"file_id\":\"f1\"}}]}]}",
            "file.file_data");
    rejects(c,
            "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
            "{\"name\":\"f\",\"arguments\":\"{bad\"}}]}]}",
            "tool_calls[0].function.arguments is not a JSON object");
    rejects(c,
            "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
            "{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
            "is not a JSON object");
    rejects(c,
            "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
            "{\"name\":\"f\",\"arguments\":{}}}]}]}",
            "arguments must be a string");
    rejects(c,
            "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
            "{\"arguments\":\"{}\"}}]}]}",
            "function.name is required");
    rejects(c, "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}",
            "tool_calls must be an array");
    rejects(c, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "needs tool_call_id");
    rejects(c,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\","
            "\"tool_call_id\":\"nope\",\"content\":\"x\"}]}",
            "'nope' does not match a tool call");
    rejects(c, "{" USER_HI ",\"n\":2}", "n must be 1");
    rejects(c, "{" USER_HI ",\"temperature\":\"hot\"}", "temperature must be a number");
    rejects(c, "{" USER_HI ",\"max_tokens\":0}", "max_tokens must be a positive integer");
    rejects(c, "{" USER_HI ",\"max_completion_tokens\":1.5}", "max_completion_tokens must be");
    rejects(c, "{" USER_HI ",\"seed\":\"x\"}", "seed must be an integer");
    rejects(c, "{" USER_HI ",\"stop\":[1]}", "stop[0] must be a string");
    rejects(c, "{" USER_HI ",\"stop\":5}", "stop must be");
    rejects(c, "{" USER_HI ",\"tools\":{}}", "tools must be an array");
    rejects(c, "{" USER_HI ",\"tools\":[{\"type\":\"web_search\"}]}", "expected a function tool");
    rejects(c, "{" USER_HI ",\"tools\":[{\"function\":{\"name\":\"f\",\"parameters\":[]}}]}",
            "parameters must be an object");
    rejects(c, "{" USER_HI ",\"tool_choice\":\"any\"}", "tool_choice 'any' is not supported");
    rejects(c, "{" USER_HI ",\"tool_choice\":{\"type\":\"function\"}}", "tool_choice: expected");
    rejects(c, "{" USER_HI ",\"tool_choice\":3}", "tool_choice must be");
    rejects(c, "{" USER_HI ",\"response_format\":{}}", "response_format needs a type");
    rejects(c, "{" USER_HI ",\"response_format\":{\"type\":\"grammar\"}}",
            "'grammar' is not supported");
    rejects(c, "{" USER_HI ",\"response_format\":{\"type\":\"json_schema\"}}",
            "json_schema.schema must be an object");
    rejects(c, "{" USER_HI ",\"reasoning_effort\":\"ultra\"}", "'ultra' is not supported");
    rejects(c, "{" USER_HI ",\"reasoning_effort\":1}", "reasoning_effort must be a string");
    /* Inline data over 20 MB decoded. */
    {
        size_t n = 28 * 1024 * 1024;
        char *req = malloc(n + 200);
        int k = snprintf(req, 200,
                         "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                         "\"image_url\":\"data:image/png;base64,");
        memset(req + k, 'A', n);
        snprintf(req + k + n, 200, "\"}]}]}");
        rejects(c, req, "larger than 20 MB");
        free(req);
    }
    prov_confs_free(pc);
}
END_TEST

/* ---- Replies ---- */

static json_t *reply(const char *body, struct prov_usage *u, size_t *gen)
{
    char *out = NULL;
    size_t out_len = 0;
    json_t *j;

    ck_assert_int_eq(gem()->chat_reply(body, strlen(body), u, gen, &out, &out_len), 0);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(out_len, strlen(out));
    j = tx_load(out);
    free(out);
    return j;
}

static const json_t *choice0(const json_t *j)
{
    return json_array_get(json_object_get(j, "choices"), 0);
}

/* The §5.3 reply (§15 gemini (1)). */
static const char reply_fixture_body[] =
    "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
    "{\"text\":\"Thinking\xE2\x80\xA6\",\"thought\":true},"
    "{\"functionCall\":{\"name\":\"get_weather\",\"args\":{\"city\":\"Paris\"}},"
    "\"thoughtSignature\":\"c2ln\"}]},\"finishReason\":\"STOP\",\"index\":0}],"
    "\"usageMetadata\":{\"promptTokenCount\":30,\"candidatesTokenCount\":8,"
    "\"thoughtsTokenCount\":12,\"totalTokenCount\":50,\"cachedContentTokenCount\":0},"
    "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"abc\"}";

START_TEST(reply_fixture)
{
    struct prov_usage u;
    size_t gen;
    json_t *j = reply(reply_fixture_body, &u, &gen), *e;
    const json_t *msg = json_object_get(choice0(j), "message");
    const char *id = json_string_value(json_object_get(j, "id"));

    ck_assert_ptr_nonnull(id);
    ck_assert_int_eq(strncmp(id, "chatcmpl-", 9), 0);
    ck_assert_uint_gt(strlen(id), 9 + 16);
    ck_assert_int_gt(json_integer_value(json_object_get(j, "created")), 1700000000);
    ck_assert_str_eq(json_string_value(json_object_get(j, "object")), "chat.completion");
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "gemini-2.5-flash");
    e = tx_load(
        "{\"role\":\"assistant\",\"content\":null,\"reasoning\":{\"content\":"
        "\"Thinking\xE2\x80\xA6\"},\"tool_calls\":[{\"id\":\"call_0\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"},"
        "\"extra_content\":{\"google\":{\"thought_signature\":\"c2ln\"}}}]}");
    ck_assert_msg(json_equal(msg, e), "message %s", json_dumps(msg, JSON_COMPACT));
    json_decref(e);
    ck_assert_str_eq(json_string_value(json_object_get(choice0(j), "finish_reason")), "tool_calls");
    e = tx_load("{\"prompt_tokens\":30,\"completion_tokens\":20,\"total_tokens\":50,"
                "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                "\"completion_tokens_details\":{\"reasoning_tokens\":12}}");
    ck_assert(json_equal(json_object_get(j, "usage"), e));
    json_decref(e);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 30);
    ck_assert_int_eq(u.completion_tokens, 20);
    ck_assert_int_eq(u.total_tokens, 50);
    /* "Thinking…" 11 bytes, get_weather 11, {"city":"Paris"} 16 */
    ck_assert_uint_eq(gen, 11 + 11 + 16);
    json_decref(j);
}
END_TEST

START_TEST(reply_variants)
{
    struct prov_usage u;
    size_t gen;
    json_t *j;
    const json_t *msg;

    /* Text parts joined, a text part's signature on the message, cached tokens; no total:
       the sum. */
    j = reply("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"},{\"text\":\"lo\","
              "\"thoughtSignature\":\"dGV4\"}]},\"finishReason\":\"STOP\"}],"
              "\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":2,"
              "\"cachedContentTokenCount\":4}}",
              &u, &gen);
    msg = json_object_get(choice0(j), "message");
    ck_assert_str_eq(json_string_value(json_object_get(msg, "content")), "Hello");
    ck_assert_ptr_null(json_object_get(msg, "tool_calls"));
    ck_assert_ptr_null(json_object_get(msg, "reasoning"));
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_object_get(msg, "extra_content"), "google"), "thought_signature")),
        "dGV4");
    ck_assert_str_eq(json_string_value(json_object_get(choice0(j), "finish_reason")), "stop");
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "");
    ck_assert_int_eq(u.total_tokens, 12);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_object_get(json_object_get(j, "usage"), "prompt_tokens_details"),
                         "cached_tokens")),
                     4);
    ck_assert_uint_eq(gen, 5);
    json_decref(j);

    /* Finish reasons: length and content_filter win over tool calls; others are stop. */
    static const char *const reasons[][3] = {{"MAX_TOKENS", "", "length"},
                                             {"MAX_TOKENS", "call", "length"},
                                             {"SAFETY", "call", "content_filter"},
                                             {"RECITATION", "", "content_filter"},
                                             {"BLOCKLIST", "", "content_filter"},
                                             {"PROHIBITED_CONTENT", "", "content_filter"},
                                             {"SPII", "", "content_filter"},
                                             {"IMAGE_SAFETY", "", "content_filter"},
                                             {"OTHER", "", "stop"},
                                             {"MALFORMED_FUNCTION_CALL", "", "stop"},
                                             {"STOP", "call", "tool_calls"},
                                             {"FINISH_REASON_UNSPECIFIED", "", "stop"}};
    char body[512];
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"candidates\":[{\"content\":{\"parts\":[%s]},\"finishReason\":\"%s\"}]}",
                 reasons[i][1][0] != '\0'
                     ? "{\"text\":\"x\"},{\"functionCall\":{\"name\":\"f\",\"id\":\"fc-1\"}}"
                     : "",
                 reasons[i][0]);
        j = reply(body, &u, &gen);
        ck_assert_msg(strcmp(json_string_value(json_object_get(choice0(j), "finish_reason")),
                             reasons[i][2]) == 0,
                      "%s -> %s", reasons[i][0],
                      json_string_value(json_object_get(choice0(j), "finish_reason")));
        ck_assert(!u.seen);
        ck_assert_ptr_null(json_object_get(j, "usage"));
        msg = json_object_get(choice0(j), "message");
        if (reasons[i][1][0] != '\0') {
            /* A call's own id is kept; no args -> "{}"; text with calls stays. */
            const json_t *tc = json_array_get(json_object_get(msg, "tool_calls"), 0);
            ck_assert_str_eq(json_string_value(json_object_get(tc, "id")), "fc-1");
            ck_assert_str_eq(
                json_string_value(json_object_get(json_object_get(tc, "function"), "arguments")),
                "{}");
            ck_assert_str_eq(json_string_value(json_object_get(msg, "content")), "x");
        } else {
            ck_assert_str_eq(json_string_value(json_object_get(msg, "content")), "");
        }
        json_decref(j);
    }

    /* A blocked prompt: no candidates, content_filter, usage kept. */
    j = reply("{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":"
              "{\"promptTokenCount\":3,\"totalTokenCount\":3}}",
              &u, &gen);
    ck_assert_str_eq(json_string_value(json_object_get(choice0(j), "finish_reason")),
                     "content_filter");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(choice0(j), "message"), "content")), "");
    ck_assert_int_eq(u.prompt_tokens, 3);
    json_decref(j);
}
END_TEST

START_TEST(reply_malformed)
{
    static const char *const bad[] = {"",
                                      "not json",
                                      "[]",
                                      "{}",
                                      "{\"candidates\":{}}",
                                      "{\"error\":{\"message\":\"x\"},\"candidates\":[]}",
                                      "{\"choices\":[]}"};
    struct prov_usage u;
    size_t gen;
    char *out;
    size_t out_len;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = (char *)1;
        ck_assert_msg(gem()->chat_reply(bad[i], strlen(bad[i]), &u, &gen, &out, &out_len) == -1,
                      "accepted %s", bad[i]);
        ck_assert_ptr_null(out);
    }
}
END_TEST

/* ---- Streams ---- */

#define DATA(json) "data: " json "\r\n\r\n"

/* §15 gemini (2). */
static const char text_stream[] =
    DATA("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hel\"}]}}],"
         "\"usageMetadata\":{\"promptTokenCount\":5}}")
        DATA("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]},"
             "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":5,"
             "\"candidatesTokenCount\":2,\"totalTokenCount\":7},\"modelVersion\":\"m2\"}");

#define CHUNK(delta, finish)                                                                       \
    "-|{\"id\":\"chatcmpl-GEN\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":"     \
    "\"\","                                                                                        \
    "\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish "}]}\n"

START_TEST(stream_text_fixture)
{
    static struct tx_run r;

    for (int cu = 0; cu <= 1; cu++) {
        tx_run_everywhere(&r, gem(), text_stream, cu == 1);
        ck_assert_str_eq(
            r.k.log,
            cu == 1
                ? CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null") CHUNK(
                      "{\"content\":\"Hel\"}", "null") CHUNK("{\"content\":\"lo\"}", "null")
                      CHUNK("{}",
                            "\"stop\"") "-|{\"id\":\"chatcmpl-GEN\",\"object\":\"chat.completion."
                                        "chunk\",\"created\":0,\"model\":\"\","
                                        "\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
                                        "\"completion_tokens\":2,\"total_tokens\":7,"
                                        "\"prompt_tokens_details\":{\"cached_tokens\":0},"
                                        "\"completion_tokens_details\":"
                                        "{\"reasoning_tokens\":0}}}\n"
                : CHUNK("{\"role\":\"assistant\",\"content\":\"\"}", "null")
                      CHUNK("{\"content\":\"Hel\"}", "null") CHUNK("{\"content\":\"lo\"}", "null")
                          CHUNK("{}", "\"stop\""));
        ck_assert(r.s.done);
        ck_assert(!r.s.failed);
        ck_assert(r.s.usage.seen);
        ck_assert_int_eq(r.s.usage.prompt_tokens, 5);
        ck_assert_int_eq(r.s.usage.completion_tokens, 2);
        ck_assert_int_eq(r.s.usage.total_tokens, 7);
        ck_assert_uint_eq(r.s.gen_bytes, 5);
    }
}
END_TEST

/* Thoughts, a text signature, two whole function calls (one with its own id), usage with
   thoughts on the last chunk. */
static const char tool_stream[] =
    DATA("{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hmm\","
         "\"thought\":true}]}}],\"modelVersion\":\"gemini-2.5-pro\"}")
        DATA("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Caf\\u00e9 \xF0\x9F\x98\x80\","
             "\"thoughtSignature\":\"dGV4\"}]}}],\"usageMetadata\":{\"promptTokenCount\":9}}")
            DATA("{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":"
                 "\"get_weather\",\"args\":{\"city\":\"Paris\"}},\"thoughtSignature\":\"c2ln\"},"
                 "{\"functionCall\":{\"name\":\"get_time\",\"id\":\"own\"}}]},"
                 "\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":9,"
                 "\"candidatesTokenCount\":6,\"thoughtsTokenCount\":4,\"totalTokenCount\":19,"
                 "\"cachedContentTokenCount\":2}}") DATA("{\"candidates\":[]}");

#define TCHUNK(delta, finish)                                                                      \
    "-|{\"id\":\"chatcmpl-GEN\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":"     \
    "\"gemini-2.5-pro\",\"choices\":[{\"index\":0,\"delta\":" delta ",\"finish_reason\":" finish   \
    "}]}\n"

START_TEST(stream_tool_calls)
{
    static struct tx_run r;

    tx_run_everywhere(&r, gem(), tool_stream, true);
    ck_assert_str_eq(
        r.k.log,
        TCHUNK("{\"role\":\"assistant\",\"content\":\"\"}",
               "null") TCHUNK("{\"reasoning\":{\"content\":\"Hmm\"}}", "null")
            TCHUNK("{\"content\":\"Caf\xC3\xA9 \xF0\x9F\x98\x80\"}", "null") TCHUNK(
                "{\"extra_content\":{\"google\":{\"thought_signature\":\"dGV4\"}}}", "null")
                TCHUNK("{\"tool_calls\":[{\"index\":0,\"id\":\"call_0\",\"type\":\"function\","
                       "\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"},"
                       "\"extra_content\":{\"google\":{\"thought_signature\":\"c2ln\"}}}]}",
                       "null") TCHUNK("{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
                                      "\"{\\\"city\\\":\\\"Paris\\\"}\"}}]}",
                                      "null")
                    TCHUNK(
                        "{\"tool_calls\":[{\"index\":1,\"id\":\"own\",\"type\":\"function\","
                        "\"function\":{\"name\":\"get_time\",\"arguments\":\"\"}}]}",
                        "null") TCHUNK("{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":"
                                       "\"{}\"}}]}",
                                       "null")
                        TCHUNK("{}",
                               "\"tool_calls\"") "-|{\"id\":\"chatcmpl-GEN\",\"object\":\"chat."
                                                 "completion."
                                                 "chunk\",\"created\":0,"
                                                 "\"model\":\"gemini-2.5-pro\",\"choices\":[],"
                                                 "\"usage\":"
                                                 "{\"prompt_tokens\":9,\"completion_tokens\":10,"
                                                 "\"total_tokens\":19,"
                                                 "\"prompt_tokens_details\":{\"cached_tokens\":2},"
                                                 "\"completion_tokens_details\":{\"reasoning_"
                                                 "tokens\":4}}}\n");
    ck_assert(r.s.done);
    ck_assert_int_eq(r.s.usage.prompt_tokens, 9);
    ck_assert_int_eq(r.s.usage.completion_tokens, 10);
    ck_assert_int_eq(r.s.usage.total_tokens, 19);
    /* Hmm 3, "Café 😀" 10, get_weather 11 + 16, get_time 8 + 2 */
    ck_assert_uint_eq(r.s.gen_bytes, 3 + 10 + 11 + 16 + 8 + 2);

    /* Finish reasons in a stream: MAX_TOKENS beats a call; a blocked prompt ends it. */
    static const char len_stream[] =
        DATA("{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\"}}]},"
             "\"finishReason\":\"MAX_TOKENS\"}]}");
    tx_run_everywhere(&r, gem(), len_stream, false);
    ck_assert_ptr_nonnull(strstr(r.k.log, "\"finish_reason\":\"length\""));
    ck_assert(r.s.done);
    ck_assert(!r.s.usage.seen);
    static const char blocked[] = DATA("{\"promptFeedback\":{\"blockReason\":\"OTHER\"},"
                                       "\"usageMetadata\":{\"promptTokenCount\":4}}");
    tx_run_everywhere(&r, gem(), blocked, true);
    ck_assert_int_eq(r.k.n, 3); /* role, finish, usage */
    ck_assert_ptr_nonnull(strstr(r.k.log, "\"finish_reason\":\"content_filter\""));
    ck_assert(r.s.done);
}
END_TEST

static const char error_stream[] =
    DATA("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}]}}],"
         "\"usageMetadata\":{\"promptTokenCount\":7}}")
        DATA("{\"error\":{\"code\":503,\"message\":\"The model is\\noverloaded.\","
             "\"status\":\"UNAVAILABLE\"}}")
            DATA("{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"late\"}]},"
                 "\"finishReason\":\"STOP\"}]}");

START_TEST(stream_error_event)
{
    static struct tx_run r;

    tx_run_everywhere(&r, gem(), error_stream, true);
    ck_assert(r.s.failed);
    ck_assert(!r.s.done);
    ck_assert_str_eq(r.s.error, "The model is overloaded.");
    ck_assert_int_eq(r.k.n, 2); /* role, "Hi"; nothing for the error or after it */
    ck_assert_ptr_nonnull(strstr(r.k.log, "\"Hi\""));
    ck_assert_int_eq(r.s.usage.prompt_tokens, 7);

    /* Malformed data fails the stream without emitting; an error without a message too. */
    static const char *const bad[] = {"not json", "[1]", "", "\"x\"", "{\"error\":{}}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&r, 0, sizeof(r));
        ck_assert_int_eq(gem()->chat_event(&r.s, NULL, bad[i], strlen(bad[i]), tx_emit, &r.k), 0);
        ck_assert_msg(r.s.failed, "not failed: %s", bad[i]);
        ck_assert(r.s.error[0] != '\0');
        ck_assert_int_eq(r.k.n, 0);
    }
    /* An emit failure is reported. */
    memset(&r, 0, sizeof(r));
    r.k.len = sizeof(r.k.log) - 4;
    ck_assert_int_eq(gem()->chat_event(&r.s, NULL, "{}", 2, tx_emit, &r.k), -1);
}
END_TEST

/* ---- Errors ---- */

START_TEST(error_bodies)
{
    char msg[64], code[32];
    const char *body = "{\"error\":{\"code\":429,\"message\":\"Resource exhausted\",\"status\":"
                       "\"RESOURCE_EXHAUSTED\"}}";

    /* §15 gemini (3). */
    gem()->error_message(body, strlen(body), msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "Resource exhausted");
    ck_assert_str_eq(code, "RESOURCE_EXHAUSTED");
    vtx()->error_message(body, strlen(body), msg, sizeof(msg), NULL, 0);
    ck_assert_str_eq(msg, "Resource exhausted");

    /* With RetryInfo details: the status stays the code. */
    body = "{\"error\":{\"code\":429,\"message\":\"Quota exceeded\",\"status\":"
           "\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":\"type.googleapis.com/"
           "google.rpc.RetryInfo\",\"retryDelay\":\"31s\"}]}}";
    gem()->error_message(body, strlen(body), msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "Quota exceeded");
    ck_assert_str_eq(code, "RESOURCE_EXHAUSTED");

    /* The array form of the streaming endpoints. */
    body = "[{\"error\":{\"code\":400,\"message\":\"Bad\\tkey\",\"status\":"
           "\"INVALID_ARGUMENT\"}}]";
    gem()->error_message(body, strlen(body), msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "Bad key");
    ck_assert_str_eq(code, "INVALID_ARGUMENT");

    body = "<html>\r\nBad Gateway</html>";
    gem()->error_message(body, strlen(body), msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "<html>  Bad Gateway</html>");
    ck_assert_str_eq(code, "");
    body = "{\"error\":{\"code\":404}}";
    gem()->error_message(body, strlen(body), msg, sizeof(msg), code, sizeof(code));
    ck_assert_str_eq(msg, "{\"error\":{\"code\":404}}");
    ck_assert_str_eq(code, "");
}
END_TEST

/* ---- Embeddings ---- */

static void embed(const struct prov_dialect_ops *d, struct tx_built *b, const struct prov_conf *c,
                  const char *model, const char *req)
{
    build_full(d, b, c, model, req, false, d == vtx() ? "tok" : NULL, true);
}

START_TEST(embed_gemini)
{
    struct prov_confs *pc =
        confs("{\"gemini\":{\"api_key\":\"k\",\"task_type\":\"RETRIEVAL_QUERY\"}}");
    struct tx_built b;
    struct prov_usage u;
    char *out = NULL;
    size_t len;
    json_t *j, *e;

    embed(gem(), &b, tx_conf(pc, "gemini"), "text-embedding-004",
          "{\"model\":\"gemini:text-embedding-004\",\"input\":[\"a\",\"b\"],\"dimensions\":8,"
          "\"encoding_format\":\"base64\",\"user\":\"u\"}");
    tx_body_is(&b,
               "{\"requests\":[{\"model\":\"models/text-embedding-004\",\"content\":{\"parts\":"
               "[{\"text\":\"a\"}]},\"outputDimensionality\":8,\"taskType\":\"RETRIEVAL_QUERY\"},"
               "{\"model\":\"models/text-embedding-004\",\"content\":{\"parts\":[{\"text\":"
               "\"b\"}]},\"outputDimensionality\":8,\"taskType\":\"RETRIEVAL_QUERY\"}]}");
    ck_assert_str_eq(b.h.url, "https://generativelanguage.googleapis.com/v1beta/models/"
                              "text-embedding-004:batchEmbedContents");
    ck_assert_str_eq(tx_header(&b.h, "x-goog-api-key"), "k");
    tx_built_free(&b);
    embed(gem(), &b, tx_conf(pc, "gemini"), "models/e", "{\"input\":\"one\"}");
    tx_body_is(&b, "{\"requests\":[{\"model\":\"models/e\",\"content\":{\"parts\":[{\"text\":"
                   "\"one\"}]},\"taskType\":\"RETRIEVAL_QUERY\"}]}");
    tx_built_free(&b);

    /* Token arrays, bad dimensions, bad model: 400. */
    embed(gem(), &b, tx_conf(pc, "gemini"), "e", "{\"input\":[[1,2]]}");
    ck_assert_int_eq(b.rc, PROV_E_REQUEST);
    ck_assert_ptr_nonnull(strstr(b.err, "token arrays"));
    tx_built_free(&b);
    embed(gem(), &b, tx_conf(pc, "gemini"), "e", "{\"input\":\"x\",\"dimensions\":0}");
    ck_assert_int_eq(b.rc, PROV_E_REQUEST);
    ck_assert_ptr_nonnull(strstr(b.err, "dimensions"));
    tx_built_free(&b);
    embed(gem(), &b, tx_conf(pc, "gemini"), "e/f", "{\"input\":\"x\"}");
    ck_assert_int_eq(b.rc, PROV_E_REQUEST);
    tx_built_free(&b);
    prov_confs_free(pc);

    /* The reply: vectors in input order, no usage (the gateway estimates). */
    const char *body = "{\"embeddings\":[{\"values\":[0.5,-1]},{\"values\":[0.25,0]}]}";
    ck_assert_int_eq(gem()->embed_reply(body, strlen(body), &u, &out, &len), 0);
    ck_assert_uint_eq(len, strlen(out));
    j = tx_load(out);
    e = tx_load(
        "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":"
        "[0.5,-1]},{\"object\":\"embedding\",\"index\":1,\"embedding\":[0.25,0]}],"
        "\"model\":\"\"}");
    ck_assert_msg(json_equal(j, e), "%s", out);
    ck_assert(!u.seen);
    json_decref(j);
    json_decref(e);
    free(out);
}
END_TEST

START_TEST(embed_vertex)
{
    struct prov_confs *pc = confs(NULL);
    struct prov_conf c = vconf(pc, "p", "global");
    struct tx_built b;
    struct prov_usage u;
    char *out = NULL;
    size_t len;
    json_t *j;
    const char *body;

    /* predict for text-embedding-*, gemini-embedding-001. */
    embed(vtx(), &b, &c, "text-embedding-005",
          "{\"input\":[\"a\",\"b\"],\"dimensions\":256,\"task_type\":\"CLUSTERING\"}");
    tx_body_is(&b, "{\"instances\":[{\"content\":\"a\",\"task_type\":\"CLUSTERING\"},{\"content\":"
                   "\"b\",\"task_type\":\"CLUSTERING\"}],\"parameters\":{\"outputDimensionality\":"
                   "256}}");
    ck_assert_str_eq(b.h.url, "https://aiplatform.googleapis.com/v1/projects/p/locations/global/"
                              "publishers/google/models/text-embedding-005:predict");
    ck_assert_str_eq(tx_header(&b.h, "Authorization"), "Bearer tok");
    tx_built_free(&b);
    embed(vtx(), &b, &c, "gemini-embedding-001", "{\"input\":\"a\"}");
    tx_body_is(&b, "{\"instances\":[{\"content\":\"a\"}]}");
    ck_assert_ptr_nonnull(strstr(b.h.url, "gemini-embedding-001:predict"));
    tx_built_free(&b);
    /* embedContent for other gemini models: one input per call. */
    embed(vtx(), &b, &c, "gemini-embedding-2", "{\"input\":[\"a\"],\"dimensions\":3}");
    tx_body_is(&b, "{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"embedContentConfig\":"
                   "{\"outputDimensionality\":3}}");
    ck_assert_ptr_nonnull(strstr(b.h.url, "gemini-embedding-2:embedContent"));
    tx_built_free(&b);
    embed(vtx(), &b, &c, "gemini-embedding-2", "{\"input\":[\"a\",\"b\"]}");
    ck_assert_int_eq(b.rc, PROV_E_REQUEST);
    ck_assert_ptr_nonnull(strstr(b.err, "one input per call"));
    tx_built_free(&b);
    build_full(vtx(), &b, &c, "text-embedding-005", "{\"input\":\"a\"}", false, NULL, true);
    ck_assert_int_eq(b.rc, -1);
    tx_built_free(&b);
    c = vconf(pc, NULL, NULL);
    embed(vtx(), &b, &c, "text-embedding-005", "{\"input\":\"a\"}");
    ck_assert_int_eq(b.rc, -1);
    ck_assert_ptr_nonnull(strstr(b.err, "GOOGLE_CLOUD_PROJECT"));
    tx_built_free(&b);
    prov_confs_free(pc);

    /* predict reply: token counts summed. */
    body = "{\"predictions\":[{\"embeddings\":{\"values\":[1,2],\"statistics\":{\"token_count\":5,"
           "\"truncated\":false}}},{\"embeddings\":{\"values\":[3,4],\"statistics\":"
           "{\"token_count\":2}}}],\"metadata\":{\"billableCharacterCount\":3}}";
    ck_assert_int_eq(vtx()->embed_reply(body, strlen(body), &u, &out, &len), 0);
    j = tx_load(out);
    ck_assert_int_eq(json_array_size(json_object_get(j, "data")), 2);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")), 7);
    ck_assert(u.seen);
    ck_assert_int_eq(u.prompt_tokens, 7);
    ck_assert_int_eq(u.total_tokens, 7);
    ck_assert_int_eq(u.completion_tokens, 0);
    json_decref(j);
    free(out);
    /* embedContent reply. */
    body = "{\"embedding\":{\"values\":[0.5]},\"usageMetadata\":{\"promptTokenCount\":4}}";
    ck_assert_int_eq(vtx()->embed_reply(body, strlen(body), &u, &out, &len), 0);
    j = tx_load(out);
    ck_assert_int_eq(
        json_real_value(json_array_get(
            json_object_get(json_array_get(json_object_get(j, "data"), 0), "embedding"), 0)) == 0.5,
        1);
    ck_assert_int_eq(u.prompt_tokens, 4);
    json_decref(j);
    free(out);
    /* predict without statistics: not reported. */
    body = "{\"predictions\":[{\"embeddings\":{\"values\":[1]}}]}";
    ck_assert_int_eq(vtx()->embed_reply(body, strlen(body), &u, &out, &len), 0);
    ck_assert(!u.seen);
    ck_assert_ptr_null(strstr(out, "usage"));
    free(out);

    static const char *const bad[] = {"",
                                      "[]",
                                      "{}",
                                      "{\"embeddings\":[{\"values\":\"x\"}]}",
                                      "{\"embeddings\":[{}]}",
                                      "{\"predictions\":[{\"embeddings\":{\"values\":[\"a\"]}}]}",
                                      "{\"embedding\":{}}",
                                      "{\"data\":[]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = (char *)1;
        ck_assert_msg(gem()->embed_reply(bad[i], strlen(bad[i]), &u, &out, &len) == -1,
                      "accepted %s", bad[i]);
        ck_assert_ptr_null(out);
    }
}
END_TEST

Suite *gemini_suite(void)
{
    Suite *s = suite_create("gemini");
    TCase *tc;

    tc = tcase_create("build");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, tables);
    tcase_add_test(tc, gemini_url_and_headers);
    tcase_add_test(tc, vertex_url_and_headers);
    tcase_add_test(tc, build_fields);
    tcase_add_test(tc, build_parts);
    tcase_add_test(tc, build_tool_turns);
    tcase_add_test(tc, build_tools_and_choice);
    tcase_add_test(tc, build_output_and_reasoning);
    tcase_add_test(tc, build_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("reply");
    tcase_add_test(tc, reply_fixture);
    tcase_add_test(tc, reply_variants);
    tcase_add_test(tc, reply_malformed);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stream_text_fixture);
    tcase_add_test(tc, stream_tool_calls);
    tcase_add_test(tc, stream_error_event);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_test(tc, error_bodies);
    suite_add_tcase(s, tc);

    tc = tcase_create("embeddings");
    tcase_add_test(tc, embed_gemini);
    tcase_add_test(tc, embed_vertex);
    suite_add_tcase(s, tc);
    return s;
}
