package ui

import (
	"fmt"
	"strings"
	"testing"
)

// graphOfEdges builds graphData from "a>b" edges, nodes in the order
// they first appear.
func graphOfEdges(edges ...string) graphData {
	var g graphData
	seen := map[string]bool{}
	add := func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		var nd graphNode
		nd.Data.ID, nd.Data.Label = n, n
		g.Nodes = append(g.Nodes, nd)
	}
	for _, e := range edges {
		a, b, _ := strings.Cut(e, ">")
		add(a)
		if b == "" {
			continue
		}
		add(b)
		var ed graphEdge
		ed.Data.Source, ed.Data.Target = a, b
		g.Edges = append(g.Edges, ed)
	}
	return g
}

// crossesNode reports a node other than the edge's own ends that a
// segment of e passes over.
func crossesNode(g svgGraph, e svgEdge) string {
	for _, n := range g.Nodes {
		if n.ID == e.From || n.ID == e.To {
			continue
		}
		for k := 1; k < len(e.Points); k++ {
			a, b := e.Points[k-1], e.Points[k]
			x0, x1 := min(a[0], b[0]), max(a[0], b[0])
			y0, y1 := min(a[1], b[1]), max(a[1], b[1])
			// Each segment's curve stays inside the box of its ends.
			if x1 > n.X && x0 < n.X+n.W && y1 > n.Y && y0 < n.Y+n.H {
				return n.ID
			}
		}
	}
	return ""
}

func TestLayoutKeepsEdgesOffNodes(t *testing.T) {
	t.Parallel()
	cases := map[string]graphData{
		// etl: extract feeds transform and load; load also waits for transform.
		"etl":     graphOfEdges("extract>transform", "transform>load", "extract>load"),
		"diamond": graphOfEdges("a>b", "a>c", "b>d", "c>d", "a>d"),
		"long":    graphOfEdges("a>b", "b>c", "c>d", "d>e", "a>e", "b>e", "a>d"),
	}
	// 200 steps: a chain with skips and fan-ins.
	var many []string
	for i := 1; i < 200; i++ {
		many = append(many, fmt.Sprintf("s%03d>s%03d", i-1, i))
		if i%7 == 0 {
			many = append(many, fmt.Sprintf("s%03d>s%03d", i-5, i))
		}
		if i%11 == 0 && i >= 30 {
			many = append(many, fmt.Sprintf("s%03d>s%03d", i-30, i))
		}
	}
	cases["200 steps"] = graphOfEdges(many...)
	for name, g := range cases {
		lg := layoutGraph(g)
		if len(lg.Nodes) != len(g.Nodes) || len(lg.Edges) != len(g.Edges) {
			t.Fatalf("%s: %d nodes %d edges laid out, want %d and %d", name, len(lg.Nodes), len(lg.Edges), len(g.Nodes), len(g.Edges))
		}
		for _, e := range lg.Edges {
			if n := crossesNode(lg, e); n != "" {
				t.Errorf("%s: edge %s→%s passes over %s (%v)", name, e.From, e.To, n, e.Points)
			}
		}
		for i, a := range lg.Nodes {
			for _, b := range lg.Nodes[i+1:] {
				if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
					t.Errorf("%s: %s and %s overlap", name, a.ID, b.ID)
				}
			}
			if a.X < 0 || a.Y < 0 || a.X+a.W > lg.Width || a.Y+a.H > lg.Height {
				t.Errorf("%s: %s lies outside the picture", name, a.ID)
			}
		}
	}
}

func TestLayoutFitsItsContent(t *testing.T) {
	t.Parallel()
	one := layoutGraph(graphOfEdges("greet"))
	if one.Width > 120 || one.Height > 60 {
		t.Errorf("one step is drawn %gx%g", one.Width, one.Height)
	}
	etl := layoutGraph(graphOfEdges("extract>transform", "transform>load", "extract>load"))
	// Left to right by rank: extract, then transform, then load.
	x := map[string]float64{}
	for _, n := range etl.Nodes {
		x[n.ID] = n.X
	}
	if !(x["extract"] < x["transform"] && x["transform"] < x["load"]) {
		t.Errorf("not left to right by rank: %v", x)
	}
	if etl.Height > 2*(gNodeH+gRowGap)+2*gPad {
		t.Errorf("etl is %g high, more than its two rows", etl.Height)
	}
}

func TestLayoutDrawsFanOutCounts(t *testing.T) {
	t.Parallel()
	g := graphOfEdges("split>each", "each>join")
	g.Nodes[1].items = &itemCount{Done: 3, Total: 12}
	lg := layoutGraph(g)
	n := lg.Nodes[1]
	if n.Items == nil || n.Ring == "" || n.RingX+gRingR > n.X+n.W {
		t.Errorf("fan-out node: %+v", n)
	}
	if !strings.HasPrefix(n.Ring, fmt.Sprintf("%.2f ", 0.25*n.Circumf)) {
		t.Errorf("ring %q, want a quarter of %g", n.Ring, n.Circumf)
	}
}
