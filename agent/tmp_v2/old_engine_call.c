/* TEMPORARY (drop with agent/tmp_v2/): calls the OLD sync_engine_run of
 * sync/engine.c; includes the old header by path on purpose. */
#include "../../sync/include/sync_engine.h"
#include "shim.h"

#include <stdio.h>
#include <string.h>

int tmp_v2_old_run(struct store *s, struct tmp_v2_run *r)
{
    struct sync_engine_options o;
    struct sync_summary sum;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&sum, 0, sizeof(sum));
    o.server_url = r->url;
    o.program_id = r->program_id;
    o.user = r->user;
    o.password = r->password;
    o.ca_file = r->ca_file;
    o.pinned_pubkey = r->pinned_pubkey;
    o.proxy = r->proxy;
    o.connect_timeout_ms = r->connect_timeout_ms;
    o.max_attempts = r->max_attempts;
    o.backoff_base_ms = r->backoff_base_ms;
    o.backoff_cap_ms = r->backoff_cap_ms;
    o.direction = r->direction;
    o.full = r->full;
    o.vouchers = r->vouchers;
    o.window = r->window;
    o.batch = r->batch;
    o.create_batch = r->create_batch;
    o.patch_max = r->patch_max;
    o.policy = r->policy;
    o.policy_payload = r->policy_payload;
    o.progress = r->progress;
    o.progress_payload = r->progress_payload;
    o.cancel = r->cancel;
    rc = sync_engine_run(s, &o, &sum);
    r->pulled = sum.pulled;
    r->events = sum.events;
    r->pushed = sum.pushed;
    r->sent = sum.sent;
    r->conflicts = sum.conflicts;
    r->rejected = sum.rejected;
    r->requests = sum.requests;
    r->bytes_wire = sum.bytes_wire;
    r->bytes_body = sum.bytes_body;
    r->elapsed_ms = sum.elapsed_ms;
    snprintf(r->error, sizeof(r->error), "%s", sum.error);
    return rc;
}
