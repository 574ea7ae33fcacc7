import { chmod, mkdir, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { MetaAccess } from '../contract/index.js';
import {
  buildApi,
  createMetaHandler,
  createMetaServer,
  ensureTls,
  LoginRateLimiter,
  loadOrCreateHostKey,
  startSshGate,
} from '../api/index.js';
import { Core, type CoreService } from '../core/index.js';
import { parseDuration } from '../lib/durations.js';
import { TokenBuckets } from '../api/meta/meta-rate-limit.js';
import { raiseFdLimit } from './fd-limit.js';
import { startMetricsServer } from './metrics-server.js';
import { makeDataDirPrivate } from './private-files.js';
import { installProcessGuard } from './process-guard.js';
import { DriversList } from '../drivers/registry.js';
import { openStore } from '../store/index.js';
import { loadConfig, type NodeConfig, type ServeOptions } from './config.js';
import { prepareDrivers } from './driver-instances.js';
import { lockDataDir } from './data-dir-lock.js';
import { createLogger } from './logger.js';

export interface RunningNode {
  config: NodeConfig;
  apiUrl: string;
  /** host:port of the Meta API's own listener */
  metaAddress: string;
  adminTokenPath: string;
  caPath: string | undefined;
  /** the SSH gate (null when the config turns it off) */
  ssh: { address: string; fingerprint: string } | null;
  /** graceful stop: stop taking work, finish in-flight driver calls, close listeners and the store */
  stop(): Promise<void>;
}

/** `shoal serve`: builds a node from config + flags and starts it. */
export async function startNode(opts: ServeOptions): Promise<RunningNode> {
  const config = await loadConfig(opts);
  const log = createLogger(config.logLevel);
  // everything the node creates is its own alone (database, WAL, TLS keys, tokens, driver files)
  const previousUmask = process.umask(0o077);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const privacy = await makeDataDirPrivate(config.dataDir);
  if (privacy.fixed.length > 0) log.info({ fixed: privacy.fixed.length }, 'data dir made private (0700 dirs, 0600 files)');
  for (const f of privacy.failed) log.warn({ path: f.path, reason: f.reason }, 'cannot make this data dir entry private');
  const fds = raiseFdLimit();
  const connections = { ...config.connections };
  if (fds !== null) {
    // two listeners at least (API, Meta API), plus files, the database and drivers: keep a margin
    const fit = Math.max(64, Math.floor((fds.soft - 256) / 4));
    if (connections.max > fit) {
      log.warn({ open_files: fds.soft, max: fit }, 'connections.max lowered to fit the open-files limit');
      connections.max = fit;
    }
    if (fds.raised) log.info({ open_files: fds.soft }, 'open-files limit raised to its hard limit');
  }

  const cleanups: Array<() => Promise<void>> = [];
  // runs last: a node started inside another program (tests) gives its umask back when it stops
  cleanups.push(async () => {
    process.umask(previousUmask);
  });
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'error while stopping');
      }
    }
    cleanups.length = 0;
  };

  try {
    cleanups.push(await lockDataDir(config.dataDir));
    // an error no request handled is logged and the node keeps serving; a broken store still stops it
    const removeGuard = installProcessGuard(log, () => {
      void closeAll().finally(() => process.exit(70));
    });
    cleanups.push(async () => removeGuard());
    const store = await openStore(config.db, { onError: (err) => log.warn({ err: err.message }, 'database connection error') });
    cleanups.push(() => store.close());

    // Drivers get a MetaAccess before the core exists; it answers through the core once started.
    let core: Core | undefined;
    const metaSource: Pick<CoreService, 'metadataFor'> = {
      metadataFor: (identity) => (core ? core.metadataFor(identity) : Promise.resolve(null)),
    };
    const metaOptions = {
      onError: (err: unknown) => log.warn({ err: (err as Error).message }, 'meta API request failed'),
      // one bucket per resource across every listener and channel
      rateLimit: new TokenBuckets(config.metaRate),
      connections,
    };
    const metaServer = await createMetaServer(metaSource, config.meta, metaOptions);
    cleanups.push(() => metaServer.close());
    const extraMeta: Array<() => Promise<void>> = [];
    cleanups.push(async () => {
      for (const close of extraMeta.splice(0)) await close();
    });
    const meta: MetaAccess = {
      address: metaServer.address,
      async listen(host, port) {
        const srv = await createMetaServer(metaSource, { host, port }, metaOptions);
        const close = (): Promise<void> => srv.close();
        extraMeta.push(close);
        return close;
      },
      handlerFor: (hwaddr) => createMetaHandler(metaSource, () => ({ kind: 'hwaddr', hwaddr }), metaOptions),
    };

    // the one directory file:// image URLs may always name (config fetch.allow_files adds more)
    const importDir = join(config.dataDir, 'import');
    await mkdir(importDir, { recursive: true, mode: 0o700 });
    await chmod(importDir, 0o700);
    const drivers = await prepareDrivers({
      registry: DriversList,
      configs: config.drivers,
      nodeName: config.name,
      dataDir: config.dataDir,
      meta,
      log,
      fetch: {
        allowFiles: [importDir, ...config.fetch.allowFiles],
        allowHosts: config.fetch.allowHosts,
        maxImageBytes: config.fetch.maxImageBytes,
      },
    });
    cleanups.push(async () => {
      await Promise.all(drivers.map((d) => Promise.resolve(d.driver.close?.()).catch(() => undefined)));
    });
    for (const d of drivers) {
      log.info(
        { driver: d.instance, health: d.fingerprint.health, why: d.fingerprint.description },
        d.enabled ? 'driver enabled' : 'driver disabled',
      );
    }

    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics });
    if (config.metrics.listen) {
      const ms = await startMetricsServer(config.metrics.listen, metrics, connections);
      cleanups.push(() => ms.close());
      log.info({ metrics: ms.address }, 'metrics listener (no credentials)');
    }

    let tls: Awaited<ReturnType<typeof ensureTls>> | undefined;
    if (config.tls.enabled) {
      tls =
        config.tls.cert && config.tls.key
          ? await ensureTls(config.dataDir, [config.api.host, 'localhost', '127.0.0.1', config.name], {
              cert: config.tls.cert,
              key: config.tls.key,
            })
          : await ensureTls(config.dataDir, [config.api.host, 'localhost', '127.0.0.1', config.name]);
    }
    const scheme = tls ? 'https' : 'http';
    const hostForUrl = config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host;

    core = new Core({
      store,
      drivers,
      node: {
        name: config.name,
        address: `${scheme}://${hostForUrl}:${config.api.port}`,
        ...config.capacity,
        tags: config.tags,
      },
      log,
      metrics,
      defaults: config.lifetime ? { lifetime: config.lifetime } : {},
      limits: {
        metadata: config.limits.metadata,
        ...config.nodeTimings,
        resourceCheckMs: config.resourceCheckMs,
        retentionMs: config.retentionMs,
      },
      disk: { path: config.dataDir, minFreeBytes: config.minFreeDiskBytes },
      dataDir: config.dataDir,
    });
    const running = core;
    cleanups.push(() => running.stop());
    const waitMs = config.shutdownWait ? parseDuration(config.shutdownWait, { allowZero: true }) : 0;

    const adminTokenPath = join(config.dataDir, 'admin.token');
    const adminToken = await core.bootstrapAdmin();
    if (adminToken) {
      await writeFile(adminTokenPath, `${adminToken}\n`, { mode: 0o600 });
      await chmod(adminTokenPath, 0o600);
    }
    await core.start();

    const api = await buildApi({
      core,
      log,
      metrics,
      bodyLimit: config.bodyLimit,
      bodyDepth: config.limits.bodyDepth,
      connections,
      events: { maxStreamsPerUser: config.events.maxStreamsPerUser },
      loginRateLimit: config.login,
      metricsAuth: config.metrics.token ? { token: config.metrics.token } : {},
      definitionOptions: Object.fromEntries(
        DriversList.names().flatMap((name) => {
          const schema = DriversList.get(name)?.optionsSchema;
          return schema ? [[name, schema]] : [];
        }),
      ),
      ...(tls ? { https: { key: tls.key, cert: tls.cert } } : {}),
    });
    cleanups.push(() => api.close());
    let ssh: RunningNode['ssh'] = null;
    if (config.ssh) {
      const hostKey = await loadOrCreateHostKey(config.dataDir);
      const gate = await startSshGate(
        { core, log, hostKey, limiter: new LoginRateLimiter(config.login) },
        config.ssh.host,
        config.ssh.port,
      );
      cleanups.push(() => gate.close());
      ssh = { address: gate.address, fingerprint: hostKey.fingerprint };
      core.setSshGate(ssh);
    }
    await api.listen({ host: config.api.host, port: config.api.port });
    const apiUrl = `${scheme}://${hostForUrl}:${config.api.port}`;

    const hasToken = await readFile(adminTokenPath, 'utf8').then(
      () => true,
      () => false,
    );
    log.info(
      {
        api: apiUrl,
        meta: metaServer.address,
        node: config.name,
        data_dir: config.dataDir,
        db: config.db.startsWith('postgres') ? 'postgres' : 'sqlite',
      },
      'shoal node ready',
    );
    process.stderr.write(
      `shoal: node "${config.name}" ready\n` +
        `  API       ${apiUrl}\n` +
        `  Meta API  http://${metaServer.address}/meta/v1/data\n` +
        (ssh ? `  SSH gate  ${ssh.address} (host key ${ssh.fingerprint})\n` : '') +
        (tls ? `  CA        ${tls.caPath}\n` : '') +
        (hasToken ? `  admin token in ${adminTokenPath}${adminToken ? ' (new)' : ''}\n` : ''),
    );

    return {
      config,
      apiUrl,
      metaAddress: metaServer.address,
      adminTokenPath,
      caPath: tls?.caPath,
      ssh,
      // graceful: no new work; with shutdown_wait the API stays up (deallocations, events) until
      // this node's resources have ended or the wait is over; then everything closes
      stop: async () => {
        await running.stop(waitMs > 0 ? { wait: true, timeoutMs: waitMs } : {});
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
