/*
 * GET /: a small HTML quick-start page (the reference serves one too, spec §1.11).
 */
#include <string.h>

#include "gateway/gw_handlers.h"
#include "gateway/http/gw_reply.h"

static const char gw_root_html[] =
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
    "print(reply.choices[0].message.content)</pre>\n"
    "<p>Health: <a href=\"/health\">/health</a>, <a href=\"/health/liveness\">/health/liveness"
    "</a>, <a href=\"/health/readiness\">/health/readiness</a>.</p>\n"
    "<p>Documentation of the reference gateway: "
    "<a href=\"https://docs.mozilla.ai/any-llm/gateway/quickstart/\">"
    "https://docs.mozilla.ai/any-llm/gateway/quickstart/</a></p>\n"
    "</body></html>\n";

void gw_root(struct gw_req *r, const struct gw_params *p)
{
    (void)p;
    gw_reply_raw(r, 200, "text/html; charset=utf-8", gw_root_html, sizeof(gw_root_html) - 1);
}
