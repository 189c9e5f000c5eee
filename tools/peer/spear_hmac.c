// Spear Edge frame authentication (C99, no malloc, no I/O): SHA-256, HMAC, the auth trailer.
/* Copy this file and spear_hmac.h into a firmware project as they are; see spear_hmac.h.
 * SHA-256 follows FIPS 180-4, HMAC RFC 2104; tests/unit/frame checks RFC 4231's vectors. */
#include "spear_hmac.h"

#include <string.h>

static const uint32_t k256[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u};

static uint32_t rotr(uint32_t x, unsigned n) {
    return (x >> n) | (x << (32u - n));
}

static void compress(spear_sha256_t* c, const uint8_t* p) {
    uint32_t w[64], a, b, cc, d, e, f, g, h, t1, t2;
    unsigned i;
    for (i = 0; i < 16; ++i)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; ++i) {
        const uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        const uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = c->h[0];
    b = c->h[1];
    cc = c->h[2];
    d = c->h[3];
    e = c->h[4];
    f = c->h[5];
    g = c->h[6];
    h = c->h[7];
    for (i = 0; i < 64; ++i) {
        t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k256[i] + w[i];
        t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

void spear_sha256_init(spear_sha256_t* c) {
    static const uint32_t h0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(c->h, h0, sizeof h0);
    c->total = 0;
    c->used = 0;
}

void spear_sha256_update(spear_sha256_t* c, const uint8_t* data, size_t len) {
    c->total += len;
    while (len > 0) {
        size_t take = SPEAR_SHA256_BLOCK - c->used;
        if (take > len)
            take = len;
        memcpy(c->block + c->used, data, take);
        c->used += take;
        data += take;
        len -= take;
        if (c->used == SPEAR_SHA256_BLOCK) {
            compress(c, c->block);
            c->used = 0;
        }
    }
}

void spear_sha256_final(spear_sha256_t* c, uint8_t out[SPEAR_SHA256_BYTES]) {
    const uint64_t bits = c->total * 8u;
    unsigned i;
    c->block[c->used++] = 0x80u;
    if (c->used > SPEAR_SHA256_BLOCK - 8u) {
        memset(c->block + c->used, 0, SPEAR_SHA256_BLOCK - c->used);
        compress(c, c->block);
        c->used = 0;
    }
    memset(c->block + c->used, 0, SPEAR_SHA256_BLOCK - 8u - c->used);
    for (i = 0; i < 8; ++i)
        c->block[SPEAR_SHA256_BLOCK - 1u - i] = (uint8_t)(bits >> (8u * i));
    compress(c, c->block);
    for (i = 0; i < 8; ++i) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void spear_hmac_init(spear_hmac_t* c, const uint8_t* key, size_t key_len) {
    uint8_t pad[SPEAR_SHA256_BLOCK];
    uint8_t hashed[SPEAR_SHA256_BYTES];
    unsigned i;
    if (key_len > SPEAR_SHA256_BLOCK) {
        spear_sha256_init(&c->inner);
        spear_sha256_update(&c->inner, key, key_len);
        spear_sha256_final(&c->inner, hashed);
        key = hashed;
        key_len = SPEAR_SHA256_BYTES;
    }
    memset(pad, 0, sizeof pad);
    if (key_len > 0)
        memcpy(pad, key, key_len);
    for (i = 0; i < SPEAR_SHA256_BLOCK; ++i)
        pad[i] ^= 0x36u;
    spear_sha256_init(&c->inner);
    spear_sha256_update(&c->inner, pad, sizeof pad);
    for (i = 0; i < SPEAR_SHA256_BLOCK; ++i)
        pad[i] ^= 0x36u ^ 0x5Cu;
    spear_sha256_init(&c->outer);
    spear_sha256_update(&c->outer, pad, sizeof pad);
    memset(pad, 0, sizeof pad);
    memset(hashed, 0, sizeof hashed);
}

void spear_hmac_update(spear_hmac_t* c, const uint8_t* data, size_t len) {
    spear_sha256_update(&c->inner, data, len);
}

void spear_hmac_final(spear_hmac_t* c, uint8_t out[SPEAR_SHA256_BYTES]) {
    uint8_t inner[SPEAR_SHA256_BYTES];
    spear_sha256_final(&c->inner, inner);
    spear_sha256_update(&c->outer, inner, sizeof inner);
    spear_sha256_final(&c->outer, out);
}

void spear_hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* data, size_t len,
                       uint8_t out[SPEAR_SHA256_BYTES]) {
    spear_hmac_t c;
    spear_hmac_init(&c, key, key_len);
    spear_hmac_update(&c, data, len);
    spear_hmac_final(&c, out);
}

int spear_equal_ct(const uint8_t* a, const uint8_t* b, size_t n) {
    uint8_t diff = 0;
    size_t i;
    for (i = 0; i < n; ++i)
        diff = (uint8_t)(diff | (a[i] ^ b[i]));
    return diff == 0;
}

/* --- authenticated frame links -------------------------------------------------------- */

void spear_auth_init(spear_auth_t* a, const uint8_t* key, size_t key_len,
                     const uint8_t peer_nonce[SPEAR_AUTH_NONCE_BYTES],
                     const uint8_t link_nonce[SPEAR_AUTH_NONCE_BYTES], uint8_t own_direction) {
    a->key = key;
    a->key_len = key_len;
    memcpy(a->peer_nonce, peer_nonce, SPEAR_AUTH_NONCE_BYTES);
    memcpy(a->link_nonce, link_nonce, SPEAR_AUTH_NONCE_BYTES);
    a->own_direction = own_direction;
    a->sent = 0;
    a->received = 0;
}

void spear_auth_mac(const spear_auth_t* a, uint8_t direction, uint32_t counter,
                    const uint8_t* msg, size_t len, uint8_t out[SPEAR_AUTH_MAC_BYTES]) {
    spear_hmac_t c;
    uint8_t head[1 + 4];
    uint8_t full[SPEAR_SHA256_BYTES];
    head[0] = direction;
    head[1] = (uint8_t)counter;
    head[2] = (uint8_t)(counter >> 8);
    head[3] = (uint8_t)(counter >> 16);
    head[4] = (uint8_t)(counter >> 24);
    spear_hmac_init(&c, a->key, a->key_len);
    spear_hmac_update(&c, a->peer_nonce, SPEAR_AUTH_NONCE_BYTES);
    spear_hmac_update(&c, a->link_nonce, SPEAR_AUTH_NONCE_BYTES);
    spear_hmac_update(&c, head, sizeof head);
    spear_hmac_update(&c, msg, len);
    spear_hmac_final(&c, full);
    memcpy(out, full, SPEAR_AUTH_MAC_BYTES);
}

void spear_auth_write_trailer(const spear_auth_t* a, uint8_t direction, uint32_t counter,
                              const uint8_t* msg, size_t len,
                              uint8_t trailer[SPEAR_AUTH_TRAILER_BYTES]) {
    trailer[0] = 0x7Au; /* Frame field 15, length-delimited */
    trailer[1] = 0x17u; /* 23 bytes of FrameAuth */
    trailer[2] = 0x0Du; /* FrameAuth.counter, fixed32 */
    trailer[3] = (uint8_t)counter;
    trailer[4] = (uint8_t)(counter >> 8);
    trailer[5] = (uint8_t)(counter >> 16);
    trailer[6] = (uint8_t)(counter >> 24);
    trailer[7] = 0x12u; /* FrameAuth.mac, length-delimited */
    trailer[8] = 0x10u; /* 16 bytes */
    spear_auth_mac(a, direction, counter, msg, len, trailer + 9);
}

size_t spear_auth_seal(spear_auth_t* a, uint8_t* buf, size_t len, size_t cap) {
    if (a->sent == UINT32_MAX || cap < len || cap - len < SPEAR_AUTH_TRAILER_BYTES)
        return 0;
    a->sent++;
    spear_auth_write_trailer(a, a->own_direction, a->sent, buf, len, buf + len);
    return len + SPEAR_AUTH_TRAILER_BYTES;
}

/* Checks the trailer's shape and MAC; the counter is not judged here. */
static spear_auth_status_t verify(const spear_auth_t* a, const uint8_t* msg, size_t len,
                                  size_t* body_len, uint32_t* counter) {
    const uint8_t* t;
    uint8_t mac[SPEAR_AUTH_MAC_BYTES];
    uint32_t n;
    const uint8_t from = a->own_direction == SPEAR_AUTH_FROM_PEER ? SPEAR_AUTH_FROM_APPLIANCE
                                                                  : SPEAR_AUTH_FROM_PEER;
    if (len < SPEAR_AUTH_TRAILER_BYTES)
        return SPEAR_AUTH_MISSING;
    t = msg + len - SPEAR_AUTH_TRAILER_BYTES;
    if (t[0] != 0x7Au || t[1] != 0x17u || t[2] != 0x0Du || t[7] != 0x12u || t[8] != 0x10u)
        return SPEAR_AUTH_MISSING;
    n = (uint32_t)t[3] | (uint32_t)t[4] << 8 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 24;
    spear_auth_mac(a, from, n, msg, len - SPEAR_AUTH_TRAILER_BYTES, mac);
    if (!spear_equal_ct(mac, t + 9, SPEAR_AUTH_MAC_BYTES))
        return SPEAR_AUTH_BAD_MAC;
    *body_len = len - SPEAR_AUTH_TRAILER_BYTES;
    *counter = n;
    return SPEAR_AUTH_OK;
}

spear_auth_status_t spear_auth_open_challenge(const spear_auth_t* a, const uint8_t* msg,
                                              size_t len, size_t* body_len) {
    uint32_t n = 0;
    size_t body = 0;
    const spear_auth_status_t st = verify(a, msg, len, &body, &n);
    if (st != SPEAR_AUTH_OK)
        return st;
    if (n != 0)
        return SPEAR_AUTH_REPLAY;
    *body_len = body;
    return SPEAR_AUTH_OK;
}

spear_auth_status_t spear_auth_open(spear_auth_t* a, const uint8_t* msg, size_t len,
                                    size_t* body_len, uint32_t* counter) {
    uint32_t n = 0;
    size_t body = 0;
    const spear_auth_status_t st = verify(a, msg, len, &body, &n);
    if (st != SPEAR_AUTH_OK)
        return st;
    if (n <= a->received) /* strictly increasing; gaps allowed (a serial frame can be lost) */
        return SPEAR_AUTH_REPLAY;
    a->received = n;
    *body_len = body;
    if (counter)
        *counter = n;
    return SPEAR_AUTH_OK;
}
