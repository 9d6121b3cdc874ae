// Secrets come from the environment or a prompt without echo, never from argv.
import { CliError, EXIT } from './errors.ts';

/**
 * Reads a secret: the environment variable `envName` if set, else a no-echo prompt on the terminal.
 * When stdin is not a terminal and the variable is unset, fails at once naming the variable.
 */
export async function readSecret(envName: string, prompt: string, opts: { confirm?: boolean } = {}): Promise<string> {
  const fromEnv = process.env[envName];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!process.stdin.isTTY) {
    throw new CliError(`${prompt.replace(/:\s*$/, '')} needed but stdin is not a terminal; set ${envName}`, EXIT.USAGE);
  }
  for (;;) {
    const first = await promptHidden(`${prompt} `);
    if (!opts.confirm) return first;
    if (first.length === 0) {
      process.stderr.write('empty, try again\n');
      continue;
    }
    const second = await promptHidden('Repeat: ');
    if (first === second) return first;
    process.stderr.write('the two entries differ, try again\n');
  }
}

function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    let value = '';
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('interrupted', EXIT.ERROR));
        if (ch === '\u0004' && value === '') return done(new CliError('no input', EXIT.ERROR));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
