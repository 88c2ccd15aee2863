// Jest gives each test file its own module registry and runs the tests of
// a file in the order defined, a selection (-t) too: a polluter and its
// victim share a file.
const registry = require("./registry");

// Leaves a plugin in the module's registry.
test("registers a plugin", () => {
  registry.register("audit");
  expect(registry.count()).toBe(1);
});

test("adds", () => {
  expect(1 + 1).toBe(2);
});

test("joins", () => {
  expect(["a", "b"].join("")).toBe("ab");
});

describe("greeting", () => {
  // Changes a setting in the module and does not restore it.
  test("shouts", () => {
    registry.settings.greeting = "HELLO";
    expect(registry.settings.greeting).toBe("HELLO");
  });

  test("sorts", () => {
    expect([3, 1, 2].sort()).toEqual([1, 2, 3]);
  });
});

test("reverses", () => {
  expect("ab".split("").reverse().join("")).toBe("ba");
});

// Victim of "registers a plugin".
test("starts with no plugins", () => {
  expect(registry.count()).toBe(0);
});

// Victim of "greeting › shouts".
test("greets politely", () => {
  expect(registry.settings.greeting).toBe("hello");
});

test("is stable", () => {
  expect(typeof registry.count).toBe("function");
});
