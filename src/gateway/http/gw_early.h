/*
 * Early answers from a complete request head (DESIGN.md §2.14): before the body of a request is
 * read, its credentials are checked against the route it asks for, so an unauthenticated request
 * costs no body buffering and no JSON parsing. The connection framer (gw_conn.c) calls
 * gw_early_check() through its limits' head_check hook, and turns a refusal into a body-less copy
 * of the head (gw_early_head_copy()) that the router answers with the handler's own 401.
 */
#ifndef GW_EARLY_H
#define GW_EARLY_H

#include <stddef.h>

struct evbuffer;

/*
 * gw_conn_limits.head_check: arg is the struct gw_app. head is a complete head (request line,
 * header lines, empty line) that the framer validated, len its length; borrowed. Returns 0 when
 * the request may go on (no key needed, a key that can pass, the gateway still starting, or
 * anything it does not recognise: the handler decides), or 401 (503 when a master-key route is
 * asked for and no master key is configured) when the request can never pass authentication.
 * Never blocks: the key lookup is in memory (acct_index).
 */
int gw_early_check(void *arg, const char *head, size_t len);

/*
 * Appends to dst a copy of head (len bytes, a validated complete head) without its body framing
 * and connection lines (Content-Length, Transfer-Encoding, Expect, Connection, Keep-Alive) nor
 * any line named marker; then "Content-Length: 0", "Connection: close", "<marker>: <value>" and
 * the empty line. Returns 0 or -1 (out of memory).
 */
int gw_early_head_copy(const char *head, size_t len, const char *marker, const char *value,
                       struct evbuffer *dst);

#endif
