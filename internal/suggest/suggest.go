// Package suggest finds the intended name behind a misspelt one, for
// error messages that say "did you mean ...?".
package suggest

import "fmt"

// Closest returns the candidate nearest to word by edit distance
// (insertions, deletions, substitutions and swaps of neighbours), or ""
// when none is near enough to be a likely typo: at most one edit for
// short words, about one in three for longer ones. Ties go to the
// earlier candidate; word itself is never suggested.
func Closest(word string, candidates []string) string {
	best, bestD := "", 0
	limit := max(1, len([]rune(word))/3)
	for _, c := range candidates {
		if c == word || c == "" {
			continue
		}
		d := distance(word, c)
		if d <= limit && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// DidYouMean returns `: did you mean "x"?` for the closest candidate, or
// "" when there is none, to append to an error message.
func DidYouMean(word string, candidates []string) string {
	if c := Closest(word, candidates); c != "" {
		return fmt.Sprintf(": did you mean %q?", c)
	}
	return ""
}

// distance is the optimal string alignment distance between a and b in
// runes. ASCII letters that differ only in case count as no edit, so that
// "SendMessage" suggests "sendMessage".
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rolling rows: the swap rule looks two rows back.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if fold(ra[i-1]) == fold(rb[j-1]) {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

func fold(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}
