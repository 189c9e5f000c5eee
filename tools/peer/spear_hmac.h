// Spear Edge frame authentication for constrained peers (C99, no malloc, no I/O): SHA-256,
// HMAC-SHA256 and the auth trailer of authenticated frame links.
/*
 * Meant to be copied into a microcontroller project as is (with spear_hmac.c); spearlet
 * compiles this same file, so both ends share one MAC construction. It needs only
 * <stddef.h> and <stdint.h>; a SHA-256 context is 108 bytes, an HMAC context 216.
 *
 * The protocol (docs/constrained-peers.md, "Authenticated links"):
 *   peer      -> appliance: Frame{link_hello{key_id, peer_nonce[16]}}        (no trailer)
 *   appliance -> peer     : Frame{link_challenge{link_nonce[16]}} + trailer(counter 0)
 *   then every frame either way: Frame message + trailer(counter), counter strictly
 *   increasing per direction (peer from 1; appliance from 1 after the challenge).
 * The trailer is the last SPEAR_AUTH_TRAILER_BYTES of the message and is itself protobuf
 * (Frame field 15, FrameAuth{fixed32 counter = 1; bytes mac = 2 (16 bytes)}), so a nanopb
 * decoder reads it as an ordinary field. The MAC is HMAC-SHA256 truncated to 16 bytes over
 *   peer_nonce(16) | link_nonce(16) | direction(1: 'P' from the peer, 'A' from the appliance)
 *   | counter (4 bytes, little-endian) | the message before the trailer.
 */
#ifndef SPEAR_HMAC_H
#define SPEAR_HMAC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPEAR_SHA256_BYTES 32u
#define SPEAR_SHA256_BLOCK 64u

typedef struct {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[SPEAR_SHA256_BLOCK];
    size_t used; /* bytes in block */
} spear_sha256_t;

void spear_sha256_init(spear_sha256_t* c);
void spear_sha256_update(spear_sha256_t* c, const uint8_t* data, size_t len);
void spear_sha256_final(spear_sha256_t* c, uint8_t out[SPEAR_SHA256_BYTES]);

typedef struct {
    spear_sha256_t inner;
    spear_sha256_t outer;
} spear_hmac_t;

/* Any key length (a key over 64 bytes is hashed first, as RFC 2104 says). */
void spear_hmac_init(spear_hmac_t* c, const uint8_t* key, size_t key_len);
void spear_hmac_update(spear_hmac_t* c, const uint8_t* data, size_t len);
void spear_hmac_final(spear_hmac_t* c, uint8_t out[SPEAR_SHA256_BYTES]);
void spear_hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* data, size_t len,
                       uint8_t out[SPEAR_SHA256_BYTES]);

/* 1 when the n bytes are equal; the time taken does not depend on where they differ. */
int spear_equal_ct(const uint8_t* a, const uint8_t* b, size_t n);

/* --- authenticated frame links -------------------------------------------------------- */

#define SPEAR_AUTH_NONCE_BYTES 16u
#define SPEAR_AUTH_MAC_BYTES 16u
/* 0x7A 0x17 | 0x0D counter(4, LE) | 0x12 0x10 mac(16) */
#define SPEAR_AUTH_TRAILER_BYTES 25u
#define SPEAR_AUTH_FROM_PEER 'P'
#define SPEAR_AUTH_FROM_APPLIANCE 'A'

/* One end's view of an authenticated link: the key, both nonces and both counters. */
typedef struct {
    const uint8_t* key; /* the pre-shared key (not copied: keep it alive) */
    size_t key_len;
    uint8_t peer_nonce[SPEAR_AUTH_NONCE_BYTES];
    uint8_t link_nonce[SPEAR_AUTH_NONCE_BYTES];
    uint8_t own_direction; /* SPEAR_AUTH_FROM_PEER on a peer, ..._APPLIANCE on spearlet */
    uint32_t sent;         /* counter of the last frame sealed */
    uint32_t received;     /* counter of the last frame accepted */
} spear_auth_t;

typedef enum {
    SPEAR_AUTH_OK = 0,
    SPEAR_AUTH_MISSING = 1, /* no trailer: shorter than one, or not the trailer's bytes */
    SPEAR_AUTH_BAD_MAC = 2, /* wrong key, tampered, or from another link (nonce) */
    SPEAR_AUTH_REPLAY = 3,  /* the MAC verifies but the counter is not above the last one */
    SPEAR_AUTH_EXHAUSTED = 4 /* seal: the counter would wrap; start a new link */
} spear_auth_status_t;

/* Starts a link's state: counters at 0, nonces copied. */
void spear_auth_init(spear_auth_t* a, const uint8_t* key, size_t key_len,
                     const uint8_t peer_nonce[SPEAR_AUTH_NONCE_BYTES],
                     const uint8_t link_nonce[SPEAR_AUTH_NONCE_BYTES], uint8_t own_direction);

/* The truncated MAC of `msg` as sent by `direction` with `counter`. */
void spear_auth_mac(const spear_auth_t* a, uint8_t direction, uint32_t counter,
                    const uint8_t* msg, size_t len, uint8_t out[SPEAR_AUTH_MAC_BYTES]);

/* Writes the trailer for `msg` (len bytes) with `counter` at trailer[0..24]. */
void spear_auth_write_trailer(const spear_auth_t* a, uint8_t direction, uint32_t counter,
                              const uint8_t* msg, size_t len,
                              uint8_t trailer[SPEAR_AUTH_TRAILER_BYTES]);

/* Seals an outgoing message in place: buf holds `len` message bytes and has room for
 * SPEAR_AUTH_TRAILER_BYTES more; takes the next counter. Returns the new length, 0 when the
 * room is short or the counter is exhausted. */
size_t spear_auth_seal(spear_auth_t* a, uint8_t* buf, size_t len, size_t cap);

/* Checks the appliance's link_challenge message (trailer with counter 0). A peer calls it
 * right after spear_auth_init with the nonce the challenge carries. */
spear_auth_status_t spear_auth_open_challenge(const spear_auth_t* a, const uint8_t* msg,
                                              size_t len, size_t* body_len);

/* Checks an incoming message (trailer included) from the other end. On SPEAR_AUTH_OK,
 * *body_len is the length of the message before the trailer and the counter is recorded;
 * on any error nothing changes. `counter` (optional) receives the frame's counter. */
spear_auth_status_t spear_auth_open(spear_auth_t* a, const uint8_t* msg, size_t len,
                                    size_t* body_len, uint32_t* counter);

#ifdef __cplusplus
}
#endif

#endif /* SPEAR_HMAC_H */
