// Builds a busybox OCI image archive for the containerd tests, from nothing
// but examples/busybox/make-rootfs.sh: the rootfs tarred as one uncompressed
// layer, an image config, a manifest, and an OCI image layout (oci-layout,
// index.json, blobs/sha256/...) with correct digests and sizes, tarred so that
// `ctr images import` takes it.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT } from './tsrun.ts';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

export interface BuiltImage {
  /** The image archive (an OCI layout in a tar). */
  archive: string;
  /** The full name containerd gives the image, e.g. docker.io/library/tsrun-busybox:test. */
  name: string;
  manifest: Descriptor;
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Writes CONTENT as a blob of the layout at DIR and returns its descriptor. */
function blob(dir: string, mediaType: string, content: Buffer | string): Descriptor {
  const data = Buffer.from(content);
  const hex = createHash('sha256').update(data).digest('hex');
  writeFileSync(join(dir, 'blobs', 'sha256', hex), data);
  return { mediaType, digest: `sha256:${hex}`, size: data.length };
}

/**
 * Builds the image in WORK (a scratch directory the caller removes).
 * REPO is a short repository name; the image is named docker.io/library/REPO:TAG.
 */
export function buildBusyboxImage(work: string, repo = 'tsrun-busybox', tag = 'test'): BuiltImage {
  const rootfs = join(work, 'rootfs');
  const layout = join(work, 'layout');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  execFileSync(join(PROJECT, 'examples/busybox/make-rootfs.sh'), [rootfs]);

  // The layer: the rootfs as an uncompressed tar, owned by root, sorted, with
  // fixed mtimes, so its digest is the same on every build.
  const layerTmp = join(work, 'layer.tar');
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', rootfs, '-cf', layerTmp, '.']);
  const layerHex = sha256File(layerTmp);
  renameSync(layerTmp, join(layout, 'blobs', 'sha256', layerHex));
  const layer: Descriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerHex}`, size: statSync(join(layout, 'blobs', 'sha256', layerHex)).size };
  rmSync(rootfs, { recursive: true, force: true });

  const architecture = GOARCH[process.arch] ?? process.arch;
  const config = blob(layout, 'application/vnd.oci.image.config.v1+json', JSON.stringify({
    created: '1970-01-01T00:00:00Z',
    architecture,
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [layer.digest] }, // uncompressed: the diff id is the layer's digest
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'examples/busybox/make-rootfs.sh' }],
  }));
  const manifest = blob(layout, 'application/vnd.oci.image.manifest.v1+json', JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config,
    layers: [layer],
  }));
  const name = `docker.io/library/${repo}:${tag}`;
  manifest.platform = { architecture, os: 'linux' };
  // ref.name is the OCI tag; io.containerd.image.name the full name containerd gives it.
  manifest.annotations = { 'org.opencontainers.image.ref.name': tag, 'io.containerd.image.name': name };
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [manifest] }));

  const archive = join(work, 'image.tar');
  execFileSync('tar', ['-C', layout, '-cf', archive, 'oci-layout', 'index.json', 'blobs']);
  rmSync(layout, { recursive: true, force: true });
  return { archive, name, manifest };
}
