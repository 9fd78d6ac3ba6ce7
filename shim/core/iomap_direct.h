/*
 * iomap_direct.h - the body room (hs_io_direct_room, hs_io_direct_sent in
 * headershim.h) inline, for the one caller outside the core that needs it
 * without a function call: the shell's body write, which must cost at most
 * 40 instructions more than the bare system call (issue 4, item 7). A call
 * there forces the wrapper to save registers; one load and one compare do
 * not.
 *
 * Outside the core only hs_io_direct_fits_inline, hs_io_direct_sent_inline,
 * hs_io_direct_ended and hs_conn_left_http (hs_track_maybe_forget) may be
 * used (and
 * hs_io_room_of_state by the tests, to check the copy): everything else in
 * an hs_conn stays the engine's (conn_internal.h).
 */
#ifndef HS_IOMAP_DIRECT_H
#define HS_IOMAP_DIRECT_H

#include "conn_internal.h"

/* Bytes that may go to the kernel without the engine looking at them:
 * inside a Content-Length body with nothing owed (no gate byte, no
 * pending block bytes, nothing held), up to the body's end. A direct call
 * of n <= room bytes thus never carries a byte of the next block, and
 * when the kernel takes the body's last byte, hs_io_direct_ended moves
 * the framing on to the next block (or to pass-through after
 * Connection: close) as the engine would have. Report mode does nothing
 * but count body bytes either (hs_frame_advance), so the room holds in
 * both modes. */
static inline uint64_t hs_io_room_of_state(const hs_conn *c)
{
    if (c->fr.ostate != HS_OUT_BODY_LENGTH || c->gate ||
        c->pend_off != c->pend.len || c->held.len != 0)
        return 0;
    return c->fr.body_left; /* >= 1 in this state (hs_frame_start) */
}

/* The room is kept in c->direct_room, so that the wrapper tests one
 * word: every response-side entry point of the engine (hs_io_*) ends with
 * hs_io_room_refresh, and the direct call counts itself in both words.
 * The one call inside the engine that trusts the word, hs_io_writev from
 * sendfile (file_as_write: header bytes read from the file), is preceded
 * by a refresh too.
 * The request side (hs_conn_read) changes the response side only by a
 * desync, and hs_conn_desync clears the room itself: a room left over
 * would let a direct call take the rest of the body, and the body's end
 * (hs_io_direct_ended) would bring the connection back from pass-through
 * to reading heads (tests/unit/test_engine_fastpath.c). */
static inline void hs_io_room_refresh(hs_conn *c)
{
    c->direct_room = hs_io_room_of_state(c);
}

/* n bytes fit the room (the wrapper's whole test). */
static inline bool hs_io_direct_fits_inline(const hs_conn *c, size_t n)
{
    return n <= c->direct_room;
}

/* The body is out: the framing moves on. Only a body in progress ends
 * (pass-through never turns back). Inline: a server that sends each body
 * in one call (nginx's sendfile) ends one a response. */
static inline void hs_io_direct_ended(hs_conn *c)
{
    if (c->fr.ostate == HS_OUT_BODY_LENGTH)
        hs_frame_end_body(&c->fr);
    hs_io_room_refresh(c);
}

/* The kernel took n > 0 of a direct call's bytes (n <= room). True when
 * that was the body's end: then the caller calls hs_io_direct_ended. */
static inline bool hs_io_direct_sent_inline(hs_conn *c, size_t n)
{
    c->direct_room -= n;
    return (c->fr.body_left -= n) == 0;
}

/* hs_conn_is_passthrough, with its usual answer (no: a response stream)
 * told without a call, after every call the shell makes on a track. */
static inline bool hs_conn_left_http(const hs_conn *c)
{
    return c->fr.ostate == HS_OUT_PASSTHROUGH && hs_conn_is_passthrough(c);
}

#endif /* HS_IOMAP_DIRECT_H */
