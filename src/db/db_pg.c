/*
 * PostgreSQL backend: a small pool of non-blocking libpq connections driven by a private
 * event_base on the backend's own thread, plus a FIFO of operations waiting for a free
 * connection. Queries go out with PQsendQueryParams (bound parameters, text results);
 * compound queries run as BEGIN; statements; COMMIT on one connection. Results become the
 * SQLite backend's text cells (booleans "1"/"0", timestamps in util_ts_format() form) and are
 * posted to the caller's event_base with event_base_once(). A lost server fails every pending
 * operation through its callback and the pool reconnects with backoff.
 * The only file that includes libpq-fe.h.
 */
#include "db/db.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "db/db_pg.h"
#include "log.h"
#include "util.h"

/* Type OIDs from catalog/pg_type.h (not shipped by libpq-dev). */
#define PG_BOOLOID 16
#define PG_TEXTOID 25
#define PG_TIMESTAMPTZOID 1184

#define PG_BACKOFF_MIN_MS 100
#define PG_BACKOFF_MAX_MS 2000

#define PG_MAX_STMTS 4

/* One statement of a query: its text and which $N it references (bit N-1). */
struct pg_stmt {
    char *sql;
    unsigned used;
    int nparams; /* highest N referenced */
};

struct pg_plan {
    size_t n; /* statements; more than one means a transaction */
    struct pg_stmt st[PG_MAX_STMTS];
    int nparams; /* highest N over all statements */
};

struct pg_op {
    struct pg_op *next;
    enum db_query q;
    size_t n;
    char *vals[DB_MAX_PARAMS]; /* owned text form; NULL = SQL NULL */
    struct event_base *base;   /* borrowed: the caller keeps it alive */
    db_done_fn *cb;
    void *arg;
    struct db_result res; /* cells owned */
    char *error;          /* owned storage behind res.error */
    bool failed;
};

enum pc_state { PC_DOWN, PC_CONNECTING, PC_IDLE, PC_BUSY };

struct pg;

struct pg_conn {
    struct pg *pg;
    PGconn *c;
    enum pc_state state;
    struct event *ev; /* the socket, or NULL */
    evutil_socket_t ev_fd;
    short ev_what;
    struct event *timer; /* connect timeout (CONNECTING) or reconnect delay (DOWN) */
    int backoff_ms;
    struct pg_op *op; /* BUSY */
    size_t step;      /* BUSY: compound 0 BEGIN, 1..n statements, n+1 COMMIT */
    bool rolling_back;
};

struct pg {
    struct pg_conninfo ci; /* libpq parameters, pool size, connect timeout */
    struct pg_plan plans[DB_Q__COUNT];
    const char *migrate_target;

    struct event_base *base; /* the backend thread's loop */
    struct event *wake_ev;
    int wake_fd[2];
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu;
    struct pg_op *in_head, *in_tail; /* under mu: handed over by db_exec() */
    bool wake_pending, stopping;     /* under mu */

    /* Backend thread only. */
    struct pg_op *head, *tail; /* waiting for a connection */
    struct pg_conn *conns;
    bool stop_seen;
    bool down; /* no connection is up and the last attempt failed: fail new work at once */
    char down_msg[360];
    atomic_bool down_seen; /* down, for other threads (db_available()) */
};

/* ---- operations ---- */

static void pg_op_free(struct pg_op *op)
{
    if (op == NULL)
        return;
    for (size_t i = 0; i < DB_MAX_PARAMS; i++)
        free(op->vals[i]);
    db_result_clear(&op->res);
    free(op->error);
    free(op);
}

static void pg_op_fail(struct pg_op *op, const char *msg)
{
    if (op->failed)
        return; /* the first error explains the failure */
    db_result_clear(&op->res);
    free(op->error);
    op->error = strdup(msg);
    op->failed = true;
    op->res.status = -1;
    op->res.error = op->error != NULL ? op->error : "out of memory";
}

static void pg_trampoline(evutil_socket_t fd, short what, void *arg)
{
    struct pg_op *op = arg;

    (void)fd;
    (void)what;
    op->cb(&op->res, op->arg);
    pg_op_free(op);
}

/* Backend thread: hands the finished op to its caller's loop (or drops it when nobody listens). */
static void pg_deliver(struct pg_op *op)
{
    static const struct timeval zero_tv = {0, 0};

    if (op->failed)
        LOG_ERR("db: query %s failed: %s", db_query_name(op->q), op->res.error);
    else
        op->res.status = 0;
    if (op->cb == NULL) {
        pg_op_free(op);
        return;
    }
    if (event_base_once(op->base, -1, EV_TIMEOUT, pg_trampoline, op, &zero_tv) < 0) {
        LOG_ERR("db: cannot post the result of query %s; callback dropped", db_query_name(op->q));
        pg_op_free(op);
    }
}

/*
 * Copies a libpq message into dst on one line ("\n\t" and newlines become spaces, trailing
 * space dropped) with secrets masked by log_redact().
 */
void db_pg_clean_msg(char *dst, size_t dstlen, const char *msg)
{
    char tmp[512];
    size_t o = 0;

    for (const char *s = msg != NULL ? msg : ""; *s != '\0' && o + 1 < sizeof(tmp); s++) {
        char ch = (*s == '\n' || *s == '\t' || *s == '\r') ? ' ' : *s;

        if (ch == ' ' && (o == 0 || tmp[o - 1] == ' '))
            continue;
        tmp[o++] = ch;
    }
    while (o > 0 && tmp[o - 1] == ' ')
        o--;
    tmp[o] = '\0';
    log_redact(dst, dstlen, tmp);
}

/*
 * Converts PostgreSQL's ISO timestamptz output in UTC ("2025-11-07 16:41:44.4292+00") to
 * util_ts_format() form ("2025-11-07T16:41:44.429200+00:00"). Other shapes (infinity, BC,
 * a non-UTC session) are returned unchanged. Returns owned text or NULL (out of memory).
 */
static char *pg_ts_convert(const char *v)
{
    size_t n = strlen(v), i = 19, fd = 0;
    char out[48];

    if (n < 22 || n > 40 || v[10] != ' ' || v[13] != ':' || v[16] != ':')
        return strdup(v);
    memcpy(out, v, 19);
    out[10] = 'T';
    if (v[i] == '.') {
        for (i++; v[i] >= '0' && v[i] <= '9'; i++)
            fd++;
    }
    if (strcmp(v + i, "+00") != 0 && strcmp(v + i, "+00:00") != 0)
        return strdup(v);
    if (fd > 0 && fd <= 6 && strspn(v + 20, "0") < fd)
        snprintf(out + 19, sizeof(out) - 19, ".%.*s%.*s+00:00", (int)fd, v + 20, (int)(6 - fd),
                 "000000");
    else
        snprintf(out + 19, sizeof(out) - 19, "+00:00");
    return strdup(out);
}

/* Replaces op's rows with those of r, converting booleans and timestamps. */
static void pg_op_set_rows(struct pg_op *op, const PGresult *r)
{
    struct db_result *res = &op->res;
    size_t nrows = (size_t)PQntuples(r), ncols = (size_t)PQnfields(r);

    db_result_clear(res);
    res->ncols = ncols;
    if (nrows == 0)
        return;
    res->cells = calloc(nrows * ncols, sizeof(*res->cells));
    if (res->cells == NULL) {
        pg_op_fail(op, "out of memory");
        return;
    }
    res->nrows = nrows;
    for (size_t c = 0; c < ncols; c++) {
        Oid type = PQftype(r, (int)c);

        for (size_t row = 0; row < nrows; row++) {
            const char *v;
            char **cell = &res->cells[row * ncols + c];

            if (PQgetisnull(r, (int)row, (int)c))
                continue;
            v = PQgetvalue(r, (int)row, (int)c);
            if (type == PG_BOOLOID)
                *cell = strdup(v[0] == 't' ? "1" : "0");
            else if (type == PG_TIMESTAMPTZOID)
                *cell = pg_ts_convert(v);
            else
                *cell = strdup(v);
            if (*cell == NULL) {
                pg_op_fail(op, "out of memory");
                return;
            }
        }
    }
}

/* ---- connections ---- */

static void pg_conn_io(evutil_socket_t fd, short what, void *arg);
static void pg_conn_timer(evutil_socket_t fd, short what, void *arg);
static void pg_dispatch(struct pg *pg);

/* event_free() that accepts NULL and clears the pointer. */
static void pg_event_free(struct event **ev)
{
    if (*ev != NULL)
        event_free(*ev); /* deletes it first */
    *ev = NULL;
}

void db_pg_notice(void *arg, const char *msg)
{
    char line[256];

    (void)arg;
    db_pg_clean_msg(line, sizeof(line), msg);
    LOG_DEBUG("db: server notice: %s", line);
}

/* Watches the connection's current socket for what (re-read each time: it may change). */
static int pg_conn_watch(struct pg_conn *conn, short what)
{
    evutil_socket_t fd = PQsocket(conn->c);

    if (fd < 0)
        return -1;
    if (conn->ev != NULL && conn->ev_fd == fd && conn->ev_what == what)
        return 0;
    pg_event_free(&conn->ev);
    conn->ev = event_new(conn->pg->base, fd, (short)(what | EV_PERSIST), pg_conn_io, conn);
    if (conn->ev == NULL || event_add(conn->ev, NULL) < 0)
        return -1;
    conn->ev_fd = fd;
    conn->ev_what = what;
    return 0;
}

static bool pg_any_up(const struct pg *pg)
{
    for (int i = 0; i < pg->ci.npool; i++) {
        if (pg->conns[i].state == PC_IDLE || pg->conns[i].state == PC_BUSY)
            return true;
    }
    return false;
}

static void pg_fail_waiting(struct pg *pg, const char *msg)
{
    struct pg_op *op;

    while ((op = pg->head) != NULL) {
        pg->head = op->next;
        pg_op_fail(op, msg);
        pg_deliver(op);
    }
    pg->tail = NULL;
}

/*
 * Drops the connection (event_del before PQfinish closes the fd) and schedules a reconnect.
 * The op in flight fails with what; when no connection is left up, the pool is down and every
 * waiting op fails too.
 */
static void pg_conn_fail(struct pg_conn *conn, const char *what)
{
    struct pg *pg = conn->pg;
    char detail[256], msg[320];
    struct timeval tv;
    bool was_up = conn->state == PC_IDLE || conn->state == PC_BUSY;

    db_pg_clean_msg(detail, sizeof(detail), conn->c != NULL ? PQerrorMessage(conn->c) : "");
    snprintf(msg, sizeof(msg), "%s%s%s", what, detail[0] != '\0' ? ": " : "", detail);
    if (conn->op != NULL) {
        pg_op_fail(conn->op, msg);
        pg_deliver(conn->op);
        conn->op = NULL;
    }
    pg_event_free(&conn->ev); /* before PQfinish() closes the fd */
    PQfinish(conn->c);
    conn->c = NULL;
    conn->state = PC_DOWN;
    conn->backoff_ms = conn->backoff_ms == 0 ? PG_BACKOFF_MIN_MS : conn->backoff_ms * 2;
    if (conn->backoff_ms > PG_BACKOFF_MAX_MS)
        conn->backoff_ms = PG_BACKOFF_MAX_MS;
    tv.tv_sec = conn->backoff_ms / 1000;
    tv.tv_usec = (conn->backoff_ms % 1000) * 1000;
    evtimer_del(conn->timer);
    if (!pg->stop_seen)
        evtimer_add(conn->timer, &tv);
    if (!pg_any_up(pg)) {
        if (!pg->down || was_up)
            LOG_WARN("db: PostgreSQL unavailable: %s", msg);
        pg->down = true;
        atomic_store(&pg->down_seen, true);
        snprintf(pg->down_msg, sizeof(pg->down_msg), "database unavailable: %s", msg);
        pg_fail_waiting(pg, pg->down_msg);
    }
}

static void pg_conn_start(struct pg_conn *conn)
{
    struct pg *pg = conn->pg;
    struct timeval tv = {pg->ci.connect_timeout_ms / 1000,
                         (pg->ci.connect_timeout_ms % 1000) * 1000};

    conn->c = PQconnectStartParams(pg->ci.kw, pg->ci.val, 0);
    conn->state = PC_CONNECTING;
    if (conn->c == NULL || PQstatus(conn->c) == CONNECTION_BAD) {
        pg_conn_fail(conn, "cannot connect to PostgreSQL");
        return;
    }
    PQsetNoticeProcessor(conn->c, db_pg_notice, NULL);
    evtimer_del(conn->timer);
    evtimer_add(conn->timer, &tv);
    /* "Consider a return of PGRES_POLLING_WRITING initially" (libpq docs). */
    if (pg_conn_watch(conn, EV_WRITE) < 0)
        pg_conn_fail(conn, "cannot connect to PostgreSQL");
}

static void pg_conn_connect_step(struct pg_conn *conn)
{
    struct pg *pg = conn->pg;

    switch (PQconnectPoll(conn->c)) {
    case PGRES_POLLING_READING:
        if (pg_conn_watch(conn, EV_READ) < 0)
            pg_conn_fail(conn, "cannot connect to PostgreSQL");
        return;
    case PGRES_POLLING_WRITING:
        if (pg_conn_watch(conn, EV_WRITE) < 0)
            pg_conn_fail(conn, "cannot connect to PostgreSQL");
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        pg_conn_fail(conn, "cannot connect to PostgreSQL");
        return;
    }
    evtimer_del(conn->timer);
    if (PQsetnonblocking(conn->c, 1) != 0 || pg_conn_watch(conn, EV_READ) < 0) {
        pg_conn_fail(conn, "cannot connect to PostgreSQL");
        return;
    }
    conn->state = PC_IDLE;
    conn->backoff_ms = 0;
    if (pg->down)
        LOG_INFO("db: PostgreSQL connection re-established");
    pg->down = false;
    atomic_store(&pg->down_seen, false);
}

/* Flushes libpq's output; keeps EV_WRITE armed while some remains. Returns 0 or -1. */
static int pg_conn_flush(struct pg_conn *conn)
{
    int rc = PQflush(conn->c);

    if (rc < 0)
        return -1;
    return pg_conn_watch(conn, rc == 1 ? (short)(EV_READ | EV_WRITE) : EV_READ);
}

/* Sends the SQL of the op's current step. Returns 0, or -1 when the connection is unusable. */
static int pg_conn_send(struct pg_conn *conn)
{
    struct pg_op *op = conn->op;
    const struct pg_plan *plan = &conn->pg->plans[op->q];
    const struct pg_stmt *st = NULL;
    const char *sql = NULL, *vals[DB_MAX_PARAMS];
    Oid types[DB_MAX_PARAMS];
    int n = 0;

    if (conn->rolling_back)
        sql = "ROLLBACK";
    else if (plan->n == 1)
        st = &plan->st[0];
    else if (conn->step == 0)
        sql = "BEGIN";
    else if (conn->step <= plan->n)
        st = &plan->st[conn->step - 1];
    else
        sql = "COMMIT";
    if (st != NULL) {
        sql = st->sql;
        n = st->nparams;
        /* A parameter the statement skips has no context to infer a type from: say text. */
        for (int i = 0; i < n; i++) {
            bool used = (st->used >> i) & 1u;

            types[i] = used ? 0 : PG_TEXTOID;
            vals[i] = used ? op->vals[i] : NULL;
        }
    }
    if (!PQsendQueryParams(conn->c, sql, n, types, vals, NULL, NULL, 0))
        return -1;
    return pg_conn_flush(conn);
}

/* The op is done (ok or failed): the connection becomes idle. */
static void pg_conn_finish(struct pg_conn *conn)
{
    struct pg_op *op = conn->op;

    conn->op = NULL;
    conn->state = PC_IDLE;
    pg_deliver(op);
}

/* Starts op on an idle connection. */
static void pg_conn_begin(struct pg_conn *conn, struct pg_op *op)
{
    struct pg *pg = conn->pg;
    const struct pg_plan *plan = &pg->plans[op->q];
    char msg[128];

    if (plan->n == 1 && (size_t)plan->nparams != op->n) {
        snprintf(msg, sizeof(msg), "query %s takes %d parameters, got %zu", db_query_name(op->q),
                 plan->nparams, op->n);
        pg_op_fail(op, msg);
        pg_deliver(op);
        return;
    }
    if (plan->n > 1 && (size_t)plan->nparams > op->n) {
        pg_op_fail(op, "compound query got too few parameters");
        pg_deliver(op);
        return;
    }
    conn->op = op;
    conn->state = PC_BUSY;
    conn->step = 0;
    conn->rolling_back = false;
    if (pg_conn_send(conn) == 0)
        return;
    conn->op = NULL;
    if (PQstatus(conn->c) == CONNECTION_BAD) {
        /* Nothing reached the server: the op waits for another connection. */
        op->next = pg->head;
        pg->head = op;
        if (pg->tail == NULL)
            pg->tail = op;
        pg_conn_fail(conn, "database connection lost");
        return;
    }
    db_pg_clean_msg(msg, sizeof(msg), PQerrorMessage(conn->c));
    pg_op_fail(op, msg);
    conn->state = PC_IDLE;
    pg_deliver(op);
}

/* One result of the current step. */
static void pg_conn_result(struct pg_conn *conn, PGresult *r)
{
    struct pg_op *op = conn->op;
    ExecStatusType st = PQresultStatus(r);
    const char *cmd, *msg;
    char buf[512];

    if (op == NULL || conn->rolling_back || op->failed)
        return;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (PQnfields(r) > 0)
            pg_op_set_rows(op, r);
        cmd = PQcmdStatus(r);
        if (strncmp(cmd, "INSERT", 6) == 0 || strncmp(cmd, "UPDATE", 6) == 0 ||
            strncmp(cmd, "DELETE", 6) == 0 || strncmp(cmd, "MERGE", 5) == 0)
            op->res.changes = strtoll(PQcmdTuples(r), NULL, 10);
        return;
    }
    msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    db_pg_clean_msg(buf, sizeof(buf), msg != NULL ? msg : PQresultErrorMessage(r));
    pg_op_fail(op, buf[0] != '\0' ? buf : "query failed");
}

/* The current step's results are complete: send the next step or finish the op. */
static void pg_conn_step_done(struct pg_conn *conn)
{
    struct pg_op *op = conn->op;
    const struct pg_plan *plan = &conn->pg->plans[op->q];

    if (conn->rolling_back || plan->n == 1) {
        pg_conn_finish(conn);
        return;
    }
    if (op->failed) {
        /* BEGIN failing opened nothing, COMMIT failing closed the transaction already. */
        if (conn->step == 0 || conn->step > plan->n) {
            pg_conn_finish(conn);
            return;
        }
        conn->rolling_back = true;
    } else if (++conn->step > plan->n + 1) {
        pg_conn_finish(conn);
        return;
    }
    if (pg_conn_send(conn) < 0)
        pg_conn_fail(conn, "database connection lost");
}

static void pg_conn_read(struct pg_conn *conn)
{
    PGnotify *n;

    if (!PQconsumeInput(conn->c)) {
        pg_conn_fail(conn, "database connection lost");
        return;
    }
    while ((n = PQnotifies(conn->c)) != NULL)
        PQfreemem(n);
    while (conn->c != NULL && !PQisBusy(conn->c)) {
        PGresult *r = PQgetResult(conn->c);

        if (r == NULL) {
            if (conn->state != PC_BUSY)
                break;
            pg_conn_step_done(conn);
            continue;
        }
        pg_conn_result(conn, r);
        PQclear(r);
    }
    if (conn->c != NULL && PQstatus(conn->c) == CONNECTION_BAD)
        pg_conn_fail(conn, "database connection lost");
}

static void pg_conn_io(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *conn = arg;

    (void)fd;
    if (conn->state == PC_CONNECTING) {
        pg_conn_connect_step(conn);
    } else if (conn->c != NULL) {
        if ((what & EV_WRITE) && pg_conn_flush(conn) < 0)
            pg_conn_fail(conn, "database connection lost");
        if ((what & EV_READ) && conn->c != NULL)
            pg_conn_read(conn);
    }
    pg_dispatch(conn->pg);
}

static void pg_conn_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pg_conn *conn = arg;

    (void)fd;
    (void)what;
    if (conn->state == PC_CONNECTING)
        pg_conn_fail(conn, "cannot connect to PostgreSQL: timeout expired");
    else if (conn->state == PC_DOWN && !conn->pg->stop_seen)
        pg_conn_start(conn);
    pg_dispatch(conn->pg);
}

/* ---- the backend thread ---- */

/* Hands waiting ops to idle connections; exits the loop once stopping and drained. */
static void pg_dispatch(struct pg *pg)
{
    bool busy = false;

    for (int i = 0; i < pg->ci.npool && pg->head != NULL; i++) {
        struct pg_conn *conn = &pg->conns[i];

        while (pg->head != NULL && conn->state == PC_IDLE) {
            struct pg_op *op = pg->head;

            pg->head = op->next;
            if (pg->head == NULL)
                pg->tail = NULL;
            op->next = NULL;
            pg_conn_begin(conn, op);
        }
    }
    if (pg->down)
        pg_fail_waiting(pg, pg->down_msg);
    if (!pg->stop_seen)
        return;
    for (int i = 0; i < pg->ci.npool; i++)
        busy = busy || pg->conns[i].state == PC_BUSY ||
               (pg->head != NULL && pg->conns[i].state == PC_CONNECTING);
    if (pg->head == NULL && !busy)
        event_base_loopbreak(pg->base);
    else if (pg->head != NULL && !busy)
        pg_fail_waiting(pg, "database is closing");
}

static void pg_wake(evutil_socket_t fd, short what, void *arg)
{
    struct pg *pg = arg;
    struct pg_op *in;
    char buf[64];

    (void)what;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&pg->mu);
    in = pg->in_head;
    pg->in_head = pg->in_tail = NULL;
    pg->wake_pending = false;
    if (pg->stopping)
        pg->stop_seen = true;
    pthread_mutex_unlock(&pg->mu);
    while (in != NULL) {
        struct pg_op *next = in->next;

        in->next = NULL;
        if (pg->tail != NULL)
            pg->tail->next = in;
        else
            pg->head = in;
        pg->tail = in;
        in = next;
    }
    if (pg->stop_seen) {
        for (int i = 0; i < pg->ci.npool; i++) {
            if (pg->conns[i].state == PC_DOWN)
                evtimer_del(pg->conns[i].timer);
        }
    }
    pg_dispatch(pg);
}

static void *pg_thread(void *arg)
{
    struct pg *pg = arg;

    for (int i = 0; i < pg->ci.npool; i++)
        pg_conn_start(&pg->conns[i]);
    pg_dispatch(pg);
    event_base_dispatch(pg->base);
    for (int i = 0; i < pg->ci.npool; i++) {
        struct pg_conn *conn = &pg->conns[i];

        pg_event_free(&conn->ev);
        evtimer_del(conn->timer);
        if (conn->op != NULL) { /* not expected: the loop ends only when none is busy */
            pg_op_fail(conn->op, "database is closing");
            pg_deliver(conn->op);
            conn->op = NULL;
        }
        PQfinish(conn->c);
        conn->c = NULL;
    }
    pg_fail_waiting(pg, "database is closing");
    return NULL;
}

/* ---- db_ops ---- */

/*
 * Copy of text with every byte that is not part of valid UTF-8 replaced by U+FFFD. The server
 * refuses such bytes outright, where SQLite compares them: a lookup by a key taken from a
 * non-UTF-8 path then finds nothing on both backends, instead of failing here. Owned or NULL.
 */
static char *pg_text_utf8(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t len = strlen(text), o = 0;
    char *out = malloc(len * 3 + 1);

    if (out == NULL)
        return NULL;
    while (*s != '\0') {
        size_t n = util_utf8_len(s);

        if (n == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            s++;
            continue;
        }
        memcpy(out + o, s, n);
        o += n;
        s += n;
    }
    out[o] = '\0';
    return out;
}

/* Formats a parameter as the text libpq sends. Returns owned text, NULL for SQL NULL. */
static int pg_param_text(const struct db_value *v, char **out)
{
    char buf[64];

    *out = NULL;
    switch (v->type) {
    case DB_T_NULL:
        return 0;
    case DB_T_TEXT:
        if (v->u.s == NULL)
            return 0;
        *out = pg_text_utf8(v->u.s);
        break;
    case DB_T_INT:
        snprintf(buf, sizeof(buf), "%lld", (long long)v->u.i);
        *out = strdup(buf);
        break;
    case DB_T_REAL:
        /* Shortest form that reads back to the same double. */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, v->u.d);
            if (strtod(buf, NULL) == v->u.d)
                break;
        }
        *out = strdup(buf);
        break;
    case DB_T_BOOL:
        *out = strdup(v->u.b ? "1" : "0");
        break;
    }
    return *out != NULL ? 0 : -1;
}

static int pg_exec(struct db *db, struct event_base *base, enum db_query q,
                   const struct db_params *p, db_done_fn *cb, void *arg)
{
    struct pg *pg = db_backend(db);
    struct pg_op *op = calloc(1, sizeof(*op));

    if (op == NULL)
        goto oom;
    op->q = q;
    op->base = base;
    op->cb = cb;
    op->arg = arg;
    if (p != NULL) {
        op->n = p->n;
        for (size_t i = 0; i < p->n; i++) {
            if (pg_param_text(&p->v[i], &op->vals[i]) < 0)
                goto oom;
        }
    }
    pthread_mutex_lock(&pg->mu);
    if (pg->stopping) {
        pthread_mutex_unlock(&pg->mu);
        pg_op_free(op);
        return -1;
    }
    if (pg->in_tail != NULL)
        pg->in_tail->next = op;
    else
        pg->in_head = op;
    pg->in_tail = op;
    if (!pg->wake_pending) {
        pg->wake_pending = true;
        if (write(pg->wake_fd[1], "w", 1) < 0 && errno != EAGAIN)
            LOG_ERR("db: cannot wake the PostgreSQL thread: %s", strerror(errno));
    }
    pthread_mutex_unlock(&pg->mu);
    return 0;
oom:
    LOG_ERR("db: out of memory queueing query %s", db_query_name(q));
    pg_op_free(op);
    return -1;
}

/* ---- migrations (db_pg_migrate.c) ---- */

static int pg_migrate(struct db *db, const char *target, char *err, size_t errlen)
{
    struct pg *pg = db_backend(db);

    return db_pg_migrate(&pg->ci, db, target, err, errlen);
}

/* ---- open and close ---- */

/* Splits each query into statements and records the parameters each one references. */
static int pg_plans_build(struct pg *pg)
{
    for (size_t q = 0; q < DB_Q__COUNT; q++) {
        struct pg_plan *plan = &pg->plans[q];
        const char *s = db_pg_sql[q];

        while (*s != '\0') {
            size_t len = strcspn(s, ";");
            struct pg_stmt *st;
            bool quoted = false;

            if (plan->n == PG_MAX_STMTS)
                return -1;
            st = &plan->st[plan->n++];
            st->sql = strndup(s, len);
            if (st->sql == NULL)
                return -1;
            for (size_t i = 0; i < len; i++) {
                if (s[i] == '\'')
                    quoted = !quoted;
                if (quoted || s[i] != '$' || s[i + 1] < '1' || s[i + 1] > '9')
                    continue;
                int n = (int)strtol(s + i + 1, NULL, 10);
                if (n > DB_MAX_PARAMS)
                    return -1;
                st->used |= 1u << (n - 1);
                if (n > st->nparams)
                    st->nparams = n;
                if (n > plan->nparams)
                    plan->nparams = n;
            }
            s += len;
            if (*s == ';')
                s++;
        }
    }
    return 0;
}

static void pg_free(struct pg *pg)
{
    if (pg == NULL)
        return;
    if (pg->conns != NULL) {
        for (int i = 0; i < pg->ci.npool; i++)
            pg_event_free(&pg->conns[i].timer);
    }
    free(pg->conns);
    pg_event_free(&pg->wake_ev);
    if (pg->base != NULL)
        event_base_free(pg->base);
    for (int i = 0; i < 2; i++) {
        if (pg->wake_fd[i] >= 0)
            close(pg->wake_fd[i]);
    }
    for (size_t q = 0; q < DB_Q__COUNT; q++) {
        for (size_t i = 0; i < pg->plans[q].n; i++)
            free(pg->plans[q].st[i].sql);
    }
    pthread_mutex_destroy(&pg->mu);
    db_pg_conninfo_free(&pg->ci);
    free(pg);
}

/*
 * Validates the URL and starts the backend thread, which connects the pool in the background:
 * an unreachable server is reported by the first queries (and by db_migrate()), not here.
 */
static int pg_open(struct db *db, const char *url, char *err, size_t errlen)
{
    struct pg *pg = calloc(1, sizeof(*pg));

    if (pg == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pg->wake_fd[0] = pg->wake_fd[1] = -1;
    pthread_mutex_init(&pg->mu, NULL);
    if (db_pg_conninfo_build(&pg->ci, url, err, errlen) < 0)
        goto fail;
    if (pg_plans_build(pg) < 0) {
        snprintf(err, errlen, "PostgreSQL backend: bad query table");
        goto fail;
    }
    pg->conns = calloc((size_t)pg->ci.npool, sizeof(*pg->conns));
    pg->base = event_base_new();
    if (pg->conns == NULL || pg->base == NULL || pipe(pg->wake_fd) < 0 ||
        fcntl(pg->wake_fd[0], F_SETFL, O_NONBLOCK) < 0 ||
        fcntl(pg->wake_fd[1], F_SETFL, O_NONBLOCK) < 0 ||
        fcntl(pg->wake_fd[0], F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(pg->wake_fd[1], F_SETFD, FD_CLOEXEC) < 0 ||
        (pg->wake_ev = event_new(pg->base, pg->wake_fd[0], EV_READ | EV_PERSIST, pg_wake, pg)) ==
            NULL ||
        event_add(pg->wake_ev, NULL) < 0) {
        snprintf(err, errlen, "cannot set up the PostgreSQL backend");
        goto fail;
    }
    for (int i = 0; i < pg->ci.npool; i++) {
        pg->conns[i].pg = pg;
        pg->conns[i].timer = evtimer_new(pg->base, pg_conn_timer, &pg->conns[i]);
        if (pg->conns[i].timer == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (pthread_create(&pg->thread, NULL, pg_thread, pg) != 0) {
        snprintf(err, errlen, "cannot start the database thread");
        goto fail;
    }
    pg->thread_started = true;
    db_set_backend(db, pg);
    LOG_DEBUG("db: PostgreSQL backend started (pool of %d)", pg->ci.npool);
    return 0;
fail:
    pg_free(pg);
    return -1;
}

static void pg_close(struct db *db)
{
    struct pg *pg = db_backend(db);

    if (pg == NULL)
        return;
    pthread_mutex_lock(&pg->mu);
    pg->stopping = true;
    if (!pg->wake_pending) {
        pg->wake_pending = true;
        if (write(pg->wake_fd[1], "s", 1) < 0 && errno != EAGAIN)
            LOG_ERR("db: cannot wake the PostgreSQL thread: %s", strerror(errno));
    }
    pthread_mutex_unlock(&pg->mu);
    if (pg->thread_started)
        pthread_join(pg->thread, NULL); /* returns once every queued op was answered */
    db_set_backend(db, NULL);
    pg_free(pg);
}

static bool pg_available(struct db *db)
{
    const struct pg *pg = db_backend(db);

    return !atomic_load(&pg->down_seen);
}

const struct db_ops db_pg_ops = {
    .name = "postgresql",
    .open = pg_open,
    .migrate = pg_migrate,
    .exec = pg_exec,
    .close = pg_close,
    .available = pg_available,
};
