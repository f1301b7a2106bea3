/*
 * The SQLite backend's SQL for the usage analytics queries (DB_Q_USAGE_FILTER_* and
 * DB_Q_USAGE_SUM_*, contract in db.h), composed from fixed fragments here and placed in
 * db_sqlite.c's query table. Only db_sqlite.c includes it.
 *
 * Parameters: ?1 start, ?2 end (util_ts_format() text, NULL = open), ?3 user_id,
 * ?4 api_key_id, ?5 model, ?6 provider, ?7 status (NULL = any); the page adds ?8 limit,
 * ?9 offset. Stored timestamps are util_ts_format() text, whose byte order is time order
 * (migrations/sqlite/0001), so the window is a plain text range.
 *
 * SQLite plans a statement once, before the values are bound, so "?3 IS NULL OR user_id = ?3"
 * could never use an index. Each query is therefore a union of branches, one per driving
 * index, each guarded by which filters are NULL; exactly one branch's guard holds for any
 * parameters, and SQLite tests such constant guards once, before its loop, so the other
 * branches cost nothing. Drivers, first given wins: api_key_id, user_id, model, provider,
 * status, then the window alone. The (x, timestamp, status, tokens..., cost) indexes of
 * migration 0004 cover the sums, so "group by model" over a month reads one index in order
 * without sorting or touching the table (the window alone is then tested on the index entry,
 * hence "+timestamp", which keeps the planner off the timestamp index for that branch).
 */
#ifndef GW_DB_SQLITE_USAGE_H
#define GW_DB_SQLITE_USAGE_H

#define SQ_U_TS "timestamp >= coalesce(?1, '') AND timestamp < coalesce(?2, 'a')"
#define SQ_U_TS_SCAN "+timestamp >= coalesce(?1, '') AND +timestamp < coalesce(?2, 'a')"

#define SQ_U_OR_USER "(?3 IS NULL OR user_id = ?3)"
#define SQ_U_OR_MODEL "(?5 IS NULL OR model = ?5)"
#define SQ_U_OR_PROVIDER "(?6 IS NULL OR provider = ?6)"
#define SQ_U_OR_STATUS "(?7 IS NULL OR status = ?7)"

#define SQ_U_BY_KEY                                                                                \
    "?4 IS NOT NULL AND api_key_id = ?4 AND " SQ_U_OR_USER " AND " SQ_U_OR_MODEL                   \
    " AND " SQ_U_OR_PROVIDER " AND " SQ_U_OR_STATUS
#define SQ_U_BY_USER                                                                               \
    "?4 IS NULL AND ?3 IS NOT NULL AND user_id = ?3 AND " SQ_U_OR_MODEL " AND " SQ_U_OR_PROVIDER   \
    " AND " SQ_U_OR_STATUS
#define SQ_U_BY_MODEL                                                                              \
    "?4 IS NULL AND ?3 IS NULL AND ?5 IS NOT NULL AND model = ?5 AND " SQ_U_OR_PROVIDER            \
    " AND " SQ_U_OR_STATUS
#define SQ_U_BY_PROVIDER                                                                           \
    "?4 IS NULL AND ?3 IS NULL AND ?5 IS NULL AND ?6 IS NOT NULL AND provider = ?6 "               \
    "AND " SQ_U_OR_STATUS
#define SQ_U_BY_STATUS                                                                             \
    "?4 IS NULL AND ?3 IS NULL AND ?5 IS NULL AND ?6 IS NULL AND ?7 IS NOT NULL AND status = ?7"
#define SQ_U_BY_WINDOW "?4 IS NULL AND ?3 IS NULL AND ?5 IS NULL AND ?6 IS NULL AND ?7 IS NULL"

/* pre + guard + window + post for each driver, joined by join; last_ts is the window-only
 * branch's window test. */
#define SQ_U_BRANCHES(pre, post, join, last_ts)                                                    \
    pre SQ_U_BY_KEY                                                                                \
        " AND " SQ_U_TS post join pre SQ_U_BY_USER " AND " SQ_U_TS post join pre SQ_U_BY_MODEL     \
        " AND " SQ_U_TS post join pre SQ_U_BY_PROVIDER                                             \
        " AND " SQ_U_TS post join pre SQ_U_BY_STATUS " AND " SQ_U_TS post join pre SQ_U_BY_WINDOW  \
        " AND " last_ts post

/* Each branch keeps its own newest limit + offset rows, so at most that many are merged. */
#define SQ_U_ORDER " ORDER BY timestamp DESC, id DESC"
#define SQ_U_PAGE                                                                                  \
    "SELECT " DB_COLS_USAGE " FROM (" SQ_U_BRANCHES(                                               \
        "SELECT * FROM (SELECT " DB_COLS_USAGE " FROM usage_logs WHERE ",                          \
        SQ_U_ORDER " LIMIT ?8 + ?9)", " UNION ALL ", SQ_U_TS) ")" SQ_U_ORDER " LIMIT ?8 OFFSET ?9"

#define SQ_U_COUNT                                                                                 \
    "SELECT " SQ_U_BRANCHES("(SELECT count(*) FROM usage_logs WHERE ", ")", " + ", SQ_U_TS)

#define SQ_U_AGG                                                                                   \
    "count(*) AS n, sum(status <> 'success') AS e, coalesce(sum(prompt_tokens), 0) AS pt, "        \
    "coalesce(sum(completion_tokens), 0) AS ct, coalesce(sum(total_tokens), 0) AS tt, "            \
    "total(cost) AS cs FROM usage_logs WHERE "

/*
 * Sums per UTC hour of the stored text. The window-only branch reads migration 0004's index on
 * (that hour prefix, timestamp, sums...) in order: no sort, no table lookup (its range terms on
 * the prefix are implied by the exact window, and only there to select the index).
 */
#define SQ_U_HOUR "substr(timestamp, 1, 13)"
#define SQ_U_TS_HOUR                                                                               \
    SQ_U_HOUR " >= substr(coalesce(?1, ''), 1, 13) AND " SQ_U_HOUR                                 \
              " <= substr(coalesce(?2, 'a'), 1, 13) AND " SQ_U_TS_SCAN
#define SQ_U_HOURS                                                                                 \
    "(" SQ_U_BRANCHES("SELECT " SQ_U_HOUR " AS h, " SQ_U_AGG, " GROUP BY " SQ_U_HOUR,              \
                      " UNION ALL ", SQ_U_TS_HOUR) ")"
#define SQ_U_SUM_HOUR                                                                              \
    "SELECT h || ':00:00+00:00', n, e, pt, ct, tt, cs FROM " SQ_U_HOURS " ORDER BY h"
/* Days from the hours: the second grouping sorts at most 24 rows a day. */
#define SQ_U_SUM_DAY                                                                               \
    "SELECT substr(h, 1, 10) AS k, sum(n), sum(e), sum(pt), sum(ct), sum(tt), total(cs) "          \
    "FROM " SQ_U_HOURS " GROUP BY k ORDER BY k"

/* Sums per value of column col, by cost, then requests, then key (NULL last). */
#define SQ_U_SUM_COL(col)                                                                          \
    "SELECT * FROM (" SQ_U_BRANCHES("SELECT " col " AS k, " SQ_U_AGG, " GROUP BY " col,            \
                                    " UNION ALL ",                                                 \
                                    SQ_U_TS_SCAN) ") ORDER BY cs DESC, n DESC, k IS NULL, k"

#endif
