// A tiny Jest suite for flakebox's runner-adapter tests (crates/runners).
//
// - "stable": always passes.
// - "leaves a marker": models a test that leaves state in /tmp: it passes on
//   the first run and fails on every later one, because the marker file it
//   creates is still there (the fs factor fixes it). The directory is
//   $FLAKEBOX_EXAMPLE_STATE (the adapter tests give it a fresh one), else /tmp.
// - "plain fails" / "plain passes": deterministic, so that selection and
//   shuffling are observable.
const fs = require("fs");
const path = require("path");

const marker = path.join(process.env.FLAKEBOX_EXAMPLE_STATE || "/tmp", "flakebox-runners-jest.marker");

describe("suite", () => {
  test("stable", () => {
    expect([3, 1, 2].sort()).toEqual([1, 2, 3]);
  });

  test("leaves a marker", () => {
    expect(fs.existsSync(marker) ? `${marker} was left by an earlier run` : "fresh").toBe("fresh");
    fs.writeFileSync(marker, "left behind on purpose\n");
  });

  test("plain fails", () => {
    expect(1 + 1).toBe(3);
  });

  test("plain passes", () => {
    expect("a" + "b").toBe("ab");
  });
});
