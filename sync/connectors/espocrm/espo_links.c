/*
 * espo_links.c - the espocrm connector's linked records (remote ids of
 * kind "record": EspoCRM id, 121 referenceId, espo_seen text) read from
 * the store into a list. See espo_connector.h.
 */
#include "espo_connector.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <string.h>

int espo_links_collect(const char *id, const char *ref, const char *ver,
                       void *payload)
{
    struct links *l = payload;
    struct link *nv;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        nv = plat_realloc(l->v, l->cap * sizeof(*nv));
        if (!nv)
            return plat_err_set(ERR_NOMEM, "out of memory");
        l->v = nv;
    }
    l->v[l->n].id = plat_strdup(id);
    l->v[l->n].ref = plat_strdup(ref);
    l->v[l->n].ver = ver ? plat_strdup(ver) : NULL;
    l->n++;
    if (!l->v[l->n - 1].id || !l->v[l->n - 1].ref ||
        (ver && !l->v[l->n - 1].ver))
        return plat_err_set(ERR_NOMEM, "out of memory");
    return 0;
}

void espo_links_free(struct links *l)
{
    size_t i;

    for (i = 0; i < l->n; i++) {
        plat_free(l->v[i].id);
        plat_free(l->v[i].ref);
        plat_free(l->v[i].ver);
    }
    plat_free(l->v);
    memset(l, 0, sizeof(*l));
}
