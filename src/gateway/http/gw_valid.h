/*
 * Request validation with the reference's 422 shape (FastAPI/pydantic):
 * {"detail":[{"type","loc","msg","input"[,"ctx"]}, ...]}. Bodies are checked against a field
 * table; query parameters skip/limit have their own helper.
 */
#ifndef GW_VALID_H
#define GW_VALID_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct gw_req;

enum gw_ftype {
    GW_F_STR,      /* string */
    GW_F_BOOL,     /* boolean */
    GW_F_NUM,      /* number (integers accepted) */
    GW_F_INT,      /* integer */
    GW_F_OBJ,      /* object */
    GW_F_DATETIME, /* ISO-8601 date-time string */
    GW_F_OBJLIST,  /* array of objects */
    GW_F_STROBJ,   /* string or object */
};

#define GW_F_REQUIRED 0x1 /* absent -> "missing" */
#define GW_F_NULLABLE 0x2 /* JSON null accepted */
#define GW_F_GE 0x4       /* number >= bound */
#define GW_F_GT 0x8       /* number > bound */

struct gw_field {
    const char *name;
    enum gw_ftype type;
    int flags;
    double bound;
};

/*
 * Reads the request body as JSON, before authentication (the reference rejects malformed JSON
 * with 422 before auth runs). Returns true with *body = the parsed value (owned; NULL for an
 * empty body, which gw_valid_fields() then reports as missing after auth), or false after
 * replying 422 json_invalid.
 */
bool gw_valid_body_json(struct gw_req *r, json_t **body);

/*
 * Checks body against fields: body must be an object (NULL -> "missing body", other types ->
 * model_attributes_type). Returns true when valid; otherwise replies 422 with every problem
 * (in table order) and returns false. body stays owned by the caller.
 */
bool gw_valid_fields(struct gw_req *r, json_t *body, const struct gw_field *fields, size_t n);

/*
 * The request body's bytes (*len gets their length) while the parsed body is still exactly
 * their parse, i.e. gw_valid_fields() normalised nothing; else NULL. Valid until r is answered.
 */
const char *gw_valid_body_raw(struct gw_req *r, size_t *len);

/* Frees the request body's bytes (once nothing reads them any more: a 16 MiB body is 16 MiB). */
void gw_valid_body_release(struct gw_req *r);

/*
 * Reads skip (>= 0, default 0) and limit (1..1000, default 100) from the query string.
 * Returns true, or replies 422 in the reference shape and returns false.
 */
bool gw_valid_page(struct gw_req *r, long *skip, long *limit);

/*
 * Parses an ISO-8601 date-time ("2025-01-02T03:04:05[.ffffff][Z|+HH:MM]", or a date
 * "2025-01-02"); a value without offset is taken as UTC. Returns 0 and microseconds since the
 * epoch in *us, or -1.
 */
int gw_valid_parse_datetime(const char *s, long long *us);

/*
 * An array field that must hold at least one item (the reference's "too_short"). Returns true,
 * or replies 422 and returns false. list is the field's value (borrowed).
 */
bool gw_valid_nonempty(struct gw_req *r, json_t *list, const char *name);

/* Replies 422 with a single detail item. input may be NULL (JSON null); takes ownership. */
void gw_valid_reply_one(struct gw_req *r, const char *type, const char *loc0, const char *loc1,
                        const char *msg, json_t *input, json_t *ctx);

#endif
