/*
 * serve_cmd.h - the link between the CLI (config, context) and the server:
 * the serve options a command line and config give (for `agent serve` and
 * `agent daemon --serve`). The pointers in *o borrow from ctx. An
 * encrypted store's data key is read into o->store_key (ERR_AUTH when it
 * cannot be had, store_key.h): plat_wipe o->store_key once serve_start
 * has run.
 */
#ifndef AGENT_SERVE_CMD_H
#define AGENT_SERVE_CMD_H

struct agent_ctx;
struct serve_options;

int agent_serve_options(struct agent_ctx *ctx, const char *listen,
                        struct serve_options *o);

#endif
