/*
 * fuzz_cli.c - the command line: the global options, the command table,
 * each command's own options and arguments, run in-process on the
 * harness's store (cli_harness.h). Input: arguments, one per line; after
 * an empty line, the answers of the (fake) servers for a command that
 * syncs. Arguments with '/' or ".." are not run (a command must only
 * write inside the scratch folder), nor `daemon` (it never returns).
 */
#include "fuzz.h"

#include "cli_harness.h"
#include "fake_http.h"

#include <string.h>

#define MAX_ARGS 24
#define MAX_ARG_LEN 512

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_cli_setup();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text, *args[MAX_ARGS], *p, *end, *script = NULL;
    int n = 0;

    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    end = text + size;
    if (memchr(text, '\0', size))
        goto done; /* argv strings cannot hold a NUL */
    for (p = text; p < end && n < MAX_ARGS;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));

        if (nl == p) { /* empty line: the rest is the server script */
            script = p + 1;
            break;
        }
        if (nl)
            *nl = '\0';
        if (strlen(p) > MAX_ARG_LEN || strchr(p, '/') || strstr(p, "..") ||
            strcmp(p, "daemon") == 0)
            goto done;
        args[n++] = p;
        p = nl ? nl + 1 : end;
    }
    if (script)
        fake_http_script(script, (size_t)(end - script));
    else
        fake_http_script("", 0);
    fuzz_cli_run(n, (const char *const *)args);
done:
    free(text);
    return 0;
}
