import { defineConfig } from 'vitest/config';

// The image test builds and runs the Docker image: minutes of both cores. It runs after every
// other file, alone, so that its build does not starve the tests that time a proxy under load
// (isolation.test measured a victim's manifest GET at 1.5 s beside it, against 27–538 ms in
// the day's other runs).
const IMAGE_TEST = 'test/integration/image.test.ts';
// The heap growth test compares how far V8 lets the old generation grow under load, which V8
// sizes by how fast the process allocates: beside other files its control grew to 47 MiB
// instead of 72 (the shipped flags: 35), too close to tell apart. It runs last, alone.
const HEAP_GROWTH_TEST = 'test/integration/heap-growth.test.ts';

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'proxy', include: ['test/**/*.test.ts'], exclude: [IMAGE_TEST, HEAP_GROWTH_TEST], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'image', include: [IMAGE_TEST], sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'heap-growth', include: [HEAP_GROWTH_TEST], sequence: { groupOrder: 2 } } },
    ],
  },
});
