#ifndef WV_PROTO_H
#define WV_PROTO_H
/* Sans-I/O codecs of the tunnel wire protocol (docs/PROTOCOL.md):
 *
 *  - frames: a 2-byte big-endian length, then that many bytes of a JSON
 *    object (at most WV_FRAME_MAX). The app-stream header {app, target?}
 *    and the status reply {status, code?, message?} are frames.
 *  - the membership proof sent on the control stream after the handshake.
 *
 * Pure functions over buffers; nothing here touches a socket. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define WV_FRAME_MAX 4096

/* Parses one frame from the start of buf. Returns 0 and sets *consumed and
 * *out (a new JSON object) when complete; WV_ERR_AGAIN when more bytes are
 * needed; WV_ERR_PROTO when the length is 0 or over WV_FRAME_MAX, or the
 * body is not a JSON object. */
int wv_frame_parse(const uint8_t *buf, size_t len, size_t *consumed, json_t **out);
/* Encodes obj as a frame into a new buffer (caller frees). WV_ERR_TOOBIG if
 * the JSON is over WV_FRAME_MAX. */
int wv_frame_encode(const json_t *obj, uint8_t **out, size_t *outlen);

/* App-stream header. app is a name (validate.h rule); target, when present,
 * is "IP:PORT" / "[v6]:PORT" for range apps. 0 or WV_ERR_PROTO with *why. */
struct wv_app_header {
    char app[256];
    char target[64]; /* "" when absent */
};
int wv_app_header_from_json(const json_t *obj, struct wv_app_header *h, const char **why);
json_t *wv_app_header_to_json(const struct wv_app_header *h);

/* Status reply codes. */
#define WV_STATUS_OK "ok"
#define WV_ERRC_UNKNOWN_APP "unknown-app"
#define WV_ERRC_TARGET_DENIED "target-denied"
#define WV_ERRC_CONNECT_REFUSED "connect-refused"
#define WV_ERRC_CONNECT_TIMEOUT "connect-timeout"
#define WV_ERRC_BAD_HEADER "bad-header"
#define WV_ERRC_LIMIT "limit"
/* {"status":"ok"} or {"status":"error","code":code,"message":message}. */
json_t *wv_status_json(const char *code, const char *message);
/* 0 for ok; WV_ERR_PROTO if malformed; otherwise WV_ERR_INVAL with *code
 * and *message pointing into obj (valid while obj lives). */
int wv_status_parse(const json_t *obj, const char **code, const char **message);

/* --- Membership proof (control stream) ------------------------------------
 * proof = "WVP1" | role (1: 0 client, 1 server) | name length (1) | name |
 *         mac (32)
 * mac   = HMAC-SHA256(auth_key, "wovenet/1 proof" | exporter (32) | role |
 *         name length | name)
 * exporter = TLS exporter of this connection, label WV_PROOF_LABEL, empty
 * context, 32 bytes: the proof cannot be replayed on another connection. */
#define WV_PROOF_LABEL "EXPORTER-wovenet-proof"
#define WV_PROOF_MAX (4 + 1 + 1 + 255 + 32)
enum wv_role { WV_ROLE_CLIENT = 0, WV_ROLE_SERVER = 1 };

/* Writes the proof into out (at least WV_PROOF_MAX bytes); returns its
 * length, or WV_ERR_INVAL for a name over 255 bytes. */
int wv_proof_build(const uint8_t auth_key[32], const uint8_t exporter[32], enum wv_role role,
                   const char *site, uint8_t *out);
/* Parses and verifies a proof (constant-time MAC check). Returns the number
 * of bytes consumed, WV_ERR_AGAIN if incomplete, WV_ERR_PROTO if malformed,
 * WV_ERR_AUTH if the MAC is wrong or the role is not want_role. On success
 * site (at least 256 bytes) receives the claimed, now proven, site name. */
int wv_proof_verify(const uint8_t auth_key[32], const uint8_t exporter[32], enum wv_role want_role,
                    const uint8_t *buf, size_t len, char *site);

#endif
