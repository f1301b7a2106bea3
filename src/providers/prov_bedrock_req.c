/*
 * Bedrock Converse requests (providers.md §7.2): the pivot (OpenAI chat) request as a Converse
 * body, the request paths, and the Titan embeddings body. Converse has a strict schema: the body
 * is built from the fields below only. Fields it cannot express are dropped (seed, n = 1,
 * penalties, user, logit_bias) or refused with a 400 (image URLs, file parts, n > 1, unparsable
 * tool arguments, response_format on non-Claude models or with stream or reasoning).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwrite.h"
#include "providers/prov_bedrock.h"
#include "providers/prov_pivot.h"

#define BR_STRUCT_TOOL "any_llm_structured_output"

/* ---- Paths ---- */

static int br_path(const char *model, const char *tail, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    int n;

    n = snprintf(out, outlen, "/model/");
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    k = (size_t)n;
    for (const unsigned char *p = (const unsigned char *)model; *p != '\0'; p++) {
        bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~';
        if (k + (keep ? 1 : 3) >= outlen)
            return -1;
        if (keep) {
            out[k++] = (char)*p;
        } else {
            out[k++] = '%';
            out[k++] = hex[*p >> 4];
            out[k++] = hex[*p & 15];
        }
    }
    n = snprintf(out + k, outlen - k, "%s", tail);
    return n < 0 || (size_t)n >= outlen - k ? -1 : 0;
}

int prov_bedrock_path(const char *model, bool stream, char *out, size_t outlen)
{
    return br_path(model, stream ? "/converse-stream" : "/converse", out, outlen);
}

int prov_bedrock_invoke_path(const char *model, char *out, size_t outlen)
{
    return br_path(model, "/invoke", out, outlen);
}

/* ---- Messages ---- */

/* An image_url part as an image block: data URIs of png, jpeg (jpg), gif, webp only. */
static int br_image(struct prov_pivot_req *r, const json_t *part, size_t i, size_t k, json_t **out)
{
    static const char *const formats[][2] = {{"image/png", "png"},
                                             {"image/jpeg", "jpeg"},
                                             {"image/jpg", "jpeg"},
                                             {"image/gif", "gif"},
                                             {"image/webp", "webp"}};
    const json_t *u = json_object_get(part, "image_url");
    const char *type, *b64;
    char where[64];
    size_t tlen;
    int rc;

    u = json_is_object(u) ? json_object_get(u, "url") : u;
    if (!json_is_string(u))
        return prov_pivot_bad(r, "messages[%zu].content[%zu]: image_url.url must be a string", i,
                              k);
    snprintf(where, sizeof(where), "messages[%zu].content[%zu]", i, k);
    if ((rc = prov_pivot_data_uri(r, json_string_value(u), where, &type, &tlen, &b64)) == 1)
        return prov_pivot_bad(r, "%s: Bedrock takes images as data URIs only, not URLs", where);
    if (rc != 0)
        return rc;
    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        if (strlen(formats[f][0]) != tlen || strncmp(type, formats[f][0], tlen) != 0)
            continue;
        *out = json_pack("{s:{s:s, s:{s:s}}}", "image", "format", formats[f][1], "source", "bytes",
                         b64);
        return *out != NULL ? 0 : prov_pivot_oom(r);
    }
    return prov_pivot_bad(r,
                          "%s: image type '%.*s' is not supported by Bedrock (png, jpeg, gif, "
                          "webp)",
                          where, (int)tlen, type);
}

/* A user content (a string, or text and image_url parts) as content blocks appended to blocks. */
static int br_user(struct prov_pivot_req *r, const json_t *content, size_t i, json_t *blocks)
{
    const json_t *part, *t;
    json_t *b = NULL;
    size_t k;
    int rc;

    if (json_is_string(content))
        return prov_pivot_push(blocks, json_pack("{s:O}", "text", content)) < 0 ? prov_pivot_oom(r)
                                                                                : 0;
    if (!json_is_array(content))
        return prov_pivot_bad(r, "messages[%zu].content must be a string or an array of parts", i);
    json_array_foreach(content, k, part)
    {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type != NULL && strcmp(type, "text") == 0 &&
            json_is_string(t = json_object_get(part, "text"))) {
            b = json_pack("{s:O}", "text", t);
        } else if (type != NULL && strcmp(type, "image_url") == 0) {
            if ((rc = br_image(r, part, i, k, &b)) != 0)
                return rc;
        } else {
            return prov_pivot_bad(r,
                                  "messages[%zu].content[%zu]: content part type '%s' is not "
                                  "supported by Bedrock (text, image_url)",
                                  i, k, type != NULL ? type : "(none)");
        }
        if (prov_pivot_push(blocks, b) < 0)
            return prov_pivot_oom(r);
    }
    return 0;
}

/* An assistant message: its text (when not empty) and a toolUse block per tool call. */
static int br_assistant(struct prov_pivot_req *r, const json_t *m, size_t i, json_t *blocks)
{
    const json_t *calls = json_object_get(m, "tool_calls"), *call;
    json_t *text = prov_pivot_text(json_object_get(m, "content"), "");
    size_t k;

    if (text == NULL)
        return prov_pivot_oom(r);
    if (json_string_length(text) == 0)
        json_decref(text);
    else if (prov_pivot_push(blocks, json_pack("{s:o}", "text", text)) < 0)
        return prov_pivot_oom(r);
    if (calls != NULL && !json_is_null(calls) && !json_is_array(calls))
        return prov_pivot_bad(r, "messages[%zu].tool_calls must be an array", i);
    json_array_foreach(calls, k, call)
    {
        const json_t *fn = json_object_get(call, "function"), *id = json_object_get(call, "id");
        const json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
        json_t *input;
        if (!json_is_string(id) || !json_is_string(name))
            return prov_pivot_bad(
                r, "messages[%zu].tool_calls[%zu]: id and function.name are required", i, k);
        if (args != NULL && !json_is_null(args) && !json_is_string(args))
            return prov_pivot_bad(
                r, "messages[%zu].tool_calls[%zu].function.arguments must be a string", i, k);
        input = json_string_length(args) == 0
                    ? json_object()
                    : json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
        if (input == NULL && json_string_length(args) == 0)
            return prov_pivot_oom(r);
        if (!json_is_object(input)) { /* a macro: its argument is evaluated twice */
            json_decref(input);
            return prov_pivot_bad(
                r, "messages[%zu].tool_calls[%zu].function.arguments must be a JSON object", i, k);
        }
        if (prov_pivot_push(blocks, json_pack("{s:{s:O, s:O, s:o}}", "toolUse", "toolUseId", id,
                                              "name", name, "input", input)) < 0)
            return prov_pivot_oom(r);
    }
    return 0;
}

/* A tool message as a toolResult block: json when its text is a JSON object, else text. */
static int br_tool_result(struct prov_pivot_req *r, const json_t *m, size_t i, json_t *blocks)
{
    const json_t *id = json_object_get(m, "tool_call_id");
    json_t *text, *obj, *c;

    if (!json_is_string(id))
        return prov_pivot_bad(r, "messages[%zu]: a tool message needs tool_call_id", i);
    if ((text = prov_pivot_text(json_object_get(m, "content"), "")) == NULL)
        return prov_pivot_oom(r);
    obj = json_loadb(json_string_value(text), json_string_length(text), 0, NULL);
    if (json_is_object(obj)) {
        c = json_pack("[{s:o}]", "json", obj);
        json_decref(text);
    } else {
        json_decref(obj);
        c = json_pack("[{s:o}]", "text", text);
    }
    return prov_pivot_push(
               blocks, json_pack("{s:{s:O, s:o}}", "toolResult", "toolUseId", id, "content", c)) < 0
               ? prov_pivot_oom(r)
               : 0;
}

/* Appends blocks (stolen) as a turn of role, merged into the last turn when it has that role. */
static int br_turn(struct prov_pivot_req *r, json_t *msgs, const char *role, json_t *blocks)
{
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    int rc = 0;

    if (json_array_size(blocks) == 0) {
        json_decref(blocks);
        return 0;
    }
    if (last != NULL && strcmp(json_string_value(json_object_get(last, "role")), role) == 0)
        rc = json_array_extend(json_object_get(last, "content"), blocks);
    else
        rc = prov_pivot_push(msgs, json_pack("{s:s, s:O}", "role", role, "content", blocks));
    json_decref(blocks);
    return rc < 0 ? prov_pivot_oom(r) : 0;
}

static int br_messages(struct prov_pivot_req *r, const json_t *in, json_t *body)
{
    json_t *msgs = json_object_get(body, "messages"), *sys = json_object_get(body, "system");
    json_t *blocks, *t;
    const json_t *m;
    size_t i;
    int rc;

    if (!json_is_array(in))
        return prov_pivot_bad(r, "messages must be an array");
    json_array_foreach(in, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role == NULL)
            return prov_pivot_bad(r, "messages[%zu]: role is required", i);
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            if ((t = prov_pivot_text(json_object_get(m, "content"), "\n")) == NULL)
                return prov_pivot_oom(r);
            if (json_string_length(t) == 0)
                json_decref(t);
            else if (prov_pivot_push(sys, json_pack("{s:o}", "text", t)) < 0)
                return prov_pivot_oom(r);
            continue;
        }
        if ((blocks = json_array()) == NULL)
            return prov_pivot_oom(r);
        if (strcmp(role, "user") == 0)
            rc = br_user(r, json_object_get(m, "content"), i, blocks);
        else if (strcmp(role, "assistant") == 0)
            rc = br_assistant(r, m, i, blocks);
        else if (strcmp(role, "tool") == 0)
            rc = br_tool_result(r, m, i, blocks);
        else
            rc = prov_pivot_bad(r, "messages[%zu]: role '%s' is not supported by Bedrock", i, role);
        if (rc != 0) {
            json_decref(blocks);
            return rc;
        }
        if ((rc = br_turn(r, msgs, strcmp(role, "assistant") == 0 ? "assistant" : "user",
                          blocks)) != 0)
            return rc;
    }
    return 0;
}

/* ---- Tools, parameters, output ---- */

static bool br_claude(const char *model)
{
    return strstr(model, "anthropic.") != NULL;
}

/* tools and tool_choice into toolConfig (none: no toolConfig at all). */
static int br_tools(struct prov_pivot_req *r, const json_t *req, json_t *tc)
{
    const json_t *tools = json_object_get(req, "tools"), *t,
                 *choice = json_object_get(req, "tool_choice");
    const json_t *name, *desc, *params;
    const char *c = json_string_value(choice);
    json_t *specs = json_object_get(tc, "tools");
    size_t i;
    int rc;

    if (tools != NULL && !json_is_null(tools) && !json_is_array(tools))
        return prov_pivot_bad(r, "tools must be an array");
    json_array_foreach(tools, i, t)
    {
        if ((rc = prov_pivot_tool(r, t, i, &name, &desc, &params)) != 0)
            return rc;
        if (prov_pivot_push(
                specs, json_pack("{s:{s:O, s:s, s:{s:o}}}", "toolSpec", "name", name, "description",
                                 json_string_length(desc) > 0 ? json_string_value(desc) : " ",
                                 "inputSchema", "json",
                                 json_is_object(params) ? json_deep_copy(params)
                                                        : json_pack("{s:s, s:{}}", "type", "object",
                                                                    "properties"))) < 0)
            return prov_pivot_oom(r);
    }
    if (choice == NULL || json_is_null(choice))
        return 0;
    if (c != NULL && strcmp(c, "auto") == 0)
        return json_array_size(specs) == 0 ||
                       prov_pivot_set(tc, "toolChoice", json_pack("{s:{}}", "auto")) == 0
                   ? 0
                   : prov_pivot_oom(r);
    if (c != NULL && strcmp(c, "none") == 0)
        return json_array_clear(specs) < 0 ? prov_pivot_oom(r) : 0;
    if (json_array_size(specs) == 0)
        return prov_pivot_bad(r, "tool_choice needs tools");
    if (c != NULL && strcmp(c, "required") == 0)
        return prov_pivot_set(tc, "toolChoice", json_pack("{s:{}}", "any")) < 0 ? prov_pivot_oom(r)
                                                                                : 0;
    name = json_object_get(json_object_get(choice, "function"), "name");
    if (c != NULL || !json_is_string(name))
        return prov_pivot_bad(r, "tool_choice must be auto, required, none or "
                                 "{\"type\":\"function\",\"function\":{\"name\":...}}");
    return prov_pivot_set(tc, "toolChoice", json_pack("{s:{s:O}}", "tool", "name", name)) < 0
               ? prov_pivot_oom(r)
               : 0;
}

/* max_tokens, temperature, top_p, stop into inferenceConfig; n > 1 refused. */
static int br_inference(struct prov_pivot_req *r, const json_t *req, json_t *ic)
{
    static const char *const nums[][2] = {{"temperature", "temperature"}, {"top_p", "topP"}};
    const json_t *v;
    json_t *stop;
    int rc;

    v = prov_pivot_max_tokens(req, &rc, r->err, r->errlen);
    if (rc != 0 || (v != NULL && json_object_set(ic, "maxTokens", (json_t *)v) < 0))
        return rc != 0 ? rc : prov_pivot_oom(r);
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        v = json_object_get(req, nums[i][0]);
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_number(v))
            return prov_pivot_bad(r, "%s must be a number", nums[i][0]);
        if (json_object_set(ic, nums[i][1], (json_t *)v) < 0)
            return prov_pivot_oom(r);
    }
    if ((rc = prov_pivot_stop(req, &stop, r->err, r->errlen)) != 0)
        return rc == -1 ? prov_pivot_oom(r) : rc;
    if (stop != NULL && prov_pivot_set(ic, "stopSequences", stop) < 0)
        return prov_pivot_oom(r);
    v = json_object_get(req, "n");
    if (json_is_integer(v) && json_integer_value(v) > 1)
        return prov_pivot_bad(r, "n > 1 is not supported by Bedrock");
    return 0;
}

/* reasoning_effort (Claude: reasoning_config; other models: dropped). *on: reasoning asked. */
static int br_reasoning(struct prov_pivot_req *r, const json_t *req, const char *model, json_t *b,
                        bool *on)
{
    static const struct {
        const char *effort;
        int budget;
    } budgets[] = {{"minimal", 1024}, {"low", 2048},    {"medium", 8192},
                   {"high", 24576},   {"xhigh", 32768}, {"max", 32768}};
    const json_t *re = json_object_get(req, "reasoning_effort");
    const char *effort = json_string_value(re);

    *on = false;
    if (re == NULL || json_is_null(re))
        return 0;
    if (effort == NULL)
        return prov_pivot_bad(r, "reasoning_effort must be a string");
    if (strcmp(effort, "none") == 0)
        return 0;
    for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
        if (strcmp(effort, budgets[i].effort) != 0)
            continue;
        if (!br_claude(model))
            return 0;
        *on = true;
        return prov_pivot_set(b, "additionalModelRequestFields",
                              json_pack("{s:{s:s, s:i}}", "reasoning_config", "type", "enabled",
                                        "budget_tokens", budgets[i].budget)) < 0
                   ? prov_pivot_oom(r)
                   : 0;
    }
    return prov_pivot_bad(
        r, "reasoning_effort must be one of none, minimal, low, medium, high, xhigh, max");
}

/* response_format: on Claude, non-stream, without reasoning, a forced structured-output tool. */
static int br_format(struct prov_pivot_req *r, const struct prov_chat_in *in, bool reasoning,
                     json_t *tc)
{
    const json_t *rf = json_object_get(in->req, "response_format"), *schema = NULL;
    const json_t *choice = json_object_get(in->req, "tool_choice");
    const char *type = json_string_value(json_object_get(rf, "type"));

    if (rf == NULL || json_is_null(rf))
        return 0;
    if (type == NULL)
        return prov_pivot_bad(r, "response_format needs a type");
    if (strcmp(type, "text") == 0)
        return 0;
    if (strcmp(type, "json_schema") == 0) {
        schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        if (!json_is_object(schema))
            return prov_pivot_bad(r, "response_format.json_schema.schema must be an object");
    } else if (strcmp(type, "json_object") != 0) {
        return prov_pivot_bad(r, "response_format type '%s' is not supported", type);
    }
    if (!br_claude(in->model) || in->stream || reasoning)
        return prov_pivot_bad(r, "response_format is supported on Bedrock for Claude models only, "
                                 "without stream and reasoning_effort");
    if (choice != NULL && !json_is_null(choice) &&
        !(json_is_string(choice) && strcmp(json_string_value(choice), "auto") == 0))
        return prov_pivot_bad(r, "response_format cannot be combined with tool_choice on Bedrock");
    if (prov_pivot_push(json_object_get(tc, "tools"),
                        json_pack("{s:{s:s, s:s, s:{s:o}}}", "toolSpec", "name", BR_STRUCT_TOOL,
                                  "description", "Answer with the structured output.",
                                  "inputSchema", "json",
                                  schema != NULL ? json_deep_copy(schema)
                                                 : json_pack("{s:s}", "type", "object"))) < 0 ||
        prov_pivot_set(tc, "toolChoice", json_pack("{s:{s:s}}", "tool", "name", BR_STRUCT_TOOL)) <
            0)
        return prov_pivot_oom(r);
    return 0;
}

int prov_bedrock_build_body(const struct prov_conf *pc, const struct prov_chat_in *in, char **body,
                            size_t *len, char *err, size_t errlen)
{
    struct prov_pivot_req r = {.err = err, .errlen = errlen};
    json_t *b = json_pack("{s:[], s:[]}", "system", "messages");
    json_t *ic = json_object(), *tc = json_pack("{s:[]}", "tools");
    bool reasoning = false;
    int rc;

    *body = NULL;
    *len = 0;
    if (b == NULL || ic == NULL || tc == NULL || prov_pivot_kwargs(pc, in->req, NULL) < 0) {
        rc = prov_pivot_oom(&r);
        goto out;
    }
    if ((rc = br_messages(&r, json_object_get(in->req, "messages"), b)) != 0 ||
        (rc = br_inference(&r, in->req, ic)) != 0 || (rc = br_tools(&r, in->req, tc)) != 0 ||
        (rc = br_reasoning(&r, in->req, in->model, b, &reasoning)) != 0 ||
        (rc = br_format(&r, in, reasoning, tc)) != 0)
        goto out;
    if ((json_array_size(json_object_get(b, "system")) == 0 && json_object_del(b, "system") < 0) ||
        (json_object_size(ic) > 0 && json_object_set(b, "inferenceConfig", ic) < 0) ||
        (json_array_size(json_object_get(tc, "tools")) > 0 &&
         json_object_set(b, "toolConfig", tc) < 0)) {
        rc = prov_pivot_oom(&r);
        goto out;
    }
    if ((*body = jw_dumps(b, len)) == NULL) {
        rc = prov_pivot_oom(&r);
        goto out;
    }
out:
    json_decref(b);
    json_decref(ic);
    json_decref(tc);
    return rc;
}

/* ---- Titan embeddings ---- */

int prov_bedrock_embed_body(const struct prov_chat_in *in, char **body, size_t *len, char *err,
                            size_t errlen)
{
    int rc;
    json_t *b = prov_pivot_embed_one(in->req, "inputText", "Bedrock Titan", &rc, err, errlen);

    *body = NULL;
    *len = 0;
    if (b == NULL)
        return rc;
    if ((*body = jw_dumps(b, len)) == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    } else {
        rc = 0;
    }
    json_decref(b);
    return rc;
}
