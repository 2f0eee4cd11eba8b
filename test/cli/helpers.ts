/** Running kubectl-mtls commands in memory: a context with captured output, a fixed clock, temp files. */
import { readFileSync } from 'node:fs';
import { writeNewFiles } from '../../src/cli/files.ts';
import type { CommandContext } from '../../src/cli/args.ts';
import { run } from '../../src/cli/main.ts';
import { MemoryCliClient } from './memory-client.ts';

export const NOW = new Date('2026-03-01T12:00:00.000Z');

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Harness {
  client: MemoryCliClient;
  /** Sleeps the commands asked for. */
  sleeps: number[];
  /** Called at each sleep (a test advances the world there). */
  onSleep?: (n: number) => void | Promise<void>;
  run(...argv: string[]): Promise<Outcome>;
}

export function harness(client = new MemoryCliClient(), namespace = 'team-a', now: () => Date = () => NOW): Harness {
  const h: Harness = {
    client,
    sleeps: [],
    async run(...argv) {
      let stdout = '';
      let stderr = '';
      const ctx: CommandContext = {
        io: { out: (t) => void (stdout += t), err: (t) => void (stderr += t) },
        now,
        sleep: async (ms) => {
          h.sleeps.push(ms);
          await h.onSleep?.(h.sleeps.length);
        },
        cluster: () => ({ client, namespace }),
        readFile: (p) => readFileSync(p, 'utf8'),
        writeFiles: writeNewFiles,
      };
      const code = await run(argv, ctx);
      return { code, stdout, stderr };
    },
  };
  return h;
}
