/**
 * kubectl mtls init-root: creates the operator's CA Secret, from a new self-signed root
 * (src/pki generateRootCA) or from PEM files checked the way the operator will load them.
 */
import { join } from 'node:path';
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
                             [--common-name CN] [--validity-days 3650] [--create-namespace]
                             [--out DIR [--force]] [--dry-run] [-o json|yaml]

Creates the operator's CA Secret (tls.crt, tls.key, ca.crt). Without --from-*, a new self-signed
ECDSA P-256 root is generated. With --from-cert/--from-key (and, for an intermediate, the roots in
--from-bundle), the files are checked first exactly as the operator loads them. An existing Secret
is never overwritten (use rotate-root to change roots). --create-namespace creates the namespace
first when it does not exist (labelled as deploy/ labels mtls-system), so the CA can be in place
before the operator is installed. --dry-run creates nothing; with -o yaml or -o json it prints the
Secret manifest (private key included: handle it as a secret).

--out DIR writes the root to files instead of the cluster: tls.crt, tls.key (mode 0600) and
ca.crt, each created new without following symbolic links; existing files are refused unless
--force. Use them with 'kubectl mtls issue --local --ca-cert DIR/tls.crt --ca-key DIR/tls.key',
or load them later with 'kubectl mtls init-root --from-cert DIR/tls.crt --from-key DIR/tls.key'.

Your own CA from openssl: the operator needs CA:true and keyUsage keyCertSign, e.g.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj '/CN=my root' -keyout ca.key -out ca.crt \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign`;

/** The labels of the namespace init-root --create-namespace creates (deploy/namespace.yaml's). */
export const NAMESPACE_LABELS = { 'app.kubernetes.io/name': 'mtls-operator', 'pod-security.kubernetes.io/enforce': 'restricted' };

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
    'create-namespace': { type: 'boolean' },
    out: { type: 'string' },
    force: { type: 'boolean' },
  });
  if (values.help) return { data: undefined, text: INIT_ROOT_HELP };
  if (positionals.length) throw usageError(`unexpected argument "${positionals[0]}"`);
  const fromFiles = values['from-cert'] !== undefined || values['from-key'] !== undefined;
  if (fromFiles && (values['from-cert'] === undefined || values['from-key'] === undefined)) throw usageError('--from-cert and --from-key go together');
  if (!fromFiles && values['from-bundle'] !== undefined) throw usageError('--from-bundle needs --from-cert and --from-key');
  if (fromFiles && (values['common-name'] !== undefined || values['validity-days'] !== undefined)) {
    throw usageError('--common-name and --validity-days apply to a generated root, not to --from-cert');
  }
  if (values.out !== undefined && (values['dry-run'] || values['create-namespace'])) throw usageError('--out writes files only: it does not go with --dry-run or --create-namespace');
  if (values.force && values.out === undefined) throw usageError('--force applies to --out files (an existing Secret is never overwritten)');
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

  if (values.out !== undefined) {
    const dir = values.out;
    const files = { 'tls.crt': join(dir, 'tls.crt'), 'tls.key': join(dir, 'tls.key'), 'ca.crt': join(dir, 'ca.crt') };
    ctx.writeFiles(dir, [
      { path: files['tls.key'], content: keyPem, mode: 0o600 },
      { path: files['tls.crt'], content: certPem, mode: 0o644 },
      { path: files['ca.crt'], content: loaded.bundlePem, mode: 0o644 },
    ], values.force === true);
    return {
      data: { ...summary, files },
      text: `Root written to ${dir} (nothing created in the cluster)\n${fields([['Subject', signing.subject], ['SHA-256', signing.sha256], ['Not after', summary.notAfter], ['Files', Object.values(files).join(', ')]])}\n` +
        `Issue from it:   kubectl mtls issue --local --ca-cert ${files['tls.crt']} --ca-key ${files['tls.key']} --name NAME -n NAMESPACE\n` +
        `Load it later:   kubectl mtls init-root --from-cert ${files['tls.crt']} --from-key ${files['tls.key']} --create-namespace`,
    };
  }
  if (values['dry-run']) {
    if (output !== 'text') return { data: secret, text: stringify(secret) };
    return { data: summary, text: text('checked (dry run: nothing created; add -o yaml for the manifest)') };
  }
  const { client } = ctx.cluster();
  const createdNamespace = values['create-namespace'] ? await client.ensureNamespace(namespace, NAMESPACE_LABELS) : false;
  try {
    await client.createSecret(secret);
  } catch (err) {
    if (ClusterError.isConflict(err)) {
      throw new CliError(`Secret ${namespace}/${name} already exists: it is left as is (use rotate-root to move to another root)`);
    }
    if (ClusterError.isNotFound(err) && !values['create-namespace']) {
      throw new CliError(`namespace ${namespace} does not exist: add --create-namespace (or install the operator first with bootstrap off)`);
    }
    throw err;
  }
  return { data: { ...summary, createdNamespace }, text: `${createdNamespace ? `Namespace ${namespace} created\n` : ''}${text('created')}` };
}
