/*
 * cmd_util.c - helpers shared by the commands (see cmd_util.h).
 */
#include "cmd_util.h"

#include "c121_model.h"
#include "cli.h"

#include "plat_alloc.h"
#include "plat_err.h"
#include "plat_fs.h"
#include "plat_utf8.h"
#include "store_registrations.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define JSON_FILE_MAX (64u * 1024 * 1024)

int agent_cmd_args(struct agent_ctx *ctx, int argc, char **argv,
                   const struct agent_opt *opts, int min, int max,
                   const char *what, char ***pos_out, int *npos)
{
    char **pos = plat_calloc((size_t)argc + 1, sizeof(*pos));
    int rc;

    *pos_out = NULL;
    *npos = 0;
    if (!pos)
        return ERR_NOMEM;
    rc = agent_cli_parse_opts(ctx->cmd_name, argc, argv, opts, pos, npos);
    if (rc == PLAT_OK && *npos < min)
        rc = plat_err_set(ERR_USAGE, "'%s' needs %s", ctx->cmd_name, what);
    else if (rc == PLAT_OK && max >= 0 && *npos > max)
        rc = plat_err_set(ERR_USAGE, max == 0 ? "'%s' takes no arguments%s" :
                          "too many arguments for '%s' (expected %s)",
                          ctx->cmd_name, what);
    if (rc < 0) {
        plat_free(pos);
        *npos = 0;
        return rc;
    }
    *pos_out = pos;
    return PLAT_OK;
}

static int line_of(const char *text, size_t off)
{
    int line = 1;

    for (size_t i = 0; i < off; i++)
        line += text[i] == '\n';
    return line;
}

int agent_read_json_file(const char *path, cJSON **out)
{
    const char *end = NULL;
    char *text = NULL;
    size_t len = 0, bad = 0;
    int rc;

    *out = NULL;
    rc = plat_fs_read_file(path, JSON_FILE_MAX, &text, &len);
    if (rc < 0)
        return rc;
    if (strlen(text) != len) {
        rc = plat_err_set(ERR_INVALID, "%s: NUL byte at byte %zu", path,
                          strlen(text));
        goto done;
    }
    if (c121_text_has_nul(text, len)) {
        /* cJSON would end the string there and drop the rest unseen. */
        rc = plat_err_set(ERR_INVALID, "%s: a string holds a NUL character "
                          "(\\u0000)", path);
        goto done;
    }
    if (!plat_utf8_valid(text, len, &bad)) {
        rc = plat_err_set(ERR_INVALID, "%s: not valid UTF-8 at byte %zu "
                          "(line %d)", path, bad, line_of(text, bad));
        goto done;
    }
    *out = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (!*out) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;

        if (off > len)
            off = len;
        rc = plat_err_set(ERR_INVALID, "%s: malformed JSON near byte %zu "
                          "(line %d)", path, off, line_of(text, off));
        goto done;
    }
done:
    plat_free(text);
    return rc;
}

int agent_check_utf8(const char *what, const char *s)
{
    size_t bad = 0;

    if (!plat_utf8_valid(s, strlen(s), &bad))
        return plat_err_set(ERR_INVALID, "%s is not valid UTF-8 (byte %zu)",
                            what, bad);
    return PLAT_OK;
}

int agent_check_reason(const char *reason)
{
    size_t n = strlen(reason);
    const unsigned char *p = (const unsigned char *)reason;
    int rc;

    if (n > AGENT_REASON_MAX)
        return plat_err_set(ERR_INVALID, "--reason is %zu bytes; at most %d",
                            n, AGENT_REASON_MAX);
    if ((rc = agent_check_utf8("--reason", reason)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        /* C0, DEL and (UTF-8 encoded) C1 control characters. */
        if (p[i] < 0x20 || p[i] == 0x7f ||
            (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 &&
             p[i + 1] <= 0x9f))
            return plat_err_set(ERR_INVALID, "--reason holds a control "
                                "character (byte %zu); give one line of "
                                "text", i);
    }
    return PLAT_OK;
}

int agent_check_ref(const char *ref)
{
    size_t n = strlen(ref);
    int rc;

    if (n == 0 || n > STORE_REF_MAX)
        return plat_err_set(ERR_INVALID, "a referenceId has 1 to %d "
                            "characters", STORE_REF_MAX);
    rc = agent_check_utf8("the referenceId", ref);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)ref[i] < 0x20 || ref[i] == 0x7f)
            return plat_err_set(ERR_INVALID, "the referenceId holds a "
                                "control character");
    }
    return PLAT_OK;
}

int agent_err_prefix(int rc, const char *fmt, ...)
{
    char prefix[300];
    char *msg = plat_strdup(plat_err_msg());
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    plat_err_set(rc, "%s: %s", prefix, msg ? msg : plat_err_name(rc));
    plat_free(msg);
    return rc;
}

int agent_get_registration(struct store *s, const char *ref, cJSON **out)
{
    int rc = store_reg_get(s, ref, out);

    if (rc == ERR_NOTFOUND)
        return plat_err_set(ERR_NOTFOUND, "no registration with referenceId "
                            "%s", ref);
    return rc;
}

const char *agent_json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int agent_printable(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    }
    return 1;
}

int agent_absolute_path(const char *path, char **out)
{
    char cwd[PATH_MAX];

    if (path[0] == '/') {
        *out = plat_strdup(path);
        return *out ? PLAT_OK : ERR_NOMEM;
    }
    if (!getcwd(cwd, sizeof(cwd)))
        return plat_err_set(ERR_IO, "cannot find the current directory: %s",
                            strerror(errno));
    *out = plat_asprintf("%s/%s", cwd, path);
    return *out ? PLAT_OK : ERR_NOMEM;
}
