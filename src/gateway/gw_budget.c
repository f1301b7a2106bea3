/*
 * Budget admission and settlement over in-memory user state (contract in gw_budget.h).
 */
#include "gateway/gw_budget.h"

#include <stdio.h>
#include <string.h>

#include "providers/prov_usage.h"

int64_t gw_budget_next_reset_us(int64_t now_us, int64_t duration_sec)
{
    int64_t d;

    if (duration_sec <= 0)
        return 0;
    d = (duration_sec < GW_BUDGET_MAX_DURATION_SEC ? duration_sec : GW_BUDGET_MAX_DURATION_SEC) *
        INT64_C(1000000);
    return now_us > INT64_MAX - d ? INT64_MAX : now_us + d;
}

enum gw_budget_verdict gw_budget_admit(struct gw_user_state *u, const struct gw_budget_state *b,
                                       int64_t now_us, double reserve, bool free_model,
                                       struct gw_budget_reset *reset)
{
    memset(reset, 0, sizeof(*reset));
    if (u->deleted)
        return GW_BUDGET_NO_USER;
    if (u->blocked)
        return GW_BUDGET_BLOCKED;
    if (b != NULL) {
        if (u->next_reset_us != 0 && now_us >= u->next_reset_us) {
            reset->happened = true;
            snprintf(reset->budget_id, sizeof(reset->budget_id), "%s", u->budget_id);
            reset->previous_spend = u->spend;
            reset->reset_at_us = now_us;
            reset->next_reset_us = gw_budget_next_reset_us(now_us, b->duration_sec);
            u->spend = 0;
            u->started_us = now_us;
            u->next_reset_us = reset->next_reset_us;
        }
        if (b->has_max && u->spend + u->reserved >= b->max_budget && !free_model)
            return GW_BUDGET_EXCEEDED;
    }
    if (reserve > 0)
        u->reserved += reserve;
    return GW_BUDGET_OK;
}

bool gw_budget_needs_store(const struct gw_user_state *u, const struct gw_budget_state *b,
                           bool free_model)
{
    return !u->deleted && !u->blocked && b != NULL && b->has_max && !free_model;
}

void gw_budget_settle(struct gw_user_state *u, double reserve, double cost)
{
    if (reserve > 0)
        u->reserved = u->reserved > reserve ? u->reserved - reserve : 0;
    if (cost > 0)
        u->spend += cost;
}

double gw_budget_reserve(const struct gw_price *p, size_t prompt_bytes, long max_output_tokens)
{
    struct prov_usage u;

    if (p == NULL)
        return 0;
    prov_usage_init(&u);
    u.prompt_tokens = prov_usage_tokens_for_bytes(prompt_bytes);
    u.completion_tokens =
        max_output_tokens > 0 ? max_output_tokens : GW_BUDGET_DEFAULT_OUTPUT_TOKENS;
    return prov_usage_cost(&u, p->input_per_million, p->output_per_million);
}
