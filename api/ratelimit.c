#include "ratelimit.h"
#include "wv/base.h"

#include <stdlib.h>
#include <string.h>

struct bucket {
    char key[64];
    uint64_t stamp;  /* ms of the last refill */
    uint64_t tokens; /* in thousandths of a token, so slow rates refill smoothly */
    bool used;
};

struct wv_ratelimit {
    unsigned rate, burst;
    size_t n;
    struct bucket b[];
};

wv_ratelimit *wv_ratelimit_new(unsigned rate, unsigned burst, size_t slots) {
    if (rate == 0 || burst == 0 || slots == 0)
        return NULL;
    wv_ratelimit *rl = wv_calloc(1, sizeof(*rl) + slots * sizeof(struct bucket));
    rl->rate = rate;
    rl->burst = burst;
    rl->n = slots;
    return rl;
}

void wv_ratelimit_free(wv_ratelimit *rl) {
    free(rl);
}

static struct bucket *find(wv_ratelimit *rl, const char *key, uint64_t now) {
    struct bucket *lru = &rl->b[0];
    for (size_t i = 0; i < rl->n; i++) {
        struct bucket *b = &rl->b[i];
        if (b->used && strncmp(b->key, key, sizeof(b->key) - 1) == 0)
            return b;
        if (!b->used || (lru->used && b->stamp < lru->stamp))
            lru = b;
    }
    memset(lru, 0, sizeof(*lru));
    lru->used = true;
    strncpy(lru->key, key, sizeof(lru->key) - 1);
    lru->stamp = now;
    lru->tokens = (uint64_t)rl->burst * 1000;
    return lru;
}

bool wv_ratelimit_take(wv_ratelimit *rl, const char *key, uint64_t now_ms, uint64_t *retry_ms) {
    struct bucket *b = find(rl, key, now_ms);
    uint64_t cap = (uint64_t)rl->burst * 1000;
    if (now_ms > b->stamp) {
        /* rate tokens per second = rate thousandths per ms. */
        uint64_t add = (now_ms - b->stamp) * rl->rate;
        b->tokens = add >= cap - WV_MIN(b->tokens, cap) ? cap : b->tokens + add;
        b->stamp = now_ms;
    }
    if (b->tokens >= 1000) {
        b->tokens -= 1000;
        return true;
    }
    if (retry_ms)
        *retry_ms = (1000 - b->tokens + rl->rate - 1) / rl->rate;
    return false;
}
