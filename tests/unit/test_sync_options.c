/*
 * test_sync_options.c - the one builder of the engine options
 * (agent/sync_options.h): sources copied from the config with their
 * secrets filled in (and wiped after), --source checks, transport fields.
 */
#include "testlib.h"

#include "config.h"
#include "sync_options.h"

#include "plat_err.h"
#include "sync_connector.h"
#include "sync_engine.h"

#include <stdlib.h>
#include <string.h>

static int contains(const char *haystack, const char *needle)
{
    return haystack && needle && strstr(haystack, needle) != NULL;
}

static const char *conf_text =
    "[store]\npath = /tmp/x.db\n"
    "[121]\nurl = https://121.example.org\nprogram_id = 3\nuser = u\n"
    "[sync]\nproxy = http://p:3128\nbatch = 200\n";

static const struct sync_source_conf *source(
    const struct sync_engine_options *opt, const char *name)
{
    for (size_t i = 0; i < opt->n_sources; i++) {
        if (strcmp(opt->sources[i].connector->name, name) == 0)
            return &opt->sources[i];
    }
    return NULL;
}

static void test_builds_sources_and_secret(void)
{
    struct agent_config cfg;
    struct agent_sync_request req;
    struct sync_engine_options opt;
    struct agent_sync_mem mem;
    const struct sync_source_conf *sc;

    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    REQUIRE(agent_config_parse(&cfg, "t.conf", conf_text) == PLAT_OK);
    memset(&req, 0, sizeof(req));
    req.direction = SYNC_PULL_ONLY;
    req.full = 1;
    setenv("AGENT_121_PASSWORD", "pw-secret", 1);
    CHECK_INT(agent_sync_options(&cfg, &req, &opt, &mem), PLAT_OK);
    CHECK_INT((int)opt.n_sources, (int)cfg.n_sources);
    CHECK(opt.only == NULL);
    CHECK_INT(opt.direction, SYNC_PULL_ONLY);
    CHECK_INT(opt.full, 1);
    CHECK_INT(opt.batch, 200);
    CHECK_STR(opt.proxy, "http://p:3128");
    CHECK(opt.policy != NULL);
    sc = source(&opt, "121");
    REQUIRE(sc != NULL);
    CHECK(sc->enabled);
    CHECK_STR(sync_source_conf_get(sc, "url"), "https://121.example.org");
    CHECK_STR(sync_source_conf_get(sc, "password"), "pw-secret");
    /* The config itself never holds the secret. */
    CHECK(agent_config_get(&cfg, "121", "password") == NULL);
    agent_sync_options_dispose(&mem);
    CHECK(mem.sources == NULL && mem.n_secrets == 0);
    unsetenv("AGENT_121_PASSWORD");

    /* No password anywhere: an authentication failure, nothing left. */
    CHECK_INT(agent_sync_options(&cfg, &req, &opt, &mem), ERR_AUTH);
    CHECK(contains(plat_err_msg(), "AGENT_121_PASSWORD"));
    CHECK(mem.sources == NULL);
    agent_config_dispose(&cfg);
}

static void test_only_checks(void)
{
    struct agent_config cfg;
    struct agent_sync_request req;
    struct sync_engine_options opt;
    struct agent_sync_mem mem;
    const char *nope[] = { "nope" };
    const char *file[] = { "file" };
    const char *only121[] = { "121" };

    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    REQUIRE(agent_config_parse(&cfg, "t.conf", conf_text) == PLAT_OK);
    memset(&req, 0, sizeof(req));
    req.only = nope;
    req.n_only = 1;
    CHECK_INT(agent_sync_options(&cfg, &req, &opt, &mem), ERR_USAGE);
    CHECK(contains(plat_err_msg(), "'nope'"));
    CHECK(contains(plat_err_msg(), "121"));
    req.only = file;
    CHECK_INT(agent_sync_options(&cfg, &req, &opt, &mem), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "[file]"));
    setenv("AGENT_121_PASSWORD", "pw", 1);
    req.only = only121;
    CHECK_INT(agent_sync_options(&cfg, &req, &opt, &mem), PLAT_OK);
    CHECK_INT((int)opt.n_only, 1);
    CHECK_STR(opt.only[0], "121");
    agent_sync_options_dispose(&mem);
    unsetenv("AGENT_121_PASSWORD");
    agent_config_dispose(&cfg);

    /* Nothing enabled. */
    REQUIRE(agent_config_init(&cfg) == PLAT_OK);
    req.only = NULL;
    req.n_only = 0;
    CHECK_INT(agent_sync_options(&cfg, &req, &opt, &mem), ERR_CONFIG);
    CHECK(contains(plat_err_msg(), "no source is enabled"));
    agent_config_dispose(&cfg);
}

TEST_MAIN(TEST(test_builds_sources_and_secret), TEST(test_only_checks))
