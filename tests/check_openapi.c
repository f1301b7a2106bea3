/*
 * web/openapi.json against the route table (gw_route.c): valid JSON, OpenAPI 3.1.x, every
 * route's methods and path template documented with the security its auth needs, every
 * documented operation routed, every path parameter declared, and the embedded copy (what
 * GET /openapi.json serves) byte for byte the file.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <jansson.h>

#include "gateway/http/gw_route.h"
#include "gateway/http/gw_static.h"
#include "t_gw.h"

static const struct {
    int method;
    const char *name;
} oa_methods[] = {
    {EVHTTP_REQ_GET, "get"},     {EVHTTP_REQ_POST, "post"},     {EVHTTP_REQ_HEAD, "head"},
    {EVHTTP_REQ_PUT, "put"},     {EVHTTP_REQ_DELETE, "delete"}, {EVHTTP_REQ_OPTIONS, "options"},
    {EVHTTP_REQ_TRACE, "trace"}, {EVHTTP_REQ_PATCH, "patch"},
};

#define OA_NMETHODS (sizeof(oa_methods) / sizeof(oa_methods[0]))

static char *oa_path(void)
{
    const char *root = getenv("GW_ROOT");
    static char path[512];

    snprintf(path, sizeof(path), "%s/web/openapi.json", root ? root : ".");
    return path;
}

static json_t *oa_load(void)
{
    json_error_t err;
    json_t *doc = json_load_file(oa_path(), JSON_REJECT_DUPLICATES, &err);

    ck_assert_msg(doc != NULL, "web/openapi.json:%d:%d: %s", err.line, err.column, err.text);
    return doc;
}

/* The route pattern as an OpenAPI path template: "{*model_id}" becomes "{model_id}". */
static void oa_template(const char *pattern, char *out, size_t outlen)
{
    size_t n = 0;

    for (const char *p = pattern; *p != '\0' && n + 1 < outlen; p++)
        if (!(*p == '*' && p > pattern && p[-1] == '{'))
            out[n++] = *p;
    out[n] = '\0';
}

/* The security the route's auth needs: MasterKey; one of the key schemes; none. */
static void oa_check_security(json_t *op, enum gw_auth_need auth, const char *what)
{
    json_t *sec = json_object_get(op, "security");
    size_t i;
    json_t *alt;

    ck_assert_msg(json_is_array(sec), "%s: no security list", what);
    switch (auth) {
    case GW_AUTH_NONE:
        ck_assert_msg(json_array_size(sec) == 0, "%s: public route, security must be []", what);
        break;
    case GW_AUTH_MASTER:
        ck_assert_msg(json_array_size(sec) == 1 &&
                          json_object_get(json_array_get(sec, 0), "MasterKey") != NULL,
                      "%s: needs the master key: security [{\"MasterKey\": []}]", what);
        break;
    case GW_AUTH_KEY:
        ck_assert_msg(json_array_size(sec) == 3, "%s: takes a key: three schemes", what);
        json_array_foreach(sec, i, alt)
        {
            ck_assert_msg(json_object_get(alt, "BearerKey") != NULL ||
                              json_object_get(alt, "ApiKeyHeader") != NULL ||
                              json_object_get(alt, "AnyLLMKey") != NULL,
                          "%s: unexpected security scheme", what);
        }
        break;
    }
}

/* Every "{name}" of the template is a declared, required path parameter of op. */
static void oa_check_params(json_t *op, const char *tmpl, const char *what)
{
    for (const char *p = strchr(tmpl, '{'); p != NULL; p = strchr(p + 1, '{')) {
        size_t n = strcspn(p + 1, "}");
        json_t *params = json_object_get(op, "parameters"), *prm;
        bool found = false;
        size_t i;

        json_array_foreach(params, i, prm)
        {
            const char *name = json_string_value(json_object_get(prm, "name"));
            const char *in = json_string_value(json_object_get(prm, "in"));
            if (name != NULL && in != NULL && strcmp(in, "path") == 0 && strlen(name) == n &&
                strncmp(name, p + 1, n) == 0 && json_is_true(json_object_get(prm, "required")))
                found = true;
        }
        ck_assert_msg(found, "%s: path parameter {%.*s} not declared", what, (int)n, p + 1);
    }
}

struct oa_walk {
    json_t *paths;
    json_t *seen; /* "method path" -> true for every routed operation */
    int nroutes;
};

static void oa_route(int methods, const char *pattern, enum gw_auth_need auth, void *arg)
{
    struct oa_walk *w = arg;
    char tmpl[256], what[320];
    json_t *item;

    oa_template(pattern, tmpl, sizeof(tmpl));
    item = json_object_get(w->paths, tmpl);
    w->nroutes++;
    for (size_t m = 0; m < OA_NMETHODS; m++) {
        json_t *op;
        if (!(methods & oa_methods[m].method))
            continue;
        snprintf(what, sizeof(what), "%s %s", oa_methods[m].name, tmpl);
        op = json_object_get(item, oa_methods[m].name);
        ck_assert_msg(json_is_object(op), "route %s %s is not in web/openapi.json",
                      oa_methods[m].name, tmpl);
        ck_assert_msg(json_object_size(json_object_get(op, "responses")) > 0, "%s: no responses",
                      what);
        ck_assert_msg(json_is_string(json_object_get(op, "operationId")), "%s: no operationId",
                      what);
        oa_check_security(op, auth, what);
        oa_check_params(op, tmpl, what);
        json_object_set_new(w->seen, what, json_true());
    }
}

START_TEST(document_is_openapi_3_1)
{
    json_t *doc = oa_load();
    const char *v = json_string_value(json_object_get(doc, "openapi"));
    json_t *schemes = json_object_get(json_object_get(doc, "components"), "securitySchemes");

    ck_assert_ptr_nonnull(v);
    ck_assert_msg(strncmp(v, "3.1.", 4) == 0, "openapi is \"%s\", not 3.1.x", v);
    ck_assert_ptr_nonnull(json_object_get(json_object_get(doc, "info"), "title"));
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(schemes, "MasterKey"), "scheme")),
        "bearer");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(schemes, "ApiKeyHeader"), "name")),
        "x-api-key");
    json_decref(doc);
}
END_TEST

START_TEST(every_route_documented_and_every_operation_routed)
{
    json_t *doc = oa_load();
    struct oa_walk w = {json_object_get(doc, "paths"), json_object(), 0};
    const char *path;
    json_t *item, *op;
    int nops = 0;

    ck_assert(json_is_object(w.paths));
    gw_route_each(oa_route, &w);
    ck_assert_int_gt(w.nroutes, 30);
    json_object_foreach(w.paths, path, item)
    {
        const char *method;
        json_object_foreach(item, method, op)
        {
            char what[320];
            if (strcmp(method, "parameters") == 0 || strcmp(method, "summary") == 0 ||
                strcmp(method, "description") == 0)
                continue;
            snprintf(what, sizeof(what), "%s %s", method, path);
            ck_assert_msg(json_object_get(w.seen, what) != NULL,
                          "web/openapi.json documents %s, which no route serves", what);
            nops++;
        }
    }
    ck_assert_int_eq(nops, (int)json_object_size(w.seen));
    /* The pages themselves are documented (they are routes, checked above); spot-check. */
    ck_assert_ptr_nonnull(json_object_get(json_object_get(w.paths, "/openapi.json"), "get"));
    ck_assert_ptr_nonnull(json_object_get(json_object_get(w.paths, "/docs"), "get"));
    ck_assert_ptr_nonnull(json_object_get(json_object_get(w.paths, "/ui/"), "get"));
    json_decref(w.seen);
    json_decref(doc);
}
END_TEST

START_TEST(embedded_copy_is_the_file)
{
    const struct gw_static_file *f = gw_static_find("openapi.json");
    char *file = t_read_file(oa_path());

    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(file);
    ck_assert_uint_eq(f->len, strlen(file));
    ck_assert(memcmp(f->data, file, f->len) == 0);
    ck_assert_str_eq(f->ctype, "application/json");
    free(file);
}
END_TEST

Suite *openapi_suite(void)
{
    Suite *s = suite_create("openapi");
    TCase *tc = tcase_create("document");

    tcase_add_test(tc, document_is_openapi_3_1);
    tcase_add_test(tc, every_route_documented_and_every_operation_routed);
    tcase_add_test(tc, embedded_copy_is_the_file);
    suite_add_tcase(s, tc);
    return s;
}
