package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and localhost and its key
// to dir, and returns their files and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "loom test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	url, stop := inProcessServer(t, filepath.Join(dir, "loom.db"), "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("the log says the server is at %s, want https", url)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url + "/api/v1/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("healthz over HTTPS: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	// The UI's CSRF cookie is Secure over HTTPS.
	resp, err = c.Get(url + "/submit")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure {
		t.Errorf("UI cookie over HTTPS: %+v, want one Secure cookie", cs)
	}
	// Plain HTTP gets nothing from it.
	plain := &http.Client{}
	defer plain.CloseIdleConnections()
	resp, err = plain.Get("http://" + strings.TrimPrefix(url, "https://") + "/api/v1/healthz")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS server: %d %s", resp.StatusCode, b)
		}
	}
	stop()
}

func TestServerWebFlagErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, _ := selfSigned(t, dir)
	db := filepath.Join(dir, "loom.db")
	for _, args := range [][]string{
		{"--tls-cert", certFile},
		{"--tls-key", keyFile},
		{"--cors-origin", "ops.example.com"},
		{"--cors-origin", "https://ops.example.com/path"},
		{"--allowed-host", ""},
		{"--allowed-host", "http://loom.example.com"},
	} {
		if _, code := runMain(t, append([]string{"server", "--addr", "127.0.0.1:0", "--db", db}, args...)...); code != 2 {
			t.Errorf("loom server %s: exit %d, want 2 (usage)", strings.Join(args, " "), code)
		}
	}
	if _, code := runMain(t, "server", "--addr", "127.0.0.1:0", "--db", db, "--tls-cert", keyFile, "--tls-key", keyFile); code != 1 {
		t.Errorf("a key as the certificate: exit %d, want 1", code)
	}
}

// TestServerHosts: the server answers to the names of its listen address
// and to --allowed-host, and refuses any other Host; --cors-origin pages
// get CORS answers.
func TestServerHosts(t *testing.T) {
	url, stop := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"),
		"--allowed-host", "loom.example.com", "--cors-origin", "https://ops.example.com")
	_, port, err := net.SplitHostPort(strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, host, origin string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for host, want := range map[string]int{
		"127.0.0.1:" + port:            200,
		"localhost:" + port:            200,
		"[::1]:" + port:                200,
		"loom.example.com":             200,
		"loom.example.com:443":         200,
		"evil.example:" + port:         403,
		"localhost:1":                  403,
		"rebound.evil.example:" + port: 403,
	} {
		for _, path := range []string{"/api/v1/healthz", "/tasks"} {
			if got := get(path, host, "").StatusCode; got != want {
				t.Errorf("GET %s with Host %s: %d, want %d", path, host, got, want)
			}
		}
	}
	if got := get("/api/v1/healthz", "127.0.0.1:"+port, "https://ops.example.com").Header.Get("Access-Control-Allow-Origin"); got != "https://ops.example.com" {
		t.Errorf("--cors-origin: Access-Control-Allow-Origin %q", got)
	}
	stop()
}

func TestHostsFor(t *testing.T) {
	t.Parallel()
	o := webOptions{allowedHosts: []string{"loom.example.com"}}
	addr := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if got, want := o.hostsFor("127.0.0.1:7070", addr("127.0.0.1:7070")), []string{"localhost:7070", "127.0.0.1:7070", "[::1]:7070", "loom.example.com"}; !slices.Equal(got, want) {
		t.Errorf("loopback: %v, want %v", got, want)
	}
	if got, want := o.hostsFor("10.1.2.3:7070", addr("10.1.2.3:7070")), []string{"10.1.2.3:7070", "loom.example.com"}; !slices.Equal(got, want) {
		t.Errorf("one address: %v, want %v", got, want)
	}
	if got := o.hostsFor("localhost:7070", addr("127.0.0.1:7070")); !slices.Contains(got, "localhost:7070") {
		t.Errorf("a name in --addr: %v", got)
	}
	got := o.hostsFor("0.0.0.0:7070", addr("0.0.0.0:7070"))
	name, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"127.0.0.1:7070", net.JoinHostPort(name, "7070"), "loom.example.com"} {
		if !slices.Contains(got, want) {
			t.Errorf("wildcard: %v lacks %s", got, want)
		}
	}
	if slices.Contains(got, "0.0.0.0:7070") {
		t.Errorf("wildcard: %v has the wildcard address", got)
	}
}
