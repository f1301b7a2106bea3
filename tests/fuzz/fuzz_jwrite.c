/*
 * Fuzz target: jw_dumps() (src/jwrite.c) against json_dumps(JSON_COMPACT | JSON_ENCODE_ANY). The
 * input is parsed by jansson (any value, NUL bytes allowed in strings and keys, duplicate keys
 * as jansson keeps them); when it parses, both writers must give the same bytes, and the text
 * must parse back to an equal value.
 */
#include <stdint.h>

#include "fz.h"
#include "jwrite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err), *back;
    char *ours, *theirs;
    size_t len;

    if (v == NULL)
        return 0;
    ours = jw_dumps(v, &len);
    theirs = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    FZ_CHECK(ours != NULL && theirs != NULL);
    /* The text never holds a raw NUL (it is written \u0000). */
    FZ_CHECK(len == strlen(ours) && len == strlen(theirs) && memcmp(ours, theirs, len) == 0);
    back = json_loadb(ours, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    FZ_CHECK(back != NULL && json_equal(back, v));
    json_decref(back);
    free(ours);
    free(theirs);
    json_decref(v);
    return 0;
}
