/**
 * An image reference as the Engine reads it (`debian:12`, `name@sha256:…`, `host:port/ns/name:tag`):
 * which registry it names, what to pull, and how the daemon records it afterwards.
 */
export interface RegistryRef {
  /** the registry host[:port], lower-case; "docker.io" when the reference names none */
  registry: string;
  /** the repository as the daemon spells it in RepoTags/RepoDigests: "debian", "127.0.0.1:5000/ns/name" */
  repository: string;
  /** the tag ("latest" when neither a tag nor a digest is given; "" with a digest and no tag) */
  tag: string;
  /** "sha256:<hex>" when the reference pins a digest, else "" */
  digest: string;
  /** what the Engine pulls and inspects: repository@digest, or repository:tag */
  pullRef: string;
}

const DOCKER_HUB = 'docker.io';

/** Split an image reference (already checked by the definition's pattern) the way Docker does. */
export function parseRegistryRef(ref: string): RegistryRef {
  const at = ref.indexOf('@');
  const digest = at >= 0 ? ref.slice(at + 1) : '';
  let name = at >= 0 ? ref.slice(0, at) : ref;
  let tag = '';
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  const slash = name.indexOf('/');
  const first = slash >= 0 ? name.slice(0, slash) : '';
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = hasRegistry ? first.toLowerCase() : DOCKER_HUB;
  let path = hasRegistry ? name.slice(slash + 1) : name;
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && path.startsWith('library/')) path = path.slice('library/'.length);
  const repository = registry === DOCKER_HUB ? path : `${registry}/${path}`;
  if (!digest && !tag) tag = 'latest';
  return { registry, repository, tag, digest, pullRef: digest ? `${repository}@${digest}` : `${repository}:${tag}` };
}

/** The server address Docker's auth config wants for a registry. */
export function authServer(registry: string): string {
  return registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
}
