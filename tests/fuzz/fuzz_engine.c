/*
 * fuzz_engine.c - libFuzzer harness for the connection engine and the
 * write contract together (issue 3, item 4).
 *
 * Input layout:
 *   byte 0     options
 *     bit  0     policy: the corpus policy (set/remove/request conditions)
 *                or the "api" preset
 *     bit  1     desync mode: close or passthrough
 *     bit  2     blocking kernel
 *     bits 3-4   kernel iov_max: IOV_MAX, 2, 3, 8 (application iovecs fit)
 *     bits 5-6   retry model: exact, merge, resplit (3: exact)
 *     bit  7     max_header 256 instead of the default
 *   bytes 1-8  seed of the application's splits and of the kernel script;
 *              its bit 63 sends about 30% of the pieces by sendfile from a
 *              file holding the stream, bit 62 ends the kernel script in
 *              EPIPE after (seed % 40) + 1 calls, bit 61 asks for no
 *              REWRITE events (quiet_rewrites: calls that start with a
 *              whole block of the connection's shape go the steady way)
 *   bytes 9-10 request length R (little endian, capped by what is left)
 *   then R request bytes (fed by hs_conn_read in seeded pieces), then the
 *   response stream (what the server writes).
 *
 * Properties, any of which aborts (kernel_script.c checks every call):
 *   - one call and one byte per call put the same bytes on the wire;
 *   - the seeded random split against the seeded random kernel puts
 *     exactly those bytes on the wire, with every return value within
 *     rules 1, 2, 4, 5, 6 and 7, body bytes zero-copy (rule 8), the same
 *     events, and nothing owed after the final flush;
 *   - nothing crashes or leaks (ASan, UBSan).
 * tests/lib is not linked into fuzzers (Makefile), so its sources are
 * included here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/kernel_script.c"
#include "../lib/stream_corpus.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hs_policy *fz_policies[2];

static const hs_policy *fz_policy(int which)
{
    if (!fz_policies[which])
        fz_policies[which] = sc_policy(which ? "api" : sc_policy_small);
    return fz_policies[which];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 11)
        return 0;
    unsigned opt = data[0];
    uint64_t seed = 0;
    memcpy(&seed, data + 1, 8);
    size_t rlen = (size_t)data[9] | (size_t)data[10] << 8;
    data += 11;
    size -= 11;
    if (rlen > size)
        rlen = size;
    if (size - rlen > 65536)
        return 0; /* keep runs fast; long streams add nothing new */

    hs_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.policy = fz_policy(opt & 1);
    cfg.on_desync = (opt & 2) ? HS_DESYNC_PASSTHROUGH : HS_DESYNC_CLOSE;
    cfg.max_header = (opt & 0x80) ? 256 : 0;
    cfg.on_event = ks_on_event;
    cfg.quiet_rewrites = (seed >> 61) & 1;

    /* Copies, so that no byte outside the stream can pass for it. */
    char *req = malloc(rlen ? rlen : 1);
    char *resp = malloc(size - rlen ? size - rlen : 1);
    memcpy(req, data, rlen);
    memcpy(resp, data + rlen, size - rlen);

    ks_run r;
    memset(&r, 0, sizeof r);
    r.cfg = &cfg;
    r.port = -1;
    r.req = req;
    r.req_len = rlen;
    r.req_seed = seed | 1;
    r.stream = resp;
    r.len = size - rlen;
    r.split = KS_SPLIT_RANDOM;
    r.seed = seed;
    r.retry = (ks_retry)(((opt >> 5) & 3) % 3);
    static const int iov_maxes[] = {0, 2, 3, 8};
    int iov_max = iov_maxes[(opt >> 3) & 3];
    r.max_iov = iov_max ? iov_max : 8;
    r.sendfile_pct = (seed >> 63) ? 30 : 0;

    ks_oracle o;
    char *err = ks_oracle_build(&r, &o);
    if (!err) {
        ks_kernel ks;
        ks_init(&ks);
        ks_random(&ks, seed * 0x9E3779B97F4A7C15ull + 1, (opt & 4) != 0);
        ks.k.iov_max = iov_max;
        ks.max_calls = 200000;
        if ((seed >> 62) & 1)
            ks.fatal_after = 1 + (size_t)(seed % 40);
        err = ks_app_run(&r, &ks, &o, NULL);
        ks_free(&ks);
    }
    if (err) {
        fprintf(stderr, "fuzz_engine: options %#x seed %llu request %zu "
                "bytes, stream %zu bytes: %s\n", opt,
                (unsigned long long)seed, rlen, size - rlen, err);
        abort();
    }
    ks_oracle_free(&o);
    free(req);
    free(resp);
    return 0;
}
