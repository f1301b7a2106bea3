/*
 * OpenAI-compatible model listing (spec §1.6, virtual or master key): one model object per
 * priced model, sorted by model_key, and exact-key lookup. Provider catalogues are not listed.
 * Served from the in-memory price index (no database round trip).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "acct/acct_index.h"
#include "gateway/gw_app.h"
#include "gateway/gw_handlers.h"
#include "gateway/http/gw_auth.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"

/*
 * ModelObject of one price: id = model_key, created = unix seconds of the row's created_at,
 * owned_by = the text before the first ':' ("unknown" without one, e.g. legacy "a/b" keys).
 */
static json_t *gw_model_json(const char *model_key, const struct gw_price *p)
{
    const char *colon = strchr(model_key, ':');
    json_t *o = json_object();

    json_object_set_new(o, "id", json_string(model_key));
    json_object_set_new(o, "object", json_string("model"));
    /* Python's int(dt.timestamp()) truncates toward zero, as C division does. */
    json_object_set_new(o, "created", json_integer((json_int_t)(p->created_us / 1000000LL)));
    json_object_set_new(o, "owned_by",
                        colon != NULL ? json_stringn(model_key, (size_t)(colon - model_key))
                                      : json_string("unknown"));
    return o;
}

void gw_models_list(struct gw_req *r, const struct gw_params *p)
{
    struct gw_caller c;
    struct gw_price_item *prices;
    size_t n = 0;
    json_t *data;

    (void)p;
    if (!gw_auth_caller(r, &c))
        return;
    gw_key_ref_clear(&c.key);
    prices = acct_index_price_list(r->w->app->index, &n);
    if (prices == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, gw_model_json(prices[i].model_key, &prices[i].price));
    free(prices);
    gw_reply_json(r, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

void gw_models_get(struct gw_req *r, const struct gw_params *p)
{
    struct gw_caller c;
    struct gw_price price;

    if (!gw_auth_caller(r, &c))
        return;
    gw_key_ref_clear(&c.key);
    if (acct_index_price_get(r->w->app->index, p->v[0], &price) < 0) {
        gw_reply_errorf(r, 404, "model_not_found", "Model '%s' not found", p->v[0]);
        return;
    }
    gw_reply_json(r, 200, gw_model_json(p->v[0], &price));
}
