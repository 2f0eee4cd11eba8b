/**
 * kubectl mtls init-root: creates the operator's CA Secret, from a new self-signed root
 * (src/pki generateRootCA) or from PEM files checked the way the operator will load them.
 */
import { stringify } from 'yaml';
import { ClusterError } from '../cluster/port.ts';
import { caSecretFor } from '../controller/ca-source.ts';
import { CAError, generateRootCA, loadSigningCA } from '../pki/index.ts';
import { CliError, fields, parse, usageError, type CommandContext, type CommandResult } from './args.ts';
import { summarize } from './analyze.ts';

export const DEFAULT_CA_NAMESPACE = 'mtls-system';
export const DEFAULT_CA_SECRET = 'mtls-root-ca';

export const INIT_ROOT_HELP = `Usage: kubectl mtls init-root [--from-cert FILE --from-key FILE [--from-bundle FILE]]
                             [-n ${DEFAULT_CA_NAMESPACE}] [--name ${DEFAULT_CA_SECRET}]
                             [--common-name CN] [--validity-days 3650] [--dry-run] [-o json|yaml]

Creates the operator's CA Secret (tls.crt, tls.key, ca.crt). Without --from-*, a new self-signed
ECDSA P-256 root is generated. With --from-cert/--from-key (and, for an intermediate, the roots in
--from-bundle), the files are checked first exactly as the operator loads them. An existing Secret
is never overwritten (use rotate-root to change roots). --dry-run creates nothing; with -o yaml or
-o json it prints the Secret manifest (private key included: handle it as a secret).`;

function read(ctx: CommandContext, path: string, what: string): string {
  try {
    return ctx.readFile(path);
  } catch (err) {
    throw new CliError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export async function initRootCommand(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const { values, positionals, output } = parse(args, {
    'from-cert': { type: 'string' },
    'from-key': { type: 'string' },
    'from-bundle': { type: 'string' },
    name: { type: 'string' },
    'common-name': { type: 'string' },
    'validity-days': { type: 'string' },
    'dry-run': { type: 'boolean' },
  });
  if (values.help) return { data: undefined, text: INIT_ROOT_HELP };
  if (positionals.length) throw usageError(`unexpected argument "${positionals[0]}"`);
  const fromFiles = values['from-cert'] !== undefined || values['from-key'] !== undefined;
  if (fromFiles && (values['from-cert'] === undefined || values['from-key'] === undefined)) throw usageError('--from-cert and --from-key go together');
  if (!fromFiles && values['from-bundle'] !== undefined) throw usageError('--from-bundle needs --from-cert and --from-key');
  if (fromFiles && (values['common-name'] !== undefined || values['validity-days'] !== undefined)) {
    throw usageError('--common-name and --validity-days apply to a generated root, not to --from-cert');
  }
  const namespace = values.namespace ?? DEFAULT_CA_NAMESPACE;
  const name = values.name ?? DEFAULT_CA_SECRET;
  const now = ctx.now();

  let certPem: string;
  let keyPem: string;
  let bundlePem: string | undefined;
  if (fromFiles) {
    certPem = read(ctx, values['from-cert']!, 'certificate');
    keyPem = read(ctx, values['from-key']!, 'key');
    bundlePem = values['from-bundle'] !== undefined ? read(ctx, values['from-bundle'], 'bundle') : undefined;
  } else {
    const days = values['validity-days'] === undefined ? 3650 : Number(values['validity-days']);
    if (!Number.isInteger(days) || days < 1 || days > 36500) throw usageError(`--validity-days ${values['validity-days']}: a whole number of days from 1 to 36500`);
    const root = await generateRootCA({ now, validityDays: days, ...(values['common-name'] ? { commonName: values['common-name'] } : {}) });
    ({ certPem, keyPem } = root);
    bundlePem = root.bundlePem;
  }
  let loaded;
  try {
    loaded = await loadSigningCA({ certPem, keyPem, ...(bundlePem !== undefined ? { bundlePem } : {}) }, now);
  } catch (err) {
    if (err instanceof CAError) throw new CliError(`the CA is not usable: ${err.message}`);
    throw err;
  }
  const secret = caSecretFor(namespace, name, certPem, keyPem, loaded.bundlePem);
  const signing = summarize(loaded.certificate);
  const summary = { namespace, name, source: fromFiles ? 'files' : 'generated', subject: signing.subject, sha256: signing.sha256, notAfter: loaded.notAfter.toISOString(), dryRun: values['dry-run'] === true };
  const text = (verb: string) => `Secret ${namespace}/${name} ${verb}\n${fields([['Subject', signing.subject], ['SHA-256', signing.sha256], ['Not after', summary.notAfter]])}`;

  if (values['dry-run']) {
    if (output !== 'text') return { data: secret, text: stringify(secret) };
    return { data: summary, text: text('checked (dry run: nothing created; add -o yaml for the manifest)') };
  }
  const { client } = ctx.cluster();
  try {
    await client.createSecret(secret);
  } catch (err) {
    if (ClusterError.isConflict(err)) {
      throw new CliError(`Secret ${namespace}/${name} already exists: it is left as is (use rotate-root to move to another root)`);
    }
    throw err;
  }
  return { data: summary, text: text('created') };
}
