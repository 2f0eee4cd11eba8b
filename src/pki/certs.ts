/** Small checks on node:crypto certificates: issuance, SANs, IP normalisation. */
import { createHash, type X509Certificate } from 'node:crypto';
import { normalizeIP } from '../net/ip.ts';

export { fingerprintOf } from './pem.ts';

/** `leaf` names `ca` as issuer (names, AKI/SKI, CA key usage) and `ca`'s key signed it. */
export function isIssuedBy(leaf: X509Certificate, ca: X509Certificate): boolean {
  try {
    return leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
  } catch {
    return false;
  }
}

export function isSelfSigned(cert: X509Certificate): boolean {
  return isIssuedBy(cert, cert);
}

/**
 * Canonical text of an IP address (IPv4 dotted quad; IPv6 lowercase, RFC 5952 compressed, an
 * embedded IPv4 address in hex: see net/ip.ts canonicalIPv6), or undefined when `ip` is not a
 * plain IP address (zone ids and CIDR are refused).
 */
export function normalizeIp(ip: string): string | undefined {
  return normalizeIP(ip);
}

export interface SubjectAltNames {
  dnsNames: string[];
  /** Normalised with normalizeIp. */
  ipAddresses: string[];
  uris: string[];
}

/**
 * The DNS, IP and URI SANs of a certificate, parsed from node's `subjectAltName` text
 * ("DNS:a, IP Address:10.0.0.1, URI:spiffe://td/x"); node JSON-quotes values that contain
 * separators (`URI:"spiffe://td/a\u002cb"`), which are unquoted here.
 */
export function sanOf(cert: X509Certificate): SubjectAltNames {
  const out: SubjectAltNames = { dnsNames: [], ipAddresses: [], uris: [] };
  const text = cert.subjectAltName ?? '';
  let pos = 0;
  while (pos < text.length) {
    const colon = text.indexOf(':', pos);
    if (colon < 0) break;
    const type = text.slice(pos, colon);
    let value: string;
    pos = colon + 1;
    if (text[pos] === '"') {
      let end = pos + 1;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      value = JSON.parse(text.slice(pos, end + 1)) as string;
      pos = end + 1;
    } else {
      const next = text.indexOf(', ', pos);
      const stop = next < 0 ? text.length : next;
      value = text.slice(pos, stop);
      pos = stop;
    }
    if (text.startsWith(', ', pos)) pos += 2;
    if (type === 'DNS') out.dnsNames.push(value);
    else if (type === 'URI') out.uris.push(value);
    else if (type === 'IP Address') out.ipAddresses.push(normalizeIp(value) ?? value);
  }
  return out;
}

/**
 * One short string per set of SANs (each list deduplicated and sorted, then hashed): two leaves, or a
 * leaf and a spec, name the same DNS names, IP addresses and URIs exactly when their keys are equal.
 * IP addresses are compared as given: pass them normalised (sanOf does; a resolved spec is).
 */
export function sanKey(sans: SubjectAltNames): string {
  const canon = (xs: string[]) => [...new Set(xs)].sort();
  const text = JSON.stringify([canon(sans.dnsNames), canon(sans.ipAddresses), canon(sans.uris)]);
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}
