/**
 * The demo programs' logging: one JSON object a line on stdout (what `kubectl logs` shows), with
 * time, level, component and msg first. Never key material: a line that would carry a PEM
 * private key block is replaced, whatever a caller passes.
 */

const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

export type Fields = Record<string, unknown>;
export type Level = 'info' | 'warn' | 'error';

export interface Log {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
}

export function createLog(component: string, out: NodeJS.WritableStream = process.stdout): Log {
  const write = (level: Level, msg: string, fields: Fields = {}): void => {
    const head = { time: new Date().toISOString(), level, component, msg };
    // head first (for people reading the logs) and never overridden by a field
    let line = JSON.stringify({ ...head, ...fields, ...head });
    if (PRIVATE_KEY_PEM.test(line)) line = JSON.stringify({ ...head, msg: 'log line withheld: it carried private key material' });
    out.write(`${line}\n`);
  };
  return {
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
  };
}

/**
 * An error's message and code, for a log field (never its stack). OpenSSL's messages
 * ("40CD...:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:
 * ../deps/...:918:SSL alert number 116") are cut down to their reason.
 */
export function describeError(err: unknown): { error: string; code?: string } {
  const e = err as NodeJS.ErrnoException;
  let message = (typeof e?.message === 'string' ? e.message : String(err)).trim();
  const ssl = /:SSL routines:[^:]*:([^:]+)/.exec(message);
  const alert = /SSL alert number (\d+)/.exec(message)?.[1];
  if (ssl?.[1]) message = alert ? `${ssl[1]} (SSL alert ${alert})` : ssl[1];
  return typeof e?.code === 'string' ? { error: message, code: e.code } : { error: message };
}
