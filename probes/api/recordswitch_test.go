package api

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The record types know their table and their connection columns, and each
// protocol maps its own records: no other code needs to list them. This
// test fails when a switch, map or list keyed by record types or their
// table names appears outside this package and the protocol registry.
func TestNoRecordSwitchOutsideRegistry(t *testing.T) {
	names := recordNames(t)
	if len(names.types) < 7 || len(names.tables) < 7 {
		t.Fatalf("found %d record types and %d tables in probes/api; the check reads TableName methods", len(names.types), len(names.tables))
	}
	root := filepath.Join("..", "..")
	allowed := map[string]bool{"probes/api": true, "probes/protocols/protocols.go": true}
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if allowed[rel] || strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" || d.Name() == "vendor" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || allowed[rel] {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found = append(found, names.violations(rel, src)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range found {
		t.Errorf("%s: dispatch on record types or tables: make it generic over api.Record (or put it in the protocol's package)", v)
	}
}

// The check finds each kind of list it forbids, and leaves single cases alone.
func TestRecordSwitchCheckFindsLists(t *testing.T) {
	names := recordNames(t)
	src := `package x
import papi "github.com/kubectl-pixie/kubectl-pixie/probes/api"
func f(rec any, table string) {
	switch rec.(type) {
	case *papi.HTTPEvent:
	case *papi.RedisEvent:
	}
	switch table {
	case papi.TableDNSEvents, "kafka_events":
	}
	_ = map[string]bool{papi.TableHTTPEvents: true, papi.TablePgSQLEvents: true}
	_ = [][]byte{[]byte(papi.TableAMQPEvents + "x"), []byte("mysql_events")}
	switch rec.(type) {
	case *papi.HTTPEvent:
	case *papi.HTTPStats:
	}
	_ = []string{papi.TableHTTPEvents, papi.TableProbeStats}
}
`
	got := names.violations("x.go", []byte(src))
	want := []string{"x.go:4", "x.go:8", "x.go:11", "x.go:12"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("violations %v, want %v", got, want)
	}
}

type recordIdents struct {
	types  map[string]bool // HTTPEvent, ...
	tables map[string]bool // TableHTTPEvents, ...
	values map[string]bool // http_events, ...
}

// recordNames reads this package: the receivers of TableName methods and
// the constants they return.
func recordNames(t *testing.T) recordIdents {
	t.Helper()
	files, _ := filepath.Glob("*.go")
	n := recordIdents{types: map[string]bool{}, tables: map[string]bool{}, values: map[string]bool{}}
	consts := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if vs, ok := s.(*ast.ValueSpec); ok && d.Tok == token.CONST {
						for i, id := range vs.Names {
							if i < len(vs.Values) {
								if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
									consts[id.Name], _ = strconv.Unquote(lit.Value)
								}
							}
						}
					}
				}
			case *ast.FuncDecl:
				if d.Name.Name != "TableName" || d.Recv == nil || len(d.Body.List) != 1 {
					continue
				}
				if star, ok := d.Recv.List[0].Type.(*ast.StarExpr); ok {
					n.types[star.X.(*ast.Ident).Name] = true
				}
				if ret, ok := d.Body.List[0].(*ast.ReturnStmt); ok && len(ret.Results) == 1 {
					if id, ok := ret.Results[0].(*ast.Ident); ok {
						n.tables[id.Name] = true
					}
				}
			}
		}
	}
	for name := range n.tables {
		n.values[consts[name]] = true
	}
	return n
}

func caseEntries(body *ast.BlockStmt) (entries []ast.Node) {
	for _, c := range body.List {
		for _, e := range c.(*ast.CaseClause).List {
			entries = append(entries, e)
		}
	}
	return entries
}

// violations lists file:line of each switch, map or list in src with two
// or more entries naming record types or tables.
func (n recordIdents) violations(name string, src []byte) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return []string{name + ": " + err.Error()}
	}
	apiName := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "github.com/kubectl-pixie/kubectl-pixie/probes/api" {
			apiName = "api"
			if imp.Name != nil {
				apiName = imp.Name.Name
			}
		}
	}
	names := func(node ast.Node) bool {
		found := false
		ast.Inspect(node, func(x ast.Node) bool {
			switch x := x.(type) {
			case *ast.SelectorExpr:
				if id, ok := x.X.(*ast.Ident); ok && id.Name == apiName && apiName != "" && (n.types[x.Sel.Name] || n.tables[x.Sel.Name]) {
					found = true
				}
			case *ast.BasicLit:
				if s, err := strconv.Unquote(x.Value); err == nil && x.Kind == token.STRING && n.values[s] {
					found = true
				}
			}
			return !found
		})
		return found
	}
	count := func(nodes []ast.Node) (k int) {
		for _, x := range nodes {
			if names(x) {
				k++
			}
		}
		return k
	}
	var out []string
	ast.Inspect(f, func(x ast.Node) bool {
		var entries []ast.Node
		switch x := x.(type) {
		case *ast.SwitchStmt:
			entries = caseEntries(x.Body)
		case *ast.TypeSwitchStmt:
			entries = caseEntries(x.Body)
		case *ast.CompositeLit:
			for _, e := range x.Elts {
				entries = append(entries, e)
			}
		default:
			return true
		}
		if count(entries) >= 2 {
			out = append(out, fmt.Sprintf("%s:%d", name, fset.Position(x.Pos()).Line))
		}
		return true
	})
	return out
}
