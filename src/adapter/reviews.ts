/**
 * TokenReview and SubjectAccessReview against the API server, for the metrics endpoint's authentication and
 * authorization (src/ops/metrics-auth.ts). RBAC: create tokenreviews and subjectaccessreviews (deploy/rbac.yaml).
 */
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { ReviewedUser, Reviewer } from '../ops/metrics-auth.ts';
import { callApi } from './timing.ts';

export class KubeReviewer implements Reviewer {
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly timeoutMs: number;

  constructor(kubeConfig: KubeConfig, timeoutMs = 10_000) {
    this.authn = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.authz = kubeConfig.makeApiClient(AuthorizationV1Api);
    this.timeoutMs = timeoutMs;
  }

  async authenticate(token: string): Promise<ReviewedUser | undefined> {
    const review = await callApi('POST tokenreviews', this.timeoutMs, (o) => this.authn.createTokenReview({ body: { spec: { token } } }, o), {});
    const s = review.status;
    if (!s?.authenticated || !s.user?.username) return undefined;
    return {
      username: s.user.username,
      ...(s.user.uid ? { uid: s.user.uid } : {}),
      ...(s.user.groups ? { groups: s.user.groups } : {}),
      ...(s.user.extra ? { extra: s.user.extra } : {}),
    };
  }

  async authorize(user: ReviewedUser, verb: string, path: string): Promise<boolean> {
    const review = await callApi('POST subjectaccessreviews', this.timeoutMs, (o) => this.authz.createSubjectAccessReview({
      body: {
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          ...(user.groups ? { groups: user.groups } : {}),
          ...(user.extra ? { extra: user.extra } : {}),
          nonResourceAttributes: { path, verb },
        },
      },
    }, o), {});
    return review.status?.allowed === true && review.status.denied !== true;
  }
}
