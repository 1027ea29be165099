// Docker's image reference grammar (distribution/reference): `[host[:port]/]path[:tag][@sha256:hex]`.
// The coordinator refuses a step image outside it at enqueue; the executor's runtimes parse it again.
// Anchored and without spaces or a leading `-`, so a reference can never be read as an option.

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]{1,5})?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';

/** Groups: `domain` (may be the first path component, see docker's rule), `path`, `tag`, `digest`. */
export const IMAGE_REFERENCE_PATTERN = new RegExp(
  `^(?:(?<domain>${DOMAIN})/)?(?<path>${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)(?::(?<tag>[\\w][\\w.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$`,
);

/** A registry host with an optional port, as a key of a docker config's `auths`. */
export const REGISTRY_HOST_PATTERN = new RegExp(`^(?:https?://)?${DOMAIN}(?:/[A-Za-z0-9._/-]*)?$`);

/** distribution/reference's limit on the name (host and path). */
export const MAX_IMAGE_NAME_CHARS = 255;

/** What an image reference looks like, for messages. */
export const IMAGE_REFERENCE_FORM = '[host[:port]/]path[:tag][@sha256:<64 hex>], e.g. alpine:3.20 or registry.example.com:5000/team/tool@sha256:…';

/** Whether `reference` is an image reference docker accepts. */
export function isImageReference(reference: string): boolean {
  const groups = IMAGE_REFERENCE_PATTERN.exec(reference)?.groups;
  return groups !== undefined && `${groups.domain ? groups.domain + '/' : ''}${groups.path}`.length <= MAX_IMAGE_NAME_CHARS;
}
