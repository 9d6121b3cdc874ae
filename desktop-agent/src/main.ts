// `coffer` command line: argument parsing, help, output and exit codes. Commands live in
// commands.ts and are loaded only when one runs.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { ApiError, CliError, EXIT, isIntegrityFailure, UsageError } from './errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Invocation {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  json: boolean;
  quiet: boolean;
}

export interface CommandSpec {
  usage: string;
  summary: string;
  details?: string;
  options?: Options;
  optionHelp?: string[];
  min: number;
  max: number;
}

/**
 * Commands that download files. A download makes two short-lived buffers of every byte it moves
 * (the socket's 64 KiB reads and node:crypto's decrypted pieces, before they are copied into pooled
 * buffers): ~2 GiB of external memory per GiB. With incremental marking, V8 answered nearly every
 * 64 MB of it with a full mark-compact (~120 in a 1 GiB get, about a third of the CLI's CPU);
 * without it, the same garbage goes in scavenges. Measured in docs/benchmarks.md ("coffer CLI"):
 * user CPU 4.3 → 2.2 s per GiB got, peak RSS the same. A put gains less (5.1 → 4.1 s) and peaks
 * ~15 MiB higher, which took a 4 GiB put past its 200 MB bound, so it keeps V8's default.
 */
const DOWNLOADS = new Set(['get', 'fetch']);

const SERVER_OPTS: Options = { server: { type: 'string' }, email: { type: 'string' } };
const SERVER_HELP = [
  '--server URL      server address (env COFFER_SERVER)',
  '--email ADDR      account e-mail (env COFFER_EMAIL)',
];

export const COMMANDS: Record<string, CommandSpec> = {
  signup: {
    usage: 'signup --server URL --email ADDR', summary: 'create an account and log this device in',
    details: 'Asks for a new passphrase (or reads COFFER_PASSPHRASE) and prints the recovery code once.\nWrite the recovery code down: it is the only way back in without the passphrase.',
    options: SERVER_OPTS, optionHelp: SERVER_HELP, min: 0, max: 0,
  },
  login: {
    usage: 'login --server URL --email ADDR [--recovery]', summary: 'log this device in to an existing account',
    details: 'Asks for the passphrase (or reads COFFER_PASSPHRASE). With --recovery, asks for the recovery\ncode instead (or reads COFFER_RECOVERY_CODE).',
    options: { ...SERVER_OPTS, recovery: { type: 'boolean' } },
    optionHelp: [...SERVER_HELP, '--recovery        log in with the recovery code'], min: 0, max: 0,
  },
  logout: { usage: 'logout', summary: 'end the session and delete the keys kept under COFFER_HOME', min: 0, max: 0 },
  status: { usage: 'status', summary: 'show the server, account and storage used', min: 0, max: 0 },
  sessions: {
    usage: 'sessions', summary: 'list where the account is logged in, and when each session ends',
    details: 'A session ends when unused for a while, and at the latest some time after its log-in (the\nserver\'s COFFER_SESSION_IDLE_SECONDS and COFFER_SESSION_MAX_SECONDS); then log in again.',
    min: 0, max: 0,
  },
  'end-session': {
    usage: 'end-session ID', summary: 'log out another session (ID from `coffer sessions`)',
    details: 'That client can no longer reach the account. Keys it already holds stay with it.', min: 1, max: 1,
  },
  devices: {
    usage: 'devices', summary: 'list the devices logged in to the account, by name',
    details: 'Each line: the device id (as remove-device takes it), its name, when it was added and last\nseen, and "(this one)" for this device. Names are sealed with the account key; one that does\nnot open shows as "(name unreadable)" (null with --json).',
    min: 0, max: 0,
  },
  'remove-device': {
    usage: 'remove-device ID', summary: 'remove another device and log it out (ID from `coffer devices`)',
    details: 'Every session of that device ends: it must log in again to reach the account. Keys it already\nholds stay with it. This device is removed with `coffer logout`.', min: 1, max: 1,
  },
  ls: { usage: 'ls [PATH]', summary: 'list a folder (default: the vault root)', min: 0, max: 1 },
  mkdir: { usage: 'mkdir PATH', summary: 'create a folder (and missing parents)', min: 1, max: 1 },
  put: {
    usage: 'put LOCAL [REMOTE]', summary: 'upload a file or folder',
    details: 'REMOTE defaults to /NAME. If REMOTE is an existing folder or ends in "/", LOCAL goes inside it.\nAn existing file gets a new version. Only chunks the server lacks are sent. An interrupted put\ncontinues where it stopped when run again. If someone else committed a newer version meanwhile,\nthe upload is kept as "NAME (conflict from HOST DATE).EXT".',
    min: 1, max: 2,
  },
  get: {
    usage: 'get REMOTE [LOCAL]', summary: 'download a file or folder',
    details: 'LOCAL defaults to ./NAME. An existing local folder, or a LOCAL ending in "/" (made if missing),\nreceives NAME inside it, for a folder as for a file. A REMOTE folder ending in "/" puts its\ncontents into LOCAL itself, as rsync does (so an interrupted get into a LOCAL that the first run\nmade continues with `get REMOTE/ LOCAL`). An existing local file of the same name is replaced\nwithout asking (as cp, rclone copy and restic restore do), unless it already holds exactly the\nbytes in the vault (then it is left as it is and counted unchanged); local files that are not in the\nvault are left alone. Data is written to LOCAL.coffer-partial and renamed into place once every chunk\nverified; an interrupted get continues when run again. A failed integrity check exits with 4 and\nleaves no LOCAL.',
    min: 1, max: 2,
  },
  mv: { usage: 'mv FROM TO', summary: 'move or rename a file or folder', min: 2, max: 2 },
  rm: { usage: 'rm PATH', summary: 'move a file or folder to the trash', min: 1, max: 1 },
  trash: { usage: 'trash', summary: 'list the trash', min: 0, max: 0 },
  'restore-trash': { usage: 'restore-trash PATH', summary: 'bring a trashed file or folder back to PATH (its old place)', min: 1, max: 1 },
  versions: { usage: 'versions PATH', summary: 'list the versions of a file', min: 1, max: 1 },
  restore: {
    usage: 'restore PATH --version N', summary: 'make version N the newest version again',
    details: 'Re-seals version N\'s manifest as a new version; nothing is uploaded.',
    options: { version: { type: 'string' } }, optionHelp: ['--version N       the version to restore'], min: 1, max: 1,
  },
  share: {
    usage: 'share PATH [--password] [--expires 7d] [--max-downloads N]', summary: 'make a share link (prints URL/s/ID#SECRET)',
    details: 'Anyone with the whole link can read PATH (a file or a folder); the part after "#" is the key\nand never reaches the server. --password asks for a link password (or reads COFFER_LINK_PASSWORD).',
    options: { password: { type: 'boolean' }, expires: { type: 'string' }, 'max-downloads': { type: 'string' } },
    optionHelp: [
      '--password        protect the link with a password (prompted, or env COFFER_LINK_PASSWORD)',
      '--expires WHEN    expire after 90s, 30m, 12h, 7d, 2w, or at an ISO date (2027-01-31, 2027-01-31T18:00Z);',
      '                  at most 10 years ahead',
      '--max-downloads N stop after N opens',
    ],
    min: 1, max: 1,
  },
  links: { usage: 'links', summary: 'list your share links', min: 0, max: 0 },
  unshare: { usage: 'unshare ID', summary: 'revoke a share link', min: 1, max: 1 },
  fetch: {
    usage: 'fetch LINK [-o DEST]', summary: 'download what a share link points at (no account needed)',
    details: 'Pass the link in COFFER_LINK instead of as an argument to keep its secret out of the process list.\nA password-protected link asks for the password (or reads COFFER_LINK_PASSWORD).\nDEST defaults to ./NAME; an existing folder, or a DEST ending in "/", receives NAME inside it.\nAn existing local file of the same name is replaced without asking, unless a fetch with this\nCOFFER_HOME wrote it and it still holds exactly those bytes (then it is left as it is and counted\nunchanged). An interrupted fetch continues when run again, after checking what it wrote.',
    options: { output: { type: 'string', short: 'o' } },
    optionHelp: ['-o, --output DEST  where to write (default: ./NAME; replaced if it is a file)'], min: 0, max: 1,
  },
};

const GLOBAL_OPTS: Options = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
};

const GLOBAL_HELP = [
  '--json            machine-readable output on stdout (one JSON document)',
  '-q, --quiet       no progress bars or informational messages',
  '-h, --help        show help',
];

const FOOTER = `Environment:
  COFFER_SERVER, COFFER_EMAIL   defaults for --server and --email
  COFFER_HOME                   where keys and session live (default $XDG_CONFIG_HOME/coffer or ~/.config/coffer)
  COFFER_PASSPHRASE             passphrase, instead of a prompt (signup, login)
  COFFER_RECOVERY_CODE          recovery code, instead of a prompt (login --recovery)
  COFFER_LINK_PASSWORD          link password, instead of a prompt (share --password, fetch)
  COFFER_LINK                   share link for fetch, instead of the argument

Exit codes:
  0  success
  1  error (network, server, not found, ...)
  2  usage error (bad arguments, missing secret with no terminal to ask on)
  3  authentication failure (not logged in, wrong passphrase or link password)
  4  integrity failure (downloaded data does not verify; nothing is left in place)`;

function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `coffer: zero-knowledge end-to-end encrypted file vault

Usage: coffer COMMAND [options] [args]

Commands:
${lines.join('\n')}

Global options:
${GLOBAL_HELP.map((l) => '  ' + l).join('\n')}

Run \`coffer COMMAND --help\` for the options of a command.

${FOOTER}
`;
}

function commandHelp(name: string, c: CommandSpec): string {
  const opts = [...(c.optionHelp ?? []), ...GLOBAL_HELP].map((l) => '  ' + l).join('\n');
  return `Usage: coffer ${c.usage}

${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.${c.details ? '\n\n' + c.details : ''}

Options:
${opts}

${FOOTER}
`;
}

function fail(err: unknown, json: boolean): never {
  let code: number = EXIT.ERROR;
  let message: string;
  let errCode: string | undefined;
  if (err instanceof CliError) {
    code = err.exitCode;
    message = err.message;
    errCode = err.code;
  } else if (isIntegrityFailure(err)) {
    code = EXIT.INTEGRITY;
    message = `integrity check failed: ${err.code}`;
    errCode = err.code;
  } else if ((err as { code?: string })?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as { code?: string })?.code?.startsWith?.('ERR_PARSE_ARGS')) {
    code = EXIT.USAGE;
    message = (err as Error).message;
    errCode = 'USAGE';
  } else if ((err as NodeJS.ErrnoException)?.syscall) {
    const e = err as NodeJS.ErrnoException;
    message = `${e.code ?? 'error'}: ${e.syscall} ${e.path ?? ''}`.trim();
    errCode = e.code;
  } else if (err instanceof Error && (err as { code?: string }).code) {
    message = `${(err as { code?: string }).code}: ${err.message}`;
    errCode = (err as { code?: string }).code;
  } else {
    message = err instanceof Error ? err.message : String(err);
  }
  if (json) process.stdout.write(JSON.stringify({ ok: false, exitCode: code, code: errCode ?? null, error: message }) + '\n');
  process.stderr.write(`coffer: ${message}\n`);
  if (code === EXIT.USAGE && err instanceof UsageError) process.stderr.write('Run `coffer --help` for usage.\n');
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  try {
    const name = argv[0];
    if (!name || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(mainHelp());
      if (!name) process.exitCode = EXIT.USAGE;
      return;
    }
    if (name === '--version' || name === 'version') {
      process.stdout.write('coffer 0.1.0 (format v1)\n');
      return;
    }
    const spec = COMMANDS[name];
    if (!spec) throw new UsageError(`unknown command "${name}"`);
    const { values, positionals } = parseArgs({
      args: argv.slice(1),
      options: { ...GLOBAL_OPTS, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      process.stdout.write(commandHelp(name, spec));
      return;
    }
    if (positionals.length < spec.min || positionals.length > spec.max) {
      throw new UsageError(`usage: coffer ${spec.usage}`);
    }
    // Early: before the command's modules load, while the heap is still small.
    if (DOWNLOADS.has(name)) setFlagsFromString('--no-incremental-marking');
    const [{ run }, { setCryptoBackend }, { nodeCryptoBackend }] = await Promise.all([
      import('./commands.ts'), import('@coffer/crypto-core'), import('@coffer/crypto-core/node'),
    ]);
    // node:crypto does AES-GCM, HMAC and X25519 synchronously without WebCrypto's per-call copies
    // (about 3x cheaper folder listings) and derives Argon2id with the native argon2 package (~0.2 s
    // instead of ~0.35 s); crypto-core bench and crypto-core/README.md. File chunks are sealed on
    // this thread, not on the backend's chunk worker: one thread seals faster than most links
    // carry, a server on the same machine wants the other core, and the worker's transfers cost
    // more CPU than they save (docs/benchmarks.md, "coffer CLI").
    setCryptoBackend({ ...nodeCryptoBackend, sealChunk: undefined });
    // Less 2 s for file systems that keep coarse times: what this run writes is not older.
    const started = Date.now() - 2000;
    try {
      await run(name, {
        values: values as Invocation['values'],
        positionals,
        json: Boolean(values.json),
        quiet: Boolean(values.quiet),
      });
    } finally {
      // Ended or failed, a fetch keeps COFFER_HOME/fetched bounded, and what it used (home.ts).
      if (name === 'fetch') {
        await (await import('./home.ts')).pruneFetched(started).catch((err: unknown) => {
          process.stderr.write(`coffer: warning: old records in COFFER_HOME/fetched could not be removed (${(err as Error).message})\n`);
        });
      }
    }
  } catch (err) {
    fail(err, json);
  }
}

process.on('unhandledRejection', (err) => fail(err, process.argv.includes('--json')));
await main(process.argv.slice(2));
void ApiError;
