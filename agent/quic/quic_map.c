/* The byte-keyed hash map used for CID routing and stream lookup. */
#include "quic_int.h"

#include <gnutls/crypto.h>
#include <stdlib.h>
#include <string.h>

struct wv_quic__map_ent {
    wv_quic__map_ent *next;
    void *val;
    uint8_t klen;
    uint8_t key[NGTCP2_MAX_CIDLEN];
};

void wv_quic__map_init(wv_quic__map *m) {
    m->nb = 16;
    m->n = 0;
    m->b = wv_calloc(m->nb, sizeof(*m->b));
    if (gnutls_rnd(GNUTLS_RND_NONCE, &m->seed, sizeof(m->seed)) < 0)
        m->seed = (uint64_t)(uintptr_t)m ^ 0x9e3779b97f4a7c15ull;
}

void wv_quic__map_dispose(wv_quic__map *m) {
    for (size_t i = 0; i < m->nb; i++) {
        wv_quic__map_ent *e = m->b[i];
        while (e) {
            wv_quic__map_ent *next = e->next;
            free(e);
            e = next;
        }
    }
    free(m->b);
    m->b = NULL;
    m->n = m->nb = 0;
}

/* FNV-1a over a seeded state, finished with a 64-bit mixer. */
static size_t hash(const wv_quic__map *m, const uint8_t *k, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull ^ m->seed;
    for (size_t i = 0; i < len; i++) {
        h ^= k[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (size_t)h;
}

static void grow(wv_quic__map *m) {
    size_t nb = m->nb * 2;
    wv_quic__map_ent **b = wv_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < m->nb; i++) {
        wv_quic__map_ent *e = m->b[i];
        while (e) {
            wv_quic__map_ent *next = e->next;
            size_t j = hash(m, e->key, e->klen) & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

void wv_quic__map_put(wv_quic__map *m, const uint8_t *key, size_t klen, void *val) {
    if (klen > NGTCP2_MAX_CIDLEN)
        return;
    size_t i = hash(m, key, klen) & (m->nb - 1);
    for (wv_quic__map_ent *e = m->b[i]; e; e = e->next)
        if (e->klen == klen && memcmp(e->key, key, klen) == 0) {
            e->val = val;
            return;
        }
    wv_quic__map_ent *e = wv_malloc(sizeof(*e));
    e->klen = (uint8_t)klen;
    memcpy(e->key, key, klen);
    e->val = val;
    e->next = m->b[i];
    m->b[i] = e;
    if (++m->n > m->nb)
        grow(m);
}

void *wv_quic__map_get(const wv_quic__map *m, const uint8_t *key, size_t klen) {
    size_t i = hash(m, key, klen) & (m->nb - 1);
    for (wv_quic__map_ent *e = m->b[i]; e; e = e->next)
        if (e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e->val;
    return NULL;
}

void wv_quic__map_del(wv_quic__map *m, const uint8_t *key, size_t klen, const void *val) {
    size_t i = hash(m, key, klen) & (m->nb - 1);
    for (wv_quic__map_ent **pe = &m->b[i]; *pe; pe = &(*pe)->next) {
        wv_quic__map_ent *e = *pe;
        if (e->klen == klen && memcmp(e->key, key, klen) == 0) {
            if (val && e->val != val)
                return;
            *pe = e->next;
            free(e);
            m->n--;
            return;
        }
    }
}
