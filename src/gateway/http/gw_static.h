/*
 * The web assets embedded in the binary (web/ -> $(BUILD)/gen/web.c, written by
 * scripts/embed-web.c) and the handlers serving them: /ui/ (the dashboard), /docs (Swagger UI)
 * and /openapi.json, with content-hash caching, 304s, gzip for clients that take it and a strict
 * Content-Security-Policy. Nothing is read from the file system at run time.
 */
#ifndef GW_STATIC_H
#define GW_STATIC_H

#include <stddef.h>

#define GW_STATIC_HASH_LEN 12

/* One embedded file (the generated table, sorted by name). */
struct gw_static_file {
    const char *name;  /* path under web/: "ui/index.html", "vendor/x/y.js", "openapi.json" */
    const char *ctype; /* Content-Type */
    const char *hash;  /* first 12 hex digits of the SHA-256 of data (the served bytes) */
    const char *data;  /* the served bytes (an .html file: with its ?v=<hash> references) */
    size_t len;
    const char *gz; /* gzip -9 of data, or NULL when it would not save a tenth */
    size_t gz_len;
};

extern const struct gw_static_file gw_static_files[];
extern const size_t gw_static_nfiles;

/* The embedded file at name (a path under web/), or NULL. name: any string. */
const struct gw_static_file *gw_static_find(const char *name);

#endif
