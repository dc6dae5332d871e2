/*
 * fuzz_sync.c - every reader of server answers, as a sync runs them: `agent
 * sync --now` in-process (cli_harness.h) with the servers answering from
 * the input (the script of fake_http.c): 121's login, program, FSP
 * configurations, templates, registrations pages, events, payments,
 * transactions, vouchers, the answers to creates, edits and status
 * changes, error bodies; KoboToolbox's asset and data pages; EspoCRM's
 * lists and answers to writes. The store starts with pending work of
 * every kind, so the push phases read answers too.
 *
 * Byte 0: which source (121, kobo, espocrm, all) and flags (--full,
 * --vouchers, --pull-only / --push-only); the rest is the script.
 */
#include "fuzz.h"

#include "cli_harness.h"
#include "fake_http.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_cli_setup();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const sources[] = {NULL, "121", "kobo", "espocrm"};
    const char *args[12];
    int n = 0;
    uint8_t sel;

    if (size < 1)
        return 0;
    sel = data[0];
    args[n++] = "-q";
    args[n++] = "sync";
    args[n++] = "--now";
    if (sources[sel & 3]) {
        args[n++] = "--source";
        args[n++] = sources[sel & 3];
    }
    if (sel & 4)
        args[n++] = "--full";
    if (sel & 8)
        args[n++] = "--vouchers";
    if ((sel & 0x30) == 0x10)
        args[n++] = "--pull-only";
    else if ((sel & 0x30) == 0x20)
        args[n++] = "--push-only";
    fake_http_script((const char *)data + 1, size - 1);
    fuzz_cli_run(n, args);
    return 0;
}
