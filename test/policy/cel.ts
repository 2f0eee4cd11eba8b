/**
 * A small, strict CEL interpreter for the subset deploy/admission/name-policy.yaml uses, so the
 * tests can run the operator's table through the admission policy's own expressions.
 *
 * Not a CEL implementation: it knows only what the policy needs, and it is stricter than the
 * API server where that helps catch mistakes (unknown functions, `string + int`, comparing
 * values of different types, a missing map key, an index out of range all throw). What it
 * supports, with the semantics of cel-go as Kubernetes configures it:
 *   literals   int, 'string' and "string" (escapes \\ \' \" \n \r \t), true, false, null, [lists]
 *   operators  ?: || && == != < <= > >= in + - ! (&& and || absorb errors as CEL does)
 *   access     a.b  a[i]  a['key']   has(a.b)
 *   macros     all exists exists_one filter map
 *   standard   size() string() int() startsWith endsWith contains matches
 *   Kubernetes strings ext: substring split indexOf lastIndexOf; regex: find findAll;
 *              lists: indexOf; IP/CIDR: isIP ip isCIDR cidr containsIP
 * A real evaluator (npm: @marcbachmann/cel-js, with the Kubernetes functions above registered)
 * can replace it behind CelEngine.
 */
import { BlockList, isIP } from 'node:net';

export interface CelEngine {
  evaluate(expression: string, activation: Record<string, unknown>): unknown;
}

export class CelError extends Error {
  override name = 'CelError';
}

/** `variables.<name>` of a ValidatingAdmissionPolicy: evaluated on first use, then cached. */
export class LazyVariables {
  readonly #exprs: Map<string, string>;
  readonly #cache = new Map<string, unknown>();
  #engine: CelEngine;
  #activation: Record<string, unknown>;

  constructor(engine: CelEngine, variables: { name: string; expression: string }[], activation: Record<string, unknown>) {
    this.#engine = engine;
    this.#exprs = new Map(variables.map((v) => [v.name, v.expression]));
    this.#activation = { ...activation, variables: this };
  }

  get(name: string): unknown {
    if (this.#cache.has(name)) return this.#cache.get(name);
    const expr = this.#exprs.get(name);
    if (expr === undefined) throw new CelError(`no such variable: variables.${name}`);
    const value = this.#engine.evaluate(expr, this.#activation);
    this.#cache.set(name, value);
    return value;
  }
}

class CelIP {
  readonly text: string;
  readonly family: 4 | 6;
  constructor(text: string, family: 4 | 6) {
    this.text = text;
    this.family = family;
  }
}
class CelCIDR {
  readonly list = new BlockList();
  readonly family: 4 | 6;
  constructor(address: string, prefix: number, family: 4 | 6) {
    this.family = family;
    this.list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
}

// ---------------------------------------------------------------------------------------------
// Lexer and parser

type Tok = { t: 'num'; v: number } | { t: 'str'; v: string } | { t: 'id'; v: string } | { t: 'op'; v: string } | { t: 'eof' };

const OPS = ['||', '&&', '==', '!=', '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '!', '?', ':', '.', ',', '(', ')', '[', ']', '{', '}'];

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+/.exec(src.slice(i))![0];
      if (/^[.eEuU]/.test(src.slice(i + m.length))) throw new CelError(`unsupported number literal at ${i}`);
      out.push({ t: 'num', v: Number(m) });
      i += m.length;
    } else if (c === "'" || c === '"') {
      if (src.startsWith(c.repeat(3), i)) throw new CelError('triple-quoted strings are not supported here');
      let s = '';
      i++;
      for (;;) {
        const d = src[i];
        if (d === undefined || d === '\n') throw new CelError('unterminated string literal');
        i++;
        if (d === c) break;
        if (d === '\\') {
          const e = src[i++];
          const map: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', r: '\r', t: '\t' };
          if (e === undefined || !(e in map)) throw new CelError(`unsupported escape \\${e}`);
          s += map[e];
        } else {
          s += d;
        }
      }
      out.push({ t: 'str', v: s });
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))![0];
      if ((m === 'r' || m === 'R' || m === 'b' || m === 'B') && /['"]/.test(src[i + 1] ?? '')) {
        throw new CelError('raw and bytes literals are not supported here');
      }
      out.push({ t: 'id', v: m });
      i += m.length;
    } else {
      const op = OPS.find((o) => src.startsWith(o, i));
      if (!op) throw new CelError(`unexpected character ${JSON.stringify(c)} at ${i}`);
      out.push({ t: 'op', v: op });
      i += op.length;
    }
  }
  out.push({ t: 'eof' });
  return out;
}

type Node =
  | { k: 'lit'; v: unknown }
  | { k: 'id'; name: string }
  | { k: 'sel'; obj: Node; field: string }
  | { k: 'idx'; obj: Node; index: Node }
  | { k: 'call'; fn: string; target: Node | undefined; args: Node[] }
  | { k: 'list'; items: Node[] }
  | { k: 'un'; op: string; x: Node }
  | { k: 'bin'; op: string; l: Node; r: Node }
  | { k: 'cond'; c: Node; t: Node; f: Node };

class Parser {
  #toks: Tok[];
  #p = 0;
  constructor(src: string) {
    this.#toks = lex(src);
  }

  parse(): Node {
    const n = this.#expr();
    if (this.#peek().t !== 'eof') throw new CelError(`unexpected ${JSON.stringify(this.#peek())} after the expression`);
    return n;
  }

  #peek(): Tok {
    return this.#toks[this.#p]!;
  }
  #isOp(...ops: string[]): string | undefined {
    const t = this.#peek();
    return t.t === 'op' && ops.includes(t.v) ? t.v : t.t === 'id' && t.v === 'in' && ops.includes('in') ? 'in' : undefined;
  }
  #expect(op: string): void {
    if (this.#isOp(op) !== op) throw new CelError(`expected ${op}, got ${JSON.stringify(this.#peek())}`);
    this.#p++;
  }

  #expr(): Node {
    const c = this.#or();
    if (this.#isOp('?')) {
      this.#p++;
      const t = this.#or();
      this.#expect(':');
      const f = this.#expr();
      return { k: 'cond', c, t, f };
    }
    return c;
  }
  #binary(next: () => Node, ops: string[]): Node {
    let l = next();
    for (let op = this.#isOp(...ops); op; op = this.#isOp(...ops)) {
      this.#p++;
      l = { k: 'bin', op, l, r: next() };
    }
    return l;
  }
  #or(): Node {
    return this.#binary(() => this.#and(), ['||']);
  }
  #and(): Node {
    return this.#binary(() => this.#rel(), ['&&']);
  }
  #rel(): Node {
    return this.#binary(() => this.#add(), ['==', '!=', '<', '<=', '>', '>=', 'in']);
  }
  #add(): Node {
    return this.#binary(() => this.#mul(), ['+', '-']);
  }
  #mul(): Node {
    return this.#binary(() => this.#unary(), ['*', '/', '%']);
  }
  #unary(): Node {
    const op = this.#isOp('!', '-');
    if (op) {
      this.#p++;
      return { k: 'un', op, x: this.#unary() };
    }
    return this.#member();
  }
  #member(): Node {
    let n = this.#primary();
    for (;;) {
      if (this.#isOp('.')) {
        this.#p++;
        const id = this.#peek();
        if (id.t !== 'id') throw new CelError('expected a field or method name after "."');
        this.#p++;
        if (this.#isOp('(')) n = { k: 'call', fn: id.v, target: n, args: this.#args() };
        else n = { k: 'sel', obj: n, field: id.v };
      } else if (this.#isOp('[')) {
        this.#p++;
        const index = this.#expr();
        this.#expect(']');
        n = { k: 'idx', obj: n, index };
      } else {
        return n;
      }
    }
  }
  #args(): Node[] {
    this.#expect('(');
    const args: Node[] = [];
    while (!this.#isOp(')')) {
      args.push(this.#expr());
      if (!this.#isOp(')')) this.#expect(',');
    }
    this.#p++;
    return args;
  }
  #primary(): Node {
    const t = this.#peek();
    this.#p++;
    if (t.t === 'num' || t.t === 'str') return { k: 'lit', v: t.v };
    if (t.t === 'id') {
      if (t.v === 'true' || t.v === 'false') return { k: 'lit', v: t.v === 'true' };
      if (t.v === 'null') return { k: 'lit', v: null };
      if (this.#isOp('(')) return { k: 'call', fn: t.v, target: undefined, args: this.#args() };
      return { k: 'id', name: t.v };
    }
    if (t.t === 'op' && t.v === '(') {
      const n = this.#expr();
      this.#expect(')');
      return n;
    }
    if (t.t === 'op' && t.v === '[') {
      const items: Node[] = [];
      while (!this.#isOp(']')) {
        items.push(this.#expr());
        if (!this.#isOp(']')) this.#expect(',');
      }
      this.#p++;
      return { k: 'list', items };
    }
    throw new CelError(`unexpected ${JSON.stringify(t)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

type Scope = Map<string, unknown>;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'list';
  if (v instanceof CelIP) return 'net.IP';
  if (v instanceof CelCIDR) return 'net.CIDR';
  if (typeof v === 'object') return 'map';
  if (typeof v === 'number') return 'int';
  return typeof v; // string, boolean
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeOf(v) === 'map';
}

function equal(a: unknown, b: unknown): boolean {
  const ta = typeOf(a);
  const tb = typeOf(b);
  if (ta !== tb) {
    if (ta === 'null' || tb === 'null') return false;
    throw new CelError(`no such overload: ${ta} == ${tb}`);
  }
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => equal(x, (b as unknown[])[i]));
  if (isMap(a)) {
    const ka = Object.keys(a);
    const mb = b as Record<string, unknown>;
    return ka.length === Object.keys(mb).length && ka.every((k) => k in mb && equal(a[k], mb[k]));
  }
  return a === b;
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new CelError(`${what}: expected string, got ${typeOf(v)}`);
  return v;
}
function int(v: unknown, what: string): number {
  if (typeof v !== 'number') throw new CelError(`${what}: expected int, got ${typeOf(v)}`);
  return v;
}
function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new CelError(`${what}: expected bool, got ${typeOf(v)}`);
  return v;
}

/** Kubernetes' ip(): no zones, no IPv4-mapped IPv6. */
function parseK8sIP(s: string): CelIP | undefined {
  if (s.includes('%')) return undefined;
  const family = isIP(s);
  if (family === 4) return new CelIP(s, 4);
  if (family !== 6) return undefined;
  const mapped = new BlockList();
  mapped.addSubnet('::ffff:0:0', 96, 'ipv6');
  return mapped.check(s, 'ipv6') ? undefined : new CelIP(s, 6);
}

function parseK8sCIDR(s: string): CelCIDR | undefined {
  const m = /^([^/]+)\/(0|[1-9][0-9]{0,2})$/.exec(s);
  if (!m) return undefined;
  const ip = parseK8sIP(m[1]!);
  const prefix = Number(m[2]);
  if (!ip || prefix > (ip.family === 4 ? 32 : 128)) return undefined;
  return new CelCIDR(ip.text, prefix, ip.family);
}

/** RE2 and JavaScript agree on the patterns the policy uses; refuse the constructs where they differ. */
function regex(pattern: string, flags = ''): RegExp {
  if (/\(\?[=!<]|\\[1-9]/.test(pattern)) throw new CelError(`RE2 has no lookaround or backreferences: ${pattern}`);
  return new RegExp(pattern, flags);
}

class Evaluator {
  readonly root: Record<string, unknown>;
  constructor(root: Record<string, unknown>) {
    this.root = root;
  }

  eval(n: Node, scope: Scope): unknown {
    switch (n.k) {
      case 'lit':
        return n.v;
      case 'id':
        if (scope.has(n.name)) return scope.get(n.name);
        if (n.name in this.root) return this.root[n.name];
        throw new CelError(`undeclared reference to ${n.name}`);
      case 'sel': {
        const o = this.eval(n.obj, scope);
        if (o instanceof LazyVariables) return o.get(n.field);
        if (!isMap(o)) throw new CelError(`cannot select field ${n.field} from ${typeOf(o)}`);
        if (!(n.field in o) || o[n.field] === undefined) throw new CelError(`no such key: ${n.field}`);
        return o[n.field];
      }
      case 'idx': {
        const o = this.eval(n.obj, scope);
        const i = this.eval(n.index, scope);
        if (Array.isArray(o)) {
          const k = int(i, 'list index');
          if (k < 0 || k >= o.length) throw new CelError(`index out of range: ${k}`);
          return o[k];
        }
        if (isMap(o)) {
          const k = str(i, 'map key');
          if (!(k in o) || o[k] === undefined) throw new CelError(`no such key: ${k}`);
          return o[k];
        }
        throw new CelError(`cannot index ${typeOf(o)}`);
      }
      case 'list':
        return n.items.map((x) => this.eval(x, scope));
      case 'un': {
        const x = this.eval(n.x, scope);
        return n.op === '!' ? !bool(x, '!') : -int(x, 'unary -');
      }
      case 'cond':
        return bool(this.eval(n.c, scope), '?:') ? this.eval(n.t, scope) : this.eval(n.f, scope);
      case 'bin':
        return this.binary(n.op, n.l, n.r, scope);
      case 'call':
        return this.call(n, scope);
    }
  }

  private attempt(n: Node, scope: Scope): { v: unknown } | { e: unknown } {
    try {
      return { v: this.eval(n, scope) };
    } catch (e) {
      return { e };
    }
  }

  private binary(op: string, ln: Node, rn: Node, scope: Scope): unknown {
    if (op === '&&' || op === '||') {
      const absorbing = op === '||'; // true absorbs ||, false absorbs &&
      const l = this.attempt(ln, scope);
      if ('v' in l && bool(l.v, op) === absorbing) return absorbing;
      const r = this.attempt(rn, scope);
      if ('v' in r && bool(r.v, op) === absorbing) return absorbing;
      if ('e' in l) throw l.e;
      if ('e' in r) throw r.e;
      return !absorbing;
    }
    const l = this.eval(ln, scope);
    const r = this.eval(rn, scope);
    switch (op) {
      case '==':
        return equal(l, r);
      case '!=':
        return !equal(l, r);
      case 'in':
        if (Array.isArray(r)) return r.some((x) => equal(x, l));
        if (isMap(r)) return str(l, 'in map') in r;
        throw new CelError(`no such overload: ${typeOf(l)} in ${typeOf(r)}`);
      case '+':
        if (typeof l === 'string' && typeof r === 'string') return l + r;
        if (typeof l === 'number' && typeof r === 'number') return l + r;
        if (Array.isArray(l) && Array.isArray(r)) return [...l, ...r];
        throw new CelError(`no such overload: ${typeOf(l)} + ${typeOf(r)}`);
      case '-':
        return int(l, '-') - int(r, '-');
      case '<':
      case '<=':
      case '>':
      case '>=': {
        if (typeOf(l) !== typeOf(r) || (typeof l !== 'number' && typeof l !== 'string')) {
          throw new CelError(`no such overload: ${typeOf(l)} ${op} ${typeOf(r)}`);
        }
        const a = l as number | string;
        const b = r as number | string;
        return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
      }
      default:
        throw new CelError(`unsupported operator ${op}`);
    }
  }

  private call(n: Extract<Node, { k: 'call' }>, scope: Scope): unknown {
    const { fn, target, args } = n;
    // Macros
    if (target === undefined && fn === 'has') {
      const a = args[0];
      if (args.length !== 1 || a?.k !== 'sel') throw new CelError('has() takes one field selection');
      const o = this.eval(a.obj, scope);
      if (!isMap(o)) throw new CelError(`has(): cannot select field ${a.field} from ${typeOf(o)}`);
      return a.field in o && o[a.field] !== undefined && o[a.field] !== null;
    }
    if (target !== undefined && ['all', 'exists', 'exists_one', 'filter', 'map'].includes(fn)) {
      const v = args[0];
      const body = args[1];
      if (args.length !== 2 || v?.k !== 'id' || !body) throw new CelError(`${fn}() takes a variable name and an expression`);
      const range = this.eval(target, scope);
      const items = Array.isArray(range) ? range : isMap(range) ? Object.keys(range) : undefined;
      if (!items) throw new CelError(`${fn}() on ${typeOf(range)}`);
      const each = (x: unknown) => this.attempt(body, new Map(scope).set(v.name, x));
      if (fn === 'filter' || fn === 'map') {
        return items.flatMap((x) => {
          const r = each(x);
          if ('e' in r) throw r.e;
          return fn === 'map' ? [r.v] : bool(r.v, 'filter') ? [x] : [];
        });
      }
      let err: unknown;
      let trues = 0;
      for (const x of items) {
        const r = each(x);
        if ('e' in r) {
          err ??= r.e;
          continue;
        }
        const b = bool(r.v, fn);
        if (fn === 'all' && !b) return false;
        if (fn === 'exists' && b) return true;
        if (b) trues++;
      }
      if (err !== undefined) throw err;
      return fn === 'all' ? true : fn === 'exists' ? false : trues === 1;
    }

    const a = args.map((x) => this.eval(x, scope));
    const arity = (k: number) => {
      if (a.length !== k) throw new CelError(`${fn}() takes ${k} argument(s), got ${a.length}`);
    };
    if (target === undefined) {
      switch (fn) {
        case 'size':
          arity(1);
          return this.size(a[0]);
        case 'string':
          arity(1);
          if (typeof a[0] === 'number') return String(a[0]);
          return str(a[0], 'string()');
        case 'int':
          arity(1);
          if (typeof a[0] === 'number') return a[0];
          if (!/^-?[0-9]+$/.test(str(a[0], 'int()'))) throw new CelError(`int(): ${String(a[0])}`);
          return Number(a[0]);
        case 'isIP':
          arity(1);
          return parseK8sIP(str(a[0], 'isIP()')) !== undefined;
        case 'ip': {
          arity(1);
          const ip = parseK8sIP(str(a[0], 'ip()'));
          if (!ip) throw new CelError(`IP Address ${JSON.stringify(a[0])} parse error`);
          return ip;
        }
        case 'isCIDR':
          arity(1);
          return parseK8sCIDR(str(a[0], 'isCIDR()')) !== undefined;
        case 'cidr': {
          arity(1);
          const c = parseK8sCIDR(str(a[0], 'cidr()'));
          if (!c) throw new CelError(`network address parse error during conversion from string: ${JSON.stringify(a[0])}`);
          return c;
        }
        default:
          throw new CelError(`undeclared reference to function ${fn}`);
      }
    }

    const self = this.eval(target, scope);
    if (fn === 'size') {
      arity(0);
      return this.size(self);
    }
    if (typeof self === 'string') {
      switch (fn) {
        case 'startsWith':
          arity(1);
          return self.startsWith(str(a[0], fn));
        case 'endsWith':
          arity(1);
          return self.endsWith(str(a[0], fn));
        case 'contains':
          arity(1);
          return self.includes(str(a[0], fn));
        case 'matches':
          arity(1);
          return regex(str(a[0], fn)).test(self);
        case 'find': {
          arity(1);
          return regex(str(a[0], fn)).exec(self)?.[0] ?? '';
        }
        case 'findAll':
          arity(1);
          return Array.from(self.matchAll(regex(str(a[0], fn), 'g')), (m) => m[0]);
        case 'split':
          arity(1);
          return self.split(str(a[0], fn));
        case 'indexOf':
          arity(1);
          return self.indexOf(str(a[0], fn));
        case 'lastIndexOf':
          arity(1);
          return self.lastIndexOf(str(a[0], fn));
        case 'substring': {
          if (a.length !== 1 && a.length !== 2) throw new CelError('substring() takes 1 or 2 arguments');
          const chars = Array.from(self);
          const start = int(a[0], fn);
          const end = a.length === 2 ? int(a[1], fn) : chars.length;
          if (start < 0 || end > chars.length || start > end) throw new CelError(`substring(${start}, ${end}) out of range for ${JSON.stringify(self)}`);
          return chars.slice(start, end).join('');
        }
      }
    }
    if (Array.isArray(self) && fn === 'indexOf') {
      arity(1);
      return self.findIndex((x) => equal(x, a[0]));
    }
    if (self instanceof CelCIDR && fn === 'containsIP') {
      arity(1);
      const ip = typeof a[0] === 'string' ? parseK8sIP(a[0]) : a[0];
      if (!(ip instanceof CelIP)) throw new CelError('containsIP() takes an IP');
      return ip.family === self.family && self.list.check(ip.text, ip.family === 4 ? 'ipv4' : 'ipv6');
    }
    throw new CelError(`found no matching overload for ${typeOf(self)}.${fn}()`);
  }

  private size(v: unknown): number {
    if (typeof v === 'string') return Array.from(v).length;
    if (Array.isArray(v)) return v.length;
    if (isMap(v)) return Object.keys(v).length;
    throw new CelError(`size() of ${typeOf(v)}`);
  }
}

const parsed = new Map<string, Node>();

export const miniCel: CelEngine = {
  evaluate(expression, activation) {
    let ast = parsed.get(expression);
    if (!ast) {
      ast = new Parser(expression).parse();
      parsed.set(expression, ast);
    }
    return new Evaluator(activation).eval(ast, new Map());
  },
};

/** Parses an expression (throws a CelError on a syntax this interpreter does not accept). */
export function parseCel(expression: string): void {
  new Parser(expression).parse();
}
