/*
 * iomap_report.c - report mode (IO-CONTRACT.md rule 11): the application's
 * calls reach the kernel unchanged; the engine reads a copy of what the
 * kernel accepted and reports what the policy would have changed.
 */
#include "iomap_direct.h"
#include "iomap_internal.h"

/* ---- report mode (rule 11): read a copy, change nothing ---- */

static void observe(hs_conn *c, const struct iovec *iov, int iovcnt,
                    size_t accepted);
static void observe_blind(hs_conn *c, size_t accepted);

void hs_io_observe(hs_conn *c, const struct iovec *iov, int iovcnt,
                   size_t accepted)
{
    observe(c, iov, iovcnt, accepted);
    hs_io_room_refresh(c);
}

void hs_io_observe_blind(hs_conn *c, size_t accepted)
{
    observe_blind(c, accepted);
    hs_io_room_refresh(c);
}

static void observe(hs_conn *c, const struct iovec *iov, int iovcnt,
                    size_t accepted)
{
    hs_appv a = {iov, iovcnt, hs_iov_total(iov, iovcnt)};
    if (accepted < a.total)
        a.total = accepted;
    size_t pos = 0;
    hs_decision d;
    while (pos < a.total && c->fr.ostate != HS_OUT_PASSTHROUGH) {
        if (c->fr.ostate != HS_OUT_HEADER) {
            bool bad = false;
            pos += hs_frame_advance(&c->fr, &a, pos, a.total - pos, &bad);
            if (bad)
                hs_conn_desync(c, HS_EVENT_DESYNC, "invalid chunked framing");
            continue;
        }
        if (!hs_first_bytes_could_be_status(c, &a, pos)) {
            if (c->responses == 0) {
                c->fr.ostate = HS_OUT_PASSTHROUGH;
                hs_conn_unhold(c, 0);
            }
            else
                hs_conn_desync(c, HS_EVENT_DESYNC,
                               "no status line where a response should start");
            return;
        }
        size_t end, old;
        if (hs_gather_block(c, &a, pos, &end, &old) != HS_GATHER_DONE)
            return;
        hs_conn_decide(c, c->held.p, end, &d);
        if (d.verdict != HS_VERDICT_OK) {
            if (d.verdict == HS_VERDICT_NOT_HTTP)
                c->fr.ostate = HS_OUT_PASSTHROUGH;
            else
                hs_conn_desync(c, HS_EVENT_DESYNC, d.why);
            return;
        }
        hs_frame_start(&c->fr, &d.framing);
        hs_conn_commit_block(c, &d, true);
        hs_conn_unhold(c, 0);
        c->held_scanned = 0;
        pos += end - old;
    }
}

static void observe_blind(hs_conn *c, size_t accepted)
{
    while (accepted > 0 && c->fr.ostate != HS_OUT_PASSTHROUGH) {
        uint64_t blind = hs_blind_bytes(c);
        if (blind == 0) {
            hs_conn_desync(c, HS_EVENT_DESYNC,
                           "header bytes sent from a file or pipe");
            return;
        }
        size_t n = blind < accepted ? (size_t)blind : accepted;
        hs_blind_advance(c, n);
        accepted -= n;
    }
}

