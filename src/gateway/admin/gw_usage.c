/*
 * Usage analytics (master key; README "Usage analytics"): GET /v1/usage, the usage log with
 * filters, newest first, paginated, with the number of matching rows in X-Total-Count; and
 * GET /v1/usage/summary, requests, errors, tokens and cost per day, hour, user, key, model or
 * provider with their totals, aggregated by the database (DB_Q_USAGE_* in db.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "db/db.h"
#include "gateway/admin/gw_rows.h"
#include "gateway/gw_handlers.h"
#include "gateway/http/gw_auth.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"
#include "gateway/http/gw_valid.h"
#include "util.h"

/* Date-times accepted: 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z. */
#define GW_USAGE_MAX_US 253402300799999999LL
#define GW_USAGE_MAX_DATE 64 /* longest date parameter looked at */

/* The filter parameters, in the order of the DB_Q_USAGE_* parameters 3..7. */
static const char *const gw_usage_eq[] = {"user_id", "api_key_id", "model", "provider", "status"};
enum { GW_USAGE_NEQ = sizeof(gw_usage_eq) / sizeof(gw_usage_eq[0]), GW_USAGE_NFILTERS = 7 };

static const char *const gw_usage_statuses[] = {"success", "error", "cancelled"};

/* group_by values and their queries. */
static const struct gw_usage_group {
    const char *name;
    enum db_query q;
} gw_usage_groups[] = {
    {"day", DB_Q_USAGE_SUM_DAY},     {"hour", DB_Q_USAGE_SUM_HOUR},
    {"user", DB_Q_USAGE_SUM_USER},   {"key", DB_Q_USAGE_SUM_KEY},
    {"model", DB_Q_USAGE_SUM_MODEL}, {"provider", DB_Q_USAGE_SUM_PROVIDER},
};
#define GW_USAGE_NGROUPS (sizeof(gw_usage_groups) / sizeof(gw_usage_groups[0]))

/* Sums of one summary row, in the DB_Q_USAGE_SUM_* column order after the key. */
static const char *const gw_usage_sums[] = {"requests",          "errors",       "prompt_tokens",
                                            "completion_tokens", "total_tokens", "cost"};
enum { GW_USAGE_NSUMS = 6, GW_USAGE_COL_COST = 6 };

/* One analytics request from its first query to its reply. Freed with gw_usage_op_free(). */
struct gw_usage_op {
    struct gw_req *r;
    struct evkeyvalq q;           /* the parsed query string: the filter texts point into it */
    char start[UTIL_TS_LEN];      /* "" = open */
    char end[UTIL_TS_LEN];        /* "" = open */
    const char *eq[GW_USAGE_NEQ]; /* borrowed from q, NULL = any */
    long skip, limit;
    const struct gw_usage_group *group;
    char total[24]; /* X-Total-Count */
};

static void gw_usage_op_free(struct gw_usage_op *op)
{
    if (op == NULL)
        return;
    evhttp_clear_headers(&op->q);
    free(op);
}

/*
 * Parses a start_date / end_date value: an ISO 8601 date or date-time (a missing offset is UTC;
 * a '+' of an offset that reached us as a space, because the client did not encode it, is
 * read back as '+'), or seconds since the epoch (digits, optional fraction). Writes the
 * util_ts_format() form to out. Returns 0, -1 when it does not parse, -2 when out of range.
 */
static int gw_usage_time(const char *s, char out[UTIL_TS_LEN], long long *out_us)
{
    char buf[GW_USAGE_MAX_DATE + 1];
    size_t n = strlen(s), digits = strspn(s, "0123456789");
    long long us;

    if (n == 0 || n > GW_USAGE_MAX_DATE)
        return -1;
    if (digits > 0 && (s[digits] == '\0' || s[digits] == '.')) {
        const char *frac = s + digits + (s[digits] == '.');

        if (digits > 12 || strspn(frac, "0123456789") != strlen(frac) ||
            (s[digits] == '.' && *frac == '\0'))
            return -1;
        us = strtoll(s, NULL, 10) * 1000000LL;
        for (long long scale = 100000; *frac != '\0' && scale > 0; frac++, scale /= 10)
            us += (*frac - '0') * scale; /* digits past microseconds are dropped */
    } else {
        memcpy(buf, s, n + 1);
        for (char *sp = strchr(buf, ' '); sp != NULL && sp - buf > 10; sp = strchr(sp + 1, ' '))
            *sp = '+';
        if (gw_valid_parse_datetime(buf, &us) < 0)
            return -1;
    }
    if (us < 0 || us > GW_USAGE_MAX_US)
        return -2;
    util_ts_format(out, UTIL_TS_LEN, us);
    *out_us = us;
    return 0;
}

/* Reads start_date or end_date into out ("" when absent). Returns true, or replies 422. */
static bool gw_usage_date(struct gw_req *r, struct evkeyvalq *q, const char *name,
                          char out[UTIL_TS_LEN], long long *us)
{
    const char *s = evhttp_find_header(q, name);
    int rc;

    out[0] = '\0';
    if (s == NULL)
        return true;
    rc = gw_usage_time(s, out, us);
    if (rc == 0)
        return true;
    gw_valid_reply_one(r, "datetime_from_date_parsing", "query", name,
                       rc == -2 ? "Input should be a valid datetime or date, year out of range "
                                  "(1970 to 9999)"
                                : "Input should be a valid datetime or date (ISO 8601) or a "
                                  "number of seconds since the epoch",
                       json_string(s), NULL);
    out[0] = '\0';
    return false;
}

/* Replies 422 for a value that is not one of expected (their list, as the message shows it). */
static void gw_usage_enum_422(struct gw_req *r, const char *name, const char *value,
                              const char *expected)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "Input should be %s", expected);
    gw_valid_reply_one(r, "enum", "query", name, msg, json_string(value),
                       json_pack("{s:s}", "expected", expected));
}

/*
 * Reads the filters (and, for the summary, group_by) of r's query string into op. Returns
 * true, or false after replying 422 (or 500).
 */
static bool gw_usage_parse(struct gw_usage_op *op, bool summary)
{
    struct gw_req *r = op->r;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->ev));
    const char *status, *group;
    long long start_us = 0, end_us = 0;
    bool ok = false;

    if (query != NULL && evhttp_parse_query_str(query, &op->q) < 0) {
        gw_valid_reply_one(r, "query_invalid", "query", NULL, "Malformed query string", NULL, NULL);
        return false;
    }
    if (!gw_usage_date(r, &op->q, "start_date", op->start, &start_us) ||
        !gw_usage_date(r, &op->q, "end_date", op->end, &end_us))
        return false;
    if (op->start[0] != '\0' && op->end[0] != '\0' && start_us >= end_us) {
        gw_valid_reply_one(r, "value_error", "query", "end_date",
                           "Value error, end_date must be after start_date",
                           json_string(evhttp_find_header(&op->q, "end_date")), NULL);
        return false;
    }
    for (size_t i = 0; i < GW_USAGE_NEQ; i++)
        op->eq[i] = evhttp_find_header(&op->q, gw_usage_eq[i]);
    status = op->eq[GW_USAGE_NEQ - 1];
    for (size_t i = 0; status != NULL && i < sizeof(gw_usage_statuses) / sizeof(*gw_usage_statuses);
         i++)
        ok = ok || strcmp(status, gw_usage_statuses[i]) == 0;
    if (status != NULL && !ok) {
        gw_usage_enum_422(r, "status", status, "'success', 'error' or 'cancelled'");
        return false;
    }
    if (!summary)
        return gw_valid_page(r, &op->skip, &op->limit);
    group = evhttp_find_header(&op->q, "group_by");
    op->group = &gw_usage_groups[0];
    if (group == NULL)
        return true;
    for (size_t i = 0; i < GW_USAGE_NGROUPS; i++) {
        if (strcmp(group, gw_usage_groups[i].name) == 0) {
            op->group = &gw_usage_groups[i];
            return true;
        }
    }
    gw_usage_enum_422(r, "group_by", group, "'day', 'hour', 'user', 'model', 'provider' or 'key'");
    return false;
}

/* Authenticates r and reads its query into a new op. Returns owned op, or NULL after replying. */
static struct gw_usage_op *gw_usage_op_new(struct gw_req *r, bool summary)
{
    struct gw_usage_op *op;

    if (!gw_auth_master(r))
        return NULL;
    op = calloc(1, sizeof(*op));
    if (op == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return NULL;
    }
    op->r = r;
    op->q.tqh_first = NULL; /* TAILQ_INIT without <sys/queue.h> */
    op->q.tqh_last = &op->q.tqh_first;
    if (!gw_usage_parse(op, summary)) {
        gw_usage_op_free(op);
        return NULL;
    }
    return op;
}

/* The 7 filter parameters of every DB_Q_USAGE_* query. */
static void gw_usage_params(const struct gw_usage_op *op, struct db_params *p)
{
    p->n = GW_USAGE_NFILTERS;
    p->v[0] = db_text(op->start[0] != '\0' ? op->start : NULL);
    p->v[1] = db_text(op->end[0] != '\0' ? op->end : NULL);
    for (size_t i = 0; i < GW_USAGE_NEQ; i++)
        p->v[2 + i] = db_text(op->eq[i]);
}

/* ---- GET /v1/usage ---- */

static void gw_usage_page_done(const struct db_result *res, void *arg)
{
    struct gw_usage_op *op = arg;

    if (res->status != 0) {
        gw_reply_db_error(op->r, res);
    } else {
        gw_reply_header(op->r, "X-Total-Count", op->total);
        gw_reply_json(op->r, 200, gw_rows_json(res, gw_cols_usage, GW_NCOLS(gw_cols_usage)));
    }
    gw_usage_op_free(op);
}

/* The count first (it goes in a header), then the page. */
static void gw_usage_count_done(const struct db_result *res, void *arg)
{
    struct gw_usage_op *op = arg;
    struct db_params p;

    if (res->status != 0 || gw_cell(res, 0, 0) == NULL) {
        gw_reply_db_error(op->r, res);
        gw_usage_op_free(op);
        return;
    }
    snprintf(op->total, sizeof(op->total), "%s", gw_cell(res, 0, 0));
    if (op->skip >= strtol(op->total, NULL, 10)) {
        /* Past the end: nothing to read (and skip + limit, which may overflow, is not used). */
        gw_reply_header(op->r, "X-Total-Count", op->total);
        gw_reply_json(op->r, 200, json_array());
        gw_usage_op_free(op);
        return;
    }
    gw_usage_params(op, &p);
    p.v[p.n++] = (struct db_value){.type = DB_T_INT, .u.i = op->limit};
    p.v[p.n++] = (struct db_value){.type = DB_T_INT, .u.i = op->skip};
    gw_db_start(op->r, DB_Q_USAGE_FILTER_PAGE, &p, gw_usage_page_done, op);
}

/*
 * Both endpoints: authenticate, read the query, then run the first query (the summary's
 * group_by query, or the listing's count) with the filters; done receives the op.
 */
static void gw_usage_start(struct gw_req *r, bool summary, db_done_fn *done)
{
    struct gw_usage_op *op = gw_usage_op_new(r, summary);
    struct db_params p;

    if (op == NULL)
        return;
    gw_usage_params(op, &p);
    gw_db_start(r, summary ? op->group->q : DB_Q_USAGE_FILTER_COUNT, &p, done, op);
}

void gw_usage_list(struct gw_req *r, const struct gw_params *params)
{
    (void)params;
    gw_usage_start(r, false, gw_usage_count_done);
}

/* ---- GET /v1/usage/summary ---- */

/* Sum i of row of res as JSON: an integer, or the cost as a number. */
static json_t *gw_usage_sum_json(const struct db_result *res, size_t row, size_t i)
{
    const char *v = gw_cell(res, row, 1 + i);

    if (1 + i == GW_USAGE_COL_COST)
        return json_real(v != NULL ? strtod(v, NULL) : 0.0);
    return json_integer(v != NULL ? strtoll(v, NULL, 10) : 0);
}

static void gw_usage_summary_done(const struct db_result *res, void *arg)
{
    struct gw_usage_op *op = arg;
    json_int_t totals[GW_USAGE_NSUMS - 1] = {0};
    double cost = 0;
    json_t *out, *groups, *tot;

    if (res->status != 0) {
        gw_reply_db_error(op->r, res);
        gw_usage_op_free(op);
        return;
    }
    groups = json_array();
    for (size_t row = 0; row < res->nrows; row++) {
        const char *key = gw_cell(res, row, 0);
        json_t *g = json_object();

        json_object_set_new(g, "key", key != NULL ? json_string(key) : json_null());
        for (size_t i = 0; i < GW_USAGE_NSUMS; i++) {
            json_t *v = gw_usage_sum_json(res, row, i);

            if (i + 1 < GW_USAGE_NSUMS)
                totals[i] += json_integer_value(v);
            else
                cost += json_real_value(v);
            json_object_set_new(g, gw_usage_sums[i], v);
        }
        json_array_append_new(groups, g);
    }
    tot = json_object();
    for (size_t i = 0; i + 1 < GW_USAGE_NSUMS; i++)
        json_object_set_new(tot, gw_usage_sums[i], json_integer(totals[i]));
    json_object_set_new(tot, "cost", json_real(cost));
    out = json_object();
    json_object_set_new(out, "group_by", json_string(op->group->name));
    json_object_set_new(out, "start_date", op->start[0] ? json_string(op->start) : json_null());
    json_object_set_new(out, "end_date", op->end[0] ? json_string(op->end) : json_null());
    json_object_set_new(out, "totals", tot);
    json_object_set_new(out, "groups", groups);
    gw_reply_json(op->r, 200, out);
    gw_usage_op_free(op);
}

void gw_usage_summary(struct gw_req *r, const struct gw_params *params)
{
    (void)params;
    gw_usage_start(r, true, gw_usage_summary_done);
}
