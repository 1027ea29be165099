// `executor validate` with EXECUTOR_RUNTIME=kubernetes: the credentials reach the API server and are
// accepted, and every verb the runtime uses is allowed in the job namespace (one SelfSubjectAccessReview
// each, which any authenticated identity may create), naming each one that is not.
import type { KubernetesConfig } from './kubernetes-config.js';
import { describePermission, KUBERNETES_RUNTIME_PERMISSIONS } from './kubernetes-permissions.js';

/** One check's result, as validate prints it: `fix` says what to do when it failed. */
export type KubernetesCheckResult = { ok: true; detail: string } | { ok: false; detail: string; fix: string };

const ROLE_HINT =
  'grant them to the executor\'s service account in that namespace: the Role of deploy/kubernetes (kubectl apply -k deploy/kubernetes/overlays/native) or of the Helm chart (deploy/helm/executor) has exactly these';

/** The checks, in order; the second is skipped (failed) when the first could not reach the API server. */
export function kubernetesChecks(config: KubernetesConfig): Array<[name: string, run: () => Promise<KubernetesCheckResult>]> {
  type Api = import('./kubernetes-api.js').KubernetesApi;
  let api: Api | undefined;
  const where = config.credentials.kind === 'kubeconfig' ? `kubeconfig ${config.credentials.path}` : 'the in-cluster service account';
  return [
    [
      'kubernetes credentials',
      async () => {
        // Loaded here only: the Kubernetes client takes ~600 ms to import.
        const { KubernetesApi, KubernetesApiError, loadKubeConfig } = await import('./kubernetes-api.js');
        let candidate: Api;
        try {
          candidate = new KubernetesApi(loadKubeConfig(config.credentials), config.namespace);
        } catch (err) {
          return { ok: false, detail: err instanceof Error ? err.message : String(err), fix: 'set EXECUTOR_KUBERNETES_CONFIG_PATH to a kubeconfig with a current context, or run the executor in a pod with a service account' };
        }
        const first = KUBERNETES_RUNTIME_PERMISSIONS[0]!;
        try {
          await candidate.canI(first, first.verbs[0]!);
        } catch (err) {
          if (err instanceof KubernetesApiError && err.status === 401) {
            return { ok: false, detail: `${candidate.server} refused the credentials of ${where} (HTTP 401)`, fix: 'renew the token or certificate in the kubeconfig, or check the service account\'s token' };
          }
          if (err instanceof KubernetesApiError && err.status === undefined) {
            return { ok: false, detail: `cannot reach the API server ${candidate.server}: ${err.message}`, fix: 'check the server address in the kubeconfig, the network, and that the cluster\'s CA is the one the kubeconfig names' };
          }
          return { ok: false, detail: `asking ${candidate.server} for access reviews failed: ${err instanceof Error ? err.message : String(err)}`, fix: 'check that the server is a Kubernetes API server and that this identity may create selfsubjectaccessreviews (every authenticated user may by default)' };
        }
        api = candidate;
        return { ok: true, detail: `${candidate.server} accepted the credentials of ${where}; job namespace ${candidate.namespace}` };
      },
    ],
    [
      'kubernetes permissions',
      async () => {
        if (!api) return { ok: false, detail: 'not checked: the API server cannot be used with these credentials', fix: 'fix the credentials first' };
        const missing: string[] = [];
        let asked = 0;
        for (const permission of KUBERNETES_RUNTIME_PERMISSIONS) {
          for (const verb of permission.verbs) {
            asked++;
            try {
              if (!(await api.canI(permission, verb)).allowed) missing.push(describePermission(permission, verb));
            } catch (err) {
              return { ok: false, detail: `asking whether ${describePermission(permission, verb)} is allowed failed: ${err instanceof Error ? err.message : String(err)}`, fix: 'check that the API server answers SelfSubjectAccessReviews' };
            }
          }
        }
        if (missing.length > 0) {
          return { ok: false, detail: `${missing.length} of the ${asked} verbs the runtime uses are not allowed in namespace ${api.namespace}: ${missing.join(', ')}`, fix: ROLE_HINT };
        }
        return { ok: true, detail: `all ${asked} verbs the runtime uses are allowed in namespace ${api.namespace}` };
      },
    ],
  ];
}
