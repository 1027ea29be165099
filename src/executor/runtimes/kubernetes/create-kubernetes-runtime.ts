// Builds the kubernetes runtime from the executor's configuration: its credentials, the API client for the
// job namespace, and the executor's own pod (the owner of its Jobs). Imported on demand, so executors of
// other runtimes never load the Kubernetes client (~600 ms of imports).
import os from 'node:os';
import type { Logger } from '../../../shared/logger.js';
import type { ExecutorConfig } from '../../config.js';
import { KubernetesApi, loadKubeConfig } from './kubernetes-api.js';
import { DEFAULT_SETUP_IMAGE } from './kubernetes-config.js';
import { findOwnPod, KubernetesRuntime } from './kubernetes-runtime.js';

/** The kubernetes runtime of `config` (which must have `kubernetes` settings). `ca`: extra CAs for an https coordinator. */
export async function createKubernetesRuntime(config: ExecutorConfig, logger: Logger, ca: ReadonlyArray<string | Buffer> | undefined): Promise<KubernetesRuntime> {
  const kubernetes = config.kubernetes;
  if (!kubernetes) throw new Error('createKubernetesRuntime: the configuration has no kubernetes settings');
  const api = new KubernetesApi(loadKubeConfig(kubernetes.credentials), kubernetes.namespace);
  const hostname = os.hostname();
  const own = await findOwnPod(api, hostname, logger);
  const setupImage = kubernetes.setupImage ?? own?.image ?? DEFAULT_SETUP_IMAGE;
  logger.info('kubernetes runtime: job pods go to the API server', {
    server: api.server,
    namespace: api.namespace,
    credentials: kubernetes.credentials.kind === 'kubeconfig' ? kubernetes.credentials.path : 'in-cluster',
    ownerPod: own?.owner.name ?? 'none',
    setupImage,
  });
  return new KubernetesRuntime({ config: { name: config.name, frontendUrl: config.frontendUrl, kubernetes }, api, ca, ownerPod: own?.owner, setupImage, hostname });
}
