// A second file, so file selection is observable.
import { test, expect } from "vitest";

test("other file", () => {
  expect(true).toBe(true);
});
