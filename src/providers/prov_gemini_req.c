/*
 * Pivot (OpenAI chat) request -> Gemini generateContent body (providers.md §1.4, §5.2). Pure: a
 * jansson tree in, a new tree out. Gemini rejects unknown fields, so only what is mapped here is
 * ever sent; what cannot be expressed is a client error naming the field.
 */
#include "providers/prov_gemini.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool prov_gem_absent(const json_t *v)
{
    return v == NULL || json_is_null(v);
}

/* The request fields this translation reads: the only config defaults worth merging. */
static const char *const gem_fields[] = {"temperature",
                                         "top_p",
                                         "top_k",
                                         "max_tokens",
                                         "max_completion_tokens",
                                         "stop",
                                         "seed",
                                         "presence_penalty",
                                         "frequency_penalty",
                                         "n",
                                         "tools",
                                         "tool_choice",
                                         "response_format",
                                         "reasoning_effort"};

int prov_gem_merge_kwargs(const json_t *kwargs, json_t *req)
{
    for (size_t i = 0; i < sizeof(gem_fields) / sizeof(gem_fields[0]); i++) {
        json_t *v = json_object_get(kwargs, gem_fields[i]);
        if (v != NULL && json_object_get(req, gem_fields[i]) == NULL &&
            json_object_set(req, gem_fields[i], v) < 0)
            return -1;
    }
    return 0;
}

/* ---- Content parts ---- */

/* The text of a content that is a string or an array of text parts, as a new string. */
static int gem_plain_text(struct prov_gem_req *r, const json_t *content, size_t i, json_t **out)
{
    size_t k, n = 0;
    const json_t *part, *t;
    char *p;

    *out = NULL;
    if (prov_gem_absent(content)) {
        *out = json_string("");
    } else if (json_is_string(content)) {
        *out = json_copy((json_t *)content);
    } else if (!json_is_array(content)) {
        return prov_pivot_bad(&r->e, "messages[%zu].content must be a string or an array of parts",
                              i);
    } else {
        json_array_foreach(content, k, part)
        {
            if (!json_is_string(t = json_object_get(part, "text")))
                return prov_pivot_bad(
                    &r->e, "messages[%zu].content[%zu]: only text parts are allowed here", i, k);
            n += json_string_length(t);
        }
        if ((p = malloc(n + 1)) == NULL)
            return prov_pivot_oom(&r->e);
        n = 0;
        json_array_foreach(content, k, part)
        {
            t = json_object_get(part, "text");
            memcpy(p + n, json_string_value(t), json_string_length(t));
            n += json_string_length(t);
        }
        *out = json_stringn_nocheck(p, n);
        free(p);
    }
    return *out != NULL ? 0 : prov_pivot_oom(&r->e);
}

/* A MIME type for a file URL, from its extension (§5.2: image/jpeg when unknown). */
static const char *gem_guess_mime(const char *url)
{
    static const char *const map[][2] = {
        {".png", "image/png"},   {".jpg", "image/jpeg"},      {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},   {".webp", "image/webp"},     {".heic", "image/heic"},
        {".heif", "image/heif"}, {".pdf", "application/pdf"}, {".txt", "text/plain"},
        {".mp3", "audio/mp3"},   {".wav", "audio/wav"},       {".mp4", "video/mp4"}};
    size_t end = strcspn(url, "?#");

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t n = strlen(map[i][0]);
        if (end >= n && strncasecmp(url + end - n, map[i][0], n) == 0)
            return map[i][1];
    }
    return "image/jpeg";
}

/* A data URI -> inlineData; an http(s) or gs:// URL -> fileData when allow_url. */
static int gem_media(struct prov_gem_req *r, const char *u, bool allow_url, const char *where,
                     json_t **out)
{
    const char *type, *b64;
    size_t tlen;
    int rc;

    if ((rc = prov_pivot_data_uri(&r->e, u, where, &type, &tlen, &b64)) <= 0) {
        if (rc < 0)
            return rc;
        if (strlen(b64) / 4 * 3 > (size_t)PROV_GEM_MAX_INLINE)
            return prov_pivot_bad(&r->e, "%s: inline data larger than 20 MB", where);
        *out = json_pack("{s:{s:s%, s:s}}", "inlineData", "mimeType", type, tlen, "data", b64);
        return *out != NULL ? 0 : prov_pivot_oom(&r->e);
    }
    if (allow_url && (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0 ||
                      strncmp(u, "gs://", 5) == 0)) {
        *out = json_pack("{s:{s:s, s:s}}", "fileData", "mimeType", gem_guess_mime(u), "fileUri", u);
        return *out != NULL ? 0 : prov_pivot_oom(&r->e);
    }
    return prov_pivot_bad(&r->e, "%s: expected a %sdata URI", where,
                          allow_url ? "http(s) URL or a " : "");
}

/* One user content part -> a Gemini part. */
static int gem_part(struct prov_gem_req *r, const json_t *part, const char *where, json_t **out)
{
    const char *type = json_string_value(json_object_get(part, "type"));
    const json_t *v, *fmt;

    *out = NULL;
    if (type == NULL)
        return prov_pivot_bad(&r->e, "%s: a content part needs a type", where);
    if (strcmp(type, "text") == 0) {
        if (!json_is_string(v = json_object_get(part, "text")))
            return prov_pivot_bad(&r->e, "%s: text must be a string", where);
        *out = json_pack("{s:O}", "text", v);
        return *out != NULL ? 0 : prov_pivot_oom(&r->e);
    }
    if (strcmp(type, "image_url") == 0) {
        v = json_object_get(part, "image_url");
        if (json_is_object(v))
            v = json_object_get(v, "url");
        if (!json_is_string(v))
            return prov_pivot_bad(&r->e, "%s: image_url.url must be a string", where);
        return gem_media(r, json_string_value(v), true, where, out);
    }
    if (strcmp(type, "file") == 0) {
        v = json_object_get(json_object_get(part, "file"), "file_data");
        if (!json_is_string(v))
            return prov_pivot_bad(&r->e, "%s: file parts need file.file_data (a data URI)", where);
        return gem_media(r, json_string_value(v), false, where, out);
    }
    if (strcmp(type, "input_audio") == 0) {
        v = json_object_get(json_object_get(part, "input_audio"), "data");
        fmt = json_object_get(json_object_get(part, "input_audio"), "format");
        if (!json_is_string(v) || !json_is_string(fmt))
            return prov_pivot_bad(&r->e, "%s: input_audio needs data and format", where);
        *out = json_pack("{s:{s:s+, s:O}}", "inlineData", "mimeType", "audio/",
                         json_string_value(fmt), "data", v);
        return *out != NULL ? 0 : prov_pivot_oom(&r->e);
    }
    return prov_pivot_bad(&r->e, "%s: content part type '%s' is not supported by Gemini", where,
                          type);
}

/* A user content (a string or parts) -> parts. */
static int gem_user_parts(struct prov_gem_req *r, const json_t *content, size_t i, json_t *parts)
{
    char where[64];
    const json_t *part;
    json_t *p = NULL;
    size_t k;
    int rc;

    if (json_is_string(content))
        return prov_pivot_push(parts, json_pack("{s:O}", "text", content)) < 0
                   ? prov_pivot_oom(&r->e)
                   : 0;
    if (!json_is_array(content))
        return prov_pivot_bad(&r->e, "messages[%zu].content must be a string or an array of parts",
                              i);
    json_array_foreach(content, k, part)
    {
        snprintf(where, sizeof(where), "messages[%zu].content[%zu]", i, k);
        if ((rc = gem_part(r, part, where, &p)) != 0)
            return rc;
        if (prov_pivot_push(parts, p) < 0)
            return prov_pivot_oom(&r->e);
    }
    return 0;
}

/* extra_content.google.thought_signature of v (a message or a tool call), or NULL. */
static const json_t *gem_signature(const json_t *v)
{
    const json_t *s = json_object_get(
        json_object_get(json_object_get(v, "extra_content"), "google"), "thought_signature");

    return json_is_string(s) ? s : NULL;
}

/* Tool-call arguments (a JSON text) -> an object: "" -> {}, anything but an object -> 400. */
static int gem_args(struct prov_gem_req *r, const json_t *args, size_t i, size_t k, json_t **out)
{
    *out = NULL;
    if (prov_gem_absent(args) || (json_is_string(args) && json_string_length(args) == 0)) {
        *out = json_object();
        return *out != NULL ? 0 : prov_pivot_oom(&r->e);
    }
    if (!json_is_string(args))
        return prov_pivot_bad(
            &r->e, "messages[%zu].tool_calls[%zu].function.arguments must be a string", i, k);
    *out = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return prov_pivot_bad(
            &r->e,
            "messages[%zu].tool_calls[%zu].function.arguments is not a JSON object: "
            "Gemini needs the call arguments as an object",
            i, k);
    }
    return 0;
}

/* One assistant message -> model parts (text, then functionCall parts). */
static int gem_assistant(struct prov_gem_req *r, const json_t *m, size_t i, json_t *parts)
{
    const json_t *calls = json_object_get(m, "tool_calls"), *sig = gem_signature(m), *call;
    json_t *text = NULL, *args, *p;
    size_t k;
    int rc;

    if ((rc = gem_plain_text(r, json_object_get(m, "content"), i, &text)) != 0)
        return rc;
    if (json_string_length(text) > 0) {
        p = json_pack("{s:o}", "text", text);
        if (p == NULL ||
            (sig != NULL && json_object_set(p, "thoughtSignature", (json_t *)sig) < 0) ||
            prov_pivot_push(parts, p) < 0) {
            json_decref(p);
            return prov_pivot_oom(&r->e);
        }
    } else {
        json_decref(text);
    }
    if (!prov_gem_absent(calls) && !json_is_array(calls))
        return prov_pivot_bad(&r->e, "messages[%zu].tool_calls must be an array", i);
    json_array_foreach(calls, k, call)
    {
        const json_t *fn = json_object_get(call, "function"), *id = json_object_get(call, "id");
        const json_t *name = json_object_get(fn, "name");
        if (!json_is_string(name) || json_string_length(name) == 0)
            return prov_pivot_bad(&r->e, "messages[%zu].tool_calls[%zu]: function.name is required",
                                  i, k);
        if ((rc = gem_args(r, json_object_get(fn, "arguments"), i, k, &args)) != 0)
            return rc;
        p = json_pack("{s:{s:O, s:o}}", "functionCall", "name", name, "args", args);
        sig = gem_signature(call);
        /* §5.2: Gemini 3 validates the first call's signature; without one, say to skip it. */
        if (p == NULL ||
            (sig != NULL ? json_object_set(p, "thoughtSignature", (json_t *)sig)
             : k == 0
                 ? json_object_set_new(p, "thoughtSignature", json_string(PROV_GEM_SKIP_SIGNATURE))
                 : 0) < 0 ||
            prov_pivot_push(parts, p) < 0 ||
            (json_is_string(id) &&
             json_object_set(r->names, json_string_value(id), (json_t *)name) < 0))
            return prov_pivot_oom(&r->e);
    }
    return 0;
}

/* One role:"tool" message -> a functionResponse part (§5.2). */
static int gem_tool_result(struct prov_gem_req *r, const json_t *m, size_t i, json_t *parts)
{
    const json_t *id = json_object_get(m, "tool_call_id"), *name;
    json_t *text = NULL, *parsed, *resp;
    int rc;

    if (!json_is_string(id))
        return prov_pivot_bad(&r->e, "messages[%zu]: a tool message needs tool_call_id", i);
    if ((name = json_object_get(r->names, json_string_value(id))) == NULL)
        return prov_pivot_bad(
            &r->e,
            "messages[%zu]: tool_call_id '%.64s' does not match a tool call of an "
            "earlier assistant message",
            i, json_string_value(id));
    if ((rc = gem_plain_text(r, json_object_get(m, "content"), i, &text)) != 0)
        return rc;
    parsed = json_loadb(json_string_value(text), json_string_length(text), JSON_DECODE_ANY, NULL);
    if (json_is_object(parsed)) {
        resp = parsed;
    } else {
        resp = json_pack("{s:O}", "result", parsed != NULL ? parsed : text);
        json_decref(parsed);
    }
    json_decref(text);
    if (prov_pivot_push(parts, json_pack("{s:{s:O, s:o}}", "functionResponse", "name", name,
                                         "response", resp)) < 0)
        return prov_pivot_oom(&r->e);
    return 0;
}

/* Appends text to the system prompt (a string in *sys, joined with "\n"). */
static int gem_system_add(struct prov_gem_req *r, json_t **sys, const json_t *content, size_t i)
{
    json_t *t = NULL, *joined;
    const char *a;
    size_t na;
    char *p;
    int rc;

    if ((rc = gem_plain_text(r, content, i, &t)) != 0)
        return rc;
    if (*sys == NULL) {
        *sys = t;
        return 0;
    }
    a = json_string_value(*sys);
    na = json_string_length(*sys);
    if ((p = malloc(na + 1 + json_string_length(t) + 1)) == NULL) {
        json_decref(t);
        return prov_pivot_oom(&r->e);
    }
    memcpy(p, a, na);
    p[na] = '\n';
    memcpy(p + na + 1, json_string_value(t), json_string_length(t));
    joined = json_stringn_nocheck(p, na + 1 + json_string_length(t));
    free(p);
    json_decref(t);
    if (joined == NULL)
        return prov_pivot_oom(&r->e);
    json_decref(*sys);
    *sys = joined;
    return 0;
}

/* A new content {"role", "parts": []} appended to contents; its parts, or NULL. */
static json_t *gem_content_new(json_t *contents, const char *role)
{
    json_t *parts = json_array();

    if (parts == NULL ||
        prov_pivot_push(contents, json_pack("{s:s, s:o}", "role", role, "parts", parts)) < 0)
        return NULL;
    return parts;
}

/* messages -> contents and the joined system instruction. */
static int gem_messages(struct prov_gem_req *r, const json_t *msgs, json_t *contents, json_t **sys)
{
    const json_t *m;
    json_t *results = NULL, *parts; /* results: the parts of the open run of tool results */
    size_t i;
    int rc;

    if (!json_is_array(msgs))
        return prov_pivot_bad(&r->e, "messages must be an array");
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *content = json_object_get(m, "content");
        if (role == NULL)
            return prov_pivot_bad(&r->e, "messages[%zu]: role is required", i);
        if (strcmp(role, "tool") == 0) {
            if (results == NULL && (results = gem_content_new(contents, "user")) == NULL)
                return prov_pivot_oom(&r->e);
            if ((rc = gem_tool_result(r, m, i, results)) != 0)
                return rc;
            continue;
        }
        results = NULL;
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            rc = gem_system_add(r, sys, content, i);
        } else if (strcmp(role, "user") == 0) {
            if ((parts = gem_content_new(contents, "user")) == NULL)
                return prov_pivot_oom(&r->e);
            rc = gem_user_parts(r, content, i, parts);
        } else if (strcmp(role, "assistant") == 0) {
            if ((parts = json_array()) == NULL)
                return prov_pivot_oom(&r->e);
            if ((rc = gem_assistant(r, m, i, parts)) != 0) {
                json_decref(parts);
                return rc;
            }
            /* Nothing to say (an empty placeholder): Gemini rejects a content without parts. */
            if (json_array_size(parts) == 0)
                json_decref(parts);
            else if (prov_pivot_push(contents,
                                     json_pack("{s:s, s:o}", "role", "model", "parts", parts)) < 0)
                return prov_pivot_oom(&r->e);
        } else {
            return prov_pivot_bad(&r->e, "messages[%zu]: role '%s' is not supported by Gemini", i,
                                  role);
        }
        if (rc != 0)
            return rc;
    }
    if (json_array_size(contents) == 0)
        return prov_pivot_bad(&r->e, "messages must hold at least one user or assistant message");
    return 0;
}

int prov_gem_request(const json_t *req, const char *model, json_t **out, char *err, size_t errlen)
{
    struct prov_gem_req r = {.e = {.err = err, .errlen = errlen}, .names = json_object()};
    json_t *g = json_object(), *contents = json_array(), *sys = NULL, *gc = json_object();
    int rc;

    *out = NULL;
    if (r.names == NULL || g == NULL || contents == NULL || gc == NULL) {
        json_decref(contents);
        rc = prov_pivot_oom(&r.e);
        goto out;
    }
    if ((rc = gem_messages(&r, json_object_get(req, "messages"), contents, &sys)) != 0) {
        json_decref(contents);
        goto out;
    }
    if (prov_pivot_set(g, "contents", contents) < 0 ||
        (sys != NULL && json_string_length(sys) > 0 &&
         prov_pivot_set(g, "systemInstruction", json_pack("{s:[{s:O}]}", "parts", "text", sys)) <
             0)) {
        rc = prov_pivot_oom(&r.e);
        goto out;
    }
    if ((rc = prov_gem_tools(&r, req, g)) != 0 || (rc = prov_gem_config(&r, req, model, gc)) != 0)
        goto out;
    if (json_object_size(gc) > 0 && json_object_set(g, "generationConfig", gc) < 0) {
        rc = prov_pivot_oom(&r.e);
        goto out;
    }
    *out = g;
    g = NULL;
out:
    json_decref(sys);
    json_decref(gc);
    json_decref(g);
    json_decref(r.names);
    return rc;
}
