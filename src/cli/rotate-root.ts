/**
 * kubectl mtls rotate-root: starts, aborts and follows the operator's staged root rotation.
 * Thin by design: the operator does the work. Contract (controller/ca-source.ts, decide/rotation.ts):
 *   start   annotate the CA Secret mtls.dev/rotate-to=<new root Secret | generate>
 *   abort   annotate the CA Secret mtls.dev/rotation-abort=<now> (honoured while Prepared)
 *   state   ConfigMap mtls-trust-rotation in the CA namespace (phase, since, message, ...)
 */
import { CA_CRT, TLS_CRT, TLS_KEY, type Secret } from '../api/types.ts';
import { ANNOTATION_ROTATE_TO, ANNOTATION_ROTATION_ABORT, ROTATION_CONFIGMAP } from '../controller/ca-source.ts';
import { isRunning, recordFromData, rotationFromData, type RotationState } from '../decide/rotation.ts';
import { fingerprintOf, loadSigningCA } from '../pki/index.ts';
import { X509Certificate } from 'node:crypto';
import { CliError, fields, parse, usageError, type CommandContext, type CommandResult } from './args.ts';
import type { CliClient } from './client.ts';
import { DEFAULT_CA_NAMESPACE, DEFAULT_CA_SECRET } from './init-root.ts';

export const ROTATE_ROOT_HELP = `Usage: kubectl mtls rotate-root [--new-root-secret NAME]     start a rotation
       kubectl mtls rotate-root --status [--watch]          show (or follow) its progress
       kubectl mtls rotate-root --abort                     abort it (only before it is Active)
  [-n ${DEFAULT_CA_NAMESPACE}] [--ca-secret ${DEFAULT_CA_SECRET}] [--interval 5s] [-o json|yaml]

Staged root rotation: the new root joins every trust bundle (Prepared), then signs and every
leaf is re-issued (Active), then the old root leaves the bundles (Retired). Without
--new-root-secret the operator generates the new root; with it, NAME is a CA Secret (tls.crt,
tls.key[, ca.crt]) in the CA namespace, e.g. made with init-root --name NAME.`;

const DONE: readonly string[] = ['Retired', 'Aborted'];

function stateText(s: RotationState | undefined, pending: string | undefined, refused?: string): string {
  const refusal = refused && pending && refused.startsWith(`${pending}: `) ? refused.slice(pending.length + 2) : undefined;
  if (!s) {
    if (refusal) return `Rotation to ${pending} requested and refused by the operator: ${refusal}`;
    return pending ? `Rotation to ${pending} requested; the operator has not started it yet` : 'No root rotation has run';
  }
  const rows: [string, string | undefined][] = [
    ['Phase', s.phase],
    ['Since', s.since],
    ['Message', s.message],
    ['New root', s.newRootFingerprint ? `${s.newRootFingerprint} (Secret ${s.newRootSecret})` : s.newRootSecret],
    ['Old root', s.oldRootFingerprint],
    ['Progress', s.total ? `${s.done}/${s.total}` : undefined],
    ['Retire after', s.retireAfter],
    ['Cannot re-issue', s.blocked ? s.blocked.split(',').join(', ') : undefined],
  ];
  if (pending && pending !== s.request && !isRunning(s)) rows.push(['Requested', refusal ? `${pending} (refused: ${refusal})` : `${pending} (not started yet)`]);
  return `Root rotation\n${fields(rows)}`;
}

function parseInterval(text: string | undefined): number {
  if (text === undefined) return 5_000;
  const m = /^(\d+)(ms|s|m)?$/.exec(text);
  if (!m) throw usageError(`--interval ${text}: use a duration such as 5s or 500ms`);
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1_000);
  if (ms < 100) throw usageError(`--interval ${text}: at least 100ms`);
  return ms;
}

async function readState(client: CliClient, namespace: string, caSecret: string) {
  const [cm, ca] = await Promise.all([client.getConfigMap(namespace, ROTATION_CONFIGMAP), client.getSecret(namespace, caSecret)]);
  return { state: rotationFromData(cm?.data), refused: recordFromData(cm?.data).refused, pending: ca?.metadata.annotations?.[ANNOTATION_ROTATE_TO], ca };
}

const view = (s: RotationState | undefined, pending: string | undefined, refused?: string) => ({ rotation: s ?? null, requested: pending ?? null, ...(refused ? { refused } : {}) });

const unb64 = (v: string | undefined) => (v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8'));

/**
 * The checks the operator makes before it starts (controller/rotation.ts): the target is a CA
 * whose key matches, valid now, and not the CA that already signs. One line when it is not.
 */
async function checkTarget(target: Secret, current: Secret | undefined, ref: string, now: Date): Promise<void> {
  const certPem = unb64(target.data?.[TLS_CRT]);
  const keyPem = unb64(target.data?.[TLS_KEY]);
  const bundlePem = unb64(target.data?.[CA_CRT]);
  if (!certPem || !keyPem) throw new CliError(`Secret ${ref} must hold tls.crt and tls.key: the operator would refuse it`);
  let fingerprint: string;
  try {
    fingerprint = (await loadSigningCA({ certPem, keyPem, ...(bundlePem ? { bundlePem } : {}) }, now)).fingerprint;
  } catch (err) {
    throw new CliError(`Secret ${ref} is not a usable CA (${(err as Error).message}): the operator would refuse it`);
  }
  const currentPem = unb64(current?.data?.[TLS_CRT]);
  if (currentPem) {
    let same = false;
    try {
      same = fingerprintOf(new X509Certificate(currentPem)) === fingerprint;
    } catch {
      same = false; // an unreadable current CA: the operator says so itself
    }
    if (same) throw new CliError(`Secret ${ref} holds the CA that already signs (${fingerprint}): nothing to rotate to`);
  }
}

export async function rotateRootCommand(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const { values, positionals, output } = parse(args, {
    'new-root-secret': { type: 'string' },
    'ca-secret': { type: 'string' },
    status: { type: 'boolean' },
    watch: { type: 'boolean', short: 'w' },
    interval: { type: 'string' },
    abort: { type: 'boolean' },
  });
  if (values.help) return { data: undefined, text: ROTATE_ROOT_HELP };
  if (positionals.length) throw usageError(`unexpected argument "${positionals[0]}"`);
  const start = !values.status && !values.abort;
  if (values.status && values.abort) throw usageError('--status and --abort exclude each other');
  if (!start && values['new-root-secret'] !== undefined) throw usageError('--new-root-secret starts a rotation: not with --status or --abort');
  if (values.watch && !values.status) throw usageError('--watch goes with --status');
  const intervalMs = parseInterval(values.interval);
  const namespace = values.namespace ?? DEFAULT_CA_NAMESPACE;
  const caSecret = values['ca-secret'] ?? DEFAULT_CA_SECRET;
  const { client } = ctx.cluster();
  let { state, pending, ca, refused } = await readState(client, namespace, caSecret);
  if (!ca) throw new CliError(`CA Secret ${namespace}/${caSecret} not found (create it with init-root)`);

  if (values.status) {
    if (!values.watch) return { data: view(state, pending, refused), text: stateText(state, pending, refused) };
    if (!state && !pending) return { data: view(state, pending), text: stateText(state, pending) };
    let last = '';
    for (;;) {
      const shown = JSON.stringify(view(state, pending));
      if (shown !== last && output === 'text') ctx.io.out(`${ctx.now().toISOString()} ${state ? `${state.phase}: ${state.message}${state.total ? ` (${state.done}/${state.total})` : ''}` : 'no rotation yet'}\n`);
      last = shown;
      if (state && DONE.includes(state.phase) && (!pending || state.request === pending)) break;
      await ctx.sleep(intervalMs);
      ({ state, pending } = await readState(client, namespace, caSecret));
    }
    return { data: view(state, pending), text: output === 'text' ? '' : stateText(state, pending) };
  }

  if (values.abort) {
    if (!isRunning(state)) throw new CliError(pending ? `the rotation to ${pending} has not started yet: remove the ${ANNOTATION_ROTATE_TO} annotation from Secret ${namespace}/${caSecret} instead` : 'no root rotation is running');
    if (state!.phase !== 'Prepared') throw new CliError(`the rotation is ${state!.phase}: the new CA already signs, it can no longer be aborted (it finishes by itself)`);
    const at = ctx.now().toISOString();
    await client.patchSecretAnnotations(namespace, caSecret, { [ANNOTATION_ROTATION_ABORT]: at });
    return { data: { ...view(state, pending), abortRequested: at }, text: `Abort requested for the rotation to ${state!.newRootSecret}: the old root alone will be trusted again` };
  }

  if (isRunning(state)) throw new CliError(`a root rotation is already running (phase ${state!.phase}, new root ${state!.newRootSecret}): see rotate-root --status`);
  const target = values['new-root-secret'] ?? 'generate';
  if (target === caSecret) throw new CliError(`--new-root-secret ${target} is the CA Secret itself`);
  if (state && !state.requestCleared && state.request === target && pending === target) {
    throw new CliError(`the operator is still clearing the request of the last rotation to ${target}: try again in a moment`);
  }
  if (target !== 'generate') {
    const secret = await client.getSecret(namespace, target);
    if (!secret) throw new CliError(`Secret ${namespace}/${target} not found: create the new root there first (e.g. init-root --name ${target})`);
    await checkTarget(secret, ca, `${namespace}/${target}`, ctx.now());
  }
  // A stale abort annotation would stop the new rotation at once: clear it with the request.
  await client.patchSecretAnnotations(namespace, caSecret, { [ANNOTATION_ROTATE_TO]: target, [ANNOTATION_ROTATION_ABORT]: null });
  const what = target === 'generate' ? 'a root the operator generates' : `the root in Secret ${namespace}/${target}`;
  return { data: { requested: target, caSecret: `${namespace}/${caSecret}` }, text: `Root rotation to ${what} requested; follow it with: kubectl mtls rotate-root --status --watch` };
}
