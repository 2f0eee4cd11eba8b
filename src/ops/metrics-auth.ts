/**
 * Who may read /metrics (issue 19, point 8), as controller-runtime's WithAuthenticationAndAuthorization filter:
 * the request's bearer token is authenticated with a TokenReview, and the user it names is authorized with a
 * SubjectAccessReview for `get` on the non-resource URL /metrics (granted by the ClusterRole
 * mtls-operator-metrics-reader in deploy/rbac.yaml). No token or a rejected one: 401; authenticated but not allowed:
 * 403. Answers are kept for `ttlMs` (10 s) per token (by its SHA-256, never the token itself), at most `maxEntries`,
 * so a scrape every 30 s costs two reviews a minute at most; a review that fails (API server down) is not kept: 503.
 */
import { createHash } from 'node:crypto';

export interface ReviewedUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** The two reviews, asked of the API server (src/adapter/reviews.ts). */
export interface Reviewer {
  /** undefined: the token is not authenticated. */
  authenticate(token: string): Promise<ReviewedUser | undefined>;
  /** Whether the user may `verb` the non-resource URL `path`. */
  authorize(user: ReviewedUser, verb: string, path: string): Promise<boolean>;
}

export type AuthDecision = { code: 200; user: string } | { code: 401 | 403 | 503; message: string };

export class MetricsAuth {
  private readonly answers = new Map<string, { decision: AuthDecision; at: number }>();
  private readonly o: { reviewer: Reviewer; now(): number; ttlMs?: number; maxEntries?: number; path?: string };

  constructor(o: { reviewer: Reviewer; now(): number; ttlMs?: number; maxEntries?: number; path?: string }) {
    this.o = o;
  }

  /** The decision for a request's Authorization header. */
  async check(authorization: string | undefined): Promise<AuthDecision> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) return { code: 401, message: 'Unauthorized: a bearer token is required' };
    const key = createHash('sha256').update(m[1]!).digest('hex');
    const known = this.answers.get(key);
    if (known && this.o.now() - known.at < (this.o.ttlMs ?? 10_000)) return known.decision;
    let decision: AuthDecision;
    try {
      decision = await this.review(m[1]!);
    } catch (err) {
      return { code: 503, message: `authentication or authorization is unavailable: ${(err as Error).message}` };
    }
    this.answers.delete(key);
    this.answers.set(key, { decision, at: this.o.now() });
    while (this.answers.size > (this.o.maxEntries ?? 1024)) this.answers.delete(this.answers.keys().next().value!);
    return decision;
  }

  private async review(token: string): Promise<AuthDecision> {
    const user = await this.o.reviewer.authenticate(token);
    if (!user) return { code: 401, message: 'Unauthorized: the token was not authenticated' };
    const path = this.o.path ?? '/metrics';
    if (!(await this.o.reviewer.authorize(user, 'get', path))) {
      return { code: 403, message: `Forbidden: user "${user.username}" may not get ${path} (bind the ClusterRole mtls-operator-metrics-reader)` };
    }
    return { code: 200, user: user.username };
  }
}
