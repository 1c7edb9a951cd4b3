/**
 * The `kubernetes` access mode's answers: a TokenReview says whose ServiceAccount token it is;
 * a SubjectAccessReview says whether that user may `get` the Connector (and, when configured,
 * the `connectors/proxy` subresource). AccessControl caches the positive answers briefly.
 */
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { TokenReviewer } from '../../access/control.ts';
import type { Connector } from '../../connectors/model.ts';
import { CONNECTOR_GROUP, CONNECTOR_PLURAL } from './translate.ts';

export interface KubernetesReviewerOptions {
  kubeConfig: KubeConfig;
  /** Also require `get` on the `connectors/proxy` subresource. */
  checkProxySubresource: boolean;
  /** Audiences the token must be for (TokenReview spec.audiences); empty: the API server's. */
  audiences?: string[];
}

export class KubernetesReviewer implements TokenReviewer {
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly o: KubernetesReviewerOptions;

  constructor(options: KubernetesReviewerOptions) {
    this.o = options;
    this.authn = options.kubeConfig.makeApiClient(AuthenticationV1Api);
    this.authz = options.kubeConfig.makeApiClient(AuthorizationV1Api);
  }

  async authenticate(token: string): Promise<{ username: string; uid?: string; groups?: string[] } | undefined> {
    const review = await this.authn.createTokenReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(this.o.audiences?.length ? { audiences: this.o.audiences } : {}) } },
    });
    const s = review.status;
    if (!s?.authenticated || !s.user?.username) return undefined;
    return { username: s.user.username, uid: s.user.uid, groups: s.user.groups };
  }

  async authorize(user: { username: string; uid?: string; groups?: string[] }, c: Pick<Connector, 'namespace' | 'name'>): Promise<boolean> {
    const ask = async (subresource?: string): Promise<boolean> => {
      const review = await this.authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            uid: user.uid,
            groups: user.groups,
            resourceAttributes: { group: CONNECTOR_GROUP, resource: CONNECTOR_PLURAL, verb: 'get', namespace: c.namespace, name: c.name, ...(subresource ? { subresource } : {}) },
          },
        },
      });
      return review.status?.allowed === true && review.status.denied !== true;
    };
    if (!(await ask())) return false;
    return this.o.checkProxySubresource ? ask('proxy') : true;
  }
}
