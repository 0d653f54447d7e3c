// The demos, by name: one module each, loaded on use (each is its own file so
// that a new demo is one file plus one line here).
import type { Demo } from './lab.ts';

export type DemoModule = { default: Demo };

// In the order of the course's chapters (02-04, 05-14, 15-18).
export const DEMOS: Record<string, () => Promise<DemoModule>> = {
  pid1: () => import('./pid1.ts'),
  zombies: () => import('./zombies.ts'),
  shutdown: () => import('./shutdown.ts'),
  cpu: () => import('./cpu.ts'),
  cpuusage: () => import('./cpuusage.ts'),
  loadavg: () => import('./loadavg.ts'),
  oom: () => import('./oom.ts'),
  pagecache: () => import('./pagecache.ts'),
  swap: () => import('./swap.ts'),
  overlay: () => import('./overlay.ts'),
  quota: () => import('./quota.ts'),
  blkio: () => import('./blkio.ts'),
  dirty: () => import('./dirty.ts'),
  sysctl: () => import('./sysctl.ts'),
  netlat: () => import('./netlat.ts'),
  reorder: () => import('./reorder.ts'),
};
