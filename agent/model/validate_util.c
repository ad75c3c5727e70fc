/* Field helpers of the validator: one place for type checks, bounds,
 * defaults and the wording of error messages. */
#include "validate_util.h"
#include "wv/base.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void wv_model__join(char out[256], const char *p, const char *k) {
    if (*p && *k)
        snprintf(out, 256, "%s.%s", p, k);
    else
        snprintf(out, 256, "%s", *p ? p : k);
}

int wv_model__fail(wv_verr *err, const char *p, const char *k, const char *fmt, ...) {
    if (!err)
        return WV_ERR_INVAL;
    wv_model__join(err->field, p, k);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return WV_ERR_INVAL;
}

/* The upstream YAML config's names for canonical fields, and where each
 * belongs (docs/CONFIG.md's table): a JSON body written from a YAML file
 * gets a hint instead of a bare "unknown field". {yaml name, field, where}:
 * the hint applies when field is a valid key here. */
static const char *const upstream_names[][3] = {
    {"appName", "name", "the YAML config's localExposedApps[].appName"},
    {"id", "name", "the seed's localExposedApps[].id"},
    {"socket", "appSocket", "the seed's localExposedApps[].socket"},
    {"remoteAppId", "appName", "the seed's remoteApps[].remoteAppId"},
    {"localExposedApps", "exposedApps", "the YAML config's top-level list"},
    {"localSockets", "tunnelSockets", "the YAML config's tunnel.localSockets"},
    {"tunnel", "tunnelSockets", "the YAML config's tunnel.localSockets"},
    {"siteName", "site", "in the document, siteName is site.siteName"},
    {"messageChannel", "site", "in the document, it is site.messageChannel"},
    {"crypto", "site", "in the document, crypto.key is site.networkKey"},
    {"logger", "site", "in the document, it is site.logger"},
    {"restfulApi", "site", "in the document, it is site.restfulApi"},
    {"crypto", "networkKey", "the YAML config's crypto.key"},
    {"cryptoKey", "networkKey", "the seed's messageChannel.cryptoKey"},
    {"key", "networkKey", "the YAML config's crypto.key"},
    {"mqtt", "brokers", "the YAML config's messageChannel.mqtt: its fields are here, brokerServer is brokers"},
    {"brokerServer", "brokers", "the YAML config's messageChannel.mqtt.brokerServer"},
    {"brokerServers", "brokers", "the YAML config's messageChannel.mqtt.brokerServers"},
};

static bool in_keys(const char *const *keys, const char *k) {
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0)
            return true;
    return false;
}

int wv_model__keys(json_t *o, const char *p, const char *const *keys, wv_verr *err) {
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (in_keys(keys, key))
            continue;
        /* Echo at most 64 bytes of an unknown key: it is attacker input. */
        char k[80];
        snprintf(k, sizeof(k), "%.64s", key);
        for (size_t i = 0; keys[i]; i++)
            if (strcasecmp(keys[i], key) == 0)
                return wv_model__fail(err, p, k, "unknown field (did you mean \"%s\"?)",
                                      keys[i]);
        for (size_t i = 0; i < WV_COUNTOF(upstream_names); i++)
            if (strcmp(upstream_names[i][0], key) == 0 && in_keys(keys, upstream_names[i][1]))
                return wv_model__fail(err, p, k, "unknown field (did you mean \"%s\"? \"%s\" is %s)",
                                      upstream_names[i][1], k, upstream_names[i][2]);
        return wv_model__fail(err, p, k, "unknown field");
    }
    return 0;
}

int wv_model__str(json_t *o, const char *p, const char *k, const char *def, size_t min, size_t max,
                  const char **out, wv_verr *err) {
    json_t *v = json_object_get(o, k);
    if (!v) {
        if (!def)
            return wv_model__fail(err, p, k, "required");
        json_object_set_new(o, k, json_string(def));
        v = json_object_get(o, k);
    }
    if (!json_is_string(v))
        return wv_model__fail(err, p, k, "expected a string");
    size_t n = json_string_length(v);
    if (strlen(json_string_value(v)) != n)
        return wv_model__fail(err, p, k, "contains a NUL byte");
    if (n < min)
        return n == 0 ? wv_model__fail(err, p, k, "must not be empty")
                      : wv_model__fail(err, p, k, "too short (min %zu bytes)", min);
    if (n > max)
        return wv_model__fail(err, p, k, "too long (max %zu bytes)", max);
    *out = json_string_value(v);
    return 0;
}

int wv_model__name(json_t *o, const char *p, const char *k, wv_verr *err) {
    const char *s;
    if (wv_model__str(o, p, k, NULL, 1, 255, &s, err) < 0)
        return WV_ERR_INVAL;
    if (!wv_valid_name(s))
        return wv_model__fail(
            err, p, k,
            "invalid name \"%.64s\" (1..255 of [A-Za-z0-9._-], starting with a letter or digit)",
            s);
    return 0;
}

int wv_model__int(json_t *o, const char *p, const char *k, json_int_t def, json_int_t lo,
                  json_int_t hi, json_int_t *out, wv_verr *err) {
    json_t *v = json_object_get(o, k);
    if (!v) {
        json_object_set_new(o, k, json_integer(def));
        *out = def;
        return 0;
    }
    if (!json_is_integer(v))
        return wv_model__fail(err, p, k, "expected an integer");
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi)
        return wv_model__fail(err, p, k, "out of range (%lld..%lld)", (long long)lo, (long long)hi);
    *out = n;
    return 0;
}

int wv_model__bool(json_t *o, const char *p, const char *k, bool def, bool *out, wv_verr *err) {
    json_t *v = json_object_get(o, k);
    if (!v) {
        json_object_set_new(o, k, json_boolean(def));
        *out = def;
        return 0;
    }
    if (!json_is_boolean(v))
        return wv_model__fail(err, p, k, "expected a boolean");
    *out = json_is_true(v);
    return 0;
}

int wv_model__obj(json_t *o, const char *p, const char *k, bool create, json_t **out,
                  wv_verr *err) {
    json_t *v = json_object_get(o, k);
    if (!v) {
        if (!create)
            return wv_model__fail(err, p, k, "required");
        json_object_set_new(o, k, json_object());
        v = json_object_get(o, k);
    }
    if (!json_is_object(v))
        return wv_model__fail(err, p, k, "expected an object");
    *out = v;
    return 0;
}

int wv_model__arr(json_t *o, const char *p, const char *k, size_t min, size_t max, json_t **out,
                  wv_verr *err) {
    json_t *v = json_object_get(o, k);
    if (!v)
        return wv_model__fail(err, p, k, "required");
    if (!json_is_array(v))
        return wv_model__fail(err, p, k, "expected an array");
    size_t n = json_array_size(v);
    if (n < min)
        return wv_model__fail(err, p, k, "needs at least %zu entr%s", min, min == 1 ? "y" : "ies");
    if (n > max)
        return wv_model__fail(err, p, k, "too many entries (max %zu)", max);
    *out = v;
    return 0;
}

int wv_model__enum(json_t *o, const char *p, const char *k, const char *def,
                   const char *const *choices, int fold, const char **out, wv_verr *err) {
    const char *s;
    if (wv_model__str(o, p, k, def, 0, 64, &s, err) < 0)
        return WV_ERR_INVAL;
    for (size_t i = 0; choices[i]; i++) {
        bool eq = fold ? strcasecmp(s, choices[i]) == 0 : strcmp(s, choices[i]) == 0;
        if (!eq)
            continue;
        if (fold && strcmp(s, choices[i]) != 0)
            json_object_set_new(o, k, json_string(choices[i]));
        *out = choices[i];
        return 0;
    }
    char list[256] = "";
    for (size_t i = 0; choices[i]; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", choices[i]);
    }
    return wv_model__fail(err, p, k, "unsupported value \"%.64s\" (%s)", s, list);
}
