/*
 * conn.c - what a connection's outgoing bytes mean.
 *
 * The engine follows each response: a status line and header block, then a
 * body framed as RFC 9112 6.3 says (IO-CONTRACT.md, "Framing"), then the next
 * response. It decides what every complete block becomes (rewritten by the
 * policy, or unchanged) and when the connection gives up and passes
 * everything through (the desync rule). How those bytes meet the kernel is
 * iomap.c's business.
 */
#include "conn_internal.h"
#include "http1_util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

hs_conn *hs_conn_new(const hs_engine_config *cfg, int local_port, bool tls,
                     void *event_ctx)
{
    hs_conn *c = hs_conn_pool_take();
    if (!c)
        return NULL;
    c->cfg = cfg;
    c->event_ctx = event_ctx;
    c->port = local_port;
    c->tls = tls;
    c->needs = cfg->policy ? hs_policy_needs(cfg->policy) : 0;
    c->max_header = cfg->max_header ? cfg->max_header : HS_DEFAULT_MAX_HEADER;
    if (c->max_header > HS_MAX_BLOCK_LIMIT)
        c->max_header = HS_MAX_BLOCK_LIMIT;
    c->fr.ostate = cfg->policy ? HS_OUT_HEADER : HS_OUT_PASSTHROUGH;
    c->istate = HS_IN_HEAD;
    return c;
}

void hs_conn_free(hs_conn *c)
{
    if (!c)
        return;
    hs_conn_held_account(c, c->held.len, 0);
    hs_buf_free(&c->held);
    hs_buf_free(&c->pend);
    hs_buf_free(&c->out);
    hs_conn_free_requests(c);
    hs_conn_pool_give(c);
}

bool hs_conn_is_passthrough(const hs_conn *c)
{
    return c->fr.ostate == HS_OUT_PASSTHROUGH && !hs_conn_owes_bytes(c);
}

/* In report mode the held bytes are a copy of what already went out. */
bool hs_conn_owes_bytes(const hs_conn *c)
{
    if (c->cfg->report)
        return false;
    return c->held.len > 0 || c->pend.len > c->pend_off;
}

void hs_conn_emit(hs_conn *c, hs_event_kind kind, const char *why,
                  const hs_block *b, const hs_request *rq,
                  const hs_changes *ch)
{
    if (!c->cfg->on_event)
        return;
    hs_event ev = {
        .kind = kind,
        .why = why,
        .shutdown_read = false,
        .block = b,
        .request = rq,
        .changes = ch,
    };
    c->cfg->on_event(c->event_ctx, &ev);
}

/* The process-wide bound on held bytes (IO-CONTRACT.md "Bounds": 64 MiB).
 * Returns false when growing from `before` to `after` would pass it. */
static bool held_reserve(hs_conn *c, size_t before, size_t after)
{
    _Atomic size_t *total = c->cfg->held_total;
    if (!total || after <= before)
        return true;
    size_t grow = after - before;
    size_t now = atomic_fetch_add(total, grow);
    if (now + grow > HS_MAX_HELD_TOTAL) {
        atomic_fetch_sub(total, grow);
        return false;
    }
    return true;
}

void hs_conn_held_account(hs_conn *c, size_t before, size_t after)
{
    _Atomic size_t *total = c->cfg->held_total;
    if (total && after < before)
        atomic_fetch_sub(total, before - after);
}

/* Appends app bytes to the held block, within the process-wide bound. */
bool hs_conn_hold(hs_conn *c, const char *p, size_t n)
{
    size_t before = c->held.len;
    if (!held_reserve(c, before, before + n))
        return false;
    if (!hs_buf_append(&c->held, p, n)) {
        hs_conn_held_account(c, before + n, before);
        return false;
    }
    return true;
}

/* Held bytes were acknowledged to the application long ago: they must
 * reach the wire before anything else (rule 3), unchanged when the block
 * cannot be rewritten. */
bool hs_conn_release_held(hs_conn *c)
{
    if (c->held.len == 0)
        return true;
    if (c->cfg->report) {
        hs_conn_unhold(c, 0);
        return true;
    }
    bool ok = true;
    if (c->pend_off == c->pend.len) {
        /* Nothing owed: the held buffer simply becomes the pending one. */
        hs_buf tmp = c->pend;
        c->pend = c->held;
        c->pend_off = 0;
        c->held = tmp;
        c->held.len = 0;
    } else {
        ok = hs_buf_append(&c->pend, c->held.p, c->held.len);
        c->held.len = 0;
    }
    hs_conn_held_account(c, c->pend.len - c->pend_off, 0);
    c->held_scanned = 0;
    return ok;
}

/* Drops held bytes past len (a plan the kernel refused, or a block that
 * went out). */
void hs_conn_unhold(hs_conn *c, size_t len)
{
    if (len >= c->held.len)
        return;
    hs_conn_held_account(c, c->held.len, len);
    c->held.len = len;
    if (c->held_scanned > len)
        c->held_scanned = len;
}

/* IO-CONTRACT.md "Desync": the current bytes go out unchanged (held ones
 * first), nothing more is parsed, and in close mode the shell shuts the
 * reading side so that no later request gets an unrewritten answer. Report
 * mode changes no call, so it never asks for the shutdown. */
void hs_conn_desync(hs_conn *c, hs_event_kind kind, const char *why)
{
    c->fr.ostate = HS_OUT_PASSTHROUGH;
    c->istate = HS_IN_OFF;
    /* No body room any more (iomap_direct.h): a desync from the read side
     * comes between the engine's write calls, and a direct call that took
     * the rest of the body would end it and bring the connection back to
     * reading heads. */
    c->direct_room = 0;
    /* c->gate stays: the application still owes us the block's last byte,
     * which must not reach the wire a second time. */
    c->desyncs++;
    hs_conn_release_held(c);
    if (!c->cfg->on_event)
        return;
    hs_event ev = {
        .kind = kind,
        .why = why,
        .shutdown_read = c->cfg->on_desync == HS_DESYNC_CLOSE &&
                         !c->cfg->report,
    };
    c->cfg->on_event(c->event_ctx, &ev);
}

/* Decides what a complete block becomes. `bytes` is the application's
 * block, contiguous. Changes nothing in the connection but c->out, so a
 * call can plan a block and drop the plan when the kernel refuses it. */
/* What a read block becomes (st: how bytes[0..len) parsed). */
static void decide_parsed(hs_conn *c, hs_block_status st, const char *bytes,
                          size_t len, hs_decision *d)
{
    d->verdict = HS_VERDICT_OK;
    d->out = bytes;
    d->out_len = len;
    d->rewritten = false;
    d->rw = HS_REWRITE_UNCHANGED;
    d->changes.nremoved = d->changes.nset = d->changes.nadded = 0;
    d->changes.truncated = false;
    if (st == HS_BLOCK_NOT_HTTP) {
        if (c->responses == 0) {
            d->verdict = HS_VERDICT_NOT_HTTP;
        } else {
            d->verdict = HS_VERDICT_DESYNC;
            d->why = "no status line where a response should start";
        }
        return;
    }
    if (st != HS_BLOCK_OK) {
        d->verdict = HS_VERDICT_DESYNC;
        if (!d->why)
            d->why = st == HS_BLOCK_TOO_MANY_FIELDS ? "too many header lines"
                                                    : "ambiguous header block";
        return;
    }

    const hs_queued_request *q = hs_conn_front_request(c);
    hs_conn_request_view(c, q, &d->view);
    hs_method_kind kind = q ? q->kind : HS_METHOD_NONE;
    if (!q && d->view.rq.has_request)
        kind = hs_method_kind_of(d->view.rq.method);
    d->framing = hs_framing_inline(&d->block, kind);

    c->out.len = 0;
    /* The change record only when a log line will print it. */
    d->rw = hs_rewrite_shaped(c->cfg->policy, &c->cfg->rewrite, &d->block,
                              &d->view.rq, &c->out,
                              c->cfg->event_details ? &d->changes : NULL,
                              &c->shape);
    if (d->rw == HS_REWRITE_CHANGED && !c->cfg->report) {
        d->out = c->out.p;
        d->out_len = c->out.len;
        d->rewritten = true;
    }
}

void hs_conn_decide(hs_conn *c, const char *bytes, size_t len, hs_decision *d)
{
    /* `bytes` is exactly one block (hs_block_end found its end), so the
     * stream reading ends where it does. */
    d->why = NULL;
    hs_block_status st =
        hs_block_parse_shaped(c->shape, bytes, len, &d->block, &d->why);
    if (st == HS_BLOCK_INCOMPLETE ||
        (st == HS_BLOCK_OK && d->block.len != len)) {
        d->why = st == HS_BLOCK_INCOMPLETE ? "incomplete block"
                                           : "bytes after blank line";
        st = HS_BLOCK_AMBIGUOUS;
    }
    decide_parsed(c, st, bytes, len, d);
}

size_t hs_conn_decide_stream(hs_conn *c, const char *bytes, size_t avail,
                             hs_decision *d)
{
    d->why = NULL;
    hs_block_status st =
        hs_block_parse_shaped(c->shape, bytes, avail, &d->block, &d->why);
    size_t end;
    if (st == HS_BLOCK_OK)
        end = d->block.len;
    else if (st == HS_BLOCK_INCOMPLETE)
        return 0;
    else
        end = hs_block_end(bytes, avail, 0);   /* refused: rare */
    if (!end || end > c->max_header)
        return 0;
    decide_parsed(c, st, bytes, end, d);
    return end;
}

/* The block is committed: it went out, or is owed in full. Reports it,
 * then pairs it with its request. Reporting comes first: the event points
 * into the block and into the request's kept head, which the pairing
 * frees. The caller releases held block bytes before this (popping a
 * request may resume a paused read side, which may desync and would send
 * held bytes). */
void hs_conn_commit_block(hs_conn *c, hs_decision *d, bool report)
{
    switch (d->rw) {
    case HS_REWRITE_CHANGED:
        if (report || !c->cfg->quiet_rewrites)
            hs_conn_emit(c, report ? HS_EVENT_REPORT : HS_EVENT_REWRITE,
                         NULL, &d->block, &d->view.rq, &d->changes);
        break;
    case HS_REWRITE_TOO_LARGE:
        hs_conn_emit(c, HS_EVENT_ERROR,
                     "rewritten block over HEADERSHIM_MAX_OUTPUT", &d->block,
                     &d->view.rq, NULL);
        break;
    case HS_REWRITE_NO_MEMORY:
        hs_conn_emit(c, HS_EVENT_ERROR, "out of memory", &d->block,
                     &d->view.rq, NULL);
        break;
    default:
        break;
    }
    hs_conn_answered(c, d->framing.kind);
}

