//go:build !unix

package file

import "os"

// lockGroup does nothing where flock does not exist: there, keeping a
// group's consumers in one Bus is up to the user (see the package doc).
func lockGroup(*os.File) error { return nil }
