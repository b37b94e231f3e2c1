package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/loomhq/loom/metrics"
	"github.com/loomhq/loom/store/sqlite"
)

// metricName finds the metric names in a PromQL expression: loom's, the
// Go collector's and the process collector's.
var metricName = regexp.MustCompile(`\b(loom|go|process)_[a-z0-9_]+`)

// TestDashboardUsesServedMetrics checks that every metric the Grafana
// dashboard in examples/grafana queries is one loom registers (a
// histogram's _bucket, _count and _sum series count as its own).
func TestDashboardUsesServedMetrics(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "examples", "grafana", "loom.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "loom.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := metrics.New()
	m.WatchStore(metrics.StoreConfig{Store: st})
	m.SetBuildInfo("v0", "c0", "go")
	served := m.Names()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "loom_") && !slices.Contains(served, f.GetName()) {
			t.Errorf("%s is served but missing from Names", f.GetName())
		}
		served = append(served, f.GetName())
	}
	used := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, name := range metricName.FindAllString(tg.Expr, -1) {
				used++
				base := name
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					base = strings.TrimSuffix(base, suffix)
				}
				if !slices.Contains(served, name) && !slices.Contains(served, base) {
					t.Errorf("panel %q queries %s, which loom does not serve", p.Title, name)
				}
			}
		}
	}
	if used == 0 {
		t.Error("the dashboard queries no metric")
	}
}
