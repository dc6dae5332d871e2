/*
 * cmd_completion.c - `agent completion bash|zsh`: a completion script made
 * from the command table (commands.c), the same one `agent --help` prints,
 * so a command another part of the code adds completes with no change
 * here. Options come from each command's usage text (every "--name" in
 * it); the global options are the ones cli.c parses.
 */
#include "cli.h"

#include "plat_alloc.h"
#include "plat_err.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define GLOBAL_OPTS "--config --json -v --verbose -q --quiet --help --version"
/* Options whose value is a file name. */
#define FILE_OPTS "--config|--file|--out|--mapping|--store"

/* 1 if word w (of length n) was printed already in the first `upto`
 * commands' first words. */
static int seen_first(size_t upto, const char *w, size_t n)
{
    for (size_t i = 0; i < upto; i++) {
        const char *name = agent_commands[i].name;
        size_t k = strcspn(name, " ");

        if (k == n && strncmp(name, w, n) == 0)
            return 1;
    }
    return 0;
}

/* 1 if one of the first `upto` commands is a subcommand of group w (of
 * length n): the group's case is printed at its first subcommand. */
static int seen_group(size_t upto, const char *w, size_t n)
{
    for (size_t i = 0; i < upto; i++) {
        const char *name = agent_commands[i].name;

        if (strncmp(name, w, n) == 0 && name[n] == ' ')
            return 1;
    }
    return 0;
}

/* 1 if group w (of length n) is also a command by itself ("serve" beside
 * "serve passwd"). */
static int group_is_command(const char *w, size_t n)
{
    for (size_t i = 0; i < agent_commands_count; i++) {
        const char *name = agent_commands[i].name;

        if (strncmp(name, w, n) == 0 && name[n] == '\0')
            return 1;
    }
    return 0;
}

/* The subcommand words of group `name` (first word of length n),
 * space-separated, on stdout. */
static void print_subcommands(const char *name, size_t n)
{
    int first = 1;

    for (size_t j = 0; j < agent_commands_count; j++) {
        const char *o = agent_commands[j].name;

        if (strncmp(o, name, n) == 0 && o[n] == ' ') {
            printf("%s%s", first ? "" : " ", o + n + 1);
            first = 0;
        }
    }
}

/* Every distinct "--option" in `usage`, space-separated, on stdout. */
static void print_options(const char *usage)
{
    const char *p = usage;
    char seen[4096] = " ";

    while ((p = strstr(p, "--")) != NULL) {
        size_t n = 2;
        char opt[64];

        if (p > usage && (isalnum((unsigned char)p[-1]) || p[-1] == '-')) {
            p += 2;
            continue;
        }
        while (isalnum((unsigned char)p[n]) || p[n] == '-')
            n++;
        if (n > 2 && n < sizeof(opt) - 2 && isalpha((unsigned char)p[2])) {
            snprintf(opt, sizeof(opt), " %.*s ", (int)n, p);
            if (!strstr(seen, opt) && strlen(seen) + n + 2 < sizeof(seen)) {
                strcat(seen, opt + 1);
                printf(" %.*s", (int)n, p);
            }
        }
        p += n;
    }
}

static void print_bash(void)
{
    printf("# bash completion for agent (made by `agent completion bash` "
           "from its command table)\n"
           "_agent() {\n"
           "    local cur prev w1= w2= i\n"
           "    cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
           "    prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
           "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
           "        case \"${COMP_WORDS[i]}\" in\n"
           "            --config) ((i++)) ;;\n"
           "            -*) ;;\n"
           "            *) if [[ -z $w1 ]]; then w1=${COMP_WORDS[i]}\n"
           "               elif [[ -z $w2 ]]; then w2=${COMP_WORDS[i]}; fi ;;\n"
           "        esac\n"
           "    done\n"
           "    case \"$prev\" in\n"
           "        %s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
           "    esac\n"
           "    local opts=\"%s\" cmd=\"$w1\"\n"
           "    if [[ -z $w1 ]]; then\n"
           "        if [[ $cur == -* ]]; then\n"
           "            COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
           "        else\n"
           "            COMPREPLY=($(compgen -W \"", FILE_OPTS, GLOBAL_OPTS);
    for (size_t i = 0; i < agent_commands_count; i++) {
        const char *name = agent_commands[i].name;
        size_t n = strcspn(name, " ");

        if (!seen_first(i, name, n))
            printf("%s%.*s", i ? " " : "", (int)n, name);
    }
    printf("\" -- \"$cur\"))\n"
           "        fi\n"
           "        return\n"
           "    fi\n"
           "    case \"$w1\" in\n");
    /* Groups: the second word completes from their subcommands. A group
     * that is also a command ("serve", "serve passwd") offers its
     * subcommands and files, its own options after "-", and keeps the
     * command itself when the second word is not a subcommand. */
    for (size_t i = 0; i < agent_commands_count; i++) {
        const char *name = agent_commands[i].name;
        size_t n = strcspn(name, " ");

        if (!name[n] || seen_group(i, name, n))
            continue;
        printf("        %.*s)\n", (int)n, name);
        if (group_is_command(name, n)) {
            printf("            if [[ -z $w2 ]]; then\n"
                   "                [[ $cur == -* ]] || { COMPREPLY=($(compgen "
                   "-W \"");
            print_subcommands(name, n);
            printf("\" -- \"$cur\") $(compgen -f -- \"$cur\")); return; }\n"
                   "            else\n"
                   "                case \"$w2\" in\n"
                   "                    ");
            for (size_t j = 0, first = 1; j < agent_commands_count; j++) {
                const char *o = agent_commands[j].name;

                if (strncmp(o, name, n) == 0 && o[n] == ' ') {
                    printf("%s%s", first ? "" : "|", o + n + 1);
                    first = 0;
                }
            }
            printf(") cmd=\"$w1 $w2\" ;;\n"
                   "                esac\n"
                   "            fi ;;\n");
            continue;
        }
        printf("            if [[ -z $w2 ]]; then\n"
               "                [[ $cur == -* ]] || { COMPREPLY=($(compgen -W \"");
        print_subcommands(name, n);
        printf("\" -- \"$cur\")); return; }\n"
               "            fi\n"
               "            cmd=\"$w1 $w2\" ;;\n");
    }
    printf("    esac\n"
           "    case \"$cmd\" in\n");
    for (size_t i = 0; i < agent_commands_count; i++) {
        if (!agent_commands[i].run)
            continue;
        printf("        \"%s\") opts=\"$opts", agent_commands[i].name);
        print_options(agent_commands[i].usage);
        printf("\" ;;\n");
    }
    printf("    esac\n"
           "    if [[ $cur == -* ]]; then\n"
           "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
           "    else\n"
           "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
           "    fi\n"
           "}\n"
           "complete -F _agent agent\n");
}

int agent_cmd_completion(struct agent_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    if (argc != 1)
        return plat_err_set(ERR_USAGE, "'completion' needs a shell: bash or "
                            "zsh");
    if (strcmp(argv[0], "bash") == 0) {
        print_bash();
    } else if (strcmp(argv[0], "zsh") == 0) {
        /* zsh runs the bash function through its bash emulation. */
        printf("#compdef agent\n"
               "autoload -U +X bashcompinit && bashcompinit\n");
        print_bash();
    } else {
        return plat_err_set(ERR_USAGE, "completion: unknown shell '%.20s' "
                            "(bash or zsh)", argv[0]);
    }
    return PLAT_OK;
}
