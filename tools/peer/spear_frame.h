// Spear Edge frame framing for constrained peers (C99, no malloc, no I/O): the API.
/*
 * Meant to be copied into a microcontroller project as is (with spear_frame.c): it has no
 * dependency but <stddef.h> and <stdint.h>, keeps all state in caller-provided memory, and
 * decodes one byte at a time so it can be fed from a UART interrupt or a socket read.
 *
 * Two framings (docs/constrained-peers.md has the bytes):
 *   TCP    : varint(length) message                  (what nanopb's pb_encode_delimited writes)
 *   serial : COBS(message crc_hi crc_lo) 0x00        (CRC-16/CCITT-FALSE over the message)
 * A serial decoder resynchronises at the next 0x00 after line noise; a bad frame is dropped
 * and counted. The message itself is a protobuf spear_edge.Frame (encode it with nanopb).
 * On an authenticated link (frame.peers) the message also ends with a 25-byte auth trailer:
 * copy spear_hmac.{c,h} too, seal after pb_encode (spear_auth_seal) and open before
 * pb_decode (spear_auth_open); the framing itself does not change.
 */
#ifndef SPEAR_FRAME_H
#define SPEAR_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes on the wire for a message of `len` bytes, worst case (size your buffers with these). */
#define SPEAR_FRAME_TCP_MAX(len) ((len) + 10u)
#define SPEAR_FRAME_SERIAL_MAX(len) ((len) + 2u + ((len) + 2u) / 254u + 1u + 1u)
/* The serial decoder keeps the COBS bytes of one frame: give it this much room. */
#define SPEAR_FRAME_SERIAL_BUFFER(len) ((len) + 2u + ((len) + 2u) / 254u + 1u)

typedef enum {
    SPEAR_FRAMING_TCP = 0,   /* varint length prefix */
    SPEAR_FRAMING_SERIAL = 1 /* COBS + CRC-16, 0x00-delimited */
} spear_framing_t;

typedef enum {
    SPEAR_FRAME_NEED_MORE = 0, /* keep feeding */
    SPEAR_FRAME_READY = 1,     /* a whole message is available */
    SPEAR_FRAME_DROPPED = 2,   /* a frame was dropped; see `error`, the decoder goes on */
    SPEAR_FRAME_FATAL = 3      /* TCP only: bad length prefix, reconnect */
} spear_frame_status_t;

typedef enum {
    SPEAR_FRAME_OK = 0,
    SPEAR_FRAME_ERR_OVERSIZE = 1, /* longer than the buffer allows */
    SPEAR_FRAME_ERR_VARINT = 2,   /* TCP: length prefix over 10 bytes */
    SPEAR_FRAME_ERR_COBS = 3,     /* serial: a code byte runs past the delimiter */
    SPEAR_FRAME_ERR_CRC = 4       /* serial: checksum mismatch or too short */
} spear_frame_error_t;

typedef struct {
    spear_framing_t framing;
    uint8_t* buf;         /* caller's memory */
    size_t cap;           /* TCP: largest message; serial: SPEAR_FRAME_SERIAL_BUFFER(largest) */
    size_t len;           /* bytes held in buf */
    uint64_t want;        /* TCP: length of the message being read */
    uint64_t skip;        /* TCP: bytes of an oversize message still to skip */
    uint8_t state;        /* internal */
    uint8_t varint_bytes; /* internal */
    spear_frame_error_t error; /* why the last frame was dropped */
    uint32_t frames;           /* messages delivered */
    uint32_t dropped;          /* frames dropped */
} spear_frame_decoder_t;

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xorout (0x29B1 for
 * "123456789"). */
uint16_t spear_crc16_ccitt_false(const uint8_t* data, size_t len);

/* Frame `msg` into `out` (capacity `cap`). Returns the bytes written, 0 if `out` is too small. */
size_t spear_frame_encode(spear_framing_t framing, const uint8_t* msg, size_t len, uint8_t* out,
                          size_t cap);

void spear_frame_decoder_init(spear_frame_decoder_t* d, spear_framing_t framing, uint8_t* buf,
                              size_t cap);

/* Feeds one byte. On SPEAR_FRAME_READY, *msg and *msg_len hold the message; it stays valid
 * until the next call. */
spear_frame_status_t spear_frame_decoder_push(spear_frame_decoder_t* d, uint8_t byte,
                                              const uint8_t** msg, size_t* msg_len);

#ifdef __cplusplus
}
#endif

#endif /* SPEAR_FRAME_H */
