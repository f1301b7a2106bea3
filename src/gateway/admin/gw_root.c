/*
 * GET /: a small HTML quick-start page (the reference serves one too, spec §1.11), linking to
 * the dashboard (/ui/) and the API docs (/docs) when the configuration serves them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_app.h"
#include "gateway/gw_handlers.h"
#include "gateway/http/gw_reply.h"
#include "gateway/http/gw_req.h"

static const char gw_root_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>AI Gateway (Proxy Server)</title>\n"
    "<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;"
    "padding:0 1rem;line-height:1.5}pre{background:#f4f4f4;padding:1rem;overflow:auto}</style>\n"
    "</head><body>\n"
    "<h1>AI Gateway (Proxy Server)</h1>\n"
    "<p>any-llm-gateway (C edition) puts many LLM providers behind one OpenAI-compatible API, "
    "with virtual keys, budgets and usage tracking.</p>\n"
    "<h2>Gateway Quickstart</h2>\n"
    "<ol><li>On first start the gateway prints a <b>bootstrap API key</b> in its logs "
    "(WARNING level). Save it: it is shown only once.</li>\n"
    "<li>Point any OpenAI SDK at <code>/v1</code> with that key and a "
    "<code>provider:model</code> name.</li></ol>\n"
    "<pre>pip install openai\n\n"
    "from openai import OpenAI\n\n"
    "client = OpenAI(base_url=\"http://0.0.0.0:8000/v1\", api_key=\"YOUR_GATEWAY_KEY\")\n"
    "reply = client.chat.completions.create(\n"
    "    model=\"openai:gpt-4o\",\n"
    "    messages=[{\"role\": \"user\", \"content\": \"Hello!\"}],\n"
    ")\n"
    "print(reply.choices[0].message.content)</pre>\n";

/* After the dashboard and docs links. */
static const char gw_root_tail[] =
    "<p>Health: <a href=\"/health\">/health</a>, <a href=\"/health/liveness\">/health/liveness"
    "</a>, <a href=\"/health/readiness\">/health/readiness</a>.</p>\n"
    "<p>Documentation of the reference gateway: "
    "<a href=\"https://docs.mozilla.ai/any-llm/gateway/quickstart/\">"
    "https://docs.mozilla.ai/any-llm/gateway/quickstart/</a></p>\n"
    "</body></html>\n";

static const char gw_root_ui[] =
    "<p><b>Dashboard:</b> <a href=\"/ui/\">/ui/</a> (sign in with the master key).</p>\n";
static const char gw_root_docs[] = "<p><b>API docs:</b> <a href=\"/docs\">/docs</a> (Swagger UI), "
                                   "<a href=\"/openapi.json\">/openapi.json</a>.</p>\n";

void gw_root(struct gw_req *r, const struct gw_params *p)
{
    const struct cfg *cfg = r->w->app->cfg;
    size_t cap =
        sizeof(gw_root_head) + sizeof(gw_root_ui) + sizeof(gw_root_docs) + sizeof(gw_root_tail);
    char *page = malloc(cap);
    int n;

    (void)p;
    if (page == NULL) {
        gw_reply_error(r, 500, "internal_error", "Internal Server Error");
        return;
    }
    n = snprintf(page, cap, "%s%s%s%s", gw_root_head, cfg->enable_ui ? gw_root_ui : "",
                 cfg->enable_docs ? gw_root_docs : "", gw_root_tail);
    gw_reply_raw(r, 200, "text/html; charset=utf-8", page, n > 0 ? (size_t)n : 0);
    free(page);
}
