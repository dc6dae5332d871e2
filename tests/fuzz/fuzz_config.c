/*
 * fuzz_config.c - the config parser (agent/config.c): the text of a config
 * file, parsed as `agent config check` parses it (going on after errors),
 * then validated, warned about, written back out and parsed again. What
 * the agent writes (`agent init`, `config show`) must read back without
 * an error and give the same text.
 */
#include "fuzz.h"

#include "config.h"
#include "plat_buf.h"
#include "plat_err.h"
#include "plat_log.h"

#include <string.h>

static void on_error(const char *msg, void *payload)
{
    int *n = payload;

    FUZZ_CHECK(msg != NULL);
    /* One line each. */
    FUZZ_CHECK(strchr(msg, '\n') == NULL);
    (*n)++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    plat_log_set_level(LOG_LVL_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_config cfg, again;
    struct plat_buf out, out2;
    char *text, why[256];
    int rc, errors = 0, errors2 = 0;

    text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    if (agent_config_init(&cfg) != PLAT_OK)
        abort();
    rc = agent_config_parse_all(&cfg, "fuzz.conf", text, on_error, &errors);
    FUZZ_CHECK((rc == PLAT_OK) == (errors == 0));
    agent_config_pin_check(text, why, sizeof(why));
    if (rc == PLAT_OK) {
        agent_config_warnings(&cfg, on_error, &errors2);
        agent_config_validate(&cfg);
        plat_buf_init(&out, 0);
        plat_buf_init(&out2, 0);
        if (agent_config_format(&cfg, &out) == PLAT_OK) {
            if (agent_config_init(&again) != PLAT_OK)
                abort();
            errors2 = 0;
            rc = agent_config_parse_all(&again, "again.conf",
                                        out.data ? out.data : "", on_error,
                                        &errors2);
            if (rc != PLAT_OK)
                fprintf(stderr, "written config does not read back: %s\n"
                        "%s\n", plat_err_msg(), out.data);
            FUZZ_CHECK(rc == PLAT_OK);
            FUZZ_CHECK(agent_config_format(&again, &out2) == PLAT_OK);
            FUZZ_CHECK(out.len == out2.len &&
                       memcmp(out.data, out2.data, out.len) == 0);
            agent_config_dispose(&again);
        }
        plat_buf_dispose(&out);
        plat_buf_dispose(&out2);
    }
    agent_config_dispose(&cfg);
    free(text);
    return 0;
}
