/**
 * CEL as the Kubernetes API server runs it, for the tests: @marcbachmann/cel-js (a CEL
 * implementation: parser, type checker, standard functions and macros) plus the few Kubernetes
 * CEL library functions that deploy/admission/name-policy.yaml and the CRD's
 * x-kubernetes-validations use, registered here as thin adapters over Node built-ins. The
 * semantics are those of the Kubernetes documentation page "CEL in Kubernetes" (section
 * "Kubernetes CEL libraries"); a function that is not listed there or below is not available.
 *
 * Already in cel-js, not registered here: the standard definitions (size, string, duration,
 * has, all, exists, filter, in, matches, startsWith, endsWith, contains) and the cel-go extended
 * strings library that Kubernetes enables (substring, split, indexOf, lastIndexOf on strings).
 */
import { Environment } from '@marcbachmann/cel-js';
import { BlockList, isIP as nodeIsIP } from 'node:net';

/** A value of the Kubernetes IP library's type net.IP. */
export class IP {
  readonly address: string;
  readonly family: 4 | 6;
  constructor(address: string, family: 4 | 6) {
    this.address = address;
    this.family = family;
  }
}

/** A value of the Kubernetes CIDR library's type net.CIDR. */
export class CIDR {
  readonly ip: IP;
  readonly prefixLength: number;
  readonly #net = new BlockList();
  constructor(ip: IP, prefixLength: number) {
    this.ip = ip;
    this.prefixLength = prefixLength;
    this.#net.addSubnet(ip.address, prefixLength, ip.family === 4 ? 'ipv4' : 'ipv6');
  }
  /** Never true across families, as netip.Prefix.Contains. */
  contains(ip: IP): boolean {
    return ip.family === this.ip.family && this.#net.check(ip.address, ip.family === 4 ? 'ipv4' : 'ipv6');
  }
}

const ipv4Mapped = new BlockList();
ipv4Mapped.addSubnet('::ffff:0:0', 96, 'ipv6');

/**
 * The addresses the IP library accepts: IPv4 without leading zeros (Node refuses those too),
 * IPv6, but no zone (%eth0) and no IPv4-mapped IPv6 (::ffff:10.0.0.1).
 */
function parseIP(s: string): IP | undefined {
  const family = nodeIsIP(s);
  if (family === 4) return new IP(s, 4);
  if (family !== 6 || s.includes('%') || ipv4Mapped.check(s, 'ipv6')) return undefined;
  return new IP(s, 6);
}

/** <address>/<prefix length>, the length in decimal without leading zeros and within the family's bits. */
function parseCIDR(s: string): CIDR | undefined {
  const m = /^([^/]+)\/(0|[1-9][0-9]{0,2})$/.exec(s);
  const ip = m ? parseIP(m[1]!) : undefined;
  if (!m || !ip || Number(m[2]) > (ip.family === 4 ? 32 : 128)) return undefined;
  return new CIDR(ip, Number(m[2]));
}

function mustIP(s: string): IP {
  const ip = parseIP(s);
  if (!ip) throw new Error(`IP Address ${JSON.stringify(s)} parse error during conversion from string`);
  return ip;
}

function mustCIDR(s: string): CIDR {
  const cidr = parseCIDR(s);
  if (!cidr) throw new Error(`network address parse error during conversion from string: ${JSON.stringify(s)}`);
  return cidr;
}

/**
 * A CEL environment with the Kubernetes functions registered and the given top-level
 * variables declared as dyn (as objects without a schema are in Kubernetes). Any other
 * identifier is an error, as it is for the API server.
 */
export function kubernetesCel(variables: readonly string[]): Environment {
  const env = new Environment()
    .registerType('net.IP', IP)
    .registerType('net.CIDR', CIDR)

    // Kubernetes regex library: all non-overlapping matches, left to right. The pattern is
    // RE2 in Kubernetes and a JavaScript RegExp here (they agree on the patterns used).
    .registerFunction('string.findAll(string): list<string>', (s: string, re: string) =>
      Array.from(s.matchAll(new RegExp(re, 'gu')), (m) => m[0]),
    )

    // Kubernetes list library: the index of the first element equal to the argument, or -1.
    // Compared with === : right for lists of strings, bools and ints (bigint), not of lists or maps.
    .registerFunction('list<A>.indexOf(A): int', (list: unknown[], v: unknown) => BigInt(list.indexOf(v)))

    // Kubernetes IP address library.
    .registerFunction('isIP(string): bool', (s: string) => parseIP(s) !== undefined)
    .registerFunction('ip(string): net.IP', mustIP)

    // Kubernetes CIDR library. containsIP takes an IP or its string (which must parse).
    .registerFunction('isCIDR(string): bool', (s: string) => parseCIDR(s) !== undefined)
    .registerFunction('cidr(string): net.CIDR', mustCIDR)
    .registerFunction('net.CIDR.containsIP(net.IP): bool', (c: CIDR, ip: IP) => c.contains(ip))
    .registerFunction('net.CIDR.containsIP(string): bool', (c: CIDR, s: string) => c.contains(mustIP(s)));

  for (const v of variables) env.registerVariable(v, 'dyn');
  return env;
}
