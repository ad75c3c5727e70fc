#ifndef WV_EMBED_H
#define WV_EMBED_H
#include <stddef.h>

/* A file embedded at build time (see cmake/embed.cmake). Tables end with a
 * zeroed entry; data is NUL-terminated one byte past len. */
struct wv_embedded {
    const char *path;
    const unsigned char *data;
    size_t len;
};

extern const struct wv_embedded wv_migrations[]; /* schema/NNN_*.sql, sorted */
extern const struct wv_embedded wv_webassets[];  /* every file under web/, sorted by path */

#endif
