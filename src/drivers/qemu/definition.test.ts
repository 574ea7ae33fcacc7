import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DriverError } from '../../contract/index.js';
import { parseQemuDefinition } from './definition.js';

const SUM = `sha256:${'ab'.repeat(32)}`;
const img = { url: 'file:///var/lib/images/debian.qcow2', sum: SUM };
const FIRMWARE = { qboot: '/usr/share/qemu/qboot.rom', seabios: '', 'ovmf-custom': '/srv/fw/OVMF.fd' };

function def(options: Record<string, unknown>, requirements: Record<string, unknown> = {}): string {
  return JSON.stringify({ options, requirements: { cpu: 1, ram: 1, ...requirements } });
}

function rejects(json: string, field: string): void {
  assert.throws(
    () => parseQemuDefinition(json, FIRMWARE),
    (err: unknown) => {
      assert.ok(err instanceof DriverError, `expected a DriverError, got ${String(err)}`);
      assert.equal(err.code, 'INVALID_DEFINITION');
      assert.equal(err.field, field, `field of "${err.message}"`);
      assert.ok(err.message.includes(field), `message "${err.message}" names ${field}`);
      return true;
    },
  );
}

describe('qemu definition', () => {
  it('accepts a disk image boot and keeps what was asked', () => {
    const d = parseQemuDefinition(
      def(
        { images: [img], firmware: 'seabios' },
        { cpu: 2, ram: 4, network: 'nat', disks: { ws: { type: 'ext4', size: 10, reuse: true } } },
      ),
      FIRMWARE,
    );
    assert.equal(d.images.length, 1);
    assert.equal(d.images[0]!.sum, SUM);
    assert.equal(d.kernel, undefined);
    assert.equal(d.firmware, 'seabios');
    assert.equal(d.requirements.cpu, 2);
    assert.equal(d.requirements.ram, 4);
    assert.equal(d.requirements.network, 'nat');
    assert.deepEqual(d.requirements.disks.ws, { type: 'ext4', label: 'ws', size: 10, reuse: true, clone: '' });
  });

  it('accepts a direct kernel boot with initrd and append', () => {
    const d = parseQemuDefinition(def({ kernel: img, initrd: img, append: 'quiet root=/dev/vda', firmware: 'qboot' }), FIRMWARE);
    assert.ok(d.kernel && d.initrd);
    assert.equal(d.append, 'quiet root=/dev/vda');
    assert.equal(d.images.length, 0);
  });

  it('accepts an allowed firmware by its path', () => {
    assert.equal(parseQemuDefinition(def({ images: [img], firmware: '/srv/fw/OVMF.fd' }), FIRMWARE).firmware, 'ovmf-custom');
  });

  it('accepts clone references and every disk type', () => {
    const d = parseQemuDefinition(
      def(
        { images: [img] },
        {
          disks: {
            a: { type: 'qcow2', size: 1, clone: '525400aabbcc-20250101T000000Z-abcdef/ws' },
            b: { type: 'raw', size: 2 },
            c: { type: 'ext4', size: 3 },
          },
        },
      ),
      FIRMWARE,
    );
    assert.equal(d.requirements.disks.a!.clone, '525400aabbcc-20250101T000000Z-abcdef/ws');
  });

  it('names the field of every bad option', () => {
    rejects(def({ images: [img], kernal: img }), 'options.kernal');
    rejects(def({}), 'options.images');
    rejects(def({ images: img }), 'options.images');
    rejects(def({ images: [{ url: 'file:///x.qcow2', sum: 'md5:00' }] }), 'options.images[0].sum');
    rejects(def({ images: [img, { url: 'ftp://host/x.qcow2', sum: SUM }] }), 'options.images[1].url');
    rejects(def({ images: new Array(9).fill(img) }), 'options.images');
    rejects(def({ kernel: { url: 'file:///vmlinuz' } }), 'options.kernel.sum');
    rejects(def({ images: [img], initrd: img }), 'options.initrd');
    rejects(def({ images: [img], append: 'console=ttyS0' }), 'options.append');
    rejects(def({ kernel: img, append: 42 }), 'options.append');
    rejects(def({ kernel: img, append: 'a\nb' }), 'options.append');
    rejects(def({ images: [img], firmware: 'coreboot' }), 'options.firmware');
    rejects(def({ images: [img], firmware: '/usr/share/ovmf/OVMF.fd' }), 'options.firmware');
    rejects(def({ images: [img], firmware: '/usr/share/qemu/qboot.rom' }), 'options.firmware');
    rejects(def({ images: [img], firmware: 'qboot' }), 'options.firmware');
  });

  it('names the field of every bad requirement', () => {
    rejects(def({ images: [img] }, { network: 'bridge' }), 'requirements.network');
    rejects(def({ images: [img] }, { disks: { ws: { type: 'xfs', size: 1 } } }), 'requirements.disks.ws.type');
    rejects(def({ images: [img] }, { disks: { ws: { type: 'ext4', size: 0 } } }), 'requirements.disks.ws.size');
    rejects(def({ images: [img] }, { disks: { ws: { type: 'ext4', size: 1, clone: '../../etc' } } }), 'requirements.disks.ws.clone');
    rejects(
      def({ images: [img] }, { disks: { ws: { type: 'ext4', size: 1, clone: 'snap/ws', reuse: true } } }),
      'requirements.disks.ws.clone',
    );
    rejects(
      def({ images: [img] }, { disks: { a: { type: 'raw', size: 1, label: 'same' }, b: { type: 'raw', size: 1, label: 'same' } } }),
      'requirements.disks.b.label',
    );
    rejects(def({ images: [img] }, { disks: { root: { type: 'raw', size: 1 } } }), 'requirements.disks.root.label');
    rejects(def({ images: [img] }, { cpu: 0 }), 'requirements.cpu');
    rejects(def({ images: [img] }, { gpu: 1 }), 'requirements.gpu');
  });
});
