/**
 * The Kubernetes adapter's entry points. The CLI imports this module only with
 * `--source kubernetes`: @kubernetes/client-node alone costs ~60 MiB and ~0.8 s at start-up.
 */
export { KubeConfig } from '@kubernetes/client-node';
export { KubernetesController } from './controller.ts';
export { LeaderElector } from './lease.ts';
export { KubernetesReviewer } from './reviewer.ts';
