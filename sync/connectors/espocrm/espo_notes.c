/*
 * espo_notes.c - the espocrm connector's state lists of one-line notes
 * (pull.rejected, push.rejected, pull.unlinked, deleted) that `agent
 * espocrm status` shows: ids and reasons, never a value. See
 * espo_connector.h.
 */
#include "espo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "sync_ctx.h"

#include <string.h>

#define ESPO_REJECTED_KEPT 20

/* Keep `msg` in state "<list>" (newest last, ESPO_REJECTED_KEPT lines). */
int espo_note(struct sync_ctx *ctx, const char *list, const char *msg)
{
    char *old = NULL, *text;
    const char *p;
    size_t lines = 0;
    int rc;

    rc = sync_state_get(ctx, list, &old);
    if (rc != PLAT_OK && rc != ERR_NOTFOUND)
        return rc;
    plat_err_clear();
    p = old ? old : "";
    for (const char *q = p; *q; q++)
        lines += *q == '\n';
    while (lines >= ESPO_REJECTED_KEPT && strchr(p, '\n')) {
        p = strchr(p, '\n') + 1;
        lines--;
    }
    text = plat_asprintf("%s%s\n", p, msg);
    plat_free(old);
    if (!text)
        return plat_err_set(ERR_NOMEM, "out of memory");
    rc = sync_state_set(ctx, list, text);
    plat_free(text);
    return rc;
}
