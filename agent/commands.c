/*
 * commands.c - the table of commands: name, one-line summary for
 * `agent --help`, and the usage printed by `agent help COMMAND`.
 *
 * Kept apart from cli.c so that adding a command is one row here and one
 * function in a cmd_*.c file.
 */
#include "cli.h"
#include "cmd_dist.h"

#include <stddef.h>

const struct agent_cmd agent_commands[] = {
    { "init", "write the config file and create the local store",
      "Usage: agent init --server URL --program ID --user NAME [--store PATH]"
      " [--force]\n"
      "                  [--encrypt [--key-file FILE] [--passphrase]]\n"
      "\n"
      "Write the config file (mode 0600) and create the local store.\n"
      "\n"
      "  --server URL    base URL of the 121 service, without /api\n"
      "  --program ID    121 program id used by default\n"
      "  --user NAME     121 user name\n"
      "  --store PATH    store file (default: ~/.local/share/agent/agent.db,\n"
      "                  or /var/lib/agent/agent.db for root)\n"
      "  --force         overwrite an existing config file (the store is "
      "kept)\n"
      "  --encrypt       create the store encrypted (see `agent help "
      "encrypt`):\n"
      "                  with a passphrase, and/or --key-file FILE\n"
      "  --key-file FILE with --encrypt: open with this key file (made if\n"
      "                  missing, mode 0600)\n"
      "  --passphrase    with --encrypt --key-file: a passphrase too\n"
      "\n"
      "No password is taken here: set AGENT_121_PASSWORD, or add\n"
      "password_file = FILE (mode 0600) to the [121] section.\n"
      "--json prints {\"config\":PATH,\"store\":PATH}.\n"
      "\n"
      "Example:\n"
      "  agent init --server https://121.example.org --program 3 --user field-7@example.org\n",
      agent_cmd_init },
    { "config check", "check the config file and list every error",
      "Usage: agent config check\n"
      "\n"
      "Check the config file: every mistake is printed as FILE:LINE: "
      "message.\n"
      "Exit 1 if there is any.\n"
      "\n"
      "Example:\n"
      "  agent config check\n",
      agent_cmd_config_check },
    { "config show", "print the effective settings (never a password)",
      "Usage: agent config show\n"
      "\n"
      "Print every setting with its effective value (defaults included) and\n"
      "where the password would come from. The password is never printed.\n"
      "\n"
      "Example:\n"
      "  agent config show\n",
      agent_cmd_config_show },
    { "config path", "print the path of the config file in use",
      "Usage: agent config path\n"
      "\n"
      "Print the config file this command line uses: --config, else\n"
      "$AGENT_CONFIG, else the default.\n"
      "\n"
      "Example:\n"
      "  agent config path\n",
      agent_cmd_config_path },
    { "registrations add", "add registrations (key=value or a JSON file)",
      "Usage: agent registrations add [--program ID] [--file F.json] "
      "[KEY=VALUE ...]\n"
      "       agent registrations add --interactive [--lang CODE]\n"
      "\n"
      "Add a registration from KEY=VALUE arguments (split on the first '='),\n"
      "or registrations from a JSON file holding one object or an array of\n"
      "objects (an array is added all or nothing). Each is checked against\n"
      "the stored program definition; without one, only its form is "
      "checked.\n"
      "Prints each new referenceId ({\"referenceId\":...} with --json).\n"
      "\n"
      "  --program ID    program (default: server.program_id)\n"
      "  --file F.json   read the registrations from F.json\n"
      "  --repeat N      add the same registration N times, each in its own\n"
      "                  transaction (for load and crash tests)\n"
      "  --interactive   ask for each attribute of the stored program (the\n"
      "                  default on a terminal when no fields are given):\n"
      "                  labels, required marks (*), dropdowns as numbered\n"
      "                  lists, each answer checked; a summary to confirm\n"
      "  --lang CODE     language of the labels (default: ui.lang, en)\n"
      "\n"
      "Example:\n"
      "  agent registrations add fullName='Ann Example' phoneNumber=31612345678 programFspConfigurationName=Intersolve-voucher-paper\n",
      agent_cmd_reg_add },
    { "registrations edit", "change fields of a registration",
      "Usage: agent registrations edit REF KEY=VALUE... [--reason TEXT]\n"
      "       agent registrations edit REF --interactive [--lang CODE]\n"
      "\n"
      "Change fields of registration REF; KEY= (empty) clears a field.\n"
      "\n"
      "  --reason TEXT   why, kept with the change for the 121 audit log\n"
      "                  (one line, at most 500 bytes)\n"
      "  --interactive   ask for each attribute with its current value as\n"
      "                  the default (the default on a terminal with REF\n"
      "                  alone); only what changed is saved\n"
      "  --lang CODE     language of the labels (default: ui.lang, en)\n"
      "\n"
      "Example:\n"
      "  agent registrations edit dev-3f2a9c1e householdSize=5 --reason 'new baby'\n",
      agent_cmd_reg_edit },
    { "registrations status", "change the status of a registration",
      "Usage: agent registrations status REF NEWSTATUS [--reason TEXT]\n"
      "\n"
      "Change the status of registration REF. Allowed changes:\n"
      "  new       -> included, validated, declined, deleted, paused\n"
      "  validated -> included, declined, deleted\n"
      "  included  -> paused, declined, deleted\n"
      "  completed -> included, declined, deleted\n"
      "  paused    -> validated, included, declined, deleted\n"
      "  declined  -> included, deleted\n"
      "(completed is set by 121 only.)\n"
      "\n"
      "  --reason TEXT   required for declined, paused and deleted (one line,\n"
      "                  at most 500 bytes)\n"
      "\n"
      "Example:\n"
      "  agent registrations status dev-3f2a9c1e declined --reason 'moved away'\n",
      agent_cmd_reg_status },
    { "registrations show", "print one registration",
      "Usage: agent registrations show REF\n"
      "\n"
      "Print registration REF as it is seen on this device (the server copy\n"
      "with the pending changes applied): one field per line, or the object\n"
      "with --json.\n"
      "\n"
      "Example:\n"
      "  agent registrations show dev-3f2a9c1e\n",
      agent_cmd_reg_show },
    { "registrations list", "list registrations, with filters",
      "Usage: agent registrations list [--status S] [--where KEY=VALUE] "
      "[--limit N]\n"
      "                                [--offset N] [--program ID]\n"
      "\n"
      "List registrations, oldest first: a table (with \"showing X-Y of N\" "
      "on\n"
      "stderr) or a JSON array with --json.\n"
      "\n"
      "  --status S        only this status\n"
      "  --where KEY=VALUE only where field KEY is exactly VALUE\n"
      "  --limit N         at most N rows (default 50)\n"
      "  --offset N        skip the first N rows\n"
      "  --program ID      only this program (default: all)\n"
      "\n"
      "Example:\n"
      "  agent registrations list --status included --limit 20\n",
      agent_cmd_reg_list },
    { "registrations search", "find registrations by name, phone or reference",
      "Usage: agent registrations search TEXT [--limit N]\n"
      "\n"
      "Find registrations whose name, phone number or referenceId contains\n"
      "TEXT (ignoring case).\n"
      "\n"
      "  --limit N   at most N rows (default 50)\n"
      "\n"
      "Example:\n"
      "  agent registrations search 3161234\n",
      agent_cmd_reg_search },
    { "program import", "store a program definition from a JSON file",
      "Usage: agent program import FILE\n"
      "\n"
      "Store the program definition in FILE (the body of GET\n"
      "/api/programs/ID, or a fixture shaped {\"_http\":...,\"body\":{...}}),\n"
      "replacing the stored one. Entries are then checked against it.\n"
      "\n"
      "Example:\n"
      "  agent program import program-3.json\n",
      agent_cmd_program_import },
    { "program show", "print the stored program definition",
      "Usage: agent program show [ID]\n"
      "\n"
      "Print the stored definition of program ID (default: "
      "server.program_id).\n"
      "\n"
      "Example:\n"
      "  agent program show 3\n",
      agent_cmd_program_show },
    { "outbox", "list local changes waiting for the server",
      "Usage: agent outbox [--state STATE] [--all]\n"
      "\n"
      "List local operations in the order they were made. By default those\n"
      "not yet done.\n"
      "\n"
      "  --state STATE   only pending, inflight, done, conflict or rejected\n"
      "  --all           every entry, done ones included\n"
      "\n"
      "Example:\n"
      "  agent outbox --state rejected\n",
      agent_cmd_outbox },
    { "conflicts list", "list fields changed both here and on the server",
      "Usage: agent conflicts list [--all]\n"
      "\n"
      "List the open conflicts: fields changed on this device and on the\n"
      "server since the device last saw them.\n"
      "\n"
      "  --all   resolved conflicts too\n"
      "\n"
      "Example:\n"
      "  agent conflicts list\n",
      agent_cmd_conflicts_list },
    { "conflicts show", "print one conflict",
      "Usage: agent conflicts show ID\n"
      "\n"
      "Print conflict ID with its base, local and server values.\n"
      "\n"
      "Example:\n"
      "  agent conflicts show 12\n",
      agent_cmd_conflicts_show },
    { "conflicts resolve", "settle a conflict: keep local, server or a value",
      "Usage: agent conflicts resolve ID (--take local|server | --value V)\n"
      "\n"
      "Settle conflict ID (see `agent conflicts list`):\n"
      "  --take local    keep this device's value; the next sync sends it\n"
      "  --take server   take the server's value; nothing is sent\n"
      "  --value V       use V instead of either; the next sync sends it\n"
      "                  (an empty V clears the field)\n"
      "\n"
      "Example:\n"
      "  agent conflicts resolve 12 --take server\n",
      agent_cmd_conflicts_resolve },
        /* `agent conflicts` alone lists them; hidden from the command list. */
    { "conflicts", NULL,
      "Usage: agent conflicts list [--all]\n"
      "       agent conflicts show ID\n"
      "\n"
      "Example:\n"
      "  agent conflicts list\n",
      agent_cmd_conflicts_list },
    { "espocrm setup", "write the [espocrm] section of the config",
      "Usage: agent espocrm setup --url URL --entity TYPE --reference-field "
      "FIELD\n"
      "                           --mapping FILE [--auth apikey|hmac]\n"
      "                           [--api-key-file F] [--secret-file F]\n"
      "                           [--new-records ignore|report|create]\n"
      "                           [--create-defaults JSON]\n"
      "                           [--deleted ignore|report|status]\n"
      "                           [--create-in-espocrm true|false]\n"
      "\n"
      "Write the [espocrm] section (enabled) of the config file. The mapping\n"
      "file is a JSON object {\"<EspoCRM attribute>\": \"<121 attribute>\"}\n"
      "(see sync/connectors/espocrm/README.md for directions and option\n"
      "keys). The API key comes from AGENT_ESPOCRM_API_KEY or a 0600 key\n"
      "file, the HMAC secret from AGENT_ESPOCRM_SECRET or a file.\n"
      "--new-records create makes a 121 registration (in the [121] program)\n"
      "from each EspoCRM record without a referenceId, with the 121 fields\n"
      "of --create-defaults (e.g. {\"preferredLanguage\":\"en\"}) added, and\n"
      "writes the new referenceId back to EspoCRM.\n"
      "--deleted: linked records deleted in EspoCRM are ignored, reported\n"
      "(default) or reported with the 121 status change to deleted queued.\n"
      "--create-in-espocrm true: each 121 registration of the program that\n"
      "no record is linked to gets a new EspoCRM record with its\n"
      "referenceId; a refused create (409 duplicate) is reported, not\n"
      "sent again.\n"
      "\n"
      "Example:\n"
      "  agent espocrm setup --url https://crm.example.org --entity Contact --reference-field cReferenceId --mapping mapping.json\n",
      agent_cmd_espocrm_setup },
    { "espocrm status", "EspoCRM: records linked, pending each way, cursor",
      "Usage: agent espocrm status\n"
      "\n"
      "Print the EspoCRM link: records linked, records pending to EspoCRM\n"
      "and to 121, open conflicts on mapped fields, the modifiedAt cursor\n"
      "and the last sync. --json: {linked, pending_to_espocrm,\n"
      "pending_to_121, conflicts, cursor, last_sync, ...}.\n"
      "\n"
      "Example:\n"
      "  agent --json espocrm status\n",
      agent_cmd_espocrm_status },
    { "status", "summary of the store, pending work, health and daemon",
      "Usage: agent status\n"
      "\n"
      "Print the store path and schema version, the program, the number of\n"
      "registrations, pending operations, open conflicts and rejected\n"
      "operations, the last sync per source, the sync health (age of the\n"
      "oldest pending change, consecutive failed syncs, stuck) and, when an\n"
      "`agent daemon` runs, its live state (idle, syncing, offline since,\n"
      "next attempt, last error). With --json: one object; \"daemon\" is\n"
      "null when no daemon answers.\n"
      "\n"
      "Example:\n"
      "  agent status\n",
      agent_cmd_status },
    { "sync", "sync with the sources now: pull changes, push local work",
      "Usage: agent sync --now [--source NAME]... [--pull-only | "
      "--push-only]\n"
      "                  [--vouchers] [--full]\n"
      "\n"
      "Reconcile the local store with every enabled source (121, ...: a\n"
      "section per source in the config, see `agent status`): pull what changed\n"
      "there (program, registrations, payments, transactions), then push\n"
      "what was done here (new registrations, edits, status changes).\n"
      "A field changed both here and on the server becomes a conflict for a\n"
      "person to settle (`agent conflicts`). Run it before a distribution.\n"
      "\n"
      "  --source NAME only this source (repeatable; its section must be\n"
      "                enabled)\n"
      "  --pull-only   only download\n"
      "  --push-only   only upload the outbox\n"
      "  --vouchers    also download the paper voucher images of the latest\n"
      "                payment\n"
      "  --full        re-read every registration (a full reconcile)\n"
      "\n"
      "When an `agent daemon` runs for this store, it runs the sync (or the\n"
      "requester joins the sync it is running) and this command shows its\n"
      "progress and result; otherwise the sync runs here.\n"
      "\n"
      "Exit codes: 0 all done; 3 server unreachable (nothing lost, try\n"
      "later); 4 done, but conflicts or rejected entries need a person;\n"
      "5 authentication failed; 6 the daemon was too busy to take the\n"
      "request (nothing done, try again); 1 other failure.\n"
      "\n"
      "Example:\n"
      "  agent sync --now\n",
      agent_cmd_sync },
    { "daemon", "sync in the background, by itself when the link returns",
      "Usage: agent daemon [--interval S] [--probe-interval S] [--detach]\n"
      "                    [--serve [--listen HOST:PORT]]\n"
      "\n"
      "Run in the foreground (for systemd: Type=notify) and sync with the\n"
      "enabled sources every daemon.interval_s seconds (with jitter). When\n"
      "they are unreachable, retry with a growing, capped backoff and probe\n"
      "each source's host every daemon.probe_interval_s seconds; sync a\n"
      "source as soon as its host answers. Holds the store lock for its whole life and listens on a\n"
      "control socket (daemon.socket, default <store>.sock, mode 0600) for\n"
      "`agent sync --now` and `agent status`.\n"
      "SIGTERM/SIGINT: finish the current batch and exit 0; SIGHUP: reload\n"
      "the config and reopen the log file.\n"
      "\n"
      "  --interval S         seconds between syncs (default: config)\n"
      "  --probe-interval S   seconds between probes while offline\n"
      "  --detach             run in the background; print its pid once\n"
      "                       it is ready\n"
      "  --serve              also answer the 121 API and the dashboard\n"
      "                       (as `agent serve`)\n"
      "  --listen HOST:PORT   with --serve (default: serve.listen)\n"
      "\n"
      "Example:\n"
      "  agent daemon --interval 900\n",
      agent_cmd_daemon },
    { "serve", "answer the 121 API and a dashboard from the local store",
      "Usage: agent serve [--listen HOST:PORT]\n"
      "\n"
      "Answer the 121 API (/api/...) from the local store, so that tools\n"
      "written for 121 (kobo-connect, dashboards, scripts) work offline by\n"
      "pointing them at this device; writes are queued in the outbox like\n"
      "CLI writes and sent by the next sync. A dashboard is at /.\n"
      "Log in with POST /api/users/login as the [121] user and the local\n"
      "password set by `agent serve passwd`.\n"
      "\n"
      "  --listen HOST:PORT   default serve.listen (127.0.0.1:8121); an\n"
      "                       address other than loopback needs\n"
      "                       serve.tls_cert and serve.tls_key\n"
      "\n"
      "Runs until SIGINT/SIGTERM. `agent daemon --serve` runs it beside\n"
      "the background sync.\n"
      "\n"
      "Example:\n"
      "  agent serve --listen 127.0.0.1:8121\n",
      agent_cmd_serve },
    { "serve passwd", "set the local password of the API login",
      "Usage: agent serve passwd\n"
      "\n"
      "Read a new password (at least 8 characters) from the terminal, or\n"
      "one line from stdin, and store its salted PBKDF2-HMAC-SHA256 hash.\n"
      "It is not the 121 password, which the API never takes.\n"
      "\n"
      "Example:\n"
      "  agent serve passwd\n",
      agent_cmd_serve_passwd },
    { "kobo setup", "connect a KoboToolbox form to the 121 program",
      "Usage: agent kobo setup --url URL --asset UID --mapping FILE "
      "[--program ID]\n"
      "                        [--fsp NAME] [--token-file FILE]\n"
      "\n"
      "Write the [kobo] section of the config: the KoboToolbox (kpi) server,\n"
      "the form's asset uid, its mapping file (a JSON object\n"
      "{\"<kobo question>\": \"<121 attribute>\", ...}, the pairs kobo-connect\n"
      "takes as headers) and the 121 program (default: [121] program_id).\n"
      "The token comes from $AGENT_KOBO_TOKEN or token_file (mode 0600).\n"
      "`agent config check` checks the mapping against the form and the\n"
      "program once a sync has stored them.\n"
      "\n"
      "Example:\n"
      "  agent kobo setup --url https://kf.kobotoolbox.org --asset aBcD123 --mapping map.json\n",
      agent_cmd_kobo_setup },
    { "kobo status", "per Kobo form: cursor, imported, edits, rejected",
      "Usage: agent kobo status\n"
      "\n"
      "Per configured form: the _id cursor, submissions imported, edits\n"
      "queued, submissions rejected, submissions deleted from the form\n"
      "after import ([kobo] deleted = report) and the last sync. With\n"
      "--json: {\"forms\": [{\"asset\", \"program\", \"cursor\",\n"
      "\"imported\", \"edits\", \"skipped\", \"validated\", \"rejected\",\n"
      "\"deleted\", \"last_sync\"}, ...], \"deleted\": [{\"asset\", \"id\",\n"
      "\"referenceId\", \"at\"}, ...]}.\n"
      "\n"
      "Example:\n"
      "  agent kobo status\n",
      agent_cmd_kobo_status },
    { "kobo rejected", "list Kobo submissions that could not be imported",
      "Usage: agent kobo rejected\n"
      "\n"
      "List the submissions the mapping refused, with the question and the\n"
      "attribute at fault (never a value). With --json: an array of\n"
      "{\"asset\", \"id\", \"uuid\", \"referenceId\", \"kind\", \"reason\", \"at\",\n"
      "\"retry\"}.\n"
      "\n"
      "Example:\n"
      "  agent kobo rejected\n",
      agent_cmd_kobo_rejected },
    { "kobo retry", "import rejected Kobo submissions again",
      "Usage: agent kobo retry (ID... | --all) [--no-sync]\n"
      "\n"
      "After fixing the mapping (or the answer in Kobo): mark rejected\n"
      "submissions ID (their _id, or ASSET:ID) for a new attempt and run\n"
      "`agent sync --now --source kobo`, which re-reads and imports them.\n"
      "\n"
      "  --all       every rejected submission\n"
      "  --no-sync   only mark them; the next sync imports them\n"
      "\n"
      "Example:\n"
      "  agent kobo retry --all\n",
      agent_cmd_kobo_retry },
    { "kobo program", "print a 121 program built from a Kobo form",
      "Usage: agent kobo program ASSET [--create [--again]]\n"
      "\n"
      "Print (JSON) a 121 program made from the stored definition of form\n"
      "ASSET, as kobo-connect's /121-program: setup questions (titlePortal,\n"
      "location, ngo, startDate, endDate, currency, validation, budget,\n"
      "maxPayments, language, ...) give the program fields from their\n"
      "default; the other questions become registration attributes\n"
      "(integer/decimal/range -> numeric, select_one -> dropdown with its\n"
      "choices, tel -> tel, others -> text; tag dedupe -> duplicateCheck).\n"
      "The form is stored by `agent sync --now --source kobo`.\n"
      "--create checks the program offline against what 121 accepts (title,\n"
      "ISO 4217 currency, an fsp select_one whose choices are 121 FSP names)\n"
      "and queues POST /api/programs and its FSP configurations for the next\n"
      "`agent sync --now --source 121` (exactly once, even when an answer is\n"
      "lost; needs a 121 organization admin user). The sync logs the new id;\n"
      "`agent kobo status` shows it. --again asks for a second program.\n"
      "\n"
      "Example:\n"
      "  agent kobo program aBcD123 --create\n",
      agent_cmd_kobo_program },
    { "kobo validation-csv", "write a form's ValidationDataFrom121.csv",
      "Usage: agent kobo validation-csv ASSET [--out FILE] [--upload "
      "[--no-sync]]\n"
      "\n"
      "Write the offline validation data of form ASSET (kobo-connect's\n"
      "/update-kobo-csv) from the local store: referenceId, then every\n"
      "attribute of the form's 121 program, one row per registration\n"
      "(dropdowns as option names). Default FILE: ValidationDataFrom121.csv.\n"
      "--upload queues the file as the form's media file (the old one is\n"
      "deleted) and a redeploy, then runs `agent sync --now --source kobo`;\n"
      "offline the upload stays queued for the next kobo sync (--no-sync:\n"
      "only queue). Done exactly once, even when an answer is lost.\n"
      "\n"
      "Example:\n"
      "  agent kobo validation-csv aBcD123 --upload\n",
      agent_cmd_kobo_validation_csv },
    { "kobo attachment", "write a stored Kobo attachment to a file",
      "Usage: agent kobo attachment REF QUESTION --out FILE\n"
      "\n"
      "Write the file registration REF answered to media question QUESTION\n"
      "(its name, or its full path such as hh/photo) in its Kobo form, as\n"
      "`agent sync --now --source kobo` stored it. `agent registrations\n"
      "show REF` lists the attachments (question, file name, type, size,\n"
      "state). With --json: {\"file\", \"name\", \"size\"}.\n"
      "\n"
      "Example:\n"
      "  agent kobo attachment 0f1e2d3c-... id_photo --out photo.jpg\n",
      agent_cmd_kobo_attachment },
    { "doctor", "check config, secrets, store, disk, sources, TLS, clock",
      "Usage: agent doctor\n"
      "\n"
      "Check what stops field work, one line per check (ok, warning or\n"
      "error, with the fix): the config, secret file modes (password_file\n"
      "and other file keys of enabled sources, the store file), store\n"
      "integrity (quick check), free disk space, schema version, each\n"
      "enabled source's reachability, TLS (certificate, pin), the clock\n"
      "against the server's Date header (warning over 5 minutes), the\n"
      "daemon, and stuck outbox entries. Nothing is written.\n"
      "Exit 0 when every check is ok, 1 otherwise. --json: {\"ok\",\n"
      "\"problems\", \"checks\": [{\"check\", \"status\", \"message\", \"fix\"}]}.\n"
      "\n"
      "Example:\n"
      "  agent doctor\n",
      agent_cmd_doctor },
    { "completion", "print a shell completion script (bash, zsh)",
      "Usage: agent completion bash|zsh\n"
      "\n"
      "Print a completion script made from this binary's command table\n"
      "(commands, subcommands and their options). The package installs the\n"
      "bash one; by hand: agent completion bash > /etc/bash_completion.d/agent\n"
      "\n"
      "Example:\n"
      "  agent completion bash > ~/.local/share/bash-completion/completions/agent\n",
      agent_cmd_completion },
    { "vouchers print", "lay the stored paper vouchers of a payment out as a PDF",
      "Usage: agent vouchers print --payment N [--status S] [--attr KEY=VALUE]"
      " -o FILE.pdf\n"
      "\n"
      "Print the stored paper-voucher images of payment N on A4 pages (8 per\n"
      "page, each with the person's name, phone number, referenceId and\n"
      "voucher code P<payment>-<number> under it), after a cover page with\n"
      "the program name and counts. People whose image is not stored are\n"
      "listed on the cover and on the terminal, not printed. Works offline\n"
      "(images come from `agent sync --now --vouchers`). --json prints\n"
      "{file, pages, printed, selected, handedOut, missing}.\n"
      "\n"
      "Example:\n"
      "  agent vouchers print --payment 1 --status success -o vouchers.pdf\n",
      agent_cmd_vouchers_print },
    { "vouchers export", "write the stored voucher images of a payment as PNG files",
      "Usage: agent vouchers export --payment N [--status S] DIR\n"
      "\n"
      "Write each stored voucher image of payment N to DIR/payment-N-REF.png.\n"
      "\n"
      "Example:\n"
      "  agent vouchers export --payment 1 vouchers/\n",
      agent_cmd_vouchers_export },
    { "vouchers hand-out", "mark a voucher handed out (queued for 121)",
      "Usage: agent vouchers hand-out REF... --payment N [--by NAME]\n"
      "\n"
      "Record that the voucher of each REF for payment N was handed out now,\n"
      "by\n"
      "NAME (default $AGENT_USER or $USER). The time is the device's clock,\n"
      "and says so. A second hand-out of the same voucher is refused with\n"
      "the time and user of the first. The next sync reconciles it with 121\n"
      "(excel-reconciliation, the FSP's template).\n"
      "\n"
      "Example:\n"
      "  agent vouchers hand-out ref-00001 --payment 1 --by amina\n",
      agent_cmd_vouchers_handout },
    { "lookup", "find a person: status, payments, vouchers handed out",
      "Usage: agent lookup TEXT [--limit N]\n"
      "\n"
      "Find people by referenceId, voucher code (P<payment>-<number>), phone\n"
      "number or name, from the store, and show status, payments with the\n"
      "transaction status of each and whether the voucher was handed out.\n"
      "\n"
      "Example:\n"
      "  agent lookup P1-17\n",
      agent_cmd_lookup },
    { "registrations history", "a person's local changes and 121 activities",
      "Usage: agent registrations history REF\n"
      "\n"
      "Show the changes made on this device (outbox) and the activities\n"
      "pulled from 121 (status changes, data changes, transactions,\n"
      "messages) of REF. Activities are pulled by sync for the people this\n"
      "device gave a voucher or a message since the last sync.\n"
      "\n"
      "Example:\n"
      "  agent registrations history ref-00001\n",
      agent_cmd_reg_history },
    { "reconcile import", "queue an FSP reconciliation file for 121",
      "Usage: agent reconcile import FILE.csv --payment N\n"
      "\n"
      "Check FILE.csv (a match column of 121's reconciliation template, as\n"
      "pulled by the last sync, then status: success or error, and optional\n"
      "errorMessage; ',' or ';' separated) against the store: rows with an\n"
      "unknown person, no transaction in payment N or a bad status are all\n"
      "listed and nothing is queued. Otherwise every row is queued and the\n"
      "next sync uploads it (POST .../payments/N/excel-reconciliation).\n"
      "\n"
      "Example:\n"
      "  agent reconcile import fsp-result.csv --payment 1\n",
      agent_cmd_reconcile_import },
    { "export unused-vouchers", "vouchers of a payment not handed out (CSV)",
      "Usage: agent export unused-vouchers --payment N\n"
      "\n"
      "Print, as CSV, the paper vouchers of payment N (transactions in\n"
      "success or waiting) not marked handed out, with 121's export columns:\n"
      "referenceId, paymentId, issueDate, whatsappPhoneNumber,\n"
      "lastExternalUpdate. --json: {\"fileName\",\"data\"} as 121 answers.\n",
      agent_cmd_export_unused },
    { "messages send", "queue a message to people (sent by the next sync)",
      "Usage: agent messages send (--template TYPE | --text TEXT)\n"
      "       (--ref REF[,REF...] | --status S | --attr KEY=VALUE | --all)\n"
      "\n"
      "Queue one message to each chosen person (121 sends it as SMS or\n"
      "WhatsApp). --status and --attr may be combined, also with --ref.\n"
      "The next sync sends them with POST .../registrations/message in\n"
      "chunks, each checked by a dry run, and never sends one twice.\n"
      "\n"
      "Example:\n"
      "  agent messages send --template included --status included\n",
      agent_cmd_messages_send },
    { "messages list", "queued and sent messages, per send",
      "Usage: agent messages list\n"
      "\n"
      "One line per `messages send`: its text or template, and how many are\n"
      "queued, sent, rejected and in flight.\n"
      "\n"
      "Example:\n"
      "  agent messages list\n",
      agent_cmd_messages_list },
    { "templates list", "the program's message templates",
      "Usage: agent templates list\n"
      "\n"
      "Example:\n"
      "  agent templates list\n", agent_cmd_templates_list },
    { "templates show", "one message template",
      "Usage: agent templates show TYPE LANG\n"
      "\n"
      "Example:\n"
      "  agent templates show included en\n", agent_cmd_templates_show },
    { "templates set", "change (or add) a message template",
      "Usage: agent templates set TYPE LANG (TEXT | --text TEXT)\n"
      "\n"
      "Set the text of template TYPE in language LANG in the store at once\n"
      "and queue it for 121 (PATCH, or POST for a new template).\n"
      "\n"
      "Example:\n"
      "  agent templates set included nl \"Welkom, {{fullName}}\"\n",
      agent_cmd_templates_set },
    { "program label", "translate the label of a registration attribute",
      "Usage: agent program label ATTR --lang L TEXT\n"
      "\n"
      "Set the label of attribute ATTR in language L: the stored program\n"
      "shows it at once; the next sync sends PATCH\n"
      ".../registration-attributes/ATTR.\n"
      "\n"
      "Example:\n"
      "  agent program label district --lang fr \"District\"\n",
      agent_cmd_program_label },
    { "encrypt", "encrypt a plain store (copy, verify, swap)",
      "Usage: agent encrypt [--key-file FILE] [--passphrase]\n"
      "\n"
      "Encrypt the store: a new encrypted copy is made beside it, verified\n"
      "(integrity and row counts), moved over the store in one step, and\n"
      "the old file is overwritten with zeros and removed. It then opens\n"
      "with a passphrase (AGENT_STORE_PASSPHRASE, store.passphrase_file,\n"
      "or typed at the prompt; never on the command line) and/or a key\n"
      "file (mode 0600, made when it does not exist; written to\n"
      "store.key_file). Default: a passphrase. LOSE BOTH AND THE DATA IS\n"
      "GONE. Stop the daemon first.\n"
      "\n"
      "  --key-file FILE  open with this key file (the daemon's way)\n"
      "  --passphrase     also a passphrase (with --key-file)\n"
      "\n"
      "Example:\n"
      "  agent encrypt --key-file /etc/agent/store.key\n",
      agent_cmd_encrypt },
    { "decrypt", "turn an encrypted store back into a plain one (support)",
      "Usage: agent decrypt\n"
      "\n"
      "Write the store back in clear (copy, verify, swap), for support\n"
      "work. Needs its key. Anyone with the file can then read it.\n"
      "\n"
      "Example:\n"
      "  agent decrypt\n",
      agent_cmd_decrypt },
    { "key add", "add a passphrase or key file to an encrypted store",
      "Usage: agent key add (--passphrase | --key-file FILE)\n"
      "\n"
      "Wrap the store's key for one more way in (needs a current one).\n"
      "The new passphrase comes from AGENT_STORE_NEW_PASSPHRASE or is asked\n"
      "twice at the prompt; adding a passphrase when there is one changes\n"
      "it. A key file is made (mode 0600) when it does not exist and is\n"
      "written to store.key_file.\n"
      "\n"
      "Example:\n"
      "  agent key add --key-file /etc/agent/store.key\n",
      agent_cmd_key_add },
    { "key remove", "remove the passphrase or the key file of a store",
      "Usage: agent key remove (--passphrase | --key-file)\n"
      "\n"
      "Remove one way in; the last one cannot be removed.\n"
      "\n"
      "Example:\n"
      "  agent key remove --passphrase\n",
      agent_cmd_key_remove },
    { "key rotate", "give an encrypted store a new data key",
      "Usage: agent key rotate\n"
      "\n"
      "Re-encrypt the store with a new random data key (copy, verify,\n"
      "swap), wrapped the same ways as before: the configured key file,\n"
      "and the passphrase (kept, or AGENT_STORE_NEW_PASSPHRASE). Old copies\n"
      "of the store and its key ring stay readable with the old key: delete\n"
      "them. Stop the daemon first.\n"
      "\n"
      "Example:\n"
      "  agent key rotate\n",
      agent_cmd_key_rotate },
    { "backup", "write an encrypted, compressed backup of the store",
      "Usage: agent backup FILE [--key-file KEY]\n"
      "\n"
      "Write a consistent copy of the store (made while it is in use) to\n"
      "FILE (mode 0600): compressed, and encrypted with AES-256-GCM in\n"
      "authenticated chunks. The key: the store's own (an encrypted store;\n"
      "the backup opens where its key ring and passphrase or key file\n"
      "are), or with --key-file KEY the key file KEY (made, mode 0600, if\n"
      "it does not exist): give that file to whoever restores it. A plain\n"
      "store needs --key-file. Copy the store's .keys file too.\n"
      "\n"
      "Example:\n"
      "  agent backup /media/usb/agent-backup.bin\n",
      agent_cmd_backup },
    { "restore", "replace the store with a backup (all checked first)",
      "Usage: agent restore FILE [--key-file KEY]\n"
      "\n"
      "Check the whole backup (key, every chunk, the store inside it), make\n"
      "a verified copy beside the store (encrypted with the store's key when\n"
      "the store is encrypted), then put it in place in one step. Nothing\n"
      "is replaced when any check fails. Stop the daemon first.\n"
      "\n"
      "Example:\n"
      "  agent restore /media/usb/agent-backup.bin\n",
      agent_cmd_restore },
    { "bundle keygen", "make a signing key for bundles (and the shared key)",
      "Usage: agent bundle keygen FILE [--public PUB] [--key-file KEY]\n"
      "\n"
      "Make an ECDSA P-256 signing key: FILE (private, mode 0600; set\n"
      "[bundle] signing_key = FILE here) and its public key PUB (default\n"
      "FILE.pub: copy it to the other side and list it in [bundle]\n"
      "trusted_keys there). With --key-file KEY, also make the key file\n"
      "that encrypts the bundles when it does not exist: the same file goes\n"
      "to both sides ([bundle] key_file). Existing files are never\n"
      "overwritten.\n"
      "\n"
      "Example:\n"
      "  agent bundle keygen /etc/agent/bundle-sign.pem "
      "--key-file /etc/agent/bundle.key\n",
      agent_cmd_bundle_keygen },
    { "bundle export", "write the unsent outbox to a signed bundle file",
      "Usage: agent bundle export FILE [--since N] [--server]\n"
      "       [--key-file KEY] [--signing-key PEM]\n"
      "\n"
      "Write bundle N+1 of this store to FILE (mode 0600): the outbox\n"
      "entries not sent yet that were queued after this store's bundle N\n"
      "(--since N; default: its last bundle; 0: from the start),\n"
      "compressed, encrypted with the shared key file and signed. With\n"
      "--server (an office agent that syncs), also the programs and the\n"
      "server copies of registrations it pulled after bundle N. If a stick\n"
      "is lost, export again with --since the last bundle the other side\n"
      "imported.\n"
      "\n"
      "Example:\n"
      "  agent bundle export /media/usb/site-7.bundle\n",
      agent_cmd_bundle_export },
    { "bundle import", "apply a bundle file (checked, once, in order)",
      "Usage: agent bundle import FILE [--key-file KEY] [--trusted-keys "
      "PEMS]\n"
      "\n"
      "Check the bundle's signature against the pinned public keys and\n"
      "decrypt it before anything is applied; then apply it in one\n"
      "transaction: entries keep their operation ids, so importing twice\n"
      "changes nothing and the server sees each once. Bundles of one\n"
      "device are applied in order: a gap or an older bundle is refused.\n"
      "\n"
      "Example:\n"
      "  agent bundle import /media/usb/site-7.bundle\n",
      agent_cmd_bundle_import },
    { "help", "print the usage of a command",
      "Usage: agent help [COMMAND]\n"
      "\n"
      "Example:\n"
      "  agent help registrations add\n", NULL },
};

const size_t agent_commands_count =
    sizeof(agent_commands) / sizeof(agent_commands[0]);
