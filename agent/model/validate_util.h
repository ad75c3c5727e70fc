#ifndef WV_VALIDATE_UTIL_H
#define WV_VALIDATE_UTIL_H
/* Field helpers of the validator (internal to validate*.c). Each takes the
 * object o, the JSON path p of o ("" at the root) and a key k; on failure it
 * fills err with the path "p.k" and a reason and returns WV_ERR_INVAL.
 * Absent fields with a default get the default written into o, which is how
 * normalization fills defaults. Returned strings point into o. */
#include "wv/model.h"

#include <jansson.h>

/* out = p + "." + k (or just one of them when the other is empty). */
void wv_model__join(char out[256], const char *p, const char *k);
int wv_model__fail(wv_verr *err, const char *p, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Refuses any key of o not in the NULL-terminated list keys. */
int wv_model__keys(json_t *o, const char *p, const char *const *keys, wv_verr *err);
/* A required string following the name rule (wv_valid_name). */
int wv_model__name(json_t *o, const char *p, const char *k, wv_verr *err);
/* A string of min..max bytes without NUL; def NULL = required. */
int wv_model__str(json_t *o, const char *p, const char *k, const char *def, size_t min, size_t max,
                  const char **out, wv_verr *err);
int wv_model__int(json_t *o, const char *p, const char *k, json_int_t def, json_int_t lo,
                  json_int_t hi, json_int_t *out, wv_verr *err);
int wv_model__bool(json_t *o, const char *p, const char *k, bool def, bool *out, wv_verr *err);
/* An object member; absent => created empty when create, else required. */
int wv_model__obj(json_t *o, const char *p, const char *k, bool create, json_t **out, wv_verr *err);
/* A required array of min..max entries. */
int wv_model__arr(json_t *o, const char *p, const char *k, size_t min, size_t max, json_t **out,
                  wv_verr *err);
/* One of choices; fold: 0 exact, 1 case-insensitive stored as given in
 * choices (upper), -1 likewise (lower). def NULL = required. */
int wv_model__enum(json_t *o, const char *p, const char *k, const char *def,
                   const char *const *choices, int fold, const char **out, wv_verr *err);

#endif
