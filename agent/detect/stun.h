#ifndef WV_STUN_H
#define WV_STUN_H
/* STUN (RFC 5389) Binding: the pure codec the public-address detector uses.
 * No I/O here; the detector sends the request from the tunnel socket itself
 * (wv_quic_endpoint_send_raw) so the mapped address is that socket's NAT
 * binding.
 *
 * Message layout: 2-byte type, 2-byte body length (a multiple of 4, not
 * counting the 20-byte header), the magic cookie 0x2112A442, a 96-bit
 * transaction id, then TLV attributes padded to 4 bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define WV_STUN_HEADER_LEN 20
#define WV_STUN_TXID_LEN 12
#define WV_STUN_MAGIC 0x2112A442u
/* Largest response we look at; real ones are well under 600 bytes. */
#define WV_STUN_MAX_MESSAGE 1500

/* Writes a Binding request with transaction id txid into buf (cap >= 20).
 * Returns its length (20) or WV_ERR_INVAL. */
int wv_stun_build_request(uint8_t *buf, size_t cap, const uint8_t txid[WV_STUN_TXID_LEN]);

/* Does this datagram look like a STUN message (first two bits 00, the
 * magic cookie, a length field matching len)? Cheap; for demultiplexing. */
bool wv_stun_is_message(const uint8_t *buf, size_t len);

/* Parses a Binding response to the request with txid. On success, *mapped
 * holds the XOR-MAPPED-ADDRESS (also the pre-RFC 0x8020 code), else the
 * MAPPED-ADDRESS, with its port. Returns 0; WV_ERR_NOTFOUND when the
 * message is a well-formed STUN message but not a response to txid (ignore
 * it); WV_ERR_AUTH when the server sent an error
 * response (its code in *err_code if not NULL); WV_ERR_PROTO for anything
 * malformed: truncated header or attribute, bad length or padding, wrong
 * cookie, an address attribute of the wrong size or family, or no address
 * at all. Never reads outside buf[0..len). */
int wv_stun_parse_response(const uint8_t *buf, size_t len, const uint8_t txid[WV_STUN_TXID_LEN],
                           struct sockaddr_storage *mapped, int *err_code);

#endif
