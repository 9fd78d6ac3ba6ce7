/*
 * iomap_internal.h - helpers shared by the write contract's files:
 * iomap.c (write calls), iomap_blind.c (sendfile, splice, flushes) and
 * iomap_report.c (report mode).
 */
#ifndef HS_IOMAP_INTERNAL_H
#define HS_IOMAP_INTERNAL_H

#include "conn_internal.h"

/* The application's bytes of one call. */
typedef struct hs_appv {
    const struct iovec *iov;
    int iovcnt;
    size_t total;
} hs_appv;

/* Runs BODY with P, L bound to each contiguous piece of app[off, off+n);
 * `break` inside BODY stops at that piece. */
#define HS_APP_FOREACH(a, off, n, P, L, BODY)                                 \
    do {                                                                      \
        size_t skip_ = (off), left_ = (n);                                    \
        for (int i_ = 0; i_ < (a)->iovcnt && left_ > 0; i_++) {              \
            size_t len_ = (a)->iov[i_].iov_len;                               \
            if (skip_ >= len_) {                                              \
                skip_ -= len_;                                                \
                continue;                                                     \
            }                                                                 \
            const char *P = (const char *)(a)->iov[i_].iov_base + skip_;      \
            size_t L = len_ - skip_ < left_ ? len_ - skip_ : left_;           \
            skip_ = 0;                                                        \
            left_ -= L;                                                       \
            BODY                                                              \
        }                                                                     \
    } while (0)

size_t hs_iov_total(const struct iovec *iov, int iovcnt);
char hs_app_byte(const hs_appv *a, size_t off);
const char *hs_app_run(const hs_appv *a, size_t off, size_t *len);
size_t hs_app_copy(const hs_appv *a, size_t off, size_t n, char *dst);

size_t hs_frame_advance(hs_frame *fr, const hs_appv *a, size_t off, size_t n,
                        bool *bad);
bool hs_first_bytes_could_be_status(hs_conn *c, const hs_appv *a, size_t pos);

/* Gathers the block that starts at app offset pos into c->held, within
 * HEADERSHIM_MAX_HEADER. GATHER_DONE: c->held[0, *end) is the block, of
 * which *end - *old bytes come from this call. GATHER_HELD: incomplete,
 * every byte from pos held. GATHER_DESYNC: a bound was hit and the
 * connection desynchronised (held bytes released unchanged). */
typedef enum { HS_GATHER_DONE, HS_GATHER_HELD, HS_GATHER_DESYNC } hs_gather;
hs_gather hs_gather_block(hs_conn *c, const hs_appv *a, size_t pos,
                          size_t *end, size_t *old);

bool hs_kernel_blocking(const hs_kernel *k, int flags);
uint64_t hs_blind_bytes(const hs_conn *c);
void hs_blind_advance(hs_conn *c, size_t n);

#endif /* HS_IOMAP_INTERNAL_H */
