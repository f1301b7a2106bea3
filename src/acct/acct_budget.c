/*
 * Budget admission and settlement over in-memory user state (contract in acct_budget.h).
 */
#include "acct/acct_budget.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "providers/prov_usage.h"

int64_t acct_budget_next_reset_us(int64_t now_us, int64_t duration_sec)
{
    int64_t d;

    if (duration_sec <= 0)
        return 0;
    d = (duration_sec < ACCT_BUDGET_MAX_DURATION_SEC ? duration_sec
                                                     : ACCT_BUDGET_MAX_DURATION_SEC) *
        INT64_C(1000000);
    return now_us > INT64_MAX - d ? INT64_MAX : now_us + d;
}

enum acct_budget_verdict acct_budget_admit(struct gw_user_state *u,
                                           const struct acct_budget_state *b, int64_t now_us,
                                           double reserve, bool free_model,
                                           struct acct_budget_reset *reset)
{
    memset(reset, 0, sizeof(*reset));
    if (u->deleted)
        return ACCT_BUDGET_NO_USER;
    if (u->blocked)
        return ACCT_BUDGET_BLOCKED;
    if (b != NULL) {
        if (u->next_reset_us != 0 && now_us >= u->next_reset_us) {
            reset->happened = true;
            snprintf(reset->budget_id, sizeof(reset->budget_id), "%s", u->budget_id);
            reset->previous_spend = u->spend;
            reset->reset_at_us = now_us;
            reset->next_reset_us = acct_budget_next_reset_us(now_us, b->duration_sec);
            u->spend = 0;
            u->started_us = now_us;
            u->next_reset_us = reset->next_reset_us;
        }
        if (b->has_max && u->spend + u->reserved >= b->max_budget && !free_model)
            return ACCT_BUDGET_EXCEEDED;
    }
    if (reserve > 0)
        u->reserved += reserve;
    return ACCT_BUDGET_OK;
}

bool acct_budget_needs_store(const struct gw_user_state *u, const struct acct_budget_state *b,
                             bool free_model)
{
    return !u->deleted && !u->blocked && b != NULL && b->has_max && !free_model;
}

void acct_budget_settle(struct gw_user_state *u, double reserve, double cost)
{
    if (reserve > 0)
        u->reserved = u->reserved > reserve ? u->reserved - reserve : 0;
    if (cost > 0)
        u->spend += cost;
}

static bool acct_budget_is_image(const json_t *part)
{
    const char *t = json_string_value(json_object_get(part, "type"));

    return t != NULL && (strcmp(t, "image_url") == 0 || strcmp(t, "input_image") == 0 ||
                         strcmp(t, "image") == 0);
}

static long acct_budget_int(const json_t *body, const char *name)
{
    const json_t *v = json_object_get(body, name);
    json_int_t i = json_integer_value(v);

    return json_is_integer(v) && i > 0 ? (i > LONG_MAX ? LONG_MAX : (long)i) : 0;
}

void acct_budget_estimate(const json_t *body, struct acct_budget_est *e)
{
    static const char *const tool_fields[] = {"tools", "functions"};
    const json_t *messages = json_object_get(body, "messages"), *m, *part;
    size_t i, j;

    memset(e, 0, sizeof(*e));
    e->message_bytes = prov_usage_prompt_bytes(messages);
    e->prompt_bytes = e->message_bytes;
    for (i = 0; i < sizeof(tool_fields) / sizeof(tool_fields[0]); i++) {
        const json_t *t = json_object_get(body, tool_fields[i]);
        if (t != NULL && !json_is_null(t))
            e->prompt_bytes += json_dumpb(t, NULL, 0, JSON_COMPACT);
    }
    json_array_foreach(messages, i, m)
    {
        json_array_foreach(json_object_get(m, "content"), j, part)
        {
            if (acct_budget_is_image(part) && e->images < LONG_MAX)
                e->images++;
        }
    }
    e->max_output = acct_budget_int(body, "max_completion_tokens");
    if (e->max_output == 0)
        e->max_output = acct_budget_int(body, "max_tokens");
    e->n = acct_budget_int(body, "n");
}

double acct_budget_reserve(const struct gw_price *p, const struct acct_budget_est *e,
                           long min_output)
{
    double prompt, output;

    if (p == NULL)
        return 0;
    /* In double: n x max_tokens or many images must not overflow a long. */
    prompt = (double)prov_usage_tokens_for_bytes(e->prompt_bytes) +
             (double)e->images * ACCT_BUDGET_IMAGE_TOKENS;
    output = e->max_output > 0 ? (double)e->max_output : ACCT_BUDGET_DEFAULT_OUTPUT_TOKENS;
    if (output < (double)min_output)
        output = (double)min_output;
    if (e->no_output)
        output = 0;
    output *= e->n > 1 ? (double)e->n : 1.0;
    return prompt / 1000000.0 * p->input_per_million + output / 1000000.0 * p->output_per_million;
}
