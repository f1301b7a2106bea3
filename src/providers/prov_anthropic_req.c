/*
 * Pivot (OpenAI chat) request -> Anthropic Messages request (providers.md §1.4, §2.2). Pure: a
 * jansson tree in, a new tree out. Anything Anthropic cannot express is a client error with a
 * reason naming the field; anything it would reject as unknown is left out.
 */
#include "providers/prov_anthropic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/prov_dialect.h"
#include "providers/prov_pivot.h"

/* A growable text buffer (for the joined system prompt). */
struct anth_text {
    char *p;
    size_t len, cap;
};

static int anth_text_add(struct anth_text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->len + n + 1) * 2;
        char *p = realloc(t->p, cap);
        if (p == NULL)
            return -1;
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return 0;
}

/*
 * Appends the text of a system/developer content (a string, or parts whose "text" count) to t,
 * after a "\n" when t is not empty.
 */
static int anth_system_add(struct prov_pivot_req *r, struct anth_text *t, const json_t *content,
                           size_t i)
{
    size_t k;
    const json_t *part;

    if (content == NULL || json_is_null(content))
        return 0;
    if (t->len > 0 && anth_text_add(t, "\n", 1) < 0)
        return prov_pivot_oom(r);
    if (json_is_string(content))
        return anth_text_add(t, json_string_value(content), json_string_length(content)) < 0
                   ? prov_pivot_oom(r)
                   : 0;
    if (!json_is_array(content))
        return prov_pivot_bad(r, "messages[%zu].content: expected text", i);
    json_array_foreach(content, k, part)
    {
        const json_t *text = json_object_get(part, "text");
        if (!json_is_string(text))
            return prov_pivot_bad(r, "messages[%zu].content[%zu]: only text parts are allowed here",
                                  i, k);
        if (anth_text_add(t, json_string_value(text), json_string_length(text)) < 0)
            return prov_pivot_oom(r);
    }
    return 0;
}

/*
 * A source object for a URL: a data URI ("data:<mime>;base64,<payload>") -> base64 source; an
 * http(s) URL -> url source when allow_url. 0, -1 or PROV_E_REQUEST.
 */
static int anth_source(struct prov_pivot_req *r, const char *u, bool allow_url, const char *where,
                       json_t **out)
{
    const char *type, *b64;
    size_t tlen;
    int rc;

    if ((rc = prov_pivot_data_uri(r, u, where, &type, &tlen, &b64)) <= 0) {
        if (rc < 0)
            return rc;
        *out =
            json_pack("{s:s, s:s%, s:s}", "type", "base64", "media_type", type, tlen, "data", b64);
        return *out != NULL ? 0 : prov_pivot_oom(r);
    }
    if (allow_url && (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0)) {
        *out = json_pack("{s:s, s:s}", "type", "url", "url", u);
        return *out != NULL ? 0 : prov_pivot_oom(r);
    }
    return prov_pivot_bad(r, "%s: expected a %sdata URI", where,
                          allow_url ? "http(s) URL or a " : "");
}

/* One user (or tool result) content part -> an Anthropic block. 0, -1 or PROV_E_REQUEST. */
static int anth_part(struct prov_pivot_req *r, const json_t *part, const char *where, json_t **out)
{
    const char *type = json_string_value(json_object_get(part, "type"));
    const json_t *v, *cc;
    json_t *src = NULL;
    int rc;

    *out = NULL;
    if (type == NULL)
        return prov_pivot_bad(r, "%s: a content part needs a type", where);
    if (strcmp(type, "text") == 0) {
        v = json_object_get(part, "text");
        if (!json_is_string(v))
            return prov_pivot_bad(r, "%s: text must be a string", where);
        *out = json_pack("{s:s, s:O}", "type", "text", "text", v);
    } else if (strcmp(type, "image_url") == 0) {
        v = json_object_get(part, "image_url");
        if (json_is_object(v))
            v = json_object_get(v, "url");
        if (!json_is_string(v))
            return prov_pivot_bad(r, "%s: image_url.url must be a string", where);
        if ((rc = anth_source(r, json_string_value(v), true, where, &src)) != 0)
            return rc;
        *out = json_pack("{s:s, s:o}", "type", "image", "source", src);
    } else if (strcmp(type, "file") == 0) {
        v = json_object_get(json_object_get(part, "file"), "file_data");
        if (!json_is_string(v))
            return prov_pivot_bad(r, "%s: file parts need file.file_data (a data URI)", where);
        if ((rc = anth_source(r, json_string_value(v), false, where, &src)) != 0)
            return rc;
        *out = json_pack("{s:s, s:o}", "type", "document", "source", src);
    } else {
        return prov_pivot_bad(r, "%s: content part type '%s' is not supported by Anthropic", where,
                              type);
    }
    if (*out == NULL)
        return prov_pivot_oom(r);
    /* Prompt caching marks ride along (a common extension of OpenAI parts). */
    cc = json_object_get(part, "cache_control");
    if (json_is_object(cc) && json_object_set(*out, "cache_control", (json_t *)cc) < 0) {
        json_decref(*out);
        *out = NULL;
        return prov_pivot_oom(r);
    }
    return 0;
}

/* A content that is a string (kept) or an array of parts (-> blocks). */
static int anth_content(struct prov_pivot_req *r, const json_t *content, size_t i, json_t **out)
{
    char where[64];
    size_t k;
    const json_t *part;
    json_t *b = NULL;
    int rc;

    *out = NULL;
    if (json_is_string(content)) {
        *out = json_copy((json_t *)content);
        return *out != NULL ? 0 : prov_pivot_oom(r);
    }
    if (!json_is_array(content))
        return prov_pivot_bad(r, "messages[%zu].content must be a string or an array of parts", i);
    if ((*out = json_array()) == NULL)
        return prov_pivot_oom(r);
    json_array_foreach(content, k, part)
    {
        snprintf(where, sizeof(where), "messages[%zu].content[%zu]", i, k);
        if ((rc = anth_part(r, part, where, &b)) != 0 || prov_pivot_push(*out, b) < 0) {
            json_decref(*out);
            *out = NULL;
            return rc != 0 ? rc : prov_pivot_oom(r);
        }
    }
    return 0;
}

/* reasoning: a string or {"content": string}. */
static const json_t *anth_reasoning(const json_t *m)
{
    const json_t *v = json_object_get(m, "reasoning");

    if (json_is_object(v))
        v = json_object_get(v, "content");
    return json_is_string(v) ? v : NULL;
}

/* One assistant message -> blocks (thinking?, text..., tool_use...). */
static int anth_assistant(struct prov_pivot_req *r, const json_t *m, size_t i, json_t *blocks)
{
    const json_t *content = json_object_get(m, "content"),
                 *calls = json_object_get(m, "tool_calls");
    const json_t *reasoning = anth_reasoning(m), *sig, *part, *call;
    json_t *input;
    json_error_t je;
    size_t k;

    sig = json_object_get(json_object_get(json_object_get(m, "extra_content"), "anthropic"),
                          "signature");
    if (reasoning != NULL && json_is_string(sig) &&
        prov_pivot_push(blocks, json_pack("{s:s, s:O, s:O}", "type", "thinking", "thinking",
                                          reasoning, "signature", sig)) < 0)
        return prov_pivot_oom(r);
    if (json_is_string(content) && json_string_length(content) > 0) {
        if (prov_pivot_push(blocks, json_pack("{s:s, s:O}", "type", "text", "text", content)) < 0)
            return prov_pivot_oom(r);
    } else if (json_is_array(content)) {
        json_array_foreach(content, k, part)
        {
            const json_t *text = json_object_get(part, "text");
            if (!json_is_string(text))
                return prov_pivot_bad(r, "messages[%zu].content[%zu]: assistant parts must be text",
                                      i, k);
            if (json_string_length(text) > 0 &&
                prov_pivot_push(blocks, json_pack("{s:s, s:O}", "type", "text", "text", text)) < 0)
                return prov_pivot_oom(r);
        }
    } else if (content != NULL && !json_is_null(content) && !json_is_string(content)) {
        return prov_pivot_bad(r, "messages[%zu].content must be a string or an array of parts", i);
    }
    if (calls != NULL && !json_is_null(calls) && !json_is_array(calls))
        return prov_pivot_bad(r, "messages[%zu].tool_calls must be an array", i);
    json_array_foreach(calls, k, call)
    {
        const json_t *fn = json_object_get(call, "function"), *id = json_object_get(call, "id");
        const json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
        if (!json_is_string(id) || !json_is_string(name))
            return prov_pivot_bad(
                r, "messages[%zu].tool_calls[%zu]: id and function.name are required", i, k);
        if (args == NULL || json_is_null(args) ||
            (json_is_string(args) && json_string_length(args) == 0)) {
            input = json_object();
        } else if (!json_is_string(args)) {
            return prov_pivot_bad(
                r, "messages[%zu].tool_calls[%zu].function.arguments must be a string", i, k);
        } else {
            input = json_loadb(json_string_value(args), json_string_length(args), 0, &je);
            if (!json_is_object(input)) {
                json_decref(input);
                return prov_pivot_bad(
                    r,
                    "messages[%zu].tool_calls[%zu].function.arguments is not a JSON "
                    "object: Anthropic needs the tool input as an object",
                    i, k);
            }
        }
        if (input == NULL ||
            prov_pivot_push(blocks, json_pack("{s:s, s:O, s:O, s:o}", "type", "tool_use", "id", id,
                                              "name", name, "input", input)) < 0)
            return prov_pivot_oom(r);
    }
    return 0;
}

/* One role:"tool" message -> a tool_result block. */
static int anth_tool_result(struct prov_pivot_req *r, const json_t *m, size_t i, json_t **out)
{
    const json_t *id = json_object_get(m, "tool_call_id"), *content = json_object_get(m, "content");
    json_t *c = NULL;
    int rc;

    if (!json_is_string(id))
        return prov_pivot_bad(r, "messages[%zu]: a tool message needs tool_call_id", i);
    if (content == NULL || json_is_null(content))
        c = json_string("");
    else if ((rc = anth_content(r, content, i, &c)) != 0)
        return rc;
    *out = json_pack("{s:s, s:O, s:o}", "type", "tool_result", "tool_use_id", id, "content", c);
    return *out != NULL ? 0 : prov_pivot_oom(r);
}

/* messages -> messages + the joined system prompt. */
static int anth_messages(struct prov_pivot_req *r, const json_t *msgs, json_t *out,
                         struct anth_text *sys)
{
    size_t i;
    const json_t *m;
    json_t *results = NULL, *blocks, *c = NULL,
           *b = NULL; /* results: the open run of tool results */
    int rc;

    if (!json_is_array(msgs))
        return prov_pivot_bad(r, "messages must be an array");
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *content = json_object_get(m, "content");
        if (role == NULL)
            return prov_pivot_bad(r, "messages[%zu]: role is required", i);
        if (strcmp(role, "tool") == 0) {
            if (results == NULL) {
                if ((results = json_array()) == NULL ||
                    prov_pivot_push(
                        out, json_pack("{s:s, s:o}", "role", "user", "content", results)) < 0)
                    return prov_pivot_oom(r);
            }
            if ((rc = anth_tool_result(r, m, i, &b)) != 0 || prov_pivot_push(results, b) < 0)
                return rc != 0 ? rc : prov_pivot_oom(r);
            continue;
        }
        results = NULL;
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            if ((rc = anth_system_add(r, sys, content, i)) != 0)
                return rc;
        } else if (strcmp(role, "user") == 0) {
            if ((rc = anth_content(r, content, i, &c)) != 0 ||
                prov_pivot_push(out, json_pack("{s:s, s:o}", "role", "user", "content", c)) < 0)
                return rc != 0 ? rc : prov_pivot_oom(r);
        } else if (strcmp(role, "assistant") == 0) {
            if ((blocks = json_array()) == NULL)
                return prov_pivot_oom(r);
            if ((rc = anth_assistant(r, m, i, blocks)) != 0) {
                json_decref(blocks);
                return rc;
            }
            /* Nothing to say (e.g. an empty placeholder): Anthropic rejects empty content. */
            if (json_array_size(blocks) == 0)
                json_decref(blocks);
            else if (prov_pivot_push(
                         out, json_pack("{s:s, s:o}", "role", "assistant", "content", blocks)) < 0)
                return prov_pivot_oom(r);
        } else {
            return prov_pivot_bad(r, "messages[%zu]: role '%s' is not supported by Anthropic", i,
                                  role);
        }
    }
    return 0;
}

static int anth_tools(struct prov_pivot_req *r, const json_t *tools, json_t *a)
{
    size_t i;
    const json_t *t;
    json_t *out, *schema, *tool;

    if (tools == NULL || json_is_null(tools))
        return 0;
    if (!json_is_array(tools))
        return prov_pivot_bad(r, "tools must be an array");
    if ((out = json_array()) == NULL || json_object_set_new(a, "tools", out) < 0)
        return prov_pivot_oom(r);
    json_array_foreach(tools, i, t)
    {
        const json_t *name, *desc, *params;
        int rc = prov_pivot_tool(r, t, i, &name, &desc, &params);
        if (rc != 0)
            return rc;
        schema = json_is_object(params) ? json_copy((json_t *)params) : json_object();
        /* Anthropic's input_schema must say type "object". */
        if (schema == NULL || (json_object_get(schema, "type") == NULL &&
                               prov_pivot_set(schema, "type", json_string("object")) < 0)) {
            json_decref(schema);
            return prov_pivot_oom(r);
        }
        if ((tool = json_pack("{s:O}", "name", name)) == NULL ||
            (json_is_string(desc) && json_object_set(tool, "description", (json_t *)desc) < 0) ||
            prov_pivot_set(tool, "input_schema", schema) < 0 || prov_pivot_push(out, tool) < 0)
            return prov_pivot_oom(r);
    }
    return 0;
}

static int anth_tool_choice(struct prov_pivot_req *r, const json_t *req, json_t *a)
{
    const json_t *tc = json_object_get(req, "tool_choice");
    const json_t *ptc = json_object_get(req, "parallel_tool_calls");
    const char *s = json_string_value(tc);
    json_t *out = NULL;

    if (s != NULL) {
        if (strcmp(s, "auto") == 0 || strcmp(s, "none") == 0)
            out = json_pack("{s:s}", "type", s);
        else if (strcmp(s, "required") == 0)
            out = json_pack("{s:s}", "type", "any");
        else
            return prov_pivot_bad(r, "tool_choice '%s' is not supported (auto, required, none)", s);
    } else if (json_is_object(tc)) {
        const json_t *name = json_object_get(json_object_get(tc, "function"), "name");
        if (!json_is_string(name))
            return prov_pivot_bad(r, "tool_choice: expected {\"type\":\"function\",\"function\":"
                                     "{\"name\":...}}");
        out = json_pack("{s:s, s:O}", "type", "tool", "name", name);
    } else if (tc != NULL && !json_is_null(tc)) {
        return prov_pivot_bad(r, "tool_choice must be a string or an object");
    } else if (json_is_false(ptc) && json_array_size(json_object_get(a, "tools")) > 0) {
        out = json_pack("{s:s}", "type", "auto");
    } else {
        return 0;
    }
    if (out == NULL)
        return prov_pivot_oom(r);
    if (json_is_false(ptc) &&
        strcmp(json_string_value(json_object_get(out, "type")), "none") != 0 &&
        json_object_set_new(out, "disable_parallel_tool_use", json_true()) < 0) {
        json_decref(out);
        return prov_pivot_oom(r);
    }
    return prov_pivot_set(a, "tool_choice", out) < 0 ? prov_pivot_oom(r) : 0;
}

/* max_tokens (required by Anthropic): max_completion_tokens, else max_tokens, else the default. */
static int anth_max_tokens(struct prov_pivot_req *r, const json_t *req, json_t *a)
{
    int rc;
    const json_t *v = prov_pivot_max_tokens(req, &rc, r->err, r->errlen);

    if (rc != 0)
        return rc;
    if (v == NULL)
        return prov_pivot_set(a, "max_tokens", json_integer(PROV_ANTH_DEFAULT_MAX_TOKENS)) < 0
                   ? prov_pivot_oom(r)
                   : 0;
    return json_object_set(a, "max_tokens", (json_t *)v) < 0 ? prov_pivot_oom(r) : 0;
}

/* temperature, top_p, top_k, stop, user, stream. */
static int anth_sampling(struct prov_pivot_req *r, const json_t *req, json_t *a, bool stream)
{
    static const char *const nums[] = {"temperature", "top_p", "top_k"};
    const json_t *v, *s;
    json_t *seqs;
    size_t i;

    for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        v = json_object_get(req, nums[i]);
        if (v == NULL || json_is_null(v))
            continue;
        if (!json_is_number(v))
            return prov_pivot_bad(r, "%s must be a number", nums[i]);
        if (json_object_set(a, nums[i], (json_t *)v) < 0)
            return prov_pivot_oom(r);
    }
    v = json_object_get(req, "stop");
    if (json_is_string(v) || json_is_array(v)) {
        if ((seqs = json_array()) == NULL || json_object_set_new(a, "stop_sequences", seqs) < 0)
            return prov_pivot_oom(r);
        if (json_is_string(v) && json_array_append(seqs, (json_t *)v) < 0)
            return prov_pivot_oom(r);
        json_array_foreach(v, i, s)
        {
            if (!json_is_string(s))
                return prov_pivot_bad(r, "stop[%zu] must be a string", i);
            if (json_array_append(seqs, (json_t *)s) < 0)
                return prov_pivot_oom(r);
        }
    } else if (v != NULL && !json_is_null(v)) {
        return prov_pivot_bad(r, "stop must be a string or an array of strings");
    }
    v = json_object_get(req, "user");
    if (json_is_string(v) && prov_pivot_set(a, "metadata", json_pack("{s:O}", "user_id", v)) < 0)
        return prov_pivot_oom(r);
    if (stream && prov_pivot_set(a, "stream", json_true()) < 0)
        return prov_pivot_oom(r);
    return 0;
}

/* The output_config object of a, created on first use. */
static json_t *anth_output_config(json_t *a)
{
    json_t *oc = json_object_get(a, "output_config");

    if (oc == NULL && prov_pivot_set(a, "output_config", json_object()) == 0)
        oc = json_object_get(a, "output_config");
    return oc;
}

/* response_format and reasoning_effort. */
static int anth_output(struct prov_pivot_req *r, const json_t *req, json_t *a)
{
    static const char *const efforts[][2] = {{"minimal", "low"},   {"low", "low"},
                                             {"medium", "medium"}, {"high", "high"},
                                             {"xhigh", "xhigh"},   {"max", "max"}};
    const json_t *rf = json_object_get(req, "response_format");
    const char *type = json_string_value(json_object_get(rf, "type"));
    const char *effort = json_string_value(json_object_get(req, "reasoning_effort"));
    const json_t *schema;
    json_t *oc;
    size_t i;

    if (rf != NULL && !json_is_null(rf) && type == NULL)
        return prov_pivot_bad(r, "response_format needs a type");
    if (type != NULL && strcmp(type, "json_schema") == 0) {
        schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        if (!json_is_object(schema))
            return prov_pivot_bad(r, "response_format.json_schema.schema must be an object");
        if ((oc = anth_output_config(a)) == NULL ||
            prov_pivot_set(oc, "format",
                           json_pack("{s:s, s:O}", "type", "json_schema", "schema", schema)) < 0)
            return prov_pivot_oom(r);
    } else if (type != NULL && strcmp(type, "text") != 0) {
        return prov_pivot_bad(r,
                              "response_format type '%s' is not supported by Anthropic (use "
                              "json_schema)",
                              type);
    }
    if (effort == NULL) {
        if (json_object_get(req, "reasoning_effort") != NULL &&
            !json_is_null(json_object_get(req, "reasoning_effort")))
            return prov_pivot_bad(r, "reasoning_effort must be a string");
        return 0;
    }
    if (strcmp(effort, "none") == 0)
        return prov_pivot_set(a, "thinking", json_pack("{s:s}", "type", "disabled")) < 0
                   ? prov_pivot_oom(r)
                   : 0;
    for (i = 0; i < sizeof(efforts) / sizeof(efforts[0]); i++) {
        if (strcmp(effort, efforts[i][0]) != 0)
            continue;
        if (prov_pivot_set(a, "thinking", json_pack("{s:s}", "type", "adaptive")) < 0 ||
            (oc = anth_output_config(a)) == NULL ||
            prov_pivot_set(oc, "effort", json_string(efforts[i][1])) < 0)
            return prov_pivot_oom(r);
        return 0;
    }
    return prov_pivot_bad(
        r,
        "reasoning_effort '%s' is not supported (none, minimal, low, medium, high, "
        "xhigh, max)",
        effort);
}

int prov_anth_request(const json_t *req, const char *model, bool stream, json_t **out, char *err,
                      size_t errlen)
{
    struct prov_pivot_req r = {.err = err, .errlen = errlen};
    struct anth_text sys = {0};
    json_t *a = json_object(), *msgs = json_array();
    int rc;

    *out = NULL;
    if (a == NULL || msgs == NULL || prov_pivot_set(a, "model", json_string(model)) < 0) {
        json_decref(msgs);
        rc = prov_pivot_oom(&r);
        goto out;
    }
    /* "system" goes before "messages" in the body, so it is set once both are known. */
    if ((rc = anth_messages(&r, json_object_get(req, "messages"), msgs, &sys)) != 0) {
        json_decref(msgs);
        goto out;
    }
    if ((sys.len > 0 && prov_pivot_set(a, "system", json_stringn(sys.p, sys.len)) < 0) ||
        prov_pivot_set(a, "messages", msgs) < 0) {
        rc = prov_pivot_oom(&r);
        goto out;
    }
    if ((rc = anth_max_tokens(&r, req, a)) != 0 || (rc = anth_sampling(&r, req, a, stream)) != 0 ||
        (rc = anth_tools(&r, json_object_get(req, "tools"), a)) != 0 ||
        (rc = anth_tool_choice(&r, req, a)) != 0 || (rc = anth_output(&r, req, a)) != 0)
        goto out;
    *out = a;
    a = NULL;
out:
    free(sys.p);
    json_decref(a);
    return rc;
}
