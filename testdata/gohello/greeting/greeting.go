// Package greeting is a module of its own that gohello requires through a local `replace`, so
// that its build information has a dependency and a replacement without any network.
package greeting

// Text is the greeting.
func Text() string {
	return "hello from berth build"
}
