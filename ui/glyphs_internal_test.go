package ui

import (
	"io/fs"
	"testing"
	"unicode/utf8"
)

// TestNoEmojiInPages keeps pictographs out of the templates: a machine
// without an emoji font draws them as empty boxes.
func TestNoEmojiInPages(t *testing.T) {
	t.Parallel()
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		if err != nil {
			return err
		}
		for i := 0; i < len(b); {
			r, n := utf8.DecodeRune(b[i:])
			if r >= 0x1F000 || (r >= 0x2600 && r <= 0x27BF) {
				t.Errorf("%s: %U %q at byte %d", path, r, r, i)
			}
			i += n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
