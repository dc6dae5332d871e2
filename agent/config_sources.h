/*
 * config_sources.h - the sections of the connectors in the config file
 * ([121], [kobo], [espocrm], [file], ...), for config.c only.
 *
 * Each compiled-in connector (sync_connectors_registry(), in that order)
 * has one section named after it, whose keys are the connector's `config`
 * table (sync_connector.h). The values are kept as text in
 * cfg->src_values[i] (defaults filled in, NULL when unset), and
 * cfg->sources[i] is the struct sync_source_conf the engine borrows.
 * BOOL values are kept as "true"/"false". SECRET keys are never read from
 * the file (the agent fills them at sync time: sync_options.h).
 *
 * "enabled": the key's value, else its default, else 1 when the section
 * has a URL key set (so [121] with a url is on), else 0.
 *
 * Errors: ERR_NOMEM; set returns -1 with the reason in `why`.
 */
#ifndef AGENT_CONFIG_SOURCES_H
#define AGENT_CONFIG_SOURCES_H

#include <stddef.h>

#include "config.h"

struct plat_buf;

/* Most keys one connector may declare (the parser's duplicate check). */
#define AGENT_SOURCE_KEYS_MAX 32

/* Allocate one section per compiled-in connector, defaults filled in. */
int agent_sources_init(struct agent_config *cfg);
void agent_sources_dispose(struct agent_config *cfg);

/* Index of the section called [b, b+n), or -1. */
int agent_sources_find(const struct agent_config *cfg, const char *b,
                       size_t n);

/* Index of `key` in section `src`'s table, or -1. */
int agent_sources_key(const struct agent_config *cfg, size_t src,
                      const char *key);

/* "enabled, url, program_id, ..." (no SECRET keys) into `out`. */
void agent_sources_key_list(const struct agent_config *cfg, size_t src,
                            char *out, size_t n);

/* Set key number `k` of section `src` from the file: -1 and `why` when
 * the value does not fit the key's type. */
int agent_sources_set(struct agent_config *cfg, size_t src, int k,
                      const char *value, char *why, size_t whylen);

/* After parsing: compute every sources[i].enabled and cfg->program_id. */
void agent_sources_finish(struct agent_config *cfg);

/* Checks of the enabled sections (`f`: file name for messages). */
int agent_sources_validate(const struct agent_config *cfg, const char *f);

/* `config show`: "<source>.<key>" for every non-SECRET key, URLs with
 * their credentials masked ("user:pass@" becomes "***@"). */
int agent_sources_foreach(const struct agent_config *cfg,
                          agent_config_key_cb cb, void *payload);

/* The sections as config text (values as set; SECRET keys never). */
int agent_sources_format(const struct agent_config *cfg, struct plat_buf *out);

/* The source part of agent_config_warnings (config.h). */
void agent_sources_warnings(const struct agent_config *cfg, const char *f,
                            agent_config_error_cb cb, void *payload);

/* 1 when `url` has "user[:pass]@" before its host. */
int agent_url_has_credentials(const char *url);

/* `url` with "user:pass@" replaced by "***@", into out. */
void agent_mask_url(const char *url, char *out, size_t n);

#endif
