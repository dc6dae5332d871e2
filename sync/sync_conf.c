/*
 * sync_conf.c - reading a connector's config section (sync_connector.h).
 */
#include "sync_connector.h"

#include <string.h>

const char *sync_source_conf_get(const struct sync_source_conf *sc,
                                 const char *key)
{
    size_t i;

    if (!sc || !sc->connector || !key)
        return NULL;
    for (i = 0; sc->connector->config && sc->connector->config[i].key; i++)
        if (strcmp(sc->connector->config[i].key, key) == 0)
            return sc->values ? sc->values[i] : sc->connector->config[i].dflt;
    return NULL;
}
