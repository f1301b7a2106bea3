/*
 * Incremental newline-delimited JSON framing (Ollama's streams): bytes in, one callback per
 * complete line out. Pure; input may be split anywhere; a line longer than the limit fails the
 * stream instead of growing without bound. Lines are not parsed here (the dialect does).
 */
#ifndef PROV_NDJSON_H
#define PROV_NDJSON_H

#include <stdbool.h>
#include <stddef.h>

#define PROV_NDJSON_DEFAULT_MAX (1024 * 1024) /* bytes of one line */

/*
 * One complete line, without its "\n" (a trailing "\r" is dropped too), NUL-terminated at
 * line[len], borrowed for the call. Empty lines are skipped. Return 0 to go on; any other value
 * stops prov_ndjson_feed(), which returns it.
 */
typedef int prov_ndjson_fn(const char *line, size_t len, void *arg);

struct prov_ndjson {
    prov_ndjson_fn *fn;
    void *arg;
    size_t max;
    char *buf; /* the unfinished line */
    size_t len, cap;
    int failed; /* the value that stopped the parser, -1 on overflow or out of memory */
};

/* Prepares p (allocates nothing); max 0 selects PROV_NDJSON_DEFAULT_MAX. */
void prov_ndjson_init(struct prov_ndjson *p, size_t max, prov_ndjson_fn *fn, void *arg);

/* Frees p's buffer; p may be NULL. */
void prov_ndjson_cleanup(struct prov_ndjson *p);

/*
 * Feeds len bytes: every completed line is dispatched in order. Returns 0; -1 when a line
 * exceeds the limit, memory ran out, or an earlier call failed; or a callback's non-zero value.
 */
int prov_ndjson_feed(struct prov_ndjson *p, const void *buf, size_t len)
    __attribute__((warn_unused_result));

/*
 * Ends the stream: a last line without "\n" is dispatched (NDJSON writers may omit the final
 * newline). Returns that dispatch's result (0 when there was none). Resets p for another stream.
 */
int prov_ndjson_finish(struct prov_ndjson *p);

#endif
