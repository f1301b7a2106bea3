/*
 * Bounded JSON parsing. jansson keeps every value as its own heap object, so a 16 MiB body of
 * tiny values ("[1,1,1,...]") becomes ~300 MB of values. Before parsing, one pass over the bytes
 * bounds from above what jansson 2.14 will allocate for them (jmem_estimate()); a document over
 * its limit is refused without being parsed. (Failing jansson's allocations part-way is not an
 * option: its lexer does not survive a failed allocation.)
 */
#ifndef GW_JMEM_H
#define GW_JMEM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/*
 * An upper bound of the bytes jansson allocates, at its peak, to parse the len bytes at buf
 * (values, containers, keys, and the lexer's buffer). Exact for nothing, never below the truth;
 * for invalid JSON it is a bound of what the parse takes before it fails.
 */
size_t jmem_estimate(const char *buf, size_t len);

/* The parse memory allowed for a len-byte document: 64 MiB plus twice its size. */
size_t jmem_limit_for(size_t len);

/*
 * json_loadb() when jmem_estimate() is within limit. Returns the value (owned), or NULL: with
 * *over (may be NULL) true when the document was refused for its size (err then says so), else
 * jansson's error in err.
 */
json_t *jmem_loadb(const char *buf, size_t len, size_t flags, size_t limit, json_error_t *err,
                   bool *over);

/*
 * Gives freed heap memory back to the system after a request whose body was at least
 * JMEM_TRIM_MIN bytes (malloc_trim): the many small blocks of a large parse otherwise stay with
 * the process.
 */
#define JMEM_TRIM_MIN (1024 * 1024)
void jmem_trim_after(size_t len);

#endif
