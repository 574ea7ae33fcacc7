import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AllocateContext } from '../../../contract/index.js';
import type { DockerDriver } from '../driver.js';
import { buildTestImages, type TestImages } from './fixtures.js';
import { createHarness, destroyHarness, type Harness } from './harness.js';

/** One test file's setup: a harness, fixture images, a prepared driver and the hwaddrs to clean. */
export interface Suite {
  h: Harness;
  imgs: TestImages;
  driver: DockerDriver;
  /** allocated and not yet deallocated (after() deallocates them) */
  live: Set<string>;
  /** extra images to remove in after() (snapshot images) */
  images: string[];
  /** an image name unique to this run */
  imageName: string;
  context(label?: string): AllocateContext;
  /** a definition JSON */
  def(options: Record<string, unknown>, requirements?: Record<string, unknown>): string;
  /** the default definition: the gzip rootfs archive, sleep, 1 cpu, 1 GB, host-only */
  basic(requirements?: Record<string, unknown>, options?: Record<string, unknown>): string;
  allocate(
    definition: string,
    metadata?: Record<string, unknown>,
    context?: AllocateContext,
  ): Promise<{ hwaddr: string; ipaddr: string; container: string }>;
  deallocate(hwaddr: string): Promise<void>;
  destroy(): Promise<void>;
}

/** `extraConfig`: more driver config keys (e.g. allow_registries) for this suite's driver. */
export async function createSuite(name: string, extraConfig: Record<string, unknown> = {}): Promise<Suite> {
  const h = await createHarness(name, extraConfig);
  const fixtures = join(h.dataDir, 'fixtures');
  mkdirSync(fixtures);
  const imgs = await buildTestImages(h.docker, fixtures, h.prefix);
  const driver = await h.newDriver();
  const live = new Set<string>();
  const images: string[] = [];
  const imageName = `${h.prefix}-img:1`;
  const def = (options: Record<string, unknown>, requirements: Record<string, unknown> = {}): string =>
    JSON.stringify({ options, requirements: { cpu: 1, ram: 1, network: '', ...requirements } });
  const s: Suite = {
    h,
    imgs,
    driver,
    live,
    images,
    imageName,
    context: (label = `${h.prefix}-label`) => ({ application: `app-${h.prefix}`, label, node: h.nodeName }),
    def,
    basic: (requirements = {}, options = {}) =>
      def({ image: imageName, images: [imgs.rootfsGz], command: ['sleep', '3600'], ...options }, requirements),
    async allocate(definition, metadata = {}, context = s.context()) {
      const r = await driver.allocate(definition, metadata, context);
      live.add(r.hwaddr);
      if (!r.ipaddr) throw new Error('no ipaddr');
      return { hwaddr: r.hwaddr, ipaddr: r.ipaddr, container: `shoal-docker-${h.prefix}-${r.hwaddr.replace(/:/g, '')}` };
    },
    async deallocate(hwaddr) {
      await driver.deallocate(hwaddr);
      live.delete(hwaddr);
    },
    async destroy() {
      for (const hw of live) await driver.deallocate(hw).catch(() => undefined);
      await driver.close();
      const all = await h.docker.listImages({ all: true }).catch(() => []);
      const sums = [imgs.rootfs, imgs.rootfsGz, imgs.save].map((r) => r.sum.replace(':', '-'));
      const ours = all
        .filter((i) => (i.RepoTags ?? []).some((t) => t.includes(h.prefix) || sums.some((sum) => t.endsWith(sum)) || images.includes(t)))
        .map((i) => i.Id);
      await destroyHarness(h, [...images, ...ours, ...imgs.createdImages]);
    },
  };
  return s;
}
