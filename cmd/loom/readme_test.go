package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeExample is one JSON example of README.md, as a request.
type readmeExample struct {
	line   int
	method string
	path   string // under the server's URL, with placeholders such as <id>
	header http.Header
	body   string
}

// readmeExamples extracts the requests README.md shows: every curl
// command of a sh block, and every json block, whose info string names
// its route ("```json POST /api/v1/tasks"). It also returns the flags of
// the quick start's `loom server` command.
func readmeExamples(t *testing.T, readme string) (examples []readmeExample, serverArgs []string) {
	t.Helper()
	f, err := os.Open(readme)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		sc     = bufio.NewScanner(f)
		n      int
		fence  string // the info string of the block we are in; "" outside
		inside bool
		start  int
		block  []string
	)
	for sc.Scan() {
		n++
		line := sc.Text()
		if !strings.HasPrefix(line, "```") {
			if inside {
				block = append(block, line)
			}
			continue
		}
		if !inside {
			inside, fence, start, block = true, strings.TrimSpace(strings.TrimPrefix(line, "```")), n, nil
			continue
		}
		inside = false
		kind, route, _ := strings.Cut(fence, " ")
		switch kind {
		case "json":
			method, path, ok := strings.Cut(strings.TrimSpace(route), " ")
			if !ok {
				t.Errorf("README.md:%d: a json block names the route that takes it: ```json POST /api/v1/...", start)
				continue
			}
			examples = append(examples, readmeExample{line: start, method: method, path: path,
				header: http.Header{"Content-Type": {"application/json"}}, body: strings.Join(block, "\n")})
		case "sh":
			for _, cmd := range joinContinued(block) {
				words, err := shellWords(cmd.text)
				if err != nil {
					t.Errorf("README.md:%d: %v", start+1+cmd.line, err)
					continue
				}
				if len(words) >= 4 && words[0] == "go" && words[1] == "run" && words[3] == "server" && serverArgs == nil {
					serverArgs = words[4:]
				}
				if len(words) == 0 || words[0] != "curl" {
					continue
				}
				ex, err := curlRequest(words)
				if err != nil {
					t.Errorf("README.md:%d: %v", start+1+cmd.line, err)
					continue
				}
				ex.line = start + 1 + cmd.line
				examples = append(examples, ex)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return examples, serverArgs
}

// command is a shell command and the block line it starts on.
type command struct {
	line int
	text string
}

// joinContinued joins lines ending in a backslash with the next.
func joinContinued(lines []string) []command {
	var out []command
	var cur strings.Builder
	first := -1
	for i, l := range lines {
		if first < 0 {
			first = i
		}
		if s, ok := strings.CutSuffix(l, `\`); ok {
			cur.WriteString(s)
			continue
		}
		cur.WriteString(l)
		out = append(out, command{line: first, text: cur.String()})
		cur.Reset()
		first = -1
	}
	return out
}

// shellWords splits a command line as sh does, for the quoting README
// examples use: single quotes, double quotes with backslash escapes, and
// backslashes outside quotes.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, w.String()), false
				w.Reset()
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed ' in %q", s)
			}
			w.WriteString(s[i+1 : i+1+j])
			i, inWord = i+1+j, true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0 {
					i++
				}
				w.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unclosed \" in %q", s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// curlRequest is the request a curl command line sends: curl's own
// defaults included (-d posts, as a form unless a header says otherwise).
func curlRequest(words []string) (readmeExample, error) {
	ex := readmeExample{header: http.Header{}}
	hasBody := false
	for i := 1; i < len(words); i++ {
		arg := func() (string, error) {
			if i+1 >= len(words) {
				return "", fmt.Errorf("curl %s without a value", words[i])
			}
			i++
			return words[i], nil
		}
		var err error
		switch w := words[i]; {
		case w == "-X" || w == "--request":
			ex.method, err = arg()
		case w == "-H" || w == "--header":
			var h string
			if h, err = arg(); err == nil {
				k, v, _ := strings.Cut(h, ":")
				ex.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		case w == "-d" || w == "--data" || w == "--data-raw":
			ex.body, err = arg()
			hasBody = true
		case w == "-s" || w == "--silent" || w == "-f" || w == "--fail":
		case strings.HasPrefix(w, "http://"):
			_, path, ok := strings.Cut(strings.TrimPrefix(w, "http://"), "/")
			if !ok {
				return ex, fmt.Errorf("URL %q has no path", w)
			}
			ex.path = "/" + path
		default:
			return ex, fmt.Errorf("curl option %q is not understood by this test", w)
		}
		if err != nil {
			return ex, err
		}
	}
	if ex.path == "" {
		return ex, fmt.Errorf("curl without a URL")
	}
	if ex.method == "" {
		ex.method = http.MethodGet
		if hasBody {
			ex.method = http.MethodPost
		}
	}
	if hasBody && ex.header.Get("Content-Type") == "" {
		ex.header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return ex, nil
}

// TestReadmeExamples sends every JSON example of README.md, in order, to
// a server started as the quick start starts it: each must be accepted.
// A placeholder <id> in a path stands for the id of the last answer that
// had one (the task or backfill just created).
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..")
	examples, serverArgs := readmeExamples(t, filepath.Join(root, "README.md"))
	if len(examples) < 8 {
		t.Fatalf("found %d examples in README.md; the parser lost some", len(examples))
	}
	if serverArgs == nil {
		t.Fatal("README.md has no quick start `go run ./cmd/loom server` command")
	}
	// Paths in the quick start are relative to the repository's root.
	for i, a := range serverArgs {
		if _, err := os.Stat(filepath.Join(root, a)); err == nil && !strings.HasPrefix(a, "-") {
			serverArgs[i] = filepath.Join(root, a)
		}
	}
	url, _ := inProcessServer(t, filepath.Join(t.TempDir(), "loom.db"), serverArgs...)

	lastID := ""
	for _, ex := range examples {
		path := ex.path
		if strings.Contains(path, "<id>") {
			if lastID == "" {
				t.Fatalf("README.md:%d: %s uses <id> before any answer had one", ex.line, path)
			}
			path = strings.ReplaceAll(path, "<id>", lastID)
		}
		var body io.Reader
		if ex.body != "" {
			body = strings.NewReader(ex.body)
		}
		req, err := http.NewRequest(ex.method, url+path, body)
		if err != nil {
			t.Fatalf("README.md:%d: %v", ex.line, err)
		}
		req.Header = ex.header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("README.md:%d: %v", ex.line, err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			t.Errorf("README.md:%d: %s %s answered %d: %s", ex.line, ex.method, ex.path, resp.StatusCode, data)
			continue
		}
		var answer struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(data, &answer) == nil && answer.ID != "" {
			lastID = answer.ID
		}
	}
}
