/*
 * Compact JSON text of a jansson value, for the translated replies and stream events built as
 * trees on the request path. The bytes are those of json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
 * (the differential fuzz target fuzz_jwrite checks it): object members in insertion order, reals
 * as jansson writes them, strings escaped the same way. What it leaves out is jansson's cycle
 * check, which formats every container's address with snprintf() and enters it in a hash table
 * (most of json_dumps()'s cost on small documents): the trees given here are built by the gateway
 * and acyclic; depth is bounded instead (JW_MAX_DEPTH: twice what jansson parses, room for the
 * levels a translation adds).
 */
#ifndef GW_JWRITE_H
#define GW_JWRITE_H

#include <stddef.h>

#include <jansson.h>

#define JW_MAX_DEPTH 4096

/*
 * The text of v (NUL-terminated, malloc'd; its length in *len when len is not NULL), or NULL
 * when v is NULL, nests deeper than JW_MAX_DEPTH, or memory ran out.
 */
char *jw_dumps(const json_t *v, size_t *len);

#endif
