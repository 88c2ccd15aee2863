// The code under test: a plugin registry and settings kept in the module,
// which lives as long as the test file's module registry does.
const plugins = [];

module.exports = {
  settings: { greeting: "hello" },
  register: (name) => plugins.push(name),
  count: () => plugins.length,
};
