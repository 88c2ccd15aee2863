// A second file, so file selection is observable.
test("other file", () => {
  expect(true).toBe(true);
});
