/**
 * Loaded before every test file (vitest.config.ts `setupFiles`): a test that ends without a
 * single expectation fails, so a test cannot pass by returning early or asserting nothing.
 */
import { beforeEach, expect } from 'vitest';

beforeEach(() => {
  expect.hasAssertions();
});
