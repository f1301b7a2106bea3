/*
 * Unit tests of the in-memory index: key states, write-through from committed rows (users,
 * budgets), soft delete, budget removal and the sorted price list.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "acct/acct_index.h"
#include "db/db.h"
#include "t_api.h"

static const char *hash_a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

START_TEST(key_states)
{
    struct acct_index *ix = acct_index_new();
    struct gw_key_ref ref;
    int64_t now = 1700000000LL * 1000000;

    ck_assert_int_eq(acct_index_key_check(ix, hash_a, now, &ref), GW_KEY_UNKNOWN);
    ck_assert_int_eq(acct_index_key_set(ix, "k1", hash_a, "alice", true, NULL), 0);
    ck_assert_int_eq(acct_index_key_check(ix, hash_a, now, &ref), GW_KEY_OK);
    ck_assert_str_eq(ref.id, "k1");
    ck_assert_str_eq(ref.user_id, "alice");
    gw_key_ref_clear(&ref);
    /* Replace by id: inactive, then expired, then removed. */
    ck_assert_int_eq(acct_index_key_set(ix, "k1", hash_a, "alice", false, NULL), 0);
    ck_assert_int_eq(acct_index_key_check(ix, hash_a, now, &ref), GW_KEY_INACTIVE);
    ck_assert_int_eq(
        acct_index_key_set(ix, "k1", hash_a, "alice", true, "2023-11-14T22:13:19+00:00"), 0);
    ck_assert_int_eq(acct_index_key_check(ix, hash_a, now, &ref), GW_KEY_EXPIRED);
    ck_assert_int_eq(
        acct_index_key_set(ix, "k1", hash_a, "alice", true, "2023-11-14T22:13:21+00:00"), 0);
    ck_assert_int_eq(acct_index_key_check(ix, hash_a, now, &ref), GW_KEY_OK); /* 1 s left */
    gw_key_ref_clear(&ref);
    acct_index_key_remove(ix, "k1");
    ck_assert_int_eq(acct_index_key_check(ix, hash_a, now, &ref), GW_KEY_UNKNOWN);
    acct_index_free(ix);
}
END_TEST

/* A one-row result with the given cells (NULL = SQL NULL). */
static struct db_result row_of(char **cells, size_t ncols)
{
    return (struct db_result){.status = 0, .nrows = 1, .ncols = ncols, .cells = cells};
}

START_TEST(users_and_budgets)
{
    struct acct_index *ix = acct_index_new();
    char *budget[] = {"b1", "10.5", "86400", "2025-01-01T00:00:00+00:00",
                      "2025-01-01T00:00:00+00:00"};
    char *user[] = {"alice",
                    "Alice",
                    "2.25",
                    "b1",
                    "2025-01-01T00:00:00+00:00",
                    "2025-01-02T00:00:00+00:00",
                    "0",
                    "2025-01-01T00:00:00+00:00",
                    "2025-01-01T00:00:00+00:00",
                    "{}",
                    NULL};
    struct db_result b = row_of(budget, 5), u = row_of(user, 11);
    struct gw_user_state us;
    struct acct_budget_state bs;
    struct gw_key_ref ref;

    ck_assert_int_eq(acct_index_budget_from_row(ix, &b, 0), 0);
    ck_assert_int_eq(acct_index_user_from_row(ix, &u, 0), 0);
    ck_assert_int_eq(acct_index_budget_get(ix, "b1", &bs), 0);
    ck_assert(bs.has_max);
    ck_assert_double_eq(bs.max_budget, 10.5);
    ck_assert_int_eq(bs.duration_sec, 86400);
    ck_assert_int_eq(acct_index_user_get(ix, "alice", &us), 0);
    ck_assert(us.has_budget && !us.blocked && !us.deleted);
    ck_assert_str_eq(us.budget_id, "b1");
    ck_assert_double_eq(us.spend, 2.25);
    ck_assert_int_eq(us.next_reset_us - us.started_us, 86400LL * 1000000);

    /* A user created with a key: fresh state, and an existing user keeps its state. */
    ck_assert_int_eq(acct_index_user_ensure(ix, "bob"), 0);
    ck_assert_int_eq(acct_index_user_get(ix, "bob", &us), 0);
    ck_assert(!us.has_budget && us.spend == 0);
    ck_assert_int_eq(acct_index_user_ensure(ix, "alice"), 0);
    ck_assert_int_eq(acct_index_user_get(ix, "alice", &us), 0);
    ck_assert(us.has_budget);

    /* Deleting the budget unassigns it. */
    acct_index_budget_remove(ix, "b1");
    ck_assert_int_eq(acct_index_budget_get(ix, "b1", &bs), -1);
    ck_assert_int_eq(acct_index_user_get(ix, "alice", &us), 0);
    ck_assert(!us.has_budget);

    /* Soft delete: the user is marked and its keys stop working. */
    ck_assert_int_eq(acct_index_key_set(ix, "k1", hash_a, "alice", true, NULL), 0);
    acct_index_user_delete(ix, "alice");
    ck_assert_int_eq(acct_index_user_get(ix, "alice", &us), 0);
    ck_assert(us.deleted);
    ck_assert_int_eq(acct_index_key_check(ix, hash_a, 1, &ref), GW_KEY_INACTIVE);
    ck_assert_int_eq(acct_index_user_get(ix, "nobody", &us), -1);
    acct_index_free(ix);
}
END_TEST

START_TEST(prices_sorted)
{
    struct acct_index *ix = acct_index_new();
    struct gw_price p;
    struct gw_price_item *list;
    size_t n;

    ck_assert_int_eq(acct_index_price_set(ix, "openai:gpt-4o", 2.5, 10, NULL), 0);
    ck_assert_int_eq(acct_index_price_set(ix, "anthropic:claude", 3, 15, NULL), 0);
    ck_assert_int_eq(acct_index_price_set(ix, "openai:gpt-4o", 2, 8, "2025-01-02T03:04:05+00:00"),
                     0);
    list = acct_index_price_list(ix, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[0].model_key, "anthropic:claude");
    ck_assert_str_eq(list[1].model_key, "openai:gpt-4o");
    ck_assert_double_eq(list[1].price.input_per_million, 2);
    ck_assert_int_eq(list[1].price.created_us, 1735787045LL * 1000000);
    free(list);
    acct_index_price_remove(ix, "openai:gpt-4o");
    ck_assert_int_eq(acct_index_price_get(ix, "openai:gpt-4o", &p), -1);
    ck_assert_int_eq(acct_index_price_get(ix, "anthropic:claude", &p), 0);
    ck_assert_double_eq(p.output_per_million, 15);
    acct_index_free(ix);
}
END_TEST

/*
 * Long ids are never truncated: a key resolves to its own user, not to another user whose id is
 * the first 255 bytes of it, and the spend of one is not the other's.
 */
START_TEST(long_user_ids)
{
    struct acct_index *ix = acct_index_new();
    char *long_user = t_long_str("u-", 'x', 1200), *twin = strndup(long_user, 255);
    struct gw_key_ref ref;
    struct gw_user_state st;
    struct acct_budget_reset reset;
    int64_t now = 1700000000LL * 1000000;

    ck_assert_int_eq(acct_index_user_ensure(ix, long_user), 0);
    ck_assert_int_eq(acct_index_user_ensure(ix, twin), 0);
    ck_assert_int_eq(acct_index_key_set(ix, "k1", hash_a, long_user, true, NULL), 0);
    ck_assert_int_eq(acct_index_key_check(ix, hash_a, now, &ref), GW_KEY_OK);
    ck_assert_str_eq(ref.id, "k1");
    ck_assert_uint_eq(strlen(ref.user_id), strlen(long_user));
    ck_assert_str_eq(ref.user_id, long_user);
    ck_assert_int_eq(acct_index_admit(ix, ref.user_id, now, 0.5, false, true, &reset),
                     ACCT_BUDGET_OK);
    acct_index_settle(ix, ref.user_id, 0.5, 0.25);
    ck_assert_int_eq(acct_index_user_get(ix, long_user, &st), 0);
    ck_assert_double_eq(st.spend, 0.25);
    ck_assert_int_eq(acct_index_user_get(ix, twin, &st), 0);
    ck_assert_double_eq(st.spend, 0);
    gw_key_ref_clear(&ref);
    free(long_user);
    free(twin);
    acct_index_free(ix);
}
END_TEST

/* A long model key is listed whole and found exactly, never as its truncated twin. */
START_TEST(long_price_keys)
{
    struct acct_index *ix = acct_index_new();
    char *model = t_long_str("fake-", 'm', 1200), *key = t_long_str("openai:fake-", 'm', 1200);
    char *twin = strndup(key, 511);
    struct gw_price_item *list;
    struct gw_price p;
    size_t n;

    ck_assert_int_eq(acct_index_price_set(ix, key, 10, 20, NULL), 0);
    ck_assert_int_eq(acct_index_price_set(ix, twin, 1, 2, NULL), 0);
    list = acct_index_price_list(ix, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(list[0].model_key, twin);
    ck_assert_str_eq(list[1].model_key, key);
    ck_assert_double_eq(list[1].price.input_per_million, 10);
    free(list);
    ck_assert_int_eq(acct_index_price_find(ix, "openai", model, &p), 1);
    ck_assert_double_eq(p.input_per_million, 10);
    ck_assert_double_eq(p.output_per_million, 20);
    free(model);
    free(key);
    free(twin);
    acct_index_free(ix);
}
END_TEST

Suite *index_suite(void)
{
    Suite *s = suite_create("index");
    TCase *tc = tcase_create("index");

    tcase_add_test(tc, key_states);
    tcase_add_test(tc, users_and_budgets);
    tcase_add_test(tc, prices_sorted);
    tcase_add_test(tc, long_user_ids);
    tcase_add_test(tc, long_price_keys);
    suite_add_tcase(s, tc);
    return s;
}
