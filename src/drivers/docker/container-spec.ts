import type Docker from 'dockerode';
import type { DockerDefinition } from './definition.js';
import { GB, mountPathOf, type AttachedDisk } from './disks.js';
import type { ResolvedImage } from './images.js';
import { containerName, envKey, envValue, LABELS, META_URL_ENV } from './names.js';
import type { NetInfo } from './network.js';

export interface SpecInput {
  def: DockerDefinition;
  image: ResolvedImage;
  hwaddr: string;
  net: NetInfo;
  disks: AttachedDisk[];
  metadata: Record<string, unknown>;
  instance: string;
  nodeName: string;
  application: string;
  label: string;
  pidsLimit: number;
}

/**
 * The environment of a container: options.env, then metadata (keys sanitised to NAME form, values as
 * strings, objects as JSON), then SHOAL_META_URL (cannot be overridden).
 */
export function containerEnv(def: DockerDefinition, metadata: Record<string, unknown>, metaUrl: string): string[] {
  const env = new Map<string, string>(Object.entries(def.options.env));
  for (const [k, v] of Object.entries(metadata)) env.set(envKey(k), envValue(v));
  env.set(META_URL_ENV, metaUrl);
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/** The Engine API body of POST /containers/create for an allocation (holds metadata: never log it). */
export function containerSpec(i: SpecInput): Docker.ContainerCreateOptions {
  const { def } = i;
  const hostOnly = def.network === 'hostonly';
  return {
    name: containerName(i.instance, i.hwaddr),
    Image: i.image.id,
    ...(def.options.command ? { Cmd: def.options.command } : {}),
    ...(def.options.entrypoint ? { Entrypoint: def.options.entrypoint } : {}),
    ...(def.options.user ? { User: def.options.user } : {}),
    Env: containerEnv(def, i.metadata, i.net.metaUrl),
    Labels: {
      [LABELS.resource]: i.hwaddr,
      [LABELS.node]: i.nodeName,
      [LABELS.instance]: i.instance,
      [LABELS.application]: i.application,
      [LABELS.label]: i.label,
      [LABELS.network]: i.net.kind,
    },
    // API ≤ 1.43 reads the top-level field, newer ones the endpoint's
    MacAddress: i.hwaddr,
    HostConfig: {
      NanoCpus: def.requirements.cpu * 1e9,
      Memory: def.requirements.ram * GB,
      MemorySwap: def.requirements.ram * GB,
      PidsLimit: i.pidsLimit,
      Init: true,
      NetworkMode: i.net.name,
      RestartPolicy: { Name: 'no' },
      // without NET_RAW a container cannot forge source addresses (the Meta API trusts them)
      CapDrop: ['NET_RAW'],
      // host-only: no IPv6 (no link-local path to the host); the embedded DNS may only forward to
      // the gateway, which the firewall drops (no name lookups leave through the daemon)
      ...(hostOnly ? { Sysctls: { 'net.ipv6.conf.all.disable_ipv6': '1' }, Dns: [i.net.gateway] } : {}),
      Mounts: i.disks.map((d) => ({ Type: 'bind' as const, Source: d.source, Target: mountPathOf(d.label), ReadOnly: false })),
    },
    NetworkingConfig: { EndpointsConfig: { [i.net.name]: { MacAddress: i.hwaddr } } },
  };
}
