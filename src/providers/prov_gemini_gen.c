/*
 * The rest of the generateContent body (providers.md §5.2): tools and toolConfig, and
 * generationConfig (sampling, output length, stop sequences, JSON output, thinking). Helpers and
 * state shared with prov_gemini_req.c are in prov_gemini.h.
 */
#include "providers/prov_gemini.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Tools ---- */

/* Whether a JSON schema uses what Gemini's "parameters" (an OpenAPI subset) cannot hold. */
static bool gem_schema_is_json(const json_t *s)
{
    static const char *const ok[] = {
        "type",      "format",    "title",      "description", "nullable",      "enum",
        "maxItems",  "minItems",  "properties", "required",    "minProperties", "maxProperties",
        "minLength", "maxLength", "pattern",    "example",     "anyOf",         "propertyOrdering",
        "default",   "items",     "minimum",    "maximum"};
    const char *k;
    const json_t *v, *p;
    size_t i;
    bool known;

    if (!json_is_object(s))
        return !json_is_boolean(s);
    json_object_foreach((json_t *)s, k, v)
    {
        known = false;
        for (i = 0; i < sizeof(ok) / sizeof(ok[0]) && !known; i++)
            known = strcmp(k, ok[i]) == 0;
        if (!known || (strcmp(k, "type") == 0 && !json_is_string(v)))
            return true;
        if (strcmp(k, "items") == 0 && gem_schema_is_json(v))
            return true;
        if (strcmp(k, "properties") == 0) {
            const char *pk;
            json_object_foreach((json_t *)v, pk, p)
            {
                if (gem_schema_is_json(p))
                    return true;
            }
        }
        if (strcmp(k, "anyOf") == 0)
            json_array_foreach(v, i, p)
            {
                if (gem_schema_is_json(p))
                    return true;
            }
    }
    return false;
}

/* An object schema without properties: Gemini rejects it as "parameters", and it says nothing. */
static bool gem_schema_is_empty(const json_t *s)
{
    const char *type = json_string_value(json_object_get(s, "type"));

    return json_object_size(json_object_get(s, "properties")) == 0 &&
           (type == NULL || strcmp(type, "object") == 0) &&
           json_object_size(s) <=
               (size_t)(type != NULL) + (json_object_get(s, "properties") != NULL);
}

static int gem_function_decls(struct prov_gem_req *r, const json_t *tools, json_t *g)
{
    const json_t *t;
    json_t *decls, *d;
    size_t i;

    if (prov_gem_absent(tools))
        return 0;
    if (!json_is_array(tools))
        return prov_pivot_bad(&r->e, "tools must be an array");
    if (json_array_size(tools) == 0)
        return 0;
    if ((decls = json_array()) == NULL ||
        prov_pivot_set(g, "tools", json_pack("[{s:o}]", "functionDeclarations", decls)) < 0)
        return prov_pivot_oom(&r->e);
    json_array_foreach(tools, i, t)
    {
        const json_t *name, *desc, *params;
        int rc = prov_pivot_tool(&r->e, t, i, &name, &desc, &params);
        if (rc != 0)
            return rc;
        if ((d = json_pack("{s:O}", "name", name)) == NULL || prov_pivot_push(decls, d) < 0)
            return prov_pivot_oom(&r->e);
        if (json_is_string(desc) && json_object_set(d, "description", (json_t *)desc) < 0)
            return prov_pivot_oom(&r->e);
        if (!json_is_object(params) || gem_schema_is_empty(params))
            continue;
        if (json_object_set(d, gem_schema_is_json(params) ? "parametersJsonSchema" : "parameters",
                            (json_t *)params) < 0)
            return prov_pivot_oom(&r->e);
    }
    return 0;
}

static int gem_tool_choice(struct prov_gem_req *r, const json_t *req, json_t *g)
{
    const json_t *tc = json_object_get(req, "tool_choice"), *name;
    const char *s = json_string_value(tc);
    json_t *fcc;

    if (prov_gem_absent(tc))
        return 0;
    if (s != NULL) {
        if (strcmp(s, "auto") == 0)
            fcc = json_pack("{s:s}", "mode", "AUTO");
        else if (strcmp(s, "required") == 0)
            fcc = json_pack("{s:s}", "mode", "ANY");
        else if (strcmp(s, "none") == 0)
            fcc = json_pack("{s:s}", "mode", "NONE");
        else
            return prov_pivot_bad(&r->e, "tool_choice '%s' is not supported (auto, required, none)",
                                  s);
    } else if (json_is_object(tc)) {
        name = json_object_get(json_object_get(tc, "function"), "name");
        if (!json_is_string(name))
            return prov_pivot_bad(&r->e,
                                  "tool_choice: expected {\"type\":\"function\",\"function\":"
                                  "{\"name\":...}}");
        fcc = json_pack("{s:s, s:[O]}", "mode", "ANY", "allowedFunctionNames", name);
    } else {
        return prov_pivot_bad(&r->e, "tool_choice must be a string or an object");
    }
    return prov_pivot_set(g, "toolConfig", json_pack("{s:o}", "functionCallingConfig", fcc)) < 0
               ? prov_pivot_oom(&r->e)
               : 0;
}

/* ---- generationConfig ---- */

static int gem_sampling(struct prov_gem_req *r, const json_t *req, json_t *gc)
{
    static const char *const nums[][2] = {{"temperature", "temperature"},
                                          {"top_p", "topP"},
                                          {"top_k", "topK"},
                                          {"presence_penalty", "presencePenalty"},
                                          {"frequency_penalty", "frequencyPenalty"}};
    const json_t *v, *s;
    const char *name = "max_completion_tokens";
    json_t *seqs;
    size_t i;

    for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        if (prov_gem_absent(v = json_object_get(req, nums[i][0])))
            continue;
        if (!json_is_number(v))
            return prov_pivot_bad(&r->e, "%s must be a number", nums[i][0]);
        if (json_object_set(gc, nums[i][1], (json_t *)v) < 0)
            return prov_pivot_oom(&r->e);
    }
    if (prov_gem_absent(v = json_object_get(req, "max_completion_tokens"))) {
        v = json_object_get(req, "max_tokens");
        name = "max_tokens";
    }
    if (!prov_gem_absent(v) && (!json_is_integer(v) || json_integer_value(v) < 1))
        return prov_pivot_bad(&r->e, "%s must be a positive integer", name);
    if (!prov_gem_absent(v) && json_object_set(gc, "maxOutputTokens", (json_t *)v) < 0)
        return prov_pivot_oom(&r->e);
    if (!prov_gem_absent(v = json_object_get(req, "seed"))) {
        if (!json_is_integer(v))
            return prov_pivot_bad(&r->e, "seed must be an integer");
        if (json_object_set(gc, "seed", (json_t *)v) < 0)
            return prov_pivot_oom(&r->e);
    }
    if (!prov_gem_absent(v = json_object_get(req, "n"))) {
        if (!json_is_integer(v) || json_integer_value(v) != 1)
            return prov_pivot_bad(&r->e,
                                  "n must be 1: Gemini replies are read one candidate at a time");
        if (prov_pivot_set(gc, "candidateCount", json_integer(1)) < 0)
            return prov_pivot_oom(&r->e);
    }
    v = json_object_get(req, "stop");
    if (json_is_string(v) || json_is_array(v)) {
        if ((seqs = json_array()) == NULL || prov_pivot_set(gc, "stopSequences", seqs) < 0)
            return prov_pivot_oom(&r->e);
        if (json_is_string(v) && json_array_append(seqs, (json_t *)v) < 0)
            return prov_pivot_oom(&r->e);
        json_array_foreach(v, i, s)
        {
            if (!json_is_string(s))
                return prov_pivot_bad(&r->e, "stop[%zu] must be a string", i);
            if (json_array_append(seqs, (json_t *)s) < 0)
                return prov_pivot_oom(&r->e);
        }
    } else if (!prov_gem_absent(v)) {
        return prov_pivot_bad(&r->e, "stop must be a string or an array of strings");
    }
    return 0;
}

/* Whether model is a Gemini 3.5 or later (thinkingLevel instead of thinkingBudget). */
static bool gem_thinking_levels(const char *model)
{
    const char *p = strstr(model, "gemini-");
    char *end;
    long major, minor = 0;

    if (p == NULL)
        return false;
    major = strtol(p + 7, &end, 10);
    if (end == p + 7)
        return false;
    if (*end == '.')
        minor = strtol(end + 1, NULL, 10);
    return major > 3 || (major == 3 && minor >= 5);
}

static int gem_output(struct prov_gem_req *r, const json_t *req, const char *model, json_t *gc)
{
    static const struct {
        const char *effort, *level;
        int budget;
    } efforts[] = {{"minimal", "MINIMAL", 256}, {"low", "LOW", 1024},
                   {"medium", "MEDIUM", 8192},  {"high", "HIGH", 24576},
                   {"xhigh", "HIGH", 32768},    {"max", "HIGH", 32768}};
    const json_t *rf = json_object_get(req, "response_format"), *schema,
                 *re = json_object_get(req, "reasoning_effort");
    const char *type = json_string_value(json_object_get(rf, "type")), *effort;
    size_t i;

    if (!prov_gem_absent(rf) && type == NULL)
        return prov_pivot_bad(&r->e, "response_format needs a type");
    if (type != NULL && strcmp(type, "json_schema") == 0) {
        schema = json_object_get(json_object_get(rf, "json_schema"), "schema");
        if (!json_is_object(schema))
            return prov_pivot_bad(&r->e, "response_format.json_schema.schema must be an object");
        if (prov_pivot_set(gc, "responseMimeType", json_string("application/json")) < 0 ||
            json_object_set(gc, "responseJsonSchema", (json_t *)schema) < 0)
            return prov_pivot_oom(&r->e);
    } else if (type != NULL && strcmp(type, "json_object") == 0) {
        if (prov_pivot_set(gc, "responseMimeType", json_string("application/json")) < 0)
            return prov_pivot_oom(&r->e);
    } else if (type != NULL && strcmp(type, "text") != 0) {
        return prov_pivot_bad(&r->e, "response_format type '%s' is not supported by Gemini", type);
    }
    if (prov_gem_absent(re))
        return 0;
    if ((effort = json_string_value(re)) == NULL)
        return prov_pivot_bad(&r->e, "reasoning_effort must be a string");
    if (strcmp(effort, "none") == 0)
        return prov_pivot_set(gc, "thinkingConfig", json_pack("{s:b}", "includeThoughts", 0)) < 0
                   ? prov_pivot_oom(&r->e)
                   : 0;
    for (i = 0; i < sizeof(efforts) / sizeof(efforts[0]); i++) {
        if (strcmp(effort, efforts[i].effort) != 0)
            continue;
        if (prov_pivot_set(gc, "thinkingConfig",
                           gem_thinking_levels(model)
                               ? json_pack("{s:b, s:s}", "includeThoughts", 1, "thinkingLevel",
                                           efforts[i].level)
                               : json_pack("{s:b, s:i}", "includeThoughts", 1, "thinkingBudget",
                                           efforts[i].budget)) < 0)
            return prov_pivot_oom(&r->e);
        return 0;
    }
    return prov_pivot_bad(
        &r->e,
        "reasoning_effort '%s' is not supported (none, minimal, low, medium, high, "
        "xhigh, max)",
        effort);
}

int prov_gem_tools(struct prov_gem_req *r, const json_t *req, json_t *g)
{
    int rc = gem_function_decls(r, json_object_get(req, "tools"), g);

    return rc != 0 ? rc : gem_tool_choice(r, req, g);
}

int prov_gem_config(struct prov_gem_req *r, const json_t *req, const char *model, json_t *gc)
{
    int rc = gem_sampling(r, req, gc);

    return rc != 0 ? rc : gem_output(r, req, model, gc);
}
