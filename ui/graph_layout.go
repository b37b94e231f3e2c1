package ui

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// A flow's graph is laid out here, on the server, and drawn as SVG: steps
// in columns by rank (each after everything it waits for), left to right,
// an edge that skips columns routed through a slot of its own in every
// column it crosses, so that no edge ever passes over a step. The picture
// is as large as its content, so a small flow is a small picture and a
// large one scrolls and zooms in its frame.

// Sizes of the drawing, in SVG user units (pixels at zoom 1).
const (
	gNodeH    = 28.0
	gRowGap   = 14.0
	gColGap   = 56.0
	gPad      = 10.0
	gCharW    = 7.0 // a label's width per character at 12px
	gMinNodeW = 56.0
	gMaxLabel = 28 // characters; longer labels are cut with an ellipsis
	gRingR    = 8.0
	gSweeps   = 8
)

// svgGraph is a laid-out graph, ready for the "graph" template.
type svgGraph struct {
	Width, Height float64
	Nodes         []svgNode
	Edges         []svgEdge
}

// svgNode is one step's box.
type svgNode struct {
	ID, Label, Title, Href string
	// Class is the status's CSS class (st-completed...), plus "blocked".
	Class      string
	X, Y, W, H float64
	// Items, for a fan-out step, counts its items; Ring is the progress
	// ring's dash array and RingX its centre.
	Items       *itemCount
	Ring        string
	RingX       float64
	TextX       float64
	Circumf     float64
	TextAnchorX float64
}

// itemCount is how far a fan-out step's items have come.
type itemCount struct {
	Done, Total int
}

// String is the count as a node shows it: done/total.
func (c itemCount) String() string { return fmt.Sprintf("%d/%d", c.Done, c.Total) }

// svgEdge is one dependency, a path from the step it waits for.
type svgEdge struct {
	From, To string
	D        string
	// Points are the polyline the path follows (ends and the slots it
	// crosses), for tests that check it passes over no step.
	Points [][2]float64
}

// layoutGraph places g's nodes and routes its edges. Nodes come in
// run order (every node after the nodes its edges come from); an edge
// from a node not in g is ignored.
func layoutGraph(g graphData) svgGraph {
	n := len(g.Nodes)
	if n == 0 {
		return svgGraph{}
	}
	index := make(map[string]int, n)
	for i, nd := range g.Nodes {
		index[nd.Data.ID] = i
	}
	type edge struct{ from, to int }
	var edges []edge
	preds := make([][]int, n)
	for _, e := range g.Edges {
		f, ok1 := index[e.Data.Source]
		t, ok2 := index[e.Data.Target]
		if !ok1 || !ok2 || f == t {
			continue
		}
		edges = append(edges, edge{f, t})
		preds[t] = append(preds[t], f)
	}
	// Rank: the longest path from a source. Nodes arrive in run order, so
	// one pass does it; a node out of order (a cycle cannot occur in a
	// flow) is put one column after its ranked predecessors.
	rank := make([]int, n)
	for pass := 0; pass < 2; pass++ {
		for i := range n {
			for _, p := range preds[i] {
				rank[i] = max(rank[i], rank[p]+1)
			}
		}
	}
	cols := slices.Max(rank) + 1

	// Slots: a real node, or a waypoint of an edge in a column it crosses.
	type slot struct {
		node   int // -1 for a waypoint
		edge   int
		order  float64
		up, dn []int // neighbouring slots' indexes in the previous and next column
	}
	var slots []slot
	column := make([][]int, cols)
	nodeSlot := make([]int, n)
	for i := range n {
		nodeSlot[i] = len(slots)
		column[rank[i]] = append(column[rank[i]], len(slots))
		slots = append(slots, slot{node: i, edge: -1})
	}
	chains := make([][]int, len(edges)) // each edge's slots, from its source to its target
	for ei, e := range edges {
		chain := []int{nodeSlot[e.from]}
		for r := rank[e.from] + 1; r < rank[e.to]; r++ {
			s := len(slots)
			slots = append(slots, slot{node: -1, edge: ei})
			column[r] = append(column[r], s)
			chain = append(chain, s)
		}
		chain = append(chain, nodeSlot[e.to])
		for k := 1; k < len(chain); k++ {
			slots[chain[k]].up = append(slots[chain[k]].up, chain[k-1])
			slots[chain[k-1]].dn = append(slots[chain[k-1]].dn, chain[k])
		}
		chains[ei] = chain
	}
	// Order within columns: start in arrival order, then sweep right and
	// left, placing each slot at the mean position of its neighbours in
	// the column swept from (the barycenter heuristic), which untangles
	// most crossings between edges.
	for _, col := range column {
		for k, s := range col {
			slots[s].order = float64(k)
		}
	}
	mean := func(ns []int) (float64, bool) {
		if len(ns) == 0 {
			return 0, false
		}
		sum := 0.0
		for _, x := range ns {
			sum += slots[x].order
		}
		return sum / float64(len(ns)), true
	}
	reorder := func(col []int, down bool) {
		key := make(map[int]float64, len(col))
		for _, s := range col {
			nb := slots[s].up
			if !down {
				nb = slots[s].dn
			}
			if m, ok := mean(nb); ok {
				key[s] = m
			} else {
				key[s] = slots[s].order
			}
		}
		slices.SortStableFunc(col, func(a, b int) int {
			switch ka, kb := key[a], key[b]; {
			case ka < kb:
				return -1
			case ka > kb:
				return 1
			}
			return 0
		})
		for k, s := range col {
			slots[s].order = float64(k)
		}
	}
	for sweep := range gSweeps {
		if sweep%2 == 0 {
			for r := 1; r < cols; r++ {
				reorder(column[r], true)
			}
		} else {
			for r := cols - 2; r >= 0; r-- {
				reorder(column[r], false)
			}
		}
	}

	// Columns are as wide as their widest label; rows are slots.
	labels := make([]string, n)
	widths := make([]float64, n)
	colW := make([]float64, cols)
	for i, nd := range g.Nodes {
		labels[i] = cutLabel(nd.Data.Label)
		w := float64(len([]rune(labels[i])))*gCharW + 20
		if nd.items != nil {
			w += 2*gRingR + 8 + float64(len(nd.items.String()))*gCharW + 14
		}
		widths[i] = max(w, gMinNodeW)
		colW[rank[i]] = max(colW[rank[i]], widths[i])
	}
	colX := make([]float64, cols)
	x := gPad
	rows := 0
	for r := range cols {
		if colW[r] == 0 {
			colW[r] = 8 // a column of waypoints only
		}
		colX[r] = x
		x += colW[r] + gColGap
		rows = max(rows, len(column[r]))
	}
	out := svgGraph{Width: x - gColGap + gPad, Height: 2*gPad + float64(rows)*gNodeH + float64(max(rows-1, 0))*gRowGap}
	// Each column is centred vertically, so that a chain sits on one line.
	slotY := make([]float64, len(slots))
	for _, col := range column {
		top := gPad + (float64(rows-len(col))*(gNodeH+gRowGap))/2
		for _, s := range col {
			slotY[s] = top + slots[s].order*(gNodeH+gRowGap) + gNodeH/2
		}
	}
	out.Nodes = make([]svgNode, n)
	for i, nd := range g.Nodes {
		r := rank[i]
		w := widths[i]
		sn := svgNode{
			ID: nd.Data.ID, Label: labels[i], Title: nd.Data.Label, Href: nd.Data.Href, Class: nd.Classes,
			X: colX[r] + (colW[r]-w)/2, Y: slotY[nodeSlot[i]] - gNodeH/2, W: w, H: gNodeH,
		}
		sn.TextX = sn.X + 10
		if it := nd.items; it != nil {
			sn.Items = it
			sn.RingX = sn.X + w - 10 - gRingR
			sn.Circumf = 2 * math.Pi * gRingR
			done := 0.0
			if it.Total > 0 {
				done = float64(it.Done) / float64(it.Total)
			}
			sn.Ring = fmt.Sprintf("%.2f %.2f", done*sn.Circumf, sn.Circumf)
			sn.TextAnchorX = sn.RingX - gRingR - 4
		}
		out.Nodes[i] = sn
	}
	for ei, e := range edges {
		chain := chains[ei]
		var pts [][2]float64
		// Leave the source's right side, cross each waypoint's column on
		// its own row, enter the target's left side.
		src, dst := out.Nodes[e.from], out.Nodes[e.to]
		pts = append(pts, [2]float64{src.X + src.W, slotY[chain[0]]})
		for k, s := range chain[1 : len(chain)-1] {
			r := rank[e.from] + 1 + k
			pts = append(pts, [2]float64{colX[r], slotY[s]}, [2]float64{colX[r] + colW[r], slotY[s]})
		}
		pts = append(pts, [2]float64{dst.X, slotY[chain[len(chain)-1]]})
		out.Edges = append(out.Edges, svgEdge{From: src.ID, To: dst.ID, D: edgePath(pts), Points: pts})
	}
	return out
}

// edgePath is an SVG path through pts: an S-curve across each gap
// between columns (its control points inside the gap), a straight line
// through each column a waypoint crosses.
func edgePath(pts [][2]float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "M%.1f %.1f", pts[0][0], pts[0][1])
	for k := 1; k < len(pts); k++ {
		a, c := pts[k-1], pts[k]
		if k%2 == 1 { // a gap: from a column's right side to the next one's left
			mid := (a[0] + c[0]) / 2
			fmt.Fprintf(&b, " C%.1f %.1f %.1f %.1f %.1f %.1f", mid, a[1], mid, c[1], c[0], c[1])
		} else {
			fmt.Fprintf(&b, " L%.1f %.1f", c[0], c[1])
		}
	}
	return b.String()
}

// cutLabel shortens a label to gMaxLabel characters.
func cutLabel(s string) string {
	r := []rune(s)
	if len(r) <= gMaxLabel {
		return s
	}
	return string(r[:gMaxLabel-1]) + "…"
}
