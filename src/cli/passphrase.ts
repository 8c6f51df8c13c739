import { readFile } from 'node:fs/promises';
import { UserError, messageOf } from '../core/errors.ts';
import { checkPassphrase } from '../system/backup-file.ts';

/** The passphrase from `--passphrase-file F` (its first line), else asked on the terminal. */
export async function readPassphrase(file: string | undefined, confirm: boolean): Promise<string> {
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UserError('bad_passphrase_file', `cannot read --passphrase-file ${file}: ${messageOf(err)}`);
    }
    const line = text.split(/\r?\n/)[0] ?? '';
    checkPassphrase(line);
    return line;
  }
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UserError('no_passphrase', 'no terminal to ask for the passphrase: give --passphrase-file FILE');
  }
  const first = await ask('passphrase: ');
  checkPassphrase(first);
  if (confirm && (await ask('passphrase again: ')) !== first) throw new UserError('passphrase_mismatch', 'the two passphrases differ');
  return first;
}

/** Reads one line from the terminal without echoing it. */
function ask(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new UserError('cancelled', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}
