/*
 * A string-keyed hash map (open addressing, linear probing, FNV-1a), for the in-memory indexes
 * of the hot path. Not thread-safe: callers lock. Keys are copied; values are borrowed pointers.
 */
#ifndef GW_HMAP_H
#define GW_HMAP_H

#include <stddef.h>

struct hmap;

/* Returns owned map (free with hmap_free()) or NULL. */
struct hmap *hmap_new(void);

/* Frees the map and its key copies (not the values). NULL-safe. */
void hmap_free(struct hmap *m);

/* Value for key, or NULL. */
void *hmap_get(const struct hmap *m, const char *key);

/* Inserts or replaces; returns 0, or -1 when out of memory (map unchanged). value != NULL. */
int hmap_put(struct hmap *m, const char *key, void *value) __attribute__((warn_unused_result));

/* Removes key; returns the old value or NULL. */
void *hmap_del(struct hmap *m, const char *key);

size_t hmap_count(const struct hmap *m);

/* Calls fn(key, value, arg) for every entry, in no particular order. fn must not modify m. */
void hmap_each(const struct hmap *m, void (*fn)(const char *key, void *value, void *arg),
               void *arg);

#endif
