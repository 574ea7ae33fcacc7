import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResourceAccess } from './access.js';
import type { ResourceStatus } from './status.js';

/** What allocate() returns: hwaddr identifies the resource (and, if a MAC, authenticates it to the Meta API). */
export interface AllocateResult {
  hwaddr: string;
  ipaddr?: string;
}

/**
 * Extra facts about the allocation that the signature of Aquarium Fish's driver interface does not
 * carry; optional so a driver can be called exactly as that interface calls it.
 */
export interface AllocateContext {
  /** uid of the application the resource is for */
  application: string;
  /** label name (reused disks are kept per label owner + label name + disk name) */
  label: string;
  /**
   * the user who owns the label version (label names are owned: only the owner or an admin
   * publishes them); reused disks are keyed by it. Absent = "" (drivers called without it).
   */
  labelOwner?: string;
  /**
   * the user the application belongs to; reused disks are kept per label owner + label name +
   * this user when it is not the label's owner, so they never carry data between users
   */
  owner?: string;
  /** the node's name */
  node: string;
  /**
   * Aborted when nobody wants the allocation any more (the application was deallocated while it
   * was allocating, or the node is stopping): a driver stops downloads and waits, and rejects.
   */
  signal?: AbortSignal;
  /**
   * Tells how far a long step of the allocation is, in plain words ("pulling debian:12: 2/5 layers,
   * 12.3 of 40.1 MB"); the core shows it as the application's state description (throttled). Never
   * put metadata values or credentials in it.
   */
  progress?: (note: string) => void;
}

/** Something a driver keeps between resources: a cached image, a kept (reused) disk, a snapshot. */
export interface StoredItem {
  /** the driver's own id of it: what removeImage/removeDisk take */
  id: string;
  /** what sort of thing, e.g. "image", "reused-disk", "snapshot" */
  kind: string;
  /** what it is, in words (image references, label and disk name…); never a secret */
  name: string;
  /** bytes it takes on the host (allocated, for sparse files) */
  bytes: number;
  /** ISO 8601 time of its last use; "" when unknown */
  lastUsed: string;
  /** a resource uses it now: removing it is refused (IN_USE) */
  inUse: boolean;
}

/** What a driver instance can hold at once (totals, not what is free). */
export interface DriverCapacity {
  cpu: number;
  ram: number;
}

/** A health report (Nomad's fingerprint): undetected = backend missing, unhealthy = present but failing. */
export interface Fingerprint {
  health: 'healthy' | 'unhealthy' | 'undetected';
  description: string;
  /** namespaced facts, e.g. { "qemu.accel": "tcg", "docker.api": "1.41" } */
  attributes: Record<string, string>;
}

/** Minimal structured logger (pino-compatible). Never log metadata values or tokens. */
export interface DriverLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** An HTTP handler answering the Meta API as one known resource. */
export type MetaHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** How a driver lets its resources reach the node's Meta API. */
export interface MetaAccess {
  /** host:port of the node's own plain-HTTP Meta API listener */
  readonly address: string;
  /**
   * Open one more Meta API listener on host:port (e.g. a bridge gateway address) that identifies
   * callers by their source address like the main one. Resolves to a function closing it.
   */
  listen(host: string, port: number): Promise<() => Promise<void>>;
  /** A handler that answers as the resource `hwaddr` (for per-resource channels such as a VM's own socket). */
  handlerFor(hwaddr: string): MetaHandler;
}

/**
 * Where drivers may fetch files (images, kernels…) from: the node config's `fetch` section, as plain
 * data. Absent = the safe default (no file://, no loopback/private/link-local http).
 */
export interface FetchPolicy {
  /** absolute directories whose regular files file:// URLs may name (symlinks resolved) */
  readonly allowFiles: readonly string[];
  /** host names, IP addresses or CIDR networks http(s) may reach although they are not public */
  readonly allowHosts: readonly string[];
  /** largest file one URL may deliver, bytes */
  readonly maxImageBytes: number;
}

/** What the node hands a driver instance when it creates it. */
export interface DriverContext {
  /** instance name: the driver name, or "driver/suffix" for extra instances ("docker/ssd") */
  readonly instance: string;
  readonly nodeName: string;
  /** a directory owned by this driver instance (created by the node) */
  readonly dataDir: string;
  readonly log: DriverLogger;
  readonly meta: MetaAccess;
  /** the node's URL fetch policy; absent = the safe default */
  readonly fetch?: FetchPolicy;
}

/**
 * The driver contract: the seven methods of Aquarium Fish's driver interface in async TypeScript,
 * plus optional members the core uses when present.
 */
export interface ResourceDriver {
  /** name of the driver ("docker") */
  name(): string;
  /** take and check the node-side driver config (JSON document); throws DriverError INVALID_CONFIG */
  prepare(config: string): Promise<void>;
  /** reject a bad label definition before it is stored; throws DriverError INVALID_DEFINITION naming the field */
  validateDefinition(definition: string): Promise<void>;
  /** allocate by definition; hwaddr is mandatory. On failure nothing is left behind. */
  allocate(definition: string, metadata: Record<string, unknown>, context?: AllocateContext): Promise<AllocateResult>;
  /** the truth from the backend, not a cache; throws when the backend can't tell */
  status(hwaddr: string): Promise<ResourceStatus>;
  /** full: the whole environment; else attached disks only. Resolves to info saying where to find them. */
  snapshot(hwaddr: string, full: boolean): Promise<string>;
  /** idempotent: a resource that is already gone is success */
  deallocate(hwaddr: string): Promise<void>;

  /** what this instance can hold at once; absent = limited by the node only */
  capacity?(): Promise<DriverCapacity>;
  /** hwaddrs of every resource this instance manages (restart reconciliation removes the unknown ones) */
  listResources?(): Promise<string[]>;
  /** health and attributes for GET /nodes/this */
  fingerprint?(): Promise<Fingerprint>;
  /** console/serial output of a resource, if the driver keeps one */
  console?(hwaddr: string): Promise<string>;
  /** release backend connections on node shutdown (resources stay) */
  close?(): Promise<void>;
  /**
   * getting into a resource (shell, exec, ports, files: see access.ts); absent = the driver's
   * resources cannot be entered
   */
  readonly access?: ResourceAccess;

  /** cached images this instance keeps (for admins: GET /nodes/{name}/images) */
  listImages?(): Promise<StoredItem[]>;
  /** remove a cached image; NOT_FOUND when unknown, IN_USE when a resource uses it */
  removeImage?(id: string): Promise<void>;
  /** kept disks and snapshots (GET /nodes/{name}/disks) */
  listDisks?(): Promise<StoredItem[]>;
  /** remove a kept disk or snapshot; NOT_FOUND when unknown, IN_USE when a resource uses it */
  removeDisk?(id: string): Promise<void>;
}

/** Creates driver instances; the registry (DriversList) holds these. */
export interface DriverFactory {
  /** driver name, e.g. "docker" */
  readonly name: string;
  /** short human description for docs and /nodes/this */
  readonly description: string;
  /** enabled by `shoal serve` without config when its backend is detected */
  readonly autoDetect: boolean;
  /**
   * JSON Schema of a label definition's `options` for this driver (documentation: the API's OpenAPI
   * document shows it; validateDefinition stays the check)
   */
  readonly optionsSchema?: object;
  create(ctx: DriverContext): ResourceDriver;
}
