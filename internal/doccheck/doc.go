// Package doccheck holds a test that keeps every exported name of the
// module documented, so that go doc reads as a guide.
package doccheck
