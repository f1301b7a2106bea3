/*
 * Request validation in the reference's 422 shape. Values the reference's lax mode accepts
 * ("5" for an integer, 1 for a boolean) are accepted and normalised in place, so handlers read
 * plain JSON types afterwards.
 */
#include "gateway/http/gw_valid.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "jmem.h"

/* Date-times accepted in request fields: 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z. */
#define GW_VALID_MIN_DATETIME_US 0LL
#define GW_VALID_MAX_DATETIME_US 253402300799999999LL

static json_t *gw_valid_item(const char *type, json_t *loc, const char *msg, json_t *input,
                             json_t *ctx)
{
    json_t *it = json_object();

    json_object_set_new(it, "type", json_string(type));
    json_object_set_new(it, "loc", loc);
    json_object_set_new(it, "msg", json_string(msg));
    json_object_set_new(it, "input", input != NULL ? input : json_null());
    if (ctx != NULL)
        json_object_set_new(it, "ctx", ctx);
    return it;
}

static void gw_valid_reply(struct gw_req *r, json_t *items)
{
    gw_reply_json(r, 422, json_pack("{s:o}", "detail", items));
}

void gw_valid_reply_one(struct gw_req *r, const char *type, const char *loc0, const char *loc1,
                        const char *msg, json_t *input, json_t *ctx)
{
    json_t *loc = json_pack("[s]", loc0);

    if (loc1 != NULL)
        json_array_append_new(loc, json_string(loc1));
    gw_valid_reply(r, json_pack("[o]", gw_valid_item(type, loc, msg, input, ctx)));
}

bool gw_valid_nonempty(struct gw_req *r, json_t *list, const char *name)
{
    if (json_array_size(list) > 0)
        return true;
    gw_valid_reply_one(
        r, "too_short", "body", name, "List should have at least 1 item after validation, not 0",
        json_incref(list),
        json_pack("{s:s,s:i,s:i}", "field_type", "List", "min_length", 1, "actual_length", 0));
    return false;
}

bool gw_valid_body_json(struct gw_req *r, json_t **body)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    size_t len = evbuffer_get_length(in);
    json_error_t jerr;
    bool over = false;

    *body = NULL;
    if (len == 0)
        return true;
    if (len >= JMEM_TRIM_MIN)
        gw_req_note_large(r);
    /* The parse is bounded (DESIGN §2.14): a body of tiny values would take ~20x its size. */
    *body = jmem_loadb((const char *)evbuffer_pullup(in, -1), len,
                       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, jmem_limit_for(len), &jerr, &over);
    if (over) {
        gw_reply_errorf(r, 413, "request_too_large",
                        "Request body too complex: parsing it would take more than %zu MiB",
                        jmem_limit_for(len) >> 20);
        return false;
    }
    if (*body == NULL) {
        json_t *loc = json_pack("[s,i]", "body", (json_int_t)jerr.position);
        gw_valid_reply(r, json_pack("[o]", gw_valid_item("json_invalid", loc, "JSON decode error",
                                                         json_object(),
                                                         json_pack("{s:s}", "error", jerr.text))));
        return false;
    }
    return true;
}

const char *gw_valid_body_raw(struct gw_req *r, size_t *len)
{
    struct evbuffer *in;

    *len = 0;
    if (r->body_normalised || r->ev == NULL)
        return NULL;
    in = evhttp_request_get_input_buffer(r->ev);
    *len = evbuffer_get_length(in);
    return *len > 0 ? (const char *)evbuffer_pullup(in, -1) : NULL;
}

void gw_valid_body_release(struct gw_req *r)
{
    struct evbuffer *in;

    if (r->ev == NULL)
        return;
    in = evhttp_request_get_input_buffer(r->ev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

/* Parses a whole string as a number (no trailing garbage). */
static bool gw_parse_double(const char *s, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(s, &end);
    while (*end == ' ')
        end++;
    return end != s && *end == '\0' && errno == 0 && isfinite(*out);
}

static json_t *gw_bound_json(double b)
{
    return b == floor(b) && fabs(b) < 1e15 ? json_integer((json_int_t)b) : json_real(b);
}

/* The location of field f in an error item: ["body", name]. */
static json_t *gw_field_loc(const struct gw_field *f)
{
    return json_pack("[s,s]", "body", f->name);
}

/* Replaces the body's value of f by its normalised form nv, noting that the body changed. */
static void gw_valid_set(json_t *body, const struct gw_field *f, json_t *nv, bool *changed)
{
    json_object_set_new(body, f->name, nv);
    *changed = true;
}

/*
 * Checks one present value; returns NULL when fine (after normalising it in body, which sets
 * *changed), else an item.
 */
static json_t *gw_valid_value(const struct gw_field *f, json_t *body, json_t *v, bool *changed)
{
    json_t *loc;
    const char *s = json_string_value(v);
    char msg[96];
    double d = 0;

    if (json_is_null(v)) {
        if (f->flags & GW_F_NULLABLE)
            return NULL;
    }
    switch (f->type) {
    case GW_F_STR:
        if (json_is_string(v))
            goto ok;
        return gw_valid_item("string_type", gw_field_loc(f), "Input should be a valid string",
                             json_incref(v), NULL);
    case GW_F_OBJ:
        if (json_is_object(v))
            goto ok;
        return gw_valid_item("dict_type", gw_field_loc(f), "Input should be a valid dictionary",
                             json_incref(v), NULL);
    case GW_F_BOOL:
        if (json_is_boolean(v))
            goto ok;
        if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
            gw_valid_set(body, f, json_boolean(json_integer_value(v)), changed);
            goto ok;
        }
        if (s != NULL) {
            static const char *const yes[] = {"true", "yes", "on", "1", "t", "y"};
            static const char *const no[] = {"false", "no", "off", "0", "f", "n"};
            for (size_t i = 0; i < 6; i++) {
                if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
                    gw_valid_set(body, f, json_boolean(strcasecmp(s, yes[i]) == 0), changed);
                    goto ok;
                }
            }
            return gw_valid_item("bool_parsing", gw_field_loc(f),
                                 "Input should be a valid boolean, unable to interpret input",
                                 json_incref(v), NULL);
        }
        return gw_valid_item("bool_type", gw_field_loc(f), "Input should be a valid boolean",
                             json_incref(v), NULL);
    case GW_F_NUM:
        if (json_is_number(v)) {
            d = json_number_value(v);
        } else if (s != NULL) {
            if (!gw_parse_double(s, &d))
                return gw_valid_item("float_parsing", gw_field_loc(f),
                                     "Input should be a valid number, unable to parse string as "
                                     "a number",
                                     json_incref(v), NULL);
            gw_valid_set(body, f, json_real(d), changed);
        } else {
            return gw_valid_item("float_type", gw_field_loc(f), "Input should be a valid number",
                                 json_incref(v), NULL);
        }
        break;
    case GW_F_INT:
        if (json_is_integer(v)) {
            d = (double)json_integer_value(v);
        } else if (json_is_real(v) || s != NULL) {
            if (s != NULL && !gw_parse_double(s, &d))
                return gw_valid_item("int_parsing", gw_field_loc(f),
                                     "Input should be a valid integer, unable to parse string as "
                                     "an integer",
                                     json_incref(v), NULL);
            if (s == NULL)
                d = json_real_value(v);
            if (d != floor(d) || fabs(d) > 9e15)
                return gw_valid_item("int_from_float", gw_field_loc(f),
                                     "Input should be a valid integer, got a number with a "
                                     "fractional part",
                                     json_incref(v), NULL);
            gw_valid_set(body, f, json_integer((json_int_t)d), changed);
        } else {
            return gw_valid_item("int_type", gw_field_loc(f), "Input should be a valid integer",
                                 json_incref(v), NULL);
        }
        break;
    case GW_F_OBJLIST: {
        json_t *it;
        size_t i;
        if (!json_is_array(v))
            return gw_valid_item("list_type", gw_field_loc(f), "Input should be a valid list",
                                 json_incref(v), NULL);
        json_array_foreach(v, i, it)
        {
            if (!json_is_object(it)) {
                loc = gw_field_loc(f);
                json_array_append_new(loc, json_integer((json_int_t)i));
                return gw_valid_item("dict_type", loc, "Input should be a valid dictionary",
                                     json_incref(it), NULL);
            }
        }
        goto ok;
    }
    case GW_F_STROBJ:
        if (json_is_string(v) || json_is_object(v))
            goto ok;
        return gw_valid_item("string_type", gw_field_loc(f), "Input should be a valid string",
                             json_incref(v), NULL);
    case GW_F_DATETIME: {
        long long us;
        if (s != NULL && gw_valid_parse_datetime(s, &us) == 0) {
            if (us >= GW_VALID_MIN_DATETIME_US && us <= GW_VALID_MAX_DATETIME_US)
                goto ok;
            return gw_valid_item("datetime_from_date_parsing", gw_field_loc(f),
                                 "Input should be a valid datetime or date, year out of range "
                                 "(1970 to 9999)",
                                 json_incref(v), NULL);
        }
        if (s != NULL)
            return gw_valid_item("datetime_from_date_parsing", gw_field_loc(f),
                                 "Input should be a valid datetime or date, unable to parse "
                                 "input",
                                 json_incref(v), NULL);
        return gw_valid_item("datetime_type", gw_field_loc(f), "Input should be a valid datetime",
                             json_incref(v), NULL);
    }
    }
    if ((f->flags & GW_F_GE) && !(d >= f->bound)) {
        snprintf(msg, sizeof(msg), "Input should be greater than or equal to %g", f->bound);
        return gw_valid_item("greater_than_equal", gw_field_loc(f), msg, json_incref(v),
                             json_pack("{s:o}", "ge", gw_bound_json(f->bound)));
    }
    if ((f->flags & GW_F_GT) && !(d > f->bound)) {
        snprintf(msg, sizeof(msg), "Input should be greater than %g", f->bound);
        return gw_valid_item("greater_than", gw_field_loc(f), msg, json_incref(v),
                             json_pack("{s:o}", "gt", gw_bound_json(f->bound)));
    }
ok:
    return NULL;
}

bool gw_valid_fields(struct gw_req *r, json_t *body, const struct gw_field *fields, size_t n)
{
    json_t *items = NULL;

    if (body == NULL) {
        gw_valid_reply_one(r, "missing", "body", NULL, "Field required", NULL, NULL);
        return false;
    }
    if (!json_is_object(body)) {
        gw_valid_reply(
            r, json_pack("[o]", gw_valid_item("model_attributes_type", json_pack("[s]", "body"),
                                              "Input should be a valid dictionary or "
                                              "object to extract fields from",
                                              json_incref(body), NULL)));
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const struct gw_field *f = &fields[i];
        json_t *v = json_object_get(body, f->name), *it = NULL;
        if (v == NULL) {
            if (f->flags & GW_F_REQUIRED)
                it = gw_valid_item("missing", gw_field_loc(f), "Field required", json_incref(body),
                                   NULL);
        } else {
            it = gw_valid_value(f, body, v, &r->body_normalised);
        }
        if (it != NULL && items == NULL)
            items = json_array();
        if (it != NULL)
            json_array_append_new(items, it);
    }
    if (items == NULL)
        return true;
    gw_valid_reply(r, items);
    return false;
}

/* One integer query parameter with bounds; replies 422 and returns false when invalid. */
static bool gw_valid_query_int(struct gw_req *r, struct evkeyvalq *q, const char *name, long lo,
                               long hi, long dflt, long *out)
{
    const char *s = evhttp_find_header(q, name);
    char msg[96], *end;
    long v;

    *out = dflt;
    if (s == NULL)
        return true;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0) {
        gw_valid_reply_one(r, "int_parsing", "query", name,
                           "Input should be a valid integer, unable to parse string as an integer",
                           json_string(s), NULL);
        return false;
    }
    if (v < lo) {
        snprintf(msg, sizeof(msg), "Input should be greater than or equal to %ld", lo);
        gw_valid_reply_one(r, "greater_than_equal", "query", name, msg, json_string(s),
                           json_pack("{s:I}", "ge", (json_int_t)lo));
        return false;
    }
    if (hi >= 0 && v > hi) {
        snprintf(msg, sizeof(msg), "Input should be less than or equal to %ld", hi);
        gw_valid_reply_one(r, "less_than_equal", "query", name, msg, json_string(s),
                           json_pack("{s:I}", "le", (json_int_t)hi));
        return false;
    }
    *out = v;
    return true;
}

bool gw_valid_page(struct gw_req *r, long *skip, long *limit)
{
    struct evkeyvalq q = {0};
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->ev));
    bool ok;

    q.tqh_first = NULL; /* TAILQ_INIT without <sys/queue.h> */
    q.tqh_last = &q.tqh_first;
    if (query != NULL && evhttp_parse_query_str(query, &q) < 0) {
        evhttp_clear_headers(&q);
        gw_valid_reply_one(r, "query_invalid", "query", NULL, "Malformed query string", NULL, NULL);
        return false;
    }
    ok = gw_valid_query_int(r, &q, "skip", 0, -1, 0, skip) &&
         gw_valid_query_int(r, &q, "limit", 1, 1000, 100, limit);
    evhttp_clear_headers(&q);
    return ok;
}

static int gw_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

int gw_valid_parse_datetime(const char *s, long long *us)
{
    struct tm tm = {0};
    int Y, M, D, h = 0, m = 0, sec = 0, frac = 0, off = 0;
    time_t t;

    if (gw_digits(&s, 4, &Y) < 0 || *s++ != '-' || gw_digits(&s, 2, &M) < 0 || *s++ != '-' ||
        gw_digits(&s, 2, &D) < 0)
        return -1;
    if (*s == 'T' || *s == 't' || *s == ' ') {
        s++;
        if (gw_digits(&s, 2, &h) < 0 || *s++ != ':' || gw_digits(&s, 2, &m) < 0)
            return -1;
        if (*s == ':') {
            s++;
            if (gw_digits(&s, 2, &sec) < 0)
                return -1;
            if (*s == '.' || *s == ',') {
                int scale = 100000, nd = 0;
                s++;
                while (*s >= '0' && *s <= '9') {
                    if (nd++ < 6) {
                        frac += (*s - '0') * scale;
                        scale /= 10;
                    }
                    s++;
                }
                if (nd == 0)
                    return -1;
            }
        }
        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            int sign = *s++ == '-' ? -1 : 1, oh, om = 0;
            if (gw_digits(&s, 2, &oh) < 0)
                return -1;
            if (*s == ':')
                s++;
            if (*s != '\0' && gw_digits(&s, 2, &om) < 0)
                return -1;
            off = sign * (oh * 3600 + om * 60);
        }
    }
    if (*s != '\0' || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 59)
        return -1;
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (tm.tm_mday != D) /* e.g. February 30 */
        return -1;
    *us = ((long long)t - off) * 1000000LL + frac;
    return 0;
}
