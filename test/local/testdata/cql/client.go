package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gocql/gocql"
)

// clientReport is what the gocql client did: statements executed (each
// as gocql reported it done), pages fetched, errors by the code gocql
// returned.
type clientReport struct {
	Inserts, Selects, Updates, Deletes, Batches int
	Pages, PagedRows                            int
	Errors                                      map[int]int
}

func runClient(addr string, n int) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	cluster := gocql.NewCluster(host)
	cluster.Port, _ = strconv.Atoi(port)
	cluster.ProtoVersion = 4
	cluster.DisableInitialHostLookup = true
	cluster.NumConns = 1
	cluster.Consistency = gocql.One
	cluster.Timeout, cluster.ConnectTimeout = 10*time.Second, 10*time.Second
	cluster.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 0}
	cluster.Authenticator = gocql.PasswordAuthenticator{Username: "cassandra", Password: "hunter2"}
	s, err := cluster.CreateSession()
	if err != nil {
		return err
	}
	defer s.Close()
	rep := clientReport{Errors: map[int]int{}}
	for _, q := range []string{
		"CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
		"CREATE TABLE ks.items (id int PRIMARY KEY, name text)",
		"CREATE KEYSPACE wide WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}",
		"CREATE TABLE wide.t (k int PRIMARY KEY, v text)",
	} {
		if err := s.Query(q).Exec(); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	for i := range n {
		if err := s.Query("INSERT INTO ks.items (id, name) VALUES (?, ?)", i, "item-"+strconv.Itoa(i)).Exec(); err != nil {
			return err
		}
		rep.Inserts++
	}
	// Reads on one connection from 4 goroutines: streams interleave.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var readErr error
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				var name string
				err := s.Query("SELECT name FROM ks.items WHERE id = ?", i).Scan(&name)
				mu.Lock()
				if err == nil && name != "item-"+strconv.Itoa(i) {
					err = fmt.Errorf("row %d reads %q", i, name)
				}
				if err != nil {
					readErr = err
				}
				rep.Selects++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if readErr != nil {
		return readErr
	}
	for i := range 5 {
		if err := s.Query("UPDATE ks.items SET name = ? WHERE id = ?", "renamed", i).Exec(); err != nil {
			return err
		}
		rep.Updates++
		if err := s.Query("DELETE FROM ks.items WHERE id = ?", n-1-i).Exec(); err != nil {
			return err
		}
		rep.Deletes++
	}
	for b := range 3 {
		batch := s.NewBatch(gocql.LoggedBatch)
		for i := range 4 {
			batch.Query("INSERT INTO ks.items (id, name) VALUES (?, ?)", 1000+4*b+i, "batched")
		}
		if err := s.ExecuteBatch(batch); err != nil {
			return err
		}
		rep.Batches++
	}
	// Paging through the whole table, 7 rows a page.
	var state []byte
	for {
		iter := s.Query("SELECT id, name FROM ks.items").PageSize(7).PageState(state).Iter()
		rep.PagedRows += iter.NumRows()
		rep.Pages++
		state = iter.PageState()
		if err := iter.Close(); err != nil {
			return err
		}
		if len(state) == 0 {
			break
		}
	}
	if want := n - 5 + 12; rep.PagedRows != want {
		return fmt.Errorf("paged %d rows, the table holds %d", rep.PagedRows, want)
	}
	// Errors: a table that does not exist, bad syntax, a consistency one
	// node cannot give.
	for _, q := range []*gocql.Query{
		s.Query("SELECT name FROM ks.nope WHERE id = ?", 1),
		s.Query("SELEC name FROM ks.items"),
		s.Query("INSERT INTO wide.t (k, v) VALUES (?, ?)", 1, "x").Consistency(gocql.Quorum),
		s.Query("INSERT INTO wide.t (k, v) VALUES (?, ?)", 2, "y").Consistency(gocql.All),
	} {
		err := q.Exec()
		var re gocql.RequestError
		if !errors.As(err, &re) {
			return fmt.Errorf("%s: want a server error, got %v", q.Statement(), err)
		}
		rep.Errors[re.Code()]++
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}
