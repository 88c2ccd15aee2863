// Package registry keeps plugins in a package-level map: state every test
// of the package shares.
package registry

var plugins = map[string]func() string{}

// Register adds a plugin.
func Register(name string, f func() string) { plugins[name] = f }

// Count is how many plugins are registered.
func Count() int { return len(plugins) }

// Greeting is the configured greeting; tests may change it.
var Greeting = "hello"
