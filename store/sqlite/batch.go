package sqlite

import "strings"

// Batched statements change many rows with one statement: a statement
// costs far more to run than a row does, so a batch of n rows is split
// into power-of-two chunks (at most maxChunk rows each), and the
// statement for each chunk size is prepared once when a Store opens.

// maxChunk is the largest number of rows one batched statement carries.
const maxChunk = 128

// chunkSizes splits n rows into chunk sizes, largest first: powers of two
// of at most maxChunk.
func chunkSizes(n int) []int {
	var out []int
	for n > 0 {
		size := maxChunk
		for size > n {
			size /= 2
		}
		out = append(out, size)
		n -= size
	}
	return out
}

// batched is a statement repeated for 1, 2, 4 ... maxChunk rows.
type batched struct {
	bySize map[int]string
}

// newBatched builds the statements: head, then n copies of row separated
// by commas, then tail.
func newBatched(head, row, tail string) batched {
	b := batched{bySize: make(map[int]string)}
	for n := 1; n <= maxChunk; n *= 2 {
		var sb strings.Builder
		sb.WriteString(head)
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(row)
		}
		sb.WriteString(tail)
		b.bySize[n] = sb.String()
	}
	return b
}

func (b batched) sql(n int) string { return b.bySize[n] }

func (b batched) all() []string {
	out := make([]string, 0, len(b.bySize))
	for n := 1; n <= maxChunk; n *= 2 {
		out = append(out, b.bySize[n])
	}
	return out
}
