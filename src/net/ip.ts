/**
 * IP addresses: what is one, its canonical text, its bytes, IPv4-mapped detection, CIDR ranges.
 *
 * Built on what Node already does rather than on a parser of our own:
 * - node:net's isIP decides what is an address. It refuses IPv4 octets with leading zeros (as
 *   Go's netip and so Kubernetes do), so an IPv4 address it accepts is already canonical.
 * - The WHATWG URL parser writes the canonical IPv6 text (canonicalIPv6).
 * - node:net's BlockList answers CIDR membership (IPRanges).
 * The one hand-written step, ipv6Bytes, only expands the URL parser's own output: lowercase hex
 * groups, at most one '::', never a dotted tail.
 *
 * Zones (`fe80::1%eth0`) are refused everywhere: node:net accepts them, but Kubernetes does not
 * and a certificate cannot hold one.
 *
 * Pure: no I/O. Callers add their own rules on top (the spec refuses IPv4-mapped addresses;
 * the name policy matches them as the IPv4 address they map).
 */
import { BlockList, isIP } from 'node:net';

export interface ParsedIP {
  family: 4 | 6;
  /** Canonical text: an IPv4 address as given (isIP admits only canonical ones); IPv6 as canonicalIPv6 writes it. */
  text: string;
  /** Network byte order: 4 bytes for IPv4, 16 for IPv6. */
  bytes: Uint8Array;
  /** For an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, or `::ffff:a00:1`), the IPv4 address it maps. */
  mappedV4?: string;
}

/** An IPv4 or IPv6 address as node:net accepts it, minus zones; undefined for anything else. */
export function parseIP(s: unknown): ParsedIP | undefined {
  // typeof first: isIP() stringifies its argument, so an object whose toString() is an address would pass.
  if (typeof s !== 'string' || s.includes('%')) return undefined;
  const family = isIP(s);
  if (family === 4) return { family, text: s, bytes: Uint8Array.from(s.split('.'), Number) };
  if (family !== 6) return undefined;
  const text = canonicalIPv6(s);
  if (text === undefined) return undefined;
  const bytes = ipv6Bytes(text);
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? { family, text, bytes, mappedV4: bytes.subarray(12).join('.') } : { family, text, bytes };
}

/**
 * Canonical text of an IP address (IPv4 dotted quad; IPv6 lowercase, compressed, see
 * canonicalIPv6), or undefined when `s` is not a plain IP address (zones and CIDRs are refused).
 * IPv4-mapped addresses are kept (in hex form: `::ffff:c0a8:1`).
 */
export function normalizeIP(s: string): string | undefined {
  return parseIP(s)?.text;
}

/**
 * RFC 5952 text of an IPv6 address node:net accepted, as the WHATWG URL parser writes it:
 * lowercase, no leading zeros, the first longest run of two or more zero groups as '::' (a
 * single zero group stays '0': `1:2:3:4:5:6:7:0`).
 *
 * Where it differs from RFC 5952: an embedded IPv4 address is always written in hex
 * (`::1.2.3.4` → `::102:304`, `::ffff:192.168.0.1` → `::ffff:c0a8:1`), where RFC 5952 section 5
 * recommends the dotted form for IPv4-mapped (and IPv4-translated) addresses. That is the form
 * the tests pin: the spec refuses IPv4-mapped addresses anyway, writes IPv4-compatible ones
 * (`::1.2.3.4`) in hex as Go's netip does, and SANs read back from certificates
 * (pki/certs.ts normalizeIp) are compared in this one form.
 */
export function canonicalIPv6(s: string): string | undefined {
  try {
    return new URL(`http://[${s}]/`).hostname.slice(1, -1);
  } catch {
    return undefined; // not reached for what isIP() accepts without a zone
  }
}

/** The 16 bytes of an IPv6 address in canonicalIPv6's form (hex groups, at most one '::'). */
function ipv6Bytes(canonical: string): Uint8Array {
  const hex = (part: string | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const [head, tail] = canonical.split('::');
  const left = hex(head);
  const right = hex(tail);
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** Canonical text of the network address of `ip`/`prefix` (the host bits cleared). */
export function networkOf(ip: ParsedIP, prefix: number): string {
  const b = Uint8Array.from(ip.bytes);
  for (let bit = prefix; bit < b.length * 8; bit++) b[bit >> 3]! &= ~(1 << (7 - (bit & 7)));
  if (ip.family === 4) return b.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return canonicalIPv6(groups.join(':'))!;
}

/**
 * A set of CIDR ranges, IPv4 and IPv6. An IPv4-mapped IPv6 address is matched as the IPv4
 * address it maps, against the IPv4 ranges only; an IPv6 range never holds it, and an IPv4
 * address never falls in an IPv6 range.
 *
 * The families are kept in two BlockLists because one BlockList matches across them: it finds
 * `10.0.0.1` in `::/0` and `::ffff:10.0.0.1` in both `10.0.0.0/8` and `::/0`.
 */
export class IPRanges {
  readonly #v4 = new BlockList();
  readonly #v6 = new BlockList();

  /** Adds `network`/`prefix` (the caller checks the prefix length and host bits). */
  add(network: ParsedIP, prefix: number): void {
    if (network.family === 4) this.#v4.addSubnet(network.text, prefix, 'ipv4');
    else this.#v6.addSubnet(network.text, prefix, 'ipv6');
  }

  has(ip: ParsedIP): boolean {
    const v4 = ip.mappedV4 ?? (ip.family === 4 ? ip.text : undefined);
    return v4 !== undefined ? this.#v4.check(v4, 'ipv4') : this.#v6.check(ip.text, 'ipv6');
  }
}
