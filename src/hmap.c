/*
 * Open-addressing hash map with tombstones; grows at 70% load (tombstones included).
 */
#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct hmap_slot {
    char *key; /* NULL: empty; HMAP_TOMB: deleted */
    void *value;
    uint64_t hash;
};

struct hmap {
    struct hmap_slot *slots;
    size_t cap;         /* power of two */
    size_t count, used; /* used = count + tombstones */
};

static char hmap_tomb_mark;
#define HMAP_TOMB (&hmap_tomb_mark)

static uint64_t hmap_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct hmap *hmap_new(void)
{
    struct hmap *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    m->cap = 16;
    m->slots = calloc(m->cap, sizeof(*m->slots));
    if (m->slots == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

void hmap_free(struct hmap *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key != NULL && m->slots[i].key != HMAP_TOMB)
            free(m->slots[i].key);
    free(m->slots);
    free(m);
}

/* Slot holding key, or NULL. */
static struct hmap_slot *hmap_find(const struct hmap *m, const char *key, uint64_t h)
{
    for (size_t i = h & (m->cap - 1), n = 0; n < m->cap; i = (i + 1) & (m->cap - 1), n++) {
        struct hmap_slot *s = &m->slots[i];
        if (s->key == NULL)
            return NULL;
        if (s->key != HMAP_TOMB && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

void *hmap_get(const struct hmap *m, const char *key)
{
    struct hmap_slot *s = hmap_find(m, key, hmap_hash(key));

    return s != NULL ? s->value : NULL;
}

static int hmap_grow(struct hmap *m)
{
    size_t ncap = m->count * 2 >= m->cap / 2 ? m->cap * 2 : m->cap; /* else just purge tombs */
    struct hmap_slot *ns = calloc(ncap, sizeof(*ns));

    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct hmap_slot *s = &m->slots[i];
        size_t j;
        if (s->key == NULL || s->key == HMAP_TOMB)
            continue;
        for (j = s->hash & (ncap - 1); ns[j].key != NULL; j = (j + 1) & (ncap - 1))
            ;
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->count;
    return 0;
}

int hmap_put(struct hmap *m, const char *key, void *value)
{
    uint64_t h = hmap_hash(key);
    struct hmap_slot *s = hmap_find(m, key, h);
    char *copy;
    size_t i;

    if (s != NULL) {
        s->value = value;
        return 0;
    }
    if ((m->used + 1) * 10 > m->cap * 7 && hmap_grow(m) < 0)
        return -1;
    copy = strdup(key);
    if (copy == NULL)
        return -1;
    for (i = h & (m->cap - 1); m->slots[i].key != NULL && m->slots[i].key != HMAP_TOMB;
         i = (i + 1) & (m->cap - 1))
        ;
    if (m->slots[i].key == NULL)
        m->used++;
    m->slots[i] = (struct hmap_slot){.key = copy, .value = value, .hash = h};
    m->count++;
    return 0;
}

void *hmap_del(struct hmap *m, const char *key)
{
    struct hmap_slot *s = hmap_find(m, key, hmap_hash(key));
    void *v;

    if (s == NULL)
        return NULL;
    v = s->value;
    free(s->key);
    s->key = HMAP_TOMB;
    s->value = NULL;
    m->count--;
    return v;
}

size_t hmap_count(const struct hmap *m)
{
    return m->count;
}

void hmap_each(const struct hmap *m, void (*fn)(const char *key, void *value, void *arg), void *arg)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key != NULL && m->slots[i].key != HMAP_TOMB)
            fn(m->slots[i].key, m->slots[i].value, arg);
}
