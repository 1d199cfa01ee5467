// Package render turns probe records into what a user reads: a colour
// palette decided per writer, aligned tables, a footer, live frames.
//
// Rules it keeps: colour is only a second signal, cells are padded before
// they are coloured, every string that came from a node is escaped, lines
// are cut to the terminal's width only on a TTY, and nothing but plain text
// reaches a pipe.
package render
