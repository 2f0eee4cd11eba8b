/**
 * Writing key and certificate files safely (kubectl mtls issue --local, init-root --out): every
 * file is created exclusively (O_CREAT|O_EXCL) without following a symlink (O_NOFOLLOW), with its
 * mode set on the new descriptor, so a pre-planted link or a world-readable file cannot receive
 * a private key. Existing files are refused unless `overwrite`; then they are unlinked first
 * (a link is removed, never its target) and created afresh. Nothing is written when any target is
 * in the way, so a refused command leaves no half-written set.
 */
import { closeSync, constants, fchmodSync, lstatSync, mkdirSync, openSync, unlinkSync, writeSync } from 'node:fs';

export interface FileToWrite {
  path: string;
  content: string;
  mode: number;
}

export class FileWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileWriteError';
  }
}

function kindOf(path: string): string | undefined {
  try {
    const st = lstatSync(path);
    return st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : st.isFile() ? 'a file' : 'a special file';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FileWriteError(`cannot check ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

const FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Creates dir (and parents) when absent, then writes every file as the module comment says. */
export function writeNewFiles(dir: string, files: FileToWrite[], overwrite: boolean): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new FileWriteError(`cannot create directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const inTheWay = files.map((f) => ({ f, kind: kindOf(f.path) })).filter((x) => x.kind !== undefined);
  const dirs = inTheWay.filter((x) => x.kind === 'a directory' || x.kind === 'a special file');
  if (dirs.length) throw new FileWriteError(`${dirs[0]!.f.path} is ${dirs[0]!.kind}: choose another --out directory`);
  if (inTheWay.length && !overwrite) {
    throw new FileWriteError(`${inTheWay.map((x) => `${x.f.path} (${x.kind})`).join(', ')} already exist${inTheWay.length === 1 ? 's' : ''}: nothing written; pass --force to replace, or choose another --out directory`);
  }
  for (const { f } of inTheWay) {
    try {
      unlinkSync(f.path); // a symbolic link itself, not what it points to
    } catch (err) {
      throw new FileWriteError(`cannot remove ${f.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  for (const f of files) {
    let fd: number;
    try {
      fd = openSync(f.path, FLAGS, f.mode);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EEXIST' || code === 'ELOOP' ? 'it appeared while writing (another process?)' : code ?? (err as Error).message;
      throw new FileWriteError(`cannot create ${f.path}: ${why}`);
    }
    try {
      fchmodSync(fd, f.mode); // exactly this mode, whatever the umask
      writeSync(fd, f.content);
    } finally {
      closeSync(fd);
    }
  }
}
