package sqltext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTemplate(t *testing.T) {
	for _, tc := range []struct {
		d          Dialect
		in         string
		kind, tmpl string
	}{
		{Postgres, "select * from users where id = 42", "SELECT", "SELECT * from users where id = ?"},
		{Postgres, "  SELECT abalance FROM pgbench_accounts WHERE aid = $1;", "SELECT", "SELECT abalance FROM pgbench_accounts WHERE aid = $1"},
		{Postgres, "INSERT INTO t (a, b) VALUES (1, 'it''s'), (2, E'x\\'y'), (3, $$dollar ' $$)", "INSERT", "INSERT INTO t (a, b) VALUES (?)"},
		{Postgres, "UPDATE t SET x = x + -1.5e+3 WHERE name IN ('a', 'b', 'c') -- trailing\n", "UPDATE", "UPDATE t SET x = x + -? WHERE name IN (?)"},
		{Postgres, "/* hint */ begin", "BEGIN", "BEGIN"},
		{Postgres, `SELECT "Col1", t2.c FROM "My Table" t2`, "SELECT", `SELECT "Col1", t2.c FROM "My Table" t2`},
		{Postgres, "(select 1) union (select 2)", "SELECT", "(select ?) union (select ?)"},
		{Postgres, "SELECT $tag$ a $ b $tag$, X'ff', 0x1F", "SELECT", "SELECT ?"},
		{MySQL, `SELECT * FROM t WHERE a = "x\"y" AND b = 'q\'r' # c`, "SELECT", "SELECT * FROM t WHERE a = ? AND b = ?"},
		{MySQL, "insert into `t` values (?, ?), (?, ?)", "INSERT", "INSERT into `t` values (?)"},
		{Postgres, "", "", ""},
		{Postgres, "12", "", "?"},
	} {
		kind, tmpl := Template([]byte(tc.in), tc.d, 200, false)
		if kind != tc.kind || tmpl != tc.tmpl {
			t.Errorf("Template(%q) = %q, %q; want %q, %q", tc.in, kind, tmpl, tc.kind, tc.tmpl)
		}
	}
}

// TestTemplateKeepsNoLiteral: the dialect corners where a string's end
// depends on a server setting the probe may not know. No reading may let
// a value ("pxleak") out as if it were SQL.
func TestTemplateKeepsNoLiteral(t *testing.T) {
	for _, tc := range []struct {
		d        Dialect
		in, tmpl string
	}{
		// standard_conforming_strings=off: \' escapes a quote (on: it ends
		// the string), so the rest may be a string: it is one literal.
		{Postgres, `SELECT 'O\'Brien pxleak tail', 1`, "SELECT ?…"},
		{Postgres, `SELECT 'C:\' AS p, 'pxleak'`, "SELECT ?…"},
		{Postgres, `SELECT 'a\\' AS p, 'pxleak'`, "SELECT ? AS p, ?"}, // an even run: the same in both
		{Postgres, `SELECT E'it\'s pxleak', e'\\', 2`, "SELECT ?"},
		{Postgres, `SELECT $$pxleak$$, $t$ pxleak $ 'x $t$, $1`, "SELECT ?, $1"},
		{Postgres, `DO $body$BEGIN RAISE EXCEPTION 'pxleak'; END$body$`, "DO ?"},
		{Postgres, `SELECT U&'d\0061t pxleak'`, "SELECT U&?"},
		{PostgresConforming, `SELECT 'C:\' AS p, 'x'`, "SELECT ? AS p, ?"},
		{PostgresEscapes, `SELECT 'O\'Brien pxleak' AS p, $$x$$`, "SELECT ? AS p, ?"},
		{MySQL, `SELECT 'O\'Brien', "pxleak\"", 'x'`, "SELECT ?"},
		{MySQLNoBackslash, `SELECT 'C:\', 'pxleak'`, "SELECT ?"},
		{MySQLUnsure, `SELECT 'C:\', 'pxleak'`, "SELECT ?…"},
		{MySQLUnsure, `SELECT 'a\\', "pxleak"`, "SELECT ?"},
	} {
		_, tmpl := Template([]byte(tc.in), tc.d, 200, false)
		if tmpl != tc.tmpl || strings.Contains(tmpl, "pxleak") {
			t.Errorf("Template(%q, %d) = %q, want %q", tc.in, tc.d, tmpl, tc.tmpl)
		}
	}
}

func TestTemplatePartial(t *testing.T) {
	full := "INSERT INTO t VALUES " + strings.Repeat("(1, 'x'), ", 50)
	for n := 30; n < len(full); n++ {
		if _, tmpl := Template([]byte(full[:n]), Postgres, 200, true); tmpl != "INSERT INTO t VALUES (?)…" {
			t.Fatalf("cut at %d: %q", n, tmpl)
		}
	}
}

func TestTemplateBounded(t *testing.T) {
	long := "SELECT " + strings.Repeat("ééé_column, ", 100) + "'secret' FROM t"
	for limit := 1; limit < 80; limit++ {
		_, tmpl := Template([]byte(long), Postgres, limit, limit%2 == 0)
		if len(tmpl) > limit+len("…") || !utf8.ValidString(tmpl) || strings.Contains(tmpl, "secret") {
			t.Fatalf("limit %d: %q", limit, tmpl)
		}
	}
}

func FuzzTemplate(f *testing.F) {
	f.Add([]byte("SELECT 'a' FROM t WHERE x = 1"), uint8(0), uint8(40))
	f.Add([]byte("INSERT INTO t VALUES ($$x$$, E'\\'', \"id\")"), uint8(0), uint8(10))
	f.Add([]byte("select `a` from b where c = \"d\" # e"), uint8(1), uint8(20))
	f.Fuzz(func(t *testing.T, q []byte, d, limit uint8) {
		kind, tmpl := Template(q, Dialect(d%6), int(limit), d&8 != 0)
		if len(tmpl) > max(int(limit), 1)+len("…") || !utf8.ValidString(tmpl) || len(kind) > 32 {
			t.Fatalf("Template(%q, %d) = %q %q", q, limit, kind, tmpl)
		}
	})
}

func TestBound(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"select 1", 20, "select 1"},
		{"select 1", 6, "select…"},
		{"caf\xc3\xa9", 4, "caf?…"}, // the rune cut by the limit
		{"bad\xff", 10, "bad?"},
	} {
		if got := Bound(tc.in, tc.limit); got != tc.want {
			t.Errorf("Bound(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}
