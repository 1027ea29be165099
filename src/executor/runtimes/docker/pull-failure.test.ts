// The failure message of a step whose image docker could not pull, from docker's own stderr.
import { describe, expect, it } from 'vitest';
import { registryError } from '../vm/images/image-sources.js';
import { pullFailureMessage } from './docker-runtime.js';

const HELP = "\nRun 'docker run --help' for more information\n";

describe('pullFailureMessage', () => {
  it('names the image and docker\'s reason', () => {
    const stderr = `Unable to find image 'alpine:3' locally\ndocker: Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host.${HELP}`;
    expect(pullFailureMessage('alpine:3', 125, stderr, 'host')).toBe('image "alpine:3" could not be pulled: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host');
  });

  it('adds where the credentials came from when the registry refused them', () => {
    const stderr = `Unable to find image 'registry.example.com/app:1' locally\ndocker: Error response from daemon: Head "https://registry.example.com/v2/app/manifests/1": unauthorized: authentication required${HELP}`;
    expect(pullFailureMessage('registry.example.com/app:1', 125, stderr, 'job')).toBe(
      'image "registry.example.com/app:1" could not be pulled: Head "https://registry.example.com/v2/app/manifests/1": unauthorized: authentication required; ' +
        "the registry refused the credentials (authentication failed); they came from the job's dockerAuthConfig",
    );
  });

  it('is undefined when the step itself failed, or docker failed before any pull', () => {
    expect(pullFailureMessage('alpine:3', 1, "Unable to find image 'alpine:3' locally\n", 'host')).toBeUndefined();
    expect(pullFailureMessage('alpine:3', 125, 'docker: Error response from daemon: invalid mount config for type "bind": bind source path does not exist: /nope.\n', 'host')).toBeUndefined();
  });
});

describe('registryError (the vm runtime\'s pulls)', () => {
  const ref = { reference: 'alpine:3', registryHost: 'docker.io', pullReference: 'docker.io/library/alpine:3' };

  it('gives the same shape: image "…" could not be pulled: the reason', () => {
    expect(registryError(ref, 'inspect', 'time="…" level=fatal msg="Error parsing image name: pinging container registry: dial tcp: lookup registry-1.docker.io: no such host"', undefined).message).toMatch(
      /^image "alpine:3" could not be pulled from docker\.io: skopeo inspect failed: .*no such host/,
    );
    expect(registryError(ref, 'inspect', 'manifest unknown', undefined).message).toMatch(/^image "alpine:3" could not be pulled: it is not in registry docker\.io/);
    expect(registryError(ref, 'copy', 'unauthorized: authentication required', undefined).message).toMatch(/^image "alpine:3" could not be pulled: authentication failed at docker\.io \(the job has no credentials for it\)/);
  });
});
