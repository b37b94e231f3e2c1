// Package dockertest gives tests of the docker runtime a Docker daemon and
// an image without any registry: Client skips the test when no daemon is
// reachable (fails it when CI is set), and the image is imported from the
// static busybox of Debian's busybox-static.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/loomhq/loom/runtime/dockerrt"
)

// Image is the image Client imports: /bin/busybox with the links sh, echo,
// sleep and cat in /bin.
const Image = "loom-test-busybox:1"

// Busybox is where busybox-static installs its static binary.
const Busybox = "/bin/busybox"

// Client returns a client of a reachable daemon that holds Image, closed
// when the test ends. Without a daemon the test is skipped, unless the CI
// environment variable is set: CI must run it.
func Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := dockerrt.NewClient()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
		if err != nil {
			cli.Close()
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("docker daemon not reachable under CI: %v", err)
		}
		t.Skipf("docker daemon not reachable (set CI to make this fatal): %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	importMu.Lock()
	defer importMu.Unlock()
	if err := importImage(context.Background(), cli); err != nil {
		t.Fatalf("import %s from %s (install busybox-static): %v", Image, Busybox, err)
	}
	return cli
}

var importMu sync.Mutex

func importImage(ctx context.Context, cli *client.Client) error {
	if _, err := cli.ImageInspect(ctx, Image); err == nil {
		return nil
	}
	body, err := os.ReadFile(Busybox)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))},
	}
	for _, name := range []string{"sh", "echo", "sleep", "cat"} {
		hdrs = append(hdrs, &tar.Header{Name: "bin/" + name, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(body); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: &buf, SourceName: "-"}, Image, image.ImportOptions{})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}
