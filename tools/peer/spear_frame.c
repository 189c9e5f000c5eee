// Spear Edge frame framing for constrained peers (C99, no malloc, no I/O): the code.
/* Copy this file and spear_frame.h into a firmware project as they are; see spear_frame.h. */
#include "spear_frame.h"

enum {
    ST_LENGTH = 0,  /* TCP: reading the varint; serial: collecting COBS bytes */
    ST_BODY = 1,    /* TCP: reading the message */
    ST_SKIP = 2,    /* TCP: skipping an oversize message */
    ST_DISCARD = 3, /* serial: dropping bytes up to the next 0x00 */
    ST_FAILED = 4   /* TCP: bad varint; nothing more can be read */
};

uint16_t spear_crc16_ccitt_false(const uint8_t* data, size_t len) {
    uint16_t crc = 0xFFFFu;
    size_t i;
    int bit;
    for (i = 0; i < len; ++i) {
        crc = (uint16_t)(crc ^ (uint16_t)(data[i] << 8));
        for (bit = 0; bit < 8; ++bit)
            crc =
                (uint16_t)((crc & 0x8000u) ? (uint16_t)(crc << 1) ^ 0x1021u : (uint16_t)(crc << 1));
    }
    return crc;
}

static size_t encode_tcp(const uint8_t* msg, size_t len, uint8_t* out, size_t cap) {
    size_t n = 0;
    uint64_t v = len;
    size_t i;
    do {
        if (n == cap)
            return 0;
        out[n++] = (uint8_t)((v & 0x7Fu) | (v >= 0x80u ? 0x80u : 0u));
        v >>= 7;
    } while (v != 0);
    if (cap - n < len)
        return 0;
    for (i = 0; i < len; ++i)
        out[n++] = msg[i];
    return n;
}

/* COBS state while encoding: position of the pending code byte and its value. */
typedef struct {
    uint8_t* out;
    size_t cap;
    size_t n;
    size_t code_at;
    uint8_t code;
    int overflow;
} cobs_writer_t;

static void cobs_put_raw(cobs_writer_t* w, uint8_t b) {
    if (w->n == w->cap) {
        w->overflow = 1;
        return;
    }
    w->out[w->n++] = b;
}

static void cobs_close_block(cobs_writer_t* w) {
    if (!w->overflow)
        w->out[w->code_at] = w->code;
    w->code_at = w->n;
    cobs_put_raw(w, 0); /* placeholder for the next code byte */
    w->code = 1;
}

static void cobs_put(cobs_writer_t* w, uint8_t b) {
    if (b == 0) {
        cobs_close_block(w);
        return;
    }
    cobs_put_raw(w, b);
    if (++w->code == 0xFF)
        cobs_close_block(w);
}

static size_t encode_serial(const uint8_t* msg, size_t len, uint8_t* out, size_t cap) {
    cobs_writer_t w;
    const uint16_t crc = spear_crc16_ccitt_false(msg, len);
    size_t i;
    w.out = out;
    w.cap = cap;
    w.n = 0;
    w.code_at = 0;
    w.code = 1;
    w.overflow = 0;
    cobs_put_raw(&w, 0);
    for (i = 0; i < len; ++i)
        cobs_put(&w, msg[i]);
    cobs_put(&w, (uint8_t)(crc >> 8));
    cobs_put(&w, (uint8_t)(crc & 0xFFu));
    if (!w.overflow)
        w.out[w.code_at] = w.code;
    cobs_put_raw(&w, 0); /* the delimiter */
    return w.overflow ? 0 : w.n;
}

size_t spear_frame_encode(spear_framing_t framing, const uint8_t* msg, size_t len, uint8_t* out,
                          size_t cap) {
    return framing == SPEAR_FRAMING_TCP ? encode_tcp(msg, len, out, cap)
                                        : encode_serial(msg, len, out, cap);
}

void spear_frame_decoder_init(spear_frame_decoder_t* d, spear_framing_t framing, uint8_t* buf,
                              size_t cap) {
    d->framing = framing;
    d->buf = buf;
    d->cap = cap;
    d->len = 0;
    d->want = 0;
    d->skip = 0;
    d->state = ST_LENGTH;
    d->varint_bytes = 0;
    d->error = SPEAR_FRAME_OK;
    d->frames = 0;
    d->dropped = 0;
}

static spear_frame_status_t dropped(spear_frame_decoder_t* d, spear_frame_error_t e) {
    d->error = e;
    d->dropped++;
    d->len = 0;
    return SPEAR_FRAME_DROPPED;
}

static spear_frame_status_t push_tcp(spear_frame_decoder_t* d, uint8_t byte, const uint8_t** msg,
                                     size_t* msg_len) {
    switch (d->state) {
    case ST_LENGTH:
        if (d->varint_bytes == 0) {
            d->want = 0;
            d->len = 0;
        }
        if (d->varint_bytes == 9 && (byte & 0x7Eu) != 0) {
            d->state = ST_FAILED;
            d->error = SPEAR_FRAME_ERR_VARINT;
            return SPEAR_FRAME_FATAL;
        }
        d->want |= (uint64_t)(byte & 0x7Fu) << (7u * d->varint_bytes);
        d->varint_bytes++;
        if (byte & 0x80u) {
            if (d->varint_bytes == 10) {
                d->state = ST_FAILED;
                d->error = SPEAR_FRAME_ERR_VARINT;
                return SPEAR_FRAME_FATAL;
            }
            return SPEAR_FRAME_NEED_MORE;
        }
        d->varint_bytes = 0;
        if (d->want > d->cap) {
            d->skip = d->want;
            d->state = ST_SKIP;
            return dropped(d, SPEAR_FRAME_ERR_OVERSIZE);
        }
        if (d->want == 0) {
            d->frames++;
            *msg = d->buf;
            *msg_len = 0;
            return SPEAR_FRAME_READY;
        }
        d->state = ST_BODY;
        return SPEAR_FRAME_NEED_MORE;
    case ST_BODY:
        d->buf[d->len++] = byte;
        if (d->len < d->want)
            return SPEAR_FRAME_NEED_MORE;
        d->state = ST_LENGTH;
        d->frames++;
        *msg = d->buf;
        *msg_len = d->len;
        return SPEAR_FRAME_READY;
    case ST_SKIP:
        if (--d->skip == 0)
            d->state = ST_LENGTH;
        return SPEAR_FRAME_NEED_MORE;
    default:
        return SPEAR_FRAME_FATAL;
    }
}

static spear_frame_status_t push_serial(spear_frame_decoder_t* d, uint8_t byte, const uint8_t** msg,
                                        size_t* msg_len) {
    size_t read = 0, write = 0, length;
    uint16_t crc;
    if (d->state == ST_BODY) { /* the last message was handed out: start afresh */
        d->len = 0;
        d->state = ST_LENGTH;
    }
    if (d->state == ST_DISCARD) {
        if (byte == 0)
            d->state = ST_LENGTH;
        return SPEAR_FRAME_NEED_MORE;
    }
    if (byte != 0) {
        if (d->len == d->cap) {
            d->state = ST_DISCARD;
            return dropped(d, SPEAR_FRAME_ERR_OVERSIZE);
        }
        d->buf[d->len++] = byte;
        return SPEAR_FRAME_NEED_MORE;
    }
    if (d->len == 0)
        return SPEAR_FRAME_NEED_MORE; /* empty frame: a flush between frames */
    /* COBS-decode in place. */
    while (read < d->len) {
        const uint8_t code = d->buf[read++];
        uint8_t i;
        if ((size_t)code - 1u > d->len - read)
            return dropped(d, SPEAR_FRAME_ERR_COBS);
        for (i = 1; i < code; ++i)
            d->buf[write++] = d->buf[read++];
        if (code != 0xFF && read < d->len)
            d->buf[write++] = 0;
    }
    if (write < 2)
        return dropped(d, SPEAR_FRAME_ERR_CRC);
    length = write - 2;
    crc = (uint16_t)((d->buf[length] << 8) | d->buf[length + 1]);
    if (spear_crc16_ccitt_false(d->buf, length) != crc)
        return dropped(d, SPEAR_FRAME_ERR_CRC);
    d->state = ST_BODY;
    d->frames++;
    *msg = d->buf;
    *msg_len = length;
    return SPEAR_FRAME_READY;
}

spear_frame_status_t spear_frame_decoder_push(spear_frame_decoder_t* d, uint8_t byte,
                                              const uint8_t** msg, size_t* msg_len) {
    return d->framing == SPEAR_FRAMING_TCP ? push_tcp(d, byte, msg, msg_len)
                                           : push_serial(d, byte, msg, msg_len);
}
