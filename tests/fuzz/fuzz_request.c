/*
 * fuzz_request.c - libFuzzer harness for the request side's quick scan
 * (hs_request_quick_scan, shim/core/http1_request.c) against its
 * reference, hs_request_parse with hs_request_body_framing: the property
 * of tests/unit/request_quick_check.h, on the input as it is and on the
 * input after its first byte (which lets the fuzzer put a head at any
 * offset of a buffer whose end it does not control). Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/request_quick_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *buf, size_t len)
{
    /* A copy of exactly len bytes, so that a read past the end is caught
     * by ASan. */
    char *copy = malloc(len ? len : 1);
    if (!copy)
        abort();
    memcpy(copy, buf, len);
    const char *why = rq_check(copy, len, NULL);
    if (why) {
        fprintf(stderr, "fuzz_request: %zu bytes: %s\n", len, why);
        abort();
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * HS_MAX_REQUEST_HEAD)
        return 0;
    check((const char *)data, size);
    if (size > 1)
        check((const char *)data + 1, size - 1);
    return 0;
}
