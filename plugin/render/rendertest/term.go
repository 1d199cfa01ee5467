package rendertest

import (
	"strconv"
	"strings"
)

// Screen replays what was written to a terminal (with the usual output
// processing: '\n' starts a new line) and returns the lines it shows, as
// if the screen were tall enough for all of them. It knows the sequences
// our live views write: CR, cursor up (ESC [ n A), erase to the end of
// the line (ESC [ K) and below (ESC [ J); colours are dropped. Tests use
// it to check that a repaint lands where the frame it replaces was.
func Screen(out string) []string {
	var rows [][]rune
	row, col := 0, 0
	put := func(r rune) {
		for len(rows) <= row {
			rows = append(rows, nil)
		}
		for len(rows[row]) < col {
			rows[row] = append(rows[row], ' ')
		}
		if col < len(rows[row]) {
			rows[row][col] = r
		} else {
			rows[row] = append(rows[row], r)
		}
		col++
	}
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\n':
			row, col = row+1, 0
		case r == '\r':
			col = 0
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == ';') {
				j++
			}
			if j == len(rs) {
				return lines(rows)
			}
			n, err := strconv.Atoi(string(rs[i+2 : j]))
			if err != nil {
				n = 1
			}
			switch rs[j] {
			case 'A':
				row = max(0, row-n)
			case 'K':
				if row < len(rows) && col < len(rows[row]) {
					rows[row] = rows[row][:col]
				}
			case 'J':
				if row < len(rows) {
					if col < len(rows[row]) {
						rows[row] = rows[row][:col]
					}
					rows = rows[:row+1]
				}
			}
			i = j
		default:
			put(r)
		}
	}
	return lines(rows)
}

func lines(rows [][]rune) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.TrimRight(string(r), " ")
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
